//! The cache's shared data as another worker, another version or another module may have
//! left it: entries, the pending list and the report schedule with corrupt bytes or extreme
//! numbers. Decoding never panics, and arithmetic on decoded values never overflows.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tollgate_fuzz::cache::{check_decode, Op, World};

#[derive(Debug, Arbitrary)]
struct Input {
    raw: Vec<u8>,
    slots: u8,
    caching: u8,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    check_decode(&input.raw);
    let mut world = World::new(input.slots, input.caching);
    for op in input.ops.iter().take(256) {
        world.run(op);
    }
    world.run(&Op::Release { w: false });
    world.run(&Op::Release { w: true });
    world.run(&Op::Flush {
        w: true,
        max_pending: 50,
    });
    world.run(&Op::Report { w: true, ok: true });
});

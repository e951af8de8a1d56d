//! Backend answers (status, rejection reason, limit headers) read into decisions, and the
//! cache's handling of them: two workers asking, leasing, reporting and settling.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tollgate_fuzz::cache::{Answer, Op, World};

#[derive(Debug, Arbitrary)]
struct Input {
    slots: u8,
    caching: u8,
    answers: Vec<(u8, Answer)>,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let mut world = World::new(input.slots, input.caching);
    // Answer-heavy: every request of a key is asked about, then answered.
    for (k, answer) in &input.answers {
        let _ = answer.backend().decision();
        world.run(&Op::Lookup { w: false, k: *k });
        world.run(&Op::Answer {
            w: false,
            answer: answer.clone(),
        });
        world.run(&Op::Lookup { w: true, k: *k });
        world.run(&Op::Tick(100));
    }
    for op in input.ops.iter().take(256) {
        if matches!(
            op,
            Op::Overwrite { .. } | Op::OverwritePending(_) | Op::OverwriteSchedule(_)
        ) {
            continue;
        }
        world.run(op);
    }
    world.run(&Op::Flush {
        w: false,
        max_pending: 50,
    });
    world.run(&Op::Report { w: false, ok: true });
});

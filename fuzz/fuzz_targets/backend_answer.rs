//! Backend answers (status, rejection reason, limit headers) read into decisions and into the
//! `rate_limit_headers` policy's figures (exactly what the answer said), and the cache's
//! handling of them: two workers asking, leasing, reporting and settling.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tollgate_core::backend::Decision;
use tollgate_fuzz::cache::{Answer, Op, World};
use tollgate_fuzz::figures::check_figures;

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
        // Only the backend's own 200 authorizes: a proxy's 2xx, a 5xx or no answer never does.
        let backend = answer.backend();
        if backend.decision() == Decision::Authorized {
            assert_eq!(backend.status, Some(200), "authorized on {backend:?}");
            assert!(
                !backend.foreign,
                "authorized on a foreign answer: {backend:?}"
            );
        }
        check_figures(&backend);
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

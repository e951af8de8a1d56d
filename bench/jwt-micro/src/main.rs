//! Native timing of the JWT micro-benchmark cases: median of 21 rounds, µs per check.
use std::time::Instant;

fn main() {
    let only: Option<u32> = std::env::args().nth(1).and_then(|a| a.parse().ok());
    for (case, name) in jwt_micro::CASES.iter().enumerate() {
        let case = case as u32;
        if only.is_some_and(|o| o != case) {
            continue;
        }
        let iters = if case == 4 { 2000 } else { 50 };
        let ok = jwt_micro::run(case, 3);
        let mut rounds: Vec<f64> = (0..21)
            .map(|_| {
                let t = Instant::now();
                jwt_micro::run(case, iters);
                t.elapsed().as_secs_f64() * 1e6 / f64::from(iters)
            })
            .collect();
        rounds.sort_by(|a, b| a.total_cmp(b));
        println!("{name:45} median {:8.1} µs  min {:8.1} µs  (ok {ok}/3)", rounds[10], rounds[0]);
    }
}

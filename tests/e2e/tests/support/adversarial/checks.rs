//! The checks: a denial never reaches the upstream, an authorized request reaches it exactly
//! once with its body intact, and the worker still serves afterwards.

use super::*;

/// The upstream's requests tagged with `mark` (header, or the path for curl-less shapes).
pub fn seen<'a>(upstream: &'a [EchoRequest], mark: &str) -> Vec<&'a EchoRequest> {
    upstream
        .iter()
        .filter(|r| r.header(MARK) == Some(mark))
        .collect()
}

/// Checks one case; `None` when it held, else a line saying what went wrong.
pub fn verdict(
    upstream: &[EchoRequest],
    mark: &str,
    sent: &Sent,
    expect: Expect,
) -> Option<String> {
    let got = seen(upstream, mark);
    let resp = match &sent.response {
        Ok(r) => r,
        Err(e) => {
            return Some(format!(
                "{mark}: no response ({e}); upstream saw it {} time(s)",
                got.len()
            ))
        }
    };
    let short = |s: &str| s.chars().take(60).collect::<String>();
    match expect {
        Expect::Denied(status, body) => {
            let mut problems = Vec::new();
            if !got.is_empty() {
                problems.push(format!("LEAKED upstream {} time(s)", got.len()));
            }
            if resp.status != status || resp.body != body {
                problems.push(format!(
                    "answered {} {:?}, expected {status} {body:?}",
                    resp.status,
                    short(&resp.body)
                ));
            }
            (!problems.is_empty()).then(|| format!("{mark}: {}", problems.join("; ")))
        }
        Expect::Allowed => {
            let mut problems = Vec::new();
            if resp.status != 200 {
                problems.push(format!("answered {} {:?}", resp.status, short(&resp.body)));
            }
            if got.len() != 1 {
                problems.push(format!("upstream saw it {} time(s)", got.len()));
            }
            if let Some(r) = got.first() {
                if r.method != sent.method || r.body != sent.body {
                    problems.push(format!(
                        "upstream got {} {:?}, sent {} {:?}",
                        r.method,
                        short(&r.body),
                        sent.method,
                        short(&sent.body)
                    ));
                }
            }
            (!problems.is_empty()).then(|| format!("{mark}: {}", problems.join("; ")))
        }
    }
}

/// Runs the cases, waits for stragglers to reach the upstream, checks each one and returns
/// the list of failures.
pub fn run_and_check(
    stack: &Stack,
    cases: &[(String, Shape, Case, Expect)],
    parallel: usize,
) -> Vec<String> {
    let plain: Vec<(String, Shape, Case)> = cases
        .iter()
        .map(|(m, s, c, _)| (m.clone(), *s, c.clone()))
        .collect();
    let sent = run_all(stack.port(), &plain, parallel);
    std::thread::sleep(Duration::from_millis(400));
    let upstream = stack.echo.requests();
    cases
        .iter()
        .zip(&sent)
        .filter_map(|((mark, _, _, expect), s)| verdict(&upstream, mark, s, *expect))
        .collect()
}

/// Panics with the list when it is not empty.
pub fn assert_none(what: &str, failures: &[String], total: usize) {
    assert!(
        failures.is_empty(),
        "{what}: {} failure(s) in {total} case(s):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// The `usage[...]` metrics of a backend call, with their values.
pub fn usage(call: &ReceivedRequest) -> Vec<(String, String)> {
    call.query
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("usage[")
                .and_then(|m| m.strip_suffix(']'))
                .map(|m| (m.to_string(), v.clone()))
        })
        .collect()
}

/// Sends `n` valid requests to `hdr.example.com` (on fresh connections, so both workers get
/// some) and says which did not answer 200: a trapped VM answers 503 on its worker.
pub fn still_serving(port: u16, n: usize, key: &str) -> Vec<String> {
    (0..n)
        .filter_map(|i| {
            let r = Request::get("/api/alive")
                .header("Host", "hdr.example.com")
                .header("user_key", key)
                .try_send(port);
            match r {
                Ok(r) if r.status == 200 => None,
                Ok(r) => Some(format!("follow-up #{i}: {} {:?}", r.status, r.body)),
                Err(e) => Some(format!("follow-up #{i}: {e}")),
            }
        })
        .collect()
}

/// The log lines saying a VM trapped.
pub fn traps(stack: &Stack) -> Vec<String> {
    stack
        .envoy
        .log()
        .lines()
        .filter(|l| l.contains("panicked at") || l.contains("RuntimeError"))
        .map(str::to_string)
        .collect()
}

/// Batching mode's two rounds: `miss` (credentials the cache has not seen), then `hit`, each
/// case of which is first asked without a body (answered by the backend and cached), then in
/// its shape (answered from the cache). Returns the failures, how many cases ran, and the
/// cache hits of the last round.
pub fn run_miss_then_hit(
    s: &Stack,
    miss: &[(String, Shape, Case, Expect)],
    hit: &[(String, Shape, Case, Expect)],
    parallel: usize,
) -> (Vec<String>, usize, u64) {
    let mut failures = run_and_check(s, miss, parallel);
    let primes: Vec<(String, Shape, Case, Expect)> = hit
        .iter()
        .map(|(mark, _, case, expect)| {
            (
                format!("prime:{mark}"),
                Shape::NoBody,
                case.clone(),
                *expect,
            )
        })
        .collect();
    failures.extend(run_and_check(s, &primes, parallel));
    let hits_before = super::super::cache::stat(&s.envoy, "cache_hits");
    failures.extend(run_and_check(s, hit, parallel));
    let hits = super::super::cache::stat(&s.envoy, "cache_hits") - hits_before;
    (failures, miss.len() + primes.len() + hit.len(), hits)
}

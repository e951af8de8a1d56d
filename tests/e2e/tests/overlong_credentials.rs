//! Credentials longer than any 3scale credential (over 1 KiB: porta issues at most 256
//! characters) are auth failed before the backend is asked or a cache key holds them
//! (seventeenth session: `secrets_and_leaks.rs` found the cache keeping them whole). Crossed
//! with every request shape, in authrep and batching modes, in each place a credential is
//! read (header, query, app id and key, HTTP Basic): 403, nothing at the upstream, nothing
//! at the backend; a key of exactly 1 KiB still goes to the backend.

mod support;

use e2e::base64::basic_auth as basic;
use support::adversarial::*;
use support::Stack;

const PARALLEL: usize = 8;
const LIMIT: usize = 1024;

fn cases(mode: &str) -> Vec<(String, Shape, Case, Expect)> {
    let long = "k".repeat(LIMIT + 1);
    let failed = Expect::Denied(AUTH_FAILED.0, AUTH_FAILED.1);
    let kinds = [
        (
            "header",
            Case::new("hdr.example.com", "/api/x").header("user_key", &long),
        ),
        (
            "query",
            Case::new("query.example.com", &format!("/api/x?user_key={long}")),
        ),
        (
            "app_id",
            Case::new("app.example.com", "/api/x")
                .header("app_id", &long)
                .header("app_key", "key-ok"),
        ),
        (
            "app_key",
            Case::new("app.example.com", "/api/x")
                .header("app_id", "app-ok-0")
                .header("app_key", &long),
        ),
        (
            "basic",
            Case::new("basic.example.com", "/api/x")
                .header("Authorization", &basic("bapp-0", &long)),
        ),
    ];
    let mut out = Vec::new();
    for shape in SHAPES {
        for (kind, case) in &kinds {
            out.push((
                format!("{mode}/{kind}/{shape:?}"),
                shape,
                case.clone(),
                failed,
            ));
        }
    }
    out
}

/// Backend calls that carried a value over the limit.
fn overlong_calls(s: &Stack) -> Vec<String> {
    (s.backend.requests().iter())
        .filter(|r| r.query.iter().any(|(_, v)| v.len() > LIMIT))
        .map(|r| r.path.clone())
        .collect()
}

#[test]
fn overlong_credentials_are_auth_failed_in_every_shape_without_a_backend_call() {
    for batching in [false, true] {
        let mode = if batching { "batching" } else { "authrep" };
        let s = adv_stack(adv_config(three_scale_services(), batching));
        let cases = cases(mode);
        let failures = run_and_check(&s, &cases, PARALLEL);
        assert_none(mode, &failures, cases.len());
        assert!(
            overlong_calls(&s).is_empty(),
            "{mode}: {:?}",
            overlong_calls(&s)
        );
        // The bound is exact: a key of 1 KiB is asked about (and refused by the backend).
        let at = "k".repeat(LIMIT);
        let case = Case::new("hdr.example.com", "/api/x").header("user_key", &at);
        let sent = Shape::NoBody.send(s.port(), &case, &format!("{mode}/at-limit"));
        let status = sent.response.map(|r| r.status);
        assert_eq!(status, Ok(AUTH_FAILED.0), "{mode}");
        let asked = (s.backend.requests().iter())
            .filter(|r| r.query.iter().any(|(k, v)| k == "user_key" && *v == at))
            .count();
        assert_eq!(
            asked, 1,
            "{mode}: the 1 KiB key reached the backend {asked} time(s)"
        );
        assert!(traps(&s).is_empty(), "{:?}", traps(&s));
    }
}

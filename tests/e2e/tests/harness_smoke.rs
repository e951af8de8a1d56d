//! Smoke tests of the e2e harness itself: Envoy without the filter in front of
//! the echo upstream. These do not need tollgate.wasm.

use std::time::Duration;

use e2e::{EchoUpstream, Envoy, Request};

#[test]
fn request_reaches_upstream_through_plain_envoy() {
    let echo = EchoUpstream::start().unwrap();
    let envoy = Envoy::builder()
        .without_filter()
        .upstream_port(echo.port())
        .start()
        .unwrap();

    let resp = Request::get("/hello/world?x=1&y=2")
        .header("X-Dup", "a")
        .header("X-Dup", "b")
        .send(envoy.port());
    assert_eq!(resp.status, 200, "{resp}");
    assert!(resp.from_echo(), "{resp}");
    assert_eq!(resp.header("content-type"), Some("application/json"));

    let seen = resp.echo();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.path, "/hello/world?x=1&y=2");
    assert_eq!(seen.header("host"), Some("localhost"));
    assert_eq!(seen.header_all("x-dup"), vec!["a", "b"]);

    let recorded = echo.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].path, "/hello/world?x=1&y=2");

    assert_eq!(
        envoy.wait_for_stat(
            "http.ingress_http.downstream_rq_2xx",
            1,
            Duration::from_secs(5)
        ),
        Some(1)
    );
}

#[test]
fn envoy_normalizes_paths_and_forwards_bodies() {
    let echo = EchoUpstream::start().unwrap();
    let envoy = Envoy::builder()
        .without_filter()
        .upstream_port(echo.port())
        .start()
        .unwrap();

    // normalize_path + merge_slashes are on.
    let seen = Request::get("/a/../b//c?q=/x/../y")
        .send(envoy.port())
        .echo();
    assert_eq!(seen.path, "/b/c?q=/x/../y");

    let resp = Request::post("/submit")
        .header("Content-Type", "text/plain")
        .body("hello body")
        .send(envoy.port());
    assert_eq!(resp.status, 200, "{resp}");
    assert_eq!(resp.echo().body, "hello body");

    // Upstream status codes pass through.
    let resp = Request::get("/status/418").send(envoy.port());
    assert_eq!(resp.status, 418, "{resp}");
}

#[test]
fn unreachable_upstream_gives_503() {
    let envoy = Envoy::builder().without_filter().start().unwrap();
    let resp = Request::get("/").send(envoy.port());
    assert_eq!(resp.status, 503, "{resp}");
    assert!(envoy.stats().contains("cluster.upstream."));
}

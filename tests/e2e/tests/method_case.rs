//! A method with a lower-case letter. Envoy's HTTP/1.1 codec refuses `get`, but over HTTP/2 a
//! `:method` of `get` reaches the filter and goes upstream as sent. Mapping rules compare
//! methods exactly (`GET` is not `get`), while some upstreams ignore the case (ASP.NET Core's
//! `HttpMethods`, Werkzeug's `request.method`): until 2026-12-05 `get /expensive` dodged the
//! `GET /expensive` rule, was metered on the cheaper `ANY /` rule (or passed a local rule
//! needing a grant the caller lacks) and was served as a `GET`. nginx (APIcast) refuses such
//! methods; so does Tollgate now: 400 `Bad Request: invalid method`, nothing upstream, no
//! backend call, in authrep, batching (hit) and local mode.

mod support;

use serde_json::json;
use support::*;
use tollgate_core::auth::digest::stored_form;

const READER_KEY: &str = "reader-key-0123456789";

fn h2(
    port: u16,
    method: &str,
    host: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let r = e2e::h2::send_with_trailers(port, method, host, target, headers, b"", &[]).unwrap();
    (r.status, r.body)
}

#[test]
fn a_lower_case_method_over_http2_is_refused_in_every_mode() {
    let refused = (400, "Bad Request: invalid method".to_string());
    let rules = json!({"proxy_rules": [
        {"http_method": "GET", "pattern": "/expensive", "metric_system_name": "get_foo", "delta": 10},
        {"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}
    ]});
    for batching in [false, true] {
        let mut c = config(vec![service(1, json!(1), rules.clone())]);
        if batching {
            c["backend"]["batching"] = json!({"auths_ttl": 60, "batch_report_seconds": 1});
        }
        let s = Stack::start(c);
        let target = format!("/expensive?user_key={USER_KEY}");
        // Control (and the cache filled in batching mode): `GET` is metered on `get_foo`.
        let (status, _) = h2(s.port(), "GET", "api.example.com", &target, &[]);
        assert_eq!(status, 200, "batching {batching}");
        let calls = s.backend.requests().len();
        for method in ["get", "Get", "gET", "post"] {
            let r = h2(s.port(), method, "api.example.com", &target, &[]);
            assert_eq!(r, refused, "batching {batching}: {method}");
        }
        assert_eq!(
            s.echo.request_count(),
            1,
            "batching {batching}: only the control went upstream"
        );
        if batching {
            support::batching::assert_reported_exactly(&s, &[("1", "app-1", "get_foo", 10)]);
        } else {
            assert_eq!(
                s.backend.requests().len(),
                calls,
                "no authrep for a refused request"
            );
            assert_eq!(s.authreps()[0].param("usage[get_foo]"), Some("10"));
        }
    }

    // Local: `GET /admin` needs the `admin` namespace, the reader has `reports` on `ANY /`.
    let auth = json!({"mode": "local", "api_keys": {"header": "APIKey", "keys": [
        {"id": "reader", "hash": stored_form(READER_KEY),
         "grants": [{"namespace": "reports", "actions": ["read", "other"]}]}]}});
    let rules = json!([
        {"http_method": "GET", "pattern": "/admin", "metric_system_name": "hits", "delta": 1, "namespace": "admin"},
        {"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1, "namespace": "reports"}
    ]);
    let s = Stack::start(config(vec![local_service(auth, rules)]));
    let key = [("apikey", READER_KEY)];
    assert_eq!(
        h2(s.port(), "GET", "local.example.com", "/reports", &key).0,
        200
    );
    assert_eq!(
        h2(s.port(), "GET", "local.example.com", "/admin", &key).0,
        403
    );
    assert_eq!(
        h2(s.port(), "get", "local.example.com", "/admin", &key),
        refused
    );
    let upstream: Vec<String> = s.echo.requests().iter().map(|q| q.method.clone()).collect();
    assert_eq!(
        upstream,
        vec!["GET".to_string()],
        "only the allowed call went upstream"
    );
}

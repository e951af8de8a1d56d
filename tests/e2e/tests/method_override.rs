//! A `POST` that names another method for the upstream to run. Express's `method-override`,
//! Rack (Rails), Symfony, Laravel, Spring's `HiddenHttpMethodFilter` and ASP.NET Core's
//! `UseHttpMethodOverride` serve `POST /orders/7` with `X-HTTP-Method-Override: DELETE` (or a
//! `_method=DELETE` query arg or form field) as `DELETE /orders/7`. The mapping rules matched
//! `POST`: until 2026-12-05 a key allowed to create orders deleted them (local grants), and a
//! 3scale app was metered on the cheap `POST` rule for an expensive `DELETE` (authrep and
//! batching). Such a `POST` is now refused with 400 `Bad Request: method override`: nothing
//! reaches the upstream and the backend is not called. A `POST` that names `POST` is served
//! as before. Slim 4 and CakePHP 4 apply the header on every method, and CakePHP a `_method`
//! in a `PUT`, `PATCH` or `DELETE` form body: those are refused the same way (found by an
//! audit, 2026-12-07).

mod support;

use e2e::jwt::now;
use e2e::Request;
use serde_json::{json, Value};
use support::adversarial::{expect_100, Case};
use support::*;
use tollgate_core::auth::digest::stored_form;
use tollgate_core::auth::signed_url;

const WRITER_KEY: &str = "writer-key-0123456789";
const REFUSED: (u16, &str) = (400, "Bad Request: method override");
const FORM: &str = "application/x-www-form-urlencoded";
const MARK: &str = "x-case";

/// One way of sending a `POST` that asks for a `DELETE`.
#[derive(Debug, Clone, Copy)]
enum Override {
    Header(&'static str),
    Query,
    /// `_method=DELETE` in a form body: with a length, chunked, `Expect: 100-continue`,
    /// over HTTP/2, and over HTTP/2 with a trailer.
    Form,
    FormChunked,
    FormExpect100,
    FormH2,
    FormH2Trailers,
}

const OVERRIDES: [Override; 10] = [
    Override::Header("X-HTTP-Method-Override"),
    Override::Header("x_http_method_override"),
    Override::Header("X-HTTP-Method"),
    Override::Header("X-Method-Override"),
    Override::Query,
    Override::Form,
    Override::FormChunked,
    Override::FormExpect100,
    Override::FormH2,
    Override::FormH2Trailers,
];

/// Sends `POST host target` (with `headers`) carrying `_method=DELETE` as `how` says; the
/// status and body.
fn send(
    port: u16,
    how: Override,
    host: &str,
    target: &str,
    headers: &[(&str, &str)],
    mark: &str,
) -> (u16, String) {
    let mut headers: Vec<(String, String)> = (headers.iter())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    headers.push((MARK.into(), mark.into()));
    let body = "item=42&_method=DELETE";
    let h2 = |trailers: &[(&str, &str)]| {
        let mut all: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (&**k, &**v)).collect();
        all.push(("content-type", FORM));
        let r = e2e::h2::send_with_trailers(
            port,
            "POST",
            host,
            target,
            &all,
            body.as_bytes(),
            trailers,
        )
        .unwrap();
        (r.status, r.body)
    };
    let h1 = || {
        let mut r = Request::new("POST", target).header("Host", host);
        for (k, v) in &headers {
            r = r.header(k, v);
        }
        r
    };
    let r = match how {
        Override::Header(name) => h1().header(name, "DELETE").send(port),
        Override::Query => {
            let sep = if target.contains('?') { '&' } else { '?' };
            let mut r =
                Request::new("POST", &format!("{target}{sep}_method=DELETE")).header("Host", host);
            for (k, v) in &headers {
                r = r.header(k, v);
            }
            r.send(port)
        }
        Override::Form => h1().header("Content-Type", FORM).body(body).send(port),
        Override::FormChunked => {
            let (a, b) = body.split_at(9);
            let wire = format!("{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n", a.len(), b.len());
            (h1().header("Content-Type", FORM))
                .header("Transfer-Encoding", "chunked")
                .body(wire)
                .send(port)
        }
        Override::FormExpect100 => {
            let mut case = Case::new(host, target);
            for (k, v) in &headers {
                case = case.header(k, v);
            }
            headers.push(("Content-Type".into(), FORM.into()));
            expect_100(port, "POST", &case, &headers, body.as_bytes()).unwrap()
        }
        Override::FormH2 => return h2(&[]),
        Override::FormH2Trailers => return h2(&[("x-trailer", "t1")]),
    };
    (r.status, r.body)
}

fn marks(s: &Stack) -> Vec<String> {
    (s.echo.requests().iter())
        .filter_map(|r| r.header(MARK).map(str::to_string))
        .collect()
}

/// Local keys: the writer may create orders, not delete them.
#[test]
fn a_post_that_asks_for_a_delete_cannot_use_a_create_grant() {
    let auth = json!({"mode": "local", "api_keys": {
        "header": "APIKey",
        "keys": [{"id": "writer", "hash": stored_form(WRITER_KEY),
                  "grants": [{"namespace": "orders", "actions": ["read", "create"]}]}]
    }});
    let rule = |method: &str| {
        json!({"http_method": method, "pattern": "/orders", "metric_system_name": "hits",
               "delta": 1, "namespace": "orders"})
    };
    let rules = Value::Array(["GET", "POST", "DELETE"].map(rule).to_vec());
    let s = Stack::start(config(vec![local_service(auth, rules)]));
    let key = [("APIKey", WRITER_KEY)];
    let plain = |method: &str, extra: Option<(&str, &str)>, mark: &str| {
        let mut r = Request::new(method, "/orders/7")
            .header("Host", "local.example.com")
            .header("APIKey", WRITER_KEY)
            .header(MARK, mark);
        if let Some((k, v)) = extra {
            r = r.header(k, v);
        }
        r.send(s.port())
    };
    // Controls: create, an override that names POST, a GET's that names GET, and the
    // DELETE itself, which the writer may not do.
    assert_eq!(plain("POST", None, "create").status, 200);
    let same = plain("POST", Some(("X-HTTP-Method-Override", "post")), "same");
    assert_eq!(same.status, 200, "{same}");
    let get = plain("GET", Some(("X-HTTP-Method-Override", "GET")), "get");
    assert_eq!(get.status, 200, "{get}");
    assert_eq!(plain("DELETE", None, "delete").status, 403);

    for how in OVERRIDES {
        let mark = format!("{how:?}");
        let (status, body) = send(s.port(), how, "local.example.com", "/orders/7", &key, &mark);
        assert_eq!((status, body.as_str()), REFUSED, "{how:?}");
    }
    assert_eq!(
        marks(&s),
        ["create", "same", "get"],
        "what the upstream received"
    );
}

/// 3scale: `DELETE /orders` counts 10 hits of `get_foo`, `POST /orders` 1 hit. An override
/// cannot turn the expensive call into the cheap one, in authrep and batching (hit) mode.
#[test]
fn a_post_that_asks_for_a_delete_is_not_metered_as_a_post_in_any_mode() {
    let rules = json!({"proxy_rules": [
        {"http_method": "DELETE", "pattern": "/orders", "metric_system_name": "get_foo", "delta": 10},
        {"http_method": "POST", "pattern": "/orders", "metric_system_name": "hits", "delta": 1}
    ]});
    for batching in [false, true] {
        let mut c = config(vec![service(1, json!(1), rules.clone())]);
        if batching {
            c["backend"]["batching"] = json!({"auths_ttl": 60, "batch_report_seconds": 1});
        }
        let s = Stack::start(c);
        let target = format!("/orders?user_key={USER_KEY}");
        // Control (and, batching, the cache filled): a plain POST is metered as one.
        let r = Request::new("POST", &target)
            .header("Host", "api.example.com")
            .header(MARK, "create")
            .send(s.port());
        assert_eq!(r.status, 200, "batching {batching}: {r}");
        let calls_before = s.backend.requests().len();

        for how in OVERRIDES {
            let mark = format!("{how:?}");
            let (status, body) = send(s.port(), how, "api.example.com", &target, &[], &mark);
            assert_eq!(
                (status, body.as_str()),
                REFUSED,
                "batching {batching}: {how:?}"
            );
        }
        assert_eq!(marks(&s), ["create"], "batching {batching}: upstream");
        if batching {
            // Only the control is reported: 1 hit.
            support::batching::assert_reported_exactly(&s, &[("1", "app-1", "hits", 1)]);
        } else {
            assert_eq!(
                s.backend.requests().len(),
                calls_before,
                "no backend call for a refused request"
            );
            assert_eq!(s.authreps()[0].param("usage[hits]"), Some("1"));
        }
    }
}

type Header<'a> = (&'a str, &'a str);

/// A key that may read and update models, not delete them. Slim 4's
/// `MethodOverrideMiddleware` applies `X-Http-Method-Override` whatever the method, and
/// CakePHP 4 the header too and a `_method` in a `PUT`, `PATCH` or `DELETE` form body:
/// `GET /models/7` with `X-Http-Method-Override: DELETE` was allowed as a read and served as a
/// delete, a signed `GET` URL the same.
#[test]
fn another_method_that_asks_for_a_delete_cannot_use_its_grant() {
    let secret = "url-signing-secret";
    let auth = json!({"mode": "local", "signed_urls": {"secret": secret}, "api_keys": {
        "header": "APIKey",
        "keys": [{"id": "editor", "hash": stored_form(WRITER_KEY),
                  "grants": [{"namespace": "models", "actions": ["read", "update"]}]}]
    }});
    let rules = json!([{"http_method": "ANY", "pattern": "/models", "metric_system_name": "hits",
        "delta": 1, "namespace": "models"}]);
    let s = Stack::start(config(vec![local_service(auth, rules)]));
    let send = |method: &str, target: &str, extra: &[(&str, &str)], body: &str, mark: &str| {
        let mut r = Request::new(method, target)
            .header("Host", "local.example.com")
            .header(MARK, mark);
        for (k, v) in extra {
            r = r.header(k, v);
        }
        if !body.is_empty() {
            r = r.header("Content-Type", FORM).body(body.to_string());
        }
        let r = r.send(s.port());
        (r.status, r.body)
    };
    let key = ("APIKey", WRITER_KEY);
    let delete = ("X-Http-Method-Override", "DELETE");
    // Controls: a read, an update (a form body without `_method`), and the DELETE itself.
    assert_eq!(send("GET", "/models/7", &[key], "", "read").0, 200);
    assert_eq!(send("PUT", "/models/7", &[key], "name=x", "update").0, 200);
    assert_eq!(send("DELETE", "/models/7", &[key], "", "delete").0, 403);

    let url = signed_url::sign(secret.as_bytes(), "GET", "/models/7", now() + 300).unwrap();
    let cases: [(&str, &str, &[Header], &str); 7] = [
        ("GET", "/models/7", &[key, delete], ""),
        (
            "GET",
            "/models/7",
            &[key, ("x_http_method_override", "DELETE")],
            "",
        ),
        ("PATCH", "/models/7", &[key, delete], ""),
        ("PUT", "/models/7", &[key, ("X-HTTP-Method", "DELETE")], ""),
        ("PUT", "/models/7", &[key], "name=x&_method=DELETE"),
        ("PATCH", "/models/7", &[key], "_method=DELETE"),
        ("GET", url.as_str(), &[delete], ""),
    ];
    for (method, target, extra, body) in cases {
        let what = format!("{method} {target} {extra:?} {body}");
        let got = send(method, target, extra, body, &what);
        assert_eq!((got.0, got.1.as_str()), REFUSED, "{what}");
    }
    assert_eq!(marks(&s), ["read", "update"], "what the upstream received");
    assert!(
        s.backend.requests().is_empty(),
        "no backend for a local service"
    );
}

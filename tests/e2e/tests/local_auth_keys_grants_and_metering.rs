//! Local authentication through Envoy: hashed API keys (header, query, Basic username) and
//! Basic users with their grants, a rule's own action, and local-then-3scale metering of the
//! key id.

mod support;

use e2e::base64::basic_auth as basic;
use e2e::mock_backend::App;
use serde_json::{json, Value};
use support::local_auth::*;
use support::*;
use tollgate_core::auth::basic::password_digest;
use tollgate_core::auth::digest::{stored_form, to_hex};

fn model_rules() -> Value {
    json!([
        {"http_method": "ANY", "pattern": "/models", "metric_system_name": "hits", "delta": 1, "namespace": "models"},
        {"http_method": "GET", "pattern": "/health", "metric_system_name": "hits", "delta": 1}
    ])
}

/// Key `k-<id>` (id `<id>`) with one grant.
fn key_with_grant(id: &str, namespace: &str, actions: &[&str]) -> Value {
    json!({"id": id, "hash": stored_form(&format!("k-{id}")),
           "grants": [{"namespace": namespace, "actions": actions}]})
}

#[test]
fn api_keys_from_header_query_and_basic_username_without_backend() {
    let s = Stack::start(config(vec![local_service(
        json!({"mode": "local", "api_keys": api_keys()}),
        model_rules(),
    )]));
    let ok = req("GET", "/models/1")
        .header("APIKey", READER_KEY)
        .send(s.port());
    assert_eq!(ok.status, 200, "{ok}");
    assert_eq!(
        ok.echo().header("x-3scale-proxy-secret-token"),
        Some("local-secret")
    );
    assert_eq!(
        req("GET", &format!("/models?api_key={READER_KEY}"))
            .send(s.port())
            .status,
        200
    );
    let b = req("GET", "/models")
        .header("Authorization", &basic(READER_KEY, ""))
        .send(s.port());
    assert_eq!(b.status, 200, "{b}");

    let unknown = req("GET", "/models")
        .header("APIKey", "rk_not_a_key")
        .send(s.port());
    assert_eq!(
        (unknown.status, unknown.body.as_str()),
        (403, "Authentication failed"),
        "{unknown}"
    );
    let missing = req("GET", "/models").send(s.port());
    assert_eq!(
        (missing.status, missing.body.as_str()),
        (401, "Authentication parameters missing")
    );
    assert!(
        s.backend.requests().is_empty(),
        "local mode never calls the backend"
    );
    assert_eq!(
        s.envoy.stat("wasmcustom.tollgate.requests_authorized"),
        Some(3)
    );
}

#[test]
fn grants_gate_actions_by_method() {
    let s = Stack::start(config(vec![local_service(
        json!({"mode": "local", "api_keys": api_keys()}),
        model_rules(),
    )]));
    let as_reader = |m: &str| {
        req(m, "/models/7")
            .header("APIKey", READER_KEY)
            .send(s.port())
            .status
    };
    let as_writer = |m: &str| {
        req(m, "/models/7")
            .header("APIKey", WRITER_KEY)
            .send(s.port())
            .status
    };
    assert_eq!(as_reader("GET"), 200);
    assert_eq!(as_reader("HEAD"), 200);
    assert_eq!(as_reader("POST"), 403, "POST needs create");
    assert_eq!(as_reader("PUT"), 403, "PUT needs update");
    assert_eq!(as_reader("DELETE"), 403, "DELETE needs delete");
    for m in ["POST", "PUT", "PATCH", "DELETE"] {
        assert_eq!(as_writer(m), 200, "{m}");
    }
    // A rule without a namespace needs no grant; a path with no rule is no-match.
    assert_eq!(
        req("GET", "/health")
            .header("APIKey", READER_KEY)
            .send(s.port())
            .status,
        200
    );
    assert_eq!(
        req("GET", "/other")
            .header("APIKey", READER_KEY)
            .send(s.port())
            .status,
        404
    );
}

#[test]
fn basic_users_with_salted_hashes() {
    let hash = format!(
        "sha256:{}",
        to_hex(&password_digest("pepper1", "correct horse battery"))
    );
    let auth = json!({"mode": "local", "basic_users": [
        {"username": "alice", "salt": "pepper1", "hash": hash, "grants": [{"namespace": "models", "actions": ["read"]}]}
    ]});
    let s = Stack::start(config(vec![local_service(auth, model_rules())]));
    let ok = req("GET", "/models")
        .header("Authorization", &basic("alice", "correct horse battery"))
        .send(s.port());
    assert_eq!(ok.status, 200, "{ok}");
    let wrong = req("GET", "/models")
        .header("Authorization", &basic("alice", "wrong"))
        .send(s.port());
    assert_eq!(wrong.status, 403);
    let nobody = req("GET", "/models")
        .header("Authorization", &basic("mallory", "correct horse battery"))
        .send(s.port());
    assert_eq!(nobody.status, 403);
    let no_grant = req("DELETE", "/models")
        .header("Authorization", &basic("alice", "correct horse battery"))
        .send(s.port());
    assert_eq!(no_grant.status, 403);
}

/// A rule's explicit `action` replaces the method's: only a grant for that namespace and
/// action (or `"*"`) lets the caller in.
#[test]
fn rule_action_needs_a_grant_for_that_namespace_and_action() {
    let mut keys = api_keys();
    keys["keys"] = json!([
        key_with_grant("creator", "models", &["read", "create"]),
        key_with_grant("trainer", "models", &["train"]),
        key_with_grant("elsewhere", "datasets", &["train"]),
        key_with_grant("admin", "models", &["*"]),
    ]);
    let rules = json!([{"http_method": "POST", "pattern": "/models/{name}/train", "metric_system_name": "hits",
        "delta": 1, "namespace": "models", "action": "train"}]);
    let s = Stack::start(config(vec![local_service(
        json!({"mode": "local", "api_keys": keys}),
        rules,
    )]));
    let train = |key: &str| {
        req("POST", "/models/m1/train")
            .header("APIKey", key)
            .send(s.port())
    };
    let denied = train("k-creator");
    assert_eq!(
        (denied.status, denied.body.as_str()),
        (403, "Authentication failed"),
        "create (POST's default) is not train: {denied}"
    );
    assert_eq!(train("k-elsewhere").status, 403, "train, but on datasets");
    assert!(
        s.echo.requests().is_empty(),
        "refused calls never reach the upstream"
    );

    for key in ["k-trainer", "k-admin"] {
        let ok = train(key);
        assert_eq!(ok.status, 200, "{key}: {ok}");
        assert_eq!(
            (ok.echo().method.as_str(), ok.echo().path.as_str()),
            ("POST", "/models/m1/train")
        );
    }
    assert_eq!(s.echo.requests().len(), 2);
}

/// Unknown keys are refused wherever they are read; a key as Basic username only counts with
/// an empty password, so with a password it is no API key at all (auth missing).
#[test]
fn api_key_rejections_in_query_and_basic() {
    let s = Stack::start(config(vec![local_service(
        json!({"mode": "local", "api_keys": api_keys()}),
        model_rules(),
    )]));
    let in_query = req("GET", "/models?api_key=rk_not_a_key").send(s.port());
    assert_eq!(
        (in_query.status, in_query.body.as_str()),
        (403, "Authentication failed")
    );
    let as_username = req("GET", "/models")
        .header("Authorization", &basic("rk_not_a_key", ""))
        .send(s.port());
    assert_eq!(
        (as_username.status, as_username.body.as_str()),
        (403, "Authentication failed")
    );
    let with_password = req("GET", "/models")
        .header("Authorization", &basic(READER_KEY, "secret"))
        .send(s.port());
    assert_eq!(
        (with_password.status, with_password.body.as_str()),
        (401, "Authentication parameters missing"),
        "{with_password}"
    );
    assert!(s.echo.requests().is_empty());
    assert!(s.backend.requests().is_empty());
}

#[test]
fn local_then_3scale_meters_the_key_id() {
    let state = backend_state().app(App::new("1", "app-reader").user_key("reader").plan("Basic"));
    let mut svc = service(1, json!(1), json!({"hosts": ["local.example.com"]}));
    svc["authentication"] = json!({"mode": "local+3scale", "api_keys": api_keys()});
    let s = Stack::start_with(config(vec![svc]), state, |b| b);
    let ok = req("GET", "/").header("APIKey", READER_KEY).send(s.port());
    assert_eq!(ok.status, 200, "{ok}");
    let call = &s.authreps()[0];
    assert_eq!(
        call.param("user_key"),
        Some("reader"),
        "the key id, never the key, goes to 3scale"
    );
    assert!(!call.raw_query.contains(READER_KEY));
    // Known locally but unknown to 3scale: the backend's denial wins.
    let denied = req("GET", "/").header("APIKey", WRITER_KEY).send(s.port());
    assert_eq!(denied.status, 403);
    // Unknown locally: no backend call at all.
    let before = s.authreps().len();
    assert_eq!(
        req("GET", "/")
            .header("APIKey", "nope")
            .send(s.port())
            .status,
        403
    );
    assert_eq!(s.authreps().len(), before);
}

/// `local+3scale` meters the key id as the `user_key`: a `user_key` the request carries
/// beside the key must be that caller's (the key itself, when the service reads its keys
/// from the `user_key` arg), or the upstream would read another application than the one
/// authorized (README "One credential per request").
#[test]
fn local_then_3scale_refuses_another_user_key_beside_the_local_key() {
    let state = backend_state().app(App::new("1", "app-reader").user_key("reader").plan("Basic"));
    let local_3scale = |host: &str, keys: Value| {
        let mut svc = service(1, json!(1), json!({"hosts": [host]}));
        svc["authentication"] = json!({"mode": "local+3scale", "api_keys": keys});
        svc
    };
    let mut in_user_key = api_keys();
    in_user_key["query"] = json!("user_key");
    // Keys read from the arg 3scale clients already use: the key is the one credential.
    let migrated = Stack::start_with(
        config(vec![local_3scale("local.example.com", in_user_key)]),
        state.clone(),
        |b| b,
    );
    let target = format!("/?user_key={READER_KEY}");
    let ok = req("GET", &target).send(migrated.port());
    assert_eq!(ok.status, 200, "{ok}");
    assert_eq!(ok.echo().path, target);
    assert_eq!(migrated.authreps()[0].param("user_key"), Some("reader"));
    drop(migrated);
    let s = Stack::start_with(
        config(vec![local_3scale("local.example.com", api_keys())]),
        state,
        |b| b,
    );
    // The key id beside the key: the same caller.
    let same = req("GET", "/?user_key=reader")
        .header("APIKey", READER_KEY)
        .send(s.port());
    assert_eq!(same.status, 200, "{same}");
    // Another application's user_key beside the key, in the query or a form body.
    let before = (s.authreps().len(), s.echo.requests().len());
    let query = req("GET", "/?user_key=uk-premium")
        .header("APIKey", READER_KEY)
        .send(s.port());
    assert_eq!(
        (query.status, query.body.as_str()),
        (403, "Authentication failed"),
        "{query}"
    );
    let form = req("POST", "/")
        .header("APIKey", READER_KEY)
        .form(&[("user_key", "uk-premium")])
        .send(s.port());
    assert_eq!(
        (form.status, form.body.as_str()),
        (403, "Authentication failed"),
        "{form}"
    );
    assert_eq!(
        (s.authreps().len(), s.echo.requests().len()),
        before,
        "no backend call and nothing forwarded"
    );
}

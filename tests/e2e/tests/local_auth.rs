//! Local authentication through Envoy: hashed API keys with grants, Basic users, signed URLs,
//! header secrets, HTTPS-only, and local-then-3scale metering.

mod support;

use e2e::base64::basic_auth as basic;
use e2e::mock_backend::App;
use e2e::Request;
use serde_json::{json, Value};
use support::*;
use tollgate_core::auth::basic::password_digest;
use tollgate_core::auth::digest::{stored_form, to_hex};
use tollgate_core::auth::signed_url;

const READER_KEY: &str = "rk_5f0c8e7a1b2d4c6e9f1a3b5c7d9e0f21";
const WRITER_KEY: &str = "wk_0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d";

fn api_keys() -> Value {
    json!({
        "header": "APIKey", "query": "api_key", "basic_username": true,
        "keys": [
            {"id": "reader", "hash": stored_form(READER_KEY), "grants": [{"namespace": "models", "actions": ["read"]}]},
            {"id": "writer", "hash": stored_form(WRITER_KEY), "grants": [{"namespace": "models", "actions": ["read", "create", "update", "delete"]}]}
        ]
    })
}

fn model_rules() -> Value {
    json!([
        {"http_method": "ANY", "pattern": "/models", "metric_system_name": "hits", "delta": 1, "namespace": "models"},
        {"http_method": "GET", "pattern": "/health", "metric_system_name": "hits", "delta": 1}
    ])
}

fn req(method: &str, path: &str) -> Request {
    Request::new(method, path).header("Host", "local.example.com")
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

#[test]
fn signed_urls_expire_and_cannot_be_altered() {
    let secret = "url-signing-secret";
    let auth = json!({"mode": "local", "signed_urls": {"secret": secret}});
    let s = Stack::start(config(vec![local_service(auth, json!([]))]));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let url =
        signed_url::sign(secret.as_bytes(), "GET", "/files/report.pdf?v=2", now + 300).unwrap();
    let ok = req("GET", &url).send(s.port());
    assert_eq!(ok.status, 200, "{ok}");
    assert_eq!(
        ok.echo().path,
        url,
        "the signed URL reaches the upstream as sent"
    );

    let expired = signed_url::sign(secret.as_bytes(), "GET", "/files/report.pdf", now - 5).unwrap();
    assert_eq!(req("GET", &expired).send(s.port()).status, 403);
    let other_file = url.replace("report.pdf", "secrets.pdf");
    assert_eq!(req("GET", &other_file).send(s.port()).status, 403);
    let longer = url.replace(
        &format!("expires={}", now + 300),
        &format!("expires={}", now + 99999),
    );
    assert_eq!(req("GET", &longer).send(s.port()).status, 403);
    assert_eq!(
        req("DELETE", &url).send(s.port()).status,
        403,
        "the method is signed too"
    );
    assert_eq!(req("GET", "/files/report.pdf").send(s.port()).status, 401);
}

#[test]
fn header_secret_guards_a_path_prefix() {
    let auth = json!({"mode": "local", "api_keys": api_keys(),
        "header_secrets": [{"path_prefix": "/admin", "header": "X-Admin-Secret", "secret": "s3cr3t-admin"}]});
    let rules =
        json!([{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]);
    let s = Stack::start(config(vec![local_service(auth, rules)]));
    let with = |path: &str, secret: Option<&str>| {
        let mut r = req("GET", path).header("APIKey", READER_KEY);
        if let Some(v) = secret {
            r = r.header("X-Admin-Secret", v);
        }
        r.send(s.port()).status
    };
    assert_eq!(with("/admin/users", Some("s3cr3t-admin")), 200);
    assert_eq!(with("/admin/users", None), 403);
    assert_eq!(with("/admin/users", Some("s3cr3t-admiN")), 403);
    assert_eq!(
        with("/public/../admin/users", None),
        403,
        "normalised before the prefix check"
    );
    assert_eq!(with("/public", None), 200);
}

#[test]
fn https_only_refuses_keys_over_plain_http() {
    let mut strict = api_keys();
    strict["header"] = json!("X-API-Key");
    let services = vec![
        json!({"id": 11, "authentication": {"mode": "local", "api_keys": strict.clone(), "https_only": true},
               "proxy": {"hosts": ["strict.example.com"], "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}}),
        json!({"id": 12, "authentication": {"mode": "local", "api_keys": strict, "https_only": true, "trust_forwarded_proto": true},
               "proxy": {"hosts": ["behind-lb.example.com"], "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}}),
    ];
    let s = Stack::start(config(services));
    let send = |host: &str, xfp: Option<&str>| {
        let mut r = Request::get("/")
            .header("Host", host)
            .header("X-API-Key", READER_KEY);
        if let Some(p) = xfp {
            r = r.header("X-Forwarded-Proto", p);
        }
        r.send(s.port())
    };
    let plain = send("strict.example.com", None);
    assert_eq!(
        (plain.status, plain.body.as_str()),
        (403, "HTTPS required"),
        "{plain}"
    );
    let spoofed = send("strict.example.com", Some("https"));
    assert_eq!(
        spoofed.status, 403,
        "X-Forwarded-Proto is not trusted by default: {spoofed}"
    );
    assert_eq!(send("behind-lb.example.com", Some("https")).status, 200);
    assert_eq!(send("behind-lb.example.com", Some("http")).status, 403);
    // Without a credential there is nothing to protect: auth missing as usual.
    let none = Request::get("/")
        .header("Host", "strict.example.com")
        .send(s.port());
    assert_eq!(none.status, 401);
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

#[test]
fn https_only_accepts_keys_over_tls() {
    let tls = SelfSigned::new("local");
    let mut keys = api_keys();
    keys["header"] = json!("X-API-Key");
    let svc = json!({"id": 11, "authentication": {"mode": "local", "api_keys": keys, "https_only": true},
        "proxy": {"hosts": ["strict.example.com"], "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}});
    let s = Stack::start_with(config(vec![svc]), backend_state(), |b| {
        b.tls(&tls.cert, &tls.key)
    });
    let curl = |key: Option<&str>| {
        let headers: Vec<String> = key.iter().map(|k| format!("X-API-Key: {k}")).collect();
        curl_tls(s.port(), "strict.example.com", "/", &headers).0
    };
    assert_eq!(curl(Some(READER_KEY)), 200, "a key over TLS is accepted");
    assert_eq!(curl(Some("rk_unknown")), 403);
    assert_eq!(curl(None), 401);
}

/// A self-signed certificate for `Envoy::builder().tls`, removed on drop.
struct SelfSigned {
    dir: std::path::PathBuf,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
}

impl SelfSigned {
    fn new(tag: &str) -> SelfSigned {
        let dir = std::env::temp_dir().join(format!("tollgate-tls-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let made = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl");
        let err = String::from_utf8_lossy(&made.stderr);
        assert!(made.status.success(), "{err}");
        SelfSigned { dir, cert, key }
    }
}

impl Drop for SelfSigned {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `GET https://127.0.0.1:port{target}` with curl (certificate not verified): status and body.
fn curl_tls(port: u16, host: &str, target: &str, headers: &[String]) -> (u16, String) {
    let mut cmd = std::process::Command::new("curl");
    cmd.args([
        "-sk",
        "-w",
        "\n%{http_code}",
        "-H",
        &format!("Host: {host}"),
    ]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd
        .arg(format!("https://127.0.0.1:{port}{target}"))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, status) = text.rsplit_once('\n').expect("curl output");
    (status.parse().expect("status"), body.to_string())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Key `k-<id>` (id `<id>`) with one grant.
fn key_with_grant(id: &str, namespace: &str, actions: &[&str]) -> Value {
    json!({"id": id, "hash": stored_form(&format!("k-{id}")),
           "grants": [{"namespace": namespace, "actions": actions}]})
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

/// Any change to a signed URL's args, a missing `expires` or another secret is refused (403);
/// the args may come in any order, as the signature covers them sorted.
#[test]
fn signed_urls_cover_every_arg_in_any_order() {
    let secret = "url-signing-secret";
    let auth = json!({"mode": "local", "signed_urls": {"secret": secret}});
    let s = Stack::start(config(vec![local_service(auth, json!([]))]));
    let expires = unix_now() + 300;
    let sign = |key: &[u8]| signed_url::sign(key, "GET", "/files/r.csv?b=2&a=1&c=3", expires);
    let url = sign(secret.as_bytes()).unwrap();
    let (path, query) = url.split_once('?').unwrap();
    let mut args: Vec<&str> = query.split('&').collect();
    args.reverse();
    let reordered = format!("{path}?{}", args.join("&"));
    assert_ne!(reordered, url);
    let ok = req("GET", &reordered).send(s.port());
    assert_eq!(ok.status, 200, "{ok}");
    assert_eq!(ok.echo().path, reordered, "forwarded as sent");

    let no_expires = url.replace(&format!("&expires={expires}"), "");
    let other_secret = sign(b"another-secret").unwrap();
    for (what, bad) in [
        ("added arg", format!("{url}&d=4")),
        ("changed value", url.replace("b=2", "b=20")),
        ("no expires", no_expires),
        ("wrong secret", other_secret),
    ] {
        let r = req("GET", &bad).send(s.port());
        assert_eq!(
            (r.status, r.body.as_str()),
            (403, "Authentication failed"),
            "{what}: {bad}"
        );
    }
    assert_eq!(s.echo.requests().len(), 1, "only the valid URL got through");
}

/// `https_only` on a plain 3scale user_key service: a key over plain HTTP is refused before
/// any backend call; over TLS it is authorized by 3scale and forwarded.
#[test]
fn https_only_on_a_3scale_user_key_service() {
    let mut svc = service(1, json!(1), json!({}));
    svc["authentication"] = json!({"https_only": true});
    let target = format!("/orders?user_key={USER_KEY}");

    let plain = Stack::start(config(vec![svc.clone()]));
    let r = Request::get(&target)
        .header("Host", "api.example.com")
        .send(plain.port());
    assert_eq!((r.status, r.body.as_str()), (403, "HTTPS required"), "{r}");
    assert!(plain.backend.requests().is_empty(), "no authrep over HTTP");
    assert!(plain.echo.requests().is_empty());

    let tls = SelfSigned::new("3scale");
    let s = Stack::start_with(config(vec![svc]), backend_state(), |b| {
        b.tls(&tls.cert, &tls.key)
    });
    let (status, body) = curl_tls(s.port(), "api.example.com", &target, &[]);
    assert_eq!(status, 200, "{body}");
    let seen = e2e::EchoRequest::from_json(&body).expect("echoed request");
    assert_eq!(seen.path, target);
    assert_eq!(s.authreps()[0].param("user_key"), Some(USER_KEY));
    let (denied, body) = curl_tls(s.port(), "api.example.com", "/orders?user_key=nope", &[]);
    assert_eq!((denied, body.as_str()), (403, "Authentication failed"));
}

/// A header secret guards a path prefix on a 3scale service too, checked before the
/// credential and before any backend call.
#[test]
fn header_secret_on_a_3scale_service() {
    let mut svc = service(1, json!(1), json!({}));
    svc["authentication"] = json!({"header_secrets": [
        {"path_prefix": "/admin", "header": "X-Admin-Secret", "secret": "s3cr3t-admin"}
    ]});
    let s = Stack::start(config(vec![svc]));
    let send = |target: &str, secret: Option<&str>| {
        let mut r = Request::get(target).header("Host", "api.example.com");
        if let Some(v) = secret {
            r = r.header("X-Admin-Secret", v);
        }
        r.send(s.port())
    };
    let admin = format!("/admin/users?user_key={USER_KEY}");
    for secret in [None, Some("wrong")] {
        let r = send(&admin, secret);
        assert_eq!(
            (r.status, r.body.as_str()),
            (403, "Authentication failed"),
            "{secret:?}"
        );
    }
    assert_eq!(
        send("/admin/users", None).status,
        403,
        "the secret is checked before the credential"
    );
    assert!(
        s.backend.requests().is_empty(),
        "no authrep without the secret"
    );
    assert!(s.echo.requests().is_empty());

    let ok = send(&admin, Some("s3cr3t-admin"));
    assert_eq!(ok.status, 200, "{ok}");
    assert_eq!(ok.echo().path, admin);
    assert_eq!(s.authreps()[0].param("user_key"), Some(USER_KEY));
    assert_eq!(send("/admin/users", Some("s3cr3t-admin")).status, 401);
    let public = send(&format!("/public?user_key={USER_KEY}"), None);
    assert_eq!(public.status, 200, "{public}");
    assert_eq!(s.authreps().len(), 2);
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

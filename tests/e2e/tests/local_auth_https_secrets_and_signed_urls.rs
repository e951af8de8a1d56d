//! Local authentication through Envoy, the guards beside the credential: HTTPS-only (plain
//! HTTP, a spoofed `X-Forwarded-Proto`, TLS), header secrets on a path prefix, and signed URLs
//! (expiry, altered or reordered args); on local and on 3scale services.

mod support;

use e2e::Request;
use serde_json::json;
use support::local_auth::*;
use support::*;
use tollgate_core::auth::signed_url;

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

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
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

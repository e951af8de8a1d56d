//! Runs the built `tollgate` binary for each command.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use common::*;
use serde_json::{json, Value};
use tollgate_core::auth::signed_url::{self, SignedUrlError};

#[test]
fn check_accepts_a_valid_config() {
    let path = config_file("valid.json", &threescale_config(json!(1)));
    let run = tollgate(&["check", &path], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "ok: 1 service(s)\n");

    let from_stdin = tollgate(&["check", "-"], &threescale_config(json!(2)).to_string());
    assert_eq!(from_stdin.code, 0, "{}", from_stdin.stderr);
    assert_eq!(from_stdin.stdout, "ok: 1 service(s)\n");
}

#[test]
fn check_refuses_a_bad_config_with_the_filter_message() {
    let path = config_file("bad-delta.json", &threescale_config(json!("one")));
    let run = tollgate(&["check", &path], "");
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "error: services[0].proxy.proxy_rules[0].delta: expected an integer\n"
    );

    let not_json = tollgate(&["check", "-"], "{");
    assert_eq!(not_json.code, 1);
    assert!(
        not_json.stderr.starts_with("error: invalid JSON"),
        "{}",
        not_json.stderr
    );

    let missing = tollgate(&["check", "/nonexistent/tollgate.json"], "");
    assert_eq!(missing.code, 1);
    assert!(missing
        .stderr
        .starts_with("error: cannot read /nonexistent/tollgate.json"));
}

#[test]
fn check_prints_warnings() {
    let mut config = threescale_config(json!(1));
    let mut service = config["services"][0].clone();
    service["id"] = json!(43);
    config["services"]
        .as_array_mut()
        .unwrap()
        .push(service.clone());
    let run = tollgate(&["check", "-"], &config.to_string());
    assert_eq!(run.code, 0);
    assert_eq!(run.stdout, "ok: 2 service(s)\n");
    assert_eq!(
        run.stderr,
        "warning: host api.example.com for service 43 already defined by service 42\n"
    );
    // The same id twice is refused, naming both.
    service["id"] = json!(42);
    config["services"][1] = service;
    let run = tollgate(&["check", "-"], &config.to_string());
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "error: services[1].id: service 42 is defined twice (services[0])\n"
    );
}

#[test]
fn check_lists_each_policy_with_its_answer() {
    let config = chain_config(
        json!([{"name": "logging"}, {"name": "apicast.policy.rate_limit"},
               {"name": "apicast", "version": "builtin"}, {"name": "3scale_batcher", "configuration": {}},
               {"name": "rate_limit_headers"}]),
        json!({"ignore_policies": ["rate_limit"]}),
    );
    let run = tollgate(&["check", "-"], &config.to_string());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "ok: 1 service(s)\n\
         service 42 (services[0].proxy.policy_chain):\n\
         \x20 [0] logging: Envoy's job (configure it in Envoy); it cannot block traffic\n\
         \x20 [1] rate_limit: NOT enforced: accepted through ignore_policies\n\
         \x20 [2] apicast: enforced\n\
         \x20 [3] 3scale_batcher: enforced\n\
         \x20 [4] rate_limit_headers: enforced\n"
    );
    assert_eq!(
        run.stderr,
        "warning: services[0].proxy.policy_chain[1]: policy rate_limit: NOT enforced: accepted through ignore_policies\n"
    );
}

#[test]
fn check_lists_headers_statuscode_overwrite_and_cors_as_enforced() {
    let config = chain_config(
        json!([{"name": "apicast.policy.cors", "configuration": {"allow_origin": "(api|web).test.com"}},
               {"name": "apicast"},
               {"name": "headers", "configuration": {"response": [{"op": "set", "header": "X-A", "value": "1"}]}},
               {"name": "statuscode_overwrite", "version": "builtin",
                "configuration": {"http_statuses": [{"upstream": 403, "apicast": 401}]}}]),
        json!({}),
    );
    let run = tollgate(&["check", "-"], &config.to_string());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "ok: 1 service(s)\n\
         service 42 (services[0].proxy.policy_chain):\n\
         \x20 [0] cors: enforced\n\
         \x20 [1] apicast: enforced\n\
         \x20 [2] headers: enforced\n\
         \x20 [3] statuscode_overwrite: enforced\n"
    );
    assert_eq!(run.stderr, "");

    let config = chain_config(
        json!([{"name": "apicast"}, {"name": "headers", "configuration": {"request": [
            {"op": "set", "header": "X-3scale-Proxy-Secret-Token", "value": "forged"}]}}]),
        json!({}),
    );
    let run = tollgate(&["check", "-"], &config.to_string());
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.ends_with(
            "  [1] refused: configuration.request[0].header: set or removed by Tollgate itself \
             (secret token, X-3scale-Debug, X-3scale-Service-Id, Host)\n"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn check_lists_every_refused_policy_and_fails() {
    let config = chain_config(
        json!([{"name": "ip_check", "configuration": {"check_type": "whitelist", "ips": ["10.0.0.300"]}},
               {"name": "rate_limit"}, {"name": "apicast"}, {"name": "my_policy", "version": "1.0.0"},
               {"name": "url_rewriting", "configuration": {"commands": [{"op": "nope", "regex": "a", "replace": "b"}]}},
               {"name": "ip_check", "configuration": {"check_type": "blacklist", "ips": ["2001:db8::/32"]}},
               {"name": "url_rewriting", "configuration": {"commands": [{"op": "sub", "regex": "a", "replace": "b", "options": "a"}]}},
               {"name": "url_rewriting", "configuration": {"commands": [{"op": "gsub", "regex": "^/v1", "replace": "/v2"}]}}]),
        json!({}),
    );
    let run = tollgate(&["check", "-"], &config.to_string());
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stdout,
        "service 42 (services[0].proxy.policy_chain):\n\
         \x20 [0] refused: configuration.ips[0]: expected an IP address or CIDR block\n\
         \x20 [1] refused: policy rate_limit (builtin) can block or change traffic and Tollgate does not enforce it: remove it, or accept it in ignore_policies\n\
         \x20 [2] apicast: enforced\n\
         \x20 [3] refused: policy my_policy (1.0.0) can block or change traffic and Tollgate does not enforce it: remove it, or accept it in ignore_policies\n\
         \x20 [4] refused: configuration.commands[0].op: unknown value \"nope\" (expected one of: sub, gsub)\n\
         \x20 [5] ip_check: enforced\n\
         \x20 [6] refused: configuration.commands[0].options: option 'a' is not supported (supported: i, m, s, x; j, o and u are accepted and change nothing)\n\
         \x20 [7] url_rewriting: enforced\n"
    );
    assert_eq!(
        run.stderr,
        "error: services[0].proxy.policy_chain[0].configuration.ips[0]: expected an IP address or CIDR block\n"
    );

    // An empty chain is refused; one without apicast is public (a warning, accepted).
    let empty = chain_config(json!([]), json!({}));
    let run = tollgate(&["check", "-"], &empty.to_string());
    assert_eq!(run.code, 1);
    assert!(run.stdout.ends_with("  refused: an empty chain: APIcast would neither authorize nor proxy: list the policies (with {\"name\": \"apicast\"} for 3scale), or remove policy_chain for apicast alone\n"), "{}", run.stdout);
    assert!(
        run.stderr
            .starts_with("error: services[0].proxy.policy_chain: an empty chain"),
        "{}",
        run.stderr
    );
    let public = chain_config(json!([{"name": "upstream"}]), json!({}));
    let run = tollgate(&["check", "-"], &public.to_string());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(
            "  warning: services[0].proxy.policy_chain: no apicast policy: the service is PUBLIC"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains(
            "warning: services[0].proxy.policy_chain: no apicast policy: the service is PUBLIC"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn hash_key_prints_the_stored_form() {
    let run = tollgate(&["hash-key", "abc"], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, format!("{ABC_DIGEST}\n"));

    let stdin = tollgate(&["hash-key", "-"], "abc\n");
    assert_eq!(stdin.stdout, format!("{ABC_DIGEST}\n"));
    let crlf = tollgate(&["hash-key", "-"], "abc\r\n");
    assert_eq!(crlf.stdout, format!("{ABC_DIGEST}\n"));

    // sha256("s" + "abc") == sha256("sabc")
    let salted = tollgate(&["hash-key", "--salt", "s", "abc"], "");
    let plain = tollgate(&["hash-key", "sabc"], "");
    assert_eq!(salted.code, 0);
    assert_eq!(salted.stdout, plain.stdout);
    assert_ne!(salted.stdout, run.stdout);
}

#[test]
fn hashed_keys_are_accepted_by_the_config() {
    let hash = tollgate(&["hash-key", "bob-key"], "")
        .stdout
        .trim()
        .to_string();
    let password = tollgate(&["hash-key", "--salt", "s", "pw"], "")
        .stdout
        .trim()
        .to_string();
    let mut config = threescale_config(json!(1));
    config["services"][0]["authentication"] = json!({
        "mode": "local",
        "api_keys": {"header": "X-API-Key", "keys": [{"id": "bob", "hash": hash}]},
        "basic_users": [{"username": "alice", "salt": "s", "hash": password}]
    });
    let run = tollgate(&["check", "-"], &config.to_string());
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn sign_url_output_verifies() {
    let run = tollgate(
        &[
            "sign-url",
            "--secret",
            "k3y",
            "--expires",
            "2000000000",
            "/files/a.txt?b=2&a=1",
        ],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let signed = run.stdout.trim();
    let (path, query) = signed.split_once('?').unwrap();
    assert_eq!(path, "/files/a.txt");
    assert!(
        query.starts_with("b=2&a=1&expires=2000000000&signature="),
        "{query}"
    );
    assert_eq!(
        signed_url::verify(b"k3y", "GET", path, query, 1_999_999_999),
        Ok(())
    );
    assert_eq!(
        signed_url::verify(b"k3y", "GET", path, query, 2_000_000_001),
        Err(SignedUrlError::Expired)
    );
    assert_eq!(
        signed_url::verify(b"k3y", "POST", path, query, 1_999_999_999),
        Err(SignedUrlError::BadSignature)
    );
}

#[test]
fn sign_url_keeps_the_origin_and_reads_the_secret_from_stdin() {
    let run = tollgate(
        &[
            "sign-url",
            "--secret",
            "-",
            "--method",
            "put",
            "--expires-in",
            "60",
            "https://api.example.com:8443/up#frag",
        ],
        "k3y\n",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let signed = run.stdout.trim();
    let rest = signed.strip_prefix("https://api.example.com:8443").unwrap();
    let rest = rest.strip_suffix("#frag").unwrap();
    let (path, query) = rest.split_once('?').unwrap();
    assert_eq!(path, "/up");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(signed_url::verify(b"k3y", "PUT", path, query, now), Ok(()));
    assert_eq!(
        signed_url::verify(b"k3y", "PUT", path, query, now + 120),
        Err(SignedUrlError::Expired)
    );
}

#[test]
fn sign_url_refuses_bad_arguments() {
    let no_expiry = tollgate(&["sign-url", "--secret", "k", "/a"], "");
    assert_eq!(no_expiry.code, 2);
    assert!(no_expiry.stderr.contains("Usage: tollgate"));
    let both = tollgate(
        &[
            "sign-url",
            "--secret",
            "k",
            "--expires",
            "1",
            "--expires-in",
            "1",
            "/a",
        ],
        "",
    );
    assert_eq!(both.code, 2);
    let relative = tollgate(&["sign-url", "--secret", "k", "--expires", "1", "a"], "");
    assert_eq!(relative.code, 2);
    let resigned = tollgate(
        &[
            "sign-url",
            "--secret",
            "k",
            "--expires",
            "1",
            "/a?expires=5",
        ],
        "",
    );
    assert_eq!(resigned.code, 2);
}

#[test]
fn usage_and_bad_arguments() {
    let help = tollgate(&["--help"], "");
    assert_eq!(help.code, 0);
    assert!(help.stdout.starts_with("Usage: tollgate"));
    assert_eq!(tollgate(&["hash-key", "--help"], "").stdout, help.stdout);
    for args in [
        &[][..],
        &["frobnicate"],
        &["check"],
        &["check", "a", "b"],
        &["hash-key", "--pepper", "x", "k"],
    ] {
        let run = tollgate(args, "");
        assert_eq!(run.code, 2, "{args:?}");
        assert!(run.stderr.contains("Usage: tollgate"), "{args:?}");
        assert_eq!(run.stdout, "");
    }
}

/// `check` refuses each bad `authentication` block (and OIDC misuse) and names its JSON path.
#[test]
fn check_refuses_bad_authentication_blocks_with_their_path() {
    let keys = |keys: Value| json!({"header": "X-API-Key", "keys": keys});
    let key = json!({"id": "bob", "hash": ABC_DIGEST});
    let user = json!({"username": "alice", "salt": "s", "hash": ABC_DIGEST});
    let cases = [
        (
            json!({"mode": "ldap"}),
            "authentication.mode",
            "unknown mode \"ldap\"",
        ),
        (
            json!({"mode": "local"}),
            "authentication.mode",
            "needs api_keys",
        ),
        (
            json!({"mode": "local", "api_keys": keys(json!([{"id": "bob", "hash": "sha256:abc"}]))}),
            "authentication.api_keys.keys[0].hash",
            "expected sha256:<64 hex digits>",
        ),
        (
            json!({"mode": "local", "api_keys": keys(json!([key, {"id": "bob2", "hash": ABC_DIGEST}]))}),
            "authentication.api_keys.keys[1]",
            "the same key is listed twice",
        ),
        (
            json!({"mode": "local", "basic_users": [user, user]}),
            "authentication.basic_users[1].username",
            "duplicate username",
        ),
        (
            json!({"mode": "local", "api_keys": {"keys": [key]}}),
            "authentication.api_keys",
            "set at least one of header, query or basic_username",
        ),
        (
            json!({"mode": "local", "jwt": {"issuer": "https://idp.example.com"}}),
            "authentication.jwt.jwks",
            "missing required field (or set jwks_source or from_jwt_authn)",
        ),
        (
            json!({"mode": "local", "jwt": {"from_jwt_authn": {"metadata_key": "p"}, "jwks": {"keys": []}}}),
            "authentication.jwt.jwks",
            "not allowed with from_jwt_authn (Envoy's jwt_authn verifies the tokens)",
        ),
        (
            json!({"mode": "local", "jwt": {"from_jwt_authn": {"header": "x-jwt"}}}),
            "authentication.jwt.from_jwt_authn.metadata_key",
            "missing required field (jwt_authn's payload_in_metadata)",
        ),
        (
            json!({"mode": "local", "jwt": {"jwks_source": {"cluster": "idp", "path": "/certs", "authority": "idp", "refresh_s": 0}}}),
            "authentication.jwt.jwks_source.refresh_s",
            "must be between 1 and 86400",
        ),
        (
            // `now + refresh_s` would overflow in the module.
            json!({"mode": "local", "jwt": {"jwks_source": {"cluster": "idp", "path": "/certs", "authority": "idp", "refresh_s": 18446744073709551615u64}}}),
            "authentication.jwt.jwks_source.refresh_s",
            "must be between 1 and 86400",
        ),
        (
            json!({"mode": "local", "signed_urls": {}}),
            "authentication.signed_urls.secret",
            "missing required field",
        ),
        (
            json!({"header_secrets": [{"path_prefix": "admin", "header": "X-Admin-Secret", "secret": "s3"}]}),
            "authentication.header_secrets[0].path_prefix",
            "must start with /",
        ),
    ];
    for (auth, path, message) in cases {
        let mut config = threescale_config(json!(1));
        config["services"][0]["authentication"] = auth.clone();
        let run = tollgate(&["check", "-"], &config.to_string());
        assert_eq!((run.code, run.stdout.as_str()), (1, ""), "{auth}");
        let expected = format!("error: services[0].{path}: ");
        assert!(run.stderr.starts_with(&expected), "{auth}: {}", run.stderr);
        assert!(run.stderr.contains(message), "{auth}: {}", run.stderr);
    }

    let mut oidc = threescale_config(json!(1));
    oidc["services"][0]["proxy"]["authentication_method"] = json!("oidc");
    let run = tollgate(&["check", "-"], &oidc.to_string());
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "error: services[0].proxy.authentication_method: \"oidc\" needs backend_version \"oauth\"\n"
    );
}

//! A 3scale credential in a form body, or in an `Authorization` header, that an upstream reads
//! otherwise than the decision: in another spelling than the query's, in a body APIcast does
//! not read, or in a Basic credential Tollgate cannot decode. Each is auth failed, with or
//! without `default_credentials` (found by an audit, 2026-12-06).

use super::fake_envoy::{decide_with_form, Headers};
use super::*;
use serde_json::{json, Value};

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

fn config(version: u8, proxy: Value) -> Config {
    let mut proxy = proxy;
    proxy["hosts"] = json!(["api"]);
    proxy["proxy_rules"] =
        json!([{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]);
    let v = json!({"backend": {"cluster": "b"}, "services": [
        {"id": 1, "backend_version": version, "proxy": proxy}]});
    Config::parse(v.to_string().as_bytes()).unwrap().config
}

fn anonymous(location: &str) -> Config {
    let defaults = json!({"name": "default_credentials",
        "configuration": {"auth_type": "user_key", "user_key": "anon"}});
    config(
        1,
        json!({"credentials_location": location,
            "policy_chain": [defaults, {"name": "apicast"}]}),
    )
}

/// The reply's status, or 0 and the authrep's credentials. `body`: read when the request
/// waits for it (`None` when it does not).
fn decide(
    c: &Config,
    method: &str,
    path: &str,
    headers: &[(&'static str, &'static str)],
    body: &str,
) -> (u16, String) {
    match decide_with_form(c, method, path, headers, body) {
        Err(reply) => (reply.status, reply.body),
        Ok(Next::Backend(m)) => (0, m.credentials.encoded()),
        Ok(Next::Forward(_)) => (0, "forward".into()),
    }
}

fn failed() -> (u16, String) {
    (403, "Authentication failed".into())
}

fn authorized(credentials: &str) -> (u16, String) {
    (0, credentials.into())
}

#[test]
fn a_body_credential_spelled_otherwise_than_the_querys_is_auth_failed() {
    let c = config(1, json!({}));
    for body in [
        "user.key=victim",
        "USER_KEY=victim",
        "User_Key=victim",
        "user_key[]=victim",
        "[user_key]=victim",
        "user_key=mine&user.key=victim",
    ] {
        let got = decide(&c, "POST", "/one?user_key=mine", &[FORM], body);
        assert_eq!(got, failed(), "{body}");
    }
    for (query, body) in [
        ("user.key=victim", "user_key=mine"),
        ("USER.KEY=victim", "user_key=mine"),
        ("user_key[]=victim", "user_key=mine"),
    ] {
        let got = decide(&c, "POST", &format!("/one?{query}"), &[FORM], body);
        assert_eq!(got, failed(), "{query} {body}");
    }
    // The same value in any spelling, and other args, go on.
    for body in ["user.key=mine", "USER_KEY=mine", "a=1"] {
        let got = decide(&c, "POST", "/one?user_key=mine", &[FORM], body);
        assert_eq!(got, authorized("user_key=mine"), "{body}");
    }

    let v2 = config(2, json!({}));
    for (query, body) in [
        ("app_id=a&app_key=k", "app.key=other"),
        ("app_id=a&app_key=k", "APP_ID=other"),
        ("app_id=a", "app_key=k&app.id=other"),
        ("app.id=other", "app_id=a&app_key=k"),
    ] {
        let got = decide(&v2, "PUT", &format!("/one?{query}"), &[FORM], body);
        assert_eq!(got, failed(), "{query} {body}");
    }
    let got = decide(&v2, "PUT", "/one?app_id=a", &[FORM], "app_key=k&App_Id=a");
    assert_eq!(got, authorized("app_id=a&app_key=k"));
}

#[test]
fn a_body_apicast_does_not_read_must_carry_the_credential_checked() {
    let c = config(1, json!({}));
    let shapes: [(&str, &[(&'static str, &'static str)]); 4] = [
        ("DELETE", &[FORM]),
        ("GET", &[FORM]),
        ("OPTIONS", &[FORM]),
        ("POST", &[]),
    ];
    for (method, headers) in shapes {
        for body in ["user_key=victim", "user.key=victim", "a=1&USER_KEY=victim"] {
            let got = decide(&c, method, "/x?user_key=mine", headers, body);
            assert_eq!(got, failed(), "{method} {headers:?} {body}");
        }
        // Never read for the credential: the query's is the one, and one only in the body
        // is not taken (auth failed, not authorized).
        let got = decide(&c, method, "/x?user_key=mine", headers, "user_key=mine&a=1");
        assert_eq!(got, authorized("user_key=mine"), "{method}");
        let got = decide(&c, method, "/x?user_key=mine", headers, "a=1");
        assert_eq!(got, authorized("user_key=mine"), "{method}");
        assert_eq!(
            decide(&c, method, "/x", headers, "user_key=victim"),
            failed()
        );
    }
    let v2 = config(2, json!({}));
    let got = decide(
        &v2,
        "DELETE",
        "/x?app_id=a&app_key=k",
        &[FORM],
        "app_key=other",
    );
    assert_eq!(got, failed());
    let got = decide(&v2, "DELETE", "/x?app_id=a&app_key=k", &[FORM], "app_id=a");
    assert_eq!(got, authorized("app_id=a&app_key=k"));
}

#[test]
fn default_credentials_do_not_stand_for_a_key_in_a_body_apicast_does_not_read() {
    let c = anonymous("query");
    for (method, headers, body) in [
        ("DELETE", &[FORM][..], "user_key=victim"),
        ("GET", &[FORM][..], "user.key=victim"),
        ("POST", &[][..], "user_key=victim"),
        ("POST", &[][..], "user_key[]=victim"),
    ] {
        let got = decide(&c, method, "/x", headers, body);
        assert_eq!(got, failed(), "{method} {headers:?} {body}");
    }
    assert_eq!(
        decide(&c, "DELETE", "/x", &[FORM], "a=1"),
        authorized("user_key=anon")
    );
    assert_eq!(
        decide(&c, "POST", "/x", &[FORM], "user.key=victim").0,
        401,
        "a spelled key in a read body: carried, not replaced (auth missing)"
    );
}

#[test]
fn services_reading_3scale_credentials_anywhere_wait_for_such_a_body() {
    let waits = |c: &Config, method: &str, headers: &[(&'static str, &'static str)]| {
        let head = RequestHead {
            method,
            authority: "api",
            path: "/x?user_key=mine",
            now_s: 0,
        };
        begin(c, head, &Headers(headers.to_vec())).is_ok_and(|p| p.wants_body())
    };
    let query = config(1, json!({}));
    assert!(waits(&query, "DELETE", &[FORM]));
    assert!(!waits(&query, "DELETE", &[]), "no form type: streamed");
    assert!(!waits(
        &query,
        "GET",
        &[("content-type", "application/json")]
    ));
    assert!(waits(&query, "GET", &[FORM]));
    // Elsewhere too: an upstream may read a credential in it (found by an audit, 2026-12-07).
    for location in ["headers", "authorization"] {
        let other = config(1, json!({"credentials_location": location}));
        assert!(waits(&other, "GET", &[FORM]), "{location}");
        assert!(!waits(&other, "GET", &[]), "{location}: no form type");
        assert!(waits(&anonymous(location), "GET", &[FORM]), "{location}");
    }
}

#[test]
fn a_form_credential_beside_header_credentials_is_auth_failed() {
    // Found by an audit of request shapes, 2026-12-07: the form was read for a `_method`
    // only, and its `user_key` reached the upstream.
    let headers = config(1, json!({"credentials_location": "headers"}));
    let basic = config(1, json!({"credentials_location": "authorization"}));
    let mine = ("user_key", "mine");
    let mine_basic = ("authorization", "Basic bWluZTo="); // `mine:`
    for method in ["POST", "PUT", "GET", "DELETE"] {
        for body in [
            "user_key=victim",
            "a=1&user.key=victim",
            "USER_KEY[]=victim",
        ] {
            let got = decide(&headers, method, "/x", &[FORM, mine], body);
            assert_eq!(got, failed(), "{method} {body}");
            let got = decide(&basic, method, "/x", &[FORM, mine_basic], body);
            assert_eq!(got, failed(), "{method} {body}: Basic");
        }
        for body in ["user_key=mine", "a=1"] {
            let got = decide(&headers, method, "/x", &[FORM, mine], body);
            assert_eq!(got, authorized("user_key=mine"), "{method} {body}");
        }
        // None where the service reads it: auth missing, as before.
        let got = decide(&headers, method, "/x", &[FORM], "user_key=victim");
        assert_eq!(got.0, 401, "{method}");
    }
    let got = decide(&headers, "POST", "/x", &[mine], "user_key=victim");
    assert_eq!(got, failed(), "a POST without a type: Rack's form");
    let v2 = config(2, json!({"credentials_location": "headers"}));
    let app = [FORM, ("app_id", "a"), ("app_key", "k")];
    assert_eq!(decide(&v2, "PATCH", "/x", &app, "app.key=other"), failed());
    let got = decide(&v2, "PATCH", "/x", &app, "app_id=a");
    assert_eq!(got, authorized("app_id=a&app_key=k"));
}

#[test]
fn default_credentials_do_not_stand_beside_a_credential_elsewhere() {
    // The query's or a form's key beside a service reading headers, a header beside one
    // reading the query: not replaced by the defaults (found by an audit, 2026-12-07).
    let headers = anonymous("headers");
    assert_eq!(
        decide(&headers, "GET", "/x?user_key=victim", &[], "").0,
        401
    );
    assert_eq!(
        decide(&headers, "GET", "/x?User.Key=victim", &[], "").0,
        401
    );
    assert_eq!(
        decide(&headers, "POST", "/x", &[FORM], "user_key=victim").0,
        401
    );
    let query = anonymous("query");
    let header = ("user_key", "victim");
    assert_eq!(decide(&query, "GET", "/x", &[header], "").0, 401);
    let basic = anonymous("authorization");
    assert_eq!(decide(&basic, "GET", "/x", &[header], "").0, 401);
    for c in [&headers, &query, &basic] {
        let got = decide(c, "GET", "/x?a=1", &[], "");
        assert_eq!(got, authorized("user_key=anon"));
    }
}

#[test]
fn an_authorization_header_unreadable_here_is_auth_failed() {
    let c = anonymous("authorization");
    let urlsafe = "Basic dml-fnRpbT4_Og"; // `vi~~tim>?:` in the URL-safe alphabet
    for (value, twice) in [
        (urlsafe, None),
        ("Basic dmljdGlt", None),      // no colon
        ("Basic dmljdGlt Og==", None), // a space inside
        ("Digest x, Basic dmljdGltOg==", None),
        ("Bearer mine,Bearer victim", None),
        ("Digest x", Some("Basic dmljdGltOg==")),
        ("Basic bWluZTo=", Some("Basic dmljdGltOg==")),
    ] {
        let mut headers = vec![("authorization", value)];
        headers.extend(twice.map(|v| ("authorization", v)));
        assert_eq!(decide(&c, "GET", "/x", &headers, ""), failed(), "{value}");
    }
    assert_eq!(
        decide(&c, "GET", "/x", &[], ""),
        authorized("user_key=anon")
    );
    let digest = [("authorization", "Digest username=\"u\", realm=\"r\"")];
    assert_eq!(
        decide(&c, "GET", "/x", &digest, ""),
        authorized("user_key=anon")
    );
    let basic = [("authorization", "Basic bWluZTo=")];
    assert_eq!(
        decide(&c, "GET", "/x", &basic, ""),
        authorized("user_key=mine")
    );
    // Without default credentials too: 403 rather than 401.
    let plain = config(1, json!({"credentials_location": "authorization"}));
    let headers = [("authorization", urlsafe)];
    assert_eq!(decide(&plain, "GET", "/x", &headers, ""), failed());
}

/// `local+3scale`: the caller's id is the credential, so such a body's key must be that id.
#[test]
fn a_body_apicast_does_not_read_must_name_the_local_caller() {
    let auth = json!({"mode": "local+3scale", "api_keys": {"header": "x-api-key", "keys": [
        {"id": "bob", "hash": crate::auth::digest::stored_form("abc")}]}});
    let v = json!({"backend": {"cluster": "b"}, "services": [{"id": 1, "backend_version": 1,
        "authentication": auth, "proxy": {"hosts": ["api"], "proxy_rules": [
            {"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}}]});
    let c = Config::parse(v.to_string().as_bytes()).unwrap().config;
    let key = ("x-api-key", "abc");
    for body in ["user_key=victim", "user.key=victim"] {
        assert_eq!(
            decide(&c, "DELETE", "/x", &[key, FORM], body),
            failed(),
            "{body}"
        );
    }
    let got = decide(&c, "DELETE", "/x", &[key, FORM], "user_key=bob&a=1");
    assert_eq!(got, authorized("user_key=bob"));
}

/// A form named by `Content_Type` (Puma and Unicorn give it to Rack as the content type) is
/// read to be compared on every method, never as a source (found in the thirty-fourth
/// session: on a `PUT` it was not read at all).
#[test]
fn a_form_named_by_another_spelling_of_content_type_is_compared() {
    let query = config(1, json!({}));
    let headers = config(1, json!({"credentials_location": "headers"}));
    let spelled = ("Content_Type", "application/x-www-form-urlencoded");
    let plain = ("content-type", "text/plain");
    for method in ["PUT", "PATCH", "DELETE", "GET", "POST"] {
        for types in [vec![spelled], vec![spelled, plain], vec![plain, spelled]] {
            let got = decide(
                &query,
                method,
                "/x?user_key=mine",
                &types,
                "user_key=victim",
            );
            assert_eq!(got, failed(), "{method} {types:?}");
            let mut with_key = types.clone();
            with_key.push(("user-key", "mine"));
            let got = decide(&headers, method, "/x", &with_key, "user_key=victim");
            assert_eq!(got, failed(), "{method} {types:?} headers");
        }
        // Compared, never a source: APIcast reads `Content-Type` alone.
        let got = decide(
            &query,
            method,
            "/x?user_key=mine",
            &[spelled],
            "user_key=mine",
        );
        assert_eq!(got, authorized("user_key=mine"), "{method}");
        let got = decide(&query, method, "/x", &[plain, spelled], "user_key=mine");
        assert_eq!(got, failed(), "{method} no query key");
    }
}

/// A cookie naming a credential is the upstream's to read (PHP's `$_REQUEST`): the default
/// credentials do not apply beside it, and one beside a credential found must be that one.
#[test]
fn a_cookie_credential_is_compared_and_keeps_the_defaults_off() {
    let missing = (401, "Authentication parameters missing".to_string());
    for location in ["query", "headers", "authorization"] {
        let c = anonymous(location);
        let got = decide(&c, "GET", "/x", &[("cookie", "a=1; user_key=victim")], "");
        assert_eq!(got, missing, "{location}");
        let got = decide(&c, "GET", "/x", &[("cookie", "a=1")], "");
        assert_eq!(got, authorized("user_key=anon"), "{location}");
    }
    let c = config(1, json!({}));
    let cookie = ("cookie", "user_key=victim");
    assert_eq!(
        decide(&c, "GET", "/x?user_key=mine", &[cookie], ""),
        failed()
    );
    let same = ("cookie", "user_key=mine");
    let got = decide(&c, "GET", "/x?user_key=mine", &[same], "");
    assert_eq!(got, authorized("user_key=mine"));
}

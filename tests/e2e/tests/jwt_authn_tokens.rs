//! `authentication.jwt.from_jwt_authn` and every token Envoy's `jwt_authn` reads: a token it
//! rejected never rides along with a request Tollgate lets through.
//!
//! 1. Two different tokens (one in `Authorization`, one in `?access_token=`): `jwt_authn`
//!    verifies one, stores its payload, rejects the other and (`allow_missing_or_failed`) lets
//!    the request go on with the payload. Which token the payload belongs to cannot be told:
//!    auth failed (403). One token in both places is one token.
//! 2. `Bearer <token>` anywhere in `Authorization` (`Token Bearer x`, or two `Authorization`
//!    headers, which Envoy joins with `,`): `jwt_authn` finds `Bearer ` anywhere in the value.
//!    Such a token without a payload is auth failed (403), whatever other credential the
//!    request carries.
//! 3. The token `jwt_authn` verified, then a second `Authorization` value (another header, or
//!    after a `,`) holding a Basic user: the upstream may read the Basic one, which nobody
//!    checked. Auth failed (403), as the same pair when Tollgate verifies the token.
//!
//! The first two failed before Tollgate counted every token (2026-12-05): the first forwarded
//! the rejected admin token upstream next to a valid reader token, the second let a valid API
//! key carry a rejected token upstream (or answered 401 with no other credential). The third
//! was let through by the core with the token's identity (an audit, 2026-12-06), but not
//! through Envoy 1.40, which joins two `Authorization` headers into one and whose `jwt_authn`
//! takes all of the value after `Bearer ` as the token, so fails to verify it: the test keeps
//! Tollgate's refusal from resting on that.

mod support;

use e2e::jwt::{b64url, now, Signer};
use e2e::mock_backend::{App, Service, State};
use e2e::{JwtAuthn, Request, Response};
use serde_json::{json, Value};
use support::*;
use tollgate_core::auth::digest::stored_form;

const ISSUER: &str = "https://idp.example.com/realms/audit";
const API_KEY: &str = "ak_5f0c8e7a1b2d4c6e9f1a3b5c7d9e0f21";
const FAILED: &str = "Authentication failed";

fn claims(roles: &[&str]) -> Value {
    json!({"iss": ISSUER, "sub": "user-1", "azp": "client-1", "exp": now() + 600,
           "roles": roles})
}

/// The same claims with a signature of other bytes: jwt_authn rejects it.
fn forged(key: &Signer, claims: &Value) -> String {
    let mut token = key.token(claims);
    let cut = token.rfind('.').unwrap() + 1;
    token.replace_range(cut.., &b64url(&[7u8; 64]));
    token
}

/// A local service trusting jwt_authn (`/admin` needs role `admin`), also accepting an API
/// key in `X-API-Key` ("lets a service accept other credentials as well"), behind jwt_authn
/// with the recommended `requires_any: [idp, allow_missing_or_failed]`.
fn stack(key: &Signer) -> Stack {
    let svc = json!({
        "id": 50,
        "authentication": {"mode": "local",
            "jwt": {"from_jwt_authn": {"metadata_key": "jwt_payload"}, "issuer": ISSUER},
            "api_keys": {"header": "X-API-Key", "keys": [{"id": "k1", "hash": stored_form(API_KEY)}]}},
        "proxy": {"hosts": ["audit.example.com"], "proxy_rules": [
            {"http_method": "ANY", "pattern": "/api", "metric_system_name": "hits", "delta": 1},
            {"http_method": "ANY", "pattern": "/admin", "metric_system_name": "hits", "delta": 1, "roles": ["admin"]}
        ]}
    });
    Stack::start_with(config(vec![svc]), backend_state(), |b| {
        b.jwt_authn(JwtAuthn::new(&Signer::jwks(&[key])).issuer(ISSUER))
    })
}

fn send(s: &Stack, r: Request) -> Response {
    r.header("Host", "audit.example.com").send(s.port())
}

fn upstream_authorization(s: &Stack) -> Vec<String> {
    s.echo
        .requests()
        .iter()
        .flat_map(|e| {
            e.header_all("authorization")
                .into_iter()
                .map(str::to_string)
        })
        .collect()
}

#[test]
fn forged_header_token_next_to_a_valid_query_token_is_refused() {
    let key = Signer::es256("audit-1");
    let s = stack(&key);
    let reader = key.token(&claims(&["reader"]));
    let forged_admin = forged(&key, &claims(&["admin"]));

    // The valid token alone, or the same token in both places, is let through with it.
    for request in [
        Request::get("/api/x"),
        Request::get(&format!("/api/x?access_token={reader}")),
    ] {
        let before = s.echo.requests().len();
        let ok = send(
            &s,
            request.header("Authorization", &format!("Bearer {reader}")),
        );
        assert_eq!(ok.status, 200, "{ok}");
        assert_eq!(s.echo.requests().len(), before + 1);
        assert_eq!(
            upstream_authorization(&s).last(),
            Some(&format!("Bearer {reader}"))
        );
    }
    let forwarded = s.echo.requests().len();

    // Control: the forged token alone, and the same two tokens the other way round, are 403.
    let alone = send(
        &s,
        Request::get("/api/x").header("Authorization", &format!("Bearer {forged_admin}")),
    );
    assert_eq!(
        (alone.status, alone.body.as_str()),
        (403, FAILED),
        "{alone}"
    );
    let swapped = send(
        &s,
        Request::get(&format!("/api/x?access_token={forged_admin}"))
            .header("Authorization", &format!("Bearer {reader}")),
    );
    assert_eq!(
        (swapped.status, swapped.body.as_str()),
        (403, FAILED),
        "{swapped}"
    );

    // The bypass: GET /api/x?access_token=<valid reader token>
    //             Authorization: Bearer <forged admin token>
    let r = send(
        &s,
        Request::get(&format!("/api/x?access_token={reader}"))
            .header("Authorization", &format!("Bearer {forged_admin}")),
    );
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, FAILED),
        "a token jwt_authn rejected was sent in Authorization; the upstream got {:?}",
        upstream_authorization(&s)
    );
    assert_eq!(
        s.echo.requests().len(),
        forwarded,
        "nothing more reaches the upstream"
    );
}

#[test]
fn forged_bearer_token_not_at_the_start_of_authorization_is_refused() {
    let key = Signer::es256("audit-2");
    let s = stack(&key);
    let forged_admin = forged(&key, &claims(&["admin"]));

    // Control: a valid API key with a forged `Bearer` token is auth failed.
    let control = send(
        &s,
        Request::get("/api/x")
            .header("X-API-Key", API_KEY)
            .header("Authorization", &format!("Bearer {forged_admin}")),
    );
    assert_eq!(
        (control.status, control.body.as_str()),
        (403, FAILED),
        "{control}"
    );

    let mut wrong = Vec::new();
    let cases = [
        (
            "X-API-Key + `Authorization: Token Bearer <forged>`",
            Request::get("/api/x")
                .header("X-API-Key", API_KEY)
                .header("Authorization", &format!("Token Bearer {forged_admin}")),
        ),
        (
            "X-API-Key + `Authorization: Basic eDp5` + `Authorization: Bearer <forged>`",
            Request::get("/api/x")
                .header("X-API-Key", API_KEY)
                .header("Authorization", "Basic eDp5")
                .header("Authorization", &format!("Bearer {forged_admin}")),
        ),
        (
            "no other credential, `Authorization: Token Bearer <forged>`",
            Request::get("/api/x").header("Authorization", &format!("Token Bearer {forged_admin}")),
        ),
    ];
    for (case, request) in cases {
        let before = s.echo.requests().len();
        let r = send(&s, request);
        let forwarded = s.echo.requests().len() > before;
        if (r.status, r.body.as_str()) != (403, FAILED) || forwarded {
            wrong.push(format!(
                "{case}: {} {:?}, upstream reached: {forwarded}",
                r.status, r.body
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "jwt_authn read and rejected each of these tokens (README: auth failed, 403):\n{}\nupstream Authorization headers: {:?}",
        wrong.join("\n"),
        upstream_authorization(&s)
    );
}

/// Services trusting jwt_authn, each on its own host: local with Basic users, local+3scale
/// with Basic users (the client id is the `user_key`), OIDC with Basic users (the client id
/// is the `app_id`), and local without Basic users (a second `Authorization` is refused on a
/// service that reads it).
fn second_authorization_stack(key: &Signer) -> Stack {
    let trusting = json!({"from_jwt_authn": {"metadata_key": "jwt_payload"}, "issuer": ISSUER});
    let bob = json!([{"username": "bob", "salt": "s", "hash": stored_form("sbob-pw")}]);
    let rules =
        json!([{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]);
    let svc = |id: u64, version: &str, host: &str, auth: Value| {
        json!({"id": id, "backend_version": version, "authentication": auth,
               "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
               "proxy": {"hosts": [host], "proxy_rules": rules}})
    };
    let mut oidc = svc(
        62,
        "oauth",
        "oidc.example.com",
        json!({"jwt": trusting, "basic_users": bob}),
    );
    oidc["proxy"]["authentication_method"] = json!("oidc");
    let services = vec![
        svc(
            60,
            "1",
            "local.example.com",
            json!({"mode": "local", "jwt": trusting, "basic_users": bob}),
        ),
        svc(
            61,
            "1",
            "both.example.com",
            json!({"mode": "local+3scale", "jwt": trusting, "basic_users": bob}),
        ),
        oidc,
        svc(
            63,
            "1",
            "nobasic.example.com",
            json!({"mode": "local", "jwt": trusting}),
        ),
    ];
    let state = State::new()
        .service(
            Service::new("61")
                .token(TOKEN)
                .backend_version("1")
                .metric("hits", None),
        )
        .service(
            Service::new("62")
                .token(TOKEN)
                .backend_version("oauth")
                .metric("hits", None),
        )
        .app(App::new("61", "app-61").user_key("client-1").plan("Basic"))
        .app(App::new("62", "client-1").plan("Basic"));
    Stack::start_with(config(services), state, |b| {
        b.jwt_authn(JwtAuthn::new(&Signer::jwks(&[key])).issuer(ISSUER))
    })
}

#[test]
fn a_second_authorization_beside_the_verified_token_is_refused() {
    let key = Signer::es256("audit-3");
    let s = second_authorization_stack(&key);
    let mut token_claims = claims(&[]);
    token_claims["aud"] = json!("account"); // OIDC needs one
    let bearer = format!("Bearer {}", key.token(&token_claims));
    let basic_bob = "Basic Ym9iOmJvYi1wdw=="; // bob:bob-pw
    let hosts = [
        "local.example.com",
        "both.example.com",
        "oidc.example.com",
        "nobasic.example.com",
    ];
    let get = |host: &str| Request::get("/api/x").header("Host", host);
    let mut wrong = Vec::new();
    for host in hosts {
        // Control: the token alone is let through with it.
        let before = s.echo.requests().len();
        let ok = get(host).header("Authorization", &bearer).send(s.port());
        assert_eq!(ok.status, 200, "{host}: {ok}");
        assert_eq!(s.echo.requests().len(), before + 1, "{host}");
        let cases = [
            (
                "Basic first",
                get(host)
                    .header("Authorization", basic_bob)
                    .header("Authorization", &bearer),
            ),
            (
                "Bearer first",
                get(host)
                    .header("Authorization", &bearer)
                    .header("Authorization", basic_bob),
            ),
            (
                "joined",
                get(host).header("Authorization", &format!("{bearer},{basic_bob}")),
            ),
        ];
        for (case, request) in cases {
            let before = s.echo.requests().len();
            let r = request.send(s.port());
            let forwarded = s.echo.requests().len() > before;
            if (r.status, r.body.as_str()) != (403, FAILED) || forwarded {
                wrong.push(format!(
                    "{host} {case}: {} {:?}, upstream reached: {forwarded}",
                    r.status, r.body
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "a Basic user beside the verified token (README: auth failed, 403):\n{}\nupstream Authorization headers: {:?}",
        wrong.join("\n"),
        upstream_authorization(&s)
    );
    // 3scale was asked once per 3scale service, for the controls, with the client id.
    let calls = s.backend.requests();
    let credentials: Vec<String> = calls
        .iter()
        .map(|c| {
            c.param("user_key")
                .or(c.param("app_id"))
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(credentials, ["client-1", "client-1"], "{calls:?}");
}

//! `from_jwt_authn`: its configuration, and local authentication and OIDC with the claims
//! `jwt_authn` left in the dynamic metadata (built as Envoy serializes it), natively.

use super::identity::Method;
use super::jwt::tests::metadata::jwt_authn_metadata;
use super::local::{authenticate, LocalFailure, LocalRequest};
use crate::cache::MemoryStore;
use crate::config::Config;
use crate::mapping::QueryArgs;
use crate::pipeline::{Clock, Outcome, RequestLine, Step, Worker};
use crate::request::HeaderSource;
use serde_json::{json, Value};
use std::cell::Cell;
use std::rc::Rc;

const NOW: u64 = 1_700_000_000;

/// A request: headers, and the dynamic metadata the host returns (`Err`: the read fails).
struct Request {
    headers: Vec<(&'static str, String)>,
    metadata: Result<Option<Vec<u8>>, ()>,
    metadata_reads: Cell<u32>,
    failed: Cell<bool>,
}

impl Request {
    fn new(headers: &[(&'static str, &str)], metadata: Option<Vec<u8>>) -> Request {
        Request {
            headers: headers.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            metadata: Ok(metadata),
            metadata_reads: Cell::new(0),
            failed: Cell::new(false),
        }
    }
}

impl HeaderSource for Request {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    fn header_ambiguous(&self, name: &str) -> bool {
        let mut values = (self.headers.iter()).filter(|(k, _)| k.eq_ignore_ascii_case(name));
        let first = values.next().map(|(_, v)| v.clone());
        values.any(|(_, v)| Some(v) != first.as_ref())
    }

    fn header_joined(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = (self.headers.iter())
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    }

    fn dynamic_metadata(&self) -> Option<Vec<u8>> {
        self.metadata_reads.set(self.metadata_reads.get() + 1);
        self.metadata.clone().unwrap_or_else(|()| {
            self.failed.set(true);
            None
        })
    }

    fn failed(&self) -> bool {
        self.failed.get()
    }
}

fn payload(claims: Value) -> Option<Vec<u8>> {
    Some(jwt_authn_metadata("jwt_payload", &claims))
}

fn valid() -> Value {
    json!({"iss": "https://idp.example", "azp": "app-1", "sub": "alice",
           "realm_access": {"roles": ["admin"]}, "exp": NOW + 60})
}

fn service(jwt: Value, mode: &str) -> Value {
    json!({
        "backend": {"cluster": "backend"},
        "services": [{
            "id": "42", "backend_version": "1",
            "backend_authentication_type": "service_token",
            "backend_authentication_value": "st",
            "proxy": {"hosts": ["api.example.com"], "proxy_rules": [
                {"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1},
                {"http_method": "GET", "pattern": "/admin", "metric_system_name": "hits",
                 "delta": 1, "roles": ["admin"]}
            ]},
            "authentication": {"mode": mode, "jwt": jwt,
              "basic_users": [{"username": "bob", "salt": "s",
                               "hash": crate::auth::digest::stored_form("sspw")}]}
        }]
    })
}

fn trusting() -> Value {
    json!({"from_jwt_authn": {"metadata_key": "jwt_payload"},
           "roles_claim": "realm_access.roles"})
}

fn parse(config: &Value) -> Result<Config, String> {
    Config::parse(config.to_string().as_bytes())
        .map(|c| c.config)
        .map_err(|e| e.to_string())
}

fn auth_of(config: &Config) -> &super::Authentication {
    &config.services[0].auth
}

fn local(
    config: &Config,
    req: &Request,
    query: Option<&str>,
) -> Result<(String, Method, Vec<String>), LocalFailure> {
    let args = query.map(QueryArgs::parse).unwrap_or_default();
    authenticate(
        auth_of(config),
        &LocalRequest {
            method: "GET",
            path: "/",
            query,
            args: &args,
            headers: req,
            now_s: NOW,
        },
    )
    .map(|who| (who.id, who.method, who.roles))
}

#[test]
fn keys_and_verification_settings_are_refused_with_the_source() {
    for (field, value) in [
        ("jwks", json!({"keys": []})),
        ("jwks_source", json!({"cluster": "idp", "path": "/certs"})),
        ("cache_size", json!(10)),
        ("max_failed_verifications_per_s", json!(5)),
    ] {
        let mut jwt = trusting();
        jwt[field] = value;
        let err = parse(&service(jwt, "local")).unwrap_err();
        assert!(
            err.contains(&format!("services[0].authentication.jwt.{field}"))
                && err.contains("not allowed with from_jwt_authn"),
            "{err}"
        );
    }
    let err = parse(&service(json!({"from_jwt_authn": {}}), "local")).unwrap_err();
    assert!(err.contains("jwt.from_jwt_authn.metadata_key"), "{err}");
    let err = parse(&service(
        json!({"from_jwt_authn": {"metadata_key": "p", "cookie": "c"}}),
        "local",
    ))
    .unwrap_err();
    assert!(err.contains("from_jwt_authn"), "{err}");
    let err = parse(&service(json!({"roles_claim": "roles"}), "local")).unwrap_err();
    assert!(err.contains("or from_jwt_authn"), "{err}");
}

#[test]
fn verified_claims_give_the_caller_and_roles() {
    let c = parse(&service(trusting(), "local")).unwrap();
    // The token itself is not read: jwt_authn may have taken it from anywhere.
    let req = Request::new(&[], payload(valid()));
    assert_eq!(
        local(&c, &req, None),
        Ok(("app-1".into(), Method::Jwt, vec!["admin".into()]))
    );
    // No client id claim: `sub`, as for a token verified here.
    let mut claims = valid();
    claims.as_object_mut().unwrap().remove("azp");
    let req = Request::new(&[("authorization", "Bearer x.y.z")], payload(claims));
    assert_eq!(local(&c, &req, None).map(|w| w.0), Ok("alice".into()));
}

#[test]
fn expiry_and_rules_are_still_enforced() {
    let mut jwt = trusting();
    jwt["issuer"] = json!("https://idp.example");
    let c = parse(&service(jwt, "local")).unwrap();
    let mut expired = valid();
    expired["exp"] = json!(NOW);
    let req = Request::new(&[("authorization", "Bearer t")], payload(expired));
    assert_eq!(local(&c, &req, None), Err(LocalFailure::Failed));
    let mut foreign = valid();
    foreign["iss"] = json!("https://other.example");
    assert_eq!(
        local(&c, &Request::new(&[], payload(foreign)), None),
        Err(LocalFailure::Failed)
    );
    let mut no_exp = valid();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        local(&c, &Request::new(&[], payload(no_exp)), None),
        Err(LocalFailure::Failed)
    );
    // Undecodable metadata: failed, not missing.
    let req = Request::new(&[], Some(vec![0x0a, 0x05]));
    assert_eq!(local(&c, &req, None), Err(LocalFailure::Failed));
}

#[test]
fn a_token_without_a_payload_failed_and_no_token_is_missing() {
    let c = parse(&service(trusting(), "local")).unwrap();
    // jwt_authn rejected it (allow_missing_or_failed let the request go on): never verified here.
    let bearer = Request::new(&[("authorization", "Bearer x.y.z")], None);
    assert_eq!(local(&c, &bearer, None), Err(LocalFailure::Failed));
    assert_eq!(
        local(&c, &Request::new(&[], None), Some("access_token=x.y.z")),
        Err(LocalFailure::Failed)
    );
    assert_eq!(
        local(&c, &Request::new(&[], None), None),
        Err(LocalFailure::Missing)
    );
    // A header that is no token does not count, and other methods still apply.
    let basic = Request::new(&[("authorization", "Basic Ym9iOnNwdw==")], None);
    assert_eq!(local(&c, &basic, None).map(|w| w.0), Ok("bob".into()));
    // Another payload key (another provider's) is no payload for this service.
    let other = Request::new(&[], Some(jwt_authn_metadata("other", &valid())));
    assert_eq!(local(&c, &other, None), Err(LocalFailure::Missing));
}

/// `jwt_authn` finds `Bearer ` anywhere in a header's values (joined with `,`), and with an
/// `allow_missing_or_failed` requirement keeps the payload of a token it verified when another
/// one failed: every token it could have read counts, and two different ones fail.
#[test]
fn every_token_jwt_authn_could_read_counts_and_two_different_ones_fail() {
    let c = parse(&service(trusting(), "local")).unwrap();
    let with = |headers: &[(&'static str, &str)]| Request::new(headers, payload(valid()));
    let without = |headers: &[(&'static str, &str)]| Request::new(headers, None);
    let bearer = [("authorization", "Bearer a.b.c")];
    // One token, in one place or the same in both: the payload is its.
    assert!(local(&c, &with(&bearer), None).is_ok());
    assert!(local(&c, &with(&bearer), Some("access_token=a.b.c")).is_ok());
    assert!(local(&c, &with(&[]), Some("access_token=a.b.c")).is_ok());
    // Two different ones: whichever was verified, the other was not.
    let failed = Err(LocalFailure::Failed);
    assert_eq!(
        local(&c, &with(&bearer), Some("access_token=x.y.z")),
        failed
    );
    assert_eq!(
        local(
            &c,
            &with(&[]),
            Some("access_token=a.b.c&access_token=x.y.z")
        ),
        failed
    );
    let two_headers = [
        ("authorization", "Bearer a.b.c"),
        ("authorization", "Bearer x.y.z"),
    ];
    assert_eq!(local(&c, &with(&two_headers), None), failed);
    assert_eq!(
        local(
            &c,
            &with(&[("authorization", "Bearer a.b.c, Bearer x.y.z")]),
            None
        ),
        failed
    );
    // Without a payload, a token anywhere in the values failed, even next to a valid Basic
    // user (the first value alone was read before), or in a case `jwt_authn` skips.
    for headers in [
        &[("authorization", "Token Bearer x.y.z")][..],
        &[
            ("authorization", "Basic Ym9iOnNwdw=="),
            ("authorization", "Bearer x.y.z"),
        ][..],
        &[("authorization", "bearer x.y.z")][..],
        &[("authorization", "Basic Ym9iOnNwdw==,BEARER\tx.y.z")][..],
    ] {
        assert_eq!(local(&c, &without(headers), None), failed, "{headers:?}");
    }
    // A header without the scheme followed by a space is no token: Basic still works.
    let basic = [("authorization", "Basic Ym9iOnNwdw==")];
    assert_eq!(
        local(&c, &without(&basic), None).map(|w| w.0),
        Ok("bob".into())
    );
}

#[test]
fn a_custom_token_header_and_query_count_as_presented() {
    let jwt = json!({"from_jwt_authn": {"metadata_key": "jwt_payload",
                                        "header": "X-JWT-Assertion", "query": "jwt"}});
    let c = parse(&service(jwt, "local")).unwrap();
    let custom = Request::new(&[("x-jwt-assertion", "x.y.z")], None);
    assert_eq!(local(&c, &custom, None), Err(LocalFailure::Failed));
    let query = Request::new(&[], None);
    assert_eq!(local(&c, &query, Some("jwt=x")), Err(LocalFailure::Failed));
    // An `access_token` nobody verified, which an upstream may read (RFC 6750), is refused.
    assert_eq!(
        local(&c, &query, Some("access_token=x")),
        Err(LocalFailure::Failed)
    );
    assert_eq!(
        local(&c, &query, Some("other=x")),
        Err(LocalFailure::Missing)
    );
    // A Bearer token in Authorization is still never verified here.
    let bearer = Request::new(&[("authorization", "Bearer x.y.z")], None);
    assert_eq!(local(&c, &bearer, None), Err(LocalFailure::Failed));
}

struct FixedClock;
impl Clock for FixedClock {
    fn now_ms(&self) -> Option<u64> {
        Some(NOW * 1000)
    }
}

/// One request through a worker: its reply (status, outcome), or the headers it is forwarded
/// with, or the backend call path.
fn through_worker(config: Value, req: &Request, path: &str) -> Result<String, (u16, Outcome)> {
    let config = Rc::new(parse(&config).unwrap());
    let mut worker = Worker::new(
        config,
        Box::new(MemoryStore::default()),
        Box::new(FixedClock),
    );
    let line = RequestLine {
        method: "GET",
        authority: "api.example.com",
        path,
    };
    let steps = worker.on_request_headers(1, line, req, true);
    match steps.list.as_slice() {
        [Step::Reply { reply, .. }] => Err((reply.status, reply.outcome)),
        [Step::Forward { .. }] => Ok("forwarded".into()),
        [Step::Call { call, .. }] => Ok(call.path.clone()),
        other => panic!("unexpected steps {other:?}"),
    }
}

#[test]
fn roles_from_the_payload_guard_rules_and_a_failed_read_fails_closed() {
    let config = service(trusting(), "local");
    let admin = Request::new(&[], payload(valid()));
    assert_eq!(
        through_worker(config.clone(), &admin, "/admin"),
        Ok("forwarded".into())
    );
    let mut reader = valid();
    reader["realm_access"]["roles"] = json!(["reader"]);
    let reader = Request::new(&[], payload(reader));
    assert_eq!(
        through_worker(config.clone(), &reader, "/admin"),
        Err((403, Outcome::AuthFailed))
    );
    let missing = Request::new(&[], None);
    assert_eq!(
        through_worker(config.clone(), &missing, "/"),
        Err((401, Outcome::AuthMissing))
    );
    // The host could not read the metadata: 500, whatever a header says.
    let mut failing = Request::new(&[("authorization", "Bearer x.y.z")], None);
    failing.metadata = Err(());
    assert_eq!(
        through_worker(config, &failing, "/"),
        Err((500, Outcome::InternalError))
    );
}

/// `service` as an OpenID Connect one (no `mode`: OIDC sets local+3scale), with the issuer
/// of [`valid`] (an OIDC service needs one).
fn oidc_service(mut jwt: Value) -> Value {
    jwt["issuer"] = json!("https://idp.example");
    let mut config = service(jwt, "local+3scale");
    config["services"][0]["backend_version"] = json!("oauth");
    config["services"][0]["proxy"]["authentication_method"] = json!("oidc");
    config["services"][0]["authentication"]
        .as_object_mut()
        .unwrap()
        .remove("mode");
    config
}

/// Claims an OIDC service accepts (APIcast's access-token claims).
fn oidc_claims() -> Value {
    let mut oidc = valid();
    oidc["aud"] = json!("app-1");
    oidc["typ"] = json!("Bearer");
    oidc
}

#[test]
fn oidc_with_3scale_sends_the_client_id_as_app_id() {
    let config = oidc_service(trusting());
    let oidc = oidc_claims();
    let req = Request::new(&[("authorization", "Bearer x.y.z")], payload(oidc.clone()));
    let path = through_worker(config.clone(), &req, "/").unwrap();
    assert!(
        path.starts_with("/transactions/oauth_authrep.xml?") && path.contains("app_id=app-1"),
        "{path}"
    );
    // OIDC needs the client id claim, and APIcast's access-token claims (jwt_authn checks
    // none of them): `sub`, `aud`, `iss`, `typ` Bearer (not a Keycloak ID token), `iat` > 0.
    for (claim, value) in [
        ("azp", Value::Null),
        ("sub", Value::Null),
        ("aud", Value::Null),
        ("iss", Value::Null),
        ("typ", json!("ID")),
        ("iat", json!(0)),
    ] {
        let mut refused = oidc.clone();
        match value {
            Value::Null => refused.as_object_mut().unwrap().remove(claim),
            value => refused.as_object_mut().unwrap().insert(claim.into(), value),
        };
        let req = Request::new(&[], payload(refused));
        assert_eq!(
            through_worker(config.clone(), &req, "/"),
            Err((403, Outcome::AuthFailed)),
            "{claim}"
        );
    }
    // Tollgate's own local+3scale mode keeps its rules: no sub, aud or typ needed.
    let config = service(trusting(), "local+3scale");
    let mut own = valid();
    own.as_object_mut().unwrap().remove("sub");
    own["typ"] = json!("ID");
    let req = Request::new(&[], payload(own));
    assert!(through_worker(config, &req, "/").is_ok());
}

#[test]
fn the_metadata_is_read_only_for_services_that_trust_jwt_authn() {
    // A service verifying tokens itself, and one trusting jwt_authn.
    let secret = crate::base64::encode_url(b"0123456789abcdef0123456789abcdef");
    let own = json!({"jwks": {"keys": [{"kty": "oct", "kid": "k", "k": secret, "alg": "HS256"}]}});
    let req = Request::new(&[("authorization", "Bearer x.y.z")], payload(valid()));
    assert_eq!(
        through_worker(service(own, "local"), &req, "/"),
        Err((403, Outcome::AuthFailed))
    );
    assert_eq!(req.metadata_reads.get(), 0);
    let req = Request::new(&[], payload(valid()));
    assert!(through_worker(service(trusting(), "local"), &req, "/").is_ok());
    assert_eq!(req.metadata_reads.get(), 1);
}

/// The token `jwt_authn` verified from a first `Authorization` value, and a second one (a
/// Basic user, in another header or after Envoy's `,`): the upstream may read the second,
/// which nobody checked. Auth failed in every mode and with or without Basic users, as when
/// Tollgate verifies the token itself (found by an audit, 2026-12-06: the claims were used).
#[test]
fn a_second_authorization_beside_the_verified_token_fails() {
    let mut no_basic = service(trusting(), "local");
    no_basic["services"][0]["authentication"]
        .as_object_mut()
        .unwrap()
        .remove("basic_users");
    let configs = [
        ("local", service(trusting(), "local"), valid()),
        ("local+3scale", service(trusting(), "local+3scale"), valid()),
        ("oidc", oidc_service(trusting()), oidc_claims()),
        ("no basic_users", no_basic, valid()),
    ];
    let bob = "Basic Ym9iOnNwdw==";
    for (what, config, claims) in configs {
        let c = parse(&config).unwrap();
        let with =
            |headers: &[(&'static str, &str)]| Request::new(headers, payload(claims.clone()));
        let alone = [("authorization", "Bearer a.b.c")];
        assert_eq!(
            local(&c, &with(&alone), None).map(|w| w.0),
            Ok("app-1".into()),
            "{what}"
        );
        // The same value twice is one credential.
        let same = [alone[0], alone[0]];
        assert!(local(&c, &with(&same), None).is_ok(), "{what}");
        let joined = format!("Bearer a.b.c,{bob}");
        for headers in [
            &[alone[0], ("authorization", bob)][..],
            &[("authorization", bob), alone[0]][..],
            &[("authorization", joined.as_str())][..],
            &[alone[0], ("authorization", "Token other")][..],
        ] {
            assert_eq!(
                local(&c, &with(headers), None),
                Err(LocalFailure::Failed),
                "{what}: {headers:?}"
            );
        }
    }
    // Through the worker: 403 with no backend call.
    let req = Request::new(
        &[("authorization", "Bearer a.b.c"), ("authorization", bob)],
        payload(oidc_claims()),
    );
    assert_eq!(
        through_worker(oidc_service(trusting()), &req, "/"),
        Err((403, Outcome::AuthFailed))
    );
}

#[test]
fn claim_check_reads_a_whole_number_claim_from_jwt_authn_as_apicast() {
    let mut config = service(trusting(), "local");
    config["services"][0]["proxy"]["policy_chain"] = json!([
        {"name": "jwt_claim_check", "configuration": {"rules": [
            {"resource": "/", "operations": [
                {"jwt_claim": "tier", "jwt_claim_type": "plain", "op": "!=", "value": "0"}]}]}},
        {"name": "apicast"}
    ]);
    let mut free = valid();
    free["tier"] = json!(0);
    let free = Request::new(&[], payload(free));
    // APIcast renders the number 0 as "0": the free tier is denied.
    assert_eq!(
        through_worker(config, &free, "/"),
        Err((403, Outcome::ClaimCheckDenied))
    );
}

/// A numeric client id reaches the backend as APIcast sends it: Envoy stores `azp: 5` as 5.0,
/// and the app_id is "5" (it was auth failed: found by an audit, 2026-12-06).
#[test]
fn a_numeric_client_id_from_jwt_authn_is_sent_as_an_integer_app_id() {
    let mut oidc = oidc_claims();
    oidc["azp"] = json!(5);
    let req = Request::new(&[("authorization", "Bearer x.y.z")], payload(oidc));
    let path = through_worker(oidc_service(trusting()), &req, "/").unwrap();
    assert!(
        path.contains("&app_id=5&") || path.ends_with("&app_id=5"),
        "{path}"
    );
}

/// An OIDC service with its own `jwt` block needs `issuer`, `from_jwt_authn` too: APIcast
/// always checks `iss`, and a shared key set signs other tenants' tokens.
#[test]
fn an_oidc_service_trusting_jwt_authn_needs_an_issuer() {
    let mut config = oidc_service(trusting());
    config["services"][0]["authentication"]["jwt"]
        .as_object_mut()
        .unwrap()
        .remove("issuer");
    let err = parse(&config).unwrap_err();
    assert_eq!(
        err,
        "services[0].authentication.jwt.issuer: required for an OIDC service"
    );
}

/// A liquid client id renders an array as APIcast's Liquid does, its elements joined; a plain
/// one takes its first element, as APIcast's `oidc.lua` (found by an audit, 2026-12-06).
#[test]
fn a_liquid_client_id_joins_an_array_and_a_plain_one_takes_its_first_element() {
    let mut oidc = oidc_claims();
    oidc["azp"] = json!(["web", "app"]);
    let req = Request::new(&[("authorization", "Bearer x.y.z")], payload(oidc));
    for (claim, kind, app_id) in [("{{ azp }}", "liquid", "webapp"), ("azp", "plain", "web")] {
        let mut config = oidc_service(trusting());
        config["services"][0]["proxy"]["jwt_claim_with_client_id"] = json!(claim);
        config["services"][0]["proxy"]["jwt_claim_with_client_id_type"] = json!(kind);
        let path = through_worker(config, &req, "/").unwrap();
        assert!(
            path.contains(&format!("&app_id={app_id}&")),
            "{kind}: {path}"
        );
    }
}

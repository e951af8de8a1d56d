//! Local authentication audit (signed URLs, Basic users, API keys with grants, public paths):
//! what a signed URL's signature covers against what an upstream reads, and configurations
//! accepted that no request can ever satisfy. Tests marked `FINDING` assert the correct
//! behaviour and fail on the module audited (s18a).

mod support;

use e2e::base64::basic_auth;
use e2e::jwt::now;
use e2e::Request;
use serde_json::{json, Value};
use support::*;
use tollgate_core::auth::basic::password_digest;
use tollgate_core::auth::digest::{stored_form, to_hex};
use tollgate_core::auth::signed_url;

const SECRET: &str = "url-signing-secret-0123456789";

fn signed_service() -> Value {
    local_service(
        json!({"mode": "local", "signed_urls": {"secret": SECRET}}),
        json!([{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]),
    )
}

fn req(method: &str, target: &str) -> Request {
    Request::new(method, target).header("Host", "local.example.com")
}

fn upstream(s: &Stack) -> Vec<String> {
    s.echo
        .requests()
        .iter()
        .map(|q| format!("{} {} body={:?}", q.method, q.path, q.body))
        .collect()
}

fn refused(s: &Stack, r: &e2e::Response, what: &str) {
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, "Authentication failed"),
        "{what}\nupstream received: {:?}",
        upstream(s)
    );
}

/// A signer that signs a target it was handed (a "share this link" endpoint, or `tollgate
/// sign-url --expires-in 60 '/files/report.pdf?...'` run on a URL a user supplied) appends its
/// own `expires`. When that target already carried an `expires`, both are signed, and
/// `signed_url::canonical` takes the expiry from the first `expires=` piece in *string* order:
/// `expires=10000000000` (year 2286), `expires=+9999999999` or `expires=09999999999` sort
/// before the signer's `expires=17...`, so the URL never expires although its signer gave it
/// 60 seconds (here: already past). README (Signed URLs): "Changing ... the expiry
/// invalidates it"; `expires` is "(Unix seconds)", one value. A URL with two `expires` should
/// be refused (and `sign` should refuse a target that already has one).
// FINDING: a signed URL whose target carried its own `expires` outlives its signer's expiry
#[test]
fn a_signed_url_expires_when_its_signer_said_even_if_its_target_carried_an_expires() {
    let s = Stack::start(config(vec![signed_service()]));
    // The signer's expiry is already past.
    let past = now() - 5;
    let control = signed_url::sign(SECRET.as_bytes(), "GET", "/files/report.pdf", past).unwrap();
    let r = req("GET", &control).send(s.port());
    refused(&s, &r, "control: an expired signed URL");

    let mut let_through = Vec::new();
    for smuggled in ["10000000000", "+9999999999", "09999999999"] {
        let target = format!("/files/report.pdf?expires={smuggled}");
        // Tollgate's signer (and `tollgate sign-url`) now refuses such a target; another
        // signer following the README's formula would not.
        assert_eq!(
            signed_url::sign(SECRET.as_bytes(), "GET", &target, past),
            None
        );
        let url = sign_as_the_readme_says(&target, past);
        let r = req("GET", &url).send(s.port());
        if r.status != 403 {
            let_through.push(format!("{url}: {} {}", r.status, r.body));
        }
    }
    assert!(
        let_through.is_empty(),
        "signed URLs past their signer's expiry were accepted: {let_through:#?}\nupstream received: {:?}",
        upstream(&s)
    );
    assert!(s.echo.requests().is_empty(), "{:?}", upstream(&s));
    assert!(s.backend.requests().is_empty());
}

/// The README's formula applied without refusing anything: hex(HMAC-SHA256(secret, METHOD \n
/// PATH \n SORTED-QUERY \n EXPIRES)), EXPIRES the first `expires=` piece in sort order.
fn sign_as_the_readme_says(target: &str, expires: u64) -> String {
    use hmac::{Hmac, Mac};
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = format!("{query}&expires={expires}");
    let mut pieces: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    pieces.sort();
    let first = pieces
        .iter()
        .find_map(|p| p.strip_prefix("expires="))
        .unwrap();
    let text = format!("GET\n{path}\n{}\n{first}", pieces.join("&"));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(text.as_bytes());
    let hex: String = (mac.finalize().into_bytes().iter())
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{path}?{query}&signature={hex}")
}

/// A signed `GET /reports?scope=mine` or `DELETE /files/7` with an
/// `application/x-www-form-urlencoded` body that *adds* an arg the signer never signed. Tollgate
/// reads that body (it refuses a body that redefines a signed arg, "on every method") but lets
/// new args through. Rack/Rails parse a form body on any method into `params` (Rack's
/// `form_data?` looks at the media type only), and Symfony/Laravel parse `DELETE` form bodies
/// into `$request->request`, which `input()` reads: the upstream serves `owner=all` /
/// `cascade=all` on a URL signed without them. The same arg added to the query is refused
/// ("Changing ... any arg invalidates it"); on methods whose body is not the signed request's
/// payload (GET, HEAD, DELETE, OPTIONS) a form body should be refused the same way.
// FINDING: a form body adds unsigned args to a signed GET or DELETE URL
#[test]
fn a_signed_get_or_delete_url_refuses_a_form_body_adding_unsigned_args() {
    let s = Stack::start(config(vec![signed_service()]));
    let get =
        signed_url::sign(SECRET.as_bytes(), "GET", "/reports?scope=mine", now() + 300).unwrap();
    let delete = signed_url::sign(SECRET.as_bytes(), "DELETE", "/files/7", now() + 300).unwrap();

    // Controls: as signed passes; the arg added to the query, or a body redefining a signed
    // arg, is refused.
    let r = req("GET", &get).send(s.port());
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.echo().path, get);
    let r = req("DELETE", &delete).send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let r = req("GET", &format!("{get}&owner=all")).send(s.port());
    refused(&s, &r, "control: an arg added to the query");
    let r = req("GET", &get).form(&[("scope", "all")]).send(s.port());
    refused(&s, &r, "control: a body redefining a signed arg");
    s.echo.clear();

    let get_body = req("GET", &get).form(&[("owner", "all")]).send(s.port());
    let delete_body = req("DELETE", &delete)
        .form(&[("cascade", "all")])
        .send(s.port());
    let outcomes = [
        ("GET + owner=all", get_body.status, get_body.body.clone()),
        (
            "DELETE + cascade=all",
            delete_body.status,
            delete_body.body.clone(),
        ),
    ];
    assert!(
        outcomes
            .iter()
            .all(|(_, status, body)| (*status, body.as_str()) == (403, "Authentication failed")),
        "a form body added unsigned args to a signed URL: {outcomes:#?}\nupstream received: {:?}",
        upstream(&s)
    );
    assert!(s.echo.requests().is_empty(), "{:?}", upstream(&s));
    assert!(s.backend.requests().is_empty());
}

/// RFC 7617: a Basic user-id cannot contain a colon; Tollgate (rightly) splits the decoded
/// credential at the first one. A `basic_users` entry `svc:reports` is loaded anyway and can
/// never authenticate (its credential reads as user `svc`): every request of that client is
/// refused, with nothing at load to say why. Entries that can never match are refused
/// elsewhere (`public_paths`, rule access fields, `jwt.audiences: []`); so should this one.
// FINDING: a Basic username with a colon is loaded and can never authenticate
#[test]
fn a_basic_username_holding_a_colon_is_refused_at_load() {
    let user = json!({"username": "svc:reports", "salt": "s1",
        "hash": format!("sha256:{}", to_hex(&password_digest("s1", "pw-0123456789")))});
    let auth = json!({"mode": "local", "basic_users": [user]});
    let cfg = config(vec![local_service(auth, json!([]))]).to_string();
    let started = e2e::Envoy::builder().filter_config(&cfg).start();
    let Ok(envoy) = started else {
        return;
    };
    // What loading it means: the user it names is refused whatever it sends.
    let r = req("GET", "/reports")
        .header("Authorization", &basic_auth("svc:reports", "pw-0123456789"))
        .send(envoy.port());
    panic!(
        "basic_users[0].username \"svc:reports\" was accepted; that user's correct credentials get {} {}",
        r.status, r.body
    );
}

/// Regression guard: a signed URL's `expires` and `signature` in any spelling a client could
/// try (sign, leading zeros, whitespace, negative, past u64, a second `expires` appended, the
/// signature percent-encoded or cut short) are refused; the hex case of the signature does
/// not matter. Nothing refused reaches the upstream.
#[test]
fn signed_url_expiry_and_signature_spellings_are_refused_when_altered() {
    let s = Stack::start(config(vec![signed_service()]));
    let expires = now() + 300;
    let url = signed_url::sign(SECRET.as_bytes(), "GET", "/files/r.csv?a=1", expires).unwrap();
    let (head, signature) = url.split_once("&signature=").unwrap();
    let upper = format!("{head}&signature={}", signature.to_uppercase());
    let r = req("GET", &upper).send(s.port());
    assert_eq!(r.status, 200, "upper-case hex: {r}");
    assert_eq!(r.echo().path, upper, "forwarded as sent");
    s.echo.clear();

    let e = format!("expires={expires}");
    let altered = [
        url.replace(&e, &format!("expires=+{expires}")),
        url.replace(&e, &format!("expires=0{expires}")),
        url.replace(&e, &format!("expires=%20{expires}")),
        url.replace(&e, &format!("expires={expires}%20")),
        url.replace(&e, "expires=-1"),
        url.replace(&e, "expires=99999999999999999999999"),
        format!("{url}&expires={}", expires + 86400),
        format!("{url}&expires=0"),
        format!("{head}&signature={}", &signature[..signature.len() - 2]),
        format!("{head}&signature={}%30", &signature[..signature.len() - 1]),
        format!("{head}&signature=%{}", signature),
        format!("{head}&Signature={signature}"),
    ];
    let mut passed = Vec::new();
    for bad in &altered {
        let r = req("GET", bad).send(s.port());
        // 403 for an altered credential, 401 where no `signature` is left (`Signature=`).
        if !matches!(r.status, 401 | 403) {
            passed.push(format!("{bad}: {}", r.status));
        }
    }
    assert!(passed.is_empty(), "altered URLs accepted: {passed:#?}");
    assert!(s.echo.requests().is_empty(), "{:?}", upstream(&s));
}

/// Regression guard: an API key hash in a form Tollgate would compare against nothing is
/// refused at load (`SHA256:` prefix, a wrong length); upper-case hex is the same digest and
/// authenticates.
#[test]
fn api_key_hashes_in_upper_case_hex_authenticate_and_malformed_ones_are_refused() {
    const KEY: &str = "ak_7d1e4b9c2a5f8e3d6c0b1a2f3e4d5c6b";
    let keys = |hash: String| {
        json!({"mode": "local", "api_keys": {"header": "APIKey",
            "keys": [{"id": "k", "hash": hash, "grants": [{"namespace": "reports", "actions": ["read"]}]}]}})
    };
    let rules = json!([{"http_method": "GET", "pattern": "/reports", "metric_system_name": "hits",
        "delta": 1, "namespace": "reports"}]);
    let upper = format!(
        "sha256:{}",
        stored_form(KEY)["sha256:".len()..].to_uppercase()
    );
    let s = Stack::start(config(vec![local_service(keys(upper), rules.clone())]));
    let r = req("GET", "/reports").header("APIKey", KEY).send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let r = req("DELETE", "/reports")
        .header("APIKey", KEY)
        .send(s.port());
    assert_eq!(r.status, 404, "no DELETE rule: {r}");
    assert_eq!(s.echo.requests().len(), 1);
    drop(s);

    for bad in [
        stored_form(KEY).replace("sha256:", "SHA256:"),
        stored_form(KEY)[..70].to_string(),
        format!("{}0", stored_form(KEY)),
        stored_form(KEY).replace("sha256:", "sha512:"),
    ] {
        let cfg = config(vec![local_service(keys(bad.clone()), rules.clone())]).to_string();
        let log = e2e::Envoy::builder()
            .filter_config(&cfg)
            .start_expect_failure()
            .unwrap_or_else(|_| panic!("hash {bad:?} was accepted"));
        assert!(log.contains("keys[0].hash"), "{bad}: {log}");
    }
}

//! Tollgate's own JWT verification (`authentication.jwt` with keys; not Envoy's `jwt_authn`)
//! through real Envoy: NumericDates of every JSON shape and the leeway's edges, `aud`/`iss`
//! shapes, encodings of the three parts, signatures of the wrong size or form, key selection,
//! the verified-token cache (expiry, services with other rules), a token given twice, and the
//! claims used as roles and as the 3scale client id. Each case checks the answer, what the
//! upstream received and what the backend received.

mod support;

use e2e::jwt::{b64url, now, Signer};
use e2e::mock_backend::{App, Service, State};
use e2e::{Request, Response};
use serde_json::{json, Value};
use support::*;

const ISSUER: &str = "https://idp.example.com/realms/demo";
const HOST: &str = "jwt.example.com";

fn hs() -> Signer {
    Signer::hs256(b"0123456789abcdef0123456789abcdef-own", "hs-1")
}

/// A token with exactly these header and payload texts (duplicate names, odd number
/// spellings), signed by `signer`.
fn raw(signer: &Signer, header: &str, payload: &str) -> String {
    let input = format!(
        "{}.{}",
        b64url(header.as_bytes()),
        b64url(payload.as_bytes())
    );
    format!("{input}.{}", b64url(&signer.sign(input.as_bytes())))
}

/// A local JWT service on `HOST`: GET /orders open to any valid token, DELETE /orders needs
/// the role `admin` (claim `roles`).
fn local_service(id: u64, host: &str, jwt: Value) -> Value {
    json!({
        "id": id,
        "authentication": {"mode": "local", "jwt": jwt},
        "proxy": {"hosts": [host], "proxy_rules": [
            {"http_method": "GET", "pattern": "/orders", "metric_system_name": "hits", "delta": 1},
            {"http_method": "DELETE", "pattern": "/orders", "metric_system_name": "hits", "delta": 1, "roles": ["admin"]}
        ]}
    })
}

fn jwt_block(signers: &[&Signer]) -> Value {
    json!({
        "jwks": Signer::jwks(signers),
        "issuer": ISSUER, "audiences": ["orders-api"], "leeway_s": 5,
        "max_failed_verifications_per_s": 1000
    })
}

fn base_claims() -> Value {
    json!({"iss": ISSUER, "aud": "orders-api", "sub": "user-1", "azp": "client-1",
        "exp": now() + 300})
}

fn with(claims: &[(&str, Value)]) -> Value {
    let mut all = base_claims();
    for (k, v) in claims {
        all[*k] = v.clone();
    }
    all
}

fn without(claim: &str) -> Value {
    let mut all = base_claims();
    all.as_object_mut().unwrap().remove(claim);
    all
}

fn call_on(port: u16, host: &str, method: &str, token: Option<&str>) -> Response {
    let mut r = Request::new(method, "/orders/1").header("Host", host);
    if let Some(t) = token {
        r = r.header("Authorization", &format!("Bearer {t}"));
    }
    r.send(port)
}

/// Sends each token; returns a line for each whose status is not the expected one, or that
/// reached (or did not reach) the upstream accordingly. The backend must stay untouched.
fn mismatches(s: &Stack, method: &str, cases: &[(&str, String, u16)]) -> Vec<String> {
    let mut out = Vec::new();
    for (what, token, status) in cases {
        let before = s.echo.request_count();
        let r = call_on(s.port(), HOST, method, Some(token));
        let forwarded = s.echo.request_count() - before;
        let expected_forwarded = usize::from(*status == 200);
        if r.status != *status || forwarded != expected_forwarded {
            let body: String = r.body.chars().take(60).collect();
            out.push(format!(
                "{what}: {} {body:?} (expected {status}), forwarded {forwarded}",
                r.status
            ));
        }
        if r.status == 403 && r.body != "Authentication failed" {
            out.push(format!("{what}: body {:?}", r.body));
        }
    }
    assert!(
        s.backend.requests().is_empty(),
        "a local service calls no backend"
    );
    out
}

/// `exp`/`nbf`/`iat` in every JSON shape: a number (integer, fraction, exponent, negative,
/// beyond u64) is a NumericDate, anything else refuses the token; `null` is no claim
/// (`exp` required), and the leeway counts on both sides.
#[test]
fn held_numeric_dates_of_every_json_shape_and_the_leeway() {
    let k = hs();
    let s = Stack::start(config(vec![local_service(30, HOST, jwt_block(&[&k]))]));
    let t = now() as i64;
    let tok = |v: Value| k.token(&v);
    let rawp = |payload: String| raw(&k, r#"{"alg":"HS256","kid":"hs-1"}"#, &payload);
    let head = format!(r#""iss":"{ISSUER}","aud":"orders-api","sub":"u","azp":"c""#);
    let cases: Vec<(&str, String, u16)> = vec![
        (
            "exp as a fraction",
            tok(with(&[("exp", json!(t as f64 + 60.5))])),
            200,
        ),
        (
            "exp with an exponent",
            rawp(format!(r#"{{{head},"exp":1e10}}"#)),
            200,
        ),
        (
            "exp 2^64 (beyond u64)",
            rawp(format!(r#"{{{head},"exp":18446744073709551616}}"#)),
            200,
        ),
        ("exp negative", tok(with(&[("exp", json!(-1))])), 403),
        ("exp -1e30", rawp(format!(r#"{{{head},"exp":-1e30}}"#)), 403),
        ("exp 0", tok(with(&[("exp", json!(0))])), 403),
        (
            "exp as a string",
            tok(with(&[("exp", json!((t + 300).to_string()))])),
            403,
        ),
        ("exp null", tok(with(&[("exp", Value::Null)])), 403),
        ("exp true", tok(with(&[("exp", json!(true))])), 403),
        (
            "exp in an array",
            tok(with(&[("exp", json!([t + 300]))])),
            403,
        ),
        (
            "exp as an object",
            tok(with(&[("exp", json!({"v": t + 300}))])),
            403,
        ),
        ("no exp", tok(without("exp")), 403),
        (
            "exp past, within the leeway",
            tok(with(&[("exp", json!(t - 2))])),
            200,
        ),
        (
            "exp past, beyond the leeway",
            tok(with(&[("exp", json!(t - 8))])),
            403,
        ),
        (
            "exp past by a fraction beyond the leeway",
            tok(with(&[("exp", json!(t as f64 - 7.9))])),
            403,
        ),
        (
            "nbf future, within the leeway",
            tok(with(&[("nbf", json!(t + 2))])),
            200,
        ),
        (
            "nbf future, beyond the leeway",
            tok(with(&[("nbf", json!(t + 9))])),
            403,
        ),
        (
            "nbf as a fraction in the future",
            tok(with(&[("nbf", json!(t as f64 + 30.5))])),
            403,
        ),
        (
            "nbf 1e30",
            rawp(format!(r#"{{{head},"exp":{},"nbf":1e30}}"#, t + 300)),
            403,
        ),
        ("nbf negative", tok(with(&[("nbf", json!(-5))])), 200),
        ("nbf as a string", tok(with(&[("nbf", json!("0"))])), 403),
        ("nbf false", tok(with(&[("nbf", json!(false))])), 403),
        ("nbf null", tok(with(&[("nbf", Value::Null)])), 200),
        // Not an OIDC service: iat is not read.
        (
            "iat as a string (local)",
            tok(with(&[("iat", json!("soon"))])),
            200,
        ),
    ];
    let bad = mismatches(&s, "GET", &cases);
    assert!(bad.is_empty(), "{bad:#?}");
}

/// `aud` and `iss` shapes: `aud` an array with other types beside the audience is accepted
/// (it contains it); an empty array, another case, a nested array, an object or a number is
/// not; `iss` is compared exactly (trailing slash, case, array).
#[test]
fn held_audience_and_issuer_shapes() {
    let k = hs();
    let s = Stack::start(config(vec![local_service(31, HOST, jwt_block(&[&k]))]));
    let tok = |c: &[(&str, Value)]| k.token(&with(c));
    let cases: Vec<(&str, String, u16)> = vec![
        (
            "aud array with non-strings",
            tok(&[("aud", json!([1, null, {"a": 1}, "orders-api"]))]),
            200,
        ),
        ("aud empty array", tok(&[("aud", json!([]))]), 403),
        ("aud other case", tok(&[("aud", json!("Orders-API"))]), 403),
        (
            "aud nested array",
            tok(&[("aud", json!([["orders-api"]]))]),
            403,
        ),
        (
            "aud object",
            tok(&[("aud", json!({"orders-api": true}))]),
            403,
        ),
        ("aud number", tok(&[("aud", json!(1))]), 403),
        (
            "aud with a space",
            tok(&[("aud", json!("orders-api "))]),
            403,
        ),
        ("no aud", k.token(&without("aud")), 403),
        (
            "iss trailing slash",
            tok(&[("iss", json!(format!("{ISSUER}/")))]),
            403,
        ),
        (
            "iss other case",
            tok(&[("iss", json!(ISSUER.to_uppercase()))]),
            403,
        ),
        ("iss in an array", tok(&[("iss", json!([ISSUER]))]), 403),
        ("no iss", k.token(&without("iss")), 403),
    ];
    let bad = mismatches(&s, "GET", &cases);
    assert!(bad.is_empty(), "{bad:#?}");
}

fn replace_part(token: &str, index: usize, part: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[index] = part;
    parts.join(".")
}

/// The compact serialization's shapes: exactly three unpadded base64url parts, canonical
/// last characters, a JSON-object header with a supported `alg` spelled exactly; `crit`
/// refused; keys a header points at (`jwk`, `jku`) never trusted; oversize and deeply
/// nested tokens refused without a trap.
#[test]
fn held_token_encodings_and_header_shapes() {
    let k = hs();
    let rs = Signer::rs256("rs-1");
    let s = Stack::start(config(vec![local_service(32, HOST, jwt_block(&[&k, &rs]))]));
    let good = k.token(&base_claims());
    let parts: Vec<String> = good.split('.').map(str::to_string).collect();
    let sig = &parts[2];
    // The HMAC is 32 bytes: 43 characters whose last carries 2 unused bits.
    let last = sig.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let v = alphabet.find(last).unwrap();
    let noncanonical = format!(
        "{}{}",
        &sig[..sig.len() - 1],
        alphabet.chars().nth(v | 1).unwrap()
    );
    assert_ne!(&noncanonical, sig, "the last character has a free bit");
    let std_sig = sig.replace('-', "+").replace('_', "/");
    let hdr = |h: &str| raw(&k, h, &base_claims().to_string());
    let attacker = Signer::rs256("rs-1");
    let embedded = attacker.token_with_header(
        &json!({"alg": "RS256", "jwk": attacker.jwk(), "jku": "https://evil.example/jwks"}),
        &base_claims(),
    );
    let embedded_kid = attacker.token_with_header(
        &json!({"alg": "RS256", "kid": "rs-1", "jwk": attacker.jwk()}),
        &base_claims(),
    );
    let mut big = base_claims();
    big["pad"] = json!("x".repeat(17 * 1024));
    let mut nested = String::from("1");
    for _ in 0..300 {
        nested = format!("[{nested}]");
    }
    let deep = raw(
        &k,
        r#"{"alg":"HS256","kid":"hs-1"}"#,
        &format!(
            r#"{{"iss":"{ISSUER}","aud":"orders-api","exp":{},"deep":{nested}}}"#,
            now() + 300
        ),
    );
    let cases: Vec<(&str, String, u16)> = vec![
        ("control: the token", good.clone(), 200),
        ("padded signature", format!("{good}="), 403),
        (
            "padded payload",
            replace_part(&good, 1, &format!("{}=", parts[1])),
            403,
        ),
        (
            "standard alphabet (+ /)",
            replace_part(&good, 2, &std_sig),
            if std_sig == *sig { 200 } else { 403 },
        ),
        (
            "non-canonical last character",
            replace_part(&good, 2, &noncanonical),
            403,
        ),
        ("trailing dot", format!("{good}."), 403),
        ("two parts", format!("{}.{}", parts[0], parts[1]), 403),
        ("four parts", format!("{good}.{sig}"), 403),
        (
            "empty signature",
            format!("{}.{}.", parts[0], parts[1]),
            403,
        ),
        ("empty header", format!(".{}.{}", parts[1], parts[2]), 403),
        ("empty payload", format!("{}..{}", parts[0], parts[2]), 403),
        (
            "space inside",
            format!("{} {}", &good[..10], &good[10..]),
            403,
        ),
        (
            "alg lower case",
            hdr(r#"{"alg":"hs256","kid":"hs-1"}"#),
            403,
        ),
        (
            "alg with a space",
            hdr(r#"{"alg":"HS256 ","kid":"hs-1"}"#),
            403,
        ),
        (
            "alg in an array",
            hdr(r#"{"alg":["HS256"],"kid":"hs-1"}"#),
            403,
        ),
        ("kid a number", hdr(r#"{"alg":"HS256","kid":1}"#), 403),
        (
            "crit",
            hdr(r#"{"alg":"HS256","kid":"hs-1","crit":["exp"]}"#),
            403,
        ),
        ("header an array", hdr(r#"["HS256"]"#), 403),
        (
            "typ and cty are not read",
            hdr(r#"{"alg":"HS256","kid":"hs-1","typ":"at+jwt","cty":"JWT"}"#),
            200,
        ),
        // Duplicate header names: the last wins (RFC 7515 §4), and the whole is signed.
        (
            "alg none then HS256",
            hdr(r#"{"alg":"none","alg":"HS256","kid":"hs-1"}"#),
            200,
        ),
        (
            "alg HS256 then none",
            hdr(r#"{"alg":"HS256","kid":"hs-1","alg":"none"}"#),
            403,
        ),
        (
            "kid unknown then known",
            hdr(r#"{"alg":"HS256","kid":"zz","kid":"hs-1"}"#),
            200,
        ),
        ("embedded jwk/jku, no kid", embedded, 403),
        ("embedded jwk under a known kid", embedded_kid, 403),
        ("over 16 KB", k.token(&big), 403),
        ("nested 300 deep", deep, 403),
    ];
    let bad = mismatches(&s, "GET", &cases);
    assert!(bad.is_empty(), "{bad:#?}");
    assert!(
        s.envoy.log().matches("panicked").count() == 0,
        "a trap: {}",
        s.envoy.log()
    );
}

/// P-256 group order, big-endian.
const P256_N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
/// Ed25519 group order L, little-endian.
const ED_L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn b64url_decode(s: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = alphabet.iter().position(|&a| a == c).unwrap() as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

/// Signatures of the wrong length or form: ES256 as DER, with r or s zero or equal to n,
/// r||s swapped; RS256 one byte short, the modulus itself, 0, 1, all ones; a truncated HMAC;
/// an EdDSA signature with S + L. All 403, nothing forwarded.
#[test]
fn held_signatures_of_the_wrong_length_or_form() {
    let (k, rs, es, ed) = (
        hs(),
        Signer::rs256("rs-1"),
        Signer::es256("es-1"),
        Signer::ed25519("ed-1"),
    );
    let s = Stack::start(config(vec![local_service(
        33,
        HOST,
        jwt_block(&[&k, &rs, &es, &ed]),
    )]));
    let claims = base_claims();
    let with_sig = |signer: &Signer, sig: &[u8]| {
        let t = signer.token(&claims);
        replace_part(&t, 2, &b64url(sig))
    };
    let es_token = es.token(&claims);
    let es_sig = b64url_decode(es_token.split('.').nth(2).unwrap());
    assert_eq!(es_sig.len(), 64);
    let (r, sv) = (es_sig[..32].to_vec(), es_sig[32..].to_vec());
    let n = hex(P256_N);
    let der = p256::ecdsa::Signature::from_slice(&es_sig)
        .unwrap()
        .to_der();
    let cat = |a: &[u8], b: &[u8]| [a, b].concat();
    let zero = [0u8; 32];
    let rs_token = rs.token(&claims);
    let rs_sig = b64url_decode(rs_token.split('.').nth(2).unwrap());
    let modulus = b64url_decode(rs.jwk()["n"].as_str().unwrap());
    let klen = rs_sig.len();
    let mut one = vec![0u8; klen];
    one[klen - 1] = 1;
    let ed_token = ed.token(&claims);
    let ed_sig = b64url_decode(ed_token.split('.').nth(2).unwrap());
    let mut ed_plus_l = ed_sig.clone();
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(ed_plus_l[32 + i]) + u16::from(ED_L[i]) + carry;
        ed_plus_l[32 + i] = v as u8;
        carry = v >> 8;
    }
    let hs_sig = b64url_decode(k.token(&claims).split('.').nth(2).unwrap());
    let cases: Vec<(&str, String, u16)> = vec![
        ("control ES256", es_token.clone(), 200),
        ("control RS256", rs_token.clone(), 200),
        ("control EdDSA", ed_token.clone(), 200),
        ("ES256 as DER", with_sig(&es, der.as_bytes()), 403),
        ("ES256 r = 0", with_sig(&es, &cat(&zero, &sv)), 403),
        ("ES256 s = 0", with_sig(&es, &cat(&r, &zero)), 403),
        ("ES256 r = n", with_sig(&es, &cat(&n, &sv)), 403),
        ("ES256 s = n", with_sig(&es, &cat(&r, &n)), 403),
        ("ES256 s || r", with_sig(&es, &cat(&sv, &r)), 403),
        ("ES256 63 bytes", with_sig(&es, &es_sig[..63]), 403),
        ("RS256 one byte short", with_sig(&rs, &rs_sig[1..]), 403),
        (
            "RS256 with a leading zero byte more",
            with_sig(&rs, &cat(&[0], &rs_sig)),
            403,
        ),
        ("RS256 = the modulus", with_sig(&rs, &modulus), 403),
        ("RS256 0", with_sig(&rs, &vec![0u8; klen]), 403),
        ("RS256 1", with_sig(&rs, &one), 403),
        ("RS256 all ones", with_sig(&rs, &vec![0xff; klen]), 403),
        (
            "HS256 truncated to 16 bytes",
            with_sig(&k, &hs_sig[..16]),
            403,
        ),
        ("HS256 empty", with_sig(&k, &[]), 403),
        ("EdDSA S + L", with_sig(&ed, &ed_plus_l), 403),
        ("EdDSA all zero", with_sig(&ed, &[0u8; 64]), 403),
    ];
    let bad = mismatches(&s, "GET", &cases);
    assert!(bad.is_empty(), "{bad:#?}");
}

/// Key selection: two keys under one `kid` (rotation) both verify; a token without `kid`
/// tries every key of its algorithm; a JWKS of one key without `kid` takes any `kid`; a
/// `kid` of one key type with another's `alg` is refused.
#[test]
fn held_key_selection_with_duplicate_and_missing_kids() {
    let old = Signer::es256("shared");
    let new = Signer::es256("shared");
    let other = Signer::ed25519("ed-1");
    let lone = Signer::rs256("ignored");
    let mut lone_jwk = lone.jwk();
    lone_jwk.as_object_mut().unwrap().remove("kid");
    let mut block = jwt_block(&[&old, &new, &other]);
    let mut block_lone = jwt_block(&[]);
    block_lone["jwks"] = json!({"keys": [lone_jwk]});
    block["issuer"] = json!(ISSUER);
    let svc_a = local_service(34, HOST, block);
    let svc_b = local_service(35, "lone.example.com", block_lone);
    let s = Stack::start(config(vec![svc_a, svc_b]));
    let c = base_claims();
    let no_kid = |signer: &Signer| signer.token_with_header(&json!({"alg": signer.alg()}), &c);
    let cases: Vec<(&str, String, u16)> = vec![
        ("old key of a shared kid", old.token(&c), 200),
        ("new key of a shared kid", new.token(&c), 200),
        ("no kid, ES256", no_kid(&new), 200),
        ("no kid, EdDSA", no_kid(&other), 200),
        ("no kid, a stranger's key", no_kid(&Signer::es256("x")), 403),
        (
            "EdDSA alg under the ES256 kid",
            other.token_with_header(&json!({"alg": "EdDSA", "kid": "shared"}), &c),
            403,
        ),
        (
            "ES256 alg under the EdDSA kid",
            new.token_with_header(&json!({"alg": "ES256", "kid": "ed-1"}), &c),
            403,
        ),
    ];
    let bad = mismatches(&s, "GET", &cases);
    assert!(bad.is_empty(), "{bad:#?}");
    // The JWKS of one key without kid: any kid selects it.
    for (what, token, status) in [
        ("any kid", lone.token(&c), 200),
        ("no kid", no_kid(&lone), 200),
        ("another RSA key", Signer::rs256("ignored").token(&c), 403),
    ] {
        let r = call_on(s.port(), "lone.example.com", "GET", Some(&token));
        assert_eq!(r.status, status, "{what}: {r}");
    }
}

/// The verified-token cache: a cached token's `exp` still applies (leeway 0), and a token
/// verified (and cached) by one service is checked again by another service with the same
/// keys and another issuer or audience.
#[test]
fn held_cached_tokens_expire_and_stay_per_service() {
    let k = hs();
    let mut strict = jwt_block(&[&k]);
    strict["leeway_s"] = json!(0);
    strict["audiences"] = json!(["billing-api"]);
    let mut other_iss = jwt_block(&[&k]);
    other_iss["issuer"] = json!("https://other-idp.example.com");
    let s = Stack::start(config(vec![
        local_service(36, HOST, jwt_block(&[&k])),
        local_service(37, "billing.example.com", strict),
        local_service(38, "other.example.com", other_iss),
    ]));
    let port = s.port();
    let orders = k.token(&base_claims());
    for _ in 0..3 {
        assert_eq!(call_on(port, HOST, "GET", Some(&orders)).status, 200);
    }
    assert_eq!(
        call_on(port, "billing.example.com", "GET", Some(&orders)).status,
        403,
        "cached by the orders service, another audience here"
    );
    assert_eq!(
        call_on(port, "other.example.com", "GET", Some(&orders)).status,
        403,
        "cached by the orders service, another issuer here"
    );
    // Valid for both audiences: accepted by both, and its exp (2 s away) still applies once
    // cached.
    let exp = now() + 2;
    let both = k.token(&with(&[
        ("aud", json!(["orders-api", "billing-api"])),
        ("exp", json!(exp)),
    ]));
    for host in [HOST, "billing.example.com", "billing.example.com"] {
        let r = call_on(port, host, "GET", Some(&both));
        assert_eq!(r.status, 200, "{host}: {r}");
    }
    while now() < exp + 1 {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let before = s.echo.request_count();
    let r = call_on(port, "billing.example.com", "GET", Some(&both));
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, "Authentication failed"),
        "expired while cached"
    );
    // The orders service has a leeway of 5 s: still within it.
    assert_eq!(call_on(port, HOST, "GET", Some(&both)).status, 200);
    assert_eq!(s.echo.request_count(), before + 1);
    assert!(s.backend.requests().is_empty());
}

/// The token given twice or oddly: the same token as `?access_token=` passes, another one
/// (valid) is refused, as is a second `Authorization` header even with the same token, or
/// two joined; `Bearer` with two spaces or a tab before the token is read as the token; a
/// scheme glued to the token is no credential (401). The upstream gets the header as sent.
#[test]
fn held_a_token_given_twice_or_spelled_oddly() {
    let k = hs();
    let s = Stack::start(config(vec![local_service(39, HOST, jwt_block(&[&k]))]));
    let port = s.port();
    let a = k.token(&base_claims());
    let b = k.token(&with(&[("sub", json!("user-2"))]));
    let send = |target: &str, auths: &[&str]| {
        let mut r = Request::get(target).header("Host", HOST);
        for v in auths {
            r = r.header("Authorization", v);
        }
        r.send(port)
    };
    let bearer_a = format!("Bearer {a}");
    let r = send(&format!("/orders?access_token={a}"), &[&bearer_a]);
    assert_eq!(r.status, 200, "{r}");
    let r = send(&format!("/orders?access_token={b}"), &[&bearer_a]);
    assert_eq!(r.status, 403, "another valid token in the query: {r}");
    let r = send("/orders", &[&bearer_a, &bearer_a]);
    assert_eq!(r.status, 403, "two Authorization headers: {r}");
    let r = send("/orders", &[&format!("Bearer {a}, Bearer {b}")]);
    assert_eq!(r.status, 403, "joined: {r}");
    for spelled in [
        format!("Bearer  {a}"),
        format!("Bearer\t{a}"),
        format!("bearer {a}"),
    ] {
        let before = s.echo.request_count();
        let r = send("/orders", &[&spelled]);
        assert_eq!(r.status, 200, "{spelled:?}: {r}");
        assert_eq!(s.echo.request_count(), before + 1);
        assert_eq!(r.echo().header("authorization"), Some(spelled.as_str()));
    }
    let r = send("/orders", &[&format!("Bearer{a}")]);
    assert_eq!(r.status, 401, "no space: {r}");
    assert_eq!(s.echo.request_count(), 4);
    assert!(s.backend.requests().is_empty());
}

/// The roles claim in every JSON shape (rule DELETE /orders needs `admin`): an array of
/// strings, or a string of space-separated words (OAuth `scope`); roles compared exactly; a
/// nested array, an object or numbers give no role; a duplicated claim name is its last
/// value (RFC 7519 §4).
#[test]
fn held_roles_claim_shapes() {
    let k = hs();
    let s = Stack::start(config(vec![local_service(40, HOST, jwt_block(&[&k]))]));
    let tok = |roles: Value| k.token(&with(&[("roles", roles)]));
    let dup = |first: &str, last: &str| {
        raw(
            &k,
            r#"{"alg":"HS256","kid":"hs-1"}"#,
            &format!(
                r#"{{"iss":"{ISSUER}","aud":"orders-api","sub":"u","exp":{},"roles":{first},"roles":{last}}}"#,
                now() + 300
            ),
        )
    };
    let cases: Vec<(&str, String, u16)> = vec![
        ("array", tok(json!(["reader", "admin"])), 200),
        ("string", tok(json!("admin")), 200),
        ("space-separated string", tok(json!("reader admin")), 200),
        ("other case", tok(json!(["Admin"])), 403),
        ("with a space", tok(json!(["admin "])), 403),
        ("nested array", tok(json!([["admin"]])), 403),
        ("object", tok(json!({"admin": true})), 403),
        ("numbers", tok(json!([1, 2])), 403),
        ("missing", k.token(&base_claims()), 403),
        (
            "duplicated, admin last",
            dup(r#"["reader"]"#, r#"["admin"]"#),
            200,
        ),
        (
            "duplicated, admin first",
            dup(r#"["admin"]"#, r#"["reader"]"#),
            403,
        ),
    ];
    let bad = mismatches(&s, "DELETE", &cases);
    assert!(bad.is_empty(), "{bad:#?}");
}

/// A role name holding a non-ASCII space (U+00A0, U+3000, U+2028): README, `jwt.roles_claim`:
/// "a space-separated string such as `scope` counts as a list" (RFC 6749 §3.3: scope tokens
/// are split on %x20 only). `Claims::strings_at` splits with `split_whitespace` (Unicode
/// White_Space), so a role or scope named `billing<NBSP>admin` grants `admin`.
// FINDING: a roles string is split on Unicode whitespace, so "billing\u{a0}admin" grants the role admin
#[test]
fn a_role_string_splits_on_ascii_spaces_only() {
    let k = hs();
    let s = Stack::start(config(vec![local_service(41, HOST, jwt_block(&[&k]))]));
    let tok = |roles: Value| k.token(&with(&[("roles", roles)]));
    let cases: Vec<(&str, String, u16)> = vec![
        ("control", tok(json!("reader admin")), 200),
        ("no-break space", tok(json!("billing\u{a0}admin")), 403),
        ("ideographic space", tok(json!("billing\u{3000}admin")), 403),
        ("line separator", tok(json!("billing\u{2028}admin")), 403),
    ];
    let bad = mismatches(&s, "DELETE", &cases);
    assert!(bad.is_empty(), "{bad:#?}");
}

/// OIDC with 3scale: the verified token's client id (`client-1`) is authorized and reported,
/// and an `app_id`/`app_key` of another application in the query (or an `app_id` header)
/// rides along to the upstream unchecked. README, Security: "A credential sent twice with
/// different values is refused (auth failed): the upstream cannot read another key or app id
/// than the one authorized"; "One credential per request". The same app id as the token's
/// passes.
// FINDING: on an OIDC service another app_id/app_key beside a verified token reaches the upstream
#[test]
fn oidc_another_app_id_beside_the_verified_token_is_auth_failed() {
    let k = hs();
    let state = State::new()
        .service(
            Service::new("5")
                .token(TOKEN)
                .backend_version("oauth")
                .metric("hits", None),
        )
        .app(App::new("5", "client-1").plan("OIDC"))
        .app(App::new("5", "client-2").app_keys(&["key-2"]).plan("OIDC"));
    let mut block = jwt_block(&[&k]);
    block
        .as_object_mut()
        .unwrap()
        .remove("max_failed_verifications_per_s");
    let svc = json!({
        "id": 5, "backend_version": "oauth",
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "authentication": {"jwt": block},
        "proxy": {"hosts": [HOST], "authentication_method": "oidc",
            "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    });
    let s = Stack::start_with(config(vec![svc]), state, |b| b);
    let t = k.token(&base_claims());
    let send = |target: &str, app_id_header: Option<&str>| {
        let mut r = Request::get(target)
            .header("Host", HOST)
            .header("Authorization", &format!("Bearer {t}"));
        if let Some(v) = app_id_header {
            r = r.header("app_id", v);
        }
        r.send(s.port())
    };
    // Control: the token alone, and with its own client id repeated.
    for target in ["/orders", "/orders?app_id=client-1"] {
        let r = send(target, None);
        assert_eq!(r.status, 200, "{target}: {r}");
        assert_eq!(r.echo().path, target);
    }
    let calls = s.backend.requests();
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|c| c.param("app_id") == Some("client-1")));
    let mut leaked = Vec::new();
    // The service reads credentials in the query (`credentials_location`): an `app_id`
    // header is no credential to it, with or without a token, as in 3scale mode.
    for (target, header) in [
        ("/orders?app_id=client-2&app_key=key-2", None),
        ("/orders?app_id=client-2", None),
        ("/orders?app_id=client-1&app_id=client-2", None),
    ] {
        let before = s.echo.request_count();
        let r = send(target, header);
        if r.status != 403 || s.echo.request_count() != before {
            let seen = s
                .echo
                .last_request()
                .map(|e| (e.header("app_id").map(str::to_string), e.path));
            let authorized = s
                .backend
                .requests()
                .last()
                .and_then(|c| c.param("app_id").map(str::to_string));
            leaked.push(format!(
                "{target} (app_id header {header:?}): {}; authorized {authorized:?}, upstream got {seen:?}",
                r.status
            ));
        }
    }
    assert!(
        leaked.is_empty(),
        "another app id reached the upstream: {leaked:#?}"
    );
    assert_eq!(
        s.backend.requests().len(),
        2,
        "no authrep for the refused requests"
    );
}

/// `local+3scale` with a JWT on a version 1 service: the token's client id is the `user_key`
/// authorized; another `user_key` in the query rides along to the upstream (same README
/// promise as above).
// FINDING: on a local+3scale JWT service another user_key beside a verified token reaches the upstream
#[test]
fn local_then_3scale_another_user_key_beside_the_verified_token_is_auth_failed() {
    let k = hs();
    let state = State::new()
        .service(
            Service::new("7")
                .token(TOKEN)
                .backend_version("1")
                .metric("hits", None),
        )
        .app(
            App::new("7", "app-client")
                .user_key("client-1")
                .plan("Basic"),
        )
        .app(
            App::new("7", "app-premium")
                .user_key("uk-premium")
                .plan("Premium"),
        );
    let svc = json!({
        "id": 7, "backend_version": 1,
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "authentication": {"mode": "local+3scale", "jwt": jwt_block(&[&k])},
        "proxy": {"hosts": [HOST],
            "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    });
    let s = Stack::start_with(config(vec![svc]), state, |b| b);
    let t = k.token(&base_claims());
    let send = |target: &str| {
        Request::get(target)
            .header("Host", HOST)
            .header("Authorization", &format!("Bearer {t}"))
            .send(s.port())
    };
    let ok = send("/orders");
    assert_eq!(ok.status, 200, "{ok}");
    assert_eq!(s.backend.requests()[0].param("user_key"), Some("client-1"));
    let r = send("/orders?user_key=uk-premium");
    let calls = s.backend.requests();
    assert!(
        r.status == 403 && s.echo.request_count() == 1,
        "another user_key reached the upstream: {} (upstream got {:?}; authorized user_key {:?})",
        r.status,
        s.echo.last_request().map(|e| e.path),
        calls
            .last()
            .and_then(|c| c.param("user_key").map(str::to_string))
    );
    assert_eq!(calls.len(), 1, "no authrep for the refused request");
}

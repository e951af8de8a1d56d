//! Registered claims (exp, nbf, iss, aud) against the rules, claim values of odd types,
//! and reading roles and the client id from the claims.

use super::*;

#[test]
fn expiry_with_and_without_leeway() {
    let expired = token("HS256", "h1", &with(json!({"exp": NOW - 30})));
    assert_eq!(check(&expired), Err(JwtError::Expired));
    let lenient = JwtRules {
        leeway_s: 60,
        ..rules()
    };
    assert!(verify(&expired, &all_keys(), &lenient, NOW).is_ok());
    let tight = JwtRules {
        leeway_s: 30,
        ..rules()
    };
    assert_eq!(
        verify(&expired, &all_keys(), &tight, NOW),
        Err(JwtError::Expired)
    );
    // exp == now is expired; exp == now + 1 is not.
    assert_eq!(
        check(&token("HS256", "h1", &with(json!({"exp": NOW})))),
        Err(JwtError::Expired)
    );
    assert!(check(&token("HS256", "h1", &with(json!({"exp": NOW + 1})))).is_ok());
    // exp is required.
    assert_eq!(
        check(&token("HS256", "h1", &with(json!({"exp": null})))),
        Err(JwtError::Expired)
    );
}

#[test]
fn not_before() {
    let future = token("HS256", "h1", &with(json!({"nbf": NOW + 30})));
    assert_eq!(check(&future), Err(JwtError::NotYetValid));
    let lenient = JwtRules {
        leeway_s: 30,
        ..rules()
    };
    assert!(verify(&future, &all_keys(), &lenient, NOW).is_ok());
    assert!(check(&token("HS256", "h1", &with(json!({"nbf": NOW})))).is_ok());
    assert!(check(&token("HS256", "h1", &with(json!({"nbf": 0})))).is_ok());
}

#[test]
fn issuer() {
    let keys = all_keys();
    let rules = JwtRules {
        issuer: Some("https://idp.example/realms/r".into()),
        ..rules()
    };
    assert!(verify(&token("ES256", "e1", &claims()), &keys, &rules, NOW).is_ok());
    for iss in [
        json!("https://idp.example/realms/other"),
        json!(null),
        json!(1),
        json!(["https://idp.example/realms/r"]),
    ] {
        let t = token("ES256", "e1", &with(json!({ "iss": iss })));
        assert_eq!(
            verify(&t, &keys, &rules, NOW),
            Err(JwtError::WrongIssuer),
            "{iss}"
        );
    }
}

#[test]
fn audience() {
    let keys = all_keys();
    let rules = JwtRules {
        audiences: vec!["other".into(), "api".into()],
        ..rules()
    };
    assert!(verify(&token("HS256", "h1", &claims()), &keys, &rules, NOW).is_ok());
    assert!(verify(
        &token("HS256", "h1", &with(json!({"aud": "api"}))),
        &keys,
        &rules,
        NOW
    )
    .is_ok());
    for aud in [
        json!("account"),
        json!(["account"]),
        json!([]),
        json!(null),
        json!(7),
        json!([["api"]]),
    ] {
        let t = token("HS256", "h1", &with(json!({ "aud": aud })));
        assert_eq!(
            verify(&t, &keys, &rules, NOW),
            Err(JwtError::WrongAudience),
            "{aud}"
        );
    }
}

#[test]
fn roles_and_client_id() {
    let t = token(
        "RS256",
        "r1",
        &with(json!({
            "roles": ["reader", 3, "writer"],
            "realm_access": {"roles": ["admin", "user"]},
            "resource_access": {"my-app": {"roles": ["ops"]}},
            "scope": "openid  profile email",
            "https://example.com/roles": ["ns"],
            "azp": ["first", "second"],
        })),
    );
    let claims = check(&t).unwrap();
    assert_eq!(claims.strings_at("roles"), ["reader", "writer"]);
    assert_eq!(claims.strings_at("realm_access.roles"), ["admin", "user"]);
    assert_eq!(claims.strings_at("resource_access.my-app.roles"), ["ops"]);
    assert_eq!(claims.strings_at("scope"), ["openid", "profile", "email"]);
    assert_eq!(claims.strings_at("https://example.com/roles"), ["ns"]);
    assert_eq!(claims.strings_at("sub"), ["alice"]);
    assert!(claims.strings_at("missing").is_empty());
    assert!(claims.strings_at("realm_access.missing").is_empty());
    assert!(claims.strings_at("realm_access").is_empty());
    assert!(claims.strings_at("exp").is_empty());
    assert!(claims.strings_at("").is_empty());
    assert!(claims.strings_at("sub.x").is_empty());
    assert_eq!(claims.string("azp"), Some("first"));
    assert_eq!(claims.string("sub"), Some("alice"));
    assert_eq!(claims.string("exp"), None);
    assert_eq!(claims.string("nope"), None);
    assert_eq!(claims.get("exp"), Some(&json!(NOW + 300)));
}

#[test]
fn odd_claim_values() {
    // Signed payloads that are not objects, or with numbers and types of all kinds.
    let payload_token = |payload: &str| {
        let input = format!(
            "{}.{}",
            encode(br#"{"alg":"HS256","kid":"h1"}"#),
            encode(payload.as_bytes())
        );
        format!(
            "{input}.{}",
            encode(&sign_with("HS256", HS_SECRET, input.as_bytes()))
        )
    };
    for (payload, expected) in [
        ("[1]", Err(JwtError::Malformed)),
        ("\"x\"", Err(JwtError::Malformed)),
        ("", Err(JwtError::Malformed)),
        ("{", Err(JwtError::Malformed)),
        ("{}", Err(JwtError::Expired)),
        (r#"{"exp":"9999999999"}"#, Err(JwtError::Malformed)),
        (r#"{"exp":[9999999999]}"#, Err(JwtError::Malformed)),
        (r#"{"exp":{"a":1}}"#, Err(JwtError::Malformed)),
        (r#"{"exp":true}"#, Err(JwtError::Malformed)),
        (r#"{"exp":-5}"#, Err(JwtError::Expired)),
        (r#"{"exp":-1e300}"#, Err(JwtError::Expired)),
        (r#"{"exp":1e400}"#, Err(JwtError::Malformed)), // not a JSON number serde_json accepts
        (r#"{"exp":1e300}"#, Ok(())),
        (r#"{"exp":18446744073709551615}"#, Ok(())),
        (r#"{"exp":99999999999999999999999999}"#, Ok(())),
        (r#"{"exp":1700000000.5}"#, Err(JwtError::Expired)),
        (r#"{"exp":1700000001.5}"#, Ok(())),
        (r#"{"exp":1e300,"nbf":1e300}"#, Err(JwtError::NotYetValid)),
        (r#"{"exp":1e300,"nbf":-1}"#, Ok(())),
        (r#"{"exp":1e300,"nbf":"0"}"#, Err(JwtError::Malformed)),
        (r#"{"exp":1e300,"nbf":null}"#, Ok(())),
    ] {
        let result = check(&payload_token(payload)).map(|_| ());
        assert_eq!(result, expected, "{payload}");
    }
    // Huge leeway and now: no overflow.
    let huge = JwtRules {
        leeway_s: u64::MAX,
        ..rules()
    };
    assert!(verify(
        &payload_token(r#"{"exp":1,"nbf":18446744073709551615}"#),
        &all_keys(),
        &huge,
        u64::MAX - 1
    )
    .is_ok());
}

#[test]
fn openid_connect_access_token_claims() {
    // APIcast's `oauth/oidc.lua` (RFC 7523 §3): iss, sub, aud required; iat > 0 and typ
    // Bearer when present.
    let keys = all_keys();
    let oidc = JwtRules {
        oidc: true,
        ..rules()
    };
    let run = |extra: Value, rules: &JwtRules| {
        verify(&token("HS256", "h1", &with(extra)), &keys, rules, NOW).map(|_| ())
    };
    for accepted in [
        json!({}),
        json!({"typ": "Bearer"}),
        json!({"iat": null}),
        json!({"iat": 0.5}),
        json!({"aud": "api"}),
        json!({"aud": []}),
        json!({"sub": ""}),
    ] {
        assert_eq!(run(accepted.clone(), &oidc), Ok(()), "{accepted}");
    }
    for refused in [
        json!({"typ": "ID"}),
        json!({"typ": "Refresh"}),
        json!({"typ": "bearer"}),
        json!({"typ": ["Bearer"]}),
        json!({"sub": null}),
        json!({"aud": null}),
        json!({"iss": null}),
        json!({"iat": 0}),
        json!({"iat": -1}),
        json!({"iat": "1"}),
    ] {
        assert_eq!(
            run(refused.clone(), &oidc),
            Err(JwtError::NotAccessToken),
            "{refused}"
        );
        // Tollgate's own JWT (no OIDC) keeps its rules.
        assert_eq!(run(refused.clone(), &rules()), Ok(()), "{refused}");
    }
    // A claim that is present but JSON null counts as missing.
    let mut null_sub = claims();
    null_sub["sub"] = Value::Null;
    let t = token("HS256", "h1", &null_sub);
    assert_eq!(verify(&t, &keys, &oidc, NOW), Err(JwtError::NotAccessToken));
    // The other checks still come first.
    assert_eq!(
        run(json!({"typ": "ID", "exp": NOW - 1}), &oidc),
        Err(JwtError::Expired)
    );
    assert_eq!(JwtError::NotAccessToken.code(), "not_access_token");
}

/// Numbers render as APIcast's Lua writes them (`%.14g`): a whole number as an integer,
/// whether the JSON wrote `5` or `5.0` (Envoy's `jwt_authn` stores every number as a double;
/// "5.0" made a `== "5"` rule fail and a `!= "0"` rule pass: found by an audit, 2026-12-06).
/// A client id that is a number is an app_id too.
#[test]
fn numbers_render_and_identify_as_apicast_writes_them() {
    let t = token(
        "HS256",
        "h1",
        &with(
            json!({"tier": 0.0, "level": 5.0, "neg": -3.0, "half": 0.5, "int": 7,
                     "list": [1.0, "a", 2], "azp": 5.0, "sub": 12}),
        ),
    );
    let claims = check(&t).unwrap();
    for (claim, text) in [
        ("tier", "0"),
        ("level", "5"),
        ("neg", "-3"),
        ("half", "0.5"),
        ("int", "7"),
        ("list", "1a2"),
    ] {
        assert_eq!(claims.render(claim), text, "{claim}");
    }
    assert_eq!(claims.identifier("azp").as_deref(), Some("5"));
    assert_eq!(claims.identifier("sub").as_deref(), Some("12"));
    assert_eq!(
        claims.identifier("list").as_deref(),
        Some("1"),
        "the first element"
    );
    assert_eq!(claims.identifier("half").as_deref(), Some("0.5"));
    let t = token("HS256", "h1", &with(json!({"azp": true, "sub": {"a": 1}})));
    let claims = check(&t).unwrap();
    assert_eq!(claims.identifier("azp"), None);
    assert_eq!(claims.identifier("sub"), None);
    assert_eq!(claims.identifier("missing"), None);
}

/// An array claim reads as its first element, as APIcast's `app_id[1]` does, in both
/// readings: a later element never stands in for a first one that is not a string (or, for
/// an id, a number). `string` had taken the first string element (tidied 2026-12-07; the
/// filter reads ids with `identifier` only).
#[test]
fn an_array_claim_reads_as_its_first_element() {
    let t = token(
        "HS256",
        "h1",
        &with(
            json!({"azp": [5, "app-1"], "sub": [true, "alice"], "client": [{"a": 1}, "c"],
                     "none": [], "names": ["first", 2]}),
        ),
    );
    let claims = check(&t).unwrap();
    assert_eq!(claims.string("azp"), None, "a number first: not a string");
    assert_eq!(claims.identifier("azp").as_deref(), Some("5"));
    for claim in ["sub", "client", "none"] {
        assert_eq!(claims.string(claim), None, "{claim}");
        assert_eq!(claims.identifier(claim), None, "{claim}");
    }
    assert_eq!(claims.string("names"), Some("first"));
    assert_eq!(claims.identifier("names").as_deref(), Some("first"));
}

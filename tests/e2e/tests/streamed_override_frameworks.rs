//! A third audit of the `_method` reading (streamed multipart and JSON bodies, buffered form
//! bodies; 2026-12-05). Each test sends a `POST` that a named upstream framework serves as a
//! `DELETE`, and requires Tollgate to refuse it (400, nothing at the upstream). Each failed on
//! the module before its fix:
//! - `an_underscored_form_type_first_is_rack_content_type_on_unicorn`: `Content_Type` (form)
//!   before `Content-Type`; the disagreement starts the multipart/JSON readers, not the form's;
//! - `tomcat_finds_a_charset_inside_another_parameter`: a UTF-16 form whose `charset=` hides
//!   in another parameter's value;
//! - `rfc2231_names_in_a_wide_charset`: `name*=UTF-16LE''%5F%00m%00...`;
//! - `tomcat_decodes_several_encoded_words`: RFC 2047 names in two words, or with text after
//!   `?=`;
//! - `tomcat_trims_java_white_space_around_names`: `name\x0b=`, `name=\u{2003}"_method"`;
//! - `php_ends_a_form_name_at_nul`: `_method%00=DELETE` in a form body or the query;
//! - `a_body_override_on_a_public_path_escapes_a_method_rule`: no body is read on a public
//!   path, where a `jwt_claim_check` rule still applies by method.

mod support;

use e2e::jwt::Signer;
use e2e::Request;
use serde_json::json;
use support::pieces::{cached_stack, multipart, post_raw, stack, target, upstream_bodies, B, MARK};
use support::*;

const FORM: &str = "application/x-www-form-urlencoded";

/// Refused (any 400 of Tollgate's), and the upstream never had a body: a request forwarded at
/// its headers (a cache hit, a public path) may reach it with the body cut short when Envoy
/// resets it, never with the override.
fn refused(s: &Stack, mark: &str, got: &(u16, String)) -> bool {
    got.0 == 400
        && got.1.starts_with("Bad Request")
        && upstream_bodies(s, mark).iter().all(String::is_empty)
}

fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// Sends each `(content type, body)` and lists those served (neither refused nor held).
fn served(s: &Stack, prefix: &str, cases: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut through = Vec::new();
    for (i, (ct, body)) in cases.iter().enumerate() {
        let mark = format!("{prefix}-{i}");
        let got = post_raw(s, &mark, &[("Content-Type", ct)], body);
        if !refused(s, &mark, &got) {
            let shown = String::from_utf8_lossy(body);
            let tail: String = shown
                .chars()
                .rev()
                .take(90)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            through.push(format!(
                "{ct:?} …{tail:?} → {} {:?}",
                got.0,
                got.1.chars().take(40).collect::<String>()
            ));
        }
    }
    through
}

/// [`served`] in authrep mode (the body read while the backend answers) and from the
/// batching cache (forwarded at the headers, each chunk read as it passes).
fn in_two_modes(prefix: &str, cases: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut through = Vec::new();
    for (mode, s) in [("authrep", stack()), ("cache-hit", cached_stack())] {
        let got = served(&s, &format!("{prefix}-{mode}"), cases);
        through.extend(got.into_iter().map(|line| format!("{mode}: {line}")));
    }
    through
}

// --- A form content type the upstream reads from a header Tollgate reads as another ------

/// `Content_Type: application/x-www-form-urlencoded` then `Content-Type: text/plain` (or
/// `application/json`), body `item=42&_method=DELETE`. Unicorn (ext/unicorn_http: every
/// header name upper-cased with `-` made `_`, then `CONTENT_TYPE` is a common field without
/// the `HTTP_` prefix; a repeated field is joined with `,`) gives Rack
/// `CONTENT_TYPE = "application/x-www-form-urlencoded,text/plain"` (Puma before 6.4.3/5.6.9
/// did the same). Rack's `media_type` splits on `[;,]`: the form type, so `form_data?` is
/// true and `Rack::MethodOverride` (in every Rails stack) runs the `POST` as a `DELETE`.
///
/// Tollgate: `content-type` is `text/plain` (not a form); the two spellings disagree, so
/// `other_type()` marks the body for the streamed multipart and JSON readers only, which find
/// no `name=` or JSON key in `item=42&_method=DELETE`: served.
#[test]
fn an_underscored_form_type_first_is_rack_content_type_on_unicorn() {
    let s = stack();
    let body = b"item=42&_method=DELETE";
    let mut through = Vec::new();
    for (i, second) in ["text/plain", "application/json"].iter().enumerate() {
        let mark = format!("underscore-form-{i}");
        let lines = [("Content_Type", FORM), ("Content-Type", second)];
        let got = post_raw(&s, &mark, &lines, body);
        if !refused(&s, &mark, &got) {
            let seen: Vec<_> = (s.echo.requests().into_iter())
                .filter(|r| r.header(MARK) == Some(mark.as_str()))
                .map(|r| {
                    let cts: Vec<_> = (r.headers.iter())
                        .filter(|(k, _)| {
                            k.eq_ignore_ascii_case("content_type")
                                || k.eq_ignore_ascii_case("content-type")
                        })
                        .cloned()
                        .collect();
                    (cts, r.body)
                })
                .collect();
            through.push(format!(
                "{lines:?}: {} {:?}; upstream got {seen:?}",
                got.0, got.1
            ));
        }
    }
    assert!(
        through.is_empty(),
        "served as POST, run as DELETE by Rack on Unicorn: {through:#?}"
    );
}

// --- Tomcat's charset: `indexOf("charset=")` on the whole header -------------------------

/// Tomcat (`org.apache.coyote.Request.getCharsetFromContentType`) takes the request's charset
/// from the first `charset=` anywhere in `Content-Type`, up to the next `;`: inside another
/// parameter's value too (`x=charset=utf-16le`, `a=b, charset=utf-16le`). It parses a form
/// body byte by byte on `&` and `=` and decodes each name and value in that charset
/// (`Parameters.processParameters`), so `utf16le("_method") = utf16le("DELETE")` with plain
/// `=`/`&` bytes is the field `_method` = `DELETE`: Spring's `HiddenHttpMethodFilter`
/// (`request.getParameter("_method")`) runs the `POST` as a `DELETE` (Spring MVC without a
/// forced request encoding; `new CharacterEncodingFilter("UTF-8")` does not force it).
///
/// Tollgate's `wide_charset` reads only parameters whose *name* holds `charset`: it reads the
/// body as UTF-8, where the names are `_\0m\0e\0...`: no `_method`. (`; charset=utf-16le` is
/// refused, the control.)
#[test]
fn tomcat_finds_a_charset_inside_another_parameter() {
    let s = stack();
    let field = |name: &str, value: &str| [utf16le(name), b"=".to_vec(), utf16le(value)].concat();
    let body = [
        field("item", "42"),
        b"&".to_vec(),
        field("_method", "DELETE"),
    ]
    .concat();
    let control = post_raw(
        &s,
        "tomcat-cs-control",
        &[("Content-Type", &format!("{FORM}; charset=utf-16le"))],
        &body,
    );
    assert!(refused(&s, "tomcat-cs-control", &control), "{control:?}");
    let cases: Vec<(String, Vec<u8>)> = [
        format!("{FORM}; x=charset=utf-16le"),
        format!("{FORM}; a=b, charset=utf-16le"),
        format!("{FORM}; boundary=charset=UTF-16LE"),
    ]
    .into_iter()
    .map(|ct| (ct, body.clone()))
    .collect();
    let through = served(&s, "tomcat-cs", &cases);
    assert!(
        through.is_empty(),
        "served as POST, run as DELETE by Spring on Tomcat: {through:#?}"
    );
}

// --- Tomcat's multipart names (FileUploadBase.getFieldName → ParameterParser) ------------

fn mp(extra: &str) -> String {
    format!("multipart/form-data; boundary={B}{extra}")
}

/// Tomcat's copy of commons-fileupload (`ParameterParser.parse`) decodes a parameter whose
/// name ends with `*` as RFC 2231 in *its* charset (`RFC2231Utility.decodeText`: `new
/// String(fromHex(value), charset)`), then strips the `*`: `name*=UTF-16LE''%5F%00m%00...`
/// is the field `_method`, which Spring's `HiddenHttpMethodFilter` reads (multipart is parsed
/// by Tomcat's `getParameter`). Busboy before 1.0 (multer 1.4.4 and older) and
/// `@fastify/busboy` (`parseParams` + `decodeText`, `utf16le`/`ucs2` decoders) read it the
/// same way, for Express's `method-override` with a `req.body._method` getter.
///
/// Tollgate reads the RFC 2231 value percent-decoded as ASCII: `_\0m\0e\0...`, cut at the
/// first NUL: `_`. (The RFC 2047 reading drops NULs; this one does not.)
#[test]
fn rfc2231_names_in_a_wide_charset() {
    let pct = |bytes: &[u8]| {
        bytes
            .iter()
            .map(|b| format!("%{b:02X}"))
            .collect::<String>()
    };
    let wide = pct(&utf16le("_method"));
    let mut cases = Vec::new();
    for params in [
        format!("name*=UTF-16LE''{wide}"),
        format!("name*=utf-16le'en'{wide}"),
        format!("name*=ucs2''{wide}"),
        format!("name*=\"UTF-16LE''{wide}\""),
    ] {
        cases.push((mp(""), multipart(params.as_bytes())));
    }
    let through = in_two_modes("rfc2231-wide", &cases);
    assert!(
        through.is_empty(),
        "served as POST, run as DELETE by Spring on Tomcat and busboy 0.x: {through:#?}"
    );
}

/// Tomcat's `MimeUtility.decodeText` (used by `ParameterParser` for every plain parameter
/// value) decodes each white-space-separated word that starts with `=?`, drops the white
/// space between two encoded words (RFC 2047 §6.2), and `decodeWord` ignores what follows
/// the first `?=` in a word: `"=?UTF-8?Q?=5F?= =?UTF-8?Q?method?="`,
/// `"=?UTF-8?B?Xw==?= =?UTF-8?B?bWV0aG9k?="` and `"=?UTF-8?Q?=5Fmethod?=x"` are all the field
/// `_method` (Spring's `HiddenHttpMethodFilter` on Tomcat).
///
/// Tollgate reads one encoded word per value (ASP.NET Core's `TryDecodeMime`): it drops the
/// white space, then decodes `UTF-8?Q?=5F?==?UTF-8?Q?method` as one word's text, or finds no
/// closing `?=` at the end: no `_method`.
#[test]
fn tomcat_decodes_several_encoded_words() {
    let cases: Vec<(String, Vec<u8>)> = [
        "name=\"=?UTF-8?Q?=5F?= =?UTF-8?Q?method?=\"",
        "name=\"=?UTF-8?B?Xw==?= =?UTF-8?B?bWV0aG9k?=\"",
        "name=\"=?UTF-8?Q?=5Fmethod?=x\"",
        "name=\"=?UTF-8?B?X21ldGhvZA==?=x\"",
        "name==?UTF-8?Q?=5F?=\t=?UTF-8?Q?method?=",
    ]
    .into_iter()
    .map(|p| (mp(""), multipart(p.as_bytes())))
    .collect();
    let through = in_two_modes("mime-words", &cases);
    assert!(
        through.is_empty(),
        "served as POST, run as DELETE by Spring on Tomcat: {through:#?}"
    );
}

/// Tomcat's `ParameterParser` trims a parameter's name and value with
/// `Character.isWhitespace`, which holds for `\x0b`, `\x0c`, `\x1c`-`\x1f` and (part headers
/// decoded in the request's UTF-8) Unicode spaces such as U+2003 and U+3000; the field name is
/// then `trim()`med. `name\x0b="_method"`, `name\x1f="_method"`, `name\u{3000}="_method"` and
/// `name=\u{2003}"_method"` are all the field `_method` (Spring's `HiddenHttpMethodFilter`).
///
/// Tollgate allows only space, tab, CR, LF and `*` between `name` and `=` (a `\x0b` drops the
/// value being read), and a multi-byte space before a quote is read as the value's start,
/// cut at the quote: no `_method`.
#[test]
fn tomcat_trims_java_white_space_around_names() {
    let cases: Vec<(String, Vec<u8>)> = [
        ("", "name\x0b=\"_method\""),
        ("", "name\x0c=\"_method\""),
        ("", "name\x1f=\"_method\""),
        ("; charset=utf-8", "name\u{3000}=\"_method\""),
        ("; charset=utf-8", "name=\u{2003}\"_method\""),
        ("; charset=utf-8", "name=\u{2003}_method"),
    ]
    .into_iter()
    .map(|(extra, p)| (mp(extra), multipart(p.as_bytes())))
    .collect();
    let through = in_two_modes("java-ws", &cases);
    assert!(
        through.is_empty(),
        "served as POST, run as DELETE by Spring on Tomcat: {through:#?}"
    );
}

// --- Public paths ------------------------------------------------------------------------

const ISSUER: &str = "https://idp.example.com/realms/demo";

/// On a public path Tollgate still refuses a header or query override (`method_overridden` is
/// checked before the public path), and a `jwt_claim_check` rule still applies there by
/// method (README: "with no token every claim is empty, so an `==` rule covering the path
/// denies"). But `form_body` and `scan_body` are false under a public path: no form,
/// multipart or JSON body is read for a `_method`. Here `DELETE /files/...` is denied by the
/// claim check (403); `POST /files/7` with `_method=DELETE` in a form, multipart or JSON body
/// reaches the upstream, which Rails, Laravel, Spring or ASP.NET Core run as that `DELETE`.
#[test]
fn a_body_override_on_a_public_path_escapes_a_method_rule() {
    let signer = Signer::hs256(b"0123456789abcdef0123456789abcdef-claims", "hs-1");
    let chain = json!([
        {"name": "apicast.policy.jwt_claim_check", "configuration": {
            "error_message": "JWT no valid",
            "rules": [{"resource": "/files/", "methods": ["DELETE"],
                "operations": [{"jwt_claim": "role", "jwt_claim_type": "plain", "op": "==",
                                "value": "admin"}]}]}},
        {"name": "apicast"}
    ]);
    let svc = json!({
        "id": 5, "backend_version": "oauth",
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "authentication": {"jwt": {"jwks": Signer::jwks(&[&signer]), "issuer": ISSUER},
                           "public_paths": ["/files/"]},
        "proxy": {"hosts": ["api.example.com"], "authentication_method": "oidc",
            "policy_chain": chain,
            "proxy_rules": [{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    });
    let state = oidc_state();
    let s = Stack::start_with(config(vec![svc]), state, |b| b);
    let send = |method: &str, mark: &str, headers: &[(&str, &str)], body: &[u8]| {
        let mut r = Request::new(method, "/files/7")
            .header("Host", "api.example.com")
            .header(MARK, mark);
        for (k, v) in headers {
            r = r.header(k, v);
        }
        let r = r.body(body.to_vec()).send(s.port());
        (r.status, r.body)
    };
    // Controls: the DELETE is denied by the claim check; a header override is refused; a
    // plain POST is served.
    assert_eq!(send("DELETE", "delete", &[], b"").0, 403);
    let header = send(
        "POST",
        "header",
        &[("X-HTTP-Method-Override", "DELETE")],
        b"",
    );
    assert!(refused(&s, "header", &header), "{header:?}");
    assert_eq!(send("POST", "plain", &[], b"").0, 200);

    let mp_ct = mp("");
    let mp_body = multipart(b"name=\"_method\"");
    let mut through = Vec::new();
    for (mark, ct, body) in [
        ("form", FORM, &b"item=42&_method=DELETE"[..]),
        ("none", "", &b"item=42&_method=DELETE"[..]),
        ("multipart", mp_ct.as_str(), &mp_body[..]),
        (
            "json",
            "application/json",
            &br#"{"item":42,"_method":"DELETE"}"#[..],
        ),
    ] {
        let headers: Vec<(&str, &str)> = match ct {
            "" => vec![],
            ct => vec![("Content-Type", ct)],
        };
        let got = send("POST", mark, &headers, body);
        if !refused(&s, mark, &got) {
            through.push(format!(
                "{mark}: {} {:?}",
                got.0,
                got.1.chars().take(40).collect::<String>()
            ));
        }
    }
    assert!(
        through.is_empty(),
        "served as POST on a public path, run as the DELETE the claim check denies: {through:#?}"
    );
}

// --- PHP ends an arg's name at a NUL ----------------------------------------------------

/// PHP's `php_register_variable_ex` (main/php_variables.c) reads the decoded name as a C
/// string (`strlen`, then `for (p = var; *p; p++)`): `_method%00=DELETE` and
/// `_method%00x=DELETE` in a form body (or the query) are `$_POST['_method']` (`$_GET`), which
/// Symfony's `Request::getMethod()` reads with `enableHttpMethodParameterOverride()` (on in
/// Laravel's HTTP kernel): the `POST` runs as a `DELETE`.
///
/// Tollgate's `method_override::in_text` decodes the name to `_method\0` and compares it
/// whole (`is_spelling_of`): not `_method`. (The multipart reader already cuts at a NUL.)
#[test]
fn php_ends_a_form_name_at_nul() {
    let s = stack();
    let mut through = Vec::new();
    for (i, body) in ["item=42&_method%00=DELETE", "_method%00x=DELETE&item=42"]
        .iter()
        .enumerate()
    {
        let mark = format!("php-nul-{i}");
        let got = post_raw(&s, &mark, &[("Content-Type", FORM)], body.as_bytes());
        if !refused(&s, &mark, &got) {
            through.push(format!(
                "form {body:?}: {} {:?}",
                got.0,
                got.1.chars().take(40).collect::<String>()
            ));
        }
    }
    let r = Request::new("POST", &format!("{}&_method%00=DELETE", target()))
        .header("Host", "api.example.com")
        .header(MARK, "php-nul-query")
        .send(s.port());
    let got = (r.status, r.body);
    if !refused(&s, "php-nul-query", &got) {
        through.push(format!(
            "query _method%00=DELETE: {} {:?}",
            got.0,
            got.1.chars().take(40).collect::<String>()
        ));
    }
    assert!(
        through.is_empty(),
        "served as POST, run as DELETE by Laravel/Symfony: {through:#?}"
    );
}

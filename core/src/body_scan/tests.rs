//! The readers over whole bodies, every split of them, and a byte at a time.

use super::{applies, BodyScan, Expected, Finding, Wanted};

fn scan(body: &[u8]) -> bool {
    let mut whole = BodyScan::new();
    whole.feed(body);
    let whole = whole.finish();
    // Every split gives the same answer, and so does a byte at a time.
    for at in 0..=body.len() {
        let mut split = BodyScan::new();
        split.feed(&body[..at]);
        split.feed(&body[at..]);
        assert_eq!(split.finish(), whole, "split at {at}: {body:?}");
    }
    let mut bytes = BodyScan::new();
    body.iter().for_each(|b| {
        bytes.feed(&[*b]);
    });
    assert_eq!(bytes.finish(), whole, "a byte at a time: {body:?}");
    whole
}

fn part(disposition: &str) -> Vec<u8> {
    format!("--XyZ\r\nContent-Disposition: {disposition}\r\n\r\nDELETE\r\n--XyZ--\r\n").into_bytes()
}

#[test]
fn kinds_of_content_types() {
    for (ct, kind) in [
        ("multipart/form-data; boundary=x", true),
        ("Multipart/Mixed; boundary=x", true),
        ("application/json", true),
        ("application/vnd.api+json", true),
        ("text/JSON; charset=utf-8", true),
        ("application/x-www-form-urlencoded; profile=/json", true),
        (
            " multipart/form-data; x=\"application/x-www-form-urlencoded\"",
            true,
        ),
        ("application/x-www-form-urlencoded", false),
        ("text/plain", false),
        ("application/octet-stream", false),
    ] {
        assert_eq!(applies(ct), kind, "{ct}");
    }
}

#[test]
fn multipart_names_read_as_method() {
    for disposition in [
        "form-data; name=\"_method\"",
        "form-data; name=_method",
        "form-data; NAME = \"_METHOD\"",
        "form-data; name=\"   _method\"",
        "form-data; name=\".method\"",
        "form-data; name=\"_method[]\"",
        "form-data; name=\"[_method]\"",
        "form-data; name=\"%5Fmethod\"",
        "form-data; name=\"_m\\ethod\"",
        "form-data; name*=utf-8''%5Fmethod",
        "form-data; name*=UTF-8'en'_method",
        "form-data; name=\"=?utf-8?B?X21ldGhvZA==?=\"",
        "form-data; name=\"=?utf-8?Q?=5Fmethod?=\"",
        "form-data; filename=\"a;name=_method\"",
        "form-data; name=\"x\"; name=\"_method\"",
        "form-data; name=\"_method;x\"",
        "form-data; name=\n \"_method\"",
        "form-data\r\nContent-ID: <_method>",
        "form-data\r\nContent-ID: _method",
        // PHP joins a line without a colon to the one before; it ends a name at a NUL and
        // skips `\v` and `\f`; Java's `trim` drops every byte up to a space.
        "form-data; name=\"_met\r\nhod\"",
        "form-data; na\r\nme=\"_method\"",
        "form-data; name=\"_method\0x\"",
        "form-data; name=\x0b_method",
        "form-data; name=_method\x0c",
        "form-data; name=\"_method\x01\"",
        "form-data; name=\"\x1f_method\"",
        // ASP.NET Core: whitespace in the base64, UTF-16 and UTF-32 charsets.
        "form-data; name=\"=?utf-8?B?X21ld GhvZA==?=\"",
        "form-data; name=\"=?utf-16?B?XwBtAGUAdABoAG8AZAA=?=\"",
        "form-data; name=\"=?utf-16?B?//5fAG0AZQB0AGgAbwBkAA==?=\"",
    ] {
        assert!(scan(&part(disposition)), "{disposition}");
    }
}

#[test]
fn other_multipart_names_pass() {
    for disposition in [
        "form-data; name=\"payment_method\"",
        "form-data; name=\"method\"",
        "form-data; name=\"_methods\"",
        "form-data; name=\"file\"; filename=\"methods.txt\"",
        "form-data; name=\"x\"",
        "form-data; name=note\r\n_method: x",
        "form-data; name=\"=?utf-8?B?cGF5bWVudF9tZXRob2Q=?=\"",
    ] {
        assert!(!scan(&part(disposition)), "{disposition}");
    }
    let prose = b"--b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n\
        The method's name is: secret, and the name is _method.\r\n--b--\r\n";
    assert!(!scan(prose));
}

#[test]
fn a_value_at_the_end_of_the_body_is_read_when_it_ends() {
    let mut scan = BodyScan::new();
    assert!(!scan.feed(b"--b\r\nContent-Disposition: form-data; name=_method"));
    assert!(scan.finish());
}

#[test]
fn an_encoded_word_padded_past_the_cap_is_read_without_its_whitespace() {
    let spaces = " ".repeat(100);
    for name in [
        format!("=?utf-8?B?X21ld{spaces}GhvZA==?="),
        format!("=?utf-8?B?{spaces}X21ldGhvZA==?="),
        format!("=?utf-8?B?X21ld\r\n{spaces}GhvZA==?="),
    ] {
        assert!(
            scan(&part(&format!("form-data; name=\"{name}\""))),
            "{name}"
        );
    }
}

#[test]
fn long_multipart_values_are_judged_on_what_they_hold() {
    let long = |v: &str| format!("form-data; name=\"{v}\"");
    let pad = "a".repeat(200);
    assert!(scan(&part(&long(&format!("_method[{pad}]")))));
    assert!(scan(&part(&long(&format!("%5F{pad}")))));
    assert!(!scan(&part(&long(&pad))));
    assert!(!scan(&part(&long(&format!("{pad}_method")))));
    // Leading spaces (PHP drops them) are skipped before the value, however many.
    let spaces = " ".repeat(500);
    assert!(scan(&part(&format!("form-data; name={spaces}_method"))));
}

#[test]
fn json_keys_read_as_method() {
    for body in [
        r#"{"_method":"DELETE"}"#,
        r#"{ "a": 1, "_method" : "DELETE" }"#,
        r#"{"_METHOD":"put"}"#,
        r#"{"\u005fmethod":"DELETE"}"#,
        r#"{"\u005F\u006d\u0065thod":"DELETE"}"#,
        r#"{"data":{"_method":"DELETE"}}"#,
        "{\"_method\"\n\t:\"DELETE\"}",
    ] {
        assert!(scan(body.as_bytes()), "{body}");
    }
}

#[test]
fn other_json_passes() {
    for body in [
        r#"{"payment_method":"card"}"#,
        r#"{"method":"DELETE"}"#,
        r#"{"note":"_method"}"#,
        r#"["_method", "x"]"#,
        r#"{"note":"a \"_method\": b"}"#,
        r#"{"_method_":"x"}"#,
        r#"{"_metho":"x"}"#,
        r#"{"\u005fmethodx":"x"}"#,
    ] {
        assert!(!scan(body.as_bytes()), "{body}");
    }
    let long = format!(
        r#"{{"text":"{}","_method":"DELETE"}}"#,
        "x\\\"y".repeat(300)
    );
    assert!(scan(long.as_bytes()));
}

/// `s` percent-encoded in UTF-16LE (`_` is `%5F%00`).
fn utf16le_escaped(s: &str) -> String {
    (s.encode_utf16().flat_map(u16::to_le_bytes))
        .map(|b| format!("%{b:02X}"))
        .collect()
}

#[test]
fn rfc2231_names_in_a_wide_charset_are_read_without_their_nul_bytes() {
    // Tomcat (`RFC2231Utility.decodeText`) and busboy 0.x decode the value in its charset.
    let le = utf16le_escaped("_method");
    let be: String = ("_method".encode_utf16().flat_map(u16::to_be_bytes))
        .map(|b| format!("%{b:02X}"))
        .collect();
    let utf32: String = ("_method".chars().flat_map(|c| u32::from(c).to_le_bytes()))
        .map(|b| format!("%{b:02X}"))
        .collect();
    for disposition in [
        format!("form-data; name*=UTF-16LE''{le}"),
        format!("form-data; name*=utf-16le'en'{le}"),
        format!("form-data; name*=ucs2''{le}"),
        format!("form-data; name*=\"UTF-16LE''{le}\""),
        format!("form-data; name*=UTF-16BE''{be}"),
        format!("form-data; name*=UTF-16''%FF%FE{le}"),
        format!("form-data; name*=UTF-32LE''{utf32}"),
        format!("form-data; name*=UTF-16LE''{le}; filename=\"x\""),
    ] {
        assert!(scan(&part(&disposition)), "{disposition}");
    }
    // PHP's reading of a plain value still ends at a NUL; other names in a wide charset pass.
    assert!(scan(&part("form-data; name=\"_method\0x\"")));
    let other = utf16le_escaped("payment_method");
    assert!(!scan(&part(&format!("form-data; name*=UTF-16LE''{other}"))));
    assert!(!scan(&part(&format!(
        "form-data; name*=UTF-16LE''{}",
        utf16le_escaped("_methods")
    ))));
}

#[test]
fn a_name_is_trimmed_after_it_is_percent_decoded() {
    // Tomcat trims the decoded RFC 2231 name (`FileUploadBase.getFieldName`).
    for disposition in [
        "form-data; name*=utf-8''_method%20",
        "form-data; name*=utf-8''%09_method%0B",
    ] {
        assert!(scan(&part(disposition)), "{disposition}");
    }
}

#[test]
fn several_encoded_words_are_read_joined() {
    // Tomcat's `MimeUtility.decodeText`: the white space between two encoded words dropped,
    // and what follows a word's `?=` ignored.
    for disposition in [
        "form-data; name=\"=?UTF-8?Q?=5F?= =?UTF-8?Q?method?=\"",
        "form-data; name=\"=?UTF-8?B?Xw==?= =?UTF-8?B?bWV0aG9k?=\"",
        "form-data; name=\"=?UTF-8?Q?=5Fmethod?=x\"",
        "form-data; name=\"=?UTF-8?B?X21ldGhvZA==?=x\"",
        "form-data; name==?UTF-8?Q?=5F?=\t=?UTF-8?Q?method?=",
        "form-data; name==?UTF-8?Q?=5F?= =?UTF-8?Q?method?=; filename=\"a b\"",
        "form-data; name=\"=?UTF-8?Q?=5F?=x =?UTF-8?Q?met?=y=?z \t =?UTF-8?Q?hod?=\"",
        "form-data; name=\"=?UTF-8?Q?=5F?=\r\n =?UTF-8?Q?method?=\"",
        "form-data; name=\"=?UTF-8?Q?=5F?= =?UTF-8?Q?method?==?UTF-8?Q?x?=\"",
        "form-data; name=\"=?utf-16le?B?XwA=?= =?utf-16le?B?bQBlAHQAaABvAGQA?=\"",
        // The Q encoding's `_` is a space, which Java's `trim` drops.
        "form-data; name=\"=?UTF-8?Q?_=5Fmethod?=\"",
        "form-data; name=\"=?UTF-8?Q?=20?= =?UTF-8?Q?=5Fmethod_?=\"",
    ] {
        assert!(scan(&part(disposition)), "{disposition}");
    }
    // Text between the words is kept: not `_method`.
    for disposition in [
        "form-data; name=\"=?UTF-8?Q?=5F?= x =?UTF-8?Q?method?=\"",
        "form-data; name=\"=?UTF-8?Q?payment?= =?UTF-8?Q?=5Fmethod?=\"",
        "form-data; name=\"=?UTF-8?Q?=5F?==?UTF-8?Q?methods?=\"",
    ] {
        assert!(!scan(&part(disposition)), "{disposition}");
    }
}

#[test]
fn encoded_words_padded_past_the_cap_are_refused() {
    // Empty words, or text after `?=` that ends a token, before the word that counts.
    for pad in ["=?a?Q??= ", "=?a?Q?=20?=; ", "=?a?Q??=, ", "=?a?Q??=' "] {
        let name = format!("{}=?UTF-8?Q?=5Fmethod?=", pad.repeat(20));
        let disposition = format!("form-data; name=\"{name}\"");
        assert!(scan(&part(&disposition)), "{disposition}");
    }
}

#[test]
fn java_white_space_around_a_name_is_skipped() {
    // Tomcat's `ParameterParser` trims with `Character.isWhitespace`: `\x1c`-`\x1f`, `\v`,
    // `\f` and Unicode spaces (part headers read as UTF-8).
    for disposition in [
        "form-data; name\x0b=\"_method\"",
        "form-data; name\x0c=\"_method\"",
        "form-data; name\x1c=\"_method\"",
        "form-data; name\x1f=\"_method\"",
        "form-data; name\x01 \x1e=_method",
        "form-data; name\u{3000}=\"_method\"",
        "form-data; name\u{1680}\u{2028}=\"_method\"",
        "form-data; name \u{2000}\u{200a}\u{205f}=\"_method\"",
        "form-data; name\u{2029}*=utf-8''_method",
        "form-data; name=\u{2003}\"_method\"",
        "form-data; name=\u{2003}_method",
        "form-data; name= \u{3000}\u{2009} \"_method\"",
        "form-data; name=\"\u{2003}_method\"",
        "form-data; name=_method\u{2003}",
        "form-data; name=_method\u{3000}; filename=\"x\"",
        "form-data; name=\"_method\"\u{2003}",
    ] {
        assert!(scan(&part(disposition)), "{disposition:?}");
    }
    // Other bytes, or a space that is not one, end the name or start the value.
    for disposition in [
        "form-data; name\u{e9}=\"_method\"",
        "form-data; name\u{2003}x=\"_method\"",
        "form-data; name\u{3001}=\"_method\"",
        "form-data; name=\u{e9}_method",
        "form-data; name=\u{3001}_method",
        "form-data; name=\u{200b}_method",
        "form-data; name=\u{2003}\u{e9}_method",
        "form-data; name=\u{2003}_methods",
    ] {
        assert!(!scan(&part(disposition)), "{disposition:?}");
    }
    // A broken UTF-8 sequence: its bytes start the value, the byte after it read as usual.
    for body in [
        &b"--b\r\nContent-Disposition: form-data; name=\xe2\"_method\"\r\n\r\nx"[..],
        b"--b\r\nContent-Disposition: form-data; name=\xe2\x80\r\n\r\nx",
        b"--b\r\nContent-Disposition: form-data; name\xe2=\"_method\"\r\n\r\nx",
        b"--b\r\nContent-Disposition: form-data; name=\xe2\x80",
    ] {
        assert!(!scan(body), "{body:?}");
    }
    assert!(scan(
        b"--b\r\nContent-Disposition: form-data; name=\xe2\x80\x83\xe2\x80\x83_method"
    ));
}

#[test]
fn rfc2231_values_padded_past_the_cap_are_refused() {
    // Tomcat ignores the language and trims the decoded name; busboy ignores the language.
    let wide = utf16le_escaped(" ").repeat(10);
    for value in [
        format!("utf-8'{}'_method", "x".repeat(120)),
        format!("utf-8''{}_method", "%20".repeat(40)),
        format!("utf-8''{}_method", "%09%0B%00".repeat(20)),
        format!("UTF-16LE''{wide}{}", utf16le_escaped("_method")),
        format!("\"utf-8'{}'_method\"", "en".repeat(60)),
    ] {
        let disposition = format!("form-data; name*={value}");
        assert!(scan(&part(&disposition)), "{disposition}");
    }
}

/// A reading for credentials and a rule arg only (not a `POST`): `user_key` must be `mine`,
/// `app_id` `a`, the arg `scope` `all`.
fn credentials(body: &[u8], multipart: bool) -> Option<Finding> {
    let expected = vec![
        Expected {
            name: "user_key".into(),
            values: vec!["mine".into()],
            finding: Finding::Credential,
        },
        Expected {
            name: "app_id".into(),
            values: vec!["a".into()],
            finding: Finding::Credential,
        },
        Expected {
            name: "scope".into(),
            values: vec!["all".into()],
            finding: Finding::Argument,
        },
    ];
    let wanted = Wanted {
        method: false,
        fields: if multipart { expected.clone() } else { vec![] },
        keys: if multipart { vec![] } else { expected },
    };
    let read = |cuts: &[usize]| {
        let mut scan = BodyScan::wanting(wanted.clone());
        let mut at = 0;
        for &cut in cuts.iter().chain([&body.len()]) {
            scan.feed(body.get(at..cut).unwrap_or_default());
            at = cut;
        }
        scan.finish();
        scan.finding()
    };
    let whole = read(&[]);
    for at in 0..=body.len() {
        assert_eq!(read(&[at]), whole, "split at {at}: {body:?}");
    }
    assert_eq!(read(&(1..body.len()).collect::<Vec<_>>()), whole);
    whole
}

#[test]
fn credential_fields_hold_the_value_checked() {
    let differs = Some(Finding::Credential);
    for (disposition, value, found) in [
        ("form-data; name=\"user_key\"", "mine", None),
        ("form-data; name=\"user_key\"", "admin", differs),
        ("form-data; name=\"user_key\"", "min", differs),
        ("form-data; name=\"user_key\"", "mine2", differs),
        ("form-data; name=\"user_key\"", "", differs),
        ("form-data; name=\"user_key\"", "mine\r\nmore", differs),
        ("form-data; name=user.key", "admin", differs),
        ("form-data; name=\"USER_KEY[]\"", "admin", differs),
        ("form-data; name*=utf-8''user%5Fkey", "admin", differs),
        ("form-data; name=\"app_id\"", "a", None),
        ("form-data; name=\"app_id\"", "b", differs),
        ("form-data; name=\"note\"", "admin", None),
        ("form-data; name=\"scope\"", "all", None),
        (
            "form-data; name=\"Scope[]\"",
            "mine",
            Some(Finding::Argument),
        ),
        // `_method` is not read on this method.
        ("form-data; name=\"_method\"", "DELETE", None),
    ] {
        let body = format!(
            "--b\r\nContent-Disposition: {disposition}\r\nContent-Type: text/plain\r\n\r\n\
             {value}\r\n--b--\r\n"
        );
        assert_eq!(credentials(body.as_bytes(), true), found, "{body:?}");
    }
    // The body ends in the value: what came is the value.
    let cut = b"--b\r\nContent-Disposition: form-data; name=user_key\r\n\r\nadm";
    assert_eq!(credentials(cut, true), differs);
    // JSON is not read in a multipart body, nor a part in a JSON body.
    assert_eq!(credentials(br#"{"user_key":"admin"}"#, true), None);
    let part = b"--b\r\nContent-Disposition: form-data; name=user_key\r\n\r\nadmin\r\n--b--";
    assert_eq!(credentials(part, false), None);
}

#[test]
fn top_level_json_keys_hold_a_string_checked() {
    let differs = Some(Finding::Credential);
    for (body, found) in [
        (r#"{"user_key":"mine","app_id":"a"}"#, None),
        (r#" { "USER_KEY" : "mine" } "#, None),
        (r#"{"user_key":"m\u0069ne"}"#, None),
        (r#"{"user_key":"admin"}"#, differs),
        (r#"{"x":[1,{"y":"}"}],"user_key":"admin"}"#, differs),
        (r#"{"user_key":"mine\"x"}"#, differs),
        (r#"{"user_\u006bey":"admin"}"#, differs),
        (r#"{"user_key":1234}"#, differs),
        (r#"{"user_key":["mine"]}"#, differs),
        (r#"{"user_key":{"a":"mine"}}"#, differs),
        (r#"{"user_key":true}"#, differs),
        (r#"{"app_id":"b"}"#, differs),
        (r#"{"a":{"user_key":"admin"}}"#, None),
        (r#"[{"user_key":"admin"}]"#, None),
        (r#"{"a":"user_key","b":"admin"}"#, None),
        (r#"{"user.key":"admin"}"#, None),
        (r#"{"_method":"DELETE"}"#, None),
        (r#"{"SCOPE":"all"}"#, None),
        (r#"{"scope":"mine"}"#, Some(Finding::Argument)),
        (r#"{"scope":null}"#, Some(Finding::Argument)),
    ] {
        assert_eq!(credentials(body.as_bytes(), false), found, "{body}");
    }
}

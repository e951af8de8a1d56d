//! The readers over whole bodies, every split of them, and a byte at a time.

use super::{applies, BodyScan};

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

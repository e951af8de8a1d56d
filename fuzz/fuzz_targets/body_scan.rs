//! The multipart and JSON readers that look for a `_method` (and credentials) as a body
//! streams: no panic, the same answer however the body is cut into chunks, and a `_method`
//! field written the plain way is always found, wherever it stands.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tollgate_core::body_scan::{BodyScan, Expected, Finding, Wanted};

#[derive(Debug, Arbitrary)]
struct Input {
    /// Plant a JSON key, else a multipart part.
    json: bool,
    body: Vec<u8>,
    /// Chunk lengths (the rest of the body is the last chunk).
    cuts: Vec<u8>,
    /// Where a plain `_method` field is put in the body, if at all.
    plant: Option<u16>,
    /// Credentials and a rule arg read too (`user_key` must be `mine`, `app_id` `a` or `b`,
    /// the arg `scope` `mine`).
    credentials: bool,
}

fn read(body: &[u8], cuts: &[u8], credentials: bool) -> Option<Finding> {
    let expected = match credentials {
        true => vec![
            Expected {
                name: "user_key".into(),
                values: vec!["mine".into()],
                finding: Finding::Credential,
            },
            Expected {
                name: "app_id".into(),
                values: vec!["a".into(), "b".into()],
                finding: Finding::Credential,
            },
            Expected {
                name: "scope".into(),
                values: vec!["mine".into()],
                finding: Finding::Argument,
            },
        ],
        false => vec![],
    };
    let mut scan = BodyScan::wanting(Wanted {
        method: true,
        fields: expected.clone(),
        keys: expected,
    });
    let mut rest = body;
    for &cut in cuts {
        let (chunk, after) = rest.split_at(usize::from(cut).min(rest.len()));
        scan.feed(chunk);
        rest = after;
    }
    scan.feed(rest);
    scan.finish();
    scan.finding()
}

fuzz_target!(|input: Input| {
    // Refused or not, the same however cut (a body holding both a `_method` and a credential
    // may be refused for either, whichever is read first).
    let whole = read(&input.body, &[], input.credentials).is_some();
    assert_eq!(
        read(&input.body, &input.cuts, input.credentials).is_some(),
        whole,
        "chunking changed the answer"
    );
    if let Some(at) = input.plant {
        // A field in plain form, on a line of its own (multipart) or as a key with a quote
        // before it (JSON: outside any string only if the body before it is balanced, so
        // only a body without quotes or backslashes is taken).
        let at = usize::from(at).min(input.body.len());
        let (before, after) = input.body.split_at(at);
        let field: &[u8] = match input.json {
            false => b"\r\nContent-Disposition: form-data; name=\"_method\"\r\n",
            true => b"\"_method\":",
        };
        let body = [before, field, after].concat();
        let plain = !before.iter().any(|b| matches!(b, b'"' | b'\\'));
        if !input.json || plain {
            assert!(
                read(&body, &input.cuts, input.credentials).is_some(),
                "a planted _method was missed"
            );
        }
    }
});

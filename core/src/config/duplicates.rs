//! Keys given twice in one JSON object. serde_json (and APIcast's cjson) keep the last value
//! silently, so `"header_secrets": [...], ..., "header_secrets": []` would drop a secret, and
//! `"mode": "local", "mode": "none"` open a service: the configuration is refused instead,
//! naming the key. Read from the raw text, which serde_json has already accepted as JSON.

use std::collections::BTreeSet;

enum Frame {
    Object {
        path: String,
        /// A set: a System answer of up to 64 MiB may hold an object of very many keys.
        keys: BTreeSet<Vec<u8>>,
        /// The key whose value comes next (the path of a nested object or array).
        key: Vec<u8>,
        want_key: bool,
    },
    Array {
        path: String,
        index: usize,
    },
}

/// The JSON path of the first key given twice in one object (keys compared decoded).
pub fn first_duplicate(text: &[u8]) -> Option<String> {
    duplicates(text).into_iter().next()
}

/// The JSON paths of every key given twice in one object, in the order of the text.
pub fn duplicates(text: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while let Some(&byte) = text.get(i) {
        match byte {
            b'"' => {
                let end = string_end(text, i + 1);
                if let Some(Frame::Object {
                    path,
                    keys,
                    key,
                    want_key: want_key @ true,
                }) = stack.last_mut()
                {
                    let raw = text.get(i + 1..end).unwrap_or_default();
                    // Compared as the JSON reader decodes them: `"policy_ch\u0061in"` is
                    // `policy_chain` too.
                    let decoded = raw.contains(&b'\\').then(|| {
                        (text.get(i..=end))
                            // As a `Value`: the reader the configuration already links.
                            .and_then(|quoted| serde_json::from_slice(quoted).ok())
                            .and_then(|v: serde_json::Value| {
                                v.as_str().map(|s| s.as_bytes().to_vec())
                            })
                    });
                    let name = match &decoded {
                        Some(Some(name)) => name.as_slice(),
                        _ => raw,
                    };
                    if !keys.insert(name.to_vec()) {
                        found.push(child(path, name));
                    }
                    *key = name.to_vec();
                    *want_key = false;
                }
                i = end;
            }
            b'{' | b'[' => {
                let path = match stack.last() {
                    None => String::new(),
                    Some(Frame::Object { path, key, .. }) => child(path, key),
                    Some(Frame::Array { path, index }) => format!("{path}[{index}]"),
                };
                stack.push(match byte {
                    b'{' => Frame::Object {
                        path,
                        keys: BTreeSet::new(),
                        key: Vec::new(),
                        want_key: true,
                    },
                    _ => Frame::Array { path, index: 0 },
                });
            }
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object { want_key, .. }) => *want_key = true,
                Some(Frame::Array { index, .. }) => *index += 1,
                None => {}
            },
            _ => {}
        }
        i += 1;
    }
    found
}

/// The index of the quote that closes the string starting at `from` (past its escapes).
fn string_end(text: &[u8], mut from: usize) -> usize {
    while let Some(&byte) = text.get(from) {
        match byte {
            b'\\' => from += 2,
            b'"' => return from,
            _ => from += 1,
        }
    }
    from
}

fn child(path: &str, key: &[u8]) -> String {
    let key = String::from_utf8_lossy(key);
    match path {
        "" => key.into_owned(),
        _ => format!("{path}.{key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::first_duplicate;

    #[test]
    fn the_first_key_given_twice_is_named_by_its_path() {
        let found = |text: &str| first_duplicate(text.as_bytes());
        assert_eq!(found(r#"{"a": 1, "b": {"c": 2}}"#), None);
        assert_eq!(found(r#"{"a": 1, "a": 2}"#).as_deref(), Some("a"));
        // Keys are compared as a JSON reader decodes them.
        assert_eq!(
            found(r#"{"policy_chain": 1, "policy_ch\u0061in": 2}"#).as_deref(),
            Some("policy_chain")
        );
        assert_eq!(
            found(r#"{"a\"b": 1, "a\u0022b": 2}"#).as_deref(),
            Some("a\"b")
        );
        assert_eq!(found(r#"{"a\nb": 1, "a\\nb": 2}"#), None);
        assert_eq!(
            found(r#"{"services": [{"id": 1}, {"id": 2, "authentication": {"mode": "local", "x": "mode", "mode": "none"}}]}"#).as_deref(),
            Some("services[1].authentication.mode")
        );
        // Strings that look like keys or hold quotes and brackets are values.
        assert_eq!(
            found(r#"{"a": "a", "b": ["a", "{\"a\"", {"a": 1}], "c": "}"}"#),
            None
        );
        assert_eq!(found(r#"{"a\"b": 1, "a\"b": 2}"#).as_deref(), Some("a\"b"));
        // The same key in two objects is not twice.
        assert_eq!(found(r#"[{"a": 1}, {"a": 2}]"#), None);
        assert_eq!(
            found(r#"{"x": [[1, {"k": 1, "k": 1}]]}"#).as_deref(),
            Some("x[0][1].k")
        );
    }
}

//! The payload Envoy's `jwt_authn` filter verified, decoded from the request's dynamic metadata.
//!
//! `jwt_authn` with `payload_in_metadata: <key>` stores a verified token's payload as a
//! `google.protobuf.Struct` at `filter_metadata["envoy.filters.http.jwt_authn"].fields[<key>]`.
//! Envoy 1.40 answers the proxy-wasm `metadata` property with the whole dynamic metadata
//! serialized as an `envoy.config.core.v3.Metadata` protobuf message (measured). Deeper paths
//! (`metadata.filter_metadata.<namespace>.<key>`) come back as proxy-wasm pairs instead, which
//! carry no types (a number is 8 raw bytes, a list a map with empty values) and fail to
//! serialize at all when one claim is `null`: the protobuf form is the one read here.
//!
//! The messages read (proto3 wire format; every other field is skipped by its wire type):
//! * `Metadata`: `map<string, Struct> filter_metadata = 1`;
//! * `Struct`: `map<string, Value> fields = 1` (a map entry: `key = 1`, `value = 2`);
//! * `Value`: oneof `null_value = 1` (varint), `number_value = 2` (64-bit double),
//!   `string_value = 3`, `bool_value = 4` (varint), `struct_value = 5`, `list_value = 6`;
//! * `ListValue`: `repeated Value values = 1`.
//!
//! As protobuf parsers do, a map key or a oneof member given twice: the last wins. A truncated
//! field, a known field with the wrong wire type, a string that is not UTF-8, a group (wire
//! types 3, 4) or an unknown wire type, and nesting deeper than [`MAX_DEPTH`] are
//! [`JwtError::Malformed`]. Nothing here panics, and recursion is bounded by [`MAX_DEPTH`].

use super::claims::{self, Claims};
use super::{JwtError, JwtRules};
use serde_json::{Map, Number, Value};

/// The dynamic metadata namespace `jwt_authn` writes to.
pub const JWT_AUTHN_NAMESPACE: &str = "envoy.filters.http.jwt_authn";

/// Deepest nesting of structs and lists accepted in a payload.
pub const MAX_DEPTH: usize = 32;

/// The claims `jwt_authn` verified and stored under `key` in `metadata` (the serialized
/// `Metadata`), checked against `rules` at `now` like a token's claims (`exp` required; `nbf`,
/// `iss`, `aud`). `Ok(None)`: `jwt_authn` stored no payload under `key`.
pub fn verified_by_jwt_authn(
    metadata: &[u8],
    key: &str,
    rules: &JwtRules,
    now: u64,
) -> Result<Option<Claims>, JwtError> {
    let Some(payload) = jwt_authn_payload(metadata, key)? else {
        return Ok(None);
    };
    claims::check(&payload, rules, now)?;
    Ok(Some(Claims::new(payload)))
}

/// The payload stored under `key` in the `jwt_authn` namespace of `metadata`, as JSON.
/// `Ok(None)` when the namespace or the key is absent; a value that is not a struct is
/// [`JwtError::Malformed`].
pub fn jwt_authn_payload(
    metadata: &[u8],
    key: &str,
) -> Result<Option<Map<String, Value>>, JwtError> {
    let Some(namespace) = map_entry(metadata, JWT_AUTHN_NAMESPACE)? else {
        return Ok(None);
    };
    let Some(payload) = map_entry(namespace, key)? else {
        return Ok(None);
    };
    match value(payload, 0)? {
        Value::Object(map) => Ok(Some(map)),
        _ => Err(JwtError::Malformed),
    }
}

/// A field's payload, by wire type.
enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32,
}

/// The fields of one message, in order.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn new(message: &'a [u8]) -> Fields<'a> {
        Fields { rest: message }
    }

    fn varint(&mut self) -> Result<u64, JwtError> {
        let mut n: u64 = 0;
        for i in 0..10 {
            let (&byte, rest) = self.rest.split_first().ok_or(JwtError::Malformed)?;
            self.rest = rest;
            n |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(JwtError::Malformed)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], JwtError> {
        if len > self.rest.len() {
            return Err(JwtError::Malformed);
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    /// The next field number and payload; `None` at the end of the message.
    fn next_field(&mut self) -> Result<Option<(u64, Field<'a>)>, JwtError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let field = match tag & 7 {
            0 => Field::Varint(self.varint()?),
            1 => {
                let bytes: [u8; 8] = self.take(8)?.try_into().map_err(|_| JwtError::Malformed)?;
                Field::Fixed64(u64::from_le_bytes(bytes))
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| JwtError::Malformed)?;
                Field::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Field::Fixed32
            }
            _ => return Err(JwtError::Malformed),
        };
        Ok(Some((tag >> 3, field)))
    }
}

/// Iterates a message's fields (an error ends the iteration as its last item).
impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Field<'a>), JwtError>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = self.next_field();
        if next.is_err() {
            self.rest = &[];
        }
        next.transpose()
    }
}

/// A length-delimited field's bytes; any other wire type is malformed.
fn bytes(field: Field<'_>) -> Result<&[u8], JwtError> {
    match field {
        Field::Bytes(b) => Ok(b),
        _ => Err(JwtError::Malformed),
    }
}

fn text(bytes: &[u8]) -> Result<&str, JwtError> {
    std::str::from_utf8(bytes).map_err(|_| JwtError::Malformed)
}

/// A map entry message: its key (field 1) and value bytes (field 2, empty when absent).
fn entry(message: &[u8]) -> Result<(&str, &[u8]), JwtError> {
    let (mut key, mut value): (&[u8], &[u8]) = (&[], &[]);
    for field in Fields::new(message) {
        match field? {
            (1, f) => key = bytes(f)?,
            (2, f) => value = bytes(f)?,
            _ => {}
        }
    }
    Ok((text(key)?, value))
}

/// The value of `wanted` in a message whose field 1 is a `map<string, message>` (`Metadata`'s
/// `filter_metadata`, `Struct`'s `fields`): the last entry with that key.
fn map_entry<'a>(message: &'a [u8], wanted: &str) -> Result<Option<&'a [u8]>, JwtError> {
    let mut found = None;
    for field in Fields::new(message) {
        if let (1, f) = field? {
            let (key, value) = entry(bytes(f)?)?;
            if key == wanted {
                found = Some(value);
            }
        }
    }
    Ok(found)
}

/// A `google.protobuf.Value` as JSON (no kind set: null; a non-finite number: null).
fn value(message: &[u8], depth: usize) -> Result<Value, JwtError> {
    if depth > MAX_DEPTH {
        return Err(JwtError::Malformed);
    }
    let mut out = Value::Null;
    for field in Fields::new(message) {
        out = match field? {
            (1, Field::Varint(_)) => Value::Null,
            (2, Field::Fixed64(bits)) => Number::from_f64(f64::from_bits(bits))
                .map(Value::Number)
                .unwrap_or(Value::Null),
            (3, Field::Bytes(s)) => Value::String(text(s)?.to_string()),
            (4, Field::Varint(b)) => Value::Bool(b != 0),
            (5, Field::Bytes(s)) => Value::Object(structure(s, depth + 1)?),
            (6, Field::Bytes(l)) => Value::Array(list(l, depth + 1)?),
            (1..=6, _) => return Err(JwtError::Malformed),
            _ => continue,
        };
    }
    Ok(out)
}

/// A `google.protobuf.Struct` as a JSON object.
fn structure(message: &[u8], depth: usize) -> Result<Map<String, Value>, JwtError> {
    let mut map = Map::new();
    for field in Fields::new(message) {
        if let (1, f) = field? {
            let (key, v) = entry(bytes(f)?)?;
            map.insert(key.to_string(), value(v, depth)?);
        }
    }
    Ok(map)
}

/// A `google.protobuf.ListValue` as a JSON array.
fn list(message: &[u8], depth: usize) -> Result<Vec<Value>, JwtError> {
    let mut items = Vec::new();
    for field in Fields::new(message) {
        if let (1, f) = field? {
            items.push(value(bytes(f)?, depth)?);
        }
    }
    Ok(items)
}

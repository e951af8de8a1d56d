//! A small reader over `serde_json::Value` that remembers where it is, so every
//! configuration error names its JSON path (`services[1].proxy.proxy_rules[3].delta`).

use serde_json::{Map, Value};
use std::cell::Cell;
use std::fmt;

/// An invalid configuration: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

pub type Result<T> = std::result::Result<T, ConfigError>;

pub fn error(path: &str, message: impl Into<String>) -> ConfigError {
    error_with(path, message.into())
}

/// [`error`]'s body, out of line: it has hundreds of callers, each read once per load, and a
/// copy in every one costs module bytes (measured: the `Obj` helpers below likewise).
#[inline(never)]
fn error_with(path: &str, message: String) -> ConfigError {
    ConfigError {
        path: path.to_string(),
        message,
    }
}

/// One field of an object: its path, its name and its value.
pub type Entry<'a> = (String, &'a str, &'a Value);

/// Field `i`'s bit in [`Obj`]'s `read`; none past the 64th, which is then never read.
fn bit(i: usize) -> u64 {
    1u64.checked_shl(i as u32).unwrap_or(0)
}

/// Refuses the first JSON `null` in `value`, itself included. For a policy's configuration:
/// porta writes none and APIcast fails on one (cjson's null is truthy), so reading it as
/// absent could weaken a check (a null `allow_origin` echoing every origin, say).
pub fn deny_nulls(path: &str, value: &Value) -> Result<()> {
    match value {
        Value::Null => Err(error(
            path,
            "null, which APIcast cannot read: leave the field out for its default",
        )),
        Value::Array(items) => {
            (items.iter().enumerate()).try_for_each(|(i, v)| deny_nulls(&format!("{path}[{i}]"), v))
        }
        Value::Object(map) => {
            (map.iter()).try_for_each(|(k, v)| deny_nulls(&format!("{path}.{k}"), v))
        }
        _ => Ok(()),
    }
}

/// A JSON object together with its path.
pub struct Obj<'a> {
    pub path: String,
    map: &'a Map<String, Value>,
    /// Bit i: the i-th field was looked up ([`Obj::deny_unread`]).
    read: Cell<u64>,
}

impl<'a> Obj<'a> {
    #[inline(never)]
    pub fn new(path: &str, value: &'a Value) -> Result<Obj<'a>> {
        match value {
            Value::Object(map) => Ok(Obj {
                path: path.to_string(),
                map,
                read: Cell::new(0),
            }),
            _ => Err(error(path, "expected an object")),
        }
    }

    #[inline(never)]
    pub fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{}", self.path, key)
        }
    }

    /// The value of `key`; JSON `null` counts as absent (3scale exports write nulls for unset fields).
    #[inline(never)]
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.raw(key).filter(|v| !v.is_null())
    }

    /// The value of `key` as written, a JSON `null` included: for a field whose null must
    /// not read as its default.
    #[inline(never)]
    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        let (i, (_, v)) = self.map.iter().enumerate().find(|(_, (k, _))| *k == key)?;
        self.read.set(self.read.get() | bit(i));
        Some(v)
    }

    /// Refuses the first field no accessor looked up: one the parser does not know (a typo),
    /// without a list of the known ones (each costs module bytes). Call it after the parser.
    #[inline(never)]
    pub fn deny_unread(&self) -> Result<()> {
        match (self.map.keys().enumerate()).find(|(i, _)| self.read.get() & bit(*i) == 0) {
            Some((_, k)) => Err(error(&self.child_path(k), "unknown field")),
            None => Ok(()),
        }
    }

    /// Refuses the first JSON `null` in the object, at any depth ([`deny_nulls`]).
    #[inline(never)]
    pub fn deny_nulls(&self) -> Result<()> {
        (self.map.iter()).try_for_each(|(k, v)| deny_nulls(&self.child_path(k), v))
    }

    /// The object's field names.
    pub fn keys(&self) -> impl Iterator<Item = &'a str> {
        self.map.keys().map(String::as_str)
    }

    /// Refuses fields that are not in `known`, so that a typo cannot silently change behaviour.
    #[inline(never)]
    pub fn deny_unknown(&self, known: &[&str]) -> Result<()> {
        match self.map.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(error(
                &self.child_path(k),
                format!("unknown field (expected one of: {})", known.join(", ")),
            )),
            None => Ok(()),
        }
    }

    #[inline(never)]
    pub fn obj(&self, key: &str) -> Result<Option<Obj<'a>>> {
        self.get(key)
            .map(|v| Obj::new(&self.child_path(key), v))
            .transpose()
    }

    #[inline(never)]
    pub fn string(&self, key: &str) -> Result<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(error(&self.child_path(key), "expected a string")),
        }
    }

    #[inline(never)]
    pub fn required_string(&self, key: &str) -> Result<&'a str> {
        self.string(key)?
            .ok_or_else(|| error(&self.child_path(key), "missing required field"))
    }

    /// A string that must not be empty when present.
    #[inline(never)]
    pub fn non_empty_string(&self, key: &str) -> Result<Option<&'a str>> {
        match self.string(key)? {
            Some("") => Err(error(&self.child_path(key), "must not be empty")),
            other => Ok(other),
        }
    }

    #[inline(never)]
    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(error(&self.child_path(key), "expected a boolean")),
        }
    }

    /// A non-negative integer (a JSON number without fraction).
    #[inline(never)]
    pub fn uint(&self, key: &str) -> Result<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| error(&self.child_path(key), "expected a non-negative integer")),
        }
    }

    /// A value 3scale writes either as a number or as a string (`id`, `backend_version`).
    #[inline(never)]
    pub fn number_or_string(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Ok(Some(n.to_string())),
            Some(_) => Err(error(
                &self.child_path(key),
                "expected a string or an integer",
            )),
        }
    }

    /// An array of values, each handed to `item` with its indexed path.
    pub fn array<T>(
        &self,
        key: &str,
        mut item: impl FnMut(&str, &'a Value) -> Result<T>,
    ) -> Result<Option<Vec<T>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => {
                let base = self.child_path(key);
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| item(&format!("{base}[{i}]"), v))
                    .collect::<Result<Vec<T>>>()
                    .map(Some)
            }
            Some(_) => Err(error(&self.child_path(key), "expected an array")),
        }
    }

    /// The entries of an object field, with their paths.
    #[inline(never)]
    pub fn entries(&self, key: &str) -> Result<Option<Vec<Entry<'a>>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => {
                let base = self.child_path(key);
                Ok(Some(
                    map.iter()
                        .map(|(k, v)| (format!("{base}.{k}"), k.as_str(), v))
                        .collect(),
                ))
            }
            Some(_) => Err(error(&self.child_path(key), "expected an object")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_name_the_path() {
        let v = json!({"a": {"b": [1, "x"]}});
        let root = Obj::new("", &v).unwrap();
        let a = root.obj("a").unwrap().unwrap();
        let err = a
            .array("b", |path, v| {
                v.as_u64().ok_or_else(|| error(path, "expected an integer"))
            })
            .unwrap_err();
        assert_eq!(err.to_string(), "a.b[1]: expected an integer");
    }

    #[test]
    fn null_is_absent_and_unknown_fields_are_named() {
        let v = json!({"x": null, "typo": 1});
        let root = Obj::new("backend", &v).unwrap();
        assert_eq!(root.string("x").unwrap(), None);
        let err = root.deny_unknown(&["x"]).unwrap_err();
        assert_eq!(err.path, "backend.typo");
    }

    #[test]
    fn the_first_null_is_refused_with_its_path() {
        let v = json!({"a": 1, "b": [{"c": "x"}, {"d": null}]});
        let err = deny_nulls("p.configuration", &v).unwrap_err();
        assert_eq!(err.path, "p.configuration.b[1].d");
        assert_eq!(deny_nulls("p", &json!([null])).unwrap_err().path, "p[0]");
        assert_eq!(deny_nulls("p", &Value::Null).unwrap_err().path, "p");
        assert_eq!(deny_nulls("p", &json!({"a": [1, "", {}, []]})), Ok(()));
        let o = Obj::new("p", &v).unwrap();
        assert_eq!(o.deny_nulls().unwrap_err().path, "p.b[1].d");
        // `raw` keeps the null that `get` reads as absent, and marks the field read.
        let v = json!({"n": null});
        let o = Obj::new("o", &v).unwrap();
        assert_eq!(o.get("n"), None);
        assert_eq!(o.raw("n"), Some(&Value::Null));
        assert_eq!(o.deny_unread(), Ok(()));
    }

    #[test]
    fn a_field_no_accessor_looked_up_is_unread() {
        let v = json!({"x": null, "y": 1, "typo": 1});
        let root = Obj::new("p", &v).unwrap();
        assert_eq!(root.string("x").unwrap(), None);
        assert_eq!(root.uint("y").unwrap(), Some(1));
        assert_eq!(root.get("absent"), None);
        assert_eq!(
            root.deny_unread().unwrap_err().to_string(),
            "p.typo: unknown field"
        );
        root.get("typo");
        assert_eq!(root.deny_unread(), Ok(()));
        // Past the 64th field nothing is marked: an object that large is refused.
        let big: Map<String, Value> = (0..70).map(|i| (format!("k{i:02}"), json!(i))).collect();
        let big = Value::Object(big);
        let root = Obj::new("b", &big).unwrap();
        for i in 0..70 {
            root.get(&format!("k{i:02}"));
        }
        assert_eq!(root.deny_unread().unwrap_err().path, "b.k64");
    }
}

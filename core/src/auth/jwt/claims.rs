//! The verified payload, and the registered-claims checks.

use super::{JwtError, JwtRules};
use serde_json::{Map, Number, Value};

/// The payload of a verified token.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    map: Map<String, Value>,
}

impl Claims {
    pub(super) fn new(map: Map<String, Value>) -> Claims {
        Claims { map }
    }

    /// Claims as a verified token would carry them, for tests elsewhere in the crate.
    #[cfg(test)]
    pub(crate) fn of(map: Map<String, Value>) -> Claims {
        Claims { map }
    }

    /// A claim as a string (`azp`, `sub`, `client_id`, ...); for an array, its first element
    /// if that is a string (APIcast's `app_id[1]`, as [`Claims::identifier`]: a later string
    /// element is never taken instead). `None` when missing or of another type. The filter
    /// reads ids with `identifier`; this is the tests' and fuzz targets' plain reading.
    pub fn string(&self, name: &str) -> Option<&str> {
        match self.map.get(name)? {
            Value::String(s) => Some(s),
            Value::Array(items) => items.first()?.as_str(),
            _ => None,
        }
    }

    /// A claim as APIcast passes it on as an id (`app_id` from `azp`, a local caller's `sub`):
    /// a string as is, a number as [`Claims::render`] writes it (APIcast sends `azp: 5` as
    /// `app_id=5`), an array its first element so read (APIcast's `app_id[1]`, whatever
    /// follows it). `None` when missing or of another type.
    pub fn identifier(&self, name: &str) -> Option<String> {
        let scalar = |value: &Value| match value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(number_text(n)),
            _ => None,
        };
        match self.map.get(name)? {
            Value::Array(items) => items.first().and_then(scalar),
            other => scalar(other),
        }
    }

    /// The strings at a dotted path (`roles`, `realm_access.roles`,
    /// `resource_access.my-client.roles`, `scope`): an array gives its string elements, a
    /// string its words separated by ASCII spaces (OAuth `scope`). Missing or of another type: empty.
    ///
    /// A claim whose own name contains dots (`https://example.com/roles`) is found too: the
    /// whole path is first looked up as a top-level name.
    pub fn strings_at(&self, dotted_path: &str) -> Vec<String> {
        let value = match self.map.get(dotted_path) {
            Some(value) => Some(value),
            None => lookup(&self.map, dotted_path),
        };
        match value {
            // Words split on the ASCII space only (RFC 6749 §3.3): `billing\u{a0}admin` is
            // one role, not `admin` (found by an audit).
            Some(Value::String(s)) => s
                .split(' ')
                .filter(|word| !word.is_empty())
                .map(str::to_string)
                .collect(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// A claim's raw value.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.map.get(name)
    }

    /// All claims.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.map
    }

    /// A claim as APIcast's Liquid renders `{{a.b}}` (`jwt_claim_check`, `routing`): a string
    /// as is, a number as [`number_text`] writes it, a boolean as written, an array its
    /// elements one after another, anything else (missing, null, an object) empty.
    pub fn render(&self, dotted_path: &str) -> String {
        fn text(value: &Value, out: &mut String) {
            match value {
                Value::String(s) => out.push_str(s),
                Value::Number(n) => out.push_str(&number_text(n)),
                Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                Value::Array(items) => items.iter().for_each(|v| text(v, out)),
                Value::Null | Value::Object(_) => {}
            }
        }
        let mut out = String::new();
        if let Some(value) = lookup(&self.map, dotted_path) {
            text(value, &mut out);
        }
        out
    }
}

/// A number as APIcast writes a Lua number (LuaJIT's `%.14g`): a whole one as an integer.
/// Envoy's `jwt_authn` stores every JSON number as a double, so `"tier": 0` arrives as 0.0,
/// which must read "0" as in APIcast, not "0.0" (a `!= "0"` rule let the free tier through:
/// found by an audit, 2026-12-06). Other fractions are written as Rust writes them.
pub(crate) fn number_text(n: &Number) -> String {
    // -2^63 up to 2^63 (excluded): i64's range, where the conversion is exact.
    let i64_range = (i64::MIN as f64)..-(i64::MIN as f64);
    match n.as_f64() {
        Some(f) if n.is_f64() && f.fract() == 0.0 && i64_range.contains(&f) => {
            (f as i64).to_string()
        }
        _ => n.to_string(),
    }
}

fn lookup<'a>(map: &'a Map<String, Value>, dotted_path: &str) -> Option<&'a Value> {
    let mut segments = dotted_path.split('.');
    let mut value = map.get(segments.next()?)?;
    for segment in segments {
        value = value.as_object()?.get(segment)?;
    }
    Some(value)
}

/// A NumericDate (RFC 7519 §2) in whole seconds: a fraction is floored, a negative value
/// counts as 0 and a huge one saturates. `None` for a value that is not a number.
fn numeric_date(value: &Value) -> Option<u64> {
    let Value::Number(number) = value else {
        return None;
    };
    if let Some(n) = number.as_u64() {
        return Some(n);
    }
    if number.as_i64().is_some() {
        return Some(0); // negative
    }
    let f = number.as_f64()?;
    if f.is_nan() {
        return None;
    }
    // `as` saturates: negative → 0, beyond u64::MAX → u64::MAX.
    Some(f.floor() as u64)
}

/// Checks `exp`, `nbf`, `iss`, `aud` and the OpenID Connect profile (see the module
/// documentation).
pub(super) fn check(
    map: &Map<String, Value>,
    rules: &JwtRules,
    now_s: u64,
) -> Result<(), JwtError> {
    let leeway = rules.leeway_s;
    match map.get("exp") {
        None | Some(Value::Null) => return Err(JwtError::Expired),
        Some(value) => {
            let exp = numeric_date(value).ok_or(JwtError::Malformed)?;
            if exp.saturating_add(leeway) <= now_s {
                return Err(JwtError::Expired);
            }
        }
    }
    match map.get("nbf") {
        None | Some(Value::Null) => {}
        Some(value) => {
            let nbf = numeric_date(value).ok_or(JwtError::Malformed)?;
            if nbf > now_s.saturating_add(leeway) {
                return Err(JwtError::NotYetValid);
            }
        }
    }
    if let Some(issuer) = &rules.issuer {
        if map.get("iss").and_then(Value::as_str) != Some(issuer.as_str()) {
            return Err(JwtError::WrongIssuer);
        }
    }
    if !rules.audiences.is_empty() {
        let accepted = |aud: &str| rules.audiences.iter().any(|a| a == aud);
        let ok = match map.get("aud") {
            Some(Value::String(aud)) => accepted(aud),
            Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).any(accepted),
            _ => false,
        };
        if !ok {
            return Err(JwtError::WrongAudience);
        }
    }
    // APIcast's `oauth/oidc.lua`: a Keycloak ID (`typ: ID`) or refresh token is no access token.
    if rules.oidc {
        let missing = |claim| map.get(claim).is_none_or(Value::is_null);
        if missing("iss")
            || missing("sub")
            || missing("aud")
            || map.get("iat").is_some_and(|t| t.as_f64() <= Some(0.0))
            || map.get("typ").is_some_and(|t| *t != "Bearer")
        {
            return Err(JwtError::NotAccessToken);
        }
    }
    Ok(())
}

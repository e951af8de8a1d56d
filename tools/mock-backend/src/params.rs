//! Rack-compatible parameter parsing: `application/x-www-form-urlencoded`
//! decoding and `parse_nested_query` (`usage[hits]=1`, `transactions[0][usage][m]=2`).

/// Rack's default limits (Rack 3.1).
const PARAMS_LIMIT: usize = 4096;
const BYTESIZE_LIMIT: usize = 4 * 1024 * 1024;
const DEPTH_LIMIT: usize = 32;

/// A parsed (possibly nested) parameter value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A key without `=` (`no_body` rather than `no_body=`).
    Null,
    Str(String),
    Arr(Vec<Value>),
    Hash(Hash),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_hash(&self) -> Option<&Hash> {
        match self {
            Value::Hash(h) => Some(h),
            _ => None,
        }
    }

    /// Ruby truthiness: only `nil` is falsy here.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Ruby's `blank?`: nil, whitespace-only strings, empty arrays and hashes.
    pub fn is_blank(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Str(s) => s.trim().is_empty(),
            Value::Arr(a) => a.is_empty(),
            Value::Hash(h) => h.is_empty(),
        }
    }
}

/// An insertion-ordered hash (Ruby semantics: re-assigning a key keeps its position).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hash(Vec<(String, Value)>);

impl Hash {
    pub fn new() -> Hash {
        Hash(Vec::new())
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value under `key` if it is a string.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    pub fn insert(&mut self, key: &str, value: Value) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key.to_string(), value)),
        }
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        self.0
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, v)| std::mem::replace(v, Value::Null))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Shallow merge, `other` wins (Sinatra's `GET.merge(POST)`).
    pub fn merge(&mut self, other: Hash) {
        for (k, v) in other.0 {
            self.insert(&k, v);
        }
    }
}

/// Why a query could not be parsed (Rack raises; apisonator answers 400 `bad_request`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Invalid `%`-encoding.
    Encoding,
    /// Conflicting nesting (`usage[]=1&usage[hits]=1`) or nesting too deep.
    Syntax,
    /// Over Rack's parameter-count or byte-size limit; the message is Rack's.
    Limit(String),
}

impl ParseError {
    /// The `bad_request` message apisonator returns.
    pub fn message(&self) -> String {
        match self {
            ParseError::Encoding => "Invalid query parameters: invalid %-encoding".to_string(),
            ParseError::Syntax => {
                "request contains syntax errors, should not be repeated without modification"
                    .to_string()
            }
            ParseError::Limit(m) => m.clone(),
        }
    }
}

/// Result of parsing a query string or form body.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub params: Hash,
    /// Some decoded key or value was not valid UTF-8 (replaced lossily).
    pub invalid_utf8: bool,
}

/// Percent-decodes one form component (`+` is a space). `Err` on bad `%` escapes.
pub fn decode_component(s: &str) -> Result<Vec<u8>, ParseError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|b| (*b as char).to_digit(16));
                let lo = bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16));
                match (hi, lo) {
                    // Two hex digits always fit in a byte.
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => return Err(ParseError::Encoding),
                }
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Ok(out)
}

/// Decodes into a `String` (lossy), noting invalid UTF-8.
fn decode_string(s: &str, invalid_utf8: &mut bool) -> Result<String, ParseError> {
    let bytes = decode_component(s)?;
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) => {
            *invalid_utf8 = true;
            Ok(String::from_utf8_lossy(e.as_bytes()).into_owned())
        }
    }
}

/// Decoded `(key, value)` pairs; `None` value for a key without `=`.
pub type Pairs = Vec<(String, Option<String>)>;

/// Splits a query into decoded pairs; the flag tells whether some were not valid UTF-8.
pub fn parse_pairs(qs: &str) -> Result<(Pairs, bool), ParseError> {
    let mut invalid = false;
    let mut out = Vec::new();
    for piece in qs.split('&') {
        let piece = piece.trim_start_matches(' ');
        if piece.is_empty() {
            continue;
        }
        let (k, v) = match piece.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (piece, None),
        };
        let k = decode_string(k, &mut invalid)?;
        let v = match v {
            Some(v) => Some(decode_string(v, &mut invalid)?),
            None => None,
        };
        out.push((k, v));
    }
    Ok((out, invalid))
}

/// Decoded pairs, ignoring malformed escapes (for request recording).
pub fn lossy_pairs(qs: &str) -> Vec<(String, String)> {
    qs.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| match decode_component(s) {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(_) => s.to_string(),
            };
            (dec(k), dec(v))
        })
        .collect()
}

/// Rack's `parse_nested_query`.
pub fn parse_nested(qs: &str) -> Result<Parsed, ParseError> {
    if qs.len() > BYTESIZE_LIMIT {
        return Err(ParseError::Limit(format!(
            "total query size ({}) exceeds limit ({BYTESIZE_LIMIT})",
            qs.len()
        )));
    }
    let count = qs.matches('&').count() + 1;
    if !qs.is_empty() && count > PARAMS_LIMIT {
        return Err(ParseError::Limit(format!(
            "total number of query parameters ({count}) exceeds limit ({PARAMS_LIMIT})"
        )));
    }
    let (pairs, invalid_utf8) = parse_pairs(qs)?;
    let mut parsed = parse_nested_pairs(pairs)?;
    parsed.invalid_utf8 = invalid_utf8;
    Ok(parsed)
}

/// Builds nested params from already decoded pairs (`None`: key without `=`).
pub fn parse_nested_pairs(pairs: Pairs) -> Result<Parsed, ParseError> {
    let mut params = Hash::new();
    for (k, v) in pairs {
        let v = v.map_or(Value::Null, Value::Str);
        normalize(&mut params, &k, v, 0)?;
    }
    Ok(Parsed {
        params,
        invalid_utf8: false,
    })
}

enum Norm {
    Params,
    Nothing,
    Array(Vec<Value>),
}

fn norm_to_value(n: Norm, params: Hash) -> Value {
    match n {
        Norm::Params => Value::Hash(params),
        Norm::Nothing => Value::Null,
        Norm::Array(a) => Value::Arr(a),
    }
}

/// Port of Rack 3's `_normalize_params`.
fn normalize(params: &mut Hash, name: &str, v: Value, depth: usize) -> Result<Norm, ParseError> {
    if depth >= DEPTH_LIMIT {
        return Err(ParseError::Syntax);
    }
    let (k, after): (&str, &str) = if depth == 0 {
        match name.get(1..).and_then(|s| s.find('[')) {
            Some(i) => (&name[..i + 1], &name[i + 1..]),
            None => (name, ""),
        }
    } else if let Some(rest) = name.strip_prefix("[]") {
        ("[]", rest)
    } else if let Some(end) = name.strip_prefix('[').and_then(|s| s.find(']')) {
        (&name[1..end + 1], &name[end + 2..])
    } else {
        (name, "")
    };
    if k.is_empty() {
        return Ok(Norm::Nothing);
    }
    if after.is_empty() {
        if k == "[]" && depth != 0 {
            return Ok(Norm::Array(vec![v]));
        }
        params.insert(k, v);
    } else if after == "[" {
        params.insert(name, v);
    } else if after == "[]" {
        let mut arr = take_array(params, k)?;
        arr.push(v);
        params.insert(k, Value::Arr(arr));
    } else if let Some(tail) = after.strip_prefix("[]") {
        let child_key = match tail.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            Some(c) if !c.is_empty() && !c.contains('[') && !c.contains(']') => c,
            _ => tail,
        };
        let mut arr = take_array(params, k)?;
        let reuse_last = matches!(arr.last(), Some(Value::Hash(h)) if !hash_has_key(h, child_key));
        if reuse_last {
            if let Some(Value::Hash(mut last)) = arr.pop() {
                let n = normalize(&mut last, child_key, v, depth + 1)?;
                // Rack ignores the return value here; the hash was mutated in place.
                let _ = n;
                arr.push(Value::Hash(last));
            }
        } else {
            let mut fresh = Hash::new();
            let n = normalize(&mut fresh, child_key, v, depth + 1)?;
            arr.push(norm_to_value(n, fresh));
        }
        params.insert(k, Value::Arr(arr));
    } else {
        let mut child = match params.take(k) {
            None | Some(Value::Null) => Hash::new(),
            Some(Value::Hash(h)) => h,
            Some(_) => return Err(ParseError::Syntax),
        };
        let n = normalize(&mut child, after, v, depth + 1)?;
        params.insert(k, norm_to_value(n, child));
    }
    Ok(Norm::Params)
}

fn take_array(params: &mut Hash, k: &str) -> Result<Vec<Value>, ParseError> {
    match params.take(k) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Arr(a)) => Ok(a),
        Some(other) => {
            params.insert(k, other);
            Err(ParseError::Syntax)
        }
    }
}

/// Rack's `params_hash_has_key?`.
fn hash_has_key(hash: &Hash, key: &str) -> bool {
    if key.contains("[]") {
        return false;
    }
    let mut cur = hash;
    let parts: Vec<&str> = key.split(['[', ']']).filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        match cur.get(part) {
            Some(Value::Hash(h)) => cur = h,
            Some(_) if i + 1 == parts.len() => return true,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(qs: &str) -> Hash {
        parse_nested(qs).unwrap().params
    }

    #[test]
    fn flat_and_nested() {
        let h = p("service_id=1&usage%5Bhits%5D=2&usage[get_foo]=3&no_body");
        assert_eq!(h.str("service_id"), Some("1"));
        let usage = h.get("usage").unwrap().as_hash().unwrap();
        assert_eq!(usage.str("hits"), Some("2"));
        assert_eq!(usage.str("get_foo"), Some("3"));
        assert_eq!(h.get("no_body"), Some(&Value::Null));
    }

    #[test]
    fn transactions() {
        let h = p(
            "transactions[0][app_id]=a&transactions[0][usage][hits]=1&transactions[1][user_key]=u",
        );
        let t = h.get("transactions").unwrap().as_hash().unwrap();
        assert_eq!(t.len(), 2);
        let t0 = t.get("0").unwrap().as_hash().unwrap();
        assert_eq!(t0.str("app_id"), Some("a"));
        let arr = p("transactions[][app_id]=a&transactions[][app_id]=b");
        match arr.get("transactions").unwrap() {
            Value::Arr(a) => assert_eq!(a.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn non_hash_values() {
        assert_eq!(p("usage=1").get("usage"), Some(&Value::Str("1".into())));
        assert!(matches!(p("usage[]=1").get("usage"), Some(Value::Arr(_))));
        assert!(matches!(p("app_id[]=x").get("app_id"), Some(Value::Arr(_))));
        let h = p("usage[hits][x]=1");
        let u = h.get("usage").unwrap().as_hash().unwrap();
        assert!(matches!(u.get("hits"), Some(Value::Hash(_))));
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_nested("usage[]=1&usage[hits]=1").unwrap_err(),
            ParseError::Syntax
        );
        assert_eq!(parse_nested("a=%zz").unwrap_err(), ParseError::Encoding);
        assert_eq!(parse_nested("a=%4").unwrap_err(), ParseError::Encoding);
        assert!(parse_nested("a=%FF").unwrap().invalid_utf8);
        let many = vec!["a=1"; 4097].join("&");
        assert!(matches!(parse_nested(&many), Err(ParseError::Limit(_))));
    }

    #[test]
    fn plus_is_space() {
        assert_eq!(p("a=b+c%20d").str("a"), Some("b c d"));
    }
}

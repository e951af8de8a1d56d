//! Request arguments as APIcast sees them (reference §1.2 and §2.2 "Args source").
//!
//! nginx has two views of one query string, and both are kept:
//! - `ngx.req.get_uri_args()` / `get_post_args()`, used by mapping rules
//!   ([`QueryArgs::last`], [`QueryArgs::iter`]). Names and values are decoded once, with
//!   `+` as a space: lua-nginx-module's unescape does that (`?a%20b=1%61+2` gives
//!   `a b` = `1a 2`). Empty names are dropped, and only the first 100 `&`-separated
//!   pieces are read (the default `max_args`).
//! - `$arg_<name>`, used by credentials ([`QueryArgs::first_ci`]). The name is matched
//!   case-insensitively, the first valued occurrence wins, and there is no limit.

use super::arg_names::is_spelling_of;
use crate::encoding::decode_form_component;
use percent_encoding::percent_decode;

/// lua-nginx-module's default `max_args` for `get_uri_args`/`get_post_args`.
const MAX_ARGS: usize = 100;

/// The value of one argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgValue {
    /// `name=value`: the decoded value, possibly empty.
    Present(String),
    /// `?flag` without `=` (Lua `true`): present, but equal to no literal.
    NoValue,
}

/// One argument as credentials see it, in request order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arg {
    /// URI query, as `$arg_` sees it: the raw text, plus a `decode_component` version, as
    /// spans of [`QueryArgs::text`]: an argument costs no allocation of its own.
    Uri {
        raw_name: Span,
        raw_value: Span,
        name: Span,
        value: Span,
        /// `name=value` rather than `name` alone.
        valued: bool,
    },
    /// Form body, at this index of [`QueryArgs::rules`]: APIcast's `read_body_args`
    /// indexes the decoded `get_post_args` table, so the name is matched exactly.
    Form(usize),
}

fn last_in<'a>(rules: &'a [(String, ArgValue)], name: &str) -> Option<&'a ArgValue> {
    rules
        .iter()
        .rev()
        .find(|(arg, _)| arg == name)
        .map(|(_, value)| value)
}

/// A byte range of [`QueryArgs::text`] (a query is far shorter than 4 GB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn shifted(self, by: u32) -> Span {
        Span {
            start: self.start.saturating_add(by),
            end: self.end.saturating_add(by),
        }
    }
}

/// Arguments in request order; overlaid body args come after the URI args.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryArgs {
    /// What mapping rules see: the first `MAX_ARGS` args of each source, decoded.
    rules: Vec<(String, ArgValue)>,
    /// What credentials see: every URI arg, and the form args.
    args: Vec<Arg>,
    /// The raw and decoded texts of the URI args, end to end.
    text: String,
    /// A named arg lies beyond the first `MAX_ARGS` pieces of a source: rules do not see it.
    truncated: bool,
    /// The query as parsers that also split on `;` read it (Rack 2, so Rails up to 7.0;
    /// Python before 3.9.2; Go before 1.17), when it has a `;`: `?x=1;scope=all` has a
    /// `scope` for them. A name it reads otherwise is ambiguous.
    semicolons: Option<Box<QueryArgs>>,
    /// Rule args from this index on came from a form body APIcast does not read (on a
    /// method other than `POST`, `PUT` or `PATCH`): Tollgate's wider reading, which may
    /// count a rule but not end the evaluation APIcast goes on with (`last`).
    wider_from: Option<usize>,
}

impl QueryArgs {
    /// Parses a raw URI query string (without the leading `?`). Linear; only the first
    /// `MAX_ARGS` args (those rules see) allocate strings of their own.
    pub fn parse(query: &str) -> QueryArgs {
        // The raw spans point into this copy of the query; decoded ones are appended.
        let mut parsed = QueryArgs {
            text: String::from(query),
            ..QueryArgs::default()
        };
        let mut scratch = Vec::new();
        for piece in scan(query) {
            let raw_value = query.get(piece.value.clone());
            let raw_name = query.get(piece.name.clone()).unwrap_or_default();
            if piece.index < MAX_ARGS {
                parsed.rules.push(rule_view(raw_name, raw_value));
            } else {
                parsed.truncated = true;
            }
            let raw_name_span = span(piece.name.start, piece.name.end);
            let raw_value_span = match raw_value {
                Some(_) => span(piece.value.start, piece.value.end),
                None => Span::default(),
            };
            let text = &mut parsed.text;
            parsed.args.push(Arg::Uri {
                raw_name: raw_name_span,
                raw_value: raw_value_span,
                name: match piece.name_escaped {
                    true => push_decoded(text, &mut scratch, raw_name),
                    false => raw_name_span,
                },
                value: match piece.value_escaped {
                    true => push_decoded(text, &mut scratch, raw_value.unwrap_or_default()),
                    false => raw_value_span,
                },
                valued: raw_value.is_some(),
            });
        }
        if query.contains(';') {
            let other = QueryArgs::parse(&query.replace(';', "&"));
            // An arg past that reading's 100 pieces is one the rules never compare.
            parsed.truncated |= other.truncated;
            parsed.semicolons = Some(Box::new(other));
        }
        parsed
    }

    /// Parses an `application/x-www-form-urlencoded` body (`get_post_args`); reads no
    /// further than the first `MAX_ARGS` pieces.
    pub fn parse_form(body: &str) -> QueryArgs {
        let mut rules: Vec<(String, ArgValue)> = Vec::new();
        let mut truncated = false;
        for (index, raw_name, raw_value) in pieces(body) {
            if index >= MAX_ARGS {
                truncated = true;
                break;
            }
            rules.push(rule_view(raw_name, raw_value));
        }
        // Django before its 2021 fix and Go before 1.17 split form bodies on `;` too.
        let semicolons =
            (body.contains(';')).then(|| Box::new(QueryArgs::parse_form(&body.replace(';', "&"))));
        QueryArgs {
            args: (0..rules.len()).map(Arg::Form).collect(),
            rules,
            text: String::new(),
            truncated: truncated || semicolons.as_ref().is_some_and(|s| s.truncated),
            semicolons,
            wider_from: None,
        }
    }

    /// Appends `other`'s args so they win [`last`](Self::last) lookups (body over URI,
    /// like APIcast's `setmetatable(body_params, { __index = params })`).
    pub fn overlay(&mut self, other: &QueryArgs) {
        // The `;` reading of both: each side's own, or its only reading.
        let theirs = other.semicolons.as_deref();
        match (&mut self.semicolons, theirs) {
            (Some(mine), _) => mine.overlay(theirs.unwrap_or(other)),
            (None, Some(theirs)) => {
                let mut mine = self.clone();
                mine.overlay(theirs);
                self.semicolons = Some(Box::new(mine));
            }
            (None, None) => {}
        }
        self.truncated |= other.truncated;
        let by = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        let rules_before = self.rules.len();
        self.text.push_str(&other.text);
        self.rules.extend(other.rules.iter().cloned());
        self.args.extend(other.args.iter().map(|arg| match *arg {
            Arg::Uri {
                raw_name,
                raw_value,
                name,
                value,
                valued,
            } => Arg::Uri {
                raw_name: raw_name.shifted(by),
                raw_value: raw_value.shifted(by),
                name: name.shifted(by),
                value: value.shifted(by),
                valued,
            },
            Arg::Form(index) => Arg::Form(index + rules_before),
        }));
    }

    /// As [`overlay`](Self::overlay), for a form body APIcast would not read: rules see its
    /// args, [`last_as_apicast`](Self::last_as_apicast) does not.
    pub fn overlay_wider(&mut self, other: &QueryArgs) {
        let before = self.rules.len();
        self.overlay(other);
        self.wider_from.get_or_insert(before);
    }

    /// The last value of `name` (exact case), as mapping rules compare it.
    pub fn last(&self, name: &str) -> Option<&ArgValue> {
        last_in(&self.rules, name)
    }

    /// As [`last`](Self::last), among the args APIcast reads.
    pub fn last_as_apicast(&self, name: &str) -> Option<&ArgValue> {
        let end = self.wider_from.unwrap_or(self.rules.len());
        last_in(self.rules.get(..end).unwrap_or_default(), name)
    }

    /// Whether a rule reading `name` could read another value than the upstream does: an
    /// arg rules see is another spelling of `name` that an upstream reads as `name` (`Scope`,
    /// `[scope]`, `scope[]`: see `arg_names`), `name` comes twice with different values
    /// (rules read the last, many frameworks the first), or a parser that splits on `;`
    /// reads `name` otherwise.
    pub fn ambiguous(&self, name: &str) -> bool {
        let mut first: Option<&ArgValue> = None;
        for (arg, value) in &self.rules {
            if !is_spelling_of(arg, name) {
                continue;
            }
            if arg != name || first.is_some_and(|seen| seen != value) {
                return true;
            }
            first = Some(value);
        }
        self.semicolons
            .as_ref()
            .is_some_and(|other| other.ambiguous(name) || other.last(name) != self.last(name))
    }

    /// A credential: the first occurrence of `name` that has a value (`?user_key` is
    /// not found, `?user_key=` is `Some("")`). URI args: ASCII case-insensitive name,
    /// both decoded once with `+` kept. Form args: exact name (a Lua table lookup in
    /// APIcast). After [`overlay`](Self::overlay) the query wins, the body is a fallback.
    ///
    /// nginx's `$arg_` does not decode at all; [`first_raw_ci`](Self::first_raw_ci)
    /// gives that exact view.
    pub fn first_ci(&self, name: &str) -> Option<&str> {
        self.credential(name).0
    }

    /// The credential `name` as [`first_ci`](Self::first_ci) reads it, and whether it comes
    /// again with another value (an upstream may read that one).
    ///
    /// Another spelling of `name` that an upstream reads as `name` (`user.key` for PHP,
    /// `[user_key]` for `qs`: see `arg_names`) is never read as the credential, but one with
    /// another value makes it ambiguous; so does a `;`-splitting parser's other reading.
    pub fn credential(&self, name: &str) -> (Option<&str>, bool) {
        let mut first = None;
        let mut ambiguous = false;
        // The first value of another spelling, and whether those values disagree.
        let mut spelled: Option<&str> = None;
        for arg in &self.args {
            let (exact, value) = match *arg {
                Arg::Uri {
                    name: decoded,
                    value,
                    valued: true,
                    ..
                } => {
                    let decoded = self.span(decoded);
                    if decoded.eq_ignore_ascii_case(name) {
                        (true, Some(self.span(value)))
                    } else {
                        (
                            false,
                            is_spelling_of(decoded, name).then(|| self.span(value)),
                        )
                    }
                }
                Arg::Uri { .. } => (true, None),
                Arg::Form(index) => match self.rules.get(index) {
                    Some((arg, ArgValue::Present(value))) if arg == name => (true, Some(&**value)),
                    Some((arg, ArgValue::Present(value))) if is_spelling_of(arg, name) => {
                        (false, Some(&**value))
                    }
                    _ => (true, None),
                },
            };
            let slot = if exact { &mut first } else { &mut spelled };
            match (*slot, value) {
                (None, _) => *slot = value,
                (Some(seen), Some(v)) => ambiguous |= seen != v,
                (Some(_), None) => {}
            }
        }
        ambiguous |= first.is_some() && spelled.is_some_and(|v| Some(v) != first);
        if let Some(other) = &self.semicolons {
            let (other_first, other_ambiguous) = other.credential(name);
            ambiguous |= other_ambiguous || other_first != first;
        }
        (first, ambiguous)
    }

    /// Every URI arg named `name` (ASCII case-insensitive) that has a value, decoded once as
    /// [`first_ci`](Self::first_ci) reads them, in order.
    pub fn all_uri_ci<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.args.iter().filter_map(move |arg| match *arg {
            Arg::Uri {
                name: decoded,
                value,
                valued: true,
                ..
            } if self.span(decoded).eq_ignore_ascii_case(name) => Some(self.span(value)),
            _ => None,
        })
    }

    /// Every value (URI or form) of an arg an upstream reads as `name`: any case, PHP's and
    /// `qs`'s spellings (`arg_names`).
    pub fn spelled<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.spelled_in(name, true)
    }

    /// Whether an arg an upstream reads as `name` ([`spelled`](Self::spelled), in this
    /// reading or a `;`-splitting parser's) has a value other than `checked`: with none
    /// checked, any value counts.
    pub fn spelled_other_than(&self, name: &str, checked: Option<&str>) -> bool {
        self.spelled(name).any(|v| checked != Some(v))
            || (self.semicolons.as_deref()).is_some_and(|s| s.spelled_other_than(name, checked))
    }

    /// [`spelled`](Self::spelled), without the URI's args when `uri` is false (the form
    /// body's only).
    pub fn spelled_in<'a>(
        &'a self,
        name: &'a str,
        uri: bool,
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.args.iter().filter_map(move |arg| match *arg {
            Arg::Uri {
                name: decoded,
                value,
                valued: true,
                ..
            } if uri && is_spelling_of(self.span(decoded), name) => Some(self.span(value)),
            Arg::Form(index) => match self.rules.get(index) {
                Some((arg, ArgValue::Present(value))) if is_spelling_of(arg, name) => {
                    Some(value.as_str())
                }
                _ => None,
            },
            _ => None,
        })
    }

    /// Whether a URI arg named `name` (decoded, any case) has a `%` or a `+` in its raw name
    /// or value: a reader that does not decode (Envoy's route matchers) reads another text.
    pub fn encoded(&self, name: &str) -> bool {
        self.encoded_in(name, true)
    }

    /// [`encoded`](Self::encoded), in the raw name only (`value`: and in the raw value).
    pub fn encoded_in(&self, name: &str, value: bool) -> bool {
        let raw = |span| self.span(span).contains(['%', '+']);
        self.args.iter().any(|arg| match *arg {
            Arg::Uri {
                raw_name,
                raw_value,
                name: decoded,
                ..
            } => {
                self.span(decoded).eq_ignore_ascii_case(name)
                    && (raw(raw_name) || (value && raw(raw_value)))
            }
            Arg::Form(_) => false,
        })
    }

    /// Like [`first_ci`](Self::first_ci), but URI args are compared and returned raw,
    /// exactly as nginx `$arg_<name>` (`?user_key=a%26b` gives `a%26b`).
    pub fn first_raw_ci(&self, name: &str) -> Option<&str> {
        self.args.iter().find_map(|arg| match *arg {
            Arg::Uri {
                raw_name,
                raw_value,
                valued,
                ..
            } => (valued && self.span(raw_name).eq_ignore_ascii_case(name))
                .then(|| self.span(raw_value)),
            Arg::Form(index) => self.form_credential(index, name),
        })
    }

    /// Whether a named arg lies beyond the first 100 pieces of the query or the form body,
    /// where mapping rules (APIcast's `max_args`) do not see it.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// True when no argument is visible to mapping rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Decoded `(name, value)` pairs visible to mapping rules, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ArgValue)> {
        self.rules
            .iter()
            .map(|(name, value)| (name.as_str(), value))
    }

    fn span(&self, span: Span) -> &str {
        let range = usize::try_from(span.start).unwrap_or(usize::MAX)
            ..usize::try_from(span.end).unwrap_or(usize::MAX);
        self.text.get(range).unwrap_or_default()
    }

    fn form_credential(&self, index: usize, name: &str) -> Option<&str> {
        match self.rules.get(index)? {
            (arg, ArgValue::Present(value)) if arg == name => Some(value),
            _ => None,
        }
    }
}

/// Name and value as mapping rules see them: decoded once, `+` as a space.
fn rule_view(raw_name: &str, raw_value: Option<&str>) -> (String, ArgValue) {
    let value = raw_value.map_or(ArgValue::NoValue, |v| {
        ArgValue::Present(decode_form_component(v))
    });
    (decode_form_component(raw_name), value)
}

fn span(start: usize, end: usize) -> Span {
    Span {
        start: u32::try_from(start).unwrap_or(u32::MAX),
        end: u32::try_from(end).unwrap_or(u32::MAX),
    }
}

/// `decode_component(piece)`, appended to `text`.
fn push_decoded(text: &mut String, scratch: &mut Vec<u8>, piece: &str) -> Span {
    scratch.clear();
    scratch.extend(percent_decode(piece.as_bytes()));
    let start = text.len();
    text.push_str(&String::from_utf8_lossy(scratch));
    span(start, text.len())
}

/// One `&`-separated piece of a query with a non-empty name.
pub(super) struct Piece {
    /// Counts every piece, empty ones included, as lua-nginx-module's `max_args` does.
    pub(super) index: usize,
    pub(super) name: std::ops::Range<usize>,
    /// Empty range past the end when there is no `=`.
    pub(super) value: std::ops::Range<usize>,
    name_escaped: bool,
    value_escaped: bool,
}

/// The pieces of `query` in one pass over its bytes (a query can hold many thousands).
pub(super) fn scan(query: &str) -> impl Iterator<Item = Piece> + '_ {
    let bytes = query.as_bytes();
    let mut start = 0;
    let mut index = 0;
    std::iter::from_fn(move || {
        while start <= bytes.len() {
            let (mut equals, mut name_escaped, mut value_escaped) = (None, false, false);
            let mut end = start;
            while let Some(&byte) = bytes.get(end) {
                match byte {
                    b'&' => break,
                    b'=' if equals.is_none() => equals = Some(end),
                    b'%' if equals.is_none() => name_escaped = true,
                    b'%' => value_escaped = true,
                    _ => {}
                }
                end += 1;
            }
            let piece = Piece {
                index,
                name: start..equals.unwrap_or(end),
                value: equals.map_or(usize::MAX..usize::MAX, |e| e + 1..end),
                name_escaped,
                value_escaped,
            };
            start = end + 1;
            index += 1;
            if !piece.name.is_empty() {
                return Some(piece);
            }
        }
        None
    })
}

/// `(piece index, raw name, raw value)` for each `&`-separated piece with a non-empty
/// name; the index counts every piece, as lua-nginx-module's `max_args` does.
pub(super) fn pieces(query: &str) -> impl Iterator<Item = (usize, &str, Option<&str>)> {
    query.split('&').enumerate().filter_map(|(index, piece)| {
        let (name, value) = match piece.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (piece, None),
        };
        (!name.is_empty()).then_some((index, name, value))
    })
}

//! Credential extraction, per `backend_version` and `credentials_location` (APIcast §1).

use crate::auth::Mode;
use crate::base64::{self, Alphabet};
use crate::config::{AuthMode, CredentialsLocation, Service};
use crate::encoding::encode_component;
use crate::mapping::QueryArgs;
use crate::request::HeaderSource;
use crate::secret::constant_time_eq;

/// The longest credential value (user_key, app_id, app_key) sent to the backend, in bytes.
/// 3scale's admin (porta) accepts user keys of at most 256 characters and app ids and app
/// keys of at most 255, printable ASCII: a longer value cannot be valid. Four times that
/// leaves room for deployments that differ; refusing longer ones (auth failed, before any
/// backend call) bounds what a cache key holds, as the count of slots bounds the keys.
pub const MAX_VALUE_BYTES: usize = 1024;

/// The caller's credentials as sent to the backend. An empty value is present, not missing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Credentials {
    UserKey(String),
    AppIdAndKey {
        app_id: String,
        app_key: String,
    },
    /// An app id alone: a locally authenticated caller's id on an app-id service.
    AppId(String),
}

impl Credentials {
    /// Backend parameter names and values, in the order they are sent.
    pub fn params(&self) -> Vec<(&'static str, &str)> {
        match self {
            Credentials::UserKey(k) => vec![("user_key", k)],
            Credentials::AppIdAndKey { app_id, app_key } => {
                vec![("app_id", app_id), ("app_key", app_key)]
            }
            Credentials::AppId(app_id) => vec![("app_id", app_id)],
        }
    }

    /// Whether every value is within [`MAX_VALUE_BYTES`] (no allocation: runs per request).
    pub fn fits(&self) -> bool {
        let fits = |v: &String| v.len() <= MAX_VALUE_BYTES;
        match self {
            Credentials::UserKey(k) => fits(k),
            Credentials::AppIdAndKey { app_id, app_key } => fits(app_id) && fits(app_key),
            Credentials::AppId(app_id) => fits(app_id),
        }
    }

    /// `user_key=k` or `app_id=a&app_key=b`, percent-encoded: the `X-3scale-credentials` header.
    pub fn encoded(&self) -> String {
        self.params()
            .iter()
            .map(|(n, v)| format!("{n}={}", encode_component(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Credentials found so far; the form body may fill what the query lacked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    pub user_key: Option<String>,
    pub app_id: Option<String>,
    pub app_key: Option<String>,
    /// A credential came twice with different values (query, form or headers), or came in
    /// an `Authorization` header that cannot be read here: the backend would authorize one
    /// and the upstream might read the other. Auth failed.
    pub ambiguous: bool,
    /// Query location: the header values (any spelling) of a credential the query lacks. A
    /// form body may fill it later and must agree with them, as the query's value must; with
    /// `local+3scale` they, and the other kind's, must name the caller.
    pub in_headers: Vec<(Slot, String)>,
}

/// Which credential a value is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    UserKey,
    AppId,
    AppKey,
}

impl Found {
    /// Whether a `user_key` or `app_id` found names another caller than a local identity's
    /// `id`, and is not that caller's own credential either (`is_own`: a local API key read
    /// from the same arg): the backend would authorize `id`, the upstream could read the
    /// other.
    pub fn names_another(&self, id: &str, is_own: impl Fn(&str) -> bool) -> bool {
        [&self.user_key, &self.app_id].iter().any(|found| {
            found
                .as_deref()
                .is_some_and(|v| !constant_time_eq(v.as_bytes(), id.as_bytes()) && !is_own(v))
        })
    }

    /// Whether the request carries any 3scale credential, complete or not.
    pub fn any(&self) -> bool {
        self.user_key.is_some() || self.app_id.is_some() || self.app_key.is_some()
    }

    /// Complete credentials, or `None` (auth missing). Version 2 needs both app_id and app_key.
    #[cfg(test)]
    pub fn complete(&self, mode: AuthMode) -> Option<Credentials> {
        self.clone().take_complete(mode)
    }

    /// Complete credentials, moved out (a request is authorized once), or `None` (auth
    /// missing): nothing is taken unless complete. Version 2 needs both app_id and app_key.
    pub fn take_complete(&mut self, mode: AuthMode) -> Option<Credentials> {
        if !self.is_complete(mode) {
            return None;
        }
        match mode {
            AuthMode::UserKey => self.user_key.take().map(Credentials::UserKey),
            AuthMode::AppIdAndKey => Some(Credentials::AppIdAndKey {
                app_id: self.app_id.take()?,
                app_key: self.app_key.take()?,
            }),
            AuthMode::Unusable => None,
        }
    }

    /// Whether [`Found::take_complete`] would find credentials (without taking them).
    pub fn is_complete(&self, mode: AuthMode) -> bool {
        match mode {
            AuthMode::UserKey => self.user_key.is_some(),
            AuthMode::AppIdAndKey => self.app_id.is_some() && self.app_key.is_some(),
            AuthMode::Unusable => false,
        }
    }

    /// Fills the missing values from form-body arguments (query location only).
    /// A value the body repeats differently from the query makes the credentials ambiguous.
    pub fn fill_from_args(&mut self, service: &Service, args: &QueryArgs) {
        let mut ambiguous = false;
        let in_headers = &self.in_headers;
        let mut take = |slot: &mut Option<String>, which: Slot, name: &str| {
            let (first, twice) = args.credential(name);
            ambiguous |= twice || first.is_some_and(|v| slot.as_deref().is_some_and(|s| s != v));
            if slot.is_none() {
                *slot = first.map(str::to_string);
                ambiguous |= first.is_some_and(|v| {
                    (in_headers.iter()).any(|(other, h)| *other == which && h != v)
                });
            }
        };
        let names = &service.names;
        match service.mode {
            AuthMode::UserKey => take(&mut self.user_key, Slot::UserKey, &names.user_key),
            AuthMode::AppIdAndKey => {
                take(&mut self.app_id, Slot::AppId, &names.app_id);
                take(&mut self.app_key, Slot::AppKey, &names.app_key);
            }
            AuthMode::Unusable => {}
        }
        self.ambiguous |= ambiguous;
    }

    /// After a form body is read for credentials: each one as read from the query and the
    /// form together (`merged`). A value in another spelling on the other side (`?user_key=a`
    /// and a body `user.key=b`, `USER_KEY=b` or `user_key[]=b`, or the reverse) makes them
    /// ambiguous: PHP, Laravel and Rack read the body's or the spelled one (found by an
    /// audit, 2026-12-06).
    pub fn check_merged(&mut self, service: &Service, merged: &QueryArgs) {
        let twice = |name: &str| merged.credential(name).1;
        let names = &service.names;
        self.ambiguous |= match service.mode {
            AuthMode::UserKey => twice(&names.user_key),
            AuthMode::AppIdAndKey => twice(&names.app_id) || twice(&names.app_key),
            AuthMode::Unusable => false,
        };
    }

    /// A form body not read for credentials (APIcast reads them on `POST`, `PUT` and `PATCH`
    /// with the form type only) that an upstream still reads: a credential in it, in any
    /// spelling, must be the one found; one where none was found would have the default
    /// credentials authorize another caller (found by an audit, 2026-12-06).
    /// Elsewhere than the query (headers, `Authorization`), only a credential found is
    /// compared: one missing stays auth missing, without the default credentials
    /// (`access::carried_elsewhere`).
    pub fn check_unread(&mut self, service: &Service, form: &QueryArgs) {
        let query = service.location == CredentialsLocation::Query;
        let differs = |slot: &Option<String>, name: &str| {
            (query || slot.is_some()) && form.spelled(name).any(|v| slot.as_deref() != Some(v))
        };
        let names = &service.names;
        self.ambiguous |= match service.mode {
            AuthMode::UserKey => differs(&self.user_key, &names.user_key),
            AuthMode::AppIdAndKey => {
                differs(&self.app_id, &names.app_id) | differs(&self.app_key, &names.app_key)
            }
            AuthMode::Unusable => false,
        };
    }
}

impl Found {
    /// A credential found is authorized; the same name elsewhere (the query's arg beside a
    /// header credential, a header beside the query's, either beside `Authorization`, a
    /// cookie beside any) with another value, in any spelling, would reach an upstream that
    /// reads it there: auth failed (found by an audit, 2026-12-07: `?app_id=` of another
    /// application rode along with a header-located service's credentials). Only credentials
    /// found are compared:
    /// one missing stays auth missing; in the query location, its header values are kept for
    /// the form body's (`in_headers`).
    fn check_other_locations(
        &mut self,
        service: &Service,
        query: &QueryArgs,
        headers: &dyn HeaderSource,
    ) {
        let location = service.location;
        let mut in_headers = Vec::new();
        let mut differs = |slot: &Option<String>, which: Slot, name: &str| {
            let Some(found) = slot.as_deref() else {
                if location == CredentialsLocation::Query {
                    headers.any_value_any_spelling(name, &mut |v| {
                        in_headers.push((which, v.to_string()));
                        false
                    });
                }
                return false;
            };
            let in_query = location != CredentialsLocation::Query
                && query.spelled_other_than(name, Some(found));
            in_query
                || cookie_differs(headers, name, Some(found))
                || (location != CredentialsLocation::Headers
                    && headers.any_value_any_spelling(name, &mut |v| v != found))
        };
        let names = &service.names;
        self.ambiguous |= match service.mode {
            AuthMode::UserKey => differs(&self.user_key, Slot::UserKey, &names.user_key),
            AuthMode::AppIdAndKey => {
                // Both compared (no `||`): a missing app_key's header values are kept too.
                let app_id = differs(&self.app_id, Slot::AppId, &names.app_id);
                differs(&self.app_key, Slot::AppKey, &names.app_key) | app_id
            }
            AuthMode::Unusable => false,
        };
        // `local+3scale`: the other kind's headers too, for `names_another_caller` (the
        // headers location reads them in `extract_at_location`).
        let other = match service.mode {
            AuthMode::UserKey => Some((Slot::AppId, &names.app_id)),
            AuthMode::AppIdAndKey => Some((Slot::UserKey, &names.user_key)),
            AuthMode::Unusable => None,
        };
        if let (Some((which, name)), CredentialsLocation::Query, Mode::LocalThenThreeScale) =
            (other, location, service.auth.mode)
        {
            headers.any_value_any_spelling(name, &mut |v| {
                in_headers.push((which, v.to_string()));
                false
            });
        }
        self.in_headers = in_headers;
    }
}

/// Whether a cookie (`a=1; b=2`, every `Cookie` header) is an arg an upstream reads as
/// `name` with another value than `checked` (any, with none checked): PHP's `$_REQUEST`
/// takes `$_COOKIE` over the query and the form under its built-in `variables_order` (no
/// php.ini, as the official images run), and classic ASP.NET's `Request[name]` reads cookies
/// after them (found in the thirty-fourth session).
#[inline(never)]
pub fn cookie_differs(headers: &dyn HeaderSource, name: &str, checked: Option<&str>) -> bool {
    let mut text = String::new();
    headers.any_value_any_spelling("cookie", &mut |v| {
        text.push('&');
        text.push_str(&v.replace(';', "&"));
        false
    });
    !text.is_empty() && QueryArgs::parse(&text).spelled_other_than(name, checked)
}

/// Reads credentials from the query, the headers or the Authorization header.
pub fn extract(service: &Service, query: &QueryArgs, headers: &dyn HeaderSource) -> Found {
    let mut found = extract_at_location(service, query, headers);
    found.check_other_locations(service, query, headers);
    found
}

fn extract_at_location(service: &Service, query: &QueryArgs, headers: &dyn HeaderSource) -> Found {
    match service.location {
        CredentialsLocation::Query => {
            let mut found = Found::default();
            found.fill_from_args(service, query);
            found
        }
        CredentialsLocation::Headers => {
            let mut ambiguous = false;
            let mut read = |name: &str| {
                let (value, twice) = headers.header_any_spelling(name);
                ambiguous |= twice;
                value
            };
            let names = &service.names;
            let mut found = match service.mode {
                AuthMode::UserKey => Found {
                    user_key: read(&names.user_key),
                    ..Found::default()
                },
                AuthMode::AppIdAndKey => Found {
                    app_id: read(&names.app_id),
                    app_key: read(&names.app_key),
                    ..Found::default()
                },
                AuthMode::Unusable => Found::default(),
            };
            // `local+3scale`: the caller's id is the 3scale credential, so a header of the
            // other kind naming another caller is read too, to be refused as the query's is
            // (`user_key` on a version 2 service, `app_id` on a version 1 service).
            if service.auth.mode == Mode::LocalThenThreeScale {
                match service.mode {
                    AuthMode::UserKey => found.app_id = read(&names.app_id),
                    AuthMode::AppIdAndKey => found.user_key = read(&names.user_key),
                    AuthMode::Unusable => {}
                }
            }
            found.ambiguous = ambiguous;
            found
        }
        CredentialsLocation::Authorization => {
            let value = headers.header("authorization");
            let auth = value
                .as_deref()
                .map(Authorization::parse)
                .unwrap_or_default();
            // A Basic credential unreadable here (URL-safe base64, no colon: Node's decoder
            // reads a user from it), or a second header (Envoy joins two with a `,`): the
            // upstream may read a caller while another, or the default credentials, is
            // authorized (found by an audit, 2026-12-06).
            let unreadable = auth.malformed_basic
                || value.as_deref().is_some_and(Authorization::joined)
                || headers.header_ambiguous("authorization");
            let found = match service.mode {
                AuthMode::UserKey => Found {
                    user_key: auth.userid.or(auth.password).or(auth.token),
                    ..Found::default()
                },
                AuthMode::AppIdAndKey => Found {
                    app_id: auth.userid.or(auth.token),
                    app_key: auth.password,
                    ..Found::default()
                },
                AuthMode::Unusable => Found::default(),
            };
            Found {
                ambiguous: unreadable,
                ..found
            }
        }
    }
}

/// `Authorization: Basic` (userid/password) or `Bearer` (token); other schemes give nothing.
#[derive(Debug, Default, PartialEq, Eq)]
#[doc(hidden)]
pub struct Authorization {
    pub userid: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    /// `Basic` with a parameter that is not base64 of `user:password` (in the standard
    /// alphabet): nothing is read from it, though an upstream's lenient decoder may read a
    /// user (Node's `Buffer` takes the URL-safe alphabet).
    pub malformed_basic: bool,
}

impl Authorization {
    pub fn parse(value: &str) -> Authorization {
        let scheme_len = value
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let (scheme, param) = value.split_at(scheme_len);
        let param = param.trim_start();
        // Schemes are case-insensitive (RFC 9110 §11.1).
        if scheme.eq_ignore_ascii_case("Basic") {
            base64::decode(param, Alphabet::Standard)
                .map(|raw| String::from_utf8_lossy(&raw).into_owned())
                .and_then(|pair| {
                    // RFC 7617: the user-id cannot contain a colon, the password can.
                    pair.split_once(':').map(|(u, p)| Authorization {
                        userid: Some(u.to_string()),
                        password: Some(p.to_string()),
                        ..Default::default()
                    })
                })
                .unwrap_or(Authorization {
                    malformed_basic: true,
                    ..Default::default()
                })
        } else if scheme.eq_ignore_ascii_case("Bearer") {
            Authorization {
                token: Some(param.to_string()),
                ..Default::default()
            }
        } else {
            Authorization::default()
        }
    }

    /// Whether `value` holds a Basic or Bearer credential after a `,`: two headers that
    /// Envoy joined (no Basic or Bearer credential holds a comma).
    pub fn joined(value: &str) -> bool {
        (value.split(',').skip(1))
            .any(|piece| Authorization::parse(piece.trim_start()) != Authorization::default())
    }
}

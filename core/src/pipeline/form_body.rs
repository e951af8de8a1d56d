//! The form body: whether a request waits for it (credentials, rules that read args, a
//! `_method`, an `access_token`), what is read from it, the charset it can be read in, and
//! the credentials of the head that a value in it must not contradict.

use super::{access, method_override, select, PendingRequest};
use crate::auth::identity::{Identity, Method};
use crate::auth::local;
use crate::auth::local::LocalFailure;
use crate::auth::Mode;
use crate::body_scan::{BodyScan, Finding};
use crate::config::{CredentialsLocation, Service};
use crate::credentials::Authorization;
use crate::mapping::arg_names::is_spelling_of;
use crate::mapping::QueryArgs;
use crate::request::HeaderSource;

/// Whether a `Content-Type` names a charset that may not write ASCII as ASCII (UTF-16, UTF-32,
/// UCS-2 under any alias, UTF-7, EBCDIC): `_method=DELETE` in UTF-16 is not those bytes, but
/// ASP.NET Core and Spring decode the body in its charset before reading the fields. Every
/// `charset` followed by `=` counts, wherever it is (`x-charset=utf-8; charset=utf-16`, and
/// `x=charset=utf-16le`: Tomcat takes the first `charset=` anywhere in the header), spaces
/// before `=` allowed, its value up to the next `;`; and a charset is readable only if it is
/// a known ASCII superset: an alias (`ISO-10646-UCS-2` is UTF-16 to .NET) cannot slip through
/// a list of wide ones.
pub(super) fn wide_charset(content_type: &str) -> bool {
    const ASCII_SUPERSETS: [&str; 17] = [
        "utf-8",
        "utf8",
        "us-ascii",
        "ascii",
        "iso-8859-",
        "iso8859-",
        "iso_8859-",
        "latin",
        "windows-125",
        "cp125",
        "shift_jis",
        "sjis",
        "euc-",
        "gb2312",
        "gbk",
        "gb18030",
        "big5",
    ];
    let lower = content_type.to_ascii_lowercase();
    lower.match_indices("charset").any(|(at, word)| {
        let after = lower.get(at + word.len()..).unwrap_or_default();
        let Some(value) = after.trim_start().strip_prefix('=') else {
            return false;
        };
        let value = value.split(';').next().unwrap_or_default();
        let value = value.trim_matches(|c: char| c.is_ascii_whitespace() || c == '"' || c == '\'');
        !ASCII_SUPERSETS.iter().any(|ok| value.starts_with(ok))
    })
}

/// Whether a content type names a form (any case, anywhere in it).
pub(super) fn is_form_type(content_type: &str) -> bool {
    (content_type.to_ascii_lowercase()).contains("application/x-www-form-urlencoded")
}

/// A JWT service's `Bearer` token: an `access_token` in the form body must be that one.
#[cfg(feature = "jwt")]
pub(super) fn bearer(service: &Service, headers: &dyn HeaderSource) -> Option<String> {
    service.auth.jwt.as_ref()?;
    Authorization::parse(&headers.header("authorization")?).token
}

#[cfg(not(feature = "jwt"))]
pub(super) fn bearer(_: &Service, _: &dyn HeaderSource) -> Option<String> {
    None
}

/// The local key in the header (or as the Basic username), for services that also read keys
/// from the query: one in the form body must be the same (the upstream may read that one).
pub(super) fn header_key(service: &Service, headers: &dyn HeaderSource) -> Option<String> {
    let keys = service.auth.api_keys.as_ref()?;
    keys.query.as_ref()?;
    let in_header = (keys.header.as_deref()).and_then(|h| headers.header_any_spelling(h).0);
    in_header.or_else(|| {
        let authorization = Authorization::parse(&headers.header("authorization")?);
        local::basic_username_key(&service.auth, Some(&authorization))
    })
}

/// Whether `method` carries a payload APIcast reads: its rules and credentials read a form
/// body on `POST`, `PUT` and `PATCH` only.
pub(super) fn has_payload(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH")
}

/// A signed URL on a method without a payload (`GET`, `DELETE`, ...) whose content type is
/// multipart or JSON: if a body follows ([`PendingRequest::body_follows`]) it is auth failed,
/// since Rack, Rails and Laravel read such a body's fields as the request's args, which
/// nobody signed (found by an audit, 2026-12-06). A form body is read and held to the signed
/// query instead ([`PendingRequest::add_form_body`]).
pub(super) fn signed_url_body(
    local: &Option<Result<Identity, LocalFailure>>,
    method: &str,
    other_body: bool,
) -> bool {
    let signed = matches!(local, Some(Ok(who)) if who.method == Method::SignedUrl);
    signed && other_body && !has_payload(method)
}

impl PendingRequest {
    /// Whether a body follows the headers (`end_of_stream` not set): a signed URL's
    /// multipart or JSON body on a method without a payload fails it ([`signed_url_body`]).
    /// A multipart or JSON body that cannot be read, on a method other than `POST`, is refused
    /// where its fields would be compared (found in the thirty-third session: a gzip `PUT`
    /// carried a `user_key` nobody compared).
    pub fn body_follows(&mut self, follows: bool) {
        if follows && self.signed_url_body {
            self.local = Some(Err(LocalFailure::Failed));
        }
        let kinds = self.encoded_kinds;
        if follows && (kinds.multipart || kinds.json) {
            self.encoded_body |= !self.wanted_in(kinds).is_empty();
        }
    }

    /// A form `POST`, `PUT`, `PATCH` or `DELETE` is read for a `_method` field too; nothing
    /// is read from a request that is refused already.
    pub fn wants_body(&self) -> bool {
        !self.method_overridden && !self.encoded_form && self.reads_form()
    }

    /// Whether the form body matters: for credentials, rules or a `_method`.
    pub(super) fn reads_form(&self) -> bool {
        (self.form_body && !self.routing_args.is_empty())
            || self.form_credentials()
            || self.form_compared()
            || self.form_rules()
            || self.form_override()
            || self.form_tokens()
            || self.form_signed()
            || self.form_defaults()
    }

    /// No credential found on a service with default credentials that reads the headers or
    /// `Authorization`: a credential in the form body would reach the upstream beside the
    /// defaults' (found by an audit, 2026-12-07), so the body is read for one.
    fn form_defaults(&self) -> bool {
        self.form_body
            && !self.public_path
            && !self.carried_elsewhere
            && self.service.location != CredentialsLocation::Query
            && self.service.auth.mode == Mode::ThreeScale
            && !self.found.any()
            && self.service.policies.default_credentials().next().is_some()
    }

    /// A signed URL's args are its query's: a form body naming one of them again (Laravel's
    /// `input()`, PHP's `$_REQUEST` and Rack's `params` prefer the body's) would give the
    /// upstream a value nobody signed (found by an audit).
    fn form_signed(&self) -> bool {
        self.form_body && !self.public_path && self.service.auth.signed_url_secret.is_some()
    }

    /// Whether the form names an arg of the signed query again with another value, in any
    /// spelling an upstream reads as it (or hides some of its args past what is read). On a
    /// method without a payload (`GET`, `DELETE`, ...) any arg the signed query lacks counts
    /// too: Rack, Symfony and Laravel read such a body's args as the request's (found by an
    /// audit, 2026-12-06); a `POST`, `PUT` or `PATCH` body is the payload the signer allowed.
    fn redefines_signed_args(&self, form: &QueryArgs) -> bool {
        let signed = matches!(&self.local, Some(Ok(who)) if who.method == Method::SignedUrl);
        let payload = has_payload(&self.method);
        signed
            && (form.truncated()
                || form.iter().any(|(name, value)| {
                    (self.args.iter())
                        .any(|(arg, signed)| is_spelling_of(name, arg) && value != signed)
                        || (!payload
                            && !(self.args.iter())
                                .any(|(arg, signed)| arg == name && value == signed))
                }))
    }

    /// A JWT service reads a form body for an `access_token` that is not the token checked.
    fn form_tokens(&self) -> bool {
        #[cfg(feature = "jwt")]
        let jwt = self.service.auth.jwt.is_some();
        #[cfg(not(feature = "jwt"))]
        let jwt = false;
        self.form_body && jwt && !self.public_path
    }

    /// 3scale credentials in the query, then the body: in `3scale` mode, and in
    /// `local+3scale` where one beside the local credential must name the same caller.
    fn form_credentials(&self) -> bool {
        let query_credentials = matches!(
            self.service.auth.mode,
            Mode::ThreeScale | Mode::LocalThenThreeScale
        ) || (self.service.auth.api_keys.as_ref())
            .is_some_and(|k| k.query.is_some());
        self.body_eligible && query_credentials
    }

    /// A form body APIcast does not read for credentials (on `DELETE`, `GET` and other
    /// methods; a `POST` without a content type, which Rack reads as a form) on a service
    /// reading 3scale credentials, or local keys from the query: an upstream may read a key
    /// in it, so it is read to be compared with the one authorized, never to fill it (found
    /// by audits, 2026-12-06 and, for local keys, 2026-12-07).
    fn form_compared(&self) -> bool {
        // Wherever the service reads them (the headers, `Authorization`): PHP's `$_REQUEST`
        // and Rack's `params` read the form's `user_key` (found by an audit, 2026-12-07).
        let threescale = matches!(
            self.service.auth.mode,
            Mode::ThreeScale | Mode::LocalThenThreeScale
        );
        self.form_body
            && !self.body_eligible
            && !self.public_path
            && (threescale || self.local.is_some() && self.local_query_key().is_some())
    }

    /// The query arg a local service reads keys from.
    pub(super) fn local_query_key(&self) -> Option<&str> {
        (self.service.auth.api_keys.as_ref()).and_then(|k| k.query.as_deref())
    }

    /// Rules that read args read the form's, on every method and whatever the credentials'
    /// location (APIcast reads it for `POST`, `PUT` and `PATCH`; an upstream also on `DELETE`).
    fn form_rules(&self) -> bool {
        self.form_body && self.service.rules_use_args && !self.public_path
    }

    /// A form body that frameworks read a `_method` from (CakePHP on `PUT`, `PATCH` and
    /// `DELETE` too: found by an audit, 2026-12-07).
    fn form_override(&self) -> bool {
        self.form_body && method_override::read_in_body(&self.method)
    }

    /// Adds a form-urlencoded body: it fills missing credentials, and its args win for rules.
    /// A local key the body repeats with another value fails authentication. A body read only
    /// for its `_method` changes nothing else.
    pub fn add_form_body(&mut self, body: &[u8]) {
        let text = String::from_utf8_lossy(body);
        let form = QueryArgs::parse_form(&text);
        self.body_arg_changed |=
            select::form_changes_routing(&self.routing_args, &self.args, &form);
        self.method_overridden |=
            self.form_override() && method_override::in_text(&self.method, &text);
        if self.form_signed() && self.redefines_signed_args(&form) {
            self.local = Some(Err(LocalFailure::Failed));
        }
        let compared = self.form_compared();
        if self.form_defaults() {
            self.carried_elsewhere =
                access::carries_a_name(&self.service, &|n| form.spelled_other_than(n, None));
        }
        if self.form_rules() || self.form_credentials() || self.form_tokens() || compared {
            if has_payload(&self.method) {
                self.args.overlay(&form)
            } else {
                self.args.overlay_wider(&form)
            }
        }
        #[cfg(feature = "jwt")]
        if self.form_tokens()
            && !local::access_tokens_agree(&self.service.auth, &self.args, self.bearer.as_deref())
        {
            self.local = Some(Err(LocalFailure::Failed));
        }
        // `local+3scale` compares the caller's id with every spelling in the args instead
        // (`names_another_caller`), where the form is now.
        if compared && self.service.auth.mode == Mode::ThreeScale {
            self.found.check_unread(&self.service, &form);
        }
        if self.form_credentials() {
            self.found.fill_from_args(&self.service, &form);
            self.found.check_merged(&self.service, &self.args);
            // A credential in the body is as exposed on plain HTTP as one in the query.
            self.insecure |= self.plain_http && self.found.any();
        }
        if (self.form_credentials() || compared) && self.form_names_another_key() {
            self.local = Some(Err(LocalFailure::Failed));
        }
        // A form type that also names multipart or JSON (`...; profile=/json`): those readers
        // too, since an upstream may believe the other name.
        if self.scans_body() || self.compares_body() {
            let mut scan = BodyScan::wanting(self.body_wanted());
            scan.feed(body);
            scan.finish();
            match scan.finding() {
                Some(Finding::Method) => self.method_overridden = true,
                Some(Finding::Credential) => self.body_credential_failed = true,
                Some(Finding::Argument) => self.body_arg_changed = true,
                None => {}
            }
        }
    }

    /// Whether the query and form args, read together, hold the local key arg (in any
    /// spelling an upstream reads as it) twice with different values, or with a value other
    /// than the key checked: the header's (or the Basic username's), else the args' own. A
    /// key beside another credential (a token, a Basic user, a signed URL) reaches the
    /// upstream unchecked, as one beside a key that differs (found by audits).
    fn form_names_another_key(&self) -> bool {
        let Some(name) = self.local_query_key() else {
            return false;
        };
        let other_credential = matches!(&self.local, Some(Ok(who)) if who.method != Method::ApiKey);
        let (first, twice) = self.args.credential(name);
        let checked = match &self.header_key {
            Some(key) => Some(key.as_str()),
            None if other_credential => None,
            None => first,
        };
        twice || self.args.spelled_other_than(name, checked)
    }
}

#[cfg(test)]
mod tests {
    use super::wide_charset;

    #[test]
    fn charsets_that_are_not_ascii_supersets() {
        for ct in [
            "application/x-www-form-urlencoded; charset=utf-16",
            "application/x-www-form-urlencoded;charset=UTF-16BE",
            "application/x-www-form-urlencoded; charset=\"utf-16le\"",
            "application/x-www-form-urlencoded; charset=utf-32",
            "application/x-www-form-urlencoded; charset=UTF-7",
            // Found by an audit: aliases, spaces around `=`, a second parameter.
            "application/x-www-form-urlencoded; charset=ISO-10646-UCS-2",
            "application/x-www-form-urlencoded; charset = utf-16",
            "application/x-www-form-urlencoded; charset=\tutf-16",
            "application/x-www-form-urlencoded; x-charset=utf-8; charset=utf-16",
            "application/x-www-form-urlencoded; charset=unicodeFFFE",
            "application/x-www-form-urlencoded; charset=IBM037",
            "application/x-www-form-urlencoded; charset=",
            // Tomcat reads the first `charset=` anywhere (found by an audit).
            "application/x-www-form-urlencoded; x=charset=utf-16le",
            "application/x-www-form-urlencoded; a=b, charset=utf-16le",
        ] {
            assert!(wide_charset(ct), "{ct}");
        }
        for ct in [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=utf-8",
            "application/x-www-form-urlencoded; charset=ISO-8859-1",
            "application/x-www-form-urlencoded; charset=\"UTF-8\"",
            "application/x-www-form-urlencoded ; charset = windows-1252",
            "multipart/form-data; boundary=x",
        ] {
            assert!(!wide_charset(ct), "{ct}");
        }
    }
}

//! Credentials in a multipart or JSON body (found in the thirty-second session): APIcast
//! never reads them, but PHP (`$_REQUEST`, `$_POST`), Rack's `params` and Spring read a
//! multipart field as a form field, and Laravel (`input()`), Rails and ASP.NET Core merge a
//! JSON body's top-level keys into the request's input. A `user_key` there that is not the
//! one checked reached the upstream while 3scale authorized and metered the query's. So,
//! where a form body's credentials are compared (every method, on services reading 3scale
//! credentials or local keys from the query), a multipart field or top-level JSON key named
//! as one of them must hold a value checked; any other value (in JSON, any value that is not
//! such a string: a number, `null`, an object) is auth failed. The body streams: it is read as
//! a `_method` is (`streamed_body`), so a refusal may come after the verdict (metered).
//!
//! So are the args that rules whose method and path match read (and those path routing
//! read), as a form body's are (`QueryArgs::ambiguous`): such a field must hold the value the
//! rules read, else 400 ambiguous argument (thirty-third session: `?scope=mine` with a field
//! `scope=all` matched the rule on `mine`, and PHP's `$_REQUEST` read `all`).

use super::PendingRequest;
use crate::auth::identity::Method;
use crate::auth::Mode;
use crate::body_scan::{Expected, Finding, Kinds, Wanted};
use crate::config::AuthMode;
use crate::credentials::Credentials;
use crate::mapping::{ArgValue, PathView, Rules};

impl PendingRequest {
    /// Whether a multipart or JSON body's credential or rule arg fields are compared.
    pub(super) fn compares_body(&self) -> bool {
        self.compares(self.body_kinds)
    }

    fn compares(&self, kinds: Kinds) -> bool {
        (kinds.multipart || kinds.json) && (self.compares_credentials() || self.compares_args())
    }

    fn compares_credentials(&self) -> bool {
        let threescale = matches!(
            self.service.auth.mode,
            Mode::ThreeScale | Mode::LocalThenThreeScale
        );
        let local_query = self.local.is_some() && self.local_query_key().is_some();
        !self.public_path && (threescale || local_query)
    }

    /// As a form body's args are read (`form_rules`, path routing's).
    fn compares_args(&self) -> bool {
        (self.service.rules_use_args && !self.public_path) || !self.routing_args.is_empty()
    }

    /// What the body is read for: a `_method` on a `POST`, and the credentials checked and
    /// rule args in the kinds its content type names.
    pub(super) fn body_wanted(&self) -> Wanted {
        self.wanted_in(self.body_kinds)
    }

    pub(super) fn wanted_in(&self, kinds: Kinds) -> Wanted {
        let mut expected = Vec::new();
        if self.compares(kinds) {
            if self.compares_credentials() {
                expected = self.body_expected();
            }
            if self.compares_args() {
                self.add_args_expected(&mut expected);
            }
        }
        let only = |wanted: bool| match wanted {
            true => expected.clone(),
            false => Vec::new(),
        };
        Wanted {
            method: self.scan_body,
            fields: only(kinds.multipart),
            keys: only(kinds.json),
        }
    }

    /// Each arg the rules whose method and path match read (and path routing read): the value
    /// they read (`?flag`: empty), none if the args lack it.
    fn add_args_expected(&self, expected: &mut Vec<Expected>) {
        let mut add = |name: &str| {
            if expected.iter().any(|e| e.name == name) {
                return;
            }
            let values = match self.args.last(name) {
                Some(ArgValue::Present(v)) => vec![v.clone()],
                Some(ArgValue::NoValue) => vec![String::new()],
                None => Vec::new(),
            };
            expected.push(Expected {
                name: name.to_string(),
                values,
                finding: Finding::Argument,
            });
        };
        let path = PathView::new(&self.normalized_path);
        for rule in self.service.rules.rules() {
            if !self.public_path && rule.matches_route(&self.method, &path) {
                rule.query.iter().for_each(|c| add(c.name()));
            }
        }
        self.routing_args.iter().for_each(|name| add(name));
    }

    /// Each credential name compared and the values it may hold: the 3scale credentials
    /// authorized (`local+3scale`: the caller's id, or its own key or token, under either
    /// name), and a local key read from the query (the key checked). None authorized: any
    /// value differs (the request is refused at its headers anyway).
    fn body_expected(&self) -> Vec<Expected> {
        let names = &self.service.names;
        let mut expected = Vec::new();
        let mut add = |name: &str, values: Vec<String>| {
            expected.push(Expected {
                name: name.to_string(),
                values,
                finding: Finding::Credential,
            })
        };
        let who = match &self.local {
            Some(Ok(who)) => Some(who),
            _ => None,
        };
        match self.service.auth.mode {
            Mode::ThreeScale => {
                let mut found = self.found.clone();
                let checked =
                    (found.take_complete(self.service.mode)).or_else(|| self.default_credentials());
                match (checked, self.service.mode) {
                    (Some(Credentials::UserKey(key)), _) => add(&names.user_key, vec![key]),
                    (Some(Credentials::AppIdAndKey { app_id, app_key }), _) => {
                        add(&names.app_id, vec![app_id]);
                        add(&names.app_key, vec![app_key]);
                    }
                    (_, AuthMode::UserKey) => add(&names.user_key, Vec::new()),
                    (_, AuthMode::AppIdAndKey) => {
                        add(&names.app_id, Vec::new());
                        add(&names.app_key, Vec::new());
                    }
                    (_, AuthMode::Unusable) => {}
                }
            }
            Mode::LocalThenThreeScale => {
                let own = who.map(|who| {
                    let mut own = vec![who.id.clone()];
                    match who.method {
                        Method::ApiKey => own.extend(self.checked_local_key()),
                        Method::Jwt => own.extend(self.bearer.clone()),
                        Method::Basic | Method::SignedUrl => {}
                    }
                    own
                });
                let own = own.unwrap_or_default();
                add(&names.user_key, own.clone());
                add(&names.app_id, own);
            }
            _ => {}
        }
        if let (Some(name), Some(_)) = (self.local_query_key(), &self.local) {
            add(name, self.checked_local_key().into_iter().collect());
        }
        expected
    }

    /// The local key checked, as a form body's must be (`form_names_another_key`): the
    /// header's (or the Basic username's), else the query's unless another credential was.
    fn checked_local_key(&self) -> Option<String> {
        let other = matches!(&self.local, Some(Ok(who)) if who.method != Method::ApiKey);
        match (&self.header_key, self.local_query_key()) {
            (Some(key), _) => Some(key.clone()),
            (None, Some(name)) if !other => self.args.credential(name).0.map(str::to_string),
            _ => None,
        }
    }
}

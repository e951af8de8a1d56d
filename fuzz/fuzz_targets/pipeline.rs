//! `pipeline::begin` + `authorize` over arbitrary requests against a realistic configuration,
//! then the backend calls (authrep, authorize, report) and the verdict on an arbitrary answer.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tollgate_core::auth::signed_url;
use tollgate_core::backend::{BackendAnswer, BackendCall, ReportingIdentity, Transactions};
use tollgate_core::cache::entry::key_digest;
use tollgate_core::cache::{app_key_as_checked, Denial, EntryKey};
use tollgate_core::credentials::Credentials;
use tollgate_core::encoding::decode_component;
use tollgate_core::pipeline::{self, Next};
use tollgate_core::request::RequestHead;
use tollgate_fuzz::{
    config, hs256_token, Headers, JoseHeader, Payload, Pick, HEADER_NAMES, HOSTS, METHODS, PATHS,
    SIGNED_URL_SECRET,
};

#[derive(Debug, Arbitrary)]
struct Input {
    method: Pick,
    authority: Pick,
    path_start: Pick,
    path_rest: String,
    headers: Vec<(Pick, String)>,
    tls: bool,
    body: Option<Vec<u8>>,
    now: u32,
    status: Option<u16>,
    reason: Option<String>,
    reset: Option<String>,
    remaining: Option<String>,
    calls: u64,
    /// A validly signed HS256 bearer token (service 4's key).
    jwt: Option<(JoseHeader, Payload)>,
    /// Sign the URL with service 4's secret, expiring this many seconds from now.
    signed: Option<i16>,
}

fuzz_target!(|input: Input| {
    let config = config();
    let now = 1_700_000_000 + u64::from(input.now);
    let method = input.method.get(METHODS);
    let mut path = format!("{}{}", input.path_start.get(PATHS), input.path_rest);
    if let Some(expires_in) = input.signed {
        let expires = now.saturating_add_signed(i64::from(expires_in));
        if let Some(signed) = signed_url::sign(SIGNED_URL_SECRET, method, &path, expires) {
            path = signed;
        }
    }
    let mut pairs: Vec<(String, String)> = input
        .headers
        .iter()
        .map(|(n, v)| (n.get(HEADER_NAMES).to_string(), v.clone()))
        .collect();
    if let Some((header, payload)) = &input.jwt {
        let token = hs256_token(&header.bytes(), &payload.bytes(now));
        pairs.insert(0, ("authorization".to_string(), format!("Bearer {token}")));
    }
    let headers = Headers {
        pairs,
        tls: input.tls,
    };
    let head = RequestHead {
        method,
        authority: input.authority.get(HOSTS),
        path: &path,
        now_s: now,
    };
    let mut pending = match pipeline::begin(config, head, &headers) {
        Err(_) => return,
        Ok(p) => p,
    };
    if pending.wants_body() {
        if let Some(body) = &input.body {
            pending.add_form_body(body);
        }
    }
    let service = pending.service().system_name.clone();
    let authorization = match pending.authorize() {
        Ok(Next::Backend(a)) => a,
        // What gets through without the backend: the local service's authenticated requests
        // and a public path, nothing else (found missing by an audit, 2026-12-06).
        Ok(Next::Forward(forward)) => {
            match (service.as_str(), forward.public) {
                ("local", false) => {}
                // The public path as `apicast` reads it: decoded, after `^/v1/` is rewritten.
                ("chained", true) => assert!(
                    decode_component(&path).contains("/health"),
                    "public forward off the public path: {path:?}"
                ),
                _ => panic!("{service} forwarded without the backend: {forward:?}"),
            }
            return;
        }
        Err(_) => return,
    };
    assert_ne!(service, "local", "a local service asked the backend");
    let _ = authorization.authrep_call();
    let _ = authorization.authorize_call();
    let key = authorization.cache_key();
    // The key goes to shared data and is read back for reports: it must parse back.
    let Some(parts) = EntryKey::from_text(key.as_str()).and_then(|k| k.parts()) else {
        panic!("cache key does not parse back: {:?}", key.as_str());
    };
    // An application's keys share its entry (the app_id alone); the key is checked against
    // it by its digest, of the key as apisonator checks it (padded spellings are one key).
    let keyed = match &authorization.credentials {
        Credentials::AppIdAndKey { app_id, app_key } => {
            let check = authorization.key_check();
            assert_eq!(check, Some(key_digest(app_key)));
            assert_eq!(check, Some(key_digest(app_key_as_checked(app_key))));
            Credentials::AppId(app_id.clone())
        }
        other => {
            assert_eq!(authorization.key_check(), None);
            other.clone()
        }
    };
    assert_eq!(parts.credentials, keyed);
    let mut transactions = Transactions::default();
    // Minutes from the clock's, ahead of it (a clock stepped back) and unknown (0).
    let minute = match input.calls % 3 {
        0 => now / 60,
        1 => now / 60 + 5,
        _ => 0,
    };
    let calls = (minute, input.calls);
    transactions.add(&parts.credentials, &parts.usage, parts.code, calls);
    // Coded calls are a transaction each; `batches` puts at most 500 in one report call.
    let coded = (minute, input.calls % 500);
    transactions.add(&parts.credentials, &parts.usage, Some(200), coded);
    let identity = ReportingIdentity::of(authorization.service());
    let _ = BackendCall::report(&identity, &transactions, now);
    let answer = BackendAnswer {
        status: input.status,
        rejection_reason: input.reason,
        limit_reset: input.reset.clone(),
        limit_max_value: input.reset,
        limit_remaining: input.remaining,
        foreign: input.calls % 7 == 0,
    };
    let _ = authorization.decide(&answer);
    let _ = authorization.denied(Denial::LimitsExceeded {
        retry_after: Some(input.calls),
    });
});

//! What an authorization is cached under: service, credentials and usage, as APIcast's batcher
//! keys its `cached_auths` (reference §7.4). The usage is part of the key because the backend's
//! limit budget (`3scale-limit-remaining`) counts calls of that usage.

use crate::auth::digest::{sha256, to_hex};
use crate::credentials::Credentials;
use crate::encoding::{decode_component, push_component};
use crate::mapping::Usage;

/// `<service>[@<fingerprint>] <kind> <credential>[ <app_key>] <metric>=<delta>,...`, each part
/// percent-encoded (so `@` in a service id is `%40`),
/// so the text has no spaces, `|` or newlines inside parts and parses back for reports.
/// With the `3scale_referrer` policy the usage is followed by ` r<referrer>`: the backend checks
/// an application's referrer filters, so its answer holds for that referrer only. A referrer
/// longer than [`MAX_INLINE_REFERRER`] is kept as ` h<hex SHA-256>` instead.
/// A pending report's key may end with ` <code>`, the response code of its calls
/// (`backend.report_response_codes`): digits only, so it cannot be read as a usage part.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntryKey(String);

/// Longest `Referer` kept whole in a key, in bytes. Browsers send up to 4 KiB of URL, and
/// a long one is no credential to refuse: past this its digest stands for it, so a client
/// cannot make each cache entry hold kilobytes.
pub const MAX_INLINE_REFERRER: usize = 256;

/// The parts of a key, read back when its usage is reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyParts {
    pub service_id: String,
    /// The reporting identity the call was authorized under (`backend::reporting_fingerprint`);
    /// `None` in keys of modules before the twenty-sixth session.
    pub fingerprint: Option<String>,
    pub credentials: Credentials,
    pub usage: Vec<(String, u64)>,
    /// The response code the calls were answered with, for `log[code]`.
    pub code: Option<u16>,
    /// The `Referer` the authorization was asked with (reports do not carry it); a long one
    /// as `sha256:<hex>`.
    pub referrer: Option<String>,
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || at == 0 {
            break;
        }
    }
    for &d in digits.get(at..).unwrap_or_default() {
        out.push(char::from(d));
    }
}

/// An app_key as apisonator checks it (Ruby's `strip`): ` key` and `key` are one key to it, and
/// must share one budget here (found by an audit). A key's parts hold this form.
pub fn app_key_as_checked(app_key: &str) -> &str {
    app_key.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r' | '\0'))
}

impl EntryKey {
    /// A key without a reporting fingerprint (as modules before the twenty-sixth session made
    /// them): the tests' shorthand; the filter makes every key with [`EntryKey::identified`].
    #[cfg(test)]
    pub fn new(service_id: &str, credentials: &Credentials, usage: &Usage) -> EntryKey {
        EntryKey::identified(service_id, "", credentials, usage)
    }

    /// Built in one buffer: it is made for every request in batching mode. `fingerprint`: the
    /// service's `reporting_fingerprint` (hex digits; none if empty), after an `@` that no
    /// percent-encoded service id holds: a module before it reads the key as one of an
    /// unknown service, which it keeps for a worker that knows it rather than dropping it.
    pub fn identified(
        service_id: &str,
        fingerprint: &str,
        credentials: &Credentials,
        usage: &Usage,
    ) -> EntryKey {
        let mut text = String::with_capacity(64);
        push_component(&mut text, service_id);
        if !fingerprint.is_empty() {
            text.push('@');
            text.push_str(fingerprint);
        }
        let (kind, first, second) = match credentials {
            Credentials::UserKey(k) => ("u", k.as_str(), None),
            Credentials::AppIdAndKey { app_id, app_key } => {
                ("a", app_id.as_str(), Some(app_key_as_checked(app_key)))
            }
            Credentials::AppId(id) => ("i", id.as_str(), None),
        };
        text.push(' ');
        text.push_str(kind);
        for part in std::iter::once(first).chain(second) {
            text.push(' ');
            push_component(&mut text, part);
        }
        text.push(' ');
        for (i, (metric, delta)) in usage.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            push_component(&mut text, metric);
            text.push('=');
            // Into the key's buffer, without `fmt` (this runs for every request).
            push_decimal(&mut text, delta);
        }
        EntryKey(text)
    }

    /// The key of an authorization asked with this `Referer` (the `3scale_referrer` policy).
    pub fn with_referrer(mut self, referrer: Option<&str>) -> EntryKey {
        match referrer {
            Some(r) if r.len() > MAX_INLINE_REFERRER => {
                self.0.push_str(" h");
                self.0.push_str(&to_hex(&sha256(r.as_bytes())));
            }
            Some(r) => {
                self.0.push_str(" r");
                push_component(&mut self.0, r);
            }
            None => {}
        }
        self
    }

    /// A key read back from shared data; `None` if it is not one `identified` could have made.
    pub fn from_text(text: &str) -> Option<EntryKey> {
        let key = EntryKey(text.to_string());
        key.parts().map(|_| key)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key of calls answered with `code` (reported as `log[code]`).
    pub fn with_code(&self, code: u16) -> EntryKey {
        // As u64: its formatting is in the module already.
        EntryKey(format!("{} {}", self.0, u64::from(code)))
    }

    /// The key without a response code: the authorization the calls were counted against.
    pub fn base(&self) -> &str {
        self.split_code().0
    }

    fn split_code(&self) -> (&str, Option<u16>) {
        let text = self.0.as_str();
        let space = text.bytes().rposition(|b| b == b' ').unwrap_or(0);
        let (base, code) = (text.get(..space), text.get(space + 1..));
        match (base, code.and_then(|c| c.parse::<u64>().ok())) {
            // Digits only (a usage part has `=`); parsed as u64, whose parser is linked already.
            (Some(base), Some(code)) => (base, u16::try_from(code).ok()),
            _ => (text, None),
        }
    }

    pub fn parts(&self) -> Option<KeyParts> {
        let (base, code) = self.split_code();
        let mut fields = base.split(' ');
        let service = fields.next()?;
        let (service, fingerprint) = match service.split_once('@') {
            Some((service, fingerprint)) => (service, Some(fingerprint.to_string())),
            None => (service, None),
        };
        let service_id = decode_component(service);
        let mut next = || fields.next().map(decode_component);
        let credentials = match next()?.as_str() {
            "u" => Credentials::UserKey(next()?),
            "a" => Credentials::AppIdAndKey {
                app_id: next()?,
                app_key: next()?,
            },
            "i" => Credentials::AppId(next()?),
            _ => return None,
        };
        let usage_text = fields.next()?;
        let referrer = match fields.next() {
            Some(part) => match part.split_at_checked(1)? {
                ("r", r) => Some(decode_component(r)),
                ("h", digest) => Some(format!("sha256:{digest}")),
                _ => return None,
            },
            None => None,
        };
        if fields.next().is_some() {
            return None;
        }
        let usage = usage_text
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (metric, delta) = pair.split_once('=')?;
                Some((decode_component(metric), delta.parse().ok()?))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(KeyParts {
            service_id,
            fingerprint,
            credentials,
            usage,
            code,
            referrer,
        })
    }

    /// Two candidate slots among `slots` (two hash functions: a collision on one rarely
    /// collides on the other).
    /// The slots of the authorization: a code does not change them.
    pub fn slots(&self, slots: u32) -> [u32; 2] {
        let n = slots.max(1) as u64;
        let base = self.base().as_bytes();
        let a = fnv1a(base, 0xcbf2_9ce4_8422_2325);
        let b = fnv1a(base, 0x8422_2325_cbf2_9ce4);
        [(a % n) as u32, (b % n) as u32]
    }
}

fn fnv1a(bytes: &[u8], seed: u64) -> u64 {
    bytes.iter().fold(seed, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_written_as_fmt_writes_them() {
        for n in [
            0,
            1,
            9,
            10,
            99,
            100,
            12_345,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = String::from("=");
            push_decimal(&mut out, n);
            assert_eq!(out, format!("={n}"));
        }
    }

    fn usage(pairs: &[(&str, u64)]) -> Usage {
        let mut u = Usage::default();
        for (m, d) in pairs {
            u.add(m, *d);
        }
        u
    }

    #[test]
    fn round_trips_awkward_credentials() {
        let creds = Credentials::AppIdAndKey {
            app_id: "a b|c".into(),
            app_key: "k,=%\nk".into(),
        };
        let key = EntryKey::new("svc 1", &creds, &usage(&[("hits", u64::MAX), ("a,b=c", 0)]));
        assert!(!key.as_str().contains('|') && !key.as_str().contains('\n'));
        let parts = EntryKey::from_text(key.as_str()).unwrap().parts().unwrap();
        assert_eq!(parts.service_id, "svc 1");
        assert_eq!(parts.credentials, creds);
        assert_eq!(
            parts.usage,
            vec![("a,b=c".to_string(), 0), ("hits".to_string(), u64::MAX)]
        );
    }

    /// apisonator checks `app_key.strip`: every padded spelling is the one key.
    #[test]
    fn an_app_key_is_keyed_as_apisonator_strips_it() {
        let k = |app_key: &str| {
            let creds = Credentials::AppIdAndKey {
                app_id: " id ".into(),
                app_key: app_key.into(),
            };
            EntryKey::new("1", &creds, &usage(&[("hits", 1)]))
        };
        for padded in [" key", "key ", "\t\n\x0b\x0c\r\0key\0 "] {
            assert_eq!(k(padded), k("key"), "{padded:?}");
        }
        assert_ne!(k("k ey"), k("key"));
        // The app_id is looked up verbatim.
        let id = |app_id: &str| {
            EntryKey::new(
                "1",
                &Credentials::AppId(app_id.into()),
                &usage(&[("hits", 1)]),
            )
        };
        assert_ne!(id(" id"), id("id"));
    }

    #[test]
    fn usage_and_credentials_make_distinct_keys() {
        let k = |c: &str, u: &[(&str, u64)]| {
            EntryKey::new("1", &Credentials::UserKey(c.into()), &usage(u))
        };
        assert_ne!(k("a", &[("hits", 1)]), k("b", &[("hits", 1)]));
        assert_ne!(k("a", &[("hits", 1)]), k("a", &[("hits", 2)]));
        assert_ne!(
            EntryKey::new(
                "1",
                &Credentials::UserKey("a".into()),
                &usage(&[("hits", 1)])
            ),
            EntryKey::new("1", &Credentials::AppId("a".into()), &usage(&[("hits", 1)]))
        );
        assert_eq!(EntryKey::from_text("1 x a hits=1"), None);
        assert_eq!(EntryKey::from_text("1 u a hits=x"), None);
    }

    #[test]
    fn a_response_code_rides_on_the_key_and_leaves_the_authorization_alone() {
        let key = EntryKey::new(
            "1",
            &Credentials::AppIdAndKey {
                app_id: "a 1".into(),
                app_key: "k".into(),
            },
            &usage(&[("hits", 2)]),
        );
        assert_eq!(key.parts().unwrap().code, None);
        assert_eq!(key.base(), key.as_str());
        let coded = key.with_code(503);
        assert_eq!(coded.as_str(), format!("{} 503", key.as_str()));
        let parts = EntryKey::from_text(coded.as_str())
            .unwrap()
            .parts()
            .unwrap();
        assert_eq!(parts.code, Some(503));
        assert_eq!(parts.usage, vec![("hits".to_string(), 2)]);
        assert_eq!(coded.base(), key.as_str());
        assert_eq!(coded.slots(97), key.slots(97));
        assert_ne!(coded, key.with_code(200));
        // A key whose usage is empty still reads back, with or without a code.
        let empty = EntryKey::new("1", &Credentials::UserKey("u".into()), &Usage::default());
        assert_eq!(empty.parts().unwrap().code, None);
        assert_eq!(empty.with_code(200).parts().unwrap().code, Some(200));
        assert_eq!(empty.with_code(200).base(), empty.as_str());
    }

    #[test]
    fn a_long_referrer_is_kept_as_its_digest() {
        let base = || {
            EntryKey::new(
                "1",
                &Credentials::UserKey("k".into()),
                &usage(&[("hits", 1)]),
            )
        };
        let short = "https://example.com/".to_string() + &"a".repeat(MAX_INLINE_REFERRER - 20);
        let key = base().with_referrer(Some(&short));
        assert_eq!(
            key.parts().unwrap().referrer.as_deref(),
            Some(short.as_str())
        );
        let long = short.clone() + "b";
        let key = base().with_referrer(Some(&long));
        assert!(
            key.as_str().len() < base().as_str().len() + 70,
            "{}",
            key.as_str()
        );
        let parts = key.parts().unwrap();
        assert_eq!(
            parts.referrer,
            Some(format!("sha256:{}", to_hex(&sha256(long.as_bytes()))))
        );
        assert_eq!(parts.usage, vec![("hits".to_string(), 1)]);
        // Each long referrer has its own entry.
        assert_ne!(key, base().with_referrer(Some(&(short + "c"))));
        assert_eq!(
            EntryKey::from_text(&format!("{} x1", base().as_str())),
            None
        );
    }

    /// The reporting fingerprint rides after the service id; a key without one (an earlier
    /// module's) reads back without, and an `@` of a service id is escaped.
    #[test]
    fn a_reporting_fingerprint_rides_on_the_service_id() {
        let creds = Credentials::UserKey("k".into());
        let hits = usage(&[("hits", 1)]);
        let key = EntryKey::identified("4@2", "0a1b2c3d", &creds, &hits).with_code(200);
        assert!(
            key.as_str().starts_with("4%402@0a1b2c3d u k "),
            "{}",
            key.as_str()
        );
        let parts = EntryKey::from_text(key.as_str()).unwrap().parts().unwrap();
        assert_eq!(parts.service_id, "4@2");
        assert_eq!(parts.fingerprint.as_deref(), Some("0a1b2c3d"));
        assert_eq!(parts.code, Some(200));
        let plain = EntryKey::new("4@2", &creds, &hits);
        assert_eq!(plain.parts().unwrap().fingerprint, None);
        assert_eq!(plain.parts().unwrap().service_id, "4@2");
        // Another identity is another cache entry.
        assert_ne!(key.base(), plain.as_str());
        assert_ne!(
            EntryKey::identified("1", "0a1b2c3d", &creds, &hits),
            EntryKey::identified("1", "ffffffff", &creds, &hits)
        );
    }

    #[test]
    fn slots_are_in_range_and_stable() {
        let key = EntryKey::new(
            "1",
            &Credentials::UserKey("k".into()),
            &usage(&[("hits", 1)]),
        );
        let [a, b] = key.slots(7);
        assert!(a < 7 && b < 7);
        assert_eq!(key.slots(7), [a, b]);
    }
}

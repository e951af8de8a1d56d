//! Signed URLs: `expires` and `signature` query args, the signature being
//! hex(HMAC-SHA256(secret, METHOD \n PATH \n SORTED-QUERY \n EXPIRES)), where PATH is the
//! path as sent and SORTED-QUERY the raw query args except `signature`, sorted, joined by `&`.
//! Neither the host nor the args' order is signed (README: one secret per service, no arg
//! signed twice; found by an audit, 2026-12-06).

use crate::secret::constant_time_eq;
use crate::sorting::heap_sort;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::digest::to_hex;

pub const EXPIRES: &str = "expires";
pub const SIGNATURE: &str = "signature";

/// Why a signed URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedUrlError {
    Missing,
    Expired,
    BadSignature,
}

fn canonical(method: &str, path: &str, query: &str) -> (String, Option<String>) {
    let mut pairs: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| p.split('=').next() != Some(SIGNATURE))
        .collect();
    heap_sort(&mut pairs);
    let expires = pairs
        .iter()
        .find_map(|p| p.strip_prefix("expires="))
        .map(str::to_string);
    let text = format!(
        "{method}\n{path}\n{}\n{}",
        pairs.join("&"),
        expires.as_deref().unwrap_or("")
    );
    (text, expires)
}

fn mac(secret: &[u8], text: &str) -> Option<String> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    m.update(text.as_bytes());
    Some(to_hex(&m.finalize().into_bytes()))
}

/// Appends `expires` and `signature` to `path_and_query`; `None` when it already has either
/// (the URL would never verify, or outlive `expires`).
pub fn sign(secret: &[u8], method: &str, path_and_query: &str, expires: u64) -> Option<String> {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let reserved = |p: &str| matches!(p.split('=').next(), Some(EXPIRES | SIGNATURE));
    if query.split('&').any(reserved) {
        return None;
    }
    let query = if query.is_empty() {
        format!("{EXPIRES}={expires}")
    } else {
        format!("{query}&{EXPIRES}={expires}")
    };
    let (text, _) = canonical(method, path, &query);
    let signature = mac(secret, &text)?;
    Some(format!("{path}?{query}&{SIGNATURE}={signature}"))
}

/// Checks a request's signature and expiry.
pub fn verify(
    secret: &[u8],
    method: &str,
    path: &str,
    query: &str,
    now_s: u64,
) -> Result<(), SignedUrlError> {
    // Exactly one: the text signed leaves out every `signature` piece, so a second one
    // (`&signature=0;scope=all`, which a `;`-splitting upstream reads as `scope=all`) would
    // ride along unsigned (found by an audit, 2026-12-05).
    let mut signatures = query
        .split('&')
        .filter(|p| p.split('=').next() == Some(SIGNATURE));
    let signature = signatures
        .next()
        .and_then(|p| p.strip_prefix("signature="))
        .ok_or(SignedUrlError::Missing)?;
    if signatures.next().is_some() {
        return Err(SignedUrlError::BadSignature);
    }
    // Exactly one `expires`, in plain digits: with two, both are signed and the expiry read
    // is the first in sort order (`expires=1000…` before the signer's own), so a target that
    // already carried one outlived the signer's expiry (found by an audit, 2026-12-06).
    let mut expiries = query
        .split('&')
        .filter(|p| p.split('=').next() == Some(EXPIRES));
    if expiries.next().is_none() || expiries.next().is_some() {
        return Err(SignedUrlError::BadSignature);
    }
    let (text, expires) = canonical(method, path, query);
    let expires: u64 = expires
        .filter(|e| !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|e| e.parse().ok())
        .ok_or(SignedUrlError::BadSignature)?;
    let expected = mac(secret, &text).ok_or(SignedUrlError::BadSignature)?;
    if !constant_time_eq(
        expected.as_bytes(),
        signature.to_ascii_lowercase().as_bytes(),
    ) {
        return Err(SignedUrlError::BadSignature);
    }
    if now_s > expires {
        return Err(SignedUrlError::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_or_spelled_expires_is_refused_and_never_signed() {
        assert_eq!(sign(b"k", "GET", "/f?expires=10000000000", 1000), None);
        assert_eq!(sign(b"k", "GET", "/f?a=1&signature=x", 1000), None);
        // What a signer that did not refuse would have made: both pieces signed.
        let query = "expires=10000000000&expires=1000";
        let (text, _) = canonical("GET", "/f", query);
        let smuggled = format!("{query}&signature={}", mac(b"k", &text).unwrap());
        assert_eq!(
            verify(b"k", "GET", "/f", &smuggled, 2000),
            Err(SignedUrlError::BadSignature)
        );
        for spelled in ["+1000", "01000", " 1000", ""] {
            let query = format!("expires={spelled}");
            let (text, _) = canonical("GET", "/f", &query);
            let url = format!("{query}&signature={}", mac(b"k", &text).unwrap());
            assert_eq!(
                verify(b"k", "GET", "/f", &url, 10),
                if spelled == "01000" {
                    Ok(())
                } else {
                    Err(SignedUrlError::BadSignature)
                },
                "{spelled:?}"
            );
        }
    }

    #[test]
    fn signed_url_verifies_until_it_expires() {
        let url = sign(b"k", "GET", "/files/a.txt?b=2&a=1", 1000).unwrap();
        let (path, query) = url.split_once('?').unwrap();
        assert_eq!(verify(b"k", "GET", path, query, 999), Ok(()));
        assert_eq!(verify(b"k", "GET", path, query, 1000), Ok(()));
        assert_eq!(
            verify(b"k", "GET", path, query, 1001),
            Err(SignedUrlError::Expired)
        );
        assert_eq!(
            verify(b"other", "GET", path, query, 999),
            Err(SignedUrlError::BadSignature)
        );
        assert_eq!(
            verify(b"k", "POST", path, query, 999),
            Err(SignedUrlError::BadSignature)
        );
        assert_eq!(
            verify(b"k", "GET", "/files/b.txt", query, 999),
            Err(SignedUrlError::BadSignature)
        );
        let altered = query.replace("expires=1000", "expires=9999");
        assert_eq!(
            verify(b"k", "GET", path, &altered, 999),
            Err(SignedUrlError::BadSignature)
        );
        for second in ["&signature=0;c=3", "&signature", "&signature=x"] {
            let twice = format!("{query}{second}");
            assert_eq!(
                verify(b"k", "GET", path, &twice, 999),
                Err(SignedUrlError::BadSignature),
                "{second}"
            );
        }
        let added = format!("{query}&c=3");
        assert_eq!(
            verify(b"k", "GET", path, &added, 999),
            Err(SignedUrlError::BadSignature)
        );
        assert_eq!(
            verify(b"k", "GET", path, "a=1", 999),
            Err(SignedUrlError::Missing)
        );
    }
}

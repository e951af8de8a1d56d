//! The path APIcast matches rules against: `escape_uri(ngx.var.uri)` (reference §2.3).
//!
//! `ngx.var.uri` is nginx's normalised path: percent-decoded, slashes merged, dot segments
//! resolved. APIcast then re-escapes it with `ngx_escape_uri(NGX_ESCAPE_URI)`.

/// Normalises a request path (query string excluded) the way APIcast sees it.
///
/// Decoded bytes are treated like literal ones (as nginx does): `%2F` is a real `/`
/// and `%2e%2e` is a dot segment. Differences from nginx, which would answer 400:
/// a `..` above the root is clamped at the root, a `%` not followed by two hex
/// digits stays literal (and is re-escaped as `%25`), and `%00` is kept (as `%00`).
pub fn normalize_path(raw_path: &str) -> String {
    let raw = raw_path.as_bytes();
    // The adapter strips the query, but never let `?`/`#` leak into the path.
    let end = raw
        .iter()
        .position(|b| *b == b'?' || *b == b'#')
        .unwrap_or(raw.len());
    let raw = raw.get(..end).unwrap_or(raw);
    if is_normal(raw) {
        // Nothing to decode, merge, resolve or escape: the common case, one pass.
        return String::from_utf8_lossy(raw).into_owned();
    }
    let decoded: std::borrow::Cow<[u8]> = percent_encoding::percent_decode(raw).into();
    escape_uri(&resolve_segments(&decoded))
}

/// [`normalize_path`] for a path already decoded (a `url_rewriting` result): every byte is
/// literal, so a `%` is escaped (`%252F` stays the text `%2F`).
pub fn normalize_decoded(decoded: &[u8]) -> String {
    escape_uri(&resolve_segments(decoded))
}

/// Merges slashes and resolves `.`/`..`; always returns an absolute path.
fn resolve_segments(path: &[u8]) -> Vec<u8> {
    let mut segments: Vec<&[u8]> = Vec::new();
    // nginx keeps a trailing slash after a final `/`, `/.` or `/..`: `/a/b/..` is `/a/`.
    let mut trailing_slash = false;
    for segment in path.split(|b| *b == b'/') {
        match segment {
            b"" | b"." => trailing_slash = true,
            b".." => {
                segments.pop();
                trailing_slash = true;
            }
            _ => {
                segments.push(segment);
                trailing_slash = false;
            }
        }
    }
    let mut out = Vec::with_capacity(path.len() + 1);
    for segment in &segments {
        out.push(b'/');
        out.extend_from_slice(segment);
    }
    if out.is_empty() || trailing_slash {
        out.push(b'/');
    }
    out
}

/// `ngx_escape_uri(NGX_ESCAPE_URI)`: only space, `#`, `%`, `?`, controls and bytes >= 0x7F.
/// Runs of bytes kept as they are are copied at once (a path may be long).
fn escape_uri(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        let kept = rest
            .iter()
            .position(|b| needs_escape(*b))
            .unwrap_or(rest.len());
        let (run, tail) = rest.split_at(kept);
        out.extend_from_slice(run);
        if let Some((&byte, tail)) = tail.split_first() {
            out.extend_from_slice(&[
                b'%',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 15)],
            ]);
            rest = tail;
        } else {
            rest = tail;
        }
    }
    // Only ASCII was written.
    String::from_utf8(out).unwrap_or_default()
}

/// Whether `raw` is already what [`normalize_path`] would return: absolute, and without
/// `%`, bytes to escape, `//`, or `.`/`..` segments.
fn is_normal(raw: &[u8]) -> bool {
    if raw.first() != Some(&b'/') {
        return false;
    }
    let mut i = 0;
    while let Some(&byte) = raw.get(i) {
        if needs_escape(byte) {
            return false;
        }
        if byte == b'/' {
            let dots = raw.get(i + 1..).unwrap_or_default();
            let dot_segment = |n: usize| {
                dots.len() >= n
                    && dots.iter().take(n).all(|b| *b == b'.')
                    && matches!(dots.get(n), None | Some(b'/'))
            };
            if dots.first() == Some(&b'/') || dot_segment(1) || dot_segment(2) {
                return false;
            }
        }
        i += 1;
    }
    true
}

pub(super) fn needs_escape(byte: u8) -> bool {
    matches!(byte, 0x00..=0x20 | b'#' | b'%' | b'?' | 0x7F..=0xFF)
}

#[cfg(test)]
mod tests {
    use super::{escape_uri, normalize_path, resolve_segments};

    #[test]
    fn fast_path_agrees_with_full_normalisation() {
        let pieces = ["/", "a", ".", "..", "%2F", "%", " ", "b.c", "~", "?", "é"];
        let mut seed = 7u64;
        for _ in 0..5000 {
            let mut path = String::new();
            for _ in 0..(seed % 8) {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                path.push_str(pieces[(seed >> 33) as usize % pieces.len()]);
            }
            let raw = path.split(['?', '#']).next().unwrap_or_default();
            let decoded: Vec<u8> = percent_encoding::percent_decode(raw.as_bytes()).collect();
            let full = escape_uri(&resolve_segments(&decoded));
            assert_eq!(normalize_path(&path), full, "{path:?}");
            seed = seed.wrapping_add(1);
        }
    }

    #[test]
    fn keeps_already_escaped_space() {
        // t/apicast-mapping-rules.t TEST 6 and t/apicast-path-routing.t TEST 4.
        assert_eq!(normalize_path("/foo%20/bar/"), "/foo%20/bar/");
        assert_eq!(normalize_path("/one/12%2012"), "/one/12%2012");
        assert_eq!(normalize_path("/foo /test"), "/foo%20/test");
    }

    #[test]
    fn decoded_bytes_act_like_literal_ones() {
        assert_eq!(normalize_path("/a%2Fb"), "/a/b");
        assert_eq!(normalize_path("/a%2fb"), "/a/b");
        assert_eq!(normalize_path("/a%2F%2Fb"), "/a/b");
        assert_eq!(normalize_path("/%2e%2e/admin"), "/admin");
        assert_eq!(normalize_path("/x/%2E%2E/admin"), "/admin");
        assert_eq!(normalize_path("/x/%2e/y"), "/x/y");
    }

    #[test]
    fn reescapes_percent_hash_and_question_mark() {
        assert_eq!(normalize_path("/a%25b"), "/a%25b");
        assert_eq!(normalize_path("/foo%23/test"), "/foo%23/test");
        assert_eq!(normalize_path("/a%3Fb"), "/a%3Fb");
        assert_eq!(normalize_path("/100%"), "/100%25");
        assert_eq!(normalize_path("/%zz"), "/%25zz");
    }

    #[test]
    fn keeps_sub_delims_literal() {
        // uri_escape_spec.lua: `$ = ! ,` are kept.
        assert_eq!(normalize_path("/$=!,&+:@;'*()~\"<>"), "/$=!,&+:@;'*()~\"<>");
        assert_eq!(normalize_path("/%24%3D%21"), "/$=!");
    }

    #[test]
    fn escapes_controls_and_high_bytes_upper_case() {
        assert_eq!(normalize_path("/a%0Ab%09"), "/a%0Ab%09");
        assert_eq!(normalize_path("/%7f"), "/%7F");
        assert_eq!(normalize_path("/caf%c3%a9"), "/caf%C3%A9");
        assert_eq!(normalize_path("/café"), "/caf%C3%A9");
        // Invalid UTF-8 once decoded is still handled byte by byte.
        assert_eq!(normalize_path("/%ff%fe"), "/%FF%FE");
    }

    #[test]
    fn merges_slashes() {
        assert_eq!(normalize_path("//foo///bar"), "/foo/bar");
        assert_eq!(normalize_path("///"), "/");
        assert_eq!(normalize_path("/foo//"), "/foo/");
    }

    #[test]
    fn resolves_dot_segments() {
        assert_eq!(normalize_path("/foo/./bar/../baz"), "/foo/baz");
        assert_eq!(normalize_path("/foo/.."), "/");
        assert_eq!(normalize_path("/foo/bar/.."), "/foo/");
        assert_eq!(normalize_path("/foo/."), "/foo/");
        assert_eq!(normalize_path("/foo/../"), "/");
        assert_eq!(normalize_path("/..foo/bar."), "/..foo/bar.");
        assert_eq!(normalize_path("/.../x"), "/.../x");
    }

    #[test]
    fn clamps_dot_dot_at_root() {
        assert_eq!(normalize_path("/.."), "/");
        assert_eq!(normalize_path("/../../admin"), "/admin");
        assert_eq!(normalize_path("/a/../../b/"), "/b/");
    }

    #[test]
    fn keeps_trailing_slash() {
        assert_eq!(normalize_path("/foo/"), "/foo/");
        assert_eq!(normalize_path("/foo"), "/foo");
        assert_eq!(normalize_path("/"), "/");
    }

    #[test]
    fn empty_or_relative_path_is_rooted() {
        assert_eq!(normalize_path(""), "/");
        assert_eq!(normalize_path("foo/bar"), "/foo/bar");
    }

    #[test]
    fn cuts_query_and_fragment_defensively() {
        assert_eq!(normalize_path("/foo?a=b"), "/foo");
        assert_eq!(normalize_path("/foo#frag"), "/foo");
        assert_eq!(normalize_path("/foo%3F?x"), "/foo%3F");
    }
}

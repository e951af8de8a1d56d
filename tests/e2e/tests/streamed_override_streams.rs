//! The second audit of the streamed `_method` reading (2026-12-05; its findings are in
//! `streamed_override_spellings.rs`): how bodies arrive. Each held on the module it audited:
//! one-byte HTTP/2 DATA frames after a cache hit, HTTP/2 `content-length` with trailers (the
//! upstream never has the whole body), a `_method` found only when the trailers end the body,
//! a body past Envoy's buffer while held (Envoy's 413, nothing upstream), and a mid-body
//! refusal after a cache hit over HTTP/1.1 (Content-Length and chunked).

mod support;

use e2e::h2::Connection;
use std::thread::sleep;
use std::time::Duration;
use support::pieces::*;

// --- HTTP/2 --------------------------------------------------------------------------------

/// A JSON and a multipart body sent one byte per DATA frame over HTTP/2, forwarded from the
/// cache at the headers: every frame is read; refused at the frame that completes the
/// `_method` (the JSON key's `:`, the part header's blank line), which the upstream never
/// gets: it has a prefix of the body, then a reset.
#[test]
fn h2_one_byte_data_frames_after_a_cache_hit() {
    let s = cached_stack();
    let t = target();
    for (kind, ct, body) in [
        (
            "json",
            "application/json".to_string(),
            br#"{"item":42,"_method":"DELETE"}"#.to_vec(),
        ),
        ("mp", mp_type(), multipart(b"name=\"_method\"")),
    ] {
        let mark = format!("h2-tiny-{kind}");
        let mut c = Connection::open(s.port()).unwrap();
        c.head(
            1,
            "POST",
            "api.example.com",
            &t,
            &[("content-type", &ct), (MARK, &mark)],
            false,
        );
        for (i, b) in body.iter().enumerate() {
            c.data(1, &[*b], i + 1 == body.len());
        }
        let r = c.answer(1).unwrap();
        assert_eq!((r.status, r.body.as_str()), REFUSED, "{mark}");
        let whole = String::from_utf8_lossy(&body).to_string();
        for got in upstream_bodies(&s, &mark) {
            assert!(
                got.len() < whole.len() && !got.contains("_method\":"),
                "{mark}: the upstream got {got:?}"
            );
        }
    }
}

/// HTTP/2 with a `content-length`, the body in DATA frames, then trailers, forwarded from the
/// cache: the HTTP/1.1 upstream gets `Content-Length`, so a body it received in full would be
/// a complete request even though the trailers never came. The `_method` key's `:` is in the
/// last DATA frame: that frame is held, the upstream never has `content-length` bytes.
#[test]
fn h2_content_length_and_trailers_never_complete_upstream() {
    let s = cached_stack();
    let t = target();
    let body = br#"{"item":42,"note":"x","_method":"DELETE"}"#.to_vec();
    let at = body.windows(2).rposition(|w| w == b"\":").unwrap() + 1;
    let len = body.len().to_string();
    for trailers in [false, true] {
        let mark = format!("h2-cl-{trailers}");
        let mut c = Connection::open(s.port()).unwrap();
        c.head(
            1,
            "POST",
            "api.example.com",
            &t,
            &[
                ("content-type", "application/json"),
                ("content-length", &len),
                (MARK, &mark),
            ],
            false,
        );
        c.data(1, &body[..at - 3], false);
        sleep(Duration::from_millis(300));
        c.data(1, &body[at - 3..], !trailers);
        if trailers {
            c.trailers(1, &[("x-t", "1")]);
        }
        let r = c.answer(1).unwrap();
        assert_eq!((r.status, r.body.as_str()), REFUSED, "{mark}");
        sleep(Duration::from_millis(200));
        for got in upstream_bodies(&s, &mark) {
            assert!(got.len() < body.len(), "{mark}: the upstream got {got:?}");
        }
    }
}

/// A multipart value that only ends with the body (no blank line after the part header) is
/// found at the trailers (`finish`), after every DATA frame went upstream: the upstream has
/// every byte but not the end of the stream, and is reset. No framework takes a part whose
/// headers never end as a field, so nothing was at risk; the request is refused all the same.
#[test]
fn h2_value_found_only_at_the_trailers() {
    let s = cached_stack();
    let t = target();
    let body = format!(
        "--{B}\r\nContent-Disposition: form-data; name=\"item\"\r\n\r\n42\r\n\
         --{B}\r\nContent-Disposition: form-data; name=_method"
    );
    let mut c = Connection::open(s.port()).unwrap();
    c.head(
        1,
        "POST",
        "api.example.com",
        &t,
        &[("content-type", &mp_type()), (MARK, "h2-finish")],
        false,
    );
    c.data(1, body.as_bytes(), false);
    sleep(Duration::from_millis(300));
    c.trailers(1, &[("x-t", "1")]);
    let r = c.answer(1).unwrap();
    assert_eq!((r.status, r.body.as_str()), REFUSED);
}

// --- Large bodies and mid-body refusals over HTTP/1.1 ------------------------------------------

/// A 3 MB multipart body while the request waits for a slow backend (authrep, 800 ms):
/// Envoy buffers it for the paused filter; past its buffer limit it answers 413 itself, and
/// nothing reaches the upstream (its headers were never let go).
#[test]
fn a_body_beyond_envoys_buffer_while_held() {
    let s = stack();
    s.backend.set_latency(Duration::from_millis(800));
    let file: String = (0..70_000)
        .map(|i| format!("line {i:05} of the file, named in no header\r\n"))
        .collect();
    for name in ["note", "_method"] {
        let body = format!(
            "--{B}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.txt\"\r\n\
             Content-Type: text/plain\r\n\r\n{file}\r\n--{B}\r\n\
             Content-Disposition: form-data; name=\"{name}\"\r\n\r\nDELETE\r\n--{B}--\r\n"
        );
        let mark = format!("held-large-{name}");
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: api.example.com\r\n{MARK}: {mark}\r\n\
             Content-Type: {}\r\nContent-Length: {}\r\n\r\n",
            target(),
            mp_type(),
            body.len()
        );
        let r = support::adversarial::send_streaming(s.port(), &head, body.clone().into_bytes())
            .unwrap();
        let seen = upstream_bodies(&s, &mark);
        eprintln!("{mark}: {} {:?}; upstream {}", r.status, r.body, seen.len());
        if name == "_method" {
            assert!(
                matches!(r.status, 400 | 413),
                "{mark}: {} {:?}",
                r.status,
                r.body
            );
        }
        assert!(
            seen.iter().all(|b| b.len() < body.len()),
            "{mark}: the upstream got the whole body"
        );
    }
}

/// Refused mid-body after a cache hit forwarded the headers: the upstream has the first piece
/// and is reset, never the whole body, with Content-Length and chunked.
#[test]
fn refused_mid_body_after_a_cache_hit_http1() {
    let s = cached_stack();
    let body = multipart(b"name=\"_method\"");
    let at = body.windows(7).rposition(|w| w == b"_method").unwrap() + 3;
    for chunked in [false, true] {
        let mark = format!("mid-{chunked}");
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: api.example.com\r\n{MARK}: {mark}\r\n\
             Content-Type: {}\r\n",
            target(),
            mp_type()
        );
        let pieces = [
            (Duration::ZERO, &body[..at]),
            (Duration::from_millis(400), &body[at..]),
        ];
        let r = send_in_pieces(s.port(), &head, &pieces, chunked).unwrap();
        assert_eq!((r.status, r.body.as_str()), REFUSED, "{mark}");
        sleep(Duration::from_millis(200));
        let seen = upstream_bodies(&s, &mark);
        eprintln!(
            "{mark}: upstream {:?}",
            seen.iter().map(String::len).collect::<Vec<_>>()
        );
        for got in seen {
            assert!(got.len() < body.len(), "{mark}: the upstream got {got:?}");
        }
    }
}

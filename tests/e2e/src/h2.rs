//! A minimal HTTP/2 cleartext (prior knowledge) client for what curl cannot send: request
//! **trailers** ([`send_with_trailers`]: one request per connection, stream 1: HEADERS, DATA
//! (the body), then a trailing HEADERS frame with END_STREAM), and streams driven frame by
//! frame: paused mid-body, reset, or several at once ([`Connection`]).
//!
//! Requests are HPACK-encoded as literals without indexing or Huffman coding. Of the answer
//! only the status (first header field: an indexed static entry or a literal, Huffman-coded
//! or not) and the DATA frames are decoded, which is all an access-control test needs.
//!
//! ```no_run
//! # let port = 10000;
//! let r = e2e::h2::send_with_trailers(
//!     port,
//!     "POST",
//!     "api.example.com",
//!     "/orders",
//!     &[("user_key", "k")],
//!     b"{}",
//!     &[("x-checksum", "1")],
//! )
//! .unwrap();
//! assert_eq!(r.status, 403);
//! ```

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The final status and body of an HTTP/2 answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H2Response {
    pub status: u16,
    pub body: String,
}

const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const GOAWAY: u8 = 7;
const END_STREAM: u8 = 1;
const END_HEADERS: u8 = 4;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// HPACK integer with an `n`-bit prefix (RFC 7541 §5.1), first byte ORed with `mask`.
fn integer(out: &mut Vec<u8>, mask: u8, n: u32, mut value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(mask | value as u8);
        return;
    }
    out.push(mask | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128 + 128) as u8);
        value /= 128;
    }
    out.push(value as u8);
}

/// Literal header field without indexing, new name, no Huffman coding.
fn literal(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.push(0);
    integer(out, 0, 7, name.len());
    out.extend_from_slice(name.to_ascii_lowercase().as_bytes());
    integer(out, 0, 7, value.len());
    out.extend_from_slice(value);
}

/// HPACK block of literal fields.
fn block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in fields {
        literal(&mut out, k, v.as_bytes());
    }
    out
}

/// Sends `method authority path` with `headers`, `body` (one DATA frame each 16 KB) and
/// `trailers` over HTTP/2 to `127.0.0.1:port`, and reads the answer.
pub fn send_with_trailers(
    port: u16,
    method: &str,
    authority: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    trailers: &[(&str, &str)],
) -> io::Result<H2Response> {
    let mut c = Connection::open(port)?;
    let chunks: Vec<&[u8]> = body.chunks(16 * 1024).collect();
    c.head(
        1,
        method,
        authority,
        path,
        headers,
        chunks.is_empty() && trailers.is_empty(),
    );
    for (i, chunk) in chunks.iter().enumerate() {
        c.data(1, chunk, i + 1 == chunks.len() && trailers.is_empty());
    }
    if !trailers.is_empty() {
        c.trailers(1, trailers);
    }
    c.answer(1)
}

/// One HTTP/2 cleartext connection whose streams a test drives frame by frame: a body sent in
/// parts, a pause between them, trailers, a `RST_STREAM`, several streams at once. Writes
/// ignore errors: the server may answer (and reset a stream) before reading it all.
pub struct Connection {
    conn: TcpStream,
}

impl Connection {
    pub fn open(port: u16) -> io::Result<Connection> {
        let mut conn = TcpStream::connect(("127.0.0.1", port))?;
        conn.set_read_timeout(Some(Duration::from_secs(20)))?;
        let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        out.extend(frame(SETTINGS, 0, 0, &[]));
        conn.write_all(&out)?;
        Ok(Connection { conn })
    }

    /// The request's head on `stream` (odd, increasing); `end`: no body or trailers follow.
    pub fn head(
        &mut self,
        stream: u32,
        method: &str,
        authority: &str,
        path: &str,
        headers: &[(&str, &str)],
        end: bool,
    ) {
        let mut fields = vec![
            (":method", method),
            (":scheme", "http"),
            (":path", path),
            (":authority", authority),
        ];
        fields.extend_from_slice(headers);
        let flags = END_HEADERS | if end { END_STREAM } else { 0 };
        let _ = (self.conn).write_all(&frame(HEADERS, flags, stream, &block(&fields)));
    }

    /// A request head of exactly these fields, pseudo-headers included (a `CONNECT` has no
    /// `:scheme` or `:path`; an extended `CONNECT` adds `:protocol`); `end` as in [`head`](Self::head).
    pub fn head_fields(&mut self, stream: u32, fields: &[(&str, &str)], end: bool) {
        let flags = END_HEADERS | if end { END_STREAM } else { 0 };
        let _ = (self.conn).write_all(&frame(HEADERS, flags, stream, &block(fields)));
    }

    /// How long [`answer`](Self::answer) waits for a frame (20 s by default); a tunnel's
    /// answer has no end, so its body is what arrived within this time.
    pub fn read_timeout(&mut self, timeout: Duration) {
        let _ = self.conn.set_read_timeout(Some(timeout));
    }

    /// A DATA frame; `end`: the last of the request.
    pub fn data(&mut self, stream: u32, body: &[u8], end: bool) {
        let flags = if end { END_STREAM } else { 0 };
        let _ = self.conn.write_all(&frame(DATA, flags, stream, body));
    }

    /// Trailers, which end the request.
    pub fn trailers(&mut self, stream: u32, trailers: &[(&str, &str)]) {
        let flags = END_HEADERS | END_STREAM;
        let _ = (self.conn).write_all(&frame(HEADERS, flags, stream, &block(trailers)));
    }

    /// `RST_STREAM` with `CANCEL` (8), as a browser cancelling a fetch.
    pub fn reset(&mut self, stream: u32) {
        let _ = (self.conn).write_all(&frame(RST_STREAM, 0, stream, &8u32.to_be_bytes()));
    }

    /// The answer on `stream`; frames of other streams are skipped.
    pub fn answer(&mut self, stream: u32) -> io::Result<H2Response> {
        let mut status = None;
        let mut body = Vec::new();
        loop {
            let mut head = [0u8; 9];
            if let Err(e) = self.conn.read_exact(&mut head) {
                return match status {
                    Some(status) => Ok(H2Response {
                        status,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    }),
                    None => Err(e),
                };
            }
            let len =
                (usize::from(head[0]) << 16) | (usize::from(head[1]) << 8) | usize::from(head[2]);
            let (kind, flags) = (head[3], head[4]);
            let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
            let mut payload = vec![0u8; len];
            self.conn.read_exact(&mut payload)?;
            match (kind, id) {
                (SETTINGS, 0) if flags & 1 == 0 => {
                    let _ = self.conn.write_all(&frame(SETTINGS, 1, 0, &[]));
                }
                (HEADERS, i) if i == stream && status.is_none() => {
                    status = Some(decode_status(&payload).ok_or_else(|| {
                        io::Error::other(format!("cannot decode the status of {payload:02x?}"))
                    })?);
                }
                (DATA, i) if i == stream => body.extend_from_slice(&payload),
                (RST_STREAM, i) if i == stream && status.is_some() => break,
                (GOAWAY, _) if status.is_some() => break,
                (RST_STREAM, i) if i == stream => {
                    return Err(io::Error::other(format!("stream {stream} reset")))
                }
                (GOAWAY, _) => return Err(io::Error::other("GOAWAY")),
                _ => {}
            }
            if id == stream && (kind == DATA || kind == HEADERS) && flags & END_STREAM != 0 {
                break;
            }
        }
        let status = status.ok_or_else(|| io::Error::other("no response headers"))?;
        Ok(H2Response {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

/// Reads an HPACK integer with an `n`-bit prefix at `*i`.
fn read_integer(block: &[u8], i: &mut usize, n: u32) -> Option<usize> {
    let max = (1usize << n) - 1;
    let mut value = usize::from(*block.get(*i)?) & max;
    *i += 1;
    if value < max {
        return Some(value);
    }
    let mut shift = 0;
    loop {
        let b = *block.get(*i)?;
        *i += 1;
        value += usize::from(b & 127) << shift;
        shift += 7;
        if b & 128 == 0 {
            return Some(value);
        }
    }
}

/// The `:status` of a response header block (its first field).
fn decode_status(block: &[u8]) -> Option<u16> {
    let mut i = 0;
    // Dynamic table size updates may come first.
    while block.get(i)? & 0xe0 == 0x20 {
        read_integer(block, &mut i, 5)?;
    }
    let first = *block.get(i)?;
    if first & 0x80 != 0 {
        let index = read_integer(block, &mut i, 7)?;
        return [200, 204, 206, 304, 400, 404, 500]
            .get(index.checked_sub(8)?)
            .copied();
    }
    let prefix = if first & 0x40 != 0 { 6 } else { 4 };
    if read_integer(block, &mut i, prefix)? != 8 {
        return None; // not the `:status` name
    }
    let huffman = block.get(i)? & 0x80 != 0;
    let len = read_integer(block, &mut i, 7)?;
    let raw = block.get(i..i + len)?;
    let text = if huffman {
        huffman_digits(raw)?
    } else {
        String::from_utf8_lossy(raw).into_owned()
    };
    text.parse().ok()
}

/// Huffman-decodes a string of digits (RFC 7541 Appendix B: `0`-`2` are 5-bit codes 0-2,
/// `3`-`9` are 6-bit codes 0x19-0x1f; the padding is all ones).
fn huffman_digits(raw: &[u8]) -> Option<String> {
    let bits: Vec<u8> = raw
        .iter()
        .flat_map(|b| (0..8).rev().map(move |k| (b >> k) & 1))
        .collect();
    let mut out = String::new();
    let mut i = 0;
    let take = |i: usize, n: usize| bits[i..i + n].iter().fold(0u8, |a, b| a << 1 | b);
    while i + 5 <= bits.len() {
        if bits[i..].iter().all(|b| *b == 1) {
            break;
        }
        let five = take(i, 5);
        if five <= 2 {
            out.push(char::from(b'0' + five));
            i += 5;
        } else if i + 6 <= bits.len() && (0x19..=0x1f).contains(&take(i, 6)) {
            out.push(char::from(b'0' + 3 + (take(i, 6) - 0x19)));
            i += 6;
        } else {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_statuses() {
        assert_eq!(decode_status(&[0x88]), Some(200));
        assert_eq!(decode_status(&[0x3f, 0xe1, 0x1f, 0x8d]), Some(404));
        // "403" Huffman: 011010 00000 011001 + padding 1111111 = 0x68 0x0c 0xff? computed below.
        let code = [0b0110_1000, 0b0000_1100, 0b1111_1111];
        assert_eq!(huffman_digits(&code).as_deref(), Some("403"));
        assert_eq!(
            decode_status(&[0x48, 0x83, code[0], code[1], code[2]]),
            Some(403)
        );
        assert_eq!(decode_status(&[0x08, 0x03, b'4', b'2', b'9']), Some(429));
        let mut v = Vec::new();
        integer(&mut v, 0, 7, 300);
        let mut i = 0;
        assert_eq!(read_integer(&v, &mut i, 7), Some(300));
    }
}

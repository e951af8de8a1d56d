//! Bodies sent in pieces over HTTP/1.1, and what the upstream received of them: for the tests
//! of bodies read as they stream (`streamed_*.rs`).

use super::Stack;
use e2e::http::read_response;
use e2e::Response;
use std::io::{self, BufReader, Write};
use std::net::TcpStream;
use std::thread::sleep;
use std::time::Duration;

/// The header the tests mark each request with, to find it at the upstream.
pub const MARK: &str = "x-case";

/// Sends `head` (the request line and header lines, without framing or the blank line), then
/// the body in `pieces`, each after its pause, chunked or with a `Content-Length`; reads the
/// answer. Writes may fail once the server has answered: the answer is the verdict.
pub fn send_in_pieces(
    port: u16,
    head: &str,
    pieces: &[(Duration, &[u8])],
    chunked: bool,
) -> io::Result<Response> {
    let length: usize = pieces.iter().map(|(_, p)| p.len()).sum();
    let framing = match chunked {
        true => "Transfer-Encoding: chunked\r\n\r\n".to_string(),
        false => format!("Content-Length: {length}\r\n\r\n"),
    };
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let _ = stream.write_all(format!("{head}{framing}").as_bytes());
    for (i, (pause, piece)) in pieces.iter().enumerate() {
        sleep(*pause);
        let mut wire = match chunked {
            true => [format!("{:x}\r\n", piece.len()).as_bytes(), piece, b"\r\n"].concat(),
            false => piece.to_vec(),
        };
        if chunked && i + 1 == pieces.len() {
            wire.extend_from_slice(b"0\r\n\r\n");
        }
        let _ = stream.write_all(&wire);
    }
    read_response(&mut BufReader::new(stream), false)
}

/// The bodies the upstream received for requests marked `mark`.
pub fn upstream_bodies(s: &Stack, mark: &str) -> Vec<String> {
    (s.echo.requests().into_iter())
        .filter(|r| r.header(MARK) == Some(mark))
        .map(|r| r.body)
        .collect()
}

//! An HTTP server that answers every GET with one JSON document the test can swap
//! (a JWKS endpoint for key-rotation tests), and counts the requests.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

pub struct DocumentServer {
    port: u16,
    document: Arc<Mutex<(u16, String)>>,
    hits: Arc<AtomicUsize>,
    server: Arc<tiny_http::Server>,
}

impl DocumentServer {
    pub fn start(document: &str) -> io::Result<DocumentServer> {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").map_err(io::Error::other)?);
        let port = server.server_addr().to_ip().map(|a| a.port()).unwrap_or(0);
        let doc = Arc::new(Mutex::new((200, document.to_string())));
        let hits = Arc::new(AtomicUsize::new(0));
        let (s, d, h) = (server.clone(), doc.clone(), hits.clone());
        thread::spawn(move || {
            for request in s.incoming_requests() {
                h.fetch_add(1, Ordering::SeqCst);
                let (status, body) = d.lock().unwrap().clone();
                let response = tiny_http::Response::from_string(body)
                    .with_status_code(status)
                    .with_header(
                        tiny_http::Header::from_bytes("content-type", "application/json").unwrap(),
                    );
                let _ = request.respond(response);
            }
        });
        Ok(DocumentServer {
            port,
            document: doc,
            hits,
            server,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves `document` with `status` from now on.
    pub fn set(&self, status: u16, document: &str) {
        *self.document.lock().unwrap() = (status, document.to_string());
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for DocumentServer {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

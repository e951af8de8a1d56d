//! An HTTP server that answers every request with one JSON document the test can swap
//! (a JWKS endpoint for key-rotation tests), and counts the requests.
//!
//! HTTP/1.1 with keep-alive (hyper), on a tokio runtime this handle owns.

use std::convert::Infallible;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::StatusCode;
use hyper_util::rt::TokioIo;

pub struct DocumentServer {
    port: u16,
    document: Arc<Mutex<(u16, String)>>,
    hits: Arc<AtomicUsize>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl DocumentServer {
    pub fn start(document: &str) -> io::Result<DocumentServer> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("document-server")
            .enable_all()
            .build()?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let doc = Arc::new(Mutex::new((200, document.to_string())));
        let hits = Arc::new(AtomicUsize::new(0));
        let (d, h) = (doc.clone(), hits.clone());
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (d, h) = (d.clone(), h.clone());
                let service = service_fn(move |_request| {
                    h.fetch_add(1, Ordering::SeqCst);
                    let (status, body) = d.lock().unwrap().clone();
                    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
                    *response.status_mut() =
                        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    response
                        .headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    async move { Ok::<_, Infallible>(response) }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        Ok(DocumentServer {
            port,
            document: doc,
            hits,
            runtime: Some(runtime),
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
        // Closes the port and every connection before returning.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

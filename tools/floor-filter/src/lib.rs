//! The floor filter: what any credential filter costs in Envoy's V8 runtime, and nothing more.
//!
//! Per request it crosses the host boundary as a real filter must: it reads the `user_key`
//! header, answers 401 when it is missing, otherwise sets the upstream secret header and lets
//! the request through. No configuration, no backend, no logging. `make bench` compares
//! Tollgate against it (the `floor` listener) to separate Tollgate's own cost from the cost of
//! being a Wasm filter at all.

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

const CREDENTIAL: &str = "user_key";
const SECRET_HEADER: &str = "x-3scale-proxy-secret-token";
const SECRET: &str = "bench-secret";

proxy_wasm::main! {{
    // No root context of our own: the SDK's default one creates a `Floor` per request.
    proxy_wasm::set_http_context(|_, _| -> Box<dyn HttpContext> { Box::new(Floor) });
}}

struct Floor;

impl Context for Floor {}

impl HttpContext for Floor {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        // Bytes, not a String: a non-UTF-8 header value must not trap the VM.
        if self.get_http_request_header_bytes(CREDENTIAL).is_none() {
            self.send_http_response(401, vec![], Some(b"Authentication parameters missing"));
            return Action::Pause;
        }
        self.set_http_request_header(SECRET_HEADER, Some(SECRET));
        Action::Continue
    }
}

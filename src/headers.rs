//! Reading headers from Envoy without trusting them to be UTF-8
//! (the SDK's `String` getters panic on invalid bytes, which would trap the VM).

use proxy_wasm::traits::HttpContext;
use tollgate_core::backend::BackendAnswer;
use tollgate_core::request::HeaderSource;

/// Request headers, read one by one as the core asks for them.
pub struct RequestHeaders<'a, C: HttpContext>(pub &'a C);

impl<C: HttpContext> HeaderSource for RequestHeaders<'_, C> {
    fn header(&self, name: &str) -> Option<String> {
        self.0
            .get_http_request_header_bytes(name)
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    fn is_tls(&self) -> bool {
        // Envoy's `connection.tls_version` attribute is empty or absent on plain connections.
        self.0
            .get_property(vec!["connection", "tls_version"])
            .is_some_and(|v| !v.is_empty())
    }
}

pub fn request_header<C: HttpContext>(ctx: &C, name: &str) -> String {
    RequestHeaders(ctx).header(name).unwrap_or_default()
}

/// The parts of a backend callout response that decide the request.
pub fn backend_answer<C: HttpContext>(ctx: &C, num_headers: usize) -> BackendAnswer {
    if num_headers == 0 {
        // Envoy reports a reset or connection failure as a response without headers.
        return BackendAnswer::default();
    }
    let read = |name: &str| {
        ctx.get_http_call_response_header_bytes(name)
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    };
    BackendAnswer {
        status: read(":status").and_then(|s| s.parse().ok()),
        rejection_reason: read("3scale-rejection-reason"),
        limit_reset: read("3scale-limit-reset"),
        limit_max_value: read("3scale-limit-max-value"),
        limit_remaining: read("3scale-limit-remaining"),
    }
}

//! Envoy host calls as `Result`s, on Envoy's *effective* context (the context whose callback
//! is running, or the one a worker switched to with [`set_effective_context`]).
//!
//! The SDK's trait helpers unwrap the host's status, so any host error would trap the VM and
//! fail every later request on the worker. These wrappers call the ABI through [`crate::abi`]
//! instead: a failed call is logged (warn; the call's name and status, never a value) and
//! counted in `tollgate.host_errors`, and the caller decides (see `http.rs`: a request fails
//! closed). Expected statuses (an absent header, an empty queue, a CAS conflict) are not errors.

use crate::abi::{self, Code};
use crate::metrics;
use log::warn;
use std::time::Duration;
use tollgate_core::config::policies::configs::EditOp;

/// A host call that failed: which one, and the status Envoy returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostError {
    pub call: &'static str,
    pub status: Code,
}

pub type HostResult<T> = Result<T, HostError>;

/// Logs and counts a failed call.
fn check<T>(call: &'static str, result: Result<T, Code>) -> HostResult<T> {
    result.map_err(|status| failed(call, status))
}

/// The error path, once (not once per `check` instance).
#[cold]
#[inline(never)]
fn failed(call: &'static str, status: Code) -> HostError {
    warn!("tollgate: host call {call} failed with status {status}");
    metrics::host_error();
    HostError { call, status }
}

/// Milliseconds since the Unix epoch, by Envoy's clock.
pub fn now_ms() -> HostResult<u64> {
    now_ns().map(|ns| ns / 1_000_000)
}

/// Nanoseconds since the Unix epoch, by Envoy's clock.
pub fn now_ns() -> HostResult<u64> {
    check("get_current_time", abi::current_time_ns())
}

/// Two random words from the host's CSPRNG (a failure's status is a WASI errno).
pub fn random_words() -> HostResult<(u64, u64)> {
    let bytes: [u8; 16] = check("random_get", abi::random_bytes())?;
    let (k0, k1) = bytes.split_at(8);
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
    Ok((word(k0), word(k1)))
}

pub fn set_tick_period(period: Duration) -> HostResult<()> {
    let ms = u32::try_from(period.as_millis()).unwrap_or(u32::MAX);
    check("set_tick_period", abi::set_tick_period_ms(ms))
}

/// The filter's configuration (`None`: Envoy has none).
pub fn plugin_configuration() -> HostResult<Option<Vec<u8>>> {
    check(
        "get_plugin_configuration",
        abi::get_buffer(abi::BUFFER_PLUGIN_CONFIGURATION, 0, usize::MAX),
    )
}

/// The names of a serialized header map.
fn map_names(map: &[u8]) -> Vec<Vec<u8>> {
    abi::MapPairs::new(map)
        .map(|(name, _)| name.to_vec())
        .collect()
}

/// Every request header, serialized as the host gives them (read with `abi::MapPairs`): one
/// host call for all the headers a request's decision reads.
pub fn request_headers() -> HostResult<Vec<u8>> {
    check(
        "get_http_request_headers",
        abi::get_map_bytes(abi::MAP_REQUEST_HEADERS),
    )
}

/// Every header of the response going to the client, serialized (see `request_headers`).
pub fn response_headers() -> HostResult<Vec<u8>> {
    check(
        "get_http_response_headers",
        abi::get_map_bytes(abi::MAP_RESPONSE_HEADERS),
    )
}

/// Every header of the callout response being delivered, serialized (see `request_headers`).
pub fn call_response_headers() -> HostResult<Vec<u8>> {
    check(
        "get_http_call_response_headers",
        abi::get_map_bytes(abi::MAP_CALL_RESPONSE_HEADERS),
    )
}

/// The names of every request header (one per value), as bytes.
pub fn request_header_names() -> HostResult<Vec<Vec<u8>>> {
    Ok(map_names(&request_headers()?))
}

/// The names of every request trailer, as bytes.
pub fn request_trailer_names() -> HostResult<Vec<Vec<u8>>> {
    let map = check(
        "get_http_request_trailers",
        abi::get_map_bytes(abi::MAP_REQUEST_TRAILERS),
    )?;
    Ok(map_names(&map))
}

/// Sets a request header, replacing every value it had.
pub fn set_request_header(name: &str, value: &str) -> HostResult<()> {
    check(
        "set_http_request_header",
        abi::set_map_value(
            abi::MAP_REQUEST_HEADERS,
            name.as_bytes(),
            Some(value.as_bytes()),
        ),
    )
}

/// Removes every value of a request header, by its name as Envoy gave it.
pub fn remove_request_header(name: &[u8]) -> HostResult<()> {
    check(
        "remove_http_request_header",
        abi::set_map_value(abi::MAP_REQUEST_HEADERS, name, None),
    )
}

pub fn remove_request_trailer(name: &[u8]) -> HostResult<()> {
    check(
        "remove_http_request_trailer",
        abi::set_map_value(abi::MAP_REQUEST_TRAILERS, name, None),
    )
}

pub fn set_response_header(name: &str, value: &str) -> HostResult<()> {
    check(
        "set_http_response_header",
        abi::set_map_value(
            abi::MAP_RESPONSE_HEADERS,
            name.as_bytes(),
            Some(value.as_bytes()),
        ),
    )
}

/// Carries out a header operation of the core's on the request's (`response`: the
/// response's) headers: `Set` replaces every value, `Push` adds one, `Delete` removes all.
pub fn edit_header(response: bool, op: EditOp, name: &str, value: &str) -> HostResult<()> {
    let map = match response {
        true => abi::MAP_RESPONSE_HEADERS,
        false => abi::MAP_REQUEST_HEADERS,
    };
    let (name, value) = (name.as_bytes(), value.as_bytes());
    check(
        "edit_http_header",
        match op {
            EditOp::Push | EditOp::Add => abi::add_map_value(map, name, value),
            EditOp::Set => abi::set_map_value(map, name, Some(value)),
            EditOp::Delete => abi::set_map_value(map, name, None),
        },
    )
}

/// The first `size` bytes of the request body Envoy buffered (empty when there is none).
pub fn request_body(size: usize) -> HostResult<Vec<u8>> {
    request_body_range(0, size)
}

/// Bytes `from..to` of the request body Envoy holds for the current callback.
pub fn request_body_range(from: usize, to: usize) -> HostResult<Vec<u8>> {
    if to <= from {
        return Ok(Vec::new());
    }
    check(
        "get_http_request_body",
        abi::get_buffer(abi::BUFFER_REQUEST_BODY, from, to.saturating_sub(from)),
    )
    .map(Option::unwrap_or_default)
}

/// The body of the callout response being delivered.
pub fn call_response_body(size: usize) -> HostResult<Option<Vec<u8>>> {
    check(
        "get_http_call_response_body",
        abi::get_buffer(abi::BUFFER_CALL_RESPONSE_BODY, 0, size),
    )
}

/// A property of the current request or connection (`None`: absent).
pub fn property(path: &[&str]) -> HostResult<Option<Vec<u8>>> {
    check("get_property", abi::get_property(path))
}

/// Answers the current request locally.
pub fn send_response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> HostResult<()> {
    check(
        "send_http_response",
        abi::send_local_response(u32::from(status), headers, body),
    )
}

/// Lets the current (paused) request continue upstream.
pub fn resume_request() -> HostResult<()> {
    check(
        "resume_http_request",
        abi::continue_stream(abi::STREAM_REQUEST),
    )
}

/// Resets the current request: the last resort when no reply can be sent.
pub fn reset_request() -> HostResult<()> {
    check("reset_http_request", abi::close_stream(abi::STREAM_REQUEST))
}

/// Makes `context_id` the context later host calls act on.
pub fn set_effective_context(context_id: u32) -> HostResult<()> {
    check(
        "set_effective_context",
        abi::set_effective_context(context_id),
    )
}

/// Sends an HTTP callout from the current context; its answer comes back to the context whose
/// callback is running.
///
/// This is the one call left to the SDK: only `hostcalls::dispatch_http_call` registers the
/// token with the SDK's dispatcher, which routes the answer (an unregistered token traps in
/// the dispatcher). It returns Envoy's refusals (`BadArgument`: unknown cluster or bad headers;
/// `InternalFailure`) as errors; its `panic!` is left for statuses Envoy's `http_call` does not
/// return for a well-formed call.
pub fn dispatch(
    cluster: &str,
    headers: Vec<(&str, &str)>,
    body: Option<&[u8]>,
    timeout: Duration,
) -> HostResult<u32> {
    let result = proxy_wasm::hostcalls::dispatch_http_call(cluster, headers, body, vec![], timeout);
    check("dispatch_http_call", result.map_err(|s| s as Code))
}

/// A shared-data value and its CAS (0: none).
pub fn shared_data(key: &str) -> HostResult<(Option<Vec<u8>>, u32)> {
    check("get_shared_data", abi::get_shared_data(key))
}

/// Writes shared data if its CAS is still `cas`: `Ok(false)` on a CAS conflict.
pub fn set_shared_data(key: &str, value: &[u8], cas: u32) -> HostResult<bool> {
    match abi::set_shared_data(key, value, cas) {
        Err(abi::CAS_MISMATCH) => Ok(false),
        other => check("set_shared_data", other).map(|()| true),
    }
}

pub fn register_queue(name: &str) -> HostResult<u32> {
    check("register_shared_queue", abi::register_shared_queue(name))
}

/// The next message of one of this VM's queues (`None`: empty).
pub fn dequeue(queue_id: u32) -> HostResult<Option<Vec<u8>>> {
    check("dequeue_shared_queue", abi::dequeue_shared_queue(queue_id))
}

/// Enqueues a message. A queue of a VM that is gone refuses it (`NotFound`): not an error,
/// its requests are gone too.
pub fn enqueue(queue_id: u32, message: &[u8]) {
    match abi::enqueue_shared_queue(queue_id, message) {
        Err(abi::NOT_FOUND) => {}
        other => {
            let _ = check("enqueue_shared_queue", other);
        }
    }
}

//! The proxy-wasm ABI 0.2.1 imports Tollgate calls, without the SDK's `panic!` on a status it
//! did not expect: every call returns the host's status as `Err(code)`, and nothing here
//! unwraps. Maps are (de)serialised as the SDK does; buffers the host returns were allocated
//! through the SDK's exported `malloc` (a boxed `[u8]` of exactly their size) and are freed
//! by rebuilding that `Vec`, as the SDK does.
//!
//! Enum arguments (`MapType`, `BufferType`, ...) and statuses are passed as `u32`, so an
//! unknown status from the host is a number, never an invalid enum value.
//!
//! `proxy_http_call` is not here: only the SDK's `hostcalls::dispatch_http_call` can register
//! the callout with the SDK's dispatcher, which routes its answer (see `host::dispatch`).

use std::ptr::{null, null_mut};

/// A host status other than `Ok` (0), or 1000 for a map the host returned malformed.
pub type Code = u32;

pub const OK: Code = 0;
pub const NOT_FOUND: Code = 1;
pub const EMPTY: Code = 7;
pub const CAS_MISMATCH: Code = 8;
/// Not a host status: the host's serialised map could not be read.
pub const MALFORMED: Code = 1000;

pub const MAP_REQUEST_HEADERS: u32 = 0;
pub const MAP_REQUEST_TRAILERS: u32 = 1;
pub const MAP_RESPONSE_HEADERS: u32 = 2;
pub const MAP_CALL_RESPONSE_HEADERS: u32 = 6;
pub const BUFFER_REQUEST_BODY: u32 = 0;
pub const BUFFER_CALL_RESPONSE_BODY: u32 = 4;
pub const BUFFER_PLUGIN_CONFIGURATION: u32 = 7;
pub const STREAM_REQUEST: u32 = 0;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> u32;
    fn proxy_get_log_level(return_level: *mut u32) -> u32;
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_get_buffer_bytes(
        buffer_type: u32,
        start: usize,
        max_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_pairs(
        map_type: u32,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_replace_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_add_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_remove_header_map_value(map_type: u32, key_data: *const u8, key_size: usize) -> u32;
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_get_shared_data(
        key_data: *const u8,
        key_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
        return_cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;
    fn proxy_register_shared_queue(
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;
    fn proxy_dequeue_shared_queue(
        queue_id: u32,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_enqueue_shared_queue(queue_id: u32, value_data: *const u8, value_size: usize) -> u32;
    fn proxy_continue_stream(stream_type: u32) -> u32;
    fn proxy_close_stream(stream_type: u32) -> u32;
    #[allow(clippy::too_many_arguments)]
    fn proxy_send_local_response(
        status_code: u32,
        details_data: *const u8,
        details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_set_effective_context(context_id: u32) -> u32;
    fn proxy_define_metric(
        metric_type: u32,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
    fn proxy_record_metric(metric_id: u32, value: u64) -> u32;
}

fn status(code: u32) -> Result<(), Code> {
    if code == OK {
        Ok(())
    } else {
        Err(code)
    }
}

/// Takes ownership of a buffer the host allocated with the module's `malloc`.
///
/// # Safety
/// `data` is null or was returned by the host for `size` bytes from `malloc(size)`.
unsafe fn owned(data: *mut u8, size: usize) -> Option<Vec<u8>> {
    if data.is_null() {
        None
    } else {
        Some(Vec::from_raw_parts(data, size, size))
    }
}

/// A host call returning a buffer: `Ok(None)` for NotFound (and, as the SDK, for a null one).
fn buffer(
    call: impl FnOnce(*mut *mut u8, *mut usize) -> u32,
    not_found: Code,
) -> Result<Option<Vec<u8>>, Code> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    let code = call(&mut data, &mut size);
    // SAFETY: on success the host set `data`/`size` to a buffer it allocated with `malloc`.
    match code {
        OK => Ok(unsafe { owned(data, size) }),
        c if c == not_found => Ok(None),
        c => Err(c),
    }
}

/// Logs a message; the status is returned, never unwrapped.
pub fn log(level: u32, message: &str) -> Result<(), Code> {
    // SAFETY: pointer and length of a live `&str`.
    status(unsafe { proxy_log(level, message.as_ptr(), message.len()) })
}

pub fn log_level() -> Result<u32, Code> {
    let mut level = 0;
    // SAFETY: `level` outlives the call.
    status(unsafe { proxy_get_log_level(&mut level) }).map(|()| level)
}

pub fn current_time_ns() -> Result<u64, Code> {
    let mut time = 0;
    // SAFETY: `time` outlives the call.
    status(unsafe { proxy_get_current_time_nanoseconds(&mut time) }).map(|()| time)
}

// Envoy links WASI's `random_get` into every module (BoringSSL's `RAND_bytes`); the
// proxy-wasm ABI has no call for random bytes.
#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    fn random_get(buf: *mut u8, buf_len: usize) -> u32;
}

/// Random bytes from the host (WASI `random_get`; a WASI errno as the error).
pub fn random_bytes<const N: usize>() -> Result<[u8; N], Code> {
    let mut bytes = [0u8; N];
    // SAFETY: `bytes` is writable for `N` bytes and outlives the call.
    status(unsafe { random_get(bytes.as_mut_ptr(), N) }).map(|()| bytes)
}

pub fn set_tick_period_ms(period: u32) -> Result<(), Code> {
    // SAFETY: no pointers.
    status(unsafe { proxy_set_tick_period_milliseconds(period) })
}

/// `size` bytes of a buffer from `start`; `Ok(None)` when the buffer does not exist.
pub fn get_buffer(buffer_type: u32, start: usize, size: usize) -> Result<Option<Vec<u8>>, Code> {
    // SAFETY: the out-pointers are live locals of `buffer`.
    buffer(
        |data, len| unsafe { proxy_get_buffer_bytes(buffer_type, start, size, data, len) },
        NOT_FOUND,
    )
}

/// A header map as the host serializes it (read it with [`MapPairs`]); empty when it has none.
pub fn get_map_bytes(map_type: u32) -> Result<Vec<u8>, Code> {
    // SAFETY: the out-pointers are live locals of `buffer`.
    let bytes = buffer(
        |data, len| unsafe { proxy_get_header_map_pairs(map_type, data, len) },
        u32::MAX,
    )?
    .unwrap_or_default();
    let mut pairs = MapPairs::new(&bytes);
    pairs.by_ref().for_each(drop);
    if pairs.malformed {
        return Err(MALFORMED);
    }
    Ok(bytes)
}

/// Sets a header (replacing every value), or removes it with `None`.
pub fn set_map_value(map_type: u32, key: &[u8], value: Option<&[u8]>) -> Result<(), Code> {
    // SAFETY: pointers and lengths of live slices.
    status(unsafe {
        match value {
            Some(v) => proxy_replace_header_map_value(
                map_type,
                key.as_ptr(),
                key.len(),
                v.as_ptr(),
                v.len(),
            ),
            None => proxy_remove_header_map_value(map_type, key.as_ptr(), key.len()),
        }
    })
}

/// Adds a value to a header (a header of its own, after any it has).
pub fn add_map_value(map_type: u32, key: &[u8], value: &[u8]) -> Result<(), Code> {
    // SAFETY: pointers and lengths of live slices.
    status(unsafe {
        proxy_add_header_map_value(
            map_type,
            key.as_ptr(),
            key.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

/// A property by path; `Ok(None)` when the host has none.
pub fn get_property(path: &[&str]) -> Result<Option<Vec<u8>>, Code> {
    let serialized = path.join("\0");
    // SAFETY: `serialized` is live; the out-pointers are live locals of `buffer`.
    buffer(
        |data, len| unsafe { proxy_get_property(serialized.as_ptr(), serialized.len(), data, len) },
        NOT_FOUND,
    )
}

/// A shared-data value and its CAS (0: none); `Ok((None, 0))` for an absent key.
pub fn get_shared_data(key: &str) -> Result<(Option<Vec<u8>>, u32), Code> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    let mut cas: u32 = 0;
    // SAFETY: `key` is live; the out-pointers are live locals.
    let code =
        unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas) };
    match code {
        // SAFETY: on success the host set `data`/`size` to a buffer it allocated with `malloc`.
        OK => Ok((unsafe { owned(data, size) }, cas)),
        NOT_FOUND => Ok((None, 0)),
        c => Err(c),
    }
}

/// Writes a shared-data value if its CAS is still `cas` (0: unconditionally).
pub fn set_shared_data(key: &str, value: &[u8], cas: u32) -> Result<(), Code> {
    // SAFETY: pointers and lengths of live slices.
    status(unsafe {
        proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas)
    })
}

pub fn register_shared_queue(name: &str) -> Result<u32, Code> {
    let mut id = 0;
    // SAFETY: `name` and `id` are live.
    status(unsafe { proxy_register_shared_queue(name.as_ptr(), name.len(), &mut id) }).map(|()| id)
}

/// The next message of a queue; `Ok(None)` when it is empty.
pub fn dequeue_shared_queue(queue_id: u32) -> Result<Option<Vec<u8>>, Code> {
    // SAFETY: the out-pointers are live locals of `buffer`.
    buffer(
        |data, len| unsafe { proxy_dequeue_shared_queue(queue_id, data, len) },
        EMPTY,
    )
}

pub fn enqueue_shared_queue(queue_id: u32, value: &[u8]) -> Result<(), Code> {
    // SAFETY: pointer and length of a live slice.
    status(unsafe { proxy_enqueue_shared_queue(queue_id, value.as_ptr(), value.len()) })
}

pub fn continue_stream(stream_type: u32) -> Result<(), Code> {
    // SAFETY: no pointers.
    status(unsafe { proxy_continue_stream(stream_type) })
}

pub fn close_stream(stream_type: u32) -> Result<(), Code> {
    // SAFETY: no pointers.
    status(unsafe { proxy_close_stream(stream_type) })
}

pub fn send_local_response(
    status_code: u32,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(), Code> {
    let map = serialize_map(headers);
    // SAFETY: pointers and lengths of live slices; no details.
    status(unsafe {
        proxy_send_local_response(
            status_code,
            null(),
            0,
            body.as_ptr(),
            body.len(),
            map.as_ptr(),
            map.len(),
            -1,
        )
    })
}

pub fn set_effective_context(context_id: u32) -> Result<(), Code> {
    // SAFETY: no pointers.
    status(unsafe { proxy_set_effective_context(context_id) })
}

pub fn define_metric(metric_type: u32, name: &str) -> Result<u32, Code> {
    let mut id = 0;
    // SAFETY: `name` and `id` are live.
    status(unsafe { proxy_define_metric(metric_type, name.as_ptr(), name.len(), &mut id) })
        .map(|()| id)
}

pub fn increment_metric(metric_id: u32, offset: i64) -> Result<(), Code> {
    // SAFETY: no pointers.
    status(unsafe { proxy_increment_metric(metric_id, offset) })
}

pub fn record_metric(metric_id: u32, value: u64) -> Result<(), Code> {
    // SAFETY: no pointers.
    status(unsafe { proxy_record_metric(metric_id, value) })
}

/// The ABI's map format: pair count (u32 LE), then per pair the name and value lengths (u32
/// LE each), then per pair the name, a NUL, the value, a NUL.
pub fn serialize_map(map: &[(&str, &str)]) -> Vec<u8> {
    let size = map
        .iter()
        .map(|(k, v)| k.len() + v.len() + 10)
        .sum::<usize>()
        + 4;
    let mut bytes = Vec::with_capacity(size);
    bytes.extend_from_slice(&(map.len() as u32).to_le_bytes());
    for (name, value) in map {
        bytes.extend_from_slice(&(name.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&(value.len() as u32).to_le_bytes());
    }
    for (name, value) in map {
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0);
    }
    bytes
}

/// The (name, value) pairs of a serialized header map, borrowed: a count, then the size of
/// each name and value (u32 little-endian), then the names and values, each followed by a NUL.
/// Iteration stops at the first entry that does not fit, and sets `malformed`.
pub struct MapPairs<'a> {
    bytes: &'a [u8],
    next: usize,
    count: usize,
    data: usize,
    pub malformed: bool,
}

impl<'a> MapPairs<'a> {
    pub fn new(bytes: &'a [u8]) -> MapPairs<'a> {
        let count = if bytes.is_empty() {
            Some(0)
        } else {
            u32_at(bytes, 0)
        };
        MapPairs {
            bytes,
            next: 0,
            count: count.unwrap_or(0),
            data: count
                .and_then(|c| c.checked_mul(8)?.checked_add(4))
                .unwrap_or(0),
            malformed: count.is_none(),
        }
    }

    fn entry(&mut self) -> Option<(&'a [u8], &'a [u8])> {
        let sizes = self.next.checked_mul(8)?.checked_add(4)?;
        let name_len = u32_at(self.bytes, sizes)?;
        let value_len = u32_at(self.bytes, sizes.checked_add(4)?)?;
        let name_end = self.data.checked_add(name_len)?;
        let name = self.bytes.get(self.data..name_end)?;
        let value_start = name_end.checked_add(1)?;
        let value_end = value_start.checked_add(value_len)?;
        let value = self.bytes.get(value_start..value_end)?;
        self.data = value_end.checked_add(1)?;
        Some((name, value))
    }
}

impl<'a> Iterator for MapPairs<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.count {
            return None;
        }
        let entry = self.entry();
        self.next += 1;
        if entry.is_none() {
            self.malformed = true;
            self.next = self.count;
        }
        entry
    }
}

fn u32_at(bytes: &[u8], at: usize) -> Option<usize> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_round_trip() {
        let map = [
            (":method", "GET"),
            ("x-a", ""),
            ("Powered-By", "proxy-wasm"),
        ];
        let bytes = serialize_map(&map);
        let mut pairs = MapPairs::new(&bytes);
        let back: Vec<(&[u8], &[u8])> = pairs.by_ref().collect();
        assert!(!pairs.malformed);
        let want: Vec<(&[u8], &[u8])> = map
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
            .collect();
        assert_eq!(back, want);
    }

    #[test]
    fn malformed_maps_are_refused_not_trusted() {
        let bytes = serialize_map(&[("name", "value")]);
        let malformed = |bytes: &[u8]| {
            let mut pairs = MapPairs::new(bytes);
            pairs.by_ref().for_each(drop);
            pairs.malformed
        };
        for cut in 1..bytes.len() - 1 {
            assert!(malformed(&bytes[..cut]), "cut at {cut}");
        }
        assert!(malformed(&[255, 255, 255, 255]));
        assert!(!malformed(&[0, 0, 0, 0]));
        assert_eq!(MapPairs::new(&[0, 0, 0, 0]).count(), 0);
    }
}

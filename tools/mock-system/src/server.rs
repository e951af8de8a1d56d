//! The HTTP server: hyper (HTTP/1.1 with keep-alive) on a tokio runtime that the
//! [`MockSystem`] handle owns, as in `tools/mock-backend`. Requests are served concurrently,
//! so a delayed or hung answer never holds up the others (nor the control API).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};
use tokio::runtime::Runtime;

use crate::api::{self, ApiRequest, Response};
use crate::between_pages::BetweenPages;
use crate::control::{self, Action, Failure, Faults, SystemRequest, HANG_LIMIT};
use crate::idp::{self, Realm, Realms};
use crate::model::{Published, Store, Stored};

struct Shared {
    token: String,
    store: Mutex<Store>,
    realms: Mutex<Realms>,
    faults: Mutex<Faults>,
    /// A change to make once a page of the account list is answered.
    between_pages: Mutex<Option<BetweenPages>>,
    /// (sequence number, request), so an answer can fill in its status.
    requests: Mutex<Vec<(u64, SystemRequest)>>,
    next_seq: Mutex<u64>,
    started: Instant,
    log: Mutex<bool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running mock System. Dropping it stops the server and closes its connections.
pub struct MockSystem {
    shared: Arc<Shared>,
    addr: SocketAddr,
    runtime: Option<Runtime>,
}

const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

impl MockSystem {
    /// Starts on `127.0.0.1` with an ephemeral port; `token` is the only access token accepted.
    pub fn start(token: &str) -> std::io::Result<MockSystem> {
        MockSystem::start_on("127.0.0.1:0", token)
    }

    /// Starts on `addr` (e.g. `"127.0.0.1:3001"`).
    pub fn start_on(addr: &str, token: &str) -> std::io::Result<MockSystem> {
        let listener = std::net::TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("mock-system")
            .enable_all()
            .build()?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let shared = Arc::new(Shared {
            token: token.to_string(),
            store: Mutex::new(Store::default()),
            realms: Mutex::new(Realms::new()),
            faults: Mutex::new(Faults::default()),
            between_pages: Mutex::new(None),
            requests: Mutex::new(Vec::new()),
            next_seq: Mutex::new(0),
            started: Instant::now(),
            log: Mutex::new(false),
        });
        runtime.spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(MockSystem {
            shared,
            addr,
            runtime: Some(runtime),
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// Deploys a service content (with an integer `id`) to an environment: a new version
    /// when it differs from the latest there.
    pub fn publish(&self, environment: Stored, content: Value) -> Result<Published, String> {
        lock(&self.shared.store).publish(environment, content)
    }

    /// Promotes `version` of a service from one environment to another, keeping the number.
    pub fn promote(&self, id: u64, from: Stored, version: u64, to: Stored) -> Result<(), String> {
        match lock(&self.shared.store).promote(id, from, version, to) {
            None => Err(format!(
                "service {id} has no {} version {version}",
                from.as_str()
            )),
            Some(result) => result.map(|_| ()),
        }
    }

    /// Deletes a service and its history; false if unknown.
    pub fn delete_service(&self, id: u64) -> bool {
        lock(&self.shared.store).delete(id)
    }

    /// Serves (or replaces) an OpenID Connect realm at `/auth/realms/{name}/`.
    pub fn set_realm(&self, name: &str, realm: Realm) {
        lock(&self.shared.realms).insert(name.to_string(), realm);
    }

    /// Reads or changes the store while the server runs.
    pub fn with_store<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        f(&mut lock(&self.shared.store))
    }

    /// Replaces the misbehaviour settings (`Faults::default()` restores normal answers).
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.shared.faults) = faults;
    }

    /// Makes `change` once the account list's page `change.after_page` is answered (replacing
    /// a change not made yet): System changing between two page requests.
    pub fn between_pages(&self, change: BetweenPages) {
        *lock(&self.shared.between_pages) = Some(change);
    }

    /// Whether the change given to [`MockSystem::between_pages`] is still to be made.
    pub fn between_pages_pending(&self) -> bool {
        lock(&self.shared.between_pages).is_some()
    }

    /// Shorthand: every System API request fails this way until changed.
    pub fn fail(&self, failure: Failure) {
        self.set_faults(Faults {
            failure,
            ..Faults::default()
        });
    }

    /// System API requests received so far, in arrival order (control requests excluded).
    pub fn requests(&self) -> Vec<SystemRequest> {
        lock(&self.shared.requests)
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// How many System API requests had a path starting with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        lock(&self.shared.requests)
            .iter()
            .filter(|(_, r)| r.path.starts_with(prefix))
            .count()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    /// Logs one line per request to stderr (never the Authorization header).
    pub fn set_logging(&self, on: bool) {
        *lock(&self.shared.log) = on;
    }

    /// Stops the server (same as dropping it).
    pub fn shutdown(self) {}
}

impl Drop for MockSystem {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(SHUTDOWN_TIMEOUT);
        }
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_connection(stream, Arc::clone(&shared)));
            }
            Err(e) => {
                eprintln!("mock-3scale-system: accept error: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Error returned by the service to make hyper drop the connection unanswered.
#[derive(Debug)]
struct ResetConnection;

impl std::fmt::Display for ResetConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by the mock")
    }
}

impl std::error::Error for ResetConnection {}

async fn serve_connection(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let service = service_fn(move |request| {
        let shared = Arc::clone(&shared);
        async move { serve(&shared, request).await }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

fn decode(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Decoded query pairs, in order.
pub fn query_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

async fn serve(
    shared: &Shared,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, ResetConnection> {
    let (parts, body) = request.into_parts();
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or_default().to_string();
    let query = query_pairs(&raw_query);
    let log = *lock(&shared.log);
    if path.starts_with(control::PREFIX) {
        let body = read_body(body).await;
        let response = control_request(shared, &method, &path, &query, &body);
        if log {
            eprintln!("{method} {path} -> {} (control)", response.status);
        }
        return Ok(to_hyper(response));
    }
    let header = |name: hyper::header::HeaderName| {
        parts
            .headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let authorization = header(hyper::header::AUTHORIZATION);
    let (credential, token) = api::credential(&query, authorization.as_deref());
    let seq = {
        let mut next = lock(&shared.next_seq);
        *next += 1;
        *next
    };
    lock(&shared.requests).push((
        seq,
        SystemRequest {
            method: method.clone(),
            path: path.clone(),
            query: raw_query.clone(),
            authorization: authorization.clone(),
            user_agent: header(hyper::header::USER_AGENT),
            credential,
            status: None,
            at_ms: u64::try_from(shared.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        },
    ));
    let (failure, delay, ignore_page) = {
        let mut faults = lock(&shared.faults);
        (faults.take(&path), faults.delay, faults.ignore_page)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match failure {
        Failure::Reset => {
            if log {
                eprintln!("{method} {path} -> (connection reset)");
            }
            return Err(ResetConnection);
        }
        Failure::Hang => {
            tokio::time::sleep(HANG_LIMIT).await;
            return Ok(to_hyper(Response::text(500, "")));
        }
        _ => {}
    }
    let host = header(hyper::header::HOST).unwrap_or_default();
    let issuer = idp::handle(
        &lock(&shared.realms),
        &host,
        &path,
        authorization.as_deref(),
    );
    let real = issuer.unwrap_or_else(|| {
        api::handle(
            &mut lock(&shared.store),
            &shared.token,
            &ApiRequest {
                method: &method,
                path: &path,
                query: &query,
                token: token.as_deref(),
                ignore_page,
            },
        )
    });
    let response = control::failed(failure, real);
    // After the page is answered (computed), before the client can ask for the next one.
    let change = {
        let mut pending = lock(&shared.between_pages);
        let due =
            (pending.as_ref()).is_some_and(|c| response.status == 200 && c.follows(&path, &query));
        if due {
            pending.take()
        } else {
            None
        }
    };
    if let Some(change) = change {
        change.apply(&mut lock(&shared.store));
    }
    if let Some((_, r)) = lock(&shared.requests).iter_mut().find(|(s, _)| *s == seq) {
        r.status = Some(response.status);
    }
    if log {
        eprintln!("{method} {path} -> {}", response.status);
    }
    Ok(to_hyper(response))
}

fn control_request(
    shared: &Shared,
    method: &str,
    path: &str,
    query: &[(String, String)],
    body: &[u8],
) -> Response {
    let action = control::handle(&mut lock(&shared.store), method, path, query, body);
    match action {
        Action::Answer(response) => response,
        Action::SetFaults(faults) => {
            *lock(&shared.faults) = faults;
            Response::json(200, &json!({"ok": true}))
        }
        Action::BetweenPages(change) => {
            *lock(&shared.between_pages) = Some(change);
            Response::json(200, &json!({"ok": true}))
        }
        Action::Requests => {
            let list: Vec<SystemRequest> = lock(&shared.requests)
                .iter()
                .map(|(_, r)| r.clone())
                .collect();
            Response::json(200, &json!({ "requests": list }))
        }
        Action::ClearRequests => {
            lock(&shared.requests).clear();
            Response::json(200, &json!({"ok": true}))
        }
        Action::Reset => {
            *lock(&shared.store) = Store::default();
            *lock(&shared.faults) = Faults::default();
            *lock(&shared.between_pages) = None;
            lock(&shared.requests).clear();
            Response::json(200, &json!({"ok": true}))
        }
    }
}

async fn read_body(mut body: Incoming) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    out.extend_from_slice(&data);
                }
            }
            Err(_) => break,
        }
    }
    out
}

fn to_hyper(r: Response) -> hyper::Response<Full<Bytes>> {
    let mut out = hyper::Response::new(Full::new(Bytes::from(r.body.into_bytes())));
    *out.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    out.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(r.content_type));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_are_decoded() {
        assert_eq!(
            query_pairs("version=latest&page=2&host=a%2Eb&x"),
            [
                ("version".into(), "latest".into()),
                ("page".into(), "2".into()),
                ("host".into(), "a.b".into()),
                ("x".into(), String::new())
            ]
        );
    }
}

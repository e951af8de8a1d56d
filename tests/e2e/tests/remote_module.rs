//! The module fetched over HTTP (`vm_config.code.remote` with `sha256`), as Envoy Gateway's
//! HTTP code source and `envoy/envoy-remote.yaml` load it: Envoy loads the module a local
//! HTTP server serves and the filter answers; a module whose sha256 does not match is refused.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use e2e::envoy::RawEnvoy;
use e2e::{free_port, paths, wait_until, EchoUpstream, Envoy, Request};
use serde_json::json;
use sha2::{Digest, Sha256};
use tollgate_core::auth::digest::stored_form;

const KEY: &str = "rk_remote_module_0123456789abcdef";
const MODULE_PATH: &str = "/modules/tollgate.wasm";

/// Serves one file at one path (404 elsewhere), one request per connection. Stops on drop.
struct FileServer {
    port: u16,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl FileServer {
    fn start(path: &'static str, body: Vec<u8>) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (hits.clone(), stop.clone());
        let thread = thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let _ = serve(stream, path, &body, &h);
                }
            }
        });
        FileServer {
            port,
            hits,
            stop,
            thread: Some(thread),
        }
    }

    /// GET requests for the file answered so far.
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(stream: TcpStream, path: &str, body: &[u8], hits: &AtomicUsize) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut out = stream;
    if method == "GET" && target == path {
        hits.fetch_add(1, Ordering::SeqCst);
        write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: application/wasm\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )?;
        out.write_all(body)?;
    } else {
        out.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    }
    out.flush()
}

fn module() -> Vec<u8> {
    std::fs::read(paths::wasm_path()).expect("tollgate.wasm (make build)")
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One local-mode service: an API key in `X-API-Key`, no 3scale backend needed.
fn filter_config() -> String {
    json!({
        "backend": {"cluster": "threescale_backend", "authority": "backend.example"},
        "services": [{
            "id": 1,
            "authentication": {"mode": "local", "api_keys": {
                "header": "X-API-Key",
                "keys": [{"id": "remote", "hash": stored_form(KEY)}]
            }},
            "proxy": {"hosts": ["api.example.com"], "secret_token": "remote-secret", "proxy_rules": []}
        }]
    })
    .to_string()
}

fn get(path: &str) -> Request {
    Request::get(path).header("Host", "api.example.com")
}

/// What a client sees through an Envoy whose filter works: a key lets the request through
/// (with the secret token added by the filter), no key is the filter's own 401.
fn assert_filter_answers(port: u16, echo: &EchoUpstream) {
    let ok = get("/orders").header("X-API-Key", KEY).send(port);
    assert_eq!(ok.status, 200, "{ok}");
    assert_eq!(
        ok.echo().header("x-3scale-proxy-secret-token"),
        Some("remote-secret")
    );
    let missing = get("/orders").send(port);
    assert_eq!(
        (missing.status, missing.body.as_str()),
        (401, "Authentication parameters missing"),
        "{missing}"
    );
    assert_eq!(
        echo.requests().len(),
        1,
        "only the request with a key got through"
    );
}

#[test]
fn module_over_http_with_its_sha256_is_loaded_and_answers() {
    let wasm = module();
    let server = FileServer::start(MODULE_PATH, wasm.clone());
    let echo = EchoUpstream::start().unwrap();
    let uri = format!("http://127.0.0.1:{}{MODULE_PATH}", server.port);
    let envoy = Envoy::builder()
        .upstream_port(echo.port())
        .extra_cluster("wasm_server", server.port)
        .wasm_remote(&uri, "wasm_server", &sha256_hex(&wasm))
        .filter_config(&filter_config())
        .start()
        .expect("Envoy loads the remote module");
    assert!(server.hits() >= 1, "Envoy fetched the module from {uri}");
    assert!(
        envoy.wait_for_log("tollgate: configuration loaded", Duration::from_secs(5)),
        "{}",
        envoy.log()
    );
    assert_filter_answers(envoy.port(), &echo);
}

/// A module whose sha256 is not the configured one is fetched, refused, and never run. Envoy
/// 1.40 still starts (the fetch completes after the static listener was built): it logs
/// `Plugin tollgate failed to load`, and the filter fails closed, so every request on that
/// listener is a 503 and none reaches the upstream. `FAIL_RELOAD` only reloads a VM that
/// crashed at run time; a module that never loaded is `FAIL_CLOSED`.
#[test]
fn module_with_another_sha256_is_refused() {
    let wasm = module();
    let server = FileServer::start(MODULE_PATH, wasm.clone());
    let echo = EchoUpstream::start().unwrap();
    let mut other = wasm.clone();
    other.push(0);
    let wrong = sha256_hex(&other);
    let uri = format!("http://127.0.0.1:{}{MODULE_PATH}", server.port);
    let envoy = Envoy::builder()
        .upstream_port(echo.port())
        .extra_cluster("wasm_server", server.port)
        .wasm_remote(&uri, "wasm_server", &wrong)
        .filter_config(&filter_config())
        .log_level("debug") // for the fetcher's "data is invalid"
        .start()
        .expect("Envoy starts, without the filter's module");
    assert!(
        envoy.wait_for_log("Plugin tollgate failed to load", Duration::from_secs(5)),
        "{}",
        envoy.log()
    );
    assert!(server.hits() >= 1, "Envoy fetched the module from {uri}");
    // Envoy's remote data fetcher (config component, debug): fetched, then refused.
    assert!(
        envoy.wait_for_log("]: data is invalid", Duration::from_secs(5)),
        "{}",
        envoy.log()
    );
    let r = get("/orders").header("X-API-Key", KEY).send(envoy.port());
    assert_eq!(r.status, 503, "{r}");
    assert!(
        echo.requests().is_empty(),
        "nothing passes a filter that failed to load"
    );
    assert!(
        !envoy.log().contains("tollgate: configuration loaded"),
        "the module never ran"
    );
}

/// `envoy/envoy-remote.yaml` as shipped (its ports moved to free ones, the sha256 filled in):
/// Envoy fetches the module from the HTTP server and the demo service answers.
#[test]
fn shipped_envoy_remote_yaml_loads_the_module_over_http() {
    let wasm = module();
    let server = FileServer::start("/tollgate.wasm", wasm.clone());
    let echo = EchoUpstream::start().unwrap();
    let shipped = paths::workspace_root().join("envoy/envoy-remote.yaml");
    let original = fs::read_to_string(&shipped).expect("envoy/envoy-remote.yaml");
    let sha = sha256_hex(&wasm);
    let (envoy, listener) = RawEnvoy::start(|listener, admin| {
        let mut yaml = original.clone();
        for (from, to) in [
            ("${TOLLGATE_WASM_SHA256}".to_owned(), sha.clone()),
            (
                "127.0.0.1:8081/".to_owned(),
                format!("127.0.0.1:{}/", server.port),
            ),
            (
                "port_value: 8081 ".to_owned(),
                format!("port_value: {} ", server.port),
            ),
            (
                "port_value: 10000 ".to_owned(),
                format!("port_value: {listener} "),
            ),
            (
                "port_value: 9901 ".to_owned(),
                format!("port_value: {admin} "),
            ),
            (
                "port_value: 8000 ".to_owned(),
                format!("port_value: {} ", echo.port()),
            ),
            (
                "port_value: 3000 ".to_owned(),
                format!("port_value: {} ", free_port()),
            ),
        ] {
            assert!(
                yaml.contains(&from),
                "{} has no {from:?}",
                shipped.display()
            );
            yaml = yaml.replace(&from, &to);
        }
        assert!(
            yaml.contains("failure_policy: FAIL_RELOAD"),
            "crash recovery on"
        );
        yaml
    });
    assert!(server.hits() >= 1, "Envoy fetched the module");
    assert!(
        wait_until(Duration::from_secs(5), || envoy
            .log()
            .contains("tollgate: configuration loaded: 1 service(s)")),
        "{}",
        envoy.log()
    );
    // The demo service (user_key in a header, hosts 127.0.0.1 and localhost): the filter's 401.
    let missing = Request::get("/").send(listener);
    assert_eq!(
        (missing.status, missing.body.as_str()),
        (401, "Authentication parameters missing"),
        "{missing}"
    );
    assert!(echo.requests().is_empty());
}

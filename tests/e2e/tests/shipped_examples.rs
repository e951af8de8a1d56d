//! The Envoy examples Tollgate ships (`envoy/*.yaml`), run as users copy them: only their
//! ports, the module path and the hosts of their clusters are replaced (by loopback test
//! servers). `envoy-jwt-authn.yaml` and `envoy-remote.yaml` are run by `jwt_authn.rs` and
//! `remote_module.rs`; here `envoy.yaml` (the demo), `envoy-3scale-saas.yaml` (also what
//! `docker-compose.yaml` runs) and `envoy-3scale-system.yaml`.
//!
//! An attacker in these tests is either a client of the listener or someone on the network
//! path between Envoy and 3scale (a TLS server with a certificate no CA signed, standing
//! where `su1.3scale.net` or the tenant's Admin Portal should be).

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use e2e::envoy::RawEnvoy;
use e2e::mock_backend::{App, MockBackend, Service, State};
use e2e::system::{fixtures, MockSystem, Stored};
use e2e::{free_port, paths, wait_until, EchoUpstream, Envoy, Request};

/// The text of `envoy/<name>` with each `(from, to)` replaced; every `from` must be there.
fn shipped(name: &str, replacements: &[(String, String)]) -> String {
    let path = paths::workspace_root().join("envoy").join(name);
    let mut yaml = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    for (from, to) in replacements {
        assert!(yaml.contains(from.as_str()), "{name} has no {from:?}");
        yaml = yaml.replace(from.as_str(), to);
    }
    yaml
}

fn pair(from: &str, to: impl Into<String>) -> (String, String) {
    (from.to_owned(), to.into())
}

fn wasm() -> String {
    paths::wasm_path().to_string_lossy().into_owned()
}

fn wait_loaded(envoy: &RawEnvoy) {
    assert!(
        wait_until(Duration::from_secs(5), || envoy
            .log()
            .contains("tollgate: configuration loaded")),
        "{}",
        envoy.log()
    );
}

/// A self-signed certificate (no CA signed it) claiming `name`, removed on drop.
struct SelfSigned {
    dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl SelfSigned {
    fn new(name: &str) -> SelfSigned {
        let dir = std::env::temp_dir().join(format!(
            "tollgate-shipped-{}-{name}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let made = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", &format!("/CN={name}")])
            .args(["-addext", &format!("subjectAltName=DNS:{name}")])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl");
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        SelfSigned { dir, cert, key }
    }
}

impl Drop for SelfSigned {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An impostor on the network path: TLS with a self-signed certificate for `name` (an Envoy
/// without the filter), relaying what it decrypts to a plain test server on `port`.
fn impostor_tls(name: &str, port: u16) -> (SelfSigned, Envoy) {
    let cert = SelfSigned::new(name);
    let front = Envoy::builder()
        .without_filter()
        .tls(&cert.cert, &cert.key)
        .upstream_port(port)
        .start()
        .expect("TLS front");
    (cert, front)
}

// ---------------------------------------------------------------------------------------
// envoy/envoy.yaml, the demo (`make demo`)

const DEMO_KEY: &str = "demo-user-key";

fn demo_backend() -> MockBackend {
    MockBackend::start(
        State::new()
            .service(
                Service::new("1")
                    .token("demo-service-token")
                    .backend_version("1")
                    .metric("hits", None),
            )
            .app(App::new("1", "demo-app").user_key(DEMO_KEY).plan("Basic")),
    )
    .unwrap()
}

fn authreps(backend: &MockBackend) -> Vec<e2e::mock_backend::ReceivedRequest> {
    backend
        .requests()
        .into_iter()
        .filter(|r| r.path == "/transactions/authrep.xml")
        .collect()
}

/// The demo as `scripts/demo.sh` renders it (the module path filled in), on free ports:
/// what the README's "Try" lines show holds, and the connection manager settings that
/// differ from the harness's (`use_remote_address`, `REJECT_REQUEST`) hold against a client:
/// no request without a key, a path Envoy resolves before the filter reads it, an encoded
/// slash refused by Envoy, a client's secret token replaced, and the router's retry headers
/// from a client ignored (one authrep, one upstream request).
#[test]
fn shipped_envoy_yaml_authorizes_what_the_upstream_reads() {
    let echo = EchoUpstream::start().unwrap();
    let backend = demo_backend();
    let (envoy, port) = RawEnvoy::start(|listener, admin| {
        shipped(
            "envoy.yaml",
            &[
                pair("${TOLLGATE_WASM}", wasm()),
                pair("port_value: 10000 ", format!("port_value: {listener} ")),
                pair("port_value: 9901 ", format!("port_value: {admin} ")),
                pair("port_value: 8000 ", format!("port_value: {} ", echo.port())),
                pair(
                    "port_value: 3000 ",
                    format!("port_value: {} ", backend.port()),
                ),
            ],
        )
    });
    wait_loaded(&envoy);

    let missing = Request::get("/hello").send(port);
    assert_eq!(
        (missing.status, missing.body.as_str()),
        (401, "Authentication parameters missing"),
        "{missing}"
    );
    assert!(authreps(&backend).is_empty(), "no key, no backend call");
    let wrong = Request::get("/hello")
        .header("user_key", "wrong")
        .send(port);
    assert_eq!(wrong.status, 403, "{wrong}");
    assert!(echo.requests().is_empty());
    assert_eq!(authreps(&backend).len(), 1);

    // A valid key; the client's own secret token is replaced by the configured one.
    let ok = Request::get("/hello")
        .header("user_key", DEMO_KEY)
        .header("X-3scale-proxy-secret-token", "client-made")
        .send(port);
    assert_eq!(ok.status, 200, "{ok}");
    let seen = ok.echo();
    let secrets: Vec<&str> = seen
        .headers
        .iter()
        .filter(|(k, _)| k == "x-3scale-proxy-secret-token")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(secrets, ["demo-secret-token"]);
    let reps = authreps(&backend);
    assert_eq!(reps.len(), 2, "{reps:?}");
    assert!(reps[1]
        .query
        .contains(&("service_token".into(), "demo-service-token".into())));
    assert!(reps[1]
        .query
        .contains(&("user_key".into(), DEMO_KEY.into())));

    // Dot segments: Envoy resolves them before the filter; the upstream reads the same path.
    echo.clear();
    let dots = Request::get("/admin/%2e%2e/hello")
        .header("user_key", DEMO_KEY)
        .send(port);
    assert_eq!(dots.status, 200, "{dots}");
    assert_eq!(dots.echo().path, "/hello");

    // An encoded slash: Envoy's own 400; neither the backend nor the upstream hears of it.
    let before = authreps(&backend).len();
    let slash = Request::get("/admin%2F..%2Fhello")
        .header("user_key", DEMO_KEY)
        .send(port);
    assert_eq!(slash.status, 400, "{slash}");
    assert_eq!(authreps(&backend).len(), before);

    // The router's retry headers from a client: Envoy treats a client of this edge listener
    // as external and drops them, so one authorized call is one upstream request.
    echo.clear();
    let before = authreps(&backend).len();
    let retried = Request::get("/status/503")
        .header("user_key", DEMO_KEY)
        .header("x-envoy-retry-on", "5xx,reset,retriable-status-codes")
        .header("x-envoy-retriable-status-codes", "503")
        .header("x-envoy-max-retries", "5")
        .send(port);
    assert_eq!(retried.status, 503, "{retried}");
    assert_eq!(echo.requests().len(), 1, "{:?}", echo.requests());
    assert_eq!(authreps(&backend).len(), before + 1);
    assert!(!echo.requests()[0]
        .headers
        .iter()
        .any(|(k, _)| k == "x-envoy-retry-on" || k == "x-envoy-max-retries"));
}

// ---------------------------------------------------------------------------------------
// envoy/envoy-3scale-saas.yaml (run by envoy/docker-compose.yaml)

const SAAS_SERVICE: &str = "2555417777777";
const SAAS_TOKEN: &str = "REPLACE-WITH-YOUR-SERVICE-TOKEN";
const SAAS_SECRET: &str = "REPLACE-WITH-A-SECRET";

/// `envoy-3scale-saas.yaml` with its listener and admin on free ports (their addresses kept:
/// 0.0.0.0 and 127.0.0.1), httpbin replaced by `upstream` and su1.3scale.net:443 by `127.0.0.1:backend`
/// (SNI, authority and TLS settings kept).
fn start_saas(upstream: u16, backend: u16) -> (RawEnvoy, u16, u16) {
    let admin_port = std::sync::Mutex::new(0);
    let (envoy, port) = RawEnvoy::start(|listener, admin| {
        *admin_port.lock().unwrap() = admin;
        shipped(
            "envoy-3scale-saas.yaml",
            &[
                pair("/etc/envoy/tollgate.wasm", wasm()),
                pair(
                    "{ address: 0.0.0.0, port_value: 10000 }",
                    format!("{{ address: 0.0.0.0, port_value: {listener} }}"),
                ),
                pair(
                    "{ address: 127.0.0.1, port_value: 9901 }",
                    format!("{{ address: 127.0.0.1, port_value: {admin} }}"),
                ),
                pair(
                    "address: httpbin, port_value: 8080",
                    format!("address: 127.0.0.1, port_value: {upstream}"),
                ),
                pair(
                    "address: su1.3scale.net, port_value: 443",
                    format!("address: 127.0.0.1, port_value: {backend}"),
                ),
            ],
        )
    });
    wait_loaded(&envoy);
    let admin = *admin_port.lock().unwrap();
    (envoy, port, admin)
}

// Found by an audit (2026-12-06): the examples' TLS clusters had no validation_context, so
// whoever stood on the path to su1.3scale.net got the service token and authorized any key.
#[test]
fn saas_example_talks_only_to_a_backend_with_a_trusted_certificate() {
    // The impostor knows no real key: it authorizes one it made up, and records what it gets.
    let impostor = MockBackend::start(
        State::new()
            .service(
                Service::new(SAAS_SERVICE)
                    .token(SAAS_TOKEN)
                    .backend_version("1")
                    .metric("hits", None),
            )
            .app(
                App::new(SAAS_SERVICE, "made-up")
                    .user_key("key-the-impostor-made-up")
                    .plan("Basic"),
            ),
    )
    .unwrap();
    let (_cert, front) = impostor_tls("su1.3scale.net", impostor.port());
    let echo = EchoUpstream::start().unwrap();
    let (_envoy, port, _admin) = start_saas(echo.port(), front.port());

    let r = Request::get("/get?user_key=key-the-impostor-made-up").send(port);
    let token_sent: Vec<String> = impostor
        .requests()
        .iter()
        .filter(|q| {
            q.query
                .iter()
                .any(|(k, v)| k == "service_token" && v == SAAS_TOKEN)
        })
        .map(|q| format!("{} {}?{}", q.method, q.path, q.raw_query))
        .collect();
    assert!(
        token_sent.is_empty(),
        "the service token went to a server whose certificate no CA signed: {token_sent:?}; \
         the client got {} and the API received {} request(s)",
        r.status,
        echo.requests().len()
    );
    assert_eq!(
        r.status, 403,
        "an unverifiable backend is an unreachable one (fail closed): {r}"
    );
    assert!(
        echo.requests().is_empty(),
        "a key nobody issued reached the API: {:?}",
        echo.requests()
    );
}

/// An IPv4 address of this machine other than loopback, if it has one.
fn non_loopback_ipv4() -> Option<IpAddr> {
    let probe = UdpSocket::bind("0.0.0.0:0").ok()?;
    if probe.connect("198.51.100.1:9").is_ok() {
        if let Ok(addr) = probe.local_addr() {
            if !addr.ip().is_loopback() && !addr.ip().is_unspecified() {
                return Some(addr.ip());
            }
        }
    }
    let out = std::process::Command::new("hostname")
        .arg("-I")
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|a| a.parse::<IpAddr>().ok())
        .find(|a| a.is_ipv4() && !a.is_loopback())
}

/// `GET path` to `addr` over HTTP/1.1: the whole answer, or None when nothing answers.
fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    Some(String::from_utf8_lossy(&out).into_owned())
}

// Found by an audit (2026-12-06): the admin interface was bound to 0.0.0.0 (and published by
// docker-compose.yaml): /config_dump showed the service and secret tokens to the network.
#[test]
fn saas_example_admin_interface_is_not_reachable_from_the_network() {
    let backend = MockBackend::start(State::new()).unwrap();
    let echo = EchoUpstream::start().unwrap();
    let (_envoy, port, admin) = start_saas(echo.port(), backend.port());
    // The listener itself is the gateway: reachable from the network, and it answers.
    assert_eq!(Request::get("/get").send(port).status, 401);

    let ip = non_loopback_ipv4().expect("this test needs a non-loopback IPv4 address");
    let dump = http_get(SocketAddr::new(ip, admin), "/config_dump");
    let leaked: Vec<&str> = [SAAS_TOKEN, SAAS_SECRET]
        .into_iter()
        .filter(|s| dump.as_deref().is_some_and(|d| d.contains(s)))
        .collect();
    assert!(
        dump.is_none(),
        "Envoy's admin interface answers on {ip}:{admin} (secrets in its /config_dump: {leaked:?}): {}",
        dump.as_deref().unwrap_or("").lines().next().unwrap_or("")
    );
}

// ---------------------------------------------------------------------------------------
// envoy/envoy-3scale-system.yaml

const SYSTEM_TOKEN: &str = "REPLACE-WITH-YOUR-ACCESS-TOKEN";

// Found by an audit (2026-12-06): the System example's clusters checked no certificate: the
// tenant's access token went to any server on the path, and its services were loaded.
#[test]
fn system_example_sends_the_access_token_only_to_a_trusted_admin_portal() {
    let impostor = MockSystem::start(SYSTEM_TOKEN).unwrap();
    // What the impostor serves: a service on `localhost` (its choice of rules and secret).
    impostor
        .publish(
            Stored::Production,
            fixtures::minimal(7, "localhost", vec![fixtures::rule("GET", "/", "hits", 1)]),
        )
        .unwrap();
    let (_cert, front) = impostor_tls("acme-admin.3scale.net", impostor.port());
    let echo = EchoUpstream::start().unwrap();
    let backend = MockBackend::start(State::new()).unwrap();
    let (envoy, _port) = RawEnvoy::start(|listener, admin| {
        shipped(
            "envoy-3scale-system.yaml",
            &[
                pair("/etc/envoy/tollgate.wasm", wasm()),
                pair(
                    "{ address: 0.0.0.0, port_value: 10000 }",
                    format!("{{ address: 127.0.0.1, port_value: {listener} }}"),
                ),
                pair(
                    "{ address: 127.0.0.1, port_value: 9901 }",
                    format!("{{ address: 127.0.0.1, port_value: {admin} }}"),
                ),
                pair(
                    "address: httpbin, port_value: 8080",
                    format!("address: 127.0.0.1, port_value: {}", echo.port()),
                ),
                pair(
                    "address: su1.3scale.net, port_value: 443",
                    format!("address: 127.0.0.1, port_value: {}", backend.port()),
                ),
                pair(
                    "address: acme-admin.3scale.net, port_value: 443",
                    format!("address: 127.0.0.1, port_value: {}", front.port()),
                ),
                pair(
                    "address: sso.example.com, port_value: 443",
                    format!("address: 127.0.0.1, port_value: {}", free_port()),
                ),
            ],
        )
    });
    wait_loaded(&envoy);
    // The token goes as Basic credentials (`<token>:`) on every fetch of the Admin Portal.
    let heard = wait_until(Duration::from_secs(5), || {
        impostor
            .requests()
            .iter()
            .any(|r| r.authorization.is_some() || r.query.contains("access_token"))
    });
    assert!(
        !heard,
        "the access token went to a server whose certificate no CA signed: {:?}",
        impostor.requests()
    );
    assert!(
        !envoy.log().contains("service 7 () added"),
        "the impostor's services were loaded"
    );
}

//! Three upstreams behind one Envoy, one per service of a host path routing shares (the
//! public service's, service 2's, service 1's), and probes that tell which one received a
//! request: for `service_selection_confusion.rs` and `service_id_routes.rs`.

use super::*;
use e2e::envoy::RawEnvoy;
use e2e::mock_backend::MockBackend;
use e2e::{EchoRequest, EchoUpstream, Envoy, Request, Response};
use serde_json::{json, Value};

pub const HOST: &str = "api.example.com";
pub const API_SECRET: &str = "api-secret-token";
pub const PUBLIC_SECRET: &str = "public-secret-token";
pub const TWO_SECRET: &str = "two-secret-token";
pub const MARK: &str = "x-audit-mark";

pub const HARNESS_ROUTE: &str = "              routes:
              - match: { prefix: \"/\" }
                route: { cluster: upstream, timeout: 15s }
";

/// Three upstreams: service 1's (the harness's `upstream` cluster, Envoy's default route),
/// the public service's (`upstream_public`) and service 2's (`upstream_two`), behind Envoy
/// with the harness's route replaced by `routes`.
pub struct Split {
    pub protected: EchoUpstream,
    pub public: EchoUpstream,
    pub two: EchoUpstream,
    pub backend: MockBackend,
    _envoy: RawEnvoy,
    pub port: u16,
    marks: std::cell::Cell<u32>,
}

pub fn start_split(config: Value, routes: &str, raw_paths: bool) -> Split {
    start_split_with(config, routes, raw_paths, |b| b)
}

pub fn start_split_with(
    config: Value,
    routes: &str,
    raw_paths: bool,
    envoy: impl FnOnce(e2e::EnvoyBuilder) -> e2e::EnvoyBuilder,
) -> Split {
    let protected = EchoUpstream::start().expect("echo upstream");
    let public = EchoUpstream::start().expect("public echo upstream");
    let two = EchoUpstream::start().expect("service 2 echo upstream");
    let backend = MockBackend::start(backend_state()).expect("mock backend");
    let mut builder = Envoy::builder()
        .upstream_port(protected.port())
        .backend_port(backend.port())
        .extra_cluster("upstream_public", public.port())
        .extra_cluster("upstream_two", two.port())
        .filter_config(&config.to_string());
    if raw_paths {
        builder = builder.raw_paths();
    }
    let builder = envoy(builder);
    let routes = routes.to_string();
    let (envoy, port) = RawEnvoy::start(move |listener, admin| {
        let yaml = builder.render(listener, admin);
        assert!(
            yaml.contains(HARNESS_ROUTE),
            "the harness's route changed:\n{yaml}"
        );
        yaml.replace(HARNESS_ROUTE, &routes)
    });
    Split {
        protected,
        public,
        two,
        backend,
        _envoy: envoy,
        port,
        marks: std::cell::Cell::new(0),
    }
}

impl Split {
    /// The `service_id` of every authrep the backend received, in order.
    pub fn authrep_services(&self) -> Vec<String> {
        (self.backend.requests().into_iter())
            .filter(|r| r.path == "/transactions/authrep.xml")
            .map(|r| r.param("service_id").unwrap_or("?").to_string())
            .collect()
    }

    /// Which upstream received the request marked `mark`, and that request.
    pub fn receiver(&self, mark: &str) -> Option<(&'static str, EchoRequest)> {
        let find = |echo: &EchoUpstream| {
            (echo.requests().into_iter()).find(|r| r.header(MARK) == Some(mark))
        };
        (find(&self.protected).map(|r| ("service 1's", r)))
            .or_else(|| find(&self.public).map(|r| ("the public service's", r)))
            .or_else(|| find(&self.two).map(|r| ("service 2's", r)))
    }

    /// `GET target` on [`HOST`] with `extra` headers; what the client got and who received it.
    pub fn probe(&self, target: &str, extra: &[(&str, &str)]) -> Probe {
        self.probe_method("GET", target, extra)
    }

    /// [`Split::probe`] with another method.
    pub fn probe_method(&self, method: &str, target: &str, extra: &[(&str, &str)]) -> Probe {
        let n = self.marks.get() + 1;
        self.marks.set(n);
        let mark = format!("probe-{n}");
        let mut req = Request::new(method, target)
            .header("Host", HOST)
            .header(MARK, &mark);
        for (k, v) in extra {
            req = req.header(k, v);
        }
        let r: Response = req.send(self.port);
        Probe {
            target: target.to_string(),
            status: r.status,
            receiver: self.receiver(&mark),
        }
    }
}

pub fn rule(method: &str, pattern: &str) -> Value {
    json!({"http_method": method, "pattern": pattern, "metric_system_name": "hits", "delta": 1})
}

/// Path routing on one host: the public service (20, `mode: none`) with `public_rules` first,
/// service 2 (`app_id`/`app_key` in the query) on `GET /two` next, service 1 (`user_key`
/// header, `ANY /`) last.
pub fn path_routed(public_rules: Value) -> Value {
    let public = json!({"id": 20, "system_name": "public",
        "authentication": {"mode": "none"},
        "proxy": {"hosts": [HOST], "secret_token": PUBLIC_SECRET, "proxy_rules": public_rules}});
    let two = service(
        2,
        json!(2),
        json!({"hosts": [HOST], "secret_token": TWO_SECRET, "proxy_rules": [rule("GET", "/two")]}),
    );
    let protected = service(
        1,
        json!(1),
        json!({"hosts": [HOST], "secret_token": API_SECRET, "credentials_location": "headers",
               "proxy_rules": [rule("ANY", "/")]}),
    );
    let mut c = config(vec![public, two, protected]);
    c["path_routing"] = json!(true);
    c
}

/// Envoy's routes for [`path_routed`], one per service, as an operator writes them: each
/// prefix of `public` to the public upstream, `/two` to service 2's, the rest to service 1's.
/// Not enough on a shared host: path routing chooses by method and args too, so `DELETE
/// /two` is service 1's and this sends it to service 2's upstream (`SERVICE_ID_ROUTES` in
/// `service_id_routes.rs` routes on `x-3scale-service-id` instead).
pub fn prefix_routes(public: &[&str]) -> String {
    let mut y = "              routes:\n".to_string();
    for prefix in public {
        y.push_str(&format!(
            "              - match: {{ prefix: {prefix:?} }}\n                route: {{ cluster: upstream_public, timeout: 15s }}\n"
        ));
    }
    y.push_str(
        "              - match: { prefix: \"/two\" }
                route: { cluster: upstream_two, timeout: 15s }
              - match: { prefix: \"/\" }
                route: { cluster: upstream, timeout: 15s }
",
    );
    y
}

pub struct Probe {
    pub target: String,
    pub status: u16,
    pub receiver: Option<(&'static str, EchoRequest)>,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let got = match &self.receiver {
            Some((who, r)) => format!(
                "{who} upstream got {} {} with secret token {:?}",
                r.method,
                r.path,
                r.header_all("x-3scale-proxy-secret-token")
            ),
            None => "no upstream".into(),
        };
        write!(f, "{} -> {}, {got}", self.target, self.status)
    }
}

impl Probe {
    pub fn reached(&self) -> Option<&'static str> {
        self.receiver.as_ref().map(|(who, _)| *who)
    }
}

/// The controls every split test starts with: each service's plain path reaches its own
/// upstream, under its own checks and `service_id`.
pub fn controls_hold(s: &Split, public_target: &str) {
    let p = s.probe(public_target, &[]);
    assert_eq!(
        (p.status, p.reached()),
        (200, Some("the public service's")),
        "{p:?}"
    );
    let p = s.probe("/orders", &[]);
    assert_eq!((p.status, p.reached()), (401, None), "{p:?}");
    let p = s.probe("/orders", &[("user_key", USER_KEY)]);
    assert_eq!((p.status, p.reached()), (200, Some("service 1's")), "{p:?}");
    let p = s.probe(&format!("/two?app_id={APP_ID}&app_key={APP_KEY}"), &[]);
    assert_eq!((p.status, p.reached()), (200, Some("service 2's")), "{p:?}");
    assert_eq!(s.authrep_services(), ["1", "2"]);
}

/// The probes (`target`, extra headers, the upstream of the service whose checks apply to
/// it) that reached another upstream: Envoy delivered them as another service's request.
/// A probe: its target, extra headers, and the upstream of the service whose checks apply.
pub type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

pub fn misdelivered(s: &Split, cases: &[Case]) -> Vec<Probe> {
    (cases.iter())
        .map(|(target, extra, owner)| (s.probe(target, extra), *owner))
        .filter(|(p, owner)| p.reached().is_some_and(|who| who != *owner))
        .map(|(p, _)| p)
        .collect()
}

pub const PUBLIC: &str = "the public service's";
pub const TWO: &str = "service 2's";

//! POST /transactions.xml, the control API (modes, latency, recording, `/_mock/stats`) and the binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use std::time::{Duration, Instant};

use common::*;
use mock_backend::{App, MockBackend, Mode, Period, Service, State};

fn backend() -> MockBackend {
    let state = State::new()
        .service(
            Service::new("42")
                .token("svc-token")
                .backend_version("1")
                .metric("hits", None)
                .metric("get_foo", Some("hits"))
                .metric("deep", Some("get_foo")),
        )
        .app(
            App::new("42", "app1")
                .user_key("uk-1")
                .limit("hits", Period::Minute, 1)
                .state_suspended(),
        )
        .app(App::new("42", "app2").app_keys(&["k1"]));
    MockBackend::start(state).unwrap()
}

#[test]
fn report_counts_and_propagates() {
    let b = backend();
    let r = post_form(
        b.port(),
        "/transactions.xml?service_token=svc-token&service_id=42",
        "transactions%5B0%5D%5Buser_key%5D=uk-1&transactions%5B0%5D%5Busage%5D%5Bdeep%5D=3\
         &transactions[1][app_id]=app2&transactions[1][usage][hits]=2&transactions[1][usage][get_foo]=1",
    );
    assert_eq!((r.status, r.body.as_str()), (202, ""));
    assert_eq!(r.header("content-length"), Some("0"));
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.3scale-v2.0+xml")
    );
    // suspended app and limits are ignored by reports
    assert_eq!(b.counter("42", "app1", "deep", Period::Minute), 3);
    assert_eq!(b.counter("42", "app1", "get_foo", Period::Day), 3);
    assert_eq!(b.counter("42", "app1", "hits", Period::Eternity), 3);
    assert_eq!(b.counter("42", "app2", "hits", Period::Month), 3);
    assert_eq!(b.counter("42", "app2", "get_foo", Period::Month), 1);
    assert_eq!(b.reported_hits("42", "app2", "hits"), 3);

    // credentials in the body
    let r = post_form(
        b.port(),
        "/transactions.xml",
        "service_token=svc-token&service_id=42&transactions[0][app_id]=app2&transactions[0][usage][hits]=1",
    );
    assert_eq!(r.status, 202);
    assert_eq!(b.counter("42", "app2", "hits", Period::Month), 4);

    // flat_usage: no propagation
    let r = send(
        b.port(),
        "POST",
        "/transactions.xml?service_token=svc-token&service_id=42",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("3scale-options", "flat_usage=1"),
        ],
        "transactions[0][app_id]=app2&transactions[0][usage][get_foo]=5",
    );
    assert_eq!(r.status, 202);
    assert_eq!(b.counter("42", "app2", "get_foo", Period::Month), 6);
    assert_eq!(b.counter("42", "app2", "hits", Period::Month), 4);
}

#[test]
fn report_batch_is_all_or_nothing() {
    let b = backend();
    let r = post_form(
        b.port(),
        "/transactions.xml?service_token=svc-token&service_id=42",
        "transactions[0][app_id]=app2&transactions[0][usage][hits]=1&transactions[1][app_id]=ghost&transactions[1][usage][hits]=1",
    );
    assert_eq!(r.status, 202, "async errors are invisible");
    assert_eq!(b.counter("42", "app2", "hits", Period::Month), 0);
    let errors = b.report_errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, "application_not_found");
    assert_eq!(
        errors[0].message,
        r#"application with id="ghost" was not found"#
    );
}

#[test]
fn report_sync_errors() {
    let b = backend();
    let q = "/transactions.xml?service_token=svc-token&service_id=42";
    let r = send(
        b.port(),
        "POST",
        q,
        &[("Content-Type", "application/json")],
        "{}",
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        r#"<?xml version="1.0" encoding="UTF-8"?><error code="content_type_invalid">invalid Content-Type: application/json</error>"#
    );
    let r = post_form(b.port(), q, "");
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            400,
            r#"<?xml version="1.0" encoding="UTF-8"?><error code="transactions_is_blank">transactions parameter is blank</error>"#
        )
    );
    assert!(post_form(b.port(), q, "transactions=x")
        .body
        .contains("transactions_format_invalid"));
    assert!(post_form(b.port(), q, "transactions[][app_id]=x")
        .body
        .contains("transactions_format_invalid"));
    assert!(post_form(b.port(), q, "transactions[0]")
        .body
        .contains("transactions_has_nil_transaction"));
    assert_eq!(
        post_form(
            b.port(),
            q,
            "transactions[0][user_id]=u&transactions[0][app_id]=app2"
        )
        .status,
        400
    );
    let r = post_form(
        b.port(),
        "/transactions.xml?service_token=bad&service_id=42",
        "transactions[0][app_id]=app2",
    );
    assert_eq!(r.status, 403);
    assert!(r.body.contains("service_token_invalid"));
    // charset parameter and upper case are fine
    let r = send(
        b.port(),
        "POST",
        q,
        &[(
            "Content-Type",
            "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
        )],
        "transactions[0][app_id]=app2&transactions[0][usage][hits]=1",
    );
    assert_eq!(r.status, 202);
}

#[test]
fn requests_are_recorded() {
    let b = backend();
    post_form(
        b.port(),
        "/transactions.xml?service_token=svc-token&service_id=42",
        "transactions%5B0%5D%5Bapp_id%5D=app2&transactions%5B0%5D%5Busage%5D%5Bhits%5D=1",
    );
    get_with(b.port(), "/transactions/authrep.xml?service_token=svc-token&service_id=42&user_key=uk-1&usage%5Bhits%5D=1", "no_body=1");
    let reqs = b.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/transactions.xml");
    assert_eq!(reqs[0].param("service_id"), Some("42"));
    assert_eq!(reqs[0].param("transactions[0][usage][hits]"), Some("1"));
    assert_eq!(
        reqs[0].body_params[0],
        ("transactions[0][app_id]".to_string(), "app2".to_string())
    );
    assert_eq!(
        reqs[1].raw_query,
        "service_token=svc-token&service_id=42&user_key=uk-1&usage%5Bhits%5D=1"
    );
    assert_eq!(reqs[1].param("usage[hits]"), Some("1"));
    assert_eq!(reqs[1].header("3scale-options"), Some("no_body=1"));
    b.clear_requests();
    assert!(b.requests().is_empty());
}

#[test]
fn status_mode_and_latency() {
    let b = backend();
    let url = "/transactions/authrep.xml?service_token=svc-token&service_id=42&app_id=app2&app_key=k1&usage[hits]=1";
    b.set_mode(Mode::Status(503));
    let r = get(b.port(), url);
    assert_eq!((r.status, r.body.as_str()), (503, ""));
    assert_eq!(
        get(b.port(), "/status").status,
        200,
        "health endpoints unaffected"
    );
    b.set_mode(Mode::Normal);
    b.set_latency(Duration::from_millis(50));
    let t = Instant::now();
    assert_eq!(get(b.port(), "/status").status, 200);
    assert!(t.elapsed() >= Duration::from_millis(50));
}

#[test]
fn hang_mode_does_not_block_others() {
    let b = backend();
    b.set_mode(Mode::Hang);
    let port = b.port();
    let t = Instant::now();
    let hung = send_timeout(
        port,
        "GET",
        "/transactions/authorize.xml?service_token=svc-token&service_id=42&user_key=uk-1",
        &[],
        "",
        Duration::from_millis(300),
    );
    assert!(hung.is_err(), "no answer expected: {hung:?}");
    assert!(t.elapsed() >= Duration::from_millis(250));
    // Another request is served meanwhile.
    assert_eq!(get(port, "/status").status, 200);
    assert_eq!(b.requests().len(), 2, "hung request is recorded");
    drop(b); // must not wait for the hang limit
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn stats_route_counts_calls_and_applied_usage() {
    let b = MockBackend::start(
        State::new()
            .service(
                Service::new("42")
                    .token("svc-token")
                    .backend_version("1")
                    .metric("hits", None)
                    .metric("get_foo", Some("hits")),
            )
            .app(App::new("42", "app1").user_key("uk-1").state_suspended())
            .app(App::new("42", "app2").user_key("uk-2")),
    )
    .unwrap();
    let port = b.port();
    let authrep = "/transactions/authrep.xml?service_token=svc-token&service_id=42";
    assert_eq!(
        get(port, &format!("{authrep}&user_key=uk-2&usage[hits]=2")).status,
        200
    );
    // Denied (suspended): counted as a call, nothing applied.
    assert_eq!(
        get(port, &format!("{authrep}&user_key=uk-1&usage[hits]=1")).status,
        409
    );
    let authorize = "/transactions/authorize.xml?service_token=svc-token&service_id=42";
    assert_eq!(get(port, &format!("{authorize}&user_key=uk-2")).status, 200);
    let report = "/transactions.xml?service_token=svc-token&service_id=42";
    // Accepted: get_foo and (propagated) hits. Then a batch refused as a whole.
    assert_eq!(
        post_form(
            port,
            report,
            "transactions[0][user_key]=uk-2&transactions[0][usage][get_foo]=1"
        )
        .status,
        202
    );
    assert_eq!(
        post_form(
            port,
            report,
            "transactions[0][app_id]=ghost&transactions[0][usage][hits]=7"
        )
        .status,
        202
    );
    get(port, "/status");

    let r = get(port, "/_mock/stats");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let stats: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        stats,
        serde_json::json!({
            "calls": {"authorize": 1, "authrep": 2, "report": 2, "oauth_authorize": 0, "oauth_authrep": 0},
            "reported": {"42": {"hits": 3, "get_foo": 1}},
        })
    );
    assert_eq!(serde_json::to_value(b.stats()).unwrap(), stats);
    assert_eq!(b.requests().len(), 6, "admin requests are not recorded");

    // Neither Mode nor latency applies to the admin route; calls still count.
    b.set_mode(Mode::Hang);
    b.set_latency(Duration::from_secs(2));
    let hung = send_timeout(port, "GET", authorize, &[], "", Duration::from_millis(100));
    assert!(hung.is_err(), "no answer expected: {hung:?}");
    let t = Instant::now();
    let r = send_timeout(port, "GET", "/_mock/stats", &[], "", Duration::from_secs(1)).unwrap();
    assert!(t.elapsed() < Duration::from_secs(1));
    assert!(r.body.contains(r#""authorize":2"#), "{}", r.body);
    b.set_mode(Mode::Status(503));
    assert_eq!(get(port, "/_mock/stats").status, 200);
}

#[test]
fn binary_serves_demo_state() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let state = concat!(env!("CARGO_MANIFEST_DIR"), "/demo-state.json");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mock-3scale"))
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--state",
            state,
            "--latency-ms",
            "1",
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "binary did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = get(port, "/transactions/authrep.xml?service_token=demo-service-token&service_id=1&user_key=demo-user-key&usage[hits]=1");
    let r2 = get(port, "/transactions/authrep.xml?service_token=demo-service-token&service_id=2&app_id=demo-app-id&app_key=demo-app-key&usage[hits]=1");
    let r3 = get(
        port,
        "/transactions/authrep.xml?service_token=demo-service-token&service_id=1&user_key=nope",
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("<plan>Demo</plan>"));
    assert!(r
        .body
        .contains(r#"<usage_report metric="hits" period="minute">"#));
    assert!(r
        .body
        .contains("<max_value>1000</max_value><current_value>1</current_value>"));
    assert_eq!(r2.status, 200, "{}", r2.body);
    assert_eq!(r3.status, 403);
}

#[test]
fn log_code_and_referrer_are_recorded_with_each_counted_transaction() {
    let state = State::new()
        .service(
            Service::new("7")
                .token("t")
                .backend_version("2")
                .metric("hits", None),
        )
        .app(App::new("7", "a").app_keys(&["k"]))
        .app(App::new("7", "b"));
    let b = MockBackend::start(state).unwrap();
    let r = post_form(
        b.port(),
        "/transactions.xml?service_token=t&service_id=7",
        "transactions[0][app_id]=a&transactions[0][usage][hits]=2&transactions[0][log][code]=200\
         &transactions[1][app_id]=a&transactions[1][usage][hits]=1&transactions[1][log][code]=503\
         &transactions[2][app_id]=a&transactions[2][usage][hits]=0&transactions[2][log][code]=404\
         &transactions[3][app_id]=b&transactions[3][usage][hits]=1",
    );
    assert_eq!(r.status, 202);
    let r = get(
        b.port(),
        "/transactions/authrep.xml?service_token=t&service_id=7&app_id=a&app_key=k\
         &usage%5Bhits%5D=1&log%5Bcode%5D=201&referrer=shop.example.com",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // Denied: not counted, so not recorded.
    let r = get(
        b.port(),
        "/transactions/authrep.xml?service_token=t&service_id=7&app_id=a&app_key=bad&usage%5Bhits%5D=1&log%5Bcode%5D=200",
    );
    assert_eq!(r.status, 409);
    let logged: Vec<_> = b
        .logged()
        .into_iter()
        .map(|l| (l.endpoint, l.app_id, l.usage, l.code, l.referrer))
        .collect();
    let hits = |n: &str| vec![("hits".to_string(), n.to_string())];
    let code = |c: &str| Some(c.to_string());
    assert_eq!(
        logged,
        vec![
            ("report", "a".into(), hits("2"), code("200"), None),
            ("report", "a".into(), hits("1"), code("503"), None),
            ("report", "b".into(), hits("1"), None, None),
            (
                "authrep",
                "a".into(),
                hits("1"),
                code("201"),
                code("shop.example.com")
            ),
        ]
    );
}

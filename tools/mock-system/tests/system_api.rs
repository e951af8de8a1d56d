//! The mock System over HTTP: token checks, paths built by the core's wire functions,
//! versions, paging, deletion, failures and the control API.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mock_system::{fixtures, Credential, Failure, Faults, MockSystem, Stored};
use serde_json::{json, Value};
use tollgate_core::config::system::{
    account_page_path, basic_authorization, parse_answer, service_config_path, service_index_path,
    Environment,
};

const TOKEN: &str = "s3cret-token";

struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

fn send(
    port: u16,
    method: &str,
    target: &str,
    auth: Option<&str>,
    body: &str,
) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(auth) = auth {
        req.push_str(&format!("Authorization: {auth}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no answer: {text:?}")))?;
    let status = head.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_string)
        })
        .unwrap_or_default();
    Ok(Reply {
        status,
        content_type,
        body: body.to_string(),
    })
}

fn get(system: &MockSystem, target: &str) -> Reply {
    send(
        system.port(),
        "GET",
        target,
        Some(&basic_authorization(TOKEN)),
        "",
    )
    .unwrap()
}

fn control(system: &MockSystem, method: &str, target: &str, body: &str) -> Reply {
    send(system.port(), method, target, None, body).unwrap()
}

fn publish(system: &MockSystem, id: u64, host: &str) -> u64 {
    let content = fixtures::full(id, host, vec![fixtures::rule("GET", "/", "hits", 1)]);
    system.publish(Stored::Production, content).unwrap().version
}

const PRODUCTION: Environment = Environment::Production;

#[test]
fn the_token_is_checked_in_basic_or_the_query() {
    let system = MockSystem::start(TOKEN).unwrap();
    publish(&system, 42, "a.example.com");
    let path = service_config_path("42", PRODUCTION, None);
    let denied = send(system.port(), "GET", &path, None, "").unwrap();
    assert_eq!(
        (denied.status, denied.body.as_str()),
        (403, r#"{"error":"Access denied"}"#)
    );
    let wrong = send(
        system.port(),
        "GET",
        &path,
        Some(&basic_authorization("nope")),
        "",
    )
    .unwrap();
    assert_eq!(wrong.status, 403);
    let ok = get(&system, &path);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.content_type, "application/json; charset=utf-8");
    let by_query = send(
        system.port(),
        "GET",
        &format!("{path}?access_token={TOKEN}"),
        None,
        "",
    )
    .unwrap();
    assert_eq!(by_query.status, 200);

    let seen = system.requests();
    let credentials: Vec<(Credential, Option<u16>)> =
        seen.iter().map(|r| (r.credential, r.status)).collect();
    assert_eq!(
        credentials,
        [
            (Credential::None, Some(403)),
            (Credential::Basic, Some(403)),
            (Credential::Basic, Some(200)),
            (Credential::Query, Some(200)),
        ]
    );
    assert_eq!(
        seen[2].authorization.as_deref(),
        Some("Basic czNjcmV0LXRva2VuOg==")
    );
    // The control API shows the same log.
    let log = control(&system, "GET", "/__control/requests", "").json();
    assert_eq!(log["requests"][2]["credential"], "basic");
    assert_eq!(log["requests"][3]["query"], format!("access_token={TOKEN}"));
}

#[test]
fn versions_latest_pinned_index_and_environments() {
    let system = MockSystem::start(TOKEN).unwrap();
    assert_eq!(publish(&system, 42, "a.example.com"), 1);
    assert_eq!(
        publish(&system, 42, "a.example.com"),
        1,
        "unchanged content keeps the version"
    );
    assert_eq!(publish(&system, 42, "b.example.com"), 2);

    let latest = parse_answer(
        get(&system, &service_config_path("42", PRODUCTION, None))
            .body
            .as_bytes(),
    )
    .unwrap();
    let s = &latest.services[0];
    assert_eq!(
        (s.id.as_deref(), s.version, s.environment.as_str()),
        (Some("42"), 2, "production")
    );
    assert_eq!(s.content["proxy"]["hosts"][0], "b.example.com");
    let pinned = parse_answer(
        get(&system, &service_config_path("42", PRODUCTION, Some(1)))
            .body
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(
        pinned.services[0].content["proxy"]["hosts"][0],
        "a.example.com"
    );
    let index = parse_answer(
        get(&system, &service_index_path("42", PRODUCTION))
            .body
            .as_bytes(),
    )
    .unwrap();
    let versions: Vec<u64> = index.services.iter().map(|s| s.version).collect();
    assert_eq!(versions, [1, 2]);

    let missing = get(&system, &service_config_path("42", PRODUCTION, Some(9)));
    assert_eq!(
        (missing.status, missing.body.as_str()),
        (404, r#"{"status":"Not found"}"#)
    );
    assert_eq!(
        get(&system, &service_config_path("7", PRODUCTION, None)).status,
        404
    );
    // No sandbox configuration yet: 404; staging is sandbox.
    assert_eq!(
        get(
            &system,
            &service_config_path("42", Environment::Staging, None)
        )
        .status,
        404
    );
    system
        .promote(42, Stored::Production, 2, Stored::Sandbox)
        .unwrap();
    let staging = get(
        &system,
        &service_config_path("42", Environment::Staging, None),
    )
    .json();
    assert_eq!(staging["proxy_config"]["environment"], "sandbox");
    assert_eq!(staging["proxy_config"]["version"], 2);

    let bad_env = get(
        &system,
        "/admin/api/services/42/proxy/configs/prod/latest.json",
    );
    assert_eq!(
        (bad_env.status, bad_env.body.as_str()),
        (400, r#"{"error":"invalid environment"}"#)
    );
    let bad_env = get(
        &system,
        "/admin/api/account/proxy_configs/prod.json?version=latest",
    );
    assert_eq!(bad_env.status, 422);
}

#[test]
fn promotion_through_the_api_keeps_the_number_once() {
    let system = MockSystem::start(TOKEN).unwrap();
    let content = fixtures::minimal(5, "a.example.com", vec![]);
    system.publish(Stored::Sandbox, content.clone()).unwrap();
    let mut changed = content;
    changed["proxy"]["hosts"] = json!(["b.example.com"]);
    system.publish(Stored::Sandbox, changed).unwrap();
    let promote = |to: &str| {
        send(
            system.port(),
            "POST",
            &format!("/admin/api/services/5/proxy/configs/sandbox/2/promote.json{to}"),
            Some(&basic_authorization(TOKEN)),
            "",
        )
        .unwrap()
    };
    assert_eq!(promote("").status, 400);
    assert_eq!(promote("?to=staging").status, 422);
    let done = promote("?to=production");
    assert_eq!(done.status, 201);
    assert_eq!(done.json()["proxy_config"]["version"], 2);
    assert_eq!(
        promote("?to=production").status,
        422,
        "the same version twice"
    );
    let prod = get(&system, &service_config_path("5", PRODUCTION, None)).json();
    assert_eq!(
        prod["proxy_config"]["content"]["proxy"]["hosts"][0],
        "b.example.com"
    );
}

#[test]
fn pages_of_500_as_apicast_reads_them() {
    let system = MockSystem::start(TOKEN).unwrap();
    let contents: Vec<Value> = (1..=1256u64)
        .map(|id| fixtures::minimal(id, &format!("s{id}.example.com"), vec![]))
        .collect();
    let published = control(
        &system,
        "POST",
        "/__control/publish",
        &Value::Array(contents).to_string(),
    );
    assert_eq!(published.status, 200, "{}", published.body);
    assert_eq!(
        published.json()["published"].as_array().unwrap().len(),
        1256
    );

    let mut sizes = Vec::new();
    let mut ids = Vec::new();
    for page in 1.. {
        let reply = get(&system, &account_page_path(PRODUCTION, page));
        assert_eq!(reply.status, 200);
        let body = reply.json();
        assert_eq!(body["metadata"]["total_entries"], 1256);
        assert_eq!(body["metadata"]["current_page"], page);
        let fetched = parse_answer(reply.body.as_bytes()).unwrap();
        sizes.push(fetched.services.len());
        ids.extend(fetched.services.iter().map(|s| s.id.clone().unwrap()));
        if !fetched.more {
            break;
        }
    }
    assert_eq!(sizes, [500, 500, 256]);
    assert_eq!(ids.len(), 1256);
    assert_eq!(ids.first().map(String::as_str), Some("1"));
    assert_eq!(ids.last().map(String::as_str), Some("1256"));
    // Beyond the last page: empty. Out-of-range paging falls back as porta does.
    let past = get(&system, &account_page_path(PRODUCTION, 4)).json();
    assert_eq!(past["proxy_configs"].as_array().unwrap().len(), 0);
    let odd = get(
        &system,
        "/admin/api/account/proxy_configs/production.json?version=latest&page=0&per_page=9999",
    )
    .json();
    assert_eq!(odd["proxy_configs"][0]["proxy_config"]["content"]["id"], 1);
    assert_eq!(odd["proxy_configs"].as_array().unwrap().len(), 500);
    let small = get(
        &system,
        "/admin/api/account/proxy_configs/production.json?version=latest&page=2&per_page=10",
    )
    .json();
    assert_eq!(
        small["proxy_configs"][0]["proxy_config"]["content"]["id"],
        11
    );
    assert_eq!(small["metadata"]["total_pages"], 126);
    let by_host = get(
        &system,
        "/admin/api/account/proxy_configs/production.json?version=latest&host=s7.example.com",
    )
    .json();
    assert_eq!(by_host["proxy_configs"].as_array().unwrap().len(), 1);
    assert!(by_host.get("metadata").is_none());
    let services = get(&system, "/admin/api/services.json?per_page=2&page=2").json();
    assert_eq!(services["services"][0]["service"]["id"], 3);

    // A server that ignores `page` returns page 1 again: a client stopping on a short page
    // would loop at exactly 500.
    system.set_faults(Faults {
        ignore_page: true,
        ..Faults::default()
    });
    let again = parse_answer(
        get(&system, &account_page_path(PRODUCTION, 2))
            .body
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(again.services[0].id.as_deref(), Some("1"));
}

#[test]
fn a_change_between_two_page_requests_moves_an_entry_onto_the_page_read() {
    let system = MockSystem::start(TOKEN).unwrap();
    for id in 1..=501 {
        system
            .publish(
                Stored::Production,
                fixtures::minimal(id, &format!("s{id}.example.com"), vec![]),
            )
            .unwrap();
    }
    let ids = |page: u32| -> Vec<String> {
        let body = get(&system, &account_page_path(PRODUCTION, page)).body;
        let fetched = parse_answer(body.as_bytes()).unwrap();
        fetched
            .services
            .into_iter()
            .map(|s| s.id.unwrap())
            .collect()
    };
    // Service 1 redeployed once page 1 is answered: its new row is last, 501 is on no page.
    let redeploy = json!({"publish": [fixtures::minimal(1, "moved.example.com", vec![])]});
    let set = control(
        &system,
        "POST",
        "/__control/between_pages",
        &redeploy.to_string(),
    );
    assert_eq!(set.status, 200, "{}", set.body);
    assert!(system.between_pages_pending());
    assert_eq!(ids(1).len(), 500);
    assert!(
        !system.between_pages_pending(),
        "made once page 1 was answered"
    );
    assert_eq!(ids(2), ["1"]);
    assert_eq!(ids(1).last().map(String::as_str), Some("501"));
    // A change waits for its page; a bad change is refused.
    system.between_pages(mock_system::BetweenPages {
        after_page: 2,
        delete: vec![5],
        ..Default::default()
    });
    assert_eq!(ids(1).len(), 500);
    assert!(system.between_pages_pending());
    let bad = control(
        &system,
        "POST",
        "/__control/between_pages",
        r#"{"delete": ["5"]}"#,
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
}

#[test]
fn a_deleted_service_disappears() {
    let system = MockSystem::start(TOKEN).unwrap();
    publish(&system, 1, "a.example.com");
    publish(&system, 2, "b.example.com");
    let deleted = control(&system, "DELETE", "/__control/services/1", "");
    assert_eq!(deleted.status, 200);
    assert_eq!(
        control(&system, "DELETE", "/__control/services/1", "").status,
        404
    );
    let page = parse_answer(
        get(&system, &account_page_path(PRODUCTION, 1))
            .body
            .as_bytes(),
    )
    .unwrap();
    let ids: Vec<_> = page
        .services
        .iter()
        .map(|s| s.id.clone().unwrap())
        .collect();
    assert_eq!(ids, ["2"]);
    assert_eq!(
        get(&system, &service_config_path("1", PRODUCTION, None)).status,
        404
    );
    let state = control(&system, "GET", "/__control/state", "").json();
    assert_eq!(state, json!({"2": {"sandbox": [], "production": [1]}}));
}

#[test]
fn unknown_paths_are_404_and_other_formats_406() {
    let system = MockSystem::start(TOKEN).unwrap();
    publish(&system, 1, "a.example.com");
    for path in [
        "/admin/api/nginx/spec.json",
        "/",
        "/admin/api/account/proxy_configs.json",
        "/admin/api/services/1/proxy/configs/production/latest/x.json",
        "/admin/api/services/abc/proxy/configs/production/latest.json",
        "/__control/nothing",
    ] {
        assert_eq!(get(&system, path).status, 404, "{path}");
    }
    assert_eq!(
        get(
            &system,
            "/admin/api/services/1/proxy/configs/production/latest.xml"
        )
        .status,
        406
    );
}

#[test]
fn failures_by_status_body_path_count_and_delay() {
    let system = MockSystem::start(TOKEN).unwrap();
    publish(&system, 1, "a.example.com");
    let page = account_page_path(PRODUCTION, 1);

    let set = control(
        &system,
        "POST",
        "/__control/fail",
        r#"{"mode": "status", "status": 500, "count": 1}"#,
    );
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(get(&system, &page).status, 500);
    assert_eq!(get(&system, &page).status, 200, "count 1: normal again");

    control(&system, "POST", "/__control/fail", r#"{"mode": "garbage"}"#);
    let garbage = get(&system, &page);
    assert_eq!(garbage.status, 200);
    assert!(parse_answer(garbage.body.as_bytes())
        .unwrap_err()
        .message
        .starts_with("invalid JSON"));

    control(&system, "POST", "/__control/fail", r#"{"mode": "empty"}"#);
    let empty = parse_answer(get(&system, &page).body.as_bytes()).unwrap_err();
    assert_eq!(empty.to_string(), "proxy_configs: missing required field");

    control(
        &system,
        "POST",
        "/__control/fail",
        r#"{"mode": "truncated"}"#,
    );
    assert!(parse_answer(get(&system, &page).body.as_bytes()).is_err());

    // Only the per-service path fails.
    control(
        &system,
        "POST",
        "/__control/fail",
        r#"{"mode": "status", "status": 403, "path": "/admin/api/services/"}"#,
    );
    assert_eq!(get(&system, &page).status, 200);
    let denied = get(&system, &service_config_path("1", PRODUCTION, None));
    assert_eq!(
        (denied.status, denied.body.as_str()),
        (403, r#"{"error":"Access denied"}"#)
    );

    control(&system, "POST", "/__control/fail", r#"{"mode": "reset"}"#);
    assert!(send(
        system.port(),
        "GET",
        &page,
        Some(&basic_authorization(TOKEN)),
        ""
    )
    .is_err());

    control(&system, "POST", "/__control/fail", r#"{"delay_ms": 300}"#);
    let started = Instant::now();
    assert_eq!(get(&system, &page).status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    // The control API is never delayed or failed.
    let started = Instant::now();
    control(&system, "GET", "/__control/state", "");
    assert!(started.elapsed() < Duration::from_millis(300));

    assert_eq!(
        control(&system, "POST", "/__control/fail", r#"{"mode": "explode"}"#).status,
        400
    );
    control(&system, "POST", "/__control/fail", "{}");
    assert_eq!(get(&system, &page).status, 200);

    system.fail(Failure::Status(502));
    assert_eq!(get(&system, &page).status, 502);
    let log = system.requests();
    assert_eq!(
        log.iter().filter(|r| r.status.is_none()).count(),
        1,
        "the reset request"
    );
    assert_eq!(system.count("/admin/api/account/"), log.len() - 1);
}

#[test]
fn publish_and_reset_through_the_control_api() {
    let system = MockSystem::start(TOKEN).unwrap();
    let content = fixtures::minimal(9, "a.example.com", vec![]);
    let both = control(
        &system,
        "POST",
        "/__control/publish?environment=both",
        &content.to_string(),
    )
    .json();
    assert_eq!(both["published"].as_array().unwrap().len(), 2);
    assert_eq!(
        both["published"][1],
        json!({"id": 9, "version": 1, "environment": "production", "created": true})
    );
    let bad = control(
        &system,
        "POST",
        "/__control/publish",
        r#"{"name": "no id"}"#,
    );
    assert_eq!(bad.status, 400);
    assert_eq!(
        get(
            &system,
            &service_config_path("9", Environment::Sandbox, None)
        )
        .status,
        200
    );
    control(&system, "POST", "/__control/reset", "");
    assert_eq!(
        get(&system, &service_config_path("9", PRODUCTION, None)).status,
        404
    );
    assert_eq!(system.requests().len(), 1, "reset cleared the log");
    control(&system, "DELETE", "/__control/requests", "");
    assert!(system.requests().is_empty());
}

//! `tollgate pull`, `diff` and `check` against the mock 3scale System (in-process), through
//! the built binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mock_system::{fixtures, Credential, Failure, Faults, MockSystem, Stored};
use serde_json::{json, Value};

const TOKEN: &str = "pull-token-5f2b9c";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn tollgate(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let run = Run {
        code: output.status.code().unwrap(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    };
    assert!(
        !run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN),
        "the token was printed"
    );
    run
}

/// A fresh directory under the target directory.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("tollgate-pull")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn token_file(dir: &Path, token: &str) -> String {
    let path = dir.join("token");
    std::fs::write(&path, format!("{token}\n")).unwrap();
    path.to_str().unwrap().to_string()
}

fn service(id: u64, host: &str, rules: Vec<Value>) -> Value {
    fixtures::full(id, host, rules)
}

fn pull(system: &MockSystem, dir: &Path, extra: &[&str]) -> Run {
    let token = token_file(dir, TOKEN);
    let out = dir.join("out");
    let url = system.url();
    let mut args = vec![
        "pull",
        "--portal",
        &url,
        "--token-file",
        &token,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    tollgate(&args)
}

fn files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for service in std::fs::read_dir(dir.join("out")).unwrap() {
        let service = service.unwrap();
        for file in std::fs::read_dir(service.path()).unwrap() {
            found.push(format!(
                "{}/{}",
                service.file_name().to_str().unwrap(),
                file.unwrap().file_name().to_str().unwrap()
            ));
        }
    }
    found.sort();
    found
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn pull_writes_the_latest_of_every_service_with_the_filters_requests() {
    let system = MockSystem::start(TOKEN).unwrap();
    let rules = vec![fixtures::rule("GET", "/", "hits", 1)];
    system
        .publish(
            Stored::Production,
            service(1, "a.example.com", rules.clone()),
        )
        .unwrap();
    system
        .publish(
            Stored::Production,
            service(2, "b.example.com", rules.clone()),
        )
        .unwrap();
    system
        .publish(Stored::Production, service(2, "b2.example.com", rules))
        .unwrap();
    system
        .publish(Stored::Sandbox, service(3, "c.example.com", vec![]))
        .unwrap();
    let dir = scratch("latest");
    let run = pull(&system, &dir, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        files(&dir),
        ["1/1.json", "2/2.json"],
        "service 3 has no production configuration"
    );
    assert!(
        run.stdout
            .contains("2/2.json: service 2 (service-2) production version 2"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.ends_with(&format!(
        "pulled 2 configuration(s) into {}\n",
        dir.join("out").display()
    )));

    let saved = read(&dir.join("out/2/2.json"));
    assert_eq!(saved["proxy_config"]["version"], 2);
    assert_eq!(saved["proxy_config"]["environment"], "production");
    assert_eq!(
        saved["proxy_config"]["content"]["proxy"]["hosts"],
        json!(["b2.example.com"])
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("out/2/2.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the content holds the service token");
    }

    let requests = system.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.path, "/admin/api/account/proxy_configs/production.json");
    assert_eq!(r.query, "version=latest&page=1&per_page=500");
    assert_eq!(r.credential, Credential::Basic);
    assert_eq!(
        r.authorization.as_deref(),
        Some("Basic cHVsbC10b2tlbi01ZjJiOWM6")
    );
    assert!(!r.query.contains(TOKEN));
    assert!(r
        .user_agent
        .as_deref()
        .unwrap_or("")
        .starts_with("tollgate/"));

    // `check` accepts what `pull` wrote.
    let checked = tollgate(&["check", dir.join("out/2/2.json").to_str().unwrap()]);
    assert_eq!(checked.code, 0, "{}", checked.stderr);
    assert_eq!(
        checked.stdout,
        "ok: 1 service(s)\n  service 2 (service-2): production version 2\n"
    );
}

#[test]
fn pull_pages_through_501_services() {
    let system = MockSystem::start(TOKEN).unwrap();
    for id in 1..=501u64 {
        system
            .publish(
                Stored::Production,
                fixtures::minimal(id, &format!("s{id}.example.com"), vec![]),
            )
            .unwrap();
    }
    let dir = scratch("paging");
    let run = pull(&system, &dir, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(files(&dir).len(), 501);
    let queries: Vec<String> = system.requests().iter().map(|r| r.query.clone()).collect();
    assert_eq!(
        queries,
        [
            "version=latest&page=1&per_page=500",
            "version=latest&page=2&per_page=500"
        ]
    );
}

#[test]
fn a_portal_that_ignores_page_is_detected_not_looped_on() {
    let system = MockSystem::start(TOKEN).unwrap();
    for id in 1..=500u64 {
        system
            .publish(
                Stored::Production,
                fixtures::minimal(id, "a.example.com", vec![]),
            )
            .unwrap();
    }
    system.set_faults(Faults {
        ignore_page: true,
        ..Faults::default()
    });
    let dir = scratch("ignore-page");
    let run = pull(&system, &dir, &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("the portal answered the previous page again"),
        "{}",
        run.stderr
    );
    assert_eq!(system.requests().len(), 2);
}

#[test]
fn pull_selected_services_and_every_version() {
    let system = MockSystem::start(TOKEN).unwrap();
    system
        .publish(Stored::Production, service(1, "a.example.com", vec![]))
        .unwrap();
    system
        .publish(Stored::Production, service(2, "b.example.com", vec![]))
        .unwrap();
    system
        .publish(Stored::Production, service(2, "b2.example.com", vec![]))
        .unwrap();
    system
        .publish(Stored::Production, service(2, "b3.example.com", vec![]))
        .unwrap();

    let dir = scratch("selected");
    let run = pull(&system, &dir, &["--services", "2", "--all-versions"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(files(&dir), ["2/1.json", "2/2.json", "2/3.json"]);
    let paths: Vec<String> = system.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        ["/admin/api/services/2/proxy/configs/production.json"]
    );

    // Every version of every service: the account list for the ids, then each index.
    system.clear_requests();
    let dir = scratch("all-versions");
    let run = pull(&system, &dir, &["--all-versions"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        files(&dir),
        ["1/1.json", "2/1.json", "2/2.json", "2/3.json"]
    );
    assert_eq!(system.count("/admin/api/account/"), 1);
    assert_eq!(system.count("/admin/api/services/"), 2);

    // Latest of listed services; an unknown one is an error, the others are still written.
    system.clear_requests();
    let dir = scratch("some-missing");
    let run = pull(
        &system,
        &dir,
        &["--services", "1,9", "--environment", "production"],
    );
    assert_eq!(run.code, 1);
    assert_eq!(files(&dir), ["1/1.json"]);
    assert!(
        run.stderr.contains(r#"error: GET /admin/api/services/9/proxy/configs/production/latest.json: HTTP 404 {"status":"Not found"}"#),
        "{}",
        run.stderr
    );
    let paths: Vec<String> = system.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/admin/api/services/1/proxy/configs/production/latest.json",
            "/admin/api/services/9/proxy/configs/production/latest.json"
        ]
    );
}

#[test]
fn staging_is_sent_as_written_and_answered_as_sandbox() {
    let system = MockSystem::start(TOKEN).unwrap();
    system
        .publish(Stored::Sandbox, service(4, "a.example.com", vec![]))
        .unwrap();
    let dir = scratch("staging");
    let run = pull(&system, &dir, &["--environment", "staging"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        system.requests()[0].path,
        "/admin/api/account/proxy_configs/staging.json"
    );
    assert_eq!(
        read(&dir.join("out/4/1.json"))["proxy_config"]["environment"],
        "sandbox"
    );
}

#[test]
fn failures_are_reported_without_the_token() {
    let system = MockSystem::start(TOKEN).unwrap();
    system
        .publish(Stored::Production, service(1, "a.example.com", vec![]))
        .unwrap();
    let dir = scratch("failures");
    let token = token_file(&dir, "wrong-token");
    let url = system.url();
    let out = dir.join("out");
    let run = tollgate(&[
        "pull",
        "--portal",
        &url,
        "--token-file",
        &token,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(r#"HTTP 403 {"error":"Access denied"}"#),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("wrong-token"));
    assert!(!out.exists());

    system.fail(Failure::Garbage);
    let run = pull(&system, &dir, &[]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("/admin/api/account/proxy_configs/production.json?version=latest&page=1&per_page=500: invalid JSON"), "{}", run.stderr);
    system.fail(Failure::Empty);
    let run = pull(&system, &dir, &[]);
    assert!(
        run.stderr.contains("proxy_configs: missing required field"),
        "{}",
        run.stderr
    );
    system.fail(Failure::Status(500));
    let run = pull(&system, &dir, &[]);
    assert!(run.stderr.contains("HTTP 500"), "{}", run.stderr);

    // Nothing listening: a transport error, exit 1.
    let closed = format!("http://127.0.0.1:{}", mock_system_port_closed());
    let run = tollgate(&[
        "pull",
        "--portal",
        &closed,
        "--token-file",
        &token_file(&dir, TOKEN),
        "--out",
        "x",
    ]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.starts_with("error: GET /admin/api/account/"),
        "{}",
        run.stderr
    );
}

/// A port that was just free (the mock bound it, then stopped).
fn mock_system_port_closed() -> u16 {
    let system = MockSystem::start(TOKEN).unwrap();
    let port = system.port();
    drop(system);
    port
}

#[test]
fn bad_arguments() {
    let dir = scratch("arguments");
    let token = token_file(&dir, TOKEN);
    let run = tollgate(&[
        "pull",
        "--portal",
        &format!("https://{TOKEN}@acme-admin.3scale.net"),
        "--token-file",
        &token,
        "--out",
        "x",
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("must not carry credentials"));
    let run = tollgate(&[
        "pull",
        "--portal",
        "https://acme-admin.3scale.net",
        "--token-file",
        &token,
    ]);
    assert_eq!(
        (run.code, run.stderr.lines().next()),
        (2, Some("tollgate: missing --out"))
    );
    let run = tollgate(&[
        "pull",
        "--portal",
        "https://a",
        "--token-file",
        &token,
        "--out",
        "x",
        "--environment",
        "prod",
    ]);
    assert_eq!(run.code, 2);
    let run = tollgate(&[
        "pull",
        "--portal",
        "https://a",
        "--token-file",
        &token,
        "--out",
        "x",
        "--services",
        "1,a",
    ]);
    assert_eq!(run.code, 2);
    let empty = dir.join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let run = tollgate(&[
        "pull",
        "--portal",
        "https://a",
        "--token-file",
        empty.to_str().unwrap(),
        "--out",
        "x",
    ]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (1, "error: the token file is empty\n")
    );
}

#[test]
fn diff_of_two_pulled_versions() {
    let system = MockSystem::start(TOKEN).unwrap();
    let v1 = service(
        42,
        "api.example.com",
        vec![
            fixtures::rule("GET", "/", "hits", 1),
            fixtures::rule("GET", "/old", "hits", 1),
        ],
    );
    let mut v2 = service(
        42,
        "api.example.com",
        vec![
            fixtures::rule("GET", "/", "hits", 1),
            fixtures::rule("POST", "/orders/{id}", "orders", 2),
        ],
    );
    v2["proxy"]["error_status_auth_failed"] = json!(401);
    v2["backend_authentication_value"] = json!("rotated-service-token");
    system.publish(Stored::Production, v1).unwrap();
    system.publish(Stored::Production, v2).unwrap();
    let dir = scratch("diff");
    assert_eq!(pull(&system, &dir, &["--all-versions"]).code, 0);
    let (a, b) = (dir.join("out/42/1.json"), dir.join("out/42/2.json"));
    let run = tollgate(&["diff", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let expected = format!(
        "--- {}: service 42 (service-42), production version 1\n\
         +++ {}: service 42 (service-42), production version 2\n\
         mapping rules:\n  - GET /old -> hits +1\n  + POST /orders/{{id}} -> orders +2\n\
         fields:\n  ~ backend_authentication_value: (secret changed)\n  ~ proxy.error_status_auth_failed: 403 -> 401\n",
        a.display(),
        b.display()
    );
    assert_eq!(run.stdout, expected);
    assert!(!run.stdout.contains("service-token"));
    let same = tollgate(&["diff", a.to_str().unwrap(), a.to_str().unwrap()]);
    assert!(same.stdout.ends_with("no differences\n"), "{}", same.stdout);
    let usage = tollgate(&["diff", a.to_str().unwrap()]);
    assert_eq!(usage.code, 2);
}

#[test]
fn check_reads_pages_and_names_the_path_of_a_bad_service() {
    let good = service(
        1,
        "a.example.com",
        vec![fixtures::rule("GET", "/", "hits", 1)],
    );
    let mut bad = service(
        2,
        "b.example.com",
        vec![fixtures::rule("GET", "/", "hits", 1)],
    );
    bad["proxy"]["proxy_rules"][0]["delta"] = json!("one");
    let entry = |content: &Value, version: u64| json!({"proxy_config": {"id": version, "version": version, "environment": "production", "content": content}});
    let dir = scratch("check");
    let page = dir.join("page.json");
    std::fs::write(
        &page,
        json!({"proxy_configs": [entry(&good, 3), entry(&bad, 4)]}).to_string(),
    )
    .unwrap();
    let run = tollgate(&["check", page.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "error: proxy_configs[1].proxy_config.content.proxy.proxy_rules[0].delta: expected an integer\n\
         error: 1 of 2 service(s) would be skipped\n"
    );
    let fine = dir.join("fine.json");
    std::fs::write(
        &fine,
        json!({"proxy_configs": [entry(&good, 3)]}).to_string(),
    )
    .unwrap();
    let run = tollgate(&["check", fine.to_str().unwrap()]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (
            0,
            "ok: 1 service(s)\n  service 1 (service-1): production version 3\n"
        )
    );
    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, r#"{"proxy_configs": 3}"#).unwrap();
    let run = tollgate(&["check", garbage.to_str().unwrap()]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (1, "error: proxy_configs: expected an array\n")
    );

    // A filter configuration with a system block and no static services.
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        json!({"backend": {"cluster": "threescale_backend"},
               "system": {"cluster": "threescale_system", "access_token": "t", "refresh_s": 60}})
        .to_string(),
    )
    .unwrap();
    let run = tollgate(&["check", config.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "ok: 0 service(s), and the production services of 3scale System (cluster threescale_system, every 60 s)\n"
    );
}

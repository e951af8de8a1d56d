//! What compiling a large 3scale System answer costs, natively: 500 porta-shaped services
//! (every column porta writes, nulls included), 20 mapping rules and four policies each,
//! 5.7 MB of JSON. Each line is the median (min–max) of `--runs` runs (default 15).
//!
//! `cargo bench -p tollgate-core --bench system_compile [-- --services N --rules N --runs N]`;
//! `-- --write-answer FILE` writes the account page (`tollgate check FILE`), and
//! `-- --write-services FILE` the contents (`mock-3scale-system --publish FILE`), then exits;
//! `-- --only TEXT` times only the lines naming TEXT.
//!
//! Only the public API is used, so the same file times any version of the core.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tollgate_core::config::system::parse_answer;
use tollgate_core::config::Config;
use tollgate_core::system::published;

/// The `proxy` columns porta writes that Tollgate does not read, all null or constant here.
const PROXY_NULLS: [&str; 6] = [
    "oauth_login_url",
    "api_test_success",
    "deployed_at",
    "jwt_claim_with_client_id",
    "jwt_claim_with_client_id_type",
    "oidc_issuer_endpoint",
];

/// A service's columns porta writes that Tollgate does not read, null here.
const SERVICE_NULLS: [&str; 11] = [
    "description",
    "txt_support",
    "logo_file_name",
    "logo_content_type",
    "logo_file_size",
    "terms",
    "notification_settings",
    "default_service_plan_id",
    "support_email",
    "kubernetes_service_link",
    "buyer_plan_change_permission",
];

fn rule(service: usize, proxy_id: u64, j: usize) -> Value {
    let methods = ["GET", "POST", "PUT", "DELETE"];
    let (pattern, parameters, query) = match j % 4 {
        0 => (format!("/v1/resource{j}$"), json!([]), json!({})),
        1 => (
            format!("/v1/resource{j}/{{id}}/items"),
            json!(["id"]),
            json!({}),
        ),
        2 => (
            format!("/v1/resource{j}/{{id}}?fields={{fields}}"),
            json!(["id", "fields"]),
            json!({"fields": "{fields}"}),
        ),
        _ => (
            format!("/v2/accounts/{{account}}/resource{j}.json"),
            json!(["account"]),
            json!({}),
        ),
    };
    let id = 375_000 + (service * 100 + j) as u64;
    json!({
        "id": id, "proxy_id": proxy_id, "http_method": methods[j % 4], "pattern": pattern,
        "metric_id": 2_555_418_000_000u64 + id, "metric_system_name": format!("metric_{}", j % 5),
        "delta": 1 + (j % 3), "tenant_id": 2_445_582_571_513u64,
        "created_at": "2024-03-19T09:01:01Z", "updated_at": "2024-03-19T09:04:29Z",
        "redirect_url": null, "position": j + 1, "last": j == 19, "owner_id": proxy_id,
        "owner_type": "Proxy", "parameters": parameters, "querystring_parameters": query
    })
}

fn policy_chain(i: usize) -> Value {
    json!([
        {"name": "ip_check", "version": "builtin", "enabled": true, "configuration": {
            "check_type": "blacklist", "ips": ["203.0.113.0/24", format!("198.51.100.{}", i % 250)],
            "client_ip_sources": ["last_caller"], "error_msg": "IP address not allowed"}},
        {"name": "headers", "version": "builtin", "enabled": true, "configuration": {
            "request": [{"op": "set", "header": "X-Gateway", "value": "envoy", "value_type": "plain"}],
            "response": [{"op": "add", "header": "X-Service", "value": format!("api-{i}"), "value_type": "plain"}]}},
        {"name": "cors", "version": "builtin", "enabled": true, "configuration": {
            "allow_origin": "https://portal.example.com", "allow_methods": ["GET", "POST"],
            "allow_credentials": true}},
        {"name": "apicast", "version": "builtin", "enabled": true, "configuration": {}}
    ])
}

/// One service as porta's `ApicastV2DeploymentService` writes it (reference §2.3).
fn service(i: usize, rules: usize) -> Value {
    let id = 2_555_417_777_000u64 + i as u64;
    let proxy_id = 124_000 + i as u64;
    let tenant = 2_445_582_571_513u64;
    let (host, staging) = (
        format!("api-{i}.example.com"),
        format!("api-{i}-staging.example.com"),
    );
    let mut proxy = json!({
        "id": proxy_id, "tenant_id": tenant, "service_id": id,
        "endpoint": format!("https://{host}:443"), "sandbox_endpoint": format!("https://{staging}:443"),
        "api_backend": format!("https://backend-{i}.internal.example.com:443"),
        "hosts": [host, staging],
        "backend": {"endpoint": "https://su1.3scale.net", "host": "su1.3scale.net"},
        "authentication_method": "1", "service_backend_version": "1", "oidc_issuer_type": "keycloak",
        "credentials_location": "headers", "auth_app_id": "app_id", "auth_app_key": "app_key",
        "auth_user_key": "user_key",
        "secret_token": format!("Shared_secret_sent_from_proxy_to_API_backend_{i:08x}"),
        "hostname_rewrite": "", "hostname_rewrite_for_sandbox": format!("backend-{i}.internal.example.com"),
        "error_auth_failed": "Authentication failed", "error_status_auth_failed": 403,
        "error_headers_auth_failed": "text/plain; charset=us-ascii",
        "error_auth_missing": "Authentication parameters missing", "error_status_auth_missing": 403,
        "error_headers_auth_missing": "text/plain; charset=us-ascii",
        "error_no_match": "No Mapping Rule matched", "error_status_no_match": 404,
        "error_headers_no_match": "text/plain; charset=us-ascii",
        "error_limits_exceeded": "Usage limit exceeded", "error_status_limits_exceeded": 429,
        "error_headers_limits_exceeded": "text/plain; charset=us-ascii",
        "api_test_path": "/", "apicast_configuration_driven": true, "lock_version": 7,
        "endpoint_port": 443, "valid?": true,
        "staging_domain": staging, "production_domain": host,
        "created_at": "2024-03-19T09:01:01Z", "updated_at": "2024-03-19T09:04:29Z",
        "policy_chain": policy_chain(i),
        "proxy_rules": (0..rules).map(|j| rule(i, proxy_id, j)).collect::<Vec<_>>(),
    });
    let mut content = json!({
        "id": id, "account_id": tenant, "tenant_id": tenant, "name": format!("api-{i}"),
        "system_name": format!("api_{i}"), "state": "incomplete", "backend_version": "1",
        "deployment_option": "self_managed", "mandatory_app_key": true,
        "intentions_required": false, "buyers_manage_apps": true, "buyers_manage_keys": true,
        "custom_keys_enabled": true, "buyer_can_select_plan": false,
        "default_application_plan_id": null, "buyer_key_regenerate_enabled": true,
        "referrer_filters_required": false, "proxiable?": true,
        "created_at": "2024-03-19T09:01:01Z", "updated_at": "2024-03-19T09:04:29Z",
        "backend_authentication_type": "service_token",
        "backend_authentication_value": format!("{:064x}", u128::from(id as u32) * 0x9e37_79b9),
    });
    if let (Some(p), Some(c)) = (proxy.as_object_mut(), content.as_object_mut()) {
        p.extend(PROXY_NULLS.iter().map(|k| (k.to_string(), Value::Null)));
        c.extend(SERVICE_NULLS.iter().map(|k| (k.to_string(), Value::Null)));
    }
    content["proxy"] = proxy;
    content
}

fn contents(services: usize, rules: usize) -> Vec<Value> {
    (0..services).map(|i| service(i, rules)).collect()
}

fn answer(contents: &[Value]) -> Vec<u8> {
    let entries: Vec<Value> = (contents.iter().enumerate())
        .map(|(i, c)| {
            json!({"proxy_config": {"id": 900_000 + i, "version": 3, "environment": "production",
                "content": c}})
        })
        .collect();
    serde_json::to_vec(&json!({"proxy_configs": entries})).unwrap_or_default()
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1).cloned()
}

fn number(name: &str, default: usize) -> usize {
    arg(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Median, min and max of `runs` timings of `f`.
fn time(runs: usize, mut f: impl FnMut()) -> (Duration, Duration, Duration) {
    let mut samples: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    samples.sort();
    (
        samples[samples.len() / 2],
        samples[0],
        samples[samples.len() - 1],
    )
}

/// Times `f` and prints one line, unless `--only TEXT` leaves `name` out (for a profile).
fn line(name: &str, runs: usize, f: impl FnMut()) {
    if arg("--only").is_some_and(|only| !name.contains(&only)) {
        return;
    }
    let (median, min, max) = time(runs, f);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name:<58} {:>8.2} ms ({:.2}–{:.2})",
        ms(median),
        ms(min),
        ms(max)
    );
}

fn main() -> Result<(), String> {
    let (services, rules) = (number("--services", 500), number("--rules", 20));
    let runs = number("--runs", 15);
    let contents = contents(services, rules);
    if let Some(path) = arg("--write-services") {
        let json = serde_json::to_vec(&contents).unwrap_or_default();
        return std::fs::write(&path, json).map_err(|e| format!("{path}: {e}"));
    }
    let answer = answer(&contents);
    if let Some(path) = arg("--write-answer") {
        return std::fs::write(&path, &answer).map_err(|e| format!("{path}: {e}"));
    }
    let settings = Config::parse(
        br#"{"backend": {"cluster": "threescale_backend"},
            "system": {"cluster": "threescale_system", "access_token": "-"}}"#,
    )
    .map_err(|e| format!("settings: {e}"))?
    .config;
    let fetched = parse_answer(&answer).map_err(|e| format!("answer: {e}"))?;
    assert!(fetched.errors.is_empty(), "{:?}", fetched.errors.first());
    let (config, warnings) = settings.with_fetched(&fetched.services);
    assert_eq!(config.host_count(), 2 * services, "{warnings:?}");
    let encoded = published::encode(&fetched.services);
    println!(
        "{services} services x {rules} rules: answer {} bytes, published {} bytes",
        answer.len(),
        encoded.len()
    );
    line("parse the answer (fetching worker)", runs, || {
        black_box(parse_answer(black_box(&answer)).ok());
    });
    line("check each service (fetching worker)", runs, || {
        for s in &fetched.services {
            black_box(settings.check_fetched(s).ok());
        }
    });
    line("decode the published set (every worker)", runs, || {
        black_box(published::decode(black_box(&encoded)));
    });
    line("compile and install the set (every worker)", runs, || {
        black_box(settings.with_fetched(black_box(&fetched.services)));
    });
    line(
        "a worker's whole cost: decode + compile and install",
        runs,
        || {
            let decoded = published::decode(black_box(&encoded)).unwrap_or_default();
            black_box(settings.with_fetched(&decoded));
        },
    );
    Ok(())
}

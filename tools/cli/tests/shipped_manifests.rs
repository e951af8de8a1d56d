//! The Kubernetes examples Tollgate ships (`envoy/istio-wasmplugin.yaml`,
//! `envoy/istio-jwt-authn.yaml`, `envoy/envoy-gateway.yaml`, `envoy/envoy-gateway-http.yaml`):
//! the filter configuration inside each (a `WasmPlugin`'s `pluginConfig`, an
//! `EnvoyExtensionPolicy`'s wasm `config`), turned into the JSON Istio and Envoy Gateway hand
//! the filter, is parsed by the filter's own parser and by `tollgate check`, and says what the
//! file means; the fields around it that keep the filter closed are checked too. Nothing read
//! these files before (found by an audit, 2026-12-07): a misspelt field would have shipped,
//! and the filter would have refused the configuration in every sidecar.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use common::tollgate;
use serde_json::Value;
use tollgate_core::auth::Mode;
use tollgate_core::config::{AuthMode, Config, CredentialsLocation, Parsed, Service};
use tollgate_core::mapping::rule::MethodMatch;

/// The image digest placeholder `scripts/release.sh` fills in (README "Install in Istio").
const DIGEST_PLACEHOLDER: &str = "${TOLLGATE_IMAGE_DIGEST}";

/// Every document of `envoy/<name>`, as JSON values.
fn documents(name: &str) -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../envoy")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    // The files separate documents with a line `---` alone.
    text.split("\n---\n")
        .map(|doc| serde_yaml::from_str(doc).unwrap_or_else(|e| panic!("{name}: {e}")))
        .collect()
}

/// The one document of `kind` named `name`.
fn resource<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "one {kind} {name}");
    found[0]
}

/// The configuration as the filter receives it: parsed by the core, then by `tollgate check`
/// (what README tells users to run), both accepting it without a warning.
fn parse(what: &str, config: &Value) -> Parsed {
    assert!(config.is_object(), "{what}: no configuration object");
    let json = config.to_string();
    let parsed = Config::parse(json.as_bytes()).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(parsed.warnings, Vec::<String>::new(), "{what}");
    let run = tollgate(&["check", "-"], &json);
    assert_eq!(run.code, 0, "{what}: {}", run.stderr);
    assert_eq!(run.stderr, "", "{what}");
    parsed
}

fn only_service(parsed: &Parsed) -> &Service {
    assert_eq!(parsed.config.services.len(), 1);
    &parsed.config.services[0]
}

/// Each rule as `METHOD pattern`.
fn rules(service: &Service) -> Vec<String> {
    service
        .rules
        .iter()
        .map(|r| match &r.method {
            MethodMatch::Any => format!("ANY {}", r.raw_pattern),
            MethodMatch::Exact(m) => format!("{m} {}", r.raw_pattern),
        })
        .collect()
}

/// A WasmPlugin that runs on inbound traffic only, fails closed and reloads, at AUTHZ, from a
/// digest-pinned image.
fn assert_closed_wasmplugin(plugin: &Value) {
    let spec = &plugin["spec"];
    assert_eq!(spec["failStrategy"], "FAIL_RELOAD");
    assert_eq!(spec["match"], serde_json::json!([{"mode": "SERVER"}]));
    assert_eq!(spec["phase"], "AUTHZ");
    assert_eq!(spec["pluginName"], "tollgate");
    assert_eq!(spec["sha256"], DIGEST_PLACEHOLDER, "the image is pinned");
    assert!(spec["url"].as_str().unwrap().starts_with("oci://"));
}

/// `outbound|443||<host>` has its ServiceEntry and a DestinationRule originating TLS checked
/// against that host.
fn assert_tls_cluster(docs: &[Value], cluster: &str) {
    let host = cluster.strip_prefix("outbound|443||").expect(cluster);
    let entry = docs
        .iter()
        .find(|d| d["kind"] == "ServiceEntry" && d["spec"]["hosts"] == serde_json::json!([host]))
        .unwrap_or_else(|| panic!("no ServiceEntry for {host}"));
    assert_eq!(entry["spec"]["ports"][0]["number"], 443);
    let rule = docs
        .iter()
        .find(|d| d["kind"] == "DestinationRule" && d["spec"]["host"] == host)
        .unwrap_or_else(|| panic!("no DestinationRule for {host}"));
    let tls = &rule["spec"]["trafficPolicy"]["tls"];
    assert_eq!(tls["mode"], "SIMPLE");
    assert_eq!(tls["sni"], host);
    assert_eq!(tls["subjectAltNames"], serde_json::json!([host]));
}

#[test]
fn istio_wasmplugin_config_is_accepted_and_means_what_the_file_says() {
    let docs = documents("istio-wasmplugin.yaml");
    let plugin = resource(&docs, "WasmPlugin", "tollgate");
    assert_closed_wasmplugin(plugin);
    assert_eq!(
        plugin["spec"]["selector"]["matchLabels"]["app"],
        "productpage"
    );

    let parsed = parse("istio-wasmplugin.yaml", &plugin["spec"]["pluginConfig"]);
    let config = &parsed.config;
    assert!(!config.read_request_bodies, "Istio cannot deliver bodies");
    assert_eq!(config.backend.cluster, "outbound|443||su1.3scale.net");
    assert_eq!(config.backend.authority, "su1.3scale.net");
    assert!(config.backend.batching.is_some());
    assert_tls_cluster(&docs, &config.backend.cluster);
    let system = config.system.as_ref().expect("system");
    assert_eq!(system.cluster, "outbound|443||acme-admin.3scale.net");
    assert_eq!(system.authority, "acme-admin.3scale.net");
    assert_eq!(system.refresh_s, 300);
    assert_tls_cluster(&docs, &system.cluster);

    let service = only_service(&parsed);
    assert_eq!(service.id, "2555417777777");
    assert_eq!(service.mode, AuthMode::UserKey);
    assert_eq!(service.auth.mode, Mode::ThreeScale);
    assert_eq!(service.location, CredentialsLocation::Headers);
    assert_eq!(service.names.user_key, "x-api-key");
    assert_eq!(
        service.backend_auth.as_ref().map(|a| a.param),
        Some("service_token")
    );
    assert!(service.secret_token.is_some());
    assert_eq!(
        service.hosts,
        ["productpage.bookinfo.svc.cluster.local", "productpage"]
    );
    assert_eq!(rules(service), ["GET /"]);
}

#[cfg(feature = "jwt")]
#[test]
fn istio_jwt_authn_config_is_accepted_and_trusts_the_sidecars_jwt_authn() {
    let docs = documents("istio-jwt-authn.yaml");
    let plugin = resource(&docs, "WasmPlugin", "tollgate-orders");
    assert_closed_wasmplugin(plugin);
    let authn = resource(&docs, "RequestAuthentication", "orders-jwt");
    assert_eq!(
        plugin["spec"]["selector"], authn["spec"]["selector"],
        "the plugin runs where jwt_authn runs"
    );

    let parsed = parse("istio-jwt-authn.yaml", &plugin["spec"]["pluginConfig"]);
    assert!(!parsed.config.read_request_bodies);
    let service = only_service(&parsed);
    assert_eq!(service.id, "2555417777778");
    assert!(service.oidc);
    let jwt = service.auth.jwt.as_ref().expect("authentication.jwt");
    let from = jwt.from_jwt_authn.as_ref().expect("from_jwt_authn");
    assert_eq!(from.metadata_key, "payload", "Istio 1.21 and later");
    assert_eq!(
        jwt.rules.issuer.as_deref(),
        authn["spec"]["jwtRules"][0]["issuer"].as_str(),
        "the issuer RequestAuthentication verifies"
    );
    assert_eq!(jwt.roles_claim, "realm_access.roles");
    assert_eq!(rules(service), ["GET /", "DELETE /orders"]);
    assert!(service.rule_access[0].roles.is_empty());
    assert_eq!(service.rule_access[1].roles, ["admin"]);
}

/// The EnvoyExtensionPolicy of an Envoy Gateway example: its configuration, parsed.
fn envoy_gateway(name: &str, policy: &str, code_type: &str) -> Parsed {
    let docs = documents(name);
    let policy = resource(&docs, "EnvoyExtensionPolicy", policy);
    let wasm = &policy["spec"]["wasm"];
    assert_eq!(wasm.as_array().map(Vec::len), Some(1), "{name}");
    let wasm = &wasm[0];
    assert_eq!(wasm["failOpen"], false, "{name}: never fail open");
    assert_eq!(wasm["rootID"], "tollgate", "{name}");
    assert_eq!(wasm["code"]["type"], code_type, "{name}");

    // Envoy Gateway rejects header names with underscores unless told otherwise.
    let headers = resource(&docs, "ClientTrafficPolicy", "tollgate-underscore-headers");
    assert_eq!(
        headers["spec"]["headers"]["withUnderscoresAction"], "Allow",
        "{name}"
    );
    assert_eq!(
        headers["spec"]["targetRefs"][0]["kind"], "Gateway",
        "{name}"
    );

    let parsed = parse(name, &wasm["config"]);
    assert!(!parsed.config.read_request_bodies, "{name}");
    let service = only_service(&parsed);
    assert_eq!(service.auth.mode, Mode::Local, "{name}");
    let keys = service.auth.api_keys.as_ref().expect("api_keys");
    assert_eq!(keys.header.as_deref(), Some("x-api-key"), "{name}");
    // The key README's check step sends.
    assert_eq!(
        keys.find("demo-key-CHANGE-ME").map(|k| k.id.as_str()),
        Some("demo"),
        "{name}"
    );
    assert_eq!(service.hosts, ["www.example.com"], "{name}");
    assert_eq!(rules(service), ["ANY /"], "{name}");
    parsed
}

#[test]
fn envoy_gateway_configs_are_accepted_and_mean_what_the_files_say() {
    let image = envoy_gateway("envoy-gateway.yaml", "tollgate", "Image");
    let docs = documents("envoy-gateway.yaml");
    let code = &resource(&docs, "EnvoyExtensionPolicy", "tollgate")["spec"]["wasm"][0]["code"];
    assert_eq!(code["image"]["sha256"], DIGEST_PLACEHOLDER, "pinned image");

    let http = envoy_gateway("envoy-gateway-http.yaml", "tollgate-http", "HTTP");
    let docs = documents("envoy-gateway-http.yaml");
    let code = &resource(&docs, "EnvoyExtensionPolicy", "tollgate-http")["spec"]["wasm"][0]["code"];
    assert_eq!(code["http"]["sha256"], "${TOLLGATE_WASM_SHA256}");

    // "The same EnvoyExtensionPolicy": the same backend for 3scale services.
    assert_eq!(image.config.backend.cluster, http.config.backend.cluster);
    assert_eq!(image.config.backend.authority, "su1.3scale.net");
}

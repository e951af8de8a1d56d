//! Service contents as porta writes them, for tests: [`full`] has every key porta writes
//! (reference §2.3, §2.4), with nulls where unset, so strict readers are exercised too;
//! [`minimal`] is the smallest content APIcast loads. Both are plain JSON to adjust in a test.

use serde_json::{json, Value};

/// A `proxy_rules[]` entry as porta writes it.
pub fn rule(method: &str, pattern: &str, metric: &str, delta: u64) -> Value {
    json!({
        "id": null, "proxy_id": null, "http_method": method, "pattern": pattern,
        "metric_id": null, "metric_system_name": metric, "delta": delta, "tenant_id": null,
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        "redirect_url": null, "position": 1, "last": false, "owner_id": null,
        "owner_type": "Proxy", "parameters": [], "querystring_parameters": {}
    })
}

/// The smallest content APIcast loads: user_key in the query, a service token, one host.
pub fn minimal(id: u64, host: &str, rules: Vec<Value>) -> Value {
    json!({
        "id": id, "backend_version": "1",
        "backend_authentication_type": "service_token",
        "backend_authentication_value": format!("service-token-{id}"),
        "proxy": {"hosts": [host], "api_backend": "http://upstream:80", "proxy_rules": rules}
    })
}

/// A complete content (user_key service, `apicast` in its policy chain, every proxy key).
pub fn full(id: u64, host: &str, rules: Vec<Value>) -> Value {
    let mut rules = rules;
    for (i, r) in rules.iter_mut().enumerate() {
        r["position"] = json!(i + 1);
    }
    let proxy = json!({
        "id": id + 1000, "tenant_id": 2445582571513u64, "service_id": id,
        "endpoint": format!("https://{host}:443"), "deployed_at": null,
        "auth_app_key": "app_key", "auth_app_id": "app_id", "auth_user_key": "user_key",
        "credentials_location": "query",
        "error_auth_failed": "Authentication failed", "error_auth_missing": "Authentication parameters missing",
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        "error_status_auth_failed": 403, "error_headers_auth_failed": "text/plain; charset=us-ascii",
        "error_status_auth_missing": 401, "error_headers_auth_missing": "text/plain; charset=us-ascii",
        "error_no_match": "No Mapping Rule matched", "error_status_no_match": 404,
        "error_headers_no_match": "text/plain; charset=us-ascii",
        "secret_token": format!("secret-token-{id}"), "hostname_rewrite": "",
        "oauth_login_url": null, "sandbox_endpoint": format!("https://{host}:443"),
        "api_test_path": "/", "api_test_success": null, "apicast_configuration_driven": true,
        "oidc_issuer_endpoint": null, "lock_version": 1, "authentication_method": "1",
        "oidc_issuer_type": null, "error_headers_limits_exceeded": "text/plain; charset=us-ascii",
        "error_status_limits_exceeded": 429, "error_limits_exceeded": "Usage limit exceeded",
        "staging_domain": null, "production_domain": null,
        "hostname_rewrite_for_sandbox": host, "endpoint_port": 443,
        "api_backend": "http://upstream:80", "valid?": true,
        "service_backend_version": "1", "hosts": [host],
        "backend": {"endpoint": "https://su1.3scale.net", "host": "su1.3scale.net"},
        "policy_chain": [{"name": "apicast", "version": "builtin", "configuration": {}}],
        "jwt_claim_with_client_id": null, "jwt_claim_with_client_id_type": null,
        "proxy_rules": rules
    });
    json!({
        "id": id, "account_id": 2445582571513u64, "tenant_id": 2445582571513u64,
        "name": format!("service-{id}"), "system_name": format!("service_{id}"),
        "description": null, "txt_support": null, "state": "incomplete",
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        "logo_file_name": null, "logo_content_type": null, "logo_file_size": null,
        "intentions_required": false, "terms": null, "buyers_manage_apps": true,
        "buyers_manage_keys": true, "custom_keys_enabled": true,
        "buyer_plan_change_permission": "request", "buyer_can_select_plan": false,
        "notification_settings": null, "default_application_plan_id": null,
        "default_service_plan_id": null, "backend_version": "1", "mandatory_app_key": true,
        "buyer_key_regenerate_enabled": true, "support_email": "admin@example.com",
        "referrer_filters_required": false, "deployment_option": "self_managed",
        "kubernetes_service_link": null, "proxiable?": true,
        "backend_authentication_type": "service_token",
        "backend_authentication_value": format!("service-token-{id}"),
        "proxy": proxy
    })
}

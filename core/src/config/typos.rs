//! Typos of the fields that decide what gets through. Service, `proxy` and rule objects ignore
//! the fields Tollgate does not read (porta writes dozens, reference §2.3), so a
//! `policy_chains`, a `Delta` or a `credential_location` was dropped with what it asked for:
//! the chain's `ip_check`, the rule's metric and its limits, the location (found by an audit,
//! 2026-12-06). A field that is not one of these but is one edit away from one (ignoring case,
//! `_` and `-`), or a `proxy` field written beside `proxy`, is refused. None of porta's own
//! fields is either (tested below), so no service 3scale System returns is skipped for it.

use super::json::{error, Obj, Result};

/// The service-level fields that change who gets through.
const SERVICE_FIELDS: [&str; 5] = [
    "proxy",
    "authentication",
    "backend_version",
    "backend_authentication_type",
    "backend_authentication_value",
];

/// The `proxy` fields that change who gets through, or where the call goes.
const PROXY_FIELDS: [&str; 14] = [
    "policy_chain",
    "proxy_rules",
    "hosts",
    "credentials_location",
    "auth_user_key",
    "auth_app_id",
    "auth_app_key",
    "api_backend",
    "secret_token",
    "hostname_rewrite",
    "authentication_method",
    "oidc_issuer_endpoint",
    "jwt_claim_with_client_id",
    "jwt_claim_with_client_id_type",
];

/// A mapping rule's fields (its access fields are checked in `auth::grants`).
const RULE_FIELDS: [&str; 6] = [
    "http_method",
    "pattern",
    "metric_system_name",
    "delta",
    "last",
    "querystring_parameters",
];

/// Refuses near misses in a service object and its `proxy`, and `proxy` fields written at the
/// service level (APIcast reads them only under `proxy`).
pub fn check_service(service: &Obj, proxy: &Obj) -> Result<()> {
    refuse(service, &SERVICE_FIELDS, &PROXY_FIELDS)?;
    refuse(proxy, &PROXY_FIELDS, &[])
}

/// Refuses near misses of a mapping rule's fields.
pub fn check_rule(rule: &Obj) -> Result<()> {
    refuse(rule, &RULE_FIELDS, &[])
}

/// Refuses a field near one of `fields`, or equal or near one of `elsewhere` (another
/// object's).
fn refuse(obj: &Obj, fields: &[&str], elsewhere: &[&str]) -> Result<()> {
    for key in obj.keys() {
        let (field, problem) = match elsewhere.iter().find(|f| key == **f || near(key, f)) {
            Some(f) => (f, "belongs in `proxy`, where it would be read"),
            None => match fields.iter().find(|f| near(key, f)) {
                Some(f) => (f, "would be ignored, with what it asks for"),
                None => continue,
            },
        };
        return Err(error(
            &obj.child_path(key),
            format!("unknown field (`{field}`?): it {problem}"),
        ));
    }
    Ok(())
}

/// `key` is not `field` but is it for case, `_` and `-`, or (for fields of 5 letters or more)
/// but for one letter added, removed or changed.
fn near(key: &str, field: &str) -> bool {
    let (a, b) = (letters(key), letters(field));
    let (la, lb) = (a.clone().count(), b.clone().count());
    if key == field || la == 0 {
        return false;
    }
    if a.clone().eq(b.clone()) {
        return true;
    }
    if lb < 5 || la.abs_diff(lb) > 1 {
        return false;
    }
    // One edit: what the two share at the start and at the end leaves one letter.
    let prefix = a.clone().zip(b.clone()).take_while(|(x, y)| x == y).count();
    let suffix = a.rev().zip(b.rev()).take_while(|(x, y)| x == y).count();
    prefix + suffix + 1 >= la.max(lb)
}

/// A field name's letters, lower-cased, without `_`, `-` and spaces.
fn letters(name: &str) -> impl DoubleEndedIterator<Item = u8> + Clone + '_ {
    (name.bytes())
        .filter(|b| !matches!(b, b'_' | b'-' | b' '))
        .map(|b| b.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map, Value};

    /// Porta's service, `proxy` and rule fields (reference §2.3, older versions' too).
    const PORTA_SERVICE: &str = "id account_id name description txt_support created_at updated_at logo_file_name logo_content_type logo_file_size state intentions_required terms buyers_manage_apps buyers_manage_keys custom_keys_enabled buyer_plan_change_permission buyer_can_select_plan notification_settings default_application_plan_id default_service_plan_id tenant_id system_name backend_version mandatory_app_key buyer_key_regenerate_enabled support_email referrer_filters_required deployment_option kubernetes_service_link proxiable? backend_authentication_type backend_authentication_value proxy txt_api oneline_description draft_name end_user_registration_required tech_support_email admin_support_email credit_card_support_email infobar display_provider_keys txt_features default_end_user_plan_id authentication";
    const PORTA_PROXY: &str = "id tenant_id service_id endpoint deployed_at auth_app_key auth_app_id auth_user_key credentials_location error_auth_failed error_auth_missing created_at updated_at error_status_auth_failed error_headers_auth_failed error_status_auth_missing error_headers_auth_missing error_no_match error_status_no_match error_headers_no_match secret_token hostname_rewrite oauth_login_url sandbox_endpoint api_test_path api_test_success apicast_configuration_driven oidc_issuer_endpoint lock_version authentication_method oidc_issuer_type error_headers_limits_exceeded error_status_limits_exceeded error_limits_exceeded staging_domain production_domain hostname_rewrite_for_sandbox endpoint_port api_backend valid? service_backend_version hosts backend policy_chain jwt_claim_with_client_id jwt_claim_with_client_id_type proxy_rules policies_config";
    const PORTA_RULE: &str = "id proxy_id http_method pattern metric_id metric_system_name delta tenant_id created_at updated_at redirect_url position last owner_id owner_type parameters querystring_parameters namespace action roles";

    fn object(keys: &[&str]) -> Value {
        Value::Object(
            keys.iter()
                .map(|k| (k.to_string(), json!(1)))
                .collect::<Map<_, _>>(),
        )
    }

    fn check(service: &[&str], proxy: &[&str], rule: &[&str]) -> Result<()> {
        let (s, p, r) = (object(service), object(proxy), object(rule));
        let (s, p) = (Obj::new("s", &s)?, Obj::new("s.proxy", &p)?);
        check_service(&s, &p)?;
        check_rule(&Obj::new("r", &r)?)
    }

    #[test]
    fn porta_fields_are_never_refused() {
        let words = |s: &'static str| s.split(' ').collect::<Vec<_>>();
        assert_eq!(
            check(
                &words(PORTA_SERVICE),
                &words(PORTA_PROXY),
                &words(PORTA_RULE)
            ),
            Ok(())
        );
    }

    #[test]
    fn near_misses_of_fields_that_block_traffic_are_refused() {
        for (service, proxy, rule, path, meant) in [
            (
                &[][..],
                &["policy_chains"][..],
                &[][..],
                "s.proxy.policy_chains",
                "policy_chain",
            ),
            (
                &[],
                &["policyChain"],
                &[],
                "s.proxy.policyChain",
                "policy_chain",
            ),
            (
                &[],
                &["Policy_chain"],
                &[],
                "s.proxy.Policy_chain",
                "policy_chain",
            ),
            (
                &[],
                &["credential_location"],
                &[],
                "s.proxy.credential_location",
                "credentials_location",
            ),
            (&[], &["host"], &[], "s.proxy.host", "hosts"),
            (
                &[],
                &["proxy_rule"],
                &[],
                "s.proxy.proxy_rule",
                "proxy_rules",
            ),
            (
                &[],
                &["secret-token"],
                &[],
                "s.proxy.secret-token",
                "secret_token",
            ),
            (
                &["policy_chain"],
                &[],
                &[],
                "s.policy_chain",
                "policy_chain",
            ),
            (&["proxy_rules"], &[], &[], "s.proxy_rules", "proxy_rules"),
            (
                &["policy_chains"],
                &[],
                &[],
                "s.policy_chains",
                "policy_chain",
            ),
            (
                &["Authentication"],
                &[],
                &[],
                "s.Authentication",
                "authentication",
            ),
            (
                &["backend-version"],
                &[],
                &[],
                "s.backend-version",
                "backend_version",
            ),
            (&[], &[], &["Delta"], "r.Delta", "delta"),
            (&[], &[], &["deltas"], "r.deltas", "delta"),
            (&[], &[], &["HTTP_method"], "r.HTTP_method", "http_method"),
            (
                &[],
                &[],
                &["querystring_parameter"],
                "r.querystring_parameter",
                "querystring_parameters",
            ),
            (&[], &[], &["Last"], "r.Last", "last"),
        ] {
            let refused = check(service, proxy, rule).unwrap_err();
            assert_eq!(refused.path, path);
            assert!(refused.message.contains(&format!("`{meant}`")), "{refused}");
        }
        // Far from every field read: ignored, as APIcast ignores it.
        assert_eq!(
            check(&["notes"], &["comment"], &["increment", "lst"]),
            Ok(())
        );
    }

    #[test]
    fn one_edit_means_one() {
        assert!(near("deltas", "delta"));
        assert!(!near("detla", "delta"));
        assert!(near("hostz", "hosts"));
        assert!(near("osts", "hosts"));
        assert!(!near("ost", "hosts"));
        assert!(!near("hosts", "hosts"));
        assert!(near("HOSTS", "hosts"));
        assert!(near("lasT", "last"));
        assert!(!near("lst", "last"));
        assert!(!near("_", "last"));
    }
}

//! Where a policy stands in the chain changes what it reads (reference §1.6: each phase runs
//! every policy in chain order).

use super::schema_tests::chain_of;
use serde_json::json;

/// A `routing` policy sending `X-Target: admin` to the admin upstream.
fn routing_to_admin() -> serde_json::Value {
    json!({"name": "routing", "configuration": {"rules": [
        {"url": "http://admin:80/admin", "condition": {"operations": [
            {"match": "header", "header_name": "X-Target", "op": "==", "value": "admin"}]}}]}})
}

/// A `jwt_claim_check` requiring the `admin` role on `/admin`.
fn admin_claim_check() -> serde_json::Value {
    json!({"name": "jwt_claim_check", "configuration": {"rules": [
        {"resource": "/admin", "operations": [
            {"jwt_claim": "role", "jwt_claim_type": "plain", "op": "==", "value": "admin"}]}]}})
}

/// `jwt_claim_check` after `routing`: APIcast checks the routed upstream's path, which the
/// filter does not know (Envoy's routes choose it): refused at the claim check. Before
/// `routing` (or without one) both read the client's path (found by an audit, 2026-12-06).
#[test]
fn a_claim_check_after_routing_is_refused() {
    let (routing, claims) = (routing_to_admin(), admin_claim_check());
    let parse = |chain: serde_json::Value| {
        let c = json!({"backend": {"cluster": "b"},
            "services": [{"id": 7, "backend_version": 1, "proxy": {"policy_chain": chain}}]});
        crate::config::Config::parse(c.to_string().as_bytes()).map(|_| ())
    };
    let apicast = json!({"name": "apicast"});
    for chain in [
        json!([routing, claims, apicast]),
        json!([routing, apicast, claims]),
        json!([apicast, routing, claims]),
    ] {
        let e = parse(chain.clone()).unwrap_err().to_string();
        assert!(
            e.starts_with("services[0].proxy.policy_chain[")
                && e.contains("jwt_claim_check after routing"),
            "{chain}: {e}"
        );
    }
    assert!(parse(json!([claims, routing, apicast])).is_ok());
    assert!(chain_of(claims).is_ok());
}

/// `tollgate check` marks every policy the chain's order refuses, not only the first: a
/// `jwt_claim_check` after `routing` and a second `apicast` in one chain, each at its index
/// (the fuzz target `policy_review` found both shown as accepted, 2026-12-07).
#[test]
fn the_review_marks_each_misplaced_policy() {
    let (routing, claims) = (routing_to_admin(), admin_claim_check());
    let apicast = json!({"name": "apicast"});
    let chain = json!([apicast, routing, claims, apicast]);
    let c = json!({"backend": {"cluster": "b"},
        "services": [{"id": 7, "backend_version": 1, "proxy": {"policy_chain": chain}}]});
    let reviews = super::review::review(c.to_string().as_bytes());
    let refused: Vec<(String, String)> = (reviews[0].entries.iter())
        .filter_map(|e| e.answer.as_ref().err())
        .map(|e| (e.path.clone(), e.to_string()))
        .collect();
    let at = |i: usize| format!("services[0].proxy.policy_chain[{i}]");
    let mut expected = vec![at(3)];
    if cfg!(feature = "jwt") {
        expected.insert(0, at(2));
    }
    assert_eq!(
        refused.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
        expected,
        "{refused:?}"
    );
    assert!(refused
        .last()
        .is_some_and(|(_, e)| e.contains("a second apicast")));
    assert!(
        reviews[0].chain.is_none(),
        "the first apicast stands: not public"
    );
}

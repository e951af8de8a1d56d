//! APIcast's `3scale_referrer` policy through real Envoy (2 workers): the request's `Referer`
//! goes to the backend as `referrer` on an authrep per request, so an application's referrer
//! filters hold, with or without batching (a batched service with the policy is authorized
//! per request: a cache entry per Referer value would multiply its limits).

mod support;

use e2e::mock_backend::{App, Period, Service, State};
use e2e::{wait_until, Request, Response};
use serde_json::json;
use std::time::Duration;
use support::*;

fn state() -> State {
    State::new()
        .service(
            Service::new("1")
                .token(TOKEN)
                .backend_version("1")
                .referrer_filters_required(true)
                .metric("hits", None),
        )
        .app(
            App::new("1", "shop-app")
                .user_key(USER_KEY)
                .plan("Basic")
                .limit("hits", Period::Minute, 1000)
                .referrer_filter("*.shop.example.com/*"),
        )
}

fn stack(batching: bool) -> Stack {
    let chain = json!([{"name": "apicast"}, {"name": "apicast.policy.3scale_referrer"}]);
    let mut cfg = config(vec![service(1, json!("1"), json!({"policy_chain": chain}))]);
    if batching {
        cfg["backend"]["batching"] = json!({"auths_ttl": 60, "batch_report_seconds": 1});
    }
    Stack::start_with(cfg, state(), |b| b.concurrency(2))
}

fn get(s: &Stack, referer: Option<&str>) -> Response {
    let mut r =
        Request::get(&format!("/things?user_key={USER_KEY}")).header("Host", "api.example.com");
    if let Some(referer) = referer {
        r = r.header("Referer", referer);
    }
    r.send(s.port())
}

#[test]
fn the_referer_reaches_the_backend_and_its_filters_hold_in_authrep_and_batching_modes() {
    for batching in [false, true] {
        let s = stack(batching);
        let good = "http://www.shop.example.com/cart";
        // Valid, invalid, valid again (APIcast's TEST 5/6), twice over for the cache.
        for _ in 0..2 {
            assert_eq!(get(&s, Some(good)).status, 200, "batching {batching}");
            let bad = get(&s, Some("http://evil.example.com/"));
            assert_eq!(
                (bad.status, bad.body.as_str()),
                (403, "Authentication failed"),
                "batching {batching}"
            );
            assert_eq!(get(&s, None).status, 403, "referrer is missing");
        }
        assert_eq!(
            s.echo.request_count(),
            2,
            "only the good referrer got through"
        );
        let calls = s.backend.requests();
        let referrers: Vec<Option<&str>> = calls
            .iter()
            .filter(|c| c.path != "/transactions.xml")
            .map(|c| c.param("referrer"))
            .collect();
        assert!(referrers.contains(&Some(good)), "{referrers:?}");
        assert!(referrers.contains(&Some("http://evil.example.com/")));
        // An authrep per request in both modes: batched, a cache entry per Referer value (each
        // with the app's whole remaining limit) would multiply the limit.
        assert!(calls.iter().all(|c| c.path == "/transactions/authrep.xml"));
        assert_eq!(referrers.len(), 6, "an authrep per request: {referrers:?}");
        if batching {
            assert!(
                s.envoy.log().contains(
                    "service 1: 3scale_referrer: authorized with an authrep per request, not batched"
                ),
                "the warning"
            );
        }
        // The hits counted are the two forwarded requests, whatever the mode.
        assert!(
            wait_until(Duration::from_secs(5), || {
                s.backend
                    .logged()
                    .iter()
                    .map(|l| {
                        l.usage
                            .iter()
                            .map(|(_, v)| v.parse::<u64>().unwrap_or(0))
                            .sum::<u64>()
                    })
                    .sum::<u64>()
                    == 2
            }),
            "batching {batching}: {:?}",
            s.backend.logged()
        );
    }
}

//! Found by an audit (2026-12-06): hosts a service from System lists must stay its own when
//! one of its entries cannot be read or compiled, a version System replaced must not serve,
//! and a service deleted in System must go.

use super::*;

/// An entry of service `id` at `version` listing `hosts`; `public`: no `apicast` in its chain
/// (no credentials checked), the service a host would wrongly fall to.
fn entry(id: u64, version: u64, hosts: Value, public: bool) -> String {
    let mut c = content(id, json!(1));
    c["proxy"]["hosts"] = hosts;
    if public {
        c["proxy"]["policy_chain"] = json!([{"name": "headers", "configuration": {}}]);
    }
    json!({"proxy_config": {"id": id * 100 + version, "version": version,
        "environment": "production", "content": c}})
    .to_string()
}

/// One whole fetch of one page answered `body`: the steps of the tick after it.
fn fetch_once(
    a: &mut Loader,
    store: &MemoryStore,
    b: &Config,
    body: &str,
    at: u64,
    token: u32,
) -> Vec<LoaderStep> {
    a.on_tick(store, at);
    a.on_sent(store, Some(token), at);
    a.on_answer_body(store, b, Some(200), body.as_bytes(), at);
    a.on_tick(store, at + 1)
}

fn serving(config: &Config, host: &str) -> Option<String> {
    config.services_for_host(host).next().map(|s| s.id.clone())
}

/// First load: service 1's entry has a key given twice (unreadable), service 2 (public)
/// lists the same host after it. The host is held (refused), not served by service 2.
#[test]
fn an_unreadable_entry_without_a_live_version_holds_its_hosts() {
    let (store, b) = (MemoryStore::default(), base());
    let mut a = Loader::new(system(json!({})));
    let one = entry(1, 1, json!(["shared", "one"]), false).replacen(
        "\"backend_version\":\"1\"",
        "\"backend_version\":\"1\",\"backend_version\":\"1\"",
        1,
    );
    let page = format!(
        "{{\"proxy_configs\":[{one},{}]}}",
        entry(2, 1, json!(["shared", "two"]), true)
    );
    let doc = published(&fetch_once(&mut a, &store, &b, &page, 0, 1));
    let (config, warnings) = b.with_fetched(&doc);
    assert_eq!(serving(&config, "shared"), None, "{warnings:?}");
    assert_eq!(serving(&config, "one"), None);
    assert_eq!(serving(&config, "two").as_deref(), Some("2"));
    assert!(
        warnings.iter().any(|w| w.contains("given twice")),
        "{warnings:?}"
    );
    // Readable at the next fetch: it serves.
    let page = format!(
        "{{\"proxy_configs\":[{},{}]}}",
        entry(1, 1, json!(["shared", "one"]), false),
        entry(2, 1, json!(["shared", "two"]), true)
    );
    let doc = published(&fetch_once(&mut a, &store, &b, &page, 20_000, 2));
    let (config, _) = b.with_fetched(&doc);
    assert_eq!(serving(&config, "shared").as_deref(), Some("1"));
}

/// An entry whose service id cannot be read either (first load): its hosts are held too.
#[test]
fn an_entry_without_a_readable_id_holds_its_hosts() {
    let (store, b) = (MemoryStore::default(), base());
    let mut a = Loader::new(system(json!({})));
    let mut nameless = content(1, json!(1));
    nameless["id"] = json!(true);
    nameless["proxy"]["hosts"] = json!(["shared"]);
    let nameless = json!({"proxy_config": {"id": 101, "version": 1,
        "environment": "production", "content": nameless}});
    let page = format!(
        "{{\"proxy_configs\":[{nameless},{}]}}",
        entry(2, 1, json!(["shared"]), true)
    );
    let doc = published(&fetch_once(&mut a, &store, &b, &page, 0, 1));
    assert_eq!(serving(&b.with_fetched(&doc).0, "shared"), None);
}

/// `services` mode, first load: a service's own answer cannot be read. Its hosts are held.
#[test]
fn an_unreadable_answer_for_one_service_holds_its_hosts() {
    let (store, mut b) = (MemoryStore::default(), base());
    let block = system(json!({"services": ["1", "2"]}));
    b.system = Some(block.clone());
    let mut a = Loader::new(block);
    a.on_tick(&store, 0);
    a.on_sent(&store, Some(1), 0);
    let one = entry(1, 1, json!(["shared"]), false).replacen(
        "\"backend_version\":\"1\"",
        "\"backend_version\":\"1\",\"backend_version\":\"2\"",
        1,
    );
    a.on_answer_body(&store, &b, Some(200), one.as_bytes(), 0);
    a.on_sent(&store, Some(2), 0);
    let two = entry(2, 1, json!(["shared"]), true);
    a.on_answer_body(&store, &b, Some(200), two.as_bytes(), 0);
    let doc = published(&a.on_tick(&store, 1));
    assert_eq!(serving(&b.with_fetched(&doc).0, "shared"), None);
}

/// A refused new version whose `proxy.hosts` cannot be read: the live version keeps its hosts
/// (they were freed, and a later public service took them).
#[test]
fn a_refused_version_with_unreadable_hosts_keeps_the_live_versions_hosts() {
    let (store, b) = (MemoryStore::default(), base());
    let mut a = Loader::new(system(json!({})));
    let two = entry(2, 1, json!(["shared", "two"]), true);
    let page1 = format!(
        "{{\"proxy_configs\":[{},{two}]}}",
        entry(1, 1, json!(["shared"]), false)
    );
    let published1 = published(&fetch_once(&mut a, &store, &b, &page1, 0, 1));
    assert_eq!(
        serving(&b.with_fetched(&published1).0, "shared").as_deref(),
        Some("1")
    );
    let unreadable = [
        json!(7),
        json!({"a": 1}),
        json!(""),
        json!([5]),
        json!([""]),
    ];
    for (round, hosts) in unreadable.into_iter().enumerate() {
        let page2 = format!(
            "{{\"proxy_configs\":[{},{two}]}}",
            entry(1, 2, hosts.clone(), false)
        );
        let at = 10_000 * (round as u64 + 1);
        let published2 = published(&fetch_once(&mut a, &store, &b, &page2, at, 2));
        let (config, _) = b.with_fetched(&published2);
        assert_eq!(serving(&config, "shared").as_deref(), Some("1"), "{hosts}");
        assert_eq!(
            config
                .services_for_host("shared")
                .next()
                .unwrap()
                .config_version,
            Some(1)
        );
    }
    // A lone string is one host: the live version keeps it.
    let page3 = format!(
        "{{\"proxy_configs\":[{},{two}]}}",
        entry(1, 3, json!("SHARED"), false).replace("\"delta\":1", "\"delta\":\"x\"")
    );
    let published3 = published(&fetch_once(&mut a, &store, &b, &page3, 70_000, 3));
    assert_eq!(
        serving(&b.with_fetched(&published3).0, "shared").as_deref(),
        Some("1")
    );
}

/// A version kept live because the fetching filter refused its successor (`rate_limit`) is
/// published before it; a filter that accepts the successor (`ignore_policies`) installs the
/// successor, on its own hosts only, not the version System replaced.
#[test]
fn a_kept_version_gives_way_to_its_successor_where_that_compiles() {
    let (store, strict) = (MemoryStore::default(), base());
    let lenient = Config::parse(
        br#"{"backend": {"cluster": "b"}, "services": [], "ignore_policies": ["rate_limit"]}"#,
    )
    .unwrap()
    .config;
    let mut a = Loader::new(system(json!({})));
    let v1 = entry(1, 1, json!(["api", "old-host"]), false);
    let mut two = content(1, json!(1));
    two["proxy"]["hosts"] = json!(["api"]);
    two["proxy"]["policy_chain"] = json!([
        {"name": "rate_limit", "version": "builtin", "configuration": {}},
        {"name": "apicast", "version": "builtin", "configuration": {}}]);
    let v2 = json!({"proxy_config": {"id": 102, "version": 2, "environment": "production",
        "content": two}});
    let page1 = format!("{{\"proxy_configs\":[{v1}]}}");
    fetch_once(&mut a, &store, &strict, &page1, 0, 1);
    let page2 = format!("{{\"proxy_configs\":[{v2}]}}");
    let doc = published(&fetch_once(&mut a, &store, &strict, &page2, 10_000, 2));
    assert_eq!(doc.iter().map(|s| s.version).collect::<Vec<_>>(), [1, 2]);
    // The strict filter: version 1 serves, on version 2's hosts only.
    let (config, _) = strict.with_fetched(&doc);
    let served = config
        .services_for_host("api")
        .next()
        .map(|s| s.config_version);
    assert_eq!(served, Some(Some(1)));
    assert_eq!(serving(&config, "old-host"), None);
    // The lenient one: version 2, and no `defined twice`.
    let (config, warnings) = lenient.with_fetched(&doc);
    let served = config
        .services_for_host("api")
        .next()
        .map(|s| s.config_version);
    assert_eq!(served, Some(Some(2)), "{warnings:?}");
    assert_eq!(serving(&config, "old-host"), None);
    assert!(
        !warnings.iter().any(|w| w.contains("defined twice")),
        "{warnings:?}"
    );
}

/// `versions: {"1": 5}` (every service, 1 pinned at 5) and `services: ["1", "5"]` are two
/// scopes: the second never installs the first's document (service 7 with it).
#[test]
fn a_services_list_and_a_pin_of_the_same_numbers_are_two_scopes() {
    let store = MemoryStore::default();
    let pinned = system(json!({"versions": {"1": 5}}));
    let mut b = base();
    b.system = Some(pinned.clone());
    let mut a = Loader::new(pinned);
    a.on_tick(&store, 0);
    a.on_sent(&store, Some(1), 0);
    let all = page(&[(1, 5, json!(1)), (7, 1, json!(1))]);
    a.on_answer_body(&store, &b, Some(200), &all, 0);
    a.on_sent(&store, Some(2), 0);
    let one = json!({"proxy_config": {"id": 9, "version": 5, "environment": "production",
        "content": content(1, json!(1))}});
    a.on_answer_body(&store, &b, Some(200), one.to_string().as_bytes(), 0);
    assert!(installed(&a.on_tick(&store, 1)).is_some());
    let mut other = Loader::new(system(json!({"services": ["1", "5"]})));
    let steps = other.on_tick(&store, 1);
    assert_eq!(installed(&steps), None);
    assert_eq!(
        gets(&steps),
        ["/admin/api/services/1/proxy/configs/production/latest.json"]
    );
}

/// Account list with a pinned service, deleted in System: the pages no longer list it and its
/// pinned version is 404. It is removed (it stayed live for good). A pinned version missing
/// while the pages still list the service keeps it (`a_pinned_version_not_found_...`).
#[test]
fn a_deleted_pinned_service_is_removed() {
    let store = MemoryStore::default();
    let mut b = base();
    b.system = Some(system(json!({"versions": {"1": 1}})));
    let mut a = Loader::new(system(json!({"versions": {"1": 1}})));
    a.on_tick(&store, 0);
    a.on_sent(&store, Some(1), 0);
    a.on_answer_body(&store, &b, Some(200), &page(&[(1, 1, json!(1))]), 0);
    a.on_sent(&store, Some(2), 0);
    let one = json!({"proxy_config": {"id": 9, "version": 1, "environment": "production",
        "content": content(1, json!(1))}});
    a.on_answer_body(&store, &b, Some(200), one.to_string().as_bytes(), 0);
    let first = installed(&a.on_tick(&store, 1));
    assert_eq!(first, Some(vec![(Some("1".into()), 1)]));
    a.on_tick(&store, 10_000);
    a.on_sent(&store, Some(3), 10_000);
    a.on_answer_body(&store, &b, Some(200), br#"{"proxy_configs": []}"#, 10_000);
    a.on_sent(&store, Some(4), 10_000);
    a.on_answer_body(&store, &b, Some(404), br#"{"status":"Not found"}"#, 10_000);
    assert_eq!(installed(&a.on_tick(&store, 10_001)), Some(vec![]));
}

/// The last version published for a service did not compile (refused, holding `a`); its next
/// entry cannot be read and lists `b`, which a public service lists too: `b` is held by a
/// placeholder (the refused version was published again, holding `a`, and `b` went to the
/// public service; found by a review, 2026-12-06).
#[test]
fn an_unreadable_entry_after_a_refused_one_holds_the_hosts_it_lists_now() {
    let (store, b) = (MemoryStore::default(), base());
    let mut a = Loader::new(system(json!({})));
    let public = entry(9, 1, json!(["b"]), true);
    let refused = entry(7, 1, json!(["a"]), false).replace("\"delta\":1", "\"delta\":\"x\"");
    let page1 = format!("{{\"proxy_configs\":[{refused},{public}]}}");
    let doc = published(&fetch_once(&mut a, &store, &b, &page1, 0, 1));
    assert_eq!(serving(&b.with_fetched(&doc).0, "b").as_deref(), Some("9"));
    let twice = entry(7, 2, json!(["b"]), false).replacen(
        "\"backend_version\":\"1\"",
        "\"backend_version\":\"1\",\"backend_version\":\"1\"",
        1,
    );
    let page2 = format!("{{\"proxy_configs\":[{twice},{public}]}}");
    let doc = published(&fetch_once(&mut a, &store, &b, &page2, 10_000, 2));
    assert_eq!(serving(&b.with_fetched(&doc).0, "b"), None);
}

/// A filter that refuses the version kept live (published before its successor) but accepts
/// the successor: the successor serves its hosts (the kept version's skipped entry held them,
/// and the successor was refused on them; found by a review, 2026-12-06).
#[test]
fn a_successor_serves_where_the_kept_version_is_refused() {
    let ignoring = |policy: &str| {
        let c = json!({"backend": {"cluster": "b"}, "services": [], "ignore_policies": [policy]});
        Config::parse(c.to_string().as_bytes()).unwrap().config
    };
    let (store, strict, other) = (
        MemoryStore::default(),
        ignoring("rate_limit"),
        ignoring("token_introspection"),
    );
    let with_policy = |version: u64, policy: &str| {
        let mut c = content(1, json!(1));
        c["proxy"]["hosts"] = json!(["api"]);
        c["proxy"]["policy_chain"] = json!([
            {"name": policy, "version": "builtin", "configuration": {}},
            {"name": "apicast", "version": "builtin", "configuration": {}}]);
        json!({"proxy_config": {"id": 100 + version, "version": version,
            "environment": "production", "content": c}})
    };
    let mut a = Loader::new(system(json!({})));
    let page1 = format!("{{\"proxy_configs\":[{}]}}", with_policy(1, "rate_limit"));
    fetch_once(&mut a, &store, &strict, &page1, 0, 1);
    let page2 = format!(
        "{{\"proxy_configs\":[{}]}}",
        with_policy(2, "token_introspection")
    );
    let doc = published(&fetch_once(&mut a, &store, &strict, &page2, 10_000, 2));
    assert_eq!(doc.iter().map(|s| s.version).collect::<Vec<_>>(), [1, 2]);
    let (config, warnings) = other.with_fetched(&doc);
    let served = config
        .services_for_host("api")
        .next()
        .map(|s| s.config_version);
    assert_eq!(served, Some(Some(2)), "{warnings:?}");
}

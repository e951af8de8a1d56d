//! Porta pages the account list by offset: a deploy or a deletion between two page requests
//! moves an entry onto a page already read (found by an audit, 2026-12-07). A service the
//! pages of a fetch miss is asked for by itself before it is removed.

use super::loader::Loader;
use super::loader_tests::{base, content, gets, installed, page, system, AnswerBody};
use crate::cache::MemoryStore;
use serde_json::{json, Value};

/// `proxy_configs` entries (id, version 1) for these service ids.
fn entries(ids: impl Iterator<Item = u64>) -> Vec<(u64, u64, Value)> {
    ids.map(|id| (id, 1, json!(1))).collect()
}

/// The path of the latest configuration of one service.
fn latest(id: u64) -> String {
    format!("/admin/api/services/{id}/proxy/configs/production/latest.json")
}

/// A per-service answer: service `id` at `version`.
fn single(id: u64, version: u64) -> Vec<u8> {
    json!({"proxy_config": {"id": 9, "version": version, "environment": "production",
        "content": content(id, json!(1))}})
    .to_string()
    .into_bytes()
}

/// A loader that installed services `1..=last` from two pages, at time 0.
fn loaded(store: &MemoryStore, last: u64) -> Loader {
    let mut a = Loader::new(system(json!({})));
    a.on_tick(store, 0);
    a.on_sent(store, Some(1), 0);
    a.on_answer_body(store, &base(), Some(200), &page(&entries(1..=500)), 0);
    a.on_sent(store, Some(2), 0);
    a.on_answer_body(store, &base(), Some(200), &page(&entries(501..=last)), 0);
    assert_eq!(installed(&a.on_tick(store, 1)).unwrap().len() as u64, last);
    a
}

fn ids(services: &[(Option<String>, u64)]) -> Vec<u64> {
    (services.iter())
        .map(|(id, _)| id.as_deref().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn a_deploy_between_two_pages_keeps_a_live_service() {
    let store = MemoryStore::default();
    let mut a = loaded(&store, 501);
    a.on_tick(&store, 20_000);
    a.on_sent(&store, Some(3), 20_000);
    a.on_answer_body(&store, &base(), Some(200), &page(&entries(1..=500)), 20_000);
    // Service 2 redeployed meanwhile: by row id the set is 1, 3..=501, 2 (v2); 501 moved
    // onto page 1, page 2 holds only 2 at v2.
    a.on_sent(&store, Some(4), 20_000);
    let last_page = page(&[(2, 2, json!(1))]);
    let steps = a.on_answer_body(&store, &base(), Some(200), &last_page, 20_000);
    assert_eq!(
        gets(&steps),
        vec![latest(501)],
        "the missed service is asked for"
    );
    a.on_sent(&store, Some(5), 20_000);
    a.on_answer_body(&store, &base(), Some(200), &single(501, 1), 20_000);
    let now = installed(&a.on_tick(&store, 20_001)).unwrap();
    assert_eq!(
        ids(&now),
        (1..=501).collect::<Vec<_>>(),
        "none removed, none twice"
    );
    assert_eq!(
        now[1],
        (Some("2".into()), 2),
        "the higher version of 2 serves"
    );
}

#[test]
fn a_deletion_between_two_pages_removes_only_the_deleted_service() {
    let store = MemoryStore::default();
    let mut a = loaded(&store, 503);
    a.on_tick(&store, 20_000);
    a.on_sent(&store, Some(3), 20_000);
    // Service 3 was deleted before this fetch; page 1 is 1, 2, 4..=501.
    let first = entries([1, 2].into_iter().chain(4..=501));
    a.on_answer_body(&store, &base(), Some(200), &page(&first), 20_000);
    // Service 4 deleted meanwhile: 502 moved onto page 1, page 2 holds only 503.
    a.on_sent(&store, Some(4), 20_000);
    let last_page = page(&entries(503..=503));
    let steps = a.on_answer_body(&store, &base(), Some(200), &last_page, 20_000);
    assert_eq!(
        gets(&steps),
        vec![latest(3)],
        "each missed service, in order"
    );
    a.on_sent(&store, Some(5), 20_000);
    let steps = a.on_answer_body(&store, &base(), Some(404), b"", 20_000);
    assert_eq!(gets(&steps), vec![latest(502)]);
    a.on_sent(&store, Some(6), 20_000);
    a.on_answer_body(&store, &base(), Some(200), &single(502, 1), 20_000);
    let now = installed(&a.on_tick(&store, 20_001)).unwrap();
    let want: Vec<u64> = (1..=503).filter(|&id| id != 3).collect();
    assert_eq!(
        ids(&now),
        want,
        "3 removed; 4, read before its deletion, goes at the next fetch; 502 in its place, before 503"
    );

    // A confirmation that fails keeps that service as installed; the rest of the fetch
    // applies (failing it all would let one slow request freeze every change).
    a.on_tick(&store, 40_000);
    a.on_sent(&store, Some(7), 40_000);
    let first = entries([1, 2].into_iter().chain(4..=501));
    a.on_answer_body(&store, &base(), Some(200), &page(&first), 40_000);
    a.on_sent(&store, Some(8), 40_000);
    let steps = a.on_answer_body(&store, &base(), Some(200), &page(&[]), 40_000);
    assert_eq!(gets(&steps), vec![latest(502)]);
    a.on_sent(&store, Some(9), 40_000);
    let steps = a.on_answer_body(&store, &base(), Some(500), b"", 40_000);
    assert_eq!(gets(&steps), vec![latest(503)]);
    a.on_sent(&store, Some(10), 40_000);
    a.on_answer_body(&store, &base(), Some(404), b"", 40_000);
    let now = installed(&a.on_tick(&store, 40_001)).unwrap();
    let want: Vec<u64> = (1..=502).filter(|&id| id != 3).collect();
    assert_eq!(ids(&now), want, "502 kept on a 500, 503 removed on a 404");
    assert_eq!(a.take_counts().failures, 0);
}

/// At most `MAX_CONFIRMS` services are asked for in one fetch; the others missed keep their
/// installed version until a later fetch asks for them.
#[test]
fn a_mass_deletion_is_confirmed_twenty_services_per_fetch() {
    let store = MemoryStore::default();
    let mut a = loaded(&store, 530);
    let mut fetch = |at: u64, first_token: u32, asked: std::ops::RangeInclusive<u64>| {
        a.on_tick(&store, at);
        a.on_sent(&store, Some(first_token), at);
        a.on_answer_body(&store, &base(), Some(200), &page(&entries(1..=500)), at);
        a.on_sent(&store, Some(first_token + 1), at);
        let mut steps = a.on_answer_body(&store, &base(), Some(200), &page(&[]), at);
        for (n, id) in asked.enumerate() {
            assert_eq!(gets(&steps), vec![latest(id)]);
            a.on_sent(&store, Some(first_token + 2 + n as u32), at);
            steps = a.on_answer_body(&store, &base(), Some(404), b"", at);
        }
        assert!(gets(&steps).is_empty());
        ids(&installed(&a.on_tick(&store, at + 1)).unwrap())
    };
    let want: Vec<u64> = (1..=500).chain(521..=530).collect();
    assert_eq!(fetch(20_000, 3, 501..=520), want);
    assert_eq!(fetch(40_000, 30, 521..=530), (1..=500).collect::<Vec<_>>());
}

/// A service confirmed goes back after its installed neighbour only if that neighbour did
/// not move: a redeployed one is last in porta's order, and the confirmed service put after
/// it lost a host it shares with a service between them (found by a review, 2026-12-07).
#[test]
fn a_confirmed_service_keeps_a_host_it_shares() {
    let page_hosts = |entries: &[(u64, u64)]| -> Vec<u8> {
        let list: Vec<Value> = (entries.iter())
            .map(|&(id, version)| {
                let mut c = content(id, json!(1));
                if id == 502 || id == 503 {
                    c["proxy"]["hosts"] = json!([format!("h{id}"), "shared"]);
                }
                json!({"proxy_config": {"id": 1, "version": version,
                    "environment": "production", "content": c}})
            })
            .collect();
        json!({ "proxy_configs": list }).to_string().into_bytes()
    };
    let store = MemoryStore::default();
    let mut a = Loader::new(system(json!({})));
    let first: Vec<(u64, u64)> = (1..=500).map(|i| (i, 1)).collect();
    a.on_tick(&store, 0);
    a.on_sent(&store, Some(1), 0);
    a.on_answer_body(&store, &base(), Some(200), &page_hosts(&first), 0);
    a.on_sent(&store, Some(2), 0);
    let rest = page_hosts(&[(501, 1), (502, 1), (503, 1)]);
    a.on_answer_body(&store, &base(), Some(200), &rest, 0);
    a.on_tick(&store, 1);
    // 501 redeployed (now last), then service 1 deleted between the pages: 502 is hidden.
    a.on_tick(&store, 20_000);
    a.on_sent(&store, Some(3), 20_000);
    a.on_answer_body(&store, &base(), Some(200), &page_hosts(&first), 20_000);
    a.on_sent(&store, Some(4), 20_000);
    let last = page_hosts(&[(503, 1), (501, 2)]);
    let steps = a.on_answer_body(&store, &base(), Some(200), &last, 20_000);
    assert_eq!(gets(&steps), vec![latest(502)]);
    a.on_sent(&store, Some(5), 20_000);
    let mut c = content(502, json!(1));
    c["proxy"]["hosts"] = json!(["h502", "shared"]);
    let one = json!({"proxy_config": {"id": 9, "version": 1, "environment": "production",
        "content": c}});
    a.on_answer_body(
        &store,
        &base(),
        Some(200),
        one.to_string().as_bytes(),
        20_000,
    );
    let steps = a.on_tick(&store, 20_001);
    let fetched = (steps.iter())
        .find_map(|s| match s {
            super::loader::LoaderStep::Install(i) => Some(i.services.clone()),
            _ => None,
        })
        .unwrap();
    let config = base().with_fetched(&fetched).0;
    let owner = config
        .services_for_host("shared")
        .next()
        .map(|s| s.id.clone());
    assert_eq!(owner.as_deref(), Some("502"));
}

#[test]
fn a_single_page_fetch_removes_a_missing_service_at_once() {
    let store = MemoryStore::default();
    let mut a = Loader::new(system(json!({})));
    a.on_tick(&store, 0);
    a.on_sent(&store, Some(1), 0);
    a.on_answer_body(&store, &base(), Some(200), &page(&entries(1..=3)), 0);
    a.on_tick(&store, 1);
    a.on_tick(&store, 20_000);
    a.on_sent(&store, Some(2), 20_000);
    let steps = a.on_answer_body(&store, &base(), Some(200), &page(&entries(2..=3)), 20_000);
    assert!(gets(&steps).is_empty(), "one page is one reading: no race");
    let now = installed(&a.on_tick(&store, 20_001)).unwrap();
    assert_eq!(ids(&now), vec![2, 3]);
}

#[test]
fn a_paged_fetch_that_changed_the_set_is_repeated_after_5_s_once() {
    let store = MemoryStore::default();
    // The first fetch (two pages) changed the set: nothing installed could be asked for.
    let mut a = loaded(&store, 501);
    assert!(gets(&a.on_tick(&store, 4_999)).is_empty());
    assert_eq!(gets(&a.on_tick(&store, 5_000)).len(), 1, "page 1 again");
    a.on_sent(&store, Some(3), 5_000);
    a.on_answer_body(&store, &base(), Some(200), &page(&entries(1..=500)), 5_000);
    a.on_sent(&store, Some(4), 5_000);
    let last_page = page(&entries(501..=502));
    a.on_answer_body(&store, &base(), Some(200), &last_page, 5_000);
    assert_eq!(installed(&a.on_tick(&store, 5_001)).unwrap().len(), 502);
    // Changed again: the next fetch after refresh_s (10 s), not another early one.
    assert!(gets(&a.on_tick(&store, 14_999)).is_empty(), "no fetch loop");
    assert_eq!(gets(&a.on_tick(&store, 15_000)).len(), 1);

    // A first fetch of one page has no such race: refresh_s.
    let store = MemoryStore::default();
    let mut a = Loader::new(system(json!({})));
    a.on_tick(&store, 0);
    a.on_sent(&store, Some(1), 0);
    a.on_answer_body(&store, &base(), Some(200), &page(&entries(1..=3)), 0);
    assert_eq!(installed(&a.on_tick(&store, 1)).unwrap().len(), 3);
    assert!(gets(&a.on_tick(&store, 9_999)).is_empty());
    assert_eq!(gets(&a.on_tick(&store, 10_000)).len(), 1);
}

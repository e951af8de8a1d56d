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

    // A confirmation that fails fails the fetch: nothing is removed.
    a.on_tick(&store, 40_000);
    a.on_sent(&store, Some(7), 40_000);
    a.on_answer_body(&store, &base(), Some(200), &page(&entries(1..=500)), 40_000);
    a.on_sent(&store, Some(8), 40_000);
    a.on_answer_body(&store, &base(), Some(200), &page(&[]), 40_000);
    a.on_sent(&store, Some(9), 40_000);
    a.on_answer_body(&store, &base(), Some(500), b"", 40_000);
    assert_eq!(installed(&a.on_tick(&store, 40_001)), None);
    assert_eq!(a.take_counts().failures, 1);
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

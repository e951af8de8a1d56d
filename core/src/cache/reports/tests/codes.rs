//! Response codes (`backend.report_response_codes`): a call's key carries the code its
//! response had; the pending list keeps it apart, each coded call is a transaction of its own
//! (3scale counts one response per transaction), a large entry spans report calls with its
//! leased calls apportioned, and settling finds the authorization the code rides on.

use super::settle::{leased, outstanding, settings};
use super::*;
use crate::cache::authorizations::AuthCache;

/// The report body, brackets decoded.
fn body(batch: &ReportBatch) -> String {
    batch.call.body.replace("%5B", "[").replace("%5D", "]")
}

#[test]
fn codes_stay_apart_from_worker_to_report() {
    let config = config();
    let store = MemoryStore::default();
    let (mut a, mut b) = (LocalUsage::default(), LocalUsage::default());
    let k = key("one");
    add(&mut a, &k.with_code(200), 2, true);
    add(&mut b, &k.with_code(200), 1, false);
    add(&mut b, &k.with_code(503), 1, false);
    add(&mut a, &k, 1, false);
    a.flush(&store, 100).unwrap();
    b.flush(&store, 100).unwrap();
    let pending = take_pending(&store);
    assert_eq!(
        as_map(pending.clone()),
        expected(&[
            (&k, calls(1, 0)),
            (&k.with_code(200), calls(3, 2)),
            (&k.with_code(503), calls(1, 0)),
        ])
    );
    let (sent, dropped) = batches(&config, &RetiredServices::default(), pending, NOW_S);
    assert!(dropped.is_empty());
    assert_eq!(sent.len(), 1);
    assert_eq!(
        body(&sent[0]),
        "transactions[0][user_key]=one&transactions[0][usage][hits]=1\
         &transactions[1][user_key]=one&transactions[1][usage][hits]=1&transactions[1][log][code]=200\
         &transactions[2][user_key]=one&transactions[2][usage][hits]=1&transactions[2][log][code]=200\
         &transactions[3][user_key]=one&transactions[3][usage][hits]=1&transactions[3][log][code]=200\
         &transactions[4][user_key]=one&transactions[4][usage][hits]=1&transactions[4][log][code]=503"
    );
}

#[test]
fn a_large_coded_entry_spans_report_calls_with_its_leases() {
    let config = config();
    let (plain, coded) = (
        key("plain"),
        key_for("1", "big", &[("hits", 2)]).with_code(201),
    );
    let pending = vec![
        (plain.clone(), calls(3, 3)),
        (coded.clone(), calls(1_200, 700)),
    ];
    let (sent, _) = batches(&config, &RetiredServices::default(), pending, NOW_S);
    let parts: Vec<Vec<(EntryKey, Calls)>> = sent.iter().map(|b| b.entries.clone()).collect();
    assert_eq!(
        parts,
        vec![
            vec![(coded.clone(), calls(500, 500))],
            vec![(coded.clone(), calls(500, 200))],
            vec![(coded, calls(200, 0))],
            vec![(plain, calls(3, 3))],
        ]
    );
    let counts: Vec<usize> = sent
        .iter()
        .map(|b| body(b).matches("[log][code]=201").count())
        .collect();
    assert_eq!(counts, [500, 500, 200, 0]);
    assert!(sent.iter().all(|b| !body(b).contains("[usage][hits]=4")));
    assert!(
        body(&sent[1]).starts_with("transactions[0][user_key]=big&transactions[0][usage][hits]=2&")
    );
    assert!(!body(&sent[2]).contains("plain"));
}

#[test]
fn settling_coded_calls_lowers_their_authorization() {
    let store = MemoryStore::default();
    let mut cache = AuthCache::new(settings(SLOTS));
    let k = key("one");
    leased(&store, &mut cache, &k, 5);
    settle(
        &store,
        SLOTS,
        &[
            (k.with_code(200), calls(3, 3)),
            (k.with_code(404), calls(1, 1)),
        ],
    );
    assert_eq!(outstanding(&store, &k, SLOTS), 1);
}

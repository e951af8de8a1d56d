//! Report batches: one per application of a service, app ids, merged back on failure.

use super::*;

#[test]
fn batches_group_per_service_and_set_aside_unknown_services() {
    let config = config();
    let pending = vec![
        (key_for("1", "a", &[("hits", 1)]), calls(7, 7)),
        (key_for("1", "b", &[("hits", 2), ("m", 1)]), calls(3, 0)),
        (key_for("1", "a", &[("hits", 3)]), calls(2, 1)),
        (key_for("2", "a", &[("hits", 1)]), calls(4, 4)),
        (key_for("9", "a", &[("hits", 1)]), calls(5, 5)),
        (key_for("9", "b", &[("hits", 1)]), calls(6, 0)),
    ];
    let (batches, dropped) = batches(&config, &RetiredServices::default(), pending.clone(), NOW_S);
    let dropped = Calls::total(&dropped);
    assert_eq!(dropped, 11);
    // One call per application of a service: a's two entries, b, then service 2's a.
    assert_eq!(batches.len(), 3);

    let a = &batches[0];
    assert_eq!(a.service_id, "1");
    assert_eq!(a.calls(), 9);
    assert_eq!(a.entries, vec![pending[0].clone(), pending[2].clone()]);
    assert_eq!(a.call.method, "POST");
    assert_eq!(
        a.call.path,
        "/transactions.xml?service_id=1&service_token=tok1"
    );
    // Usage totals are calls × delta, per application.
    assert_eq!(
        a.call.body,
        "transactions%5B0%5D%5Buser_key%5D=a&transactions%5B0%5D%5Busage%5D%5Bhits%5D=13"
    );
    let b = &batches[1];
    assert_eq!(b.service_id, "1");
    assert_eq!(b.entries, pending[1..2].to_vec());
    assert_eq!(
        b.call.body,
        "transactions%5B0%5D%5Buser_key%5D=b&transactions%5B0%5D%5Busage%5D%5Bhits%5D=6\
         &transactions%5B0%5D%5Busage%5D%5Bm%5D=3"
    );

    let two = &batches[2];
    assert_eq!(two.service_id, "2");
    assert_eq!(two.entries, pending[3..4].to_vec());
    assert_eq!(two.call.path, "/transactions.xml?service_id=2");
    assert_eq!(
        two.call.body,
        "transactions%5B0%5D%5Buser_key%5D=a&transactions%5B0%5D%5Busage%5D%5Bhits%5D=4"
    );

    // Every pending call is either in a batch or set aside (its service unknown).
    let carried: u64 = batches.iter().map(ReportBatch::calls).sum();
    assert_eq!(carried + dropped, total(&pending));
    assert_eq!(
        super::batches(&config, &RetiredServices::default(), Vec::new(), NOW_S)
            .0
            .len(),
        0
    );
}

#[test]
fn app_id_keys_report_the_app_id_only() {
    let config = config();
    let mut usage = Usage::default();
    usage.add("hits", 1);
    let creds = Credentials::AppIdAndKey {
        app_id: "id".into(),
        app_key: "secret".into(),
    };
    let (batches, _) = batches(
        &config,
        &RetiredServices::default(),
        vec![(EntryKey::new("2", &creds, &usage), calls(2, 0))],
        NOW_S,
    );
    assert_eq!(
        batches[0].call.body,
        "transactions%5B0%5D%5Bapp_id%5D=id&transactions%5B0%5D%5Busage%5D%5Bhits%5D=2"
    );
    assert!(!batches[0].call.body.contains("secret"));
}

#[test]
fn every_application_has_its_own_report_call() {
    let config = config();
    let pending: Vec<(EntryKey, Calls)> = (0..1_001)
        .map(|i| (key(&format!("app{i:04}")), calls(i + 1, 0)))
        .collect();
    let (batches, dropped) = batches(&config, &RetiredServices::default(), pending.clone(), NOW_S);
    assert!(dropped.is_empty());
    assert_eq!(batches.len(), 1_001);
    let carried: Vec<(EntryKey, Calls)> = batches.iter().flat_map(|b| b.entries.clone()).collect();
    assert_eq!(carried, pending);
    for b in &batches {
        assert_eq!(b.entries.len(), 1);
        assert_eq!(b.call.body.matches("%5Buser_key%5D=").count(), 1);
    }
}

#[test]
fn an_app_ids_keys_share_one_report_call() {
    let config = config();
    let mut usage = Usage::default();
    usage.add("hits", 1);
    let with_key = |id: &str, key: &str| Credentials::AppIdAndKey {
        app_id: id.into(),
        app_key: key.into(),
    };
    let pending = vec![
        (
            EntryKey::new("2", &with_key("x", "k1"), &usage),
            calls(1, 0),
        ),
        (EntryKey::new("2", &with_key("y", "k"), &usage), calls(2, 0)),
        (
            EntryKey::new("2", &with_key("x", "k2"), &usage),
            calls(3, 0),
        ),
        (
            EntryKey::new("2", &Credentials::AppId("x".into()), &usage),
            calls(4, 0),
        ),
    ];
    let (batches, _) = batches(&config, &RetiredServices::default(), pending.clone(), NOW_S);
    let bodies: Vec<&str> = batches.iter().map(|b| b.call.body.as_str()).collect();
    assert_eq!(
        bodies,
        [
            "transactions%5B0%5D%5Bapp_id%5D=x&transactions%5B0%5D%5Busage%5D%5Bhits%5D=8",
            "transactions%5B0%5D%5Bapp_id%5D=y&transactions%5B0%5D%5Busage%5D%5Bhits%5D=2",
        ]
    );
    assert_eq!(batches[0].calls(), 8);
}

#[test]
fn failed_batches_are_merged_back_and_reported_later() {
    let config = config();
    let store = MemoryStore::default();
    let (mut a, mut b) = (LocalUsage::default(), LocalUsage::default());
    let (k1, k2) = (key("one"), key_for("2", "x", &[("hits", 1)]));
    add(&mut a, &k1, 3, true);
    add(&mut b, &k2, 2, false);
    a.flush(&store, 100).unwrap();
    b.flush(&store, 100).unwrap();

    // The reporter takes everything; the call for service 1 fails, the one for 2 succeeds.
    assert!(claim_report(&store, T0, INTERVAL));
    let (sent, dropped) = batches(
        &config,
        &RetiredServices::default(),
        take_pending(&store),
        NOW_S,
    );
    assert_eq!((sent.len(), dropped.len()), (2, 0));
    let failed = &sent[0];
    assert_eq!(failed.service_id, "1");
    let back = merge(
        &store,
        failed.entries.iter().map(|(k, c)| (k.as_str(), *c)),
        100,
    )
    .unwrap();
    assert_eq!(
        back,
        Merged {
            dropped: vec![],
            pending: 3,
        }
    );
    let backoff = report_failed(&store, T0 + 10);

    // Meanwhile the workers go on counting.
    add(&mut a, &k1, 1, true);
    add(&mut b, &k1, 1, false);
    a.flush(&store, 100).unwrap();
    b.flush(&store, 100).unwrap();

    // The next report carries the failed calls and the new ones, once.
    assert!(!claim_report(&store, T0 + 10 + backoff - 1, INTERVAL));
    assert!(claim_report(&store, T0 + 10 + backoff, INTERVAL));
    let pending = take_pending(&store);
    assert_eq!(as_map(pending.clone()), expected(&[(&k1, calls(5, 4))]));
    let (sent, _) = batches(&config, &RetiredServices::default(), pending, NOW_S);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].call.body.ends_with("%5Bhits%5D=5"));
    report_succeeded(&store);
    assert!(take_pending(&store).is_empty());
}

#[test]
fn calls_of_a_removed_service_are_reported_with_its_identity() {
    let before = config();
    let after = Config::parse(br#"{"backend":{"cluster":"b"},"services":[{"id":"2"}]}"#)
        .unwrap()
        .config;
    let mut retired = RetiredServices::default();
    retired.note(&before, &after);
    let pending = vec![
        (key_for("1", "a", &[("hits", 1)]), calls(7, 7)),
        (key_for("9", "a", &[("hits", 1)]), calls(5, 0)),
    ];
    let (sent, dropped) = batches(&after, &retired, pending.clone(), NOW_S);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].service_id, "1");
    assert_eq!(sent[0].entries, pending[..1].to_vec());
    assert_eq!(
        sent[0].call.path,
        "/transactions.xml?service_id=1&service_token=tok1"
    );
    // A service this worker never had cannot be reported.
    assert_eq!(dropped, pending[1..].to_vec());
}

/// After a long outage an application's calls span many minutes, a transaction each (with
/// its timestamp and every metric): report calls are split before apisonator's 4,096
/// parameters, and every call is in one of them.
#[test]
fn many_minutes_of_many_metrics_split_under_the_backends_parameter_limit() {
    let config = config();
    let metrics: Vec<(String, u64)> = (0..10).map(|i| (format!("m{i}"), 1)).collect();
    let usage: Vec<(&str, u64)> = metrics.iter().map(|(m, d)| (m.as_str(), *d)).collect();
    let k = key_for("1", "a", &usage);
    let first = NOW_S / 60 - 400;
    let pending: Vec<(EntryKey, Calls)> = (0..400)
        .map(|m| {
            let c = Calls {
                minute: first + m,
                calls: 2,
                leased: 0,
            };
            (k.clone(), c)
        })
        .collect();
    let (sent, dropped) = batches(&config, &RetiredServices::default(), pending, NOW_S);
    assert!(dropped.is_empty());
    assert!(sent.len() >= 2, "{}", sent.len());
    let mut total = 0;
    for batch in &sent {
        let params = batch.call.body.matches('&').count() + 1;
        assert!(params <= 4_096, "{params} parameters");
        total += batch.calls();
    }
    assert_eq!(total, 800);
}

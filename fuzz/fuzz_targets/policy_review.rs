//! `tollgate check`'s policy review (`config::policies::review`, printed by the CLI's
//! `policies::report`) over any text: never a panic; each service with an explicit chain is
//! reviewed at its own index, every policy of it in order, each refusal at a path within
//! that policy; the chain's verdict is what its entries say; and when the filter accepts the
//! configuration, no policy is refused and each reads as the filter compiled it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tollgate_core::config::policies::review::review;
use tollgate_core::config::policies::{public_line, ChainEntry, Policy};
use tollgate_core::config::Config;

fuzz_target!(|data: &[u8]| {
    let reviews = review(data);
    let report = tollgate_fuzz::cli_policies::report(data);
    assert_eq!(report.is_empty(), reviews.is_empty(), "{report:?}");

    let root: Option<Value> = serde_json::from_slice(data).ok();
    let services = (root.as_ref())
        .and_then(|r| r.get("services"))
        .and_then(Value::as_array);
    // The services with an explicit chain (an array), by index.
    let chains: Vec<(usize, &Vec<Value>)> = (services.into_iter().flatten().enumerate())
        .filter_map(
            |(i, s)| match s.get("proxy").and_then(|p| p.get("policy_chain")) {
                Some(Value::Array(chain)) => Some((i, chain)),
                _ => None,
            },
        )
        .collect();
    assert_eq!(reviews.len(), chains.len());
    for (r, (i, chain)) in reviews.iter().zip(&chains) {
        assert_eq!(r.path, format!("services[{i}].proxy.policy_chain"));
        assert!(report.contains(&r.path), "{report:?}");
        assert_eq!(r.entries.len(), chain.len(), "{}", r.path);
        for (j, reviewed) in r.entries.iter().enumerate() {
            let at = format!("{}[{j}]", r.path);
            match &reviewed.answer {
                Ok(entry) => assert_eq!(entry.path, at),
                Err(e) => assert!(
                    e.path == at || e.path.starts_with(&format!("{at}.")),
                    "refusal of {at} at {:?}: {}",
                    e.path,
                    e.message
                ),
            }
        }
        let apicast = r.entries.iter().any(|e| {
            matches!(
                &e.answer,
                Ok(ChainEntry {
                    policy: Policy::Apicast,
                    ..
                })
            )
        });
        match &r.chain {
            Some(Err(e)) => assert!(chain.is_empty() && e.path == r.path, "{e}"),
            Some(Ok(line)) => {
                assert!(!chain.is_empty() && !apicast && *line == public_line(&r.path))
            }
            None => assert!(apicast),
        }
    }

    // The filter stops at the first refusal: a configuration it accepts has none.
    let Ok(parsed) = Config::parse(data) else {
        return;
    };
    let config = parsed.config;
    assert_eq!(config.services.len(), services.map_or(0, Vec::len));
    for (r, (i, _)) in reviews.iter().zip(&chains) {
        let compiled = &config.services[*i].policies;
        assert_eq!(compiled.entries.len(), r.entries.len(), "{}", r.path);
        for (entry, reviewed) in compiled.entries.iter().zip(&r.entries) {
            let Ok(seen) = &reviewed.answer else {
                panic!("accepted, yet {} is refused in the review", entry.path);
            };
            assert_eq!(
                (&seen.path, &seen.name, &seen.policy),
                (&entry.path, &entry.name, &entry.policy)
            );
        }
        assert!(!matches!(r.chain, Some(Err(_))), "{}", r.path);
        assert_eq!(
            compiled.public.is_some(),
            matches!(r.chain, Some(Ok(_))),
            "{}",
            r.path
        );
    }
});

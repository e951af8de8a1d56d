//! `tollgate check`'s report on policy chains: each policy of each explicit
//! `proxy.policy_chain` with the filter's answer, refused ones included, so that one run
//! lists every policy to deal with (the filter stops at the first refusal).

use std::fmt::Write;
use tollgate_core::config::policies::review::review;

/// The report, one block per service with an explicit chain; empty when there is none.
pub fn report(text: &[u8]) -> String {
    let mut out = String::new();
    for service in review(text) {
        let _ = writeln!(out, "service {} ({}):", service.service, service.path);
        for (i, reviewed) in service.entries.iter().enumerate() {
            let at = format!("{}[{i}]", service.path);
            let _ = match &reviewed.answer {
                Ok(entry) => writeln!(out, "  [{i}] {}: {}", entry.name, entry.answer),
                Err(e) => writeln!(
                    out,
                    "  [{i}] refused: {}{}",
                    relative(&e.path, &at),
                    e.message
                ),
            };
        }
        let _ = match &service.chain {
            Some(Err(e)) => writeln!(out, "  refused: {}", e.message),
            Some(Ok(public)) => writeln!(out, "  warning: {public}"),
            None => Ok(()),
        };
    }
    out
}

/// `configuration.caching_type: ` for a path under the policy's own, else nothing.
fn relative(path: &str, entry: &str) -> String {
    match path.strip_prefix(entry).and_then(|p| p.strip_prefix('.')) {
        Some(rest) => format!("{rest}: "),
        None => String::new(),
    }
}

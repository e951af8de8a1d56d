//! The `url_rewriting` policy: any regex, replacement and options the configuration accepts,
//! on any path and query. A result is what the rules read and the upstream gets: absolute,
//! already normalised (nothing left for an upstream to resolve or decode differently), within
//! the length bound, and without the query command's arg behind a `;`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use tollgate_core::config::json::Obj;
use tollgate_core::config::policies::url_rewriting::parse;
use tollgate_core::encoding::decode_form_component;
use tollgate_core::mapping::arg_names::is_spelling_of;
use tollgate_core::mapping::normalize_path;
use tollgate_core::request::{is_ambiguous_path, split_path};
use tollgate_core::rewrite::rewrite_one;

const MAX: usize = 2048;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(6, '\n');
    let mut next = || parts.next().unwrap_or("").to_string();
    let (regex, replace, options, arg, value, request) =
        (next(), next(), next(), next(), next(), next());
    let flags = data.first().copied().unwrap_or(0);
    let ops = ["add", "set", "push", "delete"];
    let config = json!({
        "commands": [
            {"op": if flags & 1 == 1 { "gsub" } else { "sub" }, "regex": regex,
             "replace": replace, "options": options, "break": flags & 2 == 2},
            {"op": "gsub", "regex": "x", "replace": replace}],
        "query_args_commands": [
            {"op": ops[usize::from(flags >> 2) % 4], "arg": arg, "value": value}],
    });
    let Ok(obj) = Obj::new("c", &config) else {
        return;
    };
    let Ok(policy) = parse(&obj) else { return };
    if request.len() > MAX {
        return;
    }
    let (path, query) = split_path(&request);
    if !path.starts_with('/') || is_ambiguous_path(path) {
        // The pipeline refuses these before any policy runs.
        return;
    }
    let Ok(outcome) = rewrite_one(&policy, "GET", path, query, MAX) else {
        return;
    };
    assert_eq!(outcome.at_apicast, outcome.upstream);
    if let Some(r) = outcome.upstream {
        assert!(r.path.starts_with('/'), "{r:?}");
        assert!(!is_ambiguous_path(&r.path), "{r:?}");
        assert_eq!(normalize_path(&r.path), r.path, "not normalised: {r:?}");
        let len = r.path.len() + r.query.as_ref().map_or(0, |q| q.len() + 1);
        assert!(len <= MAX, "{len}");
        if let Some(q) = &r.query {
            assert!(!q.contains('#'), "{q:?}");
            // No copy of the command's arg hides behind a `;` (Rack 2, old Python and Go).
            for piece in q.split('&').filter(|p| p.contains(';')) {
                for part in piece.split(';') {
                    let name = decode_form_component(part.split('=').next().unwrap_or(part));
                    assert!(!is_spelling_of(&name, &arg), "{q:?}");
                }
            }
        }
    }
});

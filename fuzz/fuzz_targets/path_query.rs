//! Path normalisation, query-string and form-body parsing, and rule matching over them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::mapping::arg_names::is_spelling_of;
use tollgate_core::mapping::{match_rules, normalize_path, QueryArgs};
use tollgate_core::request::{host_of, split_path};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (path, query) = split_path(&text);
    let normalized = normalize_path(path);
    // Normalising is idempotent: nginx's result is what rules see, and it has no dot
    // segments or runs of slashes left to resolve.
    assert_eq!(normalize_path(&normalized), normalized, "path {path:?}");
    let _ = host_of(&text);
    let mut args = query.map(QueryArgs::parse).unwrap_or_default();
    let form = QueryArgs::parse_form(&text);
    for (name, _) in form.iter() {
        let _ = args.last(name);
        let _ = args.first_ci(name);
        let _ = args.first_raw_ci(name);
    }
    args.overlay(&form);
    let _ = args.is_empty();
    // `credential` reads the value `first_ci` does; an arg a rule reads is ambiguous when it
    // comes in another spelling an upstream reads as the same name or with another value, and
    // (without a `;` in the query or the form, which other parsers split on) only then.
    let semicolons = text.contains(';');
    for (name, _) in args.iter() {
        assert_eq!(args.credential(name).0, args.first_ci(name));
        let values: Vec<_> = args
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v)
            .collect();
        let spelled = args
            .iter()
            .any(|(n, _)| n != name && is_spelling_of(n, name));
        let differ = values.iter().any(|v| *v != values[0]);
        if spelled || differ {
            assert!(args.ambiguous(name), "{name:?}");
        } else if !semicolons {
            assert!(!args.ambiguous(name), "{name:?}");
        }
    }
    let config = tollgate_fuzz::config();
    for service in &config.services {
        for method in ["GET", "POST", "DELETE"] {
            let _ = match_rules(&service.rules, method, &normalized, &args);
        }
    }
});

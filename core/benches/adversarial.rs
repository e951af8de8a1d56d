//! Adversarial per-request costs of rule matching, query parsing and service selection,
//! timed natively (`make bench-core`). Each line is the median time of one request (or
//! one compilation) over many runs; the goal is at most 100 µs for every line.
//!
//! Only the public API is used, so the same file times any version of the core.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tollgate_core::config::Config;
use tollgate_core::mapping::{match_rules, normalize_path, MappingRule, PathPattern, QueryArgs};
use tollgate_core::pipeline::begin;
use tollgate_core::request::{HeaderSource, RequestHead};

/// Time spent on one line, at most; slow lines get fewer samples (at least 3).
const BUDGET: Duration = Duration::from_millis(300);

struct NoHeaders;

impl HeaderSource for NoHeaders {
    fn header(&self, _: &str) -> Option<String> {
        None
    }
}

/// Median time of one call of `f`, over samples of enough calls to last about 1 ms each.
fn median(mut f: impl FnMut()) -> Duration {
    let started = Instant::now();
    f();
    let once = started.elapsed().max(Duration::from_nanos(1));
    let per_sample = (Duration::from_millis(1).as_nanos() / once.as_nanos()).clamp(1, 100_000);
    let per_sample = u32::try_from(per_sample).unwrap_or(1);
    let mut samples = Vec::new();
    let begun = Instant::now();
    while samples.len() < 3 || (begun.elapsed() < BUDGET && samples.len() < 201) {
        let t = Instant::now();
        for _ in 0..per_sample {
            f();
        }
        samples.push(t.elapsed() / per_sample);
    }
    samples.sort();
    samples[samples.len() / 2]
}

/// Times `f` and prints one line, unless a filter (first argument) excludes `name`.
/// Whether the line `name` is wanted: a first argument (not a flag) filters lines.
fn wanted(name: &str) -> bool {
    let filter = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    filter.is_none_or(|filter| name.contains(&filter))
}

fn report(name: &str, f: impl FnMut()) {
    if !wanted(name) {
        return;
    }
    let time = median(f);
    let micros = time.as_secs_f64() * 1e6;
    let flag = if micros > 100.0 { "  > 100 µs" } else { "" };
    println!("{name:<62} {micros:>12.2} µs{flag}");
}

fn rules(patterns: &[String]) -> Vec<MappingRule> {
    patterns
        .iter()
        .map(|p| MappingRule::new("GET", p, "hits", 1, false, None))
        .collect()
}

fn pathological(n: usize, offset: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("/{{a}}.{{b}}.{{c}}.{{d}}.json{}", i + offset))
        .collect()
}

fn rule_json(pattern: &str) -> Value {
    json!({"http_method": "GET", "pattern": pattern, "metric_system_name": "hits", "delta": 1})
}

/// `services` services on one host, service `s` with the rules `make(s)`, path routing on.
/// `max_path_bytes`: `None` keeps the default (8 KB: longer paths are a 414 before any work);
/// the matcher lines raise it so that they time the matcher itself.
fn routed_config(
    services: usize,
    max_path_bytes: Option<usize>,
    make: impl Fn(usize) -> Vec<String>,
) -> Config {
    let list: Vec<Value> = (0..services)
        .map(|s| {
            let rules: Vec<Value> = make(s).iter().map(|p| rule_json(p)).collect();
            json!({"id": s + 1, "backend_version": "1",
                   "proxy": {"hosts": ["api.example.com"], "proxy_rules": rules}})
        })
        .collect();
    let mut config = json!({"backend": {"cluster": "threescale_backend"},
                            "path_routing": true, "services": list});
    if let Some(max) = max_path_bytes {
        config["max_path_bytes"] = json!(max);
    }
    let text = config.to_string();
    match Config::parse(text.as_bytes()) {
        Ok(parsed) => parsed.config,
        Err(e) => {
            eprintln!("benchmark configuration refused: {e}");
            std::process::exit(1);
        }
    }
}

fn request(config: &Config, path: &str) -> bool {
    let head = RequestHead {
        method: "GET",
        authority: "api.example.com",
        path,
        now_s: 0,
    };
    begin(config, head, &NoHeaders).is_ok()
}

/// The largest `max_path_bytes`, so that 64 KB inputs reach the matcher.
const RAISED: Option<usize> = Some(1 << 20);

fn main() {
    let dots = |n: usize| format!("/{}x", ".".repeat(n));
    let path_4k = dots(4096);
    let path_64k = dots(65536);
    // An attacker who knows the rules' literals puts all their bytes in the path,
    // without completing any rule: every candidate rule must read the segment once.
    let informed_64k = format!("/{}x0123456789json", ".".repeat(65536));
    // The same, alternating bytes so that no run of one byte can be skipped.
    let mixed_64k = format!("/{}x0123456789json", ".a".repeat(32768));

    println!("{:<62} {:>15}", "input (median per request)", "time");
    report("normalize_path, 64 KB path of dots", || {
        black_box(normalize_path(black_box(&path_64k)));
    });

    let one = PathPattern::compile("/v1/{a}.{b}/{c}-{d}.json$");
    for (label, path) in [("4 KB", &path_4k), ("64 KB", &path_64k)] {
        report(
            &format!("1 rule /v1/{{a}}.{{b}}/{{c}}-{{d}}.json$, {label} dots"),
            || {
                black_box(one.matches(black_box(path)));
            },
        );
    }
    let shape = PathPattern::compile("/{a}.{b}.{c}.{d}.json");
    for (label, path) in [
        ("64 KB dots", &path_64k),
        ("64 KB informed", &informed_64k),
        ("64 KB informed, mixed", &mixed_64k),
    ] {
        report(
            &format!("1 rule /{{a}}.{{b}}.{{c}}.{{d}}.json, {label}"),
            || {
                black_box(shape.matches(black_box(path)));
            },
        );
    }

    // Rules matched through a service, as the pipeline does (the service's own rule list).
    for (count, path, label) in [
        (10, &path_4k, "4 KB dots"),
        (1000, &path_4k, "4 KB dots"),
        (10, &path_64k, "64 KB dots"),
        (1000, &path_64k, "64 KB dots"),
        (10, &informed_64k, "64 KB informed"),
        (1000, &informed_64k, "64 KB informed"),
        (10, &mixed_64k, "64 KB informed, mixed"),
        (1000, &mixed_64k, "64 KB informed, mixed"),
    ] {
        let name = format!("match_rules, {count} rules /{{a}}.{{b}}.{{c}}.{{d}}.jsonN, {label}");
        if !wanted(&name) {
            continue;
        }
        let config = routed_config(1, RAISED, |_| pathological(count, 0));
        let service = &config.services[0];
        report(&name, || {
            black_box(match_rules(
                &service.rules,
                "GET",
                black_box(path),
                &QueryArgs::default(),
            ));
        });
    }
    let plain = rules(&pathological(1000, 0));
    report(
        "match_rules, 1000 rules as a plain slice, 64 KB dots",
        || {
            black_box(match_rules(
                &plain[..],
                "GET",
                black_box(&path_64k),
                &QueryArgs::default(),
            ));
        },
    );

    for (services, per, path, label) in [
        (10, 1, &path_64k, "64 KB dots"),
        (100, 100, &path_64k, "64 KB dots"),
        (10, 1, &informed_64k, "64 KB informed"),
        (100, 100, &informed_64k, "64 KB informed"),
    ] {
        let name = format!("path routing, {services} services x {per} rules, {label}");
        if !wanted(&name) {
            continue;
        }
        let config = routed_config(services, RAISED, |s| pathological(per, s * per));
        report(&name, || {
            black_box(request(&config, black_box(path)));
        });
    }
    for (services, per) in [(10, 1), (1000, 100)] {
        let name = format!("path routing, {services} services x {per} rules, no match");
        if !wanted(&name) {
            continue;
        }
        let config = routed_config(services, RAISED, |s| {
            (0..per)
                .map(|r| format!("/svc{s}/res{r}/{{id}}.json"))
                .collect()
        });
        report(&name, || {
            black_box(request(&config, black_box("/nothing/here")));
        });
    }

    for count in [10, 10_000] {
        let query: Vec<String> = (0..count).map(|i| format!("arg{i}=value{i}")).collect();
        let query = query.join("&");
        report(&format!("QueryArgs::parse, {count} args"), || {
            black_box(QueryArgs::parse(black_box(&query)));
        });
        report(&format!("QueryArgs::parse_form, {count} args"), || {
            black_box(QueryArgs::parse_form(black_box(&query)));
        });
    }

    for (label, pattern) in [
        (
            "compile '/' + 100,000 x '{'",
            format!("/{}", "{".repeat(100_000)),
        ),
        (
            "compile '/' + 10,000 x '{a}.'",
            format!("/{}", "{a}.".repeat(10_000)),
        ),
        (
            "compile /{a}.{b}.{c}.{d}.json1",
            "/{a}.{b}.{c}.{d}.json1".to_owned(),
        ),
    ] {
        report(label, || {
            black_box(PathPattern::compile(black_box(&pattern)));
        });
    }

    // Whole requests through `pipeline::begin` with the default `max_path_bytes` (8 KB): what
    // a client can make a worker do with Envoy's and Tollgate's defaults.
    let fill = |n: usize| format!("/{}x0123456789json", ".".repeat(n));
    let informed_8k = fill(8192 - 16);
    let query_10k: String = (0..10_000)
        .map(|i| format!("a{i}=1"))
        .collect::<Vec<_>>()
        .join("&");
    let query_8k: String = (0..1_100)
        .map(|i| format!("a{i}=1"))
        .collect::<Vec<_>>()
        .join("&");
    let one_service = routed_config(1, None, |_| pathological(1000, 0));
    let routed = routed_config(100, None, |s| pathological(100, s * 100));
    for (name, config, path) in [
        (
            "default config, 1000 rules, 64 KB dots (414)",
            &one_service,
            path_64k.clone(),
        ),
        (
            "default config, 1000 rules, 8 KB dots",
            &one_service,
            dots(8190),
        ),
        (
            "default config, 1000 rules, 8 KB informed",
            &one_service,
            informed_8k.clone(),
        ),
        (
            "default config, 100 x 100 routed, 64 KB dots (414)",
            &routed,
            path_64k.clone(),
        ),
        (
            "default config, 100 x 100 routed, 8 KB dots",
            &routed,
            dots(8190),
        ),
        (
            "default config, 100 x 100 routed, 8 KB informed",
            &routed,
            informed_8k.clone(),
        ),
        (
            "default config, query of 10,000 args (414)",
            &one_service,
            format!("/x?{query_10k}"),
        ),
        (
            "default config, query of 1,100 args (8 KB)",
            &one_service,
            format!("/x?{query_8k}"),
        ),
    ] {
        report(name, || {
            black_box(request(config, black_box(&path)));
        });
    }
}

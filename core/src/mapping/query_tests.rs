//! Tests of `query.rs`.
use super::query::{pieces, scan, ArgValue, QueryArgs};

#[test]
fn one_pass_scan_agrees_with_split() {
    for query in [
        "",
        "&",
        "a",
        "a=",
        "=a",
        "a=b=c&&d%41=%42&e",
        "%=x&x%&&=&",
        "a&b&",
    ] {
        let scanned: Vec<_> = scan(query)
            .map(|p| (p.index, &query[p.name], query.get(p.value)))
            .collect();
        let split: Vec<_> = pieces(query).collect();
        assert_eq!(scanned, split, "{query}");
    }
}

fn present(value: &str) -> Option<ArgValue> {
    Some(ArgValue::Present(value.to_owned()))
}

#[test]
fn parses_like_get_uri_args() {
    let args = QueryArgs::parse("a%20b=1%61+2&foo&bar=&=x&&c=3=4");
    let pairs: Vec<(&str, &ArgValue)> = args.iter().collect();
    assert_eq!(
        pairs,
        vec![
            ("a b", &ArgValue::Present("1a 2".into())),
            ("foo", &ArgValue::NoValue),
            ("bar", &ArgValue::Present(String::new())),
            ("c", &ArgValue::Present("3=4".into())),
        ]
    );
}

#[test]
fn last_value_wins_for_rules() {
    // t/apicast-mapping-rules.t TEST 1.
    let args = QueryArgs::parse("speed=3x&other=1&speed=2x");
    assert_eq!(args.last("speed").cloned(), present("2x"));
    assert_eq!(args.last("Speed").cloned(), None);
    assert_eq!(args.last("missing").cloned(), None);
    let args = QueryArgs::parse("flag=1&flag");
    assert_eq!(args.last("flag").cloned(), Some(ArgValue::NoValue));
}

#[test]
fn ambiguous_args() {
    let ambiguous = |query: &str| QueryArgs::parse(query).ambiguous("scope");
    assert!(!ambiguous(""));
    assert!(!ambiguous("scope=all"));
    assert!(!ambiguous("scope=all&scope=all&other=1&other=2"));
    assert!(!ambiguous("scope&scope"));
    assert!(
        !ambiguous("sc%6Fpe=all&scope=all"),
        "names are compared decoded"
    );
    assert!(ambiguous("scope=all&scope=mine"));
    assert!(ambiguous("scope=mine&x=1&scope=all"));
    assert!(ambiguous("scope=all&scope"));
    assert!(ambiguous("scope=all&scope="));
    assert!(ambiguous("Scope=all"));
    assert!(ambiguous("scope=all&SCOPE=all"));
    // The body after the query, as rules see them.
    let mut args = QueryArgs::parse("scope=mine");
    args.overlay(&QueryArgs::parse_form("scope=all"));
    assert!(args.ambiguous("scope"));
    let mut args = QueryArgs::parse("scope=all");
    args.overlay(&QueryArgs::parse_form("scope=all"));
    assert!(!args.ambiguous("scope"));
}

/// A rule's name that is not plain: another spelling of its key path is ambiguous, another
/// key path is not.
#[test]
fn ambiguous_nested_args() {
    let ambiguous = |query: &str| QueryArgs::parse(query).ambiguous("filter[status]");
    assert!(!ambiguous(
        "filter[status]=archived&filter[type]=x&filter=y"
    ));
    assert!(!ambiguous(
        "filter%5Bstatus%5D=archived&filter[status]=archived"
    ));
    assert!(ambiguous("%5Bfilter%5D%5Bstatus%5D=archived"));
    assert!(ambiguous("filter[status]=open&filter[status]x=archived"));
    assert!(ambiguous("x=1;[filter][status]=archived"));
    let ambiguous = |query: &str| QueryArgs::parse(query).ambiguous("report.type");
    assert!(ambiguous("report.type=summary&report_type=full"));
    assert!(ambiguous("report+type=full"));
    assert!(!ambiguous("report.type=full&report-type=x&reporttype=y"));
}

#[test]
fn encoded_args() {
    let args = QueryArgs::parse("a=1&b=tw%65nty&c%61=1&d=x+y&E=%41&f+g=1");
    let encoded: Vec<bool> = ["a", "b", "ca", "d", "e", "f+g", "zz"]
        .iter()
        .map(|n| args.encoded(n))
        .collect();
    assert_eq!(encoded, [false, true, true, true, true, true, false]);
}

#[test]
fn decodes_once() {
    let args = QueryArgs::parse("a=%2541&b=%zz");
    assert_eq!(args.last("a").cloned(), present("%41"));
    assert_eq!(args.last("b").cloned(), present("%zz"));
}

#[test]
fn body_overlays_uri() {
    // t/apicast-mapping-rules.t TEST 3/4: the body wins.
    let mut args = QueryArgs::parse("a=uri&b=uri");
    args.overlay(&QueryArgs::parse_form("a=body+x&c=body"));
    assert_eq!(args.last("a").cloned(), present("body x"));
    assert_eq!(args.last("b").cloned(), present("uri"));
    assert_eq!(args.last("c").cloned(), present("body"));
}

#[test]
fn credentials_use_case_insensitive_first_value() {
    let args = QueryArgs::parse("USER_KEY=a%26b+c&user_key=second");
    assert_eq!(args.first_ci("user_key"), Some("a&b+c"));
    assert_eq!(args.first_raw_ci("user_key"), Some("a%26b+c"));
    // `?user_key` without `=` is not found; a later valued one is.
    let args = QueryArgs::parse("user_key&user_key=v");
    assert_eq!(args.first_ci("user_key"), Some("v"));
    assert_eq!(args.first_raw_ci("user_key"), Some("v"));
    assert_eq!(QueryArgs::parse("user_key").first_ci("user_key"), None);
    // `?user_key=` is a present, empty credential.
    assert_eq!(QueryArgs::parse("user_key=").first_ci("user_key"), Some(""));
    // An encoded name is decoded for first_ci, but is a different arg for `$arg_`.
    let args = QueryArgs::parse("user%5Fkey=x");
    assert_eq!(args.first_ci("user_key"), Some("x"));
    assert_eq!(args.first_raw_ci("user_key"), None);
}

#[test]
fn credentials_fall_back_to_body_exact_name() {
    let mut args = QueryArgs::parse("other=1");
    args.overlay(&QueryArgs::parse_form("USER_KEY=no&user_key=a+b%21"));
    assert_eq!(args.first_ci("user_key"), Some("a b!"));
    assert_eq!(args.first_raw_ci("user_key"), Some("a b!"));
    assert_eq!(args.first_ci("User_Key"), None);

    let mut args = QueryArgs::parse("user_key=uri");
    args.overlay(&QueryArgs::parse_form("user_key=body"));
    assert_eq!(args.first_ci("user_key"), Some("uri"));
}

#[test]
fn only_first_hundred_pieces_reach_rules() {
    let mut query = "&".repeat(99);
    query.push_str("a=1&b=2");
    let args = QueryArgs::parse(&query);
    assert_eq!(args.last("a").cloned(), present("1"));
    assert_eq!(args.last("b").cloned(), None);
    // `$arg_` has no such limit.
    assert_eq!(args.first_ci("b"), Some("2"));
    assert_eq!(args.first_raw_ci("b"), Some("2"));

    let form = QueryArgs::parse_form(&query);
    assert_eq!(form.last("b").cloned(), None);
    assert_eq!(form.first_ci("b"), None);
    // What rules do not see is flagged (the pipeline refuses it when rules read args);
    // empty pieces beyond the limit hide nothing.
    assert!(args.truncated() && form.truncated());
    let mut overlaid = QueryArgs::parse("x=1");
    overlaid.overlay(&form);
    assert!(overlaid.truncated());
    assert!(!QueryArgs::parse(&format!("a=1{}", "&".repeat(200))).truncated());
    assert!(!QueryArgs::parse(&"&".repeat(99)).truncated());
}

#[test]
fn empty() {
    assert!(QueryArgs::parse("").is_empty());
    assert!(QueryArgs::parse("&&=x").is_empty());
    assert!(!QueryArgs::parse("a").is_empty());
    assert!(QueryArgs::default().is_empty());
}

//! The verbatim examples of §4.5 of the protocol spec, over real HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use common::*;
use mock_backend::periods::unix_from_civil;
use mock_backend::{App, MockBackend, Period, Service, State};

const PROLOG: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

fn example_abc_backend(app: App) -> MockBackend {
    let state = State::new()
        .service(
            Service::new("1001")
                .provider_key("provider_key7")
                .metric("hits", None),
        )
        .app(app);
    MockBackend::start(state).unwrap()
}

#[test]
fn example_a_authorized_two_limits() {
    let app = App::new("1001", "1003")
        .plan("plan1004")
        .limit("hits", Period::Day, 100)
        .limit("hits", Period::Month, 10000);
    let b = example_abc_backend(app);
    b.set_now(Some(unix_from_civil(2010, 5, 15, 0, 0, 0)));
    let r = post_form(
        b.port(),
        "/transactions.xml?provider_key=provider_key7",
        "transactions[0][app_id]=1003&transactions[0][usage][hits]=3&transactions[0][timestamp]=2010-05-14+12%3A00%3A00\
         &transactions[1][app_id]=1003&transactions[1][usage][hits]=2&transactions[1][timestamp]=2010-05-15+00%3A00%3A00+UTC",
    );
    assert_eq!(r.status, 202);
    assert!(b.report_errors().is_empty(), "{:?}", b.report_errors());
    let r = get(
        b.port(),
        "/transactions/authorize.xml?provider_key=provider_key7&app_id=1003",
    );
    assert_eq!(r.status, 200);
    let expected = format!(
        "{PROLOG}{}",
        r#"<status><authorized>true</authorized><plan>plan1004</plan><usage_reports><usage_report metric="hits" period="month"><period_start>2010-05-01 00:00:00 +0000</period_start><period_end>2010-06-01 00:00:00 +0000</period_end><max_value>10000</max_value><current_value>5</current_value></usage_report><usage_report metric="hits" period="day"><period_start>2010-05-15 00:00:00 +0000</period_start><period_end>2010-05-16 00:00:00 +0000</period_end><max_value>100</max_value><current_value>2</current_value></usage_report></usage_reports></status>"#
    );
    assert_eq!(r.body, expected);
    assert_eq!(r.header("content-length"), Some("576"));
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.3scale-v2.0+xml")
    );
}

#[test]
fn example_b_limits_exceeded_with_headers() {
    let app = App::new("1001", "1003")
        .plan("plan1004")
        .limit("hits", Period::Month, 10)
        .limit("hits", Period::Day, 4);
    let b = example_abc_backend(app);
    b.set_now(Some(unix_from_civil(2010, 5, 15, 12, 0, 0)));
    b.set_counter("1001", "1003", "hits", Period::Month, 5);
    b.set_counter("1001", "1003", "hits", Period::Day, 5);
    let r = get_with(
        b.port(),
        "/transactions/authorize.xml?provider_key=provider_key7&app_id=1003",
        "rejection_reason_header=1&limit_headers=1",
    );
    assert_eq!(r.status, 409);
    assert_eq!(r.header("3scale-rejection-reason"), Some("limits_exceeded"));
    assert_eq!(r.header("3scale-limit-remaining"), Some("0"));
    assert_eq!(r.header("3scale-limit-reset"), Some("43200"));
    assert_eq!(r.header("3scale-limit-max-value"), Some("4"));
    assert_eq!(r.header("content-length"), Some("630"));
    let expected = format!(
        "{PROLOG}{}",
        r#"<status><authorized>false</authorized><reason>usage limits are exceeded</reason><plan>plan1004</plan><usage_reports><usage_report metric="hits" period="month"><period_start>2010-05-01 00:00:00 +0000</period_start><period_end>2010-06-01 00:00:00 +0000</period_end><max_value>10</max_value><current_value>5</current_value></usage_report><usage_report metric="hits" period="day" exceeded="true"><period_start>2010-05-15 00:00:00 +0000</period_start><period_end>2010-05-16 00:00:00 +0000</period_end><max_value>4</max_value><current_value>5</current_value></usage_report></usage_reports></status>"#
    );
    assert_eq!(r.body, expected);
}

#[test]
fn example_c_eternity_limit() {
    let app = App::new("1001", "1003")
        .plan("plan1004")
        .limit("hits", Period::Month, 20)
        .limit("hits", Period::Eternity, 2);
    let b = example_abc_backend(app);
    b.set_now(Some(unix_from_civil(2010, 5, 15, 12, 0, 0)));
    b.add_usage("1001", "1003", "hits", 3);
    let r = get(
        b.port(),
        "/transactions/authorize.xml?provider_key=provider_key7&app_id=1003",
    );
    assert_eq!(r.status, 409);
    let expected = format!(
        "{PROLOG}{}",
        r#"<status><authorized>false</authorized><reason>usage limits are exceeded</reason><plan>plan1004</plan><usage_reports><usage_report metric="hits" period="eternity" exceeded="true"><max_value>2</max_value><current_value>3</current_value></usage_report><usage_report metric="hits" period="month"><period_start>2010-05-01 00:00:00 +0000</period_start><period_end>2010-06-01 00:00:00 +0000</period_end><max_value>20</max_value><current_value>3</current_value></usage_report></usage_reports></status>"#
    );
    assert_eq!(r.body, expected);
    // No rejection-reason / limit headers unless asked for.
    assert_eq!(r.header("3scale-rejection-reason"), None);
    assert_eq!(r.header("3scale-limit-remaining"), None);
}

fn example_d_state() -> State {
    State::new()
        .service(
            Service::new("1001")
                .token("tok")
                .metric("hits", None)
                .metric("get_foo", Some("hits"))
                .metric("post_bar", Some("hits"))
                .metric("other", None)
                .metric("disabled_m", None),
        )
        .app(
            App::new("1001", "app1")
                .app_keys(&["key1"])
                .plan("Basic")
                .disable_metric("disabled_m")
                .limit("get_foo", Period::Hour, 10)
                .limit("hits", Period::Minute, 5)
                .limit("hits", Period::Day, 100),
        )
}

const D_REPORTS: &str = r#"<usage_reports><usage_report metric="hits" period="day"><period_start>2026-11-23 00:00:00 +0000</period_start><period_end>2026-11-24 00:00:00 +0000</period_end><max_value>100</max_value><current_value>2</current_value></usage_report><usage_report metric="hits" period="minute"><period_start>2026-11-23 06:46:00 +0000</period_start><period_end>2026-11-23 06:47:00 +0000</period_end><max_value>5</max_value><current_value>2</current_value></usage_report><usage_report metric="get_foo" period="hour"><period_start>2026-11-23 06:00:00 +0000</period_start><period_end>2026-11-23 07:00:00 +0000</period_end><max_value>10</max_value><current_value>2</current_value></usage_report><usage_report metric="disabled_m" period="eternity"><max_value>0</max_value><current_value>0</current_value></usage_report></usage_reports>"#;

const D_URL: &str =
    "/transactions/authrep.xml?service_token=tok&service_id=1001&app_id=app1&app_key=key1&usage[get_foo]=2";

#[test]
fn example_d_richer_plan_authrep() {
    let b = MockBackend::start(example_d_state()).unwrap();
    b.set_now(Some(unix_from_civil(2026, 11, 23, 6, 46, 20)));
    let r = get(b.port(), D_URL);
    assert_eq!(r.status, 200);
    let expected = format!(
        "{PROLOG}<status><authorized>true</authorized><plan>Basic</plan>{D_REPORTS}</status>"
    );
    assert_eq!(r.body, expected);
    // The usage was applied immediately, and propagated to the parent.
    assert_eq!(b.counter("1001", "app1", "get_foo", Period::Hour), 2);
    assert_eq!(b.counter("1001", "app1", "hits", Period::Minute), 2);
    assert_eq!(b.counter("1001", "app1", "post_bar", Period::Minute), 0);
    assert_eq!(b.reported_hits("1001", "app1", "hits"), 2);
}

#[test]
fn example_d_with_hierarchy_and_app_keys() {
    let b = MockBackend::start(example_d_state()).unwrap();
    b.set_now(Some(unix_from_civil(2026, 11, 23, 6, 46, 20)));
    let r = get_with(b.port(), D_URL, "hierarchy=1&list_app_keys=1");
    assert_eq!(r.status, 200);
    let expected = format!(
        "{PROLOG}<status><authorized>true</authorized><plan>Basic</plan>{D_REPORTS}{}",
        r#"<app_keys app="app1" svc="1001"><key id="key1"/></app_keys><hierarchy><metric name="hits" children="get_foo post_bar"/><metric name="hits" children="get_foo post_bar"/><metric name="get_foo" children=""/><metric name="disabled_m" children=""/></hierarchy></status>"#
    );
    assert_eq!(r.body, expected);
}

#[test]
fn example_e_other_denials() {
    let state = example_d_state()
        .service(
            Service::new("2002")
                .token("tok")
                .referrer_filters_required(true)
                .metric("hits", None),
        )
        .app(
            App::new("2002", "ref")
                .plan("Ref")
                .referrer_filter("*.example.com"),
        )
        .service(Service::new("3003").token("tok").state_suspended())
        .app(App::new("3003", "x").plan("X"));
    let b = MockBackend::start(state).unwrap();
    let r = get_with(
        b.port(),
        "/transactions/authrep.xml?service_token=tok&service_id=1001&app_id=app1",
        "rejection_reason_header=1&limit_headers=1",
    );
    assert_eq!(r.status, 409);
    assert!(r.body.starts_with(&format!(
        "{PROLOG}<status><authorized>false</authorized><reason>application key is missing</reason><plan>Basic</plan><usage_reports>"
    )));
    assert_eq!(
        r.header("3scale-rejection-reason"),
        Some("application_key_invalid")
    );
    assert_eq!(
        r.header("3scale-limit-remaining"),
        None,
        "limit headers only on limits_exceeded"
    );

    let r = get(
        b.port(),
        "/transactions/authrep.xml?service_token=tok&service_id=2002&app_id=ref&referrer=evil.com",
    );
    assert_eq!(r.status, 409);
    assert_eq!(
        r.body,
        format!(
            r#"{PROLOG}<status><authorized>false</authorized><reason>referrer "evil.com" is not allowed</reason><plan>Ref</plan></status>"#
        )
    );
    let r = get(b.port(), "/transactions/authrep.xml?service_token=tok&service_id=2002&app_id=ref&referrer=www.example.com");
    assert_eq!(r.status, 200);

    let r = get(
        b.port(),
        "/transactions/authorize.xml?service_token=tok&service_id=3003&app_id=x",
    );
    assert_eq!(
        r.body,
        format!("{PROLOG}<status><authorized>false</authorized><reason>service is not active</reason><plan>X</plan></status>")
    );

    // Quirk: the reason is not escaped.
    let r = get(b.port(), "/transactions/authorize.xml?service_token=tok&service_id=1001&app_id=app1&app_key=bad%26key");
    assert!(r
        .body
        .contains(r#"<reason>application key "bad&key" is invalid</reason>"#));
}

#[test]
fn example_f_oauth() {
    let state = example_d_state()
        .service(
            Service::new("1003")
                .token("tok")
                .backend_version("oauth")
                .metric("hits", None),
        )
        .app(
            App::new("1003", "client3")
                .app_keys(&["secret3"])
                .plan("OIDC Plan")
                .redirect_url("https://example.com/cb?a=1&b=2")
                .limit("hits", Period::Hour, 50),
        );
    let b = MockBackend::start(state).unwrap();
    let now = unix_from_civil(2026, 11, 23, 6, 47, 45);
    b.set_now(Some(now));
    let opts = "hierarchy=1&list_app_keys=1&limit_headers=1&rejection_reason_header=1";
    let r = get_with(
        b.port(),
        "/transactions/oauth_authrep.xml?service_token=tok&service_id=1003&app_id=client3&usage[hits]=1",
        opts,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("3scale-limit-remaining"), Some("49"));
    assert_eq!(r.header("3scale-limit-reset"), Some("735"));
    assert_eq!(r.header("3scale-limit-max-value"), Some("50"));
    assert_eq!(r.header("3scale-rejection-reason"), None);
    assert_eq!(
        r.body,
        format!(
            "{PROLOG}{}",
            r#"<status><authorized>true</authorized><application><id>client3</id><key>secret3</key><redirect_url>https://example.com/cb?a=1&amp;b=2</redirect_url></application><plan>OIDC Plan</plan><usage_reports><usage_report metric="hits" period="hour"><period_start>2026-11-23 06:00:00 +0000</period_start><period_end>2026-11-23 07:00:00 +0000</period_end><max_value>50</max_value><current_value>1</current_value></usage_report></usage_reports><app_keys app="client3" svc="1003"><key id="secret3"/></app_keys><hierarchy><metric name="hits" children=""/></hierarchy></status>"#
        )
    );

    // Denied on a non-oauth service, <application> still present.
    let r = get_with(
        b.port(),
        "/transactions/oauth_authorize.xml?service_token=tok&service_id=1001&app_id=app1",
        opts,
    );
    assert_eq!(r.status, 409);
    assert_eq!(
        r.header("3scale-rejection-reason"),
        Some("oauth_not_enabled")
    );
    assert!(r.body.starts_with(&format!(
        "{PROLOG}<status><authorized>false</authorized><reason>oauth is not enabled</reason><application><id>app1</id><key>key1</key><redirect_url></redirect_url></application><plan>Basic</plan><usage_reports>"
    )));

    // redirect_uri mismatch, element renamed.
    let r = get_with(
        b.port(),
        "/transactions/oauth_authorize.xml?service_token=tok&service_id=1003&app_id=client3&redirect_uri=https://evil",
        opts,
    );
    assert_eq!(r.status, 409);
    assert_eq!(
        r.header("3scale-rejection-reason"),
        Some("redirect_uri_invalid")
    );
    assert!(r
        .body
        .contains(r#"<reason>redirect_uri "https://evil" is invalid</reason>"#));
    assert!(r
        .body
        .contains("<redirect_uri>https://example.com/cb?a=1&amp;b=2</redirect_uri>"));

    // OIDC on the plain endpoints: no <application>, OauthKey only checked when present.
    let r = get(
        b.port(),
        "/transactions/authorize.xml?service_token=tok&service_id=1003&app_id=client3",
    );
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("<application>"));
    let r = get(
        b.port(),
        "/transactions/authorize.xml?service_token=tok&service_id=1003&app_id=client3&app_key=nope",
    );
    assert!(r
        .body
        .contains(r#"<reason>application key "nope" is invalid</reason>"#));
    let r = get(
        b.port(),
        "/transactions/oauth_authorize.xml?service_token=tok&service_id=1003&user_key=x",
    );
    assert_eq!(r.status, 404);
    assert!(r.body.contains("application id is missing"));
}

#[test]
fn example_g_minimal_bodies() {
    let state = State::new()
        .service(Service::new("1").token("t"))
        .app(App::new("1", "a").plan("Ref"))
        .app(App::new("1", "b"))
        .app(App::new("1", "c").plan("Gold & <Co>"));
    let b = MockBackend::start(state).unwrap();
    let base = "/transactions/authorize.xml?service_token=t&service_id=1";
    assert_eq!(
        get(b.port(), &format!("{base}&app_id=a")).body,
        format!("{PROLOG}<status><authorized>true</authorized><plan>Ref</plan></status>")
    );
    assert_eq!(
        get_with(b.port(), &format!("{base}&app_id=b"), "hierarchy=1").body,
        format!("{PROLOG}<status><authorized>true</authorized><plan></plan><hierarchy></hierarchy></status>")
    );
    assert_eq!(
        get(b.port(), &format!("{base}&app_id=c")).body,
        format!("{PROLOG}<status><authorized>true</authorized><plan>Gold &amp; &lt;Co&gt;</plan></status>")
    );
}

#[test]
fn example_i_disabled_metric_no_body_headers() {
    let b = MockBackend::start(example_d_state()).unwrap();
    let r = get_with(
        b.port(),
        "/transactions/authrep.xml?service_token=tok&service_id=1001&app_id=app1&app_key=key1&usage[disabled_m]=1",
        "rejection_reason_header=1&limit_headers=1&no_body=1",
    );
    assert_eq!(r.status, 409);
    assert_eq!(r.body, "");
    assert_eq!(
        r.header_names(),
        vec![
            "content-type",
            "access-control-allow-origin",
            "access-control-expose-headers",
            "content-security-policy",
            "3scale-rejection-reason",
            "3scale-limit-remaining",
            "3scale-limit-reset",
            "3scale-limit-max-value",
            "x-content-type-options",
            "content-length",
        ]
    );
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("ETag, Link, 3scale-rejection-reason")
    );
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'self'")
    );
    assert_eq!(r.header("3scale-rejection-reason"), Some("limits_exceeded"));
    assert_eq!(r.header("3scale-limit-remaining"), Some("0"));
    assert_eq!(r.header("3scale-limit-reset"), Some("-1"));
    assert_eq!(r.header("3scale-limit-max-value"), Some("0"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("content-length"), Some("0"));
    assert_eq!(b.counter("1001", "app1", "disabled_m", Period::Eternity), 0);

    // Unknown app with no_body: error headers only.
    let r = get_with(
        b.port(),
        "/transactions/authrep.xml?service_token=tok&service_id=1001&app_id=nope",
        "no_body=1",
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.body, "");
    assert_eq!(
        r.header_names(),
        vec![
            "content-type",
            "access-control-allow-origin",
            "access-control-expose-headers",
            "x-content-type-options",
            "content-length",
        ]
    );
}

#[test]
fn disabled_metric_without_usage_gives_0_minus1_0() {
    let b = MockBackend::start(example_d_state()).unwrap();
    let r = get_with(
        b.port(),
        "/transactions/authorize.xml?service_token=tok&service_id=1001&app_id=app1&app_key=key1",
        "limit_headers=1",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("3scale-limit-remaining"), Some("0"));
    assert_eq!(r.header("3scale-limit-reset"), Some("-1"));
    assert_eq!(r.header("3scale-limit-max-value"), Some("0"));
    assert!(r.body.contains(r#"<usage_report metric="disabled_m" period="eternity"><max_value>0</max_value><current_value>0</current_value></usage_report>"#));

    // Usage of a metric without any limit → -1 / -1, no max-value.
    let r = get_with(
        b.port(),
        "/transactions/authorize.xml?service_token=tok&service_id=1001&app_id=app1&app_key=key1&usage[other]=1",
        "limit_headers=1",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("3scale-limit-remaining"), Some("-1"));
    assert_eq!(r.header("3scale-limit-reset"), Some("-1"));
    assert_eq!(r.header("3scale-limit-max-value"), None);
}

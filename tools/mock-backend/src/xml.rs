//! Byte-exact XML bodies (§4): authorization status and `<error>`.

use crate::periods::{format_time, Period};

const PROLOG: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// Builder-style text escaping: `&`, `<`, `>` only.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `<error code="CODE">MESSAGE</error>` with the prolog, no trailing newline.
pub fn error_body(code: &str, message: &str) -> String {
    format!(
        r#"{PROLOG}<error code="{code}">{}</error>"#,
        escape(message)
    )
}

/// One `<usage_report>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageReport {
    pub metric: String,
    pub period: Period,
    pub period_start: i64,
    pub period_end: i64,
    pub max_value: u64,
    pub current_value: u64,
    pub exceeded: bool,
}

/// The OAuth `<application>` section.
#[derive(Debug, Clone)]
pub struct ApplicationSection {
    pub id: String,
    pub key: String,
    /// `redirect_uri` when the request used that parameter name.
    pub redirect_element: &'static str,
    pub redirect_url: String,
}

/// Everything a `<status>` body may contain.
#[derive(Debug, Clone, Default)]
pub struct StatusBody {
    pub authorized: bool,
    pub reason: Option<String>,
    pub application: Option<ApplicationSection>,
    pub plan: String,
    pub usage_reports: Vec<UsageReport>,
    /// `(app_id, service_id, keys)` when `list_app_keys=1`.
    pub app_keys: Option<(String, String, Vec<String>)>,
    /// `(metric, direct children)` per usage report when `hierarchy=1`.
    pub hierarchy: Option<Vec<(String, Vec<String>)>>,
}

impl StatusBody {
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(256 + 240 * self.usage_reports.len());
        out.push_str(PROLOG);
        out.push_str("<status><authorized>");
        out.push_str(if self.authorized { "true" } else { "false" });
        out.push_str("</authorized>");
        if let Some(reason) = &self.reason {
            // Quirk: the reason is not escaped.
            out.push_str(&format!("<reason>{reason}</reason>"));
        }
        if let Some(app) = &self.application {
            let el = app.redirect_element;
            out.push_str(&format!(
                "<application><id>{}</id><key>{}</key><{el}>{}</{el}></application>",
                app.id,
                app.key,
                escape(&app.redirect_url)
            ));
        }
        out.push_str(&format!("<plan>{}</plan>", escape(&self.plan)));
        if !self.usage_reports.is_empty() {
            out.push_str("<usage_reports>");
            for r in &self.usage_reports {
                render_report(&mut out, r);
            }
            out.push_str("</usage_reports>");
        }
        if let Some((app, svc, keys)) = &self.app_keys {
            out.push_str(&format!(r#"<app_keys app="{app}" svc="{svc}">"#));
            for k in keys.iter().take(256) {
                out.push_str(&format!(r#"<key id="{k}"/>"#));
            }
            out.push_str("</app_keys>");
        }
        if let Some(metrics) = &self.hierarchy {
            out.push_str("<hierarchy>");
            for (name, children) in metrics {
                out.push_str(&format!(
                    r#"<metric name="{name}" children="{}"/>"#,
                    children.join(" ")
                ));
            }
            out.push_str("</hierarchy>");
        }
        out.push_str("</status>");
        out
    }
}

fn render_report(out: &mut String, r: &UsageReport) {
    out.push_str(&format!(
        r#"<usage_report metric="{}" period="{}"{}>"#,
        r.metric,
        r.period,
        if r.exceeded {
            r#" exceeded="true""#
        } else {
            ""
        }
    ));
    if r.period != Period::Eternity {
        out.push_str(&format!(
            "<period_start>{}</period_start><period_end>{}</period_end>",
            format_time(r.period_start),
            format_time(r.period_end)
        ));
    }
    out.push_str(&format!(
        "<max_value>{}</max_value><current_value>{}</current_value></usage_report>",
        r.max_value, r.current_value
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::periods::unix_from_civil;

    #[test]
    fn error_is_escaped() {
        assert_eq!(
            error_body("metric_invalid", r#"metric "a&b" is invalid"#),
            r#"<?xml version="1.0" encoding="UTF-8"?><error code="metric_invalid">metric "a&amp;b" is invalid</error>"#
        );
    }

    #[test]
    fn example_b_verbatim() {
        let now = unix_from_civil(2010, 5, 15, 12, 0, 0);
        let body = StatusBody {
            authorized: false,
            reason: Some("usage limits are exceeded".into()),
            plan: "plan1004".into(),
            usage_reports: vec![
                UsageReport {
                    metric: "hits".into(),
                    period: Period::Month,
                    period_start: Period::Month.start(now),
                    period_end: Period::Month.end(now),
                    max_value: 10,
                    current_value: 5,
                    exceeded: false,
                },
                UsageReport {
                    metric: "hits".into(),
                    period: Period::Day,
                    period_start: Period::Day.start(now),
                    period_end: Period::Day.end(now),
                    max_value: 4,
                    current_value: 5,
                    exceeded: true,
                },
            ],
            ..Default::default()
        };
        let expected = r#"<?xml version="1.0" encoding="UTF-8"?><status><authorized>false</authorized><reason>usage limits are exceeded</reason><plan>plan1004</plan><usage_reports><usage_report metric="hits" period="month"><period_start>2010-05-01 00:00:00 +0000</period_start><period_end>2010-06-01 00:00:00 +0000</period_end><max_value>10</max_value><current_value>5</current_value></usage_report><usage_report metric="hits" period="day" exceeded="true"><period_start>2010-05-15 00:00:00 +0000</period_start><period_end>2010-05-16 00:00:00 +0000</period_end><max_value>4</max_value><current_value>5</current_value></usage_report></usage_reports></status>"#;
        assert_eq!(body.render(), expected);
        assert_eq!(expected.len(), 630);
    }

    #[test]
    fn minimal_bodies() {
        let b = StatusBody {
            authorized: true,
            plan: "Gold & <Co>".into(),
            ..Default::default()
        };
        assert_eq!(
            b.render(),
            r#"<?xml version="1.0" encoding="UTF-8"?><status><authorized>true</authorized><plan>Gold &amp; &lt;Co&gt;</plan></status>"#
        );
        let b = StatusBody {
            authorized: true,
            hierarchy: Some(vec![]),
            ..Default::default()
        };
        assert_eq!(
            b.render(),
            r#"<?xml version="1.0" encoding="UTF-8"?><status><authorized>true</authorized><plan></plan><hierarchy></hierarchy></status>"#
        );
    }
}

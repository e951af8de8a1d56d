//! Typos of the fields that decide what gets through. Service, `proxy` and rule objects ignore
//! the fields Tollgate does not read (porta writes dozens, reference §2.3), so a
//! `policy_chains`, a `Delta` or a `credential_location` was dropped with what it asked for:
//! the chain's `ip_check`, the rule's metric and its limits, the location (found by an audit,
//! 2026-12-06). A field that is not one of these but is one edit away from one (ignoring case,
//! `_`, dashes and characters that show as nothing), another tool's name for one, or a field
//! of `proxy` written beside it (or the other way round), is refused. None of porta's own fields is any of these (tested below), so
//! no service 3scale System returns is skipped for it.

use super::json::{error, Obj, Result};

/// The service-level fields that change who gets through.
const SERVICE_FIELDS: [&str; 5] = [
    "proxy",
    "authentication",
    "backend_version",
    "backend_authentication_type",
    "backend_authentication_value",
];

/// The `proxy` fields that change who gets through, or where the call goes.
const PROXY_FIELDS: [&str; 14] = [
    "policy_chain",
    "proxy_rules",
    "hosts",
    "credentials_location",
    "auth_user_key",
    "auth_app_id",
    "auth_app_key",
    "api_backend",
    "secret_token",
    "hostname_rewrite",
    "authentication_method",
    "oidc_issuer_endpoint",
    "jwt_claim_with_client_id",
    "jwt_claim_with_client_id_type",
];

/// A mapping rule's fields, its access fields included (`auth::grants` also refuses some
/// words for them: `scope`, `grants`).
const RULE_FIELDS: [&str; 9] = [
    "http_method",
    "pattern",
    "metric_system_name",
    "delta",
    "last",
    "querystring_parameters",
    "namespace",
    "action",
    "roles",
];

/// Other names for a field: porta's Admin API (`policies_config`, `mapping_rules`), the
/// 3scale operator's Product (`policies`, `mappingRules`), a short hand (`auth`). Refused
/// unless the field itself is there; in `proxy` or beside it alike (the operator's Product
/// holds them at the service's level). A local service's `mappingRules` was dropped with its
/// rules' grants, every path then open to every key (found by an audit, 2026-12-07).
const ALIASES: [(&str, &str); 5] = [
    ("policies_config", "policy_chain"),
    ("policies", "policy_chain"),
    ("mapping_rules", "proxy_rules"),
    ("mappingRules", "proxy_rules"),
    ("auth", "authentication"),
];

/// Refuses near misses in a service object and its `proxy`, `proxy` fields written at the
/// service level, and service fields written in `proxy` (APIcast reads each in its place).
pub fn check_service(service: &Obj, proxy: &Obj) -> Result<()> {
    refuse(service, &SERVICE_FIELDS, &PROXY_FIELDS, "in `proxy`")?;
    refuse(proxy, &PROXY_FIELDS, &SERVICE_FIELDS, "beside `proxy`")
}

/// Refuses near misses of a mapping rule's fields.
pub fn check_rule(rule: &Obj) -> Result<()> {
    refuse(rule, &RULE_FIELDS, &[], "")
}

/// Refuses a field near one of `fields` (or another name for one absent), or equal or near
/// one of `other` (or another name for one), the fields read `there`.
fn refuse(obj: &Obj, fields: &[&str], other: &[&str], there: &str) -> Result<()> {
    let mut buf = [' '; 32];
    for key in obj.keys() {
        // A key's letters once, not once per field (they were a third of compiling a System
        // answer); and the object's keys searched only for another tool's name.
        let a = letters(key, &mut buf);
        let aliased = ALIASES.iter().any(|(k, _)| *k == key);
        let alias = |f: &str| aliased && ALIASES.contains(&(key, f)) && !obj.keys().any(|k| k == f);
        let (field, place) =
            match (other.iter()).find(|f| key == **f || near_letters(key, a, f) || alias(f)) {
                Some(f) => (f, there),
                None => match fields.iter().find(|f| near_letters(key, a, f) || alias(f)) {
                    Some(f) => (f, "here"),
                    None => continue,
                },
            };
        // The path shows an invisible character as nothing, a look-alike as the letter.
        let written = match key.bytes().all(|b| b.is_ascii_graphic()) {
            true => "",
            false => " (its name holds a character other than visible ASCII)",
        };
        return Err(error(
            &obj.child_path(key),
            format!("unknown field{written}: `{field}` is read {place}; this field would be ignored, with what it asks for"),
        ));
    }
    Ok(())
}

/// `key` is not `field` but is it for case, `_`, dashes and invisible characters, or (for fields of 5 letters or more)
/// but for one letter added, removed or changed, or two next to each other swapped.
#[cfg(test)]
fn near(key: &str, field: &str) -> bool {
    let mut buf = [' '; 32];
    near_letters(key, letters(key, &mut buf), field)
}

/// `near`, given `key`'s letters `a`. `field` is one of the fields above, lower-case ASCII
/// letters and `_`, a letter at each end (tested): its letters are its bytes but `_`, so most
/// fields are passed over before any is derived, on a first and a last letter that both
/// differ (more than one edit, for a field of 5 letters or more), or on their count.
fn near_letters(key: &str, a: &[char], field: &str) -> bool {
    let same = |x: Option<&char>, y: Option<u8>| x.copied() == y.map(char::from);
    if !same(a.first(), field.bytes().next()) && !same(a.last(), field.bytes().last()) {
        return false;
    }
    let count = field.bytes().filter(|b| *b != b'_').count();
    if a.is_empty() || a.len().abs_diff(count) > 1 || key == field {
        return false;
    }
    let mut b_buf = [' '; 32];
    let b = letters(field, &mut b_buf);
    if a == b {
        return true;
    }
    let (la, lb) = (a.len(), b.len());
    if lb < 5 {
        return false;
    }
    // What the two share at the start and at the end leaves one letter, or two swapped.
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let swapped = || {
        let pair = |s: &[char]| (s.get(prefix).copied(), s.get(prefix + 1).copied());
        let ((a1, a2), (b1, b2)) = (pair(a), pair(b));
        a1 == b2 && a2 == b1
    };
    prefix + suffix + 1 >= la.max(lb) || (la == lb && prefix + suffix + 2 == la && swapped())
}

/// A field name's letters, lower-cased, in `buf` (a longer name is cut: none of the fields
/// checked is that long). A character is one letter, whatever its UTF-8 length (`pólicy_chain`
/// is one letter changed); `_`, dashes, whitespace, control and zero-width characters are
/// none, and full-width forms are their ASCII letter: a `policy_chain` pasted with a
/// zero-width or no-break space, or typed with a word processor's hyphen, was dropped with its
/// `ip_check` (found by an audit, 2026-12-07: bytes were counted). Out of line: one copy for
/// its callers (module size).
#[inline(never)]
fn letters<'b>(name: &str, buf: &'b mut [char; 32]) -> &'b [char] {
    let invisible = |c: char| {
        matches!(c, '\0'..=' ' | '_' | '-' | '\u{7f}'..='\u{a0}' | '\u{ad}' | '\u{1680}')
            || matches!(c, '\u{2000}'..='\u{2015}' | '\u{2028}'..='\u{202f}' | '\u{205f}'..='\u{2064}')
            || matches!(
                c,
                '\u{2212}'
                    | '\u{3000}'
                    | '\u{fe58}'
                    | '\u{fe63}'
                    | '\u{feff}'
                    | '\u{ff0d}'
                    | '\u{ff3f}'
            )
    };
    let mut n = 0;
    for c in name.chars().filter(|c| !invisible(*c)) {
        // Full-width forms (U+FF01 to U+FF5E) are ASCII's `!` to `~`, 0xFEE0 above them.
        let c = match c {
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(u32::from(c) - 0xfee0).unwrap_or(c),
            c => c,
        };
        if let Some(slot) = buf.get_mut(n) {
            *slot = c.to_ascii_lowercase();
            n += 1;
        }
    }
    buf.get(..n).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map, Value};

    /// Porta's service, `proxy` and rule fields (reference §2.3, older versions' too).
    const PORTA_SERVICE: &str = "id account_id name description txt_support created_at updated_at logo_file_name logo_content_type logo_file_size state intentions_required terms buyers_manage_apps buyers_manage_keys custom_keys_enabled buyer_plan_change_permission buyer_can_select_plan notification_settings default_application_plan_id default_service_plan_id tenant_id system_name backend_version mandatory_app_key buyer_key_regenerate_enabled support_email referrer_filters_required deployment_option kubernetes_service_link proxiable? backend_authentication_type backend_authentication_value proxy act_as_product txt_api oneline_description draft_name end_user_registration_required tech_support_email admin_support_email credit_card_support_email infobar display_provider_keys txt_features default_end_user_plan_id authentication";
    const PORTA_PROXY: &str = "id tenant_id service_id endpoint deployed_at auth_app_key auth_app_id auth_user_key credentials_location error_auth_failed error_auth_missing created_at updated_at error_status_auth_failed error_headers_auth_failed error_status_auth_missing error_headers_auth_missing error_no_match error_status_no_match error_headers_no_match secret_token hostname_rewrite oauth_login_url sandbox_endpoint api_test_path api_test_success apicast_configuration_driven oidc_issuer_endpoint lock_version authentication_method oidc_issuer_type error_headers_limits_exceeded error_status_limits_exceeded error_limits_exceeded staging_domain production_domain hostname_rewrite_for_sandbox endpoint_port api_backend valid? service_backend_version hosts backend policy_chain jwt_claim_with_client_id jwt_claim_with_client_id_type proxy_rules policies_config";
    const PORTA_RULE: &str = "id proxy_id http_method pattern metric_id metric_system_name delta tenant_id created_at updated_at redirect_url position last owner_id owner_type parameters querystring_parameters namespace action roles";

    fn object(keys: &[&str]) -> Value {
        Value::Object(
            keys.iter()
                .map(|k| (k.to_string(), json!(1)))
                .collect::<Map<_, _>>(),
        )
    }

    fn check(service: &[&str], proxy: &[&str], rule: &[&str]) -> Result<()> {
        let (s, p, r) = (object(service), object(proxy), object(rule));
        let (s, p) = (Obj::new("s", &s)?, Obj::new("s.proxy", &p)?);
        check_service(&s, &p)?;
        check_rule(&Obj::new("r", &r)?)
    }

    #[test]
    fn porta_fields_are_never_refused() {
        let words = |s: &'static str| s.split(' ').collect::<Vec<_>>();
        assert_eq!(
            check(
                &words(PORTA_SERVICE),
                &words(PORTA_PROXY),
                &words(PORTA_RULE)
            ),
            Ok(())
        );
    }

    /// (where, the field, the field meant): each refused, naming it.
    const REFUSED: [(&str, &str, &str); 26] = [
        ("proxy", "policy_chains", "policy_chain"),
        ("proxy", "policyChain", "policy_chain"),
        ("proxy", "Policy_chain", "policy_chain"),
        ("proxy", "polciy_chain", "policy_chain"),
        ("proxy", "policies_config", "policy_chain"),
        ("proxy", "policies", "policy_chain"),
        ("proxy", "credential_location", "credentials_location"),
        ("proxy", "host", "hosts"),
        ("proxy", "hsots", "hosts"),
        ("proxy", "proxy_rule", "proxy_rules"),
        ("proxy", "secret-token", "secret_token"),
        ("proxy", "authentication", "authentication"),
        ("proxy", "backend_version", "backend_version"),
        ("service", "policy_chain", "policy_chain"),
        ("service", "proxy_rules", "proxy_rules"),
        ("service", "policy_chains", "policy_chain"),
        ("service", "Authentication", "authentication"),
        ("service", "auth", "authentication"),
        ("service", "backend-version", "backend_version"),
        ("rule", "Delta", "delta"),
        ("rule", "deltas", "delta"),
        ("rule", "detla", "delta"),
        ("rule", "HTTP_method", "http_method"),
        ("rule", "querystring_parameter", "querystring_parameters"),
        ("rule", "Last", "last"),
        ("rule", "rols", "roles"),
    ];

    #[test]
    fn near_misses_of_fields_that_block_traffic_are_refused() {
        for (place, key, meant) in REFUSED {
            let keys = [key];
            let refused = match place {
                "service" => check(&keys, &[], &[]),
                "proxy" => check(&[], &keys, &[]),
                _ => check(&[], &[], &keys),
            };
            let refused = refused.unwrap_err();
            let path = match place {
                "service" => format!("s.{key}"),
                "proxy" => format!("s.proxy.{key}"),
                _ => format!("r.{key}"),
            };
            assert_eq!(refused.path, path);
            assert!(refused.message.contains(&format!("`{meant}`")), "{refused}");
        }
        for rule in ["namespac", "acton", "name_space", "rolse"] {
            assert!(check(&[], &[], &[rule]).is_err(), "{rule}");
        }
        // Another tool's name beside the field itself: the field is read.
        assert_eq!(
            check(&[], &["policies_config", "policy_chain"], &[]),
            Ok(())
        );
        // Far from every field read: ignored, as APIcast ignores it.
        assert_eq!(
            check(&["notes"], &["comment"], &["increment", "lst"]),
            Ok(())
        );
    }

    /// [`near_letters`] reads a field's letters from its bytes.
    #[test]
    fn fields_are_lower_case_ascii_and_underscores() {
        let aliased = ALIASES.iter().map(|(_, f)| f);
        for field in SERVICE_FIELDS
            .iter()
            .chain(&PROXY_FIELDS)
            .chain(&RULE_FIELDS)
            .chain(aliased)
        {
            assert!(
                field.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{field}"
            );
            assert!(!field.starts_with('_') && !field.ends_with('_'), "{field}");
        }
    }

    /// `near` as it was before each key's letters were derived once (2026-12-07).
    fn near_before(key: &str, field: &str) -> bool {
        let (mut a_buf, mut b_buf) = ([' '; 32], [' '; 32]);
        let (a, b) = (letters(key, &mut a_buf), letters(field, &mut b_buf));
        if key == field || a.is_empty() {
            return false;
        }
        if a == b {
            return true;
        }
        let (la, lb) = (a.len(), b.len());
        if lb < 5 || la.abs_diff(lb) > 1 {
            return false;
        }
        let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
        let suffix = (a.iter().rev().zip(b.iter().rev()))
            .take_while(|(x, y)| x == y)
            .count();
        let pair = |s: &[char]| (s.get(prefix).copied(), s.get(prefix + 1).copied());
        let ((a1, a2), (b1, b2)) = (pair(a), pair(b));
        prefix + suffix + 1 >= la.max(lb)
            || (la == lb && prefix + suffix + 2 == la && a1 == b2 && a2 == b1)
    }

    /// Every field and porta's names, each with every one- and two-character edit: `near`
    /// decides as it did.
    #[test]
    fn near_decides_as_before() {
        let aliased = ALIASES.iter().map(|(a, _)| a);
        let fields: Vec<&str> = (SERVICE_FIELDS.iter().chain(&PROXY_FIELDS))
            .chain(&RULE_FIELDS)
            .copied()
            .collect();
        let porta = [PORTA_SERVICE, PORTA_PROXY, PORTA_RULE].map(|s| s.split(' '));
        let words: Vec<&str> = (fields.iter().copied().chain(aliased.copied()))
            .chain(porta.into_iter().flatten())
            .collect();
        let mut keys: Vec<String> = vec![String::new(), "_".into(), "x".into()];
        for word in &words {
            let chars: Vec<char> = word.chars().collect();
            let with = |i: usize, n: usize, by: &str| {
                let (head, tail) = (chars.iter().take(i), chars.iter().skip(i + n));
                head.copied()
                    .chain(by.chars())
                    .chain(tail.copied())
                    .collect::<String>()
            };
            for i in 0..=chars.len() {
                for by in ["", "x", "_", "E", "\u{e9}", "\u{200b}", "\u{ff41}", "ab"] {
                    keys.extend([with(i, 0, by), with(i, 1, by), with(i, 2, by)]);
                }
                if let (Some(x), Some(y)) = (chars.get(i), chars.get(i + 1)) {
                    keys.push(with(i, 2, &format!("{y}{x}")));
                }
            }
            keys.push(word.to_uppercase());
        }
        for key in &keys {
            for field in &fields {
                assert_eq!(near(key, field), near_before(key, field), "{key:?} {field}");
            }
        }
    }

    #[test]
    fn one_edit_means_one() {
        assert!(near("deltas", "delta"));
        assert!(near("detla", "delta"));
        assert!(!near("dtlea", "delta"));
        assert!(near("hostz", "hosts"));
        assert!(near("osts", "hosts"));
        assert!(!near("ost", "hosts"));
        assert!(!near("hosts", "hosts"));
        assert!(near("HOSTS", "hosts"));
        assert!(near("lasT", "last"));
        assert!(!near("lst", "last"));
        assert!(!near("_", "last"));
        assert!(near("polciy_chain", "policy_chain"));
        assert!(!near("plociy_chain", "policy_chain"));
    }

    /// A character is one letter, and what shows as nothing or as a dash is none: each of
    /// these was ignored with the chain it held (bytes were counted; an audit, 2026-12-07).
    #[test]
    fn invisible_and_non_ascii_characters_do_not_hide_a_near_miss() {
        for key in [
            "policy_chain\u{200b}",
            "policy_chain\u{a0}",
            "\u{feff}policy_chain",
            "policy_chain\u{3000}",
            "policy\u{2010}chain",
            "policy_chain\u{200d}\u{200b}\u{2060}",
            "policy_chain\0\0",
            "p\u{f3}licy_chain",
            "\u{440}olicy_chain",
            "policy_ch\u{430}in",
            "\u{ff50}\u{ff4f}\u{ff4c}\u{ff49}\u{ff43}\u{ff59}\u{ff3f}\u{ff43}\u{ff48}\u{ff41}\u{ff49}\u{ff4e}",
        ] {
            assert!(near(key, "policy_chain"), "{key:?}");
            let refused = check(&[], &[key], &[]).unwrap_err();
            assert!(refused.message.contains("`policy_chain`"), "{refused}");
            assert!(refused.message.contains("other than visible ASCII"), "{refused}");
        }
        assert!(near("d\u{e9}lta", "delta"));
        assert!(near("namespace\u{200b}", "namespace"));
        assert!(!near("p\u{f3}l\u{ed}cy_chain", "policy_chain"));
        assert!(!near("\u{200b}", "hosts"));
        let refused = check(&[], &["policy_chain\u{200b}"], &[]).unwrap_err();
        assert!(
            (refused.message).starts_with("unknown field (its name holds a character"),
            "{refused}"
        );
        assert_eq!(refused.path, "s.proxy.policy_chain\u{200b}");
    }

    /// Other tools' names for the chain and the rules, in any case, in `proxy` or beside it.
    #[test]
    fn other_names_for_the_rules_and_the_chain_are_refused_where_read_or_not() {
        for (place, key, meant) in [
            ("proxy", "mapping_rules", "proxy_rules"),
            ("proxy", "mappingRules", "proxy_rules"),
            ("service", "mapping_rules", "proxy_rules"),
            ("service", "mappingRules", "proxy_rules"),
            ("service", "policies", "policy_chain"),
            ("proxy", "auth", "authentication"),
        ] {
            let refused = match place {
                "service" => check(&[key], &[], &[]),
                _ => check(&[], &[key], &[]),
            };
            let refused = refused.unwrap_err();
            assert!(refused.path.ends_with(key), "{refused}");
            assert!(refused.message.contains(&format!("`{meant}`")), "{refused}");
        }
        // Beside the field itself, the field is read.
        assert_eq!(check(&[], &["mapping_rules", "proxy_rules"], &[]), Ok(()));
    }
}

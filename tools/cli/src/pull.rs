//! `tollgate pull`: the configuration history of an account, from 3scale System, into files
//! (`DIR/<service id>/<version>.json`), with the filter's own wire
//! (`tollgate_core::config::system`): the same paths, the same `Authorization: Basic` header,
//! the same reading of answers. The token is read from a file; it never appears in a URL
//! or in anything printed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use tollgate_core::config::system::{
    account_page_path, basic_authorization, parse_answer, service_config_path, service_index_path,
    Environment, FetchedService,
};

/// A page is not expected above this (500 services of up to porta's 2 MB content each would
/// be 1 GB; real pages are a few MB).
const MAX_ANSWER_BYTES: u64 = 256 << 20;
/// 500 pages of 500: a quarter of a million services. Beyond that the portal is looping.
const MAX_PAGES: u32 = 500;

pub struct Pull {
    /// `scheme://host[:port]`, without a trailing slash.
    pub portal: String,
    pub token: String,
    pub environment: Environment,
    pub out: PathBuf,
    pub all_versions: bool,
    pub services: Option<Vec<String>>,
    pub timeout: Duration,
}

/// What a pull did: lines for stdout, problems for stderr (each one makes the exit status 1).
#[derive(Default)]
pub struct Report {
    pub written: Vec<String>,
    pub problems: Vec<String>,
}

/// Checks `--portal`: an http(s) origin, no credentials in it, no path beyond `/`.
pub fn portal(url: &str) -> Result<String, String> {
    let lower = url.to_ascii_lowercase();
    let rest = match (
        lower.strip_prefix("https://"),
        lower.strip_prefix("http://"),
    ) {
        (Some(_), _) => url.get("https://".len()..),
        (None, Some(_)) => url.get("http://".len()..),
        _ => None,
    }
    .ok_or_else(|| format!("--portal expects an http(s):// URL, not {url}"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("--portal must not carry credentials: put the token in --token-file".into());
    }
    if authority.is_empty() {
        return Err(format!("no host in --portal {url}"));
    }
    let tail = rest.get(authority.len()..).unwrap_or_default();
    if !tail.is_empty() && tail != "/" {
        return Err(format!(
            "--portal is the Admin Portal's origin (https://ACCOUNT-admin.3scale.net), without a path or query: {url}"
        ));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// The token in a file (or stdin), without surrounding whitespace.
pub fn token(text: &str) -> Result<String, String> {
    let token = text.trim();
    if token.is_empty() {
        return Err("the token file is empty".into());
    }
    if token.chars().any(char::is_whitespace) {
        return Err("the token file holds more than one word".into());
    }
    Ok(token.to_string())
}

struct Client {
    agent: ureq::Agent,
    portal: String,
    authorization: String,
    token: String,
}

impl Client {
    /// `GET` a path; the body of a 200, or an error naming the path and the status.
    fn get(&self, path: &str) -> Result<Vec<u8>, String> {
        let url = format!("{}{path}", self.portal);
        let mut response = self
            .agent
            .get(&url)
            .header("Authorization", &self.authorization)
            .header("Accept", "application/json")
            .call()
            .map_err(|e| self.scrub(&format!("GET {path}: {e}")))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
            .map_err(|e| self.scrub(&format!("GET {path}: reading the answer: {e}")))?;
        if status != 200 {
            let text = String::from_utf8_lossy(&body);
            let excerpt: String = text.chars().take(200).collect();
            let message = format!("GET {path}: HTTP {status} {}", excerpt.trim());
            return Err(self.scrub(message.trim_end()));
        }
        Ok(body)
    }

    /// Never print the token, even if an answer echoes it.
    fn scrub(&self, text: &str) -> String {
        text.replace(&self.token, "[token]")
    }
}

/// Runs a pull; the `Err` is a failure before anything could be fetched.
pub fn run(pull: &Pull) -> Result<Report, String> {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(pull.timeout))
        .http_status_as_error(false)
        // As APIcast: a redirect is an answer, not followed (and the token never travels on).
        .max_redirects(0)
        .max_redirects_will_error(false)
        .user_agent(format!("tollgate/{}", env!("CARGO_PKG_VERSION")))
        // The operating system's trust store, as curl uses (a private CA for a self-managed
        // portal is installed there), rather than only Mozilla's list.
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                .build(),
        )
        .build();
    let client = Client {
        agent: ureq::Agent::new_with_config(config),
        portal: pull.portal.clone(),
        authorization: basic_authorization(&pull.token),
        token: pull.token.clone(),
    };
    let mut report = Report::default();
    let env = pull.environment;
    match (&pull.services, pull.all_versions) {
        (Some(ids), false) => {
            for id in ids {
                fetch_into(
                    &client,
                    &service_config_path(id, env, None),
                    Some(id),
                    pull,
                    &mut report,
                );
            }
        }
        (None, false) => {
            for service in account(&client, env, &mut report)? {
                save(&service, None, pull, &mut report);
            }
        }
        (ids, true) => {
            let ids = match ids {
                Some(ids) => ids.clone(),
                None => {
                    let mut ids = Vec::new();
                    for service in account(&client, env, &mut report)? {
                        match service.id {
                            Some(id) if is_service_id(&id) => ids.push(id),
                            _ => report.problems.push(format!(
                                "{}.id: not a 3scale service id (skipped)",
                                service.path
                            )),
                        }
                    }
                    ids
                }
            };
            for id in &ids {
                fetch_into(
                    &client,
                    &service_index_path(id, env),
                    Some(id),
                    pull,
                    &mut report,
                );
            }
        }
    }
    Ok(report)
}

/// Every page of the account list, as the filter reads it. A failed page fails the pull.
fn account(
    client: &Client,
    env: Environment,
    report: &mut Report,
) -> Result<Vec<FetchedService>, String> {
    let mut services = Vec::new();
    let mut previous: Option<Vec<Option<String>>> = None;
    for page in 1..=MAX_PAGES {
        let path = account_page_path(env, page);
        let body = client.get(&path)?;
        let fetched = parse_answer(&body).map_err(|e| format!("GET {path}: {e}"))?;
        report.problems.extend(
            fetched
                .errors
                .iter()
                .map(|e| format!("GET {path}: {e} (skipped)")),
        );
        let ids: Vec<Option<String>> = fetched.services.iter().map(|s| s.id.clone()).collect();
        if fetched.more && previous.as_ref() == Some(&ids) {
            return Err(format!(
                "GET {path}: the portal answered the previous page again (it ignores `page`)"
            ));
        }
        previous = Some(ids);
        services.extend(fetched.services);
        if !fetched.more {
            return Ok(services);
        }
    }
    Err(format!("more than {MAX_PAGES} pages of services: stopped"))
}

/// One per-service request (latest or index) into files; a failure is a problem, not the end.
fn fetch_into(client: &Client, path: &str, id: Option<&str>, pull: &Pull, report: &mut Report) {
    let fetched = match client
        .get(path)
        .and_then(|body| parse_answer(&body).map_err(|e| format!("GET {path}: {e}")))
    {
        Ok(fetched) => fetched,
        Err(e) => return report.problems.push(e),
    };
    report.problems.extend(
        fetched
            .errors
            .iter()
            .map(|e| format!("GET {path}: {e} (skipped)")),
    );
    for service in &fetched.services {
        save(service, id, pull, report);
    }
}

/// Writes `DIR/<id>/<version>.json`: the portal's envelope (`version`, `environment`,
/// `content`), which `tollgate check` and `tollgate diff` read.
fn save(service: &FetchedService, requested: Option<&str>, pull: &Pull, report: &mut Report) {
    let id = match (service.id.as_deref(), requested) {
        (Some(id), Some(asked)) if id != asked => {
            return report.problems.push(format!(
                "{}: service {id} where {asked} was asked for (skipped)",
                service.path
            ))
        }
        (Some(id), _) | (None, Some(id)) => id,
        (None, None) => {
            return report
                .problems
                .push(format!("{}: no service id (skipped)", service.path))
        }
    };
    // The id becomes a directory name: digits only, as 3scale ids are.
    if !is_service_id(id) {
        return report.problems.push(format!(
            "{}.id: {id:?} is not a 3scale service id (skipped)",
            service.path
        ));
    }
    let envelope = json!({"proxy_config": {
        "version": service.version,
        "environment": service.environment,
        "content": service.content,
    }});
    let dir = pull.out.join(id);
    let file = dir.join(format!("{}.json", service.version));
    match write_private(&dir, &file, &envelope) {
        Ok(()) => {
            let name = service.content["name"].as_str().unwrap_or("");
            report.written.push(format!(
                "{}: service {id}{} {} version {}",
                file.display(),
                if name.is_empty() {
                    String::new()
                } else {
                    format!(" ({name})")
                },
                service.environment,
                service.version
            ));
        }
        Err(e) => report.problems.push(format!("{}: {e}", file.display())),
    }
}

/// 3scale service ids are integers; an id also becomes a path segment and a directory name.
fn is_service_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
}

/// Content carries the service token and the secret token: files are readable by the owner
/// only (on Unix), and written whole (temporary file, then rename).
fn write_private(dir: &Path, file: &Path, value: &Value) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)? + "\n";
    let temporary = file.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(&temporary)?;
    out.write_all(text.as_bytes())?;
    out.sync_all()?;
    std::fs::rename(&temporary, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portal_urls() {
        assert_eq!(
            portal("https://acme-admin.3scale.net/").unwrap(),
            "https://acme-admin.3scale.net"
        );
        assert_eq!(
            portal("http://127.0.0.1:3001").unwrap(),
            "http://127.0.0.1:3001"
        );
        assert!(portal("https://TOKEN@acme-admin.3scale.net")
            .unwrap_err()
            .contains("--token-file"));
        assert!(portal("https://acme-admin.3scale.net/admin/api").is_err());
        assert!(portal("https://acme-admin.3scale.net?x=1").is_err());
        assert!(portal("acme-admin.3scale.net").is_err());
        assert!(portal("https://").is_err());
    }

    #[test]
    fn tokens() {
        assert_eq!(token("  abc\n").unwrap(), "abc");
        assert!(token("\n").is_err());
        assert!(token("a b").is_err());
    }
}

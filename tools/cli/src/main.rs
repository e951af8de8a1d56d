//! `tollgate`: the command-line companion of the Tollgate filter. It links the filter's own
//! core, so a configuration it accepts is one the filter accepts, and the digests and
//! signatures it prints are the ones the filter checks.

mod args;
mod diff;
mod envelope;
mod openapi;
mod policies;
mod pull;

use args::Args;
use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};
use tollgate_core::auth::{basic, digest, signed_url};
use tollgate_core::config::{Config, Environment, Parsed};

const USAGE: &str = "\
Usage: tollgate <command> [arguments]

Commands:
  check CONFIG
      Validate a configuration, exactly as the filter does. CONFIG is a file holding the
      JSON of the filter's `configuration` value, or what 3scale System answers (a page of
      proxy_configs, or one proxy_config as `pull` writes), or - for stdin. Prints
      `ok: N service(s)` (warnings go to stderr); on error prints
      `error: <path>: <message>` and exits 1. For a configuration, each policy of each
      `proxy.policy_chain` is listed either way with Tollgate's answer: enforced, Envoy's
      job, accepted (with a note, or through ignore_policies) or refused.

  pull --portal URL --token-file FILE --out DIR [--environment ENV] [--services ID,ID]
       [--all-versions] [--timeout-s N]
      Fetch service configurations from 3scale System (the Admin Portal API at URL, e.g.
      https://acme-admin.3scale.net) with the filter's requests, into DIR/<id>/<version>.json.
      ENV: production (default), staging or sandbox. --all-versions takes every version.
      The token is read from FILE (- for stdin); it is never printed.

  diff A B
      Print what changed between two configurations of one service (files from `pull`, the
      portal's envelopes, or service objects): mapping rules added and removed, and other
      fields by JSON path. Secrets are not printed.

  hash-key KEY [--salt SALT]
      Print the stored form (sha256:<hex>) of an API key, for api_keys.keys[].hash; with
      --salt, of an HTTP Basic password, for basic_users[].hash with that salt.
      KEY - reads the key from stdin (keeps it out of the shell history).

  sign-url --secret SECRET [--method METHOD] (--expires-in SECONDS | --expires UNIX_TIME) URL
      Print URL with `expires` and `signature` query args, for signed_urls. URL is a path
      (/files/a.txt?x=1) or an http(s) URL, whose path and query alone are signed.
      METHOD defaults to GET (upper-cased); --secret - reads the secret from stdin.

  openapi CONFIG
      Print an OpenAPI 3.0.3 document of what CONFIG enforces: security schemes, and one
      operation per mapping rule with the credentials it accepts.

  help | --help | -h     Print this text.
  --version | -V         Print the version.

Exit status: 0 success, 1 error (invalid configuration, unreadable input), 2 bad arguments.
";

enum Failure {
    /// Bad arguments: the message, then the usage text; exit 2.
    Usage(String),
    /// Exit 1, after `error: <message>`.
    Error(String),
}

type Outcome = Result<(), Failure>;

fn main() -> ExitCode {
    let mut argv = Vec::new();
    for arg in std::env::args_os().skip(1) {
        match arg.into_string() {
            Ok(arg) => argv.push(arg),
            Err(arg) => {
                return finish(Err(Failure::Usage(format!(
                    "argument {arg:?} is not UTF-8"
                ))))
            }
        }
    }
    finish(run(&argv))
}

fn finish(outcome: Outcome) -> ExitCode {
    let mut stderr = std::io::stderr();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            let _ = write!(stderr, "tollgate: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Error(message)) => {
            let _ = writeln!(stderr, "error: {message}");
            ExitCode::from(1)
        }
    }
}

fn run(argv: &[String]) -> Outcome {
    let Some((command, rest)) = argv.split_first() else {
        return Err(Failure::Usage("missing command".to_string()));
    };
    if rest.iter().any(|a| a == "--help" || a == "-h") && !rest.iter().any(|a| a == "--") {
        return out(USAGE);
    }
    match command.as_str() {
        "help" | "--help" | "-h" => out(USAGE),
        "--version" | "-V" => out(&format!("tollgate {}\n", env!("CARGO_PKG_VERSION"))),
        "check" => check(&parse(rest, &[])?),
        "hash-key" => hash_key(&parse(rest, &["salt"])?),
        "sign-url" => sign_url(&parse(
            rest,
            &["secret", "method", "expires-in", "expires"],
        )?),
        "openapi" => openapi(&parse(rest, &[])?),
        "pull" => pull(&usage(Args::parse_with_flags(
            rest,
            &[
                "portal",
                "token-file",
                "out",
                "environment",
                "services",
                "timeout-s",
            ],
            &["all-versions"],
        ))?),
        "diff" => diff(&parse(rest, &[])?),
        other => Err(Failure::Usage(format!("unknown command {other}"))),
    }
}

fn parse(argv: &[String], known: &[&str]) -> Result<Args, Failure> {
    Args::parse(argv, known).map_err(Failure::Usage)
}

fn usage<T>(result: Result<T, String>) -> Result<T, Failure> {
    result.map_err(Failure::Usage)
}

/// Writes to stdout; a closed pipe or full disk is an error, not a panic.
fn out(text: &str) -> Outcome {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::Error(format!("cannot write the output: {e}")))
}

fn warn(message: &str) {
    let _ = writeln!(std::io::stderr(), "warning: {message}");
}

/// The bytes of a file, or of stdin for `-`.
fn read_input(path: &str) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    let read = if path == "-" {
        std::io::stdin().read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::read(path).map(|b| bytes = b)
    };
    read.map_err(|e| Failure::Error(format!("cannot read {path}: {e}")))?;
    Ok(bytes)
}

/// A secret from stdin, without its trailing newline (`\n` or `\r\n`).
fn read_secret_stdin(what: &str) -> Result<String, Failure> {
    let text = String::from_utf8(read_input("-")?)
        .map_err(|_| Failure::Error(format!("the {what} read from stdin is not UTF-8")))?;
    let line = text.strip_suffix('\n').unwrap_or(&text);
    Ok(line.strip_suffix('\r').unwrap_or(line).to_string())
}

fn load_config(path: &str) -> Result<Parsed, Failure> {
    Config::parse(&read_input(path)?).map_err(|e| Failure::Error(e.to_string()))
}

fn check(args: &Args) -> Outcome {
    let text = read_input(usage(args.single("CONFIG"))?)?;
    if envelope::is_envelope(&text) {
        return check_envelope(&text);
    }
    let policies = policies::report(&text);
    let parsed = match Config::parse(&text) {
        Ok(parsed) => parsed,
        Err(e) => {
            out(&policies)?;
            return Err(Failure::Error(e.to_string()));
        }
    };
    let system = match &parsed.config.system {
        Some(s) => format!(
            ", and the {} services of 3scale System (cluster {}, every {} s)",
            s.environment.as_str(),
            s.cluster,
            s.refresh_s
        ),
        None => String::new(),
    };
    out(&format!(
        "ok: {} service(s){system}\n{policies}",
        parsed.config.services.len()
    ))?;
    for warning in &parsed.warnings {
        warn(warning);
    }
    Ok(())
}

/// A System answer: every service is checked; each one the filter would skip is an error.
fn check_envelope(bytes: &[u8]) -> Outcome {
    let checked = envelope::check(bytes).map_err(Failure::Error)?;
    for warning in &checked.warnings {
        warn(warning);
    }
    let mut stderr = std::io::stderr();
    for error in &checked.errors {
        let _ = writeln!(stderr, "error: {error}");
    }
    let listing: String = checked
        .services
        .iter()
        .map(|s| format!("  {s}\n"))
        .collect();
    if !checked.errors.is_empty() {
        return Err(Failure::Error(format!(
            "{} of {} service(s) would be skipped",
            checked.errors.len(),
            checked.errors.len() + checked.services.len()
        )));
    }
    out(&format!(
        "ok: {} service(s)\n{listing}",
        checked.services.len()
    ))
}

fn pull(args: &Args) -> Outcome {
    if let Some(extra) = args.positionals.first() {
        return Err(Failure::Usage(format!("unexpected argument {extra}")));
    }
    let required = |name: &str| {
        args.get(name)
            .ok_or_else(|| Failure::Usage(format!("missing --{name}")))
    };
    let portal = usage(pull::portal(required("portal")?))?;
    let token_file = required("token-file")?;
    let token_text = String::from_utf8(read_input(token_file)?)
        .map_err(|_| Failure::Error(format!("{token_file} is not UTF-8")))?;
    let token = pull::token(&token_text).map_err(Failure::Error)?;
    let name = args.get("environment").unwrap_or("production");
    let environment = Environment::from_name(name).ok_or_else(|| {
        Failure::Usage(format!(
            "--environment is production, staging or sandbox, not {name}"
        ))
    })?;
    let services = match args.get("services") {
        None => None,
        Some(list) => {
            let ids: Vec<String> = list.split(',').map(|s| s.trim().to_string()).collect();
            if ids
                .iter()
                .any(|id| id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(Failure::Usage(format!(
                    "--services is a comma-separated list of service ids, not {list}"
                )));
            }
            Some(ids)
        }
    };
    let timeout_s = match args.get("timeout-s") {
        None => 30,
        Some(text) => usage(number("--timeout-s", text))?.max(1),
    };
    let request = pull::Pull {
        portal,
        token,
        environment,
        out: std::path::PathBuf::from(required("out")?),
        all_versions: args.has("all-versions"),
        services,
        timeout: std::time::Duration::from_secs(timeout_s),
    };
    let report = pull::run(&request).map_err(Failure::Error)?;
    let mut listing: String = report.written.iter().map(|l| format!("{l}\n")).collect();
    listing.push_str(&format!(
        "pulled {} configuration(s) into {}\n",
        report.written.len(),
        request.out.display()
    ));
    out(&listing)?;
    if report.problems.is_empty() {
        return Ok(());
    }
    let mut stderr = std::io::stderr();
    for problem in &report.problems {
        let _ = writeln!(stderr, "error: {problem}");
    }
    Err(Failure::Error(format!(
        "{} problem(s) while pulling",
        report.problems.len()
    )))
}

fn diff(args: &Args) -> Outcome {
    let [a, b] = args.positionals.as_slice() else {
        return Err(Failure::Usage("diff takes two files".to_string()));
    };
    let a = diff::side(a, &read_input(a)?).map_err(Failure::Error)?;
    let b = diff::side(b, &read_input(b)?).map_err(Failure::Error)?;
    let lines = diff::lines(&a.service, &b.service);
    let mut text = format!("--- {}\n+++ {}\n", a.label, b.label);
    if lines.is_empty() {
        text.push_str("no differences\n");
    }
    for line in lines {
        text.push_str(&line);
        text.push('\n');
    }
    out(&text)
}

fn hash_key(args: &Args) -> Outcome {
    let key = match usage(args.single("KEY"))? {
        "-" => read_secret_stdin("key")?,
        key => key.to_string(),
    };
    if key.is_empty() {
        return Err(Failure::Error("the key is empty".to_string()));
    }
    let stored = match args.get("salt") {
        None => digest::stored_form(&key),
        Some(salt) => format!(
            "sha256:{}",
            digest::to_hex(&basic::password_digest(salt, &key))
        ),
    };
    out(&format!("{stored}\n"))
}

fn sign_url(args: &Args) -> Outcome {
    let target = usage(args.single("URL"))?;
    let secret = match args.get("secret") {
        None => return Err(Failure::Usage("missing --secret".to_string())),
        Some("-") => read_secret_stdin("secret")?,
        Some(secret) => secret.to_string(),
    };
    if secret.is_empty() {
        return Err(Failure::Error("the secret is empty".to_string()));
    }
    let method = args.get("method").unwrap_or("GET").to_ascii_uppercase();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Failure::Usage(format!("invalid method {method:?}")));
    }
    let expires = match (args.get("expires-in"), args.get("expires")) {
        (Some(seconds), None) => {
            let seconds = usage(number("--expires-in", seconds))?;
            now()?
                .checked_add(seconds)
                .ok_or_else(|| Failure::Usage("--expires-in is too large".to_string()))?
        }
        (None, Some(at)) => usage(number("--expires", at))?,
        _ => {
            return Err(Failure::Usage(
                "give one of --expires-in and --expires".to_string(),
            ))
        }
    };
    let url = usage(split_url(target))?;
    let query = url.path_and_query.split_once('?').map_or("", |(_, q)| q);
    if (query.split('&')).any(|p| matches!(p.split('=').next(), Some("expires" | "signature"))) {
        return Err(Failure::Usage(
            "the URL already has an expires or signature arg: sign the URL without them"
                .to_string(),
        ));
    }
    let signed = signed_url::sign(secret.as_bytes(), &method, url.path_and_query, expires)
        .ok_or_else(|| Failure::Error("cannot sign with this secret".to_string()))?;
    out(&format!("{}{signed}{}\n", url.origin, url.fragment))
}

fn number(option: &str, text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("{option} expects a whole number of seconds, not {text:?}"))
}

fn now() -> Result<u64, Failure> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| Failure::Error("the system clock is before 1970".to_string()))
}

/// A URL or path cut into what is kept as is and what is signed.
#[derive(Debug, PartialEq, Eq)]
struct UrlParts<'a> {
    /// `scheme://authority`, or empty for a path.
    origin: &'a str,
    path_and_query: &'a str,
    /// `#...`, never sent to the server, so not signed.
    fragment: &'a str,
}

fn split_url(target: &str) -> Result<UrlParts<'_>, String> {
    if let Some(bad) = target.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "the URL contains {bad:?}: percent-encode it as the client will send it"
        ));
    }
    let lower = target.to_ascii_lowercase();
    let (origin, rest) = if lower.starts_with("http://") || lower.starts_with("https://") {
        let authority_start = target.find("://").map_or(0, |i| i + 3);
        let tail = target.get(authority_start..).unwrap_or("");
        let authority_len = tail.find(['/', '?', '#']).unwrap_or(tail.len());
        if authority_len == 0 {
            return Err(format!("no host in {target}"));
        }
        let split = authority_start + authority_len;
        (
            target.get(..split).unwrap_or(""),
            target.get(split..).unwrap_or(""),
        )
    } else if target.starts_with('/') {
        ("", target)
    } else {
        return Err(format!(
            "expected a path starting with / or an http(s):// URL, not {target}"
        ));
    };
    let (signed, fragment) = match rest.find('#') {
        Some(i) => (rest.get(..i).unwrap_or(""), rest.get(i..).unwrap_or("")),
        None => (rest, ""),
    };
    if !signed.starts_with('/') {
        return Err(format!(
            "{target} has no path: sign {origin}/{signed} instead"
        ));
    }
    let query = signed.split_once('?').map_or("", |(_, q)| q);
    for name in [signed_url::EXPIRES, signed_url::SIGNATURE] {
        if query
            .split('&')
            .any(|pair| pair.split('=').next() == Some(name))
        {
            return Err(format!("the URL already has a `{name}` query arg"));
        }
    }
    Ok(UrlParts {
        origin,
        path_and_query: signed,
        fragment,
    })
}

fn openapi(args: &Args) -> Outcome {
    let parsed = load_config(usage(args.single("CONFIG"))?)?;
    for warning in &parsed.warnings {
        warn(warning);
    }
    let document = openapi::document(&parsed.config);
    for warning in &document.warnings {
        warn(warning);
    }
    out(&format!("{}\n", document.text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split_for_signing() {
        let parts = split_url("https://api.example.com:8443/files/a.txt?x=1#top").unwrap();
        assert_eq!(
            parts,
            UrlParts {
                origin: "https://api.example.com:8443",
                path_and_query: "/files/a.txt?x=1",
                fragment: "#top"
            }
        );
        assert_eq!(split_url("/a?b").unwrap().origin, "");
        assert!(split_url("https://host?x=1").is_err());
        assert!(split_url("files/a").is_err());
        assert!(split_url("https:///a").is_err());
        assert!(split_url("/a b").is_err());
        assert!(split_url("/a?expires=3").is_err());
        assert!(split_url("/a?x=1&signature").is_err());
    }
}

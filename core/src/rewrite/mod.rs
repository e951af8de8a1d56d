//! What a service's `url_rewriting` policies do to one request (reference
//! apicast-policies.md §3.9): path commands on the decoded path, then query-argument commands,
//! policy after policy in chain order. APIcast runs them all in its rewrite phase, so
//! `apicast` (credentials, mapping rules) sees what the policies before it made, and the
//! upstream and the access-phase policies (`jwt_claim_check`) what all of them made.
//!
//! The security rule ("the upstream reads the path the rules matched") holds for the result
//! too: a rewritten path is normalised as a request path is (slashes merged, `.`/`..`
//! resolved, never above `/`, always absolute) and escaped as nginx escapes it, so a `%2F`
//! the rewrite wrote stays text (`%252F`); the result is then checked as a request path is
//! ([`crate::request::is_ambiguous_path`]: a `;`, `\` or control byte a replacement wrote is a
//! 400), and bounded by `max_path_bytes` after every command (414). The query-argument
//! commands refuse (400 `ambiguous argument`) a query where an upstream could read their arg
//! otherwise than they do: behind a `;`, or in another spelling (`query`).

mod query;
#[cfg(test)]
mod tests;

use crate::config::policies::url_rewriting::UrlRewriting;
use crate::config::policies::{Policy, PolicyChain};
use crate::mapping::path::normalize_decoded;
use crate::pipeline::LocalReply;
use crate::request::is_ambiguous_path;

/// A rewritten request line: the normalised, escaped path, and the raw query (without `?`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    pub path: String,
    pub query: Option<String>,
}

/// What the chain's `url_rewriting` policies made of a request; `None`: left as it was.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// What `apicast` sees: the policies before it.
    pub at_apicast: Option<Rewritten>,
    /// What the upstream gets: every policy.
    pub upstream: Option<Rewritten>,
}

/// The request as the commands so far left it.
struct State {
    /// Decoded, as `ngx.var.uri` (valid UTF-8: the regexes read text).
    path: String,
    query: Option<String>,
    changed: bool,
}

/// Runs the chain's `url_rewriting` policies on a request (`normalized_path`: as
/// [`crate::mapping::normalize_path`] gives it; `query`: raw). Nothing to do, or nothing
/// changed: a default [`Outcome`] at the cost of one walk over the chain.
pub fn run(
    chain: &PolicyChain,
    method: &str,
    normalized_path: &str,
    query: Option<&str>,
    max_bytes: usize,
) -> Result<Outcome, LocalReply> {
    let mut out = Outcome::default();
    let mut state: Option<State> = None;
    for (i, entry) in chain.entries.iter().enumerate() {
        let Policy::UrlRewriting(policy) = &entry.policy else {
            continue;
        };
        let s = match &mut state {
            Some(s) => s,
            None => state.insert(State {
                // Ambiguous paths are refused before: decoding gives back the resolved path.
                path: String::from_utf8(
                    percent_encoding::percent_decode_str(normalized_path).collect(),
                )
                // A path that is not UTF-8 text: no regex reads it as APIcast's would.
                .map_err(|_| LocalReply::ambiguous_path())?,
                query: query.map(str::to_string),
                changed: false,
            }),
        };
        apply(policy, method, s, max_bytes)?;
        if chain.before_apicast(i) {
            out.at_apicast = finish(s, max_bytes)?;
        }
    }
    if let Some(s) = &state {
        out.upstream = finish(s, max_bytes)?;
    }
    Ok(out)
}

/// One policy: its path commands in order (a `break` stops them once one matched), then its
/// query-argument commands.
fn apply(
    policy: &UrlRewriting,
    method: &str,
    s: &mut State,
    max_bytes: usize,
) -> Result<(), LocalReply> {
    let applies = |methods: &[String]| methods.is_empty() || methods.iter().any(|m| m == method);
    for command in &policy.commands {
        if !applies(&command.methods) {
            continue;
        }
        let Some(new) = command
            .regex
            .replace(&s.path, &command.replace, command.global)
        else {
            continue;
        };
        // Each command's growth is bounded before the next one reads it.
        if new.len() > max_bytes {
            return Err(LocalReply::uri_too_long());
        }
        s.path = new;
        s.changed = true;
        if command.stop {
            break;
        }
    }
    for edit in &policy.query_args {
        if applies(&edit.methods) && query::edit(&mut s.query, edit)? {
            s.changed = true;
        }
    }
    Ok(())
}

/// The request line as the upstream (or `apicast`) gets it; `None` if unchanged.
fn finish(s: &State, max_bytes: usize) -> Result<Option<Rewritten>, LocalReply> {
    if !s.changed {
        return Ok(None);
    }
    let path = normalize_decoded(s.path.as_bytes());
    if is_ambiguous_path(&path) {
        return Err(LocalReply::ambiguous_path());
    }
    let query_len = s.query.as_ref().map_or(0, |q| q.len() + 1);
    if path.len().saturating_add(query_len) > max_bytes {
        return Err(LocalReply::uri_too_long());
    }
    Ok(Some(Rewritten {
        path,
        query: s.query.clone(),
    }))
}

/// For the fuzz target: one policy applied to a path (as sent) and query, the way [`run`]
/// does it with the policy before `apicast`.
pub fn rewrite_one(
    policy: &UrlRewriting,
    method: &str,
    path: &str,
    query: Option<&str>,
    max_bytes: usize,
) -> Result<Outcome, LocalReply> {
    let chain = PolicyChain {
        entries: vec![crate::config::policies::ChainEntry {
            path: String::new(),
            name: "url_rewriting".to_string(),
            policy: Policy::UrlRewriting(policy.clone()),
            answer: crate::config::policies::Answer::Enforced,
        }],
        apicast: 1,
        ..PolicyChain::default()
    };
    run(
        &chain,
        method,
        &crate::mapping::normalize_path(path),
        query,
        max_bytes,
    )
}

//! `query_args_commands` on the raw query (APIcast `query_params.lua`): arguments are named
//! as `ngx.req.get_uri_args` names them (decoded, `+` as a space, case-sensitive); the other
//! arguments keep their raw text and order, and new ones are appended, encoded as
//! `ngx.encode_args` encodes them.
//!
//! Keeping the other pieces' raw text keeps their raw `;` too, which APIcast's
//! `ngx.req.set_uri_args` escapes (`x=1;tenant=evil` goes as `x=1%3Btenant%3Devil`): an
//! upstream that splits on `;` would read a `tenant` the command never saw, first. As for the
//! mapping rules, a command's arg such a parser, or one folding spellings, reads otherwise is
//! refused as ambiguous (found by an audit, 2026-12-06).

use crate::config::policies::configs::{Edit, EditOp};
use crate::encoding::decode_form_component;
use crate::mapping::arg_names::is_spelling_of;
use crate::pipeline::LocalReply;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but `A-Za-z0-9-_.~` is escaped: a value cannot add an argument or end the query.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Carries out one command; whether the query changed. `set` replaces every value (one
/// `name=value` at the end), `push` appends one, `add` appends only to an argument present,
/// `delete` removes every value. 400 `ambiguous argument` when the query holds the command's
/// arg in a form an upstream reads but the command cannot ([`ambiguous`]).
pub(super) fn edit(query: &mut Option<String>, e: &Edit) -> Result<bool, LocalReply> {
    let removes = matches!(e.op, EditOp::Set | EditOp::Delete);
    if query
        .as_deref()
        .is_some_and(|q| ambiguous(q, &e.name, removes))
    {
        return Err(LocalReply::ambiguous_arg());
    }
    Ok(match e.op {
        EditOp::Delete => remove(query, &e.name),
        EditOp::Add if !present(query.as_deref(), &e.name) => false,
        op => {
            if op == EditOp::Set {
                remove(query, &e.name);
            }
            let q = query.get_or_insert_with(String::new);
            if !q.is_empty() {
                q.push('&');
            }
            q.extend(utf8_percent_encode(&e.name, COMPONENT));
            q.push('=');
            q.extend(utf8_percent_encode(&e.value, COMPONENT));
            true
        }
    })
}

/// Whether an upstream may read `name` in `query` where the command does not: in a piece a
/// raw `;` splits off (Rack 2, so Rails up to 7.0; Python before 3.9.2; Go before 1.17), in
/// any spelling, or in another spelling of its own (`Tenant`, `[tenant]`, `tenant[]`:
/// `arg_names`), which a `set` or `delete` would leave behind. A `%3B` is data to them all.
/// `removes` (`set`, `delete`): a piece named `name` goes whole, whatever follows a `;` in it
/// (`tenant=a;b` is no ambiguity then; found by a review, 2026-12-06).
fn ambiguous(query: &str, name: &str, removes: bool) -> bool {
    query.split('&').any(|piece| {
        let arg = name_of(piece);
        match piece.contains(';') {
            _ if removes && arg == name => false,
            true => piece.split(';').any(|p| is_spelling_of(&name_of(p), name)),
            false => arg != name && is_spelling_of(&arg, name),
        }
    })
}

/// The decoded name of one `&`-separated piece.
fn name_of(piece: &str) -> String {
    decode_form_component(piece.split('=').next().unwrap_or(piece))
}

fn present(query: Option<&str>, name: &str) -> bool {
    query.is_some_and(|q| q.split('&').any(|p| name_of(p) == name))
}

/// Removes every piece named `name`; an emptied query is no query (no `?` upstream).
fn remove(query: &mut Option<String>, name: &str) -> bool {
    let Some(q) = query.as_deref() else {
        return false;
    };
    if !present(Some(q), name) {
        return false;
    }
    let kept: Vec<&str> = q.split('&').filter(|p| name_of(p) != name).collect();
    *query = match kept.is_empty() {
        true => None,
        false => Some(kept.join("&")),
    };
    true
}

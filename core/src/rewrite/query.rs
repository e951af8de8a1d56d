//! `query_args_commands` on the raw query (APIcast `query_params.lua`): arguments are named
//! as `ngx.req.get_uri_args` names them (decoded, `+` as a space, case-sensitive); the other
//! arguments keep their raw text and order, and new ones are appended, encoded as
//! `ngx.encode_args` encodes them.

use crate::config::policies::configs::{Edit, EditOp};
use crate::encoding::decode_form_component;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but `A-Za-z0-9-_.~` is escaped: a value cannot add an argument or end the query.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Carries out one command; whether the query changed. `set` replaces every value (one
/// `name=value` at the end), `push` appends one, `add` appends only to an argument present,
/// `delete` removes every value.
pub(super) fn edit(query: &mut Option<String>, e: &Edit) -> bool {
    match e.op {
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
    }
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

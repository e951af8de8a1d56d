//! The `url_rewriting` policy's configuration (reference apicast-policies.md §3.9), read and
//! compiled once: each command's regex ([`crate::regex`], bounded) and replacement, each
//! query-argument command with a plain value. What APIcast would fail on at request time (a
//! bad regex, a `$` it cannot expand) or render as Liquid is refused with its JSON path.
//! The policy is carried out by [`crate::rewrite`].

use super::configs::{
    choice, list, methods, objects, plain, required, string_or, Edit, EditOp, EDITS, EDIT_OPS,
    METHODS,
};
use crate::config::json::{Obj, Result};
use crate::regex::{Regex, Template};

/// One path command: `sub` (first match) or `gsub` (every match).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    pub global: bool,
    pub regex: Regex,
    pub replace: Template,
    /// Stop after this command when it matched (APIcast: when it made a substitution).
    pub stop: bool,
    /// Empty: any method.
    pub methods: Vec<String>,
}

/// `url_rewriting`: path commands, then query-argument commands, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRewriting {
    pub commands: Vec<Rewrite>,
    pub query_args: Vec<Edit>,
}

pub fn parse(c: &Obj) -> Result<UrlRewriting> {
    Ok(UrlRewriting {
        commands: objects(c, "commands", false, &|o| {
            let global = choice(o, "op", &["sub", "gsub"], None)? == 1;
            let options = string_or(o, "options", "")?;
            let regex = Regex::compile(
                &o.child_path("regex"),
                &required(o, "regex")?,
                &o.child_path("options"),
                &options,
            )?;
            Ok(Rewrite {
                global,
                replace: Template::parse(
                    &o.child_path("replace"),
                    &required(o, "replace")?,
                    regex.groups(),
                )?,
                regex,
                stop: o.bool("break")?.unwrap_or(false),
                methods: methods(o, "methods", METHODS)?,
            })
        })?,
        query_args: query_args(c)?,
    })
}

/// `query_args_commands`. Without `value` APIcast passes `nil` (`query_params.lua`): `set`
/// then removes the arg (`args[arg] = nil`), `push` and `add` change nothing; Tollgate sent
/// `arg=` (found by an audit, 2026-12-07). A plain loop over `list`, as `configs::headers`.
fn query_args(c: &Obj) -> Result<Vec<Edit>> {
    let mut edits = Vec::new();
    for (path, v) in list(c, "query_args_commands")?.unwrap_or_default() {
        let o = Obj::new(&path, v)?;
        // `value_type: liquid` is refused here, with its path.
        plain(&o, "value_type")?;
        let mut e = Edit {
            op: EDITS[choice(&o, "op", EDIT_OPS, None)?],
            name: required(&o, "arg")?,
            value: string_or(&o, "value", "")?,
            methods: methods(&o, "methods", METHODS)?,
        };
        o.deny_unread()?;
        match (o.get("value").is_some(), e.op) {
            (false, EditOp::Push | EditOp::Add) => continue,
            (false, EditOp::Set) => e.op = EditOp::Delete,
            _ => {}
        }
        edits.push(e);
    }
    Ok(edits)
}

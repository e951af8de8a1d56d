//! A small argument parser: `--name VALUE` or `--name=VALUE` options, `--name` flags (no
//! value), positionals, `-` as a positional (stdin), and `--` ending the options.

pub struct Args {
    options: Vec<(String, String)>,
    pub positionals: Vec<String>,
}

impl Args {
    /// `known`: the option names accepted, without their leading `--`.
    pub fn parse(argv: &[String], known: &[&str]) -> Result<Args, String> {
        Args::parse_with_flags(argv, known, &[])
    }

    /// As [`parse`](Self::parse), and `flags`: options without a value ([`has`](Self::has)).
    pub fn parse_with_flags(
        argv: &[String],
        known: &[&str],
        flags: &[&str],
    ) -> Result<Args, String> {
        let mut args = Args {
            options: Vec::new(),
            positionals: Vec::new(),
        };
        let mut rest = argv.iter();
        while let Some(arg) = rest.next() {
            if arg == "--" {
                args.positionals.extend(rest.by_ref().cloned());
                break;
            }
            let Some(option) = arg.strip_prefix("--") else {
                if arg.len() > 1 && arg.starts_with('-') {
                    return Err(format!("unknown option {arg}"));
                }
                args.positionals.push(arg.clone());
                continue;
            };
            let (name, inline) = match option.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (option, None),
            };
            if args.get(name).is_some() {
                return Err(format!("--{name} is given twice"));
            }
            if flags.contains(&name) {
                if inline.is_some() {
                    return Err(format!("--{name} takes no value"));
                }
                args.options.push((name.to_string(), String::new()));
                continue;
            }
            if !known.contains(&name) {
                return Err(format!("unknown option --{name}"));
            }
            let value = match inline {
                Some(value) => value,
                None => rest
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("--{name} needs a value"))?,
            };
            args.options.push((name.to_string(), value));
        }
        Ok(args)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether a flag was given.
    pub fn has(&self, flag: &str) -> bool {
        self.get(flag).is_some()
    }

    /// The only positional argument, named `what` in the error.
    pub fn single(&self, what: &str) -> Result<&str, String> {
        match self.positionals.as_slice() {
            [one] => Ok(one),
            [] => Err(format!("missing {what}")),
            [_, extra, ..] => Err(format!("unexpected argument {extra}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_and_positionals() {
        let a = Args::parse(
            &strings(&["--salt", "s", "-", "--method=post"]),
            &["salt", "method"],
        )
        .unwrap();
        assert_eq!(a.get("salt"), Some("s"));
        assert_eq!(a.get("method"), Some("post"));
        assert_eq!(a.single("KEY").unwrap(), "-");
        let a = Args::parse(&strings(&["--", "--salt"]), &["salt"]).unwrap();
        assert_eq!(a.single("KEY").unwrap(), "--salt");
        assert!(Args::parse(&strings(&["--pepper", "x"]), &["salt"]).is_err());
        assert!(Args::parse(&strings(&["-x"]), &["salt"]).is_err());
        assert!(Args::parse(&strings(&["--salt"]), &["salt"]).is_err());
        assert!(Args::parse(&strings(&["--salt", "a", "--salt", "b"]), &["salt"]).is_err());
    }

    #[test]
    fn flags_take_no_value() {
        let a = Args::parse_with_flags(&strings(&["--all", "x", "--out", "d"]), &["out"], &["all"])
            .unwrap();
        assert!(a.has("all"));
        assert_eq!(a.get("out"), Some("d"));
        assert_eq!(a.single("X").unwrap(), "x");
        assert!(!Args::parse_with_flags(&strings(&[]), &[], &["all"])
            .unwrap()
            .has("all"));
        assert!(Args::parse_with_flags(&strings(&["--all=1"]), &[], &["all"]).is_err());
        assert!(Args::parse(&strings(&["--all"]), &["out"]).is_err());
    }
}

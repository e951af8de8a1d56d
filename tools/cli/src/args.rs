//! A small argument parser: `--name VALUE` or `--name=VALUE` options (all take a value),
//! positionals, `-` as a positional (stdin), and `--` ending the options.

pub struct Args {
    options: Vec<(String, String)>,
    pub positionals: Vec<String>,
}

impl Args {
    /// `known`: the option names accepted, without their leading `--`.
    pub fn parse(argv: &[String], known: &[&str]) -> Result<Args, String> {
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
            if !known.contains(&name) {
                return Err(format!("unknown option --{name}"));
            }
            if args.get(name).is_some() {
                return Err(format!("--{name} is given twice"));
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
}

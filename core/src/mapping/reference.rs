//! Test-only: the former backtracking matcher, and a differential test of the compiled
//! matcher against it on generated patterns and paths, pathological shapes included.

use super::pattern::{PathPattern, PathView, Token};

fn is_placeholder_byte(byte: u8) -> bool {
    !matches!(byte, b'/' | b'?' | b'#')
}

/// APIcast's `[\w\-.~%!$&'()*+,;=@:]`.
fn is_apicast_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"_-.~%!$&'()*+,;=@:".contains(&byte)
}

/// The former matcher, without its step limit (inputs here are small).
fn reference_matches(pattern: &PathPattern, input: &str) -> bool {
    let (tokens, anchored_end) = pattern.parts();
    let trimmed = input.strip_suffix('/').filter(|t| !t.is_empty());
    let wide = is_placeholder_byte;
    match_from(tokens, anchored_end, input.as_bytes(), wide)
        || (anchored_end && trimmed.is_some_and(|t| match_from(tokens, true, t.as_bytes(), wide)))
}

/// APIcast's regex: its placeholder class, and no trailing `/` after a `$`.
fn reference_matches_as_apicast(pattern: &PathPattern, input: &str) -> bool {
    let (tokens, anchored_end) = pattern.parts();
    match_from(tokens, anchored_end, input.as_bytes(), is_apicast_byte)
}

fn match_from(tokens: &[Token], anchored_end: bool, input: &[u8], class: fn(u8) -> bool) -> bool {
    match tokens.split_first() {
        None => !anchored_end || input.is_empty(),
        Some((Token::Literal(literal), rest)) => {
            input.starts_with(literal)
                && input
                    .get(literal.len()..)
                    .is_some_and(|tail| match_from(rest, anchored_end, tail, class))
        }
        Some((Token::Placeholder { min }, rest)) => {
            let run = input.iter().take_while(|byte| class(**byte)).count();
            (*min..=run).rev().any(|taken| {
                input
                    .get(taken..)
                    .is_some_and(|tail| match_from(rest, anchored_end, tail, class))
            })
        }
    }
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Pattern pieces: placeholders, literals of class and non-class bytes, `/`, brace edges.
const PATTERN_PIECES: &[&str] = &[
    "{a}", "{b}", "{}", "{x/y}", "}", "{", "/", "//", ".", "-", "a", "b", "ab", ".json", "$", "#",
    "\"", "<", "x", "~", ":", "%",
];
/// Path pieces, biased towards what the patterns contain.
const PATH_PIECES: &[&str] = &[
    "/", ".", "-", "a", "b", "ab", "json", ".json", "$", "\"", "<", "x", "{", "}", "~", ":", "%",
    "...", "aaaa", "|", "^",
];

fn generate(rng: &mut Rng, pieces: &[&str], max: usize) -> String {
    let count = rng.below(max + 1);
    (0..count).map(|_| rng.pick(pieces)).collect()
}

fn check(pattern: &str, path: &str) {
    let compiled = PathPattern::compile(pattern);
    assert_eq!(
        compiled.matches(path),
        reference_matches(&compiled, path),
        "pattern {pattern:?} path {path:?}"
    );
    check_as_apicast(&compiled, pattern, path);
}

fn check_as_apicast(compiled: &PathPattern, pattern: &str, path: &str) {
    let apicast = compiled.matches_as_apicast(&PathView::new(path));
    assert_eq!(
        apicast,
        reference_matches_as_apicast(compiled, path),
        "as APIcast: pattern {pattern:?} path {path:?}"
    );
    // APIcast's match is never wider than Tollgate's.
    assert!(
        !apicast || compiled.matches(path),
        "pattern {pattern:?} path {path:?}"
    );
}

#[test]
fn compiled_matcher_agrees_with_backtracking_reference() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let mut pattern = generate(&mut rng, PATTERN_PIECES, 8);
        if rng.below(2) == 0 {
            pattern.insert(0, '/');
        }
        let compiled = PathPattern::compile(&pattern);
        for _ in 0..40 {
            let mut path = generate(&mut rng, PATH_PIECES, 10);
            if rng.below(4) != 0 {
                path.insert(0, '/');
            }
            assert_eq!(
                compiled.matches(&path),
                reference_matches(&compiled, &path),
                "pattern {pattern:?} path {path:?}"
            );
            check_as_apicast(&compiled, &pattern, &path);
        }
    }
}

#[test]
fn agrees_on_pathological_shapes() {
    let patterns = [
        "/{a}.{b}.{c}.{d}.json",
        "/{a}.{b}.{c}.{d}.json7$",
        "/v1/{a}.{b}/{c}-{d}.json$",
        "/{a}{b}{c}{d}",
        "/{a}.{a}{b}..{c}$",
        "/{a}a{b}aa{c}aaa",
    ];
    let mut paths = vec![
        String::from("/a.b.c.d.json7"),
        String::from("/v1/a.b/c-d.json"),
    ];
    for n in [0, 1, 2, 3, 5, 8, 13, 21] {
        paths.push(format!("/{}x", ".".repeat(n)));
        paths.push(format!("/{}.json7", ".".repeat(n)));
        paths.push(format!("/{}", "a".repeat(n)));
        paths.push(format!("/v1/{}/{}.json", ".".repeat(n), "-".repeat(n)));
        paths.push(format!("/{}", "a.".repeat(n)));
    }
    for pattern in patterns {
        for path in &paths {
            check(pattern, path);
        }
    }
}

#[test]
fn long_automata_agree() {
    // More than 64 states: the multi-word automaton.
    let mut rng = Rng(42);
    for _ in 0..200 {
        let pieces: Vec<&str> = (0..40)
            .map(|_| rng.pick(&["{a}", ".", "ab", "-"]))
            .collect();
        let pattern = format!("/{}", pieces.concat());
        for _ in 0..20 {
            // Half the paths with a byte outside APIcast's class, rarely.
            let odd: &[&str] = match rng.below(2) {
                0 => &[".", "a", "b", "-", "ab"],
                _ => &[".", "a", "b", "-", "ab", ".", "a", "b", "-", "ab", "|"],
            };
            let body: String = (0..rng.below(120)).map(|_| rng.pick(odd)).collect();
            check(&pattern, &format!("/{body}"));
            check(&format!("{pattern}$"), &format!("/{body}"));
        }
    }
}

#[test]
fn linear_on_long_paths() {
    let pattern = PathPattern::compile("/{a}.{b}.{c}.{d}.json");
    let path = format!("/{}x0123456789json", ".a".repeat(1 << 20));
    let started = std::time::Instant::now();
    assert!(!pattern.matches(&path));
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    let braces = format!("/{}", "{".repeat(100_000));
    let started = std::time::Instant::now();
    assert!(PathPattern::compile(&braces).matches(&braces));
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn many_distinct_literal_bytes_agree() {
    let literal: String = (b'!'..=b'~')
        .filter(|b| !matches!(b, b'/' | b'{' | b'}' | b'$' | b'?'))
        .map(char::from)
        .collect();
    for pattern in [format!("/{{a}}{literal}{{b}}"), format!("/x{literal}$")] {
        for path in [
            format!("/v{literal}w"),
            format!("/vv{literal}"),
            format!("/x{literal}"),
            format!("/x{literal}/"),
            format!("/{literal}"),
        ] {
            check(&pattern, &path);
        }
    }
}

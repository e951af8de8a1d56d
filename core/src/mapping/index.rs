//! Rule indexes, built at configuration time: a request tries only the rules that can
//! match its method and first path segment, in configuration order.
//!
//! Cost of one request: O(path) once, plus O(1) per candidate rule that the prefilters
//! reject, plus at most one read of the path per candidate rule that passes them. A
//! client that knows the rules' literals can put all their bytes in the path and so make
//! every candidate read it once: O(candidates × path length) is the bound, never worse.

use std::ops::Deref;

use super::bytes::ByteSet;
use super::pattern::PathView;
use super::rule::{MappingRule, MethodMatch};

/// Rules grouped by method (`ANY` apart) and by the literal their first path segment
/// must equal; rules without such a literal (`/`, `/{id}`, `/v1`) are tried for every
/// path. Entries are positions in the indexed sequence, ascending in each list.
///
/// Sorted vectors rather than hash maps: lookups are a binary search, and the module
/// carries no extra hash-map instantiations.
#[derive(Debug, Clone, Default)]
pub struct RuleIndex {
    /// Sorted by method.
    methods: Vec<(String, Bucket)>,
    any: Bucket,
}

#[derive(Debug, Clone, Default)]
struct Bucket {
    /// Sorted by key: rules are inserted at their key as they are added.
    keyed: Vec<(Vec<u8>, List)>,
    general: List,
}

/// Entries in position order, with a summary per `CHUNK` of them: the least length and the
/// bytes every rule of the chunk needs. A path short of either skips the whole chunk, so
/// 1,000 alike rules cost about 16 checks rather than 1,000.
#[derive(Debug, Clone, Default)]
struct List {
    entries: Vec<Entry>,
    chunks: Vec<Entry>,
}

const CHUNK: usize = 64;

static EMPTY: List = List {
    entries: Vec::new(),
    chunks: Vec::new(),
};

impl List {
    fn summarise(&mut self) {
        self.chunks = self
            .entries
            .chunks(CHUNK)
            .map(|chunk| {
                let mut summary = chunk.first().copied().unwrap_or(Entry {
                    position: 0,
                    min_len: 0,
                    needs: ByteSet::default(),
                });
                for entry in chunk {
                    summary.min_len = summary.min_len.min(entry.min_len);
                    summary.needs = summary.needs.intersection(&entry.needs);
                }
                summary
            })
            .collect();
    }
}

/// A rule's position and its cheapest exact prefilter, side by side in the index: a
/// request rejects most rules without reading the rules themselves (10,000 rules spread
/// over the heap cost a cache miss each).
#[derive(Debug, Clone, Copy)]
struct Entry {
    position: u32,
    min_len: u32,
    needs: ByteSet,
}

impl Entry {
    fn admits(&self, path: &PathView) -> bool {
        usize::try_from(self.min_len).is_ok_and(|min| path.len() >= min)
            && (self.needs.is_empty() || self.needs.is_subset_of(path.present()))
    }
}

impl Bucket {
    fn add(&mut self, position: u32, rule: &MappingRule) {
        let (min_len, needs) = rule.pattern.prefilter();
        let entry = Entry {
            position,
            min_len: u32::try_from(min_len).unwrap_or(u32::MAX),
            needs,
        };
        match rule.pattern.leading_literal() {
            // Kept sorted by key as rules arrive (in position order, so each list is too).
            // A binary-search insert rather than a sort: no sort code in the module.
            Some(key) => match self.keyed.binary_search_by(|(k, _)| k.as_slice().cmp(key)) {
                Ok(found) => {
                    if let Some((_, list)) = self.keyed.get_mut(found) {
                        list.entries.push(entry);
                    }
                }
                Err(at) => self.keyed.insert(
                    at,
                    (
                        key.to_vec(),
                        List {
                            entries: vec![entry],
                            chunks: Vec::new(),
                        },
                    ),
                ),
            },
            None => self.general.entries.push(entry),
        }
    }

    /// Summarises the lists once every rule is in.
    fn finish(&mut self) {
        self.keyed.iter_mut().for_each(|(_, list)| list.summarise());
        self.general.summarise();
    }

    fn lists<'a>(&'a self, key: &[u8]) -> [&'a List; 2] {
        let keyed = self
            .keyed
            .binary_search_by(|(k, _)| k.as_slice().cmp(key))
            .ok()
            .and_then(|found| self.keyed.get(found));
        [keyed.map_or(&EMPTY, |(_, list)| list), &self.general]
    }
}

impl RuleIndex {
    /// Indexes `rules`; an entry is the rule's position in the sequence.
    pub fn build<'a>(rules: impl IntoIterator<Item = &'a MappingRule>) -> RuleIndex {
        let mut index = RuleIndex::default();
        for (position, rule) in rules.into_iter().enumerate() {
            let position = u32::try_from(position).unwrap_or(u32::MAX);
            let bucket = match &rule.method {
                MethodMatch::Any => Some(&mut index.any),
                MethodMatch::Exact(method) => {
                    let at = match index.methods.binary_search_by(|(m, _)| m.cmp(method)) {
                        Ok(at) => at,
                        Err(at) => {
                            index
                                .methods
                                .insert(at, (method.clone(), Bucket::default()));
                            at
                        }
                    };
                    index.methods.get_mut(at).map(|(_, bucket)| bucket)
                }
            };
            if let Some(bucket) = bucket {
                bucket.add(position, rule);
            }
        }
        index.any.finish();
        index
            .methods
            .iter_mut()
            .for_each(|(_, bucket)| bucket.finish());
        index
    }

    /// Positions of the rules that may match, ascending (the others cannot match).
    pub fn candidates<'a, 'p>(
        &'a self,
        method: &str,
        path: &'p PathView<'p>,
    ) -> Candidates<'a, 'p> {
        let key = path.first_segment();
        let [any_keyed, any_general] = self.any.lists(key);
        let lists = |method: &str| {
            let bucket = self
                .methods
                .binary_search_by(|(m, _)| m.as_str().cmp(method))
                .ok()
                .and_then(|at| self.methods.get(at));
            match bucket {
                Some((_, bucket)) => bucket.lists(key),
                None => [&EMPTY, &EMPTY],
            }
        };
        let [keyed, general] = lists(method);
        // `GET` rules match `HEAD` too (`MethodMatch::matches`).
        let [get_keyed, get_general] = match method {
            "HEAD" => lists("GET"),
            _ => [&EMPTY, &EMPTY],
        };
        Candidates {
            lists: [
                any_keyed,
                any_general,
                keyed,
                general,
                get_keyed,
                get_general,
            ]
            .map(|list| (list, 0)),
            path,
        }
    }
}

/// A merge of the ascending lists of the matching buckets, prefiltered.
pub struct Candidates<'a, 'p> {
    /// Each list, and how far it was read.
    lists: [(&'a List, usize); 6],
    path: &'p PathView<'p>,
}

impl Iterator for Candidates<'_, '_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        loop {
            let (list, read) = self
                .lists
                .iter_mut()
                .filter(|(list, read)| *read < list.entries.len())
                .min_by_key(|(list, read)| list.entries.get(*read).map(|e| e.position))?;
            if *read % CHUNK == 0 {
                let chunk = list.chunks.get(*read / CHUNK);
                if chunk.is_some_and(|summary| !summary.admits(self.path)) {
                    *read += CHUNK;
                    continue;
                }
            }
            let entry = list.entries.get(*read)?;
            *read += 1;
            if entry.admits(self.path) {
                return usize::try_from(entry.position).ok();
            }
        }
    }
}

/// A service's rules with their index; reads as the slice of rules.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<MappingRule>,
    index: RuleIndex,
}

impl From<Vec<MappingRule>> for RuleSet {
    fn from(rules: Vec<MappingRule>) -> RuleSet {
        RuleSet {
            index: RuleIndex::build(&rules),
            rules,
        }
    }
}

impl Deref for RuleSet {
    type Target = [MappingRule];

    fn deref(&self) -> &[MappingRule] {
        &self.rules
    }
}

/// What [`super::match_rules`] takes: a [`RuleSet`] (indexed), or plain rules (all tried).
pub trait Rules {
    fn rules(&self) -> &[MappingRule];

    fn index(&self) -> Option<&RuleIndex> {
        None
    }
}

impl Rules for RuleSet {
    fn rules(&self) -> &[MappingRule] {
        &self.rules
    }

    fn index(&self) -> Option<&RuleIndex> {
        Some(&self.index)
    }
}

impl Rules for [MappingRule] {
    fn rules(&self) -> &[MappingRule] {
        self
    }
}

impl<const N: usize> Rules for [MappingRule; N] {
    fn rules(&self) -> &[MappingRule] {
        self
    }
}

impl Rules for Vec<MappingRule> {
    fn rules(&self) -> &[MappingRule] {
        self
    }
}

/// Calls `visit` with each rule that may match, in order, until it returns false.
pub(super) fn for_each_candidate<R: Rules + ?Sized>(
    rules: &R,
    method: &str,
    path: &PathView,
    mut visit: impl FnMut(usize, &MappingRule) -> bool,
) {
    let list = rules.rules();
    match rules.index() {
        Some(index) => {
            for position in index.candidates(method, path) {
                if let Some(rule) = list.get(position) {
                    if !visit(position, rule) {
                        return;
                    }
                }
            }
        }
        None => {
            for (position, rule) in list.iter().enumerate() {
                if !visit(position, rule) {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RuleSet;
    use crate::mapping::{match_rules, MappingRule, QueryArgs};

    /// The index gives what trying every rule gives, `last` included.
    #[test]
    fn indexed_rules_match_like_the_plain_list() {
        let patterns = [
            "/",
            "/v1/{id}",
            "/v1$",
            "/v1",
            "/v2/x",
            "/{a}.json",
            "/v1/a",
            "/v2/",
        ];
        let methods = ["GET", "POST", "ANY"];
        // Over 64 rules, runs of alike ones: chunks are skipped whole.
        let rules: Vec<MappingRule> = (0..300)
            .map(|i| {
                let pattern = match i % 100 < 70 {
                    true => format!("/{{a}}.json{}", i % 7),
                    false => patterns[(i * 7) % patterns.len()].to_owned(),
                };
                MappingRule::new(methods[i % 3], &pattern, "hits", 1, i % 111 == 95, None)
            })
            .collect();
        let set = RuleSet::from(rules.clone());
        for method in ["GET", "HEAD", "POST", "PUT"] {
            for path in [
                "/", "/v1", "/v1/", "/v1/7", "/v1beta", "/v2/x", "/a.json", "v1/a",
            ] {
                let args = QueryArgs::default();
                assert_eq!(
                    match_rules(&set, method, path, &args),
                    match_rules(&rules[..], method, path, &args),
                    "{method} {path}"
                );
            }
        }
    }

    /// `HEAD` matches `GET` rules as well as its own and `ANY` ones, indexed or not.
    #[test]
    fn head_matches_get_rules() {
        let rules = vec![
            MappingRule::new("GET", "/secret", "dear", 10, false, None),
            MappingRule::new("HEAD", "/secret", "head", 1, false, None),
            MappingRule::new("ANY", "/", "hits", 1, false, None),
            MappingRule::new("POST", "/secret", "post", 5, false, None),
        ];
        let set = RuleSet::from(rules.clone());
        let args = QueryArgs::default();
        for matched in [
            match_rules(&set, "HEAD", "/secret", &args),
            match_rules(&rules[..], "HEAD", "/secret", &args),
        ] {
            assert_eq!(matched.matched, [0, 1, 2]);
        }
        assert_eq!(match_rules(&set, "GET", "/secret", &args).matched, [0, 2]);
    }
}

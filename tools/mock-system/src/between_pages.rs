//! A change System makes between two page requests of the account list (a deploy, a
//! deletion), applied once, right after a chosen page is answered. Porta pages by offset
//! over the current versions, ordered by row id: a deploy gives the service a new row at the
//! end and a deletion drops its row, so an entry of the next page moves onto the page just
//! read and no page holds it (found by an audit, 2026-12-07).

use serde_json::Value;

use crate::model::{Store, Stored};

/// What to change, after which page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BetweenPages {
    /// Applied once the account list's page with this number (1 by default) is answered.
    pub after_page: u64,
    /// Service contents deployed to production (each a new version where it changed).
    pub publish: Vec<Value>,
    /// Services deleted.
    pub delete: Vec<u64>,
}

impl BetweenPages {
    /// Parses `{"after_page": 1, "publish": [contents], "delete": [ids]}` (all optional).
    pub fn from_json(v: &Value) -> Result<BetweenPages, String> {
        let obj = v.as_object().ok_or("expected a JSON object")?;
        if let Some(key) =
            (obj.keys()).find(|k| !["after_page", "publish", "delete"].contains(&k.as_str()))
        {
            return Err(format!("unknown field {key}"));
        }
        let list = |key: &str| match obj.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.clone()),
            Some(_) => Err(format!("{key}: expected an array")),
        };
        let delete = (list("delete")?.iter())
            .map(|id| {
                id.as_u64()
                    .ok_or("delete: expected service ids (integers)".to_string())
            })
            .collect::<Result<_, _>>()?;
        let after_page = match obj.get("after_page") {
            None => 1,
            Some(page) => page.as_u64().ok_or("after_page: expected an integer")?,
        };
        Ok(BetweenPages {
            after_page,
            publish: list("publish")?,
            delete,
        })
    }

    /// Whether an answer to `path` with these query pairs is the page this waits for
    /// (`page` read as porta reads it: below 1 or not a number is 1).
    pub fn follows(&self, path: &str, query: &[(String, String)]) -> bool {
        let page = (query.iter().find(|(k, _)| k == "page"))
            .and_then(|(_, v)| v.parse::<u64>().ok())
            .filter(|&page| page >= 1)
            .unwrap_or(1);
        path.starts_with("/admin/api/account/proxy_configs/") && page == self.after_page
    }

    /// Makes the change.
    pub fn apply(self, store: &mut Store) {
        for content in self.publish {
            if let Err(e) = store.publish(Stored::Production, content) {
                eprintln!("mock-3scale-system: between pages: publish refused: {e}");
            }
        }
        for id in self.delete {
            store.delete(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_waits_for_its_page() {
        let change = BetweenPages::from_json(&json!({"delete": [7]})).unwrap();
        assert_eq!((change.after_page, change.delete.clone()), (1, vec![7]));
        let page = |n: &str| vec![("page".to_string(), n.to_string())];
        let list = "/admin/api/account/proxy_configs/production.json";
        assert!(change.follows(list, &[]));
        assert!(change.follows(list, &page("0")), "page 0 is page 1");
        assert!(!change.follows(list, &page("2")));
        assert!(!change.follows("/admin/api/services.json", &page("1")));
        assert!(BetweenPages::from_json(&json!({"delete": ["7"]})).is_err());
        assert!(BetweenPages::from_json(&json!({"after": 1})).is_err());
    }
}

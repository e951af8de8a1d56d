//! The configuration JSON the filter gets in `on_configure` (and `tollgate check` reads).
//! Any JSON: the keys given twice (`config::duplicates`, a scanner of the raw text, used on
//! configurations and System answers) are those serde finds reading the same text, first one
//! and path alike.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::BTreeSet;
use std::fmt;
use tollgate_core::cache::CacheSettings;
use tollgate_core::config::duplicates::first_duplicate;
use tollgate_core::config::Config;

/// A walk of a JSON value by serde that records the path of the first key given twice.
struct Walk<'a> {
    path: String,
    first: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Walk { path, first } = self;
        let mut index = 0;
        loop {
            let path = format!("{path}[{index}]");
            let element = Walk {
                path,
                first: &mut *first,
            };
            if seq.next_element_seed(element)?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Walk { path, first } = self;
        let mut keys = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let child = match path.as_str() {
                "" => key.clone(),
                p => format!("{p}.{key}"),
            };
            if !keys.insert(key) && first.is_none() {
                *first = Some(child.clone());
            }
            map.next_value_seed(Walk {
                path: child,
                first: &mut *first,
            })?;
        }
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    if serde_json::from_slice::<serde_json::Value>(data).is_ok() {
        let mut first = None;
        let walk = Walk {
            path: String::new(),
            first: &mut first,
        };
        let read = walk.deserialize(&mut serde_json::Deserializer::from_slice(data));
        assert!(read.is_ok(), "{read:?}");
        assert_eq!(
            first_duplicate(data),
            first,
            "{:?}",
            String::from_utf8_lossy(data)
        );
    }
    let Ok(parsed) = Config::parse(data) else {
        return;
    };
    let config = parsed.config;
    // What on_configure derives from a configuration it accepted.
    let _ = CacheSettings::new(&config.backend);
    for service in &config.services {
        for host in &service.hosts {
            assert!(config.services_for_host(host).next().is_some());
        }
    }
    let _ = config.jwks_sources();
    for service in &config.services {
        if let Some(jwt) = &service.auth.jwt {
            let _ = jwt.refresh(br#"{"keys":[]}"#);
        }
    }
});

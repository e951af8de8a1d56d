//! The configuration JSON the filter gets in `on_configure` (and `tollgate check` reads).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::cache::CacheSettings;
use tollgate_core::config::Config;

fuzz_target!(|data: &[u8]| {
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

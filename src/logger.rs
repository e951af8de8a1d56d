//! The `log` crate's logger and the panic hook, on `proxy_log` without the SDK's unwrap of its
//! status (a refused log line is dropped; it never traps the VM).

use crate::abi;
use log::{Level, LevelFilter, Log, Metadata, Record};

struct HostLogger;

static LOGGER: HostLogger = HostLogger;

/// Installs the logger (once per VM) and the panic hook, at `Info` until Envoy's level is known.
pub fn install() {
    if log::set_logger(&LOGGER).is_ok() {
        std::panic::set_hook(Box::new(|info| {
            let _ = abi::log(LEVEL_CRITICAL, &info.to_string());
        }));
    }
    log::set_max_level(LevelFilter::Info);
}

const LEVEL_CRITICAL: u32 = 5;

/// Follows Envoy's level for the `wasm` logger, so disabled log lines cost nothing.
pub fn follow_host_level() {
    if let Ok(level) = abi::log_level() {
        log::set_max_level(match level {
            0 => LevelFilter::Trace,
            1 => LevelFilter::Debug,
            2 => LevelFilter::Info,
            3 => LevelFilter::Warn,
            4 => LevelFilter::Error,
            _ => LevelFilter::Off,
        });
    }
}

impl Log for HostLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            Level::Trace => 0,
            Level::Debug => 1,
            Level::Info => 2,
            Level::Warn => 3,
            Level::Error => 4,
        };
        let _ = abi::log(level, &record.args().to_string());
    }

    fn flush(&self) {}
}

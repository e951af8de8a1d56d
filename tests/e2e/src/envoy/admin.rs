//! What a running Envoy tells: its log (and the filter's lines in it), the admin interface
//! and its stats; polling helpers for values that lag a response.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use super::Envoy;
use crate::http::Request;

impl Envoy {
    /// Everything Envoy logged so far.
    pub fn log(&self) -> String {
        fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Waits until the log contains `needle` (at most `timeout`); returns whether it did.
    /// Useful because filter log lines and stats can lag a response slightly.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.log().contains(needle))
    }

    /// The filter's own log messages so far (the text after
    /// `wasm log tollgate tollgate[ tollgate]: `), one per log call, first line only.
    pub fn filter_logs(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|line| {
                let rest = &line[line.find("wasm log ")? + "wasm log ".len()..];
                let (_, msg) = rest.split_once(": ")?;
                Some(msg.to_owned())
            })
            .collect()
    }

    /// `GET <admin><path>` (e.g. `/stats?filter=wasm`, `/config_dump`).
    pub fn admin(&self, path: &str) -> io::Result<crate::http::Response> {
        Request::get(path)
            .timeout(Duration::from_secs(5))
            .try_send(self.admin_port)
    }

    /// The admin `/stats` text (`name: value` per line). Empty string on error.
    pub fn stats(&self) -> String {
        self.admin("/stats").map(|r| r.body).unwrap_or_default()
    }

    /// Value of the counter or gauge `name` (exact name as shown by `/stats`;
    /// filter metrics appear without their `wasmcustom.` prefix). `None` if absent
    /// or not a number (histograms).
    pub fn stat(&self, name: &str) -> Option<u64> {
        parse_stat(&self.stats(), name)
    }

    /// Waits until [`stat`](Self::stat)`(name)` equals `value` (at most `timeout`);
    /// returns the last value seen.
    pub fn wait_for_stat(&self, name: &str, value: u64, timeout: Duration) -> Option<u64> {
        let mut last = None;
        wait_until(timeout, || {
            last = self.stat(name);
            last == Some(value)
        });
        last
    }
}

/// Polls `cond` every 50 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Like [`wait_until`], but `cond` must hold four times in a row, and again four times 600 ms
/// later: with two workers, each taking a new configuration on its own timer (250 ms, later
/// on a loaded machine), one answer shows only one worker's state, and four quick ones may all
/// reach the worker that has it (CI saw it).
pub fn wait_steady(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let mut four = || (0..4).all(|_| cond());
    wait_until(timeout, || {
        four() && {
            std::thread::sleep(Duration::from_millis(600));
            four()
        }
    })
}

/// Parses `name: value` out of admin `/stats` text.
pub fn parse_stat(stats: &str, name: &str) -> Option<u64> {
    stats.lines().find_map(|line| {
        let (k, v) = line.split_once(": ")?;
        if k == name {
            v.trim().parse().ok()
        } else {
            None
        }
    })
}

/// The last `n` lines of `text`, leaving out Envoy's startup banner (the list of
/// compiled-in extensions and header maps, whose lines are indented after the
/// source location) so error messages show what matters.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !is_banner(l)).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn is_banner(line: &str) -> bool {
    line.contains("][info][main] [") && line.contains("]   ")
}

/// Reads the log from byte `offset` on (helper for tests that want only new lines).
pub fn read_from(path: &Path, offset: u64) -> io::Result<String> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_stat_exact_name() {
        let s = "a.b: 1\na.b.c: 22\nh: P0(nan,1)\n";
        assert_eq!(parse_stat(s, "a.b"), Some(1));
        assert_eq!(parse_stat(s, "a.b.c"), Some(22));
        assert_eq!(parse_stat(s, "h"), None);
        assert_eq!(parse_stat(s, "zz"), None);
    }

    #[test]
    fn tail_skips_banner() {
        let log = "a\n[t][1][info][main] [source/server/server.cc:467]   envoy.x: y\nb\nc";
        assert_eq!(tail(log, 2), "b\nc");
        assert_eq!(tail(log, 10), "a\nb\nc");
    }
}

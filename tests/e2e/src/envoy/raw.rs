//! [`RawEnvoy`]: Envoy on a configuration given as is (a shipped example with its ports
//! replaced), where the harness's own rendering (`render.rs`) does not apply.

use std::fs;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::wait_until;
use crate::{free_port, paths, Request};

/// Envoy on a configuration given as is (the harness renders its own). Killed on drop.
pub struct RawEnvoy {
    child: Child,
    log_path: std::path::PathBuf,
}

impl RawEnvoy {
    /// Starts Envoy on `render(listener_port, admin_port)`; returns it and the listener port
    /// once it is ready. Other ports if one was taken meanwhile (the machine is shared).
    pub fn start(render: impl Fn(u16, u16) -> String) -> (RawEnvoy, u16) {
        for attempt in 1.. {
            let (listener, admin) = (free_port(), free_port());
            let dir = paths::target_dir()
                .join("e2e")
                .join(format!("raw-{}-{admin}", std::process::id()));
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("envoy.yaml"), render(listener, admin)).unwrap();
            let log_path = dir.join("envoy.log");
            let log = fs::File::create(&log_path).unwrap();
            let child = Command::new(paths::envoy_bin())
                .arg("-c")
                .arg(dir.join("envoy.yaml"))
                .args(["--concurrency", "1", "--disable-hot-restart"])
                .args(["--base-id", &(u32::from(admin) * 10 + 7).to_string()])
                .args(["--component-log-level", "wasm:info"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("run envoy (make envoy or ENVOY_BIN)");
            let mut envoy = RawEnvoy { child, log_path };
            // Ready: our process runs its dispatch loop and its admin says LIVE.
            let ready = wait_until(Duration::from_secs(30), || {
                envoy.exited()
                    || (envoy.log().contains("starting workers")
                        && Request::get("/ready")
                            .timeout(Duration::from_secs(1))
                            .try_send(admin)
                            .is_ok_and(|r| r.body.trim() == "LIVE"))
            });
            if !envoy.exited() {
                assert!(ready, "envoy not ready:\n{}", envoy.log());
                return (envoy, listener);
            }
            assert!(
                attempt < 3 && envoy.log().contains("Address already in use"),
                "envoy exited:\n{}",
                envoy.log()
            );
        }
        unreachable!()
    }

    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for RawEnvoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            if let Some(dir) = self.log_path.parent() {
                let _ = fs::remove_dir_all(dir);
            }
        }
    }
}

//! A Python peer the tests start: `python script <port file> [args]`, which writes the port it
//! listens on to the file once it is ready; killed on drop. The S3, Bedrock and OTLP stand-ins
//! are such peers.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{TempDir, repo_root};

pub struct PeerProcess {
    child: Child,
    pub port: u16,
    _dir: TempDir,
}

impl PeerProcess {
    /// Starts `tests/peers/<script>` with `python` and the extra environment `env`; waits (up to
    /// 60 s) for its port. Its stderr is the test's when `show_stderr`.
    pub fn start(python: &Path, script: &str, env: &[(&str, &str)], show_stderr: bool) -> PeerProcess {
        assert!(
            python.exists(),
            "{} missing: run scripts/install-test-peers.sh",
            python.display()
        );
        let dir = TempDir::new(script.trim_end_matches(".py"));
        let port_file = dir.path().join("port");
        let mut cmd = Command::new(python);
        cmd.arg(repo_root().join("tests/peers").join(script))
            .arg(&port_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if show_stderr {
                Stdio::inherit()
            } else {
                Stdio::null()
            });
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {script}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(60);
        let port = loop {
            if let Some(port) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                break port;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{script} exited: {status}");
            }
            assert!(Instant::now() < deadline, "{script} did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        PeerProcess {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! Shared helpers for the integration tests: where the recorded fixtures and test peers live,
//! temporary directories.
#![allow(dead_code)]

pub mod bedrock;
pub mod fault_proxy;
pub mod mock_openai;
pub mod otlp;
pub mod peer;
pub mod rr_proxy;
pub mod s3;
pub mod server;
pub mod spans;
pub mod strands;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/fixtures`: the reference data recorded from the real implementations
/// (`scripts/record-fixtures.sh`).
pub fn fixtures_dir() -> PathBuf {
    repo_root().join("tests/fixtures")
}

/// Reads and parses a JSON file under `fixtures_dir()`.
pub fn fixture_json(rel: &str) -> serde_json::Value {
    let path = fixtures_dir().join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// The Python interpreter of the test-peer venv (`scripts/install-test-peers.sh`).
pub fn peer_python() -> PathBuf {
    let py = repo_root().join(".venv/bin/python");
    assert!(
        py.exists(),
        "{} missing: run scripts/install-test-peers.sh",
        py.display()
    );
    py
}

/// `tests/peers/node_modules`, where the npm MCP servers are installed.
pub fn node_modules() -> PathBuf {
    let dir = repo_root().join("tests/peers/node_modules");
    assert!(
        dir.exists(),
        "{} missing: run scripts/install-test-peers.sh",
        dir.display()
    );
    dir
}

/// A fresh, empty temporary directory that is removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("agentcore-rt-it-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The directory of a session's default agent's message files under a session root.
pub fn messages_dir(root: &std::path::Path, session: &str) -> PathBuf {
    root.join(format!("session_{session}/agents/agent_default/messages"))
}

/// The stored message records of a session, in index order; indices must be dense.
pub fn messages_on_disk(root: &std::path::Path, session: &str) -> Vec<serde_json::Value> {
    let dir = messages_dir(root, session);
    let mut files: Vec<(usize, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let n = p
                .file_name()?
                .to_str()?
                .strip_prefix("message_")?
                .strip_suffix(".json")?
                .parse()
                .ok()?;
            Some((n, p))
        })
        .collect();
    files.sort();
    for (i, (n, p)) in files.iter().enumerate() {
        assert_eq!(i, *n, "message indices are dense: {}", p.display());
    }
    files
        .iter()
        .map(|(_, p)| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

/// Runs the Python `websockets` client (tests/peers/ws_client.py) against `addr`'s `/ws` with a
/// script of steps and upgrade headers; returns what it observed.
pub fn python_ws_client(
    addr: std::net::SocketAddr,
    steps: serde_json::Value,
    headers: serde_json::Value,
) -> serde_json::Value {
    let out = std::process::Command::new(peer_python())
        .arg(repo_root().join("tests/peers/ws_client.py"))
        .arg(format!("ws://{addr}/ws"))
        .arg(steps.to_string())
        .arg(headers.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ws client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// True while the process exists and is not a zombie (PID 1 here may not reap orphans).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            stat.rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next())
                != Some("Z")
        }
        Err(_) => false,
    }
}

/// A `/proc/<pid>/status` value in kB (`VmRSS`, `VmHWM`).
pub fn proc_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} for pid {pid}"))
}

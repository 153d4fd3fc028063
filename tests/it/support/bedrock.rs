//! The local Bedrock endpoint (tests/peers/bedrock_endpoint.py, botocore checking every
//! signature and body) and real Strands' `BedrockModel` driven against it
//! (tests/peers/strands_bedrock.py), both on `.venv-strands`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::peer::PeerProcess;
use super::{TempDir, repo_root};

/// The credentials the endpoint accepts by default (AWS's documentation example keys).
pub const ACCESS_KEY: &str = "AKIDEXAMPLE";
pub const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
pub const REGION: &str = "us-east-1";

/// `.venv-strands/bin/python` (Strands 1.62 and botocore).
pub fn strands_python() -> PathBuf {
    let py = repo_root().join(".venv-strands/bin/python");
    assert!(
        py.exists(),
        "{} missing: run scripts/install-test-peers.sh",
        py.display()
    );
    py
}

/// The endpoint process, killed on drop.
pub struct BedrockEndpoint {
    _peer: PeerProcess,
    pub port: u16,
}

impl BedrockEndpoint {
    /// An endpoint accepting [`ACCESS_KEY`]/[`SECRET_KEY`] for [`REGION`], no session token.
    pub fn start() -> BedrockEndpoint {
        BedrockEndpoint::with_env(&[])
    }

    /// An endpoint with `PEER_AWS_*` settings (e.g. `PEER_AWS_SESSION_TOKEN`).
    pub fn with_env(env: &[(&str, &str)]) -> BedrockEndpoint {
        let peer = PeerProcess::start(&strands_python(), "bedrock_endpoint.py", env, true);
        BedrockEndpoint {
            port: peer.port,
            _peer: peer,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn call(&self, method: &str, path: &str) -> Value {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let body = out.split_once("\r\n\r\n").unwrap().1;
        serde_json::from_str(body).unwrap()
    }

    /// Every request received: `{"operation", "modelId", "body"}`.
    pub fn requests(&self) -> Vec<Value> {
        self.call("GET", "/requests")["bodies"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// How many frames the endpoint checked with botocore's event-stream parser.
    pub fn frames_checked(&self) -> u64 {
        self.call("GET", "/requests")["frames_checked"].as_u64().unwrap()
    }

    /// Forgets the requests and the one-shot scripts.
    pub fn reset(&self) {
        self.call("POST", "/reset");
    }
}

/// Runs real Strands' `BedrockModel` against `endpoint` with `spec` (see strands_bedrock.py);
/// returns `{"results", "messages"}`.
pub fn strands_bedrock(endpoint: &BedrockEndpoint, spec: &Value) -> Value {
    let home = TempDir::new("strands-bedrock-home");
    let mut child = Command::new(strands_python())
        .arg(repo_root().join("tests/peers/strands_bedrock.py"))
        .arg(endpoint.url())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn strands_bedrock.py");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(spec.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "strands_bedrock.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

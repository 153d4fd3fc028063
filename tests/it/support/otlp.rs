//! The local OTLP/HTTP receiver (tests/peers/otlp_receiver.py on `.venv-otel`): decodes every
//! export with the official opentelemetry-proto package, optionally checks SigV4 with botocore,
//! and injects faults on request.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{TempDir, repo_root};

/// `.venv-otel/bin/python` (opentelemetry-proto, protobuf, botocore).
pub fn otel_python() -> PathBuf {
    let py = repo_root().join(".venv-otel/bin/python");
    assert!(
        py.exists(),
        "{} missing: run scripts/install-test-peers.sh",
        py.display()
    );
    py
}

/// The receiver process, killed on drop.
pub struct OtlpReceiver {
    child: Child,
    pub port: u16,
    _dir: TempDir,
}

impl OtlpReceiver {
    /// A receiver taking unsigned exports.
    pub fn start() -> OtlpReceiver {
        OtlpReceiver::with_env(&[])
    }

    /// A receiver with `PEER_*` settings (`PEER_SIGV4_REGION` turns the SigV4 check on).
    pub fn with_env(env: &[(&str, &str)]) -> OtlpReceiver {
        let dir = TempDir::new("otlp-receiver");
        let port_file = dir.path().join("port");
        let mut cmd = Command::new(otel_python());
        cmd.arg(repo_root().join("tests/peers/otlp_receiver.py"))
            .arg(&port_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn otlp_receiver.py");
        let deadline = Instant::now() + Duration::from_secs(60);
        let port = loop {
            if let Some(port) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                break port;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("otlp_receiver.py exited: {status}");
            }
            assert!(Instant::now() < deadline, "otlp_receiver.py did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        OtlpReceiver {
            child,
            port,
            _dir: dir,
        }
    }

    /// The base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The traces URL (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`).
    pub fn traces_url(&self) -> String {
        format!("{}/v1/traces", self.url())
    }

    fn call(&self, method: &str, path: &str, body: &str) -> Value {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let body = out.split_once("\r\n\r\n").unwrap().1;
        serde_json::from_str(body).unwrap()
    }

    /// `{"requests": [{"encoding", "request", "headers", "signed"}], "errors": [..], "attempts": n}`.
    pub fn state(&self) -> Value {
        self.call("GET", "/_requests", "")
    }

    /// Every span received, in order, each with its scope name under `"_scope"`.
    pub fn spans(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for r in self.state()["requests"].as_array().unwrap() {
            for rs in r["request"]["resourceSpans"].as_array().unwrap() {
                for ss in rs["scopeSpans"].as_array().unwrap() {
                    for span in ss["spans"].as_array().unwrap() {
                        let mut span = span.clone();
                        span["_scope"] = ss["scope"]["name"].clone();
                        out.push(span);
                    }
                }
            }
        }
        out
    }

    /// Answers the next `count` exports with `mode` ("500", "503", "429", "slow", "close").
    pub fn fault(&self, mode: &str, count: Option<u64>, extra: Value) {
        let mut f = json!({"mode": mode});
        if let Some(n) = count {
            f["count"] = json!(n);
        }
        if let Value::Object(m) = extra {
            for (k, v) in m {
                f[k] = v;
            }
        }
        self.call("POST", "/_fault", &f.to_string());
    }

    /// Forgets requests, errors and faults.
    pub fn reset(&self) {
        self.call("POST", "/_reset", "");
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

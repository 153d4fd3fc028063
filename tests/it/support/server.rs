//! Starting the real binary (or an in-process `App`) on an ephemeral port, and a small raw
//! HTTP/1.1 client that shows exactly what went over the wire.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The real `agentcore-rt` binary, killed on drop. Its stdout (JSON log lines) is collected.
pub struct Binary {
    child: Option<Child>,
    pub addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
    /// Set once the stdout reader saw end of file: after an exit, the last lines are in `lines`.
    stdout_done: Arc<std::sync::atomic::AtomicBool>,
    stderr: Arc<Mutex<String>>,
}

pub fn binary_path() -> &'static str {
    env!("CARGO_BIN_EXE_agentcore-rt")
}

impl Binary {
    /// Starts the binary on 127.0.0.1 with a free port and waits for its "listening" line.
    pub fn start(envs: &[(&str, &str)]) -> Binary {
        Binary::try_start(envs)
            .unwrap_or_else(|(out, err)| panic!("binary did not start\nstdout:\n{out}\nstderr:\n{err}"))
    }

    /// Like `start`, but returns the output when the binary exits or never listens.
    pub fn try_start(envs: &[(&str, &str)]) -> Result<Binary, (String, String)> {
        Binary::try_start_with_args(&[], envs)
    }

    /// Like `start`, with command-line arguments (`serve --protocol mcp`).
    pub fn start_with_args(args: &[&str], envs: &[(&str, &str)]) -> Binary {
        Binary::try_start_with_args(args, envs)
            .unwrap_or_else(|(out, err)| panic!("binary did not start\nstdout:\n{out}\nstderr:\n{err}"))
    }

    /// Like `try_start`, with command-line arguments.
    pub fn try_start_with_args(args: &[&str], envs: &[(&str, &str)]) -> Result<Binary, (String, String)> {
        let mut cmd = Command::new(binary_path());
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOST", "127.0.0.1")
            .env("PORT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn agentcore-rt");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let stdout_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        {
            let lines = Arc::clone(&lines);
            let done = Arc::clone(&stdout_done);
            let out = child.stdout.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap().push(line);
                }
                done.store(true, std::sync::atomic::Ordering::SeqCst);
            });
        }
        {
            let stderr = Arc::clone(&stderr);
            let mut err = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                let mut buf = String::new();
                let _ = err.read_to_string(&mut buf);
                stderr.lock().unwrap().push_str(&buf);
            });
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let addr = lines.lock().unwrap().iter().find_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                (v["message"] == "listening").then(|| v["addr"].as_str()?.parse().ok())?
            });
            if let Some(addr) = addr {
                return Ok(Binary {
                    child: Some(child),
                    addr,
                    lines,
                    stdout_done,
                    stderr,
                });
            }
            if let Ok(Some(_)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                let out = lines.lock().unwrap().join("\n");
                let err = stderr.lock().unwrap().clone();
                return Err((out, err));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err((
                    lines.lock().unwrap().join("\n"),
                    "timed out waiting for 'listening'".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Log lines so far, parsed.
    pub fn logs(&self) -> Vec<serde_json::Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Raw stdout so far.
    pub fn stdout(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until a log line satisfies `pred`.
    pub fn wait_for_log(&self, what: &str, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(line) = self.logs().into_iter().find(|l| pred(l)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no log line for {what}; stdout:\n{}",
                self.stdout()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends a signal (by number) to the process.
    pub fn signal(&self, signal: i32) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                // The process is gone but its last lines may still be in the pipe: wait for the
                // reader to reach end of file (bounded: a grandchild may hold stdout open).
                let drained = Instant::now() + Duration::from_secs(2);
                while !self.stdout_done.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < drained
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- agentcore-rt stdout ---\n{}\n--- stderr ---\n{}",
                self.stdout(),
                self.stderr()
            );
        }
    }
}

/// One parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub header_order: Vec<String>,
    pub body: Vec<u8>,
    /// For chunked responses, the chunks as received.
    pub chunks: Vec<Vec<u8>>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

/// A connection for raw requests with a read timeout, reading responses one at a time.
pub struct Conn {
    pub reader: BufReader<TcpStream>,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Conn {
            reader: BufReader::new(stream),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).expect("write");
    }

    /// Reads one response; `head_request` for HEAD (no body despite content-length).
    pub fn read_response(&mut self, head_request: bool) -> Resp {
        self.try_read_response(head_request).expect("read response")
    }

    pub fn try_read_response(&mut self, head_request: bool) -> Result<Resp, String> {
        let mut line = String::new();
        self.reader.read_line(&mut line).map_err(|e| e.to_string())?;
        if line.is_empty() {
            return Err("connection closed".into());
        }
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or(format!("bad status line {line:?}"))?;
        let mut headers = HashMap::new();
        let mut header_order = Vec::new();
        loop {
            let mut h = String::new();
            self.reader.read_line(&mut h).map_err(|e| e.to_string())?;
            let h = h.trim_end_matches(['\r', '\n']);
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').ok_or(format!("bad header {h:?}"))?;
            header_order.push(k.to_ascii_lowercase());
            headers.insert(k.to_ascii_lowercase(), v.trim().to_string());
        }
        let mut body = Vec::new();
        let mut chunks = Vec::new();
        if head_request || status == 100 || status == 101 || status == 204 || status == 304 {
        } else if headers
            .get("transfer-encoding")
            .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
        {
            loop {
                let mut size = String::new();
                self.reader.read_line(&mut size).map_err(|e| e.to_string())?;
                let n =
                    usize::from_str_radix(size.trim(), 16).map_err(|_| format!("bad chunk size {size:?}"))?;
                let mut chunk = vec![0; n + 2];
                self.reader.read_exact(&mut chunk).map_err(|e| e.to_string())?;
                chunk.truncate(n);
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk);
                chunks.push(chunk);
            }
        } else if let Some(len) = headers.get("content-length") {
            let n: usize = len.parse().map_err(|_| "bad content-length")?;
            body.resize(n, 0);
            self.reader.read_exact(&mut body).map_err(|e| e.to_string())?;
        } else {
            self.reader.read_to_end(&mut body).map_err(|e| e.to_string())?;
        }
        Ok(Resp {
            status,
            headers,
            header_order,
            body,
            chunks,
        })
    }

    /// True when the server closed the connection (EOF) within `timeout`.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        self.reader.get_ref().set_read_timeout(Some(timeout)).unwrap();
        let mut buf = [0u8; 1];
        let closed = matches!(self.reader.read(&mut buf), Ok(0));
        self.reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        closed
    }
}

/// One request on a fresh connection (`Connection: close`).
pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let mut c = Conn::open(addr);
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        raw.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        raw.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    raw.push_str("\r\n");
    let mut bytes = raw.into_bytes();
    bytes.extend_from_slice(body);
    c.send(&bytes);
    c.read_response(method == "HEAD")
}

pub fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, "GET", path, &[], b"")
}

pub fn post_json(addr: SocketAddr, path: &str, body: &str) -> Resp {
    request(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

/// Polls `f` until it returns true or the deadline passes.
pub fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

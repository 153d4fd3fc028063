//! Hostile clients against the real binary, over raw sockets, with a mock model behind it so
//! invocations really run the agent.
//!
//! `hostile_inputs` is one table of cases (malformed heads, framing attacks, truncation,
//! pipelining, `Expect` misuse, odd methods and targets, non-UTF-8 bytes, deep JSON, WebSocket
//! protocol abuse). Every case states the responses it must get (status, and a JSON error body
//! where the server has one to give), whether the connection then closes or stays usable, and is
//! followed by a `/ping` and a real invocation on fresh connections. The other tests push the
//! resource limits (connections, concurrent invocations, slow, silent and non-reading clients)
//! and check that each of them gives its coroutine back: later requests succeed and the process
//! holds as many descriptors as before.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::TempDir;
use crate::support::mock_openai::{Gate, MockOpenAi, RecordedRequest, Reply};
use crate::support::server::{Binary, Conn, Resp, eventually, get, post_json};

/// What the mock model answers to every ordinary query.
const ANSWER: &str = "steady";
/// The agent's JSON answer for [`ANSWER`] (`str(result)` ends with a newline).
const AGENT_JSON: &str = r#"{"response": "steady\n"}"#;
/// A query starting with this is held by the mock until the rig's gate opens.
const HOLD: &str = "hold";
/// A query starting with this gets a multi-megabyte answer in many deltas.
const BIG: &str = "big";
const BIG_ANSWER_BYTES: usize = 4 << 20;
/// `WS_MAX_MESSAGE_BYTES` of the table's binary (small, so oversized messages are cheap).
const WS_LIMIT: usize = 64 * 1024;
const MAX_BODY: usize = 1 << 20;
/// How long a client waits for anything before the case fails.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

// ---- the rig: mock model + real binary ------------------------------------------------------

struct Rig {
    mock: MockOpenAi,
    gate: Gate,
    _sessions: TempDir,
    bin: Binary,
}

fn last_user_text(req: &RecordedRequest) -> String {
    req.last_user_text().unwrap_or_default().to_string()
}

impl Rig {
    fn start(extra: &[(&str, &str)]) -> Rig {
        let mock = MockOpenAi::start();
        let gate = Gate::new();
        {
            let gate = gate.clone();
            mock.respond_with(move |req| {
                let text = last_user_text(req);
                Some(if text.starts_with(HOLD) {
                    Reply::text(ANSWER).after(&gate)
                } else if text.starts_with(BIG) {
                    Reply::text(&"x".repeat(BIG_ANSWER_BYTES)).with_delta_chars(8192)
                } else {
                    Reply::text(ANSWER)
                })
            });
        }
        let sessions = TempDir::new("hostile-sessions");
        let base_url = mock.base_url();
        let session_dir = sessions.path().display().to_string();
        let mut env = vec![
            ("OPENAI_BASE_URL", base_url.as_str()),
            ("OPENAI_API_KEY", "sk-test"),
            ("MODEL_ID", "gpt-4o"),
            ("SESSION_DIR", session_dir.as_str()),
        ];
        env.extend_from_slice(extra);
        let bin = Binary::start(&env);
        Rig {
            mock,
            gate,
            _sessions: sessions,
            bin,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.bin.addr
    }

    /// `/ping` and a real invocation both answer, on fresh connections.
    fn assert_alive(&self) {
        let r = get(self.addr(), "/ping");
        assert_eq!(r.status, 200, "/ping after the case: {}", r.text());
        assert!(
            r.json()["status"]
                .as_str()
                .is_some_and(|s| s.starts_with("Healthy"))
        );
        let r = post_json(
            self.addr(),
            "/invocations",
            r#"{"query": "still there?", "session_id": "alive"}"#,
        );
        assert_eq!(r.status, 200, "invocation after the case: {}", r.text());
        assert_eq!(r.text(), AGENT_JSON);
    }

    /// Descriptors the binary holds, minus its pooled connections to the mock model (how many
    /// of those stay open is the HTTP client's business, not a leak).
    fn fds(&self) -> usize {
        let pid = self.bin.pid();
        let mock_port = self.mock.addr().port();
        let to_mock = socket_inodes_where(pid, |_local, remote| remote == mock_port);
        let mut n = 0;
        for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().flatten() {
            let target = std::fs::read_link(entry.path()).unwrap_or_default();
            let target = target.to_string_lossy();
            let is_mock = target
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|inode| to_mock.contains(&inode));
            if !is_mock {
                n += 1;
            }
        }
        n
    }

    /// Sockets on the listening port (the listener itself plus accepted connections).
    fn inbound_sockets(&self) -> usize {
        let port = self.addr().port();
        let pid = self.bin.pid();
        let inodes = socket_inodes_where(pid, |local, _| local == port);
        let mut n = 0;
        for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().flatten() {
            let target = std::fs::read_link(entry.path()).unwrap_or_default();
            let target = target.to_string_lossy().into_owned();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse::<u64>().ok())
                && inodes.contains(&inode)
            {
                n += 1;
            }
        }
        n
    }

    /// Waits until the descriptor count is back at `baseline` and only the listener is left on
    /// the port: every connection coroutine has ended.
    fn assert_fds_return_to(&self, baseline: usize, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (fds, inbound) = (self.fds(), self.inbound_sockets());
            if fds == baseline && inbound == 1 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: {fds} descriptors (baseline {baseline}), {inbound} sockets on the port (want 1)"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Warms the binary up (first invocation, pooled model connection) and returns the
    /// settled descriptor count.
    fn settled_baseline(&self) -> usize {
        self.assert_alive();
        let mut last = usize::MAX;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let now = self.fds();
            if now == last && self.inbound_sockets() == 1 {
                return now;
            }
            assert!(Instant::now() < deadline, "descriptor count never settled");
            last = now;
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Inodes of the TCP sockets in `pid`'s network namespace whose (local, remote) ports match.
fn socket_inodes_where(pid: u32, pred: impl Fn(u16, u16) -> bool) -> HashSet<u64> {
    let mut out = HashSet::new();
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 10 {
                continue;
            }
            let port = |s: &str| {
                s.rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
                    .unwrap_or(0)
            };
            if pred(port(cols[1]), port(cols[2]))
                && let Ok(inode) = cols[9].parse::<u64>()
            {
                out.insert(inode);
            }
        }
    }
    out
}

// ---- raw HTTP exchanges ---------------------------------------------------------------------

/// How the case's bytes go out.
#[derive(Clone)]
enum Sending {
    /// One write.
    Whole(Vec<u8>),
    /// One write per byte (Nagle off), head and body alike.
    Bytewise(Vec<u8>),
    /// One write, then `shutdown(Write)`: the client says it has nothing more to send.
    HalfClose(Vec<u8>),
}

/// What a response body must be.
#[derive(Clone, Copy, Debug)]
enum Body {
    /// `application/json` `{"error": error, "details"?: ...}`, details containing the text.
    Error(&'static str, Option<&'static str>),
    /// Exactly these bytes.
    Exact(&'static str),
    /// The agent's answer to an ordinary query.
    Agent,
    /// The `/ping` JSON.
    Ping,
    /// Nothing (interim responses, 101, HEAD).
    Empty,
}

#[derive(Clone, Copy, Debug)]
struct Want {
    status: u16,
    body: Body,
}

fn want(status: u16, body: Body) -> Want {
    Want { status, body }
}

fn ping_ok() -> Want {
    want(200, Body::Ping)
}

fn agent_ok() -> Want {
    want(200, Body::Agent)
}

fn bad(details: &'static str) -> Want {
    want(400, Body::Error("Bad Request", Some(details)))
}

fn missing_query() -> Want {
    want(400, Body::Exact(r#"{"error":"Missing required field: query"}"#))
}

/// What the connection does after the last expected response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum After {
    /// `connection: close` on the last response, then EOF and nothing else.
    Close,
    /// Still usable: a `/ping` on the same connection answers.
    KeepAlive,
    /// The client half-closed: the server answers, then ends the connection too.
    Eof,
}

fn check_body(r: &Resp, body: Body) -> Result<(), String> {
    match body {
        Body::Error(error, details) => {
            if r.header("content-type") != Some("application/json") {
                return Err(format!("content-type {:?}, want JSON", r.header("content-type")));
            }
            let v: Value =
                serde_json::from_slice(&r.body).map_err(|e| format!("body not JSON ({e}): {}", r.text()))?;
            if v["error"] != error {
                return Err(format!("error {:?}, want {error:?}", v["error"]));
            }
            if let Some(want) = details {
                let got = v["details"].as_str().unwrap_or_default();
                if !got.contains(want) {
                    return Err(format!("details {got:?} do not contain {want:?}"));
                }
            }
            Ok(())
        }
        Body::Exact(text) => (r.text() == text)
            .then_some(())
            .ok_or_else(|| format!("body {:?}, want {text:?}", r.text())),
        Body::Agent => (r.text() == AGENT_JSON)
            .then_some(())
            .ok_or_else(|| format!("body {:?}, want the agent's answer", r.text())),
        Body::Ping => {
            let v: Value =
                serde_json::from_slice(&r.body).map_err(|_| format!("ping body {:?}", r.text()))?;
            v["status"]
                .as_str()
                .filter(|s| s.starts_with("Healthy"))
                .map(|_| ())
                .ok_or_else(|| format!("ping body {:?}", r.text()))
        }
        Body::Empty => r
            .body
            .is_empty()
            .then_some(())
            .ok_or_else(|| format!("body {:?}, want none", r.text())),
    }
}

fn open(addr: SocketAddr) -> Conn {
    let c = Conn::open(addr);
    c.reader.get_ref().set_nodelay(true).unwrap();
    c.reader.get_ref().set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    c
}

/// Writes, ignoring errors: a server that refuses early may close while we still send.
fn send(c: &mut Conn, how: &Sending) {
    let s = c.reader.get_mut();
    match how {
        Sending::Whole(bytes) => {
            let _ = s.write_all(bytes);
        }
        Sending::Bytewise(bytes) => {
            for b in bytes {
                if s.write_all(std::slice::from_ref(b)).is_err() {
                    break;
                }
            }
        }
        Sending::HalfClose(bytes) => {
            let _ = s.write_all(bytes);
            let _ = s.shutdown(Shutdown::Write);
        }
    }
}

/// Reads until EOF: the server closed and sent nothing more. A reset also counts as closed.
fn expect_eof(c: &mut Conn) -> Result<(), String> {
    let mut rest = Vec::new();
    c.reader.get_ref().set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    match c.reader.read_to_end(&mut rest) {
        Ok(_) if rest.is_empty() => Ok(()),
        Ok(_) => Err(format!(
            "unexpected bytes before close: {:?}",
            String::from_utf8_lossy(&rest[..rest.len().min(300)])
        )),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(()),
        Err(e) => Err(format!("connection not closed: {e}")),
    }
}

/// One exchange: send, read the wanted responses in order, then check close or keep-alive.
fn exchange(addr: SocketAddr, how: &Sending, wants: &[Want], after: After) -> Result<(), String> {
    let mut c = open(addr);
    send(&mut c, how);
    let mut last: Option<Resp> = None;
    for (i, w) in wants.iter().enumerate() {
        let r = c
            .try_read_response(false)
            .map_err(|e| format!("response {i}: {e}"))?;
        if r.status != w.status {
            return Err(format!(
                "response {i}: status {} ({}), want {}",
                r.status,
                r.text(),
                w.status
            ));
        }
        check_body(&r, w.body).map_err(|e| format!("response {i} ({}): {e}", r.status))?;
        last = Some(r);
    }
    match after {
        After::Close => {
            if let Some(r) = &last
                && r.header("connection") != Some("close")
            {
                return Err(format!(
                    "last response lacks `connection: close`: {:?}",
                    r.headers
                ));
            }
            expect_eof(&mut c)
        }
        After::Eof => expect_eof(&mut c),
        After::KeepAlive => {
            c.send(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
            let r = c
                .try_read_response(false)
                .map_err(|e| format!("connection not kept: {e}"))?;
            check_body(&r, Body::Ping).map_err(|e| format!("ping on the kept connection: {e}"))
        }
    }
}

type CaseFn = Box<dyn Fn(&Rig) -> Result<(), String>>;

struct Case {
    group: &'static str,
    name: String,
    run: CaseFn,
}

struct Table(Vec<Case>);

impl Table {
    fn add(&mut self, group: &'static str, name: &str, run: impl Fn(&Rig) -> Result<(), String> + 'static) {
        self.0.push(Case {
            group,
            name: name.to_string(),
            run: Box::new(run),
        });
    }

    fn http(&mut self, group: &'static str, name: &str, raw: impl AsRef<[u8]>, wants: &[Want], after: After) {
        self.send(group, name, Sending::Whole(raw.as_ref().to_vec()), wants, after);
    }

    fn send(&mut self, group: &'static str, name: &str, how: Sending, wants: &[Want], after: After) {
        let wants = wants.to_vec();
        self.add(group, name, move |rig| exchange(rig.addr(), &how, &wants, after));
    }
}

fn post(target: &str, extra_headers: impl AsRef<[u8]>, body: &[u8]) -> Vec<u8> {
    let mut raw = format!("POST {target} HTTP/1.1\r\nHost: x\r\n").into_bytes();
    raw.extend_from_slice(extra_headers.as_ref());
    raw.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    raw.extend_from_slice(body);
    raw
}

fn invocation(body: &str) -> Vec<u8> {
    post("/invocations", "", body.as_bytes())
}

const QUERY: &str = r#"{"query": "hello", "session_id": "hostile"}"#;
const PING: &[u8] = b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n";

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn chunked(body_wire: &[u8]) -> Vec<u8> {
    cat(&[
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        body_wire,
    ])
}

// ---- WebSocket clients ----------------------------------------------------------------------

const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const FIN: u8 = 0x80;
const OP_CONT: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;

/// A client frame: `first` is FIN/RSV/opcode; masked unless `mask` is false.
fn frame(first: u8, payload: &[u8], mask: bool) -> Vec<u8> {
    let mut f = frame_head(first, payload.len() as u64, mask);
    if mask {
        let key = [0x37u8, 0xfa, 0x21, 0x3d];
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

/// A masked frame head announcing `len` payload bytes, mask key included; no payload.
fn frame_announcing(first: u8, len: u64) -> Vec<u8> {
    cat(&[&frame_head(first, len, true), &[1, 2, 3, 4]])
}

/// A frame head announcing `len` payload bytes (mask key not included).
fn frame_head(first: u8, len: u64, mask: bool) -> Vec<u8> {
    let m = if mask { 0x80 } else { 0 };
    let mut f = vec![first];
    if len < 126 {
        f.push(m | len as u8);
    } else if len <= 0xffff {
        f.push(m | 126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        f.push(m | 127);
        f.extend_from_slice(&len.to_be_bytes());
    }
    f
}

fn close_frame(code: u16, reason: &[u8]) -> Vec<u8> {
    frame(FIN | OP_CLOSE, &cat(&[&code.to_be_bytes(), reason]), true)
}

fn text_frame(text: &str) -> Vec<u8> {
    frame(FIN | OP_TEXT, text.as_bytes(), true)
}

fn upgrade_request(method: &str, version: &str, headers: &str) -> Vec<u8> {
    format!(
        "{method} /ws HTTP/{version}\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{headers}\r\n"
    )
    .into_bytes()
}

fn good_upgrade() -> Vec<u8> {
    upgrade_request(
        "GET",
        "1.1",
        &format!("Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n"),
    )
}

struct Ws {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Ws {
    /// Handshakes (plus `extra` bytes sent in the same write) and checks the 101.
    fn open(addr: SocketAddr, extra: &[u8]) -> Result<Ws, String> {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        let mut ws = Ws { s, buf: Vec::new() };
        ws.send(&cat(&[&good_upgrade(), extra]));
        let end = loop {
            if let Some(i) = ws.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if !ws.fill()? {
                return Err("closed during the handshake".into());
            }
        };
        let head = String::from_utf8_lossy(&ws.buf[..end]).into_owned();
        if !head.starts_with("HTTP/1.1 101 ") {
            return Err(format!("handshake answered {head:?}"));
        }
        ws.buf.drain(..end);
        Ok(ws)
    }

    fn send(&mut self, bytes: &[u8]) {
        let _ = self.s.write_all(bytes);
    }

    /// Reads more; false on EOF (or reset).
    fn fill(&mut self) -> Result<bool, String> {
        let mut chunk = [0u8; 16 * 1024];
        match self.s.read(&mut chunk) {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(false),
            Err(e) => Err(format!("read: {e}")),
        }
    }

    /// The next server frame as (first byte, payload); `None` at EOF.
    fn next_frame(&mut self) -> Result<Option<(u8, Vec<u8>)>, String> {
        loop {
            if self.buf.len() >= 2 {
                if self.buf[1] & 0x80 != 0 {
                    return Err("server frame is masked".into());
                }
                let (len, at) = match self.buf[1] & 0x7f {
                    126 if self.buf.len() >= 4 => {
                        (usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]])), 4)
                    }
                    127 if self.buf.len() >= 10 => {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(&self.buf[2..10]);
                        (u64::from_be_bytes(b) as usize, 10)
                    }
                    n if n < 126 => (usize::from(n), 2),
                    _ => (usize::MAX, 0),
                };
                if len != usize::MAX && self.buf.len() >= at + len {
                    let first = self.buf[0];
                    let payload = self.buf[at..at + len].to_vec();
                    self.buf.drain(..at + len);
                    return Ok(Some((first, payload)));
                }
            }
            if !self.fill()? {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(format!("EOF inside a frame ({} bytes)", self.buf.len()))
                };
            }
        }
    }

    /// Reads to the server's close frame (no data frames allowed before it) and returns its
    /// code, then expects the TCP connection to end.
    fn close_code(&mut self) -> Result<u16, String> {
        match self.next_frame()? {
            None => Err("EOF without a close frame".into()),
            Some((first, payload)) if first & 0x0f == OP_CLOSE => {
                if payload.len() < 2 {
                    return Err(format!("close frame without a code: {payload:?}"));
                }
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                match self.next_frame()? {
                    None => Ok(code),
                    Some(f) => Err(format!("frame after the close frame: {f:?}")),
                }
            }
            Some((first, payload)) => Err(format!(
                "unexpected frame {first:#x} before close: {:?}",
                String::from_utf8_lossy(&payload)
            )),
        }
    }

    /// Reads text frames up to the agent's `final` or `error` event; returns the events.
    fn agent_events(&mut self) -> Result<Vec<Value>, String> {
        let mut events = Vec::new();
        loop {
            let Some((first, payload)) = self.next_frame()? else {
                return Err(format!("EOF after {} events", events.len()));
            };
            if first != FIN | OP_TEXT {
                return Err(format!(
                    "frame {first:#x}: {:?}",
                    String::from_utf8_lossy(&payload)
                ));
            }
            let event: Value = serde_json::from_slice(&payload).map_err(|e| e.to_string())?;
            let done = matches!(event["type"].as_str(), Some("final" | "error"));
            events.push(event);
            if done {
                return Ok(events);
            }
        }
    }

    /// A query on this session ends with the agent's ordinary final event.
    fn query_works(&mut self) -> Result<(), String> {
        self.send(&text_frame(
            r#"{"query": "ws hello", "session_id": "ws-hostile"}"#,
        ));
        let events = self.agent_events()?;
        let last = events.last().cloned().unwrap_or_default();
        if last["type"] == "final" && last["result"] == json!({"response": "steady\n"}) {
            Ok(())
        } else {
            Err(format!("last event {last}"))
        }
    }
}

/// A WebSocket case: handshake, send `bytes`, expect the server's close `code` and EOF.
fn ws_violation(rig: &Rig, bytes: &[u8], code: u16) -> Result<(), String> {
    let mut ws = Ws::open(rig.addr(), &[])?;
    ws.send(bytes);
    let got = ws.close_code()?;
    if got == code {
        Ok(())
    } else {
        Err(format!("close code {got}, want {code}"))
    }
}

// ---- the table ------------------------------------------------------------------------------

fn cases() -> Table {
    let mut t = Table(Vec::new());
    use After::{Close, KeepAlive};

    // Request lines and heads.
    let g = "request line";
    t.http(g, "lone method", "GET\r\n\r\n", &[bad("")], Close);
    t.http(
        g,
        "no HTTP version",
        "GET /ping\r\nHost: x\r\n\r\n",
        &[bad("")],
        Close,
    );
    t.http(
        g,
        "two spaces",
        "GET  /ping HTTP/1.1\r\nHost: x\r\n\r\n",
        &[bad("")],
        Close,
    );
    t.http(
        g,
        "trailing junk",
        "GET /ping HTTP/1.1 x\r\nHost: x\r\n\r\n",
        &[bad("")],
        Close,
    );
    t.http(
        g,
        "tabs as separators",
        "GET\t/ping\tHTTP/1.1\r\nHost: x\r\n\r\n",
        &[bad("")],
        Close,
    );
    t.http(
        g,
        "lowercase version",
        "GET /ping http/1.1\r\nHost: x\r\n\r\n",
        &[bad("")],
        Close,
    );
    t.http(
        g,
        "HTTP/2 prior-knowledge preface",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        &[want(505, Body::Error("HTTP Version Not Supported", None))],
        Close,
    );
    let mut client_hello = vec![0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03];
    client_hello.extend(std::iter::repeat_n(0x5a, 64));
    t.http(
        g,
        "TLS ClientHello on the plain port",
        &client_hello,
        &[bad("")],
        Close,
    );
    t.http(
        g,
        "binary garbage, no newline",
        [0u8, 1, 2, 3, 0xff, 0xfe, 7],
        &[bad("")],
        Close,
    );
    t.http(
        g,
        "leading empty line is ignored",
        "\r\nGET /ping HTTP/1.1\r\nHost: x\r\n\r\n",
        &[ping_ok()],
        KeepAlive,
    );
    t.http(
        g,
        "endless empty lines",
        "\r\n".repeat(40_000),
        &[want(431, Body::Error("Request Header Fields Too Large", None))],
        Close,
    );
    t.http(
        g,
        "HTTP/1.0 without Host",
        "GET /ping HTTP/1.0\r\n\r\n",
        &[ping_ok()],
        Close,
    );

    let g = "header syntax";
    t.http(
        g,
        "no colon",
        "GET /ping HTTP/1.1\r\nHost x\r\n\r\n",
        &[bad("header")],
        Close,
    );
    t.http(
        g,
        "space before the colon",
        "GET /ping HTTP/1.1\r\nHost : x\r\n\r\n",
        &[bad("header")],
        Close,
    );
    t.http(
        g,
        "obs-fold continuation line",
        "GET /ping HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n",
        &[bad("")],
        Close,
    );
    t.http(
        g,
        "empty header name",
        "GET /ping HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n",
        &[bad("header")],
        Close,
    );
    t.http(
        g,
        "repeated Host",
        "GET /ping HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        &[bad("Host")],
        Close,
    );

    let g = "line endings";
    t.http(
        g,
        "bare LF everywhere",
        "GET /ping HTTP/1.1\nHost: x\n\n",
        &[ping_ok()],
        KeepAlive,
    );
    t.http(
        g,
        "bare LF on an invocation",
        format!(
            "POST /invocations HTTP/1.1\nHost: x\nContent-Length: {}\n\n{QUERY}",
            QUERY.len()
        ),
        &[agent_ok()],
        KeepAlive,
    );
    t.http(
        g,
        "bare CR inside a value",
        "GET /ping HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
        &[bad("")],
        Close,
    );
    t.http(
        g,
        "bare CR as line ending",
        "GET /ping HTTP/1.1\rHost: x\r\r",
        &[bad("")],
        Close,
    );

    let g = "NUL bytes";
    t.http(
        g,
        "in the method",
        "G\0T /ping HTTP/1.1\r\nHost: x\r\n\r\n",
        &[bad("")],
        Close,
    );
    t.http(
        g,
        "in the target",
        "GET /pi\0ng HTTP/1.1\r\nHost: x\r\n\r\n",
        &[bad("")],
        Close,
    );
    t.http(
        g,
        "in the version",
        "GET /ping HTTP/1.\x001\r\nHost: x\r\n\r\n",
        &[bad("")],
        Close,
    );
    t.http(
        g,
        "in a header name",
        "GET /ping HTTP/1.1\r\nHost: x\r\nX-\0: v\r\n\r\n",
        &[bad("header")],
        Close,
    );
    t.http(
        g,
        "in a header value",
        "GET /ping HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n",
        &[bad("header")],
        Close,
    );
    t.http(
        g,
        "in the session header of an invocation",
        post(
            "/invocations",
            "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: s\0s\r\n",
            QUERY.as_bytes(),
        ),
        &[bad("header")],
        Close,
    );

    let g = "header limits";
    let headers = |n: usize| -> String { (0..n).map(|i| format!("X-H{i}: v\r\n")).collect() };
    t.http(
        g,
        "128 headers (the limit)",
        format!("GET /ping HTTP/1.1\r\nHost: x\r\n{}\r\n", headers(127)),
        &[ping_ok()],
        KeepAlive,
    );
    t.http(
        g,
        "129 headers",
        format!("GET /ping HTTP/1.1\r\nHost: x\r\n{}\r\n", headers(128)),
        &[want(
            431,
            Body::Error("Request Header Fields Too Large", Some("too many")),
        )],
        Close,
    );
    t.http(
        g,
        "10 000 headers",
        format!("GET /ping HTTP/1.1\r\nHost: x\r\n{}\r\n", headers(10_000)),
        &[want(431, Body::Error("Request Header Fields Too Large", None))],
        Close,
    );
    t.http(
        g,
        "60 KiB header value (under the limit)",
        format!(
            "GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "v".repeat(60 * 1024)
        ),
        &[ping_ok()],
        KeepAlive,
    );
    t.http(
        g,
        "200 KiB header value",
        format!(
            "GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "v".repeat(200 * 1024)
        ),
        &[want(
            431,
            Body::Error("Request Header Fields Too Large", Some("too large")),
        )],
        Close,
    );
    t.http(
        g,
        "10 KiB header name",
        format!(
            "GET /ping HTTP/1.1\r\nHost: x\r\nX-{}: v\r\n\r\n",
            "n".repeat(10 * 1024)
        ),
        &[ping_ok()],
        KeepAlive,
    );

    let g = "Content-Length";
    let cl = |value: &str| {
        format!("POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: {value}\r\n\r\n{QUERY}")
    };
    let cl_bad = || bad("Content-Length");
    t.http(g, "letters", cl("abc"), &[cl_bad()], Close);
    t.http(g, "empty", cl(""), &[cl_bad()], Close);
    t.http(
        g,
        "a list of equal values",
        cl(&format!("{0}, {0}", QUERY.len())),
        &[cl_bad()],
        Close,
    );
    t.http(g, "hex", cl("0x2a"), &[cl_bad()], Close);
    t.http(g, "negative", cl("-42"), &[cl_bad()], Close);
    t.http(g, "past u64", cl("184467440737095516160"), &[cl_bad()], Close);
    t.http(g, "decimal point", cl("42.0"), &[cl_bad()], Close);
    t.http(
        g,
        "two different values",
        format!(
            "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 42\r\nContent-Length: 41\r\n\r\n{QUERY}"
        ),
        &[cl_bad()],
        Close,
    );
    t.http(
        g,
        "surrounding whitespace is allowed",
        cl(&format!(" \t{} ", QUERY.len())),
        &[agent_ok()],
        KeepAlive,
    );
    t.http(
        g,
        "leading zeros",
        cl(&format!("000{}", QUERY.len())),
        &[agent_ok()],
        KeepAlive,
    );
    t.http(
        g,
        "body on GET /ping is read and dropped",
        "GET /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nGET /",
        &[ping_ok()],
        KeepAlive,
    );
    t.http(
        g,
        "shorter than the body: the rest is parsed as a request",
        "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}GARBAGE\r\n\r\n",
        &[missing_query(), bad("")],
        Close,
    );
    t.http(
        g,
        "past MAX_BODY_BYTES is refused unread",
        format!(
            "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        ),
        &[want(
            413,
            Body::Error("Content Too Large", Some("MAX_BODY_BYTES")),
        )],
        Close,
    );

    let g = "Transfer-Encoding";
    let te = |headers: &str| format!("POST /invocations HTTP/1.1\r\nHost: x\r\n{headers}\r\n0\r\n\r\n");
    t.http(
        g,
        "Transfer-Encoding before Content-Length",
        te("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"),
        &[bad("both")],
        Close,
    );
    t.http(
        g,
        "chunked + Content-Length: 0",
        te("Content-Length: 0\r\nTransfer-Encoding: chunked\r\n"),
        &[bad("both")],
        Close,
    );
    t.http(
        g,
        "chunked, chunked",
        te("Transfer-Encoding: chunked, chunked\r\n"),
        &[bad("twice")],
        Close,
    );
    t.http(
        g,
        "two chunked headers",
        te("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
        &[bad("twice")],
        Close,
    );
    let unsupported = || want(501, Body::Error("Not Implemented", Some("chunked")));
    t.http(
        g,
        "gzip, chunked",
        te("Transfer-Encoding: gzip, chunked\r\n"),
        &[unsupported()],
        Close,
    );
    t.http(
        g,
        "identity",
        te("Transfer-Encoding: identity\r\n"),
        &[unsupported()],
        Close,
    );
    t.http(
        g,
        "xchunked",
        te("Transfer-Encoding: xchunked\r\n"),
        &[unsupported()],
        Close,
    );
    t.http(
        g,
        "space before the colon",
        te("Transfer-Encoding : chunked\r\n"),
        &[bad("header")],
        Close,
    );
    t.http(
        g,
        "tab before the value is allowed",
        format!(
            "POST /invocations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\tchunked\r\n\r\n{:x}\r\n{QUERY}\r\n0\r\n\r\n",
            QUERY.len()
        ),
        &[agent_ok()],
        KeepAlive,
    );

    let g = "chunk sizes";
    let chunk_bad = |details: &'static str| bad(details);
    t.http(
        g,
        "17 hex digits",
        chunked(b"10000000000000000\r\nx\r\n0\r\n\r\n"),
        &[chunk_bad("chunk size")],
        Close,
    );
    t.http(
        g,
        "16 f's (u64::MAX)",
        chunked(b"ffffffffffffffff\r\nx\r\n0\r\n\r\n"),
        &[chunk_bad("chunk size")],
        Close,
    );
    t.http(
        g,
        "2^60 announced, a byte sent",
        chunked(b"fffffffffffffff\r\nx"),
        &[want(
            413,
            Body::Error("Content Too Large", Some("MAX_BODY_BYTES")),
        )],
        Close,
    );
    t.http(
        g,
        "negative",
        chunked(b"-1\r\nx\r\n0\r\n\r\n"),
        &[chunk_bad("chunk size")],
        Close,
    );
    t.http(
        g,
        "0x prefix",
        chunked(b"0x2\r\n{}\r\n0\r\n\r\n"),
        &[chunk_bad("chunk size")],
        Close,
    );
    t.http(
        g,
        "empty size line",
        chunked(b"\r\n{}\r\n0\r\n\r\n"),
        &[chunk_bad("chunk size")],
        Close,
    );
    t.http(
        g,
        "size line with bare LF",
        chunked(b"2\n{}\r\n0\r\n\r\n"),
        &[chunk_bad("CRLF")],
        Close,
    );
    t.http(
        g,
        "data without CRLF",
        chunked(b"2\r\n{}XX0\r\n\r\n"),
        &[chunk_bad("CRLF")],
        Close,
    );
    t.http(
        g,
        "data longer than its size",
        chunked(b"1\r\n{}\r\n0\r\n\r\n"),
        &[chunk_bad("CRLF")],
        Close,
    );
    t.http(
        g,
        "5 KiB chunk extension",
        chunked(format!("2;x={}\r\n{{}}\r\n0\r\n\r\n", "e".repeat(5000)).as_bytes()),
        &[chunk_bad("too long")],
        Close,
    );
    t.http(
        g,
        "20 KiB of trailers",
        chunked(format!("0\r\nX-T: {}\r\n\r\n", "t".repeat(20_000)).as_bytes()),
        &[chunk_bad("")],
        Close,
    );

    let g = "truncated (client half-closes)";
    t.send(
        g,
        "head cut mid-line",
        Sending::HalfClose(b"GET /ping HTTP/1.1\r\nHo".to_vec()),
        &[bad("incomplete")],
        Close,
    );
    t.send(
        g,
        "body shorter than Content-Length",
        Sending::HalfClose(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"query\"".to_vec(),
        ),
        &[bad("incomplete")],
        Close,
    );
    t.send(
        g,
        "chunked body cut mid-chunk",
        Sending::HalfClose(chunked(b"10\r\n{\"query\"")),
        &[bad("incomplete")],
        Close,
    );
    t.send(
        g,
        "chunked body without its last chunk",
        Sending::HalfClose(chunked(format!("{:x}\r\n{QUERY}\r\n", QUERY.len()).as_bytes())),
        &[bad("incomplete")],
        Close,
    );
    t.send(g, "nothing at all", Sending::HalfClose(Vec::new()), &[], Close);
    t.send(
        g,
        "a complete request is still answered",
        Sending::HalfClose(invocation(QUERY)),
        &[agent_ok()],
        After::Eof,
    );

    let g = "one byte at a time";
    t.send(
        g,
        "ping",
        Sending::Bytewise(PING.to_vec()),
        &[ping_ok()],
        KeepAlive,
    );
    t.send(
        g,
        "invocation, Content-Length",
        Sending::Bytewise(invocation(QUERY)),
        &[agent_ok()],
        KeepAlive,
    );
    t.send(
        g,
        "invocation, chunked",
        Sending::Bytewise(chunked(
            format!(
                "5\r\n{}\r\n{:x}\r\n{}\r\n0\r\n\r\n",
                &QUERY[..5],
                QUERY.len() - 5,
                &QUERY[5..]
            )
            .as_bytes(),
        )),
        &[agent_ok()],
        KeepAlive,
    );
    t.send(
        g,
        "bad header after a good start",
        Sending::Bytewise(b"GET /ping HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n".to_vec()),
        &[bad("header")],
        Close,
    );

    let g = "pipelining";
    t.http(
        g,
        "good, good, 404, 405, bad, then unanswered",
        cat(&[
            PING,
            &invocation(QUERY),
            b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
            b"FOO /ping HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n",
            PING,
        ]),
        &[
            ping_ok(),
            agent_ok(),
            want(404, Body::Exact("Not Found")),
            want(405, Body::Exact("Method Not Allowed")),
            bad("Content-Length"),
        ],
        Close,
    );
    t.http(
        g,
        "Connection: close ends the pipeline",
        cat(&[
            &post("/invocations", "Connection: close\r\n", QUERY.as_bytes()),
            PING,
        ]),
        &[agent_ok()],
        Close,
    );
    t.http(
        g,
        "NUL in the second request",
        cat(&[PING, b"GET /ping HTTP/1.1\r\nHost: x\0\r\n\r\n", PING]),
        &[ping_ok(), bad("header")],
        Close,
    );
    t.http(
        g,
        "417 in the middle",
        cat(&[
            PING,
            b"GET /ping HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n",
            PING,
        ]),
        &[ping_ok(), want(417, Body::Error("Expectation Failed", None))],
        Close,
    );
    t.http(
        g,
        "HTTP/1.0 without keep-alive, then another",
        cat(&[b"GET /ping HTTP/1.0\r\n\r\n", PING]),
        &[ping_ok()],
        Close,
    );
    t.http(
        g,
        "three invocations",
        cat(&[&invocation(QUERY), &invocation(QUERY), &invocation(QUERY)]),
        &[agent_ok(), agent_ok(), agent_ok()],
        KeepAlive,
    );
    t.http(
        g,
        "chunked invocation then a bad request",
        cat(&[
            &chunked(format!("{:x}\r\n{QUERY}\r\n0\r\n\r\n", QUERY.len()).as_bytes()),
            b"GET /ping HTTP/1.1\r\nHost: x\r\nX: \x7f\r\n\r\n",
        ]),
        &[agent_ok(), bad("header")],
        Close,
    );
    let pings = PING.repeat(1000);
    t.http(g, "1000 pings in one write", pings, &[ping_ok(); 1000], KeepAlive);

    let g = "Expect";
    t.http(
        g,
        "100-continue on a GET without body",
        "GET /ping HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
        &[ping_ok()],
        KeepAlive,
    );
    t.http(
        g,
        "100-continue with the body already sent",
        post("/invocations", "Expect: 100-continue\r\n", QUERY.as_bytes()),
        &[agent_ok()],
        KeepAlive,
    );
    t.http(
        g,
        "100-continue plus another expectation",
        post("/invocations", "Expect: 100-continue, x-y\r\n", QUERY.as_bytes()),
        &[want(417, Body::Error("Expectation Failed", None))],
        Close,
    );
    t.http(
        g,
        "unknown expectation on an invocation",
        post("/invocations", "Expect: 200-ok\r\n", QUERY.as_bytes()),
        &[want(417, Body::Error("Expectation Failed", None))],
        Close,
    );
    t.add(g, "100-continue from an HTTP/1.0 client is ignored", |rig| {
        let mut c = open(rig.addr());
        c.send(
            format!(
                "POST /invocations HTTP/1.0\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
                QUERY.len()
            )
            .as_bytes(),
        );
        // No interim answer may come: HTTP/1.0 has no 1xx. (Nothing to read within the wait.)
        c.reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut probe = [0u8; 1];
        if let Ok(n) = c.reader.get_mut().peek(&mut probe)
            && n > 0
        {
            return Err("an interim response was sent to an HTTP/1.0 client".into());
        }
        c.reader.get_ref().set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        c.send(QUERY.as_bytes());
        let r = c.try_read_response(false)?;
        check_body(&r, Body::Agent).map_err(|e| format!("{} {e}", r.status))?;
        expect_eof(&mut c)
    });
    t.http(
        g,
        "100-continue on an unknown route, body sent",
        post("/nope", "Expect: 100-continue\r\n", b"12345"),
        &[want(404, Body::Exact("Not Found"))],
        KeepAlive,
    );

    let g = "methods";
    let mna = || want(405, Body::Exact("Method Not Allowed"));
    t.http(
        g,
        "FOO /ping",
        "FOO /ping HTTP/1.1\r\nHost: x\r\n\r\n",
        &[mna()],
        KeepAlive,
    );
    t.http(
        g,
        "FOO /invocations",
        "FOO /invocations HTTP/1.1\r\nHost: x\r\n\r\n",
        &[mna()],
        KeepAlive,
    );
    t.http(
        g,
        "lowercase get",
        "get /ping HTTP/1.1\r\nHost: x\r\n\r\n",
        &[mna()],
        KeepAlive,
    );
    t.http(
        g,
        "PUT /invocations with a body",
        format!(
            "PUT /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{QUERY}",
            QUERY.len()
        ),
        &[mna()],
        KeepAlive,
    );
    t.http(
        g,
        "1000-character method",
        format!("{} /ping HTTP/1.1\r\nHost: x\r\n\r\n", "M".repeat(1000)),
        &[mna()],
        KeepAlive,
    );
    t.http(
        g,
        "separator in the method",
        "G(T /ping HTTP/1.1\r\nHost: x\r\n\r\n",
        &[bad("")],
        Close,
    );
    t.http(
        g,
        "CONNECT authority-form",
        "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        &[want(404, Body::Exact("Not Found"))],
        KeepAlive,
    );
    t.http(
        g,
        "OPTIONS *",
        "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        &[want(404, Body::Exact("Not Found"))],
        KeepAlive,
    );

    let g = "targets";
    t.http(
        g,
        "absolute-form /ping",
        "GET http://example.com/ping HTTP/1.1\r\nHost: example.com\r\n\r\n",
        &[ping_ok()],
        KeepAlive,
    );
    t.http(
        g,
        "absolute-form invocation",
        post("http://example.com:8080/invocations", "", QUERY.as_bytes()),
        &[agent_ok()],
        KeepAlive,
    );
    t.http(
        g,
        "absolute-form without a path",
        "GET http://example.com HTTP/1.1\r\nHost: x\r\n\r\n",
        &[want(404, Body::Exact("Not Found"))],
        KeepAlive,
    );
    t.http(
        g,
        "double slash",
        "GET //ping HTTP/1.1\r\nHost: x\r\n\r\n",
        &[want(404, Body::Exact("Not Found"))],
        KeepAlive,
    );
    t.http(
        g,
        "no leading slash",
        "GET ping HTTP/1.1\r\nHost: x\r\n\r\n",
        &[want(404, Body::Exact("Not Found"))],
        KeepAlive,
    );
    t.http(
        g,
        "percent-encoded /ping",
        "GET /p%69ng HTTP/1.1\r\nHost: x\r\n\r\n",
        &[ping_ok()],
        KeepAlive,
    );
    t.http(
        g,
        "8 KiB target",
        format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(8192)),
        &[want(404, Body::Exact("Not Found"))],
        KeepAlive,
    );
    t.http(
        g,
        "/ping with a 30 KiB query",
        format!(
            "GET /ping?q={} HTTP/1.1\r\nHost: x\r\n\r\n",
            "a".repeat(30 * 1024)
        ),
        &[ping_ok()],
        KeepAlive,
    );
    t.http(
        g,
        "100 KiB target",
        format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(100 * 1024)),
        &[want(414, Body::Error("URI Too Long", None))],
        Close,
    );
    t.http(
        g,
        "100 KiB target, never ending",
        format!("GET /{}", "a".repeat(100 * 1024)),
        &[want(414, Body::Error("URI Too Long", None))],
        Close,
    );

    let g = "non-UTF-8";
    t.http(
        g,
        "raw 0xff in the target",
        b"GET /ping\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
        &[bad("request line")],
        Close,
    );
    t.http(
        g,
        "percent-encoded invalid UTF-8",
        "GET /%ff%fe HTTP/1.1\r\nHost: x\r\n\r\n",
        &[want(404, Body::Exact("Not Found"))],
        KeepAlive,
    );
    t.http(
        g,
        "Latin-1 header value on an invocation",
        post("/invocations", b"X-Note: caf\xe9\r\n", QUERY.as_bytes()),
        &[agent_ok()],
        KeepAlive,
    );
    t.http(
        g,
        "Latin-1 session header",
        post(
            "/invocations",
            b"X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: s\xe9ance\r\n",
            br#"{"query": "hello"}"#,
        ),
        &[agent_ok()],
        KeepAlive,
    );
    t.http(
        g,
        "0xff in a header name",
        b"GET /ping HTTP/1.1\r\nHost: x\r\nX-\xff: v\r\n\r\n",
        &[bad("header")],
        Close,
    );
    t.http(
        g,
        "body not UTF-8",
        post("/invocations", "", b"{\"query\": \"\xff\xfe\"}"),
        &[want(
            400,
            Body::Error("Invalid encoding", Some("can't decode byte 0xff")),
        )],
        KeepAlive,
    );
    t.http(
        g,
        "body with a UTF-8 BOM",
        post("/invocations", "", &cat(&[b"\xef\xbb\xbf", QUERY.as_bytes()])),
        &[agent_ok()],
        KeepAlive,
    );
    t.http(
        g,
        "lone surrogate escape in the query",
        invocation(r#"{"query": "hi \ud800 there", "session_id": "hostile"}"#),
        &[want(
            400,
            Body::Error("Invalid JSON", Some("Unpaired surrogate \\ud800")),
        )],
        KeepAlive,
    );

    let g = "JSON";
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    t.http(
        g,
        "128-deep array next to the query",
        invocation(&format!(
            r#"{{"query": "hello", "session_id": "hostile", "deep": {}}}"#,
            nested(128)
        )),
        &[agent_ok()],
        KeepAlive,
    );
    t.http(
        g,
        "10 000-deep array",
        invocation(&format!(r#"{{"query": "hello", "deep": {}}}"#, nested(10_000))),
        &[want(400, Body::Error("Invalid JSON", Some("MAX_JSON_DEPTH")))],
        KeepAlive,
    );
    t.http(
        g,
        "10 000 brackets inside a string",
        invocation(&format!(
            r#"{{"query": "hello", "session_id": "hostile", "s": "{}"}}"#,
            nested(10_000)
        )),
        &[agent_ok()],
        KeepAlive,
    );
    for (what, payload) in [
        ("an array", "[1, 2]"),
        ("a string", r#""hello""#),
        ("a number", "3"),
        ("null", "null"),
        ("true", "true"),
        ("an empty object", "{}"),
        ("a non-string query", r#"{"query": ["hello"]}"#),
    ] {
        t.http(
            g,
            &format!("payload is {what}"),
            invocation(payload),
            &[missing_query()],
            KeepAlive,
        );
    }
    t.http(
        g,
        "empty body",
        invocation(""),
        &[want(
            400,
            Body::Error("Invalid JSON", Some("Expecting value: line 1 column 1 (char 0)")),
        )],
        KeepAlive,
    );
    t.http(
        g,
        "trailing data",
        invocation(r#"{"query": "hello"} x"#),
        &[want(400, Body::Error("Invalid JSON", Some("Extra data")))],
        KeepAlive,
    );
    t.http(
        g,
        "5000-digit number",
        invocation(&format!(
            r#"{{"query": "hello", "session_id": "hostile", "n": {}}}"#,
            "9".repeat(5000)
        )),
        &[agent_ok()],
        KeepAlive,
    );

    // WebSocket handshakes.
    let g = "websocket handshake";
    t.http(
        g,
        "missing key",
        upgrade_request("GET", "1.1", "Sec-WebSocket-Version: 13\r\n"),
        &[bad("Sec-WebSocket-Key")],
        Close,
    );
    t.http(
        g,
        "key that is not 16 bytes of base64",
        upgrade_request(
            "GET",
            "1.1",
            "Sec-WebSocket-Key: a2V5\r\nSec-WebSocket-Version: 13\r\n",
        ),
        &[bad("Sec-WebSocket-Key")],
        Close,
    );
    t.http(
        g,
        "wrong version",
        upgrade_request(
            "GET",
            "1.1",
            &format!("Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 8\r\n"),
        ),
        &[want(426, Body::Error("Upgrade Required", Some("13")))],
        Close,
    );
    t.http(
        g,
        "POST upgrade",
        upgrade_request(
            "POST",
            "1.1",
            &format!("Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n"),
        ),
        &[want(403, Body::Empty)],
        Close,
    );
    t.http(
        g,
        "upgrade with a body",
        upgrade_request(
            "GET",
            "1.1",
            &format!(
                "Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\nContent-Length: 2\r\n\r\n{{}}"
            ),
        ),
        &[bad("body")],
        Close,
    );
    t.http(
        g,
        "HTTP/1.0 upgrade is ignored",
        upgrade_request(
            "GET",
            "1.0",
            &format!("Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n"),
        ),
        &[want(404, Body::Exact("Not Found"))],
        Close,
    );
    t.http(
        g,
        "Upgrade without Connection: upgrade",
        format!("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"),
        &[want(404, Body::Exact("Not Found"))],
        KeepAlive,
    );
    t.http(
        g,
        "close frame without a handshake",
        close_frame(1000, b""),
        &[bad("")],
        Close,
    );

    // WebSocket frames after a good handshake.
    let g = "websocket frames";
    t.add(g, "unmasked text frame", |rig| {
        ws_violation(rig, &frame(FIN | OP_TEXT, b"{}", false), 1002)
    });
    t.add(g, "unmasked frame after a good message", |rig| {
        let mut ws = Ws::open(rig.addr(), &[])?;
        ws.query_works()?;
        ws.send(&frame(FIN | OP_TEXT, b"{}", false));
        match ws.close_code()? {
            1002 => Ok(()),
            code => Err(format!("close code {code}")),
        }
    });
    t.add(g, "fragmented ping", |rig| {
        ws_violation(rig, &frame(OP_PING, b"p", true), 1002)
    });
    t.add(g, "fragmented close", |rig| {
        ws_violation(rig, &frame(OP_CLOSE, &1000u16.to_be_bytes(), true), 1002)
    });
    t.add(g, "126-byte ping", |rig| {
        ws_violation(rig, &frame(FIN | OP_PING, &[7; 126], true), 1002)
    });
    t.add(g, "RSV1 without an extension", |rig| {
        ws_violation(rig, &frame(FIN | 0x40 | OP_TEXT, b"{}", true), 1002)
    });
    t.add(g, "reserved opcode 0x3", |rig| {
        ws_violation(rig, &frame(FIN | 0x3, b"", true), 1002)
    });
    t.add(g, "reserved control opcode 0xb", |rig| {
        ws_violation(rig, &frame(FIN | 0xb, b"", true), 1002)
    });
    t.add(g, "continuation without a start", |rig| {
        ws_violation(rig, &frame(FIN | OP_CONT, b"{}", true), 1002)
    });
    t.add(g, "new message inside a fragmented one", |rig| {
        ws_violation(
            rig,
            &cat(&[&frame(OP_TEXT, b"{\"q", true), &frame(FIN | OP_TEXT, b"{}", true)]),
            1002,
        )
    });
    t.add(g, "invalid UTF-8 text", |rig| {
        ws_violation(rig, &frame(FIN | OP_TEXT, &[0xff, 0xfe], true), 1007)
    });
    t.add(g, "invalid UTF-8 across fragments", |rig| {
        ws_violation(
            rig,
            &cat(&[
                &frame(OP_TEXT, b"ok \xe2\x82", true),
                &frame(FIN | OP_CONT, b"x", true),
            ]),
            1007,
        )
    });
    t.add(g, "frame announcing more than WS_MAX_MESSAGE_BYTES", |rig| {
        ws_violation(rig, &frame_announcing(FIN | OP_TEXT, WS_LIMIT as u64 + 1), 1009)
    });
    t.add(g, "frame announcing 2^63 bytes", |rig| {
        ws_violation(rig, &frame_announcing(FIN | OP_BINARY, 1 << 63), 1009)
    });
    t.add(g, "fragments adding up past the limit", |rig| {
        let piece = vec![b'a'; WS_LIMIT / 4];
        let mut bytes = frame(OP_TEXT, &piece, true);
        for _ in 0..5 {
            bytes.extend(frame(OP_CONT, &piece, true));
        }
        ws_violation(rig, &bytes, 1009)
    });
    t.add(g, "close with a 1-byte payload", |rig| {
        ws_violation(rig, &frame(FIN | OP_CLOSE, &[3], true), 1002)
    });
    t.add(g, "close with reserved code 1005", |rig| {
        ws_violation(rig, &close_frame(1005, b""), 1002)
    });
    t.add(g, "close with code 999", |rig| {
        ws_violation(rig, &close_frame(999, b""), 1002)
    });
    t.add(g, "close with an invalid UTF-8 reason", |rig| {
        ws_violation(rig, &close_frame(1000, b"\xff"), 1007)
    });
    t.add(g, "close then keep sending", |rig| {
        let before = rig
            .mock
            .requests()
            .iter()
            .filter(|r| last_user_text(r) == "after close")
            .count();
        let mut bytes = close_frame(1000, b"bye");
        for _ in 0..50 {
            bytes.extend(text_frame(r#"{"query": "after close"}"#));
        }
        bytes.extend(frame(FIN | OP_BINARY, &vec![0u8; 200_000], true));
        ws_violation(rig, &bytes, 1000)?;
        let after = rig
            .mock
            .requests()
            .iter()
            .filter(|r| last_user_text(r) == "after close")
            .count();
        (after == before)
            .then_some(())
            .ok_or_else(|| format!("{} messages after the close frame were acted on", after - before))
    });
    t.add(g, "close frame sent with the handshake", |rig| {
        let mut ws = Ws::open(rig.addr(), &close_frame(1000, b""))?;
        match ws.close_code()? {
            1000 => Ok(()),
            code => Err(format!("close code {code}")),
        }
    });
    t.add(g, "client vanishes mid-frame", |rig| {
        let mut ws = Ws::open(rig.addr(), &[])?;
        ws.send(&frame_announcing(FIN | OP_TEXT, 1000));
        ws.send(b"partial");
        let _ = ws.s.shutdown(Shutdown::Write);
        match ws.next_frame() {
            Ok(None) => Ok(()),
            Ok(Some((first, _))) if first & 0x0f == OP_CLOSE => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    t.add(g, "ping is answered, session goes on", |rig| {
        let mut ws = Ws::open(rig.addr(), &[])?;
        ws.send(&frame(FIN | OP_PING, b"are you there", true));
        match ws.next_frame()? {
            Some((first, payload)) if first == FIN | 0xA && payload == b"are you there" => {}
            other => return Err(format!("no pong: {other:?}")),
        }
        ws.query_works()
    });
    t.add(g, "10 000-deep JSON message, then a good one", move |rig| {
        let mut ws = Ws::open(rig.addr(), &[])?;
        ws.send(&text_frame(&format!(
            r#"{{"query": "x", "d": {}}}"#,
            nested(10_000)
        )));
        let events = ws.agent_events()?;
        if events.len() != 1 || events[0]["type"] != "error" || events[0]["error"] != "Invalid JSON" {
            return Err(format!("events {events:?}"));
        }
        ws.query_works()
    });
    t.add(g, "non-object JSON message, then a good one", |rig| {
        let mut ws = Ws::open(rig.addr(), &[])?;
        ws.send(&text_frame("[1, 2, 3]"));
        let events = ws.agent_events()?;
        if events.len() != 1 || events[0]["error"] != "Missing required field: query" {
            return Err(format!("events {events:?}"));
        }
        ws.query_works()
    });
    t.add(g, "binary message, then a good one", |rig| {
        let mut ws = Ws::open(rig.addr(), &[])?;
        ws.send(&frame(FIN | OP_BINARY, QUERY.as_bytes(), true));
        let events = ws.agent_events()?;
        if events.len() != 1 || events[0]["type"] != "error" {
            return Err(format!("events {events:?}"));
        }
        ws.query_works()
    });
    t.add(g, "message split into 1-byte fragments", |rig| {
        let mut ws = Ws::open(rig.addr(), &[])?;
        let text = r#"{"query": "ws hello", "session_id": "ws-hostile"}"#.as_bytes();
        let mut bytes = Vec::new();
        for (i, b) in text.iter().enumerate() {
            let first = match (i, i + 1 == text.len()) {
                (0, _) => OP_TEXT,
                (_, true) => FIN | OP_CONT,
                _ => OP_CONT,
            };
            bytes.extend(frame(first, std::slice::from_ref(b), true));
        }
        for b in bytes {
            ws.send(&[b]);
        }
        let events = ws.agent_events()?;
        match events.last() {
            Some(e) if e["type"] == "final" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    t
}

/// The message of a caught panic.
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "panic".into())
}

#[test]
fn hostile_inputs() {
    let rig = Rig::start(&[
        ("MAX_BODY_BYTES", &MAX_BODY.to_string()),
        ("WS_MAX_MESSAGE_BYTES", &WS_LIMIT.to_string()),
        ("HEADER_TIMEOUT", "5s"),
        ("BODY_TIMEOUT", "5s"),
    ]);
    let baseline = rig.settled_baseline();
    let table = cases();
    let mut failures = Vec::new();
    let mut groups: Vec<(&str, usize)> = Vec::new();
    for case in &table.0 {
        match groups.last_mut() {
            Some((g, n)) if *g == case.group => *n += 1,
            _ => groups.push((case.group, 1)),
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            (case.run)(&rig).map_err(|e| format!("case: {e}"))?;
            catch_unwind(AssertUnwindSafe(|| rig.assert_alive()))
                .map_err(|p| format!("server not serving afterwards: {}", panic_text(&*p)))
        }));
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(p) => Some(panic_text(&*p)),
        };
        if let Some(e) = failure {
            failures.push(format!("[{}] {}: {e}", case.group, case.name));
        }
    }
    println!("{} hostile cases:", table.0.len());
    for (g, n) in &groups {
        println!("  {n:4}  {g}");
    }
    for f in &failures {
        println!("FAILED {f}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} hostile cases failed:\n{}",
        failures.len(),
        table.0.len(),
        failures.join("\n")
    );
    rig.assert_fds_return_to(baseline, "after the hostile cases");
}

// ---- resource limits ------------------------------------------------------------------------

/// Reads one response on `c` and checks it is a 503 JSON error naming `limit`, with
/// `retry-after: 1`.
fn expect_503(c: &mut Conn, limit: &'static str) {
    let r = c.read_response(false);
    assert_eq!(r.status, 503, "{}", r.text());
    check_body(&r, Body::Error("Service Unavailable", Some(limit))).unwrap();
    assert_eq!(r.header("retry-after"), Some("1"));
}

#[test]
fn past_max_connections_only_ping_answers_then_the_connection_closes() {
    let rig = Rig::start(&[("MAX_CONNECTIONS", "4")]);
    let a = rig.addr();
    let baseline = rig.settled_baseline();
    // Four connections the server has surely accepted: each had a ping answered.
    let mut held: Vec<Conn> = (0..4)
        .map(|_| {
            let mut c = open(a);
            c.send(PING);
            assert_eq!(c.read_response(false).status, 200);
            c
        })
        .collect();

    // Past the limit: /ping still answers, then the connection closes, even when pipelined.
    exchange(a, &Sending::Whole(PING.to_vec()), &[ping_ok()], After::Close).unwrap();
    exchange(a, &Sending::Whole(PING.repeat(3)), &[ping_ok()], After::Close).unwrap();
    let mut c = open(a);
    c.send(b"HEAD /ping HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c.read_response(true);
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    expect_eof(&mut c).unwrap();
    // Anything else: 503 JSON, then close.
    let cases: [(&str, Vec<u8>); 4] = [
        ("invocation", invocation(QUERY)),
        ("unknown path", b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        (
            "SSE invocation",
            invocation(r#"{"query": "hello", "stream": true}"#),
        ),
        ("WebSocket upgrade", good_upgrade()),
    ];
    for (what, raw) in cases {
        let mut c = open(a);
        c.send(&raw);
        expect_503(&mut c, "MAX_CONNECTIONS");
        expect_eof(&mut c).unwrap_or_else(|e| panic!("{what}: {e}"));
    }
    assert_eq!(
        rig.mock
            .requests()
            .iter()
            .filter(|r| last_user_text(r) == "hello")
            .count(),
        0,
        "a refused invocation reached the model"
    );

    // The held connections keep working.
    for c in &mut held {
        c.send(&invocation(QUERY));
        check_body(&c.read_response(false), Body::Agent).unwrap();
    }
    drop(held);
    // Their slots come back once the server has seen them close.
    eventually("a slot frees up", Duration::from_secs(20), || {
        post_json(a, "/invocations", QUERY).status == 200
    });
    rig.assert_alive();
    rig.assert_fds_return_to(baseline, "after the connection limit");
}

#[test]
fn past_max_concurrent_invocations_503_while_ping_keeps_answering() {
    let rig = Rig::start(&[("MAX_CONCURRENT_INVOCATIONS", "2"), ("WORKER_THREADS", "2")]);
    let a = rig.addr();
    let baseline = rig.settled_baseline();
    let before = rig.mock.request_count();
    // Two invocations hold both workers: the model answers only when the gate opens.
    let held: Vec<_> = (0..2)
        .map(|i| {
            let body = json!({"query": format!("{HOLD} {i}"), "session_id": format!("held-{i}")});
            std::thread::spawn(move || post_json(a, "/invocations", &body.to_string()))
        })
        .collect();
    rig.mock.wait_for_requests(before + 2, Duration::from_secs(30));

    // A third: 503 naming the limit; the connection stays usable.
    let mut c = open(a);
    c.send(&invocation(QUERY));
    expect_503(&mut c, "MAX_CONCURRENT_INVOCATIONS");
    c.send(PING);
    check_body(&c.read_response(false), Body::Ping).unwrap();
    c.send(&invocation(r#"{"query": "hello", "stream": true}"#));
    expect_503(&mut c, "MAX_CONCURRENT_INVOCATIONS");
    // WebSocket sessions run on threads of their own (MAX_WEBSOCKETS), so even now one opens
    // and answers (its invocation runs on its own thread, not the full invocation pool).
    let mut ws = Ws::open(a, &[]).unwrap();
    ws.send(&frame(0x81, br#"{"query": "over ws"}"#, true));
    let events = ws.agent_events().unwrap();
    assert_eq!(events.last().unwrap()["type"], "final", "{events:?}");

    // /ping is never starved: keep-alive and fresh connections alike.
    let mut kept: Vec<Conn> = (0..4).map(|_| open(a)).collect();
    for round in 0..50 {
        for k in &mut kept {
            k.send(PING);
            check_body(&k.read_response(false), Body::Ping).unwrap();
        }
        assert_eq!(get(a, "/ping").status, 200, "round {round}");
    }
    assert_eq!(
        rig.mock.request_count(),
        before + 3,
        "a refused invocation reached the model (the 3rd request is the WebSocket query)"
    );

    rig.gate.open();
    for h in held {
        let r = h.join().unwrap();
        assert_eq!((r.status, r.text()), (200, AGENT_JSON.to_string()));
    }
    drop((c, kept, ws));
    rig.assert_alive();
    rig.assert_fds_return_to(baseline, "after the invocation limit");
}

/// Reads what a non-blocking socket has; true once it reached EOF (or was reset).
fn drain(s: &mut TcpStream, into: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => into.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// A complete response in `bytes`: status and JSON body.
fn parse_buffered(bytes: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response: {text:?}"));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    assert!(head.contains("content-type: application/json"), "{head}");
    (
        status,
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}")),
    )
}

#[test]
fn slow_and_silent_clients_time_out_and_free_their_coroutines() {
    let rig = Rig::start(&[
        ("HEADER_TIMEOUT", "1s"),
        ("IDLE_TIMEOUT", "1s"),
        ("BODY_TIMEOUT", "1s"),
    ]);
    let a = rig.addr();
    let baseline = rig.settled_baseline();
    const N: usize = 40;
    let connect = || {
        let s = TcpStream::connect_timeout(&a, Duration::from_secs(5)).unwrap();
        s.set_nodelay(true).unwrap();
        s
    };

    // Slowloris: heads that never end, trickled one byte at a time.
    let mut slow: Vec<(TcpStream, Vec<u8>, bool)> = (0..N)
        .map(|_| {
            let mut s = connect();
            s.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: ").unwrap();
            s.set_nonblocking(true).unwrap();
            (s, Vec::new(), false)
        })
        .collect();
    // Idle keep-alive connections (one ping, then silence) and connections that never speak.
    let mut idle: Vec<Conn> = (0..N)
        .map(|_| {
            let mut c = open(a);
            c.send(PING);
            check_body(&c.read_response(false), Body::Ping).unwrap();
            c
        })
        .collect();
    let mut mute: Vec<Conn> = (0..N).map(|_| open(a)).collect();
    // Bodies that stall: Content-Length and chunked, and one that got its 100 Continue.
    let mut stalled: Vec<Conn> = (0..N)
        .map(|i| {
            let mut c = open(a);
            if i % 2 == 0 {
                c.send(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"query\"");
            } else {
                c.send(&chunked(b"40\r\n{\"query\""));
            }
            c
        })
        .collect();
    let mut expecting = open(a);
    expecting
        .send(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 43\r\nExpect: 100-continue\r\n\r\n");
    assert_eq!(expecting.read_response(false).status, 100);

    // Trickle until every slow head has been answered and closed; /ping keeps answering.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut rounds = 0;
    while slow.iter().any(|(_, _, done)| !done) {
        assert!(Instant::now() < deadline, "slow heads still open after 30 s");
        for (s, got, done) in slow.iter_mut().filter(|(_, _, done)| !done) {
            let _ = s.write(b"a");
            *done = drain(s, got);
        }
        assert_eq!(get(a, "/ping").status, 200, "ping starved in round {rounds}");
        rounds += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    for (_, got, _) in &slow {
        let (status, body) = parse_buffered(got);
        assert_eq!(status, 408, "{body}");
        assert_eq!(body["details"], "request head not received in time");
    }
    for c in &mut idle {
        expect_eof(c).unwrap();
    }
    for c in &mut mute {
        expect_eof(c).unwrap();
    }
    for c in stalled.iter_mut().chain(std::iter::once(&mut expecting)) {
        let r = c.read_response(false);
        assert_eq!(r.status, 408, "{}", r.text());
        check_body(
            &r,
            Body::Error("Request Timeout", Some("request body not received in time")),
        )
        .unwrap();
        expect_eof(c).unwrap();
    }
    println!(
        "{N} slow heads answered 408 after {rounds} trickle rounds; {N} idle, {N} mute, {} stalled bodies closed",
        N + 1
    );
    drop((slow, idle, mute, stalled, expecting));
    rig.assert_alive();
    rig.assert_fds_return_to(baseline, "after slow and silent clients");
}

/// A client socket with a tiny receive buffer, so a server writing to it blocks quickly.
#[allow(unsafe_code)]
fn connect_small_window(addr: SocketAddr) -> TcpStream {
    use std::os::fd::FromRawFd;
    let SocketAddr::V4(v4) = addr else {
        panic!("IPv4 only")
    };
    // SAFETY: plain socket calls on a descriptor we own; it is handed to TcpStream at the end
    // (or closed on failure).
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let size: libc::c_int = 4096;
        let rc = libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        assert_eq!(rc, 0);
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: v4.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes(v4.ip().octets()),
            },
            sin_zero: [0; 8],
        };
        let rc = libc::connect(
            fd,
            (&sin as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        if rc != 0 {
            libc::close(fd);
            panic!("connect: {}", std::io::Error::last_os_error());
        }
        TcpStream::from_raw_fd(fd)
    }
}

#[test]
fn clients_that_never_read_are_dropped_after_write_timeout() {
    let rig = Rig::start(&[
        ("WRITE_TIMEOUT", "1s"),
        ("MAX_CONCURRENT_INVOCATIONS", "1"),
        ("WORKER_THREADS", "1"),
    ]);
    let a = rig.addr();
    let baseline = rig.settled_baseline();
    let worker_free = |what: &str| {
        // With one invocation slot, an invocation only gets through once the stream's worker
        // is back.
        eventually(what, Duration::from_secs(30), || {
            post_json(a, "/invocations", QUERY).status == 200
        });
    };

    // SSE: asks for a multi-megabyte stream, never reads it.
    let mut sse = connect_small_window(a);
    sse.write_all(&invocation(&format!(
        r#"{{"query": "{BIG} sse", "session_id": "never-reads", "stream": true}}"#
    )))
    .unwrap();
    rig.bin.wait_for_log("the stream to be abandoned", |l| {
        l["message"] == "client disconnected during stream"
    });
    worker_free("the SSE stream's worker to be freed");

    // WebSocket: same, over /ws.
    let mut ws = connect_small_window(a);
    ws.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    ws.write_all(&good_upgrade()).unwrap();
    let mut head = [0u8; 12];
    ws.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 101");
    ws.write_all(&text_frame(&format!(
        r#"{{"query": "{BIG} ws", "session_id": "never-reads-ws"}}"#
    )))
    .unwrap();
    let ended = rig.bin.wait_for_log("the WebSocket session to end", |l| {
        l["path"] == "/ws" && l["status"] == 101
    });
    // 1006: the session ended on a failed write, without a close handshake.
    assert_eq!(ended["closeCode"], 1006, "{ended}");
    worker_free("the WebSocket session's worker to be freed");

    assert!(
        rig.mock
            .requests()
            .iter()
            .any(|r| last_user_text(r) == format!("{BIG} ws")),
        "the WebSocket query reached the model"
    );
    drop((sse, ws));
    rig.assert_alive();
    rig.assert_fds_return_to(baseline, "after clients that never read");
}

#[test]
fn a_tcp_drop_after_the_websocket_handshake_is_logged_as_1006() {
    // A client that vanishes without a close frame is an abnormal closure (RFC 6455 section
    // 7.1.5: 1006), not a protocol error (1002) on its part.
    let bin = Binary::start(&[]);
    let mut ws = TcpStream::connect(bin.addr).unwrap();
    ws.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    ws.write_all(&good_upgrade()).unwrap();
    let mut head = [0u8; 12];
    ws.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 101");
    ws.shutdown(Shutdown::Both).unwrap();
    drop(ws);
    let ended = bin.wait_for_log("the WebSocket session to end", |l| {
        l["path"] == "/ws" && l["status"] == 101
    });
    assert_eq!(ended["closeCode"], 1006, "{ended}");
}

//! Replays `tests/fixtures/vectors/agentcore-observed.json` (94 exchanges recorded from the real
//! Python SDK and `scripts/record/agentcore_app.py`) against our twin of that app
//! (`examples/contract_app.rs`), served in-process: one fresh server per `app_mode`, the vectors
//! of a mode in file order. HTTP goes over a raw `TcpStream` (exact request bytes; chunked
//! bodies de-chunked and checked to be one chunk per SSE event); WebSocket vectors are played
//! by the real `websockets` client (`tests/peers/ws_driver.py`).
//!
//! Compared: the status, every header of `headers_subset` (and that there is no other header
//! besides `date` and `server`, since the recording left out only those), and the body
//! byte for byte (`body`) or by full-match regex (`body_regex`). Where the recording itself pins
//! down too much, `tests/fixtures/README.md` says what to allow; each allowance below names its
//! point.
//! Python-only artefacts are skipped, each with its reason ([`SKIPPED`]).

#[path = "../../examples/contract_app.rs"]
mod contract_app;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support;

/// The vectors no Rust runtime should reproduce, and why.
const SKIPPED: &[(&str, &str)] = &[
    (
        "return_datetime_in_dict",
        "Python repr: the SDK str()s a dict holding a datetime (`\"{'t': datetime.datetime(...)}\"`)",
    ),
    (
        "return_bytes",
        "Python repr: the SDK str()s a bytes result (`\"b'rawbytes'\"`)",
    ),
    (
        "return_nan",
        "non-standard JSON: Python writes a float NaN as `NaN`; serde_json has no NaN",
    ),
    (
        "nan_literal_input_accepted",
        "non-standard JSON: Python's json.loads accepts and echoes `NaN`/`Infinity` literals",
    ),
    (
        "lone_surrogate_input",
        "a lone UTF-16 surrogate (`\\ud800`) cannot live in a Rust string; the 500 is Python's codec text",
    ),
    (
        "utf16_body_accepted",
        "Python's json.loads(bytes) sniffs UTF-16/32; JSON between systems is UTF-8 (RFC 8259 §8.1)",
    ),
];

/// Port the recording's server listened on (it shows up in redirect `location`s).
const RECORDED_PORT: &str = "18080";
/// Finds the request id `ctx_lowercase_authorization`'s regex recorded (a UUID, escaped as
/// `re.escape` does).
const RECORDED_REQUEST_ID: &str = r"[0-9a-f]{8}\\-[0-9a-f]{4}\\-[0-9a-f]{4}\\-[0-9a-f]{4}\\-[0-9a-f]{12}";
const UUID4_PATTERN: &str = "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}";
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the replay waits for something the app promises to do soon (a 2.5 s task to end).
const SETTLE_DEADLINE: Duration = Duration::from_secs(20);

#[derive(Debug)]
enum Outcome {
    Pass,
    /// Skipped, with the reason and what our server answered (informational).
    Skip(&'static str, String),
    Fail(String),
}

/// A recorded vector.
struct Vector<'a> {
    name: &'a str,
    mode: &'a str,
    request: &'a Value,
    response: &'a Value,
}

impl<'a> Vector<'a> {
    fn from_json(v: &'a Value) -> Vector<'a> {
        Vector {
            name: v["name"].as_str().expect("vector name"),
            mode: v["app_mode"].as_str().expect("vector app_mode"),
            request: &v["request"],
            response: &v["response"],
        }
    }

    fn method(&self) -> &str {
        self.request["method"].as_str().expect("request method")
    }

    fn path(&self) -> &str {
        self.request["path"].as_str().expect("request path")
    }

    fn request_headers(&self) -> Vec<(&str, &str)> {
        header_pairs(&self.request["headers"])
    }

    /// `body` as UTF-8, `body_hex` decoded, or `None` for `null`.
    fn request_body(&self) -> Option<Vec<u8>> {
        if let Some(hex) = self.request.get("body_hex").and_then(Value::as_str) {
            return Some(decode_hex(hex));
        }
        self.request["body"].as_str().map(|s| s.as_bytes().to_vec())
    }

    fn status(&self) -> u16 {
        self.response["status"].as_u64().expect("response status") as u16
    }

    fn headers_subset(&self) -> Vec<(&str, &str)> {
        header_pairs(&self.response["headers_subset"])
    }
}

/// A recorded `{"name": "value"}` header object as pairs (none when absent).
fn header_pairs(headers: &Value) -> Vec<(&str, &str)> {
    headers
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.as_str(), v.as_str().expect("header value")))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn observed_vectors_replay_against_the_reference_twin() {
    let all = support::fixture_json("vectors/agentcore-observed.json");
    let all: Vec<Vector<'_>> = all
        .as_array()
        .expect("a list of vectors")
        .iter()
        .map(Vector::from_json)
        .collect();
    assert_eq!(all.len(), 94, "the recording has 94 vectors");

    let mut modes: Vec<&str> = Vec::new();
    for v in &all {
        if !modes.contains(&v.mode) {
            modes.push(v.mode);
        }
    }
    for mode in &modes {
        assert!(
            contract_app::MODES.contains(mode),
            "vectors use a mode the app lacks: {mode}"
        );
    }

    // Modes are independent servers: replay them side by side.
    let results: Vec<(String, Outcome)> = thread::scope(|scope| {
        let handles: Vec<_> = modes
            .iter()
            .map(|&mode| {
                let vectors: Vec<&Vector<'_>> = all.iter().filter(|v| v.mode == mode).collect();
                scope.spawn(move || replay_mode(mode, &vectors))
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a replay thread panicked"))
            .collect()
    });

    // The table, in file order.
    let mut table = String::from("\ncontract vectors (agentcore-observed.json):\n");
    let mut failures = Vec::new();
    let mut skipped = BTreeSet::new();
    let mut passed = 0;
    for v in &all {
        let outcome = results
            .iter()
            .find(|(name, _)| name == v.name)
            .map(|(_, o)| o)
            .expect("every vector has an outcome");
        let line = match outcome {
            Outcome::Pass => {
                passed += 1;
                "PASS".to_string()
            }
            Outcome::Skip(why, ours) => {
                skipped.insert(v.name);
                format!("SKIP  {why} [ours: {ours}]")
            }
            Outcome::Fail(why) => {
                failures.push(format!("{} ({}): {why}", v.name, v.mode));
                format!("FAIL  {why}")
            }
        };
        table.push_str(&format!("  {:<10} {:<40} {line}\n", v.mode, v.name));
    }
    table.push_str(&format!(
        "  {passed} passed, {} skipped, {} failed\n",
        skipped.len(),
        failures.len()
    ));
    println!("{table}");

    let expected_skips: BTreeSet<&str> = SKIPPED.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        skipped, expected_skips,
        "exactly the Python artefacts are skipped{table}"
    );
    assert!(
        failures.is_empty(),
        "{} vectors failed:\n{}\n{table}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(passed, all.len() - SKIPPED.len());
}

/// State carried from one vector to the next within a mode (the README's allowances 2 and 6).
struct Replay {
    addr: SocketAddr,
    /// The id `manual_add_task` returned in this run.
    manual_task_id: Option<String>,
}

fn replay_mode(mode: &str, vectors: &[&Vector<'_>]) -> Vec<(String, Outcome)> {
    let server = contract_app::build_app(mode)
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind 127.0.0.1:0");
    let mut replay = Replay {
        addr: server.local_addr(),
        manual_task_id: None,
    };
    let results = vectors
        .iter()
        .map(|v| {
            let outcome = match SKIPPED.iter().find(|(name, _)| *name == v.name) {
                Some((_, why)) => Outcome::Skip(why, replay.observe(v)),
                None => replay.run(v).map_or_else(Outcome::Fail, |()| Outcome::Pass),
            };
            (v.name.to_string(), outcome)
        })
        .collect();
    server.shutdown();
    server.wait();
    results
}

impl Replay {
    /// Sends a skipped vector's request and summarizes our answer, for the table only.
    fn observe(&self, v: &Vector<'_>) -> String {
        match exchange(self.addr, &http_request(self.addr, v, None), v.method() == "HEAD") {
            Ok(r) => format!("{} {}", r.status, String::from_utf8_lossy(&r.body)),
            Err(e) => format!("no answer: {e}"),
        }
    }

    fn run(&mut self, v: &Vector<'_>) -> Result<(), String> {
        if v.method() == "WEBSOCKET" {
            return self.run_websocket(v);
        }
        let mut body = v.request_body();
        match v.name {
            // README 6: the 2.5 s background task must have ended before this ping.
            "ping_after_async_task_done" => self.wait_for_ping_status("Healthy")?,
            // README 2: complete the task this run's `manual_add_task` created.
            "manual_complete_task" => {
                let id = self
                    .manual_task_id
                    .as_deref()
                    .ok_or("manual_add_task did not give a task id")?;
                let text = String::from_utf8(body.unwrap_or_default()).map_err(|e| e.to_string())?;
                // The recorded body holds the id that the recording's `manual_add_task` returned.
                let recorded_id = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|b| b["id"].as_i64())
                    .ok_or_else(|| format!("recorded task id not in the body: {text}"))?;
                body = Some(text.replace(&recorded_id.to_string(), id).into_bytes());
            }
            // README 7: the ping must overlap a running invocation.
            "ping_during_long_invocation" => return self.ping_during_invocation(v),
            _ => {}
        }
        let request = http_request(self.addr, v, body.as_deref());
        let response =
            exchange_framed(self.addr, &request, v.method() == "HEAD").map_err(|e| e.to_string())?;
        self.check(v, &response)?;
        if v.name == "manual_add_task" {
            let parsed: Value = serde_json::from_slice(&response.body).map_err(|e| e.to_string())?;
            let id = parsed["task_id"].as_i64().ok_or("no integer task_id")?;
            self.manual_task_id = Some(id.to_string());
        }
        Ok(())
    }

    /// Polls `/ping` until it reports `status` (a deadline, not a sleep to order events).
    fn wait_for_ping_status(&self, status: &str) -> Result<(), String> {
        let want = format!("{{\"status\":\"{status}\",");
        let deadline = Instant::now() + SETTLE_DEADLINE;
        loop {
            let r = exchange(self.addr, &ping_request(self.addr), false).map_err(|e| e.to_string())?;
            if r.body.starts_with(want.as_bytes()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "/ping still says {} after {SETTLE_DEADLINE:?}",
                    String::from_utf8_lossy(&r.body)
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `{"case":"sleep","s":1.5}` and, while it runs, the vector's ping. The ping must be
    /// answered before the invocation is (else the two did not overlap: retried, the machine
    /// may be busy), and pings keep saying the same until the invocation ends.
    fn ping_during_invocation(&self, v: &Vector<'_>) -> Result<(), String> {
        const ATTEMPTS: usize = 3;
        let addr = self.addr;
        for attempt in 1..=ATTEMPTS {
            let finished = Arc::new(AtomicBool::new(false));
            let (sent_tx, sent_rx) = mpsc::channel();
            let sleeper = {
                let finished = Arc::clone(&finished);
                thread::spawn(move || {
                    let body = br#"{"case":"sleep","s":1.5}"#;
                    let request = post_request(addr, "/invocations", body);
                    let mut stream = send(addr, &request)?;
                    let _ = sent_tx.send(());
                    let response = read_response(&mut stream, false);
                    finished.store(true, Ordering::SeqCst);
                    response
                })
            };
            sent_rx
                .recv_timeout(IO_TIMEOUT)
                .map_err(|_| "the sleep invocation was not sent".to_string())?;
            let ping =
                exchange_framed(addr, &http_request(addr, v, None), false).map_err(|e| e.to_string())?;
            let overlapped = !finished.load(Ordering::SeqCst);
            self.check(v, &ping)?;
            while !finished.load(Ordering::SeqCst) {
                let again = exchange(addr, &ping_request(addr), false).map_err(|e| e.to_string())?;
                self.check(v, &again)
                    .map_err(|e| format!("a later ping during the invocation: {e}"))?;
                thread::sleep(Duration::from_millis(50));
            }
            let slept = sleeper
                .join()
                .map_err(|_| "sleeper panicked".to_string())?
                .map_err(|e| format!("the sleep invocation: {e}"))?;
            if slept.status != 200 || slept.body != br#"{"slept": 1.5}"# {
                return Err(format!(
                    "the sleep invocation answered {} {}",
                    slept.status,
                    String::from_utf8_lossy(&slept.body)
                ));
            }
            if overlapped {
                return Ok(());
            }
            if attempt == ATTEMPTS {
                return Err(format!(
                    "the ping never overlapped the invocation in {ATTEMPTS} attempts"
                ));
            }
        }
        Ok(())
    }

    fn check(&self, v: &Vector<'_>, r: &RawResponse) -> Result<(), String> {
        let expected_status = v.status();
        if r.status != expected_status {
            return Err(format!(
                "status {} (expected {expected_status}), body {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
        check_headers(self.addr, v, &r.headers, r.body.len(), v.method() == "HEAD")?;
        check_body(v, &r.body)?;
        let chunked = v
            .headers_subset()
            .iter()
            .any(|(n, value)| n.eq_ignore_ascii_case("transfer-encoding") && *value == "chunked");
        if chunked {
            // One HTTP chunk per SSE event, as the SDK flushes them.
            let expected = v.response["body"]
                .as_str()
                .ok_or("a chunked vector without a body")?;
            let events: Vec<&[u8]> = expected.split_inclusive("\n\n").map(str::as_bytes).collect();
            let chunks: Vec<&[u8]> = r.chunks.iter().map(Vec::as_slice).collect();
            if chunks != events {
                return Err(format!(
                    "chunks {:?} are not one per event {:?}",
                    chunks
                        .iter()
                        .map(|c| String::from_utf8_lossy(c))
                        .collect::<Vec<_>>(),
                    events
                        .iter()
                        .map(|c| String::from_utf8_lossy(c))
                        .collect::<Vec<_>>()
                ));
            }
        }
        Ok(())
    }

    fn run_websocket(&self, v: &Vector<'_>) -> Result<(), String> {
        let url = format!("ws://{}{}", self.addr, v.path());
        let headers: serde_json::Map<String, Value> = v
            .request_headers()
            .into_iter()
            .map(|(k, val)| (k.to_string(), json!(val)))
            .collect();
        let job = json!({"headers": headers, "send": v.request["ws_send"]});
        let out = run_ws_driver(&url, &job)?;
        let status = out["status"].as_u64().ok_or("driver gave no status")? as u16;
        if status != v.status() {
            return Err(format!("status {status} (expected {}): {out}", v.status()));
        }
        if status == 101 {
            if out["received"] != v.response["ws_received"] {
                return Err(format!(
                    "received {} (expected {})",
                    out["received"], v.response["ws_received"]
                ));
            }
            if out["close"] != v.response["ws_close"] {
                return Err(format!(
                    "close {} (expected {})",
                    out["close"], v.response["ws_close"]
                ));
            }
            return Ok(());
        }
        let headers: Vec<(String, String)> = out["headers"]
            .as_object()
            .ok_or("driver gave no headers")?
            .iter()
            .map(|(k, val)| (k.clone(), val.as_str().unwrap_or_default().to_string()))
            .collect();
        let body = out["body"].as_str().ok_or("driver gave no body")?;
        check_headers(self.addr, v, &headers, body.len(), false)?;
        check_body(v, body.as_bytes())
    }
}

/// Every header of `headers_subset`, and no header beyond those, `date` and `server`.
fn check_headers(
    addr: SocketAddr,
    v: &Vector<'_>,
    headers: &[(String, String)],
    body_len: usize,
    head_only: bool,
) -> Result<(), String> {
    let subset = v.headers_subset();
    for (name, expected) in &subset {
        let name = name.to_ascii_lowercase();
        let got = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, value)| value.as_str())
            .ok_or_else(|| format!("no {name} header (expected {expected:?}) in {headers:?}"))?;
        let matches = match name.as_str() {
            // README 4: the recording's port is not ours.
            "location" => got == expected.replace(RECORDED_PORT, &addr.port().to_string()),
            // README 5: the order inside `allow` is not fixed.
            "allow" => comma_set(got) == comma_set(expected),
            // README 3: the recorded length fits that run's random task id.
            "content-length" if v.name == "manual_add_task" => got == body_len.to_string(),
            _ => got == *expected,
        };
        if !matches {
            return Err(format!("{name}: {got:?} (expected {expected:?})"));
        }
    }
    if let Some((_, len)) = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        && !head_only
        && *len != body_len.to_string()
    {
        return Err(format!("content-length {len} but a body of {body_len} bytes"));
    }
    let extra: Vec<&str> = headers
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| {
            !n.eq_ignore_ascii_case("date")
                && !n.eq_ignore_ascii_case("server")
                && !subset.iter().any(|(s, _)| s.eq_ignore_ascii_case(n))
        })
        .collect();
    if !extra.is_empty() {
        return Err(format!("headers the SDK does not send: {extra:?}"));
    }
    Ok(())
}

fn comma_set(value: &str) -> BTreeSet<&str> {
    value.split(',').map(str::trim).collect()
}

fn check_body(v: &Vector<'_>, body: &[u8]) -> Result<(), String> {
    if let Some(expected) = v.response.get("body").and_then(Value::as_str) {
        if body != expected.as_bytes() {
            return Err(format!(
                "body {:?} (expected {expected:?})",
                String::from_utf8_lossy(body)
            ));
        }
        return Ok(());
    }
    let pattern = v.response["body_regex"]
        .as_str()
        .ok_or("a vector with neither body nor body_regex")?;
    let pattern = if v.name == "ctx_lowercase_authorization" {
        // README 1: any request id must match where the recording holds its own.
        let recorded_id = regex_lite::Regex::new(RECORDED_REQUEST_ID).expect("a valid regex");
        if recorded_id.find_iter(pattern).count() != 1 {
            return Err("the recorded request id is not (once) in the regex".into());
        }
        recorded_id
            .replace(pattern, regex_lite::NoExpand(UUID4_PATTERN))
            .into_owned()
    } else {
        pattern.to_string()
    };
    let re = regex_lite::Regex::new(&format!(r"\A(?:{})\z", python_regex(&pattern)))
        .map_err(|e| format!("bad body_regex {pattern:?}: {e}"))?;
    let text = std::str::from_utf8(body).map_err(|e| format!("body is not UTF-8: {e}"))?;
    if !re.is_match(text) {
        return Err(format!("body {text:?} does not fully match {pattern:?}"));
    }
    Ok(())
}

/// Python's `re.escape` escapes characters (space, `-`, ...) that regex-lite refuses to see
/// escaped; re-escape every escaped non-alphanumeric character the way regex-lite wants it.
fn python_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(e) if !e.is_ascii_alphanumeric() => out.push_str(&regex_lite::escape(&e.to_string())),
            Some(e) => {
                out.push('\\');
                out.push(e);
            }
            None => out.push('\\'),
        }
    }
    out
}

// ---- HTTP over a raw socket ------------------------------------------------------------------

/// What came back, with the chunks of a chunked body kept apart.
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    chunks: Vec<Vec<u8>>,
}

/// The request http.client would send for the vector: `Host` and `Accept-Encoding: identity`
/// first, then `Content-Length` (also 0 for a body-less POST/PUT), then the vector's headers in
/// their order.
fn http_request(addr: SocketAddr, v: &Vector<'_>, body_override: Option<&[u8]>) -> Vec<u8> {
    let body = body_override.map(<[u8]>::to_vec).or_else(|| v.request_body());
    let mut out = format!(
        "{} {} HTTP/1.1\r\nHost: {addr}\r\nAccept-Encoding: identity\r\n",
        v.method(),
        v.path()
    )
    .into_bytes();
    let length = match (&body, v.method()) {
        (Some(b), _) => Some(b.len()),
        (None, "POST" | "PUT" | "PATCH") => Some(0),
        (None, _) => None,
    };
    if let Some(len) = length {
        out.extend_from_slice(format!("Content-Length: {len}\r\n").as_bytes());
    }
    for (name, value) in v.request_headers() {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    if let Some(b) = body {
        out.extend_from_slice(&b);
    }
    out
}

fn ping_request(addr: SocketAddr) -> Vec<u8> {
    format!("GET /ping HTTP/1.1\r\nHost: {addr}\r\nAccept-Encoding: identity\r\n\r\n").into_bytes()
}

fn post_request(addr: SocketAddr, path: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAccept-Encoding: identity\r\nContent-Length: {}\r\nContent-Type: application/json\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn exchange(addr: SocketAddr, request: &[u8], head_only: bool) -> std::io::Result<RawResponse> {
    let mut stream = send(addr, request)?;
    read_response(&mut stream, head_only)
}

/// [`exchange`], then proves the response ended where its framing said: a second request on
/// the same connection must be answered from the very next byte (a stray body byte after a
/// HEAD answer or a wrong length would show up as a bad status line). Skipped when the server
/// closes the connection.
fn exchange_framed(addr: SocketAddr, request: &[u8], head_only: bool) -> std::io::Result<RawResponse> {
    let mut stream = send(addr, request)?;
    let response = read_response(&mut stream, head_only)?;
    let closes = response
        .headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close"));
    if !closes {
        stream
            .get_mut()
            .write_all(format!("GET /nope HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())?;
        let unclean = |what: String| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "the response did not end where its framing said: the next one on the connection {what}"
                ),
            )
        };
        let next = read_response(&mut stream, false).map_err(|e| unclean(format!("is unreadable: {e}")))?;
        if next.status != 404 || next.body != b"Not Found" {
            return Err(unclean(format!(
                "is {} {:?}",
                next.status,
                String::from_utf8_lossy(&next.body)
            )));
        }
    }
    Ok(response)
}

/// Connects and writes `request`. The reader stays with the connection for its lifetime: it
/// reads ahead, and bytes it holds belong to the next response.
fn send(addr: SocketAddr, request: &[u8]) -> std::io::Result<BufReader<TcpStream>> {
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.write_all(request)?;
    Ok(BufReader::new(stream))
}

fn read_response(reader: &mut BufReader<TcpStream>, head_only: bool) -> std::io::Result<RawResponse> {
    let bad = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let status_line = read_line(reader)?;
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad(format!("bad header {line:?}")))?;
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    let mut chunks = Vec::new();
    if head_only || status < 200 || status == 204 || status == 304 {
        // No body.
    } else if header("transfer-encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked")) {
        loop {
            let size_line = read_line(reader)?;
            let size_hex = size_line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_hex, 16)
                .map_err(|_| bad(format!("bad chunk size {size_line:?}")))?;
            if size == 0 {
                while !read_line(reader)?.is_empty() {}
                break;
            }
            let mut chunk = vec![0; size];
            reader.read_exact(&mut chunk)?;
            if !read_line(reader)?.is_empty() {
                return Err(bad("chunk not followed by CRLF".into()));
            }
            body.extend_from_slice(&chunk);
            chunks.push(chunk);
        }
    } else if let Some(len) = header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| bad(format!("bad content-length {len:?}")))?;
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    } else {
        reader.read_to_end(&mut body)?;
    }
    Ok(RawResponse {
        status,
        headers,
        body,
        chunks,
    })
}

/// One CRLF-terminated line, without the CRLF.
fn read_line(reader: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\r\n") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("line not ended by CRLF: {:?}", String::from_utf8_lossy(&line)),
        ));
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

fn decode_hex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex body"))
        .collect()
}

// ---- WebSocket through the real client -------------------------------------------------------

/// Runs `tests/peers/ws_driver.py` for one vector and parses what it prints.
fn run_ws_driver(url: &str, job: &Value) -> Result<Value, String> {
    let script = support::repo_root().join("tests/peers/ws_driver.py");
    let mut child = Command::new(support::peer_python())
        .arg(&script)
        .arg(url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", script.display()))?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(job.to_string().as_bytes())
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(_) => break,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("ws driver still running after {IO_TIMEOUT:?}"));
            }
            None => thread::sleep(Duration::from_millis(20)),
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "ws driver failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "ws driver printed {:?}: {e}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

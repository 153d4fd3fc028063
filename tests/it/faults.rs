//! Hardening: the real binary under faults and hostile input.
//!
//! Every test runs the `agentcore-rt` process with a mock OpenAI server, real MCP servers
//! (tests/peers/*.py on the .venv Python) and sessions in a temporary directory, and checks what
//! a client and an operator see: a clear JSON error (status, and a message naming the phase or
//! the cause) within the configured limits, sessions that still load afterwards and hold what
//! Strands would hold, no torn JSON files, nothing written outside `SESSION_DIR`, and no secret
//! in a log line or a response body.
//!
//! Tests run as root in CI, where permission bits do not stop a write: unwritable directories are
//! made with a file where a directory is expected and with a read-only bind mount, a full disk
//! with a small tmpfs. Mounting needs CAP_SYS_ADMIN; without it those parts are skipped and say so.

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::mock_openai::{Fault, MockOpenAi, RecordedRequest, Reply, ReplyBody};
use crate::support::server::{Binary, Conn, Resp, eventually, get, post_json, request};
use crate::support::{TempDir, alive, messages_dir, messages_on_disk, peer_python, proc_kb, repo_root};

// ---- helpers ------------------------------------------------------------------------------

const SYSTEM: &str = "You are a helpful assistant.";

/// Model limits small enough that every fault ends within seconds.
const FAST_MODEL: [(&str, &str); 7] = [
    ("MODEL_CONNECT_TIMEOUT", "1s"),
    ("MODEL_FIRST_BYTE_TIMEOUT", "1s"),
    ("MODEL_IDLE_TIMEOUT", "1s"),
    ("MODEL_TIMEOUT", "4s"),
    ("MODEL_MAX_ATTEMPTS", "3"),
    ("MODEL_RETRY_BASE_DELAY", "50ms"),
    ("MODEL_RETRY_MAX_DELAY", "200ms"),
];

/// `MODEL_TIMEOUT` above plus the slack a loaded 2-core CI machine needs. Not a performance
/// claim: only "the fault ended the call instead of hanging it".
const FAULT_BOUND: Duration = Duration::from_secs(4 + 10);

/// Starts the binary against `base_url` with sessions under `session_dir`.
fn start_binary(base_url: &str, session_dir: &Path, extra: &[(&str, &str)]) -> Binary {
    let dir = session_dir.display().to_string();
    let mut env = vec![
        ("OPENAI_BASE_URL", base_url),
        ("OPENAI_API_KEY", "sk-faults-test"),
        ("SYSTEM_PROMPT", SYSTEM),
        ("SESSION_DIR", dir.as_str()),
    ];
    env.extend_from_slice(extra);
    Binary::start(&env)
}

fn invoke(addr: SocketAddr, payload: &Value) -> Resp {
    post_json(addr, "/invocations", &payload.to_string())
}

/// `invoke` that reports a dead server instead of panicking (for the kill -9 clients).
fn try_invoke(addr: SocketAddr, payload: &Value) -> Result<Resp, String> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let body = payload.to_string();
    let raw = format!(
        "POST /invocations HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut conn = Conn {
        reader: BufReader::new(stream),
    };
    conn.reader
        .get_mut()
        .write_all(raw.as_bytes())
        .map_err(|e| e.to_string())?;
    conn.try_read_response(false)
}

fn timed_invoke(addr: SocketAddr, payload: &Value) -> (Resp, Duration) {
    let started = Instant::now();
    let resp = invoke(addr, payload);
    (resp, started.elapsed())
}

fn sse_events(resp: &Resp) -> Vec<Value> {
    resp.text()
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            serde_json::from_str(
                e.strip_prefix("data: ")
                    .unwrap_or_else(|| panic!("not SSE: {e:?}")),
            )
            .unwrap_or_else(|err| panic!("SSE event is not JSON ({err}): {e}"))
        })
        .collect()
}

fn last_user_text(req: &RecordedRequest) -> String {
    req.last_user_text().unwrap_or_default().to_string()
}

/// A model that does what the user says: `call <tool> <json args>` makes it call that tool once
/// and then answer `tool said: <the tool message>`; anything else is answered `re: <text>`.
fn scripted_model(mock: &MockOpenAi) {
    mock.respond_with(|req| {
        let messages = req.json.as_ref()?["messages"].as_array()?.clone();
        let last = messages.last()?;
        if last["role"] == "tool" {
            return Some(Reply::text(&format!(
                "tool said: {}",
                last["content"].as_str().unwrap_or_default()
            )));
        }
        let text = last_user_text(req);
        Some(match text.strip_prefix("call ") {
            Some(rest) => {
                let (tool, args) = rest.split_once(' ').unwrap_or((rest, "{}"));
                Reply::tool_calls(&[("call_1", tool, args)])
            }
            None => Reply::text(&format!("re: {text}")),
        })
    });
}

/// Asks and returns the answer text (without Strands' trailing newline); must succeed.
fn ask(addr: SocketAddr, session: &str, query: &str) -> String {
    let r = invoke(addr, &json!({"query": query, "session_id": session}));
    assert_eq!(r.status, 200, "{query}: {}", r.text());
    r.json()["response"]
        .as_str()
        .unwrap()
        .trim_end_matches('\n')
        .to_string()
}

/// `(role, first text)` of every stored message.
fn stored_texts(root: &Path, session: &str) -> Vec<(String, String)> {
    messages_on_disk(root, session)
        .iter()
        .map(|m| {
            (
                m["message"]["role"].as_str().unwrap().to_string(),
                m["message"]["content"][0]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

/// Walks `root` without following links: every `*.json` file parses, except the `planted` ones.
/// Returns the leftover temp files (`.strands_*.tmp`) it saw.
fn assert_json_files_parse(root: &Path, planted: &[PathBuf]) -> Vec<PathBuf> {
    let mut temps = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() && name.ends_with(".json") && !planted.contains(&path) {
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(
                    serde_json::from_str::<Value>(&text).is_ok(),
                    "torn JSON file {}: {text:?}",
                    path.display()
                );
            } else if name.starts_with(".strands_") && name.ends_with(".tmp") {
                temps.push(path);
            }
        }
    }
    temps
}

/// Every path under `dir` (links not followed), relative to it, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(dir).unwrap().display().to_string());
            if std::fs::symlink_metadata(&path).unwrap().is_dir() {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

fn borrowed(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// A port on which nothing listens (bound, then released).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// A mount that is undone when dropped (even when the test fails).
struct Mount(PathBuf);

impl Mount {
    /// `mount <args> <target>`, or why it could not be done.
    fn new(args: &[&str], target: &Path) -> Result<Mount, String> {
        run_mount(args, target)?;
        Ok(Mount(target.to_path_buf()))
    }

    /// A read-only bind mount of `dir` onto itself.
    fn read_only(dir: &Path) -> Result<Mount, String> {
        let path = dir.display().to_string();
        let mount = Mount::new(&["--bind", &path], dir)?;
        // The same mount, made read-only: the guard above undoes both.
        run_mount(&["-o", "remount,ro,bind"], dir)?;
        Ok(mount)
    }
}

fn run_mount(args: &[&str], target: &Path) -> Result<(), String> {
    let out = Command::new("mount")
        .args(args)
        .arg(target)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// `chattr +i` on a path, undone when dropped: EPERM on writes, for root too.
struct Immutable(PathBuf);

impl Immutable {
    fn set(path: &Path) -> Result<Immutable, String> {
        let out = Command::new("chattr")
            .arg("+i")
            .arg(path)
            .output()
            .map_err(|e| format!("cannot run chattr: {e}"))?;
        if out.status.success() {
            Ok(Immutable(path.to_path_buf()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

fn peer(name: &str) -> String {
    repo_root().join("tests/peers").join(name).display().to_string()
}

/// An `mcpServers` entry for a stdio peer script run by the .venv Python.
fn stdio_server(script: &str, mode: &str, extra: Value) -> Value {
    let mut entry = json!({
        "command": peer_python().display().to_string(),
        "args": [peer(script), mode],
        "startup_timeout": 60,
    });
    if let (Value::Object(entry), Value::Object(extra)) = (&mut entry, extra) {
        entry.extend(extra);
    }
    entry
}

/// The names of the tools the model was offered in its first request.
fn offered_tools(mock: &MockOpenAi) -> Vec<String> {
    mock.requests()[0].json.as_ref().unwrap()["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_string())
        .collect()
}

fn write_mcp_config(dir: &Path, servers: Value) -> String {
    let path = dir.join("mcp.json");
    std::fs::write(&path, json!({ "mcpServers": servers }).to_string()).unwrap();
    path.display().to_string()
}

/// The binary with one stdio MCP server and the scripted model; the fields keep the temporary
/// directories and the mock alive for the test.
struct McpRig {
    bin: Binary,
    sessions: TempDir,
    _config: TempDir,
    _mock: MockOpenAi,
}

fn mcp_rig(test: &str, servers: Value) -> McpRig {
    let config = TempDir::new(&format!("faults-{test}"));
    let path = write_mcp_config(config.path(), servers);
    let mock = MockOpenAi::start();
    scripted_model(&mock);
    let sessions = TempDir::new(&format!("faults-{test}-sessions"));
    let bin = start_binary(&mock.base_url(), sessions.path(), &[("MCP_CONFIG", &path)]);
    McpRig {
        bin,
        sessions,
        _config: config,
        _mock: mock,
    }
}

// ---- 1. model endpoint faults ---------------------------------------------------------------

/// One way the model endpoint misbehaves, and what the client must be told.
struct ModelFault {
    name: &'static str,
    reply: fn() -> Reply,
    status: u16,
    error_type: &'static str,
    /// Part of the error message that names the phase or cause.
    cause: &'static str,
    /// Requests the runtime may make for one invocation (retries of undelivered failures).
    attempts: usize,
    /// Text the SSE client sees before the error (delivered deltas are not taken back).
    streamed: &'static str,
}

fn model_faults() -> Vec<ModelFault> {
    vec![
        ModelFault {
            name: "hang-after-head",
            reply: || Reply::text("never sent").fault(Fault::HangAfterHead),
            status: 504,
            error_type: "ModelError",
            cause: "model call timed out (first byte timeout, 1000 ms)",
            attempts: 1,
            streamed: "",
        },
        ModelFault {
            name: "hang-mid-stream",
            reply: || Reply::text("a partial answer").fault(Fault::HangAfterEvents(2)),
            status: 504,
            error_type: "ModelError",
            cause: "model call timed out (stream idle timeout, 1000 ms)",
            attempts: 1,
            streamed: "a pa",
        },
        ModelFault {
            name: "drop-mid-stream",
            reply: || Reply::text("a partial answer").fault(Fault::DropAfterEvents(2)),
            status: 502,
            error_type: "ModelError",
            cause: "while reading the response",
            attempts: 1,
            streamed: "a pa",
        },
        ModelFault {
            name: "invalid-json",
            reply: || Reply::text("a partial answer").fault(Fault::InvalidJsonAfter(2)),
            status: 502,
            error_type: "ModelError",
            cause: "model provider sent an invalid response",
            attempts: 1,
            streamed: "a pa",
        },
        ModelFault {
            name: "truncated-stream",
            reply: || Reply::text("a partial answer").fault(Fault::TruncateAfterEvents(2)),
            status: 502,
            error_type: "ModelError",
            cause: "the stream ended before the model finished",
            attempts: 1,
            streamed: "a pa",
        },
        ModelFault {
            name: "done-without-finish",
            reply: || Reply::text("a partial answer").fault(Fault::DoneAfterEvents(2)),
            status: 502,
            error_type: "ModelError",
            cause: "the stream ended with [DONE] but no finish_reason",
            attempts: 1,
            streamed: "a pa",
        },
        ModelFault {
            name: "rate-limited-forever",
            reply: || Reply::rate_limited().retry_after("0.05"),
            status: 502,
            error_type: "ModelThrottledException",
            cause: "model provider is throttling requests: Rate limit reached",
            attempts: 3,
            streamed: "",
        },
    ]
}

/// The model request's messages as `(role, text)`.
fn request_messages(req: &RecordedRequest) -> Vec<(String, String)> {
    req.json.as_ref().unwrap()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let text = match &m["content"] {
                Value::String(s) => s.clone(),
                content => content[0]["text"].as_str().unwrap_or_default().to_string(),
            };
            (m["role"].as_str().unwrap().to_string(), text)
        })
        .collect()
}

fn user(text: &str) -> (String, String) {
    ("user".to_string(), text.to_string())
}

#[test]
fn model_faults_end_in_clear_errors_and_the_prompt_stays_in_the_session() {
    let mock = MockOpenAi::start();
    let faults = model_faults();
    let replies: HashMap<String, Reply> = faults.iter().map(|f| (f.name.to_string(), (f.reply)())).collect();
    mock.respond_with(move |req| {
        let text = last_user_text(req);
        let case = text.split_once(':').map_or("", |(_, case)| case);
        Some(
            replies
                .get(case)
                .cloned()
                .unwrap_or_else(|| Reply::text("recovered")),
        )
    });
    let sessions = TempDir::new("faults-model");
    let bin = start_binary(&mock.base_url(), sessions.path(), &FAST_MODEL);
    let a = bin.addr;

    for mode in ["json", "sse"] {
        let session = format!("faults-{mode}");
        let stream = mode == "sse";
        let mut asked = Vec::new();
        for fault in &faults {
            let query = format!("{mode}:{}", fault.name);
            let before = mock.request_count();
            let (r, took) = timed_invoke(
                a,
                &json!({"query": query, "session_id": session, "stream": stream}),
            );
            assert!(
                took < FAULT_BOUND,
                "{query}: took {took:?}, more than {FAULT_BOUND:?}"
            );
            if stream {
                assert_eq!(r.status, 200, "{query}: the SSE head went out before the fault");
                let events = sse_events(&r);
                let last = events.last().unwrap();
                assert_eq!(last["type"], "error", "{query}: {events:?}");
                assert_eq!(last["error_type"], fault.error_type, "{query}: {last}");
                assert_eq!(last["status"], fault.status, "{query}: {last}");
                assert_eq!(last["message"], "An error occurred during streaming");
                let error = last["error"].as_str().unwrap();
                assert!(error.contains(fault.cause), "{query}: {error}");
                println!("{query}: SSE error event {last}");
                let text: String = events
                    .iter()
                    .filter(|e| e["type"] == "text")
                    .map(|e| e["data"].as_str().unwrap())
                    .collect();
                assert_eq!(text, fault.streamed, "{query}: deltas before the fault");
            } else {
                assert_eq!(r.status, fault.status, "{query}: {}", r.text());
                assert_eq!(r.header("content-type"), Some("application/json"));
                let body = r.json();
                let error = body["error"].as_str().unwrap();
                assert!(error.contains(fault.cause), "{query}: {error}");
                println!("{query}: {} {body} after {took:?}", r.status);
            }
            assert_eq!(
                mock.request_count() - before,
                fault.attempts,
                "{query}: model requests"
            );
            asked.push(query);
        }
        // Scenario H: each failed turn left its user message; the next turn sends them all.
        let recover = format!("{mode}:recover");
        let r = invoke(
            a,
            &json!({"query": recover, "session_id": session, "stream": stream}),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let last_request = mock.requests().pop().unwrap();
        let mut expected = vec![("system".to_string(), SYSTEM.to_string())];
        expected.extend(asked.iter().map(|q| user(q)));
        expected.push(user(&recover));
        assert_eq!(request_messages(&last_request), expected);
        let mut on_disk: Vec<(String, String)> = asked.iter().map(|q| user(q)).collect();
        on_disk.push(user(&recover));
        on_disk.push(("assistant".into(), "recovered".into()));
        assert_eq!(stored_texts(sessions.path(), &session), on_disk);
    }
    let temps = assert_json_files_parse(sessions.path(), &[]);
    assert!(temps.is_empty(), "temp files left: {temps:?}");
    assert_eq!(get(a, "/ping").status, 200);
}

#[test]
fn a_model_endpoint_that_refuses_connections_fails_fast_and_keeps_the_prompts() {
    let sessions = TempDir::new("faults-refused");
    let refused = format!("http://127.0.0.1:{}/v1", closed_port());
    {
        let bin = start_binary(&refused, sessions.path(), &FAST_MODEL);
        let (r, took) = timed_invoke(bin.addr, &json!({"query": "first", "session_id": "refused"}));
        assert!(took < FAULT_BOUND, "took {took:?}");
        assert_eq!(r.status, 502, "{}", r.text());
        let error = r.json()["error"].as_str().unwrap().to_string();
        assert!(
            error.starts_with("cannot reach the model provider: POST ")
                && error.contains(&format!("{refused}/chat/completions")),
            "{error}"
        );
        let (r, took) = timed_invoke(
            bin.addr,
            &json!({"query": "second", "session_id": "refused", "stream": true}),
        );
        assert!(took < FAULT_BOUND, "took {took:?}");
        let last = sse_events(&r).pop().unwrap();
        assert_eq!(last["type"], "error");
        assert_eq!(last["error_type"], "ModelError");
        assert_eq!(last["status"], 502);
        assert_eq!(last["error"], error.as_str());
    }
    // A restarted runtime with a working model loads the session and sends both prompts.
    let mock = MockOpenAi::start();
    mock.set_default(Reply::text("finally"));
    let bin = start_binary(&mock.base_url(), sessions.path(), &FAST_MODEL);
    assert_eq!(ask(bin.addr, "refused", "third"), "finally");
    assert_eq!(
        request_messages(&mock.requests()[0]),
        vec![
            ("system".to_string(), SYSTEM.to_string()),
            user("first"),
            user("second"),
            user("third")
        ]
    );
}

// ---- 2. MCP server faults through the binary ------------------------------------------------

#[test]
fn an_mcp_server_crashing_mid_call_gives_an_error_result_and_is_restarted() {
    let rig = mcp_rig(
        "mcp-crash",
        json!({"py": stdio_server("mcp_server.py", "stdio", json!({"tool_filters": {"allowed": ["pid", "crash"]}}))}),
    );
    let (bin, sessions) = (&rig.bin, &rig.sessions);
    let a = bin.addr;
    let pid = |answer: String| -> u32 { answer.strip_prefix("tool said: ").unwrap().parse().unwrap() };
    let first = pid(ask(a, "c", "call pid {}"));
    assert_eq!(
        ask(a, "c", "call crash {}"),
        "tool said: Tool execution failed: Connection closed"
    );
    let stored = messages_on_disk(sessions.path(), "c");
    let result = &stored[6]["message"]["content"][0]["toolResult"];
    assert_eq!(result["status"], "error", "{result}");
    eventually("the crashed server to be reaped", Duration::from_secs(10), || {
        !alive(first)
    });
    let second = pid(ask(a, "c", "call pid {}"));
    assert_ne!(first, second, "the next invocation runs a new server");
    assert!(alive(second));
}

#[test]
fn an_mcp_server_writing_garbage_mid_session_is_dropped_and_restarted() {
    let rig = mcp_rig(
        "mcp-babble",
        json!({"babbler": stdio_server("faulty_mcp_server.py", "babble", json!({}))}),
    );
    let (bin, sessions) = (&rig.bin, &rig.sessions);
    let a = bin.addr;
    assert_eq!(
        ask(a, "g", r#"call echo {"text": "before"}"#),
        "tool said: before"
    );
    // The model gets the MCP SDK's text (as Strands would); the log names the cause.
    assert_eq!(
        ask(a, "g", "call babble {}"),
        "tool said: Tool execution failed: Connection closed"
    );
    let stored = messages_on_disk(sessions.path(), "g");
    assert_eq!(
        stored[6]["message"]["content"][0]["toolResult"]["status"],
        "error"
    );
    assert!(
        bin.logs().iter().any(|l| l["level"] == "ERROR"
            && l["server"] == "babbler"
            && l["message"] == "server wrote more than 20 lines on stdout that are not JSON-RPC"),
        "the log says why the server was dropped"
    );
    assert_eq!(ask(a, "g", r#"call echo {"text": "after"}"#), "tool said: after");
    let garbage_warnings = bin
        .logs()
        .iter()
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("ignoring a line on stdout"))
        })
        .count();
    assert!(
        (1..=21).contains(&garbage_warnings),
        "{garbage_warnings} warnings"
    );
}

#[test]
fn the_port_listens_while_mcp_servers_start_and_early_invocations_wait_for_their_tools() {
    let config = TempDir::new("faults-mcp-slow-start");
    let sessions = TempDir::new("faults-mcp-slow-start-sessions");
    let mock = MockOpenAi::start();
    scripted_model(&mock);
    let gate = config.path().join("open");
    let mut server = stdio_server("faulty_mcp_server.py", "gated", json!({}));
    server["args"]
        .as_array_mut()
        .unwrap()
        .push(json!(gate.display().to_string()));
    let path = write_mcp_config(config.path(), json!({ "slow": server }));
    // Until the gate opens the server answers nothing, so everything below happens while the
    // start-up probe is still waiting for it.
    let bin = start_binary(&mock.base_url(), sessions.path(), &[("MCP_CONFIG", &path)]);
    assert_eq!(
        get(bin.addr, "/ping").status,
        200,
        "/ping answered during the probe"
    );
    let a = bin.addr;
    let early = std::thread::spawn(move || {
        timed_invoke(
            a,
            &json!({"query": r#"call echo {"text": "early"}"#, "session_id": "early"}),
        )
    });
    // A grace period for a negative check only: an invocation that did not wait for its tools
    // would have asked the model by then.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        mock.request_count(),
        0,
        "the model was asked before the tools were there"
    );
    std::fs::write(&gate, b"").unwrap();
    let (r, _) = early.join().unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["response"], "tool said: early\n");
    let tools = offered_tools(&mock);
    assert_eq!(tools, ["echo", "gated"], "the first invocation had the tools");
}

#[test]
fn mcp_servers_that_fail_start_up_stop_the_binary_unless_continue_on_error() {
    let config = TempDir::new("faults-mcp-startup");
    let sessions = TempDir::new("faults-mcp-startup-sessions");
    let mock = MockOpenAi::start();
    scripted_model(&mock);
    let dir = sessions.path().display().to_string();
    let base_url = mock.base_url();
    let env = |path: &str| {
        vec![
            ("OPENAI_BASE_URL".to_string(), base_url.clone()),
            ("SESSION_DIR".to_string(), dir.clone()),
            ("MCP_CONFIG".to_string(), path.to_string()),
        ]
    };
    let cases = [
        (
            "mute",
            stdio_server("raw_mcp_server.py", "silent", json!({"startup_timeout": 1})),
            "MCP server 'mute' failed to start: Request 'initialize' timed out",
        ),
        (
            "junk",
            stdio_server("raw_mcp_server.py", "garbage", json!({})),
            "MCP server 'junk' failed to start: Connection closed: server wrote more than 20 lines on stdout that are not JSON-RPC",
        ),
    ];
    for (name, server, expected) in &cases {
        let path = write_mcp_config(config.path(), json!({ *name: server }));
        let started = Instant::now();
        // The port listens at once (the probe runs in the background); a failed probe then
        // stops the process, as it stopped the start before.
        let (stdout, stderr) = match Binary::try_start(&borrowed(&env(&path))) {
            Err(output) => output,
            Ok(mut bin) => {
                let status = bin
                    .wait_exit(Duration::from_secs(15))
                    .unwrap_or_else(|| panic!("{name}: the binary kept serving with a broken MCP server"));
                assert_eq!(status.code(), Some(2), "{name}");
                eventually("the start-up error on stderr", Duration::from_secs(5), || {
                    !bin.stderr().is_empty()
                });
                (bin.stdout(), bin.stderr())
            }
        };
        assert!(
            started.elapsed() < Duration::from_secs(1 + 10),
            "{name}: {:?}",
            started.elapsed()
        );
        assert_eq!(
            stderr.trim_end(),
            format!("agentcore-rt: MCP_CONFIG={path}: {expected}"),
            "{name}"
        );
        assert!(stdout.contains(r#""message":"cannot start""#), "{name}: {stdout}");
    }
    // With continue_on_error the binary serves without them, and the good server's tools work.
    let path = write_mcp_config(
        config.path(),
        json!({
            "mute": stdio_server("raw_mcp_server.py", "silent", json!({"startup_timeout": 1, "continue_on_error": true})),
            "junk": stdio_server("raw_mcp_server.py", "garbage", json!({"continue_on_error": true})),
            "good": stdio_server("faulty_mcp_server.py", "babble", json!({"tool_filters": {"allowed": ["echo"]}})),
        }),
    );
    let bin = Binary::start(&borrowed(&env(&path)));
    let (r, took) = timed_invoke(
        bin.addr,
        &json!({"query": r#"call echo {"text": "served"}"#, "session_id": "coe"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["response"], "tool said: served\n");
    assert!(took < Duration::from_secs(2 + 10), "{took:?}");
    let tools = offered_tools(&mock);
    assert_eq!(tools, ["echo"]);
}

#[test]
fn an_mcp_server_flooding_stderr_neither_blocks_nor_bloats_the_binary() {
    let rig = mcp_rig(
        "mcp-flood",
        json!({"flooder": stdio_server("faulty_mcp_server.py", "flood", json!({}))}),
    );
    let bin = &rig.bin;
    let a = bin.addr;
    let started = Instant::now();
    let peak_before = proc_kb(bin.pid(), "VmHWM");
    // 100 MB in 20 lines (a line is cut, never held whole), then 300 000 short lines (rate limit).
    let done = Arc::new(AtomicBool::new(false));
    let pinger = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut pings = 0;
            while !done.load(Ordering::SeqCst) {
                assert_eq!(get(a, "/ping").status, 200);
                pings += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            pings
        })
    };
    assert_eq!(
        ask(a, "f", r#"call flood {"lines": 20, "width": 5000000}"#),
        "tool said: flooded"
    );
    assert_eq!(
        ask(a, "f", r#"call flood {"lines": 300000, "width": 100}"#),
        "tool said: flooded"
    );
    done.store(true, Ordering::SeqCst);
    assert!(pinger.join().unwrap() > 0, "/ping answered during the flood");
    assert_eq!(ask(a, "f", "still there?"), "re: still there?");
    let elapsed = started.elapsed().as_secs_f64();
    let peak_after = proc_kb(bin.pid(), "VmHWM");
    assert!(
        peak_after.saturating_sub(peak_before) < 64 * 1024,
        "peak RSS grew from {peak_before} kB to {peak_after} kB for 130 MB of stderr"
    );
    let stdout = bin.stdout();
    let longest = stdout.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 4096, "a log line of {longest} bytes");
    let logs = bin.logs();
    let stderr_lines = logs
        .iter()
        .filter(|l| l["message"].as_str().is_some_and(|m| m.starts_with("stderr: x")))
        .count();
    println!(
        "stderr flood: peak RSS {peak_before} kB -> {peak_after} kB, {stderr_lines} stderr lines \
         logged in {elapsed:.1}s, longest log line {longest} bytes"
    );
    // Token bucket: a burst of 200, then 50 per second.
    let allowed = 200 + (50.0 * elapsed) as usize + 5;
    assert!(
        (200..=allowed).contains(&stderr_lines),
        "{stderr_lines} stderr lines logged in {elapsed:.1}s (at most {allowed})"
    );
    assert!(
        logs.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.ends_with("lines dropped (rate limit)"))),
        "dropped lines are counted"
    );
    assert!(
        logs.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("stderr: x") && m.ends_with("[truncated]"))),
        "long lines are cut"
    );
}

// ---- 3. disk --------------------------------------------------------------------------------

/// A disk failure answers 500 with the OS's error text and the path it happened on.
fn assert_disk_error(r: &Resp, os_error: &str, path: &Path) {
    assert_eq!(r.status, 500, "{}", r.text());
    let error = r.json()["error"].as_str().unwrap().to_string();
    assert!(error.contains(os_error), "{error}");
    assert!(
        error.contains(&path.display().to_string()),
        "names the path: {error}"
    );
}

#[test]
fn an_unusable_session_dir_is_a_clear_500_and_recovers_once_fixed() {
    let root = TempDir::new("faults-unwritable");
    let mock = MockOpenAi::start();
    scripted_model(&mock);

    // A file where the session directory should be (works as root too).
    let not_a_dir = root.path().join("not-a-dir");
    std::fs::write(&not_a_dir, "a file").unwrap();
    let bin = start_binary(&mock.base_url(), &not_a_dir, &[]);
    let r = invoke(bin.addr, &json!({"query": "q", "session_id": "s"}));
    assert_eq!(r.status, 500, "{}", r.text());
    let error = r.json()["error"].as_str().unwrap().to_string();
    assert!(
        error.contains(&not_a_dir.display().to_string()),
        "the error names the path: {error}"
    );
    assert!(error.contains("not a directory"), "{error}");
    assert_eq!(get(bin.addr, "/ping").status, 200);
    std::fs::remove_file(&not_a_dir).unwrap();
    std::fs::create_dir(&not_a_dir).unwrap();
    assert_eq!(ask(bin.addr, "s", "q2"), "re: q2");
    assert_eq!(
        stored_texts(&not_a_dir, "s"),
        vec![user("q2"), ("assistant".into(), "re: q2".into())]
    );
    drop(bin);

    // Permission bits: root writes through them, so this part only runs unprivileged.
    if !is_root() {
        let locked = root.path().join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o500)).unwrap();
        let bin = start_binary(&mock.base_url(), &locked.join("sessions"), &[]);
        let r = invoke(bin.addr, &json!({"query": "q", "session_id": "s"}));
        assert_eq!(r.status, 500, "{}", r.text());
        assert!(r.text().contains("ermission denied"), "{}", r.text());
        std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        assert_eq!(ask(bin.addr, "s", "q"), "re: q");
    } else {
        println!("skipped: permission-bit denial (running as root, which bypasses it)");
    }

    // A read-only file system under an existing session (a read-only bind mount, root only).
    let sessions = root.path().join("ro");
    std::fs::create_dir(&sessions).unwrap();
    let bin = start_binary(&mock.base_url(), &sessions, &[]);
    assert_eq!(ask(bin.addr, "s", "before"), "re: before");
    match Mount::read_only(&sessions) {
        Err(why) => println!("skipped: read-only SESSION_DIR (cannot bind-mount: {why})"),
        Ok(mount) => {
            for payload in [
                json!({"query": "while read-only", "session_id": "s"}),
                json!({"query": "new session", "session_id": "fresh"}),
            ] {
                let r = invoke(bin.addr, &payload);
                assert_disk_error(&r, "Read-only file system", &sessions);
            }
            assert_eq!(get(bin.addr, "/ping").status, 200);
            drop(mount);
            assert_eq!(ask(bin.addr, "s", "after"), "re: after");
            assert_eq!(
                stored_texts(&sessions, "s"),
                vec![
                    user("before"),
                    ("assistant".into(), "re: before".into()),
                    user("after"),
                    ("assistant".into(), "re: after".into()),
                ]
            );
        }
    }
    // An immutable messages directory (chattr +i: refused to root as well).
    let messages = messages_dir(&sessions, "s");
    match Immutable::set(&messages) {
        Err(why) => println!("skipped: immutable messages directory (chattr +i failed: {why})"),
        Ok(immutable) => {
            let r = invoke(bin.addr, &json!({"query": "while immutable", "session_id": "s"}));
            assert_disk_error(&r, "Operation not permitted", &messages);
            assert_eq!(ask(bin.addr, "other", "unaffected"), "re: unaffected");
            drop(immutable);
            assert_eq!(ask(bin.addr, "s", "writable"), "re: writable");
            let texts = stored_texts(&sessions, "s");
            assert_eq!(
                texts[texts.len() - 2..],
                [user("writable"), ("assistant".into(), "re: writable".into())]
            );
        }
    }
    assert!(assert_json_files_parse(root.path(), &[]).is_empty());
}

#[test]
fn a_full_disk_is_a_clear_500_leaves_no_torn_files_and_recovers() {
    let root = TempDir::new("faults-enospc");
    let sessions = root.path().join("tmpfs");
    std::fs::create_dir(&sessions).unwrap();
    let mount = match Mount::new(&["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs"], &sessions) {
        Ok(mount) => mount,
        Err(why) => {
            println!("skipped: full-disk test (cannot mount a tmpfs: {why})");
            return;
        }
    };
    let mock = MockOpenAi::start();
    scripted_model(&mock);
    let bin = start_binary(&mock.base_url(), &sessions, &[]);
    // Leave a few pages free, so the disk fills up within a few turns.
    let filler = sessions.join("filler");
    std::fs::write(&filler, vec![0u8; 40 * 1024]).unwrap();
    let mut full = None;
    for turn in 0..40 {
        let r = invoke(
            bin.addr,
            &json!({"query": format!("turn {turn} {}", "x".repeat(1500)), "session_id": "full"}),
        );
        if r.status != 200 {
            full = Some(r);
            break;
        }
    }
    let r = full.expect("the 64 KiB tmpfs never filled up");
    assert_disk_error(&r, "No space left on device", &sessions);
    assert_eq!(get(bin.addr, "/ping").status, 200);
    let temps = assert_json_files_parse(&sessions, &[]);
    assert!(temps.is_empty(), "temp files left on the full disk: {temps:?}");
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(ask(bin.addr, "full", "space again"), "re: space again");
    let texts = stored_texts(&sessions, "full");
    assert_eq!(
        texts[texts.len() - 2..],
        [
            user("space again"),
            ("assistant".into(), "re: space again".into())
        ]
    );
    assert!(assert_json_files_parse(&sessions, &[]).is_empty());
    drop(bin);
    drop(mount);
}

#[test]
fn corrupt_session_files_fail_their_session_only_and_are_left_alone() {
    let mock = MockOpenAi::start();
    scripted_model(&mock);
    let sessions = TempDir::new("faults-corrupt");
    let bin = start_binary(&mock.base_url(), sessions.path(), &[]);
    let a = bin.addr;
    let agent_dir = |s: &str| sessions.path().join(format!("session_{s}/agents/agent_default"));
    let cases: Vec<(&str, PathBuf, Vec<u8>, &str)> = vec![
        (
            "torn-agent",
            agent_dir("torn-agent").join("agent.json"),
            b"{\n  \"agent_id\": \"default\",\n  \"state\": {".to_vec(),
            "invalid JSON",
        ),
        (
            "empty-session",
            sessions.path().join("session_empty-session/session.json"),
            Vec::new(),
            "invalid JSON",
        ),
        (
            "wrong-shape",
            agent_dir("wrong-shape").join("messages/message_1.json"),
            br#"{"message": {"role": "robot", "content": 7}, "message_id": 1}"#.to_vec(),
            "invalid message",
        ),
        (
            "too-deep",
            agent_dir("too-deep").join("messages/message_0.json"),
            "[".repeat(100_000).into_bytes(),
            "nested deeper than",
        ),
        (
            "not-utf8",
            agent_dir("not-utf8").join("messages/message_1.json"),
            b"\xff\xfe{".to_vec(),
            "not UTF-8",
        ),
    ];
    let mut planted = Vec::new();
    for (session, file, content, detail) in &cases {
        assert_eq!(ask(a, session, "hello"), "re: hello");
        std::fs::write(file, content).unwrap();
        let before = std::fs::read(file).unwrap();
        let r = invoke(a, &json!({"query": "again", "session_id": session}));
        assert_eq!(r.status, 500, "{session}: {}", r.text());
        let error = r.json()["error"].as_str().unwrap().to_string();
        assert!(
            error.contains("corrupt session file") && error.contains(detail),
            "{session}: {error}"
        );
        assert!(
            error.contains(&file.display().to_string()),
            "{session}: names the file: {error}"
        );
        assert_eq!(std::fs::read(file).unwrap(), before, "{session}: left alone");
        planted.push(file.clone());
    }
    assert_eq!(ask(a, "healthy", "fine?"), "re: fine?");
    assert!(assert_json_files_parse(sessions.path(), &planted).is_empty());
}

#[test]
fn planted_symlinks_are_refused_and_nothing_outside_is_touched() {
    let mock = MockOpenAi::start();
    scripted_model(&mock);
    let root = TempDir::new("faults-symlink");
    let sessions = root.path().join("sessions");
    let outside = root.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let bin = start_binary(&mock.base_url(), &sessions, &[]);
    let a = bin.addr;
    let agent_dir = |s: &str| sessions.join(format!("session_{s}/agents/agent_default"));

    // Targets outside SESSION_DIR: a directory and files with valid content.
    let outside_dir = outside.join("a-session-dir");
    std::fs::create_dir(&outside_dir).unwrap();
    assert_eq!(ask(a, "template", "hi"), "re: hi");
    let agent_json = std::fs::read(agent_dir("template").join("agent.json")).unwrap();
    let message = std::fs::read(agent_dir("template").join("messages/message_0.json")).unwrap();
    std::fs::write(outside.join("agent.json"), &agent_json).unwrap();
    std::fs::write(outside.join("message.json"), &message).unwrap();

    let mut links = Vec::new();
    // The session directory itself.
    let link = sessions.join("session_linked-dir");
    std::os::unix::fs::symlink(&outside_dir, &link).unwrap();
    links.push(("linked-dir", link));
    // agent.json, an existing message file, the next message file (dangling), the lock file.
    for (session, name, target) in [
        ("linked-agent", "agent.json", outside.join("agent.json")),
        (
            "linked-message",
            "messages/message_1.json",
            outside.join("message.json"),
        ),
        (
            "linked-next",
            "messages/message_2.json",
            outside.join("would-be-created.json"),
        ),
    ] {
        assert_eq!(ask(a, session, "hi"), "re: hi");
        let link = agent_dir(session).join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link).unwrap();
        links.push((session, link));
    }
    assert_eq!(ask(a, "linked-lock", "hi"), "re: hi");
    let lock = sessions.join("session_linked-lock/.agentcore.lock");
    std::fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink(outside.join("lock"), &lock).unwrap();
    links.push(("linked-lock", lock));

    let outside_before = tree(&outside);
    let contents_before: Vec<Vec<u8>> = ["agent.json", "message.json"]
        .iter()
        .map(|f| std::fs::read(outside.join(f)).unwrap())
        .collect();
    for (session, link) in &links {
        let r = invoke(a, &json!({"query": "again", "session_id": session}));
        assert_eq!(r.status, 500, "{session}: {}", r.text());
        let error = r.json()["error"].as_str().unwrap().to_string();
        assert!(
            error.contains("refusing to follow a symbolic link")
                && error.contains(&link.display().to_string()),
            "{session}: {error}"
        );
    }
    assert_eq!(tree(&outside), outside_before, "nothing created outside");
    let contents_after: Vec<Vec<u8>> = ["agent.json", "message.json"]
        .iter()
        .map(|f| std::fs::read(outside.join(f)).unwrap())
        .collect();
    assert_eq!(contents_after, contents_before, "nothing written outside");
    assert_eq!(ask(a, "unaffected", "hi"), "re: hi");
    assert_eq!(ask(a, "template", "again"), "re: again");
    assert!(assert_json_files_parse(&sessions, &[]).is_empty());
}

// ---- 4. kill -9 during concurrent writes ----------------------------------------------------

#[test]
fn kill_9_during_concurrent_writes_loses_no_acknowledged_turn() {
    const SESSIONS: usize = 4;
    const CLIENTS_PER_SESSION: usize = 3;
    const ACKS_BEFORE_KILL: usize = 60;
    let mock = MockOpenAi::start();
    mock.respond_with(|req| {
        Some(Reply::text(&format!("re: {}", last_user_text(req))).delay(Duration::from_millis(5)))
    });
    let sessions = TempDir::new("faults-kill9");
    let mut bin = start_binary(&mock.base_url(), sessions.path(), &[]);
    let a = bin.addr;
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let clients: Vec<_> = (0..SESSIONS * CLIENTS_PER_SESSION)
        .map(|i| {
            let acked = acked.clone();
            let session = format!("k{}", i % SESSIONS);
            std::thread::spawn(move || {
                for n in 0.. {
                    let query = format!("{session}-c{i}-n{n}");
                    let stream = (i / SESSIONS) % 2 == 1;
                    let payload = json!({"query": query, "session_id": session, "stream": stream});
                    let Ok(r) = try_invoke(a, &payload) else { return };
                    let answered = if stream {
                        r.status == 200
                            && r.text()
                                .rsplit("data: ")
                                .next()
                                .and_then(|last| serde_json::from_str::<Value>(last.trim()).ok())
                                .is_some_and(|e| e["type"] == "final")
                    } else {
                        r.status == 200
                    };
                    if !answered {
                        return;
                    }
                    acked.lock().unwrap().push((session.clone(), query));
                }
            })
        })
        .collect();
    eventually("enough acknowledged turns", Duration::from_secs(120), || {
        acked.lock().unwrap().len() >= ACKS_BEFORE_KILL
    });
    bin.signal(9);
    bin.wait_exit(Duration::from_secs(10))
        .expect("the runtime to die");
    // A client may still read an answer the runtime sent just before it died: that counts too.
    for client in clients {
        client.join().unwrap();
    }
    let acked_at_kill = acked.lock().unwrap().clone();
    let temps = assert_json_files_parse(sessions.path(), &[]);
    println!(
        "kill -9: {} acknowledged turns; {} temp files left by interrupted writes",
        acked_at_kill.len(),
        temps.len()
    );

    let bin = start_binary(&mock.base_url(), sessions.path(), &[]);
    for s in 0..SESSIONS {
        let session = format!("k{s}");
        assert_eq!(ask(bin.addr, &session, "after restart"), "re: after restart");
        let texts = stored_texts(sessions.path(), &session);
        for (acked_session, query) in acked_at_kill.iter().filter(|(sid, _)| *sid == session) {
            let at = texts
                .iter()
                .position(|(role, text)| role == "user" && text == query)
                .unwrap_or_else(|| panic!("acknowledged turn {acked_session}/{query} lost"));
            assert_eq!(
                texts.get(at + 1),
                Some(&("assistant".to_string(), format!("re: {query}"))),
                "the acknowledged answer follows its prompt"
            );
        }
    }
    assert!(assert_json_files_parse(sessions.path(), &[]).len() <= temps.len());
}

// ---- 5. security ----------------------------------------------------------------------------

/// The seed's rule, written again here so the test does not trust the code it checks.
fn seed_safe(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[test]
fn session_ids_never_leave_the_session_dir() {
    let mock = MockOpenAi::start();
    scripted_model(&mock);
    let root = TempDir::new("faults-ids");
    let sessions = root.path().join("sessions");
    let bin = start_binary(&mock.base_url(), &sessions, &[]);
    let a = bin.addr;
    let tag = std::process::id();
    let escapes = [
        format!("../../../../../../../../tmp/agentcore-escape-{tag}"),
        format!("/tmp/agentcore-abs-{tag}"),
        format!("..\\..\\agentcore-backslash-{tag}"),
        format!("%2e%2e%2fagentcore-encoded-{tag}"),
        format!("\u{ff0e}\u{ff0e}\u{ff0f}agentcore-fullwidth-{tag}"),
        format!("\u{2215}tmp\u{2215}agentcore-division-slash-{tag}"),
        format!("\u{2024}\u{2024}/agentcore-leader-{tag}"),
        format!("\u{202e}agentcore-rtl-{tag}"),
        "..".to_string(),
        ".".to_string(),
        "a\u{0}b".to_string(),
        "line\nbreak".to_string(),
        "session_x/../../y".to_string(),
        "~root".to_string(),
        "é".repeat(150),
        "x".repeat(200),
    ];
    for id in &escapes {
        let r = invoke(a, &json!({"query": "q", "session_id": id}));
        assert_eq!(r.status, 200, "{id:?}: {}", r.text());
        assert!(
            sessions.join(format!("session_{}", seed_safe(id))).is_dir(),
            "{id:?} -> session_{}",
            seed_safe(id)
        );
    }
    // Through the session header as well.
    let r = request(
        a,
        "POST",
        "/invocations",
        &[(
            "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id",
            &format!("../../agentcore-header-{tag}"),
        )],
        br#"{"query": "q"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        sessions
            .join(format!(
                "session_{}",
                seed_safe(&format!("../../agentcore-header-{tag}"))
            ))
            .is_dir()
    );
    // Too long after sanitising: refused before touching the disk.
    for id in ["x".repeat(201), "/".repeat(201), "\u{ff0f}".repeat(201)] {
        let r = invoke(a, &json!({"query": "q", "session_id": id}));
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(
            !sessions.join(format!("session_{}", seed_safe(&id))).exists(),
            "nothing created for a refused id"
        );
    }
    // Nothing outside SESSION_DIR, and only session_<safe id> directories inside it.
    assert_eq!(
        tree(root.path())
            .iter()
            .filter(|p| !p.starts_with("sessions/"))
            .count(),
        1
    );
    for entry in std::fs::read_dir(&sessions).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let id = name.strip_prefix("session_").unwrap_or_else(|| panic!("{name}"));
        assert!(
            !id.is_empty()
                && id.len() <= 200
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{name:?}"
        );
        assert!(entry.file_type().unwrap().is_dir());
    }
    for leaked in [
        "escape",
        "abs",
        "backslash",
        "encoded",
        "fullwidth",
        "division-slash",
        "leader",
        "rtl",
        "header",
    ] {
        for dir in [PathBuf::from("/tmp"), root.path().to_path_buf(), sessions.clone()] {
            let path = dir.join(format!("agentcore-{leaked}-{tag}"));
            assert!(!path.exists(), "{} was created", path.display());
        }
    }
}

#[test]
fn requests_cannot_change_the_mcp_config_and_tool_arguments_never_reach_a_shell() {
    let config = TempDir::new("faults-mcp-inject");
    let markers = TempDir::new("faults-markers");
    let marker = |n: &str| markers.path().join(n).display().to_string();
    let path = write_mcp_config(
        config.path(),
        json!({"echoer": stdio_server("faulty_mcp_server.py", "babble", json!({"tool_filters": {"allowed": ["echo"]}}))}),
    );
    // A config a request might try to point us at.
    let evil = config.path().join("evil.json");
    std::fs::write(
        &evil,
        json!({"mcpServers": {"evil": {"command": "touch", "args": [marker("from-config-path")]}}})
            .to_string(),
    )
    .unwrap();
    let mock = MockOpenAi::start();
    scripted_model(&mock);
    let sessions = TempDir::new("faults-mcp-inject-sessions");
    let bin = start_binary(&mock.base_url(), sessions.path(), &[("MCP_CONFIG", &path)]);
    let a = bin.addr;
    let r = invoke(
        a,
        &json!({
            "query": r#"call echo {"text": "configured"}"#,
            "session_id": "inject",
            "mcpServers": {"evil": {"command": "touch", "args": [marker("from-payload")]}},
            "mcp_config": evil.display().to_string(),
            "MCP_CONFIG": evil.display().to_string(),
            "mcp_servers": {"evil": {"command": "sh", "args": ["-c", format!("touch {}", marker("from-sh"))]}},
        }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["response"], "tool said: configured\n");
    let tools = offered_tools(&mock);
    assert_eq!(tools, ["echo"], "only the configured server's tools");

    // Shell syntax in tool arguments is data: echoed back unchanged, nothing executed.
    for (n, template) in [
        "; touch {}",
        "$(touch {})",
        "`touch {}`",
        "| touch {}",
        "&& touch {}",
        "\ntouch {}\n",
        "' ; touch {} ; '",
        "\"; touch {}; \"",
    ]
    .iter()
    .enumerate()
    {
        let text = template.replace("{}", &marker(&format!("shell-{n}")));
        let query = format!("call echo {}", json!({ "text": text }));
        assert_eq!(
            ask(a, "inject", &query),
            format!("tool said: {text}").trim_end_matches('\n'),
            "{text:?}"
        );
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(tree(markers.path()), Vec::<String>::new(), "nothing was executed");
}

const OPENAI_KEY: &str = "sk-PLANTED-openai-key-7f3a9c";
const CUSTOM_HEADER: &str = "hdr-PLANTED-custom-8c1d4e";
const INBOUND_TOKEN: &str = "tok-PLANTED-inbound-2b6e0f";
const GUESSED_TOKEN: &str = "guess-PLANTED-wrong-51aa7d";
const MCP_ENV_SECRET: &str = "mcp-PLANTED-env-5e0c91";
const MCP_HEADER_SECRET: &str = "mcp-PLANTED-header-93d2b7";

#[test]
fn secrets_never_reach_logs_or_response_bodies() {
    let mock = MockOpenAi::start();
    // A provider that echoes what it was sent into its errors, as some do.
    mock.respond_with(|req| {
        let echoed = format!(
            "Incorrect API key provided: {}; header {}",
            req.header("authorization").unwrap_or("<none>"),
            req.header("x-custom-secret").unwrap_or("<none>")
        );
        let messages = req.json.as_ref()?["messages"].as_array()?.clone();
        if messages.last()?["role"] == "tool" {
            return Some(Reply::text("tool done"));
        }
        Some(match last_user_text(req).as_str() {
            "echo-401" => Reply::error(401, &echoed),
            "echo-500" => Reply::error(500, &echoed),
            "echo-429" => Reply::error(429, &echoed),
            "echo-overflow" => Reply::error(400, &format!("maximum context length exceeded. {echoed}")),
            "echo-in-stream" => Reply::new(ReplyBody::RawStream(vec![
                format!(
                    "data: {}\n\n",
                    json!({"error": {"message": echoed, "type": "invalid_request_error"}})
                )
                .into_bytes(),
            ])),
            "echo-not-json" => Reply::new(ReplyBody::Raw {
                status: 502,
                content_type: "text/html".into(),
                body: format!("<html>{echoed}</html>").into_bytes(),
            }),
            "use-mcp" => Reply::tool_calls(&[("call_1", "has_secret", "{}")]),
            _ => Reply::text("fine"),
        })
    });
    let config = TempDir::new("faults-secrets");
    let unreachable = format!("http://127.0.0.1:{}/mcp", closed_port());
    let path = write_mcp_config(
        config.path(),
        json!({
            "env": stdio_server("faulty_mcp_server.py", "envcheck", json!({"env": {"SECRET_TOKEN": "${MCP_SECRET}"}})),
            "remote": {"url": unreachable, "headers": {"Authorization": "Bearer ${MCP_HTTP_SECRET}"},
                       "continue_on_error": true, "startup_timeout": 2},
        }),
    );
    let sessions = TempDir::new("faults-secrets-sessions");
    let params = json!({"extra_headers": {"X-Custom-Secret": CUSTOM_HEADER}}).to_string();
    let bin = start_binary(
        &mock.base_url(),
        sessions.path(),
        &[
            ("OPENAI_API_KEY", OPENAI_KEY),
            ("MODEL_PARAMS", &params),
            ("AUTH_BEARER_TOKEN", INBOUND_TOKEN),
            ("MCP_CONFIG", &path),
            ("MCP_SECRET", MCP_ENV_SECRET),
            ("MCP_HTTP_SECRET", MCP_HEADER_SECRET),
            ("LOG_LEVEL", "debug"),
            ("AGENTCORE_MCP_DEBUG", "1"),
            ("MODEL_MAX_ATTEMPTS", "2"),
            ("MODEL_RETRY_BASE_DELAY", "10ms"),
            ("MODEL_RETRY_MAX_DELAY", "20ms"),
        ],
    );
    let a = bin.addr;
    let good = format!("Bearer {INBOUND_TOKEN}");
    let mut bodies = Vec::new();
    let post = |query: &str, stream: bool, auth: Option<&str>| {
        let body = json!({"query": query, "session_id": "secrets", "stream": stream}).to_string();
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(auth) = auth {
            headers.push(("Authorization", auth));
        }
        request(a, "POST", "/invocations", &headers, body.as_bytes())
    };
    // The inbound token: missing, wrong, right.
    let r = post("hi", false, None);
    assert_eq!(r.status, 401);
    bodies.push(r.text());
    let r = post("hi", false, Some(&format!("Bearer {GUESSED_TOKEN}")));
    assert_eq!(r.status, 401);
    bodies.push(r.text());
    let r = post("hi", false, Some(&good));
    assert_eq!(r.status, 200, "{}", r.text());
    bodies.push(r.text());
    // The MCP server got its secret (without anyone printing it).
    let r = post("use-mcp", false, Some(&good));
    assert_eq!(r.status, 200, "{}", r.text());
    bodies.push(r.text());
    let tool_message = mock
        .requests()
        .iter()
        .rev()
        .find_map(|q| {
            let messages = q.json.as_ref()?["messages"].as_array()?.clone();
            (messages.last()?["role"] == "tool").then(|| messages.last().unwrap()["content"].clone())
        })
        .unwrap();
    assert_eq!(tool_message, "yes");
    // Provider errors that echo the key and the custom header, as JSON and as SSE.
    for query in [
        "echo-401",
        "echo-500",
        "echo-429",
        "echo-overflow",
        "echo-in-stream",
        "echo-not-json",
    ] {
        for stream in [false, true] {
            let r = post(query, stream, Some(&good));
            let text = r.text();
            if stream {
                let last = sse_events(&r).pop().unwrap();
                assert_eq!(last["type"], "error", "{query}: {text}");
                assert!(
                    last["error"].as_str().unwrap().contains("[REDACTED]"),
                    "{query}: the error still says what was echoed: {last}"
                );
            } else {
                assert!(r.status >= 500, "{query}: {text}");
                assert!(text.contains("[REDACTED]"), "{query}: {text}");
            }
            bodies.push(text);
        }
    }
    // The model did receive the secrets it needs.
    let first = &mock.requests()[0];
    assert_eq!(
        first.header("authorization"),
        Some(format!("Bearer {OPENAI_KEY}").as_str())
    );
    assert_eq!(first.header("x-custom-secret"), Some(CUSTOM_HEADER));

    let stdout = bin.stdout();
    let stderr = bin.stderr();
    assert!(stdout.contains("invocation failed"), "errors were logged");
    for secret in [
        OPENAI_KEY,
        CUSTOM_HEADER,
        INBOUND_TOKEN,
        GUESSED_TOKEN,
        MCP_ENV_SECRET,
        MCP_HEADER_SECRET,
    ] {
        assert!(!stdout.contains(secret), "{secret} in the log:\n{stdout}");
        assert!(!stderr.contains(secret), "{secret} on stderr:\n{stderr}");
        for body in &bodies {
            assert!(!body.contains(secret), "{secret} in a response: {body}");
        }
        let on_disk = tree(sessions.path())
            .iter()
            .map(|p| sessions.path().join(p))
            .filter(|p| p.is_file())
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect::<String>();
        assert!(!on_disk.contains(secret), "{secret} in a session file");
    }
}

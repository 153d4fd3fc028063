//! The binary against a real OpenAI-compatible server: llama-cpp-python 0.3.36's, serving
//! SmolLM2-135M-Instruct (both installed by scripts/install-test-peers.sh), with the real
//! mcp-server-time over stdio. The model is tiny and its answers are nonsense more often than
//! not, so the tests check structure (statuses, events, what the session holds), never wording.
//!
//! One llama server serves every test here; it answers one request at a time, so the tests take
//! turns (`serial`), which also keeps the disconnect test's "is the server free again" honest.
//! Known quirks of that server (issue 13): without `tool_choice` it leaves the tools out of the
//! prompt, `"required"` fails, and streaming with `"auto"` returns an empty body; so tools are
//! forced by name here.

use std::io::{BufRead, BufReader};
use std::net::{Shutdown, SocketAddr};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::server::{Binary, Conn, Resp, post_json};
use crate::support::{TempDir, messages_on_disk, python_ws_client, repo_root};

/// The model file scripts/install-test-peers.sh puts in `.models/`.
const MODEL: &str = ".models/SmolLM2-135M-Instruct.Q4_1.gguf";

/// What llama-cpp-python prints when it notices that the client of a stream has gone.
const LLAMA_DISCONNECTED: &str = "Disconnected from client";

struct Llama {
    addr: SocketAddr,
    /// Its stdout and stderr lines, with the moment each arrived.
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
    // Held, never written: the server exits when this closes, i.e. when the test process ends
    // (statics are never dropped), so no llama server outlives `cargo test`.
    _stdin: ChildStdin,
    _child: Child,
}

impl Llama {
    fn start() -> Llama {
        let root = repo_root();
        let python = root.join(".venv-llama/bin/python");
        let model = root.join(MODEL);
        for path in [&python, &model] {
            assert!(
                path.exists(),
                "{} missing: run scripts/install-test-peers.sh",
                path.display()
            );
        }
        let port_file =
            std::env::temp_dir().join(format!("agentcore-rt-it-{}-llama-port", std::process::id()));
        let _ = std::fs::remove_file(&port_file);
        let mut child = Command::new(python)
            .arg(root.join("tests/peers/llama_server.py"))
            .args(["--model", model.to_str().unwrap()])
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(["--port_file", port_file.to_str().unwrap()])
            .args(["--chat_format", "chatml-function-calling"])
            // A new request must wait for the one in progress, not cut it short: the disconnect
            // test relies on a server that stays busy while anyone still reads its stream.
            .args(["--interrupt_requests", "False"])
            // One thread: two spin-waiting threads on a shared two-core machine are slower.
            .args([
                "--n_ctx",
                "4096",
                "--n_threads",
                "1",
                "--seed",
                "1",
                "--verbose",
                "False",
            ])
            .arg("--exit_on_stdin_eof")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn llama_server.py");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for out in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap().push((Instant::now(), line));
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let port: u16 = loop {
            if let Some(port) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                break port;
            }
            let exited = child.try_wait().unwrap();
            if exited.is_some() || Instant::now() > deadline {
                let _ = child.kill();
                std::thread::sleep(Duration::from_millis(200));
                let log: Vec<String> = lines.lock().unwrap().iter().map(|(_, l)| l.clone()).collect();
                panic!("llama server did not start ({exited:?}):\n{}", log.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let _ = std::fs::remove_file(&port_file);
        Llama {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            lines,
            _stdin: child.stdin.take().unwrap(),
            _child: child,
        }
    }

    fn line_count(&self) -> usize {
        self.lines.lock().unwrap().len()
    }

    /// When the first line after `from` containing `needle` arrived.
    fn line_seen(&self, from: usize, needle: &str) -> Option<Instant> {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .skip(from)
            .find(|(_, l)| l.contains(needle))
            .map(|(t, _)| *t)
    }
}

fn llama() -> &'static Llama {
    static LLAMA: OnceLock<Llama> = OnceLock::new();
    LLAMA.get_or_init(Llama::start)
}

/// One test at a time on the one-at-a-time server (a failed test must not stop the others).
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The greedy, short-answer settings every test starts from; `params` are merged over them.
fn model_params(params: Value) -> String {
    let mut base = json!({"temperature": 0, "max_tokens": 96});
    if let (Value::Object(base), Value::Object(params)) = (&mut base, params) {
        base.extend(params);
    }
    base.to_string()
}

/// Our binary pointed at the llama server, its sessions in `sessions`; later `envs` win.
fn agent(sessions: &TempDir, envs: &[(&str, &str)]) -> Binary {
    let base_url = format!("http://{}/v1", llama().addr);
    let mut all = vec![
        ("OPENAI_BASE_URL", base_url.as_str()),
        ("MODEL_ID", "smollm2"),
        ("SESSION_DIR", sessions.path().to_str().unwrap()),
        (
            "SYSTEM_PROMPT",
            "Reply with one short sentence of at most ten words.",
        ),
        // A failure must show as itself, not as three slow attempts.
        ("MODEL_MAX_ATTEMPTS", "1"),
    ];
    all.extend_from_slice(envs);
    Binary::start(&all)
}

fn invoke(bin: &Binary, payload: Value) -> Resp {
    post_json(bin.addr, "/invocations", &payload.to_string())
}

fn roles(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["message"]["role"].as_str().unwrap())
        .collect()
}

fn sse_events(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").expect("data: prefix")).unwrap())
        .collect()
}

/// The `toolUse` blocks of a stored message.
fn tool_uses(message: &Value) -> Vec<&Value> {
    message["message"]["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|block| block.get("toolUse"))
        .collect()
}

#[test]
fn turns_in_one_session_with_the_plain_format() {
    let _turn = serial();
    let sessions = TempDir::new("llama-turns");
    let bin = agent(
        &sessions,
        &[
            ("MODEL_MESSAGE_FORMAT", "plain"),
            ("MODEL_PARAMS", &model_params(json!({}))),
        ],
    );
    for query in ["Hi, my name is Ada.", "What is my name?"] {
        let r = invoke(&bin, json!({"query": query, "session_id": "turns"}));
        assert_eq!(r.status, 200, "{query}: {}", r.text());
        assert!(r.json()["response"].is_string(), "{}", r.text());
    }
    let stored = messages_on_disk(sessions.path(), "turns");
    assert_eq!(roles(&stored), ["user", "assistant", "user", "assistant"]);
}

#[test]
fn the_strands_format_fails_from_the_second_turn() {
    // Why MODEL_MESSAGE_FORMAT exists: the default (Strands' format, byte for byte) sends the
    // first answer back as a list of parts, and this server accepts only a string there.
    let _turn = serial();
    let sessions = TempDir::new("llama-strands");
    let bin = agent(&sessions, &[("MODEL_PARAMS", &model_params(json!({})))]);
    let r = invoke(&bin, json!({"query": "Hi, my name is Ada.", "session_id": "s"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = invoke(&bin, json!({"query": "What is my name?", "session_id": "s"}));
    assert_eq!(r.status, 502, "{}", r.text());
    let error = r.json()["error"].as_str().unwrap().to_string();
    assert!(error.contains("HTTP 500"), "{error}");
    assert!(error.contains("Input should be a valid string"), "{error}");
}

#[test]
fn a_forced_tool_call_goes_through_the_real_mcp_time_server() {
    let _turn = serial();
    let sessions = TempDir::new("llama-tool");
    let mcp = sessions.path().join("mcp.json");
    let time_server = repo_root().join(".venv-llama/bin/mcp-server-time");
    std::fs::write(
        &mcp,
        json!({"mcpServers": {"time": {
            "command": time_server.to_str().unwrap(),
            "args": ["--local-timezone", "UTC"],
            "startup_timeout": 60,
        }}})
        .to_string(),
    )
    .unwrap();
    // Forced by name on every call (a `tool_choice` in MODEL_PARAMS wins over the agent's), so
    // two cycles: a tool call, its result back to the model, a second call that must be accepted.
    let params = model_params(json!({"max_tokens": 48,
        "tool_choice": {"type": "function", "function": {"name": "get_current_time"}}}));
    let bin = agent(
        &sessions,
        &[
            ("MODEL_MESSAGE_FORMAT", "plain"),
            ("MODEL_PARAMS", &params),
            ("MCP_CONFIG", mcp.to_str().unwrap()),
            ("MAX_CYCLES", "2"),
            // No system prompt: this server's template copies every tool schema into it, and
            // reading those ~300 tokens costs more than the whole call otherwise.
            ("SYSTEM_PROMPT", ""),
        ],
    );
    let r = invoke(
        &bin,
        json!({"query": "What time is it in UTC?", "session_id": "tool"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let stored = messages_on_disk(sessions.path(), "tool");
    assert_eq!(
        roles(&stored),
        ["user", "assistant", "user", "assistant", "user"],
        "call, result, a second call (the tool-call message and the result went back), result"
    );
    for (call, result) in [(&stored[1], &stored[2]), (&stored[3], &stored[4])] {
        let uses = tool_uses(call);
        assert_eq!(uses.len(), 1, "{call}");
        assert_eq!(uses[0]["name"], "get_current_time");
        let result = &result["message"]["content"][0]["toolResult"];
        assert_eq!(result["toolUseId"], uses[0]["toolUseId"], "{result}");
        // Success or the server's own complaint about the model's timezone: either way the
        // real server answered.
        let text = result["content"][0]["text"].as_str().unwrap();
        assert!(!text.is_empty(), "{result}");
        assert_eq!(
            result["metadata"]["io.modelcontextprotocol/serverInfo"]["name"],
            "mcp-time"
        );
    }
}

#[test]
fn structured_output_through_the_forced_output_tool() {
    let _turn = serial();
    let sessions = TempDir::new("llama-structured");
    let schema = sessions.path().join("person.json");
    std::fs::write(
        &schema,
        json!({
            "title": "Person",
            "description": "A person mentioned in the text.",
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "age"]
        })
        .to_string(),
    )
    .unwrap();
    // The first call offers the output tool without `tool_choice` (the server leaves it out of
    // the prompt and the model answers in text); the agent then forces it by name, with that text
    // answer in the history.
    let bin = agent(
        &sessions,
        &[
            ("MODEL_MESSAGE_FORMAT", "plain"),
            ("MODEL_PARAMS", &model_params(json!({}))),
            ("STRUCTURED_OUTPUT_SCHEMA", schema.to_str().unwrap()),
        ],
    );
    let r = invoke(
        &bin,
        json!({"query": "Ada Lovelace was 36 years old. Who is she and how old?", "session_id": "so"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let person = r.json();
    assert!(person["name"].is_string(), "{person}");
    assert!(person["age"].is_i64(), "{person}");
    let stored = messages_on_disk(sessions.path(), "so");
    let forced = stored
        .iter()
        .flat_map(tool_uses)
        .filter(|u| u["name"] == "Person")
        .count();
    assert!(forced >= 1, "the output tool was called: {stored:?}");
}

#[test]
fn answers_stream_over_sse_and_websocket() {
    let _turn = serial();
    let sessions = TempDir::new("llama-stream");
    let bin = agent(
        &sessions,
        &[
            ("MODEL_MESSAGE_FORMAT", "plain"),
            ("MODEL_PARAMS", &model_params(json!({}))),
        ],
    );

    let r = invoke(
        &bin,
        json!({"query": "Say hello.", "session_id": "stream", "stream": true}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream; charset=utf-8"));
    let events = sse_events(&r.text());
    let text: String = events
        .iter()
        .filter(|e| e["type"] == "text")
        .map(|e| e["data"].as_str().unwrap())
        .collect();
    assert!(!text.is_empty(), "{events:?}");
    let last = events.last().unwrap();
    assert_eq!(last["type"], "final", "{last}");
    assert_eq!(last["stop_reason"], "end_turn");
    assert_eq!(
        last["result"]["response"],
        format!("{text}\n"),
        "the deltas make the answer"
    );

    let out = python_ws_client(
        bin.addr,
        json!([
            {"op": "send", "text": r#"{"query": "And goodbye?"}"#},
            {"op": "recv_until", "types": ["final", "error"], "timeout": 60},
            {"op": "close", "code": 1000}
        ]),
        // The same session: the /ws turn continues the SSE one.
        json!({"X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": "stream"}),
    );
    let turn = &out["results"][1];
    let messages = turn["messages"].as_array().unwrap();
    let last = messages.last().unwrap();
    assert_eq!(last["type"], "final", "{turn}");
    assert!(last["result"]["response"].is_string(), "{last}");
    assert!(messages.iter().any(|m| m["type"] == "text"), "{turn}");
    assert_eq!(
        roles(&messages_on_disk(sessions.path(), "stream")),
        ["user", "assistant", "user", "assistant"]
    );
}

#[test]
fn a_client_that_leaves_stops_the_generation() {
    let _turn = serial();
    let server = llama();
    let sessions = TempDir::new("llama-gone");
    // min_tokens keeps the end-of-text token away: left alone, this generation would run for
    // minutes (3000 tokens at tens per second), holding the one-at-a-time server.
    let params = model_params(json!({"max_tokens": 3000, "min_tokens": 3000}));
    let bin = agent(
        &sessions,
        &[("MODEL_MESSAGE_FORMAT", "plain"), ("MODEL_PARAMS", &params)],
    );
    let body = json!({"query": "Write a long story about a dragon.", "session_id": "gone", "stream": true})
        .to_string();
    let mut conn = Conn::open(bin.addr);
    conn.send(
        format!(
            "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    let from = server.line_count();
    let started = Instant::now();
    let mut text_events = 0;
    while started.elapsed() < Duration::from_secs(2) || text_events == 0 {
        let mut line = String::new();
        conn.reader.read_line(&mut line).expect("read the stream");
        assert!(!line.is_empty(), "stream ended early");
        text_events += usize::from(line.contains(r#""type": "text""#));
        assert!(started.elapsed() < Duration::from_secs(60), "no text event");
    }
    conn.reader.get_ref().shutdown(Shutdown::Both).unwrap();
    drop(conn);
    let left = Instant::now();

    // The model connection closes, and llama-cpp-python stops generating when it sees it.
    let deadline = left + Duration::from_secs(30);
    let noticed = loop {
        if let Some(at) = server.line_seen(from, LLAMA_DISCONNECTED) {
            break at;
        }
        assert!(
            Instant::now() < deadline,
            "the llama server never saw the client leave"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let after = noticed.saturating_duration_since(left);
    eprintln!("llama server saw the disconnect {after:?} after the client left");
    assert!(
        after < Duration::from_secs(1),
        "model connection closed {after:?} after the client left"
    );

    // The server is free: a short request is answered at once, not after 3000 tokens.
    let asked = Instant::now();
    let mut llama_conn = Conn::open(server.addr);
    let short =
        json!({"model": "m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}).to_string();
    llama_conn.send(
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{short}",
            short.len()
        )
        .as_bytes(),
    );
    let answer = llama_conn.read_response(false);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let waited = asked.elapsed();
    eprintln!("the next request was answered in {waited:?}");
    assert!(
        waited < Duration::from_secs(20),
        "the server was still busy: {waited:?}"
    );

    // Nothing half-generated is kept: the session holds the user message alone, as Strands'.
    bin.wait_for_log("the stream's end", |l| {
        l["message"] == "client disconnected during stream"
    });
    let stored = messages_on_disk(sessions.path(), "gone");
    assert_eq!(roles(&stored), ["user"], "{stored:?}");
}

//! The binary end to end: the real `agentcore-rt` process, a mock OpenAI server speaking the
//! real wire format, real MCP servers, real sockets and clients, sessions on disk.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::mock_openai::{Gate, MockOpenAi, RecordedRequest, Reply};
use crate::support::server::{Binary, Conn, eventually, get, post_json, request};
use crate::support::{TempDir, peer_python, python_ws_client as ws, repo_root};

const SYSTEM: &str = "You are a helpful assistant.";

struct Rig {
    mock: MockOpenAi,
    sessions: TempDir,
    bin: Binary,
}

impl Rig {
    fn start(extra: &[(&str, &str)]) -> Rig {
        let mock = MockOpenAi::start();
        let sessions = TempDir::new("e2e-sessions");
        let base_url = mock.base_url();
        let session_dir = sessions.path().display().to_string();
        let mut env = vec![
            ("OPENAI_BASE_URL", base_url.as_str()),
            ("OPENAI_API_KEY", "sk-test"),
            ("MODEL_ID", "gpt-4o"),
            ("SYSTEM_PROMPT", SYSTEM),
            ("SESSION_DIR", session_dir.as_str()),
        ];
        env.extend_from_slice(extra);
        let bin = Binary::start(&env);
        Rig { mock, sessions, bin }
    }

    fn session_dir(&self, id: &str) -> PathBuf {
        self.sessions.path().join(format!("session_{id}"))
    }

    fn messages_on_disk(&self, id: &str) -> Vec<Value> {
        crate::support::messages_on_disk(self.sessions.path(), id)
    }
}

fn invoke(addr: std::net::SocketAddr, payload: Value) -> crate::support::server::Resp {
    post_json(addr, "/invocations", &payload.to_string())
}

fn last_user_text(req: &RecordedRequest) -> String {
    req.last_user_text().unwrap().to_string()
}

#[test]
fn answers_like_the_seed_and_keeps_the_conversation() {
    let rig = Rig::start(&[]);
    rig.mock
        .set_default(Reply::text("Hello! How can I help you today?"));
    let r = invoke(rig.bin.addr, json!({"query": "Hi", "session_id": "s1"}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.text(), r#"{"response": "Hello! How can I help you today?\n"}"#);
    let first = &rig.mock.requests()[0];
    assert_eq!(first.path, "/v1/chat/completions");
    assert_eq!(first.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(
        first.json.as_ref().unwrap(),
        &json!({
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": [{"text": "Hi", "type": "text"}]}
            ],
            "model": "gpt-4o",
            "stream": true,
            "stream_options": {"include_usage": true},
            "tools": []
        })
    );
    // Second turn of the same session: the history goes back to the model.
    let r = invoke(rig.bin.addr, json!({"prompt": "And you?", "session_id": "s1"}));
    assert_eq!(r.status, 200);
    let second = &rig.mock.requests()[1];
    let messages = second.json.as_ref().unwrap()["messages"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[2]["role"], "assistant");
    assert_eq!(messages[3]["content"][0]["text"], "And you?");
    let on_disk = rig.messages_on_disk("s1");
    assert_eq!(on_disk.len(), 4);
    assert_eq!(
        on_disk[1]["message"]["content"][0]["text"],
        "Hello! How can I help you today?"
    );
    let session: Value =
        serde_json::from_str(&std::fs::read_to_string(rig.session_dir("s1").join("session.json")).unwrap())
            .unwrap();
    assert_eq!(session["session_id"], "s1");
}

#[test]
fn session_ids_follow_the_seed_and_never_escape() {
    let rig = Rig::start(&[]);
    rig.mock.set_default(Reply::text("ok"));
    let a = rig.bin.addr;
    // Header session, then default.
    let r = request(
        a,
        "POST",
        "/invocations",
        &[("X-Amzn-Bedrock-AgentCore-Runtime-Session-Id", "from-header")],
        br#"{"query": "q"}"#,
    );
    assert_eq!(r.status, 200);
    assert!(rig.session_dir("from-header").join("session.json").exists());
    assert_eq!(invoke(a, json!({"query": "q"})).status, 200);
    assert!(rig.session_dir("default").exists());
    // Traversal and unicode are made safe the seed's way.
    assert_eq!(
        invoke(a, json!({"query": "q", "session_id": "../escape"})).status,
        200
    );
    assert!(rig.session_dir("___escape").exists());
    assert!(
        !rig.sessions.path().join("../escape").exists()
            && !rig.sessions.path().join("../session_escape").exists()
    );
    assert_eq!(
        invoke(a, json!({"query": "q", "session_id": "/etc/passwd"})).status,
        200
    );
    assert!(rig.session_dir("_etc_passwd").exists());
    assert_eq!(invoke(a, json!({"query": "q", "session_id": "ünï"})).status, 200);
    assert!(rig.session_dir("_n_").exists());
    let names: Vec<String> = std::fs::read_dir(rig.sessions.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| n.starts_with("session_")), "{names:?}");
    // Too long, or not a string: 400 with nothing on disk.
    let r = invoke(a, json!({"query": "q", "session_id": "x".repeat(300)}));
    assert_eq!(r.status, 400, "{}", r.text());
    let r = invoke(a, json!({"query": "q", "session_id": 7}));
    assert_eq!(r.status, 400);
    // The seed's body for a missing query.
    for bad in [json!({}), json!({"query": ""}), json!({"query": 5}), json!(["q"])] {
        let r = invoke(a, bad);
        assert_eq!(
            (r.status, r.text().as_str()),
            (400, r#"{"error":"Missing required field: query"}"#)
        );
    }
}

fn sse_events(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").expect("data: prefix")).unwrap())
        .collect()
}

#[test]
fn streams_events_over_sse() {
    let rig = Rig::start(&[]);
    rig.mock
        .push(Reply::text("One two three four").with_delta_chars(4));
    let r = invoke(
        rig.bin.addr,
        json!({"query": "count", "session_id": "sse", "stream": true}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream; charset=utf-8"));
    let events = sse_events(&r.text());
    assert_eq!(r.chunks.len(), events.len(), "one chunk per event");
    let text: String = events
        .iter()
        .filter(|e| e["type"] == "text")
        .map(|e| e["data"].as_str().unwrap())
        .collect();
    assert_eq!(text, "One two three four");
    assert!(
        events.iter().filter(|e| e["type"] == "text").count() >= 4,
        "deltas stream as they arrive"
    );
    let last = events.last().unwrap();
    assert_eq!(last["type"], "final");
    assert_eq!(last["result"], json!({"response": "One two three four\n"}));
    assert_eq!(last["stop_reason"], "end_turn");
    assert_eq!(last["session_id"], "sse");
    // Accept: text/event-stream alone also selects streaming.
    rig.mock.push(Reply::text("again"));
    let r = request(
        rig.bin.addr,
        "POST",
        "/invocations",
        &[("Accept", "text/event-stream")],
        br#"{"query": "again", "session_id": "sse"}"#,
    );
    assert_eq!(r.header("content-type"), Some("text/event-stream; charset=utf-8"));
    assert_eq!(
        sse_events(&r.text()).last().unwrap()["result"],
        json!({"response": "again\n"})
    );
    // An explicit `"stream": false` wins over that Accept: one JSON answer.
    rig.mock.push(Reply::text("plain"));
    let r = request(
        rig.bin.addr,
        "POST",
        "/invocations",
        &[("Accept", "text/event-stream")],
        br#"{"query": "plain", "session_id": "sse", "stream": false}"#,
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json(), json!({"response": "plain\n"}));
    // A stream choice that is not a boolean is refused, not guessed.
    let r = invoke(
        rig.bin.addr,
        json!({"query": "x", "session_id": "sse", "stream": "true"}),
    );
    assert_eq!(
        (r.status, r.json()),
        (400, json!({"error": "Invalid stream: must be true or false"}))
    );
    // A model failure mid-stream ends with an error event, status stays 200.
    rig.mock.push(Reply::error(400, "bad request from provider"));
    let r = invoke(
        rig.bin.addr,
        json!({"query": "x", "session_id": "sse", "stream": true}),
    );
    assert_eq!(r.status, 200);
    let last = sse_events(&r.text()).pop().unwrap();
    assert_eq!(last["type"], "error");
    assert_eq!(last["message"], "An error occurred during streaming");
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("bad request from provider"),
        "{last}"
    );
}

#[test]
fn websocket_invocations_share_the_upgrade_session() {
    let rig = Rig::start(&[]);
    rig.mock
        .push_all([Reply::text("first answer"), Reply::text("second answer")]);
    let out = ws(
        rig.bin.addr,
        json!([
            {"op": "send", "text": r#"{"query": "one"}"#},
            {"op": "recv_until", "types": ["final", "error"]},
            {"op": "send", "text": "not json"},
            {"op": "recv_until", "types": ["final", "error"]},
            {"op": "send", "text": r#"{"query": "two"}"#},
            {"op": "recv_until", "types": ["final", "error"]},
            {"op": "close", "code": 1000}
        ]),
        json!({"X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": "ws-session"}),
    );
    let results = out["results"].as_array().unwrap();
    let first = results[1]["messages"].as_array().unwrap();
    assert_eq!(
        first.last().unwrap()["result"],
        json!({"response": "first answer\n"})
    );
    assert_eq!(first.last().unwrap()["session_id"], "ws-session");
    let bad = results[3]["messages"].as_array().unwrap();
    assert_eq!(bad[0]["type"], "error");
    assert_eq!(bad[0]["error"], "Invalid JSON");
    let second = results[5]["messages"].as_array().unwrap();
    assert_eq!(
        second.last().unwrap()["result"],
        json!({"response": "second answer\n"})
    );
    let requests = rig.mock.requests();
    assert_eq!(
        requests[1].json.as_ref().unwrap()["messages"]
            .as_array()
            .unwrap()
            .len(),
        4,
        "history carried over"
    );
    assert_eq!(rig.messages_on_disk("ws-session").len(), 4);
}

#[test]
fn provider_failures_are_clear_json_errors() {
    let rig = Rig::start(&[("MODEL_MAX_ATTEMPTS", "1"), ("MODEL_FIRST_BYTE_TIMEOUT", "500ms")]);
    let a = rig.bin.addr;
    rig.mock.push(Reply::error(401, "Incorrect API key provided"));
    let r = invoke(a, json!({"query": "q", "session_id": "f"}));
    assert_eq!(r.status, 502, "{}", r.text());
    let body = r.json();
    assert!(body["error"].as_str().unwrap().contains("401"), "{body}");
    assert_eq!(
        body["details"]["error"]["message"], "Incorrect API key provided",
        "the provider's own body"
    );
    rig.mock.push(Reply::text("late").delay(Duration::from_secs(3)));
    let r = invoke(a, json!({"query": "q", "session_id": "f"}));
    assert_eq!(r.status, 504, "{}", r.text());
    assert!(r.json()["error"].as_str().unwrap().contains("first byte"));
    // The session is still usable, and holds both user messages (as Strands leaves it).
    rig.mock.push(Reply::text("fine now"));
    let r = invoke(a, json!({"query": "q3", "session_id": "f"}));
    assert_eq!(r.text(), r#"{"response": "fine now\n"}"#);
    let on_disk = rig.messages_on_disk("f");
    let roles: Vec<&str> = on_disk
        .iter()
        .map(|m| m["message"]["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "user", "user", "assistant"]);
}

#[test]
fn a_corrupt_session_is_an_error_for_that_session_only() {
    let rig = Rig::start(&[]);
    rig.mock.set_default(Reply::text("ok"));
    assert_eq!(
        invoke(rig.bin.addr, json!({"query": "q", "session_id": "broken"})).status,
        200
    );
    let file = rig
        .session_dir("broken")
        .join("agents/agent_default/messages/message_1.json");
    std::fs::write(&file, "{ not json").unwrap();
    let r = invoke(rig.bin.addr, json!({"query": "q", "session_id": "broken"}));
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(
        r.json()["error"].as_str().unwrap().contains("message_1.json"),
        "{}",
        r.text()
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "{ not json",
        "nothing overwritten"
    );
    assert_eq!(
        invoke(rig.bin.addr, json!({"query": "q", "session_id": "healthy"})).status,
        200
    );
}

#[test]
fn concurrent_requests_of_one_session_are_serialised_and_others_are_not() {
    let rig = Rig::start(&[]);
    rig.mock.respond_with(|req| {
        Some(Reply::text(&format!("re: {}", last_user_text(req))).delay(Duration::from_millis(300)))
    });
    let a = rig.bin.addr;
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let sid = if i < 3 { "shared" } else { "other" };
            std::thread::spawn(move || invoke(a, json!({"query": format!("m{i}"), "session_id": sid})))
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap().status, 200);
    }
    let on_disk = rig.messages_on_disk("shared");
    assert_eq!(on_disk.len(), 6, "three complete turns, none lost");
    for pair in on_disk.chunks(2) {
        let asked = pair[0]["message"]["content"][0]["text"].as_str().unwrap();
        assert_eq!(
            pair[1]["message"]["content"][0]["text"],
            format!("re: {asked}"),
            "turns did not interleave"
        );
    }
    assert_eq!(rig.messages_on_disk("other").len(), 2);
}

#[test]
fn structured_output_end_to_end() {
    let schema = TempDir::new("schema");
    let path = schema.path().join("answer.json");
    std::fs::write(
        &path,
        json!({
            "title": "Answer",
            "description": "The answer.",
            "type": "object",
            "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
            "required": ["answer", "confidence"]
        })
        .to_string(),
    )
    .unwrap();
    let rig = Rig::start(&[("STRUCTURED_OUTPUT_SCHEMA", path.to_str().unwrap())]);
    rig.mock.push_all([
        Reply::tool_call("call_1", "Answer", json!({"answer": "Paris"})),
        Reply::tool_call("call_2", "Answer", json!({"answer": "Paris", "confidence": 0.9})),
    ]);
    let r = invoke(
        rig.bin.addr,
        json!({"query": "Capital of France?", "session_id": "so"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"answer": "Paris", "confidence": 0.9}));
    let requests = rig.mock.requests();
    assert_eq!(
        requests[0].json.as_ref().unwrap()["tools"][0]["function"]["name"],
        "Answer"
    );
    let retry = &requests[1].json.as_ref().unwrap()["messages"];
    let tool_msg = retry
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap();
    assert!(
        tool_msg["content"]
            .as_str()
            .unwrap()
            .starts_with("Validation failed for Answer."),
        "{tool_msg}"
    );
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

/// The pid the MCP `pid` tool reported, taken from the tool message the model received.
fn tool_text(req: &RecordedRequest) -> Option<String> {
    let messages = req.json.as_ref()?["messages"].as_array()?.clone();
    messages
        .iter()
        .rev()
        .find(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap_or("").to_string())
}

#[test]
fn mcp_tools_end_to_end_with_per_session_servers() {
    let config = TempDir::new("mcp-config");
    let path = config.path().join("mcp.json");
    let server = repo_root().join("tests/peers/mcp_server.py");
    std::fs::write(
        &path,
        json!({"mcpServers": {"calc": {
            "command": peer_python().to_str().unwrap(),
            "args": [server.to_str().unwrap(), "stdio"],
            "tool_filters": {"allowed": ["pid", "add"]}
        }}})
        .to_string(),
    )
    .unwrap();
    let mut rig = Rig::start(&[("MCP_CONFIG", path.to_str().unwrap())]);
    // The model calls `pid` when it has no tool result yet, then answers with what it got.
    rig.mock.respond_with(|req| {
        let messages = req.json.as_ref()?["messages"].as_array()?.clone();
        Some(if messages.last()?["role"] == "tool" {
            Reply::text(&format!("pid is {}", tool_text(req).unwrap_or_default()))
        } else {
            Reply::tool_call("call_pid", "pid", json!({}))
        })
    });
    let a = rig.bin.addr;
    let ask = |sid: &str| {
        let r = invoke(a, json!({"query": "which process?", "session_id": sid}));
        assert_eq!(r.status, 200, "{}", r.text());
        let text = r.json()["response"].as_str().unwrap().trim().to_string();
        text.strip_prefix("pid is ").unwrap().parse::<u32>().unwrap()
    };
    let first_a = ask("a");
    let second_a = ask("a");
    let b = ask("b");
    assert_eq!(
        first_a, second_a,
        "a session's second request reuses its MCP server"
    );
    assert_ne!(first_a, b, "two sessions, two server processes");
    // The tool specs the model saw: only the allowed tools, normalised as Strands does.
    let tools = rig.mock.requests()[0].json.as_ref().unwrap()["tools"].clone();
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"pid") && names.contains(&"add"));
    // The stored tool result carries MCP's extra keys; the model got only the text.
    let stored = rig.messages_on_disk("a");
    let result = &stored[2]["message"]["content"][0]["toolResult"];
    assert_eq!(result["status"], "success");
    assert_eq!(result["structuredContent"], json!({"result": first_a}));
    // Shutdown leaves no MCP server behind.
    rig.bin.signal(15);
    let status = rig
        .bin
        .wait_exit(Duration::from_secs(20))
        .expect("exit after SIGTERM");
    assert!(status.success());
    for pid in [first_a, b] {
        eventually("MCP server to be gone", Duration::from_secs(10), || {
            !pid_alive(pid)
        });
    }
    // Servers we stopped ourselves are no warning: only an unexpected exit is.
    let warnings: Vec<_> = rig
        .bin
        .logs()
        .into_iter()
        .filter(|l| l["level"] == "WARNING")
        .collect();
    assert!(warnings.is_empty(), "a normal shutdown warns: {warnings:?}");
}

#[test]
fn sigterm_lets_a_streaming_invocation_finish() {
    let mut rig = Rig::start(&[("DRAIN_TIMEOUT", "10s")]);
    let gate = Gate::new();
    rig.mock
        .push(Reply::text("finished despite SIGTERM").after(&gate));
    let a = rig.bin.addr;
    let client = std::thread::spawn(move || {
        invoke(a, json!({"query": "slow", "session_id": "drain", "stream": true}))
    });
    rig.mock.wait_for_requests(1, Duration::from_secs(10));
    rig.bin.signal(15);
    // The server logs this once it is draining (no longer taking requests) and not before.
    rig.bin.wait_for_log("the drain to start", |l| {
        l["message"] == "shutting down: draining in-flight requests"
    });
    gate.open();
    let r = client.join().unwrap();
    let last = sse_events(&r.text()).pop().unwrap();
    assert_eq!(last["result"], json!({"response": "finished despite SIGTERM\n"}));
    let status = rig
        .bin
        .wait_exit(Duration::from_secs(20))
        .expect("exits after draining");
    assert!(status.success(), "{status:?}");
    assert_eq!(rig.messages_on_disk("drain").len(), 2);
}

#[test]
fn a_client_that_disconnects_leaves_a_loadable_session() {
    let rig = Rig::start(&[]);
    let gate = Gate::new();
    rig.mock.push(Reply::text("nobody is listening").after(&gate));
    {
        let mut c = Conn::open(rig.bin.addr);
        let body = r#"{"query": "hello?", "session_id": "gone"}"#;
        c.send(
            format!(
                "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        rig.mock.wait_for_requests(1, Duration::from_secs(10));
    }
    gate.open();
    rig.mock.push(Reply::text("back again"));
    eventually("the session to be free again", Duration::from_secs(20), || {
        invoke(
            rig.bin.addr,
            json!({"query": "still there?", "session_id": "gone"}),
        )
        .status
            == 200
    });
    let on_disk = rig.messages_on_disk("gone");
    let texts: Vec<&str> = on_disk
        .iter()
        .map(|m| m["message"]["content"][0]["text"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        texts,
        ["hello?", "nobody is listening", "still there?", "back again"]
    );
    assert_eq!(get(rig.bin.addr, "/ping").status, 200);
}

#[test]
fn without_fsync_sessions_are_written_the_same() {
    let durable = Rig::start(&[]);
    let fast = Rig::start(&[("SESSION_FSYNC", "false")]);
    for rig in [&durable, &fast] {
        rig.mock.set_default(Reply::text("same bytes"));
        assert_eq!(
            invoke(rig.bin.addr, json!({"query": "q", "session_id": "f"})).status,
            200
        );
    }
    let mask = |v: Vec<Value>| {
        v.into_iter()
            .map(|mut m| {
                m["created_at"] = json!(null);
                m["updated_at"] = json!(null);
                m["message"]["tracking_id"] = json!(null);
                if m["message"]["metadata"].is_object() {
                    m["message"]["metadata"]["metrics"] = json!(null);
                }
                m
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        mask(durable.messages_on_disk("f")),
        mask(fast.messages_on_disk("f"))
    );
}

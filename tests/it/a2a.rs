//! The A2A agent (`PROTOCOL=a2a`): the real binary on an ephemeral port with a mock OpenAI
//! model, driven by the official `a2a-sdk` Python client (tests/peers/a2a_client.py, pinned in
//! tests/peers/requirements-a2a.txt) and by raw requests for hostile input.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::mock_openai::{MockOpenAi, Reply};
use crate::support::server::{Binary, Conn, request};
use crate::support::{TempDir, messages_on_disk, repo_root};

fn a2a_python() -> PathBuf {
    let py = repo_root().join(".venv-a2a/bin/python");
    assert!(
        py.exists(),
        "{} missing: run scripts/install-test-peers.sh",
        py.display()
    );
    py
}

struct Rig {
    mock: MockOpenAi,
    sessions: TempDir,
    bin: Binary,
}

impl Rig {
    fn start(extra: &[(&str, &str)]) -> Rig {
        let mock = MockOpenAi::start();
        let sessions = TempDir::new("a2a-sessions");
        let base_url = mock.base_url();
        let dir = sessions.path().display().to_string();
        let mut env = vec![
            ("PROTOCOL", "a2a"),
            ("A2A_PORT", "0"),
            ("OPENAI_BASE_URL", base_url.as_str()),
            ("OPENAI_API_KEY", "sk-test"),
            ("MODEL_ID", "gpt-4o"),
            ("SESSION_DIR", dir.as_str()),
            ("A2A_AGENT_NAME", "rt-test"),
            ("A2A_AGENT_DESCRIPTION", "answers questions"),
        ];
        env.extend_from_slice(extra);
        let bin = Binary::start(&env);
        Rig { mock, sessions, bin }
    }

    fn url(&self) -> String {
        format!("http://{}/", self.bin.addr)
    }

    /// Runs the SDK driver in `mode`; its JSON output.
    fn client(&self, args: &[&str]) -> Value {
        let url = self.url();
        let out = Command::new(a2a_python())
            .arg(repo_root().join("tests/peers/a2a_client.py"))
            .arg(args[0])
            .arg(&url)
            .args(&args[1..])
            .output()
            .expect("run a2a_client.py");
        assert!(
            out.status.success(),
            "a2a_client.py {args:?} failed\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("the driver prints JSON")
    }

    fn rpc(&self, body: &str) -> Value {
        let resp = request(
            self.bin.addr,
            "POST",
            "/",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        assert_eq!(resp.status, 200, "{}", resp.text());
        resp.json()
    }
}

#[test]
fn sdk_reads_the_card() {
    let rig = Rig::start(&[("AGENTCORE_RUNTIME_URL", "https://rt.example/invocations/")]);
    let out = rig.client(&["card"]);
    let card = &out["card"];
    assert_eq!(card["name"], "rt-test");
    assert_eq!(card["description"], "answers questions");
    assert_eq!(card["capabilities"]["streaming"], true);
    assert_eq!(
        card["supportedInterfaces"],
        json!([{"url": "https://rt.example/invocations/", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}])
    );
    assert_eq!(card["skills"][0]["id"], "chat");
    assert_eq!(card["defaultOutputModes"], json!(["text/plain"]));
    // The older path, and /ping, on the same port.
    let old = request(rig.bin.addr, "GET", "/.well-known/agent.json", &[], b"");
    assert_eq!(old.status, 200);
    assert_eq!(old.json()["name"], "rt-test");
    assert_eq!(
        request(rig.bin.addr, "GET", "/ping", &[], b"").json()["status"],
        "Healthy"
    );
}

#[test]
fn sdk_send_get_and_a_session_shared_by_context_id() {
    let rig = Rig::start(&[]);
    rig.mock.push(Reply::text("Paris."));
    let out = rig.client(&["send", "Capital of France?", "ctx-42"]);
    let task = &out["events"][0]["task"];
    assert_eq!(task["status"]["state"], "TASK_STATE_COMPLETED", "{out}");
    assert_eq!(task["contextId"], "ctx-42");
    assert_eq!(task["artifacts"][0]["parts"][0]["text"], "Paris.");
    assert_eq!(out["got"]["id"], task["id"]);
    assert_eq!(out["got"]["status"]["state"], "TASK_STATE_COMPLETED");
    let refused = out["cancel_finished"].as_str().unwrap_or("");
    assert!(refused.starts_with("TaskNotCancelableError"), "{refused}");
    assert_eq!(
        rig.mock.requests()[0].last_user_text(),
        Some("Capital of France?")
    );
    // The context is the session, stored as /invocations stores it.
    rig.mock.push(Reply::text("About 2 million."));
    let out = rig.client(&["send", "Its population?", "ctx-42"]);
    assert_eq!(
        out["events"][0]["task"]["status"]["state"],
        "TASK_STATE_COMPLETED"
    );
    let second = rig.mock.requests()[1].body_text();
    assert!(
        second.contains("Capital of France?") && second.contains("Paris."),
        "{second}"
    );
    assert_eq!(messages_on_disk(rig.sessions.path(), "ctx-42").len(), 4);
}

#[test]
fn sdk_streams_text_deltas_as_artifact_chunks() {
    let rig = Rig::start(&[]);
    rig.mock
        .push(Reply::text("one two three four").with_delta_chars(4));
    let out = rig.client(&["stream", "count"]);
    let events = out["events"].as_array().expect("events");
    assert!(events[0]["task"]["id"].is_string(), "{out}");
    assert_eq!(events[1]["statusUpdate"]["status"]["state"], "TASK_STATE_WORKING");
    let chunks: Vec<&str> = events
        .iter()
        .filter_map(|e| e["artifactUpdate"]["artifact"]["parts"][0]["text"].as_str())
        .collect();
    assert!(chunks.len() >= 4, "one event per delta: {chunks:?}");
    assert_eq!(chunks.concat(), "one two three four");
    let last = events.last().unwrap();
    assert_eq!(
        last["statusUpdate"]["status"]["state"], "TASK_STATE_COMPLETED",
        "{out}"
    );
    assert!(events.iter().any(|e| e["artifactUpdate"]["lastChunk"] == true));
}

#[test]
fn sdk_cancels_a_slow_run() {
    cancel_a_slow_run(&Rig::start(&[]));
}

/// One worker and one invocation slot, both held by the task being cancelled: the card,
/// GetTask and CancelTask are answered anyway (they never queue on the pool behind it).
#[test]
fn control_calls_do_not_wait_behind_the_task_they_control() {
    cancel_a_slow_run(&Rig::start(&[
        ("WORKER_THREADS", "1"),
        ("MAX_CONCURRENT_INVOCATIONS", "1"),
    ]));
}

fn cancel_a_slow_run(rig: &Rig) {
    // Held far longer than the test runs: only the cancel can end it.
    rig.mock
        .push(Reply::text("too late").delay(Duration::from_secs(120)));
    let go = rig.sessions.path().join("go");
    let go_arg = go.display().to_string();
    let out = std::thread::scope(|scope| {
        let client = scope.spawn(|| rig.client(&["cancel", "take your time", &go_arg]));
        // Cancel only once the model call is under way.
        rig.mock.wait_for_requests(1, Duration::from_secs(30));
        std::fs::write(&go, b"").expect("write the go file");
        client.join().expect("the driver thread")
    });
    assert_eq!(out["cancel"]["status"]["state"], "TASK_STATE_CANCELED", "{out}");
    let last = out["events"]
        .as_array()
        .and_then(|e| e.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        last["statusUpdate"]["status"]["state"], "TASK_STATE_CANCELED",
        "{out}"
    );
    assert_eq!(out["got"]["status"]["state"], "TASK_STATE_CANCELED");
    let again = out["again"].as_str().unwrap_or("");
    assert!(again.starts_with("TaskNotCancelableError"), "{again}");
    // The model call was abandoned: its connection hung up.
    let connection = rig.mock.wait_for_requests(1, Duration::from_secs(10))[0].connection;
    assert!(
        rig.mock.wait_for_hang_up(connection, Duration::from_secs(10)),
        "the invocation kept running"
    );
}

/// Without a `contextId` the session is the runtime session header AgentCore sends (the
/// stickiness header is never refused, nor is an `Mcp-Session-Id` beside it).
#[test]
fn the_runtime_session_header_is_the_context_without_one() {
    let rig = Rig::start(&[]);
    rig.mock.push(Reply::text("Hello."));
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": {
        "messageId": "m-1", "role": "ROLE_USER", "parts": [{"text": "Hi"}]}}});
    let resp = request(
        rig.bin.addr,
        "POST",
        "/",
        &[
            ("Content-Type", "application/json"),
            (
                "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id",
                "hdr-a2a-session-000000000000000001",
            ),
            ("Mcp-Session-Id", "not-ours"),
        ],
        body.to_string().as_bytes(),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let task = &resp.json()["result"]["task"];
    assert_eq!(task["status"]["state"], "TASK_STATE_COMPLETED", "{task}");
    assert_eq!(task["contextId"], "hdr-a2a-session-000000000000000001");
    assert_eq!(
        messages_on_disk(rig.sessions.path(), "hdr-a2a-session-000000000000000001").len(),
        2
    );
}

#[test]
fn sdk_unknown_tasks() {
    let rig = Rig::start(&[]);
    let out = rig.client(&["missing"]);
    assert!(
        out["get"].as_str().unwrap_or("").starts_with("TaskNotFoundError"),
        "{out}"
    );
    assert!(
        out["cancel"]
            .as_str()
            .unwrap_or("")
            .starts_with("TaskNotFoundError"),
        "{out}"
    );
}

#[test]
fn hostile_json_rpc() {
    let rig = Rig::start(&[("MAX_BODY_BYTES", "100000"), ("BODY_TIMEOUT", "1s")]);
    let code = |body: &str| rig.rpc(body)["error"]["code"].as_i64().unwrap_or(0);
    assert_eq!(code("{"), -32700);
    assert_eq!(code("[]"), -32600);
    assert_eq!(code(r#"{"jsonrpc":"2.0","method":"SendMessage"}"#), -32600);
    assert_eq!(code(r#"{"jsonrpc":"2.0","id":1,"method":"Explode"}"#), -32601);
    assert_eq!(
        code(r#"{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":7}}"#),
        -32602
    );
    assert_eq!(
        code(r#"{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":5}}"#),
        -32602
    );
    assert_eq!(
        code(r#"{"jsonrpc":"2.0","id":1,"method":"message/send","params":{}}"#),
        -32602
    );
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    assert_eq!(code(&deep), -32700);
    // A big batch gets one small answer; a body past the limit is refused before it is parsed.
    let one = r#"{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"x"}},"#;
    let batch = format!("[{}]", one.repeat(1000).trim_end_matches(','));
    assert_eq!(code(&batch), -32600);
    let huge = format!("[{}]", one.repeat(5000).trim_end_matches(','));
    let resp = request(rig.bin.addr, "POST", "/", &[], huge.as_bytes());
    assert_eq!(resp.status, 413, "{}", resp.text());
    assert_eq!(
        rig.mock.request_count(),
        0,
        "no hostile request reached the model"
    );
    // Other methods and paths.
    assert_eq!(request(rig.bin.addr, "GET", "/", &[], b"").status, 405);
    assert_eq!(
        request(rig.bin.addr, "POST", "/invocations", &[], b"{}").status,
        404
    );
    // A slow client that never finishes its body times out (BODY_TIMEOUT), and the server
    // answers others meanwhile.
    let mut slow = Conn::open(rig.bin.addr);
    slow.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\"");
    assert_eq!(request(rig.bin.addr, "GET", "/ping", &[], b"").status, 200);
    assert_eq!(
        slow.read_response(false).status,
        408,
        "the stalled body timed out"
    );
    // Access logs as /invocations writes them.
    let logged = rig
        .bin
        .logs()
        .iter()
        .any(|l| l["message"] == "request" && l["path"] == "/");
    assert!(logged, "access log lines for POST /");
}

#[test]
fn bearer_token_guards_json_rpc_not_the_card() {
    let rig = Rig::start(&[("AUTH_BEARER_TOKEN", "s3cret")]);
    let body = br#"{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"x"}}"#;
    assert_eq!(request(rig.bin.addr, "POST", "/", &[], body).status, 401);
    let ok = request(
        rig.bin.addr,
        "POST",
        "/",
        &[("Authorization", "Bearer s3cret")],
        body,
    );
    assert_eq!(ok.json()["error"]["code"], -32001);
    assert_eq!(
        request(rig.bin.addr, "GET", "/.well-known/agent-card.json", &[], b"").status,
        200
    );
}

#[test]
fn strands_calls_ours_as_a_remote_a2a_agent() {
    let py = repo_root().join(".venv-a2a-strands/bin/python");
    assert!(
        py.exists(),
        "{} missing: run scripts/install-test-peers.sh",
        py.display()
    );
    let rig = Rig::start(&[]);
    rig.mock.push(Reply::text("Blue, mostly.").with_delta_chars(3));
    let out = Command::new(py)
        .arg(repo_root().join("tests/peers/strands_a2a.py"))
        .arg(rig.url())
        .arg("What colour is the sea?")
        .output()
        .expect("run strands_a2a.py");
    assert!(
        out.status.success(),
        "strands_a2a.py failed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["name"], "rt-test");
    assert_eq!(v["description"], "answers questions");
    // The text of the final status's message, as Strands reads the last event.
    assert_eq!(v["text"].as_str().map(str::trim), Some("Blue, mostly."), "{v}");
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(
        rig.mock.requests()[0].last_user_text(),
        Some("What colour is the sea?")
    );
}

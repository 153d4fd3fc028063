//! `PROTOCOL=mcp`: the real binary as an MCP server (Streamable HTTP, stateless) on an
//! ephemeral port, the mock model behind it, driven by the official Python client (`mcp`),
//! the official TypeScript SDK client, and raw sockets for hostile input.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::mock_openai::{Gate, MockOpenAi, Reply};
use crate::support::server::{Binary, Conn, request};
use crate::support::{TempDir, node_modules, peer_python, repo_root};

struct Rig {
    mock: MockOpenAi,
    sessions: TempDir,
    bin: Binary,
}

impl Rig {
    fn start(extra: &[(&str, &str)]) -> Rig {
        let mock = MockOpenAi::start();
        let sessions = TempDir::new("mcp-server-sessions");
        let base_url = mock.base_url();
        let session_dir = sessions.path().display().to_string();
        let mut env = vec![
            ("PROTOCOL", "mcp"),
            ("OPENAI_BASE_URL", base_url.as_str()),
            ("OPENAI_API_KEY", "sk-test"),
            ("SESSION_DIR", session_dir.as_str()),
        ];
        env.extend_from_slice(extra);
        let bin = Binary::start(&env);
        Rig { mock, sessions, bin }
    }

    fn url(&self) -> String {
        format!("http://{}/mcp", self.bin.addr)
    }

    /// A POST /mcp with both media types accepted, and `extra` headers.
    fn post(&self, body: &str, extra: &[(&str, &str)]) -> crate::support::server::Resp {
        let mut headers = vec![
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
        ];
        headers.extend_from_slice(extra);
        request(self.bin.addr, "POST", "/mcp", &headers, body.as_bytes())
    }
}

/// The JSON-RPC messages of an SSE body (`data:` lines).
fn sse_messages(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|event| event.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect()
}

fn error_code(v: &Value) -> i64 {
    v["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("not an error: {v}"))
}

fn run_peer(cmd: &mut Command) -> Value {
    let out = cmd.output().expect("run the client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn assert_progress_grows(progress: &Value) {
    let values: Vec<f64> = progress
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["progress"].as_f64().unwrap())
        .collect();
    assert!(values.len() >= 2, "progress notifications: {progress}");
    assert!(values.windows(2).all(|w| w[0] < w[1]), "{values:?}");
}

#[test]
fn python_mcp_client_initializes_lists_and_calls_with_progress() {
    let rig = Rig::start(&[]);
    rig.mock
        .set_default(Reply::text("MCP is a protocol.").with_delta_chars(4));
    for mode in ["legacy", "auto"] {
        let out = run_peer(
            Command::new(peer_python())
                .arg(repo_root().join("tests/peers/mcp_client.py"))
                .args([&rig.url(), mode, &format!("py-{mode}")]),
        );
        assert_eq!(out["protocol_version"], "2025-11-25", "{mode}: {out}");
        assert_eq!(out["server_info"]["name"], "agentcore-rt");
        assert_eq!(out["tools"][0]["name"], "invoke_agent");
        assert_eq!(out["tools"][0]["inputSchema"]["required"], json!(["query"]));
        assert_eq!(
            out["call"]["content"],
            json!([{"type": "text", "text": "MCP is a protocol.\n"}]),
            "{mode}: {out}"
        );
        assert_eq!(out["call"]["isError"], false);
        assert_progress_grows(&out["progress"]);
        assert_eq!(out["progress"][0]["message"], "MCP ");
        assert_eq!(out["bad_call"]["isError"], true);
        assert_eq!(
            out["bad_call"]["content"][0]["text"],
            "Missing required field: query"
        );
        assert_eq!(out["ping"], true);
        // The session came from the runtime session header.
        assert!(
            rig.sessions.path().join(format!("session_py-{mode}")).is_dir(),
            "{mode}: no session directory"
        );
    }
}

#[test]
fn typescript_sdk_client_initializes_lists_and_calls_with_progress() {
    let rig = Rig::start(&[]);
    rig.mock
        .set_default(Reply::text("Tools for models.").with_delta_chars(3));
    let _ = node_modules();
    let out = run_peer(
        Command::new("node")
            .arg(repo_root().join("tests/peers/mcp_ts_client.mjs"))
            .args([&rig.url(), "ts-header"]),
    );
    assert_eq!(out["protocol_version"], "2025-11-25", "{out}");
    assert_eq!(out["server_info"]["name"], "agentcore-rt");
    assert_eq!(out["session_id"], Value::Null, "stateless: no Mcp-Session-Id");
    assert_eq!(out["tools"][0]["name"], "invoke_agent");
    assert_eq!(
        out["call"]["content"],
        json!([{"type": "text", "text": "Tools for models.\n"}])
    );
    assert_progress_grows(&out["progress"]);
    assert_eq!(out["unknown"]["code"], -32602, "{out}");
    assert_eq!(out["ping"], true);
    // The tool argument's session wins over the header.
    assert!(rig.sessions.path().join("session_ts-session").is_dir());
    assert!(!rig.sessions.path().join("session_ts-header").exists());
}

#[test]
fn answers_json_or_sse_as_accept_allows_and_stays_stateless() {
    let rig = Rig::start(&[("MCP_TOOL_NAME", "ask"), ("MCP_TOOL_DESCRIPTION", "Ask me")]);
    rig.mock.set_default(Reply::text("hi"));
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"curl","version":"0"}}}"#;
    let r = rig.post(init, &[("Mcp-Session-Id", "from-the-platform")]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("mcp-session-id"), None);
    assert_eq!(r.json()["result"]["protocolVersion"], "2025-03-26");
    // An unknown revision gets our newest.
    let r = rig.post(&init.replace("2025-03-26", "2024-11-05"), &[]);
    assert_eq!(r.json()["result"]["protocolVersion"], "2025-11-25");
    let r = rig.post(&init.replace("2025-03-26", "2025-06-18"), &[]);
    assert_eq!(r.json()["result"]["protocolVersion"], "2025-06-18");

    let r = rig.post(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, &[]);
    assert_eq!((r.status, r.body.len()), (202, 0));
    let r = rig.post(r#"{"jsonrpc":"2.0","id":"srv-1","result":{}}"#, &[]);
    assert_eq!(r.status, 202, "a response from the client is accepted");

    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    let r = rig.post(list, &[("MCP-Protocol-Version", "2025-06-18")]);
    let tool = &r.json()["result"]["tools"][0];
    assert_eq!(
        (tool["name"].as_str(), tool["description"].as_str()),
        (Some("ask"), Some("Ask me"))
    );
    assert_eq!(tool.get("outputSchema"), None);

    // Only SSE accepted: a stream of one response.
    let sse_only = [
        ("Content-Type", "application/json"),
        ("Accept", "text/event-stream"),
    ];
    let r = request(rig.bin.addr, "POST", "/mcp", &sse_only, list.as_bytes());
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/event-stream"));
    let messages = sse_messages(&r.text());
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["id"], 2);

    // A call with a progress token streams; without one it is JSON; session from the header.
    let call = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"ask","arguments":{"query":"hello"},"_meta":{"progressToken":7}}}"#;
    let r = rig.post(call, &[("X-Amzn-Bedrock-AgentCore-Runtime-Session-Id", "hdr-1")]);
    assert!(r.header("content-type").unwrap().starts_with("text/event-stream"));
    let messages = sse_messages(&r.text());
    let (last, notes) = messages.split_last().unwrap();
    assert_eq!(last["result"]["content"][0]["text"], "hi\n");
    assert!(!notes.is_empty());
    for note in notes {
        assert_eq!(note["method"], "notifications/progress");
        assert_eq!(note["params"]["progressToken"], 7);
    }
    assert!(rig.sessions.path().join("session_hdr-1").is_dir());
    let r = rig.post(&call.replace(r#","_meta":{"progressToken":7}"#, ""), &[]);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json()["result"]["isError"], false);
    assert!(rig.sessions.path().join("session_default").is_dir());

    // /ping on the MCP port; GET and DELETE /mcp are 405 for a stateless server.
    let r = request(rig.bin.addr, "GET", "/ping", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "Healthy");
    for method in ["GET", "DELETE"] {
        let r = request(
            rig.bin.addr,
            method,
            "/mcp",
            &[("Accept", "text/event-stream")],
            b"",
        );
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("POST"));
    }
    let r = request(rig.bin.addr, "POST", "/invocations", &[], b"{}");
    assert_eq!(r.status, 404, "the HTTP contract is not served on the MCP port");
}

#[test]
fn hostile_input_gets_the_spec_codes() {
    let rig = Rig::start(&[("MAX_BODY_BYTES", "64KiB"), ("BODY_TIMEOUT", "1s")]);
    let post = |body: &str| rig.post(body, &[]);
    let r = post("{not json");
    assert_eq!((r.status, error_code(&r.json())), (400, -32700));
    let r = post(&format!("{}{}", "[".repeat(300), "]".repeat(300)));
    assert_eq!(
        (r.status, error_code(&r.json())),
        (400, -32700),
        "nesting past MAX_JSON_DEPTH"
    );
    let r = post(r#"{"jsonrpc":"2.0","id":1,"method":"resources/list"}"#);
    assert_eq!((r.status, error_code(&r.json())), (200, -32601));
    assert_eq!(r.json()["id"], 1);
    for bad in [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"invoke_agent","arguments":[1]}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"nope"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":"x"}"#,
    ] {
        let r = post(bad);
        assert_eq!(error_code(&r.json()), -32602, "{bad}: {}", r.text());
    }
    for bad in [
        r#"{"id":1,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
        "42",
    ] {
        let r = post(bad);
        assert_eq!((r.status, error_code(&r.json())), (400, -32600), "{bad}");
    }
    // Batches: 2025-03-26 (no version header) has them, 2025-06-18 removed them.
    let batch = r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/x"},{"jsonrpc":"2.0","id":2,"method":"nope"}]"#;
    let r = post(batch);
    assert_eq!(r.status, 200, "{}", r.text());
    let answers = r.json();
    assert_eq!(answers[0], json!({"jsonrpc": "2.0", "id": 1, "result": {}}));
    assert_eq!(error_code(&answers[1]), -32601);
    assert_eq!(answers.as_array().unwrap().len(), 2);
    let r = rig.post(batch, &[("MCP-Protocol-Version", "2025-06-18")]);
    assert_eq!((r.status, error_code(&r.json())), (400, -32600));
    let huge = format!(
        "[{}]",
        vec![r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#; 100].join(",")
    );
    let r = post(&huge);
    assert_eq!(
        (r.status, error_code(&r.json())),
        (400, -32600),
        "a batch past 64 messages"
    );
    let r = post("[]");
    assert_eq!((r.status, error_code(&r.json())), (400, -32600));
    let r =
        post(r#"[{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26"}}]"#);
    assert_eq!(error_code(&r.json()[0]), -32600, "initialize in a batch");
    // Past the body limit: 413 before the body is read, as /invocations.
    let r = post(&format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"x":"{}"}}}}"#,
        "a".repeat(70_000)
    ));
    assert_eq!(r.status, 413);
    // Wrong Accept, wrong Content-Type, unknown protocol version.
    let ping = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let r = request(rig.bin.addr, "POST", "/mcp", &[("Accept", "text/html")], ping);
    assert_eq!((r.status, error_code(&r.json())), (406, -32600));
    let r = request(
        rig.bin.addr,
        "POST",
        "/mcp",
        &[("Content-Type", "text/plain")],
        ping,
    );
    assert_eq!(r.status, 415);
    let r = rig.post(
        std::str::from_utf8(ping).unwrap(),
        &[("MCP-Protocol-Version", "1999-01-01")],
    );
    assert_eq!((r.status, error_code(&r.json())), (400, -32600));
    // curl's defaults (Accept: */*, no Content-Type) work.
    let r = request(rig.bin.addr, "POST", "/mcp", &[("Accept", "*/*")], ping);
    assert_eq!(r.json()["result"], json!({}));
    // A slow client: the body stalls, BODY_TIMEOUT answers 408 and closes.
    let mut conn = Conn::open(rig.bin.addr);
    conn.send(b"POST /mcp HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\"");
    let r = conn.read_response(false);
    assert_eq!(r.status, 408);
    assert!(conn.closed_within(Duration::from_secs(5)));
    // The server is still fine.
    assert_eq!(
        post(std::str::from_utf8(ping).unwrap()).json()["result"],
        json!({})
    );
}

#[test]
fn structured_output_is_structured_content_with_an_output_schema() {
    let dir = TempDir::new("mcp-server-schema");
    let path = dir.path().join("schema.json");
    let schema = json!({
        "title": "Answer",
        "type": "object",
        "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
        "required": ["answer", "confidence"]
    });
    std::fs::write(&path, schema.to_string()).unwrap();
    let rig = Rig::start(&[("STRUCTURED_OUTPUT_SCHEMA", path.to_str().unwrap())]);
    rig.mock.push(Reply::tool_call(
        "c1",
        "Answer",
        json!({"answer": "Paris", "confidence": 0.9}),
    ));
    let r = rig.post(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#, &[]);
    let output_schema = &r.json()["result"]["tools"][0]["outputSchema"];
    assert_eq!(
        output_schema["properties"]["answer"]["type"],
        "string",
        "{}",
        r.text()
    );
    let r = rig.post(
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"invoke_agent","arguments":{"query":"Capital of France?"}}}"#,
        &[],
    );
    let result = &r.json()["result"];
    assert_eq!(
        result["structuredContent"],
        json!({"answer": "Paris", "confidence": 0.9}),
        "{}",
        r.text()
    );
    let text: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text, result["structuredContent"]);
    // A model failure is an isError result, not a JSON-RPC error.
    rig.mock.push(Reply::error(400, "bad request from the model"));
    let r = rig.post(
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"invoke_agent","arguments":{"query":"again"}}}"#,
        &[],
    );
    assert_eq!(r.json()["result"]["isError"], true, "{}", r.text());
}

#[test]
fn expose_tools_passes_the_configured_mcp_tools_through() {
    let dir = TempDir::new("mcp-server-expose");
    let path = dir.path().join("mcp.json");
    let server = repo_root().join("tests/peers/mcp_server.py");
    std::fs::write(
        &path,
        json!({"mcpServers": {"calc": {
            "command": peer_python().to_str().unwrap(),
            "args": [server.to_str().unwrap(), "stdio"],
            "tool_filters": {"allowed": ["add", "fail"]}
        }}})
        .to_string(),
    )
    .unwrap();
    let rig = Rig::start(&[
        ("MCP_CONFIG", path.to_str().unwrap()),
        ("MCP_EXPOSE_TOOLS", "true"),
    ]);
    let r = rig.post(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#, &[]);
    let names: Vec<String> = r.json()["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", r.text()))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["invoke_agent", "add", "fail"], "{}", r.text());
    let r = rig.post(
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":3}}}"#,
        &[],
    );
    let result = &r.json()["result"];
    assert_eq!(result["content"][0]["text"], "5", "{}", r.text());
    assert_eq!(result["isError"], false);
    let r = rig.post(
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"fail","arguments":{"msg":"boom"}}}"#,
        &[],
    );
    assert_eq!(r.json()["result"]["isError"], true, "{}", r.text());
    assert!(
        rig.mock.requests().is_empty(),
        "no model call for a passed-through tool"
    );
}

#[test]
fn mcp_inspector_cli_lists_and_calls() {
    let rig = Rig::start(&[]);
    rig.mock.set_default(Reply::text("Inspected."));
    let bin = repo_root().join("tests/peers/inspector/node_modules/.bin/mcp-inspector");
    assert!(
        bin.exists(),
        "{} missing: run scripts/install-test-peers.sh",
        bin.display()
    );
    let inspector = |args: &[&str]| {
        run_peer_json(
            Command::new(&bin)
                .args(["--cli", &rig.url(), "--transport", "http"])
                .args(args),
        )
    };
    let listed = inspector(&["--method", "tools/list"]);
    assert_eq!(listed["tools"][0]["name"], "invoke_agent", "{listed}");
    let called = inspector(&[
        "--method",
        "tools/call",
        "--tool-name",
        "invoke_agent",
        "--tool-arg",
        "query=hello",
        "--tool-arg",
        "session_id=inspector",
    ]);
    assert_eq!(called["content"][0]["text"], "Inspected.\n", "{called}");
    assert_eq!(called["isError"], false);
    assert!(rig.sessions.path().join("session_inspector").is_dir());
}

/// Runs a client that prints one pretty-printed JSON document.
fn run_peer_json(cmd: &mut Command) -> Value {
    let out = cmd.output().expect("run the client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let start = stdout.find('{').unwrap_or_else(|| panic!("no JSON: {stdout}"));
    serde_json::from_str(&stdout[start..]).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn a_client_that_leaves_a_progress_stream_cancels_the_call() {
    let rig = Rig::start(&[]);
    rig.mock
        .set_default(Reply::text("too late").delay(Duration::from_secs(2)));
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"invoke_agent","arguments":{"query":"slow","session_id":"gone"},"_meta":{"progressToken":"t"}}}"#;
    let mut conn = Conn::open(rig.bin.addr);
    conn.send(
        format!(
            "POST /mcp HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\r\n{call}",
            call.len()
        )
        .as_bytes(),
    );
    // The SSE head comes at once; then the client goes away while the model thinks.
    let mut line = String::new();
    std::io::BufRead::read_line(&mut conn.reader, &mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    drop(conn);
    rig.bin.wait_for_log("the disconnect", |l| {
        l["message"] == "client disconnected during stream"
    });
    let failed = rig.bin.wait_for_log("the cancelled call", |l| {
        l["message"] == "invocation failed" && l["sessionId"] == "gone"
    });
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("cancel"),
        "{failed}"
    );
    // The next call of that session is not blocked by the one that was cancelled.
    rig.mock.set_default(Reply::text("back"));
    let r = rig.post(&call.replace(r#","_meta":{"progressToken":"t"}"#, ""), &[]);
    assert_eq!(r.json()["result"]["content"][0]["text"], "back\n", "{}", r.text());
}

#[test]
fn bearer_auth_the_access_log_and_the_concurrency_limit_hold_on_mcp_too() {
    let rig = Rig::start(&[
        ("AUTH_BEARER_TOKEN", "s3cret"),
        ("MAX_CONCURRENT_INVOCATIONS", "1"),
    ]);
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    assert_eq!(rig.post(ping, &[]).status, 401);
    assert_eq!(rig.post(ping, &[("Authorization", "Bearer wrong")]).status, 401);
    let r = rig.post(ping, &[("Authorization", "Bearer s3cret")]);
    assert_eq!(r.json()["result"], json!({}));
    assert_eq!(
        request(rig.bin.addr, "GET", "/ping", &[], b"").status,
        200,
        "/ping stays open"
    );
    let logged = rig
        .bin
        .wait_for_log("the access log", |l| l["path"] == "/mcp" && l["status"] == 200);
    assert_eq!(logged["method"], "POST");
    // One call holds the only invocation slot: the next request is 503, as on /invocations.
    let gate = Gate::new();
    rig.mock.set_default(Reply::text("held").after(&gate));
    let addr = rig.bin.addr;
    let held = std::thread::spawn(move || {
        let call = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"invoke_agent","arguments":{"query":"q"}}}"#;
        let headers = [
            ("Content-Type", "application/json"),
            ("Authorization", "Bearer s3cret"),
        ];
        request(addr, "POST", "/mcp", &headers, call.as_bytes())
    });
    crate::support::server::eventually("the held model call", Duration::from_secs(10), || {
        !rig.mock.requests().is_empty()
    });
    let r = rig.post(ping, &[("Authorization", "Bearer s3cret")]);
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.header("retry-after"), Some("1"));
    gate.open();
    let r = held.join().unwrap();
    assert_eq!(r.json()["result"]["content"][0]["text"], "held\n");
}

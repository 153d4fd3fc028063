//! Server spans beyond `/invocations`: MCP's `POST /mcp` (driven by the official Python MCP
//! client) and A2A's `POST /` join the caller's trace and parent `invoke_agent`, with the
//! JSON-RPC attributes; requests refused before their handler (401, 503) get a server span with
//! their status; `/ping` never does. The console exporter prints one JSON line per span (see
//! traces.rs).

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::mock_openai::{Gate, MockOpenAi, Reply};
use crate::support::server::{Binary, eventually, request};
use crate::support::spans::{CONSOLE, id, span_id, wait_spans};
use crate::support::{TempDir, peer_python, repo_root};

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn traceparent() -> String {
    format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01")
}

struct Rig {
    mock: MockOpenAi,
    bin: Binary,
    _sessions: TempDir,
}

/// The binary with the console exporter, the mock model, and `env`.
fn rig(env: &[(&str, &str)]) -> Rig {
    let mock = MockOpenAi::start();
    let sessions = TempDir::new("traces-routes");
    let base_url = mock.base_url();
    let session_dir = sessions.path().display().to_string();
    let mut vars = vec![
        CONSOLE,
        ("OPENAI_BASE_URL", base_url.as_str()),
        ("OPENAI_API_KEY", "sk-test"),
        ("SESSION_DIR", session_dir.as_str()),
        ("AGENT_NAME", "routed"),
    ];
    vars.extend_from_slice(env);
    let bin = Binary::start(&vars);
    Rig {
        mock,
        bin,
        _sessions: sessions,
    }
}

fn servers(spans: &[Value]) -> Vec<&Value> {
    spans.iter().filter(|s| s["kind"] == "SpanKind.SERVER").collect()
}

/// The `invoke_agent` span whose parent is `server`.
fn agent_under<'a>(spans: &'a [Value], server: &Value) -> &'a Value {
    let parent = span_id(server);
    spans
        .iter()
        .find(|s| {
            s["name"] == "invoke_agent routed"
                && s["parent_id"].as_str().is_some_and(|p| id(&json!(p)) == parent)
        })
        .unwrap_or_else(|| panic!("no invoke_agent under {server}: {spans:#?}"))
}

/// Waits until `n` server spans are printed.
fn wait_servers(bin: &Binary, n: usize) -> Vec<Value> {
    wait_spans(bin, n)
}

#[test]
fn mcp_tools_call_joins_the_callers_trace_from_headers_or_meta() {
    let rig = rig(&[("PROTOCOL", "mcp")]);
    rig.mock.set_default(Reply::text("Traced."));
    let (meta_trace, meta_span) = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331");
    let out = Command::new(peer_python())
        .arg(repo_root().join("tests/peers/mcp_traced_client.py"))
        .args([
            &format!("http://{}/mcp", rig.bin.addr),
            &traceparent(),
            meta_trace,
            meta_span,
        ])
        .output()
        .expect("run the client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        results["header_call"]["content"][0]["text"], "Traced.\n",
        "{results}"
    );
    assert_eq!(results["meta_call"]["isError"], false, "{results}");

    // initialize, notifications/initialized, two tools/call: one server span each.
    let spans = wait_servers(&rig.bin, 4);
    let calls: Vec<&Value> = servers(&spans)
        .into_iter()
        .filter(|s| s["attributes"]["rpc.method"] == "tools/call")
        .collect();
    assert_eq!(calls.len(), 2, "{spans:#?}");
    for call in &calls {
        assert_eq!(call["name"], "POST /mcp");
        assert_eq!(call["scope"], "agentcore_rt.http");
        let a = &call["attributes"];
        assert_eq!(a["http.route"], "/mcp");
        assert_eq!(a["http.response.status_code"], 200);
        assert_eq!(a["rpc.system.name"], "jsonrpc");
        assert_eq!(a["jsonrpc.protocol.version"], "2.0");
        assert!(a["jsonrpc.request.id"].is_string(), "{call}");
        assert!(a.get("rpc.response.status_code").is_none(), "{call}");
        assert_eq!(call["status"]["status_code"], "UNSET");
    }
    let by_trace = |trace: &str| {
        *calls
            .iter()
            .find(|s| id(&s["context"]["trace_id"]) == trace)
            .unwrap_or_else(|| panic!("no tools/call span in trace {trace}: {calls:#?}"))
    };
    // Without _meta: the header's context.
    let header = by_trace(CALLER_TRACE);
    assert_eq!(id(&header["parent_id"]), CALLER_SPAN);
    let agent = agent_under(&spans, header);
    assert_eq!(id(&agent["context"]["trace_id"]), CALLER_TRACE);
    // With _meta (and the header): _meta wins, as in the MCP SDK's own server span.
    let meta = by_trace(meta_trace);
    assert_eq!(id(&meta["parent_id"]), meta_span);
    let agent = agent_under(&spans, meta);
    assert_eq!(id(&agent["context"]["trace_id"]), meta_trace);
    // The handshake's requests are traced too, under the header's context.
    let init = servers(&spans)
        .into_iter()
        .find(|s| s["attributes"]["rpc.method"] == "initialize")
        .expect("an initialize span");
    assert_eq!(id(&init["context"]["trace_id"]), CALLER_TRACE);
    // Every invoke_agent has a server span for parent: none is a root.
    assert!(
        spans
            .iter()
            .filter(|s| s["name"] == "invoke_agent routed")
            .all(|s| s["parent_id"].is_string()),
        "{spans:#?}"
    );
}

#[test]
fn mcp_json_rpc_errors_are_recorded_on_the_span() {
    let rig = rig(&[("PROTOCOL", "mcp")]);
    let call = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"nope"}}"#;
    let headers = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
        ("traceparent", &traceparent()),
    ];
    let r = request(rig.bin.addr, "POST", "/mcp", &headers, call.as_bytes());
    assert_eq!(r.json()["error"]["code"], -32602, "{}", r.text());
    let r = request(rig.bin.addr, "POST", "/mcp", &headers, b"{not json");
    assert_eq!(r.status, 400);
    let spans = wait_servers(&rig.bin, 2);
    let unknown = servers(&spans)
        .into_iter()
        .find(|s| s["attributes"]["rpc.method"] == "tools/call")
        .expect("the tools/call span");
    assert_eq!(unknown["attributes"]["jsonrpc.request.id"], "7");
    assert_eq!(unknown["attributes"]["rpc.response.status_code"], "-32602");
    assert_eq!(
        unknown["status"]["status_code"], "UNSET",
        "a 200: not an HTTP error"
    );
    let bad = servers(&spans)
        .into_iter()
        .find(|s| s["attributes"]["http.response.status_code"] == 400)
        .expect("the bad JSON's span");
    assert!(bad["attributes"].get("rpc.method").is_none(), "{bad}");
    assert_eq!(id(&bad["parent_id"]), CALLER_SPAN);
}

/// A span that ends no earlier than `inner` (times are ISO 8601 with microseconds: they sort).
fn ends_after(outer: &Value, inner: &Value) -> bool {
    outer["end_time"].as_str().unwrap() >= inner["end_time"].as_str().unwrap()
}

#[test]
fn a_streamed_mcp_call_keeps_its_span_until_the_stream_ends() {
    let rig = rig(&[("PROTOCOL", "mcp")]);
    rig.mock
        .set_default(Reply::text("Streamed answer.").with_delta_chars(4));
    let call = json!({"jsonrpc": "2.0", "id": "s-1", "method": "tools/call", "params": {
        "name": "invoke_agent", "arguments": {"query": "q"}, "_meta": {"progressToken": "p"}}});
    let r = request(
        rig.bin.addr,
        "POST",
        "/mcp",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
            ("traceparent", &traceparent()),
        ],
        call.to_string().as_bytes(),
    );
    assert!(
        r.header("content-type").unwrap().starts_with("text/event-stream"),
        "{}",
        r.text()
    );
    let spans = wait_servers(&rig.bin, 1);
    let server = servers(&spans)[0].clone();
    assert_eq!(server["attributes"]["jsonrpc.request.id"], "s-1");
    assert_eq!(id(&server["parent_id"]), CALLER_SPAN);
    let agent = agent_under(&spans, &server);
    assert!(ends_after(&server, agent), "{server}\n{agent}");
}

#[test]
fn a2a_send_message_joins_the_callers_trace() {
    let rig = rig(&[("PROTOCOL", "a2a")]);
    rig.mock.push(Reply::text("Hello."));
    let body = json!({"jsonrpc": "2.0", "id": "req-1", "method": "SendMessage", "params": {"message": {
        "messageId": "m-1", "role": "ROLE_USER", "parts": [{"text": "Hi"}]}}});
    let r = request(
        rig.bin.addr,
        "POST",
        "/",
        &[
            ("Content-Type", "application/json"),
            ("traceparent", &traceparent()),
            ("tracestate", "congo=t61rcWkgMzE"),
        ],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["result"]["task"]["status"]["state"],
        "TASK_STATE_COMPLETED"
    );
    let spans = wait_servers(&rig.bin, 1);
    let server = servers(&spans)[0].clone();
    assert_eq!(server["name"], "POST /");
    assert_eq!(id(&server["context"]["trace_id"]), CALLER_TRACE);
    assert_eq!(id(&server["parent_id"]), CALLER_SPAN);
    assert_eq!(server["context"]["trace_state"], "congo=t61rcWkgMzE");
    let a = &server["attributes"];
    assert_eq!(a["http.route"], "/");
    assert_eq!(a["http.response.status_code"], 200);
    assert_eq!(a["rpc.system.name"], "jsonrpc");
    assert_eq!(a["rpc.method"], "SendMessage");
    assert_eq!(a["jsonrpc.request.id"], "req-1");
    let agent = agent_under(&spans, &server);
    assert_eq!(id(&agent["context"]["trace_id"]), CALLER_TRACE);
    // The model call went out under the same trace.
    let sent = rig.mock.requests()[0]
        .header("traceparent")
        .expect("a traceparent on the model call")
        .to_string();
    assert!(sent.starts_with(&format!("00-{CALLER_TRACE}-")), "{sent}");

    // A stream's span lasts as long as the stream.
    rig.mock.push(Reply::text("Streamed.").with_delta_chars(3));
    let body = json!({"jsonrpc": "2.0", "id": 2, "method": "SendStreamingMessage", "params": {"message": {
        "messageId": "m-2", "role": "ROLE_USER", "parts": [{"text": "Again"}]}}});
    let r = request(
        rig.bin.addr,
        "POST",
        "/",
        &[
            ("Content-Type", "application/json"),
            ("traceparent", &traceparent()),
        ],
        body.to_string().as_bytes(),
    );
    assert!(r.text().contains("TASK_STATE_COMPLETED"), "{}", r.text());
    let spans = wait_servers(&rig.bin, 2);
    let streamed = servers(&spans)
        .into_iter()
        .find(|s| s["attributes"]["rpc.method"] == "SendStreamingMessage")
        .expect("the stream's span")
        .clone();
    assert_eq!(streamed["attributes"]["jsonrpc.request.id"], "2");
    assert_eq!(streamed["attributes"]["http.response.status_code"], 200);
    let agent = agent_under(&spans, &streamed);
    assert!(ends_after(&streamed, agent), "{streamed}\n{agent}");
}

#[test]
fn refused_requests_get_a_server_span_and_ping_gets_none() {
    let rig = rig(&[
        ("AUTH_BEARER_TOKEN", "s3cret"),
        ("MAX_CONCURRENT_INVOCATIONS", "1"),
        ("MAX_BODY_BYTES", "1024"),
    ]);
    let addr = rig.bin.addr;
    let tp = traceparent();
    for _ in 0..3 {
        assert_eq!(
            request(addr, "GET", "/ping", &[("traceparent", &tp)], b"").status,
            200
        );
    }
    assert_eq!(request(addr, "HEAD", "/ping", &[], b"").status, 200);
    let body = json!({"prompt": "hi"}).to_string();
    let json_type = ("Content-Type", "application/json");
    let r = request(
        addr,
        "POST",
        "/invocations",
        &[json_type, ("traceparent", &tp)],
        body.as_bytes(),
    );
    assert_eq!(r.status, 401);
    let big = vec![b'x'; 4096];
    let auth = ("Authorization", "Bearer s3cret");
    let r = request(addr, "POST", "/invocations", &[json_type, auth], &big);
    assert_eq!(r.status, 413, "{}", r.text());
    // One invocation holds the only slot: the next one is 503.
    let gate = Gate::new();
    rig.mock.set_default(Reply::text("held").after(&gate));
    let held = {
        let body = body.clone();
        std::thread::spawn(move || request(addr, "POST", "/invocations", &[json_type, auth], body.as_bytes()))
    };
    eventually("the held model call", Duration::from_secs(10), || {
        !rig.mock.requests().is_empty()
    });
    let r = request(addr, "POST", "/invocations", &[json_type, auth], body.as_bytes());
    assert_eq!(r.status, 503, "{}", r.text());
    gate.open();
    assert_eq!(held.join().unwrap().status, 200);

    let spans = wait_servers(&rig.bin, 4);
    let status_of = |code: i64| {
        servers(&spans)
            .into_iter()
            .find(|s| s["attributes"]["http.response.status_code"] == code)
            .unwrap_or_else(|| panic!("no server span with {code}: {spans:#?}"))
            .clone()
    };
    let unauthorized = status_of(401);
    assert_eq!(unauthorized["name"], "POST /invocations");
    assert_eq!(unauthorized["attributes"]["http.route"], "/invocations");
    assert_eq!(
        unauthorized["status"]["status_code"], "UNSET",
        "a 4xx is the client's"
    );
    assert_eq!(id(&unauthorized["context"]["trace_id"]), CALLER_TRACE);
    assert_eq!(id(&unauthorized["parent_id"]), CALLER_SPAN);
    let too_large = status_of(413);
    assert_eq!(too_large["status"]["status_code"], "UNSET");
    let saturated = status_of(503);
    assert_eq!(saturated["status"]["status_code"], "ERROR");
    assert_eq!(saturated["attributes"]["error.type"], "503");
    assert!(
        saturated["status"]["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{saturated}"
    );
    let served = status_of(200);
    agent_under(&spans, &served);
    // Four requests reached /invocations: four server spans, and none for /ping.
    std::thread::sleep(Duration::from_millis(200));
    let all = crate::support::spans::spans(&rig.bin);
    assert_eq!(servers(&all).len(), 4, "{all:#?}");
    assert!(
        all.iter()
            .all(|s| s["attributes"]["url.path"] != "/ping" && !s["name"].as_str().unwrap().contains("ping")),
        "{all:#?}"
    );
}

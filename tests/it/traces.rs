//! Traces end to end: the real binary with the console exporter (one JSON line per span on
//! stdout), the mock OpenAI server, and real MCP servers (tests/peers/mcp_server.py over stdio
//! and over Streamable HTTP). The span tree of an invocation with two cycles and one MCP tool
//! call is compared with real Strands 1.62's, recorded by scripts/record/strands_spans.py in
//! tests/fixtures/traces/strands-spans.json.

use std::collections::BTreeSet;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::mock_openai::Reply;
use crate::support::server::request;
use crate::support::spans::{
    CAPTURE, CONSOLE, SESSION, SYSTEM, assert_same_tree, find, id, invoke, recorded, rig, script, span_id,
    spans, stdio_calc, strands_spans, tree, wait_spans,
};
use crate::support::{peer_python, repo_root};

#[test]
fn two_cycles_and_an_mcp_tool_call_make_strands_span_tree() {
    for (variant, opt_in) in [("legacy", ""), ("latest", "gen_ai_latest_experimental")] {
        let rig = rig(
            stdio_calc(),
            &[CONSOLE, CAPTURE, ("OTEL_SEMCONV_STABILITY_OPT_IN", opt_in)],
        );
        script(
            &rig.mock,
            "call_add_1",
            "add",
            json!({"a": 2, "b": 3}),
            "2 + 3 = 5.",
        );
        let answer = invoke(&rig, "What is 2 + 3?", &[]);
        assert_eq!(answer, json!({"response": "2 + 3 = 5.\n"}));
        let spans = wait_spans(&rig.bin, 1);
        assert_same_tree(&tree(&spans), &recorded(variant, "mcp_tool"), variant);

        // Every span is in one trace, under the server span.
        let server = find(&spans, "POST /invocations");
        let trace = &server["context"]["trace_id"];
        assert!(spans.iter().all(|s| &s["context"]["trace_id"] == trace));
        assert_eq!(server["parent_id"], Value::Null);
        assert_eq!(
            find(&spans, "invoke_agent calculator")["parent_id"],
            server["context"]["span_id"]
        );
        assert_eq!(server["scope"], "agentcore_rt.http");
        assert_eq!(server["attributes"]["http.request.method"], "POST");
        assert_eq!(server["attributes"]["http.route"], "/invocations");
        assert_eq!(server["attributes"]["http.response.status_code"], 200);
        assert_eq!(server["status"]["status_code"], "UNSET");
        // X-Ray compatible: the trace id starts with the epoch seconds.
        let secs = u64::from_str_radix(&id(trace)[..8], 16).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(now.abs_diff(secs) < 120, "{secs} vs {now}");
    }
}

#[test]
fn a_failing_tool_and_a_failing_model_end_their_spans_as_strands_does() {
    let rig = rig(stdio_calc(), &[CONSOLE, CAPTURE]);
    script(
        &rig.mock,
        "call_fail_1",
        "fail",
        json!({"msg": "it broke"}),
        "It failed.",
    );
    invoke(&rig, "Try the failing tool.", &[]);
    let spans = wait_spans(&rig.bin, 1);
    assert_same_tree(&tree(&spans), &recorded("legacy", "tool_error"), "tool_error");

    rig.mock.push(Reply::error(400, "bad request from the mock"));
    let body = json!({"query": "Say hello.", "session_id": "spans-session-2"}).to_string();
    let r = request(rig.bin.addr, "POST", "/invocations", &[], body.as_bytes());
    assert_ne!(r.status, 200);
    let spans = wait_spans(&rig.bin, 2);
    let second: Vec<Value> = {
        let server = spans
            .iter()
            .filter(|s| s["kind"] == "SpanKind.SERVER")
            .nth(1)
            .unwrap();
        let trace = &server["context"]["trace_id"];
        spans
            .iter()
            .filter(|s| &s["context"]["trace_id"] == trace)
            .cloned()
            .collect()
    };
    let ours = tree(&second);
    let theirs = strands_spans(&recorded("legacy", "model_error"));
    // The same spans, parents, statuses and events; the error texts are each runtime's own.
    assert_eq!(ours.len(), theirs.len());
    for (o, t) in ours.iter().zip(&theirs) {
        assert_eq!(o["name"], t["name"]);
        assert_eq!(o["parent"], t["parent"]);
        assert_eq!(o["status"], "ERROR");
        assert_eq!(t["status"]["code"], "ERROR");
        let events: Vec<&Value> = t["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["name"])
            .collect();
        assert_eq!(
            o["events"].as_array().unwrap().iter().collect::<Vec<_>>(),
            events,
            "{}",
            t["name"]
        );
    }
    let chat = second.iter().find(|s| s["name"] == "chat").unwrap();
    let exception = chat["events"].as_array().unwrap().last().unwrap();
    assert_eq!(exception["name"], "exception");
    assert_eq!(exception["attributes"]["exception.type"], "ModelProviderError");
    assert!(
        exception["attributes"]["exception.message"]
            .as_str()
            .unwrap()
            .contains("bad request from the mock"),
        "{exception}"
    );
}

#[test]
fn without_content_capture_no_message_content_is_recorded() {
    let rig = rig(
        stdio_calc(),
        &[
            CONSOLE,
            ("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental"),
        ],
    );
    script(
        &rig.mock,
        "call_add_1",
        "add",
        json!({"a": 2, "b": 3}),
        "2 + 3 = 5.",
    );
    invoke(&rig, "What is 2 + 3?", &[]);
    let spans = wait_spans(&rig.bin, 1);
    let text = serde_json::to_string(&spans).unwrap();
    for secret in ["What is 2 + 3?", "2 + 3 = 5.", SYSTEM] {
        assert!(!text.contains(secret), "{secret} recorded: {text}");
    }
    for span in &spans {
        assert_eq!(span["events"], json!([]), "{}", span["name"]);
        for key in [
            "gen_ai.system_instructions",
            "gen_ai.tool.call.arguments",
            "gen_ai.tool.call.result",
        ] {
            assert!(span["attributes"].get(key).is_none(), "{key} on {}", span["name"]);
        }
    }
    assert_eq!(tree(&spans).len(), 6, "agent, two cycles, two chats, one tool");
}

#[test]
fn a_callers_traceparent_is_joined_and_ours_goes_to_the_model() {
    let rig = rig(stdio_calc(), &[CONSOLE]);
    script(&rig.mock, "call_add_1", "add", json!({"a": 2, "b": 3}), "5.");
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{caller_trace}-{caller_span}-01");
    invoke(
        &rig,
        "What is 2 + 3?",
        &[
            ("traceparent", traceparent.as_str()),
            ("tracestate", "congo=t61rcWkgMzE"),
            ("baggage", "userId=alice"),
            (
                "x-amzn-trace-id",
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            ),
        ],
    );
    let spans = wait_spans(&rig.bin, 1);
    assert!(
        spans
            .iter()
            .all(|s| id(&s["context"]["trace_id"]) == caller_trace),
        "traceparent wins"
    );
    let server = find(&spans, "POST /invocations");
    assert_eq!(id(&server["parent_id"]), caller_span);
    assert_eq!(server["context"]["trace_state"], "congo=t61rcWkgMzE");

    // Each model call carries its own chat span's context, tracestate and baggage included.
    let chats: Vec<&Value> = spans.iter().filter(|s| s["name"] == "chat").collect();
    let requests = rig.mock.requests();
    assert_eq!(requests.len(), 2);
    let sent: BTreeSet<String> = requests
        .iter()
        .map(|r| {
            r.header("traceparent")
                .expect("a traceparent on the model call")
                .to_string()
        })
        .collect();
    let expected: BTreeSet<String> = chats
        .iter()
        .map(|c| format!("00-{caller_trace}-{}-01", span_id(c)))
        .collect();
    assert_eq!(sent, expected);
    for r in &requests {
        assert_eq!(r.header("tracestate"), Some("congo=t61rcWkgMzE"));
        assert_eq!(r.header("baggage"), Some("userId=alice"));
        assert_eq!(
            r.header("x-amzn-trace-id"),
            None,
            "X-Ray's header goes to AWS calls only"
        );
    }
}

#[test]
fn an_x_amzn_trace_id_is_honoured_and_an_unsampled_caller_records_nothing() {
    let rig = rig(stdio_calc(), &[CONSOLE]);
    rig.mock.push(Reply::text("Hi."));
    invoke(
        &rig,
        "Hi",
        &[(
            "X-Amzn-Trace-Id",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        )],
    );
    let first = wait_spans(&rig.bin, 1);
    assert!(
        first
            .iter()
            .all(|s| id(&s["context"]["trace_id"]) == "5759e988bd862e3fe1be46a994272793")
    );
    assert_eq!(
        id(&find(&first, "POST /invocations")["parent_id"]),
        "53995c3f42cd8ad8"
    );
    assert_eq!(first.len(), 4, "server, agent, cycle, chat");

    // Parent-based sampling: a caller that did not sample gets no spans, but its trace and our
    // (unsampled) span ids still go out.
    rig.mock.push(Reply::text("Hi again."));
    invoke(
        &rig,
        "Hi",
        &[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        )],
    );
    let last = rig.mock.requests().pop().unwrap();
    let sent = last.header("traceparent").unwrap();
    assert!(sent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{sent}");
    assert!(sent.ends_with("-00"), "{sent}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(spans(&rig.bin).len(), 4, "an unsampled trace records nothing");
}

/// A Streamable HTTP MCP server process (tests/peers/mcp_server.py http-json), killed on drop.
struct HttpMcp(Child, u16);

impl HttpMcp {
    fn start() -> HttpMcp {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(peer_python())
            .args([
                repo_root().join("tests/peers/mcp_server.py").to_str().unwrap(),
                "http-json",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut peer = HttpMcp(child, port);
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(peer.0.try_wait().unwrap().is_none(), "MCP server exited");
            assert!(Instant::now() < deadline, "MCP server did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        peer
    }
}

impl Drop for HttpMcp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn streamable_http_mcp_calls_carry_the_execute_tool_span() {
    let peer = HttpMcp::start();
    let rig = rig(
        json!({"url": format!("http://127.0.0.1:{}/mcp", peer.1), "tool_filters": {"allowed": ["trace_context"]}}),
        &[CONSOLE],
    );
    script(&rig.mock, "call_tc", "trace_context", json!({}), "done");
    invoke(&rig, "Which trace?", &[("baggage", "userId=alice")]);
    let spans = wait_spans(&rig.bin, 1);
    let tool = find(&spans, "execute_tool trace_context");
    let expected = format!("00-{}-{}-01", id(&tool["context"]["trace_id"]), span_id(tool));
    // What the server saw, as the tool result the model got back.
    let requests = rig.mock.requests();
    let messages = requests[1].json.as_ref().unwrap()["messages"]
        .as_array()
        .unwrap()
        .clone();
    let tool_message = messages.iter().find(|m| m["role"] == "tool").unwrap();
    let text = match &tool_message["content"] {
        Value::String(text) => text.clone(),
        blocks => blocks[0]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("{tool_message}"))
            .to_string(),
    };
    let seen: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("tool result: {text}"));
    assert_eq!(seen["headers"]["traceparent"], expected.as_str(), "{seen}");
    assert_eq!(seen["meta"]["traceparent"], expected.as_str(), "{seen}");
}

#[test]
fn tracing_off_sends_and_prints_no_trace() {
    let rig = rig(stdio_calc(), &[]);
    rig.mock.push(Reply::text("Hi."));
    invoke(
        &rig,
        "Hi",
        &[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )],
    );
    let request = &rig.mock.requests()[0];
    for name in ["traceparent", "tracestate", "baggage", "x-amzn-trace-id"] {
        assert_eq!(request.header(name), None, "{name}");
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(spans(&rig.bin).is_empty(), "{}", rig.bin.stdout());
}

#[test]
fn each_websocket_message_gets_a_server_span() {
    let rig = rig(stdio_calc(), &[CONSOLE]);
    rig.mock.push(Reply::text("One."));
    rig.mock.push(Reply::text("Two."));
    let out = crate::support::python_ws_client(
        rig.bin.addr,
        json!([
            {"op": "send", "text": json!({"query": "first", "session_id": SESSION}).to_string()},
            {"op": "recv_until", "types": ["final", "error"]},
            {"op": "send", "text": json!({"query": "second", "session_id": SESSION}).to_string()},
            {"op": "recv_until", "types": ["final", "error"]},
        ]),
        json!({"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}),
    );
    let out = out.to_string();
    assert!(out.contains("One.") && out.contains("Two."), "{out}");
    let spans = wait_spans(&rig.bin, 2);
    let servers: Vec<&Value> = spans.iter().filter(|s| s["kind"] == "SpanKind.SERVER").collect();
    assert_eq!(servers.len(), 2);
    for server in &servers {
        assert_eq!(server["name"], "WS /ws");
        assert_eq!(id(&server["parent_id"]), "00f067aa0ba902b7");
        assert_eq!(server["attributes"]["session.id"], SESSION);
    }
    let agents: Vec<&Value> = spans
        .iter()
        .filter(|s| s["name"] == "invoke_agent calculator")
        .collect();
    assert_eq!(agents.len(), 2);
    let parents: BTreeSet<String> = agents.iter().map(|a| a["parent_id"].to_string()).collect();
    let server_ids: BTreeSet<String> = servers
        .iter()
        .map(|s| s["context"]["span_id"].to_string())
        .collect();
    assert_eq!(parents, server_ids);
}

#[test]
fn ag_ui_runs_are_traced_under_the_server_span() {
    let rig = rig(stdio_calc(), &[CONSOLE, ("PROTOCOL", "agui")]);
    rig.mock.push(Reply::text("Hi."));
    let input = json!({
        "threadId": "thread-1", "runId": "run-1",
        "messages": [{"id": "m1", "role": "user", "content": "Hi"}],
        "tools": [], "context": [], "state": null, "forwardedProps": {}
    });
    let r = request(
        rig.bin.addr,
        "POST",
        "/invocations",
        &[
            ("content-type", "application/json"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ],
        input.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let spans = wait_spans(&rig.bin, 1);
    let server = find(&spans, "POST /invocations");
    assert_eq!(id(&server["parent_id"]), "00f067aa0ba902b7");
    // The thread is the session, on the server span as on the agent's.
    assert_eq!(server["attributes"]["session.id"], "thread-1");
    let agent = find(&spans, "invoke_agent calculator");
    assert_eq!(agent["parent_id"], server["context"]["span_id"]);
    assert_eq!(agent["attributes"]["session.id"], "thread-1");
}

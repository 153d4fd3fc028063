//! Traces end to end: the real binary with the console exporter (one JSON line per span on
//! stdout), the mock OpenAI server, and real MCP servers (tests/peers/mcp_server.py over stdio
//! and over Streamable HTTP). The span tree of an invocation with two cycles and one MCP tool
//! call is compared with real Strands 1.62's, recorded by scripts/record/strands_spans.py in
//! tests/fixtures/traces/strands-spans.json.

use std::collections::{BTreeSet, HashMap};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::mock_openai::{MockOpenAi, Reply};
use crate::support::server::{Binary, request};
use crate::support::{TempDir, fixture_json, peer_python, repo_root};

const SYSTEM: &str = "You are a helpful assistant.";
/// The recording's session id and agent name (`trace_attributes={"session.id": ...}`).
const SESSION: &str = "spans-session-1";
const AGENT_NAME: &str = "calculator";
const STRANDS_SCOPE: &str = "strands.telemetry.tracer";

struct Rig {
    mock: MockOpenAi,
    bin: Binary,
    _config: TempDir,
}

/// The binary with the given MCP server entry (`calc`), tracing per `env`.
fn rig(server: Value, env: &[(&str, &str)]) -> Rig {
    let config = TempDir::new("traces-mcp");
    let path = config.path().join("mcp.json");
    std::fs::write(&path, json!({"mcpServers": {"calc": server}}).to_string()).unwrap();
    let mock = MockOpenAi::start();
    let base_url = mock.base_url();
    let sessions = config.path().join("sessions");
    let sessions = sessions.to_str().unwrap().to_string();
    let mut vars = vec![
        ("OPENAI_BASE_URL", base_url.as_str()),
        ("OPENAI_API_KEY", "sk-test"),
        ("MODEL_ID", "gpt-4o"),
        ("SYSTEM_PROMPT", SYSTEM),
        ("SESSION_DIR", sessions.as_str()),
        ("AGENT_NAME", AGENT_NAME),
        ("MCP_CONFIG", path.to_str().unwrap()),
    ];
    vars.extend_from_slice(env);
    let bin = Binary::start(&vars);
    Rig {
        mock,
        bin,
        _config: config,
    }
}

/// The recording's MCP server: tests/peers/mcp_server.py over stdio, `add` and `fail` only.
fn stdio_calc() -> Value {
    json!({
        "command": peer_python().to_str().unwrap(),
        "args": [repo_root().join("tests/peers/mcp_server.py").to_str().unwrap(), "stdio"],
        "tool_filters": {"allowed": ["add", "fail"]},
        "startup_timeout": 60,
    })
}

pub(crate) const CONSOLE: (&str, &str) = ("OTEL_TRACES_EXPORTER", "console");
const CAPTURE: (&str, &str) = ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true");

/// The model's two turns of the recording, with its usage (the Python mock counts requests:
/// 100 + 10 n prompt tokens, 7 + n completion tokens) and a first byte late enough for a
/// nonzero time to first token.
fn script(mock: &MockOpenAi, call_id: &str, tool: &str, args: Value, answer: &str) {
    let late = Duration::from_millis(5);
    mock.push(
        Reply::tool_call(call_id, tool, args)
            .with_plain_usage(110, 8)
            .delay(late),
    );
    mock.push(Reply::text(answer).with_plain_usage(120, 9).delay(late));
}

fn invoke(rig: &Rig, query: &str, headers: &[(&str, &str)]) -> Value {
    let body = json!({"query": query, "session_id": SESSION}).to_string();
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    let r = request(rig.bin.addr, "POST", "/invocations", &all, body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// The span lines on stdout so far.
pub(crate) fn spans(bin: &Binary) -> Vec<Value> {
    bin.stdout()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("context").is_some() && v.get("kind").is_some())
        .collect()
}

/// Waits for the spans of one invocation: the server span ends last.
pub(crate) fn wait_spans(bin: &Binary, servers: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let all = spans(bin);
        if all.iter().filter(|s| s["kind"] == "SpanKind.SERVER").count() >= servers {
            return all;
        }
        assert!(
            Instant::now() < deadline,
            "no server span; stdout:\n{}",
            bin.stdout()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn id(v: &Value) -> String {
    v.as_str().unwrap().trim_start_matches("0x").to_string()
}

pub(crate) fn span_id(span: &Value) -> String {
    id(&span["context"]["span_id"])
}

pub(crate) fn find<'a>(spans: &'a [Value], name: &str) -> &'a Value {
    spans
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no span {name}: {spans:#?}"))
}

/// Strands' spans in start order, as the fixture writes them: parent as an index into the list.
fn tree(spans: &[Value]) -> Vec<Value> {
    let mut ours: Vec<&Value> = spans.iter().filter(|s| s["scope"] == STRANDS_SCOPE).collect();
    ours.sort_by_key(|s| s["start_time"].as_str().unwrap().to_string());
    let index: HashMap<String, usize> = ours.iter().enumerate().map(|(i, s)| (span_id(s), i)).collect();
    ours.iter()
        .map(|s| {
            let parent = s["parent_id"].as_str().and_then(|p| index.get(&id(&json!(p))).copied());
            json!({
                "name": s["name"],
                "kind": s["kind"].as_str().unwrap().trim_start_matches("SpanKind."),
                "status": s["status"]["status_code"],
                "description": s["status"]["description"],
                "parent": parent,
                "attributes": s["attributes"],
                "events": s["events"].as_array().unwrap().iter().map(|e| e["name"].clone()).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// Compares our tree with the recording's: names, kinds, status, parents, attribute keys (as a
/// set: Strands' dict order is not a contract), the values that do not vary, event names.
fn assert_same_tree(ours: &[Value], recorded: &Value, what: &str) {
    let theirs = strands_spans(recorded);
    let theirs = theirs.as_slice();
    let names = |t: &[Value]| {
        t.iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(ours), names(theirs), "{what}: span names in start order");
    for (i, (o, t)) in ours.iter().zip(theirs).enumerate() {
        let at = format!("{what}: span {i} ({})", t["name"]);
        assert_eq!(o["kind"], t["kind"], "{at}: kind");
        assert_eq!(o["status"], t["status"]["code"], "{at}: status");
        assert_eq!(
            o["description"], t["status"]["description"],
            "{at}: status description"
        );
        assert_eq!(t["scope"], STRANDS_SCOPE, "{at}");
        assert_eq!(o["parent"], t["parent"], "{at}: parent");
        let our_keys: BTreeSet<&str> = o["attributes"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let their_keys: BTreeSet<&str> = t["attribute_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        assert_eq!(our_keys, their_keys, "{at}: attribute keys");
        for (key, value) in t["attributes"].as_object().unwrap() {
            if value
                .as_str()
                .is_some_and(|v| v.starts_with('<') && v.ends_with('>'))
            {
                continue;
            }
            assert_eq!(&o["attributes"][key], value, "{at}: {key}");
        }
        let their_events: Vec<&Value> = t["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["name"])
            .collect();
        let our_events: Vec<&Value> = o["events"].as_array().unwrap().iter().collect();
        assert_eq!(our_events, their_events, "{at}: events");
    }
}

/// The recording's spans of Strands' scope, parents renumbered among them (the `mcp` library's
/// own client span under `execute_tool` is not Strands': our MCP client makes none).
fn strands_spans(recorded: &Value) -> Vec<Value> {
    let all = recorded["spans"].as_array().unwrap();
    let kept: Vec<usize> = (0..all.len())
        .filter(|&i| all[i]["scope"] == STRANDS_SCOPE)
        .collect();
    kept.iter()
        .map(|&i| {
            let mut span = all[i].clone();
            let parent = span["parent"]
                .as_u64()
                .and_then(|p| kept.iter().position(|&k| k as u64 == p));
            span["parent"] = json!(parent);
            span
        })
        .collect()
}

fn recorded(variant: &str, scenario: &str) -> Value {
    let fixture = fixture_json("traces/strands-spans.json");
    let rec = fixture["variants"][variant]["scenarios"][scenario].clone();
    assert!(rec["one_trace"].as_bool().unwrap());
    rec
}

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
    let agent = find(&spans, "invoke_agent calculator");
    assert_eq!(agent["parent_id"], server["context"]["span_id"]);
    assert_eq!(agent["attributes"]["session.id"], "thread-1");
}

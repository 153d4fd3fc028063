//! The span tree of real Strands 1.62 (tests/fixtures/traces/strands-spans.json, recorded by
//! scripts/record/strands_spans.py) and ours, compared whichever way the spans left the binary:
//! the console exporter's lines (tests/it/traces.rs) or OTLP decoded by the official package
//! (tests/it/otel_binary.rs, through [`super::otlp::console_form`]). Also the rig both drive:
//! the binary with the mock OpenAI server and the recording's MCP server.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::mock_openai::{MockOpenAi, Reply};
use super::server::{Binary, request};
use super::{TempDir, fixture_json, peer_python, repo_root};

pub const SYSTEM: &str = "You are a helpful assistant.";
/// The recording's session id and agent name (`trace_attributes={"session.id": ...}`).
pub const SESSION: &str = "spans-session-1";
pub const AGENT_NAME: &str = "calculator";
pub const STRANDS_SCOPE: &str = "strands.telemetry.tracer";

pub struct Rig {
    pub mock: MockOpenAi,
    pub bin: Binary,
    _config: TempDir,
}

/// The binary with the given MCP server entry (`calc`), tracing per `env`.
pub fn rig(server: Value, env: &[(&str, &str)]) -> Rig {
    start_rig(Some(server), env)
}

/// The binary without tools (an invocation is one cycle, one model call), tracing per `env`.
pub fn plain_rig(env: &[(&str, &str)]) -> Rig {
    start_rig(None, env)
}

fn start_rig(server: Option<Value>, env: &[(&str, &str)]) -> Rig {
    let config = TempDir::new("traces-mcp");
    let path = config.path().join("mcp.json");
    if let Some(server) = &server {
        std::fs::write(&path, json!({"mcpServers": {"calc": server}}).to_string()).unwrap();
    }
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
    ];
    if server.is_some() {
        vars.push(("MCP_CONFIG", path.to_str().unwrap()));
    }
    vars.extend_from_slice(env);
    let bin = Binary::start(&vars);
    Rig {
        mock,
        bin,
        _config: config,
    }
}

/// The recording's MCP server: tests/peers/mcp_server.py over stdio, `add` and `fail` only.
pub fn stdio_calc() -> Value {
    json!({
        "command": peer_python().to_str().unwrap(),
        "args": [repo_root().join("tests/peers/mcp_server.py").to_str().unwrap(), "stdio"],
        "tool_filters": {"allowed": ["add", "fail"]},
        "startup_timeout": 60,
    })
}

pub const CONSOLE: (&str, &str) = ("OTEL_TRACES_EXPORTER", "console");
pub const CAPTURE: (&str, &str) = ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true");

/// The model's two turns of the recording, with its usage (the Python mock counts requests:
/// 100 + 10 n prompt tokens, 7 + n completion tokens) and a first byte late enough for a
/// nonzero time to first token.
pub fn script(mock: &MockOpenAi, call_id: &str, tool: &str, args: Value, answer: &str) {
    let late = Duration::from_millis(5);
    mock.push(
        Reply::tool_call(call_id, tool, args)
            .with_plain_usage(110, 8)
            .delay(late),
    );
    mock.push(Reply::text(answer).with_plain_usage(120, 9).delay(late));
}

pub fn invoke(rig: &Rig, query: &str, headers: &[(&str, &str)]) -> Value {
    invoke_in(rig, SESSION, query, headers)
}

/// An invocation in `session`, which must answer 200.
pub fn invoke_in(rig: &Rig, session: &str, query: &str, headers: &[(&str, &str)]) -> Value {
    let body = json!({"query": query, "session_id": session}).to_string();
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    let r = request(rig.bin.addr, "POST", "/invocations", &all, body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

pub fn id(v: &Value) -> String {
    v.as_str().unwrap().trim_start_matches("0x").to_string()
}

pub fn span_id(span: &Value) -> String {
    id(&span["context"]["span_id"])
}

pub fn find<'a>(spans: &'a [Value], name: &str) -> &'a Value {
    spans
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no span {name}: {spans:#?}"))
}

/// Strands' spans in start order, as the fixture writes them: parent as an index into the list.
pub fn tree(spans: &[Value]) -> Vec<Value> {
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
pub fn assert_same_tree(ours: &[Value], recorded: &Value, what: &str) {
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
pub fn strands_spans(recorded: &Value) -> Vec<Value> {
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

pub fn recorded(variant: &str, scenario: &str) -> Value {
    let fixture = fixture_json("traces/strands-spans.json");
    let rec = fixture["variants"][variant]["scenarios"][scenario].clone();
    assert!(rec["one_trace"].as_bool().unwrap());
    rec
}

/// The span lines on stdout so far.
pub fn spans(bin: &Binary) -> Vec<Value> {
    bin.stdout()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("context").is_some() && v.get("kind").is_some())
        .collect()
}

/// Waits for the spans of one invocation: the server span ends last.
pub fn wait_spans(bin: &Binary, servers: usize) -> Vec<Value> {
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

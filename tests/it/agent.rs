//! The agent loop (`agent::Agent`) against Strands 1.62: every recorded scenario replayed turn by
//! turn through `OpenAiModel` and the scripted mock server (request bodies, results and session
//! files must equal the recording), then the loop's own guarantees: concurrent tools in call
//! order, limits, structured-output retries, overflow, max_tokens, errors, locking, cancellation,
//! the session stores behind `SessionStore`, and the default agent built from `AgentConfig`.

use std::collections::{HashMap, HashSet};
use std::error::Error as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use agentcore_rt::agent::{Agent, AgentBuilder, AgentError, AgentEvent, AgentResult, Prompt, StartupError};
use agentcore_rt::app::agent_errors::status_and_type;
use agentcore_rt::config::AgentConfig;
use agentcore_rt::internals::pyjson;
use agentcore_rt::model::openai::{OpenAiConfig, OpenAiModel};
use agentcore_rt::model::{ChatModel, ModelError, ModelRequest, ModelResponse, ModelStreamEvent};
use agentcore_rt::session::{
    AgentSnapshot, FileSessionStore, MemorySessionStore, OpenedSession, SessionError, SessionStore,
    SessionWriter,
};
use agentcore_rt::structured::{OutputSchema, SchemaError, StructuredOutputError};
use agentcore_rt::tools::mcp::{McpConfig, McpConfigError, McpStartError, McpToolProvider};
use agentcore_rt::tools::{Tool, ToolContext, ToolError, ToolProvider, ToolSpec};
use agentcore_rt::types::CancelToken;
use agentcore_rt::types::{ContentBlock, Message, Role, ToolResult, ToolUse};
use serde_json::{Value, json};

use crate::support::mock_openai::{Gate, MockOpenAi, Reply};
use crate::support::strands::*;
use crate::support::{TempDir, peer_python};

const SYSTEM_PROMPT: &str = "You are a helpful assistant.";
const WAIT: Duration = Duration::from_secs(30);

// ---- the Python test tools, in Rust ------------------------------------------------------------

type ToolFn = dyn Fn(&ToolUse, &ToolContext<'_>) -> ToolResult + Send + Sync;

/// A tool with a fixed spec and a closure, for tests.
struct TestTool {
    spec: ToolSpec,
    run: Box<ToolFn>,
}

impl Tool for TestTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn call(&self, tool_use: &ToolUse, ctx: &ToolContext<'_>) -> ToolResult {
        (self.run)(tool_use, ctx)
    }
}

fn test_tool(
    name: &str,
    description: &str,
    schema: Value,
    run: impl Fn(&ToolUse, &ToolContext<'_>) -> ToolResult + Send + Sync + 'static,
) -> Arc<dyn Tool> {
    Arc::new(TestTool {
        spec: ToolSpec {
            name: name.into(),
            description: description.into(),
            input_schema: schema,
        },
        run: Box::new(run),
    })
}

/// Python's `repr` of a JSON value, as pydantic prints `input_value`.
fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{s}'"),
        Value::Array(items) => format!("[{}]", items.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("'{k}': {}", py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "int",
        Value::Number(_) => "float",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// `@tool def add(a: int, b: int) -> int: """Add two integers."""` with pydantic's lax validation
/// and Strands' error text (scenario G).
fn add_tool() -> Arc<dyn Tool> {
    let schema = json!({"properties": {"a": {"description": "first addend", "type": "integer"},
        "b": {"description": "second addend", "type": "integer"}}, "required": ["a", "b"], "type": "object"});
    test_tool("add", "Add two integers.", schema, |call, _| {
        let mut values = Vec::new();
        let mut errors = Vec::new();
        for field in ["a", "b"] {
            match call.input.get(field) {
                None => errors.push((field, "Field required", "missing", &call.input)),
                Some(Value::Number(n)) if n.as_i64().is_some() => values.push(n.as_i64().unwrap()),
                Some(v @ Value::String(s)) => match s.trim().parse::<i64>() {
                    Ok(n) => values.push(n),
                    Err(_) => errors.push((
                        field,
                        "Input should be a valid integer, unable to parse string as an integer",
                        "int_parsing",
                        v,
                    )),
                },
                Some(v) => errors.push((field, "Input should be a valid integer", "int_type", v)),
            }
        }
        if errors.is_empty() {
            return ToolResult::text(&call.tool_use_id, (values[0] + values[1]).to_string());
        }
        let plural = if errors.len() == 1 { "" } else { "s" };
        let mut text = format!(
            "Error: Validation failed for input parameters: {} validation error{plural} for AddTool",
            errors.len()
        );
        for (field, message, kind, value) in errors {
            text.push_str(&format!(
                "\n{field}\n  {message} [type={kind}, input_value={}, input_type={}]\n    For further information visit https://errors.pydantic.dev/2.14/v/{kind}",
                py_repr(value),
                py_type(value)
            ));
        }
        ToolResult::error(&call.tool_use_id, text)
    })
}

/// `@tool def explode(reason: str): raise RuntimeError(f"boom: {reason}")`.
fn explode_tool() -> Arc<dyn Tool> {
    let schema = json!({"properties": {"reason": {"description": "why it fails", "type": "string"}},
        "required": ["reason"], "type": "object"});
    test_tool("explode", "A tool that always fails.", schema, |call, _| {
        let reason = call.input["reason"].as_str().unwrap_or_default();
        ToolResult::error(&call.tool_use_id, format!("Error: RuntimeError - boom: {reason}"))
    })
}

/// `@tool def fetch_doc(name: str) -> str`: a 1091-character document (scenario E).
fn fetch_doc_tool() -> Arc<dyn Tool> {
    let schema = json!({"properties": {"name": {"description": "document name", "type": "string"}},
        "required": ["name"], "type": "object"});
    test_tool(
        "fetch_doc",
        "Fetch a (long) document by name.",
        schema,
        |call, _| {
            let name = call.input["name"].as_str().unwrap_or_default();
            ToolResult::text(
                &call.tool_use_id,
                format!("DOC[{name}] {}", "lorem ipsum dolor sit amet ".repeat(40)),
            )
        },
    )
}

/// Scenario F's MCP tools as Strands listed them (`mcp_tool_specs`), answering as the MCP client
/// does: status first, `structuredContent`, the server's `_meta` as `metadata`, `isError`.
fn recorded_mcp_tools() -> Vec<Arc<dyn Tool>> {
    let specs = vectors()["scenarios"]["F"]["mcp_tool_specs"].as_array().unwrap();
    specs
        .iter()
        .map(|spec| {
            let name = spec["name"].as_str().unwrap().to_string();
            let schema = spec["inputSchema"]["json"].clone();
            test_tool(
                &name.clone(),
                spec["description"].as_str().unwrap(),
                schema,
                move |call, _| {
                    let value = match name.as_str() {
                        "multiply" => {
                            json!(call.input["x"].as_i64().unwrap() * call.input["y"].as_i64().unwrap())
                        }
                        _ => json!(call.input["text"].as_str().unwrap().to_uppercase()),
                    };
                    let mut result = ToolResult::text(&call.tool_use_id, value.to_string());
                    result.status_first = true;
                    result
                        .extra
                        .insert("structuredContent".into(), json!({"result": value}));
                    result.extra.insert(
                        "metadata".into(),
                        json!({"io.modelcontextprotocol/serverInfo": {"name": "calc", "version": ""}}),
                    );
                    result.extra.insert("isError".into(), json!(false));
                    result
                },
            )
        })
        .collect()
}

fn my_output_model() -> OutputSchema {
    OutputSchema::from_json_schema(serde_json::from_str(MY_OUTPUT_MODEL).unwrap()).unwrap()
}

/// Scenario F's MCP server (`mcp_server_source` in the vectors), run with the test-peer venv.
fn calc_mcp_server(dir: &Path) -> McpToolProvider {
    let script = dir.join("calc_server.py");
    fs::write(
        &script,
        vectors()["scenarios"]["F"]["mcp_server_source"].as_str().unwrap(),
    )
    .unwrap();
    let config = json!({"mcpServers": {"calc": {
        "command": peer_python().display().to_string(),
        "args": [script.display().to_string()],
        "startup_timeout": 60,
    }}});
    let config = McpConfig::from_str_with_env(&config.to_string(), &|_| None).unwrap();
    McpToolProvider::start(config).unwrap()
}

// ---- helpers ------------------------------------------------------------------------------------

fn model(mock: &MockOpenAi) -> Arc<OpenAiModel> {
    Arc::new(
        OpenAiModel::new(OpenAiConfig {
            base_url: mock.base_url(),
            api_key: Some("sk-mock".into()),
            connect_timeout: Duration::from_secs(5),
            first_byte_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            total_timeout: Duration::from_secs(120),
            retry_base_delay: Duration::from_millis(5),
            retry_max_delay: Duration::from_millis(50),
            ..OpenAiConfig::default()
        })
        .unwrap(),
    )
}

fn builder(mock: &MockOpenAi) -> AgentBuilder {
    Agent::builder(model(mock)).system_prompt(SYSTEM_PROMPT)
}

/// Runs one invocation, collecting the streamed events as JSON.
fn invoke(
    agent: &Agent,
    sid: &str,
    prompt: impl Into<Prompt>,
) -> (Result<AgentResult, AgentError>, Vec<Value>) {
    invoke_with(agent, sid, prompt.into(), &CancelToken::new(), |_| {})
}

fn invoke_with(
    agent: &Agent,
    sid: &str,
    prompt: Prompt,
    cancel: &CancelToken,
    mut also: impl FnMut(&AgentEvent<'_>),
) -> (Result<AgentResult, AgentError>, Vec<Value>) {
    let mut events = Vec::new();
    let result = agent.invoke(sid, prompt, cancel, &mut |event| {
        also(&event);
        events.push(event.to_json());
    });
    (result, events)
}

fn text_prompt(text: &str) -> Prompt {
    Prompt::Text(text.into())
}

fn bodies(mock: &MockOpenAi) -> Vec<Value> {
    mock.requests().into_iter().map(|r| r.json.unwrap()).collect()
}

/// The first text of every message the model got in request `i`, after the system prompt.
fn request_texts(mock: &MockOpenAi, i: usize) -> Vec<String> {
    bodies(mock)[i]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|m| m["content"][0]["text"].as_str().unwrap().to_string())
        .collect()
}

/// A message file's content (`message_<n>.json`) as stored.
fn stored_message(root: &Path, sid: &str, n: usize) -> Value {
    let path = root.join(format!(
        "session_{sid}/agents/agent_default/messages/message_{n}.json"
    ));
    serde_json::from_str::<Value>(&read(&path)).unwrap()["message"].clone()
}

fn message_count(root: &Path, sid: &str) -> usize {
    let dir = root.join(format!("session_{sid}/agents/agent_default/messages"));
    fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with("message_")
        })
        .count()
}

fn agent_json(root: &Path, sid: &str) -> Value {
    serde_json::from_str(&read(
        &root.join(format!("session_{sid}/agents/agent_default/agent.json")),
    ))
    .unwrap()
}

/// What a new Strands agent would restore from the session (through our store).
fn restored(root: &Path, sid: &str, window: usize) -> Vec<Message> {
    let store = FileSessionStore::new(root);
    let _lock = store.lock(sid, WAIT).unwrap();
    let mut handle = store.open_agent(sid, "default").unwrap();
    let initial = AgentSnapshot::new(
        json!({}),
        agentcore_rt::agent::conversation::SlidingWindow::new(window).state(),
    );
    handle
        .restore(&initial)
        .unwrap()
        .map(|r| r.messages)
        .unwrap_or_default()
}

fn is_uuid4(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
        && &s[14..15] == "4"
}

/// A session file with its timestamps, tracking ids and time-to-first-byte values masked: the
/// parts that differ between any two runs.
fn masked_file(text: &str) -> String {
    let mut out = Vec::new();
    for line in without_timestamps(text).split('\n') {
        if let Some(i) = line.find("\"tracking_id\": \"") {
            let start = i + "\"tracking_id\": \"".len();
            let end = start + line[start..].find('"').unwrap();
            assert!(is_uuid4(&line[start..end]), "tracking id {:?}", &line[start..end]);
            out.push(format!("{}<id>{}", &line[..start], &line[end..]));
        } else if let Some(i) = line.find("\"timeToFirstByteMs\": ") {
            let start = i + "\"timeToFirstByteMs\": ".len();
            let digits = line[start..].chars().take_while(char::is_ascii_digit).count();
            assert!(digits > 0, "{line}");
            out.push(format!("{}<ms>{}", &line[..start], &line[start + digits..]));
        } else {
            out.push(line.to_string());
        }
    }
    out.join("\n")
}

/// A message (as JSON) with its tracking id and time to first byte masked.
fn masked_message(v: &Value) -> String {
    let mut v = recorded(v);
    if let Some(id) = v.get_mut("tracking_id") {
        assert!(is_uuid4(id.as_str().unwrap()), "{id}");
        *id = json!("<id>");
    }
    if let Some(ms) = v.pointer_mut("/metadata/metrics/timeToFirstByteMs") {
        *ms = json!(0);
    }
    pyjson::to_string(&v)
}

fn same(got: &Value, expected: &Value, what: &str) {
    assert_eq!(pyjson::to_string(got), pyjson::to_string(expected), "{what}");
}

// ---- replaying the recorded scenarios ------------------------------------------------------------

/// The agent Strands ran scenario `scenario` with (the bench driver's configuration).
fn scenario_agent(scenario: &str, mock: &MockOpenAi, root: &Path) -> Agent {
    let mut b = builder(mock)
        .window_size(window_size(scenario))
        .session_store(FileSessionStore::new(root));
    match scenario {
        "B" | "D" => b = b.tool(add_tool()),
        "C" | "C2" => b = b.tool(add_tool()).structured_output(my_output_model()),
        "E" => b = b.tool(fetch_doc_tool()),
        "F" => {
            for tool in recorded_mcp_tools() {
                b = b.tool(tool);
            }
        }
        "G" => b = b.tool(explode_tool()).tool(add_tool()),
        _ => {}
    }
    b.build().unwrap()
}

fn prompt_of(query: &Value) -> Prompt {
    match query {
        Value::String(s) => Prompt::Text(s.clone()),
        blocks => Prompt::Blocks(serde_json::from_value(recorded(blocks)).unwrap()),
    }
}

/// Queues the turn's scripted replies. Usage comes from the message Strands stored for each reply;
/// a 500 is queued three times (the client, like the openai SDK, tries three times).
fn script_turn(mock: &MockOpenAi, turn: &Value) {
    let known: HashSet<&str> = turn["messages_restored_on_new_agent"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["tracking_id"].as_str())
        .collect();
    let mut answers = turn["agent_messages_after"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "assistant" && !known.contains(m["tracking_id"].as_str().unwrap()));
    for entry in turn["script"].as_array().unwrap() {
        let reply = Reply::from_script(entry);
        if entry.get("error").is_some() {
            let copies = if entry["error"]["status"] == 500 { 3 } else { 1 };
            for _ in 0..copies {
                mock.push(reply.clone());
            }
            continue;
        }
        mock.push(match answers.next() {
            Some(answer) => {
                let usage = &answer["metadata"]["usage"];
                reply.with_plain_usage(
                    usage["inputTokens"].as_u64().unwrap(),
                    usage["outputTokens"].as_u64().unwrap(),
                )
            }
            None => reply,
        });
    }
}

/// Plays `scenario` as the Python seed does (a new Agent per turn, one session directory) and checks
/// each turn's request bodies and result, and at the end the session files. `adjust_request` maps
/// our request bodies and `adjust_expected` the recorded results (`str_result`,
/// `design_return_value`, `structured_output`) before they are compared.
fn replay(
    scenario: &str,
    root: &Path,
    agent_for: &dyn Fn(&MockOpenAi) -> Agent,
    adjust_request: &dyn Fn(&mut Value),
    adjust_expected: &dyn Fn(&mut Value),
) {
    let mock = MockOpenAi::start();
    let sid = session_id(scenario);
    for (t, turn) in turns(scenario).iter().enumerate() {
        let at = format!("scenario {scenario} turn {t}");
        script_turn(&mock, turn);
        let before = mock.request_count();
        let agent = agent_for(&mock);
        let (result, events) = invoke_with(
            &agent,
            &sid,
            prompt_of(&turn["query"]),
            &CancelToken::new(),
            |_| {},
        );

        let sent = &mock.requests()[before..];
        let recorded_requests = turn["requests"].as_array().unwrap();
        assert_eq!(sent.len(), recorded_requests.len(), "{at}: requests");
        for (i, (wire, expected)) in sent.iter().zip(recorded_requests).enumerate() {
            let mut body = wire.json.clone().unwrap();
            adjust_request(&mut body);
            same(&body, expected, &format!("{at}: request {i}"));
            assert_eq!(wire.header("authorization"), Some("Bearer sk-mock"));
            assert_eq!(wire.header("content-type"), Some("application/json"));
            assert_eq!(
                (wire.method.as_str(), wire.path.as_str()),
                ("POST", "/v1/chat/completions")
            );
        }
        let unused = turn["script"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["text"] == "SHOULD NOT BE REQUESTED")
            .count();
        assert_eq!(mock.pending_replies(), unused, "{at}: replies left");

        if let Some(exception) = turn.get("exception") {
            let error = result.expect_err(&at);
            assert!(
                exception
                    .as_str()
                    .unwrap()
                    .starts_with("InternalServerError: Error code: 500")
            );
            let AgentError::Model(ModelError::Provider {
                status: 500,
                ref message,
                ..
            }) = error
            else {
                panic!("{at}: {error:?}")
            };
            assert_eq!(message, "upstream exploded");
            assert_eq!(status_and_type(&error), (502, "ModelError"));
            assert!(events.is_empty(), "{at}: {events:?}");
            continue;
        }
        let result = result.unwrap_or_else(|e| panic!("{at}: {e}"));
        let mut expected = json!({
            "str_result": turn["str_result"],
            "design_return_value": turn["design_return_value"],
            "structured_output": turn["structured_output"],
        });
        adjust_expected(&mut expected);
        assert_eq!(result.stop_reason, turn["stop_reason"].as_str().unwrap(), "{at}");
        assert_eq!(
            result.text(),
            expected["str_result"].as_str().unwrap(),
            "{at}: str(result)"
        );
        same(
            &result.response_value(),
            &expected["design_return_value"],
            &format!("{at}: return value"),
        );
        same(
            &result.structured_output.clone().unwrap_or(Value::Null),
            &expected["structured_output"],
            &format!("{at}: structured output"),
        );
        assert_eq!(
            masked_message(&serde_json::to_value(&result.message).unwrap()),
            masked_message(&turn["result_message"]),
            "{at}: result message"
        );
        let failed_calls = turn["script"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e.get("error").is_some())
            .count();
        assert_eq!(result.model_calls, sent.len() - failed_calls, "{at}: model calls");
        let usage = &turn["result_message"]["metadata"]["usage"];
        assert!(
            result.usage.input_tokens >= usage["inputTokens"].as_u64().unwrap(),
            "{at}: usage"
        );
        let streamed: String = events
            .iter()
            .filter(|e| e["type"] == "text")
            .map(|e| e["data"].as_str().unwrap())
            .collect();
        let answered: String = turn["agent_messages_after"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "assistant")
            .skip_while(|m| {
                turn["messages_restored_on_new_agent"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["tracking_id"] == m["tracking_id"])
            })
            .flat_map(|m| m["content"].as_array().unwrap())
            .filter_map(|b| b["text"].as_str())
            .collect();
        assert_eq!(streamed, answered, "{at}: streamed text");
    }
    let dir = root.join(format!("session_{sid}"));
    let theirs = files(&fixture(scenario));
    let ours: Vec<String> = files(&dir)
        .into_iter()
        .filter(|p| p != ".agentcore.lock")
        .collect();
    assert_eq!(ours, theirs, "scenario {scenario}: file set");
    for rel in &theirs {
        assert_eq!(
            masked_file(&read(&dir.join(rel))),
            masked_file(&read(&fixture(scenario).join(rel))),
            "scenario {scenario}: {rel}"
        );
    }
    for (rel, (is_dir, mode)) in tree(&dir) {
        assert_eq!(
            mode,
            if is_dir { 0o700 } else { 0o600 },
            "scenario {scenario}: mode of {rel}"
        );
    }
    assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
}

#[test]
fn every_scenario_replays_with_strands_requests_results_and_files() {
    for scenario in SCENARIOS {
        let root = TempDir::new("agent-replay");
        let path = root.path().to_path_buf();
        // C2's `sources` uses pydantic's default_factory, which a JSON schema cannot express: the
        // recorded output has `"sources": []`, ours leaves the key out (the next test states the
        // default in the schema and gets Strands' output exactly).
        let without_default_sources = |expected: &mut Value| {
            if scenario == "C2" {
                expected["str_result"] = json!(
                    expected["str_result"]
                        .as_str()
                        .unwrap()
                        .replace(",\"sources\":[]", "")
                );
                for key in ["design_return_value", "structured_output"] {
                    expected[key].as_object_mut().unwrap().remove("sources");
                }
            }
        };
        replay(
            scenario,
            root.path(),
            &|mock| scenario_agent(scenario, mock, &path),
            &|_| {},
            &without_default_sources,
        );
    }
}

/// Scenario F through a real MCP server (the recorded server source, run by the test-peer venv's
/// mcp 2.3.0) instead of the recorded tool list. The session files are Strands' byte for byte; the
/// tool schemas on the wire differ from the recording only in key order, because mcp 2.3.0 lists
/// `inputSchema` keys in another order than the 2.1.1 Strands ran with.
#[test]
fn scenario_f_through_a_real_mcp_server() {
    let peers = TempDir::new("agent-mcp");
    let mcp = Arc::new(calc_mcp_server(peers.path()));
    let root = TempDir::new("agent-replay-f");
    let path = root.path().to_path_buf();
    let recorded_parameters: Vec<Value> = turns("F")[0]["requests"][0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["parameters"].clone())
        .collect();
    replay(
        "F",
        root.path(),
        &|mock| {
            builder(mock)
                .session_store(FileSessionStore::new(&path))
                .tool_provider(mcp.clone())
                .build()
                .unwrap()
        },
        &|body| {
            for (tool, recorded) in body["tools"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .zip(&recorded_parameters)
            {
                let parameters = &mut tool["function"]["parameters"];
                // Same keys and values (map equality ignores order), then the recorded order.
                assert_eq!(parameters, recorded);
                *parameters = recorded.clone();
            }
        },
        &|_| {},
    );
    mcp.shutdown();
}

/// Scenario C2 with `sources`' default stated in the schema (`"default": []`): the structured
/// output and `str(result)` are then exactly Strands'; the only change on the wire is that default
/// in the output tool's spec.
#[test]
fn scenario_c2_with_the_default_in_the_schema_gives_strands_output_exactly() {
    let mut schema: Value = serde_json::from_str(MY_OUTPUT_MODEL).unwrap();
    schema["properties"]["sources"]["default"] = json!([]);
    let schema = OutputSchema::from_json_schema(schema).unwrap();
    let root = TempDir::new("agent-c2-default");
    let path = root.path().to_path_buf();
    replay(
        "C2",
        root.path(),
        &|mock| {
            builder(mock)
                .session_store(FileSessionStore::new(&path))
                .tool(add_tool())
                .structured_output(schema.clone())
                .build()
                .unwrap()
        },
        &|body| {
            for tool in body["tools"].as_array_mut().unwrap() {
                if let Some(sources) = tool.pointer_mut("/function/parameters/properties/sources") {
                    assert_eq!(
                        sources.as_object_mut().unwrap().remove("default"),
                        Some(json!([]))
                    );
                }
            }
        },
        &|_| {},
    );
}

// ---- tools: concurrency, order, errors ------------------------------------------------------------

/// Holds callers until `n` of them have arrived, so a test can prove calls ran at the same time
/// without sleeping; then lets them finish in a chosen order.
struct Rendezvous {
    state: Mutex<(usize, Vec<i64>)>,
    changed: Condvar,
    n: usize,
}

impl Rendezvous {
    /// Blocks until all `n` callers arrived; false if that did not happen within `WAIT`.
    fn arrive(&self) -> bool {
        let deadline = Instant::now() + WAIT;
        let mut state = self.state.lock().unwrap();
        state.0 += 1;
        self.changed.notify_all();
        while state.0 < self.n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self.changed.wait_timeout(state, left).unwrap().0;
        }
        true
    }

    /// Blocks until the results of every caller with a higher `i` have been reported (seen
    /// as events), so the report order is fixed whatever the thread scheduling.
    fn finish_after_higher(&self, i: i64, highest: i64) {
        let deadline = Instant::now() + WAIT;
        let mut state = self.state.lock().unwrap();
        while ((i + 1)..=highest).any(|j| !state.1.contains(&j)) && Instant::now() < deadline {
            state = self
                .changed
                .wait_timeout(state, Duration::from_millis(100))
                .unwrap()
                .0;
        }
    }

    /// Records that the result of caller `i` was reported.
    fn reported(&self, i: i64) {
        self.state.lock().unwrap().1.push(i);
        self.changed.notify_all();
    }
}

#[test]
fn tool_calls_run_concurrently_and_results_keep_strands_order() {
    let mock = MockOpenAi::start();
    mock.push(Reply::tool_calls(&[
        ("c1", "slow", r#"{"i": 1}"#),
        ("c_bad", "bad name", "{}"),
        ("c2", "slow", r#"{"i": 2}"#),
        ("c_unknown", "nope", "{}"),
        ("c_panic", "panics", "{}"),
        ("c3", "slow", r#"{"i": 3}"#),
    ]));
    mock.push(Reply::text("All done."));
    let rendezvous = Arc::new(Rendezvous {
        state: Mutex::new((0, Vec::new())),
        changed: Condvar::new(),
        n: 3,
    });
    let shared = rendezvous.clone();
    let slow = test_tool(
        "slow",
        "Waits for its siblings.",
        json!({"type": "object"}),
        move |call, ctx| {
            assert_eq!(ctx.session_id, "tools");
            let i = call.input["i"].as_i64().unwrap();
            let together = shared.arrive();
            shared.finish_after_higher(i, 3);
            ToolResult::text(&call.tool_use_id, format!("slow {i} concurrent={together}"))
        },
    );
    let panics = test_tool("panics", "Panics.", json!({"type": "object"}), |_, _| {
        panic!("tool bug")
    });
    let agent = builder(&mock).tool(slow).tool(panics).build().unwrap();
    let (result, events) = invoke_with(&agent, "tools", "Go.".into(), &CancelToken::new(), |event| {
        if let AgentEvent::ToolResult { result, .. } = event
            && let Some(i) = result.tool_use_id.strip_prefix('c').and_then(|i| i.parse().ok())
        {
            rendezvous.reported(i);
        }
    });
    assert_eq!(result.unwrap().text(), "All done.\n");

    let calls: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "tool_use")
        .map(|e| e["tool_use_id"].as_str().unwrap())
        .collect();
    assert_eq!(calls, ["c1", "c_bad", "c2", "c_unknown", "c_panic", "c3"]);
    let finished: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "tool_result")
        .map(|e| e["tool_use_id"].as_str().unwrap())
        .filter(|id| ["c1", "c2", "c3"].contains(id))
        .collect();
    assert_eq!(
        finished,
        ["c3", "c2", "c1"],
        "results are reported as calls finish"
    );
    assert_eq!(
        events
            .iter()
            .position(|e| e["type"] == "tool_result")
            .map(|i| &events[i]["tool_use_id"]),
        Some(&json!("c_bad"))
    );
    assert_eq!(
        events.iter().filter(|e| e["type"] == "tool_use").count()
            + events.iter().filter(|e| e["type"] == "tool_result").count(),
        12
    );

    // The history keeps Strands' order: invalid names first, then every other call in call order.
    let tool_messages: Vec<(String, String)> = bodies(&mock)[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| {
            (
                m["tool_call_id"].as_str().unwrap().into(),
                m["content"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected = [
        ("c_bad", "Error: tool_name=<bad name> | invalid tool name pattern"),
        ("c1", "slow 1 concurrent=true"),
        ("c2", "slow 2 concurrent=true"),
        ("c_unknown", "Unknown tool: nope"),
        ("c_panic", "Error: PanicException - tool panicked"),
        ("c3", "slow 3 concurrent=true"),
    ];
    assert_eq!(
        tool_messages,
        expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    );
    // The invalid name goes back to the model as INVALID_TOOL_NAME, as Strands sends it.
    let requests = bodies(&mock);
    let call_names: Vec<&str> = requests[1]["messages"][2]["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        call_names,
        ["slow", "INVALID_TOOL_NAME", "slow", "nope", "panics", "slow"]
    );
}

#[test]
fn events_of_a_tool_turn() {
    let mock = MockOpenAi::start();
    mock.push(Reply::tool_call("call_add_1", "add", json!({"a": 2, "b": 3})).with_reasoning("Use add."));
    mock.push(Reply::text("2 + 3 = 5."));
    let agent = builder(&mock).tool(add_tool()).build().unwrap();
    let (result, events) = invoke(&agent, "events", "What is 2 + 3?");
    let result = result.unwrap();
    assert_eq!((result.text().as_str(), result.model_calls), ("2 + 3 = 5.\n", 2));
    assert_eq!(
        (
            result.usage.input_tokens,
            result.usage.output_tokens,
            result.usage.total_tokens
        ),
        (20, 10, 30)
    );
    let joined = |kind: &str| -> String {
        events
            .iter()
            .filter(|e| e["type"] == kind)
            .map(|e| e["data"].as_str().unwrap())
            .collect()
    };
    assert_eq!(joined("reasoning"), "Use add.");
    assert_eq!(joined("text"), "2 + 3 = 5.");
    let others: Vec<String> = events
        .iter()
        .filter(|e| e["type"] != "text" && e["type"] != "reasoning")
        .map(pyjson::to_string)
        .collect();
    assert_eq!(
        others,
        [
            r#"{"type": "tool_use", "tool_use_id": "call_add_1", "name": "add", "input": {"a": 2, "b": 3}}"#,
            r#"{"type": "tool_result", "tool_use_id": "call_add_1", "name": "add", "status": "success", "content": [{"text": "5"}]}"#,
        ]
    );
    // Reasoning deltas come first, the tool events after the model call, the text last.
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let first_text = kinds.iter().position(|k| *k == "text").unwrap();
    assert!(kinds[..first_text].iter().all(|k| *k != "text"));
    assert_eq!(kinds[first_text - 1], "tool_result");
    assert_eq!(kinds[0], "reasoning");
}

// ---- limits and stop reasons ----------------------------------------------------------------------

#[test]
fn max_cycles_stops_with_limit_turns_and_a_clean_history() {
    let root = TempDir::new("agent-limit");
    let mock = MockOpenAi::start();
    for i in 0..2 {
        mock.push(Reply::tool_call(
            &format!("call_{i}"),
            "add",
            json!({"a": i, "b": 1}),
        ));
    }
    let agent = builder(&mock)
        .tool(add_tool())
        .max_cycles(Some(2))
        .session_store(FileSessionStore::new(root.path()))
        .build()
        .unwrap();
    let (result, _) = invoke(&agent, "limit", "Keep adding.");
    let result = result.unwrap();
    assert_eq!(result.stop_reason, "limit_turns");
    assert_eq!(result.model_calls, 2);
    assert_eq!(
        result.message.role,
        Role::User,
        "Strands returns the last message of the history"
    );
    assert!(result.message.has_tool_result());
    assert_eq!(result.text(), "");
    assert_eq!(mock.request_count(), 2, "no third model call");
    assert_eq!(message_count(root.path(), "limit"), 5);
    assert_eq!(
        stored_message(root.path(), "limit", 4)["content"][0]["toolResult"]["toolUseId"],
        "call_1"
    );

    // The next invocation continues from a consistent history.
    mock.push(Reply::text("Stopped."));
    let agent = builder(&mock)
        .tool(add_tool())
        .session_store(FileSessionStore::new(root.path()))
        .build()
        .unwrap();
    let (result, _) = invoke(&agent, "limit", "Enough.");
    assert_eq!(result.unwrap().text(), "Stopped.\n");
    let requests = bodies(&mock);
    let roles: Vec<&str> = requests[2]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "tool", "assistant", "tool", "user"]
    );
    assert!(matches!(
        builder(&mock).max_cycles(Some(0)).build(),
        Err(AgentError::InvalidConfig { .. })
    ));
}

#[test]
fn max_tokens_keeps_the_partial_message_without_its_tool_calls() {
    let root = TempDir::new("agent-max-tokens");
    let mock = MockOpenAi::start();
    mock.push(
        Reply::tool_call("call_cut", "add", json!({"a": 1}))
            .map_completion(|c| c.text = Some("Let me add".into()))
            .with_finish("length"),
    );
    let agent = builder(&mock)
        .tool(add_tool())
        .session_store(FileSessionStore::new(root.path()))
        .build()
        .unwrap();
    let (result, events) = invoke(&agent, "cut", "Add.");
    let error = result.unwrap_err();
    assert_eq!(error, AgentError::MaxTokensReached);
    assert_eq!(status_and_type(&error), (500, "MaxTokensReachedException"));
    assert!(
        error
            .to_string()
            .starts_with("Model stopped generating due to maximum token limit.")
    );
    assert!(events.iter().all(|e| e["type"] == "text"), "no tool ran");
    let stored = stored_message(root.path(), "cut", 1);
    assert_eq!(
        stored["content"],
        json!([{"text": "Let me add"},
               {"text": "The selected tool add's tool use was incomplete due to maximum token limits being reached."}])
    );
    assert!(stored["metadata"]["usage"].is_object());
    assert_eq!(message_count(root.path(), "cut"), 2);

    mock.push(Reply::text("Done."));
    let (result, _) = invoke(&agent, "cut", "Go on.");
    assert_eq!(result.unwrap().text(), "Done.\n");
    assert_eq!(
        bodies(&mock)[1]["messages"][2],
        json!({"role": "assistant", "content": [
            {"text": "Let me add", "type": "text"},
            {"text": "The selected tool add's tool use was incomplete due to maximum token limits being reached.", "type": "text"}]})
    );
    assert_eq!(
        message_count(root.path(), "cut"),
        4,
        "no interrupted-results message was needed"
    );
}

// ---- structured output ------------------------------------------------------------------------------

fn so_call(id: &str, input: Value) -> Reply {
    Reply::tool_call(id, "MyOutputModel", input)
}

#[test]
fn structured_output_invalid_then_valid_without_forcing() {
    let mock = MockOpenAi::start();
    mock.push(so_call("so_1", json!({"answer": "Paris"})));
    mock.push(so_call(
        "so_2",
        json!({"answer": "Paris", "confidence": 1, "sources": ["atlas"]}),
    ));
    let agent = builder(&mock)
        .structured_output(my_output_model())
        .build()
        .unwrap();
    let (result, _) = invoke(&agent, "so", "Capital of France?");
    let result = result.unwrap();
    assert_eq!(result.stop_reason, "tool_use");
    assert_eq!(
        result.text(),
        r#"{"answer":"Paris","confidence":1.0,"sources":["atlas"]}"#
    );
    assert_eq!(result.response_value(), result.structured_output.clone().unwrap());
    let requests = bodies(&mock);
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.get("tool_choice").is_none()));
    assert_eq!(
        requests[1]["messages"][3],
        json!({"role": "tool", "tool_call_id": "so_1",
               "content": "Validation failed for MyOutputModel. Please fix the following errors:\n- Field 'confidence': Field required"})
    );
}

#[test]
fn structured_output_attempts_are_capped() {
    let root = TempDir::new("agent-so-cap");
    let mock = MockOpenAi::start();
    for i in 0..3 {
        mock.push(so_call(&format!("so_{i}"), json!({"answer": "Paris"})));
    }
    let agent = builder(&mock)
        .structured_output(my_output_model())
        .structured_output_max_attempts(2)
        .session_store(FileSessionStore::new(root.path()))
        .build()
        .unwrap();
    let (result, _) = invoke(&agent, "so-cap", "Capital of France?");
    let error = result.unwrap_err();
    assert_eq!(status_and_type(&error), (500, "StructuredOutputException"));
    assert_eq!(
        error.to_string(),
        "The model did not produce valid structured output for MyOutputModel in 2 attempts. Last error: \
         Validation failed for MyOutputModel. Please fix the following errors:\n- Field 'confidence': Field required"
    );
    assert!(matches!(
        error
            .source()
            .and_then(|s| s.downcast_ref::<StructuredOutputError>()),
        Some(StructuredOutputError::AttemptsExhausted { attempts: 2, .. })
    ));
    assert_eq!(mock.pending_replies(), 1);
    // The history ends with the error results: consistent, loadable.
    let history = restored(root.path(), "so-cap", 20);
    assert_eq!(history.len(), 5);
    assert!(history[4].has_tool_result());
    assert!(matches!(
        builder(&mock).structured_output_max_attempts(0).build(),
        Err(AgentError::InvalidConfig { .. })
    ));
}

#[test]
fn forced_structured_output_accepts_one_json_object_as_text() {
    let mock = MockOpenAi::start();
    mock.push(Reply::text("It is Paris."));
    mock.push(Reply::text(r#" {"confidence": 0.5, "answer": "Paris"} "#));
    let agent = builder(&mock)
        .structured_output(my_output_model())
        .build()
        .unwrap();
    let (result, _) = invoke(&agent, "forced-json", "Capital of France?");
    let result = result.unwrap();
    assert_eq!(result.stop_reason, "end_turn");
    assert_eq!(result.text(), r#"{"answer":"Paris","confidence":0.5}"#);
    let forced = &bodies(&mock)[1];
    assert_eq!(
        forced["tool_choice"],
        json!({"type": "function", "function": {"name": "MyOutputModel"}})
    );
    assert_eq!(forced["tools"].as_array().unwrap().len(), 1);

    mock.push(Reply::text("It is Paris."));
    mock.push(Reply::text("Paris, with confidence 0.5."));
    let (result, _) = invoke(&agent, "forced-text", "Capital of France?");
    let error = result.unwrap_err();
    assert_eq!(
        error.to_string(),
        "The model did not produce structured output: it neither called the structured output tool nor returned a JSON object."
    );

    mock.push(Reply::text("It is Paris."));
    mock.push(Reply::text(r#"{"answer": "Paris"}"#));
    let (result, _) = invoke(&agent, "forced-invalid", "Capital of France?");
    assert_eq!(
        result.unwrap_err().to_string(),
        "Structured output failed validation for MyOutputModel: confidence: Field required"
    );
}

// ---- errors and recovery ----------------------------------------------------------------------------

#[test]
fn unrecoverable_overflow_is_an_error_and_the_prompt_stays() {
    let root = TempDir::new("agent-overflow");
    let mock = MockOpenAi::start();
    mock.push(Reply::context_overflow());
    let agent = builder(&mock)
        .session_store(FileSessionStore::new(root.path()))
        .build()
        .unwrap();
    let (result, _) = invoke(&agent, "overflow", "A very long question.");
    let error = result.unwrap_err();
    assert!(matches!(error, AgentError::ContextOverflow { .. }), "{error:?}");
    assert_eq!(status_and_type(&error), (500, "ContextWindowOverflowException"));
    assert!(
        error
            .to_string()
            .starts_with("Unable to trim conversation context!")
    );
    assert_eq!(mock.request_count(), 1);
    assert_eq!(message_count(root.path(), "overflow"), 1);
    assert_eq!(
        agent_json(root.path(), "overflow")["conversation_manager_state"]["removed_message_count"],
        0
    );
}

#[test]
fn a_model_error_after_a_tool_cycle_leaves_a_loadable_session() {
    let root = TempDir::new("agent-model-error");
    let mock = MockOpenAi::start();
    mock.push(Reply::tool_call("call_1", "add", json!({"a": 1, "b": 2})));
    mock.push(Reply::error(400, "Invalid 'messages': bad request"));
    let agent = builder(&mock)
        .tool(add_tool())
        .session_store(FileSessionStore::new(root.path()))
        .build()
        .unwrap();
    let (result, _) = invoke(&agent, "err", "Add 1 and 2.");
    let error = result.unwrap_err();
    assert!(
        matches!(error, AgentError::Model(ModelError::Provider { status: 400, .. })),
        "{error:?}"
    );
    assert_eq!(status_and_type(&error).0, 502);
    let history = restored(root.path(), "err", 20);
    assert_eq!(history.len(), 3);
    assert_eq!(
        history[0].content,
        vec![ContentBlock::Text("Add 1 and 2.".into())]
    );
    assert!(history[2].has_tool_result());

    mock.push(Reply::text("3."));
    let (result, _) = invoke(&agent, "err", "Again?");
    assert_eq!(result.unwrap().text(), "3.\n");
    assert_eq!(message_count(root.path(), "err"), 5);
}

#[test]
fn an_interrupted_turn_gets_interrupted_results_before_the_prompt() {
    let root = TempDir::new("agent-interrupted");
    let store = FileSessionStore::new(root.path());
    {
        let _lock = store.lock("intr", WAIT).unwrap();
        let mut handle = store.open_agent("intr", "default").unwrap();
        let window = agentcore_rt::agent::conversation::SlidingWindow::new(20);
        handle
            .restore(&AgentSnapshot::new(json!({}), window.state()))
            .unwrap();
        handle.append_message(&Message::user_text("Add.")).unwrap();
        let call = ToolUse {
            tool_use_id: "dangling".into(),
            name: "add".into(),
            input: json!({"a": 1, "b": 1}),
        };
        handle
            .append_message(&Message::new(Role::Assistant, vec![ContentBlock::ToolUse(call)]))
            .unwrap();
    }
    let mock = MockOpenAi::start();
    mock.push(Reply::text("Sorry."));
    let agent = builder(&mock)
        .tool(add_tool())
        .session_store(store)
        .build()
        .unwrap();
    let (result, _) = invoke(&agent, "intr", "Hello?");
    assert_eq!(result.unwrap().text(), "Sorry.\n");
    let messages = &bodies(&mock)[0]["messages"];
    assert_eq!(
        messages[3],
        json!({"role": "tool", "tool_call_id": "dangling", "content": "Tool was interrupted."})
    );
    assert_eq!(messages[4]["content"][0]["text"], "Hello?");
    let repair = stored_message(root.path(), "intr", 2);
    assert_eq!(
        repair["content"],
        json!([{"toolResult": {"toolUseId": "dangling", "status": "error", "content": [{"text": "Tool was interrupted."}]}}])
    );
    assert!(is_uuid4(repair["tracking_id"].as_str().unwrap()));
}

#[test]
fn bad_input_and_unavailable_tools_fail_before_touching_the_session() {
    let root = TempDir::new("agent-bad-input");
    let mock = MockOpenAi::start();
    let agent = builder(&mock)
        .session_store(FileSessionStore::new(root.path()))
        .build()
        .unwrap();
    for sid in ["a/b", "", "..", "x\ny"] {
        let error = invoke(&agent, sid, "hi").0.unwrap_err();
        assert_eq!(status_and_type(&error), (400, "ValueError"), "{sid:?}: {error}");
    }
    let error = invoke_with(
        &agent,
        "ok",
        Prompt::Blocks(Vec::new()),
        &CancelToken::new(),
        |_| {},
    )
    .0
    .unwrap_err();
    assert_eq!(status_and_type(&error).0, 400);

    struct Failing;
    impl ToolProvider for Failing {
        fn tools_for(&self, _: &str) -> Result<Vec<Arc<dyn Tool>>, ToolError> {
            Err(ToolError::new("calc", "MCP server failed: exited with status 1"))
        }
    }
    let agent = builder(&mock)
        .tool_provider(Arc::new(Failing))
        .session_store(FileSessionStore::new(root.path()))
        .build()
        .unwrap();
    let error = invoke(&agent, "ok", "hi").0.unwrap_err();
    assert_eq!(status_and_type(&error), (503, "ToolProviderException"));
    assert_eq!(
        error.to_string(),
        "tools unavailable: calc: MCP server failed: exited with status 1"
    );
    assert_eq!(mock.request_count(), 0);
    assert_eq!(
        fs::read_dir(root.path()).unwrap().count(),
        0,
        "no session was created"
    );

    assert!(matches!(
        builder(&mock).agent_id("a/b").build(),
        Err(AgentError::InvalidConfig { .. })
    ));
    assert!(matches!(
        builder(&mock).tool(add_tool()).tool(add_tool()).build(),
        Err(AgentError::InvalidConfig { .. })
    ));
}

// ---- sessions: locking, parallelism, memory store ----------------------------------------------------

/// Signals when an invocation asks for its tools: the last step before it takes the session lock.
struct Probe(Mutex<mpsc::Sender<()>>);

impl ToolProvider for Probe {
    fn tools_for(&self, _: &str) -> Result<Vec<Arc<dyn Tool>>, ToolError> {
        let _ = self.0.lock().unwrap().send(());
        Ok(Vec::new())
    }
}

fn with_store(b: AgentBuilder, root: Option<&Path>) -> AgentBuilder {
    match root {
        Some(root) => b.session_store(FileSessionStore::new(root)),
        None => b,
    }
}

fn one_session_from_two_threads(root: Option<&Path>) {
    let mock = MockOpenAi::start();
    let gate = Gate::new();
    mock.push(Reply::text("First answer.").after(&gate));
    mock.push(Reply::text("Second answer."));
    let (entered, entries) = mpsc::channel();
    let agent = Arc::new(
        with_store(builder(&mock), root)
            .tool_provider(Arc::new(Probe(Mutex::new(entered))))
            .build()
            .unwrap(),
    );
    let run = |prompt: &'static str| {
        let agent = agent.clone();
        thread::spawn(move || invoke(&agent, "shared", prompt).0)
    };
    let first = run("First question.");
    entries.recv_timeout(WAIT).unwrap();
    mock.wait_for_requests(1, WAIT);
    // The first invocation holds the session and waits for its model answer.
    let second = run("Second question.");
    entries.recv_timeout(WAIT).unwrap();
    gate.open();
    assert_eq!(first.join().unwrap().unwrap().text(), "First answer.\n");
    assert_eq!(second.join().unwrap().unwrap().text(), "Second answer.\n");

    let texts: Vec<String> = bodies(&mock)[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|m| m["content"][0]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        texts,
        ["First question.", "First answer.", "Second question."],
        "turns ran one after the other"
    );
    if let Some(root) = root {
        assert_eq!(message_count(root, "shared"), 4);
        let stored: Vec<Value> = (0..4)
            .map(|n| stored_message(root, "shared", n)["content"][0]["text"].clone())
            .collect();
        assert_eq!(
            stored,
            [
                "First question.",
                "First answer.",
                "Second question.",
                "Second answer."
            ]
        );
    }
}

#[test]
fn invocations_of_one_session_are_serialised() {
    let root = TempDir::new("agent-serialised");
    one_session_from_two_threads(Some(root.path()));
    one_session_from_two_threads(None);
}

fn two_sessions_in_parallel(root: Option<&Path>) {
    let mock = MockOpenAi::start();
    let gate = Gate::new();
    let held = gate.clone();
    mock.respond_with(move |request| {
        Some(if request.body_text().contains("From A.") {
            Reply::text("A done.").after(&held)
        } else {
            Reply::text("B done.")
        })
    });
    let agent = Arc::new(
        with_store(builder(&mock), root)
            .session_lock_wait(Duration::from_secs(5))
            .build()
            .unwrap(),
    );
    let a = {
        let agent = agent.clone();
        thread::spawn(move || invoke(&agent, "session-a", "From A.").0)
    };
    mock.wait_for_requests(1, WAIT);
    // A is inside its model call, holding its session; B runs to completion meanwhile.
    let (b, _) = invoke(&agent, "session-b", "From B.");
    assert_eq!(b.unwrap().text(), "B done.\n");
    assert!(!a.is_finished());
    gate.open();
    assert_eq!(a.join().unwrap().unwrap().text(), "A done.\n");
}

#[test]
fn different_sessions_do_not_wait_for_each_other() {
    let root = TempDir::new("agent-parallel");
    two_sessions_in_parallel(Some(root.path()));
    two_sessions_in_parallel(None);
}

#[test]
fn a_busy_session_times_out_with_409() {
    let root = TempDir::new("agent-busy");
    let store = FileSessionStore::new(root.path());
    let _held = store.lock("busy", WAIT).unwrap();
    let mock = MockOpenAi::start();
    let agent = builder(&mock)
        .session_store(store.clone())
        .session_lock_wait(Duration::from_millis(50))
        .build()
        .unwrap();
    let error = invoke(&agent, "busy", "hi").0.unwrap_err();
    assert_eq!(status_and_type(&error), (409, "ConcurrencyException"));
    assert_eq!(mock.request_count(), 0);
}

#[test]
fn the_in_memory_store_keeps_history_and_window_per_session() {
    let mock = MockOpenAi::start();
    let agent = builder(&mock).window_size(2).build().unwrap();
    for (prompt, answer) in [("q1", "a1"), ("q2", "a2"), ("q3", "a3")] {
        mock.push(Reply::text(answer));
        assert_eq!(
            invoke(&agent, "mem", prompt).0.unwrap().text(),
            format!("{answer}\n")
        );
    }
    mock.push(Reply::text("other"));
    invoke(&agent, "mem-other", "x").0.unwrap();
    let texts = |i: usize| request_texts(&mock, i);
    assert_eq!(texts(0), ["q1"]);
    assert_eq!(texts(1), ["q1", "a1", "q2"], "turn 1 fits the window of 2");
    assert_eq!(texts(2), ["q2", "a2", "q3"], "turn 2 was trimmed to the window");
    assert_eq!(texts(3), ["x"], "sessions are separate");
}

/// A store that counts what the loop writes through it, kept in a shared memory store.
#[derive(Debug, Default)]
struct CountingStore {
    inner: Arc<MemorySessionStore>,
    appended: Arc<AtomicUsize>,
}

#[derive(Debug)]
struct CountingWriter {
    inner: Box<dyn SessionWriter>,
    appended: Arc<AtomicUsize>,
}

impl SessionStore for CountingStore {
    fn open(
        &self,
        session_id: &str,
        agent_id: &str,
        wait: Duration,
        initial: &AgentSnapshot,
    ) -> Result<OpenedSession, SessionError> {
        let opened = self.inner.open(session_id, agent_id, wait, initial)?;
        Ok(OpenedSession {
            writer: Box::new(CountingWriter {
                inner: opened.writer,
                appended: self.appended.clone(),
            }),
            restored: opened.restored,
        })
    }
}

impl SessionWriter for CountingWriter {
    fn append_message(&mut self, message: &Message) -> Result<(), SessionError> {
        self.appended.fetch_add(1, Ordering::SeqCst);
        self.inner.append_message(message)
    }

    fn sync_agent(&mut self, snapshot: &AgentSnapshot) -> Result<(), SessionError> {
        self.inner.sync_agent(snapshot)
    }
}

#[test]
fn any_session_store_plugs_in_and_a_shared_one_keeps_agents_apart() {
    let mock = MockOpenAi::start();
    let shared = Arc::new(MemorySessionStore::new());
    let store = CountingStore {
        inner: shared.clone(),
        appended: Arc::default(),
    };
    let appended = store.appended.clone();
    let first = builder(&mock).session_store(store).build().unwrap();
    let second = builder(&mock)
        .agent_id("second")
        .session_store(shared.clone())
        .build()
        .unwrap();
    assert!(format!("{first:?}").contains("CountingStore"), "{first:?}");
    for (agent, prompt) in [(&first, "q1"), (&second, "other"), (&first, "q2")] {
        mock.push(Reply::text("ok"));
        invoke(agent, "shared", prompt).0.unwrap();
    }
    assert_eq!(appended.load(Ordering::SeqCst), 4, "two prompts, two replies");
    let texts = |i: usize| request_texts(&mock, i);
    assert_eq!(texts(1), ["other"], "another agent id is another record");
    assert_eq!(texts(2), ["q1", "ok", "q2"]);
    // One session is one lock, whichever agent holds it.
    let held = shared
        .open("shared", "third", WAIT, &AgentSnapshot::new(json!({}), json!({})))
        .unwrap();
    let busy = builder(&mock)
        .session_store(shared.clone())
        .session_lock_wait(Duration::from_millis(20))
        .build()
        .unwrap();
    let error = invoke(&busy, "shared", "hi").0.unwrap_err();
    assert_eq!(status_and_type(&error), (409, "ConcurrencyException"));
    drop(held);
    mock.push(Reply::text("free"));
    assert_eq!(invoke(&busy, "shared", "hi").0.unwrap().text(), "free\n");
}

// ---- cancellation -------------------------------------------------------------------------------

/// A model whose answer arrives whole, after which `cancel` fires: the client left between the
/// model call and the tools.
struct CancelsAfterAnswer {
    inner: Arc<OpenAiModel>,
    cancel: CancelToken,
}

impl ChatModel for CancelsAfterAnswer {
    fn converse(
        &self,
        request: &ModelRequest<'_>,
        cancel: &CancelToken,
        on_event: &mut dyn FnMut(ModelStreamEvent<'_>),
    ) -> Result<ModelResponse, ModelError> {
        let answer = self.inner.converse(request, cancel, on_event);
        self.cancel.cancel();
        answer
    }

    fn model_id(&self) -> &str {
        self.inner.model_id()
    }
}

fn counting_tool(calls: Arc<AtomicUsize>, cancel_on_call: Option<CancelToken>) -> Arc<dyn Tool> {
    test_tool(
        "count",
        "Counts calls.",
        json!({"type": "object"}),
        move |call, ctx| {
            calls.fetch_add(1, Ordering::SeqCst);
            assert!(!ctx.is_cancelled());
            if let Some(flag) = &cancel_on_call {
                flag.cancel();
            }
            ToolResult::text(&call.tool_use_id, "counted")
        },
    )
}

#[test]
fn cancellation_before_the_tools_run_answers_them_as_cancelled() {
    let root = TempDir::new("agent-cancel");
    let mock = MockOpenAi::start();
    mock.push(
        Reply::tool_call("c1", "count", json!({})).map_completion(|c| c.text = Some("Counting.".into())),
    );
    let calls = Arc::new(AtomicUsize::new(0));
    // The client goes away once the model has answered, before its tool call runs. (Leaving
    // while the model streams abandons the model call itself: tests/it/model.rs.)
    let cancel = CancelToken::new();
    let agent = Agent::builder(Arc::new(CancelsAfterAnswer {
        inner: model(&mock),
        cancel: cancel.clone(),
    }))
    .system_prompt(SYSTEM_PROMPT)
    .tool(counting_tool(calls.clone(), None))
    .session_store(FileSessionStore::new(root.path()))
    .build()
    .unwrap();
    let (result, events) = invoke_with(&agent, "cancel", text_prompt("Count."), &cancel, |_| {});
    let error = result.unwrap_err();
    assert_eq!(status_and_type(&error), (503, "CancelledError"));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let last = events.last().unwrap();
    assert_eq!(
        (&last["type"], &last["status"]),
        (&json!("tool_result"), &json!("error"))
    );
    assert_eq!(
        stored_message(root.path(), "cancel", 2)["content"],
        json!([{"toolResult": {"toolUseId": "c1", "status": "error", "content": [{"text": "Tool execution cancelled"}]}}])
    );

    mock.push(Reply::text("Ok."));
    assert_eq!(invoke(&agent, "cancel", "Again.").0.unwrap().text(), "Ok.\n");
    assert_eq!(
        bodies(&mock)[1]["messages"][3],
        json!({"role": "tool", "tool_call_id": "c1", "content": "Tool execution cancelled"})
    );
}

#[test]
fn cancellation_during_tools_stops_before_the_next_model_call() {
    let root = TempDir::new("agent-cancel-tools");
    let mock = MockOpenAi::start();
    mock.push(Reply::tool_call("c1", "count", json!({})));
    mock.push(Reply::text("never asked"));
    let cancel = CancelToken::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let agent = builder(&mock)
        .tool(counting_tool(calls.clone(), Some(cancel.clone())))
        .session_store(FileSessionStore::new(root.path()))
        .build()
        .unwrap();
    let (result, _) = invoke_with(&agent, "cancel2", text_prompt("Count."), &cancel, |_| {});
    assert_eq!(result.unwrap_err(), AgentError::Cancelled);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(mock.request_count(), 1);
    let history = restored(root.path(), "cancel2", 20);
    assert_eq!(history.len(), 3);
    assert_eq!(
        serde_json::to_value(&history[2].content).unwrap(),
        json!([{"toolResult": {"toolUseId": "c1", "status": "success", "content": [{"text": "counted"}]}}])
    );

    // Cancelled before it starts: nothing is written at all.
    let (result, _) = invoke_with(&agent, "never", text_prompt("hi"), &cancel, |_| {});
    assert_eq!(result.unwrap_err(), AgentError::Cancelled);
    assert!(!root.path().join("session_never").exists());
}

#[test]
fn overflow_recovery_saves_the_window_state_before_retrying() {
    let root = TempDir::new("agent-overflow-sync");
    let mock = MockOpenAi::start();
    let agent_file = root.path().join("session_ov/agents/agent_default/agent.json");
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    mock.respond_with(move |_| {
        Some(match count.fetch_add(1, Ordering::SeqCst) {
            0 => Reply::text("a1"),
            1 => Reply::context_overflow(),
            _ => {
                let stored: Value = serde_json::from_str(&fs::read_to_string(&agent_file).unwrap()).unwrap();
                let removed = &stored["conversation_manager_state"]["removed_message_count"];
                Reply::text(&format!("removed={removed}"))
            }
        })
    });
    let agent = builder(&mock)
        .session_store(FileSessionStore::new(root.path()))
        .build()
        .unwrap();
    assert_eq!(invoke(&agent, "ov", "q1").0.unwrap().text(), "a1\n");
    let result = invoke(&agent, "ov", "q2").0.unwrap();
    assert_eq!(
        result.text(),
        "removed=2\n",
        "agent.json held the trimmed window when the retry was sent"
    );
    assert_eq!(result.model_calls, 1);
    let retry = &bodies(&mock)[2]["messages"];
    assert_eq!(
        retry.as_array().unwrap().len(),
        2,
        "system + q2: q1 and a1 were trimmed"
    );
    assert_eq!(restored(root.path(), "ov", 20).len(), 2);
}

// ---- the default agent, from the environment's settings ----------------------------------------

fn agent_config(vars: &[(&str, &str)]) -> AgentConfig {
    let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    AgentConfig::from_env(&|name| vars.get(name).cloned()).unwrap()
}

#[test]
fn from_config_builds_the_binarys_agent_or_none_without_a_model() {
    // OpenAI chosen, nothing to call: no model. (Nothing set at all chooses Bedrock: tests/it/bedrock.rs.)
    assert!(
        Agent::from_config(&agent_config(&[("MODEL_PROVIDER", "openai")]), &|_| None)
            .unwrap()
            .is_none()
    );

    let root = TempDir::new("agent-from-config");
    let mock = MockOpenAi::start();
    let schema = root.path().join("schema.json");
    fs::write(&schema, MY_OUTPUT_MODEL).unwrap();
    let sessions = root.path().join("sessions");
    let base_url = mock.base_url();
    let config = agent_config(&[
        ("OPENAI_BASE_URL", base_url.as_str()),
        ("OPENAI_API_KEY", "sk-mock"),
        ("SESSION_DIR", sessions.to_str().unwrap()),
        ("SYSTEM_PROMPT", SYSTEM_PROMPT),
        ("STRUCTURED_OUTPUT_SCHEMA", schema.to_str().unwrap()),
    ]);
    let agent = Agent::from_config(&config, &|_| None).unwrap().unwrap();
    assert!(format!("{agent:?}").contains("FileSessionStore"), "{agent:?}");
    mock.push(so_call("so_1", json!({"answer": "Paris", "confidence": 1})));
    let result = invoke(&agent, "from-config", "Capital of France?").0.unwrap();
    assert_eq!(
        result.structured_output,
        Some(json!({"answer": "Paris", "confidence": 1.0}))
    );
    let body = &bodies(&mock)[0];
    assert_eq!(body["messages"][0]["content"], SYSTEM_PROMPT);
    assert_eq!(body["tools"][0]["function"]["name"], "MyOutputModel");
    assert_eq!(message_count(&sessions, "from-config"), 3);
}

#[test]
fn from_config_errors_read_as_the_binary_prints_them_and_keep_their_causes() {
    let root = TempDir::new("agent-from-config-errors");
    let mock = MockOpenAi::start();
    let base_url = mock.base_url();
    let sessions = root.path().join("sessions");
    let build = |var: &str, path: &Path| {
        let config = agent_config(&[
            ("OPENAI_BASE_URL", base_url.as_str()),
            ("SESSION_DIR", sessions.to_str().unwrap()),
            (var, path.to_str().unwrap()),
        ]);
        Agent::from_config(&config, &|_| None).unwrap_err()
    };
    let file = |name: &str, text: &str| {
        let path = root.path().join(name);
        fs::write(&path, text).unwrap();
        path
    };

    let missing = root.path().join("missing.json");
    let error = build("STRUCTURED_OUTPUT_SCHEMA", &missing);
    assert!(
        matches!(error, StartupError::SchemaUnreadable { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "invalid STRUCTURED_OUTPUT_SCHEMA={}: No such file or directory (os error 2)",
            missing.display()
        )
    );
    let io = error.source().and_then(|s| s.downcast_ref::<std::io::Error>());
    assert_eq!(io.map(std::io::Error::kind), Some(std::io::ErrorKind::NotFound));

    let path = file("not-json.json", "{\"title\": ");
    let error = build("STRUCTURED_OUTPUT_SCHEMA", &path);
    let prefix = format!(
        "invalid STRUCTURED_OUTPUT_SCHEMA={}: not JSON: EOF while parsing",
        path.display()
    );
    assert!(error.to_string().starts_with(&prefix), "{error}");
    assert!(error.source().is_some_and(|s| s.is::<serde_json::Error>()));

    let path = file("untitled.json", r#"{"type": "object"}"#);
    let error = build("STRUCTURED_OUTPUT_SCHEMA", &path);
    assert_eq!(
        error.to_string(),
        format!(
            "invalid STRUCTURED_OUTPUT_SCHEMA={}: {}",
            path.display(),
            SchemaError::MissingTitle
        )
    );
    assert_eq!(
        error.source().and_then(|s| s.downcast_ref::<SchemaError>()),
        Some(&SchemaError::MissingTitle)
    );

    let path = file("mcp-not-json.json", "{");
    let error = build("MCP_CONFIG", &path);
    let prefix = format!(
        "invalid MCP_CONFIG={}: MCP config is not valid JSON: ",
        path.display()
    );
    assert!(error.to_string().starts_with(&prefix), "{error}");
    assert!(matches!(
        error.source().and_then(|s| s.downcast_ref::<McpConfigError>()),
        Some(McpConfigError::Json { .. })
    ));

    let path = file(
        "mcp-gone.json",
        r#"{"mcpServers": {"gone": {"command": "/nonexistent/mcp-server", "startup_timeout": 5}}}"#,
    );
    let error = build("MCP_CONFIG", &path);
    let prefix = format!(
        "MCP_CONFIG={}: MCP server 'gone' failed to start: ",
        path.display()
    );
    assert!(error.to_string().starts_with(&prefix), "{error}");
    assert!(matches!(
        error.source().and_then(|s| s.downcast_ref::<McpStartError>()),
        Some(McpStartError::ServerFailed { server, .. }) if server == "gone"
    ));
    assert_eq!(mock.request_count(), 0);
}

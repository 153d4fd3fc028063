//! The binary with `MODEL_PROVIDER=bedrock` end to end, against the local Bedrock endpoint
//! (tests/peers/bedrock_endpoint.py: botocore recomputes every SigV4 signature and validates
//! every body against the bedrock-runtime service model, and decodes every frame it sends with
//! its own event-stream parser), with real MCP servers, SSE and `/ws` clients, sessions shared
//! with the OpenAI provider and with real Strands' `BedrockModel`, and request bodies compared
//! with the ones real Strands sends for the same conversation.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::support::bedrock::{ACCESS_KEY, BedrockEndpoint, REGION, SECRET_KEY, strands_bedrock};
use crate::support::mock_openai::{MockOpenAi, Reply};
use crate::support::server::{Binary, post_json};
use crate::support::{TempDir, peer_python, python_ws_client as ws, repo_root};

const SYSTEM: &str = "You are a helpful assistant.";
/// Strands 1.62 `BedrockModel`'s default model id, which the binary uses without `MODEL_ID`.
const DEFAULT_MODEL: &str = "global.anthropic.claude-sonnet-4-6";

struct Rig {
    endpoint: BedrockEndpoint,
    sessions: TempDir,
    bin: Binary,
}

/// The environment of a Bedrock binary talking to `endpoint`.
fn bedrock_env(endpoint: &BedrockEndpoint, session_dir: &str) -> Vec<(String, String)> {
    [
        ("MODEL_PROVIDER", "bedrock"),
        ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", endpoint.url().as_str()),
        ("AWS_REGION", REGION),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("SYSTEM_PROMPT", SYSTEM),
        ("SESSION_DIR", session_dir),
        ("MODEL_RETRY_BASE_DELAY", "10ms"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn start_binary(base: Vec<(String, String)>, extra: &[(&str, &str)]) -> Binary {
    let mut env = base;
    for (k, v) in extra {
        env.retain(|(name, _)| name != k);
        env.push((k.to_string(), v.to_string()));
    }
    let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Binary::start(&refs)
}

impl Rig {
    fn start(extra: &[(&str, &str)]) -> Rig {
        Rig::with_endpoint(BedrockEndpoint::start(), extra)
    }

    fn with_endpoint(endpoint: BedrockEndpoint, extra: &[(&str, &str)]) -> Rig {
        let sessions = TempDir::new("bedrock-sessions");
        let dir = sessions.path().display().to_string();
        let bin = start_binary(bedrock_env(&endpoint, &dir), extra);
        Rig {
            endpoint,
            sessions,
            bin,
        }
    }

    fn invoke(&self, payload: Value) -> crate::support::server::Resp {
        post_json(self.bin.addr, "/invocations", &payload.to_string())
    }

    /// Bodies received for conversations whose last user text is `text`.
    fn bodies_for(&self, text: &str) -> Vec<Value> {
        self.endpoint
            .requests()
            .into_iter()
            .filter(|r| last_user_text(&r["body"]) == text)
            .collect()
    }
}

fn last_user_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
        .filter(|m| m["role"] == "user")
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .find_map(|b| b["text"].as_str().map(str::to_string))
        .unwrap_or_default()
}

fn sse_events(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").expect("data: prefix")).unwrap())
        .collect()
}

fn texts(events: &[Value], kind: &str) -> String {
    events
        .iter()
        .filter(|e| e["type"] == kind)
        .map(|e| e["data"].as_str().unwrap())
        .collect()
}

/// An `MCP_CONFIG` file with our MCP test server (stdio) offering only `echo`.
fn echo_mcp_config(dir: &TempDir) -> PathBuf {
    let path = dir.path().join("mcp.json");
    let server = repo_root().join("tests/peers/mcp_server.py");
    std::fs::write(
        &path,
        json!({"mcpServers": {"peer": {
            "command": peer_python().to_str().unwrap(),
            "args": [server.to_str().unwrap(), "stdio"],
            "tool_filters": {"allowed": ["echo"]}
        }}})
        .to_string(),
    )
    .unwrap();
    path
}

/// The same server as Strands' `MCPClient` starts it.
fn echo_mcp_for_strands() -> Value {
    json!({
        "command": peer_python().to_str().unwrap(),
        "args": [repo_root().join("tests/peers/mcp_server.py").to_str().unwrap(), "stdio"],
        "allowed": ["echo"]
    })
}

#[test]
fn json_sse_and_ws_turns_are_signed_checked_and_answered() {
    let rig = Rig::start(&[]);
    rig.bin.wait_for_log("the provider choice", |l| {
        l["message"] == "model provider bedrock (MODEL_PROVIDER=bedrock)"
    });
    let ready = rig
        .bin
        .wait_for_log("agent ready", |l| l["message"] == "agent ready");
    assert_eq!(ready["provider"], "bedrock");
    assert_eq!(ready["model"], DEFAULT_MODEL);
    assert_eq!(ready["region"], REGION);
    assert_eq!(ready["endpoint"], rig.endpoint.url());
    rig.bin.wait_for_log("the credential probe", |l| {
        l["message"] == "AWS credentials found"
    });

    let r = rig.invoke(json!({"query": "hi", "session_id": "s"}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), r#"{"response": "bedrock says: hi\n"}"#);
    let requests = rig.endpoint.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["operation"], "ConverseStream");
    assert_eq!(requests[0]["modelId"], DEFAULT_MODEL);
    assert_eq!(
        requests[0]["body"],
        json!({
            "messages": [{"content": [{"text": "hi"}], "role": "user"}],
            "system": [{"text": SYSTEM}],
            "inferenceConfig": {}
        })
    );
    assert!(rig.endpoint.frames_checked() >= 6, "botocore decoded the frames");

    // SSE: the text arrives in the endpoint's two deltas, then the final event.
    let r = rig.invoke(json!({"query": "again", "session_id": "s", "stream": true}));
    assert_eq!(r.status, 200);
    let events = sse_events(&r.text());
    assert_eq!(texts(&events, "text"), "bedrock says: again");
    assert!(
        events.iter().filter(|e| e["type"] == "text").count() >= 2,
        "{events:?}"
    );
    let last = events.last().unwrap();
    assert_eq!(last["type"], "final");
    assert_eq!(last["stop_reason"], "end_turn");
    assert_eq!(last["result"], json!({"response": "bedrock says: again\n"}));
    assert_eq!(last["usage"]["inputTokens"], 10);
    let body = &rig.bodies_for("again")[0]["body"];
    assert_eq!(
        body["messages"].as_array().unwrap().len(),
        3,
        "the history went along"
    );
    assert_eq!(body["messages"][1]["content"][0]["text"], "bedrock says: hi");

    // /ws: the same events as text messages.
    let out = ws(
        rig.bin.addr,
        json!([
            {"op": "send", "text": r#"{"query": "over ws"}"#},
            {"op": "recv_until", "types": ["final", "error"]},
            {"op": "close", "code": 1000}
        ]),
        json!({"X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": "s"}),
    );
    let messages = out["results"][1]["messages"].as_array().unwrap().clone();
    assert_eq!(texts(&messages, "text"), "bedrock says: over ws");
    assert_eq!(
        messages.last().unwrap()["result"],
        json!({"response": "bedrock says: over ws\n"})
    );
    assert_eq!(
        crate::support::messages_on_disk(rig.sessions.path(), "s").len(),
        6
    );
}

#[test]
fn a_session_token_is_signed_and_a_wrong_signature_is_refused() {
    let endpoint = BedrockEndpoint::with_env(&[("PEER_AWS_SESSION_TOKEN", "token-123")]);
    let rig = Rig::with_endpoint(endpoint, &[("AWS_SESSION_TOKEN", "token-123")]);
    let r = rig.invoke(json!({"query": "hi"}));
    assert_eq!(r.status, 200, "{}", r.text());
    drop(rig.bin);
    // Without the token the endpoint (botocore) refuses the request.
    let dir = rig.sessions.path().display().to_string();
    let bin = start_binary(bedrock_env(&rig.endpoint, &dir), &[]);
    let r = post_json(bin.addr, "/invocations", r#"{"query": "hi"}"#);
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.text().contains("InvalidSignatureException"), "{}", r.text());
    drop(bin);
    // A wrong secret: a signature botocore does not compute.
    let bin = start_binary(
        bedrock_env(&rig.endpoint, &dir),
        &[
            ("AWS_SESSION_TOKEN", "token-123"),
            ("AWS_SECRET_ACCESS_KEY", "not-the-secret"),
        ],
    );
    let r = post_json(bin.addr, "/invocations", r#"{"query": "hi"}"#);
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.text().contains("signature mismatch"), "{}", r.text());
    assert!(
        !bin.stdout().contains("not-the-secret"),
        "a secret reached the log"
    );
}

#[test]
fn an_mcp_tool_call_in_fragments_and_reasoning() {
    let config = TempDir::new("bedrock-mcp");
    let path = echo_mcp_config(&config);
    let rig = Rig::start(&[("MCP_CONFIG", path.to_str().unwrap())]);
    let r = rig.invoke(json!({"query": "please use the tool", "session_id": "t", "stream": true}));
    assert_eq!(r.status, 200);
    let events = sse_events(&r.text());
    let tool_use = events.iter().find(|e| e["type"] == "tool_use").expect("tool_use");
    assert_eq!(tool_use["name"], "echo");
    assert_eq!(tool_use["tool_use_id"], "tooluse_1");
    assert_eq!(tool_use["input"], json!({"text": "hello"}), "fragments joined");
    let result = events
        .iter()
        .find(|e| e["type"] == "tool_result")
        .expect("tool_result");
    assert_eq!(result["status"], "success");
    let last = events.last().unwrap();
    assert_eq!(
        last["result"],
        json!({"response": "tool said: hello\n"}),
        "{events:?}"
    );
    let bodies = rig.bodies_for("please use the tool");
    assert_eq!(bodies.len(), 2);
    let spec = &bodies[0]["body"]["toolConfig"]["tools"][0]["toolSpec"];
    assert_eq!(spec["name"], "echo");
    assert_eq!(
        bodies[1]["body"]["messages"][2]["content"][0]["toolResult"],
        json!({"content": [{"text": "hello"}], "toolUseId": "tooluse_1", "status": "success"})
    );

    // Reasoning: streamed as reasoning events, stored with its signature, sent back next turn.
    let r = rig.invoke(json!({"query": "reason first", "session_id": "t", "stream": true}));
    let events = sse_events(&r.text());
    assert_eq!(texts(&events, "reasoning"), "thinking...");
    assert_eq!(texts(&events, "text"), "reasoned");
    let stored = crate::support::messages_on_disk(rig.sessions.path(), "t");
    let reasoning = &stored.last().unwrap()["message"]["content"][0]["reasoningContent"];
    assert_eq!(
        reasoning["reasoningText"],
        json!({"text": "thinking...", "signature": "sig-1"})
    );
    let r = rig.invoke(json!({"query": "then?", "session_id": "t"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let body = &rig.bodies_for("then?")[0]["body"];
    let replayed = &body["messages"].as_array().unwrap()[5]["content"][0];
    assert_eq!(
        replayed["reasoningContent"]["reasoningText"]["signature"],
        "sig-1"
    );
}

#[test]
fn bedrock_errors_retry_recover_or_end_the_turn_as_strands_does() {
    let rig = Rig::start(&[]);
    // Throttled once: retried with the backoff.
    let r = rig.invoke(json!({"query": "throttle me", "session_id": "e1"}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(rig.bodies_for("throttle me").len(), 2);
    // Expired once: the credentials are fetched again and the call signed again, once.
    let r = rig.invoke(json!({"query": "expired token", "session_id": "e2"}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(rig.bodies_for("expired token").len(), 2);
    // Denied: a 502 naming the IAM action and the model.
    let r = rig.invoke(json!({"query": "denied", "session_id": "e3"}));
    assert_eq!(r.status, 502, "{}", r.text());
    let error = r.json()["error"].as_str().unwrap().to_string();
    assert!(error.contains("AccessDeniedException"), "{error}");
    assert!(error.contains("bedrock:InvokeModelWithResponseStream"), "{error}");
    assert!(error.contains(DEFAULT_MODEL), "{error}");
    assert_eq!(rig.bodies_for("denied").len(), 1, "not retried");
    // Mid-stream exception: the text so far, then an error event.
    let r = rig.invoke(json!({"query": "midstream", "session_id": "e4", "stream": true}));
    let events = sse_events(&r.text());
    assert!(!texts(&events, "text").is_empty(), "{events:?}");
    let last = events.last().unwrap();
    assert_eq!(last["type"], "error", "{events:?}");
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("modelStreamErrorException"),
        "{last}"
    );
    assert_eq!(
        rig.bodies_for("midstream").len(),
        1,
        "text was delivered: not retried"
    );
    // A corrupt message CRC and a stream without messageStop are errors, never answers.
    let r = rig.invoke(json!({"query": "crc", "session_id": "e5"}));
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.text().to_lowercase().contains("crc"), "{}", r.text());
    let r = rig.invoke(json!({"query": "nostop", "session_id": "e6"}));
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.text().contains("messageStop"), "{}", r.text());
    for session in ["e5", "e6"] {
        let stored = crate::support::messages_on_disk(rig.sessions.path(), session);
        assert!(
            stored.iter().all(|m| m["message"]["role"] == "user"),
            "no half answer stored: {stored:?}"
        );
    }
    // Context overflow: Strands' recovery trims the history and retries; this endpoint
    // overflows whenever the last text says so, so the recovery runs out and says it did.
    for q in ["one", "two", "three"] {
        assert_eq!(rig.invoke(json!({"query": q, "session_id": "ov"})).status, 200);
    }
    let r = rig.invoke(json!({"query": "overflow now", "session_id": "ov", "stream": true}));
    let last = sse_events(&r.text()).pop().unwrap();
    assert_eq!(last["error_type"], "ContextWindowOverflowException", "{last}");
    assert_eq!(last["status"], 500, "{last}");
    let sizes: Vec<usize> = rig
        .bodies_for("overflow now")
        .iter()
        .map(|b| b["body"]["messages"].as_array().unwrap().len())
        .collect();
    assert!(
        sizes.len() >= 2 && sizes.windows(2).all(|w| w[1] < w[0]),
        "{sizes:?}"
    );
}

#[test]
fn converse_without_streaming() {
    let rig = Rig::start(&[("MODEL_STREAM", "false"), ("MODEL_ID", "us.amazon.nova-pro-v1:0")]);
    let r = rig.invoke(json!({"query": "hi", "stream": true}));
    assert_eq!(r.status, 200);
    let events = sse_events(&r.text());
    assert_eq!(texts(&events, "text"), "bedrock says: hi");
    let requests = rig.endpoint.requests();
    assert_eq!(requests[0]["operation"], "Converse");
    assert_eq!(requests[0]["modelId"], "us.amazon.nova-pro-v1:0");
    let r = rig.invoke(json!({"query": "denied"}));
    assert_eq!(r.status, 502);
    let error = r.json()["error"].as_str().unwrap().to_string();
    assert!(
        error.contains("bedrock:InvokeModel ") || error.contains("bedrock:InvokeModel)"),
        "{error}"
    );
    assert!(error.contains("us.amazon.nova-pro-v1:0"), "{error}");
}

#[test]
fn without_credentials_the_server_starts_and_invocations_say_what_was_tried() {
    let endpoint = BedrockEndpoint::start();
    let sessions = TempDir::new("bedrock-nocreds");
    let dir = sessions.path().display().to_string();
    let mut env = bedrock_env(&endpoint, &dir);
    env.retain(|(k, _)| !k.starts_with("AWS_ACCESS") && !k.starts_with("AWS_SECRET"));
    let bin = start_binary(env, &[]);
    bin.wait_for_log("the probe's warning", |l| {
        l["level"] == "WARNING" && l["message"].as_str().unwrap_or("").contains("no AWS credentials")
    });
    let r = post_json(bin.addr, "/invocations", r#"{"query": "hi"}"#);
    assert_eq!(r.status, 503, "{}", r.text());
    let body = r.json();
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("AWS_ACCESS_KEY_ID"),
        "names the providers tried: {error}"
    );
    assert!(
        !error.contains("OPENAI_API_KEY"),
        "Bedrock was chosen explicitly: {error}"
    );
    assert!(endpoint.requests().is_empty(), "nothing unsigned was sent");
}

#[test]
fn a_session_moves_from_openai_to_bedrock_and_back() {
    let endpoint = BedrockEndpoint::start();
    let mock = MockOpenAi::start();
    let sessions = TempDir::new("bedrock-cross");
    let dir = sessions.path().display().to_string();
    let base_url = mock.base_url();
    let openai = || {
        Binary::start(&[
            ("OPENAI_BASE_URL", base_url.as_str()),
            ("OPENAI_API_KEY", "sk-test"),
            ("SYSTEM_PROMPT", SYSTEM),
            ("SESSION_DIR", dir.as_str()),
        ])
    };
    mock.push(Reply::text("from openai"));
    let bin = openai();
    let r = post_json(
        bin.addr,
        "/invocations",
        r#"{"query": "hello openai", "session_id": "x"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    drop(bin);

    let bin = start_binary(bedrock_env(&endpoint, &dir), &[]);
    let r = post_json(
        bin.addr,
        "/invocations",
        r#"{"query": "hi bedrock", "session_id": "x"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["response"], "bedrock says: hi bedrock\n");
    assert_eq!(
        endpoint.requests()[0]["body"]["messages"],
        json!([
            {"content": [{"text": "hello openai"}], "role": "user"},
            {"content": [{"text": "from openai"}], "role": "assistant"},
            {"content": [{"text": "hi bedrock"}], "role": "user"}
        ])
    );
    drop(bin);

    mock.push(Reply::text("openai again"));
    let bin = openai();
    let r = post_json(
        bin.addr,
        "/invocations",
        r#"{"query": "back", "session_id": "x"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = mock.requests().last().unwrap().json.clone().unwrap();
    let messages = sent["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 6, "system + 5: {messages:?}");
    assert_eq!(messages[4]["role"], "assistant");
    assert_eq!(messages[4]["content"][0]["text"], "bedrock says: hi bedrock");
    assert_eq!(crate::support::messages_on_disk(sessions.path(), "x").len(), 6);
}

#[test]
fn a_session_strands_bedrock_model_wrote_loads_and_continues() {
    let endpoint = BedrockEndpoint::start();
    let sessions = TempDir::new("bedrock-strands-session");
    let dir = sessions.path().display().to_string();
    let strands = strands_bedrock(
        &endpoint,
        &json!({
            "model_id": DEFAULT_MODEL, "region": REGION, "system_prompt": SYSTEM,
            "prompts": ["please use the tool"], "mcp": echo_mcp_for_strands(),
            "session_dir": dir, "session_id": "from-strands"
        }),
    );
    assert_eq!(strands["results"], json!(["tool said: hello\n"]));
    let strands_last = endpoint.requests().last().unwrap()["body"].clone();
    endpoint.reset();

    let config = TempDir::new("bedrock-strands-mcp");
    let path = echo_mcp_config(&config);
    let bin = start_binary(
        bedrock_env(&endpoint, &dir),
        &[("MCP_CONFIG", path.to_str().unwrap())],
    );
    let r = post_json(
        bin.addr,
        "/invocations",
        r#"{"query": "and now?", "session_id": "from-strands"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["response"], "bedrock says: and now?\n");
    let ours = endpoint.requests()[0]["body"].clone();
    let messages = ours["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 5);
    // Strands' history goes to Bedrock as Strands itself sent it.
    assert_eq!(
        &messages[..3],
        strands_last["messages"].as_array().unwrap().as_slice()
    );
    assert_eq!(
        messages[3],
        json!({"content": [{"text": "tool said: hello"}], "role": "assistant"})
    );
    assert_eq!(
        crate::support::messages_on_disk(sessions.path(), "from-strands").len(),
        6
    );
}

#[test]
fn request_bodies_equal_what_real_strands_sends() {
    let endpoint = BedrockEndpoint::start();
    let params = json!({"max_tokens": 256, "temperature": 0.3, "stop_sequences": ["END"]});
    let strands = strands_bedrock(
        &endpoint,
        &json!({
            "model_id": DEFAULT_MODEL, "region": REGION, "system_prompt": SYSTEM,
            "prompts": ["please use the tool", "thanks"], "mcp": echo_mcp_for_strands(),
            "params": params
        }),
    );
    assert_eq!(
        strands["results"],
        json!(["tool said: hello\n", "bedrock says: thanks\n"])
    );
    let theirs = endpoint.requests();
    endpoint.reset();

    let config = TempDir::new("bedrock-equal-mcp");
    let path = echo_mcp_config(&config);
    let rig = Rig::with_endpoint(
        endpoint,
        &[
            ("MCP_CONFIG", path.to_str().unwrap()),
            ("MODEL_PARAMS", &params.to_string()),
        ],
    );
    for q in ["please use the tool", "thanks"] {
        let r = rig.invoke(json!({"query": q, "session_id": "same"}));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let ours = rig.endpoint.requests();
    assert_eq!(ours.len(), 3, "tool call, answer after the tool, second turn");
    assert_eq!(theirs.len(), ours.len());
    for (i, (theirs, ours)) in theirs.iter().zip(&ours).enumerate() {
        assert_eq!(theirs["operation"], ours["operation"]);
        assert_eq!(theirs["modelId"], ours["modelId"]);
        assert_eq!(
            theirs["body"], ours["body"],
            "request {i} differs\nStrands: {}\nours:    {}",
            theirs["body"], ours["body"]
        );
        // Key order too: botocore keeps the dict's order on the wire, and so do we. Except
        // inside the tools' JSON schemas, whose order is the MCP client's: Strands' mcp 2.1
        // types put `type` first, ours keeps the server's order; JSON Schema has none.
        assert_eq!(
            sorted_schemas(&theirs["body"]).to_string(),
            sorted_schemas(&ours["body"]).to_string(),
            "request {i}: key order"
        );
    }
}

/// `body` with each tool's input schema re-serialised with sorted keys.
fn sorted_schemas(body: &Value) -> Value {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&map[k]))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let mut body = body.clone();
    if let Some(tools) = body["toolConfig"]["tools"].as_array_mut() {
        for tool in tools {
            let schema = sorted(&tool["toolSpec"]["inputSchema"]["json"]);
            tool["toolSpec"]["inputSchema"]["json"] = schema;
        }
    }
    body
}

/// Traced (console exporter): the Bedrock call carries the `chat` span as `traceparent` and as
/// `X-Amzn-Trace-Id`, unsigned, and botocore still accepts the signature.
#[test]
fn a_traced_call_carries_the_chat_span_and_stays_signed() {
    let rig = Rig::start(&[("OTEL_TRACES_EXPORTER", "console")]);
    let r = rig.invoke(json!({"query": "hello bedrock", "session_id": "traced"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let received = rig.endpoint.requests();
    let headers = &received.last().unwrap()["trace_headers"];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let chat = loop {
        let found = rig.bin.stdout().lines().find_map(|l| {
            let v: Value = serde_json::from_str(l).ok()?;
            (v["name"] == "chat" && v.get("context").is_some()).then_some(v)
        });
        if let Some(chat) = found {
            break chat;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no chat span: {}",
            rig.bin.stdout()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let trace = chat["context"]["trace_id"]
        .as_str()
        .unwrap()
        .trim_start_matches("0x");
    let span = chat["context"]["span_id"]
        .as_str()
        .unwrap()
        .trim_start_matches("0x");
    assert_eq!(
        headers["traceparent"],
        format!("00-{trace}-{span}-01").as_str(),
        "{received:?}"
    );
    assert_eq!(
        headers["x-amzn-trace-id"],
        format!("Root=1-{}-{};Parent={span};Sampled=1", &trace[..8], &trace[8..]).as_str()
    );
}

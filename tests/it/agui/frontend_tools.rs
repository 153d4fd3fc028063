//! Frontend tools (`RunAgentInput.tools`): a call to one ends the run after TOOL_CALL_END
//! (the client runs it), and the next run's `tool` message is the call's result the model
//! sees; compared with ag-ui-strands 1.0.2's StrandsAgent keeping the thread in a Strands
//! FileSessionManager, on the same mock model turns.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::{agui_python, client, collapse, no_problems, rig, types};
use crate::support::mock_openai::{MockOpenAi, RecordedRequest, Reply};
use crate::support::{TempDir, messages_on_disk, node_modules, repo_root};

fn background_tool() -> Value {
    json!({"name": "change_background", "description": "Change the page's background colour",
           "parameters": {"type": "object", "properties": {"color": {"type": "string"}}, "required": ["color"]}})
}

fn run_input(thread: &str, run: &str, messages: Value) -> Value {
    json!({"threadId": thread, "runId": run, "messages": messages,
           "tools": [background_tool()], "context": [], "state": null, "forwardedProps": {}})
}

fn ask(run: &str) -> Value {
    json!({"id": format!("{run}-u"), "role": "user", "content": "Make it blue"})
}

/// The client's copy after it ran the call: the assistant's call and the tool's result.
fn answered(call_id: &str, result: &str) -> Value {
    json!([
        {"id": "a1", "role": "assistant", "content": "Sure.", "toolCalls": [{"id": call_id, "type": "function",
            "function": {"name": "change_background", "arguments": "{\"color\":\"blue\"}"}}]},
        {"id": "tr1", "role": "tool", "toolCallId": call_id, "content": result}
    ])
}

fn then(first: &Value, more: Value) -> Value {
    let mut all = first.as_array().unwrap().clone();
    all.extend(more.as_array().unwrap().iter().cloned());
    Value::Array(all)
}

/// Text and a frontend call, then the answer.
fn script_background(mock: &MockOpenAi) {
    mock.push_all([
        Reply::tool_call("call_bg", "change_background", json!({"color": "blue"}))
            .map_completion(|c| c.text = Some("Sure.".into())),
        Reply::text("The background is blue now."),
    ]);
}

fn agent_state(sessions: &Path, session: &str) -> Value {
    let path = sessions.join(format!("session_{session}/agents/agent_default/agent.json"));
    let record: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    record["state"].clone()
}

/// The messages a model request carried, without the system prompt.
fn conversation(request: &RecordedRequest) -> Vec<Value> {
    request.json.as_ref().unwrap()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] != "system")
        .cloned()
        .collect()
}

fn tool_names(request: &RecordedRequest) -> Vec<String> {
    request.json.as_ref().unwrap()["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .map(|t| t["function"]["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_frontend_tool_call_ends_the_run_and_its_result_continues_the_next() {
    let rig = rig(&[("EVENT_FORMAT", "agui")]);
    script_background(&rig.mock);
    let first = json!([ask("r1")]);
    let out = client(
        "sse",
        &rig,
        &run_input("fe-1", "r1", first.clone()).to_string(),
        json!({}),
    );
    no_problems(&out);
    assert_eq!(
        collapse(&types(&out)),
        [
            "RUN_STARTED",
            "TEXT_MESSAGE_START",
            "TEXT_MESSAGE_CONTENT",
            "TEXT_MESSAGE_END",
            "TOOL_CALL_START",
            "TOOL_CALL_ARGS",
            "TOOL_CALL_END",
            "STATE_SNAPSHOT",
            "RUN_FINISHED"
        ],
        "{out:#}"
    );
    let event = |kind: &str| {
        out["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == kind)
            .unwrap()
            .clone()
    };
    let start = event("TOOL_CALL_START");
    assert_eq!(
        (&start["toolCallId"], &start["toolCallName"]),
        (&json!("call_bg"), &json!("change_background"))
    );
    assert_eq!(event("TOOL_CALL_ARGS")["delta"], r#"{"color":"blue"}"#);
    assert_eq!(event("TOOL_CALL_END")["toolCallId"], "call_bg");
    let requests = rig.mock.requests();
    assert_eq!(requests.len(), 1, "the run ends without asking the model again");
    assert_eq!(tool_names(&requests[0]), ["add", "change_background"]);
    let offered = &requests[0].json.as_ref().unwrap()["tools"][1]["function"];
    assert_eq!(offered["description"], "Change the page's background colour");
    assert_eq!(offered["parameters"]["required"], json!(["color"]));
    // Stored as ag-ui-strands stores it: the call, its placeholder result, the id recorded.
    let stored = messages_on_disk(rig.sessions.path(), "fe-1");
    assert_eq!(stored.len(), 3);
    assert_eq!(
        stored[2]["message"]["content"],
        json!([{"toolResult": {"toolUseId": "call_bg", "status": "success", "content": [{"text": "Forwarded to client"}]}}])
    );
    assert_eq!(
        agent_state(rig.sessions.path(), "fe-1"),
        json!({"__ag_ui_wire_to_native__": ["call_bg"]})
    );

    // The client ran it and sends the result: the model sees it as the call's result.
    let second = then(&first, answered("call_bg", "background set to blue"));
    let out = client(
        "sse",
        &rig,
        &run_input("fe-1", "r2", second).to_string(),
        json!({}),
    );
    no_problems(&out);
    assert_eq!(
        collapse(&types(&out)),
        [
            "RUN_STARTED",
            "TEXT_MESSAGE_START",
            "TEXT_MESSAGE_CONTENT",
            "TEXT_MESSAGE_END",
            "STATE_SNAPSHOT",
            "RUN_FINISHED"
        ]
    );
    let requests = rig.mock.requests();
    let seen = conversation(&requests[1]);
    assert_eq!(seen.len(), 3, "user, call, result: no prompt added {seen:#?}");
    assert_eq!(seen[1]["tool_calls"][0]["id"], "call_bg");
    assert_eq!(
        (&seen[2]["role"], &seen[2]["tool_call_id"], &seen[2]["content"]),
        (
            &json!("tool"),
            &json!("call_bg"),
            &json!("background set to blue")
        ),
        "{seen:#?}"
    );
    let stored = messages_on_disk(rig.sessions.path(), "fe-1");
    assert_eq!(stored.len(), 4);
    assert_eq!(
        stored[2]["message"]["content"][0]["toolResult"]["content"],
        json!([{"text": "background set to blue"}])
    );
    assert_eq!(
        agent_state(rig.sessions.path(), "fe-1"),
        json!({"__ag_ui_wire_to_native__": []})
    );

    // A failure the client reports is stored as an error result.
    script_background(&rig.mock);
    let third = json!([ask("r3")]);
    let out = client(
        "sse",
        &rig,
        &run_input("fe-2", "r3", third.clone()).to_string(),
        json!({}),
    );
    no_problems(&out);
    let mut failed = answered("call_bg", "");
    failed[1]["error"] = json!("the page is read-only");
    let out = client(
        "sse",
        &rig,
        &run_input("fe-2", "r4", then(&third, failed)).to_string(),
        json!({}),
    );
    no_problems(&out);
    let stored = messages_on_disk(rig.sessions.path(), "fe-2");
    assert_eq!(
        stored[2]["message"]["content"][0]["toolResult"],
        json!({"toolUseId": "call_bg", "status": "error", "content": [{"text": ""}]})
    );
}

#[test]
fn ag_ui_clients_http_agent_runs_the_frontend_tool_between_two_runs() {
    let rig = rig(&[("PROTOCOL", "agui")]);
    script_background(&rig.mock);
    let out = Command::new("node")
        .arg(repo_root().join("tests/peers/agui_frontend_tool.mjs"))
        .args([
            &format!("http://{}/invocations", rig.bin.addr),
            "npm-fe",
            &background_tool().to_string(),
            "Make it blue",
            "background set to blue",
        ])
        .env("NODE_PATH", node_modules())
        .current_dir(repo_root().join("tests/peers"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = seen["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "the client found the call to run: {seen:#}");
    for run in runs {
        assert!(run.get("error").is_none(), "HttpAgent failed: {run:#}");
        assert_eq!(run["failures"], json!([]), "{run:#}");
        assert_eq!(
            run["seen"].as_array().unwrap().last().unwrap(),
            "RUN_FINISHED",
            "{run:#}"
        );
    }
    // The client assembled the call from the events, with its arguments and no result.
    assert_eq!(
        seen["calls"],
        json!([{"id": "call_bg", "type": "function",
                "function": {"name": "change_background", "arguments": "{\"color\":\"blue\"}"}}])
    );
    let messages = seen["messages"].as_array().unwrap();
    assert_eq!(
        messages.iter().filter(|m| m["role"] == "tool").count(),
        1,
        "{messages:#?}"
    );
    let last = messages.last().unwrap();
    assert_eq!(
        (&last["role"], &last["content"]),
        (&json!("assistant"), &json!("The background is blue now."))
    );
    // What the client sent back reached the model as the call's result.
    let seen_by_model = conversation(&rig.mock.requests()[1]);
    assert_eq!(
        (
            &seen_by_model.last().unwrap()["tool_call_id"],
            &seen_by_model.last().unwrap()["content"]
        ),
        (&json!("call_bg"), &json!("background set to blue"))
    );
}

#[test]
fn a_frontend_tool_named_like_a_server_tool_is_refused() {
    let rig = rig(&[("EVENT_FORMAT", "agui")]);
    let mut body = run_input("fe-clash", "r1", json!([ask("r1")]));
    body["tools"] = json!([{"name": "add", "description": "the client's own add"}]);
    let out = client("sse", &rig, &body.to_string(), json!({}));
    no_problems(&out);
    assert_eq!(types(&out), ["RUN_STARTED", "RUN_ERROR"], "{out:#}");
    let message = out["events"][1]["message"].as_str().unwrap();
    assert!(
        message.contains("'add'") && message.contains("rename it"),
        "{message}"
    );
    assert!(rig.mock.requests().is_empty(), "the model is never asked");
    // The same over /ws.
    let ws = client("ws", &rig, &body.to_string(), json!({}));
    no_problems(&ws);
    assert_eq!(
        (types(&ws), &ws["close_code"]),
        (
            vec!["RUN_STARTED".to_string(), "RUN_ERROR".to_string()],
            &json!(1000)
        )
    );
    assert!(
        !rig.sessions
            .path()
            .join("session_fe-clash/agents/agent_default/messages/message_0.json")
            .exists(),
        "nothing stored"
    );
    // A schema that is not one is a 400 before the run.
    body["tools"] = json!([{"name": "f", "description": "d", "parameters": "string"}]);
    let out = client("sse", &rig, &body.to_string(), json!({}));
    assert_eq!(out["status"], 400, "{out:#}");
    assert!(
        out["body"].as_str().unwrap().contains("tools.0.parameters"),
        "{out:#}"
    );
}

/// ag-ui-strands' StrandsAgent running `bodies` in turn, each thread in a FileSessionManager
/// under `sessions`: the events of each run.
fn strands_runs(mock: &MockOpenAi, bodies: &[Value], sessions: &Path) -> Vec<Vec<Value>> {
    let mut child = Command::new(agui_python())
        .arg(repo_root().join("tests/peers/agui_strands_reference.py"))
        .arg(mock.base_url())
        .arg(sessions)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(Value::from(bodies.to_vec()).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "ag-ui-strands failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The event types but ag-ui-strands' own additions (MESSAGES_SNAPSHOT, RAW), repeated
/// deltas as one.
fn shape(events: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for kind in events.iter().map(|e| e["type"].as_str().unwrap().to_string()) {
        let repeat = (kind.ends_with("_CONTENT") || kind == "TOOL_CALL_ARGS") && out.last() == Some(&kind);
        if kind != "MESSAGES_SNAPSHOT" && kind != "RAW" && !repeat {
            out.push(kind);
        }
    }
    out
}

/// What identifies the tool calls of a run: (type, id, name, result content), in order.
fn calls(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["type"].as_str().unwrap().starts_with("TOOL_CALL_") && e["type"] != "TOOL_CALL_ARGS")
        .map(|e| json!([e["type"], e["toolCallId"], e["toolCallName"], e["content"]]))
        .collect()
}

/// A stored message as both write it, without tracking ids and timings, and each tool result
/// as its id, status and content (the server's `add` is an MCP tool here, a Python function
/// there, and MCP results carry more).
fn stored_shape(record: &Value) -> Value {
    let mut message = record["message"].clone();
    message.as_object_mut().unwrap().remove("tracking_id");
    message.as_object_mut().unwrap().remove("metadata");
    for block in message["content"].as_array_mut().unwrap() {
        if let Some(result) = block.get_mut("toolResult") {
            *result = json!({"toolUseId": result["toolUseId"], "status": result["status"], "content": result["content"]});
        }
    }
    message
}

#[test]
fn frontend_tool_runs_follow_ag_ui_strands() {
    let rig = rig(&[("EVENT_FORMAT", "agui")]);
    // Thread a: a frontend call, then its result. Thread b: a frontend call beside a server
    // tool's in one turn, then the frontend result. Thread c: the frontend tool returns
    // nothing (said in the prompt, the placeholder left).
    let a1 = json!([ask("a1")]);
    let b1 = json!([ask("b1")]);
    let c1 = json!([ask("c1")]);
    let mixed_answer = json!([
        {"id": "a1", "role": "assistant", "content": "Sure.", "toolCalls": [
            {"id": "call_bg", "type": "function", "function": {"name": "change_background", "arguments": "{\"color\":\"blue\"}"}},
            {"id": "call_add", "type": "function", "function": {"name": "add", "arguments": "{\"a\":2,\"b\":3}"}}]},
        {"id": "tr-add", "role": "tool", "toolCallId": "call_add", "content": "5"},
        {"id": "tr1", "role": "tool", "toolCallId": "call_bg", "content": "background set to blue"}
    ]);
    let bodies = [
        run_input("cmp-a", "a1", a1.clone()),
        run_input(
            "cmp-a",
            "a2",
            then(&a1, answered("call_bg", "background set to blue")),
        ),
        run_input("cmp-b", "b1", b1.clone()),
        run_input("cmp-b", "b2", then(&b1, mixed_answer)),
        run_input("cmp-c", "c1", c1.clone()),
        run_input("cmp-c", "c2", then(&c1, answered("call_bg", ""))),
        // The next user turn after the empty result (its call still recorded).
        run_input(
            "cmp-c",
            "c3",
            then(
                &then(&c1, answered("call_bg", "")),
                json!([{"id": "a2", "role": "assistant", "content": "The background is blue now."},
                       {"id": "c3-u", "role": "user", "content": "Thanks"}]),
            ),
        ),
    ];
    let script = |mock: &MockOpenAi| {
        script_background(mock);
        mock.push_all([
            Reply::tool_calls(&[
                ("call_bg", "change_background", r#"{"color": "blue"}"#),
                ("call_add", "add", r#"{"a": 2, "b": 3}"#),
            ])
            .map_completion(|c| c.text = Some("Sure.".into())),
            Reply::text("Blue, and 2 + 3 = 5."),
        ]);
        script_background(mock);
        mock.push(Reply::text("You're welcome."));
    };
    let theirs_dir = TempDir::new("agui-strands-sessions");
    script(&rig.mock);
    let theirs = strands_runs(&rig.mock, &bodies, theirs_dir.path());
    let their_requests = rig.mock.requests();
    script(&rig.mock);
    let ours: Vec<Vec<Value>> = bodies
        .iter()
        .map(|body| {
            let out = client("sse", &rig, &body.to_string(), json!({}));
            no_problems(&out);
            out["events"].as_array().unwrap().clone()
        })
        .collect();
    let our_requests = rig.mock.requests()[their_requests.len()..].to_vec();

    for (i, (ours, theirs)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(
            shape(ours),
            shape(theirs),
            "run {i}: ours {ours:#?}\ntheirs {theirs:#?}"
        );
        assert_eq!(calls(ours), calls(theirs), "run {i}");
        let finished = |events: &[Value]| events.last().unwrap()["outcome"].clone();
        assert_eq!(finished(ours), finished(theirs), "run {i}");
    }
    assert!(
        shape(&ours[2]).ends_with(&[
            "TOOL_CALL_START".into(),
            "TOOL_CALL_ARGS".into(),
            "TOOL_CALL_START".into(),
            "TOOL_CALL_ARGS".into(),
            "TOOL_CALL_END".into(),
            "TOOL_CALL_RESULT".into(),
            "TOOL_CALL_END".into(),
            "STATE_SNAPSHOT".into(),
            "RUN_FINISHED".into()
        ]),
        "the frontend call's END after the server call's result: {:?}",
        shape(&ours[2])
    );
    // The model saw the same conversations, and was asked as often.
    assert_eq!(our_requests.len(), their_requests.len());
    for (ours, theirs) in our_requests.iter().zip(&their_requests) {
        assert_eq!(conversation(ours), conversation(theirs));
        assert_eq!(tool_names(ours), tool_names(theirs));
    }
    let void = conversation(&our_requests[5]);
    assert_eq!(
        void.last().unwrap()["content"][0]["text"],
        "change_background executed successfully with no return value.",
        "{void:#?}"
    );
    // The empty result's call stays recorded (its placeholder never replaced), so ag-ui-strands
    // says it again before the next user text; so do we.
    let next_turn = conversation(&our_requests[6]);
    assert_eq!(
        next_turn.last().unwrap()["content"][0]["text"],
        "change_background executed successfully with no return value.\nThanks"
    );
    // And the sessions hold the same messages and recorded calls.
    for thread in ["cmp-a", "cmp-b", "cmp-c"] {
        let ours: Vec<Value> = messages_on_disk(rig.sessions.path(), thread)
            .iter()
            .map(stored_shape)
            .collect();
        let theirs: Vec<Value> = messages_on_disk(theirs_dir.path(), thread)
            .iter()
            .map(stored_shape)
            .collect();
        assert_eq!(ours, theirs, "{thread}");
        let key = "__ag_ui_wire_to_native__";
        assert_eq!(
            agent_state(rig.sessions.path(), thread)[key],
            agent_state(theirs_dir.path(), thread)[key],
            "{thread}"
        );
    }
}

//! AG-UI input the agent must never see: what is not JSON, not a `RunAgentInput`, past the
//! limits; answered as bedrock-agentcore's `AGUIApp` answers it (compared with `AGUIApp` itself).

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::{agui_python, client, no_problems, rig, types};
use crate::support::mock_openai::Reply;
use crate::support::repo_root;
use crate::support::server::post_json;

#[test]
fn bad_input_is_a_400_saying_what_is_wrong() {
    let rig = rig(&[("EVENT_FORMAT", "agui"), ("MAX_BODY_BYTES", "4MB")]);
    let a = rig.bin.addr;
    // The limits of /invocations hold: nesting past MAX_JSON_DEPTH, a body past MAX_BODY_BYTES.
    let deep = format!(
        r#"{{"threadId": "t", "runId": "r", "messages": [], "state": {}{}}}"#,
        "[".repeat(300),
        "]".repeat(300)
    );
    let r = post_json(a, "/invocations", &deep);
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, json!("Invalid JSON")),
        "{}",
        r.text()
    );
    // Refused from the announced length, before the body is read.
    let mut c = crate::support::server::Conn::open(a);
    c.send(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n");
    let too_big = c.read_response(false);
    assert_eq!(too_big.status, 413, "{}", too_big.text());
    let not_json = post_json(a, "/invocations", "{\"threadId\": ");
    assert_eq!(not_json.status, 400);
    assert_eq!(not_json.json()["error"], "Invalid JSON");
    for (body, detail) in [
        (json!([1, 2]), "the body must be a JSON object"),
        (json!({"runId": "r", "messages": []}), "threadId: Field required"),
        (
            json!({"threadId": "t", "runId": 7, "messages": []}),
            "runId: Input should be a valid string",
        ),
        (
            json!({"threadId": "t", "runId": "r", "messages": "hi"}),
            "messages: Input should be a valid list",
        ),
        (
            json!({"threadId": "t", "runId": "r", "messages": [{"id": "1", "role": "wizard", "content": "x"}]}),
            "messages.0.role:",
        ),
        (
            json!({"threadId": "t", "runId": "r", "messages": [{"id": "1", "role": "user", "content": [{"type": "text"}]}]}),
            "messages.0.content.0.text: Field required",
        ),
        (
            json!({"threadId": "t", "runId": "r", "messages": [], "tools": [{"name": 1, "description": "d"}]}),
            "tools.0.name",
        ),
        (
            json!({"threadId": "t", "runId": "r", "messages": [{"id": "1", "role": "assistant", "content": "x"}]}),
            "no user message",
        ),
    ] {
        let r = post_json(a, "/invocations", &body.to_string());
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("application/json"));
        let answer = r.json();
        assert_eq!(answer["error"], "Invalid RunAgentInput", "{answer}");
        let details = answer["details"].as_str().unwrap();
        assert!(details.contains(detail), "{body}: {details}");
    }
    assert_eq!(rig.mock.request_count(), 0, "nothing bad reached the model");
    // A long conversation within the body limit: checked whole, answered from its last turn.
    rig.mock.push(Reply::text("still fine"));
    let mut messages: Vec<Value> = (0..20_000)
        .map(|i| json!({"id": format!("m{i}"), "role": if i % 2 == 0 { "user" } else { "assistant" }, "content": format!("turn {i}")}))
        .collect();
    messages.push(json!({"id": "last", "role": "user", "content": "the last question"}));
    let big = json!({"threadId": "big", "runId": "r", "messages": messages});
    let out = client("sse", &rig, &big.to_string(), json!({}));
    no_problems(&out);
    assert_eq!(types(&out).last().unwrap(), "RUN_FINISHED");
    assert_eq!(rig.mock.requests()[0].last_user_text(), Some("the last question"));
}

/// Runs bedrock-agentcore's AGUIApp (tests/peers/agui_reference.py) on the same requests.
fn reference(asks: &Value) -> Value {
    let mut child = Command::new(agui_python())
        .arg(repo_root().join("tests/peers/agui_reference.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(asks.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "AGUIApp reference failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn bad_input_is_answered_as_agui_app_answers_it() {
    let rig = rig(&[("PROTOCOL", "agui")]);
    let bodies = [
        "{",
        "",
        "[1]",
        "\"a string\"",
        r#"{"runId": "r", "messages": []}"#,
        r#"{"threadId": "t", "runId": "r", "messages": [{"id": "1", "role": "wizard", "content": "x"}]}"#,
        r#"{"threadId": "t", "runId": "r", "messages": [{"id": "1", "role": "user"}]}"#,
        r#"{"threadId": ["t"], "runId": "r", "messages": []}"#,
    ];
    let theirs = reference(
        &json!({"http": bodies, "ws": ["{", r#"{"threadId": "t", "runId": "r", "messages": []}"#]}),
    );
    for (body, reference) in bodies.iter().zip(theirs["http"].as_array().unwrap()) {
        let ours = post_json(rig.bin.addr, "/invocations", body);
        let their_body: Value = serde_json::from_str(reference["body"].as_str().unwrap()).unwrap();
        assert_eq!(
            (ours.status, ours.header("content-type"), &ours.json()["error"]),
            (
                reference["status"].as_u64().unwrap() as u16,
                reference["content_type"].as_str(),
                &their_body["error"]
            ),
            "{body:?}: ours {} theirs {}",
            ours.text(),
            reference["body"]
        );
        assert!(
            ours.json()["details"].as_str().is_some_and(|d| !d.is_empty()),
            "{body:?}"
        );
    }
    // /ws: a first message that is not JSON closes 1003 "Invalid JSON" on both; a run's events
    // come one per message, SSE-framed, then a normal close.
    let not_json = client("ws", &rig, "{", json!({}));
    let their_ws = theirs["ws"].as_array().unwrap();
    assert_eq!(
        (&not_json["close_code"], &not_json["close_reason"]),
        (&their_ws[0]["close_code"], &their_ws[0]["close_reason"])
    );
    let their_run = their_ws[1]["events"].as_array().unwrap();
    assert!(
        their_run.iter().all(|m| m
            .as_str()
            .is_some_and(|t| t.starts_with("data: {") && t.ends_with("}\n\n"))),
        "AGUIApp's ws framing: {their_run:?}"
    );
    assert_eq!(their_ws[1]["close_code"], 1000);
}

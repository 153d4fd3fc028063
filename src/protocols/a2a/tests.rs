use serde_json::{Value, json};

use super::*;
use crate::app::{Disconnected, EventSink, EventTransport};

struct Collect(Vec<Value>);

impl EventTransport for Collect {
    fn send_json(&mut self, json: Vec<u8>) -> Result<(), Disconnected> {
        self.0
            .push(serde_json::from_slice(&json).map_err(|_| Disconnected)?);
        Ok(())
    }
}

/// A server whose handler streams the text back in two pieces, or fails on "fail".
fn echo() -> A2aServer {
    A2aServer::new(Card::new("echo", "echoes"), |turn, _cancel, on_delta| {
        if turn.text == "fail" {
            return Err(Error::new("it failed"));
        }
        on_delta("you said: ");
        on_delta(&turn.text);
        Ok(format!("you said: {}", turn.text))
    })
}

fn call(server: &A2aServer, body: Value) -> Value {
    match server.handle(body.to_string().as_bytes(), &RequestContext::default(), 64) {
        Ok(Output::Json(v)) => v,
        _ => panic!("not a JSON answer"),
    }
}

fn send_body(method: &str, text: &str, context: Option<&str>) -> Value {
    let mut message = json!({"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": text}]});
    if let Some(c) = context {
        message["contextId"] = json!(c);
    }
    json!({"jsonrpc": "2.0", "id": "r1", "method": method, "params": {"message": message}})
}

#[test]
fn send_message_runs_the_handler_and_keeps_the_task() {
    let s = echo();
    let answer = call(&s, send_body("SendMessage", "hello", Some("ctx-1")));
    assert_eq!(answer["id"], "r1");
    let task = &answer["result"]["task"];
    assert_eq!(task["status"]["state"], "TASK_STATE_COMPLETED");
    assert_eq!(task["contextId"], "ctx-1");
    assert_eq!(task["artifacts"][0]["parts"][0]["text"], "you said: hello");
    assert_eq!(task["history"][1]["role"], "ROLE_AGENT");
    let id = task["id"].as_str().unwrap();
    let got = call(
        &s,
        json!({"jsonrpc": "2.0", "id": 2, "method": "GetTask", "params": {"id": id, "historyLength": 1}}),
    );
    assert_eq!(got["result"]["id"], id);
    assert_eq!(got["result"]["history"].as_array().map(Vec::len), Some(1));
    let cancel = call(
        &s,
        json!({"jsonrpc": "2.0", "id": 3, "method": "CancelTask", "params": {"id": id}}),
    );
    assert_eq!(cancel["error"]["code"], rpc::TASK_NOT_CANCELABLE);
    let missing = call(
        &s,
        json!({"jsonrpc": "2.0", "id": 4, "method": "GetTask", "params": {"id": "nope"}}),
    );
    assert_eq!(missing["error"]["code"], rpc::TASK_NOT_FOUND);

    let failed = call(&s, send_body("SendMessage", "fail", None));
    let task = &failed["result"]["task"];
    assert_eq!(task["status"]["state"], "TASK_STATE_FAILED");
    assert_eq!(task["status"]["message"]["parts"][0]["text"], "it failed");
    assert!(
        !task["contextId"].as_str().unwrap_or("").is_empty(),
        "a context id is made up"
    );
}

#[test]
fn streaming_sends_task_status_and_artifact_chunks() {
    let s = echo();
    let Ok(Output::Stream(run)) = s.handle(
        send_body("SendStreamingMessage", "hi", Some("c"))
            .to_string()
            .as_bytes(),
        &RequestContext::default(),
        64,
    ) else {
        panic!("a stream");
    };
    let mut out = Collect(Vec::new());
    run(&mut EventSink::new(&mut out, CancelToken::new())).unwrap();
    let results: Vec<&Value> = out.0.iter().map(|e| &e["result"]).collect();
    assert!(out.0.iter().all(|e| e["id"] == "r1" && e["jsonrpc"] == "2.0"));
    assert_eq!(results[0]["task"]["status"]["state"], "TASK_STATE_SUBMITTED");
    assert_eq!(
        results[1]["statusUpdate"]["status"]["state"],
        "TASK_STATE_WORKING"
    );
    let chunks: Vec<(&Value, &Value)> = results
        .iter()
        .filter_map(|r| r.get("artifactUpdate"))
        .map(|a| (&a["artifact"]["parts"], &a["append"]))
        .collect();
    assert_eq!(
        chunks,
        [
            (&json!([{"text": "you said: "}]), &json!(false)),
            (&json!([{"text": "hi"}]), &json!(true)),
            (&json!([]), &json!(true)),
        ]
    );
    let last = results.last().unwrap();
    assert_eq!(last["statusUpdate"]["status"]["state"], "TASK_STATE_COMPLETED");
    assert_eq!(last["statusUpdate"]["contextId"], "c");
}

#[test]
fn cancel_stops_a_running_task() {
    // The handler waits for its token, as a model call polls it.
    let s = A2aServer::new(Card::new("slow", ""), |_turn, cancel, on_delta| {
        on_delta("started");
        while !cancel.is_cancelled() {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Err(Error::new("cancelled"))
    });
    let s = Arc::new(s);
    let Ok(Output::Stream(run)) = s.handle(
        send_body("SendStreamingMessage", "go", None)
            .to_string()
            .as_bytes(),
        &RequestContext::default(),
        64,
    ) else {
        panic!("a stream");
    };
    let runner = std::thread::spawn(move || {
        let mut out = Collect(Vec::new());
        run(&mut EventSink::new(&mut out, CancelToken::new())).unwrap();
        out.0
    });
    let task_id = loop {
        if let Some(id) = s.tasks().first_in(tasks::State::Working) {
            break id;
        }
        std::thread::yield_now();
    };
    let answer = call(
        &s,
        json!({"jsonrpc": "2.0", "id": 1, "method": "CancelTask", "params": {"id": task_id}}),
    );
    assert_eq!(answer["result"]["status"]["state"], "TASK_STATE_CANCELED");
    let events = runner.join().unwrap();
    let last = &events.last().unwrap()["result"]["statusUpdate"];
    assert_eq!(last["status"]["state"], "TASK_STATE_CANCELED");
}

#[test]
fn bad_requests_get_a2a_error_codes() {
    let s = echo();
    let code = |body: &[u8]| match s.handle(body, &RequestContext::default(), 64) {
        Ok(Output::Json(v)) => v["error"]["code"].as_i64().unwrap_or(0),
        _ => panic!("a JSON answer"),
    };
    assert_eq!(code(b"{nope"), rpc::PARSE_ERROR);
    assert_eq!(code(b"\xff\xfe"), rpc::PARSE_ERROR);
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    assert_eq!(code(deep.as_bytes()), rpc::PARSE_ERROR);
    let batch = format!(
        "[{}]",
        vec![send_body("SendMessage", "x", None).to_string(); 500].join(",")
    );
    assert_eq!(code(batch.as_bytes()), rpc::INVALID_REQUEST);
    assert_eq!(
        code(br#"{"jsonrpc":"2.0","id":1,"method":"Nope"}"#),
        rpc::METHOD_NOT_FOUND
    );
    assert_eq!(
        code(br#"{"jsonrpc":"2.0","id":1,"method":"message/send"}"#),
        rpc::INVALID_PARAMS
    );
    assert_eq!(
        code(br#"{"jsonrpc":"2.0","id":1,"method":"SendMessage"}"#),
        rpc::INVALID_PARAMS
    );
    assert_eq!(
        code(br#"{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m","parts":[]}}}"#),
        rpc::INVALID_PARAMS
    );
    assert_eq!(
        code(br#"{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m","parts":[{"url":"http://x/f.png"}]}}}"#),
        rpc::CONTENT_TYPE_NOT_SUPPORTED
    );
    assert_eq!(
        code(br#"{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m","parts":[{"text":"x"}]},"configuration":{"acceptedOutputModes":["image/png"]}}}"#),
        rpc::CONTENT_TYPE_NOT_SUPPORTED
    );
    assert_eq!(
        code(br#"{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{}}"#),
        rpc::INVALID_PARAMS
    );
    assert_eq!(
        code(br#"{"jsonrpc":"2.0","id":1,"method":"ListTasks"}"#),
        rpc::UNSUPPORTED_OPERATION
    );
    assert_eq!(
        code(br#"{"jsonrpc":"2.0","id":1,"method":"CreateTaskPushNotificationConfig"}"#),
        rpc::PUSH_NOTIFICATION_NOT_SUPPORTED
    );
    let with_version = RequestContext::from_headers([("a2a-version", b"2.0".as_slice())]);
    let Ok(Output::Json(v)) = s.handle(
        br#"{"jsonrpc":"2.0","id":1,"method":"GetTask"}"#,
        &with_version,
        64,
    ) else {
        panic!("a JSON answer");
    };
    assert_eq!(v["error"]["code"], rpc::VERSION_NOT_SUPPORTED);
}

#[test]
fn card_from_env() {
    let env = |name: &str| match name {
        "A2A_AGENT_NAME" => Some("helper".to_string()),
        "AGENTCORE_RUNTIME_URL" => Some("https://example.test/rt/".to_string()),
        _ => None,
    };
    let card = Card::from_env(&env).to_json("http://fallback/");
    assert_eq!(card["name"], "helper");
    assert_eq!(card["supportedInterfaces"][0]["url"], "https://example.test/rt/");
    assert_eq!(
        card["supportedInterfaces"][0]["protocolVersion"],
        PROTOCOL_VERSION
    );
    assert_eq!(card["capabilities"]["streaming"], true);
    assert_eq!(card["skills"][0]["id"], "chat");
    let card = Card::from_env(&|_: &str| None).to_json("http://fallback/");
    assert_eq!(card["url"], "http://fallback/");
    assert_eq!(card["name"], "agentcore-rt");
}

#[test]
fn a_0_3_client_gets_0_3_json() {
    let s = echo();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": {
        "kind": "message", "messageId": "m", "role": "user", "parts": [{"kind": "text", "text": "yo"}]}}});
    let answer = call(&s, body);
    let task = &answer["result"];
    assert_eq!(task["kind"], "task", "{answer}");
    assert_eq!(task["status"]["state"], "completed");
    assert_eq!(
        task["artifacts"][0]["parts"][0],
        json!({"kind": "text", "text": "you said: yo"})
    );
    let id = task["id"].as_str().unwrap();
    let got = call(
        &s,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tasks/get", "params": {"id": id}}),
    );
    assert_eq!(got["result"]["kind"], "task");
    assert_eq!(got["result"]["history"][1]["role"], "agent");
    let cancel = call(
        &s,
        json!({"jsonrpc": "2.0", "id": 3, "method": "tasks/cancel", "params": {"id": id}}),
    );
    assert_eq!(cancel["error"]["code"], rpc::TASK_NOT_CANCELABLE);
}

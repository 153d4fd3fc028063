//! A2A 0.3, the version clients built on `a2a-sdk` 0.3 speak (Strands' `A2AAgent` among them):
//! the same methods under their old names (`message/send`, `message/stream`, `tasks/get`,
//! `tasks/cancel`) and the same objects in 0.3's JSON, made from the 1.0 answers here:
//! `kind` discriminators (`task`, `message`, `status-update`, `artifact-update`, parts'
//! `text`/`data`), lowercase states and roles, results not wrapped in `{"task": ...}`, and
//! `final: true` on a stream's last status update.

use serde_json::{Map, Value, json};

/// The 1.0 method a 0.3 method is.
pub fn method(name: &str) -> Option<&'static str> {
    Some(match name {
        "message/send" => "SendMessage",
        "message/stream" => "SendStreamingMessage",
        "tasks/get" => "GetTask",
        "tasks/cancel" => "CancelTask",
        "tasks/resubscribe" => "SubscribeToTask",
        "tasks/pushNotificationConfig/set" => "CreateTaskPushNotificationConfig",
        "tasks/pushNotificationConfig/get" => "GetTaskPushNotificationConfig",
        "tasks/pushNotificationConfig/list" => "ListTaskPushNotificationConfigs",
        "tasks/pushNotificationConfig/delete" => "DeleteTaskPushNotificationConfig",
        "agent/getAuthenticatedExtendedCard" => "GetExtendedAgentCard",
        _ => return None,
    })
}

/// A 1.0 result (a `SendMessageResponse`, a `StreamResponse`, a `Task`) in 0.3's JSON.
pub fn result(v: Value) -> Value {
    let Value::Object(mut outer) = v else { return v };
    if outer.len() == 1 {
        for (key, kind) in [
            ("task", "task"),
            ("message", "message"),
            ("statusUpdate", "status-update"),
            ("artifactUpdate", "artifact-update"),
        ] {
            if let Some(Value::Object(inner)) = outer.remove(key) {
                return object(inner, kind);
            }
        }
    }
    object(outer, "task")
}

fn object(mut o: Map<String, Value>, kind: &str) -> Value {
    match kind {
        "task" => {
            if let Some(Value::Object(status)) = o.remove("status") {
                o.insert("status".into(), status_of(status));
            }
            if let Some(Value::Array(history)) = o.remove("history") {
                let history = history.into_iter().map(message).collect();
                o.insert("history".into(), Value::Array(history));
            }
            if let Some(Value::Array(artifacts)) = o.remove("artifacts") {
                let artifacts = artifacts.into_iter().map(artifact).collect();
                o.insert("artifacts".into(), Value::Array(artifacts));
            }
        }
        "message" => return message(Value::Object(o)),
        "status-update" => {
            let status = match o.remove("status") {
                Some(Value::Object(status)) => status,
                _ => Map::new(),
            };
            let done = matches!(
                status.get("state").and_then(Value::as_str),
                Some("TASK_STATE_COMPLETED" | "TASK_STATE_FAILED" | "TASK_STATE_CANCELED")
            );
            o.insert("status".into(), status_of(status));
            o.insert("final".into(), json!(done));
        }
        "artifact-update" => {
            if let Some(a) = o.remove("artifact") {
                o.insert("artifact".into(), artifact(a));
            }
        }
        _ => {}
    }
    o.insert("kind".into(), json!(kind));
    Value::Object(o)
}

fn status_of(mut status: Map<String, Value>) -> Value {
    if let Some(Value::String(state)) = status.get("state") {
        let state = state
            .trim_start_matches("TASK_STATE_")
            .to_ascii_lowercase()
            .replace('_', "-");
        status.insert("state".into(), json!(state));
    }
    if let Some(m) = status.remove("message") {
        status.insert("message".into(), message(m));
    }
    Value::Object(status)
}

fn message(m: Value) -> Value {
    let Value::Object(mut m) = m else { return m };
    if let Some(Value::String(role)) = m.get("role") {
        let role = role.trim_start_matches("ROLE_").to_ascii_lowercase();
        m.insert("role".into(), json!(role));
    }
    if let Some(parts) = m.remove("parts") {
        m.insert("parts".into(), parts_of(parts));
    }
    m.insert("kind".into(), json!("message"));
    Value::Object(m)
}

fn artifact(a: Value) -> Value {
    let Value::Object(mut a) = a else { return a };
    if let Some(parts) = a.remove("parts") {
        a.insert("parts".into(), parts_of(parts));
    }
    Value::Object(a)
}

fn parts_of(parts: Value) -> Value {
    let Value::Array(parts) = parts else { return parts };
    let parts = parts
        .into_iter()
        .map(|p| match p {
            Value::Object(mut p) if p.contains_key("text") => {
                p.insert("kind".into(), json!("text"));
                Value::Object(p)
            }
            Value::Object(mut p) if p.contains_key("data") => {
                p.insert("kind".into(), json!("data"));
                Value::Object(p)
            }
            other => other,
        })
        .collect();
    Value::Array(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_in_0_3_json() {
        let task = json!({"task": {
            "id": "t", "contextId": "c",
            "status": {"state": "TASK_STATE_INPUT_REQUIRED", "message": {"role": "ROLE_AGENT", "parts": [{"text": "?"}]}},
            "artifacts": [{"artifactId": "a", "parts": [{"text": "hi"}]}],
            "history": [{"role": "ROLE_USER", "parts": [{"data": {"x": 1}}]}],
        }});
        let v = result(task);
        assert_eq!(v["kind"], "task");
        assert_eq!(v["status"]["state"], "input-required");
        assert_eq!(v["status"]["message"]["role"], "agent");
        assert_eq!(v["status"]["message"]["kind"], "message");
        assert_eq!(
            v["artifacts"][0]["parts"][0],
            json!({"text": "hi", "kind": "text"})
        );
        assert_eq!(v["history"][0]["parts"][0]["kind"], "data");
        assert_eq!(v["history"][0]["role"], "user");
        let done =
            result(json!({"statusUpdate": {"taskId": "t", "status": {"state": "TASK_STATE_CANCELED"}}}));
        assert_eq!(
            (done["kind"].clone(), done["final"].clone()),
            (json!("status-update"), json!(true))
        );
        assert_eq!(done["status"]["state"], "canceled");
        let working = result(json!({"statusUpdate": {"status": {"state": "TASK_STATE_WORKING"}}}));
        assert_eq!(working["final"], false);
        let chunk =
            result(json!({"artifactUpdate": {"artifact": {"parts": [{"text": "x"}]}, "append": true}}));
        assert_eq!(chunk["kind"], "artifact-update");
        assert_eq!(chunk["artifact"]["parts"][0]["kind"], "text");
        // GetTask / CancelTask results are bare tasks.
        assert_eq!(
            result(json!({"id": "t", "status": {"state": "TASK_STATE_COMPLETED"}}))["status"]["state"],
            "completed"
        );
        assert_eq!(method("message/stream"), Some("SendStreamingMessage"));
        assert_eq!(method("message/nope"), None);
    }
}

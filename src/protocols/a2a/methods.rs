//! The methods: `SendMessage`, `SendStreamingMessage`, `GetTask`, `CancelTask`, and the
//! answers for those this agent does not offer.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::rpc::{self, Call, RpcError};
use super::tasks::{State, Task, TaskStore, artifact_id};
use super::{A2aServer, Handler, Turn};
use crate::app::{EventSink, Output, RequestContext, agent_entrypoint::sanitize_session_id};

/// Runs one call.
pub(super) fn dispatch(server: &A2aServer, call: Call, ctx: &RequestContext) -> Output {
    let Call { id, method, params } = call;
    // A 0.3 client: the same method, its answer in 0.3's JSON.
    let (method, v03) = match super::v03::method(&method) {
        Some(m) => (m.to_string(), true),
        None => (method, false),
    };
    let shape = move |v: Value| if v03 { super::v03::result(v) } else { v };
    let answer = match method.as_str() {
        "SendMessage" => match prepare(server, &params, ctx) {
            Ok(run) => Ok(send(server, run)),
            Err(e) => Err(e),
        },
        "SendStreamingMessage" => match prepare(server, &params, ctx) {
            Ok(run) => return stream(server, run, id, shape),
            Err(e) => Err(e),
        },
        "GetTask" => get(server, &params),
        "CancelTask" => cancel(server, &params),
        "ListTasks" | "SubscribeToTask" => Err(RpcError::new(
            rpc::UNSUPPORTED_OPERATION,
            format!("{method} is not supported by this agent"),
        )),
        "CreateTaskPushNotificationConfig"
        | "GetTaskPushNotificationConfig"
        | "ListTaskPushNotificationConfigs"
        | "DeleteTaskPushNotificationConfig" => Err(RpcError::new(
            rpc::PUSH_NOTIFICATION_NOT_SUPPORTED,
            "push notifications are not supported",
        )),
        "GetExtendedAgentCard" => Err(RpcError::new(
            rpc::EXTENDED_CARD_NOT_CONFIGURED,
            "this agent has no extended card",
        )),
        _ => Err(RpcError::new(
            rpc::METHOD_NOT_FOUND,
            format!("method not found: {method}"),
        )),
    };
    Output::Json(match answer {
        Ok(result) => rpc::result(&id, shape(result)),
        Err(e) => e.answer(&id),
    })
}

/// A message accepted as a task, not yet run.
struct Run {
    turn: Turn,
    task: Task,
    handler: Arc<Handler>,
    tasks: Arc<TaskStore>,
}

fn string_field<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, RpcError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(RpcError::params(format!("{name} must be a string"))),
    }
}

/// Checks a `SendMessageRequest` and registers its task.
fn prepare(server: &A2aServer, params: &Map<String, Value>, ctx: &RequestContext) -> Result<Run, RpcError> {
    let message = match params.get("message") {
        Some(Value::Object(m)) => m,
        _ => return Err(RpcError::params("params.message must be a Message object")),
    };
    if let Some(Value::Object(config)) = params.get("configuration")
        && let Some(modes) = config.get("acceptedOutputModes")
    {
        let modes = modes
            .as_array()
            .ok_or_else(|| RpcError::params("acceptedOutputModes must be a list of strings"))?;
        let serves = |m: &Value| {
            m.as_str().is_some_and(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "text/plain" || m == "text" || m == "text/*" || m == "*/*"
            })
        };
        if !modes.is_empty() && !modes.iter().any(serves) {
            return Err(RpcError::new(
                rpc::CONTENT_TYPE_NOT_SUPPORTED,
                "this agent answers text/plain only",
            ));
        }
    }
    let message_id = string_field(message, "messageId")?
        .filter(|m| !m.is_empty())
        .ok_or_else(|| RpcError::params("message.messageId is required"))?;
    match string_field(message, "role")? {
        None | Some("ROLE_USER") | Some("user") => {}
        Some(other) => {
            return Err(RpcError::params(format!(
                "message.role must be ROLE_USER, not {other}"
            )));
        }
    }
    let text = message_text(message)?;
    if let Some(task_id) = string_field(message, "taskId")?.filter(|t| !t.is_empty()) {
        // Our tasks never wait for input: a follow-up names a task that has finished.
        return Err(match server.tasks.get(task_id) {
            None => RpcError::new(rpc::TASK_NOT_FOUND, format!("task not found: {task_id}")),
            Some(_) => RpcError::params(format!(
                "task {task_id} has finished; send the next message with its contextId and no taskId"
            )),
        });
    }
    let context_id = match string_field(message, "contextId")?.filter(|c| !c.is_empty()) {
        Some(c) => c.to_string(),
        None => ctx
            .session_id
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(crate::ids::uuid4),
    };
    let session_id = sanitize_session_id(&context_id)
        .map_err(|e| RpcError::params(format!("contextId: {}", e.message())))?;
    let task_id = crate::ids::uuid4();
    let mut user_message = Value::Object(message.clone());
    user_message["contextId"] = json!(context_id);
    user_message["taskId"] = json!(task_id);
    user_message["role"] = json!("ROLE_USER");
    let task = Task::new(
        task_id.clone(),
        context_id,
        user_message,
        ctx.cancel_token().child(),
    );
    server.tasks.insert(task.clone());
    let _ = message_id;
    Ok(Run {
        turn: Turn {
            text,
            session_id,
            task_id,
            ctx: ctx.clone(),
        },
        task,
        handler: Arc::clone(&server.handler),
        tasks: Arc::clone(&server.tasks),
    })
}

/// The text a message carries: its text parts, and its data parts as JSON; file parts are
/// refused with `ContentTypeNotSupportedError`.
fn message_text(message: &Map<String, Value>) -> Result<String, RpcError> {
    let parts = match message.get("parts") {
        Some(Value::Array(parts)) if !parts.is_empty() => parts,
        _ => return Err(RpcError::params("message.parts must be a non-empty list")),
    };
    let mut pieces = Vec::new();
    for part in parts {
        let part = part
            .as_object()
            .ok_or_else(|| RpcError::params("each part must be an object"))?;
        if let Some(text) = part.get("text") {
            let text = text
                .as_str()
                .ok_or_else(|| RpcError::params("part.text must be a string"))?;
            pieces.push(text.to_string());
        } else if let Some(data) = part.get("data") {
            pieces.push(crate::pyjson::to_string(data));
        } else if part.contains_key("url") || part.contains_key("raw") || part.contains_key("file") {
            return Err(RpcError::new(
                rpc::CONTENT_TYPE_NOT_SUPPORTED,
                "file parts are not supported; send text or data parts",
            ));
        } else {
            return Err(RpcError::params("a part needs text, data, url or raw"));
        }
    }
    let text = pieces.join("\n");
    if text.trim().is_empty() {
        return Err(RpcError::params("the message has no text"));
    }
    Ok(text)
}

/// The agent's message carrying `text`.
fn agent_message(task: &Task, text: &str) -> Value {
    json!({
        "messageId": crate::ids::uuid4(),
        "contextId": task.context_id,
        "taskId": task.id,
        "role": "ROLE_AGENT",
        "parts": [{"text": text}],
    })
}

/// Runs the handler; returns the task as it ended.
fn execute(run: &Run, on_delta: &mut dyn FnMut(&str)) -> Task {
    let Run {
        turn,
        task,
        handler,
        tasks,
    } = run;
    tasks.set_state(&task.id, State::Working, None);
    let outcome = handler(turn, &task.cancel, &mut |delta| {
        tasks.update(&task.id, |t| t.answer.push_str(delta));
        on_delta(delta);
    });
    let ended = match outcome {
        _ if task.cancel.is_cancelled() => tasks.set_state(&task.id, State::Canceled, None),
        Ok(answer) => tasks.update(&task.id, |t| {
            if t.state.is_final() {
                return;
            }
            // What was streamed is the answer (the agent's whole text adds Strands' trailing
            // newline); a handler that did not stream gives it whole.
            if t.answer.is_empty() {
                t.answer = answer;
            }
            // The answer is also the final status's message: clients that read only the last
            // event (Strands' A2AAgent) get it whole rather than as the artifact's chunks.
            let reply = agent_message(t, &t.answer);
            t.status_message = Some(reply.clone());
            t.history.push(reply);
            t.state = State::Completed;
            t.timestamp = super::tasks::now();
        }),
        Err(e) => {
            crate::logging::warn("A2A task failed")
                .str("taskId", &task.id)
                .str("requestId", &turn.ctx.request_id)
                .str("error", e.message())
                .emit();
            let message = agent_message(task, e.message());
            tasks.set_state(&task.id, State::Failed, Some(message))
        }
    };
    // Evicted while running (only with a tiny store): report what we know.
    ended.unwrap_or_else(|| task.clone())
}

fn send(_server: &A2aServer, run: Run) -> Value {
    let task = execute(&run, &mut |_| {});
    json!({"task": task.to_json(None)})
}

/// `SendStreamingMessage`: the task, `working`, an artifact update per text delta, the final
/// artifact chunk, and the final status; each event a JSON-RPC answer with the call's id.
fn stream(
    _server: &A2aServer,
    run: Run,
    id: Value,
    shape: impl Fn(Value) -> Value + Send + 'static,
) -> Output {
    Output::stream(move |sink: &mut EventSink<'_>| {
        let send = |sink: &mut EventSink<'_>, result: Value| sink.send(&rpc::result(&id, shape(result)));
        send(sink, json!({"task": run.task.to_json(None)}))?;
        let (task_id, context_id) = (run.task.id.clone(), run.task.context_id.clone());
        let status = |t: &Task| json!({"statusUpdate": {"taskId": t.id, "contextId": t.context_id, "status": t.status_json()}});
        let mut working = run.task.clone();
        working.state = State::Working;
        working.timestamp = super::tasks::now();
        send(sink, status(&working))?;
        let artifact_id = artifact_id(&task_id);
        let mut first = true;
        let mut failed = None;
        let ended = execute(&run, &mut |delta| {
            if failed.is_some() || delta.is_empty() {
                return;
            }
            let event = json!({"artifactUpdate": {
                "taskId": task_id,
                "contextId": context_id,
                "artifact": {"artifactId": artifact_id, "name": "response", "parts": [{"text": delta}]},
                "append": !first,
                "lastChunk": false,
            }});
            first = false;
            if let Err(e) = send(sink, event) {
                // The client left: stop the run (the sink's own token is the request's).
                run.task.cancel.cancel();
                failed = Some(e);
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        if ended.state == State::Completed {
            // A handler that did not stream gives its answer here, whole.
            let parts = if first {
                json!([{"text": ended.answer}])
            } else {
                json!([])
            };
            send(
                sink,
                json!({"artifactUpdate": {
                    "taskId": task_id,
                    "contextId": context_id,
                    "artifact": {"artifactId": artifact_id, "name": "response", "parts": parts},
                    "append": !first,
                    "lastChunk": true,
                }}),
            )?;
        }
        send(sink, status(&ended))
    })
}

fn task_id_param(params: &Map<String, Value>) -> Result<&str, RpcError> {
    string_field(params, "id")?
        .filter(|id| !id.is_empty())
        .ok_or_else(|| RpcError::params("params.id (the task id) is required"))
}

fn get(server: &A2aServer, params: &Map<String, Value>) -> Result<Value, RpcError> {
    let id = task_id_param(params)?;
    let history = match params.get("historyLength") {
        None | Some(Value::Null) => None,
        Some(n) => Some(
            n.as_u64()
                .ok_or_else(|| RpcError::params("historyLength must be a non-negative integer"))?
                as usize,
        ),
    };
    let task = server
        .tasks
        .get(id)
        .ok_or_else(|| RpcError::new(rpc::TASK_NOT_FOUND, format!("task not found: {id}")))?;
    Ok(task.to_json(history))
}

fn cancel(server: &A2aServer, params: &Map<String, Value>) -> Result<Value, RpcError> {
    let id = task_id_param(params)?;
    let task = server
        .tasks
        .get(id)
        .ok_or_else(|| RpcError::new(rpc::TASK_NOT_FOUND, format!("task not found: {id}")))?;
    if task.state.is_final() {
        return Err(RpcError::new(
            rpc::TASK_NOT_CANCELABLE,
            format!("task {id} is {} and cannot be canceled", task.state.as_str()),
        ));
    }
    task.cancel.cancel();
    let canceled = server
        .tasks
        .set_state(id, State::Canceled, None)
        .ok_or_else(|| RpcError::new(rpc::TASK_NOT_FOUND, format!("task not found: {id}")))?;
    if canceled.state != State::Canceled {
        return Err(RpcError::new(
            rpc::TASK_NOT_CANCELABLE,
            format!("task {id} finished before it could be canceled"),
        ));
    }
    Ok(canceled.to_json(None))
}

//! AG-UI on the HTTP contract's routes (`EVENT_FORMAT=agui`, `PROTOCOL=agui`), as
//! bedrock-agentcore 1.25's `AGUIApp` serves it: `POST /invocations` takes a `RunAgentInput`
//! and answers a stream of AG-UI events over SSE; `/ws` takes one `RunAgentInput` as its first
//! text message, sends the same events one per message, and closes. Each `/ws` message is
//! framed as the SSE event would be (`data: <json>\n\n`): `AGUIApp` encodes its WebSocket
//! messages with the same `EventEncoder` as its SSE stream, and clients written against it
//! strip that prefix.
//!
//! - A body that is not JSON: 400 `{"error": "Invalid JSON", "details"}`; not a
//!   `RunAgentInput`: 400 `{"error": "Invalid RunAgentInput", "details"}` (the stream has not
//!   started, so an HTTP error, as `AGUIApp` answers). Over `/ws` both close the connection with
//!   1003 and the reason, as `AGUIApp` does.
//! - `threadId` is the session id (sanitised as `session_id` is; an empty one falls back to the
//!   session header, then `default`); the last user message is the prompt (see
//!   [`input::parse`]); `state` comes back as `STATE_SNAPSHOT`; `tools` are the frontend's
//!   tools, offered to the model beside the agent's own and run by the client (see
//!   [`frontend`]); `context`, `forwardedProps` and `resume` are checked and not used.
//! - A failure once the stream is open is `RUN_ERROR` (`message`, `code`: the error's type).
//!
//! [`install`] puts the built-in [`Agent`] behind the routes; a handler of one's own speaks
//! AG-UI with [`input::parse`] and [`RunEvents`]:
//!
//! ```
//! use agentcore_rt::app::Output;
//! use agentcore_rt::protocols::agui::{RunEvents, events, input};
//! use agentcore_rt::{AgentEvent, App, Error, RequestContext};
//! use serde_json::{Value, json};
//!
//! let mut app = App::new();
//! app.entrypoint(|payload: Value, _ctx: &RequestContext| {
//!     let run = input::parse(&payload)
//!         .map_err(|e| Error::bad_request("Invalid RunAgentInput").with_details(e.to_string()))?;
//!     Ok::<_, Error>(Output::stream(move |sink| {
//!         let mut events_of_run = RunEvents::new(&run.thread_id, &run.run_id);
//!         let mut all = events_of_run.start(run.state.as_ref());
//!         all.extend(events_of_run.on_event(&AgentEvent::TextDelta("You said: ")));
//!         all.extend(events_of_run.on_event(&AgentEvent::TextDelta(&run.prompt)));
//!         all.extend(events_of_run.finish_with(None, None));
//!         for event in all {
//!             sink.send_serialized(events::to_json_text(&event).into_bytes())?;
//!         }
//!         Ok(())
//!     }))
//! });
//! let input = json!({"threadId": "t", "runId": "r",
//!                    "messages": [{"id": "1", "role": "user", "content": "hi"}]});
//! # let ctx = RequestContext::from_headers(Vec::<(&str, &[u8])>::new());
//! # let _ = app.invoke(input.to_string().as_bytes(), &ctx).unwrap();
//! ```

pub mod events;
pub mod frontend;
pub mod input;

use std::sync::Arc;

use serde_json::Value;

use crate::agent::{Agent, AgentEvent};
use crate::app::agent_entrypoint::sanitize_session_id;
use crate::app::{App, EventSink, Output, RequestContext, WebSocket, WsEvents, WsMessage};
use crate::error::Error;
use crate::telemetry::TraceContext;
use crate::types::CancelToken;

pub use events::RunEvents;
pub use input::{InvalidInput, RunInput};

/// The close code `/ws` uses for a first message that is not a `RunAgentInput` (1003,
/// "unsupported data", as `AGUIApp`).
pub const WS_CLOSE_INVALID: u16 = 1003;

/// Installs the agent behind the app's `/invocations` and `/ws` speaking AG-UI. `agent: None`
/// (no model configured) answers invocations 503, as the native format does.
pub fn install(app: &mut App, agent: Option<Arc<Agent>>) {
    let entry_agent = agent.clone();
    app.entrypoint(move |payload: Value, ctx| -> Result<Output, Error> {
        let (input, session_id) = request(&payload, ctx)?;
        ctx.record_session(&session_id);
        let agent = entry_agent.clone().ok_or_else(no_model)?;
        let ctx = ctx.clone();
        Ok(Output::stream(move |sink| {
            let mut send = |event: Value| {
                sink.send_serialized(events::to_json_text(&event).into_bytes())
                    .is_ok()
            };
            run(
                &agent,
                &input,
                &session_id,
                ctx.cancel_token(),
                &ctx.trace,
                &mut send,
            );
            Ok(())
        }))
    });
    let max_json_depth = app.server_config().max_json_depth;
    app.websocket(move |ws, ctx| serve_websocket(agent.as_deref(), max_json_depth, ws, ctx));
}

/// Checks a payload and resolves its session id.
fn request(payload: &Value, ctx: &RequestContext) -> Result<(RunInput, String), Error> {
    let input = input::parse(payload)
        .map_err(|e| Error::bad_request("Invalid RunAgentInput").with_details(e.to_string()))?;
    let raw = Some(input.thread_id.as_str())
        .filter(|s| !s.is_empty())
        .or(ctx.session_id.as_deref().filter(|s| !s.is_empty()))
        .unwrap_or("default");
    let session_id = sanitize_session_id(raw)?;
    Ok((input, session_id))
}

fn no_model() -> Error {
    Error::http(503, crate::agent::NO_MODEL_MESSAGE).with_type("ModelNotConfigured")
}

/// Runs the agent on `input`, handing each AG-UI event to `send` (false: the client is gone,
/// and the cancel token tells the agent to stop).
fn run(
    agent: &Agent,
    input: &RunInput,
    session_id: &str,
    cancel: &CancelToken,
    trace: &TraceContext,
    send: &mut dyn FnMut(Value) -> bool,
) {
    let mut run = RunEvents::new(&input.thread_id, &input.run_id);
    for event in run.start(input.state.as_ref()) {
        send(event);
    }
    let mut refused = None;
    let outcome = agent.invoke_with(
        session_id,
        &frontend::client_tools(input),
        &mut |stored| match frontend::decide(input, stored)? {
            Ok(next) => Ok(next),
            Err(refusal) => {
                let message = refusal.message.clone();
                refused = Some(refusal);
                Err(crate::agent::AgentError::InvalidInput { message })
            }
        },
        cancel,
        trace,
        &mut |event: AgentEvent<'_>| {
            for e in run.on_event(&event) {
                send(e);
            }
        },
    );
    let last = match outcome {
        Ok(result) => run.finish(&result),
        Err(_) if refused.is_some() => {
            let refusal = refused.take().map(|r| (r.message, r.code)).unwrap_or_default();
            run.fail(&refusal.0, refusal.1)
        }
        Err(e) => {
            crate::logging::warn("invocation failed")
                .str("sessionId", session_id)
                .str("error", &e.to_string())
                .emit();
            let error = Error::from(e);
            run.fail(error.message(), error.error_type())
        }
    };
    for event in last {
        send(event);
    }
}

/// `/ws`: the first text message is the `RunAgentInput`; the run's events go back one per
/// message (SSE-framed, as `AGUIApp` sends them), then the connection closes (1000).
fn serve_websocket(
    agent: Option<&Agent>,
    max_json_depth: usize,
    ws: &mut WebSocket<'_>,
    ctx: &RequestContext,
) -> Result<(), Error> {
    let Some(message) = ws.recv()? else {
        return Ok(());
    };
    let text = match message {
        WsMessage::Text(text) => text,
        WsMessage::Binary(_) => {
            ws.close(
                WS_CLOSE_INVALID,
                "Invalid JSON: send the RunAgentInput as a text message",
            )?;
            return Ok(());
        }
    };
    let payload = match crate::pyjson::parse_body(text.as_bytes(), max_json_depth) {
        Ok(payload) => payload,
        Err(_) => {
            ws.close(WS_CLOSE_INVALID, "Invalid JSON")?;
            return Ok(());
        }
    };
    let (input, session_id) = match request(&payload, ctx) {
        Ok(pair) => pair,
        Err(e) => {
            let reason = close_reason(e.message(), e.details());
            ws.close(WS_CLOSE_INVALID, &reason)?;
            return Ok(());
        }
    };
    let Some(agent) = agent else {
        // 1011: the server cannot serve this (no model), as AGUIApp closes without a handler.
        ws.close(1011, &close_reason(crate::agent::NO_MODEL_MESSAGE, None))?;
        return Ok(());
    };
    let cancel = ctx.cancel_token().clone();
    // The run's server span, in the trace the upgrade request came with.
    let span = crate::app::server_span::start(agent.tracer(), ctx, "WS", "/ws");
    let trace = span.context();
    {
        let mut events = WsEvents(ws);
        let mut sink = EventSink::new(&mut events, cancel.clone());
        // Each message is the event as AGUIApp sends it over /ws: its EventEncoder's SSE
        // encoding (`data: <json>` and a blank line), one event per message.
        let mut send = |event: Value| {
            let framed = format!("data: {}\n\n", events::to_json_text(&event));
            sink.send_serialized(framed.into_bytes()).is_ok()
        };
        run(agent, &input, &session_id, &cancel, &trace, &mut send);
        crate::app::server_span::end_message(span, Some(&session_id), None);
    }
    if !ctx.is_cancelled() {
        ws.close(1000, "")?;
    }
    Ok(())
}

/// A close frame's payload is at most 125 bytes, two of them the code (RFC 6455 5.5).
const MAX_CLOSE_REASON_BYTES: usize = 123;

/// The error and as much of its details as a close frame's reason holds.
fn close_reason(message: &str, details: Option<&Value>) -> String {
    let mut reason = match details {
        Some(Value::String(d)) => format!("{message}: {d}"),
        _ => message.to_string(),
    };
    if reason.len() > MAX_CLOSE_REASON_BYTES {
        let mut end = MAX_CLOSE_REASON_BYTES - 3;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        reason.push_str("...");
    }
    reason
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn close_reasons_fit_a_close_frame() {
        assert_eq!(close_reason("Invalid JSON", None), "Invalid JSON");
        assert_eq!(close_reason("Bad", Some(&json!("why"))), "Bad: why");
        let long = close_reason("Invalid RunAgentInput", Some(&json!("é".repeat(200))));
        assert!(
            long.len() <= MAX_CLOSE_REASON_BYTES && long.ends_with("..."),
            "{long}"
        );
        assert!(close_reason(crate::agent::NO_MODEL_MESSAGE, None).len() <= MAX_CLOSE_REASON_BYTES);
    }
}

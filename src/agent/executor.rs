//! Running one model message's tool calls (Strands' concurrent tool executor): names checked
//! first, the other calls run one thread each, results reported as they complete and returned
//! in call order; calls of the structured-output tool are validated against its schema.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;

use serde_json::Value;

use crate::agent::client_tools::CLIENT_TOOL_PLACEHOLDER;
use crate::agent::events::AgentEvent;
use crate::agent::spans::Spans;
use crate::structured::OutputSchema;
use crate::telemetry::{Span, TraceContext};
use crate::tools::{Tool, ToolContext, ToolRegistry};
use crate::types::{ContentBlock, Message, Role, ToolResult, ToolResultContent, ToolUse};

/// The error text a tool call gets when the invocation is cancelled before it runs (Strands').
const TOOL_CANCELLED_TEXT: &str = "Tool execution cancelled";

/// What one tool batch produced.
pub(super) struct Batch {
    /// The user message of results, in Strands' order.
    pub(super) message: Message,
    /// The first valid structured output of the batch.
    pub(super) structured_output: Option<Value>,
    /// Calls of the structured-output tool that failed validation, with the last failure text.
    pub(super) invalid_outputs: usize,
    pub(super) last_invalid: Option<String>,
}

/// Runs the tool calls of `message`. Calls with invalid names get their error results first
/// (Strands validates names before running anything), then the other calls' results follow
/// in call order. The other calls run concurrently, one thread each; a call of a client tool
/// (named in `client`) is not run: its result is [`CLIENT_TOOL_PLACEHOLDER`], and no result
/// event is reported for it.
pub(super) fn run_batch(
    message: &Message,
    schema: Option<&OutputSchema>,
    tools: &ToolRegistry,
    client: &HashSet<&str>,
    context: &ToolContext<'_>,
    spans: &Spans<'_>,
    on_event: &mut dyn FnMut(AgentEvent<'_>),
) -> Batch {
    let calls: Vec<&ToolUse> = message.tool_uses().collect();
    for call in &calls {
        if is_client_call(client, call) {
            on_event(AgentEvent::ClientToolUse(call));
        } else {
            on_event(AgentEvent::ToolUse(call));
        }
    }
    let mut results = Vec::with_capacity(calls.len());
    let mut runnable = Vec::with_capacity(calls.len());
    for call in calls {
        match tool_name_error(&call.name) {
            Some(error) => {
                let result = ToolResult::error(&call.tool_use_id, format!("Error: {error}"));
                on_event(AgentEvent::ToolResult {
                    name: &call.name,
                    result: &result,
                });
                results.push(result);
            }
            None => runnable.push(call),
        }
    }
    let jobs: Vec<Job<'_>> = runnable
        .iter()
        .map(|call| match schema {
            _ if is_client_call(client, call) => Job::Client,
            Some(schema) if schema.name() == call.name => Job::Output(schema),
            _ => tools.get(&call.name).map_or(Job::Unknown, Job::Tool),
        })
        .collect();
    let outcomes = execute(&runnable, &jobs, context, spans, on_event);

    let mut batch = Batch {
        message: Message::new(Role::User, Vec::new()),
        structured_output: None,
        invalid_outputs: 0,
        last_invalid: None,
    };
    for (job, (result, output)) in jobs.iter().zip(outcomes) {
        if let Job::Output(_) = job {
            match output {
                Some(output) if batch.structured_output.is_none() => batch.structured_output = Some(output),
                Some(_) => {}
                None => {
                    batch.invalid_outputs += 1;
                    batch.last_invalid = Some(result_text(&result));
                }
            }
        }
        results.push(result);
    }
    batch.message.content = results.into_iter().map(ContentBlock::ToolResult).collect();
    batch
}

/// Strands' answer to tool calls that a cancellation stopped before they ran.
pub(super) fn cancelled_results(message: &Message, on_event: &mut dyn FnMut(AgentEvent<'_>)) -> Message {
    let mut content = Vec::new();
    for call in message.tool_uses() {
        let result = ToolResult::error(&call.tool_use_id, TOOL_CANCELLED_TEXT);
        on_event(AgentEvent::ToolResult {
            name: &call.name,
            result: &result,
        });
        content.push(ContentBlock::ToolResult(result));
    }
    Message::new(Role::User, content)
}

/// Whether `call` is one the caller runs (a valid name among the client tools').
pub(super) fn is_client_call(client: &HashSet<&str>, call: &ToolUse) -> bool {
    client.contains(call.name.as_str()) && tool_name_error(&call.name).is_none()
}

/// What runs one tool call.
enum Job<'t> {
    Output(&'t OutputSchema),
    Tool(&'t Arc<dyn Tool>),
    /// The caller runs it: the placeholder stands in until its result arrives.
    Client,
    Unknown,
}

type Outcome = (ToolResult, Option<Value>);

/// Runs one call under its `execute_tool` span (none for an unknown tool, as in Strands, whose
/// executor records no span for a call it rejects); the tool gets the span's context.
fn run_job(job: &Job<'_>, call: &ToolUse, context: &ToolContext<'_>, spans: &Spans<'_>) -> Outcome {
    let span = match job {
        Job::Unknown => Span::NONE,
        _ if !spans.tracer.is_enabled() => Span::NONE,
        Job::Tool(tool) => spans.tool(
            call,
            Some(tool.spec()),
            context.trace.unwrap_or(&TraceContext::NONE),
        ),
        Job::Output(schema) => spans.tool(
            call,
            Some(&schema.tool_spec()),
            context.trace.unwrap_or(&TraceContext::NONE),
        ),
        // Strands runs a client (proxy) tool like any other: it has its span.
        Job::Client => spans.tool(call, None, context.trace.unwrap_or(&TraceContext::NONE)),
    };
    let traced;
    let context = if span.span_context().is_some() {
        traced = span.context();
        &ToolContext {
            session_id: context.session_id,
            cancel: context.cancel,
            trace: Some(&traced),
        }
    } else {
        context
    };
    let outcome = run_job_untraced(job, call, context);
    spans.end_tool(span, &outcome.0);
    outcome
}

fn run_job_untraced(job: &Job<'_>, call: &ToolUse, context: &ToolContext<'_>) -> Outcome {
    let (mut result, output) = match job {
        Job::Output(schema) => schema.call(call),
        Job::Tool(tool) => match catch_unwind(AssertUnwindSafe(|| tool.call(call, context))) {
            Ok(result) => (result, None),
            Err(_) => (
                ToolResult::error(&call.tool_use_id, "Error: PanicException - tool panicked"),
                None,
            ),
        },
        Job::Client => (ToolResult::text(&call.tool_use_id, CLIENT_TOOL_PLACEHOLDER), None),
        Job::Unknown => (
            ToolResult::error(&call.tool_use_id, format!("Unknown tool: {}", call.name)),
            None,
        ),
    };
    // A result must answer its own call, whatever the tool put there.
    result.tool_use_id.clone_from(&call.tool_use_id);
    (result, output)
}

/// Runs the calls, reporting each result as it completes; returns outcomes in call order.
fn execute(
    calls: &[&ToolUse],
    jobs: &[Job<'_>],
    context: &ToolContext<'_>,
    spans: &Spans<'_>,
    on_event: &mut dyn FnMut(AgentEvent<'_>),
) -> Vec<Outcome> {
    let report =
        |on_event: &mut dyn FnMut(AgentEvent<'_>), call: &ToolUse, job: &Job<'_>, outcome: &Outcome| {
            // A client call's result comes from the caller; the placeholder is not one to report.
            if !matches!(job, Job::Client) {
                on_event(AgentEvent::ToolResult {
                    name: &call.name,
                    result: &outcome.0,
                });
            }
        };
    if calls.len() <= 1 {
        return calls
            .iter()
            .zip(jobs)
            .map(|(call, job)| {
                let outcome = run_job(job, call, context, spans);
                report(on_event, call, job, &outcome);
                outcome
            })
            .collect();
    }
    let mut slots: Vec<Option<Outcome>> = calls.iter().map(|_| None).collect();
    thread::scope(|scope| {
        let (sender, receiver) = mpsc::channel();
        for (index, (call, job)) in calls.iter().zip(jobs).enumerate() {
            let thread_sender = sender.clone();
            let spawned = thread::Builder::new()
                .name("agent-tool".into())
                .spawn_scoped(scope, move || {
                    let _ = thread_sender.send((index, run_job(job, call, context, spans)));
                });
            if spawned.is_err() {
                // No thread to be had: run it here rather than fail the call.
                let _ = sender.send((index, run_job(job, call, context, spans)));
            }
        }
        drop(sender);
        for (index, outcome) in receiver {
            if let (Some(call), Some(job), Some(slot)) =
                (calls.get(index), jobs.get(index), slots.get_mut(index))
            {
                report(on_event, call, job, &outcome);
                *slot = Some(outcome);
            }
        }
    });
    calls
        .iter()
        .zip(slots)
        .map(|(call, slot)| {
            slot.unwrap_or_else(|| {
                (
                    ToolResult::error(&call.tool_use_id, "Error: the tool returned no result"),
                    None,
                )
            })
        })
        .collect()
}

/// Strands' tool-name check (`validate_tool_use_name`): the error text for an invalid name.
fn tool_name_error(name: &str) -> Option<String> {
    // `re.match(r"^[a-zA-Z0-9_\-]{1,}$", name)`: Python's `$` also matches before a final "\n".
    let core = name.strip_suffix('\n').unwrap_or(name);
    let valid_pattern = !core.is_empty()
        && core
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid_pattern {
        return Some(format!("tool_name=<{name}> | invalid tool name pattern"));
    }
    if name.chars().count() > 64 {
        return Some(format!(
            "tool_name=<{name}>, tool_name_max_length=<64> | invalid tool name length"
        ));
    }
    None
}

/// The text items of a tool result, joined (for error messages).
fn result_text(result: &ToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|item| match item {
            ToolResultContent::Text(text) => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_name_errors_are_strands_texts() {
        assert_eq!(tool_name_error("add"), None);
        assert_eq!(tool_name_error("add-2_x"), None);
        assert_eq!(tool_name_error("add\n"), None);
        assert_eq!(
            tool_name_error("bad name"),
            Some("tool_name=<bad name> | invalid tool name pattern".into())
        );
        assert_eq!(
            tool_name_error(""),
            Some("tool_name=<> | invalid tool name pattern".into())
        );
        let long = "x".repeat(65);
        assert_eq!(
            tool_name_error(&long),
            Some(format!(
                "tool_name=<{long}>, tool_name_max_length=<64> | invalid tool name length"
            ))
        );
        assert_eq!(tool_name_error(&"x".repeat(64)), None);
    }
}

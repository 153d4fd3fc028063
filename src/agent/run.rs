//! [`Run`]: one invocation in progress, Strands' event loop (spec §3): call the model, append its
//! message, run its tool calls, append their results, until the model stops calling tools; trim
//! and retry on a context overflow; force the output tool when structured output is asked for.
//! Every appended message is persisted as it is appended, then `agent.json` synced.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;

use crate::agent::client_tools::ClientTools;
use crate::agent::conversation::{SlidingWindow, interrupted_results_for};
use crate::agent::error::AgentError;
use crate::agent::events::AgentEvent;
use crate::agent::executor::{cancelled_results, is_client_call, run_batch};
use crate::agent::result::{AgentResult, LIMIT_TURNS};
use crate::agent::spans::Spans;
use crate::model::{
    ChatModel, ModelError, ModelRequest, ModelResponse, ModelStreamEvent, StopReason, ToolChoice,
};
use crate::session::{AgentSnapshot, SessionWriter};
use crate::structured::{FORCE_PROMPT, OutputSchema, StructuredOutputError};
use crate::telemetry::{Span, TraceContext, Tracer};
use crate::tools::{ToolContext, ToolRegistry, ToolSpec};
use crate::types::{CancelToken, ContentBlock, Message, MessageMetadata, Usage};

/// What every invocation of an agent runs with.
pub(super) struct Settings {
    pub(super) model: Arc<dyn ChatModel>,
    pub(super) system_prompt: Option<String>,
    pub(super) structured_output: Option<OutputSchema>,
    pub(super) structured_output_max_attempts: usize,
    pub(super) max_cycles: Option<usize>,
    pub(super) name: String,
    pub(super) tracer: Tracer,
}

/// Where an invocation starts: its session taken, the history restored and repaired.
pub(super) struct Start {
    pub(super) writer: Box<dyn SessionWriter>,
    pub(super) window: SlidingWindow,
    pub(super) snapshot: AgentSnapshot,
    pub(super) messages: Vec<Message>,
}

/// One invocation in progress.
pub(super) struct Run<'a> {
    settings: &'a Settings,
    session_id: &'a str,
    /// Dropped with the run: releases the session.
    writer: Box<dyn SessionWriter>,
    window: SlidingWindow,
    snapshot: AgentSnapshot,
    messages: Vec<Message>,
    tools: &'a ToolRegistry,
    /// The registry's specs, in registration order, then the client tools'.
    specs: Vec<ToolSpec>,
    client: &'a ClientTools,
    client_names: HashSet<&'a str>,
    cancel: &'a CancelToken,
    usage: Usage,
    model_calls: usize,
    spans: &'a Spans<'a>,
    /// The `invoke_agent` span: the cycles' parent.
    agent_context: &'a TraceContext,
    /// Strands' `event_loop_parent_cycle_id`: the last cycle that ran tools.
    last_tool_cycle: Option<String>,
}

impl<'a> Run<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        settings: &'a Settings,
        session_id: &'a str,
        start: Start,
        tools: &'a ToolRegistry,
        client: &'a ClientTools,
        cancel: &'a CancelToken,
        spans: &'a Spans<'a>,
        agent_context: &'a TraceContext,
    ) -> Self {
        let mut specs = tools.specs();
        specs.extend(client.specs.iter().cloned());
        Run {
            settings,
            session_id,
            writer: start.writer,
            window: start.window,
            snapshot: start.snapshot,
            messages: start.messages,
            tools,
            specs,
            client,
            client_names: client.names(),
            cancel,
            usage: Usage::default(),
            model_calls: 0,
            spans,
            agent_context,
            last_tool_cycle: None,
        }
    }

    fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Appends a message and persists it, then syncs `agent.json` (Strands' MessageAdded hook).
    fn append(&mut self, mut message: Message) -> Result<(), AgentError> {
        if message.tracking_id.is_none() {
            message.tracking_id = Some(crate::ids::uuid4());
        }
        self.writer.append_message(&message)?;
        self.messages.push(message);
        self.sync()
    }

    fn sync(&mut self) -> Result<(), AgentError> {
        self.snapshot.conversation_manager_state = self.window.state();
        self.writer.sync_agent(&self.snapshot)?;
        Ok(())
    }

    /// The end-of-invocation trim and save (Strands' `finally`: after errors too).
    pub(super) fn close(&mut self) -> Result<(), AgentError> {
        self.window.apply_management(&mut self.messages);
        self.sync()
    }

    fn result(&self, stop_reason: &str, message: Message, structured_output: Option<Value>) -> AgentResult {
        AgentResult {
            stop_reason: stop_reason.to_string(),
            message,
            usage: self.usage,
            structured_output,
            model_calls: self.model_calls,
        }
    }

    /// Appends `prompt` (after "Tool was interrupted." results for a history that ends with
    /// tool calls), or with `None` goes on from the history as it is, and cycles until the model
    /// ends its turn, or until a batch that called a client tool is answered.
    pub(super) fn run(
        &mut self,
        prompt: Option<Message>,
        on_event: &mut dyn FnMut(AgentEvent<'_>),
    ) -> Result<AgentResult, AgentError> {
        if let Some(prompt) = prompt {
            if let Some(repair) = self.messages.last().and_then(interrupted_results_for) {
                self.append(repair)?;
            }
            self.append(prompt)?;
        }

        let settings = self.settings;
        let schema = settings.structured_output.as_ref();
        let mut forced = false;
        let mut invalid_outputs = 0;
        let mut cycles = 0;
        loop {
            if settings.max_cycles.is_some_and(|limit| cycles >= limit)
                && let Some(last) = self.messages.last()
            {
                return Ok(self.result(LIMIT_TURNS, last.clone(), None));
            }
            if self.cancelled() {
                return Err(AgentError::Cancelled);
            }
            cycles += 1;
            let (cycle, cycle_id) = self.start_cycle();
            let cycle_context = cycle.context();
            let response = match self.call_model(forced, on_event, &cycle_context) {
                Ok(response) => response,
                Err(e) => {
                    // Strands ends the cycle with the model's error; an overflow is then
                    // retried in a new cycle.
                    if e != ModelError::Cancelled {
                        self.spans
                            .end_cycle_error(cycle, Spans::model_error_type(&e), &e.to_string());
                    }
                    match e {
                        ModelError::ContextOverflow { message } => {
                            self.window
                                .reduce_context(&mut self.messages, true)
                                .map_err(|_| AgentError::ContextOverflow { message })?;
                            self.sync()?;
                            continue;
                        }
                        ModelError::Cancelled => return Err(AgentError::Cancelled),
                        e => return Err(AgentError::Model(e)),
                    }
                }
            };
            self.model_calls += 1;
            self.usage.add(&response.usage);
            let mut message = response.message;
            if response.stop_reason == StopReason::MaxTokens {
                replace_truncated_tool_uses(&mut message);
            }
            message.metadata = Some(MessageMetadata {
                usage: response.usage,
                metrics: response.metrics,
            });
            message.tracking_id = Some(crate::ids::uuid4());
            let client_calls = response.stop_reason == StopReason::ToolUse
                && message
                    .tool_uses()
                    .any(|call| is_client_call(&self.client_names, call));
            if client_calls {
                // Recorded before the message is stored, as ag-ui-strands records a frontend
                // call when the model streams it: the sync after the append stores both.
                let calls = message
                    .tool_uses()
                    .filter(|call| is_client_call(&self.client_names, call));
                self.client.record(&mut self.snapshot.state, calls);
            }
            self.append(message.clone())?;

            match response.stop_reason {
                StopReason::MaxTokens => {
                    let error = AgentError::MaxTokensReached;
                    self.spans
                        .end_cycle_error(cycle, "MaxTokensReachedException", &error.to_string());
                    return Err(error);
                }
                StopReason::ToolUse if message.has_tool_use() => {
                    if self.cancelled() {
                        let results = cancelled_results(&message, on_event);
                        self.append(results)?;
                        return Err(AgentError::Cancelled);
                    }
                    let context = ToolContext {
                        session_id: self.session_id,
                        cancel: self.cancel,
                        trace: Some(&cycle_context),
                    };
                    let batch = run_batch(
                        &message,
                        schema,
                        self.tools,
                        &self.client_names,
                        &context,
                        self.spans,
                        on_event,
                    );
                    self.spans.end_cycle(cycle, &message, Some(&batch.message));
                    if cycle_id.is_some() {
                        self.last_tool_cycle = cycle_id;
                    }
                    self.append(batch.message)?;
                    if let Some(output) = batch.structured_output {
                        return Ok(self.result(StopReason::ToolUse.as_str(), message, Some(output)));
                    }
                    if client_calls {
                        // The caller runs those calls: stop before another model call, with the
                        // placeholder results stored for the next invocation to replace (as
                        // ag-ui-strands halts after a frontend tool's batch).
                        return Ok(self.result(StopReason::ToolUse.as_str(), message, None));
                    }
                    invalid_outputs += batch.invalid_outputs;
                    if let (Some(schema), Some(last_error)) = (schema, batch.last_invalid)
                        && invalid_outputs >= settings.structured_output_max_attempts
                    {
                        return Err(AgentError::StructuredOutput(
                            StructuredOutputError::AttemptsExhausted {
                                schema: schema.name().to_string(),
                                attempts: invalid_outputs,
                                last_error,
                            },
                        ));
                    }
                    if self.cancelled() {
                        return Err(AgentError::Cancelled);
                    }
                }
                stop_reason => {
                    let stop_reason = match stop_reason {
                        StopReason::ToolUse => StopReason::EndTurn,
                        other => other,
                    };
                    self.spans.end_cycle(cycle, &message, None);
                    match schema {
                        Some(schema) if stop_reason == StopReason::EndTurn && forced => {
                            let output = schema
                                .output_from_text(&message)
                                .map_err(AgentError::StructuredOutput)?;
                            return Ok(self.result(stop_reason.as_str(), message, Some(output)));
                        }
                        Some(_) if stop_reason == StopReason::EndTurn => {
                            self.append(Message::user_text(FORCE_PROMPT))?;
                            forced = true;
                        }
                        _ => return Ok(self.result(stop_reason.as_str(), message, None)),
                    }
                }
            }
        }
    }

    /// Starts an `execute_event_loop_cycle` span; its id (a uuid4, as Strands') when traced.
    fn start_cycle(&self) -> (Span, Option<String>) {
        if !self.spans.tracer.is_enabled() {
            return (Span::NONE, None);
        }
        let cycle_id = crate::ids::uuid4();
        let span = self.spans.cycle(
            &cycle_id,
            self.last_tool_cycle.as_deref(),
            &self.messages,
            self.agent_context,
        );
        (span, Some(cycle_id))
    }

    fn call_model(
        &self,
        forced: bool,
        on_event: &mut dyn FnMut(AgentEvent<'_>),
        cycle: &TraceContext,
    ) -> Result<ModelResponse, ModelError> {
        let schema = self.settings.structured_output.as_ref();
        let (specs, choice) = match schema {
            // Forced: the output tool alone, so a provider that ignores tool_choice still has
            // nothing else to call (Strands does the same for providers without native support).
            Some(schema) if forced => (
                vec![schema.tool_spec()],
                Some(ToolChoice::Tool(schema.name().to_string())),
            ),
            Some(schema) => {
                let mut specs = self.specs.clone();
                specs.push(schema.tool_spec());
                (specs, None)
            }
            None => (self.specs.clone(), None),
        };
        let chat = self.spans.chat(&self.messages, cycle);
        let chat_context = chat.context();
        let request = ModelRequest {
            system_prompt: self.settings.system_prompt.as_deref(),
            messages: &self.messages,
            tools: &specs,
            tool_choice: choice.as_ref(),
            trace: chat_context.span.is_some().then_some(&chat_context),
        };
        let outcome = self
            .settings
            .model
            .converse(&request, self.cancel, &mut |event| match event {
                ModelStreamEvent::TextDelta(delta) => on_event(AgentEvent::TextDelta(delta)),
                ModelStreamEvent::ReasoningDelta(delta) => on_event(AgentEvent::ReasoningDelta(delta)),
                _ => {}
            });
        self.spans.end_chat(chat, &outcome);
        outcome
    }
}

/// Strands' `recover_message_on_max_tokens_reached`: a truncated reply's tool calls may be cut
/// short, so each becomes a notice instead of being run.
fn replace_truncated_tool_uses(message: &mut Message) {
    for block in &mut message.content {
        if let ContentBlock::ToolUse(call) = block {
            let name = if call.name.is_empty() {
                "<unknown>"
            } else {
                &call.name
            };
            *block = ContentBlock::Text(format!(
                "The selected tool {name}'s tool use was incomplete due to maximum token limits being reached."
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::types::{Role, ToolUse};

    #[test]
    fn truncated_tool_uses_become_notices() {
        let mut message = Message::new(
            Role::Assistant,
            vec![
                ContentBlock::Text("partial".into()),
                ContentBlock::ToolUse(ToolUse {
                    tool_use_id: "c".into(),
                    name: "calculator".into(),
                    input: json!({}),
                }),
                ContentBlock::ToolUse(ToolUse {
                    tool_use_id: "d".into(),
                    name: String::new(),
                    input: json!({}),
                }),
            ],
        );
        replace_truncated_tool_uses(&mut message);
        assert_eq!(
            serde_json::to_value(&message.content).unwrap(),
            json!([
                {"text": "partial"},
                {"text": "The selected tool calculator's tool use was incomplete due to maximum token limits being reached."},
                {"text": "The selected tool <unknown>'s tool use was incomplete due to maximum token limits being reached."}
            ])
        );
    }
}

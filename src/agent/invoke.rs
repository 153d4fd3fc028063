//! [`Agent`] and [`Agent::invoke`]: one Strands invocation on a fresh `Agent` object with a
//! session manager, which is what the Python runtime does per request.

use std::fmt;
use std::time::Duration;

use serde_json::json;

use crate::agent::conversation::{SlidingWindow, fix_broken_tool_pairs};
use crate::agent::error::AgentError;
use crate::agent::events::AgentEvent;
use crate::agent::prompt::Prompt;
use crate::agent::result::AgentResult;
use crate::agent::run::{Run, Settings, Start};
use crate::agent::spans::Spans;
use crate::agent::tools::{ToolLease, ToolSource};
use crate::session::{AgentSnapshot, SessionError, SessionErrorKind, SessionStore, validate_session_id};
use crate::structured::OutputSchema;
use crate::telemetry::{Span, TraceContext, Tracer};
use crate::tools::ToolRegistry;
use crate::types::CancelToken;

/// A Strands-compatible agent: a model, tools, a system prompt, a conversation window, optional
/// structured output, and a session store. Shared by all worker threads (`Arc<Agent>`); each
/// [`Agent::invoke`] works on its own session.
///
/// ```no_run
/// use std::sync::Arc;
///
/// use agentcore_rt::model::openai::{OpenAiConfig, OpenAiModel};
/// use agentcore_rt::agent::{Agent, AgentEvent, Prompt};
/// use agentcore_rt::types::CancelToken;
/// use agentcore_rt::session::FileSessionStore;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let model = OpenAiModel::new(OpenAiConfig {
///     api_key: Some("sk-...".into()),
///     ..OpenAiConfig::default()
/// })?;
/// let agent = Agent::builder(Arc::new(model))
///     .system_prompt("You are a helpful assistant.")
///     .session_store(FileSessionStore::new("/tmp/strands/sessions"))
///     .build()?;
/// let cancel = CancelToken::new();
/// let result = agent.invoke("user-1", Prompt::from("Say hello."), &cancel, &mut |event: AgentEvent<'_>| {
///     println!("data: {}", event.to_json());
/// })?;
/// println!("{}", result.text());
/// # Ok(())
/// # }
/// ```
pub struct Agent {
    pub(super) settings: Settings,
    pub(super) tools: Vec<ToolSource>,
    pub(super) window: SlidingWindow,
    pub(super) store: Box<dyn SessionStore>,
    pub(super) agent_id: String,
    pub(super) lock_wait: Duration,
}

impl fmt::Debug for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Agent")
            .field("model", &self.settings.model.model_id())
            .field("agent_id", &self.agent_id)
            .field("window_size", &self.window.window_size)
            .field(
                "structured_output",
                &self.settings.structured_output.as_ref().map(OutputSchema::name),
            )
            .field("max_cycles", &self.settings.max_cycles)
            .field("session_store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// The model's id (for logs and final events).
    pub fn model_id(&self) -> &str {
        self.settings.model.model_id()
    }

    /// The structured-output schema answers are validated against, when one is set.
    pub fn output_schema(&self) -> Option<&OutputSchema> {
        self.settings.structured_output.as_ref()
    }

    /// Runs `f` with the tools an invocation of `session_id` would have (providers are asked
    /// and told when it is over, as for an invocation); the structured-output tool is not among
    /// them. For offering the agent's tools elsewhere (the MCP server's pass-through).
    pub fn with_tools<R>(
        &self,
        session_id: &str,
        f: impl FnOnce(&ToolRegistry) -> R,
    ) -> Result<R, AgentError> {
        validate_session_id(session_id).map_err(|kind| SessionError::new(session_id, None, kind))?;
        let lease = ToolLease::acquire(&self.tools, self.settings.structured_output.as_ref(), session_id)?;
        Ok(f(&lease.registry))
    }

    /// Stops what the tool providers started (MCP servers). Idempotent.
    pub fn shutdown(&self) {
        for source in &self.tools {
            if let ToolSource::Provider(provider) = source {
                provider.shutdown();
            }
        }
    }

    /// Runs one invocation of `session_id` (spec §3) and returns its result.
    ///
    /// 1. take the session (one invocation per session at a time; the file store's lock holds
    ///    across processes too), restore its history and window state, repair broken tool pairs;
    /// 2. if the history ends with tool calls, append "Tool was interrupted." results; append the
    ///    prompt;
    /// 3. cycle: call the model with the history and the tool specs; append its message (with
    ///    `metadata` and a `tracking_id`); run the tool calls concurrently and append their
    ///    results in call order as one user message; repeat until the model stops calling tools;
    /// 4. on a context overflow, trim (or truncate tool results), save the window state, retry;
    /// 5. finally, also after errors, apply the window and save its state.
    ///
    /// `on_event` sees text and reasoning deltas, complete tool calls and tool results as they
    /// happen (on this thread). `cancel` is checked before every model call and tool batch and
    /// handed to the model and the tools; once set the invocation ends with
    /// [`AgentError::Cancelled`], leaving the session consistent. Blocks: run it on a worker
    /// thread.
    pub fn invoke(
        &self,
        session_id: &str,
        prompt: Prompt,
        cancel: &CancelToken,
        on_event: &mut dyn FnMut(AgentEvent<'_>),
    ) -> Result<AgentResult, AgentError> {
        self.invoke_traced(session_id, prompt, cancel, &TraceContext::NONE, on_event)
    }

    /// [`Agent::invoke`] under a parent span (the request's server span): the invocation's
    /// `invoke_agent` span is its child, or a root span without one.
    pub fn invoke_traced(
        &self,
        session_id: &str,
        prompt: Prompt,
        cancel: &CancelToken,
        parent: &TraceContext,
        on_event: &mut dyn FnMut(AgentEvent<'_>),
    ) -> Result<AgentResult, AgentError> {
        validate_session_id(session_id).map_err(|kind| SessionError::new(session_id, None, kind))?;
        let prompt = prompt.into_message()?;
        if cancel.is_cancelled() {
            return Err(AgentError::Cancelled);
        }
        let structured_output = self.settings.structured_output.as_ref();
        let tools = ToolLease::acquire(&self.tools, structured_output, session_id)?;
        let spans = Spans {
            tracer: &self.settings.tracer,
            session_id,
            model_id: self.settings.model.model_id(),
            system_prompt: self.settings.system_prompt.as_deref(),
        };
        let agent_span = if self.settings.tracer.is_enabled() {
            let specs = tools.registry.specs();
            let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            spans.agent(&self.settings.name, &names, &prompt, parent)
        } else {
            Span::NONE
        };
        let agent_context = agent_span.context();
        let outcome = self.run_in_session(
            session_id,
            prompt,
            &tools.registry,
            cancel,
            &spans,
            &agent_context,
            on_event,
        );
        spans.end_agent(agent_span, &outcome);
        outcome
    }

    /// Replaces the tracer (for an agent built by [`Agent::from_config`]).
    pub fn set_tracer(&mut self, tracer: Tracer) {
        self.settings.tracer = tracer;
    }

    /// Tracer the invocations report to.
    pub fn tracer(&self) -> &Tracer {
        &self.settings.tracer
    }

    /// The agent's name (its `invoke_agent` span).
    pub fn name(&self) -> &str {
        &self.settings.name
    }

    #[allow(clippy::too_many_arguments)]
    fn run_in_session(
        &self,
        session_id: &str,
        prompt: crate::types::Message,
        registry: &ToolRegistry,
        cancel: &CancelToken,
        spans: &Spans<'_>,
        agent_context: &TraceContext,
        on_event: &mut dyn FnMut(AgentEvent<'_>),
    ) -> Result<AgentResult, AgentError> {
        let start = self.open_session(session_id)?;
        let mut run = Run::new(
            &self.settings,
            session_id,
            start,
            registry,
            cancel,
            spans,
            agent_context,
        );
        let outcome = run.run(prompt, on_event);
        // Strands' `finally`: the window is applied and saved after errors too.
        let closed = run.close();
        match (outcome, closed) {
            (Ok(result), Ok(())) => Ok(result),
            (Ok(_), Err(e)) => Err(e),
            (Err(e), Ok(())) => Err(e),
            (Err(e), Err(close_error)) => {
                crate::logging::warn("could not save the session after a failed invocation")
                    .str("session_id", session_id)
                    .str("error", &close_error.to_string())
                    .emit();
                Err(e)
            }
        }
    }

    /// Takes the session and restores the agent from it: its window state, its history with
    /// broken tool pairs repaired (the stores return it as stored).
    fn open_session(&self, session_id: &str) -> Result<Start, SessionError> {
        let mut window = self.window.clone();
        let initial = AgentSnapshot::new(json!({}), window.state());
        let opened = self
            .store
            .open(session_id, &self.agent_id, self.lock_wait, &initial)?;
        let (snapshot, messages) = match opened.restored {
            Some(restored) => {
                window
                    .restore(&restored.conversation_manager_state)
                    .map_err(|e| {
                        SessionError::new(session_id, None, SessionErrorKind::corrupt_by(e.to_string(), e))
                    })?;
                let snapshot = restored.snapshot();
                let mut messages = restored.messages;
                fix_broken_tool_pairs(&mut messages);
                (snapshot, messages)
            }
            None => (initial, Vec::new()),
        };
        Ok(Start {
            writer: opened.writer,
            window,
            snapshot,
            messages,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_is_shareable() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Agent>();
    }
}

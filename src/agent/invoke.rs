//! [`Agent`] and [`Agent::invoke`]: one Strands invocation on a fresh `Agent` object with a
//! session manager, which is what the Python runtime does per request.

use std::fmt;
use std::time::Duration;

use serde_json::json;

use crate::agent::client_tools::{ClientTools, Next, StoredSession};
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
use crate::types::{CancelToken, Message};

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
        let mut prompt = Some(prompt.into_message()?);
        self.invoke_inner(
            session_id,
            &ClientTools::default(),
            &mut |_| Ok(prompt.take()),
            cancel,
            parent,
            on_event,
        )
    }

    /// [`Agent::invoke`] with tools the caller runs itself (see [`ClientTools`]) and a prompt
    /// decided once the session is taken: `decide` sees the stored session before anything is
    /// appended, may put client results in place of their placeholders
    /// ([`StoredSession::replace_placeholder`]) and change `agent.state`, and says how to go
    /// on ([`Next`]). A call to a client tool ends the invocation after its batch, with stop
    /// reason `tool_use` and the placeholder results stored. An error from `decide` ends the
    /// invocation with it, the session as `decide` left it. `parent` is the span the
    /// invocation's `invoke_agent` span goes under ([`TraceContext::NONE`] for a root span).
    pub fn invoke_with(
        &self,
        session_id: &str,
        client: &ClientTools,
        decide: &mut dyn FnMut(&mut StoredSession<'_>) -> Result<Next, AgentError>,
        cancel: &CancelToken,
        parent: &TraceContext,
        on_event: &mut dyn FnMut(AgentEvent<'_>),
    ) -> Result<AgentResult, AgentError> {
        let mut decide = |stored: &mut StoredSession<'_>| -> Result<Option<Message>, AgentError> {
            match decide(stored)? {
                Next::Prompt(prompt) => prompt.into_message().map(Some),
                Next::Continue => Ok(None),
            }
        };
        self.invoke_inner(session_id, client, &mut decide, cancel, parent, on_event)
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

    fn invoke_inner(
        &self,
        session_id: &str,
        client: &ClientTools,
        decide: &mut dyn FnMut(&mut StoredSession<'_>) -> Result<Option<Message>, AgentError>,
        cancel: &CancelToken,
        parent: &TraceContext,
        on_event: &mut dyn FnMut(AgentEvent<'_>),
    ) -> Result<AgentResult, AgentError> {
        validate_session_id(session_id).map_err(|kind| SessionError::new(session_id, None, kind))?;
        if cancel.is_cancelled() {
            return Err(AgentError::Cancelled);
        }
        let structured_output = self.settings.structured_output.as_ref();
        let tools = ToolLease::acquire(&self.tools, structured_output, session_id)?;
        refuse_colliding_client_tools(client, &tools.registry, structured_output)?;
        let spans = Spans {
            tracer: &self.settings.tracer,
            session_id,
            model_id: self.settings.model.model_id(),
            system_prompt: self.settings.system_prompt.as_deref(),
        };
        // Started before the session is taken, so a lock timeout or a store failure is on it.
        let mut agent_span = if self.settings.tracer.is_enabled() {
            let specs = tools.registry.specs();
            let names: Vec<&str> = specs
                .iter()
                .chain(client.specs.iter())
                .map(|s| s.name.as_str())
                .collect();
            spans.agent(&self.settings.name, &names, parent)
        } else {
            Span::NONE
        };
        let agent_context = agent_span.context();
        let outcome = self.run_in_session(
            session_id,
            client,
            decide,
            &tools.registry,
            cancel,
            &spans,
            (&mut agent_span, &agent_context),
            on_event,
        );
        spans.end_agent(agent_span, &outcome);
        outcome
    }

    #[allow(clippy::too_many_arguments)]
    fn run_in_session(
        &self,
        session_id: &str,
        client: &ClientTools,
        decide: &mut dyn FnMut(&mut StoredSession<'_>) -> Result<Option<Message>, AgentError>,
        registry: &ToolRegistry,
        cancel: &CancelToken,
        spans: &Spans<'_>,
        (agent_span, agent_context): (&mut Span, &TraceContext),
        on_event: &mut dyn FnMut(AgentEvent<'_>),
    ) -> Result<AgentResult, AgentError> {
        let mut start = self.open_session(session_id, agent_context)?;
        let prompt = {
            let mut stored = StoredSession {
                messages: &mut start.messages,
                first_index: start.snapshot.removed_message_count(),
                state: &mut start.snapshot.state,
                writer: start.writer.as_mut(),
            };
            decide(&mut stored)
        };
        // The history is repaired once `decide` has seen (and corrected) it as stored, where
        // each message's place is its place in the store.
        fix_broken_tool_pairs(&mut start.messages);
        let prompt = match prompt {
            Ok(prompt) => prompt,
            Err(e) => {
                start.writer.sync_agent(&start.snapshot)?;
                return Err(e);
            }
        };
        spans.agent_prompt(agent_span, prompt.as_ref());
        let mut run = Run::new(
            &self.settings,
            session_id,
            start,
            registry,
            client,
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

    /// Takes the session and restores the agent from it: its window state, its history as
    /// stored (the caller repairs broken tool pairs). The store's calls for the session carry
    /// `trace`, the `invoke_agent` span.
    fn open_session(&self, session_id: &str, trace: &TraceContext) -> Result<Start, SessionError> {
        let mut window = self.window.clone();
        let initial = AgentSnapshot::new(json!({}), window.state());
        let opened = self
            .store
            .open_traced(session_id, &self.agent_id, self.lock_wait, &initial, trace)?;
        let (snapshot, messages) = match opened.restored {
            Some(restored) => {
                window
                    .restore(&restored.conversation_manager_state)
                    .map_err(|e| {
                        SessionError::new(session_id, None, SessionErrorKind::corrupt_by(e.to_string(), e))
                    })?;
                (restored.snapshot(), restored.messages)
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

/// A client tool named like one of the agent's (or the structured-output tool) would never be
/// the one that runs: refused before anything is stored. ag-ui-strands keeps the server's tool
/// and still tells the client to run the call (and ends the run), so both would run it.
fn refuse_colliding_client_tools(
    client: &ClientTools,
    registry: &ToolRegistry,
    structured_output: Option<&OutputSchema>,
) -> Result<(), AgentError> {
    let key = |name: &str| name.replace('-', "_");
    let server: Vec<String> = registry
        .specs()
        .iter()
        .map(|spec| key(&spec.name))
        .chain(structured_output.map(|schema| key(schema.name())))
        .collect();
    let mut seen = std::collections::HashSet::new();
    for spec in &client.specs {
        if server.contains(&key(&spec.name)) {
            return Err(AgentError::InvalidInput {
                message: format!(
                    "the client tool '{}' has the name of one of the agent's tools: rename it (the agent's own tool would run, never the client's)",
                    spec.name
                ),
            });
        }
        if !seen.insert(key(&spec.name)) {
            return Err(AgentError::InvalidInput {
                message: format!("two client tools are named '{}'", spec.name),
            });
        }
    }
    Ok(())
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

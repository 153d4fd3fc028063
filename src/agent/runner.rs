//! [`Agent`]: Strands' agent loop (`../shared/spec/strands-agent.md` §3) over a session store.
//!
//! One [`Agent::invoke`] is one Strands invocation on a fresh `Agent` object with a session
//! manager, which is what the Python runtime does per request:
//!
//! 1. lock the session (one invocation per session at a time, across threads and processes),
//!    restore its history and window state (tool pairs are repaired on restore);
//! 2. if the history ends with tool calls, append "Tool was interrupted." results; append the
//!    prompt;
//! 3. cycle: call the model with the history and the tool specs; append its message (with
//!    `metadata` and a `tracking_id`); run the tool calls concurrently and append their results in
//!    call order as one user message; repeat until the model stops calling tools;
//! 4. on a context overflow, trim (or truncate tool results), save the window state and retry;
//! 5. finally, also after errors, apply the window and save its state.
//!
//! Every appended message is written to the session as it is appended, followed by an
//! `agent.json` sync, as Strands' session manager does, so the files match Strands' byte for byte
//! (timestamps, tracking ids and timings aside).
//!
//! Where we knowingly differ from Strands:
//! - Structured output has an attempt cap ([`AgentBuilder::structured_output_max_attempts`]);
//!   Strands lets the model retry forever.
//! - Cancellation ends the invocation with [`AgentError::Cancelled`] instead of a result with stop
//!   reason `cancelled`; the history is left as Strands leaves it (pending tool calls get
//!   "Tool execution cancelled" error results).
//! - A model reply whose stop reason is `tool_use` but that holds no tool call ends the turn like
//!   `end_turn`; Strands appends an empty user message and calls the model again.
//! - The partial message kept after `max_tokens` is stored with our key order (`role` first);
//!   Strands rebuilds that one message as `{"content", "role", ...}`.
//! - A prompt must hold content and no tool blocks; Strands treats an empty block list as
//!   "continue the conversation".

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

use crate::agent::conversation::{SlidingWindow, fix_broken_tool_pairs, interrupted_results_for};
use crate::agent::error::AgentError;
use crate::agent::events::AgentEvent;
use crate::model::{ChatModel, ModelError, ModelRequest, ModelStreamEvent, StopReason, ToolChoice};
use crate::session::memory::{MemorySession, MemoryStore};
use crate::session::{
    AgentSession, AgentSnapshot, DEFAULT_AGENT_ID, FileSessionStore, RestoredAgent, SessionError,
    SessionErrorKind, SessionLock, validate_agent_id, validate_session_id,
};
use crate::structured::{FORCE_PROMPT, OutputSchema};
use crate::tools::{Tool, ToolContext, ToolError, ToolProvider, ToolRegistry, ToolSpec};
use crate::types::CancelToken;
use crate::types::{ContentBlock, Message, MessageMetadata, Role, ToolResult, ToolUse, Usage};

/// The error text a tool call gets when the invocation is cancelled before it runs (Strands').
const TOOL_CANCELLED_TEXT: &str = "Tool execution cancelled";

/// Strands' text when a forced structured-output turn ends with text that is not a JSON object.
const NO_STRUCTURED_OUTPUT_TEXT: &str = "The model did not produce structured output: it neither called the structured output tool nor returned a JSON object.";

/// The stop reason of an invocation ended by [`AgentBuilder::max_cycles`] (Strands 1.62 `limits`).
pub const LIMIT_TURNS: &str = "limit_turns";

/// What the caller asks: Strands' `str` prompt or a list of content blocks (text, image, document).
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// `agent("...")`: one text block.
    Text(String),
    /// `agent([{"text": ...}, {"image": ...}])`: these blocks as one user message.
    Blocks(Vec<ContentBlock>),
}

impl From<&str> for Prompt {
    fn from(text: &str) -> Self {
        Prompt::Text(text.to_string())
    }
}

impl From<String> for Prompt {
    fn from(text: String) -> Self {
        Prompt::Text(text)
    }
}

impl Prompt {
    fn into_message(self) -> Result<Message, AgentError> {
        let content = match self {
            Prompt::Text(text) => vec![ContentBlock::Text(text)],
            Prompt::Blocks(blocks) => blocks,
        };
        let invalid = |message: &str| AgentError::InvalidInput {
            message: message.to_string(),
        };
        if content.is_empty() {
            return Err(invalid("the prompt has no content blocks"));
        }
        if content
            .iter()
            .any(|b| matches!(b, ContentBlock::ToolUse(_) | ContentBlock::ToolResult(_)))
        {
            return Err(invalid("a prompt cannot hold toolUse or toolResult blocks"));
        }
        Ok(Message::new(Role::User, content))
    }
}

/// How an invocation ended (Strands' `AgentResult`).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentResult {
    /// `end_turn`, `tool_use` (structured output delivered by its tool), `stop_sequence`,
    /// `content_filtered`, or [`LIMIT_TURNS`].
    pub stop_reason: String,
    /// The last model message (for `limit_turns`, the last message of the history).
    pub message: Message,
    /// Token usage summed over this invocation's model calls.
    pub usage: Usage,
    /// The structured output, shaped as pydantic's `model_dump()`, when one was requested.
    pub structured_output: Option<Value>,
    /// Model calls that returned a message in this invocation.
    pub model_calls: usize,
}

impl AgentResult {
    /// Strands' `str(result)`: the structured output as compact JSON (pydantic's
    /// `model_dump_json()`), else every text block of the message followed by `"\n"`.
    pub fn text(&self) -> String {
        match &self.structured_output {
            Some(output) => crate::pyjson::to_string_compact(output),
            None => self.message.text_for_result(),
        }
    }

    /// What the Python seed app returns: the structured output, else `{"response": text()}`.
    pub fn response_value(&self) -> Value {
        match &self.structured_output {
            Some(output) => output.clone(),
            None => json!({ "response": self.text() }),
        }
    }
}

/// Where tools come from, in registration order (the order the model sees them in).
enum ToolSource {
    Tool(Arc<dyn Tool>),
    Provider(Arc<dyn ToolProvider>),
}

enum Store {
    File(FileSessionStore),
    Memory(MemoryStore),
}

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
    model: Arc<dyn ChatModel>,
    system_prompt: Option<String>,
    tools: Vec<ToolSource>,
    window: SlidingWindow,
    structured_output: Option<OutputSchema>,
    structured_output_max_attempts: usize,
    max_cycles: Option<usize>,
    store: Store,
    agent_id: String,
    lock_wait: Duration,
}

impl fmt::Debug for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Agent")
            .field("model", &self.model.model_id())
            .field("agent_id", &self.agent_id)
            .field("window_size", &self.window.window_size)
            .field(
                "structured_output",
                &self.structured_output.as_ref().map(OutputSchema::name),
            )
            .field("max_cycles", &self.max_cycles)
            .field(
                "session_root",
                &match &self.store {
                    Store::File(store) => Some(store.root()),
                    Store::Memory(_) => None,
                },
            )
            .finish_non_exhaustive()
    }
}

/// Configures an [`Agent`]; start with [`Agent::builder`].
pub struct AgentBuilder {
    model: Arc<dyn ChatModel>,
    system_prompt: Option<String>,
    tools: Vec<ToolSource>,
    window_size: usize,
    structured_output: Option<OutputSchema>,
    structured_output_max_attempts: usize,
    max_cycles: Option<usize>,
    store: Option<FileSessionStore>,
    agent_id: String,
    lock_wait: Duration,
}

impl Agent {
    /// A builder with Strands' defaults where the runtime has no reason to differ: no system
    /// prompt, no tools, a window of 20 messages (the design's value), no structured output,
    /// no cycle limit, agent id `default`, sessions kept in memory, 30 s session-lock wait.
    pub fn builder(model: Arc<dyn ChatModel>) -> AgentBuilder {
        AgentBuilder {
            model,
            system_prompt: None,
            tools: Vec::new(),
            window_size: 20,
            structured_output: None,
            structured_output_max_attempts: 3,
            max_cycles: None,
            store: None,
            agent_id: DEFAULT_AGENT_ID.to_string(),
            lock_wait: Duration::from_secs(30),
        }
    }

    /// The model's id (for logs and final events).
    pub fn model_id(&self) -> &str {
        self.model.model_id()
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
    /// `on_event` sees text and reasoning deltas, complete tool calls and tool results as they
    /// happen (on this thread). `cancel` is checked before every model call and tool batch and
    /// handed to tools; once set the invocation ends with [`AgentError::Cancelled`], leaving the
    /// session consistent. Blocks: run it on a worker thread.
    pub fn invoke(
        &self,
        session_id: &str,
        prompt: Prompt,
        cancel: &CancelToken,
        on_event: &mut dyn FnMut(AgentEvent<'_>),
    ) -> Result<AgentResult, AgentError> {
        validate_session_id(session_id).map_err(|kind| SessionError::new(session_id, None, kind))?;
        let prompt = prompt.into_message()?;
        if cancel.is_cancelled() {
            return Err(AgentError::Cancelled);
        }
        let tools = ToolLease::acquire(self, session_id)?;

        let mut window = self.window.clone();
        let initial = AgentSnapshot::new(json!({}), window.state());
        let (persist, restored) = self.open_session(session_id, &initial)?;
        let (snapshot, messages) = match restored {
            Some(restored) => {
                window
                    .restore(&restored.conversation_manager_state)
                    .map_err(|e| {
                        SessionError::new(
                            session_id,
                            None,
                            SessionErrorKind::Corrupt {
                                detail: e.to_string(),
                            },
                        )
                    })?;
                let snapshot = restored.snapshot();
                let mut messages = restored.messages;
                fix_broken_tool_pairs(&mut messages);
                (snapshot, messages)
            }
            None => (initial, Vec::new()),
        };
        let mut run = Run {
            agent: self,
            session_id,
            persist,
            window,
            snapshot,
            messages,
            tools: &tools.registry,
            specs: tools.registry.specs(),
            cancel,
            usage: Usage::default(),
            model_calls: 0,
        };
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

    fn open_session(
        &self,
        session_id: &str,
        initial: &AgentSnapshot,
    ) -> Result<(Persist, Option<RestoredAgent>), SessionError> {
        match &self.store {
            Store::File(store) => {
                let lock = store.lock(session_id, self.lock_wait)?;
                let mut session = store.open_agent(session_id, &self.agent_id)?;
                let restored = session.restore(initial)?;
                Ok((
                    Persist::File {
                        session: Box::new(session),
                        _lock: lock,
                    },
                    restored,
                ))
            }
            Store::Memory(store) => {
                let (session, restored) = store.open(session_id, self.lock_wait, initial)?;
                Ok((Persist::Memory(session), restored))
            }
        }
    }
}

impl AgentBuilder {
    /// The system prompt, sent as the first (`system`) message of every model call.
    pub fn system_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.system_prompt = Some(prompt.into());
        self
    }

    /// Adds a provider whose tools every invocation gets (asked per invocation, by session).
    pub fn tool_provider(mut self, provider: Arc<dyn ToolProvider>) -> Self {
        self.tools.push(ToolSource::Provider(provider));
        self
    }

    /// Adds one tool.
    pub fn tool(mut self, tool: Arc<dyn Tool>) -> Self {
        self.tools.push(ToolSource::Tool(tool));
        self
    }

    /// Messages the conversation window keeps after each invocation (Strands'
    /// `SlidingWindowConversationManager(window_size=...)`). Default 20.
    pub fn window_size(mut self, window_size: usize) -> Self {
        self.window_size = window_size;
        self
    }

    /// Asks for structured output: the model answers by calling a tool whose input schema is
    /// `schema` (spec §5).
    pub fn structured_output(mut self, schema: OutputSchema) -> Self {
        self.structured_output = Some(schema);
        self
    }

    /// Invalid structured outputs tolerated per invocation: the `n`th one ends the invocation
    /// with [`AgentError::StructuredOutput`]. Default 3; Strands has no cap.
    pub fn structured_output_max_attempts(mut self, n: usize) -> Self {
        self.structured_output_max_attempts = n;
        self
    }

    /// At most this many model cycles per invocation; reaching it ends the invocation with stop
    /// reason [`LIMIT_TURNS`] (Strands 1.62 `limits={"turns": n}`). Default `None`: no limit.
    pub fn max_cycles(mut self, max_cycles: Option<usize>) -> Self {
        self.max_cycles = max_cycles;
        self
    }

    /// Keeps sessions in Strands' file layout under the store's root. Without it, sessions live
    /// in memory for as long as the agent.
    pub fn session_store(mut self, store: FileSessionStore) -> Self {
        self.store = Some(store);
        self
    }

    /// The agent id inside each session (directory `agent_<id>`). Default `default`.
    pub fn agent_id(mut self, agent_id: impl Into<String>) -> Self {
        self.agent_id = agent_id.into();
        self
    }

    /// How long an invocation waits for another invocation of the same session to finish
    /// before failing with a lock timeout (409). Default 30 s.
    pub fn session_lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// Checks the configuration: a valid agent id, at least one structured-output attempt,
    /// a positive cycle limit, and no two fixed tools (or a tool and the structured-output tool)
    /// with the same name.
    pub fn build(self) -> Result<Agent, AgentError> {
        let invalid = |message: String| AgentError::InvalidConfig { message };
        validate_agent_id(&self.agent_id)
            .map_err(|kind| invalid(format!("agent id {:?}: {kind}", self.agent_id)))?;
        if self.structured_output_max_attempts == 0 {
            return Err(invalid(
                "structured_output_max_attempts must be at least 1".into(),
            ));
        }
        if self.max_cycles == Some(0) {
            return Err(invalid("max_cycles must be at least 1".into()));
        }
        let mut fixed = ToolRegistry::new();
        for source in &self.tools {
            if let ToolSource::Tool(tool) = source {
                fixed.register(tool.clone()).map_err(|e| invalid(e.message))?;
            }
        }
        if let Some(schema) = &self.structured_output
            && fixed.get(schema.name()).is_some()
        {
            return Err(invalid(format!(
                "tool {:?} has the name of the structured output tool",
                schema.name()
            )));
        }
        Ok(Agent {
            model: self.model,
            system_prompt: self.system_prompt,
            tools: self.tools,
            window: SlidingWindow::new(self.window_size),
            structured_output: self.structured_output,
            structured_output_max_attempts: self.structured_output_max_attempts,
            max_cycles: self.max_cycles,
            store: match self.store {
                Some(store) => Store::File(store),
                None => Store::Memory(MemoryStore::default()),
            },
            agent_id: self.agent_id,
            lock_wait: self.lock_wait,
        })
    }
}

/// The tools of one invocation; tells the providers when the invocation is over.
struct ToolLease<'a> {
    registry: ToolRegistry,
    providers: Vec<&'a Arc<dyn ToolProvider>>,
    session_id: &'a str,
}

impl<'a> ToolLease<'a> {
    fn acquire(agent: &'a Agent, session_id: &'a str) -> Result<Self, AgentError> {
        let mut lease = ToolLease {
            registry: ToolRegistry::new(),
            providers: Vec::new(),
            session_id,
        };
        for source in &agent.tools {
            let tools = match source {
                ToolSource::Tool(tool) => vec![tool.clone()],
                ToolSource::Provider(provider) => {
                    let tools = provider
                        .tools_for(session_id)
                        .map_err(AgentError::ToolsUnavailable)?;
                    lease.providers.push(provider);
                    tools
                }
            };
            for tool in tools {
                lease
                    .registry
                    .register(tool)
                    .map_err(AgentError::ToolsUnavailable)?;
            }
        }
        if let Some(schema) = &agent.structured_output
            && lease.registry.get(schema.name()).is_some()
        {
            return Err(AgentError::ToolsUnavailable(ToolError::new(
                schema.name(),
                "a tool has the name of the structured output tool",
            )));
        }
        Ok(lease)
    }
}

impl Drop for ToolLease<'_> {
    fn drop(&mut self) {
        for provider in &self.providers {
            provider.invocation_finished(self.session_id);
        }
    }
}

/// Where the invocation's messages go. Fields drop in order: the lock is released last.
enum Persist {
    File {
        session: Box<AgentSession>,
        _lock: SessionLock,
    },
    Memory(MemorySession),
}

impl Persist {
    fn append(&mut self, message: &Message) -> Result<(), SessionError> {
        match self {
            Persist::File { session, .. } => session.append_message(message),
            Persist::Memory(session) => {
                session.append(message);
                Ok(())
            }
        }
    }

    fn sync(&mut self, snapshot: &AgentSnapshot) -> Result<(), SessionError> {
        match self {
            Persist::File { session, .. } => session.sync_agent(snapshot),
            Persist::Memory(session) => {
                session.sync(snapshot);
                Ok(())
            }
        }
    }
}

/// One invocation in progress.
struct Run<'a> {
    agent: &'a Agent,
    session_id: &'a str,
    persist: Persist,
    window: SlidingWindow,
    snapshot: AgentSnapshot,
    messages: Vec<Message>,
    tools: &'a ToolRegistry,
    /// The registry's specs, in registration order.
    specs: Vec<ToolSpec>,
    cancel: &'a CancelToken,
    usage: Usage,
    model_calls: usize,
}

/// What one tool batch produced.
struct Batch {
    /// The user message of results, in Strands' order.
    message: Message,
    /// The first valid structured output of the batch.
    structured_output: Option<Value>,
    /// Calls of the structured-output tool that failed validation, with the last failure text.
    invalid_outputs: usize,
    last_invalid: Option<String>,
}

impl Run<'_> {
    fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Appends a message and persists it, then syncs `agent.json` (Strands' MessageAdded hook).
    fn append(&mut self, mut message: Message) -> Result<(), AgentError> {
        if message.tracking_id.is_none() {
            message.tracking_id = Some(crate::ids::uuid4());
        }
        self.persist.append(&message)?;
        self.messages.push(message);
        self.sync()
    }

    fn sync(&mut self) -> Result<(), AgentError> {
        self.snapshot.conversation_manager_state = self.window.state();
        self.persist.sync(&self.snapshot)?;
        Ok(())
    }

    /// The end-of-invocation trim and save.
    fn close(&mut self) -> Result<(), AgentError> {
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

    fn run(
        &mut self,
        prompt: Message,
        on_event: &mut dyn FnMut(AgentEvent<'_>),
    ) -> Result<AgentResult, AgentError> {
        if let Some(repair) = self.messages.last().and_then(interrupted_results_for) {
            self.append(repair)?;
        }
        self.append(prompt)?;

        let agent = self.agent;
        let schema = agent.structured_output.as_ref();
        let mut forced = false;
        let mut invalid_outputs = 0;
        let mut cycles = 0;
        loop {
            if agent.max_cycles.is_some_and(|limit| cycles >= limit)
                && let Some(last) = self.messages.last()
            {
                return Ok(self.result(LIMIT_TURNS, last.clone(), None));
            }
            if self.cancelled() {
                return Err(AgentError::Cancelled);
            }
            cycles += 1;
            let response = match self.call_model(forced, on_event) {
                Ok(response) => response,
                Err(ModelError::ContextOverflow { message }) => {
                    self.window
                        .reduce_context(&mut self.messages, true)
                        .map_err(|_| AgentError::ContextOverflow { message })?;
                    self.sync()?;
                    continue;
                }
                Err(ModelError::Cancelled) => return Err(AgentError::Cancelled),
                Err(e) => return Err(AgentError::Model(e)),
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
            self.append(message.clone())?;

            match response.stop_reason {
                StopReason::MaxTokens => return Err(AgentError::MaxTokensReached),
                StopReason::ToolUse if message.has_tool_use() => {
                    if self.cancelled() {
                        let results = self.cancelled_results(&message, on_event);
                        self.append(results)?;
                        return Err(AgentError::Cancelled);
                    }
                    let batch = self.run_tools(&message, on_event);
                    self.append(batch.message)?;
                    if let Some(output) = batch.structured_output {
                        return Ok(self.result(StopReason::ToolUse.as_str(), message, Some(output)));
                    }
                    invalid_outputs += batch.invalid_outputs;
                    if let (Some(schema), Some(last_error)) = (schema, batch.last_invalid)
                        && invalid_outputs >= agent.structured_output_max_attempts
                    {
                        return Err(AgentError::StructuredOutput {
                            message: format!(
                                "The model did not produce valid structured output for {} in {invalid_outputs} attempts. Last error: {last_error}",
                                schema.name()
                            ),
                        });
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
                    match schema {
                        Some(schema) if stop_reason == StopReason::EndTurn && forced => {
                            let output = structured_output_from_text(schema, &message)?;
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

    fn call_model(
        &self,
        forced: bool,
        on_event: &mut dyn FnMut(AgentEvent<'_>),
    ) -> Result<crate::model::ModelResponse, ModelError> {
        let schema = self.agent.structured_output.as_ref();
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
        let request = ModelRequest {
            system_prompt: self.agent.system_prompt.as_deref(),
            messages: &self.messages,
            tools: &specs,
            tool_choice: choice.as_ref(),
        };
        self.agent
            .model
            .converse(&request, self.cancel, &mut |event| match event {
                ModelStreamEvent::TextDelta(delta) => on_event(AgentEvent::TextDelta(delta)),
                ModelStreamEvent::ReasoningDelta(delta) => on_event(AgentEvent::ReasoningDelta(delta)),
                _ => {}
            })
    }

    /// Strands' answer to tool calls that a cancellation stopped before they ran.
    fn cancelled_results(&self, message: &Message, on_event: &mut dyn FnMut(AgentEvent<'_>)) -> Message {
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

    /// Runs the tool calls of `message`. Calls with invalid names get their error results first
    /// (Strands validates names before running anything), then the other calls' results follow
    /// in call order. The other calls run concurrently, one thread each.
    fn run_tools(&self, message: &Message, on_event: &mut dyn FnMut(AgentEvent<'_>)) -> Batch {
        let calls: Vec<&ToolUse> = message.tool_uses().collect();
        for call in &calls {
            on_event(AgentEvent::ToolUse(call));
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
        let schema = self.agent.structured_output.as_ref();
        let jobs: Vec<Job<'_>> = runnable
            .iter()
            .map(|call| match schema {
                Some(schema) if schema.name() == call.name => Job::Output(schema),
                _ => self.tools.get(&call.name).map_or(Job::Unknown, Job::Tool),
            })
            .collect();
        let context = ToolContext {
            session_id: self.session_id,
            cancel: self.cancel,
        };
        let outcomes = execute(&runnable, &jobs, &context, on_event);

        let mut batch = Batch {
            message: Message::new(Role::User, Vec::new()),
            structured_output: None,
            invalid_outputs: 0,
            last_invalid: None,
        };
        for (job, (result, output)) in jobs.iter().zip(outcomes) {
            if let Job::Output(_) = job {
                match output {
                    Some(output) if batch.structured_output.is_none() => {
                        batch.structured_output = Some(output)
                    }
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
}

/// What runs one tool call.
enum Job<'t> {
    Output(&'t OutputSchema),
    Tool(&'t Arc<dyn Tool>),
    Unknown,
}

type Outcome = (ToolResult, Option<Value>);

fn run_job(job: &Job<'_>, call: &ToolUse, context: &ToolContext<'_>) -> Outcome {
    let (mut result, output) = match job {
        Job::Output(schema) => schema.call(call),
        Job::Tool(tool) => match catch_unwind(AssertUnwindSafe(|| tool.call(call, context))) {
            Ok(result) => (result, None),
            Err(_) => (
                ToolResult::error(&call.tool_use_id, "Error: PanicException - tool panicked"),
                None,
            ),
        },
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
    on_event: &mut dyn FnMut(AgentEvent<'_>),
) -> Vec<Outcome> {
    let report = |on_event: &mut dyn FnMut(AgentEvent<'_>), call: &ToolUse, outcome: &Outcome| {
        on_event(AgentEvent::ToolResult {
            name: &call.name,
            result: &outcome.0,
        });
    };
    if calls.len() <= 1 {
        return calls
            .iter()
            .zip(jobs)
            .map(|(call, job)| {
                let outcome = run_job(job, call, context);
                report(on_event, call, &outcome);
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
                    let _ = thread_sender.send((index, run_job(job, call, context)));
                });
            if spawned.is_err() {
                // No thread to be had: run it here rather than fail the call.
                let _ = sender.send((index, run_job(job, call, context)));
            }
        }
        drop(sender);
        for (index, outcome) in receiver {
            if let (Some(call), Some(slot)) = (calls.get(index), slots.get_mut(index)) {
                report(on_event, call, &outcome);
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
            crate::types::ToolResultContent::Text(text) => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
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

/// Strands' `result_from_text`: a forced structured-output turn that ended with text must hold
/// exactly one JSON object that validates.
fn structured_output_from_text(schema: &OutputSchema, message: &Message) -> Result<Value, AgentError> {
    let text: String = message
        .content
        .iter()
        .filter_map(|block| match block {
            ContentBlock::Text(text) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let failed = |message: String| AgentError::StructuredOutput { message };
    let value = match serde_json::from_str::<Value>(&text) {
        Ok(value @ Value::Object(_)) => value,
        _ => return Err(failed(NO_STRUCTURED_OUTPUT_TEXT.to_string())),
    };
    match schema.validate(&value) {
        Ok(()) => Ok(schema.instantiate(&value)),
        Err(issues) => {
            let details: Vec<String> = issues
                .iter()
                .map(|issue| format!("{}: {}", issue.location(), issue.message))
                .collect();
            Err(failed(format!(
                "Structured output failed validation for {}: {}",
                schema.name(),
                details.join("; ")
            )))
        }
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

    #[test]
    fn prompts_need_content_and_no_tool_blocks() {
        assert!(Prompt::from("").into_message().is_ok());
        assert!(matches!(
            Prompt::Blocks(Vec::new()).into_message(),
            Err(AgentError::InvalidInput { .. })
        ));
        let tool_result = ContentBlock::ToolResult(ToolResult::text("x", "y"));
        assert!(matches!(
            Prompt::Blocks(vec![tool_result]).into_message(),
            Err(AgentError::InvalidInput { .. })
        ));
    }
}

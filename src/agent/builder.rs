//! [`AgentBuilder`]: an [`Agent`]'s configuration, checked once by [`AgentBuilder::build`].

use std::sync::Arc;
use std::time::Duration;

use crate::agent::conversation::SlidingWindow;
use crate::agent::error::AgentError;
use crate::agent::invoke::Agent;
use crate::agent::run::Settings;
use crate::agent::tools::ToolSource;
use crate::model::ChatModel;
use crate::session::{DEFAULT_AGENT_ID, MemorySessionStore, SessionStore, validate_agent_id};
use crate::structured::OutputSchema;
use crate::telemetry::Tracer;
use crate::tools::{Tool, ToolProvider, ToolRegistry};

/// Strands' `_DEFAULT_AGENT_NAME`.
pub const DEFAULT_AGENT_NAME: &str = "Strands Agents";

/// Configures an [`Agent`]; start with [`Agent::builder`].
pub struct AgentBuilder {
    model: Arc<dyn ChatModel>,
    system_prompt: Option<String>,
    tools: Vec<ToolSource>,
    window_size: usize,
    structured_output: Option<OutputSchema>,
    structured_output_max_attempts: usize,
    max_cycles: Option<usize>,
    store: Option<Box<dyn SessionStore>>,
    agent_id: String,
    lock_wait: Duration,
    name: String,
    tracer: Tracer,
}

impl Agent {
    /// A builder with Strands' defaults where the runtime has no reason to differ: no system
    /// prompt, no tools, a window of 20 messages (the design's value), no structured output,
    /// no cycle limit, agent id `default`, sessions kept in memory, 30 s session-lock wait,
    /// name `Strands Agents`, no tracing.
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
            name: DEFAULT_AGENT_NAME.to_string(),
            tracer: Tracer::disabled(),
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
    /// reason [`LIMIT_TURNS`](crate::agent::LIMIT_TURNS) (Strands 1.62 `limits={"turns": n}`).
    /// Default `None`: no limit.
    pub fn max_cycles(mut self, max_cycles: Option<usize>) -> Self {
        self.max_cycles = max_cycles;
        self
    }

    /// Where sessions are kept: a [`crate::session::FileSessionStore`] (Strands' file layout
    /// under its root), a shared `Arc` of a store, or any other [`SessionStore`]. Without it,
    /// sessions live in a [`MemorySessionStore`] for as long as the agent.
    pub fn session_store(mut self, store: impl SessionStore + 'static) -> Self {
        self.store = Some(Box::new(store));
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

    /// The agent's name: its `invoke_agent {name}` span and `gen_ai.agent.name` (Strands'
    /// `Agent(name=...)`; default `Strands Agents`, as Strands').
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Where the invocation's spans go (Strands' GenAI spans: `invoke_agent`, cycles, `chat`,
    /// `execute_tool`). Default [`Tracer::disabled`].
    pub fn tracer(mut self, tracer: Tracer) -> Self {
        self.tracer = tracer;
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
            settings: Settings {
                model: self.model,
                system_prompt: self.system_prompt,
                structured_output: self.structured_output,
                structured_output_max_attempts: self.structured_output_max_attempts,
                max_cycles: self.max_cycles,
                name: self.name,
                tracer: self.tracer,
            },
            tools: self.tools,
            window: SlidingWindow::new(self.window_size),
            store: self.store.unwrap_or_else(|| Box::new(MemorySessionStore::new())),
            agent_id: self.agent_id,
            lock_wait: self.lock_wait,
        })
    }
}

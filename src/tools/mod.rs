//! Tools: the registry the agent loop calls through, and the providers that fill it.
//!
//! A `Tool` is anything the model can call: an MCP server's tool (`mcp`), or a Rust function a
//! library user registers (`FnTool`). A `ToolProvider` hands out the tools one invocation may use;
//! it gets the session id so MCP servers can be kept per session. Tools run on worker threads and
//! may block.

mod background;
pub mod mcp;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::telemetry::TraceContext;
use crate::types::{CancelToken, ToolResult, ToolUse};
// Re-exported: a tool implementation names its spec next to the trait.
pub use crate::types::ToolSpec;
pub use background::BackgroundStart;

/// Per-call context handed to a tool.
#[derive(Debug, Clone, Copy)]
pub struct ToolContext<'a> {
    /// The (sanitised) session id of the invocation.
    pub session_id: &'a str,
    /// Set when the invocation is being cancelled; long tools should check it.
    pub cancel: &'a CancelToken,
    /// The `execute_tool` span's context, for a tool that calls out (MCP over HTTP sends it as
    /// `traceparent`); `None` when tracing is off.
    pub trace: Option<&'a TraceContext>,
}

impl ToolContext<'_> {
    /// True once the invocation has been cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// A callable tool.
pub trait Tool: Send + Sync {
    /// The spec sent to the model.
    fn spec(&self) -> &ToolSpec;

    /// Runs the call and returns the result to feed back to the model. Failures are results with
    /// `status: error` whose text the model reads (Strands' texts, spec §3.1); this never panics
    /// on bad input.
    fn call(&self, tool_use: &ToolUse, ctx: &ToolContext<'_>) -> ToolResult;
}

/// The error underneath a tools error; shared, so that the error stays `Clone`.
pub type Cause = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Why a provider could not supply its tools.
///
/// Equality compares `source` and `message`, not the cause (its text is part of the message).
#[derive(Debug, Clone)]
pub struct ToolError {
    /// Which provider/server failed (e.g. the MCP server name). Not [`std::error::Error::source`]:
    /// that is the underlying error, when there is one.
    pub source: String,
    /// What went wrong.
    pub message: String,
    cause: Option<Cause>,
}

impl ToolError {
    /// An error of the provider or server `source`.
    pub fn new(source: impl Into<String>, message: impl Into<String>) -> Self {
        ToolError {
            source: source.into(),
            message: message.into(),
            cause: None,
        }
    }

    /// The same error, caused by `cause` (returned by [`std::error::Error::source`]).
    pub fn with_cause(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.cause = Some(Arc::new(cause));
        self
    }
}

impl PartialEq for ToolError {
    fn eq(&self, other: &Self) -> bool {
        (&self.source, &self.message) == (&other.source, &other.message)
    }
}

impl Eq for ToolError {}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.message)
    }
}

impl std::error::Error for ToolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|cause| cause as &(dyn std::error::Error + 'static))
    }
}

/// Supplies tools per invocation.
pub trait ToolProvider: Send + Sync {
    /// Tools for one invocation of `session_id`. Called on a worker thread at invocation start;
    /// may start servers. An `Err` fails the invocation with a clear error.
    fn tools_for(&self, session_id: &str) -> Result<Vec<Arc<dyn Tool>>, ToolError>;

    /// Called when the invocation that got tools from `tools_for` ends (per-request cleanup).
    fn invocation_finished(&self, _session_id: &str) {}

    /// Stops everything this provider started (servers, child processes). Idempotent.
    fn shutdown(&self) {}
}

/// The tools of one invocation, by name.
#[derive(Default, Clone)]
pub struct ToolRegistry {
    tools: Vec<Arc<dyn Tool>>,
    by_name: HashMap<String, usize>,
}

impl fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.tools.iter().map(|t| &t.spec().name))
            .finish()
    }
}

impl ToolRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        ToolRegistry::default()
    }

    /// Adds a tool. Two tools whose names are equal once `-` and `_` are treated alike are
    /// rejected, as Strands rejects them.
    pub fn register(&mut self, tool: Arc<dyn Tool>) -> Result<(), ToolError> {
        let name = tool.spec().name.clone();
        let key = name.replace('-', "_");
        if self.by_name.contains_key(&key) {
            return Err(ToolError::new(
                name.clone(),
                format!("duplicate tool name '{name}': two tools would have the same name"),
            ));
        }
        self.by_name.insert(key, self.tools.len());
        self.tools.push(tool);
        Ok(())
    }

    /// Removes a tool by exact name (used for the per-invocation structured-output tool).
    pub fn unregister(&mut self, name: &str) {
        self.tools.retain(|t| t.spec().name != name);
        self.by_name = self
            .tools
            .iter()
            .enumerate()
            .map(|(i, t)| (t.spec().name.replace('-', "_"), i))
            .collect();
    }

    /// Looks a tool up by the exact name the model used.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        let idx = *self.by_name.get(&name.replace('-', "_"))?;
        let tool = self.tools.get(idx)?;
        (tool.spec().name == name).then_some(tool)
    }

    /// Specs of all tools, in registration order.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools.iter().map(|t| t.spec().clone()).collect()
    }

    /// Number of tools.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// True when there are no tools.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }
}

type ToolFn = dyn Fn(&Value, &ToolContext<'_>) -> Result<Value, String> + Send + Sync;

/// A tool backed by a Rust closure, for library users.
///
/// The closure returns the result value or an error message. As in Strands, a string result is
/// sent as is, any other value as its JSON text (`json.dumps` style), and an error becomes the
/// error result `Error: <message>`.
pub struct FnTool {
    spec: ToolSpec,
    func: Box<ToolFn>,
}

impl FnTool {
    /// Wraps `func` as a tool with the given name, description and input JSON schema.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        input_schema: Value,
        func: impl Fn(&Value, &ToolContext<'_>) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Self {
        FnTool {
            spec: ToolSpec {
                name: name.into(),
                description: description.into(),
                input_schema,
            },
            func: Box::new(func),
        }
    }
}

impl Tool for FnTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn call(&self, tool_use: &ToolUse, ctx: &ToolContext<'_>) -> ToolResult {
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.func)(&tool_use.input, ctx)));
        match outcome {
            Ok(Ok(Value::String(s))) => ToolResult::text(&tool_use.tool_use_id, s),
            Ok(Ok(v)) => ToolResult::text(&tool_use.tool_use_id, crate::pyjson::to_string(&v)),
            Ok(Err(msg)) => ToolResult::error(&tool_use.tool_use_id, format!("Error: {msg}")),
            Err(_) => ToolResult::error(&tool_use.tool_use_id, "Error: PanicException - tool panicked"),
        }
    }
}

/// A provider that always returns the same tools (Rust-native tools of a library user).
pub struct StaticTools(pub Vec<Arc<dyn Tool>>);

impl ToolProvider for StaticTools {
    fn tools_for(&self, _session_id: &str) -> Result<Vec<Arc<dyn Tool>>, ToolError> {
        Ok(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_errors_keep_their_cause_out_of_equality() {
        let plain = ToolError::new("calc", "MCP server failed: gone");
        let caused =
            ToolError::new("calc", "MCP server failed: gone").with_cause(std::io::Error::other("gone"));
        assert_eq!(plain, caused);
        assert_eq!(caused.to_string(), "calc: MCP server failed: gone");
        assert!(std::error::Error::source(&plain).is_none());
        let cause = std::error::Error::source(&caused).unwrap();
        assert!(cause.downcast_ref::<std::io::Error>().is_some());
    }
}

//! What a tool is to the MCP server: [`McpTools`] (a set of tools the server lists and calls),
//! the [`ToolCall`] a call runs with (request context, progress), and its [`CallResult`].

use serde_json::{Map, Value, json};

use crate::app::{EventSink, RequestContext};
use crate::error::Error;

/// A set of tools the server offers: one Rust function, the agent, or the agent's own tools.
/// Called on worker threads; `call` may block.
pub trait McpTools: Send + Sync {
    /// The tools' definitions as `tools/list` shows them (`name`, `description`,
    /// `inputSchema`, optionally `outputSchema`, `annotations`, ...). `ctx` is the request's
    /// (sets may depend on its session). An `Err` answers the `tools/list` with an internal
    /// error.
    fn list(&self, ctx: &RequestContext) -> Result<Vec<Value>, Error>;

    /// Calls `name` with `arguments`; `None` when `name` is not one of these tools (the next
    /// set is asked). Failures of the tool itself are results with `isError`, so the model that
    /// called it can read them.
    fn call(
        &self,
        name: &str,
        arguments: &Map<String, Value>,
        call: &mut ToolCall<'_, '_>,
    ) -> Option<CallResult>;
}

/// The result of `tools/call`: content blocks, optional structured content, and whether the
/// tool failed.
///
/// ```
/// use agentcore_rt::protocols::mcp::CallResult;
/// use serde_json::json;
///
/// let ok = CallResult::text("42").with_structured(json!({"answer": 42}));
/// assert_eq!(ok.to_json(), json!({
///     "content": [{"type": "text", "text": "42"}],
///     "structuredContent": {"answer": 42},
///     "isError": false
/// }));
/// assert_eq!(CallResult::error("no such city").to_json()["isError"], true);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CallResult {
    /// MCP content blocks (`{"type": "text", "text": ...}`, images, resources, ...).
    pub content: Vec<Value>,
    /// `structuredContent`: a JSON object matching the tool's `outputSchema`.
    pub structured_content: Option<Value>,
    /// The tool failed; `content` says why.
    pub is_error: bool,
}

impl CallResult {
    /// A successful result of one text block.
    pub fn text(text: impl Into<String>) -> CallResult {
        CallResult {
            content: vec![text_block(text.into())],
            ..CallResult::default()
        }
    }

    /// A failed result (`isError: true`) of one text block saying why.
    pub fn error(text: impl Into<String>) -> CallResult {
        CallResult {
            is_error: true,
            ..CallResult::text(text)
        }
    }

    /// The same result with `structuredContent`.
    pub fn with_structured(mut self, value: Value) -> CallResult {
        self.structured_content = Some(value);
        self
    }

    /// The `result` of the `tools/call` response.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("content".into(), Value::Array(self.content.clone()));
        if let Some(structured) = &self.structured_content {
            out.insert("structuredContent".into(), structured.clone());
        }
        out.insert("isError".into(), Value::Bool(self.is_error));
        Value::Object(out)
    }
}

/// A `{"type": "text", "text": ...}` content block.
pub(super) fn text_block(text: String) -> Value {
    json!({"type": "text", "text": text})
}

/// One `tools/call` as a tool sees it: the HTTP request's context and, when the client asked
/// for them (`_meta.progressToken`) and reads an SSE stream, progress notifications.
pub struct ToolCall<'c, 's> {
    ctx: &'c RequestContext,
    progress: Option<Progress<'c, 's>>,
}

struct Progress<'c, 's> {
    token: &'c Value,
    sink: &'c mut EventSink<'s>,
    last: f64,
}

impl<'c, 's> ToolCall<'c, 's> {
    /// A call without progress reporting.
    pub fn new(ctx: &'c RequestContext) -> ToolCall<'c, 's> {
        ToolCall { ctx, progress: None }
    }

    /// A call whose progress goes to `sink` as `notifications/progress` for `token`.
    pub(super) fn with_progress(
        ctx: &'c RequestContext,
        token: &'c Value,
        sink: &'c mut EventSink<'s>,
    ) -> Self {
        ToolCall {
            ctx,
            progress: Some(Progress {
                token,
                sink,
                last: f64::NEG_INFINITY,
            }),
        }
    }

    /// The HTTP request's context: headers, the runtime session id, cancellation.
    pub fn context(&self) -> &RequestContext {
        self.ctx
    }

    /// True when the client asked for progress and can receive it.
    pub fn wants_progress(&self) -> bool {
        self.progress.is_some()
    }

    /// Reports progress (the spec's `progress`, optional `total` and `message`). Sent only when
    /// the client asked for it; `progress` must grow with each call, so a value not above the
    /// last one is dropped. A client that has gone away cancels the request's token.
    pub fn progress(&mut self, progress: f64, total: Option<f64>, message: Option<&str>) {
        let Some(p) = &mut self.progress else { return };
        // NaN compares as not greater, so it is dropped too.
        let grows = progress.partial_cmp(&p.last) == Some(std::cmp::Ordering::Greater);
        if !grows || p.sink.is_closed() {
            return;
        }
        p.last = progress;
        let mut params = json!({"progressToken": p.token, "progress": progress});
        if let Some(total) = total {
            params["total"] = json!(total);
        }
        if let Some(message) = message {
            params["message"] = json!(message);
        }
        let note = json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": params});
        let _ = p
            .sink
            .send_serialized(crate::pyjson::to_string_compact(&note).into_bytes());
    }

    /// True once the client has gone away or the server is shutting down.
    pub fn is_cancelled(&self) -> bool {
        self.ctx.is_cancelled()
    }
}

/// One tool from a definition and a function ([`McpServer::tool`](super::McpServer::tool)).
pub(super) struct FnTool<F> {
    pub(super) definition: Value,
    pub(super) name: String,
    pub(super) run: F,
}

impl<F> McpTools for FnTool<F>
where
    F: Fn(&Map<String, Value>, &mut ToolCall<'_, '_>) -> Result<CallResult, Error> + Send + Sync,
{
    fn list(&self, _ctx: &RequestContext) -> Result<Vec<Value>, Error> {
        Ok(vec![self.definition.clone()])
    }

    fn call(
        &self,
        name: &str,
        arguments: &Map<String, Value>,
        call: &mut ToolCall<'_, '_>,
    ) -> Option<CallResult> {
        if name != self.name {
            return None;
        }
        Some((self.run)(arguments, call).unwrap_or_else(|e| CallResult::error(e.message())))
    }
}

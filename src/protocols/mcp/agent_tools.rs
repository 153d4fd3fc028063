//! The built-in agent behind the MCP server: the agent as one tool (`{query, session_id?}`),
//! and, when asked, the agent's own tools (its `MCP_CONFIG` servers) offered as they are.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::tool::{McpTools, ToolCall, text_block};
use super::{CallResult, McpServer};
use crate::agent::{Agent, AgentEvent, Prompt};
use crate::app::RequestContext;
use crate::app::agent_entrypoint::{NO_MODEL_MESSAGE, sanitize_session_id};
use crate::config::McpServerSettings;
use crate::error::Error;
use crate::tools::ToolContext;
use crate::types::{MediaSource, ToolResult, ToolResultContent, ToolStatus, ToolUse};

/// The MCP server the binary serves for `PROTOCOL=mcp`: the agent as a tool named
/// [`McpServerSettings::tool_name`], then (with [`McpServerSettings::expose_tools`]) the
/// agent's own tools. `agent: None` (no model configured) still lists the tool; calls answer
/// an `isError` result naming the variables to set.
pub fn server(agent: Option<Arc<Agent>>, settings: &McpServerSettings) -> McpServer {
    let mut server = McpServer::new(settings.server_name.clone(), env!("CARGO_PKG_VERSION"));
    let output_schema = agent
        .as_deref()
        .and_then(Agent::output_schema)
        .map(|s| s.json_schema().clone())
        // The spec wants an object at the root of an outputSchema (and structuredContent).
        .filter(|s| s.get("type").and_then(Value::as_str) == Some("object"));
    let mut definition = json!({
        "name": settings.tool_name,
        "description": settings.tool_description,
        "inputSchema": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to ask the agent."},
                "session_id": {
                    "type": "string",
                    "description": "The conversation to continue; default: the runtime session header, else \"default\"."
                }
            },
            "required": ["query"]
        }
    });
    if let Some(schema) = &output_schema {
        definition["outputSchema"] = schema.clone();
    }
    server.tools(Arc::new(AgentTool {
        agent: agent.clone(),
        name: settings.tool_name.clone(),
        definition,
        structured: output_schema.is_some(),
    }));
    if settings.expose_tools
        && let Some(agent) = agent
    {
        server.tools(Arc::new(AgentsTools { agent }));
    }
    server
}

/// The agent as one tool.
struct AgentTool {
    agent: Option<Arc<Agent>>,
    name: String,
    definition: Value,
    /// Answers carry `structuredContent` (an object output schema is set).
    structured: bool,
}

/// The session of a call: the argument, else the runtime session header, else `"default"`
/// (the `/invocations` rule), sanitised the same way.
fn session_of(arguments: &Map<String, Value>, ctx: &RequestContext) -> Result<String, String> {
    let from_arguments = match arguments.get("session_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err("Invalid session_id: must be a string".into()),
    };
    let raw = from_arguments
        .filter(|s| !s.is_empty())
        .or(ctx.session_id.as_deref().filter(|s| !s.is_empty()))
        .unwrap_or("default");
    sanitize_session_id(raw).map_err(|e| e.message().to_string())
}

impl McpTools for AgentTool {
    fn list(&self, _ctx: &RequestContext) -> Result<Vec<Value>, Error> {
        Ok(vec![self.definition.clone()])
    }

    fn call(
        &self,
        name: &str,
        arguments: &Map<String, Value>,
        call: &mut ToolCall<'_, '_>,
    ) -> Option<CallResult> {
        (name == self.name).then(|| self.ask(arguments, call))
    }
}

impl AgentTool {
    fn ask(&self, arguments: &Map<String, Value>, call: &mut ToolCall<'_, '_>) -> CallResult {
        // Input mistakes are results the calling model can read and fix (2025-11-25's rule).
        let query = match arguments.get("query") {
            Some(Value::String(q)) if !q.trim().is_empty() => q.clone(),
            _ => return CallResult::error("Missing required field: query"),
        };
        let ctx = call.context().clone();
        let session_id = match session_of(arguments, &ctx) {
            Ok(id) => id,
            Err(why) => return CallResult::error(why),
        };
        let Some(agent) = &self.agent else {
            return CallResult::error(NO_MODEL_MESSAGE);
        };
        let mut step = 0.0;
        let outcome = agent.invoke_traced(
            &session_id,
            Prompt::Text(query),
            ctx.cancel_token(),
            &ctx.trace,
            &mut |event| {
                if !call.wants_progress() {
                    return;
                }
                let message = match event {
                    AgentEvent::TextDelta(delta) => delta.to_string(),
                    AgentEvent::ToolUse(tool_use) => format!("calling tool {}", tool_use.name),
                    AgentEvent::ToolResult { name, result } => match result.status {
                        ToolStatus::Success => format!("tool {name} done"),
                        ToolStatus::Error => format!("tool {name} failed"),
                    },
                    _ => return,
                };
                step += 1.0;
                call.progress(step, None, Some(&message));
            },
        );
        match outcome {
            Ok(result) => {
                let answer = CallResult::text(result.text());
                match (&result.structured_output, self.structured) {
                    (Some(object), true) => answer.with_structured(object.clone()),
                    _ => answer,
                }
            }
            Err(e) => {
                let error = Error::from(e);
                crate::logging::warn("invocation failed")
                    .str("requestId", &ctx.request_id)
                    .str("sessionId", &session_id)
                    .str("error", &error.to_string())
                    .emit();
                CallResult::error(error.message())
            }
        }
    }
}

/// The agent's own tools, called as the agent would call them, for the session of the
/// request (the runtime session header, else `"default"`).
struct AgentsTools {
    agent: Arc<Agent>,
}

impl McpTools for AgentsTools {
    fn list(&self, ctx: &RequestContext) -> Result<Vec<Value>, Error> {
        let session_id = session_of(&Map::new(), ctx).map_err(Error::bad_request)?;
        let specs = self.agent.with_tools(&session_id, |tools| tools.specs())?;
        Ok(specs
            .into_iter()
            .map(|spec| json!({"name": spec.name, "description": spec.description, "inputSchema": spec.input_schema}))
            .collect())
    }

    fn call(
        &self,
        name: &str,
        arguments: &Map<String, Value>,
        call: &mut ToolCall<'_, '_>,
    ) -> Option<CallResult> {
        let ctx = call.context();
        let session_id = match session_of(&Map::new(), ctx) {
            Ok(id) => id,
            Err(why) => return Some(CallResult::error(why)),
        };
        let outcome = self.agent.with_tools(&session_id, |tools| {
            let tool = tools.get(name)?;
            let tool_use = ToolUse {
                tool_use_id: format!("mcp-{}", ctx.request_id),
                name: name.to_string(),
                input: Value::Object(arguments.clone()),
            };
            let tool_ctx = ToolContext {
                session_id: &session_id,
                cancel: ctx.cancel_token(),
                trace: ctx.trace.span.is_some().then_some(&ctx.trace),
            };
            Some(tool.call(&tool_use, &tool_ctx))
        });
        match outcome {
            Ok(found) => found.map(|result| from_tool_result(&result)),
            Err(e) => Some(CallResult::error(Error::from(e).message())),
        }
    }
}

/// A tool result back in MCP's terms: text as text, JSON as its text, images as base64
/// images, documents named, other blocks as their JSON text; `structuredContent` kept.
fn from_tool_result(result: &ToolResult) -> CallResult {
    let content = result
        .content
        .iter()
        .map(|item| match item {
            ToolResultContent::Text(text) => text_block(text.clone()),
            ToolResultContent::Json(value) => text_block(crate::pyjson::to_string_compact(value)),
            ToolResultContent::Image(image) => match &image.source {
                MediaSource::Base64(data) => {
                    json!({"type": "image", "data": data, "mimeType": format!("image/{}", image.format)})
                }
                MediaSource::Other(source) => text_block(crate::pyjson::to_string_compact(source)),
            },
            ToolResultContent::Document(document) => {
                let name = document.name.as_deref().unwrap_or("document");
                text_block(format!(
                    "[{name} ({}, {} bytes): documents are not passed through]",
                    document.format,
                    document.byte_len()
                ))
            }
            ToolResultContent::Other(block) => {
                text_block(crate::pyjson::to_string_compact(&Value::Object(block.clone())))
            }
        })
        .collect();
    CallResult {
        content,
        structured_content: result.extra.get("structuredContent").cloned(),
        is_error: result.status == ToolStatus::Error,
    }
}

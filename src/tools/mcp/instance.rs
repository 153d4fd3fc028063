//! A server's instances: an [`Instance`] is one started, initialized server with its cached
//! tool list; a [`Slot`] is the place one instance lives (see `provider` for who gets which
//! slot), starting it on first use and again after a crash, until it is retired; an
//! [`McpTool`] is a tool handed to one session, calling through its slot.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::client::McpClient;
use super::config::McpServerConfig;
use super::content;
use super::error::McpError;
use super::log::{Level, log};
use crate::sync::lock;
use crate::tools::{Tool, ToolContext, ToolSpec};
use crate::types::{ToolResult, ToolUse};

/// A tool as one instance lists it, with the spec the model sees.
pub(super) struct ToolDef {
    mcp_name: String,
    pub(super) spec: ToolSpec,
}

/// A started, initialized server connection and its cached tool list.
pub(super) struct Instance {
    pub(super) client: McpClient,
    pub(super) tools: Mutex<Option<Arc<Vec<Arc<ToolDef>>>>>,
}

impl Instance {
    /// Starts the server and lists its tools, all within `startup_timeout`.
    pub(super) fn start(config: &McpServerConfig) -> Result<Instance, McpError> {
        let deadline = Instant::now() + config.startup_timeout;
        let client = McpClient::connect(config, deadline)?;
        let instance = Instance {
            client,
            tools: Mutex::new(None),
        };
        // Discard a list_changed sent during start-up (server-everything sends one at once):
        // the list we are about to fetch is newer.
        instance.client.take_tools_changed();
        if let Err(e) = instance.list(config, deadline.saturating_duration_since(Instant::now())) {
            instance.client.close();
            return Err(e);
        }
        Ok(instance)
    }

    /// The tool list, re-fetched after a `tools/list_changed`.
    pub(super) fn tools(&self, config: &McpServerConfig) -> Result<Arc<Vec<Arc<ToolDef>>>, McpError> {
        let changed = self.client.take_tools_changed();
        if let Some(tools) = lock(&self.tools).as_ref().filter(|_| !changed) {
            return Ok(tools.clone());
        }
        match self.list(config, config.startup_timeout) {
            Ok(tools) => Ok(tools),
            Err(e) => match lock(&self.tools).as_ref() {
                Some(old) if self.client.is_alive() => {
                    log(
                        Level::Warn,
                        &config.name,
                        &format!("re-listing tools failed ({e}); keeping the old list"),
                    );
                    Ok(old.clone())
                }
                _ => Err(e),
            },
        }
    }

    fn list(&self, config: &McpServerConfig, timeout: Duration) -> Result<Arc<Vec<Arc<ToolDef>>>, McpError> {
        let raw = self.client.list_tools(timeout)?;
        let mut defs = Vec::with_capacity(raw.len());
        for tool in raw {
            let Some(name) = tool.get("name").and_then(Value::as_str) else {
                log(Level::Warn, &config.name, "ignoring a tool without a name");
                continue;
            };
            if !config.tool_filters.allows(name) {
                continue;
            }
            let description = match tool.get("description").and_then(Value::as_str) {
                Some(d) if !d.is_empty() => d.to_string(),
                _ => format!("Tool which performs {name}"),
            };
            let input_schema = match tool.get("inputSchema") {
                Some(schema @ Value::Object(_)) => schema.clone(),
                _ => json!({ "type": "object", "properties": {} }),
            };
            defs.push(Arc::new(ToolDef {
                mcp_name: name.to_string(),
                spec: ToolSpec {
                    name: config.tool_name(name),
                    description,
                    input_schema,
                },
            }));
        }
        let defs = Arc::new(defs);
        *lock(&self.tools) = Some(defs.clone());
        Ok(defs)
    }
}

/// One configured server and what is shared by all its slots.
pub(super) struct ServerDef {
    pub(super) config: McpServerConfig,
    /// The start-up probe's instance, waiting for its first `per-session`/`per-request` user.
    pub(super) spare: Mutex<Option<Instance>>,
    pub(super) stopping: Arc<AtomicBool>,
}

/// Where one instance lives (see the module docs).
pub(super) struct Slot {
    pub(super) server: Arc<ServerDef>,
    instance: Mutex<Option<Arc<Instance>>>,
    last_used: Mutex<Instant>,
    retired: AtomicBool,
}

impl Slot {
    pub(super) fn new(server: Arc<ServerDef>, instance: Option<Instance>) -> Arc<Slot> {
        Arc::new(Slot {
            server,
            instance: Mutex::new(instance.map(Arc::new)),
            last_used: Mutex::new(Instant::now()),
            retired: AtomicBool::new(false),
        })
    }

    pub(super) fn name(&self) -> &str {
        &self.server.config.name
    }

    pub(super) fn touch(&self) {
        *lock(&self.last_used) = Instant::now();
    }

    pub(super) fn idle_for(&self) -> Duration {
        lock(&self.last_used).elapsed()
    }

    /// The live instance, started (or restarted after a crash) when needed.
    pub(super) fn instance(&self) -> Result<Arc<Instance>, McpError> {
        self.touch();
        let mut guard = lock(&self.instance);
        // Checked under the lock `retire` takes, so nothing starts in a retired slot.
        if self.retired.load(Ordering::SeqCst) || self.server.stopping.load(Ordering::SeqCst) {
            return Err(McpError::other(format!(
                "MCP server '{}' has been stopped",
                self.name()
            )));
        }
        if let Some(instance) = guard.as_ref() {
            if instance.client.is_alive() {
                return Ok(instance.clone());
            }
            log(
                Level::Warn,
                self.name(),
                "server is gone; starting a new instance",
            );
            if let Some(dead) = guard.take() {
                dead.client.close();
            }
        }
        let instance = Arc::new(
            self.take_spare()
                .map_or_else(|| Instance::start(&self.server.config), Ok)?,
        );
        *guard = Some(instance.clone());
        Ok(instance)
    }

    fn take_spare(&self) -> Option<Instance> {
        let spare = lock(&self.server.spare).take()?;
        if spare.client.is_alive() {
            Some(spare)
        } else {
            spare.client.close();
            None
        }
    }

    /// Stops the instance for good; later uses of this slot fail.
    pub(super) fn retire(&self) {
        let instance = {
            let mut guard = lock(&self.instance);
            self.retired.store(true, Ordering::SeqCst);
            guard.take()
        };
        if let Some(instance) = instance {
            instance.client.close();
        }
    }

    pub(super) fn pid(&self) -> Option<u32> {
        lock(&self.instance).as_ref().and_then(|i| i.client.pid())
    }
}

/// An MCP tool handed to one session: calls go to that session's instance of its server.
pub(super) struct McpTool {
    pub(super) def: Arc<ToolDef>,
    pub(super) slot: Arc<Slot>,
}

impl Tool for McpTool {
    fn spec(&self) -> &ToolSpec {
        &self.def.spec
    }

    fn call(&self, tool_use: &ToolUse, ctx: &ToolContext<'_>) -> ToolResult {
        let id = &tool_use.tool_use_id;
        let config = &self.slot.server.config;
        let outcome = self.slot.instance().and_then(|instance| {
            let result = instance.client.call_tool(
                &self.def.mcp_name,
                &tool_use.input,
                config.call_timeout,
                Some(ctx.cancel),
                ctx.trace,
            )?;
            Ok(content::map_call_result(
                id,
                &result,
                &instance.client.server_info(),
            ))
        });
        self.slot.touch();
        match outcome {
            Ok(result) => result,
            Err(McpError::Cancelled) => {
                let mut result = content::error_result(id, McpError::Cancelled.to_string());
                result.extra.insert("cancelled".into(), Value::Bool(true));
                result
            }
            Err(e) => {
                log(
                    Level::Warn,
                    &config.name,
                    &format!("tool {} failed: {e}", self.def.mcp_name),
                );
                content::execution_failed(id, &e.to_string())
            }
        }
    }
}

//! Where an agent's tools come from ([`ToolSource`]) and the tools of one invocation
//! ([`ToolLease`]), which providers are told about when the invocation is over.

use std::sync::Arc;

use crate::agent::error::AgentError;
use crate::structured::OutputSchema;
use crate::tools::{Tool, ToolError, ToolProvider, ToolRegistry};

/// Where tools come from, in registration order (the order the model sees them in).
pub(super) enum ToolSource {
    Tool(Arc<dyn Tool>),
    Provider(Arc<dyn ToolProvider>),
}

/// The tools of one invocation; tells the providers when the invocation is over.
pub(super) struct ToolLease<'a> {
    pub(super) registry: ToolRegistry,
    providers: Vec<&'a Arc<dyn ToolProvider>>,
    session_id: &'a str,
}

impl<'a> ToolLease<'a> {
    /// Asks every source for `session_id`'s tools, refusing two with one name and a tool named
    /// like the structured-output tool.
    pub(super) fn acquire(
        sources: &'a [ToolSource],
        structured_output: Option<&OutputSchema>,
        session_id: &'a str,
    ) -> Result<Self, AgentError> {
        let mut lease = ToolLease {
            registry: ToolRegistry::new(),
            providers: Vec::new(),
            session_id,
        };
        for source in sources {
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
        if let Some(schema) = structured_output
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

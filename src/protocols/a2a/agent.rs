//! The built-in agent as an A2A [`Handler`](super::Handler): the message's text is the prompt,
//! the `contextId` the session, and the model's text deltas the artifact's chunks.

use std::sync::Arc;

use super::{A2aServer, Card};
use crate::agent::{Agent, AgentEvent, Prompt};
use crate::app::agent_entrypoint::NO_MODEL_MESSAGE;
use crate::error::Error;

impl A2aServer {
    /// The agent behind an A2A server. `None` (no model configured) still serves the card and
    /// `/ping`; messages then end as failed tasks saying what to configure.
    pub fn for_agent(card: Card, agent: Option<Arc<Agent>>) -> A2aServer {
        A2aServer::new(card, move |turn, cancel, on_delta| {
            let agent = agent
                .as_ref()
                .ok_or_else(|| Error::http(503, NO_MODEL_MESSAGE).with_type("ModelNotConfigured"))?;
            let result = agent.invoke_traced(
                &turn.session_id,
                Prompt::Text(turn.text.clone()),
                cancel,
                &turn.ctx.trace,
                &mut |event| {
                    if let AgentEvent::TextDelta(delta) = event {
                        on_delta(delta);
                    }
                },
            )?;
            Ok(result.text())
        })
    }
}

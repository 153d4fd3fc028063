//! [`Prompt`]: what the caller asks, and the user message it becomes.

use crate::agent::error::AgentError;
use crate::types::{ContentBlock, Message, Role};

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
    /// The user message, refusing what Strands would misread: no content (Strands takes an empty
    /// list as "continue the conversation") or tool blocks.
    pub(super) fn into_message(self) -> Result<Message, AgentError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ToolResult;

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

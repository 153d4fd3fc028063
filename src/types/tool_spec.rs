//! What the model is told about a tool.

use serde_json::Value;

/// What the model is told about a tool: name, description and JSON schema of its input.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// Name the model calls it by (after any prefix).
    pub name: String,
    /// Description shown to the model.
    pub description: String,
    /// JSON schema of the input object (normalised by the model client before sending).
    pub input_schema: Value,
}

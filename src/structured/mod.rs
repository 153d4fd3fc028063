//! Structured output: the model answers by calling a tool whose input schema is the output schema
//! (Strands' `structured_output_model=`, `tools/structured_output/`).
//!
//! Strands builds that tool from a pydantic class; this runtime takes the class's JSON schema
//! instead (`STRUCTURED_OUTPUT_SCHEMA`, e.g. the output of `Model.model_json_schema()`). From it,
//! [`OutputSchema`] gives what the agent loop needs: the tool spec Strands would register
//! ([`OutputSchema::tool_spec`], see `flatten` for how it is derived), validation of the tool input
//! ([`OutputSchema::validate`], see `schema`), and the exact texts fed back to the model.
//!
//! The loop itself (when to force the tool, when to stop) lives in the agent; this module only
//! knows schemas and texts.

mod check;
mod decimal;
mod error;
mod flatten;
mod issue;
mod python;
mod schema;

use std::collections::HashMap;

use regex_lite::Regex;
use serde_json::{Map, Value};

use crate::types::{ContentBlock, Message, ToolResult, ToolSpec, ToolUse};

pub use error::{SchemaError, StructuredOutputError};
pub use issue::{PathSegment, ValidationIssue};

/// The user message Strands appends when the model ended its turn with text instead of calling the
/// output tool; the following requests then force the tool (`structured_output_prompt` default).
pub const FORCE_PROMPT: &str = "You must format the previous response as structured output.";

/// An output schema: the structured-output tool's spec, its validator and its texts.
#[derive(Debug, Clone)]
pub struct OutputSchema {
    name: String,
    schema: Value,
    patterns: HashMap<String, Regex>,
    tool_spec: ToolSpec,
}

impl OutputSchema {
    /// Checks a JSON schema and derives the tool spec. The schema must be an object schema with a
    /// `title` that is a valid tool name; `$ref`s must be local and not recursive; patterns must
    /// compile; keywords the validator cannot honour (`if`/`then`/`else`, `contains`, ...) are
    /// refused.
    pub fn from_json_schema(schema: Value) -> Result<Self, SchemaError> {
        let Value::Object(root) = &schema else {
            return Err(SchemaError::NotAnObject);
        };
        let name = match root.get("title") {
            Some(Value::String(title)) => title.clone(),
            _ => return Err(SchemaError::MissingTitle),
        };
        let valid_name = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid_name {
            return Err(SchemaError::InvalidTitle { title: name });
        }
        match root.get("type") {
            None => {}
            Some(t) if t == "object" => {}
            Some(other) => {
                return Err(SchemaError::NotObjectType {
                    found: crate::pyjson::to_string(other),
                });
            }
        }
        let patterns = check::check(&schema)?;
        let input_schema = flatten::Flattener { root: &schema }.flatten(root)?;
        let description = match root.get("description").and_then(Value::as_str).map(str::trim) {
            Some(d) if !d.is_empty() => d.to_owned(),
            _ => format!("{name} structured output tool"),
        };
        let tool_spec = ToolSpec {
            name: name.clone(),
            description: format!(
                "IMPORTANT: This StructuredOutputTool should only be invoked as the last and final tool before returning the completed result to the caller. <description>{description}</description>"
            ),
            input_schema,
        };
        Ok(OutputSchema {
            name,
            schema,
            patterns,
            tool_spec,
        })
    }

    /// The schema's `title`: the name of the output tool.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The schema as given.
    pub fn json_schema(&self) -> &Value {
        &self.schema
    }

    /// The tool spec Strands registers for this schema: the `IMPORTANT: ...` description, `$ref`s
    /// inlined, `"null"` added to the type of optional properties, `required` holding the required
    /// non-nullable ones, `title` and `description` kept.
    pub fn tool_spec(&self) -> ToolSpec {
        self.tool_spec.clone()
    }

    /// Validates a tool input against the schema (as given, not the flattened tool spec, as
    /// pydantic validates against the model). `Err` lists every issue in pydantic's order.
    pub fn validate(&self, value: &Value) -> Result<(), Vec<ValidationIssue>> {
        let issues = schema::validate(&self.schema, &self.patterns, value);
        if issues.is_empty() { Ok(()) } else { Err(issues) }
    }

    /// The tool result text of a valid call.
    pub fn success_text(&self) -> String {
        format!("Successfully validated {} structured output", self.name)
    }

    /// The tool result text of an invalid call: Strands' header, then one
    /// `- Field '<loc>': <msg>` line per issue.
    pub fn failure_text(&self, issues: &[ValidationIssue]) -> String {
        let mut text = format!(
            "Validation failed for {}. Please fix the following errors:",
            self.name
        );
        for issue in issues {
            text.push_str(&format!("\n- Field '{}': {}", issue.location(), issue.message));
        }
        text
    }

    /// Handles a call of the output tool as Strands' `StructuredOutputTool` does: the tool result
    /// to feed back (success or error text) and, when the input is valid, the structured output
    /// ([`OutputSchema::instantiate`]).
    pub fn call(&self, tool_use: &ToolUse) -> (ToolResult, Option<Value>) {
        match self.validate(&tool_use.input) {
            Ok(()) => (
                ToolResult::text(&tool_use.tool_use_id, self.success_text()),
                Some(self.instantiate(&tool_use.input)),
            ),
            Err(issues) => (
                ToolResult::error(&tool_use.tool_use_id, self.failure_text(&issues)),
                None,
            ),
        }
    }

    /// The structured output for a valid input, shaped as pydantic's `model_dump()` of the model
    /// instance would be, as far as a schema can say: declared properties first in schema order,
    /// absent ones filled from their `default`, integers in `number` fields written as floats
    /// (`1` -> `1.0`). Unlike pydantic, undeclared keys are kept (after the declared ones): a JSON
    /// schema allows them unless `additionalProperties` is false. A `default_factory` leaves no
    /// trace in a pydantic schema, so such fields stay absent when the input omits them.
    pub fn instantiate(&self, input: &Value) -> Value {
        instantiate(&self.schema, &self.schema, input, 0)
    }

    /// Strands' `result_from_text`: the structured output of a forced turn that the model ended
    /// with text instead of a tool call. Its text blocks, joined, must be exactly one JSON object
    /// that validates.
    pub fn output_from_text(&self, message: &Message) -> Result<Value, StructuredOutputError> {
        let text: String = message
            .content
            .iter()
            .filter_map(|block| match block {
                ContentBlock::Text(text) => Some(text.as_str()),
                _ => None,
            })
            .collect();
        let value = match serde_json::from_str::<Value>(&text) {
            Ok(value @ Value::Object(_)) => value,
            _ => return Err(StructuredOutputError::NotProduced),
        };
        match self.validate(&value) {
            Ok(()) => Ok(self.instantiate(&value)),
            Err(issues) => Err(StructuredOutputError::Invalid {
                schema: self.name.clone(),
                issues,
            }),
        }
    }
}

/// How many schema levels (`$ref` hops included) `instantiate` follows.
const MAX_INSTANTIATE_DEPTH: usize = 64;

fn instantiate(root: &Value, schema: &Value, value: &Value, depth: usize) -> Value {
    if depth > MAX_INSTANTIATE_DEPTH {
        return value.clone();
    }
    let Some(map) = schema.as_object() else {
        return value.clone();
    };
    if let Some(target) = map
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| check::resolve(root, r))
    {
        return instantiate(root, target, value, depth + 1);
    }
    // Optional[X]: shape the value by X.
    if let Some(Value::Array(branches)) = map.get("anyOf") {
        let non_null: Vec<&Value> = branches
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) != Some("null"))
            .collect();
        if let [only] = non_null[..]
            && !value.is_null()
        {
            return instantiate(root, only, value, depth + 1);
        }
    }
    match value {
        Value::Object(object) => {
            let Some(properties) = map.get("properties").and_then(Value::as_object) else {
                return value.clone();
            };
            let mut out = Map::new();
            for (name, prop) in properties {
                match object.get(name) {
                    Some(item) => {
                        out.insert(name.clone(), instantiate(root, prop, item, depth + 1));
                    }
                    None => {
                        let target = prop
                            .get("$ref")
                            .and_then(Value::as_str)
                            .and_then(|r| check::resolve(root, r));
                        if let Some(default) = prop
                            .get("default")
                            .or_else(|| target.and_then(|t| t.get("default")))
                        {
                            out.insert(name.clone(), default.clone());
                        }
                    }
                }
            }
            for (name, item) in object {
                if !out.contains_key(name) && !properties.contains_key(name) {
                    out.insert(name.clone(), item.clone());
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let prefix = map.get("prefixItems").and_then(Value::as_array);
            let rest = map.get("items").filter(|i| i.is_object());
            Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| match prefix.and_then(|p| p.get(i)).or(rest) {
                        Some(item_schema) => instantiate(root, item_schema, item, depth + 1),
                        None => item.clone(),
                    })
                    .collect(),
            )
        }
        Value::Number(n) if map.get("type").and_then(Value::as_str) == Some("number") => {
            let literal = n.as_str();
            if literal.contains(['.', 'e', 'E']) {
                value.clone()
            } else {
                serde_json::from_str(&format!("{literal}.0")).unwrap_or_else(|_| value.clone())
            }
        }
        _ => value.clone(),
    }
}

#[cfg(test)]
mod tests;

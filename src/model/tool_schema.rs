//! Strands' tool-schema normalisation (`strands.tools.tools.normalize_schema`), which its tool
//! registry applies to every tool spec before any provider sees it: both providers send the
//! schemas normalised.

use serde_json::{Map, Value, json};

/// Strands' nesting limit for tool input schemas; deeper specs are left out of the request.
pub(crate) const MAX_SCHEMA_DEPTH: usize = 64;

/// Strands' `normalize_schema`: missing `type`/`properties`/`required` are added (in that order,
/// after the existing keys), and every property is normalised; nested object schemas recursively.
pub(crate) fn normalize_schema(schema: &Value, depth: usize) -> Option<Value> {
    if depth > MAX_SCHEMA_DEPTH {
        return None;
    }
    let Value::Object(map) = schema else {
        return Some(schema.clone());
    };
    let mut normalized = map.clone();
    normalized
        .entry("type")
        .or_insert_with(|| Value::String("object".into()));
    normalized
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    normalized
        .entry("required")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Some(Value::Object(properties)) = normalized.get("properties") {
        let mut rebuilt = Map::new();
        for (name, definition) in properties {
            rebuilt.insert(name.clone(), normalize_property(name, definition, depth)?);
        }
        normalized.insert("properties".into(), Value::Object(rebuilt));
    }
    Some(Value::Object(normalized))
}

fn normalize_property(name: &str, definition: &Value, depth: usize) -> Option<Value> {
    let Value::Object(map) = definition else {
        return Some(json!({"type": "string", "description": format!("Property {name}")}));
    };
    if map.get("type").and_then(Value::as_str) == Some("object") && map.contains_key("properties") {
        return normalize_schema(definition, depth + 1);
    }
    let mut normalized = map.clone();
    // A `$ref` target is expected to carry its own type and description.
    if normalized.contains_key("$ref") {
        return Some(Value::Object(normalized));
    }
    let composed = ["anyOf", "oneOf", "allOf", "not"]
        .iter()
        .any(|k| normalized.contains_key(*k));
    if !composed {
        normalized
            .entry("type")
            .or_insert_with(|| Value::String("string".into()));
    }
    normalized
        .entry("description")
        .or_insert_with(|| Value::String(format!("Property {name}")));
    Some(Value::Object(normalized))
}

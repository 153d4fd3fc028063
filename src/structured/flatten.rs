//! The tool input schema Strands registers for an output model: a port of
//! `strands/tools/structured_output/structured_output_utils.py` (`_expand_nested_properties`,
//! `_flatten_schema`, `_process_property`, `_process_schema_object`, `_process_nested_dict`),
//! applied to the JSON schema as if it were pydantic's `model_json_schema()`.
//!
//! Its quirks are kept on purpose, because the model sees exactly this schema in Python:
//! - an optional property gets `"null"` added to its type, and leaves `required`;
//! - a property that is a plain `$ref` to an object is expanded to `{"type", "description",
//!   "properties", "required"}` (description defaults to `The <name>`), dropping its other keys;
//! - whether such an expanded property stays in the outer `required` depends on the *last* of its
//!   own properties (a loop variable reused in Python);
//! - a union that is not `X | None` loses its `anyOf` (only the sibling keys remain);
//! - the items of an optional array get `"null"` added to their type too.
//!
//! One deliberate difference: Strands can leave a `$ref` inside the non-null branch of an optional
//! property (e.g. `Optional[dict[str, Model]]`), which points nowhere once `$defs` are dropped; we
//! inline those as well.

use serde_json::{Map, Value};

use super::check::resolve;
use super::error::SchemaError;

type Object = Map<String, Value>;

/// How many `$ref` hops deep inlining may go before the schema is declared recursive.
const MAX_INLINE_DEPTH: usize = 32;

pub(crate) struct Flattener<'a> {
    pub(crate) root: &'a Value,
}

impl Flattener<'_> {
    /// `_expand_nested_properties` then `_flatten_schema` of the root schema.
    pub(crate) fn flatten(&self, schema: &Object) -> Result<Value, SchemaError> {
        let required = string_list(schema.get("required"));
        let mut flattened = Object::new();
        flattened.insert(
            "type".into(),
            schema.get("type").cloned().unwrap_or_else(|| "object".into()),
        );
        flattened.insert("properties".into(), Value::Object(Object::new()));
        if let Some(title) = schema.get("title") {
            flattened.insert("title".into(), title.clone());
        }
        if let Some(description) = schema.get("description").filter(|d| truthy(d)) {
            flattened.insert("description".into(), description.clone());
        }
        let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
            if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
                // Strands: "Circular reference detected and not supported."
                return Err(SchemaError::RecursiveRef {
                    reference: reference.to_owned(),
                });
            }
            return Ok(Value::Object(flattened));
        };
        let mut processed_properties = Object::new();
        let mut required_props = Vec::new();
        for (name, prop) in properties {
            let mut is_required = required.contains(&name.as_str());
            let expanded = self.expand_nested(name, prop, is_required)?;
            let prop = expanded.as_ref().unwrap_or(prop);
            let processed = match prop.get("properties").and_then(Value::as_object) {
                Some(nested) => {
                    let mut processed = Object::new();
                    processed.insert(
                        "type".into(),
                        prop.get("type").cloned().unwrap_or_else(|| "object".into()),
                    );
                    processed.insert(
                        "description".into(),
                        prop.get("description").cloned().unwrap_or_else(|| "".into()),
                    );
                    let nested_required = string_list(prop.get("required"));
                    let mut nested_out = Object::new();
                    for (nested_name, nested_prop) in nested {
                        // Python reuses `is_required` here, and the outer check below sees the
                        // last value.
                        is_required = nested_required.contains(&nested_name.as_str());
                        nested_out.insert(nested_name.clone(), self.property(nested_prop, is_required, 0)?);
                    }
                    processed.insert("properties".into(), Value::Object(nested_out));
                    if let Some(required) = prop.get("required") {
                        processed.insert("required".into(), required.clone());
                    }
                    Value::Object(processed)
                }
                None => self.property(prop, is_required, 0)?,
            };
            if is_required && !type_mentions_null(&processed) {
                required_props.push(Value::String(name.clone()));
            }
            processed_properties.insert(name.clone(), processed);
        }
        flattened.insert("properties".into(), Value::Object(processed_properties));
        if !required_props.is_empty() {
            flattened.insert("required".into(), Value::Array(required_props));
        }
        let mut out = Value::Object(flattened);
        self.inline_leftover_refs(&mut out, 0)?;
        Ok(out)
    }

    /// `_expand_nested_properties` for one property: a field whose type is a model is a plain
    /// `$ref` to an object schema in pydantic's output.
    fn expand_nested(
        &self,
        name: &str,
        prop: &Value,
        is_required: bool,
    ) -> Result<Option<Value>, SchemaError> {
        let Some(reference) = prop.get("$ref").and_then(Value::as_str) else {
            return Ok(None);
        };
        let target = self.resolve(reference)?;
        let is_model = target.get("type").and_then(Value::as_str) == Some("object")
            || target.get("properties").is_some();
        if !is_model {
            return Ok(None);
        }
        let mut expanded = Object::new();
        let object_type = if is_required {
            Value::from("object")
        } else {
            Value::from(vec!["object", "null"])
        };
        expanded.insert("type".into(), object_type);
        let description = prop
            .get("description")
            .cloned()
            .unwrap_or_else(|| format!("The {name}").into());
        expanded.insert("description".into(), description);
        let properties = target
            .get("properties")
            .cloned()
            .unwrap_or_else(|| Value::Object(Object::new()));
        expanded.insert("properties".into(), properties);
        if let Some(required) = target.get("required") {
            expanded.insert("required".into(), required.clone());
        }
        Ok(Some(Value::Object(expanded)))
    }

    /// `_process_property`.
    fn property(&self, prop: &Value, is_required: bool, depth: usize) -> Result<Value, SchemaError> {
        let Some(prop) = prop.as_object() else {
            return Ok(prop.clone());
        };
        let mut result = Object::new();
        let mut is_nullable = false;
        if let Some(options) = prop.get("anyOf").and_then(Value::as_array) {
            let mut null_type = false;
            let mut non_null: Option<Value> = None;
            for option in options {
                if option.get("type").and_then(Value::as_str) == Some("null") {
                    null_type = true;
                    is_nullable = true;
                } else if let Some(reference) = option.get("$ref").and_then(Value::as_str) {
                    non_null = Some(self.schema_object(self.resolve(reference)?, depth + 1)?);
                } else {
                    non_null = Some(option.clone());
                }
            }
            if let (true, Some(non_null)) = (null_type, non_null.filter(truthy)) {
                let mut result = non_null.as_object().cloned().unwrap_or_default();
                match result.get_mut("type") {
                    Some(Value::String(t)) => {
                        let t = std::mem::take(t);
                        result.insert("type".into(), Value::from(vec![t, "null".to_owned()]));
                    }
                    Some(Value::Array(types)) => {
                        if !types.iter().any(|t| t == "null") {
                            types.push("null".into());
                        }
                    }
                    Some(_) => {}
                    None => {
                        result.insert("type".into(), Value::from(vec!["object", "null"]));
                    }
                }
                if let Some(description) = prop.get("description") {
                    result.insert("description".into(), description.clone());
                }
                if let Some(items) = result.get("items").cloned() {
                    result.insert("items".into(), self.property(&items, false, depth)?);
                }
                return Ok(Value::Object(result));
            }
        } else if let Some(reference) = prop.get("$ref").and_then(Value::as_str)
            && let Value::Object(resolved) = self.schema_object(self.resolve(reference)?, depth + 1)?
        {
            result = resolved;
        }
        for (key, value) in prop {
            if key == "$ref" || key == "anyOf" {
                continue;
            }
            let processed = match value {
                Value::Object(_) => self.nested_dict(value, depth)?,
                Value::String(t) if key == "type" && !is_required && !is_nullable => {
                    Value::from(vec![t.clone(), "null".to_owned()])
                }
                Value::Array(types) if key == "type" && !is_required && !is_nullable => {
                    let mut types = types.clone();
                    if !types.iter().any(|t| t == "null") {
                        types.push("null".into());
                    }
                    Value::Array(types)
                }
                other => other.clone(),
            };
            result.insert(key.clone(), processed);
        }
        Ok(Value::Object(result))
    }

    /// `_process_schema_object`: a `$defs` entry with its properties processed.
    fn schema_object(&self, schema: &Value, depth: usize) -> Result<Value, SchemaError> {
        if depth > MAX_INLINE_DEPTH {
            return Err(SchemaError::RecursiveRef {
                reference: describe(schema),
            });
        }
        let Some(schema) = schema.as_object() else {
            return Ok(schema.clone());
        };
        let mut result = Object::new();
        for (key, value) in schema {
            if key != "properties" && key != "required" && key != "$defs" {
                result.insert(key.clone(), value.clone());
            }
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            let required = string_list(schema.get("required"));
            let mut processed_properties = Object::new();
            let mut required_props = Vec::new();
            for (name, prop) in properties {
                let is_required = required.contains(&name.as_str());
                let processed = self.property(prop, is_required, depth)?;
                if is_required && !type_mentions_null(&processed) {
                    required_props.push(Value::String(name.clone()));
                }
                processed_properties.insert(name.clone(), processed);
            }
            result.insert("properties".into(), Value::Object(processed_properties));
            if !required_props.is_empty() {
                result.insert("required".into(), Value::Array(required_props));
            }
        }
        Ok(Value::Object(result))
    }

    /// `_process_nested_dict`: resolves a `$ref` (dropping its siblings) or recurses.
    fn nested_dict(&self, value: &Value, depth: usize) -> Result<Value, SchemaError> {
        if depth > MAX_INLINE_DEPTH {
            return Err(SchemaError::RecursiveRef {
                reference: describe(value),
            });
        }
        let Some(map) = value.as_object() else {
            return Ok(value.clone());
        };
        if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
            return self.schema_object(self.resolve(reference)?, depth + 1);
        }
        let mut result = Object::new();
        for (key, item) in map {
            let processed = match item {
                Value::Object(_) => self.nested_dict(item, depth)?,
                Value::Array(items) => Value::Array(
                    items
                        .iter()
                        .map(|i| {
                            if i.is_object() {
                                self.nested_dict(i, depth)
                            } else {
                                Ok(i.clone())
                            }
                        })
                        .collect::<Result<_, _>>()?,
                ),
                other => other.clone(),
            };
            result.insert(key.clone(), processed);
        }
        Ok(Value::Object(result))
    }

    /// Our one departure (module docs): no `$ref` may survive, since `$defs` are not sent.
    fn inline_leftover_refs(&self, value: &mut Value, depth: usize) -> Result<(), SchemaError> {
        if depth > MAX_INLINE_DEPTH {
            return Err(SchemaError::RecursiveRef {
                reference: describe(value),
            });
        }
        match value {
            Value::Object(map) => {
                if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                    let mut resolved = self.schema_object(self.resolve(reference)?, depth + 1)?;
                    self.inline_leftover_refs(&mut resolved, depth + 1)?;
                    *value = resolved;
                    return Ok(());
                }
                for item in map.values_mut() {
                    self.inline_leftover_refs(item, depth)?;
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.inline_leftover_refs(item, depth)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn resolve(&self, reference: &str) -> Result<&Value, SchemaError> {
        resolve(self.root, reference).ok_or_else(|| SchemaError::UnresolvedRef {
            reference: reference.to_owned(),
            path: "#".to_owned(),
        })
    }
}

fn describe(schema: &Value) -> String {
    schema
        .get("title")
        .and_then(Value::as_str)
        .map_or_else(|| "a recursive $ref".to_owned(), ToOwned::to_owned)
}

fn string_list(value: Option<&Value>) -> Vec<&str> {
    value
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Python truthiness of a JSON value.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_none_or(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Strands' `"null" not in str(prop.get("type", ""))`, negated.
fn type_mentions_null(processed: &Value) -> bool {
    match processed.get("type") {
        Some(Value::String(t)) => t.contains("null"),
        Some(Value::Array(types)) => types
            .iter()
            .any(|t| t.as_str().is_some_and(|t| t.contains("null"))),
        _ => false,
    }
}

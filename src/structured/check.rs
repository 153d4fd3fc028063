//! The schema checked once, when it is loaded: local `$ref`s must resolve, patterns must compile
//! (and are kept compiled), keywords must have the right shape, and keywords the validator cannot
//! honour are refused rather than silently ignored (accepting output a constraint forbids would
//! be worse than a startup error). Also [`resolve`], the `$ref` lookup every pass shares.

use std::collections::HashMap;

use regex_lite::Regex;
use serde_json::Value;

use super::decimal::Decimal;
use super::error::SchemaError;

/// How deep a schema may nest (schema levels, `$ref` hops included): checking refuses deeper
/// schemas, validation gives up there so a reference cycle cannot recurse forever.
pub(super) const MAX_DEPTH: usize = 256;

/// Keywords with validation meaning that this validator does not implement.
const UNSUPPORTED: &[&str] = &[
    "if",
    "then",
    "else",
    "dependentSchemas",
    "dependentRequired",
    "dependencies",
    "propertyNames",
    "contains",
    "minContains",
    "maxContains",
    "unevaluatedProperties",
    "unevaluatedItems",
    "$dynamicRef",
    "$recursiveRef",
];

const TYPES: &[&str] = &[
    "string", "integer", "number", "boolean", "array", "object", "null",
];

/// Checks the whole schema once and compiles its patterns (keyed by pattern text).
pub(super) fn check(root: &Value) -> Result<HashMap<String, Regex>, SchemaError> {
    let mut checker = Checker {
        root,
        patterns: HashMap::new(),
    };
    checker.node(root, "#", 0)?;
    Ok(checker.patterns)
}

/// Resolves a local reference (`#`, `#/$defs/X`, any JSON pointer into the schema document).
pub(super) fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    if pointer.is_empty() {
        return Some(root);
    }
    let decoded = percent_decode(pointer)?;
    root.pointer(&decoded)
}

fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

struct Checker<'a> {
    root: &'a Value,
    patterns: HashMap<String, Regex>,
}

impl Checker<'_> {
    fn node(&mut self, schema: &Value, path: &str, depth: usize) -> Result<(), SchemaError> {
        if depth > MAX_DEPTH {
            return Err(SchemaError::Invalid {
                path: path.to_owned(),
                message: "schema nested too deeply".into(),
            });
        }
        let map = match schema {
            Value::Bool(_) => return Ok(()),
            Value::Object(map) => map,
            _ => return Err(invalid(path, "a schema must be an object or a boolean")),
        };
        for (keyword, value) in map {
            let here = format!("{path}/{}", keyword.replace('~', "~0").replace('/', "~1"));
            if UNSUPPORTED.contains(&keyword.as_str()) {
                return Err(SchemaError::Unsupported {
                    keyword: keyword.clone(),
                    path: path.to_owned(),
                });
            }
            match keyword.as_str() {
                "$ref" => {
                    let reference = value.as_str().ok_or_else(|| invalid(&here, "must be a string"))?;
                    if !reference.starts_with('#') {
                        return Err(SchemaError::UnsupportedRef {
                            reference: reference.to_owned(),
                            path: path.to_owned(),
                        });
                    }
                    if resolve(self.root, reference).is_none() {
                        return Err(SchemaError::UnresolvedRef {
                            reference: reference.to_owned(),
                            path: path.to_owned(),
                        });
                    }
                }
                "properties" | "patternProperties" | "$defs" | "definitions" => {
                    let members = value
                        .as_object()
                        .ok_or_else(|| invalid(&here, "must be an object"))?;
                    for (name, sub) in members {
                        if keyword == "patternProperties" {
                            self.pattern(name, &here)?;
                        }
                        self.node(
                            sub,
                            &format!("{here}/{}", name.replace('~', "~0").replace('/', "~1")),
                            depth + 1,
                        )?;
                    }
                }
                "additionalProperties" | "not" | "additionalItems" => self.node(value, &here, depth + 1)?,
                "items" => match value {
                    // draft-07 tuple form
                    Value::Array(items) => self.list(items, &here, depth)?,
                    _ => self.node(value, &here, depth + 1)?,
                },
                "prefixItems" | "anyOf" | "oneOf" | "allOf" => {
                    let items = value
                        .as_array()
                        .ok_or_else(|| invalid(&here, "must be an array"))?;
                    if items.is_empty() && keyword != "prefixItems" {
                        return Err(invalid(&here, "must not be empty"));
                    }
                    self.list(items, &here, depth)?;
                }
                "required" => {
                    let ok = value.as_array().is_some_and(|a| a.iter().all(Value::is_string));
                    if !ok {
                        return Err(invalid(&here, "must be an array of strings"));
                    }
                }
                "type" => {
                    let known = |t: &Value| t.as_str().is_some_and(|t| TYPES.contains(&t));
                    let ok = match value {
                        Value::Array(types) => types.iter().all(known),
                        other => known(other),
                    };
                    if !ok {
                        return Err(invalid(&here, "must be a JSON type name or an array of them"));
                    }
                }
                "pattern" => {
                    let pattern = value.as_str().ok_or_else(|| invalid(&here, "must be a string"))?;
                    self.pattern(pattern, &here)?;
                }
                "minimum" | "maximum" | "multipleOf" => {
                    let ok = value.is_number()
                        && (keyword != "multipleOf" || Decimal::of(value).is_some_and(|d| d.is_positive()));
                    if !ok {
                        return Err(invalid(&here, "must be a number (multipleOf: greater than 0)"));
                    }
                }
                // draft-04 wrote these as booleans next to minimum/maximum
                "exclusiveMinimum" | "exclusiveMaximum" if !value.is_number() && !value.is_boolean() => {
                    return Err(invalid(&here, "must be a number"));
                }
                "minLength" | "maxLength" | "minItems" | "maxItems" | "minProperties" | "maxProperties"
                    if !value.is_u64() =>
                {
                    return Err(invalid(&here, "must be a non-negative integer"));
                }
                "enum" if !value.is_array() => return Err(invalid(&here, "must be an array")),
                "uniqueItems" if !value.is_boolean() => return Err(invalid(&here, "must be a boolean")),
                // annotations and formats: no validation meaning here
                _ => {}
            }
        }
        Ok(())
    }

    fn list(&mut self, items: &[Value], path: &str, depth: usize) -> Result<(), SchemaError> {
        for (i, sub) in items.iter().enumerate() {
            self.node(sub, &format!("{path}/{i}"), depth + 1)?;
        }
        Ok(())
    }

    fn pattern(&mut self, pattern: &str, path: &str) -> Result<(), SchemaError> {
        if !self.patterns.contains_key(pattern) {
            let regex = Regex::new(pattern).map_err(|e| SchemaError::InvalidPattern {
                pattern: pattern.to_owned(),
                path: path.to_owned(),
                message: e.to_string(),
            })?;
            self.patterns.insert(pattern.to_owned(), regex);
        }
        Ok(())
    }
}

fn invalid(path: &str, message: &str) -> SchemaError {
    SchemaError::Invalid {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

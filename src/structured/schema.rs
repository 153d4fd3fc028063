//! A small JSON Schema validator (the draft 2020-12 / draft-07 subset structured output needs).
//!
//! The schema is checked once ([`check`]): local `$ref`s must resolve, patterns must compile,
//! keywords must have the right shape, and keywords we cannot honour are refused rather than
//! silently ignored (accepting output a constraint forbids would be worse than a startup error).
//! Validation then walks the schema as JSON, resolving `$ref`s on the way, with a depth bound so a
//! reference cycle cannot recurse forever.
//!
//! Issues are worded as pydantic words them where pydantic has an equivalent ("Field required",
//! "Input should be a valid integer", ...), because the model reads them back as Strands sends them.
//! Like pydantic, each value gets at most one type/constraint issue, literals (`enum`/`const`) report
//! only their own issue, and an `Optional[...]`-shaped `anyOf` reports its non-null branch directly.
//! Unlike pydantic's default lax mode, types are checked strictly as JSON Schema does: `"5"` is not
//! an integer and `true` is not a number. Numbers are compared exactly as decimals, so `1.0` is an
//! integer and `0.3` is a multiple of `0.1`.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;

use regex_lite::Regex;
use serde_json::{Map, Value};

use super::SchemaError;

/// How deep validation may nest (schema levels, `$ref` hops included) before it gives up.
const MAX_DEPTH: usize = 256;

/// One step of the path to an invalid value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
    /// Which alternative of a union failed (`int`, `str`, a model title, ...), as pydantic tags
    /// union members.
    Branch(String),
}

impl fmt::Display for PathSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathSegment::Key(k) | PathSegment::Branch(k) => f.write_str(k),
            PathSegment::Index(i) => write!(f, "{i}"),
        }
    }
}

/// Why a value does not match the schema, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationIssue {
    /// Path from the root value to the offending value (empty: the root itself).
    pub path: Vec<PathSegment>,
    /// What is wrong, worded as pydantic words it.
    pub message: String,
}

impl ValidationIssue {
    /// The path as pydantic's `loc` joined by Strands: `a -> 0 -> b`, or `root` for the root.
    pub fn location(&self) -> String {
        if self.path.is_empty() {
            return "root".to_owned();
        }
        self.path
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" -> ")
    }
}

impl fmt::Display for ValidationIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location(), self.message)
    }
}

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
pub(crate) fn check(root: &Value) -> Result<HashMap<String, Regex>, SchemaError> {
    let mut checker = Checker {
        root,
        patterns: HashMap::new(),
    };
    checker.node(root, "#", 0)?;
    Ok(checker.patterns)
}

/// Resolves a local reference (`#`, `#/$defs/X`, any JSON pointer into the schema document).
pub(crate) fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
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
                        && (keyword != "multipleOf" || Decimal::of(value).is_some_and(|d| d.sign > 0));
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

/// Validates `value` against a schema that [`check`] accepted.
pub(crate) fn validate(
    root: &Value,
    patterns: &HashMap<String, Regex>,
    value: &Value,
) -> Vec<ValidationIssue> {
    let mut validator = Validator {
        root,
        patterns,
        path: Vec::new(),
        issues: Vec::new(),
    };
    validator.node(root, value, 0);
    validator.issues
}

struct Validator<'a> {
    root: &'a Value,
    patterns: &'a HashMap<String, Regex>,
    path: Vec<PathSegment>,
    issues: Vec<ValidationIssue>,
}

impl<'a> Validator<'a> {
    fn issue(&mut self, message: impl Into<String>) {
        self.issues.push(ValidationIssue {
            path: self.path.clone(),
            message: message.into(),
        });
    }

    /// Validates `value` against `schema` in a fresh issue list; returns the issues found.
    fn trial(&mut self, schema: &'a Value, value: &Value, depth: usize) -> Vec<ValidationIssue> {
        let saved = std::mem::take(&mut self.issues);
        self.node(schema, value, depth);
        std::mem::replace(&mut self.issues, saved)
    }

    fn node(&mut self, schema: &'a Value, value: &Value, depth: usize) {
        if depth > MAX_DEPTH {
            self.issue("Schema nesting limit reached (recursive $ref?)");
            return;
        }
        let map = match schema {
            Value::Object(map) => map,
            Value::Bool(false) => return self.issue("No value is allowed here"),
            _ => return,
        };
        if let Some(target) = map
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| resolve(self.root, r))
        {
            let before = self.issues.len();
            self.node(target, value, depth + 1);
            if self.issues.len() > before {
                return;
            }
        }
        if !self.literals(map, value) || !self.combinators(map, value, depth) || !self.types(map, value) {
            return;
        }
        match value {
            Value::String(s) => self.string(map, s),
            Value::Number(_) => self.number(map, value),
            Value::Array(items) => self.array(map, items, depth),
            Value::Object(object) => self.object(map, object, depth),
            Value::Null | Value::Bool(_) => {}
        }
    }

    /// `enum` / `const`; false when the value failed (pydantic reports only that).
    fn literals(&mut self, map: &Map<String, Value>, value: &Value) -> bool {
        if let Some(Value::Array(allowed)) = map.get("enum")
            && !allowed.iter().any(|a| json_equal(a, value))
        {
            let choices: Vec<String> = allowed.iter().map(py_repr).collect();
            self.issue(format!("Input should be {}", or_list(&choices)));
            return false;
        }
        if let Some(expected) = map.get("const")
            && !json_equal(expected, value)
        {
            self.issue(format!("Input should be {}", py_repr(expected)));
            return false;
        }
        true
    }

    /// `anyOf` / `oneOf` / `allOf` / `not`; false when the value failed.
    fn combinators(&mut self, map: &'a Map<String, Value>, value: &Value, depth: usize) -> bool {
        let before = self.issues.len();
        if let Some(Value::Array(branches)) = map.get("anyOf") {
            self.union(branches, value, depth, false);
        }
        if let Some(Value::Array(branches)) = map.get("oneOf") {
            self.union(branches, value, depth, true);
        }
        if let Some(Value::Array(parts)) = map.get("allOf") {
            for part in parts {
                self.node(part, value, depth + 1);
            }
        }
        if let Some(forbidden) = map.get("not")
            && self.trial(forbidden, value, depth + 1).is_empty()
        {
            self.issue("Input should not match the schema under 'not'");
        }
        self.issues.len() == before
    }

    fn union(&mut self, branches: &'a [Value], value: &Value, depth: usize, exactly_one: bool) {
        // Optional[X] (X or null): pydantic reports X's issues as they are, without a tag.
        let non_null: Vec<&'a Value> = branches.iter().filter(|b| !is_null_schema(b)).collect();
        if let [only] = non_null[..]
            && branches.len() == 2
        {
            if !value.is_null() {
                self.node(only, value, depth + 1);
            }
            return;
        }
        let mut failures = Vec::new();
        let mut matched = 0;
        for branch in branches {
            let issues = self.trial(branch, value, depth + 1);
            if issues.is_empty() {
                matched += 1;
            } else {
                failures.push((branch, issues));
            }
        }
        if matched == 0 {
            for (branch, issues) in failures {
                let label = self.branch_label(branch);
                let at = self.path.len();
                for mut issue in issues {
                    issue.path.insert(at, PathSegment::Branch(label.clone()));
                    self.issues.push(issue);
                }
            }
        } else if exactly_one && matched > 1 {
            self.issue(format!(
                "Input should match exactly one of the allowed schemas, not {matched}"
            ));
        }
    }

    /// pydantic's tag for a union member: the model title, else the Python type name.
    fn branch_label(&self, branch: &Value) -> String {
        let target = branch
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| resolve(self.root, r))
            .unwrap_or(branch);
        if let Some(title) = target.get("title").and_then(Value::as_str) {
            return title.to_owned();
        }
        match target.get("type") {
            Some(Value::String(t)) => python_type_name(t).to_owned(),
            Some(Value::Array(types)) => types
                .iter()
                .filter_map(Value::as_str)
                .map(python_type_name)
                .collect::<Vec<_>>()
                .join(" | "),
            _ => "union member".to_owned(),
        }
    }

    /// `type`; false when the value has none of the allowed types.
    fn types(&mut self, map: &Map<String, Value>, value: &Value) -> bool {
        let allowed: Vec<&str> = match map.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).collect(),
            _ => return true,
        };
        if allowed.iter().any(|t| has_type(value, t)) {
            return true;
        }
        let non_null: Vec<&str> = allowed.iter().copied().filter(|t| *t != "null").collect();
        match non_null[..] {
            [] => self.issue("Input should be None"),
            [only] => {
                let message = type_message(only, value, map);
                self.issue(message);
            }
            _ => {
                for t in non_null {
                    self.path
                        .push(PathSegment::Branch(python_type_name(t).to_owned()));
                    let message = type_message(t, value, map);
                    self.issue(message);
                    self.path.pop();
                }
            }
        }
        false
    }

    fn string(&mut self, map: &Map<String, Value>, s: &str) {
        let chars = || s.chars().count() as u64;
        if let Some(min) = map.get("minLength").and_then(Value::as_u64)
            && chars() < min
        {
            return self.issue(format!(
                "String should have at least {}",
                plural(min, "character")
            ));
        }
        if let Some(max) = map.get("maxLength").and_then(Value::as_u64)
            && chars() > max
        {
            return self.issue(format!("String should have at most {}", plural(max, "character")));
        }
        if let Some(pattern) = map.get("pattern").and_then(Value::as_str)
            && let Some(regex) = self.patterns.get(pattern)
            && !regex.is_match(s)
        {
            self.issue(format!("String should match pattern '{pattern}'"));
        }
    }

    fn number(&mut self, map: &Map<String, Value>, value: &Value) {
        let Some(n) = Decimal::of(value) else { return };
        let limit = |key: &str| map.get(key).and_then(|v| Some((v, Decimal::of(v)?)));
        // pydantic's order, one issue at most.
        if let Some((shown, m)) = limit("multipleOf")
            && !n.is_multiple_of(&m)
        {
            return self.issue(format!("Input should be a multiple of {}", py_repr(shown)));
        }
        let draft4_exclusive = |key: &str| map.get(key) == Some(&Value::Bool(true));
        if let Some((shown, max)) = limit("maximum") {
            if draft4_exclusive("exclusiveMaximum") && n.cmp(&max) != Ordering::Less {
                return self.issue(format!("Input should be less than {}", py_repr(shown)));
            }
            if n.cmp(&max) == Ordering::Greater {
                return self.issue(format!(
                    "Input should be less than or equal to {}",
                    py_repr(shown)
                ));
            }
        }
        if let Some((shown, max)) = limit("exclusiveMaximum")
            && n.cmp(&max) != Ordering::Less
        {
            return self.issue(format!("Input should be less than {}", py_repr(shown)));
        }
        if let Some((shown, min)) = limit("minimum") {
            if draft4_exclusive("exclusiveMinimum") && n.cmp(&min) != Ordering::Greater {
                return self.issue(format!("Input should be greater than {}", py_repr(shown)));
            }
            if n.cmp(&min) == Ordering::Less {
                return self.issue(format!(
                    "Input should be greater than or equal to {}",
                    py_repr(shown)
                ));
            }
        }
        if let Some((shown, min)) = limit("exclusiveMinimum")
            && n.cmp(&min) != Ordering::Greater
        {
            self.issue(format!("Input should be greater than {}", py_repr(shown)));
        }
    }

    fn array(&mut self, map: &'a Map<String, Value>, items: &[Value], depth: usize) {
        // draft 2020-12 `prefixItems` + `items`; draft-07 array-valued `items` + `additionalItems`.
        let (prefix, rest): (&'a [Value], Option<&'a Value>) =
            match (map.get("prefixItems"), map.get("items")) {
                (Some(Value::Array(prefix)), rest) => (prefix, rest),
                (None, Some(Value::Array(prefix))) => (prefix, map.get("additionalItems")),
                (_, rest) => (&[], rest),
            };
        let len = items.len() as u64;
        let is_tuple = !prefix.is_empty();
        let max_items = map.get("maxItems").and_then(Value::as_u64);
        let closed = rest == Some(&Value::Bool(false));
        if is_tuple && (max_items.is_some_and(|max| len > max) || closed && items.len() > prefix.len()) {
            // pydantic checks a tuple's length before its items.
            let max = max_items.unwrap_or(prefix.len() as u64).min(if closed {
                prefix.len() as u64
            } else {
                u64::MAX
            });
            return self.issue(format!(
                "Tuple should have at most {} after validation, not {len}",
                plural(max, "item")
            ));
        }
        for (i, item) in items.iter().enumerate() {
            let schema = match prefix.get(i) {
                Some(schema) => schema,
                None => match rest {
                    Some(schema) => schema,
                    None => continue,
                },
            };
            self.path.push(PathSegment::Index(i));
            self.node(schema, item, depth + 1);
            self.path.pop();
        }
        if let Some(min) = map.get("minItems").and_then(Value::as_u64)
            && len < min
        {
            if is_tuple {
                // pydantic reports the missing positions of a tuple.
                for i in items.len()..(min as usize).min(prefix.len()) {
                    self.path.push(PathSegment::Index(i));
                    self.issue("Field required");
                    self.path.pop();
                }
            } else {
                self.issue(format!(
                    "List should have at least {} after validation, not {len}",
                    plural(min, "item")
                ));
            }
        }
        if let Some(max) = max_items
            && len > max
        {
            self.issue(format!(
                "List should have at most {} after validation, not {len}",
                plural(max, "item")
            ));
        }
        if map.get("uniqueItems") == Some(&Value::Bool(true)) {
            let repeated =
                (1..items.len()).find(|&j| items[..j].iter().any(|earlier| json_equal(earlier, &items[j])));
            if let Some(j) = repeated {
                self.issue(format!(
                    "List should have unique items (item {j} repeats an earlier one)"
                ));
            }
        }
    }

    fn object(&mut self, map: &'a Map<String, Value>, object: &Map<String, Value>, depth: usize) {
        let required: Vec<&str> = map
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let properties = map.get("properties").and_then(Value::as_object);
        // Field order, as pydantic reports: each declared property, present or missing.
        for (name, schema) in properties.into_iter().flatten() {
            self.path.push(PathSegment::Key(name.clone()));
            match object.get(name) {
                Some(item) => self.node(schema, item, depth + 1),
                None if required.contains(&name.as_str()) => self.issue("Field required"),
                None => {}
            }
            self.path.pop();
        }
        for name in &required {
            if properties.is_none_or(|p| !p.contains_key(*name)) && !object.contains_key(*name) {
                self.path.push(PathSegment::Key((*name).to_owned()));
                self.issue("Field required");
                self.path.pop();
            }
        }
        let patterns: Vec<(&Regex, &'a Value)> = map
            .get("patternProperties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(p, s)| Some((self.patterns.get(p)?, s)))
            .collect();
        let additional = map.get("additionalProperties");
        for (name, item) in object {
            if properties.is_some_and(|p| p.contains_key(name)) {
                continue;
            }
            self.path.push(PathSegment::Key(name.clone()));
            let mut matched = false;
            for (regex, schema) in &patterns {
                if regex.is_match(name) {
                    matched = true;
                    self.node(schema, item, depth + 1);
                }
            }
            match additional {
                _ if matched => {}
                Some(Value::Bool(false)) => self.issue("Extra inputs are not permitted"),
                Some(schema) => self.node(schema, item, depth + 1),
                None => {}
            }
            self.path.pop();
        }
        let len = object.len() as u64;
        if let Some(min) = map.get("minProperties").and_then(Value::as_u64)
            && len < min
        {
            self.issue(format!(
                "Dictionary should have at least {} after validation, not {len}",
                plural(min, "item")
            ));
        }
        if let Some(max) = map.get("maxProperties").and_then(Value::as_u64)
            && len > max
        {
            self.issue(format!(
                "Dictionary should have at most {} after validation, not {len}",
                plural(max, "item")
            ));
        }
    }
}

fn is_null_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
}

fn has_type(value: &Value, t: &str) -> bool {
    match (t, value) {
        ("null", Value::Null)
        | ("boolean", Value::Bool(_))
        | ("string", Value::String(_))
        | ("number", Value::Number(_))
        | ("array", Value::Array(_))
        | ("object", Value::Object(_)) => true,
        ("integer", Value::Number(_)) => Decimal::of(value).is_some_and(|d| d.is_integer()),
        _ => false,
    }
}

fn python_type_name(t: &str) -> &str {
    match t {
        "string" => "str",
        "integer" => "int",
        "number" => "float",
        "boolean" => "bool",
        "array" => "list",
        "object" => "dict",
        "null" => "None",
        other => other,
    }
}

fn type_message(t: &str, value: &Value, schema: &Map<String, Value>) -> String {
    match t {
        "string" => "Input should be a valid string".into(),
        // pydantic's lax mode would parse numeric strings and accept 0/1 as booleans; we do not,
        // but keep its wording for the inputs it rejects too.
        "integer" => match value {
            Value::Number(_) => "Input should be a valid integer, got a number with a fractional part".into(),
            Value::String(_) => {
                "Input should be a valid integer, unable to parse string as an integer".into()
            }
            _ => "Input should be a valid integer".into(),
        },
        "number" if value.is_string() => {
            "Input should be a valid number, unable to parse string as a number".into()
        }
        "number" => "Input should be a valid number".into(),
        "boolean" if value.is_string() || value.is_number() => {
            "Input should be a valid boolean, unable to interpret input".into()
        }
        "boolean" => "Input should be a valid boolean".into(),
        "array" => "Input should be a valid list".into(),
        "object" => match schema.get("title").and_then(Value::as_str) {
            Some(title) if schema.contains_key("properties") => {
                format!("Input should be a valid dictionary or instance of {title}")
            }
            _ => "Input should be a valid dictionary".into(),
        },
        _ => "Input should be None".into(),
    }
}

fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `'a'`, `'a' or 'b'`, `'a', 'b' or 'c'` (pydantic's literal_error wording).
fn or_list(items: &[String]) -> String {
    match items {
        [] => "one of no values".to_owned(),
        [only] => only.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Python's `repr` of a JSON value, as pydantic quotes expected values.
pub(crate) fn py_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => {
            let mut out = Vec::new();
            crate::pyjson::write_number(&mut out, n.as_str());
            String::from_utf8_lossy(&out).into_owned()
        }
        Value::String(s) => {
            let quote = if s.contains('\'') && !s.contains('"') {
                '"'
            } else {
                '\''
            };
            let mut out = String::with_capacity(s.len() + 2);
            out.push(quote);
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c == quote => {
                        out.push('\\');
                        out.push(c);
                    }
                    c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                        out.push_str(&format!("\\x{:02x}", c as u32))
                    }
                    c => out.push(c),
                }
            }
            out.push(quote);
            out
        }
        Value::Array(items) => format!("[{}]", items.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", py_repr(&Value::String(k.clone())), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// JSON equality with numbers compared by value (`1`, `1.0` and `1e0` are equal).
pub(crate) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => match (Decimal::of(a), Decimal::of(b)) {
            (Some(x), Some(y)) => x.cmp(&y) == Ordering::Equal,
            _ => false,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// An exact decimal read from a JSON number literal: `sign * 0.DIGITS * 10^exponent`, with no
/// leading or trailing zeros in `digits` (zero has no digits and sign 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decimal {
    sign: i8,
    digits: Vec<u8>,
    exponent: i64,
}

impl Decimal {
    pub(crate) fn of(value: &Value) -> Option<Decimal> {
        match value {
            Value::Number(n) => Decimal::parse(n.as_str()),
            _ => None,
        }
    }

    fn parse(literal: &str) -> Option<Decimal> {
        let (negative, body) = match literal.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, literal.strip_prefix('+').unwrap_or(literal)),
        };
        let (mantissa, exp_text) = match body.find(['e', 'E']) {
            Some(at) => (&body[..at], Some(&body[at + 1..])),
            None => (body, None),
        };
        // Exponents beyond i64 only occur in absurd literals; saturating keeps the order right.
        let exp: i64 = match exp_text {
            None => 0,
            Some(t) => t.parse().unwrap_or(if t.starts_with('-') {
                i64::MIN / 4
            } else {
                i64::MAX / 4
            }),
        };
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if !int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let mut digits: Vec<u8> = int_part
            .bytes()
            .chain(frac_part.bytes())
            .map(|b| b - b'0')
            .collect();
        let mut point = int_part.len() as i64;
        let leading = digits.iter().take_while(|&&d| d == 0).count();
        digits.drain(..leading);
        point -= leading as i64;
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            return Some(Decimal {
                sign: 0,
                digits,
                exponent: 0,
            });
        }
        Some(Decimal {
            sign: if negative { -1 } else { 1 },
            digits,
            exponent: point.saturating_add(exp),
        })
    }

    fn is_integer(&self) -> bool {
        self.sign == 0 || self.exponent >= self.digits.len() as i64
    }

    fn cmp_magnitude(&self, other: &Decimal) -> Ordering {
        self.exponent
            .cmp(&other.exponent)
            .then_with(|| self.digits.cmp(&other.digits))
    }

    fn cmp(&self, other: &Decimal) -> Ordering {
        match self.sign.cmp(&other.sign) {
            Ordering::Equal if self.sign == 0 => Ordering::Equal,
            Ordering::Equal if self.sign > 0 => self.cmp_magnitude(other),
            Ordering::Equal => other.cmp_magnitude(self),
            unequal => unequal,
        }
    }

    /// Exact when both fit in 38 digits once scaled to integers; otherwise by f64 division.
    fn is_multiple_of(&self, divisor: &Decimal) -> bool {
        if self.sign == 0 {
            return true;
        }
        let scale = |d: &Decimal, shift: i64| -> Option<u128> {
            // d = 0.DIGITS * 10^exponent; as an integer times 10^-shift.
            let zeros = d.exponent + shift - d.digits.len() as i64;
            if zeros < 0 || zeros + d.digits.len() as i64 > 38 {
                return None;
            }
            let mut n: u128 = 0;
            for &digit in &d.digits {
                n = n * 10 + u128::from(digit);
            }
            n.checked_mul(10u128.checked_pow(u32::try_from(zeros).ok()?)?)
        };
        let frac_digits = |d: &Decimal| (d.digits.len() as i64 - d.exponent).max(0);
        let shift = frac_digits(self).max(frac_digits(divisor));
        if let (Some(a), Some(m)) = (scale(self, shift), scale(divisor, shift))
            && m != 0
        {
            return a % m == 0;
        }
        let to_f64 = |d: &Decimal| {
            let digits: String = d.digits.iter().map(|&x| char::from(b'0' + x)).collect();
            format!("0.{digits}e{}", d.exponent)
                .parse::<f64>()
                .unwrap_or(f64::NAN)
        };
        let quotient = to_f64(self) / to_f64(divisor);
        quotient.is_finite() && quotient.fract() == 0.0
    }
}

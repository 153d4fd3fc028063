//! A small JSON Schema validator (the draft 2020-12 / draft-07 subset structured output needs).
//!
//! The schema has been checked once (`check`). Validation walks it as JSON, resolving `$ref`s on
//! the way, with a depth bound so a reference cycle cannot recurse forever.
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

use regex_lite::Regex;
use serde_json::{Map, Value};

use super::check::{MAX_DEPTH, resolve};
use super::decimal::{Decimal, json_equal};
use super::issue::{PathSegment, ValidationIssue};
use super::python::{or_list, plural, py_repr, python_type_name};

/// Validates `value` against a schema that `check` accepted.
pub(super) fn validate(
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

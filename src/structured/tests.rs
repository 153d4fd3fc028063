use serde_json::{Value, json};

use super::decimal::{Decimal, json_equal};
use super::*;
use super::{check, schema};

/// Issues as `location: message` lines, for compact assertions.
fn issues(schema_json: Value, value: Value) -> Vec<String> {
    let patterns = check::check(&schema_json).unwrap();
    schema::validate(&schema_json, &patterns, &value)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn ok(schema_json: Value, value: Value) {
    assert_eq!(
        issues(schema_json, value.clone()),
        Vec::<String>::new(),
        "{value}"
    );
}

fn num(literal: &str) -> Value {
    serde_json::from_str(literal).unwrap()
}

#[test]
fn numbers_compare_exactly() {
    assert!(json_equal(&num("1"), &num("1.0")));
    assert!(json_equal(&num("100"), &num("1e2")));
    assert!(json_equal(&num("-0"), &num("0.0")));
    assert!(!json_equal(
        &num("123456789012345678901234567890"),
        &num("123456789012345678901234567891")
    ));
    assert!(json_equal(&json!({"a": [1, 2.50]}), &json!({"a": [1.0, 2.5]})));
    let d = |s: &str| Decimal::of(&num(s)).unwrap();
    assert_eq!(d("0.001"), d("1e-3"));
    ok(json!({"type": "integer"}), num("1.0"));
    ok(json!({"type": "integer"}), num("1e2"));
    ok(json!({"type": "integer"}), num("123456789012345678901234567890"));
    assert_eq!(
        issues(json!({"type": "integer"}), num("1.5")),
        ["root: Input should be a valid integer, got a number with a fractional part"]
    );
    ok(json!({"multipleOf": 0.1}), num("0.3"));
    ok(json!({"multipleOf": 0.01}), num("19.99"));
    assert_eq!(
        issues(json!({"multipleOf": 0.01}), num("0.001")),
        ["root: Input should be a multiple of 0.01"]
    );
    ok(
        json!({"maximum": 123456789012345678901234567890u128}),
        num("123456789012345678901234567890"),
    );
    assert_eq!(
        issues(
            json!({"maximum": 123456789012345678901234567890u128}),
            num("123456789012345678901234567891")
        ),
        ["root: Input should be less than or equal to 123456789012345678901234567890"]
    );
    assert_eq!(
        issues(json!({"minimum": -1.5}), num("-1.50001")),
        ["root: Input should be greater than or equal to -1.5"]
    );
    // draft-04 boolean exclusive bounds
    assert_eq!(
        issues(json!({"maximum": 5, "exclusiveMaximum": true}), num("5")),
        ["root: Input should be less than 5"]
    );
    ok(json!({"enum": [1, "a"]}), num("1.0"));
    assert_eq!(
        issues(json!({"const": 2}), num("2.5")),
        ["root: Input should be 2"]
    );
}

#[test]
fn strings_count_characters_and_search_patterns() {
    ok(json!({"maxLength": 3}), json!("日本語"));
    assert_eq!(
        issues(json!({"minLength": 1}), json!("")),
        ["root: String should have at least 1 character"]
    );
    ok(json!({"pattern": "b+"}), json!("abbc"));
    assert_eq!(
        issues(json!({"pattern": "^b"}), json!("ab")),
        ["root: String should match pattern '^b'"]
    );
}

#[test]
fn objects_arrays_and_combinators() {
    let object = json!({
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "patternProperties": {"^x-": {"type": "integer"}},
        "additionalProperties": false,
        "minProperties": 1
    });
    assert_eq!(
        issues(object.clone(), json!({"a": "s", "x-n": "1", "other": 1})),
        [
            "x-n: Input should be a valid integer, unable to parse string as an integer",
            "other: Extra inputs are not permitted"
        ]
    );
    assert_eq!(
        issues(object, json!({})),
        ["root: Dictionary should have at least 1 item after validation, not 0"]
    );
    assert_eq!(
        issues(
            json!({"type": "array", "items": {"type": "boolean"}, "uniqueItems": true}),
            json!([true, 1, true])
        ),
        [
            "1: Input should be a valid boolean, unable to interpret input",
            "root: List should have unique items (item 2 repeats an earlier one)"
        ]
    );
    // draft-07 tuple form
    assert_eq!(
        issues(
            json!({"items": [{"type": "string"}], "additionalItems": {"type": "null"}}),
            json!(["a", 1])
        ),
        ["1: Input should be None"]
    );
    assert_eq!(
        issues(
            json!({"prefixItems": [{"type": "string"}], "items": false}),
            json!(["a", 1])
        ),
        ["root: Tuple should have at most 1 item after validation, not 2"]
    );
    assert_eq!(
        issues(json!({"type": ["string", "integer"]}), json!(null)),
        [
            "str: Input should be a valid string",
            "int: Input should be a valid integer"
        ]
    );
    ok(json!({"type": ["string", "null"]}), json!(null));
    assert_eq!(
        issues(json!({"type": ["string", "null"]}), json!(1)),
        ["root: Input should be a valid string"]
    );
    let one_of = json!({"oneOf": [{"type": "integer"}, {"type": "number"}]});
    ok(one_of.clone(), num("1.5"));
    assert_eq!(
        issues(one_of, num("1")),
        ["root: Input should match exactly one of the allowed schemas, not 2"]
    );
    assert_eq!(
        issues(json!({"not": {"type": "null"}}), json!(null)),
        ["root: Input should not match the schema under 'not'"]
    );
    assert_eq!(
        issues(json!({"allOf": [{"minimum": 1}, {"multipleOf": 2}]}), num("0")),
        ["root: Input should be greater than or equal to 1"]
    );
    ok(json!(true), json!({"anything": 1}));
    assert_eq!(issues(json!(false), json!(1)), ["root: No value is allowed here"]);
    assert_eq!(
        issues(
            json!({"properties": {"a": {"properties": {"b": {"items": {"type": "string"}}}}}}),
            json!({"a": {"b": [1]}})
        ),
        ["a -> b -> 0: Input should be a valid string"]
    );
}

#[test]
fn local_refs_recursion_and_its_bound() {
    let tree = json!({
        "$defs": {"Node": {"type": "object", "properties": {"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}},
        "$ref": "#/$defs/Node"
    });
    ok(
        tree.clone(),
        json!({"v": 1, "kids": [{"v": 2, "kids": [{"v": 3}]}]}),
    );
    assert_eq!(
        issues(tree, json!({"v": 1, "kids": [{"kids": [{"v": "x"}]}]})),
        [
            "kids -> 0 -> kids -> 0 -> v: Input should be a valid integer, unable to parse string as an integer"
        ]
    );
    // A cycle that consumes no input ends at the depth bound instead of overflowing the stack.
    let cycle =
        json!({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"});
    assert_eq!(
        issues(cycle, json!(1)),
        ["root: Schema nesting limit reached (recursive $ref?)"]
    );
    // JSON pointer escapes in references.
    ok(
        json!({"$defs": {"a/b": {"type": "null"}, "c%d": {"type": "null"}}, "anyOf": [{"$ref": "#/$defs/a~1b"}, {"$ref": "#/$defs/c%25d"}]}),
        json!(null),
    );
}

#[test]
fn issue_locations_read_like_pydantic() {
    let issue = ValidationIssue {
        path: vec![
            PathSegment::Key("items".into()),
            PathSegment::Index(0),
            PathSegment::Branch("int".into()),
        ],
        message: "m".into(),
    };
    assert_eq!(issue.location(), "items -> 0 -> int");
    assert_eq!(
        ValidationIssue {
            path: vec![],
            message: "m".into()
        }
        .location(),
        "root"
    );
    let schema = OutputSchema::from_json_schema(json!({"title": "T", "type": "object"})).unwrap();
    assert_eq!(
        schema.failure_text(&[
            issue,
            ValidationIssue {
                path: vec![],
                message: "n".into()
            }
        ]),
        "Validation failed for T. Please fix the following errors:\n- Field 'items -> 0 -> int': m\n- Field 'root': n"
    );
    assert_eq!(
        schema.tool_spec().description.rsplit("<description>").next(),
        Some("T structured output tool</description>")
    );
    assert_eq!(
        schema.validate(&json!([])).unwrap_err()[0].message,
        "Input should be a valid dictionary"
    );
}

#[test]
fn output_from_text_wants_one_valid_json_object() {
    use crate::types::{ContentBlock, Message, Role};
    let schema = OutputSchema::from_json_schema(json!({
        "title": "T",
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "number"}},
        "required": ["a", "b"],
    }))
    .unwrap();
    let reply = |texts: &[&str]| {
        let content = texts.iter().map(|t| ContentBlock::Text(t.to_string())).collect();
        Message::new(Role::Assistant, content)
    };
    // The text blocks are joined before parsing.
    assert_eq!(
        schema.output_from_text(&reply(&["{\"a\": 1,", " \"b\": 2}"])),
        Ok(json!({"a": 1, "b": 2.0}))
    );
    for text in ["[1]", "not json", "{\"a\": 1} {\"b\": 2}"] {
        assert_eq!(
            schema.output_from_text(&reply(&[text])),
            Err(StructuredOutputError::NotProduced),
            "{text}"
        );
    }
    let error = schema.output_from_text(&reply(&["{\"a\": \"x\"}"])).unwrap_err();
    assert_eq!(
        error.to_string(),
        "Structured output failed validation for T: a: Input should be a valid integer, unable to parse string as an integer; b: Field required"
    );
}

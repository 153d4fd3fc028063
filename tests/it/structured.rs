//! Structured output (`agent::structured`) against what Strands really does: the recorded
//! scenarios C and C2 (`strands-openai-requests.json`), and tool specs and validation texts captured
//! from pydantic 2.14.4 + strands-agents 1.62.0 for richer models.

use agentcore_rt::internals::pyjson;
use agentcore_rt::structured::{FORCE_PROMPT, OutputSchema, PathSegment, SchemaError};
use agentcore_rt::types::{ToolStatus, ToolUse};
use serde_json::{Value, json};

use crate::support::fixture_json;
use crate::support::strands::MY_OUTPUT_MODEL;

fn my_output_model() -> OutputSchema {
    OutputSchema::from_json_schema(serde_json::from_str(MY_OUTPUT_MODEL).unwrap()).unwrap()
}

fn turn(scenario: &str) -> Value {
    let vectors = fixture_json("vectors/strands-openai-requests.json");
    vectors["scenarios"][scenario]["turns"][0].clone()
}

/// The OpenAI `tools` entry Strands' OpenAIModel sends for a spec.
fn openai_tool(schema: &OutputSchema) -> Value {
    let spec = schema.tool_spec();
    json!({"type": "function", "function": {"name": spec.name, "description": spec.description, "parameters": spec.input_schema}})
}

/// Order-sensitive comparison: serde_json's map equality ignores key order, the wire does not.
fn same_json(got: &Value, expected: &Value) {
    assert_eq!(pyjson::to_string(got), pyjson::to_string(expected));
}

fn tool_use(id: &str, input: &Value) -> ToolUse {
    ToolUse {
        tool_use_id: id.into(),
        name: "MyOutputModel".into(),
        input: input.clone(),
    }
}

#[test]
fn tool_spec_is_the_one_strands_sent_in_scenario_c() {
    let schema = my_output_model();
    assert_eq!(schema.name(), "MyOutputModel");
    let c = turn("C");
    let tools = c["requests"][0]["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 2, "user tool + output tool, no tool_choice");
    assert!(c["requests"][0].get("tool_choice").is_none());
    same_json(&openai_tool(&schema), &tools[1]);
}

#[test]
fn forced_requests_of_scenario_c2() {
    let schema = my_output_model();
    let c2 = turn("C2");
    let requests = c2["requests"].as_array().unwrap();
    same_json(&openai_tool(&schema), &requests[0]["tools"][1]);
    for forced in &requests[1..] {
        assert_eq!(
            forced["tool_choice"],
            json!({"type": "function", "function": {"name": schema.name()}})
        );
        same_json(&forced["tools"], &json!([openai_tool(&schema)]));
        assert_eq!(forced["messages"][3]["content"][0]["text"], FORCE_PROMPT);
    }
    assert_eq!(c2["agent_messages_after"][2]["content"][0]["text"], FORCE_PROMPT);
}

#[test]
fn tool_results_of_scenarios_c_and_c2() {
    let schema = my_output_model();
    let c = turn("C");
    let call = &c["result_message"]["content"][0]["toolUse"];
    let (result, output) = schema.call(&tool_use(call["toolUseId"].as_str().unwrap(), &call["input"]));
    assert_eq!(result.status, ToolStatus::Success);
    same_json(
        &serde_json::to_value(&result).unwrap(),
        &c["agent_messages_after"][2]["content"][0]["toolResult"],
    );
    let output = output.unwrap();
    same_json(&output, &c["structured_output"]);
    // `str(result)` is pydantic's model_dump_json(): compact.
    assert_eq!(
        pyjson::to_string_compact(&output),
        c["str_result"].as_str().unwrap()
    );

    let c2 = turn("C2");
    let messages = c2["agent_messages_after"].as_array().unwrap();
    for (call_at, result_at) in [(3, 4), (5, 6)] {
        let call = &messages[call_at]["content"][0]["toolUse"];
        let (result, _) = schema.call(&tool_use(call["toolUseId"].as_str().unwrap(), &call["input"]));
        same_json(
            &serde_json::to_value(&result).unwrap(),
            &messages[result_at]["content"][0]["toolResult"],
        );
    }
    let bad = &messages[3]["content"][0]["toolUse"]["input"];
    let issues = schema.validate(bad).unwrap_err();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].path, vec![PathSegment::Key("confidence".into())]);
    assert_eq!(
        schema.failure_text(&issues),
        "Validation failed for MyOutputModel. Please fix the following errors:\n- Field 'confidence': Field required"
    );
    assert_eq!(
        schema.success_text(),
        "Successfully validated MyOutputModel structured output"
    );
}

#[test]
fn structured_output_takes_defaults_from_the_schema() {
    let c2 = turn("C2");
    let input = &c2["result_message"]["content"][0]["toolUse"]["input"];
    // A default_factory leaves no trace in the schema, so `sources` stays absent...
    same_json(
        &my_output_model().instantiate(input),
        &json!({"answer": "Paris", "confidence": 0.9}),
    );
    // ...unless the schema states the default, which gives exactly what Strands returned.
    let mut schema: Value = serde_json::from_str(MY_OUTPUT_MODEL).unwrap();
    schema["properties"]["sources"]["default"] = json!([]);
    let schema = OutputSchema::from_json_schema(schema).unwrap();
    same_json(&schema.instantiate(input), &c2["structured_output"]);
    assert_eq!(
        pyjson::to_string_compact(&schema.instantiate(input)),
        c2["str_result"].as_str().unwrap()
    );
    // pydantic turns an int given for a float field into a float; model order wins; extras stay.
    let shaped = schema.instantiate(&json!({"extra": true, "confidence": 1, "answer": "a"}));
    assert_eq!(
        pyjson::to_string(&shaped),
        r#"{"answer": "a", "confidence": 1.0, "sources": [], "extra": true}"#
    );
}

/// Captured with pydantic 2.14.4 + strands-agents 1.62.0: (`model_json_schema()`,
/// `StructuredOutputTool(model).tool_spec`) for
///
/// ```python
/// class Color(str, enum.Enum): red = "red"; green = "green"
/// class Deep(BaseModel):
///     """A deep one."""
///     z: float = 1.5
/// class Inner(BaseModel):
///     """Inner doc."""
///     x: int
///     tag: Optional[str] = None
///     deep: Optional[Deep] = None
/// class Outer(BaseModel):
///     """Everything at once."""
///     name: str = Field(min_length=2, max_length=5, pattern="^[a-z]+$")
///     n: int = Field(ge=0, lt=10, multiple_of=2)
///     f: float = Field(gt=0, le=1)
///     inner: Inner = Field(description="the inner one")
///     maybe: Optional[Inner] = None
///     items: list[Inner] = Field(min_length=1, max_length=2)
///     kind: Literal["a", "b", "c"]
///     one: Literal["x"]
///     u: Union[int, str]
///     flag: bool = False
///     d: dict[str, int] = Field(default_factory=dict)
///     t: tuple[int, str]
///     color: Color = Color.red
///     tags: Optional[list[str]] = None
///     plain: Inner
/// class LastOptional(BaseModel):
///     class_: str = Field(alias="klass")
///     sub: Deep
///     sub2: Inner
/// class NoDoc(BaseModel):
///     a: int
/// ```
///
/// They show Strands' quirks: `inner`/`plain`/`sub`/`sub2` are required yet left out of
/// `required` (the last nested property decides), `u` loses its `anyOf`, `tag` loses its title,
/// `tags` items become nullable.
const STRANDS_SPECS: [(&str, &str); 3] = [
    (
        r##"{"$defs": {"Color": {"enum": ["red", "green"], "title": "Color", "type": "string"}, "Deep": {"description": "A deep one.", "properties": {"z": {"default": 1.5, "title": "Z", "type": "number"}}, "title": "Deep", "type": "object"}, "Inner": {"description": "Inner doc.", "properties": {"x": {"title": "X", "type": "integer"}, "tag": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "title": "Tag"}, "deep": {"anyOf": [{"$ref": "#/$defs/Deep"}, {"type": "null"}], "default": null}}, "required": ["x"], "title": "Inner", "type": "object"}}, "description": "Everything at once.", "properties": {"name": {"maxLength": 5, "minLength": 2, "pattern": "^[a-z]+$", "title": "Name", "type": "string"}, "n": {"exclusiveMaximum": 10, "minimum": 0, "multipleOf": 2, "title": "N", "type": "integer"}, "f": {"exclusiveMinimum": 0, "maximum": 1, "title": "F", "type": "number"}, "inner": {"$ref": "#/$defs/Inner", "description": "the inner one"}, "maybe": {"anyOf": [{"$ref": "#/$defs/Inner"}, {"type": "null"}], "default": null}, "items": {"items": {"$ref": "#/$defs/Inner"}, "maxItems": 2, "minItems": 1, "title": "Items", "type": "array"}, "kind": {"enum": ["a", "b", "c"], "title": "Kind", "type": "string"}, "one": {"const": "x", "title": "One", "type": "string"}, "u": {"anyOf": [{"type": "integer"}, {"type": "string"}], "title": "U"}, "flag": {"default": false, "title": "Flag", "type": "boolean"}, "d": {"additionalProperties": {"type": "integer"}, "title": "D", "type": "object"}, "t": {"maxItems": 2, "minItems": 2, "prefixItems": [{"type": "integer"}, {"type": "string"}], "title": "T", "type": "array"}, "color": {"$ref": "#/$defs/Color", "default": "red"}, "tags": {"anyOf": [{"items": {"type": "string"}, "type": "array"}, {"type": "null"}], "default": null, "title": "Tags"}, "plain": {"$ref": "#/$defs/Inner"}}, "required": ["name", "n", "f", "inner", "items", "kind", "one", "u", "t", "plain"], "title": "Outer", "type": "object"}"##,
        r##"{"name": "Outer", "description": "IMPORTANT: This StructuredOutputTool should only be invoked as the last and final tool before returning the completed result to the caller. <description>Everything at once.</description>", "inputSchema": {"json": {"type": "object", "properties": {"name": {"maxLength": 5, "minLength": 2, "pattern": "^[a-z]+$", "title": "Name", "type": "string"}, "n": {"exclusiveMaximum": 10, "minimum": 0, "multipleOf": 2, "title": "N", "type": "integer"}, "f": {"exclusiveMinimum": 0, "maximum": 1, "title": "F", "type": "number"}, "inner": {"type": "object", "description": "the inner one", "properties": {"x": {"title": "X", "type": "integer"}, "tag": {"type": ["string", "null"]}, "deep": {"description": "A deep one.", "title": "Deep", "type": ["object", "null"], "properties": {"z": {"default": 1.5, "title": "Z", "type": ["number", "null"]}}}}, "required": ["x"]}, "maybe": {"description": "Inner doc.", "title": "Inner", "type": ["object", "null"], "properties": {"x": {"title": "X", "type": "integer"}, "tag": {"type": ["string", "null"]}, "deep": {"description": "A deep one.", "title": "Deep", "type": ["object", "null"], "properties": {"z": {"default": 1.5, "title": "Z", "type": ["number", "null"]}}}}, "required": ["x"]}, "items": {"items": {"description": "Inner doc.", "title": "Inner", "type": "object", "properties": {"x": {"title": "X", "type": "integer"}, "tag": {"type": ["string", "null"]}, "deep": {"description": "A deep one.", "title": "Deep", "type": ["object", "null"], "properties": {"z": {"default": 1.5, "title": "Z", "type": ["number", "null"]}}}}, "required": ["x"]}, "maxItems": 2, "minItems": 1, "title": "Items", "type": "array"}, "kind": {"enum": ["a", "b", "c"], "title": "Kind", "type": "string"}, "one": {"const": "x", "title": "One", "type": "string"}, "u": {"title": "U"}, "flag": {"default": false, "title": "Flag", "type": ["boolean", "null"]}, "d": {"additionalProperties": {"type": "integer"}, "title": "D", "type": ["object", "null"]}, "t": {"maxItems": 2, "minItems": 2, "prefixItems": [{"type": "integer"}, {"type": "string"}], "title": "T", "type": "array"}, "color": {"enum": ["red", "green"], "title": "Color", "type": "string", "default": "red"}, "tags": {"items": {"type": ["string", "null"]}, "type": ["array", "null"]}, "plain": {"type": "object", "description": "The plain", "properties": {"x": {"title": "X", "type": "integer"}, "tag": {"type": ["string", "null"]}, "deep": {"description": "A deep one.", "title": "Deep", "type": ["object", "null"], "properties": {"z": {"default": 1.5, "title": "Z", "type": ["number", "null"]}}}}, "required": ["x"]}}, "title": "Outer", "description": "Everything at once.", "required": ["name", "n", "f", "items", "kind", "one", "u", "t"]}}}"##,
    ),
    (
        r##"{"$defs": {"Deep": {"description": "A deep one.", "properties": {"z": {"default": 1.5, "title": "Z", "type": "number"}}, "title": "Deep", "type": "object"}, "Inner": {"description": "Inner doc.", "properties": {"x": {"title": "X", "type": "integer"}, "tag": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "title": "Tag"}, "deep": {"anyOf": [{"$ref": "#/$defs/Deep"}, {"type": "null"}], "default": null}}, "required": ["x"], "title": "Inner", "type": "object"}}, "properties": {"klass": {"title": "Klass", "type": "string"}, "sub": {"$ref": "#/$defs/Deep"}, "sub2": {"$ref": "#/$defs/Inner"}}, "required": ["klass", "sub", "sub2"], "title": "LastOptional", "type": "object"}"##,
        r##"{"name": "LastOptional", "description": "IMPORTANT: This StructuredOutputTool should only be invoked as the last and final tool before returning the completed result to the caller. <description>LastOptional structured output tool</description>", "inputSchema": {"json": {"type": "object", "properties": {"klass": {"title": "Klass", "type": "string"}, "sub": {"type": "object", "description": "The sub", "properties": {"z": {"default": 1.5, "title": "Z", "type": ["number", "null"]}}}, "sub2": {"type": "object", "description": "The sub2", "properties": {"x": {"title": "X", "type": "integer"}, "tag": {"type": ["string", "null"]}, "deep": {"description": "A deep one.", "title": "Deep", "type": ["object", "null"], "properties": {"z": {"default": 1.5, "title": "Z", "type": ["number", "null"]}}}}, "required": ["x"]}}, "title": "LastOptional", "required": ["klass"]}}}"##,
    ),
    (
        r##"{"properties": {"a": {"title": "A", "type": "integer"}}, "required": ["a"], "title": "NoDoc", "type": "object"}"##,
        r##"{"name": "NoDoc", "description": "IMPORTANT: This StructuredOutputTool should only be invoked as the last and final tool before returning the completed result to the caller. <description>NoDoc structured output tool</description>", "inputSchema": {"json": {"type": "object", "properties": {"a": {"title": "A", "type": "integer"}}, "title": "NoDoc", "required": ["a"]}}}"##,
    ),
];

#[test]
fn tool_specs_match_strands_for_richer_models() {
    for (schema, spec) in STRANDS_SPECS {
        let expected: Value = serde_json::from_str(spec).unwrap();
        let schema = OutputSchema::from_json_schema(serde_json::from_str(schema).unwrap()).unwrap();
        let got = schema.tool_spec();
        assert_eq!(got.name, expected["name"].as_str().unwrap());
        assert_eq!(got.description, expected["description"].as_str().unwrap());
        same_json(&got.input_schema, &expected["inputSchema"]["json"]);
    }
}

#[test]
fn leftover_refs_are_inlined() {
    // Optional[dict[str, Deep]]: Strands would send `{"$ref": "#/$defs/Deep"}` with no `$defs`.
    let schema = OutputSchema::from_json_schema(json!({
        "$defs": {"Deep": {"properties": {"z": {"type": "number"}}, "title": "Deep", "type": "object"}},
        "properties": {"m": {"anyOf": [{"additionalProperties": {"$ref": "#/$defs/Deep"}, "type": "object"}, {"type": "null"}], "default": null}},
        "title": "Holder", "type": "object"
    }))
    .unwrap();
    assert_eq!(
        pyjson::to_string(&schema.tool_spec().input_schema),
        r#"{"type": "object", "properties": {"m": {"additionalProperties": {"title": "Deep", "type": "object", "properties": {"z": {"type": ["number", "null"]}}}, "type": ["object", "null"]}}, "title": "Holder"}"#
    );
}

/// (input, Strands' failure text from pydantic 2.14.4, or None when valid) for `Outer` above and
/// for `MyOutputModel`. Inputs avoid pydantic's lax coercions (numeric strings and the like),
/// which this validator does not apply.
const PYDANTIC_FAILURES: [(&str, Option<&str>); 9] = [
    (
        r#"{"name": "A", "n": 11, "f": 0, "inner": {"x": 1.5}, "maybe": {"x": "a"}, "items": [], "kind": "z", "one": "y", "u": [], "flag": "maybe", "d": {}, "t": [1], "plain": {"x": 1}}"#,
        Some(
            "Validation failed for Outer. Please fix the following errors:\n- Field 'name': String should have at least 2 characters\n- Field 'n': Input should be a multiple of 2\n- Field 'f': Input should be greater than 0\n- Field 'inner -> x': Input should be a valid integer, got a number with a fractional part\n- Field 'maybe -> x': Input should be a valid integer, unable to parse string as an integer\n- Field 'items': List should have at least 1 item after validation, not 0\n- Field 'kind': Input should be 'a', 'b' or 'c'\n- Field 'one': Input should be 'x'\n- Field 'u -> int': Input should be a valid integer\n- Field 'u -> str': Input should be a valid string\n- Field 'flag': Input should be a valid boolean, unable to interpret input\n- Field 't -> 1': Field required",
        ),
    ),
    (
        r#"{"name": "abcdef", "n": 3, "f": 2, "inner": [], "maybe": 3, "items": [{"x": 1}, {"x": 2}, {"x": 3}], "kind": 1, "one": 1, "u": null, "flag": 2, "d": {"a": "b"}, "t": [1, 2, 3], "plain": {"x": 1}, "color": "blue", "tags": [1]}"#,
        Some(
            "Validation failed for Outer. Please fix the following errors:\n- Field 'name': String should have at most 5 characters\n- Field 'n': Input should be a multiple of 2\n- Field 'f': Input should be less than or equal to 1\n- Field 'inner': Input should be a valid dictionary or instance of Inner\n- Field 'maybe': Input should be a valid dictionary or instance of Inner\n- Field 'items': List should have at most 2 items after validation, not 3\n- Field 'kind': Input should be 'a', 'b' or 'c'\n- Field 'one': Input should be 'x'\n- Field 'u -> int': Input should be a valid integer\n- Field 'u -> str': Input should be a valid string\n- Field 'flag': Input should be a valid boolean, unable to interpret input\n- Field 'd -> a': Input should be a valid integer, unable to parse string as an integer\n- Field 't': Tuple should have at most 2 items after validation, not 3\n- Field 'color': Input should be 'red' or 'green'\n- Field 'tags -> 0': Input should be a valid string",
        ),
    ),
    (
        r#"{"n": -2, "f": 0.5, "inner": {"x": 2, "deep": {"z": "q"}}, "plain": {}}"#,
        Some(
            "Validation failed for Outer. Please fix the following errors:\n- Field 'name': Field required\n- Field 'n': Input should be greater than or equal to 0\n- Field 'inner -> deep -> z': Input should be a valid number, unable to parse string as a number\n- Field 'items': Field required\n- Field 'kind': Field required\n- Field 'one': Field required\n- Field 'u': Field required\n- Field 't': Field required\n- Field 'plain -> x': Field required",
        ),
    ),
    (
        r#"{"name": "ab1", "n": 4, "f": 1, "inner": {"x": 2}, "items": [{"x": 1, "tag": 5}], "kind": "a", "one": "x", "u": 1.5, "t": [1, "a"], "plain": {"x": 3}, "tags": null, "d": {"k": 1.0}}"#,
        Some(
            "Validation failed for Outer. Please fix the following errors:\n- Field 'name': String should match pattern '^[a-z]+$'\n- Field 'items -> 0 -> tag': Input should be a valid string\n- Field 'u -> int': Input should be a valid integer, got a number with a fractional part\n- Field 'u -> str': Input should be a valid string",
        ),
    ),
    (
        r#"{"name": "ab", "n": 0, "f": 1e-09, "inner": {"x": 2}, "items": [{"x": 1}], "kind": "c", "one": "x", "u": "s", "t": [1, "a"], "plain": {"x": 3.0}}"#,
        None,
    ),
    (
        r#"{"answer": "Paris"}"#,
        Some(
            "Validation failed for MyOutputModel. Please fix the following errors:\n- Field 'confidence': Field required",
        ),
    ),
    (
        r#"{}"#,
        Some(
            "Validation failed for MyOutputModel. Please fix the following errors:\n- Field 'answer': Field required\n- Field 'confidence': Field required",
        ),
    ),
    (
        r#"{"answer": 1, "confidence": [], "sources": ["a", 2, null]}"#,
        Some(
            "Validation failed for MyOutputModel. Please fix the following errors:\n- Field 'answer': Input should be a valid string\n- Field 'confidence': Input should be a valid number\n- Field 'sources -> 1': Input should be a valid string\n- Field 'sources -> 2': Input should be a valid string",
        ),
    ),
    (
        r#"{"answer": "a", "confidence": 1, "sources": null, "extra": 1}"#,
        Some(
            "Validation failed for MyOutputModel. Please fix the following errors:\n- Field 'sources': Input should be a valid list",
        ),
    ),
];

#[test]
fn failure_texts_match_pydantic() {
    let outer = OutputSchema::from_json_schema(serde_json::from_str(STRANDS_SPECS[0].0).unwrap()).unwrap();
    for (i, (input, expected)) in PYDANTIC_FAILURES.into_iter().enumerate() {
        let schema = if i < 5 { &outer } else { &my_output_model() };
        let input: Value = serde_json::from_str(input).unwrap();
        let got = schema
            .validate(&input)
            .map_err(|issues| schema.failure_text(&issues))
            .err();
        assert_eq!(got.as_deref(), expected, "input {input}");
    }
}

#[test]
fn schema_errors_say_what_is_wrong() {
    let err = |schema: Value| OutputSchema::from_json_schema(schema).unwrap_err();
    let object = |extra: Value| {
        let mut schema = json!({"title": "Out", "type": "object", "properties": {"a": {"type": "string"}}});
        for (k, v) in extra.as_object().unwrap() {
            schema[k] = v.clone();
        }
        schema
    };
    assert_eq!(err(json!([1])), SchemaError::NotAnObject);
    assert_eq!(err(json!({"type": "object"})), SchemaError::MissingTitle);
    assert_eq!(
        err(json!({"title": "my output"})),
        SchemaError::InvalidTitle {
            title: "my output".into()
        }
    );
    assert_eq!(
        err(json!({"title": "x".repeat(65)})),
        SchemaError::InvalidTitle {
            title: "x".repeat(65)
        }
    );
    assert_eq!(
        err(json!({"title": "Out", "type": "array"})),
        SchemaError::NotObjectType {
            found: "\"array\"".into()
        }
    );
    assert_eq!(
        err(object(
            json!({"properties": {"a": {"$ref": "https://example.com/s.json"}}})
        )),
        SchemaError::UnsupportedRef {
            reference: "https://example.com/s.json".into(),
            path: "#/properties/a".into()
        }
    );
    assert_eq!(
        err(object(json!({"properties": {"a": {"$ref": "#/$defs/Missing"}}}))),
        SchemaError::UnresolvedRef {
            reference: "#/$defs/Missing".into(),
            path: "#/properties/a".into()
        }
    );
    assert_eq!(
        err(object(json!({"if": {"required": ["a"]}}))),
        SchemaError::Unsupported {
            keyword: "if".into(),
            path: "#".into()
        }
    );
    assert!(matches!(
        err(object(json!({"properties": {"a": {"type": "string", "pattern": "(unclosed"}}}))),
        SchemaError::InvalidPattern { ref path, .. } if path == "#/properties/a/pattern"
    ));
    assert_eq!(
        err(object(json!({"properties": {"a": {"type": "text"}}}))),
        SchemaError::Invalid {
            path: "#/properties/a/type".into(),
            message: "must be a JSON type name or an array of them".into()
        }
    );
    // A self-referencing model cannot be inlined (Strands refuses it too).
    let tree = json!({
        "$defs": {"Node": {"properties": {"children": {"items": {"$ref": "#/$defs/Node"}, "type": "array"}}, "title": "Node", "type": "object"}},
        "properties": {"root": {"$ref": "#/$defs/Node"}}, "title": "Tree", "type": "object"
    });
    assert!(matches!(err(tree), SchemaError::RecursiveRef { .. }));
    assert!(matches!(
        err(json!({"$defs": {}, "$ref": "#", "title": "Loop"})),
        SchemaError::RecursiveRef { .. }
    ));
    let message = err(object(json!({"properties": {"a": {"$ref": "other.json#/x"}}}))).to_string();
    assert!(message.contains("only local references"), "{message}");
}

//! What goes wrong with structured output: a schema that cannot be one ([`SchemaError`], at
//! start-up) and a model that does not deliver ([`StructuredOutputError`], per invocation).

use std::fmt;

use super::issue::ValidationIssue;

/// Strands' text when a forced structured-output turn ends with text that is not a JSON object.
const NOT_PRODUCED_TEXT: &str = "The model did not produce structured output: it neither called the structured output tool nor returned a JSON object.";

/// Why a JSON schema cannot be used as an output schema.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemaError {
    /// The schema is not a JSON object.
    NotAnObject,
    /// The schema has no string `title`; it names the output tool.
    MissingTitle,
    /// The `title` is not a valid tool name (`^[a-zA-Z0-9_-]{1,64}$`).
    InvalidTitle {
        /// The title found.
        title: String,
    },
    /// The root schema does not describe an object (tool input is always an object).
    NotObjectType {
        /// The `type` found.
        found: String,
    },
    /// A `$ref` to another document; only references inside the schema (`#...`) are supported.
    UnsupportedRef {
        /// The reference.
        reference: String,
        /// JSON pointer of the schema holding it.
        path: String,
    },
    /// A local `$ref` that points nowhere.
    UnresolvedRef {
        /// The reference.
        reference: String,
        /// JSON pointer of the schema holding it.
        path: String,
    },
    /// A recursive schema: the tool spec inlines every `$ref`, which a cycle makes impossible
    /// (Strands refuses these too).
    RecursiveRef {
        /// The reference, or the title of the schema that recurses.
        reference: String,
    },
    /// A keyword with validation meaning that the validator does not implement.
    Unsupported {
        /// The keyword.
        keyword: String,
        /// JSON pointer of the schema holding it.
        path: String,
    },
    /// A `pattern` (or `patternProperties` key) that is not a valid regular expression.
    InvalidPattern {
        /// The pattern.
        pattern: String,
        /// JSON pointer of the keyword.
        path: String,
        /// The regex compiler's message.
        message: String,
    },
    /// A keyword whose value has the wrong shape.
    Invalid {
        /// JSON pointer of the keyword.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaError::NotAnObject => f.write_str("output schema must be a JSON object"),
            SchemaError::MissingTitle => {
                f.write_str("output schema needs a string \"title\": it is the name of the output tool")
            }
            SchemaError::InvalidTitle { title } => write!(
                f,
                "output schema title {title:?} is not a valid tool name (1-64 of a-z, A-Z, 0-9, '_', '-')"
            ),
            SchemaError::NotObjectType { found } => {
                write!(
                    f,
                    "output schema must describe an object (\"type\": \"object\"), found type {found}"
                )
            }
            SchemaError::UnsupportedRef { reference, path } => write!(
                f,
                "output schema: $ref {reference:?} at {path} points outside the schema; only local references (\"#/...\") are supported"
            ),
            SchemaError::UnresolvedRef { reference, path } => {
                write!(f, "output schema: $ref {reference:?} at {path} does not resolve")
            }
            SchemaError::RecursiveRef { reference } => write!(
                f,
                "output schema is recursive ({reference}); a recursive schema cannot be inlined into a tool spec"
            ),
            SchemaError::Unsupported { keyword, path } => {
                write!(f, "output schema: keyword {keyword:?} at {path} is not supported")
            }
            SchemaError::InvalidPattern {
                pattern,
                path,
                message,
            } => {
                write!(
                    f,
                    "output schema: pattern {pattern:?} at {path} is invalid: {message}"
                )
            }
            SchemaError::Invalid { path, message } => write!(f, "output schema: {path} {message}"),
        }
    }
}

impl std::error::Error for SchemaError {}

/// Why an invocation that asked for structured output ends without one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StructuredOutputError {
    /// The forced turn ended with text that is not a JSON object (Strands' `result_from_text`).
    NotProduced,
    /// The forced turn ended with a JSON object that does not validate.
    Invalid {
        /// The schema's name.
        schema: String,
        /// Every issue, in pydantic's order.
        issues: Vec<ValidationIssue>,
    },
    /// The output tool was called with invalid input as often as allowed (our cap; Strands lets
    /// the model retry forever).
    AttemptsExhausted {
        /// The schema's name.
        schema: String,
        /// Invalid calls made.
        attempts: usize,
        /// The tool result text of the last invalid call.
        last_error: String,
    },
}

impl fmt::Display for StructuredOutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StructuredOutputError::NotProduced => f.write_str(NOT_PRODUCED_TEXT),
            StructuredOutputError::Invalid { schema, issues } => {
                write!(f, "Structured output failed validation for {schema}: ")?;
                for (i, issue) in issues.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{issue}")?;
                }
                Ok(())
            }
            StructuredOutputError::AttemptsExhausted {
                schema,
                attempts,
                last_error,
            } => write!(
                f,
                "The model did not produce valid structured output for {schema} in {attempts} attempts. Last error: {last_error}"
            ),
        }
    }
}

impl std::error::Error for StructuredOutputError {}

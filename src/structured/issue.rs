//! [`ValidationIssue`]: why a value does not match the schema, and where, as pydantic reports it.

use std::fmt;

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

//! Structured output (stub).

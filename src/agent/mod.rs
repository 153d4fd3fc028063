//! The agent: a blocking model -> tools -> model loop (Strands semantics), knowing nothing of HTTP.

pub mod conversation;
pub mod message;
pub mod model;
pub mod structured;
pub mod tools;

//! The domain types every layer shares: Strands' `types` (messages, content blocks, tool use
//! and results, usage), tool specs, and the cancellation token. A leaf: it imports no other
//! module of the crate but the JSON leaf.

mod cancel;
mod message;
mod tool_spec;

pub use cancel::CancelToken;
pub use message::*;
pub use tool_spec::ToolSpec;

//! [`CancelToken`]: how a request tells the work it started that nobody is waiting any more.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A shared, one-way cancellation flag.
///
/// The HTTP layer sets it when the client goes away (or the server drains); the agent loop
/// checks it between steps, and model clients and tools poll it while they block, so that an
/// in-flight call is abandoned promptly instead of running to its end. Clones share one flag.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Cancels every clone of this token. Idempotent.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// True once [`CancelToken::cancel`] was called on any clone.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

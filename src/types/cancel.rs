//! [`CancelToken`]: how a request tells the work it started that nobody is waiting any more.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A shared, one-way cancellation flag.
///
/// The HTTP layer sets it when the client goes away (or the server drains); the agent loop
/// checks it between steps, and model clients and tools poll it while they block, so that an
/// in-flight call is abandoned promptly instead of running to its end. Clones share one flag.
/// A token made with [`CancelToken::child`] is also cancelled by its parent, never the
/// reverse.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<Flag>);

#[derive(Debug, Default)]
struct Flag {
    set: AtomicBool,
    parent: Option<CancelToken>,
}

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Cancels every clone of this token. Idempotent.
    pub fn cancel(&self) {
        self.0.set.store(true, Ordering::Relaxed);
    }

    /// True once [`CancelToken::cancel`] was called on any clone.
    pub fn is_cancelled(&self) -> bool {
        self.0.set.load(Ordering::Relaxed) || self.0.parent.as_ref().is_some_and(CancelToken::is_cancelled)
    }

    /// A token cancelled when this one is, or on its own: work that one party (an A2A
    /// `CancelTask`) may stop without the request's own token, which also means "the client
    /// is gone", being set.
    ///
    /// ```
    /// use agentcore_rt::CancelToken;
    ///
    /// let request = CancelToken::new();
    /// let task = request.child();
    /// task.cancel();
    /// assert!(task.is_cancelled() && !request.is_cancelled());
    /// let task = request.child();
    /// request.cancel();
    /// assert!(task.is_cancelled());
    /// ```
    pub fn child(&self) -> CancelToken {
        CancelToken(Arc::new(Flag {
            set: AtomicBool::new(false),
            parent: Some(self.clone()),
        }))
    }
}

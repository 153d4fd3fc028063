//! [`BackgroundStart`]: a tool provider that starts on a thread of its own, so the server can
//! listen (and answer `/ping`) while, say, MCP servers are still being probed.
//!
//! An invocation that arrives before the start has finished waits for it, at most as long as
//! the start itself may take; one that arrives after a failed start gets the start's error.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::{Tool, ToolError, ToolProvider};
use crate::sync::lock;

/// How a background start went, or that it is still going.
enum State {
    Starting,
    Ready(Arc<dyn ToolProvider>),
    Failed(ToolError),
}

struct Shared {
    /// The state, and whether `shutdown` came first (then the provider is stopped as soon as
    /// it exists). One lock, so a shutdown can never fall between the two.
    state: Mutex<(State, bool)>,
    changed: Condvar,
}

/// A [`ToolProvider`] whose inner provider is started in the background.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// use agentcore_rt::tools::{BackgroundStart, StaticTools, ToolProvider};
///
/// let tools = BackgroundStart::spawn("tools", Duration::from_secs(30), || {
///     // e.g. McpToolProvider::start(config): slow, so it runs on its own thread.
///     Ok(Arc::new(StaticTools(Vec::new())) as Arc<dyn ToolProvider>)
/// })?;
/// assert!(tools.wait_started().is_ok());
/// assert!(tools.tools_for("session-1")?.is_empty());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct BackgroundStart {
    shared: Arc<Shared>,
    name: String,
    /// How long an invocation waits for the start.
    wait: Duration,
}

impl fmt::Debug for BackgroundStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &lock(&self.shared.state).0 {
            State::Starting => "starting",
            State::Ready(_) => "ready",
            State::Failed(_) => "failed",
        };
        f.debug_struct("BackgroundStart")
            .field("name", &self.name)
            .field("state", &state)
            .finish()
    }
}

impl BackgroundStart {
    /// Runs `start` on a new thread named `name`. Invocations wait up to `wait` for it.
    pub fn spawn(
        name: &str,
        wait: Duration,
        start: impl FnOnce() -> Result<Arc<dyn ToolProvider>, ToolError> + Send + 'static,
    ) -> std::io::Result<BackgroundStart> {
        let shared = Arc::new(Shared {
            state: Mutex::new((State::Starting, false)),
            changed: Condvar::new(),
        });
        let on_thread = Arc::clone(&shared);
        let source = name.to_string();
        thread::Builder::new()
            .name(format!("start-{name}"))
            .spawn(move || {
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(start))
                    .unwrap_or_else(|_| Err(ToolError::new(source, "the start-up panicked")));
                let mut state = lock(&on_thread.state);
                state.0 = match outcome {
                    Ok(provider) => {
                        if state.1 {
                            provider.shutdown();
                        }
                        State::Ready(provider)
                    }
                    Err(error) => State::Failed(error),
                };
                drop(state);
                on_thread.changed.notify_all();
            })?;
        Ok(BackgroundStart {
            shared,
            name: name.to_string(),
            wait,
        })
    }

    /// Blocks until the start has finished; its error when it failed.
    pub fn wait_started(&self) -> Result<(), ToolError> {
        self.wait_for(None).map(|_| ())
    }

    /// The started provider, waiting up to `limit` (forever with `None`) for the start.
    fn wait_for(&self, limit: Option<Duration>) -> Result<Arc<dyn ToolProvider>, ToolError> {
        let deadline = limit.map(|limit| Instant::now() + limit);
        let mut state = lock(&self.shared.state);
        loop {
            match &state.0 {
                State::Ready(provider) => return Ok(Arc::clone(provider)),
                State::Failed(error) => return Err(error.clone()),
                State::Starting => {}
            }
            state = match deadline {
                None => self
                    .shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(ToolError::new(
                            &self.name,
                            format!("still starting after {} s", self.wait.as_secs()),
                        ));
                    }
                    self.shared
                        .changed
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

impl ToolProvider for BackgroundStart {
    fn tools_for(&self, session_id: &str) -> Result<Vec<Arc<dyn Tool>>, ToolError> {
        self.wait_for(Some(self.wait))?.tools_for(session_id)
    }

    fn invocation_finished(&self, session_id: &str) {
        if let State::Ready(provider) = &lock(&self.shared.state).0 {
            provider.invocation_finished(session_id);
        }
    }

    fn shutdown(&self) {
        let mut state = lock(&self.shared.state);
        state.1 = true;
        if let State::Ready(provider) = &state.0 {
            provider.shutdown();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    use super::*;
    use crate::tools::StaticTools;

    struct Counted(Arc<AtomicUsize>);

    impl ToolProvider for Counted {
        fn tools_for(&self, _: &str) -> Result<Vec<Arc<dyn Tool>>, ToolError> {
            Ok(Vec::new())
        }

        fn shutdown(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn an_invocation_waits_for_the_start() {
        let (go, gate) = mpsc::channel::<()>();
        let tools = BackgroundStart::spawn("t", Duration::from_secs(10), move || {
            let _ = gate.recv();
            Ok(Arc::new(StaticTools(Vec::new())) as Arc<dyn ToolProvider>)
        })
        .unwrap();
        let waiting = {
            let tools = tools.clone();
            thread::spawn(move || tools.tools_for("s").map(|t| t.len()))
        };
        thread::sleep(Duration::from_millis(50));
        assert!(!waiting.is_finished(), "answered before the start finished");
        go.send(()).unwrap();
        assert_eq!(waiting.join().unwrap().unwrap(), 0);
    }

    #[test]
    fn a_failed_start_fails_every_invocation_and_a_slow_one_times_out() {
        let failed = BackgroundStart::spawn("bad", Duration::from_secs(10), || {
            Err(ToolError::new("bad", "cannot start"))
        })
        .unwrap();
        assert_eq!(
            failed.wait_started().unwrap_err().to_string(),
            "bad: cannot start"
        );
        assert_eq!(
            failed.tools_for("s").err().unwrap().to_string(),
            "bad: cannot start"
        );

        let (_hold, gate) = mpsc::channel::<()>();
        let slow = BackgroundStart::spawn("slow", Duration::from_millis(50), move || {
            let _ = gate.recv();
            Err(ToolError::new("slow", "never"))
        })
        .unwrap();
        assert_eq!(
            slow.tools_for("s").err().unwrap().to_string(),
            "slow: still starting after 0 s"
        );
    }

    #[test]
    fn shutdown_before_the_start_finished_stops_what_it_started() {
        let stops = Arc::new(AtomicUsize::new(0));
        let (go, gate) = mpsc::channel::<()>();
        let counted = Arc::clone(&stops);
        let tools = BackgroundStart::spawn("t", Duration::from_secs(10), move || {
            let _ = gate.recv();
            Ok(Arc::new(Counted(counted)) as Arc<dyn ToolProvider>)
        })
        .unwrap();
        tools.shutdown();
        go.send(()).unwrap();
        tools.wait_started().unwrap();
        assert_eq!(stops.load(Ordering::SeqCst), 1);
    }
}

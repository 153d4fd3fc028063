//! Closing idle keep-alive connections without a timer per read.
//!
//! A read that parks with a timeout registers a timer in may's timer thread; with one parked
//! read per request that was a measurable share of `/ping`'s cost (the timer queue's work was
//! ~7% of the instructions, and timers of abandoned waits lingered until they expired). So a
//! connection waiting for its next request parks with no timeout, and one reaper coroutine
//! per server shuts down, once per tick, every connection that has been waiting longer than
//! `IDLE_TIMEOUT`. Partial heads and bodies still use per-read timeouts: they are rare.

use crate::sync::lock;
use std::collections::HashMap;
use std::os::unix::io::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `idle_since` value of a connection that is not waiting for a request.
const BUSY: u64 = u64::MAX;

/// The registry of open connections and a coarse clock the reaper advances.
pub(crate) struct IdleReaper {
    connections: Mutex<HashMap<u64, Registered>>,
    next_id: AtomicU64,
    started: Instant,
    /// Milliseconds since `started`, advanced by `tick`; read by connections without a syscall.
    now_ms: AtomicU64,
}

struct Registered {
    fd: RawFd,
    idle_since: Arc<AtomicU64>,
}

impl IdleReaper {
    pub(crate) fn new() -> IdleReaper {
        IdleReaper {
            connections: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            started: Instant::now(),
            now_ms: AtomicU64::new(0),
        }
    }

    /// How often the reaper should look: fine enough for short test timeouts, at most 1 s.
    pub(crate) fn tick_interval(idle_timeout: Duration) -> Duration {
        (idle_timeout / 4).clamp(Duration::from_millis(20), Duration::from_secs(1))
    }

    /// Registers a connection's socket. The returned handle must be dropped before the socket
    /// is closed (declare it before the stream in the owning struct).
    pub(crate) fn register(self: &Arc<Self>, fd: RawFd) -> IdleHandle {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let idle_since = Arc::new(AtomicU64::new(BUSY));
        lock(&self.connections).insert(
            id,
            Registered {
                fd,
                idle_since: Arc::clone(&idle_since),
            },
        );
        IdleHandle {
            reaper: Arc::clone(self),
            id,
            idle_since,
        }
    }

    /// Advances the clock and shuts down connections idle longer than `idle_timeout`. Their
    /// parked reads then return end-of-stream and their coroutines close them.
    pub(crate) fn tick(&self, idle_timeout: Duration) {
        let now = self.started.elapsed().as_millis() as u64;
        self.now_ms.store(now, Ordering::Relaxed);
        let limit = idle_timeout.as_millis() as u64;
        let mut connections = lock(&self.connections);
        connections.retain(|_, conn| {
            let since = conn.idle_since.load(Ordering::Acquire);
            if since == BUSY || now.saturating_sub(since) < limit {
                return true;
            }
            shutdown(conn.fd);
            false
        });
    }
}

/// One connection's entry; unregisters on drop.
pub(crate) struct IdleHandle {
    reaper: Arc<IdleReaper>,
    id: u64,
    idle_since: Arc<AtomicU64>,
}

impl IdleHandle {
    /// The connection starts waiting for its next request.
    pub(crate) fn idle(&self) {
        let now = self.reaper.now_ms.load(Ordering::Relaxed);
        self.idle_since.store(now, Ordering::Release);
    }

    /// The connection has bytes of a request (or is otherwise busy).
    pub(crate) fn busy(&self) {
        self.idle_since.store(BUSY, Ordering::Release);
    }
}

impl Drop for IdleHandle {
    fn drop(&mut self) {
        // Under the registry lock, before the socket closes: the reaper can then never shut
        // down a descriptor number that has been reused by another connection.
        lock(&self.reaper.connections).remove(&self.id);
    }
}

#[allow(unsafe_code)]
fn shutdown(fd: RawFd) {
    // SAFETY: shutdown(2) takes a descriptor number and touches no memory of ours. The
    // descriptor is still open and still this connection's: entries are removed (under the
    // same lock the caller holds) before their socket is closed.
    unsafe {
        libc::shutdown(fd, libc::SHUT_RDWR);
    }
}

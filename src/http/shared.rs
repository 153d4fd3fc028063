//! State shared by a server's accept loop and every connection: the service, the settings,
//! the worker pools, and the counters the drain waits on.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::idle::IdleReaper;
use super::pool::WorkerPool;
use super::service::Service;
use crate::config::ServerConfig;

/// One server's shared state.
pub(crate) struct Shared {
    pub(crate) service: Box<dyn Service>,
    pub(crate) config: ServerConfig,
    pub(crate) pool: WorkerPool,
    /// WebSocket handlers: one thread per open session, apart from `pool`, because a handler
    /// holds its thread while it waits for the client.
    pub(crate) ws_pool: WorkerPool,
    pub(crate) idle: Arc<IdleReaper>,
    shutting_down: AtomicBool,
    connections: AtomicUsize,
    busy: AtomicUsize,
    stopped: (Mutex<bool>, Condvar),
}

impl Shared {
    pub(crate) fn new(service: Box<dyn Service>, config: ServerConfig) -> Shared {
        Shared {
            service,
            pool: WorkerPool::new(config.worker_threads, config.max_invocations),
            ws_pool: WorkerPool::new(config.max_websockets, config.max_websockets),
            idle: Arc::new(IdleReaper::new()),
            config,
            shutting_down: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            busy: AtomicUsize::new(0),
            stopped: (Mutex::new(false), Condvar::new()),
        }
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Starts the shutdown; false when it had already started.
    pub(crate) fn begin_shutdown(&self) -> bool {
        !self.shutting_down.swap(true, Ordering::AcqRel)
    }

    /// Exchanges in flight (invocations, WebSocket sessions).
    pub(crate) fn in_flight(&self) -> usize {
        self.busy.load(Ordering::Acquire)
    }

    /// Counts an exchange the drain must wait for (an invocation, a WebSocket session).
    pub(crate) fn busy_guard(self: &Arc<Self>) -> BusyGuard {
        self.busy.fetch_add(1, Ordering::AcqRel);
        BusyGuard(Arc::clone(self))
    }

    /// Counts an accepted connection until the guard drops; also returns whether it is over
    /// the connection limit.
    pub(crate) fn open_connection(self: &Arc<Self>) -> (ConnGuard, bool) {
        let open = self.connections.fetch_add(1, Ordering::AcqRel) + 1;
        (ConnGuard(Arc::clone(self)), open > self.config.max_connections)
    }

    /// Wakes `wait_until_stopped`.
    pub(crate) fn mark_stopped(&self) {
        let (lock, cvar) = &self.stopped;
        if let Ok(mut stopped) = lock.lock() {
            *stopped = true;
            cvar.notify_all();
        }
    }

    /// Blocks until `mark_stopped`, then until the exchanges in flight finished or `drain`
    /// passed; returns how many were left.
    pub(crate) fn wait_until_drained(&self, drain: Duration) -> usize {
        let (lock, cvar) = &self.stopped;
        let mut stopped = lock.lock().unwrap_or_else(|p| p.into_inner());
        while !*stopped {
            stopped = cvar.wait(stopped).unwrap_or_else(|p| p.into_inner());
        }
        drop(stopped);
        let deadline = Instant::now() + drain;
        while self.in_flight() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.in_flight()
    }
}

/// An exchange in flight; the drain waits for it.
pub(crate) struct BusyGuard(Arc<Shared>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An open connection.
pub(crate) struct ConnGuard(Arc<Shared>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

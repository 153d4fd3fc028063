//! The bounded pool of OS threads that runs handlers, so nothing blocking ever runs on a
//! coroutine worker (a blocked may worker stalls every coroutine queued on it, `/ping` too).
//!
//! Threads are started on demand up to `max_threads` and then kept; jobs beyond the running
//! ones wait in a queue. `try_execute` refuses work once `max_pending` jobs are running or
//! queued, which the server turns into a 503. Submitting only takes a short std mutex, so it
//! is safe from a coroutine; results travel back over may channels, whose `recv` parks only
//! the coroutine.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

type Job = Box<dyn FnOnce() + Send>;

/// Stack size of worker threads: handlers parse JSON nested up to MAX_JSON_DEPTH and run
/// TLS; only touched pages cost memory.
const WORKER_STACK: usize = 4 * 1024 * 1024;

struct Inner {
    queue: Mutex<Queue>,
    ready: Condvar,
    max_threads: usize,
    max_pending: usize,
    pending: AtomicUsize,
}

struct Queue {
    jobs: VecDeque<Job>,
    threads: usize,
    idle: usize,
    stopping: bool,
}

/// A bounded, lazily grown thread pool.
#[derive(Clone)]
pub struct WorkerPool(Arc<Inner>);

/// The pool is at capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolBusy;

impl WorkerPool {
    /// A pool of up to `max_threads` threads accepting up to `max_pending` jobs at once.
    pub fn new(max_threads: usize, max_pending: usize) -> WorkerPool {
        WorkerPool(Arc::new(Inner {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                threads: 0,
                idle: 0,
                stopping: false,
            }),
            ready: Condvar::new(),
            max_threads: max_threads.max(1),
            max_pending: max_pending.max(1),
            pending: AtomicUsize::new(0),
        }))
    }

    /// Queues `job`, or refuses it when `max_pending` jobs are already running or queued.
    pub fn try_execute(&self, job: impl FnOnce() + Send + 'static) -> Result<(), PoolBusy> {
        let inner = &self.0;
        let reserved = inner
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < inner.max_pending).then_some(n + 1)
            });
        if reserved.is_err() {
            return Err(PoolBusy);
        }
        let mut q = lock(&inner.queue);
        if q.stopping {
            inner.pending.fetch_sub(1, Ordering::AcqRel);
            return Err(PoolBusy);
        }
        q.jobs.push_back(Box::new(job));
        // A worker woken for an earlier job still counts as idle until it runs, so compare
        // the queue with the idle count: more jobs waiting than idle workers need a new thread.
        if q.jobs.len() > q.idle && q.threads < inner.max_threads {
            q.threads += 1;
            let pool = Arc::clone(inner);
            let spawned = std::thread::Builder::new()
                .name("agentcore-worker".into())
                .stack_size(WORKER_STACK)
                .spawn(move || worker_loop(&pool));
            if spawned.is_err() {
                // Could not start a thread (resource limits): the queued job waits for an
                // existing worker; with none at all, refuse it.
                q.threads -= 1;
                if q.threads == 0 {
                    q.jobs.pop_back();
                    inner.pending.fetch_sub(1, Ordering::AcqRel);
                    return Err(PoolBusy);
                }
            }
        } else {
            inner.ready.notify_one();
        }
        Ok(())
    }

    /// Jobs running or queued.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.0.pending.load(Ordering::Acquire)
    }

    /// Threads started so far.
    #[cfg(test)]
    pub fn threads(&self) -> usize {
        lock(&self.0.queue).threads
    }

    /// Lets idle workers exit once the queue is empty (jobs already queued still run).
    pub fn stop(&self) {
        lock(&self.0.queue).stopping = true;
        self.0.ready.notify_all();
    }
}

fn worker_loop(inner: &Inner) {
    loop {
        let job = {
            let mut q = lock(&inner.queue);
            loop {
                if let Some(job) = q.jobs.pop_front() {
                    break job;
                }
                if q.stopping {
                    q.threads -= 1;
                    return;
                }
                q.idle += 1;
                q = inner.ready.wait(q).unwrap_or_else(|p| p.into_inner());
                q.idle -= 1;
            }
        };
        // Jobs catch their own panics (handlers are wrapped); this is the last line of defence
        // so that a stray panic cannot shrink the pool.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
        inner.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

fn lock(m: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn runs_jobs_and_refuses_past_capacity() {
        let pool = WorkerPool::new(2, 3);
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate_rx));
        let (done_tx, done_rx) = mpsc::channel();
        for _ in 0..3 {
            let gate = Arc::clone(&gate);
            let done = done_tx.clone();
            pool.try_execute(move || {
                let _ = gate.lock().unwrap().recv();
                done.send(()).unwrap();
            })
            .unwrap();
        }
        assert_eq!(pool.try_execute(|| {}), Err(PoolBusy));
        assert!(pool.threads() <= 2);
        for _ in 0..3 {
            gate_tx.send(()).unwrap();
        }
        for _ in 0..3 {
            done_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        }
        // Capacity comes back once jobs finish.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while pool.pending() > 0 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert!(pool.try_execute(|| {}).is_ok());
    }

    #[test]
    fn jobs_queued_back_to_back_each_get_a_thread() {
        let pool = WorkerPool::new(2, 2);
        // One thread, idle again.
        let (tx, rx) = mpsc::channel();
        pool.try_execute(move || tx.send(()).unwrap()).unwrap();
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while (pool.pending() > 0 || lock(&pool.0.queue).idle < 1) && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        // Two blocking jobs submitted at once must both start: the idle thread takes one,
        // a second thread the other.
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate_rx));
        let (started_tx, started_rx) = mpsc::channel();
        for i in 0..2 {
            let (gate, started) = (Arc::clone(&gate), started_tx.clone());
            pool.try_execute(move || {
                started.send(i).unwrap();
                let _ = gate.lock().unwrap().recv();
            })
            .unwrap();
        }
        for _ in 0..2 {
            started_rx
                .recv_timeout(Duration::from_secs(5))
                .expect("a job waited behind a blocked one while a thread was free to start");
        }
        drop(gate_tx);
    }

    #[test]
    fn survives_a_panicking_job() {
        let pool = WorkerPool::new(1, 4);
        pool.try_execute(|| panic!("boom")).unwrap();
        let (tx, rx) = mpsc::channel();
        pool.try_execute(move || tx.send(7).unwrap()).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), 7);
    }
}

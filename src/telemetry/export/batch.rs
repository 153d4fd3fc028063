//! The batch span processor: a bounded queue filled by `on_end`, drained by one thread.
//!
//! `enqueue` holds the queue's lock only to push (no allocation past the queue's reserved
//! capacity, no I/O), so a request path never waits on the collector. Backoff waits happen on
//! the queue's condition variable, so `shutdown` cuts them short.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::transport::{Outcome, Transport};
use super::{OtlpConfig, WARN_EVERY, redact_userinfo};
use crate::logging::{Level, Line};
use crate::telemetry::{KeyValue, SpanData, Value};

/// What became of the spans handed to the exporter so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Accepted by the collector (a 2xx answer).
    pub exported: u64,
    /// Never sent: the queue was full, or still held spans when shutdown's time ran out, or
    /// they ended after shutdown.
    pub dropped: u64,
    /// Sent and lost: a final error answer, retries ran out of time, or the collector rejected
    /// them in a partial success.
    pub failed: u64,
    /// Waiting in the queue now.
    pub queued: usize,
}

/// Retries start at this wait and double, up to [`MAX_BACKOFF`], each with jitter.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

struct State {
    queue: VecDeque<SpanData>,
    /// The queued spans' [`approximate_size`], summed.
    queued_bytes: usize,
    /// Set by `shutdown`: flush what is queued until then, then stop.
    shutdown_by: Option<Instant>,
    /// The thread has stopped, or `shutdown` gave up waiting and accounted for what was left:
    /// whoever sets it gives the last report, and nothing is counted after it.
    finished: bool,
    /// Spans taken for the batch being sent, not yet counted as exported or failed.
    in_flight: u64,
    warnings: WarnLimiter,
    last_failure: String,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the export thread (a full batch, shutdown).
    wake: Condvar,
    /// Wakes `shutdown` when the thread has finished.
    finished: Condvar,
    exported: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    max_queue_size: usize,
    max_queue_bytes: usize,
    max_batch: usize,
    /// For the loss warning (user info redacted).
    endpoint: String,
}

/// A loss warning's numbers, taken under the lock and logged after it is released (a slow
/// stdout must never hold up `enqueue`).
struct Report {
    dropped: u64,
    failed: u64,
    dropped_total: u64,
    failed_total: u64,
    last_error: String,
}

impl Shared {
    /// The report due now, if any (`last`: the final one, whatever the rate limit).
    fn report_due(&self, state: &mut State, last: bool) -> Option<Report> {
        if last {
            state.warnings.warned_at = None;
        }
        let dropped_total = self.dropped.load(Ordering::Relaxed);
        let (dropped, failed) = state.warnings.due(dropped_total, Instant::now())?;
        Some(Report {
            dropped,
            failed,
            dropped_total,
            failed_total: self.failed.load(Ordering::Relaxed),
            last_error: state.last_failure.clone(),
        })
    }

    fn emit(&self, report: Option<Report>) {
        let Some(r) = report else { return };
        Line::new(Level::Warn, "OTLP trace export is losing spans")
            .str("endpoint", &self.endpoint)
            .num("dropped", r.dropped)
            .num("failed", r.failed)
            .num("dropped_total", r.dropped_total)
            .num("failed_total", r.failed_total)
            .opt_str("last_error", Some(&r.last_error))
            .emit();
    }

    /// Ends the export: what is still queued is dropped, the batch in flight (if any) failed,
    /// and the last report is given. Done once, by the thread or by `shutdown` when its time
    /// ran out first (the thread may be starved of CPU or stuck in a request): losses at exit
    /// are never silent.
    fn finish(&self) {
        let mut state = self.lock();
        if state.finished {
            return;
        }
        let left = state.queue.len() as u64;
        state.queue.clear();
        state.queued_bytes = 0;
        self.dropped.fetch_add(left, Ordering::Relaxed);
        let in_flight = std::mem::take(&mut state.in_flight);
        if in_flight > 0 {
            self.failed.fetch_add(in_flight, Ordering::Relaxed);
            state.warnings.failures += in_flight;
            if state.last_failure.is_empty() {
                state.last_failure = "shutdown came while a batch was being sent".into();
            }
        }
        state.finished = true;
        let report = self.report_due(&mut state, true);
        drop(state);
        self.emit(report);
        self.finished.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves a queue that is still a valid queue.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(super) struct Processor {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Processor {
    pub(super) fn start(config: OtlpConfig, transport: Transport) -> std::io::Result<Processor> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                // Reserved once: pushing never allocates, and memory is bounded from the start.
                queue: VecDeque::with_capacity(config.batch.max_queue_size),
                queued_bytes: 0,
                shutdown_by: None,
                finished: false,
                in_flight: 0,
                warnings: WarnLimiter::default(),
                last_failure: String::new(),
            }),
            wake: Condvar::new(),
            finished: Condvar::new(),
            exported: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            max_queue_size: config.batch.max_queue_size,
            max_queue_bytes: config.batch.max_queue_bytes,
            max_batch: config.batch.max_export_batch_size,
            endpoint: redact_userinfo(&config.endpoint),
        });
        let worker = Worker {
            shared: Arc::clone(&shared),
            transport,
            resource: config.resource.clone(),
            schedule_delay: config.batch.schedule_delay,
            export_timeout: config.batch.export_timeout,
        };
        let thread = std::thread::Builder::new()
            .name("otlp-export".into())
            .spawn(move || worker.run())?;
        Ok(Processor {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    pub(super) fn enqueue(&self, span: SpanData) {
        let s = &self.shared;
        let size = approximate_size(&span);
        let mut state = s.lock();
        if state.shutdown_by.is_some()
            || state.queue.len() >= s.max_queue_size
            || state.queued_bytes + size > s.max_queue_bytes
        {
            drop(state);
            drop(span);
            s.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        state.queued_bytes += size;
        state.queue.push_back(span);
        let full_batch = state.queue.len() == s.max_batch;
        drop(state);
        if full_batch {
            s.wake.notify_one();
        }
    }

    pub(super) fn counters(&self) -> Counters {
        let s = &self.shared;
        let queued = s.lock().queue.len();
        Counters {
            exported: s.exported.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            queued,
        }
    }

    /// Flushes what is queued, waiting at most `timeout`; spans still queued then are dropped.
    pub(super) fn shutdown(&self, timeout: Duration) {
        let s = &self.shared;
        let deadline = Instant::now() + timeout;
        // The thread stops sending a moment before, to count and report what it could not
        // send while the process is still there to log it.
        let stop_by = deadline - (timeout / 10).min(Duration::from_millis(100));
        let mut state = s.lock();
        if state.shutdown_by.is_none_or(|t| stop_by < t) {
            state.shutdown_by = Some(stop_by);
        }
        s.wake.notify_all();
        while !state.finished {
            let now = Instant::now();
            if now >= deadline {
                drop(state);
                s.finish();
                return;
            }
            state = s
                .finished
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        drop(state);
        let thread = self.thread.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for Processor {
    /// Without a shutdown, the thread stops after its current request: nothing is flushed.
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        if state.shutdown_by.is_none() {
            state.shutdown_by = Some(Instant::now());
        }
        drop(state);
        self.shared.wake.notify_all();
    }
}

struct Worker {
    shared: Arc<Shared>,
    transport: Transport,
    resource: Vec<KeyValue>,
    schedule_delay: Duration,
    export_timeout: Duration,
}

impl Worker {
    fn run(mut self) {
        let mut flush_at = Instant::now() + self.schedule_delay;
        loop {
            let (batch, shutdown_by) = self.next_batch(flush_at);
            self.warn_if_due();
            if batch.is_empty() {
                if shutdown_by.is_some() {
                    break;
                }
                flush_at = Instant::now() + self.schedule_delay;
                continue;
            }
            let mut deadline = Instant::now() + self.export_timeout;
            if let Some(t) = shutdown_by {
                deadline = deadline.min(t);
            }
            self.export(batch, deadline);
            if let Some(t) = self.shared.lock().shutdown_by
                && Instant::now() >= t
            {
                break;
            }
            flush_at = Instant::now() + self.schedule_delay;
        }
        // The last word, whenever the previous warning was: losses at exit are counted too.
        self.shared.finish();
    }

    /// Waits for a full batch, the flush time or shutdown; takes up to one batch.
    fn next_batch(&self, flush_at: Instant) -> (Vec<SpanData>, Option<Instant>) {
        let s = &self.shared;
        let mut state = s.lock();
        loop {
            let now = Instant::now();
            if state.shutdown_by.is_some() || state.queue.len() >= s.max_batch || now >= flush_at {
                break;
            }
            state = s
                .wake
                .wait_timeout(state, flush_at - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let n = state.queue.len().min(s.max_batch);
        let batch: Vec<SpanData> = state.queue.drain(..n).collect();
        state.in_flight = n as u64;
        let taken: usize = batch.iter().map(approximate_size).sum();
        state.queued_bytes = state.queued_bytes.saturating_sub(taken);
        (batch, state.shutdown_by)
    }

    fn export(&mut self, batch: Vec<SpanData>, mut deadline: Instant) {
        let n = batch.len() as u64;
        let body = self.transport.encode(&self.resource, &batch);
        drop(batch);
        let mut backoff = FIRST_BACKOFF;
        loop {
            let now = Instant::now();
            if now >= deadline {
                self.lost(n, "no time left to retry".into());
                return;
            }
            match self.transport.send(&body, deadline - now) {
                Outcome::Done { rejected, message } => {
                    let rejected = rejected.min(n);
                    if rejected > 0 {
                        let why = message.unwrap_or_else(|| "no reason given".into());
                        self.settle(
                            n - rejected,
                            rejected,
                            Some(format!("the collector rejected {rejected} spans: {why}")),
                        );
                    } else {
                        self.settle(n, 0, None);
                    }
                    return;
                }
                Outcome::Failed(why) => {
                    self.lost(n, why);
                    return;
                }
                Outcome::Retry { after, why } => {
                    let wait = after.unwrap_or_else(|| jitter(backoff));
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    if Instant::now() + wait >= deadline {
                        self.lost(n, why);
                        return;
                    }
                    self.shared.lock().last_failure = why;
                    // Waits on the queue's condition variable: a shutdown ends the wait and
                    // brings the deadline forward.
                    let until = Instant::now() + wait;
                    let mut state = self.shared.lock();
                    loop {
                        if let Some(t) = state.shutdown_by {
                            deadline = deadline.min(t);
                        }
                        let now = Instant::now();
                        if now >= until || now >= deadline {
                            break;
                        }
                        state = self
                            .shared
                            .wake
                            .wait_timeout(state, until.min(deadline) - now)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0;
                    }
                }
            }
        }
    }

    fn lost(&mut self, n: u64, why: String) {
        self.settle(0, n, Some(why));
    }

    /// Counts the batch in flight as `exported` and `failed`, unless `shutdown` already
    /// accounted for it; warns when a warning is due.
    fn settle(&mut self, exported: u64, failed: u64, why: Option<String>) {
        let mut state = self.shared.lock();
        if state.finished {
            return;
        }
        state.in_flight = 0;
        self.shared.exported.fetch_add(exported, Ordering::Relaxed);
        self.shared.failed.fetch_add(failed, Ordering::Relaxed);
        state.warnings.failures += failed;
        if let Some(why) = why {
            state.last_failure = why;
        }
        let report = self.shared.report_due(&mut state, false);
        drop(state);
        self.shared.emit(report);
    }

    /// One warning line per [`WARN_EVERY`] at most, for drops and failures since the last one.
    fn warn_if_due(&mut self) {
        let mut state = self.shared.lock();
        let report = self.shared.report_due(&mut state, false);
        drop(state);
        self.shared.emit(report);
    }
}

/// Rate-limits the loss warning: the first loss is reported at once, later ones at most every
/// [`WARN_EVERY`], each report counting what was lost since the previous one.
#[derive(Default)]
struct WarnLimiter {
    warned_at: Option<Instant>,
    dropped_reported: u64,
    /// Spans failed since the last report.
    failures: u64,
}

impl WarnLimiter {
    /// `(dropped, failed)` since the last report, when a report is due.
    fn due(&mut self, dropped_total: u64, now: Instant) -> Option<(u64, u64)> {
        let dropped = dropped_total.saturating_sub(self.dropped_reported);
        if dropped == 0 && self.failures == 0 {
            return None;
        }
        if self
            .warned_at
            .is_some_and(|t| now.saturating_duration_since(t) < WARN_EVERY)
        {
            return None;
        }
        self.warned_at = Some(now);
        self.dropped_reported = dropped_total;
        Some((dropped, std::mem::take(&mut self.failures)))
    }
}

/// What a span holds on the heap, roughly: its strings and a fixed cost per attribute and event
/// (the same for a span on enqueue and on dequeue, which is all the budget needs).
fn approximate_size(span: &SpanData) -> usize {
    fn attrs(a: &[KeyValue]) -> usize {
        a.iter()
            .map(|(k, v)| {
                48 + k.len()
                    + match v {
                        Value::Str(s) => s.len(),
                        Value::StrArray(items) => items.iter().map(|s| 24 + s.len()).sum(),
                        _ => 0,
                    }
            })
            .sum()
    }
    let events: usize = span
        .events
        .iter()
        .map(|e| 64 + e.name.len() + attrs(&e.attributes))
        .sum();
    std::mem::size_of::<SpanData>()
        + span.name.len()
        + span.context.trace_state.len()
        + attrs(&span.attributes)
        + events
}

/// Between half and all of `d`, so many exporters retrying together spread out.
fn jitter(d: Duration) -> Duration {
    let r = getrandom::u32().unwrap_or(u32::MAX / 2);
    d / 2 + d.mul_f64(f64::from(r) / f64::from(u32::MAX) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_warnings_are_rate_limited_and_count_since_the_last() {
        let t0 = Instant::now();
        let mut w = WarnLimiter::default();
        assert_eq!(w.due(0, t0), None, "nothing lost, nothing said");
        assert_eq!(w.due(3, t0), Some((3, 0)), "the first loss is reported at once");
        w.failures += 5;
        assert_eq!(w.due(10, t0 + Duration::from_secs(1)), None);
        assert_eq!(w.due(12, t0 + WARN_EVERY), Some((9, 5)));
        assert_eq!(w.due(12, t0 + WARN_EVERY * 3), None, "nothing new");
        w.failures += 1;
        assert_eq!(w.due(12, t0 + WARN_EVERY * 3), Some((0, 1)));
    }

    #[test]
    fn queued_size_counts_strings_and_is_the_same_both_ways() {
        let span = SpanData {
            context: crate::telemetry::SpanContext::default(),
            parent_span_id: None,
            name: "n".into(),
            kind: crate::telemetry::SpanKind::Internal,
            start_unix_nano: 0,
            end_unix_nano: 0,
            attributes: vec![("k".into(), Value::Str("x".repeat(1000)))],
            events: Vec::new(),
            status: crate::telemetry::Status::Unset,
            scope: "s",
        };
        let size = approximate_size(&span);
        assert!(size > 1000 && size < 1000 + 512, "{size}");
        assert_eq!(size, approximate_size(&span.clone()));
    }

    #[test]
    fn jitter_stays_within_half_and_whole() {
        for _ in 0..100 {
            let j = jitter(Duration::from_millis(1000));
            assert!(
                j >= Duration::from_millis(500) && j <= Duration::from_millis(1000),
                "{j:?}"
            );
        }
    }
}

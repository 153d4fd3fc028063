//! The ureq agent, with read deadlines that depend on where the call is.
//!
//! ureq 3.5 has phase budgets (resolve, connect, response head, body, global) and a per-read
//! timeout, but its per-read timeout covers every read of the call, the wait for the response
//! head included. We need two different limits on reads: until the first byte of the body arrives
//! a model may think for a long time (`first_byte_timeout`), and after that a healthy stream never
//! goes quiet for long (`idle_timeout`). So the agent's connector chain ends in a thin transport
//! wrapper that, on every wait for input, looks up the limit the calling thread has set in
//! `READ_LIMIT` and narrows ureq's own timeout with it:
//!
//! - `ReadLimit::Until(deadline)`: the wait ends at `deadline` at the latest, reported as
//!   `Timeout::RecvResponse` (we do not set ureq's own `recv_response`, so that reason is ours);
//! - `ReadLimit::Idle(d)`: ureq's native per-read limit, `NextTimeout::per_read`, set to `d`
//!   (reported as `Timeout::PerRead`), which ureq applies to each socket read.
//!
//! The same wrapper makes a call cancellable: ureq has no way to interrupt a blocking read, so
//! while a [`CancelGuard`] is active every wait for input is cut into slices of at most
//! [`CANCEL_POLL`], and the calling thread's [`CancelToken`] is looked at between slices. A slice
//! that ends without data is not a timeout unless the real limit has passed; once the token
//! fires the wait fails with [`cancelled`], the call's error unwinds through ureq, and the
//! connection, which is then in the middle of a response, is dropped (closed), never pooled.
//! A slice that ends without data leaves the transport as it was (TCP: nothing read; TLS:
//! rustls keeps the partial record it has), so the next slice carries on.
//!
//! A thread-local is honest here because ureq is blocking: every read of a call happens on the
//! thread that makes the call, and the guards restore the previous value when the call ends, so
//! other ureq users on the same thread (and idle pooled connections) are unaffected.
//! The transport API is ureq's `unversioned` one, which may change in minor releases (not in
//! patch releases); it is small and confined to this file.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use ureq::Timeout;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport,
};

use crate::types::CancelToken;

/// Longest a wait for input goes without looking at the cancel token.
pub const CANCEL_POLL: Duration = Duration::from_millis(100);

/// The read limit the current thread's model call wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadLimit {
    /// No extra limit (ureq's own budgets only).
    None,
    /// Reads must finish by this instant (time to first byte).
    Until(Instant),
    /// Each read may wait this long (idle time between stream chunks).
    Idle(Duration),
}

thread_local! {
    static READ_LIMIT: Cell<ReadLimit> = const { Cell::new(ReadLimit::None) };
    static CANCEL: RefCell<Option<CancelToken>> = const { RefCell::new(None) };
}

/// Makes the calling thread's waits for input end once `token` fires; the previous token (if
/// any) comes back on drop.
#[derive(Debug)]
pub struct CancelGuard {
    previous: Option<CancelToken>,
}

impl CancelGuard {
    /// Watches `token` for the rest of the current call.
    pub fn new(token: &CancelToken) -> Self {
        CancelGuard {
            previous: CANCEL.replace(Some(token.clone())),
        }
    }
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        CANCEL.set(self.previous.take());
    }
}

/// The error a wait ends with once the token fired. Callers check the token itself to tell a
/// cancellation from a failure, so its text only matters in logs.
pub fn cancelled() -> ureq::Error {
    ureq::Error::Io(std::io::Error::other("model call cancelled"))
}

/// Sets the calling thread's read limit; the previous one comes back on drop.
#[derive(Debug)]
pub struct ReadLimitGuard {
    previous: ReadLimit,
}

impl ReadLimitGuard {
    /// Starts a limit for the rest of the current call.
    pub fn new(limit: ReadLimit) -> Self {
        ReadLimitGuard {
            previous: READ_LIMIT.replace(limit),
        }
    }

    /// Switches the limit (e.g. from time-to-first-byte to idle once bytes flow).
    pub fn set(&self, limit: ReadLimit) {
        READ_LIMIT.set(limit);
    }
}

impl Drop for ReadLimitGuard {
    fn drop(&mut self) {
        READ_LIMIT.set(self.previous);
    }
}

/// Plain-text buffers per model connection. ureq's defaults (128 KiB in, 128 KiB out) made
/// them most of the memory of an in-flight stream (scripts/bench.sh stream: ~225 KiB of heap
/// per stream); model answers arrive as small chunks and request bodies are streamed through
/// the buffer whatever their size. The input buffer must hold a whole response head, hence the
/// matching header limit (a larger head is a clear `LargeResponseHeader` error).
pub const INPUT_BUFFER_BYTES: usize = 32 * 1024;
/// See [`INPUT_BUFFER_BYTES`].
pub const OUTPUT_BUFFER_BYTES: usize = 16 * 1024;

/// A config builder with the buffer sizes above, for both providers.
pub fn config_builder() -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    ureq::Agent::config_builder()
        .input_buffer_size(INPUT_BUFFER_BYTES)
        .output_buffer_size(OUTPUT_BUFFER_BYTES)
        .max_response_header_size(INPUT_BUFFER_BYTES)
}

/// An agent whose connections honour [`ReadLimit`].
pub fn agent(config: ureq::config::Config) -> ureq::Agent {
    ureq::Agent::with_parts(
        config,
        DefaultConnector::default().chain(LimitReads),
        CachingResolver::default(),
    )
}

/// How long a resolved address is reused (getaddrinfo gives no TTL; a minute is what most
/// client-side caches use).
const RESOLVE_TTL: Duration = Duration::from_secs(60);

/// ureq resolves the host on every request, pooled connection or not, and with a resolve
/// timeout set it does so on a new thread each time (measured: one thread per invocation).
/// IP-literal hosts need no lookup at all; names are remembered for [`RESOLVE_TTL`].
#[derive(Debug, Default)]
struct CachingResolver {
    inner: DefaultResolver,
    cache: std::sync::Mutex<std::collections::HashMap<String, (Instant, ResolvedSocketAddrs)>>,
}

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            let mut addrs = self.empty();
            addrs.push(std::net::SocketAddr::new(ip, port));
            return Ok(addrs);
        }
        let key = format!("{host}:{port}");
        let cached = self.cache.lock().ok().and_then(|cache| {
            cache
                .get(&key)
                .filter(|(at, _)| at.elapsed() < RESOLVE_TTL)
                .map(|(_, a)| a.clone())
        });
        if let Some(addrs) = cached {
            return Ok(addrs);
        }
        let addrs = self.inner.resolve(uri, config, timeout)?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, (Instant::now(), addrs.clone()));
        }
        Ok(addrs)
    }
}

/// The last link of the connector chain: wraps whatever transport the default chain made
/// (plain TCP, TLS, or a tunnel through a proxy).
#[derive(Debug)]
struct LimitReads;

impl Connector<Box<dyn Transport>> for LimitReads {
    type Out = LimitedTransport;

    fn connect(
        &self,
        _details: &ConnectionDetails<'_>,
        chained: Option<Box<dyn Transport>>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        Ok(chained.map(LimitedTransport))
    }
}

#[derive(Debug)]
struct LimitedTransport(Box<dyn Transport>);

impl LimitedTransport {
    /// `await_input` in slices of at most [`CANCEL_POLL`], failing with [`cancelled`] once
    /// `token` fires. The whole wait keeps the limit ureq asked for (its per-read limit
    /// included, since one `await_input` is one read).
    fn await_input_cancellable(
        &mut self,
        timeout: NextTimeout,
        token: &CancelToken,
    ) -> Result<bool, ureq::Error> {
        let limit = timeout.for_read();
        // `Deref` gives u64::MAX seconds for "never"; `checked_add` turns that into no deadline.
        let deadline = Instant::now().checked_add(*limit.after);
        loop {
            if token.is_cancelled() {
                return Err(cancelled());
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|left| left.is_zero()) {
                return Err(ureq::Error::Timeout(limit.reason));
            }
            let slice = left.map_or(CANCEL_POLL, |left| left.min(CANCEL_POLL));
            let last = left.is_some_and(|left| left <= CANCEL_POLL);
            let wait = NextTimeout {
                after: slice.into(),
                reason: limit.reason,
                per_read: None,
                ..timeout
            };
            match self.0.await_input(wait) {
                Err(ureq::Error::Timeout(_)) if !last => continue,
                other => return other,
            }
        }
    }
}

impl Transport for LimitedTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.0.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.0.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, mut timeout: NextTimeout) -> Result<bool, ureq::Error> {
        match READ_LIMIT.get() {
            ReadLimit::None => {}
            ReadLimit::Until(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                // ureq turns a zero wait into a one-second one, so an expired deadline is ours to report.
                if left.is_zero() {
                    return Err(ureq::Error::Timeout(Timeout::RecvResponse));
                }
                let left = left.into();
                if left < timeout.after {
                    timeout.after = left;
                    timeout.reason = Timeout::RecvResponse;
                }
            }
            ReadLimit::Idle(idle) => {
                let idle = idle.into();
                timeout.per_read = Some(timeout.per_read.map_or(idle, |own| own.min(idle)));
            }
        }
        match CANCEL.with_borrow(Clone::clone) {
            None => self.0.await_input(timeout),
            Some(token) => self.await_input_cancellable(timeout, &token),
        }
    }

    fn is_open(&mut self) -> bool {
        self.0.is_open()
    }

    fn is_tls(&self) -> bool {
        self.0.is_tls()
    }
}

/// `at + after`, or a century later when the sum does not fit (a limit of `Duration::MAX` means
/// "no limit" and must not panic).
pub fn later(at: Instant, after: Duration) -> Instant {
    at.checked_add(after)
        .or_else(|| at.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(at)
}

/// Sleeps for `delay`, looking at `cancel` every [`CANCEL_POLL`]; true when it fired.
pub fn sleep_unless_cancelled(delay: Duration, cancel: &CancelToken) -> bool {
    let until = later(Instant::now(), delay);
    loop {
        if cancel.is_cancelled() {
            return true;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        std::thread::sleep(left.min(CANCEL_POLL));
    }
}

/// Reads the body into `out`, up to `max` bytes; `Ok(false)` when there was more. Switches the
/// read limit to `idle` once bytes flow.
pub fn read_limited(
    mut reader: impl std::io::Read,
    max: usize,
    limit: &ReadLimitGuard,
    idle: Duration,
    out: &mut Vec<u8>,
) -> Result<bool, ureq::Error> {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => return Ok(true),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ureq::Error::from(e)),
        };
        limit.set(ReadLimit::Idle(idle));
        if out.len() + n > max {
            return Ok(false);
        }
        out.extend_from_slice(&buffer[..n]);
    }
}

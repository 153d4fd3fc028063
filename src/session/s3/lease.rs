//! The lease that serialises one session's invocations across replicas:
//! `<prefix>/session_<id>/.agentcore.lease`, beside `session.json`. Strands never lists the
//! session's own prefix except to delete the whole session (it lists `.../messages/` and reads
//! named keys), so the extra object does not disturb it, as the file store's `.agentcore.lock`.
//!
//! - **Taken** with `If-None-Match: *`: of two replicas creating it, exactly one wins.
//! - **Held** while renewed: a thread replaces it with `If-Match` on its ETag every third of its
//!   duration. A thread rather than renewing on each write: a turn writes nothing while the model
//!   answers or a tool runs, which can last minutes; renewing only on writes would force a lease
//!   that long, and a crashed replica would block its sessions for as long.
//! - **Stale** when it was last written longer than its duration ago, judged without trusting
//!   any two clocks to agree: by the server's own `Date` less the object's `Last-Modified`, or
//!   else by how long this waiter has seen the same ETag. A stale lease is **taken over** with
//!   `If-Match` on the stale ETag, so of several takers exactly one wins.
//! - **Lost** when a renewal finds the ETag changed (taken over) or renewals failed for a whole
//!   duration: the writer's next write then fails (409) instead of racing the new holder.
//!   (The conditional writes of messages and `agent.json` keep the history whole even then.)
//! - **Released** when the writer is dropped: a DELETE with `If-Match`, so a lease taken over
//!   meanwhile is never deleted from under its new holder.
//!
//! Every call about a lease, the renewals on their thread included, is made with the client of
//! the invocation that takes it, so it carries that invocation's trace context.
//!
//! Waiters poll with backoff (20 ms doubling to 1 s, jittered) until the caller's deadline, then
//! get [`SessionErrorKind::LockTimeout`] as with the file store.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use super::agent::Fail;
use super::client::{Condition, Delete, Get, S3Client};
use crate::session::error::SessionErrorKind;

/// How long a lease lives without renewal, unless configured (`SESSION_LEASE_DURATION`).
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(30);

/// The first pause of a waiter; doubled up to [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(20);
const MAX_POLL: Duration = Duration::from_secs(1);

/// `Date` and `Last-Modified` are whole seconds: an age read from them may be up to this much
/// more than the real one.
const DATE_RESOLUTION: Duration = Duration::from_secs(1);

/// Takes leases for one process (one owner id).
#[derive(Debug)]
pub(super) struct Leases {
    /// This process, in every lease it writes (for people reading the bucket).
    owner: String,
    duration: Duration,
}

impl Leases {
    pub(super) fn new(duration: Duration) -> Self {
        Leases {
            owner: format!("pid {} {}", std::process::id(), crate::ids::uuid4()),
            duration,
        }
    }

    /// Takes the lease at `key` with `client`, which then renews and releases it, waiting
    /// (polling) until `deadline` while another holds it; `wait` is what the timeout error
    /// reports.
    pub(super) fn acquire(
        &self,
        client: &Arc<S3Client>,
        key: &str,
        wait: Duration,
        deadline: Instant,
    ) -> Result<Lease, Fail> {
        let token = crate::ids::uuid4();
        let body = self.body(&token, 0);
        let mut pause = FIRST_POLL;
        // The ETag last seen held, and since when (by our monotonic clock).
        let mut seen: Option<(String, Instant)> = None;
        let mut create = true;
        loop {
            if create {
                let sent = Instant::now();
                if let Some(etag) = write(client, key, &body, Condition::Absent)? {
                    return Ok(self.start(client, key, token, etag, sent));
                }
            }
            match client.get_dated(key).map_err(|e| Fail::s3(key, e))? {
                // Released since: try again at once.
                None => create = true,
                Some(held) => {
                    create = false;
                    let etag = held.etag.unwrap_or_default();
                    let holder = serde_json::from_slice::<Value>(&held.body).unwrap_or(Value::Null);
                    let lasts = holder["duration_ms"]
                        .as_u64()
                        .map_or(self.duration, Duration::from_millis);
                    let now = Instant::now();
                    let since = match &seen {
                        Some((e, since)) if *e == etag => *since,
                        _ => {
                            seen = Some((etag.clone(), now));
                            now
                        }
                    };
                    let stale = held.age.is_some_and(|age| age >= lasts + DATE_RESOLUTION)
                        || now.duration_since(since) >= lasts;
                    if stale && !etag.is_empty() {
                        let sent = Instant::now();
                        if let Some(new) = write(client, key, &body, Condition::Matches(&etag))? {
                            crate::logging::warn("took over a stale session lease")
                                .str("key", key)
                                .opt_str("previous_owner", holder["owner"].as_str())
                                .emit();
                            return Ok(self.start(client, key, token, new, sent));
                        }
                        // Another waiter took it first.
                        seen = None;
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Fail::at(key, SessionErrorKind::LockTimeout { waited: wait }));
            }
            if !create {
                thread::sleep(jittered(pause).min(deadline - now));
                pause = (pause * 2).min(MAX_POLL);
            }
        }
    }

    fn body(&self, token: &str, renewals: u64) -> Vec<u8> {
        lease_body(&self.owner, token, renewals, self.duration)
    }

    fn start(&self, client: &Arc<S3Client>, key: &str, token: String, etag: String, sent: Instant) -> Lease {
        let shared = Arc::new(Shared {
            client: Arc::clone(client),
            key: key.to_string(),
            owner: self.owner.clone(),
            token,
            duration: self.duration,
            state: Mutex::new(State {
                etag,
                renewals: 0,
                released: false,
            }),
            epoch: sent,
            renewed_ms: AtomicU64::new(0),
            lost: AtomicBool::new(false),
        });
        let (stop, stopped) = mpsc::channel::<()>();
        let renewing = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name("s3-lease".into())
            .spawn(move || renewing.renew_until(&stopped));
        if let Err(e) = spawned {
            // Without renewals the lease still serialises turns shorter than its duration;
            // longer ones lose it and fail their next write rather than race.
            crate::logging::warn("could not start the session lease renewal")
                .str("error", &e.to_string())
                .emit();
        }
        Lease {
            shared,
            stop: Some(stop),
        }
    }
}

/// The lease object's JSON: who holds it, until when by the holder's clock (for people; the
/// takeover rule does not read it), for how long it lives unrenewed.
fn lease_body(owner: &str, token: &str, renewals: u64, duration: Duration) -> Vec<u8> {
    let expires = SystemTime::now() + duration;
    let value = json!({
        "owner": owner,
        "lease": token,
        "renewals": renewals,
        "duration_ms": u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        "expires_at": crate::clock::Civil::from_system_time(expires).iso_micros_utc(),
    });
    crate::pyjson::to_string_pretty(&value).into_bytes()
}

/// A conditional PUT of the lease: its new ETag, or `None` when the condition failed. A retried
/// PUT whose first attempt did land meets its own write: the object then holds our body.
fn write(
    client: &S3Client,
    key: &str,
    body: &[u8],
    condition: Condition<'_>,
) -> Result<Option<String>, Fail> {
    let put = client.put(key, body, condition).map_err(|e| Fail::s3(key, e))?;
    match put.etag {
        Some(Some(etag)) => Ok(Some(etag)),
        Some(None) => ours(client, key, body)?.map(Some).ok_or_else(|| {
            Fail::at(
                key,
                SessionErrorKind::Backend {
                    store: "S3",
                    detail: "PUT answered without an ETag: the lease needs one".into(),
                    status: None,
                    unavailable: false,
                },
            )
        }),
        None if put.attempts > 1 => ours(client, key, body),
        None => Ok(None),
    }
}

/// The ETag of the object at `key` when it holds exactly `body`.
fn ours(client: &S3Client, key: &str, body: &[u8]) -> Result<Option<String>, Fail> {
    match client.get(key, None).map_err(|e| Fail::s3(key, e))? {
        Get::Found {
            body: stored,
            etag: Some(etag),
        } if stored == body => Ok(Some(etag)),
        _ => Ok(None),
    }
}

/// A waiter's pause: between half and all of `pause`, so waiters spread out.
fn jittered(pause: Duration) -> Duration {
    let mut b = [0u8; 2];
    let fraction = match getrandom::fill(&mut b) {
        Ok(()) => f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX),
        Err(_) => 0.5,
    };
    pause.mul_f64(0.5 + fraction / 2.0)
}

#[derive(Debug)]
struct Shared {
    client: Arc<S3Client>,
    key: String,
    owner: String,
    token: String,
    duration: Duration,
    /// Held while a renewal or the release writes, so the release deletes the ETag written last.
    state: Mutex<State>,
    /// When the lease was first written (sent); `renewed_ms` counts from here.
    epoch: Instant,
    /// When the last successful write of the lease was sent, in ms after `epoch`: the lease
    /// is ours for `duration` from then.
    renewed_ms: AtomicU64,
    /// A renewal found the lease taken over.
    lost: AtomicBool,
}

#[derive(Debug)]
struct State {
    etag: String,
    renewals: u64,
    released: bool,
}

impl Shared {
    fn renew_until(&self, stopped: &mpsc::Receiver<()>) {
        let every = self.duration / 3;
        let mut pause = every;
        loop {
            match stopped.recv_timeout(pause) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
            let mut state = crate::sync::lock(&self.state);
            if state.released {
                return;
            }
            let renewals = state.renewals + 1;
            let body = lease_body(&self.owner, &self.token, renewals, self.duration);
            let sent = Instant::now();
            match write(&self.client, &self.key, &body, Condition::Matches(&state.etag)) {
                Ok(Some(etag)) => {
                    state.etag = etag;
                    state.renewals = renewals;
                    let ms = sent.duration_since(self.epoch).as_millis();
                    self.renewed_ms
                        .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::SeqCst);
                    pause = every;
                }
                Ok(None) => {
                    self.lost.store(true, Ordering::SeqCst);
                    crate::logging::warn("lost a session lease to another replica")
                        .str("key", &self.key)
                        .emit();
                    return;
                }
                Err(fail) => {
                    crate::logging::warn("could not renew a session lease; retrying")
                        .str("key", &self.key)
                        .str("error", &fail.to_string())
                        .emit();
                    pause = every / 4;
                }
            }
        }
    }

    /// Whether the lease is still ours: not taken over, and written within its duration.
    fn held(&self) -> Result<(), String> {
        if self.lost.load(Ordering::SeqCst) {
            return Err("the session's lease was taken over by another replica".into());
        }
        let renewed = self.epoch + Duration::from_millis(self.renewed_ms.load(Ordering::SeqCst));
        let unrenewed = renewed.elapsed();
        if unrenewed >= self.duration {
            return Err(format!(
                "the session's lease expired: not renewed for {} ms (another replica may take it over)",
                unrenewed.as_millis()
            ));
        }
        Ok(())
    }
}

/// A held lease; renewed until dropped, released when dropped.
#[derive(Debug)]
pub(super) struct Lease {
    shared: Arc<Shared>,
    /// Dropping it wakes and ends the renewal thread.
    stop: Option<Sender<()>>,
}

impl Lease {
    /// Fails when the lease is no longer ours, before a write that would race the new holder.
    pub(super) fn check(&self) -> Result<(), Fail> {
        self.shared
            .held()
            .map_err(|detail| Fail::at(&self.shared.key, SessionErrorKind::Conflict { detail }))
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        drop(self.stop.take());
        let shared = &self.shared;
        let mut state = crate::sync::lock(&shared.state);
        state.released = true;
        if shared.lost.load(Ordering::SeqCst) {
            return;
        }
        match shared.client.delete(&shared.key, &state.etag) {
            Ok(Delete::Done | Delete::Missing | Delete::Changed) => {}
            Err(e) => crate::logging::warn("could not release a session lease; it expires unrenewed")
                .str("key", &shared.key)
                .str("error", &e.to_string())
                .num(
                    "expires_in_ms",
                    i128::try_from(shared.duration.as_millis()).unwrap_or(i128::MAX),
                )
                .emit(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_bodies_say_who_and_how_long() {
        let body = lease_body("pid 1 x", "t", 2, Duration::from_secs(30));
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["owner"], "pid 1 x");
        assert_eq!(v["renewals"], 2);
        assert_eq!(v["duration_ms"], 30_000);
        assert!(v["expires_at"].as_str().unwrap().ends_with("+00:00"));
        // Each renewal changes the bytes, hence the ETag that waiters watch.
        assert_ne!(body, lease_body("pid 1 x", "t", 3, Duration::from_secs(30)));
    }

    #[test]
    fn waiters_spread_their_polls() {
        for _ in 0..100 {
            let p = jittered(Duration::from_millis(100));
            assert!(p >= Duration::from_millis(50) && p <= Duration::from_millis(100));
        }
    }
}

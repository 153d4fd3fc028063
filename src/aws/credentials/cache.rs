//! The credentials cache: one fetch at a time, refreshed ahead of expiry.
//!
//! Callers that find the credentials due for a refresh while another caller is already
//! fetching use the current ones if they have not expired, and wait for the fetch otherwise;
//! so sixteen threads arriving together cause one fetch, not sixteen. A refresh that fails
//! while the current credentials are still valid is not an error: they stay in use, the failure
//! is logged once, and the next attempt waits [`RETRY_AFTER_FAILURE`] (never a fetch per call).

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use super::{Credentials, CredentialsError};
use crate::sync::lock;

/// How long before expiry temporary credentials are refreshed by default (the AWS SDKs use
/// 5 to 15 minutes; botocore's advisory window is 15, the Rust SDK's is 5).
pub const DEFAULT_REFRESH_WINDOW: Duration = Duration::from_secs(5 * 60);

/// After a failed refresh, how long the still-valid credentials are used before trying again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);

/// A failed fetch that left nothing usable is answered to every caller for this long, so a
/// misconfigured chain is not asked again on every call.
const ERROR_TTL: Duration = Duration::from_secs(1);

/// Credentials that expire almost at once are still not fetched more often than this.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct State {
    creds: Option<Credentials>,
    /// When the current credentials are due for a refresh; `None`: never (no expiry).
    refresh_at: Option<Instant>,
    fetching: bool,
    /// Counts finished fetches, so a waiter knows the fetch it waited for is done.
    generation: u64,
    last_error: Option<(Instant, CredentialsError)>,
    retry_after: Option<Instant>,
    /// A failed refresh was logged and no fetch has succeeded since.
    warned: bool,
}

#[derive(Debug)]
pub(crate) struct Cache {
    window: Duration,
    state: Mutex<State>,
    done: Condvar,
}

enum Next {
    Use(Credentials),
    Wait,
    Fail(CredentialsError),
    Fetch,
}

fn unexpired(c: &Credentials) -> bool {
    c.expires_at.is_none_or(|t| t > SystemTime::now())
}

impl Cache {
    pub(crate) fn new(window: Duration) -> Cache {
        Cache {
            window,
            state: Mutex::new(State::default()),
            done: Condvar::new(),
        }
    }

    /// Forgets everything; the next call fetches.
    pub(crate) fn clear(&self) {
        let mut st = lock(&self.state);
        st.creds = None;
        st.refresh_at = None;
        st.last_error = None;
        st.retry_after = None;
    }

    fn next(&self, st: &State) -> Next {
        let now = Instant::now();
        if let Some(c) = &st.creds {
            let due = st.refresh_at.is_some_and(|t| now >= t);
            if !due {
                return Next::Use(c.clone());
            }
            if unexpired(c) && (st.fetching || st.retry_after.is_some_and(|t| now < t)) {
                return Next::Use(c.clone());
            }
        } else if let Some((at, e)) = &st.last_error
            && now.duration_since(*at) < ERROR_TTL
            && !st.fetching
        {
            return Next::Fail(e.clone());
        }
        if st.fetching { Next::Wait } else { Next::Fetch }
    }

    /// The cached credentials, or those `fetch` gives when there are none or they are due.
    pub(crate) fn get(
        &self,
        fetch: impl FnOnce() -> Result<Credentials, CredentialsError>,
    ) -> Result<Credentials, CredentialsError> {
        let mut st = lock(&self.state);
        loop {
            match self.next(&st) {
                Next::Use(c) => return Ok(c),
                Next::Fail(e) => return Err(e),
                Next::Fetch => break,
                Next::Wait => {
                    let generation = st.generation;
                    while st.fetching && st.generation == generation {
                        st = self.wait(st);
                    }
                    // The fetch we waited for failed and left nothing usable: its error is ours.
                    if st.generation != generation
                        && !st.creds.as_ref().is_some_and(unexpired)
                        && let Some((_, e)) = &st.last_error
                    {
                        return Err(e.clone());
                    }
                }
            }
        }
        st.fetching = true;
        drop(st);
        let guard = FetchGuard(self);
        let result = fetch();
        std::mem::forget(guard);
        let mut st = lock(&self.state);
        st.fetching = false;
        st.generation += 1;
        let answer = match result {
            Ok(c) => {
                st.refresh_at = c.expires_at.map(|t| self.refresh_instant(t));
                st.creds = Some(c.clone());
                st.last_error = None;
                st.retry_after = None;
                st.warned = false;
                Ok(c)
            }
            Err(e) => match st.creds.clone().filter(unexpired) {
                Some(old) => {
                    if !st.warned {
                        st.warned = true;
                        crate::logging::Line::new(
                            crate::logging::Level::Warn,
                            "AWS credentials refresh failed; the current ones stay in use until they expire",
                        )
                        .str("error", &e.to_string())
                        .emit();
                    }
                    st.retry_after = Some(Instant::now() + RETRY_AFTER_FAILURE);
                    Ok(old)
                }
                None => {
                    st.creds = None;
                    st.last_error = Some((Instant::now(), e.clone()));
                    Err(e)
                }
            },
        };
        drop(st);
        self.done.notify_all();
        answer
    }

    fn wait<'a>(&self, st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.done
            .wait(st)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `expires - window`, the window at most half the remaining lifetime.
    fn refresh_instant(&self, expires: SystemTime) -> Instant {
        let left = expires.duration_since(SystemTime::now()).unwrap_or_default();
        let ahead = self.window.min(left / 2);
        Instant::now() + (left - ahead).max(MIN_REFRESH_INTERVAL)
    }
}

/// Releases the waiters if `fetch` panics (the panic itself goes on unwinding).
struct FetchGuard<'a>(&'a Cache);

impl Drop for FetchGuard<'_> {
    fn drop(&mut self) {
        let mut st = lock(&self.0.state);
        st.fetching = false;
        st.generation += 1;
        drop(st);
        self.0.done.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn temp(secs: u64) -> Credentials {
        Credentials::new(
            "AKID",
            "secret",
            Some("token".into()),
            Some(SystemTime::now() + Duration::from_secs(secs)),
        )
    }

    fn err() -> CredentialsError {
        CredentialsError {
            tried: vec![("test", "down".into())],
        }
    }

    #[test]
    fn static_credentials_are_fetched_once() {
        let cache = Cache::new(DEFAULT_REFRESH_WINDOW);
        let n = AtomicUsize::new(0);
        for _ in 0..5 {
            let c = cache
                .get(|| {
                    n.fetch_add(1, Ordering::SeqCst);
                    Ok(Credentials::new("A", "B", None, None))
                })
                .unwrap();
            assert_eq!(c.access_key_id, "A");
        }
        assert_eq!(n.load(Ordering::SeqCst), 1);
        cache.clear();
        cache.get(|| Ok(temp(3600))).unwrap();
        assert!(cache.get(|| Err(err())).is_ok(), "cached, not fetched");
    }

    #[test]
    fn refresh_window_is_at_most_half_the_lifetime() {
        let cache = Cache::new(Duration::from_secs(300));
        let now = Instant::now();
        let at = cache.refresh_instant(SystemTime::now() + Duration::from_secs(3600));
        let d = at.duration_since(now).as_secs();
        assert!((3290..=3300).contains(&d), "{d}");
        let at = cache.refresh_instant(SystemTime::now() + Duration::from_secs(60));
        let d = at.duration_since(now).as_secs();
        assert!((29..=30).contains(&d), "{d}");
        let at = cache.refresh_instant(SystemTime::now() - Duration::from_secs(60));
        assert!(at >= now + MIN_REFRESH_INTERVAL);
    }

    #[test]
    fn failed_refresh_keeps_valid_credentials() {
        let cache = Cache::new(Duration::from_secs(3600));
        // A 3600 s window on 4 s credentials: due after half their lifetime.
        cache.get(|| Ok(temp(4))).unwrap();
        std::thread::sleep(Duration::from_millis(2100));
        let n = AtomicUsize::new(0);
        let c = cache.get(|| {
            n.fetch_add(1, Ordering::SeqCst);
            Err(err())
        });
        assert!(c.is_ok());
        // Within RETRY_AFTER_FAILURE: no new attempt.
        let c = cache.get(|| {
            n.fetch_add(1, Ordering::SeqCst);
            Err(err())
        });
        assert!(c.is_ok());
        assert_eq!(n.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn errors_are_shared_briefly_and_invalidate_clears_them() {
        let cache = Cache::new(DEFAULT_REFRESH_WINDOW);
        assert!(cache.get(|| Err(err())).is_err());
        let e = cache.get(|| Ok(temp(3600)));
        assert!(e.is_err(), "the error is reused for ERROR_TTL");
        cache.clear();
        assert!(cache.get(|| Ok(temp(3600))).is_ok());
    }

    #[test]
    fn concurrent_callers_share_one_fetch() {
        let cache = Arc::new(Cache::new(DEFAULT_REFRESH_WINDOW));
        let n = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(std::sync::Barrier::new(16));
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let (cache, n, barrier) = (cache.clone(), n.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    cache
                        .get(|| {
                            n.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(200));
                            Ok(temp(3600))
                        })
                        .map(|c| c.access_key_id)
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap().unwrap(), "AKID");
        }
        assert_eq!(n.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_panicking_fetch_releases_waiters() {
        let cache = Arc::new(Cache::new(DEFAULT_REFRESH_WINDOW));
        let c2 = cache.clone();
        let t = std::thread::spawn(move || {
            let _ = c2.get(|| {
                std::thread::sleep(Duration::from_millis(100));
                panic!("boom")
            });
        });
        std::thread::sleep(Duration::from_millis(30));
        let got = cache.get(|| Ok(temp(3600)));
        assert!(t.join().is_err());
        assert!(got.is_ok());
    }
}

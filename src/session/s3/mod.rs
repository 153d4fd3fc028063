//! The S3 store: Strands 1.62's `S3SessionManager` layout and bytes, so a
//! session written here continues in Python Strands pointed at the same bucket and back.
//!
//! Objects are the file store's files, byte for byte (`json.dumps(indent=2, ensure_ascii=False)`,
//! `Content-Type: application/json`). Writes are conditional so that two replicas can never
//! both write one message or overwrite each other's `agent.json`: messages with
//! `If-None-Match: *`, `agent.json` with `If-Match` on the ETag read or written last; the loser
//! gets [`crate::session::SessionErrorKind::Conflict`] and nothing
//! of the winner's is touched. Each write is acknowledged by S3 before the turn goes on, so an
//! acknowledged turn is on S3 before its answer goes out, and a failure mid-turn leaves whole
//! objects only: the session stays loadable.
//!
//! Invocations of a session are serialised as in the file store: within one process by an
//! in-memory hold, across replicas by a lease object (`session_<id>/.agentcore.lease`), with
//! one bounded wait for both (then `LockTimeout`, 409). The lease is checked before every write;
//! the conditional writes keep the history whole even if it was lost.
//!
//! Opened with a trace context ([`SessionStore::open_traced`]), every S3 call of the invocation
//! (restoring, writing, the lease's renewals on their own thread and its release) carries it as
//! `X-Amzn-Trace-Id`, unsigned.

mod agent;
mod client;
mod config;
mod layout;
mod lease;
mod xml;

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use self::agent::{Remembered, S3AgentSession};
pub use self::client::RetryPolicy;
use self::client::S3Client;
pub use self::config::{S3Config, S3ConfigError};
use self::layout::AgentKeys;
pub use self::lease::DEFAULT_LEASE_DURATION;
use self::lease::{Lease, Leases};
use crate::aws::{DefaultCredentialsChain, ProvideCredentials, RegionError, resolve_region};
use crate::session::error::{SessionError, SessionErrorKind};
use crate::session::record::AgentSnapshot;
use crate::session::store::{OpenedSession, SessionStore, SessionWriter};
use crate::telemetry::TraceContext;
use crate::types::Message;

/// Sessions in an S3 bucket under a prefix. Cheap to share (`Arc`); one pooled connection
/// agent for all sessions.
pub struct S3SessionStore {
    config: S3Config,
    client: Arc<S3Client>,
    remembered: Arc<Remembered>,
    busy: Arc<Busy>,
    leases: Leases,
}

impl fmt::Debug for S3SessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3SessionStore")
            .field("location", &self.config.location())
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl S3SessionStore {
    /// A store at `config`'s location, signing for `region` with `credentials`.
    pub fn new(config: S3Config, region: &str, credentials: Arc<dyn ProvideCredentials>) -> Self {
        let client = Arc::new(S3Client::new(&config, region, credentials, config.retry));
        S3SessionStore {
            leases: Leases::new(config.lease_duration),
            client,
            config,
            remembered: Arc::default(),
            busy: Arc::default(),
        }
    }

    /// The store the binary uses: the region from the environment (`AWS_REGION`, ..., see
    /// [`resolve_region`]) and the SDKs' default credential chain.
    pub fn from_env(config: S3Config, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, RegionError> {
        let region = resolve_region(env)?;
        Ok(Self::new(
            config,
            &region,
            Arc::new(DefaultCredentialsChain::from_env(env)),
        ))
    }

    /// `s3://bucket/prefix`.
    pub fn location(&self) -> String {
        self.config.location()
    }
}

impl SessionStore for S3SessionStore {
    fn open(
        &self,
        session_id: &str,
        agent_id: &str,
        wait: Duration,
        initial: &AgentSnapshot,
    ) -> Result<OpenedSession, SessionError> {
        self.open_traced(session_id, agent_id, wait, initial, &TraceContext::NONE)
    }

    fn open_traced(
        &self,
        session_id: &str,
        agent_id: &str,
        wait: Duration,
        initial: &AgentSnapshot,
        trace: &TraceContext,
    ) -> Result<OpenedSession, SessionError> {
        let client = self.client.traced(trace);
        let keys = AgentKeys::new(&self.config.prefix, session_id, agent_id)
            .map_err(|kind| SessionError::new(session_id, None, kind))?;
        let deadline = Instant::now() + wait;
        let hold = self.busy.take(session_id, wait)?;
        let lease = self
            .leases
            .acquire(&client, &keys.lease, wait, deadline)
            .map_err(|f| f.into_error(&self.config.bucket, session_id))?;
        let mut session =
            S3AgentSession::new(client, Arc::clone(&self.remembered), keys, session_id, agent_id);
        let restored = session
            .restore(initial)
            .map_err(|f| f.into_error(&self.config.bucket, session_id))?;
        Ok(OpenedSession {
            writer: Box::new(S3Writer {
                session,
                bucket: self.config.bucket.clone(),
                session_id: session_id.to_string(),
                lease,
                _hold: hold,
            }),
            restored,
        })
    }
}

/// An agent's record with the session's lease and in-process hold. Fields drop in order: the
/// record is remembered, then the lease released, then the hold (so the next invocation in
/// this process finds both free).
#[derive(Debug)]
struct S3Writer {
    session: S3AgentSession,
    bucket: String,
    session_id: String,
    lease: Lease,
    _hold: Hold,
}

impl S3Writer {
    fn check_lease(&mut self) -> Result<(), SessionError> {
        self.lease.check().map_err(|f| {
            self.session.forget();
            f.into_error(&self.bucket, &self.session_id)
        })
    }
}

impl SessionWriter for S3Writer {
    fn append_message(&mut self, message: &Message) -> Result<(), SessionError> {
        self.check_lease()?;
        self.session
            .append_message(message)
            .map_err(|f| f.into_error(&self.bucket, &self.session_id))
    }

    fn sync_agent(&mut self, snapshot: &AgentSnapshot) -> Result<(), SessionError> {
        self.check_lease()?;
        self.session
            .sync_agent(snapshot)
            .map_err(|f| f.into_error(&self.bucket, &self.session_id))
    }

    fn replace_message(
        &mut self,
        index: u64,
        expected: &Message,
        message: &Message,
    ) -> Result<(), SessionError> {
        self.check_lease()?;
        self.session
            .replace_message(index, expected, message)
            .map_err(|f| f.into_error(&self.bucket, &self.session_id))
    }
}

/// The sessions an invocation of this process holds.
#[derive(Debug, Default)]
struct Busy {
    sessions: Mutex<HashSet<String>>,
    released: Condvar,
}

impl Busy {
    fn take(self: &Arc<Self>, session_id: &str, wait: Duration) -> Result<Hold, SessionError> {
        let deadline = Instant::now() + wait;
        let mut sessions = crate::sync::lock(&self.sessions);
        while sessions.contains(session_id) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(SessionError::new(
                    session_id,
                    None,
                    SessionErrorKind::LockTimeout { waited: wait },
                ));
            }
            sessions = self
                .released
                .wait_timeout(sessions, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        sessions.insert(session_id.to_string());
        Ok(Hold {
            busy: Arc::clone(self),
            session_id: session_id.to_string(),
        })
    }
}

#[derive(Debug)]
struct Hold {
    busy: Arc<Busy>,
    session_id: String,
}

impl Drop for Hold {
    fn drop(&mut self) {
        crate::sync::lock(&self.busy.sessions).remove(&self.session_id);
        self.busy.released.notify_all();
    }
}

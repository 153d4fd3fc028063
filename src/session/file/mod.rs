//! The file store: Strands' `FileSessionManager` on-disk behaviour (§1.1-§1.6).
//!
//! Writes are atomic: a `.strands_<random>.tmp` file is created in the target's directory (0600,
//! never an existing file), written, fsynced and renamed over the target, then the directory is
//! fsynced; on failure the temp file is removed, so a reader sees the old file or the new one,
//! never half of one. Directories are created 0700. Symbolic links are refused for every file and
//! for the session, `agents`, agent and `messages` directories (the root is the caller's choice
//! and may be a link). A file is checked to be the one we looked at (same device and inode) after
//! opening, so swapping in a link between the check and the open is caught too.
//!
//! Where we knowingly differ from Strands 1.62 (each to avoid losing or overwriting history):
//! - A session directory without `session.json` is taken over when it holds no agent data (a
//!   directory made by [`FileSessionStore::lock`] or by a create that stopped half-way); with agent
//!   data it is [`SessionErrorKind::MissingSessionRecord`]. Strands refuses both.
//! - The next message index is the highest `message_<N>` on disk plus one. Strands takes the last
//!   file *after* the window offset, and so restarts at 0 (overwriting `message_0.json`) when the
//!   window removed every message (window size 0).
//! - A message file is never replaced: if `message_<N>.json` exists (a second writer that ignored
//!   the lock), appending fails with an `AlreadyExists` I/O error. `session.json` likewise.
//! - `agent.json` missing while message files exist is an error, not a new agent.
//! - `created_at` of `agent.json` is remembered from the restore instead of re-read on each write.

mod agent;
pub(in crate::session) mod codec;
mod fs;

use std::fs::{DirBuilder, File, read_dir};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub use self::agent::AgentSession;
use self::agent::MessageCounts;
use self::codec::now_iso;
#[cfg(any(test, feature = "_fuzz"))]
pub use self::codec::{decode_message_file, encode_message_file};
use self::fs::{Fail, Replace, ensure_dir, is_dir, open_lock_file, read_json, write_json};
use crate::session::error::{SessionError, SessionErrorKind};
use crate::session::id::{validate_agent_id, validate_session_id};
use crate::session::record::AgentSnapshot;
use crate::session::store::{OpenedSession, SessionStore, SessionWriter};
use crate::types::Message;

/// The lock file inside `session_<id>/`. Strands never lists the session directory, so the extra
/// file does not disturb it.
const LOCK_FILE: &str = ".agentcore.lock";

/// Strands-compatible sessions under one root directory (for example `/tmp/strands/sessions`).
///
/// Cheap to clone; holds no open files. One process may serve many sessions concurrently, but a
/// session has one writer at a time: as a [`SessionStore`] it takes the lock itself; through the
/// lower-level API take [`FileSessionStore::lock`] around open/restore/append.
#[derive(Debug, Clone)]
pub struct FileSessionStore {
    root: PathBuf,
    durable: bool,
    counts: Arc<MessageCounts>,
}

/// Holds a session's writer lock (`flock` on `session_<id>/.agentcore.lock`) until dropped.
///
/// The lock is per open file, so it serialises threads of one process as well as processes
/// sharing the directory.
#[derive(Debug)]
pub struct SessionLock {
    _file: File,
    path: PathBuf,
}

impl SessionLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl FileSessionStore {
    /// A store rooted at `root`; the directory is created (0700) on first use.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FileSessionStore {
            root: root.into(),
            durable: true,
            counts: Arc::default(),
        }
    }

    /// Whether writes are flushed to disk (fsync of each file before its rename, and of the
    /// directory after it) before they count as done. On by default: an acknowledged turn
    /// survives a power loss, not only a crash. Off is what Strands does (rename without
    /// fsync): still never a torn file after a process crash, and about a millisecond less
    /// kernel time per invocation; a choice for ephemeral disks.
    pub fn with_fsync(mut self, durable: bool) -> Self {
        self.durable = durable;
        self
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes the session's writer lock, waiting up to `wait` for another holder (thread or
    /// process) to release it. Creates the session directory if needed.
    pub fn lock(&self, session_id: &str, wait: Duration) -> Result<SessionLock, SessionError> {
        let fail = |f: Fail| f.into_error(session_id);
        validate_session_id(session_id).map_err(|kind| SessionError::new(session_id, None, kind))?;
        self.ensure_root().map_err(fail)?;
        let dir = self.session_dir(session_id);
        ensure_dir(&dir, self.durable).map_err(fail)?;
        let path = dir.join(LOCK_FILE);
        let file = open_lock_file(&path).map_err(fail)?;

        let deadline = Instant::now() + wait;
        let mut pause = Duration::from_millis(1);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(SessionLock { _file: file, path }),
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(e)) => return Err(fail(Fail::io(&path, e))),
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(fail(Fail::at(
                    &path,
                    SessionErrorKind::LockTimeout { waited: wait },
                )));
            }
            thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// Opens `agent_id`'s record in `session_id`, creating the session (directories and
    /// `session.json`) when it is new. Messages are read by [`AgentSession::restore`].
    pub fn open_agent(&self, session_id: &str, agent_id: &str) -> Result<AgentSession, SessionError> {
        let fail = |f: Fail| f.into_error(session_id);
        validate_session_id(session_id).map_err(|kind| SessionError::new(session_id, None, kind))?;
        validate_agent_id(agent_id).map_err(|kind| SessionError::new(session_id, None, kind))?;
        self.ensure_root().map_err(fail)?;
        let dir = self.session_dir(session_id);
        self.open_session(session_id, &dir).map_err(fail)?;
        let agent_dir = dir.join("agents").join(format!("agent_{agent_id}"));
        Ok(AgentSession::new(
            self.durable,
            Arc::clone(&self.counts),
            session_id,
            agent_id,
            agent_dir,
        ))
    }

    fn session_dir(&self, session_id: &str) -> PathBuf {
        self.root.join(format!("session_{session_id}"))
    }

    fn ensure_root(&self) -> Result<(), Fail> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .map_err(|e| match e.kind() {
                // mkdir's EEXIST ("File exists") for a file where the root should be misleads
                // whoever reads the error: say what is wrong with the path.
                io::ErrorKind::AlreadyExists => Fail::io(
                    &self.root,
                    io::Error::new(
                        io::ErrorKind::NotADirectory,
                        "the session directory exists but is not a directory",
                    ),
                ),
                _ => Fail::io(&self.root, e),
            })
    }

    /// Reads `session.json`, or creates the session when there is none.
    fn open_session(&self, session_id: &str, dir: &Path) -> Result<(), Fail> {
        let record = dir.join("session.json");
        if is_dir(dir)? {
            if let Some(value) = read_json(&record)? {
                return match value.get("session_id") {
                    Some(Value::String(_)) => Ok(()),
                    _ => Err(Fail::corrupt(
                        &record,
                        "session.json has no string \"session_id\"",
                    )),
                };
            }
            let agents = dir.join("agents");
            if is_dir(&agents)?
                && read_dir(&agents)
                    .map_err(|e| Fail::io(&agents, e))?
                    .next()
                    .is_some()
            {
                return Err(Fail::at(dir, SessionErrorKind::MissingSessionRecord));
            }
        } else {
            ensure_dir(dir, self.durable)?;
        }
        ensure_dir(&dir.join("agents"), self.durable)?;
        ensure_dir(&dir.join("multi_agents"), self.durable)?;
        let session = json!({
            "session_id": session_id,
            "session_type": "AGENT",
            "created_at": now_iso(),
            "updated_at": now_iso(),
        });
        write_json(&record, &session, Replace::Never, self.durable)
    }
}

impl SessionStore for FileSessionStore {
    /// [`FileSessionStore::lock`], [`FileSessionStore::open_agent`], [`AgentSession::restore`];
    /// the writer holds the lock until dropped.
    fn open(
        &self,
        session_id: &str,
        agent_id: &str,
        wait: Duration,
        initial: &AgentSnapshot,
    ) -> Result<OpenedSession, SessionError> {
        let lock = self.lock(session_id, wait)?;
        let mut session = self.open_agent(session_id, agent_id)?;
        let restored = session.restore(initial)?;
        Ok(OpenedSession {
            writer: Box::new(LockedAgentSession { session, _lock: lock }),
            restored,
        })
    }
}

/// An agent's record with its session's lock. Fields drop in order: the lock is released last.
#[derive(Debug)]
struct LockedAgentSession {
    session: AgentSession,
    _lock: SessionLock,
}

impl SessionWriter for LockedAgentSession {
    fn append_message(&mut self, message: &Message) -> Result<(), SessionError> {
        self.session.append_message(message)
    }

    fn sync_agent(&mut self, snapshot: &AgentSnapshot) -> Result<(), SessionError> {
        self.session.sync_agent(snapshot)
    }

    fn replace_message(
        &mut self,
        index: u64,
        expected: &Message,
        message: &Message,
    ) -> Result<(), SessionError> {
        self.session.replace_message(index, expected, message)
    }
}

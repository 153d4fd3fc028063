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

use std::collections::HashMap;
use std::fs::{self, DirBuilder, File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::{
    AgentSnapshot, RestoredAgent, SessionError, SessionErrorKind, validate_agent_id, validate_session_id,
};
use crate::types::Message;

/// The lock file inside `session_<id>/`. Strands never lists the session directory, so the extra
/// file does not disturb it.
const LOCK_FILE: &str = ".agentcore.lock";

/// Deeper JSON than this in a session file is treated as corrupt: parsing it would recurse that
/// deep (serde_json runs with `unbounded_depth`). Strands' messages nest about 10 levels.
const MAX_JSON_DEPTH: usize = 512;

/// Strands-compatible sessions under one root directory (for example `/tmp/strands/sessions`).
///
/// Cheap to clone; holds no open files. One process may serve many sessions concurrently, but a
/// session has one writer at a time: take [`FileSessionStore::lock`] around open/restore/append.
#[derive(Debug, Clone)]
pub struct FileSessionStore {
    root: PathBuf,
    durable: bool,
    counts: Arc<MessageCounts>,
}

/// How many message files each session's `messages/` directory holds, for the sessions this
/// process has read or written, when they are numbered densely from 0 (as Strands and we
/// write them). Restoring a session then costs two `lstat`s instead of listing a directory
/// that grows by two files every turn. Strands only ever adds `message_<count>.json`, so
/// "that file does not exist and the one before it does" proves the count is still right;
/// anything else (a gap, a file from another writer) falls back to listing.
#[derive(Debug, Default)]
struct MessageCounts(std::sync::Mutex<HashMap<PathBuf, u64>>);

/// Sessions whose count is remembered; past it the memory is dropped (it is only a cache).
const MAX_REMEMBERED_SESSIONS: usize = 10_000;

impl MessageCounts {
    fn get(&self, dir: &Path) -> Option<u64> {
        self.0.lock().ok()?.get(dir).copied()
    }

    fn set(&self, dir: &Path, count: Option<u64>) {
        let Ok(mut counts) = self.0.lock() else { return };
        match count {
            Some(count) => {
                if counts.len() >= MAX_REMEMBERED_SESSIONS && !counts.contains_key(dir) {
                    counts.clear();
                }
                counts.insert(dir.to_path_buf(), count);
            }
            None => {
                counts.remove(dir);
            }
        }
    }
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

/// One agent's record in one session: restores it, appends its messages, syncs `agent.json`.
#[derive(Debug)]
pub struct AgentSession {
    durable: bool,
    counts: Arc<MessageCounts>,
    session_id: String,
    agent_id: String,
    agent_dir: PathBuf,
    messages_dir: PathBuf,
    /// Index of the next `message_<N>.json`; computed from the directory when first needed.
    next_index: Option<u64>,
    /// `created_at` of `agent.json`, kept on every rewrite.
    created_at: Option<String>,
    /// What the last write of `agent.json` through this handle contained.
    last_synced: Option<AgentSnapshot>,
}

/// A failure before the session id is attached.
struct Fail {
    path: Option<PathBuf>,
    kind: SessionErrorKind,
}

impl Fail {
    fn at(path: &Path, kind: SessionErrorKind) -> Fail {
        Fail {
            path: Some(path.to_path_buf()),
            kind,
        }
    }

    fn io(path: &Path, e: io::Error) -> Fail {
        Fail::at(
            path,
            SessionErrorKind::Io {
                kind: e.kind(),
                message: e.to_string(),
            },
        )
    }

    fn corrupt(path: &Path, detail: impl Into<String>) -> Fail {
        Fail::at(
            path,
            SessionErrorKind::Corrupt {
                detail: detail.into(),
            },
        )
    }

    fn into_error(self, session_id: &str) -> SessionError {
        SessionError::new(session_id, self.path, self.kind)
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
                Err(fs::TryLockError::WouldBlock) => {}
                Err(fs::TryLockError::Error(e)) => return Err(fail(Fail::io(&path, e))),
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
        Ok(AgentSession {
            durable: self.durable,
            counts: Arc::clone(&self.counts),
            session_id: session_id.to_string(),
            agent_id: agent_id.to_string(),
            messages_dir: agent_dir.join("messages"),
            agent_dir,
            next_index: None,
            created_at: None,
            last_synced: None,
        })
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
                && fs::read_dir(&agents)
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

impl AgentSession {
    /// The session id.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The agent id.
    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }

    /// Loads the agent (§1.6), or creates its record when it is new and returns `None`.
    ///
    /// A new agent gets its directories and an `agent.json` from `initial` right away, as Strands
    /// writes one when the Agent is constructed. An existing one must have been stored by the
    /// same conversation-manager class as `initial`'s `__name__` ([`SessionErrorKind::ManagerMismatch`]
    /// otherwise); its messages are the `message_<N>.json` files sorted by N, minus the first
    /// `removed_message_count`, each replaced by its `redact_message` when set, as stored: repairing
    /// broken tool pairs is the agent's job (`agent::conversation::fix_broken_tool_pairs`).
    pub fn restore(&mut self, initial: &AgentSnapshot) -> Result<Option<RestoredAgent>, SessionError> {
        let session_id = self.session_id.clone();
        self.restore_inner(initial).map_err(|f| f.into_error(&session_id))
    }

    /// Writes `message` as the next `message_<N>.json` (N = highest index on disk + 1). Never
    /// replaces an existing file. Call [`AgentSession::restore`] first: it creates a new agent's
    /// directories.
    pub fn append_message(&mut self, message: &Message) -> Result<(), SessionError> {
        let session_id = self.session_id.clone();
        self.append_inner(message).map_err(|f| f.into_error(&session_id))
    }

    /// Rewrites `agent.json` when `snapshot` differs from what this handle wrote last (the first
    /// sync of a handle always writes), keeping its `created_at`.
    pub fn sync_agent(&mut self, snapshot: &AgentSnapshot) -> Result<(), SessionError> {
        if self.last_synced.as_ref() == Some(snapshot) {
            return Ok(());
        }
        let session_id = self.session_id.clone();
        self.write_agent(snapshot, Replace::Allowed)
            .map_err(|f| f.into_error(&session_id))?;
        self.last_synced = Some(snapshot.clone());
        Ok(())
    }

    fn agent_file(&self) -> PathBuf {
        self.agent_dir.join("agent.json")
    }

    fn restore_inner(&mut self, initial: &AgentSnapshot) -> Result<Option<RestoredAgent>, Fail> {
        let agents_dir = self.agent_dir.parent().map(Path::to_path_buf).unwrap_or_default();
        ensure_dir(&agents_dir, self.durable)?;
        let agent_file = self.agent_file();
        let stored = if is_dir(&self.agent_dir)? {
            read_json(&agent_file)?
        } else {
            None
        };
        let Some(stored) = stored else {
            let orphans = message_files(&self.messages_dir)?;
            if !orphans.is_empty() {
                return Err(Fail::corrupt(
                    &agent_file,
                    format!(
                        "agent.json is missing but messages/ holds {} message files",
                        orphans.len()
                    ),
                ));
            }
            ensure_dir(&self.agent_dir, self.durable)?;
            ensure_dir(&self.messages_dir, self.durable)?;
            self.write_agent(initial, Replace::Never)?;
            self.next_index = Some(0);
            return Ok(None);
        };

        let field = |key: &str| {
            stored
                .get(key)
                .cloned()
                .ok_or_else(|| Fail::corrupt(&agent_file, format!("agent.json has no {key:?}")))
        };
        let state = field("state")?;
        let manager_state = field("conversation_manager_state")?;
        let found = manager_state
            .get("__name__")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Some(expected) = initial
            .conversation_manager_state
            .get("__name__")
            .and_then(Value::as_str)
            && found != expected
        {
            return Err(Fail::at(
                &agent_file,
                SessionErrorKind::ManagerMismatch {
                    expected: expected.to_string(),
                    found: found.to_string(),
                },
            ));
        }
        let removed = manager_state
            .get("removed_message_count")
            .and_then(Value::as_u64)
            .ok_or_else(|| {
                Fail::corrupt(
                    &agent_file,
                    "conversation_manager_state.removed_message_count is not a non-negative integer",
                )
            })?;
        let internal_state = stored.get("_internal_state").cloned();
        self.created_at = stored
            .get("created_at")
            .and_then(Value::as_str)
            .map(str::to_string);

        if !is_dir(&self.messages_dir)? {
            return Err(Fail::corrupt(
                &self.messages_dir,
                "the agent's messages directory is missing",
            ));
        }
        let skip = usize::try_from(removed).unwrap_or(usize::MAX);
        let messages = match self.read_messages_after(skip) {
            // A file gone from the remembered range (removed by hand): list the directory.
            Err(Fail {
                kind:
                    SessionErrorKind::Io {
                        kind: io::ErrorKind::NotFound,
                        ..
                    },
                ..
            }) if self.counts.get(&self.messages_dir).is_some() => {
                self.counts.set(&self.messages_dir, None);
                self.read_messages_after(skip)?
            }
            other => other?,
        };
        Ok(Some(RestoredAgent {
            messages,
            state,
            conversation_manager_state: manager_state,
            internal_state,
        }))
    }

    /// Reads the messages after the first `skip` files and sets the next index.
    fn read_messages_after(&mut self, skip: usize) -> Result<Vec<Message>, Fail> {
        let (next_index, files) = self.message_files_after(skip)?;
        self.next_index = Some(next_index);
        files.iter().map(|path| read_message(path)).collect()
    }

    /// The next message index and the message files after the first `skip` (in order): from
    /// the remembered count when it still holds (see [`MessageCounts`]), else by listing the
    /// directory.
    fn message_files_after(&self, skip: usize) -> Result<(u64, Vec<PathBuf>), Fail> {
        let path_of = |n: u64| self.messages_dir.join(format!("message_{n}.json"));
        if let Some(count) = self.counts.get(&self.messages_dir) {
            let last_present = count == 0 || lstat(&path_of(count - 1))?.is_some_and(|m| m.is_file());
            if last_present && lstat(&path_of(count))?.is_none() {
                let first = u64::try_from(skip).unwrap_or(u64::MAX).min(count);
                return Ok((count, (first..count).map(path_of).collect()));
            }
        }
        let files = message_files(&self.messages_dir)?;
        let dense = files.iter().enumerate().all(|(i, (n, _))| *n == i as u64);
        self.counts
            .set(&self.messages_dir, dense.then_some(files.len() as u64));
        let next_index = files.last().map_or(0, |(n, _)| n + 1);
        Ok((
            next_index,
            files.into_iter().skip(skip).map(|(_, path)| path).collect(),
        ))
    }

    fn append_inner(&mut self, message: &Message) -> Result<(), Fail> {
        let index = match self.next_index {
            Some(index) => index,
            None => message_files(&self.messages_dir)?
                .last()
                .map_or(0, |(n, _)| n + 1),
        };
        let path = self.messages_dir.join(format!("message_{index}.json"));
        let record = message_record(message, index, &now_iso()).map_err(|e| Fail::corrupt(&path, e))?;
        write_json(&path, &record, Replace::Never, self.durable)?;
        self.next_index = Some(index + 1);
        // Still dense only if the remembered count was exactly this file's index.
        let dense = self.counts.get(&self.messages_dir) == Some(index);
        self.counts.set(&self.messages_dir, dense.then_some(index + 1));
        Ok(())
    }

    fn write_agent(&mut self, snapshot: &AgentSnapshot, replace: Replace) -> Result<(), Fail> {
        let created_at = self.created_at.clone().unwrap_or_else(now_iso);
        let mut record = Map::new();
        record.insert("agent_id".into(), Value::String(self.agent_id.clone()));
        record.insert("state".into(), snapshot.state.clone());
        record.insert(
            "conversation_manager_state".into(),
            snapshot.conversation_manager_state.clone(),
        );
        record.insert("_internal_state".into(), snapshot.internal_state.clone());
        record.insert("created_at".into(), Value::String(created_at.clone()));
        record.insert("updated_at".into(), Value::String(now_iso()));
        let record = Value::Object(record);
        readable_depth(&record, MAX_JSON_DEPTH, "agent state")
            .map_err(|e| Fail::corrupt(&self.agent_file(), e))?;
        write_json(&self.agent_file(), &record, replace, self.durable)?;
        self.created_at = Some(created_at);
        Ok(())
    }
}

/// Now, as Python's `datetime.now(timezone.utc).isoformat()` writes it (Strands' timestamps).
fn now_iso() -> String {
    crate::clock::Civil::now().iso_micros_utc()
}

/// `message_<N>.json` files of a messages directory, sorted by N. A missing directory has none.
/// Other names (temp files) are ignored; a `message_*.json` whose N is not an integer is corrupt
/// (Strands fails on it too).
fn message_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, Fail> {
    if !is_dir(dir)? {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Fail::io(dir, e))? {
        let entry = entry.map_err(|e| Fail::io(dir, e))?;
        let name = entry.file_name();
        let Some(index) = name
            .to_str()
            .and_then(|n| n.strip_prefix("message_")?.strip_suffix(".json"))
        else {
            continue;
        };
        let path = entry.path();
        let index = index
            .parse::<u64>()
            .map_err(|_| Fail::corrupt(&path, "message file name without an index"))?;
        files.push((index, path));
    }
    files.sort();
    Ok(files)
}

/// The message a `message_<N>.json` restores to: `redact_message` when set, else `message`.
fn read_message(path: &Path) -> Result<Message, Fail> {
    let record = read_json(path)?.ok_or_else(|| Fail::io(path, io::ErrorKind::NotFound.into()))?;
    message_from_record(&record).map_err(|e| Fail::corrupt(path, e))
}

/// The record of `message_<N>.json`, as Strands writes it (timestamps are both `now`).
fn message_record(message: &Message, index: u64, now: &str) -> Result<Value, String> {
    let message = serde_json::to_value(message).map_err(|e| e.to_string())?;
    // The record adds one level.
    readable_depth(&message, MAX_JSON_DEPTH - 1, "message")?;
    Ok(json!({
        "message": message,
        "message_id": index,
        "redact_message": null,
        "created_at": now,
        "updated_at": now,
    }))
}

fn message_from_record(record: &Value) -> Result<Message, String> {
    let message = match record.get("redact_message") {
        Some(redacted) if !redacted.is_null() => redacted,
        _ => record.get("message").ok_or("no \"message\" key")?,
    };
    // From text, not from the `Value`: serde_json's `Value` deserializer turns integer literals
    // past u128 that an f64 prints the same way (`1e39` written out) into floats.
    let text = message.to_string();
    crate::pyjson::from_slice_bounded(text.as_bytes(), MAX_JSON_DEPTH)
        .map_err(|e| format!("invalid message: {e}"))
}

/// The bytes of `message_<N>.json` for `message`, as [`AgentSession::append_message`] writes them.
/// Sans I/O, for the fuzz targets.
#[doc(hidden)]
pub fn encode_message_file(message: &Message, index: u64, now: &str) -> Result<String, String> {
    message_record(message, index, now).map(|record| crate::pyjson::to_string_pretty(&record))
}

/// The message that the bytes of a `message_<N>.json` restore to, checked as [`read_message`]
/// checks a file (UTF-8, nesting, JSON, message shape). Sans I/O, for the fuzz targets.
#[doc(hidden)]
pub fn decode_message_file(bytes: &[u8]) -> Result<Message, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    message_from_record(&parse_json_text(text)?)
}

/// Whether `path` is a directory; `false` when missing. A link or a non-directory is an error.
fn is_dir(path: &Path) -> Result<bool, Fail> {
    match lstat(path)? {
        None => Ok(false),
        Some(meta) if meta.is_dir() => Ok(true),
        Some(meta) if meta.file_type().is_symlink() => Err(Fail::at(path, SessionErrorKind::SymlinkRefused)),
        Some(_) => Err(Fail::io(
            path,
            io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
        )),
    }
}

/// Creates a 0700 directory unless it exists (its parent must exist).
fn ensure_dir(path: &Path, durable: bool) -> Result<(), Fail> {
    if is_dir(path)? {
        return Ok(());
    }
    match DirBuilder::new().mode(0o700).create(path) {
        // Like a renamed file, a new directory survives a crash only once its parent is synced.
        Ok(()) if !durable => Ok(()),
        Ok(()) => match path.parent() {
            Some(parent) => File::open(parent)
                .and_then(|d| d.sync_all())
                .map_err(|e| Fail::io(parent, e)),
            None => Ok(()),
        },
        // Another writer made it in between: fine, if it is a real directory.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && is_dir(path)? => Ok(()),
        Err(e) => Err(Fail::io(path, e)),
    }
}

fn lstat(path: &Path) -> Result<Option<Metadata>, Fail> {
    match fs::symlink_metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Fail::io(path, e)),
    }
}

/// Fails unless the open `file` is the regular file `path` names (not through a link).
fn check_same_file(path: &Path, file: &File) -> Result<(), Fail> {
    let opened = file.metadata().map_err(|e| Fail::io(path, e))?;
    match lstat(path)? {
        Some(named)
            if named.file_type().is_file() && named.dev() == opened.dev() && named.ino() == opened.ino() =>
        {
            Ok(())
        }
        _ => Err(Fail::at(path, SessionErrorKind::SymlinkRefused)),
    }
}

/// Reads and parses a JSON file; `None` when it does not exist.
fn read_json(path: &Path) -> Result<Option<Value>, Fail> {
    match lstat(path)? {
        None => return Ok(None),
        Some(meta) if meta.file_type().is_symlink() => {
            return Err(Fail::at(path, SessionErrorKind::SymlinkRefused));
        }
        Some(_) => {}
    }
    let mut file = File::open(path).map_err(|e| Fail::io(path, e))?;
    check_same_file(path, &file)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| Fail::io(path, e))?;
    let text = String::from_utf8(bytes).map_err(|e| Fail::corrupt(path, format!("not UTF-8: {e}")))?;
    parse_json_text(&text)
        .map(Some)
        .map_err(|e| Fail::corrupt(path, e))
}

/// Parses a session file's text, refusing deep nesting before the parser sees it.
fn parse_json_text(text: &str) -> Result<Value, String> {
    // Bounded by us, not by serde's 128: that would refuse files we wrote ourselves (a tool
    // input nested 123 levels is 128 deep in its message file).
    crate::pyjson::from_slice_bounded(text.as_bytes(), MAX_JSON_DEPTH).map_err(|e| match e {
        crate::pyjson::BoundedError::TooDeep { .. } => {
            format!("JSON nested deeper than {MAX_JSON_DEPTH} levels")
        }
        crate::pyjson::BoundedError::Invalid(e) => format!("invalid JSON: {e}"),
    })
}

/// Refuses to write what reading would refuse as too deep.
fn readable_depth(value: &Value, max: usize, what: &str) -> Result<(), String> {
    if depth(value) > max {
        Err(format!(
            "{what} nested deeper than {max} levels: its file could not be read back"
        ))
    } else {
        Ok(())
    }
}

/// Nesting depth of arrays and objects (a scalar is 0), without recursion.
fn depth(value: &Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((value, level)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        max = max.max(level + 1);
        stack.extend(children.map(|child| (child, level + 1)));
    }
    max
}

/// Whether [`write_json`] may replace an existing file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Replace {
    Allowed,
    Never,
}

/// Writes `value` as Python's `json.dump(indent=2, ensure_ascii=False)` would, atomically.
fn write_json(path: &Path, value: &Value, replace: Replace, durable: bool) -> Result<(), Fail> {
    match lstat(path)? {
        Some(meta) if meta.file_type().is_symlink() => {
            return Err(Fail::at(path, SessionErrorKind::SymlinkRefused));
        }
        Some(_) if replace == Replace::Never => {
            return Err(Fail::io(
                path,
                io::Error::new(io::ErrorKind::AlreadyExists, "file exists; not replacing it"),
            ));
        }
        _ => {}
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let (tmp_path, mut tmp) = create_temp(dir)?;
    let written = tmp
        .write_all(crate::pyjson::to_string_pretty(value).as_bytes())
        .and_then(|()| if durable { tmp.sync_data() } else { Ok(()) })
        .and_then(|()| fs::rename(&tmp_path, path));
    drop(tmp);
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp_path);
        return Err(Fail::io(path, e));
    }
    if !durable {
        return Ok(());
    }
    // The rename is durable only once the directory entry is.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Fail::io(dir, e))
}

/// A new, empty, 0600 `.strands_<random>.tmp` file in `dir` (never an existing file or link).
fn create_temp(dir: &Path) -> Result<(PathBuf, File), Fail> {
    let mut last_error = None;
    for _ in 0..16 {
        let random: String = crate::ids::uuid4()
            .chars()
            .filter(|c| *c != '-')
            .take(12)
            .collect();
        let path = dir.join(format!(".strands_{random}.tmp"));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
            Err(e) => return Err(Fail::io(&path, e)),
        }
    }
    let e = last_error.unwrap_or_else(|| io::ErrorKind::AlreadyExists.into());
    Err(Fail::io(dir, e))
}

/// Opens (creating, 0600) the lock file, refusing a link.
fn open_lock_file(path: &Path) -> Result<File, Fail> {
    if lstat(path)?.is_some_and(|m| m.file_type().is_symlink()) {
        return Err(Fail::at(path, SessionErrorKind::SymlinkRefused));
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| Fail::io(path, e))?;
    check_same_file(path, &file)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deep_tool_call(levels: usize) -> Message {
        let input: Value = serde_json::from_str::<Value>("[]").unwrap();
        let input = (1..levels).fold(input, |inner, _| Value::Array(vec![inner]));
        Message::new(
            crate::types::Role::Assistant,
            vec![crate::types::ContentBlock::ToolUse(crate::types::ToolUse {
                tool_use_id: "c1".into(),
                name: "deep".into(),
                input,
            })],
        )
    }

    #[test]
    fn what_we_write_we_read_back_however_deep() {
        // Found by the session_message fuzz target: a tool input nested 123 levels (which the
        // model client parses) made a message file that serde's default limit of 128 refused.
        for levels in [123, 200, MAX_JSON_DEPTH - 6] {
            let message = deep_tool_call(levels);
            let file = encode_message_file(&message, 0, "t").unwrap();
            assert_eq!(decode_message_file(file.as_bytes()), Ok(message), "{levels}");
        }
        // Deeper than reading allows is refused at writing instead of making a file we cannot read.
        let err = encode_message_file(&deep_tool_call(MAX_JSON_DEPTH - 4), 0, "t").unwrap_err();
        assert_eq!(
            err,
            "message nested deeper than 511 levels: its file could not be read back"
        );
    }
}

//! [`AgentSession`]: one agent's record in one session directory (`agents/agent_<id>/`):
//! restoring it (§1.6), appending `message_<N>.json`, rewriting `agent.json`; and
//! [`MessageCounts`], the process-wide memory that spares a restore the listing of `messages/`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use super::codec::{MAX_JSON_DEPTH, message_from_record, message_record, now_iso, readable_depth};
use super::fs::{Fail, Replace, ensure_dir, is_dir, lstat, message_files, read_json, write_json};
use crate::session::error::{SessionError, SessionErrorKind};
use crate::session::record::{AgentSnapshot, RestoredAgent, StoredAgent};
use crate::types::Message;

/// How many message files each session's `messages/` directory holds, for the sessions this
/// process has read or written, when they are numbered densely from 0 (as Strands and we
/// write them). Restoring a session then costs two `lstat`s instead of listing a directory
/// that grows by two files every turn. Strands only ever adds `message_<count>.json`, so
/// "that file does not exist and the one before it does" proves the count is still right;
/// anything else (a gap, a file from another writer) falls back to listing.
#[derive(Default)]
pub(super) struct MessageCounts(Mutex<HashMap<PathBuf, u64>>);

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

impl fmt::Debug for MessageCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let remembered = self.0.lock().map(|counts| counts.len()).unwrap_or_default();
        write!(f, "MessageCounts({remembered} sessions)")
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

impl AgentSession {
    /// The handle on `agent_dir` (`.../agents/agent_<id>`); nothing is read or written yet.
    pub(super) fn new(
        durable: bool,
        counts: Arc<MessageCounts>,
        session_id: &str,
        agent_id: &str,
        agent_dir: PathBuf,
    ) -> Self {
        AgentSession {
            durable,
            counts,
            session_id: session_id.to_string(),
            agent_id: agent_id.to_string(),
            messages_dir: agent_dir.join("messages"),
            agent_dir,
            next_index: None,
            created_at: None,
            last_synced: None,
        }
    }

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
    /// same conversation-manager class as `initial`'s `__name__` ([`crate::session::SessionErrorKind::ManagerMismatch`]
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

    /// Rewrites `message_<index>.json`, which must restore to `expected`, with `message`
    /// (Strands' `update_message`): its `created_at` and `redact_message` kept, `updated_at` now.
    pub fn replace_message(
        &mut self,
        index: u64,
        expected: &Message,
        message: &Message,
    ) -> Result<(), SessionError> {
        let session_id = self.session_id.clone();
        self.replace_inner(index, expected, message)
            .map_err(|f| f.into_error(&session_id))
    }

    fn replace_inner(&mut self, index: u64, expected: &Message, message: &Message) -> Result<(), Fail> {
        let path = self.messages_dir.join(format!("message_{index}.json"));
        let Some(stored) = read_json(&path)? else {
            return Err(Fail::corrupt(&path, "the message to replace does not exist"));
        };
        if message_from_record(&stored).map_err(|e| Fail::invalid(&path, e))? != *expected {
            return Err(Fail::at(
                &path,
                SessionErrorKind::Conflict {
                    detail: format!("message_{index}.json is not the message to replace"),
                },
            ));
        }
        let now = now_iso();
        let mut record = message_record(message, index, &now).map_err(|e| Fail::invalid(&path, e))?;
        if let Some(record) = record.as_object_mut() {
            for key in ["redact_message", "created_at"] {
                if let Some(kept) = stored.get(key) {
                    record.insert(key.to_string(), kept.clone());
                }
            }
        }
        write_json(&path, &record, Replace::Allowed, self.durable)
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

        let stored = StoredAgent::check(&stored, initial).map_err(|kind| Fail::at(&agent_file, kind))?;
        self.created_at = stored.created_at.clone();

        if !is_dir(&self.messages_dir)? {
            return Err(Fail::corrupt(
                &self.messages_dir,
                "the agent's messages directory is missing",
            ));
        }
        let skip = usize::try_from(stored.removed).unwrap_or(usize::MAX);
        let messages = match self.read_messages_after(skip) {
            // A file gone from the remembered range (removed by hand): list the directory.
            Err(fail) if fail.is_not_found() && self.counts.get(&self.messages_dir).is_some() => {
                self.counts.set(&self.messages_dir, None);
                self.read_messages_after(skip)?
            }
            other => other?,
        };
        Ok(Some(stored.into_restored(messages)))
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
        let record = message_record(message, index, &now_iso()).map_err(|e| Fail::invalid(&path, e))?;
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
            .map_err(|e| Fail::invalid(&self.agent_file(), e))?;
        write_json(&self.agent_file(), &record, replace, self.durable)?;
        self.created_at = Some(created_at);
        Ok(())
    }
}

/// The message a `message_<N>.json` restores to: `redact_message` when set, else `message`.
fn read_message(path: &Path) -> Result<Message, Fail> {
    let record = read_json(path)?.ok_or_else(|| Fail::io(path, std::io::ErrorKind::NotFound.into()))?;
    message_from_record(&record).map_err(|e| Fail::invalid(path, e))
}

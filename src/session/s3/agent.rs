//! [`S3AgentSession`]: one agent's record in one S3 session: restoring it, appending
//! `message_<N>.json` with `If-None-Match: *`, replacing `agent.json` with `If-Match`; and
//! [`Remembered`], what a process keeps between turns so a warm turn lists nothing.
//!
//! Restoring, cold (a session this process has not seen, or that someone else changed):
//! `session.json` (created when missing), `agent.json` (created for a new agent), one
//! ListObjectsV2 of `messages/` per 1,000 keys, and a GET per message after the window
//! offset, in parallel, as Strands does. Warm (the remembered record still current): a GET of
//! `agent.json` with `If-None-Match` on the remembered ETag (304) and a HEAD of the next message
//! key (404) prove nobody wrote since; the remembered window is used.
//!
//! Where we differ from Strands 1.62 (to lose nothing when replicas race): message objects are
//! created, never replaced; the next index is the highest listed plus one (Strands takes the last
//! one after the window offset); `agent.json` missing while messages exist is an error, not a new
//! agent. Like Strands, a message listed but gone when read is skipped, and a message or record
//! that is not valid JSON is an error that touches nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use super::client::{Condition, Get, S3Client, S3Error};
use super::layout::AgentKeys;
use crate::session::error::{SessionError, SessionErrorKind};
use crate::session::file::codec::{
    Invalid, MAX_JSON_DEPTH, message_from_record, message_record, now_iso, parse_json_bytes, readable_depth,
};
use crate::session::record::{AgentSnapshot, RestoredAgent, StoredAgent};
use crate::types::Message;

/// Sessions whose record is remembered; past it the memory is dropped (it is only a cache).
const MAX_REMEMBERED: usize = 1_000;

/// Messages read in parallel on a cold restore.
const PARALLEL_READS: usize = 8;

/// One agent's record as this process last left it.
#[derive(Debug, Clone)]
pub(super) struct Record {
    etag: String,
    agent: Value,
    next_index: u64,
    /// Messages from index `first` to `next_index - 1`, all present (dense).
    first: u64,
    messages: Vec<Message>,
}

/// Records by session and agent id, for the sessions this process served.
#[derive(Debug, Default)]
pub(super) struct Remembered(Mutex<HashMap<(String, String), Record>>);

impl Remembered {
    fn take(&self, key: &(String, String)) -> Option<Record> {
        crate::sync::lock(&self.0).remove(key)
    }

    fn put(&self, key: (String, String), record: Record) {
        let mut map = crate::sync::lock(&self.0);
        if map.len() >= MAX_REMEMBERED {
            map.clear();
        }
        map.insert(key, record);
    }
}

/// A failure before the session id is attached: the object key and what went wrong.
#[derive(Debug)]
pub(super) struct Fail {
    key: Option<String>,
    kind: SessionErrorKind,
}

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.key {
            Some(key) => write!(f, "{} ({key})", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl Fail {
    pub(super) fn at(key: &str, kind: SessionErrorKind) -> Fail {
        Fail {
            key: Some(key.to_string()),
            kind,
        }
    }

    pub(super) fn s3(key: &str, e: S3Error) -> Fail {
        Fail::at(
            key,
            SessionErrorKind::Backend {
                store: "S3",
                detail: e.to_string(),
                status: e.status,
                unavailable: e.transient,
            },
        )
    }

    fn invalid(key: &str, e: Invalid) -> Fail {
        Fail::at(key, e.into_kind())
    }

    fn corrupt(key: &str, detail: impl Into<String>) -> Fail {
        Fail::at(key, SessionErrorKind::corrupt(detail))
    }

    pub(super) fn into_error(self, bucket: &str, session_id: &str) -> SessionError {
        let path = self.key.map(|k| format!("s3://{bucket}/{k}").into());
        SessionError::new(session_id, path, self.kind)
    }
}

/// One agent's record in one S3 session, held by one invocation.
#[derive(Debug)]
pub(super) struct S3AgentSession {
    client: Arc<S3Client>,
    remembered: Arc<Remembered>,
    keys: AgentKeys,
    session_id: String,
    agent_id: String,
    /// The state of the record as on S3 after our last read or write; `None` after a failure
    /// (nothing is remembered then: the next turn restores cold).
    record: Option<Record>,
    created_at: Option<String>,
    last_synced: Option<AgentSnapshot>,
    /// Whether `record` may be kept for the next turn: its messages are dense and every write
    /// since it was read succeeded.
    remember: bool,
}

impl S3AgentSession {
    pub(super) fn new(
        client: Arc<S3Client>,
        remembered: Arc<Remembered>,
        keys: AgentKeys,
        session_id: &str,
        agent_id: &str,
    ) -> Self {
        S3AgentSession {
            client,
            remembered,
            keys,
            session_id: session_id.to_string(),
            agent_id: agent_id.to_string(),
            record: None,
            created_at: None,
            last_synced: None,
            remember: false,
        }
    }

    fn id(&self) -> (String, String) {
        (self.session_id.clone(), self.agent_id.clone())
    }

    /// Restores the agent, or creates its record and returns `None` when it is new.
    pub(super) fn restore(&mut self, initial: &AgentSnapshot) -> Result<Option<RestoredAgent>, Fail> {
        let mut fetched = None;
        if let Some(record) = self.remembered.take(&self.id()) {
            let key = &self.keys.agent_record;
            match self
                .client
                .get(key, Some(&record.etag))
                .map_err(|e| Fail::s3(key, e))?
            {
                Get::NotModified => {
                    let next = self.keys.message(record.next_index);
                    if !self.client.head(&next).map_err(|e| Fail::s3(&next, e))?
                        && let Some(restored) = self.restore_remembered(record, initial)?
                    {
                        return Ok(Some(restored));
                    }
                }
                Get::Found { body, etag } => fetched = Some((body, etag)),
                Get::Missing => {}
            }
        }
        self.restore_cold(initial, fetched)
    }

    /// The remembered record, or `None` when it lacks messages the window now wants.
    fn restore_remembered(
        &mut self,
        record: Record,
        initial: &AgentSnapshot,
    ) -> Result<Option<RestoredAgent>, Fail> {
        let stored = self.interpret(&record.agent, initial)?;
        if stored.removed < record.first {
            return Ok(None);
        }
        let from = usize::try_from(stored.removed - record.first).unwrap_or(usize::MAX);
        let messages = record.messages.get(from..).unwrap_or_default().to_vec();
        self.record = Some(record);
        self.remember = true;
        Ok(Some(stored.into_restored(messages)))
    }

    fn restore_cold(
        &mut self,
        initial: &AgentSnapshot,
        fetched: Option<(Vec<u8>, Option<String>)>,
    ) -> Result<Option<RestoredAgent>, Fail> {
        self.open_session()?;
        let key = self.keys.agent_record.clone();
        let fetched = match fetched {
            Some(found) => Some(found),
            None => match self.client.get(&key, None).map_err(|e| Fail::s3(&key, e))? {
                Get::Found { body, etag } => Some((body, etag)),
                _ => None,
            },
        };
        let Some((body, etag)) = fetched else {
            let listed = self
                .client
                .list(&self.keys.messages, Some(1))
                .map_err(|e| Fail::s3(&key, e))?;
            if !listed.is_empty() {
                return Err(Fail::corrupt(
                    &key,
                    "agent.json is missing but messages/ holds message objects",
                ));
            }
            self.record = Some(Record {
                etag: String::new(),
                agent: Value::Null,
                next_index: 0,
                first: 0,
                messages: Vec::new(),
            });
            let etag = self.write_agent(initial, None)?;
            if let Some(record) = self.record.as_mut() {
                record.etag = etag;
            }
            self.remember = true;
            return Ok(None);
        };
        let agent = parse_json_bytes(body).map_err(|e| Fail::invalid(&key, e))?;
        let stored = self.interpret(&agent, initial)?;
        let etag = match etag {
            Some(etag) => etag,
            None => self.etag_of(&key)?,
        };

        let prefix = self.keys.messages.clone();
        let mut indices = Vec::new();
        for listed in self
            .client
            .list(&prefix, None)
            .map_err(|e| Fail::s3(&prefix, e))?
        {
            match self.keys.message_index(&listed) {
                Some(Ok(index)) => indices.push(index),
                Some(Err(())) => return Err(Fail::corrupt(&listed, "message key without an integer index")),
                None => {}
            }
        }
        indices.sort_unstable();
        let next_index = indices.last().map_or(0, |n| n + 1);
        let skip = usize::try_from(stored.removed)
            .unwrap_or(usize::MAX)
            .min(indices.len());
        let wanted = &indices[skip..];
        let read = self.read_messages(wanted)?;
        let dense = indices.iter().enumerate().all(|(i, n)| *n == i as u64) && read.len() == wanted.len();
        let messages: Vec<Message> = read.into_iter().map(|(_, m)| m).collect();
        // Remembered only when dense (as Strands writes): then index and list position agree,
        // and the window offset can be applied to the remembered messages next turn.
        self.remember = dense;
        self.record = Some(Record {
            etag,
            agent,
            next_index,
            first: skip as u64,
            messages: if dense { messages.clone() } else { Vec::new() },
        });
        Ok(Some(stored.into_restored(messages)))
    }

    /// Reads `session.json`, or creates it (`If-None-Match: *`) when the session is new.
    fn open_session(&self) -> Result<(), Fail> {
        let key = &self.keys.session_record;
        match self.client.get(key, None).map_err(|e| Fail::s3(key, e))? {
            Get::Found { body, .. } => {
                let value = parse_json_bytes(body).map_err(|e| Fail::invalid(key, e))?;
                match value.get("session_id") {
                    Some(Value::String(_)) => Ok(()),
                    _ => Err(Fail::corrupt(key, "session.json has no string \"session_id\"")),
                }
            }
            Get::NotModified | Get::Missing => {
                let agents = &self.keys.agents;
                if !self
                    .client
                    .list(agents, Some(1))
                    .map_err(|e| Fail::s3(agents, e))?
                    .is_empty()
                {
                    return Err(Fail::at(
                        &self.keys.session,
                        SessionErrorKind::MissingSessionRecord,
                    ));
                }
                let now = now_iso();
                let mut record = Map::new();
                record.insert("session_id".into(), Value::String(self.session_id.clone()));
                record.insert("session_type".into(), Value::String("AGENT".into()));
                record.insert("created_at".into(), Value::String(now.clone()));
                record.insert("updated_at".into(), Value::String(now));
                let body = crate::pyjson::to_string_pretty(&Value::Object(record));
                // Lost to another creator: the session exists, which is all we need.
                self.client
                    .put(key, body.as_bytes(), Condition::Absent)
                    .map_err(|e| Fail::s3(key, e))?;
                Ok(())
            }
        }
    }

    /// What `agent.json` says, checked as the file store checks it.
    fn interpret(&mut self, stored: &Value, initial: &AgentSnapshot) -> Result<StoredAgent, Fail> {
        let stored =
            StoredAgent::check(stored, initial).map_err(|kind| Fail::at(&self.keys.agent_record, kind))?;
        self.created_at = stored.created_at.clone();
        Ok(stored)
    }

    /// The messages at `indices`, in order, read up to [`PARALLEL_READS`] at a time. One listed
    /// but gone is skipped, as Strands skips it.
    fn read_messages(&self, indices: &[u64]) -> Result<Vec<(u64, Message)>, Fail> {
        let read_one = |index: u64| -> Result<Option<(u64, Message)>, Fail> {
            let key = self.keys.message(index);
            match self.client.get(&key, None).map_err(|e| Fail::s3(&key, e))? {
                Get::Found { body, .. } => {
                    let record = parse_json_bytes(body).map_err(|e| Fail::invalid(&key, e))?;
                    let message = message_from_record(&record).map_err(|e| Fail::invalid(&key, e))?;
                    Ok(Some((index, message)))
                }
                Get::NotModified | Get::Missing => Ok(None),
            }
        };
        let mut out = Vec::with_capacity(indices.len());
        for batch in indices.chunks(PARALLEL_READS) {
            let results: Vec<Result<Option<(u64, Message)>, Fail>> = if batch.len() == 1 {
                vec![read_one(batch[0])]
            } else {
                std::thread::scope(|scope| {
                    let handles: Vec<_> = batch.iter().map(|&i| scope.spawn(move || read_one(i))).collect();
                    handles
                        .into_iter()
                        .map(|h| {
                            h.join().unwrap_or_else(|_| {
                                Err(Fail::corrupt(&self.keys.messages, "a message reader panicked"))
                            })
                        })
                        .collect()
                })
            };
            for result in results {
                out.extend(result?);
            }
        }
        Ok(out)
    }

    fn etag_of(&self, key: &str) -> Result<String, Fail> {
        match self.client.get(key, None).map_err(|e| Fail::s3(key, e))? {
            Get::Found { etag: Some(etag), .. } => Ok(etag),
            _ => Err(Fail::at(
                key,
                SessionErrorKind::Backend {
                    store: "S3",
                    detail: "GET answered without an ETag: conditional writes need one".into(),
                    status: None,
                    unavailable: false,
                },
            )),
        }
    }

    /// Whether the object at `key` holds exactly `body`: a retried conditional write that met
    /// its own first attempt.
    fn holds(&self, key: &str, body: &[u8]) -> Result<Option<String>, Fail> {
        match self.client.get(key, None).map_err(|e| Fail::s3(key, e))? {
            Get::Found { body: stored, etag } if stored == body => Ok(Some(etag.unwrap_or_default())),
            _ => Ok(None),
        }
    }

    /// Creates `message_<next>.json`; never replaces one.
    pub(super) fn append_message(&mut self, message: &Message) -> Result<(), Fail> {
        let result = self.append_inner(message);
        if result.is_err() {
            self.forget();
        }
        result
    }

    fn append_inner(&mut self, message: &Message) -> Result<(), Fail> {
        let Some(record) = self.record.as_ref() else {
            return Err(Fail::corrupt(&self.keys.messages, "append before restore"));
        };
        let index = record.next_index;
        let key = self.keys.message(index);
        let record = message_record(message, index, &now_iso()).map_err(|e| Fail::invalid(&key, e))?;
        let body = crate::pyjson::to_string_pretty(&record);
        let put = self
            .client
            .put(&key, body.as_bytes(), Condition::Absent)
            .map_err(|e| Fail::s3(&key, e))?;
        if put.etag.is_none() && (put.attempts == 1 || self.holds(&key, body.as_bytes())?.is_none()) {
            return Err(Fail::at(
                &key,
                SessionErrorKind::Conflict {
                    detail: format!("message_{index}.json was created by another writer first"),
                },
            ));
        }
        if let Some(record) = self.record.as_mut() {
            record.next_index = index + 1;
            if self.remember {
                record.messages.push(message.clone());
            }
        }
        Ok(())
    }

    /// Replaces `message_<index>.json` (`If-Match` on the ETag just read; Strands'
    /// `update_message`), keeping its `created_at` and `redact_message`. The next sync writes
    /// `agent.json` whatever it holds, so another replica's remembered record (which proves
    /// itself current by `agent.json`'s ETag) is not trusted past this change.
    pub(super) fn replace_message(
        &mut self,
        index: u64,
        expected: &Message,
        message: &Message,
    ) -> Result<(), Fail> {
        let result = self.replace_inner(index, expected, message);
        if result.is_err() {
            self.forget();
        }
        self.last_synced = None;
        result
    }

    fn replace_inner(&mut self, index: u64, expected: &Message, message: &Message) -> Result<(), Fail> {
        let key = self.keys.message(index);
        let (stored, etag) = match self.client.get(&key, None).map_err(|e| Fail::s3(&key, e))? {
            Get::Found { body, etag } => (parse_json_bytes(body).map_err(|e| Fail::invalid(&key, e))?, etag),
            Get::NotModified | Get::Missing => {
                return Err(Fail::corrupt(&key, "the message to replace does not exist"));
            }
        };
        if message_from_record(&stored).map_err(|e| Fail::invalid(&key, e))? != *expected {
            return Err(Fail::at(
                &key,
                SessionErrorKind::Conflict {
                    detail: format!("message_{index}.json is not the message to replace"),
                },
            ));
        }
        let etag = match etag {
            Some(etag) => etag,
            None => self.etag_of(&key)?,
        };
        let mut record = message_record(message, index, &now_iso()).map_err(|e| Fail::invalid(&key, e))?;
        if let Some(record) = record.as_object_mut() {
            for kept in ["redact_message", "created_at"] {
                if let Some(value) = stored.get(kept) {
                    record.insert(kept.to_string(), value.clone());
                }
            }
        }
        let body = crate::pyjson::to_string_pretty(&record);
        let put = self
            .client
            .put(&key, body.as_bytes(), Condition::Matches(&etag))
            .map_err(|e| Fail::s3(&key, e))?;
        if put.etag.is_none() && (put.attempts == 1 || self.holds(&key, body.as_bytes())?.is_none()) {
            return Err(Fail::at(
                &key,
                SessionErrorKind::Conflict {
                    detail: format!("message_{index}.json was replaced by another writer first"),
                },
            ));
        }
        if let Some(record) = self.record.as_mut()
            && let Some(at) = index
                .checked_sub(record.first)
                .and_then(|at| usize::try_from(at).ok())
            && let Some(slot) = record.messages.get_mut(at)
        {
            *slot = message.clone();
        }
        Ok(())
    }

    /// Replaces `agent.json` (`If-Match` on the ETag we hold) when `snapshot` differs from what
    /// this handle wrote last; the first sync of a handle always writes, as the file store does.
    pub(super) fn sync_agent(&mut self, snapshot: &AgentSnapshot) -> Result<(), Fail> {
        if self.last_synced.as_ref() == Some(snapshot) {
            return Ok(());
        }
        let Some(etag) = self.record.as_ref().map(|r| r.etag.clone()) else {
            return Err(Fail::corrupt(&self.keys.agent_record, "sync before restore"));
        };
        match self.write_agent(snapshot, Some(&etag)) {
            Ok(etag) => {
                let removed = snapshot.removed_message_count();
                if let Some(record) = self.record.as_mut() {
                    record.etag = etag;
                    // The window moved on: what it dropped is no longer needed.
                    if removed > record.first {
                        let drop = usize::try_from(removed - record.first).unwrap_or(usize::MAX);
                        record.messages.drain(..drop.min(record.messages.len()));
                        record.first = removed;
                    }
                }
                self.last_synced = Some(snapshot.clone());
                Ok(())
            }
            Err(fail) => {
                self.forget();
                Err(fail)
            }
        }
    }

    /// Writes `agent.json` (created when `etag` is `None`), keeping `created_at`; returns the
    /// new ETag and remembers the record written.
    fn write_agent(&mut self, snapshot: &AgentSnapshot, etag: Option<&str>) -> Result<String, Fail> {
        let key = self.keys.agent_record.clone();
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
        readable_depth(&record, MAX_JSON_DEPTH, "agent state").map_err(|e| Fail::invalid(&key, e))?;
        let body = crate::pyjson::to_string_pretty(&record);
        let condition = etag.map_or(Condition::Absent, Condition::Matches);
        let put = self
            .client
            .put(&key, body.as_bytes(), condition)
            .map_err(|e| Fail::s3(&key, e))?;
        let new_etag = match put.etag {
            Some(Some(etag)) => etag,
            Some(None) => self.etag_of(&key)?,
            None => match (put.attempts > 1)
                .then(|| self.holds(&key, body.as_bytes()))
                .transpose()?
            {
                Some(Some(etag)) if !etag.is_empty() => etag,
                _ => {
                    return Err(Fail::at(
                        &key,
                        SessionErrorKind::Conflict {
                            detail: "agent.json was changed by another writer since it was read".into(),
                        },
                    ));
                }
            },
        };
        self.created_at = Some(created_at);
        if let Some(r) = self.record.as_mut() {
            r.agent = record;
        }
        Ok(new_etag)
    }

    /// After a failure nothing about the record can be trusted: the next turn restores cold.
    pub(super) fn forget(&mut self) {
        self.remember = false;
    }
}

impl Drop for S3AgentSession {
    fn drop(&mut self) {
        if let Some(record) = self.record.take()
            && self.remember
        {
            self.remembered.put(self.id(), record);
        }
    }
}

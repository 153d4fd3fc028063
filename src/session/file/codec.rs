//! The bytes of the session files, sans I/O: Python's `json.dump(indent=2)` layout, the
//! `message_<N>.json` record, Strands' timestamps, and the nesting bound that keeps reading a
//! file as safe as writing it.

use serde_json::{Value, json};

use crate::session::error::{Cause, SessionErrorKind};
use crate::types::Message;

/// Deeper JSON than this in a session file is treated as corrupt: parsing it would recurse that
/// deep (serde_json runs with `unbounded_depth`). Strands' messages nest about 10 levels.
pub(in crate::session) const MAX_JSON_DEPTH: usize = 512;

/// Why a file's contents were refused: the text a [`SessionErrorKind::Corrupt`] shows, and the
/// decoder's error behind it when there is one.
#[derive(Debug)]
pub(in crate::session) struct Invalid {
    detail: String,
    cause: Option<Cause>,
}

impl Invalid {
    pub(in crate::session) fn new(detail: impl Into<String>) -> Self {
        Invalid {
            detail: detail.into(),
            cause: None,
        }
    }

    fn by(detail: String, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Invalid {
            detail,
            cause: Some(std::sync::Arc::new(cause)),
        }
    }

    pub(in crate::session) fn into_kind(self) -> SessionErrorKind {
        SessionErrorKind::Corrupt {
            detail: self.detail,
            cause: self.cause,
        }
    }
}

/// Now, as Python's `datetime.now(timezone.utc).isoformat()` writes it (Strands' timestamps).
pub(in crate::session) fn now_iso() -> String {
    crate::clock::Civil::now().iso_micros_utc()
}

/// The record of `message_<N>.json`, as Strands writes it (timestamps are both `now`).
pub(in crate::session) fn message_record(message: &Message, index: u64, now: &str) -> Result<Value, Invalid> {
    let message = serde_json::to_value(message).map_err(|e| Invalid::by(e.to_string(), e))?;
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

/// The message a record restores to: `redact_message` when set, else `message`.
pub(in crate::session) fn message_from_record(record: &Value) -> Result<Message, Invalid> {
    let message = match record.get("redact_message") {
        Some(redacted) if !redacted.is_null() => redacted,
        _ => record
            .get("message")
            .ok_or_else(|| Invalid::new("no \"message\" key"))?,
    };
    // From text, not from the `Value`: serde_json's `Value` deserializer turns integer literals
    // past u128 that an f64 prints the same way (`1e39` written out) into floats.
    let text = message.to_string();
    crate::pyjson::from_slice_bounded(text.as_bytes(), MAX_JSON_DEPTH).map_err(|e| match e {
        crate::pyjson::BoundedError::Invalid(e) => Invalid::by(format!("invalid message: {e}"), e),
        too_deep => Invalid::new(format!("invalid message: {too_deep}")),
    })
}

/// The bytes of `message_<N>.json` for `message`, as
/// [`AgentSession::append_message`](super::AgentSession::append_message) writes them. Sans I/O,
/// for the fuzz targets.
#[cfg(any(test, feature = "_fuzz"))]
pub fn encode_message_file(message: &Message, index: u64, now: &str) -> Result<String, String> {
    message_record(message, index, now)
        .map(|record| crate::pyjson::to_string_pretty(&record))
        .map_err(|e| e.detail)
}

/// The message that the bytes of a `message_<N>.json` restore to, checked as a restore checks a
/// file (UTF-8, nesting, JSON, message shape). Sans I/O, for the fuzz targets.
#[cfg(any(test, feature = "_fuzz"))]
pub fn decode_message_file(bytes: &[u8]) -> Result<Message, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    parse_json_text(text)
        .and_then(|record| message_from_record(&record))
        .map_err(|e| e.detail)
}

/// A session file's bytes as JSON: UTF-8, then nesting, then the parser.
pub(in crate::session) fn parse_json_bytes(bytes: Vec<u8>) -> Result<Value, Invalid> {
    let text = String::from_utf8(bytes).map_err(|e| Invalid::by(format!("not UTF-8: {e}"), e))?;
    parse_json_text(&text)
}

/// Parses a session file's text, refusing deep nesting before the parser sees it.
fn parse_json_text(text: &str) -> Result<Value, Invalid> {
    // Bounded by us, not by serde's 128: that would refuse files we wrote ourselves (a tool
    // input nested 123 levels is 128 deep in its message file).
    crate::pyjson::from_slice_bounded(text.as_bytes(), MAX_JSON_DEPTH).map_err(|e| match e {
        crate::pyjson::BoundedError::TooDeep { .. } => {
            Invalid::new(format!("JSON nested deeper than {MAX_JSON_DEPTH} levels"))
        }
        crate::pyjson::BoundedError::Invalid(e) => Invalid::by(format!("invalid JSON: {e}"), e),
    })
}

/// Refuses to write what reading would refuse as too deep.
pub(in crate::session) fn readable_depth(value: &Value, max: usize, what: &str) -> Result<(), Invalid> {
    if depth(value) > max {
        Err(Invalid::new(format!(
            "{what} nested deeper than {max} levels: its file could not be read back"
        )))
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

    #[test]
    fn parser_errors_are_kept() {
        let kind = parse_json_bytes(b"{\"a\": ".to_vec()).unwrap_err().into_kind();
        let SessionErrorKind::Corrupt { detail, cause } = kind else {
            panic!("{kind:?}")
        };
        assert!(detail.starts_with("invalid JSON: EOF while parsing"), "{detail}");
        assert!(cause.is_some_and(|c| c.is::<serde_json::Error>()));
        let kind = parse_json_bytes(vec![0xff]).unwrap_err().into_kind();
        assert!(
            matches!(kind, SessionErrorKind::Corrupt { cause: Some(c), .. } if c.is::<std::string::FromUtf8Error>())
        );
    }
}

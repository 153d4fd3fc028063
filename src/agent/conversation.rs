//! The conversation window: Strands' `SlidingWindowConversationManager` and the repairs Strands
//! applies to tool-call pairs (`agent/agent.py`'s `_fix_broken_tool_use` on restore).
//!
//! Everything here is a pure function of the message list: no I/O, no clock. The agent loop calls
//! [`SlidingWindow::apply_management`] at the end of every invocation and
//! [`SlidingWindow::reduce_context`] when the model reports a context overflow; the session store
//! calls [`fix_broken_tool_pairs`] on restore and persists [`SlidingWindow::state`] in
//! `agent.json`, whose `removed_message_count` is the offset the next restore skips.
//!
//! Blocks are tested by variant ([`Message::has_tool_use`], [`Message::has_tool_result`]); a block
//! kept verbatim as `ContentBlock::Other` never counts as a tool call or result, even if it has
//! a `toolUse` key next to others (Strands, which tests for the key, would count it).

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde_json::{Value, json};

use crate::types::{ContentBlock, Message, Role, ToolResult, ToolResultContent};

/// The text of the error result Strands synthesises for a tool call that has no result.
pub const INTERRUPTED_TOOL_TEXT: &str = "Tool was interrupted.";

/// Characters kept at each end of a long tool-result text by [`truncate_tool_results`].
const PRESERVE_CHARS: usize = 200;

/// Marks a text that [`truncate_tool_results`] already shortened (so it is not shortened twice).
const TRUNCATION_MARKER: &str = "... [truncated:";

/// Strands' `SlidingWindowConversationManager` with `per_turn=False` and no pinning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlidingWindow {
    /// Most messages kept after a routine trim. 0 clears the whole history on every reduction.
    pub window_size: usize,
    /// On a context overflow, first shorten the oldest tool results before dropping messages.
    pub should_truncate_results: bool,
    /// Messages dropped from the front so far; the restore offset into the message files.
    pub removed_message_count: u64,
    /// Strands' per-turn counter. Stays as restored: we never manage per turn.
    pub model_call_count: u64,
}

impl Default for SlidingWindow {
    /// A window of 20 messages (our default; Strands' own is 40), truncating tool results.
    fn default() -> Self {
        SlidingWindow::new(20)
    }
}

/// What [`SlidingWindow::reduce_context`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    /// The oldest message with tool results was shortened; no message was removed.
    Truncated,
    /// This many messages were removed from the front.
    Removed(usize),
    /// A routine trim found no valid first message and left the history as it was.
    Unchanged,
}

/// A context overflow that trimming cannot fix: there is no valid message to start the window
/// at (Strands' `ContextWindowOverflowException("Unable to trim conversation context!")`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnableToTrim;

impl fmt::Display for UnableToTrim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Unable to trim conversation context!")
    }
}

impl std::error::Error for UnableToTrim {}

/// A stored conversation-manager state this manager cannot take over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidManagerState {
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for InvalidManagerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Invalid conversation manager state: {}", self.reason)
    }
}

impl std::error::Error for InvalidManagerState {}

impl SlidingWindow {
    /// The Python class name, stored as `__name__` and checked on restore.
    pub const CLASS_NAME: &'static str = "SlidingWindowConversationManager";

    /// A window of `window_size` messages that truncates tool results on overflow.
    pub fn new(window_size: usize) -> Self {
        SlidingWindow {
            window_size,
            should_truncate_results: true,
            removed_message_count: 0,
            model_call_count: 0,
        }
    }

    /// End-of-invocation trim: reduces the history only when it is longer than the window.
    pub fn apply_management(&mut self, messages: &mut Vec<Message>) -> Reduction {
        if messages.len() <= self.window_size {
            return Reduction::Unchanged;
        }
        // A routine trim never fails: with `overflow == false` it gives up quietly instead.
        self.reduce_context(messages, false)
            .unwrap_or(Reduction::Unchanged)
    }

    /// Makes the history smaller (§2.2). With `overflow` (the model rejected the context) it first
    /// tries [`truncate_tool_results`] on the oldest message holding tool results, and fails when
    /// nothing can be removed; a routine trim (`overflow == false`) gives up without an error.
    ///
    /// The kept window starts with a user message that holds no tool result (and no dangling tool
    /// call), or, failing that, with a tool call whose results follow. It may therefore be shorter
    /// than `window_size`.
    pub fn reduce_context(
        &mut self,
        messages: &mut Vec<Message>,
        overflow: bool,
    ) -> Result<Reduction, UnableToTrim> {
        if self.window_size == 0 {
            let removed = messages.len();
            self.removed_message_count += removed as u64;
            messages.clear();
            return Ok(Reduction::Removed(removed));
        }
        if overflow
            && self.should_truncate_results
            && let Some(oldest) = messages.iter_mut().find(|m| m.has_tool_result())
            && truncate_tool_results(oldest)
        {
            return Ok(Reduction::Truncated);
        }

        let start = if messages.len() <= self.window_size {
            2
        } else {
            messages.len() - self.window_size
        };
        let mut trim = valid_window_start(messages, start);
        if trim >= messages.len() {
            match tool_pair_start(messages, start) {
                Some(pair) => trim = pair,
                None if overflow => return Err(UnableToTrim),
                None => return Ok(Reduction::Unchanged),
            }
        }
        self.removed_message_count += trim as u64;
        messages.drain(..trim);
        Ok(Reduction::Removed(trim))
    }

    /// The state persisted in `agent.json`:
    /// `{"__name__": "SlidingWindowConversationManager", "removed_message_count", "model_call_count"}`.
    pub fn state(&self) -> Value {
        json!({
            "__name__": Self::CLASS_NAME,
            "removed_message_count": self.removed_message_count,
            "model_call_count": self.model_call_count,
        })
    }

    /// Takes over a stored state. Fails when it was written by another manager class (Strands:
    /// `ValueError("Invalid conversation manager state.")`) or its counters are not integers.
    pub fn restore(&mut self, state: &Value) -> Result<(), InvalidManagerState> {
        let invalid = |reason: String| InvalidManagerState { reason };
        let name = state.get("__name__").and_then(Value::as_str);
        if name != Some(Self::CLASS_NAME) {
            return Err(invalid(format!(
                "__name__ is {name:?}, expected {:?}",
                Self::CLASS_NAME
            )));
        }
        let removed = state
            .get("removed_message_count")
            .and_then(Value::as_u64)
            .ok_or_else(|| invalid("removed_message_count is not a non-negative integer".into()))?;
        let calls = match state.get("model_call_count") {
            None | Some(Value::Null) => 0,
            Some(v) => v
                .as_u64()
                .ok_or_else(|| invalid("model_call_count is not a non-negative integer".into()))?,
        };
        self.removed_message_count = removed;
        self.model_call_count = calls;
        Ok(())
    }
}

/// The first index at or after `start` where a window may begin: a user message without tool
/// results, whose tool calls (if any) are answered by the next message. `messages.len()` if none.
fn valid_window_start(messages: &[Message], start: usize) -> usize {
    let mut index = start;
    while let Some(message) = messages.get(index) {
        let answered = || messages.get(index + 1).is_some_and(Message::has_tool_result);
        if message.role == Role::User && !message.has_tool_result() && (!message.has_tool_use() || answered())
        {
            break;
        }
        index += 1;
    }
    index
}

/// Fallback start for tool-heavy histories: the first tool call at or after `start` that a user
/// message with tool results follows.
fn tool_pair_start(messages: &[Message], start: usize) -> Option<usize> {
    (start..messages.len()).find(|&i| {
        messages[i].has_tool_use()
            && messages
                .get(i + 1)
                .is_some_and(|next| next.role == Role::User && next.has_tool_result())
    })
}

/// Shortens the tool results of one message (§2.3): every image item becomes
/// `[image: <format>, <n> bytes]`, every text item longer than 400 characters that was not
/// shortened before keeps its first and last 200 characters around a
/// `... [truncated: <n> chars removed] ...` notice. Returns whether anything changed.
pub fn truncate_tool_results(message: &mut Message) -> bool {
    let mut changed = false;
    for block in &mut message.content {
        if let ContentBlock::ToolResult(result) = block {
            for item in &mut result.content {
                if let Some(text) = truncated_item_text(item) {
                    *item = ToolResultContent::Text(text);
                    changed = true;
                }
            }
        }
    }
    changed
}

/// The replacement text for one tool-result item, or `None` to keep it.
fn truncated_item_text(item: &ToolResultContent) -> Option<String> {
    match item {
        ToolResultContent::Image(image) => Some(image_placeholder(&image.format, image.byte_len())),
        ToolResultContent::Text(text) => truncate_text(text),
        // Shapes we keep verbatim still count when they carry these keys, as they do in Strands.
        ToolResultContent::Other(map) => match (map.get("image"), map.get("text")) {
            (Some(image), _) => Some(raw_image_placeholder(image)),
            (None, Some(Value::String(text))) => truncate_text(text),
            _ => None,
        },
        ToolResultContent::Json(_) | ToolResultContent::Document(_) => None,
    }
}

fn truncate_text(text: &str) -> Option<String> {
    if text.contains(TRUNCATION_MARKER) {
        return None;
    }
    // Python counts and slices code points, not bytes.
    let chars = text.chars().count();
    if chars <= 2 * PRESERVE_CHARS {
        return None;
    }
    let prefix_end = text
        .char_indices()
        .nth(PRESERVE_CHARS)
        .map_or(text.len(), |(i, _)| i);
    let suffix_start = text
        .char_indices()
        .nth(chars - PRESERVE_CHARS)
        .map_or(text.len(), |(i, _)| i);
    let removed = chars - 2 * PRESERVE_CHARS;
    Some(format!(
        "{}...\n\n... [truncated: {removed} chars removed] ...\n\n...{}",
        &text[..prefix_end],
        &text[suffix_start..]
    ))
}

fn image_placeholder(format: &str, bytes: usize) -> String {
    format!("[image: {format}, {bytes} bytes]")
}

/// The placeholder for an image item we keep verbatim (an unusual source or extra keys).
fn raw_image_placeholder(image: &Value) -> String {
    let format = image.get("format").and_then(Value::as_str).unwrap_or("unknown");
    // A base64 text of n characters (padding excluded) holds n * 3 / 4 bytes.
    let bytes = image
        .get("source")
        .and_then(|s| s.get("bytes"))
        .and_then(|b| b.get("data"))
        .and_then(Value::as_str)
        .map_or(0, |data| data.trim_end_matches('=').len() * 3 / 4);
    image_placeholder(format, bytes)
}

/// An error tool result saying the call was interrupted.
fn interrupted_result(tool_use_id: &str) -> ContentBlock {
    ContentBlock::ToolResult(ToolResult::error(tool_use_id, INTERRUPTED_TOOL_TEXT))
}

/// The repair Strands makes when a prompt arrives while the last message still has tool calls
/// (an interrupted turn): a user message answering each call, in order, with an error result
/// `"Tool was interrupted."`. `None` when `last` has no tool call. The message carries a fresh
/// tracking id; the caller appends (and persists) it before the prompt.
pub fn interrupted_results_for(last: &Message) -> Option<Message> {
    if !last.has_tool_use() {
        return None;
    }
    let content = last
        .tool_uses()
        .map(|t| interrupted_result(&t.tool_use_id))
        .collect();
    Some(Message {
        tracking_id: Some(crate::ids::uuid4()),
        ..Message::new(Role::User, content)
    })
}

/// Repairs tool-call pairs in a restored history (§1.6), as Strands does on restore:
///
/// 1. From the end backwards, a user message holding tool results whose previous message has no
///    tool call loses those results, and is removed if nothing is left.
/// 2. For every message with tool calls except the last one, when the set of result ids in the
///    next message differs from the set of call ids, that message's results are rebuilt to one
///    per call, in call order: kept when present, else an error result "Tool was interrupted.";
///    results for unknown ids are dropped and other blocks follow the results. If the next
///    message has no results but other content, a new user message is inserted for the results.
pub fn fix_broken_tool_pairs(messages: &mut Vec<Message>) {
    for index in (0..messages.len()).rev() {
        let message = &messages[index];
        if message.role != Role::User || !message.has_tool_result() {
            continue;
        }
        if index > 0 && messages[index - 1].has_tool_use() {
            continue;
        }
        let message = &mut messages[index];
        message
            .content
            .retain(|b| !matches!(b, ContentBlock::ToolResult(_)));
        if message.content.is_empty() {
            messages.remove(index);
        }
    }

    // The last message is left alone: a dangling call there is repaired when the next prompt
    // arrives (`interrupted_results_for`).
    let last = messages.len().saturating_sub(1);
    let with_calls: Vec<usize> = (0..last).filter(|&i| messages[i].has_tool_use()).collect();
    for &index in with_calls.iter().rev() {
        let call_ids: Vec<String> = messages[index]
            .tool_uses()
            .map(|t| t.tool_use_id.clone())
            .collect();
        let paired = {
            let call_set: HashSet<&str> = call_ids.iter().map(String::as_str).collect();
            let result_set: HashSet<&str> = messages[index + 1]
                .tool_results()
                .map(|r| r.tool_use_id.as_str())
                .collect();
            call_set == result_set
        };
        if paired {
            continue;
        }
        let next = &mut messages[index + 1];
        // Keyed by id: of duplicate results for one id, the last wins (as in Strands).
        let mut results: HashMap<String, ContentBlock> = HashMap::new();
        let mut others = Vec::new();
        for block in std::mem::take(&mut next.content) {
            match block {
                ContentBlock::ToolResult(ref r) => {
                    results.insert(r.tool_use_id.clone(), block);
                }
                other => others.push(other),
            }
        }
        let rebuilt: Vec<ContentBlock> = call_ids
            .iter()
            .map(|id| results.get(id).cloned().unwrap_or_else(|| interrupted_result(id)))
            .collect();
        if results.is_empty() && !others.is_empty() {
            next.content = others;
            let inserted = Message {
                tracking_id: Some(crate::ids::uuid4()),
                ..Message::new(Role::User, rebuilt)
            };
            messages.insert(index + 1, inserted);
        } else {
            next.content = rebuilt.into_iter().chain(others).collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs(v: Value) -> Vec<Message> {
        serde_json::from_value(v).unwrap()
    }

    fn json_of(m: &[Message]) -> Value {
        serde_json::to_value(m).unwrap()
    }

    fn tu(id: &str) -> Value {
        json!({"toolUse": {"toolUseId": id, "name": "t", "input": {}}})
    }

    fn tr(id: &str, text: &str) -> Value {
        json!({"toolResult": {"toolUseId": id, "status": "success", "content": [{"text": text}]}})
    }

    fn interrupted(id: &str) -> Value {
        json!({"toolResult": {"toolUseId": id, "status": "error", "content": [{"text": "Tool was interrupted."}]}})
    }

    fn u(blocks: Vec<Value>) -> Value {
        json!({"role": "user", "content": blocks})
    }

    fn a(blocks: Vec<Value>) -> Value {
        json!({"role": "assistant", "content": blocks})
    }

    fn t(s: &str) -> Value {
        json!({"text": s})
    }

    /// Fixes `input` and strips the tracking ids of inserted messages (random) before comparing.
    fn fixed(input: Vec<Value>) -> Value {
        let mut m = msgs(Value::Array(input));
        fix_broken_tool_pairs(&mut m);
        for message in &mut m {
            assert!(message.tracking_id.as_ref().is_none_or(|id| id.len() == 36));
            message.tracking_id = None;
        }
        json_of(&m)
    }

    // Expected values below are what Strands 1.62's `_fix_broken_tool_use` returns for the same input.
    #[test]
    fn fix_removes_orphan_results() {
        let out = fixed(vec![
            u(vec![tr("x", "ok")]),
            a(vec![t("hi")]),
            u(vec![t("q"), tr("y", "ok")]),
            a(vec![t("r")]),
        ]);
        assert_eq!(out, json!([a(vec![t("hi")]), u(vec![t("q")]), a(vec![t("r")])]));
    }

    #[test]
    fn fix_fills_missing_and_drops_unknown_results_in_call_order() {
        let out = fixed(vec![
            u(vec![t("q")]),
            a(vec![tu("a"), tu("b")]),
            u(vec![tr("b", "ok")]),
            a(vec![t("done")]),
        ]);
        assert_eq!(out[2], u(vec![interrupted("a"), tr("b", "ok")]));

        let out = fixed(vec![
            u(vec![t("q")]),
            a(vec![tu("a"), tu("b")]),
            u(vec![t("note"), tr("z", "ok"), tr("a", "ok")]),
            a(vec![t("done")]),
        ]);
        assert_eq!(out[2], u(vec![tr("a", "ok"), interrupted("b"), t("note")]));
    }

    #[test]
    fn fix_leaves_matching_sets_untouched() {
        let input = vec![
            u(vec![t("q")]),
            a(vec![tu("a"), tu("b")]),
            u(vec![t("note"), tr("b", "ok"), tr("a", "ok")]),
        ];
        let mut input = input;
        input.push(a(vec![t("done")]));
        assert_eq!(fixed(input.clone()), Value::Array(input));
    }

    #[test]
    fn fix_inserts_a_result_message_before_other_content() {
        let out = fixed(vec![
            u(vec![t("q")]),
            a(vec![tu("a")]),
            u(vec![t("next question")]),
            a(vec![t("ans")]),
        ]);
        assert_eq!(
            out,
            json!([
                u(vec![t("q")]),
                a(vec![tu("a")]),
                u(vec![interrupted("a")]),
                u(vec![t("next question")]),
                a(vec![t("ans")])
            ])
        );
        let out = fixed(vec![
            u(vec![t("q")]),
            a(vec![t("thinking"), tu("a")]),
            a(vec![t("more")]),
        ]);
        assert_eq!(out[2], u(vec![interrupted("a")]));
        assert_eq!(out.as_array().unwrap().len(), 4);
    }

    #[test]
    fn fix_keeps_last_dangling_call_and_last_duplicate_result() {
        let input = vec![u(vec![t("q")]), a(vec![tu("a")])];
        assert_eq!(fixed(input.clone()), Value::Array(input));
        let out = fixed(vec![
            u(vec![t("q")]),
            a(vec![tu("a"), tu("c")]),
            u(vec![tr("a", "first"), tr("a", "second")]),
        ]);
        assert_eq!(out[2], u(vec![tr("a", "second"), interrupted("c")]));
    }

    #[test]
    fn interrupted_results_answer_every_call_in_order() {
        let last = &msgs(json!([a(vec![t("x"), tu("c1"), tu("c2")])]))[0];
        let mut repair = interrupted_results_for(last).unwrap();
        assert_eq!(repair.tracking_id.take().map(|id| id.len()), Some(36));
        assert_eq!(
            serde_json::to_value(&repair).unwrap(),
            u(vec![interrupted("c1"), interrupted("c2")])
        );
        assert!(interrupted_results_for(&msgs(json!([a(vec![t("x")])]))[0]).is_none());
    }

    #[test]
    fn routine_trim_starts_at_a_plain_user_message() {
        // Scenario D, turn 2: 6 messages, window 4 -> 4 removed, 2 kept.
        let mut w = SlidingWindow::new(4);
        let mut m = msgs(json!([
            u(vec![t("Add 2 and 3.")]),
            a(vec![tu("d1")]),
            u(vec![tr("d1", "5")]),
            a(vec![t("The sum is 5.")]),
            u(vec![t("Now say hi.")]),
            a(vec![t("Hi!")])
        ]));
        assert_eq!(w.apply_management(&mut m), Reduction::Removed(4));
        assert_eq!(json_of(&m), json!([u(vec![t("Now say hi.")]), a(vec![t("Hi!")])]));
        assert_eq!(
            w.state(),
            json!({"__name__": "SlidingWindowConversationManager", "removed_message_count": 4, "model_call_count": 0})
        );
        // Within the window nothing happens.
        assert_eq!(w.apply_management(&mut m), Reduction::Unchanged);
    }

    #[test]
    fn fallback_starts_at_a_tool_pair() {
        let mut w = SlidingWindow::new(4);
        let mut m = msgs(json!([
            u(vec![t("q")]),
            a(vec![tu("a")]),
            u(vec![tr("a", "ok")]),
            a(vec![tu("b")]),
            u(vec![tr("b", "ok")]),
            a(vec![tu("c")]),
            u(vec![tr("c", "ok")])
        ]));
        assert_eq!(w.apply_management(&mut m), Reduction::Removed(3));
        assert_eq!(json_of(&m)[0], a(vec![tu("b")]));
        assert_eq!(w.removed_message_count, 3);
    }

    #[test]
    fn no_valid_start_gives_up_quietly_or_fails_on_overflow() {
        let mut w = SlidingWindow::new(2);
        let input = json!([
            u(vec![t("q")]),
            a(vec![tu("a")]),
            u(vec![tr("a", "ok")]),
            a(vec![t("x")]),
            u(vec![tr("a", "ok")])
        ]);
        let mut m = msgs(input.clone());
        assert_eq!(w.apply_management(&mut m), Reduction::Unchanged);
        assert_eq!(json_of(&m), input);
        assert_eq!(w.reduce_context(&mut m, true), Err(UnableToTrim));
        let mut short = msgs(json!([u(vec![t("q")]), a(vec![t("x")])]));
        assert_eq!(w.reduce_context(&mut short, true), Err(UnableToTrim));
        assert_eq!(UnableToTrim.to_string(), "Unable to trim conversation context!");
        assert_eq!(w.removed_message_count, 0);
    }

    #[test]
    fn window_zero_clears_everything() {
        let mut w = SlidingWindow::new(0);
        let mut m = msgs(json!([
            u(vec![t("q")]),
            a(vec![tu("a")]),
            u(vec![tr("a", &"x".repeat(500))])
        ]));
        assert_eq!(w.reduce_context(&mut m, true), Ok(Reduction::Removed(3)));
        assert!(m.is_empty());
        assert_eq!(w.removed_message_count, 3);
    }

    #[test]
    fn overflow_truncates_the_oldest_results_once_then_trims() {
        let long: String = (0..350)
            .map(|i| char::from(b'A' + (i % 26) as u8))
            .chain("é".repeat(100).chars())
            .collect();
        // Bytes 0..10 in base64.
        let png = json!({"format": "png", "source": {"bytes": {"__bytes_encoded__": true, "data": "AAECAwQFBgcICQ=="}}});
        let mut m = msgs(json!([
            u(vec![t("q")]),
            a(vec![tu("a"), tu("b")]),
            u(vec![
                tr("a", &long),
                json!({"toolResult": {"toolUseId": "b", "status": "error",
                "content": [{"image": png}, {"text": "short"}, {"json": {"k": 1}}]}})
            ]),
            a(vec![t("x")]),
            u(vec![t("q2")])
        ]));
        let mut w = SlidingWindow::default();
        assert_eq!(w.reduce_context(&mut m, true), Ok(Reduction::Truncated));
        let expected_text = format!(
            "{}...\n\n... [truncated: 50 chars removed] ...\n\n...{}",
            &long[..200],
            long.chars().skip(250).collect::<String>()
        );
        assert_eq!(
            json_of(&m)[2],
            u(vec![
                tr("a", &expected_text),
                json!({"toolResult": {"toolUseId": "b",
            "status": "error", "content": [{"text": "[image: png, 10 bytes]"}, {"text": "short"}, {"json": {"k": 1}}]}})
            ])
        );
        // Already truncated: the second overflow trims instead (start 2 -> first plain user is 4).
        assert_eq!(w.reduce_context(&mut m, true), Ok(Reduction::Removed(4)));
        assert_eq!(json_of(&m), json!([u(vec![t("q2")])]));
        // A routine trim never truncates.
        let mut w = SlidingWindow::new(3);
        let mut m = msgs(json!([
            u(vec![t("q")]),
            a(vec![tu("a")]),
            u(vec![tr("a", &long)]),
            a(vec![t("x")]),
            u(vec![t("q2")]),
            a(vec![t("r")])
        ]));
        assert_eq!(w.apply_management(&mut m), Reduction::Removed(4));
    }

    #[test]
    fn state_round_trip_and_class_check() {
        let mut w = SlidingWindow::new(4);
        w.restore(&json!({"__name__": "SlidingWindowConversationManager", "removed_message_count": 6, "model_call_count": 2}))
            .unwrap();
        assert_eq!((w.removed_message_count, w.model_call_count), (6, 2));
        w.restore(&json!({"__name__": "SlidingWindowConversationManager", "removed_message_count": 1}))
            .unwrap();
        assert_eq!((w.removed_message_count, w.model_call_count), (1, 0));
        let err =
            w.restore(&json!({"__name__": "SummarizingConversationManager", "removed_message_count": 1}));
        assert!(
            err.unwrap_err()
                .to_string()
                .starts_with("Invalid conversation manager state")
        );
        assert!(
            w.restore(&json!({"__name__": "SlidingWindowConversationManager"}))
                .is_err()
        );
        assert_eq!(w.removed_message_count, 1);
    }
}

//! `session_message`: the message model's serde form and the `message_<N>.json` file format.
//!
//! Control bytes: 0 = window size (bits 0..3) and overflow flag (bit 7) for histories.
//!
//! Properties, for the payload read as a message and as a message file:
//! - never panics;
//! - what parses survives its own serde form: serialize, parse again, the same `Message` and the
//!   same bytes;
//! - the file written for it (`pyjson` pretty layout, Python's number forms) restores to a message
//!   whose serde form equals the original's as Python reads numbers, and writing that again gives
//!   the same file;
//! - reading the text directly as a `Message` agrees with the session's reading of a file that
//!   holds it;
//! - an array of messages goes through the restore path's repair and the sliding window without
//!   panicking.

use agentcore_rt::agent::conversation::{SlidingWindow, fix_broken_tool_pairs, truncate_tool_results};
use agentcore_rt::internals::{decode_message_file, encode_message_file};
use agentcore_rt::types::Message;
use serde::Deserialize;
use serde_json::Value;

use super::common::{Input, from_text, same_json};

/// Runs every property on one input.
pub fn check(data: &[u8]) {
    let input = Input::new(data);
    let payload = input.payload;
    if let Ok(message) = decode_message_file(payload) {
        round_trip(&message);
    }
    let Ok(text) = std::str::from_utf8(payload) else {
        return;
    };
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return;
    };
    match serde_json::from_str::<Message>(text) {
        Ok(message) => {
            round_trip(&message);
            // The session reads a file as a whole, then its message: the same message.
            let record = format!(r#"{{"message_id": 0, "message": {text}, "redact_message": null}}"#);
            assert_eq!(
                decode_message_file(record.as_bytes()),
                Ok(message),
                "the session reads another message"
            );
            // serde_json's own Value deserializer is lossy for huge integers (1e39 written out
            // becomes a float), which is why nothing of ours reads a Message from a Value; it must
            // still accept the same messages.
            assert!(Message::deserialize(&value).is_ok());
        }
        Err(_) => {
            if let Ok(mut messages) = serde_json::from_str::<Vec<Message>>(text) {
                history(&mut messages, input.byte(0));
            }
        }
    }
}

fn round_trip(message: &Message) {
    let stored = serde_json::to_value(message).unwrap();
    let text = serde_json::to_string(message).unwrap();
    let again: Message = from_text(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(&again, message, "serde form does not round-trip: {text}");
    assert_eq!(serde_json::to_string(&again).unwrap(), text);

    let file = encode_message_file(message, 7, "2025-01-01T00:00:00.000000+00:00").unwrap();
    let restored = decode_message_file(file.as_bytes()).unwrap_or_else(|e| panic!("{file}: {e}"));
    let restored_stored = serde_json::to_value(&restored).unwrap();
    assert!(
        same_json(&restored_stored, &stored),
        "file restores to another message:\n{file}\n{restored_stored}"
    );
    let file_again = encode_message_file(&restored, 7, "2025-01-01T00:00:00.000000+00:00").unwrap();
    assert_eq!(file_again, file, "message file not stable");
}

/// The restore path's repair and the window over a history; bounded work for any input.
fn history(messages: &mut Vec<Message>, knob: u8) {
    if messages.len() > 64 {
        messages.truncate(64);
    }
    fix_broken_tool_pairs(messages);
    let mut window = SlidingWindow::new(usize::from(knob % 8));
    let _ = window.apply_management(messages);
    let _ = window.reduce_context(messages, knob & 0x80 != 0);
    for message in messages.iter_mut() {
        truncate_tool_results(message);
        round_trip(message);
    }
    let state = window.state();
    let mut restored = SlidingWindow::new(usize::from(knob % 8));
    restored.restore(&state).unwrap();
    assert_eq!(restored.state(), state);
}

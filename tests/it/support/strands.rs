//! Strands' recorded scenarios (`vectors/strands-openai-requests.json`) and session fixtures
//! (`fixtures/strands-sessions/`): reading them and comparing session files with them.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use agentcore_rt::types::Message;
use serde_json::{Value, json};

use super::{fixture_json, fixtures_dir};

/// `MyOutputModel.model_json_schema()` (pydantic 2.14.4) of the model scenarios C and C2 ran with:
///
/// ```python
/// class MyOutputModel(BaseModel):
///     """Answer to the user's question."""
///     answer: str = Field(description="the final answer")
///     confidence: float = Field(description="confidence between 0 and 1")
///     sources: list[str] = Field(default_factory=list, description="optional sources")
/// ```
///
/// (`default_factory` is why `sources` has no `default` and why C2's output has `"sources": []`.)
pub const MY_OUTPUT_MODEL: &str = r#"{"description": "Answer to the user's question.", "properties": {"answer": {"description": "the final answer", "title": "Answer", "type": "string"}, "confidence": {"description": "confidence between 0 and 1", "title": "Confidence", "type": "number"}, "sources": {"description": "optional sources", "items": {"type": "string"}, "title": "Sources", "type": "array"}}, "required": ["answer", "confidence"], "title": "MyOutputModel", "type": "object"}"#;

pub const SCENARIOS: [&str; 10] = ["A", "B", "C", "C2", "D", "E", "F", "G", "H", "I"];

pub fn vectors() -> &'static Value {
    static V: OnceLock<Value> = OnceLock::new();
    V.get_or_init(|| fixture_json("vectors/strands-openai-requests.json"))
}

pub fn turns(scenario: &str) -> &'static [Value] {
    vectors()["scenarios"][scenario]["turns"].as_array().unwrap()
}

pub fn session_id(scenario: &str) -> String {
    format!("scenario-{}", scenario.to_lowercase())
}

/// The recorder (`scripts/record/strands_scenarios.py`) ran scenario D with `window_size=4`,
/// every other one with 20.
pub fn window_size(scenario: &str) -> usize {
    if scenario == "D" { 4 } else { 20 }
}

pub fn fixture(scenario: &str) -> PathBuf {
    fixtures_dir()
        .join("strands-sessions")
        .join(scenario)
        .join(format!("session_{}", session_id(scenario)))
}

/// Messages as recorded, with Python's `bytes` reprs (`"b'\x89PNG...'"`, from `default=str`)
/// turned into the stored `{"__bytes_encoded__": true, "data": <base64>}` form.
pub fn recorded(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| match (k.as_str(), v) {
                    ("bytes", Value::String(s)) if s.starts_with("b'") || s.starts_with("b\"") => (
                        k.clone(),
                        json!({"__bytes_encoded__": true, "data": base64(&python_bytes_literal(s))}),
                    ),
                    _ => (k.clone(), recorded(v)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(recorded).collect()),
        other => other.clone(),
    }
}

pub fn python_bytes_literal(repr: &str) -> Vec<u8> {
    let body = &repr[2..repr.len() - 1];
    let mut out = Vec::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(u8::try_from(u32::from(c)).unwrap());
            continue;
        }
        match chars.next().unwrap() {
            'x' => {
                let hex: String = chars.by_ref().take(2).collect();
                out.push(u8::from_str_radix(&hex, 16).unwrap());
            }
            'n' => out.push(b'\n'),
            'r' => out.push(b'\r'),
            't' => out.push(b'\t'),
            other => out.push(u8::try_from(u32::from(other)).unwrap()),
        }
    }
    out
}

pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn messages_of(v: &Value) -> Vec<Message> {
    serde_json::from_value(recorded(v)).unwrap()
}

/// Serialised JSON, key order included: what equality means for Strands' files and dicts.
pub fn text_of(messages: &[Message]) -> String {
    serde_json::to_string(messages).unwrap()
}

pub fn recorded_text(v: &Value) -> String {
    serde_json::to_string(&recorded(v)).unwrap()
}

/// Relative path -> (is a directory, permission bits), for everything under `dir`.
pub fn tree(dir: &Path) -> BTreeMap<String, (bool, u32)> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, (bool, u32)>) {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let meta = fs::symlink_metadata(entry.path()).unwrap();
            let rel = entry
                .path()
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.insert(rel, (meta.is_dir(), meta.permissions().mode() & 0o777));
            if meta.is_dir() {
                walk(base, &entry.path(), out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

pub fn files(dir: &Path) -> Vec<String> {
    tree(dir)
        .into_iter()
        .filter(|(_, (is_dir, _))| !is_dir)
        .map(|(p, _)| p)
        .collect()
}

/// `datetime.now(timezone.utc).isoformat()`: `YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`.
pub fn is_python_utc_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let head = digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10) && b[10] == b'T';
    let clock = digits(11..13) && b[13] == b':' && digits(14..16) && b[16] == b':' && digits(17..19);
    let tail = match b.len() {
        25 => &s[19..] == "+00:00",
        32 => b[19] == b'.' && digits(20..26) && &s[26..] == "+00:00",
        _ => false,
    };
    b.len() >= 25 && head && clock && tail
}

/// The file with every `created_at`/`updated_at` value replaced by `<ts>` (after checking its shape).
pub fn without_timestamps(text: &str) -> String {
    let mut out = Vec::new();
    for line in text.split('\n') {
        let stamped = ["\"created_at\": \"", "\"updated_at\": \""]
            .iter()
            .find_map(|key| line.find(key).map(|i| i + key.len()));
        match stamped {
            Some(start) => {
                let end = start + line[start..].find('"').unwrap();
                assert!(
                    is_python_utc_timestamp(&line[start..end]),
                    "timestamp {:?}",
                    &line[start..end]
                );
                out.push(format!("{}<ts>{}", &line[..start], &line[end..]));
            }
            None => out.push(line.to_string()),
        }
    }
    out.join("\n")
}

pub fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

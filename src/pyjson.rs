//! JSON the way Python's `json` module writes and reports it (STUB: being implemented).
use serde_json::Value;

/// `json.dumps(v, ensure_ascii=False)`: `", "` and `": "` separators, raw UTF-8, Python floats.
pub fn to_string(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// `json.dumps(v, indent=2, ensure_ascii=False)` (TEMPORARY stub in the session branch: serde's
/// pretty printer gives the same bytes for everything the session fixtures contain).
pub fn to_string_pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

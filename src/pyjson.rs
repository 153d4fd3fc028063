//! JSON the way Python's `json` module writes and reports it (STUB: being implemented).
#![allow(missing_docs)]
use serde_json::Value;

pub fn to_string(v: &Value) -> String {
    let mut out = Vec::new();
    write(&mut out, v);
    String::from_utf8(out).unwrap_or_default()
}

pub fn to_string_compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

pub fn to_string_pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

pub fn write(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write(out, x);
            }
            out.push(b']');
        }
        Value::Object(m) => {
            out.push(b'{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                let _ = serde_json::to_writer(&mut *out, k);
                out.extend_from_slice(b": ");
                write(out, x);
            }
            out.push(b'}');
        }
        other => {
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

pub fn write_compact(out: &mut Vec<u8>, v: &Value) {
    let _ = serde_json::to_writer(out, v);
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    InvalidEncoding { details: String },
    InvalidJson { details: String },
    TooDeep { max_depth: usize },
}

pub fn parse_body(bytes: &[u8], _max_depth: usize) -> Result<Value, BodyError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| BodyError::InvalidEncoding {
        details: e.to_string(),
    })?;
    serde_json::from_str(text).map_err(|e| BodyError::InvalidJson {
        details: e.to_string(),
    })
}

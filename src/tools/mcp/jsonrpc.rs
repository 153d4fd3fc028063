//! JSON-RPC 2.0 messages as MCP uses them: building our requests, classifying what a server
//! sends, and the replies we owe to server-to-client requests we do not support.

use std::fmt;

use serde_json::{Map, Value, json};

/// Largest single message (one stdio line, one SSE event, one JSON body) we accept. Tool results
/// carry base64 images, so this is generous; it exists so a broken server cannot exhaust memory.
pub(crate) const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;

/// Deepest JSON nesting we parse. serde_json is built with `unbounded_depth`, so parsing (and
/// dropping) a hostile, deeply nested message could overflow a thread's stack without this.
const MAX_NESTING: usize = 256;

/// `-32601`: what we answer to server requests we do not implement (roots, sampling, ...).
pub(crate) const METHOD_NOT_FOUND: i64 = -32601;

/// An error object from a JSON-RPC response.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// The JSON-RPC error code.
    pub code: i64,
    /// The error message, as the server wrote it.
    pub message: String,
}

impl fmt::Display for RpcError {
    /// Only the message, as the Python SDK's `MCPError.__str__` does (Strands shows that text).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// One message from a server, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// The answer to one of our requests.
    Response {
        /// The id of our request.
        id: Value,
        /// Its `result`, or its `error`.
        outcome: Result<Value, RpcError>,
    },
    /// A server-to-client request; it must be answered.
    Request {
        /// The server's request id, to answer with.
        id: Value,
        /// What it asks for (`roots/list`, `sampling/createMessage`, ...).
        method: String,
    },
    /// A server-to-client notification.
    Notification {
        /// What it notifies (`notifications/tools/list_changed`, ...).
        method: String,
        /// Its `params` (`null` when absent).
        params: Value,
    },
}

/// Parses one wire message (a JSON object, or a batch array of them).
pub fn parse(bytes: &[u8]) -> Result<Vec<Incoming>, String> {
    // Bounded by us, not by serde's 128: that would drop legal messages (a tool result nested
    // 130 levels) and leave their call waiting for its timeout.
    let value: Value = crate::pyjson::from_slice_bounded(bytes, MAX_NESTING).map_err(|e| match e {
        crate::pyjson::BoundedError::TooDeep { .. } => {
            format!("message nested deeper than {MAX_NESTING} levels")
        }
        crate::pyjson::BoundedError::Invalid(e) => format!("not JSON: {e}"),
    })?;
    match value {
        Value::Array(items) => items.into_iter().map(classify).collect(),
        other => Ok(vec![classify(other)?]),
    }
}

/// Sorts a parsed message into response, request or notification.
fn classify(value: Value) -> Result<Incoming, String> {
    let Value::Object(mut map) = value else {
        return Err("message is not a JSON object".into());
    };
    let method = match map.remove("method") {
        Some(Value::String(m)) => Some(m),
        Some(_) => return Err("message has a non-string method".into()),
        None => None,
    };
    let id = map.remove("id").filter(|id| !id.is_null());
    match (method, id) {
        (Some(method), Some(id)) => Ok(Incoming::Request { id, method }),
        (Some(method), None) => Ok(Incoming::Notification {
            method,
            params: map.remove("params").unwrap_or(Value::Null),
        }),
        (None, Some(id)) => {
            let outcome = match (map.remove("result"), map.remove("error")) {
                (_, Some(error)) => Err(rpc_error(&error)),
                (Some(result), None) => Ok(result),
                (None, None) => return Err("response has neither result nor error".into()),
            };
            Ok(Incoming::Response { id, outcome })
        }
        // An error without an id (e.g. a server's parse-error reply): nothing to route it to.
        (None, None) => match map.get("error") {
            Some(error) => Err(format!("server reported an error: {}", rpc_error(error).message)),
            None => Err("message has neither method nor id".into()),
        },
    }
}

fn rpc_error(error: &Value) -> RpcError {
    let code = error.get("code").and_then(Value::as_i64).unwrap_or(0);
    let message = match error.get("message") {
        Some(Value::String(m)) => m.clone(),
        Some(other) => other.to_string(),
        None => error.to_string(),
    };
    RpcError { code, message }
}

/// Our request ids are integers; a server echoes them back, possibly as another number literal.
pub fn id_as_u64(id: &Value) -> Option<u64> {
    id.as_u64().or_else(|| {
        id.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0)
            .map(|f| f as u64)
    })
}

/// `{"jsonrpc": "2.0", "id": id, "method": method, "params": params}`.
pub(crate) fn request(id: u64, method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
}

/// A notification (no id); `params` is left out when `None`.
pub(crate) fn notification(method: &str, params: Option<Value>) -> Value {
    let mut map = Map::new();
    map.insert("jsonrpc".into(), Value::String("2.0".into()));
    map.insert("method".into(), Value::String(method.into()));
    if let Some(params) = params {
        map.insert("params".into(), params);
    }
    Value::Object(map)
}

/// The reply to a server-to-client request: `ping` gets `{}` (the spec requires an answer),
/// everything else (roots/list, sampling/createMessage, elicitation/create, ...) is refused so
/// the server does not wait for us forever.
pub fn answer_server_request(id: Value, method: &str) -> Value {
    if method == "ping" {
        json!({ "jsonrpc": "2.0", "id": id, "result": {} })
    } else {
        json!({ "jsonrpc": "2.0", "id": id, "error": { "code": METHOD_NOT_FOUND, "message": "Method not found" } })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_all_three_kinds() {
        let got = parse(br#"{"jsonrpc":"2.0","id":3,"result":{"tools":[]}}"#).unwrap();
        assert_eq!(
            got,
            vec![Incoming::Response {
                id: json!(3),
                outcome: Ok(json!({"tools": []}))
            }]
        );
        let got = parse(br#"{"jsonrpc":"2.0","id":4,"error":{"code":-32602,"message":"Unknown tool: x"}}"#)
            .unwrap();
        assert_eq!(
            got,
            vec![Incoming::Response {
                id: json!(4),
                outcome: Err(RpcError {
                    code: -32602,
                    message: "Unknown tool: x".into()
                })
            }]
        );
        let got = parse(br#"{"method":"notifications/tools/list_changed","jsonrpc":"2.0"}"#).unwrap();
        assert_eq!(
            got,
            vec![Incoming::Notification {
                method: "notifications/tools/list_changed".into(),
                params: Value::Null
            }]
        );
        let got = parse(br#"{"jsonrpc":"2.0","id":"s1","method":"ping"}"#).unwrap();
        assert_eq!(
            got,
            vec![Incoming::Request {
                id: json!("s1"),
                method: "ping".into()
            }]
        );
    }

    #[test]
    fn rejects_garbage_and_deep_nesting() {
        assert!(parse(b"Server started on stdio").is_err());
        assert!(parse(b"42").is_err());
        assert!(parse(br#"{"jsonrpc":"2.0"}"#).is_err());
        let deep = "[".repeat(100_000);
        assert!(parse(deep.as_bytes()).unwrap_err().contains("nested deeper"));
        // Brackets inside strings do not count.
        let ok = format!(
            r#"{{"jsonrpc":"2.0","method":"m","params":{{"s":"{}"}}}}"#,
            "[".repeat(1000)
        );
        assert!(parse(ok.as_bytes()).is_ok());
        // Up to MAX_NESTING is accepted, past serde's own default limit of 128.
        let deep = format!(
            r#"{{"jsonrpc":"2.0","id":1,"result":{{"structuredContent":{}1{}}}}}"#,
            "[".repeat(MAX_NESTING - 2),
            "]".repeat(MAX_NESTING - 2)
        );
        assert!(matches!(
            &parse(deep.as_bytes()).unwrap()[..],
            [Incoming::Response { .. }]
        ));
        let too_deep = deep.replacen('[', "[[", 1).replacen(']', "]]", 1);
        assert!(parse(too_deep.as_bytes()).unwrap_err().contains("nested deeper"));
        assert!(parse(b"{} x").unwrap_err().starts_with("not JSON"));
    }

    #[test]
    fn ids_compare_numerically() {
        assert_eq!(id_as_u64(&serde_json::from_str("7").unwrap()), Some(7));
        assert_eq!(id_as_u64(&serde_json::from_str("7.0").unwrap()), Some(7));
        assert_eq!(id_as_u64(&json!("7")), None);
    }

    #[test]
    fn server_requests_get_answers() {
        assert_eq!(
            answer_server_request(json!(1), "ping"),
            json!({"jsonrpc":"2.0","id":1,"result":{}})
        );
        assert_eq!(
            answer_server_request(json!(2), "roots/list"),
            json!({"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"Method not found"}})
        );
    }
}

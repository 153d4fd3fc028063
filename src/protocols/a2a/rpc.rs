//! JSON-RPC 2.0 framing for A2A: the request envelope, the answer, and A2A's error codes.

use serde_json::{Map, Value, json};

/// The body is not JSON.
pub const PARSE_ERROR: i64 = -32700;
/// Not a JSON-RPC 2.0 request object (a batch, no `method`, a bad `id`).
pub const INVALID_REQUEST: i64 = -32600;
/// No such method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// The method's params are not what it takes.
pub const INVALID_PARAMS: i64 = -32602;
/// The server failed.
pub const INTERNAL_ERROR: i64 = -32603;
/// `TaskNotFoundError`: no task with this id (never existed, or evicted).
pub const TASK_NOT_FOUND: i64 = -32001;
/// `TaskNotCancelableError`: the task has already finished.
pub const TASK_NOT_CANCELABLE: i64 = -32002;
/// `PushNotificationNotSupportedError`.
pub const PUSH_NOTIFICATION_NOT_SUPPORTED: i64 = -32003;
/// `UnsupportedOperationError`.
pub const UNSUPPORTED_OPERATION: i64 = -32004;
/// `ContentTypeNotSupportedError`: a part or an accepted output mode we cannot serve.
pub const CONTENT_TYPE_NOT_SUPPORTED: i64 = -32005;
/// `ExtendedAgentCardNotConfiguredError`.
pub const EXTENDED_CARD_NOT_CONFIGURED: i64 = -32007;
/// `VersionNotSupportedError`: the client speaks another protocol version.
pub const VERSION_NOT_SUPPORTED: i64 = -32009;

/// A JSON-RPC error to answer with.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// One of the codes above.
    pub code: i64,
    /// What is wrong, for a person.
    pub message: String,
}

impl RpcError {
    /// An error with `code` and `message`.
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
        }
    }

    /// `-32602` with `message`.
    pub fn params(message: impl Into<String>) -> RpcError {
        RpcError::new(INVALID_PARAMS, message)
    }

    /// The whole JSON-RPC answer carrying this error.
    pub fn answer(&self, id: &Value) -> Value {
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": self.code, "message": self.message}})
    }
}

/// A JSON-RPC success answer.
pub fn result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// One request, its envelope checked.
#[derive(Debug)]
pub struct Call {
    /// The request's id (a string or a number), echoed in the answer.
    pub id: Value,
    /// The method name.
    pub method: String,
    /// The params object (`{}` when absent).
    pub params: Map<String, Value>,
}

/// Checks the envelope of a parsed body. The error carries the id to answer with (`null`
/// when the request's own id could not be read).
pub fn parse_call(body: Value) -> Result<Call, (Value, RpcError)> {
    let mut fields = match body {
        Value::Object(fields) => fields,
        // The SDKs send one request per POST; a batch (of any size) gets one small answer.
        Value::Array(_) => {
            return Err((
                Value::Null,
                RpcError::new(INVALID_REQUEST, "batch requests are not supported"),
            ));
        }
        _ => {
            return Err((
                Value::Null,
                RpcError::new(INVALID_REQUEST, "the request must be a JSON-RPC 2.0 object"),
            ));
        }
    };
    let id = match fields.remove("id") {
        Some(id @ (Value::String(_) | Value::Number(_))) => id,
        Some(Value::Null) | None => {
            return Err((
                Value::Null,
                RpcError::new(INVALID_REQUEST, "id is required (a string or a number)"),
            ));
        }
        Some(_) => {
            return Err((
                Value::Null,
                RpcError::new(INVALID_REQUEST, "id must be a string or a number"),
            ));
        }
    };
    if fields.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err((id, RpcError::new(INVALID_REQUEST, r#"jsonrpc must be "2.0""#)));
    }
    let method = match fields.remove("method") {
        Some(Value::String(m)) => m,
        _ => return Err((id, RpcError::new(INVALID_REQUEST, "method must be a string"))),
    };
    let params = match fields.remove("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p,
        Some(_) => return Err((id, RpcError::params("params must be an object"))),
    };
    Ok(Call { id, method, params })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: Value) -> (Value, i64) {
        let (id, e) = parse_call(body).unwrap_err();
        (id, e.code)
    }

    #[test]
    fn envelopes() {
        let call = parse_call(json!({"jsonrpc": "2.0", "id": 7, "method": "GetTask", "params": {"id": "t"}}))
            .unwrap();
        assert_eq!((call.id, call.method.as_str()), (json!(7), "GetTask"));
        assert_eq!(call.params.get("id"), Some(&json!("t")));
        let call = parse_call(json!({"jsonrpc": "2.0", "id": "a", "method": "X"})).unwrap();
        assert!(call.params.is_empty());
        assert_eq!(code(json!([1, 2, 3])), (Value::Null, INVALID_REQUEST));
        assert_eq!(code(json!("x")), (Value::Null, INVALID_REQUEST));
        assert_eq!(
            code(json!({"jsonrpc": "2.0", "method": "X"})),
            (Value::Null, INVALID_REQUEST)
        );
        assert_eq!(
            code(json!({"jsonrpc": "2.0", "id": {}, "method": "X"})),
            (Value::Null, INVALID_REQUEST)
        );
        assert_eq!(
            code(json!({"jsonrpc": "1.0", "id": 1, "method": "X"})),
            (json!(1), INVALID_REQUEST)
        );
        assert_eq!(
            code(json!({"jsonrpc": "2.0", "id": 1, "method": 5})),
            (json!(1), INVALID_REQUEST)
        );
        assert_eq!(
            code(json!({"jsonrpc": "2.0", "id": 1, "method": "X", "params": [1]})),
            (json!(1), INVALID_PARAMS)
        );
        let answer = RpcError::new(TASK_NOT_FOUND, "no").answer(&json!("r"));
        assert_eq!(
            answer,
            json!({"jsonrpc": "2.0", "id": "r", "error": {"code": -32001, "message": "no"}})
        );
    }
}

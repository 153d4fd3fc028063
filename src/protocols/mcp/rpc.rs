//! JSON-RPC 2.0 framing for the server side: classifying what a client sent, and the
//! messages we answer with.

use serde_json::{Map, Value, json};

/// Invalid JSON was received.
pub const PARSE_ERROR: i64 = -32700;
/// The JSON sent is not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;
/// The method does not exist (or is not offered).
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid method parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// Internal JSON-RPC error.
pub const INTERNAL_ERROR: i64 = -32603;

/// One message from the client.
#[derive(Debug)]
pub(super) enum Incoming {
    /// A request: it gets a response with its id.
    Request {
        id: Value,
        method: String,
        params: Option<Map<String, Value>>,
    },
    /// A notification (no id): accepted, nothing answered.
    Notification,
    /// A response to a request of ours (we send none while stateless): accepted and dropped.
    Response,
}

/// Why a message is not one: the `-32600`/`-32602` error to answer, with the id when it had a
/// usable one.
#[derive(Debug)]
pub(super) struct Invalid {
    pub(super) id: Value,
    pub(super) code: i64,
    pub(super) message: String,
}

/// Classifies one JSON value.
pub(super) fn classify(value: Value) -> Result<Incoming, Invalid> {
    let invalid = |id: Value, message: &str| Invalid {
        id,
        code: INVALID_REQUEST,
        message: message.to_string(),
    };
    let Value::Object(mut fields) = value else {
        return Err(invalid(
            Value::Null,
            "Invalid Request: a message must be a JSON object",
        ));
    };
    let id = fields.remove("id");
    // MCP ids are strings or integers, never null (JSON-RPC allows null; MCP does not).
    let usable_id = match &id {
        Some(v @ Value::String(_)) => Some(v.clone()),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Some(Value::Number(n.clone())),
        _ => None,
    };
    let echo = usable_id.clone().unwrap_or(Value::Null);
    if fields.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid(echo, "Invalid Request: \"jsonrpc\" must be \"2.0\""));
    }
    match fields.remove("method") {
        Some(Value::String(method)) => {
            let params = match fields.remove("params") {
                None | Some(Value::Null) => None,
                Some(Value::Object(params)) => Some(params),
                Some(_) => {
                    return Err(Invalid {
                        id: echo,
                        code: INVALID_PARAMS,
                        message: "Invalid params: \"params\" must be an object".into(),
                    });
                }
            };
            match (id, usable_id) {
                (None, _) => Ok(Incoming::Notification),
                (Some(_), Some(id)) => Ok(Incoming::Request { id, method, params }),
                (Some(_), None) => Err(invalid(
                    Value::Null,
                    "Invalid Request: \"id\" must be a string or an integer",
                )),
            }
        }
        Some(_) => Err(invalid(echo, "Invalid Request: \"method\" must be a string")),
        None if usable_id.is_some() && (fields.contains_key("result") || fields.contains_key("error")) => {
            Ok(Incoming::Response)
        }
        None => Err(invalid(echo, "Invalid Request: no \"method\"")),
    }
}

/// A success response.
pub(super) fn result(id: Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// An error response; `data` when there is more to say.
pub(super) fn error(id: Value, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut error = json!({"code": code, "message": message});
    if let Some(data) = data {
        error["data"] = data;
    }
    json!({"jsonrpc": "2.0", "id": id, "error": error})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(value: Value) -> i64 {
        classify(value).unwrap_err().code
    }

    #[test]
    fn requests_notifications_and_responses() {
        let r = classify(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})).unwrap();
        assert!(matches!(r, Incoming::Request { ref method, params: None, .. } if method == "ping"));
        let r = classify(json!({"jsonrpc": "2.0", "id": "a", "method": "m", "params": {"x": 1}})).unwrap();
        assert!(matches!(
            r,
            Incoming::Request {
                id: Value::String(_),
                params: Some(_),
                ..
            }
        ));
        assert!(matches!(
            classify(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).unwrap(),
            Incoming::Notification
        ));
        assert!(matches!(
            classify(json!({"jsonrpc": "2.0", "id": 3, "result": {}})).unwrap(),
            Incoming::Response
        ));
    }

    #[test]
    fn what_is_not_a_message() {
        assert_eq!(code(json!([1])), INVALID_REQUEST);
        assert_eq!(code(json!("ping")), INVALID_REQUEST);
        assert_eq!(code(json!({"id": 1, "method": "ping"})), INVALID_REQUEST);
        assert_eq!(
            code(json!({"jsonrpc": "1.0", "id": 1, "method": "ping"})),
            INVALID_REQUEST
        );
        assert_eq!(
            code(json!({"jsonrpc": "2.0", "id": null, "method": "ping"})),
            INVALID_REQUEST
        );
        assert_eq!(
            code(json!({"jsonrpc": "2.0", "id": 1.5, "method": "ping"})),
            INVALID_REQUEST
        );
        assert_eq!(
            code(json!({"jsonrpc": "2.0", "id": 1, "method": 7})),
            INVALID_REQUEST
        );
        assert_eq!(code(json!({"jsonrpc": "2.0", "id": 1})), INVALID_REQUEST);
        assert_eq!(
            code(json!({"jsonrpc": "2.0", "id": 1, "method": "m", "params": [1]})),
            INVALID_PARAMS
        );
        let bad = classify(json!({"jsonrpc": "2.0", "id": 9, "method": 7})).unwrap_err();
        assert_eq!(bad.id, json!(9), "a usable id is echoed");
    }
}

//! What an entrypoint returns: [`Output`], [`Response`], and [`IntoOutput`], which turns a
//! handler's result into one.

use std::any::Any;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use super::EventSink;
use crate::error::Error;

/// What an entrypoint produces; the HTTP layer writes it.
///
/// Handlers rarely build one by hand: any [`IntoOutput`] type will do. `Output` itself is what a
/// handler returns when it decides per request between JSON, a raw response and a stream.
///
/// ```
/// use agentcore_rt::app::{Output, Response};
/// use serde_json::json;
///
/// fn answer(kind: &str) -> Output {
///     match kind {
///         "stream" => Output::stream(|sink| {
///             sink.send(&json!({"chunk": 1}))?;
///             Ok(())
///         }),
///         "text" => Response::text(200, "plain").into(),
///         _ => json!({"done": true}).into(),
///     }
/// }
/// # let _ = answer("stream");
/// ```
pub enum Output {
    /// A JSON result: 200 `application/json`, written as Python's `json.dumps` writes it.
    Json(Value),
    /// A response passed through untouched (Python: returning a Starlette `Response`).
    Response(Response),
    /// A Server-Sent Events stream: the closure runs on the worker thread after the response
    /// head is sent, and each event it sends becomes one `data: <json>\n\n` chunk. An `Err`
    /// ends the stream with the SDK's error event ([`Error::sse_event`]); the status stays 200.
    Stream(StreamFn),
}

/// The body of a streaming response.
pub type StreamFn = Box<dyn FnOnce(&mut EventSink<'_>) -> Result<(), Error> + Send>;

impl Output {
    /// A streaming output (Python: returning a generator). `f` runs once the 200 head is sent;
    /// each [`EventSink::send`] is one SSE event, and `?` ends the stream with the SDK's error
    /// event.
    ///
    /// ```
    /// use agentcore_rt::app::Output;
    ///
    /// let words = vec!["a", "b"];
    /// let output = Output::stream(move |sink| {
    ///     for word in &words {
    ///         sink.send(word)?;
    ///     }
    ///     Ok(())
    /// });
    /// # let _ = output;
    /// ```
    pub fn stream(f: impl FnOnce(&mut EventSink<'_>) -> Result<(), Error> + Send + 'static) -> Output {
        Output::Stream(Box::new(f))
    }
}

impl From<Value> for Output {
    fn from(v: Value) -> Output {
        Output::Json(v)
    }
}

impl From<Response> for Output {
    fn from(r: Response) -> Output {
        Output::Response(r)
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Json(v) => f.debug_tuple("Json").field(v).finish(),
            Output::Response(r) => f.debug_tuple("Response").field(r).finish(),
            Output::Stream(_) => f.write_str("Stream(..)"),
        }
    }
}

/// A result an entrypoint may return (the `O` in `Result<O, E>`):
///
/// - any [`Serialize`] type, `serde_json::Value` included: 200 `application/json`, written as
///   Python's `json.dumps` writes a handler's result (`", "`/`": "` separators, raw UTF-8,
///   Python floats). A `String` is a JSON string, `()` and `None` are `null`, as in Python.
/// - a [`Response`]: its own status, headers and body (Python: a Starlette `Response`);
/// - an [`Output`], e.g. [`Output::stream`] for Server-Sent Events.
///
/// A value serde cannot turn into JSON (a map with non-string keys, a failing `Serialize`
/// impl) is a 500 `{"error": "cannot serialize the result: ..."}`.
///
/// ```
/// use agentcore_rt::app::{IntoOutput, Output};
/// use serde::Serialize;
///
/// #[derive(Serialize)]
/// struct Answer { text: &'static str, score: f64 }
///
/// let output = Answer { text: "hi", score: 1.0 }.into_output()?;
/// assert!(matches!(output, Output::Json(ref v) if v["score"] == 1.0));
/// # Ok::<_, agentcore_rt::Error>(())
/// ```
pub trait IntoOutput {
    /// Converts the result; `Err` is answered like a handler error.
    fn into_output(self) -> Result<Output, Error>;
}

impl IntoOutput for Output {
    fn into_output(self) -> Result<Output, Error> {
        Ok(self)
    }
}

impl IntoOutput for Response {
    fn into_output(self) -> Result<Output, Error> {
        Ok(Output::Response(self))
    }
}

impl<T: Serialize + 'static> IntoOutput for T {
    fn into_output(self) -> Result<Output, Error> {
        let mut slot = Some(self);
        if let Some(value) = take_as::<Value>(&mut slot) {
            return Ok(Output::Json(value));
        }
        let value = slot.map(serde_json::to_value).transpose().map_err(|e| {
            Error::new(format!("cannot serialize the result: {e}"))
                .with_type("TypeError")
                .with_source(e)
        })?;
        Ok(Output::Json(value.unwrap_or_default()))
    }
}

/// Takes the value out of `slot` (an `Option<T>`) when `T` is `U`, and leaves it there otherwise.
/// Lets a `Value` pass through as it is where serde would rebuild it node by node.
pub(super) fn take_as<U: 'static>(slot: &mut dyn Any) -> Option<U> {
    slot.downcast_mut::<Option<U>>().and_then(Option::take)
}

/// A complete HTTP response with its own status, headers and body.
///
/// ```
/// use agentcore_rt::app::Response;
/// use serde_json::json;
///
/// let r = Response::json(404, &json!({"custom": true})).with_header("X-Custom", "1");
/// assert_eq!((r.status, r.body.as_slice()), (404, br#"{"custom":true}"#.as_slice()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Extra headers (`content-length` is always computed by the server; hop-by-hop headers
    /// such as `connection` or `transfer-encoding` given here are ignored).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// A compact JSON response (Starlette `JSONResponse` style).
    pub fn json(status: u16, value: &Value) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: crate::pyjson::to_string_compact(value).into_bytes(),
        }
    }

    /// A `text/plain; charset=utf-8` response.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: body.into().into_bytes(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn json_of(output: Result<Output, Error>) -> Value {
        match output {
            Ok(Output::Json(v)) => v,
            other => panic!("not JSON: {other:?}"),
        }
    }

    #[test]
    fn serializable_results_are_json_values() {
        let v = json!({"b": 1, "a": [1.5, "x", null]});
        assert_eq!(json_of(v.clone().into_output()), v);
        assert_eq!(
            json_of("hello string".to_string().into_output()),
            json!("hello string")
        );
        assert_eq!(json_of(().into_output()), Value::Null);
        assert_eq!(
            json_of(BTreeMap::from([(1, true)]).into_output()),
            json!({"1": true})
        );
        let bad = BTreeMap::from([((1, 2), true)]).into_output().unwrap_err();
        assert_eq!(bad.status(), 500);
        assert!(
            bad.message().starts_with("cannot serialize the result: "),
            "{bad}"
        );
        assert!(std::error::Error::source(&bad).is_some());
    }

    #[test]
    fn responses_and_outputs_pass_through() {
        let r = Response::text(201, "plain text");
        assert!(matches!(r.clone().into_output(), Ok(Output::Response(got)) if got == r));
        assert!(matches!(
            Output::stream(|_| Ok(())).into_output(),
            Ok(Output::Stream(_))
        ));
    }
}

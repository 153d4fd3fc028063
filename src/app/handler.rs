//! What handlers return and the channels they stream through.
//!
//! Handlers run on worker threads and may block. A streaming handler writes events to an
//! [`EventSink`]; a websocket handler reads and writes through a [`WebSocket`]. Both are backed
//! by the HTTP layer (SSE chunks, WebSocket frames), which this module knows nothing about.

use std::fmt;

use serde_json::Value;

use crate::error::Error;
use crate::types::CancelToken;

/// What an entrypoint produces.
pub enum Output {
    /// A JSON result: 200 `application/json`, written as Python's `json.dumps` writes it.
    Json(Value),
    /// A response passed through untouched (Python: returning a Starlette `Response`).
    Response(Response),
    /// A Server-Sent Events stream: the closure runs on the worker thread after the response
    /// head is sent, and each event it sends becomes one `data: <json>\n\n` chunk. An `Err`
    /// ends the stream with the SDK's error event; the status stays 200.
    Stream(StreamFn),
}

/// The body of a streaming response.
pub type StreamFn = Box<dyn FnOnce(&mut EventSink<'_>) -> Result<(), Error> + Send>;

impl Output {
    /// A streaming output.
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

/// A complete HTTP response with its own status, headers and body.
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

/// The client went away (or the server is shutting down); stop producing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnected;

impl fmt::Display for Disconnected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("client disconnected")
    }
}

impl std::error::Error for Disconnected {}

impl From<Disconnected> for Error {
    fn from(_: Disconnected) -> Error {
        Error::new("client disconnected").with_type("Disconnected")
    }
}

/// Where a stream's serialized JSON events go (implemented by the HTTP layer: SSE or WebSocket).
pub trait EventTransport: Send {
    /// Delivers one event, already serialized as JSON text. Blocks while the client is slow
    /// (bounded buffering); fails once the client is gone.
    fn send_json(&mut self, json: Vec<u8>) -> Result<(), Disconnected>;
}

/// A stream of JSON events to one client.
pub struct EventSink<'a> {
    transport: &'a mut dyn EventTransport,
    cancel: CancelToken,
}

impl<'a> EventSink<'a> {
    /// A sink over `transport`; `cancel` fires when sending fails (the client is gone).
    pub fn new(transport: &'a mut dyn EventTransport, cancel: CancelToken) -> EventSink<'a> {
        EventSink { transport, cancel }
    }

    /// Sends one event, serialized as Python's `json.dumps` would (`", "`/`": "`, raw UTF-8).
    pub fn send(&mut self, event: &Value) -> Result<(), Disconnected> {
        if self.is_closed() {
            return Err(Disconnected);
        }
        let mut buf = Vec::with_capacity(128);
        crate::pyjson::write(&mut buf, event);
        self.send_serialized(buf)
    }

    /// Sends an event that is already JSON text.
    pub fn send_serialized(&mut self, json: Vec<u8>) -> Result<(), Disconnected> {
        let sent = self.transport.send_json(json);
        if sent.is_err() {
            self.cancel.cancel();
        }
        sent
    }

    /// True once the client is gone.
    pub fn is_closed(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// A WebSocket message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMessage {
    /// A text frame (valid UTF-8).
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
}

/// Why a WebSocket operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsError {
    /// The connection is closed (by the client, a protocol error or shutdown).
    Closed {
        /// Close code, when one was received.
        code: Option<u16>,
    },
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsError::Closed { code: Some(c) } => write!(f, "websocket closed ({c})"),
            WsError::Closed { code: None } => f.write_str("websocket closed"),
        }
    }
}

impl std::error::Error for WsError {}

/// The server side of one WebSocket connection, as the HTTP layer provides it.
pub trait WsTransport: Send {
    /// Waits for the next message; `Ok(None)` when the client closed normally.
    fn recv(&mut self) -> Result<Option<WsMessage>, WsError>;
    /// Sends a message (blocks while the client is slow, bounded).
    fn send(&mut self, message: WsMessage) -> Result<(), WsError>;
    /// Sends a close frame with `code` and `reason`; later sends fail.
    fn close(&mut self, code: u16, reason: &str) -> Result<(), WsError>;
}

/// The WebSocket a handler talks through. The connection is already accepted (101 sent) when
/// the handler runs; returning `Ok` closes it with 1000 (unless the handler closed it), an
/// `Err` with 1011, as the Python SDK does.
pub struct WebSocket<'a> {
    transport: &'a mut dyn WsTransport,
}

impl<'a> WebSocket<'a> {
    /// Wraps a transport.
    pub fn new(transport: &'a mut dyn WsTransport) -> WebSocket<'a> {
        WebSocket { transport }
    }

    /// Next message; `Ok(None)` once the client has closed.
    pub fn recv(&mut self) -> Result<Option<WsMessage>, WsError> {
        self.transport.recv()
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: impl Into<String>) -> Result<(), WsError> {
        self.transport.send(WsMessage::Text(text.into()))
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, data: Vec<u8>) -> Result<(), WsError> {
        self.transport.send(WsMessage::Binary(data))
    }

    /// Sends `value` as a compact JSON text message (Starlette's `send_json` style).
    pub fn send_json(&mut self, value: &Value) -> Result<(), WsError> {
        self.send_text(crate::pyjson::to_string_compact(value))
    }

    /// Closes the connection with `code` and `reason`.
    pub fn close(&mut self, code: u16, reason: &str) -> Result<(), WsError> {
        self.transport.close(code, reason)
    }
}

/// A WebSocket-backed event transport: each event is one text message (the agent's `/ws`).
pub struct WsEvents<'w, 'a>(pub &'w mut WebSocket<'a>);

impl EventTransport for WsEvents<'_, '_> {
    fn send_json(&mut self, json: Vec<u8>) -> Result<(), Disconnected> {
        let text = String::from_utf8(json).map_err(|_| Disconnected)?;
        self.0.send_text(text).map_err(|_| Disconnected)
    }
}

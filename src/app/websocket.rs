//! The `/ws` side of the contract: the [`WebSocket`] a handler talks through, over a
//! [`WsTransport`] the HTTP layer provides.

use std::fmt;

use serde_json::Value;

use super::{Disconnected, EventTransport};
use crate::error::Error;

/// A WebSocket message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMessage {
    /// A text frame (valid UTF-8).
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
}

/// Why a WebSocket operation failed.
///
/// `?` turns it into a 500 [`Error`] typed `WebSocketDisconnect` (Starlette's name), with the
/// close text as message and this as its source; the handler's `Err` then closes with 1011.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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

impl From<WsError> for Error {
    fn from(e: WsError) -> Error {
        Error::new(e.to_string())
            .with_type("WebSocketDisconnect")
            .with_source(e)
    }
}

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
///
/// ```no_run
/// use agentcore_rt::App;
/// use agentcore_rt::app::WsMessage;
///
/// let mut app = App::new();
/// app.websocket(|ws, _ctx| {
///     while let Some(message) = ws.recv()? {
///         if let WsMessage::Text(text) = message {
///             ws.send_text(text)?; // echo
///         }
///     }
///     Ok(()) // the client closed
/// });
/// ```
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

/// A WebSocket-backed event transport: each event is one text message (the agent's `/ws`
/// streams its events through an [`EventSink`](super::EventSink) over one).
pub struct WsEvents<'w, 'a>(pub &'w mut WebSocket<'a>);

impl EventTransport for WsEvents<'_, '_> {
    fn send_json(&mut self, json: Vec<u8>) -> Result<(), Disconnected> {
        let text = String::from_utf8(json).map_err(|_| Disconnected)?;
        self.0.send_text(text).map_err(|_| Disconnected)
    }
}

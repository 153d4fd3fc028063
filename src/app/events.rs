//! Streaming to one client: the [`EventSink`] a streaming handler writes to, over an
//! [`EventTransport`] the HTTP layer provides (SSE chunks, or WebSocket messages on `/ws`).

use std::fmt;

use serde::Serialize;

use crate::error::Error;
use crate::types::CancelToken;

/// The client went away (or the server is shutting down); stop producing.
///
/// `?` turns it into an [`Error`] typed `Disconnected`, with this as its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnected;

impl fmt::Display for Disconnected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("client disconnected")
    }
}

impl std::error::Error for Disconnected {}

impl From<Disconnected> for Error {
    fn from(e: Disconnected) -> Error {
        Error::new(e.to_string()).with_type("Disconnected").with_source(e)
    }
}

/// Where a stream's serialized JSON events go (implemented by the HTTP layer: SSE or WebSocket).
pub trait EventTransport: Send {
    /// Delivers one event, already serialized as JSON text. Blocks while the client is slow
    /// (bounded buffering); fails once the client is gone.
    fn send_json(&mut self, json: Vec<u8>) -> Result<(), Disconnected>;
}

/// A stream of JSON events to one client, handed to an [`Output::stream`](super::Output::stream)
/// closure.
///
/// ```
/// use agentcore_rt::app::Output;
/// use serde::Serialize;
///
/// #[derive(Serialize)]
/// struct Progress { done: u32, of: u32 }
///
/// let output = Output::stream(|sink| {
///     for done in 1..=3 {
///         if sink.is_closed() {
///             break; // the client left: stop working
///         }
///         sink.send(&Progress { done, of: 3 })?; // data: {"done": 1, "of": 3}
///     }
///     Ok(())
/// });
/// # let _ = output;
/// ```
pub struct EventSink<'a> {
    transport: &'a mut dyn EventTransport,
    cancel: CancelToken,
}

impl<'a> EventSink<'a> {
    /// A sink over `transport`; `cancel` fires when sending fails (the client is gone).
    pub fn new(transport: &'a mut dyn EventTransport, cancel: CancelToken) -> EventSink<'a> {
        EventSink { transport, cancel }
    }

    /// Sends one event, serialized as Python's `json.dumps` would (`", "`/`": "`, raw UTF-8,
    /// Python floats): a `serde_json::Value` or anything else serde can write as JSON.
    ///
    /// Fails with an error typed `Disconnected` once the client is gone (then
    /// [`is_closed`](EventSink::is_closed) is true), or with a 500 when `event` cannot be
    /// written as JSON (a map with non-string keys).
    pub fn send(&mut self, event: &(impl Serialize + ?Sized)) -> Result<(), Error> {
        if self.is_closed() {
            return Err(Disconnected.into());
        }
        let value = serde_json::to_value(event).map_err(|e| {
            Error::new(format!("cannot serialize the event: {e}"))
                .with_type("TypeError")
                .with_source(e)
        })?;
        let mut buf = Vec::with_capacity(128);
        crate::pyjson::write(&mut buf, &value);
        Ok(self.send_serialized(buf)?)
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    struct Collect(Vec<Vec<u8>>, bool);

    impl EventTransport for Collect {
        fn send_json(&mut self, json: Vec<u8>) -> Result<(), Disconnected> {
            if self.1 {
                return Err(Disconnected);
            }
            self.0.push(json);
            Ok(())
        }
    }

    #[test]
    fn values_and_structs_are_written_as_json_dumps() {
        #[derive(Serialize)]
        struct Event<'a> {
            text: &'a str,
            n: f64,
        }
        let mut out = Collect(Vec::new(), false);
        let mut sink = EventSink::new(&mut out, CancelToken::new());
        sink.send(&json!({"text": "é", "n": 1.0})).unwrap();
        sink.send(&Event { text: "é", n: 1.0 }).unwrap();
        sink.send("two").unwrap();
        assert_eq!(out.0[0], "{\"text\": \"é\", \"n\": 1.0}".as_bytes());
        assert_eq!(out.0[0], out.0[1]);
        assert_eq!(out.0[2], b"\"two\"");
    }

    #[test]
    fn a_gone_client_cancels_and_reports_disconnected() {
        let mut out = Collect(Vec::new(), true);
        let cancel = CancelToken::new();
        let mut sink = EventSink::new(&mut out, cancel.clone());
        let e = sink.send(&1).unwrap_err();
        assert_eq!(e.error_type(), "Disconnected");
        assert!(cancel.is_cancelled() && sink.is_closed());
        assert_eq!(sink.send(&2).unwrap_err().error_type(), "Disconnected");
    }
}

//! Request bodies: reading them as the head frames them (Content-Length or chunked), bounded
//! in bytes and time, with `100 Continue` when asked; and the answers when that fails.
//!
//! A body is always consumed or the connection closed, so body bytes are never parsed as the
//! next request.

use super::io::{Wire, is_timeout};
use super::parse::{BodyFraming, ChunkError, ChunkedDecoder, Head};
use crate::error::Error;

const READ_CHUNK: usize = 64 * 1024;
const INCOMPLETE_BODY: &str = "request body incomplete: the client closed the connection";

/// The bounds a body is read within.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimits {
    /// Largest body accepted (MAX_BODY_BYTES).
    pub(crate) max_bytes: usize,
    /// Longest wait for the next bytes of a body.
    pub(crate) timeout: std::time::Duration,
}

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    TooLarge,
    Malformed(&'static str),
    Timeout,
    /// The client closed (or half-closed) its side before the whole body arrived.
    Incomplete,
    /// The socket failed: nothing can be answered.
    Io,
}

impl BodyError {
    /// The answer when the body was for a handler (`limit`: MAX_BODY_BYTES); `None` when the
    /// socket is gone.
    pub(crate) fn answer(self, limit: usize) -> Option<Error> {
        Some(match self {
            BodyError::TooLarge => Error::http(413, "Content Too Large")
                .with_details(format!("request body exceeds {limit} bytes (MAX_BODY_BYTES)")),
            BodyError::Malformed(why) => Error::bad_request("Bad Request").with_details(why),
            BodyError::Timeout => {
                Error::http(408, "Request Timeout").with_details("request body not received in time")
            }
            BodyError::Incomplete => Error::bad_request("Bad Request").with_details(INCOMPLETE_BODY),
            BodyError::Io => return None,
        })
    }

    /// The answer when the body was only read to be dropped (no details on size and time).
    pub(crate) fn answer_unused(self) -> Option<Error> {
        Some(match self {
            BodyError::TooLarge => Error::http(413, "Content Too Large"),
            BodyError::Timeout => Error::http(408, "Request Timeout"),
            other => return other.answer(0),
        })
    }
}

/// Reads the body `head` announces. Bytes already buffered are used first; the buffer is left
/// at the first byte after the body (a pipelined request).
pub(crate) fn read(wire: &mut Wire, head: &Head, limits: BodyLimits) -> Result<Vec<u8>, BodyError> {
    match head.body {
        BodyFraming::None => Ok(Vec::new()),
        BodyFraming::Length(len) => {
            let len = usize::try_from(len)
                .ok()
                .filter(|&n| n <= limits.max_bytes)
                .ok_or(BodyError::TooLarge)?;
            send_continue(wire, head)?;
            // Do not trust the announced length for the allocation: grow as bytes arrive.
            let mut body = Vec::with_capacity(len.min(READ_CHUNK));
            let buffered = wire.buffered();
            let buffered = &buffered[..buffered.len().min(len)];
            body.extend_from_slice(buffered);
            wire.consume(body.len());
            while body.len() < len {
                let filled = body.len();
                let want = (len - filled).min(READ_CHUNK);
                body.resize(filled + want, 0);
                match wire.read_direct(&mut body[filled..], limits.timeout) {
                    Ok(0) => return Err(BodyError::Incomplete),
                    Ok(n) => body.truncate(filled + n),
                    Err(e) if is_timeout(&e) => return Err(BodyError::Timeout),
                    Err(_) => return Err(BodyError::Io),
                }
            }
            Ok(body)
        }
        BodyFraming::Chunked => {
            send_continue(wire, head)?;
            let mut decoder = ChunkedDecoder::new();
            let mut body = Vec::new();
            loop {
                let used = decoder
                    .feed(wire.buffered(), &mut body, limits.max_bytes)
                    .map_err(|e| match e {
                        ChunkError::TooLarge => BodyError::TooLarge,
                        ChunkError::Malformed(why) => BodyError::Malformed(why),
                    })?;
                wire.consume(used);
                if decoder.is_done() {
                    return Ok(body);
                }
                // The decoder keeps what it needs of a partial line: all of it is used.
                wire.consume_all();
                match wire.fill(Some(limits.timeout), READ_CHUNK) {
                    Ok(0) => return Err(BodyError::Incomplete),
                    Ok(_) => {}
                    Err(e) if is_timeout(&e) => return Err(BodyError::Timeout),
                    Err(_) => return Err(BodyError::Io),
                }
            }
        }
    }
}

/// Reads and drops a body nobody uses (bounded), so the connection stays in sync.
pub(crate) fn discard(wire: &mut Wire, head: &Head, limits: BodyLimits) -> Result<(), BodyError> {
    if head.body == BodyFraming::None {
        return Ok(());
    }
    read(wire, head, limits).map(drop)
}

/// `Expect: 100-continue`: the client waits for our go-ahead before it sends the body (unless
/// some of it came already).
fn send_continue(wire: &mut Wire, head: &Head) -> Result<(), BodyError> {
    if head.expect_continue && wire.buffered().is_empty() {
        wire.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        wire.flush().map_err(|_| BodyError::Io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::response::error_body;

    fn body(err: Option<Error>) -> (u16, String) {
        let err = err.expect("an answer");
        (err.status(), String::from_utf8(error_body(&err)).unwrap())
    }

    #[test]
    fn answers_for_a_handler_body_explain_themselves() {
        assert_eq!(
            body(BodyError::TooLarge.answer(1024)),
            (
                413,
                r#"{"error":"Content Too Large","details":"request body exceeds 1024 bytes (MAX_BODY_BYTES)"}"#
                    .into()
            )
        );
        assert_eq!(
            body(BodyError::Timeout.answer(1)),
            (
                408,
                r#"{"error":"Request Timeout","details":"request body not received in time"}"#.into()
            )
        );
        assert_eq!(
            body(BodyError::Malformed("bad chunk").answer(1)),
            (400, r#"{"error":"Bad Request","details":"bad chunk"}"#.into())
        );
        assert_eq!(
            body(BodyError::Incomplete.answer(1)),
            (
                400,
                format!(r#"{{"error":"Bad Request","details":"{INCOMPLETE_BODY}"}}"#)
            )
        );
        assert!(BodyError::Io.answer(1).is_none());
    }

    #[test]
    fn answers_for_a_dropped_body_are_terse() {
        assert_eq!(
            body(BodyError::TooLarge.answer_unused()),
            (413, r#"{"error":"Content Too Large"}"#.into())
        );
        assert_eq!(
            body(BodyError::Timeout.answer_unused()),
            (408, r#"{"error":"Request Timeout"}"#.into())
        );
        assert_eq!(
            body(BodyError::Malformed("x").answer_unused()),
            (400, r#"{"error":"Bad Request","details":"x"}"#.into())
        );
        assert_eq!(body(BodyError::Incomplete.answer_unused()).0, 400);
        assert!(BodyError::Io.answer_unused().is_none());
    }
}

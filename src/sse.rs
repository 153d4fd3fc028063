//! A sans-IO parser for `text/event-stream` bodies: the model client reads chat-completion
//! chunks with it, the MCP client Streamable HTTP replies.
//!
//! Feed it bytes as they arrive ([`SseParser::push`]); it returns complete events. It follows the
//! WHATWG event-stream rules where real servers differ: lines may end in `\n`, `\r\n` or `\r`
//! (the Python MCP SDK sends CRLF), a chunk boundary may split a CRLF, `id:`/`retry:` and comment
//! lines are skipped, a leading BOM is dropped, and events whose data is empty (the TypeScript MCP
//! SDK's priming event `id: <uuid>\ndata: \n\n`) are not dispatched. Lines and one event's data
//! are bounded, so a broken or hostile server cannot make us buffer without limit; after an error
//! every later push fails the same way. No I/O here, so it can be fuzzed alone.

use std::fmt;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field (`"message"` when absent, as the spec defines).
    pub event: String,
    /// The `data:` lines joined by `\n`.
    pub data: String,
}

/// The stream broke a limit or was not text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseError {
    /// One event's data (or one line) grew past the limit given to [`SseParser::new`].
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A line was not valid UTF-8.
    NotUtf8,
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SseError::TooLarge { limit } => write!(f, "SSE event larger than {limit} bytes"),
            SseError::NotUtf8 => f.write_str("SSE stream is not valid UTF-8"),
        }
    }
}

impl std::error::Error for SseError {}

/// Incremental event-stream parser.
#[derive(Debug)]
pub struct SseParser {
    limit: usize,
    failed: Option<SseError>,
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` starting the next chunk belongs to it.
    after_cr: bool,
    at_stream_start: bool,
    event: String,
    data: String,
    has_data: bool,
}

impl SseParser {
    /// A parser that refuses events (and lines) over `limit` bytes.
    pub fn new(limit: usize) -> Self {
        SseParser {
            limit,
            failed: None,
            line: Vec::new(),
            after_cr: false,
            at_stream_start: true,
            event: String::new(),
            data: String::new(),
            has_data: false,
        }
    }

    /// Consumes `bytes`, appending every event they complete to `out` (events completed before
    /// an error are kept). After an error every later call returns the same error.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.push_bytes(bytes, out);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    fn push_bytes(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        let mut rest = bytes;
        // An empty read must not forget a pending `\r`: its `\n` may still come.
        if rest.is_empty() {
            return Ok(());
        }
        if self.after_cr {
            if let Some(stripped) = rest.strip_prefix(b"\n") {
                rest = stripped;
            }
            self.after_cr = false;
        }
        while let Some(pos) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.append_to_line(&rest[..pos])?;
            let is_cr = rest[pos] == b'\r';
            rest = &rest[pos + 1..];
            if is_cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, out)?;
        }
        self.append_to_line(rest)
    }

    /// End of stream: an event without its closing blank line is discarded (WHATWG rule).
    #[cfg(any(test, feature = "_fuzz"))]
    pub fn finish(&mut self) {
        self.line.clear();
        self.reset_event();
    }

    fn append_to_line(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.line.len() + bytes.len() > self.limit {
            return Err(SseError::TooLarge { limit: self.limit });
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        let mut line = std::str::from_utf8(line).map_err(|_| SseError::NotUtf8)?;
        if self.at_stream_start {
            self.at_stream_start = false;
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        if line.is_empty() {
            if self.has_data && !self.data.is_empty() {
                let event = if self.event.is_empty() {
                    "message".to_string()
                } else {
                    self.event.clone()
                };
                out.push(SseEvent {
                    event,
                    data: std::mem::take(&mut self.data),
                });
            }
            self.reset_event();
            return Ok(());
        }
        if line.starts_with(':') {
            return Ok(());
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => {
                let extra = value.len() + usize::from(self.has_data);
                if self.data.len() + extra > self.limit {
                    return Err(SseError::TooLarge { limit: self.limit });
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = value.to_string(),
            // `id` and `retry` matter only for reconnecting, which we never do mid-call.
            _ => {}
        }
        Ok(())
    }

    fn reset_event(&mut self) {
        self.event.clear();
        self.data.clear();
        self.has_data = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_chunks(input: &[u8], chunk: usize) -> Vec<SseEvent> {
        let mut parser = SseParser::new(1 << 20);
        let mut out = Vec::new();
        for part in input.chunks(chunk) {
            parser.push(part, &mut out).unwrap();
        }
        parser.finish();
        out
    }

    fn ev(data: &str) -> SseEvent {
        SseEvent {
            event: "message".into(),
            data: data.into(),
        }
    }

    #[test]
    fn python_sdk_crlf_events() {
        let raw = b"event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\r\n\r\n";
        for chunk in 1..raw.len() {
            assert_eq!(
                parse_in_chunks(raw, chunk),
                vec![ev(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#)]
            );
        }
    }

    #[test]
    fn typescript_priming_event_is_skipped() {
        let raw = b"id: ea70e6b9\ndata: \n\nevent: message\nid: 0429e666\ndata: {\"id\":1}\n\n";
        for chunk in 1..raw.len() {
            assert_eq!(parse_in_chunks(raw, chunk), vec![ev(r#"{"id":1}"#)]);
        }
    }

    #[test]
    fn multi_line_data_comments_bare_cr_and_unterminated_tail() {
        let raw = b": keepalive\rdata: a\rdata:b\r\rdata: dropped at eof";
        assert_eq!(parse_in_chunks(raw, 3), vec![ev("a\nb")]);
        let raw = "\u{feff}data: x\n\n".as_bytes();
        assert_eq!(parse_in_chunks(raw, 1), vec![ev("x")]);
    }

    #[test]
    fn empty_push_keeps_a_split_crlf_together() {
        // Found by the mcp_sse fuzz target: "\r" | "" | "\n" was read as two line ends, so the
        // event was dispatched before its second data line.
        let mut parser = SseParser::new(64);
        let mut out = Vec::new();
        for piece in [&b"data: a\r"[..], b"", b"\ndata: b\r\n\r\n"] {
            parser.push(piece, &mut out).unwrap();
        }
        assert_eq!(out, vec![ev("a\nb")]);
    }

    #[test]
    fn openai_streams_split_anywhere_give_the_same_events() {
        let all: &[u8] =
            b": keep-alive\r\nevent: x\r\nid: 7\r\ndata: {\"a\":1}\r\n\r\ndata: two\r\ndata: three\r\n\r\ndata: [DONE]\n\n";
        let data = |events: Vec<SseEvent>| events.into_iter().map(|e| e.data).collect::<Vec<_>>();
        let whole = data(parse_in_chunks(all, all.len()));
        assert_eq!(whole, ["{\"a\":1}", "two\nthree", "[DONE]"]);
        for chunk in 1..all.len() {
            assert_eq!(data(parse_in_chunks(all, chunk)), whole, "chunks of {chunk}");
        }
    }

    #[test]
    fn errors_are_sticky() {
        let mut parser = SseParser::new(8);
        let mut out = Vec::new();
        assert!(parser.push(b"data: \xff\n\n", &mut out).is_err());
        assert_eq!(parser.push(b"data: ok\n\n", &mut out), Err(SseError::NotUtf8));
        assert!(out.is_empty());
    }

    #[test]
    fn limits_are_enforced() {
        let mut parser = SseParser::new(8);
        let mut out = Vec::new();
        assert_eq!(
            parser.push(b"data: 123456789", &mut out),
            Err(SseError::TooLarge { limit: 8 })
        );
        let mut parser = SseParser::new(8);
        assert_eq!(
            parser.push(b"data: 12345\ndata: 12345\n", &mut out),
            Err(SseError::TooLarge { limit: 8 })
        );
        let mut parser = SseParser::new(64);
        assert_eq!(parser.push(b"data: \xff\n", &mut out), Err(SseError::NotUtf8));
    }
}

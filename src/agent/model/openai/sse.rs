//! A sans-IO Server-Sent Events decoder: bytes in, event payloads out.
//!
//! It does no I/O and never panics on any input, so a fuzzer can drive it directly. Lines may end
//! in `\n`, `\r\n` or `\r`; comment lines (`:`), `event:`, `id:` and `retry:` fields are read and
//! ignored (the openai SDK ignores them for chat completions too); `data:` lines of one event are
//! joined with `"\n"`; a blank line ends the event. An event cut off by the end of the stream is
//! discarded, as the SSE specification (and the openai SDK) do. Lines and event payloads are
//! bounded so a hostile or broken server cannot grow memory without limit.

use std::collections::VecDeque;
use std::fmt;

/// Why the decoder gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseError {
    /// One line was longer than the limit.
    LineTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// One event's data was longer than the limit.
    EventTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A `data:` line was not UTF-8.
    InvalidUtf8,
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SseError::LineTooLong { limit } => write!(f, "an SSE line is longer than {limit} bytes"),
            SseError::EventTooLarge { limit } => write!(f, "an SSE event is larger than {limit} bytes"),
            SseError::InvalidUtf8 => write!(f, "an SSE data line is not valid UTF-8"),
        }
    }
}

impl std::error::Error for SseError {}

/// Incremental SSE decoder. Feed it with [`SseDecoder::push`], take events with
/// [`SseDecoder::next_event`].
#[derive(Debug)]
pub struct SseDecoder {
    max_line: usize,
    /// The current, unterminated line.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` at the start of the next one belongs to it.
    after_cr: bool,
    data: String,
    has_data: bool,
    ready: VecDeque<String>,
    failed: Option<SseError>,
}

impl SseDecoder {
    /// A decoder that rejects lines (and event payloads) longer than `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        SseDecoder {
            max_line,
            line: Vec::new(),
            after_cr: false,
            data: String::new(),
            has_data: false,
            ready: VecDeque::new(),
            failed: None,
        }
    }

    /// Decodes more bytes. After an error every later call returns the same error.
    pub fn push(&mut self, mut bytes: &[u8]) -> Result<(), SseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        // An empty read must not forget a pending `\r`: its `\n` may still come.
        if bytes.is_empty() {
            return Ok(());
        }
        if self.after_cr {
            self.after_cr = false;
            if let [b'\n', rest @ ..] = bytes {
                bytes = rest;
            }
        }
        while !bytes.is_empty() {
            match bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(end) => {
                    self.extend_line(&bytes[..end])?;
                    let terminator = bytes[end];
                    bytes = &bytes[end + 1..];
                    if terminator == b'\r' {
                        match bytes {
                            [b'\n', rest @ ..] => bytes = rest,
                            [] => self.after_cr = true,
                            _ => {}
                        }
                    }
                    let line = std::mem::take(&mut self.line);
                    self.process_line(&line)?;
                }
                None => {
                    self.extend_line(bytes)?;
                    bytes = &[];
                }
            }
        }
        Ok(())
    }

    /// The next complete event's data, oldest first.
    pub fn next_event(&mut self) -> Option<String> {
        self.ready.pop_front()
    }

    fn fail(&mut self, e: SseError) -> Result<(), SseError> {
        self.failed = Some(e.clone());
        Err(e)
    }

    fn extend_line(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.line.len() + bytes.len() > self.max_line {
            return self.fail(SseError::LineTooLong { limit: self.max_line });
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn process_line(&mut self, line: &[u8]) -> Result<(), SseError> {
        if line.is_empty() {
            if self.has_data {
                self.ready.push_back(std::mem::take(&mut self.data));
                self.has_data = false;
            }
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        if field != b"data" {
            // `event`, `id`, `retry` and unknown fields do not matter for chat completions.
            return Ok(());
        }
        let Ok(value) = std::str::from_utf8(value) else {
            return self.fail(SseError::InvalidUtf8);
        };
        let extra = usize::from(self.has_data) + value.len();
        if self.data.len() + extra > self.max_line {
            return self.fail(SseError::EventTooLarge { limit: self.max_line });
        }
        if self.has_data {
            self.data.push('\n');
        }
        self.data.push_str(value);
        self.has_data = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&[u8]]) -> Vec<String> {
        let mut d = SseDecoder::new(64);
        let mut out = Vec::new();
        for c in chunks {
            d.push(c).unwrap();
            while let Some(e) = d.next_event() {
                out.push(e);
            }
        }
        out
    }

    #[test]
    fn line_endings_comments_and_fields() {
        let all =
            b": keep-alive\r\nevent: x\r\nid: 7\r\ndata: {\"a\":1}\r\n\r\ndata:b\rdata: c\r\rdata: d\n\n";
        assert_eq!(events(&[all]), ["{\"a\":1}", "b\nc", "d"]);
    }

    #[test]
    fn split_anywhere_gives_the_same_events() {
        let all: &[u8] = b"data: one\r\n\r\ndata: two\r\ndata: three\r\n\r\n: c\n\ndata: [DONE]\n\n";
        let whole = events(&[all]);
        assert_eq!(whole, ["one", "two\nthree", "[DONE]"]);
        for cut in 0..all.len() {
            assert_eq!(events(&[&all[..cut], &all[cut..]]), whole, "cut at {cut}");
        }
        let bytewise: Vec<&[u8]> = all.chunks(1).collect();
        assert_eq!(events(&bytewise), whole);
    }

    #[test]
    fn empty_push_keeps_a_split_crlf_together() {
        // Found by the model_stream fuzz target: "\r" | "" | "\n" was read as two line ends.
        assert!(events(&[b"data: x\r", b"", b"\n"]).is_empty());
        assert_eq!(events(&[b"data: x\r", b"", b"\n", b"", b"\r\n"]), ["x"]);
    }

    #[test]
    fn unterminated_event_is_not_emitted() {
        assert!(events(&[b"data: partial"]).is_empty());
        assert!(events(&[b"data: partial\n"]).is_empty());
    }

    #[test]
    fn limits_and_bad_utf8_are_errors() {
        let mut d = SseDecoder::new(8);
        assert_eq!(
            d.push(b"data: 123456789"),
            Err(SseError::LineTooLong { limit: 8 })
        );
        assert_eq!(d.push(b"\n\n"), Err(SseError::LineTooLong { limit: 8 }));
        let mut d = SseDecoder::new(10);
        assert_eq!(
            d.push(b"data:12345\ndata:67890\n"),
            Err(SseError::EventTooLarge { limit: 10 })
        );
        let mut d = SseDecoder::new(8);
        assert_eq!(d.push(b"data:\xff\n"), Err(SseError::InvalidUtf8));
    }
}

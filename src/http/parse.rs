//! Request heads and body framing, sans I/O (so fuzzers and unit tests drive them directly).
//!
//! `parse_head` turns the bytes of a request head into a [`Head`] that holds offsets into the
//! caller's buffer instead of copies, so the `/ping` path allocates nothing here. Framing rules
//! are strict on purpose, because a body misread as the next request is request smuggling:
//! Content-Length must be plain digits and appear once, Transfer-Encoding must be exactly
//! `chunked`, and both together are refused.

use std::mem::MaybeUninit;
use std::ops::Range;

/// The request method. Only the ones we route on get a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// HEAD
    Head,
    /// POST
    Post,
    /// Any other token (PUT, OPTIONS, DELETE, ...); the text is at `Head::method`.
    Other,
}

/// A parsed request head. Ranges index the buffer given to `parse_head`.
#[derive(Debug, Clone, Default)]
pub struct Head {
    /// Length of the head in bytes, CRLFCRLF included.
    pub len: usize,
    /// The method text.
    pub method: Range<usize>,
    /// The request target as sent (origin-form, absolute-form, ...).
    pub target: Range<usize>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// (name, value) ranges in wire order.
    pub headers: Vec<(Range<usize>, Range<usize>)>,
    /// The body framing.
    pub body: BodyFraming,
    /// The connection stays open after this exchange (version default and `Connection`).
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
    /// An `Expect` value other than 100-continue was sent (answer 417).
    pub expect_unsupported: bool,
    /// `Upgrade: websocket` with `Connection: upgrade`.
    pub websocket_upgrade: bool,
    /// A `Host` header was present.
    pub has_host: bool,
}

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyFraming {
    /// No body.
    #[default]
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Why a head was refused; each maps to a status and a message for the JSON error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// The head is larger than the limit (431).
    TooLarge,
    /// The request line alone is longer than the head limit (414).
    UriTooLong,
    /// More header lines than the limit (431).
    TooManyHeaders,
    /// Not a valid HTTP/1.x request head (400).
    Malformed(&'static str),
    /// HTTP/2 preface or another version (505).
    UnsupportedVersion,
    /// Content-Length not a plain number, or given twice (400).
    BadContentLength,
    /// Both Content-Length and Transfer-Encoding (400).
    LengthAndChunked,
    /// A transfer coding other than `chunked` (501).
    UnsupportedTransferEncoding,
    /// HTTP/1.1 without Host (400).
    MissingHost,
}

impl HeadError {
    /// HTTP status for this error.
    pub fn status(self) -> u16 {
        match self {
            HeadError::TooLarge | HeadError::TooManyHeaders => 431,
            HeadError::UriTooLong => 414,
            HeadError::UnsupportedVersion => 505,
            HeadError::UnsupportedTransferEncoding => 501,
            _ => 400,
        }
    }

    /// Human-readable reason for the `details` field.
    pub fn message(self) -> &'static str {
        match self {
            HeadError::TooLarge => "request head too large",
            HeadError::UriTooLong => "request line longer than the head limit (MAX_HEADER_BYTES)",
            HeadError::TooManyHeaders => "too many request headers",
            HeadError::Malformed(why) => why,
            HeadError::UnsupportedVersion => "only HTTP/1.0 and HTTP/1.1 are supported",
            HeadError::BadContentLength => "invalid or repeated Content-Length",
            HeadError::LengthAndChunked => "both Content-Length and Transfer-Encoding given",
            HeadError::UnsupportedTransferEncoding => "only Transfer-Encoding: chunked is supported",
            HeadError::MissingHost => "HTTP/1.1 request without Host header",
        }
    }
}

/// Limits applied while parsing.
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    /// Maximum head size in bytes.
    pub max_bytes: usize,
    /// Maximum number of header lines.
    pub max_headers: usize,
}

const STACK_HEADERS: usize = 128;

/// Parses a request head at the start of `buf`. `Ok(None)`: incomplete, read more (the caller
/// enforces `max_bytes` on what it buffers; this checks it for complete heads too).
#[cfg(any(test, feature = "_fuzz"))]
pub fn parse_head(buf: &[u8], limits: HeadLimits) -> Result<Option<Head>, HeadError> {
    parse_head_reusing(buf, limits, Vec::new())
}

/// `parse_head`, filling `headers` (cleared first) so a connection can hand back the same
/// allocation for every request: one malloc/free pair less per `/ping`.
pub fn parse_head_reusing(
    buf: &[u8],
    limits: HeadLimits,
    mut headers: Vec<(Range<usize>, Range<usize>)>,
) -> Result<Option<Head>, HeadError> {
    headers.clear();
    // Uninitialised slots: zeroing 128 headers (4 KiB) per request showed up in /ping profiles.
    if limits.max_headers <= STACK_HEADERS {
        let mut storage = [const { MaybeUninit::uninit() }; STACK_HEADERS];
        parse_with(buf, limits, &mut storage[..limits.max_headers], headers)
    } else {
        let mut storage: Vec<MaybeUninit<httparse::Header<'_>>> = std::iter::repeat_with(MaybeUninit::uninit)
            .take(limits.max_headers)
            .collect();
        parse_with(buf, limits, &mut storage, headers)
    }
}

fn parse_with<'b>(
    buf: &'b [u8],
    limits: HeadLimits,
    storage: &mut [MaybeUninit<httparse::Header<'b>>],
    headers: Vec<(Range<usize>, Range<usize>)>,
) -> Result<Option<Head>, HeadError> {
    let mut req = httparse::Request::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_request_with_uninit_headers(&mut req, buf, storage);
    let status = parsed.map_err(|e| match e {
        httparse::Error::TooManyHeaders => HeadError::TooManyHeaders,
        httparse::Error::Version => version_error(buf),
        httparse::Error::HeaderName => HeadError::Malformed("invalid header name"),
        httparse::Error::HeaderValue => HeadError::Malformed("invalid header value"),
        httparse::Error::NewLine => HeadError::Malformed("invalid line ending"),
        httparse::Error::Status | httparse::Error::Token => HeadError::Malformed("invalid request line"),
    })?;
    let len = match status {
        httparse::Status::Partial => {
            return if buf.len() <= limits.max_bytes {
                Ok(None)
            } else {
                Err(too_large(buf, limits.max_bytes))
            };
        }
        httparse::Status::Complete(len) => len,
    };
    if len > limits.max_bytes {
        return Err(too_large(buf, limits.max_bytes));
    }
    let (Some(method), Some(path), Some(version)) = (req.method, req.path, req.version) else {
        return Err(HeadError::Malformed("invalid request line"));
    };
    let base = buf.as_ptr() as usize;
    let range = |s: &[u8]| {
        let start = s.as_ptr() as usize - base;
        start..start + s.len()
    };
    let mut head = Head {
        len,
        method: range(method.as_bytes()),
        target: range(path.as_bytes()),
        minor_version: version,
        keep_alive: version == 1,
        headers,
        ..Head::default()
    };
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    let mut connection_upgrade = false;
    let mut upgrade_websocket = false;
    for h in req.headers.iter() {
        head.headers.push((range(h.name.as_bytes()), range(h.value)));
        let value = trim(h.value);
        let field = FramingField::of(h.name);
        if field == FramingField::ContentLength {
            if content_length.is_some() {
                return Err(HeadError::BadContentLength);
            }
            content_length = Some(parse_content_length(value)?);
        } else if field == FramingField::TransferEncoding {
            for coding in value.split(|&b| b == b',').map(trim).filter(|c| !c.is_empty()) {
                if !coding.eq_ignore_ascii_case(b"chunked") {
                    return Err(HeadError::UnsupportedTransferEncoding);
                }
                if chunked {
                    return Err(HeadError::Malformed("chunked given twice"));
                }
                chunked = true;
            }
            transfer_encoding = true;
        } else if field == FramingField::Connection {
            for token in value.split(|&b| b == b',').map(trim) {
                if token.eq_ignore_ascii_case(b"close") {
                    head.keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && version == 0 {
                    head.keep_alive = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    connection_upgrade = true;
                }
            }
        } else if field == FramingField::Expect {
            if value.eq_ignore_ascii_case(b"100-continue") {
                // RFC 9110 §10.1.1: ignored in HTTP/1.0, which has no 1xx responses.
                head.expect_continue = version == 1;
            } else {
                head.expect_unsupported = true;
            }
        } else if field == FramingField::Upgrade {
            upgrade_websocket |= value
                .split(|&b| b == b',')
                .map(trim)
                .any(|t| t.eq_ignore_ascii_case(b"websocket"));
        } else if field == FramingField::Host {
            // RFC 9112 §3.2: more than one Host line is a 400 (two hosts, two meanings).
            if head.has_host {
                return Err(HeadError::Malformed("repeated Host header"));
            }
            head.has_host = true;
        }
    }
    if transfer_encoding && content_length.is_some() {
        return Err(HeadError::LengthAndChunked);
    }
    if transfer_encoding && !chunked {
        return Err(HeadError::UnsupportedTransferEncoding);
    }
    if version == 1 && !head.has_host {
        return Err(HeadError::MissingHost);
    }
    head.body = if chunked {
        BodyFraming::Chunked
    } else {
        match content_length {
            Some(0) | None => BodyFraming::None,
            Some(n) => BodyFraming::Length(n),
        }
    };
    // RFC 9110 §7.8: Upgrade in an HTTP/1.0 request is ignored (WebSocket needs 1.1 anyway).
    head.websocket_upgrade = connection_upgrade && upgrade_websocket && version == 1;
    Ok(Some(head))
}

/// RFC 9112 §3: a request target longer than we take is a 414, so a request line that does
/// not fit in the head limit gets that instead of the 431 for too many header bytes.
fn too_large(buf: &[u8], max_bytes: usize) -> HeadError {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let line_len = buf[start..]
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(buf.len() - start);
    if line_len > max_bytes {
        HeadError::UriTooLong
    } else {
        HeadError::TooLarge
    }
}

/// httparse reports any version it does not take as a version error. A well-formed one
/// (`HTTP/2.0`) is a 505; anything else (`http/1.1`, a missing or garbled version) is a
/// malformed request line, 400.
fn version_error(buf: &[u8]) -> HeadError {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let line = buf[start..].split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or_default();
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            HeadError::UnsupportedVersion
        }
        _ => HeadError::Malformed("invalid HTTP version"),
    }
}

/// The header fields that decide framing and routing (the rest are only recorded).
#[derive(Clone, Copy, PartialEq, Eq)]
enum FramingField {
    ContentLength,
    TransferEncoding,
    Connection,
    Expect,
    Upgrade,
    Host,
    Other,
}

impl FramingField {
    /// Length first: most names are rejected without a case-insensitive compare.
    fn of(name: &str) -> FramingField {
        let (field, wanted) = match name.len() {
            4 => (FramingField::Host, "host"),
            6 => (FramingField::Expect, "expect"),
            7 => (FramingField::Upgrade, "upgrade"),
            10 => (FramingField::Connection, "connection"),
            14 => (FramingField::ContentLength, "content-length"),
            17 => (FramingField::TransferEncoding, "transfer-encoding"),
            _ => return FramingField::Other,
        };
        if name.eq_ignore_ascii_case(wanted) {
            field
        } else {
            FramingField::Other
        }
    }
}

fn parse_content_length(value: &[u8]) -> Result<u64, HeadError> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return Err(HeadError::BadContentLength);
    }
    value
        .iter()
        .try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
        .ok_or(HeadError::BadContentLength)
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Decodes a chunked body incrementally, bounded by a byte limit.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: ChunkState,
    line: Vec<u8>,
    total: usize,
    trailer_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
    Done,
}

/// Why a chunked body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    /// The decoded body exceeds the limit (413).
    TooLarge,
    /// Bad chunk-size line, missing CRLF, oversized trailers (400).
    Malformed(&'static str),
}

/// Longest chunk-size line (with extensions) we accept.
const MAX_CHUNK_LINE: usize = 4096;
/// Largest trailer section we accept.
const MAX_TRAILERS: usize = 16 * 1024;

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub fn new() -> Self {
        ChunkedDecoder {
            state: ChunkState::Size,
            line: Vec::new(),
            total: 0,
            trailer_bytes: 0,
        }
    }

    /// True once the terminating chunk and trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Consumes bytes from `input`, appending body data to `out` (at most `limit` in total).
    /// Returns how many input bytes were used; stops right after the end of the body so that
    /// the bytes of a pipelined next request stay with the caller.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<usize, ChunkError> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                ChunkState::Size | ChunkState::Trailer => {
                    let Some(nl) = input[i..].iter().position(|&b| b == b'\n') else {
                        self.line.extend_from_slice(&input[i..]);
                        i = input.len();
                        self.check_line_len()?;
                        break;
                    };
                    self.line.extend_from_slice(&input[i..i + nl]);
                    i += nl + 1;
                    self.check_line_len()?;
                    let line = std::mem::take(&mut self.line);
                    let line = line
                        .strip_suffix(b"\r")
                        .ok_or(ChunkError::Malformed("chunk line without CRLF"))?;
                    if self.state == ChunkState::Size {
                        let size = parse_chunk_size(line)?;
                        // Refuse from the announced size, as for Content-Length, rather than
                        // wait for data that may never come.
                        if size > limit.saturating_sub(self.total) as u64 {
                            return Err(ChunkError::TooLarge);
                        }
                        self.state = if size == 0 {
                            ChunkState::Trailer
                        } else {
                            ChunkState::Data(size)
                        };
                    } else if line.is_empty() {
                        self.state = ChunkState::Done;
                        return Ok(i);
                    } else {
                        self.trailer_bytes += line.len() + 2;
                        if self.trailer_bytes > MAX_TRAILERS {
                            return Err(ChunkError::Malformed("chunked trailers too large"));
                        }
                    }
                }
                ChunkState::Data(remaining) => {
                    let available = input.len() - i;
                    let take = usize::try_from(remaining).map_or(available, |r| r.min(available));
                    if self.total + take > limit {
                        return Err(ChunkError::TooLarge);
                    }
                    out.extend_from_slice(&input[i..i + take]);
                    self.total += take;
                    i += take;
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                }
                ChunkState::DataEnd => {
                    // CRLF after the chunk data; tolerate nothing else.
                    self.line.push(input[i]);
                    i += 1;
                    match self.line.as_slice() {
                        b"\r" => {}
                        b"\r\n" | b"\n" => {
                            self.line.clear();
                            self.state = ChunkState::Size;
                        }
                        _ => return Err(ChunkError::Malformed("missing CRLF after chunk data")),
                    }
                }
                ChunkState::Done => return Ok(i),
            }
        }
        Ok(i)
    }

    fn check_line_len(&self) -> Result<(), ChunkError> {
        let max = if self.state == ChunkState::Trailer {
            MAX_TRAILERS
        } else {
            MAX_CHUNK_LINE
        };
        if self.line.len() > max {
            Err(ChunkError::Malformed("chunk size line too long"))
        } else {
            Ok(())
        }
    }
}

fn parse_chunk_size(line: &[u8]) -> Result<u64, ChunkError> {
    let size_part = line.split(|&b| b == b';').next().map(trim).unwrap_or_default();
    if size_part.is_empty() || size_part.len() > 15 {
        return Err(ChunkError::Malformed("invalid chunk size"));
    }
    let mut n: u64 = 0;
    for &b in size_part {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return Err(ChunkError::Malformed("invalid chunk size")),
        };
        n = (n << 4) | u64::from(d);
    }
    Ok(n)
}

/// Splits a request target into its path and query, accepting origin-form (`/p?q`) and
/// absolute-form (`http://host/p?q`).
pub fn split_target(target: &str) -> (&str, Option<&str>) {
    let path_and_query = match target.find("://") {
        Some(scheme_end) if !target.starts_with('/') => {
            let after = &target[scheme_end + 3..];
            after.find('/').map_or("/", |slash| &after[slash..])
        }
        _ => target,
    };
    match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    }
}

/// Percent-decodes a path for routing (as Starlette does); `None` when the result is not UTF-8.
pub fn decode_path(path: &str) -> Option<std::borrow::Cow<'_, str>> {
    if !path.contains('%') {
        return Some(std::borrow::Cow::Borrowed(path));
    }
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok().map(std::borrow::Cow::Owned)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_bytes: 8192,
        max_headers: 32,
    };

    fn parse(s: &str) -> Result<Option<Head>, HeadError> {
        parse_head(s.as_bytes(), LIMITS)
    }

    #[test]
    fn complete_and_partial_heads() {
        let raw = "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
        let head = parse(raw).unwrap().unwrap();
        assert_eq!(&raw[head.method.clone()], "POST");
        assert_eq!(&raw[head.target.clone()], "/invocations");
        assert_eq!(head.body, BodyFraming::Length(5));
        assert_eq!(head.len, raw.len() - 5);
        assert!(head.keep_alive);
        assert!(parse("GET /ping HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
    }

    #[test]
    fn framing_rules() {
        assert_eq!(
            parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n")
                .unwrap_err(),
            HeadError::BadContentLength
        );
        assert_eq!(
            parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n").unwrap_err(),
            HeadError::BadContentLength
        );
        assert_eq!(
            parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n").unwrap_err(),
            HeadError::BadContentLength
        );
        assert_eq!(
            parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")
                .unwrap_err(),
            HeadError::LengthAndChunked
        );
        assert_eq!(
            parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n").unwrap_err(),
            HeadError::UnsupportedTransferEncoding
        );
        assert_eq!(
            parse("GET / HTTP/1.1\r\n\r\n").unwrap_err(),
            HeadError::MissingHost
        );
        let head = parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.body, BodyFraming::Chunked);
    }

    #[test]
    fn connection_semantics() {
        assert!(!parse("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap().keep_alive);
        assert!(
            parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                .unwrap()
                .unwrap()
                .keep_alive
        );
        assert!(
            !parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap()
                .unwrap()
                .keep_alive
        );
        let ws = parse(
            "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
        );
        assert!(ws.unwrap().unwrap().websocket_upgrade);
        let ws10 = parse("GET /ws HTTP/1.0\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
        assert!(!ws10.unwrap().unwrap().websocket_upgrade);
        let expect10 = parse("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
        let expect10 = expect10.unwrap().unwrap();
        assert!(!expect10.expect_continue && !expect10.expect_unsupported);
    }

    #[test]
    fn limits() {
        let many: String = (0..40).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            parse(&format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n")).unwrap_err(),
            HeadError::TooManyHeaders
        );
        let big = "a".repeat(9000);
        assert_eq!(
            parse(&format!("GET / HTTP/1.1\r\nHost: x\r\nX: {big}")).unwrap_err(),
            HeadError::TooLarge
        );
        assert_eq!(parse(&format!("GET /{big}")).unwrap_err(), HeadError::UriTooLong);
        assert_eq!(
            parse(&format!("GET /{big} HTTP/1.1\r\nHost: x\r\n\r\n")).unwrap_err(),
            HeadError::UriTooLong
        );
        assert_eq!(
            parse(&format!(
                "GET /{} HTTP/1.1\r\nHost: x\r\nX: {big}\r\n\r\n",
                &big[..4000]
            ))
            .unwrap_err(),
            HeadError::TooLarge
        );
        assert!(matches!(
            parse("GARBAGE\r\n\r\n").unwrap_err(),
            HeadError::Malformed(_)
        ));
        assert_eq!(
            parse("PRI * HTTP/2.0\r\n\r\n").unwrap_err(),
            HeadError::UnsupportedVersion
        );
        assert_eq!(
            parse("GET / HTTP/3.0\r\nHost: x\r\n\r\n").unwrap_err(),
            HeadError::UnsupportedVersion
        );
        for garbled in [
            "GET / http/1.1\r\n\r\n",
            "GET / HTTP/1.\x001\r\n\r\n",
            "GET / HTTP/11\r\n\r\n",
        ] {
            assert_eq!(
                parse(garbled).unwrap_err(),
                HeadError::Malformed("invalid HTTP version"),
                "{garbled:?}"
            );
        }
    }

    #[test]
    fn chunked_decoding_stops_at_the_end() {
        let mut d = ChunkedDecoder::new();
        let mut out = Vec::new();
        let input = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\nGET /next";
        let used = d.feed(input, &mut out, 100).unwrap();
        assert!(d.is_done());
        assert_eq!(out, b"hello world");
        assert_eq!(&input[used..], b"GET /next");
    }

    #[test]
    fn chunked_byte_by_byte_and_errors() {
        let input = b"3\r\nabc\r\n0\r\n\r\n";
        let mut d = ChunkedDecoder::new();
        let mut out = Vec::new();
        for b in input.iter() {
            assert_eq!(d.feed(std::slice::from_ref(b), &mut out, 100).unwrap(), 1);
        }
        assert!(d.is_done());
        assert_eq!(out, b"abc");
        assert_eq!(
            ChunkedDecoder::new().feed(b"zz\r\n", &mut out, 100),
            Err(ChunkError::Malformed("invalid chunk size"))
        );
        assert_eq!(
            ChunkedDecoder::new().feed(b"5\r\nabcde\r\n", &mut Vec::new(), 4),
            Err(ChunkError::TooLarge)
        );
        assert_eq!(
            ChunkedDecoder::new().feed(b"fffffffffffffff\r\nab", &mut Vec::new(), 1 << 20),
            Err(ChunkError::TooLarge)
        );
        let mut d = ChunkedDecoder::new();
        assert!(d.feed(b"3\r\nabc\r\n", &mut Vec::new(), 5).is_ok());
        assert_eq!(d.feed(b"3\r\n", &mut Vec::new(), 5), Err(ChunkError::TooLarge));
        assert!(
            ChunkedDecoder::new()
                .feed(b"3\r\nabcX", &mut Vec::new(), 100)
                .is_err()
        );
        assert!(
            ChunkedDecoder::new()
                .feed(b"ffffffffffffffffff\r\n", &mut Vec::new(), 100)
                .is_err()
        );
    }

    #[test]
    fn targets() {
        assert_eq!(split_target("/ping?x=1"), ("/ping", Some("x=1")));
        assert_eq!(split_target("http://h:1/invocations"), ("/invocations", None));
        assert_eq!(split_target("http://h"), ("/", None));
        assert_eq!(decode_path("/p%69ng").as_deref(), Some("/ping"));
        assert_eq!(decode_path("/%ff").as_deref(), None);
        assert_eq!(decode_path("/%zz").as_deref(), Some("/%zz"));
    }
}

//! `application/vnd.amazon.eventstream`: the binary framing of ConverseStream responses.
//!
//! A frame is `total length (u32) | headers length (u32) | prelude CRC32 | headers | payload |
//! message CRC32`, big-endian, both CRCs IEEE CRC-32 (the prelude's over the first 8 bytes, the
//! message's over everything before it). Headers are `name length (u8) | name | type (u8) |
//! value`; every value type is understood so that an unknown header is skipped, not misread.
//! The decoder is a pure, incremental function of the bytes pushed into it (chunks may split a
//! frame anywhere), bounded in frame size, and reachable from the fuzz targets.

use std::fmt;

/// Largest frame accepted: what the AWS SDKs allow (16 MiB).
pub const MAX_FRAME_BYTES: usize = 16 << 20;

/// Prelude (12 bytes) plus the message CRC (4): the smallest frame.
const MIN_FRAME_BYTES: usize = 16;

/// One decoded frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Headers in order; values other than strings are kept as [`HeaderValue`].
    pub headers: Vec<(String, HeaderValue)>,
    /// The payload (JSON for Bedrock).
    pub payload: Vec<u8>,
}

impl Frame {
    /// A string header's value (`:event-type`, `:message-type`, ...).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|(n, v)| match v {
            HeaderValue::String(s) if n == name => Some(s.as_str()),
            _ => None,
        })
    }
}

/// A header value, by wire type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderValue {
    /// Types 0 and 1.
    Bool(bool),
    /// Types 2 (byte), 3 (short), 4 (int), 5 (long) and 8 (timestamp, ms since the epoch).
    Int(i64),
    /// Type 6.
    Bytes(Vec<u8>),
    /// Type 7 (UTF-8).
    String(String),
    /// Type 9.
    Uuid([u8; 16]),
}

/// Why the byte stream is not a valid event stream. Fatal: framing cannot resynchronise.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The prelude CRC does not match.
    PreludeCrc,
    /// The message CRC does not match.
    MessageCrc,
    /// A frame's declared length is too small, too large, or inconsistent with its headers length.
    Length(usize),
    /// The headers block is malformed.
    Header(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::PreludeCrc => f.write_str("event-stream prelude CRC mismatch"),
            DecodeError::MessageCrc => f.write_str("event-stream message CRC mismatch"),
            DecodeError::Length(n) => write!(f, "event-stream frame length {n} is out of bounds"),
            DecodeError::Header(why) => write!(f, "event-stream headers are malformed: {why}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Incremental decoder: push bytes as they arrive, take whole frames out.
#[derive(Debug, Default)]
pub struct Decoder {
    buffer: Vec<u8>,
    failed: bool,
}

impl Decoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Decoder::default()
    }

    /// Adds `bytes` and appends every frame they complete to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Frame>) -> Result<(), DecodeError> {
        if self.failed {
            return Err(DecodeError::Header("decoder already failed".into()));
        }
        self.buffer.extend_from_slice(bytes);
        let mut at = 0;
        let result = loop {
            match decode_frame(&self.buffer[at..]) {
                Ok(Some((frame, used))) => {
                    out.push(frame);
                    at += used;
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.buffer.drain(..at);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    /// True when bytes of an unfinished frame are buffered (a stream ending now is truncated).
    pub fn has_partial(&self) -> bool {
        !self.buffer.is_empty()
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Decodes the frame at the start of `bytes`: `None` while it is incomplete, else the frame and
/// the bytes it took. Length and prelude CRC are checked as soon as the prelude is there, so a
/// bogus length never makes the caller buffer up to it.
pub fn decode_frame(bytes: &[u8]) -> Result<Option<(Frame, usize)>, DecodeError> {
    if bytes.len() < 12 {
        return Ok(None);
    }
    let total = be32(bytes) as usize;
    let headers_len = be32(&bytes[4..]) as usize;
    if crc32(&bytes[..8]) != be32(&bytes[8..]) {
        return Err(DecodeError::PreludeCrc);
    }
    if !(MIN_FRAME_BYTES..=MAX_FRAME_BYTES).contains(&total) || headers_len > total - MIN_FRAME_BYTES {
        return Err(DecodeError::Length(total));
    }
    if bytes.len() < total {
        return Ok(None);
    }
    let frame = &bytes[..total];
    if crc32(&frame[..total - 4]) != be32(&frame[total - 4..]) {
        return Err(DecodeError::MessageCrc);
    }
    let headers = parse_headers(&frame[12..12 + headers_len])?;
    let payload = frame[12 + headers_len..total - 4].to_vec();
    Ok(Some((Frame { headers, payload }, total)))
}

fn parse_headers(mut b: &[u8]) -> Result<Vec<(String, HeaderValue)>, DecodeError> {
    fn take<'a>(b: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        if b.len() < n {
            return Err(DecodeError::Header(format!("{what} runs past the headers")));
        }
        let (head, rest) = b.split_at(n);
        *b = rest;
        Ok(head)
    }
    let mut headers = Vec::new();
    while !b.is_empty() {
        let name_len = take(&mut b, 1, "a name length")?[0] as usize;
        let name = std::str::from_utf8(take(&mut b, name_len, "a name")?)
            .map_err(|_| DecodeError::Header("a name is not UTF-8".into()))?
            .to_string();
        let kind = take(&mut b, 1, "a value type")?[0];
        let int = |b: &[u8]| b.iter().fold(0i64, |acc, &x| (acc << 8) | i64::from(x));
        let value = match kind {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Int(i64::from(take(&mut b, 1, "a byte")?[0] as i8)),
            3 => {
                let v = take(&mut b, 2, "a short")?;
                HeaderValue::Int(i64::from(i16::from_be_bytes([v[0], v[1]])))
            }
            4 => HeaderValue::Int(i64::from(be32(take(&mut b, 4, "an int")?) as i32)),
            5 | 8 => HeaderValue::Int(int(take(&mut b, 8, "a long")?)),
            6 | 7 => {
                let len = take(&mut b, 2, "a value length")?;
                let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
                let data = take(&mut b, len, "a value")?.to_vec();
                if kind == 6 {
                    HeaderValue::Bytes(data)
                } else {
                    HeaderValue::String(
                        String::from_utf8(data)
                            .map_err(|_| DecodeError::Header(format!("{name} is not UTF-8")))?,
                    )
                }
            }
            9 => {
                let mut uuid = [0u8; 16];
                uuid.copy_from_slice(take(&mut b, 16, "a uuid")?);
                HeaderValue::Uuid(uuid)
            }
            other => return Err(DecodeError::Header(format!("unknown value type {other}"))),
        };
        headers.push((name, value));
    }
    Ok(headers)
}

/// Encodes a frame with string headers (tests and the benchmark build streams with it).
pub fn encode_frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for (name, value) in headers {
        h.push(name.len() as u8);
        h.extend_from_slice(name.as_bytes());
        h.push(7);
        h.extend_from_slice(&(value.len() as u16).to_be_bytes());
        h.extend_from_slice(value.as_bytes());
    }
    let total = 16 + h.len() + payload.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    let prelude_crc = crc32(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC-32 (IEEE 802.3, as zlib's `crc32`), table-driven: no crate in the tree provides it.
pub fn crc32(bytes: &[u8]) -> u32 {
    !bytes.iter().fold(!0u32, |c, &b| {
        CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn frames_decode_from_any_chunking() {
        let a = encode_frame(
            &[(":event-type", "messageStart"), (":message-type", "event")],
            b"{\"role\":\"assistant\"}",
        );
        let b = encode_frame(&[(":message-type", "event")], b"");
        let all = [a.clone(), b.clone()].concat();
        for step in 1..all.len() {
            let mut d = Decoder::new();
            let mut out = Vec::new();
            for chunk in all.chunks(step) {
                d.push(chunk, &mut out).unwrap();
            }
            assert_eq!(out.len(), 2, "step {step}");
            assert_eq!(out[0].header(":event-type"), Some("messageStart"));
            assert_eq!(out[0].payload, b"{\"role\":\"assistant\"}");
            assert!(out[1].payload.is_empty());
            assert!(!d.has_partial());
        }
    }

    #[test]
    fn corrupt_crcs_and_lengths_are_refused() {
        let good = encode_frame(&[(":event-type", "x")], b"{}");
        let mut bad = good.clone();
        let last = bad.len() - 5;
        bad[last] ^= 1;
        assert_eq!(decode_frame(&bad), Err(DecodeError::MessageCrc));
        let mut bad = good.clone();
        bad[3] ^= 1;
        assert_eq!(decode_frame(&bad), Err(DecodeError::PreludeCrc));
        let mut huge = ((MAX_FRAME_BYTES + 1) as u32).to_be_bytes().to_vec();
        huge.extend_from_slice(&0u32.to_be_bytes());
        let crc = crc32(&huge);
        huge.extend_from_slice(&crc.to_be_bytes());
        assert_eq!(decode_frame(&huge), Err(DecodeError::Length(MAX_FRAME_BYTES + 1)));
    }

    #[test]
    fn every_header_type_is_parsed() {
        let mut h = Vec::new();
        let mut put = |name: &str, kind: u8, value: &[u8]| {
            h.push(name.len() as u8);
            h.extend_from_slice(name.as_bytes());
            h.push(kind);
            h.extend_from_slice(value);
        };
        put("t", 0, &[]);
        put("f", 1, &[]);
        put("b", 2, &[0xFF]);
        put("s", 3, &[0x01, 0x00]);
        put("i", 4, &[0, 0, 1, 0]);
        put("l", 5, &[0, 0, 0, 0, 0, 0, 0, 7]);
        put("y", 6, &[0, 2, 0xAA, 0xBB]);
        put("z", 7, &[0, 1, b'q']);
        put("ts", 8, &[0, 0, 0, 0, 0, 0, 0, 9]);
        put("u", 9, &[3; 16]);
        let headers = parse_headers(&h).unwrap();
        let values: Vec<_> = headers.into_iter().map(|(_, v)| v).collect();
        assert_eq!(
            values,
            vec![
                HeaderValue::Bool(true),
                HeaderValue::Bool(false),
                HeaderValue::Int(-1),
                HeaderValue::Int(256),
                HeaderValue::Int(256),
                HeaderValue::Int(7),
                HeaderValue::Bytes(vec![0xAA, 0xBB]),
                HeaderValue::String("q".into()),
                HeaderValue::Int(9),
                HeaderValue::Uuid([3; 16]),
            ]
        );
        assert!(parse_headers(&[1, b'x', 7, 0, 5, b'a']).is_err());
        assert!(parse_headers(&[1, b'x', 42]).is_err());
    }
}

//! `http_head`: request heads, chunked bodies, request targets.
//!
//! Control bytes: 0 = mode (bit 7: the payload is a chunked body, not a request) and body limit
//! (bits 0..7), 1 = max_headers, 2..4 = max_bytes, 4..8 = chunking seed.
//!
//! Properties:
//! - `parse_head` never panics; a head it returns lies inside the buffer and the limits, parses the
//!   same from its own bytes, and every shorter prefix of it is "incomplete" (the connection
//!   re-parses a growing buffer, so a prefix must never be refused).
//! - `ChunkedDecoder`: feeding the body whole, byte by byte or in random pieces gives the same
//!   body, the same end position and the same error; it never writes more than the limit and
//!   never consumes a byte past the end of the body.
//! - `split_target` gives pieces of the target; `decode_path` agrees with a plain
//!   percent-decoder.

use std::borrow::Cow;

use agentcore_rt::internals::http_parse::{
    BodyFraming, ChunkError, ChunkedDecoder, HeadError, HeadLimits, decode_path, parse_head, split_target,
};

use super::common::{Input, Rng, chunkings};

/// Runs every property on one input.
pub fn check(data: &[u8]) {
    let input = Input::new(data);
    let mode = input.byte(0);
    let body_limit = match usize::from(mode & 0x7f) {
        0 => 1 << 20,
        n => n * n * 4,
    };
    let mut rng = input.rng();
    if mode & 0x80 != 0 {
        check_chunked(input.payload, body_limit, &mut rng);
        return;
    }
    let max_bytes = match input.u16(2) {
        0xffff => usize::MAX,
        n => usize::from(n),
    };
    let limits = HeadLimits {
        max_bytes,
        max_headers: usize::from(input.byte(1)),
    };
    check_head(input.payload, limits, body_limit, &mut rng);
    if let Ok(text) = std::str::from_utf8(input.payload) {
        check_target(text);
    }
}

fn check_head(buf: &[u8], limits: HeadLimits, body_limit: usize, rng: &mut Rng) {
    let head = match parse_head(buf, limits) {
        Ok(Some(head)) => head,
        Ok(None) => {
            assert!(
                buf.len() <= limits.max_bytes,
                "incomplete head over the limit not refused"
            );
            return;
        }
        Err(e) => {
            assert!(matches!(e.status(), 400 | 431 | 501 | 505), "{e:?}");
            assert!(!e.message().is_empty());
            return;
        }
    };
    assert!(
        head.len <= buf.len() && head.len <= limits.max_bytes,
        "head length {}",
        head.len
    );
    assert!(head.headers.len() <= limits.max_headers);
    assert!(head.minor_version <= 1);
    let in_head = |r: &std::ops::Range<usize>| r.start <= r.end && r.end <= head.len;
    assert!(in_head(&head.method) && !head.method.is_empty());
    assert!(in_head(&head.target) && !head.target.is_empty());
    for (name, value) in &head.headers {
        assert!(in_head(name) && !name.is_empty() && in_head(value));
    }
    assert!(
        buf[..head.len].ends_with(b"\n"),
        "a head ends with its blank line"
    );
    if head.minor_version == 1 {
        assert!(head.has_host);
    }
    if let BodyFraming::Length(n) = head.body {
        assert!(n > 0);
    }

    // The head alone parses to the same head: bytes after it (the body) do not matter.
    let alone = parse_head(&buf[..head.len], limits);
    assert_eq!(
        format!("{alone:?}"),
        format!("{:?}", Ok::<_, HeadError>(Some(&head)))
    );

    // Any shorter prefix is incomplete, never an error: the connection parses a growing buffer.
    let mut cuts = vec![head.len - 1, 0];
    cuts.extend((0..8).map(|_| rng.below(head.len)));
    for cut in cuts {
        let got = parse_head(&buf[..cut], limits);
        assert!(matches!(got, Ok(None)), "prefix of {cut} bytes gave {got:?}");
    }

    if head.body == BodyFraming::Chunked {
        check_chunked(&buf[head.len..], body_limit, rng);
    }
    if let Ok(target) = std::str::from_utf8(&buf[head.target.clone()]) {
        check_target(target);
    }
}

/// What one run of the decoder over a sequence of pieces gave.
#[derive(Debug, PartialEq)]
struct Decoded {
    result: Result<(), ChunkError>,
    /// Body bytes written (compared only when there was no error).
    body: Vec<u8>,
    /// Input bytes consumed before the end of the body or the end of input.
    consumed: usize,
    done: bool,
}

fn decode(pieces: &[&[u8]], limit: usize) -> Decoded {
    let mut decoder = ChunkedDecoder::new();
    let mut body = Vec::new();
    let mut consumed = 0;
    let mut result = Ok(());
    for piece in pieces {
        match decoder.feed(piece, &mut body, limit) {
            Ok(used) => {
                assert!(used <= piece.len());
                assert!(
                    used == piece.len() || decoder.is_done(),
                    "stopped early ({used} of {}) before the end of the body",
                    piece.len()
                );
                consumed += used;
            }
            Err(e) => result = Err(e),
        }
        assert!(
            body.len() <= limit,
            "body of {} bytes over the limit {limit}",
            body.len()
        );
        if result.is_err() || decoder.is_done() {
            break;
        }
    }
    if decoder.is_done() {
        // Done means done: more input is left alone.
        assert_eq!(decoder.feed(b"0\r\n\r\n", &mut body, limit), Ok(0));
    }
    if result.is_err() {
        body.clear();
        consumed = 0;
    }
    Decoded {
        result,
        body,
        consumed,
        done: decoder.is_done(),
    }
}

fn check_chunked(input: &[u8], limit: usize, rng: &mut Rng) {
    let runs: Vec<Decoded> = chunkings(input, rng)
        .iter()
        .map(|pieces| decode(pieces, limit))
        .collect();
    for run in &runs[1..] {
        assert_eq!(run, &runs[0], "chunking changed the outcome");
    }
    let whole = &runs[0];
    if whole.done {
        // It stopped exactly at the end of the body: the same bytes without the last one are not
        // a complete body, and those bytes alone are.
        let end = whole.consumed;
        let exact = decode(&[&input[..end]], limit);
        assert_eq!(&exact, whole);
        let short = decode(&[&input[..end - 1]], limit);
        assert!(
            short.result.is_ok() && !short.done,
            "body ended before byte {end}: {short:?}"
        );
    }
    if whole.result.is_ok() {
        check_against_reference(input, whole);
    }
}

/// A second, whole-input reading of the chunked grammar the decoder implements (CRLF-terminated
/// size lines with optional `;extensions`, CRLF or bare LF after data, trailer lines, blank line).
/// Compared only when the decoder succeeded; limits are the decoder's business.
fn check_against_reference(input: &[u8], got: &Decoded) {
    let mut body = Vec::new();
    let mut i = 0;
    let line = |i: usize| -> Option<(&[u8], usize)> {
        let nl = input[i..].iter().position(|&b| b == b'\n')?;
        Some((input[i..i + nl].strip_suffix(b"\r")?, i + nl + 1))
    };
    loop {
        let Some((size_line, next)) = line(i) else {
            assert!(!got.done, "reference: no complete size line at {i}");
            return;
        };
        let size_text = size_line.split(|&b| b == b';').next().unwrap_or_default();
        let size_text = std::str::from_utf8(size_text).unwrap().trim_matches([' ', '\t']);
        let size = u64::from_str_radix(size_text, 16).unwrap();
        i = next;
        if size == 0 {
            break;
        }
        let size = usize::try_from(size).unwrap();
        if input.len() - i < size {
            body.extend_from_slice(&input[i..]);
            assert!(!got.done);
            assert_eq!(body, got.body);
            return;
        }
        body.extend_from_slice(&input[i..i + size]);
        i += size;
        match &input[i..] {
            [b'\r', b'\n', ..] => i += 2,
            [b'\n', ..] => i += 1,
            [] | [b'\r'] => {
                assert!(!got.done);
                assert_eq!(body, got.body);
                return;
            }
            _ => panic!("decoder accepted data without CRLF at {i}"),
        }
    }
    loop {
        let Some((trailer, next)) = line(i) else {
            assert!(!got.done);
            assert_eq!(body, got.body);
            return;
        };
        i = next;
        if trailer.is_empty() {
            break;
        }
    }
    assert!(got.done, "reference finished at {i}, decoder did not");
    assert_eq!(got.consumed, i);
    assert_eq!(body, got.body);
}

fn check_target(target: &str) {
    let (path, query) = split_target(target);
    let rejoined = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    if target.starts_with('/') || !target.contains("://") {
        assert_eq!(rejoined, target);
    } else {
        assert!(target.ends_with(&rejoined) || (path == "/" && query.is_none()));
    }
    if let Some(q) = query {
        assert!(!path.contains('?') && target.ends_with(q));
    }

    let decoded = decode_path(path);
    let expected = String::from_utf8(percent_decode(path.as_bytes())).ok();
    assert_eq!(decoded.as_deref(), expected.as_deref(), "decode_path({path:?})");
    if !path.contains('%') {
        assert!(matches!(decoded, Some(Cow::Borrowed(p)) if p == path));
    }
}

fn percent_decode(mut s: &[u8]) -> Vec<u8> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::new();
    loop {
        match s {
            [b'%', h, l, rest @ ..] if hex(*h).is_some() && hex(*l).is_some() => {
                out.push((hex(*h).unwrap() * 16 + hex(*l).unwrap()) as u8);
                s = rest;
            }
            [b, rest @ ..] => {
                out.push(*b);
                s = rest;
            }
            [] => return out,
        }
    }
}

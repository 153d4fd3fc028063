//! Reading a request body as the Python SDK does (`json.loads(body_bytes)`), with its error texts.
//!
//! serde_json builds the value; when it fails, a small scanner that follows CPython 3.11's
//! `_json.c` step by step runs over the text to find the error Python would report, because serde's
//! messages and positions differ from Python's and clients see the `details` text.
//!
//! Deliberate differences from Python (spec pitfall 5):
//! - `NaN`, `Infinity` and `-Infinity` are rejected ("Expecting value" where they start); Python
//!   accepts them and would echo invalid JSON.
//! - A `\uXXXX` escape of an unpaired surrogate is rejected with its own message; Python accepts it
//!   and then fails with a 500 when the result is encoded.
//! - Only UTF-8 (with or without BOM) is read; Python also sniffs UTF-16/32. UTF-8-encoded
//!   surrogates (`ED A0 80`), which Python's `surrogatepass` lets through, are an encoding error.
//! - Nesting deeper than `max_depth` is `TooDeep`, checked before parsing (Python would raise
//!   `RecursionError` at about 1000 levels).

use std::fmt;

use serde_json::Value;

/// Why a request body is not a JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Not UTF-8. `details` is Python's `UnicodeDecodeError` text, e.g.
    /// `'utf-8' codec can't decode byte 0xff in position 6: invalid start byte`.
    InvalidEncoding {
        /// The error text.
        details: String,
    },
    /// Not JSON. `details` is Python's `JSONDecodeError` text, e.g.
    /// `Expecting value: line 1 column 1 (char 0)`.
    InvalidJson {
        /// The error text.
        details: String,
    },
    /// Arrays/objects nested deeper than the limit.
    TooDeep {
        /// The limit that was exceeded.
        max_depth: usize,
    },
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::InvalidEncoding { details } => write!(f, "Invalid encoding: {details}"),
            BodyError::InvalidJson { details } => write!(f, "Invalid JSON: {details}"),
            BodyError::TooDeep { max_depth } => {
                write!(f, "JSON nesting deeper than {max_depth} levels")
            }
        }
    }
}

impl std::error::Error for BodyError {}

/// Parses a request body as the SDK does: strips a UTF-8 BOM, decodes UTF-8, refuses nesting
/// deeper than `max_depth` before parsing (so deep input never recurses), then parses one JSON
/// value surrounded by optional whitespace. Errors carry Python's exact texts.
pub fn parse_body(bytes: &[u8], max_depth: usize) -> Result<Value, BodyError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| BodyError::InvalidEncoding {
        details: decode_error_text(bytes, &e),
    })?;
    let parsed = match from_slice_bounded::<Value>(bytes, max_depth) {
        Ok(value) => return Ok(value),
        Err(BoundedError::TooDeep { max_depth }) => return Err(BodyError::TooDeep { max_depth }),
        Err(BoundedError::Invalid(serde_error)) => Err(serde_error),
    };
    parsed.map_err(|serde_error| {
        let details = match python_error(text) {
            Some((message, pos)) => with_position(&message, text, pos),
            // Python's scanner and ours agree on everything serde rejects; should they not, the
            // input is still refused, with serde's own description.
            None => format!("{serde_error}"),
        };
        BodyError::InvalidJson { details }
    })
}

/// Why [`from_slice_bounded`] refused its input.
#[derive(Debug)]
pub enum BoundedError {
    /// Arrays/objects nest deeper than the limit (nothing was parsed).
    TooDeep {
        /// The limit.
        max_depth: usize,
    },
    /// Not valid JSON for the type (serde's message).
    Invalid(serde_json::Error),
}

impl fmt::Display for BoundedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BoundedError::TooDeep { max_depth } => write!(f, "nested deeper than {max_depth} levels"),
            BoundedError::Invalid(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for BoundedError {}

/// Deserializes `T` from JSON nested at most `max_depth` levels. The depth is checked first,
/// without recursion, so serde's recursion is bounded by us rather than by its fixed limit of
/// 128, which would refuse legal input (a tool input nested 130 levels, a session file we
/// wrote ourselves).
pub fn from_slice_bounded<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    max_depth: usize,
) -> Result<T, BoundedError> {
    check_depth(bytes, max_depth).map_err(|_| BoundedError::TooDeep { max_depth })?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.disable_recursion_limit();
    let value = T::deserialize(&mut de).map_err(BoundedError::Invalid)?;
    de.end().map_err(BoundedError::Invalid)?;
    Ok(value)
}

/// Scans `bytes` for array/object nesting deeper than `max_depth`, skipping brackets inside
/// strings. Iterative, so any input is safe. `Err` holds the byte offset of the first bracket past
/// the limit.
pub fn check_depth(bytes: &[u8], max_depth: usize) -> Result<(), usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth {
                    return Err(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// CPython's `UnicodeDecodeError` text for the first invalid sequence. CPython's UTF-8 decoder
/// reports the maximal invalid subpart, as `Utf8Error` does.
fn decode_error_text(bytes: &[u8], e: &std::str::Utf8Error) -> String {
    let start = e.valid_up_to();
    let (end, reason) = match e.error_len() {
        None => (bytes.len(), "unexpected end of data"),
        Some(len) => {
            let lead = bytes.get(start).copied().unwrap_or(0);
            let is_start_byte = matches!(lead, 0xC2..=0xF4);
            (
                start + len,
                if is_start_byte {
                    "invalid continuation byte"
                } else {
                    "invalid start byte"
                },
            )
        }
    };
    if end - start <= 1 {
        let byte = bytes.get(start).copied().unwrap_or(0);
        format!("'utf-8' codec can't decode byte 0x{byte:02x} in position {start}: {reason}")
    } else {
        format!(
            "'utf-8' codec can't decode bytes in position {start}-{}: {reason}",
            end - 1
        )
    }
}

/// `<msg>: line L column C (char P)` with Python's arithmetic: P counts code points, L counts
/// `\n` before P, C is P minus the position of the last `\n` before it.
fn with_position(message: &str, text: &str, byte_pos: usize) -> String {
    let prefix = text.as_bytes().get(..byte_pos).unwrap_or(text.as_bytes());
    let code_points = |b: &[u8]| b.iter().filter(|&&c| (c & 0xC0) != 0x80).count();
    let pos = code_points(prefix);
    let line = prefix.iter().filter(|&&c| c == b'\n').count() + 1;
    let column = match prefix.iter().rposition(|&c| c == b'\n') {
        Some(nl) => pos - code_points(&prefix[..nl]),
        None => pos + 1,
    };
    format!("{message}: line {line} column {column} (char {pos})")
}

const EXPECTING_VALUE: &str = "Expecting value";
const EXPECTING_PROPERTY: &str = "Expecting property name enclosed in double quotes";
const EXPECTING_COLON: &str = "Expecting ':' delimiter";
const EXPECTING_COMMA: &str = "Expecting ',' delimiter";
const UNTERMINATED: &str = "Unterminated string starting at";
const CONTROL_CHARACTER: &str = "Invalid control character at";
const INVALID_ESCAPE: &str = "Invalid \\escape";
const INVALID_UNICODE_ESCAPE: &str = "Invalid \\uXXXX escape";
const EXTRA_DATA: &str = "Extra data";

/// An error found by the scanner: message and byte offset.
pub type ScanError = (String, usize);

/// The first error Python's `json.loads` would report for `text`, as (message, byte offset), or
/// an unpaired-surrogate error of ours when Python would accept the text; `None` if `text` is JSON.
/// Public for the fuzz targets, which check that it agrees with serde_json.
pub fn python_error(text: &str) -> Option<ScanError> {
    let mut scanner = Scanner {
        s: text.as_bytes(),
        lone_surrogate: None,
    };
    match scanner.document() {
        Err((message, pos)) => Some((message.to_owned(), pos)),
        Ok(()) => scanner.lone_surrogate.map(|(pos, unit)| {
            (
                format!("Unpaired surrogate \\u{unit:04x} in string, not allowed"),
                pos,
            )
        }),
    }
}

#[derive(Clone, Copy)]
enum Container {
    Array,
    Object,
}

/// Mirrors CPython 3.11 `_json.c` (`scan_once_unicode`, `_parse_object_unicode`,
/// `_parse_array_unicode`, `scanstring_unicode`, `_match_number_unicode`) and
/// `json.decoder.JSONDecoder.decode`, iteratively. It works on UTF-8 bytes: every check Python
/// makes is against an ASCII character, and where Python compares against the length in code
/// points the outcome is the same message at the same place (worked through in the comments).
struct Scanner<'a> {
    s: &'a [u8],
    /// First `\uXXXX` escape of an unpaired surrogate: (offset of its backslash, code unit).
    lone_surrogate: Option<(usize, u32)>,
}

impl Scanner<'_> {
    fn at(&self, i: usize) -> Option<u8> {
        self.s.get(i).copied()
    }

    fn skip_ws(&self, mut i: usize) -> usize {
        while matches!(self.at(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            i += 1;
        }
        i
    }

    fn has(&self, i: usize, lit: &[u8]) -> bool {
        self.s.get(i..i + lit.len()) == Some(lit)
    }

    /// `JSONDecoder.decode`: whitespace, one value, whitespace, end.
    fn document(&mut self) -> Result<(), (&'static str, usize)> {
        let start = self.skip_ws(0);
        let end = self.value(start)?;
        let end = self.skip_ws(end);
        if end != self.s.len() {
            return Err((EXTRA_DATA, end));
        }
        Ok(())
    }

    /// Scans one value starting at `idx`; returns the offset after it.
    fn value(&mut self, mut idx: usize) -> Result<usize, (&'static str, usize)> {
        let mut stack: Vec<Container> = Vec::new();
        'value: loop {
            match self.at(idx) {
                None => return Err((EXPECTING_VALUE, idx)),
                Some(b'"') => idx = self.string(idx + 1)?,
                Some(b'{') => {
                    idx = self.skip_ws(idx + 1);
                    if self.at(idx) == Some(b'}') {
                        idx += 1;
                    } else {
                        idx = self.key_and_colon(idx)?;
                        stack.push(Container::Object);
                        continue 'value;
                    }
                }
                Some(b'[') => {
                    idx = self.skip_ws(idx + 1);
                    if self.at(idx) == Some(b']') {
                        idx += 1;
                    } else {
                        stack.push(Container::Array);
                        continue 'value;
                    }
                }
                Some(b'n') if self.has(idx, b"null") => idx += 4,
                Some(b't') if self.has(idx, b"true") => idx += 4,
                Some(b'f') if self.has(idx, b"false") => idx += 5,
                // NaN / Infinity / -Infinity are deliberately not recognised: they fall through to
                // the number matcher, which reports "Expecting value" where they start.
                Some(_) => idx = self.number(idx).ok_or((EXPECTING_VALUE, idx))?,
            }
            // A value ended at idx: close containers until one wants another value.
            loop {
                let Some(&container) = stack.last() else {
                    return Ok(idx);
                };
                idx = self.skip_ws(idx);
                let close = match container {
                    Container::Array => b']',
                    Container::Object => b'}',
                };
                if self.at(idx) == Some(close) {
                    idx += 1;
                    stack.pop();
                    continue;
                }
                if self.at(idx) != Some(b',') {
                    return Err((EXPECTING_COMMA, idx));
                }
                idx = self.skip_ws(idx + 1);
                if let Container::Object = container {
                    idx = self.key_and_colon(idx)?;
                }
                continue 'value;
            }
        }
    }

    /// A property name, `:` and the whitespace after it; returns the offset of the value.
    fn key_and_colon(&mut self, idx: usize) -> Result<usize, (&'static str, usize)> {
        if self.at(idx) != Some(b'"') {
            return Err((EXPECTING_PROPERTY, idx));
        }
        let idx = self.string(idx + 1)?;
        let idx = self.skip_ws(idx);
        if self.at(idx) != Some(b':') {
            return Err((EXPECTING_COLON, idx));
        }
        Ok(self.skip_ws(idx + 1))
    }

    /// `_match_number_unicode`: `None` where Python raises StopIteration ("Expecting value").
    fn number(&self, start: usize) -> Option<usize> {
        let digit = |i: usize| matches!(self.at(i), Some(b'0'..=b'9'));
        let mut idx = start;
        if self.at(idx) == Some(b'-') {
            idx += 1;
        }
        match self.at(idx) {
            Some(b'1'..=b'9') => {
                idx += 1;
                while digit(idx) {
                    idx += 1;
                }
            }
            Some(b'0') => idx += 1,
            _ => return None,
        }
        // Python requires a digit after '.', else the number ends before the '.'.
        if self.at(idx) == Some(b'.') && digit(idx + 1) {
            idx += 2;
            while digit(idx) {
                idx += 1;
            }
        }
        // `idx < end_idx` in C: an 'e' must not be the last character; a sign only counts when
        // something follows it; without exponent digits Python backtracks to before the 'e'.
        if matches!(self.at(idx), Some(b'e' | b'E')) && idx + 1 < self.s.len() {
            let e_start = idx;
            idx += 1;
            if matches!(self.at(idx), Some(b'-' | b'+')) && idx + 1 < self.s.len() {
                idx += 1;
            }
            while digit(idx) {
                idx += 1;
            }
            if !digit(idx - 1) {
                idx = e_start;
            }
        }
        Some(idx)
    }

    /// `scanstring_unicode` with `strict=True`; `end` is the offset after the opening quote.
    fn string(&mut self, mut end: usize) -> Result<usize, (&'static str, usize)> {
        let begin = end - 1;
        loop {
            let mut next = end;
            let c = loop {
                match self.at(next) {
                    None => return Err((UNTERMINATED, begin)),
                    Some(c @ (b'"' | b'\\')) => break c,
                    Some(0..=0x1f) => return Err((CONTROL_CHARACTER, next)),
                    Some(_) => next += 1,
                }
            };
            next += 1;
            if c == b'"' {
                return Ok(next);
            }
            let Some(escape) = self.at(next) else {
                return Err((UNTERMINATED, begin));
            };
            if escape != b'u' {
                end = next + 1;
                if !matches!(escape, b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') {
                    return Err((INVALID_ESCAPE, end - 2));
                }
                continue;
            }
            // Python first requires 4 more characters plus one after them, then 4 hex digits;
            // both failures give the same message at the 'u', so one check on bytes serves.
            let u_pos = next;
            let unit = self.hex4(u_pos + 1).filter(|_| u_pos + 5 < self.s.len());
            let Some(unit) = unit else {
                return Err((INVALID_UNICODE_ESCAPE, u_pos));
            };
            end = u_pos + 5;
            match unit {
                0xD800..=0xDBFF => {
                    if self.has(end, b"\\u") {
                        // Python tries to pair only when 7 characters follow; when fewer do, the
                        // rescan of this escape fails at the same 'u' with the same message.
                        let low = self.hex4(end + 2).filter(|_| end + 6 < self.s.len());
                        let Some(low) = low else {
                            return Err((INVALID_UNICODE_ESCAPE, end + 1));
                        };
                        if (0xDC00..=0xDFFF).contains(&low) {
                            end += 6;
                            continue;
                        }
                    }
                    self.note_lone_surrogate(u_pos - 1, unit);
                }
                0xDC00..=0xDFFF => self.note_lone_surrogate(u_pos - 1, unit),
                _ => {}
            }
        }
    }

    fn hex4(&self, i: usize) -> Option<u32> {
        let digits = self.s.get(i..i + 4)?;
        digits
            .iter()
            .try_fold(0u32, |acc, &d| Some(acc * 16 + char::from(d).to_digit(16)?))
    }

    fn note_lone_surrogate(&mut self, pos: usize, unit: u32) {
        if self.lone_surrogate.is_none() {
            self.lone_surrogate = Some((pos, unit));
        }
    }
}

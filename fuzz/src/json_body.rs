//! `json_body`: `pyjson::parse_body` and the three Python-layout writers.
//!
//! Control bytes: 0 = mode (bit 0 set: build a `Value` from the payload and check the writers;
//! clear: parse the payload as a request body), 1 = max_depth (255: 1000, the server's default).
//!
//! Properties of `parse_body`:
//! - never panics, whatever the bytes; refuses bad UTF-8 before anything else, then nesting past
//!   `max_depth` exactly when `check_depth` does; an accepted value is never deeper than that.
//! - an `InvalidJson` error always carries Python's text (`...: line L column C (char P)`): our
//!   CPython scanner found the error serde found. And the scanner finds nothing in what serde
//!   accepts.
//! - what it accepts, written by any of the three writers, parses back to the same value (numbers
//!   compared as Python reads them), and writing that again gives the same bytes.
//!
//! Properties of the writers on arbitrary values: the output is JSON that parses back to the same
//! value, `write_float` round-trips exactly with the shortest digits in Python's layout.

use agentcore_rt::internals::pyjson::{self, BodyError};
use serde_json::{Map, Number, Value};

use super::common::{Input, depth, same_json};

/// Runs every property on one input.
pub fn check(data: &[u8]) {
    let input = Input::new(data);
    let max_depth = match input.byte(1) {
        255 => 1000,
        n => usize::from(n % 64),
    };
    if input.byte(0) & 1 == 0 {
        check_body(input.payload, max_depth);
    } else {
        let mut source = Source(input.payload);
        let value = source.value(0);
        check_writers(&value);
        while let Some(bits) = source.take::<8>() {
            check_float(f64::from_le_bytes(bits));
        }
    }
}

fn check_body(bytes: &[u8], max_depth: usize) {
    let stripped = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(stripped).ok();
    let shallow = pyjson::check_depth(stripped, max_depth).is_ok();
    match pyjson::parse_body(bytes, max_depth) {
        Err(BodyError::InvalidEncoding { details }) => {
            assert!(text.is_none());
            assert!(
                details.starts_with("'utf-8' codec can't decode byte"),
                "{details}"
            );
        }
        Err(BodyError::TooDeep { max_depth: reported }) => {
            assert!(text.is_some() && !shallow);
            assert_eq!(reported, max_depth);
        }
        Err(BodyError::InvalidJson { details }) => {
            let text = text.unwrap();
            assert!(shallow);
            let python = pyjson::python_error(text);
            assert!(
                python.is_some(),
                "serde refused {text:?} but the CPython scanner did not: {details}"
            );
            assert!(details.ends_with(')') && details.contains(": line "), "{details}");
        }
        Ok(value) => {
            let text = text.unwrap();
            assert!(shallow, "accepted nesting past {max_depth}");
            assert!(depth(&value) <= max_depth);
            let python = pyjson::python_error(text);
            assert!(
                python.is_none(),
                "serde accepted {text:?}, the CPython scanner says {python:?}"
            );
            check_reparse(&value, max_depth);
        }
    }
}

/// Each layout parses back to the same value, and writing that again gives the same bytes.
fn check_reparse(value: &Value, max_depth: usize) {
    let writers: [fn(&Value) -> String; 3] = [
        pyjson::to_string,
        pyjson::to_string_compact,
        pyjson::to_string_pretty,
    ];
    for write in writers {
        let text = write(value);
        let back = pyjson::parse_body(text.as_bytes(), max_depth)
            .unwrap_or_else(|e| panic!("our own output {text:?} does not parse: {e}"));
        assert!(
            same_json(value, &back),
            "{value:?} came back as {back:?} from {text:?}"
        );
        assert_eq!(write(&back), text, "not stable after one round trip");
    }
    let mut appended = b"x".to_vec();
    pyjson::write(&mut appended, value);
    assert_eq!(&appended[1..], pyjson::to_string(value).as_bytes());
}

fn check_writers(value: &Value) {
    // Generated values are at most MAX_GEN_DEPTH deep, inside serde's default limit.
    check_reparse(value, MAX_GEN_DEPTH + 1);
    let pretty = pyjson::to_string_pretty(value);
    assert!(!pretty.ends_with('\n'));
    let compact = pyjson::to_string_compact(value);
    let spaced = pyjson::to_string(value);
    // The layouts differ only in whitespace outside strings.
    assert_eq!(strip_layout(&compact), strip_layout(&spaced));
    assert_eq!(strip_layout(&compact), strip_layout(&pretty));
    assert_eq!(strip_layout(&compact), compact);
}

/// Removes whitespace outside string literals.
fn strip_layout(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in s.chars() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if c.is_ascii_whitespace() {
            continue;
        }
        out.push(c);
    }
    out
}

/// `repr(f)`: round-trips exactly, shortest digits, fixed notation for decimal exponents -4..16.
fn check_float(f: f64) {
    if !f.is_finite() {
        return;
    }
    let mut out = Vec::new();
    pyjson::write_float(&mut out, f);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.parse::<f64>().ok(), Some(f), "write_float({f:e}) = {text}");
    let shortest = format!("{f:e}");
    let digits = |s: &str| {
        let mantissa = s.split(['e', 'E']).next().unwrap_or_default();
        mantissa
            .trim_start_matches(['-', '0', '.'])
            .bytes()
            .filter(u8::is_ascii_digit)
            .count()
    };
    let (ours, rust) = (digits(&text), digits(&shortest));
    // Python keeps trailing zeros of an integral fixed-notation value (`100.0`), never more
    // significant digits than the shortest round-trip form.
    if !text.contains('e') && text.ends_with(".0") {
        assert!(digits(text.trim_end_matches(".0").trim_end_matches('0')) <= rust.max(1));
    } else {
        assert_eq!(ours.max(1), rust.max(1), "write_float({f:e}) = {text}");
    }
    let magnitude = f.abs();
    if f == 0.0 || (1e-4..1e16).contains(&magnitude) {
        assert!(
            !text.contains('e') && text.contains('.'),
            "fixed notation expected: {text}"
        );
    } else {
        let (_, exponent) = text
            .split_once('e')
            .unwrap_or_else(|| panic!("exponent expected: {text}"));
        assert!(exponent.starts_with(['+', '-']) && exponent.len() >= 3, "{text}");
    }
}

const MAX_GEN_DEPTH: usize = 24;

/// Builds values from fuzz bytes: every JSON shape, number literals of every form (huge, tiny,
/// `-0`, out of f64 range), strings with control characters and any Unicode.
struct Source<'a>(&'a [u8]);

impl Source<'_> {
    fn byte(&mut self) -> u8 {
        match self.0 {
            [b, rest @ ..] => {
                self.0 = rest;
                *b
            }
            [] => 0,
        }
    }

    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn value(&mut self, level: usize) -> Value {
        let kind = self.byte();
        let container = level < MAX_GEN_DEPTH;
        match kind % 9 {
            0 => Value::Null,
            1 => Value::Bool(kind & 0x10 != 0),
            2 | 3 => self.number(kind),
            4 => match self
                .take::<8>()
                .map(f64::from_le_bytes)
                .and_then(Number::from_f64)
            {
                Some(n) => Value::Number(n),
                None => Value::Null,
            },
            6 if container => {
                let n = usize::from(self.byte() % 6);
                Value::Array((0..n).map(|_| self.value(level + 1)).collect())
            }
            7 if container => {
                let n = usize::from(self.byte() % 6);
                let mut map = Map::new();
                for _ in 0..n {
                    let key = self.string();
                    let item = self.value(level + 1);
                    map.insert(key, item);
                }
                Value::Object(map)
            }
            _ => Value::String(self.string()),
        }
    }

    fn number(&mut self, kind: u8) -> Value {
        let mut literal = String::new();
        if kind & 0x10 != 0 {
            literal.push('-');
        }
        let int_digits = usize::from(self.byte() % 40);
        if int_digits == 0 {
            literal.push('0');
        } else {
            literal.push(char::from(b'1' + self.byte() % 9));
            for _ in 1..int_digits {
                literal.push(char::from(b'0' + self.byte() % 10));
            }
        }
        if kind & 0x20 != 0 {
            literal.push('.');
            for _ in 0..=self.byte() % 20 {
                literal.push(char::from(b'0' + self.byte() % 10));
            }
        }
        if kind & 0x40 != 0 {
            literal.push(if kind & 0x80 != 0 { 'E' } else { 'e' });
            match self.byte() % 3 {
                0 => literal.push('-'),
                1 => literal.push('+'),
                _ => {}
            }
            for _ in 0..=self.byte() % 4 {
                literal.push(char::from(b'0' + self.byte() % 10));
            }
        }
        serde_json::from_str(&literal).unwrap_or_else(|e| panic!("generator made {literal:?}: {e}"))
    }

    fn string(&mut self) -> String {
        let n = usize::from(self.byte() % 12);
        (0..n)
            .map(|_| match self.byte() {
                b @ 0..=0x7f => char::from(b),
                0x80..=0xbf => {
                    char::from_u32(u32::from(self.byte()) << 8 | u32::from(self.byte())).unwrap_or('\u{fffd}')
                }
                _ => {
                    let [a, b, c] = [self.byte(), self.byte(), self.byte()];
                    char::from_u32((u32::from(a) << 16 | u32::from(b) << 8 | u32::from(c)) % 0x11_0000)
                        .unwrap_or('\u{10ffff}')
                }
            })
            .collect()
    }
}

//! JSON exactly as Python's `json` module writes and reports it.
//!
//! The Python SDK answers with two encodings (recorded in
//! `tests/fixtures/vectors/agentcore-observed.json`): handler results and SSE events are `json.dumps(v, ensure_ascii=False)` (`", "` and
//! `": "` separators), SDK-made bodies are Starlette's compact form, and Strands writes session files
//! with `indent=2`. All three keep non-ASCII raw and print floats as Python's `repr(float)` does, which
//! serde_json does not; this module writes them byte for byte.
//!
//! Reading goes through [`parse_body`], which does what `json.loads(request_body)` does in the SDK
//! and reports failures with Python's exact `UnicodeDecodeError` / `JSONDecodeError` text.
//!
//! Numbers are serde_json `arbitrary_precision` literals. Integers are written as Python's `int`
//! repr of the literal (any size; `-0` becomes `0`); any literal with `.`, `e` or `E` is a Python
//! float and is written as `repr(float(literal))` (`1e5` -> `100000.0`, `1e16` -> `1e+16`).
//! A float literal beyond the f64 range (`1e400`) would be `Infinity` in Python, which is not JSON:
//! we write the literal as serde_json keeps it (`1e+400`) instead, so the output stays valid JSON
//! and a Python reader gets the same (infinite) value back. NaN cannot occur: serde_json has no NaN values and [`parse_body`]
//! rejects the `NaN`/`Infinity` literals Python would accept.
//!
//! This module is a leaf: it knows nothing of HTTP or the agent.

mod decode;

pub use decode::{BodyError, BoundedError, from_slice_bounded, parse_body};
#[cfg(any(test, feature = "_fuzz"))]
pub use decode::{ScanError, check_depth, python_error};

use std::io::Write as _;

use serde_json::Value;

/// `json.dumps(v, ensure_ascii=False)`: `", "` and `": "` separators, raw UTF-8, Python floats.
pub fn to_string(v: &Value) -> String {
    finish(|out| write(out, v))
}

/// `json.dumps(v, ensure_ascii=False, separators=(",", ":"))`, as Starlette's `JSONResponse`.
pub fn to_string_compact(v: &Value) -> String {
    finish(|out| write_compact(out, v))
}

/// `json.dumps(v, indent=2, ensure_ascii=False)`, as Strands writes session files (no trailing
/// newline).
pub fn to_string_pretty(v: &Value) -> String {
    finish(|out| write_pretty(out, v))
}

/// Appends the [`to_string`] form of `v` to `out`.
pub fn write(out: &mut Vec<u8>, v: &Value) {
    Writer {
        out,
        style: Style::SPACED,
        level: 0,
    }
    .value(v);
}

/// Appends the [`to_string_compact`] form of `v` to `out`.
pub fn write_compact(out: &mut Vec<u8>, v: &Value) {
    Writer {
        out,
        style: Style::COMPACT,
        level: 0,
    }
    .value(v);
}

/// Appends the [`to_string_pretty`] form of `v` to `out`.
pub fn write_pretty(out: &mut Vec<u8>, v: &Value) {
    Writer {
        out,
        style: Style::PRETTY,
        level: 0,
    }
    .value(v);
}

/// Appends `s` as a JSON string literal, escaped as Python does with `ensure_ascii=False`.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut run_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => &[],
            _ => continue,
        };
        out.extend_from_slice(&bytes[run_start..i]);
        run_start = i + 1;
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]);
        } else {
            out.extend_from_slice(escape);
        }
    }
    out.extend_from_slice(&bytes[run_start..]);
    out.push(b'"');
}

/// Appends a non-negative integer in decimal (also used for HTTP header values).
pub fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends a JSON number literal (serde_json `arbitrary_precision` form) as Python prints the
/// number it parses to.
pub fn write_number(out: &mut Vec<u8>, literal: &str) {
    if literal.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
        match literal.parse::<f64>() {
            Ok(f) if f.is_finite() => write_float(out, f),
            // Out of f64 range: see the module docs.
            _ => out.extend_from_slice(literal.as_bytes()),
        }
    } else if literal == "-0" {
        out.push(b'0');
    } else {
        out.extend_from_slice(literal.as_bytes());
    }
}

/// Appends `repr(f)` for a finite float: the shortest digits that round-trip, fixed notation when
/// the decimal exponent is in `-4..16` (with `.0` on integral values), else `1e+16` / `1.5e-05`.
pub fn write_float(out: &mut Vec<u8>, f: f64) {
    let start = out.len();
    // Rust's `{:e}` gives the shortest round-trip digits, as Python's repr does; only the layout
    // differs, so it is written, read back and rearranged in place.
    let _ = write!(out, "{f:e}");
    let shortest_len = out[start..]
        .iter()
        .take_while(|&&b| b != b'e')
        .filter(|b| b.is_ascii_digit())
        .count();
    // When two strings of that length both round-trip, Python picks the one nearest the exact
    // value, ties to even (`1000000000000000.2`, where Rust says `.3`): that is the correctly
    // rounded one. Up to 15 digits (DBL_DIG) only one string of a length can round-trip.
    if shortest_len >= 16 {
        let shortest_end = out.len();
        let _ = write!(out, "{f:.*e}", shortest_len - 1);
        let nearest = &out[shortest_end..];
        let round_trips = std::str::from_utf8(nearest)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            == Some(f);
        if round_trips && nearest != &out[start..shortest_end] {
            out.copy_within(shortest_end.., start);
            out.truncate(out.len() - (shortest_end - start));
        } else {
            out.truncate(shortest_end);
        }
    }
    let mut digits = [0u8; 32];
    let mut ndigits = 0;
    let mut negative = false;
    let mut exponent: i32 = 0;
    let mut exp_negative = false;
    let mut in_exponent = false;
    for &b in &out[start..] {
        match b {
            b'-' if in_exponent => exp_negative = true,
            b'-' => negative = true,
            b'e' => in_exponent = true,
            b'0'..=b'9' if in_exponent => exponent = exponent * 10 + i32::from(b - b'0'),
            b'0'..=b'9' if ndigits < digits.len() => {
                digits[ndigits] = b;
                ndigits += 1;
            }
            _ => {}
        }
    }
    if exp_negative {
        exponent = -exponent;
    }
    out.truncate(start);
    let digits = &digits[..ndigits.max(1)];
    if negative {
        out.push(b'-');
    }
    // Python's decpt: the value is 0.DIGITS * 10**decpt.
    let decpt = exponent + 1;
    let n = digits.len() as i32;
    if (-3..=16).contains(&decpt) {
        if decpt <= 0 {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(b'0', (-decpt) as usize));
            out.extend_from_slice(digits);
        } else if decpt >= n {
            out.extend_from_slice(digits);
            out.extend(std::iter::repeat_n(b'0', (decpt - n) as usize));
            out.extend_from_slice(b".0");
        } else {
            let (int_part, frac_part) = digits.split_at(decpt as usize);
            out.extend_from_slice(int_part);
            out.push(b'.');
            out.extend_from_slice(frac_part);
        }
    } else {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exponent < 0 { b'-' } else { b'+' });
        let _ = write!(out, "{:02}", exponent.unsigned_abs());
    }
}

fn finish(fill: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut out = Vec::with_capacity(128);
    fill(&mut out);
    // Only whole UTF-8 strings and ASCII are ever written, so this never takes the lossy path.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Separators and indentation of one of Python's layouts.
#[derive(Clone, Copy)]
struct Style {
    item_sep: &'static [u8],
    key_sep: &'static [u8],
    indent: Option<usize>,
}

impl Style {
    const SPACED: Style = Style {
        item_sep: b", ",
        key_sep: b": ",
        indent: None,
    };
    const COMPACT: Style = Style {
        item_sep: b",",
        key_sep: b":",
        indent: None,
    };
    // With `indent`, Python's default item separator loses its trailing space.
    const PRETTY: Style = Style {
        item_sep: b",",
        key_sep: b": ",
        indent: Some(2),
    };
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
    style: Style,
    level: usize,
}

impl Writer<'_> {
    fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.out.extend_from_slice(b"null"),
            Value::Bool(true) => self.out.extend_from_slice(b"true"),
            Value::Bool(false) => self.out.extend_from_slice(b"false"),
            Value::Number(n) => write_number(self.out, n.as_str()),
            Value::String(s) => write_str(self.out, s),
            Value::Array(items) => {
                if items.is_empty() {
                    self.out.extend_from_slice(b"[]");
                    return;
                }
                self.out.push(b'[');
                self.level += 1;
                for (i, item) in items.iter().enumerate() {
                    self.separator(i);
                    self.value(item);
                }
                self.level -= 1;
                self.newline();
                self.out.push(b']');
            }
            Value::Object(map) => {
                if map.is_empty() {
                    self.out.extend_from_slice(b"{}");
                    return;
                }
                self.out.push(b'{');
                self.level += 1;
                for (i, (key, item)) in map.iter().enumerate() {
                    self.separator(i);
                    write_str(self.out, key);
                    self.out.extend_from_slice(self.style.key_sep);
                    self.value(item);
                }
                self.level -= 1;
                self.newline();
                self.out.push(b'}');
            }
        }
    }

    fn separator(&mut self, index: usize) {
        if index > 0 {
            self.out.extend_from_slice(self.style.item_sep);
        }
        self.newline();
    }

    fn newline(&mut self) {
        if let Some(width) = self.style.indent {
            self.out.push(b'\n');
            self.out.extend(std::iter::repeat_n(b' ', width * self.level));
        }
    }
}

#[cfg(test)]
mod tests;

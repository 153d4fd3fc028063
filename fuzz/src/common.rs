//! Helpers shared by the checks: control bytes, deterministic chunkings, JSON comparison.

use serde_json::Value;

/// A fuzz input split into control bytes and payload. Short inputs get zero control bytes.
pub struct Input<'a> {
    ctrl: [u8; CTRL_LEN],
    /// The bytes under test.
    pub payload: &'a [u8],
}

/// Every target reads this many control bytes (unused ones are simply ignored).
pub const CTRL_LEN: usize = 8;

impl<'a> Input<'a> {
    /// Splits `data` into `CTRL_LEN` control bytes and the payload.
    pub fn new(data: &'a [u8]) -> Self {
        let mut ctrl = [0u8; CTRL_LEN];
        let n = data.len().min(CTRL_LEN);
        ctrl[..n].copy_from_slice(&data[..n]);
        Input {
            ctrl,
            payload: &data[n..],
        }
    }

    /// Control byte `i`.
    pub fn byte(&self, i: usize) -> u8 {
        self.ctrl[i]
    }

    /// Control bytes `i` and `i + 1` as a little-endian u16.
    pub fn u16(&self, i: usize) -> u16 {
        u16::from_le_bytes([self.ctrl[i], self.ctrl[i + 1]])
    }

    /// A generator seeded from control bytes 4..8 (the chunking seed).
    pub fn rng(&self) -> Rng {
        Rng(u64::from(u32::from_le_bytes([
            self.ctrl[4],
            self.ctrl[5],
            self.ctrl[6],
            self.ctrl[7],
        ])))
    }
}

/// splitmix64: small, deterministic, good enough to pick chunk boundaries.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`0` when `n == 0`).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// The ways a payload is cut for the split-invariance checks: whole, byte by byte, and random
/// pieces (mostly small, sometimes large, sometimes empty).
pub fn chunkings<'a>(payload: &'a [u8], rng: &mut Rng) -> Vec<Vec<&'a [u8]>> {
    let whole = vec![payload];
    let bytewise = payload.chunks(1).collect();
    let mut random = Vec::new();
    let mut rest = payload;
    while !rest.is_empty() {
        let len = match rng.below(8) {
            0 => 0,
            1 => rng.below(rest.len() + 1),
            _ => 1 + rng.below(8),
        }
        .min(rest.len());
        let (piece, tail) = rest.split_at(len);
        random.push(piece);
        rest = tail;
    }
    vec![whole, bytewise, random]
}

/// Whether a serde_json number literal is a Python float (has `.`, `e` or `E`).
pub fn is_float_literal(literal: &str) -> bool {
    literal.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'))
}

/// Equality of JSON values where numbers compare as Python reads them: integers by their digits
/// (`-0` == `0`), floats by the f64 they parse to (`1e5` == `100000.0`, `1e400` == `1e+400`).
/// Key order matters, as it does for our writers.
pub fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => same_number(x.as_str(), y.as_str()),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka == kb && same_json(va, vb))
        }
        _ => a == b,
    }
}

fn same_number(a: &str, b: &str) -> bool {
    match (is_float_literal(a), is_float_literal(b)) {
        (false, false) => {
            let norm = |s: &str| if s == "-0" { "0".to_string() } else { s.to_string() };
            norm(a) == norm(b)
        }
        (true, true) => match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(x), Ok(y)) => x == y || (x.is_nan() && y.is_nan()),
            _ => false,
        },
        _ => false,
    }
}

/// Nesting depth of arrays and objects (a scalar is 0), without recursion.
pub fn depth(v: &Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        match v {
            Value::Array(items) => {
                max = max.max(d + 1);
                stack.extend(items.iter().map(|i| (i, d + 1)));
            }
            Value::Object(map) => {
                max = max.max(d + 1);
                stack.extend(map.values().map(|i| (i, d + 1)));
            }
            _ => {}
        }
    }
    max
}

/// Parses JSON as the runtime's readers do (serde's default recursion limit of 128).
pub fn json(bytes: &[u8]) -> Option<Value> {
    serde_json::from_slice(bytes).ok()
}

/// Parses JSON without serde's recursion limit; only for input whose nesting is already bounded.
pub fn json_unbounded(bytes: &[u8]) -> Option<Value> {
    use serde::Deserialize as _;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.disable_recursion_limit();
    Value::deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .ok()
}

/// Whether any line of `bytes` (ended by `\n`, `\r` or the end) is longer than `max`: a
/// line-buffering decoder must refuse such input rather than buffer it.
pub fn has_line_longer_than(bytes: &[u8], max: usize) -> bool {
    bytes
        .split(|&b| b == b'\n' || b == b'\r')
        .any(|line| line.len() > max)
}

/// Deserializes `T` from JSON text without serde's recursion limit (the runtime bounds nesting
/// before parsing). From text, never from a `Value`: serde_json's `Value` deserializer turns huge
/// integer literals into floats.
pub fn from_text<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let value = T::deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

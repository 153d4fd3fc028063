//! Exact decimal numbers for JSON Schema's numeric keywords: JSON number literals compared and
//! divided as decimals, not as floats, so `1.0` is an integer, `0.3` is a multiple of `0.1` and
//! integers past 2^53 keep their order.

use std::cmp::Ordering;

use serde_json::Value;

/// JSON equality with numbers compared by value (`1`, `1.0` and `1e0` are equal).
pub(super) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => match (Decimal::of(a), Decimal::of(b)) {
            (Some(x), Some(y)) => x.cmp(&y) == Ordering::Equal,
            _ => false,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// An exact decimal read from a JSON number literal: `sign * 0.DIGITS * 10^exponent`, with no
/// leading or trailing zeros in `digits` (zero has no digits and sign 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Decimal {
    sign: i8,
    digits: Vec<u8>,
    exponent: i64,
}

impl Decimal {
    pub(super) fn of(value: &Value) -> Option<Decimal> {
        match value {
            Value::Number(n) => Decimal::parse(n.as_str()),
            _ => None,
        }
    }

    fn parse(literal: &str) -> Option<Decimal> {
        let (negative, body) = match literal.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, literal.strip_prefix('+').unwrap_or(literal)),
        };
        let (mantissa, exp_text) = match body.find(['e', 'E']) {
            Some(at) => (&body[..at], Some(&body[at + 1..])),
            None => (body, None),
        };
        // Exponents beyond i64 only occur in absurd literals; saturating keeps the order right.
        let exp: i64 = match exp_text {
            None => 0,
            Some(t) => t.parse().unwrap_or(if t.starts_with('-') {
                i64::MIN / 4
            } else {
                i64::MAX / 4
            }),
        };
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if !int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let mut digits: Vec<u8> = int_part
            .bytes()
            .chain(frac_part.bytes())
            .map(|b| b - b'0')
            .collect();
        let mut point = int_part.len() as i64;
        let leading = digits.iter().take_while(|&&d| d == 0).count();
        digits.drain(..leading);
        point -= leading as i64;
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            return Some(Decimal {
                sign: 0,
                digits,
                exponent: 0,
            });
        }
        Some(Decimal {
            sign: if negative { -1 } else { 1 },
            digits,
            exponent: point.saturating_add(exp),
        })
    }

    pub(super) fn is_positive(&self) -> bool {
        self.sign > 0
    }

    pub(super) fn is_integer(&self) -> bool {
        self.sign == 0 || self.exponent >= self.digits.len() as i64
    }

    fn cmp_magnitude(&self, other: &Decimal) -> Ordering {
        self.exponent
            .cmp(&other.exponent)
            .then_with(|| self.digits.cmp(&other.digits))
    }

    pub(super) fn cmp(&self, other: &Decimal) -> Ordering {
        match self.sign.cmp(&other.sign) {
            Ordering::Equal if self.sign == 0 => Ordering::Equal,
            Ordering::Equal if self.sign > 0 => self.cmp_magnitude(other),
            Ordering::Equal => other.cmp_magnitude(self),
            unequal => unequal,
        }
    }

    /// Exact when both fit in 38 digits once scaled to integers; otherwise by f64 division.
    pub(super) fn is_multiple_of(&self, divisor: &Decimal) -> bool {
        if self.sign == 0 {
            return true;
        }
        let scale = |d: &Decimal, shift: i64| -> Option<u128> {
            // d = 0.DIGITS * 10^exponent; as an integer times 10^-shift.
            let zeros = d.exponent + shift - d.digits.len() as i64;
            if zeros < 0 || zeros + d.digits.len() as i64 > 38 {
                return None;
            }
            let mut n: u128 = 0;
            for &digit in &d.digits {
                n = n * 10 + u128::from(digit);
            }
            n.checked_mul(10u128.checked_pow(u32::try_from(zeros).ok()?)?)
        };
        let frac_digits = |d: &Decimal| (d.digits.len() as i64 - d.exponent).max(0);
        let shift = frac_digits(self).max(frac_digits(divisor));
        if let (Some(a), Some(m)) = (scale(self, shift), scale(divisor, shift))
            && m != 0
        {
            return a % m == 0;
        }
        let to_f64 = |d: &Decimal| {
            let digits: String = d.digits.iter().map(|&x| char::from(b'0' + x)).collect();
            format!("0.{digits}e{}", d.exponent)
                .parse::<f64>()
                .unwrap_or(f64::NAN)
        };
        let quotient = to_f64(self) / to_f64(divisor);
        quotient.is_finite() && quotient.fract() == 0.0
    }
}

//! Kubernetes quantities (`500m`, `1.5Gi`, `129e6`) parsed and compared exactly, without floats.

use num_bigint::BigInt;
use std::cmp::Ordering;

/// A parsed quantity with the text it was written as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity {
    value: Value,
    text: String,
}

/// An exact quantity value: `digits * 10^exp10 * 2^exp2`, held as an i128 count of
/// nano-units when that is exact (nearly always), else as a big integer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Value × 10^9, exactly.
    Nanos(i128),
    /// `mantissa * 10^exp10 * 2^exp2`.
    Big {
        /// Signed digits.
        mantissa: BigInt,
        /// Power of ten.
        exp10: i32,
        /// Power of two.
        exp2: i32,
    },
}

/// Why a string is not a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// Empty string.
    #[error("empty quantity")]
    Empty,
    /// Does not follow the grammar.
    #[error("{0:?} is not a valid Kubernetes quantity")]
    Syntax(String),
    /// Exponent too large to be meaningful.
    #[error("{0:?}: exponent out of range")]
    Range(String),
}

const MAX_EXP: i32 = 60;

impl Quantity {
    /// Parses Kubernetes' quantity syntax (signed decimal number, then a binary-SI, decimal-SI or exponent suffix).
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        Ok(Quantity { value: Value::parse(s)?, text: s.trim().to_string() })
    }

    /// A quantity whose exact value is known: `nanos` is the value × 10^9.
    pub fn from_nanos(text: &str, nanos: i128) -> Quantity {
        Quantity { value: Value::Nanos(nanos), text: text.to_string() }
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The exact value.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// True when below zero.
    pub fn is_negative(&self) -> bool {
        self.value.is_negative()
    }
}

fn nanos(digits: &[u8], negative: bool, exp10: i32, exp2: i32) -> Option<i128> {
    let mut v: i128 = 0;
    for d in digits {
        v = v.checked_mul(10)?.checked_add((d - b'0') as i128)?;
    }
    let e = exp10 + 9;
    if e >= 0 {
        v = v.checked_mul(10i128.checked_pow(e as u32)?)?;
    } else {
        let div = 10i128.checked_pow((-e) as u32)?;
        if v % div != 0 {
            return None;
        }
        v /= div;
    }
    v = v.checked_mul(1i128.checked_shl(exp2 as u32)?)?;
    Some(if negative { -v } else { v })
}

impl Value {
    /// Parses without allocating in the common case.
    pub fn parse(s: &str) -> Result<Value, QuantityError> {
        let text = s.trim();
        if text.is_empty() {
            return Err(QuantityError::Empty);
        }
        let syntax = || QuantityError::Syntax(s.to_string());
        let bytes = text.as_bytes();
        let mut i = 0;
        let negative = match bytes[0] {
            b'+' => {
                i = 1;
                false
            }
            b'-' => {
                i = 1;
                true
            }
            _ => false,
        };
        let start = i;
        let mut digit_buf = [0u8; 64];
        let mut n_digits = 0usize;
        let mut frac_len: i32 = 0;
        let mut seen_dot = false;
        while i < bytes.len() {
            match bytes[i] {
                b'0'..=b'9' => {
                    if n_digits == digit_buf.len() {
                        return Err(QuantityError::Range(s.to_string()));
                    }
                    digit_buf[n_digits] = bytes[i];
                    n_digits += 1;
                    if seen_dot {
                        frac_len += 1;
                    }
                }
                b'.' if !seen_dot => seen_dot = true,
                _ => break,
            }
            i += 1;
        }
        let digits = &digit_buf[..n_digits];
        if digits.is_empty() || i == start {
            return Err(syntax());
        }
        if frac_len > MAX_EXP {
            return Err(QuantityError::Range(s.to_string()));
        }
        let suffix = &text[i..];
        let (mut exp10, exp2) = match suffix {
            "" => (0, 0),
            "n" => (-9, 0),
            "u" => (-6, 0),
            "m" => (-3, 0),
            "k" => (3, 0),
            "M" => (6, 0),
            "G" => (9, 0),
            "T" => (12, 0),
            "P" => (15, 0),
            "E" => (18, 0),
            "Ki" => (0, 10),
            "Mi" => (0, 20),
            "Gi" => (0, 30),
            "Ti" => (0, 40),
            "Pi" => (0, 50),
            "Ei" => (0, 60),
            _ => {
                let rest = suffix.strip_prefix(['e', 'E']).ok_or_else(syntax)?;
                let body = rest.strip_prefix(['+', '-']).unwrap_or(rest);
                if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(syntax());
                }
                let e: i64 = body.parse().map_err(|_| QuantityError::Range(s.to_string()))?;
                if e > MAX_EXP as i64 {
                    return Err(QuantityError::Range(s.to_string()));
                }
                let e = e as i32;
                (if rest.starts_with('-') { -e } else { e }, 0)
            }
        };
        exp10 -= frac_len;
        if let Some(n) = nanos(digits, negative, exp10, exp2) {
            return Ok(Value::Nanos(n));
        }
        let digits = std::str::from_utf8(digits).map_err(|_| syntax())?;
        let mut mantissa: BigInt = digits.parse().map_err(|_| syntax())?;
        if negative {
            mantissa = -mantissa;
        }
        Ok(Value::Big { mantissa, exp10, exp2 })
    }

    /// True when below zero.
    pub fn is_negative(&self) -> bool {
        match self {
            Value::Nanos(n) => *n < 0,
            Value::Big { mantissa, .. } => mantissa.sign() == num_bigint::Sign::Minus,
        }
    }

    fn parts(&self) -> (BigInt, i32, i32) {
        match self {
            Value::Nanos(n) => (BigInt::from(*n), -9, 0),
            Value::Big { mantissa, exp10, exp2 } => (mantissa.clone(), *exp10, *exp2),
        }
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Self) -> Ordering {
        if let (Value::Nanos(a), Value::Nanos(b)) = (self, other) {
            return a.cmp(b);
        }
        let ((ma, ea10, ea2), (mb, eb10, eb2)) = (self.parts(), other.parts());
        let (min10, min2) = (ea10.min(eb10), ea2.min(eb2));
        let scale =
            |m: BigInt, e10: i32, e2: i32| m * BigInt::from(10u8).pow((e10 - min10) as u32) * BigInt::from(2u8).pow((e2 - min2) as u32);
        scale(ma, ea10, ea2).cmp(&scale(mb, eb10, eb2))
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.value.cmp(&other.value)
    }
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn equal_spellings_compare_equal() {
        for (a, b) in [
            ("500m", "0.5"),
            ("1e3", "1k"),
            ("1k", "1000"),
            ("1Ki", "1024"),
            ("129e6", "129M"),
            ("128974848", "123Mi"),
            ("2", "2000m"),
            (".5", "500m"),
            ("1.", "1"),
            ("64Gi", "68719476736"),
            ("1E", "1e18"),
            ("100n", "0.1u"),
            ("+1", "1"),
            ("1e+3", "1000"),
            ("1e-3", "1m"),
        ] {
            assert_eq!(q(a).cmp(&q(b)), Ordering::Equal, "{a} vs {b}");
        }
    }

    #[test]
    fn orders_exactly_without_float_rounding() {
        assert!(q("32") < q("32001m"));
        assert!(q("32.000000000000000001") > q("32"));
        assert!(q("1Mi") > q("1M"));
        assert!(q("999999999999999999999") < q("1e21"));
        assert!(q("-1") < q("0"));
        assert!(q("-1").is_negative());
    }

    #[test]
    fn rejects_bad_syntax() {
        for s in ["", "abc", "1.2.3", "1KB", "1 Gi", "Gi", "1e", "1e1.5", "-", ".", "1kk", "1K", "0x10"] {
            assert!(Quantity::parse(s).is_err(), "{s:?} parsed");
        }
        assert!(matches!(Quantity::parse("1e999999"), Err(QuantityError::Range(_))));
    }

    #[test]
    fn known_quantities_equal_their_parsed_text() {
        assert_eq!(Quantity::from_nanos("32", 32_000_000_000), q("32"));
        assert_eq!(Quantity::from_nanos("64Gi", 64 * (1 << 30) * 1_000_000_000), q("64Gi"));
    }

    #[test]
    fn fast_and_big_representations_agree() {
        // Sub-nano fractions and huge values take the big-integer path; comparisons still mix.
        assert!(matches!(q("1").value(), Value::Nanos(1_000_000_000)));
        assert!(matches!(q("0.0000000001").value(), Value::Big { .. }));
        assert!(matches!(q("1e40").value(), Value::Big { .. }));
        assert!(q("0.0000000001") < q("1n"));
        assert!(q("0.0000000001") > q("0"));
        assert!(q("1e40") > q("8Ei"));
        assert_eq!(q("1.0000000000").cmp(&q("1")), Ordering::Equal);
    }
}

//! Kubernetes quantities (`500m`, `1.5Gi`, `129e6`) parsed and compared exactly, without floats.

use num_bigint::BigInt;
use std::cmp::Ordering;

/// A parsed quantity: `mantissa * 10^exp10 * 2^exp2`, exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity {
    mantissa: BigInt,
    exp10: i32,
    exp2: i32,
    text: String,
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
        let mut digits = String::new();
        let mut frac_len: i32 = 0;
        let mut seen_dot = false;
        while i < bytes.len() {
            match bytes[i] {
                b'0'..=b'9' => {
                    digits.push(bytes[i] as char);
                    if seen_dot {
                        frac_len += 1;
                    }
                }
                b'.' if !seen_dot => seen_dot = true,
                _ => break,
            }
            i += 1;
        }
        if digits.is_empty() || i == start {
            return Err(syntax());
        }
        if frac_len > MAX_EXP || digits.len() > 64 {
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
        let mut mantissa: BigInt = digits.parse().map_err(|_| syntax())?;
        if negative {
            mantissa = -mantissa;
        }
        Ok(Quantity { mantissa, exp10, exp2, text: text.to_string() })
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when below zero.
    pub fn is_negative(&self) -> bool {
        self.mantissa.sign() == num_bigint::Sign::Minus
    }

    fn scaled(&self, min10: i32, min2: i32) -> BigInt {
        let ten = BigInt::from(10u8).pow((self.exp10 - min10) as u32);
        let two = BigInt::from(2u8).pow((self.exp2 - min2) as u32);
        &self.mantissa * ten * two
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        let min10 = self.exp10.min(other.exp10);
        let min2 = self.exp2.min(other.exp2);
        self.scaled(min10, min2).cmp(&other.scaled(min10, min2))
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
}

//! Rounding helpers reproducing Python `round()` (half-to-even on the decimal value), PostgreSQL
//! `numeric(p,s)` writes / `ROUND` (half away from zero) and `int()` truncation.
//!
//! Rounding to a number of decimals works on the *shortest decimal representation* of the `f64`
//! (what Python's `Decimal(str(x))` would see), because the reference mostly rounds `Decimal`
//! values coming from `numeric` columns. For `ndigits = 0` that is identical to rounding the exact
//! binary value, since `.5` ties are exactly representable.

/// How ties (an exact `5` after the last kept digit) are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundingMode {
    /// Banker's rounding, Python `round()`.
    HalfEven,
    /// Away from zero on ties, PostgreSQL `ROUND` and `numeric(p,s)` writes.
    HalfAwayFromZero,
}

/// Python `round(x)` → nearest integer, ties to even (`round(2.5) == 2`, `round(3.5) == 4`).
pub fn round_half_even(x: f64) -> f64 {
    x.round_ties_even()
}

/// Python `round(x, ndigits)` applied to the decimal value of `x` (ties to even).
pub fn round_half_even_to(x: f64, ndigits: u32) -> f64 {
    round_decimal(x, ndigits, RoundingMode::HalfEven)
}

/// PostgreSQL `ROUND(x, ndigits)` / `numeric(p, ndigits)` write rounding (ties away from zero).
pub fn round_half_away_to(x: f64, ndigits: u32) -> f64 {
    round_decimal(x, ndigits, RoundingMode::HalfAwayFromZero)
}

/// Python `int(round(x))`, saturating on overflow and mapping NaN to 0.
pub fn round_half_even_i64(x: f64) -> i64 {
    round_half_even(x) as i64
}

/// Python `int(x)`: truncation toward zero (saturating, NaN → 0).
pub fn trunc_i64(x: f64) -> i64 {
    x.trunc() as i64
}

/// PostgreSQL implicit cast of a non-integer into an `int` column: ties away from zero.
pub fn round_half_away_i64(x: f64) -> i64 {
    x.round() as i64
}

/// Rounds the shortest decimal representation of `x` to `ndigits` decimals with `mode`.
/// Non-finite inputs are returned unchanged.
pub fn round_decimal(x: f64, ndigits: u32, mode: RoundingMode) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let text = format!("{x}");
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let (int_part, frac_part) = body.split_once('.').unwrap_or((body, ""));
    let keep = ndigits as usize;
    if frac_part.len() <= keep {
        return x;
    }
    let mut digits: Vec<u8> = int_part
        .bytes()
        .chain(frac_part.bytes().take(keep))
        .map(|b| b - b'0')
        .collect();
    let rest = frac_part.as_bytes().get(keep..).unwrap_or_default();
    if should_round_up(&digits, rest, mode) {
        increment(&mut digits);
    }
    let magnitude = digits_to_f64(&digits, keep);
    if negative { -magnitude } else { magnitude }
}

fn should_round_up(kept: &[u8], rest: &[u8], mode: RoundingMode) -> bool {
    let first = rest.first().map_or(0, |b| b - b'0');
    let tail_nonzero = rest.iter().skip(1).any(|&b| b != b'0');
    match first.cmp(&5) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal if tail_nonzero => true,
        std::cmp::Ordering::Equal => match mode {
            RoundingMode::HalfAwayFromZero => true,
            RoundingMode::HalfEven => kept.last().is_some_and(|d| d % 2 == 1),
        },
    }
}

fn increment(digits: &mut Vec<u8>) {
    for d in digits.iter_mut().rev() {
        if *d == 9 {
            *d = 0;
        } else {
            *d += 1;
            return;
        }
    }
    digits.insert(0, 1);
}

fn digits_to_f64(digits: &[u8], decimals: usize) -> f64 {
    let split = digits.len() - decimals;
    let mut s = String::with_capacity(digits.len() + 1);
    for (i, d) in digits.iter().enumerate() {
        if i == split {
            s.push('.');
        }
        s.push(char::from(b'0' + d));
    }
    if split == 0 {
        s.insert(0, '0');
    }
    s.parse::<f64>().unwrap_or(0.0)
}

/// Returns true when `|x|` fits a PostgreSQL `numeric(precision, scale)` column after rounding.
pub fn fits_numeric(x: f64, precision: u32, scale: u32) -> bool {
    if !x.is_finite() {
        return false;
    }
    let rounded = round_half_away_to(x, scale).abs();
    let limit = 10f64.powi((precision - scale) as i32);
    rounded < limit
}

/// Arithmetic mean, `None` for an empty slice.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        None
    } else {
        Some(values.iter().sum::<f64>() / values.len() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_even_integer() {
        assert_eq!(round_half_even(2.5), 2.0);
        assert_eq!(round_half_even(3.5), 4.0);
        assert_eq!(round_half_even(-2.5), -2.0);
        assert_eq!(round_half_even(72.4), 72.0);
        assert_eq!(round_half_even_i64(77.5), 78);
        assert_eq!(round_half_even_i64(76.5), 76);
    }

    #[test]
    fn half_even_decimals_use_decimal_value() {
        // Decimal("45.45") rounds to 45.4 (tie → even) although the binary value is above the tie.
        assert_eq!(round_half_even_to(45.45, 1), 45.4);
        assert_eq!(round_half_even_to(45.35, 1), 45.4);
        assert_eq!(round_half_even_to(45.351, 1), 45.4);
        assert_eq!(round_half_even_to(22.857142857, 1), 22.9);
        assert_eq!(round_half_even_to(-0.25, 1), -0.2);
    }

    #[test]
    fn half_away_decimals() {
        assert_eq!(round_half_away_to(6.111 * 18.0182, 3), 110.109);
        assert_eq!(round_half_away_to(0.0005, 3), 0.001);
        assert_eq!(round_half_away_to(-0.0005, 3), -0.001);
        assert_eq!(round_half_away_to(9.9995, 3), 10.0);
        assert_eq!(round_half_away_to(99.9995, 3), 100.0);
        assert_eq!(round_half_away_to(0.304 * 100.0, 3), 30.4);
        assert_eq!(round_half_away_i64(77.5), 78);
    }

    #[test]
    fn numeric_overflow() {
        assert!(fits_numeric(9_999_999.999, 10, 3));
        assert!(!fits_numeric(10_000_000.0, 10, 3));
        assert!(!fits_numeric(9_999_999.999_6, 10, 3));
        assert!(fits_numeric(999.99, 5, 2));
        assert!(!fits_numeric(1000.0, 5, 2));
        assert!(!fits_numeric(f64::NAN, 10, 3));
    }

    #[test]
    fn truncation() {
        assert_eq!(trunc_i64(3.99), 3);
        assert_eq!(trunc_i64(-3.99), -3);
        assert_eq!(mean(&[]), None);
        assert_eq!(mean(&[1.0, 2.0]), Some(1.5));
    }
}

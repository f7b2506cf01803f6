//! Human durations ("10ms", "1.5ms") and rates ("100mbit") as tc writes them.
//!
//! Durations: a decimal number and one of `ns`, `us`, `ms`, `s`; a bare `0`
//! is accepted (a window at offset 0 reads better as `0:3ms`). A bare number
//! is otherwise refused: tc reads it as microseconds, which is a trap.
//!
//! Rates, like tc: `bit`, `kbit`, `mbit`, `gbit`, `tbit` are bits per second,
//! `bps`, `kbps`, `mbps`, `gbps`, `tbps` are bytes per second; k/m/g/t are
//! powers of 1000. The result is bytes/s (what TCA_TDMA_RATE carries).

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum UnitError {
    #[error("invalid duration {0:?}: expected a number and ns, us, ms or s, e.g. 250us or 1.5ms")]
    Duration(String),
    #[error(
        "invalid rate {0:?}: expected a number and bit, kbit, mbit, gbit (bits/s) or bps, kbps, mbps, gbps (bytes/s), e.g. 100mbit"
    )]
    Rate(String),
    #[error("{0:?} is not a whole number of {1}")]
    NotWhole(String, &'static str),
    #[error("{0:?} is too large")]
    TooLarge(String),
}

const DURATION_UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
];

/// Bits per second per unit; the bool says the unit counts bytes.
const RATE_UNITS: &[(&str, u64, bool)] = &[
    ("bit", 1, false),
    ("kbit", 1_000, false),
    ("mbit", 1_000_000, false),
    ("gbit", 1_000_000_000, false),
    ("tbit", 1_000_000_000_000, false),
    ("bps", 1, true),
    ("kbps", 1_000, true),
    ("mbps", 1_000_000, true),
    ("gbps", 1_000_000_000, true),
    ("tbps", 1_000_000_000_000, true),
];

/// Nanoseconds in `s`.
pub fn parse_duration(s: &str) -> Result<u64, UnitError> {
    let t = s.trim();
    if t == "0" {
        return Ok(0);
    }
    let (number, unit) = split_unit(t).ok_or_else(|| UnitError::Duration(s.into()))?;
    let &(_, scale) = DURATION_UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .ok_or_else(|| UnitError::Duration(s.into()))?;
    scaled(number, scale, s, "nanoseconds")?.ok_or_else(|| UnitError::Duration(s.into()))
}

/// The largest unit the value reaches, with only the decimals it needs, so
/// that `parse_duration(&format_duration(x)) == x`.
pub fn format_duration(ns: u64) -> String {
    if ns == 0 {
        return "0".into();
    }
    let &(unit, scale) = DURATION_UNITS
        .iter()
        .rev()
        .find(|(_, scale)| ns >= *scale)
        .expect("ns unit divides everything");
    decimal(ns, scale, unit)
}

/// Bytes per second in `s`.
pub fn parse_rate(s: &str) -> Result<u64, UnitError> {
    let t = s.trim().to_ascii_lowercase();
    let (number, unit) = split_unit(&t).ok_or_else(|| UnitError::Rate(s.into()))?;
    let &(_, scale, bytes) = RATE_UNITS
        .iter()
        .find(|(name, _, _)| *name == unit)
        .ok_or_else(|| UnitError::Rate(s.into()))?;
    if bytes {
        return scaled(number, scale, s, "bytes/s")?.ok_or_else(|| UnitError::Rate(s.into()));
    }
    let bits = scaled(number, scale, s, "bits/s")?.ok_or_else(|| UnitError::Rate(s.into()))?;
    if !bits.is_multiple_of(8) {
        return Err(UnitError::NotWhole(s.into(), "bytes/s"));
    }
    Ok(bits / 8)
}

/// In bits per second, the way tc prints rates: 12_500_000 -> "100mbit".
pub fn format_rate(bytes_per_sec: u64) -> String {
    let bits = bytes_per_sec.saturating_mul(8);
    let &(unit, scale, _) = RATE_UNITS[..5]
        .iter()
        .rev()
        .find(|(_, scale, _)| bits >= *scale)
        .unwrap_or(&RATE_UNITS[0]);
    decimal(bits, scale, unit)
}

/// Splits "1.5ms" into ("1.5", "ms").
fn split_unit(s: &str) -> Option<(&str, &str)> {
    let at = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = s.split_at(at);
    (!number.is_empty()).then_some((number, unit))
}

/// `number * scale` computed exactly from its decimal digits; None if
/// `number` is malformed.
fn scaled(
    number: &str,
    scale: u64,
    input: &str,
    what: &'static str,
) -> Result<Option<u64>, UnitError> {
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits_ok = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits_ok(int) || !digits_ok(frac) {
        return Ok(None);
    }
    let too_large = || UnitError::TooLarge(input.into());
    let int: u128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| too_large())?
    };
    let frac_den = 10u128
        .checked_pow(u32::try_from(frac.len()).map_err(|_| too_large())?)
        .ok_or_else(too_large)?;
    let frac_num: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| too_large())?
    };
    let frac_scaled = frac_num * u128::from(scale);
    if !frac_scaled.is_multiple_of(frac_den) {
        return Err(UnitError::NotWhole(input.into(), what));
    }
    let total = int
        .checked_mul(u128::from(scale))
        .and_then(|v| v.checked_add(frac_scaled / frac_den))
        .ok_or_else(too_large)?;
    u64::try_from(total).map(Some).map_err(|_| too_large())
}

/// `value / scale` written exactly, e.g. (1_500_000, 1_000_000, "ms") -> "1.5ms".
fn decimal(value: u64, scale: u64, unit: &str) -> String {
    let int = value / scale;
    let rem = value % scale;
    if rem == 0 {
        return format!("{int}{unit}");
    }
    let width = scale.ilog10() as usize;
    let frac = format!("{rem:0width$}");
    format!("{int}.{}{unit}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10ms"), Ok(10_000_000));
        assert_eq!(parse_duration("250us"), Ok(250_000));
        assert_eq!(parse_duration("1.5ms"), Ok(1_500_000));
        assert_eq!(parse_duration("3000ns"), Ok(3000));
        assert_eq!(parse_duration("2s"), Ok(2_000_000_000));
        assert_eq!(parse_duration(".5us"), Ok(500));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("0ms"), Ok(0));
    }

    #[test]
    fn durations_refused() {
        for bad in ["", "10", "ms", "10 m", "1.2.3ms", "10h", "-1ms", "1e3ns"] {
            assert!(
                matches!(parse_duration(bad), Err(UnitError::Duration(_))),
                "{bad:?} -> {:?}",
                parse_duration(bad)
            );
        }
        assert_eq!(
            parse_duration("1.5ns"),
            Err(UnitError::NotWhole("1.5ns".into(), "nanoseconds"))
        );
        assert_eq!(
            parse_duration("99999999999s"),
            Err(UnitError::TooLarge("99999999999s".into()))
        );
        assert_eq!(
            parse_duration("10").unwrap_err().to_string(),
            "invalid duration \"10\": expected a number and ns, us, ms or s, e.g. 250us or 1.5ms"
        );
    }

    #[test]
    fn durations_format_round_trip() {
        let cases = [
            (0, "0"),
            (999, "999ns"),
            (3000, "3us"),
            (1_500_000, "1.5ms"),
            (1_234_567, "1.234567ms"),
            (10_000_000, "10ms"),
            (2_000_000_000, "2s"),
            (2_000_000_001, "2.000000001s"),
        ];
        for (ns, text) in cases {
            assert_eq!(format_duration(ns), text);
            assert_eq!(parse_duration(text), Ok(ns));
        }
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("100mbit"), Ok(12_500_000));
        assert_eq!(parse_rate("1gbit"), Ok(125_000_000));
        assert_eq!(parse_rate("1.5Gbit"), Ok(187_500_000));
        assert_eq!(parse_rate("12500000bps"), Ok(12_500_000));
        assert_eq!(parse_rate("2kbps"), Ok(2000));
        assert_eq!(parse_rate("8bit"), Ok(1));
        assert_eq!(
            parse_rate("12bit"),
            Err(UnitError::NotWhole("12bit".into(), "bytes/s"))
        );
        assert!(matches!(parse_rate("100"), Err(UnitError::Rate(_))));
        assert!(matches!(parse_rate("100mb"), Err(UnitError::Rate(_))));
        assert_eq!(format_rate(12_500_000), "100mbit");
        assert_eq!(format_rate(125_000_000), "1gbit");
        assert_eq!(format_rate(187_500_000), "1.5gbit");
        assert_eq!(format_rate(1), "8bit");
        assert_eq!(format_rate(0), "0bit");
    }
}

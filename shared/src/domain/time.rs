//! Time helpers: zone-offset validation, local calendar dates and lenient datetime parsing.
//!
//! Instants are always UTC; a `zone_offset` (`±HH:MM`) is metadata used only to derive local dates
//! (`local = instant + offset`, missing offset ⇒ `+00:00`).

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
};

/// Normalises and validates a zone offset: the literal `Z` becomes `+00:00`; anything else must match
/// `^[+-]\d{2}:\d{2}$`. Returns `None` when invalid.
pub fn normalize_zone_offset(raw: &str) -> Option<String> {
    if raw == "Z" {
        return Some("+00:00".to_owned());
    }
    offset_parts(raw.as_bytes()).map(|_| raw.to_owned())
}

/// The sign, hours and minutes of a valid `±HH:MM` offset: real offsets lie within ±18:00
/// (ISO 8601 / java.time bounds) with minutes below 60.
fn offset_parts(b: &[u8]) -> Option<(bool, i64, i64)> {
    let shape_ok = b.len() == 6
        && (b[0] == b'+' || b[0] == b'-')
        && b[1].is_ascii_digit()
        && b[2].is_ascii_digit()
        && b[3] == b':'
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit();
    if !shape_ok {
        return None;
    }
    let h = i64::from(b[1] - b'0') * 10 + i64::from(b[2] - b'0');
    let m = i64::from(b[4] - b'0') * 10 + i64::from(b[5] - b'0');
    (m < 60 && (h < 18 || (h == 18 && m == 0))).then_some((b[0] == b'-', h, m))
}

/// Offset in seconds of a `±HH:MM` string (or `Z`), as [`normalize_zone_offset`] validates it;
/// `None` when invalid. Allocation-free: local dates of every stored sample go through it.
pub fn zone_offset_seconds(raw: &str) -> Option<i64> {
    if raw == "Z" {
        return Some(0);
    }
    let (negative, hours, minutes) = offset_parts(raw.as_bytes())?;
    let total = hours * 3600 + minutes * 60;
    Some(if negative { -total } else { total })
}

/// Local wall-clock datetime `instant + offset` (unparseable/missing offset ⇒ UTC).
pub fn local_datetime(instant: DateTime<Utc>, zone_offset: Option<&str>) -> NaiveDateTime {
    let secs = zone_offset.and_then(zone_offset_seconds).unwrap_or(0);
    instant
        .checked_add_signed(Duration::seconds(secs))
        .unwrap_or(instant)
        .naive_utc()
}

/// Local calendar date `date(instant + offset)` (unparseable/missing offset ⇒ UTC).
pub fn local_date(instant: DateTime<Utc>, zone_offset: Option<&str>) -> NaiveDate {
    local_datetime(instant, zone_offset).date()
}

/// 00:00:00 UTC of a calendar date.
pub fn start_of_utc_day(date: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN))
}

/// The earliest year a request parameter or a stored item may name.
pub const MIN_YEAR: i32 = 1900;
/// The latest year a request parameter may name (stored items end a year earlier, so that
/// every stored item can be reached by a query whose end lies after it).
pub const MAX_YEAR: i32 = 2200;

/// Whether an instant lies in the years a query parameter may name
/// ([`MIN_YEAR`]`..=`[`MAX_YEAR`], UTC): every date arithmetic done on such an instant (a few
/// days or offsets either way) stays far inside chrono's range.
pub fn query_instant_in_range(t: DateTime<Utc>) -> bool {
    (MIN_YEAR..=MAX_YEAR).contains(&t.year())
}

/// Whether an instant may be stored (years [`MIN_YEAR`]`..`[`MAX_YEAR`], UTC).
pub fn stored_instant_in_range(t: DateTime<Utc>) -> bool {
    (MIN_YEAR..MAX_YEAR).contains(&t.year())
}

/// Parses an ISO-8601 datetime leniently: RFC 3339 with `Z`/offset, naive `YYYY-MM-DD[T ]HH:MM[:SS[.f]]`
/// (treated as UTC) or a date only (midnight UTC). Returns `None` when unparseable.
pub fn parse_iso_datetime(raw: &str) -> Option<DateTime<Utc>> {
    let s = raw.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    let with_t = s.replacen(' ', "T", 1);
    if let Ok(dt) = DateTime::<FixedOffset>::parse_from_str(&with_t, "%Y-%m-%dT%H:%M:%S%.f%:z") {
        return Some(dt.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(&with_t, fmt) {
            return Some(Utc.from_utc_datetime(&naive));
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(start_of_utc_day)
}

/// Unix timestamp (seconds, fractions allowed) → instant. Values above 2·10¹⁰ are taken as
/// milliseconds (Pydantic's convention). `None` when out of range or not finite.
pub fn from_unix_number(x: f64) -> Option<DateTime<Utc>> {
    if !x.is_finite() {
        return None;
    }
    let secs = if x.abs() > 2e10 { x / 1000.0 } else { x };
    if secs.abs() > 1e13 {
        return None;
    }
    let whole = secs.floor();
    let nanos = ((secs - whole) * 1e9).round().clamp(0.0, 999_999_999.0) as u32;
    DateTime::from_timestamp(whole as i64, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        parse_iso_datetime(s).expect("valid test datetime")
    }

    #[test]
    fn zone_offsets() {
        assert_eq!(normalize_zone_offset("Z").as_deref(), Some("+00:00"));
        assert_eq!(normalize_zone_offset("+01:00").as_deref(), Some("+01:00"));
        assert_eq!(normalize_zone_offset("-05:30").as_deref(), Some("-05:30"));
        assert_eq!(normalize_zone_offset("+1:00"), None);
        assert_eq!(normalize_zone_offset("UTC"), None);
        assert_eq!(normalize_zone_offset("+0100"), None);
        assert_eq!(zone_offset_seconds("-05:30"), Some(-19_800));
        assert_eq!(zone_offset_seconds("+18:00"), Some(64_800));
        assert_eq!(zone_offset_seconds("Z"), Some(0));
        assert_eq!(zone_offset_seconds("+18:01"), None);
        assert_eq!(zone_offset_seconds("+05:60"), None);
        assert_eq!(zone_offset_seconds("05:00"), None);
    }

    #[test]
    fn local_dates() {
        let t = utc("2025-03-01T23:30:00Z");
        assert_eq!(local_date(t, Some("+01:00")).to_string(), "2025-03-02");
        assert_eq!(local_date(t, None).to_string(), "2025-03-01");
        assert_eq!(local_date(t, Some("-05:00")).to_string(), "2025-03-01");
        let early = utc("2025-03-01T02:00:00Z");
        assert_eq!(local_date(early, Some("-05:00")).to_string(), "2025-02-28");
    }

    #[test]
    fn parsing() {
        assert_eq!(
            utc("2025-03-01T00:00:00+01:00").to_rfc3339(),
            "2025-02-28T23:00:00+00:00"
        );
        assert_eq!(
            utc("2025-03-01T00:00:00").to_rfc3339(),
            "2025-03-01T00:00:00+00:00"
        );
        assert_eq!(utc("2025-03-01 10:00:00.5Z").timestamp_subsec_millis(), 500);
        assert_eq!(utc("2025-03-01").to_rfc3339(), "2025-03-01T00:00:00+00:00");
        assert!(parse_iso_datetime("yesterday").is_none());
        assert_eq!(
            from_unix_number(1_740_787_200.0).map(|d| d.to_rfc3339()),
            Some("2025-03-01T00:00:00+00:00".to_owned())
        );
        assert_eq!(
            from_unix_number(1_740_787_200_000.0).map(|d| d.to_rfc3339()),
            Some("2025-03-01T00:00:00+00:00".to_owned())
        );
        assert!(from_unix_number(f64::INFINITY).is_none());
    }
}

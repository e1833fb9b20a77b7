//! Reading provider payloads: the small field readers every mapping uses.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde_json::Value;

/// A numeric field.
pub fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

/// A string field.
pub fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// UTC midnight starting `day`.
pub fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_by_type() {
        let v = serde_json::json!({"n": 4.5, "i": 3, "s": "x"});
        assert_eq!(
            (num(&v, "n"), num(&v, "i"), num(&v, "s")),
            (Some(4.5), Some(3.0), None)
        );
        assert_eq!((text(&v, "s"), text(&v, "n")), (Some("x"), None));
        let day = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap_or_default();
        assert_eq!(midnight(day).to_rfc3339(), "2026-03-01T00:00:00+00:00");
    }
}

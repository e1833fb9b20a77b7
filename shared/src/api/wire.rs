//! Wire-format details shared by every route: datetime rendering, field validation with the
//! reference's messages, and the 413 answer for oversized bodies.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Timelike, Utc};
use serde::Serializer;

use crate::error::{ApiError, ApiResult};

/// Renders an instant like the reference: ISO 8601, `Z`, microseconds only when non-zero.
pub fn fmt_dt(t: &DateTime<Utc>) -> String {
    let mut buf = [0u8; DT_MAX];
    match write_dt(t, &mut buf) {
        Some(s) => s.to_string(),
        None => fmt_dt_general(t),
    }
}

/// The longest rendering [`write_dt`] produces (`YYYY-MM-DDTHH:MM:SS.ffffffZ`).
const DT_MAX: usize = 27;

/// [`fmt_dt`] through chrono's formatter (years outside 0–9999, leap seconds).
fn fmt_dt_general(t: &DateTime<Utc>) -> String {
    if t.nanosecond() / 1000 == 0 {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }
}

/// [`fmt_dt`] into `buf` without parsing a format string or allocating (every sample of a
/// page has a timestamp, so this is on the hot path of every list). `None` where the general
/// formatter is needed: years outside 0–9999 and leap seconds.
fn write_dt<'b>(t: &DateTime<Utc>, buf: &'b mut [u8; DT_MAX]) -> Option<&'b str> {
    use chrono::Datelike;
    let (year, nanos) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return None;
    }
    fn put(buf: &mut [u8], at: usize, v: u32, width: usize) {
        let mut v = v;
        for i in (0..width).rev() {
            buf[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }
    put(buf, 0, year as u32, 4);
    buf[4] = b'-';
    put(buf, 5, t.month(), 2);
    buf[7] = b'-';
    put(buf, 8, t.day(), 2);
    buf[10] = b'T';
    put(buf, 11, t.hour(), 2);
    buf[13] = b':';
    put(buf, 14, t.minute(), 2);
    buf[16] = b':';
    put(buf, 17, t.second(), 2);
    let micros = nanos / 1000;
    let len = if micros == 0 {
        buf[19] = b'Z';
        20
    } else {
        buf[19] = b'.';
        put(buf, 20, micros, 6);
        buf[26] = b'Z';
        27
    };
    std::str::from_utf8(&buf[..len]).ok()
}

/// `serialize_with` for `DateTime<Utc>`.
pub fn ser_dt<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; DT_MAX];
    match write_dt(t, &mut buf) {
        Some(text) => s.serialize_str(text),
        None => s.serialize_str(&fmt_dt_general(t)),
    }
}

/// `serialize_with` for `Option<DateTime<Utc>>`.
pub fn ser_opt_dt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => ser_dt(t, s),
        None => s.serialize_none(),
    }
}

/// A 400 for a string longer than `max` characters.
pub fn check_max_len(value: Option<&str>, max: usize) -> ApiResult<()> {
    match value {
        Some(v) if v.chars().count() > max => Err(ApiError::bad_request(format!(
            "String should have at most {max} characters"
        ))),
        _ => Ok(()),
    }
}

/// A 400 for a string shorter than `min` characters.
pub fn check_min_len(value: &str, min: usize) -> ApiResult<()> {
    if value.chars().count() < min {
        return Err(ApiError::bad_request(format!(
            "String should have at least {min} characters"
        )));
    }
    Ok(())
}

/// A pragmatic e-mail check: one `@`, a non-empty local part, a dotted domain of sane labels.
pub fn check_email(value: &str) -> ApiResult<()> {
    let fail = |why: &str| {
        Err(ApiError::bad_request(format!(
            "value is not a valid email address: {why}"
        )))
    };
    let Some((local, domain)) = value.rsplit_once('@') else {
        return fail("An email address must have an @-sign.");
    };
    if local.is_empty() {
        return fail("There must be something before the @-sign.");
    }
    if local.contains('@') || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return fail("The email address contains invalid characters.");
    }
    if value.len() > 254 || local.len() > 64 {
        return fail("The email address is too long.");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    if labels.len() < 2 || !labels.iter().all(label_ok) {
        return fail("The part after the @-sign is not valid. It should have a period.");
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return fail("The email address contains invalid periods.");
    }
    Ok(())
}

/// A client-facing message for a JSON body that parsed but did not fit the schema.
pub fn serde_message(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    if let Some(field) = msg
        .strip_prefix("missing field `")
        .and_then(|m| m.split('`').next())
    {
        return format!("Field required: {field}");
    }
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
    format!("Input is not valid: {msg}")
}

/// Replaces the framework's plain-text 413 with our JSON one.
pub async fn payload_too_large(resp: Response) -> Response {
    if resp.status() != StatusCode::PAYLOAD_TOO_LARGE {
        return resp;
    }
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if json {
        return resp;
    }
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "Request body too large: the limit is 6 MB (the API Gateway to Lambda limit). Split the batch into smaller requests.",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_render_like_the_reference() {
        let t = DateTime::parse_from_rfc3339("2026-11-25T23:27:40.484601Z")
            .expect("t")
            .to_utc();
        assert_eq!(fmt_dt(&t), "2026-11-25T23:27:40.484601Z");
        let t = DateTime::parse_from_rfc3339("2025-12-25T22:00:00Z")
            .expect("t")
            .to_utc();
        assert_eq!(fmt_dt(&t), "2025-12-25T22:00:00Z");
    }

    proptest::proptest! {
        /// The hand-written renderer equals chrono's formatting of the same pattern for any
        /// instant chrono represents (years outside 0–9999 take the general path).
        #[test]
        fn the_fast_renderer_equals_chrono(secs in -70_000_000_000i64..300_000_000_000i64,
                                           nanos in 0u32..1_000_000_000, whole in proptest::bool::ANY) {
            let nanos = if whole { nanos % 1000 } else { nanos };
            let t = DateTime::from_timestamp(secs, nanos).expect("in range");
            let general = fmt_dt_general(&t);
            proptest::prop_assert_eq!(fmt_dt(&t), general.clone());
            let json = serde_json::to_value(Wrapper(t)).expect("serialises");
            proptest::prop_assert_eq!(json.as_str(), Some(general.as_str()));
        }
    }

    struct Wrapper(DateTime<Utc>);

    impl serde::Serialize for Wrapper {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            ser_dt(&self.0, s)
        }
    }

    #[test]
    fn emails_are_checked() {
        for ok in [
            "ada@example.com",
            "a.b+c@sub.example.org",
            "x@xn--bcher-kva.ch",
        ] {
            assert!(check_email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@localhost",
            "a b@example.com",
            "a@@b.com",
            "a@b..com",
            ".a@b.com",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lengths_are_counted_in_characters() {
        assert!(check_max_len(Some(&"é".repeat(100)), 100).is_ok());
        assert!(check_max_len(Some(&"a".repeat(101)), 100).is_err());
        assert!(check_min_len("1234567", 8).is_err());
    }
}

//! Query parameters, cursors and the paginated envelope shared by the data read routes
//! (api.md §4.1, §4.5).

use base64::Engine;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use super::wire::fmt_dt;
use crate::domain::time::{MAX_YEAR, MIN_YEAR, query_instant_in_range};
use crate::error::{ApiError, ApiResult};
use crate::repo::health::DataSource;

pub use crate::services::shift;

/// Raw query pairs (repeated keys kept); an extractor (400 on a malformed query string).
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> ApiResult<Self> {
        Self::parse(parts.uri.query())
    }
}

impl Params {
    pub fn parse(raw: Option<&str>) -> ApiResult<Self> {
        serde_urlencoded::from_str::<Vec<(String, String)>>(raw.unwrap_or(""))
            .map(Self)
            .map_err(|e| ApiError::bad_request(format!("Invalid query string: {e}")))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn required(&self, name: &str) -> ApiResult<&str> {
        required(name, self.get(name))
    }

    /// The parameters as a typed struct, each key read like [`Params::get`] reads it (the first
    /// of repeated values wins).
    pub fn decode<T: DeserializeOwned>(&self) -> ApiResult<T> {
        let mut first: Vec<(&str, &str)> = Vec::with_capacity(self.0.len());
        for (k, v) in &self.0 {
            if !first.iter().any(|(seen, _)| seen == k) {
                first.push((k, v));
            }
        }
        let encoded = serde_urlencoded::to_string(&first).map_err(ApiError::internal)?;
        serde_urlencoded::from_str(&encoded)
            .map_err(|e| ApiError::bad_request(format!("Invalid query string: {e}")))
    }

    /// An integer within bounds, or the default.
    pub fn int(&self, name: &str, default: i64, min: i64, max: i64) -> ApiResult<i64> {
        let Some(v) = self.get(name) else {
            return Ok(default);
        };
        let n: i64 = v.trim().parse().map_err(|_| {
            ApiError::bad_request(
                "Input should be a valid integer, unable to parse string as an integer",
            )
        })?;
        if n < min {
            return Err(ApiError::bad_request(format!(
                "Input should be greater than or equal to {min}"
            )));
        }
        if n > max {
            return Err(ApiError::bad_request(format!(
                "Input should be less than or equal to {max}"
            )));
        }
        Ok(n)
    }

    pub fn bool(&self, name: &str, default: bool) -> ApiResult<bool> {
        match self.get(name).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes" | "on" | "t" | "y") => Ok(true),
            Some("false" | "0" | "no" | "off" | "f" | "n") => Ok(false),
            Some(_) => Err(ApiError::bad_request(
                "Input should be a valid boolean, unable to interpret input",
            )),
        }
    }

    /// The `cursor` parameter in its `<timestamp>|<uuid>` form: (instant, id, backward).
    pub fn time_id_cursor(&self) -> ApiResult<Option<(DateTime<Utc>, uuid::Uuid, bool)>> {
        let Some(raw) = self.get("cursor") else {
            return Ok(None);
        };
        let c = decode_cursor(raw, 2)?;
        let t = cursor_time(raw, &c.fields[0])?;
        let id = uuid::Uuid::parse_str(&c.fields[1]).map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid cursor format: '{raw}'. Expected 'timestamp|id'."
            ))
        })?;
        Ok(Some((t, id, c.backward)))
    }

    /// A datetime parameter (§4.1), required.
    pub fn datetime(&self, name: &str) -> ApiResult<DtParam> {
        DtParam::parse(self.required(name)?)
    }

    /// A datetime parameter, optional.
    pub fn opt_datetime(&self, name: &str) -> ApiResult<Option<DtParam>> {
        self.get(name).map(DtParam::parse).transpose()
    }
}

/// A required parameter's value (400 `Field required: <name>` when absent).
pub fn required<'a>(name: &str, value: Option<&'a str>) -> ApiResult<&'a str> {
    value.ok_or_else(|| ApiError::bad_request(format!("Field required: {name}")))
}

/// A typed query struct read as [`Params`] reads the query: a repeated key's first value wins,
/// a malformed string is 400 `Invalid query string: …` (the handlers whose parameters are text
/// and whose checks keep the reference's texts and order; [`super::extract::Query`] is the
/// strict form).
#[derive(Debug, Clone, Default)]
pub struct QueryFirst<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for QueryFirst<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> ApiResult<Self> {
        Params::parse(parts.uri.query())?.decode().map(Self)
    }
}

/// A parsed datetime query value and how to echo it back.
#[derive(Debug, Clone, PartialEq)]
pub struct DtParam {
    pub at: DateTime<Utc>,
    /// The offset it was given in (`None`: naive, read as UTC).
    pub offset: Option<FixedOffset>,
}

impl DtParam {
    /// Unix seconds (fractions allowed) or ISO 8601 (date-only, naive and offset forms), in
    /// the years [`MIN_YEAR`]`..=`[`MAX_YEAR`] (400 otherwise).
    pub fn parse(raw: &str) -> ApiResult<Self> {
        let parsed = Self::parse_any(raw)?;
        if !query_instant_in_range(parsed.at) {
            return Err(ApiError::bad_request(format!(
                "Invalid datetime: '{raw}' is out of range. Expected a date between {MIN_YEAR}-01-01 and {MAX_YEAR}-12-31."
            )));
        }
        Ok(parsed)
    }

    fn parse_any(raw: &str) -> ApiResult<Self> {
        let invalid = || {
            ApiError::bad_request(format!(
                "Invalid datetime format: '{raw}'. Expected ISO 8601 format or Unix timestamp."
            ))
        };
        let s = raw.trim();
        if let Ok(x) = s.parse::<f64>() {
            if !x.is_finite() {
                return Err(invalid());
            }
            let micros = (x * 1e6).round();
            if micros.abs() > 1e17 {
                return Err(invalid());
            }
            let at = DateTime::from_timestamp_micros(micros as i64).ok_or_else(invalid)?;
            return Ok(Self {
                at,
                offset: Some(FixedOffset::east_opt(0).ok_or_else(invalid)?),
            });
        }
        let normalized = s.replacen(' ', "T", 1);
        if let Ok(t) = DateTime::parse_from_rfc3339(&normalized) {
            return Ok(Self {
                at: t.to_utc(),
                offset: Some(*t.offset()),
            });
        }
        for fmt in [
            "%Y-%m-%dT%H:%M:%S%.f%:z",
            "%Y-%m-%dT%H:%M%:z",
            "%Y-%m-%dT%H:%M:%S%.f%z",
        ] {
            if let Ok(t) = DateTime::parse_from_str(&normalized, fmt) {
                return Ok(Self {
                    at: t.to_utc(),
                    offset: Some(*t.offset()),
                });
            }
        }
        for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
            if let Ok(n) = NaiveDateTime::parse_from_str(&normalized, fmt) {
                return Ok(Self {
                    at: n.and_utc(),
                    offset: None,
                });
            }
        }
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Ok(Self {
                at: d.and_hms_opt(0, 0, 0).ok_or_else(invalid)?.and_utc(),
                offset: None,
            });
        }
        Err(invalid())
    }

    /// The calendar date as given (its own offset; naive read as UTC).
    pub fn date(&self) -> NaiveDate {
        match self.offset {
            Some(o) => self.at.with_timezone(&o).date_naive(),
            None => self.at.date_naive(),
        }
    }

    /// Whether the time of day (in its own offset) is exactly midnight.
    pub fn is_midnight(&self) -> bool {
        let t = match self.offset {
            Some(o) => self.at.with_timezone(&o).time(),
            None => self.at.time(),
        };
        t == chrono::NaiveTime::MIN
    }

    /// The value echoed in `metadata` (UTC as `Z`, other offsets as given, naive without).
    pub fn echo(&self) -> String {
        match self.offset {
            Some(o) if o.local_minus_utc() == 0 => fmt_dt(&self.at),
            Some(o) => {
                let local = self.at.with_timezone(&o);
                if local.timestamp_subsec_micros() == 0 {
                    local.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
                } else {
                    local.format("%Y-%m-%dT%H:%M:%S%.6f%:z").to_string()
                }
            }
            None => {
                let n = self.at.naive_utc();
                if self.at.timestamp_subsec_micros() == 0 {
                    n.format("%Y-%m-%dT%H:%M:%S").to_string()
                } else {
                    n.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
                }
            }
        }
    }
}

/// A decoded cursor: its fields, and whether it pages backwards (`prev_`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub fields: Vec<String>,
    pub backward: bool,
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE;

/// `base64url(fields joined by "|")`, with padding.
pub fn encode_cursor(fields: &[&str], backward: bool) -> String {
    let body = B64.encode(fields.join("|"));
    if backward {
        format!("prev_{body}")
    } else {
        body
    }
}

/// Decodes a cursor with exactly `n` fields (400 with the reference's text otherwise).
pub fn decode_cursor(raw: &str, n: usize) -> ApiResult<Cursor> {
    let invalid = || {
        ApiError::bad_request(format!(
            "Invalid cursor format: '{raw}'. Expected 'timestamp|id'."
        ))
    };
    let (backward, body) = match raw.strip_prefix("prev_") {
        Some(b) => (true, b),
        None => (false, raw),
    };
    let bytes = B64.decode(body).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let fields: Vec<String> = text.split('|').map(str::to_string).collect();
    if fields.len() != n {
        return Err(invalid());
    }
    Ok(Cursor { fields, backward })
}

/// Parses a cursor timestamp field (any §4.1 form).
pub fn cursor_time(raw_cursor: &str, field: &str) -> ApiResult<DateTime<Utc>> {
    DtParam::parse(field).map(|d| d.at).map_err(|_| {
        ApiError::bad_request(format!(
            "Invalid cursor format: '{raw_cursor}'. Expected 'timestamp|id'."
        ))
    })
}

/// Cursor timestamps are written with an explicit `+00:00`, like the reference.
pub fn cursor_ts(t: &DateTime<Utc>) -> String {
    if t.timestamp_subsec_micros() == 0 {
        t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
    }
}

/// `pagination` of the envelope.
#[derive(Debug, Clone, Serialize, ToSchema, Default)]
pub struct Pagination {
    pub next_cursor: Option<String>,
    pub previous_cursor: Option<String>,
    pub has_more: bool,
    pub total_count: Option<usize>,
}

/// `metadata` of the envelope.
#[derive(Debug, Clone, Serialize, ToSchema, Default)]
pub struct Metadata {
    pub resolution: Option<String>,
    pub sample_count: usize,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
}

/// `PaginatedResponse<T>`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Paginated<T> {
    pub data: Vec<T>,
    pub pagination: Pagination,
    pub metadata: Metadata,
}

impl<T> Paginated<T> {
    pub fn new(
        data: Vec<T>,
        pagination: Pagination,
        start: Option<&DtParam>,
        end: Option<&DtParam>,
    ) -> Self {
        let metadata = Metadata {
            resolution: None,
            sample_count: data.len(),
            start_time: start.map(DtParam::echo),
            end_time: end.map(DtParam::echo),
        };
        Self {
            data,
            pagination,
            metadata,
        }
    }
}

/// `SourceMetadata`.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct SourceMeta {
    pub provider: String,
    pub source: Option<String>,
    pub device: Option<String>,
    pub device_type: Option<String>,
    pub device_name: Option<String>,
}

impl SourceMeta {
    pub fn of(ds: Option<&DataSource>) -> Self {
        match ds {
            Some(d) => Self {
                provider: d.provider.clone(),
                source: d.source.clone(),
                device: d.device_model.clone(),
                device_type: d.device_type.clone(),
                device_name: d.device_model.clone().filter(|m| !m.is_empty()),
            },
            None => Self::unknown(),
        }
    }

    pub fn unknown() -> Self {
        Self {
            provider: "unknown".into(),
            source: None,
            device: None,
            device_type: None,
            device_name: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_params_accept_the_reference_forms() {
        let z = DtParam::parse("2024-12-15T00:00:00Z").expect("z");
        assert_eq!(z.echo(), "2024-12-15T00:00:00Z");
        let off = DtParam::parse("2024-12-15T01:00:00+01:00").expect("offset");
        assert_eq!(off.at, z.at);
        assert_eq!(off.echo(), "2024-12-15T01:00:00+01:00");
        let date = DtParam::parse("2024-12-15").expect("date");
        assert_eq!(
            (date.at, date.echo()),
            (z.at, "2024-12-15T00:00:00".to_string())
        );
        assert!(date.is_midnight());
        let unix = DtParam::parse("1734220800").expect("unix");
        assert_eq!(unix.at, z.at);
        assert_eq!(
            DtParam::parse("1734220800.5")
                .expect("frac")
                .at
                .timestamp_subsec_millis(),
            500
        );
        let err = DtParam::parse("bad").err().map(|e| e.detail);
        assert_eq!(
            err.as_deref(),
            Some("Invalid datetime format: 'bad'. Expected ISO 8601 format or Unix timestamp.")
        );
        assert!(DtParam::parse("NaN").is_err() && DtParam::parse("1e300").is_err());
    }

    #[test]
    fn datetime_params_are_kept_in_a_sane_range() {
        for bad in [
            "-262143-01-01",
            "+262142-12-31",
            "0001-01-01",
            "1899-12-31T23:59:59Z",
            "2201-01-01",
            "9999-12-31T23:59:59",
            "-99999999999",
            "99999999999",
        ] {
            let e = DtParam::parse(bad).expect_err(bad);
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST, "{bad}");
        }
        let e = DtParam::parse("0001-01-01").expect_err("year 1");
        assert_eq!(
            e.detail,
            "Invalid datetime: '0001-01-01' is out of range. Expected a date between 1900-01-01 and 2200-12-31."
        );
        for good in ["1900-01-01", "2200-12-31T23:59:59Z", "0", "1734220800"] {
            assert!(DtParam::parse(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn typed_queries_read_the_first_of_repeated_keys() {
        #[derive(serde::Deserialize)]
        struct Q {
            code: Option<String>,
            state: Option<String>,
        }
        let p = Params::parse(Some("code=a%20b&code=second&other=1")).expect("parses");
        let q: Q = p.decode().expect("decodes");
        assert_eq!(q.code.as_deref(), Some("a b"));
        assert_eq!(q.code.as_deref(), p.get("code"));
        assert_eq!(q.state, None);
        let e = required("state", q.state.as_deref()).expect_err("absent");
        assert_eq!(e.detail, "Field required: state");
        #[derive(Debug, serde::Deserialize)]
        struct N {
            n: u8,
        }
        let e = Params::parse(Some("n=x"))
            .and_then(|p| p.decode::<N>())
            .map(|q| q.n)
            .expect_err("not a number");
        assert!(
            e.detail.starts_with("Invalid query string: "),
            "{}",
            e.detail
        );
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = encode_cursor(
            &[
                "2024-12-15T04:15:00+00:00",
                "46f4bc3a-2465-4335-ab17-455e53081d1c",
            ],
            false,
        );
        assert_eq!(
            c,
            "MjAyNC0xMi0xNVQwNDoxNTowMCswMDowMHw0NmY0YmMzYS0yNDY1LTQzMzUtYWIxNy00NTVlNTMwODFkMWM="
        );
        let d = decode_cursor(&format!("prev_{c}"), 2).expect("decodes");
        assert!(d.backward);
        assert_eq!(d.fields[1], "46f4bc3a-2465-4335-ab17-455e53081d1c");
        assert!(decode_cursor(&c, 3).is_err());
        assert!(decode_cursor("!!!", 2).is_err());
    }
}

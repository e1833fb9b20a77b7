//! The Garmin Backfill API (§4.1.4) and the REST activities of the vendor pass-through.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::{BACKFILL_CHUNK_DAYS, BACKFILL_TYPES, MIN_START_FALLBACK_DAYS};
use crate::providers::sync::{FetchError, Fetcher, Pulled};

/// How Garmin answered one backfill request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backfill {
    /// 202: the data will be pushed.
    Accepted,
    /// 409: this range of this type was requested before (its data was or will be pushed).
    Duplicate,
    /// 400 "min start time": the range starts before what Garmin keeps for this user.
    MinStartTime,
    /// 403 / 412: the user did not grant historical data (`HISTORICAL_DATA_EXPORT`).
    NoPermission(u16),
}

/// Requests the backfill of one type over `[start, end)`.
pub async fn request_backfill(
    f: &Fetcher<'_>,
    path: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Backfill, FetchError> {
    let route = format!("/wellness-api/rest/backfill/{path}");
    let url = f.url(
        &route,
        &[
            ("summaryStartTimeInSeconds", start.timestamp().to_string()),
            ("summaryEndTimeInSeconds", end.timestamp().to_string()),
        ],
    )?;
    let mut req = f.http.get(url).bearer_auth(f.token).timeout(f.timeout);
    for (k, v) in &f.headers {
        req = req.header(*k, v);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| FetchError::Transient(format!("{route}: {e}")))?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    match status.as_u16() {
        s if (200..300).contains(&s) => Ok(Backfill::Accepted),
        409 => Ok(Backfill::Duplicate),
        401 => Err(FetchError::Unauthorized),
        400 if body.to_lowercase().contains("min start time") => Ok(Backfill::MinStartTime),
        s @ (403 | 412) => Ok(Backfill::NoPermission(s)),
        s if s == 429 || status.is_server_error() => {
            Err(FetchError::Transient(format!("{route}: HTTP {status}")))
        }
        _ => Err(FetchError::Permanent(format!(
            "{route}: HTTP {status} {}",
            body.chars().take(200).collect::<String>()
        ))),
    }
}

/// The backfill paths to request: `GARMIN_BACKFILL_TYPES` (comma-separated) or all of them.
pub fn backfill_types(f: &Fetcher<'_>) -> Vec<String> {
    match f.setting("GARMIN_BACKFILL_TYPES") {
        Some(list) if !list.trim().is_empty() => list
            .split(',')
            .map(str::trim)
            .filter(|t| BACKFILL_TYPES.contains(t))
            .map(str::to_string)
            .collect(),
        _ => BACKFILL_TYPES.iter().map(|t| t.to_string()).collect(),
    }
}

/// Requests one type over `[start, end)`; a range starting before Garmin's minimum start
/// time is asked once more with its last [`MIN_START_FALLBACK_DAYS`] days. Answers Garmin's
/// final word on it.
pub async fn request_type(
    f: &Fetcher<'_>,
    path: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Backfill, FetchError> {
    match request_backfill(f, path, start, end).await? {
        Backfill::MinStartTime => {
            let shorter = (end - Duration::days(MIN_START_FALLBACK_DAYS)).max(start);
            if shorter > start {
                request_backfill(f, path, shorter, end).await
            } else {
                Ok(Backfill::MinStartTime)
            }
        }
        other => Ok(other),
    }
}

/// The error of a refused historical-data permission.
pub fn no_permission(path: &str, status: u16) -> FetchError {
    FetchError::Permanent(format!(
        "garmin backfill of {path} refused with HTTP {status}: historical data permission missing"
    ))
}

/// Garmin's REST activity summaries (providers.md §4.1.5).
pub const REST_ACTIVITIES: &str = "/wellness-api/rest/activities";

/// Activity summaries uploaded in the summary window as Garmin's REST endpoint answers them
/// (vendor pass-through, #52). Garmin serves at most 24 hours per call: without a window the
/// last 24 hours, with one end only the 24 hours next to it.
pub async fn vendor_workouts(
    f: &Fetcher<'_>,
    opts: &crate::providers::VendorOptions,
) -> Result<Value, FetchError> {
    let day = Duration::hours(24);
    let (start, end) = match (opts.start, opts.end) {
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) => (s, s + day),
        (None, Some(e)) => (e - day, e),
        (None, None) => (opts.now - day, opts.now),
    };
    let q = [
        ("uploadStartTimeInSeconds", start.timestamp().to_string()),
        ("uploadEndTimeInSeconds", end.timestamp().to_string()),
    ];
    f.get_raw(REST_ACTIVITIES, &q).await
}

/// One activity summary by id (vendor pass-through, #53).
pub async fn vendor_workout(f: &Fetcher<'_>, id: &str) -> Result<Value, FetchError> {
    let path = format!("{REST_ACTIVITIES}/{}", crate::providers::path_segment(id));
    f.get_raw(&path, &[]).await
}

/// A historical window for Garmin: asks the Backfill API for every summary type over
/// `[start, end)` in chunks of at most 30 days. Garmin answers 202 and pushes the data to our
/// webhook later, so the window itself returns nothing to store. (Sync windows go through
/// [`super::backfill::run_window`], which does the same for one chunk and records the
/// progress.)
///
/// A repeated range (409) counts as requested. A range starting before Garmin's minimum is
/// retried once with its last 14 days. 401 and 429/5xx end the window (refresh / retry; types
/// already requested then answer 409); 403/412 (the user did not grant historical data) stop
/// the window; any other refusal of one type is logged and the other types continue.
pub async fn pull(
    f: &Fetcher<'_>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Pulled, FetchError> {
    let types = backfill_types(f);
    let mut from = start;
    while from < end {
        let to = (from + Duration::days(BACKFILL_CHUNK_DAYS)).min(end);
        for path in &types {
            match request_type(f, path, from, to).await {
                Ok(Backfill::Accepted | Backfill::Duplicate) => {}
                Ok(Backfill::MinStartTime) => {
                    tracing::warn!(
                        backfill_type = %path,
                        "garmin backfill range starts before the user's minimum start time"
                    );
                }
                Ok(Backfill::NoPermission(status)) => return Err(no_permission(path, status)),
                Err(FetchError::Permanent(m)) => {
                    tracing::error!(backfill_type = %path, "garmin backfill request failed: {m}");
                }
                Err(e) => return Err(e),
            }
        }
        from = to;
    }
    Ok(Pulled {
        source_name: "Garmin".into(),
        ..Pulled::default()
    })
}

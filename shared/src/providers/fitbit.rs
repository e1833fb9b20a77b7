//! Fitbit Web API (providers.md §4.7): workouts only, from the activity log list
//! (`afterDate` + `sort=asc`, pages linked by absolute `pagination.next` URLs), and token
//! revocation on disconnect. Fitbit has no webhooks here (api.md §15.1: 400).
//!
//! No `Accept-Language` header is sent, so Fitbit answers in metric units: `distance` is km.

use chrono::{DateTime, Duration, FixedOffset, Utc};
use serde_json::Value;

use super::payload::num;
use super::sync::{FetchError, Fetcher, Pulled, PulledWorkout};
use crate::domain::provider::Provider;
use crate::domain::sdk::WorkoutDetails;
use crate::domain::workout::WorkoutType;

/// The activity log list.
pub const LIST_PATH: &str = "/1/user/-/activities/list.json";
/// Entries per page (Fitbit's maximum).
pub const PAGE_LIMIT: usize = 100;

/// Unified type of a Fitbit activity: by `activityTypeId`, then by lower-cased
/// `activityName`, else `other` (Appendix A).
pub fn workout_type(type_id: Option<i64>, name: Option<&str>) -> WorkoutType {
    let by_id = type_id.and_then(|id| {
        Some(match id {
            90009 | 2131 => "running",
            91 => "treadmill",
            90013 => "walking",
            90001 => "cycling",
            90024 => "indoor_cycling",
            82 => "swimming",
            3000 => "strength_training",
            52001 => "yoga",
            1071 => "hiking",
            15 => "soccer",
            16 => "basketball",
            27 => "tennis",
            90019 => "other",
            _ => return None,
        })
    });
    let by_name = || {
        let n = name?.trim().to_lowercase();
        Some(match n.as_str() {
            "run" | "running" => "running",
            "treadmill" => "treadmill",
            "walk" | "walking" => "walking",
            "bike" | "cycling" => "cycling",
            "indoor cycling" => "indoor_cycling",
            "swim" | "swimming" => "swimming",
            "yoga" => "yoga",
            "pilates" => "pilates",
            "hike" | "hiking" => "hiking",
            "strength training" | "weights" => "strength_training",
            "tennis" => "tennis",
            "soccer" => "soccer",
            "basketball" => "basketball",
            "rowing" => "rowing",
            "elliptical" => "elliptical",
            "stair climbing" => "stair_climbing",
            "golf" => "golf",
            "dance" => "dance",
            "stretching" => "stretching",
            _ => return None,
        })
    };
    by_id
        .or_else(by_name)
        .and_then(WorkoutType::from_code)
        .unwrap_or(WorkoutType::Other)
}

fn start_of(a: &Value) -> Option<DateTime<FixedOffset>> {
    a.get("startTime")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
}

/// Maps one activity log entry. The start must carry an offset (it is kept as the zone).
pub fn map_activity(a: &Value) -> Option<PulledWorkout> {
    let start = start_of(a)?;
    let duration_ms = num(a, "duration").unwrap_or(0.0).max(0.0);
    let start_utc = start.to_utc();
    let external_id = match a.get("logId")? {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    Some(PulledWorkout {
        external_id: Some(external_id),
        workout_type: Some(
            workout_type(
                a.get("activityTypeId").and_then(Value::as_i64),
                a.get("activityName").and_then(Value::as_str),
            )
            .code()
            .to_string(),
        ),
        start: start_utc,
        end: start_utc + Duration::milliseconds(duration_ms.round() as i64),
        zone: Some(start.format("%:z").to_string()),
        details: WorkoutDetails {
            energy_burned: num(a, "calories").unwrap_or(0.0),
            distance: num(a, "distance").map(|km| km * 1000.0),
            steps_count: num(a, "steps").map(|s| s as i64),
            heart_rate_avg: num(a, "averageHeartRate"),
            ..WorkoutDetails::default()
        },
    })
}

/// The device of an entry (`source.name`).
fn device_of(a: &Value) -> Option<String> {
    a.pointer("/source/name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Pulls the workouts that start in `[start, end)`.
pub async fn pull(
    f: &Fetcher<'_>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Pulled, FetchError> {
    // `afterDate` is a local calendar date: one day earlier covers every zone; the instants
    // are filtered below.
    let after = (start - Duration::days(1)).format("%Y-%m-%d").to_string();
    let first = [
        ("afterDate", after),
        ("sort", "asc".to_string()),
        ("limit", PAGE_LIMIT.to_string()),
        ("offset", "0".to_string()),
    ];
    let mut out = Pulled {
        source_name: "Fitbit".into(),
        ..Pulled::default()
    };
    let mut devices = std::collections::BTreeSet::new();
    let mut next: Option<String> = None;
    for _ in 0..1000 {
        let page = match &next {
            None => f.get(LIST_PATH, &first).await?,
            Some(url) => f.get(url, &[]).await?,
        };
        let entries = page
            .get("activities")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut beyond = false;
        for a in &entries {
            let Some(w) = map_activity(a) else {
                tracing::warn!(
                    provider = "fitbit",
                    "activity without an id or a start with offset skipped"
                );
                continue;
            };
            // Sorted ascending: past the window (with a day of zone slack) nothing follows.
            if w.start >= end + Duration::days(1) {
                beyond = true;
            }
            if w.start >= start && w.start < end {
                if let Some(d) = device_of(a) {
                    devices.insert(d);
                }
                out.workouts.push(w);
            }
        }
        next = page
            .pointer("/pagination/next")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        if entries.is_empty() || beyond || next.is_none() {
            break;
        }
    }
    // One data source per pull: the device when every workout came from the same one.
    if devices.len() == 1 {
        out.device_model = devices.pop_first();
    }
    Ok(out)
}

/// One page of the activity log list as Fitbit answers it (vendor pass-through, #52). Fitbit
/// takes exactly one of `afterDate` (ascending, from `summary_start_time`) and `beforeDate`
/// (descending, from `summary_end_time`, else the newest entries).
pub async fn vendor_workouts(
    f: &Fetcher<'_>,
    opts: &super::VendorOptions,
) -> Result<Value, FetchError> {
    let day = |t: DateTime<Utc>| t.format("%Y-%m-%d").to_string();
    let mut q = match (opts.start, opts.end) {
        (Some(s), _) => vec![("afterDate", day(s)), ("sort", "asc".to_string())],
        (None, Some(e)) => vec![("beforeDate", day(e)), ("sort", "desc".to_string())],
        (None, None) => vec![
            ("beforeDate", day(opts.now + Duration::days(1))),
            ("sort", "desc".to_string()),
        ],
    };
    q.push(("limit", opts.page_size(PAGE_LIMIT as i64).to_string()));
    q.push(("offset", opts.offset.max(0).to_string()));
    f.get_raw(LIST_PATH, &q).await
}

/// Revokes the access token (`POST /oauth2/revoke`, form `token`, Basic client credentials).
pub async fn deregister(f: &Fetcher<'_>) -> Result<(), FetchError> {
    let client = f
        .client
        .ok_or_else(|| FetchError::Permanent("fitbit revoke needs the OAuth client".into()))?;
    let url = f.url("/oauth2/revoke", &[])?;
    let resp = f
        .http
        .post(url)
        .basic_auth(&client.client_id, Some(&client.client_secret))
        .form(&[("token", f.token)])
        .timeout(f.timeout)
        .send()
        .await
        .map_err(|e| FetchError::Transient(format!("/oauth2/revoke: {e}")))?;
    let status = resp.status();
    match status.as_u16() {
        s if (200..300).contains(&s) => Ok(()),
        401 => Err(FetchError::Unauthorized),
        s if s == 429 || s >= 500 => Err(FetchError::Transient(format!(
            "/oauth2/revoke: HTTP {status}"
        ))),
        _ => Err(FetchError::Permanent(format!(
            "/oauth2/revoke: HTTP {status}"
        ))),
    }
}

/// The Fitbit integration.
pub struct Fitbit;

#[async_trait::async_trait]
impl super::Integration for Fitbit {
    fn provider(&self) -> Provider {
        Provider::Fitbit
    }

    fn token_identity(&self, token: &super::oauth::TokenAnswer) -> Option<super::Identity> {
        Some(super::Identity {
            id: token.extra_text("user_id"),
            username: None,
        })
    }

    async fn pull(
        &self,
        _state: &crate::app::AppState,
        _user: uuid::Uuid,
        f: &Fetcher<'_>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Pulled, FetchError> {
        pull(f, start, end).await
    }

    async fn deregister(&self, f: &Fetcher<'_>) -> Result<(), FetchError> {
        deregister(f).await
    }

    async fn vendor_workouts(
        &self,
        f: &Fetcher<'_>,
        opts: &super::VendorOptions,
    ) -> Result<Value, FetchError> {
        vendor_workouts(f, opts).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_come_from_the_id_then_the_name() {
        assert_eq!(workout_type(Some(90013), None), WorkoutType::Walking);
        assert_eq!(workout_type(Some(91), Some("Run")), WorkoutType::Treadmill);
        assert_eq!(
            workout_type(Some(123456), Some(" Stair Climbing ")),
            WorkoutType::StairClimbing
        );
        assert_eq!(
            workout_type(None, Some("Weights")),
            WorkoutType::StrengthTraining
        );
        assert_eq!(workout_type(Some(90019), Some("Yoga")), WorkoutType::Other);
        assert_eq!(workout_type(None, Some("Juggling")), WorkoutType::Other);
        assert_eq!(workout_type(None, None), WorkoutType::Other);
    }

    #[test]
    fn an_activity_maps_with_metres_and_the_offset_kept() {
        let a = json!({"logId":61203377851_i64,"activityName":"Walk","activityTypeId":90013,
          "startTime":"2024-06-03T12:15:30.000+02:00","duration":2534000,"calories":214,"distance":2.87,
          "steps":3921,"averageHeartRate":98,"source":{"name":"Charge 6","type":"tracker"}});
        let w = map_activity(&a).expect("mapped");
        assert_eq!(w.external_id.as_deref(), Some("61203377851"));
        assert_eq!(w.workout_type.as_deref(), Some("walking"));
        assert_eq!(w.start.to_rfc3339(), "2024-06-03T10:15:30+00:00");
        assert_eq!((w.end - w.start).num_seconds(), 2534);
        assert_eq!(w.zone.as_deref(), Some("+02:00"));
        assert_eq!(w.details.energy_burned, 214.0);
        assert_eq!(w.details.distance, Some(2870.0));
        assert_eq!(w.details.steps_count, Some(3921));
        assert_eq!(w.details.heart_rate_avg, Some(98.0));
        assert_eq!(device_of(&a).as_deref(), Some("Charge 6"));
        // A start without an offset cannot be placed in time.
        let mut naive = a.clone();
        naive["startTime"] = json!("2024-06-03T12:15:30.000");
        assert!(map_activity(&naive).is_none());
    }
}

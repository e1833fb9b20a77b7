//! Daily summaries (api.md §13 #58–#62): activity from the daily roll-ups (its cost does not
//! grow with the samples a day holds), sleep from sessions, recovery from scores, the body
//! snapshot and per-user data counts.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State as St;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::State;
use super::extract::PathId;
use super::params::{
    Paginated, Pagination, Params, SourceMeta, cursor_ts, decode_cursor, encode_cursor,
};
use super::wire::ser_opt_dt;
use crate::auth::guard::Caller;
use crate::domain::sleep::SessionBrief;
use crate::domain::time::start_of_utc_day;
use crate::error::{ApiError, ApiResult};
use crate::services::summaries;

/// The summary routes with their OpenAPI operations (merged into the data group's).
pub fn openapi_router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(activity))
        .routes(routes!(sleep))
        .routes(routes!(recovery))
        .routes(routes!(body))
        .routes(routes!(data_summary))
}

fn bad_cursor(raw: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid cursor format: '{raw}'. Expected 'timestamp|id'."
    ))
}

/// Pages `items` already sorted in output order by `key`, with a cursor holding a key.
/// Returns (page, pagination). `after(k, c)` is true when key `k` comes after cursor `c`.
fn page_by_key<T, K: Ord + Clone>(
    items: Vec<T>,
    key: impl Fn(&T) -> K,
    cursor: Option<(K, bool)>,
    limit: usize,
    encode: impl Fn(&T) -> String,
) -> (Vec<T>, Pagination) {
    let mut p = Pagination::default();
    let page = match cursor {
        None => {
            let more = items.len() > limit;
            let page: Vec<T> = items.into_iter().take(limit).collect();
            p.has_more = more;
            if more {
                p.next_cursor = page.last().map(&encode);
            }
            page
        }
        Some((c, false)) => {
            let rest: Vec<T> = items.into_iter().filter(|i| key(i) > c).collect();
            let more = rest.len() > limit;
            let page: Vec<T> = rest.into_iter().take(limit).collect();
            p.has_more = more;
            if more {
                p.next_cursor = page.last().map(&encode);
            }
            p.previous_cursor = page.first().map(|i| format!("prev_{}", encode(i)));
            page
        }
        Some((c, true)) => {
            let mut before: Vec<T> = items.into_iter().filter(|i| key(i) < c).collect();
            let more = before.len() > limit;
            let from = before.len().saturating_sub(limit);
            let page: Vec<T> = before.drain(from..).collect();
            p.has_more = more;
            if more {
                p.next_cursor = page.last().map(&encode);
            }
            p.previous_cursor = page.first().map(|i| format!("prev_{}", encode(i)));
            page
        }
    };
    (page, p)
}

// ---------------------------------------------------------------------------------------------
// Activity
// ---------------------------------------------------------------------------------------------

/// `ActivitySummary`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActivitySummary {
    pub date: NaiveDate,
    pub source: SourceMeta,
    pub steps: Option<i64>,
    pub distance_meters: Option<f64>,
    pub floors_climbed: Option<i64>,
    pub elevation_meters: Option<f64>,
    pub active_calories_kcal: Option<f64>,
    pub total_calories_kcal: Option<f64>,
    pub active_minutes: Option<i64>,
    pub sedentary_minutes: Option<i64>,
    pub intensity_minutes: Option<Value>,
    pub heart_rate: Option<Value>,
}

/// Daily activity, one item per local day (best source).
#[utoipa::path(get, path = "/api/v1/users/{user_id}/summaries/activity", tag = "summaries",
    params(("user_id" = Uuid, Path), ("start_date" = String, Query), ("end_date" = String, Query),
        ("cursor" = Option<String>, Query), ("limit" = Option<i64>, Query), ("sort_order" = Option<String>, Query)),
    responses((status = 200, body = Paginated<ActivitySummary>)))]
pub async fn activity(
    St(state): St<State>,
    _: Caller,
    PathId(user): PathId,
    p: Params,
) -> ApiResult<Json<Paginated<ActivitySummary>>> {
    let start = p.datetime("start_date")?;
    let end = p.datetime("end_date")?;
    let limit = p.int("limit", 50, 1, 400)? as usize;
    let desc = match p.get("sort_order").unwrap_or("asc") {
        "asc" => false,
        "desc" => true,
        _ => {
            return Err(ApiError::bad_request(
                "String should match pattern '^(asc|desc)$'",
            ));
        }
    };
    let cursor = match p.get("cursor") {
        None => None,
        Some(raw) => {
            let c = decode_cursor(raw, 3)?;
            let d =
                NaiveDate::parse_from_str(&c.fields[0], "%Y-%m-%d").map_err(|_| bad_cursor(raw))?;
            Some(((d, c.fields[1].clone(), c.fields[2].clone()), c.backward))
        }
    };
    let (days, sources) = summaries::activity(&state, user, start.date(), end.date()).await?;
    let mut items: Vec<ActivitySummary> = days
        .into_iter()
        .map(|d| {
            let v = d.values;
            ActivitySummary {
                date: d.date,
                source: SourceMeta::of(sources.get(&d.data_source_id)),
                steps: Some(v.steps),
                distance_meters: v.distance_meters,
                floors_climbed: v.floors_climbed,
                elevation_meters: v.elevation_meters,
                active_calories_kcal: Some(v.active_calories_kcal),
                total_calories_kcal: Some(v.total_calories_kcal),
                active_minutes: v.active_minutes,
                sedentary_minutes: v.sedentary_minutes,
                intensity_minutes: v.intensity_minutes.map(
                    |i| json!({"light": i.light, "moderate": i.moderate, "vigorous": i.vigorous}),
                ),
                heart_rate: v.heart_rate.map(
                    |h| json!({"avg_bpm": h.avg_bpm, "max_bpm": h.max_bpm, "min_bpm": h.min_bpm}),
                ),
            }
        })
        .collect();
    let item_key = |a: &ActivitySummary| {
        (
            a.date,
            a.source.source.clone().unwrap_or_else(|| "unknown".into()),
            a.source.device.clone().unwrap_or_default(),
        )
    };
    if desc {
        items.reverse();
    }
    let encode = |a: &ActivitySummary| {
        let (d, s, m) = item_key(a);
        encode_cursor(&[&d.to_string(), &s, &m], false)
    };
    // In descending order "after" means a smaller key: compare on the reversed key.
    let (page, mut pagination) = if desc {
        let rev = |a: &ActivitySummary| std::cmp::Reverse(item_key(a));
        page_by_key(
            items,
            rev,
            cursor.map(|(c, b)| (std::cmp::Reverse(c), b)),
            limit,
            encode,
        )
    } else {
        page_by_key(items, item_key, cursor, limit, encode)
    };
    pagination.total_count = None;
    Ok(Json(Paginated::new(
        page,
        pagination,
        Some(&start),
        Some(&end),
    )))
}

// ---------------------------------------------------------------------------------------------
// Sleep
// ---------------------------------------------------------------------------------------------

/// `SleepSummary`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SleepSummary {
    pub date: NaiveDate,
    pub source: SourceMeta,
    #[serde(serialize_with = "ser_opt_dt")]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(serialize_with = "ser_opt_dt")]
    pub end_time: Option<DateTime<Utc>>,
    pub zone_offset: Option<String>,
    pub duration_minutes: i64,
    pub total_duration_minutes: Option<i64>,
    pub time_in_bed_minutes: Option<i64>,
    pub efficiency_percent: Option<f64>,
    pub stages: Option<Value>,
    pub interruptions_count: Option<i64>,
    pub nap_count: Option<i64>,
    pub nap_duration_minutes: Option<i64>,
    pub sessions: Option<Vec<Value>>,
    pub avg_heart_rate_bpm: Option<i64>,
    pub avg_hrv_sdnn_ms: Option<f64>,
    pub avg_hrv_rmssd_ms: Option<f64>,
    pub avg_respiratory_rate: Option<f64>,
    pub avg_spo2_percent: Option<f64>,
    #[serde(skip)]
    record_id: Option<Uuid>,
}

fn session_json(s: &SessionBrief) -> Value {
    json!({
        "start_time": super::wire::fmt_dt(&s.start_time),
        "end_time": super::wire::fmt_dt(&s.end_time),
        "zone_offset": s.zone_offset,
        "duration_minutes": s.duration_minutes,
        "is_nap": s.is_nap,
    })
}

/// Daily sleep, keyed on the wake-up date, one item per date (best source).
#[utoipa::path(get, path = "/api/v1/users/{user_id}/summaries/sleep", tag = "summaries",
    params(("user_id" = Uuid, Path), ("start_date" = String, Query), ("end_date" = String, Query),
        ("cursor" = Option<String>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = Paginated<SleepSummary>)))]
pub async fn sleep(
    St(state): St<State>,
    _: Caller,
    PathId(user): PathId,
    p: Params,
) -> ApiResult<Json<Paginated<SleepSummary>>> {
    let start = p.datetime("start_date")?;
    let end = p.datetime("end_date")?;
    let limit = p.int("limit", 50, 1, 100)? as usize;
    let cursor = p
        .time_id_cursor()?
        .map(|(t, id, back)| ((t.date_naive(), id), back));
    let (days, sources) = summaries::sleep(&state, user, start.date(), end.date()).await?;
    let items: Vec<SleepSummary> = days
        .into_iter()
        .map(|d| {
            let (g, v) = (d.group, d.vitals);
            SleepSummary {
                date: g.date,
                source: SourceMeta::of(sources.get(&d.data_source_id)),
                start_time: g.start_time,
                end_time: g.end_time,
                zone_offset: g.zone_offset,
                duration_minutes: g.duration_minutes,
                total_duration_minutes: g.total_duration_minutes,
                time_in_bed_minutes: g.time_in_bed_minutes,
                efficiency_percent: g.efficiency_percent,
                stages: g.stages.map(|s| {
                    json!({"awake_minutes": s.awake_minutes, "light_minutes": s.light_minutes,
                           "deep_minutes": s.deep_minutes, "rem_minutes": s.rem_minutes})
                }),
                interruptions_count: g.interruptions_count,
                nap_count: g.nap_count,
                nap_duration_minutes: Some(g.nap_duration_minutes),
                sessions: g
                    .sessions
                    .as_ref()
                    .map(|s| s.iter().map(session_json).collect()),
                avg_heart_rate_bpm: v.avg_heart_rate_bpm,
                avg_hrv_sdnn_ms: v.avg_hrv_sdnn_ms,
                avg_hrv_rmssd_ms: v.avg_hrv_rmssd_ms,
                avg_respiratory_rate: v.avg_respiratory_rate,
                avg_spo2_percent: v.avg_spo2_percent,
                record_id: g.record_id,
            }
        })
        .collect();
    let key = |s: &SleepSummary| (s.date, s.record_id.unwrap_or_default());
    let encode = |s: &SleepSummary| {
        let (d, id) = key(s);
        encode_cursor(&[&cursor_ts(&start_of_utc_day(d)), &id.to_string()], false)
    };
    let (page, mut pagination) = page_by_key(items, key, cursor, limit, encode);
    pagination.total_count = None;
    Ok(Json(Paginated::new(
        page,
        pagination,
        Some(&start),
        Some(&end),
    )))
}

// ---------------------------------------------------------------------------------------------
// Recovery
// ---------------------------------------------------------------------------------------------

/// `RecoverySummary`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecoverySummary {
    pub date: NaiveDate,
    pub source: SourceMeta,
    pub sleep_duration_seconds: Option<i64>,
    pub sleep_efficiency_percent: Option<f64>,
    pub resting_heart_rate_bpm: Option<i64>,
    pub avg_hrv_sdnn_ms: Option<f64>,
    pub avg_spo2_percent: Option<f64>,
    pub recovery_score: Option<i64>,
    #[serde(skip)]
    key: (DateTime<Utc>, Uuid),
}

/// Daily recovery from recovery scores, one per UTC date (best source).
#[utoipa::path(get, path = "/api/v1/users/{user_id}/summaries/recovery", tag = "summaries",
    params(("user_id" = Uuid, Path), ("start_date" = String, Query), ("end_date" = String, Query),
        ("cursor" = Option<String>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = Paginated<RecoverySummary>)))]
pub async fn recovery(
    St(state): St<State>,
    _: Caller,
    PathId(user): PathId,
    p: Params,
) -> ApiResult<Json<Paginated<RecoverySummary>>> {
    let start = p.datetime("start_date")?;
    let end = p.datetime("end_date")?;
    let limit = p.int("limit", 50, 1, 100)? as usize;
    let cursor = p.time_id_cursor()?.map(|(t, id, back)| ((t, id), back));
    let (days, sources) = summaries::recovery(&state, user, start.at, end.at).await?;
    let items: Vec<RecoverySummary> = days
        .into_iter()
        .map(|d| {
            let mut source = SourceMeta::of(d.data_source_id.and_then(|id| sources.get(&id)));
            source.provider = d.provider;
            let v = d.values;
            RecoverySummary {
                date: d.date,
                source,
                sleep_duration_seconds: v.sleep_duration_seconds,
                sleep_efficiency_percent: v.sleep_efficiency_percent,
                resting_heart_rate_bpm: v.resting_heart_rate_bpm,
                avg_hrv_sdnn_ms: v.avg_hrv_sdnn_ms,
                avg_spo2_percent: v.avg_spo2_percent,
                recovery_score: v.recovery_score,
                key: (d.recorded_at, d.score_id),
            }
        })
        .collect();
    let encode =
        |r: &RecoverySummary| encode_cursor(&[&cursor_ts(&r.key.0), &r.key.1.to_string()], false);
    let (page, mut pagination) = page_by_key(items, |r| r.key, cursor, limit, encode);
    pagination.total_count = None;
    Ok(Json(Paginated::new(
        page,
        pagination,
        Some(&start),
        Some(&end),
    )))
}

// ---------------------------------------------------------------------------------------------
// Body
// ---------------------------------------------------------------------------------------------

/// The body snapshot, or JSON `null` when the user has no body data.
#[utoipa::path(get, path = "/api/v1/users/{user_id}/summaries/body", tag = "summaries",
    params(("user_id" = Uuid, Path), ("average_period" = Option<i64>, Query), ("latest_window_hours" = Option<i64>, Query)),
    responses((status = 200, description = "BodySummary or null")))]
pub async fn body(
    St(state): St<State>,
    _: Caller,
    PathId(user): PathId,
    p: Params,
) -> ApiResult<Json<Value>> {
    let period = p.int("average_period", 7, 1, 7)?;
    let window = p.int("latest_window_hours", 4, 1, 24)?;
    let Some(b) = summaries::body(&state, user, period, window).await? else {
        return Ok(Json(Value::Null));
    };
    let ts = |t: Option<DateTime<Utc>>| {
        t.map(|t| Value::String(super::wire::fmt_dt(&t)))
            .unwrap_or(Value::Null)
    };
    let mut latest_obj = Map::new();
    latest_obj.insert(
        "body_temperature_celsius".into(),
        json!(b.body_temperature.map(|m| m.value)),
    );
    latest_obj.insert(
        "body_temperature_measured_at".into(),
        ts(b.body_temperature.map(|m| m.at)),
    );
    latest_obj.insert(
        "skin_temperature_celsius".into(),
        json!(b.skin_temperature.map(|m| m.value)),
    );
    latest_obj.insert(
        "skin_temperature_measured_at".into(),
        ts(b.skin_temperature.map(|m| m.at)),
    );
    latest_obj.insert(
        "blood_pressure".into(),
        b.blood_pressure.map_or(Value::Null, |bp| {
            json!({"avg_systolic_mmhg": bp.systolic_mmhg, "avg_diastolic_mmhg": bp.diastolic_mmhg,
                   "max_systolic_mmhg": null, "max_diastolic_mmhg": null, "min_systolic_mmhg": null,
                   "min_diastolic_mmhg": null, "reading_count": 1})
        }),
    );
    latest_obj.insert(
        "blood_pressure_measured_at".into(),
        ts(b.blood_pressure.map(|bp| bp.measured_at)),
    );
    Ok(Json(json!({
        "source": SourceMeta::of(b.source.as_ref()),
        "slow_changing": {
            "weight_kg": b.weight_kg, "height_cm": b.height_cm, "body_fat_percent": b.body_fat_percent,
            "muscle_mass_kg": b.muscle_mass_kg, "bmi": b.bmi, "age": null,
        },
        "averaged": {
            "period_days": b.period_days,
            "resting_heart_rate_bpm": b.resting_heart_rate_bpm,
            "avg_hrv_sdnn_ms": b.avg_hrv_sdnn_ms,
            "avg_hrv_rmssd_ms": b.avg_hrv_rmssd_ms,
            "period_start": super::wire::fmt_dt(&b.period_start),
            "period_end": super::wire::fmt_dt(&b.period_end),
        },
        "latest": latest_obj,
    })))
}

// ---------------------------------------------------------------------------------------------
// Data summary
// ---------------------------------------------------------------------------------------------

fn sorted_counts(m: &BTreeMap<String, u64>) -> Value {
    Value::Object(
        summaries::by_count(m)
            .into_iter()
            .map(|(k, n)| (k.to_string(), json!(n)))
            .collect(),
    )
}

/// Counts of what has been stored for a user.
#[utoipa::path(get, path = "/api/v1/users/{user_id}/summaries/data", tag = "summaries",
    params(("user_id" = Uuid, Path), ("start_date" = Option<String>, Query), ("end_date" = Option<String>, Query)),
    responses((status = 200, description = "UserDataSummaryResponse")))]
pub async fn data_summary(
    St(state): St<State>,
    _: Caller,
    PathId(user): PathId,
    p: Params,
) -> ApiResult<Json<Value>> {
    let start = p.opt_datetime("start_date")?.map(|d| d.at);
    let end = p.opt_datetime("end_date")?.map(|d| d.at);
    let c = summaries::data_counts(&state, user, start, end).await?;
    Ok(Json(json!({
        "user_id": user.to_string(),
        "total_data_points": c.total_data_points(),
        "total_workouts": c.total_workouts,
        "total_sleep_events": c.total_sleep_events,
        "series_type_counts": sorted_counts(&c.series),
        "workout_type_counts": sorted_counts(&c.workout_types),
        "by_provider": c.by_provider.iter().map(|(p, c)| json!({
            "provider": p, "data_points": c.data_points, "series_counts": sorted_counts(&c.series),
            "workout_count": c.workouts, "sleep_count": c.sleeps,
        })).collect::<Vec<_>>(),
        "has_womens_health_data": c.has_womens_health_data,
    })))
}

//! Health data read routes (api.md §13): timeseries (with real resolution bucketing), events
//! and their deletes, health scores, data sources. Summaries live in `summaries.rs`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State as St;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::State;
use super::extract::{PathId, PathIds};
use super::params::{
    DtParam, Paginated, Pagination, Params, SourceMeta, cursor_ts, encode_cursor, shift,
};
use super::wire::ser_dt;
use crate::auth::guard::Caller;
use crate::domain::numeric::{round_half_away_i64, round_half_even_i64};
use crate::domain::series::{Resolution, SeriesType};
use crate::domain::sleep::StageInterval;
use crate::domain::summary::PriorityKey;
use crate::domain::time::local_date;
use crate::error::{ApiError, ApiResult};
use crate::repo::chunk::Point;
use crate::repo::health::{EventDetails, EventRecord, HealthScore};
use crate::services::summaries::stored_priority_key;
use crate::services::timeseries;

/// The routes of this group with their OpenAPI operations (paths and methods come from
/// each handler's `#[utoipa::path]`; summaries are merged in from `summaries.rs`).
pub fn openapi_router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(timeseries))
        .routes(routes!(list_workouts))
        .routes(routes!(list_sleep))
        .routes(routes!(list_cycles))
        .routes(routes!(delete_workout))
        .routes(routes!(delete_sleep))
        .routes(routes!(delete_cycle))
        .routes(routes!(health_scores))
        .routes(routes!(data_sources))
        .routes(routes!(meta_coverage))
        .merge(super::summaries::openapi_router())
}

// ---------------------------------------------------------------------------------------------
// Timeseries
// ---------------------------------------------------------------------------------------------

/// `TimeSeriesSample`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimeSeriesSample {
    #[serde(serialize_with = "ser_dt")]
    pub timestamp: DateTime<Utc>,
    pub zone_offset: Option<String>,
    #[serde(rename = "type")]
    pub series_type: &'static str,
    pub value: f64,
    pub unit: &'static str,
    // Shared by the samples of one data source (a page has few sources, many samples).
    #[schema(value_type = Option<SourceMeta>)]
    pub source: Option<std::sync::Arc<SourceMeta>>,
    pub is_daily_total: Option<bool>,
}

fn parse_types(p: &Params) -> ApiResult<Vec<SeriesType>> {
    p.all("types")
        .into_iter()
        .flat_map(|v| v.split(','))
        .filter(|v| !v.is_empty())
        .map(|v| {
            SeriesType::from_code(v.trim()).ok_or_else(|| {
                ApiError::bad_request(format!("Input should be a valid series type, got '{v}'"))
            })
        })
        .collect()
}

/// Raw samples or resolution buckets for one user.
#[utoipa::path(get, path = "/api/v1/users/{user_id}/timeseries", tag = "data",
    params(("user_id" = Uuid, Path), ("start_time" = String, Query), ("end_time" = String, Query),
        ("types" = Option<Vec<String>>, Query), ("resolution" = Option<String>, Query),
        ("cursor" = Option<String>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = Paginated<TimeSeriesSample>)))]
pub async fn timeseries(
    St(state): St<State>,
    _: Caller,
    PathId(user): PathId,
    p: Params,
) -> ApiResult<Json<Paginated<TimeSeriesSample>>> {
    let start = p.datetime("start_time")?;
    let end = p.datetime("end_time")?;
    let limit = p.int("limit", 50, 1, 100)? as usize;
    let resolution = match p.get("resolution") {
        None => Resolution::Raw,
        Some(r) => Resolution::parse(r).ok_or_else(|| {
            ApiError::bad_request("Input should be 'raw', '1min', '5min', '15min' or '1hour'")
        })?,
    };
    let types = parse_types(&p)?;
    let cursor = p
        .time_id_cursor()?
        .map(|(t, stream, backward)| timeseries::Cursor {
            t: t.timestamp_micros(),
            stream,
            backward,
        });
    let end_at = if end.is_midnight() {
        shift(end.at, Duration::days(1))?
    } else {
        end.at
    };
    let page = timeseries::query(
        &state,
        timeseries::Query {
            user,
            from: start.at,
            to: end_at,
            types,
            resolution,
            cursor,
            limit,
        },
    )
    .await?;
    let rows = page.samples;
    let backward = cursor.is_some_and(|c| c.backward);
    let sources = state.db.data_source_map(user).await?;
    let key = |s: &timeseries::Sample| {
        let t = DateTime::from_timestamp_micros(s.point.t).unwrap_or_default();
        encode_cursor(&[&cursor_ts(&t), &s.stream.to_string()], false)
    };
    let more = page.more;
    let mut pagination = Pagination {
        total_count: Some(page.total),
        has_more: more,
        ..Default::default()
    };
    if backward {
        if more {
            pagination.previous_cursor = rows.first().map(|r| format!("prev_{}", key(r)));
            pagination.next_cursor = rows.last().map(key);
        }
    } else {
        if more {
            pagination.next_cursor = rows.last().map(key);
        }
        if cursor.is_some() {
            pagination.previous_cursor = rows.first().map(|r| format!("prev_{}", key(r)));
        }
    }
    let mut metas: Vec<(Uuid, std::sync::Arc<SourceMeta>)> = Vec::new();
    let data = rows
        .into_iter()
        .map(|s| {
            let meta = match metas.iter().find(|(id, _)| *id == s.data_source) {
                Some((_, m)) => m.clone(),
                None => {
                    let m = std::sync::Arc::new(SourceMeta::of(sources.get(&s.data_source)));
                    metas.push((s.data_source, m.clone()));
                    m
                }
            };
            let value = s.point.value();
            TimeSeriesSample {
                timestamp: DateTime::from_timestamp_micros(s.point.t).unwrap_or_default(),
                zone_offset: s.point.zone_offset,
                series_type: s.series.code(),
                value,
                unit: s.series.unit(),
                source: Some(meta),
                is_daily_total: s.point.is_daily_total,
            }
        })
        .collect();
    let mut page = Paginated::new(data, pagination, Some(&start), Some(&end));
    page.metadata.resolution = Some(resolution.as_str().to_string());
    Ok(Json(page))
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

/// `Workout`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkoutRead {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub workout_type: String,
    pub name: Option<String>,
    #[serde(serialize_with = "ser_dt")]
    pub start_time: DateTime<Utc>,
    #[serde(serialize_with = "ser_dt")]
    pub end_time: DateTime<Utc>,
    pub zone_offset: Option<String>,
    pub duration_seconds: Option<i64>,
    pub source: SourceMeta,
    pub calories_kcal: Option<f64>,
    pub distance_meters: Option<f64>,
    pub avg_heart_rate_bpm: Option<i64>,
    pub max_heart_rate_bpm: Option<i64>,
    pub avg_pace_sec_per_km: Option<i64>,
    pub elevation_gain_meters: Option<f64>,
}

/// `SleepSession`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SleepSessionRead {
    pub id: Uuid,
    #[serde(serialize_with = "ser_dt")]
    pub start_time: DateTime<Utc>,
    #[serde(serialize_with = "ser_dt")]
    pub end_time: DateTime<Utc>,
    pub zone_offset: Option<String>,
    pub source: SourceMeta,
    pub duration_seconds: i64,
    pub sleep_duration_seconds: Option<i64>,
    pub efficiency_percent: Option<f64>,
    pub stages: Option<Value>,
    pub sleep_stage_intervals: Option<Vec<StageIntervalRead>>,
    pub is_nap: bool,
}

/// One stage interval.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StageIntervalRead {
    pub stage: &'static str,
    #[serde(serialize_with = "ser_dt")]
    pub start_time: DateTime<Utc>,
    #[serde(serialize_with = "ser_dt")]
    pub end_time: DateTime<Utc>,
}

impl From<&StageInterval> for StageIntervalRead {
    fn from(s: &StageInterval) -> Self {
        Self {
            stage: s.stage.as_str(),
            start_time: s.start,
            end_time: s.end,
        }
    }
}

/// Shared event-list machinery: filter, newest-first order, (start, id) keyset cursor.
struct EventPage {
    events: Vec<EventRecord>,
    pagination: Pagination,
    start: DtParam,
    end: DtParam,
}

async fn event_page(
    state: &State,
    user: Uuid,
    category: &str,
    p: &Params,
    end_filter: bool,
    keep: impl Fn(&EventRecord) -> bool,
) -> ApiResult<EventPage> {
    let start = p.datetime("start_date")?;
    let end = p.datetime("end_date")?;
    let limit = p.int("limit", 50, 1, 100)? as usize;
    let cursor = p.time_id_cursor()?;
    let upper = if end_filter { Some(end.at) } else { None };
    let mut events = state
        .db
        .events(user, category, Some(start.at), upper)
        .await?;
    events.retain(|e| e.start >= start.at && (!end_filter || e.end < end.at) && keep(e));
    events.sort_by_key(|e| std::cmp::Reverse((e.start, e.id)));
    let total = events.len();
    let key = |e: &EventRecord| encode_cursor(&[&cursor_ts(&e.start), &e.id.to_string()], false);
    let mut pagination = Pagination {
        total_count: Some(total),
        ..Default::default()
    };
    let page = match &cursor {
        None => {
            let more = events.len() > limit;
            events.truncate(limit);
            pagination.has_more = more;
            if more {
                pagination.next_cursor = events.last().map(key);
            }
            events
        }
        Some((t, id, backward)) => {
            let (t, id) = (*t, *id);
            if *backward {
                // Newer items than the cursor, closest first, then back in newest-first order.
                let mut newer: Vec<EventRecord> = events
                    .into_iter()
                    .filter(|e| (e.start, e.id) > (t, id))
                    .collect();
                let more = newer.len() > limit;
                let keep_from = newer.len().saturating_sub(limit);
                let page: Vec<EventRecord> = newer.drain(keep_from..).collect();
                pagination.has_more = more;
                if more {
                    pagination.next_cursor = page.last().map(key);
                    pagination.previous_cursor = page.first().map(|e| format!("prev_{}", key(e)));
                }
                page
            } else {
                let mut older: Vec<EventRecord> = events
                    .into_iter()
                    .filter(|e| (e.start, e.id) < (t, id))
                    .collect();
                let more = older.len() > limit;
                older.truncate(limit);
                pagination.has_more = more;
                if more {
                    pagination.next_cursor = older.last().map(key);
                }
                pagination.previous_cursor = older.first().map(|e| format!("prev_{}", key(e)));
                older
            }
        }
    };
    Ok(EventPage {
        events: page,
        pagination,
        start,
        end,
    })
}

fn truthy(v: Option<f64>) -> Option<f64> {
    v.filter(|x| *x != 0.0)
}

/// Workouts, newest first.
#[utoipa::path(get, path = "/api/v1/users/{user_id}/events/workouts", tag = "data",
    params(("user_id" = Uuid, Path), ("start_date" = String, Query), ("end_date" = String, Query),
        ("record_type" = Option<String>, Query), ("cursor" = Option<String>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = Paginated<WorkoutRead>)))]
pub async fn list_workouts(
    St(state): St<State>,
    _: Caller,
    PathId(user): PathId,
    p: Params,
) -> ApiResult<Json<Paginated<WorkoutRead>>> {
    let needle = p.get("record_type").map(str::to_lowercase);
    let page = event_page(&state, user, "workout", &p, true, |e| match &needle {
        Some(n) => e
            .event_type
            .as_deref()
            .unwrap_or("")
            .to_lowercase()
            .contains(n.as_str()),
        None => true,
    })
    .await?;
    let sources = state.db.data_source_map(user).await?;
    let mut data = Vec::with_capacity(page.events.len());
    for e in &page.events {
        let d = match &e.details {
            Some(EventDetails::Workout(d)) => Some(d),
            _ => None,
        };
        let avg = match d.and_then(|d| d.heart_rate_avg) {
            Some(a) => Some(round_half_even_i64(a)),
            None => mean_hr(&state, user, e).await?,
        };
        data.push(WorkoutRead {
            id: e.id,
            workout_type: e.event_type.clone().unwrap_or_else(|| "unknown".into()),
            name: None,
            start_time: e.start,
            end_time: e.end,
            zone_offset: e.zone_offset.clone(),
            duration_seconds: e.duration_seconds,
            source: SourceMeta::of(sources.get(&e.data_source_id)),
            calories_kcal: truthy(d.map(|d| d.energy_burned)),
            distance_meters: truthy(d.and_then(|d| d.distance)),
            avg_heart_rate_bpm: avg,
            max_heart_rate_bpm: d.and_then(|d| d.heart_rate_max),
            avg_pace_sec_per_km: None,
            elevation_gain_meters: truthy(d.and_then(|d| d.total_elevation_gain)),
        });
    }
    Ok(Json(Paginated::new(
        data,
        page.pagination,
        Some(&page.start),
        Some(&page.end),
    )))
}

/// Mean heart rate of the workout's own source inside the workout window.
async fn mean_hr(state: &State, user: Uuid, e: &EventRecord) -> ApiResult<Option<i64>> {
    if e.end <= e.start {
        return Ok(None);
    }
    let chunks = state
        .db
        .chunks(
            user,
            SeriesType::HeartRate,
            e.start,
            e.end - Duration::microseconds(1),
        )
        .await?;
    let (from, to) = (e.start.timestamp_micros(), e.end.timestamp_micros());
    let values: Vec<f64> = chunks
        .iter()
        .filter(|c| c.data_source_id == e.data_source_id)
        .flat_map(|c| c.points.iter())
        .filter(|p| p.t >= from && p.t < to)
        .map(Point::value)
        .collect();
    if values.is_empty() {
        return Ok(None);
    }
    Ok(Some(round_half_away_i64(
        values.iter().sum::<f64>() / values.len() as f64,
    )))
}

/// Sleep sessions (naps included), newest first.
#[utoipa::path(get, path = "/api/v1/users/{user_id}/events/sleep", tag = "data",
    params(("user_id" = Uuid, Path), ("start_date" = String, Query), ("end_date" = String, Query),
        ("filter_by_priority" = Option<bool>, Query), ("cursor" = Option<String>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = Paginated<SleepSessionRead>)))]
pub async fn list_sleep(
    St(state): St<State>,
    _: Caller,
    PathId(user): PathId,
    p: Params,
) -> ApiResult<Json<Paginated<SleepSessionRead>>> {
    let sources = state.db.data_source_map(user).await?;
    let prio = state.db.priorities().await?;
    let by_priority = p.bool("filter_by_priority", false)?;
    let winners = if by_priority {
        let start = p.datetime("start_date")?;
        let end = p.datetime("end_date")?;
        let all = state
            .db
            .events(user, "sleep", Some(start.at), Some(end.at))
            .await?;
        let mut best: HashMap<chrono::NaiveDate, PriorityKey> = HashMap::new();
        for e in &all {
            let k = stored_priority_key(&prio, sources.get(&e.data_source_id));
            let date = local_date(e.end, e.zone_offset.as_deref());
            best.entry(date)
                .and_modify(|b| {
                    if k < *b {
                        *b = k.clone()
                    }
                })
                .or_insert(k);
        }
        Some(best)
    } else {
        None
    };
    let page = event_page(&state, user, "sleep", &p, true, |e| match &winners {
        None => true,
        Some(best) => {
            best.get(&local_date(e.end, e.zone_offset.as_deref()))
                == Some(&stored_priority_key(&prio, sources.get(&e.data_source_id)))
        }
    })
    .await?;
    let data = page
        .events
        .iter()
        .map(|e| {
            let d = match &e.details {
                Some(EventDetails::Sleep(d)) => Some(d),
                _ => None,
            };
            SleepSessionRead {
                id: e.id,
                start_time: e.start,
                end_time: e.end,
                zone_offset: e.zone_offset.clone(),
                source: SourceMeta::of(sources.get(&e.data_source_id)),
                duration_seconds: e.duration_seconds.unwrap_or(0),
                sleep_duration_seconds: d.map(|d| d.total_sleep_minutes * 60),
                efficiency_percent: truthy(d.and_then(|d| d.efficiency)),
                stages: d.map(|d| {
                    serde_json::json!({
                        "awake_minutes": d.awake_minutes, "light_minutes": d.light_minutes,
                        "deep_minutes": d.deep_minutes, "rem_minutes": d.rem_minutes,
                    })
                }),
                sleep_stage_intervals: d.map(|d| d.stages.iter().map(Into::into).collect()),
                is_nap: d.is_some_and(|d| d.is_nap),
            }
        })
        .collect();
    Ok(Json(Paginated::new(
        data,
        page.pagination,
        Some(&page.start),
        Some(&page.end),
    )))
}

/// Menstrual cycles (filtered on start only), newest first.
#[utoipa::path(get, path = "/api/v1/users/{user_id}/events/menstrual-cycles", tag = "data",
    params(("user_id" = Uuid, Path), ("start_date" = String, Query), ("end_date" = String, Query)),
    responses((status = 200, body = Paginated<Value>)))]
pub async fn list_cycles(
    St(state): St<State>,
    _: Caller,
    PathId(user): PathId,
    p: Params,
) -> ApiResult<Json<Paginated<Value>>> {
    let page = event_page(&state, user, "menstrual_cycle", &p, false, |_| true).await?;
    let sources = state.db.data_source_map(user).await?;
    let data = page
        .events
        .iter()
        .map(|e| {
            let mut v = match &e.details {
                Some(EventDetails::MenstrualCycle(d)) => d.clone(),
                _ => serde_json::json!({}),
            };
            if let Value::Object(m) = &mut v {
                m.insert("id".into(), Value::String(e.id.to_string()));
                m.insert(
                    "start_time".into(),
                    Value::String(super::wire::fmt_dt(&e.start)),
                );
                m.insert(
                    "end_time".into(),
                    Value::String(super::wire::fmt_dt(&e.end)),
                );
                m.insert(
                    "zone_offset".into(),
                    e.zone_offset.clone().map_or(Value::Null, Value::String),
                );
                m.insert(
                    "source".into(),
                    serde_json::to_value(SourceMeta::of(sources.get(&e.data_source_id)))
                        .unwrap_or(Value::Null),
                );
            }
            v
        })
        .collect();
    let mut page_out = Paginated::new(data, page.pagination, Some(&page.start), None);
    page_out.metadata.end_time = None;
    Ok(Json(page_out))
}

async fn delete_event(
    state: &State,
    user: Uuid,
    id: Uuid,
    category: &str,
    missing: &str,
) -> ApiResult<StatusCode> {
    match state.db.event(user, id).await? {
        Some(e) if e.category == category => {
            state.db.delete_event(user, &e).await?;
            let date = local_date(e.end, e.zone_offset.as_deref());
            let _ = state
                .queue
                .enqueue(vec![crate::jobs::Job::Rollup {
                    user_id: user,
                    date,
                }])
                .await;
            Ok(StatusCode::NO_CONTENT)
        }
        _ => Err(ApiError::not_found(missing)),
    }
}

/// Delete a workout.
#[utoipa::path(delete, path = "/api/v1/users/{user_id}/events/workouts/{workout_id}", tag = "data",
    params(("user_id" = Uuid, Path), ("workout_id" = Uuid, Path)), responses((status = 204), (status = 404)))]
pub async fn delete_workout(
    St(state): St<State>,
    _: Caller,
    PathIds(user, id): PathIds,
) -> ApiResult<StatusCode> {
    delete_event(&state, user, id, "workout", "Workout not found").await
}

/// Delete a sleep session (and its sleep score).
#[utoipa::path(delete, path = "/api/v1/users/{user_id}/events/sleep/{sleep_id}", tag = "data",
    params(("user_id" = Uuid, Path), ("sleep_id" = Uuid, Path)), responses((status = 204), (status = 404)))]
pub async fn delete_sleep(
    St(state): St<State>,
    _: Caller,
    PathIds(user, id): PathIds,
) -> ApiResult<StatusCode> {
    delete_event(&state, user, id, "sleep", "Sleep session not found").await
}

/// Delete a menstrual-cycle record.
#[utoipa::path(delete, path = "/api/v1/users/{user_id}/events/menstrual-cycles/{cycle_id}", tag = "data",
    params(("user_id" = Uuid, Path), ("cycle_id" = Uuid, Path)), responses((status = 204), (status = 404)))]
pub async fn delete_cycle(
    St(state): St<State>,
    _: Caller,
    PathIds(user, id): PathIds,
) -> ApiResult<StatusCode> {
    delete_event(
        &state,
        user,
        id,
        "menstrual_cycle",
        "Menstrual cycle record not found",
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Health scores and data sources
// ---------------------------------------------------------------------------------------------

/// `HealthScoreResponse`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthScoreRead {
    pub category: String,
    pub value: Option<f64>,
    pub qualifier: Option<String>,
    #[serde(serialize_with = "ser_dt")]
    pub recorded_at: DateTime<Utc>,
    pub zone_offset: Option<String>,
    pub components: Option<Value>,
    pub id: Uuid,
    pub data_source_id: Option<Uuid>,
    pub provider: Option<String>,
}

impl From<&HealthScore> for HealthScoreRead {
    fn from(s: &HealthScore) -> Self {
        Self {
            category: s.category.clone(),
            value: s.value,
            qualifier: s.qualifier.clone(),
            recorded_at: s.recorded_at,
            zone_offset: s.zone_offset.clone(),
            components: s.components.clone(),
            id: s.id,
            data_source_id: s.data_source_id,
            provider: Some(s.provider.clone()),
        }
    }
}

const CATEGORIES: [&str; 8] = [
    "sleep",
    "recovery",
    "readiness",
    "activity",
    "stress",
    "resilience",
    "body_battery",
    "strain",
];

/// Health scores, newest first, offset/limit.
#[utoipa::path(get, path = "/api/v1/users/{user_id}/health-scores", tag = "data",
    params(("user_id" = Uuid, Path), ("start_date" = Option<String>, Query), ("end_date" = Option<String>, Query),
        ("category" = Option<String>, Query), ("provider" = Option<String>, Query),
        ("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query)),
    responses((status = 200, body = Paginated<HealthScoreRead>)))]
pub async fn health_scores(
    St(state): St<State>,
    _: Caller,
    PathId(user): PathId,
    p: Params,
) -> ApiResult<Json<Paginated<HealthScoreRead>>> {
    let start = p.opt_datetime("start_date")?;
    let end = p.opt_datetime("end_date")?;
    if let (Some(s), Some(e)) = (&start, &end)
        && s.at >= e.at
    {
        return Err(ApiError::bad_request(
            "start_datetime must be before end_datetime",
        ));
    }
    let category = p.get("category");
    if let Some(c) = category
        && !CATEGORIES.contains(&c)
    {
        return Err(ApiError::bad_request(format!(
            "Input should be one of: {}",
            CATEGORIES.join(", ")
        )));
    }
    let provider = p.get("provider");
    if let Some(pr) = provider
        && !crate::domain::provider::Provider::is_query_value(pr)
    {
        return Err(ApiError::bad_request(format!(
            "Input should be one of: {}",
            crate::domain::provider::Provider::query_values()
        )));
    }
    let limit = p.int("limit", 50, 1, 1000)? as usize;
    let offset = p.int("offset", 0, 0, i64::MAX)? as usize;
    let mut scores = state
        .db
        .health_scores(
            user,
            start.as_ref().map(|s| s.at),
            end.as_ref().map(|e| e.at),
        )
        .await?;
    scores.retain(|s| {
        category.is_none_or(|c| s.category == c) && provider.is_none_or(|p| s.provider == p)
    });
    scores.sort_by(|a, b| b.recorded_at.cmp(&a.recorded_at).then(a.id.cmp(&b.id)));
    let total = scores.len();
    let data: Vec<HealthScoreRead> = scores
        .iter()
        .skip(offset)
        .take(limit)
        .map(Into::into)
        .collect();
    let pagination = Pagination {
        has_more: offset.saturating_add(data.len()) < total,
        total_count: Some(total),
        ..Default::default()
    };
    Ok(Json(Paginated::new(
        data,
        pagination,
        start.as_ref(),
        end.as_ref(),
    )))
}

/// `DataSourceResponse`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DataSourceRead {
    pub id: Uuid,
    pub user_id: Uuid,
    pub provider: String,
    pub user_connection_id: Option<Uuid>,
    pub device_model: Option<String>,
    pub software_version: Option<String>,
    pub source: Option<String>,
    pub device_type: Option<String>,
    pub original_source_name: Option<String>,
    pub display_name: String,
}

/// `{items, total}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DataSourceList {
    pub items: Vec<DataSourceRead>,
    pub total: usize,
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f
            .to_uppercase()
            .chain(c.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// What each provider delivers: the static coverage matrix (api.md #3), public.
#[utoipa::path(get, path = "/api/v1/meta/coverage", tag = "meta",
    responses((status = 200, description = "CoverageResponse")))]
pub async fn meta_coverage() -> Json<&'static crate::services::coverage::Coverage> {
    Json(crate::services::coverage::coverage())
}

/// The user's data sources.
#[utoipa::path(get, path = "/api/v1/users/{user_id}/data-sources", tag = "data",
    params(("user_id" = Uuid, Path)), responses((status = 200, body = DataSourceList)))]
pub async fn data_sources(
    St(state): St<State>,
    _: Caller,
    PathId(user): PathId,
) -> ApiResult<Json<DataSourceList>> {
    let mut all = state.db.data_sources(user).await?;
    all.sort_by(|a, b| (&a.provider, &a.device_model).cmp(&(&b.provider, &b.device_model)));
    let items: Vec<DataSourceRead> = all
        .into_iter()
        .map(|d| {
            let detail = d.device_model.clone().or(d.original_source_name.clone());
            let display_name = match (d.provider.is_empty(), detail) {
                (true, _) => "Unknown Source".to_string(),
                (false, Some(x)) => format!("{} - {x}", capitalized(&d.provider)),
                (false, None) => capitalized(&d.provider),
            };
            DataSourceRead {
                id: d.id,
                user_id: d.user_id,
                provider: d.provider,
                user_connection_id: d.user_connection_id,
                device_model: d.device_model,
                software_version: d.software_version,
                source: d.source,
                device_type: d.device_type,
                original_source_name: d.original_source_name,
                display_name,
            }
        })
        .collect();
    let total = items.len();
    Ok(Json(DataSourceList { items, total }))
}

//! Health data read routes (api.md §13): timeseries (with real resolution bucketing), events
//! and their deletes, health scores, data sources. Summaries live in `summaries.rs`.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use axum::Json;
use axum::Router;
use axum::extract::{Path, RawQuery, State as St};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::params::{
    DtParam, Paginated, Pagination, Params, SourceMeta, cursor_ts, encode_cursor, shift,
};
use super::wire::ser_dt;
use super::{State, parse_uuid};
use crate::auth::guard;
use crate::domain::numeric::{round_half_away_i64, round_half_even_i64};
use crate::domain::series::{Resolution, SeriesPoint, SeriesType, bucket};
use crate::domain::sleep::StageInterval;
use crate::domain::summary::{DeviceType, PriorityKey, infer_device_type};
use crate::domain::time::local_date;
use crate::error::{ApiError, ApiResult};
use crate::repo::chunk::Point;
use crate::repo::health::{DataSource, EventDetails, EventRecord, HealthScore};
use crate::repo::priorities::Priorities;

/// The routes of this group (summaries are merged in from `summaries.rs`).
pub fn router() -> Router<State> {
    Router::new()
        .route("/api/v1/users/{user_id}/timeseries", get(timeseries))
        .route(
            "/api/v1/users/{user_id}/events/workouts",
            get(list_workouts),
        )
        .route("/api/v1/users/{user_id}/events/sleep", get(list_sleep))
        .route(
            "/api/v1/users/{user_id}/events/menstrual-cycles",
            get(list_cycles),
        )
        .route(
            "/api/v1/users/{user_id}/events/workouts/{workout_id}",
            delete(delete_workout),
        )
        .route(
            "/api/v1/users/{user_id}/events/sleep/{sleep_id}",
            delete(delete_sleep),
        )
        .route(
            "/api/v1/users/{user_id}/events/menstrual-cycles/{cycle_id}",
            delete(delete_cycle),
        )
        .route("/api/v1/users/{user_id}/health-scores", get(health_scores))
        .route("/api/v1/users/{user_id}/data-sources", get(data_sources))
        .merge(super::summaries::router())
}

/// Authenticates a K route and parses the path user id.
pub async fn user_route(state: &State, headers: &HeaderMap, user_id: &str) -> ApiResult<Uuid> {
    guard::api_key_or_developer(state, headers).await?;
    parse_uuid(user_id)
}

/// Ranking key (flavour A): provider priority, device-type priority inferred from the model,
/// device model.
pub fn priority_key(pr: &Priorities, ds: Option<&DataSource>) -> PriorityKey {
    let model = ds.and_then(|d| d.device_model.clone()).unwrap_or_default();
    let device = if model.is_empty() {
        99
    } else {
        pr.device(infer_device_type(Some(&model)))
    };
    let provider = ds.map_or(99, |d| pr.provider(&d.provider));
    PriorityKey {
        provider_priority: provider,
        device_priority: device,
        device_model: model,
    }
}

/// Ranking key from the stored device type (flavour B), inferred when absent.
pub fn stored_priority_key(pr: &Priorities, ds: Option<&DataSource>) -> PriorityKey {
    let stored = ds
        .and_then(|d| d.device_type.as_deref())
        .and_then(DeviceType::parse);
    let mut key = priority_key(pr, ds);
    if let Some(d) = stored {
        key.device_priority = pr.device(d);
    }
    key
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
    pub source: Option<SourceMeta>,
    pub is_daily_total: Option<bool>,
}

/// The samples of one (series, data source) within `[from, to)`, in time order, decoded one
/// chunk at a time and only when a page needs it: a page over a day of 1 Hz data decodes one or
/// two hours, and the total count comes from chunk headers.
struct Stream {
    id: Uuid,
    series: SeriesType,
    ds: Uuid,
    /// `(covers from µs, covers until µs, raw bytes)` per chunk, in time order.
    chunks: Vec<(i64, i64, Vec<u8>)>,
    decoded: Vec<Option<Vec<Point>>>,
    from: i64,
    to: i64,
}

const HOUR_US: i64 = 3_600_000_000;

impl Stream {
    fn lazy(
        id: Uuid,
        series: SeriesType,
        ds: Uuid,
        chunks: Vec<(i64, Vec<u8>)>,
        from: i64,
        to: i64,
    ) -> Self {
        let n = chunks.len();
        let chunks = chunks
            .into_iter()
            .map(|(h, d)| (h, h + HOUR_US, d))
            .collect();
        Self {
            id,
            series,
            ds,
            chunks,
            decoded: vec![None; n],
            from,
            to,
        }
    }

    fn eager(id: Uuid, series: SeriesType, ds: Uuid, points: Vec<Point>) -> Self {
        Self {
            id,
            series,
            ds,
            chunks: vec![(i64::MIN, i64::MAX, Vec::new())],
            decoded: vec![Some(points)],
            from: i64::MIN,
            to: i64::MAX,
        }
    }

    fn points(&mut self, ci: usize) -> ApiResult<&[Point]> {
        if self.decoded[ci].is_none() {
            let (from, to) = (self.from, self.to);
            let mut pts =
                crate::repo::chunk::decode(&self.chunks[ci].2).map_err(ApiError::internal)?;
            pts.retain(|p| p.t >= from && p.t < to);
            self.decoded[ci] = Some(pts);
        }
        Ok(self.decoded[ci].as_deref().unwrap_or_default())
    }

    fn count(&mut self) -> ApiResult<usize> {
        let mut n = 0;
        for ci in 0..self.chunks.len() {
            let (lo, hi, _) = &self.chunks[ci];
            if self.decoded[ci].is_none() && *lo >= self.from && *hi <= self.to {
                n += crate::repo::chunk::count(&self.chunks[ci].2).map_err(ApiError::internal)?;
            } else {
                n += self.points(ci)?.len();
            }
        }
        Ok(n)
    }

    /// The first position whose (t, id) is after `after` (or the very first).
    fn first_after(&mut self, after: Option<(i64, Uuid)>) -> ApiResult<Option<(usize, usize)>> {
        let id = self.id;
        for ci in 0..self.chunks.len() {
            if let Some((t, _)) = after
                && self.chunks[ci].1 <= t
            {
                continue;
            }
            let pts = self.points(ci)?;
            let idx = match after {
                None => 0,
                Some((t, cid)) if id > cid => pts.partition_point(|p| p.t < t),
                Some((t, _)) => pts.partition_point(|p| p.t <= t),
            };
            if idx < pts.len() {
                return Ok(Some((ci, idx)));
            }
        }
        Ok(None)
    }

    /// The last position whose (t, id) is before `before`.
    fn last_before(&mut self, t: i64, cid: Uuid) -> ApiResult<Option<(usize, usize)>> {
        let id = self.id;
        for ci in (0..self.chunks.len()).rev() {
            if self.chunks[ci].0 > t {
                continue;
            }
            let pts = self.points(ci)?;
            let idx = if id < cid {
                pts.partition_point(|p| p.t <= t)
            } else {
                pts.partition_point(|p| p.t < t)
            };
            if idx > 0 {
                return Ok(Some((ci, idx - 1)));
            }
        }
        Ok(None)
    }

    fn next(&mut self, (ci, pi): (usize, usize)) -> ApiResult<Option<(usize, usize)>> {
        if pi + 1 < self.points(ci)?.len() {
            return Ok(Some((ci, pi + 1)));
        }
        for cj in ci + 1..self.chunks.len() {
            if !self.points(cj)?.is_empty() {
                return Ok(Some((cj, 0)));
            }
        }
        Ok(None)
    }

    fn prev(&mut self, (ci, pi): (usize, usize)) -> ApiResult<Option<(usize, usize)>> {
        if pi > 0 {
            return Ok(Some((ci, pi - 1)));
        }
        for cj in (0..ci).rev() {
            let n = self.points(cj)?.len();
            if n > 0 {
                return Ok(Some((cj, n - 1)));
            }
        }
        Ok(None)
    }

    fn at(&mut self, (ci, pi): (usize, usize)) -> ApiResult<Point> {
        self.points(ci)?
            .get(pi)
            .cloned()
            .ok_or_else(|| ApiError::internal("stream position out of range"))
    }
}

/// A stable id per (data source, series): samples are unique per (source, series, instant), so
/// `(timestamp, id)` orders them totally.
fn stream_id(ds: Uuid, series: SeriesType) -> Uuid {
    Uuid::new_v5(&ds, series.code().as_bytes())
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
    headers: HeaderMap,
    Path(user_id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Paginated<TimeSeriesSample>>> {
    let user = user_route(&state, &headers, &user_id).await?;
    let p = Params::parse(q.as_deref())?;
    let start = p.datetime("start_time")?;
    let end = p.datetime("end_time")?;
    let limit = p.int("limit", 50, 1, 100)? as usize;
    let resolution = match p.get("resolution") {
        None => Resolution::Raw,
        Some(r) => Resolution::parse(r).ok_or_else(|| {
            ApiError::bad_request("Input should be 'raw', '1min', '5min', '15min' or '1hour'")
        })?,
    };
    let mut types = parse_types(&p)?;
    let cursor = p
        .time_id_cursor()?
        .map(|(t, id, back)| (t.timestamp_micros(), id, back));
    let end_at = if end.is_midnight() {
        shift(end.at, Duration::days(1))?
    } else {
        end.at
    };
    if types.is_empty() {
        types = state
            .db
            .series_index(user)
            .await?
            .iter()
            .filter_map(|c| SeriesType::from_code(c))
            .collect();
    }
    let (from, to) = (start.at.timestamp_micros(), end_at.timestamp_micros());
    let mut streams: Vec<Stream> = Vec::new();
    if from < to {
        for series in types {
            let mut by_ds: HashMap<Uuid, Vec<(i64, Vec<u8>)>> = HashMap::new();
            for c in state
                .db
                .raw_chunks(
                    user,
                    series,
                    start.at,
                    shift(end_at, -Duration::microseconds(1))?,
                )
                .await?
            {
                by_ds
                    .entry(c.data_source_id)
                    .or_default()
                    .push((c.hour.timestamp_micros(), c.data));
            }
            for (ds, mut chunks) in by_ds {
                chunks.sort_by_key(|c| c.0);
                let id = stream_id(ds, series);
                let mut stream = Stream::lazy(id, series, ds, chunks, from, to);
                if resolution != Resolution::Raw {
                    let mut all = Vec::new();
                    for ci in 0..stream.chunks.len() {
                        all.extend_from_slice(stream.points(ci)?);
                    }
                    stream =
                        Stream::eager(id, series, ds, bucket_points(series, ds, &all, resolution));
                }
                streams.push(stream);
            }
        }
    }
    let mut total = 0;
    for s in &mut streams {
        total += s.count()?;
    }
    let backward = cursor.is_some_and(|c| c.2);
    let rows = match cursor {
        Some((t, id, true)) => merge_backward(&mut streams, t, id, limit + 1)?,
        Some((t, id, false)) => merge_forward(&mut streams, Some((t, id)), limit + 1)?,
        None => merge_forward(&mut streams, None, limit + 1)?,
    };
    let more = rows.len() > limit;
    let mut rows = rows;
    rows.truncate(limit);
    if backward {
        rows.reverse();
    }
    let sources = state.db.data_source_map(user).await?;
    let key = |r: &(usize, Point)| {
        let t = DateTime::from_timestamp_micros(r.1.t).unwrap_or_default();
        encode_cursor(&[&cursor_ts(&t), &streams[r.0].id.to_string()], false)
    };
    let mut pagination = Pagination {
        total_count: Some(total),
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
    let data = rows
        .iter()
        .map(|(si, p)| {
            let s = &streams[*si];
            TimeSeriesSample {
                timestamp: DateTime::from_timestamp_micros(p.t).unwrap_or_default(),
                zone_offset: p.zone_offset.clone(),
                series_type: s.series.code(),
                value: p.value(),
                unit: s.series.unit(),
                source: Some(SourceMeta::of(sources.get(&s.ds))),
                is_daily_total: p.is_daily_total,
            }
        })
        .collect();
    let mut page = Paginated::new(data, pagination, Some(&start), Some(&end));
    page.metadata.resolution = Some(resolution.as_str().to_string());
    Ok(Json(page))
}

fn bucket_points(
    series: SeriesType,
    ds: Uuid,
    points: &[Point],
    resolution: Resolution,
) -> Vec<Point> {
    let input: Vec<SeriesPoint<Uuid>> = points
        .iter()
        .map(|p| SeriesPoint {
            source: ds,
            series,
            recorded_at: DateTime::from_timestamp_micros(p.t).unwrap_or_default(),
            value: p.value(),
            zone_offset: p.zone_offset.clone(),
            is_daily_total: p.is_daily_total,
        })
        .collect();
    bucket(&input, resolution)
        .into_iter()
        .map(|b| Point {
            t: b.bucket_start.timestamp_micros(),
            milli: (b.value * 1000.0).round() as i64,
            zone_offset: b.zone_offset,
            is_daily_total: b.is_daily_total,
        })
        .collect()
}

#[derive(PartialEq, Eq)]
struct Head {
    t: i64,
    id: Uuid,
    stream: usize,
    pos: (usize, usize),
}

impl Ord for Head {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.t, self.id).cmp(&(o.t, o.id))
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// The first `n` samples in (t, id) order strictly after `after`.
fn merge_forward(
    streams: &mut [Stream],
    after: Option<(i64, Uuid)>,
    n: usize,
) -> ApiResult<Vec<(usize, Point)>> {
    let mut heap = BinaryHeap::new();
    for (i, s) in streams.iter_mut().enumerate() {
        if let Some(pos) = s.first_after(after)? {
            let t = s.at(pos)?.t;
            heap.push(std::cmp::Reverse(Head {
                t,
                id: s.id,
                stream: i,
                pos,
            }));
        }
    }
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let Some(std::cmp::Reverse(h)) = heap.pop() else {
            break;
        };
        let s = &mut streams[h.stream];
        out.push((h.stream, s.at(h.pos)?));
        if let Some(pos) = s.next(h.pos)? {
            let t = s.at(pos)?.t;
            heap.push(std::cmp::Reverse(Head {
                t,
                id: h.id,
                stream: h.stream,
                pos,
            }));
        }
    }
    Ok(out)
}

/// The last `n` samples strictly before (t, id), newest first.
fn merge_backward(
    streams: &mut [Stream],
    t: i64,
    id: Uuid,
    n: usize,
) -> ApiResult<Vec<(usize, Point)>> {
    let mut heap = BinaryHeap::new();
    for (i, s) in streams.iter_mut().enumerate() {
        if let Some(pos) = s.last_before(t, id)? {
            let pt = s.at(pos)?.t;
            heap.push(Head {
                t: pt,
                id: s.id,
                stream: i,
                pos,
            });
        }
    }
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let Some(h) = heap.pop() else { break };
        let s = &mut streams[h.stream];
        out.push((h.stream, s.at(h.pos)?));
        if let Some(pos) = s.prev(h.pos)? {
            let pt = s.at(pos)?.t;
            heap.push(Head {
                t: pt,
                id: h.id,
                stream: h.stream,
                pos,
            });
        }
    }
    Ok(out)
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
    headers: HeaderMap,
    Path(user_id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Paginated<WorkoutRead>>> {
    let user = user_route(&state, &headers, &user_id).await?;
    let p = Params::parse(q.as_deref())?;
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
    headers: HeaderMap,
    Path(user_id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Paginated<SleepSessionRead>>> {
    let user = user_route(&state, &headers, &user_id).await?;
    let p = Params::parse(q.as_deref())?;
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
    headers: HeaderMap,
    Path(user_id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Paginated<Value>>> {
    let user = user_route(&state, &headers, &user_id).await?;
    let p = Params::parse(q.as_deref())?;
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
    headers: &HeaderMap,
    user_id: &str,
    id: &str,
    category: &str,
    missing: &str,
) -> ApiResult<StatusCode> {
    let user = user_route(state, headers, user_id).await?;
    let id = parse_uuid(id)?;
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
    headers: HeaderMap,
    Path((u, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    delete_event(&state, &headers, &u, &id, "workout", "Workout not found").await
}

/// Delete a sleep session (and its sleep score).
#[utoipa::path(delete, path = "/api/v1/users/{user_id}/events/sleep/{sleep_id}", tag = "data",
    params(("user_id" = Uuid, Path), ("sleep_id" = Uuid, Path)), responses((status = 204), (status = 404)))]
pub async fn delete_sleep(
    St(state): St<State>,
    headers: HeaderMap,
    Path((u, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    delete_event(
        &state,
        &headers,
        &u,
        &id,
        "sleep",
        "Sleep session not found",
    )
    .await
}

/// Delete a menstrual-cycle record.
#[utoipa::path(delete, path = "/api/v1/users/{user_id}/events/menstrual-cycles/{cycle_id}", tag = "data",
    params(("user_id" = Uuid, Path), ("cycle_id" = Uuid, Path)), responses((status = 204), (status = 404)))]
pub async fn delete_cycle(
    St(state): St<State>,
    headers: HeaderMap,
    Path((u, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    delete_event(
        &state,
        &headers,
        &u,
        &id,
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
    headers: HeaderMap,
    Path(user_id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Paginated<HealthScoreRead>>> {
    let user = user_route(&state, &headers, &user_id).await?;
    let p = Params::parse(q.as_deref())?;
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

/// The user's data sources.
#[utoipa::path(get, path = "/api/v1/users/{user_id}/data-sources", tag = "data",
    params(("user_id" = Uuid, Path)), responses((status = 200, body = DataSourceList)))]
pub async fn data_sources(
    St(state): St<State>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
) -> ApiResult<Json<DataSourceList>> {
    let user = user_route(&state, &headers, &user_id).await?;
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

//! Fake Sensor Bio API (providers.md §4.10): OAuth at `/authorize` and `/token` (form
//! credentials), `/v1/user` (wrapped in `data`), the `last-timestamp` cursor endpoints
//! `/v1/activities` and `/v1/biometrics` (`limit` 1–50, ascending `timestamp` in ms,
//! `links.next` while more remain), the per-date `/v1/sleep` and `/v1/scores`, and the
//! unwrapped `/v1/step/details?granularity=day`.
//!
//! Dataset collections: `activities` and `biometrics` (records), `sleep` and `scores`
//! (`{"date", "data"}` per day), `step_details` (unwrapped answers, by `date`) and
//! `failing_dates` (dates whose per-date calls answer 404); `user_shape: ["unwrapped"]` makes
//! `/v1/user` answer without its `data` envelope. Served over HTTP/1.1: the fake
//! does not speak HTTP/2 (the reference's client asks for it; see the Sensor Bio module).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{Duration, NaiveDate};
use serde_json::{Value, json};

use crate::core::{Fake, Profile, no_extra, oauth_routes, opaque_token};

/// The user's Sensor Bio id.
pub const ACCOUNT_ID: &str = "sb_u_71c2";
/// Largest `limit` the cursor endpoints accept.
pub const MAX_LIMIT: usize = 50;

/// The Sensor Bio fake.
pub fn profile() -> Profile {
    Profile {
        provider: "sensorbio",
        account_id: ACCOUNT_ID,
        routes,
        seed,
        token_extra: no_extra,
        access_token: opaque_token,
        webhooks: &[],
        send_webhook: None,
    }
}

fn routes() -> Router<Fake> {
    oauth_routes("/authorize", "/token")
        .route("/v1/user", get(user))
        .route("/v1/activities", get(activities))
        .route("/v1/biometrics", get(biometrics))
        .route("/v1/sleep", get(sleep))
        .route("/v1/scores", get(scores))
        .route("/v1/step/details", get(step_details))
}

/// Epoch seconds of `day` at `h:m` UTC.
fn at(day: NaiveDate, h: u32, m: u32) -> i64 {
    day.and_hms_opt(h, m, 0)
        .map(|t| t.and_utc().timestamp())
        .unwrap_or_default()
}

fn ymd(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// A run on the anchor day, a strength session the day after, a walk long before any backfill;
/// a day of biometrics every 20 minutes (two pages); two nights, two days of scores and steps;
/// and a broken date two days before the anchor.
pub fn seed(anchor: NaiveDate) -> HashMap<String, Vec<Value>> {
    let next = anchor + Duration::days(1);
    let prev = anchor - Duration::days(1);
    let old = anchor - Duration::days(120);
    let mut m = HashMap::new();
    let mut put = |k: &str, v: Vec<Value>| {
        m.insert(k.to_string(), v);
    };
    put(
        "activities",
        vec![
            json!({"timestamp": at(old, 17, 30) * 1000, "name": "Walk", "activities": [
                {"id": "act_0001", "start_time": at(old, 17, 0) * 1000, "end_time": at(old, 17, 30) * 1000,
                 "likely_name": "walking", "calories": 95.0, "distance": 2.1, "active_time": 1700, "duration": 1800}]}),
            json!({"timestamp": at(anchor, 7, 40) * 1000, "name": "Run", "activities": [
                {"id": "act_9f21", "start_time": at(anchor, 7, 0) * 1000, "end_time": at(anchor, 7, 40) * 1000,
                 "likely_name": "running", "calories": 296.0, "distance": 5.4, "active_time": 2280, "duration": 2400,
                 "cardio_metrics": {"avg_bpm": 151, "max_bpm": 176, "min_bpm": 104}}]}),
            json!({"timestamp": at(next, 18, 45) * 1000, "name": "Workout", "activities": [
                {"id": "act_a77c", "start_time": at(next, 18, 0) * 1000, "end_time": at(next, 18, 45) * 1000,
                 "likely_name": "weights", "calories": 210.0, "active_time": 2100, "duration": 2700,
                 "cardio_metrics": {"avg_bpm": 118, "max_bpm": 149, "min_bpm": 82}}]}),
        ],
    );
    put(
        "biometrics",
        (0..72)
            .map(|i| {
                json!({"timestamp": (at(anchor, 0, 10) + i * 1200) * 1000, "bpm": 58 + i % 7,
                       "hrv": 40 + i % 5, "spo2": 97, "brpm": 14.5})
            })
            .collect(),
    );
    put(
        "sleep",
        vec![
            json!({"date": ymd(anchor), "data": [{"id": "slp_0601", "start_timestamp": at(prev, 23, 0),
                "end_timestamp": at(anchor, 6, 20), "total_sleep_mins": 404, "deep_sleep_mins": 78,
                "light_sleep_mins": 221, "rem_sleep_mins": 105, "awake_time_mins": 36, "avg_heart_rate": 56,
                "biometrics": {"bpm": 56, "hrv": 48, "spo2": 96, "resting_bpm": 51, "resting_hrv": 52},
                "score": {"value": 86}}]}),
            json!({"date": ymd(next), "data": [{"id": "slp_0602", "start_timestamp": at(anchor, 22, 40),
                "end_timestamp": at(next, 6, 10), "total_sleep_mins": 412, "deep_sleep_mins": 90,
                "light_sleep_mins": 210, "rem_sleep_mins": 112, "awake_time_mins": 38, "avg_heart_rate": 55,
                "biometrics": {"bpm": 55, "hrv": 50, "spo2": 97, "resting_bpm": 50, "resting_hrv": 55},
                "score": {"value": 88}}]}),
        ],
    );
    put(
        "scores",
        vec![
            json!({"date": ymd(anchor), "data": {"date": ymd(anchor), "recovery": {"value": 74, "stage": "ready"},
                "activity": {"value": 63, "avg": 58},
                "sleep": {"value": 86, "biometrics": {"resting_bpm": 51, "resting_hrv": 52, "spo2": 96}}}}),
            json!({"date": ymd(next), "data": {"date": ymd(next), "recovery": {"value": 81, "stage": "primed"},
                "activity": {"value": 70, "avg": 59},
                "sleep": {"value": 88, "biometrics": {"resting_bpm": 50, "resting_hrv": 55, "spo2": 97}}}}),
        ],
    );
    let steps = |day: NaiveDate, steps: i64, km: f64, kcal: f64, minutes: i64| {
        json!({"date": ymd(day), "granularity": "day", "daily_steps_goal": 10000,
            "steps_goal_achieved_percentage": steps * 100 / 10000,
            "metrics": [{"name": "Steps", "value": steps, "unit": ""}, {"name": "Distance", "value": km, "unit": "km"},
                {"name": "Calories", "value": kcal, "unit": "kcal"}, {"name": "Duration", "value": minutes, "unit": "min"}]})
    };
    put(
        "step_details",
        vec![
            steps(anchor, 9104, 6.8, 348.0, 82),
            steps(next, 7311, 5.5, 290.0, 64),
        ],
    );
    put(
        "failing_dates",
        vec![json!(ymd(anchor - Duration::days(2)))],
    );
    m
}

fn bad_request(msg: &str) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({"error": msg}))).into_response()
}

async fn user(State(fake): State<Fake>, uri: Uri, headers: HeaderMap) -> Response {
    crate::guard!(fake, uri, headers);
    let user = json!({"id": ACCOUNT_ID, "name": "Marta N.", "email": "marta@example.com"});
    // `user_shape: ["unwrapped"]` answers the profile without the `data` envelope.
    if fake
        .items("user_shape")
        .iter()
        .any(|s| s.as_str() == Some("unwrapped"))
    {
        return axum::Json(user).into_response();
    }
    axum::Json(json!({"data": user})).into_response()
}

/// Records of `kind` with `timestamp` after `last-timestamp`, ascending, at most `limit`.
fn cursor_page(fake: &Fake, path: &str, kind: &str, q: &HashMap<String, String>) -> Response {
    let last: i64 = match q.get("last-timestamp").map(|s| s.parse()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return bad_request("last-timestamp must be an integer (ms)"),
    };
    let limit: usize = match q.get("limit").map(|s| s.parse::<usize>()) {
        None => MAX_LIMIT,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        _ => return bad_request("limit must be between 1 and 50"),
    };
    let ts = |v: &Value| v.get("timestamp").and_then(Value::as_i64).unwrap_or(0);
    let mut items: Vec<Value> = fake
        .items(kind)
        .into_iter()
        .filter(|v| ts(v) > last)
        .collect();
    items.sort_by_key(ts);
    let more = items.len() > limit;
    items.truncate(limit);
    let links = match items.last() {
        Some(v) if more => {
            json!({"next": format!("{path}?last-timestamp={}&limit={limit}", ts(v))})
        }
        _ => json!({}),
    };
    axum::Json(json!({"data": items, "links": links})).into_response()
}

async fn activities(
    State(fake): State<Fake>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    crate::guard!(fake, uri, headers);
    cursor_page(&fake, "/v1/activities", "activities", &q)
}

async fn biometrics(
    State(fake): State<Fake>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    crate::guard!(fake, uri, headers);
    cursor_page(&fake, "/v1/biometrics", "biometrics", &q)
}

/// The asked `date`, or the error to answer instead (400 without one, 404 on a failing date).
fn asked_date(fake: &Fake, q: &HashMap<String, String>) -> Result<String, (StatusCode, Value)> {
    let Some(date) = q
        .get("date")
        .filter(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok())
    else {
        return Err((
            StatusCode::BAD_REQUEST,
            json!({"error": "date (YYYY-MM-DD) is required"}),
        ));
    };
    if fake
        .items("failing_dates")
        .iter()
        .any(|d| d.as_str() == Some(date))
    {
        return Err((
            StatusCode::NOT_FOUND,
            json!({"error": "no record for this date"}),
        ));
    }
    Ok(date.clone())
}

/// The `data` of the `{"date", "data"}` item of `kind` for `date`.
fn on_date(fake: &Fake, kind: &str, date: &str) -> Option<Value> {
    fake.items(kind)
        .into_iter()
        .find(|d| d.get("date").and_then(Value::as_str) == Some(date))
        .and_then(|d| d.get("data").cloned())
}

async fn sleep(
    State(fake): State<Fake>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    crate::guard!(fake, uri, headers);
    let date = match asked_date(&fake, &q) {
        Ok(d) => d,
        Err((status, body)) => return (status, axum::Json(body)).into_response(),
    };
    let data = on_date(&fake, "sleep", &date).unwrap_or_else(|| json!([]));
    axum::Json(json!({"data": data})).into_response()
}

async fn scores(
    State(fake): State<Fake>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    crate::guard!(fake, uri, headers);
    let date = match asked_date(&fake, &q) {
        Ok(d) => d,
        Err((status, body)) => return (status, axum::Json(body)).into_response(),
    };
    let data = on_date(&fake, "scores", &date).unwrap_or(Value::Null);
    axum::Json(json!({"data": data})).into_response()
}

async fn step_details(
    State(fake): State<Fake>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    crate::guard!(fake, uri, headers);
    let date = match asked_date(&fake, &q) {
        Ok(d) => d,
        Err((status, body)) => return (status, axum::Json(body)).into_response(),
    };
    if q.get("granularity").map(String::as_str) != Some("day") {
        return bad_request("this fake serves granularity=day only");
    }
    let answer = fake
        .items("step_details")
        .into_iter()
        .find(|d| d.get("date").and_then(Value::as_str) == Some(date.as_str()))
        .unwrap_or_else(|| {
            json!({"date": date, "granularity": "day", "daily_steps_goal": 10000,
                "steps_goal_achieved_percentage": 0, "metrics": []})
        });
    axum::Json(answer).into_response()
}

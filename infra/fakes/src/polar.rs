//! Fake Polar AccessLink v3 (providers.md §4.2): OAuth at `/oauth2/authorization` and
//! `/v2/oauth2/token` (HTTP Basic client authentication only; the token answer carries
//! `x_user_id` and no refresh token), user registration (`POST /v3/users`, 409 when already
//! registered) and deregistration (`DELETE /v3/users/{id}`), every data endpoint the client
//! reads with AccessLink's shapes (404 or empty 204 when there is no data, 400 for ranges over
//! 28 days), the app-level webhook API (`/v3/webhooks`, one per app, PING on create and
//! update, secret returned once) and signed webhook delivery.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Value, json};

use crate::core::{Fake, Profile, authorize, hmac_hex, opaque_token, post_webhook};

/// The Polar user id (`x_user_id`) of the fake's account.
pub const ACCOUNT_ID: &str = "58204113";
/// The `signature_secret_key` the fake hands out at webhook registration and signs with.
pub const WEBHOOK_SECRET: &str = "polar-fake-signature-secret-6c1e0f3a";
/// The id of the exercise the `exercise` webhook adds (on anchor + 2 days).
pub const WEBHOOK_EXERCISE_ID: &str = "Wb7pX2";
/// Longest inclusive `from`..`to` range the range endpoints accept.
pub const MAX_RANGE_DAYS: i64 = 28;

pub fn profile() -> Profile {
    Profile {
        provider: "polar",
        account_id: ACCOUNT_ID,
        routes,
        seed,
        token_extra,
        access_token: opaque_token,
        webhooks: &["exercise", "sleep", "ping"],
        send_webhook: Some(|fake, target, kind| Box::pin(send(fake, target, kind))),
    }
}

/// Polar answers `x_user_id` (an integer) and issues no refresh token.
fn token_extra(_: &Fake) -> Value {
    json!({"x_user_id": ACCOUNT_ID.parse::<i64>().unwrap_or_default(), "refresh_token": null})
}

fn routes() -> Router<Fake> {
    Router::new()
        .route("/oauth2/authorization", get(authorize))
        .route("/v2/oauth2/token", post(token))
        .route("/v3/users", post(register))
        .route("/v3/users/{id}", axum::routing::delete(deregister))
        .route("/v3/exercises", get(exercises))
        .route("/v3/exercises/{id}", get(exercise))
        .route("/v3/users/sleep/available", get(sleep_available))
        .route("/v3/users/sleep/{date}", get(sleep_night))
        .route("/v3/users/nightly-recharge", get(nightly_recharge))
        .route("/v3/users/physical-info", get(physical_info))
        .route("/v3/users/activities", get(ranged))
        .route("/v3/users/continuous-heart-rate", get(ranged))
        .route("/v3/users/cardio-load/date", get(ranged))
        .route("/v3/users/sleepwise/alertness", get(ranged))
        .route("/v3/users/sleepwise/circadian-bedtime", get(ranged))
        .route("/v3/users/body-temperature", get(ranged))
        .route("/v3/users/sleep-skin-temperature", get(ranged))
        .route("/v3/users/spo2", get(ranged))
        .route("/v3/users/wrist-ecg", get(ranged))
        .route("/v3/webhooks", get(list_webhooks).post(create_webhook))
        .route(
            "/v3/webhooks/{id}",
            axum::routing::patch(update_webhook).delete(delete_webhook),
        )
        .route("/v3/webhooks/activate", post(activate))
        .route("/v3/webhooks/deactivate", post(deactivate))
}

fn ymd(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// An exercise starting at `local_start` (local wall time, UTC offset +120 minutes).
fn exercise_item(
    id: &str,
    local_start: String,
    duration: &str,
    calories: i64,
    distance: Option<f64>,
    hr: (i64, i64),
    sport: (&str, &str),
) -> Value {
    json!({
        "id": id,
        "polar_user": format!("https://www.polaraccesslink.com/v3/users/{ACCOUNT_ID}"),
        "device": "Polar Grit X2 Pro",
        "device_id": "B7C21A04",
        "start_time": local_start,
        "start_time_utc_offset": 120,
        "duration": duration,
        "calories": calories,
        "distance": distance,
        "heart_rate": {"average": hr.0, "maximum": hr.1},
        "training_load": 118.5,
        "sport": sport.0,
        "detailed_sport_info": sport.1,
        "has_route": distance.is_some(),
    })
}

/// A night in the sample's shape, ending on `date` (local times at +02:00).
fn sleep_item(date: NaiveDate, score: i64) -> Value {
    let prev = ymd(date - Duration::days(1));
    let d = ymd(date);
    json!({
        "polar_user": format!("https://www.polaraccesslink.com/v3/users/{ACCOUNT_ID}"),
        "date": d,
        "sleep_start_time": format!("{prev}T23:18:42+02:00"),
        "sleep_end_time": format!("{d}T06:41:07+02:00"),
        "device_id": "B7C21A04", "continuity": 3.4, "continuity_class": 3,
        "light_sleep": 13200, "deep_sleep": 5280, "rem_sleep": 5940, "unrecognized_sleep_stage": 0,
        "sleep_score": score, "total_interruption_duration": 2100, "sleep_charge": 4, "sleep_rating": 4,
        "short_interruption_duration": 1320, "long_interruption_duration": 780, "sleep_cycles": 5,
        "group_duration_score": 84.0, "group_solidity_score": 77.5, "group_regeneration_score": 80.2,
        "hypnogram": {"23:18": 2, "23:47": 4, "00:55": 2, "01:40": 1, "02:10": 0, "02:14": 3, "06:20": 1},
        "heart_rate_samples": {"23:20": 61, "23:25": 58, "23:30": 56},
    })
}

/// A run and an indoor ride, one night, daily activity on two days, continuous heart rate,
/// cardio load, Nightly Recharge, SleepWise, Elixir temperatures and SpO2, physical info.
/// No wrist ECG (that endpoint answers 404).
pub fn seed(anchor: NaiveDate) -> HashMap<String, Vec<Value>> {
    let d = ymd(anchor);
    let prev = ymd(anchor - Duration::days(1));
    let next = ymd(anchor + Duration::days(1));
    let user = format!("https://www.polaraccesslink.com/v3/users/{ACCOUNT_ID}");
    let mut m = HashMap::new();
    let mut put = |k: &str, v: Vec<Value>| {
        m.insert(k.to_string(), v);
    };
    put(
        "exercises",
        vec![
            exercise_item(
                "Kq3vR9",
                format!("{d}T05:10:00"),
                "PT52M30S",
                561,
                Some(9120.0),
                (149, 181),
                ("RUNNING", "RUNNING_TRAIL"),
            ),
            exercise_item(
                "Lm4wT2",
                format!("{prev}T18:00:00"),
                "PT1H",
                640,
                None,
                (138, 171),
                ("CYCLING", "INDOOR_CYCLING"),
            ),
        ],
    );
    put("sleep", vec![sleep_item(anchor, 81)]);
    put(
        "activities",
        vec![
            json!({"start_time": format!("{d}T00:00:00"), "end_time": format!("{next}T00:00:00"),
                "active_duration": "PT2H14M", "inactive_duration": "PT9H1M", "daily_activity": 96.0,
                "calories": 2410, "active_calories": 702, "steps": 12877, "inactivity_alert_count": 1,
                "distance_from_steps": 9402.5}),
            json!({"start_time": format!("{next}T00:00:00"), "end_time": format!("{}T00:00:00", ymd(anchor + Duration::days(2))),
                "active_duration": "PT1H5M", "inactive_duration": "PT10H2M", "daily_activity": 71.0,
                "calories": 2105, "active_calories": 388, "steps": 7421, "inactivity_alert_count": 2,
                "distance_from_steps": 5420.0}),
        ],
    );
    put(
        "continuous-heart-rate",
        vec![
            json!({"polar_user": user, "date": d, "heart_rate_samples": [
            {"heart_rate": 62, "sample_time": "10:00:41"},
            {"heart_rate": 60, "sample_time": "10:05:41"},
            {"heart_rate": 71, "sample_time": "10:10:41"}]}),
        ],
    );
    put(
        "cardio-load",
        vec![
            json!({"date": d, "cardio_load_status": "PRODUCTIVE", "cardio_load": 92.4, "strain": 88.1,
            "tolerance": 101.7, "cardio_load_ratio": 0.87,
            "cardio_load_level": {"very_low": 20.0, "low": 45.0, "medium": 80.0, "high": 115.0, "very-high": 150.0}}),
            json!({"date": next, "cardio_load_status": "LOAD_STATUS_NOT_AVAILABLE"}),
        ],
    );
    put(
        "nightly-recharge",
        vec![
            json!({"polar_user": user, "date": d, "heart_rate_avg": 55, "beat_to_beat_avg": 1092,
            "heart_rate_variability_avg": 47, "breathing_rate_avg": 13.6, "nightly_recharge_status": 5,
            "ans_charge": 3.1, "ans_charge_status": 4}),
        ],
    );
    put(
        "alertness",
        vec![
            json!({"grade": 7.4, "grade_validity_seconds": 57600, "grade_type": "GRADE_TYPE_PRIMARY",
            "grade_classification": "GRADE_CLASSIFICATION_STRONG", "validity": "VALIDITY_VALID",
            "sleep_inertia": "SLEEP_INERTIA_MILD", "sleep_type": "SLEEP_TYPE_PRIMARY",
            "result_type": "ALERTNESS_TYPE_HISTORY", "period_start_time": format!("{d}T04:41:07"),
            "period_end_time": format!("{d}T20:41:07"), "sleep_timezone_offset_minutes": 120, "hourly_data": []}),
        ],
    );
    put(
        "circadian-bedtime",
        vec![
            json!({"validity": "VALIDITY_ESTIMATE", "quality": "CIRCADIAN_BEDTIME_QUALITY_CLEARLY_RECOGNIZABLE",
            "result_type": "CIRCADIAN_BEDTIME_TYPE_HISTORY", "period_start_time": format!("{d}T12:00:00"),
            "period_end_time": format!("{next}T12:00:00"), "preferred_sleep_period_start_time": format!("{d}T20:30:00"),
            "preferred_sleep_period_end_time": format!("{next}T04:30:00"), "sleep_gate_start_time": format!("{d}T20:15:00"),
            "sleep_gate_end_time": format!("{d}T20:45:00"), "sleep_timezone_offset_minutes": 120}),
        ],
    );
    put(
        "body-temperature",
        vec![
            json!({"source_device_id": "B7C21A04", "measurement_type": "TM_SKIN_TEMPERATURE",
            "sensor_location": "SL_DISTAL", "start_time": format!("{prev}T22:00:00Z"), "end_time": format!("{d}T04:00:00Z"),
            "modified_time": format!("{d}T04:05:00Z"), "samples": [
                {"temperature_celsius": 33.9, "recording_time_delta_milliseconds": 0},
                {"temperature_celsius": 34.2, "recording_time_delta_milliseconds": 3_600_000}]}),
        ],
    );
    put(
        "sleep-skin-temperature",
        vec![
            json!({"sleep_time_skin_temperature_celsius": 34.1, "deviation_from_baseline_celsius": -0.3, "sleep_date": d}),
        ],
    );
    let spo2_time = anchor
        .and_hms_opt(5, 40, 0)
        .map(|t| t.and_utc().timestamp())
        .unwrap_or_default();
    put(
        "spo2",
        vec![
            json!({"source_device_id": "B7C21A04", "test_time": spo2_time, "time_zone_offset": 120,
            "test_status": "SPO2_TEST_PASSED", "blood_oxygen_percent": 97, "spo2_class": "SPO2_CLASS_NORMAL",
            "average_heart_rate_bpm": 58, "heart_rate_variability_ms": 51.2}),
            json!({"source_device_id": "B7C21A04", "test_time": spo2_time + 600, "time_zone_offset": 120,
            "test_status": "SPO2_TEST_FAILED", "blood_oxygen_percent": 80}),
        ],
    );
    put("wrist-ecg", Vec::new());
    put(
        "physical-info",
        vec![
            json!({"weight": 70.5, "height": 175, "created": "2023-01-10T08:00:00Z",
            "modified": format!("{d}T12:00:00Z"), "birthday": "1990-01-01", "gender": "MALE",
            "maximum_heart_rate": 190, "resting_heart_rate": 52, "aerobic_threshold": 140,
            "anaerobic_threshold": 170, "vo2_max": 50, "weight_source": "SOURCE_USER"}),
        ],
    );
    m
}

fn not_found() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

fn bad_request(msg: &str) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({"error": msg}))).into_response()
}

/// The token endpoint wants HTTP Basic client authentication (form credentials are refused
/// to catch regressions), then runs the common grant logic.
async fn token(State(fake): State<Fake>, headers: HeaderMap, body: String) -> Response {
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Basic "));
    if !basic {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client", "error_description": "HTTP Basic client authentication required"})),
        )
            .into_response();
    }
    crate::core::token(State(fake), headers, body).await
}

/// `POST /v3/users`: registers the member; 409 when already registered.
async fn register(
    State(fake): State<Fake>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    crate::guard!(fake, uri, headers);
    let member = serde_json::from_str::<Value>(&body).ok().and_then(|v| {
        v.get("member-id")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let Some(member) = member else {
        return bad_request("member-id is required");
    };
    let known = fake
        .items("registrations")
        .iter()
        .any(|r| r["member-id"] == member);
    if known {
        return (
            StatusCode::CONFLICT,
            axum::Json(json!({"error": "user already registered"})),
        )
            .into_response();
    }
    let user = json!({
        "polar-user-id": ACCOUNT_ID.parse::<i64>().unwrap_or_default(),
        "member-id": member,
        "registration-date": "2024-06-10T12:00:00.000Z",
        "first-name": "Ada",
        "last-name": "Lovelace",
        "weight": 70.5,
        "height": 175,
        "gender": "FEMALE",
        "birthdate": "1990-01-01",
    });
    fake.add_item("registrations", user.clone());
    axum::Json(user).into_response()
}

/// `DELETE /v3/users/{id}`: deregistration (counted).
async fn deregister(
    State(fake): State<Fake>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    crate::guard!(fake, uri, headers);
    if id != ACCOUNT_ID {
        return not_found();
    }
    fake.with(|s| {
        s.deregistrations += 1;
        s.items.remove("registrations");
    });
    StatusCode::NO_CONTENT.into_response()
}

async fn exercises(State(fake): State<Fake>, uri: Uri, headers: HeaderMap) -> Response {
    crate::guard!(fake, uri, headers);
    axum::Json(Value::Array(fake.items("exercises"))).into_response()
}

async fn exercise(
    State(fake): State<Fake>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    crate::guard!(fake, uri, headers);
    match fake.items("exercises").into_iter().find(|e| e["id"] == id) {
        Some(e) => axum::Json(e).into_response(),
        None => not_found(),
    }
}

async fn sleep_available(State(fake): State<Fake>, uri: Uri, headers: HeaderMap) -> Response {
    crate::guard!(fake, uri, headers);
    let available: Vec<Value> = fake
        .items("sleep")
        .iter()
        .map(|s| {
            json!({"date": s["date"], "start_time": s["sleep_start_time"], "end_time": s["sleep_end_time"]})
        })
        .collect();
    if available.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    axum::Json(json!({ "available": available })).into_response()
}

async fn sleep_night(
    State(fake): State<Fake>,
    Path(date): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    crate::guard!(fake, uri, headers);
    match fake.items("sleep").into_iter().find(|s| s["date"] == date) {
        Some(s) => axum::Json(s).into_response(),
        None => not_found(),
    }
}

async fn nightly_recharge(State(fake): State<Fake>, uri: Uri, headers: HeaderMap) -> Response {
    crate::guard!(fake, uri, headers);
    let recharges = fake.items("nightly-recharge");
    if recharges.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    axum::Json(json!({ "recharges": recharges })).into_response()
}

async fn physical_info(State(fake): State<Fake>, uri: Uri, headers: HeaderMap) -> Response {
    crate::guard!(fake, uri, headers);
    match fake.items("physical-info").into_iter().next() {
        Some(p) => axum::Json(p).into_response(),
        None => not_found(),
    }
}

/// The date (`YYYY-MM-DD`) an item of a range collection belongs to.
fn item_day(kind: &str, v: &Value) -> Option<String> {
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(|s| s.chars().take(10).collect())
    };
    match kind {
        "activities" | "body-temperature" => s("start_time"),
        "alertness" | "circadian-bedtime" => s("period_start_time"),
        "sleep-skin-temperature" => s("sleep_date"),
        "spo2" | "wrist-ecg" => v
            .get("test_time")
            .and_then(Value::as_i64)
            .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0))
            .map(|t| t.format("%Y-%m-%d").to_string()),
        _ => s("date"),
    }
}

/// Every `from`/`to` endpoint: validates the range (both dates, at most 28 days), answers the
/// items of those days; no data is 404 for the Elixir endpoints and 204 for the others.
async fn ranged(
    State(fake): State<Fake>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    crate::guard!(fake, uri, headers);
    let day = |k: &str| {
        q.get(k)
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
    };
    let (Some(from), Some(to)) = (day("from"), day("to")) else {
        return bad_request("from and to (YYYY-MM-DD) are required");
    };
    if to < from || (to - from).num_days() + 1 > MAX_RANGE_DAYS {
        return bad_request("the range must be at most 28 days");
    }
    let path = uri.path();
    let (kind, wrapper) = match path {
        "/v3/users/activities" => ("activities", None),
        "/v3/users/continuous-heart-rate" => ("continuous-heart-rate", Some("heart_rates")),
        "/v3/users/cardio-load/date" => ("cardio-load", None),
        "/v3/users/sleepwise/alertness" => ("alertness", None),
        "/v3/users/sleepwise/circadian-bedtime" => ("circadian-bedtime", None),
        "/v3/users/body-temperature" => ("body-temperature", None),
        "/v3/users/sleep-skin-temperature" => ("sleep-skin-temperature", None),
        "/v3/users/spo2" => ("spo2", None),
        "/v3/users/wrist-ecg" => ("wrist-ecg", None),
        _ => return not_found(),
    };
    let (lo, hi) = (ymd(from), ymd(to));
    let hits: Vec<Value> = fake
        .items(kind)
        .into_iter()
        .filter(|i| item_day(kind, i).is_some_and(|d| d >= lo && d <= hi))
        .collect();
    if hits.is_empty() {
        let elixir = path.starts_with("/v3/users/body-temperature")
            || path.starts_with("/v3/users/sleep-skin-temperature")
            || path.starts_with("/v3/users/spo2")
            || path.starts_with("/v3/users/wrist-ecg");
        return if elixir {
            not_found()
        } else {
            StatusCode::NO_CONTENT.into_response()
        };
    }
    match wrapper {
        Some(w) => axum::Json(json!({ w: hits })).into_response(),
        None => axum::Json(Value::Array(hits)).into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// Webhook registration API (HTTP Basic with the client credentials)
// ---------------------------------------------------------------------------------------------

fn client_ok(fake: &Fake, headers: &HeaderMap) -> bool {
    let want = format!(
        "{}:{}",
        fake.options().client_id,
        fake.options().client_secret
    );
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .is_some_and(|raw| raw == want.as_bytes())
}

fn unauthorized() -> Response {
    StatusCode::UNAUTHORIZED.into_response()
}

/// POSTs the unsigned PING Polar sends on webhook creation and URL changes.
async fn ping(url: &str) -> Result<u16, String> {
    let body = json!({"event": "PING", "timestamp": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)});
    post_webhook(url, &[], body.to_string().into_bytes()).await
}

async fn list_webhooks(State(fake): State<Fake>, headers: HeaderMap) -> Response {
    if !client_ok(&fake, &headers) {
        return unauthorized();
    }
    let data: Vec<Value> = fake.with(|s| {
        s.subscriptions
            .iter()
            .map(|w| json!({"id": w["id"], "events": w["events"], "url": w["url"], "active": w["active"]}))
            .collect()
    });
    axum::Json(json!({ "data": data })).into_response()
}

async fn create_webhook(State(fake): State<Fake>, headers: HeaderMap, body: String) -> Response {
    if !client_ok(&fake, &headers) {
        return unauthorized();
    }
    let Ok(req) = serde_json::from_str::<Value>(&body) else {
        return bad_request("invalid JSON");
    };
    let (Some(url), Some(events)) = (
        req.get("url").and_then(Value::as_str),
        req.get("events").and_then(Value::as_array),
    ) else {
        return bad_request("url and events are required");
    };
    if fake.with(|s| !s.subscriptions.is_empty()) {
        return (
            StatusCode::CONFLICT,
            axum::Json(json!({"error": "a webhook already exists for this client"})),
        )
            .into_response();
    }
    if ping(url).await != Ok(200) {
        return bad_request("the webhook URL did not answer the PING with 200");
    }
    let id = uuid::Uuid::new_v4().to_string();
    fake.with(|s| {
        s.subscriptions
            .push(json!({"id": id, "events": events, "url": url, "active": true}));
    });
    (
        StatusCode::CREATED,
        axum::Json(json!({"data": {"id": id, "events": events, "url": url, "signature_secret_key": WEBHOOK_SECRET}})),
    )
        .into_response()
}

async fn update_webhook(
    State(fake): State<Fake>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if !client_ok(&fake, &headers) {
        return unauthorized();
    }
    let Ok(req) = serde_json::from_str::<Value>(&body) else {
        return bad_request("invalid JSON");
    };
    if !fake.with(|s| s.subscriptions.iter().any(|w| w["id"] == id)) {
        return not_found();
    }
    if let Some(url) = req.get("url").and_then(Value::as_str)
        && ping(url).await != Ok(200)
    {
        return bad_request("the webhook URL did not answer the PING with 200");
    }
    let updated = fake.with(|s| {
        let w = s.subscriptions.iter_mut().find(|w| w["id"] == id)?;
        for k in ["url", "events"] {
            if let Some(v) = req.get(k) {
                w[k] = v.clone();
            }
        }
        Some(json!({"id": w["id"], "events": w["events"], "url": w["url"]}))
    });
    match updated {
        Some(w) => axum::Json(json!({ "data": w })).into_response(),
        None => not_found(),
    }
}

async fn delete_webhook(
    State(fake): State<Fake>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !client_ok(&fake, &headers) {
        return unauthorized();
    }
    let removed = fake.with(|s| {
        let before = s.subscriptions.len();
        s.subscriptions.retain(|w| w["id"] != id);
        before != s.subscriptions.len()
    });
    if removed {
        StatusCode::NO_CONTENT.into_response()
    } else {
        not_found()
    }
}

async fn set_active(fake: &Fake, headers: &HeaderMap, active: bool) -> Response {
    if !client_ok(fake, headers) {
        return unauthorized();
    }
    let url = fake.with(|s| {
        s.subscriptions.first_mut().map(|w| {
            w["active"] = Value::Bool(active);
            w["url"].as_str().unwrap_or_default().to_string()
        })
    });
    match url {
        Some(u) if active => {
            if ping(&u).await != Ok(200) {
                return bad_request("the webhook URL did not answer the PING with 200");
            }
            StatusCode::OK.into_response()
        }
        Some(_) => StatusCode::OK.into_response(),
        None => not_found(),
    }
}

async fn activate(State(fake): State<Fake>, headers: HeaderMap) -> Response {
    set_active(&fake, &headers, true).await
}

async fn deactivate(State(fake): State<Fake>, headers: HeaderMap) -> Response {
    set_active(&fake, &headers, false).await
}

// ---------------------------------------------------------------------------------------------
// Webhook delivery
// ---------------------------------------------------------------------------------------------

/// Polar's signature: lower-case hex HMAC-SHA256 of the raw body with the signing secret.
pub fn sign(body: &[u8]) -> String {
    hmac_hex(WEBHOOK_SECRET.as_bytes(), &[body])
}

/// `exercise`: a new trail run on anchor + 2 days, then the EXERCISE notification.
/// `sleep`: a new night ending on anchor + 3 days, then the SLEEP notification.
/// `ping`: the unsigned PING.
async fn send(fake: Fake, target: String, kind: String) -> Result<u16, String> {
    let url = format!(
        "{}/api/v1/providers/polar/webhooks",
        target.trim_end_matches('/')
    );
    let user: i64 = ACCOUNT_ID.parse().unwrap_or_default();
    let body = match kind.as_str() {
        "ping" => return ping(&url).await,
        "exercise" => {
            let day = fake.anchor() + Duration::days(2);
            fake.add_item(
                "exercises",
                exercise_item(
                    WEBHOOK_EXERCISE_ID,
                    format!("{}T17:30:00", ymd(day)),
                    "PT1H15M",
                    802,
                    Some(14250.0),
                    (152, 178),
                    ("RUNNING", "RUNNING_ROAD"),
                ),
            );
            json!({"event": "EXERCISE", "user_id": user, "entity_id": WEBHOOK_EXERCISE_ID,
                "timestamp": format!("{}T16:52:10Z", ymd(day)),
                "url": format!("https://www.polaraccesslink.com/v3/exercises/{WEBHOOK_EXERCISE_ID}")})
        }
        "sleep" => {
            let day = fake.anchor() + Duration::days(3);
            fake.add_item("sleep", sleep_item(day, 74));
            json!({"event": "SLEEP", "user_id": user, "date": ymd(day),
                "timestamp": format!("{}T05:02:00Z", ymd(day)),
                "url": format!("https://www.polaraccesslink.com/v3/users/sleep/{}", ymd(day))})
        }
        other => return Err(format!("polar sends no '{other}' webhook")),
    };
    let raw = body.to_string().into_bytes();
    let signature = sign(&raw);
    post_webhook(&url, &[("Polar-Webhook-Signature", signature)], raw).await
}

//! Fake Suunto Cloud API (providers.md §4.3): OAuth at `/oauth/authorize` and `/oauth/token`
//! (Basic client auth only) issuing JWT access tokens with `sub`/`user` claims; the data API
//! behind the `Ocp-Apim-Subscription-Key` check (401 without it, like Azure APIM):
//! `/v3/workouts/` (`since`/`limit`/`offset`, modification-time filter), `/v3/workouts/{key}`,
//! `/247samples/{sleep,recovery,activity}` and `/247/daily-activity-statistics` (both refuse
//! ranges over 28 days); an "HTTP 200 + error body" fault; and signed stream webhooks for the
//! five event types.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Value, json};

use crate::core::{Fake, Profile, hmac_hex, hmac_raw, post_webhook};

/// The account's username: the JWT `user` claim, what webhooks carry, our provider_user_id.
pub const ACCOUNT_ID: &str = "trailfox_82";
/// The account's id: the JWT `sub` claim.
pub const SUBJECT: &str = "7d3f0a9e41b2";
/// The subscription key the fake's API Management layer accepts.
pub const SUBSCRIPTION_KEY: &str = "fake-suunto-subscription-key";
/// The notification secret the fake signs webhooks with (our test `SECRET_KEY`, which is
/// also the app's default for `SUUNTO_WEBHOOK_SECRET`).
pub const WEBHOOK_SECRET: &str = "test-secret-key-0123456789abcdef";
/// Widest range the 24/7 endpoints accept.
pub const MAX_RANGE_DAYS: i64 = 28;
/// The dataset key counting pending "HTTP 200 + error body" answers.
const IN_BODY_ERRORS: &str = "_in_body_errors";

/// What our app must be configured with to talk to this fake.
pub fn app_settings() -> Vec<(&'static str, &'static str)> {
    vec![
        ("SUUNTO_SUBSCRIPTION_KEY", SUBSCRIPTION_KEY),
        ("SUUNTO_WEBHOOK_SECRET", WEBHOOK_SECRET),
    ]
}

pub fn profile() -> Profile {
    Profile {
        provider: "suunto",
        account_id: ACCOUNT_ID,
        routes,
        seed,
        token_extra: crate::core::no_extra,
        access_token: jwt_token,
        webhooks: &[
            "workout_created",
            "sleep_created",
            "activity_created",
            "recovery_created",
            "route_created",
        ],
        send_webhook: Some(send_webhook),
    }
}

/// A JWT (HS256, signed with the client secret) whose claims name the account.
pub fn jwt_token(fake: &Fake, n: u64) -> String {
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    let header = b64(&json!({"alg": "HS256", "typ": "JWT"}));
    let claims = b64(&json!({
        "sub": SUBJECT,
        "user": ACCOUNT_ID,
        "exp": Utc::now().timestamp() + fake.options().expires_in,
        "authorities": ["ROLE_CLIENT"],
        "jti": format!("suunto-{n}"),
    }));
    let signing_input = format!("{header}.{claims}");
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hmac_raw(
        fake.options().client_secret.as_bytes(),
        &[signing_input.as_bytes()],
    ));
    format!("{signing_input}.{sig}")
}

/// The next `n` data calls answer HTTP 200 with an error body.
pub fn errors_in_body(fake: &Fake, n: u32) {
    fake.with(|s| {
        s.items.insert(IN_BODY_ERRORS.to_string(), vec![json!(n)]);
    });
}

fn routes() -> Router<Fake> {
    Router::new()
        .route("/oauth/authorize", get(crate::core::authorize))
        .route("/oauth/token", post(basic_token))
        .route("/v3/workouts/", get(workouts))
        .route("/v3/workouts", get(workouts))
        .route("/v3/workouts/{key}", get(workout))
        .route("/247samples/{kind}", get(samples))
        .route("/247/daily-activity-statistics", get(daily_statistics))
}

/// Suunto's token endpoint authenticates clients with HTTP Basic only.
async fn basic_token(State(fake): State<Fake>, headers: HeaderMap, body: String) -> Response {
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Basic "));
    if !basic {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client", "error_description": "Basic client authentication required"})),
        )
            .into_response();
    }
    crate::core::token(State(fake), headers, body).await
}

fn ms(d: DateTime<Utc>) -> i64 {
    d.timestamp_millis()
}

fn at(day: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    day.and_hms_opt(h, m, 0).unwrap_or_default().and_utc()
}

/// One workout in Suunto's list shape (`offset_min` east of UTC).
#[allow(clippy::too_many_arguments)]
fn workout_json(
    id: i64,
    key: &str,
    activity: i64,
    start: DateTime<Utc>,
    seconds: f64,
    distance: f64,
    kcal: f64,
    hr: (i64, i64, i64),
) -> Value {
    let stop = start + Duration::milliseconds((seconds * 1000.0) as i64);
    let avg_speed = ((distance / seconds) * 100.0).round() / 100.0;
    json!({
        "workoutId": id, "workoutKey": key, "activityId": activity,
        "startTime": ms(start), "stopTime": ms(stop), "totalTime": seconds,
        "timeOffsetInMinutes": 120, "totalDistance": distance, "stepCount": (distance * 0.9) as i64,
        "energyConsumption": kcal, "maxSpeed": (avg_speed * 2.1 * 100.0).round() / 100.0, "avgSpeed": avg_speed,
        "totalAscent": 612.0, "totalDescent": 598.0, "maxAltitude": 1402.0, "minAltitude": 866.0,
        "hrdata": {"workoutAvgHR": hr.0, "workoutMaxHR": hr.1, "avg": hr.0, "hrmax": hr.1,
                   "max": 191, "min": hr.2, "userMaxHR": 191},
        "gear": {"manufacturer": "Suunto", "name": "Suunto Race", "displayName": "Suunto Race S",
                 "serialNumber": "SR2408801234", "swVersion": "2.39.20"},
        "lastModified": ms(stop) + 120_000,
    })
}

fn sleep_json(night_end: NaiveDate, id: i64) -> Value {
    let d = night_end.format("%Y-%m-%d");
    json!({"timestamp": format!("{d}T01:05:00.000+02:00"), "entryData": {
        "BedtimeStart": format!("{d}T01:05:00.000+02:00"), "BedtimeEnd": format!("{d}T07:52:00.000+02:00"),
        "Duration": 24420.0, "DeepSleepDuration": 5220.0, "LightSleepDuration": 15030.0,
        "REMSleepDuration": 2880.0, "HRAvg": 58.0, "HRMin": 47.0, "AvgHRV": 61.0,
        "SleepQualityScore": 79, "IsNap": false, "SleepId": id}})
}

fn daily_json(name: &str, day: NaiveDate, value: f64) -> Value {
    json!({"Name": name, "TimeISO8601": format!("{}T00:00:00+02:00", day.format("%Y-%m-%d")), "Value": value})
}

/// Three workouts (one 30 days before the anchor), a night, a recovery reading, activity
/// samples and two days of daily statistics.
pub fn seed(anchor: NaiveDate) -> HashMap<String, Vec<Value>> {
    let d = anchor.format("%Y-%m-%d").to_string();
    let mut m = HashMap::new();
    m.insert(
        "workouts".to_string(),
        vec![
            workout_json(
                884_120_101,
                "665694d8a1c2e31f0d7b4a01",
                11,
                at(anchor - Duration::days(30), 7, 45),
                10_260.0,
                14_880.0,
                1_190.0,
                (121, 158, 84),
            ),
            workout_json(
                884_120_357,
                "665694d8a1c2e31f0d7b4a55",
                22,
                at(anchor, 8, 30),
                5_480.6,
                15_234.8,
                1_012.0,
                (146, 178, 92),
            ),
            workout_json(
                884_120_412,
                "665694d8a1c2e31f0d7b4a60",
                2,
                at(anchor + Duration::days(1), 16, 0),
                3_600.0,
                28_450.0,
                690.0,
                (131, 164, 88),
            ),
        ],
    );
    m.insert("sleep".to_string(), vec![sleep_json(anchor, 1_717_196_700)]);
    m.insert(
        "recovery".to_string(),
        vec![
            json!({"timestamp": format!("{d}T09:00:00.000+02:00"), "entryData": {"Balance": 0.72, "StressState": 1}}),
        ],
    );
    m.insert(
        "activity".to_string(),
        vec![
            json!({"timestamp": format!("{d}T09:10:00.000+02:00"), "entryData": {"HR": 71, "StepCount": 214, "SpO2": 0.97, "EnergyConsumption": 104600, "HRV": 44}}),
            json!({"timestamp": format!("{d}T09:20:00.000+02:00"), "entryData": {"HR": 88, "StepCount": 1030, "SpO2": 0.98, "EnergyConsumption": 209200, "HRV": 0}}),
            json!({"timestamp": format!("{d}T09:30:00.000+02:00"), "entryData": {"HR": 76, "StepCount": 512, "EnergyConsumption": 125520}}),
        ],
    );
    m.insert(
        "daily".to_string(),
        vec![
            daily_json("stepcount", anchor, 11_873.0),
            daily_json("energyconsumption", anchor, 2_719_200.0),
            daily_json("stepcount", anchor + Duration::days(1), 9_540.0),
            daily_json("energyconsumption", anchor + Duration::days(1), 2_510_400.0),
        ],
    );
    m
}

fn subscription_refused(headers: &HeaderMap) -> Option<Response> {
    let key = headers
        .get("Ocp-Apim-Subscription-Key")
        .and_then(|v| v.to_str().ok());
    (key != Some(SUBSCRIPTION_KEY)).then(|| {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"statusCode": 401, "message": "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."})),
        )
            .into_response()
    })
}

fn in_body_error(fake: &Fake) -> Option<Response> {
    let due = fake.with(|s| {
        let Some(n) = s.items.get_mut(IN_BODY_ERRORS).and_then(|v| v.first_mut()) else {
            return false;
        };
        let left = n.as_u64().unwrap_or(0);
        if left == 0 {
            return false;
        }
        *n = json!(left - 1);
        true
    });
    due.then(|| {
        axum::Json(json!({"error": {"code": "503", "description": "Backend temporarily unavailable"}, "metadata": null, "payload": null}))
            .into_response()
    })
}

/// The subscription key, the bearer guard and the in-body error fault, in that order.
macro_rules! suunto_guard {
    ($fake:expr, $uri:expr, $headers:expr) => {
        if let Some(resp) = subscription_refused(&$headers) {
            return resp;
        }
        crate::guard!($fake, $uri, $headers);
        if let Some(resp) = in_body_error(&$fake) {
            return resp;
        }
    };
}

fn bad_request(msg: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": {"code": "400", "description": msg}, "payload": null})),
    )
        .into_response()
}

fn int_param(q: &HashMap<String, String>, k: &str) -> Option<i64> {
    q.get(k).and_then(|v| v.parse().ok())
}

async fn workouts(
    State(fake): State<Fake>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    suunto_guard!(fake, uri, headers);
    let since = int_param(&q, "since").unwrap_or(0);
    let limit = int_param(&q, "limit").unwrap_or(50);
    let offset = int_param(&q, "offset").unwrap_or(0).max(0) as usize;
    if !(1..=100).contains(&limit) {
        return bad_request("limit must be between 1 and 100");
    }
    let by_modification = q
        .get("filter-by-modification-time")
        .is_none_or(|v| v == "true");
    let mut all: Vec<Value> = fake
        .items("workouts")
        .into_iter()
        .filter(|w| {
            let field = if by_modification {
                "lastModified"
            } else {
                "startTime"
            };
            w.get(field)
                .or(w.get("startTime"))
                .and_then(Value::as_i64)
                .unwrap_or(0)
                >= since
        })
        .collect();
    all.sort_by_key(|w| w.get("startTime").and_then(Value::as_i64).unwrap_or(0));
    let total = all.len();
    let page: Vec<Value> = all.into_iter().skip(offset).take(limit as usize).collect();
    axum::Json(json!({"error": null, "metadata": {"workoutcount": total.to_string(), "until": Utc::now().timestamp_millis()}, "payload": page}))
        .into_response()
}

async fn workout(
    State(fake): State<Fake>,
    Path(key): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    suunto_guard!(fake, uri, headers);
    let found = fake.items("workouts").into_iter().find(|w| {
        w.get("workoutKey").and_then(Value::as_str) == Some(key.as_str())
            || w.get("workoutId").map(Value::to_string) == Some(key.clone())
    });
    match found {
        Some(w) => axum::Json(json!({"error": null, "metadata": {}, "payload": w})).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": {"code": "404", "description": "Workout not found"}, "payload": null})),
        )
            .into_response(),
    }
}

fn instant(s: Option<&str>) -> Option<i64> {
    DateTime::parse_from_rfc3339(s?)
        .ok()
        .map(|t| t.timestamp_millis())
}

async fn samples(
    State(fake): State<Fake>,
    Path(kind): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    suunto_guard!(fake, uri, headers);
    if !matches!(kind.as_str(), "sleep" | "recovery" | "activity") {
        return (StatusCode::NOT_FOUND, "no such resource").into_response();
    }
    let (Some(from), Some(to)) = (int_param(&q, "from"), int_param(&q, "to")) else {
        return bad_request("from and to (epoch milliseconds) are required");
    };
    if to < from || to - from > MAX_RANGE_DAYS * 86_400_000 {
        return bad_request("the range may not exceed 28 days");
    }
    let items: Vec<Value> = fake
        .items(&kind)
        .into_iter()
        .filter(|i| {
            instant(i.get("timestamp").and_then(Value::as_str)).is_some_and(|t| t >= from && t < to)
        })
        .collect();
    axum::Json(Value::Array(items)).into_response()
}

async fn daily_statistics(
    State(fake): State<Fake>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    suunto_guard!(fake, uri, headers);
    let parse = |k: &str| {
        q.get(k)
            .and_then(|v| NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S").ok())
            .map(|t| t.and_utc().timestamp_millis())
    };
    let (Some(from), Some(to)) = (parse("startdate"), parse("enddate")) else {
        return bad_request("startdate and enddate (YYYY-MM-DDTHH:MM:SS) are required");
    };
    if to < from || to - from > MAX_RANGE_DAYS * 86_400_000 {
        return bad_request("the range may not exceed 28 days");
    }
    let mut by_name: Vec<(String, Vec<Value>)> = Vec::new();
    for i in fake.items("daily") {
        let Some(t) = instant(i.get("TimeISO8601").and_then(Value::as_str)) else {
            continue;
        };
        if t < from || t >= to {
            continue;
        }
        let name = i
            .get("Name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let sample = json!({"TimeISO8601": i["TimeISO8601"], "Value": i["Value"]});
        match by_name.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => v.push(sample),
            None => by_name.push((name, vec![sample])),
        }
    }
    let out: Vec<Value> = by_name
        .into_iter()
        .map(|(name, samples)| json!({"Name": name, "Sources": [{"DeviceName": "Suunto Race S", "Samples": samples}]}))
        .collect();
    axum::Json(Value::Array(out)).into_response()
}

/// The new workout the `workout_created` webhook announces (anchor + 2 days).
pub fn new_workout(anchor: NaiveDate) -> Value {
    workout_json(
        884_120_777,
        "665694d8a1c2e31f0d7b4a77",
        1,
        at(anchor + Duration::days(2), 15, 30),
        2_712.4,
        8_012.3,
        612.0,
        (152, 181, 101),
    )
}

/// The body of a webhook of `kind` (adding what it announces to the dataset).
fn notification(fake: &Fake, kind: &str) -> Result<Value, String> {
    let day = fake.anchor() + Duration::days(2);
    let d = day.format("%Y-%m-%d").to_string();
    let user = ACCOUNT_ID;
    Ok(match kind {
        "workout_created" => {
            let w = new_workout(fake.anchor());
            fake.add_item("workouts", w.clone());
            json!({"type": "WORKOUT_CREATED", "username": user, "workout": {
                "workoutKey": w["workoutKey"], "activityId": w["activityId"], "startTime": w["startTime"],
                "totalTime": w["totalTime"], "timeOffsetInMinutes": w["timeOffsetInMinutes"],
                "totalDistance": w["totalDistance"], "gear": w["gear"]}})
        }
        "sleep_created" => {
            let s = sleep_json(day, 1_717_369_500);
            fake.add_item("sleep", s.clone());
            json!({"type": "SUUNTO_247_SLEEP_CREATED", "username": user, "samples": [s]})
        }
        "activity_created" => {
            let items = vec![
                json!({"timestamp": format!("{d}T08:00:00.000+02:00"), "entryData": {"HR": 64, "StepCount": 420, "SpO2": 0.96, "EnergyConsumption": 83680, "HRV": 52}}),
                json!({"timestamp": format!("{d}T08:10:00.000+02:00"), "entryData": {"HR": 69, "StepCount": 610, "EnergyConsumption": 96232}}),
            ];
            for i in &items {
                fake.add_item("activity", i.clone());
            }
            json!({"type": "SUUNTO_247_ACTIVITY_CREATED", "username": user, "samples": items})
        }
        "recovery_created" => {
            let r = json!({"timestamp": format!("{d}T10:00:00.000+02:00"), "entryData": {"Balance": 0.69, "StressState": 2}});
            fake.add_item("recovery", r.clone());
            json!({"type": "SUUNTO_247_RECOVERY_CREATED", "username": user, "samples": [r]})
        }
        "route_created" => {
            json!({"type": "ROUTE_CREATED", "username": user, "route": {"routeId": "rt-5f1c", "name": "Morning loop"}})
        }
        other => return Err(format!("suunto sends no '{other}' webhook")),
    })
}

fn send_webhook(
    fake: Fake,
    target: String,
    kind: String,
) -> Pin<Box<dyn Future<Output = Result<u16, String>> + Send>> {
    Box::pin(async move {
        let body = notification(&fake, &kind)?.to_string().into_bytes();
        let sig = hmac_hex(WEBHOOK_SECRET.as_bytes(), &[&body]);
        let url = format!(
            "{}/api/v1/providers/suunto/webhooks",
            target.trim_end_matches('/')
        );
        post_webhook(&url, &[("X-HMAC-SHA256-Signature", sig)], body).await
    })
}

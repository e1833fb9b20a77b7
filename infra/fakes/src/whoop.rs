//! Fake Whoop Developer Platform, API v2 (providers.md §4.4): OAuth at `/oauth/oauth2/auth` and
//! `/oauth/oauth2/token` (form client credentials), the basic profile, the workout, sleep,
//! recovery and cycle collections (`start`/`end` filters, `limit` ≤ 25 enforced, opaque
//! `nextToken` cursors, newest first), single-resource reads (404 for unknown ids), body
//! measurements, `DELETE /developer/v2/user/access`, and signed ping webhooks.
//!
//! The fake's "now" is the scenario clock of its dataset: anchor + 9 days, 12:00Z (the e2e
//! rig's clock). Webhook timestamps are taken from it.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use base64::Engine;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Value, json};

use crate::core::{Fake, Profile, hmac_raw, no_extra, oauth_routes, opaque_token, post_webhook};

/// The member's Whoop user id (an integer in every payload).
pub const ACCOUNT_ID: &str = "20931";
const USER_ID: i64 = 20931;
/// The most records the fake puts on one page (fewer than `limit`, so paging is exercised).
pub const PAGE_SIZE: usize = 2;
/// The id of the workout the `workout.updated` webhook adds.
pub const WEBHOOK_WORKOUT_ID: &str = "5d0e7a42-91c3-4b8f-a6d2-0c1f9e8b7a63";
/// The id of the sleep the `sleep.updated` webhook adds.
pub const WEBHOOK_SLEEP_ID: &str = "c4a8e2f1-6b3d-4e9a-8f70-1d2c3b4a5e6f";
/// The seeded workout (the anchor day's ride) the `workout.deleted` webhook deletes.
pub const DELETED_WORKOUT_ID: &str = "3b1d9f6e-0c4a-4e7b-9a21-6f8e2d5c4b10";
/// The seeded night (ending on the anchor day) the `sleep.deleted` webhook deletes.
pub const DELETED_SLEEP_ID: &str = "9e7c1a33-5b42-4f0e-8d17-2a6b4c9e0f21";

pub fn profile() -> Profile {
    Profile {
        provider: "whoop",
        account_id: ACCOUNT_ID,
        routes,
        seed,
        token_extra: no_extra,
        access_token: opaque_token,
        // The data kinds (also the `#bad-signature` / `#stale` modes).
        webhooks: &[
            "workout.updated",
            "sleep.updated",
            "workout.deleted",
            "sleep.deleted",
        ],
        send_webhook: Some(|fake, target, kind| Box::pin(send(fake, target, kind))),
    }
}

fn routes() -> Router<Fake> {
    oauth_routes("/oauth/oauth2/auth", "/oauth/oauth2/token")
        .route("/developer/v2/user/profile/basic", get(profile_basic))
        .route("/developer/v2/user/measurement/body", get(body))
        .route("/developer/v2/user/access", delete(revoke_access))
        .route("/developer/v2/activity/{kind}", get(activity_collection))
        .route("/developer/v2/activity/{kind}/{id}", get(activity_one))
        .route("/developer/v2/recovery", get(recovery_collection))
        .route("/developer/v2/cycle", get(cycle_collection))
        .route("/developer/v2/cycle/{id}/recovery", get(cycle_recovery))
}

fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn at(day: NaiveDate, hms: &str) -> String {
    format!("{}T{hms}Z", day.format("%Y-%m-%d"))
}

/// A scored workout record.
#[allow(clippy::too_many_arguments)]
fn workout(
    id: &str,
    (start, end): (String, String),
    sport: &str,
    strain: f64,
    (avg_hr, max_hr): (i64, i64),
    kilojoule: f64,
    distance: Option<f64>,
    altitude_gain: Option<f64>,
) -> Value {
    json!({"id": id, "v1_id": 1_043_352_211, "user_id": USER_ID,
        "created_at": end, "updated_at": end,
        "start": start, "end": end, "timezone_offset": "+02:00",
        "sport_name": sport, "sport_id": 1, "score_state": "SCORED",
        "score": {"strain": strain, "average_heart_rate": avg_hr, "max_heart_rate": max_hr,
            "kilojoule": kilojoule, "percent_recorded": 100, "distance_meter": distance,
            "altitude_gain_meter": altitude_gain, "altitude_change_meter": altitude_gain.map(|_| 3.5),
            "zone_durations": {"zone_zero_milli": 0, "zone_one_milli": 520_000, "zone_two_milli": 1_900_000,
                "zone_three_milli": 1_200_000, "zone_four_milli": 600_000, "zone_five_milli": 60_000}}})
}

/// A scored night (stage times in ms).
fn night(id: &str, cycle: i64, start: String, end: String, stages: [i64; 5]) -> Value {
    let [in_bed, awake, light, deep, rem] = stages;
    json!({"id": id, "cycle_id": cycle, "user_id": USER_ID, "created_at": end, "updated_at": end,
        "start": start, "end": end, "timezone_offset": "+02:00", "nap": false, "score_state": "SCORED",
        "score": {"stage_summary": {"total_in_bed_time_milli": in_bed, "total_awake_time_milli": awake,
            "total_no_data_time_milli": 0, "total_light_sleep_time_milli": light,
            "total_slow_wave_sleep_time_milli": deep, "total_rem_sleep_time_milli": rem,
            "sleep_cycle_count": 5, "disturbance_count": 9},
            "sleep_needed": {"baseline_milli": 27_000_000, "need_from_sleep_debt_milli": 0,
                "need_from_recent_strain_milli": 0, "need_from_recent_nap_milli": 0},
            "respiratory_rate": 15.2, "sleep_performance_percentage": 91,
            "sleep_consistency_percentage": 78, "sleep_efficiency_percentage": 90.9}})
}

/// Two scored workouts and a pending one, a night and a nap, the night's recovery, the
/// cycle, and body measurements, around the anchor day.
pub fn seed(anchor: NaiveDate) -> HashMap<String, Vec<Value>> {
    let d = anchor;
    let prev = d - Duration::days(1);
    let next = d + Duration::days(1);
    let mut m = HashMap::new();
    m.insert(
        "workout".to_string(),
        vec![
            workout(
                "3b1d9f6e-0c4a-4e7b-9a21-6f8e2d5c4b10",
                (at(d, "16:05:00.000"), at(d, "17:20:30.000")),
                "Cycling",
                13.7,
                (139, 174),
                3120.4,
                Some(36250.0),
                Some(410.2),
            ),
            workout(
                "8f4b2a10-3c5d-4e6f-9a7b-2c1d0e9f8a7b",
                (at(next, "04:10:00.000"), at(next, "04:58:20.000")),
                "Running",
                9.8,
                (151, 178),
                2410.0,
                Some(8030.5),
                Some(62.0),
            ),
            json!({"id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "user_id": USER_ID,
                "created_at": at(d + Duration::days(2), "17:46:00.000"), "updated_at": at(d + Duration::days(2), "17:46:00.000"),
                "start": at(d + Duration::days(2), "17:00:00.000"), "end": at(d + Duration::days(2), "17:45:00.000"),
                "timezone_offset": "+02:00", "sport_name": "weightlifting", "sport_id": 45,
                "score_state": "PENDING_SCORE"}),
        ],
    );
    m.insert(
        "sleep".to_string(),
        vec![
            night(
                "9e7c1a33-5b42-4f0e-8d17-2a6b4c9e0f21",
                558_120_071,
                at(prev, "21:58:00.000"),
                at(d, "05:31:00.000"),
                [27_180_000, 2_460_000, 12_900_000, 5_700_000, 6_120_000],
            ),
            json!({"id": "2f6e9d8c-7b5a-4c3d-9e1f-0a2b3c4d5e6f", "cycle_id": 558_120_072, "user_id": USER_ID,
                "created_at": at(next, "12:45:00.000"), "updated_at": at(next, "12:45:00.000"),
                "start": at(next, "11:10:00.000"), "end": at(next, "11:42:00.000"),
                "timezone_offset": "+02:00", "nap": true, "score_state": "PENDING_SCORE"}),
        ],
    );
    m.insert(
        "recovery".to_string(),
        vec![json!({"cycle_id": 558_120_071, "sleep_id": "9e7c1a33-5b42-4f0e-8d17-2a6b4c9e0f21",
            "user_id": USER_ID, "created_at": at(d, "05:52:03.301"), "updated_at": at(d, "05:52:03.301"),
            "score_state": "SCORED", "score": {"user_calibrating": false, "recovery_score": 67,
                "resting_heart_rate": 52, "hrv_rmssd_milli": 58.4, "spo2_percentage": 96.8,
                "skin_temp_celsius": 33.6}})],
    );
    m.insert(
        "cycle".to_string(),
        vec![json!({"id": 558_120_071, "user_id": USER_ID, "created_at": at(prev, "21:58:00.000"),
            "updated_at": at(d, "21:40:00.000"), "start": at(prev, "21:58:00.000"),
            "end": at(d, "21:40:00.000"), "timezone_offset": "+02:00", "score_state": "SCORED",
            "score": {"strain": 15.2, "kilojoule": 10460.0, "average_heart_rate": 68, "max_heart_rate": 174}})],
    );
    m.insert(
        "body".to_string(),
        vec![json!({"height_meter": 1.78, "weight_kilogram": 72.4, "max_heart_rate": 192})],
    );
    m
}

fn bad_request(msg: &str) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({"error": msg}))).into_response()
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"error": "resource not found"})),
    )
        .into_response()
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.to_utc())
}

/// The time a record is filtered and ordered by.
fn time_of(kind: &str, v: &Value) -> Option<DateTime<Utc>> {
    let key = if kind == "recovery" {
        "created_at"
    } else {
        "start"
    };
    v.get(key).and_then(Value::as_str).and_then(parse_time)
}

/// One page of a collection: `{records, next_token}`.
fn page(fake: &Fake, kind: &str, q: &HashMap<String, String>) -> Response {
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 10,
        Some(Ok(l)) if (1..=25).contains(&l) => l,
        Some(_) => return bad_request("limit must be between 1 and 25"),
    };
    let bound = |k: &str| match q.get(k) {
        None => Ok(None),
        Some(s) => parse_time(s)
            .map(Some)
            .ok_or_else(|| format!("{k} must be an ISO 8601 date-time")),
    };
    let (start, end) = match (bound("start"), bound("end")) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(m), _) | (_, Err(m)) => return bad_request(&m),
    };
    let offset = match q.get("nextToken") {
        None => 0,
        Some(t) => match base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(t)
            .ok()
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|s| s.strip_prefix("offset:").and_then(|n| n.parse().ok()))
        {
            Some(n) => n,
            None => return bad_request("invalid nextToken"),
        },
    };
    let mut items: Vec<(DateTime<Utc>, Value)> = fake
        .items(kind)
        .into_iter()
        .filter_map(|v| time_of(kind, &v).map(|t| (t, v)))
        .filter(|(t, _)| start.is_none_or(|s| *t >= s) && end.is_none_or(|e| *t < e))
        .collect();
    items.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
    let size = limit.min(PAGE_SIZE);
    let records: Vec<Value> = items
        .iter()
        .skip(offset)
        .take(size)
        .map(|(_, v)| v.clone())
        .collect();
    let next = (offset + size < items.len()).then(|| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("offset:{}", offset + size))
    });
    axum::Json(json!({"records": records, "next_token": next})).into_response()
}

async fn activity_collection(
    State(fake): State<Fake>,
    Path(kind): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    crate::guard!(fake, uri, headers);
    if kind != "workout" && kind != "sleep" {
        return not_found();
    }
    page(&fake, &kind, &q)
}

async fn recovery_collection(
    State(fake): State<Fake>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    crate::guard!(fake, uri, headers);
    page(&fake, "recovery", &q)
}

async fn cycle_collection(
    State(fake): State<Fake>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    crate::guard!(fake, uri, headers);
    page(&fake, "cycle", &q)
}

async fn activity_one(
    State(fake): State<Fake>,
    Path((kind, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    crate::guard!(fake, uri, headers);
    fake.items(&kind)
        .into_iter()
        .find(|v| v.get("id").and_then(Value::as_str) == Some(id.as_str()))
        .map_or_else(not_found, |v| axum::Json(v).into_response())
}

async fn cycle_recovery(
    State(fake): State<Fake>,
    Path(id): Path<i64>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    crate::guard!(fake, uri, headers);
    fake.items("recovery")
        .into_iter()
        .find(|v| v.get("cycle_id").and_then(Value::as_i64) == Some(id))
        .map_or_else(not_found, |v| axum::Json(v).into_response())
}

async fn profile_basic(State(fake): State<Fake>, uri: Uri, headers: HeaderMap) -> Response {
    crate::guard!(fake, uri, headers);
    axum::Json(json!({"user_id": USER_ID, "email": "rider@example.com", "first_name": "Ana", "last_name": "Kowal"}))
        .into_response()
}

async fn body(State(fake): State<Fake>, uri: Uri, headers: HeaderMap) -> Response {
    crate::guard!(fake, uri, headers);
    fake.items("body")
        .into_iter()
        .next()
        .map_or_else(not_found, |v| axum::Json(v).into_response())
}

/// `DELETE /developer/v2/user/access`: the token stops working; 204.
async fn revoke_access(State(fake): State<Fake>, uri: Uri, headers: HeaderMap) -> Response {
    crate::guard!(fake, uri, headers);
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    fake.with(|s| {
        s.deregistrations += 1;
        s.access_tokens.remove(&token);
    });
    StatusCode::NO_CONTENT.into_response()
}

/// Adds `item` to `kind` unless an item with its id is there already.
fn add_once(fake: &Fake, kind: &str, item: Value) {
    let id = item.get("id").cloned();
    if !fake.items(kind).iter().any(|v| v.get("id") == id.as_ref()) {
        fake.add_item(kind, item);
    }
}

/// Removes the record `id` of collection `kind` (the member deleted it in the Whoop app).
fn remove(fake: &Fake, kind: &str, id: &str) {
    fake.with(|s| {
        if let Some(items) = s.items.get_mut(kind) {
            items.retain(|v| v.get("id").and_then(Value::as_str) != Some(id));
        }
    });
}

/// Sends one notification. Kinds: `workout.updated` (adds a scored run on the scenario day
/// first), `sleep.updated` (adds last night), `workout.deleted` (drops the cycling workout,
/// [`DELETED_WORKOUT_ID`]), `sleep.deleted` (drops the seeded night, [`DELETED_SLEEP_ID`]);
/// suffix `#bad-signature` signs with the wrong key, `#stale` stamps it 10 minutes old.
async fn send(fake: Fake, target: String, kind: String) -> Result<u16, String> {
    let (event, mode) = kind.split_once('#').unwrap_or((kind.as_str(), ""));
    let now = fake.now();
    // This morning's run ended 4 h 08 min ago; last night's sleep ended 5 h 45 min ago (at
    // the scenario clock: a 07:10Z run and a 22:30Z–06:15Z night).
    let minute = now - Duration::seconds(now.timestamp() % 60);
    let start = minute - Duration::minutes(290);
    let woke = minute - Duration::minutes(345);
    let id = match event {
        "workout.updated" => {
            add_once(
                &fake,
                "workout",
                workout(
                    WEBHOOK_WORKOUT_ID,
                    (iso(start), iso(start + Duration::minutes(42))),
                    "Running",
                    11.2,
                    (156, 183),
                    2250.0,
                    Some(7520.0),
                    Some(48.0),
                ),
            );
            WEBHOOK_WORKOUT_ID.to_string()
        }
        "sleep.updated" => {
            add_once(
                &fake,
                "sleep",
                night(
                    WEBHOOK_SLEEP_ID,
                    558_120_080,
                    iso(woke - Duration::minutes(465)),
                    iso(woke),
                    [27_900_000, 1_800_000, 14_400_000, 6_000_000, 5_700_000],
                ),
            );
            WEBHOOK_SLEEP_ID.to_string()
        }
        "workout.deleted" => {
            remove(&fake, "workout", DELETED_WORKOUT_ID);
            DELETED_WORKOUT_ID.to_string()
        }
        "sleep.deleted" => {
            remove(&fake, "sleep", DELETED_SLEEP_ID);
            DELETED_SLEEP_ID.to_string()
        }
        other => return Err(format!("whoop sends no '{other}' webhook")),
    };
    let body = serde_json::to_vec(&json!({
        "user_id": USER_ID, "id": id, "type": event, "trace_id": format!("trace-{}", now.timestamp())
    }))
    .map_err(|e| e.to_string())?;
    let sent = if mode == "stale" {
        now - Duration::minutes(10)
    } else {
        now
    };
    let stamp = sent.timestamp_millis().to_string();
    let secret = if mode == "bad-signature" {
        "not-the-client-secret".to_string()
    } else {
        fake.options().client_secret.clone()
    };
    let sig = base64::engine::general_purpose::STANDARD
        .encode(hmac_raw(secret.as_bytes(), &[stamp.as_bytes(), &body]));
    post_webhook(
        &format!(
            "{}/api/v1/providers/whoop/webhooks",
            target.trim_end_matches('/')
        ),
        &[
            ("X-WHOOP-Signature", sig),
            ("X-WHOOP-Signature-Timestamp", stamp),
        ],
        body,
    )
    .await
}

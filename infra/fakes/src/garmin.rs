//! Fake Garmin Connect developer APIs (providers.md §4.1): OAuth 2.0 with PKCE at
//! `/oauth2Confirm` and `/di-oauth2-service/oauth/token` (client credentials in the form body),
//! the partner gateway (`user/id`, `user/permissions`, `DELETE user/registration`), the Backfill
//! API and push delivery.
//!
//! Garmin has no data pull: a backfill request (`GET /wellness-api/rest/backfill/{type}` with
//! `summaryStartTimeInSeconds`/`summaryEndTimeInSeconds`) answers 202 and the fake then POSTs
//! the push body of that type's items in the range to the registered webhook URL, with the
//! `garmin-client-id` header, as Garmin's portal configuration would. Register the URL with
//! [`set_webhook_target`] (or `POST /_fake/garmin/webhook-target?url=...`). Garmin's rules are
//! enforced: at most 30 days per request (400), nothing before the minimum start time (400
//! "min start time": 30 days before the anchor), the historical-data permission (403), and one
//! request per type and range (409). Delivery is inline (before the 202) unless a delay is
//! set, or switched off to emulate "no data ever arrives".

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::{Duration, NaiveDate};
use serde_json::{Value, json};

use crate::core::{Fake, Profile, oauth_routes, opaque_token};

/// The Garmin user id the fake's user has.
pub const ACCOUNT_ID: &str = "9c1e77b2-5f0a-4d61-a3c8-2b7e04d9f150";

/// Another Garmin user (pushes for them must be ignored by our API).
pub const OTHER_ACCOUNT_ID: &str = "0b55d3e1-7c2a-4f8e-91d0-6a3f2c8e1b47";

/// Collection of the accepted backfill requests (`{type, start, end}`).
pub const BACKFILL_REQUESTS: &str = "backfill_requests";

/// Collection holding the permissions the user granted (strings).
pub const PERMISSIONS: &str = "permissions";

/// Longest range of one backfill request.
pub const MAX_BACKFILL_SECONDS: i64 = 30 * 86_400;

/// The Garmin fake's profile.
pub fn profile() -> Profile {
    Profile {
        provider: "garmin",
        account_id: ACCOUNT_ID,
        routes,
        seed,
        token_extra,
        access_token: opaque_token,
        webhooks: &[
            "activities",
            "sleeps",
            "dailies",
            "userPermissionsChange",
            "deregistrations",
            "ping",
            "mixed",
        ],
        send_webhook: Some(|fake, target, kind| Box::pin(send_webhook(fake, target, kind))),
    }
}

fn token_extra(_: &Fake) -> Value {
    json!({"refresh_token_expires_in": 7_775_999, "scope": "CONNECT_READ PARTNER_READ"})
}

fn routes() -> Router<Fake> {
    oauth_routes("/oauth2Confirm", "/di-oauth2-service/oauth/token")
        .route("/partner-gateway/rest/user/id", get(user_id))
        .route("/partner-gateway/rest/user/permissions", get(permissions))
        .route(
            "/partner-gateway/rest/user/registration",
            delete(deregistration),
        )
        .route("/wellness-api/rest/backfill/{kind}", get(backfill))
        .route("/wellness-api/rest/activities", get(rest_activities))
        .route("/wellness-api/rest/activities/{id}", get(rest_activity))
        .route("/_fake/garmin/webhook-target", post(control_target))
}

// ---------------------------------------------------------------------------------------------
// Webhook target (Garmin's portal configuration)
// ---------------------------------------------------------------------------------------------

/// Registers our webhook URL as entered in Garmin's portal (with our URL secret, see
/// `GET /api/v1/providers/garmin/webhooks/url`; a bare origin means
/// `{origin}/api/v1/providers/garmin/webhooks`): backfilled and live data is pushed there.
/// `delay_ms` 0 delivers before the 202; `deliver: false` never delivers.
pub fn configure_push(fake: &Fake, url: &str, delay_ms: u64, deliver: bool) {
    fake.with(|s| {
        s.subscriptions = vec![json!({
            "url": crate::core::webhook_target(url, "/api/v1/providers/garmin/webhooks"),
            "delay_ms": delay_ms,
            "deliver": deliver,
        })]
    });
}

/// Registers our webhook URL with inline delivery.
pub fn set_webhook_target(fake: &Fake, url: &str) {
    configure_push(fake, url, 0, true);
}

async fn control_target(
    State(fake): State<Fake>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(url) = q.get("url") else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"detail": "url (our webhook URL) is required"})),
        )
            .into_response();
    };
    let delay = q.get("delay_ms").and_then(|d| d.parse().ok()).unwrap_or(0);
    let deliver = q.get("deliver").is_none_or(|d| d != "false");
    configure_push(&fake, url, delay, deliver);
    axum::Json(json!({"subscriptions": fake.with(|s| s.subscriptions.clone())})).into_response()
}

/// Posts one push body with Garmin's header; answers our status.
pub async fn push(fake: &Fake, url: &str, body: &Value) -> Result<u16, String> {
    let raw = serde_json::to_vec(body).map_err(|e| e.to_string())?;
    crate::core::post_webhook(
        url,
        &[("garmin-client-id", fake.options().client_id.clone())],
        raw,
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Dataset
// ---------------------------------------------------------------------------------------------

/// Epoch seconds of `anchor + day` at `hh:mm` UTC.
fn at(anchor: NaiveDate, day: i64, hh: u32, mm: u32) -> i64 {
    (anchor + Duration::days(day))
        .and_hms_opt(hh, mm, 0)
        .map(|t| t.and_utc().timestamp())
        .unwrap_or_default()
}

fn date(anchor: NaiveDate, day: i64) -> String {
    (anchor + Duration::days(day))
        .format("%Y-%m-%d")
        .to_string()
}

/// The user's local offset (+02:00).
const OFFSET: i64 = 7200;

fn ride(anchor: NaiveDate) -> Value {
    json!({"userId":ACCOUNT_ID,"summaryId":"20917733410","activityId":20917733410_i64,
        "activityName":"Evening Ride","activityType":"ROAD_BIKING",
        "startTimeInSeconds":at(anchor,0,18,0),"startTimeOffsetInSeconds":OFFSET,"durationInSeconds":4980,
        "distanceInMeters":38210.4,"activeKilocalories":842,"averageHeartRateInBeatsPerMinute":141,
        "maxHeartRateInBeatsPerMinute":176,"averageSpeedInMetersPerSecond":7.67,"maxSpeedInMetersPerSecond":14.2,
        "totalElevationGainInMeters":412.0,"averageBikingCadenceInRevPerMinute":86.0,
        "deviceName":"Edge 840","manual":false})
}

fn night(anchor: NaiveDate, day: i64, id: &str) -> Value {
    let s = at(anchor, day, 19, 40);
    json!({"userId":ACCOUNT_ID,"summaryId":id,"calendarDate":date(anchor, day + 1),
        "startTimeInSeconds":s,"startTimeOffsetInSeconds":OFFSET,"durationInSeconds":26400,
        "deepSleepDurationInSeconds":5100,"lightSleepDurationInSeconds":13800,"remSleepInSeconds":6000,
        "awakeDurationInSeconds":1500,"validation":"ENHANCED_FINAL",
        "sleepLevelsMap":{
            "light":[{"startTimeInSeconds":s,"endTimeInSeconds":s+3600},
                     {"startTimeInSeconds":s+16200,"endTimeInSeconds":s+26400}],
            "deep":[{"startTimeInSeconds":s+3600,"endTimeInSeconds":s+8700}],
            "rem":[{"startTimeInSeconds":s+8700,"endTimeInSeconds":s+14700}],
            "awake":[{"startTimeInSeconds":s+14700,"endTimeInSeconds":s+16200}]},
        "overallSleepScore":{"value":84,"qualifierKey":"GOOD"},
        "sleepScores":{"totalDuration":{"qualifierKey":"GOOD"},"stress":{"qualifierKey":"FAIR"},
            "remPercentage":{"value":24,"qualifierKey":"EXCELLENT"}},
        "naps":[{"napStartTimeInSeconds":at(anchor, day + 1, 11, 0),"napDurationInSeconds":1500,
            "napOffsetInSeconds":OFFSET,"napValidation":"DEVICE"}]})
}

fn daily(anchor: NaiveDate, day: i64, steps: i64) -> Value {
    json!({"userId":ACCOUNT_ID,"summaryId":format!("x2f9c41-daily-{}", date(anchor, day)),
        "calendarDate":date(anchor, day),"startTimeInSeconds":at(anchor, day - 1, 22, 0),
        "startTimeOffsetInSeconds":OFFSET,"durationInSeconds":86400,"steps":steps,"distanceInMeters":8735.0,
        "activeKilocalories":566,"bmrKilocalories":1694,"floorsClimbed":7,"activeTimeInSeconds":6120,
        "restingHeartRateInBeatsPerMinute":49,"averageHeartRateInBeatsPerMinute":64,
        "averageStressLevel":31,"maxStressLevel":91,"stressQualifier":"balanced",
        "timeOffsetHeartRateSamples":{"0":56,"900":54,"1800":55}})
}

/// Push key → items: one ride (with its details), one night with a nap, the day's summary,
/// stress and body battery, HRV, a weigh-in, SpO2, respiration and fitness metrics.
pub fn seed(anchor: NaiveDate) -> HashMap<String, Vec<Value>> {
    let mut m = HashMap::new();
    let mut put = |k: &str, v: Vec<Value>| {
        m.insert(k.to_string(), v);
    };
    let a = anchor;
    put("activities", vec![ride(a)]);
    put(
        "activityDetails",
        vec![
            json!({"userId":ACCOUNT_ID,"summaryId":"20917733410-detail","activityId":20917733410_i64,
            "summary":{"activityType":"ROAD_BIKING","startTimeInSeconds":at(a,0,18,0),
                "startTimeOffsetInSeconds":OFFSET,"durationInSeconds":4980,"distanceInMeters":38210.4,
                "activeKilocalories":842,"averageHeartRateInBeatsPerMinute":141,"maxHeartRateInBeatsPerMinute":176,
                "elevationGainInMeters":412.0,"averageSpeedInMetersPerSecond":7.67,"deviceName":"Edge 840"},
            "samples":[{"startTimeInSeconds":at(a,0,18,0),"heartRate":98,"speedMetersPerSecond":5.1,"powerInWatts":160},
                       {"startTimeInSeconds":at(a,0,18,0)+1,"heartRate":101,"speedMetersPerSecond":5.6,"powerInWatts":171}]}),
        ],
    );
    put("sleeps", vec![night(a, 0, "x2f9c41-sleep-0")]);
    put("dailies", vec![daily(a, 0, 11408)]);
    put(
        "stressDetails",
        vec![
            json!({"userId":ACCOUNT_ID,"summaryId":"x2f9c41-stress-0","calendarDate":date(a,0),
            "startTimeInSeconds":at(a,-1,22,0),"startTimeOffsetInSeconds":OFFSET,"durationInSeconds":86400,
            "timeOffsetStressLevelValues":{"0":18,"180":-1,"360":27},
            "timeOffsetBodyBatteryValues":{"0":71,"180":71,"360":70}}),
        ],
    );
    put(
        "hrv",
        vec![
            json!({"userId":ACCOUNT_ID,"summaryId":"x2f9c41-hrv-1","calendarDate":date(a,1),
            "startTimeInSeconds":at(a,0,20,30),"startTimeOffsetInSeconds":OFFSET,"durationInSeconds":23100,
            "lastNightAvg":58,"lastNight5MinHigh":81,"hrvValues":{"300":54,"600":61,"900":57}}),
        ],
    );
    put(
        "bodyComps",
        vec![
            json!({"userId":ACCOUNT_ID,"summaryId":"x2f9c41-body-1","measurementTimeInSeconds":at(a,1,5,25),
            "measurementTimeOffsetInSeconds":OFFSET,"weightInGrams":71850,"bodyFatInPercent":17.2,
            "bodyMassIndex":22.4,"muscleMassInGrams":33600}),
        ],
    );
    put(
        "pulseox",
        vec![
            json!({"userId":ACCOUNT_ID,"summaryId":"x2f9c41-spo2-1","calendarDate":date(a,1),
            "startTimeInSeconds":at(a,0,20,30),"startTimeOffsetInSeconds":OFFSET,"durationInSeconds":3600,
            "avgSpo2":96,"timeOffsetSpo2Values":{"0":95,"60":97}}),
        ],
    );
    put(
        "allDayRespiration",
        vec![
            json!({"userId":ACCOUNT_ID,"summaryId":"x2f9c41-resp-0","startTimeInSeconds":at(a,-1,22,0),
            "startTimeOffsetInSeconds":OFFSET,"durationInSeconds":86400,"avgWakingRespirationValue":14.5,
            "timeOffsetEpochToBreaths":{"0":13.9,"60":14.2}}),
        ],
    );
    put(
        "userMetrics",
        vec![
            json!({"userId":ACCOUNT_ID,"summaryId":"x2f9c41-metrics-0","calendarDate":date(a,0),
            "vo2Max":51.0,"fitnessAge":33}),
        ],
    );
    put(
        PERMISSIONS,
        [
            "ACTIVITY_EXPORT",
            "HEALTH_EXPORT",
            "HISTORICAL_DATA_EXPORT",
            "MCT_EXPORT",
        ]
        .iter()
        .map(|p| json!(p))
        .collect(),
    );
    m
}

/// The backfill path → the push key its data arrives under.
pub fn push_key(path: &str) -> Option<&'static str> {
    Some(match path {
        "sleeps" => "sleeps",
        "dailies" => "dailies",
        "epochs" => "epochs",
        "bodyComps" => "bodyComps",
        "hrv" => "hrv",
        "stressDetails" => "stressDetails",
        "respiration" => "allDayRespiration",
        "pulseOx" => "pulseox",
        "activities" => "activities",
        "activityDetails" => "activityDetails",
        "userMetrics" => "userMetrics",
        "bloodPressures" => "bloodPressures",
        "skinTemp" => "skinTemp",
        "healthSnapshot" => "healthSnapshot",
        "moveiq" => "moveIQActivities",
        "mct" => "mct",
        _ => return None,
    })
}

/// The instant a summary is about (what a backfill range selects on).
fn item_time(v: &Value) -> Option<i64> {
    let secs = |x: &Value, k: &str| x.get(k).and_then(Value::as_i64);
    secs(v, "startTimeInSeconds")
        .or_else(|| secs(v, "measurementTimeInSeconds"))
        .or_else(|| v.get("summary").and_then(|s| secs(s, "startTimeInSeconds")))
        .or_else(|| {
            v.get("calendarDate")
                .and_then(Value::as_str)
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .and_then(|d| d.and_hms_opt(12, 0, 0))
                .map(|t| t.and_utc().timestamp())
        })
}

// ---------------------------------------------------------------------------------------------
// Partner gateway
// ---------------------------------------------------------------------------------------------

async fn user_id(State(fake): State<Fake>, uri: Uri, headers: HeaderMap) -> Response {
    crate::guard!(fake, uri, headers);
    axum::Json(json!({"userId": ACCOUNT_ID})).into_response()
}

async fn permissions(State(fake): State<Fake>, uri: Uri, headers: HeaderMap) -> Response {
    crate::guard!(fake, uri, headers);
    axum::Json(json!({"permissions": fake.items(PERMISSIONS)})).into_response()
}

async fn deregistration(State(fake): State<Fake>, uri: Uri, headers: HeaderMap) -> Response {
    crate::guard!(fake, uri, headers);
    fake.with(|s| s.deregistrations += 1);
    StatusCode::NO_CONTENT.into_response()
}

// ---------------------------------------------------------------------------------------------
// Backfill API
// ---------------------------------------------------------------------------------------------

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"errorMessage": message}))).into_response()
}

/// The REST activity summaries whose start lies in the upload window (at most 24 hours).
async fn rest_activities(
    State(fake): State<Fake>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    crate::guard!(fake, uri, headers);
    let bound = |k: &str| q.get(k).and_then(|v| v.parse::<i64>().ok());
    let (Some(start), Some(end)) = (
        bound("uploadStartTimeInSeconds"),
        bound("uploadEndTimeInSeconds"),
    ) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "uploadStartTimeInSeconds and uploadEndTimeInSeconds are required",
        );
    };
    if end <= start || end - start > 86_400 {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the upload time range must be positive and at most 86400 seconds",
        );
    }
    let items: Vec<Value> = fake
        .items("activities")
        .into_iter()
        .filter(|a| {
            a.get("startTimeInSeconds")
                .and_then(Value::as_i64)
                .is_some_and(|t| t >= start && t < end)
        })
        .collect();
    axum::Json(Value::Array(items)).into_response()
}

/// One REST activity summary by summary or activity id.
async fn rest_activity(
    State(fake): State<Fake>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    crate::guard!(fake, uri, headers);
    let found = fake.items("activities").into_iter().find(|a| {
        a.get("summaryId").and_then(Value::as_str) == Some(id.as_str())
            || a.get("activityId").map(Value::to_string) == Some(id.clone())
    });
    match found {
        Some(a) => axum::Json(a).into_response(),
        None => refuse(StatusCode::NOT_FOUND, "Activity not found"),
    }
}

async fn backfill(
    State(fake): State<Fake>,
    Path(kind): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    crate::guard!(fake, uri, headers);
    let Some(key) = push_key(&kind) else {
        return refuse(StatusCode::NOT_FOUND, "Unknown summary type");
    };
    let bound = |k: &str| q.get(k).and_then(|v| v.parse::<i64>().ok());
    let (Some(start), Some(end)) = (
        bound("summaryStartTimeInSeconds"),
        bound("summaryEndTimeInSeconds"),
    ) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "summaryStartTimeInSeconds and summaryEndTimeInSeconds are required",
        );
    };
    if end <= start {
        return refuse(StatusCode::BAD_REQUEST, "end time must be after start time");
    }
    if end - start > MAX_BACKFILL_SECONDS {
        return refuse(
            StatusCode::BAD_REQUEST,
            "requested time range exceeds the maximum of 30 days",
        );
    }
    let granted = fake
        .items(PERMISSIONS)
        .iter()
        .any(|p| p.as_str() == Some("HISTORICAL_DATA_EXPORT"));
    if !granted {
        return refuse(
            StatusCode::FORBIDDEN,
            "User has not granted HISTORICAL_DATA_EXPORT permission",
        );
    }
    let min_start = at(fake.anchor(), -30, 0, 0);
    if start < min_start {
        return refuse(
            StatusCode::BAD_REQUEST,
            &format!("summaryStartTimeInSeconds {start} is before min start time {min_start}"),
        );
    }
    let request = json!({"type": kind, "start": start, "end": end});
    let duplicate = fake.with(|s| {
        let list = s.items.entry(BACKFILL_REQUESTS.to_string()).or_default();
        if list.contains(&request) {
            true
        } else {
            list.push(request.clone());
            false
        }
    });
    if duplicate {
        return refuse(StatusCode::CONFLICT, "Duplicate backfill request");
    }
    let items: Vec<Value> = fake
        .items(key)
        .into_iter()
        .filter(|i| item_time(i).is_some_and(|t| t >= start && t < end))
        .collect();
    let target = fake.with(|s| s.subscriptions.first().cloned());
    if let Some(sub) = target
        && !items.is_empty()
        && sub.get("deliver").and_then(Value::as_bool) != Some(false)
    {
        let url = sub
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let delay = sub.get("delay_ms").and_then(Value::as_u64).unwrap_or(0);
        let body = json!({ key: items });
        if delay == 0 {
            if let Err(e) = push(&fake, &url, &body).await {
                tracing::warn!("garmin fake: backfill push failed: {e}");
            }
        } else {
            let fake = fake.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                if let Err(e) = push(&fake, &url, &body).await {
                    tracing::warn!("garmin fake: backfill push failed: {e}");
                }
            });
        }
    }
    StatusCode::ACCEPTED.into_response()
}

// ---------------------------------------------------------------------------------------------
// Live pushes
// ---------------------------------------------------------------------------------------------

/// Live pushes: new data is added to the dataset and pushed to the configured webhook URL (else `target`):
/// - `activities`: a morning run two days after the anchor;
/// - `sleeps`: the night of anchor+3;
/// - `dailies`: the summary of anchor+2;
/// - `userPermissionsChange`: the user withdraws historical data (permissions change);
/// - `deregistrations`: the user removes our app at Garmin (its tokens stop working);
/// - `ping`: a PING-mode item (`callbackURL`), which our API must skip;
/// - `mixed`: several summary types and another (unknown) Garmin user in one body.
async fn send_webhook(fake: Fake, target: String, kind: String) -> Result<u16, String> {
    let a = fake.anchor();
    let body = match kind.as_str() {
        "activities" => {
            let run = json!({"userId":ACCOUNT_ID,"summaryId":"20931187702","activityId":20931187702_i64,
                "activityName":"Morning Run","activityType":"TRAIL_RUNNING",
                "startTimeInSeconds":at(a,2,5,30),"startTimeOffsetInSeconds":OFFSET,"durationInSeconds":2700,
                "distanceInMeters":8020.0,"activeKilocalories":590,"averageHeartRateInBeatsPerMinute":152,
                "maxHeartRateInBeatsPerMinute":181,"averageSpeedInMetersPerSecond":2.97,
                "averageRunCadenceInStepsPerMinute":168.0,"steps":7410,"deviceName":"Forerunner 965"});
            fake.add_item("activities", run.clone());
            json!({"activities": [run]})
        }
        "sleeps" => {
            let n = night(a, 3, "x2f9c41-sleep-3");
            fake.add_item("sleeps", n.clone());
            json!({"sleeps": [n]})
        }
        "dailies" => {
            let d = daily(a, 2, 9021);
            fake.add_item("dailies", d.clone());
            json!({"dailies": [d]})
        }
        "userPermissionsChange" => {
            let perms = ["HEALTH_EXPORT", "ACTIVITY_EXPORT"];
            fake.with(|s| {
                s.items.insert(
                    PERMISSIONS.to_string(),
                    perms.iter().map(|p| json!(p)).collect(),
                )
            });
            json!({"userPermissionsChange": [{"userId": ACCOUNT_ID, "permissions": perms}]})
        }
        "deregistrations" => {
            // The user removed our app at Garmin: its tokens stop working.
            fake.revoke();
            json!({"deregistrations": [{"userId": ACCOUNT_ID}]})
        }
        "ping" => json!({"dailies": [{"userId": ACCOUNT_ID,
            "callbackURL": "https://apis.garmin.com/wellness-api/rest/dailies?uploadStartTimeInSeconds=1&token=x"}]}),
        "mixed" => {
            let hrv = json!({"userId":ACCOUNT_ID,"summaryId":"x2f9c41-hrv-4","calendarDate":date(a,4),
                "startTimeInSeconds":at(a,3,20,30),"startTimeOffsetInSeconds":OFFSET,"durationInSeconds":23100,
                "lastNightAvg":63});
            let weigh = json!({"userId":ACCOUNT_ID,"summaryId":"x2f9c41-body-4","measurementTimeInSeconds":at(a,4,5,10),
                "measurementTimeOffsetInSeconds":OFFSET,"weightInGrams":71420});
            fake.add_item("hrv", hrv.clone());
            fake.add_item("bodyComps", weigh.clone());
            let stranger = json!({"userId":OTHER_ACCOUNT_ID,"summaryId":"other-1","startTimeInSeconds":at(a,4,0,0),
                "startTimeOffsetInSeconds":0,"steps":123456});
            json!({"hrv": [hrv], "bodyComps": [weigh], "dailies": [stranger],
                "deregistrations": [{"userId": OTHER_ACCOUNT_ID}]})
        }
        other => {
            return Err(format!(
                "the Garmin fake sends {:?} webhooks, not '{other}'",
                fake.profile().webhooks
            ));
        }
    };
    // Garmin pushes to the URL configured in its portal, else to `target` (a full webhook
    // URL, or our API origin).
    let configured = fake.with(|s| {
        s.subscriptions
            .first()
            .and_then(|v| v.get("url"))
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let url = configured.unwrap_or_else(|| {
        crate::core::webhook_target(&target, "/api/v1/providers/garmin/webhooks")
    });
    push(&fake, &url, &body).await
}

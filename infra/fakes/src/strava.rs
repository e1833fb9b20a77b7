//! Fake Strava API v3 (providers.md §4.6): OAuth at `/oauth/authorize` and `/oauth/token` (form
//! client credentials; the token answer carries `expires_at` and the `athlete`), the
//! authenticated athlete, the activities list (`after`/`before`/`page`/`per_page` ≤ 200),
//! activity detail (with `calories`) and streams (`key_by_type`), token deauthorization
//! (`/oauth/deauthorize`, and the reference's `/oauth/revoke`), push subscriptions (one per
//! application, created only after the synchronous challenge GET to the callback succeeds),
//! and event delivery with `X-Strava-Signature`.
//!
//! The fake's "now" is the scenario clock of its dataset: anchor + 9 days, 12:00Z (the e2e
//! rig's clock).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Value, json};

use crate::core::{Fake, Profile, hmac_hex, oauth_routes, opaque_token, post_webhook};

/// The athlete id (an integer in every payload).
pub const ACCOUNT_ID: &str = "73014522";
const ATHLETE_ID: i64 = 73_014_522;
/// The push subscription id the fake hands out.
pub const SUBSCRIPTION_ID: i64 = 260_114;
const APPLICATION_ID: i64 = 118_802;
/// The activity the `activity.create` event announces.
pub const WEBHOOK_ACTIVITY_ID: i64 = 11_601_234_567;
/// The seeded activity (the anchor day's run) the `activity.delete` event deletes.
pub const DELETED_ACTIVITY_ID: i64 = 11_550_011_223;

pub fn profile() -> Profile {
    Profile {
        provider: "strava",
        account_id: ACCOUNT_ID,
        routes,
        seed,
        token_extra,
        access_token: opaque_token,
        // The data kinds (also `athlete.deauthorize` and the `#unsigned` / `#stale` modes).
        webhooks: &["activity.create", "activity.update", "activity.delete"],
        send_webhook: Some(|fake, target, kind| Box::pin(send(fake, target, kind))),
    }
}

fn routes() -> Router<Fake> {
    oauth_routes("/oauth/authorize", "/oauth/token")
        .route("/oauth/deauthorize", post(deauthorize))
        .route("/oauth/revoke", post(revoke))
        .route("/api/v3/athlete", get(athlete))
        .route("/api/v3/athlete/activities", get(activities))
        .route("/api/v3/activities/{id}", get(activity))
        .route("/api/v3/activities/{id}/streams", get(streams))
        .route(
            "/api/v3/push_subscriptions",
            post(create_subscription).get(list_subscriptions),
        )
        .route(
            "/api/v3/push_subscriptions/{id}",
            delete(delete_subscription),
        )
}

/// Strava's token answer adds `expires_at` and the athlete summary.
fn token_extra(fake: &Fake) -> Value {
    let expires_at = fake.now().timestamp() + fake.options().expires_in;
    json!({"token_type": "Bearer", "expires_at": expires_at,
        "athlete": {"id": ATHLETE_ID, "username": "hillclimber", "firstname": "Jo", "lastname": "Berg"}})
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A summary activity; `detail` holds the fields only the detail endpoint shows.
struct Activity<'a> {
    id: i64,
    sport: (&'a str, &'a str),
    start: DateTime<Utc>,
    elapsed: i64,
    moving: i64,
    distance: f64,
    elevation: (f64, f64, f64),
    speed: (f64, f64),
    heart_rate: Option<(f64, f64)>,
    power: Option<(f64, f64, f64)>,
    calories: f64,
    device: &'a str,
}

impl Activity<'_> {
    fn json(&self) -> Value {
        let (kind, sport_type) = self.sport;
        let (gain, high, low) = self.elevation;
        let local = self.start + Duration::hours(2);
        let mut v = json!({"resource_state": 2, "id": self.id, "name": format!("{sport_type} with the club"),
            "type": kind, "sport_type": sport_type,
            "start_date": stamp(self.start), "start_date_local": stamp(local),
            "timezone": "(GMT+01:00) Europe/Warsaw", "utc_offset": 7200.0,
            "elapsed_time": self.elapsed, "moving_time": self.moving, "distance": self.distance,
            "total_elevation_gain": gain, "elev_high": high, "elev_low": low,
            "average_speed": self.speed.0, "max_speed": self.speed.1,
            "has_heartrate": self.heart_rate.is_some(), "device_name": self.device,
            "trainer": false, "commute": false, "manual": false,
            "athlete": {"id": ATHLETE_ID, "resource_state": 1},
            "_calories": self.calories});
        if let Some((avg, max)) = self.heart_rate {
            v["average_heartrate"] = json!(avg);
            v["max_heartrate"] = json!(max);
        }
        if let Some((avg, max, kj)) = self.power {
            v["average_watts"] = json!(avg);
            v["max_watts"] = json!(max);
            v["kilojoules"] = json!(kj);
            v["device_watts"] = json!(true);
        }
        v
    }
}

fn day(anchor: NaiveDate, days: i64, hms: (u32, u32, u32)) -> DateTime<Utc> {
    (anchor + Duration::days(days))
        .and_hms_opt(hms.0, hms.1, hms.2)
        .unwrap_or_default()
        .and_utc()
}

/// A run on the anchor day, the gravel ride of the spec the day after (with streams), a
/// strength session, and a ride five months earlier (outside any 90-day backfill).
pub fn seed(anchor: NaiveDate) -> HashMap<String, Vec<Value>> {
    let activities = [
        Activity {
            id: 11_550_011_223,
            sport: ("Run", "Run"),
            start: day(anchor, 0, (6, 30, 0)),
            elapsed: 3105,
            moving: 3050,
            distance: 10012.3,
            elevation: (48.2, 131.0, 96.4),
            speed: (3.28, 4.9),
            heart_rate: Some((152.1, 176.0)),
            power: None,
            calories: 712.0,
            device: "Garmin Forerunner 965",
        },
        Activity {
            id: 11_562_233_098,
            sport: ("Ride", "GravelRide"),
            start: day(anchor, 1, (5, 48, 11)),
            elapsed: 6412,
            moving: 5980,
            distance: 48231.6,
            elevation: (521.0, 412.6, 188.2),
            speed: (8.07, 15.3),
            heart_rate: Some((137.4, 172.0)),
            power: Some((171.3, 688.0, 1024.6)),
            calories: 1105.0,
            device: "Garmin Edge 540",
        },
        Activity {
            id: 11_580_044_556,
            sport: ("WeightTraining", "WeightTraining"),
            start: day(anchor, 3, (16, 0, 0)),
            elapsed: 2700,
            moving: 2700,
            distance: 0.0,
            elevation: (0.0, 0.0, 0.0),
            speed: (0.0, 0.0),
            heart_rate: Some((118.0, 151.0)),
            power: None,
            calories: 260.0,
            device: "Apple Watch",
        },
        Activity {
            id: 10_400_000_001,
            sport: ("Ride", "Ride"),
            start: day(anchor, -150, (9, 0, 0)),
            elapsed: 3600,
            moving: 3500,
            distance: 30000.0,
            elevation: (200.0, 300.0, 100.0),
            speed: (8.5, 14.0),
            heart_rate: None,
            power: Some((150.0, 500.0, 540.0)),
            calories: 600.0,
            device: "Wahoo ELEMNT",
        },
    ];
    let mut m = HashMap::new();
    m.insert(
        "activities".to_string(),
        activities.iter().map(Activity::json).collect(),
    );
    m.insert(
        "streams".to_string(),
        vec![json!({"activity_id": 11_562_233_098i64,
            "time": {"data": [0, 1, 2, 3], "series_type": "distance", "original_size": 4, "resolution": "high"},
            "heartrate": {"data": [118, 121, 125, 127], "series_type": "distance", "original_size": 4, "resolution": "high"},
            "velocity_smooth": {"data": [0.0, 4.1, 6.3, 7.0], "series_type": "distance", "original_size": 4, "resolution": "high"},
            "watts": {"data": [0, 145, 188, 201], "series_type": "distance", "original_size": 4, "resolution": "high"}})],
    );
    m
}

fn fault(status: StatusCode, message: &str, field: &str, code: &str) -> Response {
    (
        status,
        axum::Json(json!({"message": message,
            "errors": [{"resource": "Application", "field": field, "code": code}]})),
    )
        .into_response()
}

fn not_found() -> Response {
    fault(StatusCode::NOT_FOUND, "Record Not Found", "id", "invalid")
}

/// The summary representation (what the list shows).
fn summary(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("_calories");
    }
    v
}

/// The detailed representation (adds `calories` and `description`).
fn detail(v: &Value) -> Value {
    let mut d = summary(v);
    d["resource_state"] = json!(3);
    d["calories"] = v.get("_calories").cloned().unwrap_or(json!(0.0));
    d["description"] = json!("");
    d
}

fn start_epoch(v: &Value) -> i64 {
    v.get("start_date")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map_or(0, |t| t.timestamp())
}

async fn athlete(State(fake): State<Fake>, uri: Uri, headers: HeaderMap) -> Response {
    crate::guard!(fake, uri, headers);
    axum::Json(
        json!({"id": ATHLETE_ID, "username": "hillclimber", "resource_state": 2,
        "firstname": "Jo", "lastname": "Berg", "city": "Kraków", "country": "Poland", "sex": "F"}),
    )
    .into_response()
}

async fn activities(
    State(fake): State<Fake>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    crate::guard!(fake, uri, headers);
    let int = |k: &str| q.get(k).map(|s| s.parse::<i64>());
    let (after, before, page, per_page) =
        match (int("after"), int("before"), int("page"), int("per_page")) {
            (Some(Err(_)), ..) => {
                return fault(StatusCode::BAD_REQUEST, "Bad Request", "after", "invalid");
            }
            (_, Some(Err(_)), ..) => {
                return fault(StatusCode::BAD_REQUEST, "Bad Request", "before", "invalid");
            }
            (_, _, Some(Err(_)), _) => {
                return fault(StatusCode::BAD_REQUEST, "Bad Request", "page", "invalid");
            }
            (_, _, _, Some(Err(_))) => {
                return fault(
                    StatusCode::BAD_REQUEST,
                    "Bad Request",
                    "per_page",
                    "invalid",
                );
            }
            (a, b, p, pp) => (
                a.and_then(Result::ok),
                b.and_then(Result::ok),
                p.and_then(Result::ok).unwrap_or(1),
                pp.and_then(Result::ok).unwrap_or(30),
            ),
        };
    if !(1..=200).contains(&per_page) || page < 1 {
        return fault(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "per_page",
            "invalid",
        );
    }
    let mut items: Vec<Value> = fake
        .items("activities")
        .into_iter()
        .filter(|v| {
            let t = start_epoch(v);
            after.is_none_or(|a| t > a) && before.is_none_or(|b| t < b)
        })
        .collect();
    items.sort_by_key(start_epoch);
    let skip = ((page - 1) * per_page) as usize;
    let out: Vec<Value> = items
        .iter()
        .skip(skip)
        .take(per_page as usize)
        .map(summary)
        .collect();
    axum::Json(Value::Array(out)).into_response()
}

fn find(fake: &Fake, id: i64) -> Option<Value> {
    fake.items("activities")
        .into_iter()
        .find(|v| v.get("id").and_then(Value::as_i64) == Some(id))
}

async fn activity(
    State(fake): State<Fake>,
    Path(id): Path<i64>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    crate::guard!(fake, uri, headers);
    find(&fake, id).map_or_else(not_found, |v| axum::Json(detail(&v)).into_response())
}

async fn streams(
    State(fake): State<Fake>,
    Path(id): Path<i64>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    crate::guard!(fake, uri, headers);
    if find(&fake, id).is_none() {
        return not_found();
    }
    let Some(mut all) = fake
        .items("streams")
        .into_iter()
        .find(|v| v.get("activity_id").and_then(Value::as_i64) == Some(id))
    else {
        return axum::Json(json!([])).into_response();
    };
    if let Some(o) = all.as_object_mut() {
        o.remove("activity_id");
    }
    let keys: Vec<String> = q
        .get("keys")
        .map(|k| k.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let Value::Object(mut m) = all else {
        return not_found();
    };
    // Strava always includes the requested time (or distance) axis.
    m.retain(|k, _| k == "time" || keys.is_empty() || keys.contains(k));
    if q.get("key_by_type").map(String::as_str) == Some("true") {
        axum::Json(Value::Object(m)).into_response()
    } else {
        let list: Vec<Value> = m
            .into_iter()
            .map(|(k, mut v)| {
                v["type"] = json!(k);
                v
            })
            .collect();
        axum::Json(Value::Array(list)).into_response()
    }
}

/// Ends the grant of `token`; counted as a deregistration.
fn end_grant(fake: &Fake, token: &str) -> bool {
    fake.with(|s| {
        s.deregistrations += 1;
        s.access_tokens.remove(token)
    })
}

fn form_or_query(body: &str, uri: &Uri, key: &str) -> Option<String> {
    let mut pairs: HashMap<String, String> = serde_urlencoded::from_str(body).unwrap_or_default();
    if let Some(q) = uri.query() {
        pairs.extend(serde_urlencoded::from_str::<HashMap<String, String>>(q).unwrap_or_default());
    }
    pairs.remove(key)
}

/// `POST /oauth/deauthorize` (`access_token` parameter or bearer): Strava's documented call.
async fn deauthorize(
    State(fake): State<Fake>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let token = form_or_query(&body, &uri, "access_token").or_else(|| {
        headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string)
    });
    let token = token.unwrap_or_default();
    if end_grant(&fake, &token) {
        axum::Json(json!({"access_token": token})).into_response()
    } else {
        fault(
            StatusCode::UNAUTHORIZED,
            "Authorization Error",
            "access_token",
            "invalid",
        )
    }
}

/// `POST /oauth/revoke` (form `token`, Basic client credentials): the reference's call.
async fn revoke(State(fake): State<Fake>, uri: Uri, body: String) -> Response {
    let token = form_or_query(&body, &uri, "token").unwrap_or_default();
    if end_grant(&fake, &token) {
        StatusCode::OK.into_response()
    } else {
        StatusCode::BAD_REQUEST.into_response()
    }
}

fn client_ok(fake: &Fake, pairs: &HashMap<String, String>) -> bool {
    pairs.get("client_id") == Some(&fake.options().client_id)
        && pairs.get("client_secret") == Some(&fake.options().client_secret)
}

/// `POST /api/v3/push_subscriptions` (form): one per application; Strava verifies the
/// callback with a GET challenge before answering.
async fn create_subscription(State(fake): State<Fake>, uri: Uri, body: String) -> Response {
    let mut pairs: HashMap<String, String> = serde_urlencoded::from_str(&body).unwrap_or_default();
    if let Some(q) = uri.query() {
        pairs.extend(serde_urlencoded::from_str::<HashMap<String, String>>(q).unwrap_or_default());
    }
    if !client_ok(&fake, &pairs) {
        return fault(
            StatusCode::UNAUTHORIZED,
            "Authorization Error",
            "client_id",
            "invalid",
        );
    }
    let (Some(callback), Some(verify)) = (pairs.get("callback_url"), pairs.get("verify_token"))
    else {
        return fault(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "callback_url",
            "missing",
        );
    };
    if fake.with(|s| !s.subscriptions.is_empty()) {
        return fault(StatusCode::BAD_REQUEST, "Bad Request", "", "already exists");
    }
    let challenge = format!("challenge-{}", fake.now().timestamp());
    let url = crate::core::with_query(
        callback,
        &[
            ("hub.mode", "subscribe"),
            ("hub.challenge", &challenge),
            ("hub.verify_token", verify),
        ],
    );
    let echoed = match reqwest::Client::new().get(&url).send().await {
        Ok(r) if r.status().is_success() => r.json::<Value>().await.ok().and_then(|v| {
            v.get("hub.challenge")
                .and_then(Value::as_str)
                .map(str::to_string)
        }),
        _ => None,
    };
    if echoed.as_deref() != Some(challenge.as_str()) {
        return fault(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "callback url",
            "not verifiable",
        );
    }
    let now = stamp(fake.now());
    let sub = json!({"id": SUBSCRIPTION_ID, "application_id": APPLICATION_ID, "callback_url": callback,
        "created_at": now, "updated_at": now, "resource_state": 2});
    fake.with(|s| s.subscriptions.push(sub));
    (
        StatusCode::CREATED,
        axum::Json(json!({"id": SUBSCRIPTION_ID})),
    )
        .into_response()
}

async fn list_subscriptions(
    State(fake): State<Fake>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !client_ok(&fake, &q) {
        return fault(
            StatusCode::UNAUTHORIZED,
            "Authorization Error",
            "client_id",
            "invalid",
        );
    }
    axum::Json(Value::Array(fake.with(|s| s.subscriptions.clone()))).into_response()
}

async fn delete_subscription(
    State(fake): State<Fake>,
    Path(id): Path<i64>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !client_ok(&fake, &q) {
        return fault(
            StatusCode::UNAUTHORIZED,
            "Authorization Error",
            "client_id",
            "invalid",
        );
    }
    let removed = fake.with(|s| {
        let before = s.subscriptions.len();
        s.subscriptions
            .retain(|v| v.get("id").and_then(Value::as_i64) != Some(id));
        before != s.subscriptions.len()
    });
    if removed {
        StatusCode::NO_CONTENT.into_response()
    } else {
        not_found()
    }
}

/// Sends one event. Kinds: `activity.create` (a morning run on the scenario day is uploaded
/// first), `activity.update` (the anchor-day run becomes a 10.555 km trail run),
/// `activity.delete` (the anchor-day run is deleted), `athlete.deauthorize` (the
/// athlete revokes access: tokens stop working); suffix `#unsigned` omits
/// `X-Strava-Signature`, `#stale` dates it 10 minutes back. Events go to the registered push
/// subscription's callback, else to `target` (a full webhook URL, or our API origin).
async fn send(fake: Fake, target: String, kind: String) -> Result<u16, String> {
    let (event, mode) = kind.split_once('#').unwrap_or((kind.as_str(), ""));
    let now = fake.now();
    let (object_type, object_id, aspect, updates) = match event {
        "activity.create" => {
            let run = Activity {
                id: WEBHOOK_ACTIVITY_ID,
                sport: ("Run", "TrailRun"),
                // Started 6 h 30 min ago (05:30Z at the scenario clock).
                start: now - Duration::seconds(now.timestamp() % 60) - Duration::minutes(390),
                elapsed: 4210,
                moving: 3980,
                distance: 12840.0,
                elevation: (388.0, 702.5, 340.1),
                speed: (3.05, 5.2),
                heart_rate: Some((149.6, 181.0)),
                power: None,
                calories: 905.0,
                device: "COROS VERTIX 2",
            };
            if find(&fake, WEBHOOK_ACTIVITY_ID).is_none() {
                fake.add_item("activities", run.json());
            }
            ("activity", WEBHOOK_ACTIVITY_ID, "create", json!({}))
        }
        "activity.update" => {
            // The athlete corrects the anchor-day run: it was a trail run, 10.555 km.
            let id = DELETED_ACTIVITY_ID;
            fake.with(|s| {
                if let Some(a) = s.items.get_mut("activities").and_then(|a| {
                    a.iter_mut()
                        .find(|v| v.get("id").and_then(Value::as_i64) == Some(id))
                }) {
                    a["sport_type"] = json!("TrailRun");
                    a["distance"] = json!(10555.0);
                    a["name"] = json!("Trail run with the club");
                }
            });
            (
                "activity",
                id,
                "update",
                json!({"title": "Trail run with the club", "type": "TrailRun"}),
            )
        }
        "activity.delete" => {
            let gone = DELETED_ACTIVITY_ID;
            fake.with(|s| {
                if let Some(a) = s.items.get_mut("activities") {
                    a.retain(|v| v.get("id").and_then(Value::as_i64) != Some(gone));
                }
            });
            ("activity", gone, "delete", json!({}))
        }
        "athlete.deauthorize" => {
            fake.revoke();
            (
                "athlete",
                ATHLETE_ID,
                "update",
                json!({"authorized": "false"}),
            )
        }
        other => return Err(format!("strava sends no '{other}' event")),
    };
    let body = serde_json::to_vec(
        &json!({"aspect_type": aspect, "event_time": now.timestamp() - 30,
        "object_id": object_id, "object_type": object_type, "owner_id": ATHLETE_ID,
        "subscription_id": SUBSCRIPTION_ID, "updates": updates}),
    )
    .map_err(|e| e.to_string())?;
    let t = if mode == "stale" {
        now - Duration::minutes(10)
    } else {
        now
    }
    .timestamp();
    let mut headers = Vec::new();
    if mode != "unsigned" {
        let mut signed = t.to_string().into_bytes();
        signed.push(b'.');
        signed.extend_from_slice(&body);
        let v1 = hmac_hex(fake.options().client_secret.as_bytes(), &[&signed]);
        headers.push(("X-Strava-Signature", format!("t={t},v1={v1}")));
    }
    // Strava calls the callback its push subscription was created with.
    let registered = fake.with(|s| {
        s.subscriptions
            .first()
            .and_then(|v| v.get("callback_url"))
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let url = registered.unwrap_or_else(|| {
        crate::core::webhook_target(&target, "/api/v1/providers/strava/webhooks")
    });
    post_webhook(&url, &headers, body).await
}

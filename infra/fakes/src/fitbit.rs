//! Fake Fitbit Web API (providers.md §4.7): OAuth with mandatory PKCE (S256) at
//! `/oauth2/authorize`, a Basic-only token endpoint at `/oauth2/token` answering `user_id`,
//! `POST /oauth2/revoke`, and the activity log list `/1/user/-/activities/list.json` enforcing
//! one of `afterDate`/`beforeDate` with the matching `sort`, `limit ≤ 100`, and linking pages
//! with absolute `pagination.next` URLs. More than [`RATE_LIMIT`] list calls answer 429 with
//! `Fitbit-Rate-Limit-Reset` (the hourly per-user budget, counted over the fake's life).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use chrono::{DateTime, Duration, NaiveDate};
use serde_json::{Value, json};

use crate::core::{Fake, Profile, opaque_token, with_query};

/// The Fitbit user id (`user_id` of the token answer).
pub const ACCOUNT_ID: &str = "C9Q4XZ";
/// The activity log list path.
pub const LIST_PATH: &str = "/1/user/-/activities/list.json";
/// List calls allowed per user (Fitbit: 150 per hour).
pub const RATE_LIMIT: usize = 150;

pub fn profile() -> Profile {
    Profile {
        provider: "fitbit",
        account_id: ACCOUNT_ID,
        routes,
        seed,
        token_extra,
        access_token: opaque_token,
        webhooks: &[],
        send_webhook: None,
    }
}

fn token_extra(_: &Fake) -> Value {
    json!({"user_id": ACCOUNT_ID, "token_type": "Bearer"})
}

fn routes() -> Router<Fake> {
    Router::new()
        .route("/oauth2/authorize", get(authorize))
        .route("/oauth2/token", post(token))
        .route("/oauth2/revoke", post(revoke))
        .route(LIST_PATH, get(list))
}

fn oauth_refusal(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(
            json!({"errors": [{"errorType": error, "message": description}], "success": false}),
        ),
    )
        .into_response()
}

/// Fitbit requires PKCE: no `code_challenge`, no consent.
async fn authorize(State(fake): State<Fake>, Query(q): Query<HashMap<String, String>>) -> Response {
    if q.get("code_challenge").is_none_or(String::is_empty) {
        return oauth_refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "code_challenge is required",
        );
    }
    crate::core::authorize(State(fake), Query(q)).await
}

/// The client's id and secret from an `Authorization: Basic` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let raw = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

fn client_ok(fake: &Fake, headers: &HeaderMap) -> bool {
    basic_credentials(headers).is_some_and(|(id, secret)| {
        id == fake.options().client_id && secret == fake.options().client_secret
    })
}

/// Token grants authenticate the client with HTTP Basic only.
async fn token(State(fake): State<Fake>, headers: HeaderMap, body: String) -> Response {
    if !client_ok(&fake, &headers) {
        return oauth_refusal(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Basic client authentication required",
        );
    }
    crate::core::token(State(fake), headers, body).await
}

/// `POST /oauth2/revoke` (form `token`, Basic client auth).
async fn revoke(State(fake): State<Fake>, headers: HeaderMap, body: String) -> Response {
    if !client_ok(&fake, &headers) {
        return oauth_refusal(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Basic client authentication required",
        );
    }
    let form: HashMap<String, String> = serde_urlencoded::from_str(&body).unwrap_or_default();
    let Some(token) = form.get("token").filter(|t| !t.is_empty()).cloned() else {
        return oauth_refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is required",
        );
    };
    fake.with(|s| {
        s.deregistrations += 1;
        s.access_tokens.remove(&token);
        s.refresh_tokens.remove(&token);
    });
    axum::Json(json!({})).into_response()
}

#[allow(clippy::too_many_arguments)]
fn activity(
    log_id: i64,
    name: &str,
    type_id: i64,
    start: String,
    duration_ms: i64,
    calories: i64,
    distance_km: Option<f64>,
    steps: Option<i64>,
    avg_hr: i64,
) -> Value {
    let mut a = json!({
        "logId": log_id, "activityName": name, "activityTypeId": type_id, "startTime": start,
        "duration": duration_ms, "activeDuration": duration_ms, "calories": calories,
        "averageHeartRate": avg_hr, "logType": "auto_detected",
        "source": {"id": "228466127", "name": "Charge 6", "type": "tracker"},
        "lastModified": start,
    });
    if let Some(km) = distance_km {
        a["distance"] = json!(km);
        a["distanceUnit"] = json!("Kilometer");
    }
    if let Some(s) = steps {
        a["steps"] = json!(s);
    }
    a
}

/// Four logged activities: a run 40 days before the anchor, Pilates (typed by name) on the
/// anchor day, the spec's walk two days later and a ride five days later.
pub fn seed(anchor: NaiveDate) -> HashMap<String, Vec<Value>> {
    let day = |n: i64| (anchor + Duration::days(n)).format("%Y-%m-%d").to_string();
    let mut m = HashMap::new();
    m.insert(
        "activities".to_string(),
        vec![
            activity(
                61_200_114_020,
                "Run",
                90009,
                format!("{}T06:40:00.000-04:00", day(-40)),
                2_712_000,
                402,
                Some(6.21),
                Some(7012),
                151,
            ),
            activity(
                61_203_110_307,
                "Pilates",
                20047,
                format!("{}T18:30:00.000+02:00", day(0)),
                3_000_000,
                188,
                None,
                None,
                97,
            ),
            activity(
                61_203_377_851,
                "Walk",
                90013,
                format!("{}T12:15:30.000+02:00", day(2)),
                2_534_000,
                214,
                Some(2.87),
                Some(3921),
                98,
            ),
            activity(
                61_203_640_552,
                "Outdoor Bike",
                90001,
                format!("{}T17:05:00.000+02:00", day(5)),
                4_380_000,
                731,
                Some(31.46),
                None,
                134,
            ),
        ],
    );
    m
}

fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"errors": [{"errorType": "validation", "fieldName": "query", "message": message}], "success": false})),
    )
        .into_response()
}

/// `YYYY-MM-DD[THH:MM[:SS]]` as a comparable local datetime string.
fn bound(v: &str) -> Option<String> {
    match v.len() {
        10 => NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .ok()
            .map(|_| format!("{v}T00:00:00")),
        16 => Some(format!("{v}:00")),
        19 => Some(v.to_string()),
        _ => None,
    }
}

fn local_start(a: &Value) -> String {
    a.get("startTime")
        .and_then(Value::as_str)
        .map(|s| s.chars().take(19).collect())
        .unwrap_or_default()
}

fn instant(a: &Value) -> i64 {
    a.get("startTime")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map_or(0, |t| t.timestamp_millis())
}

async fn list(
    State(fake): State<Fake>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    crate::guard!(fake, uri, headers);
    let used = fake.with(|s| s.calls.iter().filter(|c| c.starts_with(LIST_PATH)).count());
    if used > RATE_LIMIT {
        let mut resp = (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(
                json!({"errors": [{"errorType": "system", "message": "Too Many Requests"}]}),
            ),
        )
            .into_response();
        for (k, v) in [
            ("Fitbit-Rate-Limit-Limit", "150"),
            ("Fitbit-Rate-Limit-Remaining", "0"),
            ("Fitbit-Rate-Limit-Reset", "1800"),
        ] {
            if let Ok(v) = v.parse() {
                resp.headers_mut().insert(k, v);
            }
        }
        return resp;
    }
    let (after, before) = (q.get("afterDate"), q.get("beforeDate"));
    let sort = q.get("sort").map(String::as_str).unwrap_or_default();
    let (limit, offset) = (
        q.get("limit").and_then(|v| v.parse::<usize>().ok()),
        q.get("offset").and_then(|v| v.parse::<usize>().ok()),
    );
    let (Some(limit), Some(offset)) = (limit, offset) else {
        return bad_request("limit and offset are required");
    };
    if !(1..=100).contains(&limit) {
        return bad_request("limit must be between 1 and 100");
    }
    let mut items = fake.items("activities");
    let (key, value, ascending) = match (after, before) {
        (Some(a), None) if sort == "asc" => ("afterDate", a, true),
        (None, Some(b)) if sort == "desc" => ("beforeDate", b, false),
        (Some(_), None) | (None, Some(_)) => {
            return bad_request("sort must be asc with afterDate and desc with beforeDate");
        }
        _ => return bad_request("exactly one of afterDate and beforeDate is required"),
    };
    let Some(edge) = bound(value) else {
        return bad_request("afterDate/beforeDate must be yyyy-MM-dd or yyyy-MM-ddTHH:mm:ss");
    };
    items.retain(|a| {
        let s = local_start(a);
        if ascending { s > edge } else { s < edge }
    });
    items.sort_by_key(instant);
    if !ascending {
        items.reverse();
    }
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(offset).take(limit).collect();
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    let link = |off: usize| {
        with_query(
            &format!("http://{host}{LIST_PATH}"),
            &[
                (key, value.as_str()),
                ("sort", sort),
                ("limit", &limit.to_string()),
                ("offset", &off.to_string()),
            ],
        )
    };
    let next = if offset + limit < total {
        link(offset + limit)
    } else {
        String::new()
    };
    let previous = if offset > 0 {
        link(offset.saturating_sub(limit))
    } else {
        String::new()
    };
    let mut pagination =
        json!({"limit": limit, "next": next, "offset": offset, "previous": previous, "sort": sort});
    pagination[key] = json!(value);
    axum::Json(json!({"activities": page, "pagination": pagination})).into_response()
}

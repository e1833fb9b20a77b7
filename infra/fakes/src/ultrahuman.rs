//! Fake Ultrahuman Partnership API (providers.md §4.9): OAuth at `/authorise` (British
//! spelling) and `/api/partners/oauth/token` (form credentials), token revocation at
//! `/api/partners/oauth/revoke`, `user_data/user_info`, and the per-day
//! `user_data/metrics?date=YYYY-MM-DD` endpoint (empty `metric_data` on days without data).
//!
//! Dataset collections: `metrics` (`{"date", "metric_data"}` per day) and `failing_dates`
//! (date strings whose metrics call answers 404, to exercise per-day error skipping).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{Duration, NaiveDate};
use serde_json::{Value, json};

use crate::core::{Fake, Profile, no_extra, oauth_routes, opaque_token};

/// The ring owner's Ultrahuman user id.
pub const ACCOUNT_ID: &str = "uh_40028";

/// The Ultrahuman fake.
pub fn profile() -> Profile {
    Profile {
        provider: "ultrahuman",
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
    oauth_routes("/authorise", "/api/partners/oauth/token")
        .route("/api/partners/oauth/revoke", post(revoke))
        .route("/api/partners/v1/user_data/user_info", get(user_info))
        .route("/api/partners/v1/user_data/metrics", get(metrics))
}

fn epoch(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp())
        .unwrap_or_default()
}

/// One day of ring data (shapes of providers.md §4.9.3) with the given numbers.
fn day(date: NaiveDate, hr: [i64; 3], steps_total: i64, sleep_deep_s: i64, recovery: i64) -> Value {
    let t0 = epoch(date);
    json!({
        "date": date.format("%Y-%m-%d").to_string(),
        "metric_data": [
            {"type":"hr","object":{"day_start_timestamp":t0,"title":"Heart Rate","unit":"bpm",
                "values":[{"value":hr[0],"timestamp":t0 + 305},{"value":hr[1],"timestamp":t0 + 605},
                          {"value":hr[2],"timestamp":t0 + 36_005}],
                "last_reading":{"value":hr[2],"timestamp":t0 + 36_005}}},
            {"type":"hrv","object":{"day_start_timestamp":t0,"values":[{"value":44,"timestamp":t0 + 305},
                {"value":47,"timestamp":t0 + 3_905}],"avg":45}},
            {"type":"temp","object":{"day_start_timestamp":t0,"values":[{"value":35.9,"timestamp":t0 + 305}],"unit":"°C"}},
            {"type":"steps","object":{"day_start_timestamp":t0,"values":[{"value":0,"timestamp":t0 + 305},
                {"value":188,"timestamp":t0 + 29_205},{"value":412,"timestamp":t0 + 30_105}],"total":steps_total}},
            {"type":"vo2_max","object":{"value":41,"day_start_timestamp":t0}},
            {"type":"active_minutes","object":{"value":52,"day_start_timestamp":t0}},
            {"type":"Sleep","object":{"bedtime_start":t0 - 4_200,"bedtime_end":t0 + 21_600,
                "quick_metrics":[{"type":"time_in_bed","value":25_800,"title":"TIME IN BED"},
                    {"type":"total_sleep","value":23_700},{"type":"sleep_efic","value":92}],
                "sleep_stages":[{"type":"deep_sleep","stage_time":sleep_deep_s},{"type":"light_sleep","stage_time":12_600},
                    {"type":"rem_sleep","stage_time":6_600},{"type":"awake","stage_time":2_100}]}},
            {"type":"recovery_index","object":{"value":recovery,"day_start_timestamp":t0}},
            {"type":"movement_index","object":{"value":67,"day_start_timestamp":t0}},
            {"type":"metabolic_score","object":{"value":73,"day_start_timestamp":t0}},
            {"type":"night_rhr","object":{"value":52,"day_start_timestamp":t0}}
        ]
    })
}

/// Two days of ring data (the anchor day and the next), and a broken day before them.
pub fn seed(anchor: NaiveDate) -> HashMap<String, Vec<Value>> {
    let mut m = HashMap::new();
    m.insert(
        "metrics".to_string(),
        vec![
            day(anchor, [63, 59, 71], 9120, 4500, 81),
            day(anchor + Duration::days(1), [61, 58, 75], 7450, 5100, 74),
        ],
    );
    m.insert(
        "failing_dates".to_string(),
        vec![json!(
            (anchor - Duration::days(3)).format("%Y-%m-%d").to_string()
        )],
    );
    m
}

async fn user_info(State(fake): State<Fake>, uri: Uri, headers: HeaderMap) -> Response {
    crate::guard!(fake, uri, headers);
    axum::Json(
        json!({"user_id": ACCOUNT_ID, "username": "ring.user", "email": "ring.user@example.com"}),
    )
    .into_response()
}

async fn metrics(
    State(fake): State<Fake>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    crate::guard!(fake, uri, headers);
    let Some(date) = q
        .get("date")
        .filter(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok())
    else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "date (YYYY-MM-DD) is required"})),
        )
            .into_response();
    };
    if fake
        .items("failing_dates")
        .iter()
        .any(|d| d.as_str() == Some(date))
    {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "no data for this date"})),
        )
            .into_response();
    }
    let metric_data = fake
        .items("metrics")
        .into_iter()
        .find(|d| d.get("date").and_then(Value::as_str) == Some(date))
        .and_then(|d| d.get("metric_data").cloned())
        .unwrap_or_else(|| json!([]));
    axum::Json(json!({"data": {"metric_data": metric_data}, "error": null, "status": 200}))
        .into_response()
}

/// `POST /api/partners/oauth/revoke`: form `token`, `client_id`, `client_secret`.
async fn revoke(State(fake): State<Fake>, body: String) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_str(&body).unwrap_or_default();
    let opts = fake.options();
    if form.get("client_id") != Some(&opts.client_id)
        || form.get("client_secret") != Some(&opts.client_secret)
    {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let token = form.get("token").cloned().unwrap_or_default();
    let known = fake.with(|s| {
        s.deregistrations += 1;
        s.access_tokens.remove(&token)
    });
    if known {
        axum::Json(json!({"status": "revoked"})).into_response()
    } else {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_token"})),
        )
            .into_response()
    }
}

//! Fake Oura API v2 (providers.md §4.5): OAuth at `/oauth/authorize` and `/oauth/token`,
//! `personal_info`, the `usercollection` collections with `next_token` paging and date
//! filters, and `POST /oauth/revoke`.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{Duration, NaiveDate};
use serde_json::{Value, json};

use crate::core::{Fake, Profile, no_extra, oauth_routes, opaque_token};

pub const ACCOUNT_ID: &str = "oura-user-1";

pub fn profile() -> Profile {
    Profile {
        provider: "oura",
        account_id: ACCOUNT_ID,
        routes,
        seed,
        token_extra: no_extra,
        access_token: opaque_token,
        webhooks: &["workout"],
        send_webhook: Some(|fake, target, kind| Box::pin(send_webhook(fake, target, kind))),
    }
}

fn routes() -> Router<Fake> {
    oauth_routes("/oauth/authorize", "/oauth/token")
        .route("/oauth/revoke", post(revoke))
        .route("/v2/usercollection/personal_info", get(personal_info))
        .route("/v2/usercollection/{kind}", get(collection))
        .route("/v2/usercollection/{kind}/{id}", get(document))
        .route(
            "/v2/webhook/subscription",
            get(list_subscriptions).post(create_subscription),
        )
        .route(
            "/v2/webhook/subscription/{id}",
            get(get_subscription)
                .put(update_subscription)
                .delete(delete_subscription),
        )
        .route(
            "/v2/webhook/subscription/renew/{id}",
            axum::routing::put(renew_subscription),
        )
}

/// One night, one run, daily scores and two heart-rate readings on the anchor day.
pub fn seed(anchor: NaiveDate) -> HashMap<String, Vec<Value>> {
    let d = anchor.format("%Y-%m-%d").to_string();
    let prev = (anchor - Duration::days(1)).format("%Y-%m-%d").to_string();
    let mut m = HashMap::new();
    let mut put = |k: &str, v: Vec<Value>| {
        m.insert(k.to_string(), v);
    };
    put(
        "workout",
        vec![
            json!({"id":"wk-6f2d19c0","activity":"running","calories":412.0,"day":d,"distance":6120.0,
        "start_datetime":format!("{d}T07:02:00+02:00"),"end_datetime":format!("{d}T07:41:30+02:00"),"intensity":"moderate","source":"autodetected"}),
        ],
    );
    put(
        "sleep",
        vec![
            json!({"id":"sl-19b7e4d2","day":d,"type":"long_sleep","bedtime_start":format!("{prev}T23:12:30+02:00"),
        "bedtime_end":format!("{d}T06:58:00+02:00"),"time_in_bed":27930,"total_sleep_duration":25110,"deep_sleep_duration":4830,
        "light_sleep_duration":14460,"rem_sleep_duration":5820,"awake_time":2820,"efficiency":90,"average_breath":14.9,
        "lowest_heart_rate":47,"sleep_phase_5_min":"4222211133322224",
        "heart_rate":{"interval":300.0,"items":[58.0,null,55.0,53.0],"timestamp":format!("{prev}T23:12:30.000+02:00")}}),
        ],
    );
    put(
        "daily_sleep",
        vec![
            json!({"id":"ds-1","day":d,"score":82,"timestamp":format!("{d}T00:00:00+02:00"),"contributors":{"deep_sleep":90}}),
        ],
    );
    put(
        "daily_readiness",
        vec![
            json!({"id":"rd-77aa","day":d,"score":84,"temperature_deviation":-0.12,"temperature_trend_deviation":0.04,
        "timestamp":format!("{d}T00:00:00+02:00"),"contributors":{"hrv_balance":88}}),
        ],
    );
    put(
        "daily_activity",
        vec![
            json!({"id":"ac-11d3","day":d,"score":77,"active_calories":486,"steps":10322,"equivalent_walking_distance":8211,
        "high_activity_time":1380,"medium_activity_time":2940,"low_activity_time":15060,"timestamp":format!("{d}T04:00:00+02:00")}),
        ],
    );
    put(
        "daily_spo2",
        vec![
            json!({"id":"sp-90c4","day":d,"spo2_percentage":{"average":96.4},"breathing_disturbance_index":6}),
        ],
    );
    put(
        "heartrate",
        vec![
            json!({"bpm":61,"source":"awake","timestamp":format!("{d}T10:00:12+00:00")}),
            json!({"bpm":64,"source":"awake","timestamp":format!("{d}T10:05:12+00:00")}),
        ],
    );
    m
}

async fn personal_info(State(fake): State<Fake>, uri: Uri, headers: HeaderMap) -> Response {
    crate::guard!(fake, uri, headers);
    axum::Json(json!({"id": ACCOUNT_ID, "age": 35, "email": "ada@example.com"})).into_response()
}

async fn revoke(State(fake): State<Fake>, Query(q): Query<HashMap<String, String>>) -> Response {
    let token = q.get("access_token").cloned().unwrap_or_default();
    let known = fake.with(|s| {
        s.deregistrations += 1;
        s.access_tokens.remove(&token)
    });
    if known {
        StatusCode::OK.into_response()
    } else {
        StatusCode::BAD_REQUEST.into_response()
    }
}

async fn collection(
    State(fake): State<Fake>,
    Path(kind): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    crate::guard!(fake, uri, headers);
    // Items dated outside the asked range are not served.
    let day_of = |i: &Value| {
        i.get("day")
            .and_then(Value::as_str)
            .or(i.get("timestamp").and_then(Value::as_str))
            .map(|s| s.chars().take(10).collect::<String>())
            .unwrap_or_default()
    };
    let bound = |keys: [&str; 2], default: &str| {
        keys.iter()
            .find_map(|k| q.get(*k))
            .map(|s| s.chars().take(10).collect::<String>())
            .unwrap_or_else(|| default.to_string())
    };
    let (from, to) = (
        bound(["start_date", "start_datetime"], "0000"),
        bound(["end_date", "end_datetime"], "9999"),
    );
    let items: Vec<Value> = fake
        .items(&kind)
        .into_iter()
        .filter(|i| {
            let d = day_of(i);
            d >= from && d <= to
        })
        .collect();
    // Pages of one item, linked by next_token.
    let page: usize = q
        .get("next_token")
        .and_then(|t| t.strip_prefix("page-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let next = (page + 1 < items.len()).then(|| format!("page-{}", page + 1));
    axum::Json(json!({"data": items.get(page).into_iter().collect::<Vec<_>>(), "next_token": next}))
        .into_response()
}

/// One document of a collection by id (404 when unknown).
async fn document(
    State(fake): State<Fake>,
    Path((kind, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    crate::guard!(fake, uri, headers);
    match fake
        .items(&kind)
        .into_iter()
        .find(|i| i.get("id").and_then(Value::as_str) == Some(id.as_str()))
    {
        Some(doc) => axum::Json(doc).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"detail": "Document not found"})),
        )
            .into_response(),
    }
}

/// A new workout two days after the anchor appears in the dataset, and Oura notifies: a
/// signed `create` event (hex HMAC-SHA256 of timestamp ‖ body with the client secret, sent
/// upper-case as Oura does).
async fn send_webhook(fake: Fake, target: String, kind: String) -> Result<u16, String> {
    if kind != "workout" {
        return Err(format!(
            "the Oura fake sends 'workout' webhooks, not '{kind}'"
        ));
    }
    let d = (fake.anchor() + Duration::days(2))
        .format("%Y-%m-%d")
        .to_string();
    fake.add_item(
        "workout",
        json!({"id":"wk-a81c5e07","activity":"cycling","calories":655.0,"day":d,"distance":24310.0,
            "start_datetime":format!("{d}T17:30:00+02:00"),"end_datetime":format!("{d}T18:42:00+02:00"),
            "intensity":"hard","source":"manual"}),
    );
    let body = serde_json::to_vec(&json!({
        "event_type": "create",
        "data_type": "workout",
        "object_id": "wk-a81c5e07",
        "event_time": format!("{d}T18:45:00+00:00"),
        "user_id": ACCOUNT_ID,
    }))
    .map_err(|e| e.to_string())?;
    let stamp = fake.now().timestamp().to_string();
    let sig = crate::core::hmac_hex(
        fake.options().client_secret.as_bytes(),
        &[stamp.as_bytes(), &body],
    )
    .to_uppercase();
    crate::core::post_webhook(
        &format!("{target}/api/v1/providers/oura/webhooks"),
        &[("x-oura-signature", sig), ("x-oura-timestamp", stamp)],
        body,
    )
    .await
}

fn app_credentials_ok(fake: &Fake, headers: &HeaderMap) -> bool {
    let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
    h("x-client-id") == fake.options().client_id
        && h("x-client-secret") == fake.options().client_secret
}

fn forbidden() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"detail": "invalid client credentials"})),
    )
        .into_response()
}

fn expiration() -> String {
    (chrono::Utc::now() + Duration::days(90)).to_rfc3339()
}

async fn list_subscriptions(State(fake): State<Fake>, headers: HeaderMap) -> Response {
    if !app_credentials_ok(&fake, &headers) {
        return forbidden();
    }
    axum::Json(Value::Array(fake.with(|s| s.subscriptions.clone()))).into_response()
}

/// Oura verifies the callback before it creates the subscription: a GET with the
/// verification token and a challenge that must be echoed.
async fn create_subscription(
    State(fake): State<Fake>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if !app_credentials_ok(&fake, &headers) {
        return forbidden();
    }
    let field = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (url, token, event, data) = (
        field("callback_url"),
        field("verification_token"),
        field("event_type"),
        field("data_type"),
    );
    let exists = fake.with(|s| {
        s.subscriptions
            .iter()
            .any(|x| x["event_type"] == event.as_str() && x["data_type"] == data.as_str())
    });
    if exists {
        return (
            StatusCode::CONFLICT,
            axum::Json(json!({"detail": "subscription exists"})),
        )
            .into_response();
    }
    let challenge = format!("challenge-{}", uuid::Uuid::new_v4().simple());
    let check = reqwest::Client::new()
        .get(crate::core::with_query(
            &url,
            &[("verification_token", &token), ("challenge", &challenge)],
        ))
        .send()
        .await;
    let echoed = match check {
        Ok(r) if r.status().is_success() => r.json::<Value>().await.ok().and_then(|v| {
            v.get("challenge")
                .and_then(Value::as_str)
                .map(str::to_string)
        }),
        _ => None,
    };
    if echoed.as_deref() != Some(challenge.as_str()) {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"detail": "callback verification failed"})),
        )
            .into_response();
    }
    let sub = json!({"id": format!("sub-{}", uuid::Uuid::new_v4().simple()), "callback_url": url,
        "event_type": event, "data_type": data, "expiration_time": expiration()});
    fake.with(|s| s.subscriptions.push(sub.clone()));
    (StatusCode::CREATED, axum::Json(sub)).into_response()
}

fn find(fake: &Fake, id: &str) -> Option<usize> {
    fake.with(|s| s.subscriptions.iter().position(|x| x["id"] == id))
}

async fn get_subscription(
    State(fake): State<Fake>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !app_credentials_ok(&fake, &headers) {
        return forbidden();
    }
    match find(&fake, &id) {
        Some(i) => axum::Json(fake.with(|s| s.subscriptions[i].clone())).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn update_subscription(
    State(fake): State<Fake>,
    Path(id): Path<String>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if !app_credentials_ok(&fake, &headers) {
        return forbidden();
    }
    let Some(i) = find(&fake, &id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let v = fake.with(|s| {
        if let Some(url) = body.get("callback_url") {
            s.subscriptions[i]["callback_url"] = url.clone();
        }
        s.subscriptions[i].clone()
    });
    axum::Json(v).into_response()
}

async fn renew_subscription(
    State(fake): State<Fake>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !app_credentials_ok(&fake, &headers) {
        return forbidden();
    }
    let Some(i) = find(&fake, &id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let v = fake.with(|s| {
        s.subscriptions[i]["expiration_time"] = Value::String(expiration());
        s.subscriptions[i].clone()
    });
    axum::Json(v).into_response()
}

async fn delete_subscription(
    State(fake): State<Fake>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !app_credentials_ok(&fake, &headers) {
        return forbidden();
    }
    match find(&fake, &id) {
        Some(i) => {
            fake.with(|s| s.subscriptions.remove(i));
            StatusCode::NO_CONTENT.into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

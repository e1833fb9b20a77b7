//! The OAuth connection flow against a local fake provider that speaks OAuth 2.0 over real HTTP
//! (authorize → consent redirect → token exchange → user info), and the connection routes.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use common::{Auth, TestApp};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Fake {
    codes: Arc<Mutex<HashMap<String, String>>>,
    deny: Arc<Mutex<bool>>,
    /// Data calls answered 429 before the fake recovers.
    throttle: Arc<Mutex<u32>>,
    /// The access token and refresh grant are refused (the user revoked access).
    revoked: Arc<Mutex<bool>>,
    data_calls: Arc<Mutex<u32>>,
}

fn oura_items(kind: &str) -> Vec<Value> {
    match kind {
        "workout" => vec![
            json!({"id":"wk-6f2d19c0","activity":"running","calories":412.0,"day":"2024-06-01","distance":6120.0,
            "start_datetime":"2024-06-01T07:02:00+02:00","end_datetime":"2024-06-01T07:41:30+02:00","intensity":"moderate","source":"autodetected"}),
        ],
        "sleep" => vec![
            json!({"id":"sl-19b7e4d2","day":"2024-06-01","type":"long_sleep","bedtime_start":"2024-05-31T23:12:30+02:00",
            "bedtime_end":"2024-06-01T06:58:00+02:00","time_in_bed":27930,"total_sleep_duration":25110,"deep_sleep_duration":4830,
            "light_sleep_duration":14460,"rem_sleep_duration":5820,"awake_time":2820,"efficiency":90,"average_breath":14.9,
            "lowest_heart_rate":47,"sleep_phase_5_min":"4222211133322224",
            "heart_rate":{"interval":300.0,"items":[58.0,null,55.0,53.0],"timestamp":"2024-05-31T23:12:30.000+02:00"}}),
        ],
        "daily_sleep" => vec![
            json!({"id":"ds-1","day":"2024-06-01","score":82,"timestamp":"2024-06-01T00:00:00+02:00","contributors":{"deep_sleep":90}}),
        ],
        "daily_readiness" => vec![
            json!({"id":"rd-77aa","day":"2024-06-01","score":84,"temperature_deviation":-0.12,"temperature_trend_deviation":0.04,
            "timestamp":"2024-06-01T00:00:00+02:00","contributors":{"hrv_balance":88}}),
        ],
        "daily_activity" => vec![
            json!({"id":"ac-11d3","day":"2024-06-01","score":77,"active_calories":486,"steps":10322,"equivalent_walking_distance":8211,
            "high_activity_time":1380,"medium_activity_time":2940,"low_activity_time":15060,"timestamp":"2024-06-01T04:00:00+02:00"}),
        ],
        "daily_spo2" => vec![
            json!({"id":"sp-90c4","day":"2024-06-01","spo2_percentage":{"average":96.4},"breathing_disturbance_index":6}),
        ],
        "heartrate" => vec![
            json!({"bpm":61,"source":"awake","timestamp":"2024-06-01T10:00:12+00:00"}),
            json!({"bpm":64,"source":"awake","timestamp":"2024-06-01T10:05:12+00:00"}),
        ],
        _ => vec![],
    }
}

async fn fake_collection(
    State(f): State<Fake>,
    axum::extract::Path(kind): axum::extract::Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    *f.data_calls.lock().expect("lock") += 1;
    if *f.revoked.lock().expect("lock")
        || headers.get("authorization").and_then(|v| v.to_str().ok())
            != Some("Bearer fake-access-token")
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    {
        let mut t = f.throttle.lock().expect("lock");
        if *t > 0 {
            *t -= 1;
            return (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response();
        }
    }
    // Dates outside the asked range are not served.
    let in_range = |day: &str| {
        let from = q
            .get("start_date")
            .or(q.get("start_datetime"))
            .map(|s| &s[..10])
            .unwrap_or("0000");
        let to = q
            .get("end_date")
            .or(q.get("end_datetime"))
            .map(|s| &s[..10])
            .unwrap_or("9999");
        day >= from && day <= to
    };
    let items: Vec<Value> = oura_items(&kind)
        .into_iter()
        .filter(|i| {
            in_range(
                i.get("day")
                    .and_then(Value::as_str)
                    .or(i.get("timestamp").and_then(Value::as_str))
                    .map(|s| &s[..10])
                    .unwrap_or(""),
            )
        })
        .collect();
    // Two pages: the first item, then the rest, linked by next_token.
    match q.get("next_token").map(String::as_str) {
        None if items.len() > 1 => {
            axum::Json(json!({"data": items[..1], "next_token": "page-2"})).into_response()
        }
        Some("page-2") => {
            axum::Json(json!({"data": items[1..], "next_token": null})).into_response()
        }
        _ => axum::Json(json!({"data": items, "next_token": null})).into_response(),
    }
}

async fn fake_authorize(
    State(f): State<Fake>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
    let state = q.get("state").cloned().unwrap_or_default();
    if *f.deny.lock().expect("lock") {
        return Redirect::to(&format!(
            "{redirect}?error=access_denied&error_description=User+denied+access&state={state}"
        ))
        .into_response();
    }
    let code = format!("code-{}", uuid::Uuid::new_v4().simple());
    f.codes
        .lock()
        .expect("lock")
        .insert(code.clone(), redirect.clone());
    Redirect::to(&format!("{redirect}?code={code}&state={state}")).into_response()
}

async fn fake_token(State(f): State<Fake>, headers: HeaderMap, body: String) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_str(&body).unwrap_or_default();
    if form.get("grant_type").map(String::as_str) == Some("refresh_token") {
        if *f.revoked.lock().expect("lock") {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": "invalid_grant"})),
            )
                .into_response();
        }
        return axum::Json(json!({"access_token": "fake-access-token", "token_type": "bearer", "expires_in": 86400})).into_response();
    }
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Basic "));
    let body_creds = form.get("client_id").map(String::as_str) == Some("cid")
        && form.get("client_secret").map(String::as_str) == Some("csecret");
    let code = form.get("code").cloned().unwrap_or_default();
    let known = f.codes.lock().expect("lock").remove(&code);
    match known {
        Some(redirect) if (basic || body_creds) && form.get("redirect_uri") == Some(&redirect) && form.get("grant_type").map(String::as_str) == Some("authorization_code") => {
            axum::Json(json!({"access_token": "fake-access-token", "token_type": "bearer", "expires_in": 86400,
                              "refresh_token": "fake-refresh-token", "scope": "personal daily", "x_user_id": 31337}))
            .into_response()
        }
        _ => (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant"}))).into_response(),
    }
}

async fn fake_personal_info(headers: HeaderMap) -> Response {
    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some("Bearer fake-access-token") => {
            axum::Json(json!({"id": "oura-user-1", "age": 35, "email": "ada@example.com"}))
                .into_response()
        }
        _ => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn start_fake() -> (String, Fake) {
    let fake = Fake::default();
    let router = Router::new()
        .route("/oauth/authorize", get(fake_authorize))
        .route("/oauth2/authorization", get(fake_authorize))
        .route("/oauth/token", post(fake_token))
        .route("/v2/oauth2/token", post(fake_token))
        .route("/v2/usercollection/personal_info", get(fake_personal_info))
        .route("/v2/usercollection/{kind}", get(fake_collection))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, fake)
}

async fn app_with_fake() -> (TestApp, Fake) {
    let (base, fake) = start_fake().await;
    let app = TestApp::with_settings(&[
        ("OURA_CLIENT_ID", "cid"),
        ("OURA_CLIENT_SECRET", "csecret"),
        ("OURA_BASE_URL", &base),
        ("POLAR_CLIENT_ID", "cid"),
        ("POLAR_CLIENT_SECRET", "csecret"),
        ("POLAR_BASE_URL", &base),
        ("ALLOWED_REDIRECT_ORIGINS", "https://app.example.com"),
    ])
    .await;
    (app, fake)
}

/// Follows the fake's consent redirect and returns our callback's path and query.
async fn consent(authorization_url: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = client
        .get(authorization_url)
        .send()
        .await
        .expect("authorize");
    assert!(r.status().is_redirection(), "{}", r.status());
    let loc = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_string();
    let rest = loc.split_once("://").map(|(_, r)| r).unwrap_or(&loc);
    rest[rest.find('/').unwrap_or(0)..].to_string()
}

async fn authorize(
    app: &TestApp,
    provider: &str,
    user: &str,
    redirect: Option<&str>,
) -> common::Resp {
    let mut path = format!("/api/v1/oauth/{provider}/authorize?user_id={user}");
    if let Some(r) = redirect {
        path.push_str(&format!(
            "&redirect_uri={}",
            serde_urlencoded::to_string([("x", r)])
                .unwrap_or_default()
                .trim_start_matches("x=")
        ));
    }
    let jwt = dev_jwt(app).await;
    app.call("GET", &path, Auth::Bearer(&jwt), None).await
}

/// The seeded admin's access token, signed directly (no password hashing per call).
async fn dev_jwt(app: &TestApp) -> String {
    let dev = app
        .state
        .db
        .developer_by_email(common::ADMIN_EMAIL)
        .await
        .expect("store")
        .expect("admin");
    app.state
        .signer
        .developer(&dev.id.to_string(), app.state.now())
        .expect("jwt")
}

#[tokio::test]
async fn a_user_connects_through_the_full_oauth_flow() {
    let (app, _) = app_with_fake().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;

    let a = authorize(
        &app,
        "oura",
        &user,
        Some("https://app.example.com/done?x=1"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let url = a.body["authorization_url"]
        .as_str()
        .expect("url")
        .to_string();
    let state = a.body["state"].as_str().expect("state").to_string();
    assert_eq!(state.len(), 43);
    assert!(
        url.contains("client_id=cid")
            && url.contains("response_type=code")
            && url.contains(&format!("state={state}"))
    );
    assert!(
        url.contains(
            "redirect_uri=http%3A%2F%2Flocalhost%3A8000%2Fapi%2Fv1%2Foauth%2Foura%2Fcallback"
        ),
        "{url}"
    );

    let callback = consent(&url).await;
    let r = app.call("GET", &callback, Auth::None, None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers.get("location").and_then(|v| v.to_str().ok()),
        Some("https://app.example.com/done?x=1")
    );

    let conns = app
        .call(
            "GET",
            &format!("/api/v1/users/{user}/connections"),
            Auth::Key(&key),
            None,
        )
        .await;
    let c = &conns.body[0];
    assert_eq!(
        (c["provider"].as_str(), c["status"].as_str()),
        (Some("oura"), Some("active"))
    );
    assert_eq!(c["provider_user_id"], "oura-user-1");
    assert!(
        c["last_synced_at"].is_null(),
        "null until the first sync has finished"
    );
    assert_eq!(
        (
            c["rest_pull"].as_bool(),
            c["webhook_ping"].as_bool(),
            c["live_sync_mode"].as_str()
        ),
        (Some(true), Some(true), Some("pull"))
    );
    let raw = String::from_utf8_lossy(&conns.raw);
    assert!(
        !raw.contains("fake-access-token") && !raw.contains("access_token"),
        "tokens never leave the server"
    );
    // Tokens are encrypted at rest.
    let uid = uuid::Uuid::parse_str(&user).expect("uuid");
    let stored = app
        .state
        .db
        .connection(uid, "oura")
        .await
        .expect("db")
        .expect("row");
    let sealed = stored.access_token.expect("token");
    assert_ne!(sealed, "fake-access-token");
    assert_eq!(
        app.state.cipher.open(&sealed).expect("open"),
        "fake-access-token"
    );

    // The same callback again: the state was single-use.
    let replay = app.call("GET", &callback, Auth::None, None).await;
    assert_eq!(
        (replay.status, replay.detail()),
        (
            StatusCode::BAD_REQUEST,
            "Invalid or expired state parameter"
        )
    );
    let conns_after = app
        .call(
            "GET",
            &format!("/api/v1/users/{user}/connections"),
            Auth::Key(&key),
            None,
        )
        .await;
    assert_eq!(
        conns_after.body.as_array().map(Vec::len),
        Some(1),
        "a refused callback changes nothing"
    );
}

#[tokio::test]
async fn forged_expired_and_mismatched_states_are_refused() {
    let (app, _) = app_with_fake().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    let forged = app
        .call(
            "GET",
            "/api/v1/oauth/oura/callback?code=abc&state=forged-state",
            Auth::None,
            None,
        )
        .await;
    assert_eq!(
        (forged.status, forged.detail()),
        (
            StatusCode::BAD_REQUEST,
            "Invalid or expired state parameter"
        )
    );

    let a = authorize(&app, "oura", &user, None).await;
    let callback = consent(a.body["authorization_url"].as_str().expect("url")).await;
    app.clock.advance(chrono::Duration::minutes(16));
    let expired = app.call("GET", &callback, Auth::None, None).await;
    assert_eq!(
        expired.status,
        StatusCode::BAD_REQUEST,
        "states expire after 15 minutes"
    );

    let a = authorize(&app, "oura", &user, None).await;
    let callback = consent(a.body["authorization_url"].as_str().expect("url")).await;
    let mismatch = app
        .call(
            "GET",
            &callback.replace("/oura/", "/polar/"),
            Auth::None,
            None,
        )
        .await;
    assert_eq!(
        (mismatch.status, mismatch.detail()),
        (StatusCode::BAD_REQUEST, "Provider mismatch in state")
    );
    let conns = app
        .call(
            "GET",
            &format!("/api/v1/users/{user}/connections"),
            Auth::Key(&key),
            None,
        )
        .await;
    assert_eq!(conns.body, json!([]));
}

#[tokio::test]
async fn bad_authorize_requests_are_4xx() {
    let (app, _) = app_with_fake().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    for bad in [
        "javascript:alert(1)",
        "ftp://example.com/x",
        "//evil.example.com",
    ] {
        let r = authorize(&app, "oura", &user, Some(bad)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(
        authorize(&app, "apple", &user, None).await.detail(),
        "Provider 'apple' does not support OAuth"
    );
    assert_eq!(
        authorize(&app, "Oura", &user, None).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        authorize(&app, "unknown", &user, None).await.detail(),
        "Unknown provider: unknown"
    );
    let garmin = authorize(&app, "garmin", &user, None).await;
    assert!(
        garmin.detail().contains("GARMIN_CLIENT_ID"),
        "unconfigured providers say what to set"
    );
    assert_eq!(
        authorize(&app, "oura", "not-a-uuid", None).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        authorize(&app, "oura", &uuid::Uuid::new_v4().to_string(), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn denied_consent_and_failed_exchanges_land_on_the_error_page() {
    let (app, fake) = app_with_fake().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    *fake.deny.lock().expect("lock") = true;
    let a = authorize(&app, "oura", &user, Some("https://app.example.com/done")).await;
    let callback = consent(a.body["authorization_url"].as_str().expect("url")).await;
    let r = app.call("GET", &callback, Auth::None, None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let loc = r
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        loc.starts_with("/api/v1/oauth/error?message=access_denied"),
        "{loc}"
    );
    let page = app.call("GET", &loc, Auth::None, None).await;
    assert_eq!(page.body["success"], false);

    *fake.deny.lock().expect("lock") = false;
    let a = authorize(&app, "oura", &user, None).await;
    let callback = consent(a.body["authorization_url"].as_str().expect("url")).await;
    let bad_code = regex_replace_code(&callback);
    let r = app.call("GET", &bad_code, Auth::None, None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let loc = r
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        loc.contains("Failed+to+exchange+authorization+code"),
        "{loc}"
    );
    let missing = app
        .call("GET", "/api/v1/oauth/oura/callback", Auth::None, None)
        .await;
    assert_eq!(missing.status, StatusCode::SEE_OTHER);
    let conns = app
        .call(
            "GET",
            &format!("/api/v1/users/{user}/connections"),
            Auth::Key(&key),
            None,
        )
        .await;
    assert_eq!(conns.body, json!([]));
}

fn regex_replace_code(callback: &str) -> String {
    let (path, query) = callback.split_once('?').unwrap_or((callback, ""));
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            if k == "code" {
                (k, "wrong-code".to_string())
            } else {
                (k, v)
            }
        })
        .collect();
    format!(
        "{path}?{}",
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    )
}

#[tokio::test]
async fn basic_auth_providers_exchange_with_basic_credentials() {
    let (app, _) = app_with_fake().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    let a = authorize(&app, "polar", &user, None).await;
    let url = a.body["authorization_url"]
        .as_str()
        .expect("url")
        .to_string();
    assert!(url.contains("scope=accesslink.read_all"), "{url}");
    let r = app
        .call("GET", &consent(&url).await, Auth::None, None)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let loc = r
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        loc,
        format!("/api/v1/oauth/success?provider=polar&user_id={user}")
    );
    let ok = app.call("GET", &loc, Auth::None, None).await;
    assert_eq!(ok.body["message"], "Successfully connected to polar");
    let conns = app
        .call(
            "GET",
            &format!("/api/v1/users/{user}/connections"),
            Auth::Key(&key),
            None,
        )
        .await;
    assert_eq!(
        conns.body[0]["provider_user_id"], "31337",
        "Polar's id comes from the token answer"
    );
}

#[tokio::test]
async fn providers_are_listed_enabled_only_where_configured_and_can_be_toggled() {
    let (app, _) = app_with_fake().await;
    let token = app.admin_token().await;
    let list = app
        .call("GET", "/api/v1/oauth/providers", Auth::None, None)
        .await;
    let by: HashMap<String, Value> = list
        .body
        .as_array()
        .expect("list")
        .iter()
        .map(|p| (p["provider"].as_str().unwrap_or("").to_string(), p.clone()))
        .collect();
    assert_eq!(by.len(), 12);
    assert_eq!(list.body[0]["provider"], "apple");
    assert_eq!(by["oura"]["is_enabled"], true);
    assert_eq!(
        by["garmin"]["is_enabled"], false,
        "no credentials configured"
    );
    assert_eq!(by["apple"]["is_enabled"], true);
    assert_eq!(by["garmin"]["live_sync_mode"], "webhook");
    assert_eq!(by["apple"]["icon_url"], "/static/provider-icons/apple.svg");
    let cloud = app
        .call(
            "GET",
            "/api/v1/oauth/providers?cloud_only=true&enabled_only=true",
            Auth::None,
            None,
        )
        .await;
    let keys: Vec<&str> = cloud
        .body
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["provider"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(keys, ["polar", "oura"]);

    let r = app
        .call(
            "PUT",
            "/api/v1/oauth/providers/oura",
            Auth::Bearer(&token),
            Some(r#"{"live_sync_mode":"webhook"}"#),
        )
        .await;
    assert_eq!(
        (r.status, r.body["live_sync_mode"].as_str()),
        (StatusCode::OK, Some("webhook"))
    );
    let r = app
        .call(
            "PUT",
            "/api/v1/oauth/providers/garmin",
            Auth::Bearer(&token),
            Some(r#"{"live_sync_mode":"pull"}"#),
        )
        .await;
    assert_eq!(
        (r.status, r.detail()),
        (
            StatusCode::BAD_REQUEST,
            "Provider 'garmin' does not support live sync mode configuration"
        )
    );
    let r = app
        .call(
            "PUT",
            "/api/v1/oauth/providers/oura",
            Auth::Bearer(&token),
            Some(r#"{"live_sync_mode":null}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .call(
            "PUT",
            "/api/v1/oauth/providers/nope",
            Auth::Bearer(&token),
            Some("{}"),
        )
        .await;
    assert_eq!(
        (r.status, r.detail()),
        (StatusCode::BAD_REQUEST, "Unknown provider: nope")
    );
    let r = app
        .call(
            "PUT",
            "/api/v1/oauth/providers",
            Auth::Bearer(&token),
            Some(r#"{"providers":{"oura":false}}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .call(
            "PUT",
            "/api/v1/oauth/providers",
            Auth::Bearer(&token),
            Some(r#"{"providers":{"fitbitx":false}}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    assert_eq!(
        authorize(&app, "oura", &user, None).await.detail(),
        "Provider 'oura' is disabled"
    );
    let r = app
        .call(
            "PUT",
            "/api/v1/oauth/providers/oura",
            Auth::Key(&key),
            Some("{}"),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "settings need a developer"
    );
    let icon = app
        .call("GET", "/static/provider-icons/oura.svg", Auth::None, None)
        .await;
    assert_eq!(icon.status, StatusCode::OK);
    assert_eq!(
        icon.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/svg+xml")
    );
    assert_eq!(
        app.call("GET", "/static/provider-icons/nope.svg", Auth::None, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn disconnecting_is_idempotent_and_can_take_the_data_along() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    let other = app.user(&key, "{}").await;
    let body = json!({"provider": "apple", "sdkVersion": "1", "syncTimestamp": "2025-03-02T00:00:00Z", "data": {"records": [
        {"type": "HKQuantityTypeIdentifierStepCount", "unit": "count", "value": 100, "startDate": "2025-03-01T08:00:00Z", "endDate": "2025-03-01T08:01:00Z"}
    ]}});
    for u in [&user, &other] {
        let r = app
            .call(
                "POST",
                &format!("/api/v1/sdk/users/{u}/sync"),
                Auth::Key(&key),
                Some(&body.to_string()),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
    }
    app.state.jobs_idle().await;
    let conns = app
        .call(
            "GET",
            &format!("/api/v1/users/{user}/connections"),
            Auth::Key(&key),
            None,
        )
        .await;
    assert_eq!(
        (
            conns.body[0]["provider"].as_str(),
            conns.body[0]["status"].as_str()
        ),
        (Some("apple"), Some("active"))
    );
    assert!(
        conns.body[0]["last_synced_at"].is_string(),
        "an SDK push is a finished sync"
    );

    let path = format!("/api/v1/users/{user}/connections/apple");
    assert_eq!(
        app.call("DELETE", &path, Auth::Key(&key), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.call("DELETE", &path, Auth::Key(&key), None)
            .await
            .status,
        StatusCode::NO_CONTENT,
        "idempotent"
    );
    let never = app
        .call(
            "DELETE",
            &format!("/api/v1/users/{user}/connections/oura"),
            Auth::Key(&key),
            None,
        )
        .await;
    assert_eq!(
        (never.status, never.detail()),
        (
            StatusCode::NOT_FOUND,
            format!("Connection with ID: {user} not found.").as_str()
        )
    );
    let conns = app
        .call(
            "GET",
            &format!("/api/v1/users/{user}/connections"),
            Auth::Key(&key),
            None,
        )
        .await;
    assert_eq!(conns.body[0]["status"], "revoked");

    let del = app
        .call("DELETE", &format!("{path}/data"), Auth::Key(&key), None)
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    app.state.jobs_idle().await;
    let ts = |u: &str| {
        format!(
            "/api/v1/users/{u}/timeseries?start_time=2025-03-01&end_time=2025-03-01&types=steps"
        )
    };
    assert_eq!(
        app.call("GET", &ts(&user), Auth::Key(&key), None)
            .await
            .body["pagination"]["total_count"],
        0
    );
    assert_eq!(
        app.call("GET", &ts(&other), Auth::Key(&key), None)
            .await
            .body["pagination"]["total_count"],
        1,
        "other users keep theirs"
    );
    let act = app
        .call(
            "GET",
            &format!(
                "/api/v1/users/{user}/summaries/activity?start_date=2025-03-01&end_date=2025-03-02"
            ),
            Auth::Key(&key),
            None,
        )
        .await;
    assert_eq!(act.body["data"], json!([]), "roll-ups follow the deletion");
}

async fn connect_oura(app: &TestApp, user: &str) {
    let a = authorize(app, "oura", user, None).await;
    let r = app
        .call(
            "GET",
            &consent(a.body["authorization_url"].as_str().expect("url")).await,
            Auth::None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn connecting_oura_backfills_its_data_into_the_read_api() {
    let (app, fake) = app_with_fake().await;
    app.clock.set(
        chrono::DateTime::parse_from_rfc3339("2024-06-10T12:00:00Z")
            .expect("t")
            .to_utc(),
    );
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    // The fake throttles the first data calls: the window is retried, never lost.
    *fake.throttle.lock().expect("lock") = 2;
    connect_oura(&app, &user).await;
    app.state.jobs_idle().await;
    let get = |path: &str| {
        let url = format!("/api/v1/users/{user}/{path}");
        let (app, key) = (&app, key.clone());
        async move { app.call("GET", &url, Auth::Key(&key), None).await.body }
    };
    let w = get("events/workouts?start_date=2024-05-01&end_date=2024-06-10").await;
    assert_eq!(w["pagination"]["total_count"], 1, "{w}");
    let d = &w["data"][0];
    assert_eq!(
        (
            d["type"].as_str(),
            d["calories_kcal"].as_f64(),
            d["distance_meters"].as_f64()
        ),
        (Some("running"), Some(412.0), Some(6120.0))
    );
    assert_eq!(
        (d["start_time"].as_str(), d["zone_offset"].as_str()),
        (Some("2024-06-01T05:02:00Z"), Some("+02:00"))
    );
    assert_eq!(d["source"]["provider"], "oura");
    let s = get("events/sleep?start_date=2024-05-01&end_date=2024-06-10").await;
    let night = &s["data"][0];
    assert_eq!(night["sleep_duration_seconds"], (80 + 241 + 97) * 60);
    assert_eq!(night["stages"]["deep_minutes"], 80);
    assert_eq!(
        night["sleep_stage_intervals"].as_array().map(Vec::len),
        Some(6)
    );
    let a = get("summaries/activity?start_date=2024-06-01&end_date=2024-06-02").await;
    assert_eq!(
        a["data"][0]["steps"], 10322,
        "daily totals win over samples"
    );
    assert_eq!(a["data"][0]["active_minutes"], (1380 + 2940 + 15060) / 60);
    let scores = get("health-scores?provider=oura").await;
    let cats: Vec<&str> = scores["data"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["category"].as_str()).collect())
        .unwrap_or_default();
    for c in ["sleep", "readiness", "activity"] {
        assert!(cats.contains(&c), "{c} in {cats:?}");
    }
    let hr = get(
        "timeseries?start_time=2024-06-01T10:00:00Z&end_time=2024-06-01T11:00:00Z&types=heart_rate",
    )
    .await;
    assert_eq!(
        hr["pagination"]["total_count"], 2,
        "both pages of the heart-rate collection"
    );
    let conns = get("connections").await;
    assert_eq!(
        conns[0]["last_synced_at"], "2024-06-10T12:00:00Z",
        "set once the windows synced"
    );

    // A re-sync of the same window stores nothing twice.
    let again = shared::jobs::Job::ProviderSync {
        user_id: uuid::Uuid::parse_str(&user).expect("uuid"),
        provider: shared::domain::provider::Provider::Oura,
        start: chrono::DateTime::parse_from_rfc3339("2024-05-15T00:00:00Z")
            .expect("t")
            .to_utc(),
        end: chrono::DateTime::parse_from_rfc3339("2024-06-10T00:00:00Z")
            .expect("t")
            .to_utc(),
    };
    app.state.queue.enqueue(vec![again]).await.expect("enqueue");
    app.state.jobs_idle().await;
    assert_eq!(
        get("events/workouts?start_date=2024-05-01&end_date=2024-06-10").await["pagination"]["total_count"],
        1
    );
    assert_eq!(
        get("health-scores?provider=oura").await["pagination"]["total_count"],
        3
    );
}

#[tokio::test]
async fn a_revoked_grant_marks_the_connection_revoked() {
    let (app, fake) = app_with_fake().await;
    app.clock.set(
        chrono::DateTime::parse_from_rfc3339("2024-06-10T12:00:00Z")
            .expect("t")
            .to_utc(),
    );
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    *fake.revoked.lock().expect("lock") = true;
    connect_oura(&app, &user).await;
    app.state.jobs_idle().await;
    let conns = app
        .call(
            "GET",
            &format!("/api/v1/users/{user}/connections"),
            Auth::Key(&key),
            None,
        )
        .await;
    assert_eq!(conns.body[0]["status"], "revoked");
    assert!(conns.body[0]["last_synced_at"].is_null(), "nothing synced");
    let uid = uuid::Uuid::parse_str(&user).expect("uuid");
    let stored = app
        .state
        .db
        .connection(uid, "oura")
        .await
        .expect("db")
        .expect("row");
    assert!(
        stored.access_token.is_none() && stored.refresh_token.is_none(),
        "tokens are dropped"
    );
}

#[tokio::test]
async fn the_schedule_polls_due_pull_connections() {
    let (app, fake) = app_with_fake().await;
    app.clock.set(
        chrono::DateTime::parse_from_rfc3339("2024-06-10T12:00:00Z")
            .expect("t")
            .to_utc(),
    );
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    connect_oura(&app, &user).await;
    app.state.jobs_idle().await;
    let calls = *fake.data_calls.lock().expect("lock");
    assert_eq!(
        shared::jobs::schedule::tick(&app.state)
            .await
            .expect("tick"),
        0,
        "not due yet"
    );
    app.clock.advance(chrono::Duration::minutes(61));
    assert_eq!(
        shared::jobs::schedule::tick(&app.state)
            .await
            .expect("tick"),
        1
    );
    app.state.jobs_idle().await;
    assert!(
        *fake.data_calls.lock().expect("lock") > calls,
        "the poll pulled from the provider"
    );
    assert_eq!(
        shared::jobs::schedule::tick(&app.state)
            .await
            .expect("tick"),
        0,
        "next poll an hour later"
    );
    // In webhook live mode the provider pushes: the schedule stops polling it.
    let token = app.admin_token().await;
    let r = app
        .call(
            "PUT",
            "/api/v1/oauth/providers/oura",
            Auth::Bearer(&token),
            Some(r#"{"live_sync_mode": "webhook"}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    app.clock.advance(chrono::Duration::minutes(61));
    assert_eq!(
        shared::jobs::schedule::tick(&app.state)
            .await
            .expect("tick"),
        0,
        "webhook mode is not polled"
    );
}

#[tokio::test]
async fn sync_triggers_queue_windows_and_refuse_what_cannot_sync() {
    let (app, fake) = app_with_fake().await;
    app.clock.set(
        chrono::DateTime::parse_from_rfc3339("2024-06-10T12:00:00Z")
            .expect("t")
            .to_utc(),
    );
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    let path = |p: &str, rest: &str| format!("/api/v1/providers/{p}/users/{user}/{rest}");
    assert_eq!(
        app.call("POST", &path("oura", "sync"), Auth::Key(&key), None)
            .await
            .status,
        StatusCode::NOT_FOUND,
        "no connection yet"
    );
    connect_oura(&app, &user).await;
    app.state.jobs_idle().await;
    let calls = *fake.data_calls.lock().expect("lock");
    let r = app
        .call("POST", &path("oura", "sync"), Auth::Key(&key), None)
        .await;
    assert_eq!(
        (r.status, r.body["async"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{}",
        r.body
    );
    app.state.jobs_idle().await;
    assert!(*fake.data_calls.lock().expect("lock") > calls);
    let r = app
        .call(
            "POST",
            &format!("{}?limit=5", path("oura", "sync")),
            Auth::Key(&key),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.detail()),
        (
            StatusCode::BAD_REQUEST,
            "Parameters ['limit'] are not supported in async mode. Use async=false or omit provider-specific parameters."
        )
    );
    let r = app
        .call(
            "POST",
            &format!("{}?async=false", path("oura", "sync")),
            Auth::Key(&key),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.body["success"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{}",
        r.body
    );
    let h = app
        .call(
            "POST",
            &format!("{}?days=30", path("oura", "sync/historical")),
            Auth::Key(&key),
            None,
        )
        .await;
    assert_eq!(
        (h.status, h.body["method"].as_str(), h.body["days"].as_i64()),
        (StatusCode::OK, Some("pull_api"), Some(30))
    );
    assert_eq!(h.body["start_date"], "2024-05-11T12:00:00.000000+00:00");
    let apple = app
        .call(
            "POST",
            &path("apple", "sync/historical"),
            Auth::Key(&key),
            None,
        )
        .await;
    assert_eq!(
        (apple.status, apple.detail()),
        (
            StatusCode::BAD_REQUEST,
            "Provider 'apple' does not support historical sync."
        )
    );
    let polar = app
        .call("POST", &path("polar", "sync"), Auth::Key(&key), None)
        .await;
    assert_eq!(
        polar.status,
        StatusCode::NOT_FOUND,
        "a provider the user never connected"
    );
    assert!(
        polar.detail().starts_with("Connection with ID"),
        "{}",
        polar.detail()
    );
    assert_eq!(
        app.call(
            "POST",
            &format!("{}?days=0", path("oura", "sync/historical")),
            Auth::Key(&key),
            None
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.call("POST", &path("oura", "sync"), Auth::None, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

/// `GET /oauth/{p}/authorize` with a raw query and a credential.
async fn authorize_as(app: &TestApp, query: &str, auth: Auth<'_>) -> common::Resp {
    app.call(
        "GET",
        &format!("/api/v1/oauth/oura/authorize?{query}"),
        auth,
        None,
    )
    .await
}

#[tokio::test]
async fn authorize_needs_a_credential_for_that_user() {
    let (app, _) = app_with_fake().await;
    let jwt = dev_jwt(&app).await;
    let key = app.api_key(&jwt).await;
    let user = app.user(&key, "{}").await;
    let other = app.user(&key, "{}").await;
    let q = format!("user_id={user}");

    let none = authorize_as(&app, &q, Auth::None).await;
    assert_eq!(
        (none.status, none.detail()),
        (
            StatusCode::UNAUTHORIZED,
            "Authentication required: provide JWT token or API key"
        )
    );
    let wrong_key = authorize_as(&app, &q, Auth::Key("sk-0123456789abcdef0123456789abcdef")).await;
    assert_eq!(
        (wrong_key.status, wrong_key.detail()),
        (StatusCode::UNAUTHORIZED, "Invalid or missing API key")
    );
    let forged = authorize_as(&app, &q, Auth::Bearer("not.a.jwt")).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        authorize_as(&app, &q, Auth::Key(&key)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        authorize_as(&app, &q, Auth::Bearer(&jwt)).await.status,
        StatusCode::OK
    );

    let app_creds = app.application(&jwt).await;
    let sdk = app.sdk_tokens(&user, &app_creds).await;
    let sdk = sdk.body["access_token"]
        .as_str()
        .expect("sdk token")
        .to_string();
    assert_eq!(
        authorize_as(&app, &q, Auth::Bearer(&sdk)).await.status,
        StatusCode::OK
    );
    let theirs = authorize_as(&app, &format!("user_id={other}"), Auth::Bearer(&sdk)).await;
    assert_eq!(
        (theirs.status, theirs.detail()),
        (StatusCode::FORBIDDEN, "Token does not match user_id")
    );
    let open = TestApp::with_settings(&[
        ("OURA_CLIENT_ID", "cid"),
        ("OURA_CLIENT_SECRET", "csecret"),
        ("OAUTH_PUBLIC_AUTHORIZE", "true"),
    ])
    .await;
    let jwt = dev_jwt(&open).await;
    let key = open.api_key(&jwt).await;
    let user = open.user(&key, "{}").await;
    let public = authorize_as(&open, &format!("user_id={user}"), Auth::None).await;
    assert_eq!(public.status, StatusCode::OK, "{}", public.body);
}

#[tokio::test]
async fn redirect_uris_must_match_an_allowed_origin() {
    let (app, _) = app_with_fake().await;
    let jwt = dev_jwt(&app).await;
    let key = app.api_key(&jwt).await;
    let user = app.user(&key, "{}").await;
    for bad in [
        "https://evil.example/connected",
        "http://localhost@evil.example",
        "http://localhost:8000@evil.example/",
        "https://app.example.com@evil.example/",
        "https://user:pw@app.example.com/done",
        "https://app.example.com.evil.example/",
        "https://app.example.com:8443/done",
        "http://app.example.com/done",
        "https://app.example.com/x\r\nSet-Cookie: a=b",
        "https://app.example.com/x\nLocation: https://evil.example",
        "https://app.example.com/\tx",
        "https://evil.example\\@app.example.com/",
        "javascript:alert(1)",
        "//evil.example",
    ] {
        let r = authorize(&app, "oura", &user, Some(bad)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad:?}: {}", r.body);
        assert!(r.body["detail"].is_string(), "{bad:?}");
    }
    let r = authorize(&app, "oura", &user, Some("https://evil.example/connected")).await;
    assert_eq!(
        r.detail(),
        "redirect_uri origin 'https://evil.example' is not allowed; add it to ALLOWED_REDIRECT_ORIGINS"
    );
    // Allowed: the configured origin (any case of its host) and API_BASE_URL's own.
    for (good, lands) in [
        (
            "https://APP.example.com/done?x=1",
            "https://app.example.com/done?x=1",
        ),
        (
            "http://localhost:8000/connected",
            "http://localhost:8000/connected",
        ),
    ] {
        let a = authorize(&app, "oura", &user, Some(good)).await;
        assert_eq!(a.status, StatusCode::OK, "{good}: {}", a.body);
        let callback = consent(a.body["authorization_url"].as_str().expect("url")).await;
        let r = app.call("GET", &callback, Auth::None, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(
            r.headers.get("location").and_then(|v| v.to_str().ok()),
            Some(lands)
        );
    }
}

#[tokio::test]
async fn the_callback_checks_the_redirect_again() {
    let (app, _) = app_with_fake().await;
    let jwt = dev_jwt(&app).await;
    let key = app.api_key(&jwt).await;
    let user = app.user(&key, "{}").await;
    let a = authorize(&app, "oura", &user, None).await;
    let st = a.body["state"].as_str().expect("state").to_string();
    let callback = consent(a.body["authorization_url"].as_str().expect("url")).await;
    // A state written before the allow-list existed (or with a since-removed origin).
    let now = app.state.now();
    let taken = app.state.db.take_oauth_state(&st, now.timestamp()).await;
    assert!(taken.expect("store").is_some());
    let record = shared::repo::connections::OAuthState {
        user_id: user.parse().expect("uuid"),
        provider: "oura".into(),
        redirect_uri: Some("https://evil.example/connected".into()),
        code_verifier: None,
        created_at: now,
    };
    app.state
        .db
        .put_oauth_state(&st, &record, now.timestamp() + 600)
        .await
        .expect("state");
    let r = app.call("GET", &callback, Auth::None, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.headers.get("location").is_none());
    let conns = app
        .call(
            "GET",
            &format!("/api/v1/users/{user}/connections"),
            Auth::Key(&key),
            None,
        )
        .await;
    assert_eq!(conns.body, json!([]), "nothing is connected");
}

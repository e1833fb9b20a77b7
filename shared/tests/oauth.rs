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
    app.call("GET", &path, Auth::None, None).await
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

//! The smaller holes of issue #9 item 8, through the router: impossible SDK items are dropped
//! and counted, trailing slashes redirect, sync triggers need a user and an active connection,
//! providers without a workouts API answer 400.

mod common;

use axum::http::StatusCode;
use common::{Auth, TestApp};
use serde_json::{Value, json};

async fn setup() -> (TestApp, String, String) {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    (app, key, user)
}

fn workout(start: &str, end: &str) -> Value {
    json!({"type": "running", "startDate": start, "endDate": end, "source": {"name": "Watch"}})
}

#[tokio::test]
async fn impossible_sdk_items_are_dropped_counted_and_never_half_visible() {
    let (app, key, user) = setup().await;
    let body = json!({"provider": "apple", "sdkVersion": "1.0.0", "syncTimestamp": "2025-03-02T00:00:00Z",
    "data": {
        "records": [
            {"type": "HKQuantityTypeIdentifierStepCount", "unit": "count", "value": 40,
             "startDate": "2025-03-01T09:00:00Z", "endDate": "2025-03-01T08:00:00Z"},
            {"type": "HKQuantityTypeIdentifierTeleportCount", "unit": "count", "value": 1,
             "startDate": "2025-03-01T08:00:00Z", "endDate": "2025-03-01T08:00:00Z"},
            {"type": "HKQuantityTypeIdentifierStepCount", "unit": "count", "value": 40,
             "startDate": "2025-03-01T08:00:00Z", "endDate": "2025-03-01T08:01:00Z"}
        ],
        "workouts": [
            workout("2025-03-01T08:00:00Z", "2025-03-01T07:00:00Z"),
            workout("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"),
            workout("2025-03-01T07:00:00Z", "2025-03-01T07:30:00Z")
        ]
    }});
    let r = app
        .call(
            "POST",
            &format!("/api/v1/sdk/users/{user}/sync"),
            Auth::Key(&key),
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["dropped_count"], 4, "{}", r.body);
    app.state.jobs_idle().await;
    let get = |path: String| {
        let (app, key) = (&app, &key);
        async move {
            let r = app.call("GET", &path, Auth::Key(key), None).await;
            assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
            r.body
        }
    };
    let summary = get(format!("/api/v1/users/{user}/summaries/data")).await;
    assert_eq!(summary["total_workouts"], 1, "{summary}");
    assert_eq!(summary["total_data_points"], 1, "{summary}");
    // What the summary counts, the widest listing lists.
    let listed = get(format!(
        "/api/v1/users/{user}/events/workouts?start_date=1900-01-01&end_date=2200-12-31"
    ))
    .await;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1), "{listed}");
    assert!(
        listed["data"][0]["duration_seconds"].as_i64().unwrap_or(-1) >= 0,
        "{listed}"
    );
}

#[tokio::test]
async fn trailing_slashes_redirect_to_the_route() {
    let (app, key, user) = setup().await;
    let r = app
        .call(
            "POST",
            &format!("/api/v1/sdk/users/{user}/sync/"),
            Auth::Key(&key),
            Some("{}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::TEMPORARY_REDIRECT, "{:?}", r.body);
    assert_eq!(
        r.headers.get("location").and_then(|v| v.to_str().ok()),
        Some(format!("/api/v1/sdk/users/{user}/sync").as_str())
    );
    let r = app
        .call("GET", "/api/v1/users/?limit=5", Auth::Key(&key), None)
        .await;
    assert_eq!(r.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        r.headers.get("location").and_then(|v| v.to_str().ok()),
        Some("/api/v1/users?limit=5")
    );
    for unknown in [
        "/api/v1/nothing/",
        "//evil.example/",
        "/api/v1/users/x/y/z/",
    ] {
        let r = app.call("GET", unknown, Auth::None, None).await;
        assert_eq!(
            (r.status, r.detail()),
            (StatusCode::NOT_FOUND, "Not Found"),
            "{unknown}"
        );
    }
}

fn connection(
    user: &str,
    provider: &str,
    status: shared::domain::states::ConnectionStatus,
    now: chrono::DateTime<chrono::Utc>,
) -> shared::repo::connections::Connection {
    shared::repo::connections::Connection {
        id: uuid::Uuid::new_v4(),
        user_id: user.parse().expect("uuid"),
        provider: provider.parse().expect("a provider"),
        provider_user_id: None,
        provider_username: None,
        scope: None,
        status,
        access_token: None,
        refresh_token: None,
        token_expires_at: None,
        last_synced_at: None,
        created_at: now,
        updated_at: now,
        next_poll_at: None,
    }
}

#[tokio::test]
async fn sync_triggers_need_a_user_and_an_active_connection() {
    let (app, key, user) = setup().await;
    let post = |path: String| {
        let (app, key) = (&app, &key);
        async move { app.call("POST", &path, Auth::Key(key), None).await }
    };
    let stranger = uuid::Uuid::new_v4();
    let r = post(format!(
        "/api/v1/providers/oura/users/{stranger}/sync/historical"
    ))
    .await;
    assert_eq!(
        (r.status, r.detail().to_string()),
        (
            StatusCode::NOT_FOUND,
            format!("User with ID: {stranger} not found.")
        )
    );
    let r = post(format!(
        "/api/v1/providers/oura/users/{user}/sync/historical"
    ))
    .await;
    assert_eq!(
        (r.status, r.detail().to_string()),
        (
            StatusCode::NOT_FOUND,
            format!("No active connection found for user {user} and provider 'oura'")
        )
    );
    let now = app.state.now();
    app.state
        .db
        .save_connection(&connection(
            &user,
            "oura",
            shared::domain::states::ConnectionStatus::Revoked,
            now,
        ))
        .await
        .expect("connection");
    for path in ["sync/historical", "sync"] {
        let r = post(format!("/api/v1/providers/oura/users/{user}/{path}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
        assert!(r.detail().starts_with("No active connection"), "{path}");
    }
    app.state
        .db
        .save_connection(&connection(
            &user,
            "oura",
            shared::domain::states::ConnectionStatus::Active,
            now,
        ))
        .await
        .expect("connection");
    let r = post(format!(
        "/api/v1/providers/oura/users/{user}/sync/historical?days=7"
    ))
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn providers_without_a_workouts_api_answer_400() {
    let (app, key, user) = setup().await;
    for path in [
        format!("/api/v1/providers/apple/users/{user}/workouts"),
        format!("/api/v1/providers/samsung/users/{user}/workouts/w1"),
    ] {
        let r = app.call("GET", &path, Auth::Key(&key), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.body);
        assert!(r.detail().contains("does not support workouts"), "{path}");
    }
    let r = app
        .call(
            "GET",
            &format!("/api/v1/providers/apple/users/{user}/workouts"),
            Auth::Key(&key),
            None,
        )
        .await;
    assert_eq!(r.detail(), "Provider 'apple' does not support workouts");
}

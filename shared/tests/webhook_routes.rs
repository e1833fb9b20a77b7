//! Webhook and subscription routes (issue #9): authentication before validation, the webhook
//! URL route, the URL secret of the providers that sign nothing, and 400 (not 501) for a
//! provider without a webhook capability.

mod common;

use axum::http::StatusCode;
use common::{Auth, TestApp};

#[tokio::test]
async fn subscription_routes_authenticate_before_they_validate() {
    let app = TestApp::new().await;
    for (method, path) in [
        (
            "POST",
            "/api/v1/providers/strava/webhooks/subscriptions?callback_url=ftp://x",
        ),
        ("POST", "/api/v1/providers/strava/webhooks/subscriptions"),
        (
            "PUT",
            "/api/v1/providers/oura/webhooks/subscriptions/1?callback_url=nope",
        ),
        ("PUT", "/api/v1/providers/oura/webhooks/subscriptions/1"),
        ("GET", "/api/v1/providers/garmin/webhooks/url"),
    ] {
        let r = app.call(method, path, Auth::None, None).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}: {:?}",
            r.body
        );
        let r = app
            .call(method, path, Auth::Bearer("not-a-jwt"), None)
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}: {:?}",
            r.body
        );
    }
    // Authenticated, the bad callback is a 400.
    let jwt = app.admin_token().await;
    let r = app
        .call(
            "POST",
            "/api/v1/providers/strava/webhooks/subscriptions?callback_url=ftp://x",
            Auth::Bearer(&jwt),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
}

#[tokio::test]
async fn the_webhook_url_route_answers_the_secret_url_of_unsigned_providers() {
    let app = TestApp::with_settings(&[("API_BASE_URL", "https://ow.example.com")]).await;
    let jwt = app.admin_token().await;
    let garmin = app
        .call(
            "GET",
            "/api/v1/providers/garmin/webhooks/url",
            Auth::Bearer(&jwt),
            None,
        )
        .await;
    assert_eq!(garmin.status, StatusCode::OK, "{:?}", garmin.body);
    let url = garmin.body["webhook_url"].as_str().unwrap_or_default();
    let secret = url
        .strip_prefix("https://ow.example.com/api/v1/providers/garmin/webhooks/")
        .unwrap_or_default();
    assert_eq!(secret.len(), 64, "{url}");
    let key = &app.state.config.secret_key;
    assert!(!url.contains(key.as_str()), "never SECRET_KEY itself");
    let strava = app
        .call(
            "GET",
            "/api/v1/providers/strava/webhooks/url",
            Auth::Bearer(&jwt),
            None,
        )
        .await;
    let strava_url = strava.body["webhook_url"].as_str().unwrap_or_default();
    assert!(!strava_url.ends_with(secret), "one secret per provider");
    // Signed providers have no secret segment; providers without webhooks are a 400.
    let polar = app
        .call(
            "GET",
            "/api/v1/providers/polar/webhooks/url",
            Auth::Bearer(&jwt),
            None,
        )
        .await;
    assert_eq!(
        polar.body["webhook_url"],
        "https://ow.example.com/api/v1/providers/polar/webhooks"
    );
    let fitbit = app
        .call(
            "GET",
            "/api/v1/providers/fitbit/webhooks/url",
            Auth::Bearer(&jwt),
            None,
        )
        .await;
    assert_eq!(fitbit.status, StatusCode::BAD_REQUEST);

    // Garmin pushes: 401 without the secret or with a wrong one, accepted with it.
    let body = r#"{"dailies":[]}"#;
    for path in [
        "/api/v1/providers/garmin/webhooks".to_string(),
        "/api/v1/garmin/webhooks/push".to_string(),
        format!("/api/v1/providers/garmin/webhooks/{}", "0".repeat(64)),
        format!("/api/v1/providers/garmin/webhooks/{key}"),
    ] {
        let r = app.call("POST", &path, Auth::None, Some(body)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}: {:?}", r.body);
    }
    let ok = app
        .call(
            "POST",
            &format!("/api/v1/providers/garmin/webhooks/{secret}"),
            Auth::None,
            Some(body),
        )
        .await;
    // Past the URL secret, Garmin's own check applies (no garmin-client-id header here).
    assert_eq!(ok.status, StatusCode::UNAUTHORIZED, "{:?}", ok.body);
    assert_eq!(ok.detail(), "Invalid webhook signature");
    // A secret segment on a signed provider's URL is not a webhook URL.
    let r = app
        .call(
            "POST",
            &format!("/api/v1/providers/polar/webhooks/{secret}"),
            Auth::None,
            Some(body),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn webhooks_of_providers_without_the_capability_are_400_with_a_detail() {
    let app = TestApp::new().await;
    for (method, provider, what) in [
        (
            "GET",
            "suunto",
            "does not support webhook verification requests",
        ),
        (
            "GET",
            "polar",
            "does not support webhook verification requests",
        ),
        (
            "POST",
            "sensorbio",
            "does not support webhook notifications",
        ),
        ("POST", "fitbit", "does not support webhook notifications"),
        (
            "GET",
            "ultrahuman",
            "does not support webhook notifications",
        ),
    ] {
        let path = format!("/api/v1/providers/{provider}/webhooks");
        let r = app.call(method, &path, Auth::None, Some("{}")).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{method} {path}: {:?}",
            r.body
        );
        assert!(
            r.detail()
                .contains(&format!("Provider '{provider}' {what}")),
            "{method} {path}: {:?}",
            r.body
        );
    }
}

//! Recorded API Gateway (HTTP API, payload v2) events fed through a function's router, the
//! way `lambda_http` hands them to the handler in AWS. Event files: `infra/events/apigw-v2/`.

mod common;

use axum::http::StatusCode;
use base64::Engine;
use common::{Auth, TestApp};
use http_body_util::BodyExt;
use serde_json::Value;
use shared::api::{Group, router_for};
use tower::ServiceExt;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Loads an event file and fills its `{{NAME}}` placeholders (inside base64 bodies too).
fn event(name: &str, vars: &[(&str, &str)]) -> String {
    let path = format!(
        "{}/../infra/events/apigw-v2/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let raw = std::fs::read_to_string(&path).expect("event file");
    let fill = |s: &str| {
        vars.iter().fold(s.to_string(), |acc, (k, v)| {
            acc.replace(&format!("{{{{{k}}}}}"), v)
        })
    };
    let mut v: Value = serde_json::from_str(&fill(&raw)).expect("event json");
    if v["isBase64Encoded"] == true
        && let Some(body) = v["body"].as_str()
    {
        let decoded = String::from_utf8(B64.decode(body).expect("b64")).expect("utf8");
        v["body"] = Value::String(B64.encode(fill(&decoded)));
    }
    v.to_string()
}

async fn invoke(app: &TestApp, group: Group, event: &str) -> (StatusCode, Value) {
    let req = lambda_http::request::from_str(event).expect("a valid API Gateway v2 event");
    let router = router_for(app.state.clone(), &[group]);
    let resp = router.oneshot(req).await.expect("infallible");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_users_function_creates_and_lists_users_from_gateway_events() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let (status, body) = invoke(
        &app,
        Group::Users,
        &event("create-user.json", &[("API_KEY", &key)]),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        (body["email"].as_str(), body["first_name"].as_str()),
        (Some("ada@example.com"), Some("Ada"))
    );
    let (status, body) = invoke(
        &app,
        Group::Users,
        &event("list-users.json", &[("API_KEY", &key)]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (body["total"].as_u64(), body["limit"].as_u64()),
        (Some(1), Some(5))
    );
    // The same event with a wrong key is refused.
    let (status, _) = invoke(
        &app,
        Group::Users,
        &event("list-users.json", &[("API_KEY", "sk-nope")]),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_auth_function_logs_in_and_exchanges_tokens_from_gateway_events() {
    let app = TestApp::new().await;
    let (status, body) = invoke(&app, Group::Auth, &event("login-form.json", &[])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "bearer");

    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    let (app_id, secret) = app.application(&token).await;
    let vars = [
        ("USER_ID", user.as_str()),
        ("APP_ID", app_id.as_str()),
        ("APP_SECRET", secret.as_str()),
    ];
    let (status, body) = invoke(
        &app,
        Group::Auth,
        &event("token-exchange-base64.json", &vars),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sdk = body["access_token"]
        .as_str()
        .expect("sdk token")
        .to_string();

    // An SDK token on a non-SDK route of the users function: 401.
    let vars = [("USER_ID", user.as_str()), ("SDK_TOKEN", sdk.as_str())];
    let (status, body) = invoke(&app, Group::Users, &event("get-user-sdk-token.json", &vars)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // A function only serves its own group: the users route is unknown to the auth function.
    let (status, _) = invoke(
        &app,
        Group::Auth,
        &event("list-users.json", &[("API_KEY", &key)]),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Same request through the local router: same answer.
    assert_eq!(
        app.call(
            "GET",
            &format!("/api/v1/users/{user}"),
            Auth::Bearer(&sdk),
            None
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
}

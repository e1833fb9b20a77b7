//! What ends a credential (issue #9 item 7): deleting an application ends its SDK refresh
//! tokens; a password change ends the developer's older refresh tokens.

mod common;

use axum::http::StatusCode;
use common::{ADMIN_EMAIL, ADMIN_PASSWORD, Auth, TestApp};
use serde_json::json;

fn refresh_body(t: &str) -> String {
    json!({ "refresh_token": t }).to_string()
}

async fn refresh(app: &TestApp, t: &str) -> common::Resp {
    app.call(
        "POST",
        "/api/v1/token/refresh",
        Auth::None,
        Some(&refresh_body(t)),
    )
    .await
}

fn rt(r: &common::Resp) -> String {
    r.body["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_string()
}

#[tokio::test]
async fn deleting_an_application_revokes_its_sdk_refresh_tokens() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    let doomed = app.application(&token).await;
    let kept = app.application(&token).await;
    let doomed_rt = rt(&app.sdk_tokens(&user, &doomed).await);
    let kept_rt = rt(&app.sdk_tokens(&user, &kept).await);
    // Both work, and keep working through rotation.
    let doomed_rt = rt(&refresh(&app, &doomed_rt).await);

    let r = app
        .call(
            "DELETE",
            &format!("/api/v1/applications/{}", doomed.0),
            Auth::Bearer(&token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let gone = refresh(&app, &doomed_rt).await;
    assert_eq!(
        (gone.status, gone.detail()),
        (StatusCode::UNAUTHORIZED, "Invalid or revoked refresh token")
    );
    let other = refresh(&app, &kept_rt).await;
    assert_eq!(other.status, StatusCode::OK, "{:?}", other.body);
}

#[tokio::test]
async fn a_password_change_revokes_older_developer_refresh_tokens() {
    let app = TestApp::new().await;
    let first = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let second = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let access = first.body["access_token"]
        .as_str()
        .expect("jwt")
        .to_string();
    let (old_a, old_b) = (rt(&first), rt(&second));
    // Refreshing works before the change (and a rotated token is as old as its parent).
    let old_b = rt(&refresh(&app, &old_b).await);

    let r = app
        .call(
            "POST",
            "/api/v1/auth/change-password",
            Auth::Bearer(&access),
            Some(
                &json!({"current_password": ADMIN_PASSWORD, "new_password": "brand-new-pass",
                        "confirm_password": "brand-new-pass"})
                .to_string(),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    for old in [&old_a, &old_b] {
        let r = refresh(&app, old).await;
        assert_eq!(
            (r.status, r.detail()),
            (StatusCode::UNAUTHORIZED, "Invalid or revoked refresh token")
        );
    }
    // A login after the change gets a refresh token that works, and keeps working.
    let fresh = app.login(ADMIN_EMAIL, "brand-new-pass").await;
    assert_eq!(fresh.status, StatusCode::OK);
    let next = refresh(&app, &rt(&fresh)).await;
    assert_eq!(next.status, StatusCode::OK, "{:?}", next.body);
    assert_eq!(refresh(&app, &rt(&next)).await.status, StatusCode::OK);

    // A password set through the profile route revokes as well.
    let jwt = fresh.body["access_token"]
        .as_str()
        .expect("jwt")
        .to_string();
    let before = rt(&app.login(ADMIN_EMAIL, "brand-new-pass").await);
    let r = app
        .call(
            "PATCH",
            "/api/v1/auth/me",
            Auth::Bearer(&jwt),
            Some(r#"{"password": "third-password"}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        refresh(&app, &before).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn deleting_the_issuing_developer_revokes_admin_issued_sdk_tokens() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    let now = app.state.now();
    let second = shared::repo::developers::Developer {
        id: uuid::Uuid::new_v4(),
        email: "second@example.com".into(),
        first_name: None,
        last_name: None,
        password_hash: "unused".into(),
        created_at: now,
        updated_at: now,
    };
    app.state
        .db
        .create_developer(&second)
        .await
        .expect("developer");
    let second_id = second.id.to_string();
    let second_jwt = app.state.signer.developer(&second_id, now).expect("jwt");
    let sdk = app
        .call(
            "POST",
            &format!("/api/v1/users/{user}/token"),
            Auth::Bearer(&second_jwt),
            None,
        )
        .await;
    assert_eq!(sdk.status, StatusCode::OK, "{:?}", sdk.body);
    let sdk_rt = rt(&refresh(&app, &rt(&sdk)).await);
    let r = app
        .call(
            "DELETE",
            &format!("/api/v1/developers/{second_id}"),
            Auth::Bearer(&token),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    assert_eq!(
        refresh(&app, &sdk_rt).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn rotating_an_application_secret_ends_the_refresh_tokens_issued_under_the_old_one() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    let ios = app.application(&token).await;
    // Issued under the old secret, rotated once before the secret changes.
    let old_rt = rt(&refresh(&app, &rt(&app.sdk_tokens(&user, &ios).await)).await);
    let r = app
        .call(
            "POST",
            &format!("/api/v1/applications/{}/rotate-secret", ios.0),
            Auth::Bearer(&token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let new_secret = r.body["app_secret"]
        .as_str()
        .expect("new secret")
        .to_string();
    assert_eq!(
        refresh(&app, &old_rt).await.status,
        StatusCode::UNAUTHORIZED,
        "a token minted with a leaked secret does not outlive its rotation"
    );
    // Tokens from the new secret work, through rotation too.
    let fresh = rt(&app.sdk_tokens(&user, &(ios.0.clone(), new_secret)).await);
    let next = refresh(&app, &fresh).await;
    assert_eq!(next.status, StatusCode::OK, "{:?}", next.body);
    assert_eq!(refresh(&app, &rt(&next)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_password_change_ends_the_sdk_tokens_that_developer_issued() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    let sdk = app
        .call(
            "POST",
            &format!("/api/v1/users/{user}/token"),
            Auth::Bearer(&token),
            None,
        )
        .await;
    assert_eq!(sdk.status, StatusCode::OK, "{:?}", sdk.body);
    let sdk_rt = rt(&refresh(&app, &rt(&sdk)).await);
    let body = json!({"current_password": ADMIN_PASSWORD, "new_password": "another-password-1",
                      "confirm_password": "another-password-1"});
    let r = app
        .call(
            "POST",
            "/api/v1/auth/change-password",
            Auth::Bearer(&token),
            Some(&body.to_string()),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    assert_eq!(
        refresh(&app, &sdk_rt).await.status,
        StatusCode::UNAUTHORIZED
    );
}

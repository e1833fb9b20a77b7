//! Developer invitations (api.md #13–#17) over real HTTP on both table adapters: create →
//! list → resend (the old token stops working) → accept creates a developer who can log in;
//! revoke, duplicate, expiry and validation errors with the reference's texts; tokens are
//! not stored in the clear.

use ow_e2e::{ADMIN_EMAIL, Server, Storage};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::store::{Index, Query, query_all};

async fn login_as(s: &Server, email: &str, password: &str) -> reqwest::Response {
    s.http
        .post(s.url("/api/v1/auth/login"))
        .form(&[("username", email), ("password", password)])
        .send()
        .await
        .expect("login")
}

async fn call(
    s: &Server,
    jwt: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = s.http.request(
        method.parse().expect("method"),
        s.url(&format!("/api/v1{path}")),
    );
    if let Some(j) = jwt {
        req = req.bearer_auth(j);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("send");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn accept_body(token: &str) -> Value {
    json!({"token": token, "first_name": "Grace", "last_name": "Hopper", "password": "cobol-rules-1959"})
}

async fn invitation_flow(storage: Storage) {
    let s = Server::start(storage).await;
    let jwt = s.login().await;
    let (st, _) = call(&s, None, "GET", "/invitations", None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = call(
        &s,
        None,
        "POST",
        "/invitations",
        Some(json!({"email": "g@example.com"})),
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);

    // Create: 201 InvitationRead with a 43-character token.
    let (st, inv) = call(
        &s,
        Some(&jwt),
        "POST",
        "/invitations",
        Some(json!({"email": "g@example.com"})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{inv}");
    assert_eq!(inv["status"], "pending");
    assert_eq!(inv["email"], "g@example.com");
    let token = inv["token"].as_str().expect("token").to_string();
    assert_eq!(token.len(), 43);
    assert!(inv["invited_by_id"].is_string());
    let keys: Vec<&str> = inv
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "created_at",
            "email",
            "expires_at",
            "id",
            "invited_by_id",
            "status",
            "token"
        ]
    );
    let id = inv["id"].as_str().expect("id").to_string();

    // The table holds no plaintext token.
    let all = query_all(
        s.state.db.table.as_ref(),
        Query::partition(Index::Primary, "INVITE"),
    )
    .await
    .expect("query");
    assert_eq!(all.len(), 1);
    assert!(!String::from_utf8_lossy(&all[0].data).contains(&token));

    // Duplicates and bad input.
    let (st, e) = call(
        &s,
        Some(&jwt),
        "POST",
        "/invitations",
        Some(json!({"email": "g@example.com"})),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(
        e["detail"],
        "A pending invitation already exists for this email"
    );
    let (st, e) = call(
        &s,
        Some(&jwt),
        "POST",
        "/invitations",
        Some(json!({"email": ADMIN_EMAIL})),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(e["detail"], "A developer with this email already exists");
    let (st, _) = call(
        &s,
        Some(&jwt),
        "POST",
        "/invitations",
        Some(json!({"email": "nope"})),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    // List shows it; resend issues a new token and the old one stops working.
    let (st, list) = call(&s, Some(&jwt), "GET", "/invitations", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["token"], token.as_str());
    let (st, re) = call(
        &s,
        Some(&jwt),
        "POST",
        &format!("/invitations/{id}/resend"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let token2 = re["token"].as_str().expect("token").to_string();
    assert_ne!(token2, token);
    let (st, e) = call(
        &s,
        None,
        "POST",
        "/invitations/accept",
        Some(accept_body(&token)),
    )
    .await;
    assert_eq!(
        (st, e["detail"].as_str()),
        (StatusCode::NOT_FOUND, Some("Invitation not found"))
    );

    // Validation of the accept body.
    let mut short = accept_body(&token2);
    short["password"] = json!("short");
    let (st, _) = call(&s, None, "POST", "/invitations/accept", Some(short)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let mut empty = accept_body(&token2);
    empty["first_name"] = json!("");
    let (st, _) = call(&s, None, "POST", "/invitations/accept", Some(empty)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    // Accept: 201 DeveloperRead, the new developer logs in, the invitation is used up.
    let (st, dev) = call(
        &s,
        None,
        "POST",
        "/invitations/accept",
        Some(accept_body(&token2)),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{dev}");
    assert_eq!(dev["email"], "g@example.com");
    assert_eq!(dev["first_name"], "Grace");
    assert_eq!(
        login_as(&s, "g@example.com", "cobol-rules-1959")
            .await
            .status(),
        StatusCode::OK
    );
    let (st, e) = call(
        &s,
        None,
        "POST",
        "/invitations/accept",
        Some(accept_body(&token2)),
    )
    .await;
    assert_eq!(
        (st, e["detail"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Invitation is accepted"))
    );
    let (_, list) = call(&s, Some(&jwt), "GET", "/invitations", None).await;
    assert_eq!(list, json!([]));

    // An invitation Grace sends keeps existing after Grace is deleted, without its sender.
    let grace: Value = login_as(&s, "g@example.com", "cobol-rules-1959")
        .await
        .json()
        .await
        .expect("json");
    let grace_jwt = grace["access_token"].as_str().expect("token").to_string();
    let (st, sent) = call(
        &s,
        Some(&grace_jwt),
        "POST",
        "/invitations",
        Some(json!({"email": "k@example.com"})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(sent["invited_by_id"], dev["id"]);
    let (st, _) = call(
        &s,
        Some(&jwt),
        "DELETE",
        &format!("/developers/{}", dev["id"].as_str().expect("id")),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (_, list) = call(&s, Some(&jwt), "GET", "/invitations", None).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["email"], "k@example.com");
    assert_eq!(list[0]["invited_by_id"], Value::Null);
    let (st, _) = call(
        &s,
        Some(&jwt),
        "DELETE",
        &format!("/invitations/{}", sent["id"].as_str().expect("id")),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (st, e) = call(
        &s,
        Some(&jwt),
        "DELETE",
        &format!("/invitations/{id}"),
        None,
    )
    .await;
    assert_eq!(
        (st, e["detail"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some("Cannot revoke invitation with status: accepted")
        )
    );

    // Revoke: 200 with status revoked; the e-mail can be invited again.
    let (_, inv) = call(
        &s,
        Some(&jwt),
        "POST",
        "/invitations",
        Some(json!({"email": "h@example.com"})),
    )
    .await;
    let id2 = inv["id"].as_str().expect("id").to_string();
    let (st, rev) = call(
        &s,
        Some(&jwt),
        "DELETE",
        &format!("/invitations/{id2}"),
        None,
    )
    .await;
    assert_eq!(
        (st, rev["status"].as_str()),
        (StatusCode::OK, Some("revoked"))
    );
    let (st, e) = call(
        &s,
        None,
        "POST",
        "/invitations/accept",
        Some(accept_body(inv["token"].as_str().expect("t"))),
    )
    .await;
    assert_eq!(
        (st, e["detail"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Invitation is revoked"))
    );
    let (st, e) = call(
        &s,
        Some(&jwt),
        "POST",
        &format!("/invitations/{id2}/resend"),
        None,
    )
    .await;
    assert_eq!(
        (st, e["detail"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some("Cannot resend invitation with status: revoked")
        )
    );
    let (st, _) = call(
        &s,
        Some(&jwt),
        "POST",
        "/invitations",
        Some(json!({"email": "h@example.com"})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let missing = uuid::Uuid::new_v4();
    let (st, e) = call(
        &s,
        Some(&jwt),
        "DELETE",
        &format!("/invitations/{missing}"),
        None,
    )
    .await;
    assert_eq!(
        (st, e["detail"].as_str()),
        (StatusCode::NOT_FOUND, Some("Invitation not found"))
    );
}

#[tokio::test]
async fn invitations_embedded() {
    invitation_flow(Storage::Embedded).await;
}

#[tokio::test]
async fn invitations_dynamodb() {
    invitation_flow(Storage::Dynamo).await;
}

#[tokio::test]
async fn an_expired_invitation_is_refused_and_marked_expired() {
    let s = Server::start_with(Storage::Embedded, &[("INVITATION_EXPIRE_DAYS", "0")]).await;
    let jwt = s.login().await;
    let (st, inv) = call(
        &s,
        Some(&jwt),
        "POST",
        "/invitations",
        Some(json!({"email": "late@example.com"})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let token = inv["token"].as_str().expect("token");
    let (st, e) = call(
        &s,
        None,
        "POST",
        "/invitations/accept",
        Some(accept_body(token)),
    )
    .await;
    assert_eq!(
        (st, e["detail"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Invitation has expired"))
    );
    let (st, e) = call(
        &s,
        None,
        "POST",
        "/invitations/accept",
        Some(accept_body(token)),
    )
    .await;
    assert_eq!(
        (st, e["detail"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Invitation is expired"))
    );
    assert_eq!(
        login_as(&s, "late@example.com", "cobol-rules-1959")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

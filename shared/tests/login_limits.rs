//! Failed-login limits (issue #9 item 4): per account, per client address, bounded state.

mod common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use common::{ADMIN_EMAIL, ADMIN_PASSWORD, Resp, TestApp};

async fn login_from(app: &TestApp, peer: &str, email: &str, password: &str) -> Resp {
    let form =
        serde_urlencoded::to_string([("username", email), ("password", password)]).expect("form");
    let mut req = Request::builder()
        .method("POST")
        .uri("/api/v1/auth/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .expect("request");
    let addr: SocketAddr = peer.parse().expect("addr");
    req.extensions_mut().insert(ConnectInfo(addr));
    app.send(req).await
}

fn retry_after(r: &Resp) -> u64 {
    r.headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn bad_logins_for_an_account_end_in_429_while_other_accounts_log_in() {
    let app = TestApp::new().await;
    let peer = "192.0.2.7:5000";
    for _ in 0..10 {
        let r = login_from(&app, peer, ADMIN_EMAIL, "wrong-password").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
    }
    // Locked: even the right password is refused, so guessing learns nothing.
    let r = login_from(&app, peer, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    assert!(
        r.detail().starts_with("Too many failed login attempts"),
        "{}",
        r.detail()
    );
    assert_eq!(retry_after(&r), 900);
    let r = login_from(&app, peer, "ADMIN@example.com", "x").await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "emails are case-blind"
    );

    // Another account from another address is not affected; nor is an unknown one.
    let r = login_from(&app, "192.0.2.8:5000", "nobody@example.com", "x").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // After the window the account logs in again.
    app.clock.advance(chrono::Duration::seconds(901));
    let r = login_from(&app, peer, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

#[tokio::test]
async fn one_address_trying_many_accounts_is_stopped_but_others_still_log_in() {
    let app = TestApp::with_settings(&[("OW_LOGIN_MAX_FAILURES_PER_ADDRESS", "5")]).await;
    let attacker = "198.51.100.1:4000";
    for i in 0..5 {
        let r = login_from(&app, attacker, &format!("guess{i}@example.com"), "x").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = login_from(&app, attacker, "guess99@example.com", "x").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    assert!(retry_after(&r) > 0);
    let r = login_from(&app, attacker, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);

    let r = login_from(&app, "203.0.113.9:4000", ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

#[tokio::test]
async fn the_limiter_stays_bounded_under_random_emails_and_addresses() {
    let app = TestApp::with_settings(&[("OW_LOGIN_LIMITER_ENTRIES", "16")]).await;
    for i in 0..64u32 {
        let [a, b, c, d] = i.to_be_bytes();
        let peer = format!("{}.{}.{}.{}:1", a.wrapping_add(10), b, c, d);
        let r = login_from(&app, &peer, &format!("r{i}@example.com"), "x").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let (accounts, addresses) = app.state.login_limiter.tracked();
    assert!(accounts <= 16 && addresses <= 16, "{accounts} {addresses}");
}

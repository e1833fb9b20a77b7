//! Helpers for route tests: an app over a temporary embedded table, and request shorthands.

#![allow(dead_code)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use shared::api::{self, State};
use shared::clock::{Clock, ManualClock};
use shared::config::Config;
use shared::store::Table;
use shared::store::embedded::EmbeddedTable;
use tower::ServiceExt;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "admin-password";

/// An app over a fresh embedded table, with a controllable clock.
pub struct TestApp {
    pub state: State,
    pub router: Router,
    pub clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

/// A response, decoded.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
    pub raw: Vec<u8>,
}

impl Resp {
    pub fn detail(&self) -> &str {
        self.body["detail"].as_str().unwrap_or("<no detail>")
    }
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_settings(&[]).await
    }

    /// An app whose configuration has extra settings.
    pub async fn with_settings(extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Config::for_tests_with(dir.path(), extra);
        let table: Arc<dyn Table> =
            Arc::new(EmbeddedTable::open(&dir.path().join("t.redb")).expect("open"));
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let state = shared::bootstrap::state_with(table, config, clock.clone() as Arc<dyn Clock>)
            .await
            .expect("state");
        let router = api::app(state.clone());
        Self {
            state,
            router,
            clock,
            _dir: dir,
        }
    }

    pub async fn send(&self, req: Request<Body>) -> Resp {
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = resp
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            raw,
        }
    }

    /// A request with optional auth (`Bearer` token or API key) and a raw body.
    pub async fn call(&self, method: &str, path: &str, auth: Auth<'_>, body: Option<&str>) -> Resp {
        let mut b = Request::builder().method(method).uri(path);
        b = match auth {
            Auth::None => b,
            Auth::Bearer(t) => b.header("authorization", format!("Bearer {t}")),
            Auth::Key(k) => b.header("x-open-wearables-api-key", k),
        };
        let body = match body {
            Some(s) => {
                b = b.header("content-type", "application/json");
                Body::from(s.to_string())
            }
            None => Body::empty(),
        };
        self.send(b.body(body).expect("request")).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Resp {
        let form = serde_urlencoded::to_string([("username", email), ("password", password)])
            .expect("form");
        let req = Request::builder()
            .method("POST")
            .uri("/api/v1/auth/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .expect("request");
        self.send(req).await
    }

    /// The seeded admin's access token.
    pub async fn admin_token(&self) -> String {
        let r = self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body["access_token"].as_str().expect("token").to_string()
    }

    /// A new full API key.
    pub async fn api_key(&self, token: &str) -> String {
        let r = self
            .call(
                "POST",
                "/api/v1/developer/api-keys",
                Auth::Bearer(token),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body["id"].as_str().expect("key").to_string()
    }

    /// A new user's id.
    pub async fn user(&self, key: &str, body: &str) -> String {
        let r = self
            .call("POST", "/api/v1/users", Auth::Key(key), Some(body))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body["id"].as_str().expect("id").to_string()
    }

    /// `(app_id, app_secret)` of a new application.
    pub async fn application(&self, token: &str) -> (String, String) {
        let r = self
            .call(
                "POST",
                "/api/v1/applications",
                Auth::Bearer(token),
                Some(r#"{"name":"ios"}"#),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        (
            r.body["app_id"].as_str().expect("app_id").into(),
            r.body["app_secret"].as_str().expect("secret").into(),
        )
    }

    /// An SDK token response for a user via app credentials.
    pub async fn sdk_tokens(&self, user: &str, app: &(String, String)) -> Resp {
        let body = serde_json::json!({"app_id": app.0, "app_secret": app.1}).to_string();
        self.call(
            "POST",
            &format!("/api/v1/users/{user}/token"),
            Auth::None,
            Some(&body),
        )
        .await
    }
}

/// How a request authenticates.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    None,
    Bearer(&'a str),
    Key(&'a str),
}

/// Decodes a JWT's claims without verifying (test inspection only).
pub fn claims(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).expect("payload");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("b64");
    serde_json::from_slice(&raw).expect("json")
}

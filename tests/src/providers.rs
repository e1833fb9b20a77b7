//! The rig of the per-provider end-to-end tests: our app on a real port (embedded storage,
//! in-process jobs, a manual clock) configured against a provider fake on another real port,
//! spoken to over HTTP exactly as a backend and a browser would.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use ow_fakes::{FakeOptions, RunningFake};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::clock::{Clock, ManualClock};
use shared::config::Config;
use shared::store::Table;
use shared::store::embedded::EmbeddedTable;

use crate::{ADMIN_EMAIL, ADMIN_PASSWORD};

/// The API key header.
pub const KEY_HEADER: &str = "X-Open-Wearables-API-Key";

/// Our app plus one provider fake.
pub struct Rig {
    pub provider: &'static str,
    /// Our API's origin, e.g. `http://127.0.0.1:41234`.
    pub api: String,
    pub fake: RunningFake,
    pub state: shared::api::State,
    pub clock: Arc<ManualClock>,
    /// A client that does not follow redirects (the browser steps are explicit).
    pub http: reqwest::Client,
    pub key: String,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// A response, decoded.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: Value,
}

impl Rig {
    /// The fake's dataset starts on 2024-06-01; our clock reads 2024-06-10T12:00:00Z.
    pub async fn start(provider: &'static str) -> Self {
        Self::start_with(provider, FakeOptions::default(), &[]).await
    }

    /// With fake options and extra settings of ours (e.g. webhook secrets).
    pub async fn start_with(
        provider: &'static str,
        opts: FakeOptions,
        extra: &[(&str, &str)],
    ) -> Self {
        Self::start_on(crate::Storage::Embedded, provider, opts, extra).await
    }

    /// The same on a chosen table adapter (DynamoDB: the emulator of `infra/test.sh`).
    pub async fn start_on(
        storage: crate::Storage,
        provider: &'static str,
        opts: FakeOptions,
        extra: &[(&str, &str)],
    ) -> Self {
        let anchor = opts.anchor;
        let fake = ow_fakes::start(provider, opts.clone())
            .await
            .expect("start the fake");
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let api = format!("http://{}", listener.local_addr().expect("addr"));
        let up = provider.to_uppercase();
        let mut settings: Vec<(String, String)> = vec![
            (format!("{up}_CLIENT_ID"), opts.client_id.clone()),
            (format!("{up}_CLIENT_SECRET"), opts.client_secret.clone()),
            (format!("{up}_BASE_URL"), fake.base_url.clone()),
            ("API_BASE_URL".into(), api.clone()),
            ("PROVIDER_HTTP_TIMEOUT_SECONDS".into(), "2".into()),
        ];
        settings.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let pairs: Vec<(&str, &str)> = settings
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let config = Config::for_tests_with(dir.path(), &pairs);
        let table: Arc<dyn Table> = match storage {
            crate::Storage::Embedded => {
                Arc::new(EmbeddedTable::open(&dir.path().join("t.redb")).expect("open"))
            }
            crate::Storage::Dynamo => {
                let t = shared::store::dynamo::DynamoTable::for_endpoint(
                    &crate::dynamodb_url(),
                    format!("providers-{}", uuid::Uuid::new_v4()),
                );
                t.ensure_table().await.expect("create table");
                Arc::new(t)
            }
        };
        let now = anchor
            .and_hms_opt(12, 0, 0)
            .map(|t| t.and_utc() + Duration::days(9))
            .expect("time");
        let clock = Arc::new(ManualClock::new(now));
        let state = shared::bootstrap::state_with(table, config, clock.clone() as Arc<dyn Clock>)
            .await
            .expect("state");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(shared::server::serve(listener, state.clone(), async {
            let _ = rx.await;
        }));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let mut rig = Self {
            provider,
            api,
            fake,
            state,
            clock,
            http,
            key: String::new(),
            _dir: dir,
            stop: Some(tx),
        };
        rig.key = rig.api_key().await;
        rig
    }

    /// Our clock's now.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    async fn api_key(&self) -> String {
        let jwt = self.developer_token().await;
        let key = self
            .http
            .post(self.url("/api/v1/developer/api-keys"))
            .bearer_auth(&jwt)
            .json(&json!({"name": "provider-e2e"}))
            .send()
            .await
            .expect("key");
        key.json::<Value>().await.expect("json")["id"]
            .as_str()
            .expect("key id")
            .to_string()
    }

    async fn answer(resp: reqwest::Response) -> Answer {
        let status = resp.status();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let raw = resp.bytes().await.unwrap_or_default();
        Answer {
            status,
            location,
            body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
        }
    }

    /// `method path` on our API with the API key (`path` starts with `/api/v1`).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let mut req = self
            .http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                self.url(path),
            )
            .header(KEY_HEADER, &self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        Self::answer(req.send().await.expect("request")).await
    }

    /// A developer's bearer token (the admin's).
    pub async fn developer_token(&self) -> String {
        let login = self
            .http
            .post(self.url("/api/v1/auth/login"))
            .form(&[("username", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
            .send()
            .await
            .expect("login");
        login.json::<Value>().await.expect("json")["access_token"]
            .as_str()
            .expect("jwt")
            .to_string()
    }

    /// `method path` on our API as a developer (bearer token).
    pub async fn dev_call(&self, jwt: &str, method: &str, path: &str) -> Answer {
        let req = self
            .http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                self.url(path),
            )
            .bearer_auth(jwt);
        Self::answer(req.send().await.expect("request")).await
    }

    /// `GET /api/v1/users/{user}/{rest}`, body only (asserting 200).
    pub async fn user_get(&self, user: &str, rest: &str) -> Value {
        let a = self
            .call("GET", &format!("/api/v1/users/{user}/{rest}"), None)
            .await;
        assert_eq!(a.status, StatusCode::OK, "GET {rest}: {}", a.body);
        a.body
    }

    /// A new user of our API.
    pub async fn new_user(&self) -> String {
        let a = self.call("POST", "/api/v1/users", Some(json!({}))).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        a.body["id"].as_str().expect("user id").to_string()
    }

    /// The browser's round trip: our authorize URL → the fake's consent → our callback.
    /// Answers our callback's response (303 to the success or error page).
    pub async fn consent(&self, user: &str) -> Answer {
        let a = self
            .call(
                "GET",
                &format!("/api/v1/oauth/{}/authorize?user_id={user}", self.provider),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "authorize: {}", a.body);
        let url = a.body["authorization_url"]
            .as_str()
            .expect("authorization_url");
        assert!(
            url.starts_with(&self.fake.base_url),
            "the authorize URL points at the fake: {url}"
        );
        let at_fake = self.http.get(url).send().await.expect("consent");
        assert!(
            at_fake.status().is_redirection(),
            "the fake redirects back: {}",
            at_fake.status()
        );
        let back = at_fake
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("location")
            .to_string();
        assert!(back.starts_with(&self.api), "back to our callback: {back}");
        Self::answer(self.http.get(back).send().await.expect("callback")).await
    }

    /// A new user connected to the provider; the backfill it queued has run.
    pub async fn connected_user(&self) -> String {
        let user = self.new_user().await;
        let cb = self.consent(&user).await;
        assert_eq!(cb.status, StatusCode::SEE_OTHER, "{cb:?}");
        let loc = cb.location.unwrap_or_default();
        assert!(
            loc.contains("/api/v1/oauth/success"),
            "the callback lands on the success page: {loc}"
        );
        self.idle().await;
        user
    }

    /// Waits until every queued job (backfill windows, roll-ups) has run.
    pub async fn idle(&self) {
        self.state.jobs_idle().await;
    }

    /// The user's connection to this rig's provider, as the API lists it.
    pub async fn connection(&self, user: &str) -> Value {
        let all = self.user_get(user, "connections").await;
        all.as_array()
            .and_then(|a| a.iter().find(|c| c["provider"] == self.provider).cloned())
            .unwrap_or(Value::Null)
    }

    /// The webhook URL the provider must call, as our developer route answers it (Strava and
    /// Garmin: with this installation's URL secret).
    pub async fn webhook_url(&self) -> String {
        let jwt = self.developer_token().await;
        let a = self
            .dev_call(
                &jwt,
                "GET",
                &format!("/api/v1/providers/{}/webhooks/url", self.provider),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "webhook url: {}", a.body);
        a.body["webhook_url"]
            .as_str()
            .expect("webhook_url")
            .to_string()
    }

    /// The fake sends a webhook of `kind` to our API (Strava and Garmin: to the URL with our
    /// secret, unless the fake has a registered one); then the jobs it queued run.
    pub async fn webhook(&self, kind: &str) -> u16 {
        let target = if shared::keys::needs_url_secret(self.provider) {
            self.webhook_url().await
        } else {
            self.api.clone()
        };
        let status = self
            .fake
            .fake
            .send_webhook(&target, kind)
            .await
            .expect("webhook sent");
        self.idle().await;
        status
    }

    /// Posts a raw webhook to our canonical endpoint (for signature tests; Strava and Garmin:
    /// the URL with our secret).
    pub async fn post_webhook(&self, headers: &[(&str, &str)], body: &str) -> Answer {
        let url = if shared::keys::needs_url_secret(self.provider) {
            self.webhook_url().await
        } else {
            self.url(&format!("/api/v1/providers/{}/webhooks", self.provider))
        };
        self.post_webhook_to(&url, headers, body).await
    }

    /// Posts a raw webhook to `url` (a full URL).
    pub async fn post_webhook_to(&self, url: &str, headers: &[(&str, &str)], body: &str) -> Answer {
        let mut req = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::answer(req.send().await.expect("webhook")).await
    }

    /// Asserts that nothing the fake ever received (URIs, headers, bodies) carries our
    /// `SECRET_KEY` or a trivial encoding of it: hex, base64 (standard and URL-safe, padded
    /// or not), percent-encoded, its SHA-256, or any 12-character piece of it. Answers how
    /// many requests were checked.
    pub fn assert_secret_key_never_sent(&self) -> usize {
        use base64::Engine;
        let key = self.state.config.secret_key.clone();
        let b = base64::engine::general_purpose::STANDARD;
        let u = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let hex: String = key.bytes().map(|c| format!("{c:02x}")).collect();
        let mut needles = vec![
            hex.clone(),
            hex.to_uppercase(),
            b.encode(&key),
            b.encode(&key).trim_end_matches('=').to_string(),
            u.encode(&key),
            key.replace('-', "%2D"),
            shared::keys::secrets::digest(&key),
        ];
        let chars: Vec<char> = key.chars().collect();
        needles.extend(chars.windows(12).map(|w| w.iter().collect::<String>()));
        let requests = self.fake.fake.with(|s| s.requests.clone());
        for r in &requests {
            let text = r.text();
            let lower = text.to_lowercase();
            for n in &needles {
                assert!(
                    !text.contains(n.as_str()) && !lower.contains(&n.to_lowercase()),
                    "SECRET_KEY (as {n:?}) left the process in: {text}"
                );
            }
        }
        requests.len()
    }

    /// Items of a listing route (`events/workouts?...`), asserting 200.
    pub async fn data(&self, user: &str, rest: &str) -> Vec<Value> {
        self.user_get(user, rest).await["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The generic revocation check: the user revoked access at the provider, so the first
    /// pull is refused, the refresh grant is refused, and the connection becomes `revoked`.
    pub async fn assert_a_revoked_grant_marks_the_connection_revoked(&self) {
        let user = self.new_user().await;
        self.fake.fake.revoke();
        let cb = self.consent(&user).await;
        assert_eq!(cb.status, StatusCode::SEE_OTHER);
        self.idle().await;
        let c = self.connection(&user).await;
        assert_eq!(c["status"], "revoked", "{c}");
        assert!(c["last_synced_at"].is_null(), "nothing synced: {c}");
    }

    /// Faults on the first data calls (429, then 503): the windows are retried and every
    /// one of them syncs in the end. Answers the connected user.
    pub async fn connect_through_faults(&self) -> String {
        self.fake.fake.throttle(2);
        self.fake.fake.fail(1);
        let user = self.connected_user().await;
        let c = self.connection(&user).await;
        assert_eq!(c["status"], "active", "{c}");
        assert!(
            !c["last_synced_at"].is_null(),
            "the windows synced after the faults: {c}"
        );
        user
    }
}

//! Black-box test harness: starts the whole app on a free loopback port, over either table
//! adapter, and hands out an HTTP client; `lambda` runs the function binaries under a Lambda
//! runtime API emulator.

pub mod import;
pub mod lambda;
pub mod providers;
pub mod webdriver;

use std::sync::Arc;

use shared::clock::SystemClock;
use shared::config::Config;
use shared::store::Table;
use shared::store::dynamo::DynamoTable;
use shared::store::embedded::EmbeddedTable;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "admin-password";

/// The DynamoDB emulator started by `infra/test.sh` (`OW_TEST_DYNAMODB_URL`).
pub fn dynamodb_url() -> String {
    std::env::var("OW_TEST_DYNAMODB_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("OW_TEST_DYNAMODB_URL is not set: run the suite with infra/test.sh")
}

/// Which table adapter the app runs on.
#[derive(Debug, Clone, Copy)]
pub enum Storage {
    Embedded,
    /// DynamoDB through the emulator at `OW_TEST_DYNAMODB_URL` (see `infra/test.sh`).
    Dynamo,
}

/// A running app.
pub struct Server {
    pub base: String,
    pub http: reqwest::Client,
    /// The app's state (e.g. to wait for its in-process jobs).
    pub state: shared::api::State,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

impl Server {
    pub async fn start(storage: Storage) -> Self {
        Self::start_with(storage, &[]).await
    }

    /// The app with extra settings (e.g. `CORS_ORIGINS`) over the test configuration.
    pub async fn start_with(storage: Storage, extra: &[(&str, &str)]) -> Self {
        Self::start_configured(storage, extra, |_| {}).await
    }

    /// [`Self::start_with`], then `edit` on the configuration: for the settings only a test
    /// may change, which no environment variable sets (e.g. `S3Settings::sns_test_origin`).
    pub async fn start_configured(
        storage: Storage,
        extra: &[(&str, &str)],
        edit: impl FnOnce(&mut Config),
    ) -> Self {
        let table: Arc<dyn Table> = match storage {
            Storage::Embedded => {
                let dir = tempfile::tempdir().expect("temp dir");
                let table =
                    Arc::new(EmbeddedTable::open(&dir.path().join("t.redb")).expect("open"));
                return Self::launch(table, dir, None, extra, edit).await;
            }
            Storage::Dynamo => {
                let t = DynamoTable::for_endpoint(
                    &dynamodb_url(),
                    format!("e2e-{}", uuid::Uuid::new_v4()),
                );
                t.ensure_table().await.expect("create table");
                Arc::new(t)
            }
        };
        Self::launch(
            table,
            tempfile::tempdir().expect("temp dir"),
            None,
            extra,
            edit,
        )
        .await
    }

    /// The app over a given table (data directory `dir`, kept as long as the server), with
    /// the in-process job queue.
    pub async fn start_on(table: Arc<dyn Table>, dir: tempfile::TempDir) -> Self {
        Self::start_with_queue(table, dir, None).await
    }

    /// The app over a given table and, if given, a remote job queue instead of the in-process
    /// one (as the deployed functions run).
    pub async fn start_with_queue(
        table: Arc<dyn Table>,
        dir: tempfile::TempDir,
        queue: Option<Arc<dyn shared::jobs::JobQueue>>,
    ) -> Self {
        Self::launch(table, dir, queue, &[], |_| {}).await
    }

    async fn launch(
        table: Arc<dyn Table>,
        dir: tempfile::TempDir,
        queue: Option<Arc<dyn shared::jobs::JobQueue>>,
        extra: &[(&str, &str)],
        edit: impl FnOnce(&mut Config),
    ) -> Self {
        let mut config = Config::for_tests_with(dir.path(), extra);
        edit(&mut config);
        let clock = Arc::new(SystemClock);
        let state = match queue {
            Some(q) => shared::bootstrap::state_with_queue(table, config, clock, q).await,
            None => shared::bootstrap::state_with(table, config, clock).await,
        }
        .expect("state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(shared::server::serve(listener, state.clone(), async {
            let _ = rx.await;
        }));
        Self {
            base,
            http: reqwest::Client::new(),
            state,
            _dir: dir,
            stop: Some(tx),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Logs in as the seeded first developer (`ADMIN_EMAIL`); the access token. Panics unless
    /// the login answers 200.
    pub async fn login(&self) -> String {
        let r = self
            .http
            .post(self.url("/api/v1/auth/login"))
            .form(&[("username", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), reqwest::StatusCode::OK, "login");
        let v: serde_json::Value = r.json().await.expect("login json");
        v["access_token"].as_str().expect("jwt").to_string()
    }

    /// A new API key under the developer token `jwt`: its full value (`id`).
    pub async fn api_key(&self, jwt: &str) -> String {
        let r = self
            .http
            .post(self.url("/api/v1/developer/api-keys"))
            .bearer_auth(jwt)
            .json(&serde_json::json!({"name": "backend"}))
            .send()
            .await
            .expect("api key");
        assert_eq!(r.status(), reqwest::StatusCode::CREATED, "api key");
        let v: serde_json::Value = r.json().await.expect("api key json");
        v["id"].as_str().expect("key").to_string()
    }

    /// A new user (empty body) created with an API key; its id.
    pub async fn new_user(&self, key: &str) -> String {
        let u: serde_json::Value = self
            .http
            .post(self.url("/api/v1/users"))
            .header("X-Open-Wearables-API-Key", key)
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("user")
            .json()
            .await
            .expect("json");
        u["id"].as_str().expect("id").to_string()
    }
}

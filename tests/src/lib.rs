//! Black-box test harness: starts the whole app on a free loopback port, over either table
//! adapter, and hands out an HTTP client.

use std::sync::Arc;

use shared::clock::SystemClock;
use shared::config::Config;
use shared::store::Table;
use shared::store::dynamo::DynamoTable;
use shared::store::embedded::EmbeddedTable;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "admin-password";

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
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Config::for_tests(dir.path());
        let table: Arc<dyn Table> = match storage {
            Storage::Embedded => {
                Arc::new(EmbeddedTable::open(&dir.path().join("t.redb")).expect("open"))
            }
            Storage::Dynamo => {
                let url = std::env::var("OW_TEST_DYNAMODB_URL")
                    .ok()
                    .filter(|u| !u.is_empty())
                    .expect("OW_TEST_DYNAMODB_URL is not set: run the suite with infra/test.sh");
                let t = DynamoTable::for_endpoint(&url, format!("e2e-{}", uuid::Uuid::new_v4()));
                t.ensure_table().await.expect("create table");
                Arc::new(t)
            }
        };
        let state = shared::bootstrap::state_with(table, config, Arc::new(SystemClock))
            .await
            .expect("state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(shared::server::serve(listener, state, async {
            let _ = rx.await;
        }));
        Self {
            base,
            http: reqwest::Client::new(),
            _dir: dir,
            stop: Some(tx),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

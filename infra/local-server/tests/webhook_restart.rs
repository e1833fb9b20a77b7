//! Outgoing webhooks across a crash of the real `open-wearables` process: the server is
//! killed (SIGKILL) while a delivery waits between retries, and while an attempt is in
//! flight; started again on the same store (the embedded file, or DynamoDB through the
//! emulator at `OW_TEST_DYNAMODB_URL`), it delivers the message exactly once more and the
//! attempt log keeps the attempts made before the crash.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

const EMAIL: &str = "owner@example.com";
const PASSWORD: &str = "owner-password";

struct Running(Child);

impl Running {
    /// SIGKILL: no shutdown hook runs, in-process jobs and timers are lost.
    fn crash(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

/// Where the server keeps its data.
#[derive(Clone)]
enum Store {
    Embedded,
    /// The emulator's URL and a table of this test's own.
    Dynamo {
        url: String,
        table: String,
    },
}

fn dynamo() -> Store {
    let url = std::env::var("OW_TEST_DYNAMODB_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("OW_TEST_DYNAMODB_URL is not set: run the suite with infra/test.sh");
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    Store::Dynamo {
        url,
        table: format!("restart-{n}"),
    }
}

async fn start(
    store: &Store,
    data_dir: &std::path::Path,
    port: u16,
    env: &[(&str, &str)],
) -> Running {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_open-wearables"));
    cmd.env("OW_DATA_DIR", data_dir)
        .env("PORT", port.to_string())
        .env("HOST", "127.0.0.1")
        .env("ADMIN_EMAIL", EMAIL)
        .env("ADMIN_PASSWORD", PASSWORD)
        .env("WEBHOOKS_POLL_INTERVAL_SECONDS", "1")
        .env_remove("SECRET_KEY")
        .env_remove("OW_STORE")
        .env_remove("OW_TABLE_NAME")
        .env_remove("OW_QUEUE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Store::Dynamo { url, table } = store {
        cmd.env("OW_STORE", "dynamodb")
            .env("OW_TABLE_NAME", table)
            .env("OW_CREATE_TABLE", "true")
            .env("AWS_ENDPOINT_URL", url)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test");
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let running = Running(cmd.spawn().expect("spawn open-wearables"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if reqwest::get(format!("http://127.0.0.1:{port}/"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return running;
        }
        assert!(
            Instant::now() < deadline,
            "server did not answer on port {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A receiver whose answer the test sets; it can also hold requests (never answer).
#[derive(Clone, Default)]
struct Receiver {
    /// 0: hold the request open until the client goes away.
    answer: Arc<AtomicU16>,
    /// The `webhook-id` of every request, in arrival order.
    got: Arc<Mutex<Vec<String>>>,
}

async fn receive(State(rx): State<Receiver>, headers: HeaderMap) -> axum::http::StatusCode {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    rx.got.lock().expect("lock").push(id);
    let code = rx.answer.load(Ordering::SeqCst);
    if code == 0 {
        // Held until the sender disconnects (its process is killed) or a minute passes.
        tokio::time::sleep(Duration::from_secs(60)).await;
        return axum::http::StatusCode::GATEWAY_TIMEOUT;
    }
    axum::http::StatusCode::from_u16(code).expect("status")
}

impl Receiver {
    async fn start(answer: u16) -> (Self, String) {
        let rx = Receiver::default();
        rx.answer.store(answer, Ordering::SeqCst);
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(rx.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (rx, url)
    }

    fn count(&self, id: &str) -> usize {
        self.got
            .lock()
            .expect("lock")
            .iter()
            .filter(|g| *g == id)
            .count()
    }

    async fn wait_count(&self, id: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.count(id) < n {
            assert!(
                Instant::now() < deadline,
                "the receiver saw {} of {n} requests for {id}",
                self.count(id)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn new(port: u16) -> Self {
        Self {
            base: format!("http://127.0.0.1:{port}/api/v1"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
        }
    }

    async fn login(&self) -> String {
        let r = self
            .http
            .post(format!("{}/auth/login", self.base))
            .form(&[("username", EMAIL), ("password", PASSWORD)])
            .send()
            .await
            .expect("login");
        assert!(r.status().is_success());
        r.json::<Value>().await.expect("json")["access_token"]
            .as_str()
            .expect("token")
            .to_string()
    }

    async fn call(&self, jwt: &str, method: reqwest::Method, path: &str, body: Value) -> Value {
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(jwt)
            .json(&body)
            .send()
            .await
            .expect("call");
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.expect("json")
    }

    /// The endpoint's attempts for one message, newest first: (status code, trigger).
    async fn attempts(&self, jwt: &str, ep: &str, msg: &str) -> Vec<(i64, i64)> {
        let log = self
            .call(
                jwt,
                reqwest::Method::GET,
                &format!("/webhooks/endpoints/{ep}/attempts?limit=250"),
                Value::Null,
            )
            .await;
        log["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter(|a| a["msgId"] == msg)
            .map(|a| {
                (
                    a["responseStatusCode"].as_i64().expect("code"),
                    a["triggerType"].as_i64().expect("trigger"),
                )
            })
            .collect()
    }

    async fn wait_attempts(&self, jwt: &str, ep: &str, msg: &str, n: usize) -> Vec<(i64, i64)> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = self.attempts(jwt, ep, msg).await;
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} attempts logged",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn send_test(&self, jwt: &str, ep: &str) -> String {
        let sent = self
            .call(
                jwt,
                reqwest::Method::POST,
                &format!("/webhooks/endpoints/{ep}/test"),
                json!({"event_type": "workout.created"}),
            )
            .await;
        sent["message_id"].as_str().expect("message id").to_string()
    }
}

/// After the message's success, a second message to the same endpoint is delivered too: by
/// then every sweep that would re-send the first one has run, and it has not.
async fn nothing_more_for(
    api: &Api,
    jwt: &str,
    ep: &str,
    rx: &Receiver,
    msg: &str,
    (received, logged): (usize, usize),
) {
    let later = api.send_test(jwt, ep).await;
    rx.wait_count(&later, 1).await;
    api.wait_attempts(jwt, ep, &later, 1).await;
    assert_eq!(rx.count(msg), received, "the first message was sent again");
    assert_eq!(api.attempts(jwt, ep, msg).await.len(), logged);
}

/// Two failed attempts (500), then the crash while the third waits; after the restart the
/// third attempt succeeds and is the only one.
async fn crash_between_retries(store: Store) {
    let dir = tempfile::tempdir().expect("dir");
    let (rx, hook) = Receiver::start(500).await;
    // The first retry comes fast, the second waits long enough for the crash and restart.
    let env = [("WEBHOOKS_RETRY_SCHEDULE", "0,1,6,1,1,1,1,1")];
    let port = free_port();
    let server = start(&store, dir.path(), port, &env).await;
    let api = Api::new(port);
    let jwt = api.login().await;
    let ep = api
        .call(
            &jwt,
            reqwest::Method::POST,
            "/webhooks/endpoints",
            json!({"url": hook}),
        )
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let msg = api.send_test(&jwt, &ep).await;
    let before = api.wait_attempts(&jwt, &ep, &msg, 2).await;
    assert_eq!(before, [(500, 0), (500, 0)]);
    server.crash();
    rx.answer.store(200, Ordering::SeqCst);
    assert_eq!(rx.count(&msg), 2);

    let port = free_port();
    let _server = start(&store, dir.path(), port, &env).await;
    let api = Api::new(port);
    // The session token survives the restart with the store.
    rx.wait_count(&msg, 3).await;
    let log = api.wait_attempts(&jwt, &ep, &msg, 3).await;
    assert_eq!(log, [(200, 0), (500, 0), (500, 0)]);
    nothing_more_for(&api, &jwt, &ep, &rx, &msg, (3, 3)).await;
}

#[tokio::test]
async fn embedded_crash_between_retries_delivers_once_more() {
    crash_between_retries(Store::Embedded).await;
}

#[tokio::test]
async fn dynamodb_crash_between_retries_delivers_once_more() {
    crash_between_retries(dynamo()).await;
}

/// The crash while the receiver holds an attempt open: the attempt never ended, so it is not
/// in the log; once its lease ran out the restarted server makes it again, and it succeeds.
#[tokio::test]
async fn embedded_crash_during_an_attempt_delivers_after_the_lease() {
    let dir = tempfile::tempdir().expect("dir");
    let (rx, hook) = Receiver::start(0).await;
    // One-second attempts: the lease of an attempt in flight is 1 + 15 s.
    let env = [
        ("WEBHOOKS_RETRY_SCHEDULE", "0,1,1,1,1,1,1,1"),
        ("WEBHOOKS_TIMEOUT_SECONDS", "1"),
    ];
    let port = free_port();
    let server = start(&Store::Embedded, dir.path(), port, &env).await;
    let api = Api::new(port);
    let jwt = api.login().await;
    let ep = api
        .call(
            &jwt,
            reqwest::Method::POST,
            "/webhooks/endpoints",
            json!({"url": hook}),
        )
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    // Answered only after the crash: the attempt is in flight when the process dies. The
    // timeout is one second, so the crash must come within it.
    rx.answer.store(0, Ordering::SeqCst);
    let msg = api.send_test(&jwt, &ep).await;
    rx.wait_count(&msg, 1).await;
    server.crash();
    rx.answer.store(200, Ordering::SeqCst);
    let port = free_port();
    let _server = start(&Store::Embedded, dir.path(), port, &env).await;
    let api = Api::new(port);
    rx.wait_count(&msg, 2).await;
    let log = api.wait_attempts(&jwt, &ep, &msg, 1).await;
    assert_eq!(log, [(200, 0)]);
    nothing_more_for(&api, &jwt, &ep, &rx, &msg, (2, 1)).await;
}

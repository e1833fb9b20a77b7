//! Outgoing webhooks end to end over real HTTP: a local receiver on 127.0.0.1, SDK pushes
//! delivered as signed group and granular events (checked by our verifier and by the Python
//! `svix` library), retries until success, the abort header, endpoint filters, the outbox
//! surviving a restart, and the management API's shapes. On both table adapters where the
//! storage matters.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode as AxStatus};
use axum::response::IntoResponse;
use ow_e2e::{Server, Storage};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::domain::webhooks::DeliveryStatus;
use shared::jobs::{Job, JobQueue, QueueError};
use shared::store::Table;
use shared::store::embedded::EmbeddedTable;

const KEY_HEADER: &str = "X-Open-Wearables-API-Key";
/// Fast retries for the tests (the default is Svix's 0, 5 s, 5 min, ...).
const FAST: &[(&str, &str)] = &[("WEBHOOKS_RETRY_SCHEDULE", "0,1,1,1,1,1,1,1")];

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("json body")
    }
    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }
}

#[derive(Default)]
struct Inbox {
    got: Vec<Received>,
    /// Answers to give, in order (then 200).
    script: VecDeque<(u16, bool)>,
}

/// A webhook receiver on a free loopback port.
struct Receiver {
    url: String,
    inbox: Arc<Mutex<Inbox>>,
}

async fn receive(
    AxState(inbox): AxState<Arc<Mutex<Inbox>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let mut i = inbox.lock().expect("lock");
    i.got.push(Received {
        headers,
        body: body.to_vec(),
    });
    let (code, abort) = i.script.pop_front().unwrap_or((200, false));
    let status = AxStatus::from_u16(code).expect("status");
    if abort {
        (status, [("webhook-delivery", "abort-message")], "stop").into_response()
    } else {
        (status, "answer body").into_response()
    }
}

impl Receiver {
    async fn start(script: &[(u16, bool)]) -> Self {
        let inbox = Arc::new(Mutex::new(Inbox {
            got: Vec::new(),
            script: script.iter().copied().collect(),
        }));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, inbox }
    }

    fn got(&self) -> Vec<Received> {
        self.inbox.lock().expect("lock").got.clone()
    }

    /// Waits (bounded) until `pred` holds for what arrived.
    async fn wait_for(&self, what: &str, pred: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        for _ in 0..600 {
            let got = self.got();
            if pred(&got) {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("receiver never saw {what}; got {:?}", self.types());
    }

    /// What arrived apart from the `sync.*` events of the pushes' runs.
    fn data_events(&self) -> Vec<Received> {
        data_events(&self.got())
    }

    fn types(&self) -> Vec<String> {
        self.got()
            .iter()
            .map(|r| r.json()["type"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

fn is_sync(r: &Received) -> bool {
    r.json()["type"]
        .as_str()
        .is_some_and(|t| t.starts_with("sync."))
}

/// The deliveries that are not `sync.*` events (every push is also a sync run).
fn data_events(g: &[Received]) -> Vec<Received> {
    g.iter().filter(|r| !is_sync(r)).cloned().collect()
}

/// The listed messages that are not `sync.*` events.
fn data_messages(listed: &Value) -> Vec<Value> {
    listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter(|m| {
            !m["eventType"]
                .as_str()
                .expect("eventType")
                .starts_with("sync.")
        })
        .cloned()
        .collect()
}

async fn create_endpoint(s: &Server, jwt: &str, body: Value) -> Value {
    let r = s
        .http
        .post(s.url("/api/v1/webhooks/endpoints"))
        .bearer_auth(jwt)
        .json(&body)
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.expect("json")
}

async fn secret(s: &Server, jwt: &str, ep: &str) -> String {
    let r: Value = s
        .http
        .get(s.url(&format!("/api/v1/webhooks/endpoints/{ep}/secret")))
        .bearer_auth(jwt)
        .send()
        .await
        .expect("secret")
        .json()
        .await
        .expect("json");
    r["key"].as_str().expect("key").to_string()
}

/// `2025-03-01T08:00:00Z` + `minute` minutes + `second` seconds.
fn at(minute: usize, second: usize) -> String {
    let m = minute + second / 60;
    format!(
        "2025-03-01T{:02}:{:02}:{:02}Z",
        8 + m / 60,
        m % 60,
        second % 60
    )
}

/// `n` heart-rate samples a second apart from `minute`.
fn heart_rate(n: usize, minute: usize) -> Value {
    let records: Vec<Value> = (0..n)
        .map(|i| json!({"type": "HKQuantityTypeIdentifierHeartRate", "unit": "count/min", "value": 60 + i % 30,
                        "startDate": at(minute, i), "endDate": at(minute, i),
                        "zoneOffset": "+01:00", "source": {"name": "Watch", "deviceModel": "Watch7,5"}}))
        .collect();
    json!({"provider": "apple", "sdkVersion": "1", "syncTimestamp": "2025-03-02T00:00:00Z", "data": {"records": records}})
}

async fn push(s: &Server, key: &str, user: &str, body: &Value) {
    let r = s
        .http
        .post(s.url(&format!("/api/v1/sdk/users/{user}/sync")))
        .header(KEY_HEADER, key)
        .json(body)
        .send()
        .await
        .expect("push");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

async fn messages(s: &Server, jwt: &str, query: &str) -> Value {
    let r = s
        .http
        .get(s.url(&format!("/api/v1/webhooks/messages{query}")))
        .bearer_auth(jwt)
        .send()
        .await
        .expect("messages");
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.expect("json")
}

async fn attempts(s: &Server, jwt: &str, ep: &str, query: &str) -> Value {
    let r = s
        .http
        .get(s.url(&format!("/api/v1/webhooks/endpoints/{ep}/attempts{query}")))
        .bearer_auth(jwt)
        .send()
        .await
        .expect("attempts");
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.expect("json")
}

/// The Python interpreter with `svix` (the test venv), if there is one.
fn svix_python() -> Option<String> {
    let candidates = [
        std::env::var("OW_TEST_PYTHON").ok(),
        Some(concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv-test/bin/python").to_string()),
    ];
    let found = candidates.into_iter().flatten().find(|p| {
        std::process::Command::new(p)
            .args(["-c", "import svix"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() && std::env::var_os("OW_REQUIRE_SVIX").is_some() {
        panic!("OW_REQUIRE_SVIX is set but no Python with the svix package was found");
    }
    found
}

/// Verifies a delivery with the official `svix` library (`Webhook(secret).verify`), with the
/// `svix-*` headers and, separately, the `webhook-*` ones.
fn svix_verifies(python: &str, secret: &str, r: &Received) -> bool {
    let script = r#"
import json, sys
from svix.webhooks import Webhook
secret, headers = sys.argv[1], json.loads(sys.argv[2])
Webhook(secret).verify(sys.stdin.buffer.read(), headers)
"#;
    [
        ["svix-id", "svix-timestamp", "svix-signature"],
        ["webhook-id", "webhook-timestamp", "webhook-signature"],
    ]
    .iter()
    .all(|names| {
        let headers: serde_json::Map<String, Value> = names
            .iter()
            .map(|n| (n.to_string(), Value::String(r.header(n))))
            .collect();
        let mut child = std::process::Command::new(python)
            .args(["-c", script, secret, &Value::Object(headers).to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&r.body)
            .expect("write");
        let out = child.wait_with_output().expect("wait");
        if !out.status.success() {
            eprintln!("svix refused: {}", String::from_utf8_lossy(&out.stderr));
        }
        out.status.success()
    })
}

fn ours_verifies(secret: &str, r: &Received) -> bool {
    let ts: i64 = r.header("webhook-timestamp").parse().expect("timestamp");
    shared::domain::webhooks::verify(
        secret,
        &r.header("webhook-id"),
        ts,
        &r.body,
        &r.header("webhook-signature"),
        chrono::Utc::now().timestamp(),
    )
}

async fn sdk_push_delivers_signed_events(storage: Storage) {
    let s = Server::start(storage).await;
    let rx = Receiver::start(&[]).await;
    let jwt = s.login().await;
    let key = s.api_key(&jwt).await;
    let user = s.new_user(&key).await;
    let ep = create_endpoint(&s, &jwt, json!({"url": rx.url, "description": "backend"})).await;
    assert!(ep["id"].as_str().expect("id").starts_with("ep_"));
    assert_eq!(ep["filter_types"], Value::Null);
    assert_eq!(ep["user_id"], Value::Null);
    let ep_id = ep["id"].as_str().expect("id").to_string();
    let secret = secret(&s, &jwt, &ep_id).await;
    assert!(secret.starts_with("whsec_"));

    push(&s, &key, &user, &heart_rate(120, 0)).await;
    rx.wait_for("both heart-rate events", |g| data_events(g).len() >= 2)
        .await;
    let got = rx.data_events();
    let mut types: Vec<String> = got
        .iter()
        .map(|r| r.json()["type"].as_str().expect("type").to_string())
        .collect();
    types.sort();
    assert_eq!(types, ["heart_rate.created", "series.heart_rate.created"]);
    let python = svix_python();
    for r in &got {
        assert!(ours_verifies(&secret, r), "our verifier refused a delivery");
        assert_eq!(r.header("svix-id"), r.header("webhook-id"));
        assert_eq!(r.header("svix-signature"), r.header("webhook-signature"));
        assert!(r.header("webhook-signature").starts_with("v1,"));
        if let Some(py) = &python {
            assert!(
                svix_verifies(py, &secret, r),
                "the svix library refused a delivery"
            );
        }
        let data = &r.json()["data"];
        assert_eq!(data["user_id"], user.as_str());
        assert_eq!(data["provider"], "apple");
        assert_eq!(data["series_type"], "heart_rate");
        assert_eq!(data["sample_count"], 120);
        assert_eq!(data["samples"].as_array().expect("samples").len(), 120);
        assert_eq!(data["start_time"], "2025-03-01T08:00:00+00:00");
        assert_eq!(data.get("chunk_index"), None);
        let first = &data["samples"][0];
        assert_eq!(first["type"], "heart_rate");
        assert_eq!(first["unit"], "bpm");
        assert_eq!(first["value"], 60.0);
        assert_eq!(first["source"]["provider"], "apple");
    }
    if python.is_none() {
        eprintln!("svix not installed: signatures checked by our verifier only");
    }

    // The same batch again stores nothing new: no new message.
    s.state.jobs_idle().await;
    let before = data_messages(&messages(&s, &jwt, "").await).len();
    push(&s, &key, &user, &heart_rate(120, 0)).await;
    s.state.jobs_idle().await;
    let listed = messages(&s, &jwt, "").await;
    let data = data_messages(&listed);
    assert_eq!(data.len(), before);
    assert_eq!(before, 2);
    assert_eq!(data[0]["payload"], Value::Null);
    assert!(
        data[0]["eventId"]
            .as_str()
            .expect("eventId")
            .starts_with(&format!(
                "timeseries.{user}.apple.heart_rate.2025-03-01T08_00_00_00_00"
            ))
    );
    assert_eq!(data[0]["channels"], json!([format!("user.{user}")]));

    // Both deliveries are in the endpoint's log as successes, each with its message.
    let log = attempts(
        &s,
        &jwt,
        &ep_id,
        "?event_types=heart_rate.created&event_types=series.heart_rate.created",
    )
    .await;
    let list = log["data"].as_array().expect("data");
    assert_eq!(list.len(), 2);
    for a in list {
        assert_eq!(a["status"], 0);
        assert_eq!(a["responseStatusCode"], 200);
        assert_eq!(a["response"], "answer body");
        assert_eq!(a["triggerType"], 0);
        assert_eq!(a["endpointId"], ep_id.as_str());
        assert_eq!(a["msg"]["payload"]["data"]["sample_count"], 120);
    }
    assert_eq!(rx.data_events().len(), 2);
}

async fn failures_are_retried_until_success(storage: Storage) {
    let s = Server::start_with(storage, FAST).await;
    let rx = Receiver::start(&[(500, false), (500, false), (503, false)]).await;
    let jwt = s.login().await;
    let ep = create_endpoint(&s, &jwt, json!({"url": rx.url})).await;
    let ep_id = ep["id"].as_str().expect("id");
    let sent = s
        .http
        .post(s.url(&format!("/api/v1/webhooks/endpoints/{ep_id}/test")))
        .bearer_auth(&jwt)
        .json(&json!({"event_type": "sleep.created"}))
        .send()
        .await
        .expect("test");
    assert_eq!(sent.status(), StatusCode::OK);
    let sent: Value = sent.json().await.expect("json");
    assert_eq!(sent["message"], "Test event sent successfully.");
    let msg_id = sent["message_id"].as_str().expect("id").to_string();
    let got = rx.wait_for("four attempts", |g| g.len() >= 4).await;
    // Every attempt carries the same message id (receivers deduplicate on it).
    assert!(got.iter().all(|r| r.header("webhook-id") == msg_id));
    assert_eq!(got[0].json()["type"], "sleep.created");
    assert_eq!(got[0].json()["data"]["stages"]["deep_minutes"], 15);
    let delivered = wait_delivery(&s, &msg_id, ep_id, DeliveryStatus::Success).await;
    assert_eq!(delivered.attempts, 4);
    let log = attempts(&s, &jwt, ep_id, "").await;
    let codes: Vec<i64> = log["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|a| a["responseStatusCode"].as_i64().expect("code"))
        .collect();
    assert_eq!(codes, [200, 503, 500, 500]);
    let ok = attempts(&s, &jwt, ep_id, "?status=0").await;
    assert_eq!(ok["data"].as_array().expect("data").len(), 1);
    let failed = attempts(&s, &jwt, ep_id, "?status=2&limit=2").await;
    assert_eq!(failed["data"].as_array().expect("data").len(), 2);
    assert_eq!(failed["done"], false);
    let it = failed["iterator"].as_str().expect("iterator");
    let rest = attempts(&s, &jwt, ep_id, &format!("?status=2&limit=2&iterator={it}")).await;
    assert_eq!(rest["data"].as_array().expect("data").len(), 1);
    assert_eq!(rest["done"], true);
    let other_type = attempts(&s, &jwt, ep_id, "?event_types=workout.created").await;
    assert_eq!(other_type["data"].as_array().expect("data").len(), 0);
    s.state.jobs_idle().await;
    assert_eq!(
        rx.got().len(),
        4,
        "delivered once, nothing after the success"
    );

    // A manual retry sends it again (trigger 1).
    let retried = s
        .http
        .post(s.url(&format!("/api/v1/webhooks/messages/{msg_id}/retry")))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("retry");
    assert_eq!(retried.status(), StatusCode::ACCEPTED);
    rx.wait_for("the manual retry", |g| g.len() >= 5).await;
    let log = attempts(&s, &jwt, ep_id, "?limit=1").await;
    wait_delivery(&s, &msg_id, ep_id, DeliveryStatus::Success).await;
    let log = if log["data"][0]["triggerType"] == 1 {
        log
    } else {
        attempts(&s, &jwt, ep_id, "?limit=1").await
    };
    assert_eq!(log["data"][0]["triggerType"], 1);
}

async fn wait_delivery(
    s: &Server,
    msg: &str,
    ep: &str,
    want: DeliveryStatus,
) -> shared::repo::webhooks::Delivery {
    for _ in 0..600 {
        if let Some(d) = s.state.db.delivery(msg, ep).await.expect("delivery")
            && d.status == want
        {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("delivery {msg} to {ep} never became {want:?}");
}

#[tokio::test]
async fn the_abort_header_stops_retries() {
    let s = Server::start_with(Storage::Embedded, FAST).await;
    let rx = Receiver::start(&[(500, true)]).await;
    let jwt = s.login().await;
    let ep = create_endpoint(&s, &jwt, json!({"url": rx.url})).await;
    let ep_id = ep["id"].as_str().expect("id");
    let sent: Value = s
        .http
        .post(s.url(&format!("/api/v1/webhooks/endpoints/{ep_id}/test")))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("test")
        .json()
        .await
        .expect("json");
    let msg_id = sent["message_id"].as_str().expect("id");
    let d = wait_delivery(&s, msg_id, ep_id, DeliveryStatus::Failed).await;
    assert_eq!(d.attempts, 1);
    assert_eq!(d.next_attempt_at, None);
    assert_eq!(rx.got().len(), 1);
    assert_eq!(rx.got()[0].json()["type"], "workout.created");
    let log = attempts(&s, &jwt, ep_id, "").await;
    assert_eq!(log["data"].as_array().expect("data").len(), 1);
    assert_eq!(log["data"][0]["status"], 2);
}

#[tokio::test]
async fn filter_types_and_user_id_choose_the_endpoints() {
    let s = Server::start(Storage::Embedded).await;
    let all = Receiver::start(&[]).await;
    let workouts_only = Receiver::start(&[]).await;
    let second_user_only = Receiver::start(&[]).await;
    let jwt = s.login().await;
    let key = s.api_key(&jwt).await;
    let u1 = s.new_user(&key).await;
    let u2 = s.new_user(&key).await;
    let e_all = create_endpoint(&s, &jwt, json!({"url": all.url})).await;
    let e_w = create_endpoint(
        &s,
        &jwt,
        json!({"url": workouts_only.url, "filter_types": ["workout.created"]}),
    )
    .await;
    assert_eq!(e_w["filter_types"], json!(["workout.created"]));
    let e_u2 = create_endpoint(
        &s,
        &jwt,
        json!({"url": second_user_only.url, "user_id": u2}),
    )
    .await;
    assert_eq!(e_u2["user_id"], u2.as_str());

    push(&s, &key, &u1, &heart_rate(10, 0)).await;
    all.wait_for("u1's events", |g| data_events(g).len() >= 2)
        .await;
    s.state.jobs_idle().await;
    let listed = messages(&s, &jwt, "").await;
    for m in listed["data"].as_array().expect("data") {
        let deliveries = s
            .state
            .db
            .message_deliveries(m["id"].as_str().expect("id"))
            .await
            .expect("deliveries");
        let eps: Vec<&str> = deliveries.iter().map(|d| d.endpoint_id.as_str()).collect();
        assert_eq!(eps, [e_all["id"].as_str().expect("id")]);
    }
    assert!(workouts_only.got().is_empty());
    assert!(second_user_only.got().is_empty());

    push(&s, &key, &u2, &heart_rate(10, 5)).await;
    let got = second_user_only
        .wait_for("u2's events", |g| data_events(g).len() >= 2)
        .await;
    assert!(
        got.iter()
            .all(|r| r.json()["data"]["user_id"] == u2.as_str())
    );
    all.wait_for("u2's events too", |g| data_events(g).len() >= 4)
        .await;
    s.state.jobs_idle().await;
    assert!(workouts_only.got().is_empty());

    // Removing the user filter (explicit null) makes the endpoint receive everyone's events.
    let patched: Value = s
        .http
        .patch(s.url(&format!(
            "/api/v1/webhooks/endpoints/{}",
            e_u2["id"].as_str().expect("id")
        )))
        .bearer_auth(&jwt)
        .json(&json!({"user_id": null, "description": "everyone"}))
        .send()
        .await
        .expect("patch")
        .json()
        .await
        .expect("json");
    assert_eq!(patched["user_id"], Value::Null);
    assert_eq!(patched["description"], "everyone");
    push(&s, &key, &u1, &heart_rate(10, 9)).await;
    second_user_only
        .wait_for("u1's events after the filter was removed", |g| {
            data_events(g).len() >= 4
        })
        .await;
}

/// A message emitted while no endpoint wants it is listed but stored as fanned out (no
/// fan-out job, no delivery); an endpoint created afterwards receives what is emitted after it.
#[tokio::test]
async fn messages_emitted_before_an_endpoint_exists_are_listed_not_delivered() {
    let s = Server::start(Storage::Embedded).await;
    let rx = Receiver::start(&[]).await;
    let jwt = s.login().await;
    let key = s.api_key(&jwt).await;
    let user = s.new_user(&key).await;
    push(&s, &key, &user, &heart_rate(10, 0)).await;
    s.state.jobs_idle().await;
    let before = messages(&s, &jwt, "").await;
    let before_ids: Vec<String> = before["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_string())
        .collect();
    // The push's sync run is listed; its sample events are not stored at all (their payload
    // is the samples, and no endpoint wanted them).
    let mut types: Vec<&str> = before["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["eventType"].as_str())
        .collect();
    types.sort_unstable();
    assert_eq!(types, ["sync.completed", "sync.started"], "{before}");

    // Without any job running (a queue that loses them), those messages are fanned out already.
    {
        let dir = tempfile::tempdir().expect("dir");
        let table: Arc<dyn Table> =
            Arc::new(EmbeddedTable::open(&dir.path().join("t.redb")).expect("open"));
        let lost = Server::start_with_queue(
            table,
            tempfile::tempdir().expect("dir"),
            Some(Arc::new(LostJobs)),
        )
        .await;
        let jwt = lost.login().await;
        let key = lost.api_key(&jwt).await;
        let user = lost.new_user(&key).await;
        push(&lost, &key, &user, &heart_rate(10, 0)).await;
        let listed = messages(&lost, &jwt, "").await;
        let ids = listed["data"].as_array().expect("data");
        assert_eq!(ids.len(), 2, "{listed}");
        for m in ids {
            let id = m["id"].as_str().expect("id");
            let m = lost
                .state
                .db
                .message(id)
                .await
                .expect("read")
                .expect("stored");
            assert!(
                m.fanned_out,
                "{id} waits for a fan-out job although no endpoint exists"
            );
        }
    }
    for id in &before_ids {
        let m = s.state.db.message(id).await.expect("read").expect("stored");
        assert!(m.fanned_out, "{id} is waiting for a fan-out");
        assert!(
            s.state
                .db
                .message_deliveries(id)
                .await
                .expect("deliveries")
                .is_empty()
        );
    }

    create_endpoint(&s, &jwt, json!({"url": rx.url})).await;
    push(&s, &key, &user, &heart_rate(10, 5)).await;
    rx.wait_for("the second push's events", |g| {
        g.iter().any(|r| r.json()["type"] == "sync.completed") && !data_events(g).is_empty()
    })
    .await;
    s.state.jobs_idle().await;
    let got = rx.got();
    assert!(got.len() >= 3, "{:?}", rx.types());
    for r in &got {
        assert!(
            !before_ids.contains(&r.header("webhook-id")),
            "a message from before the endpoint was delivered"
        );
    }
}

/// A queue that loses every job: the process died before any ran.
struct LostJobs;

#[async_trait]
impl JobQueue for LostJobs {
    async fn enqueue(&self, _jobs: Vec<Job>) -> Result<(), QueueError> {
        Ok(())
    }
}

#[tokio::test]
async fn messages_stored_before_a_crash_are_delivered_after_the_restart() {
    let store_dir = tempfile::tempdir().expect("dir");
    let path = store_dir.path().join("t.redb");
    let rx = Receiver::start(&[(500, false)]).await;
    let (user, jwt) = {
        let table: Arc<dyn Table> = Arc::new(EmbeddedTable::open(&path).expect("open"));
        let s = Server::start_with_queue(
            table,
            tempfile::tempdir().expect("dir"),
            Some(Arc::new(LostJobs)),
        )
        .await;
        let jwt = s.login().await;
        let key = s.api_key(&jwt).await;
        let user = s.new_user(&key).await;
        create_endpoint(&s, &jwt, json!({"url": rx.url})).await;
        push(&s, &key, &user, &heart_rate(30, 0)).await;
        (user, jwt)
    };
    // The first server is gone; its store opens again once every handle is dropped.
    let mut reopened = None;
    for _ in 0..200 {
        if let Ok(t) = EmbeddedTable::open(&path) {
            reopened = Some(t);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let table: Arc<dyn Table> = Arc::new(reopened.expect("store reopened"));
    let s = Server::start_on(table, tempfile::tempdir().expect("dir")).await;
    assert!(rx.got().is_empty());
    // The sweep finds the messages, fans them out; the first attempt fails, a retry delivers.
    // Four messages: the two heart-rate events and the push's sync.started/completed.
    let distinct = |g: &[Received]| {
        let mut ids: Vec<String> = g
            .iter()
            .filter(|r| r.json()["data"]["user_id"] == user.as_str())
            .map(|r| r.header("webhook-id"))
            .collect();
        ids.sort();
        ids.dedup();
        ids.len()
    };
    let got = rx
        .wait_for("all four events after the restart", |g| {
            distinct(g) == 4 && g.len() >= 5
        })
        .await;
    assert_eq!(distinct(&got), 4);
    let listed = messages(&s, &jwt, "").await;
    assert_eq!(listed["data"].as_array().expect("data").len(), 4);
}

async fn management_routes(storage: Storage) {
    let s = Server::start_with(storage, FAST).await;
    let rx = Receiver::start(&[]).await;
    let jwt = s.login().await;
    let key = s.api_key(&jwt).await;

    // The catalogue is public and is the reference's.
    let cat: Value = s
        .http
        .get(s.url("/api/v1/webhooks/event-types"))
        .send()
        .await
        .expect("types")
        .json()
        .await
        .expect("json");
    let reference: Value = serde_json::from_str(include_str!(
        "../../shared/src/domain/webhook_event_types.json"
    ))
    .expect("sample");
    assert_eq!(cat, reference);

    let cfg = s
        .http
        .get(s.url("/api/v1/config"))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("config");
    assert_eq!(cfg.status(), StatusCode::OK);
    assert_eq!(
        cfg.json::<Value>().await.expect("json"),
        json!({"outgoing_webhooks_enabled": true})
    );

    // Developer JWT only: no credentials or an API key are 401.
    for req in [
        s.http.get(s.url("/api/v1/webhooks/endpoints")),
        s.http
            .get(s.url("/api/v1/webhooks/endpoints"))
            .header(KEY_HEADER, &key),
        s.http.get(s.url("/api/v1/config")),
        s.http.get(s.url("/api/v1/webhooks/messages")),
    ] {
        assert_eq!(
            req.send().await.expect("send").status(),
            StatusCode::UNAUTHORIZED
        );
    }

    let bad = |body: Value| {
        s.http
            .post(s.url("/api/v1/webhooks/endpoints"))
            .bearer_auth(&jwt)
            .json(&body)
            .send()
    };
    for body in [
        json!({}),
        json!({"url": "not a url"}),
        json!({"url": "ftp://x/y"}),
        json!({"url": rx.url, "user_id": "nope"}),
    ] {
        let r = bad(body.clone()).await.expect("send");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        assert!(r.json::<Value>().await.expect("json")["detail"].is_string());
    }

    let ep = create_endpoint(&s, &jwt, json!({"url": rx.url, "description": "d"})).await;
    let id = ep["id"].as_str().expect("id");
    let listed: Value = s
        .http
        .get(s.url("/api/v1/webhooks/endpoints"))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed, json!([ep.clone()]));
    let one: Value = s
        .http
        .get(s.url(&format!("/api/v1/webhooks/endpoints/{id}")))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(one, ep);

    // Rotation: a new secret; for a day both sign, so either verifies.
    let old = secret(&s, &jwt, id).await;
    let rotated: Value = s
        .http
        .post(s.url(&format!("/api/v1/webhooks/endpoints/{id}/secret/rotate")))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("rotate")
        .json()
        .await
        .expect("json");
    let new = rotated["key"].as_str().expect("key").to_string();
    assert_ne!(new, old);
    assert_eq!(secret(&s, &jwt, id).await, new);
    for _ in 0..3 {
        let r = s
            .http
            .post(s.url(&format!("/api/v1/webhooks/endpoints/{id}/test")))
            .bearer_auth(&jwt)
            .json(&json!({"event_type": "connection.created"}))
            .send()
            .await
            .expect("test");
        assert_eq!(r.status(), StatusCode::OK);
    }
    let got = rx.wait_for("three test events", |g| g.len() >= 3).await;
    assert!(
        got.iter()
            .all(|r| ours_verifies(&new, r) && ours_verifies(&old, r))
    );
    assert_eq!(got[0].json()["type"], "connection.created");

    // Messages page with Svix's iterator: every message once, newest first.
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_string();
    loop {
        let page = messages(&s, &jwt, &query).await;
        for m in page["data"].as_array().expect("data") {
            seen.push(m["id"].as_str().expect("id").to_string());
            assert_eq!(m["eventId"], format!("test.{id}.connection.created"));
        }
        if page["done"] == true {
            break;
        }
        query = format!(
            "?limit=2&iterator={}",
            page["iterator"].as_str().expect("it")
        );
    }
    assert_eq!(seen.len(), 3);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3);
    let r = s
        .http
        .get(s.url("/api/v1/webhooks/messages?limit=0"))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("limit");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s
        .http
        .get(s.url("/api/v1/webhooks/messages?iterator=%%%"))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("iterator");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let del = s
        .http
        .delete(s.url(&format!("/api/v1/webhooks/endpoints/{id}")))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("delete");
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    let gone = s
        .http
        .get(s.url(&format!("/api/v1/webhooks/endpoints/{id}")))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("get");
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_feature_flag_turns_the_routes_off() {
    let s = Server::start_with(Storage::Embedded, &[("OUTGOING_WEBHOOKS_ENABLED", "false")]).await;
    let jwt = s.login().await;
    let cfg: Value = s
        .http
        .get(s.url("/api/v1/config"))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("config")
        .json()
        .await
        .expect("json");
    assert_eq!(cfg, json!({"outgoing_webhooks_enabled": false}));
    let r = s
        .http
        .get(s.url("/api/v1/webhooks/endpoints"))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("list");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        r.json::<Value>().await.expect("json")["detail"],
        "Outgoing webhooks are not enabled (set OUTGOING_WEBHOOKS_ENABLED=true in the backend environment)."
    );
}

#[tokio::test]
async fn private_targets_are_refused_when_not_allowed() {
    let s = Server::start_with(Storage::Embedded, &[("WEBHOOKS_ALLOW_PRIVATE", "false")]).await;
    let jwt = s.login().await;
    for url in [
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://10.0.0.8/x",
        "https://[::1]/x",
        "https://localhost/x",
    ] {
        let r = s
            .http
            .post(s.url("/api/v1/webhooks/endpoints"))
            .bearer_auth(&jwt)
            .json(&json!({"url": url}))
            .send()
            .await
            .expect("create");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{url}");
    }
    create_endpoint(&s, &jwt, json!({"url": "https://hooks.example.com/x"})).await;
}

async fn user_runs(s: &Server, key: &str, user: &str) -> Value {
    let r = s
        .http
        .get(s.url(&format!("/api/v1/users/{user}/sync/runs")))
        .header(KEY_HEADER, key)
        .send()
        .await
        .expect("runs");
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.expect("json")
}

/// Every SDK push is a sync run (source `sdk`, run id = batch id): `sync.started` and
/// `sync.completed` reach the endpoint with the run's counts, and the run is listed by
/// `/users/{id}/sync/runs`. A refused payload makes no run.
async fn sdk_pushes_are_sync_runs(storage: Storage) {
    let s = Server::start(storage).await;
    let rx = Receiver::start(&[]).await;
    let jwt = s.login().await;
    let key = s.api_key(&jwt).await;
    let user = s.new_user(&key).await;
    create_endpoint(
        &s,
        &jwt,
        json!({"url": rx.url, "filter_types": ["sync.started", "sync.completed", "sync.failed"]}),
    )
    .await;
    push(&s, &key, &user, &heart_rate(20, 0)).await;
    let got = rx.wait_for("the run's two events", |g| g.len() >= 2).await;
    let find = |g: &[Received], t: &str| -> Vec<Received> {
        g.iter()
            .filter(|r| r.json()["type"] == t)
            .cloned()
            .collect()
    };
    let started = find(&got, "sync.started");
    let completed = find(&got, "sync.completed");
    assert_eq!((started.len(), completed.len()), (1, 1), "{:?}", rx.types());
    let st = started[0].json()["data"].clone();
    let run_id = st["run_id"].as_str().expect("run_id").to_string();
    assert!(uuid::Uuid::parse_str(&run_id).is_ok(), "{run_id}");
    assert_eq!(st["user_id"], user.as_str());
    assert_eq!(st["provider"], "apple");
    assert_eq!(st["source"], "sdk");
    assert_eq!(st["message"], "Processing apple SDK batch");
    assert_eq!(st["metadata"]["batch_id"], run_id.as_str());
    let done = completed[0].json()["data"].clone();
    assert_eq!(done["run_id"], run_id.as_str());
    assert_eq!(done["status"], "success");
    assert_eq!(done["message"], "Apple batch saved");
    assert_eq!(done["items_processed"], 20);
    assert_eq!(done["metadata"]["records_saved"], 20);
    assert_eq!(done["metadata"]["dropped_count"], 0);

    // The idempotency keys of §16.2 are the messages' event ids.
    s.state.jobs_idle().await;
    let listed = messages(&s, &jwt, "").await;
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["eventId"].as_str())
        .collect();
    for kind in ["started", "completed"] {
        let want = format!("sync.{kind}.{run_id}");
        assert!(ids.contains(&want.as_str()), "{want} not in {ids:?}");
    }

    let listed = user_runs(&s, &key, &user).await;
    let list = listed.as_array().expect("runs");
    assert_eq!(list.len(), 1, "{listed}");
    assert_eq!(list[0]["run_id"], run_id.as_str());
    assert_eq!(list[0]["source"], "sdk");
    assert_eq!(list[0]["stage"], "completed");
    assert_eq!(list[0]["status"], "success");
    assert_eq!(list[0]["items_processed"], 20);
    assert!(list[0]["started_at"].is_string() && list[0]["ended_at"].is_string());

    // The same data again: a new run (the data events are not repeated).
    push(&s, &key, &user, &heart_rate(20, 0)).await;
    let got = rx.wait_for("the second run", |g| g.len() >= 4).await;
    let second: Vec<Value> = find(&got, "sync.completed")
        .iter()
        .map(|r| r.json()["data"].clone())
        .filter(|d| d["run_id"] != run_id.as_str())
        .collect();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0]["metadata"]["records_saved"], 20);
    assert_eq!(
        user_runs(&s, &key, &user)
            .await
            .as_array()
            .expect("runs")
            .len(),
        2
    );

    // A refused payload is a 400 and no run.
    let r = s
        .http
        .post(s.url(&format!("/api/v1/sdk/users/{user}/sync")))
        .header(KEY_HEADER, &key)
        .json(&json!({"provider": "nokia", "data": {}}))
        .send()
        .await
        .expect("push");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    s.state.jobs_idle().await;
    assert_eq!(
        user_runs(&s, &key, &user)
            .await
            .as_array()
            .expect("runs")
            .len(),
        2
    );
    assert_eq!(rx.got().len(), 4);
}

mod embedded {
    use super::*;

    #[tokio::test]
    async fn sdk_pushes_are_sync_runs() {
        super::sdk_pushes_are_sync_runs(Storage::Embedded).await;
    }

    #[tokio::test]
    async fn sdk_push_delivers_signed_events() {
        super::sdk_push_delivers_signed_events(Storage::Embedded).await;
    }

    #[tokio::test]
    async fn failures_are_retried_until_success() {
        super::failures_are_retried_until_success(Storage::Embedded).await;
    }

    #[tokio::test]
    async fn management_routes() {
        super::management_routes(Storage::Embedded).await;
    }
}

mod dynamodb {
    use super::*;

    #[tokio::test]
    async fn sdk_pushes_are_sync_runs() {
        super::sdk_pushes_are_sync_runs(Storage::Dynamo).await;
    }

    #[tokio::test]
    async fn sdk_push_delivers_signed_events() {
        super::sdk_push_delivers_signed_events(Storage::Dynamo).await;
    }

    #[tokio::test]
    async fn failures_are_retried_until_success() {
        super::failures_are_retried_until_success(Storage::Dynamo).await;
    }

    #[tokio::test]
    async fn management_routes() {
        super::management_routes(Storage::Dynamo).await;
    }
}

/// An OAuth connect against the Oura fake: `connection.created`, the backfill's
/// `sync.started`/`sync.completed` and `workout.created`; a disconnect: `connection.revoked`.
#[tokio::test]
async fn a_provider_connect_and_backfill_emit_connection_sync_and_workout_events() {
    let rig = ow_e2e::providers::Rig::start("oura").await;
    let rx = Receiver::start(&[]).await;
    let jwt = rig.developer_token().await;
    let r = rig
        .http
        .post(rig.url("/api/v1/webhooks/endpoints"))
        .bearer_auth(&jwt)
        .json(&json!({"url": rx.url, "filter_types": [
            "connection.created", "connection.revoked", "sync.started", "sync.completed",
            "sync.failed", "workout.created"]}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), StatusCode::CREATED);
    let user = rig.connected_user().await;
    let has = |g: &[Received], t: &str| g.iter().any(|r| r.json()["type"] == t);
    let got = rx
        .wait_for("connect, sync and workout events", |g| {
            [
                "connection.created",
                "sync.started",
                "sync.completed",
                "workout.created",
            ]
            .iter()
            .all(|t| has(g, t))
        })
        .await;
    let created = got
        .iter()
        .find(|r| r.json()["type"] == "connection.created")
        .expect("created")
        .json();
    assert_eq!(created["data"]["user_id"], user.as_str());
    assert_eq!(created["data"]["provider"], "oura");
    let done = got
        .iter()
        .find(|r| r.json()["type"] == "sync.completed")
        .expect("completed")
        .json();
    assert_eq!(done["data"]["provider"], "oura");
    assert_eq!(done["data"]["source"], "pull");
    assert!(done["data"]["items_processed"].as_i64().is_some());
    let workout = got
        .iter()
        .find(|r| r.json()["type"] == "workout.created")
        .expect("workout")
        .json();
    assert_eq!(workout["data"]["type"], "running");
    assert_eq!(workout["data"]["calories_kcal"], 412.0);
    assert_eq!(workout["data"]["source"]["provider"], "oura");
    assert!(
        !has(&got, "heart_rate.created"),
        "filter_types are respected"
    );

    let del = rig
        .call(
            "DELETE",
            &format!("/api/v1/users/{user}/connections/oura"),
            None,
        )
        .await;
    assert!(del.status.is_success(), "{del:?}");
    let got = rx
        .wait_for("connection.revoked", |g| has(g, "connection.revoked"))
        .await;
    let revoked = got
        .iter()
        .find(|r| r.json()["type"] == "connection.revoked")
        .expect("revoked")
        .json();
    assert_eq!(revoked["data"]["reason"], "user_disconnected");
}

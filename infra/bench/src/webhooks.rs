//! `--webhooks`: outgoing webhooks on the `open-wearables` server process, with a receiver in
//! this process on loopback (answers 200 at once).
//!
//! 1. SDK ingest as fast as one client can push (1,000-record heart-rate batches in sequence),
//!    on a fresh server without any endpoint, then on a fresh server with one endpoint that
//!    takes every event: records/s of both and their ratio (same run), and how fast the
//!    events of that burst were delivered (events/s from the first push to the last delivery).
//! 2. A paced load of about 1,000 SDK records/s (ten 100-record pushes a second, ten users in
//!    turn) with the endpoint registered: events delivered per second, and event-to-delivery
//!    latency p50/p99, from the start of the push that caused the event to its arrival at the
//!    receiver (the group and granular heart-rate events; the runs' `sync.*` events are
//!    counted, not timed).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::{Server, own_binary, start};

type BoxError = Box<dyn std::error::Error>;

/// What the receiver saw: per event, its type, its batch key and when it arrived.
#[derive(Default)]
struct Inbox {
    got: Vec<(String, Option<String>, Instant)>,
}

async fn receive(
    axum::extract::State(inbox): axum::extract::State<Arc<Mutex<Inbox>>>,
    body: axum::body::Bytes,
) -> &'static str {
    let at = Instant::now();
    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
    let kind = v["type"].as_str().unwrap_or_default().to_string();
    // The series events carry the batch's first sample time: the key of the push.
    let key = v["data"]["start_time"].as_str().map(str::to_string);
    if let Ok(mut i) = inbox.lock() {
        i.got.push((kind, key, at));
    }
    "ok"
}

async fn receiver() -> Result<(String, Arc<Mutex<Inbox>>), BoxError> {
    let inbox = Arc::new(Mutex::new(Inbox::default()));
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, inbox))
}

struct Session {
    server: Server,
    http: reqwest::Client,
    jwt: String,
    key: String,
}

impl Session {
    async fn open() -> Result<Self, BoxError> {
        let server = start(&own_binary()?).await?;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .timeout(Duration::from_secs(60))
            .build()?;
        let b = &server.base;
        let (jwt, key) = crate::http::credentials(&http, b).await?;
        Ok(Self {
            server,
            http,
            jwt,
            key,
        })
    }

    async fn user(&self) -> Result<String, BoxError> {
        let u: Value = self
            .http
            .post(format!("{}/api/v1/users", self.server.base))
            .header("X-Open-Wearables-API-Key", &self.key)
            .json(&json!({}))
            .send()
            .await?
            .json()
            .await?;
        Ok(u["id"].as_str().ok_or("user")?.to_string())
    }

    async fn endpoint(&self, url: &str) -> Result<(), BoxError> {
        let r = self
            .http
            .post(format!("{}/api/v1/webhooks/endpoints", self.server.base))
            .bearer_auth(&self.jwt)
            .json(&json!({"url": url}))
            .send()
            .await?;
        if r.status().as_u16() != 201 {
            return Err(format!("endpoint not created: {}", r.status()).into());
        }
        Ok(())
    }

    async fn push(&self, user: &str, body: String) -> Result<(), BoxError> {
        let r = self
            .http
            .post(format!("{}/api/v1/sdk/users/{user}/sync", self.server.base))
            .header("X-Open-Wearables-API-Key", &self.key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        if r.status().as_u16() != 202 {
            return Err(format!("push answered {}", r.status()).into());
        }
        Ok(())
    }
}

/// `n` heart-rate records a second apart from `t0`, and the `start_time` the events of the
/// batch carry.
fn batch(n: usize, t0: chrono::DateTime<chrono::Utc>) -> (String, String) {
    let records: Vec<Value> = (0..n)
        .map(|i| {
            let t = (t0 + chrono::Duration::seconds(i as i64))
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            json!({"type": "HKQuantityTypeIdentifierHeartRate", "unit": "count/min",
                   "value": 60 + i % 40, "startDate": t, "endDate": t, "zoneOffset": "+00:00",
                   "source": {"name": "Bench Watch", "deviceModel": "Watch7,5"}})
        })
        .collect();
    let body =
        json!({"provider": "apple", "sdkVersion": "1.0.0", "syncTimestamp": "2025-03-02T00:00:00Z",
                      "data": {"records": records}})
        .to_string();
    (body, t0.format("%Y-%m-%dT%H:%M:%S+00:00").to_string())
}

/// Pushes `batches` 1,000-record batches in sequence into one user; answers records/s.
async fn burst(s: &Session, batches: usize) -> Result<f64, BoxError> {
    let user = s.user().await?;
    let t0 = chrono::DateTime::parse_from_rfc3339("2025-03-01T00:00:00Z")?.to_utc();
    let bodies: Vec<String> = (0..batches)
        .map(|i| batch(1000, t0 + chrono::Duration::seconds(1000 * i as i64)).0)
        .collect();
    let t = Instant::now();
    for b in bodies {
        s.push(&user, b).await?;
    }
    Ok((batches * 1000) as f64 / t.elapsed().as_secs_f64())
}

async fn wait_for(inbox: &Arc<Mutex<Inbox>>, n: usize, limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        let have = inbox.lock().map(|i| i.got.len()).unwrap_or(0);
        if have >= n || Instant::now() > deadline {
            return have;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0)
}

/// Events per push: the group and the granular heart-rate event, `sync.started` and
/// `sync.completed`.
const EVENTS_PER_PUSH: usize = 4;

pub async fn run(quick: bool) -> Result<(), BoxError> {
    let batches = if quick { 10 } else { 40 };
    println!("== Outgoing webhooks, server process (`server` profile), receiver on loopback");

    // 1. Burst ingest without, then with an endpoint (fresh servers, same run).
    let plain = Session::open().await?;
    let without = burst(&plain, batches).await?;
    drop(plain);
    let (url, inbox) = receiver().await?;
    let s = Session::open().await?;
    s.endpoint(&url).await?;
    let t = Instant::now();
    let with = burst(&s, batches).await?;
    let want = batches * EVENTS_PER_PUSH;
    let got = wait_for(&inbox, want, Duration::from_secs(120)).await;
    let burst_events = got as f64 / t.elapsed().as_secs_f64();
    println!(
        "   SDK ingest, one client, {batches} pushes of 1,000 records in sequence: {without:.0} records/s without an endpoint, {with:.0} records/s with one ({:.2}x)",
        with / without.max(1e-9)
    );
    println!(
        "   that burst's {want} events: {got} delivered, {burst_events:.0} events/s from the first push to the last delivery"
    );

    // 2. Paced: ten 100-record pushes a second for `secs` seconds, ten users in turn.
    let secs = if quick { 5 } else { 20 };
    let mut users = Vec::new();
    for _ in 0..10 {
        users.push(s.user().await?);
    }
    if let Ok(mut i) = inbox.lock() {
        i.got.clear();
    }
    let t0 = chrono::DateTime::parse_from_rfc3339("2025-04-01T00:00:00Z")?.to_utc();
    let pushes = secs * 10;
    let mut sent: HashMap<String, Instant> = HashMap::new();
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..pushes {
        tick.tick().await;
        let (body, key) = batch(100, t0 + chrono::Duration::seconds(100 * i as i64));
        sent.insert(key, Instant::now());
        let (http, url, api_key) = (
            s.http.clone(),
            format!("{}/api/v1/sdk/users/{}/sync", s.server.base, users[i % 10]),
            s.key.clone(),
        );
        set.spawn(async move {
            http.post(url)
                .header("X-Open-Wearables-API-Key", api_key)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .is_ok_and(|r| r.status().as_u16() == 202)
        });
    }
    let mut accepted = 0;
    while let Some(r) = set.join_next().await {
        accepted += usize::from(r.unwrap_or(false));
    }
    let pushed_for = start.elapsed().as_secs_f64();
    let want = pushes * EVENTS_PER_PUSH;
    let got = wait_for(&inbox, want, Duration::from_secs(120)).await;
    let all = start.elapsed().as_secs_f64();
    let mut lat: Vec<f64> = inbox
        .lock()
        .map(|i| {
            i.got
                .iter()
                .filter(|(kind, _, _)| !kind.starts_with("sync."))
                .filter_map(|(_, key, at)| {
                    let s = sent.get(key.as_deref()?)?;
                    Some(at.saturating_duration_since(*s).as_secs_f64() * 1000.0)
                })
                .collect()
        })
        .unwrap_or_default();
    lat.sort_by(f64::total_cmp);
    println!(
        "   paced, {:.0} records/s for {pushed_for:.1} s ({accepted} of {pushes} pushes of 100 records accepted): {got} of {want} events delivered, {:.0} events/s",
        (accepted * 100) as f64 / pushed_for,
        got as f64 / all
    );
    println!(
        "   event-to-delivery latency (push start to arrival, {} heart-rate events): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lat.len(),
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat.last().copied().unwrap_or(0.0)
    );
    if let Some(rss) = s.server.peak_rss_mb() {
        println!("   server peak RSS {rss:.1} MB");
    }
    Ok(())
}

//! HTTP benchmarks against the release `open-wearables` binary, run as its own process.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

type BoxError = Box<dyn std::error::Error>;

/// The reference stack's figures on this machine class (design.md), for context only: they
/// were not measured in this run.
const REFERENCE: [(&str, f64); 4] = [
    ("GET user", 430.0),
    ("timeseries page (day of 1 Hz HR)", 29.0),
    ("30-day activity summary", 3.0),
    ("SDK ingest records/s", 3300.0),
];

struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn peak_rss_mb(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    }
}

async fn start() -> Result<Server, BoxError> {
    let exe = std::env::current_exe()?;
    let bin = exe.with_file_name("open-wearables");
    if !bin.exists() {
        return Err(format!(
            "{} not found: build it with `cargo build --release --bin open-wearables`",
            bin.display()
        )
        .into());
    }
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(&bin)
        .env("OW_DATA_DIR", dir.path())
        .env("PORT", port.to_string())
        .env("ADMIN_EMAIL", "bench@example.com")
        .env("ADMIN_PASSWORD", "bench-password")
        .env("RUST_LOG", "warn")
        .env_remove("OW_TABLE_NAME")
        .env_remove("OW_STORE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let base = format!("http://127.0.0.1:{port}");
    let server = Server {
        child,
        base,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("{}/", server.base)).await.is_err() {
        if Instant::now() > deadline {
            return Err("server did not start".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(server)
}

fn record(kind: &str, value: f64, at: chrono::DateTime<chrono::Utc>) -> Value {
    let t = at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    json!({"type": kind, "unit": "count/min", "value": value, "startDate": t, "endDate": t, "zoneOffset": "+01:00",
           "source": {"name": "Bench Watch", "deviceModel": "Watch", "productType": "Watch7,5"}})
}

fn payload(records: Vec<Value>) -> String {
    json!({"provider": "apple", "sdkVersion": "1.0.0", "syncTimestamp": "2025-03-02T00:00:00Z", "data": {"records": records}}).to_string()
}

struct Load {
    rps: f64,
    p50: f64,
    p99: f64,
    errors: usize,
}

/// `clients` concurrent loops of GET `url` for `secs` seconds.
async fn load(http: &reqwest::Client, url: String, key: &str, clients: usize, secs: f64) -> Load {
    let url = Arc::new(url);
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (http, url, key) = (http.clone(), url.clone(), key.to_string());
        set.spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            while Instant::now() < deadline {
                let t = Instant::now();
                match http
                    .get(url.as_str())
                    .header("X-Open-Wearables-API-Key", &key)
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors)
        });
    }
    let mut all = Vec::new();
    let mut errors = 0;
    while let Some(Ok((lat, e))) = set.join_next().await {
        all.extend(lat);
        errors += e;
    }
    all.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    Load {
        rps: all.len() as f64 / secs,
        p50: pct(0.5),
        p99: pct(0.99),
        errors,
    }
}

pub async fn run(quick: bool) -> Result<(), BoxError> {
    let server = start().await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let b = server.base.clone();
    let login: Value = http
        .post(format!("{b}/api/v1/auth/login"))
        .form(&[
            ("username", "bench@example.com"),
            ("password", "bench-password"),
        ])
        .send()
        .await?
        .json()
        .await?;
    let jwt = login["access_token"].as_str().ok_or("login")?.to_string();
    let key: Value = http
        .post(format!("{b}/api/v1/developer/api-keys"))
        .bearer_auth(&jwt)
        .send()
        .await?
        .json()
        .await?;
    let key = key["id"].as_str().ok_or("key")?.to_string();
    let user: Value = http
        .post(format!("{b}/api/v1/users"))
        .header("X-Open-Wearables-API-Key", &key)
        .json(&json!({}))
        .send()
        .await?
        .json()
        .await?;
    let user = user["id"].as_str().ok_or("user")?.to_string();

    // Ingest: a day of 1 Hz heart rate plus 30 days of per-minute steps, in batches of 5,000
    // records, 4 concurrent uploaders.
    let day0 = chrono::DateTime::parse_from_rfc3339("2025-03-01T00:00:00Z")?.to_utc();
    let mut bodies = Vec::new();
    let hr: Vec<Value> = (0..86_400)
        .map(|s| {
            record(
                "HKQuantityTypeIdentifierHeartRate",
                60.0 + (s % 40) as f64,
                day0 + chrono::Duration::seconds(s),
            )
        })
        .collect();
    for c in hr.chunks(5000) {
        bodies.push(payload(c.to_vec()));
    }
    let days = if quick { 10 } else { 30 };
    let steps: Vec<Value> = (0..days * 1440)
        .map(|m| {
            record(
                "HKQuantityTypeIdentifierStepCount",
                (m % 60) as f64,
                day0 - chrono::Duration::days(days - 1) + chrono::Duration::minutes(m),
            )
        })
        .collect();
    for c in steps.chunks(5000) {
        bodies.push(payload(c.to_vec()));
    }
    let records = hr.len() + steps.len();
    let bodies = Arc::new(bodies);
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for w in 0..4 {
        let (http, bodies, url, key) = (
            http.clone(),
            bodies.clone(),
            format!("{b}/api/v1/sdk/users/{user}/sync"),
            key.clone(),
        );
        set.spawn(async move {
            let mut ok = 0;
            for body in bodies.iter().skip(w).step_by(4) {
                let r = http
                    .post(&url)
                    .header("X-Open-Wearables-API-Key", &key)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                if r.is_ok_and(|r| r.status().as_u16() == 202) {
                    ok += 1;
                }
            }
            ok
        });
    }
    let mut accepted = 0;
    while let Some(Ok(n)) = set.join_next().await {
        accepted += n;
    }
    let ingest = records as f64 / t.elapsed().as_secs_f64();
    if accepted != bodies.len() {
        return Err(format!("only {accepted} of {} batches were accepted", bodies.len()).into());
    }
    // Let the roll-up jobs finish before reading summaries.
    tokio::time::sleep(Duration::from_millis(if quick { 1000 } else { 3000 })).await;

    let secs = if quick { 2.0 } else { 5.0 };
    let user_url = format!("{b}/api/v1/users/{user}");
    let ts_url = format!(
        "{b}/api/v1/users/{user}/timeseries?start_time=2025-03-01T00:00:00Z&end_time=2025-03-02T00:00:00Z&types=heart_rate&limit=100"
    );
    let sum_url = format!(
        "{b}/api/v1/users/{user}/summaries/activity?start_date={}&end_date=2025-03-02",
        (day0 - chrono::Duration::days(29)).date_naive()
    );
    let check: Value = http
        .get(&sum_url)
        .header("X-Open-Wearables-API-Key", &key)
        .send()
        .await?
        .json()
        .await?;
    let summary_days = check["data"].as_array().map_or(0, Vec::len);
    let ts_check: Value = http
        .get(&ts_url)
        .header("X-Open-Wearables-API-Key", &key)
        .send()
        .await?
        .json()
        .await?;
    let results = [
        ("GET user", load(&http, user_url, &key, 32, secs).await),
        (
            "timeseries page (day of 1 Hz HR)",
            load(&http, ts_url, &key, 32, secs).await,
        ),
        (
            "30-day activity summary",
            load(&http, sum_url, &key, 32, secs).await,
        ),
    ];
    println!(
        "== HTTP, release server process, 32 concurrent clients (load generator on the same 2 cores)"
    );
    println!(
        "   SDK ingest: {records} records in {} batches of 5,000 via 4 uploaders: {ingest:.0} records/s  (reference {:.0}/s: {:.0}x)",
        bodies.len(),
        REFERENCE[3].1,
        ingest / REFERENCE[3].1
    );
    println!(
        "   timeseries total_count = {}, activity summary days = {summary_days}",
        ts_check["pagination"]["total_count"]
    );
    for (name, l) in &results {
        let reference = REFERENCE
            .iter()
            .find(|(n, _)| n == name)
            .map_or(1.0, |r| r.1);
        println!(
            "   {name:<34} {:>9.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  errors {}  (reference {reference} req/s: {:.0}x)",
            l.rps,
            l.p50,
            l.p99,
            l.errors,
            l.rps / reference
        );
    }
    if let Some(rss) = server.peak_rss_mb() {
        println!("   server peak RSS {rss:.1} MB (budget 40 MB; reference ~330 MB per process)");
    }
    println!(
        "   reference figures are design.md's measurements of FastAPI + PostgreSQL + Celery on this machine class, not from this run"
    );
    Ok(())
}

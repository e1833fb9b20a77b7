//! HTTP benchmarks against the `open-wearables` binary (`server` profile), run as its own process.

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

pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Resets the kernel's peak-RSS mark of the server (`/proc/<pid>/clear_refs`, value 5), so
    /// that the next [`Server::peak_rss_mb`] is the peak of the phase that follows.
    fn reset_peak_rss(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
    }

    pub(crate) fn peak_rss_mb(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    }
}

/// The server binary built next to this benchmark.
pub(crate) fn own_binary() -> Result<std::path::PathBuf, BoxError> {
    Ok(std::env::current_exe()?.with_file_name("open-wearables"))
}

pub(crate) async fn start(bin: &std::path::Path) -> Result<Server, BoxError> {
    if !bin.exists() {
        return Err(format!(
            "{} not found: build it with `cargo build --profile server --bin open-wearables`",
            bin.display()
        )
        .into());
    }
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(bin)
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

/// What one run of the scenario measured on one server binary.
struct Figures {
    /// SDK ingest, 4 concurrent uploaders of 5,000-record batches, records/s.
    ingest_parallel: f64,
    /// SDK ingest, one client posting 2,000-record batches one after the other, records/s.
    ingest_sequential: f64,
    records: usize,
    batches: usize,
    ts_total: Value,
    summary_days: usize,
    rows: Vec<(String, Load)>,
    /// Peak RSS of the whole run, then per phase (`(phase, MB)`).
    rss_mb: Option<f64>,
    phase_rss: Vec<(&'static str, Option<f64>)>,
}

async fn post_all(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    bodies: &[String],
) -> Result<usize, BoxError> {
    let mut ok = 0;
    for body in bodies {
        let r = http
            .post(url)
            .header("X-Open-Wearables-API-Key", key)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        if r.is_ok_and(|r| r.status().as_u16() == 202) {
            ok += 1;
        }
    }
    Ok(ok)
}

/// Logs in as the bench developer and creates an API key: `(jwt, key)`.
pub(crate) async fn credentials(
    http: &reqwest::Client,
    base: &str,
) -> Result<(String, String), BoxError> {
    let login: Value = http
        .post(format!("{base}/api/v1/auth/login"))
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
        .post(format!("{base}/api/v1/developer/api-keys"))
        .bearer_auth(&jwt)
        .send()
        .await?
        .json()
        .await?;
    let key = key["id"].as_str().ok_or("key")?.to_string();
    Ok((jwt, key))
}

async fn scenario(bin: &std::path::Path, quick: bool) -> Result<Figures, BoxError> {
    let server = start(bin).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let b = server.base.clone();
    let (_, key) = credentials(&http, &b).await?;
    let mut users = Vec::new();
    for _ in 0..2 {
        let user: Value = http
            .post(format!("{b}/api/v1/users"))
            .header("X-Open-Wearables-API-Key", &key)
            .json(&json!({}))
            .send()
            .await?
            .json()
            .await?;
        users.push(user["id"].as_str().ok_or("user")?.to_string());
    }
    let (user, seq_user) = (users[0].clone(), users[1].clone());

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
    let hr_minutes: Vec<Value> = (0..days * 1440)
        .map(|m| {
            record(
                "HKQuantityTypeIdentifierHeartRate",
                55.0 + (m % 50) as f64,
                day0 - chrono::Duration::days(days) + chrono::Duration::minutes(m),
            )
        })
        .collect();
    for c in hr_minutes.chunks(5000) {
        bodies.push(payload(c.to_vec()));
    }
    let records = hr.len() + steps.len() + hr_minutes.len();
    let mut phase_rss = Vec::new();
    server.reset_peak_rss();
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
            let mine: Vec<String> = bodies.iter().skip(w).step_by(4).cloned().collect();
            post_all(&http, &url, &key, &mine).await.unwrap_or(0)
        });
    }
    let mut accepted = 0;
    while let Some(Ok(n)) = set.join_next().await {
        accepted += n;
    }
    let ingest_parallel = records as f64 / t.elapsed().as_secs_f64();
    if accepted != bodies.len() {
        return Err(format!("only {accepted} of {} batches were accepted", bodies.len()).into());
    }
    phase_rss.push(("ingest, 4 uploaders", server.peak_rss_mb()));
    server.reset_peak_rss();

    // The same records from one client in 2,000-record batches, one push after the other, into
    // a second user (the path a phone takes).
    let seq_bodies: Vec<String> = hr
        .chunks(2000)
        .chain(steps.chunks(2000))
        .chain(hr_minutes.chunks(2000))
        .map(|c| payload(c.to_vec()))
        .collect();
    let t = Instant::now();
    let seq_ok = post_all(
        &http,
        &format!("{b}/api/v1/sdk/users/{seq_user}/sync"),
        &key,
        &seq_bodies,
    )
    .await?;
    let ingest_sequential = records as f64 / t.elapsed().as_secs_f64();
    if seq_ok != seq_bodies.len() {
        return Err(format!(
            "only {seq_ok} of {} sequential batches were accepted",
            seq_bodies.len()
        )
        .into());
    }
    // Let the roll-up jobs finish before reading summaries.
    tokio::time::sleep(Duration::from_millis(if quick { 1000 } else { 3000 })).await;
    phase_rss.push(("ingest, one client in sequence", server.peak_rss_mb()));
    server.reset_peak_rss();

    let secs = if quick { 2.0 } else { 5.0 };
    let user_url = format!("{b}/api/v1/users/{user}");
    let ts_url = format!(
        "{b}/api/v1/users/{user}/timeseries?start_time=2025-03-01T00:00:00Z&end_time=2025-03-02T00:00:00Z&types=heart_rate&limit=100"
    );
    let bucketed = |from: String, res: &str| {
        format!(
            "{b}/api/v1/users/{user}/timeseries?start_time={from}&end_time=2025-03-02T00:00:00Z&types=heart_rate&resolution={res}&limit=100"
        )
    };
    let day_start = "2025-03-01T00:00:00Z".to_string();
    let month_start = format!(
        "{}T00:00:00Z",
        (day0 - chrono::Duration::days(days)).date_naive()
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
    let month = format!("{days} days");
    let targets = [
        ("GET user".to_string(), user_url),
        ("timeseries page (day of 1 Hz HR)".to_string(), ts_url),
        (
            "timeseries, that day, 1hour".to_string(),
            bucketed(day_start.clone(), "1hour"),
        ),
        (
            "timeseries, that day, 15min".to_string(),
            bucketed(day_start, "15min"),
        ),
        (
            format!("timeseries, {month} of HR, 1hour"),
            bucketed(month_start.clone(), "1hour"),
        ),
        (
            format!("timeseries, {month} of HR, 15min"),
            bucketed(month_start, "15min"),
        ),
        ("30-day activity summary".to_string(), sum_url),
    ];
    let mut rows = Vec::new();
    for (name, url) in targets {
        for clients in [8, 32] {
            let l = load(&http, url.clone(), &key, clients, secs).await;
            rows.push((format!("{name}, c={clients}"), l));
        }
    }
    phase_rss.push(("reads", server.peak_rss_mb()));
    Ok(Figures {
        ingest_parallel,
        ingest_sequential,
        records,
        batches: bodies.len(),
        ts_total: ts_check["pagination"]["total_count"].clone(),
        summary_days,
        rows,
        rss_mb: phase_rss.iter().filter_map(|p| p.1).reduce(f64::max),
        phase_rss,
    })
}

/// `current / baseline` as text, or nothing without a baseline.
fn versus(current: f64, baseline: Option<f64>) -> String {
    match baseline {
        Some(b) if b > 0.0 => format!("  vs baseline {:.2}x", current / b),
        _ => String::new(),
    }
}

/// Runs the HTTP scenario on this build's server and, when `OW_BENCH_BASELINE` names another
/// `open-wearables` binary (e.g. the previous commit's, see `infra/bench-compare.sh`), on that
/// one first, in the same run, and prints the ratios.
pub async fn run(quick: bool) -> Result<(), BoxError> {
    let baseline_bin = std::env::var_os("OW_BENCH_BASELINE").map(std::path::PathBuf::from);
    let baseline = match &baseline_bin {
        Some(bin) => Some(scenario(bin, quick).await?),
        None => None,
    };
    let f = scenario(&own_binary()?, quick).await?;
    println!(
        "== HTTP, server process (`server` profile), 8 and 32 concurrent clients (load generator on the same 2 cores)"
    );
    if let Some(bin) = &baseline_bin {
        println!(
            "   baseline: {} (measured first, same run; ratios > 1 mean this build is faster)",
            bin.display()
        );
    }
    let base = baseline.as_ref();
    println!(
        "   SDK ingest: {} records (a day of 1 Hz HR, 30 days of per-minute HR and steps) in {} batches of 5,000 via 4 uploaders: {:.0} records/s  (reference {:.0}/s: {:.0}x){}",
        f.records,
        f.batches,
        f.ingest_parallel,
        REFERENCE[3].1,
        f.ingest_parallel / REFERENCE[3].1,
        versus(f.ingest_parallel, base.map(|b| b.ingest_parallel))
    );
    println!(
        "   SDK ingest, one client, 2,000-record batches in sequence: {:.0} records/s ({:.1} us/record){}",
        f.ingest_sequential,
        1e6 / f.ingest_sequential.max(1.0),
        versus(f.ingest_sequential, base.map(|b| b.ingest_sequential))
    );
    println!(
        "   timeseries total_count = {}, activity summary days = {}",
        f.ts_total, f.summary_days
    );
    for (name, l) in &f.rows {
        let reference = REFERENCE
            .iter()
            .find(|(n, _)| name.strip_suffix(", c=32") == Some(*n))
            .map(|r| format!("  (reference {} req/s: {:.0}x)", r.1, l.rps / r.1))
            .unwrap_or_default();
        let b = base.and_then(|b| b.rows.iter().find(|(n, _)| n == name).map(|(_, l)| l));
        let vs = match b {
            Some(b) => format!(
                "  vs baseline {:.2}x req/s, p99 {:.2} -> {:.2} ms",
                l.rps / b.rps.max(1e-9),
                b.p99,
                l.p99
            ),
            None => String::new(),
        };
        println!(
            "   {name:<44} {:>9.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  errors {}{reference}{vs}",
            l.rps, l.p50, l.p99, l.errors
        );
    }
    if let Some(rss) = f.rss_mb {
        let vs = match base.and_then(|b| b.rss_mb) {
            Some(b) => format!(" (baseline {b:.1} MB)"),
            None => String::new(),
        };
        println!(
            "   server peak RSS {rss:.1} MB{vs} (budget 40 MB; reference ~330 MB per process)"
        );
    }
    for (phase, rss) in &f.phase_rss {
        let b = base.and_then(|b| {
            b.phase_rss
                .iter()
                .find(|(p, _)| p == phase)
                .and_then(|p| p.1)
        });
        let vs = b
            .map(|b| format!(" (baseline {b:.1} MB)"))
            .unwrap_or_default();
        if let Some(rss) = rss {
            println!("     peak RSS during {phase}: {rss:.1} MB{vs}");
        }
    }
    println!(
        "   reference figures are design.md's measurements of FastAPI + PostgreSQL + Celery on this machine class, not from this run"
    );
    Ok(())
}

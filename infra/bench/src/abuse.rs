//! `ow-abuse`: the denial-of-service half of the abuse check (issue #9), against the local
//! `open-wearables` server run as its own process on a temporary data directory. Prints:
//! 1. idle-connection floods (two rounds on one server): connections that send a partial request head and wait;
//!    the server's open sockets and RSS before, during, after one header timeout, and after
//!    the clients close; whether a normal request is served meanwhile;
//! 2. GET `/` p50/p99 without and during a flood of concurrent bad logins, with the default
//!    login limits and with the limits off (hashing pool only), and the server's RSS.
//!
//! Usage: `ow-abuse [--server PATH] [--flood N] [--rounds N] [--logins N] [--secs S]`; normally run by
//! `infra/abuse-check.sh`, which builds the server and raises the open-file limit.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

type BoxError = Box<dyn std::error::Error>;

/// Header-read timeout given to the server, so the bench knows when to look again.
const HEADER_TIMEOUT_SECS: u64 = 10;

struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn status_kb(&self, field: &str) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with(field))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0.0)
    }
    fn rss_mb(&self) -> f64 {
        self.status_kb("VmRSS:") / 1024.0
    }
    fn peak_mb(&self) -> f64 {
        self.status_kb("VmHWM:") / 1024.0
    }
    /// Open sockets of the server process (its listener included).
    fn sockets(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| {
                        std::fs::read_link(e.path())
                            .is_ok_and(|t| t.to_string_lossy().starts_with("socket:"))
                    })
                    .count()
            })
            .unwrap_or(0)
    }
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

async fn start(bin: &str, env: &[(&str, String)]) -> Result<Server, BoxError> {
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut cmd = Command::new(bin);
    cmd.env("OW_DATA_DIR", dir.path())
        .env("PORT", port.to_string())
        .env("ADMIN_EMAIL", "abuse@example.com")
        .env("ADMIN_PASSWORD", "abuse-password")
        .env(
            "OW_HEADER_READ_TIMEOUT_SECONDS",
            HEADER_TIMEOUT_SECS.to_string(),
        )
        .env("RUST_LOG", "error")
        .env_remove("OW_TABLE_NAME")
        .env_remove("OW_STORE")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let server = Server {
        child: cmd.spawn()?,
        port,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(server.url("/")).await.is_err() {
        if Instant::now() > deadline {
            return Err("server did not start".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(server)
}

/// Connections the server has not closed (a readable EOF or an error means closed).
fn still_open(conns: &[TcpStream]) -> usize {
    let mut buf = [0u8; 256];
    conns
        .iter()
        .filter(|c| matches!(c.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock))
        .count()
}

async fn timed_get(http: &reqwest::Client, url: &str) -> String {
    let t = Instant::now();
    match tokio::time::timeout(Duration::from_secs(30), http.get(url).send()).await {
        Ok(Ok(r)) => format!(
            "{} in {:.0} ms",
            r.status().as_u16(),
            t.elapsed().as_secs_f64() * 1e3
        ),
        Ok(Err(e)) => format!("failed: {e}"),
        Err(_) => "no answer in 30 s".into(),
    }
}

async fn idle_flood(bin: &str, n: usize, rounds: usize) -> Result<(), BoxError> {
    let srv = start(bin, &[]).await?;
    for round in 1..=rounds {
        println!(
            "idle-connection flood {round}/{rounds}: {n} connections sending a partial request head"
        );
        flood_round(&srv, n).await?;
    }
    Ok(())
}

async fn flood_round(srv: &Server, n: usize) -> Result<(), BoxError> {
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    println!(
        "  before:                  server sockets {:>6}, RSS {:>7.1} MB",
        srv.sockets(),
        srv.rss_mb()
    );
    let port = srv.port;
    let gate = Arc::new(tokio::sync::Semaphore::new(512));
    let failed = Arc::new(AtomicUsize::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (gate, failed) = (gate.clone(), failed.clone());
        set.spawn(async move {
            let _p = gate.acquire_owned().await.ok()?;
            let c = tokio::time::timeout(
                Duration::from_secs(3),
                TcpStream::connect(("127.0.0.1", port)),
            )
            .await;
            match c {
                Ok(Ok(mut s)) => {
                    if s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                        .await
                        .is_ok()
                    {
                        return Some(s);
                    }
                    failed.fetch_add(1, Ordering::Relaxed);
                    None
                }
                _ => {
                    failed.fetch_add(1, Ordering::Relaxed);
                    None
                }
            }
        });
    }
    let mut conns = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        if let Ok(Some(s)) = r {
            conns.push(s);
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!(
        "  during:                  server sockets {:>6}, RSS {:>7.1} MB; client: {} connected, {} open, {} connects failed",
        srv.sockets(),
        srv.rss_mb(),
        conns.len(),
        still_open(&conns),
        failed.load(Ordering::Relaxed)
    );
    println!(
        "  a normal GET / during the flood: {}",
        timed_get(&fresh, &srv.url("/")).await
    );
    tokio::time::sleep(Duration::from_secs(HEADER_TIMEOUT_SECS + 2)).await;
    println!(
        "  after one header timeout: server sockets {:>6}, RSS {:>7.1} MB; client: {} still open",
        srv.sockets(),
        srv.rss_mb(),
        still_open(&conns)
    );
    drop(conns);
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!(
        "  after the clients close: server sockets {:>6}, RSS {:>7.1} MB (peak {:.1} MB)",
        srv.sockets(),
        srv.rss_mb(),
        srv.peak_mb()
    );
    println!(
        "  a normal GET / afterwards: {}",
        timed_get(&fresh, &srv.url("/")).await
    );
    Ok(())
}

fn percentiles(mut v: Vec<f64>) -> (f64, f64, usize) {
    v.sort_by(f64::total_cmp);
    let at = |p: f64| {
        v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    (at(0.5), at(0.99), v.len())
}

/// GET `/` from 4 concurrent clients for `secs`: (p50 ms, p99 ms, requests).
async fn get_latency(url: &str, secs: f64) -> (f64, f64, usize) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (http, url) = (http.clone(), url.to_string());
        set.spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                if let Ok(r) = http.get(&url).send().await {
                    let _ = r.bytes().await;
                    lat.push(t.elapsed().as_secs_f64() * 1e3);
                }
            }
            lat
        });
    }
    let mut all = Vec::new();
    while let Some(Ok(l)) = set.join_next().await {
        all.extend(l);
    }
    percentiles(all)
}

async fn login_flood(
    bin: &str,
    label: &str,
    env: &[(&str, String)],
    logins: usize,
    secs: f64,
) -> Result<f64, BoxError> {
    let srv = start(bin, env).await?;
    let root = srv.url("/");
    let (b50, b99, bn) = get_latency(&root, secs).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let codes = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<
        u16,
        usize,
    >::new()));
    let http = reqwest::Client::new();
    let mut flood = tokio::task::JoinSet::new();
    for i in 0..logins {
        let (http, url, stop, codes) = (
            http.clone(),
            srv.url("/api/v1/auth/login"),
            stop.clone(),
            codes.clone(),
        );
        flood.spawn(async move {
            let mut k = 0u64;
            while !stop.load(Ordering::Relaxed) {
                k += 1;
                let form = format!("username=flood{i}-{k}%40example.com&password=wrong-{k}");
                let status = http
                    .post(&url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form)
                    .send()
                    .await
                    .map_or(0, |r| r.status().as_u16());
                if let Ok(mut c) = codes.lock() {
                    *c.entry(status).or_default() += 1;
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (f50, f99, fnum) = get_latency(&root, secs).await;
    stop.store(true, Ordering::Relaxed);
    while flood.join_next().await.is_some() {}
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ratio = if b99 > 0.0 { f99 / b99 } else { 0.0 };
    println!("bad-login flood, {label}: {logins} concurrent bad logins");
    println!("  GET / without flood: p50 {b50:>7.2} ms, p99 {b99:>7.2} ms ({bn} requests)");
    println!(
        "  GET / during flood:  p50 {f50:>7.2} ms, p99 {f99:>7.2} ms ({fnum} requests); p99 ratio {ratio:.1}x"
    );
    let codes = codes.lock().map(|c| format!("{c:?}")).unwrap_or_default();
    println!("  login answers by status: {codes}");
    println!(
        "  server RSS after: {:.1} MB (peak {:.1} MB)",
        srv.rss_mb(),
        srv.peak_mb()
    );
    Ok(ratio)
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() {
    let bin = arg("--server").unwrap_or_else(|| {
        std::env::current_exe()
            .map(|e| e.with_file_name("open-wearables").display().to_string())
            .unwrap_or_default()
    });
    let flood: usize = arg("--flood")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let logins: usize = arg("--logins").and_then(|v| v.parse().ok()).unwrap_or(64);
    let rounds: usize = arg("--rounds").and_then(|v| v.parse().ok()).unwrap_or(2);
    let secs: f64 = arg("--secs").and_then(|v| v.parse().ok()).unwrap_or(5.0);
    println!(
        "ow-abuse against {bin}; {} cores; client open-file limit {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        shared::limits::open_file_limit().map_or("unknown".into(), |n| n.to_string())
    );
    let run = async {
        idle_flood(&bin, flood, rounds).await?;
        login_flood(&bin, "default login limits", &[], logins, secs).await?;
        let off = [
            ("OW_LOGIN_MAX_FAILURES_PER_ACCOUNT", "0".to_string()),
            ("OW_LOGIN_MAX_FAILURES_PER_ADDRESS", "0".to_string()),
        ];
        login_flood(
            &bin,
            "login limits off (hashing pool only)",
            &off,
            logins,
            secs,
        )
        .await?;
        Ok::<(), BoxError>(())
    };
    if let Err(e) = run.await {
        eprintln!("ow-abuse failed: {e}");
        std::process::exit(1);
    }
}

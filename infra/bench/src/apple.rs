//! `ow-bench --apple-import`: a generated `export.xml` of each size in
//! `OW_BENCH_APPLE_MB` (default `100,1000`; `--quick`: `20`) is
//! 1. parsed in this process alone (the domain's pull parser): records/s and MB/s;
//! 2. uploaded to the local server (`server` profile, its own process) through
//!    `/import/apple/xml/direct`, streamed from disk over a plain HTTP/1.1 connection, and
//!    imported: records/s and MB/s end to end (upload start to the run's summary), the
//!    server's peak RSS over upload and import, and the time until the data summary and the
//!    activity summary are readable and settled (derived jobs done).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::http::{credentials, own_binary, start};

type BoxError = Box<dyn std::error::Error>;

const BOUNDARY: &str = "ow-bench-boundary-41c7";

pub async fn run(quick: bool) -> Result<(), BoxError> {
    let sizes: Vec<u64> = std::env::var("OW_BENCH_APPLE_MB")
        .unwrap_or_else(|_| {
            if quick {
                "20".into()
            } else {
                "100,1000".into()
            }
        })
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!(
        "== Apple Health export import (generated export.xml, server profile, 2 cores shared with the load generator)"
    );
    for mb in sizes {
        one(mb).await?;
    }
    Ok(())
}

async fn one(mb: u64) -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("export.xml");
    let t = Instant::now();
    let g = {
        let f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
        ow_fakes::apple_export::write_export(
            f,
            &ow_fakes::apple_export::ExportSpec {
                target_bytes: Some(mb * 1024 * 1024),
                ..Default::default()
            },
        )?
    };
    let size_mb = g.bytes as f64 / (1024.0 * 1024.0);
    println!(
        "   {size_mb:.0} MB: {} records over {} days, {} workouts, {} sleep segments (generated in {:.1}s)",
        g.records,
        g.days,
        g.workouts,
        g.sleep_segments,
        t.elapsed().as_secs_f64()
    );

    // 1. Parse only.
    let t = Instant::now();
    let file = std::io::BufReader::with_capacity(256 * 1024, std::fs::File::open(&path)?);
    let mut reader = shared::domain::apple_export::ExportReader::new(file, Default::default());
    let mut items = 0u64;
    loop {
        match reader.next_item() {
            Ok(Some(_)) => items += 1,
            Ok(None) => break,
            Err(f) => return Err(format!("parse: {f}").into()),
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "      parse only: {} records, {items} items in {secs:.2}s: {:.0} records/s, {:.0} MB/s",
        reader.stats().records,
        reader.stats().records as f64 / secs,
        size_mb / secs
    );

    // 2. Through the server.
    let server = start(&own_binary()?).await?;
    let b = server.base.clone();
    let http = reqwest::Client::new();
    let (_, key) = credentials(&http, &b).await?;
    let user: Value = http
        .post(format!("{b}/api/v1/users"))
        .header("X-Open-Wearables-API-Key", &key)
        .json(&json!({}))
        .send()
        .await?
        .json()
        .await?;
    let user = user["id"].as_str().ok_or("user")?.to_string();
    let idle_rss = server.peak_rss_mb();

    let t = Instant::now();
    let answer = upload(&b, &key, &user, &path).await?;
    let uploaded = t.elapsed().as_secs_f64();
    let task = answer["task_id"]
        .as_str()
        .ok_or_else(|| format!("upload: {answer}"))?
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(4 * 3600);
    let summary = loop {
        if Instant::now() > deadline {
            return Err("the import did not finish within 4 hours".into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        let runs: Value = http
            .get(format!("{b}/api/v1/users/{user}/sync/runs?limit=10"))
            .header("X-Open-Wearables-API-Key", &key)
            .send()
            .await?
            .json()
            .await?;
        let done = runs
            .as_array()
            .and_then(|a| a.iter().find(|r| r["run_id"] == task.as_str()))
            .is_some_and(|r| r["status"] != "in_progress");
        if done {
            let events: Value = http
                .get(format!("{b}/api/v1/users/{user}/sync/recent?limit=20"))
                .header("X-Open-Wearables-API-Key", &key)
                .send()
                .await?
                .json()
                .await?;
            break events
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .find(|e| e["run_id"] == task.as_str() && e["status"] != "in_progress")
                })
                .map(|e| e["metadata"].clone())
                .ok_or("no final event")?;
        }
    };
    let imported = t.elapsed().as_secs_f64();
    let import_rss = server.peak_rss_mb();
    let records = summary["records"].as_u64().unwrap_or(0);
    println!(
        "      end to end: upload {uploaded:.1}s, imported after {imported:.1}s: {:.0} records/s stored, {:.1} MB/s; status {}, {} new samples, {} workouts, {} dropped",
        records as f64 / imported,
        size_mb / imported,
        summary["status"],
        summary["new_samples"],
        summary["workouts_saved"],
        summary["dropped"]
    );

    // Summaries: readable once the data summary has the last night and stops changing, and
    // the activity summary of the last day answers.
    let last_day = g.days.saturating_sub(1);
    let start_day = chrono::NaiveDate::from_ymd_opt(2024, 3, 1).ok_or("date")?;
    let day = start_day + chrono::Duration::days(i64::from(last_day));
    let mut previous = Value::Null;
    let settled = loop {
        if Instant::now() > deadline {
            return Err("summaries did not settle within 4 hours".into());
        }
        let data: Value = http
            .get(format!("{b}/api/v1/users/{user}/summaries/data"))
            .header("X-Open-Wearables-API-Key", &key)
            .send()
            .await?
            .json()
            .await?;
        let activity: Value = http
            .get(format!(
                "{b}/api/v1/users/{user}/summaries/activity?start_date={day}&end_date={day}"
            ))
            .header("X-Open-Wearables-API-Key", &key)
            .send()
            .await?
            .json()
            .await?;
        let has_day = activity["data"].as_array().is_some_and(|d| !d.is_empty());
        if has_day && data == previous && data["total_sleep_events"] == json!(g.nights) {
            break t.elapsed().as_secs_f64();
        }
        previous = data;
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let final_rss = server.peak_rss_mb();
    println!(
        "      summaries readable and settled {settled:.1}s after the upload started ({} sleep sessions, {} data points)",
        previous["total_sleep_events"], previous["total_data_points"]
    );
    println!(
        "      server peak RSS: idle {:.1} MB, through upload and import {:.1} MB, through the derived jobs {:.1} MB",
        idle_rss.unwrap_or(0.0),
        import_rss.unwrap_or(0.0),
        final_rss.unwrap_or(0.0)
    );
    Ok(())
}

/// POSTs the file as multipart, streamed from disk over HTTP/1.1; the JSON answer.
async fn upload(
    base: &str,
    key: &str,
    user: &str,
    path: &std::path::Path,
) -> Result<Value, BoxError> {
    let addr = base.strip_prefix("http://").ok_or("base")?;
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"export.xml\"\r\nContent-Type: application/xml\r\n\r\n"
    );
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    let len = std::fs::metadata(path)?.len() + head.len() as u64 + tail.len() as u64;
    let mut sock = tokio::net::TcpStream::connect(addr).await?;
    let req = format!(
        "POST /api/v1/users/{user}/import/apple/xml/direct HTTP/1.1\r\nHost: {addr}\r\nX-Open-Wearables-API-Key: {key}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n{head}"
    );
    sock.write_all(req.as_bytes()).await?;
    let mut file = tokio::fs::File::open(path).await?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        sock.write_all(&buf[..n]).await?;
    }
    sock.write_all(tail.as_bytes()).await?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(600), sock.read_to_end(&mut answer)).await??;
    let text = String::from_utf8_lossy(&answer);
    let body = text.split("\r\n\r\n").nth(1).ok_or("no answer body")?;
    let body = if text
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body.lines().nth(1).unwrap_or("")
    } else {
        body
    };
    Ok(serde_json::from_str(body.trim()).map_err(|e| format!("answer {text}: {e}"))?)
}

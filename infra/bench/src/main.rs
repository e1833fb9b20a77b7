//! `ow-bench`: prints the figures of the performance budgets (design.md).
//!
//! 1. Storage cost of the reference user-day (1 Hz heart rate, per-minute steps and energy, a
//!    night of sleep, a workout, SDK pushes every 15 minutes): DynamoDB write and read capacity
//!    units computed from the item sizes actually written and read (1 WCU per started KB written
//!    per item and per index, 1 RCU per started 4 KB read), against a one-item-per-sample design
//!    stored and read through the same table port, in the same run.
//! 2. Storage-layer speed, same run: ingest and one timeseries page, chunks vs one item per sample.
//! 3. HTTP on the `open-wearables` server (`server` profile) (a separate process): SDK ingest records/s,
//!    GET user, one timeseries page over a day of 1 Hz heart rate, a 30-day activity summary,
//!    with 32 concurrent clients: req/s, p50, p99; peak RSS of the server.
//!
//!    With `OW_BENCH_BASELINE=<another open-wearables binary>` the HTTP part runs on that binary
//!    first and prints this build's figures as ratios to it (`infra/bench-compare.sh <rev>`).
//!
//! 4. With `--portal` (only that): the developer portal's pages over a user seeded with a year
//!    of synthetic data, one client: p50 and p99 render time per page (budget: p99 ≤ 20 ms).
//!
//! 5. With `--webhooks` (only that): outgoing webhooks: SDK ingest with and without an
//!    endpoint (ratio, same run), events/s delivered, event-to-delivery latency p50/p99 at about
//!    1,000 SDK records/s (`webhooks.rs`).
//!
//! 6. With `--apple-import` (only that): a generated Apple Health `export.xml` of 100 MB and
//!    1 GB (`OW_BENCH_APPLE_MB`) parsed alone, then imported through the server (`apple`).
//!
//! Usage: `cargo run --profile server -p ow-bench --bin ow-bench [-- --quick] [--http-only]
//! [--portal] [--webhooks] [--apple-import]` (builds the server too, with the local server's speed profile).

mod apple;
mod capacity;
mod http;
mod portal;
mod webhooks;

use std::time::Instant;

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let http_only = std::env::args().any(|a| a == "--http-only");
    let portal_only = std::env::args().any(|a| a == "--portal");
    let webhooks_only = std::env::args().any(|a| a == "--webhooks");
    let apple_only = std::env::args().any(|a| a == "--apple-import");
    let capacity_only = std::env::args().any(|a| a == "--capacity");
    let started = Instant::now();
    println!(
        "ow-bench (quick={quick}); machine: {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!();
    let result = if apple_only {
        apple::run(quick).await
    } else if capacity_only {
        capacity_rows(quick).await
    } else if portal_only {
        portal::run(quick).await
    } else if webhooks_only {
        webhooks::run(quick).await
    } else {
        run(quick, http_only).await
    };
    if let Err(e) = result {
        eprintln!("bench failed: {e}");
        std::process::exit(1);
    }
    println!("\ntotal bench time {:.1}s", started.elapsed().as_secs_f64());
}

/// The storage rows only (DynamoDB capacity, storage-layer speed): no server is started.
async fn capacity_rows(quick: bool) -> Result<(), Box<dyn std::error::Error>> {
    capacity::user_day().await?;
    capacity::storage_speed(quick).await?;
    Ok(())
}

async fn run(quick: bool, http_only: bool) -> Result<(), Box<dyn std::error::Error>> {
    if !http_only {
        capacity_rows(quick).await?;
    }
    http::run(quick).await?;
    Ok(())
}

//! DynamoDB capacity accounting of the reference user-day, and storage-layer speed, both for
//! the chunk design and for one item per sample.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use shared::clock::ManualClock;
use shared::config::Config;
use shared::domain::sdk::{
    ParsedBatch, Sample, SampleOrigin, SdkProvider, SleepSegment, SourceInfo, WorkoutDetails,
    WorkoutEvent,
};
use shared::domain::series::SeriesType;
use shared::domain::sleep::SleepStage;
use shared::domain::workout::WorkoutType;
use shared::repo::health::SampleWrite;
use shared::repo::users::User;
use shared::store::embedded::EmbeddedTable;
use shared::store::{
    Condition, Index, Item, Key, Page, Query, SkRange, StoreError, Table, WriteOp, query_all,
};
use uuid::Uuid;

type BoxError = Box<dyn std::error::Error>;

/// Counts capacity units by DynamoDB's rules while forwarding to a real table.
pub struct Metered {
    inner: Arc<dyn Table>,
    wcu: AtomicU64,
    rcu: AtomicU64,
    items_written: AtomicU64,
}

fn wcu_of(item: &Item) -> u64 {
    let per = (item.stored_size() as u64).div_ceil(1024).max(1);
    let indexes = u64::from(item.gsi1.is_some()) + u64::from(item.gsi2.is_some());
    per * (1 + indexes)
}

fn rcu_of(bytes: u64) -> u64 {
    bytes.div_ceil(4096).max(1)
}

impl Metered {
    pub fn new(inner: Arc<dyn Table>) -> Self {
        Self {
            inner,
            wcu: AtomicU64::new(0),
            rcu: AtomicU64::new(0),
            items_written: AtomicU64::new(0),
        }
    }

    pub fn take(&self) -> (u64, u64, u64) {
        (
            self.wcu.swap(0, Ordering::SeqCst),
            self.rcu.swap(0, Ordering::SeqCst),
            self.items_written.swap(0, Ordering::SeqCst),
        )
    }

    fn wrote(&self, item: &Item, factor: u64) {
        self.wcu.fetch_add(wcu_of(item) * factor, Ordering::SeqCst);
        self.items_written.fetch_add(1, Ordering::SeqCst);
    }

    fn read(&self, bytes: u64) {
        self.rcu.fetch_add(rcu_of(bytes), Ordering::SeqCst);
    }
}

#[async_trait]
impl Table for Metered {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let r = self.inner.get(key).await?;
        self.read(r.as_ref().map_or(0, |i| i.stored_size() as u64));
        Ok(r)
    }
    async fn put(&self, item: Item, cond: Condition) -> Result<(), StoreError> {
        self.wrote(&item, 1);
        self.inner.put(item, cond).await
    }
    async fn delete(&self, key: &Key, cond: Condition) -> Result<(), StoreError> {
        self.wcu.fetch_add(1, Ordering::SeqCst);
        self.inner.delete(key, cond).await
    }
    async fn query(&self, q: &Query) -> Result<Page, StoreError> {
        let page = self.inner.query(q).await?;
        self.read(page.items.iter().map(|i| i.stored_size() as u64).sum());
        Ok(page)
    }
    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        for i in &items {
            self.wrote(i, 1);
        }
        self.inner.batch_put(items).await
    }
    async fn batch_delete(&self, keys: Vec<Key>) -> Result<(), StoreError> {
        self.wcu.fetch_add(keys.len() as u64, Ordering::SeqCst);
        self.inner.batch_delete(keys).await
    }
    async fn batch_get(&self, keys: Vec<Key>) -> Result<Vec<Item>, StoreError> {
        let items = self.inner.batch_get(keys).await?;
        for i in &items {
            self.read(i.stored_size() as u64);
        }
        Ok(items)
    }
    async fn counters(&self, key: &Key) -> Result<shared::store::Counters, StoreError> {
        let c = self.inner.counters(key).await?;
        self.read(64);
        Ok(c)
    }
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        for op in &ops {
            match op {
                WriteOp::Put(i, _) => self.wrote(i, 2),
                _ => {
                    self.wcu.fetch_add(2, Ordering::SeqCst);
                }
            }
        }
        self.inner.transact(ops).await
    }
    async fn put_each(
        &self,
        items: Vec<(Item, Condition)>,
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        for (i, _) in &items {
            self.wrote(i, 1);
        }
        self.inner.put_each(items).await
    }
}

fn src() -> SourceInfo {
    SourceInfo {
        provider: SdkProvider::Apple,
        device_model: Some("Watch7,5".into()),
        software_version: Some("10.3.1".into()),
        source: Some("Ada's Apple Watch".into()),
        sdk_device_type: None,
    }
}

fn sample(series: SeriesType, at: DateTime<Utc>, value: f64) -> Sample {
    Sample {
        series,
        recorded_at: at,
        value,
        zone_offset: Some("+01:00".into()),
        source: src(),
        external_id: None,
        is_daily_total: series.is_daily_total(),
        origin: SampleOrigin::Record,
    }
}

/// The 96 SDK pushes of the reference user-day.
pub fn reference_day(day: DateTime<Utc>) -> Vec<ParsedBatch> {
    let mut pushes = Vec::new();
    for p in 0..96i64 {
        let from = day + Duration::minutes(15 * p);
        let mut samples = Vec::new();
        for s in 0..900 {
            samples.push(sample(
                SeriesType::HeartRate,
                from + Duration::seconds(s),
                60.0 + (s % 40) as f64,
            ));
        }
        for m in 0..15 {
            samples.push(sample(
                SeriesType::Steps,
                from + Duration::minutes(m),
                (m * 7 % 50) as f64,
            ));
            samples.push(sample(SeriesType::Energy, from + Duration::minutes(m), 1.5));
        }
        let mut batch = ParsedBatch {
            records_saved: samples.len(),
            samples,
            ..ParsedBatch::default()
        };
        if p == 30 {
            batch.workouts.push(WorkoutEvent {
                external_id: Some("run".into()),
                workout_type: WorkoutType::from_code("running"),
                start: from,
                end: from + Duration::minutes(14),
                zone_offset: Some("+01:00".into()),
                source: src(),
                source_name: "Ada's Apple Watch".into(),
                duration_seconds: 840,
                details: Some(WorkoutDetails {
                    energy_burned: 150.0,
                    distance: Some(2500.0),
                    ..WorkoutDetails::default()
                }),
            });
        }
        if p < 28 {
            let stage = [SleepStage::Light, SleepStage::Deep, SleepStage::Rem][(p % 3) as usize];
            batch.sleep_segments.push(SleepSegment {
                external_id: None,
                stage,
                start: from,
                end: from + Duration::minutes(15),
                zone_offset: Some("+01:00".into()),
                source: src(),
                source_fingerprint: "watch".into(),
            });
        }
        pushes.push(batch);
    }
    pushes
}

/// One item per sample, as a relational port would lay it out on DynamoDB: pk per user and
/// series, sk the instant, and a user-level index for cross-series time scans.
fn naive_item(user: Uuid, s: &Sample) -> Item {
    let ts = s.recorded_at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let ds = s.source.key().deterministic_id(user);
    let body = serde_json::json!({
        "id": Uuid::new_v4(), "data_source_id": ds, "value": s.value, "zone_offset": s.zone_offset,
        "is_daily_total": s.is_daily_total, "external_id": "C386BBC4-CD61-3E30-D8F1-6ADF91B7584A",
    });
    Item::new(
        format!("DS#{ds}#T#{}", s.series.id()),
        ts.clone(),
        serde_json::to_vec(&body).unwrap_or_default(),
    )
    .with_gsi1(format!("USER#{user}#T#{}", s.series.id()), ts)
}

async fn state_over(
    table: Arc<dyn Table>,
    dir: &std::path::Path,
    now: DateTime<Utc>,
) -> Result<shared::api::State, BoxError> {
    let clock = Arc::new(ManualClock::new(now));
    Ok(
        shared::bootstrap::state_with(table, Config::for_tests(dir), clock)
            .await
            .map_err(|e| e.to_string())?,
    )
}

/// Prints the capacity figures of the reference user-day.
pub async fn user_day() -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let day = Utc
        .with_ymd_and_hms(2025, 3, 1, 0, 0, 0)
        .single()
        .ok_or("date")?;
    let embedded: Arc<dyn Table> = Arc::new(EmbeddedTable::open(&dir.path().join("c.redb"))?);
    let metered = Arc::new(Metered::new(embedded));
    let state = state_over(metered.clone(), dir.path(), day + Duration::days(2)).await?;
    let user = Uuid::new_v4();
    state
        .db
        .create_user(&User {
            id: user,
            created_at: day,
            first_name: None,
            last_name: None,
            email: None,
            external_user_id: None,
        })
        .await
        .map_err(|e| e.to_string())?;
    metered.take();
    let pushes = reference_day(day);
    let n_samples: usize = pushes.iter().map(|p| p.samples.len()).sum();
    for p in pushes.clone() {
        let batch = shared::ingest::device_batch(user, p, state.now());
        shared::ingest::write_batch(&state, user, batch)
            .await
            .map_err(|e| e.to_string())?;
        state.jobs_idle().await;
    }
    let (w_ours, r_ingest, items_ours) = metered.take();

    // Reads: one timeseries page over the day of heart rate (reads every chunk of the day, as
    // total_count needs), and a 30-day activity summary (30 roll-up items).
    let t0 = day;
    let _ = state
        .db
        .chunks(user, SeriesType::HeartRate, t0, t0 + Duration::hours(23))
        .await?;
    let (_, r_ts, _) = metered.take();
    // The same day bucketed (`1hour`/`15min`): its day aggregate instead of its chunks.
    let _ = state
        .db
        .raw_aggregates(
            user,
            SeriesType::HeartRate,
            t0.timestamp_micros(),
            t0.timestamp_micros(),
        )
        .await?;
    let (_, r_buckets, _) = metered.take();
    let _ = state
        .db
        .rollups(
            user,
            (day - Duration::days(29)).date_naive(),
            (day + Duration::days(1)).date_naive(),
        )
        .await?;
    let (_, r_sum, _) = metered.take();

    // The one-item-per-sample design, written and read through the same metered port.
    let dir2 = tempfile::tempdir()?;
    let naive_inner: Arc<dyn Table> = Arc::new(EmbeddedTable::open(&dir2.path().join("n.redb"))?);
    let naive = Metered::new(naive_inner);
    for p in &pushes {
        let items: Vec<Item> = p.samples.iter().map(|s| naive_item(user, s)).collect();
        naive.batch_put(items).await?;
    }
    let (w_naive, _, items_naive) = naive.take();
    let ds = src().key().deterministic_id(user);
    let q = Query::partition(
        Index::Primary,
        format!("DS#{ds}#T#{}", SeriesType::HeartRate.id()),
    )
    .range(SkRange::Between("2025-03-01".into(), "2025-03-02".into()));
    let _ = query_all(&naive, q).await?;
    let (_, r_naive_ts, _) = naive.take();
    // A 30-day activity summary needs every activity sample of 30 days: 30x the day's
    // HR + steps + energy items (read cost scales with the day's bytes).
    let mut day_bytes = 0u64;
    for series in [SeriesType::HeartRate, SeriesType::Steps, SeriesType::Energy] {
        let q = Query::partition(Index::Primary, format!("DS#{ds}#T#{}", series.id()));
        day_bytes += query_all(&naive, q)
            .await?
            .iter()
            .map(|i| i.stored_size() as u64)
            .sum::<u64>();
    }
    naive.take();
    let r_naive_sum = rcu_of(day_bytes * 30);

    println!(
        "== DynamoDB capacity, reference user-day ({n_samples} samples in 96 pushes, a workout, a night of sleep)"
    );
    println!(
        "   design                      items written      WCU     RCU(day of HR page)   RCU(30-day activity)"
    );
    println!("   chunks + roll-ups (ours)    {items_ours:>13} {w_ours:>8} {r_ts:>21} {r_sum:>22}");
    println!(
        "   one item per sample         {items_naive:>13} {w_naive:>8} {r_naive_ts:>21} {r_naive_sum:>22}"
    );
    println!(
        "   ratio (one-per-sample / ours): writes {:.0}x, day-of-HR read {:.0}x, 30-day summary read {:.0}x  (budget: writes >= 50x)",
        w_naive as f64 / w_ours.max(1) as f64,
        r_naive_ts as f64 / r_ts.max(1) as f64,
        r_naive_sum as f64 / r_sum.max(1) as f64
    );
    println!(
        "   (ours includes the roll-up, sleep and score jobs' reads of {r_ingest} RCU during ingest)"
    );
    println!(
        "   the day of HR bucketed (1hour or 15min): {r_buckets} RCU from its day aggregate vs {r_ts} RCU for its chunks ({:.0}x), {r_naive_ts} RCU one item per sample",
        r_ts as f64 / r_buckets.max(1) as f64
    );
    println!();
    Ok(())
}

/// Storage-layer ingest and read speed on the embedded store: chunks vs one item per sample.
pub async fn storage_speed(quick: bool) -> Result<(), BoxError> {
    let hours = if quick { 6 } else { 24 };
    let day = Utc
        .with_ymd_and_hms(2025, 3, 1, 0, 0, 0)
        .single()
        .ok_or("date")?;
    let user = Uuid::new_v4();
    let samples: Vec<Sample> = (0..hours * 3600)
        .map(|s| {
            sample(
                SeriesType::HeartRate,
                day + Duration::seconds(s),
                60.0 + (s % 40) as f64,
            )
        })
        .collect();
    let n = samples.len();

    let dir = tempfile::tempdir()?;
    let ours: Arc<dyn Table> = Arc::new(EmbeddedTable::open(&dir.path().join("o.redb"))?);
    let db = shared::repo::Db::new(ours);
    let ds = src().key().deterministic_id(user);
    let t = Instant::now();
    for push in samples.chunks(900) {
        let writes: Vec<SampleWrite> = push
            .iter()
            .map(|s| SampleWrite {
                series: s.series,
                data_source_id: ds,
                at: s.recorded_at,
                value: s.value,
                zone_offset: s.zone_offset.clone(),
                is_daily_total: None,
            })
            .collect();
        db.merge_samples(user, &writes).await?;
    }
    let ours_ingest = n as f64 / t.elapsed().as_secs_f64();

    let dir2 = tempfile::tempdir()?;
    let naive: Arc<dyn Table> = Arc::new(EmbeddedTable::open(&dir2.path().join("n.redb"))?);
    let t = Instant::now();
    for push in samples.chunks(900) {
        naive
            .batch_put(push.iter().map(|s| naive_item(user, s)).collect())
            .await?;
    }
    let naive_ingest = n as f64 / t.elapsed().as_secs_f64();

    // One page (100 samples from the middle of the range) with its total count.
    let reps = if quick { 20 } else { 50 };
    let t = Instant::now();
    for _ in 0..reps {
        let chunks = db
            .chunks(
                user,
                SeriesType::HeartRate,
                day,
                day + Duration::hours(hours - 1),
            )
            .await?;
        let total: usize = chunks.iter().map(|c| c.points.len()).sum();
        assert_eq!(total, n);
    }
    let ours_read = reps as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..reps {
        let pk = format!("DS#{ds}#T#{}", SeriesType::HeartRate.id());
        let all = query_all(naive.as_ref(), Query::partition(Index::Primary, pk)).await?;
        assert_eq!(all.len(), n);
    }
    let naive_read = reps as f64 / t.elapsed().as_secs_f64();
    println!("== Storage layer (embedded redb), {n} samples of 1 Hz heart rate, pushes of 900");
    println!(
        "   ingest: chunks {ours_ingest:>10.0} samples/s   one-per-sample {naive_ingest:>10.0} samples/s   ratio {:.1}x",
        ours_ingest / naive_ingest
    );
    println!(
        "   read of the range with total count: chunks {ours_read:>8.1}/s   one-per-sample {naive_read:>8.1}/s   ratio {:.1}x",
        ours_read / naive_read
    );
    println!();
    Ok(())
}

//! Health data in the user's partition `USER#<uuid>`:
//!
//! | item | sk | notes |
//! |---|---|---|
//! | data source | `DS#<ds uuid>` | deterministic id from (provider, device model, source) |
//! | series index | `TSIDX` | the series codes the user has, so "all types" needs no scan |
//! | time-series chunk | `TS#<series>#<YYYY-MM-DDTHH>#<ds uuid>` | one UTC hour of one series of one source |
//! | day aggregate | `TA#<series>#<YYYY-MM-DD>#<ds uuid>` | 15-minute slot aggregates of one UTC day of those chunks (`series_agg`) |
//! | aggregates ready | `TAREADY` | every chunk is reflected in the day aggregates |
//! | daily roll-up | `DAY#<local date>#<ds uuid>` | activity totals per local day and source |
//! | event | `EV#<category>#<start, fixed-width UTC>#<event uuid>` | workout, sleep or cycle with its details; gsi1 `EVID#<uuid>` |
//! | event uniqueness claim | `EVKEY#<ds uuid>#<start µs>#<end µs>` | insert-if-absent (first write wins) |
//! | health score | `HS#<recorded_at>#<provider>#<category>` | first write wins |
//! | SDK sleep state | `SLEEPSTATE` | in-progress session, versioned |
//! | pending sleep segments | `SLEEPQ#<received µs>#<batch uuid>` | stored before the 202, consumed by the sleep job |

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::chunk::{self, Point};
use super::series_agg;
use super::users::user_pk;
use super::{Db, decode, encode, sort_ts};
use crate::domain::sdk::{SleepSegment, WorkoutDetails};
use crate::domain::series::SeriesType;
use crate::domain::sleep::{SleepDetailsDraft, SleepState};
use crate::domain::summary::{ActivityDay, IntensityMinutes, StepMinutes};
use crate::store::{Condition, Index, Item, Key, Query, SkRange, StoreError, WriteOp, query_all};

/// Provenance of data: user × provider × device × writer app (data-model §1.16).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSource {
    pub id: Uuid,
    pub user_id: Uuid,
    pub provider: String,
    pub user_connection_id: Option<Uuid>,
    pub device_model: Option<String>,
    pub software_version: Option<String>,
    pub source: Option<String>,
    pub device_type: Option<String>,
    pub original_source_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Workout, sleep or menstrual-cycle details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventDetails {
    Workout(WorkoutDetails),
    Sleep(SleepDetailsDraft),
    MenstrualCycle(serde_json::Value),
}

/// An interval event (data-model §1.19) with its details inside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub id: Uuid,
    pub data_source_id: Uuid,
    /// `workout`, `sleep`, `menstrual_cycle`.
    pub category: String,
    pub event_type: Option<String>,
    pub source_name: String,
    pub duration_seconds: Option<i64>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub zone_offset: Option<String>,
    pub external_id: Option<String>,
    pub details: Option<EventDetails>,
    pub created_at: DateTime<Utc>,
}

/// A health score (data-model §1.23).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthScore {
    pub id: Uuid,
    pub user_id: Uuid,
    pub data_source_id: Option<Uuid>,
    pub provider: String,
    pub category: String,
    pub value: Option<f64>,
    pub qualifier: Option<String>,
    pub recorded_at: DateTime<Utc>,
    pub zone_offset: Option<String>,
    pub components: Option<serde_json::Value>,
    pub sleep_record_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// Activity totals of one local day of one data source, maintained by the roll-up job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayRollup {
    pub date: NaiveDate,
    pub data_source_id: Uuid,
    pub day: ActivityDay,
    pub step_minutes: Option<StepMinutes>,
    /// With max HR 190 (no birth dates are stored).
    pub intensity: Option<IntensityMinutes>,
    /// Samples per series code on this local day.
    pub counts: BTreeMap<String, u64>,
}

/// A decoded chunk with where it came from.
#[derive(Debug, Clone)]
pub struct SeriesChunk {
    pub series: SeriesType,
    pub data_source_id: Uuid,
    pub hour: DateTime<Utc>,
    pub points: Vec<Point>,
}

/// A day aggregate as stored, not decoded yet.
#[derive(Debug, Clone)]
pub struct RawAggregate {
    pub data_source_id: Uuid,
    /// µs of the UTC midnight.
    pub day: i64,
    pub data: Vec<u8>,
}

/// A chunk as stored, not decoded yet.
#[derive(Debug, Clone)]
pub struct RawChunk {
    pub series: SeriesType,
    pub data_source_id: Uuid,
    pub hour: DateTime<Utc>,
    pub data: Vec<u8>,
}

/// One sample to store, with its data source.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleWrite {
    pub series: SeriesType,
    pub data_source_id: Uuid,
    pub at: DateTime<Utc>,
    pub value: f64,
    pub zone_offset: Option<String>,
    pub is_daily_total: Option<bool>,
}

/// The UTC hour a sample belongs to, as used in chunk keys.
fn hour_key(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H").to_string()
}

fn parse_hour(s: &str) -> Option<DateTime<Utc>> {
    chrono::NaiveDateTime::parse_from_str(&format!("{s}:00:00"), "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|n| n.and_utc())
}

/// The hour and data source of a chunk's sort key `TS#<series>#<hour>#<ds>`.
fn chunk_key_parts(sk: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let mut parts = sk.splitn(4, '#').skip(2);
    let hour = parts.next().and_then(parse_hour)?;
    let ds = Uuid::parse_str(parts.next()?).ok()?;
    Some((hour, ds))
}

/// Sort key of a chunk.
fn chunk_sk(series: SeriesType, hour: &str, ds: Uuid) -> String {
    format!("TS#{}#{hour}#{ds}", series.code())
}

/// Sort key of a day aggregate (`day`: µs of a UTC midnight).
fn agg_sk(series: SeriesType, day: i64, ds: Uuid) -> String {
    let d = day_key(day).unwrap_or_default();
    format!("TA#{}#{d}#{ds}", series.code())
}

fn day_key(day: i64) -> Option<String> {
    DateTime::from_timestamp_micros(day).map(|t| t.format("%Y-%m-%d").to_string())
}

fn agg_ready_key(user: Uuid) -> Key {
    Key::new(user_pk(user), "TAREADY")
}

const HOUR_US: i64 = series_agg::HOUR_US;
const DAY_US: i64 = series_agg::DAY_US;

/// Samples bound for one chunk.
struct PendingChunk {
    series: SeriesType,
    ds: Uuid,
    /// µs of the chunk's UTC hour.
    hour: i64,
    points: Vec<Point>,
}

/// A chunk as it now is, as aggregates.
struct ResolvedHour {
    series: SeriesType,
    ds: Uuid,
    hour: i64,
    agg: series_agg::HourAgg,
}

impl ResolvedHour {
    fn of(c: &PendingChunk, agg: series_agg::HourAgg) -> Self {
        Self {
            series: c.series,
            ds: c.ds,
            hour: c.hour,
            agg,
        }
    }
}

fn event_sk(category: &str, start: DateTime<Utc>, id: Uuid) -> String {
    format!("EV#{category}#{}#{id}", sort_ts(start))
}

fn event_claim_sk(ds: Uuid, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    format!(
        "EVKEY#{ds}#{}#{}",
        start.timestamp_micros(),
        end.timestamp_micros()
    )
}

/// Outcome of merging samples into chunks.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MergeStats {
    pub chunks_written: usize,
    pub bytes_written: usize,
    /// Chunk items that did not exist before, and the stored bytes the writes added.
    pub new_chunks: usize,
    pub bytes_added: i64,
    /// Samples at instants not stored before, per series.
    pub new_points: BTreeMap<SeriesType, usize>,
}

/// How many times a conflicting chunk write is retried before giving up.
const MERGE_RETRIES: usize = 16;

impl Db {
    // ---------- data sources ----------

    /// Creates the data sources that do not exist yet (fill-if-absent).
    pub async fn ensure_data_sources(
        &self,
        user: Uuid,
        sources: Vec<DataSource>,
    ) -> Result<(), StoreError> {
        if sources.is_empty() {
            return Ok(());
        }
        let pk = user_pk(user);
        let keys = sources
            .iter()
            .map(|d| Key::new(pk.clone(), format!("DS#{}", d.id)))
            .collect();
        let existing: BTreeSet<String> = self
            .table
            .batch_get(keys)
            .await?
            .into_iter()
            .map(|i| i.sk)
            .collect();
        for d in sources {
            let sk = format!("DS#{}", d.id);
            if existing.contains(&sk) {
                continue;
            }
            match self
                .table
                .put(Item::new(pk.clone(), sk, encode(&d)?), Condition::NotExists)
                .await
            {
                Ok(()) | Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e),
            }
            self.ensure_provider_priority(&d.provider, d.created_at)
                .await?;
        }
        Ok(())
    }

    pub async fn data_sources(&self, user: Uuid) -> Result<Vec<DataSource>, StoreError> {
        let q =
            Query::partition(Index::Primary, user_pk(user)).range(SkRange::Prefix("DS#".into()));
        query_all(self.table.as_ref(), q)
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    /// Data sources by id (missing ones absent).
    pub async fn data_source_map(
        &self,
        user: Uuid,
    ) -> Result<HashMap<Uuid, DataSource>, StoreError> {
        Ok(self
            .data_sources(user)
            .await?
            .into_iter()
            .map(|d| (d.id, d))
            .collect())
    }

    // ---------- series index ----------

    /// Series codes the user has samples of.
    pub async fn series_index(&self, user: Uuid) -> Result<BTreeSet<String>, StoreError> {
        let item = self.table.get(&Key::new(user_pk(user), "TSIDX")).await?;
        Ok(item.map(|i| decode(&i)).transpose()?.unwrap_or_default())
    }

    /// Adds series codes to the index (optimistic concurrency, retried).
    pub async fn add_to_series_index(
        &self,
        user: Uuid,
        codes: &BTreeSet<String>,
    ) -> Result<(), StoreError> {
        let key = Key::new(user_pk(user), "TSIDX");
        for _ in 0..MERGE_RETRIES {
            let current = self.table.get(&key).await?;
            let (mut set, version, cond) = match &current {
                Some(i) => (
                    decode::<BTreeSet<String>>(i)?,
                    i.version,
                    Condition::VersionIs(i.version),
                ),
                None => (BTreeSet::new(), 0, Condition::NotExists),
            };
            if codes.is_subset(&set) {
                return Ok(());
            }
            set.extend(codes.iter().cloned());
            let mut item = Item::new(key.pk.clone(), key.sk.clone(), encode(&set)?);
            item.version = version + 1;
            match self.table.put(item, cond).await {
                Ok(()) => return Ok(()),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Backend("series index stayed contended".into()))
    }

    // ---------- chunks ----------

    /// Merges samples into their chunks (series, UTC hour, data source): one batch read, one
    /// batch of conditional writes; chunks that lost a race to another writer are re-read and
    /// retried.
    pub async fn merge_samples(
        &self,
        user: Uuid,
        samples: &[SampleWrite],
    ) -> Result<MergeStats, StoreError> {
        // Grouped by (series, UTC hour, source) first: the sort key is built once per chunk,
        // not once per sample.
        let mut groups: HashMap<(SeriesType, i64, Uuid), Vec<Point>> = HashMap::new();
        for s in samples {
            let t = s.at.timestamp_micros();
            groups
                .entry((s.series, t.div_euclid(HOUR_US), s.data_source_id))
                .or_default()
                .push(Point {
                    t,
                    milli: (s.value * 1000.0).round() as i64,
                    zone_offset: s.zone_offset.clone(),
                    is_daily_total: s.is_daily_total,
                });
        }
        let mut chunks: BTreeMap<String, PendingChunk> = BTreeMap::new();
        for ((series, hour, ds), points) in groups {
            let Some(start) = DateTime::from_timestamp_micros(hour * HOUR_US) else {
                continue;
            };
            chunks.insert(
                chunk_sk(series, &hour_key(start), ds),
                PendingChunk {
                    series,
                    ds,
                    hour: hour * HOUR_US,
                    points,
                },
            );
        }
        let (stats, resolved) = self.merge_chunks(user, chunks).await?;
        self.update_aggregates(user, resolved).await?;
        Ok(stats)
    }

    /// The items of one partition with these sort keys, by sort key (batch reads of 100).
    async fn items_by_sk<'a>(
        &self,
        pk: &str,
        sks: impl Iterator<Item = &'a String>,
    ) -> Result<HashMap<String, Item>, StoreError> {
        let keys: Vec<Key> = sks.map(|sk| Key::new(pk, sk.clone())).collect();
        let mut current = HashMap::with_capacity(keys.len());
        for part in keys.chunks(100) {
            for item in self.table.batch_get(part.to_vec()).await? {
                current.insert(item.sk.clone(), item);
            }
        }
        Ok(current)
    }

    /// Merges the pending points into their chunks; returns the statistics and, per chunk,
    /// the aggregates of what it now holds with its version (written or found unchanged).
    async fn merge_chunks(
        &self,
        user: Uuid,
        mut pending: BTreeMap<String, PendingChunk>,
    ) -> Result<(MergeStats, Vec<ResolvedHour>), StoreError> {
        let pk = user_pk(user);
        let mut stats = MergeStats::default();
        let mut resolved = Vec::with_capacity(pending.len());
        for _ in 0..MERGE_RETRIES {
            if pending.is_empty() {
                return Ok((stats, resolved));
            }
            let current = self.items_by_sk(&pk, pending.keys()).await?;
            let mut writes = Vec::new();
            let mut added = Vec::new();
            let mut done = Vec::new();
            for (sk, c) in &pending {
                let (existing, version, cond) = match current.get(sk) {
                    Some(i) => (
                        chunk::decode(&i.data).map_err(|e| StoreError::Backend(e.to_string()))?,
                        i.version,
                        Condition::VersionIs(i.version),
                    ),
                    None => (Vec::new(), 0, Condition::NotExists),
                };
                let had = current.get(sk).map(Item::stored_size);
                let (merged, n_new, changed) = chunk::merge(existing, c.points.clone());
                if had.is_some() && !changed {
                    resolved.push(ResolvedHour::of(c, series_agg::hour_agg(&merged, version)));
                    done.push(sk.clone());
                    continue;
                }
                let mut item = Item::new(pk.clone(), sk.clone(), chunk::encode(&merged));
                item.version = version + 1;
                let agg = series_agg::hour_agg(&merged, item.version);
                added.push((sk.clone(), c.series, n_new, item.stored_size(), had, agg));
                writes.push((item, cond));
            }
            for sk in done {
                pending.remove(&sk);
            }
            let results = self.table.put_each(writes).await?;
            for ((sk, series, n_new, size, had, agg), r) in added.into_iter().zip(results) {
                match r {
                    Ok(()) => {
                        if let Some(c) = pending.remove(&sk) {
                            resolved.push(ResolvedHour::of(&c, agg));
                        }
                        stats.chunks_written += 1;
                        stats.bytes_written += size;
                        stats.new_chunks += usize::from(had.is_none());
                        stats.bytes_added += size as i64 - had.unwrap_or(0) as i64;
                        if n_new > 0 {
                            *stats.new_points.entry(series).or_default() += n_new;
                        }
                    }
                    Err(StoreError::ConditionFailed) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if pending.is_empty() {
            Ok((stats, resolved))
        } else {
            Err(StoreError::Backend(format!(
                "{} chunks stayed contended",
                pending.len()
            )))
        }
    }

    /// Brings the day aggregates up to the given hours (after their chunks were written):
    /// one batch read, one batch of conditional writes, the items that lost a race re-read.
    /// An hour is only replaced by a newer chunk version, so racing writers converge.
    async fn update_aggregates(
        &self,
        user: Uuid,
        hours: Vec<ResolvedHour>,
    ) -> Result<(), StoreError> {
        let pk = user_pk(user);
        let mut pending: BTreeMap<String, Vec<(u8, series_agg::HourAgg)>> = BTreeMap::new();
        for h in hours {
            let day = h.hour.div_euclid(DAY_US) * DAY_US;
            let hour_of_day = (h.hour.rem_euclid(DAY_US) / HOUR_US) as u8;
            pending
                .entry(agg_sk(h.series, day, h.ds))
                .or_default()
                .push((hour_of_day, h.agg));
        }
        for _ in 0..MERGE_RETRIES {
            if pending.is_empty() {
                return Ok(());
            }
            let current = self.items_by_sk(&pk, pending.keys()).await?;
            let mut writes = Vec::new();
            let mut keys = Vec::new();
            let mut done = Vec::new();
            for (sk, entries) in &pending {
                let (mut day, version, cond) = match current.get(sk) {
                    Some(i) => (
                        // A corrupt aggregate is rebuilt from the hours at hand.
                        series_agg::DayAgg::decode(&i.data).unwrap_or_default(),
                        i.version,
                        Condition::VersionIs(i.version),
                    ),
                    None => (series_agg::DayAgg::default(), 0, Condition::NotExists),
                };
                let mut changed = false;
                for (hour, agg) in entries {
                    changed |= day.apply(*hour, agg.clone());
                }
                if !changed {
                    done.push(sk.clone());
                    continue;
                }
                let mut item = Item::new(pk.clone(), sk.clone(), day.encode());
                item.version = version + 1;
                keys.push(sk.clone());
                writes.push((item, cond));
            }
            for sk in done {
                pending.remove(&sk);
            }
            for (sk, r) in keys.into_iter().zip(self.table.put_each(writes).await?) {
                match r {
                    Ok(()) => {
                        pending.remove(&sk);
                    }
                    Err(StoreError::ConditionFailed) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if pending.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Backend(format!(
                "{} series aggregates stayed contended",
                pending.len()
            )))
        }
    }

    /// The day aggregates of one series for the UTC days `[from_day, to_day]` (µs of their
    /// midnights), any source, ordered by day then source.
    pub async fn raw_aggregates(
        &self,
        user: Uuid,
        series: SeriesType,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<RawAggregate>, StoreError> {
        let (Some(lo), Some(hi)) = (day_key(from_day), day_key(to_day)) else {
            return Ok(Vec::new());
        };
        let code = series.code();
        let q = Query::partition(Index::Primary, user_pk(user)).range(SkRange::Between(
            format!("TA#{code}#{lo}"),
            format!("TA#{code}#{hi}#~"),
        ));
        let items = query_all(self.table.as_ref(), q).await?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let mut parts = item.sk.splitn(4, '#').skip(2);
            let (Some(day), Some(ds)) = (parts.next(), parts.next()) else {
                continue;
            };
            let (Ok(day), Ok(ds)) = (
                NaiveDate::parse_from_str(day, "%Y-%m-%d"),
                Uuid::parse_str(ds),
            ) else {
                continue;
            };
            out.push(RawAggregate {
                data_source_id: ds,
                day: day
                    .and_time(chrono::NaiveTime::MIN)
                    .and_utc()
                    .timestamp_micros(),
                data: item.data,
            });
        }
        Ok(out)
    }

    /// Whether every chunk of the user is reflected in the day aggregates (users created
    /// with them, or rebuilt by [`Db::rebuild_aggregates`]). Until then bucketed reads visit
    /// the samples.
    pub async fn aggregates_ready(&self, user: Uuid) -> Result<bool, StoreError> {
        if self.agg_ready.lock().is_ok_and(|s| s.contains(&user)) {
            return Ok(true);
        }
        let ready = self.table.get(&agg_ready_key(user)).await?.is_some();
        if ready && let Ok(mut s) = self.agg_ready.lock() {
            if s.len() >= super::AGG_READY_CACHE {
                s.clear();
            }
            s.insert(user);
        }
        Ok(ready)
    }

    /// `true` the first time this process asks for the user's aggregates to be built (so a
    /// flood of reads queues one job, not one per read).
    pub fn first_aggregates_request(&self, user: Uuid) -> bool {
        let Ok(mut s) = self.agg_requested.lock() else {
            return false;
        };
        if s.len() >= super::AGG_READY_CACHE {
            s.clear();
        }
        s.insert(user)
    }

    /// The marker of [`Db::aggregates_ready`], as an operation of the user's creation.
    pub fn aggregates_ready_op(user: Uuid) -> WriteOp {
        let k = agg_ready_key(user);
        WriteOp::Put(Item::new(k.pk, k.sk, b"1".to_vec()), Condition::None)
    }

    /// Computes the day aggregates of every chunk the user has (for data stored before the
    /// aggregates existed), then marks them ready. Safe alongside writers: an hour is only
    /// replaced by a newer chunk version. Returns the chunks read.
    pub async fn rebuild_aggregates(&self, user: Uuid) -> Result<usize, StoreError> {
        let mut n = 0;
        for code in self.series_index(user).await? {
            let Some(series) = SeriesType::from_code(&code) else {
                continue;
            };
            let mut q = Query::partition(Index::Primary, user_pk(user))
                .range(SkRange::Prefix(format!("TS#{code}#")));
            q.limit = Some(500);
            loop {
                let page = self.table.query(&q).await?;
                let mut hours = Vec::with_capacity(page.items.len());
                for item in &page.items {
                    let Some((hour, ds)) = chunk_key_parts(&item.sk) else {
                        continue;
                    };
                    let points = chunk::decode(&item.data)
                        .map_err(|e| StoreError::Backend(e.to_string()))?;
                    hours.push(ResolvedHour {
                        series,
                        ds,
                        hour: hour.timestamp_micros(),
                        agg: series_agg::hour_agg(&points, item.version),
                    });
                }
                n += hours.len();
                self.update_aggregates(user, hours).await?;
                match page.next {
                    Some(pos) => q.start_after = Some(pos),
                    None => break,
                }
            }
        }
        let k = agg_ready_key(user);
        self.table
            .put(Item::new(k.pk, k.sk, b"1".to_vec()), Condition::None)
            .await?;
        Ok(n)
    }

    /// Chunks of one series whose hour lies in `[from_hour, to_hour]` (inclusive), any source.
    pub async fn chunks(
        &self,
        user: Uuid,
        series: SeriesType,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<SeriesChunk>, StoreError> {
        self.raw_chunks(user, series, from, to)
            .await?
            .into_iter()
            .map(|c| {
                let points =
                    chunk::decode(&c.data).map_err(|e| StoreError::Backend(e.to_string()))?;
                Ok(SeriesChunk {
                    series,
                    data_source_id: c.data_source_id,
                    hour: c.hour,
                    points,
                })
            })
            .collect()
    }

    /// Undecoded chunks of one series whose hour lies in `[from_hour, to_hour]`, ordered by
    /// hour then source.
    pub async fn raw_chunks(
        &self,
        user: Uuid,
        series: SeriesType,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<RawChunk>, StoreError> {
        let lo = format!("TS#{}#{}", series.code(), hour_key(from));
        let hi = format!("TS#{}#{}#~", series.code(), hour_key(to));
        let q = Query::partition(Index::Primary, user_pk(user)).range(SkRange::Between(lo, hi));
        let items = query_all(self.table.as_ref(), q).await?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let Some((hour, ds)) = chunk_key_parts(&item.sk) else {
                continue;
            };
            out.push(RawChunk {
                series,
                data_source_id: ds,
                hour,
                data: item.data,
            });
        }
        Ok(out)
    }

    // ---------- roll-ups ----------

    pub async fn put_rollup(&self, user: Uuid, r: &DayRollup) -> Result<(), StoreError> {
        let sk = format!("DAY#{}#{}", r.date, r.data_source_id);
        self.table
            .put(Item::new(user_pk(user), sk, encode(r)?), Condition::None)
            .await
    }

    pub async fn delete_rollup(
        &self,
        user: Uuid,
        date: NaiveDate,
        ds: Uuid,
    ) -> Result<(), StoreError> {
        self.table
            .delete(
                &Key::new(user_pk(user), format!("DAY#{date}#{ds}")),
                Condition::None,
            )
            .await
    }

    /// Roll-ups with local dates in `[from, to)`.
    pub async fn rollups(
        &self,
        user: Uuid,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DayRollup>, StoreError> {
        if from >= to {
            return Ok(Vec::new());
        }
        let q = Query::partition(Index::Primary, user_pk(user))
            .range(SkRange::Between(format!("DAY#{from}"), format!("DAY#{to}")));
        let items = query_all(self.table.as_ref(), q).await?;
        let mut out: Vec<DayRollup> = items.iter().map(decode).collect::<Result<_, _>>()?;
        out.retain(|r| r.date >= from && r.date < to);
        Ok(out)
    }

    // ---------- events ----------

    /// Inserts an event unless one with the same (data source, start, end) exists (first write
    /// wins). Returns whether it was inserted.
    pub async fn insert_event(&self, user: Uuid, e: &EventRecord) -> Result<bool, StoreError> {
        let pk = user_pk(user);
        let claim = Item::new(
            pk.clone(),
            event_claim_sk(e.data_source_id, e.start, e.end),
            encode(&e.id)?,
        );
        let item = Item::new(pk, event_sk(&e.category, e.start, e.id), encode(e)?)
            .with_gsi1(format!("EVID#{}", e.id), user.to_string());
        match self
            .table
            .transact(vec![
                WriteOp::Put(claim, Condition::NotExists),
                WriteOp::Put(item, Condition::NotExists),
            ])
            .await
        {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Events of a category with `start` in `[from, to]`, newest first unless `forward`.
    pub async fn events(
        &self,
        user: Uuid,
        category: &str,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let lo = format!("EV#{category}#{}", from.map(sort_ts).unwrap_or_default());
        let hi = format!(
            "EV#{category}#{}~",
            to.map(sort_ts).unwrap_or_else(|| "9".into())
        );
        let q = Query::partition(Index::Primary, user_pk(user)).range(SkRange::Between(lo, hi));
        query_all(self.table.as_ref(), q)
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    /// One event by id, if it belongs to `user`.
    pub async fn event(&self, user: Uuid, id: Uuid) -> Result<Option<EventRecord>, StoreError> {
        let q = Query::partition(Index::Gsi1, format!("EVID#{id}"));
        let items = query_all(self.table.as_ref(), q).await?;
        for item in items {
            if item.pk == user_pk(user) {
                return Ok(Some(decode(&item)?));
            }
        }
        Ok(None)
    }

    pub async fn delete_event(&self, user: Uuid, e: &EventRecord) -> Result<(), StoreError> {
        let pk = user_pk(user);
        // The event must still exist, so a delete that raced another one counts once.
        let mut ops = vec![
            WriteOp::Delete(
                Key::new(pk.clone(), event_sk(&e.category, e.start, e.id)),
                Condition::Exists,
            ),
            WriteOp::Delete(
                Key::new(pk.clone(), event_claim_sk(e.data_source_id, e.start, e.end)),
                Condition::None,
            ),
        ];
        for s in self.scores_of_sleep(user, e).await? {
            ops.push(WriteOp::Delete(
                Key::new(pk.clone(), score_sk(&s)),
                Condition::None,
            ));
        }
        let delta = super::stats::DataDelta {
            events: vec![(e.category.clone(), -1)],
            ..Default::default()
        };
        ops.extend(delta.ops(user));
        match self.table.transact(ops).await {
            Err(StoreError::ConditionFailed) => Ok(()),
            r => r,
        }
    }

    async fn scores_of_sleep(
        &self,
        user: Uuid,
        e: &EventRecord,
    ) -> Result<Vec<HealthScore>, StoreError> {
        if e.category != "sleep" {
            return Ok(Vec::new());
        }
        let all = self.health_scores(user, None, None).await?;
        Ok(all
            .into_iter()
            .filter(|s| s.sleep_record_id == Some(e.id))
            .collect())
    }

    /// Deletes everything one provider brought for a user: its data sources' chunks, roll-ups,
    /// events (with their claims and scores) and health scores. Returns the local dates whose
    /// roll-ups must be recomputed. A query over the user's own partition, not a scan.
    pub async fn delete_provider_data(
        &self,
        user: Uuid,
        provider: &str,
    ) -> Result<BTreeSet<NaiveDate>, StoreError> {
        let sources: BTreeSet<Uuid> = self
            .data_sources(user)
            .await?
            .into_iter()
            .filter(|d| d.provider == provider)
            .map(|d| d.id)
            .collect();
        let items = query_all(
            self.table.as_ref(),
            Query::partition(Index::Primary, user_pk(user)),
        )
        .await?;
        let mut doomed = Vec::new();
        let mut removed = super::stats::DataDelta::default();
        let mut days = BTreeSet::new();
        let ds_of = |sk: &str| sk.rsplit('#').next().and_then(|s| Uuid::parse_str(s).ok());
        for item in &items {
            let sk = item.sk.as_str();
            let hit = if sk.starts_with("TS#") || sk.starts_with("TA#") || sk.starts_with("DS#") {
                ds_of(sk).is_some_and(|d| sources.contains(&d))
            } else if let Some(rest) = sk.strip_prefix("DAY#") {
                let hit = ds_of(sk).is_some_and(|d| sources.contains(&d));
                if hit && let Some(d) = rest.split('#').next().and_then(|d| d.parse().ok()) {
                    days.insert(d);
                }
                hit
            } else if sk.starts_with("EVKEY#") {
                sk.split('#')
                    .nth(1)
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .is_some_and(|d| sources.contains(&d))
            } else if sk.starts_with("EV#") {
                sources.contains(&decode::<EventRecord>(item)?.data_source_id)
            } else if sk.starts_with("HS#") {
                let s: HealthScore = decode(item)?;
                s.provider == provider || s.data_source_id.is_some_and(|d| sources.contains(&d))
            } else {
                false
            };
            if hit {
                if sk.starts_with("TS#") {
                    let n = chunk::count(&item.data).unwrap_or(0);
                    removed.samples -= n as i64;
                    removed.chunks -= 1;
                    removed.chunk_bytes -= item.stored_size() as i64;
                } else if sk.starts_with("EV#") {
                    let cat = sk.split('#').nth(1).unwrap_or_default().to_string();
                    removed.events.push((cat, -1));
                }
                doomed.push(item.key());
            }
        }
        self.table.batch_delete(doomed).await?;
        self.count_data(user, &removed).await?;
        Ok(days)
    }

    // ---------- health scores ----------

    /// Inserts a score unless (provider, category, recorded_at) exists (first write wins).
    pub async fn insert_score(&self, s: &HealthScore) -> Result<bool, StoreError> {
        let item = Item::new(user_pk(s.user_id), score_sk(s), encode(s)?);
        match self.table.put(item, Condition::NotExists).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes a score, replacing any with the same (provider, category, recorded_at): for
    /// scores Open Wearables computes itself and recomputes when inputs change.
    pub async fn put_score(&self, s: &HealthScore) -> Result<(), StoreError> {
        self.table
            .put(
                Item::new(user_pk(s.user_id), score_sk(s), encode(s)?),
                Condition::None,
            )
            .await
    }

    pub async fn delete_score(&self, s: &HealthScore) -> Result<(), StoreError> {
        self.table
            .delete(&Key::new(user_pk(s.user_id), score_sk(s)), Condition::None)
            .await
    }

    /// Scores with `recorded_at` in `[from, to)`, newest first.
    pub async fn health_scores(
        &self,
        user: Uuid,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<HealthScore>, StoreError> {
        let lo = format!("HS#{}", from.map(sort_ts).unwrap_or_default());
        let hi = format!("HS#{}", to.map(sort_ts).unwrap_or_else(|| "~".into()));
        let q = Query::partition(Index::Primary, user_pk(user))
            .range(SkRange::Between(lo, hi))
            .descending();
        let mut out: Vec<HealthScore> = query_all(self.table.as_ref(), q)
            .await?
            .iter()
            .map(decode)
            .collect::<Result<_, _>>()?;
        out.retain(|s| {
            from.is_none_or(|f| s.recorded_at >= f) && to.is_none_or(|t| s.recorded_at < t)
        });
        Ok(out)
    }

    // ---------- SDK sleep ----------

    /// Stores a batch's sleep segments for the sleep job.
    pub async fn queue_sleep_segments(
        &self,
        user: Uuid,
        received: DateTime<Utc>,
        batch: Uuid,
        segments: &[SleepSegment],
    ) -> Result<(), StoreError> {
        if segments.is_empty() {
            return Ok(());
        }
        // Stay well under the item limit: a 6 MB request can carry many segments.
        for (i, part) in segments.chunks(1000).enumerate() {
            let sk = format!("SLEEPQ#{}#{batch}#{i:04}", sort_ts(received));
            self.table
                .put(
                    Item::new(user_pk(user), sk, encode(&part)?),
                    Condition::None,
                )
                .await?;
        }
        Ok(())
    }

    /// Pending segment batches, oldest first, with their keys.
    pub async fn pending_sleep_segments(
        &self,
        user: Uuid,
    ) -> Result<Vec<(Key, Vec<SleepSegment>)>, StoreError> {
        let q = Query::partition(Index::Primary, user_pk(user))
            .range(SkRange::Prefix("SLEEPQ#".into()));
        let items = query_all(self.table.as_ref(), q).await?;
        items
            .iter()
            .map(|i| decode(i).map(|s| (i.key(), s)))
            .collect()
    }

    /// Users with an in-progress SDK sleep session (for the stale-session sweep).
    pub async fn users_with_open_sleep(&self) -> Result<Vec<Uuid>, StoreError> {
        let items = query_all(
            self.table.as_ref(),
            Query::partition(Index::Gsi1, "SLEEPOPEN"),
        )
        .await?;
        Ok(items
            .iter()
            .filter_map(|i| i.gsi1.as_ref().and_then(|(_, u)| Uuid::parse_str(u).ok()))
            .collect())
    }

    /// The in-progress sleep state and its version.
    pub async fn sleep_state(
        &self,
        user: Uuid,
    ) -> Result<(Option<SleepState>, Option<u64>), StoreError> {
        match self
            .table
            .get(&Key::new(user_pk(user), "SLEEPSTATE"))
            .await?
        {
            Some(i) => Ok((decode(&i)?, Some(i.version))),
            None => Ok((None, None)),
        }
    }

    /// Saves the sleep state and deletes the consumed segment batches atomically, only if the
    /// state is still at `version` (`None`: it did not exist).
    pub async fn commit_sleep_state(
        &self,
        user: Uuid,
        state: Option<&SleepState>,
        version: Option<u64>,
        consumed: Vec<Key>,
    ) -> Result<(), StoreError> {
        let key = Key::new(user_pk(user), "SLEEPSTATE");
        let cond = version.map_or(Condition::NotExists, Condition::VersionIs);
        let mut ops = vec![match state {
            Some(s) => {
                let mut item = Item::new(key.pk.clone(), key.sk.clone(), encode(s)?)
                    .with_gsi1("SLEEPOPEN", user.to_string());
                item.version = version.unwrap_or(0) + 1;
                WriteOp::Put(item, cond)
            }
            None if version.is_some() => WriteOp::Delete(key, cond),
            None => WriteOp::Check(key, cond),
        }];
        for k in consumed.into_iter().take(99) {
            ops.push(WriteOp::Delete(k, Condition::None));
        }
        self.table.transact(ops).await
    }
}

fn score_sk(s: &HealthScore) -> String {
    format!(
        "HS#{}#{}#{}",
        sort_ts(s.recorded_at),
        s.provider,
        s.category
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedTable;
    use crate::store::{Page, Table};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A table where another writer slips in between our read and our conditional write, once.
    struct Racing {
        inner: Arc<EmbeddedTable>,
        raced: AtomicBool,
        /// The writes (by sort-key prefix) the rival slips in before.
        before: &'static str,
    }

    #[async_trait::async_trait]
    impl Table for Racing {
        async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
            self.inner.get(key).await
        }
        async fn put(&self, item: Item, cond: Condition) -> Result<(), StoreError> {
            if item.sk.starts_with(self.before) && !self.raced.swap(true, Ordering::SeqCst) {
                let rival = Db::new(self.inner.clone());
                rival
                    .merge_samples(Uuid::nil(), &[hr_sample(999, 0.005)])
                    .await?;
            }
            self.inner.put(item, cond).await
        }
        async fn delete(&self, key: &Key, cond: Condition) -> Result<(), StoreError> {
            self.inner.delete(key, cond).await
        }
        async fn query(&self, q: &Query) -> Result<Page, StoreError> {
            self.inner.query(q).await
        }
        async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
            self.inner.batch_put(items).await
        }
        async fn batch_delete(&self, keys: Vec<Key>) -> Result<(), StoreError> {
            self.inner.batch_delete(keys).await
        }
        async fn batch_get(&self, keys: Vec<Key>) -> Result<Vec<Item>, StoreError> {
            self.inner.batch_get(keys).await
        }
        async fn counters(&self, key: &Key) -> Result<crate::store::Counters, StoreError> {
            self.inner.counters(key).await
        }
        async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
            self.inner.transact(ops).await
        }
        async fn put_each(
            &self,
            items: Vec<(Item, Condition)>,
        ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
            let mut out = Vec::new();
            for (item, cond) in items {
                out.push(self.put(item, cond).await);
            }
            Ok(out)
        }
    }

    /// A table in `dir` and a [`Db`] over it whose writes before `before` race once.
    fn racing(dir: &tempfile::TempDir, before: &'static str) -> (Arc<EmbeddedTable>, Db) {
        let inner = Arc::new(EmbeddedTable::open(&dir.path().join("t.redb")).expect("open"));
        let db = Db::new(Arc::new(Racing {
            inner: inner.clone(),
            raced: AtomicBool::new(false),
            before,
        }));
        (inner, db)
    }

    fn hour_start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
            .expect("t")
            .to_utc()
    }

    /// A heart-rate sample `micros` into the first hour of 2025 (nil data source).
    fn hr_sample(micros: i64, value: f64) -> SampleWrite {
        SampleWrite {
            series: SeriesType::HeartRate,
            data_source_id: Uuid::nil(),
            at: hour_start() + chrono::Duration::microseconds(micros),
            value,
            zone_offset: None,
            is_daily_total: None,
        }
    }

    #[tokio::test]
    async fn a_chunk_write_that_loses_a_race_retries_and_keeps_both_writers_samples() {
        let dir = tempfile::tempdir().expect("dir");
        let (inner, db) = racing(&dir, "TS#");
        let stats = db
            .merge_samples(Uuid::nil(), &[hr_sample(1, 70.0)])
            .await
            .expect("merge");
        assert_eq!(stats.chunks_written, 1);
        assert_eq!(
            stats.new_points,
            BTreeMap::from([(SeriesType::HeartRate, 1)]),
            "the rival's sample is its own"
        );
        let item = stored_chunk(&inner).await;
        let points = chunk::decode(&item.data).expect("decode");
        let base = hour_start().timestamp_micros();
        assert_eq!(
            points.iter().map(|p| p.t - base).collect::<Vec<_>>(),
            vec![1, 999]
        );
        assert_eq!(points[0].milli, 70_000);
        assert_eq!(
            item.version, 2,
            "the rival wrote version 1, our retry version 2"
        );
        assert_eq!(
            day_aggregate(&inner).await.hours.get(&0),
            Some(&series_agg::hour_agg(&points, 2)),
            "the day aggregate holds the chunk as it ended up"
        );
    }

    /// The key of the test hour's day aggregate.
    fn day_aggregate_key() -> Key {
        Key::new(
            user_pk(Uuid::nil()),
            agg_sk(
                SeriesType::HeartRate,
                hour_start().timestamp_micros(),
                Uuid::nil(),
            ),
        )
    }

    async fn day_aggregate(table: &EmbeddedTable) -> series_agg::DayAgg {
        let item = table
            .get(&day_aggregate_key())
            .await
            .expect("get")
            .expect("aggregate");
        series_agg::DayAgg::decode(&item.data).expect("decodes")
    }

    /// The test hour's chunk as stored.
    async fn stored_chunk(table: &EmbeddedTable) -> Item {
        let sk = chunk_sk(SeriesType::HeartRate, "2025-01-01T00", Uuid::nil());
        table
            .get(&Key::new(user_pk(Uuid::nil()), sk))
            .await
            .expect("get")
            .expect("chunk")
    }

    /// A rival writes the same chunk again between our chunk write and our aggregate write:
    /// its newer chunk version wins the aggregate, whichever write lands last.
    #[tokio::test]
    async fn an_aggregate_write_that_loses_a_race_keeps_the_newest_chunk() {
        let dir = tempfile::tempdir().expect("dir");
        let (inner, db) = racing(&dir, "TA#");
        db.merge_samples(Uuid::nil(), &[hr_sample(1, 70.0)])
            .await
            .expect("merge");
        let item = stored_chunk(&inner).await;
        assert_eq!(item.version, 2, "ours wrote version 1, the rival version 2");
        let points = chunk::decode(&item.data).expect("decode");
        assert_eq!(points.len(), 2);
        let agg = day_aggregate(&inner).await;
        assert_eq!(agg.hours.get(&0), Some(&series_agg::hour_agg(&points, 2)));
        assert_eq!(agg.hours[&0].slots[0].as_ref().map(|s| s.n), Some(2));

        // Writing an unchanged chunk again repairs an aggregate that fell behind it.
        let stale = series_agg::DayAgg::default().encode();
        let key = day_aggregate_key();
        inner
            .put(
                Item::new(key.pk.clone(), key.sk.clone(), stale),
                Condition::None,
            )
            .await
            .expect("put");
        let plain = Db::new(inner.clone());
        let stats = plain
            .merge_samples(Uuid::nil(), &[hr_sample(1, 70.0)])
            .await
            .expect("merge");
        assert_eq!(stats.chunks_written, 0);
        assert_eq!(day_aggregate(&inner).await, agg);
    }

    #[test]
    fn hour_keys_round_trip() {
        let t = DateTime::parse_from_rfc3339("2025-03-04T05:59:59.5Z")
            .expect("t")
            .to_utc();
        assert_eq!(hour_key(t), "2025-03-04T05");
        assert_eq!(
            parse_hour("2025-03-04T05").map(hour_key).as_deref(),
            Some("2025-03-04T05")
        );
    }
}

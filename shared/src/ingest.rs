//! The write path: SDK push ingestion (parse the batch, store it, answer) and the one
//! normalised-batch write ([`write_batch`]) that every source of data stores through: samples
//! merged into chunks, events, scores and sleep segments durably, then the derived work queued.
//! Everything the answer counts is stored before the answer is sent.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::app::AppState;
use crate::app::Job;
use crate::domain::scores::resilience_dates;
use crate::domain::sdk::{
    ParseError, ParsedBatch, SdkProvider, SleepSegment, SourceInfo, parse_sdk_payload,
};
use crate::domain::series::SeriesType;
use crate::domain::states::ConnectionStatus;
use crate::domain::summary::feeds_rollups;
use crate::domain::summary::infer_device_type;
use crate::domain::time::local_date;
use crate::repo::health::{DataSource, EventDetails, EventRecord, HealthScore, SampleWrite};
use crate::store::StoreError;

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    pub records_saved: usize,
    pub workouts_saved: usize,
    pub sleep_saved: usize,
    pub dropped_count: usize,
    /// Chunk items written and their bytes (capacity accounting).
    pub chunks_written: usize,
    pub chunk_bytes: usize,
    /// Samples at instants not stored before.
    pub new_samples: usize,
}

/// Why a batch was refused.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{0}")]
    BadPayload(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The data source (deterministic id) of an SDK item's provenance.
pub fn data_source_for(user: Uuid, s: &SourceInfo, now: DateTime<Utc>) -> DataSource {
    DataSource {
        id: s.key().deterministic_id(user),
        user_id: user,
        provider: s.provider.as_str().to_string(),
        user_connection_id: None,
        device_model: s.device_model.clone(),
        software_version: s.software_version.clone(),
        source: s.source.clone(),
        device_type: infer_device_type(s.device_model.as_deref())
            .stored()
            .map(|d| d.as_str().to_string()),
        original_source_name: None,
        created_at: now,
    }
}

/// Ingests one SDK payload for `user` (who must exist).
pub async fn ingest_sdk(
    state: &AppState,
    user: Uuid,
    body: &[u8],
    provider: Option<SdkProvider>,
) -> Result<IngestOutcome, IngestError> {
    let batch = parse_sdk_payload(body, provider)
        .map_err(|e| IngestError::BadPayload(payload_error(&e)))?;
    Ok(ingest_sdk_batch(state, user, batch).await?)
}

/// Stores one parsed SDK batch for `user` (who must exist): the write path, then the SDK
/// connection's `last_synced_at`.
pub async fn ingest_sdk_batch(
    state: &AppState,
    user: Uuid,
    batch: ParsedBatch,
) -> Result<IngestOutcome, StoreError> {
    let sdk_provider = batch
        .provider
        .and_then(|p| p.as_str().parse::<crate::domain::provider::Provider>().ok());
    let (records_saved, sleep_saved, dropped_count) =
        (batch.records_saved, batch.sleep_saved, batch.dropped_count);
    let written = write_batch(state, user, device_batch(user, batch, state.now())).await?;
    if let Some(p) = sdk_provider {
        touch_sdk_connection(state, user, p).await?;
    }
    Ok(IngestOutcome {
        records_saved,
        workouts_saved: written
            .new_events
            .iter()
            .filter(|e| e.category == "workout")
            .count(),
        sleep_saved,
        dropped_count,
        chunks_written: written.chunks_written,
        chunk_bytes: written.chunk_bytes,
        new_samples: written.new_samples.values().sum(),
    })
}

/// The SDK "connection" of a user (data-model §1.10): created on the first push, re-activated
/// and stamped with `last_synced_at` on every push.
pub async fn touch_sdk_connection(
    state: &AppState,
    user: Uuid,
    provider: crate::domain::provider::Provider,
) -> Result<(), StoreError> {
    let now = state.now();
    let conn = match state.db.connection(user, provider.as_str()).await? {
        Some(mut c) => {
            c.status = ConnectionStatus::Active;
            c.last_synced_at = Some(now);
            c.updated_at = now;
            c
        }
        None => crate::repo::connections::Connection {
            id: Uuid::new_v4(),
            user_id: user,
            provider,
            provider_user_id: None,
            provider_username: None,
            scope: None,
            status: ConnectionStatus::Active,
            access_token: None,
            refresh_token: None,
            token_expires_at: None,
            last_synced_at: Some(now),
            created_at: now,
            updated_at: now,
            next_poll_at: None,
        },
    };
    state.db.save_connection(&conn).await
}

/// Where a batch came from; decides the derived work it queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchOrigin {
    /// A device (SDK pushes, synthetic data): sleep segments feed the sleep job and RMSSD
    /// samples the internal resilience score.
    Device,
    /// A cloud provider (pulls, webhooks): sessions and scores arrive computed.
    Provider,
    /// A job's results from stored data (the sleep job's sessions and their scores): the job
    /// itself returns the follow-up work they need.
    Derived,
}

/// Everything one write stores, normalised: data sources, samples, events (first write wins),
/// scores (first write wins) and SDK sleep segments for the sleep job.
#[derive(Debug, Clone)]
pub struct NormalizedBatch {
    pub origin: BatchOrigin,
    pub sources: Vec<DataSource>,
    pub samples: Vec<SampleWrite>,
    pub events: Vec<EventRecord>,
    pub scores: Vec<HealthScore>,
    pub sleep_segments: Vec<SleepSegment>,
}

impl NormalizedBatch {
    /// An empty batch.
    pub fn new(origin: BatchOrigin) -> Self {
        Self {
            origin,
            sources: Vec::new(),
            samples: Vec::new(),
            events: Vec::new(),
            scores: Vec::new(),
            sleep_segments: Vec::new(),
        }
    }
}

/// An event a write stored that was not stored before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub id: Uuid,
    /// `workout`, `sleep`, ...
    pub category: String,
}

/// What one write newly stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Samples at instants not stored before, per series.
    pub new_samples: BTreeMap<SeriesType, usize>,
    /// Chunk items written and their bytes (capacity accounting).
    pub chunks_written: usize,
    pub chunk_bytes: usize,
    /// Events not stored before, in batch order.
    pub new_events: Vec<NewEvent>,
    /// Ids of scores not stored before.
    pub new_scores: Vec<Uuid>,
    /// Sleep segments queued for the sleep job.
    pub sleep_segments_queued: usize,
}

/// The normalised form of a parsed SDK batch (or synthetic data built like one).
pub fn device_batch(user: Uuid, batch: ParsedBatch, now: DateTime<Utc>) -> NormalizedBatch {
    let mut sources: BTreeMap<Uuid, DataSource> = BTreeMap::new();
    // A batch has a handful of distinct sources: each is turned into its data source (a UUID
    // v5 digest) once, not once per sample.
    let mut seen: HashMap<SourceInfo, Uuid> = HashMap::new();
    let mut source_of = |s: &SourceInfo| {
        if let Some(id) = seen.get(s) {
            return *id;
        }
        let ds = data_source_for(user, s, now);
        let id = ds.id;
        sources.entry(id).or_insert(ds);
        seen.insert(s.clone(), id);
        id
    };
    let samples = batch
        .samples
        .iter()
        .map(|s| SampleWrite {
            series: s.series,
            data_source_id: source_of(&s.source),
            at: s.recorded_at,
            value: s.value,
            zone_offset: s.zone_offset.clone(),
            is_daily_total: s.is_daily_total,
        })
        .collect();
    let events = batch
        .workouts
        .iter()
        .map(|w| EventRecord {
            id: Uuid::new_v4(),
            data_source_id: source_of(&w.source),
            category: "workout".into(),
            event_type: w.workout_type.map(|t| t.code().to_string()),
            source_name: w.source_name.clone(),
            duration_seconds: Some(w.duration_seconds),
            start: w.start,
            end: w.end,
            zone_offset: w.zone_offset.clone(),
            external_id: w.external_id.clone(),
            details: w.details.clone().map(EventDetails::Workout),
            created_at: now,
        })
        .collect();
    for seg in &batch.sleep_segments {
        source_of(&seg.source);
    }
    NormalizedBatch {
        origin: BatchOrigin::Device,
        sources: sources.into_values().collect(),
        samples,
        events,
        scores: Vec::new(),
        sleep_segments: batch.sleep_segments,
    }
}

/// The one write path: stores a normalised batch (data sources, sample chunks, the series
/// index, events and scores first write wins, sleep segments) durably, then queues the derived
/// jobs. SDK pushes, provider pulls and webhooks, synthetic data and the sleep job's sessions
/// and scores all store through here, so what it reports as new is everything that became new.
pub async fn write_batch(
    state: &AppState,
    user: Uuid,
    batch: NormalizedBatch,
) -> Result<WriteOutcome, StoreError> {
    let now = state.now();
    let mut days: BTreeSet<NaiveDate> = BTreeSet::new();
    let mut hrv_days: BTreeSet<NaiveDate> = BTreeSet::new();
    let mut series_seen: BTreeSet<SeriesType> = BTreeSet::new();
    for s in &batch.samples {
        series_seen.insert(s.series);
        if s.series == SeriesType::HeartRateVariabilityRmssd {
            hrv_days.insert(s.at.date_naive());
        }
        if feeds_rollups(s.series) {
            days.insert(local_date(s.at, s.zone_offset.as_deref()));
        }
    }

    let codes: BTreeSet<String> = series_seen.iter().map(|s| s.code().to_string()).collect();
    let sources = batch.sources.clone();
    state.db.ensure_data_sources(user, batch.sources).await?;
    let stats = state.db.merge_samples(user, &batch.samples).await?;
    if !codes.is_empty() {
        state.db.add_to_series_index(user, &codes).await?;
    }
    let mut new_events = Vec::new();
    for e in &batch.events {
        if state.db.insert_event(user, e).await? {
            if e.category == "workout" {
                days.insert(local_date(e.end, e.zone_offset.as_deref()));
            }
            new_events.push(NewEvent {
                id: e.id,
                category: e.category.clone(),
            });
        }
    }
    let mut new_scores = Vec::new();
    for s in &batch.scores {
        if state.db.insert_score(s).await? {
            new_scores.push(s.id);
        }
    }
    state
        .db
        .queue_sleep_segments(user, now, Uuid::new_v4(), &batch.sleep_segments)
        .await?;

    // Outgoing webhooks: the new facts become messages (stored once each) before the answer;
    // a failure there is logged and never fails the write.
    let new_ids: Vec<Uuid> = new_events.iter().map(|e| e.id).collect();
    crate::services::webhooks::on_write(
        state,
        user,
        &sources,
        &batch.events,
        &new_ids,
        &batch.samples,
        &stats.new_points,
    )
    .await;
    count_written(state, user, &stats, &new_events).await;

    // Derived work. Everything above is stored: a queue failure only delays roll-ups, which
    // the next batch for the same day (or a re-send) recomputes.
    let mut jobs: Vec<Job> = days
        .into_iter()
        .map(|date| Job::Rollup {
            user_id: user,
            date,
        })
        .collect();
    if batch.origin == BatchOrigin::Device {
        jobs.push(Job::Sleep { user_id: user });
        let resilience: BTreeSet<NaiveDate> =
            hrv_days.into_iter().flat_map(resilience_dates).collect();
        jobs.extend(resilience.into_iter().map(|date| Job::Resilience {
            user_id: user,
            date,
        }));
    }
    if !jobs.is_empty()
        && let Err(e) = state.queue.enqueue(jobs).await
    {
        tracing::error!(error = %e, "derived jobs were not queued");
    }
    Ok(WriteOutcome {
        new_samples: stats.new_points,
        chunks_written: stats.chunks_written,
        chunk_bytes: stats.bytes_written,
        new_events,
        new_scores,
        sleep_segments_queued: batch.sleep_segments.len(),
    })
}

/// Hook: the dashboard and storage counters learn what this write added. The data is stored
/// already; a counter failure is logged, never fails the write (a retry would add nothing).
async fn count_written(
    state: &AppState,
    user: Uuid,
    stats: &crate::repo::health::MergeStats,
    events: &[NewEvent],
) {
    let mut delta = crate::repo::stats::DataDelta {
        samples: stats.new_points.values().sum::<usize>() as i64,
        chunks: stats.new_chunks as i64,
        chunk_bytes: stats.bytes_added,
        events: Vec::new(),
    };
    for cat in crate::repo::stats::COUNTED_EVENTS {
        let n = events.iter().filter(|e| e.category == cat).count() as i64;
        delta.events.push((cat.to_string(), n));
    }
    if let Err(e) = state.db.count_data(user, &delta).await {
        tracing::error!(error = %e, %user, "data counters were not updated");
    }
}

/// The client-facing text of a whole-batch failure (the reference's wording where it has one).
pub fn payload_error(e: &ParseError) -> String {
    match e {
        ParseError::InvalidJson => "JSON decode error - the body is not valid JSON".into(),
        ParseError::NotAnObject => "Input should be a valid dictionary".into(),
        ParseError::MissingProvider => {
            "Unsupported provider: . Supported: apple, samsung, google".into()
        }
        ParseError::UnsupportedProvider(p) => {
            format!("Unsupported provider: {p}. Supported: apple, samsung, google")
        }
        ParseError::InvalidEnvelope(why) => format!("Invalid SDK payload: {why}"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;
    use chrono::TimeZone;

    use super::*;
    use crate::app::{JobQueue, QueueError};
    use crate::clock::ManualClock;
    use crate::config::Config;
    use crate::domain::sdk::{Sample, SampleOrigin, WorkoutEvent};
    use crate::repo::Db;
    use crate::store::embedded::EmbeddedTable;

    /// A queue that only records what it was given.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<Job>>, Mutex<Vec<Job>>);

    #[async_trait]
    impl JobQueue for Recorder {
        async fn enqueue(&self, jobs: Vec<Job>) -> Result<(), QueueError> {
            self.0.lock().expect("lock").extend(jobs);
            Ok(())
        }
    }

    impl Recorder {
        /// The derived jobs queued so far (outgoing-webhook fan-outs are counted apart).
        fn take(&self) -> Vec<Job> {
            let all = std::mem::take(&mut *self.0.lock().expect("lock"));
            let (hooks, derived): (Vec<Job>, Vec<Job>) = all
                .into_iter()
                .partition(|j| matches!(j, Job::WebhookFanout { .. }));
            self.1.lock().expect("lock").extend(hooks);
            derived
        }

        fn take_fanouts(&self) -> usize {
            std::mem::take(&mut *self.1.lock().expect("lock")).len()
        }
    }

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 4, h, m, 0)
            .single()
            .expect("t")
    }

    fn state(dir: &std::path::Path) -> (AppState, Arc<Recorder>) {
        let table = EmbeddedTable::open(&dir.join("t.redb")).expect("open");
        let queue = Arc::new(Recorder::default());
        let state = AppState::new(
            Db::new(Arc::new(table)),
            Arc::new(Config::for_tests(dir)),
            Arc::new(ManualClock::new(at(12, 0))),
            queue.clone(),
        );
        (state, queue)
    }

    fn source() -> SourceInfo {
        SourceInfo {
            provider: SdkProvider::Apple,
            device_model: Some("Watch7,5".into()),
            software_version: None,
            source: Some("Watch".into()),
            sdk_device_type: None,
        }
    }

    fn sample(series: SeriesType, t: DateTime<Utc>, value: f64) -> Sample {
        Sample {
            series,
            recorded_at: t,
            value,
            zone_offset: None,
            source: source(),
            external_id: None,
            is_daily_total: series.is_daily_total(),
            origin: SampleOrigin::Record,
        }
    }

    fn parsed() -> ParsedBatch {
        ParsedBatch {
            samples: vec![
                sample(SeriesType::HeartRate, at(8, 0), 61.0),
                sample(SeriesType::HeartRate, at(9, 30), 64.0),
                sample(SeriesType::HeartRateVariabilityRmssd, at(7, 0), 42.0),
            ],
            workouts: vec![WorkoutEvent {
                external_id: Some("w1".into()),
                workout_type: None,
                start: at(10, 0),
                end: at(10, 45),
                zone_offset: None,
                source: source(),
                source_name: "Watch".into(),
                duration_seconds: 2700,
                details: None,
            }],
            ..ParsedBatch::default()
        }
    }

    #[tokio::test]
    async fn a_device_batch_reports_what_is_new_and_queues_its_derived_jobs() {
        let dir = tempfile::tempdir().expect("dir");
        let (state, queue) = state(dir.path());
        let user = Uuid::new_v4();
        let first = write_batch(&state, user, device_batch(user, parsed(), state.now()))
            .await
            .expect("write");
        assert_eq!(
            first.new_samples,
            BTreeMap::from([
                (SeriesType::HeartRate, 2),
                (SeriesType::HeartRateVariabilityRmssd, 1)
            ])
        );
        assert_eq!(
            first.chunks_written, 3,
            "two hours of heart rate, one of RMSSD"
        );
        assert_eq!(first.new_events.len(), 1);
        assert_eq!(first.new_events[0].category, "workout");
        let jobs = queue.take();
        let day = at(0, 0).date_naive();
        assert!(jobs.contains(&Job::Rollup {
            user_id: user,
            date: day
        }));
        assert!(jobs.contains(&Job::Sleep { user_id: user }));
        let resilience = jobs
            .iter()
            .filter(|j| matches!(j, Job::Resilience { .. }))
            .count();
        assert_eq!(
            resilience, 7,
            "each reference date whose window holds the day"
        );

        let again = write_batch(&state, user, device_batch(user, parsed(), state.now()))
            .await
            .expect("write");
        assert!(again.new_samples.is_empty(), "{again:?}");
        assert!(
            again.new_events.is_empty(),
            "the same workout is stored once"
        );
        assert_eq!(again.chunks_written, 0);
    }

    #[tokio::test]
    async fn a_provider_batch_stores_scores_once_and_queues_only_roll_ups() {
        let dir = tempfile::tempdir().expect("dir");
        let (state, queue) = state(dir.path());
        let user = Uuid::new_v4();
        let device = device_batch(user, parsed(), state.now());
        let score = HealthScore {
            id: Uuid::new_v4(),
            user_id: user,
            data_source_id: Some(device.sources[0].id),
            provider: "oura".into(),
            category: "readiness".into(),
            value: Some(80.0),
            qualifier: None,
            recorded_at: at(6, 0),
            zone_offset: None,
            components: None,
            sleep_record_id: None,
            created_at: at(12, 0),
        };
        let batch = || NormalizedBatch {
            scores: vec![HealthScore {
                id: Uuid::new_v4(),
                ..score.clone()
            }],
            ..NormalizedBatch {
                origin: BatchOrigin::Provider,
                ..device.clone()
            }
        };
        let first = write_batch(&state, user, batch()).await.expect("write");
        assert_eq!(first.new_scores.len(), 1);
        let jobs = queue.take();
        assert!(
            jobs.iter().all(|j| matches!(j, Job::Rollup { .. })),
            "{jobs:?}"
        );
        assert!(!jobs.is_empty());
        let again = write_batch(&state, user, batch()).await.expect("write");
        assert!(again.new_scores.is_empty() && again.new_events.is_empty());
    }

    #[tokio::test]
    async fn a_derived_sleep_session_is_new_once_and_queues_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let (state, queue) = state(dir.path());
        let user = Uuid::new_v4();
        let ds = data_source_for(user, &source(), state.now());
        let session = EventRecord {
            id: Uuid::new_v4(),
            data_source_id: ds.id,
            category: "sleep".into(),
            event_type: Some("sleep_session".into()),
            source_name: "Watch".into(),
            duration_seconds: Some(6 * 3600),
            start: at(0, 30),
            end: at(6, 30),
            zone_offset: None,
            external_id: Some("sleep-1".into()),
            details: None,
            created_at: state.now(),
        };
        let batch = |id| NormalizedBatch {
            sources: vec![ds.clone()],
            events: vec![EventRecord {
                id,
                ..session.clone()
            }],
            ..NormalizedBatch::new(BatchOrigin::Derived)
        };
        let first = write_batch(&state, user, batch(session.id))
            .await
            .expect("write");
        assert_eq!(
            first.new_events,
            [NewEvent {
                id: session.id,
                category: "sleep".into()
            }]
        );
        let again = write_batch(&state, user, batch(Uuid::new_v4()))
            .await
            .expect("write");
        assert!(again.new_events.is_empty(), "the same session is new once");
        assert!(
            queue.take().is_empty(),
            "the sleep job returns its own follow-up work"
        );
        assert_eq!(state.db.data_source_map(user).await.expect("read").len(), 1);
        // One outgoing-webhook message, stored with the write (the second write emitted
        // none); no endpoint wants it, so it is stored fanned out and queues no fan-out.
        assert_eq!(queue.take_fanouts(), 0);
        let id = crate::domain::webhooks::message_id(&format!("sleep.created.{}", session.id));
        let msg = state.db.message(&id).await.expect("read").expect("stored");
        assert!(msg.fanned_out);
        assert_eq!(msg.event_type, "sleep.created");
        let body = msg.body();
        assert_eq!(body["data"]["user_id"], user.to_string());
        assert_eq!(body["data"]["start_time"], "2025-03-04T00:30:00+00:00");
        assert_eq!(body["data"]["duration_seconds"], 6 * 3600);
        assert_eq!(body["data"]["source"]["provider"], "apple");
    }
}

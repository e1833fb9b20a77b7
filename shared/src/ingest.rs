//! SDK push ingestion: parse the batch, store samples (merged into chunks), workouts and sleep
//! segments durably, then queue the derived work. Everything the answer counts is stored before
//! the answer is sent.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::app::AppState;
use crate::app::Job;
use crate::domain::sdk::{ParseError, ParsedBatch, SdkProvider, SourceInfo, parse_sdk_payload};
use crate::domain::summary::infer_device_type;
use crate::domain::time::local_date;
use crate::jobs::handlers::{feeds_rollups, resilience_dates};
use crate::repo::chunk::Point;
use crate::repo::health::{DataSource, EventDetails, EventRecord, chunk_sk, hour_key};
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
    let sdk_provider = batch.provider.map(|p| p.as_str().to_string());
    let outcome = store_batch(state, user, batch).await?;
    if let Some(p) = sdk_provider {
        touch_sdk_connection(state, user, &p).await?;
    }
    Ok(outcome)
}

/// The SDK "connection" of a user (data-model §1.10): created on the first push, re-activated
/// and stamped with `last_synced_at` on every push.
async fn touch_sdk_connection(
    state: &AppState,
    user: Uuid,
    provider: &str,
) -> Result<(), StoreError> {
    let now = state.now();
    let conn = match state.db.connection(user, provider).await? {
        Some(mut c) => {
            c.status = "active".into();
            c.last_synced_at = Some(now);
            c.updated_at = now;
            c
        }
        None => crate::repo::connections::Connection {
            id: Uuid::new_v4(),
            user_id: user,
            provider: provider.to_string(),
            provider_user_id: None,
            provider_username: None,
            scope: None,
            status: "active".into(),
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

/// Stores a parsed batch: data sources, sample chunks, workouts, sleep segments, then queues
/// the derived jobs. The synthetic-data generator feeds this same path.
pub async fn store_batch(
    state: &AppState,
    user: Uuid,
    batch: ParsedBatch,
) -> Result<IngestOutcome, IngestError> {
    let now = state.now();

    let mut sources: BTreeMap<Uuid, DataSource> = BTreeMap::new();
    let mut source_of = |s: &SourceInfo| {
        let ds = data_source_for(user, s, now);
        let id = ds.id;
        sources.entry(id).or_insert(ds);
        id
    };

    // Samples → chunks (series, UTC hour, source).
    let mut chunks: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    let mut codes = BTreeSet::new();
    let mut days: BTreeSet<NaiveDate> = BTreeSet::new();
    let mut hrv_days: BTreeSet<NaiveDate> = BTreeSet::new();
    for s in &batch.samples {
        if s.series == crate::domain::series::SeriesType::HeartRateVariabilityRmssd {
            hrv_days.insert(s.recorded_at.date_naive());
        }
        let ds = source_of(&s.source);
        codes.insert(s.series.code().to_string());
        if feeds_rollups(s.series) {
            days.insert(local_date(s.recorded_at, s.zone_offset.as_deref()));
        }
        chunks
            .entry(chunk_sk(s.series, &hour_key(s.recorded_at), ds))
            .or_default()
            .push(Point {
                t: s.recorded_at.timestamp_micros(),
                milli: (s.value * 1000.0).round() as i64,
                zone_offset: s.zone_offset.clone(),
                is_daily_total: s.is_daily_total,
            });
    }
    let workouts: Vec<EventRecord> = batch
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

    state
        .db
        .ensure_data_sources(user, sources.into_values().collect())
        .await?;
    let stats = state
        .db
        .merge_chunks(user, chunks.into_iter().collect())
        .await?;
    if !codes.is_empty() {
        state.db.add_to_series_index(user, &codes).await?;
    }
    let mut workouts_saved = 0;
    for w in &workouts {
        if state.db.insert_event(user, w).await? {
            workouts_saved += 1;
            days.insert(local_date(w.end, w.zone_offset.as_deref()));
        }
    }
    state
        .db
        .queue_sleep_segments(user, now, Uuid::new_v4(), &batch.sleep_segments)
        .await?;

    // Derived work. Everything above is stored: a queue failure only delays roll-ups, which
    // the next batch for the same day (or a re-send) recomputes.
    let mut jobs: Vec<Job> = days
        .into_iter()
        .map(|date| Job::Rollup {
            user_id: user,
            date,
        })
        .collect();
    jobs.push(Job::Sleep { user_id: user });
    let resilience: BTreeSet<NaiveDate> = hrv_days.into_iter().flat_map(resilience_dates).collect();
    jobs.extend(resilience.into_iter().map(|date| Job::Resilience {
        user_id: user,
        date,
    }));
    if let Err(e) = state.queue.enqueue(jobs).await {
        tracing::error!(error = %e, "derived jobs were not queued");
    }
    Ok(IngestOutcome {
        records_saved: batch.records_saved,
        workouts_saved,
        sleep_saved: batch.sleep_saved,
        dropped_count: batch.dropped_count,
        chunks_written: stats.chunks_written,
        chunk_bytes: stats.bytes_written,
        new_samples: stats.new_points,
    })
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

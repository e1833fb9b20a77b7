//! The job handlers. Each recomputes from stored data, so running one twice is harmless.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate, Utc};
use uuid::Uuid;

use super::{Job, JobError};
use crate::app::AppState;
use crate::domain::scores::{
    RESILIENCE_LOOKBACK_DAYS, SleepScoreInput, consistency_history, resilience, sleep_score,
    sleep_score_recorded_at, sleep_windows,
};
use crate::domain::sdk::{SdkProvider, SourceInfo};
use crate::domain::series::SeriesType;
use crate::domain::sleep::{
    SleepSessionDraft, SleepState, StoredSleepWindow, apply_segments, find_adjacent,
    finish_session, finish_session_merged,
};
use crate::domain::summary::{
    ACTIVITY_SERIES, ActivitySample, IntensityThresholds, activity_days, intensity_minutes,
    max_heart_rate, offset_secs, step_minutes,
};
use crate::domain::time::{local_date, local_datetime, start_of_utc_day};
use crate::ingest::{BatchOrigin, NormalizedBatch, write_batch};
use crate::repo::health::{DayRollup, EventDetails, EventRecord, HealthScore};
use crate::store::StoreError;

/// Runs one job; returns follow-up jobs to enqueue.
pub async fn handle(state: &AppState, job: &Job) -> Result<Vec<Job>, JobError> {
    match job {
        Job::Rollup { user_id, date } => rollup_day(state, *user_id, *date).await?,
        Job::Sleep { user_id } => return Ok(process_sleep(state, *user_id).await?),
        Job::ProviderSync {
            user_id,
            provider,
            start,
            end,
        } => crate::providers::sync::run(state, *user_id, provider.as_str(), *start, *end)
            .await
            .map_err(|e| match e {
                crate::providers::sync::SyncError::Store(e) => JobError::from(e),
                crate::providers::sync::SyncError::Retry(m) => {
                    JobError::Retryable(format!("provider sync will be retried: {m}"))
                }
            })?,
        Job::Resilience { user_id, date } => resilience_day(state, *user_id, *date).await?,
        Job::WebhookFanout { msg_id } => {
            return Ok(crate::services::webhooks::fanout(state, msg_id).await?);
        }
        Job::WebhookDeliver {
            msg_id,
            endpoint_id,
            attempt,
            manual,
        } => {
            return Ok(crate::services::webhooks::deliver(
                state,
                msg_id,
                endpoint_id,
                *attempt,
                *manual,
            )
            .await?);
        }
        Job::Retention { task_id } => {
            let setting = state.db.lifecycle_setting().await?;
            let Some(days) = setting.delete_after_days else {
                tracing::info!(%task_id, "retention: no delete_after_days, nothing to delete");
                return Ok(Vec::new());
            };
            let cutoff = state.now() - Duration::days(days);
            let users = state.db.all_users().await?;
            tracing::info!(%task_id, users = users.len(), %cutoff, "retention dispatched");
            return Ok(users
                .into_iter()
                .map(|u| Job::RetentionUser {
                    task_id: *task_id,
                    user_id: u.id,
                    cutoff,
                })
                .collect());
        }
        Job::RetentionUser {
            task_id,
            user_id,
            cutoff,
        } => {
            let swept = state.db.sweep_user_before(*user_id, *cutoff).await?;
            tracing::info!(%task_id, user = %user_id, chunks = swept.chunks, samples = swept.samples,
                events = swept.events, other = swept.other, "retention swept");
        }
        Job::AppleImportS3 { bucket, key, etag } => {
            // The import function passes its deadline (`s3_import::run_job`); here (the
            // local queue, or the job function) an import runs to its end.
            return Ok(crate::services::s3_import::run_job(
                state,
                bucket,
                key,
                etag.as_deref(),
                crate::services::s3_import::Budget::default(),
            )
            .await?);
        }
        Job::SeriesAggregates { user_id } => {
            if !state.db.aggregates_ready(*user_id).await? {
                let chunks = state.db.rebuild_aggregates(*user_id).await?;
                tracing::info!(user = %user_id, chunks, "series aggregates rebuilt");
            }
        }
        Job::Seed {
            task_id,
            users,
            seed,
            profile,
        } => {
            tracing::info!(%task_id, users, seed, "seeding synthetic data");
            match crate::seed::run(state, *users, *seed, profile).await {
                Ok(ids) => tracing::info!(%task_id, users = ids.len(), "seed finished"),
                // A bad profile cannot succeed on retry.
                Err(crate::ingest::IngestError::BadPayload(m)) => {
                    return Err(JobError::Permanent(format!("seed {task_id} refused: {m}")));
                }
                Err(crate::ingest::IngestError::Store(e)) => return Err(e.into()),
            }
        }
    }
    Ok(Vec::new())
}

/// Recomputes the activity roll-ups of one local date from the stored chunks.
pub async fn rollup_day(state: &AppState, user: Uuid, date: NaiveDate) -> Result<(), StoreError> {
    // Local dates span UTC −14h … +12h around the UTC day.
    let from = start_of_utc_day(date) - Duration::hours(14);
    let to = start_of_utc_day(date) + Duration::hours(24 + 12);
    let mut by_source: BTreeMap<Uuid, Vec<ActivitySample>> = BTreeMap::new();
    let mut counts: BTreeMap<Uuid, BTreeMap<String, u64>> = BTreeMap::new();
    for series in ACTIVITY_SERIES {
        for chunk in state.db.raw_chunks(user, series, from, to).await? {
            // Visited in place: no point (and no zone string) is allocated per sample.
            let samples = by_source.entry(chunk.data_source_id).or_default();
            let mut n = 0u64;
            crate::repo::chunk::visit(&chunk.data, |t, milli, zone, daily| {
                let Some(at) = chrono::DateTime::from_timestamp_micros(t) else {
                    return;
                };
                let sample = ActivitySample {
                    series,
                    recorded_at: at,
                    value: milli as f64 / 1000.0,
                    offset_secs: offset_secs(zone),
                    is_daily_total: daily,
                };
                if sample.local_date() == date {
                    n += 1;
                    samples.push(sample);
                }
            })
            .map_err(|e| StoreError::Backend(e.to_string()))?;
            if n > 0 {
                *counts
                    .entry(chunk.data_source_id)
                    .or_default()
                    .entry(series.code().to_string())
                    .or_default() += n;
            }
        }
    }
    by_source.retain(|_, samples| !samples.is_empty());
    let existing: BTreeSet<Uuid> = state
        .db
        .rollups(user, date, date + Duration::days(1))
        .await?
        .into_iter()
        .map(|r| r.data_source_id)
        .collect();
    let thresholds = IntensityThresholds::from_max_hr(max_heart_rate(None, date));
    for (ds, samples) in &by_source {
        let Some(day) = activity_days(samples).remove(&date) else {
            continue;
        };
        let rollup = DayRollup {
            date,
            data_source_id: *ds,
            day,
            step_minutes: step_minutes(samples).remove(&date),
            intensity: intensity_minutes(samples, thresholds).remove(&date),
            counts: counts.remove(ds).unwrap_or_default(),
        };
        state.db.put_rollup(user, &rollup).await?;
    }
    for ds in existing.difference(&by_source.keys().copied().collect()) {
        state.db.delete_rollup(user, date, *ds).await?;
    }
    Ok(())
}

/// Recomputes (or removes) the internal resilience score of reference date `r` (data-model
/// §5.2). Unlike the reference, a stored score follows later data: the job runs whenever RMSSD
/// samples or sleep sessions inside its window change.
pub async fn resilience_day(state: &AppState, user: Uuid, r: NaiveDate) -> Result<(), StoreError> {
    if r > state.now().date_naive() {
        return Ok(());
    }
    let we = start_of_utc_day(r);
    let ws = we - Duration::days(RESILIENCE_LOOKBACK_DAYS);
    let sessions = state
        .db
        .events(user, "sleep", Some(ws - Duration::days(2)), Some(we))
        .await?;
    let windows: Vec<_> = sessions
        .iter()
        .filter(|e| e.end >= ws && e.start < we)
        .flat_map(|e| {
            let stages = match &e.details {
                Some(EventDetails::Sleep(d)) => Some(d.stages.as_slice()),
                _ => None,
            };
            sleep_windows(e.start, e.end, stages)
        })
        .collect();
    let (a, b) = (ws.timestamp_micros(), we.timestamp_micros());
    let mut rmssd = Vec::new();
    for c in state
        .db
        .chunks(
            user,
            SeriesType::HeartRateVariabilityRmssd,
            ws,
            we - Duration::microseconds(1),
        )
        .await?
    {
        for p in c.points.iter().filter(|p| p.t >= a && p.t < b) {
            if let Some(t) = chrono::DateTime::from_timestamp_micros(p.t) {
                rmssd.push((t, p.value()));
            }
        }
    }
    let existing = state
        .db
        .health_scores(user, Some(we), Some(we + Duration::microseconds(1)))
        .await?;
    let existing = existing
        .into_iter()
        .find(|s| s.provider == "internal" && s.category == "resilience");
    match resilience(r, &windows, &rmssd) {
        Some(res) => {
            let score = HealthScore {
                id: existing.as_ref().map_or_else(Uuid::new_v4, |s| s.id),
                user_id: user,
                data_source_id: None,
                provider: "internal".into(),
                category: "resilience".into(),
                value: Some(res.stored_value()),
                qualifier: None,
                recorded_at: we,
                zone_offset: None,
                components: Some(res.components()),
                sleep_record_id: None,
                created_at: existing
                    .as_ref()
                    .map_or_else(|| state.now(), |s| s.created_at),
            };
            state.db.put_score(&score).await
        }
        None => match existing {
            Some(s) => state.db.delete_score(&s).await,
            None => Ok(()),
        },
    }
}

/// Most pending segment batches consumed per run (one transaction holds ≤ 100 writes).
const SLEEP_BATCHES_PER_RUN: usize = 90;

/// Feeds pending SDK sleep segments into the per-user state machine, finalises closed and stale
/// sessions into sleep events, and scores them.
pub async fn process_sleep(state: &AppState, user: Uuid) -> Result<Vec<Job>, StoreError> {
    let (current, version) = state.db.sleep_state(user).await?;
    let pending = state.db.pending_sleep_segments(user).await?;
    let more = pending.len() > SLEEP_BATCHES_PER_RUN;
    let pending: Vec<_> = pending.into_iter().take(SLEEP_BATCHES_PER_RUN).collect();
    if current.is_none() && pending.is_empty() {
        return Ok(Vec::new());
    }
    let segments: Vec<_> = pending
        .iter()
        .flat_map(|(_, s)| s.iter().cloned())
        .collect();
    let outcome = apply_segments(current, &segments);
    let mut closed = outcome.closed;
    let mut open = outcome.state;
    if open.as_ref().is_some_and(|s| s.is_stale(state.now())) {
        closed.extend(open.take());
    }
    let mut follow_up = Vec::new();
    for st in &closed {
        let draft = merge_with_adjacent(state, user, st).await?;
        if let Some(date) = store_sleep_session(state, user, &draft).await? {
            follow_up.push(Job::Rollup {
                user_id: user,
                date,
            });
        }
    }
    let keys = pending.into_iter().map(|(k, _)| k).collect();
    state
        .db
        .commit_sleep_state(user, open.as_ref(), version, keys)
        .await?;
    if more {
        follow_up.push(Job::Sleep { user_id: user });
    }
    Ok(follow_up)
}

/// Finalises a closed state; when a stored session of the same provider and writer overlaps it
/// or lies within 120 minutes (data-model §4.6 step 3), the two are merged and the stored one is
/// replaced (its score goes with it).
async fn merge_with_adjacent(
    state: &AppState,
    user: Uuid,
    st: &SleepState,
) -> Result<SleepSessionDraft, StoreError> {
    let own = finish_session(st);
    let gap = crate::domain::sleep::sleep_end_gap();
    let sources = state.db.data_source_map(user).await?;
    let stored = state
        .db
        .events(
            user,
            "sleep",
            Some(own.start - Duration::days(2)),
            Some(own.end + gap),
        )
        .await?;
    let candidates: Vec<(StoredSleepWindow, EventRecord)> = stored
        .into_iter()
        .filter(|e| e.event_type.as_deref() == Some("sleep_session"))
        .filter(|e| {
            let ds = sources.get(&e.data_source_id);
            ds.is_some_and(|d| d.provider == st.provider)
                && (st.source_name == "unknown"
                    || ds.and_then(|d| d.source.as_deref()) == Some(st.source_name.as_str()))
        })
        .map(|e| {
            let stages = match &e.details {
                Some(EventDetails::Sleep(d)) => d.stages.clone(),
                _ => Vec::new(),
            };
            (
                StoredSleepWindow {
                    id: e.id,
                    start: e.start,
                    end: e.end,
                    stages,
                },
                e,
            )
        })
        .collect();
    let windows: Vec<StoredSleepWindow> = candidates.iter().map(|(w, _)| w.clone()).collect();
    let Some(adjacent) = find_adjacent(&windows, (own.start, own.end)) else {
        return Ok(own);
    };
    let merged = finish_session_merged(st, adjacent);
    if let Some((_, old)) = candidates.iter().find(|(w, _)| w.id == adjacent.id) {
        state.db.delete_event(user, old).await?;
    }
    Ok(merged)
}

/// Stores a finalised session as a sleep event (first write wins) and its internal sleep score,
/// both through the one write path. Returns the wake-up date when a new session was stored.
async fn store_sleep_session(
    state: &AppState,
    user: Uuid,
    d: &SleepSessionDraft,
) -> Result<Option<NaiveDate>, StoreError> {
    let provider = SdkProvider::parse(&d.provider).unwrap_or(SdkProvider::Apple);
    let source = SourceInfo {
        provider,
        device_model: d.device_model.clone(),
        software_version: None,
        source: d.source.clone(),
        sdk_device_type: None,
    };
    let ds = crate::ingest::data_source_for(user, &source, state.now());
    let event = EventRecord {
        id: Uuid::new_v4(),
        data_source_id: ds.id,
        category: "sleep".into(),
        event_type: Some("sleep_session".into()),
        source_name: d.source_name.clone(),
        duration_seconds: Some(d.duration_seconds),
        start: d.start,
        end: d.end,
        zone_offset: d.zone_offset.clone(),
        external_id: Some(d.external_id.clone()),
        details: Some(EventDetails::Sleep(d.details.clone())),
        created_at: state.now(),
    };
    let mut batch = NormalizedBatch::new(BatchOrigin::Derived);
    batch.sources.push(ds);
    batch.events.push(event.clone());
    if write_batch(state, user, batch).await?.new_events.is_empty() {
        return Ok(None);
    }
    score_sleep(state, user, &event).await?;
    Ok(Some(local_date(event.end, event.zone_offset.as_deref())))
}

/// The Open Wearables sleep score of one session (data-model §5.1), stored as an `internal`
/// health score with its components.
async fn score_sleep(state: &AppState, user: Uuid, e: &EventRecord) -> Result<(), StoreError> {
    let Some(EventDetails::Sleep(details)) = &e.details else {
        return Ok(());
    };
    let zone = e.zone_offset.as_deref();
    let start_local = local_datetime(e.start, zone);
    let others = state
        .db
        .events(
            user,
            "sleep",
            Some(e.start - Duration::days(16)),
            Some(e.start),
        )
        .await?;
    let other_starts: Vec<_> = others
        .iter()
        .filter(|o| o.id != e.id && !matches!(&o.details, Some(EventDetails::Sleep(s)) if s.is_nap))
        .map(|o| local_datetime(o.start, o.zone_offset.as_deref()))
        .collect();
    let input = SleepScoreInput {
        total_sleep_minutes: details.total_sleep_minutes,
        deep_minutes: Some(details.deep_minutes),
        rem_minutes: Some(details.rem_minutes),
        awake_minutes: Some(details.awake_minutes),
        stages: Some(details.stages.clone()),
        session_start_local: start_local,
        history: consistency_history(start_local, &other_starts),
    };
    let Some(score) = sleep_score(&input) else {
        return Ok(());
    };
    let s = HealthScore {
        id: Uuid::new_v4(),
        user_id: user,
        data_source_id: Some(e.data_source_id),
        provider: "internal".into(),
        category: "sleep".into(),
        value: Some(score.overall as f64),
        qualifier: None,
        recorded_at: sleep_score_recorded_at(e.end, zone),
        zone_offset: e.zone_offset.clone(),
        components: Some(score.components()),
        sleep_record_id: Some(e.id),
        created_at: Utc::now(),
    };
    let mut batch = NormalizedBatch::new(BatchOrigin::Derived);
    batch.scores.push(s);
    write_batch(state, user, batch).await?;
    Ok(())
}

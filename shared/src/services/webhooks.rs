//! Outgoing webhooks: emission (the outbox written by the write path and the connection and
//! sync state changes), fan-out to the matching endpoints, signed delivery with Svix's retry
//! schedule, and the schedule's sweep of what is due. The same handlers run in the in-process
//! queue and in the `ow-jobs` function.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::app::{AppState, Job};
use crate::domain::series::SeriesType;
use crate::domain::webhooks::{
    DISABLE_AFTER_SECONDS, DeliveryStatus, RESPONSE_EXCERPT_BYTES, SERIES_CHUNK, Trigger,
    endpoint_wants, event_id, granular_event, group_event, is_public, message_id, sign,
};
use crate::repo::connections::Connection;
use crate::repo::health::{DataSource, EventDetails, EventRecord, SampleWrite};
use crate::repo::sync_runs::SyncRun;
use crate::repo::webhooks::{
    Attempt, Delivery, Endpoint, Message, MessageData, SampleSource, SeriesData,
    next_attempt_after, py_iso,
};
use crate::store::StoreError;

/// A message for `event_type` with the given idempotency key.
pub fn new_message(
    raw_event_id: &str,
    event_type: &str,
    user: Option<Uuid>,
    data: MessageData,
    now: DateTime<Utc>,
) -> Message {
    let eid = event_id(raw_event_id);
    Message {
        id: message_id(&eid),
        event_id: eid,
        event_type: event_type.to_string(),
        user_id: user,
        timestamp: now,
        data,
        only_endpoint: None,
        fanned_out: false,
    }
}

/// Stores messages (each once: a re-emitted fact is a no-op) and queues the fan-out of the new
/// ones. Never fails the caller: a storage error is logged (the data that caused the event is
/// already stored), a queue error is repaired by the schedule's sweep.
pub async fn emit(state: &AppState, mut msgs: Vec<Message>) {
    if !state.config.webhooks.enabled || msgs.is_empty() {
        return;
    }
    // A message no endpoint wants when it is emitted is stored as fanned out (listed, never
    // delivered: endpoints receive what is emitted after they exist, as in Svix), so it costs
    // no fan-out job, no re-read and no re-write of its payload. A sample event no endpoint
    // wants is not stored at all: its payload is the samples themselves, which would cost
    // about ten times the write capacity of storing them (`ow-bench --capacity`). When the
    // endpoints cannot be read, every message goes through the fan-out as before.
    match state.db.all_endpoints().await {
        Ok(endpoints) => {
            for m in msgs.iter_mut().filter(|m| m.only_endpoint.is_none()) {
                m.fanned_out = !endpoints.iter().any(|ep| !ep.disabled && wants(ep, m));
            }
            msgs.retain(|m| !(m.fanned_out && matches!(m.data, MessageData::Series(_))));
            if msgs.is_empty() {
                return;
            }
        }
        Err(e) => tracing::warn!(error = %e, "endpoints not read; every message is fanned out"),
    }
    let fresh = match state.db.insert_messages(&msgs).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, messages = msgs.len(), "outgoing webhook messages were not stored");
            return;
        }
    };
    let jobs: Vec<Job> = msgs
        .iter()
        .zip(fresh)
        .filter(|(m, new)| *new && !m.fanned_out)
        .map(|(m, _)| Job::WebhookFanout {
            msg_id: m.id.clone(),
        })
        .collect();
    if !jobs.is_empty()
        && let Err(e) = state.queue.enqueue(jobs).await
    {
        tracing::warn!(error = %e, "webhook fan-out not queued; the schedule picks it up");
    }
}

fn source_json(ds: Option<&DataSource>) -> Value {
    json!({
        "provider": ds.map(|d| d.provider.clone()),
        "device": ds.and_then(|d| d.device_model.clone().or_else(|| d.source.clone())),
    })
}

/// The `data` of a workout, sleep or menstrual-cycle event (§16.3).
pub fn event_data(user: Uuid, e: &EventRecord, ds: Option<&DataSource>) -> Option<(String, Value)> {
    let base = |extra: Value| {
        let mut v = json!({
            "id": e.id,
            "user_id": user,
            "start_time": py_iso(e.start),
            "end_time": py_iso(e.end),
            "zone_offset": e.zone_offset,
            "source": source_json(ds),
        });
        if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), extra) {
            obj.extend(more);
        }
        v
    };
    let duration = e
        .duration_seconds
        .unwrap_or_else(|| (e.end - e.start).num_seconds());
    match e.category.as_str() {
        "workout" => {
            let w = match &e.details {
                Some(EventDetails::Workout(w)) => Some(w),
                _ => None,
            };
            let pace = w
                .and_then(|w| w.average_speed)
                .filter(|s| *s > 0.0)
                .map(|s| (1000.0 / s * 100.0).round() / 100.0);
            Some((
                "workout.created".into(),
                base(json!({
                    "type": e.event_type,
                    "duration_seconds": duration,
                    "calories_kcal": w.map(|w| w.energy_burned),
                    "distance_meters": w.and_then(|w| w.distance),
                    "avg_heart_rate_bpm": w.and_then(|w| w.heart_rate_avg),
                    "max_heart_rate_bpm": w.and_then(|w| w.heart_rate_max),
                    "avg_pace_sec_per_km": pace,
                    "elevation_gain_meters": w.and_then(|w| w.total_elevation_gain),
                })),
            ))
        }
        "sleep" => {
            let s = match &e.details {
                Some(EventDetails::Sleep(s)) => Some(s),
                _ => None,
            };
            Some((
                "sleep.created".into(),
                base(json!({
                    "duration_seconds": duration,
                    "efficiency_percent": s.and_then(|s| s.efficiency),
                    "stages": s.map(|s| json!({
                        "awake_minutes": s.awake_minutes,
                        "light_minutes": s.light_minutes,
                        "deep_minutes": s.deep_minutes,
                        "rem_minutes": s.rem_minutes,
                    })),
                    "is_nap": s.is_some_and(|s| s.is_nap),
                })),
            ))
        }
        "menstrual_cycle" => {
            let d = match &e.details {
                Some(EventDetails::MenstrualCycle(v)) => v.clone(),
                _ => Value::Null,
            };
            let f = |k: &str| d.get(k).cloned().unwrap_or(Value::Null);
            Some((
                "menstrual_cycle.created".into(),
                base(json!({
                    "current_phase_type": f("current_phase_type"),
                    "day_in_cycle": f("day_in_cycle"),
                    "cycle_length": f("cycle_length"),
                    "is_predicted_cycle": f("is_predicted_cycle"),
                    "pregnancy_snapshot": f("pregnancy_snapshot"),
                })),
            ))
        }
        _ => None,
    }
}

/// The messages of one stored batch: one per new event, and for every (provider, series) with
/// new samples the group and the granular event, chunked at 2,500 samples.
pub fn batch_messages(
    user: Uuid,
    sources: &HashMap<Uuid, DataSource>,
    new_events: &[&EventRecord],
    samples: &[SampleWrite],
    new_series: &BTreeMap<SeriesType, usize>,
    now: DateTime<Utc>,
) -> Vec<Message> {
    let mut out = Vec::new();
    for e in new_events {
        let ds = sources.get(&e.data_source_id);
        if let Some((event_type, data)) = event_data(user, e, ds) {
            let raw = format!("{event_type}.{}", e.id);
            out.push(new_message(
                &raw,
                &event_type,
                Some(user),
                MessageData::Json(data),
                now,
            ));
        }
    }
    let mut groups: BTreeMap<(&str, SeriesType), Vec<&SampleWrite>> = BTreeMap::new();
    for s in samples {
        if new_series.get(&s.series).copied().unwrap_or(0) == 0 || group_event(s.series).is_none() {
            continue;
        }
        let provider = sources
            .get(&s.data_source_id)
            .map_or("unknown", |d| d.provider.as_str());
        groups.entry((provider, s.series)).or_default().push(s);
    }
    for ((provider, series), mut list) in groups {
        let provider = provider.to_string();
        list.sort_by_key(|s| s.at);
        let (Some(first), Some(last)) = (list.first(), list.last()) else {
            continue;
        };
        let (start, end) = (first.at, last.at);
        let total = list.len();
        let chunks: Vec<&[&SampleWrite]> = list.chunks(SERIES_CHUNK).collect();
        let n = chunks.len();
        for (i, chunk) in chunks.iter().enumerate() {
            let mut src_index: Vec<Uuid> = Vec::new();
            let mut srcs = Vec::new();
            let mut rows = Vec::with_capacity(chunk.len());
            for s in chunk.iter() {
                let idx = match src_index.iter().position(|d| *d == s.data_source_id) {
                    Some(i) => i,
                    None => {
                        src_index.push(s.data_source_id);
                        let ds = sources.get(&s.data_source_id);
                        srcs.push(SampleSource {
                            provider: ds.map_or_else(|| provider.clone(), |d| d.provider.clone()),
                            device: ds.and_then(|d| d.device_model.clone().or(d.source.clone())),
                        });
                        src_index.len() - 1
                    }
                };
                rows.push((
                    s.at.timestamp_micros(),
                    s.value,
                    s.zone_offset.clone(),
                    u16::try_from(idx).unwrap_or(u16::MAX),
                    s.is_daily_total,
                ));
            }
            let data = SeriesData {
                user_id: user,
                provider: provider.clone(),
                series_type: series.code().to_string(),
                unit: series.unit().to_string(),
                sample_count: total,
                start_time: start,
                end_time: end,
                chunk_index: (n > 1).then_some(i),
                total_chunks: (n > 1).then_some(n),
                sources: srcs,
                samples: rows,
            };
            let chunk_part = if n > 1 {
                format!(".chunk{i}")
            } else {
                String::new()
            };
            let granular = granular_event(series);
            for event_type in [group_event(series).unwrap_or_default(), granular.as_str()] {
                let raw = format!(
                    "timeseries.{user}.{provider}.{}.{}.{}{chunk_part}.{event_type}",
                    series.code(),
                    py_iso(start),
                    py_iso(end),
                );
                out.push(new_message(
                    &raw,
                    event_type,
                    Some(user),
                    MessageData::Series(data.clone()),
                    now,
                ));
            }
        }
    }
    out
}

/// The hook of the one write path: messages for what a write newly stored.
pub async fn on_write(
    state: &AppState,
    user: Uuid,
    batch_sources: &[DataSource],
    events: &[EventRecord],
    new_event_ids: &[Uuid],
    samples: &[SampleWrite],
    new_series: &BTreeMap<SeriesType, usize>,
) {
    if !state.config.webhooks.enabled || (new_event_ids.is_empty() && new_series.is_empty()) {
        return;
    }
    let new_events: Vec<&EventRecord> = events
        .iter()
        .filter(|e| new_event_ids.contains(&e.id))
        .collect();
    let mut sources: HashMap<Uuid, DataSource> =
        batch_sources.iter().map(|d| (d.id, d.clone())).collect();
    let missing = samples
        .iter()
        .map(|s| s.data_source_id)
        .chain(new_events.iter().map(|e| e.data_source_id))
        .any(|id| !sources.contains_key(&id));
    if missing {
        match state.db.data_source_map(user).await {
            Ok(all) => sources.extend(all),
            Err(e) => tracing::warn!(error = %e, "webhook payloads without data-source names"),
        }
    }
    let msgs = batch_messages(
        user,
        &sources,
        &new_events,
        samples,
        new_series,
        state.now(),
    );
    emit(state, msgs).await;
}

/// `connection.created` (a new connection or the reactivation of one that was not active).
pub async fn connection_created(state: &AppState, c: &Connection) {
    let at = py_iso(c.updated_at);
    let msg = new_message(
        &format!(
            "connection.created.{}.{}.{at}",
            c.user_id,
            c.provider.as_str()
        ),
        "connection.created",
        Some(c.user_id),
        MessageData::Json(json!({
            "user_id": c.user_id,
            "provider": c.provider.as_str(),
            "connection_id": c.id,
            "connected_at": at,
        })),
        state.now(),
    );
    emit(state, vec![msg]).await;
}

/// `connection.revoked` with its reason (`user_disconnected`, `refresh_failed`,
/// `provider_deauthorized`).
pub async fn connection_revoked(state: &AppState, c: &Connection, reason: &str) {
    let now = state.now();
    let at = py_iso(now);
    let msg = new_message(
        &format!(
            "connection.revoked.{}.{}.{at}",
            c.user_id,
            c.provider.as_str()
        ),
        "connection.revoked",
        Some(c.user_id),
        MessageData::Json(json!({
            "user_id": c.user_id,
            "provider": c.provider.as_str(),
            "connection_id": c.id,
            "reason": reason,
            "revoked_at": at,
        })),
        now,
    );
    emit(state, vec![msg]).await;
}

/// `sync.started` (first attempt of a run) or, for a run in a terminal stage,
/// `sync.completed` / `sync.failed`. The run id makes each once per run.
pub async fn sync_changed(state: &AppState, run: &SyncRun, started: bool) {
    sync_changed_with(state, run, started, json!({})).await;
}

/// [`sync_changed`] with the run's `metadata` (the push runs' batch id and counts).
pub async fn sync_changed_with(state: &AppState, run: &SyncRun, started: bool, metadata: Value) {
    use crate::domain::states::SyncStage;
    let base = json!({
        "user_id": run.user_id,
        "provider": run.provider,
        "source": run.source,
        "run_id": run.run_id,
        "message": run.message,
        "metadata": metadata,
    });
    let (kind, extra) = if started {
        ("started", json!({}))
    } else {
        match run.stage {
            SyncStage::Completed => (
                "completed",
                json!({"status": run.status, "items_processed": run.items_processed}),
            ),
            SyncStage::Failed => (
                "failed",
                json!({"error": run.error.clone().unwrap_or_else(|| "unknown".into())}),
            ),
            _ => return,
        }
    };
    let mut data = base;
    if let (Some(o), Value::Object(more)) = (data.as_object_mut(), extra) {
        o.extend(more);
    }
    let event_type = format!("sync.{kind}");
    let msg = new_message(
        &format!("{event_type}.{}", run.run_id),
        &event_type,
        Some(run.user_id),
        MessageData::Json(data),
        state.now(),
    );
    emit(state, vec![msg]).await;
}

/// A sample `data` for the test event of each type (#84).
pub fn sample_data(event_type: &str, now: DateTime<Utc>) -> Value {
    let user = Uuid::nil();
    let t0 = py_iso(now - Duration::hours(1));
    let t1 = py_iso(now);
    let source = json!({"provider": "apple", "device": "Apple Watch"});
    match event_type {
        "connection.created" => {
            json!({"user_id": user, "provider": "oura", "connection_id": Uuid::nil(), "connected_at": t1})
        }
        "connection.revoked" => {
            json!({"user_id": user, "provider": "oura", "connection_id": Uuid::nil(), "reason": "user_disconnected", "revoked_at": t1})
        }
        "sync.started" => {
            json!({"user_id": user, "provider": "oura", "source": "pull", "run_id": "test", "message": null, "metadata": {}})
        }
        "sync.completed" => {
            json!({"user_id": user, "provider": "oura", "source": "pull", "run_id": "test", "status": "success", "message": "10 records synced", "items_processed": 10, "metadata": {}})
        }
        "sync.failed" => {
            json!({"user_id": user, "provider": "oura", "source": "pull", "run_id": "test", "error": "unknown", "message": null, "metadata": {}})
        }
        "sleep.created" => json!({
            "id": Uuid::nil(), "user_id": user, "start_time": t0, "end_time": t1, "zone_offset": "+00:00",
            "duration_seconds": 3600, "source": source, "efficiency_percent": 92.0,
            "stages": {"awake_minutes": 5, "light_minutes": 30, "deep_minutes": 15, "rem_minutes": 10},
            "is_nap": true,
        }),
        "menstrual_cycle.created" => json!({
            "id": Uuid::nil(), "user_id": user, "start_time": t0, "end_time": t1, "zone_offset": "+00:00",
            "source": {"provider": "garmin", "device": null}, "current_phase_type": "FOLLICULAR",
            "day_in_cycle": 8, "cycle_length": 28, "is_predicted_cycle": false, "pregnancy_snapshot": null,
        }),
        t if t.ends_with(".created") && t != "workout.created" => {
            let series = t
                .strip_prefix("series.")
                .and_then(|r| r.strip_suffix(".created"))
                .and_then(SeriesType::from_code)
                .or_else(|| {
                    SeriesType::ALL
                        .iter()
                        .copied()
                        .find(|s| group_event(*s) == Some(t))
                })
                .unwrap_or(SeriesType::HeartRate);
            json!({
                "user_id": user, "provider": "apple", "series_type": series.code(), "sample_count": 1,
                "start_time": t1, "end_time": t1,
                "samples": [{"timestamp": t1, "zone_offset": "+00:00", "type": series.code(), "value": 72.0,
                    "unit": series.unit(), "source": source, "is_daily_total": false}],
            })
        }
        _ => json!({
            "id": Uuid::nil(), "user_id": user, "type": "running", "start_time": t0, "end_time": t1,
            "zone_offset": "+00:00", "duration_seconds": 3600, "source": source, "calories_kcal": 550.0,
            "distance_meters": 10000.0, "avg_heart_rate_bpm": 150.0, "max_heart_rate_bpm": 178,
            "avg_pace_sec_per_km": 360.0, "elevation_gain_meters": 85.0,
        }),
    }
}

/// Writes the deliveries of a message (one per matching, enabled endpoint) and answers the
/// first-attempt jobs.
pub async fn fanout(state: &AppState, msg_id: &str) -> Result<Vec<Job>, StoreError> {
    let Some(mut msg) = state.db.message(msg_id).await? else {
        return Ok(Vec::new());
    };
    if msg.fanned_out {
        return Ok(Vec::new());
    }
    let endpoints: Vec<Endpoint> = match &msg.only_endpoint {
        Some(id) => state.db.endpoint(id).await?.into_iter().collect(),
        None => state.db.all_endpoints().await?,
    };
    let now = state.now();
    let mut jobs = Vec::new();
    for ep in endpoints {
        if ep.disabled {
            continue;
        }
        if msg.only_endpoint.is_none() && !wants(&ep, &msg) {
            continue;
        }
        let d = Delivery {
            msg_id: msg.id.clone(),
            endpoint_id: ep.id.clone(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            // Leased to the job queued here; the sweep takes over if it never runs.
            next_attempt_at: Some(now + lease(state)),
            created_at: now,
            updated_at: now,
            version: 0,
        };
        if state.db.insert_delivery(&d).await? {
            jobs.push(Job::WebhookDeliver {
                msg_id: msg.id.clone(),
                endpoint_id: ep.id,
                attempt: 1,
                manual: false,
            });
        }
    }
    msg.fanned_out = true;
    state.db.save_message(&msg).await?;
    Ok(jobs)
}

/// Whether an endpoint's filters (event types, user) take a message.
fn wants(ep: &Endpoint, msg: &Message) -> bool {
    endpoint_wants(
        ep.filter_types.as_deref(),
        ep.user_id.map(|u| u.to_string()).as_deref(),
        &msg.event_type,
        msg.user_id.map(|u| u.to_string()).as_deref(),
    )
}

/// How long a queued or running attempt holds its delivery before the sweep retries it.
fn lease(state: &AppState) -> Duration {
    Duration::seconds(i64::try_from(state.config.webhooks.timeout_seconds).unwrap_or(15) + 15)
}

/// The schedule's sweep: messages whose fan-out did not happen and deliveries that are due.
/// Each due delivery is leased before its job is queued, so the next sweeps leave it alone.
pub async fn due_jobs(state: &AppState) -> Result<Vec<Job>, StoreError> {
    if !state.config.webhooks.enabled {
        return Ok(Vec::new());
    }
    let now = state.now();
    let mut jobs: Vec<Job> = state
        .db
        // A message this young may still have its fan-out job queued (a second fan-out is
        // harmless: deliveries are created once).
        .unfanned_messages(now - Duration::seconds(2), 200)
        .await?
        .into_iter()
        .map(|m| Job::WebhookFanout { msg_id: m.id })
        .collect();
    for mut d in state.db.due_deliveries(now, 500).await? {
        // A `sending` delivery whose lease ran out lost its attempt (the process died in the
        // middle of it; the attempt was never recorded): it is pending again, with the same
        // attempt number, or the new job would find it busy and the lease would be renewed
        // forever.
        if d.status == DeliveryStatus::Sending {
            d.status = DeliveryStatus::Pending;
        }
        d.next_attempt_at = Some(now + lease(state));
        match state.db.save_delivery(&d).await {
            Ok(()) => jobs.push(Job::WebhookDeliver {
                msg_id: d.msg_id,
                endpoint_id: d.endpoint_id,
                attempt: d.attempts + 1,
                manual: false,
            }),
            Err(StoreError::ConditionFailed) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(jobs)
}

/// What one HTTP attempt answered.
struct Answer {
    status: i64,
    body: String,
    abort: bool,
}

/// Makes attempt number `attempt` of one delivery (a stale or duplicate job does nothing) and
/// records it; answers the follow-up job when the next attempt is due at once.
pub async fn deliver(
    state: &AppState,
    msg_id: &str,
    endpoint_id: &str,
    attempt: u32,
    manual: bool,
) -> Result<Vec<Job>, StoreError> {
    let Some(mut d) = state.db.delivery(msg_id, endpoint_id).await? else {
        return Ok(Vec::new());
    };
    let now = state.now();
    let busy = d.status == DeliveryStatus::Sending && d.next_attempt_at.is_some_and(|t| t > now);
    let scheduled_ok = matches!(d.status, DeliveryStatus::Pending | DeliveryStatus::Sending)
        && d.attempts + 1 == attempt;
    if busy || (!manual && !scheduled_ok) {
        return Ok(Vec::new());
    }
    let (Some(msg), Some(ep)) = (
        state.db.message(msg_id).await?,
        state.db.endpoint(endpoint_id).await?,
    ) else {
        // The message expired or the endpoint was deleted: nothing left to deliver.
        d.status = DeliveryStatus::Failed;
        d.next_attempt_at = None;
        d.updated_at = now;
        return match state.db.save_delivery(&d).await {
            Ok(()) | Err(StoreError::ConditionFailed) => Ok(Vec::new()),
            Err(e) => Err(e),
        };
    };
    if ep.disabled && !manual {
        d.status = DeliveryStatus::Failed;
        d.next_attempt_at = None;
        d.updated_at = now;
        return match state.db.save_delivery(&d).await {
            Ok(()) | Err(StoreError::ConditionFailed) => Ok(Vec::new()),
            Err(e) => Err(e),
        };
    }
    // Take the lease (another worker that got here first wins).
    d.status = DeliveryStatus::Sending;
    d.next_attempt_at = Some(now + lease(state));
    d.updated_at = now;
    match state.db.save_delivery(&d).await {
        Ok(()) => d.version += 1,
        Err(StoreError::ConditionFailed) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    }

    let body = serde_json::to_vec(&msg.body()).unwrap_or_default();
    let started = Instant::now();
    let answer = send(state, &ep, &msg.id, &body).await;
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let done_at = state.now();
    let (code, excerpt, abort) = match &answer {
        Ok(a) => (a.status, a.body.clone(), a.abort),
        Err(why) => (0, why.clone(), false),
    };
    let success = (200..300).contains(&code);
    let attempt_rec = Attempt {
        id: format!("atmpt_{}", Uuid::new_v4().simple()),
        endpoint_id: ep.id.clone(),
        msg_id: msg.id.clone(),
        event_type: msg.event_type.clone(),
        url: ep.url.clone(),
        response: excerpt,
        response_status_code: code,
        response_duration_ms: duration_ms,
        status: if success {
            DeliveryStatus::Success
        } else {
            DeliveryStatus::Failed
        },
        trigger: if manual {
            Trigger::Manual
        } else {
            Trigger::Scheduled
        },
        timestamp: done_at,
    };
    state.db.put_attempt(&attempt_rec).await?;

    d.attempts += 1;
    d.updated_at = done_at;
    let mut follow = Vec::new();
    if success {
        d.status = DeliveryStatus::Success;
        d.next_attempt_at = None;
    } else {
        match next_attempt_after(&state.config.webhooks.retry_schedule, d.attempts, done_at)
            .filter(|_| !abort)
        {
            Some(at) => {
                d.status = DeliveryStatus::Pending;
                d.next_attempt_at = Some(at);
                if at <= done_at {
                    // Due now: queue it, leased so the sweep does not queue it again.
                    d.next_attempt_at = Some(done_at + lease(state));
                    follow.push(Job::WebhookDeliver {
                        msg_id: d.msg_id.clone(),
                        endpoint_id: d.endpoint_id.clone(),
                        attempt: d.attempts + 1,
                        manual: false,
                    });
                }
            }
            None => {
                d.status = DeliveryStatus::Failed;
                d.next_attempt_at = None;
            }
        }
    }
    match state.db.save_delivery(&d).await {
        Ok(()) | Err(StoreError::ConditionFailed) => {}
        Err(e) => return Err(e),
    }
    track_endpoint_health(state, &ep.id, success, done_at).await?;
    if let Some(at) = d.next_attempt_at.filter(|_| follow.is_empty())
        && d.status == DeliveryStatus::Pending
    {
        let delay = (at - done_at).num_seconds().max(0);
        let job = Job::WebhookDeliver {
            msg_id: d.msg_id.clone(),
            endpoint_id: d.endpoint_id.clone(),
            attempt: d.attempts + 1,
            manual: false,
        };
        // Short delays through the queue where it can delay (SQS); the sweep covers the rest.
        if let Err(e) = state.queue.enqueue_delayed(vec![job], delay).await {
            tracing::debug!(error = %e, "delayed retry not queued; the sweep picks it up");
        }
    }
    Ok(follow)
}

/// Remembers when an endpoint started failing; disables it after 5 days without a success.
async fn track_endpoint_health(
    state: &AppState,
    id: &str,
    success: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some(mut ep) = state.db.endpoint(id).await? else {
        return Ok(());
    };
    let changed = match (success, ep.failing_since) {
        (true, Some(_)) => {
            ep.failing_since = None;
            true
        }
        (false, None) => {
            ep.failing_since = Some(now);
            true
        }
        (false, Some(since)) if (now - since).num_seconds() >= DISABLE_AFTER_SECONDS => {
            if ep.disabled {
                false
            } else {
                ep.disabled = true;
                ep.disabled_reason = Some(format!(
                    "disabled after failing since {} without a successful delivery",
                    py_iso(since)
                ));
                tracing::warn!(endpoint = %ep.id, "webhook endpoint disabled after 5 days of failures");
                true
            }
        }
        _ => false,
    };
    if changed {
        ep.updated_at = now;
        state
            .db
            .put_endpoint(&ep, crate::store::Condition::Exists)
            .await
            .or_else(|e| match e {
                StoreError::ConditionFailed => Ok(()),
                e => Err(e),
            })?;
    }
    Ok(())
}

/// The secrets an endpoint signs with: the current one, and the previous one for a day after
/// a rotation.
fn signing_secrets(state: &AppState, ep: &Endpoint) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(s) = state.cipher.open(&ep.secret) {
        out.push(s);
    }
    if let (Some(prev), Some(until)) = (&ep.previous_secret, ep.previous_until)
        && until > state.now()
        && let Ok(s) = state.cipher.open(prev)
    {
        out.push(s);
    }
    out
}

async fn send(
    state: &AppState,
    ep: &Endpoint,
    msg_id: &str,
    body: &[u8],
) -> Result<Answer, String> {
    let ts = state.now().timestamp();
    let sigs: Vec<String> = signing_secrets(state, ep)
        .iter()
        .filter_map(|s| sign(s, msg_id, ts, body).ok())
        .collect();
    if sigs.is_empty() {
        return Err("the endpoint's signing secret cannot be read".into());
    }
    let sig = sigs.join(" ");
    let cfg = &state.config.webhooks;
    if let Err(e) = crate::domain::webhooks::check_endpoint_url(&ep.url, cfg.allow_private) {
        return Err(e.to_string());
    }
    let client = delivery_client(cfg.allow_private, cfg.timeout_seconds);
    let ts = ts.to_string();
    let resp = client
        .post(&ep.url)
        .header("content-type", "application/json")
        .header("user-agent", "OpenWearables-Webhooks/1.0")
        .header("webhook-id", msg_id)
        .header("webhook-timestamp", &ts)
        .header("webhook-signature", &sig)
        .header("svix-id", msg_id)
        .header("svix-timestamp", &ts)
        .header("svix-signature", &sig)
        .body(body.to_vec())
        .send()
        .await;
    let mut resp = match resp {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return Err("timed out".into()),
        Err(e) if e.is_connect() => return Err("connection failed".into()),
        Err(e) => return Err(format!("request failed: {}", short(&e.to_string()))),
    };
    let status = i64::from(resp.status().as_u16());
    let abort = resp
        .headers()
        .get("webhook-delivery")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("abort-message"));
    let mut buf: Vec<u8> = Vec::new();
    while buf.len() < RESPONSE_EXCERPT_BYTES {
        match resp.chunk().await {
            Ok(Some(c)) => buf.extend_from_slice(&c),
            _ => break,
        }
    }
    buf.truncate(RESPONSE_EXCERPT_BYTES);
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&buf).into_owned(),
        abort,
    })
}

fn short(s: &str) -> String {
    s.chars().take(200).collect()
}

/// Resolves names and drops every address that is not public; no address left is an error
/// (the delivery never connects to a private, loopback or metadata address).
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let it: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(it)
        })
    }
}

/// One HTTP client per (private allowed, timeout): no redirects, bounded time, public
/// addresses only unless private ones are allowed.
fn delivery_client(allow_private: bool, timeout: u64) -> reqwest::Client {
    static CLIENTS: OnceLock<Mutex<HashMap<(bool, u64), reqwest::Client>>> = OnceLock::new();
    let map = CLIENTS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut guard = match map.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    guard
        .entry((allow_private, timeout))
        .or_insert_with(|| {
            let mut b = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(StdDuration::from_secs(timeout.min(10)))
                .timeout(StdDuration::from_secs(timeout))
                .pool_max_idle_per_host(4);
            if !allow_private {
                b = b.dns_resolver(Arc::new(PublicOnly));
            }
            b.build().unwrap_or_default()
        })
        .clone()
}

/// A new endpoint secret.
pub fn random_secret() -> String {
    let mut b = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut b);
    crate::domain::webhooks::new_secret(b)
}

/// A new endpoint id.
pub fn random_endpoint_id() -> String {
    let mut b = [0u8; 13];
    rand::thread_rng().fill_bytes(&mut b);
    crate::domain::webhooks::new_endpoint_id(b)
}

/// Stores a test message for one endpoint and queues its fan-out (#84). Each call is its own
/// message (the event id `test.<endpoint>.<type>` repeats).
pub async fn send_test(
    state: &AppState,
    ep: &Endpoint,
    event_type: &str,
) -> Result<String, StoreError> {
    let now = state.now();
    let eid = event_id(&format!("test.{}.{event_type}", ep.id));
    let msg = Message {
        id: format!("msg_{}", Uuid::new_v4().simple()),
        event_id: eid,
        event_type: event_type.to_string(),
        user_id: None,
        timestamp: now,
        data: MessageData::Json(sample_data(event_type, now)),
        only_endpoint: Some(ep.id.clone()),
        fanned_out: false,
    };
    state.db.insert_messages(std::slice::from_ref(&msg)).await?;
    let jobs = fanout(state, &msg.id).await?;
    if let Err(e) = state.queue.enqueue(jobs).await {
        tracing::warn!(error = %e, "test delivery not queued; the sweep picks it up");
    }
    Ok(msg.id)
}

/// Re-sends a message to the given endpoints that have a delivery for it (manual trigger).
/// Answers how many were queued.
pub async fn retry_message(
    state: &AppState,
    msg_id: &str,
    endpoints: &[String],
) -> Result<usize, StoreError> {
    let now = state.now();
    let mut jobs = Vec::new();
    for mut d in state.db.message_deliveries(msg_id).await? {
        if !endpoints.contains(&d.endpoint_id) {
            continue;
        }
        if d.status == DeliveryStatus::Sending && d.next_attempt_at.is_some_and(|t| t > now) {
            continue;
        }
        if d.status != DeliveryStatus::Pending {
            d.status = DeliveryStatus::Pending;
        }
        d.next_attempt_at = Some(now + lease(state));
        d.updated_at = now;
        match state.db.save_delivery(&d).await {
            Ok(()) => jobs.push(Job::WebhookDeliver {
                msg_id: d.msg_id,
                endpoint_id: d.endpoint_id,
                attempt: d.attempts + 1,
                manual: true,
            }),
            Err(StoreError::ConditionFailed) => {}
            Err(e) => return Err(e),
        }
    }
    let n = jobs.len();
    if let Err(e) = state.queue.enqueue(jobs).await {
        tracing::warn!(error = %e, "manual retry not queued; the sweep picks it up");
    }
    Ok(n)
}

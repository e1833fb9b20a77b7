//! Sync runs of pushed data (api.md §12 "Sync status"): every SDK push and every provider push
//! that carries data is one run, as the reference's import tasks model it (run id = the batch
//! id, a new UUID per push). The run is recorded when the push starts (`sync.started`) and when
//! it ends (`sync.completed` or `sync.failed`), so it is listed by `/users/{id}/sync/runs` and
//! told to the integrator's endpoints. Recording never fails the write: a store error is logged.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::app::AppState;
use crate::domain::states::{SyncStage, SyncStatus};
use crate::repo::sync_runs::SyncRun;

/// A run in progress; [`complete`] or [`fail`] ends it.
#[derive(Debug, Clone)]
pub struct PushRun {
    pub run: SyncRun,
    /// The batch id (also the run id).
    pub batch_id: Uuid,
}

/// Records the start of a push run and emits `sync.started` (metadata `{batch_id}`).
pub async fn begin(state: &AppState, user: Uuid, provider: &str, source: &str) -> PushRun {
    let now = state.now();
    let batch_id = Uuid::new_v4();
    let run = SyncRun {
        run_id: batch_id.to_string(),
        user_id: user,
        provider: provider.to_string(),
        source: source.to_string(),
        stage: SyncStage::Started,
        status: SyncStatus::InProgress,
        message: Some(format!("Processing {provider} {} batch", label(source))),
        error: None,
        progress: None,
        items_processed: None,
        items_total: None,
        primary_user_id: None,
        window_start: None,
        window_end: None,
        attempts: 1,
        next_attempt_at: None,
        started_at: Some(now),
        ended_at: None,
        last_update: now,
    };
    let metadata = json!({"batch_id": batch_id});
    if let Err(e) = state.db.record_sync(&run, metadata.clone()).await {
        tracing::warn!(error = %e, run = %run.run_id, "push run start not recorded");
    }
    super::webhooks::sync_changed_with(state, &run, true, metadata).await;
    PushRun { run, batch_id }
}

fn label(source: &str) -> &'static str {
    match source {
        "sdk" => "SDK",
        "xml_import" => "import",
        _ => "push",
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// What a push stored.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stored {
    /// Samples in the batch (after de-duplication inside it).
    pub records_saved: usize,
    pub workouts_saved: usize,
    pub sleep_saved: usize,
    pub dropped_count: usize,
}

/// Ends a run as `completed`/`success` and emits `sync.completed`, shaped as the reference's
/// SDK runs: message `<Provider> batch saved`, `items_processed` = records + workouts + sleep,
/// `items_total` null, metadata `{batch_id, records_saved, workouts_saved, sleep_saved,
/// dropped_count}`.
pub async fn complete(state: &AppState, mut p: PushRun, s: Stored) {
    let now = state.now();
    let items =
        i64::try_from(s.records_saved + s.workouts_saved + s.sleep_saved).unwrap_or(i64::MAX);
    p.run.stage = SyncStage::Completed;
    p.run.status = SyncStatus::Success;
    p.run.progress = Some(1.0);
    p.run.items_processed = Some(items);
    p.run.message = Some(format!("{} batch saved", capitalised(&p.run.provider)));
    p.run.ended_at = Some(now);
    p.run.last_update = now;
    let metadata = json!({
        "batch_id": p.batch_id,
        "records_saved": s.records_saved,
        "workouts_saved": s.workouts_saved,
        "sleep_saved": s.sleep_saved,
        "dropped_count": s.dropped_count,
    });
    finish(state, &p.run, metadata).await;
}

/// Ends a run as `failed` and emits `sync.failed` with `error`.
pub async fn fail(state: &AppState, mut p: PushRun, error: &str) {
    let now = state.now();
    p.run.stage = SyncStage::Failed;
    p.run.status = SyncStatus::Failed;
    p.run.error = Some(error.to_string());
    p.run.message = Some(format!("{} batch failed", capitalised(&p.run.provider)));
    p.run.ended_at = Some(now);
    p.run.last_update = now;
    finish(state, &p.run, json!({"batch_id": p.batch_id})).await;
}

async fn finish(state: &AppState, run: &SyncRun, metadata: Value) {
    if let Err(e) = state.db.record_sync(run, metadata.clone()).await {
        tracing::warn!(error = %e, run = %run.run_id, "push run end not recorded");
    }
    super::webhooks::sync_changed_with(state, run, false, metadata).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_capitals() {
        assert_eq!(capitalised("apple"), "Apple");
        assert_eq!(capitalised(""), "");
        assert_eq!(label("sdk"), "SDK");
        assert_eq!(label("webhook"), "push");
    }
}

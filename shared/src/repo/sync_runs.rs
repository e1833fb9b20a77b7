//! Sync runs and their status events (api.md §12, #55–#57).
//!
//! | item | pk | sk | gsi1 | gsi2 |
//! |---|---|---|---|---|
//! | run | `USER#<uuid>` | `SYNCRUN#<run id>` | `SYNCRUNS` / `<last update>#<run id>` | `SYNCRETRY` / `<next attempt>#<user>#<run id>` while a retry is pending |
//! | event | `USER#<uuid>` | `SYNCEVT#<timestamp>#<event id>` | – | – |
//!
//! Events live 24 hours; a run lives 24 hours after its last update unless a retry is pending:
//! a window that has not synced yet is never forgotten.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::users::user_pk;
use super::{Db, decode, encode, sort_ts};
use crate::domain::states::{SyncStage, SyncStatus};
use crate::store::{Condition, Index, Item, Key, Query, SkRange, StoreError, is_live, query_all};

/// How long events and finished runs are kept.
pub const RETENTION_HOURS: i64 = 24;

/// The latest state of one sync run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRun {
    pub run_id: String,
    pub user_id: Uuid,
    pub provider: String,
    /// `pull`, `backfill`, `webhook`.
    pub source: String,
    pub stage: SyncStage,
    pub status: SyncStatus,
    pub message: Option<String>,
    pub error: Option<String>,
    pub progress: Option<f64>,
    pub items_processed: Option<i64>,
    pub items_total: Option<i64>,
    pub primary_user_id: Option<Uuid>,
    pub window_start: Option<DateTime<Utc>>,
    pub window_end: Option<DateTime<Utc>>,
    /// Attempts so far.
    pub attempts: u32,
    /// When a pending retry is due (the schedule re-queues the window then).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub last_update: DateTime<Utc>,
}

/// One status event (`SyncStatusEvent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncEvent {
    pub event_id: Uuid,
    pub run_id: String,
    pub user_id: Uuid,
    pub provider: String,
    pub source: String,
    pub stage: SyncStage,
    pub status: SyncStatus,
    pub message: Option<String>,
    pub error: Option<String>,
    pub progress: Option<f64>,
    pub items_processed: Option<i64>,
    pub items_total: Option<i64>,
    pub primary_user_id: Option<Uuid>,
    pub metadata: Value,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub timestamp: DateTime<Utc>,
}

impl SyncRun {
    /// The event that records this run's current state.
    pub fn event(&self, metadata: Value) -> SyncEvent {
        SyncEvent {
            event_id: Uuid::new_v4(),
            run_id: self.run_id.clone(),
            user_id: self.user_id,
            provider: self.provider.clone(),
            source: self.source.clone(),
            stage: self.stage,
            status: self.status,
            message: self.message.clone(),
            error: self.error.clone(),
            progress: self.progress,
            items_processed: self.items_processed,
            items_total: self.items_total,
            primary_user_id: self.primary_user_id,
            metadata,
            started_at: self.started_at,
            ended_at: self.ended_at,
            timestamp: self.last_update,
        }
    }

    /// Whether the run is over (kept for the retention period only).
    pub fn finished(&self) -> bool {
        self.next_attempt_at.is_none() && self.status != SyncStatus::InProgress
    }
}

/// The deterministic id of a window's run: retries of the same window are the same run.
pub fn window_run_id(
    user: Uuid,
    provider: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> String {
    Uuid::new_v5(
        &user,
        format!("{provider}|{}|{}", start.timestamp(), end.timestamp()).as_bytes(),
    )
    .to_string()
}

fn run_item(r: &SyncRun) -> Result<Item, StoreError> {
    let mut item = Item::new(
        user_pk(r.user_id),
        format!("SYNCRUN#{}", r.run_id),
        encode(r)?,
    )
    .with_gsi1(
        "SYNCRUNS",
        format!("{}#{}", sort_ts(r.last_update), r.run_id),
    );
    if let Some(at) = r.next_attempt_at {
        item = item.with_gsi2(
            "SYNCRETRY",
            format!("{}#{}#{}", sort_ts(at), r.user_id, r.run_id),
        );
    }
    if r.finished() {
        item = item.with_ttl((r.last_update + Duration::hours(RETENTION_HOURS)).timestamp());
    }
    Ok(item)
}

impl Db {
    pub async fn sync_run(&self, user: Uuid, run_id: &str) -> Result<Option<SyncRun>, StoreError> {
        let key = Key::new(user_pk(user), format!("SYNCRUN#{run_id}"));
        match self.table.get(&key).await? {
            Some(i) => decode(&i).map(Some),
            None => Ok(None),
        }
    }

    /// Saves a run's state without an event (the schedule's retry lease).
    pub async fn save_sync_run(&self, run: &SyncRun) -> Result<(), StoreError> {
        self.table.put(run_item(run)?, Condition::None).await
    }

    /// Saves a run's new state and records it as an event.
    pub async fn record_sync(&self, run: &SyncRun, metadata: Value) -> Result<(), StoreError> {
        let event = run.event(metadata);
        let ev = Item::new(
            user_pk(run.user_id),
            format!("SYNCEVT#{}#{}", sort_ts(event.timestamp), event.event_id),
            encode(&event)?,
        )
        .with_ttl((event.timestamp + Duration::hours(RETENTION_HOURS)).timestamp());
        // One write (one transaction in the embedded store, one request to DynamoDB).
        self.table.batch_put(vec![run_item(run)?, ev]).await
    }

    /// Stores status events that belong to no stored run (SDK log events), each kept for the
    /// retention period counted from when it was received (an SDK clock in the past must not
    /// store events that are expired on arrival, nor one in the future keep them longer).
    pub async fn record_sync_events(
        &self,
        events: &[SyncEvent],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let ttl = (now + Duration::hours(RETENTION_HOURS)).timestamp();
        let items = events
            .iter()
            .map(|e| {
                Ok(Item::new(
                    user_pk(e.user_id),
                    format!("SYNCEVT#{}#{}", sort_ts(e.timestamp), e.event_id),
                    encode(e)?,
                )
                .with_ttl(ttl))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.table.batch_put(items).await
    }

    /// A user's most recent events, newest first.
    pub async fn recent_sync_events(
        &self,
        user: Uuid,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<SyncEvent>, StoreError> {
        let q = Query::partition(Index::Primary, user_pk(user))
            .range(SkRange::Prefix("SYNCEVT#".into()))
            .descending()
            .limit(limit);
        let page = self.table.query(&q).await?;
        page.items
            .iter()
            .filter(|i| is_live(i, now.timestamp()))
            .map(decode)
            .collect()
    }

    /// A user's events after `after` (exclusive), oldest first.
    pub async fn sync_events_since(
        &self,
        user: Uuid,
        after: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<SyncEvent>, StoreError> {
        let q = Query::partition(Index::Primary, user_pk(user))
            .range(SkRange::Between(
                format!("SYNCEVT#{}~", sort_ts(after)),
                "SYNCEVT#~".into(),
            ))
            .limit(200);
        let page = self.table.query(&q).await?;
        page.items
            .iter()
            .filter(|i| is_live(i, now.timestamp()))
            .map(decode)
            .collect()
    }

    /// A user's runs, most recently updated first.
    pub async fn user_sync_runs(
        &self,
        user: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Vec<SyncRun>, StoreError> {
        let q = Query::partition(Index::Primary, user_pk(user))
            .range(SkRange::Prefix("SYNCRUN#".into()));
        let mut runs: Vec<SyncRun> = query_all(self.table.as_ref(), q)
            .await?
            .iter()
            .filter(|i| is_live(i, now.timestamp()))
            .map(decode)
            .collect::<Result<_, _>>()?;
        runs.sort_by_key(|r| std::cmp::Reverse(r.last_update));
        Ok(runs)
    }

    /// Runs of every user, most recently updated first, until `keep` says stop.
    pub async fn all_sync_runs(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        keep: impl Fn(&SyncRun) -> bool,
    ) -> Result<Vec<SyncRun>, StoreError> {
        let mut q = Query::partition(Index::Gsi1, "SYNCRUNS")
            .descending()
            .limit(200);
        let mut out = Vec::new();
        loop {
            let page = self.table.query(&q).await?;
            for i in page.items.iter().filter(|i| is_live(i, now.timestamp())) {
                let r: SyncRun = decode(i)?;
                if keep(&r) {
                    out.push(r);
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
            match page.next {
                Some(p) => q.start_after = Some(p),
                None => return Ok(out),
            }
        }
    }

    /// Runs whose retry is due at `now`.
    pub async fn due_sync_retries(&self, now: DateTime<Utc>) -> Result<Vec<SyncRun>, StoreError> {
        let q = Query::partition(Index::Gsi2, "SYNCRETRY")
            .range(SkRange::To(format!("{}~", sort_ts(now))));
        query_all(self.table.as_ref(), q)
            .await?
            .iter()
            .map(decode)
            .collect()
    }
}

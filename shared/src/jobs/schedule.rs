//! Scheduled work (EventBridge in AWS, a timer locally): finalises SDK sleep sessions whose last
//! segment is 120 minutes old even when no further push arrives.

use super::{Job, QueueError};
use crate::app::AppState;

/// One tick: a sleep job per user with an open session, and a sync job per pull connection that
/// is due (its window overlaps the last sync by an hour, so late provider data is picked up).
/// Returns how many jobs were queued.
pub async fn tick(state: &AppState) -> Result<usize, QueueError> {
    let err = |e: crate::store::StoreError| QueueError(e.to_string());
    let users = state.db.users_with_open_sleep().await.map_err(err)?;
    let mut jobs: Vec<Job> = users
        .into_iter()
        .map(|user_id| Job::Sleep { user_id })
        .collect();
    let now = state.now();
    let settings = state.db.provider_settings().await.map_err(err)?;
    // A scheduled pull re-fetches `PULL_SYNC_LOOKBACK` (at least an hour) before the last sync,
    // so data the provider publishes late is picked up.
    let lookback = chrono::Duration::seconds(state.config.pull_sync_lookback_seconds.max(3600));
    for c in state.db.due_connections(now).await.map_err(err)? {
        let info = c.provider.info();
        // Only providers in `pull` live mode are polled; webhook-mode ones get their data pushed.
        let mode = settings
            .get(info.key)
            .and_then(|s| s.live_sync_mode.clone())
            .or_else(|| info.default_live_sync_mode().map(str::to_string));
        if !info.rest_pull || mode.as_deref() != Some("pull") {
            continue;
        }
        let mut start = c
            .last_synced_at
            .map_or(now - chrono::Duration::days(1), |t| t - lookback);
        if let Some(days) = info.max_historical_days {
            start = start.max(now - chrono::Duration::days(i64::from(days)));
        }
        jobs.push(Job::ProviderSync {
            user_id: c.user_id,
            provider: c.provider,
            start,
            end: now,
        });
        let next = Some(now + chrono::Duration::seconds(state.config.sync_interval_seconds));
        state
            .db
            .update_active_connection(c.user_id, c.provider.as_str(), |c| c.next_poll_at = next)
            .await
            .map_err(err)?;
    }
    // Windows whose retry is due go back on the queue; the lease keeps the next ticks from
    // queueing them again before they ran (a run that fails again sets a later time).
    for mut r in state.db.due_sync_retries(now).await.map_err(err)? {
        let (Some(start), Some(end)) = (r.window_start, r.window_end) else {
            continue;
        };
        let Ok(provider) = r.provider.parse() else {
            tracing::warn!(provider = %r.provider, run = %r.run_id, "sync retry of an unknown provider: dropped");
            continue;
        };
        jobs.push(Job::ProviderSync {
            user_id: r.user_id,
            provider,
            start,
            end,
        });
        r.next_attempt_at = Some(now + chrono::Duration::minutes(10));
        state.db.save_sync_run(&r).await.map_err(err)?;
    }
    jobs.extend(webhook_jobs(state).await?);
    let n = jobs.len();
    state.queue.enqueue(jobs).await?;
    Ok(n)
}

/// Outgoing webhooks whose fan-out or next attempt is due (the sweep: crash recovery and the
/// retries longer than the queue can delay).
pub async fn webhook_jobs(state: &AppState) -> Result<Vec<Job>, QueueError> {
    crate::services::webhooks::due_jobs(state)
        .await
        .map_err(|e| QueueError(e.to_string()))
}

/// Sweeps due outgoing webhooks every `every` until the state is dropped (the local server and
/// the tests: SQS-like short delays without a delaying queue).
#[cfg(feature = "embedded")]
pub fn spawn_local_webhooks(state: &crate::app::State, every: std::time::Duration) {
    let weak = std::sync::Arc::downgrade(state);
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let Some(state) = weak.upgrade() else { return };
            match webhook_jobs(&state).await {
                Ok(jobs) if jobs.is_empty() => {}
                Ok(jobs) => {
                    if let Err(e) = state.queue.enqueue(jobs).await {
                        tracing::warn!(error = %e, "webhook sweep: jobs not queued");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "webhook sweep failed"),
            }
        }
    });
}

/// Runs [`tick`] every `every` until the process ends (the local server).
#[cfg(feature = "embedded")]
pub fn spawn_local(state: crate::app::State, every: std::time::Duration) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            match tick(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(users = n, "scheduled sleep finalisation"),
                Err(e) => tracing::warn!(error = %e, "scheduled tick failed"),
            }
        }
    });
}

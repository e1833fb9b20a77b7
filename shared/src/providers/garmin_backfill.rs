//! Garmin backfill control (providers.md §4.1.4, api.md §12 #49–#51): a Garmin sync window
//! asks the Backfill API for each summary type and records the progress in the user's
//! backfill state ([`crate::repo::garmin_backfill`]); pushes of a requested type mark it done;
//! #50 cancels the requests still to come and #51 requests one type again.
//!
//! Unlike the reference there is no timer task: a type without its push reads `timed_out`
//! once the timeout (`GARMIN_BACKFILL_TIMEOUT_SECONDS`, default 300 s) has passed, computed
//! whenever the status is read, and retries are explicit (#51).

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::garmin::{self, Backfill};
use super::sync::{FetchError, Fetcher, Pulled};
use crate::app::AppState;
use crate::app::Job;
use crate::repo::garmin_backfill::{
    BackfillStatus, DEFAULT_TIMEOUT_SECONDS, GarminBackfill, Plan, TRACKED_TYPES,
};
use crate::store::StoreError;

/// The setting that overrides the push timeout (seconds).
pub const TIMEOUT_SETTING: &str = "GARMIN_BACKFILL_TIMEOUT_SECONDS";

/// How long a requested type may wait for its push.
pub fn timeout(state: &AppState) -> Duration {
    let secs = state
        .config
        .setting(TIMEOUT_SETTING)
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    Duration::seconds(secs)
}

fn store(e: StoreError) -> FetchError {
    FetchError::Transient(format!("garmin backfill state: {e}"))
}

fn nothing() -> Pulled {
    Pulled {
        source_name: "Garmin".into(),
        ..Pulled::default()
    }
}

/// Changes an existing state; `None` when the user has none.
async fn modify<T>(
    state: &AppState,
    user: Uuid,
    mut change: impl FnMut(&mut GarminBackfill) -> T,
) -> Result<Option<T>, StoreError> {
    let now = state.now();
    state
        .db
        .update_garmin_backfill(user, now, |cur| match cur {
            Some(c) => {
                let mut next = c.clone();
                let out = change(&mut next);
                (Some(next), Some(out))
            }
            None => (None, None),
        })
        .await
}

/// One Garmin sync window: requests the types the user's backfill still needs over
/// `[start, end)` (see [`GarminBackfill::begin_window`]), one after the other, recording each
/// answer. The data arrives later by push, so the window stores nothing itself.
///
/// - 202: the type waits for its push; 409: it was requested before, so it counts as done.
/// - 403/412 (no historical permission) and "min start time" (after the shorter retry) stop
///   the chain: the types not requested yet fail too.
/// - 401: the type goes back to pending and the framework refreshes the token and runs the
///   window again.
/// - 429/5xx: the type fails and the window is retried by the queue; the third such attempt
///   makes the backfill permanently failed (a new consent resets it).
/// - any other refusal fails that type only.
///
/// A cancel (#50) is honoured between types. A window longer than Garmin's 30-day limit is
/// requested in chunks without progress tracking.
pub async fn run_window(
    state: &AppState,
    user: Uuid,
    f: &Fetcher<'_>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Pulled, FetchError> {
    if end - start > Duration::days(garmin::BACKFILL_CHUNK_DAYS) {
        return garmin::pull(f, start, end).await;
    }
    let types = garmin::backfill_types(f);
    let now = state.now();
    let plan = state
        .db
        .update_garmin_backfill(user, now, |cur| {
            let (next, plan) = GarminBackfill::begin_window(cur, user, start, end, &types, now);
            (Some(next), plan)
        })
        .await
        .map_err(store)?;
    let (run, todo) = match plan {
        Plan::Blocked => {
            return Err(FetchError::Permanent(
                "the Garmin backfill failed permanently: disconnect and reconnect to reset it"
                    .into(),
            ));
        }
        Plan::Cancelled => {
            tracing::info!(user = %user, "garmin backfill cancelled: nothing requested");
            return Ok(nothing());
        }
        Plan::Request { run_id, types } => (run_id, types),
    };
    for path in todo {
        let now = state.now();
        let go = modify(state, user, |s| s.trigger(run, &path, now))
            .await
            .map_err(store)?
            .unwrap_or(false);
        if !go {
            tracing::info!(user = %user, backfill_type = %path, "garmin backfill cancelled or superseded: no further requests");
            break;
        }
        let answer = garmin::request_type(f, &path, start, end).await;
        let now = state.now();
        match answer {
            Ok(Backfill::Accepted) => {}
            Ok(Backfill::Duplicate) => {
                modify(state, user, |s| s.duplicate(run, &path, now))
                    .await
                    .map_err(store)?;
            }
            Ok(Backfill::MinStartTime) => {
                tracing::warn!(user = %user, backfill_type = %path, "garmin backfill range starts before the user's minimum start time: chain stopped");
                modify(state, user, |s| {
                    s.stop_chain(run, &path, "min start time", now)
                })
                .await
                .map_err(store)?;
                return Ok(nothing());
            }
            Ok(Backfill::NoPermission(status)) => {
                let error = format!("HTTP {status}: historical data permission missing");
                modify(state, user, |s| s.stop_chain(run, &path, &error, now))
                    .await
                    .map_err(store)?;
                return Err(garmin::no_permission(&path, status));
            }
            Err(FetchError::Unauthorized) => {
                modify(state, user, |s| s.untrigger(run, &path, now))
                    .await
                    .map_err(store)?;
                return Err(FetchError::Unauthorized);
            }
            Err(FetchError::Transient(m)) => {
                let given_up = modify(state, user, |s| {
                    s.fail(run, &path, &m, now);
                    s.failed_attempt(run, now)
                })
                .await
                .map_err(store)?
                .unwrap_or(false);
                if given_up {
                    return Err(FetchError::Permanent(format!(
                        "the Garmin backfill failed permanently after repeated provider errors: {m}"
                    )));
                }
                return Err(FetchError::Transient(m));
            }
            Err(e @ (FetchError::Permanent(_) | FetchError::Refused(..))) => {
                let m = match e {
                    FetchError::Permanent(m) => m,
                    other => other.to_string(),
                };
                tracing::error!(user = %user, backfill_type = %path, "garmin backfill request failed: {m}");
                modify(state, user, |s| s.fail(run, &path, &m, now))
                    .await
                    .map_err(store)?;
            }
        }
    }
    Ok(nothing())
}

/// Garmin pushed data of Backfill API path `kind` for `user`: a requested type is done.
pub async fn delivered(state: &AppState, user: Uuid, kind: &str) -> Result<(), StoreError> {
    let now = state.now();
    if modify(state, user, |s| s.deliver(kind, now))
        .await?
        .unwrap_or(false)
    {
        tracing::info!(user = %user, backfill_type = kind, "garmin backfill type delivered");
    }
    Ok(())
}

/// The #49 status of `user` (a `pending` skeleton without state).
pub async fn status(state: &AppState, user: Uuid) -> Result<BackfillStatus, StoreError> {
    let now = state.now();
    Ok(match state.db.garmin_backfill(user, now).await? {
        Some(s) => s.view(now, timeout(state)),
        None => BackfillStatus::skeleton(&user.to_string()),
    })
}

/// Sets the cancel flag when the backfill is running; `false` when it is not.
pub async fn cancel(state: &AppState, user: Uuid) -> Result<bool, StoreError> {
    let now = state.now();
    let to = timeout(state);
    state
        .db
        .update_garmin_backfill(user, now, |cur| match cur {
            Some(c) if matches!(c.overall(now, to), "in_progress" | "retry_in_progress") => {
                let mut next = c.clone();
                next.cancel_requested = true;
                next.updated_at = now;
                (Some(next), true)
            }
            _ => (None, false),
        })
        .await
}

/// Whether `type_name` is one of the types #51 retries.
pub fn is_retry_type(type_name: &str) -> bool {
    TRACKED_TYPES.contains(&type_name)
}

/// Sets up a retry of `type_name` and answers the window job that requests it. Garmin takes
/// one request per type and range, so the retry asks for the 30 days before now.
pub async fn retry(state: &AppState, user: Uuid, type_name: &str) -> Result<Job, StoreError> {
    let now = state.now();
    let (start, end) = (now - Duration::days(garmin::BACKFILL_CHUNK_DAYS), now);
    let types = [type_name.to_string()];
    state
        .db
        .update_garmin_backfill(user, now, |cur| {
            let mut next = cur
                .cloned()
                .unwrap_or_else(|| GarminBackfill::new_run(user, start, end, &types, now));
            next.start_retry(type_name, start, end, now);
            (Some(next), ())
        })
        .await?;
    Ok(Job::ProviderSync {
        user_id: user,
        provider: "garmin".into(),
        start,
        end,
    })
}

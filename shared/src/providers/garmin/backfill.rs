//! Garmin backfill control (providers.md §4.1.4, api.md §12 #49–#51): a Garmin sync window
//! asks the Backfill API for each summary type and records the progress in the user's
//! backfill state ([`crate::repo::garmin_backfill`]); pushes of a requested type mark it done;
//! #50 cancels the requests still to come and #51 requests one type again.
//!
//! Unlike the reference there is no timer task: a type without its push reads `timed_out`
//! once the timeout (`GARMIN_BACKFILL_TIMEOUT_SECONDS`, default 300 s) has passed, computed
//! whenever the status is read, and retries are explicit (#51).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::BACKFILL_CHUNK_DAYS;
use super::pull::{self, Backfill};
use crate::app::AppState;
use crate::app::Job;
use crate::domain::garmin_backfill::{
    self as machine, Answer, GarminBackfill, MAX_ATTEMPTS, Plan, Step, TOTAL_WINDOWS,
};
use crate::providers::sync::{FetchError, Fetcher, Pulled};
use crate::store::StoreError;

/// The setting that overrides the push timeout (seconds).
pub const TIMEOUT_SETTING: &str = "GARMIN_BACKFILL_TIMEOUT_SECONDS";

/// How long a requested type may wait for its push.
pub fn timeout(state: &AppState) -> Duration {
    machine::timeout(state.config.setting(TIMEOUT_SETTING))
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

/// `{done, timed_out, failed}` of one type over the windows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TypeSummary {
    pub done: u32,
    pub timed_out: u32,
    pub failed: u32,
}

/// The status of #49.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BackfillStatus {
    pub user_id: String,
    pub provider: &'static str,
    /// `pending`, `in_progress`, `complete`, `cancelled`, `retry_in_progress`,
    /// `permanently_failed`.
    pub overall_status: &'static str,
    pub current_window: u32,
    pub total_windows: u32,
    /// Window index → type → `done` | `pending` | `timed_out` | `failed`.
    pub windows: BTreeMap<String, BTreeMap<String, &'static str>>,
    pub summary: BTreeMap<String, TypeSummary>,
    pub in_progress: bool,
    pub retry_phase: bool,
    pub retry_type: Option<String>,
    pub retry_window: Option<u32>,
    pub attempt_count: u32,
    pub max_attempts: u32,
    pub permanently_failed: bool,
}

impl BackfillStatus {
    /// The answer for a user without backfill state.
    pub fn skeleton(user: &str) -> Self {
        Self {
            user_id: user.to_string(),
            provider: "garmin",
            overall_status: "pending",
            current_window: 0,
            total_windows: TOTAL_WINDOWS,
            windows: BTreeMap::new(),
            summary: BTreeMap::new(),
            in_progress: false,
            retry_phase: false,
            retry_type: None,
            retry_window: None,
            attempt_count: 0,
            max_attempts: MAX_ATTEMPTS,
            permanently_failed: false,
        }
    }
}

/// The #49 answer for `s` at `now`.
pub fn view(s: &GarminBackfill, now: DateTime<Utc>, timeout: Duration) -> BackfillStatus {
    let overall = s.overall(now, timeout);
    let mut cells = BTreeMap::new();
    let mut summary = BTreeMap::new();
    for t in s.reported_types() {
        let cell = s.cell(t, now, timeout);
        let mut counts = TypeSummary::default();
        match cell {
            "done" => counts.done += 1,
            "timed_out" => counts.timed_out += 1,
            "failed" => counts.failed += 1,
            _ => {}
        }
        cells.insert(t.to_string(), cell);
        summary.insert(t.to_string(), counts);
    }
    let retrying = overall == "retry_in_progress";
    let finished = overall == "complete" || retrying;
    BackfillStatus {
        user_id: s.user_id.to_string(),
        provider: "garmin",
        overall_status: overall,
        current_window: if finished { TOTAL_WINDOWS } else { 0 },
        total_windows: TOTAL_WINDOWS,
        windows: BTreeMap::from([("0".to_string(), cells)]),
        summary,
        in_progress: overall == "in_progress" || retrying,
        retry_phase: retrying,
        retry_type: s
            .retry
            .as_ref()
            .filter(|_| retrying)
            .map(|r| r.type_name.clone()),
        retry_window: retrying.then_some(0),
        attempt_count: s.attempt_count,
        max_attempts: MAX_ATTEMPTS,
        permanently_failed: s.permanently_failed,
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
    if end - start > Duration::days(BACKFILL_CHUNK_DAYS) {
        return pull::pull(f, start, end).await;
    }
    let types = pull::backfill_types(f);
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
        let answer = match pull::request_type(f, &path, start, end).await {
            Ok(Backfill::Accepted) => Answer::Accepted,
            Ok(Backfill::Duplicate) => Answer::Duplicate,
            Ok(Backfill::MinStartTime) => Answer::MinStartTime,
            Ok(Backfill::NoPermission(status)) => Answer::NoPermission(status),
            Err(FetchError::Unauthorized) => Answer::Unauthorized,
            Err(FetchError::Transient(m)) => Answer::Transient(m),
            Err(FetchError::Permanent(m)) => Answer::Refused(m),
            Err(other @ FetchError::Refused(..)) => Answer::Refused(other.to_string()),
        };
        let given_up = if answer == Answer::Accepted {
            false
        } else {
            let now = state.now();
            modify(state, user, |s| s.record(run, &path, &answer, now))
                .await
                .map_err(store)?
                .unwrap_or(false)
        };
        if let Answer::Refused(m) = &answer {
            tracing::error!(user = %user, backfill_type = %path, "garmin backfill request failed: {m}");
        }
        match machine::next_step(answer, given_up) {
            Step::Continue => {}
            Step::Stop => {
                tracing::warn!(user = %user, backfill_type = %path, "garmin backfill range starts before the user's minimum start time: chain stopped");
                return Ok(nothing());
            }
            Step::NoPermission(status) => return Err(pull::no_permission(&path, status)),
            Step::Unauthorized => return Err(FetchError::Unauthorized),
            Step::Retry(m) => return Err(FetchError::Transient(m)),
            Step::GiveUp(m) => {
                return Err(FetchError::Permanent(format!(
                    "the Garmin backfill failed permanently after repeated provider errors: {m}"
                )));
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
        Some(s) => view(&s, now, timeout(state)),
        None => BackfillStatus::skeleton(&user.to_string()),
    })
}

/// Sets the cancel flag when the backfill is running; `false` when it is not.
pub async fn cancel(state: &AppState, user: Uuid) -> Result<bool, StoreError> {
    let now = state.now();
    let to = timeout(state);
    state
        .db
        .update_garmin_backfill(user, now, |cur| {
            let mut next = cur.cloned();
            let cancelled = next.as_mut().is_some_and(|c| c.request_cancel(now, to));
            (next.filter(|_| cancelled), cancelled)
        })
        .await
}

/// Whether `type_name` is one of the types #51 retries.
pub fn is_retry_type(type_name: &str) -> bool {
    machine::is_tracked_type(type_name)
}

/// Sets up a retry of `type_name` and answers the window job that requests it. Garmin takes
/// one request per type and range, so the retry asks for the 30 days before now.
pub async fn retry(state: &AppState, user: Uuid, type_name: &str) -> Result<Job, StoreError> {
    let now = state.now();
    let (start, end) = (now - Duration::days(BACKFILL_CHUNK_DAYS), now);
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
        provider: crate::domain::provider::Provider::Garmin,
        start,
        end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::garmin_backfill::{DEFAULT_TIMEOUT_SECONDS, TRACKED_TYPES};

    #[test]
    fn the_status_view_reports_cells_summaries_and_the_retry_phase() {
        let now = DateTime::parse_from_rfc3339("2024-06-10T12:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let to = Duration::seconds(DEFAULT_TIMEOUT_SECONDS);
        let five: Vec<String> = TRACKED_TYPES.iter().map(|s| s.to_string()).collect();
        let (mut s, plan) =
            GarminBackfill::begin_window(None, Uuid::nil(), now - to * 100, now, &five, now);
        let Plan::Request { run_id: run, .. } = plan else {
            panic!("a new run requests");
        };
        for ty in &five {
            s.trigger(run, ty, now);
        }
        let v = view(&s, now, to);
        assert_eq!(
            (v.overall_status, v.current_window, v.in_progress),
            ("in_progress", 0, true)
        );
        assert_eq!(v.windows["0"]["hrv"], "pending");
        for ty in ["sleeps", "dailies", "activities", "activityDetails"] {
            s.deliver(ty, now);
        }
        let later = now + to;
        let v = view(&s, later, to);
        assert_eq!(
            (v.overall_status, v.current_window, v.in_progress),
            ("complete", 1, false)
        );
        assert_eq!(v.windows["0"]["hrv"], "timed_out");
        assert_eq!(
            (v.summary["hrv"], v.summary["sleeps"]),
            (
                TypeSummary {
                    done: 0,
                    timed_out: 1,
                    failed: 0
                },
                TypeSummary {
                    done: 1,
                    timed_out: 0,
                    failed: 0
                }
            )
        );
        s.start_retry("hrv", later - to, later, later);
        let v = view(&s, later, to);
        assert_eq!(
            (
                v.overall_status,
                v.retry_phase,
                v.retry_type.as_deref(),
                v.retry_window,
                v.in_progress
            ),
            ("retry_in_progress", true, Some("hrv"), Some(0), true)
        );
        assert_eq!((v.max_attempts, v.total_windows), (3, 1));
        let skeleton = BackfillStatus::skeleton("u");
        assert_eq!(
            (skeleton.overall_status, skeleton.windows.len()),
            ("pending", 0)
        );
    }
}

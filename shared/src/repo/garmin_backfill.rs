//! Garmin backfill progress (api.md §12 #49–#51, providers.md §4.1.4): one item per user that
//! records what the Backfill API was asked for and what Garmin has pushed since.
//!
//! | item | pk | sk | ttl |
//! |---|---|---|---|
//! | backfill state | `USER#<uuid>` | `GARMINBACKFILL` | 7 days after its last update |
//!
//! A *run* is one backfill window `[start, end)` (one window: `total_windows` is 1). Every
//! Backfill API path the window requests has a [`TypeState`]: `pending` (not asked yet) →
//! `triggered` (asked, Garmin answered 202) → `success` (Garmin pushed that type, or answered
//! 409 "already requested") or `failed` (refused). A type triggered longer ago than the
//! timeout without a push reads as `timed_out`; a type still `pending` while the run made no
//! progress for that long does too (its window is not running any more). The status view is
//! computed from the item and the time of the read ([`GarminBackfill::view`]).
//!
//! Writers read-modify-write the item under its version, so the window job and concurrent
//! webhook deliveries never overwrite each other's changes.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::users::user_pk;
use super::{Db, decode, encode};
use crate::store::{Condition, Item, Key, StoreError, is_live};

/// The sort key of the item.
pub const SK: &str = "GARMINBACKFILL";

/// The types the status reports, in request order (the reference's orchestrated five).
pub const TRACKED_TYPES: [&str; 5] = ["sleeps", "dailies", "activities", "activityDetails", "hrv"];

/// Seconds a triggered type may wait for its push before it counts as timed out.
pub const DEFAULT_TIMEOUT_SECONDS: i64 = 300;

/// Failed window attempts after which the backfill is permanently failed.
pub const MAX_ATTEMPTS: u32 = 3;

/// Days the item lives after its last update.
pub const TTL_DAYS: i64 = 7;

/// Windows of one backfill (a single 30-day window).
pub const TOTAL_WINDOWS: u32 = 1;

/// Where one requested type stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeStatus {
    /// Not requested yet in this run.
    Pending,
    /// Requested (202); waiting for Garmin's push.
    Triggered,
    /// Pushed by Garmin (or already requested before: 409).
    Success,
    /// Garmin refused the request.
    Failed,
}

/// One requested Backfill API path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeState {
    pub status: TypeStatus,
    pub triggered_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Requests sent for this type in this run.
    pub requests: u32,
    pub error: Option<String>,
}

impl TypeState {
    fn pending() -> Self {
        Self {
            status: TypeStatus::Pending,
            triggered_at: None,
            completed_at: None,
            requests: 0,
            error: None,
        }
    }
}

/// A retry of one type (#51): the type is requested again over a fresh range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retry {
    pub type_name: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The backfill state of one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GarminBackfill {
    pub user_id: Uuid,
    /// Identifies the run (a new window range starts a new run).
    pub run_id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Backfill API path → its state, for every path this run requests.
    pub types: BTreeMap<String, TypeState>,
    /// Set by #50: no further type is requested.
    pub cancel_requested: bool,
    /// Window attempts that ended on a transient provider failure.
    pub attempt_count: u32,
    pub permanently_failed: bool,
    pub retry: Option<Retry>,
}

/// What a window should do, as decided by [`GarminBackfill::begin_window`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Request these paths, in this order, for run `run_id`.
    Request { run_id: Uuid, types: Vec<String> },
    /// The backfill was cancelled: request nothing.
    Cancelled,
    /// The backfill failed permanently: request nothing until the user reconnects.
    Blocked,
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

impl GarminBackfill {
    /// A new run over `[start, end)` requesting `types`.
    pub fn new_run(
        user: Uuid,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        types: &[String],
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            user_id: user,
            run_id: Uuid::new_v4(),
            start,
            end,
            started_at: now,
            updated_at: now,
            types: types
                .iter()
                .map(|t| (t.clone(), TypeState::pending()))
                .collect(),
            cancel_requested: false,
            attempt_count: 0,
            permanently_failed: false,
            retry: None,
        }
    }

    /// Decides what a window over `[start, end)` requests, and records it:
    /// - the range of a pending retry: that type again (if it still needs it);
    /// - the run's own range (the queue retrying the window, a repeated trigger): the types
    ///   not requested yet or refused, so nothing is asked twice;
    /// - any other range: a new run of every type in `types`.
    ///
    /// A cancelled run requests nothing; a permanently failed one neither.
    pub fn begin_window(
        cur: Option<&Self>,
        user: Uuid,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        types: &[String],
        now: DateTime<Utc>,
    ) -> (Self, Plan) {
        let Some(cur) = cur else {
            let run = Self::new_run(user, start, end, types, now);
            let plan = Plan::Request {
                run_id: run.run_id,
                types: types.to_vec(),
            };
            return (run, plan);
        };
        let mut next = cur.clone();
        if cur.permanently_failed {
            return (next, Plan::Blocked);
        }
        let is_retry = cur
            .retry
            .as_ref()
            .is_some_and(|r| r.start == start && r.end == end);
        if !is_retry && (cur.start, cur.end) != (start, end) {
            let run = Self::new_run(user, start, end, types, now);
            let plan = Plan::Request {
                run_id: run.run_id,
                types: types.to_vec(),
            };
            return (run, plan);
        }
        if cur.cancel_requested {
            return (next, Plan::Cancelled);
        }
        let wanted: Vec<String> = match (&cur.retry, is_retry) {
            (Some(r), true) => vec![r.type_name.clone()],
            _ => types.to_vec(),
        };
        let mut todo = Vec::new();
        for t in wanted {
            let st = next
                .types
                .entry(t.clone())
                .or_insert_with(TypeState::pending);
            if matches!(st.status, TypeStatus::Pending | TypeStatus::Failed) {
                todo.push(t);
            }
        }
        next.updated_at = now;
        let plan = Plan::Request {
            run_id: next.run_id,
            types: todo,
        };
        (next, plan)
    }

    /// Marks `type_name` requested just before the call (a push may arrive before the 202).
    /// `false` (nothing changed) when the run was replaced or cancelled: stop requesting.
    pub fn trigger(&mut self, run_id: Uuid, type_name: &str, now: DateTime<Utc>) -> bool {
        if self.run_id != run_id || self.cancel_requested || self.permanently_failed {
            return false;
        }
        let st = self
            .types
            .entry(type_name.to_string())
            .or_insert_with(TypeState::pending);
        st.status = TypeStatus::Triggered;
        st.triggered_at = Some(now);
        st.completed_at = None;
        st.error = None;
        st.requests += 1;
        self.updated_at = now;
        true
    }

    /// Garmin pushed data of `type_name`: a triggered type is done. `false` if nothing changed.
    pub fn deliver(&mut self, type_name: &str, now: DateTime<Utc>) -> bool {
        match self.types.get_mut(type_name) {
            Some(st) if st.status == TypeStatus::Triggered => {
                st.status = TypeStatus::Success;
                st.completed_at = Some(now);
                self.updated_at = now;
                true
            }
            _ => false,
        }
    }

    /// Garmin answered 409 for a type this run just requested: its data was or will be pushed.
    pub fn duplicate(&mut self, run_id: Uuid, type_name: &str, now: DateTime<Utc>) {
        if self.run_id == run_id {
            self.deliver(type_name, now);
        }
    }

    /// Garmin refused `type_name` (still triggered by this run).
    pub fn fail(&mut self, run_id: Uuid, type_name: &str, error: &str, now: DateTime<Utc>) {
        if self.run_id != run_id {
            return;
        }
        if let Some(st) = self.types.get_mut(type_name)
            && st.status == TypeStatus::Triggered
        {
            st.status = TypeStatus::Failed;
            st.error = Some(error.to_string());
            st.completed_at = Some(now);
            self.updated_at = now;
        }
    }

    /// The request of `type_name` did not happen (401: the token is refreshed and the window
    /// runs again): back to pending.
    pub fn untrigger(&mut self, run_id: Uuid, type_name: &str, now: DateTime<Utc>) {
        if self.run_id != run_id {
            return;
        }
        if let Some(st) = self.types.get_mut(type_name)
            && st.status == TypeStatus::Triggered
        {
            st.status = TypeStatus::Pending;
            st.triggered_at = None;
            self.updated_at = now;
        }
    }

    /// Garmin refused `type_name` for good (no historical permission, range before the
    /// minimum): it fails, and so does every type this run has not requested yet (the
    /// reference's chain stop). Types already waiting for their push keep waiting.
    pub fn stop_chain(&mut self, run_id: Uuid, type_name: &str, error: &str, now: DateTime<Utc>) {
        if self.run_id != run_id {
            return;
        }
        for (t, st) in self.types.iter_mut() {
            let current = t == type_name && st.status == TypeStatus::Triggered;
            if current || st.status == TypeStatus::Pending {
                st.status = TypeStatus::Failed;
                st.error = Some(error.to_string());
                st.completed_at = Some(now);
            }
        }
        self.updated_at = now;
    }

    /// A window attempt ended on a transient failure; the third makes the backfill permanently
    /// failed. Answers whether it is now.
    pub fn failed_attempt(&mut self, run_id: Uuid, now: DateTime<Utc>) -> bool {
        if self.run_id == run_id {
            self.attempt_count += 1;
            if self.attempt_count >= MAX_ATTEMPTS {
                self.permanently_failed = true;
            }
            self.updated_at = now;
        }
        self.permanently_failed
    }

    /// Sets up a retry of `type_name` over `[start, end)` (#51): the type is pending again and
    /// a cancel flag is lifted (the retry is an explicit request to continue).
    pub fn start_retry(
        &mut self,
        type_name: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        let st = self
            .types
            .entry(type_name.to_string())
            .or_insert_with(TypeState::pending);
        st.status = TypeStatus::Pending;
        st.triggered_at = None;
        st.completed_at = None;
        st.error = None;
        self.retry = Some(Retry {
            type_name: type_name.to_string(),
            start,
            end,
        });
        self.cancel_requested = false;
        self.updated_at = now;
    }

    fn is_retry_type(&self, type_name: &str) -> bool {
        self.retry
            .as_ref()
            .is_some_and(|r| r.type_name == type_name)
    }

    /// The matrix cell of one type at `now`: `done`, `pending`, `timed_out` or `failed`. A
    /// retried type that times out again is `failed` (the reference's escalation).
    pub fn cell(&self, type_name: &str, now: DateTime<Utc>, timeout: Duration) -> &'static str {
        let Some(st) = self.types.get(type_name) else {
            return "pending";
        };
        let late = match st.status {
            TypeStatus::Success => return "done",
            TypeStatus::Failed => return "failed",
            TypeStatus::Triggered => st.triggered_at.is_none_or(|t| now - t >= timeout),
            // Not requested, and the run has made no progress for a timeout: its window
            // is not running any more.
            TypeStatus::Pending => now - self.updated_at >= timeout,
        };
        match (late, self.is_retry_type(type_name)) {
            (false, _) => "pending",
            (true, false) => "timed_out",
            (true, true) => "failed",
        }
    }

    /// The overall status at `now` (providers.md §4.1.4 precedence).
    pub fn overall(&self, now: DateTime<Utc>, timeout: Duration) -> &'static str {
        if self.permanently_failed {
            return "permanently_failed";
        }
        if self.cancel_requested {
            return "cancelled";
        }
        if let Some(r) = &self.retry
            && self.cell(&r.type_name, now, timeout) == "pending"
        {
            return "retry_in_progress";
        }
        let open = self
            .reported_types()
            .any(|t| self.cell(t, now, timeout) == "pending");
        if open { "in_progress" } else { "complete" }
    }

    /// The tracked types this run requests, in request order.
    fn reported_types(&self) -> impl Iterator<Item = &'static str> + '_ {
        TRACKED_TYPES
            .into_iter()
            .filter(|t| self.types.contains_key(*t))
    }

    /// The #49 answer at `now`.
    pub fn view(&self, now: DateTime<Utc>, timeout: Duration) -> BackfillStatus {
        let overall = self.overall(now, timeout);
        let mut cells = BTreeMap::new();
        let mut summary = BTreeMap::new();
        for t in self.reported_types() {
            let cell = self.cell(t, now, timeout);
            let mut s = TypeSummary::default();
            match cell {
                "done" => s.done += 1,
                "timed_out" => s.timed_out += 1,
                "failed" => s.failed += 1,
                _ => {}
            }
            cells.insert(t.to_string(), cell);
            summary.insert(t.to_string(), s);
        }
        let retrying = overall == "retry_in_progress";
        let finished = overall == "complete" || retrying;
        BackfillStatus {
            user_id: self.user_id.to_string(),
            provider: "garmin",
            overall_status: overall,
            current_window: if finished { TOTAL_WINDOWS } else { 0 },
            total_windows: TOTAL_WINDOWS,
            windows: BTreeMap::from([("0".to_string(), cells)]),
            summary,
            in_progress: overall == "in_progress" || retrying,
            retry_phase: retrying,
            retry_type: self
                .retry
                .as_ref()
                .filter(|_| retrying)
                .map(|r| r.type_name.clone()),
            retry_window: retrying.then_some(0),
            attempt_count: self.attempt_count,
            max_attempts: MAX_ATTEMPTS,
            permanently_failed: self.permanently_failed,
        }
    }
}

fn key(user: Uuid) -> Key {
    Key::new(user_pk(user), SK)
}

/// Attempts of one read-modify-write before giving up on contention.
const UPDATE_ATTEMPTS: usize = 25;

impl Db {
    /// The user's backfill state (`None`: none, or expired).
    pub async fn garmin_backfill(
        &self,
        user: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<GarminBackfill>, StoreError> {
        match self.table.get(&key(user)).await? {
            Some(i) if is_live(&i, now.timestamp()) => decode(&i).map(Some),
            _ => Ok(None),
        }
    }

    /// Read-modify-write of the user's backfill state under its version: `change` gets the
    /// current state and answers the state to store (`None`: leave it) and a result. Runs
    /// again when a concurrent writer got in between.
    pub async fn update_garmin_backfill<T>(
        &self,
        user: Uuid,
        now: DateTime<Utc>,
        mut change: impl FnMut(Option<&GarminBackfill>) -> (Option<GarminBackfill>, T),
    ) -> Result<T, StoreError> {
        for _ in 0..UPDATE_ATTEMPTS {
            let item = self.table.get(&key(user)).await?;
            let current: Option<GarminBackfill> = match &item {
                Some(i) if is_live(i, now.timestamp()) => Some(decode(i)?),
                _ => None,
            };
            let (next, out) = change(current.as_ref());
            let Some(next) = next else {
                return Ok(out);
            };
            if current.as_ref() == Some(&next) {
                return Ok(out);
            }
            let mut new = Item::new(user_pk(user), SK, encode(&next)?)
                .with_ttl((next.updated_at.max(now) + Duration::days(TTL_DAYS)).timestamp());
            let cond = match &item {
                Some(i) => {
                    new.version = i.version + 1;
                    Condition::VersionIs(i.version)
                }
                None => Condition::NotExists,
            };
            match self.table.put(new, cond).await {
                Ok(()) => return Ok(out),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Backend(
            "garmin backfill state: too much contention".into(),
        ))
    }

    /// Forgets the user's backfill state (a new consent starts afresh).
    pub async fn delete_garmin_backfill(&self, user: Uuid) -> Result<(), StoreError> {
        self.table.delete(&key(user), Condition::None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn five() -> Vec<String> {
        TRACKED_TYPES.iter().map(|s| s.to_string()).collect()
    }

    const TIMEOUT: i64 = DEFAULT_TIMEOUT_SECONDS;

    fn run_at(now: DateTime<Utc>) -> (GarminBackfill, Uuid) {
        let (s, plan) = GarminBackfill::begin_window(
            None,
            Uuid::nil(),
            now - Duration::days(30),
            now,
            &five(),
            now,
        );
        let Plan::Request { run_id, types } = plan else {
            panic!("a new run requests");
        };
        assert_eq!(types, five());
        (s, run_id)
    }

    #[test]
    fn a_run_goes_from_in_progress_to_complete_as_pushes_arrive() {
        let now = t("2024-06-10T12:00:00Z");
        let to = Duration::seconds(TIMEOUT);
        let (mut s, run) = run_at(now);
        assert_eq!(s.overall(now, to), "in_progress");
        for ty in five() {
            assert!(s.trigger(run, &ty, now));
        }
        assert_eq!(s.view(now, to).windows["0"]["hrv"], "pending");
        assert!(s.deliver("sleeps", now));
        assert!(!s.deliver("sleeps", now), "only a real transition");
        assert_eq!(s.overall(now, to), "in_progress");
        for ty in ["dailies", "activities", "activityDetails", "hrv"] {
            s.deliver(ty, now);
        }
        let v = s.view(now, to);
        assert_eq!(v.overall_status, "complete");
        assert_eq!((v.current_window, v.in_progress), (1, false));
        assert_eq!(
            v.summary["hrv"],
            TypeSummary {
                done: 1,
                timed_out: 0,
                failed: 0
            }
        );
    }

    #[test]
    fn types_without_a_push_time_out_and_a_retry_escalates_to_failed() {
        let now = t("2024-06-10T12:00:00Z");
        let to = Duration::seconds(TIMEOUT);
        let (mut s, run) = run_at(now);
        for ty in five() {
            s.trigger(run, &ty, now);
        }
        for ty in ["sleeps", "dailies", "activities", "activityDetails"] {
            s.deliver(ty, now);
        }
        let almost = now + Duration::seconds(TIMEOUT - 1);
        assert_eq!(s.overall(almost, to), "in_progress");
        let later = now + Duration::seconds(TIMEOUT);
        let v = s.view(later, to);
        assert_eq!(v.overall_status, "complete");
        assert_eq!(v.windows["0"]["hrv"], "timed_out");
        assert_eq!(v.summary["hrv"].timed_out, 1);

        // The retry: pending again over a fresh range, only that type is requested.
        let (rs, re) = (later - Duration::days(30), later);
        s.start_retry("hrv", rs, re, later);
        assert_eq!(s.overall(later, to), "retry_in_progress");
        let (mut s2, plan) =
            GarminBackfill::begin_window(Some(&s), Uuid::nil(), rs, re, &five(), later);
        assert_eq!(
            plan,
            Plan::Request {
                run_id: run,
                types: vec!["hrv".into()]
            }
        );
        assert!(s2.trigger(run, "hrv", later));
        let v = s2.view(later, to);
        assert_eq!(
            (v.retry_phase, v.retry_type.as_deref(), v.retry_window),
            (true, Some("hrv"), Some(0))
        );
        // A second timeout of the retried type is a failure.
        let much_later = later + Duration::seconds(TIMEOUT);
        let v = s2.view(much_later, to);
        assert_eq!(
            (v.overall_status, v.windows["0"]["hrv"]),
            ("complete", "failed")
        );
        // A push in time completes it.
        s2.deliver("hrv", later);
        let v = s2.view(later, to);
        assert_eq!(
            (v.overall_status, v.windows["0"]["hrv"], v.retry_type),
            ("complete", "done", None)
        );
    }

    #[test]
    fn the_same_range_continues_a_run_and_another_starts_a_new_one() {
        let now = t("2024-06-10T12:00:00Z");
        let (mut s, run) = run_at(now);
        s.trigger(run, "sleeps", now);
        s.deliver("sleeps", now);
        s.trigger(run, "dailies", now);
        s.fail(run, "dailies", "HTTP 429", now);
        s.trigger(run, "activities", now);
        let (start, end) = (s.start, s.end);
        let (s2, plan) =
            GarminBackfill::begin_window(Some(&s), Uuid::nil(), start, end, &five(), now);
        assert_eq!(
            plan,
            Plan::Request {
                run_id: run,
                types: vec!["dailies".into(), "activityDetails".into(), "hrv".into()]
            },
            "done and in-flight types are not asked again"
        );
        let (s3, plan) = GarminBackfill::begin_window(
            Some(&s2),
            Uuid::nil(),
            start + Duration::hours(1),
            end + Duration::hours(1),
            &five(),
            now,
        );
        let Plan::Request { run_id, types } = plan else {
            panic!("new run");
        };
        assert_ne!(run_id, run);
        assert_eq!(types.len(), 5);
        assert!(s3.types.values().all(|st| st.status == TypeStatus::Pending));
        // The old run's late answers do not touch the new one.
        let mut s4 = s3.clone();
        assert!(!s4.trigger(run, "hrv", now));
        s4.fail(run, "sleeps", "x", now);
        assert_eq!(s4, s3);
    }

    #[test]
    fn cancel_stops_requests_and_attempts_fail_permanently() {
        let now = t("2024-06-10T12:00:00Z");
        let to = Duration::seconds(TIMEOUT);
        let (mut s, run) = run_at(now);
        s.trigger(run, "sleeps", now);
        s.cancel_requested = true;
        assert!(!s.trigger(run, "dailies", now));
        assert_eq!(s.overall(now, to), "cancelled");
        let (start, end) = (s.start, s.end);
        let (_, plan) =
            GarminBackfill::begin_window(Some(&s), Uuid::nil(), start, end, &five(), now);
        assert_eq!(plan, Plan::Cancelled);

        let (mut s, run) = run_at(now);
        assert!(!s.failed_attempt(run, now));
        assert!(!s.failed_attempt(run, now));
        assert!(s.failed_attempt(run, now));
        let v = s.view(now, to);
        assert_eq!(
            (
                v.overall_status,
                v.attempt_count,
                v.max_attempts,
                v.permanently_failed
            ),
            ("permanently_failed", 3, 3, true)
        );
        let (_, plan) = GarminBackfill::begin_window(
            Some(&s),
            Uuid::nil(),
            now,
            now + Duration::days(1),
            &five(),
            now,
        );
        assert_eq!(plan, Plan::Blocked);
    }

    #[test]
    fn a_chain_stop_fails_what_was_not_requested_and_a_stalled_window_times_out() {
        let now = t("2024-06-10T12:00:00Z");
        let to = Duration::seconds(TIMEOUT);
        let (mut s, run) = run_at(now);
        s.trigger(run, "sleeps", now);
        s.trigger(run, "dailies", now);
        s.stop_chain(run, "dailies", "HTTP 403", now);
        let v = s.view(now, to);
        assert_eq!(v.windows["0"]["sleeps"], "pending", "requested earlier");
        assert_eq!(v.windows["0"]["dailies"], "failed");
        assert_eq!(v.windows["0"]["hrv"], "failed");

        let (s, _) = run_at(now);
        assert_eq!(
            s.cell("hrv", now + Duration::seconds(TIMEOUT), to),
            "timed_out"
        );
        assert_eq!(
            BackfillStatus::skeleton("u").overall_status,
            "pending",
            "no state"
        );
    }
}

//! The Garmin backfill state machine (providers.md §4.1.4, api.md §12 #49–#51), pure: what a
//! window requests, how each answer of the Backfill API and each push changes the state, when
//! the chain stops, when the backfill gives up, and how the state reads at a given time. No
//! I/O: `repo::garmin_backfill` loads and saves the state, `providers::garmin` makes the calls.
//!
//! A *run* is one backfill window `[start, end)` (one window: `total_windows` is 1). Every
//! Backfill API path the window requests has a [`TypeState`]: `pending` (not asked yet) →
//! `triggered` (asked, Garmin answered 202) → `success` (Garmin pushed that type, or answered
//! 409 "already requested") or `failed` (refused). A type triggered longer ago than the
//! timeout without a push reads as `timed_out`; a type still `pending` while the run made no
//! progress for that long does too (its window is not running any more). Reads are computed
//! from the state and the time of the read ([`GarminBackfill::cell`],
//! [`GarminBackfill::overall`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The types the status reports, in request order (the reference's orchestrated five).
pub const TRACKED_TYPES: [&str; 5] = ["sleeps", "dailies", "activities", "activityDetails", "hrv"];

/// Seconds a triggered type may wait for its push before it counts as timed out.
pub const DEFAULT_TIMEOUT_SECONDS: i64 = 300;

/// Failed window attempts after which the backfill is permanently failed.
pub const MAX_ATTEMPTS: u32 = 3;

/// Windows of one backfill (a single 30-day window).
pub const TOTAL_WINDOWS: u32 = 1;

/// The push timeout from its setting (seconds; a missing, unparsable or non-positive value
/// means [`DEFAULT_TIMEOUT_SECONDS`]).
pub fn timeout(setting: Option<&str>) -> Duration {
    let secs = setting
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    Duration::seconds(secs)
}

/// Whether `type_name` is one of the types a retry (#51) may ask for.
pub fn is_tracked_type(type_name: &str) -> bool {
    TRACKED_TYPES.contains(&type_name)
}

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

/// How the Backfill API answered the request of one type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 202: the type waits for its push.
    Accepted,
    /// 409: requested before, so it counts as done.
    Duplicate,
    /// The range starts before the user's minimum start time (after the shorter retry).
    MinStartTime,
    /// 403/412: no historical data permission.
    NoPermission(u16),
    /// 401: the token is refreshed and the window runs again.
    Unauthorized,
    /// 429/5xx or a network failure: the window is retried.
    Transient(String),
    /// Any other refusal: that type fails.
    Refused(String),
}

/// What the window does after an answer, as decided by [`next_step`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Request the next type.
    Continue,
    /// Stop quietly: nothing more is requested, the window succeeds.
    Stop,
    /// Stop: no historical permission (the window fails for good).
    NoPermission(u16),
    /// Stop: the token must be refreshed and the window run again.
    Unauthorized,
    /// Stop: the queue retries the window.
    Retry(String),
    /// Stop: the backfill failed permanently after repeated transient failures.
    GiveUp(String),
}

/// The step after `answer`; `given_up` is what [`GarminBackfill::record`] answered.
pub fn next_step(answer: Answer, given_up: bool) -> Step {
    match answer {
        Answer::Accepted | Answer::Duplicate | Answer::Refused(_) => Step::Continue,
        Answer::MinStartTime => Step::Stop,
        Answer::NoPermission(status) => Step::NoPermission(status),
        Answer::Unauthorized => Step::Unauthorized,
        Answer::Transient(m) if given_up => Step::GiveUp(m),
        Answer::Transient(m) => Step::Retry(m),
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

    /// Records `answer` to the request of `type_name` in run `run_id`. Answers whether the
    /// backfill has now given up (only a transient failure can make it).
    pub fn record(
        &mut self,
        run_id: Uuid,
        type_name: &str,
        answer: &Answer,
        now: DateTime<Utc>,
    ) -> bool {
        match answer {
            Answer::Accepted => false,
            Answer::Duplicate => {
                self.duplicate(run_id, type_name, now);
                false
            }
            Answer::MinStartTime => {
                self.stop_chain(run_id, type_name, "min start time", now);
                false
            }
            Answer::NoPermission(status) => {
                let error = format!("HTTP {status}: historical data permission missing");
                self.stop_chain(run_id, type_name, &error, now);
                false
            }
            Answer::Unauthorized => {
                self.untrigger(run_id, type_name, now);
                false
            }
            Answer::Transient(m) => {
                self.fail(run_id, type_name, m, now);
                self.failed_attempt(run_id, now)
            }
            Answer::Refused(m) => {
                self.fail(run_id, type_name, m, now);
                false
            }
        }
    }

    /// Sets the cancel flag (#50) when the backfill is running at `now`; `false` (nothing
    /// changed) when it is not.
    pub fn request_cancel(&mut self, now: DateTime<Utc>, timeout: Duration) -> bool {
        if !matches!(
            self.overall(now, timeout),
            "in_progress" | "retry_in_progress"
        ) {
            return false;
        }
        self.cancel_requested = true;
        self.updated_at = now;
        true
    }

    /// The tracked types this run requests, in request order.
    pub fn reported_types(&self) -> impl Iterator<Item = &'static str> + '_ {
        TRACKED_TYPES
            .into_iter()
            .filter(|t| self.types.contains_key(*t))
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
        assert_eq!(s.cell("hrv", now, to), "pending");
        assert!(s.deliver("sleeps", now));
        assert!(!s.deliver("sleeps", now), "only a real transition");
        assert_eq!(s.overall(now, to), "in_progress");
        for ty in ["dailies", "activities", "activityDetails", "hrv"] {
            s.deliver(ty, now);
        }
        assert_eq!(s.overall(now, to), "complete");
        assert!(s.reported_types().all(|ty| s.cell(ty, now, to) == "done"));
        assert_eq!(s.reported_types().collect::<Vec<_>>(), TRACKED_TYPES);
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
        assert_eq!(s.overall(later, to), "complete");
        assert_eq!(s.cell("hrv", later, to), "timed_out");

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
        assert_eq!(s2.overall(later, to), "retry_in_progress");
        // A second timeout of the retried type is a failure.
        let much_later = later + Duration::seconds(TIMEOUT);
        assert_eq!(
            (s2.overall(much_later, to), s2.cell("hrv", much_later, to)),
            ("complete", "failed")
        );
        // A push in time completes it.
        s2.deliver("hrv", later);
        assert_eq!(
            (s2.overall(later, to), s2.cell("hrv", later, to)),
            ("complete", "done")
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
        assert!(!s4.record(run, "dailies", &Answer::Transient("x".into()), now));
        assert_eq!(s4, s3);
    }

    #[test]
    fn cancel_stops_requests_and_attempts_fail_permanently() {
        let now = t("2024-06-10T12:00:00Z");
        let to = Duration::seconds(TIMEOUT);
        let (mut s, run) = run_at(now);
        s.trigger(run, "sleeps", now);
        let later = now + Duration::seconds(1);
        assert!(s.request_cancel(later, to));
        assert_eq!((s.cancel_requested, s.updated_at), (true, later));
        assert!(!s.request_cancel(later, to), "not running any more");
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
        assert_eq!(s.overall(now, to), "permanently_failed");
        assert_eq!(
            (s.attempt_count, s.permanently_failed),
            (MAX_ATTEMPTS, true)
        );
        assert!(!s.request_cancel(now, to));
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
        assert_eq!(s.cell("sleeps", now, to), "pending", "requested earlier");
        assert_eq!(s.cell("dailies", now, to), "failed");
        assert_eq!(s.cell("hrv", now, to), "failed");

        let (s, _) = run_at(now);
        assert_eq!(
            s.cell("hrv", now + Duration::seconds(TIMEOUT), to),
            "timed_out"
        );
    }

    #[test]
    fn answers_change_the_state_and_decide_the_next_step() {
        let now = t("2024-06-10T12:00:00Z");
        let to = Duration::seconds(TIMEOUT);
        let requested = |path: &str| {
            let (mut s, run) = run_at(now);
            assert!(s.trigger(run, path, now));
            (s, run)
        };
        let (mut s, run) = requested("sleeps");
        let before = s.clone();
        assert!(!s.record(run, "sleeps", &Answer::Accepted, now));
        assert_eq!(s, before, "a 202 changes nothing");
        assert_eq!(next_step(Answer::Accepted, false), Step::Continue);

        let (mut s, run) = requested("sleeps");
        s.record(run, "sleeps", &Answer::Duplicate, now);
        assert_eq!(s.cell("sleeps", now, to), "done");
        assert_eq!(next_step(Answer::Duplicate, false), Step::Continue);

        let (mut s, run) = requested("sleeps");
        s.record(run, "sleeps", &Answer::MinStartTime, now);
        assert!(s.reported_types().all(|ty| s.cell(ty, now, to) == "failed"));
        assert_eq!(s.types["hrv"].error.as_deref(), Some("min start time"));
        assert_eq!(next_step(Answer::MinStartTime, false), Step::Stop);

        let (mut s, run) = requested("sleeps");
        s.record(run, "sleeps", &Answer::NoPermission(412), now);
        assert_eq!(
            s.types["dailies"].error.as_deref(),
            Some("HTTP 412: historical data permission missing")
        );
        assert_eq!(
            next_step(Answer::NoPermission(412), false),
            Step::NoPermission(412)
        );

        let (mut s, run) = requested("sleeps");
        s.record(run, "sleeps", &Answer::Unauthorized, now);
        assert_eq!(
            (s.types["sleeps"].status, s.types["sleeps"].triggered_at),
            (TypeStatus::Pending, None)
        );
        assert_eq!(next_step(Answer::Unauthorized, false), Step::Unauthorized);

        let (mut s, run) = requested("sleeps");
        s.record(run, "sleeps", &Answer::Refused("HTTP 400".into()), now);
        assert_eq!(s.cell("sleeps", now, to), "failed");
        assert_eq!(s.cell("dailies", now, to), "pending", "only that type");
        assert_eq!(
            next_step(Answer::Refused("HTTP 400".into()), false),
            Step::Continue
        );

        // Transient failures: retried until the third attempt gives up.
        let (mut s, run) = requested("sleeps");
        let busy = Answer::Transient("HTTP 429".into());
        assert!(!s.record(run, "sleeps", &busy, now));
        assert_eq!(s.types["sleeps"].error.as_deref(), Some("HTTP 429"));
        assert_eq!(
            next_step(busy.clone(), false),
            Step::Retry("HTTP 429".into())
        );
        assert!(!s.record(run, "sleeps", &busy, now));
        assert!(s.record(run, "sleeps", &busy, now));
        assert_eq!(next_step(busy, true), Step::GiveUp("HTTP 429".into()));
    }

    #[test]
    fn the_timeout_setting_and_the_retry_types() {
        assert_eq!(timeout(None), Duration::seconds(DEFAULT_TIMEOUT_SECONDS));
        assert_eq!(timeout(Some(" 60 ")), Duration::seconds(60));
        for bad in ["0", "-5", "soon", ""] {
            assert_eq!(
                timeout(Some(bad)),
                Duration::seconds(DEFAULT_TIMEOUT_SECONDS)
            );
        }
        assert!(is_tracked_type("hrv") && is_tracked_type("activityDetails"));
        assert!(!is_tracked_type("epochs") && !is_tracked_type("HRV"));
    }
}

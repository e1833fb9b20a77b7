//! Sleep: SDK sleep segments → sessions (data-model §4.6), stage cleaning, adjacent-session merge
//! (§4.6 step 3 / §7.2, threshold 120 min) and the sleep-summary rules of §3.3.

use serde::{Deserialize, Serialize};

/// Stored sleep stage label (§2.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SleepStage {
    /// In bed (not necessarily asleep).
    InBed,
    /// Awake.
    Awake,
    /// Asleep, stage unspecified.
    Sleeping,
    /// Light / core sleep.
    Light,
    /// Deep sleep.
    Deep,
    /// REM sleep.
    Rem,
    /// Unknown stage (kept in the raw list, contributes nothing).
    Unknown,
}

impl SleepStage {
    /// Parses an SDK stage string (exact, case-sensitive).
    pub fn parse(s: &str) -> Option<SleepStage> {
        match s {
            "in_bed" => Some(Self::InBed),
            "awake" => Some(Self::Awake),
            "sleeping" => Some(Self::Sleeping),
            "light" => Some(Self::Light),
            "deep" => Some(Self::Deep),
            "rem" => Some(Self::Rem),
            "unknown" => Some(Self::Unknown),
            _ => None,
        }
    }

    /// Wire label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InBed => "in_bed",
            Self::Awake => "awake",
            Self::Sleeping => "sleeping",
            Self::Light => "light",
            Self::Deep => "deep",
            Self::Rem => "rem",
            Self::Unknown => "unknown",
        }
    }

    /// Stages that may open a new SDK session: in_bed, sleeping, light, deep, rem.
    pub fn is_start_state(self) -> bool {
        matches!(
            self,
            Self::InBed | Self::Sleeping | Self::Light | Self::Deep | Self::Rem
        )
    }

    /// Asleep stages: sleeping, light, deep, rem.
    pub fn is_asleep(self) -> bool {
        matches!(self, Self::Sleeping | Self::Light | Self::Deep | Self::Rem)
    }

    /// Detailed asleep stages: light, deep, rem.
    pub fn is_detailed(self) -> bool {
        matches!(self, Self::Light | Self::Deep | Self::Rem)
    }
}

use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

use super::numeric::{round_half_away_to, round_half_even_i64, round_half_even_to};
use super::sdk::SleepSegment;
use super::time::local_date;

/// Gap/adjacency threshold between sleep pieces of one session (`sleep_end_gap_minutes`, §4.6/§7.2).
pub const SLEEP_END_GAP_MINUTES: i64 = 120;

/// The gap threshold as a duration.
pub fn sleep_end_gap() -> Duration {
    Duration::minutes(SLEEP_END_GAP_MINUTES)
}

/// One stage interval (`{stage, start_time, end_time}` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageInterval {
    /// Stage label.
    pub stage: SleepStage,
    /// Start instant.
    #[serde(rename = "start_time")]
    pub start: DateTime<Utc>,
    /// End instant.
    #[serde(rename = "end_time")]
    pub end: DateTime<Utc>,
}

impl StageInterval {
    /// Length in microseconds (0 when inverted).
    pub fn micros(&self) -> i64 {
        (self.end - self.start)
            .num_microseconds()
            .unwrap_or(0)
            .max(0)
    }
}

/// Accumulated seconds per stage, kept in microseconds for exact flooring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StageTotals {
    /// In-bed µs.
    pub in_bed: i64,
    /// Awake µs.
    pub awake: i64,
    /// Unspecified-sleep µs.
    pub sleeping: i64,
    /// Light µs.
    pub light: i64,
    /// Deep µs.
    pub deep: i64,
    /// REM µs.
    pub rem: i64,
}

impl StageTotals {
    fn add(&mut self, stage: SleepStage, micros: i64) {
        match stage {
            SleepStage::InBed => self.in_bed += micros,
            SleepStage::Awake => self.awake += micros,
            SleepStage::Sleeping => self.sleeping += micros,
            SleepStage::Light => self.light += micros,
            SleepStage::Deep => self.deep += micros,
            SleepStage::Rem => self.rem += micros,
            SleepStage::Unknown => {}
        }
    }

    /// Net sleep: sleeping + light + deep + rem.
    pub fn total_sleep(&self) -> i64 {
        self.sleeping + self.light + self.deep + self.rem
    }
}

const MICROS_PER_MINUTE: i64 = 60_000_000;

fn floor_minutes(micros: i64) -> i64 {
    micros.div_euclid(MICROS_PER_MINUTE)
}

// ---------------------------------------------------------------------------------------------
// Stage cleaning (§4.6 finalisation step 1)
// ---------------------------------------------------------------------------------------------

/// Result of stage cleaning.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CleanedStages {
    /// Chronological, non-overlapping stage list.
    pub stages: Vec<StageInterval>,
    /// Per-stage totals of the cleaned list.
    pub totals: StageTotals,
    /// Union length of raw `in_bed` intervals if any, else the sum of the cleaned stages.
    pub in_bed_micros: i64,
}

/// Stage cleaning: detailed stages (light/deep/rem) suppress the `sleeping` wrapper and `in_bed`;
/// nights with no sleep stage at all count `in_bed` as `sleeping`; `unknown` is dropped; stages are
/// sorted, each clipped to start no earlier than the previous kept stage's end, and empty ones dropped.
pub fn clean_stages(raw: &[StageInterval]) -> CleanedStages {
    let has_detailed = raw.iter().any(|s| s.stage.is_detailed());
    let has_sleep = raw.iter().any(|s| s.stage.is_asleep());
    let mut kept: Vec<StageInterval> = raw
        .iter()
        .filter_map(|s| {
            let stage = match s.stage {
                SleepStage::InBed if !has_sleep => SleepStage::Sleeping,
                SleepStage::Unknown | SleepStage::InBed => return None,
                SleepStage::Sleeping if has_detailed => return None,
                other => other,
            };
            Some(StageInterval { stage, ..*s })
        })
        .collect();
    kept.sort_by_key(|s| s.start);
    let mut stages: Vec<StageInterval> = Vec::with_capacity(kept.len());
    let mut totals = StageTotals::default();
    for mut s in kept {
        if let Some(prev) = stages.last() {
            s.start = s.start.max(prev.end);
        }
        if s.end > s.start {
            totals.add(s.stage, s.micros());
            stages.push(s);
        }
    }
    let in_bed_union = union_micros(raw.iter().filter(|s| s.stage == SleepStage::InBed));
    let in_bed_micros = in_bed_union.unwrap_or(totals.awake + totals.total_sleep());
    CleanedStages {
        stages,
        totals,
        in_bed_micros,
    }
}

/// Length of the union of intervals; `None` when there are none.
fn union_micros<'a, I: Iterator<Item = &'a StageInterval>>(items: I) -> Option<i64> {
    let mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = items.map(|s| (s.start, s.end)).collect();
    if spans.is_empty() {
        return None;
    }
    spans.sort();
    let mut total = 0i64;
    let mut current: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    for (start, end) in spans {
        current = match current {
            Some((cs, ce)) if start <= ce => Some((cs, ce.max(end))),
            Some((cs, ce)) => {
                total += (ce - cs).num_microseconds().unwrap_or(0).max(0);
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some((cs, ce)) = current {
        total += (ce - cs).num_microseconds().unwrap_or(0).max(0);
    }
    Some(total)
}

// ---------------------------------------------------------------------------------------------
// SDK session state machine (§4.6)
// ---------------------------------------------------------------------------------------------

/// In-progress SDK sleep session of one user (the transient `sleep:active:{user}` item).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SleepState {
    /// Session id: first segment's id or a random UUID.
    pub uuid: String,
    /// Writer or `unknown`.
    pub source_name: String,
    /// Device model.
    pub device_model: Option<String>,
    /// Provider key.
    pub provider: String,
    /// First non-null zone offset seen.
    pub zone_offset: Option<String>,
    /// Window start.
    pub start_time: DateTime<Utc>,
    /// Window end.
    pub end_time: DateTime<Utc>,
    /// Start of the last appended segment.
    pub last_start: DateTime<Utc>,
    /// End of the last appended segment.
    pub last_end: DateTime<Utc>,
    /// Raw per-stage counters.
    pub totals: StageTotals,
    /// Raw stage list in arrival order.
    pub stages: Vec<StageInterval>,
}

impl SleepState {
    fn open(seg: &SleepSegment) -> SleepState {
        SleepState {
            uuid: seg
                .external_id
                .clone()
                .unwrap_or_else(|| Uuid::new_v4().to_string()),
            source_name: seg
                .source
                .source
                .clone()
                .unwrap_or_else(|| "unknown".to_owned()),
            device_model: seg.source.device_model.clone(),
            provider: seg.source.provider.as_str().to_owned(),
            zone_offset: seg.zone_offset.clone(),
            start_time: seg.start,
            end_time: seg.end,
            last_start: seg.start,
            last_end: seg.end,
            totals: StageTotals::default(),
            stages: Vec::new(),
        }
    }

    /// Gap between the window and a segment: 0 when overlapping/touching.
    pub fn gap_to(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Duration {
        if end < self.start_time {
            self.start_time - end
        } else if start > self.end_time {
            start - self.end_time
        } else {
            Duration::zero()
        }
    }

    fn append(&mut self, seg: &SleepSegment) {
        if self.zone_offset.is_none() {
            self.zone_offset = seg.zone_offset.clone();
        }
        let interval = StageInterval {
            stage: seg.stage,
            start: seg.start,
            end: seg.end,
        };
        self.totals.add(seg.stage, interval.micros());
        self.stages.push(interval);
        self.last_start = seg.start;
        self.last_end = seg.end;
        if seg.end > self.end_time {
            self.end_time = seg.end;
        } else if seg.start < self.start_time {
            self.start_time = seg.start;
        }
    }

    /// True when the session ended at least 120 minutes before `now` (finalise now / in the sweep).
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        now - self.end_time >= sleep_end_gap()
    }
}

/// Outcome of feeding one batch of segments into the state machine.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SleepBatchOutcome {
    /// State to save (TTL 24 h), or `None`.
    pub state: Option<SleepState>,
    /// States closed by the 120-minute gap rule, to finalise with [`finish_session`].
    pub closed: Vec<SleepState>,
}

/// De-duplicates segments on (start, end, stage, full source object) and sorts them by start.
pub fn dedup_and_sort_segments(segments: &[SleepSegment]) -> Vec<SleepSegment> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<SleepSegment> = segments
        .iter()
        .filter(|s| seen.insert((s.start, s.end, s.stage, s.source_fingerprint.clone())))
        .cloned()
        .collect();
    out.sort_by_key(|s| s.start);
    out
}

/// Feeds a batch of segments into the per-user state (§4.6 steps 3–4). Segments are de-duplicated
/// and sorted first. The caller then saves `state` and finalises it right away when
/// [`SleepState::is_stale`] holds.
pub fn apply_segments(state: Option<SleepState>, segments: &[SleepSegment]) -> SleepBatchOutcome {
    let mut current = state;
    let mut closed = Vec::new();
    for seg in dedup_and_sort_segments(segments) {
        let mut st = match current.take() {
            None if !seg.stage.is_start_state() => continue,
            None => SleepState::open(&seg),
            Some(st) if st.gap_to(seg.start, seg.end) > sleep_end_gap() => {
                closed.push(st);
                SleepState::open(&seg)
            }
            Some(st) => st,
        };
        st.append(&seg);
        current = Some(st);
    }
    SleepBatchOutcome {
        state: current,
        closed,
    }
}

// ---------------------------------------------------------------------------------------------
// Finalisation and adjacent merge
// ---------------------------------------------------------------------------------------------

/// SleepDetails derived from cleaned stages (§4.6 finalisation steps 4 and 6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SleepDetailsDraft {
    /// Net sleep minutes (floored).
    pub total_sleep_minutes: i64,
    /// Time in bed minutes (floored).
    pub time_in_bed_minutes: i64,
    /// Deep minutes.
    pub deep_minutes: i64,
    /// REM minutes.
    pub rem_minutes: i64,
    /// Light minutes.
    pub light_minutes: i64,
    /// Awake minutes.
    pub awake_minutes: i64,
    /// Efficiency percent, 2 decimals; `None` when time in bed is 0.
    pub efficiency: Option<f64>,
    /// Always false for SDK sessions.
    pub is_nap: bool,
    /// Cleaned stage list.
    pub stages: Vec<StageInterval>,
}

/// A finalised sleep session ready to be inserted (type `sleep_session`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SleepSessionDraft {
    /// Event `external_id` (the state uuid).
    pub external_id: String,
    /// `source_name` (writer or `unknown`).
    pub source_name: String,
    /// DataSource `source` (writer; `None` when unknown).
    pub source: Option<String>,
    /// Provider key.
    pub provider: String,
    /// Device model.
    pub device_model: Option<String>,
    /// Zone offset.
    pub zone_offset: Option<String>,
    /// Window start.
    pub start: DateTime<Utc>,
    /// Window end.
    pub end: DateTime<Utc>,
    /// `int(end − start)`.
    pub duration_seconds: i64,
    /// Details.
    pub details: SleepDetailsDraft,
}

fn details_from(cleaned: &CleanedStages) -> SleepDetailsDraft {
    let t = &cleaned.totals;
    let total = t.total_sleep();
    let in_bed = cleaned.in_bed_micros.max(total + t.awake);
    let efficiency =
        (in_bed > 0).then(|| round_half_away_to(total as f64 / in_bed as f64 * 100.0, 2));
    SleepDetailsDraft {
        total_sleep_minutes: floor_minutes(total),
        time_in_bed_minutes: floor_minutes(in_bed),
        deep_minutes: floor_minutes(t.deep),
        rem_minutes: floor_minutes(t.rem),
        light_minutes: floor_minutes(t.light),
        awake_minutes: floor_minutes(t.awake),
        efficiency,
        is_nap: false,
        stages: cleaned.stages.clone(),
    }
}

fn cleaned_window(cleaned: &CleanedStages) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    Some((cleaned.stages.first()?.start, cleaned.stages.last()?.end))
}

/// Finalises a state into a session (no adjacent session): stage cleaning, window = cleaned extent
/// (or the state window if nothing survived), metrics.
pub fn finish_session(state: &SleepState) -> SleepSessionDraft {
    let cleaned = clean_stages(&state.stages);
    let (start, end) = cleaned_window(&cleaned).unwrap_or((state.start_time, state.end_time));
    draft(state, start, end, &cleaned)
}

fn draft(
    state: &SleepState,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    cleaned: &CleanedStages,
) -> SleepSessionDraft {
    let source = (state.source_name != "unknown").then(|| state.source_name.clone());
    SleepSessionDraft {
        external_id: state.uuid.clone(),
        source_name: state.source_name.clone(),
        source,
        provider: state.provider.clone(),
        device_model: state.device_model.clone(),
        zone_offset: state.zone_offset.clone(),
        start,
        end,
        duration_seconds: (end - start).num_seconds(),
        details: details_from(cleaned),
    }
}

/// True when two windows overlap or are at most `threshold` apart.
pub fn is_adjacent(
    a: (DateTime<Utc>, DateTime<Utc>),
    b: (DateTime<Utc>, DateTime<Utc>),
    threshold: Duration,
) -> bool {
    a.0 <= b.1 + threshold && a.1 >= b.0 - threshold
}

/// An already-stored sleep session considered for the adjacent merge.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSleepWindow {
    /// Event id.
    pub id: Uuid,
    /// Start instant.
    pub start: DateTime<Utc>,
    /// End instant.
    pub end: DateTime<Utc>,
    /// Stored (cleaned) stage list.
    pub stages: Vec<StageInterval>,
}

/// Picks the adjacent stored session (overlapping or within 120 min of `window`), latest start wins.
/// Candidates must already be filtered on user, type `sleep_session`, provider and (when the writer is
/// not `unknown`) source.
pub fn find_adjacent(
    candidates: &[StoredSleepWindow],
    window: (DateTime<Utc>, DateTime<Utc>),
) -> Option<&StoredSleepWindow> {
    candidates
        .iter()
        .filter(|c| is_adjacent((c.start, c.end), window, sleep_end_gap()))
        .max_by_key(|c| c.start)
}

/// Finalises a state merged with an adjacent stored session (§4.6 finalisation step 3): stages are
/// re-cleaned together; the window is the union of both windows and the cleaned extent. The caller
/// deletes the stored session (`adjacent.id`) and inserts the returned draft.
pub fn finish_session_merged(
    state: &SleepState,
    adjacent: &StoredSleepWindow,
) -> SleepSessionDraft {
    let own = finish_session(state);
    let mut all = adjacent.stages.clone();
    all.extend(state.stages.iter().copied());
    let cleaned = clean_stages(&all);
    let mut start = own.start.min(adjacent.start);
    let mut end = own.end.max(adjacent.end);
    if let Some((cs, ce)) = cleaned_window(&cleaned) {
        start = start.min(cs);
        end = end.max(ce);
    }
    draft(state, start, end, &cleaned)
}

// ---------------------------------------------------------------------------------------------
// Sleep summary (§3.3)
// ---------------------------------------------------------------------------------------------

/// A stored sleep session joined with its (optional) details, as read by the sleep summary.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SleepSessionRow {
    /// Event id.
    pub id: Uuid,
    /// Start instant.
    pub start: DateTime<Utc>,
    /// End instant.
    pub end: DateTime<Utc>,
    /// Zone offset.
    pub zone_offset: Option<String>,
    /// Wall-clock duration.
    pub duration_seconds: Option<i64>,
    /// Net sleep minutes.
    pub total_sleep_minutes: Option<i64>,
    /// Time in bed minutes.
    pub time_in_bed_minutes: Option<i64>,
    /// Deep minutes.
    pub deep_minutes: Option<i64>,
    /// Light minutes.
    pub light_minutes: Option<i64>,
    /// REM minutes.
    pub rem_minutes: Option<i64>,
    /// Awake minutes.
    pub awake_minutes: Option<i64>,
    /// Efficiency percent.
    pub efficiency: Option<f64>,
    /// Nap flag (null = main sleep).
    pub is_nap: Option<bool>,
    /// Stage intervals.
    pub stages: Option<Vec<StageInterval>>,
}

impl SleepSessionRow {
    /// Main sleep ⇔ `coalesce(is_nap, false) = false`.
    pub fn is_main(&self) -> bool {
        !self.is_nap.unwrap_or(false)
    }

    /// Wake-up local date `date(end + offset)` — the summary's day key.
    pub fn wake_date(&self) -> NaiveDate {
        local_date(self.end, self.zone_offset.as_deref())
    }

    /// Per-session minutes: naps `floor(duration_seconds/60)`; main
    /// `floor(coalesce(total_sleep·60, duration_seconds, 0)/60)`.
    pub fn session_minutes(&self) -> i64 {
        if self.is_main() {
            self.main_seconds().div_euclid(60)
        } else {
            self.duration_seconds.unwrap_or(0).div_euclid(60)
        }
    }

    fn main_seconds(&self) -> i64 {
        self.total_sleep_minutes
            .map(|m| m * 60)
            .or(self.duration_seconds)
            .unwrap_or(0)
    }
}

/// One entry of the summary's `sessions` list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionBrief {
    /// Start.
    pub start_time: DateTime<Utc>,
    /// End.
    pub end_time: DateTime<Utc>,
    /// Offset.
    pub zone_offset: Option<String>,
    /// Minutes (see [`SleepSessionRow::session_minutes`]).
    pub duration_minutes: i64,
    /// Nap flag (null ⇒ false).
    pub is_nap: bool,
}

/// Stage minutes of the summary (object present when any field is non-null).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StageMinutes {
    /// Awake.
    pub awake_minutes: Option<i64>,
    /// Light.
    pub light_minutes: Option<i64>,
    /// Deep.
    pub deep_minutes: Option<i64>,
    /// REM.
    pub rem_minutes: Option<i64>,
}

/// Everything of a sleep-summary item that derives from the sessions of one (wake date, source) group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SleepGroupSummary {
    /// Wake date.
    pub date: NaiveDate,
    /// Representative record id (smallest id as text), for ordering/cursors.
    pub record_id: Option<Uuid>,
    /// Earliest main start (physiology window start).
    pub min_start_time: Option<DateTime<Utc>>,
    /// Latest main end (physiology window end, exclusive).
    pub max_end_time: Option<DateTime<Utc>>,
    /// Start of the longest main session (else `min_start_time`).
    pub start_time: Option<DateTime<Utc>>,
    /// End of the longest main session (else `max_end_time`).
    pub end_time: Option<DateTime<Utc>>,
    /// Offset of the longest main session.
    pub zone_offset: Option<String>,
    /// Main-sleep minutes (net sleep preferred).
    pub duration_minutes: i64,
    /// Main + nap minutes.
    pub total_duration_minutes: Option<i64>,
    /// Σ main time in bed.
    pub time_in_bed_minutes: Option<i64>,
    /// Duration-weighted main efficiency, clamped to 0–100.
    pub efficiency_percent: Option<f64>,
    /// Stage minutes.
    pub stages: Option<StageMinutes>,
    /// Awakenings inside the main sleep periods (see [`count_interruptions`]).
    pub interruptions_count: Option<i64>,
    /// Naps.
    pub nap_count: Option<i64>,
    /// Nap wall-clock minutes.
    pub nap_duration_minutes: i64,
    /// All sessions ordered by start (`None` when empty).
    pub sessions: Option<Vec<SessionBrief>>,
}

fn sum_opt<I: Iterator<Item = Option<i64>>>(values: I) -> Option<i64> {
    values
        .flatten()
        .fold(None, |acc, v| Some(acc.unwrap_or(0) + v))
}

/// Builds the group part of a sleep-summary item (§3.3) from the group's sessions. Physiology is
/// added with [`sleep_physiology`] over samples in `[min_start_time, max_end_time)`.
pub fn summarize_sleep_group(date: NaiveDate, rows: &[SleepSessionRow]) -> SleepGroupSummary {
    let mut sorted: Vec<&SleepSessionRow> = rows.iter().collect();
    sorted.sort_by_key(|r| r.start);
    let main: Vec<&SleepSessionRow> = sorted.iter().copied().filter(|r| r.is_main()).collect();
    let naps: Vec<&SleepSessionRow> = sorted
        .iter()
        .copied()
        .filter(|r| r.is_nap == Some(true))
        .collect();

    let min_start = main.iter().map(|r| r.start).min();
    let max_end = main.iter().map(|r| r.end).max();
    let duration_minutes = main
        .iter()
        .map(|r| r.main_seconds())
        .sum::<i64>()
        .div_euclid(60);
    let nap_duration_minutes = naps
        .iter()
        .filter_map(|r| r.duration_seconds)
        .sum::<i64>()
        .div_euclid(60);
    let nap_count = sorted
        .iter()
        .any(|r| r.is_nap.is_some())
        .then_some(naps.len() as i64);
    let longest = main
        .iter()
        .copied()
        .fold(None::<&SleepSessionRow>, |best, r| match best {
            Some(b) if b.session_minutes() >= r.session_minutes() => Some(b),
            _ => Some(r),
        });
    let stages = StageMinutes {
        awake_minutes: sum_opt(main.iter().map(|r| r.awake_minutes)),
        light_minutes: sum_opt(main.iter().map(|r| r.light_minutes)),
        deep_minutes: sum_opt(main.iter().map(|r| r.deep_minutes)),
        rem_minutes: sum_opt(main.iter().map(|r| r.rem_minutes)),
    };
    let any_stage = stages.awake_minutes.is_some()
        || stages.light_minutes.is_some()
        || stages.deep_minutes.is_some()
        || stages.rem_minutes.is_some();
    let sessions: Vec<SessionBrief> = sorted
        .iter()
        .map(|r| SessionBrief {
            start_time: r.start,
            end_time: r.end,
            zone_offset: r.zone_offset.clone(),
            duration_minutes: r.session_minutes(),
            is_nap: r.is_nap.unwrap_or(false),
        })
        .collect();
    SleepGroupSummary {
        date,
        record_id: rows.iter().map(|r| r.id).min_by_key(|id| id.to_string()),
        min_start_time: min_start,
        max_end_time: max_end,
        start_time: longest.map(|r| r.start).or(min_start),
        end_time: longest.map(|r| r.end).or(max_end),
        zone_offset: longest.and_then(|r| r.zone_offset.clone()),
        duration_minutes,
        total_duration_minutes: Some(duration_minutes + nap_duration_minutes),
        time_in_bed_minutes: sum_opt(main.iter().map(|r| r.time_in_bed_minutes)),
        efficiency_percent: weighted_efficiency(&main),
        stages: any_stage.then_some(stages),
        interruptions_count: count_interruptions(&main),
        nap_count,
        nap_duration_minutes,
        sessions: (!sessions.is_empty()).then_some(sessions),
    }
}

/// `Σ(efficiency·duration_seconds) / Σ_{efficiency not null}(duration_seconds)` over main sessions,
/// clamped to 0–100 (§9.2 #19); float noise removed at 10 decimals.
fn weighted_efficiency(main: &[&SleepSessionRow]) -> Option<f64> {
    let (mut num, mut den) = (0.0, 0i64);
    for r in main {
        if let (Some(e), Some(d)) = (r.efficiency, r.duration_seconds) {
            num += e * d as f64;
            den += d;
        }
    }
    (den != 0).then(|| round_half_even_to(num / den as f64, 10).clamp(0.0, 100.0))
}

/// Awake intervals strictly inside the sleep period: between the first and the last non-`awake`
/// stage (leading sleep latency and trailing lie-in excluded). Input need not be sorted.
pub fn sleep_period_awakenings(stages: &[StageInterval]) -> Vec<StageInterval> {
    let mut sorted = stages.to_vec();
    sorted.sort_by_key(|s| s.start);
    let first = sorted.iter().position(|s| s.stage != SleepStage::Awake);
    let last = sorted.iter().rposition(|s| s.stage != SleepStage::Awake);
    match (first, last) {
        (Some(f), Some(l)) => sorted
            .get(f..=l)
            .unwrap_or_default()
            .iter()
            .filter(|s| s.stage == SleepStage::Awake)
            .copied()
            .collect(),
        _ => Vec::new(),
    }
}

/// `interruptions_count` (filled where the data allows, README precedence rule 1): per main session
/// with stage intervals, the number of awakenings inside the sleep period, where touching/overlapping
/// consecutive `awake` intervals count as one awakening; summed over sessions. `None` when no main
/// session has stage intervals.
pub fn count_interruptions(main: &[&SleepSessionRow]) -> Option<i64> {
    let with_stages: Vec<&Vec<StageInterval>> = main
        .iter()
        .filter_map(|r| r.stages.as_ref())
        .filter(|s| !s.is_empty())
        .collect();
    if with_stages.is_empty() {
        return None;
    }
    let total = with_stages
        .iter()
        .map(|stages| {
            let awake = sleep_period_awakenings(stages);
            let mut count = 0i64;
            let mut prev_end: Option<DateTime<Utc>> = None;
            for a in awake {
                if prev_end.is_none_or(|e| a.start > e) {
                    count += 1;
                }
                prev_end = Some(prev_end.map_or(a.end, |e| e.max(a.end)));
            }
            count
        })
        .sum();
    Some(total)
}

/// Physiology averages of a sleep-summary item (samples of all sources in `[min_start, max_end)`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct SleepPhysiology {
    /// `int(round_half_even(mean HR))`.
    pub avg_heart_rate_bpm: Option<i64>,
    /// Mean SDNN (unrounded).
    pub avg_hrv_sdnn_ms: Option<f64>,
    /// Mean RMSSD (unrounded).
    pub avg_hrv_rmssd_ms: Option<f64>,
    /// Mean respiratory rate (unrounded).
    pub avg_respiratory_rate: Option<f64>,
    /// Mean SpO2 (unrounded).
    pub avg_spo2_percent: Option<f64>,
}

/// Computes the physiology block from the sample values inside the window.
pub fn sleep_physiology(
    hr: &[f64],
    sdnn: &[f64],
    rmssd: &[f64],
    resp: &[f64],
    spo2: &[f64],
) -> SleepPhysiology {
    use super::numeric::mean;
    SleepPhysiology {
        avg_heart_rate_bpm: mean(hr).map(round_half_even_i64),
        avg_hrv_sdnn_ms: mean(sdnn),
        avg_hrv_rmssd_ms: mean(rmssd),
        avg_respiratory_rate: mean(resp),
        avg_spo2_percent: mean(spo2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use helpers::*;

    mod helpers {
        use super::super::super::sdk::{SdkProvider, SleepSegment, SourceInfo};
        use super::*;

        pub fn t(s: &str) -> DateTime<Utc> {
            DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&Utc))
                .expect("test datetime")
        }

        /// `hh:mm` on 2025-03-01 (or 2025-03-02 when prefixed with `+`).
        pub fn at(hm: &str) -> DateTime<Utc> {
            match hm.strip_prefix('+') {
                Some(rest) => t(&format!("2025-03-02T{rest}:00Z")),
                None => t(&format!("2025-03-01T{hm}:00Z")),
            }
        }

        pub fn iv(stage: SleepStage, a: &str, b: &str) -> StageInterval {
            StageInterval {
                stage,
                start: at(a),
                end: at(b),
            }
        }

        pub fn seg(stage: SleepStage, a: &str, b: &str) -> SleepSegment {
            SleepSegment {
                external_id: Some(format!("{a}-{b}")),
                stage,
                start: at(a),
                end: at(b),
                zone_offset: Some("+01:00".to_owned()),
                source: SourceInfo {
                    provider: SdkProvider::Apple,
                    device_model: Some("Watch7,5".to_owned()),
                    software_version: None,
                    source: Some("Watch".to_owned()),
                    sdk_device_type: None,
                },
                source_fingerprint: "{}".to_owned(),
            }
        }
    }

    use SleepStage::*;

    #[test]
    fn cleaning_detailed_suppresses_wrapper_rule_8() {
        let raw = vec![
            iv(InBed, "22:00", "+06:00"),
            iv(Sleeping, "22:30", "+05:30"),
            iv(Light, "22:30", "23:30"),
            iv(Deep, "23:15", "+00:30"),
            iv(Awake, "+00:30", "+00:40"),
            iv(Rem, "+00:40", "+01:40"),
            iv(Unknown, "+01:40", "+02:00"),
        ];
        let c = clean_stages(&raw);
        let got: Vec<(SleepStage, i64)> = c
            .stages
            .iter()
            .map(|s| (s.stage, s.micros() / 60_000_000))
            .collect();
        // Deep clipped to start at 23:30 (end of light).
        assert_eq!(got, vec![(Light, 60), (Deep, 60), (Awake, 10), (Rem, 60)]);
        assert_eq!(c.in_bed_micros, 8 * 60 * MICROS_PER_MINUTE);
        let d = details_from(&c);
        assert_eq!(d.total_sleep_minutes, 180);
        assert_eq!(d.time_in_bed_minutes, 480);
        assert_eq!(d.efficiency, Some(37.5));
        assert!(!d.is_nap);
    }

    #[test]
    fn cleaning_in_bed_only_counts_as_sleep() {
        let raw = vec![iv(InBed, "23:00", "+07:00"), iv(Awake, "+02:00", "+02:20")];
        let c = clean_stages(&raw);
        let got: Vec<SleepStage> = c.stages.iter().map(|s| s.stage).collect();
        // Awake is clipped to start after the in-bed→sleeping block and becomes empty.
        assert_eq!(got, vec![Sleeping]);
        let d = details_from(&c);
        assert_eq!(d.total_sleep_minutes, 480);
        assert_eq!(d.time_in_bed_minutes, 480);
        assert_eq!(d.efficiency, Some(100.0));
    }

    #[test]
    fn time_in_bed_is_max_of_union_and_sleep_plus_awake() {
        let raw = vec![
            iv(InBed, "23:00", "23:30"),
            iv(Sleeping, "23:30", "+01:30"),
            iv(Awake, "+01:30", "+01:45"),
        ];
        let d = details_from(&clean_stages(&raw));
        assert_eq!(
            (
                d.total_sleep_minutes,
                d.awake_minutes,
                d.time_in_bed_minutes
            ),
            (120, 15, 135)
        );
        assert_eq!(d.efficiency, Some(88.89));
    }

    #[test]
    fn state_machine_gap_rule() {
        let segs = vec![
            seg(Awake, "21:00", "21:10"), // no state yet and not a start state → skipped
            seg(Light, "23:00", "+01:00"),
            seg(Deep, "+01:00", "+02:00"),
            seg(Light, "+02:00", "+02:00"),
            seg(Awake, "+04:30", "+04:40"), // 150 min after 02:00 → closes, opens a new state
        ];
        let out = apply_segments(None, &segs);
        assert_eq!(out.closed.len(), 1);
        let first = &out.closed[0];
        assert_eq!(
            (first.start_time, first.end_time),
            (at("23:00"), at("+02:00"))
        );
        assert_eq!(first.stages.len(), 3);
        assert_eq!(first.uuid, "23:00-+01:00");
        assert_eq!(first.zone_offset.as_deref(), Some("+01:00"));
        let open = out.state.as_ref().expect("open state");
        assert_eq!(open.start_time, at("+04:30"));
        assert!(open.is_stale(at("+06:40")));
        assert!(!open.is_stale(at("+06:39")));
        let s = finish_session(first);
        assert_eq!(
            (s.start, s.end, s.duration_seconds),
            (at("23:00"), at("+02:00"), 10_800)
        );
        assert_eq!(s.details.total_sleep_minutes, 180);
        assert_eq!(s.source.as_deref(), Some("Watch"));
    }

    #[test]
    fn gap_exactly_120_minutes_stays_in_session() {
        let segs = vec![
            seg(Light, "23:00", "+01:00"),
            seg(Light, "+03:00", "+03:30"),
        ];
        let out = apply_segments(None, &segs);
        assert!(out.closed.is_empty());
        let st = out.state.expect("state");
        assert_eq!((st.start_time, st.end_time), (at("23:00"), at("+03:30")));
    }

    #[test]
    fn window_extends_one_side_and_dedups() {
        let segs = vec![
            seg(Light, "23:00", "+01:00"),
            seg(Light, "23:00", "+01:00"),
            seg(Rem, "22:00", "23:30"),
        ];
        let out = apply_segments(None, &segs);
        let st = out.state.expect("state");
        assert_eq!(st.stages.len(), 2);
        assert_eq!((st.start_time, st.end_time), (at("22:00"), at("+01:00")));
    }

    #[test]
    fn merge_with_adjacent_is_idempotent_in_content() {
        let segs = vec![seg(Light, "23:00", "+01:00"), seg(Deep, "+01:00", "+02:00")];
        let st = apply_segments(None, &segs).state.expect("state");
        let first = finish_session(&st);
        let stored = StoredSleepWindow {
            id: Uuid::nil(),
            start: first.start,
            end: first.end,
            stages: first.details.stages.clone(),
        };
        let found = find_adjacent(std::slice::from_ref(&stored), (st.start_time, st.end_time))
            .expect("adjacent");
        let merged = finish_session_merged(&st, found);
        assert_eq!((merged.start, merged.end), (first.start, first.end));
        assert_eq!(merged.details, first.details);
        let far = (at("+05:00"), at("+06:00"));
        assert!(find_adjacent(&[stored], far).is_none());
    }

    fn row(id: u128, start: &str, end: &str, nap: Option<bool>) -> SleepSessionRow {
        let (s, e) = (at(start), at(end));
        SleepSessionRow {
            id: Uuid::from_u128(id),
            start: s,
            end: e,
            duration_seconds: Some((e - s).num_seconds()),
            is_nap: nap,
            ..SleepSessionRow::default()
        }
    }

    #[test]
    fn summary_rules_rule_6() {
        let mut a = row(2, "22:00", "+06:00", None); // 480 min wall clock
        a.total_sleep_minutes = Some(420);
        a.efficiency = Some(90.0);
        a.deep_minutes = Some(60);
        a.time_in_bed_minutes = Some(480);
        a.zone_offset = Some("+01:00".to_owned());
        let mut b = row(1, "+06:30", "+07:30", Some(false)); // 60 min, no details
        b.efficiency = Some(80.0);
        let nap = row(3, "+14:00", "+14:45", Some(true));
        let g = summarize_sleep_group(a.wake_date(), &[nap.clone(), b.clone(), a.clone()]);
        assert_eq!(g.date.to_string(), "2025-03-02");
        assert_eq!(g.duration_minutes, 480);
        assert_eq!(g.nap_count, Some(1));
        assert_eq!(g.nap_duration_minutes, 45);
        assert_eq!(g.total_duration_minutes, Some(525));
        assert_eq!(g.time_in_bed_minutes, Some(480));
        // (90·28800 + 80·3600) / 32400 = 88.888…
        assert_eq!(
            g.efficiency_percent.map(|e| (e * 1000.0).round()),
            Some(88_889.0)
        );
        assert_eq!((g.start_time, g.end_time), (Some(a.start), Some(a.end)));
        assert_eq!(g.zone_offset.as_deref(), Some("+01:00"));
        assert_eq!(
            (g.min_start_time, g.max_end_time),
            (Some(a.start), Some(b.end))
        );
        let st = g.stages.expect("stages");
        assert_eq!((st.deep_minutes, st.rem_minutes), (Some(60), None));
        assert_eq!(g.record_id, Some(Uuid::from_u128(1)));
        let sessions = g.sessions.expect("sessions");
        assert_eq!(
            sessions
                .iter()
                .map(|s| s.duration_minutes)
                .collect::<Vec<_>>(),
            vec![420, 60, 45]
        );
        assert_eq!(g.interruptions_count, None);
    }

    #[test]
    fn summary_only_naps() {
        let nap = row(3, "14:00", "14:45", Some(true));
        let g = summarize_sleep_group(nap.wake_date(), &[nap]);
        assert_eq!(g.duration_minutes, 0);
        assert_eq!(g.total_duration_minutes, Some(45));
        assert_eq!(
            (g.start_time, g.end_time, g.zone_offset),
            (None, None, None)
        );
        assert_eq!(g.efficiency_percent, None);
        assert_eq!(g.stages, None);
        let plain = row(4, "22:00", "23:00", None);
        assert_eq!(
            summarize_sleep_group(plain.wake_date(), &[plain]).nap_count,
            None
        );
    }

    #[test]
    fn interruptions_and_awakenings() {
        let mut r = row(1, "22:00", "+06:00", None);
        r.stages = Some(vec![
            iv(Awake, "22:00", "22:20"),
            iv(Light, "22:20", "23:00"),
            iv(Awake, "23:00", "23:03"),
            iv(Awake, "23:03", "23:10"),
            iv(Deep, "23:10", "+01:00"),
            iv(Awake, "+01:00", "+01:20"),
            iv(Rem, "+01:20", "+05:30"),
            iv(Awake, "+05:30", "+06:00"),
        ]);
        assert_eq!(
            sleep_period_awakenings(r.stages.as_deref().unwrap_or_default()).len(),
            3
        );
        assert_eq!(count_interruptions(&[&r]), Some(2));
    }

    #[test]
    fn physiology_rounding() {
        let p = sleep_physiology(&[60.0, 61.0], &[], &[40.0, 45.0], &[], &[97.0]);
        assert_eq!(p.avg_heart_rate_bpm, Some(60));
        let p2 = sleep_physiology(&[61.0, 62.0], &[], &[], &[], &[]);
        assert_eq!(p2.avg_heart_rate_bpm, Some(62));
        assert_eq!(p.avg_hrv_rmssd_ms, Some(42.5));
        assert_eq!(p.avg_hrv_sdnn_ms, None);
    }
}

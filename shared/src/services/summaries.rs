//! Summary use cases: the best source per day by the configured priorities; the daily
//! activity assembled from the roll-ups and the day's workouts, the nightly sleep from the
//! sessions and the vitals recorded while asleep, the daily recovery from recovery scores, and
//! the body snapshot from the latest and averaged body series.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

use super::shift;
use crate::app::AppState;
use crate::domain::numeric::{round_half_even_i64, round_half_even_to};
use crate::domain::series::SeriesType;
use crate::domain::sleep::{SleepGroupSummary, SleepSessionRow, summarize_sleep_group};
use crate::domain::summary::{
    ActivityValues, DeviceType, PriorityKey, RecoveryValues, assemble_activity, bmi_from,
    infer_device_type, recovery_values, select_best,
};
use crate::domain::time::{local_date, start_of_utc_day};
use crate::error::ApiResult;
use crate::repo::health::{DataSource, EventDetails};
use crate::repo::priorities::Priorities;

/// Ranking key (flavour A): provider priority, device-type priority inferred from the model,
/// device model.
pub fn priority_key(pr: &Priorities, ds: Option<&DataSource>) -> PriorityKey {
    let model = ds.and_then(|d| d.device_model.clone()).unwrap_or_default();
    let device = if model.is_empty() {
        99
    } else {
        pr.device(infer_device_type(Some(&model)))
    };
    let provider = ds.map_or(99, |d| pr.provider(&d.provider));
    PriorityKey {
        provider_priority: provider,
        device_priority: device,
        device_model: model,
    }
}

/// Ranking key from the stored device type (flavour B), inferred when absent.
pub fn stored_priority_key(pr: &Priorities, ds: Option<&DataSource>) -> PriorityKey {
    let stored = ds
        .and_then(|d| d.device_type.as_deref())
        .and_then(DeviceType::parse);
    let mut key = priority_key(pr, ds);
    if let Some(d) = stored {
        key.device_priority = pr.device(d);
    }
    key
}

/// One local day's activity from its best source.
#[derive(Debug, Clone)]
pub struct ActivityDay {
    pub date: NaiveDate,
    pub data_source_id: Uuid,
    pub values: ActivityValues,
}

/// The user's daily activity in `[from, to]`, in date order, with the user's data sources.
pub async fn activity(
    state: &AppState,
    user: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> ApiResult<(Vec<ActivityDay>, HashMap<Uuid, DataSource>)> {
    let sources = state.db.data_source_map(user).await?;
    let prio = state.db.priorities().await?;
    let rollups = state.db.rollups(user, from, to).await?;
    let mut by_date: BTreeMap<NaiveDate, Vec<_>> = BTreeMap::new();
    for r in rollups {
        by_date.entry(r.date).or_default().push(r);
    }
    let winners: Vec<_> = by_date
        .into_values()
        .filter_map(|c| select_best(c, |r| priority_key(&prio, sources.get(&r.data_source_id))))
        .collect();
    // Workout elevation per (local end date, source).
    let mut elevation: HashMap<(NaiveDate, Uuid), f64> = HashMap::new();
    if !winners.is_empty() {
        let workouts = state
            .db
            .events(
                user,
                "workout",
                Some(shift(start_of_utc_day(from), -Duration::days(2))?),
                Some(shift(start_of_utc_day(to), Duration::days(1))?),
            )
            .await?;
        for w in workouts {
            if let Some(EventDetails::Workout(d)) = &w.details
                && let Some(g) = d.total_elevation_gain
            {
                *elevation
                    .entry((
                        local_date(w.end, w.zone_offset.as_deref()),
                        w.data_source_id,
                    ))
                    .or_default() += g;
            }
        }
    }
    let days = winners
        .iter()
        .map(|r| ActivityDay {
            date: r.date,
            data_source_id: r.data_source_id,
            values: assemble_activity(
                &r.day,
                elevation.get(&(r.date, r.data_source_id)).copied(),
                r.step_minutes,
                r.intensity,
            ),
        })
        .collect();
    Ok((days, sources))
}

/// Mean of one series over `[from, to)`, all sources pooled.
async fn window_mean(
    state: &AppState,
    user: Uuid,
    series: SeriesType,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ApiResult<Option<f64>> {
    if to <= from {
        return Ok(None);
    }
    let (a, b) = (from.timestamp_micros(), to.timestamp_micros());
    let (mut sum, mut n) = (0.0, 0usize);
    for c in state
        .db
        .chunks(user, series, from, shift(to, -Duration::microseconds(1))?)
        .await?
    {
        for p in c.points.iter().filter(|p| p.t >= a && p.t < b) {
            sum += p.value();
            n += 1;
        }
    }
    Ok((n > 0).then(|| sum / n as f64))
}

/// Vitals averaged over a night (from the first session's start to the last one's end).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SleepVitals {
    pub avg_heart_rate_bpm: Option<i64>,
    pub avg_hrv_sdnn_ms: Option<f64>,
    pub avg_hrv_rmssd_ms: Option<f64>,
    pub avg_respiratory_rate: Option<f64>,
    pub avg_spo2_percent: Option<f64>,
}

/// One wake-up date's sleep from its best source.
#[derive(Debug, Clone)]
pub struct SleepDay {
    pub data_source_id: Uuid,
    pub group: SleepGroupSummary,
    pub vitals: SleepVitals,
}

/// The user's sleep per wake-up date in `[from, to)`, in date order (one item per date: the
/// best source's sessions of that date), with the user's data sources.
pub async fn sleep(
    state: &AppState,
    user: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> ApiResult<(Vec<SleepDay>, HashMap<Uuid, DataSource>)> {
    let sources = state.db.data_source_map(user).await?;
    let prio = state.db.priorities().await?;
    let events = state
        .db
        .events(
            user,
            "sleep",
            Some(shift(start_of_utc_day(from), -Duration::days(3))?),
            Some(shift(start_of_utc_day(to), Duration::days(1))?),
        )
        .await?;
    let mut groups: BTreeMap<(NaiveDate, Uuid), Vec<SleepSessionRow>> = BTreeMap::new();
    for e in events {
        let date = local_date(e.end, e.zone_offset.as_deref());
        if date < from || date >= to {
            continue;
        }
        let d = match &e.details {
            Some(EventDetails::Sleep(d)) => Some(d),
            _ => None,
        };
        groups
            .entry((date, e.data_source_id))
            .or_default()
            .push(SleepSessionRow {
                id: e.id,
                start: e.start,
                end: e.end,
                zone_offset: e.zone_offset.clone(),
                duration_seconds: e.duration_seconds,
                total_sleep_minutes: d.map(|d| d.total_sleep_minutes),
                time_in_bed_minutes: d.map(|d| d.time_in_bed_minutes),
                deep_minutes: d.map(|d| d.deep_minutes),
                light_minutes: d.map(|d| d.light_minutes),
                rem_minutes: d.map(|d| d.rem_minutes),
                awake_minutes: d.map(|d| d.awake_minutes),
                efficiency: d.and_then(|d| d.efficiency),
                is_nap: d.map(|d| d.is_nap),
                stages: d.map(|d| d.stages.clone()),
            });
    }
    let mut by_date: BTreeMap<NaiveDate, Vec<(Uuid, Vec<SleepSessionRow>)>> = BTreeMap::new();
    for ((date, ds), rows) in groups {
        by_date.entry(date).or_default().push((ds, rows));
    }
    let mut days = Vec::new();
    for (date, candidates) in by_date {
        let Some((ds, rows)) =
            select_best(candidates, |(ds, _)| priority_key(&prio, sources.get(ds)))
        else {
            continue;
        };
        let group = summarize_sleep_group(date, &rows);
        let mut vitals = SleepVitals::default();
        if let (Some(a), Some(b)) = (group.min_start_time, group.max_end_time) {
            vitals.avg_heart_rate_bpm = window_mean(state, user, SeriesType::HeartRate, a, b)
                .await?
                .map(round_half_even_i64);
            vitals.avg_hrv_sdnn_ms =
                window_mean(state, user, SeriesType::HeartRateVariabilitySdnn, a, b).await?;
            vitals.avg_hrv_rmssd_ms =
                window_mean(state, user, SeriesType::HeartRateVariabilityRmssd, a, b).await?;
            vitals.avg_respiratory_rate =
                window_mean(state, user, SeriesType::RespiratoryRate, a, b).await?;
            vitals.avg_spo2_percent =
                window_mean(state, user, SeriesType::OxygenSaturation, a, b).await?;
        }
        days.push(SleepDay {
            data_source_id: ds,
            group,
            vitals,
        });
    }
    Ok((days, sources))
}

/// One UTC date's recovery from its best recovery score.
#[derive(Debug, Clone)]
pub struct RecoveryDay {
    pub date: NaiveDate,
    /// The score's provider (it names the source, whatever its data source says).
    pub provider: String,
    pub data_source_id: Option<Uuid>,
    pub values: RecoveryValues,
    /// The chosen score's time and id (the cursor key).
    pub recorded_at: DateTime<Utc>,
    pub score_id: Uuid,
}

/// The user's recovery per UTC date of the scores recorded in `[start, end]`, in date order,
/// with the user's data sources.
pub async fn recovery(
    state: &AppState,
    user: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> ApiResult<(Vec<RecoveryDay>, HashMap<Uuid, DataSource>)> {
    let sources = state.db.data_source_map(user).await?;
    let prio = state.db.priorities().await?;
    let mut scores = state.db.health_scores(user, Some(start), Some(end)).await?;
    scores.retain(|s| s.category == "recovery");
    scores.sort_by_key(|s| (s.recorded_at, s.id));
    let mut by_date: BTreeMap<NaiveDate, Vec<_>> = BTreeMap::new();
    for s in scores {
        by_date
            .entry(s.recorded_at.date_naive())
            .or_default()
            .push(s);
    }
    let days = by_date
        .into_iter()
        .filter_map(|(date, c)| {
            let best = select_best(c, |s| {
                let mut k = priority_key(&prio, s.data_source_id.and_then(|d| sources.get(&d)));
                k.provider_priority = prio.provider(&s.provider);
                k
            })?;
            Some(RecoveryDay {
                date,
                values: recovery_values(best.value, best.components.as_ref()),
                provider: best.provider,
                data_source_id: best.data_source_id,
                recorded_at: best.recorded_at,
                score_id: best.id,
            })
        })
        .collect();
    Ok((days, sources))
}

/// The latest sample of a series in `[after, not_after]` (any source): its time, value and
/// data source.
async fn latest(
    state: &AppState,
    user: Uuid,
    series: SeriesType,
    not_after: DateTime<Utc>,
    after: Option<DateTime<Utc>>,
) -> ApiResult<Option<(DateTime<Utc>, f64, Uuid)>> {
    let from = after.unwrap_or_else(|| DateTime::from_timestamp(0, 0).unwrap_or_default());
    let chunks = state.db.chunks(user, series, from, not_after).await?;
    let (lo, hi) = (from.timestamp_micros(), not_after.timestamp_micros());
    let mut best: Option<(i64, f64, Uuid)> = None;
    for c in &chunks {
        for p in c.points.iter().filter(|p| p.t >= lo && p.t <= hi) {
            if best.is_none_or(|(t, _, _)| p.t > t) {
                best = Some((p.t, p.value(), c.data_source_id));
            }
        }
    }
    Ok(best.and_then(|(t, v, ds)| DateTime::from_timestamp_micros(t).map(|t| (t, v, ds))))
}

fn truthy(v: Option<f64>) -> bool {
    v.is_some_and(|x| x != 0.0)
}

/// A measured value and when it was measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    pub value: f64,
    pub at: DateTime<Utc>,
}

/// A blood pressure reading: systolic and diastolic samples within five seconds of each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BloodPressure {
    pub systolic_mmhg: i64,
    pub diastolic_mmhg: i64,
    /// The later of the two samples.
    pub measured_at: DateTime<Utc>,
}

/// The body snapshot (api.md §13): slow-changing values (latest ever), vitals averaged over
/// the period, and readings of the recent window.
#[derive(Debug, Clone, PartialEq)]
pub struct BodySnapshot {
    /// The source of the newest slow-changing value.
    pub source: Option<DataSource>,
    pub weight_kg: Option<f64>,
    pub height_cm: Option<f64>,
    pub body_fat_percent: Option<f64>,
    pub muscle_mass_kg: Option<f64>,
    /// Stored, else computed from weight and height.
    pub bmi: Option<f64>,
    pub period_days: i64,
    /// Rounded; `None` when it rounds to 0.
    pub resting_heart_rate_bpm: Option<i64>,
    /// Rounded to one decimal.
    pub avg_hrv_sdnn_ms: Option<f64>,
    pub avg_hrv_rmssd_ms: Option<f64>,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub body_temperature: Option<Measured>,
    pub skin_temperature: Option<Measured>,
    pub blood_pressure: Option<BloodPressure>,
}

/// The user's body snapshot now: averages over the last `period_days`, readings of the last
/// `window_hours`; `None` when the user has no body data.
pub async fn body(
    state: &AppState,
    user: Uuid,
    period_days: i64,
    window_hours: i64,
) -> ApiResult<Option<BodySnapshot>> {
    let now = state.now();
    let before = now - Duration::microseconds(1);
    let sources = state.db.data_source_map(user).await?;
    let slow = [
        SeriesType::Weight,
        SeriesType::Height,
        SeriesType::BodyFatPercentage,
        SeriesType::LeanBodyMass,
        SeriesType::BodyMassIndex,
    ];
    let mut slow_vals = Vec::new();
    for s in slow {
        slow_vals.push(latest(state, user, s, before, None).await?);
    }
    let v = |i: usize| slow_vals[i].map(|x| x.1);
    let bmi = v(4).or_else(|| bmi_from(v(0), v(1)));
    let newest =
        slow_vals
            .iter()
            .flatten()
            .fold(None::<&(DateTime<Utc>, f64, Uuid)>, |b, x| match b {
                Some(b) if b.0 >= x.0 => Some(b),
                _ => Some(x),
            });
    let period_start = now - Duration::days(period_days);
    let mean = |series| window_mean(state, user, series, period_start, now);
    let rhr = mean(SeriesType::RestingHeartRate).await?;
    let sdnn = mean(SeriesType::HeartRateVariabilitySdnn).await?;
    let rmssd = mean(SeriesType::HeartRateVariabilityRmssd).await?;
    let win_start = Some(now - Duration::hours(window_hours));
    let recent = |series| latest(state, user, series, now, win_start);
    let temp = recent(SeriesType::BodyTemperature).await?;
    let skin = recent(SeriesType::SkinTemperature).await?;
    let sys = recent(SeriesType::BloodPressureSystolic).await?;
    let dia = recent(SeriesType::BloodPressureDiastolic).await?;
    let bp = match (sys, dia) {
        (Some(s), Some(d)) if (s.0 - d.0).num_milliseconds().abs() <= 5000 => Some((s, d)),
        _ => None,
    };
    let present = [v(0), v(1), v(2), v(3)].into_iter().any(truthy)
        || [rhr.filter(|x| round_half_even_i64(*x) != 0), sdnn, rmssd]
            .into_iter()
            .any(truthy)
        || truthy(temp.map(|t| t.1))
        || truthy(skin.map(|t| t.1))
        || bp.is_some();
    if !present {
        return Ok(None);
    }
    let measured =
        |m: Option<(DateTime<Utc>, f64, Uuid)>| m.map(|(at, value, _)| Measured { value, at });
    Ok(Some(BodySnapshot {
        source: newest.and_then(|n| sources.get(&n.2)).cloned(),
        weight_kg: v(0),
        height_cm: v(1),
        body_fat_percent: v(2),
        muscle_mass_kg: v(3),
        bmi,
        period_days,
        resting_heart_rate_bpm: rhr.map(round_half_even_i64).filter(|x| *x != 0),
        avg_hrv_sdnn_ms: sdnn.map(|x| round_half_even_to(x, 1)),
        avg_hrv_rmssd_ms: rmssd.map(|x| round_half_even_to(x, 1)),
        period_start,
        period_end: now,
        body_temperature: measured(temp),
        skin_temperature: measured(skin),
        blood_pressure: bp.map(|(s, d)| BloodPressure {
            systolic_mmhg: round_half_even_i64(s.1),
            diastolic_mmhg: round_half_even_i64(d.1),
            measured_at: s.0.max(d.0),
        }),
    }))
}

// ---------------------------------------------------------------------------------------------
// Data counts (`summaries/data`)
// ---------------------------------------------------------------------------------------------

/// What one provider contributed to a user's data.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ProviderCounts {
    pub data_points: u64,
    pub series: BTreeMap<String, u64>,
    pub workouts: u64,
    pub sleeps: u64,
}

/// Counts of what has been stored for a user in `[start, end)` (unbounded sides: every
/// storable instant).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DataCounts {
    /// Samples per series type code.
    pub series: BTreeMap<String, u64>,
    pub workout_types: BTreeMap<String, u64>,
    pub total_workouts: u64,
    pub total_sleep_events: u64,
    /// Providers by total contribution (samples + workouts + sleeps), largest first, ties by name.
    pub by_provider: Vec<(String, ProviderCounts)>,
    pub has_womens_health_data: bool,
}

impl DataCounts {
    pub fn total_data_points(&self) -> u64 {
        self.series.values().sum()
    }
}

/// A count map as the wire orders it: largest count first, ties by key.
pub fn by_count(m: &BTreeMap<String, u64>) -> Vec<(&str, u64)> {
    let mut v: Vec<(&str, u64)> = m.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v
}

/// Counts samples (per series and provider), workouts (per type and provider), sleeps and
/// whether any menstrual-cycle record exists, for events starting and samples taken inside
/// `[start, end)`.
pub async fn data_counts(
    state: &AppState,
    user: Uuid,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
) -> ApiResult<DataCounts> {
    use crate::domain::time::{MAX_YEAR, MIN_YEAR};
    let year_start =
        |y: i32| NaiveDate::from_ymd_opt(y, 1, 1).map_or_else(DateTime::default, start_of_utc_day);
    let lo = start.unwrap_or_else(|| year_start(MIN_YEAR));
    let hi = end.unwrap_or_else(|| year_start(MAX_YEAR + 1));
    let inside = |t: DateTime<Utc>| start.is_none_or(|s| t >= s) && end.is_none_or(|e| t < e);
    let sources = state.db.data_source_map(user).await?;
    let provider_of = |ds: &Uuid| {
        sources
            .get(ds)
            .map_or_else(|| "unknown".to_string(), |d| d.provider.clone())
    };
    let mut out = DataCounts::default();
    let mut providers: BTreeMap<String, ProviderCounts> = BTreeMap::new();
    let (a, b) = (lo.timestamp_micros(), hi.timestamp_micros());
    for code in state.db.series_index(user).await? {
        let Some(series) = SeriesType::from_code(&code) else {
            continue;
        };
        for c in state.db.chunks(user, series, lo, hi).await? {
            let n = c.points.iter().filter(|p| p.t >= a && p.t < b).count() as u64;
            if n == 0 {
                continue;
            }
            *out.series.entry(code.clone()).or_default() += n;
            let pc = providers.entry(provider_of(&c.data_source_id)).or_default();
            pc.data_points += n;
            *pc.series.entry(code.clone()).or_default() += n;
        }
    }
    for w in state.db.events(user, "workout", start, end).await? {
        if !inside(w.start) {
            continue;
        }
        out.total_workouts += 1;
        *out.workout_types
            .entry(w.event_type.clone().unwrap_or_else(|| "unknown".into()))
            .or_default() += 1;
        providers
            .entry(provider_of(&w.data_source_id))
            .or_default()
            .workouts += 1;
    }
    for s in state.db.events(user, "sleep", start, end).await? {
        if !inside(s.start) {
            continue;
        }
        out.total_sleep_events += 1;
        providers
            .entry(provider_of(&s.data_source_id))
            .or_default()
            .sleeps += 1;
    }
    out.has_womens_health_data = state
        .db
        .events(user, "menstrual_cycle", start, end)
        .await?
        .iter()
        .any(|e| inside(e.start));
    let mut by_provider: Vec<(String, ProviderCounts)> = providers.into_iter().collect();
    by_provider.sort_by(|x, y| {
        let t = |c: &ProviderCounts| c.data_points + c.workouts + c.sleeps;
        t(&y.1).cmp(&t(&x.1)).then(x.0.cmp(&y.0))
    });
    out.by_provider = by_provider;
    Ok(out)
}

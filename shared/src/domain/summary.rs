//! Daily summary rules: activity roll-up (data-model §3.2), priority selection (§3.0), device-type
//! inference (§2.6), recovery (§3.4) and body (§3.5).
//!
//! Callers group rows per data source (provider, source, device model) before calling the per-group
//! functions here; all functions are pure.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::numeric::{
    mean, round_half_away_to, round_half_even_i64, round_half_even_to, trunc_i64,
};
use super::series::{SeriesType, prefer_daily_sum};
use super::time::local_date;

// ---------------------------------------------------------------------------------------------
// Device types and priority selection (§2.6, §3.0)
// ---------------------------------------------------------------------------------------------

/// Device type (§2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceType {
    /// Watch.
    Watch,
    /// Band.
    Band,
    /// Phone.
    Phone,
    /// Scale.
    Scale,
    /// Ring.
    Ring,
    /// Other.
    Other,
    /// Unknown (stored as null).
    Unknown,
}

impl DeviceType {
    /// Every value, in declaration order.
    pub const ALL: [DeviceType; 7] = [
        DeviceType::Watch,
        DeviceType::Band,
        DeviceType::Phone,
        DeviceType::Scale,
        DeviceType::Ring,
        DeviceType::Other,
        DeviceType::Unknown,
    ];

    /// Parses a stored value.
    pub fn parse(s: &str) -> Option<DeviceType> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// Default priority (lower = preferred): watch 1, band 2, ring 3, phone 4, scale 5, other 6, unknown 99.
    pub fn default_priority(self) -> u32 {
        match self {
            Self::Watch => 1,
            Self::Band => 2,
            Self::Ring => 3,
            Self::Phone => 4,
            Self::Scale => 5,
            Self::Other => 6,
            Self::Unknown => 99,
        }
    }

    /// Wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Watch => "watch",
            Self::Band => "band",
            Self::Phone => "phone",
            Self::Scale => "scale",
            Self::Ring => "ring",
            Self::Other => "other",
            Self::Unknown => "unknown",
        }
    }

    /// Stored value: `unknown` is stored as null.
    pub fn stored(self) -> Option<DeviceType> {
        (self != Self::Unknown).then_some(self)
    }
}

/// Infers the device type from a device model string (§2.6, first match wins).
pub fn infer_device_type(model: Option<&str>) -> DeviceType {
    let Some(m) = model.filter(|m| !m.is_empty()) else {
        return DeviceType::Unknown;
    };
    if m.starts_with("Watch") {
        return DeviceType::Watch;
    }
    if m.starts_with("iPhone") || m.starts_with("iPad") {
        return DeviceType::Phone;
    }
    let l = m.to_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| l.contains(w));
    if any(&["watch"]) {
        DeviceType::Watch
    } else if any(&["band", "vivosmart", "vivofit"]) {
        DeviceType::Band
    } else if any(&["ring", "oura"]) {
        DeviceType::Ring
    } else if any(&["phone"]) {
        DeviceType::Phone
    } else if any(&["scale", "index"]) {
        DeviceType::Scale
    } else if any(&[
        "forerunner",
        "fenix",
        "venu",
        "epix",
        "enduro",
        "instinct",
        "tactix",
        "approach",
    ]) || any(&["vantage", "grit x", "pacer", "ignite", "unite"])
        || any(&["suunto", "vertical", "race", "peak"])
    {
        DeviceType::Watch
    } else if any(&["whoop"]) {
        DeviceType::Band
    } else {
        DeviceType::Other
    }
}

/// Infers the device type from a source/app name (used only when the model yields `unknown`).
pub fn infer_device_type_from_source_name(name: Option<&str>) -> DeviceType {
    let Some(l) = name.map(str::to_lowercase) else {
        return DeviceType::Unknown;
    };
    if l.contains("autosleep") {
        DeviceType::Watch
    } else if l.contains("mi band") || l.contains("xiaomi") || l.contains("amazfit band") {
        DeviceType::Band
    } else if l.contains("oura") {
        DeviceType::Ring
    } else {
        DeviceType::Unknown
    }
}

/// Sort key of priority flavour A/B: (provider priority, device-type priority, device model).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PriorityKey {
    /// Provider priority (missing ⇒ 99).
    pub provider_priority: u32,
    /// Device-type priority (missing model/type ⇒ 99).
    pub device_priority: u32,
    /// Device model or "".
    pub device_model: String,
}

/// Picks the best candidate (smallest [`PriorityKey`]; ties keep input order).
pub fn select_best<T, F>(candidates: impl IntoIterator<Item = T>, key: F) -> Option<T>
where
    F: Fn(&T) -> PriorityKey,
{
    let mut best: Option<(PriorityKey, T)> = None;
    for c in candidates {
        let k = key(&c);
        if best.as_ref().is_none_or(|(bk, _)| k < *bk) {
            best = Some((k, c));
        }
    }
    best.map(|(_, c)| c)
}

// ---------------------------------------------------------------------------------------------
// Activity summary (§3.2)
// ---------------------------------------------------------------------------------------------

/// The 7 series that feed the activity summary.
/// Series whose samples feed roll-ups (for deciding which days to recompute).
pub fn feeds_rollups(series: SeriesType) -> bool {
    ACTIVITY_SERIES.contains(&series)
}

pub const ACTIVITY_SERIES: [SeriesType; 7] = [
    SeriesType::Steps,
    SeriesType::Energy,
    SeriesType::BasalEnergy,
    SeriesType::HeartRate,
    SeriesType::DistanceWalkingRunning,
    SeriesType::FlightsClimbed,
    SeriesType::ActiveTime,
];

/// A live sample row as read by the activity summary.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivitySample {
    /// Series type.
    pub series: SeriesType,
    /// Instant.
    pub recorded_at: DateTime<Utc>,
    /// Value.
    pub value: f64,
    /// Zone offset in seconds, parsed once (local date = `date(recorded_at + offset)`; a
    /// missing or invalid offset is 0, as `time::local_date` reads it).
    pub offset_secs: i32,
    /// Daily-total flag.
    pub is_daily_total: Option<bool>,
}

/// The offset in seconds of an optional `±HH:MM` zone (0 when missing or invalid).
pub fn offset_secs(zone: Option<&str>) -> i32 {
    zone.and_then(crate::domain::time::zone_offset_seconds)
        .and_then(|s| i32::try_from(s).ok())
        .unwrap_or(0)
}

impl ActivitySample {
    /// Local date of the sample.
    pub fn local_date(&self) -> NaiveDate {
        // Integer day arithmetic (this runs several times per sample in the roll-ups); equal
        // to `time::local_date` for every storable instant (a test holds them equal).
        const UNIX_EPOCH_DAYS_FROM_CE: i64 = 719_163;
        let days = (self.recorded_at.timestamp() + i64::from(self.offset_secs)).div_euclid(86_400);
        i32::try_from(days + UNIX_EPOCH_DAYS_FROM_CE)
            .ok()
            .and_then(NaiveDate::from_num_days_from_ce_opt)
            .unwrap_or_else(|| self.recorded_at.date_naive())
    }
}

/// Normalised per-(local date, data source) activity totals (step 1).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ActivityDay {
    /// Steps (truncated, 0 when absent).
    pub steps: i64,
    /// Active energy kcal (0.0 when absent).
    pub active_energy: f64,
    /// Basal energy kcal (0.0 when absent).
    pub basal_energy: f64,
    /// Walking/running distance m.
    pub distance: Option<f64>,
    /// Flights (truncated).
    pub flights: Option<i64>,
    /// Provider active minutes (truncated).
    pub active_time: Option<i64>,
    /// `int(round_half_even(mean HR))`.
    pub hr_avg: Option<i64>,
    /// Max HR (truncated).
    pub hr_max: Option<i64>,
    /// Min HR (truncated).
    pub hr_min: Option<i64>,
}

#[derive(Default)]
struct DayRows {
    by_series: BTreeMap<u16, Vec<(f64, Option<bool>)>>,
}

impl DayRows {
    fn sum(&self, s: SeriesType) -> Option<f64> {
        self.by_series
            .get(&s.id())
            .map(|rows| prefer_daily_sum(rows.iter().copied()).0)
    }

    fn values(&self, s: SeriesType) -> Vec<f64> {
        self.by_series
            .get(&s.id())
            .map(|rows| rows.iter().map(|r| r.0).collect())
            .unwrap_or_default()
    }
}

/// Rolls the samples of **one data source** up per local date (§3.2 step 1). Rows of other series are
/// ignored; a day exists as soon as any of the 7 series has a row.
pub fn activity_days(samples: &[ActivitySample]) -> BTreeMap<NaiveDate, ActivityDay> {
    let mut days: BTreeMap<NaiveDate, DayRows> = BTreeMap::new();
    for s in samples
        .iter()
        .filter(|s| ACTIVITY_SERIES.contains(&s.series))
    {
        days.entry(s.local_date())
            .or_default()
            .by_series
            .entry(s.series.id())
            .or_default()
            .push((s.value, s.is_daily_total));
    }
    days.into_iter()
        .map(|(d, rows)| (d, normalise_day(&rows)))
        .collect()
}

fn normalise_day(rows: &DayRows) -> ActivityDay {
    let hr = rows.values(SeriesType::HeartRate);
    ActivityDay {
        steps: rows.sum(SeriesType::Steps).map_or(0, trunc_i64),
        active_energy: rows.sum(SeriesType::Energy).unwrap_or(0.0),
        basal_energy: rows.sum(SeriesType::BasalEnergy).unwrap_or(0.0),
        distance: rows.sum(SeriesType::DistanceWalkingRunning),
        flights: rows.sum(SeriesType::FlightsClimbed).map(trunc_i64),
        active_time: rows.sum(SeriesType::ActiveTime).map(trunc_i64),
        hr_avg: mean(&hr).map(round_half_even_i64),
        hr_max: hr.iter().copied().reduce(f64::max).map(trunc_i64),
        hr_min: hr.iter().copied().reduce(f64::min).map(trunc_i64),
    }
}

/// Step-based minutes of one local date (§3.2 step 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StepMinutes {
    /// Minute buckets with any steps row.
    pub tracked: i64,
    /// Buckets with ≥ 30 steps.
    pub active: i64,
    /// `tracked − active`.
    pub sedentary: i64,
}

/// Steps per UTC minute needed for an active minute.
pub const ACTIVE_MINUTE_STEPS: f64 = 30.0;

fn minute_key(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(60)
}

/// Step-based active/sedentary minutes of **one data source**, per local date: step rows whose
/// `is_daily_total` is not true, summed per UTC minute.
pub fn step_minutes(samples: &[ActivitySample]) -> BTreeMap<NaiveDate, StepMinutes> {
    let mut buckets: BTreeMap<(NaiveDate, i64), f64> = BTreeMap::new();
    for s in samples
        .iter()
        .filter(|s| s.series == SeriesType::Steps && s.is_daily_total != Some(true))
    {
        *buckets
            .entry((s.local_date(), minute_key(s.recorded_at)))
            .or_default() += s.value;
    }
    let mut out: BTreeMap<NaiveDate, StepMinutes> = BTreeMap::new();
    for ((date, _), steps) in buckets {
        let e = out.entry(date).or_default();
        e.tracked += 1;
        if steps >= ACTIVE_MINUTE_STEPS {
            e.active += 1;
        }
        e.sedentary = e.tracked - e.active;
    }
    out
}

/// Whole years between `birth` and `on` (one less while the birthday has not been reached).
pub fn age_years(birth: NaiveDate, on: NaiveDate) -> i32 {
    let mut age = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

/// `max_hr = max(220 − age, 100)` with age at `on`; 190 without a birth date.
pub fn max_heart_rate(birth: Option<NaiveDate>, on: NaiveDate) -> i64 {
    birth.map_or(190, |b| (220 - i64::from(age_years(b, on))).max(100))
}

/// Truncated HR-zone bounds derived from `max_hr` (50/63/76/93 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IntensityThresholds {
    /// `int(0.50·max)`.
    pub light_min: i64,
    /// `int(0.63·max)`.
    pub light_max: i64,
    /// `int(0.76·max)`.
    pub moderate_max: i64,
    /// `int(0.93·max)`.
    pub vigorous_max: i64,
}

impl IntensityThresholds {
    /// Bounds for a maximum heart rate.
    pub fn from_max_hr(max_hr: i64) -> IntensityThresholds {
        let pct = |p: f64| trunc_i64(p * max_hr as f64);
        IntensityThresholds {
            light_min: pct(0.50),
            light_max: pct(0.63),
            moderate_max: pct(0.76),
            vigorous_max: pct(0.93),
        }
    }
}

/// Intensity minutes of one local date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IntensityMinutes {
    /// `light_min ≤ m ≤ light_max`.
    pub light: i64,
    /// `light_max < m ≤ moderate_max`.
    pub moderate: i64,
    /// `moderate_max < m ≤ vigorous_max`.
    pub vigorous: i64,
}

/// Intensity minutes of **one data source** per local date (§3.2 step 6): mean HR per UTC minute,
/// classified with the thresholds; minutes below `light_min` or above `vigorous_max` are not counted.
/// A date is present whenever it has HR minutes (even if none is counted).
pub fn intensity_minutes(
    samples: &[ActivitySample],
    th: IntensityThresholds,
) -> BTreeMap<NaiveDate, IntensityMinutes> {
    let mut buckets: BTreeMap<(NaiveDate, i64), (f64, u32)> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.series == SeriesType::HeartRate) {
        let e = buckets
            .entry((s.local_date(), minute_key(s.recorded_at)))
            .or_default();
        e.0 += s.value;
        e.1 += 1;
    }
    let mut out: BTreeMap<NaiveDate, IntensityMinutes> = BTreeMap::new();
    for ((date, _), (sum, n)) in buckets {
        let m = sum / f64::from(n);
        let e = out.entry(date).or_default();
        if m >= th.light_min as f64 && m <= th.light_max as f64 {
            e.light += 1;
        } else if m > th.light_max as f64 && m <= th.moderate_max as f64 {
            e.moderate += 1;
        } else if m > th.moderate_max as f64 && m <= th.vigorous_max as f64 {
            e.vigorous += 1;
        }
    }
    out
}

/// `floors_climbed`: flights if known; else `int(elevation / 3.0)` when elevation > 0; else null.
pub fn floors_climbed(flights: Option<i64>, elevation_m: Option<f64>) -> Option<i64> {
    flights.or_else(|| elevation_m.filter(|e| *e > 0.0).map(|e| trunc_i64(e / 3.0)))
}

/// Heart-rate block of an activity item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HeartRateStats {
    /// Rounded mean.
    pub avg_bpm: i64,
    /// Max.
    pub max_bpm: Option<i64>,
    /// Min.
    pub min_bpm: Option<i64>,
}

/// The value fields of one `ActivitySummary` item (source/date added by the caller).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActivityValues {
    /// Steps (may be 0).
    pub steps: i64,
    /// Walking/running distance.
    pub distance_meters: Option<f64>,
    /// Floors.
    pub floors_climbed: Option<i64>,
    /// Workout elevation sum.
    pub elevation_meters: Option<f64>,
    /// Active kcal.
    pub active_calories_kcal: f64,
    /// Active + basal kcal.
    pub total_calories_kcal: f64,
    /// Provider active time, else step-based active minutes.
    pub active_minutes: Option<i64>,
    /// Step-based sedentary minutes.
    pub sedentary_minutes: Option<i64>,
    /// Intensity minutes.
    pub intensity_minutes: Option<IntensityMinutes>,
    /// HR stats.
    pub heart_rate: Option<HeartRateStats>,
}

/// Assembles an activity item (§3.2 step 8) from the winning group's day and the lookups of steps 4–6.
pub fn assemble_activity(
    day: &ActivityDay,
    workout_elevation_m: Option<f64>,
    steps: Option<StepMinutes>,
    intensity: Option<IntensityMinutes>,
) -> ActivityValues {
    // The reference stores values as numeric(10,3) and sums them exactly in SQL: a sum has at
    // most three decimals (723.688, not 723.6880000000003). Our inputs are rounded to three
    // decimals on write, so rounding the float sum to three decimals gives the exact sum.
    let dec3 = |x: f64| round_half_away_to(x, 3);
    ActivityValues {
        steps: day.steps,
        distance_meters: day.distance.map(dec3),
        floors_climbed: floors_climbed(day.flights, workout_elevation_m),
        elevation_meters: workout_elevation_m.map(dec3),
        active_calories_kcal: dec3(day.active_energy),
        total_calories_kcal: dec3(day.active_energy + day.basal_energy),
        active_minutes: day.active_time.or(steps.map(|s| s.active)),
        sedentary_minutes: steps.map(|s| s.sedentary),
        intensity_minutes: intensity,
        heart_rate: day.hr_avg.map(|avg| HeartRateStats {
            avg_bpm: avg,
            max_bpm: day.hr_max,
            min_bpm: day.hr_min,
        }),
    }
}

/// Workout elevation per (local end date) for one data source: sum of non-null gains, `None` when no
/// workout of the day has one (§3.2 step 4).
pub fn workout_elevation_by_day(
    workouts: &[(DateTime<Utc>, Option<String>, Option<f64>)],
) -> BTreeMap<NaiveDate, f64> {
    let mut out: BTreeMap<NaiveDate, f64> = BTreeMap::new();
    for (end, zone, gain) in workouts {
        if let Some(g) = gain {
            *out.entry(local_date(*end, zone.as_deref())).or_default() += g;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Recovery summary (§3.4)
// ---------------------------------------------------------------------------------------------

/// Value fields of one recovery item.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct RecoveryValues {
    /// Always null in the reference; filled by the caller when a sleep session is linked.
    pub sleep_duration_seconds: Option<i64>,
    /// Always null in the reference; filled by the caller when a sleep session is linked.
    pub sleep_efficiency_percent: Option<f64>,
    /// `int(components.resting_heart_rate.value)`.
    pub resting_heart_rate_bpm: Option<i64>,
    /// `components.hrv_rmssd_milli.value` (RMSSD under an SDNN name, as in the reference).
    pub avg_hrv_sdnn_ms: Option<f64>,
    /// `components.spo2_percentage.value`.
    pub avg_spo2_percent: Option<f64>,
    /// `int(value)`.
    pub recovery_score: Option<i64>,
}

fn component_value(components: Option<&serde_json::Value>, name: &str) -> Option<f64> {
    let v = components?.get(name)?.get("value")?;
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// Derives recovery values from a recovery HealthScore's `value` and `components` JSON.
pub fn recovery_values(
    value: Option<f64>,
    components: Option<&serde_json::Value>,
) -> RecoveryValues {
    RecoveryValues {
        sleep_duration_seconds: None,
        sleep_efficiency_percent: None,
        resting_heart_rate_bpm: component_value(components, "resting_heart_rate").map(trunc_i64),
        avg_hrv_sdnn_ms: component_value(components, "hrv_rmssd_milli"),
        avg_spo2_percent: component_value(components, "spo2_percentage"),
        recovery_score: value.map(trunc_i64),
    }
}

// ---------------------------------------------------------------------------------------------
// Body summary (§3.5)
// ---------------------------------------------------------------------------------------------

/// BMI fallback: `round(weight / (height_cm/100)², 1)` when both are present and height > 0.
pub fn bmi_from(weight_kg: Option<f64>, height_cm: Option<f64>) -> Option<f64> {
    let (w, h) = (weight_kg?, height_cm.filter(|h| *h > 0.0)?);
    let m = h / 100.0;
    Some(round_half_even_to(w / (m * m), 1))
}

/// Averaged block of the body summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BodyAveraged {
    /// Echoed period.
    pub period_days: i64,
    /// `int(round_half_even(mean))`, null when the mean is null or 0.
    pub resting_heart_rate_bpm: Option<i64>,
    /// `round(mean, 1)`.
    pub avg_hrv_sdnn_ms: Option<f64>,
    /// `round(mean, 1)`.
    pub avg_hrv_rmssd_ms: Option<f64>,
    /// `now − period`.
    pub period_start: DateTime<Utc>,
    /// `now`.
    pub period_end: DateTime<Utc>,
}

/// Averaged block from the sample values within `[now − period_days, now)` (all sources pooled).
pub fn body_averaged(
    now: DateTime<Utc>,
    period_days: i64,
    rhr: &[f64],
    sdnn: &[f64],
    rmssd: &[f64],
) -> BodyAveraged {
    BodyAveraged {
        period_days,
        resting_heart_rate_bpm: mean(rhr).filter(|m| *m != 0.0).map(round_half_even_i64),
        avg_hrv_sdnn_ms: mean(sdnn).map(|m| round_half_even_to(m, 1)),
        avg_hrv_rmssd_ms: mean(rmssd).map(|m| round_half_even_to(m, 1)),
        period_start: now - Duration::days(period_days),
        period_end: now,
    }
}

/// Blood-pressure block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BloodPressure {
    /// Rounded mean systolic.
    pub avg_systolic_mmhg: i64,
    /// Rounded mean diastolic.
    pub avg_diastolic_mmhg: i64,
    /// Max systolic.
    pub max_systolic_mmhg: Option<i64>,
    /// Max diastolic.
    pub max_diastolic_mmhg: Option<i64>,
    /// Min systolic.
    pub min_systolic_mmhg: Option<i64>,
    /// Min diastolic.
    pub min_diastolic_mmhg: Option<i64>,
    /// Number of paired readings.
    pub reading_count: i64,
    /// Later timestamp of the most recent pair.
    pub measured_at: DateTime<Utc>,
}

/// Maximum distance between a systolic and a diastolic reading of one measurement.
pub const BP_PAIR_TOLERANCE_SECONDS: i64 = 5;

/// Blood pressure over the latest window (README precedence rule 1: min/max filled where the data
/// allows). Each systolic reading is paired with the nearest unused diastolic reading at most 5 s
/// away; the block aggregates all pairs (mean rounded half-even, min/max, count) and is `None` when
/// no pair exists. With a single pair it equals the reference output plus min = max = that pair.
pub fn blood_pressure(
    systolic: &[(DateTime<Utc>, f64)],
    diastolic: &[(DateTime<Utc>, f64)],
) -> Option<BloodPressure> {
    let mut used = vec![false; diastolic.len()];
    let mut pairs: Vec<(f64, f64, DateTime<Utc>)> = Vec::new();
    for (ts, sv) in systolic {
        let best = diastolic
            .iter()
            .enumerate()
            .filter(|(i, (td, _))| {
                !used[*i] && (*td - *ts).num_seconds().abs() <= BP_PAIR_TOLERANCE_SECONDS
            })
            .min_by_key(|(_, (td, _))| (*td - *ts).num_milliseconds().abs());
        if let Some((i, (td, dv))) = best {
            used[i] = true;
            pairs.push((*sv, *dv, (*ts).max(*td)));
        }
    }
    let measured_at = pairs.iter().map(|p| p.2).max()?;
    let sys: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let dia: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    let extreme =
        |v: &[f64], f: fn(f64, f64) -> f64| v.iter().copied().reduce(f).map(round_half_even_i64);
    Some(BloodPressure {
        avg_systolic_mmhg: mean(&sys).map_or(0, round_half_even_i64),
        avg_diastolic_mmhg: mean(&dia).map_or(0, round_half_even_i64),
        max_systolic_mmhg: extreme(&sys, f64::max),
        max_diastolic_mmhg: extreme(&dia, f64::max),
        min_systolic_mmhg: extreme(&sys, f64::min),
        min_diastolic_mmhg: extreme(&dia, f64::min),
        reading_count: pairs.len() as i64,
        measured_at,
    })
}

fn truthy(v: Option<f64>) -> bool {
    v.is_some_and(|x| x != 0.0)
}

/// Inputs of the body-summary null rule.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BodyPresence {
    /// Latest weight.
    pub weight: Option<f64>,
    /// Latest height.
    pub height: Option<f64>,
    /// Latest body fat.
    pub body_fat: Option<f64>,
    /// Latest lean mass.
    pub lean_mass: Option<f64>,
    /// Averaged RHR.
    pub resting_hr: Option<f64>,
    /// Averaged SDNN.
    pub hrv_sdnn: Option<f64>,
    /// Averaged RMSSD.
    pub hrv_rmssd: Option<f64>,
    /// Latest body temperature.
    pub body_temp: Option<f64>,
    /// Latest skin temperature.
    pub skin_temp: Option<f64>,
    /// Whether a blood-pressure block exists.
    pub has_blood_pressure: bool,
}

/// True when the body summary must be JSON `null`: nothing truthy (non-null, non-zero) among the
/// slow-changing, averaged and latest values; BMI and age alone do not count.
pub fn body_summary_is_null(p: &BodyPresence) -> bool {
    let any = [
        p.weight,
        p.height,
        p.body_fat,
        p.lean_mass,
        p.resting_hr,
        p.hrv_sdnn,
        p.hrv_rmssd,
        p.body_temp,
        p.skin_temp,
    ]
    .into_iter()
    .any(truthy);
    !any && !p.has_blood_pressure
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .expect("test datetime")
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
    }

    fn s(
        series: SeriesType,
        at: &str,
        value: f64,
        zone: Option<&str>,
        flag: Option<bool>,
    ) -> ActivitySample {
        ActivitySample {
            series,
            recorded_at: t(at),
            value,
            offset_secs: offset_secs(zone),
            is_daily_total: flag,
        }
    }

    #[test]
    fn sample_local_dates_are_the_time_rule() {
        let zones = [
            None,
            Some("+00:00"),
            Some("+14:00"),
            Some("-12:00"),
            Some("+05:45"),
            Some("-00:30"),
            Some("bad"),
        ];
        for at in [
            "2025-03-01T00:00:00Z",
            "2025-03-01T23:59:59.999999Z",
            "2025-02-28T10:15:00Z",
            "1969-12-31T23:30:00Z",
            "1900-01-01T00:00:00Z",
            "2199-12-31T23:59:59Z",
        ] {
            for z in zones {
                let sample = s(SeriesType::Steps, at, 1.0, z, None);
                assert_eq!(sample.local_date(), local_date(t(at), z), "{at} {z:?}");
            }
        }
    }

    #[test]
    fn device_inference() {
        assert_eq!(infer_device_type(Some("Watch7,5")), DeviceType::Watch);
        assert_eq!(infer_device_type(Some("iPhone15,2")), DeviceType::Phone);
        assert_eq!(infer_device_type(Some("iPad13,1")), DeviceType::Phone);
        assert_eq!(infer_device_type(Some("SM-R960")), DeviceType::Other);
        assert_eq!(infer_device_type(Some("Forerunner 955")), DeviceType::Watch);
        assert_eq!(infer_device_type(Some("Oura Gen3")), DeviceType::Ring);
        assert_eq!(infer_device_type(Some("WHOOP 4.0")), DeviceType::Band);
        assert_eq!(infer_device_type(Some("Vantage V2")), DeviceType::Watch);
        assert_eq!(infer_device_type(Some("Index S2")), DeviceType::Scale);
        assert_eq!(infer_device_type(Some("")), DeviceType::Unknown);
        assert_eq!(infer_device_type(None).stored(), None);
        assert_eq!(
            infer_device_type_from_source_name(Some("Zepp Life")),
            DeviceType::Unknown
        );
        assert_eq!(
            infer_device_type_from_source_name(Some("AutoSleep")),
            DeviceType::Watch
        );
    }

    #[test]
    fn priority_selection_is_stable() {
        let k = |p: u32, dp: u32, m: &str| PriorityKey {
            provider_priority: p,
            device_priority: dp,
            device_model: m.to_owned(),
        };
        let items = vec![
            ("a", k(2, 1, "x")),
            ("b", k(1, 4, "z")),
            ("c", k(1, 4, "z")),
            ("d", k(1, 4, "y")),
        ];
        assert_eq!(
            select_best(items.clone(), |i| i.1.clone()).map(|i| i.0),
            Some("d")
        );
        let ties = vec![("b", k(1, 4, "z")), ("c", k(1, 4, "z"))];
        assert_eq!(select_best(ties, |i| i.1.clone()).map(|i| i.0), Some("b"));
    }

    #[test]
    fn activity_roll_up_rules_2_3_4() {
        let rows = vec![
            // 23:30Z at +01:00 belongs to the 2nd (local date).
            s(
                SeriesType::Steps,
                "2025-03-01T23:30:00Z",
                100.0,
                Some("+01:00"),
                Some(false),
            ),
            s(
                SeriesType::Steps,
                "2025-03-01T10:00:00Z",
                100.0,
                Some("+01:00"),
                Some(false),
            ),
            s(
                SeriesType::Steps,
                "2025-03-01T00:00:00Z",
                5000.0,
                Some("+01:00"),
                Some(true),
            ),
            s(
                SeriesType::Steps,
                "2025-03-01T11:00:00Z",
                50.9,
                Some("+01:00"),
                None,
            ),
            s(
                SeriesType::HeartRate,
                "2025-03-02T08:00:00Z",
                61.0,
                None,
                None,
            ),
            s(
                SeriesType::HeartRate,
                "2025-03-02T08:01:00Z",
                62.0,
                None,
                None,
            ),
            s(
                SeriesType::HeartRate,
                "2025-03-02T08:02:00Z",
                99.9,
                None,
                None,
            ),
            s(
                SeriesType::DistanceCycling,
                "2025-03-02T08:00:00Z",
                1000.0,
                None,
                Some(false),
            ),
        ];
        let days = activity_days(&rows);
        let first = &days[&d("2025-03-01")];
        assert_eq!(first.steps, 5000); // daily total replaces the intraday rows
        let second = &days[&d("2025-03-02")];
        assert_eq!(second.steps, 100);
        // 2nd also has HR rows without zone (UTC) → same date.
        assert_eq!(
            (second.hr_avg, second.hr_max, second.hr_min),
            (Some(74), Some(99), Some(61))
        );
        assert_eq!(second.active_energy, 0.0);
        assert_eq!(second.distance, None);
        let v = assemble_activity(second, None, None, None);
        assert_eq!(v.total_calories_kcal, 0.0);
        assert_eq!(v.heart_rate.map(|h| h.avg_bpm), Some(74));
        // HR only day still yields steps 0.
        let hr_only = activity_days(&[s(
            SeriesType::HeartRate,
            "2025-03-05T08:00:00Z",
            60.0,
            None,
            None,
        )]);
        assert_eq!(hr_only[&d("2025-03-05")].steps, 0);
    }

    #[test]
    fn hr_average_is_half_even() {
        let rows = vec![
            s(
                SeriesType::HeartRate,
                "2025-03-01T08:00:00Z",
                72.0,
                None,
                None,
            ),
            s(
                SeriesType::HeartRate,
                "2025-03-01T08:01:00Z",
                73.0,
                None,
                None,
            ),
        ];
        assert_eq!(activity_days(&rows)[&d("2025-03-01")].hr_avg, Some(72));
    }

    #[test]
    fn calorie_and_distance_sums_have_three_decimals() {
        // 0.1 + 0.2 and a long run of three-decimal values, summed as floats, carry noise.
        let rows: Vec<ActivitySample> = (0..1000)
            .flat_map(|i| {
                let at = t("2025-03-01T08:00:00Z") + chrono::Duration::seconds(i);
                [
                    (SeriesType::Energy, 0.723_688),
                    (SeriesType::BasalEnergy, 0.1),
                    (SeriesType::DistanceWalkingRunning, 0.2),
                ]
                .map(|(series, value)| ActivitySample {
                    series,
                    recorded_at: at,
                    value: round_half_away_to(value, 3),
                    offset_secs: 0,
                    is_daily_total: None,
                })
            })
            .collect();
        let day = &activity_days(&rows)[&d("2025-03-01")];
        assert_ne!(day.active_energy, 724.0, "the float sum is noisy");
        let v = assemble_activity(day, Some(0.1 + 0.2), None, None);
        assert_eq!(v.active_calories_kcal, 724.0);
        assert_eq!(v.total_calories_kcal, 824.0);
        assert_eq!(v.distance_meters, Some(200.0));
        assert_eq!(v.elevation_meters, Some(0.3));
    }

    #[test]
    fn floors_and_minutes() {
        assert_eq!(floors_climbed(Some(4), Some(30.0)), Some(4));
        assert_eq!(floors_climbed(None, Some(10.0)), Some(3));
        assert_eq!(floors_climbed(None, Some(0.0)), None);
        let rows = vec![
            s(SeriesType::Steps, "2025-03-01T10:00:10Z", 20.0, None, None),
            s(SeriesType::Steps, "2025-03-01T10:00:50Z", 10.0, None, None),
            s(SeriesType::Steps, "2025-03-01T10:01:00Z", 29.0, None, None),
            s(
                SeriesType::Steps,
                "2025-03-01T10:02:00Z",
                400.0,
                None,
                Some(true),
            ),
        ];
        let m = step_minutes(&rows)[&d("2025-03-01")];
        assert_eq!((m.tracked, m.active, m.sedentary), (2, 1, 1));
        let day = ActivityDay {
            active_time: None,
            ..ActivityDay::default()
        };
        let v = assemble_activity(&day, Some(10.0), Some(m), None);
        assert_eq!(
            (v.active_minutes, v.sedentary_minutes, v.floors_climbed),
            (Some(1), Some(1), Some(3))
        );
        let day = ActivityDay {
            active_time: Some(45),
            ..ActivityDay::default()
        };
        assert_eq!(
            assemble_activity(&day, None, Some(m), None).active_minutes,
            Some(45)
        );
    }

    #[test]
    fn intensity_rule_5() {
        let th = IntensityThresholds::from_max_hr(max_heart_rate(None, d("2025-03-01")));
        assert_eq!(
            (th.light_min, th.light_max, th.moderate_max, th.vigorous_max),
            (95, 119, 144, 176)
        );
        assert_eq!(max_heart_rate(Some(d("1990-03-02")), d("2025-03-01")), 186); // 34 years
        assert_eq!(max_heart_rate(Some(d("1990-03-01")), d("2025-03-01")), 185);
        assert_eq!(max_heart_rate(Some(d("1900-01-01")), d("2025-03-01")), 100);
        let rows = vec![
            s(
                SeriesType::HeartRate,
                "2025-03-01T10:00:00Z",
                119.0,
                None,
                None,
            ),
            s(
                SeriesType::HeartRate,
                "2025-03-01T10:00:30Z",
                120.0,
                None,
                None,
            ), // minute mean 119.5 → moderate
            s(
                SeriesType::HeartRate,
                "2025-03-01T10:01:00Z",
                95.0,
                None,
                None,
            ), // light
            s(
                SeriesType::HeartRate,
                "2025-03-01T10:02:00Z",
                176.0,
                None,
                None,
            ), // vigorous
            s(
                SeriesType::HeartRate,
                "2025-03-01T10:03:00Z",
                177.0,
                None,
                None,
            ), // above → dropped
            s(
                SeriesType::HeartRate,
                "2025-03-01T10:04:00Z",
                94.0,
                None,
                None,
            ), // below → dropped
        ];
        let m = intensity_minutes(&rows, th)[&d("2025-03-01")];
        assert_eq!((m.light, m.moderate, m.vigorous), (1, 1, 1));
    }

    #[test]
    fn recovery() {
        let c = serde_json::json!({"resting_heart_rate": {"value": 52.9}, "hrv_rmssd_milli": {"value": 61.25},
                                   "spo2_percentage": {"value": 96.5}});
        let r = recovery_values(Some(67.8), Some(&c));
        assert_eq!(r.resting_heart_rate_bpm, Some(52));
        assert_eq!(r.avg_hrv_sdnn_ms, Some(61.25));
        assert_eq!(r.avg_spo2_percent, Some(96.5));
        assert_eq!(r.recovery_score, Some(67));
        assert_eq!(recovery_values(None, None), RecoveryValues::default());
    }

    #[test]
    fn body_rules() {
        assert_eq!(bmi_from(Some(70.0), Some(175.0)), Some(22.9));
        assert_eq!(bmi_from(Some(70.0), Some(0.0)), None);
        assert_eq!(bmi_from(None, Some(175.0)), None);
        let now = t("2025-03-08T12:00:00Z");
        let a = body_averaged(now, 7, &[55.0, 56.0], &[45.45], &[]);
        assert_eq!(a.resting_heart_rate_bpm, Some(56));
        assert_eq!(a.avg_hrv_sdnn_ms, Some(45.4));
        assert_eq!(a.avg_hrv_rmssd_ms, None);
        assert_eq!(a.period_start, t("2025-03-01T12:00:00Z"));
        assert_eq!(
            body_averaged(now, 7, &[0.0], &[], &[]).resting_heart_rate_bpm,
            None
        );
        assert!(body_summary_is_null(&BodyPresence {
            weight: Some(0.0),
            ..BodyPresence::default()
        }));
        assert!(!body_summary_is_null(&BodyPresence {
            skin_temp: Some(33.1),
            ..BodyPresence::default()
        }));
    }

    #[test]
    fn blood_pressure_pairs() {
        let sys = vec![
            (t("2025-03-08T10:00:00Z"), 120.0),
            (t("2025-03-08T11:00:00Z"), 131.0),
            (t("2025-03-08T11:30:00Z"), 140.0),
        ];
        let dia = vec![
            (t("2025-03-08T10:00:04Z"), 80.0),
            (t("2025-03-08T11:00:01Z"), 85.0),
            (t("2025-03-08T11:30:06Z"), 90.0),
        ];
        let bp = blood_pressure(&sys, &dia).expect("pairs");
        assert_eq!(bp.reading_count, 2);
        assert_eq!((bp.avg_systolic_mmhg, bp.avg_diastolic_mmhg), (126, 82)); // 125.5 → 126, 82.5 → 82
        assert_eq!(
            (bp.min_systolic_mmhg, bp.max_systolic_mmhg),
            (Some(120), Some(131))
        );
        assert_eq!(bp.measured_at, t("2025-03-08T11:00:01Z"));
        assert!(blood_pressure(&sys[2..], &dia[2..]).is_none());
    }
}

//! Google Health pull: the metric catalogue, the list / reconcile / rollUp fetches, the
//! exercise and sleep sessions, and their mapping.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Value, json};

use crate::domain::sdk::WorkoutDetails;
use crate::domain::series::SeriesType;
use crate::domain::sleep::{SleepStage, StageInterval};
use crate::domain::workout::WorkoutType;
use crate::providers::sync::{
    FetchError, Fetcher, Pulled, PulledSample, PulledSleep, PulledWorkout,
};

/// Page size of the list / reconcile calls of 24/7 metrics.
const LIST_PAGE_SIZE: u32 = 1000;
/// Page size of exercise and sleep lists (Google's maximum for sessions).
const SESSION_PAGE_SIZE: u32 = 25;
/// Upper bound of one rollUp page.
const MAX_ROLLUP_PAGE: i64 = 10_000;
/// Pages followed per call at most (a guard against a provider that never stops paging).
pub(super) const MAX_PAGES: usize = 1000;

/// Where a native point keeps its timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `interval.startTime` (fallback `endTime`), offset `interval.startUtcOffset`.
    Interval,
    /// Like `Interval`, filtered server-side on the civil start date (hydration log).
    Session,
    /// `sampleTime.physicalTime`, offset `sampleTime.utcOffset`.
    Sample,
    /// `date {year, month, day}` at UTC midnight, no offset.
    Date,
}

/// How a metric is rolled up: value field (dotted path), scale, largest range per request.
#[derive(Debug, Clone, Copy)]
pub struct RollupSpec {
    pub field: &'static str,
    pub scale: f64,
    pub max_days: i64,
}

/// How a metric is listed: time shape, value fields and their series, scale.
#[derive(Debug, Clone, Copy)]
pub struct ListSpec {
    pub shape: Shape,
    pub fields: &'static [(&'static str, SeriesType)],
    pub scale: f64,
}

/// One Google data type we ingest as time series.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    /// Kebab-case data type (`heart-rate`).
    pub data_type: &'static str,
    /// The value object's key in a point (`heartRate`).
    pub value_key: &'static str,
    /// The series rollUp values land in.
    pub series: SeriesType,
    pub rollup: Option<RollupSpec>,
    pub list: Option<ListSpec>,
}

const fn roll(field: &'static str, scale: f64, max_days: i64) -> Option<RollupSpec> {
    Some(RollupSpec {
        field,
        scale,
        max_days,
    })
}

const fn list(
    shape: Shape,
    fields: &'static [(&'static str, SeriesType)],
    scale: f64,
) -> Option<ListSpec> {
    Some(ListSpec {
        shape,
        fields,
        scale,
    })
}

/// The metric registry (providers.md §4.8.2).
pub const METRICS: [Metric; 14] = [
    Metric {
        data_type: "steps",
        value_key: "steps",
        series: SeriesType::Steps,
        rollup: roll("countSum", 1.0, 90),
        list: list(Shape::Interval, &[("count", SeriesType::Steps)], 1.0),
    },
    Metric {
        data_type: "distance",
        value_key: "distance",
        series: SeriesType::DistanceWalkingRunning,
        rollup: roll("millimetersSum", 0.001, 90),
        list: list(
            Shape::Interval,
            &[("millimeters", SeriesType::DistanceWalkingRunning)],
            0.001,
        ),
    },
    Metric {
        data_type: "total-calories",
        value_key: "totalCalories",
        series: SeriesType::Energy,
        rollup: roll("kcalSum", 1.0, 14),
        list: None,
    },
    Metric {
        data_type: "hydration-log",
        value_key: "hydrationLog",
        series: SeriesType::Hydration,
        rollup: roll("amountConsumed.millilitersSum", 1.0, 90),
        list: list(
            Shape::Session,
            &[("amountConsumed.milliliters", SeriesType::Hydration)],
            1.0,
        ),
    },
    Metric {
        data_type: "heart-rate",
        value_key: "heartRate",
        series: SeriesType::HeartRate,
        rollup: roll("beatsPerMinuteAvg", 1.0, 14),
        list: list(
            Shape::Sample,
            &[("beatsPerMinute", SeriesType::HeartRate)],
            1.0,
        ),
    },
    Metric {
        data_type: "run-vo2-max",
        value_key: "runVo2Max",
        series: SeriesType::Vo2Max,
        rollup: roll("rateAvg", 1.0, 90),
        list: list(Shape::Sample, &[("runVo2Max", SeriesType::Vo2Max)], 1.0),
    },
    Metric {
        data_type: "daily-resting-heart-rate",
        value_key: "dailyRestingHeartRate",
        series: SeriesType::RestingHeartRate,
        rollup: None,
        list: list(
            Shape::Date,
            &[("beatsPerMinute", SeriesType::RestingHeartRate)],
            1.0,
        ),
    },
    Metric {
        data_type: "heart-rate-variability",
        value_key: "heartRateVariability",
        series: SeriesType::HeartRateVariabilityRmssd,
        rollup: None,
        list: list(
            Shape::Sample,
            &[
                (
                    "rootMeanSquareOfSuccessiveDifferencesMilliseconds",
                    SeriesType::HeartRateVariabilityRmssd,
                ),
                (
                    "standardDeviationMilliseconds",
                    SeriesType::HeartRateVariabilitySdnn,
                ),
            ],
            1.0,
        ),
    },
    Metric {
        data_type: "weight",
        value_key: "weight",
        series: SeriesType::Weight,
        rollup: roll("weightGramsAvg", 0.001, 90),
        list: list(Shape::Sample, &[("weightGrams", SeriesType::Weight)], 0.001),
    },
    Metric {
        data_type: "body-fat",
        value_key: "bodyFat",
        series: SeriesType::BodyFatPercentage,
        rollup: roll("bodyFatPercentageAvg", 1.0, 90),
        list: list(
            Shape::Sample,
            &[("percentage", SeriesType::BodyFatPercentage)],
            1.0,
        ),
    },
    Metric {
        data_type: "core-body-temperature",
        value_key: "coreBodyTemperature",
        series: SeriesType::BodyTemperature,
        rollup: roll("temperatureCelsiusAvg", 1.0, 90),
        list: list(
            Shape::Sample,
            &[("celsius", SeriesType::BodyTemperature)],
            1.0,
        ),
    },
    Metric {
        data_type: "blood-glucose",
        value_key: "bloodGlucose",
        series: SeriesType::BloodGlucose,
        rollup: roll("bloodGlucoseMilligramsPerDeciliterAvg", 1.0, 90),
        list: list(
            Shape::Sample,
            &[(
                "bloodGlucoseMilligramsPerDeciliter",
                SeriesType::BloodGlucose,
            )],
            1.0,
        ),
    },
    Metric {
        data_type: "daily-respiratory-rate",
        value_key: "dailyRespiratoryRate",
        series: SeriesType::RespiratoryRate,
        rollup: None,
        list: list(
            Shape::Date,
            &[("breathsPerMinute", SeriesType::RespiratoryRate)],
            1.0,
        ),
    },
    Metric {
        data_type: "oxygen-saturation",
        value_key: "oxygenSaturation",
        series: SeriesType::OxygenSaturation,
        rollup: None,
        list: list(
            Shape::Sample,
            &[("percentage", SeriesType::OxygenSaturation)],
            1.0,
        ),
    },
];

/// A registered metric by data type.
pub fn metric(data_type: &str) -> Option<&'static Metric> {
    METRICS.iter().find(|m| m.data_type == data_type)
}

/// The data granularity (`DEFAULT_DATA_GRANULARITY` in the reference).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Raw,
    Hourly,
    Daily,
}

impl Granularity {
    /// `raw` | `hourly` | `daily` (case-insensitive); anything else is `raw`.
    pub fn parse(s: Option<&str>) -> Self {
        match s.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
            Some("hourly") => Self::Hourly,
            Some("daily") => Self::Daily,
            _ => Self::Raw,
        }
    }
}

/// Which operation fetches a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// list (`reconcile = false`) or reconcile.
    Native { reconcile: bool },
    /// rollUp with this window in seconds.
    Rollup { window_seconds: i64 },
}

/// The operation for `m` at granularity `g` (providers.md §4.8.2 "Operation choice").
pub fn operation(m: &Metric, g: Granularity, use_reconcile: bool) -> Option<Op> {
    let window_seconds = if g == Granularity::Daily {
        86_400
    } else {
        3600
    };
    match (m.rollup.is_some(), m.list.is_some()) {
        (true, false) => Some(Op::Rollup { window_seconds }),
        (false, true) => Some(Op::Native {
            reconcile: use_reconcile,
        }),
        (true, true) if g == Granularity::Raw => Some(Op::Native {
            reconcile: use_reconcile,
        }),
        (true, true) => Some(Op::Rollup { window_seconds }),
        (false, false) => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Value helpers
// ---------------------------------------------------------------------------------------------

/// A number that may arrive as a JSON number or a string (int64 fields).
fn as_num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The number at a dotted path (`amountConsumed.milliliters`).
fn num_at(v: &Value, path: &str) -> Option<f64> {
    let mut cur = v;
    for key in path.split('.') {
        cur = cur.get(key)?;
    }
    as_num(cur)
}

pub(super) fn ts(v: Option<&Value>) -> Option<DateTime<Utc>> {
    v.and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.to_utc())
}

/// `"7200s"` → `"+02:00"`, `"-18000s"` → `"-05:00"`.
pub fn zone_from_offset(v: Option<&Value>) -> Option<String> {
    let secs = match v? {
        Value::String(s) => s.trim().trim_end_matches('s').parse::<f64>().ok()?,
        other => as_num(other)?,
    } as i64;
    let sign = if secs < 0 { '-' } else { '+' };
    let abs = secs.abs();
    Some(format!("{sign}{:02}:{:02}", abs / 3600, (abs % 3600) / 60))
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn day(t: DateTime<Utc>, shift: i64) -> String {
    (t.date_naive() + Duration::days(shift))
        .format("%Y-%m-%d")
        .to_string()
}

fn date_midnight(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let v = v?;
    let n = |k: &str| v.get(k).and_then(as_num).map(|f| f as i64);
    NaiveDate::from_ymd_opt(
        i32::try_from(n("year")?).ok()?,
        u32::try_from(n("month")?).ok()?,
        u32::try_from(n("day")?).ok()?,
    )
    .and_then(|d| d.and_hms_opt(0, 0, 0))
    .map(|d| d.and_utc())
}

/// The AIP-160 filter of a native call over `[start, end)`.
pub fn native_filter(
    data_type: &str,
    shape: Shape,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> String {
    let f = data_type.replace('-', "_");
    let range = |field: String, lo: String, hi: String| {
        format!("{field} >= \"{lo}\" AND {field} < \"{hi}\"")
    };
    match shape {
        Shape::Interval => range(
            format!("{f}.interval.start_time"),
            rfc3339(start),
            rfc3339(end),
        ),
        Shape::Session => range(
            format!("{f}.interval.civil_start_time"),
            day(start, -1),
            day(end, 1),
        ),
        Shape::Sample => range(
            format!("{f}.sample_time.physical_time"),
            rfc3339(start),
            rfc3339(end),
        ),
        Shape::Date => range(format!("{f}.date"), day(start, 0), day(end, 1)),
    }
}

// ---------------------------------------------------------------------------------------------
// Mapping
// ---------------------------------------------------------------------------------------------

/// Maps one native (list / reconcile) point of `m`; points outside `[start, end)` are dropped.
pub fn map_native_point(
    m: &Metric,
    point: &Value,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<PulledSample> {
    let Some(spec) = m.list else {
        return Vec::new();
    };
    let Some(obj) = point.get(m.value_key) else {
        return Vec::new();
    };
    let (at, zone) = match spec.shape {
        Shape::Interval | Shape::Session => {
            let interval = obj.get("interval");
            let at = ts(interval.and_then(|i| i.get("startTime")))
                .or_else(|| ts(interval.and_then(|i| i.get("endTime"))));
            (
                at,
                zone_from_offset(interval.and_then(|i| i.get("startUtcOffset"))),
            )
        }
        Shape::Sample => {
            let sample = obj.get("sampleTime");
            (
                ts(sample.and_then(|s| s.get("physicalTime"))),
                zone_from_offset(sample.and_then(|s| s.get("utcOffset"))),
            )
        }
        Shape::Date => (date_midnight(obj.get("date")), None),
    };
    let Some(at) = at.filter(|t| *t >= start && *t < end) else {
        return Vec::new();
    };
    let daily_total = (spec.shape == Shape::Date).then_some(true);
    spec.fields
        .iter()
        .filter_map(|(field, series)| {
            num_at(obj, field).map(|v| PulledSample {
                series: *series,
                at,
                value: v * spec.scale,
                zone: zone.clone(),
                daily_total,
            })
        })
        .collect()
}

/// Maps one rollUp point of `m`. Zeros are skipped (Google sends 0 for fields a device does
/// not measure; a 0 adds nothing to a sum).
pub fn map_rollup_point(m: &Metric, point: &Value, g: Granularity) -> Option<PulledSample> {
    let spec = m.rollup?;
    let at = ts(point.get("startTime"))?;
    let value = num_at(point.get(m.value_key)?, spec.field)? * spec.scale;
    if value == 0.0 {
        return None;
    }
    Some(PulledSample {
        series: m.series,
        at,
        value,
        zone: None,
        daily_total: m.series.is_daily_total().map(|_| g == Granularity::Daily),
    })
}

/// `exercise.exerciseType` → unified workout type (providers.md Appendix A, Google table).
pub fn workout_type(raw: &str) -> WorkoutType {
    use WorkoutType as W;
    match raw.trim().to_ascii_uppercase().as_str() {
        "RUNNING" | "INCLINE_RUN" => W::Running,
        "TRAIL_RUN" => W::TrailRunning,
        "TREADMILL" | "TREADMILL_WALK" => W::Treadmill,
        "WALKING" | "INCLINE_WALK" | "NORDIC_WALKING" | "STROLLER_WALK" => W::Walking,
        "POWER_WALKING" | "WALK_WITH_WEIGHTS" => W::WalkingFitness,
        "RUCKING" | "HIKING" | "BACKPACKING" => W::Hiking,
        "BIKING" | "OUTDOOR_BIKE" | "HAND_CYCLING" | "UNICYCLING" => W::Cycling,
        "MOUNTAIN_BIKE" => W::MountainBiking,
        "STATIONARY_BIKE" | "ASSAULT_BIKE" | "SPINNING" => W::IndoorCycling,
        "ELECTRIC_BIKE" => W::EBiking,
        "SWIMMING" | "SYNCHRONIZED_SWIMMING" => W::Swimming,
        "SWIMMING_POOL" => W::PoolSwimming,
        "SWIMMING_OPEN_WATER" => W::OpenWaterSwimming,
        "ROWING" => W::Rowing,
        "ROWING_MACHINE" => W::RowingMachine,
        "KAYAKING" => W::Kayaking,
        "CANOEING" => W::Canoeing,
        "PADDLEBOARDING" => W::StandUpPaddleboarding,
        "SURFING" => W::Surfing,
        "FOILING" | "WATER_AEROBICS" | "WATER_JOGGING" | "WATER_VOLLEYBALL" | "WATER_SPORT" => {
            W::WaterSports
        }
        "KITESURFING" => W::Kitesurfing,
        "WINDSURFING" => W::Windsurfing,
        "SAILING" => W::Sailing,
        "WAKEBOARDING" => W::Wakeboarding,
        "WATER_SKIING" => W::WaterSkiing,
        "WATER_POLO" => W::WaterPolo,
        "STRENGTH_TRAINING"
        | "FUNCTIONAL_STRENGTH_TRAINING"
        | "CORE_TRAINING"
        | "BODY_WEIGHT"
        | "CALISTHENICS"
        | "POWERLIFTING"
        | "WEIGHTLIFTING"
        | "FREE_WEIGHTS"
        | "WEIGHTS"
        | "WEIGHT_MACHINES"
        | "RESISTANCE_BANDS"
        | "TRX"
        | "CROSSFIT" => W::StrengthTraining,
        "ELLIPTICAL" => W::Elliptical,
        "STAIRCLIMBER" | "STEP_TRAINING" => W::StairClimbing,
        "JUMPING_ROPE" | "CARDIO_WORKOUT" | "CARDIO_SCULPT" | "HIIT" | "TABATA_WORKOUT"
        | "INTERVAL_WORKOUT" | "CIRCUIT_TRAINING" | "CROSS_TRAINING" | "BOOTCAMP" => {
            W::CardioTraining
        }
        "AEROBIC_WORKOUT" => W::Aerobics,
        "FITNESS_GAMING" => W::Gaming,
        "EXERCISE_CLASS" | "BARRE_CLASS" => W::GroupExercise,
        "OUTDOOR_WORKOUT" | "WORKOUT" => W::Generic,
        "YOGA" | "YOGA_BIKRAM" | "YOGA_HATHA" | "YOGA_POWER" | "YOGA_VINYASA" => W::Yoga,
        "PILATES" => W::Pilates,
        "STRETCHING" => W::Stretching,
        "MEDITATE" => W::Meditation,
        "TAI_CHI" | "KICKBOXING" | "MARTIAL_ARTS" | "JIU_JITSU" | "KARATE" | "TAEKWONDO"
        | "MUAY_THAI" => W::MartialArts,
        "SKIING" => W::DownhillSkiing,
        "CROSS_COUNTRY_SKI" => W::CrossCountrySkiing,
        "SNOWBOARDING" => W::Snowboarding,
        "SNOWSHOEING" => W::Snowshoeing,
        "SNOWMOBILING" => W::Snowmobiling,
        "ICE_SKATING" | "SPEED_SKATING" => W::IceSkating,
        "SNOW_SPORT" => W::SnowSports,
        "SOCCER" => W::Soccer,
        "BASKETBALL" => W::Basketball,
        "BASEBALL" | "SOFTBALL" => W::Baseball,
        "FOOTBALL_AMERICAN" => W::AmericanFootball,
        "FOOTBALL_AUSTRALIAN" => W::Football,
        "VOLLEYBALL" | "VOLLEYBALL_BEACH" => W::Volleyball,
        "HANDBALL" => W::Handball,
        "RUGBY" => W::Rugby,
        "HOCKEY" | "FIELD_HOCKEY" => W::Hockey,
        "LACROSSE" => W::Lacrosse,
        "CRICKET" => W::Cricket,
        "TENNIS" => W::Tennis,
        "TABLE_TENNIS" => W::TableTennis,
        "BADMINTON" => W::Badminton,
        "SQUASH" => W::Squash,
        "PADEL" => W::Padel,
        "PICKELBALL" => W::Pickleball,
        "RACQUETBALL" => W::Racquetball,
        "RACKET_SPORTS" => W::RacketSports,
        "BOXING" => W::Boxing,
        "WRESTLING" => W::Wrestling,
        "FENCING" => W::Fencing,
        "CLIMBING" | "ROCK_CLIMBING" => W::RockClimbing,
        "INDOOR_CLIMBING" => W::IndoorClimbing,
        "ORIENTEERING" => W::Orienteering,
        "ARCHERY" => W::Archery,
        "FISHING" => W::Fishing,
        "HUNTING" => W::Hunting,
        "PARAGLIDING" => W::Paragliding,
        "PARKOUR" => W::Parkour,
        "EQUESTRIAN_SPORTS" => W::HorsebackRiding,
        "GOLF" => W::Golf,
        "SKATING" | "ROLLER_SKATING" => W::Skating,
        "ROLLERBLADING" => W::InlineSkating,
        "SKATEBOARDING" => W::Skateboarding,
        "GYMNASTICS" | "TRAMPOLINE" | "CHEERLEADING" => W::Gymnastics,
        "BOWLING" => W::Bowling,
        "CURLING" => W::Curling,
        "FRISBEE_PLAYING_GENERAL" | "ULTIMATE_FRISBEE" => W::DiscSports,
        "TRACK_AND_FIELD" | "SPORT" => W::Sport,
        "MULTISPORT" => W::Multisport,
        "DANCING" | "BALLET" | "BALLROOM_DANCE" | "BREAKDANCING" | "HIP_HOP" | "JAZZ_DANCE"
        | "MODERN_DANCE" | "TANGO" | "ZUMBA" => W::Dance,
        "MOTORCYCLE" => W::Motorcycling,
        "MOTOCROSS" => W::MotorSports,
        "DIVING" | "SCUBA_DIVING" => W::Diving,
        "SNORKELING" => W::Snorkeling,
        "WHEELCHAIR" => W::Wheelchair,
        "CLEANING" | "HOUSEHOLD_CHORES" | "GARDENING" | "MOWING_LAWN" | "SHOVELING" | "WEEDING"
        | "HOEING" | "CARPENTRY" => W::Chores,
        _ => W::Other,
    }
}

/// Maps one exercise point; `None` without a usable interval.
pub fn map_exercise(point: &Value) -> Option<PulledWorkout> {
    let ex = point.get("exercise")?;
    let interval = ex.get("interval")?;
    let start = ts(interval.get("startTime"))?;
    let end = ts(interval.get("endTime"))?;
    let m = ex.get("metricsSummary").cloned().unwrap_or(Value::Null);
    let n = |path: &str| num_at(&m, path);
    let raw_type = ex.get("exerciseType").and_then(Value::as_str).unwrap_or("");
    Some(PulledWorkout {
        external_id: point
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string),
        workout_type: Some(workout_type(raw_type).code().to_string()),
        start,
        end,
        zone: zone_from_offset(interval.get("startUtcOffset")),
        details: WorkoutDetails {
            energy_burned: n("caloriesKcal").unwrap_or(0.0),
            distance: n("distanceMillimeters").map(|v| v * 0.001),
            steps_count: n("steps").map(|v| v as i64),
            heart_rate_avg: n("averageHeartRateBeatsPerMinute"),
            average_speed: n("averageSpeedMillimetersPerSecond").map(|v| v * 0.001),
            total_elevation_gain: n("elevationGainMillimeters").map(|v| v * 0.001),
            ..WorkoutDetails::default()
        },
    })
}

fn sleep_stage(raw: &str) -> SleepStage {
    match raw {
        "AWAKE" => SleepStage::Awake,
        "LIGHT" => SleepStage::Light,
        "DEEP" => SleepStage::Deep,
        "REM" => SleepStage::Rem,
        "ASLEEP" => SleepStage::Sleeping,
        _ => SleepStage::Unknown,
    }
}

/// Maps one sleep point; `None` without a usable interval.
pub fn map_sleep(point: &Value) -> Option<PulledSleep> {
    let sl = point.get("sleep")?;
    let interval = sl.get("interval")?;
    let start = ts(interval.get("startTime"))?;
    let end = ts(interval.get("endTime"))?;
    let summary = sl.get("summary").cloned().unwrap_or(Value::Null);
    let metadata = sl.get("metadata").cloned().unwrap_or(Value::Null);
    let stage_minutes = |kind: &str| -> Option<f64> {
        summary
            .get("stagesSummary")
            .and_then(Value::as_array)?
            .iter()
            .filter(|s| s.get("type").and_then(Value::as_str) == Some(kind))
            .filter_map(|s| s.get("minutes").and_then(as_num))
            .reduce(|a, b| a + b)
    };
    let in_bed = num_at(&summary, "minutesInSleepPeriod");
    let asleep = num_at(&summary, "minutesAsleep");
    let awake = stage_minutes("AWAKE").or_else(|| num_at(&summary, "minutesAwake"));
    let efficiency = match (asleep, in_bed) {
        (Some(a), Some(b)) if b > 0.0 => Some((a / b * 1000.0).round() / 10.0),
        _ => None,
    };
    let stages = sl
        .get("stages")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|s| {
                    Some(StageInterval {
                        stage: sleep_stage(s.get("type").and_then(Value::as_str).unwrap_or("")),
                        start: ts(s.get("startTime"))?,
                        end: ts(s.get("endTime"))?,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let whole = |v: Option<f64>| v.map_or(0, |m| m as i64);
    Some(PulledSleep {
        external_id: point
            .get("name")
            .and_then(Value::as_str)
            .or_else(|| metadata.get("externalId").and_then(Value::as_str))
            .map(str::to_string),
        start,
        end,
        zone: zone_from_offset(interval.get("startUtcOffset")),
        is_nap: metadata
            .get("nap")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        total_sleep_minutes: whole(asleep),
        time_in_bed_minutes: in_bed.map_or_else(|| (end - start).num_minutes(), |m| m as i64),
        deep_minutes: whole(stage_minutes("DEEP")),
        light_minutes: whole(stage_minutes("LIGHT")),
        rem_minutes: whole(stage_minutes("REM")),
        awake_minutes: whole(awake),
        efficiency,
        stages,
    })
}

// ---------------------------------------------------------------------------------------------
// Fetching
// ---------------------------------------------------------------------------------------------

fn points_path(data_type: &str, suffix: &str) -> String {
    format!("/v4/users/me/dataTypes/{data_type}/dataPoints{suffix}")
}

pub(super) fn next_token(page: &Value) -> Option<String> {
    page.get("nextPageToken")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// Every `dataPoints` of a GET list/reconcile call, following `pageToken`.
async fn list_pages(
    f: &Fetcher<'_>,
    path: &str,
    page_size: u32,
    filter: Option<String>,
) -> Result<Vec<Value>, FetchError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut q: Vec<(&str, String)> = vec![("pageSize", page_size.to_string())];
        if let Some(flt) = &filter {
            q.push(("filter", flt.clone()));
        }
        if let Some(t) = &token {
            q.push(("pageToken", t.clone()));
        }
        let page = f.get(path, &q).await?;
        if let Some(items) = page.get("dataPoints").and_then(Value::as_array) {
            out.extend(items.iter().cloned());
        }
        token = next_token(&page);
        if token.is_none() {
            break;
        }
    }
    Ok(out)
}

async fn native_samples(
    f: &Fetcher<'_>,
    m: &Metric,
    reconcile: bool,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<PulledSample>, FetchError> {
    let Some(spec) = m.list else {
        return Ok(Vec::new());
    };
    let path = points_path(m.data_type, if reconcile { ":reconcile" } else { "" });
    let filter = native_filter(m.data_type, spec.shape, start, end);
    let points = list_pages(f, &path, LIST_PAGE_SIZE, Some(filter)).await?;
    Ok(points
        .iter()
        .flat_map(|p| map_native_point(m, p, start, end))
        .collect())
}

/// Splits `[start, end)` into pieces of at most `days`.
pub fn chunks(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    days: i64,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    let mut from = start;
    while from < end {
        let to = (from + Duration::days(days.max(1))).min(end);
        out.push((from, to));
        from = to;
    }
    out
}

/// `[start, end)` widened to multiples of `window_seconds` since the epoch (UTC).
pub fn align(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    window_seconds: i64,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let w = window_seconds.max(1);
    let floor = |t: DateTime<Utc>| t.timestamp().div_euclid(w) * w;
    let lo = floor(start);
    let hi = floor(end)
        + if end.timestamp().rem_euclid(w) == 0 {
            0
        } else {
            w
        };
    (
        DateTime::from_timestamp(lo, 0).unwrap_or(start),
        DateTime::from_timestamp(hi, 0).unwrap_or(end),
    )
}

async fn rollup_samples(
    f: &Fetcher<'_>,
    m: &Metric,
    window_seconds: i64,
    g: Granularity,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<PulledSample>, FetchError> {
    let Some(spec) = m.rollup else {
        return Ok(Vec::new());
    };
    let path = points_path(m.data_type, ":rollUp");
    let page_size = (spec.max_days * (86_400 / window_seconds)).min(MAX_ROLLUP_PAGE);
    // Whole windows on UTC boundaries: an hour / a day is always rolled up complete, and a
    // later sync of the same window overwrites it with the newer total.
    let (start, end) = align(start, end, window_seconds);
    let mut out = Vec::new();
    for (from, to) in chunks(start, end, spec.max_days) {
        let mut body = json!({
            "range": {"startTime": rfc3339(from), "endTime": rfc3339(to)},
            "windowSize": format!("{window_seconds}s"),
            "pageSize": page_size,
        });
        for _ in 0..MAX_PAGES {
            let page = f
                .send(reqwest::Method::POST, &path, &[], Some(&body))
                .await?;
            if let Some(items) = page.get("rollupDataPoints").and_then(Value::as_array) {
                out.extend(items.iter().filter_map(|p| map_rollup_point(m, p, g)));
            }
            match next_token(&page) {
                Some(t) => body["pageToken"] = Value::String(t),
                None => break,
            }
        }
    }
    Ok(out)
}

/// The samples of one metric over `[start, end)` with the configured operation.
pub async fn metric_samples(
    f: &Fetcher<'_>,
    m: &Metric,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<PulledSample>, FetchError> {
    let g = granularity(f);
    match operation(m, g, use_reconcile(f)) {
        Some(Op::Native { reconcile }) => native_samples(f, m, reconcile, start, end).await,
        Some(Op::Rollup { window_seconds }) => {
            rollup_samples(f, m, window_seconds, g, start, end).await
        }
        None => Ok(Vec::new()),
    }
}

fn granularity(f: &Fetcher<'_>) -> Granularity {
    Granularity::parse(f.setting("GOOGLE_DATA_GRANULARITY"))
}

fn use_reconcile(f: &Fetcher<'_>) -> bool {
    !matches!(
        f.setting("GOOGLE_USE_RECONCILE")
            .map(|s| s.trim().to_ascii_lowercase())
            .as_deref(),
        Some("false" | "0" | "no" | "off")
    )
}

/// Exercise sessions starting in `[start, end)`. The server-side filter on the civil start
/// date (widened a day each way, any offset) replaces the reference's full-history scan
/// (Appendix C #19); the exact window is applied here.
pub async fn exercises(
    f: &Fetcher<'_>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<PulledWorkout>, FetchError> {
    let filter = format!(
        "exercise.interval.civil_start_time >= \"{}\" AND exercise.interval.civil_start_time < \"{}\"",
        day(start, -1),
        day(end, 1)
    );
    let points = list_pages(
        f,
        &points_path("exercise", ""),
        SESSION_PAGE_SIZE,
        Some(filter),
    )
    .await?;
    Ok(points
        .iter()
        .filter_map(map_exercise)
        .filter(|w| w.start >= start && w.start < end)
        .collect())
}

/// One page of exercise sessions as the Health API answers it (vendor pass-through, #52):
/// sessions whose civil start date lies in the summary window when one is given.
pub async fn vendor_workouts(
    f: &Fetcher<'_>,
    opts: &crate::providers::VendorOptions,
) -> Result<Value, FetchError> {
    let mut q: Vec<(&str, String)> = vec![(
        "pageSize",
        opts.page_size(i64::from(SESSION_PAGE_SIZE)).to_string(),
    )];
    let mut clauses = Vec::new();
    if let Some(s) = opts.start {
        clauses.push(format!(
            "exercise.interval.civil_start_time >= \"{}\"",
            day(s, 0)
        ));
    }
    if let Some(e) = opts.end {
        clauses.push(format!(
            "exercise.interval.civil_start_time < \"{}\"",
            day(e, 1)
        ));
    }
    if !clauses.is_empty() {
        q.push(("filter", clauses.join(" AND ")));
    }
    f.get_raw(&points_path("exercise", ""), &q).await
}

/// One exercise session by its data point id (vendor pass-through, #53).
pub async fn vendor_workout(f: &Fetcher<'_>, id: &str) -> Result<Value, FetchError> {
    let suffix = format!("/{}", crate::providers::path_segment(id));
    f.get_raw(&points_path("exercise", &suffix), &[]).await
}

/// Sleep sessions starting in `[start, end)` (fetched by end time ≥ window start).
pub async fn sleeps(
    f: &Fetcher<'_>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<PulledSleep>, FetchError> {
    let filter = format!("sleep.interval.end_time >= \"{}\"", rfc3339(start));
    let points = list_pages(
        f,
        &points_path("sleep", ""),
        SESSION_PAGE_SIZE,
        Some(filter),
    )
    .await?;
    Ok(points
        .iter()
        .filter_map(map_sleep)
        .filter(|s| s.start >= start && s.start < end)
        .collect())
}

/// Counts one data type's outcome: Permanent failures are logged and counted, the others
/// propagate (the window is retried).
fn settle<T>(
    name: &str,
    r: Result<T, FetchError>,
    failures: &mut Vec<String>,
) -> Result<Option<T>, FetchError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(FetchError::Permanent(m)) => {
            tracing::warn!(
                provider = "google",
                data_type = name,
                "data type failed: {m}"
            );
            failures.push(format!("{name}: {m}"));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Pulls `[start, end)`: every metric, exercise sessions and sleep sessions. One data type
/// failing permanently does not lose the others; the window fails only when all of them did.
pub async fn pull(
    f: &Fetcher<'_>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Pulled, FetchError> {
    let mut out = Pulled {
        source_name: "Google Health".into(),
        device_model: None,
        ..Pulled::default()
    };
    let mut failures = Vec::new();
    let mut attempted = 0;
    for m in &METRICS {
        attempted += 1;
        if let Some(s) = settle(
            m.data_type,
            metric_samples(f, m, start, end).await,
            &mut failures,
        )? {
            out.samples.extend(s);
        }
    }
    attempted += 2;
    if let Some(w) = settle("exercise", exercises(f, start, end).await, &mut failures)? {
        out.workouts = w;
    }
    if let Some(s) = settle("sleep", sleeps(f, start, end).await, &mut failures)? {
        out.sleeps = s;
    }
    if failures.len() == attempted {
        return Err(FetchError::Permanent(format!(
            "every Google data type failed: {}",
            failures.join("; ")
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").to_utc()
    }

    #[test]
    fn offsets_and_lenient_numbers() {
        assert_eq!(
            zone_from_offset(Some(&json!("7200s"))).as_deref(),
            Some("+02:00")
        );
        assert_eq!(
            zone_from_offset(Some(&json!("-16200s"))).as_deref(),
            Some("-04:30")
        );
        assert_eq!(
            zone_from_offset(Some(&json!("0s"))).as_deref(),
            Some("+00:00")
        );
        assert_eq!(zone_from_offset(None), None);
        assert_eq!(num_at(&json!({"a": {"b": "1184"}}), "a.b"), Some(1184.0));
        assert_eq!(num_at(&json!({"a": 2.5}), "a"), Some(2.5));
    }

    #[test]
    fn the_operation_follows_granularity_and_reconcile() {
        let steps = metric("steps").expect("steps");
        let cal = metric("total-calories").expect("calories");
        let rhr = metric("daily-resting-heart-rate").expect("rhr");
        assert_eq!(
            operation(steps, Granularity::Raw, true),
            Some(Op::Native { reconcile: true })
        );
        assert_eq!(
            operation(steps, Granularity::Daily, true),
            Some(Op::Rollup {
                window_seconds: 86_400
            })
        );
        assert_eq!(
            operation(cal, Granularity::Raw, true),
            Some(Op::Rollup {
                window_seconds: 3600
            }),
            "rollUp-only types fall back to hourly"
        );
        assert_eq!(
            operation(rhr, Granularity::Daily, false),
            Some(Op::Native { reconcile: false }),
            "list-only types stay native"
        );
        assert_eq!(Granularity::parse(Some("DAILY")), Granularity::Daily);
        assert_eq!(Granularity::parse(None), Granularity::Raw);
    }

    #[test]
    fn filters_per_time_shape() {
        let (s, e) = (t("2024-06-01T12:00:00Z"), t("2024-06-03T00:00:00Z"));
        assert_eq!(
            native_filter("steps", Shape::Interval, s, e),
            "steps.interval.start_time >= \"2024-06-01T12:00:00Z\" AND steps.interval.start_time < \"2024-06-03T00:00:00Z\""
        );
        assert_eq!(
            native_filter("hydration-log", Shape::Session, s, e),
            "hydration_log.interval.civil_start_time >= \"2024-05-31\" AND hydration_log.interval.civil_start_time < \"2024-06-04\""
        );
        assert_eq!(
            native_filter("heart-rate", Shape::Sample, s, e),
            "heart_rate.sample_time.physical_time >= \"2024-06-01T12:00:00Z\" AND heart_rate.sample_time.physical_time < \"2024-06-03T00:00:00Z\""
        );
        assert_eq!(
            native_filter("daily-resting-heart-rate", Shape::Date, s, e),
            "daily_resting_heart_rate.date >= \"2024-06-01\" AND daily_resting_heart_rate.date < \"2024-06-04\""
        );
    }

    #[test]
    fn native_points_map_with_offsets_scales_and_the_window() {
        let (s, e) = (t("2024-06-01T00:00:00Z"), t("2024-06-05T00:00:00Z"));
        let hr = json!({"name":"users/me/dataTypes/heart-rate/dataPoints/7f3a21","dataSource":{"platform":"FITBIT",
            "device":{"displayName":"Pixel Watch 2"}},"heartRate":{"sampleTime":{"physicalTime":"2024-06-03T08:14:05Z",
            "utcOffset":"7200s"},"beatsPerMinute":"88"}});
        let got = map_native_point(metric("heart-rate").expect("m"), &hr, s, e);
        assert_eq!(
            got,
            vec![PulledSample {
                series: SeriesType::HeartRate,
                at: t("2024-06-03T08:14:05Z"),
                value: 88.0,
                zone: Some("+02:00".into()),
                daily_total: None,
            }]
        );
        let rhr = json!({"name":"users/me/dataTypes/daily-resting-heart-rate/dataPoints/d0603",
            "dailyRestingHeartRate":{"date":{"year":2024,"month":6,"day":3},"beatsPerMinute":"57"}});
        let got = map_native_point(metric("daily-resting-heart-rate").expect("m"), &rhr, s, e);
        assert_eq!(got[0].at, t("2024-06-03T00:00:00Z"));
        assert_eq!((got[0].value, got[0].daily_total), (57.0, Some(true)));
        let dist = json!({"distance":{"interval":{"startTime":"2024-06-03T08:00:00Z","endTime":"2024-06-03T09:00:00Z",
            "startUtcOffset":"-18000s"},"millimeters":"1250000"}});
        let got = map_native_point(metric("distance").expect("m"), &dist, s, e);
        assert_eq!(
            (got[0].value, got[0].zone.as_deref()),
            (1250.0, Some("-05:00"))
        );
        let w = json!({"weight":{"sampleTime":{"physicalTime":"2024-06-02T06:30:00Z"},"weightGrams":72450}});
        assert_eq!(
            map_native_point(metric("weight").expect("m"), &w, s, e)[0].value,
            72.45
        );
        let hrv = json!({"heartRateVariability":{"sampleTime":{"physicalTime":"2024-06-02T03:00:00Z"},
            "rootMeanSquareOfSuccessiveDifferencesMilliseconds":41.5,"standardDeviationMilliseconds":"55.2"}});
        let got = map_native_point(metric("heart-rate-variability").expect("m"), &hrv, s, e);
        assert_eq!(
            got.iter().map(|p| (p.series, p.value)).collect::<Vec<_>>(),
            vec![
                (SeriesType::HeartRateVariabilityRmssd, 41.5),
                (SeriesType::HeartRateVariabilitySdnn, 55.2)
            ]
        );
        let outside = json!({"heartRate":{"sampleTime":{"physicalTime":"2024-06-05T00:00:00Z"},"beatsPerMinute":70}});
        assert!(map_native_point(metric("heart-rate").expect("m"), &outside, s, e).is_empty());
    }

    #[test]
    fn rollup_points_map_and_skip_zeros() {
        let steps = metric("steps").expect("m");
        let p = json!({"startTime":"2024-06-03T08:00:00Z","endTime":"2024-06-03T09:00:00Z","steps":{"countSum":"1184"}});
        let s = map_rollup_point(steps, &p, Granularity::Hourly).expect("sample");
        assert_eq!(
            (s.at, s.value, s.daily_total),
            (t("2024-06-03T08:00:00Z"), 1184.0, Some(false))
        );
        let s = map_rollup_point(steps, &p, Granularity::Daily).expect("sample");
        assert_eq!(s.daily_total, Some(true));
        let zero = json!({"startTime":"2024-06-03T09:00:00Z","steps":{"countSum":"0"}});
        assert!(map_rollup_point(steps, &zero, Granularity::Hourly).is_none());
        let water = json!({"startTime":"2024-06-03T09:00:00Z","hydrationLog":{"amountConsumed":{"millilitersSum":750}}});
        let s = map_rollup_point(
            metric("hydration-log").expect("m"),
            &water,
            Granularity::Daily,
        )
        .expect("sample");
        assert_eq!((s.series, s.value), (SeriesType::Hydration, 750.0));
        let hr = json!({"startTime":"2024-06-03T09:00:00Z","heartRate":{"beatsPerMinuteAvg":71.4}});
        let s = map_rollup_point(metric("heart-rate").expect("m"), &hr, Granularity::Daily)
            .expect("sample");
        assert_eq!(s.daily_total, None, "averages are never daily totals");
    }

    #[test]
    fn an_exercise_maps_to_a_workout_in_metres_and_m_per_s() {
        let p = json!({"name":"users/me/dataTypes/exercise/dataPoints/ex-5521","dataSource":{"platform":"HEALTH_CONNECT",
            "device":{"manufacturer":"Samsung","formFactor":"WATCH"}},"exercise":{"exerciseType":"RUNNING",
            "interval":{"startTime":"2024-06-03T16:00:00Z","endTime":"2024-06-03T16:42:10Z","startUtcOffset":"7200s"},
            "activeDuration":"2490s","metricsSummary":{"caloriesKcal":431.5,"distanceMillimeters":"7310000","steps":"6890",
            "averageSpeedMillimetersPerSecond":2935,"averageHeartRateBeatsPerMinute":152,"elevationGainMillimeters":"48000",
            "mobilityMetrics":{"avgCadenceStepsPerMinute":164}}}});
        let w = map_exercise(&p).expect("workout");
        assert_eq!(w.workout_type.as_deref(), Some("running"));
        assert_eq!(
            w.external_id.as_deref(),
            Some("users/me/dataTypes/exercise/dataPoints/ex-5521")
        );
        assert_eq!(
            (w.start, w.end),
            (t("2024-06-03T16:00:00Z"), t("2024-06-03T16:42:10Z"))
        );
        assert_eq!(w.zone.as_deref(), Some("+02:00"));
        let d = &w.details;
        assert_eq!(d.energy_burned, 431.5);
        assert_eq!(d.distance, Some(7310.0));
        assert_eq!(d.steps_count, Some(6890));
        assert_eq!(d.heart_rate_avg, Some(152.0));
        assert!((d.average_speed.unwrap_or_default() - 2.935).abs() < 1e-9);
        assert_eq!(d.total_elevation_gain, Some(48.0));
    }

    #[test]
    fn workout_types_follow_appendix_a() {
        for (raw, code) in [
            ("RUNNING", "running"),
            (" trail_run ", "trail_running"),
            ("BIKING", "cycling"),
            ("SWIMMING_OPEN_WATER", "open_water_swimming"),
            ("PADDLEBOARDING", "stand_up_paddleboarding"),
            ("CROSSFIT", "strength_training"),
            ("HIIT", "cardio_training"),
            ("MEDITATE", "meditation"),
            ("SKIING", "downhill_skiing"),
            ("FOOTBALL_AUSTRALIAN", "football"),
            ("PICKELBALL", "pickleball"),
            ("EQUESTRIAN_SPORTS", "horseback_riding"),
            ("WORKOUT", "generic"),
            ("MOWING_LAWN", "chores"),
            ("EXERCISE_TYPE_UNSPECIFIED", "other"),
            ("NOT_A_SPORT", "other"),
        ] {
            assert_eq!(workout_type(raw).code(), code, "{raw}");
        }
    }

    #[test]
    fn a_sleep_point_maps_stages_minutes_and_efficiency() {
        let p = json!({"name":"users/me/dataTypes/sleep/dataPoints/sl-0603","dataSource":{"platform":"FITBIT"},
            "sleep":{"interval":{"startTime":"2024-06-02T21:40:00Z","endTime":"2024-06-03T05:10:00Z","startUtcOffset":"7200s"},
            "metadata":{"nap":false},"summary":{"minutesInSleepPeriod":450,"minutesAsleep":412,"minutesAwake":38,
            "stagesSummary":[{"type":"DEEP","minutes":71},{"type":"LIGHT","minutes":239},{"type":"REM","minutes":102},{"type":"AWAKE","minutes":38}]},
            "stages":[{"type":"LIGHT","startTime":"2024-06-02T21:40:00Z","endTime":"2024-06-02T22:15:00Z"},
                      {"type":"DEEP","startTime":"2024-06-02T22:15:00Z","endTime":"2024-06-02T23:05:00Z"},
                      {"type":"RESTLESS","startTime":"2024-06-02T23:05:00Z","endTime":"2024-06-02T23:10:00Z"}]}});
        let s = map_sleep(&p).expect("sleep");
        assert_eq!(
            s.external_id.as_deref(),
            Some("users/me/dataTypes/sleep/dataPoints/sl-0603")
        );
        assert_eq!((s.total_sleep_minutes, s.time_in_bed_minutes), (412, 450));
        assert_eq!(
            (
                s.deep_minutes,
                s.light_minutes,
                s.rem_minutes,
                s.awake_minutes
            ),
            (71, 239, 102, 38)
        );
        assert_eq!(s.efficiency, Some(91.6));
        assert!(!s.is_nap);
        assert_eq!(s.zone.as_deref(), Some("+02:00"));
        assert_eq!(
            s.stages.iter().map(|x| x.stage).collect::<Vec<_>>(),
            vec![SleepStage::Light, SleepStage::Deep, SleepStage::Unknown]
        );
        let nap = json!({"sleep":{"interval":{"startTime":"2024-06-03T13:00:00Z","endTime":"2024-06-03T13:30:00Z"},
            "metadata":{"nap":true,"externalId":"hc-nap-1"},"summary":{"minutesAsleep":25,"minutesAwake":5}}});
        let n = map_sleep(&nap).expect("nap");
        assert!(n.is_nap);
        assert_eq!(n.external_id.as_deref(), Some("hc-nap-1"));
        assert_eq!((n.time_in_bed_minutes, n.awake_minutes), (30, 5));
    }

    #[test]
    fn rollup_chunks_respect_the_range_cap() {
        let c = chunks(t("2024-05-01T00:00:00Z"), t("2024-05-31T00:00:00Z"), 14);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].1, t("2024-05-15T00:00:00Z"));
        assert_eq!(c[2], (t("2024-05-29T00:00:00Z"), t("2024-05-31T00:00:00Z")));
    }

    #[test]
    fn rollup_ranges_align_to_whole_windows() {
        assert_eq!(
            align(t("2024-05-12T12:00:00Z"), t("2024-06-10T12:30:00Z"), 86_400),
            (t("2024-05-12T00:00:00Z"), t("2024-06-11T00:00:00Z"))
        );
        assert_eq!(
            align(t("2024-06-10T12:00:00Z"), t("2024-06-10T13:00:00Z"), 3600),
            (t("2024-06-10T12:00:00Z"), t("2024-06-10T13:00:00Z"))
        );
    }
}

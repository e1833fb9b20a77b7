//! Google Health API (providers.md §4.8): the pull client and its mapping, the webhook
//! (bearer-secret notifications and the verification handshake), the username lookup and the
//! project subscriber's management (service-account token from a signed RS256 assertion).
//!
//! Three fetch operations per data type: `dataPoints` (list, per source), `dataPoints:reconcile`
//! (merged across sources) and `dataPoints:rollUp` (windowed aggregates, range-capped per
//! type). The operation is chosen per metric from the data granularity (`GOOGLE_DATA_GRANULARITY`
//! = `raw` | `hourly` | `daily`, default `raw`) and `GOOGLE_USE_RECONCILE` (default true).
//! Exercise and sleep sessions come from their own list calls.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Value, json};

use super::subscriptions::{
    SubscriptionCtx, SubscriptionError, SubscriptionOp, SubscriptionResult, op_status,
};
use super::sync::{FetchError, Fetcher, Pulled, PulledSample, PulledSleep, PulledWorkout};
use super::webhook::{WebhookError, WebhookEvent, WebhookReply, WebhookRequest, constant_time_eq};
use crate::domain::provider::Provider;
use crate::domain::sdk::WorkoutDetails;
use crate::domain::series::SeriesType;
use crate::domain::sleep::{SleepStage, StageInterval};
use crate::domain::workout::WorkoutType;

/// Page size of the list / reconcile calls of 24/7 metrics.
const LIST_PAGE_SIZE: u32 = 1000;
/// Page size of exercise and sleep lists (Google's maximum for sessions).
const SESSION_PAGE_SIZE: u32 = 25;
/// Upper bound of one rollUp page.
const MAX_ROLLUP_PAGE: i64 = 10_000;
/// Pages followed per call at most (a guard against a provider that never stops paging).
const MAX_PAGES: usize = 1000;

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

fn ts(v: Option<&Value>) -> Option<DateTime<Utc>> {
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

fn next_token(page: &Value) -> Option<String> {
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
    opts: &super::VendorOptions,
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
    let suffix = format!("/{}", super::path_segment(id));
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

/// The user-info origin: `www.googleapis.com`, or the configured override of the API origin.
pub fn userinfo_url(api_base: &str) -> String {
    let base = if api_base.trim_end_matches('/') == "https://health.googleapis.com" {
        "https://www.googleapis.com"
    } else {
        api_base.trim_end_matches('/')
    };
    format!("{base}/oauth2/v3/userinfo")
}

/// The account's e-mail from the OpenID user info (best effort: `None` on any failure).
pub async fn username(http: &reqwest::Client, api_base: &str, token: &str) -> Option<String> {
    let resp = http
        .get(userinfo_url(api_base))
        .bearer_auth(token)
        .timeout(std::time::Duration::from_secs(30))
        .send()
        .await
        .ok()?
        .error_for_status()
        .ok()?;
    let v: Value = resp.json().await.ok()?;
    v.get("email").and_then(Value::as_str).map(str::to_string)
}

// ---------------------------------------------------------------------------------------------
// Webhook
// ---------------------------------------------------------------------------------------------

/// Data types whose notifications trigger a pull (the registry plus the two sessions).
fn notifies(data_type: &str) -> bool {
    data_type == "exercise" || data_type == "sleep" || metric(data_type).is_some()
}

/// One notification's event: `None` for deletes, unknown data types, missing users or
/// intervals. The window spans the changed intervals, widened a day each way so sessions
/// (whose interval is the notified one) fall inside it.
fn notification_event(item: &Value) -> Option<WebhookEvent> {
    let data = item.get("data")?;
    if data.get("operation").and_then(Value::as_str) == Some("DELETE") {
        return None;
    }
    if !notifies(data.get("dataType").and_then(Value::as_str)?) {
        return None;
    }
    let user = match data.get("healthUserId")? {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    for i in data.get("intervals").and_then(Value::as_array)? {
        let p = i.get("physicalTimeInterval");
        if let Some(t) = ts(p.and_then(|p| p.get("startTime"))) {
            starts.push(t);
        }
        if let Some(t) = ts(p.and_then(|p| p.get("endTime"))) {
            ends.push(t);
        }
    }
    let (start, end) = (starts.into_iter().min()?, ends.into_iter().max()?);
    Some(WebhookEvent::Sync {
        provider_user_id: user,
        start: start - Duration::days(1),
        end: end.max(start) + Duration::days(1),
    })
}

/// Verifies and parses one inbound Google Health webhook call (api.md §15.1): the
/// `Authorization` header must be exactly `Bearer <GOOGLE_WEBHOOK_SECRET, else derived>`
/// (see [`crate::keys::GOOGLE_WEBHOOK_SECRET`]);
/// `{"type":"verification"}` answers `{"status":"verified"}`; notifications (one object or a
/// JSON array of them) become sync windows of the named `healthUserId`.
pub fn webhook(req: &WebhookRequest<'_>) -> Result<WebhookReply, WebhookError> {
    if *req.method == axum::http::Method::GET {
        return Err(WebhookError::NotSupported(
            "Provider 'google' does not support webhook verification requests (GET)".into(),
        ));
    }
    let expected = format!(
        "Bearer {}",
        req.chosen_secret(crate::keys::GOOGLE_WEBHOOK_SECRET)
    );
    let given = req.header("authorization").unwrap_or("");
    if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return Err(WebhookError::bad_signature());
    }
    let body = req.json()?;
    let items: Vec<Value> = match body {
        Value::Object(_) if body.get("type").and_then(Value::as_str) == Some("verification") => {
            return Ok(WebhookReply::Respond(
                axum::http::StatusCode::OK,
                json!({"status": "verified"}),
            ));
        }
        Value::Object(_) => vec![body],
        Value::Array(items) => items,
        _ => return Err(WebhookError::BadRequest("Invalid JSON body".into())),
    };
    Ok(WebhookReply::Accept(
        items.iter().filter_map(notification_event).collect(),
    ))
}

// ---------------------------------------------------------------------------------------------
// Subscriber management (project-level webhook registration, service-account auth)
// ---------------------------------------------------------------------------------------------

/// The scope of the service-account token the subscribers API wants.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The id of our one project subscriber (re-registration targets the same one).
pub const SUBSCRIBER_ID: &str = "open-wearables";
/// Data types the subscriber asks notifications for: the metric registry ∩ Google's
/// webhook-capable types, plus the two sessions (providers.md §4.8.3). `total-calories`,
/// `core-body-temperature` and `oxygen-saturation` are polled only.
pub const WEBHOOK_DATA_TYPES: [&str; 13] = [
    "steps",
    "distance",
    "hydration-log",
    "heart-rate",
    "run-vo2-max",
    "daily-resting-heart-rate",
    "heart-rate-variability",
    "weight",
    "body-fat",
    "blood-glucose",
    "daily-respiratory-rate",
    "sleep",
    "exercise",
];
/// Google's token endpoint, when a key file names none.
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The OAuth grant of a signed JWT assertion (RFC 7523).
const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Lifetime of an assertion (Google's maximum).
const ASSERTION_SECONDS: i64 = 3600;

/// The parts of a service-account key file (the JSON Google hands out) the token grant uses.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ServiceAccount {
    /// `service_account` (other credential files, e.g. `authorized_user`, are refused).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The account's e-mail: the assertion's issuer.
    pub client_email: String,
    /// The RSA private key, PEM (PKCS#8 `PRIVATE KEY`, or PKCS#1 `RSA PRIVATE KEY`).
    pub private_key: String,
    /// The key's id: the assertion's `kid`.
    #[serde(default)]
    pub private_key_id: Option<String>,
    /// Where the assertion is exchanged (default `https://oauth2.googleapis.com/token`); also
    /// the assertion's audience.
    #[serde(default)]
    pub token_uri: Option<String>,
}

#[derive(serde::Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

impl ServiceAccount {
    /// Parses a key file's JSON; `Err` names what is wrong (never the key itself).
    pub fn parse(json: &str) -> Result<Self, String> {
        let sa: Self = serde_json::from_str(json)
            .map_err(|e| format!("not a service-account key file: {e}"))?;
        if let Some(kind) = sa.kind.as_deref().filter(|k| *k != "service_account") {
            return Err(format!(
                "credentials of type '{kind}' are not a service account"
            ));
        }
        if sa.client_email.trim().is_empty() || sa.private_key.trim().is_empty() {
            return Err("client_email and private_key are required".into());
        }
        Ok(sa)
    }

    /// The token endpoint as the key names it (the assertion's audience).
    pub fn token_uri(&self) -> &str {
        self.token_uri
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or(DEFAULT_TOKEN_URI)
    }

    /// A signed RS256 assertion for `scope`, valid for an hour from `now`.
    pub fn assertion(&self, scope: &str, now: DateTime<Utc>) -> Result<String, String> {
        let key = rsa_signing_key(&self.private_key)?;
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = self.private_key_id.clone().filter(|k| !k.is_empty());
        let iat = now.timestamp();
        let claims = AssertionClaims {
            iss: &self.client_email,
            scope,
            aud: self.token_uri(),
            iat,
            exp: iat + ASSERTION_SECONDS,
        };
        jsonwebtoken::encode(&header, &claims, &key)
            .map_err(|e| format!("cannot sign with private_key: {e}"))
    }
}

/// The signing key of a PEM private key: a PKCS#8 `PRIVATE KEY` (what service-account files
/// carry) or a PKCS#1 `RSA PRIVATE KEY`, read by the `rsa` crate. `Err` names what is wrong
/// (never the key itself).
pub fn rsa_signing_key(pem: &str) -> Result<jsonwebtoken::EncodingKey, String> {
    use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
    use rsa::pkcs8::{DecodePrivateKey, spki};
    let not_pem = || "private_key is not a PEM block".to_string();
    let block = pem
        .find("-----BEGIN ")
        .map(|i| &pem[i..])
        .ok_or_else(not_pem)?;
    let label = rsa::pkcs8::der::pem::decode_label(block.as_bytes()).map_err(|_| not_pem())?;
    let key = match label {
        "RSA PRIVATE KEY" => rsa::RsaPrivateKey::from_pkcs1_pem(block)
            .map_err(|_| "private_key is not a PKCS#1 RSA key".to_string())?,
        "PRIVATE KEY" => rsa::RsaPrivateKey::from_pkcs8_pem(block).map_err(|e| match e {
            rsa::pkcs8::Error::PublicKey(spki::Error::OidUnknown { .. }) => {
                "private_key is not an RSA key".to_string()
            }
            _ => "private_key is not a PKCS#8 RSA key".to_string(),
        })?,
        other => {
            return Err(format!(
                "private_key is a '{other}' PEM block, not a private key"
            ));
        }
    };
    let der = key
        .to_pkcs1_der()
        .map_err(|_| "private_key cannot be encoded".to_string())?;
    Ok(jsonwebtoken::EncodingKey::from_rsa_der(der.as_bytes()))
}

/// A non-blank provider setting.
fn setting<'a>(ctx: &'a SubscriptionCtx<'_>, name: &str) -> Option<&'a str> {
    ctx.settings
        .get(name)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

/// The service account: `GOOGLE_SERVICE_ACCOUNT_JSON` (the key file's content), else
/// `GOOGLE_SERVICE_ACCOUNT_FILE` (its path).
async fn service_account(ctx: &SubscriptionCtx<'_>) -> Result<ServiceAccount, SubscriptionError> {
    if let Some(json) = setting(ctx, "GOOGLE_SERVICE_ACCOUNT_JSON") {
        return ServiceAccount::parse(json)
            .map_err(|e| SubscriptionError::Config(format!("GOOGLE_SERVICE_ACCOUNT_JSON: {e}")));
    }
    if let Some(path) = setting(ctx, "GOOGLE_SERVICE_ACCOUNT_FILE") {
        let json = tokio::fs::read_to_string(path).await.map_err(|e| {
            SubscriptionError::Config(format!(
                "GOOGLE_SERVICE_ACCOUNT_FILE: cannot read '{path}': {e}"
            ))
        })?;
        return ServiceAccount::parse(&json)
            .map_err(|e| SubscriptionError::Config(format!("GOOGLE_SERVICE_ACCOUNT_FILE: {e}")));
    }
    Err(SubscriptionError::Config(
        "Google Health subscribers need a service account: set GOOGLE_SERVICE_ACCOUNT_JSON \
         (the key file's JSON) or GOOGLE_SERVICE_ACCOUNT_FILE (its path)"
            .into(),
    ))
}

/// Where the assertion is exchanged: the key's `token_uri`, its origin replaced by
/// `GOOGLE_BASE_URL` when that is set (the fakes serve `/token` as Google does).
fn token_endpoint(ctx: &SubscriptionCtx<'_>, sa: &ServiceAccount) -> String {
    match setting(ctx, "GOOGLE_BASE_URL") {
        Some(base) => crate::config::rebase(sa.token_uri(), base),
        None => sa.token_uri().to_string(),
    }
}

/// The message of a Google error body (`{"error": {"message"}}`, `{"error_description"}`),
/// else the body's start.
fn google_error(status: u16, text: &str) -> String {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let msg = v
        .pointer("/error/message")
        .or_else(|| v.get("error_description"))
        .or_else(|| v.get("error").filter(|e| e.is_string()))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| text.chars().take(200).collect());
    format!("Google Health API answered HTTP {status}: {msg}")
}

/// A project token (scope `cloud-platform`) for the service account.
async fn project_token(
    ctx: &SubscriptionCtx<'_>,
    sa: &ServiceAccount,
) -> Result<String, SubscriptionError> {
    let assertion = sa
        .assertion(CLOUD_PLATFORM_SCOPE, Utc::now())
        .map_err(|e| SubscriptionError::Config(format!("Google service account: {e}")))?;
    let resp = ctx
        .http
        .post(token_endpoint(ctx, sa))
        .form(&[("grant_type", JWT_BEARER_GRANT), ("assertion", &assertion)])
        .timeout(ctx.timeout)
        .send()
        .await
        .map_err(|e| {
            SubscriptionError::Upstream(format!("Google service-account token exchange: {e}"))
        })?;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    if !(200..300).contains(&status) {
        return Err(SubscriptionError::Upstream(format!(
            "service-account token exchange failed: {}",
            google_error(status, &text)
        )));
    }
    serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("access_token")?.as_str().map(str::to_string))
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            SubscriptionError::Upstream(
                "service-account token exchange answered no access_token".into(),
            )
        })
}

/// An authenticated subscribers-API session.
struct Subscribers<'a> {
    ctx: &'a SubscriptionCtx<'a>,
    token: String,
    /// `/v4/projects/{GOOGLE_PROJECT_ID}/subscribers`.
    path: String,
}

impl Subscribers<'_> {
    /// One call: `(status, body)`; only transport failures are errors here.
    async fn call(
        &self,
        method: reqwest::Method,
        suffix: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<(u16, Value, String), SubscriptionError> {
        let mut url = self.ctx.url(&format!("{}{suffix}", self.path));
        if !query.is_empty() {
            let q = serde_urlencoded::to_string(query)
                .map_err(|e| SubscriptionError::Upstream(format!("query: {e}")))?;
            url = format!("{url}?{q}");
        }
        let mut req = self.ctx.http.request(method, url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        self.ctx.send(req, "Google Health API").await
    }
}

/// A subscriber as we show it: `{name, endpointUri, subscriberConfigs}` (never its secret).
fn subscriber_view(v: &Value) -> Value {
    json!({
        "name": v.get("name").cloned().unwrap_or(Value::Null),
        "endpointUri": v.get("endpointUri").cloned().unwrap_or(Value::Null),
        "subscriberConfigs": v.get("subscriberConfigs").cloned().unwrap_or_else(|| json!([])),
    })
}

/// A subscriber id from a route: the id itself or its full resource name
/// (`projects/{n}/subscribers/{id}`).
fn subscriber_id(raw: &str) -> Result<String, SubscriptionError> {
    let id = raw.rsplit('/').next().unwrap_or(raw);
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(SubscriptionError::Config(format!(
            "invalid Google subscriber id '{raw}'"
        )));
    }
    Ok(id.to_string())
}

/// Google subscribers do not expire (api.md §15.3: renew is 501).
fn no_renew() -> SubscriptionError {
    SubscriptionError::NotSupported(
        "Google Health API subscribers do not expire: there is nothing to renew".into(),
    )
}

/// Webhook subscription management (api.md §15.3, providers.md §4.8.3): the project-level
/// subscriber, managed with a service-account token (`GOOGLE_SERVICE_ACCOUNT_JSON` or
/// `GOOGLE_SERVICE_ACCOUNT_FILE`) under `/v4/projects/{GOOGLE_PROJECT_ID}/subscribers`.
/// Registering sends `Bearer <GOOGLE_WEBHOOK_SECRET, else derived from SECRET_KEY>` as the
/// secret Google
/// echoes on every notification; Google verifies our endpoint before it accepts the
/// subscriber. Subscribers do not expire: renew is 501.
pub async fn subscriptions(
    ctx: &SubscriptionCtx<'_>,
    op: SubscriptionOp,
) -> Result<SubscriptionResult, SubscriptionError> {
    if op == SubscriptionOp::Renew {
        return Err(no_renew());
    }
    let project = setting(ctx, "GOOGLE_PROJECT_ID").ok_or_else(|| {
        SubscriptionError::Config(
            "GOOGLE_PROJECT_ID (the GCP project number) is not configured; cannot manage \
             Google Health API subscribers"
                .into(),
        )
    })?;
    if !project
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(SubscriptionError::Config(format!(
            "GOOGLE_PROJECT_ID '{project}' is not a project number"
        )));
    }
    let sa = service_account(ctx).await?;
    let api = Subscribers {
        ctx,
        token: project_token(ctx, &sa).await?,
        path: format!("/v4/projects/{project}/subscribers"),
    };
    let ok = |s: u16| (200..300).contains(&s);
    match op {
        SubscriptionOp::List => {
            let mut out = Vec::new();
            let mut token: Option<String> = None;
            for _ in 0..MAX_PAGES {
                let q: Vec<(&str, &str)> = token
                    .as_deref()
                    .map(|t| vec![("pageToken", t)])
                    .unwrap_or_default();
                let (status, v, text) = api.call(reqwest::Method::GET, "", &q, None).await?;
                if !ok(status) {
                    return Err(SubscriptionError::Upstream(google_error(status, &text)));
                }
                if let Some(items) = v.get("subscribers").and_then(Value::as_array) {
                    out.extend(items.iter().map(subscriber_view));
                }
                token = next_token(&v);
                if token.is_none() {
                    break;
                }
            }
            Ok(SubscriptionResult::of(Value::Array(out)))
        }
        SubscriptionOp::Register { callback_url } => {
            ctx.own_callback(&callback_url)?;
            let secret = ctx.chosen_secret(crate::keys::GOOGLE_WEBHOOK_SECRET);
            let body = json!({
                "endpointUri": callback_url,
                "subscriberConfigs": [{
                    "dataTypes": WEBHOOK_DATA_TYPES,
                    "subscriptionCreatePolicy": "AUTOMATIC",
                }],
                "endpointAuthorization": {"secret": format!("Bearer {secret}")},
            });
            let (status, v, text) = api
                .call(
                    reqwest::Method::POST,
                    "",
                    &[("subscriberId", SUBSCRIBER_ID)],
                    Some(&body),
                )
                .await?;
            let result = match status {
                409 => json!({"subscriber_id": SUBSCRIBER_ID, "status": "skipped"}),
                s if ok(s) => json!({"subscriber_id": SUBSCRIBER_ID, "status": "created",
                    "response": subscriber_view(&v)}),
                s => {
                    let error = google_error(s, &text);
                    tracing::warn!(
                        provider = "google",
                        "subscriber registration failed: {error}"
                    );
                    json!({"subscriber_id": SUBSCRIBER_ID, "status": "error", "error": error})
                }
            };
            Ok(SubscriptionResult::of(json!([result])))
        }
        SubscriptionOp::Get { id } => {
            let id = subscriber_id(&id)?;
            let (status, v, text) = api
                .call(reqwest::Method::GET, &format!("/{id}"), &[], None)
                .await?;
            match status {
                s if ok(s) => Ok(SubscriptionResult::of(subscriber_view(&v))),
                404 => Ok(SubscriptionResult::of(Value::Null)),
                s => Err(SubscriptionError::Upstream(google_error(s, &text))),
            }
        }
        SubscriptionOp::Update { id, callback_url } => {
            ctx.own_callback(&callback_url)?;
            let id = subscriber_id(&id)?;
            let (status, _, text) = api
                .call(
                    reqwest::Method::PATCH,
                    &format!("/{id}"),
                    &[("updateMask", "endpointUri")],
                    Some(&json!({"endpointUri": callback_url})),
                )
                .await?;
            Ok(SubscriptionResult::of(if ok(status) {
                op_status(&id, "updated", None)
            } else {
                op_status(&id, "error", Some(google_error(status, &text)))
            }))
        }
        SubscriptionOp::Delete { id } => {
            let id = subscriber_id(&id)?;
            let (status, _, text) = api
                .call(reqwest::Method::DELETE, &format!("/{id}"), &[], None)
                .await?;
            Ok(SubscriptionResult::of(if ok(status) {
                op_status(&id, "deleted", None)
            } else {
                op_status(&id, "error", Some(google_error(status, &text)))
            }))
        }
        SubscriptionOp::Renew => Err(no_renew()),
    }
}

/// The Google integration.
pub struct Google;

#[async_trait::async_trait]
impl super::Integration for Google {
    fn provider(&self) -> Provider {
        Provider::Google
    }

    fn authorize_params(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("access_type", "offline"),
            ("include_granted_scopes", "true"),
            ("prompt", "consent"),
        ]
    }

    /// The health user id; the username is the OpenID e-mail, asked separately (best effort).
    async fn user_info(&self, f: &Fetcher<'_>) -> Result<Option<super::Identity>, FetchError> {
        let Some(endpoint) = self.user_info_endpoint() else {
            return Ok(None);
        };
        let mut identity = endpoint.read(&f.get(endpoint.path, &[]).await?);
        identity.username = username(f.http, f.base, f.token).await;
        Ok(Some(identity))
    }

    fn user_info_endpoint(&self) -> Option<super::UserInfoEndpoint> {
        Some(super::UserInfoEndpoint {
            path: "/v4/users/me/identity",
            id: "/healthUserId",
            username: None,
        })
    }

    fn identify_on_sync(&self) -> bool {
        true
    }

    async fn pull(
        &self,
        _state: &crate::app::AppState,
        _user: uuid::Uuid,
        f: &Fetcher<'_>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Pulled, FetchError> {
        pull(f, start, end).await
    }

    fn webhook(&self, req: &WebhookRequest<'_>) -> Result<WebhookReply, WebhookError> {
        webhook(req)
    }

    async fn vendor_workouts(
        &self,
        f: &Fetcher<'_>,
        opts: &super::VendorOptions,
    ) -> Result<Value, FetchError> {
        vendor_workouts(f, opts).await
    }

    async fn vendor_workout(
        &self,
        f: &Fetcher<'_>,
        workout_id: &str,
        _opts: &super::VendorOptions,
    ) -> Result<Value, FetchError> {
        vendor_workout(f, workout_id).await
    }

    async fn subscriptions(
        &self,
        ctx: &SubscriptionCtx<'_>,
        op: SubscriptionOp,
    ) -> Result<SubscriptionResult, SubscriptionError> {
        subscriptions(ctx, op).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};

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

    #[test]
    fn userinfo_goes_to_www_or_the_override() {
        assert_eq!(
            userinfo_url("https://health.googleapis.com"),
            "https://www.googleapis.com/oauth2/v3/userinfo"
        );
        assert_eq!(
            userinfo_url("http://127.0.0.1:9000/"),
            "http://127.0.0.1:9000/oauth2/v3/userinfo"
        );
    }

    struct Call {
        method: Method,
        headers: HeaderMap,
        body: String,
        settings: HashMap<String, String>,
    }

    impl Call {
        fn post(auth: Option<&str>, body: &str) -> Self {
            let mut headers = HeaderMap::new();
            if let Some(a) = auth {
                headers.insert("authorization", HeaderValue::from_str(a).expect("header"));
            }
            Self {
                method: Method::POST,
                headers,
                body: body.to_string(),
                settings: HashMap::new(),
            }
        }

        fn run(&self) -> Result<WebhookReply, WebhookError> {
            let query = HashMap::new();
            webhook(&WebhookRequest {
                method: &self.method,
                query: &query,
                headers: &self.headers,
                body: self.body.as_bytes(),
                now: Utc::now(),
                client: None,
                settings: &self.settings,
                secret_key: "test-secret-key-0123456789abcdef",
            })
        }
    }

    const NOTE: &str = r#"[{"data":{"healthUserId":"118204457739201845521","operation":"UPSERT","dataType":"steps",
        "intervals":[{"physicalTimeInterval":{"startTime":"2024-06-03T08:00:00Z","endTime":"2024-06-03T10:00:00Z"}}],
        "clientProvidedSubscriptionName":"open-wearables","version":"1"}}]"#;

    /// The bearer secret derived from the test `SECRET_KEY`.
    fn bearer() -> String {
        format!(
            "Bearer {}",
            crate::keys::derive(
                "test-secret-key-0123456789abcdef",
                crate::keys::GOOGLE_WEBHOOK_SECRET.label
            )
        )
    }

    #[test]
    fn the_bearer_secret_is_required_and_derived_never_secret_key() {
        let ok = Call::post(Some(&bearer()), NOTE).run();
        assert!(
            matches!(ok, Ok(WebhookReply::Accept(ref e)) if e.len() == 1),
            "{ok:?}"
        );
        let lower = bearer().replacen("Bearer", "bearer", 1);
        for bad in [
            None,
            Some("Bearer nope"),
            Some("Bearer test-secret-key-0123456789abcdef"),
            Some("test-secret-key-0123456789abcdef"),
            Some(lower.as_str()),
        ] {
            let r = Call::post(bad, NOTE).run();
            assert!(
                matches!(r, Err(ref e) if e.status() == StatusCode::UNAUTHORIZED),
                "{bad:?}: {r:?}"
            );
        }
        let mut own = Call::post(Some("Bearer own-secret"), NOTE);
        own.settings
            .insert("GOOGLE_WEBHOOK_SECRET".into(), "own-secret".into());
        assert!(own.run().is_ok());
        let mut stale = Call::post(Some(&bearer()), NOTE);
        stale
            .settings
            .insert("GOOGLE_WEBHOOK_SECRET".into(), "own-secret".into());
        assert!(
            stale.run().is_err(),
            "the derived secret no longer works once a secret is set"
        );
    }

    #[test]
    fn the_verification_handshake() {
        let body = r#"{"type":"verification"}"#;
        match Call::post(Some(&bearer()), body).run() {
            Ok(WebhookReply::Respond(status, v)) => {
                assert_eq!((status, v), (StatusCode::OK, json!({"status": "verified"})));
            }
            other => panic!("{other:?}"),
        }
        let r = Call::post(None, body).run();
        assert!(
            matches!(r, Err(ref e) if e.status() == StatusCode::UNAUTHORIZED),
            "{r:?}"
        );
        let mut get = Call::post(Some(&bearer()), "");
        get.method = Method::GET;
        assert!(matches!(get.run(), Err(ref e) if e.status() == StatusCode::BAD_REQUEST));
    }

    #[test]
    fn notifications_become_padded_sync_windows() {
        let auth = bearer();
        let auth = Some(auth.as_str());
        let Ok(WebhookReply::Accept(events)) = Call::post(auth, NOTE).run() else {
            panic!("accepted");
        };
        assert_eq!(
            events,
            vec![WebhookEvent::Sync {
                provider_user_id: "118204457739201845521".into(),
                start: t("2024-06-02T08:00:00Z"),
                end: t("2024-06-04T10:00:00Z"),
            }]
        );
        // A single object, a delete, an unknown type and a missing interval.
        let body = r#"[{"data":{"healthUserId":"u1","operation":"UPSERT","dataType":"exercise",
            "intervals":[{"physicalTimeInterval":{"startTime":"2024-06-03T16:00:00Z","endTime":"2024-06-03T16:42:10Z"}},
                         {"physicalTimeInterval":{"startTime":"2024-06-02T16:00:00Z","endTime":"2024-06-02T16:30:00Z"}}]}},
            {"data":{"healthUserId":"u1","operation":"DELETE","dataType":"steps",
            "intervals":[{"physicalTimeInterval":{"startTime":"2024-06-03T08:00:00Z","endTime":"2024-06-03T10:00:00Z"}}]}},
            {"data":{"healthUserId":"u1","operation":"UPSERT","dataType":"floors",
            "intervals":[{"physicalTimeInterval":{"startTime":"2024-06-03T08:00:00Z","endTime":"2024-06-03T10:00:00Z"}}]}},
            {"data":{"healthUserId":"u1","operation":"UPSERT","dataType":"sleep","intervals":[]}}]"#;
        let Ok(WebhookReply::Accept(events)) = Call::post(auth, body).run() else {
            panic!("accepted");
        };
        assert_eq!(
            events,
            vec![WebhookEvent::Sync {
                provider_user_id: "u1".into(),
                start: t("2024-06-01T16:00:00Z"),
                end: t("2024-06-04T16:42:10Z"),
            }]
        );
        let one = r#"{"data":{"healthUserId":"u2","operation":"UPSERT","dataType":"sleep",
            "intervals":[{"physicalTimeInterval":{"startTime":"2024-06-02T21:40:00Z","endTime":"2024-06-03T05:10:00Z"}}]}}"#;
        let Ok(WebhookReply::Accept(events)) = Call::post(auth, one).run() else {
            panic!("accepted");
        };
        assert_eq!(events.len(), 1);
        for bad in ["not json", "42"] {
            let r = Call::post(auth, bad).run();
            assert!(
                matches!(r, Err(ref e) if e.status() == StatusCode::BAD_REQUEST),
                "{bad}"
            );
        }
    }

    // -- Subscriber management ---------------------------------------------------------------

    /// The fakes' test service account (a key pair made for tests only).
    const TEST_SA: &str =
        include_str!("../../../infra/fakes/testdata/google-service-account-TEST-ONLY.json");
    const TEST_PUBLIC_KEY: &str =
        include_str!("../../../infra/fakes/testdata/google-service-account-TEST-ONLY.pub.pem");

    #[test]
    fn a_service_account_signs_an_rs256_assertion_its_public_key_verifies() {
        let sa = ServiceAccount::parse(TEST_SA).expect("key file");
        let now = Utc::now();
        let jwt = sa.assertion(CLOUD_PLATFORM_SCOPE, now).expect("signed");
        let header = jsonwebtoken::decode_header(&jwt).expect("header");
        assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
        assert_eq!(header.kid, sa.private_key_id);
        let key = {
            use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey};
            let public = rsa::RsaPublicKey::from_pkcs1_pem(TEST_PUBLIC_KEY).expect("pem");
            let der = public.to_pkcs1_der().expect("der");
            jsonwebtoken::DecodingKey::from_rsa_der(der.as_bytes())
        };
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_audience(&["https://oauth2.googleapis.com/token"]);
        v.set_issuer(&[sa.client_email.as_str()]);
        let claims = jsonwebtoken::decode::<Value>(&jwt, &key, &v)
            .expect("verifies")
            .claims;
        assert_eq!(claims["scope"], CLOUD_PLATFORM_SCOPE);
        assert_eq!(claims["iat"], now.timestamp());
        assert_eq!(claims["exp"], now.timestamp() + 3600);
        // A tampered token does not verify.
        let mut parts: Vec<&str> = jwt.split('.').collect();
        let forged = claims.to_string().replace("cloud-platform", "everything");
        let forged = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged)
        };
        parts[1] = &forged;
        assert!(jsonwebtoken::decode::<Value>(&parts.join("."), &key, &v).is_err());
    }

    /// A P-256 key in PKCS#8 (made for this test only): a private key, but not an RSA one.
    const TEST_EC_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgxcVo/SIXbe+50cE4
+jkgaP0fViohu8lvPnLyzu/i2jmhRANCAAQFxjX1c1pxmH44dfZjxDxrE3i0lVrX
nY5ZFb8CYLEHqjPymgenoYDZAtrI6FtC7SRK/MQI3RH2Fhx4CXZioAoT
-----END PRIVATE KEY-----
";

    #[test]
    fn pkcs8_and_pkcs1_keys_sign_and_bad_keys_are_named() {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::DecodePrivateKey;
        let sa = ServiceAccount::parse(TEST_SA).expect("key file");
        assert!(
            sa.private_key.contains("BEGIN PRIVATE KEY"),
            "PKCS#8 in the file"
        );
        let now = Utc::now();
        let from_pkcs8 = sa
            .assertion(CLOUD_PLATFORM_SCOPE, now)
            .expect("pkcs8 signs");
        // The same key as PKCS#1 `RSA PRIVATE KEY`, after leading text, signs the same token
        // (RS256 signatures are deterministic).
        let pkcs1 = rsa::RsaPrivateKey::from_pkcs8_pem(&sa.private_key)
            .expect("key")
            .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
            .expect("pkcs1 pem");
        assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let sa1 = ServiceAccount {
            private_key: format!("a comment line\n{}", pkcs1.as_str()),
            ..sa.clone()
        };
        assert_eq!(
            sa1.assertion(CLOUD_PLATFORM_SCOPE, now)
                .expect("pkcs1 signs"),
            from_pkcs8
        );

        let err = |pem: &str| rsa_signing_key(pem).err().unwrap_or_default();
        assert_eq!(err("no pem here"), "private_key is not a PEM block");
        assert_eq!(
            err("-----BEGIN PRIVATE KEY"),
            "private_key is not a PEM block"
        );
        assert_eq!(
            err(TEST_PUBLIC_KEY),
            "private_key is a 'RSA PUBLIC KEY' PEM block, not a private key"
        );
        assert_eq!(err(TEST_EC_KEY), "private_key is not an RSA key");
        let damaged = sa.private_key.replacen("MII", "MIJ", 1);
        assert_eq!(err(&damaged), "private_key is not a PKCS#8 RSA key");
        let damaged1 = pkcs1.replacen("MII", "MIJ", 1);
        assert_eq!(err(&damaged1), "private_key is not a PKCS#1 RSA key");
        let bad = ServiceAccount {
            private_key: TEST_EC_KEY.into(),
            ..sa
        };
        assert_eq!(
            bad.assertion(CLOUD_PLATFORM_SCOPE, now).err().as_deref(),
            Some("private_key is not an RSA key")
        );
    }

    #[test]
    fn key_files_are_checked_and_token_uris_rebased() {
        assert!(ServiceAccount::parse("{}").is_err());
        assert!(
            ServiceAccount::parse(
                r#"{"type":"authorized_user","client_email":"a@b","private_key":"k"}"#
            )
            .is_err_and(|e| e.contains("authorized_user"))
        );
        let sa =
            ServiceAccount::parse(r#"{"client_email":"a@b","private_key":"k"}"#).expect("minimal");
        assert_eq!(sa.token_uri(), "https://oauth2.googleapis.com/token");
        assert!(sa.assertion(CLOUD_PLATFORM_SCOPE, Utc::now()).is_err());
        let http = reqwest::Client::new();
        let client = crate::config::OAuthClient {
            client_id: "id".into(),
            client_secret: "secret".into(),
            authorize_url: String::new(),
            token_url: String::new(),
            api_base: "http://127.0.0.1:9".into(),
            scope: String::new(),
            redirect_uri: String::new(),
        };
        let mut settings = HashMap::new();
        let ctx = |settings: &HashMap<String, String>| {
            token_endpoint(
                &SubscriptionCtx {
                    api_base: "http://localhost:8000",
                    http: &http,
                    client: &client,
                    settings,
                    secret_key: "k",
                    timeout: std::time::Duration::from_secs(1),
                },
                &sa,
            )
        };
        assert_eq!(ctx(&settings), "https://oauth2.googleapis.com/token");
        settings.insert("GOOGLE_BASE_URL".into(), "http://127.0.0.1:9/".into());
        assert_eq!(ctx(&settings), "http://127.0.0.1:9/token");
        assert_eq!(
            subscriber_id("open-wearables").expect("id"),
            "open-wearables"
        );
        assert_eq!(
            subscriber_id("projects/1/subscribers/open-wearables").expect("name"),
            "open-wearables"
        );
        assert!(subscriber_id("a?b").is_err() && subscriber_id("x/").is_err());
    }

    #[tokio::test]
    async fn missing_configuration_is_named_before_any_call() {
        let http = reqwest::Client::new();
        let client = crate::config::OAuthClient {
            client_id: "id".into(),
            client_secret: "secret".into(),
            authorize_url: String::new(),
            token_url: String::new(),
            // Nothing listens here: a call would be an Upstream error, not Config.
            api_base: "http://127.0.0.1:9".into(),
            scope: String::new(),
            redirect_uri: String::new(),
        };
        let run = |pairs: &[(&str, &str)]| {
            let settings: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let http = http.clone();
            let client = client.clone();
            async move {
                let ctx = SubscriptionCtx {
                    api_base: "http://localhost:8000",
                    http: &http,
                    client: &client,
                    settings: &settings,
                    secret_key: "k",
                    timeout: std::time::Duration::from_secs(1),
                };
                subscriptions(&ctx, SubscriptionOp::List).await
            }
        };
        let r = run(&[]).await;
        assert!(
            matches!(r, Err(SubscriptionError::Config(ref m)) if m.contains("GOOGLE_PROJECT_ID")),
            "{r:?}"
        );
        let r = run(&[("GOOGLE_PROJECT_ID", "  ")]).await;
        assert!(
            matches!(r, Err(SubscriptionError::Config(ref m)) if m.contains("GOOGLE_PROJECT_ID")),
            "{r:?}"
        );
        let r = run(&[("GOOGLE_PROJECT_ID", "123")]).await;
        assert!(
            matches!(r, Err(SubscriptionError::Config(ref m))
            if m.contains("GOOGLE_SERVICE_ACCOUNT_JSON") && m.contains("GOOGLE_SERVICE_ACCOUNT_FILE")),
            "{r:?}"
        );
        let r = run(&[
            ("GOOGLE_PROJECT_ID", "123"),
            ("GOOGLE_SERVICE_ACCOUNT_FILE", "/nonexistent/sa.json"),
        ])
        .await;
        assert!(
            matches!(r, Err(SubscriptionError::Config(ref m)) if m.contains("GOOGLE_SERVICE_ACCOUNT_FILE")),
            "{r:?}"
        );
        let r = run(&[
            ("GOOGLE_PROJECT_ID", "123"),
            ("GOOGLE_SERVICE_ACCOUNT_JSON", "{not json"),
        ])
        .await;
        assert!(
            matches!(r, Err(SubscriptionError::Config(ref m)) if m.contains("GOOGLE_SERVICE_ACCOUNT_JSON")),
            "{r:?}"
        );
        let r = run(&[
            ("GOOGLE_PROJECT_ID", "123"),
            ("GOOGLE_SERVICE_ACCOUNT_JSON", TEST_SA),
        ])
        .await;
        assert!(matches!(r, Err(SubscriptionError::Upstream(_))), "{r:?}");
        let renew = {
            let settings = HashMap::new();
            let ctx = SubscriptionCtx {
                api_base: "http://localhost:8000",
                http: &http,
                client: &client,
                settings: &settings,
                secret_key: "k",
                timeout: std::time::Duration::from_secs(1),
            };
            subscriptions(&ctx, SubscriptionOp::Renew).await
        };
        assert!(matches!(renew, Err(SubscriptionError::NotSupported(_))));
    }
}

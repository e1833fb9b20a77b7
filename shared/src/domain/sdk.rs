//! Mobile SDK push payload parser (Apple HealthKit, Samsung Health, Google Health Connect),
//! data-model §4.3–§4.8.
//!
//! [`parse_sdk_payload`] turns raw request bytes into a [`ParsedBatch`]: time-series [`Sample`]s
//! (records and workout statistics), [`WorkoutEvent`]s and [`SleepSegment`]s with their provenance and
//! dedup keys. It never panics on arbitrary input. Envelope problems fail the whole batch
//! ([`ParseError`]); a bad item is dropped and counted (`dropped_count`), never the whole batch.
//!
//! Decisions taken where the reference is buggy (README precedence rule 3, data-model §9.2):
//! * Provider is lower-cased once and used everywhere (§9.2 #12).
//! * Invalid `zoneOffset`, numeric overflow (> 9 999 999.999) and over-long strings drop only the
//!   offending item (§9.2 #11, #23).
//! * Apple SpO2 fractions (≤ 1.0) are scaled ×100 so the value matches the `percent` unit (§9.2 #2).
//! * Mis-mapped HealthKit identifiers are routed to the series of matching unit (§9.2 #8):
//!   `UnderwaterDepth` → `underwater_depth`, `NikeFuel` → `nike_fuel`, the three sport `…Speed`
//!   identifiers → `speed`. `TOTAL_CALORIES_BURNED` → `energy`, `AppleMoveTime` → `exercise_time` and
//!   `AppleSleepingWristTemperature` → `body_temperature` are kept (units agree).
//! * Workout legacy totals (`totalEnergyBurned`, `totalDistance`, `totalSteps`) feed workout details
//!   instead of becoming intraday samples that double-count daily totals; workout energy is the largest
//!   total-type statistic (`calories`, `totalCalories`, `totalEnergyBurned`) when one is present, else
//!   active + basal (§9.2 #7).
//! * Workout series statistics whose `unit` clearly differs from the canonical unit are converted
//!   (metres → cm for stride/oscillation, seconds → ms for ground contact, °F → °C).

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use super::numeric::{fits_numeric, round_half_away_i64, round_half_away_to, trunc_i64};
use super::series::SeriesType;
use super::sleep::SleepStage;
use super::time::{
    from_unix_number, normalize_zone_offset, parse_iso_datetime, stored_instant_in_range,
};
use super::workout::{WorkoutType, map_sdk_workout_type};

/// Maximum number of per-item errors reported in [`ParsedBatch::errors`].
pub const MAX_REPORTED_ERRORS: usize = 20;
/// DataSource `device_model` limit.
pub const MAX_DEVICE_MODEL_LEN: usize = 100;
/// DataSource `source` (writer) limit.
pub const MAX_WRITER_LEN: usize = 100;
/// DataSource `software_version` limit.
pub const MAX_SOFTWARE_VERSION_LEN: usize = 50;
/// Workout `source_name` limit.
pub const MAX_WORKOUT_SOURCE_NAME_LEN: usize = 64;
/// Sample/event `external_id` limit.
pub const MAX_EXTERNAL_ID_LEN: usize = 100;
/// Longest workout or sleep segment accepted (31 days); longer ones are dropped and counted.
pub const MAX_EVENT_SECONDS: i64 = 31 * 86_400;

// ---------------------------------------------------------------------------------------------
// Public model
// ---------------------------------------------------------------------------------------------

/// SDK push provider (`apple` | `samsung` | `google`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SdkProvider {
    /// Apple HealthKit.
    Apple,
    /// Samsung Health.
    Samsung,
    /// Google Health Connect.
    Google,
}

impl SdkProvider {
    /// Case-insensitive parse of the body/route provider string.
    pub fn parse(raw: &str) -> Option<SdkProvider> {
        match raw.to_lowercase().as_str() {
            "apple" => Some(Self::Apple),
            "samsung" => Some(Self::Samsung),
            "google" => Some(Self::Google),
            _ => None,
        }
    }

    /// Lower-case provider key (the DataSource `provider`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Apple => "apple",
            Self::Samsung => "samsung",
            Self::Google => "google",
        }
    }
}

/// Provenance derived from an item's `source` object (§4.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SourceInfo {
    /// Provider of the batch.
    pub provider: SdkProvider,
    /// `deviceModel ?? productType`.
    pub device_model: Option<String>,
    /// `"{major}.{minor}.{patch}"` from `operatingSystemVersion`.
    pub software_version: Option<String>,
    /// Writer: `name ?? deviceName ?? appId ?? bundleIdentifier`.
    pub source: Option<String>,
    /// SDK `deviceType` hint (accepted, not persisted in DataSource).
    pub sdk_device_type: Option<String>,
}

impl SourceInfo {
    /// DataSource identity (provider, device_model or "", source or "").
    pub fn key(&self) -> SourceKey {
        SourceKey {
            provider: self.provider.as_str().to_owned(),
            device_model: self.device_model.clone().unwrap_or_default(),
            source: self.source.clone().unwrap_or_default(),
        }
    }
}

/// DataSource identity within a user: null and empty strings are the same key (§1.16).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SourceKey {
    /// Provider key.
    pub provider: String,
    /// Device model or "".
    pub device_model: String,
    /// Writer or "".
    pub source: String,
}

impl SourceKey {
    /// Deterministic UUID v5 for this identity under a user (`namespace = user_id`). Optional helper
    /// for stores that want data-source ids without a lookup; the reference uses random ids.
    pub fn deterministic_id(&self, user_id: uuid::Uuid) -> uuid::Uuid {
        let text = format!(
            "{}\u{1f}{}\u{1f}{}",
            self.provider, self.device_model, self.source
        );
        uuid::Uuid::new_v5(&user_id, text.as_bytes())
    }
}

/// Where a sample came from inside the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleOrigin {
    /// A `data.records[]` item.
    Record,
    /// A workout statistic stamped at the workout end.
    WorkoutStatistic,
}

/// One time-series sample ready for upsert (§1.17).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Series type.
    pub series: SeriesType,
    /// Instant (record `startDate`, or workout `endDate` for statistics).
    pub recorded_at: DateTime<Utc>,
    /// Value in canonical unit, rounded to 3 decimals (half away from zero).
    pub value: f64,
    /// Normalised `±HH:MM` offset.
    pub zone_offset: Option<String>,
    /// Provenance.
    pub source: SourceInfo,
    /// Record `id` (informational).
    pub external_id: Option<String>,
    /// `Some(false)` for sum series, `None` otherwise (§2.2).
    pub is_daily_total: Option<bool>,
    /// Record or workout statistic.
    pub origin: SampleOrigin,
}

/// Sample dedup key: (data source identity, series id, exact instant in µs).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SampleKey {
    /// DataSource identity.
    pub source: SourceKey,
    /// Series type id.
    pub series_id: u16,
    /// `recorded_at` in microseconds since the epoch.
    pub recorded_at_micros: i64,
}

impl Sample {
    /// Upsert key; identical payloads always yield identical keys.
    pub fn dedup_key(&self) -> SampleKey {
        SampleKey {
            source: self.source.key(),
            series_id: self.series.id(),
            recorded_at_micros: self.recorded_at.timestamp_micros(),
        }
    }
}

/// Workout details derived from the statistics array (§1.20, §4.5). All fields rounded to their
/// column scale.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WorkoutDetails {
    /// kcal, 3 decimals; 0 when the statistics array is present but has no energy.
    pub energy_burned: f64,
    /// metres.
    pub distance: Option<f64>,
    /// truncated.
    pub steps_count: Option<i64>,
    /// bpm (int column, half away from zero).
    pub heart_rate_min: Option<i64>,
    /// bpm, 2 decimals.
    pub heart_rate_avg: Option<f64>,
    /// bpm (int column).
    pub heart_rate_max: Option<i64>,
    /// W.
    pub average_watts: Option<f64>,
    /// m/s, 2 decimals.
    pub average_speed: Option<f64>,
    /// m/s, 2 decimals.
    pub max_speed: Option<f64>,
    /// m.
    pub total_elevation_gain: Option<f64>,
    /// m.
    pub elev_high: Option<f64>,
    /// m.
    pub elev_low: Option<f64>,
}

/// A workout event (§1.19, §4.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkoutEvent {
    /// Workout `id` → event `external_id`.
    pub external_id: Option<String>,
    /// Mapped type; `None` when the payload had no type.
    pub workout_type: Option<WorkoutType>,
    /// Start instant.
    pub start: DateTime<Utc>,
    /// End instant.
    pub end: DateTime<Utc>,
    /// Normalised offset.
    pub zone_offset: Option<String>,
    /// Provenance.
    pub source: SourceInfo,
    /// `writer ?? "unknown"`.
    pub source_name: String,
    /// Duration statistic (truncated) or `int(end − start)`.
    pub duration_seconds: i64,
    /// `None` when `values` was null/absent.
    pub details: Option<WorkoutDetails>,
}

/// Workout/sleep event dedup key: (data source identity, start µs, end µs).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EventKey {
    /// DataSource identity.
    pub source: SourceKey,
    /// Start in µs.
    pub start_micros: i64,
    /// End in µs.
    pub end_micros: i64,
}

impl WorkoutEvent {
    /// Insert-if-absent key (first write wins).
    pub fn dedup_key(&self) -> EventKey {
        EventKey {
            source: self.source.key(),
            start_micros: self.start.timestamp_micros(),
            end_micros: self.end.timestamp_micros(),
        }
    }
}

/// One SDK sleep segment (input of the stateful session builder in `sleep`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SleepSegment {
    /// Segment `id`.
    pub external_id: Option<String>,
    /// Stage.
    pub stage: SleepStage,
    /// Start instant.
    pub start: DateTime<Utc>,
    /// End instant.
    pub end: DateTime<Utc>,
    /// Normalised offset.
    pub zone_offset: Option<String>,
    /// Provenance.
    pub source: SourceInfo,
    /// Canonical JSON of the raw `source` object (dedup uses the *full* source object).
    pub source_fingerprint: String,
}

/// Which payload array an item came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// `data.records[]`.
    Record,
    /// `data.workouts[]`.
    Workout,
    /// `data.sleep[]`.
    Sleep,
}

/// A PII-free description of a dropped item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemError {
    /// Array the item came from.
    pub kind: ItemKind,
    /// Index in that array.
    pub index: usize,
    /// Short reason (never contains payload values).
    pub reason: &'static str,
}

/// Result of parsing one SDK payload.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ParsedBatch {
    /// Provider (lower-cased).
    pub provider: Option<SdkProvider>,
    /// `sdkVersion` (informational).
    pub sdk_version: String,
    /// `syncTimestamp` (informational).
    pub sync_timestamp: Option<DateTime<Utc>>,
    /// Samples collapsed by [`SampleKey`] (last occurrence wins; workout statistics come before records).
    pub samples: Vec<Sample>,
    /// Workouts collapsed by [`EventKey`] (first occurrence wins, like insert-if-absent).
    pub workouts: Vec<WorkoutEvent>,
    /// Valid sleep segments with a known stage, in input order (not yet de-duplicated).
    pub sleep_segments: Vec<SleepSegment>,
    /// Samples built before collapsing (the reference `records_saved`).
    pub records_saved: usize,
    /// Schema-valid sleep items (the reference `sleep_saved`).
    pub sleep_saved: usize,
    /// Items rejected by per-item validation (records of an unknown or missing `type`
    /// included).
    pub dropped_count: usize,
    /// Sleep items skipped because their stage is unknown (not counted as dropped).
    pub skipped_sleep: usize,
    /// First [`MAX_REPORTED_ERRORS`] item errors.
    pub errors: Vec<ItemError>,
}

/// Whole-batch failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Body is not valid JSON.
    InvalidJson,
    /// Body is JSON but not an object.
    NotAnObject,
    /// `provider` missing/not a string and no override given.
    MissingProvider,
    /// `provider` not apple/samsung/google.
    UnsupportedProvider(String),
    /// Envelope schema failure (missing `sdkVersion`/`syncTimestamp`, bad `data`, non-array lists).
    InvalidEnvelope(&'static str),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidJson => f.write_str("Validation failed: body is not valid JSON"),
            Self::NotAnObject => f.write_str("Input should be a valid dictionary"),
            Self::MissingProvider => {
                f.write_str("Unsupported provider: . Supported: apple, samsung, google")
            }
            Self::UnsupportedProvider(p) => {
                write!(
                    f,
                    "Unsupported provider: {p}. Supported: apple, samsung, google"
                )
            }
            Self::InvalidEnvelope(why) => write!(f, "Validation failed: {why}"),
        }
    }
}

impl std::error::Error for ParseError {}

// ---------------------------------------------------------------------------------------------
// Record type table (§4.4)
// ---------------------------------------------------------------------------------------------

/// The 108 accepted record `type` identifiers and their series (exact, case-sensitive).
pub const RECORD_TYPES: &[(&str, SeriesType)] = {
    use SeriesType as S;
    &[
        ("HKQuantityTypeIdentifierHeartRate", S::HeartRate),
        ("HEART_RATE", S::HeartRate),
        (
            "HKQuantityTypeIdentifierRestingHeartRate",
            S::RestingHeartRate,
        ),
        ("RESTING_HEART_RATE", S::RestingHeartRate),
        (
            "HKQuantityTypeIdentifierHeartRateVariabilitySDNN",
            S::HeartRateVariabilitySdnn,
        ),
        ("HEART_RATE_VARIABILITY", S::HeartRateVariabilityRmssd),
        (
            "HKQuantityTypeIdentifierHeartRateRecoveryOneMinute",
            S::HeartRateRecoveryOneMinute,
        ),
        (
            "HKQuantityTypeIdentifierWalkingHeartRateAverage",
            S::WalkingHeartRateAverage,
        ),
        (
            "HKQuantityTypeIdentifierOxygenSaturation",
            S::OxygenSaturation,
        ),
        ("OXYGEN_SATURATION", S::OxygenSaturation),
        ("HKQuantityTypeIdentifierBloodGlucose", S::BloodGlucose),
        ("BLOOD_GLUCOSE", S::BloodGlucose),
        (
            "HKQuantityTypeIdentifierBloodPressureSystolic",
            S::BloodPressureSystolic,
        ),
        ("BLOOD_PRESSURE_SYSTOLIC", S::BloodPressureSystolic),
        (
            "HKQuantityTypeIdentifierBloodPressureDiastolic",
            S::BloodPressureDiastolic,
        ),
        ("BLOOD_PRESSURE_DIASTOLIC", S::BloodPressureDiastolic),
        (
            "HKQuantityTypeIdentifierRespiratoryRate",
            S::RespiratoryRate,
        ),
        ("RESPIRATORY_RATE", S::RespiratoryRate),
        (
            "HKQuantityTypeIdentifierBodyTemperature",
            S::BodyTemperature,
        ),
        (
            "HKQuantityTypeIdentifierBasalBodyTemperature",
            S::BodyTemperature,
        ),
        (
            "HKQuantityTypeIdentifierAppleSleepingWristTemperature",
            S::BodyTemperature,
        ),
        ("BODY_TEMPERATURE", S::BodyTemperature),
        (
            "HKQuantityTypeIdentifierAppleSleepingBreathingDisturbances",
            S::SleepingBreathingDisturbances,
        ),
        (
            "HKQuantityTypeIdentifierBloodAlcoholContent",
            S::BloodAlcoholContent,
        ),
        (
            "HKQuantityTypeIdentifierPeripheralPerfusionIndex",
            S::PeripheralPerfusionIndex,
        ),
        (
            "HKQuantityTypeIdentifierForcedVitalCapacity",
            S::ForcedVitalCapacity,
        ),
        (
            "HKQuantityTypeIdentifierForcedExpiratoryVolume1",
            S::ForcedExpiratoryVolume1,
        ),
        (
            "HKQuantityTypeIdentifierPeakExpiratoryFlowRate",
            S::PeakExpiratoryFlowRate,
        ),
        ("HKQuantityTypeIdentifierHeight", S::Height),
        ("HEIGHT", S::Height),
        ("HKQuantityTypeIdentifierBodyMass", S::Weight),
        ("WEIGHT", S::Weight),
        (
            "HKQuantityTypeIdentifierBodyFatPercentage",
            S::BodyFatPercentage,
        ),
        ("BODY_FAT", S::BodyFatPercentage),
        ("BODY_FAT_MASS", S::BodyFatMass),
        ("HKQuantityTypeIdentifierBodyMassIndex", S::BodyMassIndex),
        ("BMI", S::BodyMassIndex),
        ("HKQuantityTypeIdentifierLeanBodyMass", S::LeanBodyMass),
        ("LEAN_BODY_MASS", S::LeanBodyMass),
        ("SKELETAL_MUSCLE_MASS", S::SkeletalMuscleMass),
        (
            "HKQuantityTypeIdentifierWaistCircumference",
            S::WaistCircumference,
        ),
        ("HKQuantityTypeIdentifierVO2Max", S::Vo2Max),
        ("VO2_MAX", S::Vo2Max),
        (
            "HKQuantityTypeIdentifierSixMinuteWalkTestDistance",
            S::SixMinuteWalkTestDistance,
        ),
        ("HKQuantityTypeIdentifierStepCount", S::Steps),
        ("STEP_COUNT", S::Steps),
        ("HKQuantityTypeIdentifierActiveEnergyBurned", S::Energy),
        ("ACTIVE_CALORIES_BURNED", S::Energy),
        ("TOTAL_CALORIES_BURNED", S::Energy),
        ("HKQuantityTypeIdentifierBasalEnergyBurned", S::BasalEnergy),
        ("BASAL_METABOLIC_RATE", S::BasalEnergy),
        ("HKQuantityTypeIdentifierAppleStandTime", S::StandTime),
        ("HKQuantityTypeIdentifierAppleExerciseTime", S::ExerciseTime),
        ("HKQuantityTypeIdentifierAppleMoveTime", S::ExerciseTime),
        ("HKQuantityTypeIdentifierFlightsClimbed", S::FlightsClimbed),
        ("FLOORS_CLIMBED", S::FlightsClimbed),
        ("HKQuantityTypeIdentifierPhysicalEffort", S::PhysicalEffort),
        (
            "HKQuantityTypeIdentifierDistanceWalkingRunning",
            S::DistanceWalkingRunning,
        ),
        ("DISTANCE", S::DistanceWalkingRunning),
        (
            "HKQuantityTypeIdentifierDistanceCycling",
            S::DistanceCycling,
        ),
        (
            "HKQuantityTypeIdentifierDistanceSwimming",
            S::DistanceSwimming,
        ),
        (
            "HKQuantityTypeIdentifierDistanceDownhillSnowSports",
            S::DistanceDownhillSnowSports,
        ),
        (
            "HKQuantityTypeIdentifierDistanceWheelchair",
            S::DistanceOther,
        ),
        (
            "HKQuantityTypeIdentifierDistanceCrossCountrySkiing",
            S::DistanceOther,
        ),
        (
            "HKQuantityTypeIdentifierDistancePaddleSports",
            S::DistanceOther,
        ),
        ("HKQuantityTypeIdentifierDistanceRowing", S::DistanceOther),
        (
            "HKQuantityTypeIdentifierDistanceSkatingSports",
            S::DistanceOther,
        ),
        (
            "HKQuantityTypeIdentifierUnderwaterDepth",
            S::UnderwaterDepth,
        ),
        ("HKQuantityTypeIdentifierCrossCountrySkiingSpeed", S::Speed),
        ("HKQuantityTypeIdentifierPaddleSportsSpeed", S::Speed),
        ("HKQuantityTypeIdentifierRowingSpeed", S::Speed),
        ("HKQuantityTypeIdentifierNikeFuel", S::NikeFuel),
        (
            "HKQuantityTypeIdentifierWalkingStepLength",
            S::WalkingStepLength,
        ),
        ("HKQuantityTypeIdentifierWalkingSpeed", S::WalkingSpeed),
        (
            "HKQuantityTypeIdentifierWalkingDoubleSupportPercentage",
            S::WalkingDoubleSupportPercentage,
        ),
        (
            "HKQuantityTypeIdentifierWalkingAsymmetryPercentage",
            S::WalkingAsymmetryPercentage,
        ),
        (
            "HKQuantityTypeIdentifierAppleWalkingSteadiness",
            S::WalkingSteadiness,
        ),
        (
            "HKQuantityTypeIdentifierStairDescentSpeed",
            S::StairDescentSpeed,
        ),
        (
            "HKQuantityTypeIdentifierStairAscentSpeed",
            S::StairAscentSpeed,
        ),
        ("HKQuantityTypeIdentifierRunningPower", S::RunningPower),
        ("HKQuantityTypeIdentifierRunningSpeed", S::RunningSpeed),
        (
            "HKQuantityTypeIdentifierRunningVerticalOscillation",
            S::RunningVerticalOscillation,
        ),
        (
            "HKQuantityTypeIdentifierRunningGroundContactTime",
            S::RunningGroundContactTime,
        ),
        (
            "HKQuantityTypeIdentifierRunningStrideLength",
            S::RunningStrideLength,
        ),
        (
            "HKQuantityTypeIdentifierSwimmingStrokeCount",
            S::SwimmingStrokeCount,
        ),
        ("HKQuantityTypeIdentifierCyclingCadence", S::Cadence),
        ("CYCLING_PEDALING_CADENCE", S::Cadence),
        ("HKQuantityTypeIdentifierCyclingPower", S::Power),
        (
            "HKQuantityTypeIdentifierCyclingFunctionalThresholdPower",
            S::Power,
        ),
        ("POWER", S::Power),
        ("HKQuantityTypeIdentifierCyclingSpeed", S::Speed),
        ("SPEED", S::Speed),
        (
            "HKQuantityTypeIdentifierEnvironmentalAudioExposure",
            S::EnvironmentalAudioExposure,
        ),
        (
            "HKQuantityTypeIdentifierHeadphoneAudioExposure",
            S::HeadphoneAudioExposure,
        ),
        (
            "HKQuantityTypeIdentifierEnvironmentalSoundReduction",
            S::EnvironmentalSoundReduction,
        ),
        ("HKQuantityTypeIdentifierTimeInDaylight", S::TimeInDaylight),
        (
            "HKQuantityTypeIdentifierWaterTemperature",
            S::WaterTemperature,
        ),
        (
            "HKQuantityTypeIdentifierNumberOfTimesFallen",
            S::NumberOfTimesFallen,
        ),
        ("HKQuantityTypeIdentifierInhalerUsage", S::InhalerUsage),
        (
            "HKQuantityTypeIdentifierNumberOfAlcoholicBeverages",
            S::NumberOfAlcoholicBeverages,
        ),
        ("HYDRATION", S::Hydration),
        (
            "HKQuantityTypeIdentifierElectrodermalActivity",
            S::ElectrodermalActivity,
        ),
        ("HKQuantityTypeIdentifierUVExposure", S::UvExposure),
        ("HKQuantityTypeIdentifierPushCount", S::PushCount),
        (
            "HKQuantityTypeIdentifierAtrialFibrillationBurden",
            S::AtrialFibrillationBurden,
        ),
        (
            "HKQuantityTypeIdentifierInsulinDelivery",
            S::InsulinDelivery,
        ),
        (
            "HKQuantityTypeIdentifierWorkoutEffortScore",
            S::WorkoutEffortScore,
        ),
        (
            "HKQuantityTypeIdentifierEstimatedWorkoutEffortScore",
            S::EstimatedWorkoutEffortScore,
        ),
    ]
};

/// Maps a record `type` identifier to its series (exact match); `None` ⇒ skip the record.
pub fn map_record_type(identifier: &str) -> Option<SeriesType> {
    RECORD_TYPES
        .iter()
        .find(|(id, _)| *id == identifier)
        .map(|(_, series)| *series)
}

/// Unit normalisation of a record value into the canonical unit (§4.4).
pub fn normalize_record_value(
    series: SeriesType,
    value: f64,
    unit: Option<&str>,
    provider: SdkProvider,
) -> f64 {
    use SeriesType as S;
    match series {
        S::Height | S::WalkingStepLength => value * 100.0,
        S::BodyFatPercentage if provider == SdkProvider::Apple => value * 100.0,
        S::WalkingDoubleSupportPercentage
        | S::WalkingAsymmetryPercentage
        | S::WalkingSteadiness => value * 100.0,
        S::OxygenSaturation if provider == SdkProvider::Apple && value <= 1.0 => value * 100.0,
        S::BloodGlucose if unit.is_some_and(|u| u.to_lowercase().starts_with("mmol")) => {
            value * 18.0182
        }
        _ => value,
    }
}

// ---------------------------------------------------------------------------------------------
// Raw (wire) types — tolerant of unknown fields
// ---------------------------------------------------------------------------------------------

/// A JSON number or numeric string, finite (Pydantic lax `Decimal`/`float`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct LaxNumber(f64);

impl<'de> Deserialize<'de> for LaxNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let parsed = match Value::deserialize(d)? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        parsed
            .filter(|v| v.is_finite())
            .map(LaxNumber)
            .ok_or_else(|| serde::de::Error::custom("expected a finite number"))
    }
}

/// An integer (JSON integer, integral float or integer string).
#[derive(Debug, Clone, Copy, PartialEq)]
struct LaxInt(i64);

impl<'de> Deserialize<'de> for LaxInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let parsed = match Value::deserialize(d)? {
            Value::Number(n) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                    .map(|f| f as i64)
            }),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        parsed
            .map(LaxInt)
            .ok_or_else(|| serde::de::Error::custom("expected an integer"))
    }
}

/// An ISO-8601 string (naive ⇒ UTC) or a Unix timestamp number.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LaxDateTime(DateTime<Utc>);

impl<'de> Deserialize<'de> for LaxDateTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let parsed = match Value::deserialize(d)? {
            Value::String(s) => parse_iso_datetime(&s),
            Value::Number(n) => n.as_f64().and_then(from_unix_number),
            _ => None,
        };
        parsed
            .map(LaxDateTime)
            .ok_or_else(|| serde::de::Error::custom("expected a datetime"))
    }
}

/// Required-but-nullable string field (`unit`): the key must be present.
fn required_nullable_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}

#[derive(Debug, Clone, Deserialize)]
struct RawOsVersion {
    #[serde(alias = "major_version")]
    #[serde(rename = "majorVersion")]
    major: LaxInt,
    #[serde(alias = "minor_version")]
    #[serde(rename = "minorVersion")]
    minor: LaxInt,
    #[serde(alias = "patch_version")]
    #[serde(rename = "patchVersion")]
    patch: LaxInt,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct RawSource {
    #[serde(alias = "app_id")]
    app_id: Option<String>,
    name: Option<String>,
    #[serde(alias = "bundle_identifier")]
    bundle_identifier: Option<String>,
    #[serde(alias = "product_type")]
    product_type: Option<String>,
    #[serde(alias = "operating_system_version")]
    operating_system_version: Option<RawOsVersion>,
    #[serde(alias = "device_name")]
    device_name: Option<String>,
    #[serde(alias = "device_type")]
    device_type: Option<String>,
    #[serde(alias = "device_model")]
    device_model: Option<String>,
    // Accepted and type-checked, otherwise unused.
    version: Option<String>,
    #[serde(alias = "device_id")]
    device_id: Option<String>,
    #[serde(alias = "device_manufacturer")]
    device_manufacturer: Option<String>,
    #[serde(alias = "device_hardware_version")]
    device_hardware_version: Option<String>,
    #[serde(alias = "device_software_version")]
    device_software_version: Option<String>,
    #[serde(alias = "recording_method")]
    recording_method: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRecord {
    #[serde(default)]
    id: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    start_date: LaxDateTime,
    end_date: LaxDateTime,
    #[serde(default)]
    zone_offset: Option<String>,
    #[serde(default)]
    source: Option<RawSource>,
    value: LaxNumber,
    #[serde(deserialize_with = "required_nullable_string")]
    unit: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawStatistic {
    #[serde(rename = "type")]
    kind: String,
    unit: String,
    value: LaxNumber,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawWorkout {
    #[serde(default)]
    id: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    start_date: LaxDateTime,
    end_date: LaxDateTime,
    #[serde(default)]
    zone_offset: Option<String>,
    #[serde(default)]
    source: Option<RawSource>,
    #[serde(default)]
    values: Option<Vec<RawStatistic>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSleep {
    #[serde(default)]
    id: Option<String>,
    stage: String,
    start_date: LaxDateTime,
    end_date: LaxDateTime,
    #[serde(default)]
    zone_offset: Option<String>,
    #[serde(default)]
    source: Option<Value>,
}

// ---------------------------------------------------------------------------------------------
// Envelope
// ---------------------------------------------------------------------------------------------

/// Parses an SDK push body. `provider_override` forces the provider (legacy per-provider routes);
/// otherwise the body's `provider` is used (case-insensitive). Never panics.
pub fn parse_sdk_payload(
    bytes: &[u8],
    provider_override: Option<SdkProvider>,
) -> Result<ParsedBatch, ParseError> {
    parse_payload(bytes, provider_override, true)
}

fn parse_payload(
    bytes: &[u8],
    provider_override: Option<SdkProvider>,
    one_pass: bool,
) -> Result<ParsedBatch, ParseError> {
    // Borrow the item arrays as raw JSON slices: each item is decoded on its own, so a 6 MB
    // batch never exists twice in memory as a value tree. The common shape is read in one pass
    // ([`FastEnvelope`]); anything it refuses (not an object, duplicate keys, a `data` that is
    // not an object of arrays...) goes through the general reading, which names the fault.
    let object = one_pass && bytes.iter().find(|b| !b" \t\r\n".contains(b)) == Some(&b'{');
    let (provider, sdk_version, sync_timestamp, (records, workouts, sleep)) =
        match serde_json::from_slice::<FastEnvelope<'_>>(bytes)
            .ok()
            .filter(|_| object)
        {
            Some(env) => {
                let field = |r: Option<&RawValue>| {
                    r.and_then(|r| serde_json::from_str::<Value>(r.get()).ok())
                };
                let data = env.data.unwrap_or_default();
                (
                    field(env.provider),
                    field(env.sdk_version),
                    field(env.sync_timestamp),
                    (
                        data.records.unwrap_or_default(),
                        data.workouts.unwrap_or_default(),
                        data.sleep.unwrap_or_default(),
                    ),
                )
            }
            None => general_envelope(bytes)?,
        };
    let provider = resolve_provider(provider, provider_override)?;
    let sdk_version = match sdk_version {
        Some(Value::String(s)) => s,
        _ => return Err(ParseError::InvalidEnvelope("sdkVersion is required")),
    };
    let sync_timestamp = sync_timestamp
        .and_then(|v| serde_json::from_value::<LaxDateTime>(v).ok())
        .ok_or(ParseError::InvalidEnvelope("syncTimestamp is required"))?;

    let mut batch = ParsedBatch {
        provider: Some(provider),
        sdk_version,
        sync_timestamp: Some(sync_timestamp.0),
        ..ParsedBatch::default()
    };
    let mut samples = Vec::new();
    parse_workouts(workouts, provider, &mut batch, &mut samples);
    parse_records(records, provider, &mut batch, &mut samples);
    parse_sleep(sleep, provider, &mut batch);
    batch.records_saved = samples.len();
    batch.samples = collapse_samples(samples);
    Ok(batch)
}

/// The envelope's fields as raw slices, read in one pass over the body.
#[derive(Deserialize)]
struct FastEnvelope<'a> {
    #[serde(borrow, default)]
    provider: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "sdkVersion")]
    sdk_version: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "syncTimestamp")]
    sync_timestamp: Option<&'a RawValue>,
    #[serde(borrow, default)]
    data: Option<FastData<'a>>,
}

/// `data`'s three item lists, each item a raw slice. Read from a JSON object only (a derived
/// struct would also take an array), each key once.
#[derive(Default)]
struct FastData<'a> {
    records: Option<Vec<&'a RawValue>>,
    workouts: Option<Vec<&'a RawValue>>,
    sleep: Option<Vec<&'a RawValue>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for FastData<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = FastData<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = FastData::default();
                let mut seen = [false; 3];
                while let Some(k) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                    let (slot, n) = match k.as_ref() {
                        "records" => (&mut out.records, 0),
                        "workouts" => (&mut out.workouts, 1),
                        "sleep" => (&mut out.sleep, 2),
                        _ => {
                            m.next_value::<serde::de::IgnoredAny>()?;
                            continue;
                        }
                    };
                    if std::mem::replace(&mut seen[n], true) {
                        return Err(serde::de::Error::custom("duplicate key"));
                    }
                    *slot = m.next_value::<Option<Vec<&'de RawValue>>>()?;
                }
                Ok(out)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

type Envelope<'a> = (Option<Value>, Option<Value>, Option<Value>, ItemLists<'a>);

/// The general envelope reading: any JSON object, the last of repeated keys winning, each
/// fault named.
fn general_envelope(bytes: &[u8]) -> Result<Envelope<'_>, ParseError> {
    let root: &RawValue = serde_json::from_slice(bytes).map_err(|_| ParseError::InvalidJson)?;
    let envelope: std::collections::BTreeMap<String, &RawValue> =
        serde_json::from_str(root.get()).map_err(|_| ParseError::NotAnObject)?;
    let field = |k: &str| {
        envelope
            .get(k)
            .and_then(|r| serde_json::from_str::<Value>(r.get()).ok())
    };
    Ok((
        field("provider"),
        field("sdkVersion"),
        field("syncTimestamp"),
        split_data(envelope.get("data").copied())?,
    ))
}

fn resolve_provider(
    provider: Option<Value>,
    provider_override: Option<SdkProvider>,
) -> Result<SdkProvider, ParseError> {
    if let Some(p) = provider_override {
        return Ok(p);
    }
    match provider {
        Some(Value::String(s)) => {
            SdkProvider::parse(&s).ok_or_else(|| ParseError::UnsupportedProvider(s.to_lowercase()))
        }
        _ => Err(ParseError::MissingProvider),
    }
}

type ItemLists<'a> = (Vec<&'a RawValue>, Vec<&'a RawValue>, Vec<&'a RawValue>);

fn split_data(data: Option<&RawValue>) -> Result<ItemLists<'_>, ParseError> {
    let Some(data) = data.filter(|d| d.get().trim() != "null") else {
        return Ok((Vec::new(), Vec::new(), Vec::new()));
    };
    let map: std::collections::BTreeMap<String, &RawValue> = serde_json::from_str(data.get())
        .map_err(|_| ParseError::InvalidEnvelope("data must be an object"))?;
    let list = |key: &'static str| -> Result<Vec<&RawValue>, ParseError> {
        match map.get(key) {
            None => Ok(Vec::new()),
            Some(raw) if raw.get().trim() == "null" => Ok(Vec::new()),
            Some(raw) => serde_json::from_str(raw.get()).map_err(|_| {
                ParseError::InvalidEnvelope(match key {
                    "records" => "data.records must be an array",
                    "workouts" => "data.workouts must be an array",
                    _ => "data.sleep must be an array",
                })
            }),
        }
    };
    Ok((list("records")?, list("workouts")?, list("sleep")?))
}

impl ParsedBatch {
    fn drop_item(&mut self, kind: ItemKind, index: usize, reason: &'static str) {
        self.dropped_count += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(ItemError {
                kind,
                index,
                reason,
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shared item validation
// ---------------------------------------------------------------------------------------------

fn derive_source(
    raw: Option<RawSource>,
    provider: SdkProvider,
) -> Result<SourceInfo, &'static str> {
    let raw = raw.unwrap_or_default();
    let device_model = raw.device_model.or(raw.product_type);
    let source = raw
        .name
        .or(raw.device_name)
        .or(raw.app_id)
        .or(raw.bundle_identifier);
    let software_version = raw
        .operating_system_version
        .map(|v| format!("{}.{}.{}", v.major.0, v.minor.0, v.patch.0));
    let info = SourceInfo {
        provider,
        device_model,
        software_version,
        source,
        sdk_device_type: raw.device_type,
    };
    check_source(&info)?;
    Ok(info)
}

/// The length bounds of a source's stored fields (DataSource columns).
pub(crate) fn check_source(info: &SourceInfo) -> Result<(), &'static str> {
    let SourceInfo {
        device_model,
        software_version,
        source,
        ..
    } = info;
    if device_model
        .as_ref()
        .is_some_and(|m| m.chars().count() > MAX_DEVICE_MODEL_LEN)
    {
        return Err("device model too long");
    }
    if source
        .as_ref()
        .is_some_and(|s| s.chars().count() > MAX_WRITER_LEN)
    {
        return Err("source name too long");
    }
    if software_version
        .as_ref()
        .is_some_and(|s| s.len() > MAX_SOFTWARE_VERSION_LEN)
    {
        return Err("software version too long");
    }
    Ok(())
}

pub(crate) fn check_zone(raw: Option<&str>) -> Result<Option<String>, &'static str> {
    match raw {
        None => Ok(None),
        Some(z) => normalize_zone_offset(z)
            .map(Some)
            .ok_or("invalid zoneOffset"),
    }
}

fn check_external_id(id: Option<String>) -> Result<Option<String>, &'static str> {
    match id {
        Some(s) if s.chars().count() > MAX_EXTERNAL_ID_LEN => Err("id too long"),
        other => Ok(other),
    }
}

/// An item's time span: both ends in the storable years, the end not before the start, and
/// at most `max_seconds` long when given.
pub(crate) fn check_span(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    max_seconds: Option<i64>,
) -> Result<(), &'static str> {
    if !stored_instant_in_range(start) || !stored_instant_in_range(end) {
        return Err("timestamp out of range");
    }
    if end < start {
        return Err("end before start");
    }
    if max_seconds.is_some_and(|m| (end - start).num_seconds() > m) {
        return Err("duration too long");
    }
    Ok(())
}

/// Rounds to the sample column scale (numeric(10,3)); `Err` when it would overflow.
pub(crate) fn stored_value(v: f64) -> Result<f64, &'static str> {
    if fits_numeric(v, 10, 3) {
        Ok(round_half_away_to(v, 3))
    } else {
        Err("value out of range")
    }
}

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

fn parse_records(
    items: Vec<&RawValue>,
    provider: SdkProvider,
    batch: &mut ParsedBatch,
    out: &mut Vec<Sample>,
) {
    for (index, item) in items.into_iter().enumerate() {
        let Ok(raw) = serde_json::from_str::<RawRecord>(item.get()) else {
            batch.drop_item(ItemKind::Record, index, "schema validation failed");
            continue;
        };
        match build_record_sample(raw, provider) {
            Ok(sample) => out.push(sample),
            Err(reason) => batch.drop_item(ItemKind::Record, index, reason),
        }
    }
}

fn build_record_sample(raw: RawRecord, provider: SdkProvider) -> Result<Sample, &'static str> {
    let series = raw
        .kind
        .as_deref()
        .and_then(map_record_type)
        .ok_or("unknown record type")?;
    let source = derive_source(raw.source, provider)?;
    let zone_offset = check_zone(raw.zone_offset.as_deref())?;
    let external_id = check_external_id(raw.id)?;
    check_span(raw.start_date.0, raw.end_date.0, None)?;
    let value = normalize_record_value(series, raw.value.0, raw.unit.as_deref(), provider);
    Ok(Sample {
        series,
        recorded_at: raw.start_date.0,
        value: stored_value(value)?,
        zone_offset,
        source,
        external_id,
        is_daily_total: series.is_daily_total(),
        origin: SampleOrigin::Record,
    })
}

/// Collapses samples with the same [`SampleKey`]: the last occurrence wins, kept at the position of the
/// first occurrence. The sources of a batch are interned first (a batch has a handful), so a
/// sample's key is three integers, not three cloned strings.
pub fn collapse_samples(samples: Vec<Sample>) -> Vec<Sample> {
    let mut sources: HashMap<(SdkProvider, &str, &str), usize> = HashMap::new();
    let keys: Vec<(usize, u16, i64)> = samples
        .iter()
        .map(|s| {
            let id = (
                s.source.provider,
                s.source.device_model.as_deref().unwrap_or(""),
                s.source.source.as_deref().unwrap_or(""),
            );
            let next = sources.len();
            let n = *sources.entry(id).or_insert(next);
            (n, s.series.id(), s.recorded_at.timestamp_micros())
        })
        .collect();
    let mut index: HashMap<(usize, u16, i64), usize> = HashMap::with_capacity(samples.len());
    let mut out: Vec<Sample> = Vec::with_capacity(samples.len());
    for (sample, key) in samples.into_iter().zip(keys) {
        match index.entry(key) {
            Entry::Occupied(slot) => out[*slot.get()] = sample,
            Entry::Vacant(slot) => {
                slot.insert(out.len());
                out.push(sample);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Workouts (§4.5)
// ---------------------------------------------------------------------------------------------

fn parse_workouts(
    items: Vec<&RawValue>,
    provider: SdkProvider,
    batch: &mut ParsedBatch,
    out: &mut Vec<Sample>,
) {
    let mut seen: HashMap<EventKey, ()> = HashMap::new();
    for (index, item) in items.into_iter().enumerate() {
        let Ok(raw) = serde_json::from_str::<RawWorkout>(item.get()) else {
            batch.drop_item(ItemKind::Workout, index, "schema validation failed");
            continue;
        };
        match build_workout(raw, provider) {
            Ok((event, samples)) => {
                out.extend(samples);
                if seen.insert(event.dedup_key(), ()).is_none() {
                    batch.workouts.push(event);
                }
            }
            Err(reason) => batch.drop_item(ItemKind::Workout, index, reason),
        }
    }
}

/// Details, duration statistic and series statistics of one workout.
type FinishedStats = (WorkoutDetails, Option<f64>, Vec<(SeriesType, f64)>);

/// Running accumulation of workout statistics.
#[derive(Debug, Default)]
struct StatAccumulator {
    details: WorkoutDetails,
    duration: Option<f64>,
    active_basal: f64,
    has_active_basal: bool,
    total_like: Option<f64>,
    legacy_distance: Option<f64>,
    legacy_steps: Option<f64>,
    series: Vec<(SeriesType, f64)>,
}

impl StatAccumulator {
    fn add_parts(&mut self, kind: &str, unit: &str, v: f64) {
        let d = &mut self.details;
        match kind {
            "duration" | "totalDuration" => {
                self.duration = Some(if unit == "ms" { v / 1000.0 } else { v });
            }
            "activeEnergyBurned" | "basalEnergyBurned" => {
                self.active_basal += v;
                self.has_active_basal = true;
            }
            "calories" | "totalCalories" | "totalEnergyBurned" => {
                self.total_like = Some(self.total_like.map_or(v, |t| t.max(v)));
            }
            "totalDistance" => self.legacy_distance = Some(v),
            "totalSteps" => self.legacy_steps = Some(v),
            "distance" => d.distance = Some(v),
            "stepCount" => d.steps_count = Some(trunc_i64(v)),
            "minHeartRate" => d.heart_rate_min = Some(round_half_away_i64(v)),
            "averageHeartRate" | "meanHeartRate" => d.heart_rate_avg = Some(v),
            "maxHeartRate" => d.heart_rate_max = Some(round_half_away_i64(v)),
            "averageRunningPower" => d.average_watts = Some(v),
            "averageRunningSpeed" | "averageSpeed" | "meanSpeed" => d.average_speed = Some(v),
            "maxSpeed" => d.max_speed = Some(v),
            "elevationAscended" | "altitudeGain" => d.total_elevation_gain = Some(v),
            "maxAltitude" => d.elev_high = Some(v),
            "minAltitude" => d.elev_low = Some(v),
            other => {
                if let Some(series) = workout_series_statistic(other) {
                    self.series
                        .push((series, convert_statistic_unit(series, v, unit)));
                }
            }
        }
    }

    fn finish(mut self) -> Result<FinishedStats, &'static str> {
        let energy = self.total_like.unwrap_or(if self.has_active_basal {
            self.active_basal
        } else {
            0.0
        });
        let d = &mut self.details;
        d.energy_burned = energy;
        d.distance = d.distance.or(self.legacy_distance);
        d.steps_count = d.steps_count.or(self.legacy_steps.map(trunc_i64));
        round_details(d)?;
        Ok((self.details, self.duration, self.series))
    }
}

/// Workout statistics that become samples (series statistics of §4.5, minus the legacy totals).
fn workout_series_statistic(kind: &str) -> Option<SeriesType> {
    use SeriesType as S;
    Some(match kind {
        "averageRunningStrideLength" => S::RunningStrideLength,
        "averageVerticalOscillation" => S::RunningVerticalOscillation,
        "averageGroundContactTime" => S::RunningGroundContactTime,
        "averageMETs" => S::AverageMet,
        "weatherTemperature" => S::WeatherTemperature,
        "weatherHumidity" => S::WeatherHumidity,
        "swimmingStrokeCount" => S::SwimmingStrokeCount,
        "meanCadence" | "maxCadence" => S::Cadence,
        "vo2Max" => S::Vo2Max,
        _ => return None,
    })
}

/// Converts a workout statistic whose unit clearly differs from the canonical unit.
fn convert_statistic_unit(series: SeriesType, value: f64, unit: &str) -> f64 {
    use SeriesType as S;
    let u = unit.trim().to_lowercase();
    match series {
        S::RunningStrideLength | S::RunningVerticalOscillation if u == "m" => value * 100.0,
        S::RunningStrideLength | S::RunningVerticalOscillation if u == "mm" => value / 10.0,
        S::RunningGroundContactTime if u == "s" => value * 1000.0,
        S::WeatherTemperature if matches!(u.as_str(), "degf" | "°f" | "f" | "fahrenheit") => {
            (value - 32.0) * 5.0 / 9.0
        }
        _ => value,
    }
}

fn round_opt(v: &mut Option<f64>, precision: u32, scale: u32) -> Result<(), &'static str> {
    if let Some(x) = *v {
        if !fits_numeric(x, precision, scale) {
            return Err("workout statistic out of range");
        }
        *v = Some(round_half_away_to(x, scale));
    }
    Ok(())
}

fn round_details(d: &mut WorkoutDetails) -> Result<(), &'static str> {
    let mut energy = Some(d.energy_burned);
    round_opt(&mut energy, 10, 3)?;
    d.energy_burned = energy.unwrap_or(0.0);
    round_opt(&mut d.distance, 10, 3)?;
    round_opt(&mut d.heart_rate_avg, 5, 2)?;
    round_opt(&mut d.average_watts, 10, 3)?;
    round_opt(&mut d.average_speed, 5, 2)?;
    round_opt(&mut d.max_speed, 5, 2)?;
    round_opt(&mut d.total_elevation_gain, 10, 3)?;
    round_opt(&mut d.elev_high, 10, 3)?;
    round_opt(&mut d.elev_low, 10, 3)?;
    let int_ok =
        |v: Option<i64>| v.is_none_or(|x| x.unsigned_abs() <= i64::from(i32::MAX).unsigned_abs());
    if int_ok(d.heart_rate_min) && int_ok(d.heart_rate_max) && int_ok(d.steps_count) {
        Ok(())
    } else {
        Err("workout statistic out of range")
    }
}

fn build_workout(
    raw: RawWorkout,
    provider: SdkProvider,
) -> Result<(WorkoutEvent, Vec<Sample>), &'static str> {
    let source = derive_source(raw.source, provider)?;
    let statistics: Option<Vec<WorkoutStatistic<'_>>> = raw.values.as_ref().map(|values| {
        values
            .iter()
            .map(|v| WorkoutStatistic {
                kind: &v.kind,
                unit: &v.unit,
                value: v.value.0,
            })
            .collect()
    });
    build_workout_from(WorkoutInput {
        external_id: raw.id,
        kind: raw.kind.as_deref(),
        start: raw.start_date.0,
        end: raw.end_date.0,
        zone_offset: raw.zone_offset.as_deref(),
        source,
        statistics: statistics.as_deref(),
    })
}

/// One workout statistic in the SDK's vocabulary (`type`, `unit`, `value` of §4.5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkoutStatistic<'a> {
    pub kind: &'a str,
    pub unit: &'a str,
    pub value: f64,
}

/// A workout from any device source (an SDK item, an Apple Health export element), before
/// validation.
#[derive(Debug, Clone)]
pub struct WorkoutInput<'a> {
    pub external_id: Option<String>,
    /// The SDK workout type (HealthKit snake_case or Health Connect upper case).
    pub kind: Option<&'a str>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Unchecked `±HH:MM` offset.
    pub zone_offset: Option<&'a str>,
    pub source: SourceInfo,
    /// `None`: the item carried no statistics array.
    pub statistics: Option<&'a [WorkoutStatistic<'a>]>,
}

/// Builds a workout event and its statistic samples by the SDK's rules (§4.5): the checks,
/// the energy rule, the details' rounding and the series statistics.
pub fn build_workout_from(
    input: WorkoutInput<'_>,
) -> Result<(WorkoutEvent, Vec<Sample>), &'static str> {
    let WorkoutInput {
        external_id,
        kind,
        start,
        end,
        zone_offset,
        source,
        statistics,
    } = input;
    let zone_offset = check_zone(zone_offset)?;
    let external_id = check_external_id(external_id)?;
    let source_name = source
        .source
        .clone()
        .unwrap_or_else(|| "unknown".to_owned());
    if source_name.chars().count() > MAX_WORKOUT_SOURCE_NAME_LEN {
        return Err("source name too long");
    }
    check_span(start, end, Some(MAX_EVENT_SECONDS))?;
    let mut details = None;
    let mut duration = None;
    let mut samples = Vec::new();
    if let Some(values) = statistics {
        let mut acc = StatAccumulator::default();
        values
            .iter()
            .for_each(|stat| acc.add_parts(stat.kind, stat.unit, stat.value));
        let (d, dur, series) = acc.finish()?;
        details = Some(d);
        duration = dur;
        for (series, value) in series {
            samples.push(Sample {
                series,
                recorded_at: end,
                value: stored_value(value)?,
                zone_offset: zone_offset.clone(),
                source: source.clone(),
                external_id: None,
                is_daily_total: series.is_daily_total(),
                origin: SampleOrigin::WorkoutStatistic,
            });
        }
    }
    let duration_seconds = match duration {
        Some(d) => trunc_i64(d),
        None => (end - start).num_seconds(),
    };
    let event = WorkoutEvent {
        external_id,
        workout_type: kind.map(map_sdk_workout_type),
        start,
        end,
        zone_offset,
        source,
        source_name,
        duration_seconds,
        details,
    };
    Ok((event, samples))
}

// ---------------------------------------------------------------------------------------------
// Sleep (§4.6 input side)
// ---------------------------------------------------------------------------------------------

fn parse_sleep(items: Vec<&RawValue>, provider: SdkProvider, batch: &mut ParsedBatch) {
    for (index, item) in items.into_iter().enumerate() {
        let Ok(raw) = serde_json::from_str::<RawSleep>(item.get()) else {
            batch.drop_item(ItemKind::Sleep, index, "schema validation failed");
            continue;
        };
        match build_sleep_segment(raw, provider) {
            Ok(Some(segment)) => {
                batch.sleep_saved += 1;
                batch.sleep_segments.push(segment);
            }
            Ok(None) => {
                batch.sleep_saved += 1;
                batch.skipped_sleep += 1;
            }
            Err(reason) => batch.drop_item(ItemKind::Sleep, index, reason),
        }
    }
}

fn build_sleep_segment(
    raw: RawSleep,
    provider: SdkProvider,
) -> Result<Option<SleepSegment>, &'static str> {
    let raw_source = match raw.source {
        None | Some(Value::Null) => None,
        Some(v) => Some(v),
    };
    let parsed_source = match raw_source.as_ref() {
        None => None,
        Some(v) => {
            Some(serde_json::from_value::<RawSource>(v.clone()).map_err(|_| "invalid source")?)
        }
    };
    let source = derive_source(parsed_source, provider)?;
    let zone_offset = check_zone(raw.zone_offset.as_deref())?;
    let external_id = check_external_id(raw.id)?;
    check_span(raw.start_date.0, raw.end_date.0, Some(MAX_EVENT_SECONDS))?;
    let Some(stage) = SleepStage::parse(&raw.stage) else {
        return Ok(None);
    };
    let source_fingerprint = raw_source.map_or_else(|| "null".to_owned(), |v| v.to_string());
    Ok(Some(SleepSegment {
        external_id,
        stage,
        start: raw.start_date.0,
        end: raw.end_date.0,
        zone_offset,
        source,
        source_fingerprint,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashSet;

    /// The one-pass envelope reading and the general one agree on every shape, the odd ones
    /// included (the one-pass reading hands those to the general one).
    #[test]
    fn the_one_pass_envelope_agrees_with_the_general_reading() {
        let rec = r#"{"type":"HKQuantityTypeIdentifierHeartRate","startDate":"2025-03-01T10:00:00Z","endDate":"2025-03-01T10:00:00Z","value":61,"unit":"count/min","source":{"name":"W"}}"#;
        let env = |data: &str| {
            format!(
                r#"{{"provider":"apple","sdkVersion":"1.0","syncTimestamp":"2025-03-01T12:00:00Z","data":{data}}}"#
            )
        };
        let bodies = vec![
            env(&format!(r#"{{"records":[{rec}],"workouts":[],"sleep":[]}}"#)),
            env(&format!(r#"{{"records":[{rec},{rec}],"extra":{{"a":[1,2]}}}}"#)),
            env("null"),
            env(r#"{"records":null,"workouts":null}"#),
            env("[]"),
            env(r#"[[], [], []]"#),
            env(r#"{"records":{}}"#),
            env(r#"{"records":"x"}"#),
            env(&format!(r#"{{"records":[{rec}],"records":[]}}"#)),
            env(&format!(r#"{{"records":[{rec}]}}"#)),
            format!(r#"{{"provider":"apple","provider":"samsung","sdkVersion":"1","syncTimestamp":"2025-03-01T12:00:00Z","data":{{"records":[{rec}]}}}}"#),
            format!(r#"["apple","1.0","2025-03-01T12:00:00Z",{{"records":[{rec}]}}]"#),
            format!(r#"  {{"provider":"APPLE","sdkVersion":"1","syncTimestamp":1740830400,"data":{{"records":[{rec}]}}}}  "#),
            r#"{"provider":"apple","syncTimestamp":"2025-03-01T12:00:00Z"}"#.to_string(),
            r#"{"provider":"fitbit","sdkVersion":"1","syncTimestamp":"2025-03-01T12:00:00Z"}"#.to_string(),
            r#"{"sdkVersion":"1"}"#.to_string(),
            r#"{"provider":"apple","sdkVersion":"1","syncTimestamp":"2025-03-01T12:00:00Z","data":{"records":[1,{}]}}"#.to_string(),
            "[]".to_string(),
            "{".to_string(),
            "".to_string(),
            "\"x\"".to_string(),
        ];
        for body in &bodies {
            for over in [None, Some(SdkProvider::Samsung)] {
                assert_eq!(
                    parse_payload(body.as_bytes(), over, true),
                    parse_payload(body.as_bytes(), over, false),
                    "{body}"
                );
            }
        }
        // And the common shape is read.
        let ok = parse_sdk_payload(bodies[1].as_bytes(), None).expect("parsed");
        assert_eq!(ok.records_saved, 2);
    }

    fn parse(v: Value) -> ParsedBatch {
        let bytes = serde_json::to_vec(&v).expect("serialise test payload");
        parse_sdk_payload(&bytes, None).expect("valid test payload")
    }

    fn envelope(provider: &str, data: Value) -> Value {
        json!({"provider": provider, "sdkVersion": "1.0.0", "syncTimestamp": "2025-03-02T00:00:00Z", "data": data})
    }

    fn record(kind: &str, value: Value, unit: Value) -> Value {
        json!({"id": "r1", "type": kind, "startDate": "2025-03-01T10:00:00Z", "endDate": "2025-03-01T10:00:00Z",
               "zoneOffset": "+01:00", "value": value, "unit": unit,
               "source": {"name": "Watch", "productType": "Watch7,5"}})
    }

    fn one_value(provider: &str, kind: &str, value: Value, unit: Value) -> f64 {
        let b = parse(envelope(
            provider,
            json!({"records": [record(kind, value, unit)]}),
        ));
        assert_eq!(b.samples.len(), 1, "{kind}");
        b.samples[0].value
    }

    #[test]
    fn record_table_is_complete() {
        assert_eq!(RECORD_TYPES.len(), 108);
        let ids: HashSet<&str> = RECORD_TYPES.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids.len(), 108);
        assert_eq!(
            map_record_type("HEART_RATE_VARIABILITY"),
            Some(SeriesType::HeartRateVariabilityRmssd)
        );
        assert_eq!(
            map_record_type("TOTAL_CALORIES_BURNED"),
            Some(SeriesType::Energy)
        );
        assert_eq!(
            map_record_type("HKCategoryTypeIdentifierSleepAnalysis"),
            None
        );
        assert_eq!(map_record_type("heart_rate"), None);
    }

    #[test]
    fn unit_conversions_rule_7() {
        assert_eq!(
            one_value(
                "apple",
                "HKQuantityTypeIdentifierBodyFatPercentage",
                json!(0.304),
                json!("%")
            ),
            30.4
        );
        assert_eq!(
            one_value("google", "BODY_FAT", json!(30.4), json!("%")),
            30.4
        );
        assert_eq!(
            one_value("samsung", "BODY_FAT", json!(30.4), json!(null)),
            30.4
        );
        assert_eq!(
            one_value(
                "apple",
                "HKQuantityTypeIdentifierHeight",
                json!(1.7526),
                json!("m")
            ),
            175.26
        );
        assert_eq!(
            one_value("samsung", "HEIGHT", json!(1.7526), json!("m")),
            175.26
        );
        assert_eq!(
            one_value("samsung", "BLOOD_GLUCOSE", json!(6.111), json!("mmol/L")),
            110.109
        );
        assert_eq!(
            one_value("samsung", "BLOOD_GLUCOSE", json!(6.111), json!("MMOL/L")),
            110.109
        );
        assert_eq!(
            one_value("samsung", "BLOOD_GLUCOSE", json!(6.111), json!(null)),
            6.111
        );
        assert_eq!(
            one_value("samsung", "BLOOD_GLUCOSE", json!(6.111), json!("")),
            6.111
        );
        assert_eq!(
            one_value(
                "apple",
                "HKQuantityTypeIdentifierBloodGlucose",
                json!(105),
                json!("mg/dL")
            ),
            105.0
        );
        assert_eq!(
            one_value(
                "apple",
                "HKQuantityTypeIdentifierWalkingAsymmetryPercentage",
                json!(0.05),
                json!("%")
            ),
            5.0
        );
        assert_eq!(
            one_value(
                "apple",
                "HKQuantityTypeIdentifierWalkingStepLength",
                json!(0.72),
                json!("m")
            ),
            72.0
        );
        assert_eq!(
            one_value(
                "apple",
                "HKQuantityTypeIdentifierOxygenSaturation",
                json!(0.97),
                json!("%")
            ),
            97.0
        );
        assert_eq!(
            one_value("google", "OXYGEN_SATURATION", json!(97), json!("%")),
            97.0
        );
        assert_eq!(
            one_value(
                "apple",
                "HKQuantityTypeIdentifierStepCount",
                json!("120"),
                json!("count")
            ),
            120.0
        );
    }

    #[test]
    fn record_uses_start_date_and_provenance() {
        let mut r = record(
            "HKQuantityTypeIdentifierStepCount",
            json!(50),
            json!("count"),
        );
        r["endDate"] = json!("2025-03-01T10:05:00Z");
        r["source"] = json!({"name": "W", "deviceModel": "Watch", "productType": "Watch7,5",
                             "operatingSystemVersion": {"majorVersion": 10, "minorVersion": 3, "patchVersion": 1}});
        let b = parse(envelope("Apple", json!({"records": [r]})));
        let s = &b.samples[0];
        assert_eq!(s.recorded_at.to_rfc3339(), "2025-03-01T10:00:00+00:00");
        assert_eq!(s.source.provider, SdkProvider::Apple);
        assert_eq!(s.source.device_model.as_deref(), Some("Watch"));
        assert_eq!(s.source.software_version.as_deref(), Some("10.3.1"));
        assert_eq!(s.is_daily_total, Some(false));
        assert_eq!(s.zone_offset.as_deref(), Some("+01:00"));
    }

    #[test]
    fn writer_precedence() {
        let src = |v: Value| {
            let mut r = record("HEART_RATE", json!(60), json!("bpm"));
            r["source"] = v;
            parse(envelope("google", json!({"records": [r]}))).samples[0]
                .source
                .source
                .clone()
        };
        assert_eq!(
            src(json!({"deviceName": "D", "appId": "A", "bundleIdentifier": "B"})).as_deref(),
            Some("D")
        );
        assert_eq!(
            src(json!({"app_id": "A", "bundleIdentifier": "B"})).as_deref(),
            Some("A")
        );
        assert_eq!(src(json!({"bundleIdentifier": "B"})).as_deref(), Some("B"));
        assert_eq!(src(json!(null)), None);
    }

    #[test]
    fn per_item_rejections() {
        let mut no_unit = record("HEART_RATE", json!(60), json!(null));
        no_unit.as_object_mut().map(|m| m.remove("unit"));
        let mut bad_date = record("HEART_RATE", json!(60), json!(null));
        bad_date["startDate"] = json!("not a date");
        let mut bad_zone = record("HEART_RATE", json!(60), json!(null));
        bad_zone["zoneOffset"] = json!("+1");
        let mut no_value = record("HEART_RATE", json!(60), json!(null));
        no_value.as_object_mut().map(|m| m.remove("value"));
        let mut z = record("HEART_RATE", json!(61), json!(null));
        z["zoneOffset"] = json!("Z");
        let items = vec![
            record("HEART_RATE", json!(60), json!(null)),
            no_unit,
            bad_date,
            bad_zone,
            no_value,
            record("HEART_RATE", json!("abc"), json!(null)),
            record("HEART_RATE", json!(1e8), json!(null)),
            record("UNKNOWN_TYPE", json!(1), json!(null)),
            json!(42),
            z,
        ];
        let b = parse(envelope("google", json!({"records": items})));
        assert_eq!(b.dropped_count, 8);
        assert_eq!(b.records_saved, 2);
        // Same key (same source, type, instant) → collapsed, last wins.
        assert_eq!(b.samples.len(), 1);
        assert_eq!(b.samples[0].value, 61.0);
        assert_eq!(b.samples[0].zone_offset.as_deref(), Some("+00:00"));
        assert_eq!(b.errors.len(), 8);
        assert_eq!(b.errors[0].index, 1);
        assert_eq!(b.errors[6].reason, "unknown record type");
    }

    #[test]
    fn items_with_impossible_spans_are_dropped_and_counted() {
        let mut backwards = record("HEART_RATE", json!(60), json!(null));
        backwards["endDate"] = json!("2025-03-01T07:00:00Z");
        let mut ancient = record("HEART_RATE", json!(60), json!(null));
        ancient["startDate"] = json!("0001-01-01T00:00:00Z");
        ancient["endDate"] = json!("0001-01-01T00:00:00Z");
        let b = parse(envelope("apple", json!({"records": [backwards, ancient]})));
        assert_eq!((b.dropped_count, b.samples.len()), (2, 0));
        let reasons: Vec<_> = b.errors.iter().map(|e| e.reason).collect();
        assert_eq!(reasons, ["end before start", "timestamp out of range"]);

        let span = |start: &str, end: &str| {
            let mut w = workout(json!([]));
            w["startDate"] = json!(start);
            w["endDate"] = json!(end);
            w
        };
        let b = parse(envelope(
            "apple",
            json!({"workouts": [
                span("2025-03-01T08:00:00Z", "2025-03-01T07:00:00Z"),
                span("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"),
                span("2025-01-01T00:00:00Z", "2025-03-01T00:00:00Z"),
                span("2025-03-01T07:00:00Z", "2025-03-01T07:00:00Z"),
            ]}),
        ));
        assert_eq!((b.dropped_count, b.workouts.len()), (3, 1));
        let reasons: Vec<_> = b.errors.iter().map(|e| e.reason).collect();
        assert_eq!(
            reasons,
            [
                "end before start",
                "timestamp out of range",
                "duration too long"
            ]
        );
        assert_eq!(b.workouts[0].duration_seconds, 0);

        let seg = json!({"stage": "deep", "startDate": "2025-03-01T02:00:00Z",
                         "endDate": "2025-03-01T01:00:00Z"});
        let b = parse(envelope("apple", json!({"sleep": [seg]})));
        assert_eq!((b.dropped_count, b.sleep_segments.len()), (1, 0));
    }

    #[test]
    fn envelope_errors() {
        let p = |s: &str| parse_sdk_payload(s.as_bytes(), None);
        assert_eq!(p("not json"), Err(ParseError::InvalidJson));
        assert_eq!(p("[1,2]"), Err(ParseError::NotAnObject));
        assert_eq!(p("{}"), Err(ParseError::MissingProvider));
        assert_eq!(
            p(r#"{"provider":"Fitbit"}"#),
            Err(ParseError::UnsupportedProvider("fitbit".to_owned()))
        );
        assert!(matches!(
            p(r#"{"provider":"apple","syncTimestamp":"2025-01-01T00:00:00Z"}"#),
            Err(ParseError::InvalidEnvelope(_))
        ));
        let base = r#""provider":"apple","sdkVersion":"1","syncTimestamp":"2025-01-01T00:00:00Z""#;
        assert!(matches!(
            p(&format!("{{{base},\"data\":[]}}")),
            Err(ParseError::InvalidEnvelope(_))
        ));
        assert!(matches!(
            p(&format!("{{{base},\"data\":{{\"records\":{{}}}}}}")),
            Err(ParseError::InvalidEnvelope(_))
        ));
        let ok = p(&format!("{{{base},\"extra\":1}}")).expect("valid envelope");
        assert_eq!(ok.records_saved, 0);
        let forced = parse_sdk_payload(
            br#"{"sdkVersion":"1","syncTimestamp":"2025-01-01T00:00:00Z"}"#,
            Some(SdkProvider::Samsung),
        )
        .expect("override");
        assert_eq!(forced.provider, Some(SdkProvider::Samsung));
    }

    fn workout(values: Value) -> Value {
        json!({"id": "w1", "type": "RUNNING", "startDate": "2025-03-01T07:00:00Z", "endDate": "2025-03-01T07:30:00Z",
               "zoneOffset": "+01:00", "source": {"name": "Watch"}, "values": values})
    }

    #[test]
    fn workout_statistics() {
        let values = json!([
            {"type": "duration", "unit": "ms", "value": 1_700_500},
            {"type": "activeEnergyBurned", "unit": "kcal", "value": 250.5},
            {"type": "basalEnergyBurned", "unit": "kcal", "value": 30},
            {"type": "distance", "unit": "m", "value": 5000},
            {"type": "stepCount", "unit": "count", "value": 4500.9},
            {"type": "minHeartRate", "unit": "bpm", "value": 77.5},
            {"type": "averageHeartRate", "unit": "bpm", "value": 140.456},
            {"type": "maxHeartRate", "unit": "bpm", "value": 171},
            {"type": "averageSpeed", "unit": "m/s", "value": 2.9412},
            {"type": "elevationAscended", "unit": "m", "value": 42},
            {"type": "meanCadence", "unit": "spm", "value": 160},
            {"type": "maxCadence", "unit": "spm", "value": 180},
            {"type": "averageRunningStrideLength", "unit": "m", "value": 1.1},
            {"type": "lapLength", "unit": "m", "value": 25}
        ]);
        let b = parse(envelope("apple", json!({"workouts": [workout(values)]})));
        assert_eq!(b.workouts.len(), 1);
        let w = &b.workouts[0];
        assert_eq!(w.workout_type, Some(WorkoutType::Running));
        assert_eq!(w.duration_seconds, 1700);
        assert_eq!(w.source_name, "Watch");
        let d = w.details.as_ref().expect("details");
        assert_eq!(d.energy_burned, 280.5);
        assert_eq!(d.distance, Some(5000.0));
        assert_eq!(d.steps_count, Some(4500));
        assert_eq!(d.heart_rate_min, Some(78));
        assert_eq!(d.heart_rate_avg, Some(140.46));
        assert_eq!(d.heart_rate_max, Some(171));
        assert_eq!(d.average_speed, Some(2.94));
        assert_eq!(d.total_elevation_gain, Some(42.0));
        // Cadence collapsed (same key, later wins) + stride length (m → cm).
        assert_eq!(b.records_saved, 3);
        assert_eq!(b.samples.len(), 2);
        assert_eq!(
            (b.samples[0].series, b.samples[0].value),
            (SeriesType::Cadence, 180.0)
        );
        assert_eq!(
            (b.samples[1].series, b.samples[1].value),
            (SeriesType::RunningStrideLength, 110.0)
        );
        assert_eq!(b.samples[0].recorded_at, w.end);
        assert_eq!(b.samples[0].origin, SampleOrigin::WorkoutStatistic);
    }

    #[test]
    fn workout_energy_and_duration_fallbacks() {
        let b = parse(envelope("apple", json!({"workouts": [workout(json!([]))]})));
        let w = &b.workouts[0];
        assert_eq!(w.details.as_ref().map(|d| d.energy_burned), Some(0.0));
        assert_eq!(w.duration_seconds, 1800);
        let mut no_values = workout(json!(null));
        no_values["type"] = json!(null);
        let b = parse(envelope("apple", json!({"workouts": [no_values]})));
        assert_eq!(b.workouts[0].details, None);
        assert_eq!(b.workouts[0].workout_type, None);
        let both = json!([
            {"type": "calories", "unit": "kcal", "value": 300},
            {"type": "totalCalories", "unit": "kcal", "value": 320},
            {"type": "activeEnergyBurned", "unit": "kcal", "value": 250},
            {"type": "totalSteps", "unit": "count", "value": 999},
            {"type": "duration", "unit": "s", "value": 0}
        ]);
        let b = parse(envelope("apple", json!({"workouts": [workout(both)]})));
        let w = &b.workouts[0];
        let d = w.details.as_ref().expect("details");
        assert_eq!(d.energy_burned, 320.0);
        assert_eq!(d.steps_count, Some(999));
        assert_eq!(w.duration_seconds, 0);
        assert!(b.samples.is_empty());
    }

    #[test]
    fn workout_rejections_and_dedup() {
        let bad_stat = workout(json!([{"type": "distance", "unit": null, "value": 1}]));
        let b = parse(envelope(
            "apple",
            json!({"workouts": [workout(json!([])), workout(json!([])), bad_stat]}),
        ));
        assert_eq!(b.workouts.len(), 1);
        assert_eq!(b.dropped_count, 1);
        let mut unknown = workout(json!(null));
        unknown["type"] = json!("underwater_basket_weaving");
        unknown["source"] = json!(null);
        let b = parse(envelope("apple", json!({"workouts": [unknown]})));
        assert_eq!(b.workouts[0].workout_type, Some(WorkoutType::Other));
        assert_eq!(b.workouts[0].source_name, "unknown");
    }

    #[test]
    fn sleep_segments() {
        let seg = |stage: &str| {
            json!({"id": "s1", "stage": stage, "startDate": "2025-03-01T23:00:00Z", "endDate": "2025-03-01T23:30:00Z",
                   "source": {"name": "Watch"}, "values": [{"type": "sleepScore", "value": 80}]})
        };
        let missing_stage =
            json!({"startDate": "2025-03-01T23:00:00Z", "endDate": "2025-03-01T23:30:00Z"});
        let b = parse(envelope(
            "samsung",
            json!({"sleep": [seg("light"), seg("nap_time"), missing_stage]}),
        ));
        assert_eq!(b.sleep_segments.len(), 1);
        assert_eq!(b.sleep_saved, 2);
        assert_eq!(b.skipped_sleep, 1);
        assert_eq!(b.dropped_count, 1);
        assert_eq!(b.sleep_segments[0].stage, SleepStage::Light);
        assert_eq!(
            b.sleep_segments[0].source_fingerprint,
            r#"{"name":"Watch"}"#
        );
    }

    #[test]
    fn reingestion_yields_identical_keys_rule_1() {
        let payload = envelope(
            "apple",
            json!({
                "records": [record("HKQuantityTypeIdentifierHeartRate", json!(60), json!("count/min"))],
                "workouts": [workout(json!([]))]
            }),
        );
        let a = parse(payload.clone());
        let b = parse(payload);
        let keys = |p: &ParsedBatch| p.samples.iter().map(Sample::dedup_key).collect::<Vec<_>>();
        assert_eq!(keys(&a), keys(&b));
        assert_eq!(a.workouts[0].dedup_key(), b.workouts[0].dedup_key());
        let user = uuid::Uuid::nil();
        assert_eq!(
            a.samples[0].source.key().deterministic_id(user),
            b.samples[0].source.key().deterministic_id(user)
        );
    }
}

//! The 93 time-series types (data-model §2.1), their canonical units, categories and aggregation
//! methods, plus timeseries resolution bucketing (§2.8).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Display category of a series type, as exposed by `GET /meta/coverage` (in that order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SeriesCategory {
    /// Heart & Cardiovascular (ids 1–19).
    HeartCardiovascular,
    /// Blood & Respiratory (ids 20–39).
    BloodRespiratory,
    /// Body Composition (ids 40–59).
    BodyComposition,
    /// Fitness Metrics (ids 60–79).
    FitnessMetrics,
    /// Activity - Basic (ids 80–99).
    ActivityBasic,
    /// Activity - Distance (ids 100–119).
    ActivityDistance,
    /// Activity - Walking (ids 120–139).
    ActivityWalking,
    /// Activity - Running (ids 140–159).
    ActivityRunning,
    /// Activity - Swimming (ids 160–179).
    ActivitySwimming,
    /// Activity - Generic (ids 180–199).
    ActivityGeneric,
    /// Environmental (ids 200–219).
    Environmental,
    /// Provider-Specific (ids 220–239).
    ProviderSpecific,
    /// Other (ids 500+).
    Other,
}

impl SeriesCategory {
    /// All categories in display order.
    pub const ALL: [SeriesCategory; 13] = [
        Self::HeartCardiovascular,
        Self::BloodRespiratory,
        Self::BodyComposition,
        Self::FitnessMetrics,
        Self::ActivityBasic,
        Self::ActivityDistance,
        Self::ActivityWalking,
        Self::ActivityRunning,
        Self::ActivitySwimming,
        Self::ActivityGeneric,
        Self::Environmental,
        Self::ProviderSpecific,
        Self::Other,
    ];

    /// Human-readable category label (e.g. `"Heart & Cardiovascular"`).
    pub fn label(self) -> &'static str {
        match self {
            Self::HeartCardiovascular => "Heart & Cardiovascular",
            Self::BloodRespiratory => "Blood & Respiratory",
            Self::BodyComposition => "Body Composition",
            Self::FitnessMetrics => "Fitness Metrics",
            Self::ActivityBasic => "Activity - Basic",
            Self::ActivityDistance => "Activity - Distance",
            Self::ActivityWalking => "Activity - Walking",
            Self::ActivityRunning => "Activity - Running",
            Self::ActivitySwimming => "Activity - Swimming",
            Self::ActivityGeneric => "Activity - Generic",
            Self::Environmental => "Environmental",
            Self::ProviderSpecific => "Provider-Specific",
            Self::Other => "Other",
        }
    }
}

/// Canonical aggregation of a series (archival and resolution bucketing). There is no min/last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AggregationMethod {
    /// Cumulative series: sum, honouring the prefer-daily rule (§2.2).
    Sum,
    /// Instantaneous series: arithmetic mean.
    Avg,
    /// Maximum (only `six_minute_walk_test_distance`).
    Max,
}

impl AggregationMethod {
    /// Wire string (`sum` | `avg` | `max`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sum => "sum",
            Self::Avg => "avg",
            Self::Max => "max",
        }
    }
}

macro_rules! series_types {
    ($($variant:ident = $id:literal, $code:literal, $unit:literal, $cat:ident, $agg:ident;)*) => {
        /// A time-series type (data-model §2.1). Serialises as its wire code (e.g. `"heart_rate"`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum SeriesType {
            $(
                #[doc = concat!("`", $code, "` (", $unit, ")")]
                $variant,
            )*
        }

        impl SeriesType {
            /// Every series type, in catalogue (id) order.
            pub const ALL: &'static [SeriesType] = &[$(SeriesType::$variant,)*];

            /// Wire code, e.g. `"heart_rate"`.
            pub fn code(self) -> &'static str {
                match self { $(SeriesType::$variant => $code,)* }
            }

            /// Canonical storage/response unit string, e.g. `"bpm"`.
            pub fn unit(self) -> &'static str {
                match self { $(SeriesType::$variant => $unit,)* }
            }

            /// Stable integer id (the stored key of samples; never renumbered).
            pub fn id(self) -> u16 {
                match self { $(SeriesType::$variant => $id,)* }
            }

            /// Display category.
            pub fn category(self) -> SeriesCategory {
                match self { $(SeriesType::$variant => SeriesCategory::$cat,)* }
            }

            /// Canonical aggregation method (daily archival and resolution bucketing).
            pub fn aggregation(self) -> AggregationMethod {
                match self { $(SeriesType::$variant => AggregationMethod::$agg,)* }
            }

            /// Looks a type up by wire code (exact match).
            pub fn from_code(code: &str) -> Option<SeriesType> {
                match code { $($code => Some(SeriesType::$variant),)* _ => None }
            }

            /// Looks a type up by stable integer id.
            pub fn from_id(id: u16) -> Option<SeriesType> {
                match id { $($id => Some(SeriesType::$variant),)* _ => None }
            }
        }
    };
}

series_types! {
    HeartRate = 1, "heart_rate", "bpm", HeartCardiovascular, Avg;
    RestingHeartRate = 2, "resting_heart_rate", "bpm", HeartCardiovascular, Avg;
    HeartRateVariabilitySdnn = 3, "heart_rate_variability_sdnn", "ms", HeartCardiovascular, Avg;
    HeartRateRecoveryOneMinute = 4, "heart_rate_recovery_one_minute", "bpm", HeartCardiovascular, Avg;
    WalkingHeartRateAverage = 5, "walking_heart_rate_average", "bpm", HeartCardiovascular, Avg;
    HeartRateVariabilityRmssd = 7, "heart_rate_variability_rmssd", "ms", HeartCardiovascular, Avg;
    OxygenSaturation = 20, "oxygen_saturation", "percent", BloodRespiratory, Avg;
    BloodGlucose = 21, "blood_glucose", "mg_dl", BloodRespiratory, Avg;
    BloodPressureSystolic = 22, "blood_pressure_systolic", "mmHg", BloodRespiratory, Avg;
    BloodPressureDiastolic = 23, "blood_pressure_diastolic", "mmHg", BloodRespiratory, Avg;
    RespiratoryRate = 24, "respiratory_rate", "brpm", BloodRespiratory, Avg;
    SleepingBreathingDisturbances = 25, "sleeping_breathing_disturbances", "count", BloodRespiratory, Sum;
    BloodAlcoholContent = 26, "blood_alcohol_content", "mg_dl", BloodRespiratory, Avg;
    PeripheralPerfusionIndex = 27, "peripheral_perfusion_index", "score", BloodRespiratory, Avg;
    ForcedVitalCapacity = 28, "forced_vital_capacity", "liters", BloodRespiratory, Avg;
    ForcedExpiratoryVolume1 = 29, "forced_expiratory_volume_1", "liters", BloodRespiratory, Avg;
    PeakExpiratoryFlowRate = 30, "peak_expiratory_flow_rate", "L/min", BloodRespiratory, Avg;
    BreathingDisturbanceIndex = 31, "breathing_disturbance_index", "score", BloodRespiratory, Avg;
    Height = 40, "height", "cm", BodyComposition, Avg;
    Weight = 41, "weight", "kg", BodyComposition, Avg;
    BodyFatPercentage = 42, "body_fat_percentage", "percent", BodyComposition, Avg;
    BodyMassIndex = 43, "body_mass_index", "kg_m2", BodyComposition, Avg;
    LeanBodyMass = 44, "lean_body_mass", "kg", BodyComposition, Avg;
    BodyTemperature = 45, "body_temperature", "celsius", BodyComposition, Avg;
    SkinTemperature = 46, "skin_temperature", "celsius", BodyComposition, Avg;
    WaistCircumference = 47, "waist_circumference", "cm", BodyComposition, Avg;
    BodyFatMass = 48, "body_fat_mass", "kg", BodyComposition, Avg;
    SkeletalMuscleMass = 49, "skeletal_muscle_mass", "kg", BodyComposition, Avg;
    SkinTemperatureDeviation = 50, "skin_temperature_deviation", "celsius", BodyComposition, Avg;
    SkinTemperatureTrendDeviation = 51, "skin_temperature_trend_deviation", "celsius", BodyComposition, Avg;
    Vo2Max = 60, "vo2_max", "ml_kg_min", FitnessMetrics, Avg;
    SixMinuteWalkTestDistance = 61, "six_minute_walk_test_distance", "meters", FitnessMetrics, Max;
    CardiovascularAge = 62, "cardiovascular_age", "years", FitnessMetrics, Avg;
    Steps = 80, "steps", "count", ActivityBasic, Sum;
    Energy = 81, "energy", "kcal", ActivityBasic, Sum;
    BasalEnergy = 82, "basal_energy", "kcal", ActivityBasic, Sum;
    StandTime = 83, "stand_time", "minutes", ActivityBasic, Sum;
    ExerciseTime = 84, "exercise_time", "minutes", ActivityBasic, Sum;
    PhysicalEffort = 85, "physical_effort", "score", ActivityBasic, Avg;
    FlightsClimbed = 86, "flights_climbed", "count", ActivityBasic, Sum;
    AverageMet = 87, "average_met", "met", ActivityBasic, Avg;
    ActiveTime = 88, "active_time", "minutes", ActivityBasic, Sum;
    DistanceWalkingRunning = 100, "distance_walking_running", "meters", ActivityDistance, Sum;
    DistanceCycling = 101, "distance_cycling", "meters", ActivityDistance, Sum;
    DistanceSwimming = 102, "distance_swimming", "meters", ActivityDistance, Sum;
    DistanceDownhillSnowSports = 103, "distance_downhill_snow_sports", "meters", ActivityDistance, Sum;
    DistanceOther = 104, "distance_other", "meters", ActivityDistance, Sum;
    WalkingStepLength = 120, "walking_step_length", "cm", ActivityWalking, Avg;
    WalkingSpeed = 121, "walking_speed", "m_per_s", ActivityWalking, Avg;
    WalkingDoubleSupportPercentage = 122, "walking_double_support_percentage", "percent", ActivityWalking, Avg;
    WalkingAsymmetryPercentage = 123, "walking_asymmetry_percentage", "percent", ActivityWalking, Avg;
    WalkingSteadiness = 124, "walking_steadiness", "percent", ActivityWalking, Avg;
    StairDescentSpeed = 125, "stair_descent_speed", "m_per_s", ActivityWalking, Avg;
    StairAscentSpeed = 126, "stair_ascent_speed", "m_per_s", ActivityWalking, Avg;
    RunningPower = 140, "running_power", "watts", ActivityRunning, Avg;
    RunningSpeed = 141, "running_speed", "m_per_s", ActivityRunning, Avg;
    RunningVerticalOscillation = 142, "running_vertical_oscillation", "cm", ActivityRunning, Avg;
    RunningGroundContactTime = 143, "running_ground_contact_time", "ms", ActivityRunning, Avg;
    RunningStrideLength = 144, "running_stride_length", "cm", ActivityRunning, Avg;
    RunningVerticalRatio = 145, "running_vertical_ratio", "percent", ActivityRunning, Avg;
    RunningStanceTimeBalance = 146, "running_stance_time_balance", "percent", ActivityRunning, Avg;
    SwimmingStrokeCount = 160, "swimming_stroke_count", "count", ActivitySwimming, Sum;
    UnderwaterDepth = 161, "underwater_depth", "meters", ActivitySwimming, Avg;
    Cadence = 180, "cadence", "rpm", ActivityGeneric, Avg;
    Power = 181, "power", "watts", ActivityGeneric, Avg;
    Speed = 182, "speed", "m_per_s", ActivityGeneric, Avg;
    WorkoutEffortScore = 183, "workout_effort_score", "score", ActivityGeneric, Avg;
    EstimatedWorkoutEffortScore = 184, "estimated_workout_effort_score", "score", ActivityGeneric, Avg;
    EnvironmentalAudioExposure = 200, "environmental_audio_exposure", "dB", Environmental, Avg;
    HeadphoneAudioExposure = 201, "headphone_audio_exposure", "dB", Environmental, Avg;
    EnvironmentalSoundReduction = 202, "environmental_sound_reduction", "dB", Environmental, Avg;
    TimeInDaylight = 203, "time_in_daylight", "minutes", Environmental, Sum;
    WaterTemperature = 204, "water_temperature", "celsius", Environmental, Avg;
    UvExposure = 205, "uv_exposure", "count", Environmental, Sum;
    InhalerUsage = 206, "inhaler_usage", "count", Environmental, Sum;
    WeatherTemperature = 207, "weather_temperature", "celsius", Environmental, Avg;
    WeatherHumidity = 208, "weather_humidity", "percent", Environmental, Avg;
    Elevation = 209, "elevation", "meters", Environmental, Avg;
    Latitude = 210, "latitude", "degrees", Environmental, Avg;
    Longitude = 211, "longitude", "degrees", Environmental, Avg;
    AirTemperature = 212, "air_temperature", "celsius", Environmental, Avg;
    GarminStressLevel = 220, "garmin_stress_level", "score", ProviderSpecific, Avg;
    GarminSkinTemperature = 221, "garmin_skin_temperature", "celsius", ProviderSpecific, Avg;
    GarminFitnessAge = 222, "garmin_fitness_age", "years", ProviderSpecific, Avg;
    GarminBodyBattery = 223, "garmin_body_battery", "percent", ProviderSpecific, Avg;
    ElectrodermalActivity = 500, "electrodermal_activity", "count", Other, Avg;
    PushCount = 501, "push_count", "count", Other, Sum;
    AtrialFibrillationBurden = 502, "atrial_fibrillation_burden", "count", Other, Sum;
    InsulinDelivery = 503, "insulin_delivery", "count", Other, Sum;
    NumberOfTimesFallen = 504, "number_of_times_fallen", "count", Other, Sum;
    NumberOfAlcoholicBeverages = 505, "number_of_alcoholic_beverages", "count", Other, Sum;
    NikeFuel = 506, "nike_fuel", "count", Other, Sum;
    Hydration = 507, "hydration", "mL", Other, Sum;
}

impl SeriesType {
    /// True for cumulative (`sum`) series, the only ones for which `is_daily_total` is meaningful.
    pub fn is_cumulative(self) -> bool {
        self.aggregation() == AggregationMethod::Sum
    }

    /// `is_daily_total` of an intraday sample of this type (§2.2): `Some(false)` for sum series,
    /// `None` otherwise. Daily-total writers set `Some(true)` explicitly.
    pub fn is_daily_total(self) -> Option<bool> {
        self.is_cumulative().then_some(false)
    }

    /// `is_daily_total` of a row coming from a provider's whole-day endpoint: `Some(true)` for sum
    /// series, `None` otherwise.
    pub fn daily_endpoint_flag(self) -> Option<bool> {
        self.is_cumulative().then_some(true)
    }
}

impl std::fmt::Display for SeriesType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl std::str::FromStr for SeriesType {
    type Err = UnknownSeriesType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SeriesType::from_code(s).ok_or_else(|| UnknownSeriesType(s.to_owned()))
    }
}

/// Error returned when a string is not one of the 93 series codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSeriesType(pub String);

impl std::fmt::Display for UnknownSeriesType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown series type: {}", self.0)
    }
}

impl std::error::Error for UnknownSeriesType {}

impl Serialize for SeriesType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for SeriesType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        SeriesType::from_code(&code)
            .ok_or_else(|| serde::de::Error::custom(UnknownSeriesType(code)))
    }
}

// ---------------------------------------------------------------------------------------------
// Resolution bucketing (§2.8)
// ---------------------------------------------------------------------------------------------

/// Timeseries `resolution` query value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Resolution {
    /// No aggregation (default).
    #[default]
    #[serde(rename = "raw")]
    Raw,
    /// 60-second buckets.
    #[serde(rename = "1min")]
    OneMinute,
    /// 300-second buckets.
    #[serde(rename = "5min")]
    FiveMinutes,
    /// 900-second buckets.
    #[serde(rename = "15min")]
    FifteenMinutes,
    /// 3600-second buckets.
    #[serde(rename = "1hour")]
    OneHour,
}

impl Resolution {
    /// Parses the query value (`raw`, `1min`, `5min`, `15min`, `1hour`; exact).
    pub fn parse(s: &str) -> Option<Resolution> {
        match s {
            "raw" => Some(Self::Raw),
            "1min" => Some(Self::OneMinute),
            "5min" => Some(Self::FiveMinutes),
            "15min" => Some(Self::FifteenMinutes),
            "1hour" => Some(Self::OneHour),
            _ => None,
        }
    }

    /// Wire string, echoed in `metadata.resolution`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::OneMinute => "1min",
            Self::FiveMinutes => "5min",
            Self::FifteenMinutes => "15min",
            Self::OneHour => "1hour",
        }
    }

    /// Bucket width in seconds; `None` for `raw`.
    pub fn seconds(self) -> Option<i64> {
        match self {
            Self::Raw => None,
            Self::OneMinute => Some(60),
            Self::FiveMinutes => Some(300),
            Self::FifteenMinutes => Some(900),
            Self::OneHour => Some(3600),
        }
    }

    /// Start of the UTC-epoch-aligned bucket containing `t` (identity for `raw`).
    pub fn bucket_start(self, t: DateTime<Utc>) -> DateTime<Utc> {
        match self.seconds() {
            None => t,
            Some(width) => {
                let start = t.timestamp().div_euclid(width) * width;
                DateTime::from_timestamp(start, 0).unwrap_or(t)
            }
        }
    }
}

/// One input sample for bucketing. `K` identifies the data source (samples are never pooled
/// across sources).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoint<K> {
    /// Data-source identity.
    pub source: K,
    /// Series type.
    pub series: SeriesType,
    /// Sample instant (UTC).
    pub recorded_at: DateTime<Utc>,
    /// Value in canonical unit.
    pub value: f64,
    /// Zone offset of the sample.
    pub zone_offset: Option<String>,
    /// Provider daily-total flag (`None` = intraday sample).
    pub is_daily_total: Option<bool>,
}

/// One aggregated bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketedPoint<K> {
    /// Data-source identity.
    pub source: K,
    /// Series type.
    pub series: SeriesType,
    /// Bucket start (the returned timestamp).
    pub bucket_start: DateTime<Utc>,
    /// Aggregated value.
    pub value: f64,
    /// Method used.
    pub aggregation: AggregationMethod,
    /// Number of input samples in the bucket (all of them, including those the prefer-daily rule ignored).
    pub sample_count: usize,
    /// Zone offset of the first sample of the bucket in input order.
    pub zone_offset: Option<String>,
    /// `Some(true)` when the bucket value came from daily-total rows; otherwise the series default.
    pub is_daily_total: Option<bool>,
}

/// Prefer-daily sum (§2.2): the sum of rows flagged `is_daily_total = true` if any exists, else the
/// sum of the other rows (null flag = intraday). Never adds both. Returns `(sum, used_daily)`.
pub fn prefer_daily_sum<I>(rows: I) -> (f64, bool)
where
    I: IntoIterator<Item = (f64, Option<bool>)>,
{
    let (mut daily, mut intraday, mut has_daily) = (0.0, 0.0, false);
    for (value, flag) in rows {
        if flag == Some(true) {
            daily += value;
            has_daily = true;
        } else {
            intraday += value;
        }
    }
    if has_daily {
        (daily, true)
    } else {
        (intraday, false)
    }
}

/// Aggregates `values` of one series with its canonical method. `None` for an empty input.
/// Values are `numeric(10,3)`: sums and means are computed exactly in thousandths (as
/// PostgreSQL's `sum`/`avg` over numeric would), the mean rounded half away from zero to a
/// thousandth, so a bucket never shows floating-point noise.
pub fn aggregate(series: SeriesType, values: &[(f64, Option<bool>)]) -> Option<(f64, bool)> {
    if values.is_empty() {
        return None;
    }
    let milli = |v: f64| (v * 1000.0).round() as i128;
    Some(match series.aggregation() {
        AggregationMethod::Sum => {
            let (mut daily, mut intraday, mut has_daily) = (0i128, 0i128, false);
            for (v, flag) in values {
                if *flag == Some(true) {
                    daily += milli(*v);
                    has_daily = true;
                } else {
                    intraday += milli(*v);
                }
            }
            if has_daily {
                (daily as f64 / 1000.0, true)
            } else {
                (intraday as f64 / 1000.0, false)
            }
        }
        AggregationMethod::Max => (
            values.iter().map(|v| v.0).fold(f64::NEG_INFINITY, f64::max),
            false,
        ),
        AggregationMethod::Avg => {
            let sum: i128 = values.iter().map(|v| milli(v.0)).sum();
            (mean_milli(sum, values.len() as u64) as f64 / 1000.0, false)
        }
    })
}

/// `sum / n` rounded half away from zero (thousandths in, thousandths out); 0 for `n = 0`.
pub fn mean_milli(sum: i128, n: u64) -> i64 {
    if n == 0 {
        return 0;
    }
    let n = i128::from(n);
    let q = (sum.abs() * 2 + n) / (2 * n);
    let q = if sum < 0 { -q } else { q };
    q.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Buckets samples by `resolution` (§2.8): UTC-epoch-aligned buckets per (data source, series type);
/// value = the series' canonical method (sum with prefer-daily for cumulative types, max for
/// `six_minute_walk_test_distance`, mean otherwise); timestamp = bucket start. Output is ordered by
/// (bucket start, series id, source). For `raw`, every sample becomes its own bucket (input order kept).
pub fn bucket<K: Ord + Clone>(
    samples: &[SeriesPoint<K>],
    resolution: Resolution,
) -> Vec<BucketedPoint<K>> {
    if resolution == Resolution::Raw {
        return samples.iter().map(raw_bucket).collect();
    }
    type Acc = (Vec<(f64, Option<bool>)>, Option<String>);
    let mut groups: BTreeMap<(DateTime<Utc>, u16, K), Acc> = BTreeMap::new();
    for s in samples {
        let key = (
            resolution.bucket_start(s.recorded_at),
            s.series.id(),
            s.source.clone(),
        );
        let entry = groups
            .entry(key)
            .or_insert_with(|| (Vec::new(), s.zone_offset.clone()));
        entry.0.push((s.value, s.is_daily_total));
    }
    groups
        .into_iter()
        .filter_map(|((start, id, source), (values, zone_offset))| {
            let series = SeriesType::from_id(id)?;
            let (value, used_daily) = aggregate(series, &values)?;
            Some(BucketedPoint {
                source,
                series,
                bucket_start: start,
                value,
                aggregation: series.aggregation(),
                sample_count: values.len(),
                zone_offset,
                is_daily_total: if used_daily {
                    Some(true)
                } else {
                    series.is_daily_total()
                },
            })
        })
        .collect()
}

fn raw_bucket<K: Clone>(s: &SeriesPoint<K>) -> BucketedPoint<K> {
    BucketedPoint {
        source: s.source.clone(),
        series: s.series,
        bucket_start: s.recorded_at,
        value: s.value,
        aggregation: s.series.aggregation(),
        sample_count: 1,
        zone_offset: s.zone_offset.clone(),
        is_daily_total: s.is_daily_total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .expect("test datetime")
    }

    fn pt(
        series: SeriesType,
        at: &str,
        value: f64,
        flag: Option<bool>,
    ) -> SeriesPoint<&'static str> {
        SeriesPoint {
            source: "ds1",
            series,
            recorded_at: t(at),
            value,
            zone_offset: None,
            is_daily_total: flag,
        }
    }

    #[test]
    fn catalogue_is_complete_and_consistent() {
        assert_eq!(SeriesType::ALL.len(), 93);
        let ids: HashSet<u16> = SeriesType::ALL.iter().map(|s| s.id()).collect();
        let codes: HashSet<&str> = SeriesType::ALL.iter().map(|s| s.code()).collect();
        assert_eq!(ids.len(), 93);
        assert_eq!(codes.len(), 93);
        assert!(SeriesType::from_id(6).is_none());
        for s in SeriesType::ALL {
            assert_eq!(SeriesType::from_code(s.code()), Some(*s));
            assert_eq!(SeriesType::from_id(s.id()), Some(*s));
            assert!(s.unit().len() <= 10 && s.code().len() <= 64);
        }
    }

    #[test]
    fn selected_entries() {
        assert_eq!(SeriesType::HeartRate.id(), 1);
        assert_eq!(SeriesType::HeartRateVariabilityRmssd.id(), 7);
        assert_eq!(SeriesType::from_code("steps"), Some(SeriesType::Steps));
        assert_eq!(SeriesType::Steps.id(), 80);
        assert_eq!(SeriesType::Steps.unit(), "count");
        assert_eq!(SeriesType::BloodGlucose.unit(), "mg_dl");
        assert_eq!(SeriesType::PeakExpiratoryFlowRate.unit(), "L/min");
        assert_eq!(SeriesType::Hydration.unit(), "mL");
        assert_eq!(SeriesType::Hydration.id(), 507);
        assert_eq!(
            SeriesType::GarminBodyBattery.category(),
            SeriesCategory::ProviderSpecific
        );
        assert_eq!(
            SeriesType::SixMinuteWalkTestDistance.aggregation(),
            AggregationMethod::Max
        );
        assert_eq!(SeriesType::Energy.aggregation(), AggregationMethod::Sum);
        assert_eq!(
            SeriesType::PhysicalEffort.aggregation(),
            AggregationMethod::Avg
        );
        assert_eq!(SeriesType::Steps.is_daily_total(), Some(false));
        assert_eq!(SeriesType::HeartRate.is_daily_total(), None);
        assert_eq!(SeriesType::NikeFuel.aggregation(), AggregationMethod::Sum);
        assert!(SeriesType::from_code("recovery_score").is_none());
        assert!(SeriesType::from_code("HEART_RATE").is_none());
    }

    #[test]
    fn serde_roundtrip() {
        let json = serde_json::to_string(&SeriesType::HeartRateVariabilitySdnn).expect("ser");
        assert_eq!(json, "\"heart_rate_variability_sdnn\"");
        let back: SeriesType = serde_json::from_str(&json).expect("de");
        assert_eq!(back, SeriesType::HeartRateVariabilitySdnn);
        assert!(serde_json::from_str::<SeriesType>("\"nope\"").is_err());
        let r: Resolution = serde_json::from_str("\"15min\"").expect("de");
        assert_eq!(r, Resolution::FifteenMinutes);
    }

    #[test]
    fn resolution_alignment() {
        assert_eq!(Resolution::parse("1hour"), Some(Resolution::OneHour));
        assert_eq!(Resolution::parse("1h"), None);
        let at = t("2025-03-01T10:47:59.900Z");
        assert_eq!(
            Resolution::OneMinute.bucket_start(at),
            t("2025-03-01T10:47:00Z")
        );
        assert_eq!(
            Resolution::FiveMinutes.bucket_start(at),
            t("2025-03-01T10:45:00Z")
        );
        assert_eq!(
            Resolution::FifteenMinutes.bucket_start(at),
            t("2025-03-01T10:45:00Z")
        );
        assert_eq!(
            Resolution::OneHour.bucket_start(at),
            t("2025-03-01T10:00:00Z")
        );
        assert_eq!(Resolution::Raw.bucket_start(at), at);
        let before_epoch = t("1969-12-31T23:59:30Z");
        assert_eq!(
            Resolution::OneMinute.bucket_start(before_epoch),
            t("1969-12-31T23:59:00Z")
        );
    }

    #[test]
    fn bucketing_sum_avg_max() {
        let samples = vec![
            pt(SeriesType::HeartRate, "2025-03-01T10:01:00Z", 60.0, None),
            pt(SeriesType::HeartRate, "2025-03-01T10:02:00Z", 70.0, None),
            pt(SeriesType::HeartRate, "2025-03-01T10:06:00Z", 90.0, None),
            pt(
                SeriesType::Steps,
                "2025-03-01T10:01:00Z",
                100.0,
                Some(false),
            ),
            pt(SeriesType::Steps, "2025-03-01T10:03:00Z", 50.0, None),
            pt(
                SeriesType::SixMinuteWalkTestDistance,
                "2025-03-01T10:00:00Z",
                400.0,
                None,
            ),
            pt(
                SeriesType::SixMinuteWalkTestDistance,
                "2025-03-01T10:04:00Z",
                450.0,
                None,
            ),
        ];
        let out = bucket(&samples, Resolution::FiveMinutes);
        let got: Vec<(String, &str, f64, usize)> = out
            .iter()
            .map(|b| {
                (
                    b.bucket_start.format("%H:%M").to_string(),
                    b.series.code(),
                    b.value,
                    b.sample_count,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("10:00".to_owned(), "heart_rate", 65.0, 2),
                (
                    "10:00".to_owned(),
                    "six_minute_walk_test_distance",
                    450.0,
                    2
                ),
                ("10:00".to_owned(), "steps", 150.0, 2),
                ("10:05".to_owned(), "heart_rate", 90.0, 1),
            ]
        );
        assert_eq!(out[2].is_daily_total, Some(false));
    }

    #[test]
    fn bucketing_prefer_daily_and_sources_apart() {
        let mut samples = vec![
            pt(
                SeriesType::Steps,
                "2025-03-01T00:00:00Z",
                8000.0,
                Some(true),
            ),
            pt(
                SeriesType::Steps,
                "2025-03-01T00:10:00Z",
                120.0,
                Some(false),
            ),
        ];
        let mut other = pt(SeriesType::Steps, "2025-03-01T00:20:00Z", 30.0, None);
        other.source = "ds2";
        samples.push(other);
        let out = bucket(&samples, Resolution::OneHour);
        assert_eq!(out.len(), 2);
        assert_eq!(
            (out[0].source, out[0].value, out[0].is_daily_total),
            ("ds1", 8000.0, Some(true))
        );
        assert_eq!((out[1].source, out[1].value), ("ds2", 30.0));
        assert_eq!(
            prefer_daily_sum([(1.0, None), (2.0, Some(false))]),
            (3.0, false)
        );
        assert_eq!(
            prefer_daily_sum([(1.0, None), (5.0, Some(true)), (6.0, Some(true))]),
            (11.0, true)
        );
    }

    #[test]
    fn raw_keeps_samples() {
        let samples = vec![
            pt(SeriesType::HeartRate, "2025-03-01T10:02:00Z", 70.0, None),
            pt(SeriesType::HeartRate, "2025-03-01T10:01:00Z", 60.0, None),
        ];
        let out = bucket(&samples, Resolution::Raw);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].value, 70.0);
        assert_eq!(out[0].bucket_start, t("2025-03-01T10:02:00Z"));
    }
}

//! What synthetic data to generate (api.md #92–#94 `SeedProfile` and its parts): plain values
//! a seed job carries, below the generator in `seed` so that the job type can name them.

use serde::{Deserialize, Serialize};

/// Stage distribution ranges, in percent of the night.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(default)]
pub struct StageDistribution {
    pub deep_pct_range: [u32; 2],
    pub rem_pct_range: [u32; 2],
    pub awake_pct_range: [u32; 2],
}

impl Default for StageDistribution {
    fn default() -> Self {
        Self {
            deep_pct_range: [15, 25],
            rem_pct_range: [20, 25],
            awake_pct_range: [2, 8],
        }
    }
}

/// Workout generation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(default)]
pub struct WorkoutConfig {
    pub count: u32,
    pub workout_types: Option<Vec<String>>,
    pub duration_min_minutes: u32,
    pub duration_max_minutes: u32,
    pub hr_min_range: [u32; 2],
    pub hr_max_range: [u32; 2],
    pub steps_range: [u32; 2],
    pub date_range_months: u32,
}

impl Default for WorkoutConfig {
    fn default() -> Self {
        Self {
            count: 80,
            workout_types: None,
            duration_min_minutes: 15,
            duration_max_minutes: 180,
            hr_min_range: [90, 120],
            hr_max_range: [140, 180],
            steps_range: [500, 20000],
            date_range_months: 6,
        }
    }
}

/// Sleep generation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(default)]
pub struct SleepConfig {
    pub count: u32,
    pub duration_min_minutes: u32,
    pub duration_max_minutes: u32,
    pub nap_chance_pct: u32,
    pub weekend_catchup: bool,
    pub date_range_months: u32,
    pub stage_profile: Option<String>,
    pub stage_distribution: StageDistribution,
}

impl Default for SleepConfig {
    fn default() -> Self {
        Self {
            count: 20,
            duration_min_minutes: 300,
            duration_max_minutes: 600,
            nap_chance_pct: 10,
            weekend_catchup: false,
            date_range_months: 6,
            stage_profile: None,
            stage_distribution: StageDistribution::default(),
        }
    }
}

/// Time-series generation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(default)]
pub struct TimeSeriesConfig {
    pub enabled_types: Vec<String>,
    pub include_blood_pressure: bool,
    pub date_range_months: u32,
}

impl Default for TimeSeriesConfig {
    fn default() -> Self {
        Self {
            enabled_types: Vec::new(),
            include_blood_pressure: false,
            date_range_months: 6,
        }
    }
}

/// What to generate per user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(default)]
pub struct SeedProfile {
    pub preset: Option<String>,
    pub generate_workouts: bool,
    pub generate_sleep: bool,
    pub generate_time_series: bool,
    pub providers: Option<Vec<String>>,
    pub num_connections: u32,
    pub workout_config: WorkoutConfig,
    pub sleep_config: SleepConfig,
    pub time_series_config: TimeSeriesConfig,
}

impl Default for SeedProfile {
    fn default() -> Self {
        Self {
            preset: None,
            generate_workouts: true,
            generate_sleep: true,
            generate_time_series: true,
            providers: None,
            num_connections: 2,
            workout_config: WorkoutConfig::default(),
            sleep_config: SleepConfig::default(),
            time_series_config: TimeSeriesConfig::default(),
        }
    }
}

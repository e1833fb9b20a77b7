//! Synthetic data for demos (api.md #92–#94): realistic users with months of time series,
//! workouts and nights of sleep, generated from a seed and stored through the same path as SDK
//! pushes (`ingest::write_batch`), so every read endpoint has data to show.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::app::AppState;
use crate::domain::sdk::{
    ParsedBatch, Sample, SampleOrigin, SdkProvider, SleepSegment, SourceInfo, WorkoutDetails,
    WorkoutEvent,
};
use crate::domain::series::SeriesType;
use crate::domain::sleep::SleepStage;
use crate::domain::workout::WorkoutType;
use crate::ingest::{IngestError, device_batch, write_batch};

pub use crate::domain::seed_profile::{
    SeedProfile, SleepConfig, StageDistribution, TimeSeriesConfig, WorkoutConfig,
};
use crate::repo::users::{User, UserWriteError};

/// `SeedDataRequest`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct SeedRequest {
    pub num_users: Option<u32>,
    pub random_seed: Option<u64>,
    pub profile: Option<SeedProfile>,
}

const ACTIVE_TYPES: &[&str] = &[
    "heart_rate",
    "steps",
    "energy",
    "basal_energy",
    "distance_walking_running",
    "flights_climbed",
    "resting_heart_rate",
    "heart_rate_variability_sdnn",
    "oxygen_saturation",
    "respiratory_rate",
    "skin_temperature",
    "weight",
    "body_fat_percentage",
    "height",
    "vo2_max",
];

/// The sleep-stage profiles (#94).
pub fn sleep_profiles() -> Vec<Value> {
    let p = |id: &str,
             label: &str,
             description: &str,
             deep: [u32; 2],
             rem: [u32; 2],
             awake: [u32; 2]| {
        json!({"id": id, "label": label, "description": description,
               "distribution": {"deep_pct_range": deep, "rem_pct_range": rem, "awake_pct_range": awake}})
    };
    vec![
        p(
            "optimal",
            "Optimal Sleeper",
            "Balanced stages and good scores",
            [18, 25],
            [20, 25],
            [2, 5],
        ),
        p(
            "deep_deficit",
            "Deep Sleep Deficit",
            "Little deep sleep: weak physical recovery",
            [5, 10],
            [20, 25],
            [5, 10],
        ),
        p(
            "rem_deprived",
            "REM Deprived",
            "Little REM sleep: weak cognitive recovery",
            [15, 22],
            [8, 13],
            [5, 10],
        ),
        p(
            "restless",
            "Restless Sleeper",
            "Long wake periods: fragmented nights",
            [10, 15],
            [15, 20],
            [15, 25],
        ),
        p(
            "athlete_recovery",
            "Athlete Recovery",
            "Heavy deep sleep after hard training",
            [25, 35],
            [20, 25],
            [2, 5],
        ),
    ]
}

fn distribution_of(profile_id: &str) -> Option<StageDistribution> {
    sleep_profiles()
        .into_iter()
        .find(|p| p["id"] == profile_id)
        .and_then(|p| serde_json::from_value(p["distribution"].clone()).ok())
}

/// The presets (#93), fully expanded.
pub fn presets() -> Vec<(String, String, String, SeedProfile)> {
    let types = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let base = SeedProfile::default;
    let mut out = Vec::new();
    let mut add = |id: &str, label: &str, desc: &str, f: &dyn Fn(&mut SeedProfile)| {
        let mut p = base();
        p.preset = Some(id.to_string());
        p.time_series_config.enabled_types = types(ACTIVE_TYPES);
        f(&mut p);
        out.push((id.to_string(), label.to_string(), desc.to_string(), p));
    };
    add(
        "active_athlete",
        "Active Athlete",
        "Daily training across running, cycling, swimming and strength.",
        &|p| {
            p.workout_config.count = 120;
            p.workout_config.workout_types = Some(types(&[
                "running",
                "cycling",
                "swimming",
                "strength_training",
            ]));
            p.sleep_config.count = 30;
            p.sleep_config.stage_profile = Some("athlete_recovery".into());
        },
    );
    add(
        "boxer_footballer",
        "Boxer and Footballer",
        "Combat and team sports with intense sessions.",
        &|p| {
            p.workout_config.workout_types = Some(types(&["boxing", "soccer", "running"]));
        },
    );
    add(
        "sleep_deprived",
        "Sleep Deprived",
        "Short nights and little deep sleep.",
        &|p| {
            p.sleep_config.duration_min_minutes = 240;
            p.sleep_config.duration_max_minutes = 360;
            p.sleep_config.stage_profile = Some("deep_deficit".into());
        },
    );
    add(
        "weekend_catchup",
        "Weekend Catch-up",
        "Short weeknights, long weekend nights.",
        &|p| {
            p.sleep_config.weekend_catchup = true;
        },
    );
    add(
        "irregular_sleeper",
        "Irregular Sleeper",
        "Bedtimes that move around, restless nights.",
        &|p| {
            p.sleep_config.stage_profile = Some("restless".into());
        },
    );
    add(
        "activity_only",
        "Activity Only",
        "Workouts and activity data, no sleep.",
        &|p| {
            p.generate_sleep = false;
        },
    );
    add("sleep_only", "Sleep Only", "Sleep data only.", &|p| {
        p.generate_workouts = false;
        p.generate_time_series = false;
        p.time_series_config.enabled_types.clear();
    });
    add(
        "minimal",
        "Minimal",
        "A few workouts and nights, heart rate and steps only.",
        &|p| {
            p.workout_config.count = 5;
            p.sleep_config.count = 5;
            p.time_series_config.enabled_types = types(&["heart_rate", "steps"]);
            p.time_series_config.date_range_months = 1;
            p.workout_config.date_range_months = 1;
            p.sleep_config.date_range_months = 1;
        },
    );
    add(
        "comprehensive",
        "Comprehensive",
        "Everything: workouts, sleep, every common series, blood pressure.",
        &|p| {
            p.time_series_config.include_blood_pressure = true;
            p.sleep_config.count = 60;
        },
    );
    out
}

/// Validates a request and resolves the preset; returns the effective (users, seed, profile).
pub fn resolve(req: &SeedRequest, default_seed: u64) -> Result<(u32, u64, SeedProfile), String> {
    let users = req.num_users.unwrap_or(1);
    if !(1..=10).contains(&users) {
        return Err("num_users: Input should be between 1 and 10".into());
    }
    let mut profile = req.profile.clone().unwrap_or_default();
    if let Some(id) = &profile.preset {
        let Some((_, _, _, p)) = presets().into_iter().find(|(pid, ..)| pid == id) else {
            return Err(format!("Value error, Unknown preset: {id}"));
        };
        profile = p;
    }
    let w = &profile.workout_config;
    if w.count > 500
        || w.duration_min_minutes < 5
        || w.duration_max_minutes > 600
        || w.duration_min_minutes > w.duration_max_minutes
    {
        return Err("Value error, workout_config bounds: count 0-500, 5 <= duration_min <= duration_max <= 600".into());
    }
    let s = &profile.sleep_config;
    if s.count > 365
        || s.duration_min_minutes < 60
        || s.duration_max_minutes > 720
        || s.duration_min_minutes > s.duration_max_minutes
        || s.nap_chance_pct > 100
    {
        return Err("Value error, sleep_config bounds: count 0-365, 60 <= duration_min <= duration_max <= 720".into());
    }
    let d = &s.stage_distribution;
    for r in [d.deep_pct_range, d.rem_pct_range, d.awake_pct_range] {
        if r[0] > r[1] || r[1] > 100 {
            return Err("Value error, stage ranges need 0 <= lo <= hi <= 100".into());
        }
    }
    if d.deep_pct_range[1] + d.rem_pct_range[1] + d.awake_pct_range[1] > 95 {
        return Err("Value error, the sum of the stage maxima must be <= 95".into());
    }
    if let Some(sp) = &s.stage_profile
        && distribution_of(sp).is_none()
    {
        return Err(format!("Value error, Unknown stage_profile: {sp}"));
    }
    for t in &profile.time_series_config.enabled_types {
        if SeriesType::from_code(t).is_none() {
            return Err(format!("Input should be a valid series type, got '{t}'"));
        }
    }
    for m in [
        w.date_range_months,
        s.date_range_months,
        profile.time_series_config.date_range_months,
    ] {
        if !(1..=24).contains(&m) {
            return Err("date_range_months: Input should be between 1 and 24".into());
        }
    }
    Ok((users, req.random_seed.unwrap_or(default_seed), profile))
}

fn source(provider: SdkProvider, n: usize) -> SourceInfo {
    let (model, name) = match provider {
        SdkProvider::Samsung => ("SM-R960", "Galaxy Watch6"),
        SdkProvider::Google => ("Pixel Watch 2", "Fitbit"),
        SdkProvider::Apple => ("Watch7,5", "Apple Watch"),
    };
    SourceInfo {
        provider,
        device_model: Some(model.to_string()),
        software_version: Some("10.3.1".into()),
        source: Some(format!("{name} (seed {n})")),
        sdk_device_type: Some("watch".into()),
    }
}

fn sample(series: SeriesType, at: DateTime<Utc>, value: f64, src: &SourceInfo) -> Sample {
    Sample {
        series,
        recorded_at: at,
        value: (value * 1000.0).round() / 1000.0,
        zone_offset: Some("+00:00".into()),
        source: src.clone(),
        external_id: None,
        is_daily_total: series.is_daily_total(),
        origin: SampleOrigin::Record,
    }
}

/// The heart rate a workout's minutes show: around its average, within its min and max.
#[derive(Debug, Clone, Copy)]
struct Effort {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    avg: f64,
    min: f64,
    max: f64,
}

impl Effort {
    fn of(w: &WorkoutEvent) -> Option<Effort> {
        let d = w.details.as_ref()?;
        let avg = d.heart_rate_avg?;
        let max = d.heart_rate_max.map_or(avg + 20.0, |m| m as f64).max(avg);
        let min = d.heart_rate_min.map_or(avg - 20.0, |m| m as f64).min(avg);
        Some(Effort {
            start: w.start,
            end: w.end,
            avg,
            min,
            max,
        })
    }
}

/// One day of time series for the enabled types. Heart rate during the day's workouts
/// follows the workout's average (so the day's maximum and its intensity minutes agree with
/// the workouts).
fn day_samples(
    rng: &mut StdRng,
    day: NaiveDate,
    types: &[SeriesType],
    bp: bool,
    src: &SourceInfo,
    efforts: &[Effort],
) -> Vec<Sample> {
    let start = Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default());
    let mut out = Vec::new();
    let awake = |m: i64| (7 * 60..23 * 60).contains(&m);
    for &t in types {
        use SeriesType as S;
        match t {
            S::HeartRate => {
                for m in 0..1440 {
                    let at = start + Duration::minutes(m);
                    let value = match efforts.iter().find(|e| e.start <= at && at < e.end) {
                        Some(e) => (e.avg + rng.gen_range(-12.0..12.0f64))
                            .round()
                            .clamp(e.min, e.max),
                        None => {
                            let base = if awake(m) { 72.0 } else { 56.0 };
                            base + rng.gen_range(-6.0..14.0f64).round()
                        }
                    };
                    out.push(sample(t, at, value, src));
                }
            }
            S::Steps | S::Energy | S::DistanceWalkingRunning => {
                for m in (7 * 60..22 * 60).step_by(if t == S::Steps { 1 } else { 15 }) {
                    let steps = if rng.gen_bool(0.3) {
                        rng.gen_range(10.0..120.0f64).round()
                    } else {
                        0.0
                    };
                    let v = match t {
                        S::Steps => steps,
                        S::Energy => rng.gen_range(2.0..25.0),
                        _ => rng.gen_range(50.0..900.0),
                    };
                    if v > 0.0 {
                        out.push(sample(t, start + Duration::minutes(m), v, src));
                    }
                }
            }
            S::BasalEnergy => (0..24).for_each(|h| {
                out.push(sample(
                    t,
                    start + Duration::hours(h),
                    rng.gen_range(60.0..72.0),
                    src,
                ))
            }),
            S::FlightsClimbed => (0..rng.gen_range(1..8)).for_each(|_| {
                out.push(sample(
                    t,
                    start + Duration::minutes(rng.gen_range(480..1320)),
                    1.0,
                    src,
                ));
            }),
            S::RestingHeartRate => out.push(sample(
                t,
                start + Duration::hours(7),
                rng.gen_range(50.0..62.0f64).round(),
                src,
            )),
            S::HeartRateVariabilitySdnn | S::HeartRateVariabilityRmssd => {
                (1..6).for_each(|h| {
                    out.push(sample(
                        t,
                        start + Duration::hours(h),
                        rng.gen_range(35.0..85.0),
                        src,
                    ))
                });
            }
            S::OxygenSaturation => (0..6).for_each(|h| {
                out.push(sample(
                    t,
                    start + Duration::hours(h),
                    rng.gen_range(94.0..99.0f64).round(),
                    src,
                ))
            }),
            S::RespiratoryRate => (0..6).for_each(|h| {
                out.push(sample(
                    t,
                    start + Duration::hours(h),
                    rng.gen_range(12.0..17.0),
                    src,
                ))
            }),
            S::SkinTemperature | S::BodyTemperature => out.push(sample(
                t,
                start + Duration::hours(4),
                rng.gen_range(33.5..36.8),
                src,
            )),
            S::Weight if day.weekday().num_days_from_monday() == 0 => out.push(sample(
                t,
                start + Duration::hours(7),
                rng.gen_range(68.0..72.0),
                src,
            )),
            S::BodyFatPercentage if day.weekday().num_days_from_monday() == 0 => {
                out.push(sample(
                    t,
                    start + Duration::hours(7),
                    rng.gen_range(17.0..21.0),
                    src,
                ));
            }
            S::Height if day.day() == 1 => {
                out.push(sample(t, start + Duration::hours(7), 172.0, src))
            }
            S::Vo2Max if day.day() == 1 => out.push(sample(
                t,
                start + Duration::hours(9),
                rng.gen_range(42.0..52.0),
                src,
            )),
            S::Weight | S::BodyFatPercentage | S::Height | S::Vo2Max => {}
            other => (0..4).for_each(|h| {
                out.push(sample(
                    other,
                    start + Duration::hours(6 * h + 3),
                    rng.gen_range(1.0..100.0),
                    src,
                ))
            }),
        }
    }
    if bp {
        let at = start + Duration::hours(8);
        out.push(sample(
            SeriesType::BloodPressureSystolic,
            at,
            rng.gen_range(110.0..130.0f64).round(),
            src,
        ));
        out.push(sample(
            SeriesType::BloodPressureDiastolic,
            at,
            rng.gen_range(70.0..85.0f64).round(),
            src,
        ));
    }
    out
}

fn workout(
    rng: &mut StdRng,
    day: NaiveDate,
    cfg: &WorkoutConfig,
    src: &SourceInfo,
) -> WorkoutEvent {
    let kinds: Vec<WorkoutType> = cfg
        .workout_types
        .as_ref()
        .map(|t| t.iter().filter_map(|k| WorkoutType::from_code(k)).collect())
        .filter(|v: &Vec<WorkoutType>| !v.is_empty())
        .unwrap_or_else(|| {
            [
                "running",
                "cycling",
                "walking",
                "swimming",
                "strength_training",
                "yoga",
            ]
            .iter()
            .filter_map(|k| WorkoutType::from_code(k))
            .collect()
        });
    let kind = kinds[rng.gen_range(0..kinds.len())];
    let minutes = rng.gen_range(cfg.duration_min_minutes..=cfg.duration_max_minutes) as i64;
    let start = Utc.from_utc_datetime(
        &day.and_hms_opt(rng.gen_range(6..19), rng.gen_range(0..60), 0)
            .unwrap_or_default(),
    );
    let end = start + Duration::minutes(minutes);
    let avg = rng
        .gen_range(cfg.hr_min_range[0].max(1)..=cfg.hr_min_range[1].max(cfg.hr_min_range[0].max(1)))
        as f64
        + 20.0;
    WorkoutEvent {
        external_id: Some(Uuid::new_v4().to_string()),
        workout_type: Some(kind),
        start,
        end,
        zone_offset: Some("+00:00".into()),
        source: src.clone(),
        source_name: src.source.clone().unwrap_or_else(|| "unknown".into()),
        duration_seconds: minutes * 60,
        details: Some(WorkoutDetails {
            energy_burned: (minutes as f64 * rng.gen_range(6.0..12.0)).round(),
            distance: Some((minutes as f64 * rng.gen_range(80.0..200.0)).round()),
            steps_count: Some(
                rng.gen_range(cfg.steps_range[0]..=cfg.steps_range[1].max(cfg.steps_range[0]))
                    as i64,
            ),
            heart_rate_min: Some(cfg.hr_min_range[0] as i64),
            heart_rate_avg: Some(avg),
            heart_rate_max: Some(
                rng.gen_range(cfg.hr_max_range[0]..=cfg.hr_max_range[1].max(cfg.hr_max_range[0]))
                    as i64,
            ),
            total_elevation_gain: Some(rng.gen_range(0.0..120.0f64).round()),
            ..WorkoutDetails::default()
        }),
    }
}

fn night(
    rng: &mut StdRng,
    wake_day: NaiveDate,
    cfg: &SleepConfig,
    src: &SourceInfo,
) -> Vec<SleepSegment> {
    let dist = cfg
        .stage_profile
        .as_deref()
        .and_then(distribution_of)
        .unwrap_or_else(|| cfg.stage_distribution.clone());
    let weekend = wake_day.weekday().num_days_from_monday() >= 5;
    let (lo, hi) = (
        cfg.duration_min_minutes as i64,
        cfg.duration_max_minutes as i64,
    );
    let minutes = if cfg.weekend_catchup && weekend {
        hi
    } else {
        rng.gen_range(lo..=hi)
    };
    let wake = Utc.from_utc_datetime(
        &wake_day
            .and_hms_opt(6, rng.gen_range(0..60), 0)
            .unwrap_or_default(),
    );
    let mut t = wake - Duration::minutes(minutes);
    let pct = |r: [u32; 2], rng: &mut StdRng| rng.gen_range(r[0]..=r[1]) as i64;
    let (deep, rem, awake) = (
        pct(dist.deep_pct_range, rng),
        pct(dist.rem_pct_range, rng),
        pct(dist.awake_pct_range, rng),
    );
    let cycles = 4.max(minutes / 90);
    let per = minutes / cycles;
    let mut out = Vec::new();
    for c in 0..cycles {
        let parts = [
            (SleepStage::Light, per * (100 - deep - rem - awake) / 100),
            (SleepStage::Deep, per * deep / 100),
            (SleepStage::Rem, per * rem / 100),
            (
                SleepStage::Awake,
                if c + 1 < cycles { per * awake / 100 } else { 0 },
            ),
        ];
        for (stage, len) in parts {
            if len <= 0 {
                continue;
            }
            out.push(SleepSegment {
                external_id: None,
                stage,
                start: t,
                end: t + Duration::minutes(len),
                zone_offset: Some("+00:00".into()),
                source: src.clone(),
                source_fingerprint: format!("seed-{}", src.source.clone().unwrap_or_default()),
            });
            t += Duration::minutes(len);
        }
    }
    out
}

/// Generates one user and their data. Returns the user id and the samples stored.
pub async fn seed_user(
    state: &AppState,
    rng: &mut StdRng,
    n: usize,
    profile: &SeedProfile,
) -> Result<(Uuid, usize), IngestError> {
    let now = state.now();
    let user = User {
        id: Uuid::new_v4(),
        created_at: now,
        first_name: Some(["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken"][n % 6].into()),
        last_name: Some(format!("Seed{n}")),
        email: Some(format!(
            "seed-{}@example.com",
            &Uuid::new_v4().simple().to_string()[..8]
        )),
        external_user_id: None,
    };
    match state.db.create_user(&user).await {
        Ok(()) => {}
        Err(UserWriteError::Store(e)) => return Err(e.into()),
        Err(UserWriteError::ExternalIdTaken(_)) => {
            return Err(IngestError::BadPayload("seed user collided".into()));
        }
    }
    let providers: Vec<SdkProvider> = profile
        .providers
        .as_ref()
        .map(|ps| ps.iter().filter_map(|p| SdkProvider::parse(p)).collect())
        .filter(|v: &Vec<SdkProvider>| !v.is_empty())
        .unwrap_or_else(|| vec![SdkProvider::Apple]);
    let src = source(providers[n % providers.len()], n);
    let today = now.date_naive();
    let mut stored = 0usize;
    // Workouts are drawn first: the heart rate of their minutes follows them.
    let workouts: Vec<WorkoutEvent> = if profile.generate_workouts {
        let cfg = &profile.workout_config;
        let days = i64::from(cfg.date_range_months) * 30;
        (0..cfg.count)
            .map(|_| {
                let day = today - Duration::days(rng.gen_range(1..=days));
                workout(rng, day, cfg, &src)
            })
            .collect()
    } else {
        Vec::new()
    };
    let efforts: Vec<Effort> = workouts.iter().filter_map(Effort::of).collect();
    if profile.generate_time_series {
        let types: Vec<SeriesType> = profile
            .time_series_config
            .enabled_types
            .iter()
            .filter_map(|t| SeriesType::from_code(t))
            .collect();
        let days = i64::from(profile.time_series_config.date_range_months) * 30;
        if !types.is_empty() || profile.time_series_config.include_blood_pressure {
            for d in (1..=days).rev() {
                let day = today - Duration::days(d);
                let day_start =
                    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default());
                let todays: Vec<Effort> = efforts
                    .iter()
                    .filter(|e| e.start < day_start + Duration::days(1) && e.end > day_start)
                    .copied()
                    .collect();
                let samples = day_samples(
                    rng,
                    day,
                    &types,
                    profile.time_series_config.include_blood_pressure,
                    &src,
                    &todays,
                );
                stored += samples.len();
                let batch = ParsedBatch {
                    samples,
                    ..ParsedBatch::default()
                };
                store(state, user.id, batch).await?;
            }
        }
    }
    if profile.generate_workouts {
        store(
            state,
            user.id,
            ParsedBatch {
                workouts,
                ..ParsedBatch::default()
            },
        )
        .await?;
    }
    if profile.generate_sleep {
        let cfg = &profile.sleep_config;
        let days = (i64::from(cfg.date_range_months) * 30).max(1);
        let mut nights: Vec<i64> = (1..=days).collect();
        // The most recent `count` nights (sleep is usually tracked every night).
        nights.truncate(cfg.count as usize);
        for d in nights.into_iter().rev() {
            let segments = night(rng, today - Duration::days(d), cfg, &src);
            store(
                state,
                user.id,
                ParsedBatch {
                    sleep_segments: segments,
                    ..ParsedBatch::default()
                },
            )
            .await?;
        }
    }
    Ok((user.id, stored))
}

/// Stores generated data through the write path, like an SDK push.
async fn store(state: &AppState, user: Uuid, batch: ParsedBatch) -> Result<(), IngestError> {
    write_batch(state, user, device_batch(user, batch, state.now())).await?;
    Ok(())
}

/// Runs a whole seed request (the `seed` job).
pub async fn run(
    state: &AppState,
    users: u32,
    seed: u64,
    profile: &SeedProfile,
) -> Result<Vec<Uuid>, IngestError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ids = Vec::new();
    for n in 0..users as usize {
        let started = std::time::Instant::now();
        let (id, samples) = seed_user(state, &mut rng, n, profile).await?;
        tracing::info!(user = %id, samples, seconds = started.elapsed().as_secs_f32(), "seeded user {}/{users}", n + 1);
        ids.push(id);
    }
    Ok(ids)
}

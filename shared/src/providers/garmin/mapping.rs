//! Garmin push payloads to pulled records: the small readers, the workout types (Appendix A)
//! and the mapping of each summary type (§4.1.3).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Map, Value, json};

use crate::domain::sdk::WorkoutDetails;
use crate::domain::series::SeriesType;
use crate::domain::sleep::{SleepStage, StageInterval};
use crate::domain::workout::WorkoutType;
use crate::providers::payload::num;
use crate::providers::sync::{
    Pulled, PulledSample, PulledScore, PulledSleep, PulledWorkout, qualifier,
};

// Small readers
// ---------------------------------------------------------------------------------------------

fn int(v: &Value, key: &str) -> Option<i64> {
    v.get(key)
        .and_then(|x| x.as_i64().or_else(|| x.as_f64().map(|f| f as i64)))
}

pub(super) fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn epoch(secs: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(secs, 0)
}

/// A UTC offset in seconds as `±HH:MM`.
pub fn offset_text(offset_seconds: i64) -> String {
    let sign = if offset_seconds < 0 { '-' } else { '+' };
    let a = offset_seconds.unsigned_abs();
    format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
}

/// `startTimeInSeconds` and its offset.
fn start_of(v: &Value) -> Option<(DateTime<Utc>, Option<String>)> {
    let at = epoch(int(v, "startTimeInSeconds")?)?;
    Some((at, int(v, "startTimeOffsetInSeconds").map(offset_text)))
}

/// 12:00 UTC of `calendarDate`.
fn calendar_noon(v: &Value) -> Option<DateTime<Utc>> {
    v.get("calendarDate")
        .and_then(Value::as_str)
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .and_then(|d| d.and_hms_opt(12, 0, 0))
        .map(|d| d.and_utc())
}

/// `{offsetSeconds: value}` maps, sorted by offset.
fn offset_map(v: &Value, keys: &[&str]) -> Vec<(i64, f64)> {
    let Some(map) = keys
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_object))
    else {
        return Vec::new();
    };
    let mut out: Vec<(i64, f64)> = map
        .iter()
        .filter_map(|(k, x)| Some((k.trim().parse::<i64>().ok()?, x.as_f64()?)))
        .collect();
    out.sort_by_key(|(k, _)| *k);
    out
}

fn sample(
    series: SeriesType,
    at: DateTime<Utc>,
    value: f64,
    zone: &Option<String>,
    daily_total: Option<bool>,
) -> PulledSample {
    PulledSample {
        series,
        at,
        value,
        zone: zone.clone(),
        daily_total,
    }
}

// ---------------------------------------------------------------------------------------------
// Workout types (Appendix A)
// ---------------------------------------------------------------------------------------------

/// Garmin `activityType` → unified workout code (input trimmed and upper-cased; `_V2` variants
/// map like their base type). `None` for unknown types.
fn workout_code(raw: &str) -> Option<&'static str> {
    let key = raw.trim().to_uppercase();
    let base = key.strip_suffix("_V2").unwrap_or(&key);
    Some(match base {
        "RUNNING"
        | "OBSTACLE_RUN"
        | "STREET_RUNNING"
        | "TRACK_RUNNING"
        | "ULTRA_RUN"
        | "VIRTUAL_RUN"
        | "WHEELCHAIR_PUSH_RUN" => "running",
        "INDOOR_RUNNING" | "TREADMILL_RUNNING" => "treadmill",
        "TRAIL_RUNNING" => "trail_running",
        "CYCLING" | "BMX" | "GRAVEL_CYCLING" | "RECUMBENT_CYCLING" | "ROAD_BIKING"
        | "TRACK_CYCLING" | "HANDCYCLING" => "cycling",
        "CYCLOCROSS" => "cyclocross",
        "DOWNHILL_BIKING" | "ENDURO_MTB" | "MOUNTAIN_BIKING" => "mountain_biking",
        "E_BIKE_FITNESS" | "E_BIKE_MOUNTAIN" | "E_ENDURO_MTB" => "e_biking",
        "INDOOR_CYCLING" | "VIRTUAL_RIDE" | "INDOOR_HANDCYCLING" => "indoor_cycling",
        "FITNESS_EQUIPMENT" => "fitness_equipment",
        "BOULDERING" | "INDOOR_CLIMBING" => "indoor_climbing",
        "ELLIPTICAL" => "elliptical",
        "INDOOR_CARDIO" | "HIIT" | "JUMP_ROPE" => "cardio_training",
        "INDOOR_ROWING" => "rowing_machine",
        "MOBILITY" | "MEDITATION" | "BREATHWORK" => "stretching",
        "PILATES" => "pilates",
        "STAIR_CLIMBING" | "FLOOR_CLIMBING" => "stair_climbing",
        "STRENGTH_TRAINING" => "strength_training",
        "YOGA" => "yoga",
        "SWIMMING" => "swimming",
        "LAP_SWIMMING" => "pool_swimming",
        "OPEN_WATER_SWIMMING" => "open_water_swimming",
        "WALKING" | "CASUAL_WALKING" | "SPEED_WALKING" | "WHEELCHAIR_PUSH_WALK" => "walking",
        "HIKING" | "RUCKING" => "hiking",
        "WINTER_SPORTS" => "winter_sports",
        "BACKCOUNTRY_SNOWBOARDING" | "SNOWBOARDING_WS" => "snowboarding",
        "BACKCOUNTRY_SKIING" => "backcountry_skiing",
        "CROSS_COUNTRY_SKIING_WS" | "SKATE_SKIING_WS" => "cross_country_skiing",
        "RESORT_SKIING" | "RESORT_SKIING_SNOWBOARDING_WS" => "alpine_skiing",
        "SKATING_WS" => "ice_skating",
        "SNOW_SHOE_WS" => "snowshoeing",
        "SNOWMOBILING_WS" => "snowmobiling",
        "WATER_SPORTS" => "water_sports",
        "BOATING" => "boating",
        "FISHING" => "fishing",
        "KAYAKING" | "WHITEWATER_RAFTING" => "kayaking",
        "KITEBOARDING" => "kitesurfing",
        "SAILING" | "OFFSHORE_GRINDING" | "ONSHORE_GRINDING" => "sailing",
        "PADDLING" => "paddling",
        "ROWING" => "rowing",
        "SNORKELING" => "diving",
        "STAND_UP_PADDLEBOARDING" => "stand_up_paddleboarding",
        "SURFING" => "surfing",
        "WAKEBOARDING" => "wakeboarding",
        "WATERSKIING" => "water_skiing",
        "WINDSURFING" => "windsurfing",
        "TRANSITION"
        | "BIKE_TO_RUN_TRANSITION"
        | "RUN_TO_BIKE_TRANSITION"
        | "SWIM_TO_BIKE_TRANSITION" => "transition",
        "TEAM_SPORTS" => "team_sports",
        "AMERICAN_FOOTBALL" => "american_football",
        "BASEBALL" | "SOFTBALL" => "baseball",
        "BASKETBALL" => "basketball",
        "CRICKET" => "cricket",
        "FIELD_HOCKEY" | "ICE_HOCKEY" => "hockey",
        "LACROSSE" => "lacrosse",
        "RUGBY" => "rugby",
        "SOCCER" => "soccer",
        "ULTIMATE_DISC" | "DISC_GOLF" => "disc_sports",
        "VOLLEYBALL" => "volleyball",
        "RACKET_SPORTS" => "racket_sports",
        "BADMINTON" => "badminton",
        "PADDELBALL" => "padel",
        "PICKLEBALL" => "pickleball",
        "TENNIS" | "PLATFORM_TENNIS" => "tennis",
        "RACQUETBALL" => "racquetball",
        "SQUASH" => "squash",
        "TABLE_TENNIS" => "table_tennis",
        "OTHER" | "STOP_WATCH" => "generic",
        "BOXING" => "boxing",
        "DANCE" => "dance",
        "GOLF" => "golf",
        "INLINE_SKATING" => "inline_skating",
        "MIXED_MARTIAL_ARTS" => "martial_arts",
        "MOUNTAINEERING" => "mountaineering",
        "ROCK_CLIMBING" => "rock_climbing",
        "PARA_SPORTS" => "para_sports",
        _ => return None,
    })
}

/// Garmin `activityType` → unified workout type (Appendix A; unknown → `other`).
pub fn map_workout_type(raw: &str) -> WorkoutType {
    workout_code(raw)
        .and_then(WorkoutType::from_code)
        .unwrap_or(WorkoutType::Other)
}

// ---------------------------------------------------------------------------------------------
// Mapping per summary type (§4.1.3)
// ---------------------------------------------------------------------------------------------

/// A workout from an `activities` item or an `activityDetails` item's `summary`.
fn workout(summary: &Value, activity_id: Option<String>) -> Option<PulledWorkout> {
    let (start, zone) = start_of(summary)?;
    let end = start + Duration::seconds(int(summary, "durationInSeconds").unwrap_or(0).max(0));
    let hr = |k: &str| num(summary, k);
    let details = WorkoutDetails {
        energy_burned: num(summary, "activeKilocalories").unwrap_or(0.0),
        distance: num(summary, "distanceInMeters"),
        steps_count: int(summary, "steps"),
        heart_rate_min: hr("minHeartRateInBeatsPerMinute").map(|x| x.round() as i64),
        heart_rate_avg: hr("averageHeartRateInBeatsPerMinute"),
        heart_rate_max: hr("maxHeartRateInBeatsPerMinute").map(|x| x.round() as i64),
        average_watts: num(summary, "averagePowerInWatts"),
        average_speed: num(summary, "averageSpeedInMetersPerSecond"),
        max_speed: num(summary, "maxSpeedInMetersPerSecond"),
        total_elevation_gain: num(summary, "totalElevationGainInMeters")
            .or_else(|| num(summary, "elevationGainInMeters")),
        elev_high: num(summary, "maxElevationInMeters"),
        elev_low: num(summary, "minElevationInMeters"),
    };
    let raw_type = summary
        .get("activityType")
        .and_then(Value::as_str)
        .unwrap_or("");
    Some(PulledWorkout {
        external_id: activity_id
            .or_else(|| text(summary, "activityId"))
            .or_else(|| text(summary, "summaryId")),
        // Both paths use the mapping table (the reference stored the raw lower-cased type
        // for activityDetails: Appendix C #5).
        workout_type: Some(map_workout_type(raw_type).code().to_string()),
        start,
        end,
        zone,
        details,
    })
}

fn map_activity(v: &Value, out: &mut Pulled) {
    if let Some(w) = workout(v, text(v, "activityId")) {
        out.workouts.push(w);
    }
}

/// `activityDetails`: the workout from `summary` and, when asked, its per-second samples.
fn map_activity_details(v: &Value, ingest_samples: bool, out: &mut Pulled) {
    let summary = v.get("summary").unwrap_or(v);
    let Some(w) = workout(summary, text(v, "activityId")) else {
        return;
    };
    if ingest_samples {
        let zone = w.zone.clone();
        for s in v
            .get("samples")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(at) = int(s, "startTimeInSeconds").and_then(epoch) else {
                continue;
            };
            for (key, series) in [
                ("heartRate", SeriesType::HeartRate),
                ("speedMetersPerSecond", SeriesType::Speed),
                ("stepsPerMinute", SeriesType::Cadence),
                ("powerInWatts", SeriesType::Power),
                ("elevationInMeters", SeriesType::Elevation),
                ("latitudeInDegree", SeriesType::Latitude),
                ("longitudeInDegree", SeriesType::Longitude),
                ("airTemperatureCelcius", SeriesType::AirTemperature),
            ] {
                if let Some(x) = num(s, key) {
                    out.samples.push(sample(series, at, x, &zone, None));
                }
            }
        }
    }
    out.workouts.push(w);
}

fn stage_of(key: &str) -> Option<SleepStage> {
    match key {
        "deep" => Some(SleepStage::Deep),
        "light" => Some(SleepStage::Light),
        "rem" => Some(SleepStage::Rem),
        "awake" => Some(SleepStage::Awake),
        _ => None,
    }
}

pub(super) fn map_sleep(v: &Value, out: &mut Pulled) {
    let Some((start, zone)) = start_of(v) else {
        return;
    };
    let mut end = start + Duration::seconds(int(v, "durationInSeconds").unwrap_or(0).max(0));
    let mut stages: Vec<StageInterval> = Vec::new();
    if let Some(levels) = v.get("sleepLevelsMap").and_then(Value::as_object) {
        for (key, list) in levels {
            let Some(stage) = stage_of(key) else { continue };
            for iv in list.as_array().into_iter().flatten() {
                let (Some(s), Some(e)) = (
                    int(iv, "startTimeInSeconds").and_then(epoch),
                    int(iv, "endTimeInSeconds").and_then(epoch),
                ) else {
                    continue;
                };
                if e > s {
                    stages.push(StageInterval {
                        stage,
                        start: s,
                        end: e,
                    });
                }
            }
        }
    }
    stages.sort_by_key(|s| (s.start, s.end));
    if let Some(last) = stages.iter().map(|s| s.end).max() {
        end = end.max(last);
    }
    let secs = |k: &str| int(v, k).unwrap_or(0).max(0);
    let (deep, light, rem, awake) = (
        secs("deepSleepDurationInSeconds"),
        secs("lightSleepDurationInSeconds"),
        secs("remSleepInSeconds"),
        secs("awakeDurationInSeconds"),
    );
    let asleep = deep + light + rem;
    let in_bed = (end - start).num_seconds();
    let external_id = text(v, "summaryId");
    out.sleeps.push(PulledSleep {
        external_id: external_id.clone(),
        start,
        end,
        zone: zone.clone(),
        is_nap: false,
        total_sleep_minutes: asleep / 60,
        time_in_bed_minutes: in_bed / 60,
        deep_minutes: deep / 60,
        light_minutes: light / 60,
        rem_minutes: rem / 60,
        awake_minutes: awake / 60,
        efficiency: (in_bed > 0 && asleep > 0)
            .then(|| ((asleep as f64 / in_bed as f64) * 10_000.0).round() / 100.0),
        stages,
    });
    let overall = v.get("overallSleepScore");
    let value = overall.and_then(|o| num(o, "value"));
    let components = v.get("sleepScores").and_then(Value::as_object).map(|m| {
        Value::Object(
            m.iter()
                .map(|(name, s)| {
                    let qualifier = s
                        .get("qualifierKey")
                        .or_else(|| s.get("qualifier"))
                        .cloned()
                        .unwrap_or(Value::Null);
                    let value = s.get("value").cloned().unwrap_or(Value::Null);
                    (
                        name.clone(),
                        json!({"value": value, "qualifier": qualifier}),
                    )
                })
                .collect::<Map<String, Value>>(),
        )
    });
    // Garmin names the rating `qualifierKey`; the reference read `qualifier` (App. C #6).
    let rating = overall
        .and_then(|o| o.get("qualifierKey").or_else(|| o.get("qualifier")))
        .and_then(Value::as_str)
        .and_then(qualifier);
    if value.is_some() || components.is_some() {
        out.scores.push(PulledScore {
            qualifier: rating,
            category: "sleep".into(),
            value,
            recorded_at: start,
            zone: zone.clone(),
            components,
        });
    }
    for nap in v
        .get("naps")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(s) = int(nap, "napStartTimeInSeconds").and_then(epoch) else {
            continue;
        };
        let dur = int(nap, "napDurationInSeconds").unwrap_or(0).max(0);
        if dur == 0 {
            continue;
        }
        out.sleeps.push(PulledSleep {
            external_id: external_id.clone(),
            start: s,
            end: s + Duration::seconds(dur),
            zone: int(nap, "napOffsetInSeconds")
                .map(offset_text)
                .or(zone.clone()),
            is_nap: true,
            total_sleep_minutes: dur / 60,
            time_in_bed_minutes: dur / 60,
            deep_minutes: 0,
            light_minutes: 0,
            rem_minutes: 0,
            awake_minutes: 0,
            efficiency: None,
            stages: Vec::new(),
        });
    }
}

/// `very_stressful` → `Very Stressful` (Garmin's stress qualifier as the reference stores it).
pub fn title_words(raw: &str) -> String {
    raw.split(['_', ' '])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let lower = w.to_lowercase();
            let mut cs = lower.chars();
            cs.next()
                .map(|c| c.to_uppercase().chain(cs).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn map_daily(v: &Value, out: &mut Pulled) {
    let (at, zone) = match start_of(v) {
        Some(s) => s,
        None => match calendar_noon(v) {
            Some(t) => (t, None),
            None => return,
        },
    };
    for (key, series, divisor) in [
        ("steps", SeriesType::Steps, 1.0),
        ("activeKilocalories", SeriesType::Energy, 1.0),
        ("floorsClimbed", SeriesType::FlightsClimbed, 1.0),
        ("distanceInMeters", SeriesType::DistanceWalkingRunning, 1.0),
        ("activeTimeInSeconds", SeriesType::ActiveTime, 60.0),
    ] {
        if let Some(x) = num(v, key) {
            out.samples
                .push(sample(series, at, x / divisor, &zone, Some(true)));
        }
    }
    if let Some(x) = num(v, "restingHeartRateInBeatsPerMinute") {
        out.samples
            .push(sample(SeriesType::RestingHeartRate, at, x, &zone, None));
    }
    for (offset, bpm) in offset_map(v, &["timeOffsetHeartRateSamples"]) {
        out.samples.push(sample(
            SeriesType::HeartRate,
            at + Duration::seconds(offset),
            bpm,
            &zone,
            None,
        ));
    }
    if let Some(stress) = num(v, "averageStressLevel").filter(|x| *x >= 0.0) {
        out.scores.push(PulledScore {
            qualifier: v
                .get("stressQualifier")
                .and_then(Value::as_str)
                .and_then(|q| qualifier(&title_words(q))),
            category: "stress".into(),
            value: Some(stress),
            recorded_at: at,
            zone,
            components: None,
        });
    }
}

fn map_epoch(v: &Value, out: &mut Pulled) {
    let Some((at, zone)) = start_of(v) else {
        return;
    };
    if let Some(hr) = num(v, "meanHeartRateInBeatsPerMinute").filter(|x| *x > 0.0) {
        out.samples
            .push(sample(SeriesType::HeartRate, at, hr, &zone, None));
    }
    if let Some(x) = num(v, "steps") {
        out.samples
            .push(sample(SeriesType::Steps, at, x, &zone, Some(false)));
    }
    if let Some(x) = num(v, "activeKilocalories") {
        out.samples
            .push(sample(SeriesType::Energy, at, x, &zone, Some(false)));
    }
}

fn map_body_comp(v: &Value, out: &mut Pulled) {
    let Some(at) = int(v, "measurementTimeInSeconds").and_then(epoch) else {
        return;
    };
    let zone = int(v, "measurementTimeOffsetInSeconds").map(offset_text);
    for (key, series, divisor) in [
        ("weightInGrams", SeriesType::Weight, 1000.0),
        ("bodyFatInPercent", SeriesType::BodyFatPercentage, 1.0),
        ("bodyMassIndex", SeriesType::BodyMassIndex, 1.0),
        ("muscleMassInGrams", SeriesType::SkeletalMuscleMass, 1000.0),
    ] {
        if let Some(x) = num(v, key) {
            out.samples
                .push(sample(series, at, x / divisor, &zone, None));
        }
    }
}

fn map_hrv(v: &Value, out: &mut Pulled) {
    let Some((at, zone)) = start_of(v) else {
        return;
    };
    let rmssd = SeriesType::HeartRateVariabilityRmssd;
    if let Some(x) = num(v, "lastNightAvg") {
        out.samples.push(sample(rmssd, at, x, &zone, None));
    }
    for (offset, ms) in offset_map(v, &["hrvValues"]) {
        out.samples.push(sample(
            rmssd,
            at + Duration::seconds(offset),
            ms,
            &zone,
            None,
        ));
    }
}

fn map_stress(v: &Value, out: &mut Pulled) {
    let Some((at, zone)) = start_of(v) else {
        return;
    };
    // Negative values mean off-wrist, motion or too little data.
    for (offset, x) in offset_map(v, &["timeOffsetStressLevelValues", "stressLevelValues"]) {
        if x >= 0.0 {
            out.samples.push(sample(
                SeriesType::GarminStressLevel,
                at + Duration::seconds(offset),
                x,
                &zone,
                None,
            ));
        }
    }
    let mut best: Option<f64> = None;
    for (offset, x) in offset_map(v, &["timeOffsetBodyBatteryValues", "bodyBatteryValues"]) {
        if x >= 0.0 {
            out.samples.push(sample(
                SeriesType::GarminBodyBattery,
                at + Duration::seconds(offset),
                x,
                &zone,
                None,
            ));
            best = Some(best.map_or(x, |b| b.max(x)));
        }
    }
    if let Some(value) = best {
        out.scores.push(PulledScore {
            qualifier: None,
            category: "body_battery".into(),
            value: Some(value),
            recorded_at: at,
            zone,
            components: None,
        });
    }
}

/// An average at the start plus positive `{offset: value}` readings of one series.
fn average_and_offsets(
    v: &Value,
    series: SeriesType,
    avg_key: &str,
    offsets_key: &str,
    out: &mut Pulled,
) {
    let Some((at, zone)) = start_of(v) else {
        return;
    };
    if let Some(x) = num(v, avg_key).filter(|x| *x > 0.0) {
        out.samples.push(sample(series, at, x, &zone, None));
    }
    for (offset, x) in offset_map(v, &[offsets_key]) {
        if x > 0.0 {
            out.samples.push(sample(
                series,
                at + Duration::seconds(offset),
                x,
                &zone,
                None,
            ));
        }
    }
}

fn map_respiration(v: &Value, out: &mut Pulled) {
    average_and_offsets(
        v,
        SeriesType::RespiratoryRate,
        "avgWakingRespirationValue",
        "timeOffsetEpochToBreaths",
        out,
    );
}

fn map_pulse_ox(v: &Value, out: &mut Pulled) {
    average_and_offsets(
        v,
        SeriesType::OxygenSaturation,
        "avgSpo2",
        "timeOffsetSpo2Values",
        out,
    );
}

fn map_blood_pressure(v: &Value, out: &mut Pulled) {
    let at = int(v, "measurementTimeInSeconds")
        .and_then(epoch)
        .or_else(|| {
            v.get("measurementTimestampGMT").and_then(|t| match t {
                Value::Number(n) => n.as_i64().and_then(epoch),
                Value::String(s) => crate::domain::time::parse_iso_datetime(s),
                _ => None,
            })
        })
        .or_else(|| int(v, "startTimeInSeconds").and_then(epoch));
    let Some(at) = at else { return };
    let zone = int(v, "measurementTimeOffsetInSeconds")
        .or_else(|| int(v, "startTimeOffsetInSeconds"))
        .map(offset_text);
    for (key, series) in [
        ("systolic", SeriesType::BloodPressureSystolic),
        ("diastolic", SeriesType::BloodPressureDiastolic),
    ] {
        if let Some(x) = num(v, key) {
            out.samples.push(sample(series, at, x, &zone, None));
        }
    }
}

fn map_user_metrics(v: &Value, out: &mut Pulled) {
    let Some(at) = calendar_noon(v) else { return };
    for (key, series) in [
        ("vo2Max", SeriesType::Vo2Max),
        ("fitnessAge", SeriesType::GarminFitnessAge),
    ] {
        if let Some(x) = num(v, key) {
            out.samples.push(sample(series, at, x, &None, None));
        }
    }
}

fn map_skin_temp(v: &Value, out: &mut Pulled) {
    let Some((at, zone)) = start_of(v) else {
        return;
    };
    if let Some(x) = num(v, "skinTemperature") {
        out.samples
            .push(sample(SeriesType::SkinTemperature, at, x, &zone, None));
    }
}

fn map_health_snapshot(v: &Value, out: &mut Pulled) {
    let Some((at, zone)) = start_of(v) else {
        return;
    };
    for s in v
        .get("summaries")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let series = match s.get("summaryType").and_then(Value::as_str) {
            Some("heart_rate") => SeriesType::HeartRate,
            Some("rmssd_hrv") => SeriesType::HeartRateVariabilityRmssd,
            Some("sdrr_hrv") => SeriesType::HeartRateVariabilitySdnn,
            Some("stress") => SeriesType::GarminStressLevel,
            Some("pulse_ox") => SeriesType::OxygenSaturation,
            Some("respiration") => SeriesType::RespiratoryRate,
            _ => continue,
        };
        let Some(x) = num(s, "avgValue") else {
            continue;
        };
        if series == SeriesType::GarminStressLevel && x < 0.0 {
            continue;
        }
        out.samples.push(sample(series, at, x, &zone, None));
    }
}

/// Maps one item of push key `key` into `out`. Answers false for keys we do not store.
pub fn map_item(key: &str, item: &Value, ingest_samples: bool, out: &mut Pulled) -> bool {
    match key {
        "activities" => map_activity(item, out),
        "activityDetails" => map_activity_details(item, ingest_samples, out),
        "sleeps" => map_sleep(item, out),
        "dailies" => map_daily(item, out),
        "epochs" => map_epoch(item, out),
        "bodyComps" => map_body_comp(item, out),
        "hrv" => map_hrv(item, out),
        "stressDetails" => map_stress(item, out),
        "allDayRespiration" => map_respiration(item, out),
        "pulseox" => map_pulse_ox(item, out),
        "bloodPressures" => map_blood_pressure(item, out),
        "userMetrics" => map_user_metrics(item, out),
        "skinTemp" => map_skin_temp(item, out),
        "healthSnapshot" => map_health_snapshot(item, out),
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_offsets_are_signed_hours_and_minutes() {
        assert_eq!(offset_text(7200), "+02:00");
        assert_eq!(offset_text(0), "+00:00");
        assert_eq!(offset_text(-18000), "-05:00");
        assert_eq!(offset_text(-1800), "-00:30");
        assert_eq!(offset_text(20700), "+05:45");
    }

    #[test]
    fn every_table_entry_is_a_unified_type() {
        assert_eq!(map_workout_type("ROAD_BIKING"), WorkoutType::Cycling);
        assert_eq!(
            map_workout_type(" trail_running "),
            WorkoutType::TrailRunning
        );
        assert_eq!(map_workout_type("KAYAKING_V2"), WorkoutType::Kayaking);
        assert_eq!(map_workout_type("LAP_SWIMMING").code(), "pool_swimming");
        assert_eq!(map_workout_type("STOP_WATCH").code(), "generic");
        assert_eq!(map_workout_type("UNDERWATER_BASKET"), WorkoutType::Other);
        for raw in [
            "RUNNING",
            "TREADMILL_RUNNING",
            "CYCLOCROSS",
            "ENDURO_MTB",
            "E_BIKE_FITNESS",
            "VIRTUAL_RIDE",
            "FITNESS_EQUIPMENT",
            "BOULDERING",
            "ELLIPTICAL",
            "HIIT",
            "INDOOR_ROWING",
            "BREATHWORK",
            "PILATES",
            "FLOOR_CLIMBING",
            "STRENGTH_TRAINING",
            "YOGA",
            "SWIMMING",
            "OPEN_WATER_SWIMMING",
            "WHEELCHAIR_PUSH_WALK",
            "RUCKING",
            "WINTER_SPORTS",
            "SNOWBOARDING_WS",
            "BACKCOUNTRY_SKIING",
            "SKATE_SKIING_WS",
            "RESORT_SKIING",
            "SKATING_WS",
            "SNOW_SHOE_WS",
            "SNOWMOBILING_WS",
            "WATER_SPORTS",
            "BOATING_V2",
            "FISHING",
            "WHITEWATER_RAFTING",
            "KITEBOARDING",
            "ONSHORE_GRINDING",
            "PADDLING",
            "ROWING_V2",
            "SNORKELING",
            "STAND_UP_PADDLEBOARDING",
            "SURFING",
            "WAKEBOARDING",
            "WATERSKIING",
            "WINDSURFING",
            "TRANSITION_V2",
            "SWIM_TO_BIKE_TRANSITION",
            "TEAM_SPORTS",
            "AMERICAN_FOOTBALL",
            "SOFTBALL",
            "BASKETBALL",
            "CRICKET",
            "ICE_HOCKEY",
            "LACROSSE",
            "RUGBY",
            "SOCCER",
            "DISC_GOLF",
            "VOLLEYBALL",
            "RACKET_SPORTS",
            "BADMINTON",
            "PADDELBALL",
            "PICKLEBALL",
            "PLATFORM_TENNIS",
            "RACQUETBALL",
            "SQUASH",
            "TABLE_TENNIS",
            "OTHER",
            "BOXING",
            "DANCE",
            "GOLF",
            "INLINE_SKATING",
            "MIXED_MARTIAL_ARTS",
            "MOUNTAINEERING",
            "ROCK_CLIMBING",
            "PARA_SPORTS",
        ] {
            let code = workout_code(raw).expect("in the table");
            assert!(
                WorkoutType::from_code(code).is_some(),
                "{raw} maps to {code}, which is not a unified type"
            );
        }
    }
}

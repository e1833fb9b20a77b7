//! Garmin (providers.md §4.1): push webhooks, the Backfill API and deregistration.
//!
//! Garmin forbids polling, so there is no pull of data: every summary arrives as a **push**
//! notification, a JSON object keyed by summary type (`activities`, `sleeps`, `dailies`, ...)
//! whose items carry the Garmin `userId`. [`webhook`] checks the `garmin-client-id` header and
//! maps each (user, summary type) group into one [`WebhookEvent::Data`], plus lifecycle events
//! (`deregistrations` → [`WebhookEvent::Deauthorized`], `userPermissionsChange` →
//! [`WebhookEvent::Scope`]).
//!
//! History comes from the Backfill API: [`pull`] asks Garmin to re-send every summary type of a
//! window (`GET /wellness-api/rest/backfill/{type}` → 202) in chunks of at most 30 days; the
//! data then arrives through the push webhook, so a backfill window itself stores nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Map, Value, json};

use super::payload::num;
use super::sync::{
    FetchError, Fetcher, Pulled, PulledSample, PulledScore, PulledSleep, PulledWorkout, qualifier,
};
use super::webhook::{WebhookError, WebhookEvent, WebhookReply, WebhookRequest, constant_time_eq};
use crate::domain::provider::Provider;
use crate::domain::sdk::WorkoutDetails;
use crate::domain::series::SeriesType;
use crate::domain::sleep::{SleepStage, StageInterval};
use crate::domain::workout::WorkoutType;

/// The header every Garmin push carries (its value is our client id).
pub const CLIENT_ID_HEADER: &str = "garmin-client-id";

/// The call that confirms a deregistration: refused (401) once the user removed our app.
pub const ACCOUNT_PROBE: &str = "/partner-gateway/rest/user/id";

/// The user's granted permissions (`{"permissions": [...]}`), read back on a
/// `userPermissionsChange` push instead of trusting the push.
pub const PERMISSIONS_PATH: &str = "/partner-gateway/rest/user/permissions";

/// The stored scope of a permissions answer: sorted, de-duplicated, space-joined.
pub fn scope_of(v: &Value) -> String {
    let mut perms: Vec<String> = v
        .get("permissions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect();
    perms.sort();
    perms.dedup();
    perms.join(" ")
}

/// Longest range Garmin accepts in one backfill request.
pub const BACKFILL_CHUNK_DAYS: i64 = 30;

/// Shorter range tried once when Garmin answers "min start time" (the reference used 31 days
/// for wellness types, longer than the chunk itself: providers.md Appendix C #7).
pub const MIN_START_FALLBACK_DAYS: i64 = 14;

/// Backfill API paths, in request order (the five the reference orchestrates first).
pub const BACKFILL_TYPES: [&str; 16] = [
    "sleeps",
    "dailies",
    "activities",
    "activityDetails",
    "hrv",
    "stressDetails",
    "respiration",
    "pulseOx",
    "bodyComps",
    "userMetrics",
    "bloodPressures",
    "skinTemp",
    "healthSnapshot",
    "epochs",
    "moveiq",
    "mct",
];

/// The push key under which Garmin delivers a backfill path's data (three differ).
pub fn push_key(backfill_path: &str) -> &str {
    match backfill_path {
        "respiration" => "allDayRespiration",
        "pulseOx" => "pulseox",
        "moveiq" => "moveIQActivities",
        other => other,
    }
}

/// Push keys with data we store, in the reference's processing order: activities first, then
/// the wellness keys (`activityDetails` after the others so `activities` defines a workout).
pub const DATA_KEYS: [&str; 13] = [
    "activities",
    "dailies",
    "epochs",
    "sleeps",
    "bodyComps",
    "hrv",
    "stressDetails",
    "allDayRespiration",
    "pulseox",
    "healthSnapshot",
    "skinTemp",
    "userMetrics",
    "bloodPressures",
];

/// `activityDetails` comes after every other data key.
const DETAILS_KEY: &str = "activityDetails";

// ---------------------------------------------------------------------------------------------
// Small readers
// ---------------------------------------------------------------------------------------------

fn int(v: &Value, key: &str) -> Option<i64> {
    v.get(key)
        .and_then(|x| x.as_i64().or_else(|| x.as_f64().map(|f| f as i64)))
}

fn text(v: &Value, key: &str) -> Option<String> {
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

fn map_sleep(v: &Value, out: &mut Pulled) {
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

fn map_daily(v: &Value, out: &mut Pulled) {
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

fn is_empty(p: &Pulled) -> bool {
    p.samples.is_empty() && p.workouts.is_empty() && p.sleeps.is_empty() && p.scores.is_empty()
}

/// The events of one push body: one `Data` per (user, summary type, device) in processing
/// order, then `Scope` and `Deauthorized` events. PING-style items (`callbackURL`) are skipped;
/// keys we do not store (`activityFiles`, `moveIQActivities`, `mct`, ...) are logged.
pub fn parse_push(body: &Value, ingest_samples: bool) -> Vec<WebhookEvent> {
    let mut events = Vec::new();
    let Some(obj) = body.as_object() else {
        return events;
    };
    let items_of = |key: &str| {
        obj.get(key)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    };
    for key in DATA_KEYS.iter().copied().chain([DETAILS_KEY]) {
        // (user, device) → what their items produced, in first-seen order.
        let mut groups: BTreeMap<(usize, String, Option<String>), Pulled> = BTreeMap::new();
        let mut order: Vec<(String, Option<String>)> = Vec::new();
        for item in items_of(key) {
            let Some(user) = text(item, "userId") else {
                tracing::warn!(summary_type = key, "garmin push item without userId");
                continue;
            };
            if item.get("callbackURL").is_some() {
                tracing::warn!(
                    summary_type = key,
                    "garmin PING notification skipped (configure PUSH delivery)"
                );
                continue;
            }
            let device = match key {
                "activities" => text(item, "deviceName"),
                "activityDetails" => item
                    .get("summary")
                    .and_then(|s| text(s, "deviceName"))
                    .or_else(|| text(item, "deviceName")),
                _ => None,
            };
            let id = (user, device);
            let idx = match order.iter().position(|o| *o == id) {
                Some(i) => i,
                None => {
                    order.push(id.clone());
                    order.len() - 1
                }
            };
            let entry = groups
                .entry((idx, id.0, id.1.clone()))
                .or_insert_with(|| Pulled {
                    source_name: id.1.clone().unwrap_or_else(|| "Garmin".into()),
                    device_model: id.1.clone(),
                    ..Pulled::default()
                });
            map_item(key, item, ingest_samples, entry);
        }
        for ((_, user, _), pulled) in groups {
            if !is_empty(&pulled) {
                events.push(WebhookEvent::Data {
                    provider_user_id: user,
                    pulled,
                });
            }
        }
    }
    for (key, items) in obj {
        let known = DATA_KEYS.contains(&key.as_str())
            || key == DETAILS_KEY
            || key == "userPermissionsChange"
            || key == "deregistrations";
        if !known {
            let n = items.as_array().map_or(0, Vec::len);
            tracing::info!(summary_type = %key, items = n, "garmin push type not stored");
        }
    }
    for item in items_of("userPermissionsChange") {
        let Some(user) = text(item, "userId") else {
            continue;
        };
        events.push(WebhookEvent::Scope {
            provider_user_id: user,
            scope: scope_of(item),
        });
    }
    for item in items_of("deregistrations") {
        if let Some(user) = text(item, "userId") {
            events.push(WebhookEvent::Deauthorized {
                provider_user_id: user,
            });
        }
    }
    // Last: which Backfill API types each user received (their backfill progress), once the
    // data itself is stored.
    for path in BACKFILL_TYPES {
        let mut users: Vec<String> = Vec::new();
        for item in items_of(push_key(path)) {
            if item.get("callbackURL").is_some() {
                continue;
            }
            if let Some(user) = text(item, "userId")
                && !users.contains(&user)
            {
                users.push(user);
            }
        }
        events.extend(users.into_iter().map(|user| WebhookEvent::Delivered {
            provider_user_id: user,
            kind: path.to_string(),
        }));
    }
    events
}

fn truthy(v: Option<&str>) -> bool {
    v.is_some_and(|s| {
        matches!(
            s.trim().to_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// Verifies and parses one inbound Garmin push (api.md §15.1): the `garmin-client-id` header
/// must be present and, when our client is configured, equal its client id (Appendix C #4);
/// else 401. GET has no challenge (400).
pub fn webhook(req: &WebhookRequest<'_>) -> Result<WebhookReply, WebhookError> {
    if *req.method == axum::http::Method::GET {
        return Err(WebhookError::NotSupported(
            "Provider 'garmin' does not support webhook verification requests (GET)".into(),
        ));
    }
    let Some(client_id) = req.header(CLIENT_ID_HEADER) else {
        return Err(WebhookError::bad_signature());
    };
    if let Some(c) = req.client
        && !constant_time_eq(client_id.trim().as_bytes(), c.client_id.as_bytes())
    {
        return Err(WebhookError::bad_signature());
    }
    let body = req.json()?;
    if !body.is_object() {
        return Err(WebhookError::BadRequest(
            "Invalid payload: expected a JSON object keyed by summary type".into(),
        ));
    }
    let ingest = truthy(
        req.settings
            .get("GARMIN_INGEST_WORKOUT_SAMPLES")
            .map(String::as_str),
    );
    Ok(WebhookReply::Accept(parse_push(&body, ingest)))
}

// ---------------------------------------------------------------------------------------------
// Backfill API (§4.1.4)
// ---------------------------------------------------------------------------------------------

/// How Garmin answered one backfill request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backfill {
    /// 202: the data will be pushed.
    Accepted,
    /// 409: this range of this type was requested before (its data was or will be pushed).
    Duplicate,
    /// 400 "min start time": the range starts before what Garmin keeps for this user.
    MinStartTime,
    /// 403 / 412: the user did not grant historical data (`HISTORICAL_DATA_EXPORT`).
    NoPermission(u16),
}

/// Requests the backfill of one type over `[start, end)`.
pub async fn request_backfill(
    f: &Fetcher<'_>,
    path: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Backfill, FetchError> {
    let route = format!("/wellness-api/rest/backfill/{path}");
    let url = f.url(
        &route,
        &[
            ("summaryStartTimeInSeconds", start.timestamp().to_string()),
            ("summaryEndTimeInSeconds", end.timestamp().to_string()),
        ],
    )?;
    let mut req = f.http.get(url).bearer_auth(f.token).timeout(f.timeout);
    for (k, v) in &f.headers {
        req = req.header(*k, v);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| FetchError::Transient(format!("{route}: {e}")))?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    match status.as_u16() {
        s if (200..300).contains(&s) => Ok(Backfill::Accepted),
        409 => Ok(Backfill::Duplicate),
        401 => Err(FetchError::Unauthorized),
        400 if body.to_lowercase().contains("min start time") => Ok(Backfill::MinStartTime),
        s @ (403 | 412) => Ok(Backfill::NoPermission(s)),
        s if s == 429 || status.is_server_error() => {
            Err(FetchError::Transient(format!("{route}: HTTP {status}")))
        }
        _ => Err(FetchError::Permanent(format!(
            "{route}: HTTP {status} {}",
            body.chars().take(200).collect::<String>()
        ))),
    }
}

/// The backfill paths to request: `GARMIN_BACKFILL_TYPES` (comma-separated) or all of them.
pub fn backfill_types(f: &Fetcher<'_>) -> Vec<String> {
    match f.setting("GARMIN_BACKFILL_TYPES") {
        Some(list) if !list.trim().is_empty() => list
            .split(',')
            .map(str::trim)
            .filter(|t| BACKFILL_TYPES.contains(t))
            .map(str::to_string)
            .collect(),
        _ => BACKFILL_TYPES.iter().map(|t| t.to_string()).collect(),
    }
}

/// Requests one type over `[start, end)`; a range starting before Garmin's minimum start
/// time is asked once more with its last [`MIN_START_FALLBACK_DAYS`] days. Answers Garmin's
/// final word on it.
pub async fn request_type(
    f: &Fetcher<'_>,
    path: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Backfill, FetchError> {
    match request_backfill(f, path, start, end).await? {
        Backfill::MinStartTime => {
            let shorter = (end - Duration::days(MIN_START_FALLBACK_DAYS)).max(start);
            if shorter > start {
                request_backfill(f, path, shorter, end).await
            } else {
                Ok(Backfill::MinStartTime)
            }
        }
        other => Ok(other),
    }
}

/// The error of a refused historical-data permission.
pub fn no_permission(path: &str, status: u16) -> FetchError {
    FetchError::Permanent(format!(
        "garmin backfill of {path} refused with HTTP {status}: historical data permission missing"
    ))
}

/// Garmin's REST activity summaries (providers.md §4.1.5).
pub const REST_ACTIVITIES: &str = "/wellness-api/rest/activities";

/// Activity summaries uploaded in the summary window as Garmin's REST endpoint answers them
/// (vendor pass-through, #52). Garmin serves at most 24 hours per call: without a window the
/// last 24 hours, with one end only the 24 hours next to it.
pub async fn vendor_workouts(
    f: &Fetcher<'_>,
    opts: &super::VendorOptions,
) -> Result<Value, FetchError> {
    let day = Duration::hours(24);
    let (start, end) = match (opts.start, opts.end) {
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) => (s, s + day),
        (None, Some(e)) => (e - day, e),
        (None, None) => (opts.now - day, opts.now),
    };
    let q = [
        ("uploadStartTimeInSeconds", start.timestamp().to_string()),
        ("uploadEndTimeInSeconds", end.timestamp().to_string()),
    ];
    f.get_raw(REST_ACTIVITIES, &q).await
}

/// One activity summary by id (vendor pass-through, #53).
pub async fn vendor_workout(f: &Fetcher<'_>, id: &str) -> Result<Value, FetchError> {
    let path = format!("{REST_ACTIVITIES}/{}", super::path_segment(id));
    f.get_raw(&path, &[]).await
}

/// A historical window for Garmin: asks the Backfill API for every summary type over
/// `[start, end)` in chunks of at most 30 days. Garmin answers 202 and pushes the data to our
/// webhook later, so the window itself returns nothing to store. (Sync windows go through
/// [`super::garmin_backfill::run_window`], which does the same for one chunk and records the
/// progress.)
///
/// A repeated range (409) counts as requested. A range starting before Garmin's minimum is
/// retried once with its last 14 days. 401 and 429/5xx end the window (refresh / retry; types
/// already requested then answer 409); 403/412 (the user did not grant historical data) stop
/// the window; any other refusal of one type is logged and the other types continue.
pub async fn pull(
    f: &Fetcher<'_>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Pulled, FetchError> {
    let types = backfill_types(f);
    let mut from = start;
    while from < end {
        let to = (from + Duration::days(BACKFILL_CHUNK_DAYS)).min(end);
        for path in &types {
            match request_type(f, path, from, to).await {
                Ok(Backfill::Accepted | Backfill::Duplicate) => {}
                Ok(Backfill::MinStartTime) => {
                    tracing::warn!(
                        backfill_type = %path,
                        "garmin backfill range starts before the user's minimum start time"
                    );
                }
                Ok(Backfill::NoPermission(status)) => return Err(no_permission(path, status)),
                Err(FetchError::Permanent(m)) => {
                    tracing::error!(backfill_type = %path, "garmin backfill request failed: {m}");
                }
                Err(e) => return Err(e),
            }
        }
        from = to;
    }
    Ok(Pulled {
        source_name: "Garmin".into(),
        ..Pulled::default()
    })
}

/// Deregisters the user at Garmin (`DELETE /partner-gateway/rest/user/registration`).
pub async fn deregister(f: &Fetcher<'_>) -> Result<(), FetchError> {
    f.send(
        reqwest::Method::DELETE,
        "/partner-gateway/rest/user/registration",
        &[],
        None,
    )
    .await
    .map(|_| ())
}

/// The Garmin integration.
pub struct Garmin;

#[async_trait::async_trait]
impl super::Integration for Garmin {
    fn provider(&self) -> Provider {
        Provider::Garmin
    }

    /// `GET /partner-gateway/rest/user/permissions` (`None` on failure).
    async fn granted_scope(&self, f: &Fetcher<'_>) -> Option<String> {
        let v = f.get(PERMISSIONS_PATH, &[]).await.ok()?;
        Some(scope_of(&v)).filter(|s| !s.is_empty())
    }

    /// A new consent starts the backfill afresh (also after a permanent failure).
    async fn on_connect(
        &self,
        state: &crate::app::AppState,
        _f: &Fetcher<'_>,
        conn: &crate::repo::connections::Connection,
    ) -> Result<(), crate::store::StoreError> {
        state.db.delete_garmin_backfill(conn.user_id).await
    }

    /// Backfill requests whose progress the user's backfill state records.
    async fn pull(
        &self,
        state: &crate::app::AppState,
        user: uuid::Uuid,
        f: &Fetcher<'_>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Pulled, FetchError> {
        super::garmin_backfill::run_window(state, user, f, start, end).await
    }

    fn probe(&self, event: &WebhookEvent) -> Option<super::webhook::Probe> {
        use super::webhook::Probe;
        match event {
            WebhookEvent::Deauthorized { .. } => Some(Probe::Account(ACCOUNT_PROBE)),
            WebhookEvent::Scope { .. } => Some(Probe::Permissions(PERMISSIONS_PATH)),
            _ => None,
        }
    }

    async fn delivered(
        &self,
        state: &crate::app::AppState,
        user: uuid::Uuid,
        kind: &str,
    ) -> Result<(), crate::store::StoreError> {
        super::garmin_backfill::delivered(state, user, kind).await
    }

    fn user_info_endpoint(&self) -> Option<super::UserInfoEndpoint> {
        Some(super::UserInfoEndpoint {
            path: "/partner-gateway/rest/user/id",
            id: "/userId",
            username: None,
        })
    }

    fn identify_on_sync(&self) -> bool {
        true
    }

    fn webhook(&self, req: &WebhookRequest<'_>) -> Result<WebhookReply, WebhookError> {
        webhook(req)
    }

    async fn deregister(&self, f: &Fetcher<'_>) -> Result<(), FetchError> {
        deregister(f).await
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
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "9c1e77b2-5f0a-4d61-a3c8-2b7e04d9f150";

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").to_utc()
    }

    fn data(events: &[WebhookEvent]) -> Vec<(&str, &Pulled)> {
        events
            .iter()
            .filter_map(|e| match e {
                WebhookEvent::Data {
                    provider_user_id,
                    pulled,
                } => Some((provider_user_id.as_str(), pulled)),
                _ => None,
            })
            .collect()
    }

    fn values(p: &Pulled, series: SeriesType) -> Vec<f64> {
        p.samples
            .iter()
            .filter(|s| s.series == series)
            .map(|s| s.value)
            .collect()
    }

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

    #[test]
    fn an_activity_push_becomes_a_workout_on_its_device() {
        let body = json!({"activities":[{"userId":USER,"summaryId":"20917733410",
            "activityId":20917733410_i64,"activityName":"Evening Ride","activityType":"ROAD_BIKING",
            "startTimeInSeconds":1717437600,"startTimeOffsetInSeconds":7200,"durationInSeconds":4980,
            "distanceInMeters":38210.4,"activeKilocalories":842,"averageHeartRateInBeatsPerMinute":141,
            "maxHeartRateInBeatsPerMinute":176,"averageSpeedInMetersPerSecond":7.67,
            "averageBikingCadenceInRevPerMinute":86.0,"deviceName":"Edge 840","manual":false}]});
        let events = parse_push(&body, false);
        let d = data(&events);
        assert_eq!(d.len(), 1);
        let (user, p) = d[0];
        assert_eq!(user, USER);
        assert_eq!(p.device_model.as_deref(), Some("Edge 840"));
        let w = &p.workouts[0];
        assert_eq!(w.external_id.as_deref(), Some("20917733410"));
        assert_eq!(w.workout_type.as_deref(), Some("cycling"));
        assert_eq!(w.start, t("2024-06-03T18:00:00Z"));
        assert_eq!(w.end, t("2024-06-03T19:23:00Z"));
        assert_eq!(w.zone.as_deref(), Some("+02:00"));
        assert_eq!(w.details.energy_burned, 842.0);
        assert_eq!(w.details.distance, Some(38210.4));
        assert_eq!(w.details.heart_rate_avg, Some(141.0));
        assert_eq!(w.details.heart_rate_max, Some(176));
        assert_eq!(w.details.average_speed, Some(7.67));
    }

    #[test]
    fn activity_details_use_the_mapping_table_and_optional_samples() {
        let body = json!({"activityDetails":[{"userId":USER,"summaryId":"20917733410-detail",
            "activityId":20917733410_i64,"summary":{"activityType":"TRAIL_RUNNING","startTimeInSeconds":1717437600,
            "startTimeOffsetInSeconds":-18000,"durationInSeconds":600,"elevationGainInMeters":112.5,
            "averageSpeedInMetersPerSecond":3.1,"deviceName":"Fenix 7"},
            "samples":[{"startTimeInSeconds":1717437600,"heartRate":120,"speedMetersPerSecond":3.0,
            "airTemperatureCelcius":18.5},{"startTimeInSeconds":1717437601,"heartRate":122}]}]});
        let without = parse_push(&body, false);
        let (_, p) = data(&without)[0];
        let w = &p.workouts[0];
        assert_eq!(w.workout_type.as_deref(), Some("trail_running"));
        assert_eq!(w.external_id.as_deref(), Some("20917733410"));
        assert_eq!(w.details.total_elevation_gain, Some(112.5));
        assert_eq!(w.zone.as_deref(), Some("-05:00"));
        assert!(p.samples.is_empty());
        let with = parse_push(&body, true);
        let (_, p) = data(&with)[0];
        assert_eq!(values(p, SeriesType::HeartRate), vec![120.0, 122.0]);
        assert_eq!(values(p, SeriesType::AirTemperature), vec![18.5]);
    }

    #[test]
    fn a_sleep_push_maps_stages_score_and_naps() {
        let body = json!({"sleeps":[{"userId":USER,"summaryId":"x2f9c41-665d9a30-6a40",
            "calendarDate":"2024-06-04","startTimeInSeconds":1717443600,"startTimeOffsetInSeconds":7200,
            "durationInSeconds":26400,"deepSleepDurationInSeconds":5100,"lightSleepDurationInSeconds":13800,
            "remSleepInSeconds":6000,"awakeDurationInSeconds":1500,"validation":"ENHANCED_FINAL",
            "sleepLevelsMap":{"light":[{"startTimeInSeconds":1717443600,"endTimeInSeconds":1717447200}],
              "deep":[{"startTimeInSeconds":1717447200,"endTimeInSeconds":1717452300}],
              "rem":[{"startTimeInSeconds":1717452300,"endTimeInSeconds":1717458300}],
              "awake":[{"startTimeInSeconds":1717458300,"endTimeInSeconds":1717459800}],
              "unmeasurable":[{"startTimeInSeconds":1717459800,"endTimeInSeconds":1717460000}]},
            "overallSleepScore":{"value":84,"qualifierKey":"GOOD"},
            "sleepScores":{"totalDuration":{"qualifierKey":"GOOD"},"stress":{"qualifierKey":"FAIR"}},
            "naps":[{"napStartTimeInSeconds":1717498800,"napDurationInSeconds":1500,
              "napOffsetInSeconds":7200,"napValidation":"DEVICE"}]}]});
        let events = parse_push(&body, false);
        let (_, p) = data(&events)[0];
        assert_eq!(p.sleeps.len(), 2);
        let s = &p.sleeps[0];
        assert!(!s.is_nap);
        assert_eq!(
            (s.start, s.end),
            (t("2024-06-03T19:40:00Z"), t("2024-06-04T03:00:00Z"))
        );
        assert_eq!(
            (
                s.deep_minutes,
                s.light_minutes,
                s.rem_minutes,
                s.awake_minutes
            ),
            (85, 230, 100, 25)
        );
        assert_eq!((s.total_sleep_minutes, s.time_in_bed_minutes), (415, 440));
        assert_eq!(s.efficiency, Some(94.32));
        let kinds: Vec<SleepStage> = s.stages.iter().map(|x| x.stage).collect();
        assert_eq!(
            kinds,
            vec![
                SleepStage::Light,
                SleepStage::Deep,
                SleepStage::Rem,
                SleepStage::Awake
            ],
            "unknown stage keys are ignored, the rest sorted"
        );
        let nap = &p.sleeps[1];
        assert!(nap.is_nap);
        assert_eq!((nap.total_sleep_minutes, nap.time_in_bed_minutes), (25, 25));
        assert_eq!(nap.external_id, s.external_id);
        let score = &p.scores[0];
        assert_eq!(
            (score.category.as_str(), score.value),
            ("sleep", Some(84.0))
        );
        assert_eq!(score.recorded_at, s.start);
        assert_eq!(score.qualifier.as_deref(), Some("GOOD"));
        assert_eq!(
            score.components,
            Some(json!({"totalDuration":{"value":null,"qualifier":"GOOD"},
                "stress":{"value":null,"qualifier":"FAIR"}}))
        );
    }

    #[test]
    fn qualifiers_accept_both_sleep_keys_and_title_case_stress() {
        let mut p = Pulled::default();
        map_sleep(
            &json!({"summaryId":"a","startTimeInSeconds":1000,"durationInSeconds":600,
                "overallSleepScore":{"value":61,"qualifier":"FAIR"}}),
            &mut p,
        );
        assert_eq!(p.scores[0].qualifier.as_deref(), Some("FAIR"));
        assert_eq!(title_words("very_stressful"), "Very Stressful");
        assert_eq!(title_words("REST"), "Rest");
        let mut d = Pulled::default();
        map_daily(
            &json!({"startTimeInSeconds":1000,"averageStressLevel":-1,"stressQualifier":"unknown"}),
            &mut d,
        );
        assert!(d.scores.is_empty(), "no stress level, no score");
    }

    #[test]
    fn a_sleep_ends_at_its_last_stage_when_that_is_later() {
        let v = json!({"userId":USER,"summaryId":"s","startTimeInSeconds":1000,"durationInSeconds":600,
            "sleepLevelsMap":{"light":[{"startTimeInSeconds":1000,"endTimeInSeconds":1900}]},
            "lightSleepDurationInSeconds":900});
        let mut p = Pulled::default();
        map_sleep(&v, &mut p);
        assert_eq!((p.sleeps[0].end - p.sleeps[0].start).num_seconds(), 900);
        assert_eq!(p.sleeps[0].time_in_bed_minutes, 15);
        assert!(p.scores.is_empty(), "no score fields, no score");
    }

    #[test]
    fn dailies_and_stress_details_map_totals_series_and_scores() {
        let body = json!({"dailies":[{"userId":USER,"summaryId":"x2f9c41-665e1b80-15180-0",
          "calendarDate":"2024-06-04","startTimeInSeconds":1717452000,"startTimeOffsetInSeconds":7200,
          "durationInSeconds":86400,"steps":11408,"distanceInMeters":8735.0,"activeKilocalories":566,
          "bmrKilocalories":1694,"floorsClimbed":7,"activeTimeInSeconds":6120,
          "restingHeartRateInBeatsPerMinute":49,"averageHeartRateInBeatsPerMinute":64,
          "averageStressLevel":31,"maxStressLevel":91,"stressQualifier":"balanced",
          "timeOffsetHeartRateSamples":{"0":56,"900":54,"1800":55}}],
         "stressDetails":[{"userId":USER,"summaryId":"x2f9c41-665e1b80",
          "calendarDate":"2024-06-04","startTimeInSeconds":1717452000,"startTimeOffsetInSeconds":7200,
          "durationInSeconds":86400,"timeOffsetStressLevelValues":{"0":18,"180":-1,"360":27},
          "timeOffsetBodyBatteryValues":{"0":71,"180":71,"360":70}}]});
        let events = parse_push(&body, false);
        let d = data(&events);
        assert_eq!(d.len(), 2, "one event per user and type");
        let daily = d[0].1;
        let total = |series| {
            daily
                .samples
                .iter()
                .find(|s| s.series == series)
                .map(|s| (s.value, s.daily_total, s.at))
        };
        let start = t("2024-06-03T22:00:00Z");
        assert_eq!(total(SeriesType::Steps), Some((11408.0, Some(true), start)));
        assert_eq!(total(SeriesType::Energy), Some((566.0, Some(true), start)));
        assert_eq!(
            total(SeriesType::ActiveTime),
            Some((102.0, Some(true), start))
        );
        assert_eq!(
            total(SeriesType::FlightsClimbed),
            Some((7.0, Some(true), start))
        );
        assert_eq!(
            total(SeriesType::DistanceWalkingRunning),
            Some((8735.0, Some(true), start))
        );
        assert_eq!(
            total(SeriesType::RestingHeartRate),
            Some((49.0, None, start))
        );
        assert_eq!(values(daily, SeriesType::HeartRate), vec![56.0, 54.0, 55.0]);
        assert_eq!(daily.scores[0].category, "stress");
        assert_eq!(daily.scores[0].value, Some(31.0));
        assert_eq!(daily.scores[0].qualifier.as_deref(), Some("Balanced"));
        let stress = d[1].1;
        assert_eq!(
            values(stress, SeriesType::GarminStressLevel),
            vec![18.0, 27.0]
        );
        assert_eq!(
            values(stress, SeriesType::GarminBodyBattery),
            vec![71.0, 71.0, 70.0]
        );
        assert_eq!(stress.scores[0].category, "body_battery");
        assert_eq!(stress.scores[0].qualifier, None);
        assert_eq!(stress.scores[0].value, Some(71.0));
        assert!(
            stress
                .samples
                .iter()
                .all(|s| s.zone.as_deref() == Some("+02:00"))
        );
    }

    #[test]
    fn wellness_series_use_their_units() {
        let body = json!({
          "hrv":[{"userId":USER,"summaryId":"x2f9c41-665da5e0","calendarDate":"2024-06-04",
            "startTimeInSeconds":1717446624,"startTimeOffsetInSeconds":7200,"durationInSeconds":23100,
            "lastNightAvg":58,"lastNight5MinHigh":81,"hrvValues":{"300":54,"600":61,"900":57}}],
          "bodyComps":[{"userId":USER,"summaryId":"x2f9c41-665e4d00","measurementTimeInSeconds":1717464320,
            "measurementTimeOffsetInSeconds":7200,"weightInGrams":71850,"bodyFatInPercent":17.2,
            "bodyMassIndex":22.4,"muscleMassInGrams":33600}],
          "pulseox":[{"userId":USER,"summaryId":"p","startTimeInSeconds":1717446624,
            "startTimeOffsetInSeconds":7200,"avgSpo2":96,"timeOffsetSpo2Values":{"0":95,"60":0,"120":97}}],
          "allDayRespiration":[{"userId":USER,"summaryId":"r","startTimeInSeconds":1717446624,
            "avgWakingRespirationValue":14.5,"timeOffsetEpochToBreaths":{"0":13.9,"60":-1}}],
          "userMetrics":[{"userId":USER,"summaryId":"m","calendarDate":"2024-06-04","vo2Max":51,"fitnessAge":33}],
          "bloodPressures":[{"userId":USER,"summaryId":"b","measurementTimeInSeconds":1717464320,
            "measurementTimeOffsetInSeconds":3600,"systolic":121,"diastolic":79}],
          "skinTemp":[{"userId":USER,"summaryId":"k","startTimeInSeconds":1717446624,"skinTemperature":33.4}],
          "healthSnapshot":[{"userId":USER,"summaryId":"h","startTimeInSeconds":1717446624,
            "summaries":[{"summaryType":"heart_rate","avgValue":62},{"summaryType":"stress","avgValue":-1},
            {"summaryType":"sdrr_hrv","avgValue":48.5}]}],
          "epochs":[{"userId":USER,"summaryId":"x2f9c41-665e1b80-384-3","startTimeInSeconds":1717452900,
            "startTimeOffsetInSeconds":7200,"steps":310,"activeKilocalories":12.5,"meanHeartRateInBeatsPerMinute":0}],
          "moveIQActivities":[{"userId":USER,"summaryId":"q"}],
          "activityFiles":[{"userId":USER,"summaryId":"20917733410","fileType":"FIT",
            "callbackURL":"https://apis.garmin.com/wellness-api/rest/activityFile?id=1"}]
        });
        let events = parse_push(&body, false);
        let all: Vec<&Pulled> = data(&events).into_iter().map(|(_, p)| p).collect();
        let find = |series| -> Vec<f64> { all.iter().flat_map(|p| values(p, series)).collect() };
        assert_eq!(
            find(SeriesType::HeartRateVariabilityRmssd),
            vec![58.0, 54.0, 61.0, 57.0]
        );
        assert_eq!(find(SeriesType::Weight), vec![71.85]);
        assert_eq!(find(SeriesType::SkeletalMuscleMass), vec![33.6]);
        assert_eq!(find(SeriesType::BodyFatPercentage), vec![17.2]);
        assert_eq!(find(SeriesType::OxygenSaturation), vec![96.0, 95.0, 97.0]);
        assert_eq!(find(SeriesType::RespiratoryRate), vec![14.5, 13.9]);
        assert_eq!(find(SeriesType::Vo2Max), vec![51.0]);
        assert_eq!(find(SeriesType::GarminFitnessAge), vec![33.0]);
        assert_eq!(find(SeriesType::BloodPressureSystolic), vec![121.0]);
        assert_eq!(find(SeriesType::SkinTemperature), vec![33.4]);
        assert_eq!(
            find(SeriesType::HeartRate),
            vec![62.0],
            "zero epoch HR skipped"
        );
        assert_eq!(find(SeriesType::HeartRateVariabilitySdnn), vec![48.5]);
        assert!(find(SeriesType::GarminStressLevel).is_empty());
        let steps: Vec<Option<bool>> = all
            .iter()
            .flat_map(|p| p.samples.iter())
            .filter(|s| s.series == SeriesType::Steps)
            .map(|s| s.daily_total)
            .collect();
        assert_eq!(steps, vec![Some(false)], "epoch steps are intraday");
        let metrics = all
            .iter()
            .flat_map(|p| p.samples.iter())
            .find(|s| s.series == SeriesType::Vo2Max)
            .map(|s| s.at);
        assert_eq!(metrics, Some(t("2024-06-04T12:00:00Z")));
        let bp_zone = all
            .iter()
            .flat_map(|p| p.samples.iter())
            .find(|s| s.series == SeriesType::BloodPressureDiastolic)
            .and_then(|s| s.zone.clone());
        assert_eq!(bp_zone.as_deref(), Some("+01:00"));
    }

    #[test]
    fn several_users_ping_items_and_lifecycle_events() {
        let other = "0b55d3e1-7c2a-4f8e-91d0-6a3f2c8e1b47";
        let body = json!({
          "dailies":[
            {"userId":USER,"summaryId":"a","startTimeInSeconds":1717452000,"steps":100},
            {"userId":other,"summaryId":"b","startTimeInSeconds":1717452000,"steps":200},
            {"userId":USER,"summaryId":"c","startTimeInSeconds":1717538400,"steps":300},
            {"userId":USER,"callbackURL":"https://apis.garmin.com/wellness-api/rest/dailies?token=x"}],
          "userPermissionsChange":[{"userId":USER,"permissions":["HEALTH_EXPORT","ACTIVITY_EXPORT"]},
            {"userId":other,"permissions":[]}],
          "deregistrations":[{"userId":other}]
        });
        let events = parse_push(&body, false);
        let d = data(&events);
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].0, values(d[0].1, SeriesType::Steps)),
            (USER, vec![100.0, 300.0])
        );
        assert_eq!(
            (d[1].0, values(d[1].1, SeriesType::Steps)),
            (other, vec![200.0])
        );
        assert_eq!(
            events[2..],
            [
                WebhookEvent::Scope {
                    provider_user_id: USER.into(),
                    scope: "ACTIVITY_EXPORT HEALTH_EXPORT".into()
                },
                WebhookEvent::Scope {
                    provider_user_id: other.into(),
                    scope: String::new()
                },
                WebhookEvent::Deauthorized {
                    provider_user_id: other.into()
                },
                WebhookEvent::Delivered {
                    provider_user_id: USER.into(),
                    kind: "dailies".into()
                },
                WebhookEvent::Delivered {
                    provider_user_id: other.into(),
                    kind: "dailies".into()
                }
            ]
        );
    }

    #[test]
    fn activities_are_processed_before_their_details() {
        let body = json!({
          "activityDetails":[{"userId":USER,"activityId":7,"summary":{"activityType":"RUNNING",
            "startTimeInSeconds":1000,"durationInSeconds":60}}],
          "activities":[{"userId":USER,"activityId":7,"activityType":"RUNNING",
            "startTimeInSeconds":1000,"durationInSeconds":60,"activeKilocalories":9}]});
        let events = parse_push(&body, false);
        let d = data(&events);
        assert_eq!(d[0].1.workouts[0].details.energy_burned, 9.0);
        assert_eq!(d[1].1.workouts[0].details.energy_burned, 0.0);
    }

    mod verification {
        use super::*;
        use crate::config::OAuthClient;
        use axum::http::{HeaderMap, HeaderValue, Method};
        use std::collections::HashMap;

        fn client() -> OAuthClient {
            OAuthClient {
                client_id: "cid".into(),
                client_secret: "secret".into(),
                authorize_url: String::new(),
                token_url: String::new(),
                api_base: String::new(),
                scope: String::new(),
                redirect_uri: String::new(),
            }
        }

        fn call(
            method: Method,
            header: Option<&str>,
            body: &[u8],
            client: Option<&OAuthClient>,
        ) -> Result<WebhookReply, WebhookError> {
            let mut headers = HeaderMap::new();
            if let Some(h) = header {
                headers.insert(CLIENT_ID_HEADER, HeaderValue::from_str(h).expect("header"));
            }
            let (query, settings) = (HashMap::new(), HashMap::new());
            webhook(&WebhookRequest {
                method: &method,
                query: &query,
                headers: &headers,
                body,
                now: Utc::now(),
                client,
                settings: &settings,
                secret_key: "k",
            })
        }

        const BODY: &[u8] =
            br#"{"dailies":[{"userId":"u1","startTimeInSeconds":1717452000,"steps":5}]}"#;

        #[test]
        fn the_client_id_header_is_required_and_checked() {
            let c = client();
            let ok = call(Method::POST, Some("cid"), BODY, Some(&c)).expect("accepted");
            let WebhookReply::Accept(events) = ok else {
                panic!("accept expected");
            };
            assert!(
                matches!(&events[0], WebhookEvent::Data { provider_user_id, .. } if provider_user_id == "u1")
            );
            let missing = call(Method::POST, None, BODY, Some(&c)).expect_err("refused");
            assert_eq!(missing.status().as_u16(), 401);
            assert_eq!(missing.to_string(), "Invalid webhook signature");
            let wrong = call(Method::POST, Some("other"), BODY, Some(&c)).expect_err("refused");
            assert_eq!(wrong.status().as_u16(), 401);
            assert!(
                call(Method::POST, Some("anything"), BODY, None).is_ok(),
                "without a configured client only presence is checked"
            );
        }

        #[test]
        fn bad_json_get_and_non_objects_are_refused() {
            let c = client();
            let bad = call(Method::POST, Some("cid"), b"{nope", Some(&c)).expect_err("400");
            assert_eq!(
                (bad.status().as_u16(), bad.to_string().as_str()),
                (400, "Invalid JSON body")
            );
            let arr = call(Method::POST, Some("cid"), b"[]", Some(&c)).expect_err("400");
            assert_eq!(arr.status().as_u16(), 400);
            let get = call(Method::GET, None, b"", Some(&c)).expect_err("400");
            assert_eq!(get.status().as_u16(), 400);
        }
    }
}

//! Polar pull: the AccessLink endpoints of a sync window and their mapping.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use serde_json::{Map, Value, json};

use super::{MAX_RANGE_DAYS, get};
use crate::domain::sdk::WorkoutDetails;
use crate::domain::series::SeriesType;
use crate::domain::sleep::{SleepStage, StageInterval};
use crate::domain::workout::WorkoutType;
use crate::providers::payload::{midnight, num, text};
use crate::providers::sync::{
    FetchError, Fetcher, Pulled, PulledSample, PulledScore, PulledSleep, PulledWorkout, qualifier,
};

// ---------------------------------------------------------------------------------------------
// Small parsers
// ---------------------------------------------------------------------------------------------

/// `±HH:MM` of an offset in minutes.
pub fn zone_of_minutes(minutes: i64) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    let m = minutes.abs();
    format!("{sign}{:02}:{:02}", m / 60, m % 60)
}

fn zone_of(t: &DateTime<FixedOffset>) -> String {
    t.format("%:z").to_string()
}

/// A naive `YYYY-MM-DDTHH:MM:SS[.fff]` (a trailing `Z` is accepted).
fn naive(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim().trim_end_matches('Z');
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
        .ok()
}

/// An instant: RFC 3339 with its offset, or a naive time read as UTC.
pub(super) fn instant(s: &str) -> Option<(DateTime<Utc>, Option<String>)> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        return Some((t.to_utc(), Some(zone_of(&t))));
    }
    naive(s).map(|n| (n.and_utc(), None))
}

pub(super) fn date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()
}

/// Seconds of an ISO-8601 duration (`PT1H2M3.5S`, `P1DT2H`).
pub fn iso_duration_seconds(s: &str) -> Option<f64> {
    let rest = s.trim().strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut total = 0.0;
    let mut parse = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut acc = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                acc.push(c);
                continue;
            }
            let factor = units.iter().find(|(u, _)| *u == c)?.1;
            total += acc.parse::<f64>().ok()? * factor;
            acc.clear();
        }
        acc.is_empty().then_some(())
    };
    parse(days, &[('W', 604_800.0), ('D', 86_400.0)])?;
    parse(time, &[('H', 3_600.0), ('M', 60.0), ('S', 1.0)])?;
    Some(total)
}

/// A score component `{value, qualifier}`.
fn component(value: Option<f64>, qualifier: Option<String>) -> Value {
    json!({ "value": value, "qualifier": qualifier })
}

/// The lower-case label of an enum value after its prefix, words spaced
/// (`GRADE_CLASSIFICATION_STRONG` → `strong`, `SLEEP_INERTIA_NO_INERTIA` → `no inertia`).
fn label(raw: &str, prefix: &str) -> String {
    raw.strip_prefix(prefix)
        .unwrap_or(raw)
        .to_lowercase()
        .replace('_', " ")
}

fn sample(
    series: SeriesType,
    at: DateTime<Utc>,
    value: f64,
    zone: Option<String>,
    daily_total: Option<bool>,
) -> PulledSample {
    PulledSample {
        series,
        at,
        value,
        zone,
        daily_total,
    }
}

// ---------------------------------------------------------------------------------------------
// Workout types (Appendix A, exact match, then the sport-only fallback, then `other`)
// ---------------------------------------------------------------------------------------------

/// The unified type of a Polar (`sport`, `detailed_sport_info`).
pub fn workout_type(sport: &str, detail: Option<&str>) -> WorkoutType {
    use WorkoutType as W;
    let exact = match (sport, detail.unwrap_or("")) {
        ("RUNNING", "RUNNING_ROAD") => Some(W::Running),
        ("RUNNING", "RUNNING_TRAIL") => Some(W::TrailRunning),
        ("RUNNING", "RUNNING_TREADMILL") => Some(W::Treadmill),
        ("CYCLING", "CYCLING_ROAD") => Some(W::Cycling),
        ("CYCLING", "CYCLING_MOUNTAIN") | ("OTHER", "CYCLING_MOUNTAIN_BIKE") => {
            Some(W::MountainBiking)
        }
        ("CYCLING", "CYCLING_INDOOR" | "INDOOR_CYCLING") => Some(W::IndoorCycling),
        ("OTHER", "CYCLING_CYCLOCROSS") => Some(W::Cyclocross),
        ("OTHER", "AQUATICS_SWIMMING") => Some(W::Swimming),
        ("SWIMMING", "SWIMMING_POOL") => Some(W::PoolSwimming),
        ("SWIMMING", "SWIMMING_OPEN_WATER") => Some(W::OpenWaterSwimming),
        ("OTHER", "WALKING" | "WALKING_NORDIC") => Some(W::Walking),
        ("OTHER", "HIKING") => Some(W::Hiking),
        ("OTHER", "MOUNTAINEERING") => Some(W::Mountaineering),
        ("OTHER", d) if d.starts_with("WINTERSPORTS_") => match &d["WINTERSPORTS_".len()..] {
            "CROSS_COUNTRY_SKIING" => Some(W::CrossCountrySkiing),
            "ALPINE_SKIING" | "DOWNHILL_SKIING" => Some(W::AlpineSkiing),
            "BACKCOUNTRY_SKIING" => Some(W::BackcountrySkiing),
            "SNOWBOARDING" => Some(W::Snowboarding),
            "SNOWSHOEING" => Some(W::Snowshoeing),
            "ICE_SKATING" => Some(W::IceSkating),
            _ => None,
        },
        ("OTHER", "FITNESS_CARDIO" | "JUMP_ROPE") => Some(W::CardioTraining),
        ("OTHER", "FITNESS_ELLIPTICAL") => Some(W::Elliptical),
        ("OTHER", "FITNESS_INDOOR_ROWING") => Some(W::RowingMachine),
        ("OTHER", "FITNESS_STAIR_CLIMBING") => Some(W::StairClimbing),
        ("OTHER", "FITNESS_YOGA") => Some(W::Yoga),
        ("OTHER", "FITNESS_PILATES") => Some(W::Pilates),
        ("OTHER", "FITNESS_STRETCHING") => Some(W::Stretching),
        ("OTHER", d) if d.starts_with("WATERSPORTS_") => match &d["WATERSPORTS_".len()..] {
            "ROWING" => Some(W::Rowing),
            "KAYAKING" => Some(W::Kayaking),
            "CANOEING" => Some(W::Canoeing),
            "STAND_UP_PADDLING" => Some(W::StandUpPaddleboarding),
            "SURFING" => Some(W::Surfing),
            "KITESURFING" => Some(W::Kitesurfing),
            "WINDSURFING" => Some(W::Windsurfing),
            "SAILING" => Some(W::Sailing),
            "WATERSKI" => Some(W::WaterSkiing),
            _ => None,
        },
        ("OTHER", d) if d.starts_with("TEAMSPORTS_") => match &d["TEAMSPORTS_".len()..] {
            "BASKETBALL" => Some(W::Basketball),
            "SOCCER" => Some(W::Soccer),
            "FOOTBALL" => Some(W::Football),
            "AMERICAN_FOOTBALL" => Some(W::AmericanFootball),
            "BASEBALL" => Some(W::Baseball),
            "VOLLEYBALL" => Some(W::Volleyball),
            "HANDBALL" => Some(W::Handball),
            "RUGBY" => Some(W::Rugby),
            "HOCKEY" => Some(W::Hockey),
            "FLOORBALL" => Some(W::Floorball),
            _ => None,
        },
        ("OTHER", d) if d.starts_with("RACKET_SPORTS_") => match &d["RACKET_SPORTS_".len()..] {
            "TENNIS" => Some(W::Tennis),
            "BADMINTON" => Some(W::Badminton),
            "SQUASH" => Some(W::Squash),
            "TABLE_TENNIS" => Some(W::TableTennis),
            "PADEL" => Some(W::Padel),
            _ => None,
        },
        ("OTHER", "COMBAT_SPORTS_BOXING" | "KICKBOXING_MARTIAL_ARTS") => Some(W::Boxing),
        ("OTHER", "COMBAT_SPORTS_MARTIAL_ARTS") => Some(W::MartialArts),
        ("OTHER", "OUTDOOR_CLIMBING") => Some(W::RockClimbing),
        ("OTHER", "INDOOR_CLIMBING") => Some(W::IndoorClimbing),
        ("OTHER", "ORIENTEERING") => Some(W::Orienteering),
        ("OTHER", "GOLF") => Some(W::Golf),
        ("OTHER", "INLINE_SKATING") => Some(W::InlineSkating),
        ("OTHER", "SKATEBOARDING") => Some(W::Skateboarding),
        ("OTHER", "HORSEBACK_RIDING") => Some(W::HorsebackRiding),
        ("OTHER", "TRIATHLON") => Some(W::Triathlon),
        ("OTHER", "MOTORSPORTS") => Some(W::Motorcycling),
        ("OTHER", "DANCE") => Some(W::Dance),
        _ => None,
    };
    exact.unwrap_or(match sport {
        "RUNNING" => W::Running,
        "CYCLING" => W::Cycling,
        "SWIMMING" => W::Swimming,
        "WALKING" => W::Walking,
        "STRENGTH_TRAINING" => W::StrengthTraining,
        "BASKETBALL" => W::Basketball,
        "SOCCER" => W::Soccer,
        "TENNIS" => W::Tennis,
        "MULTISPORT" => W::Multisport,
        "OTHER" => W::Generic,
        _ => W::Other,
    })
}

// ---------------------------------------------------------------------------------------------
// Mapping
// ---------------------------------------------------------------------------------------------

/// Exercise → workout.
pub fn map_exercise(v: &Value, out: &mut Pulled) {
    let Some(raw_start) = text(v, "start_time") else {
        return;
    };
    let offset = v
        .get("start_time_utc_offset")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    // Local wall time minus its offset is UTC; an explicit offset in the string wins.
    let (start, zone) = match DateTime::parse_from_rfc3339(raw_start) {
        Ok(t) => (t.to_utc(), zone_of(&t)),
        Err(_) => match naive(raw_start) {
            Some(n) => (
                n.and_utc() - Duration::minutes(offset),
                zone_of_minutes(offset),
            ),
            None => return,
        },
    };
    let seconds = text(v, "duration")
        .and_then(iso_duration_seconds)
        .unwrap_or(0.0);
    let end = start + Duration::milliseconds((seconds * 1000.0).round() as i64);
    let sport = text(v, "sport").unwrap_or("");
    let hr = |k: &str| {
        v.get("heart_rate")
            .and_then(|h| h.get(k))
            .and_then(Value::as_f64)
    };
    out.workouts.push(PulledWorkout {
        external_id: text(v, "id").map(str::to_string),
        workout_type: Some(
            workout_type(sport, text(v, "detailed_sport_info"))
                .code()
                .to_string(),
        ),
        start,
        end,
        zone: Some(zone),
        details: WorkoutDetails {
            energy_burned: num(v, "calories").unwrap_or(0.0),
            distance: num(v, "distance"),
            heart_rate_avg: hr("average"),
            heart_rate_max: hr("maximum").map(|x| x.round() as i64),
            heart_rate_min: hr("minimum").map(|x| x.round() as i64),
            ..WorkoutDetails::default()
        },
    });
}

/// The instant of an `HH:MM[:SS]` wall-clock key of a sleep: the candidate on the local start
/// day, the day before or the day after that lies nearest to `[start, end]`.
fn clock_key_instant(
    key: &str,
    start: &DateTime<FixedOffset>,
    end: &DateTime<FixedOffset>,
) -> Option<DateTime<Utc>> {
    let t = NaiveTime::parse_from_str(key, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(key, "%H:%M:%S"))
        .ok()?;
    let offset = *start.offset();
    let day = start.date_naive();
    let (s, e) = (start.to_utc(), end.to_utc());
    // Keys are truncated to the minute: the start's own minute counts as inside.
    let s_floor = s
        - Duration::seconds(i64::from(start.second()))
        - Duration::nanoseconds(i64::from(start.nanosecond()));
    [-1i64, 0, 1]
        .iter()
        .filter_map(|d| {
            (day + Duration::days(*d))
                .and_time(t)
                .and_local_timezone(offset)
                .single()
                .map(|x| x.to_utc())
        })
        .min_by_key(|c| {
            if *c < s_floor {
                (s_floor - *c).num_seconds()
            } else if *c > e {
                (*c - e).num_seconds()
            } else {
                0
            }
        })
}

/// Polar hypnogram code → stage (0 awake, 1 REM, 2/3 light, 4 deep, 5 unknown).
fn stage_of(code: i64) -> SleepStage {
    match code {
        0 => SleepStage::Awake,
        1 => SleepStage::Rem,
        2 | 3 => SleepStage::Light,
        4 => SleepStage::Deep,
        _ => SleepStage::Unknown,
    }
}

/// `{"HH:MM": code}` → stage intervals within `[start, end]`: runs of equal stages merge, each
/// run lasts until the next change, the last one until `end`.
pub fn hypnogram(
    h: &Map<String, Value>,
    start: &DateTime<FixedOffset>,
    end: &DateTime<FixedOffset>,
) -> Vec<StageInterval> {
    let mut points: Vec<(DateTime<Utc>, SleepStage)> = h
        .iter()
        .filter_map(|(k, c)| Some((clock_key_instant(k, start, end)?, stage_of(c.as_i64()?))))
        .collect();
    points.sort_by_key(|(t, _)| *t);
    let (s, e) = (start.to_utc(), end.to_utc());
    let mut out: Vec<StageInterval> = Vec::new();
    for (i, (t, stage)) in points.iter().enumerate() {
        let from = (*t).max(s);
        let to = points.get(i + 1).map_or(e, |(n, _)| *n).min(e);
        if from >= to {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.stage == *stage && last.end == from => last.end = to,
            _ => out.push(StageInterval {
                stage: *stage,
                start: from,
                end: to,
            }),
        }
    }
    out
}

/// Sleep night → sleep session, sleep score and heart-rate samples.
pub fn map_sleep(v: &Value, out: &mut Pulled) {
    let parse = |k: &str| text(v, k).and_then(|s| DateTime::parse_from_rfc3339(s).ok());
    let (Some(start), Some(end)) = (parse("sleep_start_time"), parse("sleep_end_time")) else {
        return;
    };
    if end <= start {
        return;
    }
    let zone = Some(zone_of(&start));
    let minutes = |k: &str| num(v, k).map_or(0, |s| (s / 60.0).floor() as i64);
    let (light, deep, rem) = (
        minutes("light_sleep"),
        minutes("deep_sleep"),
        minutes("rem_sleep"),
    );
    let stages = v
        .get("hypnogram")
        .and_then(Value::as_object)
        .map(|h| hypnogram(h, &start, &end))
        .unwrap_or_default();
    out.sleeps.push(PulledSleep {
        external_id: None,
        start: start.to_utc(),
        end: end.to_utc(),
        zone: zone.clone(),
        is_nap: false,
        total_sleep_minutes: light + deep + rem,
        time_in_bed_minutes: (end - start).num_minutes(),
        deep_minutes: deep,
        light_minutes: light,
        rem_minutes: rem,
        awake_minutes: minutes("total_interruption_duration"),
        efficiency: None,
        stages,
    });
    if let Some(score) = num(v, "sleep_score") {
        let mut c = Map::new();
        for (name, key) in [
            ("sleep_time", "group_duration_score"),
            ("long_interruptions", "long_interruption_duration"),
            ("continuity", "continuity"),
            ("actual_sleep", "group_solidity_score"),
            ("rem_sleep", "rem_sleep"),
            ("deep_sleep", "deep_sleep"),
        ] {
            if let Some(x) = num(v, key) {
                c.insert(name.into(), component(Some(x), None));
            }
        }
        out.scores.push(PulledScore {
            qualifier: None,
            category: "sleep".into(),
            value: Some(score),
            recorded_at: end.to_utc(),
            zone: zone.clone(),
            components: Some(Value::Object(c)),
        });
    }
    if let Some(hr) = v.get("heart_rate_samples").and_then(Value::as_object) {
        for (k, bpm) in hr {
            if let (Some(at), Some(bpm)) = (clock_key_instant(k, &start, &end), bpm.as_f64()) {
                out.samples
                    .push(sample(SeriesType::HeartRate, at, bpm, zone.clone(), None));
            }
        }
    }
}

/// Daily activity → daily totals (steps, active energy, distance, active minutes).
pub fn map_activity(v: &Value, out: &mut Pulled) {
    let Some(at) = text(v, "start_time")
        .and_then(naive)
        .map(|n| n.and_utc())
        .or_else(|| text(v, "date").and_then(date).map(midnight))
    else {
        return;
    };
    let active = text(v, "active_duration")
        .and_then(iso_duration_seconds)
        .map(|s| (s / 60.0).floor());
    for (series, value) in [
        (SeriesType::Steps, num(v, "steps")),
        (SeriesType::Energy, num(v, "active_calories")),
        (
            SeriesType::DistanceWalkingRunning,
            num(v, "distance_from_steps"),
        ),
        (SeriesType::ActiveTime, active),
    ] {
        if let Some(value) = value {
            out.samples
                .push(sample(series, at, value, None, Some(true)));
        }
    }
}

/// Continuous heart rate of one day → heart-rate samples.
pub fn map_continuous_hr(v: &Value, out: &mut Pulled) {
    let Some(day) = text(v, "date").and_then(date) else {
        return;
    };
    for s in v
        .get("heart_rate_samples")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(bpm), Some(t)) = (
            num(s, "heart_rate"),
            text(s, "sample_time").and_then(|t| NaiveTime::parse_from_str(t, "%H:%M:%S").ok()),
        ) else {
            continue;
        };
        out.samples.push(sample(
            SeriesType::HeartRate,
            day.and_time(t).and_utc(),
            bpm,
            None,
            None,
        ));
    }
}

/// The qualifier of a cardio load status (`MAINTAINING` → `maintaining`); `None` for
/// `UNRECOGNIZED` and for labels too long to store.
pub fn cardio_load_label(status: &str) -> Option<String> {
    let s = status.trim();
    let s = s.strip_prefix("LOAD_STATUS_").unwrap_or(s);
    match s {
        "" | "UNRECOGNIZED" | "NOT_AVAILABLE" => None,
        // The two long statuses, shortened to fit a qualifier.
        "PRODUCTIVE_DROPPED_FROM_OVERREACHING" => qualifier("productive (was overreaching)"),
        "PRODUCTIVE_ALMOST_OVERREACHING" => qualifier("productive, almost overreaching"),
        other => qualifier(&label(other, "")),
    }
}

/// Cardio load → strain score, qualified by the load status (`maintaining`, `productive`, ...).
pub fn map_cardio_load(v: &Value, out: &mut Pulled) {
    let status = text(v, "cardio_load_status");
    if status == Some("LOAD_STATUS_NOT_AVAILABLE") {
        return;
    }
    let (Some(value), Some(day)) = (num(v, "cardio_load"), text(v, "date").and_then(date)) else {
        return;
    };
    let mut c = Map::new();
    for k in ["strain", "tolerance", "cardio_load_ratio"] {
        if let Some(x) = num(v, k) {
            c.insert(k.into(), component(Some(x), None));
        }
    }
    if let Some(levels) = v.get("cardio_load_level") {
        for (name, key) in [
            ("level_very_low", "very_low"),
            ("level_low", "low"),
            ("level_medium", "medium"),
            ("level_high", "high"),
            ("level_very_high", "very-high"),
        ] {
            if let Some(x) = num(levels, key) {
                c.insert(name.into(), component(Some(x), None));
            }
        }
    }
    out.scores.push(PulledScore {
        qualifier: status.and_then(cardio_load_label),
        category: "strain".into(),
        value: Some(value),
        recorded_at: midnight(day),
        zone: None,
        components: Some(Value::Object(c)),
    });
}

fn recharge_label(status: i64) -> Option<&'static str> {
    Some(match status {
        1 => "very poor",
        2 => "poor",
        3 => "compromised",
        4 => "ok",
        5 => "good",
        6 => "very good",
        _ => return None,
    })
}

fn ans_status_label(status: i64) -> Option<&'static str> {
    Some(match status {
        1 => "much below usual",
        2 => "below usual",
        3 => "usual",
        4 => "above usual",
        5 => "much above usual",
        _ => return None,
    })
}

/// Nightly Recharge → recovery score: the status (1–6) qualified `very poor` … `very good`.
pub fn map_recharge(v: &Value, out: &mut Pulled) {
    let (Some(status), Some(day)) = (
        v.get("nightly_recharge_status").and_then(Value::as_i64),
        text(v, "date").and_then(date),
    ) else {
        return;
    };
    let mut c = Map::new();
    for k in [
        "heart_rate_avg",
        "beat_to_beat_avg",
        "heart_rate_variability_avg",
        "breathing_rate_avg",
        "ans_charge",
    ] {
        if let Some(x) = num(v, k) {
            c.insert(k.into(), component(Some(x), None));
        }
    }
    if let Some(s) = v.get("ans_charge_status").and_then(Value::as_i64) {
        c.insert(
            "ans_charge_status".into(),
            component(Some(s as f64), ans_status_label(s).map(str::to_string)),
        );
    }
    out.scores.push(PulledScore {
        qualifier: recharge_label(status).and_then(qualifier),
        category: "recovery".into(),
        value: Some(status as f64),
        recorded_at: midnight(day),
        zone: None,
        components: Some(Value::Object(c)),
    });
}

/// A SleepWise period start: UTC per AccessLink, zone from `sleep_timezone_offset_minutes`.
fn sleepwise_stamp(v: &Value) -> Option<(DateTime<Utc>, Option<String>)> {
    let (at, zone) = instant(text(v, "period_start_time")?)?;
    let zone = v
        .get("sleep_timezone_offset_minutes")
        .and_then(Value::as_f64)
        .map(|m| zone_of_minutes(m.round() as i64))
        .or(zone);
    Some((at, zone))
}

/// SleepWise alertness (primary grades) → readiness score.
pub fn map_alertness(v: &Value, out: &mut Pulled) {
    if text(v, "grade_type") != Some("GRADE_TYPE_PRIMARY") {
        return;
    }
    let (Some(grade), Some((at, zone))) = (num(v, "grade"), sleepwise_stamp(v)) else {
        return;
    };
    let mut c = Map::new();
    if let Some(x) = num(v, "grade_validity_seconds") {
        c.insert("grade_validity_seconds".into(), component(Some(x), None));
    }
    if let Some(s) = text(v, "sleep_inertia") {
        c.insert(
            "sleep_inertia".into(),
            component(None, Some(label(s, "SLEEP_INERTIA_"))),
        );
    }
    if let Some(s) = text(v, "sleep_type") {
        c.insert(
            "sleep_type".into(),
            component(None, Some(label(s, "SLEEP_TYPE_"))),
        );
    }
    out.scores.push(PulledScore {
        qualifier: text(v, "grade_classification")
            .and_then(|g| qualifier(&label(g, "GRADE_CLASSIFICATION_"))),
        category: "readiness".into(),
        value: Some(grade),
        recorded_at: at,
        zone,
        components: Some(Value::Object(c)),
    });
}

/// SleepWise circadian bedtime (known quality) → sleep score 1/2/3.
pub fn map_circadian_bedtime(v: &Value, out: &mut Pulled) {
    let quality = text(v, "quality").unwrap_or("");
    let q = quality
        .strip_prefix("CIRCADIAN_BEDTIME_QUALITY_")
        .unwrap_or(quality);
    let value = match q {
        "WEAK" => 1.0,
        "COMPROMISED" => 2.0,
        "CLEARLY_RECOGNIZABLE" => 3.0,
        _ => return,
    };
    let Some((at, zone)) = sleepwise_stamp(v) else {
        return;
    };
    let mut c = Map::new();
    for (name, key) in [
        ("sleep_gate_start", "sleep_gate_start_time"),
        ("sleep_gate_end", "sleep_gate_end_time"),
    ] {
        if let Some(t) = text(v, key).and_then(instant) {
            c.insert(
                name.into(),
                component(
                    None,
                    Some(t.0.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                ),
            );
        }
    }
    if let Some(r) = text(v, "result_type") {
        c.insert(
            "result_type".into(),
            component(None, Some(label(r, "CIRCADIAN_BEDTIME_TYPE_"))),
        );
    }
    out.scores.push(PulledScore {
        qualifier: qualifier(&label(q, "")),
        category: "sleep".into(),
        value: Some(value),
        recorded_at: at,
        zone,
        components: Some(Value::Object(c)),
    });
}

/// Elixir body temperature period → skin or core temperature samples.
pub fn map_body_temperature(v: &Value, out: &mut Pulled) {
    let series = match text(v, "measurement_type") {
        Some("TM_SKIN_TEMPERATURE") => SeriesType::SkinTemperature,
        Some("TM_CORE_TEMPERATURE") => SeriesType::BodyTemperature,
        _ => return,
    };
    let Some((start, zone)) = text(v, "start_time").and_then(instant) else {
        return;
    };
    for s in v
        .get("samples")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(t) = num(s, "temperature_celsius") {
            let delta = s
                .get("recording_time_delta_milliseconds")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            out.samples.push(sample(
                series,
                start + Duration::milliseconds(delta),
                t,
                zone.clone(),
                None,
            ));
        }
    }
}

/// Elixir sleep skin temperature → skin temperature and its deviation from baseline.
pub fn map_sleep_skin_temperature(v: &Value, out: &mut Pulled) {
    let Some(day) = text(v, "sleep_date").and_then(date) else {
        return;
    };
    for (series, key) in [
        (
            SeriesType::SkinTemperature,
            "sleep_time_skin_temperature_celsius",
        ),
        (
            SeriesType::SkinTemperatureDeviation,
            "deviation_from_baseline_celsius",
        ),
    ] {
        if let Some(x) = num(v, key) {
            out.samples
                .push(sample(series, midnight(day), x, None, None));
        }
    }
}

/// A test's time (epoch seconds or a timestamp) and zone (`time_zone_offset` minutes).
fn test_stamp(v: &Value) -> Option<(DateTime<Utc>, Option<String>)> {
    let t = v.get("test_time")?;
    let (at, zone) = match t {
        Value::Number(n) => (DateTime::from_timestamp(n.as_f64()? as i64, 0)?, None),
        Value::String(s) => instant(s)?,
        _ => return None,
    };
    let zone = v
        .get("time_zone_offset")
        .and_then(Value::as_i64)
        .map(zone_of_minutes)
        .or(zone);
    Some((at, zone))
}

/// Elixir SpO2 (passed tests) → oxygen saturation and HRV (RMSSD).
pub fn map_spo2(v: &Value, out: &mut Pulled) {
    if text(v, "test_status") != Some("SPO2_TEST_PASSED") {
        return;
    }
    let Some((at, zone)) = test_stamp(v) else {
        return;
    };
    for (series, key) in [
        (SeriesType::OxygenSaturation, "blood_oxygen_percent"),
        (
            SeriesType::HeartRateVariabilityRmssd,
            "heart_rate_variability_ms",
        ),
    ] {
        if let Some(x) = num(v, key) {
            out.samples.push(sample(series, at, x, zone.clone(), None));
        }
    }
}

/// Elixir wrist ECG → HRV (RMSSD) and heart rate.
pub fn map_wrist_ecg(v: &Value, out: &mut Pulled) {
    let Some((at, zone)) = test_stamp(v) else {
        return;
    };
    for (series, key) in [
        (
            SeriesType::HeartRateVariabilityRmssd,
            "heart_rate_variability_ms",
        ),
        (SeriesType::HeartRate, "average_heart_rate_bpm"),
    ] {
        if let Some(x) = num(v, key) {
            out.samples.push(sample(series, at, x, zone.clone(), None));
        }
    }
}

/// Physical information → weight (kg) and height (cm) at the time it was last modified.
pub fn map_physical_info(v: &Value, out: &mut Pulled) {
    let Some((at, zone)) = text(v, "modified")
        .or_else(|| text(v, "created"))
        .and_then(instant)
    else {
        return;
    };
    for (series, key) in [
        (SeriesType::Weight, "weight"),
        (SeriesType::Height, "height"),
    ] {
        if let Some(x) = num(v, key).filter(|x| *x > 0.0) {
            out.samples.push(sample(series, at, x, zone.clone(), None));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pull
// ---------------------------------------------------------------------------------------------

/// Inclusive date ranges of at most [`MAX_RANGE_DAYS`] days covering `[from, to]`.
pub fn date_chunks(from: NaiveDate, to: NaiveDate) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out = Vec::new();
    let mut a = from;
    while a <= to {
        let b = (a + Duration::days(MAX_RANGE_DAYS - 1)).min(to);
        out.push((a, b));
        a = b + Duration::days(1);
    }
    out
}

pub(super) fn items(v: Value, wrapper: Option<&str>) -> Vec<Value> {
    let v = match wrapper {
        Some(w) if v.is_object() => v.get(w).cloned().unwrap_or(Value::Null),
        _ => v,
    };
    match v {
        Value::Array(a) => a,
        _ => Vec::new(),
    }
}

/// Keeps the window going past one data type's permanent failure.
fn isolate(kind: &str, r: Result<(), FetchError>) -> Result<(), FetchError> {
    match r {
        Err(FetchError::Permanent(m)) => {
            tracing::warn!(provider = "polar", kind, "data type skipped: {m}");
            Ok(())
        }
        other => other,
    }
}

type Mapper = fn(&Value, &mut Pulled);

struct Window {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    from: NaiveDate,
    to: NaiveDate,
}

async fn ranged(
    f: &Fetcher<'_>,
    w: &Window,
    path: &str,
    extra: &[(&str, &str)],
    wrapper: Option<&str>,
    map: Mapper,
    out: &mut Pulled,
) -> Result<(), FetchError> {
    for (a, b) in date_chunks(w.from, w.to) {
        let mut q: Vec<(&str, String)> = vec![
            ("from", a.format("%Y-%m-%d").to_string()),
            ("to", b.format("%Y-%m-%d").to_string()),
        ];
        q.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        for item in items(get(f, path, &q).await?, wrapper) {
            map(&item, out);
        }
    }
    Ok(())
}

async fn exercises(f: &Fetcher<'_>, out: &mut Pulled) -> Result<(), FetchError> {
    let q = [
        ("samples", "false".to_string()),
        ("zones", "false".to_string()),
        ("route", "false".to_string()),
    ];
    // AccessLink has no date filter here: whatever it returns is stored (first write wins).
    for e in items(get(f, "/v3/exercises", &q).await?, None) {
        map_exercise(&e, out);
    }
    Ok(())
}

async fn sleep(f: &Fetcher<'_>, w: &Window, out: &mut Pulled) -> Result<(), FetchError> {
    let available = get(f, "/v3/users/sleep/available", &[]).await?;
    let mut dates: Vec<NaiveDate> = items(available, Some("available"))
        .iter()
        .filter_map(|a| text(a, "date").and_then(date))
        .filter(|d| *d >= w.from && *d <= w.to)
        .collect();
    dates.sort();
    dates.dedup();
    for d in dates {
        let night = get(f, &format!("/v3/users/sleep/{}", d.format("%Y-%m-%d")), &[]).await?;
        if night.is_object() {
            map_sleep(&night, out);
        }
    }
    Ok(())
}

async fn recharge(f: &Fetcher<'_>, w: &Window, out: &mut Pulled) -> Result<(), FetchError> {
    // No parameters: Polar answers its own recent window; keep the nights of ours.
    for r in items(
        get(f, "/v3/users/nightly-recharge", &[]).await?,
        Some("recharges"),
    ) {
        if text(&r, "date")
            .and_then(date)
            .is_some_and(|d| d >= w.from && d <= w.to)
        {
            map_recharge(&r, out);
        }
    }
    Ok(())
}

async fn physical_info(f: &Fetcher<'_>, w: &Window, out: &mut Pulled) -> Result<(), FetchError> {
    let v = get(f, "/v3/users/physical-info", &[]).await?;
    let mut one = Pulled::default();
    map_physical_info(&v, &mut one);
    out.samples.extend(
        one.samples
            .into_iter()
            .filter(|s| s.at >= w.start && s.at < w.end),
    );
    Ok(())
}

/// The member's exercises as AccessLink lists them (vendor pass-through, #52).
pub async fn vendor_workouts(
    f: &Fetcher<'_>,
    opts: &crate::providers::VendorOptions,
) -> Result<Value, FetchError> {
    f.get_raw("/v3/exercises", &opts.polar_flags()).await
}

/// One exercise with the asked extras (vendor pass-through, #53).
pub async fn vendor_workout(
    f: &Fetcher<'_>,
    id: &str,
    opts: &crate::providers::VendorOptions,
) -> Result<Value, FetchError> {
    let path = format!("/v3/exercises/{}", crate::providers::path_segment(id));
    f.get_raw(&path, &opts.polar_flags()).await
}

/// Pulls `[start, end)` of every AccessLink data type.
pub async fn pull(
    f: &Fetcher<'_>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Pulled, FetchError> {
    let mut out = Pulled {
        source_name: "Polar".into(),
        device_model: None,
        ..Pulled::default()
    };
    if end <= start {
        return Ok(out);
    }
    let w = Window {
        start,
        end,
        from: start.date_naive(),
        to: (end - Duration::nanoseconds(1)).date_naive(),
    };
    isolate("exercises", exercises(f, &mut out).await)?;
    isolate("sleep", sleep(f, &w, &mut out).await)?;
    isolate(
        "activities",
        ranged(
            f,
            &w,
            "/v3/users/activities",
            &[
                ("steps", "true"),
                ("activity_zones", "false"),
                ("inactivity_stamps", "false"),
            ],
            None,
            map_activity,
            &mut out,
        )
        .await,
    )?;
    isolate(
        "continuous-heart-rate",
        ranged(
            f,
            &w,
            "/v3/users/continuous-heart-rate",
            &[],
            Some("heart_rates"),
            map_continuous_hr,
            &mut out,
        )
        .await,
    )?;
    isolate(
        "cardio-load",
        ranged(
            f,
            &w,
            "/v3/users/cardio-load/date",
            &[],
            None,
            map_cardio_load,
            &mut out,
        )
        .await,
    )?;
    isolate("nightly-recharge", recharge(f, &w, &mut out).await)?;
    let singles: [(&str, Mapper); 6] = [
        ("/v3/users/sleepwise/alertness", map_alertness),
        (
            "/v3/users/sleepwise/circadian-bedtime",
            map_circadian_bedtime,
        ),
        ("/v3/users/body-temperature", map_body_temperature),
        (
            "/v3/users/sleep-skin-temperature",
            map_sleep_skin_temperature,
        ),
        ("/v3/users/spo2", map_spo2),
        ("/v3/users/wrist-ecg", map_wrist_ecg),
    ];
    for (path, map) in singles {
        isolate(path, ranged(f, &w, path, &[], None, map, &mut out).await)?;
    }
    isolate("physical-info", physical_info(f, &w, &mut out).await)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").to_utc()
    }

    fn values(p: &Pulled, series: SeriesType) -> Vec<(DateTime<Utc>, f64)> {
        p.samples
            .iter()
            .filter(|s| s.series == series)
            .map(|s| (s.at, s.value))
            .collect()
    }

    const SLEEP: &str = r#"{"polar_user":"https://www.polaraccesslink.com/v3/users/58204113","date":"2024-05-21",
 "sleep_start_time":"2024-05-20T23:18:42+02:00","sleep_end_time":"2024-05-21T06:41:07+02:00",
 "device_id":"B7C21A04","continuity":3.4,"continuity_class":3,"light_sleep":13200,"deep_sleep":5280,
 "rem_sleep":5940,"unrecognized_sleep_stage":0,"sleep_score":81,"total_interruption_duration":2100,
 "sleep_charge":4,"sleep_rating":4,"short_interruption_duration":1320,"long_interruption_duration":780,
 "sleep_cycles":5,"group_duration_score":84.0,"group_solidity_score":77.5,"group_regeneration_score":80.2,
 "hypnogram":{"23:18":2,"23:47":4,"00:55":2,"01:40":1,"02:10":0,"02:14":3,"06:20":1},
 "heart_rate_samples":{"23:20":61,"23:25":58,"23:30":56}}"#;

    #[test]
    fn workout_types_follow_the_appendix_table() {
        let cases = [
            ("RUNNING", Some("RUNNING_TRAIL"), "trail_running"),
            ("RUNNING", Some("RUNNING_TREADMILL"), "treadmill"),
            ("RUNNING", Some("SOMETHING_NEW"), "running"),
            ("CYCLING", Some("INDOOR_CYCLING"), "indoor_cycling"),
            ("OTHER", Some("CYCLING_MOUNTAIN_BIKE"), "mountain_biking"),
            (
                "SWIMMING",
                Some("SWIMMING_OPEN_WATER"),
                "open_water_swimming",
            ),
            (
                "OTHER",
                Some("WINTERSPORTS_DOWNHILL_SKIING"),
                "alpine_skiing",
            ),
            (
                "OTHER",
                Some("WATERSPORTS_STAND_UP_PADDLING"),
                "stand_up_paddleboarding",
            ),
            ("OTHER", Some("TEAMSPORTS_FLOORBALL"), "floorball"),
            ("OTHER", Some("RACKET_SPORTS_PADEL"), "padel"),
            ("OTHER", Some("KICKBOXING_MARTIAL_ARTS"), "boxing"),
            ("OTHER", Some("MOTORSPORTS"), "motorcycling"),
            ("OTHER", Some("UNHEARD_OF"), "generic"),
            ("STRENGTH_TRAINING", None, "strength_training"),
            ("MULTISPORT", Some("TRIATHLON"), "multisport"),
            ("running", Some("RUNNING_TRAIL"), "other"),
            ("PARACHUTING", None, "other"),
        ];
        for (sport, detail, want) in cases {
            assert_eq!(
                workout_type(sport, detail).code(),
                want,
                "{sport}/{detail:?}"
            );
        }
    }

    #[test]
    fn iso_durations_and_zones() {
        assert_eq!(iso_duration_seconds("PT52M30S"), Some(3150.0));
        assert_eq!(iso_duration_seconds("PT2H14M"), Some(8040.0));
        assert_eq!(iso_duration_seconds("PT1H2M3.5S"), Some(3723.5));
        assert_eq!(iso_duration_seconds("P1DT1S"), Some(86401.0));
        assert_eq!(iso_duration_seconds("52 minutes"), None);
        assert_eq!(zone_of_minutes(120), "+02:00");
        assert_eq!(zone_of_minutes(-570), "-09:30");
        assert_eq!(zone_of_minutes(0), "+00:00");
    }

    #[test]
    fn an_exercise_starts_at_local_time_minus_its_offset() {
        let v: Value = serde_json::from_str(
            r#"{"id":"Kq3vR9","upload_time":"2024-05-21T06:12:44.000Z",
 "polar_user":"https://www.polaraccesslink.com/v3/users/58204113","device":"Polar Grit X2 Pro",
 "device_id":"B7C21A04","start_time":"2024-05-21T05:10:00","start_time_utc_offset":120,
 "duration":"PT52M30S","calories":561,"distance":9120,"heart_rate":{"average":149,"maximum":181},
 "training_load":118.5,"sport":"RUNNING","detailed_sport_info":"RUNNING_TRAIL","has_route":true}"#,
        )
        .expect("json");
        let mut out = Pulled::default();
        map_exercise(&v, &mut out);
        let w = &out.workouts[0];
        assert_eq!(w.start, t("2024-05-21T03:10:00Z"), "UTC = local − offset");
        assert_eq!(w.end, t("2024-05-21T04:02:30Z"));
        assert_eq!(w.zone.as_deref(), Some("+02:00"));
        assert_eq!(w.external_id.as_deref(), Some("Kq3vR9"));
        assert_eq!(w.workout_type.as_deref(), Some("trail_running"));
        assert_eq!(w.details.energy_burned, 561.0);
        assert_eq!(w.details.distance, Some(9120.0));
        assert_eq!(
            (w.details.heart_rate_avg, w.details.heart_rate_max),
            (Some(149.0), Some(181))
        );
    }

    #[test]
    fn a_sleep_night_maps_to_a_session_score_stages_and_heart_rate() {
        let v: Value = serde_json::from_str(SLEEP).expect("json");
        let mut out = Pulled::default();
        map_sleep(&v, &mut out);
        let s = &out.sleeps[0];
        assert_eq!(
            (s.start, s.end),
            (t("2024-05-20T21:18:42Z"), t("2024-05-21T04:41:07Z"))
        );
        assert_eq!(s.zone.as_deref(), Some("+02:00"));
        assert_eq!(
            (
                s.light_minutes,
                s.deep_minutes,
                s.rem_minutes,
                s.awake_minutes
            ),
            (220, 88, 99, 35)
        );
        assert_eq!((s.total_sleep_minutes, s.time_in_bed_minutes), (407, 442));
        assert!(s.external_id.is_none() && !s.is_nap);
        let stages: Vec<(SleepStage, DateTime<Utc>, DateTime<Utc>)> =
            s.stages.iter().map(|i| (i.stage, i.start, i.end)).collect();
        assert_eq!(
            stages,
            vec![
                (
                    SleepStage::Light,
                    t("2024-05-20T21:18:42Z"),
                    t("2024-05-20T21:47:00Z")
                ),
                (
                    SleepStage::Deep,
                    t("2024-05-20T21:47:00Z"),
                    t("2024-05-20T22:55:00Z")
                ),
                (
                    SleepStage::Light,
                    t("2024-05-20T22:55:00Z"),
                    t("2024-05-20T23:40:00Z")
                ),
                (
                    SleepStage::Rem,
                    t("2024-05-20T23:40:00Z"),
                    t("2024-05-21T00:10:00Z")
                ),
                (
                    SleepStage::Awake,
                    t("2024-05-21T00:10:00Z"),
                    t("2024-05-21T00:14:00Z")
                ),
                (
                    SleepStage::Light,
                    t("2024-05-21T00:14:00Z"),
                    t("2024-05-21T04:20:00Z")
                ),
                (
                    SleepStage::Rem,
                    t("2024-05-21T04:20:00Z"),
                    t("2024-05-21T04:41:07Z")
                ),
            ],
            "keys after midnight roll to the next day; the last run ends at wake-up"
        );
        let score = &out.scores[0];
        assert_eq!(
            (score.category.as_str(), score.value, score.recorded_at),
            ("sleep", Some(81.0), t("2024-05-21T04:41:07Z"))
        );
        let c = score.components.as_ref().expect("components");
        assert_eq!(c["sleep_time"]["value"], 84.0);
        assert_eq!(c["long_interruptions"]["value"], 780.0);
        assert_eq!(c["actual_sleep"]["value"], 77.5);
        assert_eq!(c["deep_sleep"]["value"], 5280.0);
        assert!(c["continuity"]["qualifier"].is_null());
        assert_eq!(
            values(&out, SeriesType::HeartRate),
            vec![
                (t("2024-05-20T21:20:00Z"), 61.0),
                (t("2024-05-20T21:25:00Z"), 58.0),
                (t("2024-05-20T21:30:00Z"), 56.0)
            ]
        );
    }

    #[test]
    fn a_night_without_times_is_skipped() {
        let mut out = Pulled::default();
        map_sleep(&json!({"date":"2024-05-21","light_sleep":100}), &mut out);
        assert!(out.sleeps.is_empty() && out.scores.is_empty());
    }

    #[test]
    fn daily_activity_becomes_daily_totals() {
        let v = json!({"start_time":"2024-05-21T00:00:00","end_time":"2024-05-22T00:00:00","active_duration":"PT2H14M",
            "inactive_duration":"PT9H1M","daily_activity":96.0,"calories":2410,"active_calories":702,
            "steps":12877,"inactivity_alert_count":1,"distance_from_steps":9402.5});
        let mut out = Pulled::default();
        map_activity(&v, &mut out);
        let at = t("2024-05-21T00:00:00Z");
        let got: Vec<(SeriesType, f64)> = out.samples.iter().map(|s| (s.series, s.value)).collect();
        assert_eq!(
            got,
            vec![
                (SeriesType::Steps, 12877.0),
                (SeriesType::Energy, 702.0),
                (SeriesType::DistanceWalkingRunning, 9402.5),
                (SeriesType::ActiveTime, 134.0)
            ]
        );
        assert!(
            out.samples
                .iter()
                .all(|s| s.at == at && s.daily_total == Some(true) && s.zone.is_none())
        );
    }

    #[test]
    fn continuous_heart_rate_and_elixir_samples() {
        let mut out = Pulled::default();
        let chr = json!({"heart_rates":[{"polar_user":"x","date":"2024-05-21",
            "heart_rate_samples":[{"heart_rate":62,"sample_time":"00:00:41"},{"heart_rate":60,"sample_time":"00:05:41"}]}]});
        for item in items(chr, Some("heart_rates")) {
            map_continuous_hr(&item, &mut out);
        }
        assert_eq!(
            values(&out, SeriesType::HeartRate),
            vec![
                (t("2024-05-21T00:00:41Z"), 62.0),
                (t("2024-05-21T00:05:41Z"), 60.0)
            ]
        );
        let mut out = Pulled::default();
        map_spo2(
            &json!({"source_device_id":"B7C21A04","test_time":1716270000,"time_zone_offset":120,"test_status":"SPO2_TEST_PASSED",
                "blood_oxygen_percent":97,"spo2_class":"SPO2_CLASS_NORMAL","average_heart_rate_bpm":58,"heart_rate_variability_ms":51.2}),
            &mut out,
        );
        map_spo2(
            &json!({"test_time":1716270100,"test_status":"SPO2_TEST_FAILED","blood_oxygen_percent":80}),
            &mut out,
        );
        assert_eq!(
            values(&out, SeriesType::OxygenSaturation),
            vec![(t("2024-05-21T05:40:00Z"), 97.0)],
            "failed tests are skipped"
        );
        assert_eq!(
            values(&out, SeriesType::HeartRateVariabilityRmssd),
            vec![(t("2024-05-21T05:40:00Z"), 51.2)]
        );
        assert_eq!(out.samples[0].zone.as_deref(), Some("+02:00"));
        let mut out = Pulled::default();
        map_body_temperature(
            &json!({"measurement_type":"TM_CORE_TEMPERATURE","start_time":"2024-05-20T22:00:00Z",
                "samples":[{"temperature_celsius":36.4,"recording_time_delta_milliseconds":0},
                           {"temperature_celsius":36.6,"recording_time_delta_milliseconds":60000}]}),
            &mut out,
        );
        map_sleep_skin_temperature(
            &json!({"sleep_time_skin_temperature_celsius":34.1,"deviation_from_baseline_celsius":-0.3,"sleep_date":"2024-05-21"}),
            &mut out,
        );
        map_wrist_ecg(
            &json!({"test_time":1716270000,"average_heart_rate_bpm":64,"heart_rate_variability_ms":40.5}),
            &mut out,
        );
        assert_eq!(
            values(&out, SeriesType::BodyTemperature),
            vec![
                (t("2024-05-20T22:00:00Z"), 36.4),
                (t("2024-05-20T22:01:00Z"), 36.6)
            ]
        );
        assert_eq!(
            values(&out, SeriesType::SkinTemperatureDeviation),
            vec![(t("2024-05-21T00:00:00Z"), -0.3)]
        );
        assert_eq!(
            values(&out, SeriesType::HeartRate),
            vec![(t("2024-05-21T05:40:00Z"), 64.0)]
        );
    }

    #[test]
    fn scores_from_cardio_load_recharge_and_sleepwise() {
        let mut out = Pulled::default();
        map_cardio_load(
            &json!({"date":"2024-05-21","cardio_load_status":"MAINTAINING","cardio_load":92.4,"strain":88.1,"tolerance":101.7,
                "cardio_load_ratio":0.87,"cardio_load_level":{"very_low":20.0,"low":45.0,"medium":80.0,"high":115.0,"very-high":150.0}}),
            &mut out,
        );
        map_cardio_load(
            &json!({"date":"2024-05-22","cardio_load_status":"LOAD_STATUS_NOT_AVAILABLE","cardio_load":1.0}),
            &mut out,
        );
        map_recharge(
            &json!({"date":"2024-05-21","heart_rate_avg":55,"beat_to_beat_avg":1092,"heart_rate_variability_avg":47,
                "breathing_rate_avg":13.6,"nightly_recharge_status":5,"ans_charge":3.1,"ans_charge_status":4}),
            &mut out,
        );
        map_alertness(
            &json!({"grade":7.4,"grade_validity_seconds":57600,"grade_type":"GRADE_TYPE_PRIMARY",
                "grade_classification":"GRADE_CLASSIFICATION_STRONG","validity":"VALIDITY_VALID","sleep_inertia":"SLEEP_INERTIA_MILD",
                "sleep_type":"SLEEP_TYPE_PRIMARY","result_type":"ALERTNESS_TYPE_HISTORY","period_start_time":"2024-05-21T06:41:07",
                "period_end_time":"2024-05-21T22:41:07","sleep_timezone_offset_minutes":120,"hourly_data":[]}),
            &mut out,
        );
        map_alertness(
            &json!({"grade":3.0,"grade_type":"GRADE_TYPE_SECONDARY","period_start_time":"2024-05-21T14:00:00"}),
            &mut out,
        );
        map_circadian_bedtime(
            &json!({"validity":"VALIDITY_ESTIMATE","quality":"CIRCADIAN_BEDTIME_QUALITY_COMPROMISED","result_type":"CIRCADIAN_BEDTIME_TYPE_PREDICTION",
                "period_start_time":"2024-05-21T12:00:00","period_end_time":"2024-05-22T12:00:00",
                "sleep_gate_start_time":"2024-05-21T20:45:00","sleep_gate_end_time":"2024-05-21T21:00:00","sleep_timezone_offset_minutes":120}),
            &mut out,
        );
        map_circadian_bedtime(
            &json!({"quality":"CIRCADIAN_BEDTIME_QUALITY_UNKNOWN","period_start_time":"2024-05-22T12:00:00"}),
            &mut out,
        );
        let cats: Vec<(&str, Option<f64>)> = out
            .scores
            .iter()
            .map(|s| (s.category.as_str(), s.value))
            .collect();
        assert_eq!(
            cats,
            vec![
                ("strain", Some(92.4)),
                ("recovery", Some(5.0)),
                ("readiness", Some(7.4)),
                ("sleep", Some(2.0))
            ]
        );
        let quals: Vec<Option<&str>> = out.scores.iter().map(|s| s.qualifier.as_deref()).collect();
        assert_eq!(
            quals,
            vec![
                Some("maintaining"),
                Some("good"),
                Some("strong"),
                Some("compromised")
            ]
        );
        let strain = out.scores[0].components.as_ref().expect("c");
        assert_eq!(strain["level_very_high"]["value"], 150.0);
        assert_eq!(strain["cardio_load_ratio"]["value"], 0.87);
        assert_eq!(out.scores[0].recorded_at, t("2024-05-21T00:00:00Z"));
        let rec = out.scores[1].components.as_ref().expect("c");
        assert!(
            rec.get("nightly_recharge_status").is_none(),
            "the status label is the score's qualifier"
        );
        assert_eq!(rec["ans_charge_status"]["qualifier"], "above usual");
        assert_eq!(rec["breathing_rate_avg"]["value"], 13.6);
        let ready = &out.scores[2];
        assert_eq!(
            ready.recorded_at,
            t("2024-05-21T06:41:07Z"),
            "SleepWise times are UTC"
        );
        assert_eq!(ready.zone.as_deref(), Some("+02:00"));
        let rc = ready.components.as_ref().expect("c");
        assert!(rc.get("grade_classification").is_none());
        assert_eq!(rc["sleep_inertia"]["qualifier"], "mild");
        assert_eq!(rc["grade_validity_seconds"]["value"], 57600.0);
        let bed = out.scores[3].components.as_ref().expect("c");
        assert!(bed.get("quality").is_none());
        assert_eq!(bed["sleep_gate_start"]["qualifier"], "2024-05-21T20:45:00Z");
        assert_eq!(bed["result_type"]["qualifier"], "prediction");
    }

    #[test]
    fn cardio_load_statuses_become_short_labels() {
        assert_eq!(
            cardio_load_label("PRODUCTIVE").as_deref(),
            Some("productive")
        );
        assert_eq!(
            cardio_load_label("RECOVERY_AFTER_OVERREACHING").as_deref(),
            Some("recovery after overreaching")
        );
        for long in [
            "PRODUCTIVE_DROPPED_FROM_OVERREACHING",
            "PRODUCTIVE_ALMOST_OVERREACHING",
        ] {
            let l = cardio_load_label(long).expect("a label");
            assert!(
                l.starts_with("productive") && l.chars().count() <= 32,
                "{l}"
            );
        }
        assert_eq!(cardio_load_label("UNRECOGNIZED"), None);
        assert_eq!(cardio_load_label("LOAD_STATUS_NOT_AVAILABLE"), None);
        assert_eq!(
            label("SLEEP_INERTIA_NO_INERTIA", "SLEEP_INERTIA_"),
            "no inertia"
        );
    }

    #[test]
    fn ranges_are_cut_into_28_day_chunks() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("d");
        assert_eq!(
            date_chunks(d("2024-03-01"), d("2024-04-30")),
            vec![
                (d("2024-03-01"), d("2024-03-28")),
                (d("2024-03-29"), d("2024-04-25")),
                (d("2024-04-26"), d("2024-04-30")),
            ]
        );
        assert_eq!(
            date_chunks(d("2024-03-01"), d("2024-03-01")),
            vec![(d("2024-03-01"), d("2024-03-01"))]
        );
    }
}

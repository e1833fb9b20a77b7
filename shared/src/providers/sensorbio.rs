//! Sensor Bio (providers.md §4.10): workouts and biometrics through `last-timestamp` cursors,
//! sleep sessions, daily scores and daily step details one UTC day at a time.
//!
//! Choices beyond the reference (Appendix C): cursors start at the window start instead of 0
//! and stop once a page passes the window end (#24); the step-details `Distance` (km) and the
//! workout `distance` (km, a 40-minute run reports `5.4`) are stored in metres (#22); a sleep's
//! time in bed is `end − start`, not the total sleep (#23). Sensor Bio has no webhooks and no
//! deregistration.
//!
//! Transport: the reference asks for HTTP/2. Our shared client is built without reqwest's
//! `http2` feature, so these calls go out over HTTP/1.1 (enabling that feature makes the
//! client negotiate h2 over TLS by ALPN, with no change here).

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value, json};

use super::payload::{midnight, num};
use super::sync::{
    FetchError, Fetcher, Pulled, PulledSample, PulledScore, PulledSleep, PulledWorkout, qualifier,
};
use super::ultrahuman::days;
use crate::domain::provider::Provider;
use crate::domain::sdk::WorkoutDetails;
use crate::domain::series::SeriesType;
use crate::domain::workout::WorkoutType;

/// The source name of every Sensor Bio record.
pub const SOURCE_NAME: &str = "Sensor Bio";
/// Largest page the cursor endpoints serve.
pub const PAGE_LIMIT: u32 = 50;

/// An epoch timestamp in milliseconds, or in seconds when it is too small to be milliseconds
/// (the API documents milliseconds but answers some fields in seconds).
fn instant(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let v = v?;
    let n = v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))?;
    if n.abs() < 100_000_000_000 {
        DateTime::from_timestamp(n, 0)
    } else {
        DateTime::from_timestamp_millis(n)
    }
}

/// A record's `date` (`YYYY-MM-DD`), else the asked one.
fn record_date(v: &Value, asked: NaiveDate) -> NaiveDate {
    v.get("date")
        .and_then(Value::as_str)
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .unwrap_or(asked)
}

/// Appendix A: Sensor Bio activity names (lower-cased, trimmed); `None` when unknown.
pub fn workout_type(name: &str) -> Option<WorkoutType> {
    use WorkoutType as W;
    Some(match name.trim().to_lowercase().as_str() {
        "run" | "running" | "jog" | "jogging" | "treadmill" => W::Running,
        "walk" | "walking" => W::Walking,
        "hike" | "hiking" => W::Hiking,
        "bike" | "cycling" | "ride" | "bike ride" => W::Cycling,
        "indoor cycling" | "spinning" => W::IndoorCycling,
        "swim" | "swimming" => W::Swimming,
        "strength" | "strength training" | "weights" => W::StrengthTraining,
        "yoga" => W::Yoga,
        "pilates" => W::Pilates,
        "rowing" => W::Rowing,
        "elliptical" => W::Elliptical,
        "stair climbing" => W::StairClimbing,
        "soccer" => W::Soccer,
        "basketball" => W::Basketball,
        "tennis" => W::Tennis,
        "golf" => W::Golf,
        "dance" => W::Dance,
        "workout" | "hiit" | "cardio" | "cross training" => W::Other,
        _ => return None,
    })
}

/// One `WorkoutStats` record: its `activities[]` (a flat record is its own activity). Only
/// activities starting inside `[start, end)` are kept.
pub fn map_workout_stats(
    stats: &Value,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    out: &mut Pulled,
) {
    let parent = stats.get("name").and_then(Value::as_str);
    let activities: Vec<&Value> = match stats.get("activities").and_then(Value::as_array) {
        Some(list) => list.iter().collect(),
        None => vec![stats],
    };
    for a in activities {
        let Some(from) = instant(a.get("start_time")) else {
            continue;
        };
        if from < start || from >= end {
            continue;
        }
        let to = instant(a.get("end_time"))
            .filter(|t| *t > from)
            .or_else(|| {
                num(a, "duration")
                    .map(|s| from + chrono::Duration::milliseconds((s * 1000.0) as i64))
            })
            .unwrap_or(from);
        let kind = a
            .get("likely_name")
            .and_then(Value::as_str)
            .and_then(workout_type)
            .or_else(|| parent.and_then(workout_type))
            .unwrap_or(WorkoutType::Other);
        let cardio = a.get("cardio_metrics").cloned().unwrap_or(Value::Null);
        let bpm = |k: &str| num(&cardio, k);
        out.workouts.push(PulledWorkout {
            external_id: a.get("id").and_then(|id| match id {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }),
            workout_type: Some(kind.code().to_string()),
            start: from,
            end: to,
            zone: None,
            details: WorkoutDetails {
                energy_burned: num(a, "calories").unwrap_or(0.0),
                distance: num(a, "distance").map(|km| km * 1000.0),
                heart_rate_avg: bpm("avg_bpm"),
                heart_rate_max: bpm("max_bpm").map(|v| v.round() as i64),
                heart_rate_min: bpm("min_bpm").map(|v| v.round() as i64),
                ..WorkoutDetails::default()
            },
        });
    }
}

/// One `/v1/sleep` record: a session with stage minutes (no timeline).
pub fn map_sleep(v: &Value, out: &mut Pulled) {
    let (Some(start), Some(end)) = (
        instant(v.get("start_timestamp")),
        instant(v.get("end_timestamp")),
    ) else {
        return;
    };
    if end <= start {
        return;
    }
    let mins = |k: &str| num(v, k).map_or(0, |m| m.floor() as i64);
    let (deep, light, rem, awake) = (
        mins("deep_sleep_mins"),
        mins("light_sleep_mins"),
        mins("rem_sleep_mins"),
        mins("awake_time_mins"),
    );
    let staged = deep + light + rem;
    let external_id = match (v.get("id"), v.get("start_timestamp")) {
        (Some(Value::String(s)), _) => Some(s.clone()),
        (Some(Value::Number(n)), _) | (_, Some(Value::Number(n))) => Some(n.to_string()),
        _ => None,
    };
    out.sleeps.push(PulledSleep {
        external_id,
        start,
        end,
        zone: None,
        is_nap: false,
        total_sleep_minutes: if staged > 0 {
            staged
        } else {
            mins("total_sleep_mins")
        },
        time_in_bed_minutes: (end - start).num_minutes(),
        deep_minutes: deep,
        light_minutes: light,
        rem_minutes: rem,
        awake_minutes: awake,
        efficiency: v.pointer("/score/value").and_then(Value::as_f64),
        stages: Vec::new(),
    });
}

fn component(value: Option<f64>, qualifier: Option<&str>) -> Value {
    json!({"value": value, "qualifier": qualifier})
}

/// One `/v1/scores` record (at its date's UTC midnight): recovery, activity and sleep scores,
/// and the night's resting heart rate, HRV (RMSSD) and SpO2 as samples.
pub fn map_scores(v: &Value, asked: NaiveDate, out: &mut Pulled) {
    let at = midnight(record_date(v, asked));
    let bio = v
        .pointer("/sleep/biometrics")
        .cloned()
        .unwrap_or(Value::Null);
    let rhr = num(&bio, "resting_bpm");
    let hrv = num(&bio, "resting_hrv").or_else(|| num(&bio, "hrv"));
    let spo2 = num(&bio, "spo2");
    for (series, value) in [
        (SeriesType::RestingHeartRate, rhr),
        (SeriesType::HeartRateVariabilityRmssd, hrv),
        (SeriesType::OxygenSaturation, spo2),
    ] {
        if let Some(value) = value {
            out.samples.push(PulledSample {
                series,
                at,
                value,
                zone: None,
                daily_total: None,
            });
        }
    }
    if let Some(value) = v.pointer("/recovery/value").and_then(Value::as_f64) {
        let stage = v.pointer("/recovery/stage").and_then(Value::as_str);
        let mut c = Map::new();
        // The recovery summary reads these three components (api.md #60).
        for (name, x) in [
            ("resting_heart_rate", rhr),
            ("hrv_rmssd_milli", hrv),
            ("spo2_percentage", spo2),
        ] {
            if x.is_some() {
                c.insert(name.into(), component(x, None));
            }
        }
        out.scores.push(PulledScore {
            qualifier: stage.and_then(qualifier),
            category: "recovery".into(),
            value: Some(value),
            recorded_at: at,
            zone: None,
            components: (!c.is_empty()).then_some(Value::Object(c)),
        });
    }
    for (category, key) in [("activity", "/activity/value"), ("sleep", "/sleep/value")] {
        if let Some(value) = v.pointer(key).and_then(Value::as_f64) {
            out.scores.push(PulledScore {
                qualifier: None,
                category: category.into(),
                value: Some(value),
                recorded_at: at,
                zone: None,
                components: None,
            });
        }
    }
}

/// One (unwrapped) `/v1/step/details` answer: the day's steps, distance (km → m) and calories
/// as daily totals at the date's UTC midnight.
pub fn map_step_details(v: &Value, asked: NaiveDate, out: &mut Pulled) {
    let at = midnight(record_date(v, asked));
    let Some(metrics) = v.get("metrics").and_then(Value::as_array) else {
        return;
    };
    for m in metrics {
        let name = m
            .get("name")
            .or_else(|| m.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let Some(value) = num(m, "value") else {
            continue;
        };
        let unit = m
            .get("unit")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_lowercase();
        let (series, value) = match name {
            "Steps" => (SeriesType::Steps, value.trunc()),
            "Distance" => (
                SeriesType::DistanceWalkingRunning,
                match unit.as_str() {
                    "m" | "meters" | "metres" => value,
                    _ => value * 1000.0,
                },
            ),
            "Calories" => (SeriesType::Energy, value),
            _ => continue,
        };
        out.samples.push(PulledSample {
            series,
            at,
            value,
            zone: None,
            daily_total: Some(true),
        });
    }
}

/// One `/v1/biometrics` record: heart rate, HRV (RMSSD), SpO2 and breathing rate.
pub fn map_biometrics(v: &Value, start: DateTime<Utc>, end: DateTime<Utc>, out: &mut Pulled) {
    let Some(at) = instant(v.get("timestamp")) else {
        return;
    };
    if at < start || at >= end {
        return;
    }
    for (key, series) in [
        ("bpm", SeriesType::HeartRate),
        ("hrv", SeriesType::HeartRateVariabilityRmssd),
        ("spo2", SeriesType::OxygenSaturation),
        ("brpm", SeriesType::RespiratoryRate),
    ] {
        if let Some(value) = num(v, key) {
            out.samples.push(PulledSample {
                series,
                at,
                value,
                zone: None,
                daily_total: None,
            });
        }
    }
}

/// A `last-timestamp` cursor scan from the window start: pages of at most [`PAGE_LIMIT`] in
/// ascending `timestamp` (ms); stops on an empty page, a cursor that does not move, a page
/// past the window end, or no `links.next`.
async fn scan(
    f: &Fetcher<'_>,
    path: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<Value>, FetchError> {
    let mut out = Vec::new();
    // Records strictly after the cursor: one millisecond before the window start.
    let mut cursor = start.timestamp_millis() - 1;
    for _ in 0..10_000 {
        let page = f
            .get(
                path,
                &[
                    ("last-timestamp", cursor.to_string()),
                    ("limit", PAGE_LIMIT.to_string()),
                ],
            )
            .await?;
        let records = page
            .get("data")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let Some(last) = records
            .last()
            .and_then(|r| instant(r.get("timestamp")))
            .map(|t| t.timestamp_millis())
        else {
            out.extend(records);
            break;
        };
        out.extend(records);
        let has_next = page
            .pointer("/links/next")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        if last <= cursor || last >= end.timestamp_millis() || !has_next {
            break;
        }
        cursor = last;
    }
    Ok(out)
}

/// A permanent failure of one data type is logged and the pull goes on; 401, 429, 5xx and
/// timeouts fail the window (it is retried).
fn tolerate<T: Default>(what: &str, r: Result<T, FetchError>) -> Result<T, FetchError> {
    match r {
        Err(FetchError::Permanent(m)) => {
            tracing::warn!(provider = "sensorbio", "{what} skipped: {m}");
            Ok(T::default())
        }
        other => other,
    }
}

/// One page of activity records as Sensor Bio answers it (vendor pass-through, #52): records
/// after `summary_start_time` (else after `since`), `limit` of them.
pub async fn vendor_workouts(
    f: &Fetcher<'_>,
    opts: &super::VendorOptions,
) -> Result<Value, FetchError> {
    let after = opts
        .start
        .map_or(opts.since.saturating_mul(1000), |s| s.timestamp_millis());
    let q = [
        ("last-timestamp", after.to_string()),
        ("limit", opts.page_size(PAGE_LIMIT as i64).to_string()),
    ];
    f.get_raw("/v1/activities", &q).await
}

/// Pulls `[start, end)`.
pub async fn pull(
    f: &Fetcher<'_>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Pulled, FetchError> {
    let mut out = Pulled {
        source_name: SOURCE_NAME.into(),
        device_model: None,
        ..Pulled::default()
    };
    for stats in tolerate("activities", scan(f, "/v1/activities", start, end).await)? {
        map_workout_stats(&stats, start, end, &mut out);
    }
    for b in tolerate("biometrics", scan(f, "/v1/biometrics", start, end).await)? {
        map_biometrics(&b, start, end, &mut out);
    }
    for date in days(start, end) {
        let day = date.format("%Y-%m-%d").to_string();
        let q = [("date", day.clone())];
        let sleep = tolerate(&format!("sleep {day}"), f.get("/v1/sleep", &q).await)?;
        for s in sleep
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            map_sleep(s, &mut out);
        }
        let scores = tolerate(&format!("scores {day}"), f.get("/v1/scores", &q).await)?;
        if let Some(record) = scores.get("data").filter(|d| d.is_object()) {
            map_scores(record, date, &mut out);
        }
        let steps = tolerate(
            &format!("step details {day}"),
            f.get(
                "/v1/step/details",
                &[("date", day.clone()), ("granularity", "day".into())],
            )
            .await,
        )?;
        map_step_details(&steps, date, &mut out);
    }
    Ok(out)
}

/// The Sensorbio integration.
pub struct Sensorbio;

#[async_trait::async_trait]
impl super::Integration for Sensorbio {
    fn provider(&self) -> Provider {
        Provider::Sensorbio
    }

    fn user_info_endpoint(&self) -> Option<super::UserInfoEndpoint> {
        Some(super::UserInfoEndpoint {
            path: "/v1/user",
            id: "/data/id",
            username: Some("/data/name"),
        })
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

    async fn vendor_workouts(
        &self,
        f: &Fetcher<'_>,
        opts: &super::VendorOptions,
    ) -> Result<Value, FetchError> {
        vendor_workouts(f, opts).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("t")
            .with_timezone(&Utc)
    }

    fn june3() -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 6, 3).expect("date")
    }

    #[test]
    fn workout_stats_activities_map_to_workouts_in_the_window() {
        let stats = json!({"timestamp":1717430400000u64,"name":"Run","activities":[{"id":"act_9f21","start_time":1717428000000u64,
            "end_time":1717430400000u64,"likely_name":"running","calories":296.0,"distance":5.4,"active_time":2280,
            "duration":2400,"cardio_metrics":{"avg_bpm":151,"max_bpm":176,"min_bpm":104}},
            {"id":"act_old","start_time":1717000000000u64,"end_time":1717001000000u64,"likely_name":"yoga"}]});
        let mut p = Pulled::default();
        map_workout_stats(
            &stats,
            t("2024-06-01T00:00:00Z"),
            t("2024-06-10T00:00:00Z"),
            &mut p,
        );
        assert_eq!(
            p.workouts.len(),
            1,
            "the activity before the window is dropped"
        );
        let w = &p.workouts[0];
        assert_eq!(w.external_id.as_deref(), Some("act_9f21"));
        assert_eq!(w.workout_type.as_deref(), Some("running"));
        assert_eq!(
            (w.start, w.end),
            (t("2024-06-03T15:20:00Z"), t("2024-06-03T16:00:00Z"))
        );
        assert_eq!(w.details.energy_burned, 296.0);
        assert_eq!(w.details.distance, Some(5400.0));
        assert_eq!(
            (
                w.details.heart_rate_avg,
                w.details.heart_rate_max,
                w.details.heart_rate_min
            ),
            (Some(151.0), Some(176), Some(104))
        );
    }

    #[test]
    fn the_workout_type_falls_back_to_the_parent_name_then_other() {
        assert_eq!(workout_type(" Bike Ride "), Some(WorkoutType::Cycling));
        assert_eq!(workout_type("HIIT"), Some(WorkoutType::Other));
        assert_eq!(workout_type("spinning"), Some(WorkoutType::IndoorCycling));
        assert_eq!(workout_type("curling"), None);
        let stats = json!({"timestamp":1717430400000u64,"name":"Walk","activities":[
            {"id":"a","start_time":1717428000000u64,"end_time":1717430400000u64,"likely_name":"unknown thing"},
            {"id":"b","start_time":1717428000000u64,"end_time":1717430400000u64}]});
        let mut p = Pulled::default();
        map_workout_stats(
            &stats,
            t("2024-06-01T00:00:00Z"),
            t("2024-06-10T00:00:00Z"),
            &mut p,
        );
        let kinds: Vec<_> = p
            .workouts
            .iter()
            .map(|w| w.workout_type.as_deref())
            .collect();
        assert_eq!(kinds, vec![Some("walking"), Some("walking")]);
        let mut q = Pulled::default();
        map_workout_stats(
            &json!({"activities":[{"id":"c","start_time":1717428000000u64,"end_time":1717430400000u64,"likely_name":"curling"}]}),
            t("2024-06-01T00:00:00Z"),
            t("2024-06-10T00:00:00Z"),
            &mut q,
        );
        assert_eq!(q.workouts[0].workout_type.as_deref(), Some("other"));
    }

    #[test]
    fn a_sleep_record_uses_epoch_seconds_and_wall_clock_time_in_bed() {
        let v = json!({"id":"slp_0603","start_timestamp":1717369200,"end_timestamp":1717395600,"total_sleep_mins":404,
            "deep_sleep_mins":78,"light_sleep_mins":221,"rem_sleep_mins":105,"awake_time_mins":36,"avg_heart_rate":56,
            "biometrics":{"bpm":56,"hrv":48,"spo2":96,"resting_bpm":51,"resting_hrv":52},"score":{"value":86}});
        let mut p = Pulled::default();
        map_sleep(&v, &mut p);
        let s = &p.sleeps[0];
        assert_eq!(
            (s.start, s.end),
            (t("2024-06-02T23:00:00Z"), t("2024-06-03T06:20:00Z"))
        );
        assert_eq!(s.external_id.as_deref(), Some("slp_0603"));
        assert_eq!(
            (
                s.deep_minutes,
                s.light_minutes,
                s.rem_minutes,
                s.awake_minutes
            ),
            (78, 221, 105, 36)
        );
        assert_eq!(s.total_sleep_minutes, 404);
        assert_eq!(
            s.time_in_bed_minutes, 440,
            "end - start, not the total sleep"
        );
        assert_eq!(s.efficiency, Some(86.0));
        assert!(!s.is_nap);
        // No id: the start timestamp is the external id.
        let mut q = Pulled::default();
        map_sleep(
            &json!({"start_timestamp":1717369200,"end_timestamp":1717395600,"total_sleep_mins":404}),
            &mut q,
        );
        assert_eq!(q.sleeps[0].external_id.as_deref(), Some("1717369200"));
        assert_eq!(q.sleeps[0].total_sleep_minutes, 404);
    }

    #[test]
    fn daily_scores_become_health_scores_and_night_biometrics() {
        let v = json!({"date":"2024-06-03","recovery":{"value":74,"stage":"ready"},"activity":{"value":63,"avg":58},
            "sleep":{"value":86,"biometrics":{"resting_bpm":51,"resting_hrv":52,"spo2":96}}});
        let mut p = Pulled::default();
        map_scores(&v, june3(), &mut p);
        let at = t("2024-06-03T00:00:00Z");
        let scores: Vec<(&str, Option<f64>)> = p
            .scores
            .iter()
            .map(|s| (s.category.as_str(), s.value))
            .collect();
        assert_eq!(
            scores,
            vec![
                ("recovery", Some(74.0)),
                ("activity", Some(63.0)),
                ("sleep", Some(86.0))
            ]
        );
        assert!(p.scores.iter().all(|s| s.recorded_at == at));
        assert_eq!(
            p.scores[0].components,
            Some(json!({
                "resting_heart_rate": {"value": 51.0, "qualifier": null},
                "hrv_rmssd_milli": {"value": 52.0, "qualifier": null},
                "spo2_percentage": {"value": 96.0, "qualifier": null}
            }))
        );
        let quals: Vec<Option<&str>> = p.scores.iter().map(|s| s.qualifier.as_deref()).collect();
        assert_eq!(
            quals,
            vec![Some("ready"), None, None],
            "the stage qualifies the recovery"
        );
        let samples: Vec<(SeriesType, f64)> =
            p.samples.iter().map(|s| (s.series, s.value)).collect();
        assert_eq!(
            samples,
            vec![
                (SeriesType::RestingHeartRate, 51.0),
                (SeriesType::HeartRateVariabilityRmssd, 52.0),
                (SeriesType::OxygenSaturation, 96.0)
            ]
        );
        // Without resting_hrv the night HRV is used.
        let mut q = Pulled::default();
        map_scores(
            &json!({"sleep":{"value":80,"biometrics":{"hrv":47}}}),
            june3(),
            &mut q,
        );
        assert_eq!(q.samples[0].value, 47.0);
        assert_eq!(
            q.samples[0].at, at,
            "the asked date when the record has none"
        );
    }

    #[test]
    fn step_details_are_daily_totals_with_distance_in_metres() {
        let v = json!({"date":"2024-06-03","granularity":"day","daily_steps_goal":10000,"steps_goal_achieved_percentage":91,
            "metrics":[{"name":"Steps","value":9104,"unit":""},{"name":"Distance","value":6.8,"unit":"km"},
              {"name":"Calories","value":348.0,"unit":"kcal"},{"name":"Duration","value":82,"unit":"min"}]});
        let mut p = Pulled::default();
        map_step_details(&v, june3(), &mut p);
        let got: Vec<(SeriesType, f64, Option<bool>, DateTime<Utc>)> = p
            .samples
            .iter()
            .map(|s| (s.series, s.value, s.daily_total, s.at))
            .collect();
        let at = t("2024-06-03T00:00:00Z");
        assert_eq!(
            got,
            vec![
                (SeriesType::Steps, 9104.0, Some(true), at),
                (SeriesType::DistanceWalkingRunning, 6800.0, Some(true), at),
                (SeriesType::Energy, 348.0, Some(true), at)
            ]
        );
    }

    #[test]
    fn biometrics_map_to_four_series_inside_the_window() {
        let v = json!({"timestamp":1717405200000u64,"bpm":72,"hrv":39,"spo2":97,"brpm":14.5});
        let mut p = Pulled::default();
        map_biometrics(
            &v,
            t("2024-06-03T00:00:00Z"),
            t("2024-06-04T00:00:00Z"),
            &mut p,
        );
        let got: Vec<(SeriesType, f64)> = p.samples.iter().map(|s| (s.series, s.value)).collect();
        assert_eq!(
            got,
            vec![
                (SeriesType::HeartRate, 72.0),
                (SeriesType::HeartRateVariabilityRmssd, 39.0),
                (SeriesType::OxygenSaturation, 97.0),
                (SeriesType::RespiratoryRate, 14.5)
            ]
        );
        assert!(p.samples.iter().all(|s| s.at == t("2024-06-03T09:00:00Z")));
        let mut q = Pulled::default();
        map_biometrics(
            &v,
            t("2024-06-04T00:00:00Z"),
            t("2024-06-05T00:00:00Z"),
            &mut q,
        );
        assert!(q.samples.is_empty(), "outside the window");
    }
}

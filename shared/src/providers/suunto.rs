//! Suunto Cloud API (providers.md §4.3): workouts (offset-paged `/v3/workouts/`), the 24/7
//! sleep, recovery and activity samples (20-day chunks), daily step/energy statistics (14-day
//! chunks), and the signed stream webhook.
//!
//! Every call carries `Ocp-Apim-Subscription-Key` (`SUUNTO_SUBSCRIPTION_KEY`). Suunto may
//! answer HTTP 200 with an error in the body; such answers are errors (§2.3 item 6).
//!
//! Units: workout energy is kcal, 24/7 energy is joules (÷4184); speeds are m/s (the reference
//! stored km/h, Appendix C #13); SpO2 fractions become percent.

use chrono::{DateTime, Duration, FixedOffset, Utc};
use serde_json::{Value, json};

use super::sync::{
    FetchError, Fetcher, Pulled, PulledSample, PulledScore, PulledSleep, PulledWorkout,
};
use super::webhook::{
    WebhookError, WebhookEvent, WebhookReply, WebhookRequest, constant_time_eq, hex, hmac_sha256,
};
use crate::domain::provider::Provider;
use crate::domain::sdk::WorkoutDetails;
use crate::domain::series::SeriesType;
use crate::domain::workout::WorkoutType;

/// The Azure API Management header every Suunto call carries.
pub const SUBSCRIPTION_HEADER: &str = "Ocp-Apim-Subscription-Key";
/// The setting holding the subscription key.
pub const SUBSCRIPTION_SETTING: &str = "SUUNTO_SUBSCRIPTION_KEY";
/// The setting holding the webhook HMAC key Suunto issued (no default: unset refuses).
pub const WEBHOOK_SECRET_SETTING: &str = "SUUNTO_WEBHOOK_SECRET";
/// The webhook signature header.
pub const SIGNATURE_HEADER: &str = "X-HMAC-SHA256-Signature";

/// Workouts per page of `/v3/workouts/` (the API's maximum).
pub const WORKOUT_PAGE: usize = 100;
/// Days per `/247samples/*` request (the API refuses more than 28).
pub const SAMPLE_CHUNK_DAYS: i64 = 20;
/// Days per `/247/daily-activity-statistics` request.
pub const DAILY_CHUNK_DAYS: i64 = 14;
const J_PER_KCAL: f64 = 4184.0;

/// Unified workout type of a Suunto `activityId` (Appendix A); unknown ids are `other`.
pub fn workout_type(activity_id: i64) -> WorkoutType {
    let code = match activity_id {
        0 | 24 => "walking",
        1 | 59 | 95 | 103 => "running",
        2 | 99 | 109 => "cycling",
        3 | 56 | 117 | 118 => "cross_country_skiing",
        4..=9 => "sport",
        10 => "mountain_biking",
        11 | 70 => "hiking",
        12 => "inline_skating",
        13 | 84 => "alpine_skiing",
        14 => "paddling",
        15 => "rowing",
        16 => "golf",
        17 | 20 | 81 => "fitness_equipment",
        18 => "parkour",
        19 => "team_sports",
        21 | 100 => "swimming",
        22 | 115 => "trail_running",
        23 | 54 | 63 | 73 | 104 => "strength_training",
        25 => "horseback_riding",
        26 => "motorcycling",
        27 => "skateboarding",
        28 => "water_sports",
        29 => "rock_climbing",
        30 | 110 => "snowboarding",
        31 | 107 => "backcountry_skiing",
        32 | 69 | 76 => "aerobics",
        33 | 67 => "soccer",
        34 => "tennis",
        35 => "basketball",
        36 => "badminton",
        37 | 45 => "baseball",
        38 => "volleyball",
        39 => "american_football",
        40 => "table_tennis",
        41 => "racquetball",
        42 => "squash",
        43 => "floorball",
        44 => "handball",
        46 => "bowling",
        47 => "cricket",
        48 => "rugby",
        49 => "ice_skating",
        50 | 113 => "hockey",
        51 | 121 => "yoga",
        52 => "indoor_cycling",
        53 => "treadmill",
        55 => "elliptical",
        57 => "rowing_machine",
        58 | 112 => "stretching",
        60 => "orienteering",
        61 => "stand_up_paddleboarding",
        62 => "martial_arts",
        64 => "dance",
        65 => "snowshoeing",
        66 => "disc_sports",
        68 | 80 | 92 | 93 | 94 | 111 => "multisport",
        71 => "sailing",
        72 => "kayaking",
        74 => "triathlon",
        75 => "padel",
        77 => "boxing",
        78 | 79 | 90 | 101 => "diving",
        82 => "canoeing",
        83 | 116 => "mountaineering",
        85 => "open_water_swimming",
        86 => "windsurfing",
        87 => "kitesurfing",
        88 => "paragliding",
        91 => "surfing",
        96 => "fishing",
        97 => "hunting",
        98 => "transition",
        102 => "cardio_training",
        105 | 106 => "e_biking",
        108 => "para_sports",
        114 => "cyclocross",
        119 => "chores",
        120 => "pilates",
        _ => "other",
    };
    WorkoutType::from_code(code).unwrap_or(WorkoutType::Other)
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(|x| match x {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    })
}

fn ts(v: &Value, key: &str) -> Option<DateTime<FixedOffset>> {
    v.get(key)
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
}

fn offset_of(t: &DateTime<FixedOffset>) -> String {
    t.format("%:z").to_string()
}

/// `±HH:MM` of an offset in minutes.
fn zone_of_minutes(minutes: i64) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    let m = minutes.abs();
    format!("{sign}{:02}:{:02}", m / 60, m % 60)
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn status_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Fails on an error reported inside a 2xx answer: a non-null `error`, or a `code` other than
/// 200. A reported 401 is `Unauthorized`, 429/5xx or no status at all `Transient`, anything
/// else `Permanent`.
pub fn check_body(v: Value, what: &str) -> Result<Value, FetchError> {
    let Some(obj) = v.as_object() else {
        return Ok(v);
    };
    let error = obj.get("error").filter(|e| !e.is_null());
    let code = obj.get("code").filter(|c| !c.is_null());
    let bad_code = code.is_some_and(|c| status_of(c) != Some(200));
    if error.is_none() && !bad_code {
        return Ok(v);
    }
    let status = code
        .filter(|_| bad_code)
        .and_then(status_of)
        .or_else(|| {
            error
                .and_then(|e| e.get("code").or(e.get("status")))
                .and_then(status_of)
        })
        .or_else(|| error.and_then(status_of));
    let detail = error.or(code).map(Value::to_string).unwrap_or_default();
    let msg = format!("{what}: error in a successful answer: {detail}");
    Err(match status {
        Some(401) => FetchError::Unauthorized,
        Some(s) if s == 429 || s >= 500 => FetchError::Transient(msg),
        Some(_) => FetchError::Permanent(msg),
        None => FetchError::Transient(msg),
    })
}

/// Maps one workout (list element, detail payload or webhook copy).
pub fn map_workout(w: &Value) -> Option<PulledWorkout> {
    let start_ms = num(w, "startTime")? as i64;
    let start = DateTime::<Utc>::from_timestamp_millis(start_ms)?;
    let total = num(w, "totalTime");
    let end = match num(w, "stopTime") {
        Some(ms) => DateTime::<Utc>::from_timestamp_millis(ms as i64)?,
        None => start + Duration::milliseconds((total.unwrap_or(0.0) * 1000.0).round() as i64),
    };
    let hr = w.get("hrdata").cloned().unwrap_or(Value::Null);
    let positive = |x: Option<f64>| x.filter(|x| *x > 0.0);
    let workout_type = w
        .get("activityId")
        .and_then(status_of)
        .map_or(WorkoutType::Other, workout_type);
    Some(PulledWorkout {
        external_id: text(w.get("workoutId")).or_else(|| text(w.get("workoutKey"))),
        workout_type: Some(workout_type.code().to_string()),
        start,
        end: end.max(start),
        zone: w
            .get("timeOffsetInMinutes")
            .and_then(status_of)
            .map(zone_of_minutes),
        details: WorkoutDetails {
            energy_burned: num(w, "energyConsumption").unwrap_or(0.0),
            distance: num(w, "totalDistance"),
            steps_count: num(w, "stepCount").map(|s| s as i64),
            heart_rate_min: num(&hr, "min").map(|x| x.round() as i64),
            heart_rate_avg: num(&hr, "avg").or_else(|| num(&hr, "workoutAvgHR")),
            // `hrdata.max` is the user's configured maximum, not the workout's.
            heart_rate_max: num(&hr, "hrmax")
                .or_else(|| num(&hr, "workoutMaxHR"))
                .map(|x| x.round() as i64),
            average_watts: positive(num(w, "avgPower")),
            average_speed: positive(num(w, "avgSpeed")),
            max_speed: positive(num(w, "maxSpeed")),
            total_elevation_gain: positive(num(w, "totalAscent")),
            elev_high: num(w, "maxAltitude"),
            elev_low: num(w, "minAltitude"),
        },
    })
}

/// Maps one `/247samples/sleep` item: a session, and for main sleep `HRMin` as resting HR.
pub fn map_sleep(item: &Value, out: &mut Pulled) {
    let e = item.get("entryData").unwrap_or(&Value::Null);
    let (Some(start), Some(end)) = (ts(e, "BedtimeStart"), ts(e, "BedtimeEnd")) else {
        tracing::warn!("suunto sleep item without a bedtime window skipped");
        return;
    };
    let secs = |k: &str| num(e, k).unwrap_or(0.0).max(0.0) as i64;
    let (deep, light, rem) = (
        secs("DeepSleepDuration"),
        secs("LightSleepDuration"),
        secs("REMSleepDuration"),
    );
    let in_bed = num(e, "Duration")
        .map(|d| d.max(0.0) as i64)
        .unwrap_or_else(|| (end - start).num_seconds());
    let awake = (in_bed - deep - light - rem).max(0);
    let is_nap = e.get("IsNap").and_then(Value::as_bool).unwrap_or(false);
    let zone = Some(offset_of(&start));
    out.sleeps.push(PulledSleep {
        external_id: text(e.get("SleepId")),
        start: start.to_utc(),
        end: end.to_utc(),
        zone: zone.clone(),
        is_nap,
        total_sleep_minutes: (deep + light + rem) / 60,
        time_in_bed_minutes: in_bed / 60,
        deep_minutes: deep / 60,
        light_minutes: light / 60,
        rem_minutes: rem / 60,
        awake_minutes: awake / 60,
        efficiency: num(e, "SleepQualityScore"),
        stages: Vec::new(),
    });
    if let (false, Some(rhr)) = (is_nap, num(e, "HRMin")) {
        out.samples.push(PulledSample {
            series: SeriesType::RestingHeartRate,
            at: end.to_utc(),
            value: rhr,
            zone: Some(offset_of(&end)),
            daily_total: None,
        });
    }
}

/// Qualifier of a Suunto `StressState` (0 and unknown values have none).
pub fn stress_qualifier(state: i64) -> Option<&'static str> {
    match state {
        1 => Some("Relaxing"),
        2 => Some("Active"),
        3 => Some("Passive"),
        4 => Some("Stressful"),
        _ => None,
    }
}

/// Maps one `/247samples/recovery` item into a `recovery` score (`Balance` × 100) qualified by
/// the stress state, which is also component `stress_state` (value and qualifier).
pub fn map_recovery(item: &Value, out: &mut Pulled) {
    let e = item.get("entryData").unwrap_or(&Value::Null);
    let (Some(at), Some(balance)) = (ts(item, "timestamp"), num(e, "Balance")) else {
        return;
    };
    let state = e
        .get("StressState")
        .and_then(status_of)
        .and_then(|s| stress_qualifier(s).map(|q| (s, q)));
    let components = state.map(|(s, q)| json!({"stress_state": {"value": s, "qualifier": q}}));
    out.scores.push(PulledScore {
        qualifier: state.map(|(_, q)| q.to_string()),
        category: "recovery".into(),
        value: Some((balance * 100.0 * 100.0).round() / 100.0),
        recorded_at: at.to_utc(),
        zone: Some(offset_of(&at)),
        components,
    });
}

/// Maps one `/247samples/activity` item into intraday samples.
pub fn map_activity(item: &Value, out: &mut Pulled) {
    let e = item.get("entryData").unwrap_or(&Value::Null);
    let Some(at) = ts(item, "timestamp") else {
        return;
    };
    let zone = Some(offset_of(&at));
    let mut push = |series: SeriesType, value: Option<f64>, daily_total: Option<bool>| {
        if let Some(value) = value {
            out.samples.push(PulledSample {
                series,
                at: at.to_utc(),
                value,
                zone: zone.clone(),
                daily_total,
            });
        }
    };
    push(SeriesType::HeartRate, num(e, "HR"), None);
    push(SeriesType::Steps, num(e, "StepCount"), Some(false));
    push(
        SeriesType::OxygenSaturation,
        num(e, "SpO2").map(|x| if x <= 1.0 { x * 100.0 } else { x }),
        None,
    );
    push(
        SeriesType::Energy,
        num(e, "EnergyConsumption").map(|j| j / J_PER_KCAL),
        Some(false),
    );
    push(
        SeriesType::HeartRateVariabilityRmssd,
        num(e, "HRV").filter(|x| *x > 0.0),
        None,
    );
}

/// Maps one `/247/daily-activity-statistics` element (`stepcount` / `energyconsumption`) into
/// daily totals.
pub fn map_daily_statistic(stat: &Value, out: &mut Pulled) {
    let name = stat
        .get("Name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_lowercase();
    let (series, scale) = match name.as_str() {
        "stepcount" => (SeriesType::Steps, 1.0),
        "energyconsumption" => (SeriesType::Energy, 1.0 / J_PER_KCAL),
        _ => return,
    };
    let sources = stat.get("Sources").and_then(Value::as_array);
    for sample in sources
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("Samples").and_then(Value::as_array))
        .flatten()
    {
        if let (Some(at), Some(value)) = (ts(sample, "TimeISO8601"), num(sample, "Value")) {
            out.samples.push(PulledSample {
                series,
                at: at.to_utc(),
                value: value * scale,
                zone: Some(offset_of(&at)),
                daily_total: Some(true),
            });
        }
    }
}

/// `[start, end)` in pieces of at most `days`.
fn chunks(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    days: i64,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    let mut from = start;
    while from < end {
        let to = (from + Duration::days(days)).min(end);
        out.push((from, to));
        from = to;
    }
    out
}

/// A permanent failure of one request is logged and skipped; others end the pull.
fn tolerate(r: Result<(), FetchError>, what: &str) -> Result<(), FetchError> {
    match r {
        Err(FetchError::Permanent(m)) => {
            tracing::warn!(
                provider = "suunto",
                what,
                "skipped after a permanent error: {m}"
            );
            Ok(())
        }
        other => other,
    }
}

fn items_of(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Object(o) => o
            .get("payload")
            .or(o.get("samples"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// All workouts modified since `start` (offset paging), those starting before `end` kept.
async fn pull_workouts(
    f: &Fetcher<'_>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    out: &mut Pulled,
) -> Result<(), FetchError> {
    let mut offset = 0usize;
    for _ in 0..1000 {
        let q = [
            ("since", start.timestamp_millis().to_string()),
            ("limit", WORKOUT_PAGE.to_string()),
            ("offset", offset.to_string()),
            ("filter-by-modification-time", "true".to_string()),
        ];
        let page = check_body(f.get("/v3/workouts/", &q).await?, "workouts")?;
        let items = items_of(&page);
        for w in &items {
            match map_workout(w) {
                Some(pw) if pw.start < end => out.workouts.push(pw),
                Some(_) => {}
                None => tracing::warn!(provider = "suunto", "workout without a start skipped"),
            }
        }
        if items.len() < WORKOUT_PAGE {
            break;
        }
        offset += items.len();
    }
    Ok(())
}

type Mapper = fn(&Value, &mut Pulled);

/// One 24/7 sample endpoint over `[start, end)` in 20-day chunks.
async fn pull_samples(
    f: &Fetcher<'_>,
    path: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    map: Mapper,
    out: &mut Pulled,
) -> Result<(), FetchError> {
    for (from, to) in chunks(start, end, SAMPLE_CHUNK_DAYS) {
        let q = [
            ("from", from.timestamp_millis().to_string()),
            ("to", to.timestamp_millis().to_string()),
        ];
        let r = async {
            let v = check_body(f.get(path, &q).await?, path)?;
            for item in items_of(&v) {
                map(&item, out);
            }
            Ok(())
        }
        .await;
        tolerate(r, path)?;
    }
    Ok(())
}

/// Daily step/energy statistics over `[start, end)` in 14-day chunks.
async fn pull_daily(
    f: &Fetcher<'_>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    out: &mut Pulled,
) -> Result<(), FetchError> {
    const PATH: &str = "/247/daily-activity-statistics";
    for (from, to) in chunks(start, end, DAILY_CHUNK_DAYS) {
        let q = [
            ("startdate", from.format("%Y-%m-%dT%H:%M:%S").to_string()),
            ("enddate", to.format("%Y-%m-%dT%H:%M:%S").to_string()),
        ];
        let r = async {
            let v = check_body(f.get(PATH, &q).await?, PATH)?;
            for stat in items_of(&v) {
                map_daily_statistic(&stat, out);
            }
            Ok(())
        }
        .await;
        tolerate(r, PATH)?;
    }
    Ok(())
}

/// The fetcher with the subscription key every Suunto call carries.
fn subscribed<'a>(f: &Fetcher<'a>) -> Result<Fetcher<'a>, FetchError> {
    let key = f
        .setting(SUBSCRIPTION_SETTING)
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| {
            FetchError::Permanent(format!("{SUBSCRIPTION_SETTING} is not configured"))
        })?;
    Ok(f.with_header(SUBSCRIPTION_HEADER, key.to_string()))
}

/// A pass-through answer: an error inside a 2xx answer keeps its reported 4xx status.
fn passed(v: Value, what: &str) -> Result<Value, FetchError> {
    let reported = v
        .get("code")
        .filter(|c| !c.is_null())
        .and_then(status_of)
        .filter(|c| *c != 200)
        .or_else(|| {
            v.get("error")
                .and_then(|e| e.get("code").or(e.get("status")))
                .and_then(status_of)
        });
    match check_body(v, what) {
        Err(FetchError::Permanent(m)) => Err(FetchError::Refused(
            reported
                .and_then(|c| u16::try_from(c).ok())
                .filter(|c| (400..500).contains(c))
                .unwrap_or(400),
            m,
        )),
        other => other,
    }
}

/// One page of workouts as Suunto answers it (vendor pass-through, #52): `since` is sent in
/// epoch milliseconds, Suunto's unit.
pub async fn vendor_workouts(
    f: &Fetcher<'_>,
    opts: &super::VendorOptions,
) -> Result<Value, FetchError> {
    let f = subscribed(f)?;
    let q = [
        ("since", opts.since.saturating_mul(1000).to_string()),
        ("limit", opts.limit.to_string()),
        ("offset", opts.offset.to_string()),
        (
            "filter-by-modification-time",
            opts.filter_by_modification_time.to_string(),
        ),
    ];
    passed(f.get_raw("/v3/workouts/", &q).await?, "workouts")
}

/// One workout by its key (vendor pass-through, #53).
pub async fn vendor_workout(f: &Fetcher<'_>, key: &str) -> Result<Value, FetchError> {
    let f = subscribed(f)?;
    let path = format!("/v3/workouts/{}", super::path_segment(key));
    passed(f.get_raw(&path, &[]).await?, "workout")
}

/// Pulls `[start, end)`: workouts, sleep, recovery, activity samples and daily statistics.
pub async fn pull(
    f: &Fetcher<'_>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Pulled, FetchError> {
    let f = subscribed(f)?;
    let mut out = Pulled {
        source_name: "Suunto".into(),
        ..Pulled::default()
    };
    tolerate(pull_workouts(&f, start, end, &mut out).await, "workouts")?;
    let sample_paths: [(&str, Mapper); 3] = [
        ("/247samples/sleep", map_sleep),
        ("/247samples/recovery", map_recovery),
        ("/247samples/activity", map_activity),
    ];
    for (path, map) in sample_paths {
        pull_samples(&f, path, start, end, map, &mut out).await?;
    }
    pull_daily(&f, start, end, &mut out).await?;
    Ok(out)
}

/// Whether `signature` is the lower-case hex HMAC-SHA256 of `body` with `secret`.
pub fn signature_ok(secret: &str, body: &[u8], signature: &str) -> bool {
    let expected = hex(&hmac_sha256(secret.as_bytes(), &[body]));
    constant_time_eq(
        expected.as_bytes(),
        signature.trim().to_ascii_lowercase().as_bytes(),
    )
}

/// Verifies and parses one Suunto stream notification (api.md §15.1): the body's HMAC in
/// `X-HMAC-SHA256-Signature`; `WORKOUT_CREATED` syncs a window around the workout, the
/// `SUUNTO_247_*_CREATED` events carry their samples; the account is the `username`.
pub fn webhook(req: &WebhookRequest<'_>) -> Result<WebhookReply, WebhookError> {
    if *req.method != axum::http::Method::POST {
        return Err(WebhookError::NotSupported(
            "Provider 'suunto' does not support webhook verification requests (GET)".into(),
        ));
    }
    // Suunto issues this secret; there is no default to fall back on.
    let Some(secret) = req.issued_secret(WEBHOOK_SECRET_SETTING) else {
        tracing::warn!(
            provider = "suunto",
            "webhook refused: {WEBHOOK_SECRET_SETTING} is not configured"
        );
        return Err(WebhookError::bad_signature());
    };
    let signed = req
        .header(SIGNATURE_HEADER)
        .is_some_and(|sig| signature_ok(secret, req.body, sig));
    if !signed {
        return Err(WebhookError::bad_signature());
    }
    let v = req.json()?;
    Ok(WebhookReply::Accept(events(&v, req.now)))
}

/// The events of one (verified) notification.
pub fn events(v: &Value, now: DateTime<Utc>) -> Vec<WebhookEvent> {
    let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
    let Some(user) = text(v.get("username")) else {
        tracing::warn!(provider = "suunto", kind, "notification without a username");
        return Vec::new();
    };
    let mapper: Mapper = match kind {
        "WORKOUT_CREATED" => {
            let w = v.get("workout").unwrap_or(&Value::Null);
            let (start, end) = match map_workout(w) {
                Some(pw) => (pw.start - Duration::days(1), pw.end + Duration::days(1)),
                None => (now - Duration::days(1), now),
            };
            let end = end.min(now);
            let start = start.min(end - Duration::days(1));
            return vec![WebhookEvent::Sync {
                provider_user_id: user,
                start,
                end,
            }];
        }
        "SUUNTO_247_SLEEP_CREATED" => map_sleep,
        "SUUNTO_247_ACTIVITY_CREATED" => map_activity,
        "SUUNTO_247_RECOVERY_CREATED" => map_recovery,
        "ROUTE_CREATED" => return Vec::new(),
        other => {
            tracing::info!(
                provider = "suunto",
                kind = other,
                "unknown event type ignored"
            );
            return Vec::new();
        }
    };
    let mut pulled = Pulled {
        source_name: "Suunto".into(),
        ..Pulled::default()
    };
    for item in v
        .get("samples")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        mapper(item, &mut pulled);
    }
    if pulled.samples.is_empty() && pulled.sleeps.is_empty() && pulled.scores.is_empty() {
        return Vec::new();
    }
    vec![WebhookEvent::Data {
        provider_user_id: user,
        pulled,
    }]
}

/// The Suunto integration.
pub struct Suunto;

#[async_trait::async_trait]
impl super::Integration for Suunto {
    fn provider(&self) -> Provider {
        Provider::Suunto
    }

    /// Webhooks name the account by username: the access token's `user` claim is the account
    /// id we resolve them by (the `sub` claim is not carried by any notification).
    fn token_identity(&self, token: &super::oauth::TokenAnswer) -> Option<super::Identity> {
        use base64::Engine;
        let claims = token
            .access_token
            .split('.')
            .nth(1)
            .and_then(|p| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p.trim_end_matches('='))
                    .ok()
            })
            .and_then(|raw| serde_json::from_slice::<Value>(&raw).ok());
        let user = match claims.as_ref().and_then(|c| c.get("user")) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        Some(super::Identity {
            id: user.clone(),
            username: user,
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn sample_workout() -> Value {
        json!({"workoutId":884120357,"activityId":22,"startTime":1716971400000_i64,"stopTime":1716976920000_i64,
         "totalTime":5480.6,"timeOffsetInMinutes":120,"totalDistance":15234.8,"stepCount":13750,
         "energyConsumption":1012,"maxSpeed":5.9,"avgSpeed":2.78,"totalAscent":612.0,"totalDescent":598.0,
         "maxAltitude":1402.0,"minAltitude":866.0,"avgCadence":82.0,
         "hrdata":{"workoutAvgHR":146,"workoutMaxHR":178,"avg":146,"hrmax":178,"max":191,"min":92,"userMaxHR":191},
         "gear":{"manufacturer":"Suunto","name":"Suunto Race","displayName":"Suunto Race S",
          "serialNumber":"SR2408801234","swVersion":"2.39.20"}})
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").to_utc()
    }

    #[test]
    fn every_table_entry_is_a_unified_type() {
        for id in 0..=121 {
            let t = workout_type(id);
            if id == 89 {
                assert_eq!(t, WorkoutType::Other);
            } else {
                assert_ne!(t, WorkoutType::Other, "activityId {id} is in the table");
            }
        }
        assert_eq!(workout_type(22), WorkoutType::TrailRunning);
        assert_eq!(workout_type(6), WorkoutType::Sport);
        assert_eq!(workout_type(999), WorkoutType::Other);
    }

    #[test]
    fn a_workout_maps_with_speeds_in_metres_per_second_and_the_workout_max_hr() {
        let w = map_workout(&sample_workout()).expect("mapped");
        assert_eq!(w.workout_type.as_deref(), Some("trail_running"));
        assert_eq!(w.external_id.as_deref(), Some("884120357"));
        assert_eq!(w.start, at("2024-05-29T08:30:00Z"));
        assert_eq!(w.end, at("2024-05-29T10:02:00Z"));
        assert_eq!(w.zone.as_deref(), Some("+02:00"));
        let d = &w.details;
        assert_eq!(d.energy_burned, 1012.0);
        assert_eq!(d.distance, Some(15234.8));
        assert_eq!(d.steps_count, Some(13750));
        assert_eq!(
            (d.heart_rate_avg, d.heart_rate_max, d.heart_rate_min),
            (Some(146.0), Some(178), Some(92)),
            "hrmax, not the configured max of 191"
        );
        assert_eq!((d.average_speed, d.max_speed), (Some(2.78), Some(5.9)));
        assert_eq!(
            (d.total_elevation_gain, d.elev_high, d.elev_low),
            (Some(612.0), Some(1402.0), Some(866.0))
        );
    }

    #[test]
    fn a_workout_without_stop_time_ends_after_its_total_time() {
        let w = map_workout(
            &json!({"workoutKey":"665694d8a1c2e31f0d7b4a55","activityId":1,
            "startTime":1716971400000_i64,"totalTime":600.5,"timeOffsetInMinutes":-330,
            "hrdata":{"workoutAvgHR":150,"workoutMaxHR":171}}),
        )
        .expect("mapped");
        assert_eq!(w.end - w.start, Duration::milliseconds(600_500));
        assert_eq!(w.zone.as_deref(), Some("-05:30"));
        assert_eq!(w.external_id.as_deref(), Some("665694d8a1c2e31f0d7b4a55"));
        assert_eq!(
            (w.details.heart_rate_avg, w.details.heart_rate_max),
            (Some(150.0), Some(171))
        );
    }

    #[test]
    fn sleep_recovery_activity_and_daily_items_map_per_the_spec() {
        let mut out = Pulled::default();
        map_sleep(
            &json!({"timestamp":"2024-05-29T01:05:00.000+02:00","entryData":{"BedtimeStart":"2024-05-29T01:05:00.000+02:00",
             "BedtimeEnd":"2024-05-29T07:52:00.000+02:00","Duration":24420.0,"DeepSleepDuration":5220.0,
             "LightSleepDuration":15030.0,"REMSleepDuration":2880.0,"HRAvg":58.0,"HRMin":47.0,"AvgHRV":61.0,
             "SleepQualityScore":79,"IsNap":false,"SleepId":1716937500}}),
            &mut out,
        );
        let s = &out.sleeps[0];
        assert_eq!(s.start, at("2024-05-28T23:05:00Z"));
        assert_eq!(s.end, at("2024-05-29T05:52:00Z"));
        assert_eq!(
            (
                s.deep_minutes,
                s.light_minutes,
                s.rem_minutes,
                s.awake_minutes
            ),
            (87, 250, 48, 21)
        );
        assert_eq!((s.total_sleep_minutes, s.time_in_bed_minutes), (385, 407));
        assert_eq!(s.efficiency, Some(79.0));
        assert_eq!(s.external_id.as_deref(), Some("1716937500"));
        assert_eq!(
            out.samples[0],
            PulledSample {
                series: SeriesType::RestingHeartRate,
                at: at("2024-05-29T05:52:00Z"),
                value: 47.0,
                zone: Some("+02:00".into()),
                daily_total: None
            }
        );

        map_recovery(
            &json!({"timestamp":"2024-05-29T09:00:00.000+02:00","entryData":{"Balance":0.72,"StressState":1}}),
            &mut out,
        );
        let r = &out.scores[0];
        assert_eq!((r.category.as_str(), r.value), ("recovery", Some(72.0)));
        assert_eq!(r.qualifier.as_deref(), Some("Relaxing"));
        assert_eq!(
            r.components,
            Some(json!({"stress_state": {"value": 1, "qualifier": "Relaxing"}}))
        );

        let mut a = Pulled::default();
        map_activity(
            &json!({"timestamp":"2024-05-29T09:10:00.000+02:00","entryData":{"HR":71,"StepCount":214,"SpO2":0.97,
             "EnergyConsumption":104600,"HRV":44}}),
            &mut a,
        );
        let got: Vec<(SeriesType, f64)> = a
            .samples
            .iter()
            .map(|p| (p.series, (p.value * 1000.0).round() / 1000.0))
            .collect();
        assert_eq!(
            got,
            vec![
                (SeriesType::HeartRate, 71.0),
                (SeriesType::Steps, 214.0),
                (SeriesType::OxygenSaturation, 97.0),
                (SeriesType::Energy, 25.0),
                (SeriesType::HeartRateVariabilityRmssd, 44.0),
            ]
        );

        let mut d = Pulled::default();
        for stat in [
            json!({"Name":"stepcount","Sources":[{"Samples":[{"TimeISO8601":"2024-05-29T00:00:00+02:00","Value":11873}]}]}),
            json!({"Name":"energyconsumption","Sources":[{"Samples":[{"TimeISO8601":"2024-05-29T00:00:00+02:00","Value":2719200}]}]}),
            json!({"Name":"unknown","Sources":[{"Samples":[{"TimeISO8601":"2024-05-29T00:00:00+02:00","Value":1}]}]}),
        ] {
            map_daily_statistic(&stat, &mut d);
        }
        assert_eq!(d.samples.len(), 2);
        assert_eq!(d.samples[0].value, 11873.0);
        assert_eq!(d.samples[0].daily_total, Some(true));
        assert_eq!(d.samples[0].at, at("2024-05-28T22:00:00Z"));
        assert_eq!((d.samples[1].value * 10.0).round() / 10.0, 649.9);
    }

    #[test]
    fn errors_inside_a_200_answer_are_errors() {
        assert!(check_body(json!({"error": null, "payload": []}), "w").is_ok());
        assert!(check_body(json!({"code": 200, "payload": []}), "w").is_ok());
        assert!(check_body(json!([{"timestamp": "x"}]), "w").is_ok());
        assert!(matches!(
            check_body(
                json!({"error": {"code": "503", "description": "busy"}}),
                "w"
            ),
            Err(FetchError::Transient(_))
        ));
        assert!(matches!(
            check_body(json!({"code": 404, "message": "no such workout"}), "w"),
            Err(FetchError::Permanent(_))
        ));
        assert!(matches!(
            check_body(json!({"error": "token expired", "code": 401}), "w"),
            Err(FetchError::Unauthorized)
        ));
        assert!(matches!(
            check_body(json!({"error": "something broke"}), "w"),
            Err(FetchError::Transient(_))
        ));
    }

    fn request<'a>(
        method: &'a axum::http::Method,
        headers: &'a axum::http::HeaderMap,
        body: &'a [u8],
        settings: &'a HashMap<String, String>,
        query: &'a HashMap<String, String>,
    ) -> WebhookRequest<'a> {
        WebhookRequest {
            method,
            query,
            headers,
            body,
            now: at("2024-06-10T12:00:00Z"),
            client: None,
            settings,
            secret_key: "test-secret-key-0123456789abcdef",
        }
    }

    fn signed(secret: &str, body: &[u8]) -> axum::http::HeaderMap {
        let mut h = axum::http::HeaderMap::new();
        let sig = hex(&hmac_sha256(secret.as_bytes(), &[body]));
        h.insert(SIGNATURE_HEADER, sig.parse().expect("header"));
        h
    }

    #[test]
    fn webhook_signatures_are_checked_on_the_raw_body() {
        let body = br#"{"type":"SUUNTO_247_RECOVERY_CREATED","username":"trailfox_82","samples":[{"timestamp":"2024-05-29T10:00:00.000+02:00","entryData":{"Balance":0.69,"StressState":2}}]}"#;
        let post = axum::http::Method::POST;
        let q = HashMap::new();
        let mut settings = HashMap::new();
        // No default secret: neither SECRET_KEY nor anything else verifies.
        let h = signed("test-secret-key-0123456789abcdef", body);
        let err = webhook(&request(&post, &h, body, &settings, &q)).expect_err("no secret");
        assert_eq!(err.status(), axum::http::StatusCode::UNAUTHORIZED);
        settings.insert(WEBHOOK_SECRET_SETTING.into(), "issued-secret".into());
        let h = signed("issued-secret", body);
        let reply = webhook(&request(&post, &h, body, &settings, &q)).expect("accepted");
        let WebhookReply::Accept(ev) = reply else {
            panic!("accept")
        };
        let WebhookEvent::Data {
            provider_user_id,
            pulled,
        } = &ev[0]
        else {
            panic!("data event: {ev:?}")
        };
        assert_eq!(provider_user_id, "trailfox_82");
        assert_eq!(pulled.scores[0].value, Some(69.0));
        assert_eq!(pulled.scores[0].qualifier.as_deref(), Some("Active"));
        assert_eq!(
            pulled.scores[0].components,
            Some(json!({"stress_state": {"value": 2, "qualifier": "Active"}}))
        );
        // Another configured secret: the old signature no longer verifies.
        settings.insert(WEBHOOK_SECRET_SETTING.into(), "portal-secret".into());
        let err = webhook(&request(&post, &h, body, &settings, &q)).expect_err("old key");
        assert_eq!(err.status(), axum::http::StatusCode::UNAUTHORIZED);
        let h2 = signed("portal-secret", body);
        assert!(webhook(&request(&post, &h2, body, &settings, &q)).is_ok());
        // A tampered body, a missing header.
        let mut tampered = body.to_vec();
        tampered[10] = b'X';
        assert!(webhook(&request(&post, &h2, &tampered, &settings, &q)).is_err());
        let none = axum::http::HeaderMap::new();
        let err = webhook(&request(&post, &none, body, &settings, &q)).expect_err("unsigned");
        assert_eq!(err.to_string(), "Invalid webhook signature");
        // Signed garbage is a 400.
        let junk = b"not json";
        let hj = signed("portal-secret", junk);
        let err = webhook(&request(&post, &hj, junk, &settings, &q)).expect_err("junk");
        assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST);
        // No GET challenge.
        let get = axum::http::Method::GET;
        let err = webhook(&request(&get, &none, b"", &settings, &q)).expect_err("get");
        assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn workout_created_syncs_a_window_around_the_workout() {
        let now = at("2024-06-10T12:00:00Z");
        let ev = events(
            &json!({"type":"WORKOUT_CREATED","username":"trailfox_82","workout":{"workoutKey":"665694d8a1c2e31f0d7b4a55",
                "activityId":22,"startTime":1716971400000_i64,"totalTime":5480.6}}),
            now,
        );
        assert_eq!(
            ev,
            vec![WebhookEvent::Sync {
                provider_user_id: "trailfox_82".into(),
                start: at("2024-05-28T08:30:00Z"),
                end: at("2024-05-30T10:01:20.600Z"),
            }]
        );
        // A workout of the last hours: the window never ends in the future.
        let recent = now - Duration::hours(1);
        let ev = events(
            &json!({"type":"WORKOUT_CREATED","username":"u","workout":{"startTime":recent.timestamp_millis(),"totalTime":1800}}),
            now,
        );
        let WebhookEvent::Sync { start, end, .. } = &ev[0] else {
            panic!("sync")
        };
        assert_eq!((*start, *end), (recent - Duration::days(1), now));
        assert!(events(&json!({"type":"ROUTE_CREATED","username":"u"}), now).is_empty());
        assert!(events(&json!({"type":"SOMETHING_NEW","username":"u"}), now).is_empty());
        assert!(events(&json!({"type":"WORKOUT_CREATED"}), now).is_empty());
    }
}

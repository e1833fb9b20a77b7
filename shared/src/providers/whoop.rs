//! Whoop Developer Platform API v2 (providers.md §4.4): pull client and mapping (workouts with
//! their strain, sleeps, recoveries, physiological cycles, body measurements), the signed ping
//! webhook, and deregistration.
//!
//! Every collection is `GET /developer/v2/...?start&end&limit≤25[&nextToken]` answering
//! `{"records": [...], "next_token": ...}`.

use chrono::{DateTime, Duration, FixedOffset, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::sync::{
    FetchError, Fetcher, Pulled, PulledSample, PulledScore, PulledSleep, PulledWorkout,
};
use super::webhook::{
    WebhookError, WebhookEvent, WebhookReply, WebhookRequest, constant_time_eq, hmac_sha256,
};
use crate::domain::provider::Provider;
use crate::domain::sdk::WorkoutDetails;
use crate::domain::series::SeriesType;
use crate::domain::workout::WorkoutType;

/// The API's collection paths (relative to the API origin).
pub const WORKOUTS: &str = "/developer/v2/activity/workout";
pub const SLEEPS: &str = "/developer/v2/activity/sleep";
pub const RECOVERIES: &str = "/developer/v2/recovery";
pub const CYCLES: &str = "/developer/v2/cycle";
pub const BODY: &str = "/developer/v2/user/measurement/body";
/// Deregistration: revokes our access to the member's data.
pub const ACCESS: &str = "/developer/v2/user/access";

/// Largest page Whoop serves.
pub const PAGE_LIMIT: u32 = 25;
/// kJ → kcal.
const KJ_TO_KCAL: f64 = 0.239006;
/// Webhook timestamps further than this from our clock are refused.
pub const WEBHOOK_TOLERANCE_SECONDS: i64 = 300;
/// Guard against a provider that never stops handing out cursors.
const MAX_PAGES: usize = 400;

/// Whoop's `sport_name` (trimmed, lower-cased) → unified workout type (providers.md App. A).
pub fn workout_type(sport_name: &str) -> WorkoutType {
    use WorkoutType as W;
    match sport_name.trim().to_lowercase().as_str() {
        "running" | "track & field" | "stroller jogging" => W::Running,
        "walking" | "stroller walking" | "dog walking" | "caddying" | "toddlerwearing"
        | "babywearing" | "wheelchair pushing" => W::Walking,
        "hiking/rucking" => W::Hiking,
        "cycling" => W::Cycling,
        "mountain biking" => W::MountainBiking,
        "spin" | "assault bike" => W::IndoorCycling,
        "swimming" => W::Swimming,
        "water polo" => W::WaterPolo,
        "rowing" => W::Rowing,
        "kayaking" => W::Kayaking,
        "paddleboarding" => W::StandUpPaddleboarding,
        "surfing" => W::Surfing,
        "sailing" => W::Sailing,
        "diving" => W::Diving,
        "water skiing" => W::WaterSkiing,
        "wakeboarding" => W::Wakeboarding,
        "kite boarding" => W::Kitesurfing,
        "operations - water"
        | "operations - tactical"
        | "operations - medical"
        | "operations - flying" => W::Operations,
        "weightlifting" | "powerlifting" | "strength trainer" => W::StrengthTraining,
        "functional fitness" | "hiit" | "jumping rope" | "obstacle course racing" => {
            W::CardioTraining
        }
        "elliptical" => W::Elliptical,
        "stairmaster" | "climber" | "stadium steps" => W::StairClimbing,
        "parkour" => W::Parkour,
        "yoga" | "hot yoga" => W::Yoga,
        "pilates" => W::Pilates,
        "stretching" => W::Stretching,
        "meditation" => W::Meditation,
        "barre" | "barre3" | "f45 training" | "barry's" => W::GroupExercise,
        "skiing" => W::AlpineSkiing,
        "cross country skiing" => W::CrossCountrySkiing,
        "snowboarding" => W::Snowboarding,
        "ice skating" => W::IceSkating,
        "soccer" => W::Soccer,
        "basketball" => W::Basketball,
        "football" => W::AmericanFootball,
        "australian football" | "gaelic football" => W::Football,
        "baseball" | "softball" => W::Baseball,
        "volleyball" => W::Volleyball,
        "rugby" => W::Rugby,
        "lacrosse" => W::Lacrosse,
        "cricket" => W::Cricket,
        "netball" | "ultimate" | "spikeball" | "hurling/camogie" | "paintball" => W::Sport,
        "ice hockey" | "field hockey" => W::Hockey,
        "tennis" => W::Tennis,
        "squash" => W::Squash,
        "badminton" => W::Badminton,
        "table tennis" => W::TableTennis,
        "padel" | "paddle tennis" => W::Padel,
        "pickleball" => W::Pickleball,
        "boxing" | "kickboxing" | "box fitness" => W::Boxing,
        "martial arts" | "jiu jitsu" => W::MartialArts,
        "wrestling" => W::Wrestling,
        "fencing" => W::Fencing,
        "rock climbing" => W::RockClimbing,
        "golf" => W::Golf,
        "disc golf" => W::DiscSports,
        "inline skating" => W::InlineSkating,
        "skateboarding" => W::Skateboarding,
        "horseback riding" | "polo" => W::HorsebackRiding,
        "triathlon" => W::Triathlon,
        "duathlon" => W::Multisport,
        "motocross" => W::Motorcycling,
        "motor racing" => W::MotorSports,
        "dance" | "circus arts" | "stage performance" => W::Dance,
        "gymnastics" => W::Gymnastics,
        "handball" => W::Handball,
        "ice bath" | "sauna" | "massage therapy" | "air compression" | "percussive massage" => {
            W::Recovery
        }
        "manual labor" | "high stress work" | "coaching" => W::Work,
        "watching sports"
        | "commuting"
        | "public speaking"
        | "musical performance"
        | "dedicated parenting" => W::Lifestyle,
        "gaming" => W::Gaming,
        "yard work" | "cooking" | "cleaning" => W::Chores,
        "activity" | "other" => W::Generic,
        _ => W::Other,
    }
}

fn ts(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    v.get(key)
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.to_utc())
}

fn num(v: &Value, pointer: &str) -> Option<f64> {
    v.pointer(pointer).and_then(Value::as_f64)
}

/// `timezone_offset` when it is a valid `±HH:MM` offset.
fn zone(v: &Value) -> Option<String> {
    let z = v.get("timezone_offset").and_then(Value::as_str)?;
    let probe = format!("2024-01-01T00:00:00{z}");
    DateTime::<FixedOffset>::parse_from_rfc3339(&probe)
        .ok()
        .map(|t| t.format("%:z").to_string())
}

fn scored(v: &Value) -> bool {
    v.get("score_state").and_then(Value::as_str) == Some("SCORED")
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `{name: {"value": x, "qualifier": null}}` of the numeric `keys` present in `score`.
fn components(score: &Value, keys: &[&str]) -> Option<Value> {
    let m: Map<String, Value> = keys
        .iter()
        .filter_map(|k| {
            let x = score.get(*k).filter(|x| x.is_number())?;
            Some((k.to_string(), json!({"value": x, "qualifier": null})))
        })
        .collect();
    (!m.is_empty()).then_some(Value::Object(m))
}

/// One workout: skipped unless scored (or carrying a score); its strain becomes a score.
pub fn map_workout(v: &Value, out: &mut Pulled) {
    let score = v.get("score").filter(|s| s.is_object());
    if !scored(v) && score.is_none() {
        return;
    }
    let (Some(start), Some(end)) = (ts(v, "start"), ts(v, "end")) else {
        return;
    };
    let zone = zone(v);
    let sport = v.get("sport_name").and_then(Value::as_str).unwrap_or("");
    let s = score.cloned().unwrap_or(Value::Null);
    out.workouts.push(PulledWorkout {
        external_id: text(v.get("id")),
        workout_type: Some(workout_type(sport).code().to_string()),
        start,
        end,
        zone: zone.clone(),
        details: WorkoutDetails {
            energy_burned: num(&s, "/kilojoule").map_or(0.0, |kj| kj * KJ_TO_KCAL),
            distance: num(&s, "/distance_meter"),
            heart_rate_avg: num(&s, "/average_heart_rate"),
            heart_rate_max: num(&s, "/max_heart_rate").map(|x| x.round() as i64),
            total_elevation_gain: num(&s, "/altitude_gain_meter"),
            ..WorkoutDetails::default()
        },
    });
    if let Some(strain) = num(&s, "/strain") {
        out.scores.push(PulledScore {
            qualifier: None,
            category: "strain".into(),
            value: Some(strain),
            recorded_at: start,
            zone,
            components: components(
                &s,
                &[
                    "average_heart_rate",
                    "max_heart_rate",
                    "kilojoule",
                    "percent_recorded",
                    "distance_meter",
                    "altitude_gain_meter",
                    "altitude_change_meter",
                ],
            ),
        });
    }
}

/// Milliseconds → whole minutes (rounded).
fn minutes(ms: Option<f64>) -> Option<i64> {
    ms.map(|m| (m / 60_000.0).round() as i64)
}

/// One sleep: a session with stage minutes (no timeline), its respiratory rate as a sample,
/// and, when scored, the sleep performance score.
pub fn map_sleep(v: &Value, out: &mut Pulled) {
    let (Some(start), Some(end)) = (ts(v, "start"), ts(v, "end")) else {
        return;
    };
    if end <= start {
        return;
    }
    // The reference read `zone_offset`, which Whoop never sends (App. C #14).
    let zone = zone(v);
    let stage = |k: &str| minutes(num(v, &format!("/score/stage_summary/{k}")));
    let deep = stage("total_slow_wave_sleep_time_milli").unwrap_or(0);
    let light = stage("total_light_sleep_time_milli").unwrap_or(0);
    let rem = stage("total_rem_sleep_time_milli").unwrap_or(0);
    out.sleeps.push(PulledSleep {
        external_id: text(v.get("id")),
        start,
        end,
        zone: zone.clone(),
        is_nap: v.get("nap").and_then(Value::as_bool).unwrap_or(false),
        total_sleep_minutes: deep + light + rem,
        time_in_bed_minutes: stage("total_in_bed_time_milli")
            .unwrap_or_else(|| (end - start).num_minutes()),
        deep_minutes: deep,
        light_minutes: light,
        rem_minutes: rem,
        awake_minutes: stage("total_awake_time_milli").unwrap_or(0),
        efficiency: num(v, "/score/sleep_efficiency_percentage"),
        stages: Vec::new(),
    });
    if let Some(rr) = num(v, "/score/respiratory_rate") {
        out.samples.push(PulledSample {
            series: SeriesType::RespiratoryRate,
            at: start,
            value: rr,
            zone: zone.clone(),
            daily_total: None,
        });
    }
    if scored(v)
        && let Some(score) = v.get("score")
    {
        out.scores.push(PulledScore {
            qualifier: None,
            category: "sleep".into(),
            value: num(score, "/sleep_performance_percentage"),
            recorded_at: end,
            zone,
            components: components(
                score,
                &[
                    "sleep_consistency_percentage",
                    "sleep_efficiency_percentage",
                    "respiratory_rate",
                ],
            ),
        });
    }
}

/// One recovery (only scored ones), recorded at `created_at`: resting HR, RMSSD, SpO2 and skin
/// temperature samples plus the recovery score. `zone` is the offset of the related sleep.
pub fn map_recovery(v: &Value, zone: Option<String>, out: &mut Pulled) {
    if !scored(v) {
        return;
    }
    let (Some(at), Some(score)) = (ts(v, "created_at"), v.get("score")) else {
        return;
    };
    for (key, series) in [
        ("resting_heart_rate", SeriesType::RestingHeartRate),
        ("hrv_rmssd_milli", SeriesType::HeartRateVariabilityRmssd),
        ("spo2_percentage", SeriesType::OxygenSaturation),
        ("skin_temp_celsius", SeriesType::SkinTemperature),
    ] {
        if let Some(value) = score.get(key).and_then(Value::as_f64) {
            out.samples.push(PulledSample {
                series,
                at,
                value,
                zone: zone.clone(),
                daily_total: None,
            });
        }
    }
    out.scores.push(PulledScore {
        qualifier: None,
        category: "recovery".into(),
        value: num(score, "/recovery_score"),
        recorded_at: at,
        zone,
        components: components(
            score,
            &[
                "resting_heart_rate",
                "hrv_rmssd_milli",
                "spo2_percentage",
                "skin_temp_celsius",
            ],
        ),
    });
}

/// One physiological cycle (only scored ones): the day strain, recorded at the cycle start.
pub fn map_cycle(v: &Value, out: &mut Pulled) {
    if !scored(v) {
        return;
    }
    let (Some(start), Some(score)) = (ts(v, "start"), v.get("score")) else {
        return;
    };
    let Some(strain) = num(score, "/strain") else {
        return;
    };
    out.scores.push(PulledScore {
        qualifier: None,
        category: "strain".into(),
        value: Some(strain),
        recorded_at: start,
        zone: zone(v),
        components: components(
            score,
            &["kilojoule", "average_heart_rate", "max_heart_rate"],
        ),
    });
}

/// Body measurements: height (m → cm) and weight (kg), recorded at `at`.
pub fn map_body(v: &Value, at: DateTime<Utc>, out: &mut Pulled) {
    for (key, series, factor) in [
        ("height_meter", SeriesType::Height, 100.0),
        ("weight_kilogram", SeriesType::Weight, 1.0),
    ] {
        if let Some(value) = v.get(key).and_then(Value::as_f64).filter(|x| *x > 0.0) {
            out.samples.push(PulledSample {
                series,
                at,
                value: value * factor,
                zone: None,
                daily_total: None,
            });
        }
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// All records of one collection in `[start, end)`, following `next_token`. A permanent error
/// keeps the pages already read (logged); transient and 401 errors propagate.
pub async fn records(
    f: &Fetcher<'_>,
    path: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<Value>, FetchError> {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut q = vec![
            ("start", rfc3339(start)),
            ("end", rfc3339(end)),
            ("limit", PAGE_LIMIT.to_string()),
        ];
        if let Some(t) = &next {
            q.push(("nextToken", t.clone()));
        }
        let page = match f.get(path, &q).await {
            Ok(p) => p,
            Err(FetchError::Permanent(m)) => {
                tracing::warn!(
                    provider = "whoop",
                    path,
                    kept = out.len(),
                    "collection page failed: {m}"
                );
                break;
            }
            Err(e) => return Err(e),
        };
        let items = page
            .get("records")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let empty = items.is_empty();
        out.extend(items);
        next = page
            .get("next_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if empty || next.is_none() {
            break;
        }
    }
    Ok(out)
}

/// One page of workouts as Whoop answers it (vendor pass-through, #52): the summary window
/// when given, at most 25 records.
pub async fn vendor_workouts(
    f: &Fetcher<'_>,
    opts: &super::VendorOptions,
) -> Result<Value, FetchError> {
    let mut q = vec![("limit", opts.page_size(PAGE_LIMIT as i64).to_string())];
    if let Some(s) = opts.start {
        q.push(("start", rfc3339(s)));
    }
    if let Some(e) = opts.end {
        q.push(("end", rfc3339(e)));
    }
    f.get_raw(WORKOUTS, &q).await
}

/// One workout by id (vendor pass-through, #53).
pub async fn vendor_workout(f: &Fetcher<'_>, id: &str) -> Result<Value, FetchError> {
    f.get_raw(&format!("{WORKOUTS}/{}", super::path_segment(id)), &[])
        .await
}

/// Pulls `[start, end)`: workouts, sleeps, recoveries, cycles, then body measurements.
pub async fn pull(
    f: &Fetcher<'_>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Pulled, FetchError> {
    let mut out = Pulled {
        source_name: "Whoop".into(),
        device_model: Some("WHOOP".into()),
        ..Pulled::default()
    };
    for w in records(f, WORKOUTS, start, end).await? {
        map_workout(&w, &mut out);
    }
    let sleeps = records(f, SLEEPS, start, end).await?;
    for s in &sleeps {
        map_sleep(s, &mut out);
    }
    for r in records(f, RECOVERIES, start, end).await? {
        // Recoveries carry no offset: take the one of the sleep they belong to.
        let zone = r
            .get("sleep_id")
            .and_then(|id| sleeps.iter().find(|s| s.get("id") == Some(id)))
            .and_then(zone);
        map_recovery(&r, zone, &mut out);
    }
    for c in records(f, CYCLES, start, end).await? {
        map_cycle(&c, &mut out);
    }
    // Body measurements have no date: they are the member's current values, recorded on the
    // day the window ends (one point per day at most). The data calls above proved the token
    // good, so a refusal here means the connection lacks `read:body_measurement`: skipped.
    match f.get(BODY, &[]).await {
        Ok(v) => {
            let day = end.date_naive().and_time(chrono::NaiveTime::MIN).and_utc();
            map_body(&v, day, &mut out);
        }
        Err(FetchError::Transient(m)) => return Err(FetchError::Transient(m)),
        Err(e) => tracing::warn!(provider = "whoop", "body measurement skipped: {e}"),
    }
    Ok(out)
}

/// Revokes our access to the member's data (`DELETE /developer/v2/user/access`).
pub async fn deregister(f: &Fetcher<'_>) -> Result<(), FetchError> {
    f.send(reqwest::Method::DELETE, ACCESS, &[], None)
        .await
        .map(|_| ())
}

/// The signature Whoop sends: base64(HMAC-SHA256(secret, timestamp ‖ body)).
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(hmac_sha256(
        secret.as_bytes(),
        &[timestamp.as_bytes(), body],
    ))
}

/// The window a notification re-pulls: Whoop pings carry ids, not times, so the pull covers
/// the two days before the notification (a night's sleep, the day's workouts, the recovery
/// scored in the morning) and the day after it.
pub fn notification_window(at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    (at - Duration::days(2), at + Duration::days(1))
}

/// Verifies (`X-WHOOP-Signature`, `X-WHOOP-Signature-Timestamp` in ms within ±300 s) and
/// parses one Whoop notification. `*.updated` → a sync window of the member's connection;
/// `workout.deleted` / `sleep.deleted` → the record whose external id is the notification's
/// `id` (the record's own `id`, as pulled) is deleted; `recovery.deleted` (recoveries are
/// stored as samples) and unknown types are acknowledged and ignored.
pub fn webhook(req: &WebhookRequest<'_>) -> Result<WebhookReply, WebhookError> {
    if req.method == axum::http::Method::GET {
        return Err(WebhookError::NotSupported(
            "Provider 'whoop' does not support webhook verification requests (GET)".into(),
        ));
    }
    let (Some(sig), Some(stamp)) = (
        req.header("x-whoop-signature"),
        req.header("x-whoop-signature-timestamp"),
    ) else {
        return Err(WebhookError::bad_signature());
    };
    let Ok(ms) = stamp.trim().parse::<i64>() else {
        return Err(WebhookError::bad_signature());
    };
    let Some(sent) = DateTime::<Utc>::from_timestamp_millis(ms) else {
        return Err(WebhookError::bad_signature());
    };
    if (req.now - sent).num_seconds().abs() > WEBHOOK_TOLERANCE_SECONDS {
        return Err(WebhookError::bad_signature());
    }
    // Whoop signs with our client secret; without one configured nothing verifies.
    let Some(secret) = req
        .client
        .map(|c| c.client_secret.as_str())
        .or_else(|| req.issued_secret("WHOOP_CLIENT_SECRET"))
    else {
        tracing::warn!(
            provider = "whoop",
            "webhook refused: WHOOP_CLIENT_SECRET is not configured"
        );
        return Err(WebhookError::bad_signature());
    };
    let expected = signature(secret, stamp.trim(), req.body);
    if !constant_time_eq(expected.as_bytes(), sig.trim().as_bytes()) {
        return Err(WebhookError::bad_signature());
    }
    let v = req.json()?;
    let Some(obj) = v.as_object() else {
        return Err(WebhookError::BadRequest(
            "Invalid payload: the body must be a JSON object".into(),
        ));
    };
    let kind = obj.get("type").and_then(Value::as_str).unwrap_or("");
    let Some(user) = text(obj.get("user_id")) else {
        tracing::warn!(
            provider = "whoop",
            kind,
            "notification without user_id ignored"
        );
        return Ok(WebhookReply::Accept(Vec::new()));
    };
    let events = match kind {
        "workout.updated" | "sleep.updated" | "recovery.updated" => {
            let (start, end) = notification_window(sent);
            vec![WebhookEvent::Sync {
                provider_user_id: user,
                start,
                end,
            }]
        }
        "workout.deleted" | "sleep.deleted" => match text(obj.get("id")) {
            Some(id) => vec![WebhookEvent::Deleted {
                provider_user_id: user,
                category: kind.trim_end_matches(".deleted").to_string(),
                external_id: id,
            }],
            None => {
                tracing::warn!(provider = "whoop", kind, "deletion without id ignored");
                Vec::new()
            }
        },
        other => {
            tracing::info!(provider = "whoop", kind = other, "notification ignored");
            Vec::new()
        }
    };
    Ok(WebhookReply::Accept(events))
}

/// The Whoop integration.
pub struct Whoop;

#[async_trait::async_trait]
impl super::Integration for Whoop {
    fn provider(&self) -> Provider {
        Provider::Whoop
    }

    fn user_info_endpoint(&self) -> Option<super::UserInfoEndpoint> {
        Some(super::UserInfoEndpoint {
            path: "/developer/v2/user/profile/basic",
            id: "/user_id",
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
    use std::collections::HashMap;

    use axum::http::{HeaderMap, HeaderValue, Method};

    const WORKOUT: &str = r#"{"id":"3b1d9f6e-0c4a-4e7b-9a21-6f8e2d5c4b10","v1_id":1043352211,"user_id":20931,
 "created_at":"2024-05-30T17:45:12.004Z","updated_at":"2024-05-30T18:02:40.517Z",
 "start":"2024-05-30T16:05:00.000Z","end":"2024-05-30T17:20:30.000Z","timezone_offset":"+02:00",
 "sport_name":"cycling","sport_id":1,"score_state":"SCORED",
 "score":{"strain":13.7,"average_heart_rate":139,"max_heart_rate":174,"kilojoule":3120.4,
  "percent_recorded":100,"distance_meter":36250.0,"altitude_gain_meter":410.2,"altitude_change_meter":3.5,
  "zone_durations":{"zone_zero_milli":0,"zone_one_milli":520000,"zone_two_milli":1900000}}}"#;
    const SLEEP: &str = r#"{"id":"9e7c1a33-5b42-4f0e-8d17-2a6b4c9e0f21","cycle_id":558120071,"user_id":20931,
 "created_at":"2024-05-31T05:40:10.120Z","updated_at":"2024-05-31T05:52:01.880Z",
 "start":"2024-05-30T21:58:00.000Z","end":"2024-05-31T05:31:00.000Z","timezone_offset":"+02:00",
 "nap":false,"score_state":"SCORED","score":{"stage_summary":{"total_in_bed_time_milli":27180000,
 "total_awake_time_milli":2460000,"total_no_data_time_milli":0,"total_light_sleep_time_milli":12900000,
 "total_slow_wave_sleep_time_milli":5700000,"total_rem_sleep_time_milli":6120000,"sleep_cycle_count":5,
 "disturbance_count":9},"respiratory_rate":15.2,"sleep_performance_percentage":91,
 "sleep_consistency_percentage":78,"sleep_efficiency_percentage":90.9}}"#;
    const RECOVERY: &str = r#"{"cycle_id":558120071,"sleep_id":"9e7c1a33-5b42-4f0e-8d17-2a6b4c9e0f21","user_id":20931,
 "created_at":"2024-05-31T05:52:03.301Z","updated_at":"2024-05-31T05:52:03.301Z","score_state":"SCORED",
 "score":{"user_calibrating":false,"recovery_score":67,"resting_heart_rate":52,"hrv_rmssd_milli":58.4,
 "spo2_percentage":96.8,"skin_temp_celsius":33.6}}"#;

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).expect("json")
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").to_utc()
    }

    #[test]
    fn a_scored_workout_maps_with_its_strain() {
        let mut out = Pulled::default();
        map_workout(&parse(WORKOUT), &mut out);
        let w = &out.workouts[0];
        assert_eq!(w.workout_type.as_deref(), Some("cycling"));
        assert_eq!(w.start, utc("2024-05-30T16:05:00Z"));
        assert_eq!(w.end, utc("2024-05-30T17:20:30Z"));
        assert_eq!(w.zone.as_deref(), Some("+02:00"));
        assert_eq!(
            w.external_id.as_deref(),
            Some("3b1d9f6e-0c4a-4e7b-9a21-6f8e2d5c4b10")
        );
        assert!((w.details.energy_burned - 3120.4 * 0.239006).abs() < 1e-9);
        assert_eq!(w.details.distance, Some(36250.0));
        assert_eq!(w.details.heart_rate_avg, Some(139.0));
        assert_eq!(w.details.heart_rate_max, Some(174));
        assert_eq!(w.details.total_elevation_gain, Some(410.2));
        let s = &out.scores[0];
        assert_eq!((s.category.as_str(), s.value), ("strain", Some(13.7)));
        assert_eq!(s.recorded_at, w.start);
        let c = s.components.as_ref().expect("components");
        assert_eq!(c["kilojoule"], json!({"value": 3120.4, "qualifier": null}));
        assert_eq!(c["altitude_change_meter"]["value"], 3.5);
        assert!(c.get("zone_durations").is_none());
    }

    #[test]
    fn unscored_workouts_are_skipped() {
        let mut v = parse(WORKOUT);
        v["score_state"] = json!("PENDING_SCORE");
        v.as_object_mut().expect("object").remove("score");
        let mut out = Pulled::default();
        map_workout(&v, &mut out);
        assert!(out.workouts.is_empty() && out.scores.is_empty());
    }

    #[test]
    fn a_sleep_maps_stage_minutes_offset_and_score() {
        let mut out = Pulled::default();
        map_sleep(&parse(SLEEP), &mut out);
        let s = &out.sleeps[0];
        assert_eq!(
            (
                s.deep_minutes,
                s.light_minutes,
                s.rem_minutes,
                s.awake_minutes
            ),
            (95, 215, 102, 41)
        );
        assert_eq!(s.total_sleep_minutes, 412);
        assert_eq!(s.time_in_bed_minutes, 453);
        assert_eq!(s.efficiency, Some(90.9));
        assert_eq!(s.zone.as_deref(), Some("+02:00"), "App. C #14");
        assert!(!s.is_nap && s.stages.is_empty());
        let score = &out.scores[0];
        assert_eq!(
            (score.category.as_str(), score.value),
            ("sleep", Some(91.0))
        );
        let c = score.components.as_ref().expect("components");
        assert_eq!(c["sleep_consistency_percentage"]["value"], 78);
        assert_eq!(c["respiratory_rate"]["value"], 15.2);
        assert_eq!(out.samples[0].series, SeriesType::RespiratoryRate);
        assert_eq!(out.samples[0].at, utc("2024-05-30T21:58:00Z"));
    }

    #[test]
    fn an_unscored_sleep_still_is_a_session_without_a_score() {
        let v = json!({"id":"s-2","start":"2024-05-31T13:00:00Z","end":"2024-05-31T13:40:00Z",
            "nap":true,"score_state":"UNSCORABLE"});
        let mut out = Pulled::default();
        map_sleep(&v, &mut out);
        let s = &out.sleeps[0];
        assert!(s.is_nap);
        assert_eq!((s.time_in_bed_minutes, s.total_sleep_minutes), (40, 0));
        assert!(out.scores.is_empty());
    }

    #[test]
    fn a_recovery_maps_samples_and_score() {
        let mut out = Pulled::default();
        map_recovery(&parse(RECOVERY), Some("+02:00".into()), &mut out);
        let got: Vec<(SeriesType, f64)> = out.samples.iter().map(|s| (s.series, s.value)).collect();
        assert_eq!(
            got,
            vec![
                (SeriesType::RestingHeartRate, 52.0),
                (SeriesType::HeartRateVariabilityRmssd, 58.4),
                (SeriesType::OxygenSaturation, 96.8),
                (SeriesType::SkinTemperature, 33.6),
            ]
        );
        assert!(
            out.samples
                .iter()
                .all(|s| s.at == utc("2024-05-31T05:52:03.301Z"))
        );
        let r = &out.scores[0];
        assert_eq!((r.category.as_str(), r.value), ("recovery", Some(67.0)));
        let c = r.components.as_ref().expect("components");
        assert_eq!(c["hrv_rmssd_milli"]["value"], 58.4);
        assert_eq!(c.as_object().map(Map::len), Some(4));
    }

    #[test]
    fn cycles_become_day_strain_and_body_converts_units() {
        let c = json!({"id":558120071,"start":"2024-05-30T21:58:00.000Z","end":"2024-05-31T22:10:00.000Z",
            "timezone_offset":"+02:00","score_state":"SCORED",
            "score":{"strain":15.2,"kilojoule":10460.0,"average_heart_rate":68,"max_heart_rate":174}});
        let mut out = Pulled::default();
        map_cycle(&c, &mut out);
        let day = utc("2024-06-10T00:00:00Z");
        map_body(
            &json!({"height_meter":1.78,"weight_kilogram":72.4,"max_heart_rate":192}),
            day,
            &mut out,
        );
        assert_eq!(out.scores[0].category, "strain");
        assert_eq!(out.scores[0].value, Some(15.2));
        assert_eq!(out.scores[0].zone.as_deref(), Some("+02:00"));
        let body: Vec<(SeriesType, f64)> =
            out.samples.iter().map(|s| (s.series, s.value)).collect();
        assert_eq!(
            body,
            vec![(SeriesType::Height, 178.0), (SeriesType::Weight, 72.4)]
        );
    }

    #[test]
    fn sport_names_map_case_insensitively() {
        assert_eq!(workout_type(" Hiking/Rucking "), WorkoutType::Hiking);
        assert_eq!(workout_type("F45 Training"), WorkoutType::GroupExercise);
        assert_eq!(workout_type("football"), WorkoutType::AmericanFootball);
        assert_eq!(workout_type("operations - flying"), WorkoutType::Operations);
        assert_eq!(workout_type("activity"), WorkoutType::Generic);
        assert_eq!(
            workout_type("underwater basket weaving"),
            WorkoutType::Other
        );
    }

    struct Call {
        headers: HeaderMap,
        body: Vec<u8>,
        now: DateTime<Utc>,
    }

    const SECRET: &str = "whoop-client-secret";

    fn signed(body: &str, sent_ms: i64, now: DateTime<Utc>) -> Call {
        let stamp = sent_ms.to_string();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-whoop-signature",
            HeaderValue::from_str(&signature(SECRET, &stamp, body.as_bytes())).expect("h"),
        );
        headers.insert(
            "x-whoop-signature-timestamp",
            HeaderValue::from_str(&stamp).expect("h"),
        );
        Call {
            headers,
            body: body.as_bytes().to_vec(),
            now,
        }
    }

    fn run(call: &Call) -> Result<WebhookReply, WebhookError> {
        let query = HashMap::new();
        let settings: HashMap<String, String> =
            [("WHOOP_CLIENT_SECRET".to_string(), SECRET.to_string())].into();
        webhook(&WebhookRequest {
            method: &Method::POST,
            query: &query,
            headers: &call.headers,
            body: &call.body,
            now: call.now,
            client: None,
            settings: &settings,
            secret_key: "some-other-secret-key",
        })
    }

    const PING: &str = r#"{"user_id":20931,"id":"3b1d9f6e-0c4a-4e7b-9a21-6f8e2d5c4b10","type":"workout.updated","trace_id":"e2a9c1f0-7d44"}"#;

    #[test]
    fn a_signed_notification_becomes_a_sync_window() {
        let now = utc("2024-06-10T12:00:00Z");
        let call = signed(PING, now.timestamp_millis() - 20_000, now);
        let Ok(WebhookReply::Accept(events)) = run(&call) else {
            panic!("accepted");
        };
        let sent = now - Duration::seconds(20);
        assert_eq!(
            events,
            vec![WebhookEvent::Sync {
                provider_user_id: "20931".into(),
                start: sent - Duration::days(2),
                end: sent + Duration::days(1),
            }]
        );
    }

    #[test]
    fn bad_missing_or_stale_signatures_are_refused() {
        let now = utc("2024-06-10T12:00:00Z");
        let ms = now.timestamp_millis();
        let status = |c: &Call| run(c).err().map(|e| e.status().as_u16());
        // Tampered body.
        let mut c = signed(PING, ms, now);
        c.body = PING.replace("20931", "20932").into_bytes();
        assert_eq!(status(&c), Some(401));
        // Missing headers.
        let mut c = signed(PING, ms, now);
        c.headers.remove("x-whoop-signature");
        assert_eq!(status(&c), Some(401));
        let mut c = signed(PING, ms, now);
        c.headers.remove("x-whoop-signature-timestamp");
        assert_eq!(status(&c), Some(401));
        // Stale and future timestamps (correctly signed).
        assert_eq!(status(&signed(PING, ms - 301_000, now)), Some(401));
        assert_eq!(status(&signed(PING, ms + 301_000, now)), Some(401));
        assert!(run(&signed(PING, ms - 299_000, now)).is_ok());
        // Seconds instead of milliseconds are ~54 years off.
        assert_eq!(status(&signed(PING, ms / 1000, now)), Some(401));
    }

    #[test]
    fn deletions_name_the_record_and_bad_json_is_a_400() {
        let now = utc("2024-06-10T12:00:00Z");
        let ms = now.timestamp_millis();
        let id = serde_json::from_str::<Value>(PING).expect("json")["id"].clone();
        for (kind, category) in [("workout.deleted", "workout"), ("sleep.deleted", "sleep")] {
            let del = PING.replace("workout.updated", kind);
            let Ok(WebhookReply::Accept(e)) = run(&signed(&del, ms, now)) else {
                panic!("accepted")
            };
            assert_eq!(
                e,
                vec![WebhookEvent::Deleted {
                    provider_user_id: "20931".into(),
                    category: category.into(),
                    external_id: text(Some(&id)).expect("id"),
                }]
            );
        }
        // Recoveries are samples, not records: their deletion is acknowledged only.
        let rec = PING.replace("workout.updated", "recovery.deleted");
        assert!(matches!(
            run(&signed(&rec, ms, now)),
            Ok(WebhookReply::Accept(e)) if e.is_empty()
        ));
        let err = run(&signed("{not json", ms, now)).expect_err("400");
        assert_eq!(
            (err.status().as_u16(), err.to_string().as_str()),
            (400, "Invalid JSON body")
        );
        let err = run(&signed("[1]", ms, now)).expect_err("400");
        assert_eq!(err.status().as_u16(), 400);
    }
}

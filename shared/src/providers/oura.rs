//! Oura API v2 pull client and mapping (providers.md §4.5): workouts, sleep periods (hypnogram
//! stages, interval heart rate and HRV), daily sleep/readiness/activity scores with the activity
//! day totals, daily SpO2, and heart rate.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::Value;

use super::payload::num;
use super::subscriptions::{
    SubscriptionCtx, SubscriptionError, SubscriptionOp, SubscriptionResult, op_status,
};
use super::sync::{
    FetchError, Fetcher, Pulled, PulledSample, PulledScore, PulledSleep, PulledWorkout,
};
use super::webhook::{
    WebhookError, WebhookEvent, WebhookReply, WebhookRequest, constant_time_eq, hex, hmac_sha256,
};
use crate::domain::provider::Provider;
use crate::domain::sdk::WorkoutDetails;
use crate::domain::series::SeriesType;
use crate::domain::sleep::{SleepStage, StageInterval};
use crate::domain::workout::map_sdk_workout_type;

fn ts(v: &Value, key: &str) -> Option<DateTime<chrono::FixedOffset>> {
    v.get(key)
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
}

fn offset_of(t: &DateTime<chrono::FixedOffset>) -> String {
    t.format("%:z").to_string()
}

fn day_midnight(v: &Value) -> Option<DateTime<Utc>> {
    v.get("day")
        .and_then(Value::as_str)
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

fn stamp(v: &Value) -> Option<(DateTime<Utc>, Option<String>)> {
    match ts(v, "timestamp") {
        Some(t) => Some((t.to_utc(), Some(offset_of(&t)))),
        None => day_midnight(v).map(|t| (t, None)),
    }
}

fn contributors(v: &Value) -> Option<Value> {
    let c = v.get("contributors")?.as_object()?;
    let m: serde_json::Map<String, Value> = c
        .iter()
        .map(|(k, x)| {
            (
                k.clone(),
                serde_json::json!({"value": x, "qualifier": null}),
            )
        })
        .collect();
    Some(Value::Object(m))
}

/// Hypnogram characters → stages (`1` deep, `2` light, `3` rem, `4` awake), runs merged.
pub fn hypnogram(phases: &str, start: DateTime<Utc>, epoch_seconds: i64) -> Vec<StageInterval> {
    let mut out: Vec<StageInterval> = Vec::new();
    for (i, c) in phases.chars().enumerate() {
        let stage = match c {
            '1' => SleepStage::Deep,
            '2' => SleepStage::Light,
            '3' => SleepStage::Rem,
            '4' => SleepStage::Awake,
            _ => SleepStage::Unknown,
        };
        let s = start + Duration::seconds(epoch_seconds * i as i64);
        let e = s + Duration::seconds(epoch_seconds);
        match out.last_mut() {
            Some(last) if last.stage == stage && last.end == s => last.end = e,
            _ => out.push(StageInterval {
                stage,
                start: s,
                end: e,
            }),
        }
    }
    out
}

fn interval_series(
    v: &Value,
    series: SeriesType,
    zone: &Option<String>,
    out: &mut Vec<PulledSample>,
) {
    let Some(obj) = v.as_object() else { return };
    let (Some(interval), Some(items), Some(start)) = (
        obj.get("interval").and_then(Value::as_f64),
        obj.get("items").and_then(Value::as_array),
        obj.get("timestamp")
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok()),
    ) else {
        return;
    };
    for (i, item) in items.iter().enumerate() {
        if let Some(value) = item.as_f64() {
            let at = start.to_utc() + Duration::milliseconds((interval * 1000.0) as i64 * i as i64);
            out.push(PulledSample {
                series,
                at,
                value,
                zone: zone.clone(),
                daily_total: None,
            });
        }
    }
}

fn map_sleep(v: &Value, out: &mut Pulled) {
    let kind = v
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("long_sleep");
    if kind == "rest" || kind == "deleted" {
        return;
    }
    let (Some(start), Some(end)) = (ts(v, "bedtime_start"), ts(v, "bedtime_end")) else {
        return;
    };
    let zone = Some(offset_of(&start));
    let (start_utc, end_utc) = (start.to_utc(), end.to_utc());
    let stages = match (
        v.get("sleep_phase_30_sec").and_then(Value::as_str),
        v.get("sleep_phase_5_min").and_then(Value::as_str),
    ) {
        (Some(p), _) => hypnogram(p, start_utc, 30),
        (None, Some(p)) => hypnogram(p, start_utc, 300),
        _ => Vec::new(),
    };
    let minutes = |k: &str| num(v, k).map(|s| (s / 60.0).floor() as i64);
    let (deep, light, rem, awake) = (
        minutes("deep_sleep_duration"),
        minutes("light_sleep_duration"),
        minutes("rem_sleep_duration"),
        minutes("awake_time"),
    );
    out.sleeps.push(PulledSleep {
        external_id: v.get("id").and_then(Value::as_str).map(str::to_string),
        start: start_utc,
        end: end_utc,
        zone: zone.clone(),
        is_nap: kind == "sleep" || kind == "late_nap",
        total_sleep_minutes: deep.unwrap_or(0) + light.unwrap_or(0) + rem.unwrap_or(0),
        time_in_bed_minutes: minutes("time_in_bed")
            .unwrap_or_else(|| (end_utc - start_utc).num_minutes()),
        deep_minutes: deep.unwrap_or(0),
        light_minutes: light.unwrap_or(0),
        rem_minutes: rem.unwrap_or(0),
        awake_minutes: awake.unwrap_or(0),
        efficiency: num(v, "efficiency"),
        stages,
    });
    if let Some(hr) = v.get("heart_rate") {
        interval_series(hr, SeriesType::HeartRate, &zone, &mut out.samples);
    }
    if let Some(hrv) = v.get("hrv") {
        interval_series(
            hrv,
            SeriesType::HeartRateVariabilityRmssd,
            &zone,
            &mut out.samples,
        );
    }
    for (key, series) in [
        ("average_breath", SeriesType::RespiratoryRate),
        ("lowest_heart_rate", SeriesType::RestingHeartRate),
    ] {
        if let Some(value) = num(v, key) {
            out.samples.push(PulledSample {
                series,
                at: start_utc,
                value,
                zone: zone.clone(),
                daily_total: None,
            });
        }
    }
}

fn map_workout(v: &Value, out: &mut Pulled) {
    let (Some(start), Some(end)) = (ts(v, "start_datetime"), ts(v, "end_datetime")) else {
        return;
    };
    let activity = v
        .get("activity")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_lowercase();
    out.workouts.push(PulledWorkout {
        external_id: v.get("id").and_then(Value::as_str).map(str::to_string),
        workout_type: Some(map_sdk_workout_type(&activity).code().to_string()),
        start: start.to_utc(),
        end: end.to_utc(),
        zone: Some(offset_of(&start)),
        details: WorkoutDetails {
            energy_burned: num(v, "calories").unwrap_or(0.0),
            distance: num(v, "distance"),
            ..WorkoutDetails::default()
        },
    });
}

fn score(v: &Value, category: &str, out: &mut Pulled) {
    let Some((at, zone)) = stamp(v) else { return };
    out.scores.push(PulledScore {
        qualifier: None,
        category: category.into(),
        value: num(v, "score"),
        recorded_at: at,
        zone,
        components: contributors(v),
    });
}

fn map_activity(v: &Value, out: &mut Pulled) {
    score(v, "activity", out);
    let Some((at, zone)) = stamp(v) else { return };
    let mut push = |series: SeriesType, value: Option<f64>| {
        if let Some(value) = value {
            out.samples.push(PulledSample {
                series,
                at,
                value,
                zone: zone.clone(),
                daily_total: Some(true),
            });
        }
    };
    push(SeriesType::Steps, num(v, "steps"));
    push(SeriesType::Energy, num(v, "active_calories"));
    push(
        SeriesType::DistanceWalkingRunning,
        num(v, "equivalent_walking_distance"),
    );
    let active: Option<f64> = [
        "high_activity_time",
        "medium_activity_time",
        "low_activity_time",
    ]
    .iter()
    .map(|k| num(v, k))
    .sum();
    push(SeriesType::ActiveTime, active.map(|s| (s / 60.0).floor()));
}

fn map_readiness(v: &Value, out: &mut Pulled) {
    score(v, "readiness", out);
    let Some((at, zone)) = stamp(v) else { return };
    for (key, series) in [
        (
            "temperature_deviation",
            SeriesType::SkinTemperatureDeviation,
        ),
        (
            "temperature_trend_deviation",
            SeriesType::SkinTemperatureTrendDeviation,
        ),
    ] {
        if let Some(value) = num(v, key) {
            out.samples.push(PulledSample {
                series,
                at,
                value,
                zone: zone.clone(),
                daily_total: None,
            });
        }
    }
}

fn map_spo2(v: &Value, out: &mut Pulled) {
    let Some(at) = day_midnight(v) else { return };
    if let Some(value) = v
        .pointer("/spo2_percentage/average")
        .and_then(Value::as_f64)
    {
        out.samples.push(PulledSample {
            series: SeriesType::OxygenSaturation,
            at,
            value,
            zone: None,
            daily_total: None,
        });
    }
    if let Some(value) = num(v, "breathing_disturbance_index") {
        out.samples.push(PulledSample {
            series: SeriesType::BreathingDisturbanceIndex,
            at,
            value,
            zone: None,
            daily_total: None,
        });
    }
}

fn map_heart_rate(v: &Value, out: &mut Pulled) {
    if let (Some(t), Some(bpm)) = (ts(v, "timestamp"), num(v, "bpm")) {
        out.samples.push(PulledSample {
            series: SeriesType::HeartRate,
            at: t.to_utc(),
            value: bpm,
            zone: Some(offset_of(&t)),
            daily_total: None,
        });
    }
}

/// Maps one collection item into the pull.
type Mapper = fn(&Value, &mut Pulled);

/// Pulls one window of every Oura collection.
pub async fn pull(
    f: &Fetcher<'_>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Pulled, FetchError> {
    let mut out = Pulled {
        source_name: "Oura".into(),
        device_model: Some("Oura Ring".into()),
        ..Pulled::default()
    };
    let dates = [
        ("start_date", start.format("%Y-%m-%d").to_string()),
        ("end_date", format!("{}T23:59:59", end.format("%Y-%m-%d"))),
    ];
    let collections: [(&str, Mapper); 6] = [
        ("workout", map_workout),
        ("sleep", map_sleep),
        ("daily_sleep", |v, o| score(v, "sleep", o)),
        ("daily_readiness", map_readiness),
        ("daily_activity", map_activity),
        ("daily_spo2", map_spo2),
    ];
    for (name, map) in collections {
        for item in f
            .collection(&format!("/v2/usercollection/{name}"), &dates)
            .await?
        {
            map(&item, &mut out);
        }
    }
    // Heart rate in chunks of at most 30 days.
    let mut from = start;
    while from < end {
        let to = (from + Duration::days(30)).min(end);
        let q = [
            (
                "start_datetime",
                from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ),
            (
                "end_datetime",
                to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ),
        ];
        for item in f.collection("/v2/usercollection/heartrate", &q).await? {
            map_heart_rate(&item, &mut out);
        }
        from = to;
    }
    Ok(out)
}

/// One page of the workout collection as Oura answers it (vendor pass-through, #52): the
/// summary window's dates when given.
pub async fn vendor_workouts(
    f: &Fetcher<'_>,
    opts: &super::VendorOptions,
) -> Result<Value, FetchError> {
    let mut q = Vec::new();
    if let Some(s) = opts.start {
        q.push(("start_date", s.format("%Y-%m-%d").to_string()));
    }
    if let Some(e) = opts.end {
        q.push(("end_date", e.format("%Y-%m-%d").to_string()));
    }
    f.get_raw("/v2/usercollection/workout", &q).await
}

/// One workout document by id (vendor pass-through, #53).
pub async fn vendor_workout(f: &Fetcher<'_>, id: &str) -> Result<Value, FetchError> {
    let path = format!("/v2/usercollection/workout/{}", super::path_segment(id));
    f.get_raw(&path, &[]).await
}

/// Revokes the access token at Oura (`POST /oauth/revoke?access_token=…`).
pub async fn deregister(f: &Fetcher<'_>) -> Result<(), FetchError> {
    f.send(
        reqwest::Method::POST,
        "/oauth/revoke",
        &[("access_token", f.token.to_string())],
        None,
    )
    .await
    .map(|_| ())
}

/// Largest accepted difference between a webhook's signed timestamp and our clock.
pub const SIGNATURE_TOLERANCE_SECONDS: i64 = 300;

/// `x-oura-timestamp`: Unix seconds (or milliseconds), or an RFC 3339 instant.
fn webhook_time(stamp: &str) -> Option<DateTime<Utc>> {
    match stamp.trim().parse::<i64>() {
        Ok(n) if n > 100_000_000_000 => DateTime::from_timestamp_millis(n),
        Ok(n) => DateTime::from_timestamp(n, 0),
        Err(_) => DateTime::parse_from_rfc3339(stamp.trim())
            .ok()
            .map(|t| t.to_utc()),
    }
}

/// Verifies and parses one inbound Oura webhook call (api.md §15.1): the GET challenge checks
/// `verification_token`; a POST carries `x-oura-signature` = hex HMAC-SHA256(client secret,
/// `x-oura-timestamp` ‖ body), compared case-insensitively. A create/update notification
/// becomes a sync window around its event time; deletes are ignored.
pub fn webhook(req: &WebhookRequest<'_>) -> Result<WebhookReply, WebhookError> {
    if req.method == axum::http::Method::GET {
        let expected = req.chosen_secret(crate::keys::OURA_VERIFICATION_TOKEN);
        let given = req
            .query
            .get("verification_token")
            .map_or("", String::as_str);
        if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            return Err(WebhookError::Unauthorized(
                "Invalid verification token".into(),
            ));
        }
        let challenge = req.query.get("challenge").cloned().unwrap_or_default();
        return Ok(WebhookReply::Respond(
            axum::http::StatusCode::OK,
            serde_json::json!({ "challenge": challenge }),
        ));
    }
    let (Some(sig), Some(stamp), Some(client)) = (
        req.header("x-oura-signature"),
        req.header("x-oura-timestamp"),
        req.client,
    ) else {
        return Err(WebhookError::bad_signature());
    };
    let expected = hex(&hmac_sha256(
        client.client_secret.as_bytes(),
        &[stamp.as_bytes(), req.body],
    ));
    if !constant_time_eq(sig.to_ascii_lowercase().as_bytes(), expected.as_bytes()) {
        return Err(WebhookError::bad_signature());
    }
    // A replayed notification: the signed timestamp must be within five minutes of now
    // (providers.md App. C #25; the reference has no tolerance).
    match webhook_time(stamp) {
        Some(t) if (t - req.now).num_seconds().abs() <= SIGNATURE_TOLERANCE_SECONDS => {}
        _ => {
            return Err(WebhookError::Unauthorized(
                "Webhook timestamp outside the accepted window".into(),
            ));
        }
    }
    let v = req.json()?;
    if !v.is_object() {
        return Err(WebhookError::BadRequest(
            "Invalid payload: expected a JSON object".into(),
        ));
    }
    let event = v.get("event_type").and_then(Value::as_str).unwrap_or("");
    let (Some(user), true) = (
        v.get("user_id").and_then(Value::as_str),
        matches!(event, "create" | "update"),
    ) else {
        return Ok(WebhookReply::Accept(Vec::new()));
    };
    let at = v
        .get("event_time")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or(req.now, |t| t.to_utc());
    let day = at
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(at, |d| d.and_utc());
    Ok(WebhookReply::Accept(vec![WebhookEvent::Sync {
        provider_user_id: user.to_string(),
        start: day - Duration::days(2),
        end: (day + Duration::days(1)).min(req.now.max(at)),
    }]))
}

/// The data types Oura notifies about, each subscribed for `create` and `update`.
pub const WEBHOOK_DATA_TYPES: [&str; 8] = [
    "workout",
    "sleep",
    "daily_sleep",
    "daily_readiness",
    "daily_activity",
    "daily_spo2",
    "daily_cardiovascular_age",
    "vo2_max",
];

async fn oura_call(
    ctx: &SubscriptionCtx<'_>,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), SubscriptionError> {
    let mut req = ctx
        .http
        .request(method, ctx.url(path))
        .header("x-client-id", &ctx.client.client_id)
        .header("x-client-secret", &ctx.client.client_secret);
    if let Some(b) = body {
        req = req.json(b);
    }
    let (status, v, text) = ctx.send(req, "Oura subscription API").await?;
    if status >= 400 && status != 409 {
        return Err(SubscriptionError::Upstream(format!(
            "Oura subscription API answered HTTP {status}: {}",
            text.chars().take(200).collect::<String>()
        )));
    }
    Ok((status, v))
}

fn subscription_list(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        Value::Object(mut o) => match o.remove("data") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Webhook subscription management (api.md §15.3, providers.md §4.5.4): app-level calls with
/// `x-client-id`/`x-client-secret`. Registering subscribes `create` and `update` of every
/// data type: same callback → skipped, another callback → updated, none → created.
pub async fn subscriptions(
    ctx: &SubscriptionCtx<'_>,
    op: SubscriptionOp,
) -> Result<SubscriptionResult, SubscriptionError> {
    const BASE: &str = "/v2/webhook/subscription";
    let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    match op {
        SubscriptionOp::List => {
            let (_, v) = oura_call(ctx, reqwest::Method::GET, BASE, None).await?;
            Ok(SubscriptionResult::of(Value::Array(subscription_list(v))))
        }
        SubscriptionOp::Register { callback_url } => {
            ctx.own_callback(&callback_url)?;
            let (_, v) = oura_call(ctx, reqwest::Method::GET, BASE, None).await?;
            let existing = subscription_list(v);
            let token = ctx.chosen_secret(crate::keys::OURA_VERIFICATION_TOKEN);
            let mut results = Vec::new();
            for event_type in ["create", "update"] {
                for data_type in WEBHOOK_DATA_TYPES {
                    let found = existing.iter().find(|s| {
                        field(s, "event_type") == event_type && field(s, "data_type") == data_type
                    });
                    let body = serde_json::json!({"callback_url": callback_url,
                        "verification_token": token, "event_type": event_type, "data_type": data_type});
                    let (status, id) = match found {
                        Some(s) if field(s, "callback_url") == callback_url => {
                            ("skipped", field(s, "id"))
                        }
                        Some(s) => {
                            let id = field(s, "id");
                            oura_call(
                                ctx,
                                reqwest::Method::PUT,
                                &format!("{BASE}/{id}"),
                                Some(&serde_json::json!({"callback_url": callback_url,
                                    "verification_token": token})),
                            )
                            .await?;
                            ("updated", id)
                        }
                        None => {
                            let (code, v) =
                                oura_call(ctx, reqwest::Method::POST, BASE, Some(&body)).await?;
                            if code == 409 {
                                ("skipped", field(&v, "id"))
                            } else {
                                ("created", field(&v, "id"))
                            }
                        }
                    };
                    results.push(serde_json::json!({"event_type": event_type,
                        "data_type": data_type, "subscription_id": id, "status": status}));
                }
            }
            Ok(SubscriptionResult::of(Value::Array(results)))
        }
        SubscriptionOp::Renew => {
            let (_, v) = oura_call(ctx, reqwest::Method::GET, BASE, None).await?;
            let mut results = Vec::new();
            for s in subscription_list(v) {
                let id = field(&s, "id");
                let r = oura_call(
                    ctx,
                    reqwest::Method::PUT,
                    &format!("{BASE}/renew/{id}"),
                    None,
                )
                .await;
                results.push(match r {
                    Ok(_) => op_status(&id, "updated", None),
                    Err(e) => op_status(&id, "error", Some(e.to_string())),
                });
            }
            Ok(SubscriptionResult::of(Value::Array(results)))
        }
        SubscriptionOp::Get { id } => {
            let (code, v) =
                oura_call(ctx, reqwest::Method::GET, &format!("{BASE}/{id}"), None).await?;
            Ok(SubscriptionResult::of(if code == 200 {
                v
            } else {
                Value::Null
            }))
        }
        SubscriptionOp::Update { id, callback_url } => {
            ctx.own_callback(&callback_url)?;
            let token = ctx.chosen_secret(crate::keys::OURA_VERIFICATION_TOKEN);
            let r = oura_call(
                ctx,
                reqwest::Method::PUT,
                &format!("{BASE}/{id}"),
                Some(
                    &serde_json::json!({"callback_url": callback_url, "verification_token": token}),
                ),
            )
            .await;
            Ok(SubscriptionResult::of(match r {
                Ok(_) => op_status(&id, "updated", None),
                Err(e) => op_status(&id, "error", Some(e.to_string())),
            }))
        }
        SubscriptionOp::Delete { id } => {
            let r = oura_call(ctx, reqwest::Method::DELETE, &format!("{BASE}/{id}"), None).await;
            Ok(SubscriptionResult::of(match r {
                Ok(_) => op_status(&id, "deleted", None),
                Err(e) => op_status(&id, "error", Some(e.to_string())),
            }))
        }
    }
}

/// The Oura integration.
pub struct Oura;

#[async_trait::async_trait]
impl super::Integration for Oura {
    fn provider(&self) -> Provider {
        Provider::Oura
    }

    fn user_info_endpoint(&self) -> Option<super::UserInfoEndpoint> {
        Some(super::UserInfoEndpoint {
            path: "/v2/usercollection/personal_info",
            id: "/id",
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

    async fn subscriptions(
        &self,
        ctx: &SubscriptionCtx<'_>,
        op: SubscriptionOp,
    ) -> Result<SubscriptionResult, SubscriptionError> {
        subscriptions(ctx, op).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_hypnogram_becomes_merged_stage_intervals() {
        let start = DateTime::parse_from_rfc3339("2024-05-31T21:12:30Z")
            .expect("t")
            .to_utc();
        let st = hypnogram("4222211133322224", start, 300);
        let kinds: Vec<(SleepStage, i64)> = st
            .iter()
            .map(|s| (s.stage, (s.end - s.start).num_minutes()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (SleepStage::Awake, 5),
                (SleepStage::Light, 20),
                (SleepStage::Deep, 15),
                (SleepStage::Rem, 15),
                (SleepStage::Light, 20),
                (SleepStage::Awake, 5)
            ]
        );
    }

    #[test]
    fn a_sleep_period_maps_to_a_session_and_interval_samples() {
        let v = json!({"id":"sl-1","type":"long_sleep","bedtime_start":"2024-05-31T23:12:30+02:00","bedtime_end":"2024-06-01T06:58:00+02:00",
            "time_in_bed":27930,"deep_sleep_duration":4830,"light_sleep_duration":14460,"rem_sleep_duration":5820,"awake_time":2820,
            "efficiency":90,"average_breath":14.9,"lowest_heart_rate":47,"sleep_phase_5_min":"4222",
            "heart_rate":{"interval":300.0,"items":[58.0,null,55.0],"timestamp":"2024-05-31T23:12:30.000+02:00"}});
        let mut out = Pulled::default();
        map_sleep(&v, &mut out);
        let s = &out.sleeps[0];
        assert_eq!(
            (
                s.deep_minutes,
                s.light_minutes,
                s.rem_minutes,
                s.awake_minutes
            ),
            (80, 241, 97, 47)
        );
        assert_eq!(s.total_sleep_minutes, 418);
        assert_eq!(s.zone.as_deref(), Some("+02:00"));
        assert!(!s.is_nap);
        let hr: Vec<f64> = out
            .samples
            .iter()
            .filter(|p| p.series == SeriesType::HeartRate)
            .map(|p| p.value)
            .collect();
        assert_eq!(hr, vec![58.0, 55.0], "null items are skipped");
        assert!(
            out.samples
                .iter()
                .any(|p| p.series == SeriesType::RestingHeartRate && p.value == 47.0)
        );
    }
}

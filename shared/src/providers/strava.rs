//! Strava API v3 (providers.md §4.6): workouts only. The pull pages through
//! `GET /api/v3/athlete/activities?after&before&page&per_page` until a short page, optionally
//! with per-second streams; the webhook answers the subscription challenge and turns activity
//! events into sync windows and deauthorizations into revocations; disconnecting deauthorizes
//! the token.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::payload::num;
use super::subscriptions::{
    SubscriptionCtx, SubscriptionError, SubscriptionOp, SubscriptionResult, op_status,
};
use super::sync::{FetchError, Fetcher, Pulled, PulledSample, PulledWorkout};
use super::webhook::{WebhookError, WebhookEvent, WebhookReply, WebhookRequest, constant_time_eq};
use crate::domain::provider::Provider;
use crate::domain::sdk::WorkoutDetails;
use crate::domain::series::SeriesType;
use crate::domain::workout::WorkoutType;

/// The athlete's activities (summary representation).
pub const ACTIVITIES: &str = "/api/v3/athlete/activities";
/// Token deauthorization (Strava's documented endpoint; App. C #18).
pub const DEAUTHORIZE: &str = "/oauth/deauthorize";
/// Strava's largest page.
pub const MAX_PER_PAGE: u32 = 200;
const KJ_TO_KCAL: f64 = 0.239006;
const MAX_PAGES: u32 = 500;
/// Default webhook timestamp tolerance.
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 300;

/// Strava's `sport_type` / `type` (exact PascalCase) → unified type; unknown → `other`.
pub fn workout_type(sport: &str) -> WorkoutType {
    use WorkoutType as W;
    match sport {
        "Run" | "VirtualRun" => W::Running,
        "TrailRun" => W::TrailRunning,
        "Ride" | "GravelRide" | "Velomobile" | "Handcycle" => W::Cycling,
        "MountainBikeRide" => W::MountainBiking,
        "EBikeRide" | "EMountainBikeRide" => W::EBiking,
        "VirtualRide" => W::IndoorCycling,
        "Swim" => W::Swimming,
        "Walk" => W::Walking,
        "Hike" => W::Hiking,
        "AlpineSki" => W::AlpineSkiing,
        "BackcountrySki" => W::BackcountrySkiing,
        "NordicSki" | "RollerSki" => W::CrossCountrySkiing,
        "Snowboard" => W::Snowboarding,
        "Snowshoe" => W::Snowshoeing,
        "IceSkate" => W::IceSkating,
        "Rowing" => W::Rowing,
        "VirtualRow" => W::RowingMachine,
        "Kayaking" => W::Kayaking,
        "Canoeing" => W::Canoeing,
        "StandUpPaddling" => W::StandUpPaddleboarding,
        "Surfing" => W::Surfing,
        "Kitesurf" => W::Kitesurfing,
        "Windsurf" => W::Windsurfing,
        "Sail" => W::Sailing,
        "WeightTraining" => W::StrengthTraining,
        "Yoga" => W::Yoga,
        "Pilates" => W::Pilates,
        "Crossfit" | "HighIntensityIntervalTraining" => W::CardioTraining,
        "Elliptical" => W::Elliptical,
        "StairStepper" => W::StairClimbing,
        "Pickleball" => W::Pickleball,
        "Racquetball" => W::Racquetball,
        "Squash" => W::Squash,
        "Badminton" => W::Badminton,
        "TableTennis" => W::TableTennis,
        "Tennis" => W::Tennis,
        "Soccer" => W::Soccer,
        "RockClimbing" => W::RockClimbing,
        "Golf" => W::Golf,
        "Skateboard" => W::Skateboarding,
        "InlineSkate" => W::InlineSkating,
        "Wheelchair" => W::Wheelchair,
        "Workout" => W::Generic,
        _ => W::Other,
    }
}

/// An offset in seconds as `±HH:MM`.
pub fn offset_text(seconds: i64) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.unsigned_abs();
    format!("{sign}{:02}:{:02}", s / 3600, (s % 3600) / 60)
}

fn id_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// One activity (summary or detail representation) as a workout.
pub fn map_activity(v: &Value) -> Option<PulledWorkout> {
    let start = v
        .get("start_date")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())?
        .to_utc();
    let elapsed = num(v, "elapsed_time").unwrap_or(0.0).max(0.0);
    let end = start + Duration::milliseconds((elapsed * 1000.0).round() as i64);
    let mut kind = v
        .get("sport_type")
        .and_then(Value::as_str)
        .map_or(WorkoutType::Other, workout_type);
    if kind == WorkoutType::Other {
        kind = v
            .get("type")
            .and_then(Value::as_str)
            .map_or(WorkoutType::Other, workout_type);
    }
    // Energy: the detail's calories when known, else the power meter's work (kJ → kcal).
    let energy = num(v, "calories")
        .filter(|c| *c > 0.0)
        .or_else(|| num(v, "kilojoules").map(|kj| kj * KJ_TO_KCAL))
        .unwrap_or(0.0);
    Some(PulledWorkout {
        external_id: id_text(v.get("id")),
        workout_type: Some(kind.code().to_string()),
        start,
        end,
        zone: num(v, "utc_offset").map(|s| offset_text(s.round() as i64)),
        details: WorkoutDetails {
            energy_burned: energy,
            distance: num(v, "distance"),
            heart_rate_avg: num(v, "average_heartrate"),
            heart_rate_max: num(v, "max_heartrate").map(|x| x.round() as i64),
            average_watts: num(v, "average_watts"),
            average_speed: num(v, "average_speed"),
            max_speed: num(v, "max_speed"),
            total_elevation_gain: num(v, "total_elevation_gain"),
            elev_high: num(v, "elev_high"),
            elev_low: num(v, "elev_low"),
            ..WorkoutDetails::default()
        },
    })
}

/// Per-second streams (`key_by_type=true`) as samples at `start + time[i]`.
pub fn map_streams(
    streams: &Value,
    start: DateTime<Utc>,
    zone: Option<&str>,
    out: &mut Vec<PulledSample>,
) {
    let data = |k: &str| {
        streams
            .pointer(&format!("/{k}/data"))
            .and_then(Value::as_array)
    };
    let Some(time) = data("time") else { return };
    for (key, series) in [
        ("heartrate", SeriesType::HeartRate),
        ("velocity_smooth", SeriesType::Speed),
        ("cadence", SeriesType::Cadence),
        ("watts", SeriesType::Power),
    ] {
        let Some(values) = data(key) else { continue };
        for (t, x) in time.iter().zip(values) {
            if let (Some(t), Some(x)) = (t.as_f64(), x.as_f64()) {
                out.push(PulledSample {
                    series,
                    at: start + Duration::milliseconds((t * 1000.0).round() as i64),
                    value: x,
                    zone: zone.map(str::to_string),
                    daily_total: None,
                });
            }
        }
    }
}

fn per_page(f: &Fetcher<'_>) -> u32 {
    f.setting("STRAVA_EVENTS_PER_PAGE")
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(MAX_PER_PAGE)
        .clamp(1, MAX_PER_PAGE)
}

fn ingest_streams(f: &Fetcher<'_>) -> bool {
    f.setting("STRAVA_INGEST_WORKOUT_SAMPLES")
        .is_some_and(|s| matches!(s.trim().to_lowercase().as_str(), "true" | "1" | "yes"))
}

/// Pulls the activities that started in `[start, end)`.
pub async fn pull(
    f: &Fetcher<'_>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Pulled, FetchError> {
    let mut out = Pulled {
        source_name: "Strava".into(),
        device_model: None,
        ..Pulled::default()
    };
    let size = per_page(f);
    let mut activities: Vec<Value> = Vec::new();
    for page in 1..=MAX_PAGES {
        let q = [
            // `after` is exclusive: one second earlier keeps an activity starting at `start`.
            ("after", (start.timestamp() - 1).to_string()),
            ("before", end.timestamp().to_string()),
            ("page", page.to_string()),
            ("per_page", size.to_string()),
        ];
        let items = match f.get(ACTIVITIES, &q).await {
            Ok(Value::Array(items)) => items,
            Ok(Value::Null) => Vec::new(),
            Ok(other) => {
                tracing::warn!(
                    provider = "strava",
                    page,
                    "unexpected activities answer: {other}"
                );
                break;
            }
            Err(FetchError::Permanent(m)) => {
                tracing::warn!(
                    provider = "strava",
                    page,
                    kept = activities.len(),
                    "activities page failed: {m}"
                );
                break;
            }
            Err(e) => return Err(e),
        };
        let short = items.len() < size as usize;
        activities.extend(items);
        if short {
            break;
        }
    }
    let streams = ingest_streams(f);
    for a in &activities {
        let Some(w) = map_activity(a) else { continue };
        if streams && let Some(id) = w.external_id.as_deref() {
            let q = [
                (
                    "keys",
                    "time,heartrate,velocity_smooth,cadence,watts".to_string(),
                ),
                ("key_by_type", "true".to_string()),
            ];
            // Streams never fail the workout.
            match f.get(&format!("/api/v3/activities/{id}/streams"), &q).await {
                Ok(s) => map_streams(&s, w.start, w.zone.as_deref(), &mut out.samples),
                Err(FetchError::Unauthorized) => return Err(FetchError::Unauthorized),
                Err(e) => {
                    tracing::warn!(provider = "strava", activity = id, "streams skipped: {e}")
                }
            }
        }
        out.workouts.push(w);
    }
    Ok(out)
}

/// One page of the athlete's activities as Strava answers it (vendor pass-through, #52):
/// `limit` per page, the page holding `offset`, the summary window when given.
pub async fn vendor_workouts(
    f: &Fetcher<'_>,
    opts: &super::VendorOptions,
) -> Result<Value, FetchError> {
    let size = opts.page_size(100);
    let mut q = vec![
        ("page", (opts.offset.max(0) / size + 1).to_string()),
        ("per_page", size.to_string()),
    ];
    if let Some(s) = opts.start {
        q.push(("after", (s.timestamp() - 1).to_string()));
    }
    if let Some(e) = opts.end {
        q.push(("before", e.timestamp().to_string()));
    }
    f.get_raw(ACTIVITIES, &q).await
}

/// The call that confirms an athlete deauthorization event: refused (401) once the athlete
/// has withdrawn access.
pub const ACCOUNT_PROBE: &str = "/api/v3/athlete";

/// An activity's detail path (a delete event is confirmed when it answers 404).
pub fn activity_path(id: &str) -> String {
    format!("/api/v3/activities/{}", super::path_segment(id))
}

/// One activity by id (vendor pass-through, #53).
pub async fn vendor_workout(f: &Fetcher<'_>, id: &str) -> Result<Value, FetchError> {
    f.get_raw(&activity_path(id), &[]).await
}

/// Deauthorizes the access token (`POST /oauth/deauthorize`): Strava stops sharing the
/// athlete's data with us and invalidates every token of the grant.
pub async fn deregister(f: &Fetcher<'_>) -> Result<(), FetchError> {
    f.send(
        reqwest::Method::POST,
        DEAUTHORIZE,
        &[("access_token", f.token.to_string())],
        None,
    )
    .await
    .map(|_| ())
}

/// The window an activity event re-pulls: uploads arrive after the activity, so the two days
/// before the event and the day after it.
pub fn event_window(at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    (at - Duration::days(2), at + Duration::days(1))
}

/// When an event happened: its `event_time`, unless that is not a time Strava could send
/// (more than ten years back or a day ahead of `now`, where window arithmetic would also
/// overflow): then `now`.
fn event_time(t: i64, now: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(t, 0)
        .filter(|at| *at > now - Duration::days(3650) && *at < now + Duration::days(1))
        .unwrap_or(now)
}

/// `t` of `X-Strava-Signature: t=<unix>,v1=<hex>`.
fn signature_time(header: &str) -> Option<i64> {
    header.split(',').find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        (k.trim() == "t").then(|| v.trim().parse().ok()).flatten()
    })
}

fn challenge(req: &WebhookRequest<'_>) -> Result<WebhookReply, WebhookError> {
    if req.query.get("hub.mode").map(String::as_str) != Some("subscribe") {
        return Err(WebhookError::BadRequest("Invalid hub.mode".into()));
    }
    let expected = req.chosen_secret(crate::keys::STRAVA_VERIFY_TOKEN);
    let given = req.query.get("hub.verify_token").map_or("", String::as_str);
    if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return Err(WebhookError::Forbidden("Invalid verify token".into()));
    }
    let Some(c) = req.query.get("hub.challenge") else {
        return Err(WebhookError::BadRequest("Missing hub.challenge".into()));
    };
    Ok(WebhookReply::Respond(
        axum::http::StatusCode::OK,
        json!({"hub.challenge": c}),
    ))
}

/// A Strava event, validated against the reference's schema.
#[derive(Debug)]
struct Event {
    object_type: String,
    object_id: i64,
    aspect_type: String,
    updates: serde_json::Map<String, Value>,
    owner_id: i64,
    subscription_id: i64,
    event_time: i64,
}

fn parse_event(v: &Value) -> Option<Event> {
    let int = |k: &str| v.get(k).and_then(Value::as_i64);
    let one_of = |k: &str, allowed: &[&str]| {
        v.get(k)
            .and_then(Value::as_str)
            .filter(|s| allowed.contains(s))
            .map(str::to_string)
    };
    Some(Event {
        object_type: one_of("object_type", &["activity", "athlete"])?,
        object_id: int("object_id")?,
        aspect_type: one_of("aspect_type", &["create", "update", "delete"])?,
        updates: match v.get("updates") {
            None | Some(Value::Null) => serde_json::Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return None,
        },
        owner_id: int("owner_id")?,
        subscription_id: int("subscription_id")?,
        event_time: int("event_time")?,
    })
}

/// GET: the subscription challenge (`hub.mode`, `hub.verify_token`, `hub.challenge`).
/// POST: `X-Strava-Signature` must carry a timestamp within the tolerance (Strava signs
/// nothing we could verify, App. C #16), the body must match the event schema; activity
/// create → a sync window, update → `Replaced`, activity delete → `Deleted` (the workout whose external id
/// is the activity id), athlete deauthorization → `Deauthorized`, the rest is acknowledged and
/// ignored. With `STRAVA_WEBHOOK_SUBSCRIPTION_ID` set, events of another
/// subscription are ignored.
pub fn webhook(req: &WebhookRequest<'_>) -> Result<WebhookReply, WebhookError> {
    if req.method == axum::http::Method::GET {
        return challenge(req);
    }
    let Some(t) = req.header("x-strava-signature").and_then(signature_time) else {
        return Err(WebhookError::bad_signature());
    };
    let tolerance = req
        .settings
        .get("STRAVA_WEBHOOK_SIGNATURE_TOLERANCE_SECONDS")
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(DEFAULT_TOLERANCE_SECONDS);
    if (req.now.timestamp() - t).abs() > tolerance {
        return Err(WebhookError::bad_signature());
    }
    let v = req.json()?;
    if !v.is_object() {
        return Err(WebhookError::BadRequest(
            "Invalid payload: the body must be a JSON object".into(),
        ));
    }
    let Some(e) = parse_event(&v) else {
        return Err(WebhookError::BadRequest("Invalid JSON body".into()));
    };
    if let Some(expected) = req
        .settings
        .get("STRAVA_WEBHOOK_SUBSCRIPTION_ID")
        .and_then(|s| s.trim().parse::<i64>().ok())
        && expected != e.subscription_id
    {
        tracing::warn!(
            provider = "strava",
            subscription = e.subscription_id,
            "event of a foreign subscription ignored"
        );
        return Ok(WebhookReply::Accept(Vec::new()));
    }
    let owner = e.owner_id.to_string();
    let events = match (e.object_type.as_str(), e.aspect_type.as_str()) {
        ("athlete", aspect) => {
            let revoked = match e.updates.get("authorized") {
                Some(Value::String(s)) => s.eq_ignore_ascii_case("false"),
                Some(Value::Bool(b)) => !b,
                _ => false,
            };
            if revoked || aspect == "delete" {
                vec![WebhookEvent::Deauthorized {
                    provider_user_id: owner,
                }]
            } else {
                Vec::new()
            }
        }
        ("activity", "create") => {
            let at = event_time(e.event_time, req.now);
            let (start, end) = event_window(at);
            vec![WebhookEvent::Sync {
                provider_user_id: owner,
                start,
                end,
            }]
        }
        // An edited activity replaces the stored workout (App. C #17): the stored one is
        // dropped and the days around it pulled again.
        ("activity", "update") => {
            let at = event_time(e.event_time, req.now);
            let (start, end) = event_window(at);
            vec![WebhookEvent::Replaced {
                provider_user_id: owner,
                category: "workout".into(),
                external_id: e.object_id.to_string(),
                start,
                end,
            }]
        }
        // The activity id is the workout's external id (`id` of the pulled activity).
        ("activity", "delete") => vec![WebhookEvent::Deleted {
            provider_user_id: owner,
            category: "workout".into(),
            external_id: e.object_id.to_string(),
        }],
        (_, aspect) => {
            tracing::info!(
                provider = "strava",
                activity = e.object_id,
                aspect,
                "activity event ignored"
            );
            Vec::new()
        }
    };
    Ok(WebhookReply::Accept(events))
}

/// The push subscription collection (one subscription per application).
pub const PUSH_SUBSCRIPTIONS: &str = "/api/v3/push_subscriptions";

/// One app-level call with the client credentials (query for GET/DELETE, form for POST).
/// The callback Strava is registered with: our Strava webhook URL with this installation's
/// URL secret as its last segment (Strava signs nothing; the secret authenticates its calls,
/// and Strava appends its `?hub.*` challenge query to it). Any other URL is a 400.
fn secret_callback(ctx: &SubscriptionCtx<'_>, callback: &str) -> Result<String, SubscriptionError> {
    let secret = ctx.url_secret("strava");
    let path = callback.split_once('?').map_or(callback, |(p, _)| p);
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(&format!("/{secret}")).unwrap_or(path);
    // Only our own origin: the registration hands Strava the verify token and the URL
    // secret, and Strava sends both to this URL.
    let ours = format!(
        "{}/api/v1/providers/strava/webhooks",
        ctx.api_base.trim_end_matches('/')
    );
    if callback.contains('?') || path != ours {
        return Err(SubscriptionError::Config(
            "callback_url must be this API's Strava webhook URL, <API_BASE_URL>/api/v1/providers/strava/webhooks (the webhook URL secret is appended to it)".into(),
        ));
    }
    Ok(crate::keys::with_url_secret(path, &secret))
}

async fn strava_call(
    ctx: &SubscriptionCtx<'_>,
    method: reqwest::Method,
    path: &str,
    form: &[(&str, &str)],
) -> Result<Value, SubscriptionError> {
    let creds = [
        ("client_id", ctx.client.client_id.as_str()),
        ("client_secret", ctx.client.client_secret.as_str()),
    ];
    let req = if method == reqwest::Method::POST {
        let mut all = creds.to_vec();
        all.extend_from_slice(form);
        ctx.http.request(method, ctx.url(path)).form(&all)
    } else {
        let qs = serde_urlencoded::to_string(creds)
            .map_err(|e| SubscriptionError::Config(e.to_string()))?;
        ctx.http.request(method, format!("{}?{qs}", ctx.url(path)))
    };
    let (status, v, text) = ctx.send(req, &format!("Strava {path}")).await?;
    if !(200..300).contains(&status) {
        return Err(SubscriptionError::Upstream(format!(
            "Strava {path}: HTTP {status} {}",
            text.chars().take(300).collect::<String>()
        )));
    }
    Ok(v)
}

fn subscription_id(v: &Value) -> String {
    id_text(v.get("id")).unwrap_or_default()
}

/// Webhook subscription management (api.md §15.3): list, register (same URL → `skipped`,
/// another URL → the old one is deleted, then ours created; Strava verifies it with the GET
/// challenge before answering) and delete. Strava has no renew, get or update.
pub async fn subscriptions(
    ctx: &SubscriptionCtx<'_>,
    op: SubscriptionOp,
) -> Result<SubscriptionResult, SubscriptionError> {
    match op {
        SubscriptionOp::List => {
            let v = strava_call(ctx, reqwest::Method::GET, PUSH_SUBSCRIPTIONS, &[]).await?;
            Ok(SubscriptionResult::of(match v {
                Value::Array(a) => Value::Array(a),
                _ => Value::Array(Vec::new()),
            }))
        }
        SubscriptionOp::Register { callback_url } => {
            let callback_url = secret_callback(ctx, &callback_url)?;
            let existing = strava_call(ctx, reqwest::Method::GET, PUSH_SUBSCRIPTIONS, &[]).await?;
            let existing = existing.as_array().cloned().unwrap_or_default();
            if let Some(same) = existing
                .iter()
                .find(|s| s.get("callback_url").and_then(Value::as_str) == Some(&callback_url))
            {
                let id = subscription_id(same);
                return Ok(SubscriptionResult::of(json!({
                    "subscription_id": id, "status": "skipped", "callback_url": callback_url
                })));
            }
            for old in &existing {
                let id = subscription_id(old);
                strava_call(
                    ctx,
                    reqwest::Method::DELETE,
                    &format!("{PUSH_SUBSCRIPTIONS}/{id}"),
                    &[],
                )
                .await?;
            }
            let token = ctx.chosen_secret(crate::keys::STRAVA_VERIFY_TOKEN);
            let v = strava_call(
                ctx,
                reqwest::Method::POST,
                PUSH_SUBSCRIPTIONS,
                &[("callback_url", &callback_url), ("verify_token", &token)],
            )
            .await?;
            Ok(SubscriptionResult::of(json!({
                "subscription_id": subscription_id(&v), "status": "created", "callback_url": callback_url
            })))
        }
        SubscriptionOp::Delete { id } => {
            let r = strava_call(
                ctx,
                reqwest::Method::DELETE,
                &format!("{PUSH_SUBSCRIPTIONS}/{id}"),
                &[],
            )
            .await;
            Ok(SubscriptionResult::of(match r {
                Ok(_) => op_status(&id, "deleted", None),
                Err(e) => op_status(&id, "error", Some(e.to_string())),
            }))
        }
        other => Err(SubscriptionError::NotSupported(format!(
            "Strava does not support the '{}' subscription operation",
            other.name()
        ))),
    }
}

/// The Strava integration.
pub struct Strava;

#[async_trait::async_trait]
impl super::Integration for Strava {
    fn provider(&self) -> Provider {
        Provider::Strava
    }

    fn probe(&self, event: &WebhookEvent) -> Option<super::webhook::Probe> {
        use super::webhook::Probe;
        match event {
            WebhookEvent::Deauthorized { .. } => Some(Probe::Account(ACCOUNT_PROBE)),
            WebhookEvent::Deleted { external_id, .. } => {
                Some(Probe::Record(activity_path(external_id)))
            }
            WebhookEvent::Replaced { external_id, .. } => {
                Some(Probe::Current(activity_path(external_id)))
            }
            _ => None,
        }
    }

    fn user_info_endpoint(&self) -> Option<super::UserInfoEndpoint> {
        Some(super::UserInfoEndpoint {
            path: "/api/v3/athlete",
            id: "/id",
            username: Some("/username"),
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
    use std::collections::HashMap;

    use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};

    const ACTIVITY: &str = r#"{"id":11562233098,"name":"Morning Gravel","type":"Ride","sport_type":"GravelRide",
 "start_date":"2024-06-02T05:48:11Z","start_date_local":"2024-06-02T07:48:11Z","timezone":"(GMT+01:00) Europe/Warsaw",
 "utc_offset":7200.0,"elapsed_time":6412,"moving_time":5980,"distance":48231.6,"total_elevation_gain":521.0,
 "elev_high":412.6,"elev_low":188.2,"average_speed":8.07,"max_speed":15.3,"average_heartrate":137.4,
 "max_heartrate":172.0,"has_heartrate":true,"average_watts":171.3,"max_watts":688,"kilojoules":1024.6,
 "device_watts":true,"device_name":"Garmin Edge 540","trainer":false,"commute":false,"manual":false,
 "athlete":{"id":73014522}}"#;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").to_utc()
    }

    #[test]
    fn an_activity_maps_to_a_workout() {
        let v: Value = serde_json::from_str(ACTIVITY).expect("json");
        let w = map_activity(&v).expect("workout");
        assert_eq!(w.workout_type.as_deref(), Some("cycling"));
        assert_eq!(w.external_id.as_deref(), Some("11562233098"));
        assert_eq!(w.start, utc("2024-06-02T05:48:11Z"));
        assert_eq!(w.end, utc("2024-06-02T05:48:11Z") + Duration::seconds(6412));
        assert_eq!(w.zone.as_deref(), Some("+02:00"));
        let d = &w.details;
        assert!(
            (d.energy_burned - 1024.6 * 0.239006).abs() < 1e-9,
            "kJ → kcal"
        );
        assert_eq!(
            (d.distance, d.heart_rate_avg, d.heart_rate_max),
            (Some(48231.6), Some(137.4), Some(172))
        );
        assert_eq!(
            (d.average_speed, d.max_speed, d.average_watts),
            (Some(8.07), Some(15.3), Some(171.3))
        );
        assert_eq!(
            (d.total_elevation_gain, d.elev_high, d.elev_low),
            (Some(521.0), Some(412.6), Some(188.2))
        );
    }

    #[test]
    fn calories_win_over_kilojoules_and_types_fall_back() {
        let mut v: Value = serde_json::from_str(ACTIVITY).expect("json");
        v["calories"] = json!(1105.0);
        v["sport_type"] = json!("SomethingNew");
        v["utc_offset"] = json!(-16200.0);
        let w = map_activity(&v).expect("workout");
        assert_eq!(w.details.energy_burned, 1105.0);
        assert_eq!(
            w.workout_type.as_deref(),
            Some("cycling"),
            "legacy type Ride"
        );
        assert_eq!(w.zone.as_deref(), Some("-04:30"));
        v["type"] = json!("Unknown");
        v["calories"] = json!(0.0);
        v.as_object_mut().expect("object").remove("kilojoules");
        let w = map_activity(&v).expect("workout");
        assert_eq!(w.workout_type.as_deref(), Some("other"));
        assert_eq!(w.details.energy_burned, 0.0);
    }

    #[test]
    fn the_type_table_is_exact() {
        assert_eq!(workout_type("TrailRun"), WorkoutType::TrailRunning);
        assert_eq!(workout_type("EMountainBikeRide"), WorkoutType::EBiking);
        assert_eq!(workout_type("VirtualRow"), WorkoutType::RowingMachine);
        assert_eq!(
            workout_type("HighIntensityIntervalTraining"),
            WorkoutType::CardioTraining
        );
        assert_eq!(workout_type("Workout"), WorkoutType::Generic);
        assert_eq!(workout_type("run"), WorkoutType::Other, "exact case");
    }

    #[test]
    fn streams_become_samples_at_their_offsets() {
        let s = json!({"time":{"data":[0,1,2,3],"series_type":"distance","original_size":4,"resolution":"high"},
            "heartrate":{"data":[118,121,125,127]},"velocity_smooth":{"data":[0.0,4.1,6.3,7.0]},"watts":{"data":[0,145,188,201]}});
        let start = utc("2024-06-02T05:48:11Z");
        let mut out = Vec::new();
        map_streams(&s, start, Some("+02:00"), &mut out);
        assert_eq!(out.len(), 12);
        let hr: Vec<(i64, f64)> = out
            .iter()
            .filter(|p| p.series == SeriesType::HeartRate)
            .map(|p| ((p.at - start).num_seconds(), p.value))
            .collect();
        assert_eq!(hr, vec![(0, 118.0), (1, 121.0), (2, 125.0), (3, 127.0)]);
        assert!(
            out.iter()
                .any(|p| p.series == SeriesType::Power && p.value == 201.0)
        );
        assert!(
            out.iter()
                .any(|p| p.series == SeriesType::Speed && p.value == 6.3)
        );
    }

    struct Call {
        method: Method,
        query: HashMap<String, String>,
        headers: HeaderMap,
        body: String,
        settings: HashMap<String, String>,
    }

    const NOW: i64 = 1_717_308_700;
    const CREATE: &str = r#"{"object_type":"activity","object_id":11562233098,"aspect_type":"create","updates":{},"owner_id":73014522,"subscription_id":260114,"event_time":1717308600}"#;
    const DEAUTH: &str = r#"{"object_type":"athlete","object_id":73014522,"aspect_type":"update","updates":{"authorized":"false"},"owner_id":73014522,"subscription_id":260114,"event_time":1717310000}"#;

    fn post(body: &str, t: Option<i64>) -> Call {
        let mut headers = HeaderMap::new();
        if let Some(t) = t {
            headers.insert(
                "x-strava-signature",
                HeaderValue::from_str(&format!("t={t},v1=00ff")).expect("h"),
            );
        }
        Call {
            method: Method::POST,
            query: HashMap::new(),
            headers,
            body: body.to_string(),
            settings: HashMap::new(),
        }
    }

    fn run(c: &Call) -> Result<WebhookReply, WebhookError> {
        webhook(&WebhookRequest {
            method: &c.method,
            query: &c.query,
            headers: &c.headers,
            body: c.body.as_bytes(),
            now: DateTime::<Utc>::from_timestamp(NOW, 0).expect("now"),
            client: None,
            settings: &c.settings,
            secret_key: "the-secret-key-0123",
        })
    }

    fn status(c: &Call) -> Option<u16> {
        run(c).err().map(|e| e.status().as_u16())
    }

    #[test]
    fn the_challenge_answers_exact_codes() {
        let get = |pairs: &[(&str, &str)]| Call {
            method: Method::GET,
            query: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            headers: HeaderMap::new(),
            body: String::new(),
            settings: HashMap::new(),
        };
        // The token is derived from SECRET_KEY; SECRET_KEY itself is refused.
        let derived = crate::keys::derive(
            "the-secret-key-0123",
            crate::keys::STRAVA_VERIFY_TOKEN.label,
        );
        let root = get(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", "the-secret-key-0123"),
            ("hub.challenge", "x"),
        ]);
        assert_eq!(status(&root), Some(403));
        let ok = get(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", &derived),
            ("hub.challenge", "15f7d1a91c1f40f8a748fd134752feb3"),
        ]);
        match run(&ok) {
            Ok(WebhookReply::Respond(StatusCode::OK, body)) => assert_eq!(
                body,
                json!({"hub.challenge": "15f7d1a91c1f40f8a748fd134752feb3"})
            ),
            other => panic!("{other:?}"),
        }
        let wrong_mode = get(&[
            ("hub.mode", "unsubscribe"),
            ("hub.verify_token", &derived),
            ("hub.challenge", "x"),
        ]);
        let e = run(&wrong_mode).expect_err("400");
        assert_eq!(
            (e.status().as_u16(), e.to_string().as_str()),
            (400, "Invalid hub.mode")
        );
        let wrong_token = get(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", "guess"),
            ("hub.challenge", "x"),
        ]);
        let e = run(&wrong_token).expect_err("403");
        assert_eq!(
            (e.status().as_u16(), e.to_string().as_str()),
            (403, "Invalid verify token")
        );
        let mut configured = get(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", "mine"),
            ("hub.challenge", "x"),
        ]);
        configured
            .settings
            .insert("STRAVA_WEBHOOK_VERIFY_TOKEN".into(), "mine".into());
        assert!(run(&configured).is_ok());
    }

    #[test]
    fn an_activity_event_becomes_a_sync_window() {
        let Ok(WebhookReply::Accept(events)) = run(&post(CREATE, Some(NOW - 5))) else {
            panic!("accepted");
        };
        let at = DateTime::<Utc>::from_timestamp(1_717_308_600, 0).expect("t");
        assert_eq!(
            events,
            vec![WebhookEvent::Sync {
                provider_user_id: "73014522".into(),
                start: at - Duration::days(2),
                end: at + Duration::days(1),
            }]
        );
    }

    #[test]
    fn an_athlete_deauthorization_revokes() {
        let Ok(WebhookReply::Accept(events)) = run(&post(DEAUTH, Some(NOW))) else {
            panic!("accepted");
        };
        assert_eq!(
            events,
            vec![WebhookEvent::Deauthorized {
                provider_user_id: "73014522".into()
            }]
        );
        let other = DEAUTH.replace(r#"{"authorized":"false"}"#, r#"{"title":"x"}"#);
        assert!(matches!(
            run(&post(&other, Some(NOW))),
            Ok(WebhookReply::Accept(e)) if e.is_empty()
        ));
    }

    #[test]
    fn an_activity_deletion_names_the_pulled_workout() {
        let deleted = CREATE.replace("\"create\"", "\"delete\"");
        let Ok(WebhookReply::Accept(events)) = run(&post(&deleted, Some(NOW))) else {
            panic!("accepted");
        };
        // The id the pull stored as the workout's external id.
        let pulled = map_activity(&json!({"id": 11562233098i64, "sport_type": "Ride",
            "start_date": "2024-06-02T05:48:11Z", "elapsed_time": 60}))
        .and_then(|w| w.external_id)
        .expect("external id");
        assert_eq!(
            events,
            vec![WebhookEvent::Deleted {
                provider_user_id: "73014522".into(),
                category: "workout".into(),
                external_id: pulled,
            }]
        );
    }

    #[test]
    fn absurd_event_times_fall_back_to_now() {
        let now = Utc::now();
        for t in [i64::MAX, i64::MIN, 8_210_266_876_799, -8_334_601_228_800, 0] {
            assert_eq!(event_time(t, now), now, "{t}");
        }
        let recent = now.timestamp() - 3_600;
        assert_eq!(event_time(recent, now).timestamp(), recent);
    }

    #[test]
    fn missing_or_stale_signatures_are_refused() {
        assert_eq!(status(&post(CREATE, None)), Some(401));
        assert_eq!(status(&post(CREATE, Some(NOW - 301))), Some(401));
        assert_eq!(status(&post(CREATE, Some(NOW + 301))), Some(401));
        let mut garbled = post(CREATE, None);
        garbled
            .headers
            .insert("x-strava-signature", HeaderValue::from_static("v1=abcd"));
        assert_eq!(status(&garbled), Some(401));
        let mut tolerant = post(CREATE, Some(NOW - 900));
        tolerant.settings.insert(
            "STRAVA_WEBHOOK_SIGNATURE_TOLERANCE_SECONDS".into(),
            "1000".into(),
        );
        assert!(run(&tolerant).is_ok());
    }

    #[test]
    fn the_schema_is_enforced_and_foreign_subscriptions_ignored() {
        let bad_type = CREATE.replace("\"activity\"", "\"club\"");
        assert_eq!(status(&post(&bad_type, Some(NOW))), Some(400));
        let no_owner = CREATE.replace("\"owner_id\":73014522,", "");
        assert_eq!(status(&post(&no_owner, Some(NOW))), Some(400));
        let no_updates = CREATE.replace("\"updates\":{},", "");
        assert!(
            run(&post(&no_updates, Some(NOW))).is_ok(),
            "updates is optional"
        );
        assert_eq!(status(&post("nope", Some(NOW))), Some(400));
        assert_eq!(status(&post("[]", Some(NOW))), Some(400));
        let mut foreign = post(CREATE, Some(NOW));
        foreign
            .settings
            .insert("STRAVA_WEBHOOK_SUBSCRIPTION_ID".into(), "999".into());
        assert!(matches!(run(&foreign), Ok(WebhookReply::Accept(e)) if e.is_empty()));
    }
}

//! Fake Google Health API (providers.md §4.8): Google-style OAuth (`/o/oauth2/v2/auth` wants
//! `access_type=offline` and `prompt=consent`; `/token` takes body credentials only and omits
//! `refresh_token` on refresh), `/v4/users/me/identity`, `/oauth2/v3/userinfo`, and per data
//! type the three operations `dataPoints` (list), `dataPoints:reconcile` and
//! `dataPoints:rollUp` with AIP-160 filters, `pageToken` paging and rollUp range caps (400
//! past 14/90 days), plus exercise and sleep session lists. Webhooks carry
//! `Authorization: Bearer <secret>`. The project's subscribers
//! (`/v4/projects/{PROJECT_NUMBER}/subscribers`) want a service-account token: `/token`
//! grants one for an RS256 JWT assertion signed by the test key pair under `testdata/`, and
//! creating or re-pointing a subscriber first runs Google's endpoint verification.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Value, json};

use crate::core::{Fake, Profile, no_extra, opaque_token, post_webhook};

/// The user's `healthUserId`.
pub const ACCOUNT_ID: &str = "118204457739201845521";
/// The account's e-mail (OpenID user info).
pub const EMAIL: &str = "ada.lovelace@example.com";
/// The bearer secret this fake's webhooks carry when no subscriber was registered with one:
/// configure our app with `GOOGLE_WEBHOOK_SECRET` set to it (see [`app_settings`]).
pub const WEBHOOK_SECRET: &str = "google-fake-webhook-secret-5b7e19c0";
/// The collection naming data types whose scope the user did not grant: calls on them answer
/// 403 `PERMISSION_DENIED` (`fake.add_item(DENIED, json!("sleep"))`).
pub const DENIED: &str = "_denied";
/// Most items one page holds whatever `pageSize` asks (Google may return fewer than asked;
/// a small page makes clients follow `nextPageToken`).
pub const PAGE_CAP: usize = 3;

pub fn profile() -> Profile {
    Profile {
        provider: "google",
        account_id: ACCOUNT_ID,
        routes,
        seed,
        token_extra: no_extra,
        access_token: opaque_token,
        webhooks: &["exercise", "sleep", "verification"],
        send_webhook: Some(send_webhook),
    }
}

fn routes() -> Router<Fake> {
    // Authorize and token are Google's own: both wrap the shared OAuth core.
    Router::new()
        .route("/o/oauth2/v2/auth", get(authorize))
        .route("/token", post(token))
        .route("/v4/users/me/identity", get(identity))
        .route("/oauth2/v3/userinfo", get(userinfo))
        .route(
            "/v4/users/me/dataTypes/{data_type}/{op}",
            get(list_points).post(roll_up),
        )
        .route(
            "/v4/users/me/dataTypes/{data_type}/dataPoints/{id}",
            get(get_point),
        )
        .route(
            "/v4/projects/{project}/subscribers",
            get(list_subscribers).post(create_subscriber),
        )
        .route(
            "/v4/projects/{project}/subscribers/{id}",
            get(get_subscriber)
                .delete(delete_subscriber)
                .patch(patch_subscriber),
        )
}

// ---------------------------------------------------------------------------------------------
// Data types
// ---------------------------------------------------------------------------------------------

/// Where a point keeps its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Interval,
    Sample,
    Date,
    Exercise,
    Sleep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Agg {
    Sum,
    Avg,
}

/// One data type the fake serves.
struct Kind {
    data_type: &'static str,
    value_key: &'static str,
    shape: Shape,
    /// The list operation is offered.
    list: bool,
    /// rollUp: (point field, rollup field, aggregation, max range days, int64 as string).
    rollup: Option<(&'static str, &'static str, Agg, i64, bool)>,
}

const fn kind(
    data_type: &'static str,
    value_key: &'static str,
    shape: Shape,
    list: bool,
    rollup: Option<(&'static str, &'static str, Agg, i64, bool)>,
) -> Kind {
    Kind {
        data_type,
        value_key,
        shape,
        list,
        rollup,
    }
}

const KINDS: [Kind; 16] = [
    kind(
        "steps",
        "steps",
        Shape::Interval,
        true,
        Some(("count", "countSum", Agg::Sum, 90, true)),
    ),
    kind(
        "distance",
        "distance",
        Shape::Interval,
        true,
        Some(("millimeters", "millimetersSum", Agg::Sum, 90, true)),
    ),
    kind(
        "total-calories",
        "totalCalories",
        Shape::Interval,
        false,
        Some(("kcal", "kcalSum", Agg::Sum, 14, false)),
    ),
    kind(
        "hydration-log",
        "hydrationLog",
        Shape::Interval,
        true,
        Some((
            "amountConsumed.milliliters",
            "amountConsumed.millilitersSum",
            Agg::Sum,
            90,
            false,
        )),
    ),
    kind(
        "heart-rate",
        "heartRate",
        Shape::Sample,
        true,
        Some(("beatsPerMinute", "beatsPerMinuteAvg", Agg::Avg, 14, false)),
    ),
    kind(
        "run-vo2-max",
        "runVo2Max",
        Shape::Sample,
        true,
        Some(("runVo2Max", "rateAvg", Agg::Avg, 90, false)),
    ),
    kind(
        "daily-resting-heart-rate",
        "dailyRestingHeartRate",
        Shape::Date,
        true,
        None,
    ),
    kind(
        "heart-rate-variability",
        "heartRateVariability",
        Shape::Sample,
        true,
        None,
    ),
    kind(
        "weight",
        "weight",
        Shape::Sample,
        true,
        Some(("weightGrams", "weightGramsAvg", Agg::Avg, 90, false)),
    ),
    kind(
        "body-fat",
        "bodyFat",
        Shape::Sample,
        true,
        Some(("percentage", "bodyFatPercentageAvg", Agg::Avg, 90, false)),
    ),
    kind(
        "core-body-temperature",
        "coreBodyTemperature",
        Shape::Sample,
        true,
        Some(("celsius", "temperatureCelsiusAvg", Agg::Avg, 90, false)),
    ),
    kind(
        "blood-glucose",
        "bloodGlucose",
        Shape::Sample,
        true,
        Some((
            "bloodGlucoseMilligramsPerDeciliter",
            "bloodGlucoseMilligramsPerDeciliterAvg",
            Agg::Avg,
            90,
            false,
        )),
    ),
    kind(
        "daily-respiratory-rate",
        "dailyRespiratoryRate",
        Shape::Date,
        true,
        None,
    ),
    kind(
        "oxygen-saturation",
        "oxygenSaturation",
        Shape::Sample,
        true,
        None,
    ),
    kind("exercise", "exercise", Shape::Exercise, true, None),
    kind("sleep", "sleep", Shape::Sleep, true, None),
];

fn find_kind(data_type: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.data_type == data_type)
}

/// 403 when the user did not grant the data type's scope.
fn denied(fake: &Fake, data_type: &str) -> Option<Response> {
    fake.items(DENIED)
        .iter()
        .any(|d| d.as_str() == Some(data_type))
        .then(|| {
            (
                StatusCode::FORBIDDEN,
                axum::Json(json!({"error": {"code": 403, "status": "PERMISSION_DENIED",
                    "message": format!("The caller does not have access to {data_type}")}})),
            )
                .into_response()
        })
}

// ---------------------------------------------------------------------------------------------
// Dataset
// ---------------------------------------------------------------------------------------------

fn source() -> Value {
    json!({"platform": "FITBIT", "device": {"displayName": "Pixel Watch 2"}})
}

fn interval_point(kind: &str, key: &str, id: &str, start: &str, end: &str, value: Value) -> Value {
    let mut obj = json!({"interval": {"startTime": start, "endTime": end, "startUtcOffset": "7200s", "endUtcOffset": "7200s"}});
    if let (Some(o), Value::Object(v)) = (obj.as_object_mut(), value) {
        o.extend(v);
    }
    json!({"name": format!("users/me/dataTypes/{kind}/dataPoints/{id}"), "dataSource": source(), key: obj})
}

fn sample_point(kind: &str, key: &str, id: &str, at: &str, value: Value) -> Value {
    let mut obj = json!({"sampleTime": {"physicalTime": at, "utcOffset": "7200s"}});
    if let (Some(o), Value::Object(v)) = (obj.as_object_mut(), value) {
        o.extend(v);
    }
    json!({"name": format!("users/me/dataTypes/{kind}/dataPoints/{id}"), "dataSource": source(), key: obj})
}

fn date_point(kind: &str, key: &str, id: &str, d: NaiveDate, value: Value) -> Value {
    use chrono::Datelike;
    let mut obj = json!({"date": {"year": d.year(), "month": d.month(), "day": d.day()}});
    if let (Some(o), Value::Object(v)) = (obj.as_object_mut(), value) {
        o.extend(v);
    }
    json!({"name": format!("users/me/dataTypes/{kind}/dataPoints/{id}"), "dataSource": source(), key: obj})
}

/// An exercise session point.
pub fn exercise_point(id: &str, kind: &str, start: &str, end: &str, summary: Value) -> Value {
    json!({"name": format!("users/me/dataTypes/exercise/dataPoints/{id}"),
        "dataSource": {"platform": "HEALTH_CONNECT", "device": {"manufacturer": "Samsung", "formFactor": "WATCH"}},
        "exercise": {"exerciseType": kind, "displayName": kind.to_lowercase(),
            "interval": {"startTime": start, "endTime": end, "startUtcOffset": "7200s", "endUtcOffset": "7200s"},
            "activeDuration": "2490s", "metricsSummary": summary}})
}

/// A sleep session point: `stages` are `(type, start, end)`; the summary is computed from them.
pub fn sleep_point(id: &str, start: &str, end: &str, stages: &[(&str, &str, &str)]) -> Value {
    let parse = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.to_utc())
            .unwrap_or_default()
    };
    let mut minutes: Vec<(&str, i64)> = Vec::new();
    for (kind, s, e) in stages {
        let m = (parse(e) - parse(s)).num_minutes();
        match minutes.iter_mut().find(|(k, _)| k == kind) {
            Some((_, total)) => *total += m,
            None => minutes.push((kind, m)),
        }
    }
    let of = |k: &str| minutes.iter().find(|(x, _)| *x == k).map_or(0, |(_, m)| *m);
    let in_period = (parse(end) - parse(start)).num_minutes();
    let awake = of("AWAKE");
    json!({"name": format!("users/me/dataTypes/sleep/dataPoints/{id}"), "dataSource": {"platform": "FITBIT"},
        "sleep": {"interval": {"startTime": start, "endTime": end, "startUtcOffset": "7200s", "endUtcOffset": "7200s"},
            "type": "STAGES", "metadata": {"nap": false, "stagesStatus": "SUCCEEDED"},
            "summary": {"minutesInSleepPeriod": in_period, "minutesAsleep": in_period - awake, "minutesAwake": awake,
                "stagesSummary": minutes.iter().map(|(k, m)| json!({"type": k, "minutes": m})).collect::<Vec<_>>()},
            "stages": stages.iter().map(|(k, s, e)| json!({"type": k, "startTime": s, "endTime": e})).collect::<Vec<_>>()}})
}

/// A day of every data type on the anchor day (and a little on the day after): steps,
/// distance, calories, hydration, heart rate, VO2max, resting HR, HRV, weight, body fat,
/// core temperature, glucose, respiratory rate, SpO2, one run, one strength session and the
/// night before the anchor day.
pub fn seed(anchor: NaiveDate) -> HashMap<String, Vec<Value>> {
    let d = anchor.format("%Y-%m-%d").to_string();
    let d1 = (anchor + Duration::days(1)).format("%Y-%m-%d").to_string();
    let prev = (anchor - Duration::days(1)).format("%Y-%m-%d").to_string();
    let at = |day: &str, hms: &str| format!("{day}T{hms}Z");
    let mut m: HashMap<String, Vec<Value>> = HashMap::new();
    let mut put = |k: &str, v: Vec<Value>| {
        m.insert(k.to_string(), v);
    };
    let iv = |kind: &str, key: &str, id: &str, day: &str, s: &str, e: &str, v: Value| {
        interval_point(kind, key, id, &at(day, s), &at(day, e), v)
    };
    put(
        "steps",
        vec![
            iv(
                "steps",
                "steps",
                "st-1",
                &d,
                "08:00:00",
                "09:00:00",
                json!({"count": "1184"}),
            ),
            iv(
                "steps",
                "steps",
                "st-2",
                &d,
                "09:00:00",
                "10:00:00",
                json!({"count": "402"}),
            ),
            iv(
                "steps",
                "steps",
                "st-3",
                &d,
                "17:00:00",
                "18:00:00",
                json!({"count": "2210"}),
            ),
            iv(
                "steps",
                "steps",
                "st-4",
                &d1,
                "08:00:00",
                "09:00:00",
                json!({"count": "950"}),
            ),
        ],
    );
    put(
        "distance",
        vec![
            iv(
                "distance",
                "distance",
                "di-1",
                &d,
                "08:00:00",
                "09:00:00",
                json!({"millimeters": "905000"}),
            ),
            iv(
                "distance",
                "distance",
                "di-2",
                &d,
                "17:00:00",
                "18:00:00",
                json!({"millimeters": "1710000"}),
            ),
        ],
    );
    put(
        "total-calories",
        vec![
            iv(
                "total-calories",
                "totalCalories",
                "tc-1",
                &d,
                "08:00:00",
                "09:00:00",
                json!({"kcal": 145.5}),
            ),
            iv(
                "total-calories",
                "totalCalories",
                "tc-2",
                &d,
                "09:00:00",
                "10:00:00",
                json!({"kcal": 98.25}),
            ),
            iv(
                "total-calories",
                "totalCalories",
                "tc-3",
                &d,
                "17:00:00",
                "18:00:00",
                json!({"kcal": 212.0}),
            ),
        ],
    );
    put(
        "hydration-log",
        vec![
            iv(
                "hydration-log",
                "hydrationLog",
                "hy-1",
                &d,
                "12:00:00",
                "12:00:30",
                json!({"amountConsumed": {"milliliters": 500, "userProvidedUnit": "MILLILITERS"}}),
            ),
            iv(
                "hydration-log",
                "hydrationLog",
                "hy-2",
                &d,
                "15:00:00",
                "15:00:30",
                json!({"amountConsumed": {"milliliters": 330, "userProvidedUnit": "MILLILITERS"}}),
            ),
        ],
    );
    let hr = |id: &str, day: &str, t: &str, bpm: &str| {
        sample_point(
            "heart-rate",
            "heartRate",
            id,
            &at(day, t),
            json!({"beatsPerMinute": bpm}),
        )
    };
    put(
        "heart-rate",
        vec![
            hr("hr-1", &d, "08:14:05", "88"),
            hr("hr-2", &d, "08:20:05", "92"),
            hr("hr-3", &d, "12:00:00", "71"),
            hr("hr-4", &d, "16:30:00", "141"),
            hr("hr-5", &d1, "07:00:00", "64"),
        ],
    );
    put(
        "run-vo2-max",
        vec![sample_point(
            "run-vo2-max",
            "runVo2Max",
            "vo-1",
            &at(&d, "16:45:00"),
            json!({"runVo2Max": 48.2}),
        )],
    );
    put(
        "daily-resting-heart-rate",
        vec![
            date_point(
                "daily-resting-heart-rate",
                "dailyRestingHeartRate",
                "rhr-1",
                anchor,
                json!({"beatsPerMinute": "57"}),
            ),
            date_point(
                "daily-resting-heart-rate",
                "dailyRestingHeartRate",
                "rhr-2",
                anchor + Duration::days(1),
                json!({"beatsPerMinute": "58"}),
            ),
        ],
    );
    put(
        "heart-rate-variability",
        vec![sample_point(
            "heart-rate-variability",
            "heartRateVariability",
            "hrv-1",
            &at(&d, "03:00:00"),
            json!({"rootMeanSquareOfSuccessiveDifferencesMilliseconds": 41.5, "standardDeviationMilliseconds": 55.2}),
        )],
    );
    put(
        "weight",
        vec![sample_point(
            "weight",
            "weight",
            "we-1",
            &at(&d, "06:30:00"),
            json!({"weightGrams": 72450}),
        )],
    );
    put(
        "body-fat",
        vec![sample_point(
            "body-fat",
            "bodyFat",
            "bf-1",
            &at(&d, "06:30:00"),
            json!({"percentage": 18.4}),
        )],
    );
    put(
        "core-body-temperature",
        vec![sample_point(
            "core-body-temperature",
            "coreBodyTemperature",
            "ct-1",
            &at(&d, "06:30:00"),
            json!({"celsius": 36.7, "measurementLocation": "MEASUREMENT_LOCATION_UNSPECIFIED"}),
        )],
    );
    put(
        "blood-glucose",
        vec![sample_point(
            "blood-glucose",
            "bloodGlucose",
            "bg-1",
            &at(&d, "07:15:00"),
            json!({"bloodGlucoseMilligramsPerDeciliter": 94}),
        )],
    );
    put(
        "daily-respiratory-rate",
        vec![date_point(
            "daily-respiratory-rate",
            "dailyRespiratoryRate",
            "rr-1",
            anchor,
            json!({"breathsPerMinute": 14.6}),
        )],
    );
    put(
        "oxygen-saturation",
        vec![sample_point(
            "oxygen-saturation",
            "oxygenSaturation",
            "ox-1",
            &at(&d, "04:00:00"),
            json!({"percentage": 96.5}),
        )],
    );
    put(
        "exercise",
        vec![
            exercise_point(
                "ex-0601",
                "RUNNING",
                &at(&d, "16:00:00"),
                &at(&d, "16:42:10"),
                json!({"caloriesKcal": 431.5, "distanceMillimeters": "7310000", "steps": "6890",
                    "averageSpeedMillimetersPerSecond": 2935, "averageHeartRateBeatsPerMinute": 152,
                    "elevationGainMillimeters": "48000", "mobilityMetrics": {"avgCadenceStepsPerMinute": 164}}),
            ),
            exercise_point(
                "ex-0602",
                "STRENGTH_TRAINING",
                &at(&d1, "18:00:00"),
                &at(&d1, "18:45:00"),
                json!({"caloriesKcal": 210, "averageHeartRateBeatsPerMinute": 118}),
            ),
        ],
    );
    put(
        "sleep",
        vec![sleep_point(
            "sl-0601",
            &at(&prev, "21:40:00"),
            &at(&d, "05:10:00"),
            &[
                ("LIGHT", &at(&prev, "21:40:00"), &at(&prev, "22:15:00")),
                ("DEEP", &at(&prev, "22:15:00"), &at(&prev, "23:26:00")),
                ("LIGHT", &at(&prev, "23:26:00"), &at(&d, "01:10:00")),
                ("REM", &at(&d, "01:10:00"), &at(&d, "02:52:00")),
                ("AWAKE", &at(&d, "02:52:00"), &at(&d, "03:30:00")),
                ("LIGHT", &at(&d, "03:30:00"), &at(&d, "05:10:00")),
            ],
        )],
    );
    m
}

// ---------------------------------------------------------------------------------------------
// OAuth
// ---------------------------------------------------------------------------------------------

fn bad_request(reason: &str, message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(
            json!({"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": message.into(),
            "details": [{"reason": reason}]}}),
        ),
    )
        .into_response()
}

/// Google's consent screen: offline access with a forced consent prompt, else 400.
async fn authorize(State(fake): State<Fake>, q: Query<HashMap<String, String>>) -> Response {
    if q.get("access_type").map(String::as_str) != Some("offline")
        || q.get("prompt").map(String::as_str) != Some("consent")
    {
        return (
            StatusCode::BAD_REQUEST,
            "access_type=offline and prompt=consent are required for a refresh token",
        )
            .into_response();
    }
    crate::core::authorize(State(fake), q).await
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// Google's token endpoint: client credentials in the form only; a refresh answers a new
/// access token without a new refresh token (the old one stays valid).
async fn token(State(fake): State<Fake>, headers: HeaderMap, body: String) -> Response {
    if headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Basic "))
    {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "send client_id and client_secret in the form",
        );
    }
    let form: HashMap<String, String> = serde_urlencoded::from_str(&body).unwrap_or_default();
    if form.get("grant_type").map(String::as_str) == Some(JWT_BEARER) {
        return service_account_token(&fake, &form);
    }
    if form.get("grant_type").map(String::as_str) != Some("refresh_token") {
        return crate::core::token(State(fake), headers, body).await;
    }
    let opts = fake.options();
    if form.get("client_id") != Some(&opts.client_id)
        || form.get("client_secret") != Some(&opts.client_secret)
    {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "bad client");
    }
    let refresh = form.get("refresh_token").cloned().unwrap_or_default();
    let ok = fake.with(|s| {
        let ok = !s.faults.revoked && s.refresh_tokens.contains(&refresh);
        if ok {
            s.refreshes += 1;
        }
        ok
    });
    if !ok {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Token has been expired or revoked.",
        );
    }
    let (access, unused_refresh) = fake.issue_tokens();
    fake.with(|s| s.refresh_tokens.remove(&unused_refresh));
    axum::Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": opts.expires_in,
        "scope": "https://www.googleapis.com/auth/googlehealth.activity_and_fitness.readonly",
    }))
    .into_response()
}

/// The service-account grant (a signed JWT assertion → a `cloud-platform` token).
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The collection holding issued service-account tokens.
const SA_TOKENS: &str = "_service_account_tokens";

/// The test service account's key file (a key pair generated for tests only; see
/// `testdata/README.md`): what our app is configured with as `GOOGLE_SERVICE_ACCOUNT_JSON`.
pub const SERVICE_ACCOUNT_JSON: &str =
    include_str!("../testdata/google-service-account-TEST-ONLY.json");
/// The same key file on disk (for `GOOGLE_SERVICE_ACCOUNT_FILE`).
pub const SERVICE_ACCOUNT_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/testdata/google-service-account-TEST-ONLY.json"
);
/// The test account's public key (PKCS#1 PEM): assertions must verify with it.
const SERVICE_ACCOUNT_PUBLIC_KEY: &str =
    include_str!("../testdata/google-service-account-TEST-ONLY.pub.pem");
/// The test service account (the assertion's issuer).
pub const SERVICE_ACCOUNT_EMAIL: &str =
    "open-wearables-test@open-wearables-fake.iam.gserviceaccount.com";
/// The test key's id (the assertion's `kid`, when sent).
pub const SERVICE_ACCOUNT_KEY_ID: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00fake00";
/// The audience of assertions: Google's token URI as the key file names it.
pub const TOKEN_AUDIENCE: &str = "https://oauth2.googleapis.com/token";
/// The project number the service account belongs to (`GOOGLE_PROJECT_ID`); subscribers of
/// other projects are refused with 403.
pub const PROJECT_NUMBER: &str = "123456789012";
/// The scope subscribers want.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// What our app must be configured with to manage this fake's subscribers.
pub fn app_settings() -> Vec<(&'static str, &'static str)> {
    vec![
        ("GOOGLE_PROJECT_ID", PROJECT_NUMBER),
        ("GOOGLE_SERVICE_ACCOUNT_JSON", SERVICE_ACCOUNT_JSON),
        // The bearer secret this fake's webhooks carry (the demo's SECRET_KEY is generated).
        ("GOOGLE_WEBHOOK_SECRET", WEBHOOK_SECRET),
    ]
}

/// The DER body of a one-block PEM.
fn pem_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let b64: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.trim().chars())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// Checks a service-account assertion as Google does: an RS256 JWT signed by the test
/// account's key, issued by that account for our token URI, asking `cloud-platform`, valid
/// now and for at most an hour. `Err` carries Google's kind of message.
pub fn verify_assertion(assertion: &str) -> Result<Value, String> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let header = jsonwebtoken::decode_header(assertion).map_err(|e| format!("Invalid JWT: {e}"))?;
    if header.alg != Algorithm::RS256 {
        return Err(format!("Invalid JWT: alg {:?} is not RS256", header.alg));
    }
    if header
        .kid
        .as_deref()
        .is_some_and(|k| k != SERVICE_ACCOUNT_KEY_ID)
    {
        return Err("Invalid JWT Signature.: unknown kid".into());
    }
    let der = pem_der(SERVICE_ACCOUNT_PUBLIC_KEY).ok_or("the test public key is unreadable")?;
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[TOKEN_AUDIENCE]);
    v.set_issuer(&[SERVICE_ACCOUNT_EMAIL]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
    v.leeway = 60;
    let claims = jsonwebtoken::decode::<Value>(assertion, &DecodingKey::from_rsa_der(&der), &v)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                "Invalid JWT Signature.".to_string()
            }
            _ => format!("Invalid JWT: {e}"),
        })?
        .claims;
    let (iat, exp) = (claims["iat"].as_i64(), claims["exp"].as_i64());
    if !matches!((iat, exp), (Some(i), Some(e)) if e > i && e - i <= 3600) {
        return Err("Invalid JWT: exp must be at most an hour after iat".into());
    }
    let scopes = claims["scope"].as_str().unwrap_or("");
    if !scopes.split(' ').any(|s| s == CLOUD_PLATFORM_SCOPE) {
        return Err(format!("Invalid OAuth scope: '{scopes}'"));
    }
    Ok(claims)
}

fn service_account_token(fake: &Fake, form: &HashMap<String, String>) -> Response {
    let assertion = form.get("assertion").map(String::as_str).unwrap_or("");
    if let Err(e) = verify_assertion(assertion) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", &e);
    }
    let n = fake.with(|s| s.items.get(SA_TOKENS).map_or(0, Vec::len)) + 1;
    let token = format!("google-service-account-{n}");
    fake.add_item(SA_TOKENS, json!(token));
    axum::Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": 3599}))
        .into_response()
}

async fn identity(State(fake): State<Fake>, uri: Uri, headers: HeaderMap) -> Response {
    crate::guard!(fake, uri, headers);
    axum::Json(
        json!({"name": "users/me/identity", "healthUserId": ACCOUNT_ID, "legacyUserId": "B7QX2K"}),
    )
    .into_response()
}

async fn userinfo(State(fake): State<Fake>, uri: Uri, headers: HeaderMap) -> Response {
    crate::guard!(fake, uri, headers);
    axum::Json(json!({"sub": "104467810392848218711", "email": EMAIL, "email_verified": true}))
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// Time keys and AIP-160 filters
// ---------------------------------------------------------------------------------------------

fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.to_utc())
}

fn offset_seconds(v: Option<&Value>) -> i64 {
    v.and_then(Value::as_str)
        .and_then(|s| s.trim_end_matches('s').parse::<f64>().ok())
        .map_or(0, |f| f as i64)
}

fn parse_civil(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

fn point_date(v: Option<&Value>) -> Option<NaiveDate> {
    let v = v?;
    let n = |k: &str| v.get(k).and_then(Value::as_i64);
    NaiveDate::from_ymd_opt(
        i32::try_from(n("year")?).ok()?,
        u32::try_from(n("month")?).ok()?,
        u32::try_from(n("day")?).ok()?,
    )
}

/// A comparable time of a point or a literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Instant(DateTime<Utc>),
    Civil(NaiveDateTime),
    Date(NaiveDate),
}

/// The filterable fields of a data type: field suffix → how to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    IntervalStart,
    IntervalCivilStart,
    IntervalEnd,
    IntervalCivilEnd,
    SampleTime,
    SampleCivilTime,
    Date,
}

fn fields(k: &Kind) -> &'static [(&'static str, Field)] {
    match k.shape {
        Shape::Interval => &[
            ("interval.start_time", Field::IntervalStart),
            ("interval.civil_start_time", Field::IntervalCivilStart),
        ],
        Shape::Sample => &[
            ("sample_time.physical_time", Field::SampleTime),
            ("sample_time.civil_time", Field::SampleCivilTime),
        ],
        Shape::Date => &[("date", Field::Date)],
        Shape::Exercise => &[("interval.civil_start_time", Field::IntervalCivilStart)],
        Shape::Sleep => &[
            ("interval.end_time", Field::IntervalEnd),
            ("interval.civil_end_time", Field::IntervalCivilEnd),
        ],
    }
}

fn point_key(k: &Kind, point: &Value, field: Field) -> Option<Key> {
    let obj = point.get(k.value_key)?;
    let interval = obj.get("interval");
    let iv = |key: &str| interval.and_then(|i| i.get(key)).and_then(Value::as_str);
    let sample = obj.get("sampleTime");
    let civil = |t: Option<DateTime<Utc>>, offset: Option<&Value>| {
        t.map(|t| Key::Civil((t + Duration::seconds(offset_seconds(offset))).naive_utc()))
    };
    match field {
        Field::IntervalStart => iv("startTime").and_then(parse_instant).map(Key::Instant),
        Field::IntervalEnd => iv("endTime").and_then(parse_instant).map(Key::Instant),
        Field::IntervalCivilStart => civil(
            iv("startTime").and_then(parse_instant),
            interval.and_then(|i| i.get("startUtcOffset")),
        ),
        Field::IntervalCivilEnd => civil(
            iv("endTime").and_then(parse_instant),
            interval.and_then(|i| i.get("endUtcOffset")),
        ),
        Field::SampleTime => sample
            .and_then(|s| s.get("physicalTime"))
            .and_then(Value::as_str)
            .and_then(parse_instant)
            .map(Key::Instant),
        Field::SampleCivilTime => civil(
            sample
                .and_then(|s| s.get("physicalTime"))
                .and_then(Value::as_str)
                .and_then(parse_instant),
            sample.and_then(|s| s.get("utcOffset")),
        ),
        Field::Date => point_date(obj.get("date")).map(Key::Date),
    }
}

/// The time a point sorts and rolls up by.
fn point_time(k: &Kind, point: &Value) -> Option<DateTime<Utc>> {
    let field = match k.shape {
        Shape::Sample => Field::SampleTime,
        Shape::Date => Field::Date,
        _ => Field::IntervalStart,
    };
    match point_key(k, point, field)? {
        Key::Instant(t) => Some(t),
        Key::Date(d) => d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()),
        Key::Civil(_) => None,
    }
}

/// One parsed comparison: field, `true` for `>=` (else `<`), literal.
type Clause = (Field, bool, Key);

/// Parses an AIP-160 filter of `>=` / `<` comparisons joined by `AND` on this data type's
/// fields (snake-case data type prefix); anything else is Google's
/// `INVALID_DATA_POINT_FILTER`.
fn parse_filter(k: &Kind, filter: &str) -> Result<Vec<Clause>, String> {
    let prefix = format!("{}.", k.data_type.replace('-', "_"));
    let mut out = Vec::new();
    for clause in filter.split(" AND ") {
        let clause = clause.trim();
        let (lhs, ge, rhs) = if let Some((l, r)) = clause.split_once(">=") {
            (l, true, r)
        } else if let Some((l, r)) = clause.split_once('<') {
            (l, false, r)
        } else {
            return Err(format!("unsupported comparison in '{clause}'"));
        };
        if rhs.starts_with('=') {
            return Err(format!("unsupported operator in '{clause}'"));
        }
        let name = lhs.trim();
        let suffix = name
            .strip_prefix(&prefix)
            .ok_or_else(|| format!("'{name}' is not a field of {}", k.data_type))?;
        let field = fields(k)
            .iter()
            .find(|(s, _)| *s == suffix)
            .map(|(_, f)| *f)
            .ok_or_else(|| format!("'{name}' cannot be filtered on"))?;
        let literal = rhs
            .trim()
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .ok_or_else(|| format!("'{clause}': the value must be quoted"))?;
        let key = match field {
            Field::IntervalStart | Field::IntervalEnd | Field::SampleTime => {
                parse_instant(literal).map(Key::Instant)
            }
            Field::IntervalCivilStart | Field::IntervalCivilEnd | Field::SampleCivilTime => {
                parse_civil(literal).map(Key::Civil)
            }
            Field::Date => NaiveDate::parse_from_str(literal, "%Y-%m-%d")
                .ok()
                .map(Key::Date),
        }
        .ok_or_else(|| format!("'{literal}' is not a valid value for '{name}'"))?;
        out.push((field, ge, key));
    }
    Ok(out)
}

fn matches(k: &Kind, point: &Value, clauses: &[Clause]) -> bool {
    clauses.iter().all(|(field, ge, lit)| {
        point_key(k, point, *field).is_some_and(|v| if *ge { v >= *lit } else { v < *lit })
    })
}

/// One page of `items` from `token` (`"p<offset>"`), at most `size` long.
fn page(
    items: Vec<Value>,
    token: Option<&str>,
    size: usize,
) -> Result<(Vec<Value>, String), String> {
    let from = match token.filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => t
            .strip_prefix('p')
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= items.len())
            .ok_or_else(|| format!("invalid page token '{t}'"))?,
    };
    let size = size.clamp(1, PAGE_CAP);
    let to = (from + size).min(items.len());
    let next = if to < items.len() {
        format!("p{to}")
    } else {
        String::new()
    };
    Ok((items[from..to].to_vec(), next))
}

// ---------------------------------------------------------------------------------------------
// Data routes
// ---------------------------------------------------------------------------------------------

/// `GET …/dataTypes/{type}/dataPoints` (list) and `…/dataPoints:reconcile`.
/// One data point by the last segment of its resource name.
async fn get_point(
    State(fake): State<Fake>,
    Path((data_type, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    crate::guard!(fake, uri, headers);
    if find_kind(&data_type).is_none() {
        return (StatusCode::NOT_FOUND, "unknown data type").into_response();
    }
    if let Some(r) = denied(&fake, &data_type) {
        return r;
    }
    let name = format!("users/me/dataTypes/{data_type}/dataPoints/{id}");
    match fake
        .items(&data_type)
        .into_iter()
        .find(|p| p.get("name").and_then(Value::as_str) == Some(name.as_str()))
    {
        Some(p) => axum::Json(p).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": {"code": 404, "status": "NOT_FOUND", "message": format!("{name} not found")}})),
        )
            .into_response(),
    }
}

async fn list_points(
    State(fake): State<Fake>,
    Path((data_type, op)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    crate::guard!(fake, uri, headers);
    let Some(k) = find_kind(&data_type) else {
        return (StatusCode::NOT_FOUND, "unknown data type").into_response();
    };
    if let Some(r) = denied(&fake, &data_type) {
        return r;
    }
    let reconcile = match op.as_str() {
        "dataPoints" => false,
        "dataPoints:reconcile" => true,
        _ => return (StatusCode::NOT_FOUND, "unknown operation").into_response(),
    };
    let sessions = matches!(k.shape, Shape::Exercise | Shape::Sleep);
    if !k.list || (reconcile && sessions) {
        return bad_request(
            "UNSUPPORTED_OPERATION",
            format!("{op} is not available for {data_type}"),
        );
    }
    let clauses = match q.get("filter").map(|f| parse_filter(k, f)).transpose() {
        Ok(c) => c.unwrap_or_default(),
        Err(e) => return bad_request("INVALID_DATA_POINT_FILTER", e),
    };
    let size = match q.get("pageSize").map(|s| s.parse::<usize>()) {
        None => {
            if sessions {
                25
            } else {
                1440
            }
        }
        Some(Ok(n)) => n.min(if sessions { 25 } else { 10_000 }),
        Some(Err(_)) => return bad_request("INVALID_ARGUMENT", "pageSize must be an integer"),
    };
    let mut items: Vec<Value> = fake
        .items(&data_type)
        .into_iter()
        .filter(|p| matches(k, p, &clauses))
        .collect();
    items.sort_by_key(|p| point_time(k, p));
    if reconcile {
        for p in &mut items {
            if let Some(o) = p.as_object_mut() {
                o.remove("dataSource");
            }
        }
    }
    match page(items, q.get("pageToken").map(String::as_str), size) {
        Ok((data, next)) => {
            axum::Json(json!({"dataPoints": data, "nextPageToken": next})).into_response()
        }
        Err(e) => bad_request("INVALID_ARGUMENT", e),
    }
}

fn num_at(v: &Value, path: &str) -> Option<f64> {
    let mut cur = v;
    for key in path.split('.') {
        cur = cur.get(key)?;
    }
    match cur {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// `{"a": {"b": value}}` for the path `a.b`.
fn nest(path: &str, value: Value) -> Value {
    path.rsplit('.')
        .fold(value, |inner, key| json!({ key: inner }))
}

/// `POST …/dataTypes/{type}/dataPoints:rollUp`: windowed aggregates over `range`, at most
/// the type's max range (14 or 90 days) per request, `windowSize × pageSize` within it too.
async fn roll_up(
    State(fake): State<Fake>,
    Path((data_type, op)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    crate::guard!(fake, uri, headers);
    if op != "dataPoints:rollUp" {
        return (StatusCode::NOT_FOUND, "unknown operation").into_response();
    }
    let Some(k) = find_kind(&data_type) else {
        return (StatusCode::NOT_FOUND, "unknown data type").into_response();
    };
    if let Some(r) = denied(&fake, &data_type) {
        return r;
    }
    let Some((field, out_field, agg, max_days, as_string)) = k.rollup else {
        return bad_request(
            "UNSUPPORTED_OPERATION",
            format!("rollUp is not available for {data_type}"),
        );
    };
    let Ok(req) = serde_json::from_str::<Value>(&body) else {
        return bad_request("INVALID_ARGUMENT", "the body must be JSON");
    };
    let range = req.get("range");
    let bound = |k: &str| {
        range
            .and_then(|r| r.get(k))
            .and_then(Value::as_str)
            .and_then(parse_instant)
    };
    let (Some(start), Some(end)) = (bound("startTime"), bound("endTime")) else {
        return bad_request(
            "INVALID_ARGUMENT",
            "range.startTime and range.endTime are required",
        );
    };
    let window = req
        .get("windowSize")
        .and_then(Value::as_str)
        .and_then(|w| w.strip_suffix('s'))
        .and_then(|w| w.parse::<i64>().ok())
        .filter(|w| *w > 0);
    let Some(window) = window else {
        return bad_request("INVALID_ARGUMENT", "windowSize like \"3600s\" is required");
    };
    if end <= start || end - start > Duration::days(max_days) {
        return bad_request(
            "INVALID_RANGE",
            format!("the range of a {data_type} rollUp must be at most {max_days} days"),
        );
    }
    let page_size = req.get("pageSize").and_then(Value::as_i64).unwrap_or(1440);
    if page_size * window > max_days * 86_400 {
        return bad_request(
            "INVALID_ARGUMENT",
            format!("windowSize × pageSize must be at most {max_days} days"),
        );
    }
    let points = fake.items(&data_type);
    let mut rolled = Vec::new();
    let mut from = start;
    while from < end {
        let to = (from + Duration::seconds(window)).min(end);
        let values: Vec<f64> = points
            .iter()
            .filter(|p| point_time(k, p).is_some_and(|t| t >= from && t < to))
            .filter_map(|p| p.get(k.value_key).and_then(|o| num_at(o, field)))
            .collect();
        if !values.is_empty() {
            let sum: f64 = values.iter().sum();
            let v = match agg {
                Agg::Sum => sum,
                Agg::Avg => sum / values.len() as f64,
            };
            let v = if as_string {
                json!(format!("{}", v.round() as i64))
            } else {
                json!(v)
            };
            rolled.push(json!({
                "startTime": from.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "endTime": to.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                k.value_key: nest(out_field, v),
            }));
        }
        from = to;
    }
    let token = req.get("pageToken").and_then(Value::as_str);
    match page(rolled, token, usize::try_from(page_size).unwrap_or(1)) {
        Ok((data, next)) => {
            axum::Json(json!({"rollupDataPoints": data, "nextPageToken": next})).into_response()
        }
        Err(e) => bad_request("INVALID_ARGUMENT", e),
    }
}

// ---------------------------------------------------------------------------------------------
// Subscribers (project-level webhook registration, service-account auth)
// ---------------------------------------------------------------------------------------------

/// Only service-account tokens may manage subscribers (user tokens get 403).
/// `Some(refusal)` unless the bearer is a service-account token.
fn service_account(fake: &Fake, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    fake.with(|s| {
        s.calls.push(format!(
            "{} {}",
            uri.path(),
            uri.query().unwrap_or_default()
        ))
    });
    let known = fake
        .items(SA_TOKENS)
        .iter()
        .any(|t| t.as_str() == Some(token));
    if known {
        // The account belongs to one project.
        let project = uri.path().split('/').nth(3).unwrap_or("");
        if project == PROJECT_NUMBER {
            return None;
        }
        return Some(
            (
                StatusCode::FORBIDDEN,
                axum::Json(json!({"error": {"code": 403, "status": "PERMISSION_DENIED",
                    "message": format!("Permission denied on resource project {project}.")}})),
            )
                .into_response(),
        );
    }
    let user_token = fake.with(|s| s.access_tokens.contains(token));
    let (status, message) = if user_token {
        (
            StatusCode::FORBIDDEN,
            "subscribers need a service-account token with the cloud-platform scope",
        )
    } else {
        (StatusCode::UNAUTHORIZED, "invalid credentials")
    };
    Some(
        (
            status,
            axum::Json(json!({"error": {"code": status.as_u16(), "message": message}})),
        )
            .into_response(),
    )
}

/// Google's endpoint verification: 2xx with the configured authorization, 4xx without it.
async fn verify_endpoint(uri: &str, secret: &str) -> Result<(), String> {
    let body = br#"{"type":"verification"}"#.to_vec();
    let with = post_webhook(uri, &[("authorization", secret.to_string())], body.clone()).await?;
    let without = post_webhook(uri, &[], body).await?;
    if (200..300).contains(&with) && (400..500).contains(&without) {
        Ok(())
    } else {
        Err(format!(
            "endpoint verification failed: {with} with the secret, {without} without it"
        ))
    }
}

fn subscriber_name(project: &str, id: &str) -> String {
    format!("projects/{project}/subscribers/{id}")
}

fn find_subscriber(fake: &Fake, name: &str) -> Option<Value> {
    fake.with(|s| s.subscriptions.iter().find(|x| x["name"] == name).cloned())
}

fn public(sub: &Value) -> Value {
    let mut v = sub.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("endpointAuthorization");
    }
    v
}

async fn create_subscriber(
    State(fake): State<Fake>,
    Path(project): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: String,
) -> Response {
    if let Some(r) = service_account(&fake, &uri, &headers) {
        return r;
    }
    let Ok(req) = serde_json::from_str::<Value>(&body) else {
        return bad_request("INVALID_ARGUMENT", "the body must be JSON");
    };
    let id = q
        .get("subscriberId")
        .cloned()
        .unwrap_or_else(|| "subscriber".into());
    let name = subscriber_name(&project, &id);
    if find_subscriber(&fake, &name).is_some() {
        return (
            StatusCode::CONFLICT,
            axum::Json(json!({"error": {"code": 409, "status": "ALREADY_EXISTS", "message": format!("{name} exists")}})),
        )
            .into_response();
    }
    let (Some(endpoint), Some(secret)) = (
        req.get("endpointUri").and_then(Value::as_str),
        req.pointer("/endpointAuthorization/secret")
            .and_then(Value::as_str),
    ) else {
        return bad_request(
            "INVALID_ARGUMENT",
            "endpointUri and endpointAuthorization.secret are required",
        );
    };
    if let Err(e) = verify_endpoint(endpoint, secret).await {
        return bad_request("FAILED_PRECONDITION", e);
    }
    let sub = json!({"name": name, "endpointUri": endpoint,
        "subscriberConfigs": req.get("subscriberConfigs").cloned().unwrap_or(json!([])),
        "endpointAuthorization": {"secret": secret}});
    fake.with(|s| s.subscriptions.push(sub.clone()));
    axum::Json(public(&sub)).into_response()
}

async fn list_subscribers(
    State(fake): State<Fake>,
    Path(project): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = service_account(&fake, &uri, &headers) {
        return r;
    }
    let prefix = format!("projects/{project}/subscribers/");
    let subs: Vec<Value> = fake.with(|s| {
        s.subscriptions
            .iter()
            .filter(|x| x["name"].as_str().is_some_and(|n| n.starts_with(&prefix)))
            .map(public)
            .collect()
    });
    axum::Json(json!({"subscribers": subs})).into_response()
}

async fn get_subscriber(
    State(fake): State<Fake>,
    Path((project, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = service_account(&fake, &uri, &headers) {
        return r;
    }
    match find_subscriber(&fake, &subscriber_name(&project, &id)) {
        Some(s) => axum::Json(public(&s)).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": {"code": 404}})),
        )
            .into_response(),
    }
}

async fn delete_subscriber(
    State(fake): State<Fake>,
    Path((project, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = service_account(&fake, &uri, &headers) {
        return r;
    }
    let name = subscriber_name(&project, &id);
    let removed = fake.with(|s| {
        let before = s.subscriptions.len();
        s.subscriptions.retain(|x| x["name"] != name);
        before != s.subscriptions.len()
    });
    if removed {
        axum::Json(json!({})).into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": {"code": 404}})),
        )
            .into_response()
    }
}

/// `PATCH …/subscribers/{id}?updateMask=endpointUri`: a new endpoint is verified again.
async fn patch_subscriber(
    State(fake): State<Fake>,
    Path((project, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: String,
) -> Response {
    if let Some(r) = service_account(&fake, &uri, &headers) {
        return r;
    }
    let name = subscriber_name(&project, &id);
    let Some(mut sub) = find_subscriber(&fake, &name) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": {"code": 404}})),
        )
            .into_response();
    };
    if q.get("updateMask").map(String::as_str) != Some("endpointUri") {
        return bad_request("INVALID_ARGUMENT", "updateMask must be endpointUri");
    }
    let Some(endpoint) = serde_json::from_str::<Value>(&body).ok().and_then(|v| {
        v.get("endpointUri")
            .and_then(Value::as_str)
            .map(str::to_string)
    }) else {
        return bad_request("INVALID_ARGUMENT", "endpointUri is required");
    };
    let secret = sub
        .pointer("/endpointAuthorization/secret")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Err(e) = verify_endpoint(&endpoint, &secret).await {
        return bad_request("FAILED_PRECONDITION", e);
    }
    sub["endpointUri"] = Value::String(endpoint);
    fake.with(|s| {
        for x in &mut s.subscriptions {
            if x["name"] == name {
                *x = sub.clone();
            }
        }
    });
    axum::Json(public(&sub)).into_response()
}

// ---------------------------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------------------------

/// A notification for one data type over `[start, end]`.
pub fn notification(data_type: &str, start: &str, end: &str) -> Value {
    json!([{"data": {"healthUserId": ACCOUNT_ID, "operation": "UPSERT", "dataType": data_type,
        "intervals": [{"physicalTimeInterval": {"startTime": start, "endTime": end},
            "civilDateTimeInterval": null}],
        "clientProvidedSubscriptionName": "open-wearables", "version": "1"}}])
}

fn send_webhook(
    fake: Fake,
    target: String,
    kind: String,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<u16, String>> + Send>> {
    Box::pin(async move {
        let url = format!(
            "{}/api/v1/providers/google/webhooks",
            target.trim_end_matches('/')
        );
        let auth = vec![("authorization", format!("Bearer {WEBHOOK_SECRET}"))];
        let d2 = (fake.anchor() + Duration::days(2))
            .format("%Y-%m-%d")
            .to_string();
        let d3 = (fake.anchor() + Duration::days(3))
            .format("%Y-%m-%d")
            .to_string();
        let body = match kind.as_str() {
            "verification" => {
                // Google checks both: 2xx with the secret, 4xx without it.
                let body = br#"{"type":"verification"}"#.to_vec();
                let unauthenticated = post_webhook(&url, &[], body.clone()).await?;
                if !(400..500).contains(&unauthenticated) {
                    return Err(format!(
                        "an unauthenticated verification answered {unauthenticated}, not 4xx"
                    ));
                }
                return post_webhook(&url, &auth, body).await;
            }
            "exercise" => {
                let (start, end) = (format!("{d2}T16:00:00Z"), format!("{d2}T17:05:00Z"));
                fake.add_item(
                    "exercise",
                    exercise_point("ex-0603", "BIKING", &start, &end,
                        json!({"caloriesKcal": 612.0, "distanceMillimeters": "24500000",
                            "averageSpeedMillimetersPerSecond": 6282, "averageHeartRateBeatsPerMinute": 139,
                            "elevationGainMillimeters": "182000"})),
                );
                notification("exercise", &start, &end)
            }
            "sleep" => {
                let (start, end) = (format!("{d2}T21:30:00Z"), format!("{d3}T05:45:00Z"));
                fake.add_item(
                    "sleep",
                    sleep_point(
                        "sl-0603",
                        &start,
                        &end,
                        &[
                            ("LIGHT", &start, &format!("{d2}T23:00:00Z")),
                            (
                                "DEEP",
                                &format!("{d2}T23:00:00Z"),
                                &format!("{d3}T00:30:00Z"),
                            ),
                            (
                                "REM",
                                &format!("{d3}T00:30:00Z"),
                                &format!("{d3}T02:00:00Z"),
                            ),
                            (
                                "AWAKE",
                                &format!("{d3}T02:00:00Z"),
                                &format!("{d3}T02:20:00Z"),
                            ),
                            ("LIGHT", &format!("{d3}T02:20:00Z"), &end),
                        ],
                    ),
                );
                notification("sleep", &start, &end)
            }
            other => return Err(format!("google sends no '{other}' webhook")),
        };
        let raw = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        post_webhook(&url, &auth, raw).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_select() {
        let k = find_kind("heart-rate").expect("kind");
        let c = parse_filter(
            k,
            "heart_rate.sample_time.physical_time >= \"2024-06-01T08:15:00Z\" AND heart_rate.sample_time.physical_time < \"2024-06-01T12:00:00Z\"",
        )
        .expect("filter");
        let items = seed(NaiveDate::from_ymd_opt(2024, 6, 1).expect("d"))["heart-rate"].clone();
        let kept: Vec<_> = items.iter().filter(|p| matches(k, p, &c)).collect();
        assert_eq!(kept.len(), 1, "only 08:20:05 is inside");
        assert!(
            parse_filter(
                k,
                "heart-rate.sample_time.physical_time >= \"2024-06-01T00:00:00Z\""
            )
            .is_err()
        );
        assert!(
            parse_filter(
                k,
                "heart_rate.sample_time.physical_time > \"2024-06-01T00:00:00Z\""
            )
            .is_err()
        );
        assert!(
            parse_filter(
                k,
                "heart_rate.sample_time.physical_time <= \"2024-06-01T00:00:00Z\""
            )
            .is_err()
        );
        assert!(parse_filter(k, "heart_rate.date >= \"2024-06-01\"").is_err());
        let ex = find_kind("exercise").expect("kind");
        let c = parse_filter(ex, "exercise.interval.civil_start_time >= \"2024-06-01\" AND exercise.interval.civil_start_time < \"2024-06-02\"")
            .expect("filter");
        let items = seed(NaiveDate::from_ymd_opt(2024, 6, 1).expect("d"))["exercise"].clone();
        assert_eq!(items.iter().filter(|p| matches(ex, p, &c)).count(), 1);
    }

    #[test]
    fn pages_link_with_tokens() {
        let items: Vec<Value> = (0..5).map(|i| json!(i)).collect();
        let (a, next) = page(items.clone(), None, 1000).expect("page");
        assert_eq!((a.len(), next.as_str()), (3, "p3"));
        let (b, next) = page(items.clone(), Some("p3"), 1000).expect("page");
        assert_eq!((b.len(), next.as_str()), (2, ""));
        assert!(page(items, Some("bogus"), 10).is_err());
        assert_eq!(nest("a.b", json!(1)), json!({"a": {"b": 1}}));
    }

    #[test]
    fn assertions_must_be_rs256_signed_by_the_test_key() {
        use base64::Engine as _;
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let now = Utc::now().timestamp();
        let claims = json!({"iss": SERVICE_ACCOUNT_EMAIL, "aud": TOKEN_AUDIENCE,
            "scope": CLOUD_PLATFORM_SCOPE, "iat": now, "exp": now + 3600});
        assert!(verify_assertion("header.claims.signature").is_err());
        // Right header and claims, a signature the key did not make.
        let forged = format!(
            "{}.{}.{}",
            b64(&json!({"alg": "RS256", "typ": "JWT"})),
            b64(&claims),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 256])
        );
        assert_eq!(
            verify_assertion(&forged).err().as_deref(),
            Some("Invalid JWT Signature.")
        );
        // A shared-secret token is no service-account assertion.
        let hs = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"guess"),
        )
        .expect("hs256");
        assert!(verify_assertion(&hs).is_err_and(|e| e.contains("RS256")));
        assert!(pem_der(SERVICE_ACCOUNT_PUBLIC_KEY).is_some_and(|d| d.len() > 256));
        let file: Value = serde_json::from_str(SERVICE_ACCOUNT_JSON).expect("key file");
        assert_eq!(file["client_email"], SERVICE_ACCOUNT_EMAIL);
        assert_eq!(file["private_key_id"], SERVICE_ACCOUNT_KEY_ID);
        assert_eq!(file["token_uri"], TOKEN_AUDIENCE);
    }
}

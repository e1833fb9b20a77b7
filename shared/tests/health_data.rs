//! A realistic Apple Health push, then every read endpoint, against hand-computed expectations
//! (data-model.md §3, §4, §10).

mod common;

use axum::http::StatusCode;
use common::{Auth, TestApp};
use serde_json::{Value, json};

const SRC: &str = r#"{"name": "Ada's Apple Watch", "bundleIdentifier": "com.apple.health.81A2", "deviceModel": "Watch", "productType": "Watch7,5", "operatingSystemVersion": {"majorVersion": 10, "minorVersion": 3, "patchVersion": 1}}"#;

fn record(kind: &str, unit: &str, value: f64, start: &str) -> Value {
    json!({"type": kind, "unit": unit, "value": value, "startDate": start, "endDate": start,
           "zoneOffset": "+01:00", "source": serde_json::from_str::<Value>(SRC).unwrap_or_default()})
}

fn segment(stage: &str, start: &str, end: &str) -> Value {
    json!({"stage": stage, "startDate": start, "endDate": end, "zoneOffset": "+01:00",
           "source": serde_json::from_str::<Value>(SRC).unwrap_or_default()})
}

/// One day of Ada: heart rate, steps, energy, distance, a run and a night of sleep.
fn payload() -> Value {
    let mut records = Vec::new();
    for i in 0..10 {
        records.push(record(
            "HKQuantityTypeIdentifierHeartRate",
            "count/min",
            60.0 + i as f64,
            &format!("2025-03-01T08:0{i}:00Z"),
        ));
    }
    for (h, v) in [(1, 50.0), (2, 52.0), (3, 55.0)] {
        records.push(record(
            "HKQuantityTypeIdentifierHeartRate",
            "count/min",
            v,
            &format!("2025-03-01T0{h}:00:00Z"),
        ));
    }
    for (i, v) in [40.0, 20.0, 30.0, 10.0, 50.0].iter().enumerate() {
        records.push(record(
            "HKQuantityTypeIdentifierStepCount",
            "count",
            *v,
            &format!("2025-03-01T08:0{i}:00Z"),
        ));
    }
    records.push(record(
        "HKQuantityTypeIdentifierActiveEnergyBurned",
        "kcal",
        5.5,
        "2025-03-01T08:00:00Z",
    ));
    records.push(record(
        "HKQuantityTypeIdentifierActiveEnergyBurned",
        "kcal",
        4.5,
        "2025-03-01T08:01:00Z",
    ));
    records.push(record(
        "HKQuantityTypeIdentifierBasalEnergyBurned",
        "kcal",
        1500.0,
        "2025-03-01T12:00:00Z",
    ));
    records.push(record(
        "HKQuantityTypeIdentifierDistanceWalkingRunning",
        "m",
        1200.0,
        "2025-03-01T08:00:00Z",
    ));
    // One bad record: an impossible zone offset. It is dropped and counted, the batch stays.
    let mut bad = record(
        "HKQuantityTypeIdentifierHeartRate",
        "count/min",
        99.0,
        "2025-03-01T09:00:00Z",
    );
    bad["zoneOffset"] = json!("+25:99");
    records.push(bad);
    let workout = json!({
        "id": "W1", "type": "running", "startDate": "2025-03-01T07:00:00Z", "endDate": "2025-03-01T07:30:00Z",
        "zoneOffset": "+01:00", "source": serde_json::from_str::<Value>(SRC).unwrap_or_default(),
        "values": [
            {"type": "activeEnergyBurned", "unit": "kcal", "value": 300},
            {"type": "distance", "unit": "m", "value": 5000},
            {"type": "averageHeartRate", "unit": "bpm", "value": 150.4},
            {"type": "maxHeartRate", "unit": "bpm", "value": 170},
            {"type": "elevationAscended", "unit": "m", "value": 30}
        ]
    });
    let sleep = vec![
        segment("light", "2025-02-28T23:00:00Z", "2025-03-01T00:30:00Z"),
        segment("deep", "2025-03-01T00:30:00Z", "2025-03-01T01:30:00Z"),
        segment("rem", "2025-03-01T01:30:00Z", "2025-03-01T02:30:00Z"),
        segment("awake", "2025-03-01T02:30:00Z", "2025-03-01T02:45:00Z"),
        segment("light", "2025-03-01T02:45:00Z", "2025-03-01T05:00:00Z"),
        segment("rem", "2025-03-01T05:00:00Z", "2025-03-01T06:00:00Z"),
    ];
    json!({"provider": "apple", "sdkVersion": "1.0.0", "syncTimestamp": "2025-03-02T00:00:00Z",
           "data": {"records": records, "workouts": [workout], "sleep": sleep}})
}

struct Ctx {
    app: TestApp,
    key: String,
    user: String,
}

async fn pushed() -> (Ctx, Value) {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    let r = app
        .call(
            "POST",
            &format!("/api/v1/sdk/users/{user}/sync"),
            Auth::Key(&key),
            Some(&payload().to_string()),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    app.state.jobs_idle().await;
    (Ctx { app, key, user }, r.body)
}

impl Ctx {
    async fn get(&self, path: &str) -> Value {
        let r = self
            .app
            .call(
                "GET",
                &format!("/api/v1/users/{}/{path}", self.user),
                Auth::Key(&self.key),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        r.body
    }
}

#[tokio::test]
async fn the_push_answer_carries_the_real_counts() {
    let (_, body) = pushed().await;
    assert_eq!(body["status_code"], 202);
    assert_eq!(
        body["records_saved"], 22,
        "13 HR + 5 steps + 2 active + 1 basal energy + 1 distance"
    );
    assert_eq!(body["dropped_count"], 1);
    assert_eq!(body["workouts_saved"], 1);
    assert_eq!(body["sleep_saved"], 6);
}

#[tokio::test]
async fn resending_a_payload_is_idempotent() {
    let (c, _) = pushed().await;
    let before = c
        .get("timeseries?start_time=2025-03-01&end_time=2025-03-01&types=heart_rate")
        .await;
    let again = c
        .app
        .call(
            "POST",
            &format!("/api/v1/sdk/users/{}/sync/apple/healthion", c.user),
            Auth::Key(&c.key),
            Some(&payload().to_string()),
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(
        again.body["workouts_saved"], 0,
        "the same workout is not stored twice"
    );
    c.app.state.jobs_idle().await;
    let after = c
        .get("timeseries?start_time=2025-03-01&end_time=2025-03-01&types=heart_rate")
        .await;
    assert_eq!(before["pagination"]["total_count"], 13);
    assert_eq!(after["pagination"]["total_count"], 13);
    let w = c
        .get("events/workouts?start_date=2025-03-01&end_date=2025-03-02")
        .await;
    assert_eq!(w["pagination"]["total_count"], 1);
    let s = c
        .get("events/sleep?start_date=2025-02-28&end_date=2025-03-02")
        .await;
    assert_eq!(s["pagination"]["total_count"], 1, "{s}");
}

#[tokio::test]
async fn the_activity_summary_follows_the_rules() {
    let (c, _) = pushed().await;
    let a = c
        .get("summaries/activity?start_date=2025-03-01&end_date=2025-03-02")
        .await;
    assert_eq!(a["data"].as_array().map(Vec::len), Some(1), "{a}");
    let d = &a["data"][0];
    assert_eq!(d["date"], "2025-03-01");
    assert_eq!(d["source"]["provider"], "apple");
    assert_eq!(d["source"]["source"], "Ada's Apple Watch");
    assert_eq!(d["source"]["device_type"], "watch");
    assert_eq!(d["steps"], 150);
    assert_eq!(d["distance_meters"], 1200.0);
    assert_eq!(d["active_calories_kcal"], 10.0);
    assert_eq!(d["total_calories_kcal"], 1510.0);
    // Minutes with >= 30 steps: 40, 30, 50 -> 3 active of 5 tracked.
    assert_eq!(
        (
            d["active_minutes"].as_i64(),
            d["sedentary_minutes"].as_i64()
        ),
        (Some(3), Some(2))
    );
    // HR 60..69 and 50, 52, 55: mean 61.69 -> 62 (half-even), min 50, max 69.
    assert_eq!(
        d["heart_rate"],
        json!({"avg_bpm": 62, "max_bpm": 69, "min_bpm": 50})
    );
    // Max HR 190 without a birth date: every minute is below the light zone (95 bpm).
    assert_eq!(
        d["intensity_minutes"],
        json!({"light": 0, "moderate": 0, "vigorous": 0})
    );
    // The run's 30 m ascent: elevation, and floors = int(30 / 3) since no flights were recorded.
    assert_eq!(
        (d["elevation_meters"].as_f64(), d["floors_climbed"].as_i64()),
        (Some(30.0), Some(10))
    );
    assert!(a["pagination"]["total_count"].is_null());
    // End date is exclusive at day level.
    let none = c
        .get("summaries/activity?start_date=2025-03-01&end_date=2025-03-01")
        .await;
    assert_eq!(none["data"], json!([]));
}

#[tokio::test]
async fn the_sleep_summary_and_session_follow_the_rules() {
    let (c, _) = pushed().await;
    let s = c
        .get("summaries/sleep?start_date=2025-03-01&end_date=2025-03-02")
        .await;
    assert_eq!(s["data"].as_array().map(Vec::len), Some(1), "{s}");
    let d = &s["data"][0];
    assert_eq!(d["date"], "2025-03-01", "keyed on the local wake-up date");
    assert_eq!(
        (d["start_time"].as_str(), d["end_time"].as_str()),
        (Some("2025-02-28T23:00:00Z"), Some("2025-03-01T06:00:00Z"))
    );
    // light 90+135, deep 60, rem 60+60, awake 15.
    assert_eq!(d["duration_minutes"], 405);
    assert_eq!(d["time_in_bed_minutes"], 420);
    assert_eq!(d["efficiency_percent"], 96.43);
    assert_eq!(
        d["stages"],
        json!({"awake_minutes": 15, "light_minutes": 225, "deep_minutes": 60, "rem_minutes": 120})
    );
    assert_eq!(
        (
            d["nap_count"].as_i64(),
            d["total_duration_minutes"].as_i64()
        ),
        (Some(0), Some(405))
    );
    // HR during the night: 50, 52, 55 -> 52.
    assert_eq!(d["avg_heart_rate_bpm"], 52);
    let e = c
        .get("events/sleep?start_date=2025-02-28&end_date=2025-03-02")
        .await;
    let session = &e["data"][0];
    assert_eq!(
        (
            session["duration_seconds"].as_i64(),
            session["sleep_duration_seconds"].as_i64()
        ),
        (Some(25200), Some(24300))
    );
    assert_eq!(
        session["sleep_stage_intervals"].as_array().map(Vec::len),
        Some(6)
    );
    assert_eq!(session["is_nap"], false);
    // The session got an Open Wearables sleep score.
    let scores = c
        .get("health-scores?category=sleep&provider=internal")
        .await;
    assert_eq!(scores["pagination"]["total_count"], 1, "{scores}");
    let v = scores["data"][0]["value"].as_f64().unwrap_or(-1.0);
    assert!((0.0..=100.0).contains(&v));
    for k in ["duration", "stages", "consistency", "interruptions"] {
        assert!(
            scores["data"][0]["components"][k]["value"].is_number(),
            "{k}"
        );
    }
    // Deleting the session removes its score too.
    let id = session["id"].as_str().unwrap_or_default().to_string();
    let del = c
        .app
        .call(
            "DELETE",
            &format!("/api/v1/users/{}/events/sleep/{id}", c.user),
            Auth::Key(&c.key),
            None,
        )
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    assert_eq!(c.get("health-scores").await["pagination"]["total_count"], 0);
}

#[tokio::test]
async fn workouts_are_listed_with_their_statistics() {
    let (c, _) = pushed().await;
    let w = c
        .get("events/workouts?start_date=2025-03-01&end_date=2025-03-02")
        .await;
    let d = &w["data"][0];
    assert_eq!(d["type"], "running");
    assert_eq!(d["duration_seconds"], 1800);
    assert_eq!(
        (d["calories_kcal"].as_f64(), d["distance_meters"].as_f64()),
        (Some(300.0), Some(5000.0))
    );
    assert_eq!(
        (
            d["avg_heart_rate_bpm"].as_i64(),
            d["max_heart_rate_bpm"].as_i64()
        ),
        (Some(150), Some(170))
    );
    assert_eq!(d["elevation_gain_meters"], 30.0);
    // The event must end before end_date.
    let cut = c
        .get("events/workouts?start_date=2025-03-01&end_date=2025-03-01T07:15:00Z")
        .await;
    assert_eq!(cut["data"], json!([]));
    let filtered = c
        .get("events/workouts?start_date=2025-03-01&end_date=2025-03-02&record_type=RUN")
        .await;
    assert_eq!(filtered["pagination"]["total_count"], 1);
    let other = c
        .get("events/workouts?start_date=2025-03-01&end_date=2025-03-02&record_type=swim")
        .await;
    assert_eq!(other["pagination"]["total_count"], 0);
    let id = d["id"].as_str().unwrap_or_default().to_string();
    let wrong = c
        .app
        .call(
            "DELETE",
            &format!("/api/v1/users/{}/events/sleep/{id}", c.user),
            Auth::Key(&c.key),
            None,
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.detail()),
        (StatusCode::NOT_FOUND, "Sleep session not found")
    );
    let ok = c
        .app
        .call(
            "DELETE",
            &format!("/api/v1/users/{}/events/workouts/{id}", c.user),
            Auth::Key(&c.key),
            None,
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn timeseries_buckets_by_resolution_and_pages_without_gaps() {
    let (c, _) = pushed().await;
    let raw = c
        .get("timeseries?start_time=2025-03-01T08:00:00Z&end_time=2025-03-01T09:00:00Z&types=steps")
        .await;
    assert_eq!(raw["pagination"]["total_count"], 5);
    assert_eq!(raw["metadata"]["resolution"], "raw");
    assert_eq!(
        raw["data"][0],
        json!({
            "timestamp": "2025-03-01T08:00:00Z", "zone_offset": "+01:00", "type": "steps", "value": 40.0, "unit": "count",
            "source": {"provider": "apple", "source": "Ada's Apple Watch", "device": "Watch", "device_type": "watch", "device_name": "Watch"},
            "is_daily_total": false
        })
    );
    let five = c.get("timeseries?start_time=2025-03-01T08:00:00Z&end_time=2025-03-01T09:00:00Z&types=steps&resolution=5min").await;
    assert_eq!(five["metadata"]["resolution"], "5min");
    assert_eq!(five["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        five["data"][0]["value"], 150.0,
        "steps are summed per bucket"
    );
    let hour = c.get("timeseries?start_time=2025-03-01T08:00:00Z&end_time=2025-03-01T09:00:00Z&types=heart_rate&resolution=1hour").await;
    assert_eq!(
        hour["data"][0]["value"], 64.5,
        "heart rate is averaged per bucket"
    );
    assert_eq!(hour["data"][0]["timestamp"], "2025-03-01T08:00:00Z");

    // A full walk in pages of 4 over all types returns every sample exactly once, in order.
    let base = "timeseries?start_time=2025-03-01&end_time=2025-03-01&limit=4";
    let first = c.get(base).await;
    let total = first["pagination"]["total_count"].as_u64().unwrap_or(0);
    assert_eq!(
        total, 22,
        "13 HR + 5 steps + 2 energy + basal + distance (workout stats are not intraday samples)"
    );
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut page = first;
    let mut prev_cursor = None;
    loop {
        let items = page["data"].as_array().cloned().unwrap_or_default();
        assert!(
            items.len() == 4 || page["pagination"]["has_more"] == false,
            "no short pages"
        );
        for i in &items {
            seen.push((
                i["timestamp"].as_str().unwrap_or("").into(),
                i["type"].as_str().unwrap_or("").into(),
            ));
        }
        if page["pagination"]["has_more"] != true {
            break;
        }
        prev_cursor = page["pagination"]["next_cursor"]
            .as_str()
            .map(str::to_string);
        page = c
            .get(&format!(
                "{base}&cursor={}",
                prev_cursor.clone().unwrap_or_default()
            ))
            .await;
        assert!(
            page["pagination"]["previous_cursor"]
                .as_str()
                .is_some_and(|p| p.starts_with("prev_"))
        );
    }
    assert_eq!(seen.len() as u64, total);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len() as u64, total, "no duplicates");
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "ascending time");
    // Walking back from the last cursor returns the page before it.
    let cursor = prev_cursor.unwrap_or_default();
    let back = c.get(&format!("{base}&cursor=prev_{cursor}")).await;
    assert_eq!(back["data"].as_array().map(Vec::len), Some(4));

    let bad = c
        .app
        .call(
            "GET",
            &format!("/api/v1/users/{}/{base}&cursor=nope", c.user),
            Auth::Key(&c.key),
            None,
        )
        .await;
    assert_eq!(
        (bad.status, bad.detail()),
        (
            StatusCode::BAD_REQUEST,
            "Invalid cursor format: 'nope'. Expected 'timestamp|id'."
        )
    );
    let bad = c
        .app
        .call(
            "GET",
            &format!(
                "/api/v1/users/{}/timeseries?start_time=bad&end_time=2025-03-01",
                c.user
            ),
            Auth::Key(&c.key),
            None,
        )
        .await;
    assert_eq!(
        bad.detail(),
        "Invalid datetime format: 'bad'. Expected ISO 8601 format or Unix timestamp."
    );
    let bad = c
        .app
        .call(
            "GET",
            &format!("/api/v1/users/{}/{base}&resolution=2min", c.user),
            Auth::Key(&c.key),
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn data_summary_sources_and_body() {
    let (c, _) = pushed().await;
    let s = c.get("summaries/data").await;
    assert_eq!(s["total_data_points"], 22);
    assert_eq!(s["series_type_counts"]["heart_rate"], 13);
    assert_eq!(s["total_workouts"], 1);
    assert_eq!(s["total_sleep_events"], 1);
    assert_eq!(s["workout_type_counts"], json!({"running": 1}));
    assert_eq!(s["by_provider"][0]["provider"], "apple");
    let ds = c.get("data-sources").await;
    assert_eq!(ds["total"], 1);
    assert_eq!(ds["items"][0]["display_name"], "Apple - Watch");
    assert_eq!(ds["items"][0]["software_version"], "10.3.1");
    // No weight, resting HR, temperatures or blood pressure: the body summary is JSON null.
    let body = c
        .app
        .call(
            "GET",
            &format!("/api/v1/users/{}/summaries/body", c.user),
            Auth::Key(&c.key),
            None,
        )
        .await;
    assert_eq!(
        (body.status, body.raw.as_slice()),
        (StatusCode::OK, &b"null"[..])
    );
}

#[tokio::test]
async fn sdk_pushes_are_guarded_and_bounded() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let ada = app.user(&key, "{}").await;
    let bob = app.user(&key, "{}").await;
    let creds = app.application(&token).await;
    let sdk = app.sdk_tokens(&ada, &creds).await.body["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let body = payload().to_string();
    let own = app
        .call(
            "POST",
            &format!("/api/v1/sdk/users/{ada}/sync"),
            Auth::Bearer(&sdk),
            Some(&body),
        )
        .await;
    assert_eq!(own.status, StatusCode::ACCEPTED);
    let other = app
        .call(
            "POST",
            &format!("/api/v1/sdk/users/{bob}/sync"),
            Auth::Bearer(&sdk),
            Some(&body),
        )
        .await;
    assert_eq!(
        (other.status, other.detail()),
        (StatusCode::FORBIDDEN, "Token does not match user_id")
    );
    let dev = app
        .call(
            "POST",
            &format!("/api/v1/sdk/users/{ada}/sync"),
            Auth::Bearer(&token),
            Some(&body),
        )
        .await;
    assert_eq!(
        dev.status,
        StatusCode::UNAUTHORIZED,
        "a developer JWT is not an SDK credential"
    );
    let garbage = app
        .call(
            "POST",
            &format!("/api/v1/sdk/users/{ada}/sync"),
            Auth::Key(&key),
            Some("\u{0}\u{1}not json"),
        )
        .await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
    let wrong = app
        .call(
            "POST",
            &format!("/api/v1/sdk/users/{ada}/sync"),
            Auth::Key(&key),
            Some(
                r#"{"provider":"fitbit","sdkVersion":"1","syncTimestamp":"2025-01-01T00:00:00Z"}"#,
            ),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.detail()),
        (
            StatusCode::BAD_REQUEST,
            "Unsupported provider: fitbit. Supported: apple, samsung, google"
        )
    );
    let ghost = app
        .call(
            "POST",
            &format!("/api/v1/sdk/users/{}/sync", uuid::Uuid::new_v4()),
            Auth::Key(&key),
            Some(&body),
        )
        .await;
    assert_eq!(ghost.status, StatusCode::NOT_FOUND);
    let big = format!(
        r#"{{"provider":"apple","pad":"{}"}}"#,
        "x".repeat(6 * 1024 * 1024)
    );
    let r = app
        .call(
            "POST",
            &format!("/api/v1/sdk/users/{ada}/sync"),
            Auth::Key(&key),
            Some(&big),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // A user who never pushed gets empty lists, not 404s.
    let empty = app
        .call(
            "GET",
            &format!(
                "/api/v1/users/{bob}/events/workouts?start_date=2025-01-01&end_date=2026-01-01"
            ),
            Auth::Key(&key),
            None,
        )
        .await;
    assert_eq!(
        (empty.status, empty.body["data"].clone()),
        (StatusCode::OK, json!([]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_batches_into_the_same_hour_lose_nothing() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    // 8 batches, each with 60 distinct seconds of the same hour and source: they all merge
    // into one chunk item concurrently.
    let batches: Vec<String> = (0..8)
        .map(|b| {
            let records: Vec<Value> = (0..60)
                .map(|i| record("HKQuantityTypeIdentifierHeartRate", "count/min", 70.0, &format!("2025-03-01T10:{b:02}:{i:02}Z")))
                .collect();
            json!({"provider": "apple", "sdkVersion": "1", "syncTimestamp": "2025-03-02T00:00:00Z", "data": {"records": records}}).to_string()
        })
        .collect();
    let mut set = tokio::task::JoinSet::new();
    for b in batches {
        let router = app.router.clone();
        let req = axum::http::Request::builder()
            .method("POST")
            .uri(format!("/api/v1/sdk/users/{user}/sync"))
            .header("x-open-wearables-api-key", &key)
            .body(axum::body::Body::from(b))
            .expect("request");
        set.spawn(async move {
            tower::ServiceExt::oneshot(router, req)
                .await
                .map(|r| r.status())
        });
    }
    while let Some(status) = set.join_next().await {
        assert_eq!(
            status.expect("task").expect("infallible"),
            StatusCode::ACCEPTED
        );
    }
    let r = app.call("GET", &format!("/api/v1/users/{user}/timeseries?start_time=2025-03-01&end_time=2025-03-01&types=heart_rate"), Auth::Key(&key), None).await;
    assert_eq!(r.body["pagination"]["total_count"], 480);
}

mod sdk_fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

        /// Arbitrary bytes and arbitrary JSON to the push route: always a 4xx or a 202, never a 500.
        #[test]
        fn arbitrary_bodies_never_cause_a_server_error(bytes in proptest::collection::vec(any::<u8>(), 0..512), garble in 0usize..4) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
            rt.block_on(async {
                let app = TestApp::new().await;
                let token = app.admin_token().await;
                let key = app.api_key(&token).await;
                let user = app.user(&key, "{}").await;
                let mut body = payload().to_string().into_bytes();
                match garble {
                    0 => body = bytes.clone(),
                    1 => { let n = bytes.len().min(body.len()); body[..n].copy_from_slice(&bytes[..n]); }
                    2 => { let cut = bytes.len() * body.len() / 512; body.truncate(cut); }
                    _ => body.splice(body.len() / 2..body.len() / 2, bytes.iter().copied()).for_each(drop),
                }
                let req = axum::http::Request::builder()
                    .method("POST")
                    .uri(format!("/api/v1/sdk/users/{user}/sync"))
                    .header("x-open-wearables-api-key", &key)
                    .body(axum::body::Body::from(body))
                    .expect("request");
                let r = app.send(req).await;
                assert!(r.status == StatusCode::ACCEPTED || r.status.is_client_error(), "{} {}", r.status, r.body);
                assert!(r.body["detail"].is_string() || r.status == StatusCode::ACCEPTED);
            });
        }
    }
}

#[tokio::test]
async fn timeseries_walks_forward_and_back_across_hours_and_sources() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    let at = |s: i64| {
        (chrono::DateTime::parse_from_rfc3339("2025-03-01T10:59:50Z")
            .expect("t")
            .to_utc()
            + chrono::Duration::seconds(s))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
    };
    for model in ["Watch7,5", "iPhone15,2"] {
        let records: Vec<Value> = (0..21)
            .map(|s| {
                let mut r = record(
                    "HKQuantityTypeIdentifierHeartRate",
                    "count/min",
                    60.0 + s as f64,
                    &at(s),
                );
                r["source"]["deviceModel"] = json!(model);
                r
            })
            .collect();
        let body = json!({"provider": "apple", "sdkVersion": "1", "syncTimestamp": "2025-03-02T00:00:00Z", "data": {"records": records}});
        let r = app
            .call(
                "POST",
                &format!("/api/v1/sdk/users/{user}/sync"),
                Auth::Key(&key),
                Some(&body.to_string()),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
    }
    let base = format!(
        "/api/v1/users/{user}/timeseries?start_time=2025-03-01T10:00:00Z&end_time=2025-03-01T12:00:00Z&types=heart_rate&limit=7"
    );
    let get = |url: String| {
        let (app, key) = (&app, key.clone());
        async move { app.call("GET", &url, Auth::Key(&key), None).await.body }
    };
    let mut forward: Vec<(String, String)> = Vec::new();
    let mut page = get(base.clone()).await;
    let mut cursors = Vec::new();
    loop {
        for i in page["data"].as_array().cloned().unwrap_or_default() {
            forward.push((
                i["timestamp"].as_str().unwrap_or("").into(),
                i["source"]["device"].as_str().unwrap_or("").into(),
            ));
        }
        assert_eq!(page["pagination"]["total_count"], 42);
        let Some(next) = page["pagination"]["next_cursor"]
            .as_str()
            .map(str::to_string)
        else {
            break;
        };
        cursors.push(next.clone());
        page = get(format!("{base}&cursor={next}")).await;
    }
    assert_eq!(forward.len(), 42, "every sample exactly once");
    assert_eq!(cursors.len(), 5, "six full pages of 7");
    let mut sorted = forward.clone();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        forward.iter().map(|f| &f.0).collect::<Vec<_>>(),
        sorted.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    // Walk back from the last page's previous_cursor to the start.
    let mut backward: Vec<(String, String)> = Vec::new();
    let last = get(format!("{base}&cursor={}", cursors[4])).await;
    let mut prev = last["pagination"]["previous_cursor"]
        .as_str()
        .map(str::to_string);
    while let Some(p) = prev {
        let page = get(format!("{base}&cursor={p}")).await;
        let items: Vec<(String, String)> = page["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|i| {
                (
                    i["timestamp"].as_str().unwrap_or("").into(),
                    i["source"]["device"].as_str().unwrap_or("").into(),
                )
            })
            .collect();
        backward.splice(0..0, items);
        prev = page["pagination"]["previous_cursor"]
            .as_str()
            .map(str::to_string);
    }
    assert_eq!(
        backward,
        forward[..35].to_vec(),
        "the pages before the last one, in the same order"
    );
}

#[tokio::test]
async fn the_resilience_score_follows_hrv_variation_inside_sleep() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    let mut records = Vec::new();
    let mut sleep = Vec::new();
    for (i, v) in [40.0, 42.0, 44.0, 46.0, 48.0].iter().enumerate() {
        let day = 1 + i;
        let start = if day == 1 {
            "2025-02-28T23:00:00Z".to_string()
        } else {
            format!("2025-03-{:02}T23:00:00Z", day - 1)
        };
        sleep.push(segment(
            "light",
            &start,
            &format!("2025-03-{day:02}T06:00:00Z"),
        ));
        // Inside the night, and one reading outside any sleep window that must be ignored.
        records.push(record(
            "HEART_RATE_VARIABILITY",
            "ms",
            *v,
            &format!("2025-03-{day:02}T02:00:00Z"),
        ));
        records.push(record(
            "HEART_RATE_VARIABILITY",
            "ms",
            500.0,
            &format!("2025-03-{day:02}T12:00:00Z"),
        ));
    }
    let body = json!({"provider": "google", "sdkVersion": "1", "syncTimestamp": "2025-03-06T00:00:00Z",
                      "data": {"records": records, "sleep": sleep}});
    let r = app
        .call(
            "POST",
            &format!("/api/v1/sdk/users/{user}/sync"),
            Auth::Key(&key),
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    app.state.jobs_idle().await;
    let scores = app
        .call(
            "GET",
            &format!("/api/v1/users/{user}/health-scores?category=resilience"),
            Auth::Key(&key),
            None,
        )
        .await;
    let dates: Vec<&str> = scores.body["data"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["recorded_at"].as_str()).collect())
        .unwrap_or_default();
    // Reference dates whose 7-day window holds all five nights: Mar 6, 7 and 8.
    assert_eq!(
        dates,
        [
            "2025-03-08T00:00:00Z",
            "2025-03-07T00:00:00Z",
            "2025-03-06T00:00:00Z"
        ]
    );
    let s = &scores.body["data"][2];
    // Daily means 40..48: sample CV 0.071870 -> stored 0.072, score 99 (data-model §5.2 vector).
    assert_eq!(s["value"], 0.072);
    assert_eq!(s["provider"], "internal");
    assert_eq!(s["components"]["resilience_score"]["value"], 99);
    assert_eq!(s["components"]["days_counted"]["value"], 5);
}

#[tokio::test]
async fn a_night_pushed_in_two_halves_becomes_one_session() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    let halves = [
        vec![
            segment("light", "2025-02-28T23:00:00Z", "2025-03-01T01:00:00Z"),
            segment("deep", "2025-03-01T01:00:00Z", "2025-03-01T02:00:00Z"),
        ],
        vec![
            segment("rem", "2025-03-01T02:30:00Z", "2025-03-01T04:00:00Z"),
            segment("light", "2025-03-01T04:00:00Z", "2025-03-01T06:00:00Z"),
        ],
    ];
    for half in halves {
        let body = json!({"provider": "apple", "sdkVersion": "1", "syncTimestamp": "2025-03-01T07:00:00Z", "data": {"sleep": half}});
        let r = app
            .call(
                "POST",
                &format!("/api/v1/sdk/users/{user}/sync"),
                Auth::Key(&key),
                Some(&body.to_string()),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
        app.state.jobs_idle().await;
    }
    let s = app
        .call(
            "GET",
            &format!("/api/v1/users/{user}/events/sleep?start_date=2025-02-28&end_date=2025-03-02"),
            Auth::Key(&key),
            None,
        )
        .await;
    assert_eq!(s.body["pagination"]["total_count"], 1, "{}", s.body);
    let d = &s.body["data"][0];
    assert_eq!(
        (d["start_time"].as_str(), d["end_time"].as_str()),
        (Some("2025-02-28T23:00:00Z"), Some("2025-03-01T06:00:00Z"))
    );
    // 2 h light + 1 h deep + 1.5 h rem + 2 h light of sleep.
    assert_eq!(d["sleep_duration_seconds"], 390 * 60);
    let scores = app
        .call(
            "GET",
            &format!("/api/v1/users/{user}/health-scores?category=sleep"),
            Auth::Key(&key),
            None,
        )
        .await;
    assert_eq!(
        scores.body["pagination"]["total_count"], 1,
        "the first half's score left with it"
    );
}

#[tokio::test]
async fn an_open_night_is_finalised_by_the_schedule_without_another_push() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    app.clock.set(
        chrono::DateTime::parse_from_rfc3339("2025-03-01T06:30:00Z")
            .expect("t")
            .to_utc(),
    );
    let night = vec![
        segment("light", "2025-02-28T23:00:00Z", "2025-03-01T03:00:00Z"),
        segment("deep", "2025-03-01T03:00:00Z", "2025-03-01T06:00:00Z"),
    ];
    let body = json!({"provider": "apple", "sdkVersion": "1", "syncTimestamp": "2025-03-01T06:30:00Z", "data": {"sleep": night}});
    let r = app
        .call(
            "POST",
            &format!("/api/v1/sdk/users/{user}/sync"),
            Auth::Key(&key),
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    app.state.jobs_idle().await;
    let url =
        format!("/api/v1/users/{user}/events/sleep?start_date=2025-02-28&end_date=2025-03-02");
    let count =
        app.call("GET", &url, Auth::Key(&key), None).await.body["pagination"]["total_count"]
            .clone();
    assert_eq!(
        count, 0,
        "30 minutes after the last segment the night may still go on"
    );
    app.clock.advance(chrono::Duration::hours(3));
    let queued = shared::jobs::schedule::tick(&app.state)
        .await
        .expect("tick");
    assert_eq!(queued, 1);
    app.state.jobs_idle().await;
    assert_eq!(
        app.call("GET", &url, Auth::Key(&key), None).await.body["pagination"]["total_count"],
        1
    );
    assert_eq!(
        shared::jobs::schedule::tick(&app.state)
            .await
            .expect("tick"),
        0,
        "nothing left open"
    );
}

#[tokio::test]
async fn the_body_summary_follows_the_rules() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    app.clock.set(
        chrono::DateTime::parse_from_rfc3339("2025-03-01T12:00:00Z")
            .expect("t")
            .to_utc(),
    );
    let records = vec![
        record(
            "HKQuantityTypeIdentifierBodyMass",
            "kg",
            70.0,
            "2025-02-20T08:00:00Z",
        ),
        record(
            "HKQuantityTypeIdentifierHeight",
            "m",
            1.75,
            "2025-01-01T08:00:00Z",
        ),
        record(
            "HKQuantityTypeIdentifierRestingHeartRate",
            "count/min",
            55.0,
            "2025-02-27T07:00:00Z",
        ),
        record(
            "HKQuantityTypeIdentifierRestingHeartRate",
            "count/min",
            58.0,
            "2025-02-28T07:00:00Z",
        ),
        record(
            "HKQuantityTypeIdentifierRestingHeartRate",
            "count/min",
            99.0,
            "2025-02-01T07:00:00Z",
        ),
        record(
            "HKQuantityTypeIdentifierBodyTemperature",
            "degC",
            36.6,
            "2025-03-01T11:00:00Z",
        ),
        record(
            "HKQuantityTypeIdentifierBloodPressureSystolic",
            "mmHg",
            121.0,
            "2025-03-01T10:00:00Z",
        ),
        record(
            "HKQuantityTypeIdentifierBloodPressureDiastolic",
            "mmHg",
            79.0,
            "2025-03-01T10:00:03Z",
        ),
    ];
    let body = json!({"provider": "apple", "sdkVersion": "1", "syncTimestamp": "2025-03-01T12:00:00Z", "data": {"records": records}});
    let r = app
        .call(
            "POST",
            &format!("/api/v1/sdk/users/{user}/sync"),
            Auth::Key(&key),
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(
        (r.status, r.body["dropped_count"].as_i64()),
        (StatusCode::ACCEPTED, Some(0)),
        "{}",
        r.body
    );
    let b = app
        .call(
            "GET",
            &format!("/api/v1/users/{user}/summaries/body"),
            Auth::Key(&key),
            None,
        )
        .await
        .body;
    assert_eq!(b["slow_changing"]["weight_kg"], 70.0);
    assert_eq!(
        b["slow_changing"]["height_cm"], 175.0,
        "HealthKit metres become centimetres"
    );
    assert_eq!(
        b["slow_changing"]["bmi"], 22.9,
        "70 / 1.75^2 = 22.857 -> 22.9"
    );
    // The 7-day mean leaves out the reading of Feb 1: (55 + 58) / 2 = 56.5 -> 56 (half-even).
    assert_eq!(b["averaged"]["resting_heart_rate_bpm"], 56);
    assert_eq!(b["averaged"]["period_days"], 7);
    assert_eq!(b["latest"]["body_temperature_celsius"], 36.6);
    assert_eq!(b["latest"]["blood_pressure"]["avg_systolic_mmhg"], 121);
    assert_eq!(b["latest"]["blood_pressure"]["avg_diastolic_mmhg"], 79);
    assert_eq!(
        b["latest"]["blood_pressure_measured_at"], "2025-03-01T10:00:03Z",
        "the later of the pair"
    );
    // Outside the 4-hour window the latest values disappear.
    let b = app
        .call(
            "GET",
            &format!("/api/v1/users/{user}/summaries/body?latest_window_hours=1"),
            Auth::Key(&key),
            None,
        )
        .await
        .body;
    assert!(b["latest"]["blood_pressure"].is_null());
    assert_eq!(b["latest"]["body_temperature_celsius"], 36.6);
    let bad = app
        .call(
            "GET",
            &format!("/api/v1/users/{user}/summaries/body?average_period=8"),
            Auth::Key(&key),
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_recovery_summary_reads_recovery_scores_per_day() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    let uid = uuid::Uuid::parse_str(&user).expect("uuid");
    for (day, value) in [(1, 66.0), (2, 81.0)] {
        let at = chrono::DateTime::parse_from_rfc3339(&format!("2025-03-0{day}T07:00:00Z"))
            .expect("t")
            .to_utc();
        let s = shared::repo::health::HealthScore {
            id: uuid::Uuid::new_v4(),
            user_id: uid,
            data_source_id: None,
            provider: "whoop".into(),
            category: "recovery".into(),
            value: Some(value),
            qualifier: None,
            recorded_at: at,
            zone_offset: None,
            components: Some(
                json!({"resting_heart_rate": {"value": 52.7}, "hrv_rmssd_milli": {"value": 61.5}, "spo2_percentage": {"value": 96.1}}),
            ),
            sleep_record_id: None,
            created_at: at,
        };
        assert!(app.state.db.insert_score(&s).await.expect("insert"));
        assert!(
            !app.state.db.insert_score(&s).await.expect("insert"),
            "first write wins"
        );
    }
    let r = app.call("GET", &format!("/api/v1/users/{user}/summaries/recovery?start_date=2025-03-01&end_date=2025-03-03&limit=1"), Auth::Key(&key), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let d = &r.body["data"][0];
    assert_eq!(d["date"], "2025-03-01");
    assert_eq!(d["recovery_score"], 66);
    assert_eq!(d["resting_heart_rate_bpm"], 52, "truncated");
    assert_eq!(d["avg_hrv_sdnn_ms"], 61.5);
    assert_eq!(d["avg_spo2_percent"], 96.1);
    assert_eq!(d["source"]["provider"], "whoop");
    assert!(d["sleep_duration_seconds"].is_null());
    assert_eq!(r.body["pagination"]["has_more"], true);
    let next = r.body["pagination"]["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let r2 = app.call("GET", &format!("/api/v1/users/{user}/summaries/recovery?start_date=2025-03-01&end_date=2025-03-03&limit=1&cursor={next}"), Auth::Key(&key), None).await;
    assert_eq!(r2.body["data"][0]["recovery_score"], 81);
    assert_eq!(r2.body["pagination"]["has_more"], false);
}

#[tokio::test]
async fn priorities_decide_which_source_a_day_shows() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    for (provider, steps) in [("apple", 1000.0), ("samsung", 2000.0)] {
        let mut r = record(
            "HKQuantityTypeIdentifierStepCount",
            "count",
            steps,
            "2025-03-01T08:00:00Z",
        );
        r["type"] = json!(if provider == "apple" {
            "HKQuantityTypeIdentifierStepCount"
        } else {
            "STEP_COUNT"
        });
        let body = json!({"provider": provider, "sdkVersion": "1", "syncTimestamp": "2025-03-02T00:00:00Z", "data": {"records": [r]}});
        let resp = app
            .call(
                "POST",
                &format!("/api/v1/sdk/users/{user}/sync"),
                Auth::Key(&key),
                Some(&body.to_string()),
            )
            .await;
        assert_eq!(resp.status, StatusCode::ACCEPTED, "{}", resp.body);
    }
    app.state.jobs_idle().await;
    let list = app
        .call(
            "GET",
            "/api/v1/priorities/providers",
            Auth::Bearer(&token),
            None,
        )
        .await;
    let rows: Vec<(String, i64)> = list.body["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    (
                        r["provider"].as_str().unwrap_or("").to_string(),
                        r["priority"].as_i64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        rows,
        vec![("apple".to_string(), 1), ("samsung".to_string(), 6)],
        "created lazily on ingest"
    );
    let devices = app
        .call(
            "GET",
            "/api/v1/priorities/device-types",
            Auth::Bearer(&token),
            None,
        )
        .await;
    assert_eq!(devices.body["items"][0]["device_type"], "watch");
    let url = format!(
        "/api/v1/users/{user}/summaries/activity?start_date=2025-03-01&end_date=2025-03-02"
    );
    assert_eq!(
        app.call("GET", &url, Auth::Key(&key), None).await.body["data"][0]["steps"],
        1000,
        "apple ranks first by default"
    );
    let r = app
        .call(
            "PUT",
            "/api/v1/priorities/providers/samsung",
            Auth::Bearer(&token),
            Some(r#"{"priority": 1}"#),
        )
        .await;
    assert_eq!(
        (r.status, r.body["priority"].as_i64()),
        (StatusCode::OK, Some(1))
    );
    let r = app
        .call(
            "PUT",
            "/api/v1/priorities/providers",
            Auth::Bearer(&token),
            Some(r#"{"priorities": [{"provider": "apple", "priority": 2}]}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        app.call("GET", &url, Auth::Key(&key), None).await.body["data"][0]["steps"],
        2000,
        "now samsung wins the day"
    );
    for bad in [r#"{"priority": 0}"#, r#"{"priority": 101}"#, "{}"] {
        assert_eq!(
            app.call(
                "PUT",
                "/api/v1/priorities/providers/apple",
                Auth::Bearer(&token),
                Some(bad)
            )
            .await
            .status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    assert_eq!(
        app.call(
            "PUT",
            "/api/v1/priorities/device-types/toaster",
            Auth::Bearer(&token),
            Some(r#"{"priority": 3}"#)
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.call("GET", "/api/v1/priorities/providers", Auth::Key(&key), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

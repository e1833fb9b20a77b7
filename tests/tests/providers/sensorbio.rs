//! Sensor Bio end to end: consent, a 90-day backfill (cursor scans from each window's start,
//! one sleep / scores / step-details call per day, a broken day skipped), the read API
//! (workouts, sleep, activity, time series, scores, recovery), a revoked grant, and faults.

use std::collections::BTreeSet;

use ow_e2e::providers::Rig;
use serde_json::Value;

fn calls_to(rig: &Rig, path: &str) -> Vec<String> {
    rig.fake
        .fake
        .calls()
        .into_iter()
        .filter_map(|c| c.strip_prefix(&format!("{path} ")).map(str::to_string))
        .collect()
}

#[tokio::test]
async fn sensorbio_backfill_lands_in_the_read_api() {
    let rig = Rig::start("sensorbio").await;
    let user = rig.connected_user().await;
    let c = rig.connection(&user).await;
    assert_eq!(
        (
            c["status"].as_str(),
            c["provider_user_id"].as_str(),
            c["provider_username"].as_str()
        ),
        (Some("active"), Some("sb_u_71c2"), Some("Marta N.")),
        "{c}"
    );

    // One call per UTC day of the backfill for each per-date endpoint.
    let days: BTreeSet<String> = calls_to(&rig, "/v1/sleep")
        .iter()
        .filter_map(|q| q.strip_prefix("date=").map(str::to_string))
        .collect();
    assert_eq!(days.len(), 91, "2024-03-12 ..= 2024-06-10: {days:?}");
    assert!(days.contains("2024-05-30"), "the failing day was asked");
    assert!(
        calls_to(&rig, "/v1/step/details")
            .iter()
            .all(|q| q.ends_with("granularity=day"))
    );
    // Cursors start at each window's start; the last window pages through the day of
    // biometrics (50 + 22 records).
    let bio = calls_to(&rig, "/v1/biometrics");
    assert_eq!(bio.len(), 4, "{bio:?}");
    assert!(
        bio.iter()
            .all(|q| q.ends_with("&limit=50") && !q.starts_with("last-timestamp=0&")),
        "{bio:?}"
    );

    let w = rig
        .data(
            &user,
            "events/workouts?start_date=2024-01-01&end_date=2024-06-10",
        )
        .await;
    assert_eq!(
        w.len(),
        2,
        "the February walk is outside the backfill: {w:?}"
    );
    assert_eq!(
        (
            w[1]["type"].as_str(),
            w[1]["start_time"].as_str(),
            w[1]["end_time"].as_str(),
            w[1]["calories_kcal"].as_f64(),
            w[1]["distance_meters"].as_f64(),
            w[1]["avg_heart_rate_bpm"].as_i64(),
            w[1]["max_heart_rate_bpm"].as_i64(),
        ),
        (
            Some("running"),
            Some("2024-06-01T07:00:00Z"),
            Some("2024-06-01T07:40:00Z"),
            Some(296.0),
            Some(5400.0),
            Some(151),
            Some(176)
        ),
        "{w:?}"
    );
    assert_eq!(
        (w[0]["type"].as_str(), w[0]["calories_kcal"].as_f64()),
        (Some("strength_training"), Some(210.0))
    );

    let s = rig
        .data(
            &user,
            "events/sleep?start_date=2024-05-01&end_date=2024-06-10",
        )
        .await;
    assert_eq!(s.len(), 2, "{s:?}");
    assert_eq!(
        (
            s[1]["start_time"].as_str(),
            s[1]["end_time"].as_str(),
            &s[1]["stages"]["deep_minutes"],
            &s[1]["sleep_duration_seconds"],
            s[1]["efficiency_percent"].as_f64(),
            &s[0]["stages"]["deep_minutes"],
        ),
        (
            Some("2024-05-31T23:00:00Z"),
            Some("2024-06-01T06:20:00Z"),
            &Value::from(78),
            &Value::from(404 * 60),
            Some(86.0),
            &Value::from(90),
        ),
        "{s:?}"
    );
    let sleep = rig
        .data(
            &user,
            "summaries/sleep?start_date=2024-06-01&end_date=2024-06-02",
        )
        .await;
    assert_eq!(
        sleep[0]["time_in_bed_minutes"], 440,
        "wall-clock time in bed: {sleep:?}"
    );

    let a = rig
        .data(
            &user,
            "summaries/activity?start_date=2024-06-01&end_date=2024-06-03",
        )
        .await;
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(
        (
            &a[0]["steps"],
            a[0]["distance_meters"].as_f64(),
            a[0]["active_calories_kcal"].as_f64(),
            &a[1]["steps"]
        ),
        (
            &Value::from(9104),
            Some(6800.0),
            Some(348.0),
            &Value::from(7311)
        ),
        "{a:?}"
    );

    let ts = rig
        .user_get(
            &user,
            "timeseries?start_time=2024-06-01T00:00:00Z&end_time=2024-06-01T23:59:59Z&types=heart_rate&limit=100",
        )
        .await;
    let hr = ts["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(hr.len(), 72, "both biometrics pages: {ts}");
    assert_eq!(
        (hr[0]["timestamp"].as_str(), hr[0]["value"].as_f64()),
        (Some("2024-06-01T00:10:00Z"), Some(58.0))
    );
    let rr = rig
        .user_get(
            &user,
            "timeseries?start_time=2024-06-01T00:00:00Z&end_time=2024-06-01T23:59:59Z&types=respiratory_rate&types=resting_heart_rate&limit=100",
        )
        .await;
    let rr = rr["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        rr.iter()
            .filter(|p| p["type"] == "respiratory_rate")
            .count(),
        72
    );
    assert!(
        rr.iter()
            .any(|p| p["type"] == "resting_heart_rate" && p["value"] == 51.0),
        "{rr:?}"
    );

    let scores = rig
        .user_get(&user, "health-scores?provider=sensorbio")
        .await;
    let scores = scores["data"].as_array().cloned().unwrap_or_default();
    let mut got: Vec<(String, f64)> = scores
        .iter()
        .map(|s| {
            (
                s["category"].as_str().unwrap_or_default().to_string(),
                s["value"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect();
    got.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    assert_eq!(
        got,
        vec![
            ("activity".into(), 63.0),
            ("activity".into(), 70.0),
            ("recovery".into(), 74.0),
            ("recovery".into(), 81.0),
            ("sleep".into(), 86.0),
            ("sleep".into(), 88.0),
        ]
    );
    let ready = scores
        .iter()
        .find(|s| s["category"] == "recovery" && s["value"] == 74.0)
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (ready["recorded_at"].as_str(), ready["qualifier"].as_str()),
        (Some("2024-06-01T00:00:00Z"), Some("ready")),
        "{ready}"
    );
    assert!(ready["components"].get("stage").is_none(), "{ready}");

    let r = rig
        .data(
            &user,
            "summaries/recovery?start_date=2024-06-01&end_date=2024-06-03",
        )
        .await;
    assert_eq!(
        (
            &r[0]["recovery_score"],
            &r[0]["resting_heart_rate_bpm"],
            r[0]["avg_hrv_sdnn_ms"].as_f64(),
            r[0]["avg_spo2_percent"].as_f64()
        ),
        (&Value::from(74), &Value::from(51), Some(52.0), Some(96.0)),
        "{r:?}"
    );
}

#[tokio::test]
async fn sensorbio_revoked_grant_marks_the_connection_revoked() {
    Rig::start("sensorbio")
        .await
        .assert_a_revoked_grant_marks_the_connection_revoked()
        .await;
}

#[tokio::test]
async fn sensorbio_faults_delay_but_never_lose_a_window() {
    let rig = Rig::start("sensorbio").await;
    let user = rig.connect_through_faults().await;
    let w = rig
        .data(
            &user,
            "events/workouts?start_date=2024-05-01&end_date=2024-06-10",
        )
        .await;
    assert_eq!(w.len(), 2, "{w:?}");
    let a = rig
        .data(
            &user,
            "summaries/activity?start_date=2024-06-01&end_date=2024-06-02",
        )
        .await;
    assert_eq!(a[0]["steps"], 9104, "{a:?}");
}

#[tokio::test]
async fn sensorbio_disconnect_needs_no_provider_call() {
    let rig = Rig::start("sensorbio").await;
    let user = rig.connected_user().await;
    let before = rig.fake.fake.calls().len();
    let d = rig
        .call(
            "DELETE",
            &format!("/api/v1/users/{user}/connections/sensorbio"),
            None,
        )
        .await;
    assert_eq!(d.status.as_u16(), 204);
    assert_eq!(rig.connection(&user).await["status"], "revoked");
    assert_eq!(rig.fake.fake.with(|s| s.deregistrations), 0);
    assert_eq!(
        rig.fake.fake.calls().len(),
        before,
        "Sensor Bio has no deregistration"
    );
}

#[tokio::test]
async fn sensorbio_user_id_is_read_from_an_unwrapped_profile_too() {
    let rig = Rig::start("sensorbio").await;
    rig.fake
        .fake
        .add_item("user_shape", serde_json::json!("unwrapped"));
    let user = rig.connected_user().await;
    let c = rig.connection(&user).await;
    assert_eq!(
        (
            c["provider_user_id"].as_str(),
            c["provider_username"].as_str()
        ),
        (Some("sb_u_71c2"), Some("Marta N.")),
        "{c}"
    );
}

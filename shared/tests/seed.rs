//! Synthetic data: the seed job stores users and data through the ingest path, and every read
//! endpoint then has something to show.

mod common;

use axum::http::StatusCode;
use common::{Auth, TestApp};
use serde_json::Value;

#[tokio::test]
async fn a_seeded_user_has_data_on_every_endpoint() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let presets = app
        .call(
            "GET",
            "/api/v1/settings/seed/presets",
            Auth::Bearer(&token),
            None,
        )
        .await;
    let ids: Vec<&str> = presets
        .body
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["id"].as_str()).collect())
        .unwrap_or_default();
    for id in ["active_athlete", "minimal", "sleep_only", "comprehensive"] {
        assert!(ids.contains(&id), "{id}");
    }
    let profiles = app
        .call(
            "GET",
            "/api/v1/settings/seed/sleep-profiles",
            Auth::Bearer(&token),
            None,
        )
        .await;
    assert_eq!(profiles.body.as_array().map(Vec::len), Some(5));

    let body = r#"{"num_users": 1, "random_seed": 7, "profile": {"preset": "minimal"}}"#;
    let r = app
        .call(
            "POST",
            "/api/v1/settings/seed",
            Auth::Bearer(&token),
            Some(body),
        )
        .await;
    assert_eq!(
        (
            r.status,
            r.body["status"].as_str(),
            r.body["seed_used"].as_u64()
        ),
        (StatusCode::ACCEPTED, Some("dispatched"), Some(7))
    );
    app.state.jobs_idle().await;

    let users = app
        .call("GET", "/api/v1/users", Auth::Key(&key), None)
        .await;
    assert_eq!(users.body["total"], 1);
    let user = users.body["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let now = chrono::Utc::now().date_naive();
    let from = now - chrono::Duration::days(40);
    let get = |path: String| {
        let (app, key, user) = (&app, key.clone(), user.clone());
        async move {
            let r = app
                .call(
                    "GET",
                    &format!("/api/v1/users/{user}/{path}"),
                    Auth::Key(&key),
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
            r.body
        }
    };
    let range = format!("start_date={from}&end_date={now}");
    let nonempty = |v: &Value| v["data"].as_array().is_some_and(|a| !a.is_empty());
    assert!(nonempty(
        &get(format!("summaries/activity?{range}&limit=400")).await
    ));
    assert!(nonempty(&get(format!("summaries/sleep?{range}")).await));
    assert!(nonempty(&get(format!("events/workouts?{range}")).await));
    assert!(nonempty(&get(format!("events/sleep?{range}")).await));
    assert!(nonempty(
        &get(format!(
            "timeseries?start_time={from}&end_time={now}&types=heart_rate"
        ))
        .await
    ));
    assert!(
        nonempty(&get("health-scores".into()).await),
        "sleep scores were computed"
    );
    // The synthetic data agrees with itself: a day with a workout has the workout's heart
    // rate in its samples, so its maximum is a workout's and it has intensity minutes; a day
    // without one has none (resting and everyday heart rate stays below 50 % of 190 bpm).
    let activity = get(format!("summaries/activity?{range}&limit=400")).await;
    let workouts = get(format!("events/workouts?{range}")).await;
    let workout_days: std::collections::BTreeSet<String> = workouts["data"]
        .as_array()
        .expect("workouts")
        .iter()
        .map(|w| w["start_time"].as_str().expect("start")[..10].to_string())
        .collect();
    assert!(!workout_days.is_empty());
    let minutes = |a: &Value| {
        let im = &a["intensity_minutes"];
        ["light", "moderate", "vigorous"]
            .iter()
            .map(|k| im[k].as_i64().unwrap_or(0))
            .sum::<i64>()
    };
    let mut seen = 0;
    for a in activity["data"].as_array().expect("activity") {
        if a["heart_rate"].is_null() {
            continue;
        }
        let date = a["date"].as_str().expect("date");
        if workout_days.contains(date) {
            seen += 1;
            assert!(
                minutes(a) > 0,
                "{date}: a workout day without intensity minutes: {a}"
            );
            assert!(
                a["heart_rate"]["max_bpm"].as_i64().unwrap_or(0) >= 100,
                "{date}: {a}"
            );
        } else {
            assert_eq!(minutes(a), 0, "{date}: {a}");
        }
    }
    assert_eq!(seen, workout_days.len(), "every workout day has heart rate");

    let data = get("summaries/data".into()).await;
    assert!(data["total_data_points"].as_u64().unwrap_or(0) > 10_000);
    assert_eq!(data["total_workouts"], 5);
    assert_eq!(data["total_sleep_events"], 5);

    for bad in [
        r#"{"num_users": 11}"#,
        r#"{"profile": {"preset": "nope"}}"#,
        r#"{"profile": {"sleep_config": {"stage_distribution": {"deep_pct_range": [40, 50], "rem_pct_range": [30, 40], "awake_pct_range": [10, 20]}}}}"#,
    ] {
        let r = app
            .call(
                "POST",
                "/api/v1/settings/seed",
                Auth::Bearer(&token),
                Some(bad),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let r = app
        .call("POST", "/api/v1/settings/seed", Auth::Key(&key), Some("{}"))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

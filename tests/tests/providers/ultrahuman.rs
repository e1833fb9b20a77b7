//! Ultrahuman end to end: consent, a 90-day backfill of one metrics call per day (a broken day
//! is skipped), the read API (sleep, activity, time series, scores), token revocation,
//! a revoked grant, and faults.

use ow_e2e::providers::Rig;
use serde_json::Value;

fn values(points: &[Value], series: &str) -> Vec<(String, f64)> {
    points
        .iter()
        .filter(|p| p["type"] == series)
        .map(|p| {
            (
                p["timestamp"].as_str().unwrap_or_default().to_string(),
                p["value"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

#[tokio::test]
async fn ultrahuman_backfill_lands_in_the_read_api() {
    let rig = Rig::start("ultrahuman").await;
    let user = rig.connected_user().await;
    let c = rig.connection(&user).await;
    assert_eq!(
        (
            c["status"].as_str(),
            c["provider_user_id"].as_str(),
            c["provider_username"].as_str()
        ),
        (Some("active"), Some("uh_40028"), Some("ring.user")),
        "{c}"
    );

    // One metrics call per UTC day of the 90-day backfill, the broken day included.
    let calls = rig.fake.fake.calls();
    let dates: std::collections::BTreeSet<String> = calls
        .iter()
        .filter(|c| c.starts_with("/api/partners/v1/user_data/metrics "))
        .filter_map(|c| c.split("date=").nth(1).map(str::to_string))
        .collect();
    assert_eq!(dates.len(), 91, "2024-03-12 ..= 2024-06-10: {dates:?}");
    assert!(dates.contains("2024-03-12") && dates.contains("2024-06-10"));
    assert!(dates.contains("2024-05-29"), "the failing day was asked");

    // Two nights: the newest first.
    let s = rig
        .data(
            &user,
            "events/sleep?start_date=2024-05-01&end_date=2024-06-10",
        )
        .await;
    assert_eq!(s.len(), 2, "{s:?}");
    assert_eq!(
        (
            s[0]["start_time"].as_str(),
            s[0]["end_time"].as_str(),
            &s[0]["stages"]["deep_minutes"],
            &s[1]["stages"]["deep_minutes"],
            s[0]["efficiency_percent"].as_f64(),
        ),
        (
            Some("2024-06-01T22:50:00Z"),
            Some("2024-06-02T06:00:00Z"),
            &Value::from(85),
            &Value::from(75),
            Some(92.0)
        ),
        "{s:?}"
    );
    assert_eq!(
        s[1]["sleep_duration_seconds"],
        395 * 60,
        "deep + light + rem"
    );
    let sleep = rig
        .data(
            &user,
            "summaries/sleep?start_date=2024-06-01&end_date=2024-06-02",
        )
        .await;
    assert_eq!(
        (
            sleep[0]["date"].as_str(),
            &sleep[0]["time_in_bed_minutes"],
            &sleep[0]["duration_minutes"]
        ),
        (Some("2024-06-01"), &Value::from(430), &Value::from(395)),
        "{sleep:?}"
    );

    // The ring's day total wins over the intraday step samples; active minutes as reported.
    let a = rig
        .data(
            &user,
            "summaries/activity?start_date=2024-06-01&end_date=2024-06-03",
        )
        .await;
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(
        (&a[0]["steps"], &a[0]["active_minutes"], &a[1]["steps"]),
        (&Value::from(9120), &Value::from(52), &Value::from(7450)),
        "{a:?}"
    );

    let ts = rig
        .user_get(
            &user,
            "timeseries?start_time=2024-06-01T00:00:00Z&end_time=2024-06-01T23:59:59Z&types=heart_rate&types=heart_rate_variability_sdnn&types=body_temperature&types=vo2_max&limit=100",
        )
        .await;
    let points = ts["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        values(&points, "heart_rate"),
        vec![
            ("2024-06-01T00:05:05Z".to_string(), 63.0),
            ("2024-06-01T00:10:05Z".to_string(), 59.0),
            ("2024-06-01T10:00:05Z".to_string(), 71.0)
        ],
        "{ts}"
    );
    assert_eq!(
        values(&points, "heart_rate_variability_sdnn")
            .iter()
            .map(|p| p.1)
            .collect::<Vec<_>>(),
        vec![44.0, 47.0]
    );
    assert_eq!(
        values(&points, "body_temperature"),
        vec![("2024-06-01T00:05:05Z".to_string(), 35.9)]
    );
    assert_eq!(
        values(&points, "vo2_max"),
        vec![("2024-06-01T00:00:00Z".to_string(), 41.0)]
    );

    let scores = rig
        .user_get(&user, "health-scores?provider=ultrahuman")
        .await;
    let mut got: Vec<(String, f64, String)> = scores["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| {
            (
                s["category"].as_str().unwrap_or_default().to_string(),
                s["value"].as_f64().unwrap_or(f64::NAN),
                s["recorded_at"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    got.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    assert_eq!(
        got,
        vec![
            ("activity".into(), 67.0, "2024-06-01T00:00:00Z".into()),
            ("activity".into(), 67.0, "2024-06-02T00:00:00Z".into()),
            ("recovery".into(), 74.0, "2024-06-02T00:00:00Z".into()),
            ("recovery".into(), 81.0, "2024-06-01T00:00:00Z".into()),
        ],
        "{scores}"
    );
}

#[tokio::test]
async fn ultrahuman_disconnect_revokes_the_token_at_ultrahuman() {
    let rig = Rig::start("ultrahuman").await;
    let user = rig.connected_user().await;
    let live = rig.fake.fake.with(|s| s.access_tokens.len());
    assert_eq!(live, 1);
    let d = rig
        .call(
            "DELETE",
            &format!("/api/v1/users/{user}/connections/ultrahuman"),
            None,
        )
        .await;
    assert_eq!(d.status.as_u16(), 204);
    assert_eq!(rig.fake.fake.with(|s| s.deregistrations), 1);
    assert_eq!(
        rig.fake.fake.with(|s| s.access_tokens.len()),
        0,
        "the stored access token was revoked at Ultrahuman"
    );
    assert_eq!(rig.connection(&user).await["status"], "revoked");
    // Disconnecting again does not call Ultrahuman again.
    rig.call(
        "DELETE",
        &format!("/api/v1/users/{user}/connections/ultrahuman"),
        None,
    )
    .await;
    assert_eq!(rig.fake.fake.with(|s| s.deregistrations), 1);
}

#[tokio::test]
async fn ultrahuman_deregistration_revokes_the_token_with_form_credentials() {
    let rig = Rig::start("ultrahuman").await;
    let fake = &rig.fake.fake;
    let (token, _) = fake.issue_tokens();
    let client = shared::config::OAuthClient {
        client_id: fake.options().client_id.clone(),
        client_secret: fake.options().client_secret.clone(),
        authorize_url: format!("{}/authorise", rig.fake.base_url),
        token_url: format!("{}/api/partners/oauth/token", rig.fake.base_url),
        api_base: rig.fake.base_url.clone(),
        scope: String::new(),
        redirect_uri: String::new(),
    };
    let http = reqwest::Client::new();
    let mut f = shared::providers::sync::Fetcher::new(&http, &rig.fake.base_url, &token);
    f.client = Some(&client);
    shared::providers::ultrahuman::deregister(&f)
        .await
        .expect("revoked");
    assert_eq!(fake.with(|s| s.deregistrations), 1);
    assert!(
        !fake.with(|s| s.access_tokens.contains(&token)),
        "the token no longer works"
    );
    // Wrong client credentials are refused.
    let wrong = shared::config::OAuthClient {
        client_secret: "nope".into(),
        ..client.clone()
    };
    f.client = Some(&wrong);
    assert!(shared::providers::ultrahuman::deregister(&f).await.is_err());
}

#[tokio::test]
async fn ultrahuman_revoked_grant_marks_the_connection_revoked() {
    Rig::start("ultrahuman")
        .await
        .assert_a_revoked_grant_marks_the_connection_revoked()
        .await;
}

#[tokio::test]
async fn ultrahuman_faults_delay_but_never_lose_a_window() {
    let rig = Rig::start("ultrahuman").await;
    let user = rig.connect_through_faults().await;
    let s = rig
        .data(
            &user,
            "events/sleep?start_date=2024-05-01&end_date=2024-06-10",
        )
        .await;
    assert_eq!(s.len(), 2, "{s:?}");
    let a = rig
        .data(
            &user,
            "summaries/activity?start_date=2024-06-01&end_date=2024-06-03",
        )
        .await;
    assert_eq!(a[0]["steps"], 9120, "{a:?}");
}

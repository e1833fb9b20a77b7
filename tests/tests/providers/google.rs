//! Google Health API end to end: consent (offline access), backfill through list / reconcile /
//! rollUp and the session lists, the read API, revocation, faults, granularity settings,
//! webhooks (bearer secret, verification handshake, notifications) and disconnect.

use ow_e2e::providers::Rig;
use ow_fakes::FakeOptions;
use serde_json::Value;

const ACCOUNT: &str = "118204457739201845521";
const WORKOUTS: &str = "events/workouts?start_date=2024-05-01&end_date=2024-06-10";
const SLEEP: &str = "events/sleep?start_date=2024-05-01&end_date=2024-06-10";

/// `(value, zone_offset)` of every sample of `series` on 2024-06-01 (UTC), in time order.
async fn series(rig: &Rig, user: &str, series: &str) -> Vec<(f64, Option<String>)> {
    let rows = rig
        .data(
            user,
            &format!(
                "timeseries?start_time=2024-06-01T00:00:00Z&end_time=2024-06-01T23:59:59Z&types={series}&limit=100"
            ),
        )
        .await;
    rows.iter()
        .map(|r| {
            (
                r["value"].as_f64().unwrap_or(f64::NAN),
                r["zone_offset"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn values(v: &[(f64, Option<String>)]) -> Vec<f64> {
    v.iter()
        .map(|(x, _)| (x * 1000.0).round() / 1000.0)
        .collect()
}

fn calls_matching(rig: &Rig, needle: &str) -> Vec<String> {
    rig.fake
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.contains(needle))
        .collect()
}

#[tokio::test]
async fn google_backfill_lands_in_the_read_api() {
    let rig = Rig::start("google").await;
    let user = rig.connected_user().await;
    let c = rig.connection(&user).await;
    assert_eq!(
        (
            c["status"].as_str(),
            c["provider_user_id"].as_str(),
            c["provider_username"].as_str()
        ),
        (Some("active"), Some(ACCOUNT), Some(ow_fakes::google::EMAIL)),
        "{c}"
    );
    assert!(!c["last_synced_at"].is_null(), "{c}");

    // Workouts: the run with its summary in metres and m/s, and the strength session.
    let w = rig.data(&user, WORKOUTS).await;
    assert_eq!(w.len(), 2, "{w:?}");
    let run = w.iter().find(|x| x["type"] == "running").expect("the run");
    assert_eq!(
        (
            run["start_time"].as_str(),
            run["end_time"].as_str(),
            run["zone_offset"].as_str(),
            run["calories_kcal"].as_f64(),
            run["distance_meters"].as_f64(),
            run["elevation_gain_meters"].as_f64(),
            run["avg_heart_rate_bpm"].as_i64(),
            run["duration_seconds"].as_i64(),
        ),
        (
            Some("2024-06-01T16:00:00Z"),
            Some("2024-06-01T16:42:10Z"),
            Some("+02:00"),
            Some(431.5),
            Some(7310.0),
            Some(48.0),
            Some(152),
            Some(2530),
        ),
        "{run}"
    );
    assert!(
        w.iter()
            .any(|x| x["type"] == "strength_training" && x["calories_kcal"] == 210.0),
        "{w:?}"
    );

    // Sleep: stage minutes, efficiency and the stage timeline.
    let s = rig.data(&user, SLEEP).await;
    assert_eq!(s.len(), 1, "{s:?}");
    let st = &s[0]["stages"];
    assert_eq!(
        (
            st["deep_minutes"].as_i64(),
            st["light_minutes"].as_i64(),
            st["rem_minutes"].as_i64(),
            st["awake_minutes"].as_i64()
        ),
        (Some(71), Some(239), Some(102), Some(38)),
        "{s:?}"
    );
    assert_eq!(s[0]["start_time"], "2024-05-31T21:40:00Z");
    assert_eq!(s[0]["sleep_duration_seconds"], 412 * 60);
    assert_eq!(s[0]["efficiency_percent"], 91.6);
    assert_eq!(
        s[0]["sleep_stage_intervals"].as_array().map(Vec::len),
        Some(6)
    );
    let ss = rig
        .data(
            &user,
            "summaries/sleep?start_date=2024-06-01&end_date=2024-06-02",
        )
        .await;
    assert_eq!(
        (
            ss[0]["date"].as_str(),
            ss[0]["time_in_bed_minutes"].as_i64()
        ),
        (Some("2024-06-01"), Some(450)),
        "{ss:?}"
    );

    // Daily activity: steps and distance (reconciled intervals), calories (hourly rollUp).
    let a = rig
        .data(
            &user,
            "summaries/activity?start_date=2024-06-01&end_date=2024-06-02",
        )
        .await;
    assert_eq!(a[0]["steps"], 3796, "{a:?}");
    assert_eq!(a[0]["distance_meters"].as_f64(), Some(2615.0), "{a:?}");
    assert_eq!(a[0]["active_calories_kcal"].as_f64(), Some(455.75), "{a:?}");

    // Time series of every other metric, in canonical units with the points' offsets.
    let hr = series(&rig, &user, "heart_rate").await;
    assert_eq!(values(&hr), vec![88.0, 92.0, 71.0, 141.0]);
    assert_eq!(hr[0].1.as_deref(), Some("+02:00"));
    for (code, expected) in [
        ("resting_heart_rate", vec![57.0]),
        ("heart_rate_variability_rmssd", vec![41.5]),
        ("heart_rate_variability_sdnn", vec![55.2]),
        ("weight", vec![72.45]),
        ("body_fat_percentage", vec![18.4]),
        ("body_temperature", vec![36.7]),
        ("blood_glucose", vec![94.0]),
        ("respiratory_rate", vec![14.6]),
        ("oxygen_saturation", vec![96.5]),
        ("vo2_max", vec![48.2]),
        ("hydration", vec![500.0, 330.0]),
        ("steps", vec![1184.0, 402.0, 2210.0]),
        ("energy", vec![145.5, 98.25, 212.0]),
    ] {
        assert_eq!(values(&series(&rig, &user, code).await), expected, "{code}");
    }

    // The operations and requests Google would have seen.
    assert!(!calls_matching(&rig, "/steps/dataPoints:reconcile").is_empty());
    assert!(!calls_matching(&rig, "/total-calories/dataPoints:rollUp").is_empty());
    assert!(
        calls_matching(&rig, "/steps/dataPoints ").is_empty(),
        "raw + reconcile: no list"
    );
    let hr_pages = calls_matching(&rig, "/heart-rate/dataPoints:reconcile");
    assert!(
        hr_pages.iter().any(|c| c.contains("pageToken=p3")),
        "paged past the first page: {hr_pages:?}"
    );
    let ex = calls_matching(&rig, "/exercise/dataPoints");
    assert!(
        ex.iter()
            .all(|c| c.contains("pageSize=25") && c.contains("civil_start_time")),
        "{ex:?}"
    );
}

#[tokio::test]
async fn google_daily_granularity_and_list_mode_use_rollup_and_list() {
    let rig = Rig::start_with(
        "google",
        FakeOptions::default(),
        &[
            ("GOOGLE_DATA_GRANULARITY", "daily"),
            ("GOOGLE_USE_RECONCILE", "false"),
        ],
    )
    .await;
    let user = rig.connected_user().await;
    let a = rig
        .data(
            &user,
            "summaries/activity?start_date=2024-06-01&end_date=2024-06-02",
        )
        .await;
    assert_eq!(a[0]["steps"], 3796, "{a:?}");
    assert_eq!(a[0]["distance_meters"].as_f64(), Some(2615.0), "{a:?}");
    let steps = rig
        .data(
            &user,
            "timeseries?start_time=2024-06-01T00:00:00Z&end_time=2024-06-03T00:00:00Z&types=steps",
        )
        .await;
    let got: Vec<(Option<&str>, Option<f64>, Option<bool>)> = steps
        .iter()
        .map(|r| {
            (
                r["timestamp"].as_str(),
                r["value"].as_f64(),
                r["is_daily_total"].as_bool(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (Some("2024-06-01T00:00:00Z"), Some(3796.0), Some(true)),
            (Some("2024-06-02T00:00:00Z"), Some(950.0), Some(true)),
        ]
    );
    assert!(calls_matching(&rig, ":reconcile").is_empty());
    assert!(!calls_matching(&rig, "/steps/dataPoints:rollUp").is_empty());
    assert!(!calls_matching(&rig, "/daily-resting-heart-rate/dataPoints ").is_empty());
    assert_eq!(
        values(&series(&rig, &user, "resting_heart_rate").await),
        vec![57.0]
    );
}

#[tokio::test]
async fn google_a_refused_data_type_does_not_lose_the_others() {
    let rig = Rig::start("google").await;
    for t in ["heart-rate", "sleep", "total-calories"] {
        rig.fake
            .fake
            .add_item(ow_fakes::google::DENIED, serde_json::json!(t));
    }
    let user = rig.connected_user().await;
    let c = rig.connection(&user).await;
    assert_eq!(c["status"], "active", "{c}");
    assert!(!c["last_synced_at"].is_null(), "the windows synced: {c}");
    assert_eq!(rig.data(&user, WORKOUTS).await.len(), 2);
    assert!(rig.data(&user, SLEEP).await.is_empty());
    assert!(series(&rig, &user, "heart_rate").await.is_empty());
    assert_eq!(
        values(&series(&rig, &user, "steps").await),
        vec![1184.0, 402.0, 2210.0]
    );

    // When every data type is refused the window fails and nothing is marked synced.
    let rig = Rig::start("google").await;
    for m in shared::providers::google::METRICS {
        rig.fake
            .fake
            .add_item(ow_fakes::google::DENIED, serde_json::json!(m.data_type));
    }
    for t in ["exercise", "sleep"] {
        rig.fake
            .fake
            .add_item(ow_fakes::google::DENIED, serde_json::json!(t));
    }
    let user = rig.connected_user().await;
    let c = rig.connection(&user).await;
    assert_eq!(c["status"], "active", "{c}");
    assert!(c["last_synced_at"].is_null(), "{c}");
}

#[tokio::test]
async fn google_revoked_grant_marks_the_connection_revoked() {
    Rig::start("google")
        .await
        .assert_a_revoked_grant_marks_the_connection_revoked()
        .await;
}

#[tokio::test]
async fn google_faults_delay_but_never_lose_a_window() {
    let rig = Rig::start("google").await;
    let user = rig.connect_through_faults().await;
    assert_eq!(rig.data(&user, WORKOUTS).await.len(), 2);
    assert_eq!(rig.data(&user, SLEEP).await.len(), 1);
    let a = rig
        .data(
            &user,
            "summaries/activity?start_date=2024-06-01&end_date=2024-06-02",
        )
        .await;
    assert_eq!(a[0]["steps"], 3796, "{a:?}");
}

#[tokio::test]
async fn google_expired_access_token_is_refreshed_without_a_new_refresh_token() {
    let rig = Rig::start("google").await;
    let user = rig.connected_user().await;
    rig.fake.fake.expire_access_tokens();
    let sync = rig
        .call(
            "POST",
            &format!(
                "/api/v1/providers/google/users/{user}/sync?async=false&summary_start_time=2024-06-01T00:00:00Z&summary_end_time=2024-06-02T00:00:00Z"
            ),
            None,
        )
        .await;
    assert_eq!(sync.status.as_u16(), 200, "{:?}", sync.body);
    assert_eq!(sync.body["success"], true, "{:?}", sync.body);
    assert_eq!(rig.fake.fake.with(|s| s.refreshes), 1);
    // Google sent no new refresh token: the stored one still works a second time.
    rig.fake.fake.expire_access_tokens();
    let again = rig
        .call(
            "POST",
            &format!(
                "/api/v1/providers/google/users/{user}/sync?async=false&summary_start_time=2024-06-01T00:00:00Z&summary_end_time=2024-06-02T00:00:00Z"
            ),
            None,
        )
        .await;
    assert_eq!(again.body["success"], true, "{:?}", again.body);
    assert_eq!(rig.fake.fake.with(|s| s.refreshes), 2);
    assert_eq!(rig.connection(&user).await["status"], "active");
}

#[tokio::test]
async fn google_webhooks_add_new_data_and_bad_secrets_change_nothing() {
    let rig = Rig::start("google").await;
    let user = rig.connected_user().await;
    assert_eq!(rig.data(&user, WORKOUTS).await.len(), 2);

    // The verification handshake: 200 verified with the secret, 401 without.
    assert_eq!(rig.webhook("verification").await, 200);
    let ok = rig
        .post_webhook(
            &[("authorization", "Bearer test-secret-key-0123456789abcdef")],
            r#"{"type":"verification"}"#,
        )
        .await;
    assert_eq!(
        (ok.status.as_u16(), &ok.body),
        (200, &serde_json::json!({"status": "verified"}))
    );

    // Forged or unauthenticated notifications are refused and pull nothing.
    let calls = rig.fake.fake.calls().len();
    let note =
        ow_fakes::google::notification("exercise", "2024-06-03T16:00:00Z", "2024-06-03T17:05:00Z")
            .to_string();
    for headers in [
        vec![("authorization", "Bearer wrong-secret")],
        vec![],
        vec![("authorization", "test-secret-key-0123456789abcdef")],
    ] {
        let bad = rig.post_webhook(&headers, &note).await;
        assert_eq!(bad.status.as_u16(), 401, "{headers:?}: {:?}", bad.body);
        assert_eq!(bad.body["detail"], "Invalid webhook signature");
    }
    // A notification about someone we do not know is acknowledged and ignored.
    let stranger = note.replace(ACCOUNT, "999");
    let a = rig
        .post_webhook(
            &[("authorization", "Bearer test-secret-key-0123456789abcdef")],
            &stranger,
        )
        .await;
    assert_eq!(a.status.as_u16(), 200, "{:?}", a.body);
    rig.idle().await;
    assert_eq!(rig.fake.fake.calls().len(), calls, "no pull was triggered");
    assert_eq!(rig.data(&user, WORKOUTS).await.len(), 2);

    // The fake's notifications pull the new ride and the new night.
    assert_eq!(rig.webhook("exercise").await, 200);
    let w = rig.data(&user, WORKOUTS).await;
    assert_eq!(w.len(), 3, "{w:?}");
    let ride = w
        .iter()
        .find(|x| x["type"] == "cycling")
        .expect("the new ride");
    assert_eq!(
        (
            ride["start_time"].as_str(),
            ride["calories_kcal"].as_f64(),
            ride["distance_meters"].as_f64(),
            ride["elevation_gain_meters"].as_f64()
        ),
        (
            Some("2024-06-03T16:00:00Z"),
            Some(612.0),
            Some(24500.0),
            Some(182.0)
        )
    );
    assert_eq!(rig.webhook("sleep").await, 200);
    let s = rig.data(&user, SLEEP).await;
    assert_eq!(s.len(), 2, "{s:?}");
    let night: &Value = s
        .iter()
        .find(|x| x["start_time"] == "2024-06-03T21:30:00Z")
        .expect("the new night");
    assert_eq!(night["stages"]["deep_minutes"], 90, "{night}");
    assert_eq!(night["stages"]["awake_minutes"], 20, "{night}");

    // Google has no GET challenge.
    let get = rig
        .call("GET", "/api/v1/providers/google/webhooks", None)
        .await;
    assert_eq!(get.status.as_u16(), 501, "{:?}", get.body);
}

#[tokio::test]
async fn google_disconnect_revokes_locally_without_a_provider_call() {
    let rig = Rig::start("google").await;
    let user = rig.connected_user().await;
    let calls = rig.fake.fake.calls().len();
    let d = rig
        .call(
            "DELETE",
            &format!("/api/v1/users/{user}/connections/google"),
            None,
        )
        .await;
    assert_eq!(d.status.as_u16(), 204);
    assert_eq!(rig.connection(&user).await["status"], "revoked");
    // Google has no deregistration endpoint (providers.md §1.1b).
    assert_eq!(rig.fake.fake.with(|s| s.deregistrations), 0);
    assert_eq!(rig.fake.fake.calls().len(), calls);
}

#[tokio::test]
async fn google_subscriber_registration_verifies_our_endpoint() {
    let rig = Rig::start("google").await;
    let http = reqwest::Client::new();
    let base = &rig.fake.base_url;
    let sa: Value = http
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", "header.claims.signature"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let sa = sa["access_token"].as_str().expect("service-account token");
    let subscribers = format!("{base}/v4/projects/123456789/subscribers");
    let create = |secret: &str| {
        http.post(format!("{subscribers}?subscriberId=open-wearables"))
            .bearer_auth(sa)
            .json(&serde_json::json!({
                "endpointUri": rig.url("/api/v1/providers/google/webhooks"),
                "subscriberConfigs": [{"dataTypes": ["steps", "sleep", "exercise"], "subscriptionCreatePolicy": "AUTOMATIC"}],
                "endpointAuthorization": {"secret": secret},
            }))
            .send()
    };
    // Our endpoint answers the handshake only for the right secret.
    let wrong = create("Bearer not-our-secret").await.expect("create");
    assert_eq!(wrong.status().as_u16(), 400);
    let ok = create("Bearer test-secret-key-0123456789abcdef")
        .await
        .expect("create");
    assert_eq!(ok.status().as_u16(), 200);
    let again = create("Bearer test-secret-key-0123456789abcdef")
        .await
        .expect("create");
    assert_eq!(again.status().as_u16(), 409);
    let list: Value = http
        .get(&subscribers)
        .bearer_auth(sa)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(
        list["subscribers"][0]["name"],
        "projects/123456789/subscribers/open-wearables"
    );
    // A user's token cannot manage subscribers.
    let (user_token, _) = rig.fake.fake.issue_tokens();
    let denied = http
        .get(&subscribers)
        .bearer_auth(user_token)
        .send()
        .await
        .expect("list");
    assert_eq!(denied.status().as_u16(), 403);
}

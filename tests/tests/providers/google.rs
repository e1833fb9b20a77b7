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
    for m in shared::providers::google::pull::METRICS {
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
    let rig = Rig::start_with(
        "google",
        FakeOptions::default(),
        &[("GOOGLE_WEBHOOK_SECRET", ow_fakes::google::WEBHOOK_SECRET)],
    )
    .await;
    let bearer = format!("Bearer {}", ow_fakes::google::WEBHOOK_SECRET);
    let user = rig.connected_user().await;
    assert_eq!(rig.data(&user, WORKOUTS).await.len(), 2);

    // The verification handshake: 200 verified with the secret, 401 without.
    assert_eq!(rig.webhook("verification").await, 200);
    let ok = rig
        .post_webhook(
            &[("authorization", bearer.as_str())],
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
        vec![("authorization", ow_fakes::google::WEBHOOK_SECRET)],
        vec![("authorization", "Bearer test-secret-key-0123456789abcdef")],
    ] {
        let bad = rig.post_webhook(&headers, &note).await;
        assert_eq!(bad.status.as_u16(), 401, "{headers:?}: {:?}", bad.body);
        assert_eq!(bad.body["detail"], "Invalid webhook signature");
    }
    // A notification about someone we do not know is acknowledged and ignored.
    let stranger = note.replace(ACCOUNT, "999");
    let a = rig
        .post_webhook(&[("authorization", bearer.as_str())], &stranger)
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
    assert_eq!(get.status.as_u16(), 400, "{:?}", get.body);
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

const SUBSCRIPTIONS: &str = "/api/v1/providers/google/webhooks/subscriptions";

/// `path?callback_url=<url>`, encoded.
fn with_callback(path: &str, url: &str) -> String {
    let u = reqwest::Url::parse_with_params("http://x/", &[("callback_url", url)]).expect("url");
    format!("{path}?{}", u.query().unwrap_or_default())
}

/// The fake's stored subscribers (with their secrets).
fn stored(rig: &Rig) -> Vec<Value> {
    rig.fake.fake.with(|s| s.subscriptions.clone())
}

#[tokio::test]
async fn google_subscriber_is_registered_once_listed_repointed_and_deleted() {
    // No GOOGLE_WEBHOOK_SECRET: the bearer secret is derived from SECRET_KEY.
    let settings: Vec<(&str, &str)> = ow_fakes::google::app_settings()
        .into_iter()
        .filter(|(k, _)| *k != "GOOGLE_WEBHOOK_SECRET")
        .collect();
    let rig = Rig::start_with("google", FakeOptions::default(), &settings).await;
    let derived = shared::keys::derive(
        &rig.state.config.secret_key,
        shared::keys::GOOGLE_WEBHOOK_SECRET.label,
    );
    let jwt = rig.developer_token().await;
    let callback = rig.url("/api/v1/providers/google/webhooks");
    let name = format!(
        "projects/{}/subscribers/open-wearables",
        ow_fakes::google::PROJECT_NUMBER
    );

    // Developer auth first.
    let anon = rig.call("GET", SUBSCRIPTIONS, None).await;
    assert_eq!(anon.status.as_u16(), 401, "{}", anon.body);

    // Google verifies the endpoint before it accepts a subscriber: a URL of ours that does not
    // answer the handshake is refused, and nothing is stored.
    let bad = rig
        .dev_call(
            &jwt,
            "POST",
            &with_callback(SUBSCRIPTIONS, &rig.url("/api/v1/providers/google/hooks")),
        )
        .await;
    assert_eq!(bad.status.as_u16(), 200, "{}", bad.body);
    assert_eq!(
        bad.body["subscriptions"][0]["status"], "error",
        "{}",
        bad.body
    );
    assert!(
        bad.body["subscriptions"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("verification")),
        "{}",
        bad.body
    );
    assert!(stored(&rig).is_empty());

    // Registration: the service account's token, then the subscriber with our bearer secret.
    let reg = rig
        .dev_call(&jwt, "POST", &with_callback(SUBSCRIPTIONS, &callback))
        .await;
    assert_eq!(reg.status.as_u16(), 200, "{}", reg.body);
    let result = &reg.body["subscriptions"][0];
    assert_eq!(
        (result["status"].as_str(), result["subscriber_id"].as_str()),
        (Some("created"), Some("open-wearables")),
        "{result}"
    );
    assert_eq!(result["response"]["name"], name.as_str());
    assert_eq!(result["response"]["endpointUri"], callback.as_str());
    let config = &result["response"]["subscriberConfigs"][0];
    assert_eq!(config["subscriptionCreatePolicy"], "AUTOMATIC");
    let types: Vec<&str> = config["dataTypes"]
        .as_array()
        .expect("dataTypes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(types.len(), 13, "{types:?}");
    for t in [
        "steps",
        "heart-rate",
        "sleep",
        "exercise",
        "daily-respiratory-rate",
    ] {
        assert!(types.contains(&t), "{t} subscribed: {types:?}");
    }
    for t in [
        "total-calories",
        "core-body-temperature",
        "oxygen-saturation",
    ] {
        assert!(!types.contains(&t), "{t} is polled only: {types:?}");
    }
    let subs = stored(&rig);
    assert_eq!(subs.len(), 1);
    assert_eq!(
        subs[0]["endpointAuthorization"]["secret"],
        format!("Bearer {derived}")
    );
    assert!(
        calls_matching(&rig, "/subscribers subscriberId=open-wearables").len() == 2,
        "both creations reached the fake with our subscriber id"
    );

    // Registering again is skipped (409 at Google).
    let again = rig
        .dev_call(&jwt, "POST", &with_callback(SUBSCRIPTIONS, &callback))
        .await;
    assert_eq!(again.status.as_u16(), 200, "{}", again.body);
    assert_eq!(
        again.body["subscriptions"][0]["status"], "skipped",
        "{}",
        again.body
    );
    assert_eq!(stored(&rig).len(), 1);

    // List and get show the subscriber, never its secret.
    let list = rig.dev_call(&jwt, "GET", SUBSCRIPTIONS).await;
    assert_eq!(list.status.as_u16(), 200, "{}", list.body);
    let all = list.body["subscriptions"].as_array().expect("list");
    assert_eq!(all.len(), 1, "{}", list.body);
    assert_eq!(all[0]["name"], name.as_str());
    assert_eq!(all[0]["endpointUri"], callback.as_str());
    assert!(all[0].get("endpointAuthorization").is_none(), "{}", all[0]);
    let one = rig
        .dev_call(&jwt, "GET", &format!("{SUBSCRIPTIONS}/open-wearables"))
        .await;
    assert_eq!(one.status.as_u16(), 200, "{}", one.body);
    assert_eq!(one.body["subscription"]["name"], name.as_str());
    let none = rig
        .dev_call(&jwt, "GET", &format!("{SUBSCRIPTIONS}/someone-else"))
        .await;
    assert_eq!(none.status.as_u16(), 200, "{}", none.body);
    assert!(none.body["subscription"].is_null(), "{}", none.body);

    // Re-pointing the endpoint: Google verifies the new URL first.
    let refused = rig
        .dev_call(
            &jwt,
            "PUT",
            &with_callback(
                &format!("{SUBSCRIPTIONS}/open-wearables"),
                &rig.url("/api/v1/providers/oura/webhooks"),
            ),
        )
        .await;
    assert_eq!(refused.status.as_u16(), 200, "{}", refused.body);
    assert_eq!(
        refused.body["updated"]["status"], "error",
        "{}",
        refused.body
    );
    assert_eq!(stored(&rig)[0]["endpointUri"], callback.as_str());
    let moved = format!("{callback}?via=subscriber");
    let updated = rig
        .dev_call(
            &jwt,
            "PUT",
            &with_callback(&format!("{SUBSCRIPTIONS}/open-wearables"), &moved),
        )
        .await;
    assert_eq!(updated.status.as_u16(), 200, "{}", updated.body);
    assert_eq!(
        updated.body["updated"],
        serde_json::json!({"subscription_id": "open-wearables", "status": "updated"})
    );
    let one = rig
        .dev_call(&jwt, "GET", &format!("{SUBSCRIPTIONS}/open-wearables"))
        .await;
    assert_eq!(one.body["subscription"]["endpointUri"], moved.as_str());
    assert_eq!(
        calls_matching(&rig, "updateMask=endpointUri").len(),
        2,
        "both updates were PATCHes of endpointUri"
    );

    // No renew at Google.
    let renew = rig
        .dev_call(&jwt, "POST", &format!("{SUBSCRIPTIONS}/renew"))
        .await;
    assert_eq!(renew.status.as_u16(), 501, "{}", renew.body);

    // Delete, then a second delete reports the error.
    let del = rig
        .dev_call(&jwt, "DELETE", &format!("{SUBSCRIPTIONS}/open-wearables"))
        .await;
    assert_eq!(del.status.as_u16(), 200, "{}", del.body);
    assert_eq!(
        del.body["deleted"],
        serde_json::json!({"subscription_id": "open-wearables", "status": "deleted"})
    );
    assert!(stored(&rig).is_empty());
    let again = rig
        .dev_call(&jwt, "DELETE", &format!("{SUBSCRIPTIONS}/open-wearables"))
        .await;
    assert_eq!(again.body["deleted"]["status"], "error", "{}", again.body);
    assert!(again.body["deleted"]["error"].is_string(), "{}", again.body);
    let list = rig.dev_call(&jwt, "GET", SUBSCRIPTIONS).await;
    assert_eq!(list.body["subscriptions"], serde_json::json!([]));
    // The bearer secret Google holds is not SECRET_KEY, nor derivable to it.
    assert!(rig.assert_secret_key_never_sent() > 3);
}

#[tokio::test]
async fn google_subscriber_management_needs_a_project_and_a_service_account() {
    // Neither setting: 400 naming GOOGLE_PROJECT_ID, and Google is not called.
    let rig = Rig::start("google").await;
    let jwt = rig.developer_token().await;
    let callback = rig.url("/api/v1/providers/google/webhooks");
    for (method, path) in [
        ("GET", SUBSCRIPTIONS.to_string()),
        ("POST", with_callback(SUBSCRIPTIONS, &callback)),
        ("DELETE", format!("{SUBSCRIPTIONS}/open-wearables")),
    ] {
        let a = rig.dev_call(&jwt, method, &path).await;
        assert_eq!(a.status.as_u16(), 400, "{method} {path}: {}", a.body);
        assert!(
            a.body.to_string().contains("GOOGLE_PROJECT_ID"),
            "{}",
            a.body
        );
    }
    assert!(calls_matching(&rig, "/subscribers").is_empty());
    // A callback URL stays required.
    let a = rig.dev_call(&jwt, "POST", SUBSCRIPTIONS).await;
    assert_eq!(a.status.as_u16(), 400, "{}", a.body);
    drop(rig);

    // A project but no service account: 400 naming both ways to configure one.
    let project = [("GOOGLE_PROJECT_ID", ow_fakes::google::PROJECT_NUMBER)];
    let rig = Rig::start_with("google", FakeOptions::default(), &project).await;
    let jwt = rig.developer_token().await;
    let a = rig.dev_call(&jwt, "GET", SUBSCRIPTIONS).await;
    assert_eq!(a.status.as_u16(), 400, "{}", a.body);
    let text = a.body.to_string();
    assert!(
        text.contains("GOOGLE_SERVICE_ACCOUNT_JSON")
            && text.contains("GOOGLE_SERVICE_ACCOUNT_FILE"),
        "{text}"
    );
    drop(rig);

    // The key file by path works as well as its content.
    let rig = Rig::start_with(
        "google",
        FakeOptions::default(),
        &[
            project[0],
            (
                "GOOGLE_SERVICE_ACCOUNT_FILE",
                ow_fakes::google::SERVICE_ACCOUNT_FILE,
            ),
        ],
    )
    .await;
    let jwt = rig.developer_token().await;
    let a = rig
        .dev_call(
            &jwt,
            "POST",
            &with_callback(SUBSCRIPTIONS, &callback_of(&rig)),
        )
        .await;
    assert_eq!(
        a.body["subscriptions"][0]["status"], "created",
        "{}",
        a.body
    );
    let a = rig.dev_call(&jwt, "GET", SUBSCRIPTIONS).await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.body);
    assert_eq!(a.body["subscriptions"].as_array().map(Vec::len), Some(1));
    drop(rig);

    // A key Google does not know (another issuer) is refused at the token exchange: 502.
    let stranger = ow_fakes::google::SERVICE_ACCOUNT_JSON.replace(
        ow_fakes::google::SERVICE_ACCOUNT_EMAIL,
        "someone@elsewhere.iam.gserviceaccount.com",
    );
    let rig = Rig::start_with(
        "google",
        FakeOptions::default(),
        &[project[0], ("GOOGLE_SERVICE_ACCOUNT_JSON", &stranger)],
    )
    .await;
    let jwt = rig.developer_token().await;
    let a = rig.dev_call(&jwt, "GET", SUBSCRIPTIONS).await;
    assert_eq!(a.status.as_u16(), 502, "{}", a.body);
    assert!(a.body.to_string().contains("token exchange"), "{}", a.body);
    assert!(calls_matching(&rig, "/subscribers").is_empty());
    drop(rig);

    // Another project than the account's: Google's 403 surfaces as 502.
    let rig = Rig::start_with(
        "google",
        FakeOptions::default(),
        &[
            ("GOOGLE_PROJECT_ID", "999"),
            (
                "GOOGLE_SERVICE_ACCOUNT_JSON",
                ow_fakes::google::SERVICE_ACCOUNT_JSON,
            ),
        ],
    )
    .await;
    let jwt = rig.developer_token().await;
    let a = rig.dev_call(&jwt, "GET", SUBSCRIPTIONS).await;
    assert_eq!(a.status.as_u16(), 502, "{}", a.body);
    assert!(a.body.to_string().contains("403"), "{}", a.body);
}

fn callback_of(rig: &Rig) -> String {
    rig.url("/api/v1/providers/google/webhooks")
}

#[tokio::test]
async fn google_subscribers_refuse_user_tokens_and_unsigned_assertions() {
    let rig = Rig::start("google").await;
    let http = reqwest::Client::new();
    let base = &rig.fake.base_url;
    let token = http
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", "header.claims.signature"),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(token.status().as_u16(), 400, "an unsigned assertion");
    let subscribers = format!(
        "{base}/v4/projects/{}/subscribers",
        ow_fakes::google::PROJECT_NUMBER
    );
    let (user_token, _) = rig.fake.fake.issue_tokens();
    let denied = http
        .get(&subscribers)
        .bearer_auth(user_token)
        .send()
        .await
        .expect("list");
    assert_eq!(denied.status().as_u16(), 403, "a user's token");
}

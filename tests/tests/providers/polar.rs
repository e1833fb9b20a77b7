//! Polar end to end: consent (Basic-auth token, `x_user_id`, AccessLink registration),
//! backfill of every data type into the read API, revocation, faults, signed ping webhooks and
//! deregistration on disconnect.

use ow_e2e::providers::Rig;
use ow_fakes::FakeOptions;
use ow_fakes::polar::{ACCOUNT_ID, WEBHOOK_EXERCISE_ID, WEBHOOK_SECRET, sign};
use serde_json::Value;

const WORKOUTS: &str = "events/workouts?start_date=2024-05-01&end_date=2024-06-10";
const SLEEPS: &str = "events/sleep?start_date=2024-05-01&end_date=2024-06-10";

async fn rig_with_secret() -> Rig {
    Rig::start_with(
        "polar",
        FakeOptions::default(),
        &[("POLAR_WEBHOOK_SECRET", WEBHOOK_SECRET)],
    )
    .await
}

fn series(items: &[Value]) -> Vec<(String, f64)> {
    items
        .iter()
        .map(|i| {
            (
                i["timestamp"].as_str().unwrap_or_default().to_string(),
                i["value"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

#[tokio::test]
async fn polar_backfill_lands_in_the_read_api() {
    let rig = Rig::start("polar").await;
    let user = rig.connected_user().await;
    let c = rig.connection(&user).await;
    assert_eq!(
        (c["status"].as_str(), c["provider_user_id"].as_str()),
        (Some("active"), Some(ACCOUNT_ID)),
        "{c}"
    );
    // The callback registered our user with AccessLink under its member id.
    let reg = rig.fake.fake.items("registrations");
    assert_eq!(reg.len(), 1, "{reg:?}");
    assert_eq!(reg[0]["member-id"], user.as_str());

    // Workouts: local start − offset is UTC.
    let w = rig.data(&user, WORKOUTS).await;
    assert_eq!(w.len(), 2, "{w:?}");
    let run = w
        .iter()
        .find(|x| x["type"] == "trail_running")
        .expect("the trail run");
    assert_eq!(
        (
            run["start_time"].as_str(),
            run["end_time"].as_str(),
            run["zone_offset"].as_str(),
            run["calories_kcal"].as_f64(),
            run["distance_meters"].as_f64(),
            run["avg_heart_rate_bpm"].as_i64(),
        ),
        (
            Some("2024-06-01T03:10:00Z"),
            Some("2024-06-01T04:02:30Z"),
            Some("+02:00"),
            Some(561.0),
            Some(9120.0),
            Some(149)
        ),
        "{run}"
    );
    let ride = w
        .iter()
        .find(|x| x["type"] == "indoor_cycling")
        .expect("the ride");
    assert_eq!(ride["start_time"], "2024-05-31T16:00:00Z");

    // Sleep: one night, stage minutes from the seconds, stages from the hypnogram.
    let s = rig.data(&user, SLEEPS).await;
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(
        (
            s[0]["start_time"].as_str(),
            s[0]["stages"]["deep_minutes"].as_i64(),
            s[0]["stages"]["light_minutes"].as_i64(),
            s[0]["stages"]["rem_minutes"].as_i64(),
            s[0]["stages"]["awake_minutes"].as_i64(),
        ),
        (
            Some("2024-05-31T21:18:42Z"),
            Some(88),
            Some(220),
            Some(99),
            Some(35)
        ),
        "{}",
        s[0]
    );
    let summary = rig
        .data(
            &user,
            "summaries/sleep?start_date=2024-06-01&end_date=2024-06-02",
        )
        .await;
    assert_eq!(
        (
            summary[0]["date"].as_str(),
            summary[0]["duration_minutes"].as_i64(),
            summary[0]["time_in_bed_minutes"].as_i64()
        ),
        (Some("2024-06-01"), Some(407), Some(442)),
        "{summary:?}"
    );

    // Daily activity totals on two days.
    let a = rig
        .data(
            &user,
            "summaries/activity?start_date=2024-06-01&end_date=2024-06-03",
        )
        .await;
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(
        (
            a[0]["steps"].as_i64(),
            a[0]["active_calories_kcal"].as_f64(),
            a[0]["distance_meters"].as_f64(),
            a[0]["active_minutes"].as_i64()
        ),
        (Some(12877), Some(702.0), Some(9402.5), Some(134)),
        "{}",
        a[0]
    );
    assert_eq!(a[1]["steps"], 7421);

    // Time series: SpO2 (failed tests skipped), continuous HR, temperatures, weight.
    let ts = |types: &str| {
        format!(
            "timeseries?start_time=2024-05-31T00:00:00Z&end_time=2024-06-02T00:00:00Z&limit=100&types={types}"
        )
    };
    assert_eq!(
        series(&rig.data(&user, &ts("oxygen_saturation")).await),
        vec![("2024-06-01T05:40:00Z".to_string(), 97.0)]
    );
    let hr = series(&rig.data(&user, &ts("heart_rate")).await);
    assert!(
        hr.contains(&("2024-06-01T10:00:41Z".to_string(), 62.0))
            && hr.contains(&("2024-05-31T21:20:00Z".to_string(), 61.0)),
        "continuous and sleep heart rate: {hr:?}"
    );
    assert_eq!(
        series(&rig.data(&user, &ts("skin_temperature_deviation")).await),
        vec![("2024-06-01T00:00:00Z".to_string(), -0.3)]
    );
    assert_eq!(
        series(&rig.data(&user, &ts("weight")).await),
        vec![("2024-06-01T12:00:00Z".to_string(), 70.5)]
    );

    // Provider scores: sleep (night + circadian bedtime), recovery, readiness, strain.
    let scores = rig.data(&user, "health-scores?provider=polar").await;
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
            ("readiness".to_string(), 7.4),
            ("recovery".to_string(), 5.0),
            ("sleep".to_string(), 3.0),
            ("sleep".to_string(), 81.0),
            ("strain".to_string(), 92.4),
        ]
    );
    // Polar's labels are the scores' qualifiers (the night's sleep score has none).
    let mut quals: Vec<(String, f64, Option<String>)> = scores
        .iter()
        .map(|s| {
            (
                s["category"].as_str().unwrap_or_default().to_string(),
                s["value"].as_f64().unwrap_or(f64::NAN),
                s["qualifier"].as_str().map(str::to_string),
            )
        })
        .collect();
    quals.sort_by(|a, b| {
        (&a.0, a.1)
            .partial_cmp(&(&b.0, b.1))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let q = |s: &str| Some(s.to_string());
    assert_eq!(
        quals,
        vec![
            ("readiness".to_string(), 7.4, q("strong")),
            ("recovery".to_string(), 5.0, q("good")),
            ("sleep".to_string(), 3.0, q("clearly recognizable")),
            ("sleep".to_string(), 81.0, None),
            ("strain".to_string(), 92.4, q("productive")),
        ],
        "{scores:?}"
    );
    let recovery = scores
        .iter()
        .find(|s| s["category"] == "recovery")
        .expect("recovery");
    assert_eq!(
        recovery["components"]["ans_charge_status"]["qualifier"],
        "above usual"
    );
    assert!(
        recovery["components"]
            .get("nightly_recharge_status")
            .is_none()
    );

    // Calls: nights only for available dates; every range within 28 days.
    let calls = rig.fake.fake.calls();
    let nights: Vec<&String> = calls
        .iter()
        .filter(|c| c.starts_with("/v3/users/sleep/2"))
        .collect();
    assert_eq!(nights, vec!["/v3/users/sleep/2024-06-01 "], "{calls:?}");
    for c in calls.iter().filter(|c| c.contains("from=")) {
        let query = c.split_once(' ').map_or("", |x| x.1);
        let q: Vec<(&str, &str)> = query.split('&').filter_map(|p| p.split_once('=')).collect();
        let day = |k: &str| {
            q.iter()
                .find(|(n, _)| *n == k)
                .and_then(|(_, v)| chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
                .expect("date")
        };
        let span = (day("to") - day("from")).num_days() + 1;
        assert!((1..=28).contains(&span), "{c}");
    }
    assert!(
        calls.iter().any(|c| c.starts_with("/v3/users/wrist-ecg")),
        "the 404 of an empty endpoint did not stop the window"
    );
}

#[tokio::test]
async fn polar_revoked_grant_marks_the_connection_revoked() {
    Rig::start("polar")
        .await
        .assert_a_revoked_grant_marks_the_connection_revoked()
        .await;
}

#[tokio::test]
async fn polar_faults_delay_but_never_lose_a_window() {
    let rig = Rig::start("polar").await;
    let user = rig.connect_through_faults().await;
    assert_eq!(rig.data(&user, WORKOUTS).await.len(), 2);
    assert_eq!(rig.data(&user, SLEEPS).await.len(), 1);
    let a = rig
        .data(
            &user,
            "summaries/activity?start_date=2024-06-01&end_date=2024-06-02",
        )
        .await;
    assert_eq!(a[0]["steps"], 12877, "{a:?}");
}

#[tokio::test]
async fn polar_webhooks_add_new_data_and_bad_signatures_change_nothing() {
    let rig = rig_with_secret().await;
    let user = rig.connected_user().await;
    assert_eq!(rig.data(&user, WORKOUTS).await.len(), 2);

    // The unsigned PING handshake is answered before any signature check.
    assert_eq!(rig.webhook("ping").await, 200);
    let ping = rig.post_webhook(&[], r#"{"event":"PING"}"#).await;
    assert_eq!(
        (ping.status.as_u16(), &ping.body["status"]),
        (200, &serde_json::json!("ok"))
    );

    // A forged notification for new data is refused and pulls nothing.
    rig.fake.fake.add_item(
        "exercises",
        serde_json::json!({"id":"Forged1","start_time":"2024-06-04T09:00:00","start_time_utc_offset":120,
            "duration":"PT30M","calories":300,"sport":"RUNNING","detailed_sport_info":"RUNNING_ROAD"}),
    );
    let calls = rig.fake.fake.calls().len();
    let body = r#"{"event":"EXERCISE","user_id":58204113,"entity_id":"Forged1","timestamp":"2024-06-04T09:40:00Z","url":"https://www.polaraccesslink.com/v3/exercises/Forged1"}"#;
    let forged = format!("{:0>64}", "bad");
    let bad = rig
        .post_webhook(&[("Polar-Webhook-Signature", forged.as_str())], body)
        .await;
    assert_eq!(bad.status.as_u16(), 401, "{:?}", bad.body);
    assert_eq!(bad.body["detail"], "Invalid webhook signature");
    let unsigned = rig.post_webhook(&[], body).await;
    assert_eq!(unsigned.status.as_u16(), 401);
    rig.idle().await;
    assert_eq!(rig.fake.fake.calls().len(), calls, "no pull was triggered");
    assert_eq!(rig.data(&user, WORKOUTS).await.len(), 2);

    // Correctly signed but malformed: 400.
    let junk = r#"{"event":"NOPE","user_id":58204113}"#;
    let sig = sign(junk.as_bytes());
    let a = rig
        .post_webhook(&[("Polar-Webhook-Signature", sig.as_str())], junk)
        .await;
    assert_eq!(a.status.as_u16(), 400, "{:?}", a.body);

    // The fake's signed EXERCISE notification pulls the new run (and the unsigned one with it,
    // since AccessLink's exercise list has no date filter).
    assert_eq!(rig.webhook("exercise").await, 200);
    let w = rig.data(&user, WORKOUTS).await;
    let new = w
        .iter()
        .find(|x| x["type"] == "running" && x["calories_kcal"] == 802.0)
        .unwrap_or_else(|| panic!("the new run {WEBHOOK_EXERCISE_ID}: {w:?}"));
    assert_eq!(
        (new["start_time"].as_str(), new["distance_meters"].as_f64()),
        (Some("2024-06-03T15:30:00Z"), Some(14250.0))
    );
    // The SLEEP notification pulls the new night.
    assert_eq!(rig.webhook("sleep").await, 200);
    let s = rig.data(&user, SLEEPS).await;
    assert_eq!(s.len(), 2, "{s:?}");
    assert!(
        s.iter().any(|x| x["end_time"] == "2024-06-04T04:41:07Z"),
        "{s:?}"
    );

    // No GET challenge for Polar.
    let get = rig
        .call("GET", "/api/v1/providers/polar/webhooks", None)
        .await;
    assert_eq!(get.status.as_u16(), 400);
}

#[tokio::test]
async fn polar_webhooks_without_a_configured_secret_are_refused() {
    let rig = Rig::start("polar").await;
    let user = rig.connected_user().await;
    assert_eq!(rig.webhook("exercise").await, 401);
    assert_eq!(rig.data(&user, WORKOUTS).await.len(), 2);
    // The PING still passes.
    assert_eq!(rig.webhook("ping").await, 200);
}

#[tokio::test]
async fn polar_disconnect_deregisters_the_user_at_accesslink() {
    let rig = Rig::start("polar").await;
    let user = rig.connected_user().await;
    let d = rig
        .call(
            "DELETE",
            &format!("/api/v1/users/{user}/connections/polar"),
            None,
        )
        .await;
    assert_eq!(d.status.as_u16(), 204);
    assert_eq!(rig.fake.fake.with(|s| s.deregistrations), 1);
    assert!(
        rig.fake
            .fake
            .calls()
            .iter()
            .any(|c| c.starts_with(&format!("/v3/users/{ACCOUNT_ID}"))),
        "DELETE /v3/users/{{x_user_id}}"
    );
    assert!(rig.fake.fake.items("registrations").is_empty());
    assert_eq!(rig.connection(&user).await["status"], "revoked");
}

#[tokio::test]
async fn polar_deregister_needs_a_live_token_and_the_polar_user_id() {
    let rig = Rig::start("polar").await;
    let http = reqwest::Client::new();
    let (token, _) = rig.fake.fake.issue_tokens();
    let mut f = shared::providers::sync::Fetcher::new(&http, &rig.fake.base_url, &token);
    assert!(
        shared::providers::polar::deregister(&f).await.is_err(),
        "no user id"
    );
    f.provider_user_id = Some(ACCOUNT_ID);
    shared::providers::polar::deregister(&f)
        .await
        .expect("deregistered");
    assert_eq!(rig.fake.fake.with(|s| s.deregistrations), 1);
    let mut stale = shared::providers::sync::Fetcher::new(&http, &rig.fake.base_url, "nope");
    stale.provider_user_id = Some(ACCOUNT_ID);
    assert!(matches!(
        shared::providers::polar::deregister(&stale).await,
        Err(shared::providers::sync::FetchError::Unauthorized)
    ));
}

#[tokio::test]
async fn polar_webhook_registration_pings_us_and_stores_the_signing_secret() {
    // No POLAR_WEBHOOK_SECRET configured: the secret comes from the registration.
    let rig = Rig::start("polar").await;
    let user = rig.connected_user().await;
    let jwt = rig.developer_token().await;
    let base = "/api/v1/providers/polar/webhooks/subscriptions";
    let callback = format!("{}/api/v1/providers/polar/webhooks", rig.api);

    // Polar PINGs the URL before creating the webhook: an unreachable one is refused.
    let refused = rig
        .dev_call(
            &jwt,
            "POST",
            &format!("{base}?callback_url=http://127.0.0.1:1/nowhere"),
        )
        .await;
    assert_eq!(refused.status.as_u16(), 502, "{:?}", refused.body);
    assert_eq!(rig.fake.fake.with(|s| s.subscriptions.len()), 0);

    let reg = rig
        .dev_call(&jwt, "POST", &format!("{base}?callback_url={callback}"))
        .await;
    assert_eq!(reg.status.as_u16(), 200, "{:?}", reg.body);
    assert_eq!(
        reg.body["subscriptions"][0]["status"], "created",
        "{:?}",
        reg.body
    );
    let again = rig
        .dev_call(&jwt, "POST", &format!("{base}?callback_url={callback}"))
        .await;
    assert_eq!(again.body["subscriptions"][0]["status"], "skipped");
    let list = rig.dev_call(&jwt, "GET", base).await;
    let subs = list.body["subscriptions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(subs.len(), 1, "{:?}", list.body);
    assert_eq!(subs[0]["url"], callback.as_str());
    assert_eq!(subs[0]["events"].as_array().map(Vec::len), Some(7));
    let id = subs[0]["id"].as_str().expect("id").to_string();

    // The stored secret verifies the fake's signed notifications.
    assert_eq!(rig.webhook("exercise").await, 200);
    assert!(
        rig.data(&user, WORKOUTS)
            .await
            .iter()
            .any(|w| w["calories_kcal"] == 802.0),
        "the new run was pulled"
    );

    // URL changes are PINGed too; registering the old URL again patches it back.
    let moved = rig
        .dev_call(
            &jwt,
            "PUT",
            &format!("{base}/{id}?callback_url={callback}%3Fv%3D2"),
        )
        .await;
    assert_eq!(
        moved.body["updated"]["status"], "updated",
        "{:?}",
        moved.body
    );
    let back = rig
        .dev_call(&jwt, "POST", &format!("{base}?callback_url={callback}"))
        .await;
    assert_eq!(back.body["subscriptions"][0]["status"], "patched");
    assert_eq!(
        rig.dev_call(&jwt, "POST", &format!("{base}/renew"))
            .await
            .status
            .as_u16(),
        501
    );
    assert_eq!(
        rig.dev_call(&jwt, "GET", &format!("{base}/{id}"))
            .await
            .status
            .as_u16(),
        501
    );
    let gone = rig.dev_call(&jwt, "DELETE", &format!("{base}/{id}")).await;
    assert_eq!(gone.body["deleted"]["status"], "deleted", "{:?}", gone.body);
    let twice = rig.dev_call(&jwt, "DELETE", &format!("{base}/{id}")).await;
    assert_eq!(twice.body["deleted"]["status"], "error");
    assert_eq!(rig.fake.fake.with(|s| s.subscriptions.len()), 0);
    assert!(rig.assert_secret_key_never_sent() > 3);
}

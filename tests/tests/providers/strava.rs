//! Strava end to end: consent, backfill (paged activities, optional streams), the read API,
//! revocation, faults, deauthorization.

use ow_e2e::providers::Rig;
use ow_fakes::FakeOptions;
use serde_json::Value;

const WINDOW: &str = "start_date=2023-12-01&end_date=2024-06-11";

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

#[tokio::test]
async fn strava_backfill_lands_in_the_read_api() {
    let rig = Rig::start("strava").await;
    let user = rig.connected_user().await;
    let c = rig.connection(&user).await;
    assert_eq!(
        (
            c["status"].as_str(),
            c["provider_user_id"].as_str(),
            c["provider_username"].as_str()
        ),
        (Some("active"), Some("73014522"), Some("hillclimber")),
        "{c}"
    );
    // The three activities of the last 90 days, newest first; the one from January is not.
    let w = rig.data(&user, &format!("events/workouts?{WINDOW}")).await;
    let types: Vec<&str> = w.iter().map(|x| x["type"].as_str().unwrap_or("")).collect();
    assert_eq!(
        types,
        vec!["strength_training", "cycling", "running"],
        "{w:?}"
    );
    let gravel = &w[1];
    assert_eq!(
        (
            gravel["start_time"].as_str(),
            gravel["end_time"].as_str(),
            gravel["zone_offset"].as_str(),
            gravel["duration_seconds"].as_i64(),
            gravel["distance_meters"].as_f64(),
            gravel["elevation_gain_meters"].as_f64(),
            gravel["avg_heart_rate_bpm"].as_i64(),
            gravel["max_heart_rate_bpm"].as_i64(),
        ),
        (
            Some("2024-06-02T05:48:11Z"),
            Some("2024-06-02T07:35:03Z"),
            Some("+02:00"),
            Some(6412),
            Some(48231.6),
            Some(521.0),
            Some(137),
            Some(172)
        ),
        "{gravel}"
    );
    assert!(
        (f(&gravel["calories_kcal"]) - 1024.6 * 0.239006).abs() < 0.01,
        "kJ → kcal: {gravel}"
    );
    let run = &w[2];
    assert_eq!(run["start_time"], "2024-06-01T06:30:00Z");
    assert_eq!(run["distance_meters"].as_f64(), Some(10012.3));
    assert!(
        run["calories_kcal"].is_null(),
        "no power meter, no calories in the list: {run}"
    );
    // Without the streams setting, no samples are pulled.
    let hr = rig
        .data(
            &user,
            "timeseries?start_time=2024-06-02T00:00:00Z&end_time=2024-06-03T00:00:00Z&types=heart_rate",
        )
        .await;
    assert!(hr.is_empty(), "{hr:?}");
    // The list was read with Strava's own paging parameters.
    let calls = rig.fake.fake.calls();
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("/api/v3/athlete/activities ") && c.contains("per_page=200")),
        "{calls:?}"
    );
}

#[tokio::test]
async fn strava_pages_short_and_ingests_streams_when_asked() {
    let rig = Rig::start_with(
        "strava",
        FakeOptions::default(),
        &[
            ("STRAVA_EVENTS_PER_PAGE", "2"),
            ("STRAVA_INGEST_WORKOUT_SAMPLES", "true"),
        ],
    )
    .await;
    let user = rig.connected_user().await;
    let w = rig.data(&user, &format!("events/workouts?{WINDOW}")).await;
    assert_eq!(w.len(), 3, "all pages were read: {w:?}");
    let calls = rig.fake.fake.calls();
    assert!(
        calls
            .iter()
            .any(|c| c.contains("page=2") && c.contains("per_page=2")),
        "{calls:?}"
    );
    let hr = rig
        .data(
            &user,
            "timeseries?start_time=2024-06-02T00:00:00Z&end_time=2024-06-03T00:00:00Z&types=heart_rate",
        )
        .await;
    let got: Vec<(&str, f64)> = hr
        .iter()
        .map(|p| (p["timestamp"].as_str().unwrap_or(""), f(&p["value"])))
        .collect();
    assert_eq!(got.len(), 4, "{hr:?}");
    assert!(got[0].0.starts_with("2024-06-02T05:48:11"), "{got:?}");
    assert_eq!(
        got.iter().map(|x| x.1).collect::<Vec<_>>(),
        vec![118.0, 121.0, 125.0, 127.0]
    );
    let power = rig
        .data(
            &user,
            "timeseries?start_time=2024-06-02T00:00:00Z&end_time=2024-06-03T00:00:00Z&types=power",
        )
        .await;
    assert_eq!(power.len(), 4, "{power:?}");
}

#[tokio::test]
async fn strava_revoked_grant_marks_the_connection_revoked() {
    Rig::start("strava")
        .await
        .assert_a_revoked_grant_marks_the_connection_revoked()
        .await;
}

#[tokio::test]
async fn strava_faults_delay_but_never_lose_a_window() {
    let rig = Rig::start("strava").await;
    let user = rig.connect_through_faults().await;
    let w = rig.data(&user, &format!("events/workouts?{WINDOW}")).await;
    assert_eq!(w.len(), 3, "{w:?}");
}

#[tokio::test]
async fn strava_disconnect_deauthorizes_the_token() {
    let rig = Rig::start("strava").await;
    let user = rig.connected_user().await;
    let path = format!("/api/v1/users/{user}/connections/strava");
    let d = rig.call("DELETE", &path, None).await;
    assert_eq!(d.status.as_u16(), 204, "{:?}", d.body);
    assert_eq!(rig.fake.fake.with(|s| s.deregistrations), 1);
    assert_eq!(rig.connection(&user).await["status"], "revoked");
    assert!(
        rig.fake.fake.with(|s| s.access_tokens.is_empty()),
        "the grant's token was deauthorized"
    );
}

#[tokio::test]
async fn strava_events_pull_new_activities_and_deauthorizations_revoke() {
    let rig = Rig::start("strava").await;
    let user = rig.connected_user().await;
    let workouts = format!("events/workouts?{WINDOW}");
    assert_eq!(rig.data(&user, &workouts).await.len(), 3);

    // Events without a fresh X-Strava-Signature timestamp are refused; nothing is pulled.
    let calls = rig.fake.fake.calls().len();
    assert_eq!(rig.webhook("activity.create#unsigned").await, 401);
    assert_eq!(rig.webhook("activity.create#stale").await, 401);
    let bad_schema = rig
        .post_webhook(
            &[("X-Strava-Signature", "t=1718020800,v1=00")],
            r#"{"object_type":"club","object_id":1,"aspect_type":"create","owner_id":73014522,"subscription_id":1,"event_time":1718020800}"#,
        )
        .await;
    assert_eq!(
        (
            bad_schema.status.as_u16(),
            bad_schema.body["detail"].as_str()
        ),
        (400, Some("Invalid JSON body"))
    );
    rig.idle().await;
    assert_eq!(rig.fake.fake.calls().len(), calls, "no pull was triggered");
    assert_eq!(rig.data(&user, &workouts).await.len(), 3);

    // A signed create event pulls the new activity.
    assert_eq!(rig.webhook("activity.create").await, 200);
    let w = rig.data(&user, &workouts).await;
    assert_eq!(w.len(), 4, "{w:?}");
    assert_eq!(
        (
            w[0]["type"].as_str(),
            w[0]["start_time"].as_str(),
            w[0]["distance_meters"].as_f64(),
            w[0]["elevation_gain_meters"].as_f64()
        ),
        (
            Some("trail_running"),
            Some("2024-06-10T05:30:00Z"),
            Some(12840.0),
            Some(388.0)
        ),
        "{w:?}"
    );

    // The athlete corrects the anchor-day run at Strava: the update replaces the stored
    // workout with the new version (not first-write-wins), the others stay.
    assert_eq!(rig.webhook("activity.update").await, 200);
    let w = rig.data(&user, &workouts).await;
    assert_eq!(w.len(), 4, "{w:?}");
    let fixed = w
        .iter()
        .find(|x| {
            x["start_time"]
                .as_str()
                .is_some_and(|t| t.starts_with("2024-06-01"))
        })
        .expect("the anchor-day run is still there");
    assert_eq!(
        (fixed["type"].as_str(), fixed["distance_meters"].as_f64()),
        (Some("trail_running"), Some(10555.0)),
        "{fixed}"
    );

    // The athlete deletes the anchor-day run at Strava: the delete event removes that workout
    // (by the activity id the pull stored), without a call to Strava; the others stay.
    let calls = rig.fake.fake.calls().len();
    assert_eq!(rig.webhook("activity.delete").await, 200);
    assert_eq!(
        rig.fake.fake.calls().len(),
        calls,
        "a deletion pulls nothing"
    );
    let w = rig.data(&user, &workouts).await;
    let starts: Vec<&str> = w
        .iter()
        .map(|x| x["start_time"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        starts,
        vec![
            "2024-06-10T05:30:00Z",
            "2024-06-04T16:00:00Z",
            "2024-06-02T05:48:11Z"
        ],
        "the 2024-06-01 run is gone: {w:?}"
    );
    // A repeated deletion finds nothing and changes nothing.
    assert_eq!(rig.webhook("activity.delete").await, 200);
    assert_eq!(rig.data(&user, &workouts).await.len(), 3);

    // The athlete deauthorizes us at Strava: the connection is revoked, no call back to Strava.
    assert_eq!(rig.webhook("athlete.deauthorize").await, 200);
    let c = rig.connection(&user).await;
    assert_eq!(c["status"], "revoked", "{c}");
    assert_eq!(rig.fake.fake.with(|s| s.deregistrations), 0);
}

#[tokio::test]
async fn strava_challenge_answers_on_the_unified_and_legacy_paths() {
    let rig = Rig::start("strava").await;
    for path in [
        "/api/v1/providers/strava/webhooks",
        "/api/v1/strava/webhooks",
        "/api/v1/strava/webhook",
    ] {
        let ok = rig
            .call(
                "GET",
                &format!("{path}?hub.mode=subscribe&hub.challenge=15f7d1a9&hub.verify_token=test-secret-key-0123456789abcdef"),
                None,
            )
            .await;
        assert_eq!(ok.status.as_u16(), 200, "{path}: {:?}", ok.body);
        assert_eq!(ok.body, serde_json::json!({"hub.challenge": "15f7d1a9"}));
        let mode = rig
            .call(
                "GET",
                &format!("{path}?hub.mode=unsubscribe&hub.challenge=x&hub.verify_token=test-secret-key-0123456789abcdef"),
                None,
            )
            .await;
        assert_eq!(
            (mode.status.as_u16(), mode.body["detail"].as_str()),
            (400, Some("Invalid hub.mode"))
        );
        let token = rig
            .call(
                "GET",
                &format!("{path}?hub.mode=subscribe&hub.challenge=x&hub.verify_token=guess"),
                None,
            )
            .await;
        assert_eq!(
            (token.status.as_u16(), token.body["detail"].as_str()),
            (403, Some("Invalid verify token"))
        );
    }
}

#[tokio::test]
async fn strava_subscription_is_registered_once_after_the_challenge() {
    let rig = Rig::start("strava").await;
    let jwt = rig.developer_token().await;
    let base = "/api/v1/providers/strava/webhooks/subscriptions";
    let callback = format!("{}/api/v1/providers/strava/webhooks", rig.api);
    let reg = rig
        .dev_call(&jwt, "POST", &format!("{base}?callback_url={callback}"))
        .await;
    assert_eq!(reg.status.as_u16(), 200, "{:?}", reg.body);
    assert_eq!(
        reg.body["subscriptions"]["status"], "created",
        "{:?}",
        reg.body
    );
    assert_eq!(reg.body["subscriptions"]["subscription_id"], "260114");
    // The fake created it only after our endpoint answered its challenge.
    let subs = rig.fake.fake.with(|s| s.subscriptions.clone());
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0]["callback_url"], callback.as_str());
    let again = rig
        .dev_call(&jwt, "POST", &format!("{base}?callback_url={callback}"))
        .await;
    assert_eq!(
        again.body["subscriptions"]["status"], "skipped",
        "{:?}",
        again.body
    );
    let list = rig.dev_call(&jwt, "GET", base).await;
    assert_eq!(
        list.body["subscriptions"][0]["id"], 260114,
        "{:?}",
        list.body
    );
    assert_eq!(
        rig.dev_call(&jwt, "POST", &format!("{base}/renew"))
            .await
            .status
            .as_u16(),
        501
    );
    let del = rig
        .dev_call(&jwt, "DELETE", &format!("{base}/260114"))
        .await;
    assert_eq!(del.body["deleted"]["status"], "deleted", "{:?}", del.body);
    assert!(rig.fake.fake.with(|s| s.subscriptions.is_empty()));
    // A callback that fails the challenge is not registered.
    let elsewhere = format!("{}/api/v1/nowhere", rig.api);
    let refused = rig
        .dev_call(&jwt, "POST", &format!("{base}?callback_url={elsewhere}"))
        .await;
    assert_eq!(refused.status.as_u16(), 502, "{:?}", refused.body);
    assert!(rig.fake.fake.with(|s| s.subscriptions.is_empty()));
}

#[tokio::test]
async fn strava_deregistration_deauthorizes_the_token() {
    let rig = Rig::start("strava").await;
    let (token, _) = rig.fake.fake.issue_tokens();
    let http = reqwest::Client::new();
    let f = shared::providers::sync::Fetcher::new(&http, &rig.fake.base_url, &token);
    shared::providers::strava::deregister(&f)
        .await
        .expect("deauthorized");
    assert_eq!(rig.fake.fake.with(|s| s.deregistrations), 1);
    assert!(
        !rig.fake.fake.with(|s| s.access_tokens.contains(&token)),
        "the token no longer works"
    );
}

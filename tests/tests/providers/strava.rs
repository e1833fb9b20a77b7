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
    // (by the activity id the pull stored) once Strava confirms the activity is gone (404);
    // nothing is pulled; the others stay.
    let calls = rig.fake.fake.calls().len();
    assert_eq!(rig.webhook("activity.delete").await, 200);
    assert_eq!(
        rig.fake.fake.calls()[calls..],
        ["/api/v3/activities/11550011223 ".to_string()],
        "one confirming call, no pull"
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

    // The athlete deauthorizes us at Strava: Strava refuses the token (and its refresh), so
    // the connection is revoked; no deauthorization call back to Strava.
    assert_eq!(rig.webhook("athlete.deauthorize").await, 200);
    let c = rig.connection(&user).await;
    assert_eq!(c["status"], "revoked", "{c}");
    assert_eq!(rig.fake.fake.with(|s| s.deregistrations), 0);
}

/// A signed-looking Strava event (a fresh `X-Strava-Signature` timestamp, which proves nothing).
fn event(object_type: &str, object_id: i64, aspect: &str, updates: Value) -> String {
    serde_json::json!({"aspect_type": aspect, "event_time": 1_718_020_770_i64, "object_id": object_id,
        "object_type": object_type, "owner_id": 73_014_522_i64, "subscription_id": 260_114,
        "updates": updates})
    .to_string()
}

const FRESH: (&str, &str) = ("X-Strava-Signature", "t=1718020800,v1=00ff");

#[tokio::test]
async fn strava_forged_events_without_the_url_secret_are_refused_and_change_nothing() {
    let rig = Rig::start("strava").await;
    let user = rig.connected_user().await;
    let workouts = format!("events/workouts?{WINDOW}");
    let calls = rig.fake.fake.calls().len();
    let create = event("activity", 11_601_234_567, "create", serde_json::json!({}));
    let deauth = event(
        "athlete",
        73_014_522,
        "update",
        serde_json::json!({"authorized": "false"}),
    );
    let delete = event("activity", 11_550_011_223, "delete", serde_json::json!({}));
    let secret_url = rig.webhook_url().await;
    let wrong = format!(
        "{}/{}",
        secret_url.rsplit_once('/').map_or("", |(a, _)| a),
        "0".repeat(64)
    );
    for url in [
        rig.url("/api/v1/providers/strava/webhooks"),
        rig.url("/api/v1/strava/webhooks"),
        rig.url("/api/v1/strava/webhook"),
        wrong,
    ] {
        for body in [&create, &deauth, &delete] {
            let a = rig.post_webhook_to(&url, &[FRESH], body).await;
            assert_eq!(a.status.as_u16(), 401, "{url}: {}", a.body);
            assert!(
                a.body["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("webhook URL")),
                "{}",
                a.body
            );
        }
    }
    rig.idle().await;
    assert_eq!(rig.fake.fake.calls().len(), calls, "Strava was not called");
    assert_eq!(rig.connection(&user).await["status"], "active");
    assert_eq!(
        rig.data(&user, &workouts).await.len(),
        3,
        "nothing stored or deleted"
    );
}

#[tokio::test]
async fn strava_events_strava_contradicts_change_nothing() {
    let rig = Rig::start("strava").await;
    let user = rig.connected_user().await;
    let workouts = format!("events/workouts?{WINDOW}");
    // With the URL secret (leaked, say), but the athlete's token still works: no revocation.
    let deauth = event(
        "athlete",
        73_014_522,
        "update",
        serde_json::json!({"authorized": "false"}),
    );
    let a = rig.post_webhook(&[FRESH], &deauth).await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.body);
    rig.idle().await;
    let c = rig.connection(&user).await;
    assert_eq!(c["status"], "active", "{c}");
    assert!(
        rig.fake
            .fake
            .calls()
            .iter()
            .any(|c| c.starts_with("/api/v3/athlete "))
    );
    // A delete of an activity Strava still has: nothing is deleted.
    let delete = event("activity", 11_550_011_223, "delete", serde_json::json!({}));
    let a = rig.post_webhook(&[FRESH], &delete).await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.body);
    rig.idle().await;
    assert_eq!(rig.data(&user, &workouts).await.len(), 3, "nothing deleted");
    // An update of an activity Strava no longer has (404): our copy is not replaced.
    rig.fake.fake.with(|s| {
        if let Some(a) = s.items.get_mut("activities") {
            a.retain(|x| x["id"] != 11_550_011_223_i64);
        }
    });
    let update = event(
        "activity",
        11_550_011_223,
        "update",
        serde_json::json!({"title": "x"}),
    );
    let a = rig.post_webhook(&[FRESH], &update).await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.body);
    rig.idle().await;
    assert_eq!(
        rig.data(&user, &workouts).await.len(),
        3,
        "an unconfirmed update deletes nothing"
    );
    // Strava unreachable while confirming: 5xx, so Strava redelivers; nothing changed.
    rig.fake.fake.fail(4);
    let a = rig.post_webhook(&[FRESH], &deauth).await;
    assert!(a.status.is_server_error(), "{a:?}");
    rig.fake.fake.fail(0);
    assert_eq!(rig.connection(&user).await["status"], "active");
}

#[tokio::test]
async fn strava_subscription_and_webhooks_never_send_the_secret_key() {
    let rig = Rig::start("strava").await;
    let user = rig.connected_user().await;
    let jwt = rig.developer_token().await;
    let base = "/api/v1/providers/strava/webhooks/subscriptions";
    let callback = format!("{}/api/v1/providers/strava/webhooks", rig.api);
    let reg = rig
        .dev_call(&jwt, "POST", &format!("{base}?callback_url={callback}"))
        .await;
    assert_eq!(reg.status.as_u16(), 200, "{:?}", reg.body);
    // The fake now sends to the registered callback (with the URL secret).
    assert_eq!(rig.webhook("activity.create").await, 200);
    assert_eq!(rig.webhook("athlete.deauthorize").await, 200);
    assert_eq!(rig.connection(&user).await["status"], "revoked");
    let sent = rig.fake.fake.with(|s| s.requests.clone());
    assert!(
        sent.iter()
            .any(|r| r.uri.starts_with("/api/v3/push_subscriptions")
                && r.body.contains("verify_token")),
        "the registration was recorded"
    );
    assert!(rig.assert_secret_key_never_sent() > 5);
}

#[tokio::test]
async fn strava_challenge_answers_only_on_the_secret_url_with_the_derived_token() {
    let rig = Rig::start("strava").await;
    let token = shared::keys::derive(
        &rig.state.config.secret_key,
        shared::keys::STRAVA_VERIFY_TOKEN.label,
    );
    let secret_url = rig.webhook_url().await;
    let get = |url: String| {
        let http = rig.http.clone();
        async move {
            let r = http.get(url).send().await.expect("get");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let ok = get(format!(
        "{secret_url}?hub.mode=subscribe&hub.challenge=15f7d1a9&hub.verify_token={token}"
    ))
    .await;
    assert_eq!(ok, (200, serde_json::json!({"hub.challenge": "15f7d1a9"})));
    let mode = get(format!(
        "{secret_url}?hub.mode=unsubscribe&hub.challenge=x&hub.verify_token={token}"
    ))
    .await;
    assert_eq!(
        (mode.0, mode.1["detail"].as_str()),
        (400, Some("Invalid hub.mode"))
    );
    // SECRET_KEY is not the verify token (it never leaves the process).
    let key = rig.state.config.secret_key.clone();
    let root = get(format!(
        "{secret_url}?hub.mode=subscribe&hub.challenge=x&hub.verify_token={key}"
    ))
    .await;
    assert_eq!(
        (root.0, root.1["detail"].as_str()),
        (403, Some("Invalid verify token"))
    );
    // Without the URL secret, on every path: 401.
    for path in [
        "/api/v1/providers/strava/webhooks",
        "/api/v1/strava/webhooks",
        "/api/v1/strava/webhook",
    ] {
        let a = get(rig.url(&format!(
            "{path}?hub.mode=subscribe&hub.challenge=x&hub.verify_token={token}"
        )))
        .await;
        assert_eq!(a.0, 401, "{path}: {}", a.1);
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
    // Registered with this installation's URL secret as the last path segment.
    let secret_url = rig.webhook_url().await;
    assert!(
        secret_url.starts_with(&format!("{callback}/")),
        "{secret_url}"
    );
    assert_eq!(
        reg.body["subscriptions"]["callback_url"],
        secret_url.as_str()
    );
    let subs = rig.fake.fake.with(|s| s.subscriptions.clone());
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0]["callback_url"], secret_url.as_str());
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
    // A callback that is not our Strava webhook URL is refused before Strava is called.
    let elsewhere = format!("{}/api/v1/nowhere", rig.api);
    let refused = rig
        .dev_call(&jwt, "POST", &format!("{base}?callback_url={elsewhere}"))
        .await;
    assert_eq!(refused.status.as_u16(), 400, "{:?}", refused.body);
    // Our webhook path on another host is refused too: Strava would hand that host the
    // verify token and the URL secret.
    let other_host = "http://127.0.0.1:9/api/v1/providers/strava/webhooks";
    let refused = rig
        .dev_call(&jwt, "POST", &format!("{base}?callback_url={other_host}"))
        .await;
    assert_eq!(refused.status.as_u16(), 400, "{:?}", refused.body);
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

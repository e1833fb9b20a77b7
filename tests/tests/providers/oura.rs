//! Oura end to end: consent, backfill, read API, revocation, faults.

use ow_e2e::providers::Rig;

#[tokio::test]
async fn oura_backfill_lands_in_the_read_api() {
    let rig = Rig::start("oura").await;
    let user = rig.connected_user().await;
    let c = rig.connection(&user).await;
    assert_eq!(
        (c["status"].as_str(), c["provider_user_id"].as_str()),
        (Some("active"), Some("oura-user-1")),
        "{c}"
    );
    let w = rig
        .data(
            &user,
            "events/workouts?start_date=2024-05-01&end_date=2024-06-10",
        )
        .await;
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(
        (
            w[0]["type"].as_str(),
            w[0]["calories_kcal"].as_f64(),
            w[0]["distance_meters"].as_f64(),
            w[0]["start_time"].as_str(),
        ),
        (
            Some("running"),
            Some(412.0),
            Some(6120.0),
            Some("2024-06-01T05:02:00Z")
        )
    );
    let s = rig
        .data(
            &user,
            "events/sleep?start_date=2024-05-01&end_date=2024-06-10",
        )
        .await;
    assert_eq!(s[0]["stages"]["deep_minutes"], 80, "{s:?}");
    let a = rig
        .data(
            &user,
            "summaries/activity?start_date=2024-06-01&end_date=2024-06-02",
        )
        .await;
    assert_eq!(a[0]["steps"], 10322, "{a:?}");
}

#[tokio::test]
async fn oura_revoked_grant_marks_the_connection_revoked() {
    Rig::start("oura")
        .await
        .assert_a_revoked_grant_marks_the_connection_revoked()
        .await;
}

#[tokio::test]
async fn oura_faults_delay_but_never_lose_a_window() {
    let rig = Rig::start("oura").await;
    let user = rig.connect_through_faults().await;
    let w = rig
        .data(
            &user,
            "events/workouts?start_date=2024-05-01&end_date=2024-06-10",
        )
        .await;
    assert_eq!(w.len(), 1, "{w:?}");
}

#[tokio::test]
async fn oura_webhooks_add_new_data_and_bad_signatures_change_nothing() {
    let rig = Rig::start("oura").await;
    let user = rig.connected_user().await;
    let range = "events/workouts?start_date=2024-05-01&end_date=2024-06-10";
    assert_eq!(rig.data(&user, range).await.len(), 1);

    // A forged notification is refused and queues nothing.
    let calls = rig.fake.fake.calls().len();
    let body = r#"{"event_type":"create","data_type":"workout","object_id":"x","event_time":"2024-06-03T18:45:00+00:00","user_id":"oura-user-1"}"#;
    let bad = rig
        .post_webhook(
            &[
                ("x-oura-signature", "00ff"),
                ("x-oura-timestamp", "1717440000"),
            ],
            body,
        )
        .await;
    assert_eq!(bad.status.as_u16(), 401, "{:?}", bad.body);
    assert_eq!(bad.body["detail"], "Invalid webhook signature");
    let unsigned = rig.post_webhook(&[], body).await;
    assert_eq!(unsigned.status.as_u16(), 401);
    rig.idle().await;
    assert_eq!(rig.fake.fake.calls().len(), calls, "no pull was triggered");

    // The fake's signed notification pulls the new workout.
    assert_eq!(rig.webhook("workout").await, 200);
    let w = rig.data(&user, range).await;
    assert_eq!(w.len(), 2, "{w:?}");
    let new = w
        .iter()
        .find(|x| x["type"] == "cycling")
        .expect("the new ride");
    assert_eq!(
        (
            new["calories_kcal"].as_f64(),
            new["distance_meters"].as_f64()
        ),
        (Some(655.0), Some(24310.0))
    );

    // The subscription challenge, on the unified and the legacy path.
    // The verification token is derived from SECRET_KEY (never SECRET_KEY itself).
    let token = shared::keys::derive(
        &rig.state.config.secret_key,
        shared::keys::OURA_VERIFICATION_TOKEN.label,
    );
    for path in ["/api/v1/providers/oura/webhooks", "/api/v1/oura/webhooks"] {
        let ok = rig
            .call(
                "GET",
                &format!("{path}?verification_token={token}&challenge=c-42"),
                None,
            )
            .await;
        assert_eq!(
            (ok.status.as_u16(), &ok.body["challenge"]),
            (200, &serde_json::json!("c-42"))
        );
        let no = rig
            .call(
                "GET",
                &format!("{path}?verification_token=wrong&challenge=c-42"),
                None,
            )
            .await;
        assert_eq!(no.status.as_u16(), 401);
        let root = rig
            .call(
                "GET",
                &format!(
                    "{path}?verification_token={}&challenge=c-42",
                    rig.state.config.secret_key
                ),
                None,
            )
            .await;
        assert_eq!(root.status.as_u16(), 401, "SECRET_KEY is not the token");
    }
}

#[tokio::test]
async fn oura_disconnect_revokes_the_token_at_oura() {
    let rig = Rig::start("oura").await;
    let user = rig.connected_user().await;
    let d = rig
        .call(
            "DELETE",
            &format!("/api/v1/users/{user}/connections/oura"),
            None,
        )
        .await;
    assert_eq!(d.status.as_u16(), 204);
    assert_eq!(rig.fake.fake.with(|s| s.deregistrations), 1);
    assert_eq!(rig.connection(&user).await["status"], "revoked");
    // Disconnecting again does not call Oura again.
    rig.call(
        "DELETE",
        &format!("/api/v1/users/{user}/connections/oura"),
        None,
    )
    .await;
    assert_eq!(rig.fake.fake.with(|s| s.deregistrations), 1);
}

#[tokio::test]
async fn webhooks_of_unknown_providers_and_providers_without_handlers() {
    let rig = Rig::start("oura").await;
    let unknown = rig
        .call(
            "POST",
            "/api/v1/providers/nokia/webhooks",
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(unknown.status.as_u16(), 404);
    assert_eq!(unknown.body["detail"], "Unknown provider: 'nokia'");
    let none = rig
        .call(
            "POST",
            "/api/v1/providers/fitbit/webhooks",
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(none.status.as_u16(), 400, "{:?}", none.body);
    assert!(
        none.body["detail"].as_str().is_some_and(
            |d| d.starts_with("Provider 'fitbit' does not support webhook notifications")
        ),
        "{:?}",
        none.body
    );
    // Sensor Bio has no webhooks either: the caller's choice, a 400 with a detail.
    let sensorbio = rig
        .call(
            "POST",
            "/api/v1/providers/sensorbio/webhooks",
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(sensorbio.status.as_u16(), 400, "{:?}", sensorbio.body);
    let health = rig
        .call("GET", "/api/v1/strava/webhooks/health", None)
        .await;
    assert_eq!(health.body["service"], "strava-webhooks");
}

#[tokio::test]
async fn oura_outage_postpones_windows_until_the_schedule_retries_them() {
    let rig = Rig::start("oura").await;
    rig.fake.fake.throttle(10_000);
    let user = rig.connected_user().await;
    let c = rig.connection(&user).await;
    assert_eq!(c["status"], "active");
    assert!(c["last_synced_at"].is_null(), "nothing synced yet: {c}");
    let runs = rig.user_get(&user, "sync/runs").await;
    let runs = runs.as_array().cloned().unwrap_or_default();
    assert_eq!(
        runs.len(),
        3,
        "one run per 30-day window of the 90-day backfill: {runs:?}"
    );
    for r in &runs {
        assert_eq!(
            (
                r["status"].as_str(),
                r["stage"].as_str(),
                r["provider"].as_str()
            ),
            (Some("in_progress"), Some("queued"), Some("oura")),
            "{r}"
        );
        assert!(
            r["message"].as_str().unwrap_or("").contains("retrying at"),
            "{r}"
        );
    }
    let recent = rig.user_get(&user, "sync/recent?limit=200").await;
    assert_eq!(
        recent.as_array().map(Vec::len),
        Some(9),
        "three attempts per window, one event each"
    );

    // The provider recovers; the schedule's next tick after the delay retries every window.
    rig.fake.fake.throttle(0);
    assert_eq!(
        shared::jobs::schedule::tick(&rig.state)
            .await
            .expect("tick"),
        0,
        "the retry is not due yet"
    );
    rig.clock.advance(chrono::Duration::minutes(2));
    assert_eq!(
        shared::jobs::schedule::tick(&rig.state)
            .await
            .expect("tick"),
        3
    );
    rig.idle().await;
    let w = rig
        .data(
            &user,
            "events/workouts?start_date=2024-05-01&end_date=2024-06-10",
        )
        .await;
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(
        rig.connection(&user).await["last_synced_at"],
        "2024-06-10T12:00:00Z"
    );
    let all = rig
        .call(
            "GET",
            &format!("/api/v1/sync/runs?user_id={user}&status=success"),
            None,
        )
        .await;
    assert_eq!(all.body.as_array().map(Vec::len), Some(3), "{:?}", all.body);
    let none = rig
        .call("GET", "/api/v1/sync/runs?provider=polar", None)
        .await;
    assert_eq!(none.body, serde_json::json!([]));
    let missing = rig
        .call(
            "GET",
            "/api/v1/users/00000000-0000-4000-8000-000000000000/sync/runs",
            None,
        )
        .await;
    assert_eq!(
        (missing.status.as_u16(), missing.body["detail"].as_str()),
        (404, Some("User not found"))
    );
}

#[tokio::test]
async fn oura_subscriptions_are_registered_once_renewed_updated_and_deleted() {
    let rig = Rig::start("oura").await;
    let jwt = rig.developer_token().await;
    let base = "/api/v1/providers/oura/webhooks/subscriptions";
    let callback = format!("{}/api/v1/providers/oura/webhooks", rig.api);
    // Developer auth: an API key is not enough.
    assert_eq!(rig.call("GET", base, None).await.status.as_u16(), 401);
    let reg = rig
        .dev_call(&jwt, "POST", &format!("{base}?callback_url={callback}"))
        .await;
    assert_eq!(reg.status.as_u16(), 200, "{:?}", reg.body);
    let results = reg.body["subscriptions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(results.len(), 16, "create and update of eight data types");
    assert!(
        results.iter().all(|r| r["status"] == "created"),
        "{results:?}"
    );
    // Oura verified our callback through its challenge before creating each one.
    let again = rig
        .dev_call(&jwt, "POST", &format!("{base}?callback_url={callback}"))
        .await;
    assert!(
        again.body["subscriptions"]
            .as_array()
            .is_some_and(|a| a.iter().all(|r| r["status"] == "skipped")),
        "{:?}",
        again.body
    );
    let list = rig.dev_call(&jwt, "GET", base).await;
    let subs = list.body["subscriptions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(subs.len(), 16);
    let id = subs[0]["id"].as_str().expect("id").to_string();
    let one = rig.dev_call(&jwt, "GET", &format!("{base}/{id}")).await;
    assert_eq!(one.body["subscription"]["callback_url"], callback.as_str());
    let renewed = rig.dev_call(&jwt, "POST", &format!("{base}/renew")).await;
    assert_eq!(renewed.body["renewed"].as_array().map(Vec::len), Some(16));
    let moved = rig
        .dev_call(
            &jwt,
            "PUT",
            &format!(
                "{base}/{id}?callback_url={}/api/v1/providers/oura/webhooks/v2",
                rig.api
            ),
        )
        .await;
    assert_eq!(
        moved.body["updated"]["status"], "updated",
        "{:?}",
        moved.body
    );
    // Elsewhere is refused: Oura would send our verification token there.
    let elsewhere = rig
        .dev_call(
            &jwt,
            "PUT",
            &format!("{base}/{id}?callback_url=https://hooks.example.com/oura"),
        )
        .await;
    assert_eq!(elsewhere.status.as_u16(), 400, "{:?}", elsewhere.body);
    let gone = rig.dev_call(&jwt, "DELETE", &format!("{base}/{id}")).await;
    assert_eq!(gone.body["deleted"]["status"], "deleted");
    assert_eq!(rig.fake.fake.with(|s| s.subscriptions.len()), 15);
    let bad = rig
        .dev_call(&jwt, "POST", &format!("{base}?callback_url=ftp://x"))
        .await;
    assert_eq!(bad.status.as_u16(), 400);
    let none = rig
        .dev_call(
            &jwt,
            "GET",
            "/api/v1/providers/whoop/webhooks/subscriptions",
        )
        .await;
    assert_eq!(none.status.as_u16(), 501);
    // Neither SECRET_KEY nor an encoding of it reached Oura (the verification token is
    // derived with its own label).
    assert!(rig.assert_secret_key_never_sent() > 3);
}

#[tokio::test]
async fn oura_webhooks_signed_long_ago_are_refused() {
    let rig = Rig::start("oura").await;
    rig.connected_user().await;
    let body = r#"{"event_type":"create","data_type":"workout","object_id":"x","event_time":"2024-06-03T18:45:00+00:00","user_id":"oura-user-1"}"#;
    let secret = rig.fake.fake.options().client_secret.clone();
    let sign = |stamp: &str| {
        ow_fakes::core::hmac_hex(secret.as_bytes(), &[stamp.as_bytes(), body.as_bytes()])
            .to_uppercase()
    };
    let now = rig.now().timestamp();
    let stale = (now - 3600).to_string();
    let old = rig
        .post_webhook(
            &[
                ("x-oura-signature", &sign(&stale)),
                ("x-oura-timestamp", &stale),
            ],
            body,
        )
        .await;
    assert_eq!(old.status.as_u16(), 401, "{:?}", old.body);
    let fresh = (now - 30).to_string();
    let ok = rig
        .post_webhook(
            &[
                ("x-oura-signature", &sign(&fresh)),
                ("x-oura-timestamp", &fresh),
            ],
            body,
        )
        .await;
    assert_eq!(ok.status.as_u16(), 200, "{:?}", ok.body);
}

#[tokio::test]
async fn the_user_list_shows_the_latest_sync_and_sorts_by_it() {
    let rig = Rig::start("oura").await;
    let never = rig.new_user().await;
    let synced = rig.connected_user().await;
    let list = rig
        .call(
            "GET",
            "/api/v1/users?sort_by=last_synced_at&sort_order=desc",
            None,
        )
        .await;
    let items = list.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2, "{:?}", list.body);
    assert_eq!(
        items[0]["id"],
        synced.as_str(),
        "synced users first, nulls last"
    );
    assert_eq!(
        (
            items[0]["last_synced_at"].as_str(),
            items[0]["last_synced_provider"].as_str(),
            items[0]["has_active_connection"].as_bool()
        ),
        (Some("2024-06-10T12:00:00Z"), Some("oura"), Some(true))
    );
    assert_eq!(items[1]["id"], never.as_str());
    assert!(items[1]["last_synced_at"].is_null());
    assert_eq!(items[1]["has_active_connection"], false);
    let asc = rig
        .call(
            "GET",
            "/api/v1/users?sort_by=last_synced_at&sort_order=asc",
            None,
        )
        .await;
    assert_eq!(
        asc.body["items"][0]["id"],
        never.as_str(),
        "nulls first ascending"
    );
}

/// The provider flow on DynamoDB (the emulator `infra/test.sh` starts): connect, backfill
/// through an outage and the schedule's retry, sync runs, a signed webhook, disconnect.
#[tokio::test]
async fn oura_end_to_end_on_dynamodb() {
    let rig = Rig::start_on(
        ow_e2e::Storage::Dynamo,
        "oura",
        ow_fakes::FakeOptions::default(),
        &[],
    )
    .await;
    rig.fake.fake.throttle(10_000);
    let user = rig.connected_user().await;
    assert!(rig.connection(&user).await["last_synced_at"].is_null());
    rig.fake.fake.throttle(0);
    rig.clock.advance(chrono::Duration::minutes(2));
    assert_eq!(
        shared::jobs::schedule::tick(&rig.state)
            .await
            .expect("tick"),
        3
    );
    rig.idle().await;
    let range = "events/workouts?start_date=2024-05-01&end_date=2024-06-10";
    assert_eq!(rig.data(&user, range).await.len(), 1);
    let runs = rig.user_get(&user, "sync/runs").await;
    assert!(
        runs.as_array()
            .is_some_and(|r| r.len() == 3 && r.iter().all(|x| x["status"] == "success")),
        "{runs}"
    );
    let all = rig
        .call("GET", "/api/v1/sync/runs?status=success", None)
        .await;
    assert_eq!(all.body.as_array().map(Vec::len), Some(3), "{:?}", all.body);
    assert_eq!(rig.webhook("workout").await, 200);
    assert_eq!(rig.data(&user, range).await.len(), 2);
    let d = rig
        .call(
            "DELETE",
            &format!("/api/v1/users/{user}/connections/oura"),
            None,
        )
        .await;
    assert_eq!(d.status.as_u16(), 204);
    assert_eq!(rig.connection(&user).await["status"], "revoked");
}

#[tokio::test]
async fn the_sync_stream_replays_then_follows_new_events() {
    let rig = Rig::start("oura").await;
    let user = rig.connected_user().await;
    let resp = rig
        .http
        .get(rig.url(&format!("/api/v1/users/{user}/sync/stream?replay=2")))
        .header(ow_e2e::providers::KEY_HEADER, &rig.key)
        .send()
        .await
        .expect("stream");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let mut resp = resp;
    let mut text = String::new();
    let read = |text: &String| text.matches("event: sync.status").count();
    while read(&text) < 2 {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), resp.chunk())
            .await
            .expect("replay in time")
            .expect("chunk")
            .expect("open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.starts_with(": connected\n\n"), "{text}");
    assert_eq!(read(&text), 2, "replay=2: {text}");
    // A webhook queues a window: its run's event arrives on the open stream.
    rig.clock.advance(chrono::Duration::seconds(1));
    assert_eq!(rig.webhook("workout").await, 200);
    while read(&text) < 3 {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), resp.chunk())
            .await
            .expect("a live event in time")
            .expect("chunk")
            .expect("open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let last = text
        .rsplit("data: ")
        .next()
        .and_then(|d| serde_json::from_str::<serde_json::Value>(d.trim()).ok())
        .expect("the last frame's JSON");
    assert_eq!(
        (
            last["provider"].as_str(),
            last["status"].as_str(),
            last["user_id"].as_str()
        ),
        (Some("oura"), Some("success"), Some(user.as_str()))
    );
    let missing = rig
        .call(
            "GET",
            "/api/v1/users/00000000-0000-4000-8000-000000000000/sync/stream",
            None,
        )
        .await;
    assert_eq!(missing.status.as_u16(), 404);
}

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
    for path in ["/api/v1/providers/oura/webhooks", "/api/v1/oura/webhooks"] {
        let ok = rig
            .call(
                "GET",
                &format!(
                    "{path}?verification_token=test-secret-key-0123456789abcdef&challenge=c-42"
                ),
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
    assert_eq!(none.status.as_u16(), 501, "{:?}", none.body);
    let health = rig
        .call("GET", "/api/v1/strava/webhooks/health", None)
        .await;
    assert_eq!(health.body["service"], "strava-webhooks");
}

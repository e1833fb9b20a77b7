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

//! Fitbit end to end: consent with PKCE and Basic client auth (`user_id` from the token
//! answer), workout backfill from the paged activity log, read API, revocation, faults, token
//! revocation on deregistration, and no webhook handler.

use ow_e2e::providers::Rig;
use ow_fakes::fitbit as fake;
use reqwest::StatusCode;
use serde_json::{Value, json};

const WORKOUTS: &str = "events/workouts?start_date=2024-03-01&end_date=2024-06-10&limit=100";

fn by_type<'a>(items: &'a [Value], t: &str) -> Vec<&'a Value> {
    items.iter().filter(|w| w["type"] == t).collect()
}

#[tokio::test]
async fn fitbit_backfill_lands_in_the_read_api() {
    let rig = Rig::start("fitbit").await;
    let user = rig.connected_user().await;
    let c = rig.connection(&user).await;
    assert_eq!(
        (c["status"].as_str(), c["provider_user_id"].as_str()),
        (Some("active"), Some(fake::ACCOUNT_ID)),
        "{c}"
    );
    let w = rig.data(&user, WORKOUTS).await;
    assert_eq!(w.len(), 4, "{w:#?}");
    let walk = by_type(&w, "walking");
    assert_eq!(walk.len(), 1, "{w:#?}");
    assert_eq!(
        (
            walk[0]["start_time"].as_str(),
            walk[0]["end_time"].as_str(),
            walk[0]["zone_offset"].as_str(),
            walk[0]["duration_seconds"].as_i64(),
            walk[0]["calories_kcal"].as_f64(),
            walk[0]["distance_meters"].as_f64(),
            walk[0]["avg_heart_rate_bpm"].as_i64(),
        ),
        (
            Some("2024-06-03T10:15:30Z"),
            Some("2024-06-03T10:57:44Z"),
            Some("+02:00"),
            Some(2534),
            Some(214.0),
            Some(2870.0),
            Some(98),
        ),
        "{:#}",
        walk[0]
    );
    // Typed by name when the id is not in the table.
    assert_eq!(by_type(&w, "pilates").len(), 1, "{w:#?}");
    assert_eq!(by_type(&w, "cycling")[0]["distance_meters"], 31460.0);
    // 40 days before the anchor: an earlier backfill window, another zone.
    let run = by_type(&w, "running");
    assert_eq!(run[0]["start_time"], "2024-04-22T10:40:00Z", "{w:#?}");
    assert_eq!(run[0]["zone_offset"], "-04:00");
    assert_eq!(
        run[0]["source"]["device"], "Charge 6",
        "{:#}",
        run[0]["source"]
    );
    // Every list call asked one direction with a bounded page.
    for c in rig.fake.fake.calls() {
        assert!(
            c.contains("afterDate=") && c.contains("sort=asc") && c.contains("limit=100"),
            "{c}"
        );
    }
}

#[tokio::test]
async fn fitbit_follows_pagination_next_links() {
    let rig = Rig::start("fitbit").await;
    let anchor = rig.fake.fake.anchor();
    for i in 0..150_i64 {
        // Fifteen a day over the ten days before the anchor: one backfill window, two pages.
        let day = anchor - chrono::Duration::days(1 + i / 15);
        let hour = 5 + i % 15;
        rig.fake.fake.add_item(
            "activities",
            json!({"logId": 70_000_000_000_i64 + i, "activityName": "Walk", "activityTypeId": 90013,
                "startTime": format!("{}T{hour:02}:00:00.000+02:00", day.format("%Y-%m-%d")),
                "duration": 1_200_000, "calories": 80, "distance": 1.2, "steps": 1500,
                "averageHeartRate": 92, "source": {"name": "Charge 6", "type": "tracker"}}),
        );
    }
    let user = rig.connected_user().await;
    let all = rig.user_get(&user, WORKOUTS).await;
    assert_eq!(
        all["pagination"]["total_count"], 154,
        "{}",
        all["pagination"]
    );
    assert!(
        rig.fake
            .fake
            .calls()
            .iter()
            .any(|c| c.contains("offset=100")),
        "the next link was followed: {:?}",
        rig.fake.fake.calls()
    );
}

#[tokio::test]
async fn fitbit_revoked_grant_marks_the_connection_revoked() {
    Rig::start("fitbit")
        .await
        .assert_a_revoked_grant_marks_the_connection_revoked()
        .await;
}

#[tokio::test]
async fn fitbit_faults_delay_but_never_lose_a_window() {
    let rig = Rig::start("fitbit").await;
    let user = rig.connect_through_faults().await;
    assert_eq!(rig.data(&user, WORKOUTS).await.len(), 4);
}

#[tokio::test]
async fn fitbit_deregistration_revokes_the_token_with_basic_auth() {
    let rig = Rig::start("fitbit").await;
    let user = rig.connected_user().await;
    let f = &rig.fake.fake;
    let before = f.with(|s| s.deregistrations);
    let disconnect = rig
        .call(
            "DELETE",
            &format!("/api/v1/users/{user}/connections/fitbit"),
            None,
        )
        .await;
    assert_eq!(disconnect.status, StatusCode::NO_CONTENT);
    assert_eq!(
        f.with(|s| s.deregistrations),
        before + 1,
        "disconnect revoked the token at Fitbit"
    );
    let c = rig.connection(&user).await;
    assert_eq!(c["status"], "revoked", "{c}");
    // The module entry point against the fake, with the app's own OAuth client.
    let (token, _) = f.issue_tokens();
    let client = rig.state.config.oauth.get("fitbit").expect("fitbit client");
    let http = reqwest::Client::new();
    let mut fetcher = shared::providers::sync::Fetcher::new(&http, &client.api_base, &token);
    fetcher.client = Some(client);
    let n = f.with(|s| s.deregistrations);
    shared::providers::fitbit::deregister(&fetcher)
        .await
        .expect("revoked");
    assert_eq!(f.with(|s| s.deregistrations), n + 1);
    assert!(
        !f.with(|s| s.access_tokens.contains(&token)),
        "the token no longer works"
    );
    // Wrong client credentials are refused (and reported).
    let mut wrong = client.clone();
    wrong.client_secret = "nope".into();
    fetcher.client = Some(&wrong);
    assert!(
        shared::providers::fitbit::deregister(&fetcher)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn fitbit_has_no_webhook_handler() {
    let rig = Rig::start("fitbit").await;
    let a = rig.post_webhook(&[], "{}").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.body);
    assert!(
        a.body["detail"].as_str().is_some_and(
            |d| d.starts_with("Provider 'fitbit' does not support webhook notifications")
        ),
        "{:?}",
        a.body
    );
}

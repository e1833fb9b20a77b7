//! Suunto end to end: consent (JWT identity), backfill of workouts and 24/7 data through the
//! subscription-key-guarded API, read API, revocation, faults (HTTP errors and errors inside
//! 200 answers), workout paging, and the signed stream webhooks.

use ow_e2e::providers::Rig;
use ow_fakes::FakeOptions;
use ow_fakes::suunto as fake;
use reqwest::StatusCode;
use serde_json::{Value, json};

const WORKOUTS: &str = "events/workouts?start_date=2024-03-01&end_date=2024-06-10&limit=100";

async fn rig() -> Rig {
    Rig::start_with("suunto", FakeOptions::default(), &fake::app_settings()).await
}

fn by_type<'a>(items: &'a [Value], t: &str) -> Vec<&'a Value> {
    items.iter().filter(|w| w["type"] == t).collect()
}

async fn series(rig: &Rig, user: &str, kind: &str, day: &str, next: &str) -> Vec<f64> {
    rig.data(
        user,
        &format!("timeseries?start_time={day}T00:00:00Z&end_time={next}T00:00:00Z&types={kind}"),
    )
    .await
    .iter()
    .filter_map(|p| p["value"].as_f64())
    .collect()
}

#[tokio::test]
async fn suunto_backfill_lands_in_the_read_api() {
    let rig = rig().await;
    let user = rig.connected_user().await;
    let c = rig.connection(&user).await;
    assert_eq!(
        (c["status"].as_str(), c["provider_user_id"].as_str()),
        (Some("active"), Some(fake::ACCOUNT_ID)),
        "the JWT `user` claim is the account id: {c}"
    );

    let w = rig.data(&user, WORKOUTS).await;
    assert_eq!(w.len(), 3, "{w:#?}");
    let trail = by_type(&w, "trail_running");
    assert_eq!(trail.len(), 1, "{w:#?}");
    let t = trail[0];
    assert_eq!(
        (
            t["start_time"].as_str(),
            t["calories_kcal"].as_f64(),
            t["distance_meters"].as_f64(),
            t["avg_heart_rate_bpm"].as_i64(),
            t["max_heart_rate_bpm"].as_i64(),
            t["elevation_gain_meters"].as_f64(),
            t["zone_offset"].as_str(),
        ),
        (
            Some("2024-06-01T08:30:00Z"),
            Some(1012.0),
            Some(15234.8),
            Some(146),
            Some(178),
            Some(612.0),
            Some("+02:00"),
        ),
        "{t}"
    );
    // The hike 30 days before the anchor comes from an earlier backfill window.
    let hike = by_type(&w, "hiking");
    assert_eq!(hike[0]["start_time"], "2024-05-02T07:45:00Z", "{w:#?}");
    assert_eq!(by_type(&w, "cycling")[0]["distance_meters"], 28450.0);

    let s = rig
        .data(
            &user,
            "events/sleep?start_date=2024-05-01&end_date=2024-06-10",
        )
        .await;
    assert_eq!(s.len(), 1, "{s:#?}");
    assert_eq!(s[0]["start_time"], "2024-05-31T23:05:00Z");
    assert_eq!(s[0]["end_time"], "2024-06-01T05:52:00Z");
    assert_eq!(
        s[0]["stages"],
        json!({"deep_minutes": 87, "light_minutes": 250, "rem_minutes": 48, "awake_minutes": 21}),
        "{s:#?}"
    );
    assert_eq!(s[0]["efficiency_percent"], 79.0);
    let summary = rig
        .data(
            &user,
            "summaries/sleep?start_date=2024-06-01&end_date=2024-06-02",
        )
        .await;
    assert_eq!(summary[0]["duration_minutes"], 385, "{summary:#?}");
    assert_eq!(summary[0]["time_in_bed_minutes"], 407, "{summary:#?}");

    let a = rig
        .data(
            &user,
            "summaries/activity?start_date=2024-06-01&end_date=2024-06-03",
        )
        .await;
    let day = |d: &str| a.iter().find(|x| x["date"] == d).cloned();
    let d1 = day("2024-06-01").expect("2024-06-01 summary");
    assert_eq!(d1["steps"], 11873, "daily totals win over samples: {a:#?}");
    let kcal = d1["active_calories_kcal"].as_f64().expect("kcal");
    assert!(
        (kcal - 2_719_200.0 / 4184.0).abs() < 0.5,
        "joules become kcal: {kcal}"
    );
    assert_eq!(day("2024-06-02").expect("2024-06-02")["steps"], 9540);

    let d = ("2024-06-01", "2024-06-02");
    assert_eq!(
        series(&rig, &user, "heart_rate", d.0, d.1).await,
        vec![71.0, 88.0, 76.0]
    );
    assert_eq!(
        series(&rig, &user, "oxygen_saturation", d.0, d.1).await,
        vec![97.0, 98.0]
    );
    assert_eq!(
        series(&rig, &user, "heart_rate_variability_rmssd", d.0, d.1).await,
        vec![44.0],
        "HRV 0 is no reading"
    );
    assert_eq!(
        series(&rig, &user, "resting_heart_rate", d.0, d.1).await,
        vec![47.0]
    );

    let scores = rig.data(&user, "health-scores?provider=suunto").await;
    assert_eq!(scores.len(), 1, "{scores:#?}");
    assert_eq!(
        (
            scores[0]["category"].as_str(),
            scores[0]["value"].as_f64(),
            scores[0]["recorded_at"].as_str()
        ),
        (Some("recovery"), Some(72.0), Some("2024-06-01T07:00:00Z")),
        "{scores:#?}"
    );
    assert_eq!(scores[0]["qualifier"], "Relaxing", "{scores:#?}");
    let stress = &scores[0]["components"]["stress_state"];
    assert_eq!(
        (stress["value"].as_f64(), stress["qualifier"].as_str()),
        (Some(1.0), Some("Relaxing")),
        "{stress}"
    );

    // The 24/7 endpoints were asked in chunks the API accepts.
    let calls = rig.fake.fake.calls();
    let sleep_calls: Vec<&String> = calls
        .iter()
        .filter(|c| c.starts_with("/247samples/sleep"))
        .collect();
    assert!(sleep_calls.len() >= 5, "{sleep_calls:?}");
    for c in &sleep_calls {
        let q: std::collections::HashMap<String, String> =
            serde_urlencoded_like(c.split_once(' ').map_or("", |x| x.1));
        let (from, to): (i64, i64) = (
            q["from"].parse().expect("from"),
            q["to"].parse().expect("to"),
        );
        assert!(to - from <= 20 * 86_400_000, "{c}");
    }
}

fn serde_urlencoded_like(q: &str) -> std::collections::HashMap<String, String> {
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn suunto_workouts_are_paged_past_the_first_hundred() {
    let rig = rig().await;
    let template = rig.fake.fake.items("workouts")[1].clone();
    let base = template["startTime"].as_i64().expect("start");
    for i in 1..=105_i64 {
        let mut w = template.clone();
        let start = base - i * 6 * 3_600_000;
        w["workoutId"] = json!(900_000_000 + i);
        w["workoutKey"] = json!(format!("extra-{i}"));
        w["startTime"] = json!(start);
        w["stopTime"] = json!(start + 3_600_000);
        w["lastModified"] = json!(start + 3_700_000);
        rig.fake.fake.add_item("workouts", w);
    }
    let user = rig.connected_user().await;
    let all = rig.user_get(&user, WORKOUTS).await;
    assert_eq!(
        all["pagination"]["total_count"], 108,
        "{}",
        all["pagination"]
    );
    assert!(
        rig.fake
            .fake
            .calls()
            .iter()
            .any(|c| c.starts_with("/v3/workouts/") && c.contains("offset=100")),
        "a second page was asked"
    );
}

#[tokio::test]
async fn suunto_without_a_subscription_key_pulls_nothing_and_stays_connected() {
    let rig = Rig::start("suunto").await;
    let user = rig.connected_user().await;
    let c = rig.connection(&user).await;
    assert_eq!(c["status"], "active", "{c}");
    assert!(rig.data(&user, WORKOUTS).await.is_empty());
    assert!(
        rig.fake.fake.calls().is_empty(),
        "no call without the key: {:?}",
        rig.fake.fake.calls()
    );
}

#[tokio::test]
async fn suunto_revoked_grant_marks_the_connection_revoked() {
    rig()
        .await
        .assert_a_revoked_grant_marks_the_connection_revoked()
        .await;
}

#[tokio::test]
async fn suunto_faults_delay_but_never_lose_a_window() {
    let rig = rig().await;
    let user = rig.connect_through_faults().await;
    assert_eq!(rig.data(&user, WORKOUTS).await.len(), 3);
}

#[tokio::test]
async fn suunto_errors_inside_200_answers_are_retried_not_stored() {
    let rig = rig().await;
    fake::errors_in_body(&rig.fake.fake, 3);
    let user = rig.connected_user().await;
    let c = rig.connection(&user).await;
    assert_eq!(c["status"], "active", "{c}");
    assert_eq!(rig.data(&user, WORKOUTS).await.len(), 3);
    let scores = rig.data(&user, "health-scores?provider=suunto").await;
    assert_eq!(scores.len(), 1, "{scores:#?}");
}

#[tokio::test]
async fn suunto_stream_webhooks_add_the_new_data() {
    let rig = rig().await;
    let user = rig.connected_user().await;
    assert_eq!(rig.webhook("workout_created").await, 200);
    let w = rig.data(&user, WORKOUTS).await;
    let run = by_type(&w, "running");
    assert_eq!(run.len(), 1, "{w:#?}");
    assert_eq!(
        (
            run[0]["start_time"].as_str(),
            run[0]["calories_kcal"].as_f64(),
            run[0]["distance_meters"].as_f64(),
            run[0]["max_heart_rate_bpm"].as_i64(),
        ),
        (
            Some("2024-06-03T15:30:00Z"),
            Some(612.0),
            Some(8012.3),
            Some(181)
        )
    );

    assert_eq!(rig.webhook("recovery_created").await, 200);
    let scores = rig.data(&user, "health-scores?provider=suunto").await;
    assert_eq!(scores.len(), 2, "{scores:#?}");
    assert_eq!(scores[0]["value"], 69.0, "newest first: {scores:#?}");
    assert_eq!(scores[0]["qualifier"], "Active");
    assert_eq!(
        scores[0]["components"]["stress_state"]["qualifier"],
        "Active"
    );

    assert_eq!(rig.webhook("sleep_created").await, 200);
    let s = rig
        .data(
            &user,
            "events/sleep?start_date=2024-06-02&end_date=2024-06-04",
        )
        .await;
    assert_eq!(s.len(), 1, "{s:#?}");
    assert_eq!(s[0]["start_time"], "2024-06-02T23:05:00Z");

    assert_eq!(rig.webhook("activity_created").await, 200);
    assert_eq!(
        series(&rig, &user, "heart_rate", "2024-06-03", "2024-06-04").await,
        vec![64.0, 69.0]
    );

    assert_eq!(rig.webhook("route_created").await, 200);
    assert_eq!(rig.data(&user, WORKOUTS).await.len(), 4);
}

#[tokio::test]
async fn suunto_webhooks_with_a_bad_signature_change_nothing() {
    let rig = rig().await;
    let user = rig.connected_user().await;
    let body = json!({"type": "SUUNTO_247_RECOVERY_CREATED", "username": fake::ACCOUNT_ID,
        "samples": [{"timestamp": "2024-06-05T10:00:00.000+02:00", "entryData": {"Balance": 0.11, "StressState": 4}}]})
    .to_string();
    let wrong = ow_fakes::core::hmac_hex(b"not-the-secret", &[body.as_bytes()]);
    let a = rig
        .post_webhook(&[("X-HMAC-SHA256-Signature", wrong.as_str())], &body)
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{:?}", a.body);
    assert_eq!(a.body["detail"], "Invalid webhook signature");
    let a = rig.post_webhook(&[], &body).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "unsigned: {:?}", a.body);
    rig.idle().await;
    let scores = rig.data(&user, "health-scores?provider=suunto").await;
    assert_eq!(scores.len(), 1, "nothing stored: {scores:#?}");
    // A signed notification for an account nobody connected is acknowledged and dropped.
    let stranger = body.replace(fake::ACCOUNT_ID, "someone_else");
    let sig = ow_fakes::core::hmac_hex(fake::WEBHOOK_SECRET.as_bytes(), &[stranger.as_bytes()]);
    let a = rig
        .post_webhook(&[("X-HMAC-SHA256-Signature", sig.as_str())], &stranger)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    rig.idle().await;
    assert_eq!(
        rig.data(&user, "health-scores?provider=suunto").await.len(),
        1
    );
    // The right signature over the same body is accepted.
    let good = ow_fakes::core::hmac_hex(fake::WEBHOOK_SECRET.as_bytes(), &[body.as_bytes()]);
    let a = rig
        .post_webhook(&[("X-HMAC-SHA256-Signature", good.as_str())], &body)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body, json!({"status": "accepted"}));
    rig.idle().await;
    let scores = rig.data(&user, "health-scores?provider=suunto").await;
    assert_eq!(scores[0]["value"], 11.0, "{scores:#?}");
    // No subscription challenge.
    let get = rig
        .http
        .get(rig.url("/api/v1/providers/suunto/webhooks"))
        .send()
        .await
        .expect("get");
    assert_eq!(get.status(), StatusCode::BAD_REQUEST);
}

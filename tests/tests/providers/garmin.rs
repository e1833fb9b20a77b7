//! Garmin end to end: consent with PKCE, the Backfill API (requests reach the fake, the fake
//! pushes the data to our webhook), live pushes, lifecycle pushes, verification, revocation,
//! faults and deregistration.

use chrono::Duration;
use ow_e2e::providers::Rig;
use ow_fakes::garmin::{ACCOUNT_ID, BACKFILL_REQUESTS, PERMISSIONS, set_webhook_target};
use serde_json::{Value, json};

const WORKOUTS: &str = "events/workouts?start_date=2024-05-01&end_date=2024-06-10";
const SLEEPS: &str = "events/sleep?start_date=2024-05-01&end_date=2024-06-10";

/// A rig whose fake pushes to our API (Garmin's portal configuration).
async fn rig() -> Rig {
    let rig = Rig::start("garmin").await;
    set_webhook_target(&rig.fake.fake, &rig.api);
    rig
}

fn backfill_requests(rig: &Rig) -> Vec<Value> {
    rig.fake.fake.items(BACKFILL_REQUESTS)
}

async fn series(rig: &Rig, user: &str, kind: &str) -> Vec<Value> {
    rig.data(
        user,
        &format!(
            "timeseries?start_time=2024-05-30T00:00:00Z&end_time=2024-06-10T00:00:00Z&types={kind}&limit=100"
        ),
    )
    .await
}

#[tokio::test]
async fn garmin_backfill_pushes_land_in_the_read_api() {
    let rig = rig().await;
    let user = rig.connected_user().await;
    let c = rig.connection(&user).await;
    assert_eq!(
        (c["status"].as_str(), c["provider_user_id"].as_str()),
        (Some("active"), Some(ACCOUNT_ID)),
        "{c}"
    );
    assert_eq!(
        c["scope"], "ACTIVITY_EXPORT HEALTH_EXPORT HISTORICAL_DATA_EXPORT MCT_EXPORT",
        "the granted permissions, sorted"
    );
    assert!(!c["last_synced_at"].is_null(), "{c}");

    // One 30-day window on connect: every summary type was requested once over it.
    let reqs = backfill_requests(&rig);
    assert_eq!(reqs.len(), 16, "{reqs:?}");
    let now = rig.now().timestamp();
    for r in &reqs {
        assert_eq!(r["end"], now, "{r}");
        assert_eq!(r["start"], now - 30 * 86_400, "{r}");
    }
    for t in ["sleeps", "dailies", "activities", "activityDetails", "hrv"] {
        assert!(reqs.iter().any(|r| r["type"] == t), "{t} requested");
    }

    // activities and activityDetails describe one ride: one workout, mapped type.
    let w = rig.data(&user, WORKOUTS).await;
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(
        (
            w[0]["type"].as_str(),
            w[0]["calories_kcal"].as_f64(),
            w[0]["distance_meters"].as_f64(),
            w[0]["start_time"].as_str(),
            w[0]["zone_offset"].as_str(),
            w[0]["duration_seconds"].as_i64(),
            w[0]["avg_heart_rate_bpm"].as_i64(),
            w[0]["max_heart_rate_bpm"].as_i64(),
            w[0]["elevation_gain_meters"].as_f64(),
        ),
        (
            Some("cycling"),
            Some(842.0),
            Some(38210.4),
            Some("2024-06-01T18:00:00Z"),
            Some("+02:00"),
            Some(4980),
            Some(141),
            Some(176),
            Some(412.0),
        ),
        "{w:?}"
    );

    // The night with its stages, and the nap the next day.
    let s = rig.data(&user, SLEEPS).await;
    assert_eq!(s.len(), 2, "{s:?}");
    let main = s.iter().find(|x| x["is_nap"] == false).expect("main sleep");
    assert_eq!(main["start_time"], "2024-06-01T19:40:00Z");
    assert_eq!(main["end_time"], "2024-06-02T03:00:00Z");
    assert_eq!(
        main["stages"],
        json!({"awake_minutes":25,"light_minutes":230,"deep_minutes":85,"rem_minutes":100})
    );
    assert_eq!(main["sleep_duration_seconds"], 415 * 60);
    assert_eq!(
        main["sleep_stage_intervals"].as_array().map(Vec::len),
        Some(5)
    );
    let nap = s.iter().find(|x| x["is_nap"] == true).expect("nap");
    assert_eq!(nap["duration_seconds"], 1500);

    // The day's totals (recorded at local midnight, +02:00).
    let a = rig
        .data(
            &user,
            "summaries/activity?start_date=2024-06-01&end_date=2024-06-02",
        )
        .await;
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(
        (
            a[0]["steps"].as_i64(),
            a[0]["active_calories_kcal"].as_f64(),
            a[0]["floors_climbed"].as_i64(),
            a[0]["distance_meters"].as_f64(),
            a[0]["active_minutes"].as_i64(),
        ),
        (Some(11408), Some(566.0), Some(7), Some(8735.0), Some(102)),
        "{a:?}"
    );

    // Series with their units.
    let weight = series(&rig, &user, "weight").await;
    assert_eq!(weight.len(), 1, "{weight:?}");
    assert_eq!(
        (weight[0]["value"].as_f64(), weight[0]["timestamp"].as_str()),
        (Some(71.85), Some("2024-06-02T05:25:00Z"))
    );
    let rmssd = series(&rig, &user, "heart_rate_variability_rmssd").await;
    assert_eq!(
        rmssd
            .iter()
            .map(|p| p["value"].as_f64())
            .collect::<Vec<_>>(),
        vec![Some(58.0), Some(54.0), Some(61.0), Some(57.0)]
    );
    let stress = series(&rig, &user, "garmin_stress_level").await;
    assert_eq!(
        stress.len(),
        2,
        "the off-wrist reading is skipped: {stress:?}"
    );
    let spo2 = series(&rig, &user, "oxygen_saturation").await;
    assert_eq!(
        spo2.iter().map(|p| p["value"].as_f64()).collect::<Vec<_>>(),
        vec![Some(95.0), Some(97.0)],
        "the reading at the start replaces the average stored at the same instant"
    );
    let vo2 = series(&rig, &user, "vo2_max").await;
    assert_eq!(vo2[0]["value"].as_f64(), Some(51.0));

    // Garmin's scores: sleep (with its components), stress and body battery.
    let scores = rig
        .data(&user, "health-scores?provider=garmin&limit=100")
        .await;
    let score = |cat: &str| {
        scores
            .iter()
            .find(|x| x["category"] == cat)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(score("sleep")["value"].as_f64(), Some(84.0), "{scores:?}");
    assert_eq!(
        score("sleep")["components"]["remPercentage"],
        json!({"value": 24, "qualifier": "EXCELLENT"})
    );
    assert_eq!(score("sleep")["qualifier"], "GOOD", "{scores:?}");
    assert_eq!(score("stress")["value"].as_f64(), Some(31.0));
    assert_eq!(score("stress")["qualifier"], "Balanced", "{scores:?}");
    assert_eq!(score("body_battery")["value"].as_f64(), Some(71.0));
    assert!(score("body_battery")["qualifier"].is_null());
}

#[tokio::test]
async fn garmin_live_pushes_add_new_data() {
    let rig = rig().await;
    let user = rig.connected_user().await;
    assert_eq!(rig.data(&user, WORKOUTS).await.len(), 1);

    assert_eq!(rig.webhook("activities").await, 200);
    let w = rig.data(&user, WORKOUTS).await;
    assert_eq!(w.len(), 2, "{w:?}");
    let run = w
        .iter()
        .find(|x| x["type"] == "trail_running")
        .expect("the new run");
    assert_eq!(
        (
            run["calories_kcal"].as_f64(),
            run["distance_meters"].as_f64(),
            run["start_time"].as_str(),
            run["source"]["device"].as_str(),
        ),
        (
            Some(590.0),
            Some(8020.0),
            Some("2024-06-03T05:30:00Z"),
            Some("Forerunner 965")
        ),
        "{run}"
    );

    assert_eq!(rig.webhook("sleeps").await, 200);
    let s = rig.data(&user, SLEEPS).await;
    assert!(
        s.iter()
            .any(|x| x["start_time"] == "2024-06-04T19:40:00Z" && x["is_nap"] == false),
        "{s:?}"
    );
    let summary = rig
        .data(
            &user,
            "summaries/sleep?start_date=2024-06-05&end_date=2024-06-06",
        )
        .await;
    assert_eq!(summary.len(), 1, "{summary:?}");
    assert_eq!(summary[0]["time_in_bed_minutes"], 440);
    assert_eq!(summary[0]["stages"]["deep_minutes"], 85);

    assert_eq!(rig.webhook("dailies").await, 200);
    let a = rig
        .data(
            &user,
            "summaries/activity?start_date=2024-06-03&end_date=2024-06-04",
        )
        .await;
    assert_eq!(a[0]["steps"].as_i64(), Some(9021), "{a:?}");

    // Re-delivery of the same activity stores nothing new.
    let again = rig.fake.fake.items("activities");
    let body = json!({"activities": [again.last().cloned().unwrap_or_default()]}).to_string();
    let dup = rig
        .post_webhook(&[("garmin-client-id", "fake-client-id")], &body)
        .await;
    assert_eq!(dup.status.as_u16(), 200);
    assert_eq!(rig.data(&user, WORKOUTS).await.len(), 2);
}

#[tokio::test]
async fn garmin_pushes_without_our_client_id_are_refused_and_change_nothing() {
    let rig = rig().await;
    let user = rig.connected_user().await;
    let body = json!({"activities":[{"userId":ACCOUNT_ID,"summaryId":"forged","activityId":1,
        "activityType":"RUNNING","startTimeInSeconds":1717563600,"durationInSeconds":600}]})
    .to_string();
    let missing = rig.post_webhook(&[], &body).await;
    assert_eq!(missing.status.as_u16(), 401, "{:?}", missing.body);
    assert_eq!(missing.body["detail"], "Invalid webhook signature");
    let wrong = rig
        .post_webhook(&[("garmin-client-id", "someone-else")], &body)
        .await;
    assert_eq!(wrong.status.as_u16(), 401);
    let broken = rig
        .post_webhook(&[("garmin-client-id", "fake-client-id")], "{not json")
        .await;
    assert_eq!(broken.status.as_u16(), 400);
    assert_eq!(broken.body["detail"], "Invalid JSON body");
    rig.idle().await;
    assert_eq!(rig.data(&user, WORKOUTS).await.len(), 1, "nothing stored");

    // No subscription challenge for Garmin.
    let get = rig
        .call("GET", "/api/v1/providers/garmin/webhooks", None)
        .await;
    assert_eq!(get.status.as_u16(), 501, "{:?}", get.body);

    // The legacy push path takes the same verified pushes.
    let ok = rig
        .http
        .post(rig.url("/api/v1/garmin/webhooks/push"))
        .header("garmin-client-id", "fake-client-id")
        .body(body.clone())
        .send()
        .await
        .expect("legacy push");
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(
        ok.json::<Value>().await.expect("json"),
        json!({"status": "accepted"})
    );
    assert_eq!(rig.data(&user, WORKOUTS).await.len(), 2);
    let legacy_unsigned = rig
        .http
        .post(rig.url("/api/v1/garmin/webhooks/push"))
        .body(body)
        .send()
        .await
        .expect("legacy push");
    assert_eq!(legacy_unsigned.status().as_u16(), 401);
}

#[tokio::test]
async fn garmin_lifecycle_pushes_rescope_and_revoke() {
    let rig = rig().await;
    let user = rig.connected_user().await;

    // PING-mode items are skipped; other users in a body are ignored.
    let before = series(&rig, &user, "steps").await.len();
    assert_eq!(rig.webhook("ping").await, 200);
    assert_eq!(rig.webhook("mixed").await, 200);
    assert_eq!(series(&rig, &user, "steps").await.len(), before);
    assert_eq!(series(&rig, &user, "weight").await.len(), 2);
    assert_eq!(rig.connection(&user).await["status"], "active");

    assert_eq!(rig.webhook("userPermissionsChange").await, 200);
    assert_eq!(
        rig.connection(&user).await["scope"],
        "ACTIVITY_EXPORT HEALTH_EXPORT"
    );

    assert_eq!(rig.webhook("deregistrations").await, 200);
    let c = rig.connection(&user).await;
    assert_eq!(c["status"], "revoked", "{c}");
    // Data pushed after the deregistration is not stored.
    assert_eq!(rig.webhook("activities").await, 200);
    assert_eq!(rig.data(&user, WORKOUTS).await.len(), 1);
}

#[tokio::test]
async fn garmin_revoked_grant_marks_the_connection_revoked() {
    rig()
        .await
        .assert_a_revoked_grant_marks_the_connection_revoked()
        .await;
}

#[tokio::test]
async fn garmin_faults_delay_but_never_lose_a_window() {
    let rig = rig().await;
    // The faults also hit the user id lookup of the callback: the window learns it first.
    let user = rig.connect_through_faults().await;
    let c = rig.connection(&user).await;
    assert_eq!(c["provider_user_id"], ACCOUNT_ID, "{c}");
    assert_eq!(rig.data(&user, WORKOUTS).await.len(), 1);
    assert_eq!(rig.data(&user, SLEEPS).await.len(), 2);
    assert_eq!(backfill_requests(&rig).len(), 16);
}

#[tokio::test]
async fn garmin_disconnect_deregisters_the_user_at_garmin() {
    let rig = rig().await;
    let user = rig.connected_user().await;
    let d = rig
        .call(
            "DELETE",
            &format!("/api/v1/users/{user}/connections/garmin"),
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
            .any(|c| c.starts_with("/partner-gateway/rest/user/registration"))
    );
    assert_eq!(rig.connection(&user).await["status"], "revoked");
}

#[tokio::test]
async fn garmin_historical_sync_is_a_webhook_backfill_and_never_polled() {
    let rig = rig().await;
    let user = rig.connected_user().await;
    let calls = rig.fake.fake.calls().len();
    let h = rig
        .call(
            "POST",
            &format!("/api/v1/providers/garmin/users/{user}/sync/historical?days=90"),
            None,
        )
        .await;
    assert_eq!(h.status.as_u16(), 200, "{:?}", h.body);
    assert_eq!(h.body["method"], "webhook_backfill");
    assert_eq!(
        h.body["message"],
        "Garmin 30-day backfill started. Progress available via backfill/status."
    );
    assert!(h.body.get("days").is_none() && h.body.get("start_date").is_none());
    rig.idle().await;
    // The same 30 days again: Garmin answers 409 per type, nothing is requested twice.
    assert_eq!(rig.fake.fake.calls().len(), calls + 16);
    assert_eq!(backfill_requests(&rig).len(), 16);
    assert_eq!(rig.connection(&user).await["status"], "active");
    assert_eq!(rig.data(&user, WORKOUTS).await.len(), 1);

    // Scheduled polling never includes Garmin.
    rig.clock.advance(Duration::hours(3));
    shared::jobs::schedule::tick(&rig.state)
        .await
        .expect("tick");
    rig.idle().await;
    assert_eq!(rig.fake.fake.calls().len(), calls + 16, "no poll");
}

#[tokio::test]
async fn garmin_without_the_historical_permission_backfills_nothing() {
    let rig = rig().await;
    rig.fake.fake.with(|s| {
        s.items.insert(
            PERMISSIONS.to_string(),
            vec![json!("ACTIVITY_EXPORT"), json!("HEALTH_EXPORT")],
        )
    });
    let user = rig.connected_user().await;
    let c = rig.connection(&user).await;
    assert_eq!(
        (c["status"].as_str(), c["scope"].as_str()),
        (Some("active"), Some("ACTIVITY_EXPORT HEALTH_EXPORT")),
        "{c}"
    );
    assert!(backfill_requests(&rig).is_empty());
    // The first refusal stops the window: one backfill call.
    let tried = rig
        .fake
        .fake
        .calls()
        .iter()
        .filter(|c| c.starts_with("/wellness-api/rest/backfill/"))
        .count();
    assert_eq!(tried, 1);
    assert!(rig.data(&user, WORKOUTS).await.is_empty());
    // Live pushes still arrive.
    assert_eq!(rig.webhook("activities").await, 200);
    assert_eq!(rig.data(&user, WORKOUTS).await.len(), 1);
}

/// The client against the fake directly: chunks of at most 30 days, and the shorter retry
/// when a range starts before Garmin's minimum start time.
#[tokio::test]
async fn garmin_backfill_requests_respect_garmin_limits() {
    let fake = ow_fakes::start("garmin", ow_fakes::FakeOptions::default())
        .await
        .expect("fake");
    let (token, _) = fake.fake.issue_tokens();
    let http = reqwest::Client::new();
    let f = shared::providers::sync::Fetcher::new(&http, &fake.base_url, &token);
    let anchor = fake
        .fake
        .anchor()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();

    // 45 days: two requests per type, none longer than 30 days.
    let (start, end) = (anchor - Duration::days(25), anchor + Duration::days(20));
    let pulled = shared::providers::garmin::pull(&f, start, end)
        .await
        .expect("pull");
    assert!(pulled.workouts.is_empty() && pulled.samples.is_empty());
    let reqs = fake.fake.items(BACKFILL_REQUESTS);
    assert_eq!(reqs.len(), 32);
    let sleeps: Vec<(i64, i64)> = reqs
        .iter()
        .filter(|r| r["type"] == "sleeps")
        .map(|r| {
            (
                r["start"].as_i64().unwrap_or(0),
                r["end"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    let mid = (start + Duration::days(30)).timestamp();
    assert_eq!(
        sleeps,
        vec![(start.timestamp(), mid), (mid, end.timestamp())]
    );

    // Repeating a range is a 409, which counts as requested.
    shared::providers::garmin::pull(&f, start, end)
        .await
        .expect("a repeated range still succeeds");
    assert_eq!(fake.fake.items(BACKFILL_REQUESTS).len(), 32);

    // A range before the minimum start time (30 days before the anchor) is retried once with
    // its last 14 days.
    let (old_start, old_end) = (anchor - Duration::days(40), anchor - Duration::days(10));
    fake.fake.with(|s| s.items.remove(BACKFILL_REQUESTS));
    shared::providers::garmin::pull(&f, old_start, old_end)
        .await
        .expect("pull");
    let reqs = fake.fake.items(BACKFILL_REQUESTS);
    assert_eq!(reqs.len(), 16, "{reqs:?}");
    assert!(reqs.iter().all(|r| {
        r["start"] == (old_end - Duration::days(14)).timestamp() && r["end"] == old_end.timestamp()
    }));

    // 401 is the framework's cue to refresh.
    let bad = shared::providers::sync::Fetcher::new(&http, &fake.base_url, "nope");
    assert!(matches!(
        shared::providers::garmin::pull(&bad, start, end).await,
        Err(shared::providers::sync::FetchError::Unauthorized)
    ));
    // 429 is transient (the window is retried).
    fake.fake.throttle(1);
    assert!(matches!(
        shared::providers::garmin::pull(&f, start, end).await,
        Err(shared::providers::sync::FetchError::Transient(_))
    ));
}

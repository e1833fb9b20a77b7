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
    let url = rig.webhook_url().await;
    set_webhook_target(&rig.fake.fake, &url);
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

    // No subscription challenge for Garmin: a 400 naming what it lacks.
    let get = rig
        .http
        .get(rig.webhook_url().await)
        .send()
        .await
        .expect("get");
    assert_eq!(get.status().as_u16(), 400);
    let detail = get.json::<Value>().await.expect("json")["detail"].clone();
    assert!(
        detail
            .as_str()
            .is_some_and(|d| d.contains("does not support webhook verification")),
        "{detail}"
    );

    // The secret URL takes the client-id-checked pushes.
    let ok = rig
        .post_webhook(&[("garmin-client-id", "fake-client-id")], &body)
        .await;
    assert_eq!(ok.status.as_u16(), 200);
    assert_eq!(ok.body, json!({"status": "accepted"}));
    assert_eq!(rig.data(&user, WORKOUTS).await.len(), 2);
}

#[tokio::test]
async fn garmin_forged_pushes_pings_and_deregistrations_without_the_url_secret_are_refused() {
    let rig = rig().await;
    let user = rig.connected_user().await;
    let before = series(&rig, &user, "steps").await.len();
    let dailies = json!({"dailies":[{"userId":ACCOUNT_ID,"summaryId":"forged-daily","calendarDate":"2024-06-05",
        "startTimeInSeconds":1717545600,"startTimeOffsetInSeconds":0,"durationInSeconds":86400,"steps":987654}]})
    .to_string();
    let ping = json!({"dailies":[{"userId":ACCOUNT_ID,
        "callbackURL":"https://apis.garmin.com/wellness-api/rest/dailies?uploadStartTimeInSeconds=1&token=x"}]})
    .to_string();
    let dereg = json!({"deregistrations":[{"userId":ACCOUNT_ID}]}).to_string();
    let perms =
        json!({"userPermissionsChange":[{"userId":ACCOUNT_ID,"permissions":[]}]}).to_string();
    let secret_url = rig.webhook_url().await;
    let wrong = format!(
        "{}/{}",
        secret_url.rsplit_once('/').map_or("", |(a, _)| a),
        "f".repeat(64)
    );
    let calls = rig.fake.fake.calls().len();
    // The client id is public (the authorize URL prints it): it proves nothing.
    for url in [
        rig.url("/api/v1/providers/garmin/webhooks"),
        rig.url("/api/v1/garmin/webhooks/push"),
        rig.url("/api/v1/garmin/webhooks/ping"),
        wrong,
    ] {
        for body in [&dailies, &ping, &dereg, &perms] {
            let a = rig
                .post_webhook_to(&url, &[("garmin-client-id", "fake-client-id")], body)
                .await;
            assert_eq!(a.status.as_u16(), 401, "{url}: {}", a.body);
        }
    }
    rig.idle().await;
    assert_eq!(
        series(&rig, &user, "steps").await.len(),
        before,
        "nothing stored"
    );
    let c = rig.connection(&user).await;
    assert_eq!(c["status"], "active", "nothing revoked: {c}");
    assert_eq!(rig.fake.fake.calls().len(), calls, "Garmin was not called");
}

#[tokio::test]
async fn garmin_lifecycle_events_garmin_contradicts_change_nothing() {
    let rig = rig().await;
    let user = rig.connected_user().await;
    let scope = rig.connection(&user).await["scope"].clone();
    // With the URL secret (leaked, say): Garmin still accepts the user's token, so the
    // deregistration is not real; the permissions are read back from Garmin, not the push.
    let dereg = json!({"deregistrations":[{"userId":ACCOUNT_ID}]}).to_string();
    let a = rig
        .post_webhook(&[("garmin-client-id", "fake-client-id")], &dereg)
        .await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.body);
    let perms =
        json!({"userPermissionsChange":[{"userId":ACCOUNT_ID,"permissions":[]}]}).to_string();
    let a = rig
        .post_webhook(&[("garmin-client-id", "fake-client-id")], &perms)
        .await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.body);
    rig.idle().await;
    let c = rig.connection(&user).await;
    assert_eq!(c["status"], "active", "not revoked: {c}");
    assert_eq!(c["scope"], scope, "the scope Garmin reports: {c}");
    let calls = rig.fake.fake.calls();
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("/partner-gateway/rest/user/id"))
    );
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("/partner-gateway/rest/user/permissions"))
    );
}

#[tokio::test]
async fn garmin_ping_callback_urls_are_never_fetched_with_the_users_token() {
    // A listener standing in for an attacker's host: it must never see a request.
    let trap = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let trap_url = format!("http://{}", trap.local_addr().expect("addr"));
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = hits.clone();
    tokio::spawn(async move {
        while let Ok((_sock, _)) = trap.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let rig = rig().await;
    let user = rig.connected_user().await;
    let before = series(&rig, &user, "steps").await.len();
    for callback in [
        format!("{trap_url}/steal?token=x"),
        format!("{}/wellness-api/rest/dailies?token=x", rig.fake.base_url),
    ] {
        let ping = json!({"dailies":[{"userId":ACCOUNT_ID,"callbackURL":callback}],
            "activityFiles":[{"userId":ACCOUNT_ID,"activityId":1,"fileType":"FIT","callbackURL":callback}]})
        .to_string();
        let a = rig
            .post_webhook(&[("garmin-client-id", "fake-client-id")], &ping)
            .await;
        assert_eq!(a.status.as_u16(), 200, "{}", a.body);
    }
    rig.idle().await;
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no call to the foreign host"
    );
    assert!(
        !rig.fake
            .fake
            .calls()
            .iter()
            .any(|c| c.contains("/wellness-api/rest/dailies")),
        "PING items are skipped, not fetched"
    );
    assert_eq!(series(&rig, &user, "steps").await.len(), before);
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
    // The same 30 days again: the backfill state knows every type was requested, so nothing
    // is asked twice.
    assert_eq!(rig.fake.fake.calls().len(), calls);
    assert_eq!(backfill_requests(&rig).len(), 16);
    assert_eq!(rig.connection(&user).await["status"], "active");
    assert_eq!(rig.data(&user, WORKOUTS).await.len(), 1);

    // Scheduled polling never includes Garmin.
    rig.clock.advance(Duration::hours(3));
    shared::jobs::schedule::tick(&rig.state)
        .await
        .expect("tick");
    rig.idle().await;
    assert_eq!(rig.fake.fake.calls().len(), calls, "no poll");
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
    let pulled = shared::providers::garmin::pull::pull(&f, start, end)
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
    shared::providers::garmin::pull::pull(&f, start, end)
        .await
        .expect("a repeated range still succeeds");
    assert_eq!(fake.fake.items(BACKFILL_REQUESTS).len(), 32);

    // A range before the minimum start time (30 days before the anchor) is retried once with
    // its last 14 days.
    let (old_start, old_end) = (anchor - Duration::days(40), anchor - Duration::days(10));
    fake.fake.with(|s| s.items.remove(BACKFILL_REQUESTS));
    shared::providers::garmin::pull::pull(&f, old_start, old_end)
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
        shared::providers::garmin::pull::pull(&bad, start, end).await,
        Err(shared::providers::sync::FetchError::Unauthorized)
    ));
    // 429 is transient (the window is retried).
    fake.fake.throttle(1);
    assert!(matches!(
        shared::providers::garmin::pull::pull(&f, start, end).await,
        Err(shared::providers::sync::FetchError::Transient(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Backfill control (#49–#51)
// ---------------------------------------------------------------------------------------------

const FIVE: [&str; 5] = ["sleeps", "dailies", "activities", "activityDetails", "hrv"];

async fn backfill(rig: &Rig, method: &str, user: &str, rest: &str) -> ow_e2e::providers::Answer {
    rig.call(
        method,
        &format!("/api/v1/providers/garmin/users/{user}/backfill/{rest}"),
        None,
    )
    .await
}

async fn status(rig: &Rig, user: &str) -> Value {
    let a = backfill(rig, "GET", user, "status").await;
    assert_eq!(a.status.as_u16(), 200, "{:?}", a.body);
    a.body
}

fn cells(s: &Value) -> Vec<(String, String)> {
    FIVE.iter()
        .map(|t| {
            (
                t.to_string(),
                s["windows"]["0"][t].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect()
}

fn all(cell: &str) -> Vec<(String, String)> {
    FIVE.iter()
        .map(|t| (t.to_string(), cell.to_string()))
        .collect()
}

/// Garmin delivers the fake's items of one push key (as the fake would after a backfill).
async fn deliver(rig: &Rig, key: &str) {
    let body = json!({ key: rig.fake.fake.items(key) });
    let url = rig.webhook_url().await;
    let status = ow_fakes::garmin::push(&rig.fake.fake, &url, &body)
        .await
        .expect("push");
    assert_eq!(status, 200);
    rig.idle().await;
}

#[tokio::test]
async fn garmin_backfill_status_follows_the_pushes_to_complete() {
    let rig = Rig::start("garmin").await;
    // Garmin accepts the requests but delivers nothing by itself: the test is Garmin.
    ow_fakes::garmin::configure_push(&rig.fake.fake, &rig.webhook_url().await, 0, false);
    let user = rig.new_user().await;

    let s = status(&rig, &user).await;
    assert_eq!(
        s,
        json!({"user_id": user, "provider": "garmin", "overall_status": "pending",
            "current_window": 0, "total_windows": 1, "windows": {}, "summary": {},
            "in_progress": false, "retry_phase": false, "retry_type": null, "retry_window": null,
            "attempt_count": 0, "max_attempts": 3, "permanently_failed": false}),
        "a user without a backfill gets the pending skeleton"
    );

    let cb = rig.consent(&user).await;
    assert_eq!(cb.status.as_u16(), 303);
    rig.idle().await;
    assert_eq!(
        backfill_requests(&rig).len(),
        16,
        "every type was requested"
    );
    let s = status(&rig, &user).await;
    assert_eq!(
        (
            s["overall_status"].as_str(),
            s["in_progress"].as_bool(),
            s["current_window"].as_i64()
        ),
        (Some("in_progress"), Some(true), Some(0)),
        "{s}"
    );
    assert_eq!(cells(&s), all("pending"));

    deliver(&rig, "sleeps").await;
    let s = status(&rig, &user).await;
    assert_eq!(s["overall_status"], "in_progress");
    assert_eq!(s["windows"]["0"]["sleeps"], "done");
    assert_eq!(
        s["summary"]["sleeps"],
        json!({"done": 1, "timed_out": 0, "failed": 0})
    );
    assert_eq!(s["windows"]["0"]["dailies"], "pending");

    for key in ["dailies", "activities", "activityDetails", "hrv"] {
        deliver(&rig, key).await;
    }
    let s = status(&rig, &user).await;
    assert_eq!(
        (
            s["overall_status"].as_str(),
            s["in_progress"].as_bool(),
            s["current_window"].as_i64()
        ),
        (Some("complete"), Some(false), Some(1)),
        "{s}"
    );
    assert_eq!(cells(&s), all("done"));
    for t in FIVE {
        assert_eq!(
            s["summary"][t],
            json!({"done": 1, "timed_out": 0, "failed": 0}),
            "{t}"
        );
    }
    // The pushed data is stored.
    assert_eq!(rig.data(&user, WORKOUTS).await.len(), 1);
    assert_eq!(rig.data(&user, SLEEPS).await.len(), 2);
    // Nothing runs any more: cancel is refused.
    let c = backfill(&rig, "POST", &user, "cancel").await;
    assert_eq!(c.status.as_u16(), 409);
}

#[tokio::test]
async fn garmin_backfill_type_without_a_push_times_out_and_a_retry_completes_it() {
    let rig = rig().await;
    // Garmin has no HRV for this user at first: the request is accepted, nothing arrives.
    let hrv = rig.fake.fake.items("hrv");
    rig.fake.fake.with(|s| s.items.remove("hrv"));
    let user = rig.connected_user().await;
    let s = status(&rig, &user).await;
    assert_eq!(s["overall_status"], "in_progress", "{s}");
    assert_eq!(s["windows"]["0"]["hrv"], "pending");
    assert_eq!(s["windows"]["0"]["sleeps"], "done", "delivered at once");

    rig.clock.advance(Duration::seconds(299));
    assert_eq!(status(&rig, &user).await["overall_status"], "in_progress");
    rig.clock.advance(Duration::seconds(1));
    let s = status(&rig, &user).await;
    assert_eq!(
        (
            s["overall_status"].as_str(),
            s["windows"]["0"]["hrv"].as_str()
        ),
        (Some("complete"), Some("timed_out")),
        "{s}"
    );
    assert_eq!(
        s["summary"]["hrv"],
        json!({"done": 0, "timed_out": 1, "failed": 0})
    );
    assert_eq!(s["windows"]["0"]["dailies"], "done");

    // The retry asks Garmin for HRV again, over the 30 days before now.
    for item in hrv {
        rig.fake.fake.add_item("hrv", item);
    }
    ow_fakes::garmin::configure_push(&rig.fake.fake, &rig.webhook_url().await, 0, false);
    let r = backfill(&rig, "POST", &user, "hrv/retry").await;
    assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
    assert_eq!(
        r.body,
        json!({"success": true, "user_id": user, "type": "hrv", "status": "triggered",
            "message": "Retry triggered for hrv. Data will arrive via webhook."})
    );
    rig.idle().await;
    let now = rig.now().timestamp();
    let again: Vec<Value> = backfill_requests(&rig)
        .into_iter()
        .filter(|r| r["type"] == "hrv")
        .collect();
    assert_eq!(again.len(), 2, "{again:?}");
    assert_eq!(
        (again[1]["start"].as_i64(), again[1]["end"].as_i64()),
        (Some(now - 30 * 86_400), Some(now))
    );
    assert_eq!(
        backfill_requests(&rig).len(),
        17,
        "only the retried type is requested"
    );
    let s = status(&rig, &user).await;
    assert_eq!(
        (
            s["overall_status"].as_str(),
            s["in_progress"].as_bool(),
            s["retry_phase"].as_bool(),
            s["retry_type"].as_str(),
            s["retry_window"].as_i64(),
            s["windows"]["0"]["hrv"].as_str(),
        ),
        (
            Some("retry_in_progress"),
            Some(true),
            Some(true),
            Some("hrv"),
            Some(0),
            Some("pending")
        ),
        "{s}"
    );

    deliver(&rig, "hrv").await;
    let s = status(&rig, &user).await;
    assert_eq!(
        (
            s["overall_status"].as_str(),
            s["retry_phase"].as_bool(),
            s["retry_type"].clone()
        ),
        (Some("complete"), Some(false), Value::Null),
        "{s}"
    );
    assert_eq!(cells(&s), all("done"));
    assert_eq!(
        series(&rig, &user, "heart_rate_variability_rmssd")
            .await
            .len(),
        4,
        "the retried type's data is stored"
    );

    // Unknown types are refused with the valid list.
    let bad = backfill(&rig, "POST", &user, "epochs/retry").await;
    assert_eq!(bad.status.as_u16(), 400);
    assert_eq!(
        bad.body["detail"],
        "Invalid type: epochs. Valid types: sleeps, dailies, activities, activityDetails, hrv"
    );
}

#[tokio::test]
async fn garmin_backfill_retried_type_that_times_out_again_fails() {
    let rig = rig().await;
    rig.fake.fake.with(|s| s.items.remove("activityDetails"));
    let user = rig.connected_user().await;
    rig.clock.advance(Duration::minutes(5));
    assert_eq!(
        status(&rig, &user).await["windows"]["0"]["activityDetails"],
        "timed_out"
    );
    let r = backfill(&rig, "POST", &user, "activityDetails/retry").await;
    assert_eq!(r.status.as_u16(), 200);
    rig.idle().await;
    assert_eq!(
        status(&rig, &user).await["overall_status"],
        "retry_in_progress"
    );
    rig.clock.advance(Duration::minutes(5));
    let s = status(&rig, &user).await;
    assert_eq!(
        (
            s["overall_status"].as_str(),
            s["windows"]["0"]["activityDetails"].as_str()
        ),
        (Some("complete"), Some("failed")),
        "{s}"
    );
    assert_eq!(
        s["summary"]["activityDetails"],
        json!({"done": 0, "timed_out": 0, "failed": 1})
    );
}

#[tokio::test]
async fn garmin_backfill_cancel_stops_the_requests_still_to_come() {
    let rig = rig().await;
    let user = rig.connected_user().await;
    let idle = backfill(&rig, "POST", &user, "cancel").await;
    assert_eq!(idle.status.as_u16(), 409, "{:?}", idle.body);
    assert_eq!(idle.body["detail"], "No backfill in progress for this user");
    let stranger = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        backfill(&rig, "POST", &stranger, "cancel")
            .await
            .status
            .as_u16(),
        409
    );

    // A new backfill an hour later; Garmin is slow to answer its first request.
    rig.clock.advance(Duration::hours(1));
    let before = backfill_requests(&rig).len();
    rig.fake.fake.slow(1, 1200);
    let h = rig
        .call(
            "POST",
            &format!("/api/v1/providers/garmin/users/{user}/sync/historical"),
            None,
        )
        .await;
    assert_eq!(h.status.as_u16(), 200);
    let mut running = false;
    for _ in 0..100 {
        if status(&rig, &user).await["overall_status"] == "in_progress" {
            running = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(running, "the window started");
    let c = backfill(&rig, "POST", &user, "cancel").await;
    assert_eq!(c.status.as_u16(), 200, "{:?}", c.body);
    assert_eq!(
        c.body,
        json!({"success": true, "user_id": user,
            "message": "Cancel requested. Backfill will stop after current type completes."})
    );
    rig.idle().await;
    // The type being requested finished; no further type was requested.
    let reqs = backfill_requests(&rig);
    assert_eq!(reqs.len(), before + 1, "{reqs:?}");
    assert_eq!(reqs[before]["type"], "sleeps");
    let s = status(&rig, &user).await;
    assert_eq!(
        (s["overall_status"].as_str(), s["in_progress"].as_bool()),
        (Some("cancelled"), Some(false)),
        "{s}"
    );
    assert_eq!(s["windows"]["0"]["sleeps"], "done");
    assert_eq!(s["windows"]["0"]["dailies"], "pending");
    assert_eq!(
        backfill(&rig, "POST", &user, "cancel")
            .await
            .status
            .as_u16(),
        409,
        "cancelled is not running"
    );
    // The same window again honours the cancel flag.
    let h = rig
        .call(
            "POST",
            &format!("/api/v1/providers/garmin/users/{user}/sync/historical"),
            None,
        )
        .await;
    assert_eq!(h.status.as_u16(), 200);
    rig.idle().await;
    assert_eq!(backfill_requests(&rig).len(), before + 1);
    assert_eq!(status(&rig, &user).await["overall_status"], "cancelled");

    // A later backfill starts afresh.
    rig.clock.advance(Duration::hours(1));
    let h = rig
        .call(
            "POST",
            &format!("/api/v1/providers/garmin/users/{user}/sync/historical"),
            None,
        )
        .await;
    assert_eq!(h.status.as_u16(), 200);
    rig.idle().await;
    assert_eq!(backfill_requests(&rig).len(), before + 17);
    assert_eq!(status(&rig, &user).await["overall_status"], "complete");
}

#[tokio::test]
async fn garmin_backfill_fails_permanently_after_three_throttled_attempts_until_reconnect() {
    let rig = rig().await;
    let user = rig.connected_user().await;
    rig.clock.advance(Duration::hours(1));
    rig.fake.fake.throttle(3);
    let h = rig
        .call(
            "POST",
            &format!("/api/v1/providers/garmin/users/{user}/sync/historical"),
            None,
        )
        .await;
    assert_eq!(h.status.as_u16(), 200);
    rig.idle().await;
    let s = status(&rig, &user).await;
    assert_eq!(
        (
            s["overall_status"].as_str(),
            s["attempt_count"].as_i64(),
            s["permanently_failed"].as_bool(),
            s["windows"]["0"]["sleeps"].as_str(),
        ),
        (
            Some("permanently_failed"),
            Some(3),
            Some(true),
            Some("failed")
        ),
        "{s}"
    );
    let before = backfill_requests(&rig).len();
    // Another trigger requests nothing ...
    rig.clock.advance(Duration::hours(1));
    rig.call(
        "POST",
        &format!("/api/v1/providers/garmin/users/{user}/sync/historical"),
        None,
    )
    .await;
    rig.idle().await;
    assert_eq!(backfill_requests(&rig).len(), before);
    // ... until the user connects again.
    assert_eq!(rig.consent(&user).await.status.as_u16(), 303);
    rig.idle().await;
    assert_eq!(backfill_requests(&rig).len(), before + 16);
    let s = status(&rig, &user).await;
    assert_eq!(
        (s["overall_status"].as_str(), s["attempt_count"].as_i64()),
        (Some("complete"), Some(0)),
        "{s}"
    );
}

#[tokio::test]
async fn garmin_backfill_without_the_historical_permission_fails_every_type() {
    let rig = rig().await;
    rig.fake.fake.with(|s| {
        s.items.insert(
            PERMISSIONS.to_string(),
            vec![json!("ACTIVITY_EXPORT"), json!("HEALTH_EXPORT")],
        )
    });
    let user = rig.connected_user().await;
    let s = status(&rig, &user).await;
    assert_eq!(s["overall_status"], "complete", "{s}");
    assert_eq!(cells(&s), all("failed"));
}

#[tokio::test]
async fn garmin_backfill_routes_need_an_api_key_and_a_uuid() {
    let rig = rig().await;
    let user = uuid::Uuid::new_v4();
    let anon = rig
        .http
        .get(rig.url(&format!(
            "/api/v1/providers/garmin/users/{user}/backfill/status"
        )))
        .send()
        .await
        .expect("request");
    assert_eq!(anon.status().as_u16(), 401);
    assert_eq!(
        backfill(&rig, "GET", "not-a-uuid", "status")
            .await
            .status
            .as_u16(),
        400
    );
    // The provider routes around them still answer.
    let s = status(&rig, &user.to_string()).await;
    assert_eq!(s["overall_status"], "pending");
}

//! Whoop end to end: consent, backfill of every collection (paged), the read API, scores,
//! revocation, faults, deregistration.

use ow_e2e::providers::Rig;
use serde_json::Value;

const WINDOW: &str = "start_date=2024-05-01&end_date=2024-06-11";

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

#[tokio::test]
async fn whoop_backfill_lands_in_the_read_api() {
    let rig = Rig::start("whoop").await;
    let user = rig.connected_user().await;
    let c = rig.connection(&user).await;
    assert_eq!(
        (c["status"].as_str(), c["provider_user_id"].as_str()),
        (Some("active"), Some("20931")),
        "{c}"
    );

    // Workouts: the two scored ones (the pending one is skipped), newest first.
    let w = rig.data(&user, &format!("events/workouts?{WINDOW}")).await;
    assert_eq!(w.len(), 2, "{w:?}");
    let ride = &w[1];
    assert_eq!(
        (
            ride["type"].as_str(),
            ride["start_time"].as_str(),
            ride["zone_offset"].as_str(),
            ride["distance_meters"].as_f64(),
            ride["max_heart_rate_bpm"].as_i64(),
        ),
        (
            Some("cycling"),
            Some("2024-06-01T16:05:00Z"),
            Some("+02:00"),
            Some(36250.0),
            Some(174)
        ),
        "{ride}"
    );
    assert!(
        (f(&ride["calories_kcal"]) - 745.794).abs() < 0.01,
        "3120.4 kJ in kcal: {ride}"
    );
    assert_eq!(ride["elevation_gain_meters"].as_f64(), Some(410.2));
    assert_eq!(w[0]["type"], "running", "{w:?}");

    // Sleep: the scored night with Whoop's stage summary, and the pending nap.
    let s = rig.data(&user, &format!("events/sleep?{WINDOW}")).await;
    assert_eq!(s.len(), 2, "{s:?}");
    let night = s.iter().find(|x| x["is_nap"] == false).expect("the night");
    assert_eq!(night["start_time"], "2024-05-31T21:58:00Z");
    assert_eq!(night["zone_offset"], "+02:00");
    assert_eq!(
        (
            night["stages"]["deep_minutes"].as_i64(),
            night["stages"]["light_minutes"].as_i64(),
            night["stages"]["rem_minutes"].as_i64(),
            night["stages"]["awake_minutes"].as_i64(),
        ),
        (Some(95), Some(215), Some(102), Some(41)),
        "{night}"
    );
    assert_eq!(night["sleep_duration_seconds"], 412 * 60);
    assert_eq!(night["efficiency_percent"].as_f64(), Some(90.9));
    assert!(s.iter().any(|x| x["is_nap"] == true));
    let summary = rig
        .data(
            &user,
            "summaries/sleep?start_date=2024-06-01&end_date=2024-06-02",
        )
        .await;
    assert_eq!(summary[0]["duration_minutes"], 412, "{summary:?}");

    // Recovery samples and the Whoop scores.
    let rhr = rig
        .data(
            &user,
            "timeseries?start_time=2024-06-01T00:00:00Z&end_time=2024-06-02T00:00:00Z&types=resting_heart_rate&types=heart_rate_variability_rmssd",
        )
        .await;
    let got: Vec<(&str, f64, &str)> = rhr
        .iter()
        .map(|p| {
            (
                p["type"].as_str().unwrap_or(""),
                f(&p["value"]),
                p["timestamp"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        got.iter().any(|(t, v, ts)| *t == "resting_heart_rate"
            && *v == 52.0
            && ts.starts_with("2024-06-01T05:52:03")),
        "{rhr:?}"
    );
    assert!(
        got.iter()
            .any(|(t, v, _)| *t == "heart_rate_variability_rmssd" && *v == 58.4)
    );
    let scores = rig
        .user_get(&user, "health-scores?provider=whoop&limit=100")
        .await;
    let scores = scores["data"].as_array().cloned().unwrap_or_default();
    let pick = |cat: &str| -> Vec<f64> {
        let mut v: Vec<f64> = scores
            .iter()
            .filter(|s| s["category"] == cat)
            .map(|s| f(&s["value"]))
            .collect();
        v.sort_by(f64::total_cmp);
        v
    };
    assert_eq!(pick("recovery"), vec![67.0], "{scores:?}");
    assert_eq!(pick("sleep"), vec![91.0], "{scores:?}");
    assert_eq!(
        pick("strain"),
        vec![9.8, 13.7, 15.2],
        "workouts + day: {scores:?}"
    );
    let recovery = scores
        .iter()
        .find(|s| s["category"] == "recovery")
        .expect("recovery");
    assert_eq!(recovery["components"]["hrv_rmssd_milli"]["value"], 58.4);
    let rec = rig
        .data(
            &user,
            "summaries/recovery?start_date=2024-06-01&end_date=2024-06-02",
        )
        .await;
    assert_eq!(rec[0]["recovery_score"], 67, "{rec:?}");
    assert_eq!(rec[0]["resting_heart_rate_bpm"], 52, "{rec:?}");

    // Body measurements (current values, dated the day the window ends).
    let body = rig
        .data(
            &user,
            "timeseries?start_time=2024-06-10T00:00:00Z&end_time=2024-06-11T00:00:00Z&types=weight&types=height",
        )
        .await;
    let mut got: Vec<(String, f64)> = body
        .iter()
        .map(|p| (p["type"].as_str().unwrap_or("").to_string(), f(&p["value"])))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![("height".to_string(), 178.0), ("weight".to_string(), 72.4)],
        "{body:?}"
    );

    // Every collection was read in pages: the cursor came back.
    let calls = rig.fake.fake.calls();
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("/developer/v2/activity/workout ") && c.contains("nextToken=")),
        "{calls:?}"
    );
    assert!(
        calls
            .iter()
            .all(|c| !c.contains("limit=") || c.contains("limit=25"))
    );
}

#[tokio::test]
async fn whoop_revoked_grant_marks_the_connection_revoked() {
    Rig::start("whoop")
        .await
        .assert_a_revoked_grant_marks_the_connection_revoked()
        .await;
}

#[tokio::test]
async fn whoop_faults_delay_but_never_lose_a_window() {
    let rig = Rig::start("whoop").await;
    let user = rig.connect_through_faults().await;
    let w = rig.data(&user, &format!("events/workouts?{WINDOW}")).await;
    assert_eq!(w.len(), 2, "{w:?}");
    let s = rig.data(&user, &format!("events/sleep?{WINDOW}")).await;
    assert_eq!(s.len(), 2, "{s:?}");
}

#[tokio::test]
async fn whoop_disconnect_revokes_access_at_whoop() {
    let rig = Rig::start("whoop").await;
    let user = rig.connected_user().await;
    let path = format!("/api/v1/users/{user}/connections/whoop");
    let d = rig.call("DELETE", &path, None).await;
    assert_eq!(d.status.as_u16(), 204, "{:?}", d.body);
    assert_eq!(rig.fake.fake.with(|s| s.deregistrations), 1);
    assert!(
        rig.fake
            .fake
            .calls()
            .iter()
            .any(|c| c.starts_with("/developer/v2/user/access")),
        "DELETE /developer/v2/user/access was called"
    );
    assert_eq!(rig.connection(&user).await["status"], "revoked");
    // The deregistered token no longer works at Whoop.
    let (token, _) = rig.fake.fake.issue_tokens();
    let http = reqwest::Client::new();
    let f = shared::providers::sync::Fetcher::new(&http, &rig.fake.base_url, &token);
    shared::providers::whoop::deregister(&f)
        .await
        .expect("deregistered");
    assert!(matches!(
        shared::providers::whoop::deregister(&f).await,
        Err(shared::providers::sync::FetchError::Unauthorized)
    ));
}

#[tokio::test]
async fn whoop_webhooks_pull_new_data_and_bad_signatures_change_nothing() {
    let rig = Rig::start("whoop").await;
    let user = rig.connected_user().await;
    let workouts = format!("events/workouts?{WINDOW}");
    assert_eq!(rig.data(&user, &workouts).await.len(), 2);

    // Forged, stale and unsigned notifications are refused and trigger no pull.
    let calls = rig.fake.fake.calls().len();
    assert_eq!(rig.webhook("workout.updated#bad-signature").await, 401);
    assert_eq!(rig.webhook("workout.updated#stale").await, 401);
    let body = r#"{"user_id":20931,"id":"x","type":"workout.updated","trace_id":"t"}"#;
    let unsigned = rig.post_webhook(&[], body).await;
    assert_eq!(
        (unsigned.status.as_u16(), unsigned.body["detail"].as_str()),
        (401, Some("Invalid webhook signature"))
    );
    let forged = rig
        .post_webhook(
            &[
                ("X-WHOOP-Signature", "bm90IGEgc2lnbmF0dXJl"),
                ("X-WHOOP-Signature-Timestamp", "1718020800000"),
            ],
            body,
        )
        .await;
    assert_eq!(forged.status.as_u16(), 401);
    rig.idle().await;
    assert_eq!(rig.fake.fake.calls().len(), calls, "no pull was triggered");
    assert_eq!(rig.data(&user, &workouts).await.len(), 2);

    // The signed notification pulls the new workout.
    assert_eq!(rig.webhook("workout.updated").await, 200);
    let w = rig.data(&user, &workouts).await;
    assert_eq!(w.len(), 3, "{w:?}");
    assert_eq!(
        (
            w[0]["type"].as_str(),
            w[0]["start_time"].as_str(),
            w[0]["distance_meters"].as_f64()
        ),
        (Some("running"), Some("2024-06-10T07:10:00Z"), Some(7520.0)),
        "{w:?}"
    );
    // ... and the sleep notification last night's sleep.
    assert_eq!(rig.webhook("sleep.updated").await, 200);
    let s = rig.data(&user, &format!("events/sleep?{WINDOW}")).await;
    assert!(
        s.iter().any(
            |x| x["start_time"] == "2024-06-09T22:30:00Z" && x["stages"]["deep_minutes"] == 100
        ),
        "{s:?}"
    );
    // Whoop has no subscription challenge.
    let get = rig
        .call("GET", "/api/v1/providers/whoop/webhooks", None)
        .await;
    assert_eq!(get.status.as_u16(), 400, "{:?}", get.body);
}

#[tokio::test]
async fn whoop_deletions_remove_the_record_and_keep_the_rest() {
    let rig = Rig::start("whoop").await;
    let user = rig.connected_user().await;
    let workouts = format!("events/workouts?{WINDOW}");
    let sleeps = format!("events/sleep?{WINDOW}");
    let scores = || async {
        let mut v: Vec<(String, f64)> = rig
            .data(&user, "health-scores?provider=whoop&limit=100")
            .await
            .iter()
            .map(|s| {
                (
                    s["category"].as_str().unwrap_or("").to_string(),
                    f(&s["value"]),
                )
            })
            .collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        v
    };
    assert_eq!(rig.data(&user, &workouts).await.len(), 2);
    let before = scores().await;
    let night_summary = "summaries/sleep?start_date=2024-06-01&end_date=2024-06-02";
    assert_eq!(
        rig.data(&user, night_summary).await[0]["duration_minutes"],
        412
    );

    // The member deletes the ride in the Whoop app: it goes, the run stays; nothing is pulled.
    let calls = rig.fake.fake.calls().len();
    assert_eq!(rig.webhook("workout.deleted").await, 200);
    assert_eq!(
        rig.fake.fake.calls().len(),
        calls,
        "a deletion pulls nothing"
    );
    let w = rig.data(&user, &workouts).await;
    assert_eq!(
        w.iter().map(|x| x["type"].as_str()).collect::<Vec<_>>(),
        vec![Some("running")],
        "{w:?}"
    );
    assert_eq!(rig.data(&user, &sleeps).await.len(), 2, "sleeps stay");
    assert_eq!(scores().await, before, "scores stay");

    // ... then last night: the nap stays, and the night's summary is recomputed without it.
    assert_eq!(rig.webhook("sleep.deleted").await, 200);
    let s = rig.data(&user, &sleeps).await;
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0]["is_nap"], true, "{s:?}");
    let summary = rig.data(&user, night_summary).await;
    assert!(
        summary.iter().all(|d| d["duration_minutes"] != 412),
        "the deleted night no longer counts: {summary:?}"
    );
    assert_eq!(rig.data(&user, &workouts).await.len(), 1);

    // Deleting again finds nothing; the remaining data is untouched.
    assert_eq!(rig.webhook("workout.deleted").await, 200);
    assert_eq!(rig.webhook("sleep.deleted").await, 200);
    assert_eq!(rig.data(&user, &workouts).await.len(), 1);
    assert_eq!(rig.data(&user, &sleeps).await.len(), 1);
}

#[tokio::test]
async fn whoop_a_failed_profile_call_at_connect_is_made_up_by_the_backfill() {
    let rig = Rig::start("whoop").await;
    let profile = "/developer/v2/user/profile/basic";
    // The callback's user-info call fails once: the connection starts without its account id.
    rig.fake.fake.fail_path(profile, 1);
    let user = rig.connected_user().await;
    // The first backfill window asked again (once: later windows have the id).
    let asked = rig
        .fake
        .fake
        .calls()
        .iter()
        .filter(|c| c.starts_with(&format!("{profile} ")))
        .count();
    assert_eq!(asked, 2, "{:?}", rig.fake.fake.calls());
    assert_eq!(
        rig.fake
            .fake
            .with(|s| s.faults.path_errors.get(profile).copied()),
        Some(0),
        "the fault met the callback"
    );
    let c = rig.connection(&user).await;
    assert_eq!(
        (c["status"].as_str(), c["provider_user_id"].as_str()),
        (Some("active"), Some("20931")),
        "{c}"
    );
    // So the member's webhooks are matched to the connection and applied.
    let workouts = format!("events/workouts?{WINDOW}");
    assert_eq!(rig.data(&user, &workouts).await.len(), 2);
    assert_eq!(rig.webhook("workout.updated").await, 200);
    assert_eq!(rig.data(&user, &workouts).await.len(), 3);
    assert_eq!(rig.webhook("workout.deleted").await, 200);
    assert_eq!(rig.data(&user, &workouts).await.len(), 2);
}

/// How long a test waits for our server to reach a gated call of the fake.
const GATE_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

#[tokio::test]
async fn whoop_a_disconnect_during_the_backfills_identity_lookup_is_not_undone() {
    disconnect_during_identity_lookup(ow_e2e::Storage::Embedded).await;
}

#[tokio::test]
async fn whoop_a_disconnect_during_the_backfills_identity_lookup_is_not_undone_on_dynamodb() {
    disconnect_during_identity_lookup(ow_e2e::Storage::Dynamo).await;
}

async fn disconnect_during_identity_lookup(storage: ow_e2e::Storage) {
    let rig = Rig::start_on(storage, "whoop", ow_fakes::FakeOptions::default(), &[]).await;
    let profile = "/developer/v2/user/profile/basic";
    // The callback's user-info call fails, so the first backfill window asks again: that
    // second call is held while the user disconnects.
    rig.fake.fake.fail_path(profile, 1);
    let gate = rig.fake.fake.gate(profile, 1);
    let user = rig.new_user().await;
    assert_eq!(rig.consent(&user).await.status.as_u16(), 303);
    assert!(
        gate.arrived(GATE_WAIT).await,
        "the backfill asked for the profile"
    );
    let gone = rig
        .call(
            "DELETE",
            &format!("/api/v1/users/{user}/connections/whoop"),
            None,
        )
        .await;
    assert_eq!(gone.status.as_u16(), 204, "{}", gone.body);
    gate.release();
    rig.idle().await;

    let c = rig.connection(&user).await;
    assert_eq!(
        c["status"], "revoked",
        "the window's write kept the revoke: {c}"
    );
    assert!(
        rig.data(&user, &format!("events/workouts?{WINDOW}"))
            .await
            .is_empty(),
        "the stopped backfill stored nothing"
    );
}

#[tokio::test]
async fn whoop_a_disconnect_during_a_pull_stops_the_window_before_it_stores() {
    let rig = Rig::start_with(
        "whoop",
        ow_fakes::FakeOptions::default(),
        &[("HISTORICAL_SYNC_ON_CONNECT", "false")],
    )
    .await;
    let user = rig.connected_user().await;
    // A webhook queues one window; its last call (body measurements, after every
    // collection was fetched) is held while the user disconnects.
    let gate = rig.fake.fake.gate(shared::providers::whoop::BODY, 0);
    let sent = rig
        .fake
        .fake
        .send_webhook(&rig.api, "workout.updated")
        .await
        .expect("webhook sent");
    assert_eq!(sent, 200);
    assert!(
        gate.arrived(GATE_WAIT).await,
        "the window reached its last call"
    );
    let gone = rig
        .call(
            "DELETE",
            &format!("/api/v1/users/{user}/connections/whoop"),
            None,
        )
        .await;
    assert_eq!(gone.status.as_u16(), 204, "{}", gone.body);
    gate.release();
    rig.idle().await;

    let c = rig.connection(&user).await;
    assert_eq!(c["status"], "revoked", "{c}");
    assert!(
        c["last_synced_at"].is_null(),
        "the window did not sync: {c}"
    );
    assert!(
        rig.data(&user, &format!("events/workouts?{WINDOW}"))
            .await
            .is_empty(),
        "nothing of the window was stored after the disconnect"
    );
    let runs = rig.user_get(&user, "sync/runs").await;
    assert!(
        runs.to_string().contains("revoked during the sync"),
        "the run says why it stopped: {runs}"
    );
}

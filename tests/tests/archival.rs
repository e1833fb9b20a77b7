//! Data lifecycle (api.md #89–#91) over real HTTP on both table adapters: settings are a full
//! replace with the reference's bounds, the storage estimate comes from the maintained
//! counters, and the dispatched retention job deletes what is older than `delete_after_days`
//! (and nothing newer), keeping the dashboard counters right.

use chrono::{Duration, Utc};
use ow_e2e::{Server, Storage};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn call(
    s: &Server,
    jwt: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = s.http.request(method.parse().expect("method"), s.url(path));
    if let Some(j) = jwt {
        req = req.bearer_auth(j);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("send");
    let st = r.status();
    (st, r.json().await.unwrap_or(Value::Null))
}

/// Pushes `n` heart-rate samples a minute apart from `start` for `user`.
async fn push(s: &Server, sdk: &str, user: &str, start: chrono::DateTime<Utc>, n: i64) {
    let records: Vec<Value> = (0..n)
        .map(|i| {
            let t = (start + Duration::minutes(i)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            json!({"type": "HKQuantityTypeIdentifierHeartRate", "unit": "count/min", "value": 60 + i % 20,
                   "startDate": t, "endDate": t, "source": {"name": "Watch", "deviceModel": "Watch"}})
        })
        .collect();
    let body = json!({"provider": "apple", "sdkVersion": "1", "syncTimestamp": "2025-03-02T00:00:00Z", "data": {"records": records}});
    let r = s
        .http
        .post(s.url(&format!("/api/v1/sdk/users/{user}/sync")))
        .bearer_auth(sdk)
        .json(&body)
        .send()
        .await
        .expect("push");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

async fn lifecycle(storage: Storage) {
    let s = Server::start(storage).await;
    let jwt = s.login().await;
    let (st, _) = call(&s, None, "GET", "/api/v1/settings/archival", None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, body) = call(&s, Some(&jwt), "GET", "/api/v1/settings/archival", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        body["settings"],
        json!({"archive_after_days": null, "delete_after_days": null})
    );
    assert_eq!(body["storage"]["growth_class"], "linear");
    assert_eq!(body["storage"]["live_row_count"], 0);
    assert_eq!(body["storage"]["total_pretty"], "0 B");

    for bad in [
        json!({"delete_after_days": 0}),
        json!({"delete_after_days": 7301}),
        json!({"archive_after_days": 3651}),
        json!({"archive_after_days": "ten"}),
        json!({"archive_after_days": 1.5}),
        json!([]),
    ] {
        let (st, e) = call(
            &s,
            Some(&jwt),
            "PUT",
            "/api/v1/settings/archival",
            Some(bad.clone()),
        )
        .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}");
        assert!(e["detail"].is_string());
    }
    let (st, body) = call(
        &s,
        Some(&jwt),
        "PUT",
        "/api/v1/settings/archival",
        Some(json!({"archive_after_days": 90, "delete_after_days": 30})),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(body["storage"]["growth_class"], "bounded");
    // A full replace: the omitted field becomes null.
    let (_, body) = call(
        &s,
        Some(&jwt),
        "PUT",
        "/api/v1/settings/archival",
        Some(json!({"delete_after_days": 30})),
    )
    .await;
    assert_eq!(
        body["settings"],
        json!({"archive_after_days": null, "delete_after_days": 30})
    );

    // Old and recent samples for one user.
    let (_, user) = call(&s, Some(&jwt), "POST", "/api/v1/users", Some(json!({}))).await;
    let user = user["id"].as_str().expect("id").to_string();
    let (_, tokens) = call(
        &s,
        Some(&jwt),
        "POST",
        &format!("/api/v1/users/{user}/token"),
        None,
    )
    .await;
    let sdk = tokens["access_token"].as_str().expect("sdk").to_string();
    let old = Utc::now() - Duration::days(60);
    let recent = Utc::now() - Duration::days(2);
    push(&s, &sdk, &user, old, 90).await;
    push(&s, &sdk, &user, recent, 30).await;
    s.state.jobs_idle().await;
    let (_, stats) = call(&s, Some(&jwt), "GET", "/api/v1/dashboard/stats", None).await;
    assert_eq!(stats["data_points"]["count"], 120);
    let (_, body) = call(&s, Some(&jwt), "GET", "/api/v1/settings/archival", None).await;
    assert_eq!(body["storage"]["live_row_count"], 120);
    let before_bytes = body["storage"]["live_data_bytes"].as_i64().expect("bytes");
    assert!(before_bytes > 0);

    let (st, run) = call(
        &s,
        Some(&jwt),
        "POST",
        "/api/v1/settings/archival/run",
        None,
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    assert_eq!(run["status"], "dispatched");
    assert!(run["task_id"].is_string());
    s.state.jobs_idle().await;

    let (_, summary) = call(
        &s,
        Some(&jwt),
        "GET",
        &format!("/api/v1/users/{user}/summaries/data"),
        None,
    )
    .await;
    assert_eq!(summary["total_data_points"], 30, "{summary}");
    let (_, stats) = call(&s, Some(&jwt), "GET", "/api/v1/dashboard/stats", None).await;
    assert_eq!(stats["data_points"]["count"], 30);
    let (_, body) = call(&s, Some(&jwt), "GET", "/api/v1/settings/archival", None).await;
    assert_eq!(body["storage"]["live_row_count"], 30);
    assert!(body["storage"]["live_data_bytes"].as_i64().expect("bytes") < before_bytes);
}

#[tokio::test]
async fn lifecycle_embedded() {
    lifecycle(Storage::Embedded).await;
}

#[tokio::test]
async fn lifecycle_dynamodb() {
    lifecycle(Storage::Dynamo).await;
}

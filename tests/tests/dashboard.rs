//! `GET /dashboard/stats` over real HTTP on both table adapters: the counters the write paths
//! maintain agree with what the per-user routes count, and follow deletes (once each).

use ow_e2e::{Server, Storage};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn get(s: &Server, jwt: &str, path: &str) -> Value {
    let r = s
        .http
        .get(s.url(path))
        .bearer_auth(jwt)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.expect("json")
}

async fn stats(s: &Server, jwt: &str) -> Value {
    get(s, jwt, "/api/v1/dashboard/stats").await
}

/// What the per-user routes say, in the dashboard's shape.
async fn expected(s: &Server, jwt: &str) -> Value {
    let users = get(s, jwt, "/api/v1/users?limit=100").await;
    let items = users["items"].as_array().expect("items").clone();
    let (mut points, mut workouts, mut sleep) = (0, 0, 0);
    let (mut active, mut with_active, mut multi) = (0, 0, 0);
    let mut per_provider = std::collections::BTreeMap::<String, i64>::new();
    for u in &items {
        let id = u["id"].as_str().expect("id");
        let d = get(s, jwt, &format!("/api/v1/users/{id}/summaries/data")).await;
        points += d["total_data_points"].as_i64().expect("points");
        workouts += d["total_workouts"].as_i64().expect("workouts");
        sleep += d["total_sleep_events"].as_i64().expect("sleep");
        let conns = get(s, jwt, &format!("/api/v1/users/{id}/connections")).await;
        let act: Vec<&Value> = conns
            .as_array()
            .expect("connections")
            .iter()
            .filter(|c| c["status"] == "active")
            .collect();
        active += act.len() as i64;
        with_active += i64::from(!act.is_empty());
        multi += i64::from(act.len() >= 2);
        for c in act {
            *per_provider
                .entry(c["provider"].as_str().expect("provider").to_string())
                .or_default() += 1;
        }
    }
    let mut top: Vec<(String, i64)> = per_provider.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    top.truncate(6);
    json!({
        "total_users": {"count": items.len()},
        "active_conn": {"count": active},
        "data_points": {"count": points, "archived": 0},
        "event_records": {"count": workouts + sleep, "workouts": workouts, "sleep": sleep, "menstrual_cycles": 0},
        "connections_coverage": {
            "users_with_active": with_active,
            "users_with_multi_active": multi,
            "top_providers": top.into_iter().map(|(p, c)| json!({"provider": p, "count": c})).collect::<Vec<_>>(),
        },
    })
}

/// An SDK push of a few heart-rate samples for `user` (a developer-token exchange first).
async fn push(s: &Server, jwt: &str, user: &str, provider: &str, kind: &str) {
    let tokens: Value = s
        .http
        .post(s.url(&format!("/api/v1/users/{user}/token")))
        .bearer_auth(jwt)
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let sdk = tokens["access_token"].as_str().expect("sdk token");
    let records: Vec<Value> = (0..5)
        .map(|i| json!({"type": kind, "unit": "count/min", "value": 60 + i,
                        "startDate": format!("2025-03-01T10:00:0{i}Z"), "endDate": format!("2025-03-01T10:00:0{i}Z"),
                        "source": {"name": "Watch", "deviceModel": "Watch"}}))
        .collect();
    let body = json!({"provider": provider, "sdkVersion": "1", "syncTimestamp": "2025-03-02T00:00:00Z", "data": {"records": records}});
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

async fn counters_follow_the_facts(storage: Storage) {
    let s = Server::start(storage).await;
    let r = s
        .http
        .get(s.url("/api/v1/dashboard/stats"))
        .send()
        .await
        .expect("stats");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let jwt = s.login().await;
    let empty = stats(&s, &jwt).await;
    assert_eq!(empty, expected(&s, &jwt).await);
    assert_eq!(empty["total_users"]["count"], 0);

    let r = s
        .http
        .post(s.url("/api/v1/settings/seed"))
        .bearer_auth(&jwt)
        .json(&json!({"num_users": 2, "random_seed": 11, "profile": {
            "num_connections": 2,
            "workout_config": {"count": 4},
            "sleep_config": {"count": 3},
            "time_series_config": {"date_range_months": 1, "enabled_types": ["steps"]}
        }}))
        .send()
        .await
        .expect("seed");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    s.state.jobs_idle().await;
    // SDK pushes connect users: A with apple and samsung, B with apple.
    let users = get(&s, &jwt, "/api/v1/users?limit=100").await;
    let ids: Vec<String> = users["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| u["id"].as_str().expect("id").to_string())
        .collect();
    push(
        &s,
        &jwt,
        &ids[0],
        "apple",
        "HKQuantityTypeIdentifierHeartRate",
    )
    .await;
    push(&s, &jwt, &ids[0], "samsung", "HEART_RATE").await;
    push(
        &s,
        &jwt,
        &ids[1],
        "apple",
        "HKQuantityTypeIdentifierHeartRate",
    )
    .await;
    s.state.jobs_idle().await;
    let seeded = stats(&s, &jwt).await;
    assert_eq!(seeded, expected(&s, &jwt).await);
    assert_eq!(seeded["total_users"]["count"], 2);
    assert!(seeded["data_points"]["count"].as_i64().expect("n") > 0);
    assert!(seeded["event_records"]["workouts"].as_i64().expect("n") > 0);
    assert_eq!(seeded["active_conn"]["count"], 3);
    assert_eq!(seeded["connections_coverage"]["users_with_active"], 2);
    assert_eq!(seeded["connections_coverage"]["users_with_multi_active"], 1);
    assert_eq!(
        seeded["connections_coverage"]["top_providers"],
        json!([{"provider": "apple", "count": 2}, {"provider": "samsung", "count": 1}])
    );

    // A deleted workout counts once, however often it is deleted.
    let first = ids[0].clone();
    let list = get(&s, &jwt, &format!("/api/v1/users/{first}/events/workouts?start_date=2000-01-01T00:00:00Z&end_date=2100-01-01T00:00:00Z&limit=1")).await;
    let workout = list["data"][0]["id"].as_str().expect("workout").to_string();
    let path = format!("/api/v1/users/{first}/events/workouts/{workout}");
    let r = s
        .http
        .delete(s.url(&path))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = s
        .http
        .delete(s.url(&path))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("delete again");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let after = stats(&s, &jwt).await;
    assert_eq!(
        after["event_records"]["workouts"].as_i64(),
        seeded["event_records"]["workouts"].as_i64().map(|n| n - 1)
    );
    assert_eq!(after, expected(&s, &jwt).await);

    // A deleted user takes their data and connections off the counters.
    let r = s
        .http
        .delete(s.url(&format!("/api/v1/users/{first}")))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("delete user");
    assert_eq!(r.status(), StatusCode::OK);
    let gone = stats(&s, &jwt).await;
    assert_eq!(gone["total_users"]["count"], 1);
    assert_eq!(gone, expected(&s, &jwt).await);
}

#[tokio::test]
async fn dashboard_counters_follow_the_facts_embedded() {
    counters_follow_the_facts(Storage::Embedded).await;
}

#[tokio::test]
async fn dashboard_counters_follow_the_facts_dynamodb() {
    counters_follow_the_facts(Storage::Dynamo).await;
}

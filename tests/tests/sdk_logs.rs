//! `POST /sdk/users/{id}/logs` (api.md #73) over real HTTP on both table adapters: validated
//! as the reference validates it, stored as sync status events (24 hours) and listed by
//! `/users/{id}/sync/recent`.

use ow_e2e::{Server, Storage};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn new_user(s: &Server, jwt: &str) -> String {
    let u: Value = s
        .http
        .post(s.url("/api/v1/users"))
        .bearer_auth(jwt)
        .json(&json!({}))
        .send()
        .await
        .expect("user")
        .json()
        .await
        .expect("json");
    u["id"].as_str().expect("id").to_string()
}

async fn sdk_token(s: &Server, jwt: &str, user: &str) -> String {
    let t: Value = s
        .http
        .post(s.url(&format!("/api/v1/users/{user}/token")))
        .bearer_auth(jwt)
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    t["access_token"].as_str().expect("sdk").to_string()
}

async fn post(s: &Server, token: Option<&str>, user: &str, body: &Value) -> (StatusCode, Value) {
    let mut req = s
        .http
        .post(s.url(&format!("/api/v1/sdk/users/{user}/logs")))
        .json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("logs");
    let st = r.status();
    (st, r.json().await.unwrap_or(Value::Null))
}

fn good() -> Value {
    json!({"sdkVersion": "2.1.0", "provider": "Apple", "events": [
        {"eventType": "historical_data_sync_start", "timestamp": "2026-01-05T10:00:00Z",
         "dataTypeCounts": [{"type": "steps", "count": 120}, {"type": "heart_rate", "count": 30}],
         "timeRange": {"endDate": "2026-01-05T10:00:00Z"}},
        {"eventType": "historical_data_type_sync_end", "timestamp": "2026-01-05T10:00:05Z",
         "dataType": "steps", "success": true, "recordCount": 120, "durationMs": 4000},
        {"eventType": "device_state", "timestamp": "2026-01-05T10:00:06Z", "batteryLevel": 0.5,
         "batteryState": "charging", "isLowPowerMode": false}
    ]})
}

async fn logs_are_validated_stored_and_listed(storage: Storage) {
    let s = Server::start(storage).await;
    let jwt = s.login().await;
    let user = new_user(&s, &jwt).await;
    let other = new_user(&s, &jwt).await;
    let sdk = sdk_token(&s, &jwt, &user).await;

    let (st, _) = post(&s, None, &user, &good()).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = post(&s, Some(&sdk), &other, &good()).await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    let (st, body) = post(&s, Some(&sdk), &user, &good()).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status_code"], 202);
    assert_eq!(body["response"], "Log events stored successfully");
    assert_eq!(body["user_id"], user.as_str());

    for bad in [
        json!({"sdkVersion": "1", "events": []}),
        json!({"events": [{"eventType": "device_state", "timestamp": "2026-01-05T10:00:00Z"}]}),
        json!({"sdkVersion": "1", "events": [{"eventType": "reboot", "timestamp": "2026-01-05T10:00:00Z"}]}),
        json!({"sdkVersion": "1", "events": [{"eventType": "device_state"}]}),
        json!({"sdkVersion": "1", "events": [{"eventType": "device_state", "timestamp": "2026-01-05T10:00:00Z", "batteryLevel": 1.5}]}),
        json!({"sdkVersion": "1", "events": [{"eventType": "historical_data_type_sync_end", "timestamp": "2026-01-05T10:00:00Z", "dataType": "steps"}]}),
        json!({"sdkVersion": "1", "events": vec![json!({"eventType": "device_state", "timestamp": "2026-01-05T10:00:00Z"}); 101]}),
    ] {
        let (st, e) = post(&s, Some(&sdk), &user, &bad).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}");
        assert!(e["detail"].is_string(), "{e}");
    }

    let recent: Value = s
        .http
        .get(s.url(&format!("/api/v1/users/{user}/sync/recent")))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("recent")
        .json()
        .await
        .expect("json");
    let events = recent.as_array().expect("events");
    assert_eq!(events.len(), 3, "{recent}");
    assert!(
        events
            .iter()
            .all(|e| e["source"] == "sdk" && e["provider"] == "apple")
    );
    let end = events
        .iter()
        .find(|e| e["metadata"]["eventType"] == "historical_data_type_sync_end")
        .expect("end event");
    assert_eq!(
        (&end["status"], &end["items_processed"]),
        (&json!("success"), &json!(120))
    );
    let start = events
        .iter()
        .find(|e| e["metadata"]["eventType"] == "historical_data_sync_start")
        .expect("start event");
    assert_eq!(start["items_total"], 150);
    // Nothing for the other user.
    let other_recent: Value = s
        .http
        .get(s.url(&format!("/api/v1/users/{other}/sync/recent")))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("recent")
        .json()
        .await
        .expect("json");
    assert_eq!(other_recent, json!([]));
}

#[tokio::test]
async fn sdk_logs_embedded() {
    logs_are_validated_stored_and_listed(Storage::Embedded).await;
}

#[tokio::test]
async fn sdk_logs_dynamodb() {
    logs_are_validated_stored_and_listed(Storage::Dynamo).await;
}

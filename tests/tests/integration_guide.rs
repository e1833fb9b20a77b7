//! The integration guide's user and SDK-token steps, over real HTTP, on both table adapters.

use ow_e2e::{ADMIN_EMAIL, ADMIN_PASSWORD, Server, Storage};
use reqwest::StatusCode;
use serde_json::{Value, json};

const KEY_HEADER: &str = "X-Open-Wearables-API-Key";

async fn the_guide_flow_works(storage: Storage) {
    let s = Server::start(storage).await;
    let http = &s.http;

    let root: Value = http
        .get(s.url("/"))
        .send()
        .await
        .expect("root")
        .json()
        .await
        .expect("json");
    assert_eq!(root["message"], "Server is running!");

    // Developer login (form), then an API key from the settings tab.
    let login = http
        .post(s.url("/api/v1/auth/login"))
        .form(&[("username", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), StatusCode::OK);
    let jwt = login.json::<Value>().await.expect("json")["access_token"]
        .as_str()
        .expect("jwt")
        .to_string();
    let key = http
        .post(s.url("/api/v1/developer/api-keys"))
        .bearer_auth(&jwt)
        .json(&json!({"name": "backend"}))
        .send()
        .await
        .expect("key");
    assert_eq!(key.status(), StatusCode::CREATED);
    let key = key.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("key")
        .to_string();

    // Step 1: create users with the API key; an empty body is valid; e-mails are not unique.
    let create = |body: Value| {
        http.post(s.url("/api/v1/users"))
            .header(KEY_HEADER, &key)
            .json(&body)
            .send()
    };
    let empty = create(json!({})).await.expect("create");
    assert_eq!(empty.status(), StatusCode::CREATED);
    let a = create(json!({"email": "ada@example.com", "first_name": "Ada"}))
        .await
        .expect("create");
    let b = create(json!({"email": "ada@example.com"}))
        .await
        .expect("create");
    assert_eq!(
        (a.status(), b.status()),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    let user = a.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_ne!(
        user,
        b.json::<Value>().await.expect("json")["id"]
            .as_str()
            .expect("id")
    );
    let got = http
        .get(s.url(&format!("/api/v1/users/{user}")))
        .header(KEY_HEADER, &key)
        .send()
        .await
        .expect("get");
    assert_eq!(got.status(), StatusCode::OK);

    // SDK step 1: an application; step 2: exchange its credentials for a user token.
    let app: Value = http
        .post(s.url("/api/v1/applications"))
        .bearer_auth(&jwt)
        .json(&json!({"name": "ios"}))
        .send()
        .await
        .expect("app")
        .json()
        .await
        .expect("json");
    let exchange = http
        .post(s.url(&format!("/api/v1/users/{user}/token")))
        .json(&json!({"app_id": app["app_id"], "app_secret": app["app_secret"]}))
        .send()
        .await
        .expect("exchange");
    assert_eq!(exchange.status(), StatusCode::OK);
    let tokens: Value = exchange.json().await.expect("json");
    assert_eq!(tokens["token_type"], "bearer");
    let sdk = tokens["access_token"].as_str().expect("sdk").to_string();

    // SDK tokens are only valid for /sdk/ routes: 401 elsewhere.
    let refused = http
        .get(s.url("/api/v1/users"))
        .bearer_auth(&sdk)
        .send()
        .await
        .expect("list");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let listed: Value = http
        .get(s.url("/api/v1/users"))
        .header(KEY_HEADER, &key)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["total"], 3);

    // SDK step 3: the mobile app pushes health data with its token, and the backend reads it.
    let records: Vec<Value> = (0..120)
        .map(|i| json!({"type": "HKQuantityTypeIdentifierHeartRate", "unit": "count/min", "value": 60 + i % 30,
                        "startDate": format!("2025-03-01T10:{:02}:{:02}Z", i / 60, i % 60),
                        "endDate": format!("2025-03-01T10:{:02}:{:02}Z", i / 60, i % 60),
                        "zoneOffset": "+01:00", "source": {"name": "Watch", "deviceModel": "Watch"}}))
        .collect();
    let push = json!({"provider": "apple", "sdkVersion": "1", "syncTimestamp": "2025-03-02T00:00:00Z", "data": {"records": records}});
    let pushed = http
        .post(s.url(&format!("/api/v1/sdk/users/{user}/sync/apple/healthion")))
        .bearer_auth(&sdk)
        .json(&push)
        .send()
        .await
        .expect("push");
    assert_eq!(pushed.status(), StatusCode::ACCEPTED);
    assert_eq!(
        pushed.json::<Value>().await.expect("json")["records_saved"],
        120
    );
    let again = http
        .post(s.url(&format!("/api/v1/sdk/users/{user}/sync")))
        .bearer_auth(&sdk)
        .json(&push)
        .send()
        .await
        .expect("push");
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    let ts: Value = http
        .get(s.url(&format!("/api/v1/users/{user}/timeseries?start_time=2025-03-01&end_time=2025-03-01&types=heart_rate&limit=100")))
        .header(KEY_HEADER, &key)
        .send()
        .await
        .expect("timeseries")
        .json()
        .await
        .expect("json");
    assert_eq!(
        ts["pagination"]["total_count"], 120,
        "a re-sent batch stores nothing twice"
    );
    assert_eq!(ts["data"].as_array().map(Vec::len), Some(100));

    // Erasing a user from the backend with the API key.
    let del = http
        .delete(s.url(&format!("/api/v1/users/{user}")))
        .header(KEY_HEADER, &key)
        .send()
        .await
        .expect("delete");
    assert_eq!(del.status(), StatusCode::OK);
    let gone = http
        .get(s.url(&format!("/api/v1/users/{user}")))
        .header(KEY_HEADER, &key)
        .send()
        .await
        .expect("get");
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_guide_flow_works_on_embedded_storage() {
    the_guide_flow_works(Storage::Embedded).await;
}

#[tokio::test]
async fn the_guide_flow_works_on_dynamodb() {
    the_guide_flow_works(Storage::Dynamo).await;
}

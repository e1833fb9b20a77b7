//! API keys as the reference's developer portal uses them, over real HTTP on both table
//! adapters: the list shows each key's full value in `id`, that value authenticates, every key
//! route takes it, the table holds no plaintext key, and keys stored before keys were sealed
//! still list (by public id) and work.

use ow_e2e::{Server, Storage};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::repo::credentials::ApiKey;
use shared::store::{Index, Query, query_all};

const KEY_HEADER: &str = "X-Open-Wearables-API-Key";

async fn list(s: &Server, jwt: &str) -> Vec<Value> {
    let r = s
        .http
        .get(s.url("/api/v1/developer/api-keys"))
        .bearer_auth(jwt)
        .send()
        .await
        .expect("list");
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Vec<Value>>().await.expect("json")
}

async fn users_status(s: &Server, key: &str) -> StatusCode {
    s.http
        .get(s.url("/api/v1/users"))
        .header(KEY_HEADER, key)
        .send()
        .await
        .expect("users")
        .status()
}

async fn listed_keys_work(storage: Storage) {
    let s = Server::start(storage).await;
    let jwt = s.login().await;
    let created = s
        .http
        .post(s.url("/api/v1/developer/api-keys"))
        .bearer_auth(&jwt)
        .json(&json!({"name": "backend"}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.expect("json");
    let full = created["id"].as_str().expect("key").to_string();
    assert!(full.starts_with("sk-") && full.len() == 35, "{full}");

    let listed = list(&s, &jwt).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0]["id"],
        full.as_str(),
        "the list shows the key itself"
    );
    assert_eq!(listed[0]["name"], "backend");
    assert_eq!(listed[0]["created_by"], created["created_by"]);
    assert_eq!(listed[0]["created_at"], created["created_at"]);
    let listed_key = listed[0]["id"].as_str().expect("id");
    assert_eq!(users_status(&s, listed_key).await, StatusCode::OK);

    // The table keeps the digest and a sealed copy, never the key.
    let items = query_all(
        s.state.db.table.as_ref(),
        Query::partition(Index::Primary, "APIKEY"),
    )
    .await
    .expect("query");
    assert_eq!(items.len(), 1);
    assert!(
        !String::from_utf8_lossy(&items[0].data).contains(&full[3..]),
        "plaintext key in the table"
    );
    let stored: ApiKey = serde_json::from_slice(&items[0].data).expect("stored key");
    assert!(stored.sealed_key.is_some());

    // Rename and delete take the listed value; the answers show it too.
    let renamed = s
        .http
        .patch(s.url(&format!("/api/v1/developer/api-keys/{full}")))
        .bearer_auth(&jwt)
        .json(&json!({"name": "renamed"}))
        .send()
        .await
        .expect("rename");
    assert_eq!(renamed.status(), StatusCode::OK);
    let renamed: Value = renamed.json().await.expect("json");
    assert_eq!(
        (renamed["id"].as_str(), renamed["name"].as_str()),
        (Some(full.as_str()), Some("renamed"))
    );
    let rotated = s
        .http
        .post(s.url(&format!("/api/v1/developer/api-keys/{full}/rotate")))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("rotate");
    assert_eq!(rotated.status(), StatusCode::CREATED);
    let new_key = rotated.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(users_status(&s, &full).await, StatusCode::UNAUTHORIZED);
    let listed = list(&s, &jwt).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], new_key.as_str());
    let deleted = s
        .http
        .delete(s.url(&format!("/api/v1/developer/api-keys/{new_key}")))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), StatusCode::OK);
    assert_eq!(
        deleted.json::<Value>().await.expect("json")["id"],
        new_key.as_str()
    );
    assert_eq!(users_status(&s, &new_key).await, StatusCode::UNAUTHORIZED);
    assert!(list(&s, &jwt).await.is_empty());
}

/// Keys from before (no sealed copy), or whose sealed copy does not open (the token key
/// changed, or a copy moved between items): listed by public id, never a 500, and the key
/// itself keeps working.
async fn unsealed_keys_list_by_public_id(storage: Storage) {
    let s = Server::start(storage).await;
    let jwt = s.login().await;
    let mut keys = Vec::new();
    for name in ["old", "foreign"] {
        let r = s
            .http
            .post(s.url("/api/v1/developer/api-keys"))
            .bearer_auth(&jwt)
            .json(&json!({ "name": name }))
            .send()
            .await
            .expect("create");
        keys.push(
            r.json::<Value>().await.expect("json")["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    let (old, foreign) = (&keys[0], &keys[1]);
    let mut stored_old = s.state.db.api_key(old).await.expect("get").expect("stored");
    let stored_foreign = s
        .state
        .db
        .api_key(foreign)
        .await
        .expect("get")
        .expect("stored");
    // "foreign" gets the sealed copy of "old": it opens, but to another key's value.
    let mut moved = stored_foreign.clone();
    moved.sealed_key = stored_old.sealed_key.take();
    s.state.db.save_api_key(&stored_old).await.expect("save");
    s.state.db.save_api_key(&moved).await.expect("save");

    let listed = list(&s, &jwt).await;
    let mut ids: Vec<&str> = listed.iter().filter_map(|k| k["id"].as_str()).collect();
    ids.sort();
    let mut want = vec![&old[..11], &foreign[..11]];
    want.sort();
    assert_eq!(ids, want, "public ids, not a foreign key's value");
    assert_eq!(users_status(&s, old).await, StatusCode::OK);
    assert_eq!(users_status(&s, &old[..11]).await, StatusCode::UNAUTHORIZED);
    let rotated = s
        .http
        .post(s.url(&format!("/api/v1/developer/api-keys/{}/rotate", &old[..11])))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("rotate");
    assert_eq!(rotated.status(), StatusCode::CREATED);
    let new_key = rotated.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let listed = list(&s, &jwt).await;
    assert!(
        listed.iter().any(|k| k["id"] == new_key.as_str()),
        "a rotated legacy key lists in full"
    );
}

#[tokio::test]
async fn listed_keys_work_embedded() {
    listed_keys_work(Storage::Embedded).await;
}

#[tokio::test]
async fn listed_keys_work_on_dynamodb() {
    listed_keys_work(Storage::Dynamo).await;
}

#[tokio::test]
async fn unsealed_keys_list_by_public_id_embedded() {
    unsealed_keys_list_by_public_id(Storage::Embedded).await;
}

#[tokio::test]
async fn unsealed_keys_list_by_public_id_on_dynamodb() {
    unsealed_keys_list_by_public_id(Storage::Dynamo).await;
}

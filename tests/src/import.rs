//! Read-backs shared by the Apple Health import tests (direct upload and the S3 flow).

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::Server;

/// `GET path` with an API key; asserts 200 and answers the JSON.
pub async fn get(s: &Server, key: &str, path: &str) -> Value {
    let r = s
        .http
        .get(s.url(path))
        .header("X-Open-Wearables-API-Key", key)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.expect("json")
}

/// The user's data summary once it stops changing and shows `nights` sleep sessions (derived
/// jobs run after an import).
pub async fn settled(s: &Server, key: &str, user: &str, nights: u64) -> Value {
    let mut last = Value::Null;
    for _ in 0..600 {
        s.state.jobs_idle().await;
        let now = get(s, key, &format!("/api/v1/users/{user}/summaries/data")).await;
        if now == last && now["total_sleep_events"] == json!(nights) {
            return now;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    last
}

/// Samples per series type of a data summary (either of its two shapes).
pub fn series_counts(summary: &Value) -> BTreeMap<String, u64> {
    match &summary["series_type_counts"] {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
            .collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(|e| {
                Some((
                    e["series_type"]
                        .as_str()
                        .or(e["type"].as_str())?
                        .to_string(),
                    e["count"].as_u64()?,
                ))
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

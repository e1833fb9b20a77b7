//! Apple Health export import (`POST /users/{id}/import/apple/xml/direct`, api.md #75, issue
//! #13) over real HTTP on both table adapters: a generated real-shaped `export.xml` and
//! `export.zip` are imported and what the API reads back equals what the generator wrote; a
//! re-import changes nothing; a truncated file stores what came before the cut and says
//! where it stopped; a zip bomb is refused with a clear report; bad requests are 4xx.

use std::collections::BTreeMap;
use std::time::Duration;

use ow_e2e::import::{get, series_counts, settled};
use ow_e2e::{Server, Storage};
use ow_fakes::apple_export::{
    ExportSpec, Generated, write_export, write_export_zip, write_zip_bomb,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const BOUNDARY: &str = "ow-test-boundary-7d1f";

fn multipart(field: &str, filename: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nfrom a test\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn upload(s: &Server, key: &str, user: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let r = s
        .http
        .post(s.url(&format!("/api/v1/users/{user}/import/apple/xml/direct")))
        .header("X-Open-Wearables-API-Key", key)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .expect("upload");
    let st = r.status();
    (st, r.json().await.unwrap_or(Value::Null))
}

/// Waits for the import run to end; its last event's metadata (the summary) and the run.
async fn finished(s: &Server, key: &str, user: &str, task: &str) -> (Value, Value) {
    for _ in 0..600 {
        let runs = get(s, key, &format!("/api/v1/users/{user}/sync/runs?limit=50")).await;
        let run = runs
            .as_array()
            .and_then(|a| a.iter().find(|r| r["run_id"] == task))
            .cloned();
        if let Some(run) = run
            && run["status"] != "in_progress"
        {
            let events = get(
                s,
                key,
                &format!("/api/v1/users/{user}/sync/recent?limit=100"),
            )
            .await;
            let last = events
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .find(|e| e["run_id"] == task && e["status"] != "in_progress")
                })
                .cloned()
                .expect("the run's final event");
            assert_eq!(run["source"], "apple_xml");
            assert_eq!(run["provider"], "apple");
            return (last["metadata"].clone(), run);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the import {task} did not finish");
}

fn expected_counts(g: &Generated) -> BTreeMap<String, u64> {
    g.series.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// What the zip of the same data stores: the routes' track points too.
fn expected_zip_counts(g: &Generated) -> BTreeMap<String, u64> {
    let mut c = expected_counts(g);
    let points = g.routes.len() as u64 * g.route_points;
    for code in ["latitude", "longitude", "elevation"] {
        *c.entry(code.to_string()).or_default() += points;
    }
    c
}

/// The summary of an `export.xml` upload, whose workouts name route files it cannot hold.
fn check_xml_summary(meta: &Value, g: &Generated) {
    check_summary(meta, g, g.routes.len() as u64);
    assert_eq!(
        meta["dropped_reasons"]["workout route file not in the upload (export.xml alone)"],
        json!(g.routes.len()),
        "{meta}"
    );
    assert_eq!(meta["routes"], json!(0), "{meta}");
}

fn check_summary(meta: &Value, g: &Generated, dropped: u64) {
    assert_eq!(meta["status"], "completed", "{meta}");
    assert_eq!(meta["records"], json!(g.records), "{meta}");
    assert_eq!(meta["workouts"], json!(g.workouts), "{meta}");
    assert_eq!(meta["workout_events"], json!(g.workout_events), "{meta}");
    assert_eq!(meta["sleep_segments"], json!(g.sleep_segments), "{meta}");
    assert_eq!(
        meta["activity_summaries"],
        json!(g.activity_summaries),
        "{meta}"
    );
    assert_eq!(meta["skipped"], json!(g.skipped), "{meta}");
    assert_eq!(meta["dropped"], json!(dropped), "{meta}");
    assert_eq!(meta["stopped_at"], Value::Null);
}

async fn an_export_is_imported_once(storage: Storage) {
    let s = Server::start(storage).await;
    let jwt = s.login().await;
    let key = s.api_key(&jwt).await;
    let user = s.new_user(&key).await;
    let mut xml = Vec::new();
    let g = write_export(&mut xml, &ExportSpec::default()).expect("generate");
    assert!(
        g.records > 1000 && g.nights == 3 && g.workouts == 2,
        "{g:?}"
    );

    let (st, body) = upload(&s, &key, &user, multipart("file", "export.xml", &xml)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "processing");
    assert_eq!(body["user_id"], user.as_str());
    let task = body["task_id"].as_str().expect("task id").to_string();
    let (meta, run) = finished(&s, &key, &user, &task).await;
    check_xml_summary(&meta, &g);
    assert_eq!(meta["format"], "xml");
    assert_eq!(meta["new_samples"], json!(g.samples()), "{meta}");
    assert_eq!(meta["workouts_saved"], json!(g.workouts));
    assert_eq!(run["status"], "success");
    assert_eq!(run["stage"], "completed");
    // The import is a sync run for outgoing webhooks too: sync.started and sync.completed,
    // the latter with the import's summary as metadata.
    s.state.jobs_idle().await;
    let r = s
        .http
        .get(s.url("/api/v1/webhooks/messages?limit=100"))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("messages");
    assert_eq!(r.status(), StatusCode::OK);
    let listed: Value = r.json().await.expect("json");
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["eventId"].as_str())
        .collect();
    for kind in ["started", "completed"] {
        let want = format!("sync.{kind}.{task}");
        assert!(ids.contains(&want.as_str()), "{want} not in {ids:?}");
    }

    let data = settled(&s, &key, &user, g.nights).await;
    assert_eq!(series_counts(&data), expected_counts(&g), "{data}");
    assert_eq!(data["total_data_points"], json!(g.samples()));
    assert_eq!(data["total_workouts"], json!(g.workouts));
    assert_eq!(data["total_sleep_events"], json!(g.nights));
    // The workouts read back with the statistics of the file.
    let workouts = get(&s, &key, &format!("/api/v1/users/{user}/events/workouts?start_date=2024-01-01T00:00:00Z&end_date=2025-01-01T00:00:00Z")).await;
    let items = workouts["data"]
        .as_array()
        .or(workouts["items"].as_array())
        .expect("workout list");
    assert_eq!(items.len() as u64, g.workouts, "{workouts}");
    assert!(items.iter().any(|w| w["type"] == "running"), "{workouts}");
    // The Apple connection exists after the import.
    let conns = get(&s, &key, &format!("/api/v1/users/{user}/connections")).await;
    assert!(conns.to_string().contains("apple"), "{conns}");

    // The same file again adds nothing.
    let (st, body) = upload(&s, &key, &user, multipart("file", "export.xml", &xml)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let task2 = body["task_id"].as_str().expect("task id").to_string();
    assert_ne!(task, task2);
    let (meta, _) = finished(&s, &key, &user, &task2).await;
    check_xml_summary(&meta, &g);
    assert_eq!(meta["new_samples"], json!(0), "{meta}");
    assert_eq!(meta["workouts_saved"], json!(0), "{meta}");
    let again = settled(&s, &key, &user, g.nights).await;
    assert_eq!(again, data, "a re-import changes nothing");

    // The zip of the same data, for another user: the same counts.
    let dir = tempfile::tempdir().expect("dir");
    let zip_path = dir.path().join("export.zip");
    let gz = write_export_zip(&zip_path, &ExportSpec::default()).expect("zip");
    assert_eq!(gz, g);
    let other = s.new_user(&key).await;
    let zip = std::fs::read(&zip_path).expect("read zip");
    assert!(zip.len() < xml.len() / 5, "the zip is compressed");
    let (st, body) = upload(&s, &key, &other, multipart("file", "export.zip", &zip)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let (meta, _) = finished(&s, &key, &other, body["task_id"].as_str().expect("task")).await;
    check_summary(&meta, &g, 0);
    assert_eq!(meta["format"], "zip");
    assert_eq!(meta["routes"], json!(g.routes.len()), "{meta}");
    assert_eq!(
        meta["route_points"],
        json!(g.routes.len() as u64 * g.route_points)
    );
    let zdata = settled(&s, &key, &other, g.nights).await;
    assert_eq!(series_counts(&zdata), expected_zip_counts(&g), "{zdata}");
    assert_eq!(zdata["total_workouts"], json!(g.workouts));
    // The route reads back as the file wrote it: the first point of the first workout, its
    // position at the column scale (a thousandth of a degree), in the workout's zone.
    let (_, first) = &g.routes[0];
    let t = first.format("%Y-%m-%dT%H:%M:%SZ");
    let t_end = (*first + chrono::Duration::seconds(30)).format("%Y-%m-%dT%H:%M:%SZ");
    let lat = get(&s, &key, &format!("/api/v1/users/{other}/timeseries?start_time={t}&end_time={t_end}&types=latitude,longitude,elevation&limit=3")).await;
    let rows: BTreeMap<String, Value> = lat["data"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["timestamp"] == t.to_string())
        .map(|r| {
            (
                r["type"].as_str().unwrap_or_default().to_string(),
                r.clone(),
            )
        })
        .collect();
    assert_eq!(rows["latitude"]["value"], json!(52.5), "{lat}");
    assert_eq!(rows["longitude"]["value"], json!(13.4), "{lat}");
    assert_eq!(rows["elevation"]["value"], json!(34.5), "{lat}");
    assert_eq!(rows["latitude"]["unit"], "degrees");
    assert!(rows["latitude"]["zone_offset"].is_string(), "{lat}");
    // The zip again adds nothing, routes included.
    let (st, body) = upload(&s, &key, &other, multipart("file", "export.zip", &zip)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let (meta, _) = finished(&s, &key, &other, body["task_id"].as_str().expect("task")).await;
    assert_eq!(meta["new_samples"], json!(0), "{meta}");
    assert_eq!(
        meta["route_points"],
        json!(g.routes.len() as u64 * g.route_points)
    );
}

async fn faulty_files_are_reported(storage: Storage) {
    let s = Server::start(storage).await;
    let jwt = s.login().await;
    let key = s.api_key(&jwt).await;

    // Truncated: what came before the cut is stored, the report says where it stopped.
    let user = s.new_user(&key).await;
    let mut xml = Vec::new();
    let g = write_export(&mut xml, &ExportSpec::default()).expect("generate");
    let cut = xml.len() * 6 / 10;
    let (st, body) = upload(
        &s,
        &key,
        &user,
        multipart("file", "export.xml", &xml[..cut]),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let (meta, run) = finished(&s, &key, &user, body["task_id"].as_str().expect("task")).await;
    assert_eq!(meta["status"], "stopped", "{meta}");
    let at = meta["stopped_at"].as_u64().expect("offset");
    assert!(at > 0 && at <= cut as u64, "{meta}");
    assert!(
        meta["error"].as_str().expect("error").contains("truncated"),
        "{meta}"
    );
    assert_eq!(run["status"], "failed");
    let stored = meta["new_samples"].as_u64().expect("count");
    assert!(stored > 0 && stored < g.samples(), "{meta}");
    let records = meta["records"].as_u64().expect("records");
    assert!(records > 0 && records < g.records, "{meta}");

    // A zip bomb: refused before anything is inflated into the parser.
    let user = s.new_user(&key).await;
    let dir = tempfile::tempdir().expect("dir");
    let bomb = dir.path().join("bomb.zip");
    write_zip_bomb(&bomb, 50).expect("bomb");
    let bytes = std::fs::read(&bomb).expect("read");
    assert!(bytes.len() < 1024 * 1024, "{} bytes", bytes.len());
    let (st, body) = upload(&s, &key, &user, multipart("file", "export.zip", &bytes)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let (meta, _) = finished(&s, &key, &user, body["task_id"].as_str().expect("task")).await;
    assert_eq!(meta["status"], "stopped", "{meta}");
    assert!(
        meta["error"].as_str().expect("error").contains("zip bomb"),
        "{meta}"
    );
    assert_eq!(meta["records"], json!(0));

    // Not an export at all.
    let (st, body) = upload(
        &s,
        &key,
        &user,
        multipart("file", "export.xml", b"{\"json\": true}"),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let (meta, _) = finished(&s, &key, &user, body["task_id"].as_str().expect("task")).await;
    assert_eq!(meta["status"], "stopped", "{meta}");
    assert!(
        meta["error"]
            .as_str()
            .expect("error")
            .contains("not an Apple Health export")
            || meta["error"].as_str().expect("error").contains("malformed"),
        "{meta}"
    );
    // A broken zip.
    let (st, body) = upload(
        &s,
        &key,
        &user,
        multipart("file", "export.zip", b"PK\x03\x04 not really"),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let (meta, _) = finished(&s, &key, &user, body["task_id"].as_str().expect("task")).await;
    assert!(
        meta["error"].as_str().expect("error").contains("zip"),
        "{meta}"
    );
}

async fn bad_requests_are_4xx(storage: Storage) {
    let s = Server::start_with(storage, &[("APPLE_IMPORT_MAX_BYTES", "4096")]).await;
    let jwt = s.login().await;
    let key = s.api_key(&jwt).await;
    let user = s.new_user(&key).await;
    let url = s.url(&format!("/api/v1/users/{user}/import/apple/xml/direct"));
    let small = multipart("file", "export.xml", b"<HealthData/>");

    let r = s
        .http
        .post(&url)
        .body(small.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = s
        .http
        .post(&url)
        .header("X-Open-Wearables-API-Key", &key)
        .header("content-type", "application/xml")
        .body("<HealthData/>")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.expect("json");
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("multipart")
    );
    let (st, body) = upload(
        &s,
        &key,
        &user,
        multipart("other", "x.xml", b"<HealthData/>"),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["detail"], "file: Field required");
    let (st, body) = upload(&s, &key, &user, multipart("file", "x.xml", b"")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    let (st, body) = upload(
        &s,
        &key,
        &user,
        multipart("file", "x.xml", &vec![b' '; 10_000]),
    )
    .await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        body["detail"].as_str().expect("detail").contains("4096"),
        "{body}"
    );
    let (st, body) = upload(&s, &key, &uuid::Uuid::new_v4().to_string(), small.clone()).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{body}");
    let (st, body) = upload(&s, &key, "not-a-uuid", small.clone()).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    // A body cut in the middle of the multipart framing.
    let mut cut = small.clone();
    cut.truncate(cut.len() - 10);
    let (st, body) = upload(&s, &key, &user, cut).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    // An empty document imports nothing and completes.
    let (st, body) = upload(&s, &key, &user, small).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let (meta, _) = finished(&s, &key, &user, body["task_id"].as_str().expect("task")).await;
    assert_eq!(meta["status"], "completed", "{meta}");
    assert_eq!(meta["records"], json!(0));
}

#[tokio::test]
async fn apple_import_embedded() {
    an_export_is_imported_once(Storage::Embedded).await;
}

#[tokio::test]
async fn apple_import_dynamodb() {
    an_export_is_imported_once(Storage::Dynamo).await;
}

#[tokio::test]
async fn apple_import_faults_embedded() {
    faulty_files_are_reported(Storage::Embedded).await;
}

#[tokio::test]
async fn apple_import_faults_dynamodb() {
    faulty_files_are_reported(Storage::Dynamo).await;
}

#[tokio::test]
async fn apple_import_bad_requests_embedded() {
    bad_requests_are_4xx(Storage::Embedded).await;
}

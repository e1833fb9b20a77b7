//! The S3 flow of the Apple Health import (api.md #74, issue #13) against moto's S3 (the
//! emulator `infra/test.sh` starts, `OW_TEST_DYNAMODB_URL`), on both table adapters: the
//! presigned POST form of #74 uploads a generated `export.xml` with a plain multipart POST of
//! exactly its url and fields; the recorded-shape S3 event of that object, handed to the
//! import function's handler, imports it in pieces (ranged reads, a checkpoint after every
//! batch, the first invocation stopped after one checkpoint and its continuation resumed from
//! it); what the API reads back equals what the generator wrote and what a straight import
//! of the same file counts; a re-import and a retry from an older checkpoint (a crash after
//! storing past it) change nothing; bad requests are 4xx with a `detail`.

use std::collections::BTreeMap;
use std::time::Duration;

use ow_e2e::import::{get, series_counts, settled};
use ow_e2e::{Server, Storage, dynamodb_url};
use ow_fakes::apple_export::{ExportSpec, Generated, write_export};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::services::s3_import::{Budget, run_id_of};

const BOUNDARY: &str = "ow-s3-test-boundary";

async fn presign(s: &Server, key: &str, user: &str, body: Value) -> (StatusCode, Value) {
    let r = s
        .http
        .post(s.url(&format!("/api/v1/users/{user}/import/apple/xml/s3")))
        .header("X-Open-Wearables-API-Key", key)
        .json(&body)
        .send()
        .await
        .expect("presign");
    let st = r.status();
    (st, r.json().await.unwrap_or(Value::Null))
}

/// The form of #74 with `file` last, as a browser sends it.
async fn post_form(form: &Value, fields: &[(String, String)], bytes: Vec<u8>) -> StatusCode {
    let mut multipart = reqwest::multipart::Form::new();
    for (k, v) in fields {
        multipart = multipart.text(k.clone(), v.clone());
    }
    multipart = multipart.part(
        "file",
        reqwest::multipart::Part::bytes(bytes)
            .file_name("export.xml")
            .mime_str("application/xml")
            .expect("mime"),
    );
    reqwest::Client::new()
        .post(form["upload_url"].as_str().expect("url"))
        .multipart(multipart)
        .send()
        .await
        .expect("upload")
        .status()
}

fn fields_of(form: &Value) -> Vec<(String, String)> {
    form["form_fields"]
        .as_object()
        .expect("fields")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("string").to_string()))
        .collect()
}

/// The recorded S3 event (infra/events/s3/object-created.json) naming this object.
fn s3_event(bucket: &str, key: &str, etag: &str) -> Value {
    let raw = include_str!("../../infra/events/s3/object-created.json");
    let mut v: Value = serde_json::from_str(raw).expect("event");
    let rec = &mut v["Records"][0]["s3"];
    rec["bucket"]["name"] = json!(bucket);
    rec["bucket"]["arn"] = json!(format!("arn:aws:s3:::{bucket}"));
    rec["object"]["key"] = json!(key);
    rec["object"]["eTag"] = json!(etag);
    v
}

/// The run's final event metadata (its summary), once the run has ended.
async fn summary_of(s: &Server, key: &str, user: &str, run: &str) -> Value {
    for _ in 0..600 {
        let runs = get(s, key, &format!("/api/v1/users/{user}/sync/runs?limit=50")).await;
        let done = runs
            .as_array()
            .and_then(|a| a.iter().find(|r| r["run_id"] == run).cloned())
            .filter(|r| r["status"] != "in_progress");
        if let Some(r) = done {
            assert_eq!(r["source"], "apple_xml");
            let events = get(
                s,
                key,
                &format!("/api/v1/users/{user}/sync/recent?limit=200"),
            )
            .await;
            return events
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .find(|e| e["run_id"] == run && e["status"] != "in_progress")
                })
                .map(|e| e["metadata"].clone())
                .expect("the run's final event");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the import {run} did not finish");
}

/// The run's events, oldest first.
async fn run_events(s: &Server, key: &str, user: &str, run: &str) -> Vec<Value> {
    let events = get(
        s,
        key,
        &format!("/api/v1/users/{user}/sync/recent?limit=200"),
    )
    .await;
    let mut out: Vec<Value> = events
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["run_id"] == run)
        .cloned()
        .collect();
    out.reverse();
    out
}

/// The counts a summary reports (everything but timings and storage-dependent figures).
fn counts(meta: &Value) -> Value {
    let mut m = meta.clone();
    for k in [
        "elapsed_ms",
        "new_samples",
        "workouts_saved",
        "file_bytes",
        "format",
    ] {
        m.as_object_mut().expect("summary").remove(k);
    }
    m
}

fn check_generated(meta: &Value, g: &Generated) {
    assert_eq!(meta["status"], "completed", "{meta}");
    assert_eq!(meta["records"], json!(g.records), "{meta}");
    assert_eq!(meta["workouts"], json!(g.workouts), "{meta}");
    assert_eq!(meta["sleep_segments"], json!(g.sleep_segments), "{meta}");
    assert_eq!(meta["skipped"], json!(g.skipped), "{meta}");
    // An `export.xml` alone cannot hold the route files its workouts name.
    assert_eq!(meta["dropped"], json!(g.routes.len()), "{meta}");
    assert_eq!(
        meta["dropped_reasons"]["workout route file not in the upload (export.xml alone)"],
        json!(g.routes.len()),
        "{meta}"
    );
}

/// A bucket of its own in moto (path-style, moto does not check the signature of a
/// CreateBucket).
async fn create_bucket(endpoint: &str) -> String {
    let bucket = format!(
        "ow-imports-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let r = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("create bucket");
    assert!(r.status().is_success(), "create bucket: {}", r.status());
    bucket
}

async fn the_s3_flow_imports_resumes_and_dedups(storage: Storage) {
    let endpoint = dynamodb_url();
    let bucket = create_bucket(&endpoint).await;
    let s = Server::start_with(
        storage,
        &[
            ("AWS_BUCKET_NAME", bucket.as_str()),
            ("AWS_ENDPOINT_URL_S3", endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_SESSION_TOKEN", "session-token"),
            ("AWS_REGION", "us-east-1"),
            // Small batches and a checkpoint after each, small ranged reads: a few-hundred-KB
            // export is read in many pieces and resumable at many points.
            ("APPLE_IMPORT_BATCH_ITEMS", "300"),
            ("APPLE_IMPORT_CHECKPOINT_BYTES", "1"),
            ("APPLE_IMPORT_RANGE_BYTES", "65536"),
        ],
    )
    .await;
    let jwt = s.login().await;
    let key = s.api_key(&jwt).await;
    let user = s.new_user(&key).await;
    let mut xml = Vec::new();
    let g = write_export(&mut xml, &ExportSpec::default()).expect("generate");
    assert!(xml.len() > 3 * 65536, "several ranged reads: {}", xml.len());

    // #74: the form for exactly this key.
    let (st, form) = presign(
        &s,
        &key,
        &user,
        json!({"filename": "my export (1).xml", "max_file_size": 10_485_760}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{form}");
    let object_key = format!("{user}/raw/myexport1.xml");
    assert_eq!(form["file_key"], object_key.as_str());
    assert_eq!(form["bucket"], bucket.as_str());
    assert_eq!(form["expires_in"], json!(300));
    assert_eq!(form["max_file_size"], json!(10_485_760));
    assert_eq!(form["upload_url"], format!("{endpoint}/{bucket}").as_str());
    let fields = fields_of(&form);
    let field = |n: &str| {
        fields
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(field("key"), object_key);
    assert_eq!(field("Content-Type"), "application/xml");
    assert_eq!(field("x-amz-algorithm"), "AWS4-HMAC-SHA256");
    assert_eq!(field("x-amz-security-token"), "session-token");
    assert!(field("x-amz-credential").starts_with("test/"), "{form}");
    assert_eq!(field("x-amz-signature").len(), 64);

    // The upload, with exactly the returned url and fields.
    assert_eq!(
        post_form(&form, &fields, xml.clone()).await,
        StatusCode::NO_CONTENT
    );
    let objects = s.state.objects.clone().expect("an S3 client");
    let info = objects.head(&bucket, &object_key).await.expect("uploaded");
    assert_eq!(info.size, xml.len() as u64);

    // A straight import of the same file (the direct upload) for another user: the counts
    // the S3 flow must reach.
    let straight_user = s.new_user(&key).await;
    let direct = straight_import(&s, &key, &straight_user, &xml).await;
    check_generated(&direct, &g);

    // The S3 event, to the import function's handler, with a budget of one checkpoint: the
    // first invocation stops there and queues its continuation, which the (in-process) queue
    // runs; it resumes from the checkpoint.
    let run = run_id_of(&bucket, &object_key, &info.etag);
    let event = s3_event(&bucket, &object_key, &info.etag);
    let stop_after_one = Budget {
        deadline: None,
        max_checkpoints: Some(1),
    };
    shared::bootstrap::handle_import_event(&s.state, event.clone(), stop_after_one)
        .await
        .expect("the event is handled");
    let meta = summary_of(&s, &key, &user, &run).await;
    check_generated(&meta, &g);
    assert_eq!(counts(&meta), counts(&direct), "resumed vs straight");
    assert_eq!(meta["new_samples"], json!(g.samples()), "{meta}");
    assert_eq!(meta["workouts_saved"], json!(g.workouts), "{meta}");
    let events = run_events(&s, &key, &user, &run).await;
    let paused: Vec<&Value> = events
        .iter()
        .filter(|e| e["metadata"]["phase"] == "paused")
        .collect();
    assert_eq!(paused.len(), 1, "{events:?}");
    let paused_at = paused[0]["metadata"]["offset"].as_u64().expect("offset");
    assert!(paused_at > 0 && paused_at < xml.len() as u64, "{paused_at}");
    assert!(
        s.state
            .db
            .import_checkpoint(uuid::Uuid::parse_str(&user).expect("uuid"), &run)
            .await
            .expect("read")
            .is_none(),
        "a finished import leaves no checkpoint"
    );
    let data = settled(&s, &key, &user, g.nights).await;
    let straight_data = settled(&s, &key, &straight_user, g.nights).await;
    assert_eq!(
        series_counts(&data),
        series_counts(&straight_data),
        "{data}"
    );
    let expected: BTreeMap<String, u64> =
        g.series.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    assert_eq!(series_counts(&data), expected, "{data}");
    assert_eq!(data["total_data_points"], json!(g.samples()));
    assert_eq!(data["total_workouts"], json!(g.workouts));

    // A retry after a crash: the invocation had stored past its last checkpoint (here: the
    // whole file) when it died. Resuming from an early checkpoint stores nothing twice.
    let user_id = uuid::Uuid::parse_str(&user).expect("uuid");
    shared::services::s3_import::import_object(
        &s.state,
        &bucket,
        &object_key,
        Some(&info.etag),
        Budget {
            deadline: None,
            max_checkpoints: Some(2),
        },
    )
    .await
    .expect("a paused re-import");
    let ckpt = s
        .state
        .db
        .import_checkpoint(user_id, &run)
        .await
        .expect("read")
        .expect("a checkpoint after two batches");
    assert!(ckpt.offset > 0 && ckpt.offset < xml.len() as u64);
    shared::services::s3_import::import_object(
        &s.state,
        &bucket,
        &object_key,
        Some(&info.etag),
        Budget::default(),
    )
    .await
    .expect("the retry");
    let meta = summary_of(&s, &key, &user, &run).await;
    check_generated(&meta, &g);
    assert_eq!(counts(&meta), counts(&direct), "retried vs straight");
    assert_eq!(meta["new_samples"], json!(0), "{meta}");
    assert_eq!(meta["workouts_saved"], json!(0), "{meta}");
    let again = settled(&s, &key, &user, g.nights).await;
    assert_eq!(again, data, "a retry from a checkpoint changes nothing");

    // The same event again (a re-import of the object): nothing new.
    shared::bootstrap::handle_import_event(&s.state, event, Budget::default())
        .await
        .expect("the event again");
    let meta = summary_of(&s, &key, &user, &run).await;
    assert_eq!(meta["new_samples"], json!(0), "{meta}");
    let again = settled(&s, &key, &user, g.nights).await;
    assert_eq!(again, data, "a re-import changes nothing");

    // Keys that name no user are skipped, not failed (no retry loop).
    for bad in [
        "export.xml".to_string(),
        "not-a-user/raw/export.xml".to_string(),
        format!("{}/raw/export.xml", uuid::Uuid::new_v4()),
    ] {
        shared::bootstrap::handle_import_event(
            &s.state,
            s3_event(&bucket, &bad, &info.etag),
            Budget::default(),
        )
        .await
        .expect("skipped");
    }
    // An object that is gone (deleted after the event) is skipped too.
    shared::bootstrap::handle_import_event(
        &s.state,
        s3_event(&bucket, &format!("{user}/raw/gone.xml"), "abc"),
        Budget::default(),
    )
    .await
    .expect("skipped");

    // moto does not check POST policies: a form whose key was changed is stored all the
    // same (AWS refuses it: the policy's `eq $key` condition and the signature); what our
    // side guarantees is the policy itself (shared::domain::s3_post's tests).
    let mut tampered = fields.clone();
    for (k, v) in tampered.iter_mut() {
        if k == "key" {
            *v = format!("{user}/raw/other.xml");
        }
    }
    let st = post_form(&form, &tampered, b"<HealthData/>".to_vec()).await;
    eprintln!("moto answered a tampered key with {st}");
}

async fn straight_import(s: &Server, key: &str, user: &str, xml: &[u8]) -> Value {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"export.xml\"\r\nContent-Type: application/xml\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(xml);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
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
        .expect("direct upload");
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.expect("json");
    summary_of(s, key, user, v["task_id"].as_str().expect("task")).await
}

async fn presign_rejects_bad_requests(storage: Storage) {
    // Without a bucket: the reference's 503.
    let plain = Server::start(storage).await;
    let jwt = plain.login().await;
    let key = plain.api_key(&jwt).await;
    let user = plain.new_user(&key).await;
    let (st, body) = presign(&plain, &key, &user, json!({})).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["detail"], "S3 client not configured");
    drop(plain);

    let s = Server::start_with(
        storage,
        &[
            ("AWS_BUCKET_NAME", "ow-imports"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_REGION", "eu-north-1"),
        ],
    )
    .await;
    let jwt = s.login().await;
    let key = s.api_key(&jwt).await;
    let user = s.new_user(&key).await;
    let (st, form) = presign(&s, &key, &user, json!({})).await;
    assert_eq!(st, StatusCode::OK, "{form}");
    assert_eq!(
        form["upload_url"],
        "https://ow-imports.s3.eu-north-1.amazonaws.com/"
    );
    assert_eq!(form["expires_in"], json!(300));
    assert_eq!(form["max_file_size"], json!(52_428_800));
    let file_key = form["file_key"].as_str().expect("key");
    assert!(
        file_key.starts_with(&format!("{user}/raw/")) && file_key.ends_with(".xml"),
        "{form}"
    );
    assert!(form["form_fields"].get("x-amz-security-token").is_none());
    for bad in [
        json!({"expiration_seconds": 59}),
        json!({"expiration_seconds": 3601}),
        json!({"max_file_size": 1023}),
        json!({"max_file_size": 1_073_741_825_i64}),
        json!({"filename": "x".repeat(201)}),
        json!({"expiration_seconds": "soon"}),
        json!([1]),
    ] {
        let (st, body) = presign(&s, &key, &user, bad.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["detail"].is_string(), "{bad}: {body}");
    }
    let (st, body) = presign(&s, &key, &uuid::Uuid::new_v4().to_string(), json!({})).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{body}");
    let (st, body) = presign(&s, &key, "not-a-uuid", json!({})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    let r = s
        .http
        .post(s.url(&format!("/api/v1/users/{user}/import/apple/xml/s3")))
        .json(&json!({}))
        .send()
        .await
        .expect("no key");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn apple_import_s3_embedded() {
    the_s3_flow_imports_resumes_and_dedups(Storage::Embedded).await;
}

#[tokio::test]
async fn apple_import_s3_dynamodb() {
    the_s3_flow_imports_resumes_and_dedups(Storage::Dynamo).await;
}

#[tokio::test]
async fn apple_import_s3_bad_requests_embedded() {
    presign_rejects_bad_requests(Storage::Embedded).await;
}

#[tokio::test]
async fn apple_import_s3_bad_requests_dynamodb() {
    presign_rejects_bad_requests(Storage::Dynamo).await;
}

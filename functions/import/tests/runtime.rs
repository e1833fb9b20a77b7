//! `ow-import` started for real under a Lambda runtime API emulator, fed SQS batches of its
//! queue as `ow-jobs` is (the continuation messages share the job format and handler): the data
//! read back afterwards is what the local server answers. Its S3 events are exercised
//! in-process (`tests/tests/apple_import_s3.rs`, through `bootstrap::handle_import_event`).

#[tokio::test]
async fn the_import_function_runs_queued_jobs_as_the_local_server_does() {
    e2e::lambda::check_function(env!("CARGO_BIN_EXE_ow-import")).await;
}

/// The real binary, its S3 event and its continuations: an export uploaded to moto's S3 is
/// announced by the recorded-shape event; the emulator gives every invocation a deadline 30 s
/// away, which with the default 30 s margin means "stop at the first checkpoint": so each
/// invocation stores one batch, saves a checkpoint and queues its continuation, and the test
/// delivers the queue's messages back as Lambda's SQS event source would, until it is empty.
/// The run then holds the generator's counts, and the data reads back through the API.
#[tokio::test]
async fn an_upload_is_imported_across_invocations_from_checkpoints() {
    use std::sync::Arc;

    use e2e::lambda::queue::TestQueue;
    use e2e::lambda::runtime::{LambdaProcess, Outcome};
    use e2e::lambda::template::{Emulated, create_app_secret, function_environment};
    use ow_fakes::apple_export::{ExportSpec, write_export};
    use serde_json::{Value, json};

    let moto = e2e::dynamodb_url();
    let table_name = format!("fn-import-{}", uuid::Uuid::new_v4().simple());
    let table = shared::store::dynamo::DynamoTable::for_endpoint(&moto, table_name.clone());
    table.ensure_table().await.expect("create table");
    let table: Arc<dyn shared::store::Table> = Arc::new(table);
    let server = e2e::Server::start_on(table, tempfile::tempdir().expect("dir")).await;
    let jwt = server.login().await;
    let key = server.api_key(&jwt).await;
    let user: Value = server
        .http
        .post(server.url("/api/v1/users"))
        .header("X-Open-Wearables-API-Key", &key)
        .json(&json!({}))
        .send()
        .await
        .expect("user")
        .json()
        .await
        .expect("json");
    let user = user["id"].as_str().expect("id").to_string();

    let http = reqwest::Client::new();
    let bucket = format!("ow-fn-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    assert!(
        http.put(format!("{moto}/{bucket}"))
            .send()
            .await
            .expect("bucket")
            .status()
            .is_success()
    );
    let mut xml = Vec::new();
    let g = write_export(&mut xml, &ExportSpec::default()).expect("generate");
    let object_key = format!("{user}/raw/export.xml");
    let put = http
        .put(format!("{moto}/{bucket}/{object_key}"))
        .body(xml)
        .send()
        .await
        .expect("put");
    assert!(put.status().is_success());
    let etag = put
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim_matches('"')
        .to_string();

    let queue = TestQueue::create(&moto).await;
    let mut env = function_environment(
        "ow-import",
        &Emulated {
            endpoint: moto.clone(),
            table: table_name,
            secret_arn: create_app_secret(&moto).await,
            queue_url: queue.url.clone(),
            create_table: false,
        },
    );
    env.retain(|(k, _)| k != "AWS_BUCKET_NAME");
    env.push(("AWS_BUCKET_NAME".into(), bucket.clone()));
    env.push(("APPLE_IMPORT_BATCH_ITEMS".into(), "500".into()));
    let mut f = LambdaProcess::spawn(
        std::path::Path::new(env!("CARGO_BIN_EXE_ow-import")),
        "ow-import",
        &env,
    )
    .await;

    let event = include_str!("../../../infra/events/s3/object-created.json")
        .replace("ow-imports-example", &bucket)
        .replace(
            "6f1c1f5e-1111-4222-8333-944444444444/raw/export.xml",
            &object_key,
        )
        .replace("0123456789abcdef0123456789abcdef", &etag);
    let first = f
        .invoke(bytes::Bytes::from(event))
        .await
        .expect("the S3 event");
    assert!(
        matches!(first, Outcome::Response(_)),
        "{first:?}\n{}",
        f.logs()
    );
    let mut invocations = 1;
    for _ in 0..200 {
        let messages = queue.receive().await;
        if messages.is_empty() {
            break;
        }
        let batch = queue.event(&messages);
        match f
            .invoke(bytes::Bytes::from(batch.to_string()))
            .await
            .expect("an SQS batch")
        {
            Outcome::Response(body) => {
                let v: Value = serde_json::from_slice(&body).expect("batch response");
                assert_eq!(v["batchItemFailures"], json!([]), "{v}\n{}", f.logs());
            }
            Outcome::Error(body) => panic!("{}\n{}", String::from_utf8_lossy(&body), f.logs()),
        }
        queue.delete(&messages.iter().collect::<Vec<_>>()).await;
        invocations += 1;
    }
    let run = shared::services::s3_import::run_id_of(&bucket, &object_key, &etag);
    let runs: Value = server
        .http
        .get(server.url(&format!("/api/v1/users/{user}/sync/runs?limit=50")))
        .header("X-Open-Wearables-API-Key", &key)
        .send()
        .await
        .expect("runs")
        .json()
        .await
        .expect("json");
    let r = runs
        .as_array()
        .and_then(|a| a.iter().find(|r| r["run_id"] == run.as_str()))
        .cloned()
        .unwrap_or_else(|| panic!("no run {run}: {runs}\n{}", f.logs()));
    assert_eq!(r["status"], "success", "{r}\n{}", f.logs());
    assert_eq!(r["items_processed"], json!(g.records), "{r}");
    let logs = f.logs();
    let resumed = logs.matches("import continues from its checkpoint").count();
    assert!(
        resumed >= 2 && invocations > resumed,
        "{resumed} resumes in {invocations} invocations\n{logs}"
    );
    eprintln!("ow-import: {invocations} invocations, {resumed} resumed from a checkpoint");
    let data: Value = server
        .http
        .get(server.url(&format!("/api/v1/users/{user}/summaries/data")))
        .header("X-Open-Wearables-API-Key", &key)
        .send()
        .await
        .expect("summary")
        .json()
        .await
        .expect("json");
    assert_eq!(data["total_data_points"], json!(g.samples()), "{data}");
    assert_eq!(data["total_workouts"], json!(g.workouts), "{data}");
}

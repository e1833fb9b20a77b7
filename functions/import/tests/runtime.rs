//! `ow-import` started for real under a Lambda runtime API emulator, fed SQS batches of its
//! queue as `ow-jobs` is (the continuation messages share the job format and handler): the data
//! read back afterwards is what the local server answers. Its S3 events are exercised
//! in-process (`tests/tests/apple_import_s3.rs`, through `bootstrap::handle_import_event`).

#[tokio::test]
async fn the_import_function_runs_queued_jobs_as_the_local_server_does() {
    e2e::lambda::check_function(env!("CARGO_BIN_EXE_ow-import")).await;
}

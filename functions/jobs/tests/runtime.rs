//! `ow-jobs` started for real under a Lambda runtime API emulator, fed the SQS batches that the
//! API functions' requests put on the queue (in the emulator): the data read back afterwards is
//! what the local server, running the same jobs in-process, answers.

#[tokio::test]
async fn the_consumer_runs_the_queued_jobs_as_the_local_server_does() {
    e2e::lambda::check_function(env!("CARGO_BIN_EXE_ow-jobs")).await;
}

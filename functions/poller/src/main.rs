//! Lambda function for the EventBridge schedule: periodic work fanned out as jobs.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::bootstrap::run_lambda_schedule().await
}

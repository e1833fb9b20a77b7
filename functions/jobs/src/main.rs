//! Lambda function consuming the job queue (SQS events, partial batch failures).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::bootstrap::run_lambda_sqs().await
}

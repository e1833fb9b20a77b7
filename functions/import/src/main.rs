//! Lambda function of the Apple Health import bucket: S3 object-created events of
//! `<user_id>/raw/...` uploads and the SQS messages it re-queues itself with when an import
//! outlives one invocation (resumed from its checkpoint).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::bootstrap::run_lambda_import().await
}

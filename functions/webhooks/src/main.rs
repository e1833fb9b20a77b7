//! Lambda function for inbound provider webhooks (API Gateway HTTP API events).

use shared::api::Group;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::bootstrap::run_lambda_http(&[Group::Webhooks]).await
}

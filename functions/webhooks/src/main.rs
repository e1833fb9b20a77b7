//! Lambda function for inbound provider webhooks (API Gateway HTTP API events).
//! It links this group's router only (no other handlers) and the AWS adapters.

use shared::api;
use shared::bootstrap::run_lambda_http;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run_lambda_http(api::webhooks::openapi_router()).await
}

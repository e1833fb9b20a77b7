//! Lambda function for the settings route group (synthetic data, priorities, outgoing-webhook
//! management and instance flags) (API Gateway HTTP API events).
//! It links this group's router only (no other handlers) and the AWS adapters.

use shared::api;
use shared::bootstrap::run_lambda_http;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run_lambda_http(api::settings::openapi_router().merge(api::outgoing::openapi_router())).await
}

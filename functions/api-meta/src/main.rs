//! Lambda function for the meta route group: `/`, `/openapi.json`, `/docs`.
//! It links this group's router only (no other handlers) and the AWS adapters.

use shared::api;
use shared::bootstrap::run_lambda_http;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run_lambda_http(api::root::openapi_router()).await
}

//! Lambda function for the auth route group (API Gateway HTTP API events). Its cold start
//! seeds the first developer and the device priorities when the table has none: every way into
//! the API starts with a login here.
//! It links this group's router only (no other handlers) and the AWS adapters.

use shared::api;
use shared::bootstrap::run_lambda_http_seeding;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run_lambda_http_seeding(api::auth::openapi_router()).await
}

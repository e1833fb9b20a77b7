//! Lambda function for the providers, OAuth authorize and connections route group (API Gateway HTTP API events).

use shared::api::Group;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::bootstrap::run_lambda_http(&[Group::Providers]).await
}

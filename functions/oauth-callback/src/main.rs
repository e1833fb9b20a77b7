//! Lambda function for the OAuth callback route group (API Gateway HTTP API events).

use shared::api::Group;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::bootstrap::run_lambda_http(&[Group::OAuthCallback]).await
}

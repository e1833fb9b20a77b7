//! Lambda function for the meta route group: `/`, `/openapi.json`, `/docs`.

use shared::api::Group;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::bootstrap::run_lambda_http(&[Group::Root]).await
}

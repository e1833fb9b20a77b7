//! Lambda function for the developer portal: the HTML pages under `/portal`. The portal calls
//! the API in process, so this function links the handlers of the groups it calls (auth,
//! users, data, settings, providers) besides its own.

use shared::bootstrap::run_lambda_http;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    run_lambda_http(shared::portal::openapi_router()).await
}

//! Liveness, the generated OpenAPI document and its docs page.

use axum::Json;
use axum::Router;
use axum::response::Html;
use axum::routing::get;
use serde_json::{Value, json};
use utoipa::OpenApi;

use super::State;

/// The routes of this group.
pub fn router() -> Router<State> {
    Router::new()
        .route("/", get(root))
        .route("/openapi.json", get(openapi))
        .route("/docs", get(docs))
}

/// Liveness.
#[utoipa::path(get, path = "/", tag = "meta", responses((status = 200, description = "Server is running")))]
pub async fn root() -> Json<Value> {
    Json(json!({ "message": "Server is running!" }))
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::ApiDoc::openapi())
}

async fn docs() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}

//! Liveness, the generated OpenAPI document and its docs page.

use axum::Json;
use axum::response::Html;
use axum::routing::get;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::State;

/// The routes of this group with their OpenAPI operations (paths and methods come from
/// each handler's `#[utoipa::path]`).
pub fn openapi_router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(root))
        .route("/openapi.json", get(openapi))
        .route("/docs", get(docs))
}

/// Liveness.
#[utoipa::path(get, path = "/", tag = "meta", responses((status = 200, description = "Server is running")))]
pub async fn root() -> Json<Value> {
    Json(json!({ "message": "Server is running!" }))
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::document())
}

async fn docs() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}

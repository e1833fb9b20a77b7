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

/// The document generated from the handlers' annotations (`crate::openapi::document`),
/// committed as `shared/openapi.json` and embedded: serving it does not build every group's
/// router, so the meta function links no other group's handlers. A test fails when the file
/// and the generated document differ (`OW_BLESS_OPENAPI=1` rewrites it).
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI_JSON,
    )
}

async fn docs() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}

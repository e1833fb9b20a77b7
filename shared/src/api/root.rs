//! Liveness, the generated OpenAPI document and its docs page.

use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Html;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
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

/// Liveness, for API clients. A browser (a request whose `Accept` names `text/html`) is sent
/// to the developer portal instead: API clients and monitors keep the reference's JSON.
#[utoipa::path(get, path = "/", tag = "meta", responses((status = 200, description = "Server is running"),
    (status = 303, description = "Browsers (Accept: text/html) are sent to the developer portal at /portal")))]
pub async fn root(headers: HeaderMap) -> Response {
    if wants_html(&headers) {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/portal")]).into_response();
    }
    Json(json!({ "message": "Server is running!" })).into_response()
}

/// Whether the client asks for HTML (a browser navigating), not JSON or anything.
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            t.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/html"))
        })
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

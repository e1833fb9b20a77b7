//! The OpenAPI 3.1 document, generated from the handlers' annotations: each route group's
//! `openapi_router()` declares its routes once (path and method from `#[utoipa::path]`), and
//! the document is the merge of those routers' operations.

use std::sync::LazyLock;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::api::{
    State, auth, data, garmin_backfill, outgoing, providers, root, sdk, settings, subscriptions,
    sync_status, users, webhooks,
};

/// The document's title and description.
#[derive(OpenApi)]
#[openapi(info(
    title = "Open Wearables API",
    description = "Open Wearables, serverless Rust edition."
))]
struct ApiInfo;

/// Every route group, with its OpenAPI operations.
fn documented_routes() -> OpenApiRouter<State> {
    OpenApiRouter::with_openapi(ApiInfo::openapi())
        .merge(root::openapi_router())
        .merge(auth::openapi_router())
        .merge(users::openapi_router())
        .merge(sdk::openapi_router())
        .merge(data::openapi_router())
        .merge(settings::openapi_router())
        .merge(outgoing::openapi_router())
        .merge(providers::openapi_router())
        .merge(providers::callback_openapi_router())
        .merge(garmin_backfill::openapi_router())
        .merge(sync_status::openapi_router())
        .merge(subscriptions::openapi_router())
        .merge(webhooks::openapi_router())
}

/// The API description served at `/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    static DOC: LazyLock<utoipa::openapi::OpenApi> =
        LazyLock::new(|| documented_routes().into_openapi());
    DOC.clone()
}

/// Every `(METHOD, path)` pair the document describes.
pub fn operations() -> Vec<(String, String)> {
    let doc = document();
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        let ops = [
            ("GET", item.get.is_some()),
            ("POST", item.post.is_some()),
            ("PUT", item.put.is_some()),
            ("PATCH", item.patch.is_some()),
            ("DELETE", item.delete.is_some()),
        ];
        for (m, present) in ops {
            if present {
                out.push((m.to_string(), path.clone()));
            }
        }
    }
    out.sort();
    out
}

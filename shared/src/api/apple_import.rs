//! Apple Health XML import (api.md #74, #76) as the reference answers with the feature off:
//! no S3 client → 503 `S3 client not configured`, no SNS client → 503 `SNS client not
//! configured`. The import itself is issue #13; `/import/apple/xml/direct` has no such answer
//! in the reference and is not served yet.

use axum::extract::Path;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::State;
use crate::auth::guard::Caller;
use crate::error::{ApiError, ApiResult};

pub fn openapi_router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(presigned_upload))
        .routes(routes!(sns_notification))
}

/// Presigned S3 upload for an Apple Health export: 503 until the import is built (#13).
#[utoipa::path(post, path = "/api/v1/users/{user_id}/import/apple/xml/s3", tag = "import",
    params(("user_id" = String, Path)),
    responses((status = 401), (status = 503, description = "S3 client not configured")))]
pub async fn presigned_upload(_: Caller, Path(_user_id): Path<String>) -> ApiResult<()> {
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "S3 client not configured",
    ))
}

/// S3 event notifications over SNS: 503 until the import is built (#13).
#[utoipa::path(post, path = "/api/v1/sns/notification", tag = "import",
    responses((status = 503, description = "SNS client not configured")))]
pub async fn sns_notification() -> ApiResult<()> {
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "SNS client not configured",
    ))
}

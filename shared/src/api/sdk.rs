//! Mobile SDK push (api.md #72, data-model §4): the unified route (provider in the body) and
//! the integration guide's per-provider paths. The batch is stored before the answer, which
//! carries the real counts.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State as St};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{State, parse_uuid};
use crate::auth::guard::SdkCaller;
use crate::domain::sdk::SdkProvider;
use crate::error::{ApiError, ApiResult};
use crate::ingest::{IngestError, ingest_sdk};

/// The routes of this group with their OpenAPI operations (paths and methods come from
/// each handler's `#[utoipa::path]`).
pub fn openapi_router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(sync))
        .routes(routes!(sync_apple))
        .routes(routes!(sync_samsung))
}

/// `UploadDataResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadDataResponse {
    pub status_code: u16,
    pub response: &'static str,
    pub user_id: Option<String>,
    pub dropped_count: usize,
    pub records_saved: usize,
    pub workouts_saved: usize,
    pub sleep_saved: usize,
}

async fn handle(
    state: &State,
    caller: SdkCaller,
    user_id: &str,
    body: &Bytes,
    provider: Option<SdkProvider>,
) -> ApiResult<(StatusCode, Json<UploadDataResponse>)> {
    caller.check_user(user_id)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("Field required"));
    }
    let user = parse_uuid(user_id)?;
    if !state.db.user_exists(user).await? {
        return Err(ApiError::entity_not_found("User", user));
    }
    let out = ingest_sdk(state, user, body, provider)
        .await
        .map_err(|e| match e {
            IngestError::BadPayload(m) => ApiError::bad_request(m),
            IngestError::Store(s) => s.into(),
        })?;
    tracing::info!(
        user = %user,
        records = out.records_saved,
        workouts = out.workouts_saved,
        sleep = out.sleep_saved,
        dropped = out.dropped_count,
        chunks = out.chunks_written,
        "sdk batch stored"
    );
    Ok((
        StatusCode::ACCEPTED,
        Json(UploadDataResponse {
            status_code: 202,
            response: "Import task queued successfully",
            user_id: Some(user_id.to_string()),
            dropped_count: out.dropped_count,
            records_saved: out.records_saved,
            workouts_saved: out.workouts_saved,
            sleep_saved: out.sleep_saved,
        }),
    ))
}

/// Push a batch; the provider (`apple`, `samsung`, `google`) is named in the body.
#[utoipa::path(post, path = "/api/v1/sdk/users/{user_id}/sync", tag = "sdk", params(("user_id" = String, Path)),
    responses((status = 202, body = UploadDataResponse), (status = 400), (status = 401), (status = 403), (status = 413)))]
pub async fn sync(
    St(state): St<State>,
    caller: SdkCaller,
    Path(user_id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<UploadDataResponse>)> {
    handle(&state, caller, &user_id, &body, None).await
}

/// Push an Apple Health batch (the integration guide's path).
#[utoipa::path(post, path = "/api/v1/sdk/users/{user_id}/sync/apple/healthion", tag = "sdk", params(("user_id" = String, Path)),
    responses((status = 202, body = UploadDataResponse)))]
pub async fn sync_apple(
    St(state): St<State>,
    caller: SdkCaller,
    Path(user_id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<UploadDataResponse>)> {
    handle(&state, caller, &user_id, &body, Some(SdkProvider::Apple)).await
}

/// Push a Samsung Health batch (the integration guide's path).
#[utoipa::path(post, path = "/api/v1/sdk/users/{user_id}/sync/samsung", tag = "sdk", params(("user_id" = String, Path)),
    responses((status = 202, body = UploadDataResponse)))]
pub async fn sync_samsung(
    St(state): St<State>,
    caller: SdkCaller,
    Path(user_id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<UploadDataResponse>)> {
    handle(&state, caller, &user_id, &body, Some(SdkProvider::Samsung)).await
}

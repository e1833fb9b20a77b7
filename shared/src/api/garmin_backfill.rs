//! Garmin backfill control (api.md §12 #49–#51): the progress of a user's Garmin backfill,
//! cancelling it, and retrying one type. API key (or developer) auth, like the sync routes;
//! served with the provider routes.

use axum::Json;
use axum::extract::{Path, State as St};
use axum::http::StatusCode;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::PathId;
use super::{State, parse_uuid};
use crate::auth::guard::Caller;
use crate::domain::garmin_backfill::TRACKED_TYPES;
use crate::error::{ApiError, ApiResult};
use crate::providers::garmin::backfill::{self as garmin_backfill, BackfillStatus};

/// The routes of this group with their OpenAPI operations (paths and methods come from
/// each handler's `#[utoipa::path]`).
pub fn openapi_router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(cancel))
        .routes(routes!(retry))
}

/// The progress of the user's Garmin backfill (a `pending` skeleton when there is none).
#[utoipa::path(get, path = "/api/v1/providers/garmin/users/{user_id}/backfill/status", tag = "sync",
    params(("user_id" = Uuid, Path)),
    responses((status = 200, body = BackfillStatus), (status = 400), (status = 401)))]
pub async fn status(
    St(state): St<State>,
    _: Caller,
    PathId(user): PathId,
) -> ApiResult<Json<BackfillStatus>> {
    Ok(Json(garmin_backfill::status(&state, user).await?))
}

/// Stops a running backfill after the type being requested (409 when none runs).
#[utoipa::path(post, path = "/api/v1/providers/garmin/users/{user_id}/backfill/cancel", tag = "sync",
    params(("user_id" = Uuid, Path)),
    responses((status = 200), (status = 400), (status = 401), (status = 409)))]
pub async fn cancel(
    St(state): St<State>,
    _: Caller,
    PathId(user): PathId,
) -> ApiResult<Json<Value>> {
    if !garmin_backfill::cancel(&state, user).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "No backfill in progress for this user",
        ));
    }
    Ok(Json(json!({
        "success": true,
        "user_id": user.to_string(),
        "message": "Cancel requested. Backfill will stop after current type completes.",
    })))
}

/// Requests one backfill type again; its data arrives by push.
#[utoipa::path(post, path = "/api/v1/providers/garmin/users/{user_id}/backfill/{type_name}/retry", tag = "sync",
    params(("user_id" = Uuid, Path), ("type_name" = String, Path)),
    responses((status = 200), (status = 400), (status = 401)))]
pub async fn retry(
    St(state): St<State>,
    _: Caller,
    Path((user_id, type_name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let user = parse_uuid(&user_id)?;
    if !garmin_backfill::is_retry_type(&type_name) {
        return Err(ApiError::bad_request(format!(
            "Invalid type: {type_name}. Valid types: {}",
            TRACKED_TYPES.join(", ")
        )));
    }
    let job = garmin_backfill::retry(&state, user, &type_name).await?;
    state
        .queue
        .enqueue(vec![job])
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(json!({
        "success": true,
        "user_id": user.to_string(),
        "type": type_name,
        "status": "triggered",
        "message": format!("Retry triggered for {type_name}. Data will arrive via webhook."),
    })))
}

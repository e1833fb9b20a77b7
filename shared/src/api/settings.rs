//! Synthetic-data settings routes (api.md #92–#94): dispatch a seed job, list presets and
//! sleep profiles.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State as St;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use rand::Rng;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{State, json_body};
use crate::auth::guard;
use crate::error::{ApiError, ApiResult};
use crate::jobs::Job;
use crate::seed::{SeedRequest, presets, resolve, sleep_profiles};

/// The routes of this group.
pub fn router() -> Router<State> {
    Router::new()
        .route("/api/v1/settings/seed", post(dispatch_seed))
        .route("/api/v1/settings/seed/presets", get(list_presets))
        .route(
            "/api/v1/settings/seed/sleep-profiles",
            get(list_sleep_profiles),
        )
}

/// Queue synthetic users and data (202); the work runs as a background job.
#[utoipa::path(post, path = "/api/v1/settings/seed", tag = "settings",
    responses((status = 202, description = "{task_id, status, seed_used}"), (status = 400)))]
pub async fn dispatch_seed(
    St(state): St<State>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    guard::developer(&state, &headers).await?;
    let req: SeedRequest = json_body(&body)?;
    let default_seed = rand::thread_rng().gen_range(0..(1u64 << 31));
    let (users, seed, profile) = resolve(&req, default_seed).map_err(ApiError::bad_request)?;
    let task_id = Uuid::new_v4();
    state
        .queue
        .enqueue(vec![Job::Seed {
            task_id,
            users,
            seed,
            profile: Box::new(profile),
        }])
        .await
        .map_err(ApiError::internal)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"task_id": task_id, "status": "dispatched", "seed_used": seed})),
    ))
}

/// The seed presets.
#[utoipa::path(get, path = "/api/v1/settings/seed/presets", tag = "settings", responses((status = 200)))]
pub async fn list_presets(St(state): St<State>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    guard::developer(&state, &headers).await?;
    let list: Vec<Value> = presets()
        .into_iter()
        .map(|(id, label, description, profile)| json!({"id": id, "label": label, "description": description, "profile": profile}))
        .collect();
    Ok(Json(Value::Array(list)))
}

/// The sleep-stage profiles.
#[utoipa::path(get, path = "/api/v1/settings/seed/sleep-profiles", tag = "settings", responses((status = 200)))]
pub async fn list_sleep_profiles(
    St(state): St<State>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    guard::developer(&state, &headers).await?;
    Ok(Json(Value::Array(sleep_profiles())))
}

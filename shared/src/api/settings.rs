//! Synthetic-data settings routes (api.md #92–#94): dispatch a seed job, list presets and
//! sleep profiles.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State as St;
use axum::http::StatusCode;
use rand::Rng;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{State, json_body};
use crate::auth::guard::AuthDeveloper;
use crate::error::{ApiError, ApiResult};
use crate::jobs::Job;
use crate::seed::{SeedRequest, presets, resolve, sleep_profiles};

/// The routes of this group with their OpenAPI operations (paths and methods come from
/// each handler's `#[utoipa::path]`).
pub fn openapi_router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(dispatch_seed))
        .routes(routes!(list_presets))
        .routes(routes!(list_sleep_profiles))
        .routes(routes!(list_provider_priorities, set_provider_priorities))
        .routes(routes!(set_provider_priority))
        .routes(routes!(list_device_priorities, set_device_priorities))
        .routes(routes!(set_device_priority))
        .merge(super::dashboard::openapi_router())
}

/// Queue synthetic users and data (202); the work runs as a background job.
#[utoipa::path(post, path = "/api/v1/settings/seed", tag = "settings",
    responses((status = 202, description = "{task_id, status, seed_used}"), (status = 400)))]
pub async fn dispatch_seed(
    St(state): St<State>,
    _: AuthDeveloper,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
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
pub async fn list_presets(_: AuthDeveloper) -> ApiResult<Json<Value>> {
    let list: Vec<Value> = presets()
        .into_iter()
        .map(|(id, label, description, profile)| json!({"id": id, "label": label, "description": description, "profile": profile}))
        .collect();
    Ok(Json(Value::Array(list)))
}

/// The sleep-stage profiles.
#[utoipa::path(get, path = "/api/v1/settings/seed/sleep-profiles", tag = "settings", responses((status = 200)))]
pub async fn list_sleep_profiles(_: AuthDeveloper) -> ApiResult<Json<Value>> {
    Ok(Json(Value::Array(sleep_profiles())))
}

// ---------------------------------------------------------------------------------------------
// Priorities (#95–#100)
// ---------------------------------------------------------------------------------------------

fn priority_json(field: &str, p: &crate::repo::priorities::Priority) -> Value {
    json!({field: p.key, "priority": p.priority, "id": p.id,
           "created_at": super::wire::fmt_dt(&p.created_at), "updated_at": super::wire::fmt_dt(&p.updated_at)})
}

#[derive(Debug, serde::Deserialize)]
struct PriorityBody {
    priority: Option<i64>,
}

#[derive(Debug, serde::Deserialize)]
struct BulkPriorities {
    priorities: Vec<serde_json::Map<String, Value>>,
}

fn check_priority(p: Option<i64>) -> ApiResult<u32> {
    match p {
        None => Err(ApiError::bad_request("Field required: priority")),
        Some(n) if !(1..=100).contains(&n) => {
            Err(ApiError::bad_request("Input should be between 1 and 100"))
        }
        Some(n) => Ok(n as u32),
    }
}

fn check_key(kind: char, key: &str) -> ApiResult<()> {
    let ok = match kind {
        'P' => crate::domain::provider::Provider::is_query_value(key),
        _ => crate::domain::summary::DeviceType::parse(key).is_some(),
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Unknown {}: {key}",
            if kind == 'P' {
                "provider"
            } else {
                "device type"
            }
        )))
    }
}

async fn list_of(state: &State, kind: char) -> ApiResult<Json<Value>> {
    let (rows, field) = if kind == 'P' {
        (state.db.provider_priorities().await?, "provider")
    } else {
        (state.db.device_priorities().await?, "device_type")
    };
    Ok(Json(
        json!({"items": rows.iter().map(|r| priority_json(field, r)).collect::<Vec<_>>()}),
    ))
}

/// Provider priorities, lowest (preferred) first.
#[utoipa::path(get, path = "/api/v1/priorities/providers", tag = "settings", responses((status = 200)))]
pub async fn list_provider_priorities(
    St(state): St<State>,
    _: AuthDeveloper,
) -> ApiResult<Json<Value>> {
    list_of(&state, 'P').await
}

/// Device-type priorities, lowest (preferred) first.
#[utoipa::path(get, path = "/api/v1/priorities/device-types", tag = "settings", responses((status = 200)))]
pub async fn list_device_priorities(
    St(state): St<State>,
    _: AuthDeveloper,
) -> ApiResult<Json<Value>> {
    list_of(&state, 'D').await
}

async fn set_one(state: &State, kind: char, key: &str, body: &Bytes) -> ApiResult<Json<Value>> {
    check_key(kind, key)?;
    let b: PriorityBody = json_body(body)?;
    let p = check_priority(b.priority)?;
    let row = state.db.set_priority(kind, key, p, state.now()).await?;
    Ok(Json(priority_json(
        if kind == 'P' {
            "provider"
        } else {
            "device_type"
        },
        &row,
    )))
}

/// Set one provider's priority (1–100, lower wins).
#[utoipa::path(put, path = "/api/v1/priorities/providers/{provider}", tag = "settings", params(("provider" = String, Path)), responses((status = 200), (status = 400)))]
pub async fn set_provider_priority(
    St(state): St<State>,
    _: AuthDeveloper,
    axum::extract::Path(p): axum::extract::Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    set_one(&state, 'P', &p, &body).await
}

/// Set one device type's priority (1–100, lower wins).
#[utoipa::path(put, path = "/api/v1/priorities/device-types/{device_type}", tag = "settings", params(("device_type" = String, Path)), responses((status = 200), (status = 400)))]
pub async fn set_device_priority(
    St(state): St<State>,
    _: AuthDeveloper,
    axum::extract::Path(d): axum::extract::Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    set_one(&state, 'D', &d, &body).await
}

async fn set_many(state: &State, kind: char, body: &Bytes) -> ApiResult<Json<Value>> {
    let b: BulkPriorities = json_body(body)?;
    let field = if kind == 'P' {
        "provider"
    } else {
        "device_type"
    };
    let mut parsed = Vec::new();
    for entry in &b.priorities {
        let key = entry
            .get(field)
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request(format!("Field required: {field}")))?;
        check_key(kind, key)?;
        parsed.push((
            key.to_string(),
            check_priority(entry.get("priority").and_then(Value::as_i64))?,
        ));
    }
    for (key, p) in parsed {
        state.db.set_priority(kind, &key, p, state.now()).await?;
    }
    list_of(state, kind).await
}

/// Set several provider priorities.
#[utoipa::path(put, path = "/api/v1/priorities/providers", tag = "settings", responses((status = 200), (status = 400)))]
pub async fn set_provider_priorities(
    St(state): St<State>,
    _: AuthDeveloper,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    set_many(&state, 'P', &body).await
}

/// Set several device-type priorities.
#[utoipa::path(put, path = "/api/v1/priorities/device-types", tag = "settings", responses((status = 200), (status = 400)))]
pub async fn set_device_priorities(
    St(state): St<State>,
    _: AuthDeveloper,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    set_many(&state, 'D', &body).await
}

//! Users (api.md §9): create (the same e-mail twice makes two users, as the integration guide
//! says), list with page/limit/sort/search, get, update, delete.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State as St;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::extract::{PathId, Query};
use super::wire::{check_email, check_max_len, ser_dt, ser_opt_dt};
use super::{State, json_body};
use crate::auth::guard::{AuthDeveloper, Caller};
use crate::error::{ApiError, ApiResult};
use crate::repo::users::{User, UserWriteError};

/// The routes of this group with their OpenAPI operations (paths and methods come from
/// each handler's `#[utoipa::path]`).
pub fn openapi_router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, delete_user))
}

/// `UserRead`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserRead {
    pub id: Uuid,
    #[serde(serialize_with = "ser_dt")]
    pub created_at: DateTime<Utc>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub external_user_id: Option<String>,
    #[serde(serialize_with = "ser_opt_dt")]
    pub last_synced_at: Option<DateTime<Utc>>,
    pub last_synced_provider: Option<String>,
    pub has_active_connection: bool,
}

impl From<&User> for UserRead {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            created_at: u.created_at,
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            email: u.email.clone(),
            external_user_id: u.external_user_id.clone(),
            last_synced_at: None,
            last_synced_provider: None,
            has_active_connection: false,
        }
    }
}

/// `UserCreate` / `UserUpdate`: every field optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UserFields {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// Deprecated; unique; no data endpoint accepts it.
    pub external_user_id: Option<String>,
}

impl UserFields {
    fn validate(&self) -> ApiResult<()> {
        check_max_len(self.first_name.as_deref(), 100)?;
        check_max_len(self.last_name.as_deref(), 100)?;
        if let Some(e) = &self.email {
            check_email(e)?;
        }
        Ok(())
    }
}

/// `OldPaginatedResponse<UserRead>`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<UserRead>,
    pub total: usize,
    pub page: usize,
    pub limit: usize,
    pub pages: usize,
    pub has_next: bool,
    pub has_prev: bool,
}

/// The user list's query (values checked by hand for the reference's texts).
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    page: Option<String>,
    limit: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
    search: Option<String>,
    email: Option<String>,
    external_user_id: Option<String>,
}

fn int_param(v: Option<&str>, default: usize, min: usize, max: usize) -> ApiResult<usize> {
    let Some(v) = v else { return Ok(default) };
    let n: i64 = v.trim().parse().map_err(|_| {
        ApiError::bad_request(
            "Input should be a valid integer, unable to parse string as an integer",
        )
    })?;
    if n < min as i64 {
        return Err(ApiError::bad_request(format!(
            "Input should be greater than or equal to {min}"
        )));
    }
    if n > max as i64 {
        return Err(ApiError::bad_request(format!(
            "Input should be less than or equal to {max}"
        )));
    }
    Ok(n as usize)
}

fn contains_ci(field: &Option<String>, needle: &str) -> bool {
    field
        .as_deref()
        .is_some_and(|f| f.to_lowercase().contains(needle))
}

/// Orders two optional strings like PostgreSQL: NULLs sort last ascending, first descending.
fn cmp_nullable(a: &Option<String>, b: &Option<String>) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(b),
        (None, None) => Equal,
        (None, Some(_)) => Greater,
        (Some(_), None) => Less,
    }
}

/// What the user list shows of a user's connections: the latest `last_synced_at`, its
/// provider, and whether any connection is active.
#[derive(Debug, Clone, Default)]
struct SyncSummary {
    last_synced_at: Option<DateTime<Utc>>,
    provider: Option<String>,
    active: bool,
}

/// The sync summaries of `users`, read a few partitions at a time.
async fn sync_summaries(
    state: &State,
    users: &[Uuid],
) -> ApiResult<std::collections::HashMap<Uuid, SyncSummary>> {
    let mut out = std::collections::HashMap::new();
    for chunk in users.chunks(16) {
        let mut set = tokio::task::JoinSet::new();
        for &id in chunk {
            let state = state.clone();
            set.spawn(async move { (id, state.db.connections(id).await) });
        }
        while let Some(joined) = set.join_next().await {
            let (id, conns) = joined.map_err(ApiError::internal)?;
            let mut sum = SyncSummary::default();
            for c in conns? {
                sum.active |= c.status == crate::domain::states::ConnectionStatus::Active;
                if c.last_synced_at > sum.last_synced_at {
                    sum.last_synced_at = c.last_synced_at;
                    sum.provider = Some(c.provider.to_string());
                }
            }
            out.insert(id, sum);
        }
    }
    Ok(out)
}

/// List users (page/limit).
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    params(("page" = Option<usize>, Query), ("limit" = Option<usize>, Query), ("sort_by" = Option<String>, Query),
        ("sort_order" = Option<String>, Query), ("search" = Option<String>, Query), ("email" = Option<String>, Query)),
    responses((status = 200, body = UserPage)))]
pub async fn list_users(
    St(state): St<State>,
    _: Caller,
    Query(p): Query<ListParams>,
) -> ApiResult<Json<UserPage>> {
    let page = int_param(p.page.as_deref(), 1, 1, usize::MAX / 1000)?;
    let limit = int_param(p.limit.as_deref(), 20, 1, 100)?;
    let sort_by = p.sort_by.as_deref().unwrap_or("created_at");
    if ![
        "created_at",
        "email",
        "first_name",
        "last_name",
        "last_synced_at",
    ]
    .contains(&sort_by)
    {
        return Err(ApiError::bad_request(
            "Input should be 'created_at', 'email', 'first_name', 'last_name' or 'last_synced_at'",
        ));
    }
    let desc = match p.sort_order.as_deref().unwrap_or("desc") {
        "asc" => false,
        "desc" => true,
        _ => return Err(ApiError::bad_request("Input should be 'asc' or 'desc'")),
    };
    if let Some(e) = &p.email {
        check_email(e)?;
    }
    let needle = p
        .search
        .as_deref()
        .map(str::to_lowercase)
        .filter(|s| !s.is_empty());
    let mut users: Vec<User> = state
        .db
        .all_users()
        .await?
        .into_iter()
        .filter(|u| p.email.is_none() || u.email == p.email)
        .filter(|u| p.external_user_id.is_none() || u.external_user_id == p.external_user_id)
        .filter(|u| match &needle {
            None => true,
            Some(n) => {
                contains_ci(&u.email, n)
                    || contains_ci(&u.first_name, n)
                    || contains_ci(&u.last_name, n)
            }
        })
        .collect();
    // Sorting by last sync needs every user's connections; otherwise only the page's.
    let mut sums = if sort_by == "last_synced_at" {
        let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
        sync_summaries(&state, &ids).await?
    } else {
        std::collections::HashMap::new()
    };
    let synced = |u: &User| sums.get(&u.id).and_then(|s| s.last_synced_at);
    users.sort_by(|a, b| {
        let primary = match sort_by {
            "email" => cmp_nullable(&a.email, &b.email),
            "first_name" => cmp_nullable(&a.first_name, &b.first_name),
            "last_name" => cmp_nullable(&a.last_name, &b.last_name),
            // Nulls first ascending, last descending (Option orders None first).
            "last_synced_at" => synced(a).cmp(&synced(b)),
            _ => a.created_at.cmp(&b.created_at),
        };
        let primary = if desc { primary.reverse() } else { primary };
        primary.then(a.id.cmp(&b.id))
    });
    let total = users.len();
    let page_users: Vec<&User> = users
        .iter()
        .skip((page - 1).saturating_mul(limit))
        .take(limit)
        .collect();
    if sums.is_empty() {
        let ids: Vec<Uuid> = page_users.iter().map(|u| u.id).collect();
        sums = sync_summaries(&state, &ids).await?;
    }
    let items: Vec<UserRead> = page_users
        .into_iter()
        .map(|u| {
            let mut r = UserRead::from(u);
            if let Some(sum) = sums.get(&u.id) {
                r.last_synced_at = sum.last_synced_at;
                r.last_synced_provider = sum.provider.clone();
                r.has_active_connection = sum.active;
            }
            r
        })
        .collect();
    let pages = total.div_ceil(limit);
    Ok(Json(UserPage {
        items,
        total,
        page,
        limit,
        pages,
        has_next: page < pages,
        has_prev: page > 1,
    }))
}

/// Create a user. `{}` is valid; e-mails are not unique (the integration guide's contract).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = UserFields,
    responses((status = 201, body = UserRead), (status = 400)))]
pub async fn create_user(St(state): St<State>, _: Caller, body: Bytes) -> ApiResult<Response> {
    let f: UserFields = json_body(&body)?;
    f.validate()?;
    let user = User {
        id: Uuid::new_v4(),
        created_at: state.now(),
        first_name: f.first_name,
        last_name: f.last_name,
        email: f.email,
        external_user_id: f.external_user_id,
    };
    let user = match state.db.create_user(&user).await {
        Ok(()) => user,
        // The reference returns the existing holder of a duplicate external_user_id.
        Err(UserWriteError::ExternalIdTaken(holder)) => state
            .db
            .user(holder)
            .await?
            .ok_or_else(|| ApiError::internal("external id holder vanished"))?,
        Err(UserWriteError::Store(e)) => return Err(e.into()),
    };
    Ok((StatusCode::CREATED, Json(UserRead::from(&user))).into_response())
}

async fn find_user(state: &State, id: Uuid) -> ApiResult<User> {
    state
        .db
        .user(id)
        .await?
        .ok_or_else(|| ApiError::entity_not_found("User", id))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{user_id}", tag = "users", params(("user_id" = Uuid, Path)),
    responses((status = 200, body = UserRead), (status = 404)))]
pub async fn get_user(
    St(state): St<State>,
    _: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<UserRead>> {
    Ok(Json((&find_user(&state, id).await?).into()))
}

/// Update a user (developer JWT; null or absent fields stay unchanged).
#[utoipa::path(patch, path = "/api/v1/users/{user_id}", tag = "users", params(("user_id" = Uuid, Path)),
    request_body = UserFields, responses((status = 200, body = UserRead), (status = 404), (status = 409)))]
pub async fn update_user(
    St(state): St<State>,
    _: AuthDeveloper,
    PathId(id): PathId,
    body: Bytes,
) -> ApiResult<Json<UserRead>> {
    let old = find_user(&state, id).await?;
    let f: UserFields = json_body(&body)?;
    f.validate()?;
    let mut u = old.clone();
    if f.first_name.is_some() {
        u.first_name = f.first_name;
    }
    if f.last_name.is_some() {
        u.last_name = f.last_name;
    }
    if f.email.is_some() {
        u.email = f.email;
    }
    if f.external_user_id.is_some() {
        u.external_user_id = f.external_user_id;
    }
    match state.db.update_user(&old, &u).await {
        Ok(()) => Ok(Json((&u).into())),
        Err(UserWriteError::ExternalIdTaken(_)) => Err(ApiError::conflict(
            "external_user_id is already used by another user",
        )),
        Err(UserWriteError::Store(e)) => Err(e.into()),
    }
}

/// Delete a user and all their data (developer JWT or API key); returns the deleted user.
#[utoipa::path(delete, path = "/api/v1/users/{user_id}", tag = "users", params(("user_id" = Uuid, Path)),
    responses((status = 200, body = UserRead), (status = 404)))]
pub async fn delete_user(
    St(state): St<State>,
    _: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<UserRead>> {
    let user = find_user(&state, id).await?;
    state.db.delete_user(&user).await?;
    Ok(Json((&user).into()))
}

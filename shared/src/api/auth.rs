//! Developer auth, developers, API keys, SDK applications, SDK token exchange, refresh and
//! revoke, and user invitation codes (api.md §6–§8).

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State as St};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::extract::PathId;
use super::wire::{check_email, check_max_len, check_min_len, ser_dt};
use super::{State, json_body, opt_json_body};
use crate::auth::guard::{self, AuthDeveloper};
use crate::auth::password;
use crate::error::{ApiError, ApiResult};
use crate::keys::secrets::{ct_eq, digest, random_from, random_hex};
use crate::repo::credentials::{
    ApiKey, Application, InvitationCode, RefreshKind, RefreshToken, api_key_id,
};
use crate::repo::developers::{Developer, DeveloperWriteError};

/// The routes of this group with their OpenAPI operations (paths and methods come from
/// each handler's `#[utoipa::path]`).
pub fn openapi_router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(change_password))
        .routes(routes!(me, update_me))
        .routes(routes!(list_developers))
        .routes(routes!(get_developer, update_developer, delete_developer))
        .routes(routes!(list_api_keys, create_api_key))
        .routes(routes!(rename_api_key, delete_api_key))
        .routes(routes!(rotate_api_key))
        .routes(routes!(list_applications, create_application))
        .routes(routes!(delete_application))
        .routes(routes!(rotate_application_secret))
        .routes(routes!(exchange_token))
        .routes(routes!(refresh))
        .routes(routes!(revoke))
        .routes(routes!(create_invitation_code))
        .routes(routes!(redeem_invitation_code))
        .merge(super::invitations::openapi_router())
}

// ---------- wire types ----------

/// `TokenResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub refresh_token: Option<String>,
    pub expires_in: Option<i64>,
}

/// `DeveloperRead`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeveloperRead {
    pub id: Uuid,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: String,
    #[serde(serialize_with = "ser_dt")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "ser_dt")]
    pub updated_at: DateTime<Utc>,
}

impl From<&Developer> for DeveloperRead {
    fn from(d: &Developer) -> Self {
        Self {
            id: d.id,
            first_name: d.first_name.clone(),
            last_name: d.last_name.clone(),
            email: d.email.clone(),
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// `DeveloperUpdate` (null or absent fields stay unchanged).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct DeveloperUpdate {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
}

/// `ApiKeyRead`. `id` is the full key, as in the reference (opened from its sealed copy);
/// a key stored before keys were sealed shows its public id (`sk-` + 8 hex) instead. Every
/// key route accepts either.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyRead {
    pub id: String,
    pub name: String,
    pub created_by: Option<Uuid>,
    #[serde(serialize_with = "ser_dt")]
    pub created_at: DateTime<Utc>,
}

impl ApiKeyRead {
    /// The wire form of a stored key: `id` is the full key opened from its sealed copy, or
    /// the public id when there is none or it does not open (a changed token key): the key
    /// still works, is still listed and can be rotated, never a 500.
    fn of(k: &ApiKey, cipher: &crate::repo::connections::TokenCipher) -> Self {
        let id = match k.sealed_key.as_deref().map(|s| cipher.open(s)) {
            Some(Ok(full)) if api_key_id(&full).as_deref() == Some(k.id.as_str()) => full,
            Some(_) => {
                tracing::warn!(key = %k.id, "sealed API key does not open; listing its public id");
                k.id.clone()
            }
            None => k.id.clone(),
        };
        Self {
            id,
            name: k.name.clone(),
            created_by: k.created_by,
            created_at: k.created_at,
        }
    }
}

/// `ApplicationRead` (+ `app_secret` on create and rotate only).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationRead {
    pub id: Uuid,
    pub app_id: String,
    pub name: String,
    #[serde(serialize_with = "ser_dt")]
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_secret: Option<String>,
}

impl ApplicationRead {
    fn of(a: &Application, secret: Option<String>) -> Self {
        Self {
            id: a.id,
            app_id: a.app_id.clone(),
            name: a.name.clone(),
            created_at: a.created_at,
            app_secret: secret,
        }
    }
}

/// `UserInvitationCodeRead`.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationCodeRead {
    pub id: Uuid,
    pub code: String,
    pub user_id: Uuid,
    #[serde(serialize_with = "ser_dt")]
    pub expires_at: DateTime<Utc>,
    #[serde(serialize_with = "ser_dt")]
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    pub message: &'static str,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct NameBody {
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ChangePasswordBody {
    pub current_password: Option<String>,
    pub new_password: Option<String>,
    pub confirm_password: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct AppCredentials {
    pub app_id: Option<String>,
    pub app_secret: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RefreshBody {
    pub refresh_token: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RedeemBody {
    pub code: Option<String>,
}

/// `InvitationCodeRedeemResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RedeemResponse {
    #[serde(flatten)]
    pub tokens: TokenResponse,
    pub user_id: Uuid,
}

fn required<T>(v: Option<T>) -> ApiResult<T> {
    v.ok_or_else(|| ApiError::bad_request("Field required"))
}

// ---------- token issuing ----------

async fn issue(
    state: &State,
    kind: RefreshKind,
    sub: Uuid,
    app_id: Option<String>,
) -> ApiResult<TokenResponse> {
    let generation = token_generation(state, kind, sub, app_id.as_deref())
        .await?
        .unwrap_or(0);
    issue_at(state, kind, sub, app_id, generation).await
}

/// The credential generation a refresh token is bound to: a developer token to its
/// developer's password generation; an SDK token to its application's secret (rotating the
/// secret ends the tokens issued under the old one) or, when a developer issued it
/// (`admin:<id>` / `invite:<id>`), to that developer's password generation. `None`: what
/// issued it no longer exists.
async fn token_generation(
    state: &State,
    kind: RefreshKind,
    sub: Uuid,
    app_id: Option<&str>,
) -> ApiResult<Option<u64>> {
    let developer = match (kind, app_id) {
        (RefreshKind::Developer, _) => Some(sub),
        (RefreshKind::Sdk, Some(app)) => match app
            .strip_prefix("admin:")
            .or_else(|| app.strip_prefix("invite:"))
        {
            Some(dev) => match Uuid::parse_str(dev) {
                Ok(id) => Some(id),
                Err(_) => return Ok(None),
            },
            None => {
                return Ok(state.db.application(app).await?.map(|a| {
                    let d = Sha256::digest(a.secret_hash.as_bytes());
                    // Never 0: that marks tokens issued before secrets were tracked.
                    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]).max(1)
                }));
            }
        },
        (RefreshKind::Sdk, None) => return Ok(None),
    };
    let Some(dev) = developer else {
        return Ok(None);
    };
    if state.db.developer(dev).await?.is_none() {
        return Ok(None);
    }
    let g = state.db.developer_token_generation(dev).await?;
    // SDK tokens count from 1: 0 marks those issued before generations were recorded.
    Ok(Some(if kind == RefreshKind::Sdk { g + 1 } else { g }))
}

/// Issues an access and a refresh token bound to `generation`.
async fn issue_at(
    state: &State,
    kind: RefreshKind,
    sub: Uuid,
    app_id: Option<String>,
    generation: u64,
) -> ApiResult<TokenResponse> {
    let now = state.now();
    let access = match (kind, &app_id) {
        (RefreshKind::Sdk, Some(app)) => state.signer.sdk(&sub.to_string(), app, now),
        _ => state.signer.developer(&sub.to_string(), now),
    }
    .map_err(ApiError::internal)?;
    let refresh = format!("rt-{}", random_hex(16));
    let rt = RefreshToken {
        kind,
        sub,
        app_id,
        revoked: false,
        created_at: now,
        generation,
    };
    state.db.create_refresh_token(&refresh, &rt).await?;
    Ok(TokenResponse {
        access_token: access,
        token_type: "bearer",
        refresh_token: Some(refresh),
        expires_in: Some(state.signer.expires_in()),
    })
}

// ---------- developer auth ----------

fn login_failed() -> ApiError {
    ApiError::unauthorized_bearer("Incorrect email or password")
}

/// Too many failed logins for this account or client address.
fn too_many_logins(retry_after: u64) -> Response {
    let mut r = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("Too many failed login attempts, retry in {retry_after} seconds"),
    )
    .into_response();
    r.headers_mut()
        .insert(axum::http::header::RETRY_AFTER, retry_after.into());
    r
}

/// Developer login with form fields `username` and `password`. Failed logins are limited per
/// account and per client address (429 with `Retry-After`); the password hash is checked on
/// the bounded hashing pool.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    responses((status = 200, body = TokenResponse), (status = 401, description = "Incorrect email or password"),
        (status = 429, description = "Too many failed login attempts")))]
pub async fn login(
    St(state): St<State>,
    ext: axum::http::Extensions,
    body: Bytes,
) -> Result<Json<TokenResponse>, Response> {
    let form: HashMap<String, String> =
        serde_urlencoded::from_bytes(&body).map_err(|_| login_failed().into_response())?;
    let (Some(email), Some(pw)) = (form.get("username"), form.get("password")) else {
        return Err(login_failed().into_response());
    };
    if email.is_empty() || pw.is_empty() || form.get("grant_type").is_some_and(|g| g != "password")
    {
        return Err(login_failed().into_response());
    }
    let ip = super::client_ip(&ext);
    state
        .login_limiter
        .attempt(email, ip, state.now())
        .map_err(too_many_logins)?;
    let dev = state
        .db
        .developer_by_email(email)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let ok = match &dev {
        None => {
            password::verify_dummy_pooled(pw.clone())
                .await
                .map_err(IntoResponse::into_response)?;
            false
        }
        Some(d) => password::verify_pooled(pw.clone(), d.password_hash.clone())
            .await
            .map_err(IntoResponse::into_response)?,
    };
    let Some(dev) = dev.filter(|_| ok) else {
        return Err(login_failed().into_response());
    };
    state.login_limiter.succeeded(email, ip);
    Ok(Json(
        issue(&state, RefreshKind::Developer, dev.id, None)
            .await
            .map_err(IntoResponse::into_response)?,
    ))
}

/// Logout (no server-side effect; revoke refresh tokens with `/token/revoke`).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 200, body = MessageResponse)))]
pub async fn logout(_: AuthDeveloper) -> ApiResult<Json<MessageResponse>> {
    Ok(Json(MessageResponse {
        message: "Successfully logged out",
    }))
}

/// Change the caller's password.
#[utoipa::path(post, path = "/api/v1/auth/change-password", tag = "auth", request_body = ChangePasswordBody,
    responses((status = 200, body = MessageResponse), (status = 400)))]
pub async fn change_password(
    St(state): St<State>,
    AuthDeveloper(mut dev): AuthDeveloper,
    body: Bytes,
) -> ApiResult<Json<MessageResponse>> {
    let b: ChangePasswordBody = json_body(&body)?;
    let current = required(b.current_password)?;
    let new = required(b.new_password)?;
    let confirm = required(b.confirm_password)?;
    let min = state.config.min_password_length;
    check_min_len(&new, min)?;
    check_min_len(&confirm, min)?;
    if new != confirm {
        return Err(ApiError::bad_request(
            "Value error, The confirmation password does not match the new password",
        ));
    }
    if !password::verify_pooled(current, dev.password_hash.clone()).await? {
        return Err(ApiError::bad_request("Incorrect current password"));
    }
    dev.password_hash = password::hash_pooled(new)
        .await?
        .map_err(ApiError::internal)?;
    dev.updated_at = state.now();
    let email = dev.email.clone();
    save_developer(&state, &email, &dev).await?;
    // Refresh tokens issued before the change stop working (access tokens run out).
    state.db.revoke_developer_refresh_tokens(dev.id).await?;
    Ok(Json(MessageResponse {
        message: "Password updated successfully",
    }))
}

/// The calling developer.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", responses((status = 200, body = DeveloperRead)))]
pub async fn me(AuthDeveloper(dev): AuthDeveloper) -> ApiResult<Json<DeveloperRead>> {
    Ok(Json((&dev).into()))
}

/// Update the calling developer.
#[utoipa::path(patch, path = "/api/v1/auth/me", tag = "auth", request_body = DeveloperUpdate,
    responses((status = 200, body = DeveloperRead)))]
pub async fn update_me(
    St(state): St<State>,
    AuthDeveloper(dev): AuthDeveloper,
    body: Bytes,
) -> ApiResult<Json<DeveloperRead>> {
    apply_developer_update(&state, dev, &body).await
}

async fn save_developer(state: &State, old_email: &str, d: &Developer) -> ApiResult<()> {
    state
        .db
        .update_developer(old_email, d)
        .await
        .map_err(|e| match e {
            DeveloperWriteError::EmailTaken => {
                ApiError::conflict("A developer with this email already exists")
            }
            DeveloperWriteError::Store(s) => s.into(),
        })
}

async fn apply_developer_update(
    state: &State,
    mut dev: Developer,
    body: &Bytes,
) -> ApiResult<Json<DeveloperRead>> {
    let u: DeveloperUpdate = json_body(body)?;
    check_max_len(u.first_name.as_deref(), 100)?;
    check_max_len(u.last_name.as_deref(), 100)?;
    if let Some(e) = &u.email {
        check_email(e)?;
    }
    if let Some(p) = &u.password {
        check_min_len(p, state.config.min_password_length)?;
    }
    let old_email = dev.email.clone();
    if let Some(v) = u.first_name {
        dev.first_name = Some(v);
    }
    if let Some(v) = u.last_name {
        dev.last_name = Some(v);
    }
    if let Some(v) = u.email {
        dev.email = v;
    }
    let new_password = u.password.is_some();
    if let Some(p) = u.password {
        dev.password_hash = password::hash_pooled(p)
            .await?
            .map_err(ApiError::internal)?;
    }
    dev.updated_at = state.now();
    save_developer(state, &old_email, &dev).await?;
    if new_password {
        state.db.revoke_developer_refresh_tokens(dev.id).await?;
    }
    Ok(Json((&dev).into()))
}

// ---------- developers ----------

async fn find_developer(state: &State, id: Uuid) -> ApiResult<Developer> {
    state
        .db
        .developer(id)
        .await?
        .ok_or_else(|| ApiError::entity_not_found("Developer", id))
}

/// All developers.
#[utoipa::path(get, path = "/api/v1/developers", tag = "developers", responses((status = 200, body = [DeveloperRead])))]
pub async fn list_developers(
    St(state): St<State>,
    _: AuthDeveloper,
) -> ApiResult<Json<Vec<DeveloperRead>>> {
    Ok(Json(
        state
            .db
            .developers()
            .await?
            .iter()
            .map(Into::into)
            .collect(),
    ))
}

/// One developer.
#[utoipa::path(get, path = "/api/v1/developers/{developer_id}", tag = "developers",
    params(("developer_id" = Uuid, Path)), responses((status = 200, body = DeveloperRead), (status = 404)))]
pub async fn get_developer(
    St(state): St<State>,
    _: AuthDeveloper,
    PathId(id): PathId,
) -> ApiResult<Json<DeveloperRead>> {
    Ok(Json((&find_developer(&state, id).await?).into()))
}

/// Update a developer.
#[utoipa::path(patch, path = "/api/v1/developers/{developer_id}", tag = "developers",
    params(("developer_id" = Uuid, Path)), request_body = DeveloperUpdate,
    responses((status = 200, body = DeveloperRead), (status = 404)))]
pub async fn update_developer(
    St(state): St<State>,
    _: AuthDeveloper,
    PathId(id): PathId,
    body: Bytes,
) -> ApiResult<Json<DeveloperRead>> {
    let dev = find_developer(&state, id).await?;
    apply_developer_update(&state, dev, &body).await
}

/// Delete a developer (returns it). A developer who still owns SDK applications gets 409:
/// deleting their apps silently would cut off the mobile apps that use them.
#[utoipa::path(delete, path = "/api/v1/developers/{developer_id}", tag = "developers",
    params(("developer_id" = Uuid, Path)), responses((status = 200, body = DeveloperRead), (status = 404), (status = 409)))]
pub async fn delete_developer(
    St(state): St<State>,
    _: AuthDeveloper,
    PathId(id): PathId,
) -> ApiResult<Json<DeveloperRead>> {
    let dev = find_developer(&state, id).await?;
    let apps = state.db.applications_of(dev.id).await?;
    if !apps.is_empty() {
        return Err(ApiError::conflict(format!(
            "Developer owns {} application(s); delete them before deleting the developer.",
            apps.len()
        )));
    }
    for mut k in state.db.api_keys().await? {
        if k.created_by == Some(dev.id) {
            k.created_by = None;
            state.db.save_api_key(&k).await?;
        }
    }
    // The invitations they sent stay, without their sender (as the reference's SET NULL).
    state.db.clear_inviter(dev.id).await?;
    state.db.delete_developer(&dev).await?;
    Ok(Json((&dev).into()))
}

// ---------- API keys ----------

async fn find_api_key(state: &State, key_or_id: &str) -> ApiResult<ApiKey> {
    let found = match api_key_id(key_or_id) {
        Some(_) if key_or_id.len() > 11 => state.db.verify_api_key(key_or_id).await?,
        Some(_) => state.db.api_key(key_or_id).await?,
        None => None,
    };
    found.ok_or_else(|| ApiError::entity_not_found("Apikey", key_or_id))
}

async fn new_api_key(state: &State, name: String, by: Uuid) -> ApiResult<ApiKeyRead> {
    for _ in 0..5 {
        let full = format!("sk-{}", random_hex(16));
        let Some(id) = api_key_id(&full) else {
            continue;
        };
        let key = ApiKey {
            id,
            key_hash: digest(&full),
            sealed_key: Some(state.cipher.seal(&full)?),
            name: name.clone(),
            created_by: Some(by),
            created_at: state.now(),
        };
        match state.db.create_api_key(&key).await {
            Ok(()) => {
                return Ok(ApiKeyRead {
                    id: full,
                    ..ApiKeyRead::of(&key, &state.cipher)
                });
            }
            Err(crate::store::StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::internal("could not allocate a unique API key id"))
}

/// Every API key of the instance, newest first; `id` is the full key.
#[utoipa::path(get, path = "/api/v1/developer/api-keys", tag = "api-keys", responses((status = 200, body = [ApiKeyRead])))]
pub async fn list_api_keys(
    St(state): St<State>,
    _: AuthDeveloper,
) -> ApiResult<Json<Vec<ApiKeyRead>>> {
    Ok(Json(
        state
            .db
            .api_keys()
            .await?
            .iter()
            .map(|k| ApiKeyRead::of(k, &state.cipher))
            .collect(),
    ))
}

/// Create an API key; the full key is in `id`, shown this once.
#[utoipa::path(post, path = "/api/v1/developer/api-keys", tag = "api-keys", request_body = NameBody,
    responses((status = 201, body = ApiKeyRead)))]
pub async fn create_api_key(
    St(state): St<State>,
    AuthDeveloper(dev): AuthDeveloper,
    body: Bytes,
) -> ApiResult<Response> {
    let b: NameBody = opt_json_body(&body)?;
    let name = b.name.unwrap_or_else(|| "Default".into());
    Ok((
        StatusCode::CREATED,
        Json(new_api_key(&state, name, dev.id).await?),
    )
        .into_response())
}

/// Delete an API key (by full key or public id); returns it.
#[utoipa::path(delete, path = "/api/v1/developer/api-keys/{key_id}", tag = "api-keys",
    params(("key_id" = String, Path)), responses((status = 200, body = ApiKeyRead), (status = 404)))]
pub async fn delete_api_key(
    St(state): St<State>,
    _: AuthDeveloper,
    Path(key_id): Path<String>,
) -> ApiResult<Json<ApiKeyRead>> {
    let key = find_api_key(&state, &key_id).await?;
    state.db.delete_api_key(&key.id).await?;
    Ok(Json(ApiKeyRead::of(&key, &state.cipher)))
}

/// Rename an API key.
#[utoipa::path(patch, path = "/api/v1/developer/api-keys/{key_id}", tag = "api-keys",
    params(("key_id" = String, Path)), request_body = NameBody, responses((status = 200, body = ApiKeyRead), (status = 404)))]
pub async fn rename_api_key(
    St(state): St<State>,
    _: AuthDeveloper,
    Path(key_id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<ApiKeyRead>> {
    let b: NameBody = opt_json_body(&body)?;
    let mut key = find_api_key(&state, &key_id).await?;
    if let Some(name) = b.name {
        key.name = name;
        state.db.save_api_key(&key).await?;
    }
    Ok(Json(ApiKeyRead::of(&key, &state.cipher)))
}

/// Replace an API key with a new one named `Default`; the old key stops working at once.
#[utoipa::path(post, path = "/api/v1/developer/api-keys/{key_id}/rotate", tag = "api-keys",
    params(("key_id" = String, Path)), responses((status = 201, body = ApiKeyRead), (status = 404)))]
pub async fn rotate_api_key(
    St(state): St<State>,
    AuthDeveloper(dev): AuthDeveloper,
    Path(key_id): Path<String>,
) -> ApiResult<Response> {
    let old = find_api_key(&state, &key_id).await?;
    state.db.delete_api_key(&old.id).await?;
    let new = new_api_key(&state, "Default".into(), dev.id).await?;
    Ok((StatusCode::CREATED, Json(new)).into_response())
}

// ---------- applications ----------

fn new_app_secret() -> (String, String) {
    let secret = format!("secret_{}", random_hex(32));
    let hash = digest(&secret);
    (secret, hash)
}

async fn own_application(state: &State, dev: &Developer, app_id: &str) -> ApiResult<Application> {
    match state.db.application(app_id).await? {
        Some(a) if a.developer_id == dev.id => Ok(a),
        _ => Err(ApiError::not_found("Application not found")),
    }
}

/// The caller's SDK applications, newest first.
#[utoipa::path(get, path = "/api/v1/applications", tag = "applications", responses((status = 200, body = [ApplicationRead])))]
pub async fn list_applications(
    St(state): St<State>,
    AuthDeveloper(dev): AuthDeveloper,
) -> ApiResult<Json<Vec<ApplicationRead>>> {
    let apps = state.db.applications_of(dev.id).await?;
    Ok(Json(
        apps.iter().map(|a| ApplicationRead::of(a, None)).collect(),
    ))
}

/// Create an SDK application; `app_secret` is shown this once.
#[utoipa::path(post, path = "/api/v1/applications", tag = "applications", request_body = NameBody,
    responses((status = 201, body = ApplicationRead), (status = 400)))]
pub async fn create_application(
    St(state): St<State>,
    AuthDeveloper(dev): AuthDeveloper,
    body: Bytes,
) -> ApiResult<Response> {
    let b: NameBody = json_body(&body)?;
    let name = required(b.name)?;
    check_max_len(Some(&name), 100)?;
    let (secret, secret_hash) = new_app_secret();
    let app = Application {
        id: Uuid::new_v4(),
        app_id: format!("app_{}", random_hex(16)),
        name,
        secret_hash,
        developer_id: dev.id,
        created_at: state.now(),
    };
    state.db.create_application(&app).await?;
    Ok((
        StatusCode::CREATED,
        Json(ApplicationRead::of(&app, Some(secret))),
    )
        .into_response())
}

/// Delete one of the caller's applications.
#[utoipa::path(delete, path = "/api/v1/applications/{app_id}", tag = "applications",
    params(("app_id" = String, Path)), responses((status = 204), (status = 404)))]
pub async fn delete_application(
    St(state): St<State>,
    AuthDeveloper(dev): AuthDeveloper,
    Path(app_id): Path<String>,
) -> ApiResult<StatusCode> {
    let app = own_application(&state, &dev, &app_id).await?;
    state.db.delete_application(&app.app_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issue a new secret for one of the caller's applications; the old one stops working.
#[utoipa::path(post, path = "/api/v1/applications/{app_id}/rotate-secret", tag = "applications",
    params(("app_id" = String, Path)), responses((status = 200, body = ApplicationRead), (status = 404)))]
pub async fn rotate_application_secret(
    St(state): St<State>,
    AuthDeveloper(dev): AuthDeveloper,
    Path(app_id): Path<String>,
) -> ApiResult<Json<ApplicationRead>> {
    let mut app = own_application(&state, &dev, &app_id).await?;
    let (secret, hash) = new_app_secret();
    app.secret_hash = hash;
    state.db.save_application(&app).await?;
    Ok(Json(ApplicationRead::of(&app, Some(secret))))
}

// ---------- SDK tokens ----------

/// Exchange app credentials (or a developer JWT) for a user-scoped SDK token.
#[utoipa::path(post, path = "/api/v1/users/{user_id}/token", tag = "sdk-tokens", request_body = AppCredentials,
    params(("user_id" = Uuid, Path)),
    responses((status = 200, body = TokenResponse), (status = 400), (status = 401), (status = 404)))]
pub async fn exchange_token(
    St(state): St<State>,
    headers: HeaderMap,
    PathId(user_id): PathId,
    body: Bytes,
) -> ApiResult<Json<TokenResponse>> {
    let creds: AppCredentials = opt_json_body(&body)?;
    let app_claim = match (
        creds.app_id.filter(|s| !s.is_empty()),
        creds.app_secret.filter(|s| !s.is_empty()),
    ) {
        (Some(app_id), Some(secret)) => {
            let app = state.db.application(&app_id).await?;
            match app {
                Some(a) if ct_eq(&a.secret_hash, &digest(&secret)) => a.app_id,
                _ => return Err(ApiError::unauthorized("Invalid app credentials")),
            }
        }
        _ => match guard::optional_developer(&state, &headers).await? {
            Some(dev) => format!("admin:{}", dev.id),
            None => {
                return Err(ApiError::bad_request(
                    "Either app credentials (app_id, app_secret) or admin authentication (Bearer token) is required",
                ));
            }
        },
    };
    if !state.db.user_exists(user_id).await? {
        return Err(ApiError::entity_not_found("User", user_id));
    }
    Ok(Json(
        issue(&state, RefreshKind::Sdk, user_id, Some(app_claim)).await?,
    ))
}

fn invalid_refresh() -> ApiError {
    ApiError::unauthorized_bearer("Invalid or revoked refresh token")
}

/// Rotate a refresh token: the old one is spent, a new access and refresh token come back.
#[utoipa::path(post, path = "/api/v1/token/refresh", tag = "sdk-tokens", request_body = RefreshBody,
    responses((status = 200, body = TokenResponse), (status = 401)))]
pub async fn refresh(St(state): St<State>, body: Bytes) -> ApiResult<Json<TokenResponse>> {
    let b: RefreshBody = json_body(&body)?;
    let token = required(b.refresh_token)?;
    let rt = state
        .db
        .consume_refresh_token(&token)
        .await?
        .ok_or_else(invalid_refresh)?;
    let current = token_generation(&state, rt.kind, rt.sub, rt.app_id.as_deref()).await?;
    let still_valid = match (rt.kind, current) {
        (_, None) => false,
        (RefreshKind::Developer, Some(g)) => g == rt.generation,
        // SDK tokens issued before generations were recorded carry 0: they live on while
        // their issuer exists; every later one is bound to the secret or password it came from.
        (RefreshKind::Sdk, Some(g)) => {
            state.db.user_exists(rt.sub).await? && (rt.generation == 0 || g == rt.generation)
        }
    };
    let Some(generation) = current.filter(|_| still_valid) else {
        return Err(invalid_refresh());
    };
    // Issued with the generation just checked (not read again): a password change or secret
    // rotation racing this refresh still ends the new token at its next refresh.
    Ok(Json(
        issue_at(&state, rt.kind, rt.sub, rt.app_id, generation).await?,
    ))
}

/// Revoke a refresh token.
#[utoipa::path(post, path = "/api/v1/token/revoke", tag = "sdk-tokens", request_body = RefreshBody,
    responses((status = 204), (status = 404)))]
pub async fn revoke(St(state): St<State>, body: Bytes) -> ApiResult<StatusCode> {
    let b: RefreshBody = json_body(&body)?;
    let token = required(b.refresh_token)?;
    match state.db.consume_refresh_token(&token).await? {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(ApiError::not_found("Refresh token not found")),
    }
}

// ---------- invitation codes ----------

const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// Generate a single-use onboarding code for a user (older active codes are revoked).
#[utoipa::path(post, path = "/api/v1/users/{user_id}/invitation-code", tag = "sdk-tokens",
    params(("user_id" = Uuid, Path)), responses((status = 201, body = InvitationCodeRead), (status = 404)))]
pub async fn create_invitation_code(
    St(state): St<State>,
    AuthDeveloper(dev): AuthDeveloper,
    PathId(user_id): PathId,
) -> ApiResult<Response> {
    if !state.db.user_exists(user_id).await? {
        return Err(ApiError::entity_not_found("User", user_id));
    }
    let now = state.now();
    for (item, mut old) in state.db.invitation_codes_of(user_id).await? {
        if old.is_active(now) {
            old.revoked_at = Some(now);
            state.db.update_invitation_code(&item, &old).await?;
        }
    }
    for _ in 0..5 {
        let code = InvitationCode {
            id: Uuid::new_v4(),
            code: random_from(CODE_ALPHABET, 8),
            user_id,
            created_by: dev.id,
            expires_at: now + Duration::days(state.config.user_invitation_code_expire_days),
            created_at: now,
            redeemed_at: None,
            revoked_at: None,
        };
        match state.db.create_invitation_code(&code).await {
            Ok(()) => {
                let read = InvitationCodeRead {
                    id: code.id,
                    code: code.code,
                    user_id,
                    expires_at: code.expires_at,
                    created_at: code.created_at,
                };
                return Ok((StatusCode::CREATED, Json(read)).into_response());
            }
            Err(crate::store::StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::internal(
        "could not allocate a unique invitation code",
    ))
}

/// Redeem an onboarding code for SDK tokens.
#[utoipa::path(post, path = "/api/v1/invitation-code/redeem", tag = "sdk-tokens", request_body = RedeemBody,
    responses((status = 200, body = RedeemResponse), (status = 400), (status = 404)))]
pub async fn redeem_invitation_code(
    St(state): St<State>,
    body: Bytes,
) -> ApiResult<Json<RedeemResponse>> {
    let b: RedeemBody = json_body(&body)?;
    let code = required(b.code)?;
    let valid = code.len() == 8
        && code
            .bytes()
            .all(|c| CODE_ALPHABET.contains(&c) || c == b'I' || c == b'O');
    if !valid {
        return Err(ApiError::bad_request(
            "String should match pattern '^[A-Z2-9]{8}$'",
        ));
    }
    let invalid = || ApiError::not_found("Invalid or expired invitation code");
    let (item, mut c) = state.db.invitation_code(&code).await?.ok_or_else(invalid)?;
    let now = state.now();
    if !c.is_active(now) {
        return Err(invalid());
    }
    c.redeemed_at = Some(now);
    match state.db.update_invitation_code(&item, &c).await {
        Ok(()) => {}
        Err(crate::store::StoreError::ConditionFailed) => return Err(invalid()),
        Err(e) => return Err(e.into()),
    }
    if !state.db.user_exists(c.user_id).await? {
        return Err(invalid());
    }
    let tokens = issue(
        &state,
        RefreshKind::Sdk,
        c.user_id,
        Some(format!("invite:{}", c.created_by)),
    )
    .await?;
    Ok(Json(RedeemResponse {
        tokens,
        user_id: c.user_id,
    }))
}

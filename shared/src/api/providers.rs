//! Providers, OAuth and connections (api.md §10–§11): the provider list and its settings,
//! provider icons, the OAuth authorize/callback flow (random single-use state bound to user and
//! provider, PKCE where the provider uses it, tokens encrypted at rest), and connections.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State as St};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::params::{Params, QueryFirst, required};
use super::wire::{ser_dt, ser_opt_dt};
use super::{State, json_body, parse_uuid};
use crate::auth::guard::{self, AuthDeveloper, Caller};
use crate::domain::provider::{Provider, ProviderInfo};
use crate::domain::states::ConnectionStatus;
use crate::error::{ApiError, ApiResult};
use crate::providers;
use crate::providers::connect::{self, CallbackOutcome};
use crate::repo::connections::ProviderSetting;
use crate::services::connections::{self, pull_provider};

/// The routes of this group with their OpenAPI operations (paths and methods come from
/// each handler's `#[utoipa::path]`).
pub fn openapi_router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .route("/static/provider-icons/{name}", get(icon))
        .routes(routes!(list_providers, bulk_update_providers))
        .routes(routes!(update_provider))
        .routes(routes!(oauth_success))
        .routes(routes!(oauth_error))
        .routes(routes!(authorize))
        .routes(routes!(list_connections))
        .routes(routes!(disconnect))
        .routes(routes!(disconnect_and_delete))
        .routes(routes!(trigger_sync))
        .routes(routes!(trigger_historical))
        .routes(routes!(vendor_workouts))
        .routes(routes!(vendor_workout))
}

/// The routes of this group with their OpenAPI operations (paths and methods come from
/// each handler's `#[utoipa::path]`).
pub fn callback_openapi_router() -> OpenApiRouter<State> {
    OpenApiRouter::new().routes(routes!(callback))
}

// ---------------------------------------------------------------------------------------------
// Provider list and settings
// ---------------------------------------------------------------------------------------------

/// `ProviderSettingRead`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProviderSettingRead {
    pub provider: &'static str,
    pub name: &'static str,
    pub has_cloud_api: bool,
    pub is_enabled: bool,
    pub icon_url: String,
    pub live_sync_mode: Option<String>,
    pub live_sync_configurable: bool,
    pub data_granularity: Option<String>,
}

fn setting_read(
    state: &State,
    p: &ProviderInfo,
    s: Option<&ProviderSetting>,
) -> ProviderSettingRead {
    let configured = !p.has_cloud_api || state.config.oauth.contains_key(p.key);
    ProviderSettingRead {
        provider: p.key,
        name: p.name,
        has_cloud_api: p.has_cloud_api,
        is_enabled: configured && s.and_then(|s| s.is_enabled).unwrap_or(true),
        icon_url: p.icon_url(),
        live_sync_mode: s
            .and_then(|s| s.live_sync_mode.clone())
            .or_else(|| p.default_live_sync_mode().map(str::to_string)),
        live_sync_configurable: p.live_sync_configurable(),
        data_granularity: s.and_then(|s| s.data_granularity.clone()),
    }
}

async fn all_settings(state: &State) -> ApiResult<Vec<ProviderSettingRead>> {
    let stored = state.db.provider_settings().await?;
    Ok(Provider::ALL
        .iter()
        .map(|p| setting_read(state, p.info(), stored.get(p.as_str())))
        .collect())
}

/// Every provider with its settings; enabled only where credentials are configured.
#[utoipa::path(get, path = "/api/v1/oauth/providers", tag = "providers",
    params(("enabled_only" = Option<bool>, Query), ("cloud_only" = Option<bool>, Query)),
    responses((status = 200, body = [ProviderSettingRead])))]
pub async fn list_providers(
    St(state): St<State>,
    p: Params,
) -> ApiResult<Json<Vec<ProviderSettingRead>>> {
    let (enabled_only, cloud_only) = (p.bool("enabled_only", false)?, p.bool("cloud_only", false)?);
    let mut list = all_settings(&state).await?;
    list.retain(|s| (!enabled_only || s.is_enabled) && (!cloud_only || s.has_cloud_api));
    Ok(Json(list))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ProviderUpdate {
    pub is_enabled: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    pub live_sync_mode: Option<Option<String>>,
    pub data_granularity: Option<String>,
}

/// Distinguishes an explicit `null` from an absent field.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// Update one provider's settings.
#[utoipa::path(put, path = "/api/v1/oauth/providers/{provider}", tag = "providers",
    params(("provider" = String, Path)), request_body = ProviderUpdate,
    responses((status = 200, body = ProviderSettingRead), (status = 400)))]
pub async fn update_provider(
    St(state): St<State>,
    _: AuthDeveloper,
    Path(provider): Path<String>,
    body: Bytes,
) -> ApiResult<Json<ProviderSettingRead>> {
    let info = provider
        .parse::<Provider>()
        .map(Provider::info)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let u: ProviderUpdate = json_body(&body)?;
    let mode = match u.live_sync_mode {
        Some(None) => {
            return Err(ApiError::bad_request(
                "Value error, live_sync_mode cannot be set to null; omit the field to leave it unchanged",
            ));
        }
        Some(Some(m)) if m != "pull" && m != "webhook" => {
            return Err(ApiError::bad_request("Input should be 'pull' or 'webhook'"));
        }
        Some(Some(m)) => Some(m),
        None => None,
    };
    if mode.is_some() && !info.live_sync_configurable() {
        return Err(ApiError::bad_request(format!(
            "Provider '{provider}' does not support live sync mode configuration"
        )));
    }
    if let Some(g) = &u.data_granularity
        && !["raw", "hourly", "daily"].contains(&g.as_str())
    {
        return Err(ApiError::bad_request(
            "Input should be 'raw', 'hourly' or 'daily'",
        ));
    }
    let stored = state.db.provider_settings().await?;
    let old = stored.get(info.key).cloned().unwrap_or_default();
    let new = ProviderSetting {
        is_enabled: Some(u.is_enabled.or(old.is_enabled).unwrap_or(true)),
        live_sync_mode: mode
            .or(old.live_sync_mode)
            .or_else(|| info.default_live_sync_mode().map(str::to_string)),
        data_granularity: u.data_granularity.or(old.data_granularity),
    };
    state.db.save_provider_setting(info.key, &new).await?;
    Ok(Json(setting_read(&state, info, Some(&new))))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct BulkProviders {
    pub providers: HashMap<String, bool>,
}

/// Enable or disable several providers.
#[utoipa::path(put, path = "/api/v1/oauth/providers", tag = "providers", request_body = BulkProviders,
    responses((status = 200, body = [ProviderSettingRead]), (status = 400)))]
pub async fn bulk_update_providers(
    St(state): St<State>,
    _: AuthDeveloper,
    body: Bytes,
) -> ApiResult<Json<Vec<ProviderSettingRead>>> {
    let b: BulkProviders = json_body(&body)?;
    for key in b.providers.keys() {
        if let Err(e) = key.parse::<Provider>() {
            return Err(ApiError::bad_request(e.to_string()));
        }
    }
    let stored = state.db.provider_settings().await?;
    for (key, enabled) in &b.providers {
        let mut s = stored.get(key).cloned().unwrap_or_default();
        s.is_enabled = Some(*enabled);
        state.db.save_provider_setting(key, &s).await?;
    }
    Ok(Json(all_settings(&state).await?))
}

/// Provider icons (simple monogram SVGs).
pub async fn icon(Path(name): Path<String>) -> Response {
    let Some(key) = name.strip_suffix(".svg") else {
        return ApiError::not_found("Not Found").into_response();
    };
    let Ok(p) = key.parse::<Provider>().map(Provider::info) else {
        return ApiError::not_found("Not Found").into_response();
    };
    let letter: String = p.name.chars().take(1).collect();
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 64 64\" role=\"img\" aria-label=\"{name}\">\
         <rect width=\"64\" height=\"64\" rx=\"14\" fill=\"#1f2937\"/>\
         <text x=\"32\" y=\"42\" font-family=\"sans-serif\" font-size=\"30\" text-anchor=\"middle\" fill=\"#fff\">{letter}</text></svg>",
        name = p.name
    );
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("image/svg+xml"),
        )],
        svg,
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// OAuth
// ---------------------------------------------------------------------------------------------

/// Who may start a connection: an API key, a developer token, or an SDK token of the user
/// named by `user_id` (unless `OAUTH_PUBLIC_AUTHORIZE` opens the route like the reference's).
async fn authorize_guard(state: &State, headers: &HeaderMap, user: Option<&str>) -> ApiResult<()> {
    if state.config.oauth_public_authorize {
        return Ok(());
    }
    if let Some(c) = guard::sdk_claims(state, headers) {
        return if user == Some(c.sub.as_str()) {
            Ok(())
        } else {
            Err(ApiError::forbidden("Token does not match user_id"))
        };
    }
    guard::api_key_or_developer(state, headers)
        .await
        .map(|_| ())
}

/// `{authorization_url, state}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizeResponse {
    pub authorization_url: String,
    pub state: String,
}

/// The query of the authorize route.
#[derive(Debug, Deserialize)]
pub struct AuthorizeQuery {
    pub user_id: Option<String>,
    pub redirect_uri: Option<String>,
}

/// Start an OAuth connection for a user.
#[utoipa::path(get, path = "/api/v1/oauth/{provider}/authorize", tag = "oauth",
    params(("provider" = String, Path), ("user_id" = Uuid, Query), ("redirect_uri" = Option<String>, Query)),
    responses((status = 200, body = AuthorizeResponse), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn authorize(
    St(state): St<State>,
    headers: HeaderMap,
    Path(provider): Path<String>,
    QueryFirst(q): QueryFirst<AuthorizeQuery>,
) -> ApiResult<Json<AuthorizeResponse>> {
    authorize_guard(&state, &headers, q.user_id.as_deref()).await?;
    let (kind, client) = connect::oauth_provider(&state, &provider)?;
    let user = parse_uuid(required("user_id", q.user_id.as_deref())?)?;
    let a = connect::authorize(&state, kind, &client, user, q.redirect_uri.as_deref()).await?;
    Ok(Json(AuthorizeResponse {
        authorization_url: a.url,
        state: a.state,
    }))
}

fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn error_redirect(message: &str) -> Response {
    let q = serde_urlencoded::to_string([("message", message)]).unwrap_or_default();
    see_other(&format!("/api/v1/oauth/error?{q}"))
}

/// The query the provider sends the browser back with.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// The provider sends the browser back here.
#[utoipa::path(get, path = "/api/v1/oauth/{provider}/callback", tag = "oauth",
    params(("provider" = String, Path), ("code" = Option<String>, Query), ("state" = Option<String>, Query),
        ("error" = Option<String>, Query)),
    responses((status = 303, description = "to the redirect_uri, the success page or the error page"), (status = 400)))]
pub async fn callback(
    St(state): St<State>,
    Path(provider): Path<String>,
    QueryFirst(q): QueryFirst<CallbackQuery>,
) -> ApiResult<Response> {
    if let Some(err) = &q.error {
        let desc = q.error_description.as_deref().unwrap_or("Unknown error");
        return Ok(error_redirect(&format!("{err}: {desc}")));
    }
    let (Some(code), Some(st)) = (&q.code, &q.state) else {
        return Ok(error_redirect("Missing OAuth parameters"));
    };
    Ok(
        match connect::complete(&state, &provider, code, st).await? {
            CallbackOutcome::Failed(message) => error_redirect(&message),
            CallbackOutcome::Connected {
                redirect_uri: Some(uri),
                ..
            } => see_other(&uri),
            CallbackOutcome::Connected {
                provider, user_id, ..
            } => see_other(&format!(
                "/api/v1/oauth/success?provider={provider}&user_id={user_id}"
            )),
        },
    )
}

/// The query of the success page.
#[derive(Debug, Deserialize)]
pub struct SuccessQuery {
    pub provider: Option<String>,
    pub user_id: Option<String>,
}

/// Default landing page after a successful connection.
#[utoipa::path(get, path = "/api/v1/oauth/success", tag = "oauth",
    params(("provider" = String, Query), ("user_id" = String, Query)), responses((status = 200)))]
pub async fn oauth_success(QueryFirst(q): QueryFirst<SuccessQuery>) -> ApiResult<Json<Value>> {
    let provider = required("provider", q.provider.as_deref())?;
    let user = required("user_id", q.user_id.as_deref())?;
    Ok(Json(
        json!({"success": true, "message": format!("Successfully connected to {provider}"), "user_id": user, "provider": provider}),
    ))
}

/// The query of the error page.
#[derive(Debug, Deserialize)]
pub struct ErrorPageQuery {
    pub message: Option<String>,
}

/// Default landing page after a failed connection.
#[utoipa::path(get, path = "/api/v1/oauth/error", tag = "oauth", params(("message" = Option<String>, Query)), responses((status = 200)))]
pub async fn oauth_error(QueryFirst(q): QueryFirst<ErrorPageQuery>) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({"success": false, "message": q.message.as_deref().unwrap_or("OAuth authentication failed")}),
    ))
}

// ---------------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------------

/// `UserConnectionWithCapabilities` (tokens are never returned).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConnectionRead {
    pub user_id: Uuid,
    pub provider: String,
    pub provider_user_id: Option<String>,
    pub provider_username: Option<String>,
    pub scope: Option<String>,
    pub id: Uuid,
    pub status: String,
    #[serde(serialize_with = "ser_opt_dt")]
    pub last_synced_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "ser_dt")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "ser_dt")]
    pub updated_at: DateTime<Utc>,
    pub icon_url: Option<String>,
    pub max_historical_days: Option<u32>,
    pub rest_pull: bool,
    pub webhook_stream: bool,
    pub webhook_ping: bool,
    pub webhook_callback: bool,
    pub live_sync_mode: Option<String>,
    pub linked_user_ids: Vec<Uuid>,
}

/// The user's provider connections, newest first (all statuses).
#[utoipa::path(get, path = "/api/v1/users/{user_id}/connections", tag = "connections",
    params(("user_id" = Uuid, Path)), responses((status = 200, body = [ConnectionRead])))]
pub async fn list_connections(
    St(state): St<State>,
    _: Caller,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Vec<ConnectionRead>>> {
    let user = parse_uuid(&user_id)?;
    let out = connections::list(&state, user)
        .await?
        .into_iter()
        .map(|v| {
            let (c, info) = (v.conn, v.info);
            ConnectionRead {
                user_id: c.user_id,
                provider: c.provider.to_string(),
                provider_user_id: c.provider_user_id,
                provider_username: c.provider_username,
                scope: c.scope,
                id: c.id,
                status: c.status.to_string(),
                last_synced_at: c.last_synced_at,
                created_at: c.created_at,
                updated_at: c.updated_at,
                icon_url: Some(info.icon_url()),
                max_historical_days: info.max_historical_days,
                rest_pull: info.rest_pull,
                webhook_stream: info.webhook_stream,
                webhook_ping: info.webhook_ping,
                webhook_callback: info.webhook_callback,
                live_sync_mode: v.live_sync_mode,
                linked_user_ids: v.linked_user_ids,
            }
        })
        .collect();
    Ok(Json(out))
}

/// Disconnect a provider (idempotent): tokens are dropped, the row stays `revoked`.
#[utoipa::path(delete, path = "/api/v1/users/{user_id}/connections/{provider}", tag = "connections",
    params(("user_id" = Uuid, Path), ("provider" = String, Path)), responses((status = 204), (status = 404)))]
pub async fn disconnect(
    St(state): St<State>,
    _: Caller,
    Path((user_id, provider)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    connect::disconnect(&state, parse_uuid(&user_id)?, &provider).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Disconnect and delete every sample, event and score that came from this provider.
#[utoipa::path(delete, path = "/api/v1/users/{user_id}/connections/{provider}/data", tag = "connections",
    params(("user_id" = Uuid, Path), ("provider" = String, Path)), responses((status = 204), (status = 404)))]
pub async fn disconnect_and_delete(
    St(state): St<State>,
    _: Caller,
    Path((user_id, provider)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    connect::disconnect_and_delete(&state, parse_uuid(&user_id)?, &provider).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Sync triggers
// ---------------------------------------------------------------------------------------------

/// Queue (default) or run a pull sync of one connection.
#[utoipa::path(post, path = "/api/v1/providers/{provider}/users/{user_id}/sync", tag = "sync",
    params(("provider" = String, Path), ("user_id" = Uuid, Path), ("async" = Option<bool>, Query),
        ("summary_start_time" = Option<String>, Query), ("summary_end_time" = Option<String>, Query)),
    responses((status = 200), (status = 400), (status = 404), (status = 501)))]
pub async fn trigger_sync(
    St(state): St<State>,
    _: Caller,
    Path((provider, user_id)): Path<(String, String)>,
    p: Params,
) -> ApiResult<Json<Value>> {
    let user = parse_uuid(&user_id)?;
    let (kind, info) = pull_provider(&provider)?;
    let run_async = p.bool("async", true)?;
    if run_async {
        let custom: Vec<String> = [
            "data_type",
            "since",
            "limit",
            "offset",
            "filter_by_modification_time",
            "samples",
            "zones",
            "route",
        ]
        .iter()
        .filter(|k| p.get(k).is_some())
        .map(|k| format!("'{k}'"))
        .collect();
        if !custom.is_empty() {
            return Err(ApiError::bad_request(format!(
                "Parameters [{}] are not supported in async mode. Use async=false or omit provider-specific parameters.",
                custom.join(", ")
            )));
        }
    }
    let conn = connections::active_connection(&state, user, info).await?;
    let start = p.opt_datetime("summary_start_time")?.map(|d| d.at);
    let end = p.opt_datetime("summary_end_time")?.map(|d| d.at);
    let (start, end) = connections::sync_window(&conn, state.now(), start, end)?;
    if run_async {
        connections::queue_sync(&state, user, kind, start, end).await?;
        return Ok(Json(json!({
            "success": true, "async": true, "task_id": Uuid::new_v4(),
            "message": format!("Sync task queued for {}. Check task status for results.", info.key),
        })));
    }
    let status = connections::run_sync(&state, user, info, start, end).await?;
    Ok(Json(
        json!({"success": status == Some(ConnectionStatus::Active), "details": {"all": {"status": status.map_or("", ConnectionStatus::as_str)}}}),
    ))
}

/// Queue a historical backfill of `days` (default 90, 1–365).
#[utoipa::path(post, path = "/api/v1/providers/{provider}/users/{user_id}/sync/historical", tag = "sync",
    params(("provider" = String, Path), ("user_id" = Uuid, Path), ("days" = Option<i64>, Query)),
    responses((status = 200), (status = 400), (status = 404), (status = 501)))]
pub async fn trigger_historical(
    St(state): St<State>,
    _: Caller,
    Path((provider, user_id)): Path<(String, String)>,
    p: Params,
) -> ApiResult<Json<Value>> {
    let user = parse_uuid(&user_id)?;
    let info = Provider::parse_path(&provider)
        .map(Provider::info)
        .map_err(ApiError::bad_request)?;
    if !info.has_cloud_api {
        return Err(ApiError::bad_request(format!(
            "Provider '{provider}' does not support historical sync."
        )));
    }
    let (kind, info) = pull_provider(&provider)?;
    let days = p.int("days", 90, 1, 365)?;
    match connections::queue_historical(&state, user, kind, days).await? {
        // Garmin ignores `days`: backfill requests for its 30 days, the data arrives by push.
        connections::Backfill::Webhook => Ok(Json(json!({
            "success": true, "provider": info.key, "user_id": user, "method": "webhook_backfill",
            "task_id": Uuid::new_v4(),
            "message": "Garmin 30-day backfill started. Progress available via backfill/status.",
        }))),
        connections::Backfill::Pull { start, end } => {
            let iso = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string();
            Ok(Json(json!({
                "success": true, "provider": info.key, "user_id": user, "method": "pull_api", "task_id": Uuid::new_v4(),
                "message": format!("Historical sync queued for {days} days of {} data.", info.key),
                "days": days, "start_date": iso(start), "end_date": iso(end),
            })))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Vendor pass-through (#52, #53)
// ---------------------------------------------------------------------------------------------

/// The pass-through query (api.md §12): Polar's flags on both routes, the list options on #52.
fn vendor_options(
    p: &Params,
    now: DateTime<Utc>,
    list: bool,
) -> ApiResult<providers::VendorOptions> {
    let mut o = providers::VendorOptions::at(now);
    if list {
        o.since = p.int("since", 0, i64::MIN, i64::MAX)?;
        o.limit = p.int("limit", 50, i64::MIN, 100)?;
        o.offset = p.int("offset", 0, i64::MIN, i64::MAX)?;
        o.filter_by_modification_time = p.bool("filter_by_modification_time", true)?;
    }
    o.samples = p.bool("samples", false)?;
    o.zones = p.bool("zones", false)?;
    o.route = p.bool("route", false)?;
    if list {
        o.start = p.opt_datetime("summary_start_time")?.map(|d| d.at);
        o.end = p.opt_datetime("summary_end_time")?.map(|d| d.at);
        if let (Some(a), Some(b)) = (o.start, o.end)
            && a >= b
        {
            return Err(ApiError::bad_request(
                "summary_start_time must be before summary_end_time",
            ));
        }
    }
    Ok(o)
}

/// Auth, provider, user and query of a pass-through call; 400 for providers without a
/// workouts API.
async fn vendor_request(
    state: &State,
    provider: &str,
    user_id: &str,
    p: &Params,
    list: bool,
) -> ApiResult<(Provider, Uuid, providers::VendorOptions)> {
    let kind = Provider::parse_path(provider).map_err(ApiError::bad_request)?;
    let info = kind.info();
    let user = parse_uuid(user_id)?;
    let opts = vendor_options(p, state.now(), list)?;
    if !info.vendor_workouts {
        return Err(ApiError::bad_request(format!(
            "Provider '{}' does not support workouts",
            info.key
        )));
    }
    Ok((kind, user, opts))
}

/// A failed pass-through call as an answer: 404 without an active connection, the provider's
/// own 4xx with its text, 401 when it no longer accepts the grant, 502 when it is unreachable
/// or unreadable.
fn vendor_error(
    info: &ProviderInfo,
    user: Uuid,
    e: crate::providers::sync::ConnectionCallError,
) -> ApiError {
    use crate::providers::sync::{ConnectionCallError as E, FetchError as F};
    let name = info.name;
    match e {
        E::NotConnected => ApiError::not_found(format!(
            "No active connection found for user {user} and provider '{}'",
            info.key
        )),
        E::NotConfigured => ApiError::bad_request(format!(
            "Provider '{0}' is not configured: set {1}_CLIENT_ID and {1}_CLIENT_SECRET",
            info.key,
            info.key.to_uppercase()
        )),
        E::Revoked => ApiError::unauthorized(format!(
            "{name} refused the stored grant; the connection is revoked. Please re-authorize."
        )),
        E::Fetch(F::Unauthorized) => ApiError::unauthorized(format!(
            "{name} authorization expired. Please re-authorize."
        )),
        E::Fetch(F::Refused(status, text)) => match StatusCode::from_u16(status) {
            Ok(s) if s.is_client_error() => ApiError::new(s, format!("{name} API error: {text}")),
            _ => ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("{name} API error: HTTP {status}: {text}"),
            ),
        },
        E::Fetch(F::Transient(m)) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("{name} API is unavailable, retry later: {m}"),
        ),
        E::Fetch(F::Permanent(m)) => {
            ApiError::new(StatusCode::BAD_GATEWAY, format!("{name} API error: {m}"))
        }
        E::Store(e) => e.into(),
    }
}

/// The provider's own workout list for the user, its JSON unmodified.
#[utoipa::path(get, path = "/api/v1/providers/{provider}/users/{user_id}/workouts", tag = "sync",
    params(("provider" = String, Path), ("user_id" = Uuid, Path),
        ("since" = Option<i64>, Query), ("limit" = Option<i64>, Query, maximum = 100),
        ("offset" = Option<i64>, Query), ("filter_by_modification_time" = Option<bool>, Query),
        ("samples" = Option<bool>, Query), ("zones" = Option<bool>, Query), ("route" = Option<bool>, Query),
        ("summary_start_time" = Option<String>, Query), ("summary_end_time" = Option<String>, Query)),
    responses((status = 200, description = "The provider's JSON (object or array)"), (status = 400),
        (status = 401), (status = 404), (status = 502)))]
pub async fn vendor_workouts(
    St(state): St<State>,
    _: Caller,
    Path((provider, user_id)): Path<(String, String)>,
    p: Params,
) -> ApiResult<Json<Value>> {
    let (kind, user, opts) = vendor_request(&state, &provider, &user_id, &p, true).await?;
    let info = kind.info();
    crate::providers::sync::with_connection_token(&state, user, info.key, move |f| {
        let o = opts.clone();
        Box::pin(async move { providers::integration(kind).vendor_workouts(f, &o).await })
    })
    .await
    .map(Json)
    .map_err(|e| vendor_error(info, user, e))
}

/// One workout from the provider's own API, its JSON unmodified.
#[utoipa::path(get, path = "/api/v1/providers/{provider}/users/{user_id}/workouts/{workout_id}", tag = "sync",
    params(("provider" = String, Path), ("user_id" = Uuid, Path), ("workout_id" = String, Path),
        ("samples" = Option<bool>, Query), ("zones" = Option<bool>, Query), ("route" = Option<bool>, Query)),
    responses((status = 200, description = "The provider's JSON"), (status = 400), (status = 401),
        (status = 404), (status = 502)))]
pub async fn vendor_workout(
    St(state): St<State>,
    _: Caller,
    Path((provider, user_id, workout_id)): Path<(String, String, String)>,
    p: Params,
) -> ApiResult<Json<Value>> {
    let (kind, user, opts) = vendor_request(&state, &provider, &user_id, &p, false).await?;
    let info = kind.info();
    if !info.vendor_workout_detail {
        return Err(ApiError::bad_request(format!(
            "Provider '{}' does not support single workouts",
            info.key
        )));
    }
    if workout_id.trim().is_empty() || workout_id.chars().all(|c| c == '.') {
        return Err(ApiError::bad_request(format!(
            "Invalid workout_id: '{workout_id}'"
        )));
    }
    crate::providers::sync::with_connection_token(&state, user, info.key, move |f| {
        let (o, id) = (opts.clone(), workout_id.clone());
        Box::pin(async move {
            providers::integration(kind)
                .vendor_workout(f, &id, &o)
                .await
        })
    })
    .await
    .map(Json)
    .map_err(|e| vendor_error(info, user, e))
}

//! Webhook subscription management (api.md §15.3, developer auth): our callback URL registered
//! at Polar, Oura, Strava and Google. A signing secret the provider hands out (Polar) is kept
//! encrypted and verifies that provider's webhooks from then on.

use axum::Json;
use axum::extract::{Path, State as St};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::State;
use super::params::{QueryFirst, required};
use crate::auth::guard::AuthDeveloper;
use crate::domain::provider::Provider;
use crate::error::{ApiError, ApiResult};
use crate::providers::subscriptions::{SubscriptionCtx, SubscriptionError, SubscriptionOp};

/// A provider path value of these routes (404 for anything else).
fn known(provider: &str) -> ApiResult<Provider> {
    provider
        .parse::<Provider>()
        .map_err(|_| ApiError::not_found(format!("Unknown provider: '{provider}'")))
}

/// The routes of this group with their OpenAPI operations (paths and methods come from
/// each handler's `#[utoipa::path]`).
pub fn openapi_router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(list, register))
        .routes(routes!(renew))
        .routes(routes!(get_one, update, delete_one))
        .routes(routes!(webhook_url))
}

/// Builds the operation from the request and runs it (the routes authenticate the developer
/// first, as their extractor, so 401 comes before any 400).
async fn run(
    state: &State,
    provider: &str,
    op: impl FnOnce() -> ApiResult<SubscriptionOp>,
) -> ApiResult<Value> {
    let op = op()?;
    let provider = known(provider)?;
    let info = provider.info();
    if !info.subscriptions {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "Provider does not support webhook subscription management",
        ));
    }
    let client = state.config.oauth.get(info.key).ok_or_else(|| {
        ApiError::bad_request(format!(
            "Provider '{}' is not configured: set {}_CLIENT_ID and {}_CLIENT_SECRET",
            info.key,
            info.key.to_uppercase(),
            info.key.to_uppercase()
        ))
    })?;
    let ctx = SubscriptionCtx {
        http: &state.http,
        client,
        settings: &state.config.provider_settings,
        secret_key: &state.config.secret_key,
        timeout: std::time::Duration::from_secs(state.config.provider_timeout_seconds),
        api_base: &state.config.api_base_url,
    };
    let op_name = op.name();
    let result = crate::providers::integration(provider)
        .subscriptions(&ctx, op)
        .await
        .map_err(|e| {
            tracing::warn!(
                provider = info.key,
                op = op_name,
                "subscription call failed: {e}"
            );
            match e {
                SubscriptionError::NotSupported(m) => ApiError::new(StatusCode::NOT_IMPLEMENTED, m),
                SubscriptionError::Config(m) => ApiError::bad_request(m),
                SubscriptionError::Upstream(m) => ApiError::new(StatusCode::BAD_GATEWAY, m),
            }
        })?;
    if let Some(secret) = &result.signing_secret {
        state
            .db
            .save_webhook_secret(info.key, &state.cipher.seal(secret)?)
            .await?;
        tracing::info!(provider = info.key, "webhook signing secret stored");
    }
    Ok(result.body)
}

/// The query of the routes that register or move a subscription.
#[derive(Debug, Deserialize)]
pub struct CallbackUrlQuery {
    pub callback_url: Option<String>,
}

fn callback_url(q: &CallbackUrlQuery) -> ApiResult<String> {
    let url = required("callback_url", q.callback_url.as_deref())?.to_string();
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(ApiError::bad_request(
            "callback_url must be an http or https URL",
        ));
    }
    Ok(url)
}

/// The provider's subscriptions.
#[utoipa::path(get, path = "/api/v1/providers/{provider}/webhooks/subscriptions", tag = "webhooks",
    params(("provider" = String, Path)),
    responses((status = 200, description = "{subscriptions: [...]}"), (status = 404), (status = 501)))]
pub async fn list(
    St(state): St<State>,
    _: AuthDeveloper,
    Path(provider): Path<String>,
) -> ApiResult<Json<Value>> {
    let body = run(&state, &provider, || Ok(SubscriptionOp::List)).await?;
    Ok(Json(json!({ "subscriptions": body })))
}

/// Registers `callback_url` for the provider's notifications.
#[utoipa::path(post, path = "/api/v1/providers/{provider}/webhooks/subscriptions", tag = "webhooks",
    params(("provider" = String, Path), ("callback_url" = String, Query)),
    responses((status = 200, description = "{subscriptions: <provider result>}"), (status = 400), (status = 501)))]
pub async fn register(
    St(state): St<State>,
    _: AuthDeveloper,
    Path(provider): Path<String>,
    QueryFirst(q): QueryFirst<CallbackUrlQuery>,
) -> ApiResult<Json<Value>> {
    let body = run(&state, &provider, || {
        Ok(SubscriptionOp::Register {
            callback_url: callback_url(&q)?,
        })
    })
    .await?;
    Ok(Json(json!({ "subscriptions": body })))
}

/// Renews expiring subscriptions (Oura).
#[utoipa::path(post, path = "/api/v1/providers/{provider}/webhooks/subscriptions/renew", tag = "webhooks",
    params(("provider" = String, Path)), responses((status = 200), (status = 501)))]
pub async fn renew(
    St(state): St<State>,
    _: AuthDeveloper,
    Path(provider): Path<String>,
) -> ApiResult<Json<Value>> {
    let body = run(&state, &provider, || Ok(SubscriptionOp::Renew)).await?;
    Ok(Json(json!({ "renewed": body })))
}

/// One subscription.
#[utoipa::path(get, path = "/api/v1/providers/{provider}/webhooks/subscriptions/{id}", tag = "webhooks",
    params(("provider" = String, Path), ("id" = String, Path)), responses((status = 200), (status = 501)))]
pub async fn get_one(
    St(state): St<State>,
    _: AuthDeveloper,
    Path((provider, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let body = run(&state, &provider, || Ok(SubscriptionOp::Get { id })).await?;
    Ok(Json(json!({ "subscription": body })))
}

/// Points a subscription at a new callback URL.
#[utoipa::path(put, path = "/api/v1/providers/{provider}/webhooks/subscriptions/{id}", tag = "webhooks",
    params(("provider" = String, Path), ("id" = String, Path), ("callback_url" = String, Query)),
    responses((status = 200), (status = 400), (status = 501)))]
pub async fn update(
    St(state): St<State>,
    _: AuthDeveloper,
    Path((provider, id)): Path<(String, String)>,
    QueryFirst(q): QueryFirst<CallbackUrlQuery>,
) -> ApiResult<Json<Value>> {
    let body = run(&state, &provider, || {
        Ok(SubscriptionOp::Update {
            id,
            callback_url: callback_url(&q)?,
        })
    })
    .await?;
    Ok(Json(json!({ "updated": body })))
}

/// Deletes a subscription.
#[utoipa::path(delete, path = "/api/v1/providers/{provider}/webhooks/subscriptions/{id}", tag = "webhooks",
    params(("provider" = String, Path), ("id" = String, Path)), responses((status = 200), (status = 501)))]
pub async fn delete_one(
    St(state): St<State>,
    _: AuthDeveloper,
    Path((provider, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let body = run(&state, &provider, || Ok(SubscriptionOp::Delete { id })).await?;
    Ok(Json(json!({ "deleted": body })))
}

/// The exact URL the provider must call for this installation (developer auth): for Strava and
/// Garmin, which sign nothing, it carries the webhook URL secret (Garmin's endpoints are
/// entered by hand in its developer portal; Strava's is registered by the subscription route).
#[utoipa::path(get, path = "/api/v1/providers/{provider}/webhooks/url", tag = "webhooks",
    params(("provider" = String, Path)),
    responses((status = 200, description = "{provider, webhook_url, url_secret}"), (status = 400, description = "the provider has no webhooks"),
        (status = 401), (status = 404)))]
pub async fn webhook_url(
    St(state): St<State>,
    _: AuthDeveloper,
    Path(provider): Path<String>,
) -> ApiResult<Json<Value>> {
    let info = known(&provider)?.info();
    if !info.inbound_webhook {
        return Err(ApiError::bad_request(format!(
            "Provider '{}' does not support webhook notifications",
            info.key
        )));
    }
    Ok(Json(json!({
        "provider": info.key,
        "webhook_url": super::webhooks::webhook_url(&state.config, info.key),
        "url_secret": crate::keys::needs_url_secret(info.key),
    })))
}

//! Inbound provider webhooks (api.md §15): the unified `/api/v1/providers/{provider}/webhooks`
//! (POST data, GET subscription challenge) and the legacy Garmin, Oura and Strava paths.
//!
//! Each provider module verifies its signature on the raw body and parses its payload; what the
//! events mean (sync windows, stored data, revocations) is applied before the 200, so a failure
//! answers 5xx and the provider redelivers.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as St};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::State;
use crate::domain::provider::{Provider, ProviderInfo};
use crate::error::{ApiError, ApiResult};
use crate::providers;
use crate::providers::webhook::{WebhookReply, WebhookRequest, accepted, apply};

/// The routes of this group with their OpenAPI operations (paths and methods come from
/// each handler's `#[utoipa::path]`).
pub fn openapi_router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(unified))
        .routes(routes!(unified_secret))
        .routes(routes!(garmin_ping))
        .routes(routes!(garmin_alias))
        .routes(routes!(oura_alias))
        .routes(routes!(oura_health))
        .routes(routes!(strava_alias))
        .routes(routes!(strava_health))
        .routes(routes!(strava_singular))
        .routes(routes!(strava_singular_health))
}

fn capabilities(p: &ProviderInfo) -> String {
    format!(
        "rest_pull={}, webhook_stream={}, webhook_ping={}, webhook_callback={}, client_sdk={}",
        p.rest_pull, p.webhook_stream, p.webhook_ping, p.webhook_callback, p.client_sdk
    )
}

/// The URL of `provider`'s webhook as the provider must call it: with the secret segment for
/// the providers that sign nothing (Strava, Garmin).
pub fn webhook_url(config: &crate::config::Config, provider: &str) -> String {
    let base = format!(
        "{}/api/v1/providers/{provider}/webhooks",
        config.api_base_url
    );
    if crate::keys::needs_url_secret(provider) {
        let secret =
            crate::keys::url_secret(&config.provider_settings, &config.secret_key, provider);
        crate::keys::with_url_secret(&base, &secret)
    } else {
        base
    }
}

/// Verifies, parses and applies one webhook call of `provider`; `url_secret` is the secret
/// segment of the path, when the call came through the secret URL.
async fn handle(
    state: State,
    provider: &str,
    url_secret: Option<&str>,
    method: Method,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let provider = provider
        .parse::<Provider>()
        .map_err(|_| ApiError::not_found(format!("Unknown provider: '{provider}'")))?;
    let info = provider.info();
    if !info.inbound_webhook {
        // The caller chose a provider without webhooks: a client error, not ours.
        return Err(ApiError::bad_request(format!(
            "Provider '{}' does not support webhook notifications. Capabilities: {}",
            info.key,
            capabilities(info)
        )));
    }
    if crate::keys::needs_url_secret(info.key) {
        // Strava and Garmin sign nothing: only the secret URL we registered (Strava) or the
        // operator configured (Garmin's portal) is accepted.
        let expected = crate::keys::url_secret(
            &state.config.provider_settings,
            &state.config.secret_key,
            info.key,
        );
        if !crate::keys::url_secret_ok(&expected, url_secret) {
            tracing::warn!(
                provider = info.key,
                %method,
                with_secret = url_secret.is_some(),
                "webhook refused: missing or wrong webhook URL secret"
            );
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                format!(
                    "Invalid webhook URL: {} webhooks must be sent to the URL with this installation's secret (GET /api/v1/providers/{}/webhooks/url)",
                    info.key, info.key
                ),
            ));
        }
    } else if url_secret.is_some() {
        return Err(ApiError::not_found(format!(
            "Provider '{}' signs its webhooks: its webhook URL has no secret segment",
            info.key
        )));
    }
    let query: HashMap<String, String> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    // A signing secret stored by subscription registration (Polar) stands in for
    // `<PROVIDER>_WEBHOOK_SECRET` unless that is configured.
    let secret_name = format!("{}_WEBHOOK_SECRET", info.key.to_uppercase());
    let mut settings = std::borrow::Cow::Borrowed(&state.config.provider_settings);
    if info.issues_signing_secret
        && !settings.contains_key(&secret_name)
        && let Some(sealed) = state.db.webhook_secret(info.key).await?
    {
        settings
            .to_mut()
            .insert(secret_name, state.cipher.open(&sealed)?);
    }
    let req = WebhookRequest {
        method: &method,
        query: &query,
        headers: &headers,
        body: &body,
        now: state.now(),
        client: state.config.oauth.get(info.key),
        settings: &settings,
        secret_key: &state.config.secret_key,
    };
    let reply = providers::integration(provider)
        .webhook(&req)
        .map_err(|e| {
            tracing::warn!(provider = info.key, %method, "webhook refused: {e}");
            ApiError::new(e.status(), e.to_string())
        })?;
    match reply {
        WebhookReply::Respond(status, body) => Ok((status, Json(body)).into_response()),
        WebhookReply::Accept(events) => {
            let outcome = apply(&state, provider, events).await?;
            tracing::info!(provider = info.key, ?outcome, "webhook applied");
            Ok(Json(accepted()).into_response())
        }
    }
}

/// Provider notifications (POST) and subscription challenges (GET).
#[utoipa::path(method(get, post), path = "/api/v1/providers/{provider}/webhooks", tag = "webhooks",
    params(("provider" = String, Path)),
    responses((status = 200, description = "accepted"), (status = 400), (status = 401),
        (status = 404, description = "unknown provider")))]
pub async fn unified(
    St(state): St<State>,
    Path(provider): Path<String>,
    method: Method,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    handle(state, &provider, None, method, q, headers, body).await
}

/// The webhook URL of the providers that sign nothing (Strava, Garmin): the last segment is
/// this installation's webhook URL secret (`GET /api/v1/providers/{provider}/webhooks/url`).
#[utoipa::path(method(get, post), path = "/api/v1/providers/{provider}/webhooks/{secret}", tag = "webhooks",
    params(("provider" = String, Path), ("secret" = String, Path)),
    responses((status = 200, description = "accepted"), (status = 400), (status = 401, description = "missing or wrong URL secret"),
        (status = 404, description = "unknown provider, or a provider that signs its webhooks")))]
pub async fn unified_secret(
    St(state): St<State>,
    Path((provider, secret)): Path<(String, String)>,
    method: Method,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    handle(state, &provider, Some(&secret), method, q, headers, body).await
}

/// Legacy Garmin ping path (deprecated): the unified Garmin POST.
#[utoipa::path(post, path = "/api/v1/garmin/webhooks/ping", tag = "webhooks",
    responses((status = 200), (status = 401)))]
pub async fn garmin_ping(
    St(state): St<State>,
    method: Method,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    handle(
        state,
        Provider::Garmin.as_str(),
        None,
        method,
        q,
        headers,
        body,
    )
    .await
}

/// Legacy Strava singular path (deprecated): the unified Strava GET/POST.
#[utoipa::path(method(get, post), path = "/api/v1/strava/webhook", tag = "webhooks",
    responses((status = 200), (status = 400), (status = 403)))]
pub async fn strava_singular(
    St(state): St<State>,
    method: Method,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    handle(
        state,
        Provider::Strava.as_str(),
        None,
        method,
        q,
        headers,
        body,
    )
    .await
}

/// Liveness of the deprecated Strava webhook path.
#[utoipa::path(get, path = "/api/v1/strava/webhook/health", tag = "webhooks", responses((status = 200)))]
pub async fn strava_singular_health() -> Json<Value> {
    strava_health().await
}

/// Legacy Garmin push path: the unified Garmin POST.
#[utoipa::path(post, path = "/api/v1/garmin/webhooks/push", tag = "webhooks",
    responses((status = 200), (status = 401)))]
pub async fn garmin_alias(
    St(state): St<State>,
    method: Method,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    handle(
        state,
        Provider::Garmin.as_str(),
        None,
        method,
        q,
        headers,
        body,
    )
    .await
}

/// Legacy Oura path: the unified Oura GET/POST.
#[utoipa::path(method(get, post), path = "/api/v1/oura/webhooks", tag = "webhooks",
    responses((status = 200), (status = 401)))]
pub async fn oura_alias(
    St(state): St<State>,
    method: Method,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    handle(
        state,
        Provider::Oura.as_str(),
        None,
        method,
        q,
        headers,
        body,
    )
    .await
}

/// Legacy Strava paths: the unified Strava GET/POST.
#[utoipa::path(method(get, post), path = "/api/v1/strava/webhooks", tag = "webhooks",
    responses((status = 200), (status = 400), (status = 403)))]
pub async fn strava_alias(
    St(state): St<State>,
    method: Method,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    handle(
        state,
        Provider::Strava.as_str(),
        None,
        method,
        q,
        headers,
        body,
    )
    .await
}

/// Liveness of the Oura webhook endpoint.
#[utoipa::path(get, path = "/api/v1/oura/webhooks/health", tag = "webhooks", responses((status = 200)))]
pub async fn oura_health() -> Json<Value> {
    Json(json!({"status": "ok", "service": "oura-webhooks"}))
}

/// Liveness of the Strava webhook endpoint.
#[utoipa::path(get, path = "/api/v1/strava/webhooks/health", tag = "webhooks", responses((status = 200)))]
pub async fn strava_health() -> Json<Value> {
    Json(json!({"status": "ok", "service": "strava-webhooks"}))
}

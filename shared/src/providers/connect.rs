//! Connecting and disconnecting a provider account (api.md §10–§11): the OAuth authorize URL
//! (a random single-use state bound to user and provider, PKCE where the provider uses it),
//! the callback flow (state check, code exchange, identity lookup, the connection stored with
//! its tokens sealed, the provider's on-connect hook, the first backfill), and revocation.
//! The HTTP handlers extract the request and map these outcomes to their answers.

use base64::Engine;
use chrono::Duration;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::oauth::TokenAnswer;
use super::sync::{Fetcher, backfill_jobs, fetcher};
use crate::app::AppState;
use crate::config::OAuthClient;
use crate::domain::provider::{Provider, ProviderInfo};
use crate::domain::states::ConnectionStatus;
use crate::error::{ApiError, ApiResult};
use crate::repo::connections::{Connection, OAuthState};

/// OAuth states live 15 minutes.
const STATE_TTL_SECONDS: i64 = 900;

/// The provider of an OAuth route with its configured client; 400 for an unknown provider, one
/// without OAuth, or one whose credentials are not configured.
pub fn oauth_provider(state: &AppState, provider: &str) -> ApiResult<(Provider, OAuthClient)> {
    let kind = Provider::parse_path(provider).map_err(ApiError::bad_request)?;
    let info = kind.info();
    if info.oauth.is_none() {
        return Err(ApiError::bad_request(format!(
            "Provider '{provider}' does not support OAuth"
        )));
    }
    let client = state.config.oauth.get(info.key).cloned().ok_or_else(|| {
        ApiError::bad_request(format!(
            "Provider '{provider}' is not configured: set {0}_CLIENT_ID and {0}_CLIENT_SECRET",
            provider.to_uppercase()
        ))
    })?;
    Ok((kind, client))
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn random_b64url(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut buf);
    b64url(&buf)
}

/// A `redirect_uri` we may send the browser to, as we will send it: an http(s) URL without
/// user information or control characters whose exact origin is configured
/// (`ALLOWED_REDIRECT_ORIGINS`, `CORS_ORIGINS`, `API_BASE_URL`); 400 otherwise.
pub fn allowed_redirect(state: &AppState, raw: &str) -> ApiResult<String> {
    if raw.chars().any(|c| c.is_control() || c == '\\') {
        return Err(ApiError::bad_request(
            "redirect_uri must not contain control characters or backslashes",
        ));
    }
    let url = reqwest::Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| ApiError::bad_request("redirect_uri must be an http or https URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ApiError::bad_request(
            "redirect_uri must not contain user information",
        ));
    }
    let origin = crate::config::http_origin(url.as_str())
        .ok_or_else(|| ApiError::bad_request("redirect_uri must be an http or https URL"))?;
    if !state.config.redirect_origins.contains(&origin) {
        return Err(ApiError::bad_request(format!(
            "redirect_uri origin '{origin}' is not allowed; add it to ALLOWED_REDIRECT_ORIGINS"
        )));
    }
    Ok(url.into())
}

/// Where to send the user to grant access, and the state that will come back with the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub url: String,
    pub state: String,
}

/// Starts a connection of `user` to `provider` (its client from [`oauth_provider`]): checks
/// `redirect_uri`, that the provider is enabled and the user exists, stores the single-use
/// state (with the PKCE verifier where the provider uses PKCE) and builds the authorize URL.
pub async fn authorize(
    state: &AppState,
    provider: Provider,
    client: &OAuthClient,
    user: Uuid,
    redirect_uri: Option<&str>,
) -> ApiResult<Authorization> {
    let info = provider.info();
    let redirect_uri = redirect_uri
        .map(|r| allowed_redirect(state, r))
        .transpose()?;
    let settings = state.db.provider_settings().await?;
    if settings.get(info.key).and_then(|s| s.is_enabled) == Some(false) {
        return Err(ApiError::bad_request(format!(
            "Provider '{}' is disabled",
            info.key
        )));
    }
    if !state.db.user_exists(user).await? {
        return Err(ApiError::entity_not_found("User", user));
    }
    let st = random_b64url(32);
    let verifier = info.pkce.then(|| random_b64url(43));
    let now = state.now();
    let record = OAuthState {
        user_id: user,
        provider: info.key.to_string(),
        redirect_uri,
        code_verifier: verifier.clone(),
        created_at: now,
    };
    state
        .db
        .put_oauth_state(&st, &record, now.timestamp() + STATE_TTL_SECONDS)
        .await?;
    let mut query: Vec<(&str, String)> = vec![
        ("response_type", "code".into()),
        ("client_id", client.client_id.clone()),
        ("redirect_uri", client.redirect_uri.clone()),
        ("state", st.clone()),
    ];
    if let Some(v) = &verifier {
        query.push(("code_challenge", b64url(&Sha256::digest(v.as_bytes()))));
        query.push(("code_challenge_method", "S256".into()));
    }
    if !client.scope.is_empty() {
        query.push(("scope", client.scope.clone()));
    }
    for (k, v) in super::integration(provider).authorize_params() {
        query.push((k, (*v).to_string()));
    }
    let qs = serde_urlencoded::to_string(&query).map_err(ApiError::internal)?;
    Ok(Authorization {
        url: format!("{}?{qs}", client.authorize_url),
        state: st,
    })
}

/// How a callback with a code and a state ended (400s, such as an unknown or expired state,
/// are errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// The connection is stored and active; the browser goes to `redirect_uri` when the
    /// authorize call gave one.
    Connected {
        provider: Provider,
        user_id: Uuid,
        redirect_uri: Option<String>,
    },
    /// The provider did not grant tokens; the text the error page shows.
    Failed(String),
}

/// The provider account id and username (failures are tolerated: the ids stay empty, and the
/// sync windows learn them later through the trait's `identify_on_sync`).
async fn provider_identity(
    state: &AppState,
    provider: Provider,
    client: &OAuthClient,
    token: &TokenAnswer,
) -> (Option<String>, Option<String>) {
    let integration = super::integration(provider);
    if let Some(i) = integration.token_identity(token) {
        return (i.id, i.username);
    }
    let f = Fetcher::new(&state.http, &client.api_base, &token.access_token);
    match integration.user_info(&f).await {
        Ok(Some(i)) => (i.id, i.username),
        Ok(None) => (None, None),
        Err(e) => {
            tracing::warn!(%provider, error = %e, "provider user info unavailable");
            (None, None)
        }
    }
}

/// Completes the OAuth flow for the `code` and `state` the provider sent back to the callback
/// of `provider`: the state is taken (single use) and must name this provider, the redirect is
/// checked again against today's allow-list, the code is exchanged, the account identified,
/// the connection stored (kept ids, refresh token and first-connection time of an earlier
/// one), the provider's on-connect hook run and, where configured, the backfill queued.
pub async fn complete(
    state: &AppState,
    provider: &str,
    code: &str,
    oauth_state: &str,
) -> ApiResult<CallbackOutcome> {
    let (kind, client) = oauth_provider(state, provider)?;
    let info = kind.info();
    let now = state.now();
    let record = state
        .db
        .take_oauth_state(oauth_state, now.timestamp())
        .await?
        .ok_or_else(|| ApiError::bad_request("Invalid or expired state parameter"))?;
    if record.provider != info.key {
        return Err(ApiError::bad_request("Provider mismatch in state"));
    }
    // The allow-list may have changed since authorize: check again before anything is stored.
    let redirect_uri = record
        .redirect_uri
        .as_deref()
        .map(|r| allowed_redirect(state, r))
        .transpose()?;
    let token = match super::oauth::exchange_code(
        &state.http,
        &client,
        info.client_auth,
        code,
        record.code_verifier.as_deref(),
    )
    .await
    {
        Ok(t) => t,
        Err(message) => {
            tracing::warn!(provider = info.key, "token exchange failed");
            return Ok(CallbackOutcome::Failed(message));
        }
    };
    let (puid, username) = provider_identity(state, kind, &client, &token).await;
    let integration = super::integration(kind);
    let granted = match puid {
        // The lookup names the account: the reference skips it for unknown users.
        Some(_) => {
            let f = Fetcher::new(&state.http, &client.api_base, &token.access_token);
            integration.granted_scope(&f).await
        }
        None => None,
    };
    let existing = state.db.connection(record.user_id, info.key).await?;
    let cipher = &state.cipher;
    let sealed_refresh = token
        .refresh_token
        .as_deref()
        .map(|t| cipher.seal(t))
        .transpose()?;
    let conn = Connection {
        id: existing.as_ref().map_or_else(Uuid::new_v4, |c| c.id),
        user_id: record.user_id,
        provider: kind,
        provider_user_id: existing
            .as_ref()
            .and_then(|c| c.provider_user_id.clone())
            .or(puid),
        provider_username: existing
            .as_ref()
            .and_then(|c| c.provider_username.clone())
            .or(username),
        scope: granted
            .or_else(|| token.scope.clone())
            .or_else(|| Some(client.scope.clone()).filter(|s| !s.is_empty())),
        status: ConnectionStatus::Active,
        access_token: Some(cipher.seal(&token.access_token)?),
        refresh_token: sealed_refresh
            .or_else(|| existing.as_ref().and_then(|c| c.refresh_token.clone())),
        // A provider's `expires_in` is outside input: an absurd one means "unknown expiry".
        token_expires_at: token
            .expires_in
            .and_then(Duration::try_seconds)
            .and_then(|d| now.checked_add_signed(d)),
        // The guide's contract: null until the first sync has finished.
        last_synced_at: existing.as_ref().and_then(|c| c.last_synced_at),
        created_at: existing.as_ref().map_or(now, |c| c.created_at),
        updated_at: now,
        next_poll_at: Some(now + Duration::seconds(state.config.sync_interval_seconds)),
    };
    state.db.save_connection(&conn).await?;
    tracing::info!(provider = info.key, user = %conn.user_id, "provider connected");
    if existing
        .as_ref()
        .is_none_or(|c| c.status != ConnectionStatus::Active)
    {
        crate::services::webhooks::connection_created(state, &conn).await;
    }
    let f = fetcher(state, &client, &conn, &token.access_token);
    integration.on_connect(state, &f, &conn).await?;
    if state.config.historical_sync_on_connect && info.supports_pull() {
        let jobs = backfill_jobs(conn.user_id, kind, now);
        if let Err(e) = state.queue.enqueue(jobs).await {
            tracing::error!(error = %e, "historical backfill was not queued");
        }
    }
    Ok(CallbackOutcome::Connected {
        provider: kind,
        user_id: conn.user_id,
        redirect_uri,
    })
}

/// Best-effort provider deregistration with the stored token: failures are only logged.
async fn deregister_at_provider(state: &AppState, conn: &Connection) {
    let (Some(client), Some(sealed)) = (
        state.config.oauth.get(conn.provider.as_str()),
        &conn.access_token,
    ) else {
        return;
    };
    let token = match state.cipher.open(sealed) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(provider = %conn.provider, error = %e, "stored token unreadable: no deregistration");
            return;
        }
    };
    let provider = conn.provider;
    let f = fetcher(state, client, conn, &token);
    match super::integration(provider).deregister(&f).await {
        Ok(()) => {
            tracing::info!(provider = %conn.provider, user = %conn.user_id, "deregistered at the provider")
        }
        Err(e) => {
            tracing::warn!(provider = %conn.provider, user = %conn.user_id, error = %e, "provider deregistration failed")
        }
    }
}

/// Disconnects `user` from `provider` (idempotent): an active connection is deregistered at
/// the provider (best effort) and revoked, its tokens dropped; 400 for an unknown provider,
/// 404 without a connection.
pub async fn disconnect(
    state: &AppState,
    user: Uuid,
    provider: &str,
) -> ApiResult<&'static ProviderInfo> {
    let info = Provider::parse_path(provider)
        .map(Provider::info)
        .map_err(ApiError::bad_request)?;
    let conn = state
        .db
        .connection(user, info.key)
        .await?
        .ok_or_else(|| ApiError::entity_not_found("Connection", user))?;
    if conn.status != ConnectionStatus::Revoked {
        deregister_at_provider(state, &conn).await;
        if let Some(before) = state
            .db
            .revoke_connection(user, info.key, state.now())
            .await?
        {
            crate::services::webhooks::connection_revoked(state, &before, "user_disconnected")
                .await;
        }
    }
    Ok(info)
}

/// [`disconnect`], then deletes every sample, event and score that came from the provider and
/// queues the roll-up refresh of the days that lost data (a queue failure is only logged).
pub async fn disconnect_and_delete(state: &AppState, user: Uuid, provider: &str) -> ApiResult<()> {
    let info = disconnect(state, user, provider).await?;
    let days = state.db.delete_provider_data(user, info.key).await?;
    let jobs: Vec<crate::app::Job> = days
        .into_iter()
        .map(|date| crate::app::Job::Rollup {
            user_id: user,
            date,
        })
        .collect();
    if let Err(e) = state.queue.enqueue(jobs).await {
        tracing::error!(error = %e, "roll-up refresh after a data deletion was not queued");
    }
    Ok(())
}

//! Connection use cases: a user's connections as the API and the portal show them (capabilities,
//! live sync mode, linked users), and the pull-sync triggers (the window checks, then queue or
//! run). Handlers parse the request, call these, and map the answer to the wire type.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::shift;
use crate::app::AppState;
use crate::domain::provider::{Provider, ProviderInfo};
use crate::domain::states::ConnectionStatus;
use crate::error::{ApiError, ApiResult};
use crate::repo::connections::Connection;

/// The longest window one sync request may cover; longer spans go through `sync/historical`.
pub const MAX_SYNC_SPAN_DAYS: i64 = 365;

/// One connection with what the listing adds to it. Tokens stay inside `conn` (encrypted) and
/// are never put on the wire by the callers.
#[derive(Debug, Clone)]
pub struct ConnectionView {
    pub conn: Connection,
    pub info: &'static ProviderInfo,
    /// The provider's configured live sync mode, else its default.
    pub live_sync_mode: Option<String>,
    /// Other users with an active connection to the same provider account.
    pub linked_user_ids: Vec<Uuid>,
}

/// The user's provider connections, newest first (all statuses).
pub async fn list(state: &AppState, user: Uuid) -> ApiResult<Vec<ConnectionView>> {
    let settings = state.db.provider_settings().await?;
    let mut conns = state.db.connections(user).await?;
    conns.sort_by_key(|c| std::cmp::Reverse(c.created_at));
    let mut out = Vec::with_capacity(conns.len());
    for c in conns {
        let info = c.provider.info();
        let mut linked = Vec::new();
        if let (Some(puid), ConnectionStatus::Active) = (&c.provider_user_id, c.status) {
            for other in state
                .db
                .connections_by_provider_user(c.provider.as_str(), puid)
                .await?
            {
                if other.user_id != user && other.status == ConnectionStatus::Active {
                    linked.push(other.user_id);
                }
            }
        }
        let live_sync_mode = settings
            .get(info.key)
            .and_then(|s| s.live_sync_mode.clone())
            .or_else(|| info.default_live_sync_mode().map(str::to_string));
        out.push(ConnectionView {
            conn: c,
            info,
            live_sync_mode,
            linked_user_ids: linked,
        });
    }
    Ok(out)
}

/// The provider of a pull sync: 400 for an unknown one or one without a cloud API, 501 for a
/// cloud this edition cannot pull yet.
pub fn pull_provider(provider: &str) -> ApiResult<(Provider, &'static ProviderInfo)> {
    let kind = Provider::parse_path(provider).map_err(ApiError::bad_request)?;
    let info = kind.info();
    if !info.has_cloud_api {
        return Err(ApiError::bad_request(format!(
            "Provider '{provider}' does not support pull sync"
        )));
    }
    if !info.supports_pull() {
        return Err(ApiError::new(
            http::StatusCode::NOT_IMPLEMENTED,
            format!("Pull sync for '{provider}' is not implemented in this edition yet"),
        ));
    }
    Ok((kind, info))
}

/// 404 for a sync of a connection that is missing or not active.
pub fn no_active_connection(user: Uuid, info: &ProviderInfo) -> ApiError {
    ApiError::not_found(format!(
        "No active connection found for user {user} and provider '{}'",
        info.key
    ))
}

/// The user's active connection to `info`'s provider: 404 (the reference's texts) otherwise.
pub async fn active_connection(
    state: &AppState,
    user: Uuid,
    info: &ProviderInfo,
) -> ApiResult<Connection> {
    let conn = state
        .db
        .connection(user, info.key)
        .await?
        .ok_or_else(|| ApiError::entity_not_found("Connection", user))?;
    if conn.status != ConnectionStatus::Active {
        return Err(no_active_connection(user, info));
    }
    Ok(conn)
}

/// The window of a sync request: from `start` (default: an hour before the last sync, or a
/// day back for a connection never synced) to `end` (default now), at most
/// [`MAX_SYNC_SPAN_DAYS`] long.
pub fn sync_window(
    conn: &Connection,
    now: DateTime<Utc>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
) -> ApiResult<(DateTime<Utc>, DateTime<Utc>)> {
    let start = match start {
        Some(t) => t,
        None => match conn.last_synced_at {
            Some(t) => shift(t, -Duration::hours(1))?,
            None => shift(now, -Duration::days(1))?,
        },
    };
    let end = end.unwrap_or(now);
    if start >= end {
        return Err(ApiError::bad_request(
            "summary_start_time must be before summary_end_time",
        ));
    }
    if end - start > Duration::days(MAX_SYNC_SPAN_DAYS) {
        return Err(ApiError::bad_request(format!(
            "summary_start_time and summary_end_time may be at most {MAX_SYNC_SPAN_DAYS} days apart; use sync/historical for longer backfills"
        )));
    }
    Ok((start, end))
}

/// Queues the pull jobs of `[start, end)` for one connection.
pub async fn queue_sync(
    state: &AppState,
    user: Uuid,
    kind: Provider,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> ApiResult<()> {
    let jobs = crate::providers::sync::window_jobs(user, kind, start, end);
    state.queue.enqueue(jobs).await.map_err(ApiError::internal)
}

/// Pulls `[start, end)` now, window by window; 502 when the provider is unavailable. Returns
/// the connection's status afterwards (a pull that finds the grant revoked revokes it).
pub async fn run_sync(
    state: &AppState,
    user: Uuid,
    info: &ProviderInfo,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> ApiResult<Option<ConnectionStatus>> {
    use crate::providers::sync::{self, SyncError};
    for (a, b) in sync::windows(start, end) {
        match sync::run(state, user, info.key, a, b).await {
            Ok(()) => {}
            Err(SyncError::Retry(m)) => {
                return Err(ApiError::new(
                    http::StatusCode::BAD_GATEWAY,
                    format!("The provider is unavailable, retry later: {m}"),
                ));
            }
            Err(SyncError::Store(e)) => return Err(e.into()),
        }
    }
    Ok(state.db.connection(user, info.key).await?.map(|c| c.status))
}

/// How a historical backfill was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backfill {
    /// The provider pushes its history after a backfill request (Garmin: 30 days, `days`
    /// ignored).
    Webhook,
    /// Pull jobs over `[start, end)`.
    Pull {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
}

/// Queues a historical backfill of `days` for a user's active connection (the user must
/// exist: nothing is queued that cannot run).
pub async fn queue_historical(
    state: &AppState,
    user: Uuid,
    kind: Provider,
    days: i64,
) -> ApiResult<Backfill> {
    let info = kind.info();
    if !state.db.user_exists(user).await? {
        return Err(ApiError::entity_not_found("User", user));
    }
    let connected = state.db.connection(user, info.key).await?;
    if connected.is_none_or(|c| c.status != ConnectionStatus::Active) {
        return Err(no_active_connection(user, info));
    }
    let now = state.now();
    if info.webhook_callback && !info.rest_pull {
        let jobs = crate::providers::sync::backfill_jobs(user, kind, now);
        state
            .queue
            .enqueue(jobs)
            .await
            .map_err(ApiError::internal)?;
        return Ok(Backfill::Webhook);
    }
    let start = now - Duration::days(days);
    queue_sync(state, user, kind, start, now).await?;
    Ok(Backfill::Pull { start, end: now })
}

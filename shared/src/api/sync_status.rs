//! Sync status (api.md §12, #55–#57): the status events of a user's recent syncs and one
//! summary per run, kept 24 hours (runs with a pending retry are kept until they ran).

use axum::Json;
use axum::extract::{Path, State as St};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::State;
use super::params::Params;
use super::parse_uuid;
use super::wire::{ser_dt, ser_opt_dt};
use crate::auth::guard::Caller;
use crate::error::{ApiError, ApiResult};
use crate::repo::sync_runs::{SyncEvent, SyncRun};

/// The routes of this group with their OpenAPI operations (paths and methods come from
/// each handler's `#[utoipa::path]`).
pub fn openapi_router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(stream))
        .routes(routes!(recent))
        .routes(routes!(user_runs))
        .routes(routes!(all_runs))
}

/// `SyncRunSummary`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SyncRunSummary {
    pub run_id: String,
    pub user_id: Uuid,
    pub provider: String,
    pub source: String,
    pub stage: String,
    pub status: String,
    pub message: Option<String>,
    pub progress: Option<f64>,
    pub items_processed: Option<i64>,
    pub items_total: Option<i64>,
    pub error: Option<String>,
    pub primary_user_id: Option<Uuid>,
    #[serde(serialize_with = "ser_opt_dt")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "ser_opt_dt")]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "ser_dt")]
    pub last_update: DateTime<Utc>,
}

/// `SyncStatusEvent`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SyncStatusEvent {
    pub event_id: Uuid,
    pub run_id: String,
    pub user_id: Uuid,
    pub provider: String,
    pub source: String,
    pub stage: String,
    pub status: String,
    pub message: Option<String>,
    pub error: Option<String>,
    pub progress: Option<f64>,
    pub items_processed: Option<i64>,
    pub items_total: Option<i64>,
    pub primary_user_id: Option<Uuid>,
    pub metadata: serde_json::Value,
    #[serde(serialize_with = "ser_opt_dt")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "ser_opt_dt")]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "ser_dt")]
    pub timestamp: DateTime<Utc>,
}

impl From<SyncEvent> for SyncStatusEvent {
    fn from(e: SyncEvent) -> Self {
        Self {
            event_id: e.event_id,
            run_id: e.run_id,
            user_id: e.user_id,
            provider: e.provider,
            source: e.source,
            stage: e.stage.to_string(),
            status: e.status.to_string(),
            message: e.message,
            error: e.error,
            progress: e.progress,
            items_processed: e.items_processed,
            items_total: e.items_total,
            primary_user_id: e.primary_user_id,
            metadata: e.metadata,
            started_at: e.started_at,
            ended_at: e.ended_at,
            timestamp: e.timestamp,
        }
    }
}

impl From<SyncRun> for SyncRunSummary {
    fn from(r: SyncRun) -> Self {
        Self {
            run_id: r.run_id,
            user_id: r.user_id,
            provider: r.provider,
            source: r.source,
            stage: r.stage.to_string(),
            status: r.status.to_string(),
            message: r.message,
            progress: r.progress,
            items_processed: r.items_processed,
            items_total: r.items_total,
            error: r.error,
            primary_user_id: r.primary_user_id,
            started_at: r.started_at,
            ended_at: r.ended_at,
            last_update: r.last_update,
        }
    }
}

async fn existing_user(state: &State, user_id: &str) -> ApiResult<Uuid> {
    let user = parse_uuid(user_id)?;
    if state.db.user(user).await?.is_none() {
        return Err(ApiError::not_found("User not found"));
    }
    Ok(user)
}

/// How often the stream looks for new events, and how long it stays silent before a heartbeat.
const STREAM_POLL: std::time::Duration = std::time::Duration::from_secs(1);
const STREAM_HEARTBEAT_SECONDS: u64 = 15;

fn sse_frame(e: SyncEvent) -> axum::body::Bytes {
    let data = serde_json::to_string(&SyncStatusEvent::from(e)).unwrap_or_else(|_| "{}".into());
    axum::body::Bytes::from(format!("event: sync.status\ndata: {data}\n\n"))
}

/// Server-sent events of the user's syncs: `: connected`, the `replay` most recent events
/// oldest first, then new events as they are recorded, with `: heartbeat` after 15 s of
/// silence. In Lambda (API Gateway buffers responses) the stream ends after the replay.
#[utoipa::path(get, path = "/api/v1/users/{user_id}/sync/stream", tag = "sync",
    params(("user_id" = Uuid, Path), ("replay" = Option<i64>, Query, description = "1–200, default 20")),
    responses((status = 200, description = "text/event-stream of SyncStatusEvent"), (status = 404, description = "User not found")))]
pub async fn stream(
    St(state): St<State>,
    _: Caller,
    Path(user_id): Path<String>,
    p: Params,
) -> ApiResult<axum::response::Response> {
    use futures_util::StreamExt;
    let replay = p.int("replay", 20, 1, 200)?;
    let user = existing_user(&state, &user_id).await?;
    let mut recent = state
        .db
        .recent_sync_events(user, replay as usize, state.now())
        .await?;
    recent.reverse();
    let last = recent.last().map_or_else(|| state.now(), |e| e.timestamp);
    let mut head = vec![axum::body::Bytes::from_static(b": connected\n\n")];
    head.extend(recent.into_iter().map(sse_frame));
    let head = futures_util::stream::iter(head.into_iter().map(Ok::<_, std::io::Error>));
    let live = futures_util::stream::unfold((0u64, last), move |(mut silent, mut last)| {
        let state = state.clone();
        async move {
            if crate::config::in_lambda() {
                return None;
            }
            loop {
                tokio::time::sleep(STREAM_POLL).await;
                let fresh = match state.db.sync_events_since(user, last, state.now()).await {
                    Ok(f) => f,
                    Err(e) => {
                        tracing::warn!(error = %e, "sync stream: reading events failed");
                        Vec::new()
                    }
                };
                if let Some(newest) = fresh.last() {
                    last = newest.timestamp;
                    let mut out = Vec::new();
                    for e in fresh {
                        out.extend_from_slice(&sse_frame(e));
                    }
                    return Some((Ok(axum::body::Bytes::from(out)), (0, last)));
                }
                silent += STREAM_POLL.as_secs();
                if silent >= STREAM_HEARTBEAT_SECONDS {
                    return Some((
                        Ok(axum::body::Bytes::from_static(b": heartbeat\n\n")),
                        (0, last),
                    ));
                }
            }
        }
    });
    let body = axum::body::Body::from_stream(head.chain(live));
    let mut resp = axum::response::Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    h.insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-cache, no-transform"),
    );
    h.insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    Ok(resp)
}

/// The user's most recent sync status events, newest first.
#[utoipa::path(get, path = "/api/v1/users/{user_id}/sync/recent", tag = "sync",
    params(("user_id" = Uuid, Path), ("limit" = Option<i64>, Query, description = "1–200, default 50")),
    responses((status = 200, description = "SyncStatusEvent[]"), (status = 404, description = "User not found")))]
pub async fn recent(
    St(state): St<State>,
    _: Caller,
    Path(user_id): Path<String>,
    p: Params,
) -> ApiResult<Json<Vec<SyncStatusEvent>>> {
    let limit = p.int("limit", 50, 1, 200)?;
    let user = existing_user(&state, &user_id).await?;
    let events = state
        .db
        .recent_sync_events(user, limit as usize, state.now())
        .await?;
    Ok(Json(
        events.into_iter().map(SyncStatusEvent::from).collect(),
    ))
}

/// One summary per sync run of the user, most recently updated first.
#[utoipa::path(get, path = "/api/v1/users/{user_id}/sync/runs", tag = "sync",
    params(("user_id" = Uuid, Path), ("limit" = Option<i64>, Query, description = "1–200, default 20")),
    responses((status = 200, body = [SyncRunSummary]), (status = 404, description = "User not found")))]
pub async fn user_runs(
    St(state): St<State>,
    _: Caller,
    Path(user_id): Path<String>,
    p: Params,
) -> ApiResult<Json<Vec<SyncRunSummary>>> {
    let limit = p.int("limit", 20, 1, 200)?;
    let user = existing_user(&state, &user_id).await?;
    let runs = state.db.user_sync_runs(user, state.now()).await?;
    Ok(Json(
        runs.into_iter()
            .take(limit as usize)
            .map(SyncRunSummary::from)
            .collect(),
    ))
}

/// Sync runs of every user, most recently updated first, with exact-match filters.
#[utoipa::path(get, path = "/api/v1/sync/runs", tag = "sync",
    params(("limit" = Option<i64>, Query, description = "1–10000, default 50"), ("user_id" = Option<Uuid>, Query),
        ("provider" = Option<String>, Query), ("status" = Option<String>, Query), ("source" = Option<String>, Query)),
    responses((status = 200, body = [SyncRunSummary])))]
pub async fn all_runs(
    St(state): St<State>,
    _: Caller,
    p: Params,
) -> ApiResult<Json<Vec<SyncRunSummary>>> {
    let limit = p.int("limit", 50, 1, 10_000)?;
    let user = p.get("user_id").map(parse_uuid).transpose()?;
    let (provider, status, source) = (p.get("provider"), p.get("status"), p.get("source"));
    let runs = state
        .db
        .all_sync_runs(state.now(), limit as usize, |r| {
            user.is_none_or(|u| r.user_id == u)
                && provider.is_none_or(|v| r.provider == v)
                && status.is_none_or(|v| r.status.as_str() == v)
                && source.is_none_or(|v| r.source == v)
        })
        .await?;
    Ok(Json(runs.into_iter().map(SyncRunSummary::from).collect()))
}

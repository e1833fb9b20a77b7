//! Mobile SDK push (api.md #72, data-model §4): the unified route (provider in the body) and
//! the integration guide's per-provider paths. The batch is stored before the answer, which
//! carries the real counts.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State as St};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{State, parse_uuid};
use crate::auth::guard::SdkCaller;
use crate::domain::sdk::SdkProvider;
use crate::domain::sdk::parse_sdk_payload;
use crate::error::{ApiError, ApiResult};
use crate::ingest::{ingest_sdk_batch, payload_error};
use crate::services::sync_runs;

/// The routes of this group with their OpenAPI operations (paths and methods come from
/// each handler's `#[utoipa::path]`).
pub fn openapi_router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(sync))
        .routes(routes!(sync_apple))
        .routes(routes!(sync_samsung))
        .routes(routes!(sdk_logs))
        .merge(super::apple_import::openapi_router())
}

/// `UploadDataResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadDataResponse {
    pub status_code: u16,
    pub response: String,
    pub user_id: Option<String>,
    pub dropped_count: usize,
    pub records_saved: usize,
    pub workouts_saved: usize,
    pub sleep_saved: usize,
}

async fn handle(
    state: &State,
    caller: SdkCaller,
    user_id: &str,
    body: &Bytes,
    provider: Option<SdkProvider>,
) -> ApiResult<(StatusCode, Json<UploadDataResponse>)> {
    caller.check_user(user_id)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("Field required"));
    }
    let user = parse_uuid(user_id)?;
    if !state.db.user_exists(user).await? {
        return Err(ApiError::entity_not_found("User", user));
    }
    // A payload refused here is answered 400 and makes no run (nothing was accepted); an
    // accepted one is a sync run of its own (source `sdk`, run id = batch id).
    let batch =
        parse_sdk_payload(body, provider).map_err(|e| ApiError::bad_request(payload_error(&e)))?;
    let provider_name = batch.provider.map_or("apple", SdkProvider::as_str);
    let run = sync_runs::begin(state, user, provider_name, "sdk").await;
    let out = match ingest_sdk_batch(state, user, batch).await {
        Ok(out) => out,
        Err(e) => {
            tracing::error!(user = %user, error = %e, "sdk batch not stored");
            sync_runs::fail(state, run, "the batch could not be stored").await;
            return Err(e.into());
        }
    };
    sync_runs::complete(
        state,
        run,
        sync_runs::Stored {
            records_saved: out.records_saved,
            workouts_saved: out.workouts_saved,
            sleep_saved: out.sleep_saved,
            dropped_count: out.dropped_count,
        },
    )
    .await;
    tracing::info!(
        user = %user,
        records = out.records_saved,
        workouts = out.workouts_saved,
        sleep = out.sleep_saved,
        dropped = out.dropped_count,
        chunks = out.chunks_written,
        "sdk batch stored"
    );
    Ok((
        StatusCode::ACCEPTED,
        Json(UploadDataResponse {
            status_code: 202,
            response: "Import task queued successfully".into(),
            user_id: Some(user_id.to_string()),
            dropped_count: out.dropped_count,
            records_saved: out.records_saved,
            workouts_saved: out.workouts_saved,
            sleep_saved: out.sleep_saved,
        }),
    ))
}

/// Push a batch; the provider (`apple`, `samsung`, `google`) is named in the body.
#[utoipa::path(post, path = "/api/v1/sdk/users/{user_id}/sync", tag = "sdk", params(("user_id" = String, Path)),
    responses((status = 202, body = UploadDataResponse), (status = 400), (status = 401), (status = 403), (status = 413)))]
pub async fn sync(
    St(state): St<State>,
    caller: SdkCaller,
    Path(user_id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<UploadDataResponse>)> {
    handle(&state, caller, &user_id, &body, None).await
}

/// Push an Apple Health batch (the integration guide's path).
#[utoipa::path(post, path = "/api/v1/sdk/users/{user_id}/sync/apple/healthion", tag = "sdk", params(("user_id" = String, Path)),
    responses((status = 202, body = UploadDataResponse)))]
pub async fn sync_apple(
    St(state): St<State>,
    caller: SdkCaller,
    Path(user_id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<UploadDataResponse>)> {
    handle(&state, caller, &user_id, &body, Some(SdkProvider::Apple)).await
}

/// Push a Samsung Health batch (the integration guide's path).
#[utoipa::path(post, path = "/api/v1/sdk/users/{user_id}/sync/samsung", tag = "sdk", params(("user_id" = String, Path)),
    responses((status = 202, body = UploadDataResponse)))]
pub async fn sync_samsung(
    St(state): St<State>,
    caller: SdkCaller,
    Path(user_id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<UploadDataResponse>)> {
    handle(&state, caller, &user_id, &body, Some(SdkProvider::Samsung)).await
}

// ---------------------------------------------------------------------------------------------
// SDK diagnostic logs (#73)
// ---------------------------------------------------------------------------------------------

/// `SDKLogRequest`.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SdkLogRequest {
    pub sdk_version: String,
    #[serde(default)]
    pub provider: Option<String>,
    pub events: Vec<SdkLogEvent>,
}

/// One log event, discriminated by `eventType`.
#[derive(Debug, Clone, serde::Deserialize, Serialize, ToSchema)]
#[serde(tag = "eventType", rename_all = "snake_case")]
pub enum SdkLogEvent {
    #[serde(rename_all = "camelCase")]
    HistoricalDataSyncStart {
        timestamp: chrono::DateTime<chrono::Utc>,
        #[serde(default)]
        data_type_counts: Vec<DataTypeCount>,
        #[serde(default)]
        time_range: Option<TimeRange>,
    },
    #[serde(rename_all = "camelCase")]
    HistoricalDataTypeSyncEnd {
        timestamp: chrono::DateTime<chrono::Utc>,
        data_type: String,
        success: bool,
        #[serde(default)]
        record_count: Option<i64>,
        #[serde(default)]
        duration_ms: Option<i64>,
    },
    #[serde(rename_all = "camelCase")]
    DeviceState {
        timestamp: chrono::DateTime<chrono::Utc>,
        #[serde(default)]
        battery_level: Option<f64>,
        #[serde(default)]
        battery_state: Option<String>,
        #[serde(default)]
        is_low_power_mode: Option<bool>,
        #[serde(default)]
        thermal_state: Option<String>,
        #[serde(default)]
        task_type: Option<String>,
        #[serde(default)]
        available_ram_bytes: Option<i64>,
        #[serde(default)]
        total_ram_bytes: Option<i64>,
    },
}

#[derive(Debug, Clone, serde::Deserialize, Serialize, ToSchema)]
pub struct DataTypeCount {
    #[serde(rename = "type")]
    pub kind: String,
    pub count: u64,
}

#[derive(Debug, Clone, serde::Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimeRange {
    #[serde(default)]
    pub start_date: Option<chrono::DateTime<chrono::Utc>>,
    pub end_date: chrono::DateTime<chrono::Utc>,
}

/// Most events one request may carry (the reference's bound).
const MAX_LOG_EVENTS: usize = 100;
/// Longest string field kept from a log event.
const MAX_LOG_TEXT: usize = 200;

fn check_log(req: &SdkLogRequest) -> ApiResult<()> {
    if req.events.is_empty() {
        return Err(ApiError::bad_request(
            "List should have at least 1 item after validation, not 0",
        ));
    }
    if req.events.len() > MAX_LOG_EVENTS {
        return Err(ApiError::bad_request(format!(
            "List should have at most {MAX_LOG_EVENTS} items after validation, not {}",
            req.events.len()
        )));
    }
    let long = |s: &Option<String>| s.as_ref().is_some_and(|s| s.chars().count() > MAX_LOG_TEXT);
    if req.sdk_version.chars().count() > MAX_LOG_TEXT || long(&req.provider) {
        return Err(ApiError::bad_request(format!(
            "String should have at most {MAX_LOG_TEXT} characters"
        )));
    }
    for e in &req.events {
        match e {
            SdkLogEvent::DeviceState {
                battery_level: Some(b),
                ..
            } if !(0.0..=1.0).contains(b) => {
                return Err(ApiError::bad_request(
                    "batteryLevel: Input should be between 0 and 1",
                ));
            }
            SdkLogEvent::DeviceState {
                battery_state,
                thermal_state,
                task_type,
                ..
            } if long(battery_state) || long(thermal_state) || long(task_type) => {
                return Err(ApiError::bad_request(format!(
                    "String should have at most {MAX_LOG_TEXT} characters"
                )));
            }
            SdkLogEvent::HistoricalDataTypeSyncEnd { data_type, .. }
                if data_type.chars().count() > MAX_LOG_TEXT =>
            {
                return Err(ApiError::bad_request(format!(
                    "String should have at most {MAX_LOG_TEXT} characters"
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The sync status event a log event becomes (source `sdk`, kept 24 hours like every sync
/// event, listed by `/users/{id}/sync/recent`). One run per user, provider and UTC day.
fn log_sync_event(
    user: uuid::Uuid,
    provider: &str,
    sdk_version: &str,
    e: &SdkLogEvent,
) -> crate::repo::sync_runs::SyncEvent {
    use crate::domain::states::{SyncStage, SyncStatus};
    let (timestamp, stage, status, message, processed, total) = match e {
        SdkLogEvent::HistoricalDataSyncStart {
            timestamp,
            data_type_counts,
            ..
        } => (
            *timestamp,
            SyncStage::Fetching,
            SyncStatus::InProgress,
            "historical data sync started".to_string(),
            None,
            Some(data_type_counts.iter().map(|c| c.count as i64).sum::<i64>()),
        ),
        SdkLogEvent::HistoricalDataTypeSyncEnd {
            timestamp,
            data_type,
            success,
            record_count,
            ..
        } => (
            *timestamp,
            if *success {
                SyncStage::Completed
            } else {
                SyncStage::Failed
            },
            if *success {
                SyncStatus::Success
            } else {
                SyncStatus::Failed
            },
            format!("{data_type} synced"),
            record_count.map(|n| n.max(0)),
            None,
        ),
        SdkLogEvent::DeviceState { timestamp, .. } => (
            *timestamp,
            SyncStage::Fetching,
            SyncStatus::InProgress,
            "device state".to_string(),
            None,
            None,
        ),
    };
    let run_id = uuid::Uuid::new_v5(
        &user,
        format!("sdk-log|{provider}|{}", timestamp.date_naive()).as_bytes(),
    )
    .to_string();
    let mut metadata = serde_json::to_value(e).unwrap_or_default();
    if let Some(m) = metadata.as_object_mut() {
        m.insert("sdkVersion".into(), sdk_version.into());
    }
    crate::repo::sync_runs::SyncEvent {
        event_id: uuid::Uuid::new_v4(),
        run_id,
        user_id: user,
        provider: provider.to_string(),
        source: "sdk".into(),
        stage,
        status,
        message: Some(message),
        error: None,
        progress: None,
        items_processed: processed,
        items_total: total,
        primary_user_id: None,
        metadata,
        started_at: None,
        ended_at: None,
        timestamp: crate::repo::truncate_micros(timestamp),
    }
}

/// Mobile SDK diagnostic log events (202): validated, stored as sync status events for 24
/// hours and listed by `/users/{user_id}/sync/recent`.
#[utoipa::path(post, path = "/api/v1/sdk/users/{user_id}/logs", tag = "sdk", params(("user_id" = String, Path)),
    request_body = SdkLogRequest,
    responses((status = 202, body = UploadDataResponse), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn sdk_logs(
    St(state): St<State>,
    caller: SdkCaller,
    Path(user_id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<UploadDataResponse>)> {
    caller.check_user(&user_id)?;
    let req: SdkLogRequest = super::json_body(&body)?;
    check_log(&req)?;
    let user = parse_uuid(&user_id)?;
    if !state.db.user_exists(user).await? {
        return Err(ApiError::entity_not_found("User", user));
    }
    let provider = req
        .provider
        .as_deref()
        .map(str::to_lowercase)
        .unwrap_or_else(|| "unknown".into());
    let events: Vec<_> = req
        .events
        .iter()
        .map(|e| log_sync_event(user, &provider, &req.sdk_version, e))
        .collect();
    state.db.record_sync_events(&events, state.now()).await?;
    tracing::info!(user = %user, provider, events = events.len(), sdk = req.sdk_version, "sdk log events stored");
    Ok((
        StatusCode::ACCEPTED,
        Json(UploadDataResponse {
            status_code: 202,
            response: "Log events stored successfully".into(),
            user_id: Some(user_id),
            dropped_count: 0,
            records_saved: 0,
            workouts_saved: 0,
            sleep_saved: 0,
        }),
    ))
}

//! Apple Health export import (api.md #74–#76, issue #13).
//!
//! `POST /users/{id}/import/apple/xml/direct` (#75) streams the multipart body's `file` field
//! (an `export.xml` or the Health app's `export.zip`) to a temporary file, bounded by
//! `APPLE_IMPORT_MAX_BYTES` and an idle timeout, answers `processing` with the task id, and
//! imports it in the background (`services::apple_import`); the import's progress and summary
//! are the user's sync run of that id (source `apple_xml`).
//!
//! `POST /users/{id}/import/apple/xml/s3` (#74) answers a browser-upload form for the import
//! bucket, its POST policy signed here with SigV4 (`domain::s3_post`): exactly the key
//! `<user_id>/raw/<file>`, `Content-Type: application/xml`, 1 byte to `max_file_size`. The
//! bucket's object-created event runs the import (`services::s3_import`, the import
//! function). `POST /sns/notification` (#76) takes the same events from deployments that
//! route the bucket through an SNS topic (`services::sns`: signature, topic, confirmation).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State as St};
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::sdk::UploadDataResponse;
use super::{State, json_body, parse_uuid};
use crate::auth::guard::Caller;
use crate::domain::s3_post;
use crate::domain::sns::SnsMessage;
use crate::error::{ApiError, ApiResult};
use crate::services::apple_import;
use crate::services::sns::{self, NotificationWork, SnsRefusal};

pub fn openapi_router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(presigned_upload))
        .routes(routes!(direct_upload))
        .routes(routes!(sns_notification))
}

/// The body of #74 (`{}` is valid).
#[derive(Debug, Deserialize, ToSchema)]
pub struct PresignedUploadRequest {
    /// Filtered to `[A-Za-z0-9._-]`; empty: `<timestamp>.xml`. At most 200 characters.
    #[serde(default)]
    pub filename: String,
    /// 60–3600, default 300.
    #[serde(default = "default_expiration")]
    pub expiration_seconds: i64,
    /// 1024–1073741824 bytes, default 52428800 (50 MiB).
    #[serde(default = "default_max_size")]
    pub max_file_size: i64,
}

fn default_expiration() -> i64 {
    300
}

fn default_max_size() -> i64 {
    52_428_800
}

/// A browser-upload form for the import bucket (api.md #74).
#[derive(Debug, Serialize, ToSchema)]
pub struct PresignedURLResponse {
    /// Where the form is POSTed (multipart/form-data: `form_fields`, then `file`).
    pub upload_url: String,
    pub form_fields: BTreeMap<String, String>,
    /// `<user_id>/raw/<file>`.
    pub file_key: String,
    pub expires_in: i64,
    pub max_file_size: i64,
    pub bucket: String,
}

/// The object key of an upload: the filename filtered to `[A-Za-z0-9._-]`, or the current
/// timestamp when nothing is left.
pub fn upload_key(user_id: &str, filename: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let kept: String = filename
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect();
    let name = if kept.is_empty() || kept.chars().all(|c| c == '.') {
        format!("{}.xml", now.format("%Y%m%d_%H%M%S"))
    } else {
        kept
    };
    format!("{user_id}/raw/{name}")
}

/// A presigned S3 POST form for uploading an Apple Health `export.xml` or `export.zip` to
/// the import bucket as `<user_id>/raw/<file>`; the import starts when the bucket notifies
/// the import function (or #76). The policy is signed with the function's own credentials.
#[utoipa::path(post, path = "/api/v1/users/{user_id}/import/apple/xml/s3", tag = "import",
    params(("user_id" = String, Path)), request_body = PresignedUploadRequest,
    responses((status = 200, body = PresignedURLResponse), (status = 400), (status = 401),
        (status = 404), (status = 503, description = "S3 client not configured")))]
pub async fn presigned_upload(
    St(state): St<State>,
    _: Caller,
    Path(user_id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<PresignedURLResponse>> {
    let Some((bucket, creds)) = state.config.s3.signing() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "S3 client not configured",
        ));
    };
    let req: PresignedUploadRequest = json_body(&body)?;
    if req.filename.chars().count() > 200 {
        return Err(ApiError::bad_request(
            "filename: String should have at most 200 characters",
        ));
    }
    if !(60..=3600).contains(&req.expiration_seconds) {
        return Err(ApiError::bad_request(
            "expiration_seconds: Input should be between 60 and 3600",
        ));
    }
    if !(1024..=1_073_741_824).contains(&req.max_file_size) {
        return Err(ApiError::bad_request(
            "max_file_size: Input should be between 1024 and 1073741824",
        ));
    }
    let user = parse_uuid(&user_id)?;
    if !state.db.user_exists(user).await? {
        return Err(ApiError::entity_not_found("User", user));
    }
    let now = state.now();
    let key = upload_key(&user_id, &req.filename, now);
    let signed = s3_post::sign_post(
        &s3_post::PostPolicy {
            bucket,
            key: &key,
            content_type: "application/xml",
            max_bytes: req.max_file_size as u64,
            expires_in: chrono::Duration::seconds(req.expiration_seconds),
        },
        &s3_post::SigningCredentials {
            access_key_id: &creds.access_key_id,
            secret_access_key: &creds.secret_access_key,
            session_token: creds.session_token.as_deref(),
        },
        &state.config.s3.region,
        now,
    );
    Ok(Json(PresignedURLResponse {
        upload_url: s3_post::upload_url(
            state.config.s3.endpoint.as_deref(),
            bucket,
            &state.config.s3.region,
        ),
        form_fields: signed.fields.into_iter().collect(),
        file_key: key,
        expires_in: req.expiration_seconds,
        max_file_size: req.max_file_size,
        bucket: bucket.to_string(),
    }))
}

/// The answer of a direct upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct DirectImportResponse {
    /// `processing`.
    pub status: &'static str,
    /// The import's sync run id (`/users/{id}/sync/runs`).
    pub task_id: String,
    pub user_id: String,
}

/// Uploads an Apple Health `export.xml` or `export.zip` (multipart field `file`) and imports
/// it in the background; progress and the final summary are the user's sync run `task_id`.
#[utoipa::path(post, path = "/api/v1/users/{user_id}/import/apple/xml/direct", tag = "import",
    params(("user_id" = String, Path)),
    request_body(content_type = "multipart/form-data", description = "field `file`: export.xml or export.zip"),
    responses((status = 200, body = DirectImportResponse), (status = 400), (status = 401),
        (status = 404), (status = 408, description = "the upload stalled"),
        (status = 413, description = "over APPLE_IMPORT_MAX_BYTES"),
        (status = 429, description = "imports already running")))]
pub async fn direct_upload(
    St(state): St<State>,
    _: Caller,
    Path(user_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<DirectImportResponse>> {
    let user = parse_uuid(&user_id)?;
    if !state.db.user_exists(user).await? {
        return Err(ApiError::entity_not_found("User", user));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        ApiError::bad_request("Expected a multipart/form-data body with a boundary")
    })?;
    let settings = state.config.apple_import.clone();
    let permit = state
        .import_slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many Apple Health imports are running; try again later",
            )
        })?;
    let run_id = uuid::Uuid::new_v4().to_string();
    let dir = state.config.data_dir.join("imports");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ApiError::internal(format!("import directory: {e}")))?;
    let path = dir.join(format!("{run_id}.upload"));
    let received = receive(body, boundary, &path, &settings).await;
    if let Err(e) = received {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(e);
    }
    let now = state.now();
    state
        .db
        .record_sync(
            &apple_import::queued_run(user, &run_id, now),
            serde_json::json!({"phase": "queued"}),
        )
        .await?;
    let task = run_id.clone();
    let bg = state.clone();
    let work = async move {
        let _permit = permit;
        apple_import::import_file(&bg, user, &path, &task).await;
        if let Err(e) = tokio::fs::remove_file(&path).await {
            tracing::warn!(error = %e, "import upload not removed");
        }
    };
    if settings.inline {
        work.await;
    } else {
        tokio::spawn(work);
    }
    Ok(Json(DirectImportResponse {
        status: "processing",
        task_id: run_id,
        user_id,
    }))
}

/// Streams the `file` field to `path`; other fields are read and dropped (bounded too).
async fn receive(
    body: Body,
    boundary: String,
    path: &PathBuf,
    settings: &crate::config::AppleImportSettings,
) -> ApiResult<()> {
    let limit = settings.max_upload_bytes;
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(limit.saturating_add(1024 * 1024))
            .per_field(limit),
    );
    let mut form =
        multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let idle = Duration::from_secs(settings.idle_seconds);
    let mut got_file = false;
    loop {
        let field = tokio::time::timeout(idle, form.next_field())
            .await
            .map_err(|_| stalled())?
            .map_err(multipart_error)?;
        let Some(mut field) = field else { break };
        let is_file = field.name() == Some("file") && !got_file;
        let mut out = if is_file {
            Some(
                tokio::fs::File::create(path)
                    .await
                    .map_err(|e| ApiError::internal(format!("import file: {e}")))?,
            )
        } else {
            None
        };
        let mut written = 0u64;
        while let Some(chunk) = tokio::time::timeout(idle, field.chunk())
            .await
            .map_err(|_| stalled())?
            .map_err(multipart_error)?
        {
            written += chunk.len() as u64;
            if let Some(f) = out.as_mut() {
                f.write_all(&chunk)
                    .await
                    .map_err(|e| ApiError::internal(format!("import file: {e}")))?;
            }
        }
        if let Some(mut f) = out {
            f.flush()
                .await
                .map_err(|e| ApiError::internal(format!("import file: {e}")))?;
            if written == 0 {
                return Err(ApiError::bad_request("The file is empty"));
            }
            got_file = true;
        }
    }
    if !got_file {
        return Err(ApiError::bad_request("file: Field required"));
    }
    Ok(())
}

fn stalled() -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "The upload stalled: no data arrived within the idle timeout",
    )
}

fn multipart_error(e: multer::Error) -> ApiError {
    match e {
        multer::Error::StreamSizeExceeded { limit }
        | multer::Error::FieldSizeExceeded { limit, .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("File too large: the limit is {limit} bytes (APPLE_IMPORT_MAX_BYTES)"),
        ),
        other => ApiError::bad_request(format!("Invalid multipart body: {other}")),
    }
}

/// The answer of #76 (`UploadDataResponse`'s shape).
fn sns_answer(status_code: u16, response: String) -> (StatusCode, Json<UploadDataResponse>) {
    (
        StatusCode::ACCEPTED,
        Json(UploadDataResponse {
            status_code,
            response,
            user_id: None,
            dropped_count: 0,
            records_saved: 0,
            workouts_saved: 0,
            sleep_saved: 0,
        }),
    )
}

/// S3 event notifications delivered by SNS (deployments that wire the bucket through a
/// topic): the signature is verified against the AWS signing certificate (its URL checked
/// before any fetch) and the topic must be `AWS_SNS_TOPIC_ARN`; a subscription is confirmed;
/// each `aws:s3` record of a notification queues the import of its object.
#[utoipa::path(post, path = "/api/v1/sns/notification", tag = "import",
    request_body(content = String, description = "the raw SNS JSON message, any content type"),
    responses((status = 202, body = UploadDataResponse), (status = 400),
        (status = 403, description = "invalid SNS signature / invalid SNS topic ARN"),
        (status = 503, description = "SNS client not configured")))]
pub async fn sns_notification(
    St(state): St<State>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<UploadDataResponse>)> {
    let Some(topic) = state.config.s3.sns_topic_arn.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SNS client not configured",
        ));
    };
    let msg: SnsMessage = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid SNS message: {e}")))?;
    match sns::verify(&state, &msg, &topic).await {
        Ok(()) => {}
        Err(SnsRefusal::Signature(cause)) => {
            tracing::warn!(message_id = %msg.message_id, %cause, "SNS message refused");
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "invalid SNS signature",
            ));
        }
        Err(SnsRefusal::Topic) => {
            tracing::warn!(message_id = %msg.message_id, topic = %msg.topic_arn, "SNS message of another topic");
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "invalid SNS topic ARN",
            ));
        }
    }
    match msg.kind.as_str() {
        "SubscriptionConfirmation" => {
            sns::confirm_subscription(&state, &msg)
                .await
                .map_err(ApiError::bad_request)?;
            tracing::info!(topic = %msg.topic_arn, "SNS subscription confirmed");
            Ok(sns_answer(200, "subscription_confirmed".into()))
        }
        "Notification" => {
            match sns::notification_work(&msg.message).map_err(ApiError::bad_request)? {
                NotificationWork::TestEvent => Ok(sns_answer(200, "ignored: s3:TestEvent".into())),
                NotificationWork::Imports(jobs) => {
                    let n = jobs.len();
                    if n > 0 {
                        state
                            .queue
                            .enqueue(jobs)
                            .await
                            .map_err(ApiError::internal)?;
                    }
                    Ok(sns_answer(202, format!("{n} tasks dispatched")))
                }
            }
        }
        other => Err(ApiError::bad_request(format!(
            "unknown message type: {other}"
        ))),
    }
}

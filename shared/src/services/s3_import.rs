//! The S3 flow of the Apple Health import (issue #13): an upload to the import bucket
//! (`<user_id>/raw/<file>`, presigned by #74) becomes an import job; the job reads the object
//! in ranges into the one import pipeline (`services::apple_import`), checkpoints an
//! `export.xml` every `APPLE_IMPORT_CHECKPOINT_BYTES`, and when its invocation's deadline
//! nears it stops at a checkpoint and re-queues itself; the next run continues from there.
//!
//! The run id is derived from (bucket, key, ETag): a re-delivered event, a retry after a
//! crash and a re-queued continuation all land in the same run and find the same
//! checkpoint. Whatever was stored after the last checkpoint is read again on a retry and
//! deduplicated by the write path (samples by source, series and instant; workouts by
//! source, start and end), so nothing is stored twice. An `export.zip` is always read from
//! its beginning (see `apple_import::import_input`).
//!
//! A key that does not name a user (fewer than 3 `/`-segments, not a UUID, an unknown user)
//! is logged and skipped: it can never succeed, so it is not retried.

use std::time::{Duration, Instant};

use aws_lambda_events::s3::S3Event;
use uuid::Uuid;

use super::apple_import::{self, Input, Outcome, Resumable};
use crate::app::{AppState, Job};
use crate::store::StoreError;
use crate::store::objects::ObjectError;

/// Why an import job failed, and whether running it again can help (the job layer maps it
/// onto its own retry rules).
#[derive(Debug, thiserror::Error)]
pub enum ImportJobError {
    /// The store, the bucket or the queue is unavailable.
    #[error("{0}")]
    Retryable(String),
    /// The job can never succeed as it is.
    #[error("{0}")]
    Permanent(String),
}

impl ImportJobError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, ImportJobError::Retryable(_))
    }
}

impl From<StoreError> for ImportJobError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::TooLarge(_) => ImportJobError::Permanent(e.to_string()),
            StoreError::ConditionFailed | StoreError::Backend(_) => {
                ImportJobError::Retryable(e.to_string())
            }
        }
    }
}

/// When a run must stop early.
#[derive(Debug, Clone, Copy, Default)]
pub struct Budget {
    /// The invocation's deadline (Lambda's context), if it has one.
    pub deadline: Option<Instant>,
    /// Stop after this many checkpoints (tests).
    pub max_checkpoints: Option<u32>,
}

/// How one object went.
#[derive(Debug)]
pub enum ObjectOutcome {
    Finished(Box<apple_import::ImportSummary>),
    /// Stopped at a checkpoint: the continuation is the returned follow-up job.
    Paused {
        offset: u64,
    },
    /// Not an import (why).
    Skipped(String),
}

/// The user a key belongs to: the first of at least 3 `/`-segments (api.md #76's rule),
/// which must be a UUID.
pub fn user_of_key(key: &str) -> Result<Uuid, String> {
    let parts: Vec<&str> = key.split('/').collect();
    if parts.len() < 3 {
        return Err(format!("key {key:?} is not <user_id>/raw/<file>"));
    }
    Uuid::parse_str(parts[0]).map_err(|_| format!("key {key:?} does not start with a user id"))
}

/// The run of one object version.
pub fn run_id_of(bucket: &str, key: &str, etag: &str) -> String {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("s3://{bucket}/{key}#{etag}").as_bytes(),
    )
    .to_string()
}

/// An S3 event key: URL-encoded, with `+` for spaces.
pub fn decode_event_key(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// The import jobs of an S3 event: one per object-created record.
pub fn jobs_of_event(event: &S3Event) -> Vec<Job> {
    event
        .records
        .iter()
        .filter(|r| {
            r.event_name
                .as_deref()
                .is_none_or(|n| n.starts_with("ObjectCreated"))
        })
        .filter_map(|r| {
            let bucket = r.s3.bucket.name.clone()?;
            let key = decode_event_key(r.s3.object.key.as_deref()?);
            Some(Job::AppleImportS3 {
                bucket,
                key,
                etag: r.s3.object.e_tag.clone().filter(|e| !e.is_empty()),
            })
        })
        .collect()
}

/// Runs the import job of one object; a pause answers the continuation as a follow-up job.
pub async fn run_job(
    state: &AppState,
    bucket: &str,
    key: &str,
    etag: Option<&str>,
    budget: Budget,
) -> Result<Vec<Job>, ImportJobError> {
    match import_object(state, bucket, key, etag, budget).await? {
        ObjectOutcome::Paused { offset } => {
            tracing::info!(bucket, key, offset, "import paused; continuation queued");
            Ok(vec![Job::AppleImportS3 {
                bucket: bucket.to_string(),
                key: key.to_string(),
                etag: etag.map(str::to_string),
            }])
        }
        ObjectOutcome::Skipped(why) => {
            tracing::warn!(bucket, key, reason = %why, "upload skipped");
            Ok(Vec::new())
        }
        ObjectOutcome::Finished(_) => Ok(Vec::new()),
    }
}

/// Imports (or continues importing) one object of the bucket.
pub async fn import_object(
    state: &AppState,
    bucket: &str,
    key: &str,
    etag: Option<&str>,
    budget: Budget,
) -> Result<ObjectOutcome, ImportJobError> {
    let user = match user_of_key(key) {
        Ok(u) => u,
        Err(why) => return Ok(ObjectOutcome::Skipped(why)),
    };
    if !state.db.user_exists(user).await? {
        return Ok(ObjectOutcome::Skipped(format!("no user {user}")));
    }
    let Some(objects) = state.objects.clone() else {
        return Err(ImportJobError::Permanent(
            "an S3 import job without an S3 client (AWS_BUCKET_NAME is not set)".into(),
        ));
    };
    let info = match objects.head(bucket, key).await {
        Ok(i) => i,
        Err(ObjectError::Gone(why)) => return Ok(ObjectOutcome::Skipped(why)),
        Err(e @ ObjectError::Unavailable(_)) => {
            return Err(ImportJobError::Retryable(e.to_string()));
        }
    };
    if let Some(e) = etag.map(|e| e.trim_matches('"'))
        && !info.etag.is_empty()
        && e != info.etag
    {
        // A newer upload replaced this version; its own event imports it.
        return Ok(ObjectOutcome::Skipped(format!(
            "{key} changed since the event (ETag {e}, now {})",
            info.etag
        )));
    }
    let run_id = run_id_of(bucket, key, &info.etag);
    let from = state.db.import_checkpoint(user, &run_id).await?;
    let now = state.now();
    if state.db.sync_run(user, &run_id).await?.is_none() {
        state
            .db
            .record_sync(
                &apple_import::queued_run(user, &run_id, now),
                serde_json::json!({"phase": "queued", "bucket": bucket, "key": key}),
            )
            .await?;
    }
    let margin = Duration::from_secs(state.config.s3.deadline_margin_seconds);
    let stop_at = budget
        .deadline
        .map(|d| d.checked_sub(margin).unwrap_or_else(Instant::now));
    let from = from.map(|mut c| {
        c.resumes += 1;
        tracing::info!(
            run = run_id,
            offset = c.offset,
            resumes = c.resumes,
            "import continues from its checkpoint"
        );
        c
    });
    let resumable = Resumable {
        bucket: bucket.to_string(),
        key: key.to_string(),
        etag: info.etag.clone(),
        from,
        every_bytes: state.config.s3.checkpoint_bytes,
        stop_at,
        max_checkpoints: budget.max_checkpoints,
    };
    let input = Input::Object {
        objects,
        bucket: bucket.to_string(),
        key: key.to_string(),
        info,
        range: state.config.s3.range_bytes,
    };
    let out = apple_import::import_input(state, user, input, &run_id, Some(resumable)).await;
    Ok(match out {
        Outcome::Finished(s) if s.status == "failed" => {
            // Storage failed: the checkpoint is kept and the job retried.
            return Err(ImportJobError::Retryable(
                s.error.unwrap_or_else(|| "the import failed".into()),
            ));
        }
        Outcome::Finished(s) => ObjectOutcome::Finished(s),
        Outcome::Paused { offset } => ObjectOutcome::Paused { offset },
    })
}

/// Handles an S3 event in the import function: each object is imported in turn within the
/// invocation's budget; continuations go to the queue.
pub async fn handle_s3_event(
    state: &AppState,
    event: &S3Event,
    budget: Budget,
) -> Result<(), ImportJobError> {
    let mut follow_up = Vec::new();
    let mut failed = None;
    for job in jobs_of_event(event) {
        let Job::AppleImportS3 { bucket, key, etag } = &job else {
            continue;
        };
        match run_job(state, bucket, key, etag.as_deref(), budget).await {
            Ok(more) => follow_up.extend(more),
            Err(e) if e.is_retryable() => failed = Some(e),
            Err(e) => tracing::error!(bucket, key, error = %e, "import failed permanently"),
        }
    }
    if !follow_up.is_empty() {
        state
            .queue
            .enqueue(follow_up)
            .await
            .map_err(|e| ImportJobError::Retryable(e.to_string()))?;
    }
    // S3 invokes asynchronously: an error makes Lambda retry the event (twice by default).
    failed.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_user() {
        let u = Uuid::new_v4();
        assert_eq!(user_of_key(&format!("{u}/raw/export.xml")), Ok(u));
        assert!(user_of_key(&format!("{u}/export.xml")).is_err());
        assert!(user_of_key("someone/raw/export.xml").is_err());
        assert_eq!(
            decode_event_key("a/raw/my+export%281%29.xml"),
            "a/raw/my export(1).xml"
        );
    }

    #[test]
    fn one_object_version_is_one_run() {
        let a = run_id_of("b", "k", "e1");
        assert_eq!(a, run_id_of("b", "k", "e1"));
        assert_ne!(a, run_id_of("b", "k", "e2"));
    }

    #[test]
    fn a_recorded_event_becomes_import_jobs() {
        let raw = include_str!("../../../infra/events/s3/object-created.json");
        let event: S3Event = serde_json::from_str(raw).expect("event");
        let jobs = jobs_of_event(&event);
        assert_eq!(jobs.len(), 1, "{jobs:?}");
        let Job::AppleImportS3 { bucket, key, etag } = &jobs[0] else {
            panic!("{jobs:?}")
        };
        assert_eq!(bucket, "ow-imports-example");
        assert_eq!(key, "6f1c1f5e-1111-4222-8333-944444444444/raw/export.xml");
        assert_eq!(etag.as_deref(), Some("0123456789abcdef0123456789abcdef"));
    }
}

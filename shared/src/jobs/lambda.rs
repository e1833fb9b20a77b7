//! The SQS consumer (the `ow-jobs` function): runs each job message with the shared handler and
//! reports partial batch failures, so only messages that failed retryably are retried (and reach
//! the DLQ after the queue's maxReceiveCount); permanent failures are logged and acknowledged.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

use super::{Job, handlers};
use crate::app::AppState;

/// Handles one SQS batch.
pub async fn handle_batch(state: &AppState, event: SqsEvent) -> SqsBatchResponse {
    handle_batch_within(state, event, None).await
}

/// [`handle_batch`] under an invocation budget: import jobs stop at a checkpoint before the
/// deadline and queue their continuation (the import function).
pub async fn handle_batch_within(
    state: &AppState,
    event: SqsEvent,
    budget: Option<crate::services::s3_import::Budget>,
) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let job: Job = match record.body.as_deref().map(serde_json::from_str) {
            Some(Ok(job)) => job,
            // A message that is not a job can never succeed: drop it, loudly.
            other => {
                tracing::error!(message_id = %id, ok = other.is_some(), "discarding a message that is not a job");
                continue;
            }
        };
        let outcome = match (&job, budget) {
            (Job::AppleImportS3 { bucket, key, etag }, Some(b)) => {
                crate::services::s3_import::run_job(state, bucket, key, etag.as_deref(), b)
                    .await
                    .map_err(super::JobError::from)
            }
            _ => handlers::handle(state, &job).await,
        };
        match outcome {
            Ok(follow_up) => {
                if !follow_up.is_empty()
                    && let Err(e) = state.queue.enqueue(follow_up).await
                {
                    tracing::error!(message_id = %id, error = %e, "follow-up jobs not queued; retrying the message");
                    failures.push(failure(id));
                }
            }
            Err(e) if e.is_retryable() => {
                tracing::warn!(message_id = %id, ?job, error = %e, "job failed; SQS will retry it");
                failures.push(failure(id));
            }
            // Delivering it again would only repeat the failure: acknowledge it, loudly.
            Err(e) => {
                tracing::error!(message_id = %id, ?job, error = %e, "job failed permanently; not retried");
            }
        }
    }
    let mut resp = SqsBatchResponse::default();
    resp.batch_item_failures = failures;
    resp
}

fn failure(id: String) -> BatchItemFailure {
    let mut f = BatchItemFailure::default();
    f.item_identifier = id;
    f
}

//! The SQS consumer (the `ow-jobs` function): runs each job message with the shared handler and
//! reports partial batch failures, so only messages that failed retryably are retried (and reach
//! the DLQ after the queue's maxReceiveCount); permanent failures are logged and acknowledged.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

use super::{Job, handlers};
use crate::app::AppState;

/// Handles one SQS batch. Identical jobs in one batch (a roll-up of the same user and day
/// queued by consecutive pushes, say) run once: their messages succeed or fail together.
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
    for (job, ids) in coalesce(event) {
        let id = ids.join(",");
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
                    failures.extend(ids.into_iter().map(failure));
                }
            }
            Err(e) if e.is_retryable() => {
                tracing::warn!(message_id = %id, ?job, error = %e, "job failed; SQS will retry it");
                failures.extend(ids.into_iter().map(failure));
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

/// The batch's jobs, each once, with the ids of the messages that carry it (in order of first
/// appearance). Messages that are not jobs are dropped, loudly.
fn coalesce(event: SqsEvent) -> Vec<(Job, Vec<String>)> {
    let mut unique: Vec<(Job, Vec<String>)> = Vec::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let job: Job = match record.body.as_deref().map(serde_json::from_str) {
            Some(Ok(job)) => job,
            // A message that is not a job can never succeed.
            other => {
                tracing::error!(message_id = %id, ok = other.is_some(), "discarding a message that is not a job");
                continue;
            }
        };
        match unique.iter_mut().find(|(j, _)| *j == job) {
            Some((_, ids)) => ids.push(id),
            None => unique.push((job, vec![id])),
        }
    }
    unique
}

fn failure(id: String) -> BatchItemFailure {
    let mut f = BatchItemFailure::default();
    f.item_identifier = id;
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::sqs::SqsMessage;
    use chrono::NaiveDate;
    use uuid::Uuid;

    fn message(id: &str, body: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body.into());
        m
    }

    #[test]
    fn identical_jobs_of_a_batch_run_once_with_all_their_message_ids() {
        let user = Uuid::from_u128(7);
        let day = |d| Job::Rollup {
            user_id: user,
            date: NaiveDate::from_ymd_opt(2025, 3, d).expect("date"),
        };
        let body = |j: &Job| serde_json::to_string(j).expect("json");
        let mut event = SqsEvent::default();
        event.records = vec![
            message("a", &body(&day(1))),
            message("b", &body(&day(2))),
            message("c", "not a job"),
            message("d", &body(&day(1))),
        ];
        let got = coalesce(event);
        assert_eq!(
            got,
            vec![
                (day(1), vec!["a".to_string(), "d".to_string()]),
                (day(2), vec!["b".to_string()]),
            ]
        );
    }
}

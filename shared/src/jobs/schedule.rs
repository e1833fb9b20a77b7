//! Scheduled work (EventBridge in AWS, a timer locally): finalises SDK sleep sessions whose last
//! segment is 120 minutes old even when no further push arrives.

use super::{Job, QueueError};
use crate::api::AppState;

/// One tick: fans out a sleep job per user with an open session. Returns how many were queued.
pub async fn tick(state: &AppState) -> Result<usize, QueueError> {
    let users = state
        .db
        .users_with_open_sleep()
        .await
        .map_err(|e| QueueError(e.to_string()))?;
    let n = users.len();
    state
        .queue
        .enqueue(
            users
                .into_iter()
                .map(|user_id| Job::Sleep { user_id })
                .collect(),
        )
        .await?;
    Ok(n)
}

/// Runs [`tick`] every `every` until the process ends (the local server).
pub fn spawn_local(state: crate::api::State, every: std::time::Duration) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            match tick(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(users = n, "scheduled sleep finalisation"),
                Err(e) => tracing::warn!(error = %e, "scheduled tick failed"),
            }
        }
    });
}

/// Runs the scheduled tick under the Lambda runtime (EventBridge events; the payload is unused).
pub async fn run_lambda() -> Result<(), lambda_runtime::Error> {
    crate::bootstrap::init_tracing();
    let state = crate::bootstrap::state_from_env().await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |_event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let state = state.clone();
            async move {
                let queued = tick(&state).await?;
                Ok::<_, lambda_runtime::Error>(serde_json::json!({ "sleep_jobs_queued": queued }))
            }
        },
    ))
    .await
}

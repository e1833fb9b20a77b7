//! In-process job queue for the local server and tests: a tokio channel and one worker task
//! running the same handler as the SQS consumer. Identical queued jobs are coalesced, and
//! derived work (roll-ups, sleep sessions, resilience scores) waits [`COALESCE_DELAY`] before
//! it is queued, so a client's consecutive pushes to one day cost one roll-up, not one each.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, mpsc};

use super::{Job, JobQueue, QueueError, handlers};
use crate::app::State;

/// How long derived work waits before it runs (pushes in that time join it).
pub const COALESCE_DELAY: Duration = Duration::from_millis(200);

/// Whether a job is derived work recomputed from stored data (safe to delay and coalesce).
fn is_derived(job: &Job) -> bool {
    matches!(
        job,
        Job::Rollup { .. } | Job::Sleep { .. } | Job::Resilience { .. }
    )
}

/// The in-process queue.
pub struct InProcessQueue {
    tx: mpsc::UnboundedSender<Job>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Job>>>,
    /// Jobs waiting in the channel (the coalescing set).
    queued: Mutex<HashSet<Job>>,
    /// Jobs enqueued and not yet finished.
    outstanding: AtomicUsize,
    idle: Notify,
}

impl InProcessQueue {
    pub fn new() -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        Arc::new(Self {
            tx,
            rx: Mutex::new(Some(rx)),
            queued: Mutex::new(HashSet::new()),
            outstanding: AtomicUsize::new(0),
            idle: Notify::new(),
        })
    }

    /// Starts the worker (once) over the finished state.
    pub fn start(self: &Arc<Self>, state: State) {
        let Some(mut rx) = self.rx.lock().ok().and_then(|mut r| r.take()) else {
            return;
        };
        let me = self.clone();
        tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                if let Ok(mut q) = me.queued.lock() {
                    q.remove(&job);
                }
                run_with_retries(&state, &job).await;
                if me.outstanding.fetch_sub(1, Ordering::SeqCst) == 1 {
                    me.idle.notify_waiters();
                }
            }
        });
    }

    /// Jobs enqueued (waiting, delayed or running) and not yet finished.
    pub fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::SeqCst)
    }

    /// Waits until every enqueued job (and the follow-ups they enqueue) has run.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.outstanding.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

async fn run_with_retries(state: &State, job: &Job) {
    let mut delay = Duration::from_millis(50);
    for attempt in 1..=5 {
        match handlers::handle(state, job).await {
            Ok(follow_up) => {
                if !follow_up.is_empty()
                    && let Err(e) = state.queue.enqueue(follow_up).await
                {
                    tracing::error!(error = %e, "could not enqueue follow-up jobs");
                }
                return;
            }
            Err(e) if !e.is_retryable() => {
                tracing::error!(?job, error = %e, "job failed permanently; not retried");
                return;
            }
            Err(e) if attempt < 5 => {
                tracing::warn!(?job, attempt, error = %e, "job failed, retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => tracing::error!(
                ?job,
                error = %e,
                "job failed after retries; the next job for this key recomputes it"
            ),
        }
    }
}

#[async_trait]
impl JobQueue for InProcessQueue {
    async fn enqueue(&self, jobs: Vec<Job>) -> Result<(), QueueError> {
        for job in jobs {
            let fresh = self
                .queued
                .lock()
                .map(|mut q| q.insert(job.clone()))
                .unwrap_or(true);
            if !fresh {
                continue;
            }
            self.outstanding.fetch_add(1, Ordering::SeqCst);
            if is_derived(&job) && tokio::runtime::Handle::try_current().is_ok() {
                // It stays in the coalescing set while it waits.
                // The receiver lives as long as the process: a failed send means it is
                // shutting down, and the job is recomputed by the next write of that day.
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(COALESCE_DELAY).await;
                    if tx.send(job).is_err() {
                        tracing::warn!("job queue closed; a delayed derived job was dropped");
                    }
                });
            } else if let Err(e) = self.tx.send(job) {
                self.outstanding.fetch_sub(1, Ordering::SeqCst);
                return Err(QueueError(e.to_string()));
            }
        }
        Ok(())
    }

    async fn wait_idle(&self) {
        InProcessQueue::wait_idle(self).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use uuid::Uuid;

    #[tokio::test]
    async fn derived_jobs_wait_and_coalesce_others_do_not_wait() {
        let q = InProcessQueue::new();
        let rollup = Job::Rollup {
            user_id: Uuid::from_u128(1),
            date: NaiveDate::from_ymd_opt(2025, 3, 1).expect("date"),
        };
        for _ in 0..3 {
            q.enqueue(vec![rollup.clone()]).await.expect("enqueue");
        }
        assert_eq!(q.outstanding(), 1, "three pushes of one day: one roll-up");
        let mut rx = q.rx.lock().expect("lock").take().expect("receiver");
        // Not in the channel yet: it waits for the pushes that follow.
        assert!(rx.try_recv().is_err());
        let fanout = Job::WebhookFanout { msg_id: "m".into() };
        q.enqueue(vec![fanout.clone()]).await.expect("enqueue");
        assert_eq!(
            rx.try_recv().ok(),
            Some(fanout),
            "webhook work is not delayed"
        );
        let got = tokio::time::timeout(COALESCE_DELAY * 10, rx.recv())
            .await
            .expect("the delayed job arrives");
        assert_eq!(got, Some(rollup.clone()));
        assert!(rx.try_recv().is_err(), "once");
        // Still in the coalescing set until the worker takes it: no second copy meanwhile.
        q.enqueue(vec![rollup]).await.expect("enqueue");
        assert_eq!(q.outstanding(), 2);
    }
}

//! In-process job queue for the local server and tests: a tokio channel and one worker task
//! running the same handler as the SQS consumer. Identical queued jobs are coalesced.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, mpsc};

use super::{Job, JobQueue, QueueError, handlers};
use crate::app::State;

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
            if fresh {
                self.outstanding.fetch_add(1, Ordering::SeqCst);
                if let Err(e) = self.tx.send(job) {
                    self.outstanding.fetch_sub(1, Ordering::SeqCst);
                    return Err(QueueError(e.to_string()));
                }
            }
        }
        Ok(())
    }

    async fn wait_idle(&self) {
        InProcessQueue::wait_idle(self).await;
    }
}

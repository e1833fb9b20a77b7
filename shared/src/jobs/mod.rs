//! Background work: small idempotent jobs keyed by user (and day), a queue port with an SQS
//! adapter and an in-process adapter, and the one handler both run.
//!
//! A job never carries data, only what to recompute: a lost or repeated job can never lose or
//! double samples, because every handler recomputes from what is stored.

pub mod handlers;
pub mod lambda;
pub mod local;
pub mod schedule;
pub mod sqs;

use async_trait::async_trait;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One unit of derived work.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Recompute the activity roll-ups of one local day of one user.
    Rollup { user_id: Uuid, date: NaiveDate },
    /// Feed the user's pending SDK sleep segments into sessions (and score new sessions).
    Sleep { user_id: Uuid },
    /// Recompute the internal resilience score of one reference date (UTC).
    Resilience { user_id: Uuid, date: NaiveDate },
    /// Pull one window of one provider connection.
    ProviderSync {
        user_id: Uuid,
        provider: String,
        start: chrono::DateTime<chrono::Utc>,
        end: chrono::DateTime<chrono::Utc>,
    },
    /// Generate synthetic users and data.
    Seed {
        task_id: Uuid,
        users: u32,
        seed: u64,
        profile: Box<crate::seed::SeedProfile>,
    },
}

/// A queue failure (the caller decides whether the request fails).
#[derive(Debug, thiserror::Error)]
#[error("job queue error: {0}")]
pub struct QueueError(pub String);

/// The job queue port.
#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    /// Enqueues jobs (at-least-once delivery).
    async fn enqueue(&self, jobs: Vec<Job>) -> Result<(), QueueError>;
}

//! The application context: the ports every layer above works through (table via the
//! repositories, job queue, clock, token signer and cipher, outbound HTTP) and the
//! configuration. It depends only on the layers below it (`domain`, `config`, `keys`, `limits`,
//! `store`, `repo`), never on `api`, `jobs`, `providers` or `auth`, which all build on it.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::clock::Clock;
use crate::config::Config;
use crate::keys::tokens::TokenSigner;
use crate::limits::login::LoginLimiter;
use crate::repo::Db;
use crate::repo::connections::TokenCipher;
use crate::store::objects::ObjectSource;

/// Everything a handler needs: ports and configuration.
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    pub signer: TokenSigner,
    /// Failed-login limits per account and client address (per process).
    pub login_limiter: LoginLimiter,
    /// Where derived work goes (SQS in AWS, in-process locally).
    pub queue: Arc<dyn JobQueue>,
    /// Provider tokens at rest.
    pub cipher: TokenCipher,
    /// Outbound HTTP (provider APIs).
    pub http: reqwest::Client,
    /// The import bucket (S3; with the `s3` feature and `AWS_BUCKET_NAME` set), else `None`.
    pub objects: Option<Arc<dyn ObjectSource>>,
    /// Direct Apple Health imports running at once (`APPLE_IMPORT_CONCURRENCY`): one bound
    /// per app, so that apps sharing a process (tests) do not share it.
    pub import_slots: Arc<tokio::sync::Semaphore>,
}

/// The state as handlers receive it.
pub type State = Arc<AppState>;

impl AppState {
    pub fn new(
        db: Db,
        config: Arc<Config>,
        clock: Arc<dyn Clock>,
        queue: Arc<dyn JobQueue>,
    ) -> Self {
        let signer = TokenSigner::new(&config.secret_key, config.access_token_expire_minutes);
        let login_limiter = LoginLimiter::new(&config.limits);
        let cipher = TokenCipher::from_config(&config);
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .unwrap_or_default();
        #[cfg(feature = "s3")]
        let objects = config.s3.bucket.is_some().then(|| {
            Arc::new(crate::store::objects::S3Objects::from_settings(&config.s3))
                as Arc<dyn ObjectSource>
        });
        #[cfg(not(feature = "s3"))]
        let objects = None;
        let import_slots = Arc::new(tokio::sync::Semaphore::new(config.apple_import.concurrency));
        Self {
            db,
            config,
            clock,
            signer,
            login_limiter,
            queue,
            cipher,
            http,
            objects,
            import_slots,
        }
    }

    /// Waits until the queue has run every job it was given (an in-process queue; a
    /// remote queue returns at once).
    pub async fn jobs_idle(&self) {
        self.queue.wait_idle().await;
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        crate::repo::truncate_micros(self.clock.now())
    }
}

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
        provider: crate::domain::provider::Provider,
        start: chrono::DateTime<chrono::Utc>,
        end: chrono::DateTime<chrono::Utc>,
    },
    /// Write the deliveries of one outgoing-webhook message (one per matching endpoint).
    WebhookFanout { msg_id: String },
    /// Make attempt number `attempt` of one outgoing-webhook delivery.
    WebhookDeliver {
        msg_id: String,
        endpoint_id: String,
        attempt: u32,
        /// A manual retry (`triggerType` 1): made whatever the delivery's state.
        #[serde(default)]
        manual: bool,
    },
    /// Apply the data-lifecycle setting: fans out one [`Job::RetentionUser`] per user.
    Retention { task_id: Uuid },
    /// Delete one user's data older than `cutoff` (the retention setting at dispatch time).
    RetentionUser {
        task_id: Uuid,
        user_id: Uuid,
        cutoff: chrono::DateTime<chrono::Utc>,
    },
    /// Import (or continue importing, from its checkpoint) an Apple Health export uploaded
    /// to the import bucket as `<user_id>/raw/<file>`.
    AppleImportS3 {
        bucket: String,
        key: String,
        /// The object version the event named (the current one when absent).
        #[serde(default)]
        etag: Option<String>,
    },
    /// Compute the day aggregates of a user whose chunks predate them (bucketed reads visit
    /// the samples until it has run).
    SeriesAggregates { user_id: Uuid },
    /// Generate synthetic users and data.
    Seed {
        task_id: Uuid,
        users: u32,
        seed: u64,
        profile: Box<crate::domain::seed_profile::SeedProfile>,
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

    /// Enqueues jobs to run after `delay_seconds`, where the queue can delay (SQS, up to 15
    /// minutes). Answers `false` when it cannot: the caller relies on the schedule's sweep.
    async fn enqueue_delayed(
        &self,
        _jobs: Vec<Job>,
        _delay_seconds: i64,
    ) -> Result<bool, QueueError> {
        Ok(false)
    }

    /// Waits until every job given so far has run, where the queue can tell (the in-process
    /// queue: tests and demos); a remote queue returns at once.
    async fn wait_idle(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The queued form of a provider sync is unchanged by the typed provider: messages queued
    /// before (a lowercase string) still decode, and an unknown provider is refused.
    #[test]
    fn a_provider_sync_job_keeps_its_queued_spelling() {
        let raw = r#"{"kind":"provider_sync","user_id":"6f1c1f5e-1111-4222-8333-944444444444","provider":"oura","start":"2024-05-15T00:00:00Z","end":"2024-05-16T00:00:00Z"}"#;
        let job: Job = serde_json::from_str(raw).expect("decodes");
        let Job::ProviderSync { provider, .. } = &job else {
            panic!("{job:?}")
        };
        assert_eq!(*provider, crate::domain::provider::Provider::Oura);
        let back = serde_json::to_value(&job).expect("encodes");
        assert_eq!(back["provider"], "oura");
        assert!(serde_json::from_str::<Job>(&raw.replace("oura", "myspace")).is_err());
    }
}

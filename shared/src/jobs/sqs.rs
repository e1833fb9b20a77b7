//! SQS job queue adapter (AWS): jobs are small JSON messages; the `ow-jobs` function consumes
//! them with the same handler as the in-process worker.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use super::{Job, JobQueue, QueueError};

/// Sends jobs to the job queue, and import jobs to the import function's queue when one is
/// configured (`OW_IMPORT_QUEUE_URL`).
pub struct SqsQueue {
    client: Client,
    url: String,
    import_url: Option<String>,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
            import_url: None,
        }
    }

    /// Import jobs go to `url` (the import function's queue).
    pub fn with_import_queue(mut self, url: Option<String>) -> Self {
        self.import_url = url;
        self
    }

    fn queue_of(&self, job: &Job) -> &str {
        match (job, &self.import_url) {
            (Job::AppleImportS3 { .. }, Some(u)) => u,
            _ => &self.url,
        }
    }
}

#[async_trait]
impl JobQueue for SqsQueue {
    async fn enqueue_delayed(
        &self,
        jobs: Vec<Job>,
        delay_seconds: i64,
    ) -> Result<bool, QueueError> {
        // SQS delays a message by at most 15 minutes; longer waits are the schedule's.
        if !(0..=900).contains(&delay_seconds) {
            return Ok(false);
        }
        for job in jobs {
            let body = serde_json::to_string(&job).map_err(|e| QueueError(e.to_string()))?;
            self.client
                .send_message()
                .queue_url(self.queue_of(&job))
                .message_body(body)
                .delay_seconds(i32::try_from(delay_seconds).unwrap_or(0))
                .send()
                .await
                .map_err(|e| QueueError(format!("{:?}", e.into_service_error())))?;
        }
        Ok(true)
    }

    async fn enqueue(&self, jobs: Vec<Job>) -> Result<(), QueueError> {
        let mut unique = Vec::new();
        for j in jobs {
            if !unique.contains(&j) {
                unique.push(j);
            }
        }
        let (imports, others): (Vec<Job>, Vec<Job>) = unique
            .into_iter()
            .partition(|j| self.queue_of(j) != self.url);
        for chunk in imports.chunks(10).chain(others.chunks(10)) {
            let url = chunk
                .first()
                .map_or(self.url.as_str(), |j| self.queue_of(j));
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, job) in chunk.iter().enumerate() {
                let body = serde_json::to_string(job).map_err(|e| QueueError(e.to_string()))?;
                let entry = SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
                    .map_err(|e| QueueError(e.to_string()))?;
                entries.push(entry);
            }
            let out = self
                .client
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError(format!("{:?}", e.into_service_error())))?;
            if !out.failed().is_empty() {
                return Err(QueueError(format!(
                    "{} job messages were refused",
                    out.failed().len()
                )));
            }
        }
        Ok(())
    }
}

//! Why a job failed, and whether running it again can help.

use crate::store::StoreError;

/// A job failure. The SQS consumer reports retryable ones as partial-batch failures (SQS
/// delivers them again, then to the dead-letter queue) and acknowledges permanent ones after
/// logging them; the in-process queue retries only retryable ones.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Storage, a provider or the queue is unavailable: the job may succeed when run again.
    #[error("{0}")]
    Retryable(String),
    /// The job can never succeed as it is (a refused seed profile, an item over the size
    /// limit): running it again would only repeat the failure.
    #[error("{0}")]
    Permanent(String),
}

impl JobError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, JobError::Retryable(_))
    }
}

impl From<crate::services::s3_import::ImportJobError> for JobError {
    fn from(e: crate::services::s3_import::ImportJobError) -> Self {
        use crate::services::s3_import::ImportJobError as E;
        match e {
            E::Retryable(m) => JobError::Retryable(m),
            E::Permanent(m) => JobError::Permanent(m),
        }
    }
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        match e {
            // The same data builds the same item: it stays too large.
            StoreError::TooLarge(_) => JobError::Permanent(e.to_string()),
            StoreError::ConditionFailed | StoreError::Backend(_) => {
                JobError::Retryable(e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_oversized_items_are_permanent_store_failures() {
        assert!(!JobError::from(StoreError::TooLarge(500_000)).is_retryable());
        assert!(JobError::from(StoreError::Backend("throttled".into())).is_retryable());
        assert!(JobError::from(StoreError::ConditionFailed).is_retryable());
    }
}

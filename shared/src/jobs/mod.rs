//! Background work: small idempotent jobs keyed by user (and day), a queue port with an SQS
//! adapter and an in-process adapter, and the one handler both run.
//!
//! A job never carries data, only what to recompute: a lost or repeated job can never lose or
//! double samples, because every handler recomputes from what is stored.

pub mod error;
pub mod handlers;
pub mod lambda;
#[cfg(feature = "embedded")]
pub mod local;
pub mod schedule;
pub mod sqs;

pub use crate::app::{Job, JobQueue, QueueError};
pub use error::JobError;

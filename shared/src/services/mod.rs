//! Use cases below the API: what a route does once its request is extracted, independent of
//! the wire format.

pub mod apple_import;
pub mod connections;
pub mod coverage;
pub mod s3_import;
pub mod sns;
pub mod summaries;
pub mod sync_runs;
pub mod timeseries;
pub mod webhooks;

use chrono::{DateTime, TimeDelta, Utc};

use crate::error::{ApiError, ApiResult};

/// `t + d`, or 400 when that leaves chrono's range (every date arithmetic on request values).
pub fn shift(t: DateTime<Utc>, d: TimeDelta) -> ApiResult<DateTime<Utc>> {
    t.checked_add_signed(d)
        .ok_or_else(|| ApiError::bad_request("Date out of range"))
}

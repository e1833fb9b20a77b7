//! Google Health (providers.md §4.8): pull client and mapping, webhooks, deregistration.
//!
//! Not implemented yet: every entry point refuses.

use chrono::{DateTime, Utc};

use super::sync::{FetchError, Fetcher, Pulled};
use super::webhook::{WebhookError, WebhookReply, WebhookRequest};

/// Pulls `[start, end)`.
pub async fn pull(
    _f: &Fetcher<'_>,
    _start: DateTime<Utc>,
    _end: DateTime<Utc>,
) -> Result<Pulled, FetchError> {
    Err(FetchError::Permanent(
        "pull sync for google is not implemented yet".into(),
    ))
}

/// Tells the provider we no longer want this user's data (best effort).
pub async fn deregister(_f: &Fetcher<'_>) -> Result<(), FetchError> {
    Ok(())
}

/// Verifies and parses one inbound webhook call.
pub fn webhook(_req: &WebhookRequest<'_>) -> Result<WebhookReply, WebhookError> {
    Err(WebhookError::NotSupported(
        "webhooks for google are not implemented yet".into(),
    ))
}

/// Webhook subscription management (api.md §15.3). Not implemented yet.
pub async fn subscriptions(
    _ctx: &super::subscriptions::SubscriptionCtx<'_>,
    op: super::subscriptions::SubscriptionOp,
) -> Result<super::subscriptions::SubscriptionResult, super::subscriptions::SubscriptionError> {
    Err(super::subscriptions::SubscriptionError::NotSupported(
        format!("subscription {} is not implemented yet", op.name()),
    ))
}

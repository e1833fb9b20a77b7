//! Polar AccessLink v3 (providers.md §4.2): pull client and mapping, user registration after
//! OAuth, deregistration, and the ping webhook (PING handshake, `Polar-Webhook-Signature`).
//!
//! Every data type is fetched and mapped on its own: a type that fails permanently is logged
//! and skipped, while 401/429/5xx/timeouts abort the window so the queue retries it. For the
//! 24/7 endpoints 404 and empty 204 answers mean "no data".
//!
//! Time handling: exercise `start_time` is local wall time and `start_time_utc_offset` its
//! offset in minutes, so UTC = local − offset (the reference adds it: Appendix C #8). Sleep
//! times carry their offset; hypnogram and heart-rate keys (`HH:MM`) are wall-clock times in
//! that offset. SleepWise period times are UTC (AccessLink docs) with the offset given apart.
//! Daily activity, continuous heart rate and per-date values carry no offset: their naive
//! times are stored as UTC with no zone, so they stay on their own calendar day.

pub mod pull;
pub mod subscriptions;
pub mod webhook;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use self::pull::{pull, vendor_workout, vendor_workouts};
use self::subscriptions::subscriptions;
use self::webhook::webhook;
use super::subscriptions::{
    SubscriptionCtx, SubscriptionError, SubscriptionOp, SubscriptionResult,
};
use super::sync::{FetchError, Fetcher, Pulled};
use super::webhook::{WebhookError, WebhookReply, WebhookRequest};
use crate::domain::provider::Provider;

/// Longest `from`..`to` span (inclusive days) AccessLink range endpoints accept.
pub const MAX_RANGE_DAYS: i64 = 28;

/// The setting holding the webhook signing secret (`signature_secret_key` of the registration).
pub const WEBHOOK_SECRET_SETTING: &str = "POLAR_WEBHOOK_SECRET";

/// The webhook signature header.
pub const SIGNATURE_HEADER: &str = "Polar-Webhook-Signature";

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/// One authenticated call (see [`Fetcher::call`]).
async fn call(
    f: &Fetcher<'_>,
    method: Method,
    path: &str,
    query: &[(&str, String)],
    body: Option<&Value>,
) -> Result<(StatusCode, Value), FetchError> {
    f.call(method, path, query, body).await
}

/// GET a data document: 404 and 204 answer `Null` ("no data"), other 4xx are permanent.
async fn get(f: &Fetcher<'_>, path: &str, query: &[(&str, String)]) -> Result<Value, FetchError> {
    let (status, v) = call(f, Method::GET, path, query, None).await?;
    if status.is_success() || status == StatusCode::NOT_FOUND {
        Ok(v)
    } else {
        Err(FetchError::Permanent(format!("{path}: HTTP {status}")))
    }
}

/// Registers the user with AccessLink (`POST /v3/users {"member-id": …}`), which Polar
/// requires before any data access. 409 (already registered) counts as success.
pub async fn register_user(f: &Fetcher<'_>, member_id: &str) -> Result<(), FetchError> {
    let body = json!({ "member-id": member_id });
    let (status, _) = call(f, Method::POST, "/v3/users", &[], Some(&body)).await?;
    if status.is_success() || status == StatusCode::CONFLICT {
        Ok(())
    } else {
        Err(FetchError::Permanent(format!(
            "/v3/users: registration refused with HTTP {status}"
        )))
    }
}

/// Deregisters the user at AccessLink (`DELETE /v3/users/{polar_user_id}`).
pub async fn deregister(f: &Fetcher<'_>) -> Result<(), FetchError> {
    let Some(id) = f.provider_user_id else {
        return Err(FetchError::Permanent(
            "polar deregistration needs the Polar user id".into(),
        ));
    };
    let path = format!("/v3/users/{id}");
    let (status, _) = call(f, Method::DELETE, &path, &[], None).await?;
    // Already gone counts as done.
    if status.is_success() || status == StatusCode::NOT_FOUND {
        Ok(())
    } else {
        Err(FetchError::Permanent(format!("{path}: HTTP {status}")))
    }
}

/// The Polar integration.
pub struct Polar;

#[async_trait::async_trait]
impl super::Integration for Polar {
    fn provider(&self) -> Provider {
        Provider::Polar
    }

    fn token_identity(&self, token: &super::oauth::TokenAnswer) -> Option<super::Identity> {
        Some(super::Identity {
            id: token.extra_text("x_user_id"),
            username: None,
        })
    }

    /// AccessLink serves data only to registered users (409 = already registered).
    async fn on_connect(
        &self,
        _state: &crate::app::AppState,
        f: &Fetcher<'_>,
        conn: &crate::repo::connections::Connection,
    ) -> Result<(), crate::store::StoreError> {
        if let Err(e) = register_user(f, &conn.user_id.to_string()).await {
            tracing::warn!(provider = %Provider::Polar, error = %e, "user registration failed");
        }
        Ok(())
    }

    async fn pull(
        &self,
        _state: &crate::app::AppState,
        _user: uuid::Uuid,
        f: &Fetcher<'_>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Pulled, FetchError> {
        pull(f, start, end).await
    }

    fn webhook(&self, req: &WebhookRequest<'_>) -> Result<WebhookReply, WebhookError> {
        webhook(req)
    }

    async fn deregister(&self, f: &Fetcher<'_>) -> Result<(), FetchError> {
        deregister(f).await
    }

    async fn vendor_workouts(
        &self,
        f: &Fetcher<'_>,
        opts: &super::VendorOptions,
    ) -> Result<Value, FetchError> {
        vendor_workouts(f, opts).await
    }

    async fn vendor_workout(
        &self,
        f: &Fetcher<'_>,
        workout_id: &str,
        opts: &super::VendorOptions,
    ) -> Result<Value, FetchError> {
        vendor_workout(f, workout_id, opts).await
    }

    async fn subscriptions(
        &self,
        ctx: &SubscriptionCtx<'_>,
        op: SubscriptionOp,
    ) -> Result<SubscriptionResult, SubscriptionError> {
        subscriptions(ctx, op).await
    }
}

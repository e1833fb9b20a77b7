//! Google Health API (providers.md §4.8): the pull client and its mapping, the webhook
//! (bearer-secret notifications and the verification handshake), the username lookup and the
//! project subscriber's management (service-account token from a signed RS256 assertion).
//!
//! Three fetch operations per data type: `dataPoints` (list, per source), `dataPoints:reconcile`
//! (merged across sources) and `dataPoints:rollUp` (windowed aggregates, range-capped per
//! type). The operation is chosen per metric from the data granularity (`GOOGLE_DATA_GRANULARITY`
//! = `raw` | `hourly` | `daily`, default `raw`) and `GOOGLE_USE_RECONCILE` (default true).
//! Exercise and sleep sessions come from their own list calls.

pub mod pull;
pub mod subscriptions;
pub mod webhook;

use chrono::{DateTime, Utc};
use serde_json::Value;

use self::pull::{pull, vendor_workout, vendor_workouts};
use self::subscriptions::subscriptions;
use self::webhook::webhook;
use super::subscriptions::{
    SubscriptionCtx, SubscriptionError, SubscriptionOp, SubscriptionResult,
};
use super::sync::{FetchError, Fetcher, Pulled};
use super::webhook::{WebhookError, WebhookReply, WebhookRequest};
use crate::domain::provider::Provider;

/// The user-info origin: `www.googleapis.com`, or the configured override of the API origin.
pub fn userinfo_url(api_base: &str) -> String {
    let base = if api_base.trim_end_matches('/') == "https://health.googleapis.com" {
        "https://www.googleapis.com"
    } else {
        api_base.trim_end_matches('/')
    };
    format!("{base}/oauth2/v3/userinfo")
}

/// The account's e-mail from the OpenID user info (best effort: `None` on any failure).
pub async fn username(http: &reqwest::Client, api_base: &str, token: &str) -> Option<String> {
    let resp = http
        .get(userinfo_url(api_base))
        .bearer_auth(token)
        .timeout(std::time::Duration::from_secs(30))
        .send()
        .await
        .ok()?
        .error_for_status()
        .ok()?;
    let v: Value = resp.json().await.ok()?;
    v.get("email").and_then(Value::as_str).map(str::to_string)
}

/// The Google integration.
pub struct Google;

#[async_trait::async_trait]
impl super::Integration for Google {
    fn provider(&self) -> Provider {
        Provider::Google
    }

    fn authorize_params(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("access_type", "offline"),
            ("include_granted_scopes", "true"),
            ("prompt", "consent"),
        ]
    }

    /// The health user id; the username is the OpenID e-mail, asked separately (best effort).
    async fn user_info(&self, f: &Fetcher<'_>) -> Result<Option<super::Identity>, FetchError> {
        let Some(endpoint) = self.user_info_endpoint() else {
            return Ok(None);
        };
        let mut identity = endpoint.read(&f.get(endpoint.path, &[]).await?);
        identity.username = username(f.http, f.base, f.token).await;
        Ok(Some(identity))
    }

    fn user_info_endpoint(&self) -> Option<super::UserInfoEndpoint> {
        Some(super::UserInfoEndpoint {
            path: "/v4/users/me/identity",
            id: "/healthUserId",
            username: None,
        })
    }

    fn identify_on_sync(&self) -> bool {
        true
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
        _opts: &super::VendorOptions,
    ) -> Result<Value, FetchError> {
        vendor_workout(f, workout_id).await
    }

    async fn subscriptions(
        &self,
        ctx: &SubscriptionCtx<'_>,
        op: SubscriptionOp,
    ) -> Result<SubscriptionResult, SubscriptionError> {
        subscriptions(ctx, op).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_goes_to_www_or_the_override() {
        assert_eq!(
            userinfo_url("https://health.googleapis.com"),
            "https://www.googleapis.com/oauth2/v3/userinfo"
        );
        assert_eq!(
            userinfo_url("http://127.0.0.1:9000/"),
            "http://127.0.0.1:9000/oauth2/v3/userinfo"
        );
    }
}

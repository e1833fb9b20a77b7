//! Webhook subscription management at the provider (api.md §15.3): registering our callback
//! URL with Polar, Oura, Strava and Google, listing, renewing, updating and deleting those
//! subscriptions. These are app-level calls made with the client credentials, not user tokens.

use std::collections::HashMap;

use serde_json::Value;

use crate::config::OAuthClient;

/// What a subscription call needs.
pub struct SubscriptionCtx<'a> {
    pub http: &'a reqwest::Client,
    /// The provider's OAuth client (credentials and API origin).
    pub client: &'a OAuthClient,
    /// Provider settings by name (`STRAVA_WEBHOOK_VERIFY_TOKEN`, `GOOGLE_PROJECT_ID`, ...).
    pub settings: &'a HashMap<String, String>,
    /// `SECRET_KEY`: only the root the secrets we hand out are derived from (never sent
    /// itself, see [`crate::keys`]).
    pub secret_key: &'a str,
    pub timeout: std::time::Duration,
    /// `API_BASE_URL`: callbacks that carry a secret of ours must point here.
    pub api_base: &'a str,
}

impl SubscriptionCtx<'_> {
    /// Refuses a callback outside this API (`API_BASE_URL`): the subscription hands the
    /// provider a secret of ours (verify token, bearer secret, URL secret) that the provider
    /// then sends to the callback.
    pub fn own_callback(&self, url: &str) -> Result<(), SubscriptionError> {
        let base = self.api_base.trim_end_matches('/');
        if url
            .strip_prefix(base)
            .is_some_and(|rest| rest.starts_with('/'))
        {
            Ok(())
        } else {
            Err(SubscriptionError::Config(format!(
                "callback_url must be a URL of this API ({base}/...): the provider sends this installation's webhook secret to it"
            )))
        }
    }

    /// A secret we hand to the provider (verify token, bearer secret): its setting, else
    /// derived from `SECRET_KEY` for this purpose.
    pub fn chosen_secret(&self, purpose: crate::keys::Purpose) -> String {
        crate::keys::resolve(self.settings, self.secret_key, purpose)
    }

    /// The secret segment of this provider's webhook URL (see [`crate::keys::url_secret`]).
    pub fn url_secret(&self, provider: &str) -> String {
        crate::keys::url_secret(self.settings, self.secret_key, provider)
    }

    /// Sends a request built by the provider (its own auth), with the timeout; answers the
    /// status, the body as JSON (`Null` when it is not JSON) and the raw text. Only transport
    /// failures are errors here: each provider judges its statuses.
    pub async fn send(
        &self,
        req: reqwest::RequestBuilder,
        api: &str,
    ) -> Result<(u16, Value, String), SubscriptionError> {
        let resp = req
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| SubscriptionError::Upstream(format!("{api}: {e}")))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let v = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok((status, v, text))
    }

    /// `client.api_base + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.client.api_base.trim_end_matches('/'))
    }
}

/// One subscription operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionOp {
    List,
    Register { callback_url: String },
    Renew,
    Get { id: String },
    Update { id: String, callback_url: String },
    Delete { id: String },
}

impl SubscriptionOp {
    pub fn name(&self) -> &'static str {
        match self {
            Self::List => "list",
            Self::Register { .. } => "register",
            Self::Renew => "renew",
            Self::Get { .. } => "get",
            Self::Update { .. } => "update",
            Self::Delete { .. } => "delete",
        }
    }
}

/// The provider's answer to an operation.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionResult {
    /// The response's payload: a subscription list for `list`, the provider result for
    /// `register`/`renew`, a subscription or null for `get`, `{subscription_id, status[, error]}`
    /// for `update`/`delete`.
    pub body: Value,
    /// A webhook signing secret the provider handed out (Polar): kept encrypted and used to
    /// verify its webhooks.
    pub signing_secret: Option<String>,
}

impl SubscriptionResult {
    pub fn of(body: Value) -> Self {
        Self {
            body,
            signing_secret: None,
        }
    }
}

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    /// 501: the provider has no such operation.
    #[error("{0}")]
    NotSupported(String),
    /// 400: missing configuration (e.g. `GOOGLE_PROJECT_ID`).
    #[error("{0}")]
    Config(String),
    /// 502: the provider refused or failed.
    #[error("{0}")]
    Upstream(String),
}

/// `{subscription_id, status[, error]}`, the result shape of update and delete.
pub fn op_status(id: &str, status: &str, error: Option<String>) -> Value {
    let mut v = serde_json::json!({"subscription_id": id, "status": status});
    if let Some(e) = error {
        v["error"] = Value::String(e);
    }
    v
}

//! The provider integrations: one module per provider (the list and its static facts are
//! [`crate::domain::provider`]), the pull sync, inbound webhooks and subscriptions.

pub mod connect;
pub mod fitbit;
pub mod garmin;
pub mod google;
pub mod oauth;
pub mod oura;
pub mod payload;
pub mod polar;
pub mod sensorbio;
pub mod strava;
pub mod subscriptions;
pub mod suunto;
pub mod sync;
pub mod ultrahuman;
pub mod webhook;
pub mod whoop;

use crate::domain::provider::Provider;

/// Query options of the vendor pass-through routes (api.md §12 #52, #53). Each provider uses
/// the ones its API knows and ignores the others.
#[derive(Debug, Clone, PartialEq)]
pub struct VendorOptions {
    /// Unix seconds (Suunto: workouts modified or started since).
    pub since: i64,
    /// Page size (≤ 100; each provider caps it at its own maximum).
    pub limit: i64,
    /// Items to skip (Suunto, Strava pages, Fitbit).
    pub offset: i64,
    /// Suunto: filter by modification rather than start time.
    pub filter_by_modification_time: bool,
    /// Polar extras.
    pub samples: bool,
    pub zones: bool,
    pub route: bool,
    /// `summary_start_time` / `summary_end_time`: the window of providers filtering by time.
    pub start: Option<chrono::DateTime<chrono::Utc>>,
    pub end: Option<chrono::DateTime<chrono::Utc>>,
    /// Our clock's now (default windows).
    pub now: chrono::DateTime<chrono::Utc>,
}

impl VendorOptions {
    /// The spec defaults at `now`.
    pub fn at(now: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            since: 0,
            limit: 50,
            offset: 0,
            filter_by_modification_time: true,
            samples: false,
            zones: false,
            route: false,
            start: None,
            end: None,
            now,
        }
    }

    /// `limit` within `1..=max`.
    pub fn page_size(&self, max: i64) -> i64 {
        self.limit.clamp(1, max)
    }

    /// Polar's `samples`/`zones`/`route` flags as query pairs.
    pub fn polar_flags(&self) -> Vec<(&'static str, String)> {
        vec![
            ("samples", self.samples.to_string()),
            ("zones", self.zones.to_string()),
            ("route", self.route.to_string()),
        ]
    }
}

/// A path segment from a caller-supplied id (percent-encoded: an id cannot change the path).
pub fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Who the user is at a provider, as its user-info call tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The provider account id (what webhooks name the account by).
    pub id: Option<String>,
    pub username: Option<String>,
}

fn json_text(v: Option<&serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Where a provider's user-info call tells who the user is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserInfoEndpoint {
    pub path: &'static str,
    /// JSON pointer of the account id.
    pub id: &'static str,
    /// JSON pointer of the username.
    pub username: Option<&'static str>,
}

impl UserInfoEndpoint {
    /// The identity in a user-info answer (numeric ids as their decimal text; a `/data/...`
    /// field is also read unwrapped, as Sensor Bio answers either shape).
    pub fn read(&self, v: &serde_json::Value) -> Identity {
        let field = |p: &str| {
            json_text(v.pointer(p)).or_else(|| {
                p.strip_prefix("/data")
                    .and_then(|u| json_text(v.pointer(u)))
            })
        };
        Identity {
            id: field(self.id),
            username: self.username.and_then(field),
        }
    }
}

/// What a provider integration does. Every operation has a default that says "not supported"
/// (or does nothing where the operation is best effort); each provider module implements the
/// ones its API has. [`integration`] is the one place that goes from a [`Provider`] to its
/// implementation.
#[async_trait::async_trait]
pub trait Integration: Send + Sync {
    /// The provider this implements.
    fn provider(&self) -> Provider;

    /// Extra query parameters of the authorize URL.
    fn authorize_params(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    /// The account the token answer itself names (`None`: ask the user-info call).
    fn token_identity(&self, _token: &oauth::TokenAnswer) -> Option<Identity> {
        None
    }

    /// The provider's user-info call, if it has one.
    fn user_info_endpoint(&self) -> Option<UserInfoEndpoint> {
        None
    }

    /// Asks the provider who the user is, with the user's token (`Ok(None)`: the provider has
    /// no user-info call). The OAuth callback and the sync windows both go through here.
    async fn user_info(&self, f: &sync::Fetcher<'_>) -> Result<Option<Identity>, sync::FetchError> {
        let Some(endpoint) = self.user_info_endpoint() else {
            return Ok(None);
        };
        Ok(Some(endpoint.read(&f.get(endpoint.path, &[]).await?)))
    }

    /// Whether sync windows learn the provider account when the OAuth callback could not:
    /// the providers whose webhooks name the account by its id (pull-only providers do not
    /// depend on it; Polar, Suunto and Fitbit learn it from the token).
    fn identify_on_sync(&self) -> bool {
        false
    }

    /// Permissions the user granted, where the provider lists them apart from the token:
    /// sorted and space-joined; `None` when unknown.
    async fn granted_scope(&self, _f: &sync::Fetcher<'_>) -> Option<String> {
        None
    }

    /// Provider-side work once a connection is stored (best effort unless the store fails).
    async fn on_connect(
        &self,
        _state: &crate::app::AppState,
        _f: &sync::Fetcher<'_>,
        _conn: &crate::repo::connections::Connection,
    ) -> Result<(), crate::store::StoreError> {
        Ok(())
    }

    /// Pulls `[start, end)` of one connection of `user`.
    async fn pull(
        &self,
        _state: &crate::app::AppState,
        _user: uuid::Uuid,
        _f: &sync::Fetcher<'_>,
        _start: chrono::DateTime<chrono::Utc>,
        _end: chrono::DateTime<chrono::Utc>,
    ) -> Result<sync::Pulled, sync::FetchError> {
        Err(sync::FetchError::Permanent(format!(
            "{} has no cloud API to pull from",
            self.provider()
        )))
    }

    /// Verifies and parses one inbound webhook call.
    fn webhook(
        &self,
        _req: &webhook::WebhookRequest<'_>,
    ) -> Result<webhook::WebhookReply, webhook::WebhookError> {
        Err(webhook::WebhookError::NotSupported(format!(
            "Provider '{}' does not support webhook notifications",
            self.provider()
        )))
    }

    /// What confirms a state-changing webhook event before it changes anything; `None`: act
    /// as it comes (signed webhooks).
    fn probe(&self, _event: &webhook::WebhookEvent) -> Option<webhook::Probe> {
        None
    }

    /// The provider delivered data of `kind` that answers a request of ours.
    async fn delivered(
        &self,
        _state: &crate::app::AppState,
        _user: uuid::Uuid,
        _kind: &str,
    ) -> Result<(), crate::store::StoreError> {
        Ok(())
    }

    /// Provider-side deregistration on disconnect (best effort; providers without one do
    /// nothing).
    async fn deregister(&self, _f: &sync::Fetcher<'_>) -> Result<(), sync::FetchError> {
        Ok(())
    }

    /// The provider's own workout list (#52), its JSON unmodified.
    async fn vendor_workouts(
        &self,
        _f: &sync::Fetcher<'_>,
        _opts: &VendorOptions,
    ) -> Result<serde_json::Value, sync::FetchError> {
        Err(sync::FetchError::Permanent(format!(
            "Provider '{}' does not support workouts",
            self.provider()
        )))
    }

    /// One workout from the provider's own API (#53), its JSON unmodified.
    async fn vendor_workout(
        &self,
        _f: &sync::Fetcher<'_>,
        _workout_id: &str,
        _opts: &VendorOptions,
    ) -> Result<serde_json::Value, sync::FetchError> {
        Err(sync::FetchError::Permanent(format!(
            "Provider '{}' does not serve single workouts",
            self.provider()
        )))
    }

    /// Runs a webhook subscription operation at the provider.
    async fn subscriptions(
        &self,
        _ctx: &subscriptions::SubscriptionCtx<'_>,
        _op: subscriptions::SubscriptionOp,
    ) -> Result<subscriptions::SubscriptionResult, subscriptions::SubscriptionError> {
        Err(subscriptions::SubscriptionError::NotSupported(
            "Provider does not support webhook subscription management".into(),
        ))
    }
}

/// Apple Health and Samsung Health: SDK pushes only, no cloud API.
struct SdkOnly(Provider);

impl Integration for SdkOnly {
    fn provider(&self) -> Provider {
        self.0
    }
}

/// The implementation of `provider`.
pub fn integration(provider: Provider) -> &'static dyn Integration {
    match provider {
        Provider::Apple => &SdkOnly(Provider::Apple),
        Provider::Samsung => &SdkOnly(Provider::Samsung),
        Provider::Garmin => &garmin::Garmin,
        Provider::Google => &google::Google,
        Provider::Polar => &polar::Polar,
        Provider::Suunto => &suunto::Suunto,
        Provider::Whoop => &whoop::Whoop,
        Provider::Strava => &strava::Strava,
        Provider::Oura => &oura::Oura,
        Provider::Fitbit => &fitbit::Fitbit,
        Provider::Ultrahuman => &ultrahuman::Ultrahuman,
        Provider::Sensorbio => &sensorbio::Sensorbio,
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_answers_read_the_same_ids_webhooks_carry() {
        use serde_json::json;
        let id = |p: Provider, v: serde_json::Value| {
            integration(p)
                .user_info_endpoint()
                .map(|e| e.read(&v))
                .unwrap_or_default()
        };
        // Whoop and Strava ids are numbers in user info and in webhooks alike.
        assert_eq!(
            id(Provider::Whoop, json!({"user_id": 20931, "email": "a@b.c"}))
                .id
                .as_deref(),
            Some("20931")
        );
        assert_eq!(
            id(
                Provider::Strava,
                json!({"id": 73014522, "username": "hillclimber"})
            ),
            Identity {
                id: Some("73014522".into()),
                username: Some("hillclimber".into())
            }
        );
        assert_eq!(
            id(
                Provider::Oura,
                json!({"id": "8f9a5221-639e-4a2b-8b8e-5f0f1e2c8f1e", "age": 31})
            )
            .id
            .as_deref(),
            Some("8f9a5221-639e-4a2b-8b8e-5f0f1e2c8f1e")
        );
        assert_eq!(
            id(
                Provider::Google,
                json!({"healthUserId": "118204457739201845521"})
            )
            .id
            .as_deref(),
            Some("118204457739201845521")
        );
        // Sensor Bio answers wrapped or not.
        for v in [
            json!({"data": {"id": "sb_1", "name": "M"}}),
            json!({"id": "sb_1", "name": "M"}),
        ] {
            assert_eq!(id(Provider::Sensorbio, v).id.as_deref(), Some("sb_1"));
        }
        assert_eq!(id(Provider::Whoop, json!({"user_id": ""})).id, None);
        assert_eq!(
            id(Provider::Polar, json!({"x_user_id": 1})),
            Identity::default()
        );
        assert!(integration(Provider::Polar).user_info_endpoint().is_none());
    }

    #[test]
    fn vendor_ids_stay_one_path_segment_and_limits_stay_in_range() {
        assert_eq!(path_segment("Kq3vR9"), "Kq3vR9");
        assert_eq!(path_segment("a/../b?x=1 #"), "a%2F..%2Fb%3Fx%3D1%20%23");
        let mut o = VendorOptions::at(chrono::Utc::now());
        assert_eq!((o.limit, o.filter_by_modification_time), (50, true));
        assert_eq!(o.page_size(25), 25);
        o.limit = -3;
        assert_eq!(o.page_size(100), 1);
    }
}

//! The providers: the one list of integrations (api.md §4.3) and the static facts about each
//! (api.md §4.7 capabilities, OAuth endpoints, default API origins). Stored and wire values are
//! the lower-case keys (`"garmin"`, `"sensorbio"`, ...).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One provider (a path/query value, a connection's provider, a data source).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Apple,
    Samsung,
    Garmin,
    Google,
    Polar,
    Suunto,
    Whoop,
    Strava,
    Oura,
    Fitbit,
    Ultrahuman,
    Sensorbio,
}

/// Provider query values the reference also accepts: not providers, refused as paths.
pub const SENTINELS: [&str; 2] = ["unknown", "internal"];

/// How the token endpoint authenticates the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic base64(id:secret)`.
    Basic,
    /// `client_id` / `client_secret` form fields.
    Body,
}

/// Static facts about one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderInfo {
    pub key: &'static str,
    pub name: &'static str,
    pub has_cloud_api: bool,
    pub rest_pull: bool,
    pub webhook_stream: bool,
    pub webhook_ping: bool,
    pub webhook_callback: bool,
    pub client_sdk: bool,
    pub max_historical_days: Option<u32>,
    /// `(authorize URL, token URL)`; `None` for SDK-only providers.
    pub oauth: Option<(&'static str, &'static str)>,
    pub pkce: bool,
    pub client_auth: ClientAuth,
    pub default_scope: &'static str,
    /// Origin of API calls (user info, data, deregistration) when no `<P>_BASE_URL` is set.
    pub api_base: &'static str,
    /// An inbound webhook handler (api.md §15.1).
    pub inbound_webhook: bool,
    /// Webhook subscription management at the provider (api.md §15.3).
    pub subscriptions: bool,
    /// Registering a subscription hands out a webhook signing secret (kept encrypted, it
    /// verifies later webhooks).
    pub issues_signing_secret: bool,
    /// A workouts API the pass-through routes can call (api.md §12 #52).
    pub vendor_workouts: bool,
    /// The workouts API serves one workout by id (#53).
    pub vendor_workout_detail: bool,
}

/// An SDK-only provider.
const fn sdk(key: &'static str, name: &'static str) -> ProviderInfo {
    ProviderInfo {
        key,
        name,
        has_cloud_api: false,
        rest_pull: false,
        webhook_stream: false,
        webhook_ping: false,
        webhook_callback: false,
        client_sdk: true,
        max_historical_days: None,
        oauth: None,
        pkce: false,
        client_auth: ClientAuth::Body,
        default_scope: "",
        api_base: "",
        inbound_webhook: false,
        subscriptions: false,
        issues_signing_secret: false,
        vendor_workouts: false,
        vendor_workout_detail: false,
    }
}

/// A cloud provider pulled over REST with a ping webhook and a workouts API (the common case;
/// each provider overrides what differs).
const fn cloud(
    key: &'static str,
    name: &'static str,
    oauth: (&'static str, &'static str),
    default_scope: &'static str,
    api_base: &'static str,
) -> ProviderInfo {
    ProviderInfo {
        key,
        name,
        has_cloud_api: true,
        rest_pull: true,
        webhook_stream: false,
        webhook_ping: true,
        webhook_callback: false,
        client_sdk: false,
        max_historical_days: None,
        oauth: Some(oauth),
        pkce: false,
        client_auth: ClientAuth::Body,
        default_scope,
        api_base,
        inbound_webhook: true,
        subscriptions: false,
        issues_signing_secret: false,
        vendor_workouts: true,
        vendor_workout_detail: true,
    }
}

const APPLE: ProviderInfo = sdk("apple", "Apple Health");
const SAMSUNG: ProviderInfo = sdk("samsung", "Samsung Health");
const GARMIN: ProviderInfo = ProviderInfo {
    rest_pull: false,
    webhook_stream: true,
    webhook_ping: false,
    webhook_callback: true,
    max_historical_days: Some(30),
    pkce: true,
    ..cloud(
        "garmin",
        "Garmin",
        (
            "https://connect.garmin.com/oauth2Confirm",
            "https://diauth.garmin.com/di-oauth2-service/oauth/token",
        ),
        "",
        "https://apis.garmin.com",
    )
};
const GOOGLE: ProviderInfo = ProviderInfo {
    client_sdk: true,
    subscriptions: true,
    ..cloud(
        "google",
        "Google Health",
        (
            "https://accounts.google.com/o/oauth2/v2/auth",
            "https://oauth2.googleapis.com/token",
        ),
        "openid email https://www.googleapis.com/auth/googlehealth.activity_and_fitness.readonly https://www.googleapis.com/auth/googlehealth.health_metrics_and_measurements.readonly https://www.googleapis.com/auth/googlehealth.nutrition.readonly https://www.googleapis.com/auth/googlehealth.sleep.readonly https://www.googleapis.com/auth/googlehealth.settings.readonly",
        "https://health.googleapis.com",
    )
};
const POLAR: ProviderInfo = ProviderInfo {
    client_auth: ClientAuth::Basic,
    subscriptions: true,
    issues_signing_secret: true,
    ..cloud(
        "polar",
        "Polar",
        (
            "https://flow.polar.com/oauth2/authorization",
            "https://polarremote.com/v2/oauth2/token",
        ),
        "accesslink.read_all",
        "https://www.polaraccesslink.com",
    )
};
const SUUNTO: ProviderInfo = ProviderInfo {
    webhook_stream: true,
    webhook_ping: false,
    client_auth: ClientAuth::Basic,
    ..cloud(
        "suunto",
        "Suunto",
        (
            "https://cloudapi-oauth.suunto.com/oauth/authorize",
            "https://cloudapi-oauth.suunto.com/oauth/token",
        ),
        "",
        "https://cloudapi.suunto.com",
    )
};
const WHOOP: ProviderInfo = cloud(
    "whoop",
    "Whoop",
    (
        "https://api.prod.whoop.com/oauth/oauth2/auth",
        "https://api.prod.whoop.com/oauth/oauth2/token",
    ),
    "offline read:cycles read:sleep read:recovery read:workout read:body_measurement read:profile",
    "https://api.prod.whoop.com",
);
const STRAVA: ProviderInfo = ProviderInfo {
    subscriptions: true,
    ..cloud(
        "strava",
        "Strava",
        (
            "https://www.strava.com/oauth/authorize",
            "https://www.strava.com/oauth/token",
        ),
        "activity:read_all,profile:read_all",
        "https://www.strava.com",
    )
};
const OURA: ProviderInfo = ProviderInfo {
    subscriptions: true,
    ..cloud(
        "oura",
        "Oura",
        (
            "https://cloud.ouraring.com/oauth/authorize",
            "https://api.ouraring.com/oauth/token",
        ),
        "personal daily activity heartrate workout session spo2 ring_configuration heart_health",
        "https://api.ouraring.com",
    )
};
const FITBIT: ProviderInfo = ProviderInfo {
    webhook_ping: false,
    pkce: true,
    client_auth: ClientAuth::Basic,
    inbound_webhook: false,
    vendor_workout_detail: false,
    ..cloud(
        "fitbit",
        "Fitbit",
        (
            "https://www.fitbit.com/oauth2/authorize",
            "https://api.fitbit.com/oauth2/token",
        ),
        "activity heartrate sleep profile",
        "https://api.fitbit.com",
    )
};
const ULTRAHUMAN: ProviderInfo = ProviderInfo {
    webhook_ping: false,
    inbound_webhook: false,
    vendor_workouts: false,
    vendor_workout_detail: false,
    ..cloud(
        "ultrahuman",
        "Ultrahuman",
        (
            "https://auth.ultrahuman.com/authorise",
            "https://partner.ultrahuman.com/api/partners/oauth/token",
        ),
        "ring_data cgm_data profile",
        "https://partner.ultrahuman.com",
    )
};
const SENSORBIO: ProviderInfo = ProviderInfo {
    webhook_ping: false,
    inbound_webhook: false,
    vendor_workout_detail: false,
    ..cloud(
        "sensorbio",
        "Sensor Bio",
        (
            "https://auth.sensorbio.com/authorize",
            "https://auth.sensorbio.com/token",
        ),
        "",
        "https://api.sensorbio.com",
    )
};

impl Provider {
    /// Every provider, in listing order.
    pub const ALL: [Provider; 12] = [
        Self::Apple,
        Self::Samsung,
        Self::Garmin,
        Self::Google,
        Self::Polar,
        Self::Suunto,
        Self::Whoop,
        Self::Strava,
        Self::Oura,
        Self::Fitbit,
        Self::Ultrahuman,
        Self::Sensorbio,
    ];

    /// The static facts about this provider.
    pub const fn info(self) -> &'static ProviderInfo {
        match self {
            Self::Apple => &APPLE,
            Self::Samsung => &SAMSUNG,
            Self::Garmin => &GARMIN,
            Self::Google => &GOOGLE,
            Self::Polar => &POLAR,
            Self::Suunto => &SUUNTO,
            Self::Whoop => &WHOOP,
            Self::Strava => &STRAVA,
            Self::Oura => &OURA,
            Self::Fitbit => &FITBIT,
            Self::Ultrahuman => &ULTRAHUMAN,
            Self::Sensorbio => &SENSORBIO,
        }
    }

    /// The stored and wire spelling (`"garmin"`).
    pub const fn as_str(self) -> &'static str {
        self.info().key
    }

    /// The providers with a cloud API (those with OAuth clients and `<P>_…` settings).
    pub fn cloud() -> impl Iterator<Item = Provider> {
        Self::ALL.into_iter().filter(|p| p.info().has_cloud_api)
    }

    /// A provider path value: the providers plus the reference's sentinels, which are
    /// refused with a clear 400 instead of the reference's 500 (api.md §21 #1).
    pub fn parse_path(key: &str) -> Result<Provider, String> {
        if SENTINELS.contains(&key) {
            return Err(format!("Unknown provider: {key}"));
        }
        key.parse().map_err(|_| {
            format!(
                "Input should be {}",
                Self::ALL
                    .iter()
                    .map(|p| format!("'{p}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }

    /// Whether `key` is a provider query value: a provider or a sentinel.
    pub fn is_query_value(key: &str) -> bool {
        key.parse::<Provider>().is_ok() || SENTINELS.contains(&key)
    }

    /// The provider query values (providers, then sentinels), comma-separated.
    pub fn query_values() -> String {
        Self::ALL
            .iter()
            .map(|p| p.as_str())
            .chain(SENTINELS)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value that is not a provider key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownProvider(pub String);

impl fmt::Display for UnknownProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Unknown provider: {}", self.0)
    }
}

impl std::error::Error for UnknownProvider {}

impl FromStr for Provider {
    type Err = UnknownProvider;

    /// Case-sensitive, like the reference's enum.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownProvider(s.to_string()))
    }
}

impl ProviderInfo {
    /// `pull` if REST pull, else `null` for SDK providers, else `webhook` (api.md §4.7).
    pub fn default_live_sync_mode(&self) -> Option<&'static str> {
        if self.rest_pull {
            Some("pull")
        } else if self.client_sdk && !self.has_cloud_api {
            None
        } else if self.webhook_stream || self.webhook_ping || self.webhook_callback {
            Some("webhook")
        } else {
            None
        }
    }

    /// REST pull and a webhook mode.
    pub fn live_sync_configurable(&self) -> bool {
        self.rest_pull && (self.webhook_stream || self.webhook_ping)
    }

    /// Whether sync windows can run: REST pull, or a backfill request whose data the provider
    /// pushes to our webhook (Garmin's Backfill API).
    pub fn supports_pull(&self) -> bool {
        self.rest_pull || self.webhook_callback
    }

    pub fn icon_url(&self) -> String {
        format!("/static/provider-icons/{}.svg", self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_keeps_its_stored_spelling() {
        let spelled = [
            (Provider::Apple, "apple"),
            (Provider::Samsung, "samsung"),
            (Provider::Garmin, "garmin"),
            (Provider::Google, "google"),
            (Provider::Polar, "polar"),
            (Provider::Suunto, "suunto"),
            (Provider::Whoop, "whoop"),
            (Provider::Strava, "strava"),
            (Provider::Oura, "oura"),
            (Provider::Fitbit, "fitbit"),
            (Provider::Ultrahuman, "ultrahuman"),
            (Provider::Sensorbio, "sensorbio"),
        ];
        assert_eq!(spelled.map(|(p, _)| p), Provider::ALL, "listing order");
        for (p, s) in spelled {
            assert_eq!(serde_json::to_value(p).ok(), Some(serde_json::json!(s)));
            assert_eq!(
                serde_json::from_value::<Provider>(serde_json::json!(s)).ok(),
                Some(p)
            );
            assert_eq!((p.to_string(), s.parse::<Provider>()), (s.into(), Ok(p)));
            assert_eq!(p.info().key, s);
        }
        assert!(serde_json::from_value::<Provider>(serde_json::json!("Garmin")).is_err());
        assert_eq!(
            "Garmin".parse::<Provider>(),
            Err(UnknownProvider("Garmin".into()))
        );
    }

    #[test]
    fn path_values_refuse_sentinels_and_unknown_keys_with_the_reference_texts() {
        assert_eq!(Provider::parse_path("polar"), Ok(Provider::Polar));
        assert_eq!(
            Provider::parse_path("internal"),
            Err("Unknown provider: internal".into())
        );
        assert_eq!(
            Provider::parse_path("Garmin"),
            Err("Input should be 'apple', 'samsung', 'garmin', 'google', 'polar', 'suunto', 'whoop', 'strava', 'oura', 'fitbit', 'ultrahuman', 'sensorbio'".into())
        );
        assert!(Provider::is_query_value("unknown") && !Provider::is_query_value("x"));
        assert!(Provider::query_values().ends_with("sensorbio, unknown, internal"));
    }

    #[test]
    fn capability_rules_match_the_reference_matrix() {
        let mode = |p: Provider| p.info().default_live_sync_mode();
        assert_eq!(mode(Provider::Garmin), Some("webhook"));
        assert_eq!(mode(Provider::Polar), Some("pull"));
        assert_eq!(mode(Provider::Apple), None);
        assert_eq!(mode(Provider::Google), Some("pull"));
        let conf = |p: Provider| p.info().live_sync_configurable();
        assert!(
            conf(Provider::Polar)
                && conf(Provider::Oura)
                && conf(Provider::Suunto)
                && conf(Provider::Google)
        );
        assert!(
            !conf(Provider::Garmin)
                && !conf(Provider::Fitbit)
                && !conf(Provider::Apple)
                && !conf(Provider::Ultrahuman)
        );
        assert_eq!(Provider::Garmin.info().max_historical_days, Some(30));
        assert_eq!(Provider::cloud().count(), 10);
        let with = |f: fn(&ProviderInfo) -> bool| {
            Provider::ALL
                .into_iter()
                .filter(|p| f(p.info()))
                .map(Provider::as_str)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            with(|i| i.inbound_webhook),
            [
                "garmin", "google", "polar", "suunto", "whoop", "strava", "oura"
            ]
        );
        assert_eq!(
            with(|i| i.subscriptions),
            ["google", "polar", "strava", "oura"]
        );
        assert_eq!(with(|i| i.issues_signing_secret), ["polar"]);
        assert_eq!(
            with(|i| i.vendor_workout_detail),
            [
                "garmin", "google", "polar", "suunto", "whoop", "strava", "oura"
            ]
        );
        assert_eq!(
            with(|i| i.vendor_workouts && !i.vendor_workout_detail),
            ["fitbit", "sensorbio"]
        );
        assert_eq!(
            with(|i| i.supports_pull()),
            [
                "garmin",
                "google",
                "polar",
                "suunto",
                "whoop",
                "strava",
                "oura",
                "fitbit",
                "ultrahuman",
                "sensorbio"
            ]
        );
    }
}

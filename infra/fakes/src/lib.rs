//! Local fakes of the provider clouds. Each speaks its provider's OAuth 2.0 and data protocol
//! on loopback, serves a realistic dataset anchored on a chosen day, sends the provider's
//! webhooks to our API, and injects faults (429, 503, slow answers, denied consent, revoked
//! grants). Point the real client code at one with `<PROVIDER>_BASE_URL=<fake base_url>`.

pub mod apple_export;
pub mod core;
pub mod fitbit;
pub mod garmin;
pub mod google;
pub mod oura;
pub mod polar;
pub mod sensorbio;
pub mod strava;
pub mod suunto;
pub mod ultrahuman;
pub mod whoop;

pub use crate::core::{Fake, FakeOptions, Faults, Profile, RunningFake};

/// The providers with a cloud API, in listing order.
pub const PROVIDERS: [&str; 10] = [
    "garmin",
    "google",
    "polar",
    "suunto",
    "whoop",
    "strava",
    "oura",
    "fitbit",
    "ultrahuman",
    "sensorbio",
];

/// The fake profile of a provider.
pub fn profile(provider: &str) -> Option<Profile> {
    Some(match provider {
        "fitbit" => fitbit::profile(),
        "garmin" => garmin::profile(),
        "google" => google::profile(),
        "oura" => oura::profile(),
        "polar" => polar::profile(),
        "sensorbio" => sensorbio::profile(),
        "strava" => strava::profile(),
        "suunto" => suunto::profile(),
        "ultrahuman" => ultrahuman::profile(),
        "whoop" => whoop::profile(),
        _ => return None,
    })
}

/// Settings our app needs, besides the client credentials and `<PROVIDER>_BASE_URL`, to work
/// with the fake of `provider` (Suunto's subscription key and notification secret, Google's
/// project number and service account).
pub fn app_settings(provider: &str) -> Vec<(&'static str, &'static str)> {
    match provider {
        "suunto" => suunto::app_settings(),
        // The secret the Polar fake signs its webhooks with (ours would otherwise come from
        // a webhook registration).
        "polar" => vec![("POLAR_WEBHOOK_SECRET", polar::WEBHOOK_SECRET)],
        "google" => google::app_settings(),
        _ => Vec::new(),
    }
}

/// Starts the fake of `provider` on loopback.
pub async fn start(provider: &str, opts: FakeOptions) -> std::io::Result<RunningFake> {
    let profile = profile(provider).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no fake for provider '{provider}'"),
        )
    })?;
    crate::core::serve(profile, opts).await
}

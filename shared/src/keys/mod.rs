//! Per-purpose secrets (issue #9 item 1): no secret doubles as another.
//!
//! `SECRET_KEY` signs our JWTs and is never used for anything else. Every other secret *we*
//! choose (a verify token we hand to Strava, the bearer secret Google echoes back, the
//! unguessable segment of a webhook URL, the token-encryption key) is either its own explicit
//! setting or derived from `SECRET_KEY` with HMAC-SHA256 under a purpose label
//! (`ow/<purpose>/v1`): one-way, so a derived value that leaves the process (to a provider, in
//! a URL) reveals nothing about the key or about any other derived value.
//!
//! Secrets a *provider* issues to us (Polar's `signature_secret_key`, Suunto's notification
//! secret) are never derived: without them the provider's webhooks are refused.

pub mod secrets;
pub mod tokens;

use std::collections::HashMap;

/// A secret we choose: its setting, else derived from `SECRET_KEY` with `label`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purpose {
    /// The setting that overrides the derived value.
    pub setting: &'static str,
    /// The derivation label.
    pub label: &'static str,
}

/// The verify token registered with Strava's push subscription and checked on its challenge.
pub const STRAVA_VERIFY_TOKEN: Purpose = Purpose {
    setting: "STRAVA_WEBHOOK_VERIFY_TOKEN",
    label: "ow/strava-webhook-verify-token/v1",
};

/// The verification token registered with Oura's subscriptions and checked on its challenge.
pub const OURA_VERIFICATION_TOKEN: Purpose = Purpose {
    setting: "OURA_WEBHOOK_VERIFICATION_TOKEN",
    label: "ow/oura-webhook-verification-token/v1",
};

/// The bearer secret registered with Google's subscriber and checked on its notifications.
pub const GOOGLE_WEBHOOK_SECRET: Purpose = Purpose {
    setting: "GOOGLE_WEBHOOK_SECRET",
    label: "ow/google-webhook-secret/v1",
};

/// The label of the token-encryption key when `TOKEN_ENCRYPTION_KEY` is unset.
pub const TOKEN_ENCRYPTION_LABEL: &str = "ow/token-encryption-key/v1";

/// Providers that sign nothing: the URL they call carries an unguessable secret segment
/// (`/api/v1/providers/{p}/webhooks/{secret}`).
pub const URL_SECRET_PROVIDERS: [&str; 2] = ["strava", "garmin"];

/// Whether `provider`'s webhooks are authenticated by the secret in their URL.
pub fn needs_url_secret(provider: &str) -> bool {
    URL_SECRET_PROVIDERS.contains(&provider)
}

/// Lower-case hex HMAC-SHA256(`root`, `label`): the derived secret of one purpose.
pub fn derive(root: &str, label: &str) -> String {
    hex::encode(secrets::hmac_sha256(root.as_bytes(), &[label.as_bytes()]))
}

/// A secret we choose: the non-empty setting, else derived from `root` (`SECRET_KEY`).
pub fn resolve(settings: &HashMap<String, String>, root: &str, purpose: Purpose) -> String {
    settings
        .get(purpose.setting)
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map_or_else(|| derive(root, purpose.label), str::to_string)
}

/// The setting of `provider`'s webhook URL secret (`STRAVA_WEBHOOK_URL_SECRET`, ...).
pub fn url_secret_setting(provider: &str) -> String {
    format!("{}_WEBHOOK_URL_SECRET", provider.to_uppercase())
}

/// The secret segment of `provider`'s webhook URL: `<PROVIDER>_WEBHOOK_URL_SECRET`, else
/// derived with the label `ow/<provider>-webhook-url/v1`.
pub fn url_secret(settings: &HashMap<String, String>, root: &str, provider: &str) -> String {
    settings
        .get(&url_secret_setting(provider))
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map_or_else(
            || derive(root, &format!("ow/{provider}-webhook-url/v1")),
            str::to_string,
        )
}

/// `callback` with `secret` as its last path segment (the query, if any, kept after it);
/// unchanged when it already ends with it.
pub fn with_url_secret(callback: &str, secret: &str) -> String {
    let (base, query) = match callback.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (callback, None),
    };
    let base = base.trim_end_matches('/');
    let path = if base.ends_with(&format!("/{secret}")) {
        base.to_string()
    } else {
        format!("{base}/{secret}")
    };
    match query {
        Some(q) => format!("{path}?{q}"),
        None => path,
    }
}

/// Constant-time comparison of a presented URL secret with the expected one.
pub fn url_secret_ok(expected: &str, given: Option<&str>) -> bool {
    given.is_some_and(|g| secrets::ct_eq(g, expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "test-secret-key-0123456789abcdef";

    #[test]
    fn derived_secrets_are_per_purpose_and_never_the_root() {
        let none = HashMap::new();
        let all = [
            resolve(&none, ROOT, STRAVA_VERIFY_TOKEN),
            resolve(&none, ROOT, OURA_VERIFICATION_TOKEN),
            resolve(&none, ROOT, GOOGLE_WEBHOOK_SECRET),
            url_secret(&none, ROOT, "strava"),
            url_secret(&none, ROOT, "garmin"),
            derive(ROOT, TOKEN_ENCRYPTION_LABEL),
        ];
        for (i, a) in all.iter().enumerate() {
            assert_eq!(a.len(), 64, "{a}");
            assert!(!a.contains(ROOT) && !ROOT.contains(a.as_str()));
            assert!(!a.contains(&hex::encode(ROOT)));
            for b in &all[i + 1..] {
                assert_ne!(a, b, "two purposes share a secret");
            }
        }
        // Deterministic: the same installation derives the same values.
        assert_eq!(
            resolve(&none, ROOT, STRAVA_VERIFY_TOKEN),
            derive(ROOT, "ow/strava-webhook-verify-token/v1")
        );
        assert_ne!(
            resolve(&none, "another-secret-key-0123456789", STRAVA_VERIFY_TOKEN),
            resolve(&none, ROOT, STRAVA_VERIFY_TOKEN)
        );
    }

    #[test]
    fn an_explicit_setting_wins() {
        let s = HashMap::from([
            (
                "STRAVA_WEBHOOK_VERIFY_TOKEN".to_string(),
                "mine".to_string(),
            ),
            ("GARMIN_WEBHOOK_URL_SECRET".to_string(), "g-url".to_string()),
        ]);
        assert_eq!(resolve(&s, ROOT, STRAVA_VERIFY_TOKEN), "mine");
        assert_eq!(url_secret(&s, ROOT, "garmin"), "g-url");
    }

    #[test]
    fn the_url_secret_becomes_the_last_path_segment() {
        assert_eq!(
            with_url_secret("https://h/api/v1/providers/strava/webhooks", "s3"),
            "https://h/api/v1/providers/strava/webhooks/s3"
        );
        assert_eq!(
            with_url_secret("https://h/api/v1/providers/strava/webhooks/s3/", "s3"),
            "https://h/api/v1/providers/strava/webhooks/s3"
        );
        assert_eq!(
            with_url_secret("https://h/hook?x=1", "s3"),
            "https://h/hook/s3?x=1"
        );
        assert!(url_secret_ok("abc", Some("abc")));
        assert!(!url_secret_ok("abc", Some("abd")) && !url_secret_ok("abc", None));
    }
}

//! Outgoing webhooks, the pure part: the event catalogue (api.md §16.3), idempotency keys and
//! message ids (§16.2), Standard Webhooks / Svix signatures, the retry schedule, endpoint
//! filters and the outbound-address rules.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::OnceLock;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::series::SeriesType;

/// The catalogue as the reference serves it (#77): name, description, child events.
const CATALOGUE_JSON: &str = include_str!("webhook_event_types.json");

/// One entry of the event catalogue.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
pub struct EventTypeInfo {
    pub name: String,
    pub description: String,
    pub child_events: Option<Vec<String>>,
}

/// The event catalogue in the reference's order.
pub fn catalogue() -> &'static [EventTypeInfo] {
    static CAT: OnceLock<Vec<EventTypeInfo>> = OnceLock::new();
    CAT.get_or_init(|| serde_json::from_str(CATALOGUE_JSON).unwrap_or_default())
}

/// The granular event of a series type: `series.<code>.created`.
pub fn granular_event(series: SeriesType) -> String {
    format!("series.{}.created", series.code())
}

/// The group event a series type belongs to (`None`: the type emits no event at all).
pub fn group_event(series: SeriesType) -> Option<&'static str> {
    static GROUPS: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    let groups = GROUPS.get_or_init(|| {
        let mut m = HashMap::new();
        for e in catalogue() {
            for child in e.child_events.iter().flatten() {
                m.insert(child.clone(), e.name.as_str());
            }
        }
        m
    });
    groups.get(&granular_event(series)).copied()
}

/// Whether `name` is an event type of the catalogue.
pub fn is_known_event(name: &str) -> bool {
    catalogue().iter().any(|e| e.name == name)
}

/// Samples per time-series message; bigger batches are split into chunks.
pub const SERIES_CHUNK: usize = 2500;

/// An idempotency key with every character outside `[A-Za-z0-9._-]` replaced by `_` (§16.2).
pub fn event_id(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The message id of an event id: deterministic, so storing the same fact twice is one
/// message (`msg_` + 32 hex digits of SHA-256).
pub fn message_id(event_id: &str) -> String {
    let d = Sha256::digest(event_id.as_bytes());
    format!("msg_{}", hex::encode(&d[..16]))
}

/// A new random endpoint id (`ep_` + 26 hex digits).
pub fn new_endpoint_id(random: [u8; 13]) -> String {
    format!("ep_{}", hex::encode(random))
}

/// A signing secret in Svix's form: `whsec_` + base64 of 24 random bytes.
pub fn new_secret(random: [u8; 24]) -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(random)
    )
}

/// Why a secret cannot sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid webhook secret")]
pub struct BadSecret;

/// The Standard Webhooks signature value of one secret: `v1,<base64 HMAC-SHA256 of
/// "{id}.{timestamp}.{body}">`, keyed with the base64-decoded part after `whsec_`.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String, BadSecret> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| BadSecret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| BadSecret)?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// Checks a `webhook-signature` header (space-separated `v1,<sig>` values) against a secret,
/// in constant time per candidate, and the timestamp against `now` (±5 minutes), as the
/// Standard Webhooks libraries do.
pub fn verify(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
    header: &str,
    now: i64,
) -> bool {
    if (now - timestamp).abs() > 300 {
        return false;
    }
    let Ok(expected) = sign(secret, msg_id, timestamp, body) else {
        return false;
    };
    header.split(' ').any(|candidate| {
        use subtle::ConstantTimeEq;
        candidate.len() == expected.len()
            && bool::from(candidate.as_bytes().ct_eq(expected.as_bytes()))
    })
}

/// Svix's retry schedule: the delay before each attempt (the first is immediate); after the
/// last attempt fails the message is `failed` for that endpoint.
pub const RETRY_SCHEDULE_SECONDS: [i64; 8] = [0, 5, 300, 1800, 7200, 18000, 36000, 36000];

/// An endpoint failing this long without a success is disabled.
pub const DISABLE_AFTER_SECONDS: i64 = 5 * 24 * 3600;

/// Attempts and delivery records are kept this long.
pub const RETENTION_SECONDS: i64 = 30 * 24 * 3600;

/// Bytes of a response body kept in an attempt.
pub const RESPONSE_EXCERPT_BYTES: usize = 1024;

/// Svix's message status, per endpoint (and attempt): the wire integers of #86.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Success,
    Pending,
    Failed,
    Sending,
}

impl DeliveryStatus {
    pub fn code(self) -> i64 {
        match self {
            DeliveryStatus::Success => 0,
            DeliveryStatus::Pending => 1,
            DeliveryStatus::Failed => 2,
            DeliveryStatus::Sending => 3,
        }
    }

    pub fn from_code(c: i64) -> Option<Self> {
        Some(match c {
            0 => DeliveryStatus::Success,
            1 => DeliveryStatus::Pending,
            2 => DeliveryStatus::Failed,
            3 => DeliveryStatus::Sending,
            _ => return None,
        })
    }
}

/// Why an attempt was made (Svix `triggerType`: 0 scheduled, 1 manual).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Scheduled,
    Manual,
}

impl Trigger {
    pub fn code(self) -> i64 {
        match self {
            Trigger::Scheduled => 0,
            Trigger::Manual => 1,
        }
    }
}

/// Whether an endpoint with these filters receives an event of `event_type` for `user`.
pub fn endpoint_wants(
    filter_types: Option<&[String]>,
    endpoint_user: Option<&str>,
    event_type: &str,
    event_user: Option<&str>,
) -> bool {
    let type_ok = filter_types.is_none_or(|f| f.is_empty() || f.iter().any(|t| t == event_type));
    let user_ok = endpoint_user.is_none_or(|u| event_user == Some(u));
    type_ok && user_ok
}

/// Why an endpoint URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("Invalid URL: {0}")]
    Invalid(String),
    #[error("Endpoint URLs must use https")]
    NotHttps,
    #[error("Endpoint URLs must point to a public address")]
    NotPublic,
}

/// Checks an endpoint URL: absolute `http(s)` with a host; unless private targets are allowed,
/// `https` only and no literal private, loopback or link-local address (names are checked
/// again when they resolve, at delivery).
pub fn check_endpoint_url(raw: &str, allow_private: bool) -> Result<(), UrlError> {
    let (scheme, rest) = raw
        .split_once("://")
        .ok_or_else(|| UrlError::Invalid("relative URL without a base".into()))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(UrlError::Invalid(
            "URL scheme should be 'http' or 'https'".into(),
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    if host.is_empty() || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UrlError::Invalid("empty host".into()));
    }
    if allow_private {
        return Ok(());
    }
    if scheme != "https" {
        return Err(UrlError::NotHttps);
    }
    let lower = host.to_ascii_lowercase();
    if lower == "localhost" || lower.ends_with(".localhost") || lower.ends_with(".internal") {
        return Err(UrlError::NotPublic);
    }
    if let Ok(ip) = host.parse::<IpAddr>()
        && !is_public(ip)
    {
        return Err(UrlError::NotPublic);
    }
    Ok(())
}

/// Whether an address is a public unicast one (no loopback, private, link-local, CGNAT,
/// unique-local, multicast, documentation or unspecified ranges; IPv4-mapped checked as v4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x64 && s[1] == 0xff9b))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_groups_series_as_the_reference() {
        assert_eq!(catalogue().len(), 111);
        assert_eq!(catalogue()[0].name, "connection.created");
        assert_eq!(
            group_event(SeriesType::HeartRate),
            Some("heart_rate.created")
        );
        assert_eq!(group_event(SeriesType::Steps), Some("steps.created"));
        assert_eq!(
            group_event(SeriesType::Weight),
            Some("body_composition.created")
        );
        assert_eq!(group_event(SeriesType::Latitude), None);
        assert!(is_known_event("series.heart_rate.created"));
    }

    #[test]
    fn event_ids_keep_only_safe_characters() {
        assert_eq!(
            event_id("connection.created.u.oura.2025-01-01T00:00:00+00:00"),
            "connection.created.u.oura.2025-01-01T00_00_00_00_00"
        );
        assert_eq!(message_id("a"), message_id("a"));
        assert_ne!(message_id("a"), message_id("b"));
        assert!(message_id("a").starts_with("msg_"));
    }

    /// The example of the Standard Webhooks specification.
    #[test]
    fn signatures_match_the_standard_webhooks_example() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let sig = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).expect("sign");
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(verify(
            secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            body,
            &format!("v1,bogus {sig}"),
            1614265330 + 10
        ));
        assert!(!verify(
            secret,
            "msg_other",
            1614265330,
            body,
            &sig,
            1614265330
        ));
        assert!(!verify(
            secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            body,
            &sig,
            1614265330 + 3600
        ));
    }

    #[test]
    fn filters_select_types_and_users() {
        let types = vec!["workout.created".to_string()];
        assert!(endpoint_wants(None, None, "x", None));
        assert!(endpoint_wants(Some(&[]), None, "x", Some("u")));
        assert!(endpoint_wants(Some(&types), None, "workout.created", None));
        assert!(!endpoint_wants(Some(&types), None, "sleep.created", None));
        assert!(endpoint_wants(None, Some("u"), "x", Some("u")));
        assert!(!endpoint_wants(None, Some("u"), "x", Some("v")));
        assert!(!endpoint_wants(None, Some("u"), "x", None));
    }

    #[test]
    fn outbound_urls_must_be_public_https_unless_allowed() {
        assert!(check_endpoint_url("https://hooks.example.com/x", false).is_ok());
        assert_eq!(
            check_endpoint_url("http://hooks.example.com", false),
            Err(UrlError::NotHttps)
        );
        assert_eq!(
            check_endpoint_url("https://127.0.0.1:9/x", false),
            Err(UrlError::NotPublic)
        );
        assert_eq!(
            check_endpoint_url("https://[::1]/x", false),
            Err(UrlError::NotPublic)
        );
        assert_eq!(
            check_endpoint_url("https://10.1.2.3", false),
            Err(UrlError::NotPublic)
        );
        assert_eq!(
            check_endpoint_url("https://localhost/", false),
            Err(UrlError::NotPublic)
        );
        assert!(check_endpoint_url("http://127.0.0.1:9/x", true).is_ok());
        assert!(matches!(
            check_endpoint_url("ftp://x", true),
            Err(UrlError::Invalid(_))
        ));
        assert!(matches!(
            check_endpoint_url("not a url", true),
            Err(UrlError::Invalid(_))
        ));
        assert!(matches!(
            check_endpoint_url("https://", true),
            Err(UrlError::Invalid(_))
        ));
        assert!(is_public("8.8.8.8".parse().expect("ip")));
        assert!(!is_public("169.254.169.254".parse().expect("ip")));
        assert!(!is_public("::ffff:10.0.0.1".parse().expect("ip")));
        assert!(!is_public("100.64.0.1".parse().expect("ip")));
    }
}

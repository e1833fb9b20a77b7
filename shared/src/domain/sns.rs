//! Amazon SNS HTTP(S) deliveries (api.md #76): the message, the string its signature covers,
//! and the rules for the URLs it names (the signing certificate, the subscription
//! confirmation), checked before anything is fetched.
//!
//! The signature (`SignatureVersion` 1: SHA1withRSA, 2: SHA256withRSA) covers the message
//! type's fields as `name\nvalue\n` pairs in AWS's documented order: for a `Notification`
//! Message, MessageId, Subject (when present), Timestamp, TopicArn, Type; for a
//! `SubscriptionConfirmation` or `UnsubscribeConfirmation` Message, MessageId,
//! SubscribeURL, Timestamp, Token, TopicArn, Type.

use serde::Deserialize;

/// One SNS delivery as POSTed to an HTTP(S) subscriber.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnsMessage {
    #[serde(rename = "Type")]
    pub kind: String,
    pub message_id: String,
    pub topic_arn: String,
    #[serde(default)]
    pub subject: Option<String>,
    pub message: String,
    pub timestamp: String,
    pub signature_version: String,
    pub signature: String,
    #[serde(rename = "SigningCertURL")]
    pub signing_cert_url: String,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(rename = "SubscribeURL", default)]
    pub subscribe_url: Option<String>,
    #[serde(rename = "UnsubscribeURL", default)]
    pub unsubscribe_url: Option<String>,
}

/// The digest a signature version signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureDigest {
    Sha1,
    Sha256,
}

impl SnsMessage {
    pub fn digest(&self) -> Option<SignatureDigest> {
        match self.signature_version.as_str() {
            "1" => Some(SignatureDigest::Sha1),
            "2" => Some(SignatureDigest::Sha256),
            _ => None,
        }
    }

    /// The string the signature covers; `None` for a type without one, or a confirmation
    /// that lacks its token or URL.
    pub fn string_to_sign(&self) -> Option<String> {
        let mut out = String::new();
        let mut add = |k: &str, v: &str| {
            out.push_str(k);
            out.push('\n');
            out.push_str(v);
            out.push('\n');
        };
        match self.kind.as_str() {
            "Notification" => {
                add("Message", &self.message);
                add("MessageId", &self.message_id);
                if let Some(s) = &self.subject {
                    add("Subject", s);
                }
                add("Timestamp", &self.timestamp);
                add("TopicArn", &self.topic_arn);
                add("Type", &self.kind);
            }
            "SubscriptionConfirmation" | "UnsubscribeConfirmation" => {
                add("Message", &self.message);
                add("MessageId", &self.message_id);
                add("SubscribeURL", self.subscribe_url.as_deref()?);
                add("Timestamp", &self.timestamp);
                add("Token", self.token.as_deref()?);
                add("TopicArn", &self.topic_arn);
                add("Type", &self.kind);
            }
            _ => return None,
        }
        Some(out)
    }
}

/// Whether `host` is an SNS endpoint: `sns.<region>.amazonaws.com` or `.amazonaws.com.cn`.
pub fn is_sns_host(host: &str) -> bool {
    let Some(rest) = host.strip_prefix("sns.") else {
        return false;
    };
    let region = rest
        .strip_suffix(".amazonaws.com")
        .or_else(|| rest.strip_suffix(".amazonaws.com.cn"));
    region.is_some_and(|r| {
        !r.is_empty()
            && r.len() <= 30
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
}

/// Splits `https://host/path` (no userinfo, port, query or fragment) into host and path.
fn https_parts(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("https://")?;
    let slash = rest.find('/')?;
    let (host, path) = rest.split_at(slash);
    if host.is_empty() || host.contains(['@', ':']) {
        return None;
    }
    Some((host, path))
}

/// Whether a path is `/SimpleNotificationService-<hex>.pem`.
fn is_cert_path(path: &str) -> bool {
    path.strip_prefix("/SimpleNotificationService-")
        .and_then(|p| p.strip_suffix(".pem"))
        .is_some_and(|h| !h.is_empty() && h.len() <= 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether the signing certificate may be fetched from `url`: https, an SNS host, the
/// `/SimpleNotificationService-<hex>.pem` path. `test_origin` (a test setting only, never
/// read from the environment) also admits `<test_origin>/SimpleNotificationService-<hex>.pem`.
pub fn cert_url_allowed(url: &str, test_origin: Option<&str>) -> bool {
    if let Some(origin) = test_origin
        && let Some(path) = url.strip_prefix(origin.trim_end_matches('/'))
    {
        return is_cert_path(path);
    }
    https_parts(url).is_some_and(|(host, path)| is_sns_host(host) && is_cert_path(path))
}

/// Whether a subscription may be confirmed by GETting `url`: https on an SNS host (or the
/// test origin, as for certificates).
pub fn subscribe_url_allowed(url: &str, test_origin: Option<&str>) -> bool {
    if let Some(origin) = test_origin
        && url.starts_with(&format!("{}/", origin.trim_end_matches('/')))
    {
        return true;
    }
    https_parts(url).is_some_and(|(host, _)| is_sns_host(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_urls_must_be_aws_sns_pem_files() {
        for ok in [
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-01d088a6f77103d0fe307c0069e40ed6.pem",
            "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc123.pem",
        ] {
            assert!(cert_url_allowed(ok, None), "{ok}");
        }
        for bad in [
            "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-abc.pem",
            "https://evil.example/sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.us-east-1.amazonaws.com@evil.example/SimpleNotificationService-abc.pem",
            "https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-abc.pem",
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem?x=1",
            "https://sns.us-east-1.amazonaws.com/other.pem",
            "https://s3.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns..amazonaws.com/SimpleNotificationService-abc.pem",
        ] {
            assert!(!cert_url_allowed(bad, None), "{bad}");
        }
        let test = Some("http://127.0.0.1:4000");
        assert!(cert_url_allowed(
            "http://127.0.0.1:4000/SimpleNotificationService-ab12.pem",
            test
        ));
        assert!(!cert_url_allowed("http://127.0.0.1:4000/other.pem", test));
        assert!(!cert_url_allowed(
            "http://127.0.0.1:4000/SimpleNotificationService-ab12.pem",
            None
        ));
    }

    #[test]
    fn subscribe_urls_must_be_aws_sns() {
        assert!(subscribe_url_allowed(
            "https://sns.eu-north-1.amazonaws.com/?Action=ConfirmSubscription&Token=x",
            None
        ));
        assert!(!subscribe_url_allowed(
            "https://example.com/?Action=ConfirmSubscription",
            None
        ));
        assert!(!subscribe_url_allowed(
            "http://sns.eu-north-1.amazonaws.com/",
            None
        ));
    }

    fn message(kind: &str) -> SnsMessage {
        SnsMessage {
            kind: kind.into(),
            message_id: "id".into(),
            topic_arn: "arn:t".into(),
            subject: None,
            message: "m".into(),
            timestamp: "2026-12-03T07:00:00.000Z".into(),
            signature_version: "1".into(),
            signature: String::new(),
            signing_cert_url: String::new(),
            token: Some("tok".into()),
            subscribe_url: Some("https://sns.x.amazonaws.com/?a".into()),
            unsubscribe_url: None,
        }
    }

    #[test]
    fn the_signed_string_follows_the_type() {
        assert_eq!(
            message("Notification").string_to_sign().as_deref(),
            Some(
                "Message\nm\nMessageId\nid\nTimestamp\n2026-12-03T07:00:00.000Z\nTopicArn\narn:t\nType\nNotification\n"
            )
        );
        let mut with_subject = message("Notification");
        with_subject.subject = Some("s".into());
        assert!(
            with_subject
                .string_to_sign()
                .is_some_and(|s| s.contains("MessageId\nid\nSubject\ns\nTimestamp"))
        );
        assert_eq!(
            message("SubscriptionConfirmation")
                .string_to_sign()
                .as_deref(),
            Some(
                "Message\nm\nMessageId\nid\nSubscribeURL\nhttps://sns.x.amazonaws.com/?a\nTimestamp\n2026-12-03T07:00:00.000Z\nToken\ntok\nTopicArn\narn:t\nType\nSubscriptionConfirmation\n"
            )
        );
        assert_eq!(message("Other").string_to_sign(), None);
    }
}

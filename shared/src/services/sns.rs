//! SNS deliveries to #76: the signature check against the message's signing certificate
//! (fetched with a timeout and a size bound from an allowed URL only, then cached per
//! process), the topic check, the subscription confirmation, and the S3 notifications that
//! become import jobs.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use base64::Engine;
use rsa::RsaPublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use x509_cert::der::{DecodePem, Encode};

use crate::app::{AppState, Job};
use crate::domain::sns::{SignatureDigest, SnsMessage, cert_url_allowed, subscribe_url_allowed};

/// Largest signing certificate accepted (AWS's are about 2 KB).
pub const MAX_CERT_BYTES: usize = 16 * 1024;
/// Certificates kept per process (a few signing certificates are in use at a time).
pub const MAX_CACHED_CERTS: usize = 16;
/// One certificate fetch or subscription confirmation.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a delivery was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum SnsRefusal {
    /// 403 `invalid SNS signature` (the cause is logged, not answered).
    Signature(String),
    /// 403 `invalid SNS topic ARN`.
    Topic,
}

fn cache() -> &'static Mutex<HashMap<String, RsaPublicKey>> {
    static CACHE: OnceLock<Mutex<HashMap<String, RsaPublicKey>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Checks the certificate URL (before any fetch), the signature and the topic.
pub async fn verify(state: &AppState, msg: &SnsMessage, topic: &str) -> Result<(), SnsRefusal> {
    let test_origin = state.config.s3.sns_test_origin.as_deref();
    if !cert_url_allowed(&msg.signing_cert_url, test_origin) {
        return Err(SnsRefusal::Signature(format!(
            "certificate URL not allowed: {}",
            msg.signing_cert_url
        )));
    }
    let digest = msg.digest().ok_or_else(|| {
        SnsRefusal::Signature(format!(
            "unknown SignatureVersion {:?}",
            msg.signature_version
        ))
    })?;
    let signed = msg
        .string_to_sign()
        .ok_or_else(|| SnsRefusal::Signature("no signed fields for this type".into()))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(msg.signature.trim())
        .map_err(|e| SnsRefusal::Signature(format!("signature is not base64: {e}")))?;
    let key = public_key(state, &msg.signing_cert_url)
        .await
        .map_err(SnsRefusal::Signature)?;
    let sig = Signature::try_from(raw.as_slice())
        .map_err(|e| SnsRefusal::Signature(format!("malformed signature: {e}")))?;
    let ok = match digest {
        SignatureDigest::Sha1 => {
            VerifyingKey::<sha1::Sha1>::new(key).verify(signed.as_bytes(), &sig)
        }
        SignatureDigest::Sha256 => {
            VerifyingKey::<sha2::Sha256>::new(key).verify(signed.as_bytes(), &sig)
        }
    };
    ok.map_err(|_| SnsRefusal::Signature("the signature does not verify".into()))?;
    if msg.topic_arn != topic {
        return Err(SnsRefusal::Topic);
    }
    Ok(())
}

/// The public key of the certificate at `url` (cached).
async fn public_key(state: &AppState, url: &str) -> Result<RsaPublicKey, String> {
    if let Some(k) = cache().lock().ok().and_then(|c| c.get(url).cloned()) {
        return Ok(k);
    }
    let mut resp = state
        .http
        .get(url)
        .timeout(FETCH_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("certificate fetch failed: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("certificate fetch answered {}", resp.status()));
    }
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_CERT_BYTES as u64)
    {
        return Err("certificate larger than the limit".into());
    }
    let mut pem = Vec::new();
    while let Some(chunk) = tokio::time::timeout(FETCH_TIMEOUT, resp.chunk())
        .await
        .map_err(|_| "certificate fetch timed out".to_string())?
        .map_err(|e| format!("certificate fetch failed: {e}"))?
    {
        if pem.len() + chunk.len() > MAX_CERT_BYTES {
            return Err("certificate larger than the limit".into());
        }
        pem.extend_from_slice(&chunk);
    }
    let cert = x509_cert::Certificate::from_pem(&pem)
        .map_err(|e| format!("not a PEM certificate: {e}"))?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| format!("certificate key: {e}"))?;
    let key = RsaPublicKey::from_public_key_der(&spki)
        .map_err(|e| format!("not an RSA certificate: {e}"))?;
    if let Ok(mut c) = cache().lock() {
        if c.len() >= MAX_CACHED_CERTS {
            c.clear();
        }
        c.insert(url.to_string(), key.clone());
    }
    Ok(key)
}

/// Confirms a subscription by GETting its SubscribeURL (an SNS host only).
pub async fn confirm_subscription(state: &AppState, msg: &SnsMessage) -> Result<(), String> {
    let url = msg
        .subscribe_url
        .as_deref()
        .ok_or("SubscribeURL is missing")?;
    if !subscribe_url_allowed(url, state.config.s3.sns_test_origin.as_deref()) {
        return Err("SubscribeURL is not an SNS URL".into());
    }
    let resp = state
        .http
        .get(url)
        .timeout(FETCH_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("subscription confirmation failed: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!(
            "subscription confirmation failed: HTTP {}",
            resp.status().as_u16()
        ));
    }
    Ok(())
}

/// What a `Notification`'s message asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum NotificationWork {
    /// `s3:TestEvent` (sent when a bucket notification is set up).
    TestEvent,
    /// Import jobs, one per `aws:s3` record whose key has at least 3 `/`-segments.
    Imports(Vec<Job>),
}

/// Reads a notification's message (an S3 event).
pub fn notification_work(message: &str) -> Result<NotificationWork, String> {
    let v: serde_json::Value = serde_json::from_str(message)
        .map_err(|e| format!("the notification message is not JSON: {e}"))?;
    if v["Event"] == "s3:TestEvent" {
        return Ok(NotificationWork::TestEvent);
    }
    let records = v["Records"]
        .as_array()
        .ok_or("the notification message is not an S3 event (no Records)")?;
    let mut jobs = Vec::new();
    for r in records {
        if r["eventSource"] != "aws:s3" {
            continue;
        }
        let (Some(bucket), Some(key)) = (
            r["s3"]["bucket"]["name"].as_str(),
            r["s3"]["object"]["key"].as_str(),
        ) else {
            continue;
        };
        let key = super::s3_import::decode_event_key(key);
        if key.split('/').count() < 3 {
            continue;
        }
        jobs.push(Job::AppleImportS3 {
            bucket: bucket.to_string(),
            key,
            etag: r["s3"]["object"]["eTag"]
                .as_str()
                .filter(|e| !e.is_empty())
                .map(str::to_string),
        });
    }
    Ok(NotificationWork::Imports(jobs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_become_import_jobs() {
        assert_eq!(
            notification_work(r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#),
            Ok(NotificationWork::TestEvent)
        );
        let event = include_str!("../../../infra/events/s3/object-created.json");
        let NotificationWork::Imports(jobs) = notification_work(event).expect("event") else {
            panic!("not imports")
        };
        assert_eq!(jobs.len(), 1);
        let short = event.replace(
            "6f1c1f5e-1111-4222-8333-944444444444/raw/export.xml",
            "export.xml",
        );
        assert_eq!(
            notification_work(&short),
            Ok(NotificationWork::Imports(vec![]))
        );
        assert!(notification_work("nope").is_err());
        assert!(notification_work("{}").is_err());
    }
}

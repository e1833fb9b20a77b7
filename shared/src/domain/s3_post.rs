//! S3 browser-upload (POST) policies signed with AWS Signature Version 4, computed here
//! because the Rust SDK presigns only requests, not POST forms (api.md #74).
//!
//! The policy binds one exact object key, its `Content-Type`, a size range and the signing
//! credential scope; the form fields are the ones S3 expects next to the `file` part. The
//! signature is `hex(HMAC-SHA256(signing key, base64(policy)))` with the SigV4 signing key of
//! the credential's date, region and the `s3` service.

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signing algorithm's name in policies and forms.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// What a policy allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostPolicy<'a> {
    pub bucket: &'a str,
    /// The exact object key.
    pub key: &'a str,
    pub content_type: &'a str,
    /// Largest upload in bytes (the smallest is 1).
    pub max_bytes: u64,
    pub expires_in: Duration,
}

/// Credentials that sign (the secret never leaves this module's computations).
#[derive(Clone, PartialEq, Eq)]
pub struct SigningCredentials<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    /// Temporary credentials (Lambda's execution role) carry a session token, which the form
    /// must repeat as `x-amz-security-token`.
    pub session_token: Option<&'a str>,
}

/// A signed policy: the form fields, in the order they are sent (the `file` part goes last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPost {
    pub fields: Vec<(String, String)>,
    pub expires_at: DateTime<Utc>,
}

/// The SigV4 signing key of one day, region and service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// `hex(HMAC-SHA256(signing key, string to sign))`: for a POST form the string to sign is the
/// base64 policy.
pub fn signature(key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac(key, string_to_sign.as_bytes()))
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Signs `policy` for `region` at `now`.
pub fn sign_post(
    policy: &PostPolicy<'_>,
    creds: &SigningCredentials<'_>,
    region: &str,
    now: DateTime<Utc>,
) -> SignedPost {
    let date = now.format("%Y%m%d").to_string();
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let credential = format!("{}/{date}/{region}/s3/aws4_request", creds.access_key_id);
    let expires_at = now + policy.expires_in;
    let mut conditions = vec![
        serde_json::json!({"bucket": policy.bucket}),
        serde_json::json!(["eq", "$key", policy.key]),
        serde_json::json!({"Content-Type": policy.content_type}),
        serde_json::json!(["content-length-range", 1, policy.max_bytes]),
        serde_json::json!({"x-amz-algorithm": ALGORITHM}),
        serde_json::json!({"x-amz-credential": credential}),
        serde_json::json!({"x-amz-date": amz_date}),
    ];
    if let Some(token) = creds.session_token {
        conditions.push(serde_json::json!({"x-amz-security-token": token}));
    }
    let doc = serde_json::json!({
        "expiration": expires_at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "conditions": conditions,
    });
    let encoded = base64::engine::general_purpose::STANDARD.encode(doc.to_string());
    let sig = signature(
        &signing_key(creds.secret_access_key, &date, region, "s3"),
        &encoded,
    );
    let mut fields = vec![
        ("key".to_string(), policy.key.to_string()),
        ("Content-Type".to_string(), policy.content_type.to_string()),
        ("x-amz-algorithm".to_string(), ALGORITHM.to_string()),
        ("x-amz-credential".to_string(), credential),
        ("x-amz-date".to_string(), amz_date),
    ];
    if let Some(token) = creds.session_token {
        fields.push(("x-amz-security-token".to_string(), token.to_string()));
    }
    fields.push(("policy".to_string(), encoded));
    fields.push(("x-amz-signature".to_string(), sig));
    SignedPost { fields, expires_at }
}

/// The POST URL of `bucket`: path-style under an explicit endpoint (`AWS_ENDPOINT_URL_S3`,
/// an S3-compatible server), else AWS's virtual-hosted URL of the region.
pub fn upload_url(endpoint: Option<&str>, bucket: &str, region: &str) -> String {
    match endpoint {
        Some(e) => format!("{}/{bucket}", e.trim_end_matches('/')),
        None if region.starts_with("cn-") => {
            format!("https://{bucket}.s3.{region}.amazonaws.com.cn/")
        }
        None => format!("https://{bucket}.s3.{region}.amazonaws.com/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's documented POST example ("Browser-Based Upload using HTTP POST (Using AWS
    /// Signature Version 4)"): its base64 policy and example secret give its signature.
    #[test]
    fn the_documented_post_example_signs_to_its_signature() {
        let policy_b64 = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9";
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "20151229",
            "us-east-1",
            "s3",
        );
        assert_eq!(
            signature(&key, policy_b64),
            "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"
        );
    }

    /// The signing-key derivation example of AWS's SigV4 documentation.
    #[test]
    fn the_documented_signing_key_derivation() {
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    fn policy() -> PostPolicy<'static> {
        PostPolicy {
            bucket: "imports",
            key: "u1/raw/export.zip",
            content_type: "application/xml",
            max_bytes: 2048,
            expires_in: Duration::seconds(300),
        }
    }

    #[test]
    fn the_policy_binds_the_key_type_size_and_scope() {
        let now = DateTime::parse_from_rfc3339("2026-12-03T07:00:00Z")
            .expect("date")
            .with_timezone(&Utc);
        let creds = SigningCredentials {
            access_key_id: "AKID",
            secret_access_key: "secret",
            session_token: Some("tok"),
        };
        let signed = sign_post(&policy(), &creds, "eu-north-1", now);
        let field = |n: &str| {
            signed
                .fields
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert_eq!(field("key"), "u1/raw/export.zip");
        assert_eq!(
            field("x-amz-credential"),
            "AKID/20261203/eu-north-1/s3/aws4_request"
        );
        assert_eq!(field("x-amz-date"), "20261203T070000Z");
        assert_eq!(field("x-amz-security-token"), "tok");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(field("policy"))
            .expect("base64");
        let doc: serde_json::Value = serde_json::from_slice(&raw).expect("json");
        assert_eq!(doc["expiration"], "2026-12-03T07:05:00.000Z");
        let conds = doc["conditions"].as_array().expect("conditions");
        assert!(conds.contains(&serde_json::json!(["eq", "$key", "u1/raw/export.zip"])));
        assert!(conds.contains(&serde_json::json!(["content-length-range", 1, 2048])));
        assert!(conds.contains(&serde_json::json!({"x-amz-security-token": "tok"})));
        let expected = signature(
            &signing_key("secret", "20261203", "eu-north-1", "s3"),
            &field("policy"),
        );
        assert_eq!(field("x-amz-signature"), expected);
        let plain = sign_post(
            &policy(),
            &SigningCredentials {
                session_token: None,
                ..creds
            },
            "eu-north-1",
            now,
        );
        assert!(
            !plain
                .fields
                .iter()
                .any(|(k, _)| k == "x-amz-security-token")
        );
    }

    #[test]
    fn upload_urls() {
        assert_eq!(
            upload_url(Some("http://127.0.0.1:5000/"), "b", "us-east-1"),
            "http://127.0.0.1:5000/b"
        );
        assert_eq!(
            upload_url(None, "b", "eu-north-1"),
            "https://b.s3.eu-north-1.amazonaws.com/"
        );
    }
}

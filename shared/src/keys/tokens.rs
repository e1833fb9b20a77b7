//! HS256 access tokens: developer tokens (`sub` = developer id) and SDK tokens (`sub` = user
//! id, `scope` = `sdk`, `app_id`), api.md §2.1.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The claims our tokens carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
}

impl Claims {
    pub fn is_sdk(&self) -> bool {
        self.scope.as_deref() == Some("sdk")
    }
}

/// Signs and verifies access tokens with the configured secret.
#[derive(Clone)]
pub struct TokenSigner {
    enc: EncodingKey,
    dec: DecodingKey,
    ttl_minutes: i64,
}

impl TokenSigner {
    pub fn new(secret: &str, ttl_minutes: i64) -> Self {
        Self {
            enc: EncodingKey::from_secret(secret.as_bytes()),
            dec: DecodingKey::from_secret(secret.as_bytes()),
            ttl_minutes,
        }
    }

    /// Seconds an access token lives (`expires_in`).
    pub fn expires_in(&self) -> i64 {
        self.ttl_minutes * 60
    }

    fn sign(&self, claims: &Claims) -> Result<String, String> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.enc)
            .map_err(|e| e.to_string())
    }

    /// A developer access token.
    pub fn developer(&self, developer_id: &str, now: DateTime<Utc>) -> Result<String, String> {
        self.sign(&Claims {
            sub: developer_id.to_string(),
            exp: now.timestamp() + self.expires_in(),
            scope: None,
            app_id: None,
        })
    }

    /// An SDK access token for one user.
    pub fn sdk(&self, user_id: &str, app_id: &str, now: DateTime<Utc>) -> Result<String, String> {
        self.sign(&Claims {
            sub: user_id.to_string(),
            exp: now.timestamp() + self.expires_in(),
            scope: Some("sdk".into()),
            app_id: Some(app_id.to_string()),
        })
    }

    /// Verifies signature and expiry against `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Option<Claims> {
        let mut v = Validation::new(Algorithm::HS256);
        v.validate_exp = false;
        v.required_spec_claims = ["exp".to_string()].into_iter().collect();
        let claims = jsonwebtoken::decode::<Claims>(token, &self.dec, &v)
            .ok()?
            .claims;
        (claims.exp > now.timestamp()).then_some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_until_they_expire() {
        let s = TokenSigner::new("0123456789abcdef-secret", 60);
        let now = Utc::now();
        let t = s.sdk("u1", "app_x", now).expect("sign");
        let c = s.verify(&t, now).expect("valid");
        assert!(c.is_sdk());
        assert_eq!(c.app_id.as_deref(), Some("app_x"));
        assert!(s.verify(&t, now + chrono::Duration::minutes(61)).is_none());
        let other = TokenSigner::new("another-secret-0123456789", 60);
        assert!(other.verify(&t, now).is_none());
        let d = s
            .verify(&s.developer("d1", now).expect("sign"), now)
            .expect("valid");
        assert!(!d.is_sdk() && d.scope.is_none());
    }
}

//! The OAuth token endpoint: one grant function for code exchanges and refresh grants, and
//! the token answer.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use crate::config::OAuthClient;
use crate::domain::provider::ClientAuth;

/// A token endpoint answer.
#[derive(Debug, Deserialize)]
pub struct TokenAnswer {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: Option<i64>,
    pub scope: Option<String>,
    /// Provider-specific fields (Polar's `x_user_id`, Fitbit's `user_id`).
    #[serde(flatten)]
    pub extra: HashMap<String, Value>,
}

impl TokenAnswer {
    /// A provider-specific field as text (numbers as their decimal text).
    pub fn extra_text(&self, name: &str) -> Option<String> {
        match self.extra.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// One grant at the provider's token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant<'a> {
    /// `authorization_code` (with the PKCE verifier where the provider uses PKCE).
    Code {
        code: &'a str,
        verifier: Option<&'a str>,
    },
    /// `refresh_token`.
    Refresh(&'a str),
}

impl Grant<'_> {
    /// The form fields of the grant, without the client's authentication.
    fn form<'a>(&'a self, client: &'a OAuthClient) -> Vec<(&'static str, &'a str)> {
        match self {
            Grant::Code { code, verifier } => {
                let mut form = vec![
                    ("grant_type", "authorization_code"),
                    ("code", *code),
                    ("redirect_uri", client.redirect_uri.as_str()),
                ];
                if let Some(v) = verifier {
                    form.push(("code_verifier", *v));
                }
                form
            }
            Grant::Refresh(token) => {
                vec![("grant_type", "refresh_token"), ("refresh_token", *token)]
            }
        }
    }
}

/// Posts `grant` to the token endpoint, the client authenticated the provider's way; answers
/// the status and the body text (the callers judge them: a refused refresh and a refused code
/// exchange mean different things). Only transport failures are errors.
pub async fn grant(
    http: &reqwest::Client,
    client: &OAuthClient,
    auth: ClientAuth,
    grant: Grant<'_>,
    timeout: Option<std::time::Duration>,
) -> Result<(reqwest::StatusCode, String), reqwest::Error> {
    let mut form = grant.form(client);
    if auth == ClientAuth::Body {
        form.push(("client_id", &client.client_id));
        form.push(("client_secret", &client.client_secret));
    }
    let mut req = http.post(&client.token_url).form(&form);
    if let Some(t) = timeout {
        req = req.timeout(t);
    }
    if auth == ClientAuth::Basic {
        req = req.basic_auth(&client.client_id, Some(&client.client_secret));
    }
    let resp = req.send().await?;
    let status = resp.status();
    Ok((status, resp.text().await.unwrap_or_default()))
}

/// Exchanges an authorization code for tokens; the error is the text the error page shows.
pub async fn exchange_code(
    http: &reqwest::Client,
    client: &OAuthClient,
    auth: ClientAuth,
    code: &str,
    verifier: Option<&str>,
) -> Result<TokenAnswer, String> {
    let (status, body) = grant(
        http,
        client,
        auth,
        Grant::Code { code, verifier },
        Some(std::time::Duration::from_secs(30)),
    )
    .await
    .map_err(|e| format!("Token exchange failed: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "Failed to exchange authorization code: {}",
            body.chars().take(300).collect::<String>()
        ));
    }
    serde_json::from_str(&body)
        .map_err(|e| format!("Token exchange failed: unexpected token response ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> OAuthClient {
        OAuthClient {
            client_id: "id".into(),
            client_secret: "secret".into(),
            authorize_url: "https://p.example/authorize".into(),
            token_url: "https://p.example/token".into(),
            api_base: "https://api.p.example".into(),
            scope: String::new(),
            redirect_uri: "https://ow.example/api/v1/oauth/p/callback".into(),
        }
    }

    #[test]
    fn code_and_refresh_grants_send_their_own_fields() {
        let c = client();
        let code = Grant::Code {
            code: "abc",
            verifier: Some("v"),
        };
        assert_eq!(
            code.form(&c),
            [
                ("grant_type", "authorization_code"),
                ("code", "abc"),
                ("redirect_uri", "https://ow.example/api/v1/oauth/p/callback"),
                ("code_verifier", "v"),
            ]
        );
        assert_eq!(
            Grant::Refresh("r").form(&c),
            [("grant_type", "refresh_token"), ("refresh_token", "r")]
        );
    }

    #[test]
    fn token_answers_keep_provider_fields_as_text() {
        let t: Option<TokenAnswer> = serde_json::from_value(serde_json::json!({
            "access_token": "a", "x_user_id": 12345, "user_id": "AB1", "other": true
        }))
        .ok();
        let t = t.as_ref();
        assert_eq!(
            t.and_then(|t| t.extra_text("x_user_id")).as_deref(),
            Some("12345")
        );
        assert_eq!(
            t.and_then(|t| t.extra_text("user_id")).as_deref(),
            Some("AB1")
        );
        assert_eq!(t.and_then(|t| t.extra_text("other")), None);
    }
}

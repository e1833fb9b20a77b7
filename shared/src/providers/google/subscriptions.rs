//! Google Health subscriber management (project-level webhook registration, service-account
//! auth: a token from a signed RS256 assertion).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::pull::{MAX_PAGES, next_token};
use crate::providers::subscriptions::{
    SubscriptionCtx, SubscriptionError, SubscriptionOp, SubscriptionResult, op_status,
};

/// The scope of the service-account token the subscribers API wants.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The id of our one project subscriber (re-registration targets the same one).
pub const SUBSCRIBER_ID: &str = "open-wearables";
/// Data types the subscriber asks notifications for: the metric registry ∩ Google's
/// webhook-capable types, plus the two sessions (providers.md §4.8.3). `total-calories`,
/// `core-body-temperature` and `oxygen-saturation` are polled only.
pub const WEBHOOK_DATA_TYPES: [&str; 13] = [
    "steps",
    "distance",
    "hydration-log",
    "heart-rate",
    "run-vo2-max",
    "daily-resting-heart-rate",
    "heart-rate-variability",
    "weight",
    "body-fat",
    "blood-glucose",
    "daily-respiratory-rate",
    "sleep",
    "exercise",
];
/// Google's token endpoint, when a key file names none.
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The OAuth grant of a signed JWT assertion (RFC 7523).
const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Lifetime of an assertion (Google's maximum).
const ASSERTION_SECONDS: i64 = 3600;

/// The parts of a service-account key file (the JSON Google hands out) the token grant uses.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ServiceAccount {
    /// `service_account` (other credential files, e.g. `authorized_user`, are refused).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The account's e-mail: the assertion's issuer.
    pub client_email: String,
    /// The RSA private key, PEM (PKCS#8 `PRIVATE KEY`, or PKCS#1 `RSA PRIVATE KEY`).
    pub private_key: String,
    /// The key's id: the assertion's `kid`.
    #[serde(default)]
    pub private_key_id: Option<String>,
    /// Where the assertion is exchanged (default `https://oauth2.googleapis.com/token`); also
    /// the assertion's audience.
    #[serde(default)]
    pub token_uri: Option<String>,
}

#[derive(serde::Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

impl ServiceAccount {
    /// Parses a key file's JSON; `Err` names what is wrong (never the key itself).
    pub fn parse(json: &str) -> Result<Self, String> {
        let sa: Self = serde_json::from_str(json)
            .map_err(|e| format!("not a service-account key file: {e}"))?;
        if let Some(kind) = sa.kind.as_deref().filter(|k| *k != "service_account") {
            return Err(format!(
                "credentials of type '{kind}' are not a service account"
            ));
        }
        if sa.client_email.trim().is_empty() || sa.private_key.trim().is_empty() {
            return Err("client_email and private_key are required".into());
        }
        Ok(sa)
    }

    /// The token endpoint as the key names it (the assertion's audience).
    pub fn token_uri(&self) -> &str {
        self.token_uri
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or(DEFAULT_TOKEN_URI)
    }

    /// A signed RS256 assertion for `scope`, valid for an hour from `now`.
    pub fn assertion(&self, scope: &str, now: DateTime<Utc>) -> Result<String, String> {
        let key = rsa_signing_key(&self.private_key)?;
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = self.private_key_id.clone().filter(|k| !k.is_empty());
        let iat = now.timestamp();
        let claims = AssertionClaims {
            iss: &self.client_email,
            scope,
            aud: self.token_uri(),
            iat,
            exp: iat + ASSERTION_SECONDS,
        };
        jsonwebtoken::encode(&header, &claims, &key)
            .map_err(|e| format!("cannot sign with private_key: {e}"))
    }
}

/// The signing key of a PEM private key: a PKCS#8 `PRIVATE KEY` (what service-account files
/// carry) or a PKCS#1 `RSA PRIVATE KEY`, read by the `rsa` crate. `Err` names what is wrong
/// (never the key itself).
pub fn rsa_signing_key(pem: &str) -> Result<jsonwebtoken::EncodingKey, String> {
    use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
    use rsa::pkcs8::{DecodePrivateKey, spki};
    let not_pem = || "private_key is not a PEM block".to_string();
    let block = pem
        .find("-----BEGIN ")
        .map(|i| &pem[i..])
        .ok_or_else(not_pem)?;
    let label = rsa::pkcs8::der::pem::decode_label(block.as_bytes()).map_err(|_| not_pem())?;
    let key = match label {
        "RSA PRIVATE KEY" => rsa::RsaPrivateKey::from_pkcs1_pem(block)
            .map_err(|_| "private_key is not a PKCS#1 RSA key".to_string())?,
        "PRIVATE KEY" => rsa::RsaPrivateKey::from_pkcs8_pem(block).map_err(|e| match e {
            rsa::pkcs8::Error::PublicKey(spki::Error::OidUnknown { .. }) => {
                "private_key is not an RSA key".to_string()
            }
            _ => "private_key is not a PKCS#8 RSA key".to_string(),
        })?,
        other => {
            return Err(format!(
                "private_key is a '{other}' PEM block, not a private key"
            ));
        }
    };
    let der = key
        .to_pkcs1_der()
        .map_err(|_| "private_key cannot be encoded".to_string())?;
    Ok(jsonwebtoken::EncodingKey::from_rsa_der(der.as_bytes()))
}

/// A non-blank provider setting.
fn setting<'a>(ctx: &'a SubscriptionCtx<'_>, name: &str) -> Option<&'a str> {
    ctx.settings
        .get(name)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

/// The service account: `GOOGLE_SERVICE_ACCOUNT_JSON` (the key file's content), else
/// `GOOGLE_SERVICE_ACCOUNT_FILE` (its path).
async fn service_account(ctx: &SubscriptionCtx<'_>) -> Result<ServiceAccount, SubscriptionError> {
    if let Some(json) = setting(ctx, "GOOGLE_SERVICE_ACCOUNT_JSON") {
        return ServiceAccount::parse(json)
            .map_err(|e| SubscriptionError::Config(format!("GOOGLE_SERVICE_ACCOUNT_JSON: {e}")));
    }
    if let Some(path) = setting(ctx, "GOOGLE_SERVICE_ACCOUNT_FILE") {
        let json = tokio::fs::read_to_string(path).await.map_err(|e| {
            SubscriptionError::Config(format!(
                "GOOGLE_SERVICE_ACCOUNT_FILE: cannot read '{path}': {e}"
            ))
        })?;
        return ServiceAccount::parse(&json)
            .map_err(|e| SubscriptionError::Config(format!("GOOGLE_SERVICE_ACCOUNT_FILE: {e}")));
    }
    Err(SubscriptionError::Config(
        "Google Health subscribers need a service account: set GOOGLE_SERVICE_ACCOUNT_JSON \
         (the key file's JSON) or GOOGLE_SERVICE_ACCOUNT_FILE (its path)"
            .into(),
    ))
}

/// Where the assertion is exchanged: the key's `token_uri`, its origin replaced by
/// `GOOGLE_BASE_URL` when that is set (the fakes serve `/token` as Google does).
fn token_endpoint(ctx: &SubscriptionCtx<'_>, sa: &ServiceAccount) -> String {
    match setting(ctx, "GOOGLE_BASE_URL") {
        Some(base) => crate::config::rebase(sa.token_uri(), base),
        None => sa.token_uri().to_string(),
    }
}

/// The message of a Google error body (`{"error": {"message"}}`, `{"error_description"}`),
/// else the body's start.
fn google_error(status: u16, text: &str) -> String {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let msg = v
        .pointer("/error/message")
        .or_else(|| v.get("error_description"))
        .or_else(|| v.get("error").filter(|e| e.is_string()))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| text.chars().take(200).collect());
    format!("Google Health API answered HTTP {status}: {msg}")
}

/// A project token (scope `cloud-platform`) for the service account.
async fn project_token(
    ctx: &SubscriptionCtx<'_>,
    sa: &ServiceAccount,
) -> Result<String, SubscriptionError> {
    let assertion = sa
        .assertion(CLOUD_PLATFORM_SCOPE, Utc::now())
        .map_err(|e| SubscriptionError::Config(format!("Google service account: {e}")))?;
    let resp = ctx
        .http
        .post(token_endpoint(ctx, sa))
        .form(&[("grant_type", JWT_BEARER_GRANT), ("assertion", &assertion)])
        .timeout(ctx.timeout)
        .send()
        .await
        .map_err(|e| {
            SubscriptionError::Upstream(format!("Google service-account token exchange: {e}"))
        })?;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    if !(200..300).contains(&status) {
        return Err(SubscriptionError::Upstream(format!(
            "service-account token exchange failed: {}",
            google_error(status, &text)
        )));
    }
    serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("access_token")?.as_str().map(str::to_string))
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            SubscriptionError::Upstream(
                "service-account token exchange answered no access_token".into(),
            )
        })
}

/// An authenticated subscribers-API session.
struct Subscribers<'a> {
    ctx: &'a SubscriptionCtx<'a>,
    token: String,
    /// `/v4/projects/{GOOGLE_PROJECT_ID}/subscribers`.
    path: String,
}

impl Subscribers<'_> {
    /// One call: `(status, body)`; only transport failures are errors here.
    async fn call(
        &self,
        method: reqwest::Method,
        suffix: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<(u16, Value, String), SubscriptionError> {
        let mut url = self.ctx.url(&format!("{}{suffix}", self.path));
        if !query.is_empty() {
            let q = serde_urlencoded::to_string(query)
                .map_err(|e| SubscriptionError::Upstream(format!("query: {e}")))?;
            url = format!("{url}?{q}");
        }
        let mut req = self.ctx.http.request(method, url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        self.ctx.send(req, "Google Health API").await
    }
}

/// A subscriber as we show it: `{name, endpointUri, subscriberConfigs}` (never its secret).
fn subscriber_view(v: &Value) -> Value {
    json!({
        "name": v.get("name").cloned().unwrap_or(Value::Null),
        "endpointUri": v.get("endpointUri").cloned().unwrap_or(Value::Null),
        "subscriberConfigs": v.get("subscriberConfigs").cloned().unwrap_or_else(|| json!([])),
    })
}

/// A subscriber id from a route: the id itself or its full resource name
/// (`projects/{n}/subscribers/{id}`).
fn subscriber_id(raw: &str) -> Result<String, SubscriptionError> {
    let id = raw.rsplit('/').next().unwrap_or(raw);
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(SubscriptionError::Config(format!(
            "invalid Google subscriber id '{raw}'"
        )));
    }
    Ok(id.to_string())
}

/// Google subscribers do not expire (api.md §15.3: renew is 501).
fn no_renew() -> SubscriptionError {
    SubscriptionError::NotSupported(
        "Google Health API subscribers do not expire: there is nothing to renew".into(),
    )
}

/// Webhook subscription management (api.md §15.3, providers.md §4.8.3): the project-level
/// subscriber, managed with a service-account token (`GOOGLE_SERVICE_ACCOUNT_JSON` or
/// `GOOGLE_SERVICE_ACCOUNT_FILE`) under `/v4/projects/{GOOGLE_PROJECT_ID}/subscribers`.
/// Registering sends `Bearer <GOOGLE_WEBHOOK_SECRET, else derived from SECRET_KEY>` as the
/// secret Google
/// echoes on every notification; Google verifies our endpoint before it accepts the
/// subscriber. Subscribers do not expire: renew is 501.
pub async fn subscriptions(
    ctx: &SubscriptionCtx<'_>,
    op: SubscriptionOp,
) -> Result<SubscriptionResult, SubscriptionError> {
    if op == SubscriptionOp::Renew {
        return Err(no_renew());
    }
    let project = setting(ctx, "GOOGLE_PROJECT_ID").ok_or_else(|| {
        SubscriptionError::Config(
            "GOOGLE_PROJECT_ID (the GCP project number) is not configured; cannot manage \
             Google Health API subscribers"
                .into(),
        )
    })?;
    if !project
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(SubscriptionError::Config(format!(
            "GOOGLE_PROJECT_ID '{project}' is not a project number"
        )));
    }
    let sa = service_account(ctx).await?;
    let api = Subscribers {
        ctx,
        token: project_token(ctx, &sa).await?,
        path: format!("/v4/projects/{project}/subscribers"),
    };
    let ok = |s: u16| (200..300).contains(&s);
    match op {
        SubscriptionOp::List => {
            let mut out = Vec::new();
            let mut token: Option<String> = None;
            for _ in 0..MAX_PAGES {
                let q: Vec<(&str, &str)> = token
                    .as_deref()
                    .map(|t| vec![("pageToken", t)])
                    .unwrap_or_default();
                let (status, v, text) = api.call(reqwest::Method::GET, "", &q, None).await?;
                if !ok(status) {
                    return Err(SubscriptionError::Upstream(google_error(status, &text)));
                }
                if let Some(items) = v.get("subscribers").and_then(Value::as_array) {
                    out.extend(items.iter().map(subscriber_view));
                }
                token = next_token(&v);
                if token.is_none() {
                    break;
                }
            }
            Ok(SubscriptionResult::of(Value::Array(out)))
        }
        SubscriptionOp::Register { callback_url } => {
            ctx.own_callback(&callback_url)?;
            let secret = ctx.chosen_secret(crate::keys::GOOGLE_WEBHOOK_SECRET);
            let body = json!({
                "endpointUri": callback_url,
                "subscriberConfigs": [{
                    "dataTypes": WEBHOOK_DATA_TYPES,
                    "subscriptionCreatePolicy": "AUTOMATIC",
                }],
                "endpointAuthorization": {"secret": format!("Bearer {secret}")},
            });
            let (status, v, text) = api
                .call(
                    reqwest::Method::POST,
                    "",
                    &[("subscriberId", SUBSCRIBER_ID)],
                    Some(&body),
                )
                .await?;
            let result = match status {
                409 => json!({"subscriber_id": SUBSCRIBER_ID, "status": "skipped"}),
                s if ok(s) => json!({"subscriber_id": SUBSCRIBER_ID, "status": "created",
                    "response": subscriber_view(&v)}),
                s => {
                    let error = google_error(s, &text);
                    tracing::warn!(
                        provider = "google",
                        "subscriber registration failed: {error}"
                    );
                    json!({"subscriber_id": SUBSCRIBER_ID, "status": "error", "error": error})
                }
            };
            Ok(SubscriptionResult::of(json!([result])))
        }
        SubscriptionOp::Get { id } => {
            let id = subscriber_id(&id)?;
            let (status, v, text) = api
                .call(reqwest::Method::GET, &format!("/{id}"), &[], None)
                .await?;
            match status {
                s if ok(s) => Ok(SubscriptionResult::of(subscriber_view(&v))),
                404 => Ok(SubscriptionResult::of(Value::Null)),
                s => Err(SubscriptionError::Upstream(google_error(s, &text))),
            }
        }
        SubscriptionOp::Update { id, callback_url } => {
            ctx.own_callback(&callback_url)?;
            let id = subscriber_id(&id)?;
            let (status, _, text) = api
                .call(
                    reqwest::Method::PATCH,
                    &format!("/{id}"),
                    &[("updateMask", "endpointUri")],
                    Some(&json!({"endpointUri": callback_url})),
                )
                .await?;
            Ok(SubscriptionResult::of(if ok(status) {
                op_status(&id, "updated", None)
            } else {
                op_status(&id, "error", Some(google_error(status, &text)))
            }))
        }
        SubscriptionOp::Delete { id } => {
            let id = subscriber_id(&id)?;
            let (status, _, text) = api
                .call(reqwest::Method::DELETE, &format!("/{id}"), &[], None)
                .await?;
            Ok(SubscriptionResult::of(if ok(status) {
                op_status(&id, "deleted", None)
            } else {
                op_status(&id, "error", Some(google_error(status, &text)))
            }))
        }
        SubscriptionOp::Renew => Err(no_renew()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    // -- Subscriber management ---------------------------------------------------------------

    /// The fakes' test service account (a key pair made for tests only).
    const TEST_SA: &str =
        include_str!("../../../../infra/fakes/testdata/google-service-account-TEST-ONLY.json");
    const TEST_PUBLIC_KEY: &str =
        include_str!("../../../../infra/fakes/testdata/google-service-account-TEST-ONLY.pub.pem");

    #[test]
    fn a_service_account_signs_an_rs256_assertion_its_public_key_verifies() {
        let sa = ServiceAccount::parse(TEST_SA).expect("key file");
        let now = Utc::now();
        let jwt = sa.assertion(CLOUD_PLATFORM_SCOPE, now).expect("signed");
        let header = jsonwebtoken::decode_header(&jwt).expect("header");
        assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
        assert_eq!(header.kid, sa.private_key_id);
        let key = {
            use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey};
            let public = rsa::RsaPublicKey::from_pkcs1_pem(TEST_PUBLIC_KEY).expect("pem");
            let der = public.to_pkcs1_der().expect("der");
            jsonwebtoken::DecodingKey::from_rsa_der(der.as_bytes())
        };
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_audience(&["https://oauth2.googleapis.com/token"]);
        v.set_issuer(&[sa.client_email.as_str()]);
        let claims = jsonwebtoken::decode::<Value>(&jwt, &key, &v)
            .expect("verifies")
            .claims;
        assert_eq!(claims["scope"], CLOUD_PLATFORM_SCOPE);
        assert_eq!(claims["iat"], now.timestamp());
        assert_eq!(claims["exp"], now.timestamp() + 3600);
        // A tampered token does not verify.
        let mut parts: Vec<&str> = jwt.split('.').collect();
        let forged = claims.to_string().replace("cloud-platform", "everything");
        let forged = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged)
        };
        parts[1] = &forged;
        assert!(jsonwebtoken::decode::<Value>(&parts.join("."), &key, &v).is_err());
    }

    /// A P-256 key in PKCS#8 (made for this test only): a private key, but not an RSA one.
    const TEST_EC_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgxcVo/SIXbe+50cE4
+jkgaP0fViohu8lvPnLyzu/i2jmhRANCAAQFxjX1c1pxmH44dfZjxDxrE3i0lVrX
nY5ZFb8CYLEHqjPymgenoYDZAtrI6FtC7SRK/MQI3RH2Fhx4CXZioAoT
-----END PRIVATE KEY-----
";

    #[test]
    fn pkcs8_and_pkcs1_keys_sign_and_bad_keys_are_named() {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::DecodePrivateKey;
        let sa = ServiceAccount::parse(TEST_SA).expect("key file");
        assert!(
            sa.private_key.contains("BEGIN PRIVATE KEY"),
            "PKCS#8 in the file"
        );
        let now = Utc::now();
        let from_pkcs8 = sa
            .assertion(CLOUD_PLATFORM_SCOPE, now)
            .expect("pkcs8 signs");
        // The same key as PKCS#1 `RSA PRIVATE KEY`, after leading text, signs the same token
        // (RS256 signatures are deterministic).
        let pkcs1 = rsa::RsaPrivateKey::from_pkcs8_pem(&sa.private_key)
            .expect("key")
            .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
            .expect("pkcs1 pem");
        assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let sa1 = ServiceAccount {
            private_key: format!("a comment line\n{}", pkcs1.as_str()),
            ..sa.clone()
        };
        assert_eq!(
            sa1.assertion(CLOUD_PLATFORM_SCOPE, now)
                .expect("pkcs1 signs"),
            from_pkcs8
        );

        let err = |pem: &str| rsa_signing_key(pem).err().unwrap_or_default();
        assert_eq!(err("no pem here"), "private_key is not a PEM block");
        assert_eq!(
            err("-----BEGIN PRIVATE KEY"),
            "private_key is not a PEM block"
        );
        assert_eq!(
            err(TEST_PUBLIC_KEY),
            "private_key is a 'RSA PUBLIC KEY' PEM block, not a private key"
        );
        assert_eq!(err(TEST_EC_KEY), "private_key is not an RSA key");
        let damaged = sa.private_key.replacen("MII", "MIJ", 1);
        assert_eq!(err(&damaged), "private_key is not a PKCS#8 RSA key");
        let damaged1 = pkcs1.replacen("MII", "MIJ", 1);
        assert_eq!(err(&damaged1), "private_key is not a PKCS#1 RSA key");
        let bad = ServiceAccount {
            private_key: TEST_EC_KEY.into(),
            ..sa
        };
        assert_eq!(
            bad.assertion(CLOUD_PLATFORM_SCOPE, now).err().as_deref(),
            Some("private_key is not an RSA key")
        );
    }

    #[test]
    fn key_files_are_checked_and_token_uris_rebased() {
        assert!(ServiceAccount::parse("{}").is_err());
        assert!(
            ServiceAccount::parse(
                r#"{"type":"authorized_user","client_email":"a@b","private_key":"k"}"#
            )
            .is_err_and(|e| e.contains("authorized_user"))
        );
        let sa =
            ServiceAccount::parse(r#"{"client_email":"a@b","private_key":"k"}"#).expect("minimal");
        assert_eq!(sa.token_uri(), "https://oauth2.googleapis.com/token");
        assert!(sa.assertion(CLOUD_PLATFORM_SCOPE, Utc::now()).is_err());
        let http = reqwest::Client::new();
        let client = crate::config::OAuthClient {
            client_id: "id".into(),
            client_secret: "secret".into(),
            authorize_url: String::new(),
            token_url: String::new(),
            api_base: "http://127.0.0.1:9".into(),
            scope: String::new(),
            redirect_uri: String::new(),
        };
        let mut settings = HashMap::new();
        let ctx = |settings: &HashMap<String, String>| {
            token_endpoint(
                &SubscriptionCtx {
                    api_base: "http://localhost:8000",
                    http: &http,
                    client: &client,
                    settings,
                    secret_key: "k",
                    timeout: std::time::Duration::from_secs(1),
                },
                &sa,
            )
        };
        assert_eq!(ctx(&settings), "https://oauth2.googleapis.com/token");
        settings.insert("GOOGLE_BASE_URL".into(), "http://127.0.0.1:9/".into());
        assert_eq!(ctx(&settings), "http://127.0.0.1:9/token");
        assert_eq!(
            subscriber_id("open-wearables").expect("id"),
            "open-wearables"
        );
        assert_eq!(
            subscriber_id("projects/1/subscribers/open-wearables").expect("name"),
            "open-wearables"
        );
        assert!(subscriber_id("a?b").is_err() && subscriber_id("x/").is_err());
    }

    #[tokio::test]
    async fn missing_configuration_is_named_before_any_call() {
        let http = reqwest::Client::new();
        let client = crate::config::OAuthClient {
            client_id: "id".into(),
            client_secret: "secret".into(),
            authorize_url: String::new(),
            token_url: String::new(),
            // Nothing listens here: a call would be an Upstream error, not Config.
            api_base: "http://127.0.0.1:9".into(),
            scope: String::new(),
            redirect_uri: String::new(),
        };
        let run = |pairs: &[(&str, &str)]| {
            let settings: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let http = http.clone();
            let client = client.clone();
            async move {
                let ctx = SubscriptionCtx {
                    api_base: "http://localhost:8000",
                    http: &http,
                    client: &client,
                    settings: &settings,
                    secret_key: "k",
                    timeout: std::time::Duration::from_secs(1),
                };
                subscriptions(&ctx, SubscriptionOp::List).await
            }
        };
        let r = run(&[]).await;
        assert!(
            matches!(r, Err(SubscriptionError::Config(ref m)) if m.contains("GOOGLE_PROJECT_ID")),
            "{r:?}"
        );
        let r = run(&[("GOOGLE_PROJECT_ID", "  ")]).await;
        assert!(
            matches!(r, Err(SubscriptionError::Config(ref m)) if m.contains("GOOGLE_PROJECT_ID")),
            "{r:?}"
        );
        let r = run(&[("GOOGLE_PROJECT_ID", "123")]).await;
        assert!(
            matches!(r, Err(SubscriptionError::Config(ref m))
            if m.contains("GOOGLE_SERVICE_ACCOUNT_JSON") && m.contains("GOOGLE_SERVICE_ACCOUNT_FILE")),
            "{r:?}"
        );
        let r = run(&[
            ("GOOGLE_PROJECT_ID", "123"),
            ("GOOGLE_SERVICE_ACCOUNT_FILE", "/nonexistent/sa.json"),
        ])
        .await;
        assert!(
            matches!(r, Err(SubscriptionError::Config(ref m)) if m.contains("GOOGLE_SERVICE_ACCOUNT_FILE")),
            "{r:?}"
        );
        let r = run(&[
            ("GOOGLE_PROJECT_ID", "123"),
            ("GOOGLE_SERVICE_ACCOUNT_JSON", "{not json"),
        ])
        .await;
        assert!(
            matches!(r, Err(SubscriptionError::Config(ref m)) if m.contains("GOOGLE_SERVICE_ACCOUNT_JSON")),
            "{r:?}"
        );
        let r = run(&[
            ("GOOGLE_PROJECT_ID", "123"),
            ("GOOGLE_SERVICE_ACCOUNT_JSON", TEST_SA),
        ])
        .await;
        assert!(matches!(r, Err(SubscriptionError::Upstream(_))), "{r:?}");
        let renew = {
            let settings = HashMap::new();
            let ctx = SubscriptionCtx {
                api_base: "http://localhost:8000",
                http: &http,
                client: &client,
                settings: &settings,
                secret_key: "k",
                timeout: std::time::Duration::from_secs(1),
            };
            subscriptions(&ctx, SubscriptionOp::Renew).await
        };
        assert!(matches!(renew, Err(SubscriptionError::NotSupported(_))));
    }
}

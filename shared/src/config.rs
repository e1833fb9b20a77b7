//! Typed configuration, read once at start (per process or Lambda cold start). A missing or
//! malformed required setting fails start-up with a message naming the variable.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::domain::provider::Provider;

/// Where the table lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// redb file under the data directory (the local default).
    Embedded { path: PathBuf },
    /// DynamoDB table (AWS, or a local emulator through `AWS_ENDPOINT_URL`).
    Dynamo {
        table: String,
        create_if_missing: bool,
    },
}

/// Settings that change API behaviour (api.md §18) plus the deployment wiring.
#[derive(Clone)]
pub struct Config {
    /// HS256 key for every JWT. Never logged.
    pub secret_key: String,
    pub access_token_expire_minutes: i64,
    pub min_password_length: usize,
    pub user_invitation_code_expire_days: i64,
    /// Developer invitations (`INVITATION_EXPIRE_DAYS`, 7).
    pub invitation_expire_days: i64,
    pub admin_email: String,
    pub admin_password: String,
    pub api_base_url: String,
    pub store: StoreConfig,
    pub data_dir: PathBuf,
    /// Largest accepted request body in bytes (the API Gateway → Lambda limit).
    pub max_body_bytes: usize,
    /// Server and login limits and timeouts (`OW_MAX_CONNECTIONS`, … see [`crate::limits`]).
    pub limits: crate::limits::Limits,
    /// SQS queue for derived jobs (`OW_QUEUE_URL`); in-process when unset.
    pub queue_url: Option<String>,
    /// OAuth clients of the providers whose credentials are configured.
    pub oauth: HashMap<&'static str, OAuthClient>,
    /// Queue a historical backfill when a provider connects (`HISTORICAL_SYNC_ON_CONNECT`).
    pub historical_sync_on_connect: bool,
    /// Seconds between scheduled pulls of one connection (`SYNC_INTERVAL_SECONDS`).
    pub sync_interval_seconds: i64,
    /// Key material for provider tokens at rest: `TOKEN_ENCRYPTION_KEY`, else derived from
    /// `SECRET_KEY` with its own label (never the signing key itself).
    pub token_key: String,
    /// Key material tokens sealed before the derived key existed were sealed under
    /// (`SECRET_KEY` itself, when `TOKEN_ENCRYPTION_KEY` is unset): still opened, never used
    /// for new writes.
    pub legacy_token_key: Option<String>,
    /// Timeout of one provider API call (`PROVIDER_HTTP_TIMEOUT_SECONDS`, default 30).
    pub provider_timeout_seconds: u64,
    /// Trailing window re-fetched by scheduled pulls (`PULL_SYNC_LOOKBACK`, e.g. `2d`, `1d12h`).
    pub pull_sync_lookback_seconds: i64,
    /// Provider-specific settings (webhook secrets, verify tokens, subscription keys), read by
    /// name through [`Config::setting`].
    pub provider_settings: HashMap<String, String>,
    /// `GET /oauth/{p}/authorize` without credentials, like the reference
    /// (`OAUTH_PUBLIC_AUTHORIZE`, default off).
    pub oauth_public_authorize: bool,
    /// Origins an OAuth `redirect_uri` may point at (`scheme://host[:port]`, lower-case):
    /// `ALLOWED_REDIRECT_ORIGINS`, `CORS_ORIGINS` and the origin of `API_BASE_URL`.
    pub redirect_origins: Vec<String>,
    /// Which browser origins may call the API (`CORS_ORIGINS`, `CORS_ALLOW_ALL`).
    pub cors: Cors,
    /// Outgoing webhooks (api.md §16).
    pub webhooks: WebhookSettings,
    /// The Apple Health export import (issue #13).
    pub apple_import: AppleImportSettings,
    /// The import bucket and the S3 flow of the import (api.md #74, #76).
    pub s3: S3Settings,
}

/// The import bucket (`AWS_BUCKET_NAME`) and how it is reached; #74 answers 503 `S3 client
/// not configured` unless both a bucket and credentials are set.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// `AWS_BUCKET_NAME`.
    pub bucket: Option<String>,
    /// `AWS_REGION`, else `AWS_DEFAULT_REGION`, else `eu-north-1` (the reference's default).
    pub region: String,
    /// `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`: an S3-compatible server, addressed
    /// path-style; unset means AWS's virtual-hosted URL of the region.
    pub endpoint: Option<String>,
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN` (in Lambda, the
    /// execution role's, which sign the POST policy).
    pub credentials: Option<S3Credentials>,
    /// `AWS_SNS_TOPIC_ARN` (#76).
    pub sns_topic_arn: Option<String>,
    /// The queue the import function consumes (`OW_IMPORT_QUEUE_URL`): import jobs sent to
    /// SQS go there, not to the job queue.
    pub import_queue_url: Option<String>,
    /// Bytes of `export.xml` between two checkpoints of an S3 import
    /// (`APPLE_IMPORT_CHECKPOINT_BYTES`, 16 MiB).
    pub checkpoint_bytes: u64,
    /// Bytes of one ranged GetObject read (`APPLE_IMPORT_RANGE_BYTES`, 8 MiB; 64 KiB–64 MiB).
    pub range_bytes: u64,
    /// Seconds before the Lambda deadline at which an import checkpoints, stops and
    /// re-queues itself (`APPLE_IMPORT_DEADLINE_MARGIN_SECONDS`, 30).
    pub deadline_margin_seconds: u64,
    /// TESTS ONLY: an origin (`http://127.0.0.1:<port>`) whose
    /// `/SimpleNotificationService-<hex>.pem` certificates and subscription URLs #76 accepts
    /// besides AWS's SNS hosts, so the e2e tests can sign messages with their own key. It is
    /// never read from the environment or the secret: only code that builds a `Config`
    /// (the test harness) can set it.
    pub sns_test_origin: Option<String>,
}

/// Static credentials of the S3 flow; the secret is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("credentials", &self.credentials)
            .field("sns_topic_arn", &self.sns_topic_arn)
            .finish_non_exhaustive()
    }
}

impl S3Settings {
    /// The bucket and credentials, when the S3 flow is configured.
    pub fn signing(&self) -> Option<(&str, &S3Credentials)> {
        Some((self.bucket.as_deref()?, self.credentials.as_ref()?))
    }
}

fn s3_settings(s: &Settings) -> Result<S3Settings, ConfigError> {
    let credentials = match (s.get("AWS_ACCESS_KEY_ID"), s.get("AWS_SECRET_ACCESS_KEY")) {
        (Some(id), Some(secret)) => Some(S3Credentials {
            access_key_id: id.to_string(),
            secret_access_key: secret.to_string(),
            session_token: s.get("AWS_SESSION_TOKEN").map(str::to_string),
        }),
        _ => None,
    };
    Ok(S3Settings {
        bucket: s.get("AWS_BUCKET_NAME").map(str::to_string),
        region: s
            .get("AWS_REGION")
            .or_else(|| s.get("AWS_DEFAULT_REGION"))
            .unwrap_or("eu-north-1")
            .to_string(),
        endpoint: s
            .get("AWS_ENDPOINT_URL_S3")
            .or_else(|| s.get("AWS_ENDPOINT_URL"))
            .map(str::to_string),
        credentials,
        sns_topic_arn: s.get("AWS_SNS_TOPIC_ARN").map(str::to_string),
        import_queue_url: s.get("OW_IMPORT_QUEUE_URL").map(str::to_string),
        checkpoint_bytes: s
            .parse::<u64>("APPLE_IMPORT_CHECKPOINT_BYTES", 16 * 1024 * 1024)?
            .max(1),
        range_bytes: s
            .parse::<u64>("APPLE_IMPORT_RANGE_BYTES", 8 * 1024 * 1024)?
            .clamp(64 * 1024, 64 * 1024 * 1024),
        deadline_margin_seconds: s.parse("APPLE_IMPORT_DEADLINE_MARGIN_SECONDS", 30)?,
        sns_test_origin: None,
    })
}

/// Bounds of the Apple Health export import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppleImportSettings {
    /// Largest upload (`APPLE_IMPORT_MAX_BYTES`, 1 GiB: the reference's `max_file_size`
    /// bound).
    pub max_upload_bytes: u64,
    /// Largest `export.xml` inside a zip, uncompressed (`APPLE_IMPORT_MAX_XML_BYTES`, 8 GiB).
    pub max_xml_bytes: u64,
    /// Largest compression ratio of that entry (`APPLE_IMPORT_MAX_RATIO`, 100: an export
    /// compresses about 10–30 to 1, a zip bomb far more).
    pub max_ratio: u64,
    /// Imports running at once in one process (`APPLE_IMPORT_CONCURRENCY`, 2).
    pub concurrency: usize,
    /// Seconds an upload may stall between two chunks (`APPLE_IMPORT_IDLE_SECONDS`, 60).
    pub idle_seconds: u64,
    /// Import before answering instead of in the background (`APPLE_IMPORT_INLINE`; always in
    /// Lambda, where nothing runs after the answer).
    pub inline: bool,
    /// Items parsed into one write (`APPLE_IMPORT_BATCH_ITEMS`, 20,000; at least 1). A
    /// checkpoint of an S3 import is taken between two batches.
    pub batch_items: usize,
}

/// Outgoing-webhook settings.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// `OUTGOING_WEBHOOKS_ENABLED` (default true: no external service is needed).
    pub enabled: bool,
    /// `WEBHOOKS_ALLOW_PRIVATE`: endpoints may be `http` and private or loopback addresses
    /// (default true on the local server, false in Lambda).
    pub allow_private: bool,
    /// `WEBHOOKS_TIMEOUT_SECONDS` (default 15): one delivery attempt.
    pub timeout_seconds: u64,
    /// `WEBHOOKS_RETRY_SCHEDULE`: seconds before each attempt, comma-separated (default
    /// Svix's `0,5,300,1800,7200,18000,36000,36000`).
    pub retry_schedule: Vec<i64>,
    /// `WEBHOOKS_POLL_INTERVAL_SECONDS` (default 1): how often the local server looks for due
    /// deliveries.
    pub poll_interval_seconds: u64,
}

fn webhook_settings(s: &Settings) -> Result<WebhookSettings, ConfigError> {
    let retry_schedule = match s.get("WEBHOOKS_RETRY_SCHEDULE") {
        None => crate::domain::webhooks::RETRY_SCHEDULE_SECONDS.to_vec(),
        Some(v) => {
            let parsed: Option<Vec<i64>> = v
                .split(',')
                .map(|x| {
                    x.trim()
                        .parse::<i64>()
                        .ok()
                        .filter(|n| (0..=86_400).contains(n))
                })
                .collect();
            parsed
                .filter(|p| !p.is_empty() && p.len() <= 20)
                .ok_or_else(|| ConfigError::Invalid {
                    name: "WEBHOOKS_RETRY_SCHEDULE",
                    reason: "must be 1 to 20 comma-separated delays in seconds (0 to 86400)".into(),
                })?
        }
    };
    let timeout_seconds: u64 = s.parse("WEBHOOKS_TIMEOUT_SECONDS", 15)?;
    if !(1..=60).contains(&timeout_seconds) {
        return Err(ConfigError::Invalid {
            name: "WEBHOOKS_TIMEOUT_SECONDS",
            reason: "must be between 1 and 60".into(),
        });
    }
    Ok(WebhookSettings {
        enabled: s.parse("OUTGOING_WEBHOOKS_ENABLED", true)?,
        allow_private: s.parse("WEBHOOKS_ALLOW_PRIVATE", !in_lambda())?,
        timeout_seconds,
        retry_schedule,
        poll_interval_seconds: s.parse("WEBHOOKS_POLL_INTERVAL_SECONDS", 1u64)?.max(1),
    })
}

/// The cross-origin policy, as the reference configures Starlette's `CORSMiddleware`: the
/// listed origins (or any origin), every method and header, credentials allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    /// `CORS_ALLOW_ALL=true` (or a `*` entry in `CORS_ORIGINS`): any origin.
    pub allow_all: bool,
    /// Normalised origins (`scheme://host[:port]`, lower-case, default port left out).
    pub origins: Vec<String>,
}

impl Cors {
    /// Whether a request's `Origin` header value is allowed. Browsers send the origin
    /// serialised (lower-case, no default port), so an exact comparison with the normalised
    /// list is the whole rule, as in the reference; anything else (a path, `null`, a
    /// different port or scheme) is refused unless every origin is allowed.
    pub fn allows(&self, origin: &str) -> bool {
        self.allow_all || self.origins.iter().any(|o| o == origin)
    }
}

/// The entries of a list setting: a JSON list of strings (`["https://a.example"]`) or a
/// comma-separated list, as the reference's settings parse it. Empty entries are dropped.
fn list_setting(s: &Settings, name: &'static str) -> Result<Vec<String>, ConfigError> {
    let Some(raw) = s.get(name).map(str::trim) else {
        return Ok(Vec::new());
    };
    let items: Vec<String> = if raw.starts_with('[') {
        serde_json::from_str(raw).map_err(|e| ConfigError::Invalid {
            name,
            reason: format!("not a JSON list of strings: {e}"),
        })?
    } else {
        raw.split(',').map(str::to_string).collect()
    };
    Ok(items
        .into_iter()
        .map(|i| i.trim().to_string())
        .filter(|i| !i.is_empty())
        .collect())
}

/// The CORS policy: `CORS_ALLOW_ALL`, else the origins of `CORS_ORIGINS`, else (neither set)
/// the local portal's own origin, `API_BASE_URL`'s, with its loopback twin
/// (`localhost` ↔ `127.0.0.1`) when it is a loopback address.
fn cors(s: &Settings, api_base_url: &str) -> Result<Cors, ConfigError> {
    let mut allow_all = s.parse("CORS_ALLOW_ALL", false)?;
    let mut origins = Vec::new();
    for raw in list_setting(s, "CORS_ORIGINS")? {
        if raw == "*" {
            allow_all = true;
            continue;
        }
        origins.push(http_origin(&raw).ok_or_else(|| ConfigError::Invalid {
            name: "CORS_ORIGINS",
            reason: format!("'{raw}' is not an http(s) origin like https://app.example.com"),
        })?);
    }
    if s.get("CORS_ORIGINS").is_none()
        && let Some(own) = http_origin(api_base_url)
    {
        for (a, b) in [
            ("//localhost", "//127.0.0.1"),
            ("//127.0.0.1", "//localhost"),
        ] {
            if let Some((scheme, rest)) = own.split_once(a)
                && (rest.is_empty() || rest.starts_with(':'))
            {
                origins.push(format!("{scheme}{b}{rest}"));
            }
        }
        origins.push(own);
    }
    origins.sort();
    origins.dedup();
    Ok(Cors { allow_all, origins })
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("secret_key", &"<redacted>")
            .field(
                "access_token_expire_minutes",
                &self.access_token_expire_minutes,
            )
            .field("admin_email", &self.admin_email)
            .field("api_base_url", &self.api_base_url)
            .field("store", &self.store)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

/// A start-up configuration error.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing required setting {0}")]
    Missing(&'static str),
    #[error("setting {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// A source of settings: the process environment overlaid with secrets.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    values: HashMap<String, String>,
}

impl Settings {
    /// The process environment.
    pub fn from_env() -> Self {
        Self {
            values: std::env::vars().collect(),
        }
    }

    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Adds values that are not already set (secrets never override explicit environment).
    pub fn overlay_missing(&mut self, extra: HashMap<String, String>) {
        for (k, v) in extra {
            self.values.entry(k).or_insert(v);
        }
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(key.to_string(), value.into());
    }

    /// A non-empty value.
    /// Every setting whose name starts with a cloud provider's prefix (`POLAR_…`).
    pub fn provider_values(&self) -> HashMap<String, String> {
        self.values
            .iter()
            .filter(|(k, _)| {
                Provider::cloud().any(|p| k.starts_with(&format!("{}_", p.as_str().to_uppercase())))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    pub(crate) fn parse<T: std::str::FromStr>(
        &self,
        key: &'static str,
        default: T,
    ) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
                name: key,
                reason: e.to_string(),
            }),
        }
    }
}

/// Parses `2d`, `20h`, `1d12h`, `90m`, `45s` (or bare seconds) into seconds.
pub fn parse_duration(v: &str) -> Option<i64> {
    let v = v.trim();
    if let Ok(n) = v.parse::<i64>() {
        return (n >= 0).then_some(n);
    }
    let (mut total, mut num) = (0i64, String::new());
    for c in v.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        total += num.parse::<i64>().ok()? * unit;
        num.clear();
    }
    num.is_empty().then_some(total)
}

/// The origin (`scheme://host[:port]`, default ports left out) of an http(s) URL without user
/// information; `None` for anything else.
pub fn http_origin(raw: &str) -> Option<String> {
    let url = reqwest::Url::parse(raw).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
        || url.host_str().is_none_or(str::is_empty)
    {
        return None;
    }
    Some(url.origin().ascii_serialization())
}

/// The origins OAuth redirects may go to: `ALLOWED_REDIRECT_ORIGINS`, `CORS_ORIGINS` (both
/// comma-separated or JSON lists; `*` is never an origin for redirects) and `API_BASE_URL`'s own.
fn redirect_origins(s: &Settings, api_base_url: &str) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for name in ["ALLOWED_REDIRECT_ORIGINS", "CORS_ORIGINS"] {
        for raw in list_setting(s, name)? {
            let raw = raw.as_str();
            if name == "CORS_ORIGINS" && raw == "*" {
                continue;
            }
            let origin = http_origin(raw).ok_or_else(|| ConfigError::Invalid {
                name,
                reason: format!("'{raw}' is not an http(s) origin like https://app.example.com"),
            })?;
            out.push(origin);
        }
    }
    out.extend(http_origin(api_base_url));
    out.sort();
    out.dedup();
    Ok(out)
}

/// Whether this process runs inside AWS Lambda.
pub fn in_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
}

impl Config {
    /// A provider-specific setting (e.g. `STRAVA_WEBHOOK_VERIFY_TOKEN`).
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.provider_settings.get(name).map(String::as_str)
    }

    /// Builds the configuration. `SECRET_KEY` is required unless `generated_secret` supplies
    /// one (the local server persists a generated key in its data directory).
    pub fn from_settings(
        s: &Settings,
        generated_secret: Option<String>,
    ) -> Result<Self, ConfigError> {
        let secret_key = match (s.get("SECRET_KEY"), generated_secret) {
            (Some(k), _) => k.to_string(),
            (None, Some(k)) => k,
            (None, None) => return Err(ConfigError::Missing("SECRET_KEY")),
        };
        if secret_key.len() < 16 {
            return Err(ConfigError::Invalid {
                name: "SECRET_KEY",
                reason: "must be at least 16 characters".into(),
            });
        }
        let data_dir = PathBuf::from(s.get("OW_DATA_DIR").unwrap_or(".ow-data"));
        let store = match s
            .get("OW_STORE")
            .unwrap_or(if s.get("OW_TABLE_NAME").is_some() {
                "dynamodb"
            } else {
                "embedded"
            }) {
            "embedded" => StoreConfig::Embedded {
                path: data_dir.join("open-wearables.redb"),
            },
            "dynamodb" => StoreConfig::Dynamo {
                table: s
                    .get("OW_TABLE_NAME")
                    .ok_or(ConfigError::Missing("OW_TABLE_NAME"))?
                    .to_string(),
                create_if_missing: s.parse("OW_CREATE_TABLE", false)?,
            },
            other => {
                return Err(ConfigError::Invalid {
                    name: "OW_STORE",
                    reason: format!("'{other}' is not one of: embedded, dynamodb"),
                });
            }
        };
        let expire: i64 = s.parse("ACCESS_TOKEN_EXPIRE_MINUTES", 60)?;
        if expire <= 0 {
            return Err(ConfigError::Invalid {
                name: "ACCESS_TOKEN_EXPIRE_MINUTES",
                reason: "must be positive".into(),
            });
        }
        let api_base_url = s
            .get("API_BASE_URL")
            .unwrap_or("http://localhost:8000")
            .trim_end_matches('/')
            .to_string();
        for provider in crate::keys::URL_SECRET_PROVIDERS {
            let name = crate::keys::url_secret_setting(provider);
            if let Some(v) = s.get(&name) {
                let v = v.trim();
                if v.len() < 32
                    || !v
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(ConfigError::Invalid {
                        name: if provider == "strava" {
                            "STRAVA_WEBHOOK_URL_SECRET"
                        } else {
                            "GARMIN_WEBHOOK_URL_SECRET"
                        },
                        reason: "must be at least 32 characters of A-Z, a-z, 0-9, '-' or '_'"
                            .into(),
                    });
                }
            }
        }
        Ok(Self {
            access_token_expire_minutes: expire,
            min_password_length: s.parse("MIN_PASSWORD_LENGTH", 8)?,
            user_invitation_code_expire_days: s.parse("USER_INVITATION_CODE_EXPIRE_DAYS", 7)?,
            invitation_expire_days: s.parse("INVITATION_EXPIRE_DAYS", 7)?,
            admin_email: s
                .get("ADMIN_EMAIL")
                .unwrap_or("admin@admin.com")
                .to_string(),
            admin_password: s
                .get("ADMIN_PASSWORD")
                .unwrap_or("your-secure-password")
                .to_string(),
            api_base_url: api_base_url.clone(),
            store,
            data_dir,
            max_body_bytes: s.parse("OW_MAX_BODY_BYTES", 6 * 1024 * 1024)?,
            limits: crate::limits::Limits::from_settings(s)?,
            queue_url: s.get("OW_QUEUE_URL").map(str::to_string),
            oauth: clients_from(s, &api_base_url),
            historical_sync_on_connect: s.parse("HISTORICAL_SYNC_ON_CONNECT", true)?,
            sync_interval_seconds: s.parse("SYNC_INTERVAL_SECONDS", 3600)?,
            provider_timeout_seconds: s.parse("PROVIDER_HTTP_TIMEOUT_SECONDS", 30)?,
            pull_sync_lookback_seconds: match s.get("PULL_SYNC_LOOKBACK") {
                None => 0,
                Some(v) => parse_duration(v).ok_or_else(|| ConfigError::Invalid {
                    name: "PULL_SYNC_LOOKBACK",
                    reason: format!("'{v}' is not a duration like 2d, 20h, 1d12h or 90m"),
                })?,
            },
            provider_settings: s.provider_values(),
            oauth_public_authorize: s.parse("OAUTH_PUBLIC_AUTHORIZE", false)?,
            redirect_origins: redirect_origins(s, &api_base_url)?,
            cors: cors(s, &api_base_url)?,
            webhooks: webhook_settings(s)?,
            s3: s3_settings(s)?,
            apple_import: AppleImportSettings {
                max_upload_bytes: s.parse("APPLE_IMPORT_MAX_BYTES", 1024 * 1024 * 1024)?,
                max_xml_bytes: s.parse("APPLE_IMPORT_MAX_XML_BYTES", 8 * 1024 * 1024 * 1024)?,
                max_ratio: s.parse("APPLE_IMPORT_MAX_RATIO", 100)?,
                concurrency: s.parse::<usize>("APPLE_IMPORT_CONCURRENCY", 2)?.max(1),
                idle_seconds: s.parse::<u64>("APPLE_IMPORT_IDLE_SECONDS", 60)?.max(1),
                inline: s.get("AWS_LAMBDA_FUNCTION_NAME").is_some()
                    || s.parse("APPLE_IMPORT_INLINE", false)?,
                batch_items: s.parse::<usize>("APPLE_IMPORT_BATCH_ITEMS", 20_000)?.max(1),
            },
            token_key: s.get("TOKEN_ENCRYPTION_KEY").map_or_else(
                || crate::keys::derive(&secret_key, crate::keys::TOKEN_ENCRYPTION_LABEL),
                str::to_string,
            ),
            legacy_token_key: s
                .get("TOKEN_ENCRYPTION_KEY")
                .is_none()
                .then(|| secret_key.clone()),
            secret_key,
        })
    }

    /// A configuration for tests: embedded store in `dir`, a fixed secret.
    pub fn for_tests(dir: &std::path::Path) -> Self {
        Self::for_tests_with(dir, &[])
    }

    /// A test configuration with extra settings (e.g. provider credentials).
    pub fn for_tests_with(dir: &std::path::Path, extra: &[(&str, &str)]) -> Self {
        let mut s = Settings::default();
        for (k, v) in extra {
            s.set(k, *v);
        }
        s.set("SECRET_KEY", "test-secret-key-0123456789abcdef");
        s.set("OW_DATA_DIR", dir.to_string_lossy());
        s.set("ADMIN_EMAIL", "admin@example.com");
        s.set("ADMIN_PASSWORD", "admin-password");
        match Self::from_settings(&s, None) {
            Ok(c) => c,
            Err(e) => panic!("test configuration is valid: {e}"),
        }
    }
}

/// OAuth client credentials and endpoints of one provider, from configuration.
#[derive(Clone)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: String,
    pub authorize_url: String,
    pub token_url: String,
    /// Origin for API calls (user info, data, deregistration).
    pub api_base: String,
    pub scope: String,
    pub redirect_uri: String,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("client_id", &self.client_id)
            .field("authorize_url", &self.authorize_url)
            .finish_non_exhaustive()
    }
}

/// Replaces the origin (scheme://host[:port]) of `url` with `base`.
pub(crate) fn rebase(url: &str, base: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let path = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
    format!("{}{path}", base.trim_end_matches('/'))
}

/// The configured OAuth clients (providers with both `<P>_CLIENT_ID` and `<P>_CLIENT_SECRET`).
/// Every provider URL takes its origin from `<PROVIDER>_BASE_URL` when that is set, so tests
/// and demos point the real client code at a local fake.
pub fn clients_from(settings: &Settings, api_base_url: &str) -> HashMap<&'static str, OAuthClient> {
    let mut out = HashMap::new();
    for p in Provider::cloud() {
        let p = p.info();
        let up = p.key.to_uppercase();
        let (Some(id), Some(secret)) = (
            settings.get(&format!("{up}_CLIENT_ID")),
            settings.get(&format!("{up}_CLIENT_SECRET")),
        ) else {
            continue;
        };
        let Some((auth, token)) = p.oauth else {
            continue;
        };
        let base = settings.get(&format!("{up}_BASE_URL")).map(str::to_string);
        let over = |u: &str| {
            base.as_deref()
                .map_or_else(|| u.to_string(), |b| rebase(u, b))
        };
        out.insert(
            p.key,
            OAuthClient {
                client_id: id.to_string(),
                client_secret: secret.to_string(),
                authorize_url: over(auth),
                token_url: over(token),
                api_base: base.clone().unwrap_or_else(|| p.api_base.to_string()),
                scope: settings
                    .get(&format!("{up}_DEFAULT_SCOPE"))
                    .unwrap_or(p.default_scope)
                    .to_string(),
                redirect_uri: settings
                    .get(&format!("{up}_REDIRECT_URI"))
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{api_base_url}/api/v1/oauth/{}/callback", p.key)),
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_overrides_replace_the_origin_only() {
        assert_eq!(
            rebase(
                "https://flow.polar.com/oauth2/authorization",
                "http://127.0.0.1:9100"
            ),
            "http://127.0.0.1:9100/oauth2/authorization"
        );
        let s = Settings::from_pairs([
            ("OURA_CLIENT_ID", "id"),
            ("OURA_CLIENT_SECRET", "secret"),
            ("OURA_BASE_URL", "http://127.0.0.1:9200/"),
            ("POLAR_CLIENT_ID", "only-id"),
        ]);
        let clients = clients_from(&s, "http://localhost:8000");
        assert_eq!(clients.len(), 1, "a provider needs both id and secret");
        let oura = &clients["oura"];
        assert_eq!(oura.authorize_url, "http://127.0.0.1:9200/oauth/authorize");
        assert_eq!(oura.token_url, "http://127.0.0.1:9200/oauth/token");
        assert_eq!(
            oura.redirect_uri,
            "http://localhost:8000/api/v1/oauth/oura/callback"
        );
    }

    #[test]
    fn a_missing_secret_names_the_variable() {
        let err = Config::from_settings(&Settings::default(), None)
            .err()
            .map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("missing required setting SECRET_KEY"));
    }

    #[test]
    fn dynamodb_is_chosen_when_a_table_name_is_set() {
        let s = Settings::from_pairs([("SECRET_KEY", "0123456789abcdef0"), ("OW_TABLE_NAME", "t")]);
        let c = Config::from_settings(&s, None).expect("valid");
        assert_eq!(
            c.store,
            StoreConfig::Dynamo {
                table: "t".into(),
                create_if_missing: false
            }
        );
    }

    #[test]
    fn redirect_origins_come_from_three_settings() {
        let s = Settings::from_pairs([
            ("SECRET_KEY", "0123456789abcdef0"),
            (
                "ALLOWED_REDIRECT_ORIGINS",
                "https://App.Example.com, http://localhost:3000/",
            ),
            ("CORS_ORIGINS", "*,https://dash.example.com:443"),
            ("API_BASE_URL", "https://api.example.com/base/"),
        ]);
        let c = Config::from_settings(&s, None).expect("valid");
        assert_eq!(
            c.redirect_origins,
            [
                "http://localhost:3000",
                "https://api.example.com",
                "https://app.example.com",
                "https://dash.example.com",
            ]
        );
        assert!(!c.oauth_public_authorize);
        let bad = Settings::from_pairs([
            ("SECRET_KEY", "0123456789abcdef0"),
            ("ALLOWED_REDIRECT_ORIGINS", "https://u@app.example.com"),
        ]);
        let err = Config::from_settings(&bad, None)
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("ALLOWED_REDIRECT_ORIGINS")),
            "{err:?}"
        );
    }

    fn cors_of(pairs: &[(&str, &str)]) -> Result<Cors, String> {
        let mut s = Settings::from_pairs([("SECRET_KEY", "0123456789abcdef0")]);
        for (k, v) in pairs {
            s.set(k, *v);
        }
        Config::from_settings(&s, None)
            .map(|c| c.cors)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn cors_defaults_to_the_local_portal_origin_and_its_loopback_twin() {
        let c = cors_of(&[]).expect("valid");
        assert!(!c.allow_all);
        assert_eq!(
            c.origins,
            ["http://127.0.0.1:8000", "http://localhost:8000"]
        );
        assert!(c.allows("http://localhost:8000"));
        assert!(c.allows("http://127.0.0.1:8000"));
        for other in [
            "http://localhost:3000",
            "https://localhost:8000",
            "http://localhost:8000/",
            "http://evil.example",
            "null",
            "",
        ] {
            assert!(!c.allows(other), "{other}");
        }
        let public = cors_of(&[("API_BASE_URL", "https://API.example.com/base/")]).expect("valid");
        assert_eq!(public.origins, ["https://api.example.com"]);
    }

    #[test]
    fn cors_origins_parse_as_a_comma_list_or_a_json_list() {
        let comma = cors_of(&[(
            "CORS_ORIGINS",
            " https://App.Example.com/ ,http://localhost:3000,,https://dash.example.com:443",
        )])
        .expect("valid");
        let json = cors_of(&[(
            "CORS_ORIGINS",
            r#"["https://app.example.com", "http://localhost:3000/", "https://dash.example.com"]"#,
        )])
        .expect("valid");
        assert_eq!(comma, json);
        assert_eq!(
            comma.origins,
            [
                "http://localhost:3000",
                "https://app.example.com",
                "https://dash.example.com"
            ]
        );
        assert!(comma.allows("https://app.example.com"));
        assert!(
            !comma.allows("http://localhost:8000"),
            "the default is replaced"
        );
        assert!(!comma.allows("https://app.example.com.evil.example"));
        assert!(!comma.allows("https://sub.app.example.com"));
    }

    #[test]
    fn cors_allow_all_and_bad_entries() {
        let all = cors_of(&[("CORS_ALLOW_ALL", "true")]).expect("valid");
        assert!(all.allow_all && all.allows("https://anything.example"));
        let star = cors_of(&[("CORS_ORIGINS", "*")]).expect("valid");
        assert!(star.allow_all);
        for (name, value) in [
            ("CORS_ORIGINS", "app.example.com"),
            ("CORS_ORIGINS", "ftp://app.example.com"),
            ("CORS_ORIGINS", r#"["https://a.example", 3]"#),
            ("CORS_ORIGINS", "[https://a.example"),
            ("CORS_ALLOW_ALL", "sometimes"),
        ] {
            let err = cors_of(&[(name, value)]).expect_err(value);
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn a_short_webhook_url_secret_is_refused() {
        let s = Settings::from_pairs([
            ("SECRET_KEY", "0123456789abcdef0"),
            ("GARMIN_WEBHOOK_URL_SECRET", "subscriptions"),
        ]);
        let err = Config::from_settings(&s, None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("GARMIN_WEBHOOK_URL_SECRET"), "{err}");
    }

    #[test]
    fn a_malformed_number_names_the_variable() {
        let s = Settings::from_pairs([
            ("SECRET_KEY", "0123456789abcdef0"),
            ("ACCESS_TOKEN_EXPIRE_MINUTES", "soon"),
        ]);
        let err = Config::from_settings(&s, None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("ACCESS_TOKEN_EXPIRE_MINUTES"), "{err}");
    }
}

//! Start-up shared by the local server and every Lambda function: settings (environment +
//! Secrets Manager), the table adapter, the first developer, logging.
//!
//! The Lambda entry points ([`run_lambda_http`], [`run_lambda_sqs`], [`run_lambda_schedule`])
//! build their state through [`lambda_state`], which names only the AWS adapters (DynamoDB, SQS)
//! and loads the AWS SDK configuration once: a function binary links no embedded store and no
//! in-process queue, whatever features the build unified. Each function's `main` passes its own
//! routes, so it links only its handlers.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::app::JobQueue;
use crate::app::{AppState, State};
use crate::auth::password;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Settings, StoreConfig, in_lambda};
use crate::jobs::sqs::SqsQueue;
use crate::keys::secrets;
use crate::repo::Db;
use crate::repo::developers::{Developer, DeveloperWriteError};
use crate::store::Table;
use crate::store::dynamo::DynamoTable;

/// A start-up failure, with a message fit for the operator.
pub type BootError = Box<dyn std::error::Error + Send + Sync>;

/// Readable log lines locally, JSON lines in Lambda. `RUST_LOG` filters (default `info`):
/// comma-separated `level` or `target=level` directives (`info,shared::jobs=debug`), the
/// target-and-level subset of the usual syntax (no span or field filters, which need the
/// regex engine in every binary). A value that does not parse falls back to `info`, said once.
pub fn init_tracing() {
    let raw = std::env::var("RUST_LOG").ok();
    let (filter, bad) = log_filter(raw.as_deref());
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if in_lambda() {
        let layer = tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(false)
            .without_time();
        registry.with(layer).try_init()
    } else {
        registry
            .with(tracing_subscriber::fmt::layer().compact())
            .try_init()
    };
    if let Some(bad) = bad {
        tracing::warn!(rust_log = %bad, "RUST_LOG does not parse as level or target=level directives; logging at info");
    }
}

/// The filter that `RUST_LOG`'s value describes, and the value itself when it did not parse.
pub fn log_filter(raw: Option<&str>) -> (tracing_subscriber::filter::Targets, Option<String>) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    let default = || Targets::new().with_default(LevelFilter::INFO);
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => (default(), None),
        Some(r) => match r.parse::<Targets>() {
            Ok(t) => (t, None),
            Err(_) => (default(), Some(r.to_string())),
        },
    }
}

/// The AWS SDK configuration, loaded on first use and then shared by every client of the
/// process (Secrets Manager, DynamoDB, SQS): one load per cold start.
#[derive(Default)]
pub struct Aws(tokio::sync::OnceCell<aws_types::SdkConfig>);

/// Bounds on every AWS call: a connection attempt, one HTTP attempt and the whole operation
/// with its retries. DynamoDB, SQS and Secrets Manager answer in milliseconds; these only
/// stop a stalled call from holding a request or a cold start until the Lambda times out.
pub const AWS_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
pub const AWS_ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
pub const AWS_OPERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(12);

fn aws_timeouts() -> aws_sdk_dynamodb::config::timeout::TimeoutConfig {
    aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .connect_timeout(AWS_CONNECT_TIMEOUT)
        .operation_attempt_timeout(AWS_ATTEMPT_TIMEOUT)
        .operation_timeout(AWS_OPERATION_TIMEOUT)
        .build()
}

impl Aws {
    /// The configuration from the environment (`AWS_REGION`, `AWS_ENDPOINT_URL`, credentials).
    ///
    /// With the `aws-config` feature (the local server, the tests): the SDK's whole provider
    /// chain (profiles, SSO, instance roles …). Without it (every Lambda function): the
    /// environment only, which is where Lambda puts the execution role's credentials; this
    /// keeps `aws-config` and the STS/SSO clients out of the function binaries.
    pub async fn config(&self) -> &aws_types::SdkConfig {
        self.0.get_or_init(load_sdk_config).await
    }
}

#[cfg(feature = "aws-config")]
async fn load_sdk_config() -> aws_types::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(aws_timeouts())
        .load()
        .await
}

#[cfg(not(feature = "aws-config"))]
async fn load_sdk_config() -> aws_types::SdkConfig {
    sdk_config_from(|name| std::env::var(name).ok())
}

/// The SDK configuration that the environment variables read by `var` describe: region
/// (`AWS_REGION`, else `AWS_DEFAULT_REGION`), static credentials (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) and `AWS_ENDPOINT_URL`. Missing credentials
/// leave the provider unset, so a call fails with the SDK's own "no credentials" error.
pub fn sdk_config_from(var: impl Fn(&str) -> Option<String>) -> aws_types::SdkConfig {
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let mut b = aws_types::SdkConfig::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .timeout_config(aws_timeouts())
        .region(
            var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .map(aws_types::region::Region::new),
        );
    if let (Some(id), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        let creds = Credentials::new(id, secret, var("AWS_SESSION_TOKEN"), None, "environment");
        b = b.credentials_provider(SharedCredentialsProvider::new(creds));
    }
    if let Some(url) = var("AWS_ENDPOINT_URL") {
        b = b.endpoint_url(url);
    }
    b.build()
}

/// Environment overlaid with the Secrets Manager secret named by `OW_SECRETS_ARN` (a JSON
/// object of setting names to string values). Explicit environment values win.
pub async fn load_settings(aws: &Aws) -> Result<Settings, BootError> {
    let mut settings = Settings::from_env();
    if let Some(arn) = settings.get("OW_SECRETS_ARN").map(str::to_string) {
        let client = aws_sdk_secretsmanager::Client::new(aws.config().await);
        let out = client
            .get_secret_value()
            .secret_id(&arn)
            .send()
            .await
            .map_err(|e| format!("reading secret {arn}: {}", e.into_service_error()))?;
        let raw = out.secret_string().unwrap_or("{}");
        let values: HashMap<String, serde_json::Value> = serde_json::from_str(raw)
            .map_err(|e| format!("secret {arn} is not a JSON object: {e}"))?;
        let values = values
            .into_iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::String(s) => Some((k, s)),
                serde_json::Value::Null => None,
                other => Some((k, other.to_string())),
            })
            .collect();
        settings.overlay_missing(values);
    }
    Ok(settings)
}

/// The local server's signing key when `SECRET_KEY` is unset: generated once and kept in the
/// data directory, so tokens survive restarts.
pub fn local_secret(data_dir: &Path) -> Result<String, BootError> {
    let path = data_dir.join("secret_key");
    if let Ok(s) = std::fs::read_to_string(&path)
        && s.trim().len() >= 16
    {
        return Ok(s.trim().to_string());
    }
    std::fs::create_dir_all(data_dir)?;
    let key = secrets::random_hex(32);
    let mut file = std::fs::OpenOptions::new();
    file.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        // Created 0600, not narrowed after the write: no moment where others can read it.
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        file.mode(0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).ok();
    }
    std::io::Write::write_all(&mut file.open(&path)?, key.as_bytes())?;
    Ok(key)
}

/// Opens the configured table adapter.
pub async fn open_table(config: &Config, aws: &Aws) -> Result<Arc<dyn Table>, BootError> {
    Ok(match &config.store {
        #[cfg(feature = "embedded")]
        StoreConfig::Embedded { path } => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                crate::store::embedded::private_dir(dir)?;
            }
            Arc::new(crate::store::embedded::EmbeddedTable::open(path)?)
        }
        #[cfg(not(feature = "embedded"))]
        StoreConfig::Embedded { .. } => return Err(NO_EMBEDDED_STORE.into()),
        StoreConfig::Dynamo {
            table,
            create_if_missing,
        } => Arc::new(dynamo_table(aws, table, *create_if_missing).await?),
    })
}

#[cfg(not(feature = "embedded"))]
const NO_EMBEDDED_STORE: &str =
    "OW_STORE=embedded needs a build with the `embedded` feature: set OW_TABLE_NAME for DynamoDB";
#[cfg(not(feature = "embedded"))]
const NO_IN_PROCESS_QUEUE: &str =
    "the in-process job queue needs a build with the `embedded` feature: set OW_QUEUE_URL for SQS";

async fn dynamo_table(
    aws: &Aws,
    table: &str,
    create_if_missing: bool,
) -> Result<DynamoTable, BootError> {
    let t = DynamoTable::new(aws_sdk_dynamodb::Client::new(aws.config().await), table);
    if create_if_missing {
        t.ensure_table().await?;
    }
    Ok(t)
}

fn sqs_queue(conf: &aws_types::SdkConfig, url: &str, config: &Config) -> SqsQueue {
    SqsQueue::new(aws_sdk_sqs::Client::new(conf), url)
        .with_import_queue(config.s3.import_queue_url.clone())
}

/// Seeds the first developer from `ADMIN_EMAIL` / `ADMIN_PASSWORD` when none exists.
pub async fn seed_admin(db: &Db, config: &Config, clock: &dyn Clock) -> Result<(), BootError> {
    db.seed_device_priorities(crate::repo::truncate_micros(clock.now()))
        .await?;
    if db.any_developer().await? {
        return Ok(());
    }
    let now = crate::repo::truncate_micros(clock.now());
    let dev = Developer {
        id: uuid::Uuid::new_v4(),
        email: config.admin_email.clone(),
        first_name: None,
        last_name: None,
        password_hash: password::hash(&config.admin_password)?,
        created_at: now,
        updated_at: now,
    };
    match db.create_developer(&dev).await {
        Ok(()) => {
            tracing::info!(email = %dev.email, "seeded the first developer");
            Ok(())
        }
        // Another process seeded it concurrently.
        Err(DeveloperWriteError::EmailTaken) => Ok(()),
        Err(DeveloperWriteError::Store(e)) => Err(e.into()),
    }
}

/// State over an already opened table, with the in-process job queue and its worker.
#[cfg(feature = "embedded")]
pub async fn state_with(
    table: Arc<dyn Table>,
    config: Config,
    clock: Arc<dyn Clock>,
) -> Result<State, BootError> {
    let db = Db::new(table);
    seed_admin(&db, &config, clock.as_ref()).await?;
    let local = crate::jobs::local::InProcessQueue::new();
    let state = Arc::new(AppState::new(db, Arc::new(config), clock, local.clone()));
    local.start(state.clone());
    let every = std::time::Duration::from_secs(state.config.webhooks.poll_interval_seconds);
    crate::jobs::schedule::spawn_local_webhooks(&state, every);
    Ok(state)
}

/// State over an already opened table and a remote job queue.
pub async fn state_with_queue(
    table: Arc<dyn Table>,
    config: Config,
    clock: Arc<dyn Clock>,
    queue: Arc<dyn JobQueue>,
) -> Result<State, BootError> {
    let db = Db::new(table);
    seed_admin(&db, &config, clock.as_ref()).await?;
    Ok(Arc::new(AppState::new(db, Arc::new(config), clock, queue)))
}

/// Everything from given settings: table, admin seed, queue (the local server).
pub async fn state_from_settings(settings: Settings, aws: &Aws) -> Result<State, BootError> {
    let generated = if settings.get("SECRET_KEY").is_none() && !in_lambda() {
        let dir = settings
            .get("OW_DATA_DIR")
            .unwrap_or(".ow-data")
            .to_string();
        Some(local_secret(Path::new(&dir))?)
    } else {
        None
    };
    let config = Config::from_settings(&settings, generated)?;
    let table = open_table(&config, aws).await?;
    match config.queue_url.clone() {
        Some(url) => {
            let queue = Arc::new(sqs_queue(aws.config().await, &url, &config));
            state_with_queue(table, config, Arc::new(SystemClock), queue).await
        }
        #[cfg(feature = "embedded")]
        None => state_with(table, config, Arc::new(SystemClock)).await,
        #[cfg(not(feature = "embedded"))]
        None => Err(NO_IN_PROCESS_QUEUE.into()),
    }
}

/// What a Lambda function runs on: the DynamoDB table (and whether to create it) and the SQS
/// queue named by the configuration (the template sets both).
fn lambda_wiring(config: &Config) -> Result<(&str, bool, &str), BootError> {
    let StoreConfig::Dynamo {
        table,
        create_if_missing,
    } = &config.store
    else {
        return Err("a Lambda function needs its DynamoDB table: OW_TABLE_NAME is not set".into());
    };
    let queue = config
        .queue_url
        .as_deref()
        .ok_or("a Lambda function needs its job queue: OW_QUEUE_URL is not set")?;
    Ok((table, *create_if_missing, queue))
}

/// A Lambda function's state: settings and secret, the DynamoDB table and the SQS queue, all
/// from one AWS SDK configuration. Nothing is seeded here: only the auth function seeds (see
/// [`run_lambda_http_seeding`]), so the other functions do not link password hashing.
pub async fn lambda_state() -> Result<State, BootError> {
    let aws = Aws::default();
    let config = Config::from_settings(&load_settings(&aws).await?, None)?;
    let (table, create_if_missing, queue_url) = lambda_wiring(&config)?;
    let table = dynamo_table(&aws, table, create_if_missing).await?;
    let queue = Arc::new(sqs_queue(aws.config().await, queue_url, &config));
    let db = Db::new(Arc::new(table));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    Ok(Arc::new(AppState::new(db, Arc::new(config), clock, queue)))
}

/// Serves `routes` (one route group's router) as a Lambda function behind API Gateway (HTTP
/// API).
pub async fn run_lambda_http(
    routes: utoipa_axum::router::OpenApiRouter<State>,
) -> Result<(), lambda_http::Error> {
    init_tracing();
    let state = lambda_state().await?;
    lambda_http::run(crate::api::serve(state, routes)).await
}

/// [`run_lambda_http`] for the auth function: its cold start first seeds the first developer
/// (`ADMIN_EMAIL` / `ADMIN_PASSWORD`) and the default device priorities when the table has
/// none (every way into the API starts with a login there; the other functions read them).
pub async fn run_lambda_http_seeding(
    routes: utoipa_axum::router::OpenApiRouter<State>,
) -> Result<(), lambda_http::Error> {
    init_tracing();
    let state = lambda_state().await?;
    seed_admin(&state.db, &state.config, state.clock.as_ref()).await?;
    lambda_http::run(crate::api::serve(state, routes)).await
}

/// Runs the job consumer under the Lambda runtime (SQS events, partial batch failures).
pub async fn run_lambda_sqs() -> Result<(), lambda_runtime::Error> {
    use aws_lambda_events::sqs::SqsEvent;
    init_tracing();
    let state = lambda_state().await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| {
            let state = state.clone();
            async move {
                Ok::<_, lambda_runtime::Error>(
                    crate::jobs::lambda::handle_batch(&state, event.payload).await,
                )
            }
        },
    ))
    .await
}

/// Runs the import function under the Lambda runtime: S3 object-created events of the
/// import bucket, and SQS messages of its own queue (the continuations it re-queues). Each
/// invocation's deadline, less `APPLE_IMPORT_DEADLINE_MARGIN_SECONDS`, bounds the imports.
pub async fn run_lambda_import() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let state = lambda_state().await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let state = state.clone();
            async move {
                let budget = crate::services::s3_import::Budget {
                    deadline: Some(instant_of_deadline(event.context.deadline)),
                    max_checkpoints: None,
                };
                handle_import_event(&state, event.payload, budget).await
            }
        },
    ))
    .await
}

/// The instant of a Lambda deadline (milliseconds since the epoch).
fn instant_of_deadline(deadline_ms: u64) -> std::time::Instant {
    let now_ms = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX);
    std::time::Instant::now() + std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

/// One invocation of the import function: an S3 event or an SQS batch (told apart by the
/// records' `eventSource`); anything else is an invocation error.
pub async fn handle_import_event(
    state: &AppState,
    payload: serde_json::Value,
    budget: crate::services::s3_import::Budget,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let source = payload["Records"][0]["eventSource"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match source.as_str() {
        "aws:s3" => {
            let event: aws_lambda_events::s3::S3Event = serde_json::from_value(payload)?;
            crate::services::s3_import::handle_s3_event(state, &event, budget).await?;
            Ok(serde_json::json!({}))
        }
        "aws:sqs" => {
            let event: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(payload)?;
            let resp = crate::jobs::lambda::handle_batch_within(state, event, Some(budget)).await;
            Ok(serde_json::to_value(resp)?)
        }
        other => Err(format!(
            "the import function takes S3 events and SQS batches, not {other:?} events"
        )
        .into()),
    }
}

/// Runs the scheduled tick under the Lambda runtime (EventBridge events; the payload is unused).
pub async fn run_lambda_schedule() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let state = lambda_state().await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |_event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let state = state.clone();
            async move {
                let queued = crate::jobs::schedule::tick(&state).await?;
                Ok::<_, lambda_runtime::Error>(serde_json::json!({ "sleep_jobs_queued": queued }))
            }
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn sdk_config_reads_lambda_environment() {
        let c = sdk_config_from(env(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-east-2"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        ]));
        assert_eq!(c.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(c.endpoint_url(), Some("http://127.0.0.1:4566"));
        assert!(c.credentials_provider().is_some());
        let t = c.timeout_config().expect("timeouts are set");
        assert_eq!(t.operation_timeout(), Some(AWS_OPERATION_TIMEOUT));
        assert_eq!(t.operation_attempt_timeout(), Some(AWS_ATTEMPT_TIMEOUT));
        assert_eq!(t.connect_timeout(), Some(AWS_CONNECT_TIMEOUT));
    }

    #[test]
    fn sdk_config_falls_back_and_leaves_missing_parts_unset() {
        let c = sdk_config_from(env(&[
            ("AWS_REGION", " "),
            ("AWS_DEFAULT_REGION", "us-east-2"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ]));
        assert_eq!(c.region().map(|r| r.as_ref()), Some("us-east-2"));
        assert!(
            c.credentials_provider().is_none(),
            "no secret, no credentials"
        );
        assert_eq!(c.endpoint_url(), None);
        let none = sdk_config_from(env(&[]));
        assert!(none.region().is_none());
    }

    #[test]
    fn log_filter_takes_targets_and_reports_garbage() {
        use tracing::Level;
        let (f, bad) = log_filter(Some("warn,shared::jobs=debug"));
        assert!(bad.is_none());
        assert!(f.would_enable("shared::jobs::local", &Level::DEBUG));
        assert!(!f.would_enable("shared::api", &Level::INFO));
        assert!(f.would_enable("shared::api", &Level::WARN));
        let (f, bad) = log_filter(None);
        assert!(bad.is_none());
        assert!(f.would_enable("anything", &Level::INFO));
        assert!(!f.would_enable("anything", &Level::DEBUG));
        let (f, bad) = log_filter(Some("shared=loud"));
        assert_eq!(bad.as_deref(), Some("shared=loud"));
        assert!(f.would_enable("shared", &Level::INFO));
        assert!(!f.would_enable("shared", &Level::DEBUG));
    }

    fn config(pairs: &[(&str, &str)]) -> Config {
        let mut s = Settings::default();
        s.set("SECRET_KEY", "0123456789abcdef0123");
        for (k, v) in pairs {
            s.set(k, *v);
        }
        Config::from_settings(&s, None).expect("config")
    }

    #[test]
    fn a_lambda_function_runs_on_the_configured_table_and_queue() {
        let c = config(&[
            ("OW_TABLE_NAME", "ow-table"),
            ("OW_QUEUE_URL", "https://sqs.example/q"),
        ]);
        let (table, create, queue) = lambda_wiring(&c).expect("wiring");
        assert_eq!(
            (table, create, queue),
            ("ow-table", false, "https://sqs.example/q")
        );
    }

    #[test]
    fn a_lambda_function_without_table_or_queue_names_the_missing_variable() {
        let no_table = lambda_wiring(&config(&[("OW_QUEUE_URL", "q")])).map(|_| ());
        let msg = no_table.expect_err("no table").to_string();
        assert!(msg.contains("OW_TABLE_NAME"), "{msg}");
        let no_queue = lambda_wiring(&config(&[("OW_TABLE_NAME", "t")])).map(|_| ());
        let msg = no_queue.expect_err("no queue").to_string();
        assert!(msg.contains("OW_QUEUE_URL"), "{msg}");
    }
}

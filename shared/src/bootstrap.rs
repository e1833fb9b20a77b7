//! Start-up shared by the local server and every Lambda function: settings (environment +
//! Secrets Manager), the table adapter, the first developer, logging.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::api::Group;
use crate::app::JobQueue;
use crate::app::{AppState, State};
use crate::auth::password;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Settings, StoreConfig, in_lambda};
use crate::jobs::local::InProcessQueue;
use crate::jobs::sqs::SqsQueue;
use crate::keys::secrets;
use crate::repo::Db;
use crate::repo::developers::{Developer, DeveloperWriteError};
use crate::store::Table;
use crate::store::dynamo::DynamoTable;
use crate::store::embedded::EmbeddedTable;

/// A start-up failure, with a message fit for the operator.
pub type BootError = Box<dyn std::error::Error + Send + Sync>;

/// Readable log lines locally, JSON lines in Lambda. `RUST_LOG` filters (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if in_lambda() {
        builder
            .json()
            .with_current_span(false)
            .without_time()
            .try_init()
    } else {
        builder.compact().try_init()
    };
}

/// Environment overlaid with the Secrets Manager secret named by `OW_SECRETS_ARN` (a JSON
/// object of setting names to string values). Explicit environment values win.
pub async fn load_settings() -> Result<Settings, BootError> {
    let mut settings = Settings::from_env();
    if let Some(arn) = settings.get("OW_SECRETS_ARN").map(str::to_string) {
        let conf = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let client = aws_sdk_secretsmanager::Client::new(&conf);
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
pub async fn open_table(config: &Config) -> Result<Arc<dyn Table>, BootError> {
    Ok(match &config.store {
        StoreConfig::Embedded { path } => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                crate::store::embedded::private_dir(dir)?;
            }
            Arc::new(EmbeddedTable::open(path)?)
        }
        StoreConfig::Dynamo {
            table,
            create_if_missing,
        } => {
            let t = DynamoTable::from_env(table.clone()).await;
            if *create_if_missing {
                t.ensure_table().await?;
            }
            Arc::new(t)
        }
    })
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
pub async fn state_with(
    table: Arc<dyn Table>,
    config: Config,
    clock: Arc<dyn Clock>,
) -> Result<State, BootError> {
    let db = Db::new(table);
    seed_admin(&db, &config, clock.as_ref()).await?;
    let local = InProcessQueue::new();
    let state = Arc::new(AppState::new(db, Arc::new(config), clock, local.clone()));
    local.start(state.clone());
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

/// Everything from the environment: settings, secrets, table, admin seed.
pub async fn state_from_env() -> Result<State, BootError> {
    state_from_settings(load_settings().await?).await
}

/// Everything from given settings: table, admin seed, queue.
pub async fn state_from_settings(settings: Settings) -> Result<State, BootError> {
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
    let table = open_table(&config).await?;
    match config.queue_url.clone() {
        Some(url) => {
            let queue = Arc::new(SqsQueue::from_env(url).await);
            state_with_queue(table, config, Arc::new(SystemClock), queue).await
        }
        None => state_with(table, config, Arc::new(SystemClock)).await,
    }
}

/// Runs the given route groups as a Lambda function behind API Gateway (HTTP API).
pub async fn run_lambda_http(groups: &[Group]) -> Result<(), lambda_http::Error> {
    init_tracing();
    let state = state_from_env().await?;
    let app = crate::api::router_for(state, groups);
    lambda_http::run(app).await
}

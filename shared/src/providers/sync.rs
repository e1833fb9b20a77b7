//! Pull sync of cloud providers: an authenticated fetcher (paging, error classes), token
//! refresh before expiry and on 401, the windowed sync job, and the store of what was pulled.
//!
//! A window that fails with 429/5xx/timeouts is retried by the queue with backoff and never
//! advances `last_synced_at`; a refused refresh marks the connection `revoked`.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::app::AppState;
use crate::app::Job;
use crate::config::OAuthClient;
use crate::domain::provider::{ClientAuth, Provider};
use crate::domain::sdk::WorkoutDetails;
use crate::domain::series::SeriesType;
use crate::domain::sleep::{SleepDetailsDraft, StageInterval};
use crate::domain::states::{ConnectionStatus, SyncStage, SyncStatus};
use crate::ingest::{BatchOrigin, NormalizedBatch, WriteOutcome, write_batch};
use crate::repo::connections::Connection;
use crate::repo::health::{DataSource, EventDetails, EventRecord, HealthScore, SampleWrite};
use crate::repo::sync_runs::{SyncRun, window_run_id};
use crate::store::StoreError;

/// Why a provider call failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// 401: the access token is no longer accepted.
    #[error("unauthorized")]
    Unauthorized,
    /// 429, 5xx, timeouts, connection errors: retry the window later.
    #[error("transient provider error: {0}")]
    Transient(String),
    /// Anything else (4xx, unreadable answers): the window cannot succeed as is.
    #[error("provider error: {0}")]
    Permanent(String),
    /// The provider refused the request with this 4xx status (other than 401) and text. Only
    /// pass-through calls ([`Fetcher::get_raw`]) report it; pulls see such answers as
    /// `Permanent`.
    #[error("provider refused the request: HTTP {0}: {1}")]
    Refused(u16, String),
}

/// Authenticated calls against one provider's API for one connection.
pub struct Fetcher<'a> {
    pub http: &'a reqwest::Client,
    /// Origin of the data API (`<PROVIDER>_BASE_URL` or the provider's default).
    pub base: &'a str,
    pub token: &'a str,
    /// The connection's provider account id (Polar paths, Garmin, ...).
    pub provider_user_id: Option<&'a str>,
    /// The connection's provider username.
    pub provider_username: Option<&'a str>,
    /// Extra headers on every call (Suunto's `Ocp-Apim-Subscription-Key`).
    pub headers: Vec<(&'static str, String)>,
    pub timeout: std::time::Duration,
    /// The OAuth client (id and secret for provider calls that need them).
    pub client: Option<&'a OAuthClient>,
    /// Provider settings by name (`SUUNTO_SUBSCRIPTION_KEY`, ...).
    pub settings: Option<&'a std::collections::HashMap<String, String>>,
}

impl<'a> Fetcher<'a> {
    /// A fetcher with no extras (tests and simple callers).
    pub fn new(http: &'a reqwest::Client, base: &'a str, token: &'a str) -> Self {
        Self {
            http,
            base,
            token,
            provider_user_id: None,
            provider_username: None,
            headers: Vec::new(),
            timeout: std::time::Duration::from_secs(30),
            client: None,
            settings: None,
        }
    }

    /// The same fetcher with one more header on every call.
    pub fn with_header(&self, name: &'static str, value: String) -> Fetcher<'a> {
        let mut headers = self.headers.clone();
        headers.push((name, value));
        Fetcher { headers, ..*self }
    }

    /// A provider setting by name.
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings?.get(name).map(String::as_str)
    }

    /// `base + path`, or `path` itself when it is already absolute (next-page links).
    pub fn url(&self, path: &str, query: &[(&str, String)]) -> Result<String, FetchError> {
        let qs =
            serde_urlencoded::to_string(query).map_err(|e| FetchError::Permanent(e.to_string()))?;
        let root = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base.trim_end_matches('/'))
        };
        let sep = if qs.is_empty() {
            ""
        } else if root.contains('?') {
            "&"
        } else {
            "?"
        };
        Ok(format!("{root}{sep}{qs}"))
    }

    /// GET a JSON document. 204 and empty bodies answer `Value::Null`.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, FetchError> {
        self.send(reqwest::Method::GET, path, query, None).await
    }

    /// GET a JSON document for a pass-through call: 401 → `Unauthorized`; other 4xx (429
    /// included) → `Refused` with the provider's status and text; 5xx and transport errors →
    /// `Transient`; unreadable JSON → `Permanent`. 204 and empty bodies answer `Value::Null`.
    pub async fn get_raw(&self, path: &str, query: &[(&str, String)]) -> Result<Value, FetchError> {
        let url = self.url(path, query)?;
        let mut req = self
            .http
            .get(url)
            .bearer_auth(self.token)
            .header("accept", "application/json")
            .timeout(self.timeout);
        for (k, v) in &self.headers {
            req = req.header(*k, v);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| FetchError::Transient(format!("{path}: {e}")))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| FetchError::Transient(format!("{path}: {e}")))?;
        if status.as_u16() == 401 {
            return Err(FetchError::Unauthorized);
        }
        if status.is_server_error() {
            return Err(FetchError::Transient(format!("{path}: HTTP {status}")));
        }
        if !status.is_success() {
            let text: String = String::from_utf8_lossy(&bytes).chars().take(500).collect();
            let text = if text.trim().is_empty() {
                status.to_string()
            } else {
                text
            };
            return Err(FetchError::Refused(status.as_u16(), text));
        }
        if status.as_u16() == 204 || bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| FetchError::Permanent(format!("{path}: unreadable JSON ({e})")))
    }

    /// Any method, optional JSON body; the same error classes as [`Fetcher::get`].
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, FetchError> {
        let (status, v) = self.call(method, path, query, body).await?;
        if !status.is_success() {
            return Err(FetchError::Permanent(format!("{path}: HTTP {status}")));
        }
        Ok(v)
    }

    /// One call that leaves the other 4xx to the caller: 401 → `Unauthorized`; 429, 5xx and
    /// transport errors → `Transient`; any other status is answered with its JSON body
    /// (`Null` when empty, 204, or not a success).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(reqwest::StatusCode, Value), FetchError> {
        let url = self.url(path, query)?;
        let mut req = self
            .http
            .request(method, url)
            .bearer_auth(self.token)
            .header("accept", "application/json")
            .timeout(self.timeout);
        for (k, v) in &self.headers {
            req = req.header(*k, v);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| FetchError::Transient(format!("{path}: {e}")))?;
        let status = resp.status();
        if status.as_u16() == 401 {
            return Err(FetchError::Unauthorized);
        }
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(FetchError::Transient(format!("{path}: HTTP {status}")));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| FetchError::Transient(format!("{path}: {e}")))?;
        if !status.is_success()
            || status.as_u16() == 204
            || bytes.iter().all(u8::is_ascii_whitespace)
        {
            return Ok((status, Value::Null));
        }
        let v = serde_json::from_slice(&bytes)
            .map_err(|e| FetchError::Permanent(format!("{path}: unreadable JSON ({e})")))?;
        Ok((status, v))
    }

    /// A `{data: [...], next_token}` collection, all pages.
    pub async fn collection(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<Value>, FetchError> {
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..1000 {
            let mut q: Vec<(&str, String)> = query.to_vec();
            if let Some(t) = &next {
                q.push(("next_token", t.clone()));
            }
            let page = self.get(path, &q).await?;
            if let Some(items) = page.get("data").and_then(Value::as_array) {
                out.extend(items.iter().cloned());
            }
            next = page
                .get("next_token")
                .and_then(Value::as_str)
                .map(str::to_string);
            if next.is_none() {
                break;
            }
        }
        Ok(out)
    }
}

/// One pulled sample.
#[derive(Debug, Clone, PartialEq)]
pub struct PulledSample {
    pub series: SeriesType,
    pub at: DateTime<Utc>,
    pub value: f64,
    pub zone: Option<String>,
    pub daily_total: Option<bool>,
}

/// One pulled workout.
#[derive(Debug, Clone, PartialEq)]
pub struct PulledWorkout {
    pub external_id: Option<String>,
    /// A unified workout type code (`WorkoutType::code`).
    pub workout_type: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub zone: Option<String>,
    /// Energy (kcal), distance (m), heart rate, speed, power, elevation.
    pub details: WorkoutDetails,
}

/// One pulled sleep session.
#[derive(Debug, Clone, PartialEq)]
pub struct PulledSleep {
    pub external_id: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub zone: Option<String>,
    pub is_nap: bool,
    pub total_sleep_minutes: i64,
    pub time_in_bed_minutes: i64,
    pub deep_minutes: i64,
    pub light_minutes: i64,
    pub rem_minutes: i64,
    pub awake_minutes: i64,
    pub efficiency: Option<f64>,
    pub stages: Vec<StageInterval>,
}

/// Longest qualifier a score stores (data-model: free text ≤ 32 characters).
pub const QUALIFIER_MAX_CHARS: usize = 32;

/// A provider's label as a score qualifier: trimmed; `None` when empty or longer than
/// [`QUALIFIER_MAX_CHARS`] (a cut label would misstate the provider's rating).
pub fn qualifier(label: &str) -> Option<String> {
    let l = label.trim();
    (!l.is_empty() && l.chars().count() <= QUALIFIER_MAX_CHARS).then(|| l.to_string())
}

/// One pulled provider score.
#[derive(Debug, Clone, PartialEq)]
pub struct PulledScore {
    pub category: String,
    pub value: Option<f64>,
    /// The provider's label for the value ("GOOD", "Relaxing", "ready", ...); see [`qualifier`].
    pub qualifier: Option<String>,
    pub recorded_at: DateTime<Utc>,
    pub zone: Option<String>,
    pub components: Option<Value>,
}

/// Everything one window of one provider produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pulled {
    pub source_name: String,
    pub device_model: Option<String>,
    pub samples: Vec<PulledSample>,
    pub workouts: Vec<PulledWorkout>,
    pub sleeps: Vec<PulledSleep>,
    pub scores: Vec<PulledScore>,
}

/// Days of history pulled on connect (pull providers).
pub const BACKFILL_DAYS: i64 = 90;
/// Largest window one sync job pulls.
pub const WINDOW_DAYS: i64 = 30;

/// Splits `[start, end)` into windows of at most [`WINDOW_DAYS`].
pub fn windows(start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    let mut from = start;
    while from < end {
        let to = (from + Duration::days(WINDOW_DAYS)).min(end);
        out.push((from, to));
        from = to;
    }
    out
}

/// One sync job per window of `[start, end)`.
pub fn window_jobs(
    user: Uuid,
    provider: Provider,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<Job> {
    windows(start, end)
        .into_iter()
        .map(|(start, end)| Job::ProviderSync {
            user_id: user,
            provider,
            start,
            end,
        })
        .collect()
}

/// The sync jobs of a historical backfill: [`BACKFILL_DAYS`], or less when the provider keeps
/// less history (Garmin: 30 days).
pub fn backfill_jobs(user: Uuid, provider: Provider, now: DateTime<Utc>) -> Vec<Job> {
    let days = provider
        .info()
        .max_historical_days
        .map_or(BACKFILL_DAYS, |d| BACKFILL_DAYS.min(i64::from(d)));
    window_jobs(user, provider, now - Duration::days(days), now)
}

/// A sync failure the queue should retry.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Retry(String),
}

/// How a refresh grant ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refresh {
    /// New tokens are stored and in `conn`.
    Done,
    /// The provider refused the grant (or there is no refresh token).
    Refused,
    /// The connection stopped being active while the grant ran (a revoke or disconnect won):
    /// nothing was written and the caller stops.
    Inactive,
}

async fn refresh(
    state: &AppState,
    client: &OAuthClient,
    auth: ClientAuth,
    conn: &mut Connection,
) -> Result<Refresh, SyncError> {
    let Some(sealed) = &conn.refresh_token else {
        return Ok(Refresh::Refused);
    };
    let refresh_token = state.cipher.open(sealed)?;
    let (status, body) = super::oauth::grant(
        &state.http,
        client,
        auth,
        super::oauth::Grant::Refresh(&refresh_token),
        None,
    )
    .await
    .map_err(|e| SyncError::Retry(format!("token refresh: {e}")))?;
    if status.as_u16() == 400 || status.as_u16() == 401 {
        return Ok(Refresh::Refused);
    }
    if !status.is_success() {
        let status = status.as_u16();
        return Err(SyncError::Retry(format!("token refresh: HTTP {status}")));
    }
    let v: Value =
        serde_json::from_str(&body).map_err(|e| SyncError::Retry(format!("token refresh: {e}")))?;
    let Some(access) = v.get("access_token").and_then(Value::as_str) else {
        return Ok(Refresh::Refused);
    };
    let now = state.now();
    let access = state.cipher.seal(access)?;
    let rotated = match v.get("refresh_token").and_then(Value::as_str) {
        Some(r) => Some(state.cipher.seal(r)?),
        None => None,
    };
    let expires = v
        .get("expires_in")
        .and_then(Value::as_i64)
        .and_then(Duration::try_seconds)
        .and_then(|d| now.checked_add_signed(d));
    let saved = state
        .db
        .update_active_connection(conn.user_id, conn.provider.as_str(), |c| {
            c.access_token = Some(access.clone());
            if let Some(r) = &rotated {
                c.refresh_token = Some(r.clone());
            }
            c.token_expires_at = expires;
            c.updated_at = now;
        })
        .await?;
    Ok(match saved {
        Some(c) => {
            *conn = c;
            Refresh::Done
        }
        None => Refresh::Inactive,
    })
}

async fn mark_revoked(state: &AppState, conn: &mut Connection) -> Result<(), StoreError> {
    tracing::warn!(provider = %conn.provider, user = %conn.user_id, "provider refused the refresh token: connection revoked");
    if let Some(before) = state
        .db
        .revoke_connection(conn.user_id, conn.provider.as_str(), state.now())
        .await?
    {
        crate::services::webhooks::connection_revoked(state, &before, "refresh_failed").await;
    }
    conn.status = ConnectionStatus::Revoked;
    conn.access_token = None;
    conn.refresh_token = None;
    conn.token_expires_at = None;
    Ok(())
}

/// A fetcher for one connection's calls with `token`.
pub fn fetcher<'a>(
    state: &'a AppState,
    client: &'a OAuthClient,
    conn: &'a Connection,
    token: &'a str,
) -> Fetcher<'a> {
    Fetcher {
        http: &state.http,
        base: &client.api_base,
        token,
        provider_user_id: conn.provider_user_id.as_deref(),
        provider_username: conn.provider_username.as_deref(),
        headers: Vec::new(),
        timeout: std::time::Duration::from_secs(state.config.provider_timeout_seconds),
        client: Some(client),
        settings: Some(&state.config.provider_settings),
    }
}

/// A provider call on a user's behalf, given the connection's fetcher (see
/// [`with_connection_token`]).
pub type FetchFuture<'f, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, FetchError>> + Send + 'f>>;

/// Why [`with_connection_token`] could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionCallError {
    /// The user has no active connection to the provider.
    #[error("no active connection")]
    NotConnected,
    /// Our app has no client credentials for the provider.
    #[error("the provider is not configured")]
    NotConfigured,
    /// The provider refused the refresh grant: the connection is now `revoked`.
    #[error("the provider refused the grant")]
    Revoked,
    /// The call itself failed (after one refresh on 401).
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<SyncError> for ConnectionCallError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Store(s) => Self::Store(s),
            SyncError::Retry(m) => Self::Fetch(FetchError::Transient(m)),
        }
    }
}

/// An active connection, its client, and a token that does not expire within five minutes.
struct Ready {
    conn: Connection,
    client: OAuthClient,
    auth: ClientAuth,
}

/// Why a connection is not ready for provider calls.
enum NotReady {
    NoConnection,
    Inactive,
    NotConfigured,
    /// The refresh grant was refused: the connection is now `revoked`.
    Revoked,
}

/// Loads the user's connection to `provider` for calls: it must be active and the provider
/// configured; a token expiring within five minutes is refreshed first. Without a refresh
/// token (Polar's tokens live for years) the current token is kept: only the provider's 401
/// says whether it still works (providers.md App. C #26).
async fn ready_connection(
    state: &AppState,
    user: Uuid,
    provider: &str,
) -> Result<Result<Ready, NotReady>, SyncError> {
    let Some(mut conn) = state.db.connection(user, provider).await? else {
        return Ok(Err(NotReady::NoConnection));
    };
    if conn.status != ConnectionStatus::Active {
        return Ok(Err(NotReady::Inactive));
    }
    let Some(client) = state.config.oauth.get(provider).cloned() else {
        return Ok(Err(NotReady::NotConfigured));
    };
    let auth = provider
        .parse::<Provider>()
        .map_or(ClientAuth::Body, |p| p.info().client_auth);
    let due = conn
        .token_expires_at
        .is_some_and(|t| t - state.now() < Duration::minutes(5));
    if conn.refresh_token.is_some() && due {
        match refresh(state, &client, auth, &mut conn).await? {
            Refresh::Done => {}
            Refresh::Refused => {
                mark_revoked(state, &mut conn).await?;
                return Ok(Err(NotReady::Revoked));
            }
            Refresh::Inactive => return Ok(Err(NotReady::Inactive)),
        }
    }
    Ok(Ok(Ready { conn, client, auth }))
}

/// Runs `call` with a fetcher for the user's active connection to `provider`, the way sync
/// windows do: the token is refreshed when it expires within 5 minutes, and once more when
/// the provider answers 401 (then the call is repeated). A refused refresh grant marks the
/// connection `revoked`; a 401 after a good refresh leaves it as is.
pub async fn with_connection_token<T, F>(
    state: &AppState,
    user: Uuid,
    provider: &str,
    call: F,
) -> Result<T, ConnectionCallError>
where
    F: for<'f> Fn(&'f Fetcher<'f>) -> FetchFuture<'f, T>,
{
    let Ready {
        mut conn,
        client,
        auth,
    } = match ready_connection(state, user, provider).await? {
        Ok(r) => r,
        Err(NotReady::NoConnection | NotReady::Inactive) => {
            return Err(ConnectionCallError::NotConnected);
        }
        Err(NotReady::NotConfigured) => return Err(ConnectionCallError::NotConfigured),
        Err(NotReady::Revoked) => return Err(ConnectionCallError::Revoked),
    };
    let mut refreshed = false;
    loop {
        let Some(sealed) = conn.access_token.clone() else {
            return Err(ConnectionCallError::NotConnected);
        };
        let token = state.cipher.open(&sealed)?;
        let result = {
            let f = fetcher(state, &client, &conn, &token);
            call(&f).await
        };
        match result {
            Err(FetchError::Unauthorized) if !refreshed && conn.refresh_token.is_some() => {
                refreshed = true;
                match refresh(state, &client, auth, &mut conn).await? {
                    Refresh::Done => {}
                    Refresh::Refused => {
                        mark_revoked(state, &mut conn).await?;
                        return Err(ConnectionCallError::Revoked);
                    }
                    Refresh::Inactive => return Err(ConnectionCallError::NotConnected),
                }
            }
            other => return Ok(other?),
        }
    }
}

/// Learns a provider account id (and username, if missing) the OAuth callback could not (its
/// lookup failed): webhooks are attributed by it. Push providers' windows must not run without
/// it (the data they request arrives by webhook); a pull window goes on when the provider
/// refuses the lookup for good, and a later window asks again.
async fn learn_identity(
    state: &AppState,
    provider: Provider,
    client: &OAuthClient,
    conn: &mut Connection,
    token: &str,
) -> Result<Learned, FetchError> {
    if conn.provider_user_id.is_some() {
        return Ok(Learned::Known);
    }
    let integration = super::integration(provider);
    let identity = if integration.identify_on_sync() {
        integration
            .user_info(&fetcher(state, client, conn, token))
            .await
    } else {
        Ok(None)
    };
    let identity = match identity {
        Ok(i) => i,
        // A refused user-info call (a scope the user withheld, say) must not block pulled
        // data. 401 and transient errors are the window's own (refresh, retry).
        Err(FetchError::Permanent(m)) if provider.info().rest_pull => {
            tracing::warn!(%provider, user = %conn.user_id, "provider account id not learned: {m}");
            None
        }
        Err(e) => return Err(e),
    };
    if let Some(id) = identity.as_ref().and_then(|i| i.id.clone()) {
        tracing::info!(%provider, user = %conn.user_id, "provider account id learned");
        let username = identity.and_then(|i| i.username);
        let now = state.now();
        let saved = state
            .db
            .update_active_connection(conn.user_id, provider.as_str(), |c| {
                c.provider_user_id = Some(id.clone());
                if c.provider_username.is_none() {
                    c.provider_username.clone_from(&username);
                }
                c.updated_at = now;
            })
            .await
            .map_err(|e| FetchError::Transient(e.to_string()))?;
        match saved {
            Some(c) => *conn = c,
            None => return Ok(Learned::Inactive),
        }
    }
    Ok(Learned::Known)
}

/// What [`learn_identity`] found.
enum Learned {
    /// The account id is known (or could not be learned and the window goes on).
    Known,
    /// The connection stopped being active meanwhile: the window stops.
    Inactive,
}

/// Why a window stopped when its connection was revoked while it ran.
const REVOKED_DURING_SYNC: &str = "the connection was revoked during the sync";

/// Attempts of a window retried by the queue itself before the retry is handed to the schedule.
pub const QUICK_ATTEMPTS: u32 = 3;
/// Longest wait between scheduled retries of a window.
pub const MAX_RETRY_MINUTES: i64 = 60;

/// How one attempt at a window ended.
enum Attempt {
    /// Stored (the write path queued the roll-ups): how many records the provider gave.
    Synced(usize),
    /// Nothing to do (no active connection, provider not configured...).
    Skipped(&'static str),
    /// The grant was refused: the connection is now `revoked`.
    Revoked,
    /// The provider refused the request for good.
    Failed(String),
}

/// The sync job: pulls `[start, end)` for one connection and stores it, recording the run
/// (#55–#57). A window that meets 429/5xx/timeouts is retried by the queue
/// [`QUICK_ATTEMPTS`] times, then by the schedule with a growing delay, as long as the
/// connection stays active: it never advances `last_synced_at` until it really synced.
pub async fn run(
    state: &AppState,
    user: Uuid,
    provider: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<(), SyncError> {
    let run_id = window_run_id(user, provider, start, end);
    let now = state.now();
    let mut rec = match state.db.sync_run(user, &run_id).await? {
        Some(r) => r,
        None => SyncRun {
            run_id,
            user_id: user,
            provider: provider.to_string(),
            source: "pull".into(),
            stage: SyncStage::Queued,
            status: SyncStatus::InProgress,
            message: None,
            error: None,
            progress: None,
            items_processed: None,
            items_total: None,
            primary_user_id: None,
            window_start: Some(start),
            window_end: Some(end),
            attempts: 0,
            next_attempt_at: None,
            started_at: None,
            ended_at: None,
            last_update: now,
        },
    };
    rec.attempts += 1;
    rec.started_at.get_or_insert(now);
    if rec.attempts == 1 {
        crate::services::webhooks::sync_changed(state, &rec, true).await;
    }
    let attempt = attempt_window(state, user, provider, start, end).await;
    let now = state.now();
    rec.last_update = now;
    rec.next_attempt_at = None;
    match attempt {
        Ok(Attempt::Synced(items)) => {
            rec.stage = SyncStage::Completed;
            rec.status = SyncStatus::Success;
            rec.progress = Some(1.0);
            rec.items_processed = Some(items as i64);
            rec.items_total = Some(items as i64);
            rec.message = Some(format!("{items} records synced"));
            rec.error = None;
            rec.ended_at = Some(now);
        }
        Ok(Attempt::Skipped(why)) => {
            rec.stage = SyncStage::Completed;
            rec.status = SyncStatus::Skipped;
            rec.message = Some(why.into());
            rec.ended_at = Some(now);
        }
        Ok(Attempt::Revoked) => {
            rec.stage = SyncStage::Failed;
            rec.status = SyncStatus::Failed;
            rec.error = Some("the provider refused the grant: the connection is revoked".into());
            rec.ended_at = Some(now);
        }
        Ok(Attempt::Failed(m)) => {
            tracing::error!(provider, user = %user, "sync window failed permanently: {m}");
            rec.stage = SyncStage::Failed;
            rec.status = SyncStatus::Failed;
            rec.error = Some(m);
            rec.ended_at = Some(now);
        }
        Err(SyncError::Retry(m)) => {
            rec.stage = SyncStage::Fetching;
            rec.status = SyncStatus::InProgress;
            rec.error = Some(m.clone());
            if rec.attempts < QUICK_ATTEMPTS {
                rec.message = Some(format!("attempt {} failed, retrying", rec.attempts));
                state.db.record_sync(&rec, serde_json::json!({})).await?;
                return Err(SyncError::Retry(m));
            }
            let wait = Duration::minutes(
                (1i64 << (rec.attempts - QUICK_ATTEMPTS).min(6)).min(MAX_RETRY_MINUTES),
            );
            rec.stage = SyncStage::Queued;
            rec.next_attempt_at = Some(now + wait);
            rec.message = Some(format!(
                "provider unavailable after {} attempts; retrying at {}",
                rec.attempts,
                (now + wait).to_rfc3339()
            ));
            tracing::warn!(provider, user = %user, attempts = rec.attempts, "sync window postponed: {m}");
        }
        Err(e @ SyncError::Store(_)) => return Err(e),
    }
    state.db.record_sync(&rec, serde_json::json!({})).await?;
    crate::services::webhooks::sync_changed(state, &rec, false).await;
    Ok(())
}

/// One attempt at a window: token refresh when due, the pull (refreshing once on 401), the
/// store, and `last_synced_at`.
async fn attempt_window(
    state: &AppState,
    user: Uuid,
    provider: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Attempt, SyncError> {
    // Sync windows run for REST pull, or a backfill request whose data the provider pushes to
    // our webhook (Garmin's Backfill API). Scheduled polling decides separately (live sync
    // mode `pull` only), so Garmin is never polled.
    let Some(kind) = provider
        .parse::<Provider>()
        .ok()
        .filter(|p| p.info().supports_pull())
    else {
        return Ok(Attempt::Skipped("the provider has no pull API"));
    };
    let Ready {
        mut conn,
        client,
        auth,
    } = match ready_connection(state, user, provider).await? {
        Ok(r) => r,
        Err(NotReady::NoConnection) => return Ok(Attempt::Skipped("no connection")),
        Err(NotReady::Inactive) => return Ok(Attempt::Skipped("the connection is not active")),
        Err(NotReady::NotConfigured) => {
            return Ok(Attempt::Skipped("the provider is not configured"));
        }
        Err(NotReady::Revoked) => return Ok(Attempt::Revoked),
    };
    let mut refreshed = false;
    let pulled = loop {
        let Some(sealed) = conn.access_token.clone() else {
            return Ok(Attempt::Skipped("no access token"));
        };
        let token = state.cipher.open(&sealed)?;
        let result = match learn_identity(state, kind, &client, &mut conn, &token).await {
            Ok(Learned::Inactive) => return Ok(Attempt::Skipped(REVOKED_DURING_SYNC)),
            Ok(Learned::Known) => {
                let f = fetcher(state, &client, &conn, &token);
                super::integration(kind)
                    .pull(state, user, &f, start, end)
                    .await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(p) => break p,
            Err(FetchError::Unauthorized) if !refreshed => {
                refreshed = true;
                match refresh(state, &client, auth, &mut conn).await? {
                    Refresh::Done => {}
                    Refresh::Refused => {
                        mark_revoked(state, &mut conn).await?;
                        return Ok(Attempt::Revoked);
                    }
                    Refresh::Inactive => return Ok(Attempt::Skipped(REVOKED_DURING_SYNC)),
                }
            }
            Err(FetchError::Unauthorized) => {
                mark_revoked(state, &mut conn).await?;
                return Ok(Attempt::Revoked);
            }
            Err(FetchError::Transient(m)) => return Err(SyncError::Retry(m)),
            Err(FetchError::Permanent(m)) => return Ok(Attempt::Failed(m)),
            Err(e @ FetchError::Refused(..)) => return Ok(Attempt::Failed(e.to_string())),
        }
    };
    let items =
        pulled.samples.len() + pulled.workouts.len() + pulled.sleeps.len() + pulled.scores.len();
    // A revoke that arrived during the pull stops the window before it stores anything.
    if state
        .db
        .connection(user, provider)
        .await?
        .is_none_or(|c| c.status != ConnectionStatus::Active)
    {
        return Ok(Attempt::Skipped(REVOKED_DURING_SYNC));
    }
    store_pulled(state, &conn, pulled).await?;
    // Only a window that really synced moves last_synced_at, and only on a connection that is
    // still active (a conditional write: a revoke or disconnect meanwhile is never undone).
    let now = state.now();
    state
        .db
        .update_active_connection(user, provider, |c| {
            c.last_synced_at = Some(c.last_synced_at.map_or(end, |t| t.max(end)));
            c.updated_at = now;
        })
        .await?;
    Ok(Attempt::Synced(items))
}

/// The data source of a connection's pulled data (one per provider and device model).
fn pulled_data_source(
    conn: &Connection,
    device_model: Option<String>,
    now: DateTime<Utc>,
) -> DataSource {
    let (user, provider) = (conn.user_id, conn.provider.as_str());
    DataSource {
        id: Uuid::new_v5(
            &user,
            format!(
                "{provider}\u{1f}{}\u{1f}{provider}",
                device_model.clone().unwrap_or_default()
            )
            .as_bytes(),
        ),
        user_id: user,
        provider: provider.to_string(),
        user_connection_id: Some(conn.id),
        device_model,
        software_version: None,
        source: Some(provider.to_string()),
        device_type: None,
        original_source_name: None,
        created_at: now,
    }
}

/// The normalised form of what one connection's provider gave: its data source, samples,
/// workouts, sleep sessions and scores.
pub fn pulled_batch(conn: &Connection, p: Pulled, now: DateTime<Utc>) -> NormalizedBatch {
    let (user, provider) = (conn.user_id, conn.provider.as_str());
    let ds = pulled_data_source(conn, p.device_model, now);
    let mut batch = NormalizedBatch::new(BatchOrigin::Provider);
    batch.samples = p
        .samples
        .into_iter()
        .map(|s| SampleWrite {
            series: s.series,
            data_source_id: ds.id,
            at: s.at,
            value: s.value,
            zone_offset: s.zone,
            is_daily_total: s.daily_total.or(s.series.is_daily_total()),
        })
        .collect();
    batch.events = p
        .workouts
        .into_iter()
        .map(|w| EventRecord {
            id: Uuid::new_v4(),
            data_source_id: ds.id,
            category: "workout".into(),
            event_type: w.workout_type,
            source_name: p.source_name.clone(),
            duration_seconds: Some((w.end - w.start).num_seconds()),
            start: w.start,
            end: w.end,
            zone_offset: w.zone,
            external_id: w.external_id,
            details: Some(EventDetails::Workout(w.details)),
            created_at: now,
        })
        .collect();
    batch
        .events
        .extend(p.sleeps.into_iter().map(|s| EventRecord {
            id: Uuid::new_v4(),
            data_source_id: ds.id,
            category: "sleep".into(),
            event_type: Some("sleep_session".into()),
            source_name: p.source_name.clone(),
            duration_seconds: Some((s.end - s.start).num_seconds()),
            start: s.start,
            end: s.end,
            zone_offset: s.zone,
            external_id: s.external_id,
            details: Some(EventDetails::Sleep(SleepDetailsDraft {
                total_sleep_minutes: s.total_sleep_minutes,
                time_in_bed_minutes: s.time_in_bed_minutes,
                deep_minutes: s.deep_minutes,
                rem_minutes: s.rem_minutes,
                light_minutes: s.light_minutes,
                awake_minutes: s.awake_minutes,
                efficiency: s.efficiency,
                is_nap: s.is_nap,
                stages: s.stages,
            })),
            created_at: now,
        }));
    batch.scores = p
        .scores
        .into_iter()
        .map(|s| HealthScore {
            id: Uuid::new_v4(),
            user_id: user,
            data_source_id: Some(ds.id),
            provider: provider.to_string(),
            category: s.category,
            value: s.value,
            qualifier: s.qualifier,
            recorded_at: s.recorded_at,
            zone_offset: s.zone,
            components: s.components,
            sleep_record_id: None,
            created_at: now,
        })
        .collect();
    batch.sources = vec![ds];
    batch
}

/// Stores a pull (or webhook delivery) of one connection through the write path, which also
/// queues the roll-ups of the days it touched.
pub async fn store_pulled(
    state: &AppState,
    conn: &Connection,
    p: Pulled,
) -> Result<WriteOutcome, StoreError> {
    let batch = pulled_batch(conn, p, state.now());
    write_batch(state, conn.user_id, batch).await
}

//! Inbound provider webhooks (providers.md §2.5, api.md §15): each provider module verifies and
//! parses its own requests into [`WebhookEvent`]s; this module resolves the provider account to
//! our connections and acts on the events before the provider gets its acknowledgement.
//!
//! Data a webhook carries (Garmin push) is stored before the 200, so a failed store answers 5xx
//! and the provider redelivers: nothing is lost. Ping notifications queue a sync window of the
//! connection; the pull then fetches the data with the connection's own token.

use std::collections::{BTreeSet, HashMap};

use axum::http::{HeaderMap, Method, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::sync::Pulled;
use crate::config::OAuthClient;
use crate::domain::provider::Provider;

/// One inbound webhook call, as the provider module sees it.
pub struct WebhookRequest<'a> {
    pub method: &'a Method,
    pub query: &'a HashMap<String, String>,
    pub headers: &'a HeaderMap,
    /// The raw body bytes (HMACs are computed over them).
    pub body: &'a [u8],
    pub now: DateTime<Utc>,
    /// The provider's OAuth client, when configured (client secrets sign some webhooks).
    pub client: Option<&'a OAuthClient>,
    /// Provider settings by name (`OURA_WEBHOOK_VERIFICATION_TOKEN`, ...).
    pub settings: &'a HashMap<String, String>,
    /// `SECRET_KEY`: only the root secrets we choose are derived from (never compared or sent
    /// itself, see [`crate::keys`]).
    pub secret_key: &'a str,
}

impl WebhookRequest<'_> {
    /// A secret we chose and handed to the provider (verify tokens, Google's bearer secret):
    /// its setting, else derived from `SECRET_KEY` for this purpose.
    pub fn chosen_secret(&self, purpose: crate::keys::Purpose) -> String {
        crate::keys::resolve(self.settings, self.secret_key, purpose)
    }

    /// A secret the provider issued to us (Polar's, Suunto's): its setting or nothing — there
    /// is no default, so its webhooks are refused until it is configured or stored.
    pub fn issued_secret(&self, name: &str) -> Option<&str> {
        self.settings
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.trim().is_empty())
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as a JSON value, or the reference's 400.
    pub fn json(&self) -> Result<Value, WebhookError> {
        serde_json::from_slice(self.body)
            .map_err(|_| WebhookError::BadRequest("Invalid JSON body".into()))
    }
}

/// What a provider module answers.
#[derive(Debug)]
pub enum WebhookReply {
    /// Act on these events, then answer 200 `{"status": "accepted"}`.
    Accept(Vec<WebhookEvent>),
    /// Answer this directly (challenges, pings): status and JSON body.
    Respond(StatusCode, Value),
}

/// A refused webhook call.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// 401 (`Invalid webhook signature` and friends).
    #[error("{0}")]
    Unauthorized(String),
    /// 403 (Strava's verify token).
    #[error("{0}")]
    Forbidden(String),
    /// 400.
    #[error("{0}")]
    BadRequest(String),
    /// 400: this provider has no such webhook operation (the caller chose the provider).
    #[error("{0}")]
    NotSupported(String),
}

impl WebhookError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotSupported(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// The reference's 401 for a bad signature.
    pub fn bad_signature() -> Self {
        Self::Unauthorized("Invalid webhook signature".into())
    }
}

/// What one webhook notification means for one provider account (`provider_user_id` as stored
/// on the connection).
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookEvent {
    /// New or changed data in `[start, end)`: pull that window for the account's connections.
    Sync {
        provider_user_id: String,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    /// The payload carries the data itself (Garmin push): store it for every active connection
    /// of the account.
    Data {
        provider_user_id: String,
        pulled: Pulled,
    },
    /// The user withdrew consent at the provider: the connections become `revoked`.
    Deauthorized { provider_user_id: String },
    /// The granted permissions changed: the connections' scope becomes this (empty: none).
    Scope {
        provider_user_id: String,
        scope: String,
    },
    /// The provider delivered data of this kind (Garmin: a Backfill API path); it answers a
    /// backfill request of the account's connections. Comes after the data it announces.
    Delivered {
        provider_user_id: String,
        kind: String,
    },
    /// The user deleted a record at the provider: the event (`workout` or `sleep`) with this
    /// external id from this provider is deleted too.
    Deleted {
        provider_user_id: String,
        category: String,
        external_id: String,
    },
    /// A record changed at the provider (Strava `update`): the stored event with this external
    /// id is dropped and the window around it pulled again, so the new version is stored
    /// (storage keeps the first write otherwise). Unknown records pull `[start, end)`.
    Replaced {
        provider_user_id: String,
        category: String,
        external_id: String,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
}

impl WebhookEvent {
    /// The provider account the event is about.
    pub fn provider_user_id(&self) -> &str {
        match self {
            Self::Sync {
                provider_user_id, ..
            }
            | Self::Data {
                provider_user_id, ..
            }
            | Self::Deauthorized { provider_user_id }
            | Self::Scope {
                provider_user_id, ..
            }
            | Self::Delivered {
                provider_user_id, ..
            }
            | Self::Deleted {
                provider_user_id, ..
            }
            | Self::Replaced {
                provider_user_id, ..
            } => provider_user_id,
        }
    }
}

/// Deletes the user's `category` events from `provider` with this external id; answers them.
async fn delete_by_external_id(
    state: &crate::app::AppState,
    user: uuid::Uuid,
    provider: &str,
    category: &str,
    external_id: &str,
) -> Result<Vec<crate::repo::health::EventRecord>, crate::store::StoreError> {
    let sources = state.db.data_source_map(user).await?;
    let mut gone = Vec::new();
    for e in state.db.events(user, category, None, None).await? {
        let ours = sources
            .get(&e.data_source_id)
            .is_some_and(|d| d.provider == provider);
        if ours && e.external_id.as_deref() == Some(external_id) {
            state.db.delete_event(user, &e).await?;
            gone.push(e);
        }
    }
    Ok(gone)
}

/// Constant-time comparison of two byte strings.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub use crate::keys::secrets::hmac_sha256;

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The 200 every accepted webhook answers.
pub fn accepted() -> Value {
    json!({"status": "accepted"})
}

/// Counts of what a webhook did (logged, and returned to tests).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WebhookOutcome {
    pub connections: usize,
    pub sync_windows: usize,
    pub stored: usize,
    pub revoked: usize,
    pub deleted: usize,
    /// State-changing events the provider's API contradicted (or could not confirm): ignored.
    pub unconfirmed: usize,
    pub unknown_users: BTreeSet<String>,
}

/// The provider call that confirms a state-changing event of a provider that signs nothing
/// (issue #9 item 2): anyone who learns the webhook URL could forge those events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A call that works while the grant does (deauthorization is real when it is refused).
    Account(&'static str),
    /// The record's own URL (its deletion is real when the provider answers 404).
    Record(String),
    /// Garmin's permissions read back (the scope is what Garmin says, not what the push said).
    Permissions(&'static str),
    /// The record's own URL (a change that replaces our copy is real when the record exists).
    Current(String),
}

/// Confirms a state-changing event for one connection with the provider's API, using the
/// connection's own token (refreshed as sync windows do). Answers the event to act on, or
/// `None` when the provider contradicts it (the token still works, the record still exists)
/// or cannot say; a transient provider failure is an error, so the provider redelivers.
/// `conn` is re-read afterwards: a refresh (or a refused refresh) may have changed it.
async fn confirm(
    state: &crate::app::AppState,
    provider: Provider,
    conn: &mut crate::repo::connections::Connection,
    event: &WebhookEvent,
) -> Result<Option<WebhookEvent>, crate::store::StoreError> {
    use super::sync::{ConnectionCallError as E, FetchError as F};
    let Some(probe) = super::integration(provider).probe(event) else {
        return Ok(Some(event.clone()));
    };
    let key = provider.as_str();
    let path = match &probe {
        Probe::Account(p) | Probe::Permissions(p) => (*p).to_string(),
        Probe::Record(p) | Probe::Current(p) => p.clone(),
    };
    let answer = super::sync::with_connection_token(state, conn.user_id, key, move |f| {
        let path = path.clone();
        Box::pin(async move { f.get_raw(&path, &[]).await })
    })
    .await;
    if let Some(fresh) = state.db.connection(conn.user_id, key).await? {
        *conn = fresh;
    }
    let user = conn.user_id;
    let verdict = match (&probe, answer) {
        (_, Err(E::Store(e))) => return Err(e),
        (_, Err(E::Fetch(F::Transient(m)))) => {
            return Err(crate::store::StoreError::Backend(format!(
                "{provider} webhook: the event could not be confirmed yet: {m}"
            )));
        }
        // The grant is refused: a deauthorization is real.
        (Probe::Account(_), Err(E::Revoked | E::Fetch(F::Unauthorized))) => Some(event.clone()),
        // The record is gone at the provider: its deletion is real.
        (Probe::Record(_), Err(E::Fetch(F::Refused(404, _)))) => Some(event.clone()),
        // The record is there at the provider: replacing our copy with a fresh pull is real.
        (Probe::Current(_), Ok(_)) => Some(event.clone()),
        (Probe::Permissions(_), Ok(v)) => Some(WebhookEvent::Scope {
            provider_user_id: event.provider_user_id().to_string(),
            scope: super::garmin::scope_of(&v),
        }),
        (_, other) => {
            let answer = match &other {
                Ok(_) => "the provider answered normally".to_string(),
                Err(e) => e.to_string(),
            };
            tracing::warn!(
                %provider,
                %user,
                ?probe,
                %answer,
                "webhook event contradicted or not confirmed by the provider's API: ignored"
            );
            None
        }
    };
    Ok(verdict)
}

/// Acts on verified events: queues sync windows, stores carried data, revokes or re-scopes
/// connections. Every active connection of the provider account is served (profiles linked to
/// one provider account all get the data). Unknown accounts are logged and skipped: the
/// provider still gets its 200, as processing would be asynchronous in the reference.
pub async fn apply(
    state: &crate::app::AppState,
    provider: Provider,
    events: Vec<WebhookEvent>,
) -> Result<WebhookOutcome, crate::store::StoreError> {
    let key = provider.as_str();
    let mut out = WebhookOutcome::default();
    let mut jobs = Vec::new();
    for event in events {
        let puid = event.provider_user_id().to_string();
        let mut conns: Vec<_> = state
            .db
            .connections_by_provider_user(key, &puid)
            .await?
            .into_iter()
            .filter(|c| c.status == crate::domain::states::ConnectionStatus::Active)
            .collect();
        if conns.is_empty() {
            tracing::info!(%provider, provider_user_id = %puid, "webhook for an unknown or inactive provider user: skipped");
            out.unknown_users.insert(puid);
            continue;
        }
        conns.sort_by_key(|c| c.created_at);
        out.connections += conns.len();
        for mut conn in conns {
            // Unsigned providers' state changes are confirmed with their API first.
            let Some(event) = confirm(state, provider, &mut conn, &event).await? else {
                out.unconfirmed += 1;
                continue;
            };
            let now = state.now();
            match &event {
                WebhookEvent::Sync { start, end, .. } => {
                    let w = super::sync::window_jobs(conn.user_id, conn.provider, *start, *end);
                    out.sync_windows += w.len();
                    jobs.extend(w);
                }
                WebhookEvent::Data { pulled, .. } => {
                    let n = pulled.samples.len()
                        + pulled.workouts.len()
                        + pulled.sleeps.len()
                        + pulled.scores.len();
                    // Each push with data is a sync run of its own (source `webhook`).
                    let run =
                        crate::services::sync_runs::begin(state, conn.user_id, key, "webhook")
                            .await;
                    if let Err(e) = super::sync::store_pulled(state, &conn, pulled.clone()).await {
                        crate::services::sync_runs::fail(
                            state,
                            run,
                            "the pushed data could not be stored",
                        )
                        .await;
                        return Err(e);
                    }
                    crate::services::sync_runs::complete(
                        state,
                        run,
                        crate::services::sync_runs::Stored {
                            records_saved: pulled.samples.len(),
                            workouts_saved: pulled.workouts.len(),
                            sleep_saved: pulled.sleeps.len(),
                            dropped_count: 0,
                        },
                    )
                    .await;
                    out.stored += n;
                    state
                        .db
                        .update_active_connection(conn.user_id, key, |c| {
                            c.last_synced_at = Some(now);
                            c.updated_at = now;
                        })
                        .await?;
                }
                WebhookEvent::Deauthorized { .. } => {
                    tracing::info!(%provider, user = %conn.user_id, "provider reports deauthorization: connection revoked");
                    if let Some(before) = state.db.revoke_connection(conn.user_id, key, now).await?
                    {
                        out.revoked += 1;
                        crate::services::webhooks::connection_revoked(
                            state,
                            &before,
                            "provider_deauthorized",
                        )
                        .await;
                    }
                }
                WebhookEvent::Deleted {
                    category,
                    external_id,
                    ..
                } => {
                    for e in delete_by_external_id(state, conn.user_id, key, category, external_id)
                        .await?
                    {
                        out.deleted += 1;
                        jobs.push(crate::app::Job::Rollup {
                            user_id: conn.user_id,
                            date: crate::domain::time::local_date(e.end, e.zone_offset.as_deref()),
                        });
                    }
                }
                WebhookEvent::Replaced {
                    category,
                    external_id,
                    start,
                    end,
                    ..
                } => {
                    let gone =
                        delete_by_external_id(state, conn.user_id, key, category, external_id)
                            .await?;
                    out.deleted += gone.len();
                    let mut windows: Vec<(DateTime<Utc>, DateTime<Utc>)> = gone
                        .iter()
                        .map(|e| {
                            (
                                e.start - chrono::Duration::days(1),
                                (e.end + chrono::Duration::days(1)).min(now.max(e.end)),
                            )
                        })
                        .collect();
                    if windows.is_empty() {
                        windows.push((*start, *end));
                    }
                    for (a, b) in windows {
                        let w = super::sync::window_jobs(conn.user_id, conn.provider, a, b);
                        out.sync_windows += w.len();
                        jobs.extend(w);
                    }
                }
                WebhookEvent::Delivered { kind, .. } => {
                    super::integration(provider)
                        .delivered(state, conn.user_id, kind)
                        .await?;
                }
                WebhookEvent::Scope { scope, .. } => {
                    let scope = Some(scope.clone()).filter(|s| !s.is_empty());
                    state
                        .db
                        .update_active_connection(conn.user_id, key, |c| {
                            c.scope.clone_from(&scope);
                            c.updated_at = now;
                        })
                        .await?;
                }
            }
        }
    }
    if !jobs.is_empty()
        && let Err(e) = state.queue.enqueue(jobs).await
    {
        // The data is stored; a lost sync window would be lost data, so the provider retries.
        return Err(crate::store::StoreError::Backend(format!(
            "webhook jobs were not queued: {e}"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd"));
    }
}

//! Provider connections, provider settings and OAuth states.
//!
//! | item | pk | sk | gsi1 |
//! |---|---|---|---|
//! | connection | `USER#<uuid>` | `CONN#<provider>` | `PUID#<provider>#<provider user id>` / `<user uuid>` |
//! | provider setting | `PSET` | `<provider>` | – |
//! | OAuth state | `OAUTH#<state>` | `_` (TTL 15 min, deleted on use) | – |
//! | webhook signing secret | `WHSECRET` | `<provider>` (encrypted) | – |
//!
//! OAuth tokens are stored encrypted (AES-256-GCM, key from configuration).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::users::user_pk;
use super::{Db, ONE, decode, encode};
use crate::domain::provider::Provider;
use crate::domain::states::ConnectionStatus;
use crate::store::{
    Condition, Index, Item, Key, Query, SkRange, StoreError, WriteOp, is_live, query_all,
};

/// A user ↔ provider link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub id: Uuid,
    pub user_id: Uuid,
    pub provider: Provider,
    pub provider_user_id: Option<String>,
    pub provider_username: Option<String>,
    pub scope: Option<String>,
    pub status: ConnectionStatus,
    /// Encrypted access token.
    pub access_token: Option<String>,
    /// Encrypted refresh token.
    pub refresh_token: Option<String>,
    pub token_expires_at: Option<DateTime<Utc>>,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the scheduler next pulls this connection.
    #[serde(default)]
    pub next_poll_at: Option<DateTime<Utc>>,
}

/// A provider setting row.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProviderSetting {
    pub is_enabled: Option<bool>,
    pub live_sync_mode: Option<String>,
    pub data_granularity: Option<String>,
}

/// A pending OAuth authorization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OAuthState {
    pub user_id: Uuid,
    pub provider: String,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Encrypts and decrypts tokens at rest.
#[derive(Clone)]
pub struct TokenCipher {
    cipher: Aes256Gcm,
    /// The key of installations from before the derived token key: opens, never seals.
    legacy: Option<Aes256Gcm>,
}

fn aes_key(secret: &str) -> Aes256Gcm {
    let key = Sha256::digest(secret.as_bytes());
    Aes256Gcm::new_from_slice(&key).unwrap_or_else(|_| Aes256Gcm::new(&key))
}

impl TokenCipher {
    /// A cipher keyed by SHA-256 of the configured secret.
    pub fn new(secret: &str) -> Self {
        Self {
            cipher: aes_key(secret),
            legacy: None,
        }
    }

    /// The cipher of a configuration: its token key for new writes; values sealed under the
    /// legacy key (`SECRET_KEY` itself, before the derived key) still open.
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            cipher: aes_key(&config.token_key),
            legacy: config.legacy_token_key.as_deref().map(aes_key),
        }
    }

    /// `base64(nonce ‖ ciphertext)`.
    pub fn seal(&self, plain: &str) -> Result<String, StoreError> {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(&Nonce::from(nonce), plain.as_bytes())
            .map_err(|_| StoreError::Backend("token encryption failed".into()))?;
        Ok(base64::engine::general_purpose::STANDARD.encode([nonce.as_slice(), &ct].concat()))
    }

    pub fn open(&self, sealed: &str) -> Result<String, StoreError> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|_| StoreError::Backend("corrupt sealed token".into()))?;
        if raw.len() < 12 {
            return Err(StoreError::Backend("corrupt sealed token".into()));
        }
        let (nonce, ct) = raw.split_at(12);
        let nonce: [u8; 12] = nonce
            .try_into()
            .map_err(|_| StoreError::Backend("corrupt sealed token".into()))?;
        let nonce = Nonce::from(nonce);
        let plain = self
            .cipher
            .decrypt(&nonce, ct)
            .or_else(|e| match &self.legacy {
                Some(legacy) => legacy.decrypt(&nonce, ct),
                None => Err(e),
            })
            .map_err(|_| StoreError::Backend("token decryption failed (wrong key?)".into()))?;
        String::from_utf8(plain).map_err(|_| StoreError::Backend("corrupt sealed token".into()))
    }
}

/// Attempts of one conditional connection write before it gives up (each conflict means
/// another writer succeeded, so this is only reached under pathological contention).
const CONNECTION_WRITE_ATTEMPTS: usize = 16;

fn conn_item(c: &Connection) -> Result<Item, StoreError> {
    let mut item = Item::new(
        user_pk(c.user_id),
        format!("CONN#{}", c.provider),
        encode(c)?,
    );
    if let Some(puid) = &c.provider_user_id {
        item = item.with_gsi1(format!("PUID#{}#{puid}", c.provider), c.user_id.to_string());
    }
    // Active pull connections are listed for the scheduler, ordered by when they are due.
    if c.status == ConnectionStatus::Active && c.provider.info().rest_pull {
        let due = c.next_poll_at.unwrap_or(c.created_at);
        item = item.with_gsi2(
            "POLL",
            format!("{}#{}#{}", super::sort_ts(due), c.user_id, c.provider),
        );
    }
    Ok(item)
}

impl Db {
    pub async fn connection(
        &self,
        user: Uuid,
        provider: &str,
    ) -> Result<Option<Connection>, StoreError> {
        self.table
            .get(&Key::new(user_pk(user), format!("CONN#{provider}")))
            .await?
            .map(|i| decode(&i))
            .transpose()
    }

    pub async fn connections(&self, user: Uuid) -> Result<Vec<Connection>, StoreError> {
        let q =
            Query::partition(Index::Primary, user_pk(user)).range(SkRange::Prefix("CONN#".into()));
        query_all(self.table.as_ref(), q)
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    /// Writes the whole connection (a new connection, or a reconnect that replaces the row).
    /// Like every connection write it bumps the item version, so a concurrent conditional
    /// update ([`Db::update_active_connection`]) that read the old row fails and re-reads.
    pub async fn save_connection(&self, c: &Connection) -> Result<(), StoreError> {
        self.modify_connection(c.user_id, c.provider.as_str(), |_| Some(c.clone()))
            .await
            .map(drop)
    }

    /// Applies `f` to the stored connection if it is still `active`, under a version
    /// condition (re-read and re-applied on a conflict). Answers the saved connection, or
    /// `None` when there is none or it is no longer active: a revoke that landed while a sync
    /// was in flight is never undone by the sync's write, and the sync learns it must stop.
    pub async fn update_active_connection(
        &self,
        user: Uuid,
        provider: &str,
        mut f: impl FnMut(&mut Connection),
    ) -> Result<Option<Connection>, StoreError> {
        self.modify_connection(user, provider, |cur| {
            let mut c = cur.filter(|c| c.status == ConnectionStatus::Active)?;
            f(&mut c);
            Some(c)
        })
        .await
    }

    /// Marks the connection `revoked` and drops its tokens, whatever writes race with it (a
    /// revoke always wins). Answers the connection as it was before, `None` when there is
    /// none or it was already revoked.
    pub async fn revoke_connection(
        &self,
        user: Uuid,
        provider: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Connection>, StoreError> {
        let mut before = None;
        self.modify_connection(user, provider, |cur| {
            let mut c = cur.filter(|c| c.status != ConnectionStatus::Revoked)?;
            before = Some(c.clone());
            c.status = ConnectionStatus::Revoked;
            c.access_token = None;
            c.refresh_token = None;
            c.token_expires_at = None;
            c.updated_at = now;
            Some(c)
        })
        .await?;
        Ok(before)
    }

    /// Read-modify-write of one connection under a version condition. `f` gets the stored
    /// connection (or `None`) and answers what to write (`None`: write nothing).
    async fn modify_connection(
        &self,
        user: Uuid,
        provider: &str,
        mut f: impl FnMut(Option<Connection>) -> Option<Connection>,
    ) -> Result<Option<Connection>, StoreError> {
        let key = Key::new(user_pk(user), format!("CONN#{provider}"));
        for _ in 0..CONNECTION_WRITE_ATTEMPTS {
            let stored = self.table.get(&key).await?;
            let version = stored.as_ref().map(|i| i.version);
            let current: Option<Connection> = stored.as_ref().map(decode).transpose()?;
            let was_active = current
                .as_ref()
                .is_some_and(|c| c.status == ConnectionStatus::Active);
            let Some(next) = f(current) else {
                return Ok(None);
            };
            let mut item = conn_item(&next)?;
            item.version = version.map_or(0, |v| v + 1);
            let cond = version.map_or(Condition::NotExists, Condition::VersionIs);
            let is_active = next.status == ConnectionStatus::Active;
            let written = if was_active == is_active {
                self.table.put(item, cond).await
            } else {
                // The dashboard counters change in the same transaction as the connection.
                let (before, set_version) = self.active_set(user).await?;
                let mut after = before.clone();
                if is_active {
                    after.providers.insert(provider.to_string());
                } else {
                    after.providers.remove(provider);
                }
                let mut ops = vec![
                    WriteOp::Put(item, cond),
                    Db::active_set_op(user, &after, set_version)?,
                ];
                let deltas = super::stats::active_transition(&before, &after);
                if !deltas.is_empty() {
                    ops.push(WriteOp::Add(super::stats::stats_key(), deltas));
                }
                self.table.transact(ops).await
            };
            match written {
                Ok(()) => return Ok(Some(next)),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Backend(format!(
            "connection {user}/{provider}: {CONNECTION_WRITE_ATTEMPTS} concurrent writes in a row"
        )))
    }

    /// Connections of other users to the same provider account.
    pub async fn connections_by_provider_user(
        &self,
        provider: &str,
        puid: &str,
    ) -> Result<Vec<Connection>, StoreError> {
        let q = Query::partition(Index::Gsi1, format!("PUID#{provider}#{puid}"));
        query_all(self.table.as_ref(), q)
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    /// Active pull connections due at `now` (a gsi2 range query).
    pub async fn due_connections(&self, now: DateTime<Utc>) -> Result<Vec<Connection>, StoreError> {
        let q = Query::partition(Index::Gsi2, "POLL")
            .range(SkRange::To(format!("{}~", super::sort_ts(now))));
        query_all(self.table.as_ref(), q)
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    // ---------- webhook signing secrets ----------

    /// Stores a provider's webhook signing secret (sealed by the caller).
    pub async fn save_webhook_secret(
        &self,
        provider: &str,
        sealed: &str,
    ) -> Result<(), StoreError> {
        let item = Item::new("WHSECRET", provider, encode(&sealed)?);
        self.table.put(item, Condition::None).await
    }

    /// A provider's stored webhook signing secret (sealed).
    pub async fn webhook_secret(&self, provider: &str) -> Result<Option<String>, StoreError> {
        match self.table.get(&Key::new("WHSECRET", provider)).await? {
            Some(i) => decode(&i).map(Some),
            None => Ok(None),
        }
    }

    // ---------- provider settings ----------

    pub async fn provider_settings(
        &self,
    ) -> Result<std::collections::HashMap<String, ProviderSetting>, StoreError> {
        let items = query_all(
            self.table.as_ref(),
            Query::partition(Index::Primary, "PSET"),
        )
        .await?;
        items
            .iter()
            .map(|i| decode(i).map(|s| (i.sk.clone(), s)))
            .collect()
    }

    pub async fn save_provider_setting(
        &self,
        provider: &str,
        s: &ProviderSetting,
    ) -> Result<(), StoreError> {
        self.table
            .put(Item::new("PSET", provider, encode(s)?), Condition::None)
            .await
    }

    // ---------- OAuth states ----------

    pub async fn put_oauth_state(
        &self,
        state: &str,
        s: &OAuthState,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let item = Item::new(format!("OAUTH#{state}"), ONE, encode(s)?).with_ttl(expires_at);
        self.table.put(item, Condition::NotExists).await
    }

    /// Reads and deletes a state (single use). `None` when unknown, already used or expired.
    pub async fn take_oauth_state(
        &self,
        state: &str,
        now_epoch: i64,
    ) -> Result<Option<OAuthState>, StoreError> {
        let key = Key::new(format!("OAUTH#{state}"), ONE);
        let Some(item) = self.table.get(&key).await? else {
            return Ok(None);
        };
        // Deleting under a version condition makes concurrent replays lose.
        match self
            .table
            .delete(&key, Condition::VersionIs(item.version))
            .await
        {
            Ok(()) => {}
            Err(StoreError::ConditionFailed) => return Ok(None),
            Err(e) => return Err(e),
        }
        if !is_live(&item, now_epoch) {
            return Ok(None);
        }
        Ok(Some(decode(&item)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_need_the_key() {
        let c = TokenCipher::new("a-secret-key-of-some-length");
        let sealed = c.seal("access-123").expect("seal");
        assert_ne!(sealed, "access-123");
        assert_ne!(sealed, c.seal("access-123").expect("seal"), "random nonces");
        assert_eq!(c.open(&sealed).expect("open"), "access-123");
        assert!(
            TokenCipher::new("another-key-entirely")
                .open(&sealed)
                .is_err()
        );
        assert!(c.open("garbage").is_err());
    }

    #[test]
    fn the_token_key_is_derived_and_legacy_tokens_still_open() {
        let dir = tempfile::tempdir().expect("dir");
        let config = crate::config::Config::for_tests(dir.path());
        assert_ne!(config.token_key, config.secret_key, "never the signing key");
        assert_eq!(
            config.legacy_token_key.as_deref(),
            Some(&*config.secret_key)
        );
        // What an installation from before the derived key sealed.
        let old = TokenCipher::new(&config.secret_key)
            .seal("old-access")
            .expect("seal");
        let c = TokenCipher::from_config(&config);
        assert_eq!(c.open(&old).expect("legacy opens"), "old-access");
        // New writes use the derived key: the signing key alone does not open them.
        let new = c.seal("new-access").expect("seal");
        assert!(TokenCipher::new(&config.secret_key).open(&new).is_err());
        assert!(TokenCipher::new(&config.token_key).open(&new).is_ok());
        assert_eq!(c.open(&new).expect("open"), "new-access");
        // An explicit TOKEN_ENCRYPTION_KEY has no legacy fallback.
        let explicit = crate::config::Config::for_tests_with(
            dir.path(),
            &[("TOKEN_ENCRYPTION_KEY", "an-explicit-token-key-0123")],
        );
        assert_eq!(explicit.token_key, "an-explicit-token-key-0123");
        assert!(explicit.legacy_token_key.is_none());
        assert!(TokenCipher::from_config(&explicit).open(&old).is_err());
    }
}

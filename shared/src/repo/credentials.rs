//! API keys, SDK applications, refresh tokens and user invitation codes. Secrets are looked up
//! by SHA-256 digest; application secrets, refresh tokens and codes are stored only as that
//! digest, API keys also sealed with the token key (the key list shows them, as the
//! reference's does).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Db, ONE, decode, encode, sort_ts};
use crate::keys::secrets::{ct_eq, digest};
use crate::store::{Condition, Index, Item, Key, Query, StoreError, query_all};

/// Characters after `sk-` that form a key's public id (the rest stays secret).
pub const API_KEY_ID_HEX: usize = 8;

/// A stored API key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKey {
    /// Public identifier: `sk-` + the key's first 8 hex characters.
    pub id: String,
    pub key_hash: String,
    /// The full key sealed with the token cipher (`TokenCipher::seal`), so the list can show
    /// it; `None` for keys created before keys were listable (they list by public id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_key: Option<String>,
    pub name: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// The public id of a full key (`sk-` + 32 hex), or the id itself when given an id.
pub fn api_key_id(key_or_id: &str) -> Option<String> {
    let hex = key_or_id.strip_prefix("sk-")?;
    let id = hex.get(..API_KEY_ID_HEX)?;
    if !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(format!("sk-{id}"))
}

/// An SDK application.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Application {
    pub id: Uuid,
    pub app_id: String,
    pub name: String,
    pub secret_hash: String,
    pub developer_id: Uuid,
    pub created_at: DateTime<Utc>,
}

/// Who a refresh token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefreshKind {
    Developer,
    Sdk,
}

/// A stored refresh token (keyed by its digest).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshToken {
    pub kind: RefreshKind,
    /// Developer id or user id.
    pub sub: Uuid,
    pub app_id: Option<String>,
    pub revoked: bool,
    pub created_at: DateTime<Utc>,
    /// The developer's token generation when issued (developer tokens): a password change
    /// moves the generation on, and older tokens stop refreshing.
    #[serde(default)]
    pub generation: u64,
}

/// A user invitation code (SDK onboarding).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvitationCode {
    pub id: Uuid,
    pub code: String,
    pub user_id: Uuid,
    pub created_by: Uuid,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub redeemed_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl InvitationCode {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.redeemed_at.is_none() && self.revoked_at.is_none() && self.expires_at > now
    }
}

fn app_key(app_id: &str) -> Key {
    Key::new(format!("APP#{app_id}"), ONE)
}

fn rt_key(token: &str) -> Key {
    Key::new(format!("RT#{}", digest(token)), ONE)
}

fn generation_key(developer: Uuid) -> Key {
    Key::new(format!("DEVRTGEN#{developer}"), ONE)
}

fn code_key(code: &str) -> Key {
    Key::new(format!("UCODE#{code}"), ONE)
}

impl Db {
    // --- API keys ---

    pub async fn create_api_key(&self, k: &ApiKey) -> Result<(), StoreError> {
        let item = Item::new("APIKEY", &k.id, encode(k)?);
        self.table.put(item, Condition::NotExists).await
    }

    pub async fn api_key(&self, key_or_id: &str) -> Result<Option<ApiKey>, StoreError> {
        let Some(id) = api_key_id(key_or_id) else {
            return Ok(None);
        };
        self.table
            .get(&Key::new("APIKEY", id))
            .await?
            .map(|i| decode(&i))
            .transpose()
    }

    /// The key record if `presented` is a valid full key (digest compared in constant time).
    pub async fn verify_api_key(&self, presented: &str) -> Result<Option<ApiKey>, StoreError> {
        let Some(k) = self.api_key(presented).await? else {
            return Ok(None);
        };
        Ok(ct_eq(&k.key_hash, &digest(presented)).then_some(k))
    }

    pub async fn api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let items = query_all(
            self.table.as_ref(),
            Query::partition(Index::Primary, "APIKEY"),
        )
        .await?;
        let mut keys: Vec<ApiKey> = items.iter().map(decode).collect::<Result<_, _>>()?;
        keys.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        Ok(keys)
    }

    pub async fn save_api_key(&self, k: &ApiKey) -> Result<(), StoreError> {
        let item = Item::new("APIKEY", &k.id, encode(k)?);
        self.table.put(item, Condition::Exists).await
    }

    pub async fn delete_api_key(&self, id: &str) -> Result<(), StoreError> {
        self.table
            .delete(&Key::new("APIKEY", id), Condition::None)
            .await
    }

    // --- Applications ---

    fn app_item(a: &Application) -> Result<Item, StoreError> {
        let k = app_key(&a.app_id);
        Ok(Item::new(k.pk, k.sk, encode(a)?).with_gsi1(
            format!("DEVAPP#{}", a.developer_id),
            format!("{}#{}", sort_ts(a.created_at), a.app_id),
        ))
    }

    pub async fn create_application(&self, a: &Application) -> Result<(), StoreError> {
        self.table
            .put(Self::app_item(a)?, Condition::NotExists)
            .await
    }

    pub async fn save_application(&self, a: &Application) -> Result<(), StoreError> {
        self.table.put(Self::app_item(a)?, Condition::Exists).await
    }

    pub async fn application(&self, app_id: &str) -> Result<Option<Application>, StoreError> {
        self.table
            .get(&app_key(app_id))
            .await?
            .map(|i| decode(&i))
            .transpose()
    }

    /// Applications of one developer, newest first.
    pub async fn applications_of(&self, developer: Uuid) -> Result<Vec<Application>, StoreError> {
        let q = Query::partition(Index::Gsi1, format!("DEVAPP#{developer}")).descending();
        let items = query_all(self.table.as_ref(), q).await?;
        items.iter().map(decode).collect()
    }

    pub async fn delete_application(&self, app_id: &str) -> Result<(), StoreError> {
        self.table.delete(&app_key(app_id), Condition::None).await
    }

    // --- Refresh tokens ---

    pub async fn create_refresh_token(
        &self,
        token: &str,
        rt: &RefreshToken,
    ) -> Result<(), StoreError> {
        let k = rt_key(token);
        let mut item = Item::new(k.pk, k.sk, encode(rt)?);
        if rt.kind == RefreshKind::Sdk {
            item = item.with_gsi1(format!("RTUSER#{}", rt.sub), sort_ts(rt.created_at));
        }
        self.table.put(item, Condition::NotExists).await
    }

    /// Marks a live refresh token revoked, exactly once: concurrent callers race on the
    /// item version and only one wins. Returns the token as it was, or `None` when it is
    /// unknown, already revoked, or lost the race.
    pub async fn consume_refresh_token(
        &self,
        token: &str,
    ) -> Result<Option<RefreshToken>, StoreError> {
        let Some(item) = self.table.get(&rt_key(token)).await? else {
            return Ok(None);
        };
        let rt: RefreshToken = decode(&item)?;
        if rt.revoked {
            return Ok(None);
        }
        let mut revoked = rt.clone();
        revoked.revoked = true;
        let mut next = item.clone();
        next.data = encode(&revoked)?;
        next.version = item.version + 1;
        match self
            .table
            .put(next, Condition::VersionIs(item.version))
            .await
        {
            Ok(()) => Ok(Some(rt)),
            Err(StoreError::ConditionFailed) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The developer's refresh-token generation (0 until the first password change).
    pub async fn developer_token_generation(&self, developer: Uuid) -> Result<u64, StoreError> {
        match self.table.get(&generation_key(developer)).await? {
            Some(item) => decode(&item),
            None => Ok(0),
        }
    }

    /// Moves the developer's refresh-token generation on: every refresh token issued before
    /// stops working (one item per developer, apart from the developer record, so that no
    /// concurrent profile update can write an older generation back).
    pub async fn revoke_developer_refresh_tokens(&self, developer: Uuid) -> Result<(), StoreError> {
        for _ in 0..8 {
            let (next, cond) = match self.table.get(&generation_key(developer)).await? {
                Some(item) => (
                    decode::<u64>(&item)?.saturating_add(1),
                    Condition::VersionIs(item.version),
                ),
                None => (1, Condition::NotExists),
            };
            let k = generation_key(developer);
            let mut item = Item::new(k.pk, k.sk, encode(&next)?);
            if let Condition::VersionIs(v) = cond {
                item.version = v + 1;
            }
            match self.table.put(item, cond).await {
                Ok(()) => return Ok(()),
                // Someone else moved it on at the same time: that revokes the same tokens.
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::ConditionFailed)
    }

    /// Removes every SDK refresh token of a user.
    pub async fn delete_user_refresh_tokens(&self, user: Uuid) -> Result<(), StoreError> {
        let q = Query::partition(Index::Gsi1, format!("RTUSER#{user}"));
        let keys = query_all(self.table.as_ref(), q)
            .await?
            .iter()
            .map(Item::key)
            .collect();
        self.table.batch_delete(keys).await
    }

    // --- Invitation codes ---

    fn code_item(c: &InvitationCode) -> Result<Item, StoreError> {
        let k = code_key(&c.code);
        Ok(Item::new(k.pk, k.sk, encode(c)?)
            .with_gsi1(format!("USERCODE#{}", c.user_id), sort_ts(c.created_at)))
    }

    pub async fn create_invitation_code(&self, c: &InvitationCode) -> Result<(), StoreError> {
        self.table
            .put(Self::code_item(c)?, Condition::NotExists)
            .await
    }

    pub async fn invitation_codes_of(
        &self,
        user: Uuid,
    ) -> Result<Vec<(Item, InvitationCode)>, StoreError> {
        let q = Query::partition(Index::Gsi1, format!("USERCODE#{user}"));
        let items = query_all(self.table.as_ref(), q).await?;
        items
            .into_iter()
            .map(|i| decode(&i).map(|c| (i, c)))
            .collect()
    }

    pub async fn invitation_code(
        &self,
        code: &str,
    ) -> Result<Option<(Item, InvitationCode)>, StoreError> {
        let Some(item) = self.table.get(&code_key(code)).await? else {
            return Ok(None);
        };
        let c = decode(&item)?;
        Ok(Some((item, c)))
    }

    /// Writes a changed code only if nobody changed it since `prev` was read.
    pub async fn update_invitation_code(
        &self,
        prev: &Item,
        c: &InvitationCode,
    ) -> Result<(), StoreError> {
        let mut next = Self::code_item(c)?;
        next.version = prev.version + 1;
        self.table
            .put(next, Condition::VersionIs(prev.version))
            .await
    }

    pub async fn delete_user_invitation_codes(&self, user: Uuid) -> Result<(), StoreError> {
        let keys = self
            .invitation_codes_of(user)
            .await?
            .iter()
            .map(|(i, _)| i.key())
            .collect();
        self.table.batch_delete(keys).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_the_public_prefix() {
        assert_eq!(
            api_key_id("sk-0123456789abcdef0123456789abcdef").as_deref(),
            Some("sk-01234567")
        );
        assert_eq!(api_key_id("sk-01234567").as_deref(), Some("sk-01234567"));
        assert_eq!(api_key_id("sk-0123"), None);
        assert_eq!(api_key_id("pk-0123456789"), None);
        assert_eq!(api_key_id("sk-ééééé"), None);
    }
}

//! Users (the data owners). The profile item heads the user's partition `USER#<uuid>`; the
//! `USERS` partition of gsi1 lists every user in creation order.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Db, ONE, decode, encode, sort_ts};
use crate::store::{Condition, Index, Item, Key, Query, StoreError, WriteOp, query_all};

/// A user profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub external_user_id: Option<String>,
}

/// Why a user write failed.
#[derive(Debug, thiserror::Error)]
pub enum UserWriteError {
    /// The deprecated `external_user_id` is unique; it belongs to this user.
    #[error("external_user_id already used by user {0}")]
    ExternalIdTaken(Uuid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The partition key of a user's items.
pub fn user_pk(id: Uuid) -> String {
    format!("USER#{id}")
}

fn profile_key(id: Uuid) -> Key {
    Key::new(user_pk(id), "PROFILE")
}

fn ext_key(ext: &str) -> Key {
    Key::new(format!("EXTUSER#{ext}"), ONE)
}

fn profile_item(u: &User) -> Result<Item, StoreError> {
    let k = profile_key(u.id);
    Ok(Item::new(k.pk, k.sk, encode(u)?)
        .with_gsi1("USERS", format!("{}#{}", sort_ts(u.created_at), u.id)))
}

fn ext_item(ext: &str, id: Uuid) -> Result<Item, StoreError> {
    let k = ext_key(ext);
    Ok(Item::new(k.pk, k.sk, encode(&id)?))
}

impl Db {
    pub async fn user(&self, id: Uuid) -> Result<Option<User>, StoreError> {
        self.table
            .get(&profile_key(id))
            .await?
            .map(|i| decode(&i))
            .transpose()
    }

    pub async fn user_exists(&self, id: Uuid) -> Result<bool, StoreError> {
        Ok(self.table.get(&profile_key(id)).await?.is_some())
    }

    /// The user that holds an `external_user_id`, if any.
    pub async fn user_by_external_id(&self, ext: &str) -> Result<Option<User>, StoreError> {
        let Some(claim) = self.table.get(&ext_key(ext)).await? else {
            return Ok(None);
        };
        let id: Uuid = decode(&claim)?;
        self.user(id).await
    }

    /// Every user, oldest first (a gsi1 query, paged to the end).
    pub async fn all_users(&self) -> Result<Vec<User>, StoreError> {
        let items = query_all(self.table.as_ref(), Query::partition(Index::Gsi1, "USERS")).await?;
        items.iter().map(decode).collect()
    }

    pub async fn create_user(&self, u: &User) -> Result<(), UserWriteError> {
        let mut ops = vec![
            WriteOp::Put(profile_item(u)?, Condition::NotExists),
            WriteOp::Add(super::stats::stats_key(), vec![("users".into(), 1)]),
            // A new user has no chunks, so the day aggregates are complete from the start.
            Db::aggregates_ready_op(u.id),
        ];
        if let Some(ext) = &u.external_user_id {
            ops.push(WriteOp::Put(ext_item(ext, u.id)?, Condition::NotExists));
        }
        self.write_user(ops, u.external_user_id.as_deref()).await
    }

    pub async fn update_user(&self, old: &User, u: &User) -> Result<(), UserWriteError> {
        let mut ops = vec![WriteOp::Put(profile_item(u)?, Condition::Exists)];
        if old.external_user_id != u.external_user_id {
            if let Some(ext) = &u.external_user_id {
                ops.push(WriteOp::Put(ext_item(ext, u.id)?, Condition::NotExists));
            }
            if let Some(ext) = &old.external_user_id {
                ops.push(WriteOp::Delete(ext_key(ext), Condition::None));
            }
        }
        self.write_user(ops, u.external_user_id.as_deref()).await
    }

    async fn write_user(&self, ops: Vec<WriteOp>, ext: Option<&str>) -> Result<(), UserWriteError> {
        match self.table.transact(ops).await {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed) => match ext {
                Some(ext) => match self.user_by_external_id(ext).await? {
                    Some(holder) => Err(UserWriteError::ExternalIdTaken(holder.id)),
                    None => Err(StoreError::ConditionFailed.into()),
                },
                None => Err(StoreError::ConditionFailed.into()),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a user and everything stored for them: the user partition, the
    /// external-id claim, SDK refresh tokens and invitation codes.
    pub async fn delete_user(&self, u: &User) -> Result<(), StoreError> {
        self.delete_user_refresh_tokens(u.id).await?;
        self.delete_user_invitation_codes(u.id).await?;
        if let Some(ext) = &u.external_user_id {
            self.table.delete(&ext_key(ext), Condition::None).await?;
        }
        self.uncount_user_data(u.id).await?;
        let q = Query::partition(Index::Primary, user_pk(u.id));
        let mut keys: Vec<Key> = query_all(self.table.as_ref(), q)
            .await?
            .iter()
            .map(Item::key)
            .collect();
        // The profile goes last, so an interrupted delete can be retried through the API.
        keys.retain(|k| k.sk != "PROFILE");
        self.table.batch_delete(keys).await?;
        // The user counter goes with the profile: a retried delete counts once.
        match self
            .table
            .transact(vec![
                WriteOp::Delete(profile_key(u.id), Condition::Exists),
                WriteOp::Add(super::stats::stats_key(), vec![("users".into(), -1)]),
            ])
            .await
        {
            Err(StoreError::ConditionFailed) => Ok(()),
            r => r,
        }
    }
}

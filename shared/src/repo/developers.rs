//! Developers (dashboard accounts): one partition `DEV` listing them all, and an e-mail claim
//! item that makes e-mails unique and login a point read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Db, ONE, decode, encode};
use crate::store::{Condition, Index, Item, Key, Query, StoreError, WriteOp, query_all};

/// A developer account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Developer {
    pub id: Uuid,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Why a developer write failed.
#[derive(Debug, thiserror::Error)]
pub enum DeveloperWriteError {
    #[error("A developer with this email already exists")]
    EmailTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn key(id: Uuid) -> Key {
    Key::new("DEV", id.to_string())
}

fn email_key(email: &str) -> Key {
    Key::new(format!("DEVEMAIL#{email}"), ONE)
}

fn item(d: &Developer) -> Result<Item, StoreError> {
    Ok(Item::new("DEV", d.id.to_string(), encode(d)?))
}

fn email_item(d: &Developer) -> Result<Item, StoreError> {
    let k = email_key(&d.email);
    Ok(Item::new(k.pk, k.sk, encode(&d.id)?))
}

fn claim_failed(e: StoreError) -> DeveloperWriteError {
    match e {
        StoreError::ConditionFailed => DeveloperWriteError::EmailTaken,
        other => other.into(),
    }
}

impl Db {
    pub async fn developer(&self, id: Uuid) -> Result<Option<Developer>, StoreError> {
        self.table
            .get(&key(id))
            .await?
            .map(|i| decode(&i))
            .transpose()
    }

    pub async fn developer_by_email(&self, email: &str) -> Result<Option<Developer>, StoreError> {
        let Some(claim) = self.table.get(&email_key(email)).await? else {
            return Ok(None);
        };
        let id: Uuid = decode(&claim)?;
        self.developer(id).await
    }

    pub async fn developers(&self) -> Result<Vec<Developer>, StoreError> {
        let items = query_all(self.table.as_ref(), Query::partition(Index::Primary, "DEV")).await?;
        let mut devs: Vec<Developer> = items.iter().map(decode).collect::<Result<_, _>>()?;
        devs.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(devs)
    }

    /// Whether any developer exists (one-item query).
    pub async fn any_developer(&self) -> Result<bool, StoreError> {
        let page = self
            .table
            .query(&Query::partition(Index::Primary, "DEV").limit(1))
            .await?;
        Ok(!page.items.is_empty())
    }

    /// Creates a developer, claiming the e-mail atomically.
    pub async fn create_developer(&self, d: &Developer) -> Result<(), DeveloperWriteError> {
        self.table
            .transact(vec![
                WriteOp::Put(email_item(d)?, Condition::NotExists),
                WriteOp::Put(item(d)?, Condition::NotExists),
            ])
            .await
            .map_err(claim_failed)
    }

    /// Replaces a developer; moves the e-mail claim when the e-mail changed.
    pub async fn update_developer(
        &self,
        old_email: &str,
        d: &Developer,
    ) -> Result<(), DeveloperWriteError> {
        let mut ops = vec![WriteOp::Put(item(d)?, Condition::Exists)];
        if old_email != d.email {
            ops.push(WriteOp::Put(email_item(d)?, Condition::NotExists));
            ops.push(WriteOp::Delete(email_key(old_email), Condition::None));
        }
        self.table.transact(ops).await.map_err(claim_failed)
    }

    pub async fn delete_developer(&self, d: &Developer) -> Result<(), StoreError> {
        self.table
            .transact(vec![
                WriteOp::Delete(key(d.id), Condition::None),
                WriteOp::Delete(email_key(&d.email), Condition::None),
            ])
            .await
    }
}

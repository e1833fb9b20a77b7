//! Checkpoints of Apple Health imports from the import bucket (issue #13): where an import of
//! one object version stopped, so that the next invocation resumes there.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | checkpoint | `USER#<uuid>` | `IMPORTCKPT#<run id>` |
//!
//! The run id is derived from (bucket, key, ETag), so a re-delivered event or a re-queued job
//! of the same object version finds the checkpoint. Checkpoints live 7 days and are deleted
//! when the import ends; deleting the user deletes them with the partition.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::users::user_pk;
use super::{Db, decode, encode};
use crate::domain::apple_export::ReaderState;
use crate::store::{Condition, Item, Key, StoreError, is_live};

/// How long an abandoned checkpoint is kept.
pub const CHECKPOINT_DAYS: i64 = 7;

/// Where an import of one object version stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportCheckpoint {
    pub run_id: String,
    pub user_id: Uuid,
    pub bucket: String,
    pub key: String,
    pub etag: String,
    /// Byte offset of `export.xml` (a top-level element boundary) to continue from.
    pub offset: u64,
    /// The parser's source table and counts at `offset`.
    pub reader: ReaderState,
    /// Samples and workouts new to the store before `offset`.
    pub new_samples: u64,
    pub workouts_saved: u64,
    /// Invocations that continued from a checkpoint so far.
    pub resumes: u32,
    pub updated_at: DateTime<Utc>,
}

fn key(user: Uuid, run_id: &str) -> Key {
    Key::new(user_pk(user), format!("IMPORTCKPT#{run_id}"))
}

impl Db {
    pub async fn import_checkpoint(
        &self,
        user: Uuid,
        run_id: &str,
    ) -> Result<Option<ImportCheckpoint>, StoreError> {
        match self.table.get(&key(user, run_id)).await? {
            Some(i) if is_live(&i, Utc::now().timestamp()) => decode(&i).map(Some),
            _ => Ok(None),
        }
    }

    pub async fn save_import_checkpoint(&self, c: &ImportCheckpoint) -> Result<(), StoreError> {
        let k = key(c.user_id, &c.run_id);
        let item = Item::new(k.pk, k.sk, encode(c)?)
            .with_ttl((c.updated_at + Duration::days(CHECKPOINT_DAYS)).timestamp());
        self.table.put(item, Condition::None).await
    }

    pub async fn delete_import_checkpoint(
        &self,
        user: Uuid,
        run_id: &str,
    ) -> Result<(), StoreError> {
        self.table.delete(&key(user, run_id), Condition::None).await
    }
}

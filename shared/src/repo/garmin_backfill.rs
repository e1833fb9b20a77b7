//! Garmin backfill progress (api.md §12 #49–#51, providers.md §4.1.4): one item per user that
//! records what the Backfill API was asked for and what Garmin has pushed since. The state and
//! its transitions are [`crate::domain::garmin_backfill`]; this module loads and saves it.
//!
//! | item | pk | sk | ttl |
//! |---|---|---|---|
//! | backfill state | `USER#<uuid>` | `GARMINBACKFILL` | 7 days after its last update |
//!
//! Writers read-modify-write the item under its version, so the window job and concurrent
//! webhook deliveries never overwrite each other's changes.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::users::user_pk;
use super::{Db, decode, encode};
use crate::domain::garmin_backfill::GarminBackfill;
use crate::store::{Condition, Item, Key, StoreError, is_live};

/// The sort key of the item.
pub const SK: &str = "GARMINBACKFILL";

/// Days the item lives after its last update.
pub const TTL_DAYS: i64 = 7;

fn key(user: Uuid) -> Key {
    Key::new(user_pk(user), SK)
}

/// Attempts of one read-modify-write before giving up on contention.
const UPDATE_ATTEMPTS: usize = 25;

impl Db {
    /// The user's backfill state (`None`: none, or expired).
    pub async fn garmin_backfill(
        &self,
        user: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<GarminBackfill>, StoreError> {
        match self.table.get(&key(user)).await? {
            Some(i) if is_live(&i, now.timestamp()) => decode(&i).map(Some),
            _ => Ok(None),
        }
    }

    /// Read-modify-write of the user's backfill state under its version: `change` gets the
    /// current state and answers the state to store (`None`: leave it) and a result. Runs
    /// again when a concurrent writer got in between.
    pub async fn update_garmin_backfill<T>(
        &self,
        user: Uuid,
        now: DateTime<Utc>,
        mut change: impl FnMut(Option<&GarminBackfill>) -> (Option<GarminBackfill>, T),
    ) -> Result<T, StoreError> {
        for _ in 0..UPDATE_ATTEMPTS {
            let item = self.table.get(&key(user)).await?;
            let current: Option<GarminBackfill> = match &item {
                Some(i) if is_live(i, now.timestamp()) => Some(decode(i)?),
                _ => None,
            };
            let (next, out) = change(current.as_ref());
            let Some(next) = next else {
                return Ok(out);
            };
            if current.as_ref() == Some(&next) {
                return Ok(out);
            }
            let mut new = Item::new(user_pk(user), SK, encode(&next)?)
                .with_ttl((next.updated_at.max(now) + Duration::days(TTL_DAYS)).timestamp());
            let cond = match &item {
                Some(i) => {
                    new.version = i.version + 1;
                    Condition::VersionIs(i.version)
                }
                None => Condition::NotExists,
            };
            match self.table.put(new, cond).await {
                Ok(()) => return Ok(out),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Backend(
            "garmin backfill state: too much contention".into(),
        ))
    }

    /// Forgets the user's backfill state (a new consent starts afresh).
    pub async fn delete_garmin_backfill(&self, user: Uuid) -> Result<(), StoreError> {
        self.table.delete(&key(user), Condition::None).await
    }
}

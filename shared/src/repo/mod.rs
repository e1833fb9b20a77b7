//! Repositories: entities and their key design, written once over the table port.
//!
//! | item | pk | sk | gsi1 |
//! |---|---|---|---|
//! | developer | `DEV` | `<developer uuid>` | – |
//! | developer e-mail claim | `DEVEMAIL#<email>` | `_` | – |
//! | API key | `APIKEY` | `<key id sk-xxxxxxxx>` | – |
//! | SDK application | `APP#<app_id>` | `_` | `DEVAPP#<developer uuid>` / `<created_at>#<app_id>` |
//! | refresh token | `RT#<sha256 of token>` | `_` | `RTUSER#<user uuid>` / `<created_at>` (SDK tokens) |
//! | user | `USER#<uuid>` | `PROFILE` | `USERS` / `<created_at>#<uuid>` |
//! | external_user_id claim | `EXTUSER#<value>` | `_` | – |
//! | invitation code | `UCODE#<code>` | `_` | `USERCODE#<user uuid>` / `<created_at>` |
//!
//! Every per-user item lives in the partition `USER#<uuid>` or is reachable from the user
//! through gsi1, so deleting a user never needs a scan.

pub mod chunk;
pub mod connections;
pub mod credentials;
pub mod developers;
pub mod garmin_backfill;
pub mod health;
pub mod imports;
pub mod invitations;
pub mod lifecycle;
pub mod priorities;
pub mod series_agg;
pub mod stats;
pub mod sync_runs;
pub mod users;
pub mod webhooks;

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::{Item, StoreError, Table};

/// Entity access over the table port.
#[derive(Clone)]
pub struct Db {
    pub table: Arc<dyn Table>,
    /// Users whose day aggregates are known to be ready (the marker never goes away while
    /// the user exists); bounded, cleared when full.
    agg_ready: Arc<std::sync::Mutex<std::collections::HashSet<uuid::Uuid>>>,
    /// Users whose aggregates this process has asked to be built (bounded the same way).
    agg_requested: Arc<std::sync::Mutex<std::collections::HashSet<uuid::Uuid>>>,
}

/// How many users [`Db`] remembers as having ready aggregates.
const AGG_READY_CACHE: usize = 100_000;

impl Db {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self {
            table,
            agg_ready: Default::default(),
            agg_requested: Default::default(),
        }
    }
}

/// Serialises an entity into an item's payload.
pub fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Backend(format!("encode: {e}")))
}

/// Reads an entity from an item's payload.
pub fn decode<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    serde_json::from_slice(&item.data)
        .map_err(|e| StoreError::Backend(format!("decode {}/{}: {e}", item.pk, item.sk)))
}

/// A sortable timestamp for sort keys (fixed width, microseconds, UTC).
pub fn sort_ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Placeholder sort key for single-item partitions.
pub const ONE: &str = "_";

/// Drops sub-microsecond precision, matching what PostgreSQL (and the wire format) keep.
pub fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

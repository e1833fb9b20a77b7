//! Instance counters maintained where the facts happen, so the dashboard and the storage
//! estimate never scan: one instance-wide counter item and one per user, both written with
//! [`WriteOp::Add`] (DynamoDB `ADD`, a write transaction in the embedded store), inside the
//! same transaction as the fact where there is one.
//!
//! | item | pk | sk | counters |
//! |---|---|---|---|
//! | instance counters | `STATS` | `_` | `users`, `active_connections`, `active_<provider>`, `users_with_active`, `users_with_multi_active`, `samples`, `chunks`, `chunk_bytes`, `workout`, `sleep`, `menstrual_cycle` |
//! | a user's counters | `USER#<uuid>` | `COUNTS` | `samples`, `chunks`, `chunk_bytes`, `workout`, `sleep`, `menstrual_cycle` |
//! | a user's active connections | `USER#<uuid>` | `ACTIVECONN` | versioned set of providers (not a counter item) |

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Db, ONE, decode, encode};
use crate::store::{Counters, Item, Key, StoreError, WriteOp};

pub const STATS_PK: &str = "STATS";
/// Event categories that have a counter.
pub const COUNTED_EVENTS: [&str; 3] = ["workout", "sleep", "menstrual_cycle"];

pub fn stats_key() -> Key {
    Key::new(STATS_PK, ONE)
}

pub fn user_counts_key(user: Uuid) -> Key {
    Key::new(format!("USER#{user}"), "COUNTS")
}

pub fn active_set_key(user: Uuid) -> Key {
    Key::new(format!("USER#{user}"), "ACTIVECONN")
}

/// What one write added (or, negated, removed) for one user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataDelta {
    pub samples: i64,
    pub chunks: i64,
    pub chunk_bytes: i64,
    /// Per counted event category (`workout`, `sleep`, `menstrual_cycle`).
    pub events: Vec<(String, i64)>,
}

impl DataDelta {
    pub fn is_empty(&self) -> bool {
        self.samples == 0
            && self.chunks == 0
            && self.chunk_bytes == 0
            && self.events.iter().all(|(_, n)| *n == 0)
    }

    fn counters(&self) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        for (name, n) in [
            ("samples", self.samples),
            ("chunks", self.chunks),
            ("chunk_bytes", self.chunk_bytes),
        ] {
            if n != 0 {
                out.push((name.to_string(), n));
            }
        }
        // One entry per name: DynamoDB refuses an update naming an attribute twice.
        let mut per_cat = std::collections::BTreeMap::<&str, i64>::new();
        for (cat, n) in &self.events {
            if COUNTED_EVENTS.contains(&cat.as_str()) {
                *per_cat.entry(cat.as_str()).or_default() += n;
            }
        }
        out.extend(
            per_cat
                .into_iter()
                .filter(|(_, n)| *n != 0)
                .map(|(c, n)| (c.to_string(), n)),
        );
        out
    }

    /// The ops that record this delta on the user's and the instance's counters.
    pub fn ops(&self, user: Uuid) -> Vec<WriteOp> {
        let c = self.counters();
        if c.is_empty() {
            return Vec::new();
        }
        vec![
            WriteOp::Add(user_counts_key(user), c.clone()),
            WriteOp::Add(stats_key(), c),
        ]
    }
}

/// Which providers a user has active connections with (versioned with the connection write).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ActiveSet {
    pub providers: BTreeSet<String>,
}

/// The instance counter deltas of one user's active set going from `before` to `after`.
pub fn active_transition(before: &ActiveSet, after: &ActiveSet) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for p in after.providers.difference(&before.providers) {
        out.push((format!("active_{p}"), 1));
    }
    for p in before.providers.difference(&after.providers) {
        out.push((format!("active_{p}"), -1));
    }
    let (b, a) = (before.providers.len() as i64, after.providers.len() as i64);
    if a != b {
        out.push(("active_connections".into(), a - b));
    }
    let step = |n: i64, at_least: i64| i64::from(n >= at_least);
    let one = step(a, 1) - step(b, 1);
    if one != 0 {
        out.push(("users_with_active".into(), one));
    }
    let multi = step(a, 2) - step(b, 2);
    if multi != 0 {
        out.push(("users_with_multi_active".into(), multi));
    }
    out
}

impl Db {
    /// The instance counters.
    pub async fn instance_counters(&self) -> Result<Counters, StoreError> {
        self.table.counters(&stats_key()).await
    }

    /// A user's data counters.
    pub async fn user_counters(&self, user: Uuid) -> Result<Counters, StoreError> {
        self.table.counters(&user_counts_key(user)).await
    }

    /// Records what a write added for a user (one atomic update of both counter items).
    pub async fn count_data(&self, user: Uuid, delta: &DataDelta) -> Result<(), StoreError> {
        let ops = delta.ops(user);
        if ops.is_empty() {
            return Ok(());
        }
        self.table.transact(ops).await
    }

    /// The stored active set and its version (`None`: never written).
    pub async fn active_set(&self, user: Uuid) -> Result<(ActiveSet, Option<u64>), StoreError> {
        Ok(match self.table.get(&active_set_key(user)).await? {
            Some(item) => (decode(&item)?, Some(item.version)),
            None => (ActiveSet::default(), None),
        })
    }

    /// The put of a new active set under the version read.
    pub fn active_set_op(
        user: Uuid,
        set: &ActiveSet,
        version: Option<u64>,
    ) -> Result<WriteOp, StoreError> {
        let k = active_set_key(user);
        let mut item = Item::new(k.pk, k.sk, encode(set)?);
        item.version = version.map_or(0, |v| v + 1);
        let cond = version.map_or(crate::store::Condition::NotExists, |v| {
            crate::store::Condition::VersionIs(v)
        });
        Ok(WriteOp::Put(item, cond))
    }

    /// Takes a deleted user's data and connections off the instance counters (before the
    /// user's partition is deleted). Each part deletes its per-user item under a condition in
    /// the same transaction, so a retried user delete subtracts once.
    pub async fn uncount_user_data(&self, user: Uuid) -> Result<(), StoreError> {
        use crate::store::Condition;
        let counts = self.user_counters(user).await?;
        let deltas: Vec<(String, i64)> = counts
            .into_iter()
            .filter(|(_, n)| *n != 0)
            .map(|(k, n)| (k, -n))
            .collect();
        if !deltas.is_empty() {
            let r = self
                .table
                .transact(vec![
                    WriteOp::Delete(user_counts_key(user), Condition::Exists),
                    WriteOp::Add(stats_key(), deltas),
                ])
                .await;
            if !matches!(r, Ok(()) | Err(StoreError::ConditionFailed)) {
                return r;
            }
        }
        let (active, version) = self.active_set(user).await?;
        if let Some(v) = version {
            let mut ops = vec![WriteOp::Delete(
                active_set_key(user),
                Condition::VersionIs(v),
            )];
            let deltas = active_transition(&active, &ActiveSet::default());
            if !deltas.is_empty() {
                ops.push(WriteOp::Add(stats_key(), deltas));
            }
            let r = self.table.transact(ops).await;
            if !matches!(r, Ok(()) | Err(StoreError::ConditionFailed)) {
                return r;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ps: &[&str]) -> ActiveSet {
        ActiveSet {
            providers: ps.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn transitions_count_users_once_per_threshold() {
        let t = active_transition(&set(&[]), &set(&["oura"]));
        assert_eq!(
            t,
            vec![
                ("active_oura".to_string(), 1),
                ("active_connections".into(), 1),
                ("users_with_active".into(), 1)
            ]
        );
        let t = active_transition(&set(&["oura"]), &set(&["oura", "polar"]));
        assert!(t.contains(&("users_with_multi_active".into(), 1)));
        assert!(!t.iter().any(|(k, _)| k == "users_with_active"));
        let t = active_transition(&set(&["oura", "polar"]), &set(&[]));
        assert!(t.contains(&("users_with_multi_active".into(), -1)));
        assert!(t.contains(&("users_with_active".into(), -1)));
        assert!(t.contains(&("active_connections".into(), -2)));
        assert!(active_transition(&set(&["oura"]), &set(&["oura"])).is_empty());
    }
}

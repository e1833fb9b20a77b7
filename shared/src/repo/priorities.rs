//! Source priorities (api.md #95–#100): which provider and which device type wins when several
//! cover the same day. Items `PRIO` / `P#<provider>` and `PRIO` / `D#<device type>`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Db, decode, encode};
use crate::domain::summary::DeviceType;
use crate::store::{Condition, Index, Item, Query, SkRange, StoreError, query_all};

/// One priority row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Priority {
    pub id: Uuid,
    pub key: String,
    pub priority: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Provider defaults given to providers the first time their data arrives.
const PROVIDER_DEFAULTS: [(&str, u32); 5] = [
    ("apple", 1),
    ("garmin", 2),
    ("polar", 3),
    ("suunto", 4),
    ("whoop", 5),
];

/// The effective priorities (lower wins; absent = 99).
#[derive(Debug, Clone, Default)]
pub struct Priorities {
    pub providers: HashMap<String, u32>,
    pub devices: HashMap<String, u32>,
}

impl Priorities {
    pub fn provider(&self, p: &str) -> u32 {
        self.providers.get(p).copied().unwrap_or(99)
    }

    pub fn device(&self, d: DeviceType) -> u32 {
        self.devices
            .get(d.as_str())
            .copied()
            .unwrap_or_else(|| d.default_priority())
    }
}

impl Db {
    async fn priority_rows(&self, prefix: &str) -> Result<Vec<Priority>, StoreError> {
        let q = Query::partition(Index::Primary, "PRIO").range(SkRange::Prefix(prefix.into()));
        let mut rows: Vec<Priority> = query_all(self.table.as_ref(), q)
            .await?
            .iter()
            .map(decode)
            .collect::<Result<_, _>>()?;
        rows.sort_by(|a, b| a.priority.cmp(&b.priority).then(a.key.cmp(&b.key)));
        Ok(rows)
    }

    pub async fn provider_priorities(&self) -> Result<Vec<Priority>, StoreError> {
        self.priority_rows("P#").await
    }

    pub async fn device_priorities(&self) -> Result<Vec<Priority>, StoreError> {
        self.priority_rows("D#").await
    }

    /// Both tables, as used by source ranking (one query).
    pub async fn priorities(&self) -> Result<Priorities, StoreError> {
        let items = query_all(
            self.table.as_ref(),
            Query::partition(Index::Primary, "PRIO"),
        )
        .await?;
        let mut out = Priorities::default();
        for item in &items {
            let p: Priority = decode(item)?;
            if item.sk.starts_with("P#") {
                out.providers.insert(p.key, p.priority);
            } else {
                out.devices.insert(p.key, p.priority);
            }
        }
        Ok(out)
    }

    /// Creates or updates a row (`kind` is `P` or `D`).
    pub async fn set_priority(
        &self,
        kind: char,
        key: &str,
        priority: u32,
        now: DateTime<Utc>,
    ) -> Result<Priority, StoreError> {
        let rows = if kind == 'P' {
            self.provider_priorities().await?
        } else {
            self.device_priorities().await?
        };
        let row = match rows.into_iter().find(|r| r.key == key) {
            Some(mut r) => {
                r.priority = priority;
                r.updated_at = now;
                r
            }
            None => Priority {
                id: Uuid::new_v4(),
                key: key.to_string(),
                priority,
                created_at: now,
                updated_at: now,
            },
        };
        self.table
            .put(
                Item::new("PRIO", format!("{kind}#{key}"), encode(&row)?),
                Condition::None,
            )
            .await?;
        Ok(row)
    }

    /// Inserts the default device-type rows that are missing (start-up).
    pub async fn seed_device_priorities(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        for d in DeviceType::ALL {
            let row = Priority {
                id: Uuid::new_v4(),
                key: d.as_str().to_string(),
                priority: d.default_priority(),
                created_at: now,
                updated_at: now,
            };
            match self
                .table
                .put(
                    Item::new("PRIO", format!("D#{}", d.as_str()), encode(&row)?),
                    Condition::NotExists,
                )
                .await
            {
                Ok(()) | Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Gives a provider its default row the first time its data arrives (next free number for
    /// providers without a default).
    pub async fn ensure_provider_priority(
        &self,
        provider: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let rows = self.provider_priorities().await?;
        if rows.iter().any(|r| r.key == provider) {
            return Ok(());
        }
        let priority = PROVIDER_DEFAULTS
            .iter()
            .find(|(p, _)| *p == provider)
            .map(|(_, n)| *n)
            .unwrap_or_else(|| {
                rows.iter()
                    .map(|r| r.priority)
                    .filter(|p| *p < 99)
                    .max()
                    .unwrap_or(5)
                    .max(5)
                    + 1
            });
        let row = Priority {
            id: Uuid::new_v4(),
            key: provider.to_string(),
            priority,
            created_at: now,
            updated_at: now,
        };
        match self
            .table
            .put(
                Item::new("PRIO", format!("P#{provider}"), encode(&row)?),
                Condition::NotExists,
            )
            .await
        {
            Ok(()) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

//! Data lifecycle (api.md #89–#91): the archival/retention setting and the retention sweep
//! of one user. The sweep reads the user's own partition by key ranges (the series index
//! names the chunk ranges), never the whole table; it keeps the dashboard counters right by
//! deleting through the same counted paths.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | lifecycle setting | `SETTINGS` | `ARCHIVAL` |

use chrono::{DateTime, Timelike, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::health::EventRecord;
use super::stats::DataDelta;
use super::users::user_pk;
use super::{Db, chunk, decode, encode, series_agg, sort_ts};
use crate::domain::series::SeriesType;
use crate::store::{Condition, Index, Item, Key, Query, SkRange, StoreError, query_all};

/// `ArchivalSettingUpdate` / the stored setting (null: disabled).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleSetting {
    pub archive_after_days: Option<i64>,
    pub delete_after_days: Option<i64>,
}

/// What one sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub chunks: usize,
    pub samples: usize,
    pub events: usize,
    pub other: usize,
}

fn setting_key() -> Key {
    Key::new("SETTINGS", "ARCHIVAL")
}

impl Db {
    /// Drops the hours before `from_hour` from a day aggregate (optimistic, re-read on a race).
    async fn trim_aggregate(&self, mut item: Item, from_hour: u8) -> Result<(), StoreError> {
        for _ in 0..16 {
            let mut day = series_agg::DayAgg::decode(&item.data).unwrap_or_default();
            let before = day.hours.len();
            day.hours.retain(|h, _| *h >= from_hour);
            if day.hours.len() == before {
                return Ok(());
            }
            let key = item.key();
            let r = if day.hours.is_empty() {
                self.table
                    .delete(&key, Condition::VersionIs(item.version))
                    .await
            } else {
                let mut next = Item::new(key.pk.clone(), key.sk.clone(), day.encode());
                next.version = item.version + 1;
                self.table
                    .put(next, Condition::VersionIs(item.version))
                    .await
            };
            match r {
                Err(StoreError::ConditionFailed) => match self.table.get(&key).await? {
                    Some(i) => item = i,
                    None => return Ok(()),
                },
                r => return r,
            }
        }
        Err(StoreError::Backend(
            "a day aggregate stayed contended".into(),
        ))
    }

    pub async fn lifecycle_setting(&self) -> Result<LifecycleSetting, StoreError> {
        Ok(match self.table.get(&setting_key()).await? {
            Some(i) => decode(&i)?,
            None => LifecycleSetting::default(),
        })
    }

    pub async fn save_lifecycle_setting(&self, s: &LifecycleSetting) -> Result<(), StoreError> {
        let k = setting_key();
        self.table
            .put(Item::new(k.pk, k.sk, encode(s)?), Condition::None)
            .await
    }

    /// Deletes a user's samples (whole hour chunks that end before `cutoff`), events that
    /// start before it, and daily roll-ups and health scores dated before it.
    pub async fn sweep_user_before(
        &self,
        user: Uuid,
        cutoff: DateTime<Utc>,
    ) -> Result<Swept, StoreError> {
        let pk = user_pk(user);
        let mut swept = Swept::default();
        // Chunks: `TS#<series>#<YYYY-MM-DDTHH>#<source>`; an hour strictly before the cutoff's
        // hour has ended before the cutoff.
        let cutoff_hour = cutoff.format("%Y-%m-%dT%H").to_string();
        let mut removed = DataDelta::default();
        let mut doomed = Vec::new();
        for code in self.series_index(user).await? {
            if SeriesType::from_code(&code).is_none() {
                continue;
            }
            let q = Query::partition(Index::Primary, pk.clone()).range(SkRange::Between(
                format!("TS#{code}#"),
                format!("TS#{code}#{cutoff_hour}"),
            ));
            for item in query_all(self.table.as_ref(), q).await? {
                // `Between` is inclusive and "<hour>#..." sorts after "<hour>": the cutoff
                // hour itself is never in range.
                let n = chunk::count(&item.data).unwrap_or(0);
                swept.chunks += 1;
                swept.samples += n;
                removed.samples -= n as i64;
                removed.chunks -= 1;
                removed.chunk_bytes -= item.stored_size() as i64;
                doomed.push(item.key());
            }
            // Day aggregates: the days before the cutoff's go; the cutoff's own day keeps
            // only the hours from the cutoff's hour on.
            let cutoff_prefix = format!("TA#{code}#{}#", cutoff.format("%Y-%m-%d"));
            let q = Query::partition(Index::Primary, pk.clone()).range(SkRange::Between(
                format!("TA#{code}#"),
                format!("{cutoff_prefix}~"),
            ));
            for item in query_all(self.table.as_ref(), q).await? {
                if item.sk.starts_with(&cutoff_prefix) {
                    self.trim_aggregate(item, cutoff.hour() as u8).await?;
                } else {
                    doomed.push(item.key());
                }
            }
        }
        // Roll-ups `DAY#<date>#<source>` and scores `HS#<recorded_at>#...` before the cutoff.
        for (lo, hi) in [
            ("DAY#".to_string(), format!("DAY#{}", cutoff.date_naive())),
            ("HS#".to_string(), format!("HS#{}", sort_ts(cutoff))),
        ] {
            let q = Query::partition(Index::Primary, pk.clone()).range(SkRange::Between(lo, hi));
            for item in query_all(self.table.as_ref(), q).await? {
                swept.other += 1;
                doomed.push(item.key());
            }
        }
        self.table.batch_delete(doomed).await?;
        self.count_data(user, &removed).await?;
        // Events through the counted delete (claims and sleep scores go with them).
        for cat in super::stats::COUNTED_EVENTS {
            let q = Query::partition(Index::Primary, pk.clone()).range(SkRange::Between(
                format!("EV#{cat}#"),
                format!("EV#{cat}#{}", sort_ts(cutoff)),
            ));
            for item in query_all(self.table.as_ref(), q).await? {
                let e: EventRecord = decode(&item)?;
                self.delete_event(user, &e).await?;
                swept.events += 1;
            }
        }
        Ok(swept)
    }
}

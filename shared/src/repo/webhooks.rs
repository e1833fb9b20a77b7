//! Outgoing webhooks: endpoints, messages (the outbox), deliveries and attempts (api.md §16).
//!
//! | item | pk | sk | gsi1 | gsi2 | ttl |
//! |---|---|---|---|---|---|
//! | endpoint | `WHEP` | `<endpoint id>` | `WHEPDEV#<developer>` / `<created_at>#<id>` | – | – |
//! | message | `WHMSG#<msg id>` | `_` | `WHMSGS` / `<timestamp>#<msg id>` | `WHFAN` / `<timestamp>#<msg id>` until fanned out | 30 days |
//! | delivery (message × endpoint) | `WHMSG#<msg id>` | `EP#<endpoint id>` | – | `WHDUE` / `<next attempt>#<msg id>#<endpoint id>` while pending | 30 days |
//! | attempt | `WHATT#<endpoint id>` | `<timestamp>#<attempt id>` | – | – | 30 days |
//!
//! The message id derives from the event's idempotency key, so a message is stored once
//! whatever re-emits it (`NotExists`). A message waits in `WHFAN` until its deliveries exist;
//! a delivery waits in `WHDUE` until it succeeded or failed for good: the schedule finds both
//! after a crash, so nothing held in memory is needed for a message to reach its endpoints.

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{Db, ONE, decode, encode, sort_ts};
use crate::domain::webhooks::{DeliveryStatus, RETENTION_SECONDS, Trigger};
use crate::store::{Condition, Index, Item, Key, Query, SkRange, StoreError, is_live, query_all};

const EP_PK: &str = "WHEP";
const MSGS: &str = "WHMSGS";
const FANOUT: &str = "WHFAN";
const DUE: &str = "WHDUE";

/// An integrator's endpoint. Secrets are sealed with the token cipher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: String,
    pub developer_id: Uuid,
    pub url: String,
    pub description: Option<String>,
    pub filter_types: Option<Vec<String>>,
    pub user_id: Option<Uuid>,
    /// Set after failing for 5 days without a success (or by hand, later).
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    /// The sealed `whsec_` secret.
    pub secret: String,
    /// The sealed secret before the last rotation, still signing until `previous_until`.
    pub previous_secret: Option<String>,
    pub previous_until: Option<DateTime<Utc>>,
    /// First failure since the last success.
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One source of the samples of a time-series message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleSource {
    pub provider: String,
    pub device: Option<String>,
}

/// One sample of a time-series message: `(epoch µs, value, zone offset, source index,
/// is_daily_total)`.
pub type CompactSample = (i64, f64, Option<String>, u16, Option<bool>);

/// A time-series message's data in compact form (a chunk of 2,500 samples stays far below the
/// item limit); [`Message::body`] renders the wire shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesData {
    pub user_id: Uuid,
    pub provider: String,
    pub series_type: String,
    pub unit: String,
    pub sample_count: usize,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub chunk_index: Option<usize>,
    pub total_chunks: Option<usize>,
    pub sources: Vec<SampleSource>,
    pub samples: Vec<CompactSample>,
}

/// What a message carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", content = "v", rename_all = "snake_case")]
pub enum MessageData {
    Json(Value),
    Series(SeriesData),
}

/// One emitted event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    pub user_id: Option<Uuid>,
    pub timestamp: DateTime<Utc>,
    pub data: MessageData,
    /// Delivered to this endpoint only (test events).
    pub only_endpoint: Option<String>,
    pub fanned_out: bool,
}

/// Python's `isoformat()` of a UTC time (`+00:00`, microseconds only when non-zero).
pub fn py_iso(t: DateTime<Utc>) -> String {
    use chrono::Timelike;
    if t.nanosecond() == 0 {
        t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
    }
}

impl Message {
    /// The delivered body: `{"type", "data"}`.
    pub fn body(&self) -> Value {
        serde_json::json!({"type": self.event_type, "data": self.data_json()})
    }

    /// The wire `data` object.
    pub fn data_json(&self) -> Value {
        match &self.data {
            MessageData::Json(v) => v.clone(),
            MessageData::Series(s) => {
                let samples: Vec<Value> = s
                    .samples
                    .iter()
                    .map(|(t, value, zone, src, daily)| {
                        let at = DateTime::from_timestamp_micros(*t).unwrap_or_default();
                        let source = s.sources.get(usize::from(*src));
                        serde_json::json!({
                            "timestamp": py_iso(at),
                            "zone_offset": zone,
                            "type": s.series_type,
                            "value": value,
                            "unit": s.unit,
                            "source": {
                                "provider": source.map(|x| x.provider.clone()),
                                "device": source.and_then(|x| x.device.clone()),
                            },
                            "is_daily_total": daily.unwrap_or(false),
                        })
                    })
                    .collect();
                let mut data = serde_json::json!({
                    "user_id": s.user_id,
                    "provider": s.provider,
                    "series_type": s.series_type,
                    "sample_count": s.sample_count,
                    "start_time": py_iso(s.start_time),
                    "end_time": py_iso(s.end_time),
                    "samples": samples,
                });
                if let (Some(i), Some(n)) = (s.chunk_index, s.total_chunks) {
                    data["chunk_index"] = i.into();
                    data["total_chunks"] = n.into();
                }
                data
            }
        }
    }
}

/// The state of one message for one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub msg_id: String,
    pub endpoint_id: String,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The stored item's version (not serialised into the payload's meaning).
    #[serde(skip)]
    pub version: u64,
}

/// One delivery attempt (#86).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub id: String,
    pub endpoint_id: String,
    pub msg_id: String,
    pub event_type: String,
    pub url: String,
    pub response: String,
    pub response_status_code: i64,
    pub response_duration_ms: i64,
    pub status: DeliveryStatus,
    pub trigger: Trigger,
    pub timestamp: DateTime<Utc>,
}

/// A page of a newest-first listing.
#[derive(Debug, Clone)]
pub struct ListPage<T> {
    pub items: Vec<T>,
    pub done: bool,
    pub iterator: Option<String>,
    pub prev_iterator: Option<String>,
}

/// Time bounds and cursor of a listing (#85, #86).
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub limit: usize,
    pub iterator: Option<String>,
    pub before: Option<DateTime<Utc>>,
    pub after: Option<DateTime<Utc>>,
}

fn msg_pk(id: &str) -> String {
    format!("WHMSG#{id}")
}

fn ttl_from(t: DateTime<Utc>) -> i64 {
    t.timestamp() + RETENTION_SECONDS
}

fn endpoint_item(e: &Endpoint) -> Result<Item, StoreError> {
    Ok(Item::new(EP_PK, e.id.clone(), encode(e)?).with_gsi1(
        format!("WHEPDEV#{}", e.developer_id),
        format!("{}#{}", sort_ts(e.created_at), e.id),
    ))
}

fn message_item(m: &Message) -> Result<Item, StoreError> {
    let ts = format!("{}#{}", sort_ts(m.timestamp), m.id);
    let mut item = Item::new(msg_pk(&m.id), ONE, encode(m)?)
        .with_gsi1(MSGS, ts.clone())
        .with_ttl(ttl_from(m.timestamp));
    if !m.fanned_out {
        item = item.with_gsi2(FANOUT, ts);
    }
    Ok(item)
}

fn delivery_item(d: &Delivery) -> Result<Item, StoreError> {
    let mut item = Item::new(
        msg_pk(&d.msg_id),
        format!("EP#{}", d.endpoint_id),
        encode(d)?,
    )
    .with_ttl(ttl_from(d.created_at));
    if let (DeliveryStatus::Pending | DeliveryStatus::Sending, Some(at)) =
        (d.status, d.next_attempt_at)
    {
        item = item.with_gsi2(
            DUE,
            format!("{}#{}#{}", sort_ts(at), d.msg_id, d.endpoint_id),
        );
    }
    Ok(item)
}

fn decode_delivery(i: &Item) -> Result<Delivery, StoreError> {
    let mut d: Delivery = decode(i)?;
    d.version = i.version;
    Ok(d)
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

fn unb64(s: &str) -> Option<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
}

/// Why a listing cursor is refused.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("Invalid iterator")]
    BadIterator,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Db {
    pub async fn put_endpoint(&self, e: &Endpoint, cond: Condition) -> Result<(), StoreError> {
        self.table.put(endpoint_item(e)?, cond).await
    }

    pub async fn endpoint(&self, id: &str) -> Result<Option<Endpoint>, StoreError> {
        match self.table.get(&Key::new(EP_PK, id)).await? {
            Some(i) => decode(&i).map(Some),
            None => Ok(None),
        }
    }

    /// A developer's endpoints, oldest first.
    pub async fn developer_endpoints(&self, dev: Uuid) -> Result<Vec<Endpoint>, StoreError> {
        let q = Query::partition(Index::Gsi1, format!("WHEPDEV#{dev}"));
        query_all(self.table.as_ref(), q)
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    /// Every endpoint of every developer (events are broadcast to all, as the reference).
    pub async fn all_endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        query_all(self.table.as_ref(), Query::partition(Index::Primary, EP_PK))
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    pub async fn delete_endpoint(&self, id: &str) -> Result<(), StoreError> {
        self.table
            .delete(&Key::new(EP_PK, id), Condition::None)
            .await
    }

    /// Stores messages that are not stored yet (one conditional put each); answers which
    /// ones are new, in order.
    pub async fn insert_messages(&self, msgs: &[Message]) -> Result<Vec<bool>, StoreError> {
        if msgs.is_empty() {
            return Ok(Vec::new());
        }
        let items = msgs
            .iter()
            .map(|m| Ok((message_item(m)?, Condition::NotExists)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let results = self.table.put_each(items).await?;
        results
            .into_iter()
            .map(|r| match r {
                Ok(()) => Ok(true),
                Err(StoreError::ConditionFailed) => Ok(false),
                Err(e) => Err(e),
            })
            .collect()
    }

    /// Replaces a message (its fan-out flag).
    pub async fn save_message(&self, m: &Message) -> Result<(), StoreError> {
        self.table.put(message_item(m)?, Condition::None).await
    }

    /// A message (the table's TTL removes it 30 days after it was emitted).
    pub async fn message(&self, id: &str) -> Result<Option<Message>, StoreError> {
        match self.table.get(&Key::new(msg_pk(id), ONE)).await? {
            Some(i) => decode(&i).map(Some),
            None => Ok(None),
        }
    }

    /// Messages by id (missing ones are absent).
    pub async fn messages(&self, ids: &[String]) -> Result<Vec<Message>, StoreError> {
        let mut keys: Vec<Key> = ids.iter().map(|i| Key::new(msg_pk(i), ONE)).collect();
        keys.sort();
        keys.dedup();
        self.table
            .batch_get(keys)
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    /// Messages created before `before` whose deliveries were not written yet.
    pub async fn unfanned_messages(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let q = Query::partition(Index::Gsi2, FANOUT)
            .range(SkRange::To(sort_ts(before)))
            .limit(limit);
        self.table
            .query(&q)
            .await?
            .items
            .iter()
            .map(decode)
            .collect()
    }

    /// Creates a delivery unless it exists; answers whether it was created.
    pub async fn insert_delivery(&self, d: &Delivery) -> Result<bool, StoreError> {
        match self
            .table
            .put(delivery_item(d)?, Condition::NotExists)
            .await
        {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn delivery(
        &self,
        msg_id: &str,
        endpoint_id: &str,
    ) -> Result<Option<Delivery>, StoreError> {
        let key = Key::new(msg_pk(msg_id), format!("EP#{endpoint_id}"));
        match self.table.get(&key).await? {
            Some(i) => decode_delivery(&i).map(Some),
            None => Ok(None),
        }
    }

    /// The deliveries of one message.
    pub async fn message_deliveries(&self, msg_id: &str) -> Result<Vec<Delivery>, StoreError> {
        let q =
            Query::partition(Index::Primary, msg_pk(msg_id)).range(SkRange::Prefix("EP#".into()));
        query_all(self.table.as_ref(), q)
            .await?
            .iter()
            .map(decode_delivery)
            .collect()
    }

    /// Saves a delivery over the version it was read at (`ConditionFailed`: someone else
    /// moved it first).
    pub async fn save_delivery(&self, d: &Delivery) -> Result<(), StoreError> {
        let mut item = delivery_item(d)?;
        item.version = d.version + 1;
        self.table.put(item, Condition::VersionIs(d.version)).await
    }

    /// Pending deliveries due at `now`, oldest first.
    pub async fn due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let q = Query::partition(Index::Gsi2, DUE)
            .range(SkRange::To(format!("{}~", sort_ts(now))))
            .limit(limit);
        self.table
            .query(&q)
            .await?
            .items
            .iter()
            .map(decode_delivery)
            .collect()
    }

    pub async fn put_attempt(&self, a: &Attempt) -> Result<(), StoreError> {
        let item = Item::new(
            format!("WHATT#{}", a.endpoint_id),
            format!("{}#{}", sort_ts(a.timestamp), a.id),
            encode(a)?,
        )
        .with_ttl(ttl_from(a.timestamp));
        self.table.put(item, Condition::None).await
    }

    /// Messages, newest first (#85).
    pub async fn list_messages(&self, p: &ListParams) -> Result<ListPage<Message>, ListError> {
        self.list(Index::Gsi1, MSGS.to_string(), p, |_: &Message| true)
            .await
    }

    /// An endpoint's attempts, newest first, with a filter (#86).
    pub async fn list_attempts(
        &self,
        endpoint_id: &str,
        p: &ListParams,
        keep: impl Fn(&Attempt) -> bool,
    ) -> Result<ListPage<Attempt>, ListError> {
        self.list(Index::Primary, format!("WHATT#{endpoint_id}"), p, keep)
            .await
    }

    /// A newest-first page over a partition whose sort keys start with a timestamp. The
    /// iterator is the sort key of the last item returned (opaque, base64url); a
    /// `prevIterator` (`-` + the first item's) walks back towards newer items.
    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        index: Index,
        pk: String,
        p: &ListParams,
        keep: impl Fn(&T) -> bool,
    ) -> Result<ListPage<T>, ListError> {
        let now = Utc::now().timestamp();
        let limit = p.limit.max(1);
        let mut lo = p.after.map(|a| format!("{}~", sort_ts(a)));
        let mut hi = p.before.map(sort_ts);
        let (backwards, cursor) = match p.iterator.as_deref() {
            None | Some("") => (false, None),
            Some(it) => {
                let (back, raw) = match it.strip_prefix('-') {
                    Some(r) => (true, r),
                    None => (false, it),
                };
                (back, Some(unb64(raw).ok_or(ListError::BadIterator)?))
            }
        };
        if let Some(c) = &cursor {
            if backwards {
                lo = Some(lo.map_or(c.clone(), |l| l.max(c.clone())));
            } else {
                hi = Some(hi.map_or(c.clone(), |h| h.min(c.clone())));
            }
        }
        let range = match (lo, hi) {
            (Some(l), Some(h)) => SkRange::Between(l, h),
            (Some(l), None) => SkRange::From(l),
            (None, Some(h)) => SkRange::To(h),
            (None, None) => SkRange::All,
        };
        let mut q = Query::partition(index, pk).range(range);
        q.forward = backwards;
        let mut out: Vec<(String, T)> = Vec::new();
        let mut more = false;
        loop {
            q.limit = Some(limit + 1 - out.len().min(limit));
            let page = self.table.query(&q).await?;
            for item in &page.items {
                let sk = item
                    .index_key(index)
                    .map(|(_, s)| s.to_string())
                    .unwrap_or_default();
                if cursor.as_deref() == Some(sk.as_str()) || !is_live(item, now) {
                    continue;
                }
                let v: T = decode(item)?;
                if !keep(&v) {
                    continue;
                }
                if out.len() == limit {
                    more = true;
                    break;
                }
                out.push((sk, v));
            }
            if more {
                break;
            }
            match page.next {
                Some(pos) => q.start_after = Some(pos),
                None => break,
            }
        }
        if backwards {
            out.reverse();
        }
        let iterator = out.last().map(|(sk, _)| b64(sk));
        let prev_iterator = out.first().map(|(sk, _)| format!("-{}", b64(sk)));
        Ok(ListPage {
            done: !more,
            iterator,
            prev_iterator,
            items: out.into_iter().map(|(_, v)| v).collect(),
        })
    }
}

/// When a delivery that has made `attempts` attempts is next due, or `None` when it has used
/// the whole schedule.
pub fn next_attempt_after(
    schedule: &[i64],
    attempts: u32,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    schedule
        .get(attempts as usize)
        .map(|s| now + Duration::seconds(*s))
}

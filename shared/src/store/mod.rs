//! The table port: the single-table key/value model every repository is written against,
//! with a DynamoDB adapter for AWS and an embedded redb adapter for the laptop.
//!
//! The model mirrors DynamoDB's: items live under a partition key (`pk`) and a sort key
//! (`sk`), may carry up to two global secondary index key pairs, an optimistic-concurrency
//! `version`, an optional TTL and an opaque payload. Reads are point gets or queries over one
//! partition (of the table or of an index); there is no scan.

pub mod dynamo;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod objects;

use async_trait::async_trait;

/// Which key space a query runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    /// The table's own `pk`/`sk`.
    Primary,
    /// Global secondary index 1 (`g1pk`/`g1sk`).
    Gsi1,
    /// Global secondary index 2 (`g2pk`/`g2sk`).
    Gsi2,
}

/// A stored item. `data` is the serialized entity; the keys are what makes it findable.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub pk: String,
    pub sk: String,
    /// GSI1 key pair, when the item is indexed there (sparse index).
    pub gsi1: Option<(String, String)>,
    /// GSI2 key pair, when the item is indexed there (sparse index).
    pub gsi2: Option<(String, String)>,
    /// Incremented by writers that use [`Condition::VersionIs`]; 0 for new items.
    pub version: u64,
    /// Epoch seconds after which the item is logically expired (readers must check it:
    /// DynamoDB deletes lazily).
    pub ttl: Option<i64>,
    pub data: Vec<u8>,
}

impl Item {
    /// An item without index keys, version 0, no TTL.
    pub fn new(pk: impl Into<String>, sk: impl Into<String>, data: Vec<u8>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
            gsi1: None,
            gsi2: None,
            version: 0,
            ttl: None,
            data,
        }
    }

    pub fn with_gsi1(mut self, pk: impl Into<String>, sk: impl Into<String>) -> Self {
        self.gsi1 = Some((pk.into(), sk.into()));
        self
    }

    pub fn with_gsi2(mut self, pk: impl Into<String>, sk: impl Into<String>) -> Self {
        self.gsi2 = Some((pk.into(), sk.into()));
        self
    }

    pub fn with_ttl(mut self, ttl: i64) -> Self {
        self.ttl = Some(ttl);
        self
    }

    pub fn key(&self) -> Key {
        Key {
            pk: self.pk.clone(),
            sk: self.sk.clone(),
        }
    }

    /// Approximate stored size in bytes by DynamoDB's rules (attribute names + values).
    pub fn stored_size(&self) -> usize {
        let mut n = 2 + self.pk.len() + 2 + self.sk.len() + 1 + 8 + 1 + self.data.len();
        if let Some((a, b)) = &self.gsi1 {
            n += 4 + a.len() + 4 + b.len();
        }
        if let Some((a, b)) = &self.gsi2 {
            n += 4 + a.len() + 4 + b.len();
        }
        if self.ttl.is_some() {
            n += 3 + 8;
        }
        n
    }

    /// The key of this item in the given index, if it is indexed there.
    pub fn index_key(&self, index: Index) -> Option<(&str, &str)> {
        match index {
            Index::Primary => Some((&self.pk, &self.sk)),
            Index::Gsi1 => self.gsi1.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
            Index::Gsi2 => self.gsi2.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
        }
    }
}

/// A primary key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// A write precondition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Unconditional.
    None,
    /// The item must not exist yet.
    NotExists,
    /// The item must exist.
    Exists,
    /// The item must exist with exactly this version.
    VersionIs(u64),
}

/// Sort-key restriction of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkRange {
    All,
    /// `begins_with(sk, prefix)`.
    Prefix(String),
    /// `sk BETWEEN lo AND hi` (both inclusive).
    Between(String, String),
    /// `sk >= lo`.
    From(String),
    /// `sk <= hi`.
    To(String),
}

impl SkRange {
    /// Whether `sk` satisfies the restriction.
    pub fn contains(&self, sk: &str) -> bool {
        match self {
            SkRange::All => true,
            SkRange::Prefix(p) => sk.starts_with(p.as_str()),
            SkRange::Between(lo, hi) => sk >= lo.as_str() && sk <= hi.as_str(),
            SkRange::From(lo) => sk >= lo.as_str(),
            SkRange::To(hi) => sk <= hi.as_str(),
        }
    }
}

/// Where a paged query resumes: the full position of the last item returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub pk: String,
    pub sk: String,
    /// The index key of the last item (same as `pk`/`sk` on the primary index).
    pub index_pk: String,
    pub index_sk: String,
}

/// A query over one partition of the table or of an index.
#[derive(Debug, Clone)]
pub struct Query {
    pub index: Index,
    pub pk: String,
    pub sk: SkRange,
    /// Ascending sort-key order when true.
    pub forward: bool,
    /// At most this many items per call (a page may still be the last one).
    pub limit: Option<usize>,
    /// Resume strictly after this position.
    pub start_after: Option<Position>,
}

impl Query {
    /// All items of a partition in ascending order.
    pub fn partition(index: Index, pk: impl Into<String>) -> Self {
        Self {
            index,
            pk: pk.into(),
            sk: SkRange::All,
            forward: true,
            limit: None,
            start_after: None,
        }
    }

    pub fn range(mut self, sk: SkRange) -> Self {
        self.sk = sk;
        self
    }

    pub fn descending(mut self) -> Self {
        self.forward = false;
        self
    }

    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }
}

/// One page of a query.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub items: Vec<Item>,
    /// Set when more items may follow; pass it back as `start_after`.
    pub next: Option<Position>,
}

/// One write inside a transaction.
#[derive(Debug, Clone)]
pub enum WriteOp {
    Put(Item, Condition),
    Delete(Key, Condition),
    /// A pure precondition on another item.
    Check(Key, Condition),
    /// Adds each delta to a named counter of a counter item (created at zero when missing;
    /// DynamoDB `ADD`). Counter items are read with [`Table::counters`], never with `get`.
    /// Names are `[a-z0-9_]` only.
    Add(Key, Vec<(String, i64)>),
}

/// Errors a table adapter reports.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A write's (or a transaction member's) condition did not hold. Nothing was written.
    #[error("condition failed")]
    ConditionFailed,
    /// The item exceeds the storage limit (400 KB in DynamoDB).
    #[error("item too large: {0} bytes")]
    TooLarge(usize),
    /// Anything else: I/O, network, throttling that outlived the retries.
    #[error("storage backend error: {0}")]
    Backend(String),
}

/// Largest item either adapter accepts, DynamoDB's limit.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// The table port. Both adapters honour the same contract (see `tests/store_contract.rs`).
#[async_trait]
pub trait Table: Send + Sync + 'static {
    /// Strongly consistent point read.
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;
    /// Put (create or replace) under a condition.
    async fn put(&self, item: Item, cond: Condition) -> Result<(), StoreError>;
    /// Delete under a condition. Deleting a missing item with `Condition::None` is not an error.
    async fn delete(&self, key: &Key, cond: Condition) -> Result<(), StoreError>;
    /// One page of a query.
    async fn query(&self, q: &Query) -> Result<Page, StoreError>;
    /// Unconditional puts of many items (chunked and retried by the adapter). Not atomic.
    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError>;
    /// Unconditional deletes of many items (chunked and retried by the adapter). Not atomic.
    async fn batch_delete(&self, keys: Vec<Key>) -> Result<(), StoreError>;
    /// Point reads of many items; missing ones are absent from the result (any order).
    async fn batch_get(&self, keys: Vec<Key>) -> Result<Vec<Item>, StoreError>;
    /// All-or-nothing writes (at most 100 ops); `ConditionFailed` if any condition fails.
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError>;
    /// Independent conditional puts, each succeeding or failing on its own condition (not
    /// atomic as a whole). The outer error is for failures of the call itself; the inner
    /// results line up with `items`.
    async fn put_each(
        &self,
        items: Vec<(Item, Condition)>,
    ) -> Result<Vec<Result<(), StoreError>>, StoreError>;
    /// Strongly consistent read of a counter item written by [`WriteOp::Add`]: every counter
    /// it holds (empty when the item does not exist).
    async fn counters(&self, key: &Key) -> Result<Counters, StoreError>;
}

/// The named counters of one counter item.
pub type Counters = std::collections::BTreeMap<String, i64>;

/// Whether a counter name is safe for both adapters (DynamoDB attribute names).
pub fn valid_counter_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Runs a query to exhaustion, following `next` positions.
pub async fn query_all(table: &dyn Table, mut q: Query) -> Result<Vec<Item>, StoreError> {
    let mut out = Vec::new();
    loop {
        let page = table.query(&q).await?;
        out.extend(page.items);
        match page.next {
            Some(pos) => q.start_after = Some(pos),
            None => return Ok(out),
        }
    }
}

/// Collects exactly `n` items (or fewer at the end) of a query, following pages, so a caller
/// never sees a short page while more items exist.
pub async fn query_n(table: &dyn Table, mut q: Query, n: usize) -> Result<Vec<Item>, StoreError> {
    let mut out = Vec::new();
    while out.len() < n {
        q.limit = Some(n - out.len());
        let page = table.query(&q).await?;
        out.extend(page.items);
        match page.next {
            Some(pos) => q.start_after = Some(pos),
            None => break,
        }
    }
    out.truncate(n);
    Ok(out)
}

/// Items with an elapsed TTL count as absent (DynamoDB deletes them lazily).
pub fn is_live(item: &Item, now_epoch: i64) -> bool {
    item.ttl.is_none_or(|t| t > now_epoch)
}

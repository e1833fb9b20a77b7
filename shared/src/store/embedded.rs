//! Embedded table adapter: a redb file that behaves like the DynamoDB single table, so the
//! local server needs no AWS. Index entries are kept in their own redb tables and updated in
//! the same write transaction as the item, which makes every write (and every condition
//! check) atomic.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableTable, TableDefinition};

use super::{
    Condition, Index, Item, Key, MAX_ITEM_BYTES, Page, Position, Query, SkRange, StoreError, Table,
    WriteOp,
};

const ITEMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("items");
const GSI1: TableDefinition<&[u8], ()> = TableDefinition::new("gsi1");
const GSI2: TableDefinition<&[u8], ()> = TableDefinition::new("gsi2");

/// The redb-backed table.
#[derive(Clone)]
pub struct EmbeddedTable {
    db: Arc<Database>,
}

fn backend<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Creates the database file readable by its owner only (0600), or narrows an existing one:
/// it holds password hashes, key digests and sealed provider tokens.
fn private_file(path: &Path) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        opts.mode(0o600);
        drop(opts.open(path)?);
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    drop(opts.open(path)?);
    Ok(())
}

/// Creates a data directory (and its missing parents) readable by its owner only (0700), or
/// narrows an existing one to 0700, unless it is a shared directory (world-writable or sticky,
/// like `/tmp`): that one keeps its mode, with a warning.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let existed = dir.is_dir();
        b.mode(0o700);
        b.create(dir)?;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if existed && mode & 0o077 != 0 {
            if mode & 0o1002 == 0 {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            } else {
                tracing::warn!(dir = %dir.display(), mode = format!("{:o}", mode & 0o7777), "the data directory is shared with other users; its files are 0600");
            }
        }
    }
    #[cfg(not(unix))]
    b.create(dir)?;
    Ok(())
}

impl EmbeddedTable {
    /// Opens (or creates) the database file with the default page cache (16 MiB).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(path, 16 * 1024 * 1024)
    }

    /// Opens (or creates) the database file with a page cache of `cache_bytes`.
    pub fn open_with_cache(path: &Path, cache_bytes: usize) -> Result<Self, StoreError> {
        private_file(path).map_err(backend)?;
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(backend)?;
        let txn = db.begin_write().map_err(backend)?;
        {
            txn.open_table(ITEMS).map_err(backend)?;
            txn.open_table(GSI1).map_err(backend)?;
            txn.open_table(GSI2).map_err(backend)?;
        }
        txn.commit().map_err(backend)?;
        Ok(Self { db: Arc::new(db) })
    }

    fn apply(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        for op in &ops {
            if let WriteOp::Put(item, _) = op {
                let size = item.stored_size();
                if size > MAX_ITEM_BYTES {
                    return Err(StoreError::TooLarge(size));
                }
            }
        }
        let txn = self.db.begin_write().map_err(backend)?;
        {
            let mut items = txn.open_table(ITEMS).map_err(backend)?;
            let mut g1 = txn.open_table(GSI1).map_err(backend)?;
            let mut g2 = txn.open_table(GSI2).map_err(backend)?;
            for op in &ops {
                let (key, cond) = match op {
                    WriteOp::Put(item, c) => (item.key(), *c),
                    WriteOp::Delete(k, c) | WriteOp::Check(k, c) => (k.clone(), *c),
                    WriteOp::Add(k, deltas) => {
                        if deltas.iter().any(|(n, _)| !super::valid_counter_name(n)) {
                            return Err(StoreError::Backend("invalid counter name".into()));
                        }
                        (k.clone(), Condition::None)
                    }
                };
                let existing = items
                    .get(primary_key(&key.pk, &key.sk).as_slice())
                    .map_err(backend)?
                    .map(|v| decode(v.value()))
                    .transpose()?;
                if !holds(cond, existing.as_ref()) {
                    return Err(StoreError::ConditionFailed);
                }
            }
            for op in ops {
                match op {
                    WriteOp::Check(..) => {}
                    WriteOp::Put(item, _) => {
                        remove(&mut items, &mut g1, &mut g2, &item.key())?;
                        let pk = primary_key(&item.pk, &item.sk);
                        items
                            .insert(pk.as_slice(), encode(&item).as_slice())
                            .map_err(backend)?;
                        if let Some((a, b)) = &item.gsi1 {
                            g1.insert(index_key(a, b, &item.pk, &item.sk).as_slice(), ())
                                .map_err(backend)?;
                        }
                        if let Some((a, b)) = &item.gsi2 {
                            g2.insert(index_key(a, b, &item.pk, &item.sk).as_slice(), ())
                                .map_err(backend)?;
                        }
                    }
                    WriteOp::Delete(key, _) => remove(&mut items, &mut g1, &mut g2, &key)?,
                    WriteOp::Add(key, deltas) => {
                        let pk = primary_key(&key.pk, &key.sk);
                        let mut counts = match items.get(pk.as_slice()).map_err(backend)? {
                            Some(v) => counters_of(&decode(v.value())?)?,
                            None => super::Counters::new(),
                        };
                        for (name, d) in deltas {
                            let c = counts.entry(name).or_insert(0);
                            *c = c.saturating_add(d);
                        }
                        let data = serde_json::to_vec(&counts).map_err(backend)?;
                        let item = Item::new(key.pk, key.sk, data);
                        items
                            .insert(pk.as_slice(), encode(&item).as_slice())
                            .map_err(backend)?;
                    }
                }
            }
        }
        txn.commit().map_err(backend)?;
        Ok(())
    }

    /// One write transaction applying each put whose own condition holds.
    fn apply_each(
        &self,
        items: Vec<(Item, Condition)>,
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let txn = self.db.begin_write().map_err(backend)?;
        let mut results = Vec::with_capacity(items.len());
        {
            let mut table = txn.open_table(ITEMS).map_err(backend)?;
            let mut g1 = txn.open_table(GSI1).map_err(backend)?;
            let mut g2 = txn.open_table(GSI2).map_err(backend)?;
            for (item, cond) in items {
                let size = item.stored_size();
                if size > MAX_ITEM_BYTES {
                    results.push(Err(StoreError::TooLarge(size)));
                    continue;
                }
                let existing = table
                    .get(primary_key(&item.pk, &item.sk).as_slice())
                    .map_err(backend)?
                    .map(|v| decode(v.value()))
                    .transpose()?;
                if !holds(cond, existing.as_ref()) {
                    results.push(Err(StoreError::ConditionFailed));
                    continue;
                }
                remove(&mut table, &mut g1, &mut g2, &item.key())?;
                table
                    .insert(
                        primary_key(&item.pk, &item.sk).as_slice(),
                        encode(&item).as_slice(),
                    )
                    .map_err(backend)?;
                if let Some((a, b)) = &item.gsi1 {
                    g1.insert(index_key(a, b, &item.pk, &item.sk).as_slice(), ())
                        .map_err(backend)?;
                }
                if let Some((a, b)) = &item.gsi2 {
                    g2.insert(index_key(a, b, &item.pk, &item.sk).as_slice(), ())
                        .map_err(backend)?;
                }
                results.push(Ok(()));
            }
        }
        txn.commit().map_err(backend)?;
        Ok(results)
    }

    fn run_query(&self, q: &Query) -> Result<Page, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let items = txn.open_table(ITEMS).map_err(backend)?;
        let (mut lower, mut upper) = bounds(&q.pk, &q.sk);
        if let Some(pos) = &q.start_after {
            let at = position_key(q.index, pos);
            if q.forward {
                lower = Bound::Excluded(at);
            } else {
                upper = Bound::Excluded(at);
            }
        }
        let range = (as_slice(&lower), as_slice(&upper));
        let limit = q.limit.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        let mut more = false;
        let mut push = |item: Item| {
            if out.len() == limit {
                more = true;
                return false;
            }
            out.push(item);
            true
        };
        match q.index {
            Index::Primary => {
                let iter = items.range::<&[u8]>(range).map_err(backend)?;
                let iter: Box<dyn Iterator<Item = _>> = if q.forward {
                    Box::new(iter)
                } else {
                    Box::new(iter.rev())
                };
                for entry in iter {
                    let (_, v) = entry.map_err(backend)?;
                    if !push(decode(v.value())?) {
                        break;
                    }
                }
            }
            Index::Gsi1 | Index::Gsi2 => {
                let def = if q.index == Index::Gsi1 { GSI1 } else { GSI2 };
                let idx = txn.open_table(def).map_err(backend)?;
                let iter = idx.range::<&[u8]>(range).map_err(backend)?;
                let iter: Box<dyn Iterator<Item = _>> = if q.forward {
                    Box::new(iter)
                } else {
                    Box::new(iter.rev())
                };
                for entry in iter {
                    let (k, _) = entry.map_err(backend)?;
                    let Some((pk, sk)) = split_index_key(k.value()) else {
                        continue;
                    };
                    let Some(v) = items
                        .get(primary_key(&pk, &sk).as_slice())
                        .map_err(backend)?
                    else {
                        continue;
                    };
                    if !push(decode(v.value())?) {
                        break;
                    }
                }
            }
        }
        let next = if more {
            out.last().and_then(|it| {
                it.index_key(q.index).map(|(ipk, isk)| Position {
                    pk: it.pk.clone(),
                    sk: it.sk.clone(),
                    index_pk: ipk.to_string(),
                    index_sk: isk.to_string(),
                })
            })
        } else {
            None
        };
        Ok(Page { items: out, next })
    }
}

/// The counters a counter item holds (its payload is a JSON object of integers).
fn counters_of(item: &Item) -> Result<super::Counters, StoreError> {
    if item.data.is_empty() {
        return Ok(super::Counters::new());
    }
    serde_json::from_slice(&item.data).map_err(backend)
}

fn holds(cond: Condition, existing: Option<&Item>) -> bool {
    match cond {
        Condition::None => true,
        Condition::NotExists => existing.is_none(),
        Condition::Exists => existing.is_some(),
        Condition::VersionIs(v) => existing.is_some_and(|e| e.version == v),
    }
}

fn remove(
    items: &mut redb::Table<&[u8], &[u8]>,
    g1: &mut redb::Table<&[u8], ()>,
    g2: &mut redb::Table<&[u8], ()>,
    key: &Key,
) -> Result<(), StoreError> {
    let old = items
        .remove(primary_key(&key.pk, &key.sk).as_slice())
        .map_err(backend)?
        .map(|v| decode(v.value()))
        .transpose()?;
    if let Some(old) = old {
        if let Some((a, b)) = &old.gsi1 {
            g1.remove(index_key(a, b, &old.pk, &old.sk).as_slice())
                .map_err(backend)?;
        }
        if let Some((a, b)) = &old.gsi2 {
            g2.remove(index_key(a, b, &old.pk, &old.sk).as_slice())
                .map_err(backend)?;
        }
    }
    Ok(())
}

fn as_slice(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// `pk \0 sk`. Keys never contain NUL, so this sorts like DynamoDB (bytewise per key part).
fn primary_key(pk: &str, sk: &str) -> Vec<u8> {
    cat(&[pk.as_bytes(), b"\0", sk.as_bytes()])
}

/// `ipk \0 isk \0 pk \0 sk`.
fn index_key(ipk: &str, isk: &str, pk: &str, sk: &str) -> Vec<u8> {
    cat(&[
        ipk.as_bytes(),
        b"\0",
        isk.as_bytes(),
        b"\0",
        pk.as_bytes(),
        b"\0",
        sk.as_bytes(),
    ])
}

fn split_index_key(k: &[u8]) -> Option<(String, String)> {
    let mut parts = k.split(|b| *b == 0);
    let (_, _) = (parts.next()?, parts.next()?);
    let pk = String::from_utf8(parts.next()?.to_vec()).ok()?;
    let sk = String::from_utf8(parts.next()?.to_vec()).ok()?;
    Some((pk, sk))
}

fn position_key(index: Index, p: &Position) -> Vec<u8> {
    match index {
        Index::Primary => primary_key(&p.pk, &p.sk),
        _ => index_key(&p.index_pk, &p.index_sk, &p.pk, &p.sk),
    }
}

/// Byte bounds of a partition and sort-key range (see `primary_key` / `index_key`).
fn bounds(pk: &str, sk: &SkRange) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let p = cat(&[pk.as_bytes(), b"\0"]);
    let with = |s: &str, tail: &[u8]| cat(&[&p, s.as_bytes(), tail]);
    match sk {
        SkRange::All => (
            Bound::Included(p.clone()),
            Bound::Excluded(cat(&[pk.as_bytes(), b"\x01"])),
        ),
        SkRange::Prefix(s) => (
            Bound::Included(with(s, b"")),
            Bound::Excluded(with(s, b"\xff")),
        ),
        SkRange::Between(lo, hi) => (
            Bound::Included(with(lo, b"")),
            Bound::Excluded(with(hi, b"\x01")),
        ),
        SkRange::From(lo) => (
            Bound::Included(with(lo, b"")),
            Bound::Excluded(cat(&[pk.as_bytes(), b"\x01"])),
        ),
        SkRange::To(hi) => (
            Bound::Included(p.clone()),
            Bound::Excluded(with(hi, b"\x01")),
        ),
    }
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s);
}

fn encode(item: &Item) -> Vec<u8> {
    let mut out = Vec::with_capacity(item.data.len() + item.pk.len() + item.sk.len() + 48);
    let flags = u8::from(item.gsi1.is_some())
        | (u8::from(item.gsi2.is_some()) << 1)
        | (u8::from(item.ttl.is_some()) << 2);
    out.push(flags);
    out.extend_from_slice(&item.version.to_le_bytes());
    out.extend_from_slice(&item.ttl.unwrap_or(0).to_le_bytes());
    put_str(&mut out, item.pk.as_bytes());
    put_str(&mut out, item.sk.as_bytes());
    for (a, b) in item.gsi1.iter().chain(item.gsi2.iter()) {
        put_str(&mut out, a.as_bytes());
        put_str(&mut out, b.as_bytes());
    }
    put_str(&mut out, &item.data);
    out
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], StoreError> {
        if self.0.len() < n {
            return Err(StoreError::Backend("corrupt embedded item".into()));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u64(&mut self) -> Result<u64, StoreError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, StoreError> {
        let b = self.take(4)?;
        let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        Ok(self.take(n)?.to_vec())
    }
    fn string(&mut self) -> Result<String, StoreError> {
        String::from_utf8(self.bytes()?).map_err(backend)
    }
}

fn decode(raw: &[u8]) -> Result<Item, StoreError> {
    let mut r = Reader(raw);
    let flags = r.take(1)?[0];
    let version = r.u64()?;
    let ttl = r.u64()? as i64;
    let pk = r.string()?;
    let sk = r.string()?;
    let gsi1 = if flags & 1 != 0 {
        Some((r.string()?, r.string()?))
    } else {
        None
    };
    let gsi2 = if flags & 2 != 0 {
        Some((r.string()?, r.string()?))
    } else {
        None
    };
    let data = r.bytes()?;
    Ok(Item {
        pk,
        sk,
        gsi1,
        gsi2,
        version,
        ttl: (flags & 4 != 0).then_some(ttl),
        data,
    })
}

#[async_trait]
impl Table for EmbeddedTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let items = txn.open_table(ITEMS).map_err(backend)?;
        let v = items
            .get(primary_key(&key.pk, &key.sk).as_slice())
            .map_err(backend)?;
        v.map(|v| decode(v.value())).transpose()
    }

    async fn put(&self, item: Item, cond: Condition) -> Result<(), StoreError> {
        self.apply(vec![WriteOp::Put(item, cond)])
    }

    async fn delete(&self, key: &Key, cond: Condition) -> Result<(), StoreError> {
        self.apply(vec![WriteOp::Delete(key.clone(), cond)])
    }

    async fn query(&self, q: &Query) -> Result<Page, StoreError> {
        self.run_query(q)
    }

    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        self.apply(
            items
                .into_iter()
                .map(|i| WriteOp::Put(i, Condition::None))
                .collect(),
        )
    }

    async fn batch_delete(&self, keys: Vec<Key>) -> Result<(), StoreError> {
        self.apply(
            keys.into_iter()
                .map(|k| WriteOp::Delete(k, Condition::None))
                .collect(),
        )
    }

    async fn batch_get(&self, keys: Vec<Key>) -> Result<Vec<Item>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let items = txn.open_table(ITEMS).map_err(backend)?;
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            if let Some(v) = items
                .get(primary_key(&k.pk, &k.sk).as_slice())
                .map_err(backend)?
            {
                out.push(decode(v.value())?);
            }
        }
        Ok(out)
    }

    async fn put_each(
        &self,
        items: Vec<(Item, Condition)>,
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        self.apply_each(items)
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        if ops.len() > 100 {
            return Err(StoreError::Backend(
                "a transaction holds at most 100 operations".into(),
            ));
        }
        self.apply(ops)
    }

    async fn counters(&self, key: &Key) -> Result<super::Counters, StoreError> {
        match self.get(key).await? {
            Some(item) => counters_of(&item),
            None => Ok(super::Counters::new()),
        }
    }
}

#[cfg(test)]
mod private_tests {
    #[cfg(unix)]
    #[test]
    fn the_database_file_and_its_folder_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| {
            std::fs::metadata(p).expect("metadata").permissions().mode() & 0o7777
        };
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("data").join("nested");
        super::private_dir(&dir).expect("dir");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&tmp.path().join("data")), 0o700);
        let file = dir.join("t.redb");
        drop(super::EmbeddedTable::open(&file).expect("open"));
        assert_eq!(mode(&file), 0o600);
        // Files and folders an older version left readable are narrowed on the next start.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        super::private_dir(&dir).expect("dir");
        drop(super::EmbeddedTable::open(&file).expect("reopen"));
        assert_eq!((mode(&dir), mode(&file)), (0o700, 0o600));
        // A shared folder keeps its mode.
        let shared = tmp.path().join("shared");
        std::fs::create_dir(&shared).expect("mkdir");
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
        super::private_dir(&shared).expect("dir");
        assert_eq!(mode(&shared), 0o1777);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip_through_the_encoding() {
        let item = Item::new("USER#1", "PROFILE", vec![1, 2, 3])
            .with_gsi1("USERS", "2025")
            .with_ttl(-5);
        assert_eq!(decode(&encode(&item)).ok(), Some(item));
        let plain = Item::new("a", "", vec![]);
        assert_eq!(decode(&encode(&plain)).ok(), Some(plain));
    }

    #[test]
    fn truncated_items_are_errors_not_panics() {
        let raw = encode(&Item::new("USER#1", "PROFILE", vec![9; 10]));
        for n in 0..raw.len() {
            assert!(decode(&raw[..n]).is_err());
        }
    }
}

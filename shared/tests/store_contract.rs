//! The table-port contract: one suite, run against the embedded adapter and against the
//! DynamoDB adapter (a local emulator at `OW_TEST_DYNAMODB_URL`, started by `infra/test.sh`).

use std::collections::BTreeSet;
use std::sync::Arc;

use shared::store::dynamo::DynamoTable;
use shared::store::embedded::EmbeddedTable;
use shared::store::{
    Condition, Index, Item, Key, Query, SkRange, StoreError, Table, WriteOp, query_all, query_n,
};

fn embedded() -> (Arc<dyn Table>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let t = EmbeddedTable::open(&dir.path().join("t.redb")).expect("open");
    (Arc::new(t), dir)
}

async fn dynamo() -> (Arc<dyn Table>, ()) {
    let url = std::env::var("OW_TEST_DYNAMODB_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "OW_TEST_DYNAMODB_URL is not set: run the suite with `infra/test.sh`, which starts \
             the DynamoDB emulator (moto) and sets it"
            )
        });
    let name = format!("contract-{}", uuid::Uuid::new_v4());
    let t = DynamoTable::for_endpoint(&url, name);
    t.ensure_table().await.expect("create table");
    (Arc::new(t), ())
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod embedded_adapter {
            $( #[tokio::test] async fn $name() { let (t, _g) = super::embedded(); super::$name(t).await; } )*
        }
        mod dynamodb_adapter {
            $( #[tokio::test] async fn $name() { let (t, _g) = super::dynamo().await; super::$name(t).await; } )*
        }
    };
}

contract!(
    puts_replace_and_gets_read_back,
    conditions_guard_writes,
    deletes_honour_conditions,
    queries_restrict_sort_keys,
    paging_walks_every_item_exactly_once,
    secondary_indexes_are_sparse_and_follow_updates,
    batches_larger_than_one_call_are_complete,
    transactions_are_all_or_nothing,
    oversized_items_are_refused,
    put_each_applies_each_condition_on_its_own,
    counters_add_atomically_and_with_their_transaction,
);

fn item(pk: &str, sk: &str, data: &str) -> Item {
    Item::new(pk, sk, data.as_bytes().to_vec())
}

async fn puts_replace_and_gets_read_back(t: Arc<dyn Table>) {
    assert!(t.get(&Key::new("P", "a")).await.expect("get").is_none());
    let i = item("P", "a", "one")
        .with_ttl(1_900_000_000)
        .with_gsi1("G", "x");
    t.put(i.clone(), Condition::None).await.expect("put");
    assert_eq!(t.get(&Key::new("P", "a")).await.expect("get"), Some(i));
    let j = item("P", "a", "two");
    t.put(j.clone(), Condition::None).await.expect("replace");
    assert_eq!(t.get(&Key::new("P", "a")).await.expect("get"), Some(j));
    let empty = item("P", "b", "");
    t.put(empty.clone(), Condition::None)
        .await
        .expect("put empty payload");
    assert_eq!(t.get(&Key::new("P", "b")).await.expect("get"), Some(empty));
}

async fn conditions_guard_writes(t: Arc<dyn Table>) {
    let mut i = item("C", "1", "v0");
    t.put(i.clone(), Condition::NotExists)
        .await
        .expect("create");
    assert!(matches!(
        t.put(i.clone(), Condition::NotExists).await,
        Err(StoreError::ConditionFailed)
    ));
    assert!(matches!(
        t.put(item("C", "2", "x"), Condition::Exists).await,
        Err(StoreError::ConditionFailed)
    ));
    i.version = 1;
    i.data = b"v1".to_vec();
    t.put(i.clone(), Condition::VersionIs(0))
        .await
        .expect("version 0 -> 1");
    let mut stale = i.clone();
    stale.version = 1;
    assert!(matches!(
        t.put(stale, Condition::VersionIs(0)).await,
        Err(StoreError::ConditionFailed)
    ));
    assert!(matches!(
        t.put(item("C", "3", "x"), Condition::VersionIs(0)).await,
        Err(StoreError::ConditionFailed)
    ));
    let got = t
        .get(&Key::new("C", "1"))
        .await
        .expect("get")
        .expect("present");
    assert_eq!((got.version, got.data), (1, b"v1".to_vec()));
}

async fn deletes_honour_conditions(t: Arc<dyn Table>) {
    t.delete(&Key::new("D", "missing"), Condition::None)
        .await
        .expect("deleting nothing is fine");
    assert!(matches!(
        t.delete(&Key::new("D", "missing"), Condition::Exists).await,
        Err(StoreError::ConditionFailed)
    ));
    t.put(item("D", "1", "x"), Condition::None)
        .await
        .expect("put");
    assert!(matches!(
        t.delete(&Key::new("D", "1"), Condition::VersionIs(7)).await,
        Err(StoreError::ConditionFailed)
    ));
    t.delete(&Key::new("D", "1"), Condition::VersionIs(0))
        .await
        .expect("delete");
    assert!(t.get(&Key::new("D", "1")).await.expect("get").is_none());
}

async fn sks(t: &dyn Table, q: Query) -> Vec<String> {
    query_all(t, q)
        .await
        .expect("query")
        .into_iter()
        .map(|i| i.sk)
        .collect()
}

async fn queries_restrict_sort_keys(t: Arc<dyn Table>) {
    let keys = ["a", "b#1", "b#2", "b#3", "ba", "c", "d"];
    t.batch_put(keys.iter().map(|k| item("Q", k, k)).collect())
        .await
        .expect("batch");
    t.put(item("Q2", "a", "other partition"), Condition::None)
        .await
        .expect("put");
    t.put(item("Qa", "a", "prefix-sharing partition"), Condition::None)
        .await
        .expect("put");
    let p = || Query::partition(Index::Primary, "Q");
    let all: Vec<String> = keys.iter().map(|s| s.to_string()).collect();
    assert_eq!(sks(t.as_ref(), p()).await, all);
    assert_eq!(
        sks(t.as_ref(), p().range(SkRange::Prefix("b#".into()))).await,
        ["b#1", "b#2", "b#3"]
    );
    assert_eq!(
        sks(
            t.as_ref(),
            p().range(SkRange::Between("b#2".into(), "c".into()))
        )
        .await,
        ["b#2", "b#3", "ba", "c"]
    );
    assert_eq!(
        sks(t.as_ref(), p().range(SkRange::From("ba".into()))).await,
        ["ba", "c", "d"]
    );
    assert_eq!(
        sks(t.as_ref(), p().range(SkRange::To("b#1".into()))).await,
        ["a", "b#1"]
    );
    let mut rev = all.clone();
    rev.reverse();
    assert_eq!(sks(t.as_ref(), p().descending()).await, rev);
    assert_eq!(
        sks(
            t.as_ref(),
            p().range(SkRange::Prefix("b".into())).descending()
        )
        .await,
        ["ba", "b#3", "b#2", "b#1"]
    );
    assert!(
        sks(t.as_ref(), Query::partition(Index::Primary, "none"))
            .await
            .is_empty()
    );
}

async fn paging_walks_every_item_exactly_once(t: Arc<dyn Table>) {
    let items = (0..37)
        .map(|i| item("W", &format!("k{i:03}"), "x").with_gsi1("WG", format!("g{:03}", 40 - i)))
        .collect();
    t.batch_put(items).await.expect("batch");
    for index in [Index::Primary, Index::Gsi1] {
        for forward in [true, false] {
            let pk = if index == Index::Primary { "W" } else { "WG" };
            let mut q = Query::partition(index, pk).limit(5);
            q.forward = forward;
            let mut seen = Vec::new();
            let mut pages = 0;
            loop {
                let page = t.query(&q).await.expect("page");
                assert!(page.items.len() <= 5);
                pages += 1;
                seen.extend(page.items.into_iter().map(|i| i.sk));
                match page.next {
                    Some(pos) => q.start_after = Some(pos),
                    None => break,
                }
                assert!(pages < 20, "paging does not terminate");
            }
            let unique: BTreeSet<_> = seen.iter().cloned().collect();
            assert_eq!(seen.len(), 37, "{index:?} forward={forward}");
            assert_eq!(unique.len(), 37);
            let mut sorted = seen.clone();
            sorted.sort();
            // Primary order is by sk; gsi1 order is by the reversed numbering.
            if index == Index::Primary && !forward || index == Index::Gsi1 && forward {
                sorted.reverse();
            }
            assert_eq!(seen, sorted, "{index:?} forward={forward} order");
        }
    }
    let first = query_n(t.as_ref(), Query::partition(Index::Primary, "W"), 12)
        .await
        .expect("n");
    assert_eq!(first.len(), 12);
    assert_eq!(first[11].sk, "k011");
}

async fn secondary_indexes_are_sparse_and_follow_updates(t: Arc<dyn Table>) {
    t.put(item("S", "1", "a").with_gsi1("IDX", "2"), Condition::None)
        .await
        .expect("put");
    t.put(
        item("S", "2", "b")
            .with_gsi1("IDX", "1")
            .with_gsi2("OTHER", "z"),
        Condition::None,
    )
    .await
    .expect("put");
    t.put(item("S", "3", "c"), Condition::None)
        .await
        .expect("put unindexed");
    let g1 = query_all(t.as_ref(), Query::partition(Index::Gsi1, "IDX"))
        .await
        .expect("q");
    assert_eq!(
        g1.iter().map(|i| i.sk.as_str()).collect::<Vec<_>>(),
        ["2", "1"]
    );
    assert_eq!(g1[0].data, b"b".to_vec());
    let g2 = query_all(t.as_ref(), Query::partition(Index::Gsi2, "OTHER"))
        .await
        .expect("q");
    assert_eq!(g2.len(), 1);
    t.put(item("S", "1", "a2").with_gsi1("IDX2", "9"), Condition::None)
        .await
        .expect("move");
    t.put(item("S", "2", "b2"), Condition::None)
        .await
        .expect("drop");
    assert!(
        query_all(t.as_ref(), Query::partition(Index::Gsi1, "IDX"))
            .await
            .expect("q")
            .is_empty()
    );
    assert!(
        query_all(t.as_ref(), Query::partition(Index::Gsi2, "OTHER"))
            .await
            .expect("q")
            .is_empty()
    );
    let moved = query_all(t.as_ref(), Query::partition(Index::Gsi1, "IDX2"))
        .await
        .expect("q");
    assert_eq!(moved.len(), 1);
    t.delete(&Key::new("S", "1"), Condition::None)
        .await
        .expect("delete");
    assert!(
        query_all(t.as_ref(), Query::partition(Index::Gsi1, "IDX2"))
            .await
            .expect("q")
            .is_empty()
    );
}

async fn batches_larger_than_one_call_are_complete(t: Arc<dyn Table>) {
    let items: Vec<Item> = (0..260)
        .map(|i| item("B", &format!("{i:04}"), "x"))
        .collect();
    t.batch_put(items).await.expect("batch put");
    let mut keys: Vec<Key> = (0..260).map(|i| Key::new("B", format!("{i:04}"))).collect();
    keys.push(Key::new("B", "missing"));
    let got = t.batch_get(keys.clone()).await.expect("batch get");
    assert_eq!(got.len(), 260);
    t.batch_delete(keys[..130].to_vec())
        .await
        .expect("batch delete");
    let left = query_all(t.as_ref(), Query::partition(Index::Primary, "B"))
        .await
        .expect("q");
    assert_eq!(left.len(), 130);
    assert_eq!(left[0].sk, "0130");
}

async fn transactions_are_all_or_nothing(t: Arc<dyn Table>) {
    t.put(item("T", "existing", "x"), Condition::None)
        .await
        .expect("put");
    let res = t
        .transact(vec![
            WriteOp::Put(item("T", "new", "y"), Condition::NotExists),
            WriteOp::Put(item("T", "existing", "z"), Condition::NotExists),
        ])
        .await;
    assert!(matches!(res, Err(StoreError::ConditionFailed)), "{res:?}");
    assert!(t.get(&Key::new("T", "new")).await.expect("get").is_none());
    let res = t
        .transact(vec![
            WriteOp::Check(Key::new("T", "absent"), Condition::Exists),
            WriteOp::Put(item("T", "new", "y"), Condition::None),
        ])
        .await;
    assert!(matches!(res, Err(StoreError::ConditionFailed)), "{res:?}");
    assert!(t.get(&Key::new("T", "new")).await.expect("get").is_none());
    t.transact(vec![
        WriteOp::Put(item("T", "new", "y"), Condition::NotExists),
        WriteOp::Delete(Key::new("T", "existing"), Condition::Exists),
        WriteOp::Check(Key::new("T", "new2"), Condition::NotExists),
    ])
    .await
    .expect("transaction");
    assert!(t.get(&Key::new("T", "new")).await.expect("get").is_some());
    assert!(
        t.get(&Key::new("T", "existing"))
            .await
            .expect("get")
            .is_none()
    );
}

async fn oversized_items_are_refused(t: Arc<dyn Table>) {
    let big = Item::new("L", "1", vec![7u8; 401 * 1024]);
    assert!(matches!(
        t.put(big.clone(), Condition::None).await,
        Err(StoreError::TooLarge(_))
    ));
    assert!(matches!(
        t.batch_put(vec![big]).await,
        Err(StoreError::TooLarge(_))
    ));
    let fits = Item::new("L", "2", vec![7u8; 390 * 1024]);
    t.put(fits, Condition::None)
        .await
        .expect("a 390 KB item fits");
    assert!(t.get(&Key::new("L", "1")).await.expect("get").is_none());
}

async fn put_each_applies_each_condition_on_its_own(t: Arc<dyn Table>) {
    t.put(item("E", "taken", "old"), Condition::None)
        .await
        .expect("put");
    let results = t
        .put_each(vec![
            (item("E", "new", "a"), Condition::NotExists),
            (item("E", "taken", "b"), Condition::NotExists),
            (
                item("E", "taken2", "c").with_gsi1("EG", "1"),
                Condition::None,
            ),
            (item("E", "missing", "d"), Condition::VersionIs(3)),
        ])
        .await
        .expect("call");
    assert!(results[0].is_ok() && results[2].is_ok());
    assert!(matches!(results[1], Err(StoreError::ConditionFailed)));
    assert!(matches!(results[3], Err(StoreError::ConditionFailed)));
    assert_eq!(
        t.get(&Key::new("E", "taken"))
            .await
            .expect("get")
            .map(|i| i.data),
        Some(b"old".to_vec())
    );
    assert!(t.get(&Key::new("E", "new")).await.expect("get").is_some());
    assert!(
        t.get(&Key::new("E", "missing"))
            .await
            .expect("get")
            .is_none()
    );
    assert_eq!(
        query_all(t.as_ref(), Query::partition(Index::Gsi1, "EG"))
            .await
            .expect("q")
            .len(),
        1
    );
}

async fn counters_add_atomically_and_with_their_transaction(t: Arc<dyn Table>) {
    let k = Key::new("STATS", "_");
    assert!(t.counters(&k).await.expect("empty").is_empty());
    let add = |pairs: &[(&str, i64)]| {
        WriteOp::Add(
            k.clone(),
            pairs.iter().map(|(n, d)| (n.to_string(), *d)).collect(),
        )
    };
    // Concurrent adds all land (no lost update).
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (t, op) = (t.clone(), add(&[("users", 1), ("samples", 5)]));
        set.spawn(async move { t.transact(vec![op]).await });
    }
    while let Some(r) = set.join_next().await {
        r.expect("join").expect("add");
    }
    let c = t.counters(&k).await.expect("read");
    assert_eq!((c["users"], c["samples"]), (20, 100));
    // Negative deltas, and a new counter on the same item.
    t.transact(vec![add(&[("users", -3), ("active_oura", 1)])])
        .await
        .expect("add");
    let c = t.counters(&k).await.expect("read");
    assert_eq!((c["users"], c["active_oura"], c["samples"]), (17, 1, 100));
    // Inside a transaction whose condition fails, the add is not applied either.
    t.put(item("P", "a", "x"), Condition::None)
        .await
        .expect("put");
    let r = t
        .transact(vec![
            WriteOp::Put(item("P", "a", "y"), Condition::NotExists),
            add(&[("users", 100)]),
        ])
        .await;
    assert!(matches!(r, Err(StoreError::ConditionFailed)), "{r:?}");
    assert_eq!(t.counters(&k).await.expect("read")["users"], 17);
    // With a holding condition both apply.
    t.transact(vec![
        WriteOp::Put(item("P", "b", "y"), Condition::NotExists),
        add(&[("users", 1)]),
    ])
    .await
    .expect("both");
    assert_eq!(t.counters(&k).await.expect("read")["users"], 18);
    // Bad names are refused.
    assert!(t.transact(vec![add(&[("Bad Name", 1)])]).await.is_err());
    // Deleting the counter item resets it.
    t.delete(&k, Condition::None).await.expect("delete");
    assert!(t.counters(&k).await.expect("empty").is_empty());
}

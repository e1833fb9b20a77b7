//! DynamoDB table adapter. Items map to the attributes `pk`, `sk`, `g1pk`/`g1sk`, `g2pk`/`g2sk`
//! (sparse GSIs `gsi1`, `gsi2`), `v` (version), `ttl` and `d` (binary payload).

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, DeleteRequest,
    GlobalSecondaryIndex, KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType,
    Put, PutRequest, ScalarAttributeType, TransactWriteItem, Update, WriteRequest,
};

use super::{
    Condition, Index, Item, Key, MAX_ITEM_BYTES, Page, Position, Query, SkRange, StoreError, Table,
    WriteOp,
};

type Attrs = HashMap<String, AttributeValue>;

/// The DynamoDB-backed table.
#[derive(Clone)]
pub struct DynamoTable {
    client: Client,
    table: String,
}

impl DynamoTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A client for a local emulator at `url` with static fake credentials (tests, demos).
    pub fn for_endpoint(url: &str, table: impl Into<String>) -> Self {
        use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(url)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "static"))
            .build();
        Self::new(Client::from_conf(conf), table)
    }

    /// Creates the table with its GSIs, TTL and on-demand billing unless it exists. For local
    /// emulators and tests; in AWS the SAM template owns the table.
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        if self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        let attr = |n: &str| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(backend)
        };
        let key = |n: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(t)
                .build()
                .map_err(backend)
        };
        let gsi = |name: &str, p: &str, s: &str| -> Result<GlobalSecondaryIndex, StoreError> {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(p, KeyType::Hash)?)
                .key_schema(key(s, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(backend)
        };
        let res = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .attribute_definitions(attr("g1pk")?)
            .attribute_definitions(attr("g1sk")?)
            .attribute_definitions(attr("g2pk")?)
            .attribute_definitions(attr("g2sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .global_secondary_indexes(gsi("gsi1", "g1pk", "g1sk")?)
            .global_secondary_indexes(gsi("gsi2", "g2pk", "g2sk")?)
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceInUseException") => Ok(()),
            Err(e) => Err(backend(e.into_service_error())),
        }
    }

    fn condition(cond: Condition) -> (Option<String>, Option<Attrs>) {
        match cond {
            Condition::None => (None, None),
            Condition::NotExists => (Some("attribute_not_exists(pk)".into()), None),
            Condition::Exists => (Some("attribute_exists(pk)".into()), None),
            Condition::VersionIs(v) => (
                Some("v = :expected_v".into()),
                Some(HashMap::from([(":expected_v".to_string(), num(v))])),
            ),
        }
    }
}

fn backend<E: std::fmt::Debug>(e: E) -> StoreError {
    StoreError::Backend(format!("{e:?}"))
}

fn sdk_error<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match e.code() {
        Some("ConditionalCheckFailedException") => StoreError::ConditionFailed,
        Some("TransactionCanceledException") => {
            if e.message()
                .is_some_and(|m| m.contains("ConditionalCheckFailed"))
            {
                StoreError::ConditionFailed
            } else {
                StoreError::Backend(format!("transaction cancelled: {:?}", e.message()))
            }
        }
        Some("ValidationException")
            if e.message().is_some_and(|m| m.contains("size has exceeded")) =>
        {
            StoreError::TooLarge(MAX_ITEM_BYTES + 1)
        }
        _ => StoreError::Backend(format!("{:?}: {:?}", e.code(), e.message())),
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn num(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key_attrs(pk: &str, sk: &str) -> Attrs {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

fn to_attrs(item: &Item) -> Attrs {
    let mut m = key_attrs(&item.pk, &item.sk);
    if let Some((a, b)) = &item.gsi1 {
        m.insert("g1pk".into(), s(a));
        m.insert("g1sk".into(), s(b));
    }
    if let Some((a, b)) = &item.gsi2 {
        m.insert("g2pk".into(), s(a));
        m.insert("g2sk".into(), s(b));
    }
    m.insert("v".into(), num(item.version));
    if let Some(t) = item.ttl {
        m.insert("ttl".into(), num(t));
    }
    m.insert("d".into(), AttributeValue::B(Blob::new(item.data.clone())));
    m
}

/// Counter attributes are `c_<name>` numbers.
const COUNTER_PREFIX: &str = "c_";

/// `ADD #c0 :c0, #c1 :c1 …` over the counters' attributes.
fn add_expression(
    deltas: &[(String, i64)],
) -> Result<(String, HashMap<String, String>, Attrs), StoreError> {
    if deltas.is_empty() || deltas.iter().any(|(n, _)| !super::valid_counter_name(n)) {
        return Err(StoreError::Backend("invalid counter update".into()));
    }
    let mut parts = Vec::with_capacity(deltas.len());
    let mut names = HashMap::new();
    let mut values = HashMap::new();
    for (i, (name, d)) in deltas.iter().enumerate() {
        parts.push(format!("#c{i} :c{i}"));
        names.insert(format!("#c{i}"), format!("{COUNTER_PREFIX}{name}"));
        values.insert(format!(":c{i}"), num(d));
    }
    Ok((format!("ADD {}", parts.join(", ")), names, values))
}

fn get_s(m: &Attrs, k: &str) -> Option<String> {
    m.get(k).and_then(|v| v.as_s().ok()).cloned()
}

fn from_attrs(m: &Attrs) -> Result<Item, StoreError> {
    let pk = get_s(m, "pk").ok_or_else(|| StoreError::Backend("item without pk".into()))?;
    let sk = get_s(m, "sk").ok_or_else(|| StoreError::Backend("item without sk".into()))?;
    let pair = |a: &str, b: &str| Some((get_s(m, a)?, get_s(m, b)?));
    let n = |k: &str| {
        m.get(k)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
    };
    Ok(Item {
        gsi1: pair("g1pk", "g1sk"),
        gsi2: pair("g2pk", "g2sk"),
        version: n("v").unwrap_or(0).max(0) as u64,
        ttl: n("ttl"),
        data: m
            .get("d")
            .and_then(|v| v.as_b().ok())
            .map(|b| b.as_ref().to_vec())
            .unwrap_or_default(),
        pk,
        sk,
    })
}

fn index_names(index: Index) -> (Option<&'static str>, &'static str, &'static str) {
    match index {
        Index::Primary => (None, "pk", "sk"),
        Index::Gsi1 => (Some("gsi1"), "g1pk", "g1sk"),
        Index::Gsi2 => (Some("gsi2"), "g2pk", "g2sk"),
    }
}

/// Sends `items` in chunks of at most `chunk`, re-sending whatever `send` reports back as
/// unprocessed, with exponential backoff. Gives up after `max_idle_rounds` consecutive
/// rounds that made no progress. DynamoDB's batch calls may return unprocessed items under
/// throttling; dropping them would lose data.
pub(crate) async fn drain_batches<T, F, Fut>(
    items: Vec<T>,
    chunk: usize,
    max_idle_rounds: u32,
    mut send: F,
) -> Result<(), StoreError>
where
    F: FnMut(Vec<T>) -> Fut,
    Fut: Future<Output = Result<Vec<T>, StoreError>>,
{
    let mut pending = items;
    let mut idle = 0u32;
    while !pending.is_empty() {
        let rest = pending.split_off(pending.len().min(chunk));
        let sent = pending.len();
        let unprocessed = send(pending).await?;
        if unprocessed.len() == sent {
            idle += 1;
            if idle >= max_idle_rounds {
                return Err(StoreError::Backend(format!(
                    "{sent} batch items stayed unprocessed after {idle} attempts"
                )));
            }
        } else {
            idle = 0;
        }
        if !unprocessed.is_empty() {
            let backoff = 10u64.saturating_mul(1 << idle.min(7));
            tokio::time::sleep(Duration::from_millis(backoff)).await;
        }
        pending = unprocessed;
        pending.extend(rest);
    }
    Ok(())
}

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(&key.pk, &key.sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        out.item.as_ref().map(from_attrs).transpose()
    }

    async fn put(&self, item: Item, cond: Condition) -> Result<(), StoreError> {
        if item.stored_size() > MAX_ITEM_BYTES {
            return Err(StoreError::TooLarge(item.stored_size()));
        }
        let (expr, values) = Self::condition(cond);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_attrs(&item)))
            .set_condition_expression(expr)
            .set_expression_attribute_values(values)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn delete(&self, key: &Key, cond: Condition) -> Result<(), StoreError> {
        let (expr, values) = Self::condition(cond);
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(&key.pk, &key.sk)))
            .set_condition_expression(expr)
            .set_expression_attribute_values(values)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn query(&self, q: &Query) -> Result<Page, StoreError> {
        let (index_name, pk_name, sk_name) = index_names(q.index);
        let mut names = HashMap::from([("#p".to_string(), pk_name.to_string())]);
        let mut values = HashMap::from([(":p".to_string(), s(&q.pk))]);
        let mut expr = "#p = :p".to_string();
        let sk_expr = match &q.sk {
            SkRange::All => None,
            SkRange::Prefix(p) => {
                values.insert(":a".into(), s(p));
                Some("begins_with(#s, :a)")
            }
            SkRange::Between(lo, hi) => {
                values.insert(":a".into(), s(lo));
                values.insert(":b".into(), s(hi));
                Some("#s BETWEEN :a AND :b")
            }
            SkRange::From(lo) => {
                values.insert(":a".into(), s(lo));
                Some("#s >= :a")
            }
            SkRange::To(hi) => {
                values.insert(":a".into(), s(hi));
                Some("#s <= :a")
            }
        };
        if let Some(e) = sk_expr {
            names.insert("#s".into(), sk_name.into());
            expr.push_str(" AND ");
            expr.push_str(e);
        }
        let start = q.start_after.as_ref().map(|p| {
            let mut k = key_attrs(&p.pk, &p.sk);
            if index_name.is_some() {
                k.insert(pk_name.into(), s(&p.index_pk));
                k.insert(sk_name.into(), s(&p.index_sk));
            }
            k
        });
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index_name.map(str::to_string))
            .key_condition_expression(expr)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .scan_index_forward(q.forward)
            .set_limit(q.limit.map(|l| l.min(i32::MAX as usize) as i32))
            .set_exclusive_start_key(start)
            .set_consistent_read(index_name.is_none().then_some(true))
            .send()
            .await
            .map_err(sdk_error)?;
        let items = out
            .items()
            .iter()
            .map(from_attrs)
            .collect::<Result<Vec<_>, _>>()?;
        let next = out.last_evaluated_key().map(|k| Position {
            pk: get_s(k, "pk").unwrap_or_default(),
            sk: get_s(k, "sk").unwrap_or_default(),
            index_pk: get_s(k, pk_name).unwrap_or_default(),
            index_sk: get_s(k, sk_name).unwrap_or_default(),
        });
        Ok(Page { items, next })
    }

    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let mut reqs = Vec::with_capacity(items.len());
        for item in &items {
            if item.stored_size() > MAX_ITEM_BYTES {
                return Err(StoreError::TooLarge(item.stored_size()));
            }
            let put = PutRequest::builder()
                .set_item(Some(to_attrs(item)))
                .build()
                .map_err(backend)?;
            reqs.push(WriteRequest::builder().put_request(put).build());
        }
        self.write_batches(reqs).await
    }

    async fn batch_delete(&self, keys: Vec<Key>) -> Result<(), StoreError> {
        let mut reqs = Vec::with_capacity(keys.len());
        for k in &keys {
            let del = DeleteRequest::builder()
                .set_key(Some(key_attrs(&k.pk, &k.sk)))
                .build()
                .map_err(backend)?;
            reqs.push(WriteRequest::builder().delete_request(del).build());
        }
        self.write_batches(reqs).await
    }

    async fn batch_get(&self, keys: Vec<Key>) -> Result<Vec<Item>, StoreError> {
        let found = std::sync::Arc::new(std::sync::Mutex::new(Vec::with_capacity(keys.len())));
        let keys: Vec<Attrs> = keys.iter().map(|k| key_attrs(&k.pk, &k.sk)).collect();
        drain_batches(keys, 100, 8, |chunk| {
            let (table, client, found) = (self.table.clone(), self.client.clone(), found.clone());
            async move {
                let ka = KeysAndAttributes::builder()
                    .set_keys(Some(chunk))
                    .consistent_read(true)
                    .build()
                    .map_err(backend)?;
                let out = client
                    .batch_get_item()
                    .request_items(&table, ka)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                if let Some(items) = out.responses().and_then(|r| r.get(&table)) {
                    let items = items
                        .iter()
                        .map(from_attrs)
                        .collect::<Result<Vec<_>, _>>()?;
                    found.lock().map_err(backend)?.extend(items);
                }
                Ok(out
                    .unprocessed_keys()
                    .and_then(|u| u.get(&table))
                    .map(|ka| ka.keys().to_vec())
                    .unwrap_or_default())
            }
        })
        .await?;
        let mut found = found.lock().map_err(backend)?;
        Ok(std::mem::take(&mut *found))
    }

    async fn put_each(
        &self,
        items: Vec<(Item, Condition)>,
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        self.put_each_concurrently(items).await
    }

    async fn counters(&self, key: &Key) -> Result<super::Counters, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(&key.pk, &key.sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        let mut counts = super::Counters::new();
        for (name, v) in out.item.unwrap_or_default() {
            if let Some(c) = name.strip_prefix(COUNTER_PREFIX)
                && let Ok(n) = v.as_n().map(|n| n.parse::<i64>())
            {
                counts.insert(c.to_string(), n.map_err(backend)?);
            }
        }
        Ok(counts)
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        // A lone counter update is one UpdateItem (half the cost of a transaction).
        if let [WriteOp::Add(k, deltas)] = ops.as_slice() {
            let (expr, names, values) = add_expression(deltas)?;
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key_attrs(&k.pk, &k.sk)))
                .update_expression(expr)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .send()
                .await
                .map_err(sdk_error)?;
            return Ok(());
        }
        let mut items = Vec::with_capacity(ops.len());
        for op in ops {
            let t = match op {
                WriteOp::Put(item, cond) => {
                    if item.stored_size() > MAX_ITEM_BYTES {
                        return Err(StoreError::TooLarge(item.stored_size()));
                    }
                    let (expr, values) = Self::condition(cond);
                    let put = Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(to_attrs(&item)))
                        .set_condition_expression(expr)
                        .set_expression_attribute_values(values)
                        .build()
                        .map_err(backend)?;
                    TransactWriteItem::builder().put(put).build()
                }
                WriteOp::Delete(k, cond) => {
                    let (expr, values) = Self::condition(cond);
                    let del = Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_attrs(&k.pk, &k.sk)))
                        .set_condition_expression(expr)
                        .set_expression_attribute_values(values)
                        .build()
                        .map_err(backend)?;
                    TransactWriteItem::builder().delete(del).build()
                }
                WriteOp::Check(k, cond) => {
                    let (expr, values) = Self::condition(cond);
                    let check = ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_attrs(&k.pk, &k.sk)))
                        .condition_expression(expr.unwrap_or_else(|| {
                            "attribute_exists(pk) OR attribute_not_exists(pk)".into()
                        }))
                        .set_expression_attribute_values(values)
                        .build()
                        .map_err(backend)?;
                    TransactWriteItem::builder().condition_check(check).build()
                }
                WriteOp::Add(k, deltas) => {
                    let (expr, names, values) = add_expression(&deltas)?;
                    let up = Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_attrs(&k.pk, &k.sk)))
                        .update_expression(expr)
                        .set_expression_attribute_names(Some(names))
                        .set_expression_attribute_values(Some(values))
                        .build()
                        .map_err(backend)?;
                    TransactWriteItem::builder().update(up).build()
                }
            };
            items.push(t);
        }
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
}

/// Concurrent single-item requests per `put_each` call.
const PUT_EACH_CONCURRENCY: usize = 16;

impl DynamoTable {
    async fn put_each_concurrently(
        &self,
        items: Vec<(Item, Condition)>,
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let n = items.len();
        let mut results: Vec<Option<Result<(), StoreError>>> = (0..n).map(|_| None).collect();
        let mut set = tokio::task::JoinSet::new();
        for (i, (item, cond)) in items.into_iter().enumerate() {
            if set.len() >= PUT_EACH_CONCURRENCY
                && let Some(done) = set.join_next().await
            {
                let (j, r) = done.map_err(backend)?;
                results[j] = Some(r);
            }
            let me = self.clone();
            set.spawn(async move { (i, me.put(item, cond).await) });
        }
        while let Some(done) = set.join_next().await {
            let (j, r) = done.map_err(backend)?;
            results[j] = Some(r);
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or(Err(StoreError::Backend("put lost".into()))))
            .collect())
    }

    async fn write_batches(&self, reqs: Vec<WriteRequest>) -> Result<(), StoreError> {
        drain_batches(reqs, 25, 8, |chunk| {
            let (table, client) = (self.table.clone(), self.client.clone());
            async move {
                let out = client
                    .batch_write_item()
                    .request_items(&table, chunk)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                Ok(out
                    .unprocessed_items()
                    .and_then(|u| u.get(&table))
                    .cloned()
                    .unwrap_or_default())
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn unprocessed_batch_items_are_resent_until_written() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let (w, c) = (written.clone(), calls.clone());
        let items: Vec<u32> = (0..60).collect();
        drain_batches(items, 25, 5, move |chunk: Vec<u32>| {
            let (w, c) = (w.clone(), c.clone());
            async move {
                c.lock().map_err(backend)?.push(chunk.len());
                // The service only takes the first 10 of each call; the rest come back.
                let (ok, rest) = chunk.split_at(chunk.len().min(10));
                w.lock().map_err(backend)?.extend_from_slice(ok);
                Ok(rest.to_vec())
            }
        })
        .await
        .expect("all items written");
        let mut got = written.lock().expect("lock").clone();
        got.sort_unstable();
        assert_eq!(got, (0..60).collect::<Vec<_>>());
        assert!(calls.lock().expect("lock").iter().all(|n| *n <= 25));
    }

    #[tokio::test]
    async fn a_batch_that_never_progresses_fails_instead_of_dropping_items() {
        let res = drain_batches(
            vec![1, 2, 3],
            25,
            3,
            |chunk: Vec<i32>| async move { Ok(chunk) },
        )
        .await;
        assert!(matches!(res, Err(StoreError::Backend(_))));
    }

    #[test]
    fn attributes_round_trip() {
        let item = Item::new("P", "S", b"xyz".to_vec())
            .with_gsi2("A", "B")
            .with_ttl(42);
        assert_eq!(from_attrs(&to_attrs(&item)).ok(), Some(item));
    }
}

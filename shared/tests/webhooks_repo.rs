//! The outgoing-webhook repository on both table adapters (embedded, and DynamoDB through the
//! emulator at `OW_TEST_DYNAMODB_URL`): messages stored once, newest-first paging with
//! iterators and time bounds, the fan-out and due indexes, delivery leases, attempts with
//! filters, endpoints per developer.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use shared::domain::webhooks::{DeliveryStatus, Trigger};
use shared::repo::Db;
use shared::repo::webhooks::{Attempt, Delivery, Endpoint, ListParams, Message, MessageData};
use shared::store::dynamo::DynamoTable;
use shared::store::embedded::EmbeddedTable;
use shared::store::{Condition, StoreError, Table};
use uuid::Uuid;

fn embedded() -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let t: Arc<dyn Table> =
        Arc::new(EmbeddedTable::open(&dir.path().join("t.redb")).expect("open"));
    (Db::new(t), dir)
}

async fn dynamo() -> (Db, ()) {
    let url = std::env::var("OW_TEST_DYNAMODB_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("OW_TEST_DYNAMODB_URL is not set: run the suite with `infra/test.sh`");
    let t = DynamoTable::for_endpoint(&url, format!("wh-{}", Uuid::new_v4()));
    t.ensure_table().await.expect("create table");
    (Db::new(Arc::new(t)), ())
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod embedded_adapter {
            $( #[tokio::test] async fn $name() { let (db, _g) = super::embedded(); super::$name(db).await; } )*
        }
        mod dynamodb_adapter {
            $( #[tokio::test] async fn $name() { let (db, _g) = super::dynamo().await; super::$name(db).await; } )*
        }
    };
}

contract!(
    messages_are_stored_once_and_paged_newest_first,
    deliveries_are_due_leased_and_versioned,
    attempts_list_per_endpoint_with_filters,
    endpoints_belong_to_their_developer,
);

/// Minutes after the start of yesterday (listings hide items past their 30-day TTL).
fn t(min: i64) -> DateTime<Utc> {
    use chrono::DurationRound;
    let base = (Utc::now() - Duration::days(1))
        .duration_trunc(Duration::days(1))
        .expect("day");
    base + Duration::minutes(min)
}

fn msg(n: i64) -> Message {
    shared::services::webhooks::new_message(
        &format!("workout.created.{n}"),
        "workout.created",
        Some(Uuid::nil()),
        MessageData::Json(json!({"n": n})),
        t(n),
    )
}

async fn messages_are_stored_once_and_paged_newest_first(db: Db) {
    let msgs: Vec<Message> = (0..5).map(msg).collect();
    assert_eq!(db.insert_messages(&msgs).await.expect("insert"), [true; 5]);
    assert_eq!(
        db.insert_messages(&msgs[..2]).await.expect("again"),
        [false, false]
    );
    // Pages of 2, newest first, every message once.
    let mut seen = Vec::new();
    let mut p = ListParams {
        limit: 2,
        ..ListParams::default()
    };
    let mut pages = 0;
    loop {
        let page = db.list_messages(&p).await.expect("page");
        pages += 1;
        seen.extend(page.items.iter().map(|m| m.event_id.clone()));
        if page.done {
            break;
        }
        p.iterator = page.iterator;
    }
    assert_eq!(pages, 3);
    let want: Vec<String> = (0..5)
        .rev()
        .map(|n| format!("workout.created.{n}"))
        .collect();
    assert_eq!(seen, want);
    // The second page's prevIterator leads back to the first page.
    let first = db
        .list_messages(&ListParams {
            limit: 2,
            ..ListParams::default()
        })
        .await
        .expect("first");
    let second = db
        .list_messages(&ListParams {
            limit: 2,
            iterator: first.iterator.clone(),
            ..ListParams::default()
        })
        .await
        .expect("second");
    let back = db
        .list_messages(&ListParams {
            limit: 2,
            iterator: second.prev_iterator.clone(),
            ..ListParams::default()
        })
        .await
        .expect("back");
    let ids = |p: &shared::repo::webhooks::ListPage<Message>| {
        p.items.iter().map(|m| m.id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&back), ids(&first));
    // Time bounds: after minute 1 and before minute 4 → 3 and 2.
    let bounded = db
        .list_messages(&ListParams {
            limit: 10,
            after: Some(t(1)),
            before: Some(t(4)),
            ..ListParams::default()
        })
        .await
        .expect("bounded");
    let got: Vec<&str> = bounded.items.iter().map(|m| m.event_id.as_str()).collect();
    assert_eq!(got, ["workout.created.3", "workout.created.2"]);
    assert!(matches!(
        db.list_messages(&ListParams {
            limit: 2,
            iterator: Some("%%".into()),
            ..ListParams::default()
        })
        .await,
        Err(shared::repo::webhooks::ListError::BadIterator)
    ));

    // The fan-out index holds the messages until they are marked fanned out.
    assert_eq!(
        db.unfanned_messages(t(10), 100).await.expect("fan").len(),
        5
    );
    assert_eq!(db.unfanned_messages(t(1), 100).await.expect("fan").len(), 1);
    let mut m = db.message(&msgs[0].id).await.expect("get").expect("stored");
    m.fanned_out = true;
    db.save_message(&m).await.expect("save");
    assert_eq!(
        db.unfanned_messages(t(10), 100).await.expect("fan").len(),
        4
    );
    let both = db
        .messages(&[msgs[0].id.clone(), msgs[1].id.clone(), "msg_missing".into()])
        .await
        .expect("batch");
    assert_eq!(both.len(), 2);
}

async fn deliveries_are_due_leased_and_versioned(db: Db) {
    let d = Delivery {
        msg_id: "msg_a".into(),
        endpoint_id: "ep_1".into(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: Some(t(5)),
        created_at: t(0),
        updated_at: t(0),
        version: 0,
    };
    assert!(db.insert_delivery(&d).await.expect("insert"));
    assert!(!db.insert_delivery(&d).await.expect("again"));
    assert!(db.due_deliveries(t(4), 10).await.expect("due").is_empty());
    let due = db.due_deliveries(t(5), 10).await.expect("due");
    assert_eq!(due.len(), 1);
    // A lease moves it out of the due window; a writer holding the old version loses.
    let mut leased = due[0].clone();
    leased.next_attempt_at = Some(t(30));
    db.save_delivery(&leased).await.expect("lease");
    assert!(matches!(
        db.save_delivery(&due[0]).await,
        Err(StoreError::ConditionFailed)
    ));
    assert!(db.due_deliveries(t(10), 10).await.expect("due").is_empty());
    let mut stored = db
        .delivery("msg_a", "ep_1")
        .await
        .expect("get")
        .expect("there");
    assert_eq!(stored.version, 1);
    stored.status = DeliveryStatus::Success;
    stored.attempts = 1;
    stored.next_attempt_at = None;
    db.save_delivery(&stored).await.expect("done");
    assert!(
        db.due_deliveries(t(1000), 10)
            .await
            .expect("due")
            .is_empty()
    );
    let all = db.message_deliveries("msg_a").await.expect("list");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].status, DeliveryStatus::Success);
}

async fn attempts_list_per_endpoint_with_filters(db: Db) {
    for (i, (ep, status, ty)) in [
        ("ep_1", DeliveryStatus::Failed, "sleep.created"),
        ("ep_1", DeliveryStatus::Failed, "workout.created"),
        ("ep_1", DeliveryStatus::Success, "workout.created"),
        ("ep_2", DeliveryStatus::Success, "workout.created"),
    ]
    .into_iter()
    .enumerate()
    {
        db.put_attempt(&Attempt {
            id: format!("atmpt_{i}"),
            endpoint_id: ep.into(),
            msg_id: format!("msg_{i}"),
            event_type: ty.into(),
            url: "https://x".into(),
            response: String::new(),
            response_status_code: 500,
            response_duration_ms: 3,
            status,
            trigger: Trigger::Scheduled,
            timestamp: Utc::now() + Duration::seconds(i as i64),
        })
        .await
        .expect("put");
    }
    let p = ListParams {
        limit: 1,
        ..ListParams::default()
    };
    let failed = db
        .list_attempts("ep_1", &p, |a| a.status == DeliveryStatus::Failed)
        .await
        .expect("list");
    assert_eq!(failed.items.len(), 1);
    assert_eq!(failed.items[0].id, "atmpt_1");
    assert!(!failed.done);
    let rest = db
        .list_attempts(
            "ep_1",
            &ListParams {
                limit: 1,
                iterator: failed.iterator.clone(),
                ..ListParams::default()
            },
            |a| a.status == DeliveryStatus::Failed,
        )
        .await
        .expect("list");
    assert_eq!(rest.items[0].id, "atmpt_0");
    assert!(rest.done);
    let all = db
        .list_attempts(
            "ep_1",
            &ListParams {
                limit: 10,
                ..ListParams::default()
            },
            |_| true,
        )
        .await
        .expect("all");
    assert_eq!(all.items.len(), 3);
}

fn endpoint(dev: Uuid, id: &str, min: i64) -> Endpoint {
    Endpoint {
        id: id.into(),
        developer_id: dev,
        url: "https://x".into(),
        description: None,
        filter_types: None,
        user_id: None,
        disabled: false,
        disabled_reason: None,
        secret: "sealed".into(),
        previous_secret: None,
        previous_until: None,
        failing_since: None,
        created_at: t(min),
        updated_at: t(min),
    }
}

async fn endpoints_belong_to_their_developer(db: Db) {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    for e in [
        endpoint(a, "ep_2", 2),
        endpoint(a, "ep_1", 1),
        endpoint(b, "ep_3", 3),
    ] {
        db.put_endpoint(&e, Condition::NotExists)
            .await
            .expect("put");
    }
    assert!(matches!(
        db.put_endpoint(&endpoint(a, "ep_1", 1), Condition::NotExists)
            .await,
        Err(StoreError::ConditionFailed)
    ));
    let mine: Vec<String> = db
        .developer_endpoints(a)
        .await
        .expect("list")
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(mine, ["ep_1", "ep_2"]);
    assert_eq!(db.all_endpoints().await.expect("all").len(), 3);
    db.delete_endpoint("ep_1").await.expect("delete");
    assert!(db.endpoint("ep_1").await.expect("get").is_none());
    assert_eq!(db.developer_endpoints(a).await.expect("list").len(), 1);
}

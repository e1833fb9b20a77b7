//! Recorded API Gateway (HTTP API, payload v2) events fed through a function's router, the
//! way `lambda_http` hands them to the handler in AWS. Event files: `infra/events/apigw-v2/`.

mod common;

use axum::http::StatusCode;
use base64::Engine;
use common::{Auth, TestApp};
use http_body_util::BodyExt;
use serde_json::Value;
use shared::api::{Group, router_for};
use tower::ServiceExt;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Loads an event file and fills its `{{NAME}}` placeholders (inside base64 bodies too).
fn event(name: &str, vars: &[(&str, &str)]) -> String {
    let path = format!(
        "{}/../infra/events/apigw-v2/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let raw = std::fs::read_to_string(&path).expect("event file");
    let fill = |s: &str| {
        vars.iter().fold(s.to_string(), |acc, (k, v)| {
            acc.replace(&format!("{{{{{k}}}}}"), v)
        })
    };
    let mut v: Value = serde_json::from_str(&fill(&raw)).expect("event json");
    if v["isBase64Encoded"] == true
        && let Some(body) = v["body"].as_str()
    {
        let decoded = String::from_utf8(B64.decode(body).expect("b64")).expect("utf8");
        v["body"] = Value::String(B64.encode(fill(&decoded)));
    }
    v.to_string()
}

async fn invoke(app: &TestApp, group: Group, event: &str) -> (StatusCode, Value) {
    let req = lambda_http::request::from_str(event).expect("a valid API Gateway v2 event");
    let router = router_for(app.state.clone(), &[group]);
    let resp = router.oneshot(req).await.expect("infallible");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_users_function_creates_and_lists_users_from_gateway_events() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let (status, body) = invoke(
        &app,
        Group::Users,
        &event("create-user.json", &[("API_KEY", &key)]),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        (body["email"].as_str(), body["first_name"].as_str()),
        (Some("ada@example.com"), Some("Ada"))
    );
    let (status, body) = invoke(
        &app,
        Group::Users,
        &event("list-users.json", &[("API_KEY", &key)]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (body["total"].as_u64(), body["limit"].as_u64()),
        (Some(1), Some(5))
    );
    // The same event with a wrong key is refused.
    let (status, _) = invoke(
        &app,
        Group::Users,
        &event("list-users.json", &[("API_KEY", "sk-nope")]),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_auth_function_logs_in_and_exchanges_tokens_from_gateway_events() {
    let app = TestApp::new().await;
    let (status, body) = invoke(&app, Group::Auth, &event("login-form.json", &[])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "bearer");

    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    let (app_id, secret) = app.application(&token).await;
    let vars = [
        ("USER_ID", user.as_str()),
        ("APP_ID", app_id.as_str()),
        ("APP_SECRET", secret.as_str()),
    ];
    let (status, body) = invoke(
        &app,
        Group::Auth,
        &event("token-exchange-base64.json", &vars),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sdk = body["access_token"]
        .as_str()
        .expect("sdk token")
        .to_string();

    // An SDK token on a non-SDK route of the users function: 401.
    let vars = [("USER_ID", user.as_str()), ("SDK_TOKEN", sdk.as_str())];
    let (status, body) = invoke(&app, Group::Users, &event("get-user-sdk-token.json", &vars)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // A function only serves its own group: the users route is unknown to the auth function.
    let (status, _) = invoke(
        &app,
        Group::Auth,
        &event("list-users.json", &[("API_KEY", &key)]),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Same request through the local router: same answer.
    assert_eq!(
        app.call(
            "GET",
            &format!("/api/v1/users/{user}"),
            Auth::Bearer(&sdk),
            None
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
}

mod sqs_consumer {
    use std::sync::Arc;

    use async_trait::async_trait;
    use aws_lambda_events::sqs::SqsEvent;
    use shared::clock::SystemClock;
    use shared::config::Config;
    use shared::jobs::local::InProcessQueue;
    use shared::store::embedded::EmbeddedTable;
    use shared::store::{Condition, Item, Key, Page, Query, StoreError, Table, WriteOp};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use uuid::Uuid;

    /// A table whose reads of one user's partition fail, as a throttled or broken backend would,
    /// and whose reads of another's fail as an item over the size limit would (a failure that
    /// no retry can cure). It counts the failures.
    struct Poisoned {
        inner: EmbeddedTable,
        user_pk: String,
        oversized_pk: String,
        failures: AtomicUsize,
    }

    impl Poisoned {
        fn new(inner: EmbeddedTable, poisoned: Uuid, oversized: Uuid) -> Self {
            Self {
                inner,
                user_pk: format!("USER#{poisoned}"),
                oversized_pk: format!("USER#{oversized}"),
                failures: AtomicUsize::new(0),
            }
        }

        fn check(&self, pk: &str) -> Result<(), StoreError> {
            let e = if pk == self.user_pk {
                StoreError::Backend("injected failure".into())
            } else if pk == self.oversized_pk {
                StoreError::TooLarge(500_000)
            } else {
                return Ok(());
            };
            self.failures.fetch_add(1, Ordering::SeqCst);
            Err(e)
        }
    }

    #[async_trait]
    impl Table for Poisoned {
        async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
            self.check(&key.pk)?;
            self.inner.get(key).await
        }
        async fn put(&self, item: Item, cond: Condition) -> Result<(), StoreError> {
            self.inner.put(item, cond).await
        }
        async fn delete(&self, key: &Key, cond: Condition) -> Result<(), StoreError> {
            self.inner.delete(key, cond).await
        }
        async fn query(&self, q: &Query) -> Result<Page, StoreError> {
            self.check(&q.pk)?;
            self.inner.query(q).await
        }
        async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
            self.inner.batch_put(items).await
        }
        async fn batch_delete(&self, keys: Vec<Key>) -> Result<(), StoreError> {
            self.inner.batch_delete(keys).await
        }
        async fn batch_get(&self, keys: Vec<Key>) -> Result<Vec<Item>, StoreError> {
            self.inner.batch_get(keys).await
        }
        async fn counters(&self, key: &Key) -> Result<shared::store::Counters, StoreError> {
            self.inner.counters(key).await
        }
        async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
            self.inner.transact(ops).await
        }
        async fn put_each(
            &self,
            items: Vec<(Item, Condition)>,
        ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
            self.inner.put_each(items).await
        }
    }

    #[tokio::test]
    async fn the_consumer_reports_only_the_failed_messages() {
        let dir = tempfile::tempdir().expect("dir");
        let (user, poisoned) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let table = Poisoned::new(
            EmbeddedTable::open(&dir.path().join("t.redb")).expect("open"),
            poisoned,
            Uuid::new_v4(),
        );
        let state = shared::bootstrap::state_with_queue(
            Arc::new(table),
            Config::for_tests(dir.path()),
            Arc::new(SystemClock),
            InProcessQueue::new(),
        )
        .await
        .expect("state");
        let raw = super::event(
            "../sqs/jobs-batch.json",
            &[
                ("USER_ID", &user.to_string()),
                ("POISONED_USER_ID", &poisoned.to_string()),
            ],
        );
        let event: SqsEvent = serde_json::from_str(&raw).expect("a valid SQS event");
        let resp = shared::jobs::lambda::handle_batch(&state, event).await;
        let failed: Vec<&str> = resp
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["0a8d4e8c-5b7e-4a1c-9d2f-000000000003"]);
    }

    fn rollup(user: Uuid) -> shared::app::Job {
        shared::app::Job::Rollup {
            user_id: user,
            date: chrono::NaiveDate::from_ymd_opt(2025, 3, 1).expect("date"),
        }
    }

    #[tokio::test]
    async fn permanent_failures_are_acknowledged_and_retryable_ones_retried() {
        let dir = tempfile::tempdir().expect("dir");
        let (poisoned, oversized) = (Uuid::new_v4(), Uuid::new_v4());
        let table = Arc::new(Poisoned::new(
            EmbeddedTable::open(&dir.path().join("t.redb")).expect("open"),
            poisoned,
            oversized,
        ));
        // The in-process queue with its worker.
        let state = shared::bootstrap::state_with(
            table.clone(),
            Config::for_tests(dir.path()),
            Arc::new(SystemClock),
        )
        .await
        .expect("state");
        let body = |u: Uuid| serde_json::to_string(&rollup(u)).expect("job");
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
            {"messageId": "retryable", "body": body(poisoned)},
            {"messageId": "permanent", "body": body(oversized)},
        ]}))
        .expect("event");
        let resp = shared::jobs::lambda::handle_batch(&state, event).await;
        let failed: Vec<&str> = resp
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(
            failed,
            ["retryable"],
            "the permanent failure is acknowledged"
        );

        // The in-process queue: a permanent failure runs once, a retryable one five times.
        table.failures.store(0, Ordering::SeqCst);
        state
            .queue
            .enqueue(vec![rollup(oversized)])
            .await
            .expect("enqueue");
        state.jobs_idle().await;
        assert_eq!(table.failures.load(Ordering::SeqCst), 1);
        table.failures.store(0, Ordering::SeqCst);
        state
            .queue
            .enqueue(vec![rollup(poisoned)])
            .await
            .expect("enqueue");
        state.jobs_idle().await;
        assert_eq!(table.failures.load(Ordering::SeqCst), 5);
    }
}

/// A function's router redirects trailing slashes of its own routes only: the templates come
/// from the router it serves, not from every group (which would link every handler).
#[tokio::test]
async fn a_function_redirects_trailing_slashes_of_its_own_routes_only() {
    let app = TestApp::new().await;
    let send = |group: Group, path: &'static str| {
        let router = router_for(app.state.clone(), &[group]);
        async move {
            let req = axum::http::Request::get(path)
                .body(axum::body::Body::empty())
                .expect("request");
            let resp = router.oneshot(req).await.expect("infallible");
            let location = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            (resp.status(), location)
        }
    };
    let (status, location) = send(Group::Users, "/api/v1/users/?limit=2").await;
    assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(location.as_deref(), Some("/api/v1/users?limit=2"));
    // The data function does not serve /api/v1/users: no redirect to a route it cannot answer.
    let (status, location) = send(Group::Data, "/api/v1/users/").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(location, None);
    let (status, location) = send(
        Group::Data,
        "/api/v1/users/6f1c1f5e-1111-4222-8333-944444444444/events/workouts/",
    )
    .await;
    assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        location.as_deref(),
        Some("/api/v1/users/6f1c1f5e-1111-4222-8333-944444444444/events/workouts")
    );
}

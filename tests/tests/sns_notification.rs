//! `POST /api/v1/sns/notification` (api.md #76) over real HTTP: messages signed (SignatureVersion
//! 1 and 2) with the test key in `tests/fixtures/sns` (a self-signed certificate made for these
//! tests only), its certificate served by a local fake of SNS that the app may fetch from only
//! because the harness sets the test-only `S3Settings::sns_test_origin`. A notification of an
//! upload queues its import (which then runs against moto's S3 and stores the export); a
//! subscription is confirmed at its SubscribeURL; a test event is ignored; forged, foreign and
//! malformed messages are refused with 403 / 400 and a `detail`, and a certificate URL off the
//! allowlist is refused before anything is fetched.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use base64::Engine;
use ow_e2e::{Server, Storage, dynamodb_url};
use ow_fakes::apple_export::{ExportSpec, write_export};
use reqwest::StatusCode;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use serde_json::{Value, json};

const KEY_PEM: &str = include_str!("../fixtures/sns/test-signing-key.pem");
const CERT_PEM: &str = include_str!("../fixtures/sns/test-signing-cert.pem");
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:ow-imports";
const CERT_PATH: &str = "/SimpleNotificationService-0123abcd.pem";

/// The fake SNS: the certificate and the subscription confirmation; counts what it serves.
struct FakeSns {
    origin: String,
    cert_fetches: Arc<AtomicUsize>,
    confirmations: Arc<AtomicUsize>,
}

async fn fake_sns() -> FakeSns {
    let cert_fetches = Arc::new(AtomicUsize::new(0));
    let confirmations = Arc::new(AtomicUsize::new(0));
    let (c, s) = (cert_fetches.clone(), confirmations.clone());
    let app = Router::new()
        .route(
            CERT_PATH,
            get(move || {
                c.fetch_add(1, Ordering::SeqCst);
                async { CERT_PEM }
            }),
        )
        .route(
            "/confirm",
            get(move || {
                s.fetch_add(1, Ordering::SeqCst);
                async { "<ConfirmSubscriptionResponse/>" }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    FakeSns {
        origin,
        cert_fetches,
        confirmations,
    }
}

/// The string SNS signs for `m` (AWS's documented field order).
fn string_to_sign(m: &Value) -> String {
    let fields: &[&str] = if m["Type"] == "Notification" {
        &[
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ]
    } else {
        &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ]
    };
    let mut out = String::new();
    for f in fields {
        if let Some(v) = m[*f].as_str() {
            out.push_str(&format!("{f}\n{v}\n"));
        }
    }
    out
}

fn sign(mut m: Value, version: &str) -> Value {
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(KEY_PEM).expect("test key");
    let data = string_to_sign(&m);
    let sig = match version {
        "1" => SigningKey::<sha1::Sha1>::new(key)
            .sign(data.as_bytes())
            .to_vec(),
        _ => SigningKey::<sha2::Sha256>::new(key)
            .sign(data.as_bytes())
            .to_vec(),
    };
    m["SignatureVersion"] = json!(version);
    m["Signature"] = json!(base64::engine::general_purpose::STANDARD.encode(sig));
    m
}

fn notification(fake: &FakeSns, message: &str) -> Value {
    json!({
        "Type": "Notification",
        "MessageId": uuid::Uuid::new_v4().to_string(),
        "TopicArn": TOPIC,
        "Subject": "Amazon S3 Notification",
        "Message": message,
        "Timestamp": "2026-12-03T07:00:00.000Z",
        "SigningCertURL": format!("{}{CERT_PATH}", fake.origin),
        "UnsubscribeURL": format!("{}/unsubscribe", fake.origin),
    })
}

async fn post(s: &Server, body: &Value) -> (StatusCode, Value) {
    let r = s
        .http
        .post(s.url("/api/v1/sns/notification"))
        // SNS posts text/plain.
        .header("content-type", "text/plain; charset=UTF-8")
        .body(body.to_string())
        .send()
        .await
        .expect("post");
    let st = r.status();
    (st, r.json().await.unwrap_or(Value::Null))
}

async fn create_bucket(endpoint: &str) -> String {
    let bucket = format!(
        "ow-sns-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let r = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("create bucket");
    assert!(r.status().is_success(), "create bucket: {}", r.status());
    bucket
}

async fn sns_deliveries_are_verified(storage: Storage) {
    // Without a topic: the reference's 503.
    let plain = Server::start(storage).await;
    let (st, body) = post(&plain, &json!({})).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["detail"], "SNS client not configured");
    drop(plain);

    let fake = fake_sns().await;
    let endpoint = dynamodb_url();
    let bucket = create_bucket(&endpoint).await;
    let origin = fake.origin.clone();
    let s = Server::start_configured(
        storage,
        &[
            ("AWS_SNS_TOPIC_ARN", TOPIC),
            ("AWS_BUCKET_NAME", bucket.as_str()),
            ("AWS_ENDPOINT_URL_S3", endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ],
        move |c| c.s3.sns_test_origin = Some(origin),
    )
    .await;
    let jwt = s.login().await;
    let key = s.api_key(&jwt).await;
    let user: Value = s
        .http
        .post(s.url("/api/v1/users"))
        .header("X-Open-Wearables-API-Key", &key)
        .json(&json!({}))
        .send()
        .await
        .expect("user")
        .json()
        .await
        .expect("json");
    let user = user["id"].as_str().expect("id").to_string();

    // An upload in the bucket, then its notification (SignatureVersion 1 and 2).
    let mut xml = Vec::new();
    let g = write_export(&mut xml, &ExportSpec::default()).expect("generate");
    let object_key = format!("{user}/raw/export.xml");
    let r = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}/{object_key}"))
        .body(xml)
        .send()
        .await
        .expect("put object");
    assert!(r.status().is_success());
    let event = include_str!("../../infra/events/s3/object-created.json")
        .replace("ow-imports-example", &bucket)
        .replace(
            "6f1c1f5e-1111-4222-8333-944444444444/raw/export.xml",
            &object_key,
        )
        .replace("\"eTag\": \"0123456789abcdef0123456789abcdef\",", "");
    for version in ["1", "2"] {
        let (st, body) = post(&s, &sign(notification(&fake, &event), version)).await;
        assert_eq!(st, StatusCode::ACCEPTED, "v{version}: {body}");
        assert_eq!(
            body,
            json!({"status_code": 202, "response": "1 tasks dispatched", "user_id": null,
                "dropped_count": 0, "records_saved": 0, "workouts_saved": 0, "sleep_saved": 0})
        );
    }
    assert_eq!(
        fake.cert_fetches.load(Ordering::SeqCst),
        1,
        "the certificate is cached"
    );
    // The queued import ran (the in-process queue) and stored the export.
    let mut total = Value::Null;
    for _ in 0..600 {
        s.state.jobs_idle().await;
        let r: Value = s
            .http
            .get(s.url(&format!("/api/v1/users/{user}/summaries/data")))
            .header("X-Open-Wearables-API-Key", &key)
            .send()
            .await
            .expect("summary")
            .json()
            .await
            .expect("json");
        total = r["total_data_points"].clone();
        if total == json!(g.samples()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(total, json!(g.samples()));

    // The bucket's test event is ignored; keys of fewer than 3 segments queue nothing.
    let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#;
    let (st, body) = post(&s, &sign(notification(&fake, test_event), "2")).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status_code"], 200);
    assert_eq!(body["response"], "ignored: s3:TestEvent");
    let short = event.replace(&object_key, "export.xml");
    let (st, body) = post(&s, &sign(notification(&fake, &short), "2")).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["response"], "0 tasks dispatched");

    // A subscription is confirmed at its SubscribeURL.
    let confirm = json!({
        "Type": "SubscriptionConfirmation",
        "MessageId": "m-1",
        "Token": "tok-1",
        "TopicArn": TOPIC,
        "Message": "You have chosen to subscribe to the topic.",
        "SubscribeURL": format!("{}/confirm?Token=tok-1", fake.origin),
        "Timestamp": "2026-12-03T07:00:00.000Z",
        "SigningCertURL": format!("{}{CERT_PATH}", fake.origin),
    });
    let (st, body) = post(&s, &sign(confirm.clone(), "1")).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status_code"], 200);
    assert_eq!(body["response"], "subscription_confirmed");
    assert_eq!(fake.confirmations.load(Ordering::SeqCst), 1);
    // A SubscribeURL off the SNS hosts is not fetched.
    let mut elsewhere = confirm.clone();
    elsewhere["SubscribeURL"] = json!("https://example.com/confirm");
    let (st, body) = post(&s, &sign(elsewhere, "1")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(fake.confirmations.load(Ordering::SeqCst), 1);

    // Forged, foreign, off-list and malformed messages.
    let mut forged = sign(notification(&fake, &event), "2");
    forged["Message"] = json!(event.replace("ObjectCreated:Post", "ObjectCreated:Put"));
    let (st, body) = post(&s, &forged).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["detail"], "invalid SNS signature");
    let mut foreign = notification(&fake, &event);
    foreign["TopicArn"] = json!("arn:aws:sns:us-east-1:123456789012:other");
    let (st, body) = post(&s, &sign(foreign, "2")).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["detail"], "invalid SNS topic ARN");
    let fetches = fake.cert_fetches.load(Ordering::SeqCst);
    for url in [
        format!("{}/other.pem", fake.origin),
        "https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-ab.pem"
            .to_string(),
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-ab.pem".to_string(),
    ] {
        let mut m = notification(&fake, &event);
        m["SigningCertURL"] = json!(url);
        let (st, body) = post(&s, &sign(m, "2")).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{url}: {body}");
        assert_eq!(body["detail"], "invalid SNS signature");
    }
    assert_eq!(
        fake.cert_fetches.load(Ordering::SeqCst),
        fetches,
        "nothing fetched off the allowlist"
    );
    let mut unknown_version = sign(notification(&fake, &event), "2");
    unknown_version["SignatureVersion"] = json!("3");
    let (st, _) = post(&s, &unknown_version).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let mut other_type = notification(&fake, &event);
    other_type["Type"] = json!("UnsubscribeConfirmation");
    other_type["Token"] = json!("t");
    other_type["SubscribeURL"] = json!(format!("{}/confirm", fake.origin));
    let (st, body) = post(&s, &sign(other_type, "2")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["detail"],
        "unknown message type: UnsubscribeConfirmation"
    );
    for bad in [json!("not an object"), json!({"Type": "Notification"})] {
        let (st, body) = post(&s, &bad).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("invalid SNS message")),
            "{body}"
        );
    }
    let not_s3 = sign(notification(&fake, "plain text"), "2");
    let (st, body) = post(&s, &not_s3).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn sns_notification_embedded() {
    sns_deliveries_are_verified(Storage::Embedded).await;
}

#[tokio::test]
async fn sns_notification_dynamodb() {
    sns_deliveries_are_verified(Storage::Dynamo).await;
}

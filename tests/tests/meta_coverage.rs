//! `GET /api/v1/meta/coverage` over HTTP: public, and the reference's matrix exactly (the
//! reference's answer, `shared/tests/fixtures/meta_coverage.json`, taken from the spec's
//! upstream samples), on both table adapters (the answer does not depend on the store).

use ow_e2e::{Server, Storage};
use reqwest::StatusCode;
use serde_json::Value;

async fn the_coverage_matrix_is_the_references(storage: Storage) {
    let s = Server::start(storage).await;
    let r = s
        .http
        .get(s.url("/api/v1/meta/coverage"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK, "public: no credentials needed");
    let got: Value = r.json().await.expect("json");
    let want: Value = serde_json::from_str(include_str!(
        "../../shared/tests/fixtures/meta_coverage.json"
    ))
    .expect("fixture");
    assert_eq!(got, want);
    // Wrong method: the framework's 405.
    let r = s
        .http
        .post(s.url("/api/v1/meta/coverage"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["detail"], "Method Not Allowed");
}

#[tokio::test]
async fn the_coverage_matrix_is_the_references_embedded() {
    the_coverage_matrix_is_the_references(Storage::Embedded).await;
}

#[tokio::test]
async fn the_coverage_matrix_is_the_references_dynamodb() {
    the_coverage_matrix_is_the_references(Storage::Dynamo).await;
}

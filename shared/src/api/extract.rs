//! Request extractors with the reference's error texts: path ids and query strings. Auth
//! extractors live in `auth::guard`; a handler names them first so that auth errors come
//! before these validation errors.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::{parse_uuid, query};
use crate::error::ApiError;

/// The route's one path parameter, a UUID (400 `Input should be a valid UUID, …` otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        parse_uuid(&raw)
            .map(Self)
            .map_err(IntoResponse::into_response)
    }
}

/// The route's two path parameters, both UUIDs, checked in path order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathIds(pub Uuid, pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let Path((a, b)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let a = parse_uuid(&a).map_err(IntoResponse::into_response)?;
        let b = parse_uuid(&b).map_err(IntoResponse::into_response)?;
        Ok(Self(a, b))
    }
}

/// A typed query string (400 `Invalid query parameters: …` on malformed values).
#[derive(Debug, Clone, Default)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        query(parts.uri.query()).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use axum::routing::get;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn call(router: axum::Router, uri: &str) -> (u16, String) {
        let r = router
            .oneshot(
                Request::get(uri)
                    .body(axum::body::Body::empty())
                    .expect("request"),
            )
            .await
            .unwrap_or_else(|never| match never {});
        let status = r.status().as_u16();
        let body = r.into_body().collect().await.expect("body").to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn path_ids_are_uuids_with_the_reference_text() {
        let one = axum::Router::new().route(
            "/u/{id}",
            get(|PathId(id): PathId| async move { id.to_string() }),
        );
        let nil = Uuid::nil().to_string();
        assert_eq!(
            call(one.clone(), &format!("/u/{nil}")).await,
            (200, nil.clone())
        );
        let (status, body) = call(one, "/u/nope").await;
        assert_eq!(status, 400);
        assert!(
            body.contains("Input should be a valid UUID, invalid character"),
            "{body}"
        );
        let two = axum::Router::new().route(
            "/u/{a}/e/{b}",
            get(|PathIds(a, b): PathIds| async move { format!("{a} {b}") }),
        );
        assert_eq!(
            call(two.clone(), &format!("/u/{nil}/e/{nil}")).await,
            (200, format!("{nil} {nil}"))
        );
        let (status, body) = call(two, &format!("/u/{nil}/e/x")).await;
        assert_eq!(status, 400);
        assert!(body.contains("Input should be a valid UUID"), "{body}");
    }

    #[tokio::test]
    async fn typed_queries_answer_400_with_the_reference_text() {
        #[derive(serde::Deserialize)]
        struct Q {
            n: Option<u8>,
        }
        let r = axum::Router::new().route(
            "/q",
            get(|Query(q): Query<Q>| async move { format!("{:?}", q.n) }),
        );
        assert_eq!(call(r.clone(), "/q?n=3").await, (200, "Some(3)".into()));
        assert_eq!(call(r.clone(), "/q").await, (200, "None".into()));
        let (status, body) = call(r, "/q?n=x").await;
        assert_eq!(status, 400);
        assert!(body.contains("Invalid query parameters: "), "{body}");
    }
}

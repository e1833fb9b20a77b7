//! The safety net: a panic in any handler is logged and answered `500
//! {"detail":"Internal Server Error"}` instead of dropping the connection (locally) or failing
//! the invocation (Lambda). Needs `panic = "unwind"`, which every profile of the workspace uses.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;

use crate::error::ApiError;

/// Middleware: runs the rest of the stack and turns a panic into a logged 500.
pub async fn catch_panic(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    match std::panic::AssertUnwindSafe(next.run(req))
        .catch_unwind()
        .await
    {
        Ok(resp) => resp,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".into());
            tracing::error!(%method, %path, panic = %message, "handler panicked");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
                .into_response()
        }
    }
}

/// `router` with the safety net around every route.
pub fn catch_panics<S: Clone + Send + Sync + 'static>(router: axum::Router<S>) -> axum::Router<S> {
    router.layer(axum::middleware::from_fn(catch_panic))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_json() {
        let app = catch_panics(axum::Router::new().route(
            "/boom",
            get(|| async {
                let v: Vec<u8> = Vec::new();
                format!("{}", v[3])
            }),
        ));
        let req = axum::http::Request::get("/boom")
            .body(axum::body::Body::empty())
            .expect("request");
        let resp = app.oneshot(req).await.expect("infallible");
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(resp.into_body(), 1024)
            .await
            .expect("body");
        assert_eq!(&body[..], br#"{"detail":"Internal Server Error"}"#);
    }
}

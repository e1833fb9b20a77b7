//! Cross-origin requests, answered as the reference's Starlette `CORSMiddleware` answers them
//! (every method and header, credentials allowed, origins from [`crate::config::Cors`]).
//!
//! It wraps the whole router, so a preflight (`OPTIONS` with `Origin` and
//! `Access-Control-Request-Method`) is answered here on every path, known or not, before any
//! route, fallback or authentication runs: 200 `OK` for an allowed origin, 400
//! `Disallowed CORS origin` otherwise. Other requests pass through; an allowed origin is echoed
//! in `Access-Control-Allow-Origin` (also when every origin is allowed: browsers refuse `*` on
//! credentialed requests) with `Vary: Origin`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::config::Cors;

/// The methods a preflight may ask for (Starlette's `ALL_METHODS`), as the answer lists them.
const ALLOW_METHODS: &str = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT";

/// Seconds a browser may cache a preflight answer (Starlette's default).
pub const MAX_AGE_SECONDS: u32 = 600;

/// `router` behind the CORS policy.
pub fn layer(router: axum::Router, policy: Cors) -> axum::Router {
    router.layer(axum::middleware::from_fn_with_state(
        Arc::new(policy),
        handle,
    ))
}

async fn handle(State(policy): State<Arc<Cors>>, req: Request, next: Next) -> Response {
    let Some(origin) = req.headers().get(header::ORIGIN).cloned() else {
        return next.run(req).await;
    };
    if req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return preflight(&policy, &origin, req.headers());
    }
    let mut resp = next.run(req).await;
    let allowed = origin.to_str().is_ok_and(|o| policy.allows(o));
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    if allowed {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    add_vary_origin(h);
    resp
}

/// The answer to a preflight; nothing behind the layer runs.
fn preflight(policy: &Cors, origin: &HeaderValue, req: &HeaderMap) -> Response {
    let mut failures = Vec::new();
    let mut resp = Response::new(Body::empty());
    let h = resp.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOW_METHODS),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from(MAX_AGE_SECONDS),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    if origin.to_str().is_ok_and(|o| policy.allows(o)) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    } else {
        failures.push("origin");
    }
    let method = req
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|m| m.to_str().ok())
        .unwrap_or("");
    if !ALLOW_METHODS.split(", ").any(|m| m == method) {
        failures.push("method");
    }
    // Every header is allowed: the requested list is echoed (`*` would not cover
    // `Authorization`, nor anything on a credentialed request).
    if let Some(asked) = req.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    let (status, text) = if failures.is_empty() {
        (StatusCode::OK, "OK".to_string())
    } else {
        (
            StatusCode::BAD_REQUEST,
            format!("Disallowed CORS {}", failures.join(", ")),
        )
    };
    *resp.status_mut() = status;
    *resp.body_mut() = Body::from(text);
    resp
}

/// Adds `Origin` to the response's `Vary` unless it is already there (or `Vary: *`).
fn add_vary_origin(h: &mut HeaderMap) {
    let present = h.get_all(header::VARY).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|t| t.trim() == "*" || t.trim().eq_ignore_ascii_case("origin"))
        })
    });
    if !present {
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header::HeaderName;
    use tower::ServiceExt;

    fn app(policy: Cors) -> axum::Router {
        let routes = axum::Router::new()
            .route(
                "/x",
                axum::routing::get(|| async { ([(header::VARY, "Accept-Encoding")], "hello") }),
            )
            .fallback(|| async { (StatusCode::NOT_FOUND, "nope") });
        layer(routes, policy)
    }

    fn listed() -> Cors {
        Cors {
            allow_all: false,
            origins: vec!["https://portal.example".into()],
        }
    }

    async fn call(app: axum::Router, req: Request) -> (StatusCode, HeaderMap, String) {
        let resp = app.oneshot(req).await.expect("infallible");
        let (parts, body) = resp.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 16).await.expect("body");
        (
            parts.status,
            parts.headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    fn preflight_req(path: &str, origin: &str, method: &str) -> Request {
        Request::builder()
            .method(Method::OPTIONS)
            .uri(path)
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, method)
            .header(
                header::ACCESS_CONTROL_REQUEST_HEADERS,
                "authorization, x-open-wearables-api-key",
            )
            .body(Body::empty())
            .expect("request")
    }

    fn h<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
        headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[tokio::test]
    async fn a_preflight_is_answered_on_any_path_for_an_allowed_origin() {
        for path in ["/x", "/no/such/route"] {
            let (status, headers, body) = call(
                app(listed()),
                preflight_req(path, "https://portal.example", "GET"),
            )
            .await;
            assert_eq!((status, body.as_str()), (StatusCode::OK, "OK"), "{path}");
            assert_eq!(
                h(&headers, &header::ACCESS_CONTROL_ALLOW_ORIGIN),
                Some("https://portal.example")
            );
            assert_eq!(
                h(&headers, &header::ACCESS_CONTROL_ALLOW_HEADERS),
                Some("authorization, x-open-wearables-api-key")
            );
            assert_eq!(
                h(&headers, &header::ACCESS_CONTROL_ALLOW_CREDENTIALS),
                Some("true")
            );
            assert_eq!(h(&headers, &header::ACCESS_CONTROL_MAX_AGE), Some("600"));
            assert_eq!(h(&headers, &header::VARY), Some("Origin"));
        }
    }

    #[tokio::test]
    async fn a_preflight_from_another_origin_or_for_an_odd_method_is_refused() {
        let (status, headers, body) = call(
            app(listed()),
            preflight_req("/x", "https://evil.example", "GET"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body, "Disallowed CORS origin");
        assert_eq!(h(&headers, &header::ACCESS_CONTROL_ALLOW_ORIGIN), None);
        let (status, _, body) = call(
            app(listed()),
            preflight_req("/x", "https://evil.example", "TRACE"),
        )
        .await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::BAD_REQUEST, "Disallowed CORS origin, method")
        );
    }

    #[tokio::test]
    async fn actual_requests_echo_an_allowed_origin_only() {
        let get = |origin: Option<&str>| {
            let mut b = Request::builder().uri("/x");
            if let Some(o) = origin {
                b = b.header(header::ORIGIN, o);
            }
            b.body(Body::empty()).expect("request")
        };
        let (status, headers, body) =
            call(app(listed()), get(Some("https://portal.example"))).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "hello"));
        assert_eq!(
            h(&headers, &header::ACCESS_CONTROL_ALLOW_ORIGIN),
            Some("https://portal.example")
        );
        let vary: Vec<_> = headers.get_all(header::VARY).iter().collect();
        assert_eq!(vary, ["Accept-Encoding", "Origin"]);

        let (_, headers, _) = call(app(listed()), get(Some("https://evil.example"))).await;
        assert_eq!(h(&headers, &header::ACCESS_CONTROL_ALLOW_ORIGIN), None);

        let (_, headers, _) = call(app(listed()), get(None)).await;
        assert!(
            [
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            ]
            .iter()
            .all(|n| !headers.contains_key(n)),
            "no Origin, no CORS headers: {headers:?}"
        );

        // A plain OPTIONS (no preflight) reaches the routes like any method.
        let plain = Request::builder()
            .method(Method::OPTIONS)
            .uri("/x")
            .header(header::ORIGIN, "https://portal.example")
            .body(Body::empty())
            .expect("request");
        let (status, _, _) = call(app(listed()), plain).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    }

    #[tokio::test]
    async fn allow_all_echoes_the_origin_instead_of_a_star() {
        let all = Cors {
            allow_all: true,
            origins: Vec::new(),
        };
        let (status, headers, _) = call(
            app(all.clone()),
            preflight_req("/x", "https://any.example", "DELETE"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            h(&headers, &header::ACCESS_CONTROL_ALLOW_ORIGIN),
            Some("https://any.example")
        );
        let req = Request::builder()
            .uri("/nowhere")
            .header(header::ORIGIN, "https://any.example")
            .body(Body::empty())
            .expect("request");
        let (status, headers, _) = call(app(all), req).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            h(&headers, &header::ACCESS_CONTROL_ALLOW_ORIGIN),
            Some("https://any.example")
        );
        assert_eq!(h(&headers, &header::VARY), Some("Origin"));
    }
}

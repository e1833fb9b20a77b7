//! HTTP API: the shared state, request extraction with the reference's error texts, and the
//! per-group routers that the local server merges and each Lambda function serves alone.

pub mod apple_import;
pub mod auth;
pub mod cors;
pub mod dashboard;
pub mod data;
pub mod extract;
pub mod garmin_backfill;
pub mod invitations;
pub mod outgoing;
pub mod panics;
pub mod params;
pub mod providers;
pub mod root;
pub mod sdk;
pub mod settings;
pub mod subscriptions;
pub mod summaries;
pub mod sync_status;
pub mod users;
pub mod webhooks;
pub mod wire;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

pub use crate::app::{AppState, State};
use crate::error::{ApiError, ApiResult};

/// The route groups, each deployable as one Lambda function (whose `main` names the group's
/// router itself: the route set of the local server and the tests' route probe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// `/`, `/openapi.json`, `/docs`.
    Root,
    /// Developer auth, developers, developer invitations, API keys, applications, SDK tokens,
    /// invitation codes.
    Auth,
    /// Users.
    Users,
    /// Mobile SDK push and logs; the Apple XML import's answers while it is off.
    Sdk,
    /// Health data reads: timeseries, summaries, events, scores, data sources.
    Data,
    /// Settings: synthetic data, priorities, outgoing webhooks, instance flags, dashboard
    /// statistics, data lifecycle.
    Settings,
    /// Provider list and settings, OAuth authorize, connections, provider icons.
    Providers,
    /// The OAuth callback the providers redirect to.
    OAuthCallback,
    /// Inbound provider webhooks.
    Webhooks,
    /// The developer portal's HTML pages under `/portal` (`crate::portal`).
    Portal,
}

impl Group {
    pub const ALL: [Group; 10] = [
        Group::Root,
        Group::Auth,
        Group::Users,
        Group::Sdk,
        Group::Data,
        Group::Settings,
        Group::Providers,
        Group::OAuthCallback,
        Group::Webhooks,
        Group::Portal,
    ];

    fn routes(self) -> OpenApiRouter<State> {
        match self {
            Group::Root => root::openapi_router(),
            Group::Auth => auth::openapi_router(),
            Group::Users => users::openapi_router(),
            Group::Sdk => sdk::openapi_router(),
            Group::Data => data::openapi_router(),
            Group::Settings => settings::openapi_router().merge(outgoing::openapi_router()),
            Group::Providers => providers_group(),
            Group::OAuthCallback => providers::callback_openapi_router(),
            Group::Webhooks => webhooks::openapi_router(),
            Group::Portal => crate::portal::openapi_router(),
        }
    }
}

/// The routes of [`Group::Providers`]: provider list and settings, OAuth authorize,
/// connections, Garmin backfill, sync status, subscriptions.
pub fn providers_group() -> OpenApiRouter<State> {
    providers::openapi_router()
        .merge(garmin_backfill::openapi_router())
        .merge(sync_status::openapi_router())
        .merge(subscriptions::openapi_router())
}

/// A router serving the given groups, with the shared fallbacks and limits.
pub fn router_for(state: State, groups: &[Group]) -> Router {
    let mut r = OpenApiRouter::new();
    for g in groups {
        r = r.merge(g.routes());
    }
    serve(state, r)
}

/// `routes` with the shared fallbacks, limits and panic layer, over `state`, behind the CORS
/// policy (outermost, so preflights are answered on every path). A Lambda function
/// passes its own group's router (the `openapi_router()` of its module), so it links only
/// those handlers; the local server passes every group through [`router_for`]. The
/// trailing-slash fallback knows the routes from `routes`' own OpenAPI operations.
pub fn serve(state: State, routes: OpenApiRouter<State>) -> Router {
    let limit = state.config.max_body_bytes;
    let policy = state.config.cors.clone();
    let (routes, doc) = routes.split_for_parts();
    let templates = route_templates(&doc);
    let r = routes
        .fallback(move |uri: axum::http::Uri| {
            let templates = templates.clone();
            async move { not_found(uri, &templates) }
        })
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(wire::payload_too_large))
        .layer(DefaultBodyLimit::max(limit));
    cors::layer(panics::catch_panics(r).with_state(state), policy)
}

/// Every route group: the local server's router.
pub fn app(state: State) -> Router {
    router_for(state, &Group::ALL)
}

/// Unknown paths: a path that only differs from a route by trailing slashes is redirected to
/// it (307 keeps method and body, like the reference's `redirect_slashes`); else 404.
fn not_found(uri: axum::http::Uri, templates: &[Template]) -> axum::response::Response {
    if let Some(to) = without_trailing_slash(&uri, templates) {
        return (
            StatusCode::TEMPORARY_REDIRECT,
            [(axum::http::header::LOCATION, to)],
        )
            .into_response();
    }
    ApiError::new(StatusCode::NOT_FOUND, "Not Found").into_response()
}

/// A route template split into segments (`None` for a `{parameter}`).
type Template = Vec<Option<String>>;

/// The route templates of a router's OpenAPI operations.
fn route_templates(doc: &utoipa::openapi::OpenApi) -> Arc<[Template]> {
    doc.paths
        .paths
        .keys()
        .map(|p| {
            p.split('/')
                .map(|seg| (!seg.starts_with('{')).then(|| seg.to_string()))
                .collect()
        })
        .collect()
}

/// `path?query` without the trailing slashes, when that names a route.
fn without_trailing_slash(
    uri: &axum::http::Uri,
    templates: &[Template],
) -> Option<axum::http::HeaderValue> {
    let path = uri.path();
    let stripped = path.trim_end_matches('/');
    if stripped.len() == path.len() || stripped.is_empty() || stripped.starts_with("//") {
        return None;
    }
    let segs: Vec<&str> = stripped.split('/').collect();
    let known = templates.iter().any(|t| {
        t.len() == segs.len()
            && t.iter().zip(&segs).all(|(want, got)| match want {
                Some(lit) => lit == got,
                None => !got.is_empty(),
            })
    });
    if !known {
        return None;
    }
    let to = match uri.query() {
        Some(q) => format!("{stripped}?{q}"),
        None => stripped.to_string(),
    };
    axum::http::HeaderValue::from_str(&to).ok()
}

async fn method_not_allowed() -> impl IntoResponse {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
}

/// Parses a path UUID with the reference's 400 text.
pub fn parse_uuid(raw: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw).map_err(|e| {
        let reason = e.to_string();
        ApiError::bad_request(format!("Input should be a valid UUID, {reason} - {reason}"))
    })
}

/// Decodes a JSON body that must be present (an empty body is 400 `Field required`).
pub fn json_body<T: DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("Field required"));
    }
    decode_json(body)
}

/// Decodes an optional JSON body (empty means `T::default()`).
pub fn opt_json_body<T: DeserializeOwned + Default>(body: &Bytes) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    decode_json(body)
}

fn decode_json<T: DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("JSON decode error - {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "Input should be a valid dictionary or object",
        ));
    }
    serde_json::from_value(value).map_err(|e| ApiError::bad_request(wire::serde_message(&e)))
}

/// Decodes a query string into `T` (400 on malformed values).
pub fn query<T: DeserializeOwned>(raw: Option<&str>) -> ApiResult<T> {
    serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("Invalid query parameters: {e}")))
}

/// The client's address as the server saw it: the TCP peer locally, the API Gateway
/// request context's source IP in Lambda. `X-Forwarded-For` is not trusted.
pub fn client_ip(ext: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    if let Some(axum::extract::ConnectInfo(addr)) =
        ext.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        return Some(addr.ip());
    }
    use lambda_http::request::RequestContext;
    let ip = match ext.get::<RequestContext>()? {
        RequestContext::ApiGatewayV2(c) => c.http.source_ip.clone(),
        RequestContext::ApiGatewayV1(c) => c.identity.source_ip.clone(),
        _ => None,
    }?;
    ip.parse().ok()
}

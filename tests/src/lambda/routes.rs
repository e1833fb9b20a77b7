//! Which Lambda function serves which route: the functions' binary names, the local server's
//! route set, and a probe that asks a group's real router whether it serves a request.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::MatchedPath;
use axum::http::{Request, StatusCode};
use shared::api::{Group, State, router_for};
use shared::clock::SystemClock;
use shared::config::Config;
use shared::store::embedded::EmbeddedTable;
use tower::ServiceExt;

/// The function binary (under `functions/`) that serves a route group. Exhaustive on purpose:
/// a new group does not compile until it has a function here.
pub fn function_name(group: Group) -> &'static str {
    match group {
        Group::Root => "ow-api-meta",
        Group::Auth => "ow-api-auth",
        Group::Users => "ow-api-users",
        Group::Sdk => "ow-api-sdk",
        Group::Data => "ow-api-data",
        Group::Settings => "ow-api-settings",
        Group::Providers => "ow-api-providers",
        Group::OAuthCallback => "ow-oauth-callback",
        Group::Webhooks => "ow-webhooks",
        Group::Portal => "ow-portal",
    }
}

/// The group a function binary serves.
pub fn group_of_function(binary: &str) -> Option<Group> {
    Group::ALL.into_iter().find(|g| function_name(*g) == binary)
}

/// The group whose function also holds the HTTP API's `$default` route (requests that match
/// no route), so that they get the API's own JSON 404.
pub const DEFAULT_ROUTE_GROUP: Group = Group::Root;

/// Routes the local server serves that the OpenAPI document does not describe.
/// (Keep this list in step with the routers: a route missing here and from the OpenAPI
/// document is invisible to the route-set test.)
pub const UNDOCUMENTED_ROUTES: &[(&str, &str)] = &[
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/static/provider-icons/{name}"),
];

/// Every `(METHOD, path)` the local server serves, paths in API Gateway syntax (`{user_id}`):
/// the OpenAPI operations, the undocumented routes and the portal's pages.
pub fn local_routes() -> BTreeSet<(String, String)> {
    shared::openapi::operations()
        .into_iter()
        .chain(
            UNDOCUMENTED_ROUTES
                .iter()
                .chain(shared::portal::ROUTES)
                .map(|(m, p)| (m.to_string(), p.to_string())),
        )
        .collect()
}

/// A route pattern with every `{param}` filled in by a nil UUID.
pub fn concrete_path(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') && seg.ends_with('}') {
                "00000000-0000-0000-0000-000000000000"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Asks each group's router, over a throwaway embedded table, which route pattern (if any)
/// serves a request. A request the router answers with its fallback (404) or with 405 is not
/// served by that group.
pub struct RouteProbe {
    state: State,
    _dir: tempfile::TempDir,
}

const MATCHED: &str = "x-probe-matched-path";

impl RouteProbe {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let table = Arc::new(EmbeddedTable::open(&dir.path().join("probe.redb")).expect("open"));
        let config = Config::for_tests(dir.path());
        let state = shared::bootstrap::state_with(table, config, Arc::new(SystemClock))
            .await
            .expect("state");
        Self { state, _dir: dir }
    }

    /// The route pattern of `group` that serves `METHOD path` (a concrete path), if any.
    pub async fn matched(&self, group: Group, method: &str, path: &str) -> Option<String> {
        let router = router_for(self.state.clone(), &[group]).layer(axum::middleware::from_fn(
            |req: Request<Body>, next: axum::middleware::Next| async move {
                let matched = req.extensions().get::<MatchedPath>().cloned();
                let mut resp = next.run(req).await;
                if let Some(m) = matched
                    && let Ok(v) = m.as_str().parse()
                {
                    resp.headers_mut().insert(MATCHED, v);
                }
                resp
            },
        ));
        // No credentials and no body: handlers refuse early and touch nothing.
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .expect("request");
        let resp = router.oneshot(req).await.expect("infallible");
        if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
            return None;
        }
        resp.headers()
            .get(MATCHED)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// The group serving `METHOD path` (a concrete path) and the matching route pattern.
    pub async fn owner(&self, method: &str, path: &str) -> Option<(Group, String)> {
        for g in Group::ALL {
            if let Some(pattern) = self.matched(g, method, path).await {
                return Some((g, pattern));
            }
        }
        None
    }
}

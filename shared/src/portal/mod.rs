//! The developer portal: server-rendered HTML pages under `/portal` (maud templates, SVG
//! charts drawn here, one small script for copy buttons and live sync rows), a client of the
//! API in the same process ([`call`]), with its own session and CSRF rules ([`session`]). Its
//! own route group and Lambda function; no Node toolchain at build or run time.

pub mod call;
pub mod charts;
pub mod layout;
pub mod pages;
pub mod session;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use utoipa_axum::router::OpenApiRouter;

use crate::api::State;
use call::ApiCache;
use pages::{auth, overview, pair, settings, team, users, webhooks};

/// Every portal route (HTML, so none is in the OpenAPI document): `(METHOD, path)`.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/portal"),
    ("GET", "/portal/static/{file}"),
    ("GET", "/portal/login"),
    ("POST", "/portal/login"),
    ("POST", "/portal/logout"),
    ("GET", "/portal/password"),
    ("POST", "/portal/password"),
    ("GET", "/portal/users"),
    ("POST", "/portal/users"),
    ("GET", "/portal/users/{user_id}"),
    ("POST", "/portal/users/{user_id}/edit"),
    ("POST", "/portal/users/{user_id}/delete"),
    ("POST", "/portal/users/{user_id}/invitation"),
    ("POST", "/portal/users/{user_id}/pairing-link"),
    ("GET", "/portal/pair/{user_id}"),
    ("POST", "/portal/pair/{user_id}/{provider}"),
    (
        "POST",
        "/portal/users/{user_id}/connections/{provider}/sync",
    ),
    (
        "POST",
        "/portal/users/{user_id}/connections/{provider}/disconnect",
    ),
    ("GET", "/portal/users/{user_id}/sync/stream"),
    ("GET", "/portal/syncs"),
    ("GET", "/portal/webhooks"),
    ("POST", "/portal/webhooks"),
    ("GET", "/portal/webhooks/{endpoint_id}"),
    ("POST", "/portal/webhooks/{endpoint_id}/edit"),
    ("POST", "/portal/webhooks/{endpoint_id}/rotate"),
    ("POST", "/portal/webhooks/{endpoint_id}/test"),
    ("POST", "/portal/webhooks/{endpoint_id}/delete"),
    ("POST", "/portal/webhooks/messages/{msg_id}/retry"),
    ("GET", "/portal/coverage"),
    ("GET", "/portal/settings"),
    ("POST", "/portal/settings/api-keys"),
    ("POST", "/portal/settings/api-keys/{key_id}/rename"),
    ("POST", "/portal/settings/api-keys/{key_id}/rotate"),
    ("POST", "/portal/settings/api-keys/{key_id}/delete"),
    ("GET", "/portal/settings/applications"),
    ("POST", "/portal/settings/applications"),
    ("POST", "/portal/settings/applications/{app_id}/rotate"),
    ("POST", "/portal/settings/applications/{app_id}/delete"),
    ("GET", "/portal/settings/providers"),
    ("POST", "/portal/settings/providers/{provider}"),
    ("GET", "/portal/settings/priorities"),
    ("POST", "/portal/settings/priorities/{kind}"),
    ("GET", "/portal/settings/lifecycle"),
    ("POST", "/portal/settings/lifecycle"),
    ("POST", "/portal/settings/lifecycle/run"),
    ("GET", "/portal/settings/team"),
    ("POST", "/portal/settings/team"),
    ("POST", "/portal/settings/team/{invitation_id}/resend"),
    ("POST", "/portal/settings/team/{invitation_id}/revoke"),
    ("GET", "/portal/accept-invite"),
    ("POST", "/portal/accept-invite"),
    ("GET", "/portal/settings/seed"),
    ("POST", "/portal/settings/seed"),
];

/// The portal's routes (merged into the local server; served alone by its function).
pub fn openapi_router() -> OpenApiRouter<State> {
    let r = axum::Router::<State>::new()
        .route("/portal", get(overview::dashboard))
        .route("/portal/static/{file}", get(asset))
        .route("/portal/login", get(auth::login_page).post(auth::login))
        .route("/portal/logout", post(auth::logout))
        .route(
            "/portal/password",
            get(auth::password_page).post(auth::change_password),
        )
        .route("/portal/users", get(users::list).post(users::create))
        .route("/portal/users/{user_id}", get(users::show))
        .route("/portal/users/{user_id}/edit", post(users::edit))
        .route("/portal/users/{user_id}/delete", post(users::delete))
        .route(
            "/portal/users/{user_id}/invitation",
            post(users::invitation),
        )
        .route(
            "/portal/users/{user_id}/pairing-link",
            post(pair::create_link),
        )
        .route("/portal/pair/{user_id}", get(pair::page))
        .route("/portal/pair/{user_id}/{provider}", post(pair::connect))
        .route(
            "/portal/users/{user_id}/connections/{provider}/sync",
            post(users::sync),
        )
        .route(
            "/portal/users/{user_id}/connections/{provider}/disconnect",
            post(users::disconnect),
        )
        .route(
            "/portal/users/{user_id}/sync/stream",
            get(overview::sync_stream),
        )
        .route("/portal/syncs", get(overview::syncs))
        .route(
            "/portal/webhooks",
            get(webhooks::overview).post(webhooks::create),
        )
        .route("/portal/webhooks/{endpoint_id}", get(webhooks::show))
        .route("/portal/webhooks/{endpoint_id}/edit", post(webhooks::edit))
        .route(
            "/portal/webhooks/{endpoint_id}/rotate",
            post(webhooks::rotate),
        )
        .route("/portal/webhooks/{endpoint_id}/test", post(webhooks::test))
        .route(
            "/portal/webhooks/{endpoint_id}/delete",
            post(webhooks::delete),
        )
        .route(
            "/portal/webhooks/messages/{msg_id}/retry",
            post(webhooks::retry),
        )
        .route("/portal/coverage", get(overview::coverage))
        .route("/portal/settings", get(settings::api_keys))
        .route("/portal/settings/api-keys", post(settings::create_key))
        .route(
            "/portal/settings/api-keys/{key_id}/rename",
            post(settings::rename_key),
        )
        .route(
            "/portal/settings/api-keys/{key_id}/rotate",
            post(settings::rotate_key),
        )
        .route(
            "/portal/settings/api-keys/{key_id}/delete",
            post(settings::delete_key),
        )
        .route(
            "/portal/settings/applications",
            get(settings::applications).post(settings::create_application),
        )
        .route(
            "/portal/settings/applications/{app_id}/rotate",
            post(settings::rotate_application),
        )
        .route(
            "/portal/settings/applications/{app_id}/delete",
            post(settings::delete_application),
        )
        .route("/portal/settings/providers", get(settings::providers))
        .route(
            "/portal/settings/providers/{provider}",
            post(settings::update_provider),
        )
        .route("/portal/settings/priorities", get(team::priorities))
        .route(
            "/portal/settings/priorities/{kind}",
            post(team::save_priorities),
        )
        .route(
            "/portal/settings/lifecycle",
            get(team::lifecycle).post(team::save_lifecycle),
        )
        .route("/portal/settings/lifecycle/run", post(team::run_lifecycle))
        .route("/portal/settings/team", get(team::team).post(team::invite))
        .route(
            "/portal/settings/team/{invitation_id}/resend",
            post(team::resend),
        )
        .route(
            "/portal/settings/team/{invitation_id}/revoke",
            post(team::revoke),
        )
        .route(
            "/portal/accept-invite",
            get(team::accept_page).post(team::accept),
        )
        .route(
            "/portal/settings/seed",
            get(settings::seed_page).post(settings::seed),
        )
        .layer(axum::middleware::from_fn(layout::security_headers))
        .layer(axum::Extension(ApiCache::default()));
    OpenApiRouter::from(r)
}

const CSS: &str = include_str!("static/portal.css");
const JS: &str = include_str!("static/portal.js");

/// `GET /portal/static/{file}`: the stylesheet and the script, compiled in.
async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "portal.css" => (CSS, "text/css; charset=utf-8"),
        "portal.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "Not Found").into_response(),
    };
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

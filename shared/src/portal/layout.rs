//! The page shell (head, navigation, flash message, main landmark) and the response headers
//! every portal page carries.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::session::{CSRF_FIELD, FLASH_COOKIE, Flash, Page, set_cookie};
use crate::config::Config;

/// The sections of the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Dashboard,
    Users,
    Syncs,
    Webhooks,
    Coverage,
    Settings,
    Account,
}

const NAV: &[(Nav, &str, &str)] = &[
    (Nav::Dashboard, "/portal", "Dashboard"),
    (Nav::Users, "/portal/users", "Users"),
    (Nav::Syncs, "/portal/syncs", "Syncs"),
    (Nav::Webhooks, "/portal/webhooks", "Webhooks"),
    (Nav::Coverage, "/portal/coverage", "Data coverage"),
    (Nav::Settings, "/portal/settings", "Settings"),
];

/// The strict policy of every page: our own stylesheet and script only, no framing.
const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Open Wearables" }
            link rel="icon" href="data:,";
            link rel="stylesheet" href="/portal/static/portal.css";
            script src="/portal/static/portal.js" defer {}
        }
    }
}

fn flash(f: Option<&Flash>) -> Markup {
    html! {
        @if let Some(f) = f {
            div class={"flash " (if f.ok { "ok" } else { "err" })} role=(if f.ok { "status" } else { "alert" }) {
                (f.text)
            }
        }
    }
}

/// A hidden CSRF field for a form of `page`.
pub fn csrf(page: &Page) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(page.csrf); }
}

/// A page of a logged-in developer.
pub fn shell(page: &Page, active: Nav, title: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/portal" { "Open Wearables" }
                    nav aria-label="Main" {
                        ul {
                            @for (n, href, label) in NAV {
                                li {
                                    @if *n == active {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    div.account {
                        a href="/portal/password" aria-current=[(active == Nav::Account).then_some("page")] { (page.dev.email) }
                        form method="post" action="/portal/logout" {
                            (csrf(page))
                            button.link type="submit" { "Log out" }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    (flash(page.flash.as_ref()))
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    respond(
        &page.state.config,
        StatusCode::OK,
        markup,
        page.flash.is_some(),
    )
}

/// A page without navigation (login).
pub fn bare(
    config: &Config,
    status: StatusCode,
    title: &str,
    f: Option<&Flash>,
    body: Markup,
) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare {
                main id="main" {
                    p.brand { "Open Wearables" }
                    h1 { (title) }
                    (flash(f))
                    (body)
                }
            }
        }
    };
    respond(config, status, markup, f.is_some())
}

/// HTML with the portal's headers; clears a flash message that was shown.
pub fn respond(config: &Config, status: StatusCode, markup: Markup, shown_flash: bool) -> Response {
    let mut r = (status, axum::response::Html(markup.into_string())).into_response();
    let h = r.headers_mut();
    if shown_flash {
        h.append(header::SET_COOKIE, set_cookie(config, FLASH_COOKIE, "", 0));
    }
    r
}

/// The headers of every portal answer (pages, assets, redirects).
pub async fn security_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::REFERRER_POLICY) {
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

/// `YYYY-MM-DDTHH:MM` of an RFC 3339 timestamp (UTC as the API gives it).
pub fn when(v: Option<&str>) -> String {
    match v {
        Some(s) if s.len() >= 16 => format!("{} {}", &s[..10], &s[11..16]),
        Some(s) => s.to_string(),
        None => "–".to_string(),
    }
}

//! The pages, one module per section; shared answers to API results.

pub mod auth;
pub mod overview;
pub mod pair;
pub mod settings;
pub mod team;
pub mod users;
pub mod webhooks;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde_json::Value;

use super::call::ApiFail;
use super::layout::{self, Nav};
use super::session::{Flash, Page, redirect};

/// A page whose API read failed: an expired session goes to the login, anything else is
/// shown with the API's `detail` and status.
pub fn failed(page: &Page, nav: Nav, e: ApiFail) -> Response {
    if e.status == StatusCode::UNAUTHORIZED {
        return redirect(&page.state.config, "/portal/login", None);
    }
    let mut r = layout::shell(
        page,
        nav,
        "Something went wrong",
        html! { div.flash.err role="alert" { (e.detail) } p { a href="/portal" { "Back to the dashboard" } } },
    );
    *r.status_mut() = e.status;
    r.into_response()
}

/// After a form: back to `to` with the API's answer as the message.
pub fn done(page: &Page, to: &str, result: Result<Value, ApiFail>, ok: &str) -> Response {
    match result {
        Ok(_) => redirect(&page.state.config, to, Some(Flash::ok(ok))),
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            redirect(&page.state.config, "/portal/login", None)
        }
        Err(e) => redirect(&page.state.config, to, Some(Flash::err(e.detail))),
    }
}

/// A string field of a JSON object ("" when missing or null).
pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A number field of a JSON object.
pub fn n(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

/// A user's display name.
pub fn user_name(u: &Value) -> String {
    let name = format!("{} {}", s(u, "first_name"), s(u, "last_name"))
        .trim()
        .to_string();
    if !name.is_empty() {
        return name;
    }
    let email = s(u, "email");
    if !email.is_empty() {
        return email.to_string();
    }
    s(u, "id").to_string()
}

/// A path segment, percent-encoded.
pub fn seg(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

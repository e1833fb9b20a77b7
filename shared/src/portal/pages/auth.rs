//! Login, logout and change password, through `/api/v1/auth/*`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::Query;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde_json::{Value, json};

use crate::keys::secrets::random_hex;
use crate::portal::call::Send;
use crate::portal::layout::{self, Nav, csrf};
use crate::portal::session::{
    self, Anon, CSRF_FIELD, Flash, LOGIN_COOKIE, Page, Posted, SESSION_COOKIE, cookie, csrf_ok,
    redirect, set_cookie,
};

/// Where a login may send the browser: a portal path only.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/portal") && !n.starts_with("//") && !n.contains('\\') => {
            n.to_string()
        }
        _ => "/portal".to_string(),
    }
}

fn login_form(
    a: &Anon,
    status: StatusCode,
    flash: Option<&Flash>,
    next: &str,
    email: &str,
) -> Response {
    let nonce = random_hex(16);
    let token = session::csrf_token(&a.state.config, "login", &nonce);
    let body = html! {
        form.card method="post" action="/portal/login" {
            input type="hidden" name=(CSRF_FIELD) value=(token);
            input type="hidden" name="next" value=(next);
            label for="username" { "E-mail" }
            input id="username" name="username" type="email" autocomplete="username" required autofocus value=(email);
            label for="password" { "Password" }
            input id="password" name="password" type="password" autocomplete="current-password" required;
            button type="submit" { "Log in" }
        }
        p.muted { "The same developer accounts as the API (" code { "POST /api/v1/auth/login" } ")." }
    };
    let mut r = layout::bare(&a.state.config, status, "Log in", flash, body);
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&a.state.config, LOGIN_COOKIE, &nonce, 3600),
    );
    r
}

/// `GET /portal/login`.
pub async fn login_page(a: Anon, Query(q): Query<HashMap<String, String>>) -> Response {
    let next = safe_next(q.get("next").map(String::as_str));
    let flash = a.flash.clone();
    login_form(&a, StatusCode::OK, flash.as_ref(), &next, "")
}

/// `POST /portal/login`.
pub async fn login(a: Anon, body: Bytes) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let next = safe_next(form.get("next").map(String::as_str));
    let email = form.get("username").cloned().unwrap_or_default();
    let nonce = cookie(&a.headers, LOGIN_COOKIE).unwrap_or_default();
    if nonce.is_empty()
        || !csrf_ok(
            &a.state.config,
            "login",
            nonce,
            form.get(CSRF_FIELD).map(String::as_str),
        )
    {
        let f = Flash::err("The login form expired; please try again.");
        return login_form(&a, StatusCode::FORBIDDEN, Some(&f), &next, &email);
    }
    let password = form.get("password").cloned().unwrap_or_default();
    let answer = a
        .api
        .call(
            axum::http::Method::POST,
            "/api/v1/auth/login",
            Send::Form(&[("username", &email), ("password", &password)]),
        )
        .await;
    let tokens = match answer {
        Ok(v) => v,
        Err(e) => {
            let f = Flash::err(e.detail);
            return login_form(&a, e.status, Some(&f), &next, &email);
        }
    };
    let Some(access) = tokens.get("access_token").and_then(Value::as_str) else {
        let f = Flash::err("Login failed.");
        return login_form(&a, StatusCode::BAD_GATEWAY, Some(&f), &next, &email);
    };
    // The portal keeps no refresh token: the session ends with the access token.
    if let Some(rt) = tokens.get("refresh_token").and_then(Value::as_str) {
        let _ = a
            .api
            .call(
                axum::http::Method::POST,
                "/api/v1/token/revoke",
                Send::Json(&json!({ "refresh_token": rt })),
            )
            .await;
    }
    let ttl = tokens
        .get("expires_in")
        .and_then(Value::as_i64)
        .unwrap_or(3600);
    let mut r = redirect(&a.state.config, &next, None);
    let h = r.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(&a.state.config, SESSION_COOKIE, access, ttl),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(&a.state.config, LOGIN_COOKIE, "", 0),
    );
    r
}

fn logged_out(config: &crate::config::Config, flash: Flash) -> Response {
    let mut r = redirect(config, "/portal/login", Some(flash));
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(config, SESSION_COOKIE, "", 0),
    );
    r
}

/// `POST /portal/logout`.
pub async fn logout(p: Posted) -> Response {
    let _ = p
        .page
        .api
        .call(axum::http::Method::POST, "/api/v1/auth/logout", Send::None)
        .await;
    logged_out(&p.page.state.config, Flash::ok("You are logged out."))
}

/// `GET /portal/password`.
pub async fn password_page(page: Page) -> Response {
    let min = page.state.config.min_password_length;
    let body = html! {
        p { "Logged in as " strong { (page.dev.email) } "." }
        form.card method="post" action="/portal/password" {
            (csrf(&page))
            label for="current_password" { "Current password" }
            input id="current_password" name="current_password" type="password" autocomplete="current-password" required;
            label for="new_password" { "New password (at least " (min) " characters)" }
            input id="new_password" name="new_password" type="password" autocomplete="new-password" required minlength=(min);
            label for="confirm_password" { "Confirm the new password" }
            input id="confirm_password" name="confirm_password" type="password" autocomplete="new-password" required minlength=(min);
            button type="submit" { "Change password" }
        }
    };
    layout::shell(&page, Nav::Account, "Change password", body)
}

/// `POST /portal/password`: on success the session ends (log in with the new password).
pub async fn change_password(p: Posted) -> Response {
    let body = json!({
        "current_password": p.form.get("current_password"),
        "new_password": p.form.get("new_password"),
        "confirm_password": p.form.get("confirm_password"),
    });
    let config = &p.page.state.config;
    match p
        .page
        .api
        .call(
            axum::http::Method::POST,
            "/api/v1/auth/change-password",
            Send::Json(&body),
        )
        .await
    {
        Ok(_) => logged_out(
            config,
            Flash::ok("Password changed. Log in with the new password."),
        ),
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            redirect(config, "/portal/login", None).into_response()
        }
        Err(e) => redirect(config, "/portal/password", Some(Flash::err(e.detail))),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn a_login_only_returns_to_portal_paths() {
        assert_eq!(
            safe_next(Some("/portal/users?page=2")),
            "/portal/users?page=2"
        );
        assert_eq!(safe_next(Some("https://evil.test/")), "/portal");
        assert_eq!(safe_next(Some("//evil.test")), "/portal");
        assert_eq!(safe_next(Some("/portal\\@evil")), "/portal");
        assert_eq!(safe_next(None), "/portal");
    }
}

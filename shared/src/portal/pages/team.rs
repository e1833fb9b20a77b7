//! Settings: source priorities (providers and device types), the data lifecycle (archival
//! and retention settings, the storage estimate, a retention run) and the team (developer
//! invitations: create, list, revoke, resend; the public page that accepts one).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use maud::html;
use serde_json::{Value, json};

use super::settings::{Tab, tabs};
use super::{done, failed, n, s, seg};
use crate::keys::secrets::random_hex;
use crate::portal::call::Send;
use crate::portal::layout::{self, Nav, csrf, when};
use crate::portal::session::{
    self, Anon, CSRF_FIELD, Flash, LOGIN_COOKIE, Page, Posted, cookie, csrf_ok, redirect,
    set_cookie,
};

fn items(v: &Value) -> Vec<Value> {
    v.get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// `GET /portal/settings/priorities`.
pub async fn priorities(page: Page) -> Response {
    let loaded = async {
        let p = page.api.get("/api/v1/priorities/providers").await?;
        let d = page.api.get("/api/v1/priorities/device-types").await?;
        Ok::<_, super::ApiFail>((items(&p), items(&d)))
    };
    let (providers, devices) = match loaded.await {
        Ok(v) => v,
        Err(e) => return failed(&page, Nav::Settings, e),
    };
    let table = |kind: &str, field: &str, rows: &[Value]| {
        html! {
            form.card method="post" action={"/portal/settings/priorities/" (kind)} {
                (csrf(&page))
                div.scroll {
                    table.priorities id={"priorities-" (kind)} {
                        thead { tr { th scope="col" { @if kind == "providers" { "Provider" } @else { "Device type" } } th scope="col" { "Priority (1–100, lower wins)" } } }
                        tbody {
                            @for (i, r) in rows.iter().enumerate() {
                                tr data-key=(s(r, field)) {
                                    td { label for={(kind) "-" (i)} { (s(r, field)) } }
                                    td {
                                        input type="hidden" name="key" value=(s(r, field));
                                        input id={(kind) "-" (i)} name="priority" type="number" min="1" max="100" required
                                            value=(n(r, "priority").map(|v| v.to_string()).unwrap_or_default());
                                    }
                                }
                            }
                        }
                    }
                }
                button type="submit" { "Save " (kind.replace('-', " ")) " priorities" }
            }
        }
    };
    let body = html! {
        (tabs(Tab::Priorities))
        p.lead { "When several sources cover the same time, summaries take the one whose provider, then device type, has the lowest number." }
        div.columns {
            section { h2 { "Providers" } (table("providers", "provider", &providers)) }
            section { h2 { "Device types" } (table("device-types", "device_type", &devices)) }
        }
    };
    layout::shell(&page, Nav::Settings, "Settings", body)
}

/// `POST /portal/settings/priorities/{kind}`: every row at once (`PUT /priorities/{kind}`).
pub async fn save_priorities(Path(kind): Path<String>, p: Posted) -> Response {
    let field = match kind.as_str() {
        "providers" => "provider",
        "device-types" => "device_type",
        _ => {
            return done(
                &p.page,
                "/portal/settings/priorities",
                Err(super::ApiFail {
                    status: StatusCode::NOT_FOUND,
                    detail: "Not Found".into(),
                }),
                "",
            );
        }
    };
    let keys: Vec<&String> = p
        .pairs
        .iter()
        .filter(|(k, _)| k == "key")
        .map(|(_, v)| v)
        .collect();
    let values: Vec<&String> = p
        .pairs
        .iter()
        .filter(|(k, _)| k == "priority")
        .map(|(_, v)| v)
        .collect();
    let rows: Vec<Value> = keys
        .iter()
        .zip(values.iter())
        .map(|(k, v)| {
            let prio = v
                .trim()
                .parse::<i64>()
                .map_or_else(|_| json!(v.trim()), |n| json!(n));
            json!({ field: k, "priority": prio })
        })
        .collect();
    let r = p
        .page
        .api
        .call(
            Method::PUT,
            &format!("/api/v1/priorities/{kind}"),
            Send::Json(&json!({ "priorities": rows })),
        )
        .await;
    done(
        &p.page,
        "/portal/settings/priorities",
        r,
        "Priorities saved.",
    )
}

/// `GET /portal/settings/lifecycle`.
pub async fn lifecycle(page: Page) -> Response {
    let v = match page.api.get("/api/v1/settings/archival").await {
        Ok(v) => v,
        Err(e) => return failed(&page, Nav::Settings, e),
    };
    let days = |k: &str| {
        v.pointer(&format!("/settings/{k}"))
            .and_then(Value::as_i64)
            .map(|d| d.to_string())
            .unwrap_or_default()
    };
    let st = &v["storage"];
    let body = html! {
        (tabs(Tab::Lifecycle))
        p.lead { "How long raw samples are kept. Empty means never." }
        form.card method="post" action="/portal/settings/lifecycle" {
            (csrf(&page))
            label for="archive_after_days" { "Archive after (days, 1–3650)" }
            input id="archive_after_days" name="archive_after_days" type="number" min="1" max="3650" value=(days("archive_after_days"));
            label for="delete_after_days" { "Delete after (days, 1–7300)" }
            input id="delete_after_days" name="delete_after_days" type="number" min="1" max="7300" value=(days("delete_after_days"));
            button type="submit" { "Save" }
        }
        p.muted { "Archiving (aggregating old samples) is stored but not performed yet; deleting is done by the retention job." }
        form.inline method="post" action="/portal/settings/lifecycle/run" {
            (csrf(&page))
            button type="submit" { "Run retention now" }
        }
        h2 { "Storage" }
        dl.facts id="storage" {
            dt { "Live data" } dd { (s(st, "live_total_pretty")) " (" (n(st, "live_row_count").unwrap_or(0.0)) " rows)" }
            dt { "Archive" } dd { (s(st, "archive_total_pretty")) " (" (n(st, "archive_row_count").unwrap_or(0.0)) " rows)" }
            dt { "Total" } dd { (s(st, "total_pretty")) }
            dt { "Growth" } dd { (s(st, "growth_class")) }
        }
    };
    layout::shell(&page, Nav::Settings, "Settings", body)
}

/// `POST /portal/settings/lifecycle`: an empty field turns that step off (null).
pub async fn save_lifecycle(p: Posted) -> Response {
    let field = |k: &str| match p.field(k) {
        None => Value::Null,
        Some(v) => v.parse::<i64>().map_or_else(|_| json!(v), |n| json!(n)),
    };
    let body = json!({
        "archive_after_days": field("archive_after_days"),
        "delete_after_days": field("delete_after_days"),
    });
    let r = p
        .page
        .api
        .call(Method::PUT, "/api/v1/settings/archival", Send::Json(&body))
        .await;
    done(
        &p.page,
        "/portal/settings/lifecycle",
        r,
        "Data lifecycle saved.",
    )
}

/// `POST /portal/settings/lifecycle/run`.
pub async fn run_lifecycle(p: Posted) -> Response {
    let r = p
        .page
        .api
        .call(Method::POST, "/api/v1/settings/archival/run", Send::None)
        .await;
    let msg = match &r {
        Ok(v) => format!("Retention run dispatched (task {}).", s(v, "task_id")),
        Err(_) => String::new(),
    };
    done(&p.page, "/portal/settings/lifecycle", r, &msg)
}

/// The accept link of an invitation token (this portal's accept page).
fn accept_link(page: &Page, token: &str) -> String {
    format!(
        "{}/portal/accept-invite?{}",
        page.state.config.api_base_url.trim_end_matches('/'),
        serde_urlencoded::to_string([("token", token)]).unwrap_or_default()
    )
}

/// `GET /portal/settings/team`: the open invitations.
pub async fn team(page: Page) -> Response {
    let list = match page.api.get("/api/v1/invitations").await {
        Ok(Value::Array(a)) => a,
        Ok(_) => Vec::new(),
        Err(e) => return failed(&page, Nav::Settings, e),
    };
    let body = html! {
        (tabs(Tab::Team))
        p.lead { "Invite another developer: they get their own login to this portal and the API. Nothing is e-mailed: send them the link." }
        form.inline method="post" action="/portal/settings/team" {
            (csrf(&page))
            label for="invite-email" { "E-mail" }
            input id="invite-email" name="email" type="email" required maxlength="254";
            button type="submit" { "Invite" }
        }
        @if list.is_empty() {
            p.muted { "No open invitations." }
        } @else {
            div.scroll {
                table.invitations {
                    thead { tr { th scope="col" { "E-mail" } th scope="col" { "Status" } th scope="col" { "Expires" } th scope="col" { "Link" } th scope="col" { "Actions" } } }
                    tbody {
                        @for (i, inv) in list.iter().enumerate() {
                            @let id = s(inv, "id");
                            tr data-email=(s(inv, "email")) data-invitation=(id) {
                                td { (s(inv, "email")) }
                                td { span class={"status " (s(inv, "status"))} { (s(inv, "status")) } }
                                td { (when(inv.get("expires_at").and_then(Value::as_str))) }
                                td {
                                    span.copyable {
                                        code id={"invite-" (i)} { (accept_link(&page, s(inv, "token"))) }
                                        button.small type="button" data-copy={"invite-" (i)} aria-label="Copy the link" { "Copy" }
                                    }
                                }
                                td.actions {
                                    form.inline method="post" action={"/portal/settings/team/" (seg(id)) "/resend"} {
                                        (csrf(&page))
                                        button.small type="submit" { "Resend (new link)" }
                                    }
                                    details.confirm {
                                        summary { "Revoke…" }
                                        form method="post" action={"/portal/settings/team/" (seg(id)) "/revoke"} {
                                            (csrf(&page))
                                            button.small.danger type="submit" { "Revoke the invitation of " (s(inv, "email")) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout::shell(&page, Nav::Settings, "Settings", body)
}

/// `POST /portal/settings/team`.
pub async fn invite(p: Posted) -> Response {
    let body = json!({ "email": p.field("email").unwrap_or_default() });
    let r = p
        .page
        .api
        .call(Method::POST, "/api/v1/invitations", Send::Json(&body))
        .await;
    done(
        &p.page,
        "/portal/settings/team",
        r,
        "Invitation created: copy its link from the list.",
    )
}

/// `POST /portal/settings/team/{invitation_id}/resend`.
pub async fn resend(Path(id): Path<String>, p: Posted) -> Response {
    let r = p
        .page
        .api
        .call(
            Method::POST,
            &format!("/api/v1/invitations/{}/resend", seg(&id)),
            Send::None,
        )
        .await;
    done(
        &p.page,
        "/portal/settings/team",
        r,
        "Invitation renewed: the old link no longer works.",
    )
}

/// `POST /portal/settings/team/{invitation_id}/revoke`.
pub async fn revoke(Path(id): Path<String>, p: Posted) -> Response {
    let r = p
        .page
        .api
        .call(
            Method::DELETE,
            &format!("/api/v1/invitations/{}", seg(&id)),
            Send::None,
        )
        .await;
    done(&p.page, "/portal/settings/team", r, "Invitation revoked.")
}

fn accept_form(a: &Anon, status: StatusCode, flash: Option<&Flash>, token: &str) -> Response {
    let nonce = random_hex(16);
    let csrf_token = session::csrf_token(&a.state.config, "login", &nonce);
    let body = html! {
        p { "Choose your name and a password for your developer account." }
        form.card method="post" action="/portal/accept-invite" {
            input type="hidden" name=(CSRF_FIELD) value=(csrf_token);
            input type="hidden" name="token" value=(token);
            label for="first_name" { "First name" }
            input id="first_name" name="first_name" type="text" required maxlength="100" autocomplete="given-name";
            label for="last_name" { "Last name" }
            input id="last_name" name="last_name" type="text" required maxlength="100" autocomplete="family-name";
            label for="password" { "Password" }
            input id="password" name="password" type="password" required autocomplete="new-password";
            button type="submit" { "Create my account" }
        }
    };
    let mut r = layout::bare(&a.state.config, status, "Join the team", flash, body);
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&a.state.config, LOGIN_COOKIE, &nonce, 3600),
    );
    // The token is in this page's address: it must not leave in a Referer.
    r.headers_mut().insert(
        header::REFERRER_POLICY,
        axum::http::HeaderValue::from_static("no-referrer"),
    );
    r
}

/// `GET /portal/accept-invite?token=…`: public; the token is the credential.
pub async fn accept_page(a: Anon, Query(q): Query<HashMap<String, String>>) -> Response {
    let token = q.get("token").cloned().unwrap_or_default();
    let flash = a.flash.clone();
    accept_form(&a, StatusCode::OK, flash.as_ref(), &token)
}

/// `POST /portal/accept-invite`: creates the account (`POST /invitations/accept`), then
/// sends the browser to the login.
pub async fn accept(a: Anon, body: Bytes) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let token = form.get("token").cloned().unwrap_or_default();
    let nonce = cookie(&a.headers, LOGIN_COOKIE).unwrap_or_default();
    if nonce.is_empty()
        || !session::same_origin(&a.headers)
        || !csrf_ok(
            &a.state.config,
            "login",
            nonce,
            form.get(CSRF_FIELD).map(String::as_str),
        )
    {
        let f = Flash::err("The form expired; please try again.");
        return accept_form(&a, StatusCode::FORBIDDEN, Some(&f), &token);
    }
    let field = |k: &str| {
        form.get(k)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let req = json!({
        "token": token,
        "first_name": field("first_name"),
        "last_name": field("last_name"),
        "password": form.get("password").cloned().unwrap_or_default(),
    });
    match a
        .api
        .call(Method::POST, "/api/v1/invitations/accept", Send::Json(&req))
        .await
    {
        Ok(dev) => redirect(
            &a.state.config,
            "/portal/login",
            Some(Flash::ok(format!(
                "Welcome, {}: your account is ready. Log in with {}.",
                s(&dev, "first_name"),
                s(&dev, "email")
            ))),
        ),
        Err(e) => {
            let f = Flash::err(e.detail);
            accept_form(&a, e.status, Some(&f), &token)
        }
    }
}

//! Outgoing webhooks: endpoints (add, edit, filters by event type and user, reveal and rotate
//! the signing secret, a test event, delete) and the delivery log (messages, attempts with
//! response codes and bodies, a manual retry), through the API's `/webhooks` routes.

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde_json::{Value, json};

use super::{done, failed, n, s, seg, user_name};
use crate::portal::call::{ApiFail, Send, encode};
use crate::portal::layout::{self, Nav, csrf, when};
use crate::portal::session::{Page, Posted};

/// Attempts shown per page of an endpoint's delivery log.
const ATTEMPTS_PER_PAGE: usize = 25;
/// Messages shown on the overview.
const MESSAGES_SHOWN: usize = 20;
/// Users offered in the user filter.
const USERS_OFFERED: usize = 100;
/// Characters of a response body shown in the log.
const BODY_SHOWN: usize = 2000;

/// Whether the instance has outgoing webhooks on (`GET /config`).
async fn enabled(page: &Page) -> Result<bool, ApiFail> {
    let c = page.api.get("/api/v1/config").await?;
    Ok(c.get("outgoing_webhooks_enabled")
        .and_then(Value::as_bool)
        .unwrap_or(false))
}

fn off(page: &Page) -> Response {
    let body = html! {
        div.notice role="status" {
            p { strong { "Outgoing webhooks are off on this instance." } " Set "
                code { "OUTGOING_WEBHOOKS_ENABLED=true" } " in the server's environment to add endpoints." }
        }
    };
    layout::shell(page, Nav::Webhooks, "Webhooks", body)
}

async fn event_types(page: &Page) -> Result<Vec<String>, ApiFail> {
    let v = page.api.get("/api/v1/webhooks/event-types").await?;
    Ok(v.as_array()
        .map(|a| a.iter().map(|t| s(t, "name").to_string()).collect())
        .unwrap_or_default())
}

async fn users(page: &Page) -> Result<Vec<Value>, ApiFail> {
    let v = page
        .api
        .get(&format!(
            "/api/v1/users?limit={USERS_OFFERED}&sort_by=created_at&sort_order=desc"
        ))
        .await?;
    Ok(v.get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

fn list_of(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The fields of the add and edit forms.
fn endpoint_fields(prefix: &str, ep: Option<&Value>, types: &[String], users: &[Value]) -> Markup {
    let chosen = ep.map(|e| list_of(e, "filter_types")).unwrap_or_default();
    let user = ep.map(|e| s(e, "user_id")).unwrap_or("");
    html! {
        label for={(prefix) "-url"} { "URL" }
        input id={(prefix) "-url"} name="url" type="url" required maxlength="2048"
            placeholder="https://example.com/webhooks" value=[ep.map(|e| s(e, "url"))];
        label for={(prefix) "-description"} { "Description (optional)" }
        input id={(prefix) "-description"} name="description" type="text" maxlength="500"
            value=[ep.map(|e| s(e, "description"))];
        label for={(prefix) "-types"} { "Event types (none chosen: every event)" }
        select id={(prefix) "-types"} name="filter_types" multiple size="6" {
            @for t in types {
                option value=(t) selected[chosen.contains(t)] { (t) }
            }
        }
        label for={(prefix) "-user"} { "User (optional: only this user's events)" }
        select id={(prefix) "-user"} name="user_id" {
            option value="" selected[user.is_empty()] { "Every user" }
            @if !user.is_empty() && !users.iter().any(|u| s(u, "id") == user) {
                option value=(user) selected { (user) }
            }
            @for u in users {
                option value=(s(u, "id")) selected[s(u, "id") == user] { (user_name(u)) " (" (s(u, "id").get(..8).unwrap_or("")) ")" }
            }
        }
    }
}

/// The JSON body of the add and edit forms (`edit`: empty choices clear the filters).
fn endpoint_body(p: &Posted, edit: bool) -> Value {
    let mut b = json!({ "url": p.field("url").unwrap_or_default() });
    if let Some(d) = p.field("description") {
        b["description"] = json!(d);
    } else if edit {
        b["description"] = json!("");
    }
    let types = p.all("filter_types");
    if !types.is_empty() || edit {
        b["filter_types"] = json!(types);
    }
    match p.field("user_id") {
        Some(u) => b["user_id"] = json!(u),
        None if edit => b["user_id"] = Value::Null,
        None => {}
    }
    if edit && p.field("enable").is_some() {
        b["disabled"] = json!(false);
    }
    b
}

fn state_badge(ep: &Value) -> Markup {
    let disabled = ep.get("disabled").and_then(Value::as_bool).unwrap_or(false);
    html! {
        @if disabled {
            span.status.failed { "disabled" }
            @if !s(ep, "disabled_reason").is_empty() { br; span.error-text { (s(ep, "disabled_reason")) } }
        } @else {
            span.status.active { "active" }
        }
    }
}

fn filters(ep: &Value) -> Markup {
    let types = list_of(ep, "filter_types");
    html! {
        @if types.is_empty() { span.muted { "every event" } } @else { (types.join(", ")) }
        @if !s(ep, "user_id").is_empty() {
            br; "user " a href={"/portal/users/" (seg(s(ep, "user_id")))} { code { (s(ep, "user_id").get(..8).unwrap_or("")) } }
        }
    }
}

/// The filter of the overview's endpoint list: `?event_type=` and `?user_id=`.
fn shown(ep: &Value, q: &HashMap<String, String>) -> bool {
    let t = q.get("event_type").map(String::as_str).unwrap_or("");
    let u = q.get("user_id").map(String::as_str).unwrap_or("");
    let types = list_of(ep, "filter_types");
    (t.is_empty() || types.is_empty() || types.iter().any(|x| x == t))
        && (u.is_empty() || s(ep, "user_id").is_empty() || s(ep, "user_id") == u)
}

/// `GET /portal/webhooks`: the endpoints, the add form and the latest messages.
pub async fn overview(page: Page, Query(q): Query<HashMap<String, String>>) -> Response {
    match enabled(&page).await {
        Ok(true) => {}
        Ok(false) => return off(&page),
        Err(e) => return failed(&page, Nav::Webhooks, e),
    }
    let loaded = async {
        let eps = page.api.get("/api/v1/webhooks/endpoints").await?;
        let msgs = page
            .api
            .get(&format!("/api/v1/webhooks/messages?limit={MESSAGES_SHOWN}"))
            .await?;
        Ok::<_, ApiFail>((eps, msgs, event_types(&page).await?, users(&page).await?))
    };
    let (eps, msgs, types, users) = match loaded.await {
        Ok(v) => v,
        Err(e) => return failed(&page, Nav::Webhooks, e),
    };
    let eps: Vec<Value> = eps.as_array().cloned().unwrap_or_default();
    let msgs: Vec<Value> = msgs
        .get("data")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let listed: Vec<&Value> = eps.iter().filter(|e| shown(e, &q)).collect();
    let f_type = q.get("event_type").map(String::as_str).unwrap_or("");
    let f_user = q.get("user_id").map(String::as_str).unwrap_or("");
    let body = html! {
        p.lead { "Your backend gets signed HTTP POSTs (Svix-compatible: " code { "webhook-id" } ", "
            code { "webhook-timestamp" } ", " code { "webhook-signature" } ") when data arrives, connections change or syncs run." }
        section {
            h2 { "Endpoints" }
            form.inline method="get" action="/portal/webhooks" aria-label="Filter endpoints" {
                label for="f-type" { "Event type" }
                select id="f-type" name="event_type" {
                    option value="" selected[f_type.is_empty()] { "any" }
                    @for t in &types { option value=(t) selected[f_type == t] { (t) } }
                }
                label for="f-user" { "User" }
                select id="f-user" name="user_id" {
                    option value="" selected[f_user.is_empty()] { "any" }
                    @for u in &users { option value=(s(u, "id")) selected[f_user == s(u, "id")] { (user_name(u)) } }
                }
                button.small type="submit" { "Filter" }
            }
            @if listed.is_empty() {
                p.muted { @if eps.is_empty() { "No endpoints yet." } @else { "No endpoint receives these events." } }
            } @else {
                div.scroll {
                    table.endpoints {
                        thead { tr { th scope="col" { "URL" } th scope="col" { "Receives" } th scope="col" { "State" } th scope="col" { "Actions" } } }
                        tbody {
                            @for e in &listed {
                                tr data-endpoint=(s(e, "id")) {
                                    td { a href={"/portal/webhooks/" (seg(s(e, "id")))} { (s(e, "url")) }
                                        @if !s(e, "description").is_empty() { br; span.muted { (s(e, "description")) } } }
                                    td { (filters(e)) }
                                    td { (state_badge(e)) }
                                    td.actions {
                                        a href={"/portal/webhooks/" (seg(s(e, "id")))} { "Edit, secret, log" }
                                        form.inline method="post" action={"/portal/webhooks/" (seg(s(e, "id"))) "/test"} {
                                            (csrf(&page))
                                            button.small type="submit" { "Send test event" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Add an endpoint" }
            form.card method="post" action="/portal/webhooks" {
                (csrf(&page))
                (endpoint_fields("new", None, &types, &users))
                button type="submit" { "Add endpoint" }
            }
        }
        section {
            h2 { "Latest messages" }
            (messages_table(&page, &msgs))
        }
    };
    layout::shell(&page, Nav::Webhooks, "Webhooks", body)
}

fn messages_table(page: &Page, msgs: &[Value]) -> Markup {
    html! {
        @if msgs.is_empty() {
            p.muted { "No messages yet." }
        } @else {
            div.scroll {
                table.messages {
                    thead { tr { th scope="col" { "Time" } th scope="col" { "Event" } th scope="col" { "Message" } th scope="col" { "User" } th scope="col" { "Actions" } } }
                    tbody {
                        @for m in msgs {
                            tr data-message=(s(m, "id")) {
                                td { (when(m.get("timestamp").and_then(Value::as_str))) }
                                td { (s(m, "eventType")) }
                                td { code { (s(m, "id")) } }
                                td { (list_of(m, "channels").join(", ")) }
                                td.actions { (retry_form(page, s(m, "id"), "/portal/webhooks")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn retry_form(page: &Page, msg: &str, back: &str) -> Markup {
    html! {
        form.inline method="post" action={"/portal/webhooks/messages/" (seg(msg)) "/retry"} {
            (csrf(page))
            input type="hidden" name="back" value=(back);
            button.small type="submit" { "Retry" }
        }
    }
}

/// `POST /portal/webhooks`.
pub async fn create(p: Posted) -> Response {
    let body = endpoint_body(&p, false);
    let r = p
        .page
        .api
        .call(
            Method::POST,
            "/api/v1/webhooks/endpoints",
            Send::Json(&body),
        )
        .await;
    let to = match &r {
        Ok(v) => format!("/portal/webhooks/{}", seg(s(v, "id"))),
        Err(_) => "/portal/webhooks".into(),
    };
    done(
        &p.page,
        &to,
        r,
        "Endpoint added. Reveal its signing secret below to verify deliveries.",
    )
}

/// What the endpoint page shows besides the endpoint: a secret to show once.
#[derive(Default)]
struct Extra {
    secret: Option<(String, bool)>,
}

async fn endpoint_page(
    page: &Page,
    id: &str,
    q: &HashMap<String, String>,
    extra: Extra,
) -> Response {
    let base = format!("/api/v1/webhooks/endpoints/{}", seg(id));
    let ep = match page.api.get(&base).await {
        Ok(v) => v,
        Err(e) => return failed(page, Nav::Webhooks, e),
    };
    let mut aq: Vec<(&str, String)> = vec![("limit", ATTEMPTS_PER_PAGE.to_string())];
    for k in ["iterator", "status", "event_types"] {
        if let Some(v) = q.get(k).filter(|v| !v.is_empty()) {
            aq.push((k, v.clone()));
        }
    }
    let loaded = async {
        let attempts = page
            .api
            .get(&format!("{base}/attempts?{}", encode(&aq)))
            .await?;
        let secret = match extra.secret {
            Some(s) => Some(s),
            None if q.contains_key("reveal") => {
                let v = page.api.get(&format!("{base}/secret")).await?;
                Some((s(&v, "key").to_string(), false))
            }
            None => None,
        };
        Ok::<_, ApiFail>((
            attempts,
            secret,
            event_types(page).await?,
            users(page).await?,
        ))
    };
    let (attempts, secret, types, users) = match loaded.await {
        Ok(v) => v,
        Err(e) => return failed(page, Nav::Webhooks, e),
    };
    let rows: Vec<Value> = attempts
        .get("data")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let next = attempts
        .get("iterator")
        .and_then(Value::as_str)
        .filter(|_| attempts.get("done").and_then(Value::as_bool) == Some(false));
    let here = format!("/portal/webhooks/{}", seg(id));
    let f_status = q.get("status").map(String::as_str).unwrap_or("");
    let f_type = q.get("event_types").map(String::as_str).unwrap_or("");
    let disabled = ep.get("disabled").and_then(Value::as_bool).unwrap_or(false);
    let body = html! {
        p { a href="/portal/webhooks" { "← All endpoints" } }
        dl.facts {
            dt { "URL" } dd { code id="endpoint-url" { (s(&ep, "url")) } }
            dt { "Endpoint id" } dd { code { (s(&ep, "id")) } }
            dt { "Receives" } dd { (filters(&ep)) }
            dt { "State" } dd { (state_badge(&ep)) }
        }
        section {
            h2 { "Signing secret" }
            @if let Some((key, fresh)) = &secret {
                div.notice.secret role="status" {
                    @if *fresh { p { strong { "New secret: the previous one keeps signing alongside for 24 hours." } } }
                    span.copyable {
                        code id="endpoint-secret" { (key) }
                        button.small type="button" data-copy="endpoint-secret" aria-label="Copy the secret" { "Copy" }
                    }
                }
            } @else {
                p { a href={(here) "?reveal=1"} id="reveal-secret" { "Reveal the secret" } }
            }
            form.inline method="post" action={(here) "/rotate"} {
                (csrf(page))
                button.small type="submit" { "Rotate the secret" }
            }
        }
        section {
            h2 { "Send a test event" }
            form.inline method="post" action={(here) "/test"} {
                (csrf(page))
                label for="test-type" { "Event type" }
                select id="test-type" name="event_type" {
                    @for t in &types { option value=(t) selected[t == "workout.created"] { (t) } }
                }
                button.small type="submit" { "Send test event" }
            }
        }
        section {
            h2 { "Delivery log" }
            form.inline method="get" action=(here) aria-label="Filter the delivery log" {
                label for="log-status" { "Status" }
                select id="log-status" name="status" {
                    @for (v, label) in [("", "any"), ("0", "success"), ("1", "pending"), ("2", "failed"), ("3", "sending")] {
                        option value=(v) selected[f_status == v] { (label) }
                    }
                }
                label for="log-type" { "Event type" }
                select id="log-type" name="event_types" {
                    option value="" selected[f_type.is_empty()] { "any" }
                    @for t in &types { option value=(t) selected[f_type == t] { (t) } }
                }
                button.small type="submit" { "Filter" }
            }
            (attempts_table(page, &rows, &here))
            @if let Some(it) = next {
                nav.pager aria-label="Delivery log pages" {
                    a href={(here) "?" (encode(&[("iterator", it.to_string()), ("status", f_status.to_string()), ("event_types", f_type.to_string())]))} { "Older attempts" }
                }
            }
        }
        section {
            h2 { "Edit" }
            form.card method="post" action={(here) "/edit"} {
                (csrf(page))
                (endpoint_fields("edit", Some(&ep), &types, &users))
                @if disabled {
                    label { input type="checkbox" name="enable" value="1"; " Enable it again" }
                }
                button type="submit" { "Save" }
            }
        }
        section {
            h2 { "Delete" }
            details.confirm {
                summary { "Delete this endpoint…" }
                form method="post" action={(here) "/delete"} {
                    (csrf(page))
                    button.small.danger type="submit" { "Delete the endpoint for good" }
                }
            }
        }
    };
    layout::shell(page, Nav::Webhooks, "Webhook endpoint", body)
}

fn attempts_table(page: &Page, rows: &[Value], back: &str) -> Markup {
    html! {
        @if rows.is_empty() {
            p.muted { "No delivery attempts yet." }
        } @else {
            div.scroll {
                table.attempts {
                    thead { tr {
                        th scope="col" { "Time" } th scope="col" { "Event" } th scope="col" { "Status" }
                        th scope="col" { "Response" } th scope="col" { "Duration" } th scope="col" { "Trigger" }
                        th scope="col" { "Actions" }
                    } }
                    tbody {
                        @for a in rows {
                            @let code = n(a, "responseStatusCode").map(|c| c as i64);
                            @let text = s(a, "statusText");
                            tr data-attempt=(s(a, "id")) data-message=(s(a, "msgId")) data-status=(text) data-code=[code] {
                                td { (when(a.get("timestamp").and_then(Value::as_str))) }
                                td { (a.pointer("/msg/eventType").and_then(Value::as_str).unwrap_or("")) br; code.muted { (s(a, "msgId")) } }
                                td { span class={"status " (if text == "fail" { "failed" } else { text })} { (text) } }
                                td {
                                    @if let Some(c) = code { strong.code { (c) } } @else { span.muted { "no answer" } }
                                    @let resp = s(a, "response");
                                    @if !resp.is_empty() {
                                        details.numbers {
                                            summary { "Body" }
                                            pre.body { (resp.chars().take(BODY_SHOWN).collect::<String>()) }
                                        }
                                    }
                                }
                                td { (n(a, "responseDurationMs").map(|d| format!("{d} ms")).unwrap_or_default()) }
                                td { @if n(a, "triggerType") == Some(1.0) { "manual" } @else { "scheduled" } }
                                td.actions { (retry_form(page, s(a, "msgId"), back)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /portal/webhooks/{endpoint_id}`: the endpoint, its secret, test event, delivery log.
pub async fn show(
    page: Page,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    endpoint_page(&page, &id, &q, Extra::default()).await
}

/// `POST /portal/webhooks/{endpoint_id}/edit`.
pub async fn edit(Path(id): Path<String>, p: Posted) -> Response {
    let body = endpoint_body(&p, true);
    let r = p
        .page
        .api
        .call(
            Method::PATCH,
            &format!("/api/v1/webhooks/endpoints/{}", seg(&id)),
            Send::Json(&body),
        )
        .await;
    done(
        &p.page,
        &format!("/portal/webhooks/{}", seg(&id)),
        r,
        "Endpoint saved.",
    )
}

/// `POST /portal/webhooks/{endpoint_id}/rotate`: the new secret is shown in this answer only.
pub async fn rotate(Path(id): Path<String>, p: Posted) -> Response {
    let r = p
        .page
        .api
        .call(
            Method::POST,
            &format!("/api/v1/webhooks/endpoints/{}/secret/rotate", seg(&id)),
            Send::None,
        )
        .await;
    match r {
        Ok(v) => {
            let extra = Extra {
                secret: Some((s(&v, "key").to_string(), true)),
            };
            endpoint_page(&p.page, &id, &HashMap::new(), extra).await
        }
        Err(e) => done(
            &p.page,
            &format!("/portal/webhooks/{}", seg(&id)),
            Err(e),
            "",
        ),
    }
}

/// `POST /portal/webhooks/{endpoint_id}/test`.
pub async fn test(Path(id): Path<String>, p: Posted) -> Response {
    let body = match p.field("event_type") {
        Some(t) => json!({ "event_type": t }),
        None => json!({}),
    };
    let r = p
        .page
        .api
        .call(
            Method::POST,
            &format!("/api/v1/webhooks/endpoints/{}/test", seg(&id)),
            Send::Json(&body),
        )
        .await;
    let msg = match &r {
        Ok(v) => format!(
            "Test event sent (message {}). Its delivery shows in the log below.",
            s(v, "message_id")
        ),
        Err(_) => String::new(),
    };
    done(&p.page, &format!("/portal/webhooks/{}", seg(&id)), r, &msg)
}

/// `POST /portal/webhooks/{endpoint_id}/delete`.
pub async fn delete(Path(id): Path<String>, p: Posted) -> Response {
    let r = p
        .page
        .api
        .call(
            Method::DELETE,
            &format!("/api/v1/webhooks/endpoints/{}", seg(&id)),
            Send::None,
        )
        .await;
    match r {
        Err(e) if e.status != StatusCode::NOT_FOUND => done(
            &p.page,
            &format!("/portal/webhooks/{}", seg(&id)),
            Err(e),
            "",
        ),
        r => done(&p.page, "/portal/webhooks", r, "Endpoint deleted."),
    }
}

/// `POST /portal/webhooks/messages/{msg_id}/retry`: back to the page the form was on.
pub async fn retry(Path(msg): Path<String>, p: Posted) -> Response {
    let back = p
        .field("back")
        .filter(|b| b.starts_with("/portal/webhooks") && !b.contains("//"))
        .unwrap_or_else(|| "/portal/webhooks".into());
    let r = p
        .page
        .api
        .call(
            Method::POST,
            &format!("/api/v1/webhooks/messages/{}/retry", seg(&msg)),
            Send::None,
        )
        .await;
    let text = match &r {
        Ok(v) => format!(
            "Retry queued for {} endpoint(s).",
            v.get("endpoints").map(Value::to_string).unwrap_or_default()
        ),
        Err(_) => String::new(),
    };
    done(&p.page, &back, r, &text)
}

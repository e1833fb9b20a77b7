//! The dashboard, the sync runs, and the sections whose API has not landed yet.

use axum::response::Response;
use maud::{Markup, html};
use serde_json::Value;

use super::{failed, n, s, seg, user_name};
use crate::portal::layout::{self, Nav, when};
use crate::portal::session::Page;

/// A table of sync runs.
pub fn runs_table(runs: &[Value], with_user: bool) -> Markup {
    html! {
        @if runs.is_empty() {
            p.muted { "No sync runs yet." }
        } @else {
            div.scroll {
                table.runs {
                    thead { tr {
                        th scope="col" { "Started" }
                        @if with_user { th scope="col" { "User" } }
                        th scope="col" { "Provider" } th scope="col" { "Source" }
                        th scope="col" { "Status" } th scope="col" { "Stage" }
                        th scope="col" { "Items" } th scope="col" { "Message" }
                    } }
                    tbody {
                        @for r in runs {
                            tr {
                                td { (when(r.get("started_at").and_then(Value::as_str))) }
                                @if with_user {
                                    td { a href={"/portal/users/" (seg(s(r, "user_id")))} { code { (s(r, "user_id").get(..8).unwrap_or("")) } } }
                                }
                                td { (s(r, "provider")) }
                                td { (s(r, "source")) }
                                td { span class={"status " (s(r, "status"))} { (s(r, "status")) } }
                                td { (s(r, "stage")) }
                                td { (n(r, "items_processed").map(|v| v.to_string()).unwrap_or_default()) }
                                td {
                                    (s(r, "message"))
                                    @if !s(r, "error").is_empty() { br; span.error-text { (s(r, "error")) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        other => other
            .get("data")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    }
}

/// `GET /portal`.
pub async fn dashboard(page: Page) -> Response {
    let users = match page
        .api
        .get("/api/v1/users?limit=5&sort_by=created_at&sort_order=desc")
        .await
    {
        Ok(v) => v,
        Err(e) => return failed(&page, Nav::Dashboard, e),
    };
    let runs = match page.api.get("/api/v1/sync/runs?limit=10").await {
        Ok(v) => list(&v),
        Err(e) => return failed(&page, Nav::Dashboard, e),
    };
    let total = users.get("total").and_then(Value::as_u64).unwrap_or(0);
    let recent = users
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let failed_runs = runs.iter().filter(|r| s(r, "status") == "failed").count();
    let body = html! {
        p.lead { "Your platform at a glance." }
        section.stats aria-label="Counters" {
            div.stat { span.stat-label { "Total users" } span.stat-value id="stat-users" { (total) } }
            div.stat { span.stat-label { "Recent sync runs" } span.stat-value id="stat-runs" { (runs.len()) } span.muted { (failed_runs) " failed" } }
            div.stat.pending {
                span.stat-label { "Active connections, data points, events, top providers" }
                span.muted { "Not shown yet: dashboard stats: issue #11." }
            }
        }
        div.columns {
            section {
                h2 { "Newest users" }
                @if recent.is_empty() {
                    p.muted { "No users yet. " a href="/portal/users" { "Add one" } " or " a href="/portal/settings/seed" { "seed synthetic data" } "." }
                } @else {
                    ul.plain {
                        @for u in &recent {
                            li {
                                a href={"/portal/users/" (seg(s(u, "id")))} { (user_name(u)) }
                                " " span.muted { (s(u, "email")) }
                            }
                        }
                    }
                }
            }
            section {
                h2 { "Latest syncs" }
                (runs_table(&runs, true))
                p { a href="/portal/syncs" { "All sync runs" } }
            }
        }
    };
    layout::shell(&page, Nav::Dashboard, "Dashboard", body)
}

/// `GET /portal/syncs`.
pub async fn syncs(page: Page) -> Response {
    let runs = match page.api.get("/api/v1/sync/runs?limit=100").await {
        Ok(v) => list(&v),
        Err(e) => return failed(&page, Nav::Syncs, e),
    };
    let body = html! {
        p.lead { "The 100 most recent sync runs of every user (provider pulls, webhooks, SDK pushes), newest first; the page reloads every 5 s while a run is in progress. "
            a href="/portal/syncs" { "Refresh" } }
        (runs_table(&runs, true))
    };
    let mut r = layout::shell(&page, Nav::Syncs, "Syncs", body);
    if runs.iter().any(|r| s(r, "status") == "in_progress") {
        // Follows running syncs: the browser reloads the page while one is in progress.
        r.headers_mut()
            .insert("refresh", axum::http::HeaderValue::from_static("5"));
    }
    r
}

fn not_landed(page: &Page, nav: Nav, title: &str, what: &str, issue: u32) -> Response {
    let body = html! {
        div.notice role="status" {
            p { strong { "Not available yet." } " " (what) }
            p { "This page is wired up when the API behind it lands (issue #" (issue) ")." }
        }
    };
    layout::shell(page, nav, title, body)
}

/// `GET /portal/webhooks`.
pub async fn webhooks(page: Page) -> Response {
    not_landed(
        &page,
        Nav::Webhooks,
        "Webhooks",
        "Outgoing webhook endpoints, their secrets, test events and the delivery log need the \
         outgoing webhooks API (/api/v1/webhooks), which has not landed.",
        12,
    )
}

/// `GET /portal/coverage`.
pub async fn coverage(page: Page) -> Response {
    not_landed(
        &page,
        Nav::Coverage,
        "Data coverage",
        "Which series and event types each user and provider has over time needs \
         /api/v1/meta/coverage, which has not landed.",
        11,
    )
}

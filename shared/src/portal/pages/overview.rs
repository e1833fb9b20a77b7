//! The dashboard, the sync runs and the data coverage.

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde_json::Value;

use super::{failed, n, s, seg, user_name};
use crate::portal::charts::Bar;
use crate::portal::layout::{self, Nav, when};
use crate::portal::session::Page;

/// A table of sync runs. `live`: the users whose sync streams the page's script follows
/// (the script updates a run's row, or adds one, on every status event).
pub fn runs_table(runs: &[Value], with_user: bool, live: &[String]) -> Markup {
    html! {
        @if runs.is_empty() && live.is_empty() {
            p.muted { "No sync runs yet." }
        } @else {
            div.scroll {
                table.runs data-live-users=[(!live.is_empty()).then(|| live.join(" "))] data-with-user=[with_user.then_some("1")] {
                    thead { tr {
                        th scope="col" { "Started" }
                        @if with_user { th scope="col" { "User" } }
                        th scope="col" { "Provider" } th scope="col" { "Source" }
                        th scope="col" { "Status" } th scope="col" { "Stage" }
                        th scope="col" { "Items" } th scope="col" { "Message" }
                    } }
                    tbody {
                        @for r in runs {
                            tr data-run=(s(r, "run_id")) {
                                td data-field="started" { (when(r.get("started_at").and_then(Value::as_str))) }
                                @if with_user {
                                    td data-field="user" { a href={"/portal/users/" (seg(s(r, "user_id")))} { code { (s(r, "user_id").get(..8).unwrap_or("")) } } }
                                }
                                td data-field="provider" { (s(r, "provider")) }
                                td data-field="source" { (s(r, "source")) }
                                td data-field="status" { span class={"status " (s(r, "status"))} { (s(r, "status")) } }
                                td data-field="stage" { (s(r, "stage")) }
                                td data-field="items" { (n(r, "items_processed").map(|v| v.to_string()).unwrap_or_default()) }
                                td data-field="message" {
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

/// Sync streams one page follows at most (each holds a connection).
pub const LIVE_STREAMS: usize = 3;
/// How long the portal passes one sync stream on before ending it (the browser reconnects).
const STREAM_LIFETIME: std::time::Duration = std::time::Duration::from_secs(600);

/// `GET /portal/users/{user_id}/sync/stream`: the user's sync stream
/// (`/users/{id}/sync/stream`) for the page's script, under the session (the API's stream
/// needs a token the browser's `EventSource` cannot send).
pub async fn sync_stream(page: Page, Path(user): Path<String>) -> Response {
    use futures_util::StreamExt;
    match page
        .api
        .stream(&format!(
            "/api/v1/users/{}/sync/stream?replay=20",
            seg(&user)
        ))
        .await
    {
        Ok(resp) => {
            let (parts, body) = resp.into_parts();
            let bounded = body
                .into_data_stream()
                .take_until(tokio::time::sleep(STREAM_LIFETIME));
            Response::from_parts(parts, axum::body::Body::from_stream(bounded))
        }
        Err(e) => (e.status, e.detail).into_response(),
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
    let stats = match page.api.get("/api/v1/dashboard/stats").await {
        Ok(v) => v,
        Err(e) => return failed(&page, Nav::Dashboard, e),
    };
    let recent = users
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let count = |ptr: &str| stats.pointer(ptr).and_then(Value::as_u64).unwrap_or(0);
    let failed_runs = runs.iter().filter(|r| s(r, "status") == "failed").count();
    let top: Vec<Value> = stats
        .pointer("/connections_coverage/top_providers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let body = html! {
        p.lead { "Your platform at a glance." }
        section.stats aria-label="Counters" {
            div.stat { span.stat-label { "Total users" } span.stat-value id="stat-users" { (count("/total_users/count")) } }
            div.stat { span.stat-label { "Active connections" } span.stat-value id="stat-connections" { (count("/active_conn/count")) } }
            div.stat { span.stat-label { "Data points" } span.stat-value id="stat-points" { (count("/data_points/count")) } }
            div.stat {
                span.stat-label { "Events" } span.stat-value id="stat-events" { (count("/event_records/count")) }
                span.muted { (count("/event_records/workouts")) " workouts, " (count("/event_records/sleep")) " sleep, " (count("/event_records/menstrual_cycles")) " cycles" }
            }
            div.stat {
                span.stat-label { "Users with a connection" } span.stat-value id="stat-connected" { (count("/connections_coverage/users_with_active")) }
                span.muted { (count("/connections_coverage/users_with_multi_active")) " with several" }
            }
            div.stat { span.stat-label { "Recent sync runs" } span.stat-value id="stat-runs" { (runs.len()) } span.muted { (failed_runs) " failed" } }
        }
        section aria-labelledby="top-providers" {
            h2 id="top-providers" { "Top providers" }
            @if top.is_empty() {
                p.muted { "No active connections yet." }
            } @else {
                (crate::portal::charts::bars(
                    "chart-top-providers",
                    "Active connections per provider",
                    "connections",
                    &top.iter().map(|t| Bar { label: s(t, "provider").to_string(), value: n(t, "count").unwrap_or(0.0) }).collect::<Vec<_>>(),
                ))
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
                (runs_table(&runs, true, &[]))
                p { a href="/portal/syncs" { "All sync runs" } }
            }
        }
    };
    layout::shell(&page, Nav::Dashboard, "Dashboard", body)
}

/// `GET /portal/syncs`: the latest runs; the script follows the users with a run in
/// progress (or the one user of `?user_id=`) live.
pub async fn syncs(page: Page, Query(q): Query<HashMap<String, String>>) -> Response {
    let user = q.get("user_id").filter(|u| !u.is_empty()).cloned();
    let uri = match &user {
        Some(u) => format!(
            "/api/v1/sync/runs?limit=100&{}",
            crate::portal::call::encode(&[("user_id", u.clone())])
        ),
        None => "/api/v1/sync/runs?limit=100".to_string(),
    };
    let runs = match page.api.get(&uri).await {
        Ok(v) => list(&v),
        Err(e) => return failed(&page, Nav::Syncs, e),
    };
    let mut live: Vec<String> = user.iter().cloned().collect();
    for r in &runs {
        let u = s(r, "user_id").to_string();
        if s(r, "status") == "in_progress" && !live.contains(&u) && live.len() < LIVE_STREAMS {
            live.push(u);
        }
    }
    let body = html! {
        p.lead {
            @if let Some(u) = &user { "The 100 most recent sync runs of user " code { (u) } ", newest first, updated live. " a href="/portal/syncs" { "All users" } }
            @else { "The 100 most recent sync runs of every user (provider pulls, webhooks, SDK pushes), newest first; runs in progress update live. " a href="/portal/syncs" { "Refresh" } }
        }
        (runs_table(&runs, true, &live))
    };
    layout::shell(&page, Nav::Syncs, "Syncs", body)
}

/// One row per code with a mark per provider.
fn matrix(
    caption: &str,
    id: &str,
    providers: &[String],
    rows: &[(String, String, Vec<String>)],
) -> Markup {
    html! {
        div.scroll {
            table.matrix id=(id) {
                caption { (caption) }
                thead { tr {
                    th scope="col" { "Field" }
                    @for p in providers { th scope="col" { (p) } }
                } }
                tbody {
                    @for (code, unit, have) in rows {
                        tr data-code=(code) {
                            th scope="row" { (code) @if !unit.is_empty() { " " span.muted { "(" (unit) ")" } } }
                            @for p in providers {
                                @if have.contains(p) {
                                    td.yes data-provider=(p) { span aria-hidden="true" { "●" } span.visually-hidden { "yes" } }
                                } @else {
                                    td { span.visually-hidden { "no" } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn field_rows(v: &Value) -> Vec<(String, String, Vec<String>)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    (
                        s(f, "code").to_string(),
                        s(f, "unit").to_string(),
                        names(&f["providers"]),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A user's stored data by type (`/users/{id}/summaries/data`), largest first.
fn counts(v: &Value, key: &str) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = v
        .get(key)
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

/// `GET /portal/coverage`: what each provider delivers (`/meta/coverage`) and, for a chosen
/// user, what is stored and from which sources.
pub async fn coverage(page: Page, Query(q): Query<HashMap<String, String>>) -> Response {
    let cov = match page.api.get("/api/v1/meta/coverage").await {
        Ok(v) => v,
        Err(e) => return failed(&page, Nav::Coverage, e),
    };
    let users = match page
        .api
        .get("/api/v1/users?limit=100&sort_by=created_at&sort_order=desc")
        .await
    {
        Ok(v) => v
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        Err(e) => return failed(&page, Nav::Coverage, e),
    };
    let chosen = q.get("user_id").filter(|u| !u.is_empty()).cloned();
    let mine = match &chosen {
        Some(u) => {
            let data = page
                .api
                .get(&format!("/api/v1/users/{}/summaries/data", seg(u)))
                .await;
            let sources = page
                .api
                .get(&format!("/api/v1/users/{}/data-sources", seg(u)))
                .await;
            match (data, sources) {
                (Ok(d), Ok(src)) => Some((d, src)),
                (Err(e), _) | (_, Err(e)) => return failed(&page, Nav::Coverage, e),
            }
        }
        None => None,
    };
    let providers = names(&cov["providers"]);
    let series_rows =
        |cat: &Value| -> Vec<(String, String, Vec<String>)> { field_rows(&cat["metrics"]) };
    let body = html! {
        p.lead { "What each provider delivers (" code { "GET /api/v1/meta/coverage" } "), and what is stored for one of your users." }
        section aria-labelledby="user-coverage" {
            h2 id="user-coverage" { "A user's data" }
            form.inline method="get" action="/portal/coverage" {
                label for="cov-user" { "User" }
                select id="cov-user" name="user_id" {
                    option value="" { "choose…" }
                    @for u in &users {
                        option value=(s(u, "id")) selected[chosen.as_deref() == Some(s(u, "id"))] { (user_name(u)) }
                    }
                }
                button.small type="submit" { "Show" }
            }
            @if let Some((d, src)) = &mine {
                dl.facts {
                    dt { "Data points" } dd id="cov-points" { (n(d, "total_data_points").unwrap_or(0.0)) }
                    dt { "Workouts" } dd id="cov-workouts" { (n(d, "total_workouts").unwrap_or(0.0)) }
                    dt { "Sleep sessions" } dd id="cov-sleep" { (n(d, "total_sleep_events").unwrap_or(0.0)) }
                }
                div.columns {
                    section {
                        h3 { "Series" }
                        @let c = counts(d, "series_type_counts");
                        @if c.is_empty() { p.muted { "No time series stored." } } @else {
                            table.counts id="cov-series" {
                                thead { tr { th scope="col" { "Series" } th scope="col" { "Samples" } } }
                                tbody { @for (k, v) in &c { tr data-code=(k) data-value=(v) { td { (k) } td { (v) } } } }
                            }
                        }
                    }
                    section {
                        h3 { "Workout types" }
                        @let c = counts(d, "workout_type_counts");
                        @if c.is_empty() { p.muted { "No workouts stored." } } @else {
                            table.counts id="cov-workout-types" {
                                thead { tr { th scope="col" { "Type" } th scope="col" { "Workouts" } } }
                                tbody { @for (k, v) in &c { tr data-code=(k) data-value=(v) { td { (k) } td { (v) } } } }
                            }
                        }
                        h3 { "Sources" }
                        @let items = src.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
                        @if items.is_empty() { p.muted { "No data sources." } } @else {
                            ul.plain { @for x in &items { li { (s(x, "display_name")) " " span.muted { (s(x, "device_type")) } } } }
                        }
                    }
                }
            }
        }
        section aria-labelledby="provider-coverage" {
            h2 id="provider-coverage" { "Providers" }
            @for cat in cov["timeseries"].as_array().cloned().unwrap_or_default() {
                (matrix(s(&cat, "name"), &format!("cov-{}", s(&cat, "name").to_lowercase().replace(|c: char| !c.is_ascii_alphanumeric(), "-")), &providers, &series_rows(&cat)))
            }
            (matrix("Workout fields", "cov-workout-fields", &providers, &field_rows(&cov["workout_fields"])))
            (matrix("Sleep fields", "cov-sleep-fields", &providers, &field_rows(&cov["sleep_fields"])))
            (matrix("Menstrual-cycle fields", "cov-menstrual-fields", &providers, &field_rows(&cov["menstrual_cycle_fields"])))
            (matrix("Health scores", "cov-health-scores", &providers, &field_rows(&cov["health_scores"])))
        }
    };
    layout::shell(&page, Nav::Coverage, "Data coverage", body)
}

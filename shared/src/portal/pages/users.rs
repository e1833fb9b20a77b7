//! Users: the list (search, paging, add), and a user's page with its tabs (profile with
//! connections and sync history, activity, sleep, body, workouts, scores).

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query};
use axum::http::Method;
use axum::response::Response;
use chrono::{Duration, Utc};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::overview::runs_table;
use super::{done, failed, n, s, seg, user_name};
use crate::domain::series::{Resolution, SeriesType};
use crate::portal::call::{ApiFail, Send, encode};
use crate::portal::charts::{self, Bar, Series};
use crate::portal::layout::{self, Nav, csrf, when};
use crate::portal::session::{Flash, Page, Posted, redirect};
use crate::services::timeseries;

const PAGE_SIZE: u64 = 20;
/// The ranges a user's charts offer, in days.
pub const RANGES: [i64; 5] = [7, 30, 90, 180, 365];

/// `GET /portal/users?search=&page=`.
pub async fn list(page: Page, Query(q): Query<HashMap<String, String>>) -> Response {
    let search = q
        .get("search")
        .map(|v| v.trim().to_string())
        .unwrap_or_default();
    let n_page: u64 = q
        .get("page")
        .and_then(|v| v.parse().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    let mut query = vec![
        ("page", n_page.to_string()),
        ("limit", PAGE_SIZE.to_string()),
        ("sort_by", "created_at".to_string()),
        ("sort_order", "desc".to_string()),
    ];
    if !search.is_empty() {
        query.push(("search", search.clone()));
    }
    let users = match page
        .api
        .get(&format!("/api/v1/users?{}", encode(&query)))
        .await
    {
        Ok(v) => v,
        Err(e) => return failed(&page, Nav::Users, e),
    };
    let items = users
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let total = users.get("total").and_then(Value::as_u64).unwrap_or(0);
    let pages = users
        .get("pages")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .max(1);
    let link = |p: u64| {
        let mut q = vec![("page", p.to_string())];
        if !search.is_empty() {
            q.push(("search", search.clone()));
        }
        format!("/portal/users?{}", encode(&q))
    };
    let body = html! {
        div.columns {
            section {
                form.inline role="search" method="get" action="/portal/users" {
                    label for="search" { "Search" }
                    input id="search" name="search" type="search" value=(search) placeholder="name, e-mail or external id";
                    button type="submit" { "Search" }
                }
                p.muted id="user-total" { (total) " users" @if !search.is_empty() { " matching “" (search) "”" } }
                @if items.is_empty() {
                    p.muted { "No users." }
                } @else {
                    div.scroll {
                        table.users {
                            thead { tr { th scope="col" { "Name" } th scope="col" { "E-mail" } th scope="col" { "External id" } th scope="col" { "Created" } } }
                            tbody {
                                @for u in &items {
                                    tr {
                                        td { a href={"/portal/users/" (seg(s(u, "id")))} { (user_name(u)) } }
                                        td { (s(u, "email")) }
                                        td { (s(u, "external_user_id")) }
                                        td { (when(u.get("created_at").and_then(Value::as_str))) }
                                    }
                                }
                            }
                        }
                    }
                }
                nav.pager aria-label="Pages" {
                    @if n_page > 1 { a href=(link(n_page - 1)) rel="prev" { "← Previous" } }
                    span { "Page " (n_page) " of " (pages) }
                    @if n_page < pages { a href=(link(n_page + 1)) rel="next" { "Next →" } }
                }
            }
            section {
                h2 { "Add a user" }
                form.card method="post" action="/portal/users" {
                    (csrf(&page))
                    (user_fields(None))
                    button type="submit" { "Add user" }
                }
            }
        }
    };
    layout::shell(&page, Nav::Users, "Users", body)
}

fn user_fields(u: Option<&Value>) -> Markup {
    let v = |k: &str| u.map(|u| s(u, k).to_string()).unwrap_or_default();
    html! {
        label for="first_name" { "First name" }
        input id="first_name" name="first_name" type="text" maxlength="100" autocomplete="off" value=(v("first_name"));
        label for="last_name" { "Last name" }
        input id="last_name" name="last_name" type="text" maxlength="100" autocomplete="off" value=(v("last_name"));
        label for="email" { "E-mail" }
        input id="email" name="email" type="email" autocomplete="off" value=(v("email"));
        label for="external_user_id" { "External user id" }
        input id="external_user_id" name="external_user_id" type="text" autocomplete="off" value=(v("external_user_id"));
    }
}

fn fields_body(p: &Posted) -> Value {
    let mut body = json!({});
    for k in ["first_name", "last_name", "email", "external_user_id"] {
        if let Some(v) = p.field(k) {
            body[k] = json!(v);
        }
    }
    body
}

/// `POST /portal/users`.
pub async fn create(p: Posted) -> Response {
    let body = fields_body(&p);
    match p
        .page
        .api
        .call(Method::POST, "/api/v1/users", Send::Json(&body))
        .await
    {
        Ok(u) => redirect(
            &p.page.state.config,
            &format!("/portal/users/{}", seg(s(&u, "id"))),
            Some(Flash::ok("User added.")),
        ),
        Err(e) => done(&p.page, "/portal/users", Err(e), ""),
    }
}

/// `POST /portal/users/{user_id}/edit`.
pub async fn edit(Path(user): Path<String>, p: Posted) -> Response {
    let mut body = fields_body(&p);
    // An emptied field is cleared (the API ignores nulls, so send an empty string only for
    // the names; e-mail and external id must be valid or absent).
    for k in ["first_name", "last_name"] {
        if body.get(k).is_none() {
            body[k] = json!("");
        }
    }
    let r = p
        .page
        .api
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{}", seg(&user)),
            Send::Json(&body),
        )
        .await;
    done(
        &p.page,
        &format!("/portal/users/{}", seg(&user)),
        r,
        "User saved.",
    )
}

/// `POST /portal/users/{user_id}/delete`.
pub async fn delete(Path(user): Path<String>, p: Posted) -> Response {
    let r = p
        .page
        .api
        .call(
            Method::DELETE,
            &format!("/api/v1/users/{}", seg(&user)),
            Send::None,
        )
        .await;
    match r {
        Ok(_) => done(&p.page, "/portal/users", Ok(Value::Null), "User deleted."),
        Err(e) => done(
            &p.page,
            &format!("/portal/users/{}", seg(&user)),
            Err(e),
            "",
        ),
    }
}

/// `POST /portal/users/{user_id}/invitation`: a mobile-app invitation code, shown once.
pub async fn invitation(Path(user): Path<String>, p: Posted) -> Response {
    let r = p
        .page
        .api
        .call(
            Method::POST,
            &format!("/api/v1/users/{}/invitation-code", seg(&user)),
            Send::None,
        )
        .await;
    let to = format!("/portal/users/{}", seg(&user));
    match r {
        Ok(v) => redirect(
            &p.page.state.config,
            &to,
            Some(Flash::ok(format!(
                "Invitation code for the mobile app: {} (valid until {}, single use).",
                s(&v, "code"),
                when(v.get("expires_at").and_then(Value::as_str))
            ))),
        ),
        Err(e) => done(&p.page, &to, Err(e), ""),
    }
}

/// `POST /portal/users/{user_id}/connections/{provider}/sync`.
pub async fn sync(Path((user, provider)): Path<(String, String)>, p: Posted) -> Response {
    let r = p
        .page
        .api
        .call(
            Method::POST,
            &format!(
                "/api/v1/providers/{}/users/{}/sync?async=true",
                seg(&provider),
                seg(&user)
            ),
            Send::None,
        )
        .await;
    done(
        &p.page,
        &format!("/portal/users/{}", seg(&user)),
        r,
        &format!("Sync of {provider} started."),
    )
}

/// `POST /portal/users/{user_id}/connections/{provider}/disconnect`.
pub async fn disconnect(Path((user, provider)): Path<(String, String)>, p: Posted) -> Response {
    let r = p
        .page
        .api
        .call(
            Method::DELETE,
            &format!(
                "/api/v1/users/{}/connections/{}",
                seg(&user),
                seg(&provider)
            ),
            Send::None,
        )
        .await;
    done(
        &p.page,
        &format!("/portal/users/{}", seg(&user)),
        r,
        &format!("{provider} disconnected."),
    )
}

/// The tabs of a user's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Profile,
    Activity,
    Sleep,
    Body,
    Workouts,
    Scores,
}

const TABS: [(Tab, &str, &str); 6] = [
    (Tab::Profile, "profile", "Profile"),
    (Tab::Activity, "activity", "Activity"),
    (Tab::Sleep, "sleep", "Sleep"),
    (Tab::Body, "body", "Body"),
    (Tab::Workouts, "workouts", "Workouts"),
    (Tab::Scores, "scores", "Scores"),
];

/// The heart-rate resolutions offered, with the longest window each draws.
const HR_RESOLUTIONS: [(&str, i64); 4] = [("1hour", 30), ("15min", 7), ("5min", 2), ("1min", 1)];

struct View {
    user: String,
    tab: Tab,
    days: i64,
    res: &'static str,
}

impl View {
    fn href(&self, tab: Tab, days: i64) -> String {
        let code = TABS.iter().find(|t| t.0 == tab).map_or("profile", |t| t.1);
        format!(
            "/portal/users/{}?{}",
            seg(&self.user),
            encode(&[("tab", code.to_string()), ("days", days.to_string())])
        )
    }
}

/// `GET /portal/users/{user_id}?tab=&days=&res=`.
pub async fn show(
    page: Page,
    Path(user): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let tab = q
        .get("tab")
        .and_then(|t| TABS.iter().find(|x| x.1 == t))
        .map_or(Tab::Profile, |t| t.0);
    let days = q
        .get("days")
        .and_then(|d| d.parse().ok())
        .filter(|d| RANGES.contains(d))
        .unwrap_or(30);
    let res = q
        .get("res")
        .and_then(|r| HR_RESOLUTIONS.iter().find(|x| x.0 == r))
        .map_or("1hour", |x| x.0);
    let u = match page.api.get(&format!("/api/v1/users/{}", seg(&user))).await {
        Ok(v) => v,
        Err(e) => return failed(&page, Nav::Users, e),
    };
    let view = View {
        user: s(&u, "id").to_string(),
        tab,
        days,
        res,
    };
    let content = match tab {
        Tab::Profile => profile(&page, &u, &view).await,
        Tab::Activity => activity(&page, &view).await,
        Tab::Sleep => sleep(&page, &view).await,
        Tab::Body => body(&page, &view).await,
        Tab::Workouts => workouts(&page, &view).await,
        Tab::Scores => scores(&page, &view).await,
    };
    let content = match content {
        Ok(m) => m,
        Err(e) => return failed(&page, Nav::Users, e),
    };
    let name = user_name(&u);
    let markup = html! {
        p.muted { a href="/portal/users" { "Users" } " / " code { (view.user) } }
        nav.tabs aria-label="User sections" {
            ul {
                @for (t, _, label) in TABS {
                    li { a href=(view.href(t, view.days)) aria-current=[(t == view.tab).then_some("page")] { (label) } }
                }
            }
        }
        @if view.tab != Tab::Profile {
            nav.ranges aria-label="Range" {
                span { "Range:" }
                @for d in RANGES {
                    a href=(view.href(view.tab, d)) aria-current=[(d == view.days).then_some("true")] { (d) " days" }
                }
            }
        }
        section id={"tab-" (TABS.iter().find(|t| t.0 == view.tab).map_or("profile", |t| t.1))} { (content) }
    };
    layout::shell(&page, Nav::Users, &name, markup)
}

async fn profile(page: &Page, u: &Value, view: &View) -> Result<Markup, ApiFail> {
    let id = seg(&view.user);
    let conns = match page
        .api
        .get(&format!("/api/v1/users/{id}/connections"))
        .await?
    {
        Value::Array(a) => a,
        _ => Vec::new(),
    };
    let runs = match page
        .api
        .get(&format!("/api/v1/users/{id}/sync/runs?limit=20"))
        .await?
    {
        Value::Array(a) => a,
        _ => Vec::new(),
    };
    Ok(html! {
        div.columns {
            section {
                h2 { "Profile" }
                form.card method="post" action={"/portal/users/" (id) "/edit"} {
                    (csrf(page))
                    (user_fields(Some(u)))
                    button type="submit" { "Save" }
                }
                p.muted { "Created " (when(u.get("created_at").and_then(Value::as_str))) }
                h2 { "Connect mobile app" }
                form.inline method="post" action={"/portal/users/" (id) "/invitation"} {
                    (csrf(page))
                    button type="submit" { "Create invitation code" }
                }
                p.muted { "The end user types the code into the app; it redeems it for an SDK token." }
                h2 { "Connect a cloud provider" }
                form.inline method="post" action={"/portal/users/" (id) "/pairing-link"} {
                    (csrf(page))
                    button type="submit" { "Create pairing link" }
                }
                p.muted { "A signed link, valid 24 hours, through which the end user connects Garmin, Oura, Polar… from their own browser (no API key there)." }
                details.confirm {
                    summary { "Delete this user…" }
                    form method="post" action={"/portal/users/" (id) "/delete"} {
                        (csrf(page))
                        button.danger type="submit" { "Delete the user and all their data" }
                    }
                }
            }
            section {
                h2 { "Connections" }
                @if conns.is_empty() {
                    p.muted { "No provider connections." }
                } @else {
                    div.scroll {
                        table.connections {
                            thead { tr { th scope="col" { "Provider" } th scope="col" { "Status" } th scope="col" { "Last sync" } th scope="col" { "Live sync" } th scope="col" { "Actions" } } }
                            tbody {
                                @for c in &conns {
                                    @let prov = s(c, "provider");
                                    tr data-provider=(prov) {
                                        td { (prov) @if !s(c, "provider_username").is_empty() { br; span.muted { (s(c, "provider_username")) } } }
                                        td { span class={"status " (s(c, "status"))} { (s(c, "status")) } }
                                        td { (when(c.get("last_synced_at").and_then(Value::as_str))) }
                                        td { (s(c, "live_sync_mode")) }
                                        td.actions {
                                            form.inline method="post" action={"/portal/users/" (id) "/connections/" (seg(prov)) "/sync"} {
                                                (csrf(page))
                                                button.small type="submit" { "Sync now" }
                                            }
                                            details.confirm {
                                                summary { "Disconnect…" }
                                                form method="post" action={"/portal/users/" (id) "/connections/" (seg(prov)) "/disconnect"} {
                                                    (csrf(page))
                                                    button.small.danger type="submit" { "Disconnect " (prov) }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                h2 { "Sync history" }
                (runs_table(&runs, false, &[s(u, "id").to_string()]))
            }
        }
    })
}

fn dates(days: i64) -> (String, String) {
    let today = Utc::now().date_naive();
    (
        (today - Duration::days(days)).to_string(),
        today.to_string(),
    )
}

fn short(date: &str) -> String {
    date.get(5..10).unwrap_or(date).to_string()
}

async fn activity(page: &Page, view: &View) -> Result<Markup, ApiFail> {
    let (start, end) = dates(view.days);
    let (rows, _) = page
        .api
        .get_all(
            &format!("/api/v1/users/{}/summaries/activity", seg(&view.user)),
            &[
                ("start_date", start),
                ("end_date", end),
                ("limit", "400".into()),
            ],
            2,
        )
        .await?;
    let steps: Vec<Bar> = rows
        .iter()
        .map(|r| Bar {
            label: short(s(r, "date")),
            value: n(r, "steps").unwrap_or(0.0),
        })
        .collect();
    let kcal: Vec<Bar> = rows
        .iter()
        .map(|r| Bar {
            label: short(s(r, "date")),
            value: n(r, "active_calories_kcal").unwrap_or(0.0),
        })
        .collect();
    let hr = heart_rate(page, view).await?;
    Ok(html! {
        (charts::bars("chart-steps", "Daily steps", "steps", &steps))
        (charts::bars("chart-calories", "Daily active calories (kcal)", "kcal", &kcal))
        (hr)
    })
}

/// Most points a line chart draws.
const MAX_POINTS: usize = 3000;

/// One series of the user in `[from, to)` through the timeseries service the API's
/// `/timeseries` route uses (one call instead of the route's pages of 100, which would bucket
/// the whole range again for every page). The session was checked by the API's developer check
/// and the user by the API's `GET /users/{id}`.
async fn series(
    page: &Page,
    view: &View,
    from: chrono::DateTime<Utc>,
    to: chrono::DateTime<Utc>,
    kind: SeriesType,
    resolution: Resolution,
    limit: usize,
) -> Result<(Vec<(chrono::DateTime<Utc>, f64)>, bool), ApiFail> {
    let user = uuid::Uuid::parse_str(&view.user).map_err(|_| ApiFail {
        status: axum::http::StatusCode::NOT_FOUND,
        detail: "User not found".into(),
    })?;
    let answer = timeseries::query(
        &page.state,
        timeseries::Query {
            user,
            from,
            to,
            types: vec![kind],
            resolution,
            cursor: None,
            limit,
        },
    )
    .await
    .map_err(|e| ApiFail {
        status: e.status,
        detail: e.detail,
    })?;
    let points = answer
        .samples
        .iter()
        .filter_map(|s| {
            Some((
                chrono::DateTime::from_timestamp_micros(s.point.t)?,
                s.point.value(),
            ))
        })
        .collect();
    Ok((points, answer.more))
}

async fn heart_rate(page: &Page, view: &View) -> Result<Markup, ApiFail> {
    let cap = HR_RESOLUTIONS
        .iter()
        .find(|x| x.0 == view.res)
        .map_or(30, |x| x.1);
    let window = view.days.min(cap);
    let now = Utc::now();
    let from = now - Duration::days(window);
    let (points, more) = series(
        page,
        view,
        from,
        now,
        SeriesType::HeartRate,
        Resolution::parse(view.res).unwrap_or_default(),
        MAX_POINTS,
    )
    .await?;
    let points: Vec<(String, f64)> = points
        .into_iter()
        .map(|(t, v)| (t.format("%Y-%m-%d %H:%M").to_string(), v))
        .collect();
    let base = format!(
        "/portal/users/{}?tab=activity&days={}",
        seg(&view.user),
        view.days
    );
    Ok(html! {
        h2 { "Heart rate" }
        nav.ranges aria-label="Heart-rate resolution" {
            span { "Resolution:" }
            @for (r, _) in HR_RESOLUTIONS {
                a href={(base) "&res=" (r)} aria-current=[(r == view.res).then_some("true")] { (r) }
            }
        }
        @if window < view.days {
            p.muted { "At " (view.res) " the chart shows the last " (window) " days." }
        }
        @if more { p.muted { "Only the first " (MAX_POINTS) " samples are drawn." } }
        (charts::line("chart-hr", &format!("Heart rate, {} average", view.res), "bpm", &points))
    })
}

async fn sleep(page: &Page, view: &View) -> Result<Markup, ApiFail> {
    let (start, end) = dates(view.days);
    let (rows, _) = page
        .api
        .get_all(
            &format!("/api/v1/users/{}/summaries/sleep", seg(&view.user)),
            &[
                ("start_date", start),
                ("end_date", end),
                ("limit", "100".into()),
            ],
            5,
        )
        .await?;
    let eff: Vec<Bar> = rows
        .iter()
        .map(|r| Bar {
            label: short(s(r, "date")),
            value: n(r, "efficiency_percent").unwrap_or(0.0),
        })
        .collect();
    let series = [
        Series {
            name: "deep",
            class: "deep",
        },
        Series {
            name: "light",
            class: "light",
        },
        Series {
            name: "rem",
            class: "rem",
        },
        Series {
            name: "awake",
            class: "awake",
        },
    ];
    let stages: Vec<(String, Vec<f64>)> = rows
        .iter()
        .map(|r| {
            let st = r.get("stages").cloned().unwrap_or(Value::Null);
            (
                short(s(r, "date")),
                [
                    "deep_minutes",
                    "light_minutes",
                    "rem_minutes",
                    "awake_minutes",
                ]
                .iter()
                .map(|k| n(&st, k).unwrap_or(0.0))
                .collect(),
            )
        })
        .collect();
    Ok(html! {
        (charts::bars("chart-efficiency", "Sleep efficiency per night (%)", "%", &eff))
        (charts::stacked("chart-stages", "Sleep stages per night (minutes)", "min", &series, &stages))
        @if !rows.is_empty() {
            h2 { "Nights" }
            div.scroll {
                table {
                    thead { tr { th scope="col" { "Night of" } th scope="col" { "Asleep" } th scope="col" { "Woke" } th scope="col" { "Minutes asleep" } th scope="col" { "Efficiency" } th scope="col" { "Avg HR" } } }
                    tbody {
                        @for r in rows.iter().rev() {
                            tr {
                                td { (s(r, "date")) }
                                td { (when(r.get("start_time").and_then(Value::as_str))) }
                                td { (when(r.get("end_time").and_then(Value::as_str))) }
                                td { (n(r, "duration_minutes").map(charts::num).unwrap_or_default()) }
                                td { (n(r, "efficiency_percent").map(|v| format!("{}%", charts::num(v))).unwrap_or_default()) }
                                td { (n(r, "avg_heart_rate_bpm").map(charts::num).unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// The non-null leaves of a JSON object, as `(name, value)`.
fn leaves(v: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Value::Object(m) = v {
        for (k, x) in m {
            match x {
                Value::Null => {}
                Value::Object(_) => out.extend(
                    leaves(x)
                        .into_iter()
                        .map(|(k2, v2)| (format!("{k} {k2}"), v2)),
                ),
                Value::String(t) => out.push((k.replace('_', " "), t.clone())),
                Value::Number(num) => out.push((
                    k.replace('_', " "),
                    num.as_f64().map(charts::num).unwrap_or_default(),
                )),
                other => out.push((k.replace('_', " "), other.to_string())),
            }
        }
    }
    out
}

async fn series_line(
    page: &Page,
    view: &View,
    kind: &str,
    caption: &str,
    unit: &str,
) -> Result<Markup, ApiFail> {
    let now = Utc::now();
    let Some(kind_type) = SeriesType::from_code(kind) else {
        return Ok(html! {});
    };
    let (samples, _) = series(
        page,
        view,
        now - Duration::days(view.days),
        now,
        kind_type,
        Resolution::Raw,
        MAX_POINTS,
    )
    .await?;
    let points: Vec<(String, f64)> = samples
        .into_iter()
        .map(|(t, v)| (t.format("%m-%d").to_string(), v))
        .collect();
    Ok(charts::line(
        &format!("chart-{kind}"),
        caption,
        unit,
        &points,
    ))
}

async fn body(page: &Page, view: &View) -> Result<Markup, ApiFail> {
    let snapshot = page
        .api
        .get(&format!("/api/v1/users/{}/summaries/body", seg(&view.user)))
        .await?;
    let weight = series_line(page, view, "weight", "Weight (kg)", "kg").await?;
    let rhr = series_line(
        page,
        view,
        "resting_heart_rate",
        "Resting heart rate (bpm)",
        "bpm",
    )
    .await?;
    let facts: Vec<(String, String)> = ["slow_changing", "averaged", "latest"]
        .iter()
        .flat_map(|k| leaves(snapshot.get(*k).unwrap_or(&Value::Null)))
        .collect();
    Ok(html! {
        h2 { "Latest values" }
        @if facts.is_empty() {
            p.muted { "No body measurements." }
        } @else {
            dl.facts {
                @for (k, v) in &facts { dt { (k) } dd { (v) } }
            }
        }
        (weight)
        (rhr)
    })
}

async fn workouts(page: &Page, view: &View) -> Result<Markup, ApiFail> {
    let (start, end) = dates(view.days);
    let (rows, more) = page
        .api
        .get_all(
            &format!("/api/v1/users/{}/events/workouts", seg(&view.user)),
            &[
                ("start_date", start),
                ("end_date", end),
                ("limit", "100".into()),
            ],
            5,
        )
        .await?;
    let mut per_day: BTreeMap<String, f64> = BTreeMap::new();
    for r in &rows {
        let day = s(r, "start_time").get(..10).unwrap_or("").to_string();
        *per_day.entry(day).or_default() += n(r, "duration_seconds").unwrap_or(0.0) / 60.0;
    }
    let bars: Vec<Bar> = per_day
        .iter()
        .map(|(d, m)| Bar {
            label: short(d),
            value: m.round(),
        })
        .collect();
    Ok(html! {
        (charts::bars("chart-workout-minutes", "Workout minutes per day", "min", &bars))
        @if more { p.muted { "Only the first 500 workouts are listed." } }
        @if !rows.is_empty() {
            div.scroll {
                table.workouts {
                    thead { tr { th scope="col" { "Start" } th scope="col" { "Type" } th scope="col" { "Minutes" } th scope="col" { "kcal" } th scope="col" { "km" } th scope="col" { "Avg HR" } th scope="col" { "Max HR" } th scope="col" { "Source" } } }
                    tbody {
                        @for r in rows.iter().rev() {
                            tr {
                                td { (when(r.get("start_time").and_then(Value::as_str))) }
                                td { (s(r, "type")) }
                                td { (n(r, "duration_seconds").map(|v| charts::num((v / 60.0).round())).unwrap_or_default()) }
                                td { (n(r, "calories_kcal").map(|v| charts::num(v.round())).unwrap_or_default()) }
                                td { (n(r, "distance_meters").map(|v| format!("{:.2}", v / 1000.0)).unwrap_or_default()) }
                                td { (n(r, "avg_heart_rate_bpm").map(charts::num).unwrap_or_default()) }
                                td { (n(r, "max_heart_rate_bpm").map(charts::num).unwrap_or_default()) }
                                td { (r.pointer("/source/provider").and_then(Value::as_str).unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
    })
}

async fn scores(page: &Page, view: &View) -> Result<Markup, ApiFail> {
    let (start, end) = dates(view.days);
    let q = encode(&[
        ("start_date", start),
        ("end_date", end),
        ("limit", "1000".into()),
    ]);
    let answer = page
        .api
        .get(&format!(
            "/api/v1/users/{}/health-scores?{q}",
            seg(&view.user)
        ))
        .await?;
    let rows = answer
        .get("data")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut by_cat: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for r in &rows {
        if let Some(v) = n(r, "value") {
            by_cat
                .entry(s(r, "category").to_string())
                .or_default()
                .push((s(r, "recorded_at").to_string(), v));
        }
    }
    for points in by_cat.values_mut() {
        points.sort_by(|a, b| a.0.cmp(&b.0));
    }
    Ok(html! {
        @if by_cat.is_empty() { p.muted { "No scores in this range." } }
        @for (cat, points) in &by_cat {
            @let bars: Vec<Bar> = points.iter().map(|(t, v)| Bar { label: short(t), value: *v }).collect();
            (charts::bars(&format!("chart-score-{cat}"), &format!("{} score", cat.replace('_', " ")), "", &bars))
        }
    })
}

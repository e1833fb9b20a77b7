//! Settings: API keys, SDK applications, providers and synthetic data, through the API's
//! routes (priorities, data lifecycle and team are in `team.rs`).

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::Method;
use axum::response::Response;
use maud::{Markup, html};
use serde_json::{Value, json};

use super::{done, failed, s, seg};
use crate::portal::call::Send;
use crate::portal::layout::{self, Nav, csrf, when};
use crate::portal::session::{Page, Posted};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Keys,
    Apps,
    Providers,
    Priorities,
    Lifecycle,
    Team,
    Seed,
}

/// The settings sections.
pub fn tabs(active: Tab) -> Markup {
    let items = [
        (Tab::Keys, "/portal/settings", "API keys"),
        (
            Tab::Apps,
            "/portal/settings/applications",
            "SDK applications",
        ),
        (Tab::Providers, "/portal/settings/providers", "Providers"),
        (Tab::Priorities, "/portal/settings/priorities", "Priorities"),
        (
            Tab::Lifecycle,
            "/portal/settings/lifecycle",
            "Data lifecycle",
        ),
        (Tab::Team, "/portal/settings/team", "Team"),
        (Tab::Seed, "/portal/settings/seed", "Seed data"),
    ];
    html! {
        nav.tabs aria-label="Settings" {
            ul {
                @for (t, href, label) in items {
                    li { a href=(href) aria-current=[(t == active).then_some("page")] { (label) } }
                }
            }
        }
    }
}

fn copyable(id: &str, value: &str) -> Markup {
    html! {
        span.copyable {
            code id=(id) { (value) }
            button.small type="button" data-copy=(id) aria-label="Copy to clipboard" { "Copy" }
        }
    }
}

/// `GET /portal/settings`: the API keys.
pub async fn api_keys(page: Page, Query(q): Query<HashMap<String, String>>) -> Response {
    let keys = match page.api.get("/api/v1/developer/api-keys").await {
        Ok(Value::Array(a)) => a,
        Ok(_) => Vec::new(),
        Err(e) => return failed(&page, Nav::Settings, e),
    };
    let created = q.get("created").map(String::as_str).unwrap_or("");
    let body = html! {
        (tabs(Tab::Keys))
        p.lead { "Your backend sends a key in the " code { "X-Open-Wearables-API-Key" } " header." }
        form.inline method="post" action="/portal/settings/api-keys" {
            (csrf(&page))
            label for="new-key-name" { "Name" }
            input id="new-key-name" name="name" type="text" maxlength="100" placeholder="e.g. backend";
            button type="submit" { "Create API key" }
        }
        @if keys.is_empty() {
            p.muted { "No API keys yet." }
        } @else {
            div.scroll {
                table.keys {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Key" } th scope="col" { "Created" } th scope="col" { "Actions" } } }
                    tbody {
                        @for (i, k) in keys.iter().enumerate() {
                            @let id = s(k, "id");
                            @let fresh = !created.is_empty() && id.starts_with(created);
                            tr class=[fresh.then_some("fresh")] data-key-name=(s(k, "name")) {
                                td { (s(k, "name")) @if fresh { " " span.badge { "new" } } }
                                td { (copyable(&format!("key-{i}"), id)) }
                                td { (when(k.get("created_at").and_then(Value::as_str))) }
                                td.actions {
                                    form.inline method="post" action={"/portal/settings/api-keys/" (seg(id)) "/rename"} {
                                        (csrf(&page))
                                        label.visually-hidden for={"rename-" (i)} { "New name for " (s(k, "name")) }
                                        input id={"rename-" (i)} name="name" type="text" maxlength="100" value=(s(k, "name")) required;
                                        button.small type="submit" { "Rename" }
                                    }
                                    form.inline method="post" action={"/portal/settings/api-keys/" (seg(id)) "/rotate"} {
                                        (csrf(&page))
                                        button.small type="submit" { "Rotate" }
                                    }
                                    details.confirm {
                                        summary { "Delete…" }
                                        form method="post" action={"/portal/settings/api-keys/" (seg(id)) "/delete"} {
                                            (csrf(&page))
                                            button.small.danger type="submit" { "Delete " (s(k, "name")) " for good" }
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

/// `POST /portal/settings/api-keys`.
pub async fn create_key(p: Posted) -> Response {
    let body = json!({ "name": p.field("name").unwrap_or_else(|| "Default".into()) });
    let r = p
        .page
        .api
        .call(
            Method::POST,
            "/api/v1/developer/api-keys",
            Send::Json(&body),
        )
        .await;
    let to = match &r {
        Ok(v) => format!(
            "/portal/settings?created={}",
            seg(s(v, "id").get(..11).unwrap_or(""))
        ),
        Err(_) => "/portal/settings".into(),
    };
    done(&p.page, &to, r, "API key created: copy it from the list.")
}

/// `POST /portal/settings/api-keys/{key_id}/rename`.
pub async fn rename_key(Path(key): Path<String>, p: Posted) -> Response {
    let body = json!({ "name": p.field("name") });
    let r = p
        .page
        .api
        .call(
            Method::PATCH,
            &format!("/api/v1/developer/api-keys/{}", seg(&key)),
            Send::Json(&body),
        )
        .await;
    done(&p.page, "/portal/settings", r, "API key renamed.")
}

/// `POST /portal/settings/api-keys/{key_id}/rotate`.
pub async fn rotate_key(Path(key): Path<String>, p: Posted) -> Response {
    let r = p
        .page
        .api
        .call(
            Method::POST,
            &format!("/api/v1/developer/api-keys/{}/rotate", seg(&key)),
            Send::None,
        )
        .await;
    let to = match &r {
        Ok(v) => format!(
            "/portal/settings?created={}",
            seg(s(v, "id").get(..11).unwrap_or(""))
        ),
        Err(_) => "/portal/settings".into(),
    };
    done(
        &p.page,
        &to,
        r,
        "API key rotated: the old key no longer works.",
    )
}

/// `POST /portal/settings/api-keys/{key_id}/delete`.
pub async fn delete_key(Path(key): Path<String>, p: Posted) -> Response {
    let r = p
        .page
        .api
        .call(
            Method::DELETE,
            &format!("/api/v1/developer/api-keys/{}", seg(&key)),
            Send::None,
        )
        .await;
    done(&p.page, "/portal/settings", r, "API key deleted.")
}

fn apps_page(page: &Page, apps: &[Value], secret: Option<&Value>) -> Response {
    let body = html! {
        (tabs(Tab::Apps))
        p.lead { "A mobile app exchanges its application id and secret for a user's SDK token ("
            code { "POST /api/v1/users/{user_id}/token" } ")." }
        @if let Some(a) = secret {
            div.notice.secret role="status" {
                p { strong { "Secret of " (s(a, "name")) ": copy it now, it is not shown again." } }
                dl {
                    dt { "Application id" } dd { (copyable("new-app-id", s(a, "app_id"))) }
                    dt { "Application secret" } dd { (copyable("new-app-secret", s(a, "app_secret"))) }
                }
            }
        }
        form.inline method="post" action="/portal/settings/applications" {
            (csrf(page))
            label for="new-app-name" { "Name" }
            input id="new-app-name" name="name" type="text" maxlength="100" required placeholder="e.g. ios";
            button type="submit" { "Create application" }
        }
        @if apps.is_empty() {
            p.muted { "No SDK applications yet." }
        } @else {
            div.scroll {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Application id" } th scope="col" { "Created" } th scope="col" { "Actions" } } }
                    tbody {
                        @for a in apps {
                            tr {
                                td { (s(a, "name")) }
                                td { code { (s(a, "app_id")) } }
                                td { (when(a.get("created_at").and_then(Value::as_str))) }
                                td.actions {
                                    form.inline method="post" action={"/portal/settings/applications/" (seg(s(a, "app_id"))) "/rotate"} {
                                        (csrf(page))
                                        button.small type="submit" { "Rotate secret" }
                                    }
                                    details.confirm {
                                        summary { "Delete…" }
                                        form method="post" action={"/portal/settings/applications/" (seg(s(a, "app_id"))) "/delete"} {
                                            (csrf(page))
                                            button.small.danger type="submit" { "Delete " (s(a, "name")) " for good" }
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
    layout::shell(page, Nav::Settings, "Settings", body)
}

async fn list_apps(page: &Page) -> Result<Vec<Value>, super::ApiFail> {
    match page.api.get("/api/v1/applications").await? {
        Value::Array(a) => Ok(a),
        _ => Ok(Vec::new()),
    }
}

/// `GET /portal/settings/applications`.
pub async fn applications(page: Page) -> Response {
    match list_apps(&page).await {
        Ok(apps) => apps_page(&page, &apps, None),
        Err(e) => failed(&page, Nav::Settings, e),
    }
}

/// Shows a new secret once (rendered into this answer, never stored in a cookie or URL).
async fn with_secret(p: Posted, r: Result<Value, super::ApiFail>) -> Response {
    match r {
        Ok(app) => match list_apps(&p.page).await {
            Ok(apps) => apps_page(&p.page, &apps, Some(&app)),
            Err(e) => failed(&p.page, Nav::Settings, e),
        },
        Err(e) => done(&p.page, "/portal/settings/applications", Err(e), ""),
    }
}

/// `POST /portal/settings/applications`.
pub async fn create_application(p: Posted) -> Response {
    let body = json!({ "name": p.field("name") });
    let r = p
        .page
        .api
        .call(Method::POST, "/api/v1/applications", Send::Json(&body))
        .await;
    with_secret(p, r).await
}

/// `POST /portal/settings/applications/{app_id}/rotate`.
pub async fn rotate_application(Path(app): Path<String>, p: Posted) -> Response {
    let r = p
        .page
        .api
        .call(
            Method::POST,
            &format!("/api/v1/applications/{}/rotate-secret", seg(&app)),
            Send::None,
        )
        .await;
    with_secret(p, r).await
}

/// `POST /portal/settings/applications/{app_id}/delete`.
pub async fn delete_application(Path(app): Path<String>, p: Posted) -> Response {
    let r = p
        .page
        .api
        .call(
            Method::DELETE,
            &format!("/api/v1/applications/{}", seg(&app)),
            Send::None,
        )
        .await;
    done(
        &p.page,
        "/portal/settings/applications",
        r,
        "Application deleted.",
    )
}

/// `GET /portal/settings/seed`.
pub async fn seed_page(page: Page) -> Response {
    let presets = match page.api.get("/api/v1/settings/seed/presets").await {
        Ok(Value::Array(a)) => a,
        Ok(_) => Vec::new(),
        Err(e) => return failed(&page, Nav::Settings, e),
    };
    let body = html! {
        (tabs(Tab::Seed))
        p.lead { "Creates users filled with synthetic data (time series, workouts, sleep) through the same write path as a device push. It runs in the background: new users appear in "
            a href="/portal/users" { "Users" } " when it is done." }
        form.card method="post" action="/portal/settings/seed" {
            (csrf(&page))
            label for="num_users" { "Number of users (1–10)" }
            input id="num_users" name="num_users" type="number" min="1" max="10" value="1" required;
            label for="preset" { "Profile" }
            select id="preset" name="preset" {
                @for p in &presets {
                    option value=(s(p, "id")) { (s(p, "label")) " — " (s(p, "description")) }
                }
            }
            label for="random_seed" { "Random seed (optional, same seed → same data)" }
            input id="random_seed" name="random_seed" type="number" min="0";
            button type="submit" { "Generate data" }
        }
    };
    layout::shell(&page, Nav::Settings, "Settings", body)
}

/// `POST /portal/settings/seed`: the chosen preset's profile, as the API's presets give it.
pub async fn seed(p: Posted) -> Response {
    let presets = match p.page.api.get("/api/v1/settings/seed/presets").await {
        Ok(Value::Array(a)) => a,
        Ok(_) => Vec::new(),
        Err(e) => return done(&p.page, "/portal/settings/seed", Err(e), ""),
    };
    let chosen = p.field("preset").unwrap_or_default();
    let profile = presets
        .iter()
        .find(|x| s(x, "id") == chosen)
        .and_then(|x| x.get("profile"))
        .cloned();
    let num: Option<u64> = p.field("num_users").and_then(|v| v.parse().ok());
    let seed: Option<u64> = p.field("random_seed").and_then(|v| v.parse().ok());
    let mut body = json!({ "num_users": num.unwrap_or(1).clamp(1, 10) });
    if let Some(prof) = profile {
        body["profile"] = prof;
    }
    if let Some(sd) = seed {
        body["random_seed"] = json!(sd);
    }
    let r = p
        .page
        .api
        .call(Method::POST, "/api/v1/settings/seed", Send::Json(&body))
        .await;
    let msg = match &r {
        Ok(v) => format!(
            "Seeding started (task {}, seed {}). Users appear in the list when it is done.",
            s(v, "task_id"),
            v.get("seed_used").map(Value::to_string).unwrap_or_default()
        ),
        Err(_) => String::new(),
    };
    done(&p.page, "/portal/settings/seed", r, &msg)
}

/// `GET /portal/settings/providers`: which providers are offered, and how they sync.
pub async fn providers(page: Page) -> Response {
    let list = match page.api.get("/api/v1/oauth/providers").await {
        Ok(Value::Array(a)) => a,
        Ok(_) => Vec::new(),
        Err(e) => return failed(&page, Nav::Settings, e),
    };
    let body = html! {
        (tabs(Tab::Providers))
        p.lead { "A cloud provider can only be enabled when its OAuth client is configured (" code { "<PROVIDER>_CLIENT_ID" } ", " code { "<PROVIDER>_CLIENT_SECRET" } "); SDK sources (Apple, Samsung, Google Health Connect) need none." }
        div.scroll {
            table.providers {
                thead { tr { th scope="col" { "Provider" } th scope="col" { "Kind" } th scope="col" { "Enabled" } th scope="col" { "Live sync" } th scope="col" { "Actions" } } }
                tbody {
                    @for x in &list {
                        @let key = s(x, "provider");
                        @let enabled = x.get("is_enabled").and_then(Value::as_bool).unwrap_or(false);
                        @let cloud = x.get("has_cloud_api").and_then(Value::as_bool).unwrap_or(false);
                        tr data-provider=(key) {
                            td { img src=(s(x, "icon_url")) alt="" width="20" height="20"; " " (s(x, "name")) }
                            td { @if cloud { "cloud API" } @else { "SDK (device)" } }
                            td { @if enabled { span.status.active { "enabled" } } @else { span.muted { "off" } } }
                            td {
                                @if x.get("live_sync_configurable").and_then(Value::as_bool).unwrap_or(false) {
                                    form.inline method="post" action={"/portal/settings/providers/" (seg(key))} {
                                        (csrf(&page))
                                        label.visually-hidden for={"mode-" (key)} { "Live sync mode of " (s(x, "name")) }
                                        select id={"mode-" (key)} name="live_sync_mode" {
                                            @for m in ["webhook", "pull"] {
                                                option value=(m) selected[s(x, "live_sync_mode") == m] { (m) }
                                            }
                                        }
                                        button.small type="submit" { "Set" }
                                    }
                                } @else {
                                    (s(x, "live_sync_mode"))
                                }
                            }
                            td.actions {
                                form.inline method="post" action={"/portal/settings/providers/" (seg(key))} {
                                    (csrf(&page))
                                    input type="hidden" name="is_enabled" value=(if enabled { "false" } else { "true" });
                                    button.small type="submit" { @if enabled { "Disable" } @else { "Enable" } }
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

/// `POST /portal/settings/providers/{provider}`: enable, disable or set the live sync mode.
pub async fn update_provider(Path(provider): Path<String>, p: Posted) -> Response {
    let mut body = json!({});
    if let Some(e) = p.field("is_enabled") {
        body["is_enabled"] = json!(e == "true");
    }
    if let Some(m) = p.field("live_sync_mode") {
        body["live_sync_mode"] = json!(m);
    }
    let r = p
        .page
        .api
        .call(
            Method::PUT,
            &format!("/api/v1/oauth/providers/{}", seg(&provider)),
            Send::Json(&body),
        )
        .await;
    done(
        &p.page,
        "/portal/settings/providers",
        r,
        &format!("{provider} updated."),
    )
}

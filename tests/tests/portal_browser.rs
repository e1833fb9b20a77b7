//! The developer portal in a real browser: Debian's headless Chromium driven over WebDriver
//! (`chromedriver`). Logs in from `/`, creates an API key in Settings and uses the key the page
//! shows over HTTP, adds a user, seeds synthetic data, opens every tab of the seeded user and
//! checks that the charts hold the API's numbers, checks the phone layout, and fails on any
//! console error (failed requests and CSP violations are console errors). Follows a sync live,
//! registers a webhook endpoint to a local receiver and sees the test event's delivery in the
//! log. Saves screenshots of the dashboard, the sleep tab and the webhook log to `docs/` for
//! the README.
//!
//! Needs `chromium` and `chromedriver` on the PATH (or `OW_CHROMIUM` / `OW_CHROMEDRIVER`).
//! Without them the test is skipped with a loud message, unless `OW_REQUIRE_CHROMIUM` is set
//! (`infra/test.sh` sets it and installs both), when it fails.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Duration, Utc};
use ow_e2e::webdriver::{Driver, find_binary};
use ow_e2e::{ADMIN_EMAIL, ADMIN_PASSWORD, Server, Storage};
use reqwest::StatusCode;
use serde_json::{Value, json};

const KEY_HEADER: &str = "X-Open-Wearables-API-Key";

/// Fails on console errors since the last check.
async fn no_console_errors(d: &Driver, page: &str) {
    let errors: Vec<_> = d
        .console()
        .await
        .into_iter()
        .filter(|(level, _)| level == "SEVERE" || level == "ERROR")
        .collect();
    assert!(errors.is_empty(), "console errors on {page}: {errors:?}");
}

/// The `data-label` → `data-value` of the marks of one chart.
async fn chart(d: &Driver, css: &str) -> BTreeMap<String, f64> {
    let v = d
        .script(
            "return Array.from(document.querySelectorAll(arguments[0])).map(e => [e.getAttribute('data-label'), Number(e.getAttribute('data-value'))]);",
            json!([css]),
        )
        .await;
    v.as_array()
        .expect("marks")
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap_or_default().to_string(),
                p[1].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

fn short(date: &str) -> String {
    date[5..10].to_string()
}

async fn api_get(s: &Server, key: &str, path: &str) -> Value {
    let r = s
        .http
        .get(s.url(path))
        .header(KEY_HEADER, key)
        .send()
        .await
        .expect("api");
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.expect("json")
}

/// A webhook receiver on a free loopback port: counts the POSTs and answers 200 `thanks`.
async fn receiver() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let got = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                "thanks"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, got)
}

// Two worker threads: the server keeps answering the browser while the seeding job runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_works_in_chromium() {
    let (Some(chromium), Some(driver)) = (
        find_binary(
            "OW_CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        ),
        find_binary("OW_CHROMEDRIVER", &["chromedriver"]),
    ) else {
        if std::env::var_os("OW_REQUIRE_CHROMIUM").is_some() {
            panic!("OW_REQUIRE_CHROMIUM is set but chromium or chromedriver is not on the PATH");
        }
        eprintln!(
            "\n!!!!!!!! SKIPPED the portal browser test: no chromium/chromedriver on the PATH \
             (apt-get install -y --no-install-recommends chromium chromium-driver) !!!!!!!!\n"
        );
        return;
    };
    let s = Server::start(Storage::Embedded).await;
    let d = Driver::start(&driver, &chromium, 1280, 900).await;

    // The first command's address leads to the portal: `/` → `/portal` → the login.
    d.goto(&s.url("/")).await;
    assert!(d.url().await.contains("/portal/login"), "{}", d.url().await);
    d.fill("#username", ADMIN_EMAIL).await;
    d.fill("#password", ADMIN_PASSWORD).await;
    d.click("form.card button[type=submit]").await;
    assert_eq!(d.url().await, s.url("/portal"));
    assert_eq!(d.text("main h1").await, "Dashboard");
    no_console_errors(&d, "dashboard").await;

    // Settings: create an API key, copy it, use it.
    d.goto(&s.url("/portal/settings")).await;
    d.fill("#new-key-name", "browser-test").await;
    d.click("form[action='/portal/settings/api-keys'] button")
        .await;
    assert!(d.text(".flash.ok").await.contains("API key created"));
    let key = d.text("tr[data-key-name='browser-test'] code").await;
    assert!(key.starts_with("sk-") && key.len() == 35, "{key}");
    d.click_here("tr[data-key-name='browser-test'] button[data-copy]")
        .await;
    // Copied to the clipboard, or (where the browser refuses) selected for Ctrl+C.
    d.wait_until(
        "const t = document.querySelector(\"tr[data-key-name='browser-test'] button[data-copy]\").textContent; return t === 'Copied' || t.startsWith('Selected');",
        json!([]),
    )
    .await;
    let r = s
        .http
        .get(s.url("/api/v1/users"))
        .header(KEY_HEADER, &key)
        .send()
        .await
        .expect("use the key");
    assert_eq!(r.status(), StatusCode::OK);
    no_console_errors(&d, "settings").await;

    // Providers: turning an SDK source off and on again.
    d.goto(&s.url("/portal/settings/providers")).await;
    d.click("tr[data-provider='apple'] td.actions button").await;
    assert!(d.text(".flash.ok").await.contains("apple updated"));
    assert!(
        d.text("tr[data-provider='apple'] td.actions button")
            .await
            .contains("Enable")
    );
    d.click("tr[data-provider='apple'] td.actions button").await;
    assert!(
        d.text("tr[data-provider='apple'] td.actions button")
            .await
            .contains("Disable")
    );
    no_console_errors(&d, "providers").await;

    // Users: add one.
    d.goto(&s.url("/portal/users")).await;
    d.fill("#first_name", "Ada").await;
    d.fill("#last_name", "Lovelace").await;
    d.fill("#email", "ada@example.com").await;
    d.click("form[method='post'][action='/portal/users'] button")
        .await;
    assert_eq!(d.text("main h1").await, "Ada Lovelace");
    assert!(d.text(".flash.ok").await.contains("User added"));
    no_console_errors(&d, "user page").await;
    let ada = d
        .url()
        .await
        .split("/portal/users/")
        .nth(1)
        .expect("user page")
        .split(['?', '#'])
        .next()
        .expect("id")
        .to_string();

    // Live sync updates: the profile follows Ada's sync stream; an SDK log event shows up
    // as a new run row without a reload.
    d.wait_until(
        "const t = document.querySelector('table.runs[data-live-users]'); return !!t && t.getAttribute('data-live') === 'open';",
        json!([]),
    )
    .await;
    let log = json!({"sdkVersion": "1", "provider": "apple", "events": [
        {"eventType": "device_state", "timestamp": Utc::now().to_rfc3339(), "batteryLevel": 0.5}
    ]});
    let r = s
        .http
        .post(s.url(&format!("/api/v1/sdk/users/{ada}/logs")))
        .header(KEY_HEADER, &key)
        .json(&log)
        .send()
        .await
        .expect("sdk log");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    d.wait_until(
        "return document.querySelectorAll('table.runs tbody tr[data-run]').length >= 1;",
        json!([]),
    )
    .await;
    assert_eq!(
        d.text("table.runs tbody tr[data-run] td[data-field='status']")
            .await,
        "in_progress"
    );
    assert_eq!(
        d.text("table.runs tbody tr[data-run] td[data-field='message']")
            .await,
        "device state"
    );
    no_console_errors(&d, "live sync on the user page").await;
    d.goto(&s.url(&format!("/portal/syncs?user_id={ada}")))
        .await;
    d.wait_until(
        "const t = document.querySelector('table.runs[data-live-users]'); return !!t && t.getAttribute('data-live') === 'open';",
        json!([]),
    )
    .await;
    no_console_errors(&d, "syncs").await;

    // Seed data from the browser, then wait for the job.
    d.goto(&s.url("/portal/settings/seed")).await;
    d.fill("#num_users", "1").await;
    d.fill("#random_seed", "7").await;
    d.click("form[action='/portal/settings/seed'] button").await;
    assert!(d.text(".flash.ok").await.contains("Seeding started"));
    s.state.jobs_idle().await;
    let users = api_get(&s, &key, "/api/v1/users?limit=100").await;
    let seeded = users["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|u| u["email"] != "ada@example.com")
        .expect("a seeded user")["id"]
        .as_str()
        .expect("id")
        .to_string();
    no_console_errors(&d, "seed").await;

    let today = Utc::now().date_naive();
    let start = (today - Duration::days(30)).to_string();
    let end = today.to_string();
    let user_page = |tab: &str| s.url(&format!("/portal/users/{seeded}?tab={tab}&days=30"));

    // Activity: the bars are the API's daily steps and active calories.
    d.goto(&user_page("activity")).await;
    let activity = api_get(
        &s,
        &key,
        &format!(
            "/api/v1/users/{seeded}/summaries/activity?start_date={start}&end_date={end}&limit=400"
        ),
    )
    .await;
    let days = activity["data"].as_array().expect("data");
    assert!(!days.is_empty(), "the seed made activity");
    let want_steps: BTreeMap<String, f64> = days
        .iter()
        .map(|r| {
            (
                short(r["date"].as_str().expect("date")),
                r["steps"].as_f64().unwrap_or(0.0),
            )
        })
        .collect();
    assert_eq!(chart(&d, "#chart-steps rect.bar").await, want_steps);
    let want_kcal: BTreeMap<String, f64> = days
        .iter()
        .map(|r| {
            (
                short(r["date"].as_str().expect("date")),
                r["active_calories_kcal"].as_f64().unwrap_or(0.0),
            )
        })
        .collect();
    assert_eq!(chart(&d, "#chart-calories rect.bar").await, want_kcal);
    let hr = d
        .script(
            "const s = document.querySelector('#chart-hr svg'); return s && [Number(s.dataset.count), Number(s.dataset.min), Number(s.dataset.max)];",
            json!([]),
        )
        .await;
    let hr = hr.as_array().expect("a heart-rate chart");
    assert!(
        hr[0].as_f64().unwrap_or(0.0) > 24.0,
        "hourly points: {hr:?}"
    );
    assert!(
        hr[1].as_f64().unwrap_or(0.0) >= 30.0 && hr[2].as_f64().unwrap_or(999.0) <= 230.0,
        "{hr:?}"
    );
    no_console_errors(&d, "activity tab").await;

    // Sleep: efficiency bars and stage segments are the API's nights.
    d.goto(&user_page("sleep")).await;
    let sleep = api_get(
        &s,
        &key,
        &format!(
            "/api/v1/users/{seeded}/summaries/sleep?start_date={start}&end_date={end}&limit=100"
        ),
    )
    .await;
    let nights = sleep["data"].as_array().expect("data");
    assert!(!nights.is_empty(), "the seed made sleep");
    let want_eff: BTreeMap<String, f64> = nights
        .iter()
        .map(|r| {
            (
                short(r["date"].as_str().expect("date")),
                r["efficiency_percent"].as_f64().unwrap_or(0.0),
            )
        })
        .collect();
    assert_eq!(chart(&d, "#chart-efficiency rect.bar").await, want_eff);
    let want_deep: BTreeMap<String, f64> = nights
        .iter()
        .map(|r| {
            (
                short(r["date"].as_str().expect("date")),
                r["stages"]["deep_minutes"].as_f64().unwrap_or(0.0),
            )
        })
        .collect();
    assert_eq!(
        chart(&d, "#chart-stages rect[data-series='deep']").await,
        want_deep
    );
    no_console_errors(&d, "sleep tab").await;
    d.resize(1280, 1300).await;
    let shot = d.screenshot().await;
    d.resize(1280, 900).await;
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    std::fs::create_dir_all(&docs).expect("docs dir");
    std::fs::write(docs.join("portal-sleep.png"), &shot).expect("write screenshot");

    // Workouts: one row per workout the API lists in the range.
    d.goto(&user_page("workouts")).await;
    let mut count = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!(
            "/api/v1/users/{seeded}/events/workouts?start_date={start}&end_date={end}&limit=100"
        );
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = api_get(&s, &key, &path).await;
        count += page["data"].as_array().map_or(0, Vec::len);
        match page["pagination"]["next_cursor"].as_str() {
            Some(c) if page["pagination"]["has_more"] == true => cursor = Some(c.to_string()),
            _ => break,
        }
    }
    let rows = d
        .script(
            "return document.querySelectorAll('table.workouts tbody tr').length;",
            json!([]),
        )
        .await;
    assert_eq!(rows.as_u64(), Some(count as u64));
    no_console_errors(&d, "workouts tab").await;

    // Body, Scores, Profile: they render, with no console error.
    for tab in ["body", "scores", "profile"] {
        d.goto(&user_page(tab)).await;
        let present = d
            .script(
                "return !!document.getElementById(arguments[0]);",
                json!([format!("tab-{tab}")]),
            )
            .await;
        assert_eq!(present, true, "{tab}");
        no_console_errors(&d, tab).await;
    }
    // The pairing link opens in a browser without a session.
    d.goto(&user_page("profile")).await;
    d.click("form[action$='/pairing-link'] button").await;
    let flash = d.text(".flash.ok").await;
    let at = flash.find("/portal/pair/").expect("a pairing link");
    let link = flash[at..].trim().to_string();
    d.goto(&s.url(&link)).await;
    assert_eq!(d.text("main h1").await, "Connect your wearable");
    no_console_errors(&d, "pairing page").await;

    d.goto(&user_page("body")).await;
    let weight = d
        .script(
            "const s = document.querySelector('#chart-weight svg'); return s ? Number(s.dataset.count) : 0;",
            json!([]),
        )
        .await;
    assert!(
        weight.as_f64().unwrap_or(0.0) > 0.0,
        "weight points: {weight}"
    );

    // The dashboard after seeding, for the README.
    d.goto(&s.url("/portal")).await;
    assert_eq!(d.text("#stat-users").await, "2");
    let shot = d.screenshot().await;
    std::fs::write(docs.join("portal-dashboard.png"), &shot).expect("write screenshot");
    no_console_errors(&d, "dashboard").await;

    // Webhooks: register an endpoint to a local receiver, send a test event, see the
    // delivery with its answer in the log.
    let (hook, got) = receiver().await;
    d.goto(&s.url("/portal/webhooks")).await;
    no_console_errors(&d, "webhooks").await;
    d.fill("#new-url", &hook).await;
    d.fill("#new-description", "the browser test's receiver")
        .await;
    d.click("form[method='post'][action='/portal/webhooks'] button")
        .await;
    assert_eq!(
        d.text("main h1").await,
        "Webhook endpoint",
        "{}",
        d.text("main").await
    );
    assert!(d.text(".flash.ok").await.contains("Endpoint added"));
    let endpoint_page = d.url().await;
    d.click("#reveal-secret").await;
    assert!(d.text("#endpoint-secret").await.starts_with("whsec_"));
    d.click("form[action$='/test'] button").await;
    assert!(d.text(".flash.ok").await.contains("Test event sent"));
    for _ in 0..200 {
        s.state.jobs_idle().await;
        if got.load(std::sync::atomic::Ordering::SeqCst) >= 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(
        got.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one delivery"
    );
    s.state.jobs_idle().await;
    d.goto(&endpoint_page).await;
    assert_eq!(
        d.text("table.attempts tr[data-status='success'] strong.code")
            .await,
        "200"
    );
    assert_eq!(
        d.script(
            "return document.querySelectorAll('table.attempts tbody tr').length;",
            json!([])
        )
        .await,
        json!(1)
    );
    d.click_here("table.attempts details summary").await;
    d.resize(1280, 1300).await;
    let shot = d.screenshot().await;
    std::fs::write(docs.join("portal-webhooks.png"), &shot).expect("write screenshot");
    d.resize(1280, 900).await;
    no_console_errors(&d, "webhook endpoint").await;

    // The other pages: they render with no console error.
    for path in [
        "/portal/coverage".to_string(),
        format!("/portal/coverage?user_id={seeded}"),
        "/portal/settings/priorities".to_string(),
        "/portal/settings/lifecycle".to_string(),
        "/portal/settings/team".to_string(),
        "/portal/syncs".to_string(),
    ] {
        d.goto(&s.url(&path)).await;
        assert!(!d.text("main h1").await.is_empty());
        no_console_errors(&d, &path).await;
    }
    assert!(d.url().await.ends_with("/portal/syncs"));
    d.goto(&s.url(&format!("/portal/coverage?user_id={seeded}")))
        .await;
    let points = d.text("#cov-points").await;
    assert!(points.parse::<u64>().unwrap_or(0) > 0, "{points}");

    // A phone: nothing is wider than the screen.
    d.resize(390, 844).await;
    for path in [
        "/portal",
        "/portal/users",
        &format!("/portal/users/{seeded}?tab=sleep"),
        "/portal/webhooks",
        &endpoint_page.replace(&s.base, ""),
        "/portal/coverage",
        "/portal/settings/priorities",
        "/portal/settings/team",
    ] {
        d.goto(&s.url(path)).await;
        let overflow = d
            .script(
                "return document.documentElement.scrollWidth - window.innerWidth;",
                json!([]),
            )
            .await;
        assert!(
            overflow.as_f64().unwrap_or(99.0) <= 1.0,
            "{path} is wider than a phone by {overflow} px"
        );
    }

    // Logging out ends the session.
    d.resize(1280, 900).await;
    d.goto(&s.url("/portal")).await;
    d.click(".account button").await;
    assert!(d.url().await.contains("/portal/login"));
    d.goto(&s.url("/portal/users")).await;
    assert!(d.url().await.contains("/portal/login"));
    no_console_errors(&d, "logout").await;
}

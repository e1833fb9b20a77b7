//! The developer portal's render time: a release server, one user seeded with a year of
//! synthetic data through the portal's seed form, then every page requested in turn by one
//! client with the session cookie; p50 and p99 per page (the budget is p99 ≤ 20 ms).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::{own_binary, start};

type BoxError = Box<dyn std::error::Error>;

fn cookie_of(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let pair = v.split(';').next()?;
            let (k, val) = pair.split_once('=')?;
            (k == name && !val.is_empty()).then(|| val.to_string())
        })
}

fn csrf_of(html: &str) -> Option<String> {
    let at = html.find(r#"name="csrf" value=""#)? + 19;
    html[at..].split('"').next().map(str::to_string)
}

pub async fn run(quick: bool) -> Result<(), BoxError> {
    let server = start(&own_binary()?).await?;
    let base = server.base.clone();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;

    // Log in through the form.
    let r = http.get(format!("{base}/portal/login")).send().await?;
    let nonce = cookie_of(&r, "ow_portal_login").ok_or("no login cookie")?;
    let csrf = csrf_of(&r.text().await?).ok_or("no csrf field")?;
    let r = http
        .post(format!("{base}/portal/login"))
        .header("cookie", format!("ow_portal_login={nonce}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "bench@example.com"),
            ("password", "bench-password"),
        ])
        .send()
        .await?;
    let session = cookie_of(&r, "ow_portal").ok_or("login failed")?;
    let cookie = format!("ow_portal={session}");

    // A year of data: the active-athlete preset stretched to 12 months, through the API (the
    // portal's seed form posts a preset as it is).
    let jwt = session.clone();
    let presets: Vec<Value> = http
        .get(format!("{base}/api/v1/settings/seed/presets"))
        .bearer_auth(&jwt)
        .send()
        .await?
        .json()
        .await?;
    let mut profile = presets
        .iter()
        .find(|p| p["id"] == "active_athlete")
        .ok_or("no active_athlete preset")?["profile"]
        .clone();
    let months = if quick { 1 } else { 12 };
    for part in ["workout_config", "sleep_config", "time_series_config"] {
        profile[part]["date_range_months"] = json!(months);
    }
    profile["sleep_config"]["count"] = json!(months * 30);
    profile["workout_config"]["count"] = json!(months * 20);
    let started = Instant::now();
    let r = http
        .post(format!("{base}/api/v1/settings/seed"))
        .bearer_auth(&jwt)
        .json(&json!({ "num_users": 1, "random_seed": 42, "profile": profile }))
        .send()
        .await?;
    if !r.status().is_success() {
        return Err(format!("seed: {}", r.text().await?).into());
    }
    // The seed job is done when the user's last night of sleep is there.
    let user = loop {
        if started.elapsed() > Duration::from_secs(1800) {
            return Err("seeding did not finish within 30 minutes".into());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let users: Value = http
            .get(format!("{base}/api/v1/users"))
            .bearer_auth(&jwt)
            .send()
            .await?
            .json()
            .await?;
        let Some(id) = users["items"][0]["id"].as_str() else {
            continue;
        };
        let today = chrono::Utc::now().date_naive();
        let sleep: Value = http
            .get(format!(
                "{base}/api/v1/users/{id}/summaries/sleep?start_date={}&end_date={today}",
                today - chrono::Duration::days(3)
            ))
            .bearer_auth(&jwt)
            .send()
            .await?
            .json()
            .await?;
        if sleep["data"].as_array().is_some_and(|d| !d.is_empty()) {
            break id.to_string();
        }
    };
    println!(
        "portal: seeded one user with {months} months of data in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    // One webhook endpoint (for a type the benchmark never emits, at a closed port), so its
    // page has something to show.
    let ep: Value = http
        .post(format!("{base}/api/v1/webhooks/endpoints"))
        .bearer_auth(&jwt)
        .json(&json!({"url": "http://127.0.0.1:9/hook", "filter_types": ["connection.revoked"]}))
        .send()
        .await?
        .json()
        .await?;
    let endpoint = ep["id"].as_str().ok_or("no webhook endpoint")?.to_string();

    let mut pages: Vec<(String, String)> = vec![
        ("dashboard".into(), "/portal".into()),
        ("users".into(), "/portal/users".into()),
        ("syncs".into(), "/portal/syncs".into()),
        ("webhooks".into(), "/portal/webhooks".into()),
        (
            "webhook endpoint".into(),
            format!("/portal/webhooks/{endpoint}"),
        ),
        ("data coverage".into(), "/portal/coverage".into()),
        (
            "data coverage, user".into(),
            format!("/portal/coverage?user_id={user}"),
        ),
        ("settings (API keys)".into(), "/portal/settings".into()),
        (
            "settings (applications)".into(),
            "/portal/settings/applications".into(),
        ),
        (
            "settings (providers)".into(),
            "/portal/settings/providers".into(),
        ),
        (
            "settings (priorities)".into(),
            "/portal/settings/priorities".into(),
        ),
        (
            "settings (lifecycle)".into(),
            "/portal/settings/lifecycle".into(),
        ),
        ("settings (team)".into(), "/portal/settings/team".into()),
        ("settings (seed)".into(), "/portal/settings/seed".into()),
    ];
    for tab in ["profile", "activity", "sleep", "body", "workouts", "scores"] {
        for days in [30, 365] {
            pages.push((
                format!("user {tab}, {days} days"),
                format!("/portal/users/{user}?tab={tab}&days={days}"),
            ));
        }
    }
    let n = if quick { 20 } else { 100 };
    println!("portal page render time, one client, {n} requests each (p99 budget 20 ms):");
    println!(
        "{:<28} {:>9} {:>9} {:>9}",
        "page", "p50 ms", "p99 ms", "KiB"
    );
    let mut worst: f64 = 0.0;
    for (name, path) in &pages {
        let mut lat = Vec::with_capacity(n);
        let mut size = 0;
        for _ in 0..n {
            let t = Instant::now();
            let r = http
                .get(format!("{base}{path}"))
                .header("cookie", &cookie)
                .send()
                .await?;
            if r.status() != reqwest::StatusCode::OK {
                return Err(format!("{path}: {}", r.status()).into());
            }
            size = r.bytes().await?.len();
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        lat.sort_by(f64::total_cmp);
        let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
        worst = worst.max(p(0.99));
        println!(
            "{name:<28} {:>9.2} {:>9.2} {:>9.1}",
            p(0.5),
            p(0.99),
            size as f64 / 1024.0
        );
    }
    println!(
        "worst p99 {worst:.2} ms ({}); server peak RSS {:.0} MB",
        if worst <= 20.0 {
            "within the budget"
        } else {
            "OVER the 20 ms budget"
        },
        server.peak_rss_mb().unwrap_or(0.0)
    );
    Ok(())
}

//! The developer portal over real HTTP, on both table adapters: browsers are sent from `/` to
//! the portal while API clients keep the liveness JSON; pages need a session; login sets an
//! `HttpOnly`, `SameSite=Strict` cookie; forms without the CSRF token or from another origin
//! are refused; what the portal writes is what the API reads.

use std::collections::HashMap;

use ow_e2e::{ADMIN_EMAIL, ADMIN_PASSWORD, Server, Storage};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use serde_json::Value;

/// A browser-like client: no redirects followed, cookies kept by hand.
struct Client {
    http: reqwest::Client,
    cookies: HashMap<String, String>,
    base: String,
}

impl Client {
    fn new(s: &Server) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: HashMap::new(),
            base: s.base.clone(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, r: &reqwest::Response) -> Vec<String> {
        let mut raw = Vec::new();
        for v in r.headers().get_all(SET_COOKIE) {
            let v = v.to_str().expect("ascii").to_string();
            let (pair, _) = v.split_once(';').unwrap_or((&v, ""));
            if let Some((k, val)) = pair.split_once('=') {
                if val.is_empty() || v.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_string(), val.to_string());
                }
            }
            raw.push(v);
        }
        raw
    }

    async fn get(&mut self, path: &str) -> (StatusCode, String, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .expect("get");
        self.keep(&r);
        let status = r.status();
        let loc = location(&r);
        (status, loc, r.text().await.expect("body"))
    }

    async fn post(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> (StatusCode, String, Vec<String>) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .form(form);
        if let Some(o) = origin {
            req = req.header(ORIGIN, o);
        }
        let r = req.send().await.expect("post");
        let raw = self.keep(&r);
        (r.status(), location(&r), raw)
    }

    /// Logs in through the login form; returns the session cookie's `Set-Cookie` line.
    async fn login(&mut self) -> String {
        let (status, _, html) = self.get("/portal/login").await;
        assert_eq!(status, StatusCode::OK);
        let csrf = csrf_of(&html);
        let (status, loc, raw) = self
            .post(
                "/portal/login",
                &[
                    ("csrf", &csrf),
                    ("next", "/portal/users"),
                    ("username", ADMIN_EMAIL),
                    ("password", ADMIN_PASSWORD),
                ],
                None,
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{raw:?}");
        assert_eq!(loc, "/portal/users");
        raw.into_iter()
            .find(|c| c.starts_with("ow_portal="))
            .expect("session cookie")
    }
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The first CSRF token of a page's forms.
fn csrf_of(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("a csrf field") + 19;
    html[at..].split('"').next().expect("value").to_string()
}

#[tokio::test]
async fn browsers_go_to_the_portal_and_api_clients_keep_the_liveness_json() {
    let s = Server::start(Storage::Embedded).await;
    let c = Client::new(&s);
    let r = c
        .http
        .get(s.url("/"))
        .header(ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/portal");
    for accept in [None, Some("*/*"), Some("application/json")] {
        let mut req = c.http.get(s.url("/"));
        if let Some(a) = accept {
            req = req.header(ACCEPT, a);
        }
        let r = req.send().await.expect("get");
        assert_eq!(r.status(), StatusCode::OK, "{accept:?}");
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["message"], "Server is running!");
    }
}

async fn session_and_csrf_guard_every_page(storage: Storage) {
    let s = Server::start(storage).await;
    let mut c = Client::new(&s);
    // No session: every page goes to the login, remembering where it was going.
    let (status, loc, _) = c.get("/portal/users?page=2").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(loc, "/portal/login?next=%2Fportal%2Fusers%3Fpage%3D2");
    let (status, loc, _) = c
        .post("/portal/users", &[("first_name", "Eve")], None)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(loc.starts_with("/portal/login"), "{loc}");

    // A login without the form's token is refused; a wrong password shows the API's text.
    let (status, _, _) = c
        .post(
            "/portal/login",
            &[("username", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!c.cookies.contains_key("ow_portal"));
    let (_, _, html) = c.get("/portal/login").await;
    let csrf = csrf_of(&html);
    let r = c
        .http
        .post(s.url("/portal/login"))
        .header(COOKIE, c.cookie_header())
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", ADMIN_EMAIL),
            ("password", "wrong-password"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("Incorrect email or password")
    );

    let session = c.login().await;
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Strict"), "{session}");
    assert!(session.contains("Path=/portal"), "{session}");
    assert!(
        !session.contains("Secure"),
        "plain-http localhost: no Secure flag: {session}"
    );

    let (status, _, html) = c.get("/portal/users").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Add a user"));
    let csrf = csrf_of(&html);

    // Without the token, with a wrong token, or from another origin: 403, nothing written.
    for (form, origin) in [
        (vec![("first_name", "Eve")], None),
        (vec![("first_name", "Eve"), ("csrf", "0000")], None),
        (
            vec![("first_name", "Eve"), ("csrf", csrf.as_str())],
            Some("http://evil.test"),
        ),
    ] {
        let (status, _, _) = c.post("/portal/users", &form, origin).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{form:?} {origin:?}");
    }

    // With it: the user the portal adds is the user the API lists.
    let (status, loc, _) = c
        .post(
            "/portal/users",
            &[
                ("csrf", &csrf),
                ("first_name", "Grace"),
                ("email", "grace@example.com"),
            ],
            Some(&s.base),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let id = loc.strip_prefix("/portal/users/").expect("user page");
    let (status, _, html) = c.get(&loc).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("User added."), "the flash message shows once");
    assert!(html.contains("<h1>Grace</h1>"), "{html}");
    let (_, _, again) = c.get(&loc).await;
    assert!(!again.contains("User added."));

    // An API error reaches the page as the API's detail.
    let (status, _, _) = c
        .post(
            &format!("/portal/users/{id}/edit"),
            &[("csrf", &csrf), ("email", "not-an-email")],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, html) = c.get(&loc).await;
    assert!(html.contains("class=\"flash err\""), "{html}");

    let jwt = c.cookies["ow_portal"].clone();
    let api: Value = s
        .http
        .get(s.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("get user")
        .json()
        .await
        .expect("json");
    assert_eq!(api["first_name"], "Grace");
    assert_eq!(api["email"], "grace@example.com");

    // Logout ends the portal session.
    let (status, loc, _) = c.post("/portal/logout", &[("csrf", &csrf)], None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(loc, "/portal/login");
    assert!(!c.cookies.contains_key("ow_portal"));
    let (status, _, _) = c.get("/portal/users").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn session_and_csrf_guard_every_page_embedded() {
    session_and_csrf_guard_every_page(Storage::Embedded).await;
}

#[tokio::test]
async fn session_and_csrf_guard_every_page_dynamodb() {
    session_and_csrf_guard_every_page(Storage::Dynamo).await;
}

#[tokio::test]
async fn pages_carry_a_strict_content_security_policy() {
    let s = Server::start(Storage::Embedded).await;
    let mut c = Client::new(&s);
    c.login().await;
    for path in [
        "/portal",
        "/portal/users",
        "/portal/syncs",
        "/portal/settings",
        "/portal/settings/applications",
        "/portal/settings/seed",
        "/portal/settings/providers",
        "/portal/settings/priorities",
        "/portal/settings/lifecycle",
        "/portal/settings/team",
        "/portal/webhooks",
        "/portal/coverage",
        "/portal/password",
    ] {
        let r = c
            .http
            .get(s.url(path))
            .header(COOKIE, c.cookie_header())
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let csp = r
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert_eq!(
            r.headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok()),
            Some("no-store")
        );
        let html = r.text().await.expect("body");
        assert!(
            !html.contains("style=\""),
            "{path}: inline styles break the CSP"
        );
        assert!(html.contains("<main id=\"main\""), "{path}");
    }
}

#[tokio::test]
async fn a_signed_pairing_link_lets_an_end_user_start_oauth_without_credentials() {
    let s = Server::start_with(
        Storage::Embedded,
        &[
            ("OURA_CLIENT_ID", "oura-cid"),
            ("OURA_CLIENT_SECRET", "oura-secret"),
        ],
    )
    .await;
    let mut dev = Client::new(&s);
    dev.login().await;
    let (_, _, html) = dev.get("/portal/users").await;
    let csrf = csrf_of(&html);
    let (_, user_page, _) = dev
        .post(
            "/portal/users",
            &[("csrf", &csrf), ("first_name", "Lin")],
            None,
        )
        .await;
    let id = user_page
        .strip_prefix("/portal/users/")
        .expect("user page")
        .to_string();
    let (status, loc, _) = dev
        .post(
            &format!("/portal/users/{id}/pairing-link"),
            &[("csrf", &csrf)],
            None,
        )
        .await;
    assert_eq!(
        (status, loc.as_str()),
        (StatusCode::SEE_OTHER, user_page.as_str())
    );
    let (_, _, html) = dev.get(&user_page).await;
    let at = html.find("/portal/pair/").expect("the link is shown");
    let link = html[at..]
        .split('<')
        .next()
        .expect("link")
        .replace("&amp;", "&");
    assert!(
        link.starts_with(&format!("/portal/pair/{id}?exp=")),
        "{link}"
    );

    // The end user's browser: no cookie, no key.
    let mut end_user = Client::new(&s);
    let r = end_user
        .http
        .get(s.url(&link))
        .send()
        .await
        .expect("pairing page");
    assert_eq!(
        r.headers()
            .get("referrer-policy")
            .and_then(|v| v.to_str().ok()),
        Some("no-referrer"),
        "the signed link does not leak to the provider"
    );
    let (status, _, page) = end_user.get(&link).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(r#"data-provider="oura""#), "{page}");
    let q: HashMap<String, String> = reqwest::Url::parse(&format!("http://x{link}"))
        .expect("url")
        .query_pairs()
        .into_owned()
        .collect();
    let form = [("exp", q["exp"].as_str()), ("sig", q["sig"].as_str())];
    let (status, to, _) = end_user
        .post(&format!("/portal/pair/{id}/oura"), &form, Some(&s.base))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        to.contains("client_id=oura-cid") && to.contains("state="),
        "to Oura's authorize page: {to}"
    );

    // Tampered, for another user, expired, or posted from another origin: refused.
    let tampered = link.replace(&q["sig"], &"0".repeat(64));
    assert_eq!(end_user.get(&tampered).await.0, StatusCode::FORBIDDEN);
    let other = link.replace(&id, &uuid::Uuid::new_v4().to_string());
    assert_eq!(end_user.get(&other).await.0, StatusCode::FORBIDDEN);
    let user = uuid::Uuid::parse_str(&id).expect("uuid");
    let past = chrono::Utc::now().timestamp() - 1;
    let sig = shared::portal::pages::pair::signature(&s.state.config, user, past);
    let expired = format!("/portal/pair/{id}?exp={past}&sig={sig}");
    assert_eq!(end_user.get(&expired).await.0, StatusCode::FORBIDDEN);
    let (status, _, _) = end_user
        .post(
            &format!("/portal/pair/{id}/oura"),
            &[("exp", &past.to_string()), ("sig", &sig)],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = end_user
        .post(
            &format!("/portal/pair/{id}/oura"),
            &form,
            Some("http://evil.test"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// A webhook receiver on a free loopback port: counts the POSTs and answers 200 `thanks`.
async fn receiver() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let got = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
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

/// Waits (bounded) until the receiver got `n` deliveries and the jobs are idle.
async fn wait_count(s: &Server, got: &std::sync::atomic::AtomicUsize, n: usize) {
    for _ in 0..400 {
        s.state.jobs_idle().await;
        if got.load(std::sync::atomic::Ordering::SeqCst) >= n {
            s.state.jobs_idle().await;
            assert_eq!(got.load(std::sync::atomic::Ordering::SeqCst), n);
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the receiver never got {n} deliveries");
}

async fn api_json(s: &Server, jwt: &str, path: &str) -> (StatusCode, Value) {
    let r = s
        .http
        .get(s.url(path))
        .bearer_auth(jwt)
        .send()
        .await
        .expect("api");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn webhooks_page_manages_endpoints_and_shows_deliveries(storage: Storage) {
    let s = Server::start(storage).await;
    let (hook, got) = receiver().await;
    let mut c = Client::new(&s);
    c.login().await;
    let jwt = c.cookies["ow_portal"].clone();
    let (status, _, html) = c.get("/portal/webhooks").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No endpoints yet."), "{html}");
    let csrf = csrf_of(&html);

    // Add: the endpoint the page registers is the one the API lists, with its filters.
    let (status, loc, _) = c
        .post(
            "/portal/webhooks",
            &[
                ("csrf", &csrf),
                ("url", &hook),
                ("description", "local receiver"),
                ("filter_types", "workout.created"),
                ("filter_types", "sleep.created"),
                ("user_id", ""),
            ],
            Some(&s.base),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let id = loc
        .strip_prefix("/portal/webhooks/")
        .expect("endpoint page")
        .to_string();
    let (_, list) = api_json(&s, &jwt, "/api/v1/webhooks/endpoints").await;
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["url"], hook.as_str());
    assert_eq!(
        list[0]["filter_types"],
        serde_json::json!(["workout.created", "sleep.created"])
    );
    // A bad URL shows the API's detail.
    let (status, loc2, _) = c
        .post(
            "/portal/webhooks",
            &[("csrf", &csrf), ("url", "ftp://nope")],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, html) = c.get(&loc2).await;
    assert!(html.contains("class=\"flash err\""), "{html}");

    // The overview filters by event type and user.
    let (_, _, html) = c.get("/portal/webhooks?event_type=sleep.created").await;
    assert!(html.contains(&format!("data-endpoint=\"{id}\"")));
    let (_, _, html) = c.get("/portal/webhooks?event_type=steps.created").await;
    assert!(!html.contains(&format!("data-endpoint=\"{id}\"")));

    // Reveal: the secret the page shows is the API's.
    let (_, secret) = api_json(&s, &jwt, &format!("/api/v1/webhooks/endpoints/{id}/secret")).await;
    let key = secret["key"].as_str().expect("key").to_string();
    let (_, _, html) = c.get(&format!("/portal/webhooks/{id}")).await;
    assert!(!html.contains(&key), "the secret is hidden until revealed");
    let (_, _, html) = c.get(&format!("/portal/webhooks/{id}?reveal=1")).await;
    assert!(html.contains(&key));

    // A test event reaches the receiver and shows in the log with its answer.
    let (status, loc, _) = c
        .post(
            &format!("/portal/webhooks/{id}/test"),
            &[("csrf", &csrf), ("event_type", "sleep.created")],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    wait_count(&s, &got, 1).await;
    let (_, _, html) = c.get(&loc).await;
    assert!(html.contains("Test event sent"), "{html}");
    assert!(html.contains("data-status=\"success\""), "{html}");
    assert!(html.contains("data-code=\"200\""), "{html}");
    assert!(html.contains("thanks"), "the response body is in the log");
    let (_, attempts) = api_json(
        &s,
        &jwt,
        &format!("/api/v1/webhooks/endpoints/{id}/attempts"),
    )
    .await;
    let msg = attempts["data"][0]["msgId"]
        .as_str()
        .expect("msg")
        .to_string();
    assert!(html.contains(&msg));
    // Filtered to failures: nothing.
    let (_, _, html) = c.get(&format!("/portal/webhooks/{id}?status=2")).await;
    assert!(html.contains("No delivery attempts yet."), "{html}");

    // A manual retry delivers again.
    let back = format!("/portal/webhooks/{id}");
    let (status, loc, _) = c
        .post(
            &format!("/portal/webhooks/messages/{msg}/retry"),
            &[("csrf", &csrf), ("back", &back)],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(loc, back);
    wait_count(&s, &got, 2).await;
    let (_, _, html) = c.get(&loc).await;
    assert!(html.contains("Retry queued"), "{html}");
    assert!(html.contains(">manual<"), "{html}");
    // The overview lists the message.
    let (_, _, html) = c.get("/portal/webhooks").await;
    assert!(html.contains(&format!("data-message=\"{msg}\"")), "{html}");

    // Rotate: the new secret shows once and is the API's.
    let r = c
        .http
        .post(s.url(&format!("/portal/webhooks/{id}/rotate")))
        .header(COOKIE, c.cookie_header())
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("rotate");
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("body");
    let (_, secret) = api_json(&s, &jwt, &format!("/api/v1/webhooks/endpoints/{id}/secret")).await;
    let fresh = secret["key"].as_str().expect("key");
    assert_ne!(fresh, key);
    assert!(html.contains(fresh) && html.contains("New secret"));

    // Edit: no event types chosen means every event; a user filter.
    let (_, user) = {
        let r = s
            .http
            .post(s.url("/api/v1/users"))
            .bearer_auth(&jwt)
            .json(&serde_json::json!({"email": "hook@example.com"}))
            .send()
            .await
            .expect("user");
        (r.status(), r.json::<Value>().await.expect("json"))
    };
    let uid = user["id"].as_str().expect("id");
    let (status, _, _) = c
        .post(
            &format!("/portal/webhooks/{id}/edit"),
            &[("csrf", &csrf), ("url", &hook), ("user_id", uid)],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, ep) = api_json(&s, &jwt, &format!("/api/v1/webhooks/endpoints/{id}")).await;
    assert_eq!(ep["filter_types"], Value::Null);
    assert_eq!(ep["user_id"], uid);
    let other = uuid::Uuid::new_v4().to_string();
    let (_, _, html) = c.get(&format!("/portal/webhooks?user_id={other}")).await;
    assert!(!html.contains(&format!("data-endpoint=\"{id}\"")));

    // Forms without the token are refused; delete removes it.
    let (status, _, _) = c
        .post(&format!("/portal/webhooks/{id}/delete"), &[], None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, loc, _) = c
        .post(
            &format!("/portal/webhooks/{id}/delete"),
            &[("csrf", &csrf)],
            None,
        )
        .await;
    assert_eq!(
        (status, loc.as_str()),
        (StatusCode::SEE_OTHER, "/portal/webhooks")
    );
    let (status, _) = api_json(&s, &jwt, &format!("/api/v1/webhooks/endpoints/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn webhooks_page_manages_endpoints_and_shows_deliveries_embedded() {
    webhooks_page_manages_endpoints_and_shows_deliveries(Storage::Embedded).await;
}

#[tokio::test]
async fn webhooks_page_manages_endpoints_and_shows_deliveries_dynamodb() {
    webhooks_page_manages_endpoints_and_shows_deliveries(Storage::Dynamo).await;
}

#[tokio::test]
async fn webhooks_page_says_when_the_feature_is_off() {
    let s = Server::start_with(Storage::Embedded, &[("OUTGOING_WEBHOOKS_ENABLED", "false")]).await;
    let mut c = Client::new(&s);
    c.login().await;
    let (status, _, html) = c.get("/portal/webhooks").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("OUTGOING_WEBHOOKS_ENABLED=true"), "{html}");
}

async fn settings_tabs_write_what_the_api_reads(storage: Storage) {
    let s = Server::start(storage).await;
    let mut c = Client::new(&s);
    c.login().await;
    let jwt = c.cookies["ow_portal"].clone();

    // Priorities: every row posted at once; the API lists the new numbers.
    let (status, _, html) = c.get("/portal/settings/priorities").await;
    assert_eq!(status, StatusCode::OK);
    let csrf = csrf_of(&html);
    let (_, before) = api_json(&s, &jwt, "/api/v1/priorities/device-types").await;
    let rows = before["items"].as_array().expect("items").clone();
    assert!(rows.len() >= 2, "{before}");
    let mut form: Vec<(String, String)> = vec![("csrf".into(), csrf.clone())];
    for (i, r) in rows.iter().enumerate() {
        form.push((
            "key".into(),
            r["device_type"].as_str().expect("type").into(),
        ));
        form.push(("priority".into(), (rows.len() - i).to_string()));
    }
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, loc, _) = c
        .post("/portal/settings/priorities/device-types", &pairs, None)
        .await;
    assert_eq!(
        (status, loc.as_str()),
        (StatusCode::SEE_OTHER, "/portal/settings/priorities")
    );
    let (_, after) = api_json(&s, &jwt, "/api/v1/priorities/device-types").await;
    let first = rows[0]["device_type"].as_str().expect("type");
    let got = after["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|r| r["device_type"] == first)
        .expect("row")["priority"]
        .as_i64();
    assert_eq!(got, Some(rows.len() as i64));
    let (_, _, html) = c.get("/portal/settings/priorities").await;
    assert!(html.contains("Priorities saved."), "{html}");
    // A value out of range: the API's detail, nothing changed.
    let (_, _, _) = c
        .post(
            "/portal/settings/priorities/providers",
            &[("csrf", &csrf), ("key", "garmin"), ("priority", "0")],
            None,
        )
        .await;
    let (_, _, html) = c.get("/portal/settings/priorities").await;
    assert!(html.contains("Input should be between 1 and 100"), "{html}");

    // Data lifecycle: saved, shown, empty means off; a run is dispatched.
    let (status, loc, _) = c
        .post(
            "/portal/settings/lifecycle",
            &[
                ("csrf", &csrf),
                ("archive_after_days", ""),
                ("delete_after_days", "400"),
            ],
            None,
        )
        .await;
    assert_eq!(
        (status, loc.as_str()),
        (StatusCode::SEE_OTHER, "/portal/settings/lifecycle")
    );
    let (_, v) = api_json(&s, &jwt, "/api/v1/settings/archival").await;
    assert_eq!(v["settings"]["delete_after_days"], 400);
    assert_eq!(v["settings"]["archive_after_days"], Value::Null);
    let (_, _, html) = c.get("/portal/settings/lifecycle").await;
    assert!(html.contains("value=\"400\""), "{html}");
    assert!(html.contains(v["storage"]["total_pretty"].as_str().expect("pretty")));
    let (_, loc, _) = c
        .post(
            "/portal/settings/lifecycle",
            &[("csrf", &csrf), ("delete_after_days", "99999")],
            None,
        )
        .await;
    let (_, _, html) = c.get(&loc).await;
    assert!(html.contains("less than or equal to 7300"), "{html}");
    let (_, loc, _) = c
        .post("/portal/settings/lifecycle/run", &[("csrf", &csrf)], None)
        .await;
    let (_, _, html) = c.get(&loc).await;
    assert!(html.contains("Retention run dispatched"), "{html}");

    // Team: invite, the link works on the accept page, resend replaces it, revoke ends it.
    let (status, _, _) = c
        .post(
            "/portal/settings/team",
            &[("csrf", &csrf), ("email", "grace@example.com")],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, list) = api_json(&s, &jwt, "/api/v1/invitations").await;
    let inv = list.as_array().expect("list")[0].clone();
    let (id, token) = (
        inv["id"].as_str().expect("id").to_string(),
        inv["token"].as_str().expect("token").to_string(),
    );
    let (_, _, html) = c.get("/portal/settings/team").await;
    assert!(
        html.contains(&format!("/portal/accept-invite?token={token}")),
        "{html}"
    );
    let (status, _, _) = c
        .post(
            &format!("/portal/settings/team/{id}/resend"),
            &[("csrf", &csrf)],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, list) = api_json(&s, &jwt, "/api/v1/invitations").await;
    let fresh = list[0]["token"].as_str().expect("token").to_string();
    assert_ne!(fresh, token);

    // The accept page (no session): the old link is refused, the new one makes the account.
    let mut guest = Client::new(&s);
    let (status, _, page) = guest
        .get(&format!("/portal/accept-invite?token={token}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let gcsrf = csrf_of(&page);
    let r = guest
        .http
        .post(s.url("/portal/accept-invite"))
        .header(COOKIE, guest.cookie_header())
        .form(&[
            ("csrf", gcsrf.as_str()),
            ("token", token.as_str()),
            ("first_name", "Grace"),
            ("last_name", "Hopper"),
            ("password", "a-long-enough-password"),
        ])
        .send()
        .await
        .expect("accept");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("Invitation not found")
    );
    let (status, _, _) = guest
        .post(
            "/portal/accept-invite",
            &[("token", fresh.as_str()), ("first_name", "Grace")],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no form token");
    let (_, _, page) = guest
        .get(&format!("/portal/accept-invite?token={fresh}"))
        .await;
    let gcsrf = csrf_of(&page);
    let (status, loc, _) = guest
        .post(
            "/portal/accept-invite",
            &[
                ("csrf", gcsrf.as_str()),
                ("token", fresh.as_str()),
                ("first_name", "Grace"),
                ("last_name", "Hopper"),
                ("password", "a-long-enough-password"),
            ],
            None,
        )
        .await;
    assert_eq!(
        (status, loc.as_str()),
        (StatusCode::SEE_OTHER, "/portal/login")
    );
    let r = s
        .http
        .post(s.url("/api/v1/auth/login"))
        .form(&[
            ("username", "grace@example.com"),
            ("password", "a-long-enough-password"),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the invited developer can log in"
    );

    // Revoke (a second invitation).
    c.post(
        "/portal/settings/team",
        &[("csrf", &csrf), ("email", "alan@example.com")],
        None,
    )
    .await;
    let (_, list) = api_json(&s, &jwt, "/api/v1/invitations").await;
    let alan = list
        .as_array()
        .expect("list")
        .iter()
        .find(|i| i["email"] == "alan@example.com")
        .expect("alan")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (status, _, _) = c
        .post(
            &format!("/portal/settings/team/{alan}/revoke"),
            &[("csrf", &csrf)],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, list) = api_json(&s, &jwt, "/api/v1/invitations").await;
    assert!(
        list.as_array()
            .expect("list")
            .iter()
            .all(|i| i["email"] != "alan@example.com")
    );
}

#[tokio::test]
async fn settings_tabs_write_what_the_api_reads_embedded() {
    settings_tabs_write_what_the_api_reads(Storage::Embedded).await;
}

#[tokio::test]
async fn settings_tabs_write_what_the_api_reads_dynamodb() {
    settings_tabs_write_what_the_api_reads(Storage::Dynamo).await;
}

#[tokio::test]
async fn dashboard_coverage_and_the_sync_stream_show_the_apis_numbers() {
    let s = Server::start(Storage::Embedded).await;
    let mut c = Client::new(&s);
    c.login().await;
    let jwt = c.cookies["ow_portal"].clone();
    let r = s
        .http
        .post(s.url("/api/v1/users"))
        .bearer_auth(&jwt)
        .json(&serde_json::json!({"email": "cov@example.com"}))
        .send()
        .await
        .expect("user");
    let user: Value = r.json().await.expect("json");
    let uid = user["id"].as_str().expect("id").to_string();

    // Dashboard: the dashboard-stats counters.
    let (_, stats) = api_json(&s, &jwt, "/api/v1/dashboard/stats").await;
    let (_, _, html) = c.get("/portal").await;
    for (id, ptr) in [
        ("stat-users", "/total_users/count"),
        ("stat-connections", "/active_conn/count"),
        ("stat-points", "/data_points/count"),
        ("stat-events", "/event_records/count"),
    ] {
        let want = stats.pointer(ptr).and_then(Value::as_u64).expect(ptr);
        assert!(
            html.contains(&format!("id=\"{id}\">{want}<")),
            "{id} = {want}: {html}"
        );
    }
    assert!(html.contains("id=\"stat-users\">1<"));

    // Coverage: every provider and category of the matrix is on the page; the user's counts.
    let (_, cov) = api_json(&s, &jwt, "/api/v1/meta/coverage").await;
    let (status, _, html) = c.get(&format!("/portal/coverage?user_id={uid}")).await;
    assert_eq!(status, StatusCode::OK);
    for cat in cov["timeseries"].as_array().expect("categories") {
        let name = cat["name"].as_str().expect("name").replace('&', "&amp;");
        assert!(html.contains(&name), "{name}");
        for m in cat["metrics"].as_array().expect("metrics") {
            assert!(html.contains(&format!(
                "data-code=\"{}\"",
                m["code"].as_str().expect("code")
            )));
        }
    }
    let marks = html.matches("<td class=\"yes\"").count();
    let want: usize = cov["timeseries"]
        .as_array()
        .expect("categories")
        .iter()
        .flat_map(|c| c["metrics"].as_array().expect("metrics").iter())
        .chain(
            [
                "workout_fields",
                "sleep_fields",
                "menstrual_cycle_fields",
                "health_scores",
            ]
            .iter()
            .flat_map(|k| cov[*k].as_array().expect("fields").iter()),
        )
        .map(|f| f["providers"].as_array().expect("providers").len())
        .sum();
    assert_eq!(marks, want, "one mark per provider and field");
    assert!(html.contains("id=\"cov-points\">0<"), "{html}");

    // The sync stream under the session: the API's event stream, passed on.
    let r = c
        .http
        .get(s.url(&format!("/portal/users/{uid}/sync/stream")))
        .header(COOKIE, c.cookie_header())
        .send()
        .await
        .expect("stream");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .starts_with("text/event-stream")
    );
    let mut r = r;
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), r.chunk())
        .await
        .expect("a first chunk in time")
        .expect("chunk")
        .expect("bytes");
    assert!(String::from_utf8_lossy(&first).contains(": connected"));
    drop(r);
    // Without a session: to the login; an unknown user: the API's 404.
    let (status, loc, _) = Client::new(&s)
        .get(&format!("/portal/users/{uid}/sync/stream"))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(loc.starts_with("/portal/login"));
    let (status, _, body) = c
        .get(&format!(
            "/portal/users/{}/sync/stream",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("User not found"), "{body}");
}

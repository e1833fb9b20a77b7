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
    let (status, _, html) = c.get("/portal/webhooks").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("issue #12"));
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

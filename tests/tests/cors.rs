//! CORS over real HTTP, as a browser on a second origin speaks to the API: the preflight of a
//! bearer-authenticated `GET /users`, the actual request's headers, an origin that is not
//! allowed, and the default policy (the local portal's own origin only).

use ow_e2e::{ADMIN_EMAIL, ADMIN_PASSWORD, Server, Storage};
use reqwest::StatusCode;
use reqwest::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use serde_json::Value;

const PORTAL: &str = "http://127.0.0.1:5173";

fn header<'a>(r: &'a reqwest::Response, name: &reqwest::header::HeaderName) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn preflight(s: &Server, path: &str, origin: &str) -> reqwest::Response {
    s.http
        .request(reqwest::Method::OPTIONS, s.url(path))
        .header(ORIGIN, origin)
        .header(ACCESS_CONTROL_REQUEST_METHOD, "GET")
        .header(ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
        .send()
        .await
        .expect("preflight")
}

#[tokio::test]
async fn a_listed_origin_gets_preflights_and_its_origin_echoed() {
    let s = Server::start_with(
        Storage::Embedded,
        &[("CORS_ORIGINS", &format!("{PORTAL}/,https://other.example"))],
    )
    .await;

    for path in ["/api/v1/users", "/api/v1/no/such/route"] {
        let pre = preflight(&s, path, PORTAL).await;
        assert_eq!(pre.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&pre, &ACCESS_CONTROL_ALLOW_ORIGIN), Some(PORTAL));
        assert_eq!(
            header(&pre, &ACCESS_CONTROL_ALLOW_CREDENTIALS),
            Some("true")
        );
        assert_eq!(
            header(&pre, &ACCESS_CONTROL_ALLOW_HEADERS),
            Some("authorization")
        );
        assert!(
            header(&pre, &ACCESS_CONTROL_ALLOW_METHODS).is_some_and(|m| m.contains("PATCH")),
            "{:?}",
            pre.headers()
        );
        assert_eq!(header(&pre, &ACCESS_CONTROL_MAX_AGE), Some("600"));
        assert_eq!(header(&pre, &VARY), Some("Origin"));
    }

    let login = s
        .http
        .post(s.url("/api/v1/auth/login"))
        .header(ORIGIN, PORTAL)
        .form(&[("username", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), StatusCode::OK);
    assert_eq!(header(&login, &ACCESS_CONTROL_ALLOW_ORIGIN), Some(PORTAL));
    let jwt = login.json::<Value>().await.expect("json")["access_token"]
        .as_str()
        .expect("jwt")
        .to_string();

    let users = s
        .http
        .get(s.url("/api/v1/users"))
        .header(ORIGIN, PORTAL)
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("users");
    assert_eq!(users.status(), StatusCode::OK);
    assert_eq!(header(&users, &ACCESS_CONTROL_ALLOW_ORIGIN), Some(PORTAL));
    assert_eq!(
        header(&users, &ACCESS_CONTROL_ALLOW_CREDENTIALS),
        Some("true")
    );
    assert_eq!(header(&users, &VARY), Some("Origin"));

    // Errors carry the headers too, so the browser lets the page read the `detail`.
    let denied = s
        .http
        .get(s.url("/api/v1/users"))
        .header(ORIGIN, PORTAL)
        .send()
        .await
        .expect("users");
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&denied, &ACCESS_CONTROL_ALLOW_ORIGIN), Some(PORTAL));

    // Another origin: the preflight is refused and answers carry no allow-origin.
    let evil = preflight(&s, "/api/v1/users", "http://127.0.0.1:5174").await;
    assert_eq!(evil.status(), StatusCode::BAD_REQUEST);
    assert_eq!(header(&evil, &ACCESS_CONTROL_ALLOW_ORIGIN), None);
    assert_eq!(evil.text().await.expect("text"), "Disallowed CORS origin");
    let evil = s
        .http
        .get(s.url("/api/v1/users"))
        .header(ORIGIN, "http://127.0.0.1:5174")
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("users");
    assert_eq!(header(&evil, &ACCESS_CONTROL_ALLOW_ORIGIN), None);
}

#[tokio::test]
async fn by_default_only_the_local_portal_origin_is_allowed() {
    let s = Server::start(Storage::Embedded).await;
    for own in ["http://localhost:8000", "http://127.0.0.1:8000"] {
        let pre = preflight(&s, "/api/v1/users", own).await;
        assert_eq!(pre.status(), StatusCode::OK, "{own}");
        assert_eq!(header(&pre, &ACCESS_CONTROL_ALLOW_ORIGIN), Some(own));
    }
    let pre = preflight(&s, "/api/v1/users", PORTAL).await;
    assert_eq!(pre.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn allow_all_echoes_any_origin() {
    let s = Server::start_with(Storage::Embedded, &[("CORS_ALLOW_ALL", "true")]).await;
    let pre = preflight(&s, "/api/v1/users", "https://anywhere.example").await;
    assert_eq!(pre.status(), StatusCode::OK);
    assert_eq!(
        header(&pre, &ACCESS_CONTROL_ALLOW_ORIGIN),
        Some("https://anywhere.example")
    );
    let root = s
        .http
        .get(s.url("/"))
        .header(ORIGIN, "https://anywhere.example")
        .send()
        .await
        .expect("root");
    assert_eq!(
        header(&root, &ACCESS_CONTROL_ALLOW_ORIGIN),
        Some("https://anywhere.example")
    );
    assert_eq!(header(&root, &VARY), Some("Origin"));
}

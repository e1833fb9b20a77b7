//! Route tests through `router.oneshot`: the auth matrix of api.md §2.2, validation errors,
//! and the developer, credential and user flows of api.md §6–§9.

mod common;

use axum::http::StatusCode;
use common::{ADMIN_EMAIL, ADMIN_PASSWORD, Auth, TestApp, claims};
use serde_json::json;

const NO_AUTH_K: &str = "Authentication required: provide JWT token or API key";

#[tokio::test]
async fn the_root_answers_and_unknown_paths_are_json_404s() {
    let app = TestApp::new().await;
    let r = app.call("GET", "/", Auth::None, None).await;
    assert_eq!(
        (r.status, r.body.clone()),
        (StatusCode::OK, json!({"message": "Server is running!"}))
    );
    let r = app.call("GET", "/api/v1/nope", Auth::None, None).await;
    assert_eq!((r.status, r.detail()), (StatusCode::NOT_FOUND, "Not Found"));
    let r = app.call("PUT", "/api/v1/users", Auth::None, None).await;
    assert_eq!(
        (r.status, r.detail()),
        (StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
    );
}

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let app = TestApp::new().await;
    let r = app.call("GET", "/openapi.json", Auth::None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["openapi"], "3.1.0");
    for path in [
        "/api/v1/users",
        "/api/v1/users/{user_id}/token",
        "/api/v1/auth/login",
        "/api/v1/token/refresh",
    ] {
        assert!(r.body["paths"].get(path).is_some(), "{path} missing");
    }
    let docs = app.call("GET", "/docs", Auth::None, None).await;
    assert_eq!(docs.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&docs.raw).contains("/openapi.json"));
}

/// `/openapi.json` serves the committed `shared/openapi.json`: it must be the document the
/// handlers' annotations generate. `OW_BLESS_OPENAPI=1 cargo test -p ow-shared --test routes`
/// rewrites the file after a route or schema change.
#[test]
fn the_committed_openapi_document_is_the_generated_one() {
    let generated =
        serde_json::to_string_pretty(&shared::openapi::document()).expect("json") + "\n";
    if std::env::var_os("OW_BLESS_OPENAPI").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
        std::fs::write(path, &generated).expect("write shared/openapi.json");
        return;
    }
    assert!(
        shared::api::root::OPENAPI_JSON == generated,
        "shared/openapi.json differs from the generated document: run \
         `OW_BLESS_OPENAPI=1 cargo test -p ow-shared --test routes` and commit the file"
    );
}

/// Routes served on purpose without an OpenAPI operation: (method, template, a request path).
const UNDOCUMENTED: [(&str, &str, &str); 3] = [
    ("GET", "/openapi.json", "/openapi.json"),
    ("GET", "/docs", "/docs"),
    (
        "GET",
        "/static/provider-icons/{name}",
        "/static/provider-icons/oura.svg",
    ),
];

/// A route template with every `{param}` filled in.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "00000000-0000-0000-0000-000000000000"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether the router's own fallbacks (unknown path, unknown method) answered.
fn is_fallback(r: &common::Resp) -> bool {
    (r.status == StatusCode::NOT_FOUND && r.detail() == "Not Found")
        || r.status == StatusCode::METHOD_NOT_ALLOWED
}

#[tokio::test]
async fn the_openapi_document_and_the_router_describe_the_same_routes() {
    let app = TestApp::new().await;
    let ops = shared::openapi::operations();
    assert!(ops.len() > 80, "{} operations", ops.len());
    let mut paths: Vec<&str> = ops.iter().map(|(_, p)| p.as_str()).collect();
    paths.dedup();
    for path in paths {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let documented = ops.iter().any(|(m, p)| m == method && p == path);
            let r = app.call(method, &concrete(path), Auth::None, None).await;
            if documented {
                assert!(
                    !is_fallback(&r),
                    "{method} {path} is documented but not served: {r:?}"
                );
            } else {
                assert_eq!(
                    r.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is served but not documented"
                );
            }
        }
    }
    for (method, path, example) in UNDOCUMENTED {
        assert!(!ops.iter().any(|(_, p)| p == path), "{path} is documented");
        let r = app.call(method, example, Auth::None, None).await;
        assert!(!is_fallback(&r), "{method} {path} is not served: {r:?}");
    }
}

#[tokio::test]
async fn login_accepts_the_form_and_refuses_everything_else_with_401() {
    let app = TestApp::new().await;
    let ok = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body["token_type"], "bearer");
    assert_eq!(ok.body["expires_in"], 3600);
    assert!(
        ok.body["refresh_token"]
            .as_str()
            .is_some_and(|t| t.starts_with("rt-") && t.len() == 35)
    );
    assert!(
        claims(ok.body["access_token"].as_str().unwrap_or_default())
            .get("scope")
            .is_none()
    );
    for (email, pw) in [
        (ADMIN_EMAIL, "wrong"),
        ("nobody@example.com", ADMIN_PASSWORD),
        ("", ""),
        (ADMIN_EMAIL, ""),
    ] {
        let r = app.login(email, pw).await;
        assert_eq!(
            (r.status, r.detail()),
            (StatusCode::UNAUTHORIZED, "Incorrect email or password")
        );
        assert_eq!(
            r.headers.get("www-authenticate").map(|v| v.as_bytes()),
            Some(&b"Bearer"[..])
        );
    }
    let json_body = json!({"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).to_string();
    let r = app
        .call("POST", "/api/v1/auth/login", Auth::None, Some(&json_body))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn api_key_routes_follow_the_k_matrix() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    let (app_id, secret) = app.application(&token).await;
    let sdk = app.sdk_tokens(&user, &(app_id, secret)).await;
    let sdk = sdk.body["access_token"]
        .as_str()
        .expect("sdk token")
        .to_string();

    assert_eq!(
        app.call("GET", "/api/v1/users", Auth::Key(&key), None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.call("GET", "/api/v1/users", Auth::Bearer(&token), None)
            .await
            .status,
        StatusCode::OK
    );
    let none = app.call("GET", "/api/v1/users", Auth::None, None).await;
    assert_eq!(
        (none.status, none.detail()),
        (StatusCode::UNAUTHORIZED, NO_AUTH_K)
    );
    let bad = app
        .call(
            "GET",
            "/api/v1/users",
            Auth::Key("sk-00000000000000000000000000000000"),
            None,
        )
        .await;
    assert_eq!(
        (bad.status, bad.detail()),
        (StatusCode::UNAUTHORIZED, "Invalid or missing API key")
    );
    let truncated = app
        .call("GET", "/api/v1/users", Auth::Key(&key[..11]), None)
        .await;
    assert_eq!(
        truncated.status,
        StatusCode::UNAUTHORIZED,
        "a key's public id is not a credential"
    );
    let key_as_bearer = app
        .call("GET", "/api/v1/users", Auth::Bearer(&key), None)
        .await;
    assert_eq!(
        (key_as_bearer.status, key_as_bearer.detail()),
        (StatusCode::UNAUTHORIZED, NO_AUTH_K)
    );
    let sdk_on_users = app
        .call("GET", "/api/v1/users", Auth::Bearer(&sdk), None)
        .await;
    assert_eq!(
        (sdk_on_users.status, sdk_on_users.detail()),
        (StatusCode::UNAUTHORIZED, NO_AUTH_K)
    );
    let sdk_on_user = app
        .call(
            "GET",
            &format!("/api/v1/users/{user}"),
            Auth::Bearer(&sdk),
            None,
        )
        .await;
    assert_eq!(sdk_on_user.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn developer_routes_follow_the_d_matrix() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    let sdk = app
        .call(
            "POST",
            &format!("/api/v1/users/{user}/token"),
            Auth::Bearer(&token),
            None,
        )
        .await;
    let sdk = sdk.body["access_token"].as_str().expect("sdk").to_string();

    let me = app
        .call("GET", "/api/v1/auth/me", Auth::Bearer(&token), None)
        .await;
    assert_eq!(
        (me.status, me.body["email"].as_str()),
        (StatusCode::OK, Some(ADMIN_EMAIL))
    );
    for path in [
        "/api/v1/auth/me",
        "/api/v1/developers",
        "/api/v1/applications",
        "/api/v1/developer/api-keys",
    ] {
        let r = app.call("GET", path, Auth::Key(&key), None).await;
        assert_eq!(
            (r.status, r.detail()),
            (StatusCode::UNAUTHORIZED, "Could not validate credentials"),
            "{path}"
        );
        assert!(r.headers.contains_key("www-authenticate"));
        let r = app.call("GET", path, Auth::Bearer(&sdk), None).await;
        assert_eq!(
            (r.status, r.detail()),
            (
                StatusCode::UNAUTHORIZED,
                "SDK tokens cannot access this endpoint"
            )
        );
        let r = app.call("GET", path, Auth::Bearer("not.a.jwt"), None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // PATCH stays developer-only; DELETE also takes an API key (integrators erase users).
    let patch = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{user}"),
            Auth::Key(&key),
            Some("{}"),
        )
        .await;
    assert_eq!(patch.status, StatusCode::UNAUTHORIZED);
    let del = app
        .call(
            "DELETE",
            &format!("/api/v1/users/{user}"),
            Auth::Key(&key),
            None,
        )
        .await;
    assert_eq!(del.status, StatusCode::OK);
    assert_eq!(del.body["id"], user.as_str());
    let gone = app
        .call(
            "GET",
            &format!("/api/v1/users/{user}"),
            Auth::Key(&key),
            None,
        )
        .await;
    assert_eq!(
        (gone.status, gone.detail()),
        (
            StatusCode::NOT_FOUND,
            format!("User with ID: {user} not found.").as_str()
        )
    );
}

#[tokio::test]
async fn access_tokens_expire() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    assert_eq!(
        app.call("GET", "/api/v1/auth/me", Auth::Bearer(&token), None)
            .await
            .status,
        StatusCode::OK
    );
    app.clock.advance(chrono::Duration::minutes(61));
    let r = app
        .call("GET", "/api/v1/auth/me", Auth::Bearer(&token), None)
        .await;
    assert_eq!(
        (r.status, r.detail()),
        (StatusCode::UNAUTHORIZED, "Could not validate credentials")
    );
}

#[tokio::test]
async fn users_validate_their_fields_and_emails_are_not_unique() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let empty = app
        .call("POST", "/api/v1/users", Auth::Key(&key), Some("{}"))
        .await;
    assert_eq!(empty.status, StatusCode::CREATED);
    for field in [
        "first_name",
        "last_name",
        "email",
        "external_user_id",
        "last_synced_at",
    ] {
        assert!(
            empty.body.get(field).is_some_and(|v| v.is_null()),
            "{field}"
        );
    }
    assert_eq!(empty.body["has_active_connection"], false);

    let a = app.user(&key, r#"{"email":"ada@example.com"}"#).await;
    let b = app.user(&key, r#"{"email":"ada@example.com"}"#).await;
    assert_ne!(a, b, "the same e-mail twice gives two users");

    let cases = [
        (
            Some(r#"{"email":"not-an-email"}"#),
            "value is not a valid email address",
        ),
        (
            Some(&*format!(r#"{{"first_name":"{}"}}"#, "x".repeat(101))),
            "String should have at most 100 characters",
        ),
        (Some("{bad json"), "JSON decode error"),
        (Some("[1,2]"), "Input should be a valid dictionary"),
        (Some(r#"{"email": 5}"#), "Input is not valid"),
        (None, "Field required"),
    ];
    for (body, expected) in cases {
        let r = app
            .call("POST", "/api/v1/users", Auth::Key(&key), body)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body:?}");
        assert!(r.detail().starts_with(expected), "{body:?}: {}", r.detail());
    }
    let r = app
        .call("GET", "/api/v1/users/not-a-uuid", Auth::Key(&key), None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.detail().starts_with("Input should be a valid UUID"));
    let r = app
        .call(
            "GET",
            &format!("/api/v1/users/{}", uuid::Uuid::nil()),
            Auth::Key(&key),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.detail()),
        (
            StatusCode::NOT_FOUND,
            "User with ID: 00000000-0000-0000-0000-000000000000 not found."
        )
    );
}

#[tokio::test]
async fn user_lists_page_sort_and_search() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let names = ["Carol", "alice", "Bob", "dave", "Eve"];
    for (i, n) in names.iter().enumerate() {
        app.user(
            &key,
            &json!({"first_name": n, "email": format!("{}@ex{i}.com", n.to_lowercase())})
                .to_string(),
        )
        .await;
        app.clock.advance(chrono::Duration::seconds(1));
    }
    app.user(&key, "{}").await;
    let list = |q: &str| {
        let q = q.to_string();
        let app = &app;
        let key = key.clone();
        async move {
            app.call("GET", &format!("/api/v1/users{q}"), Auth::Key(&key), None)
                .await
        }
    };
    let all = list("").await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(
        (
            all.body["total"].as_u64(),
            all.body["page"].as_u64(),
            all.body["limit"].as_u64()
        ),
        (Some(6), Some(1), Some(20))
    );
    assert!(
        all.body["items"][0]["first_name"].is_null(),
        "newest first by default"
    );

    let page2 = list("?limit=2&page=2&sort_by=created_at&sort_order=asc").await;
    let got: Vec<&str> = page2.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|u| u["first_name"].as_str())
        .collect();
    assert_eq!(got, ["Bob", "dave"]);
    assert_eq!(
        (
            page2.body["pages"].as_u64(),
            page2.body["has_next"].as_bool(),
            page2.body["has_prev"].as_bool()
        ),
        (Some(3), Some(true), Some(true))
    );

    let by_name = list("?sort_by=first_name&sort_order=asc&limit=3").await;
    let got: Vec<&str> = by_name.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|u| u["first_name"].as_str())
        .collect();
    assert_eq!(
        got,
        ["Bob", "Carol", "Eve"],
        "byte order like PostgreSQL's C collation"
    );

    let search = list("?search=AL").await;
    assert_eq!(search.body["total"], 1);
    assert_eq!(search.body["items"][0]["first_name"], "alice");
    let by_email = list("?email=eve@ex4.com").await;
    assert_eq!(by_email.body["total"], 1);

    for q in [
        "?limit=0",
        "?limit=101",
        "?page=0",
        "?limit=abc",
        "?sort_by=height",
        "?sort_order=up",
        "?email=nope",
    ] {
        assert_eq!(list(q).await.status, StatusCode::BAD_REQUEST, "{q}");
    }
}

#[tokio::test]
async fn user_updates_ignore_nulls_and_keep_external_ids_unique() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let u = app
        .user(
            &key,
            r#"{"first_name":"Ada","last_name":"L","external_user_id":"ext-1"}"#,
        )
        .await;
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{u}"),
            Auth::Bearer(&token),
            Some(r#"{"first_name":null,"last_name":"Lovelace"}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        (r.body["first_name"].as_str(), r.body["last_name"].as_str()),
        (Some("Ada"), Some("Lovelace"))
    );
    // A duplicate external_user_id on create returns the holder (reference behaviour) ...
    let again = app
        .call(
            "POST",
            "/api/v1/users",
            Auth::Key(&key),
            Some(r#"{"external_user_id":"ext-1"}"#),
        )
        .await;
    assert_eq!(
        (again.status, again.body["id"].as_str()),
        (StatusCode::CREATED, Some(u.as_str()))
    );
    // ... and on update is a 409, not a 500.
    let other = app.user(&key, "{}").await;
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{other}"),
            Auth::Bearer(&token),
            Some(r#"{"external_user_id":"ext-1"}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn api_keys_are_listed_in_full_and_addressed_by_key_or_public_id() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let created = app
        .call(
            "POST",
            "/api/v1/developer/api-keys",
            Auth::Bearer(&token),
            None,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.body["name"], "Default");
    let full = created.body["id"].as_str().expect("key").to_string();
    assert!(full.starts_with("sk-") && full.len() == 35);
    let named = app
        .call(
            "POST",
            "/api/v1/developer/api-keys",
            Auth::Bearer(&token),
            Some(r#"{"name":""}"#),
        )
        .await;
    assert_eq!(named.body["name"], "");

    let list = app
        .call(
            "GET",
            "/api/v1/developer/api-keys",
            Auth::Bearer(&token),
            None,
        )
        .await;
    let ids: Vec<&str> = list
        .body
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|k| k["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&full.as_str()), "lists show the key itself");
    assert!(
        ids.iter().all(|id| id.len() == 35),
        "every listed id is a full key: {ids:?}"
    );

    let public = &full[..11];
    let renamed = app
        .call(
            "PATCH",
            &format!("/api/v1/developer/api-keys/{public}"),
            Auth::Bearer(&token),
            Some(r#"{"name":"backend"}"#),
        )
        .await;
    assert_eq!(
        (renamed.status, renamed.body["name"].as_str()),
        (StatusCode::OK, Some("backend"))
    );

    let rotated = app
        .call(
            "POST",
            &format!("/api/v1/developer/api-keys/{full}/rotate"),
            Auth::Bearer(&token),
            None,
        )
        .await;
    assert_eq!(
        (rotated.status, rotated.body["name"].as_str()),
        (StatusCode::CREATED, Some("Default"))
    );
    let new_key = rotated.body["id"].as_str().expect("new key");
    assert_eq!(
        app.call("GET", "/api/v1/users", Auth::Key(&full), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.call("GET", "/api/v1/users", Auth::Key(new_key), None)
            .await
            .status,
        StatusCode::OK
    );

    let del = app
        .call(
            "DELETE",
            &format!("/api/v1/developer/api-keys/{}", &new_key[..11]),
            Auth::Bearer(&token),
            None,
        )
        .await;
    assert_eq!(del.status, StatusCode::OK);
    assert_eq!(
        app.call("GET", "/api/v1/users", Auth::Key(new_key), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let missing = app
        .call(
            "DELETE",
            "/api/v1/developer/api-keys/sk-deadbeef",
            Auth::Bearer(&token),
            None,
        )
        .await;
    assert_eq!(
        (missing.status, missing.detail()),
        (
            StatusCode::NOT_FOUND,
            "Apikey with ID: sk-deadbeef not found."
        )
    );
}

#[tokio::test]
async fn token_exchange_needs_credentials_and_an_existing_user() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    let creds = app.application(&token).await;
    let path = format!("/api/v1/users/{user}/token");

    let ok = app.sdk_tokens(&user, &creds).await;
    assert_eq!(ok.status, StatusCode::OK);
    let c = claims(ok.body["access_token"].as_str().expect("token"));
    assert_eq!(
        (c["sub"].as_str(), c["scope"].as_str(), c["app_id"].as_str()),
        (Some(user.as_str()), Some("sdk"), Some(creds.0.as_str()))
    );

    for body in [
        None,
        Some("{}"),
        Some(&*json!({"app_id": creds.0}).to_string()),
    ] {
        let r = app.call("POST", &path, Auth::None, body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body:?}");
        assert!(r.detail().starts_with("Either app credentials"));
    }
    let wrong = json!({"app_id": creds.0, "app_secret": "secret_nope"}).to_string();
    let r = app.call("POST", &path, Auth::None, Some(&wrong)).await;
    assert_eq!(
        (r.status, r.detail()),
        (StatusCode::UNAUTHORIZED, "Invalid app credentials")
    );
    let admin = app
        .call("POST", &path, Auth::Bearer(&token), Some("{}"))
        .await;
    let dev_id = app
        .call("GET", "/api/v1/auth/me", Auth::Bearer(&token), None)
        .await
        .body["id"]
        .clone();
    assert_eq!(
        claims(admin.body["access_token"].as_str().expect("t"))["app_id"],
        format!("admin:{}", dev_id.as_str().unwrap_or_default())
    );
    let ghost = format!("/api/v1/users/{}/token", uuid::Uuid::new_v4());
    assert_eq!(
        app.call("POST", &ghost, Auth::Bearer(&token), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.call(
            "POST",
            "/api/v1/users/xyz/token",
            Auth::Bearer(&token),
            None
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn rotating_an_application_secret_really_rotates_it() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    let (app_id, old) = app.application(&token).await;
    let r = app
        .call(
            "POST",
            &format!("/api/v1/applications/{app_id}/rotate-secret"),
            Auth::Bearer(&token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let new = r.body["app_secret"].as_str().expect("secret").to_string();
    assert!(new.starts_with("secret_") && new.len() == 71 && new != old);
    assert_eq!(
        app.sdk_tokens(&user, &(app_id.clone(), old)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.sdk_tokens(&user, &(app_id.clone(), new)).await.status,
        StatusCode::OK
    );

    let list = app
        .call("GET", "/api/v1/applications", Auth::Bearer(&token), None)
        .await;
    assert_eq!(list.body.as_array().map(Vec::len), Some(1));
    assert!(list.body[0].get("app_secret").is_none());
    let del = app
        .call(
            "DELETE",
            &format!("/api/v1/applications/{app_id}"),
            Auth::Bearer(&token),
            None,
        )
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let again = app
        .call(
            "DELETE",
            &format!("/api/v1/applications/{app_id}"),
            Auth::Bearer(&token),
            None,
        )
        .await;
    assert_eq!(
        (again.status, again.detail()),
        (StatusCode::NOT_FOUND, "Application not found")
    );
}

#[tokio::test]
async fn refresh_tokens_rotate_and_revoke_once() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    let creds = app.application(&token).await;
    let first = app.sdk_tokens(&user, &creds).await;
    let rt1 = first.body["refresh_token"]
        .as_str()
        .expect("rt")
        .to_string();
    let body = |t: &str| json!({"refresh_token": t}).to_string();

    let r = app
        .call(
            "POST",
            "/api/v1/token/refresh",
            Auth::None,
            Some(&body(&rt1)),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let rt2 = r.body["refresh_token"].as_str().expect("rt2").to_string();
    assert_ne!(rt1, rt2);
    let c = claims(r.body["access_token"].as_str().expect("t"));
    assert_eq!(
        (c["sub"].as_str(), c["scope"].as_str(), c["app_id"].as_str()),
        (Some(user.as_str()), Some("sdk"), Some(creds.0.as_str()))
    );

    let reused = app
        .call(
            "POST",
            "/api/v1/token/refresh",
            Auth::None,
            Some(&body(&rt1)),
        )
        .await;
    assert_eq!(
        (reused.status, reused.detail()),
        (StatusCode::UNAUTHORIZED, "Invalid or revoked refresh token")
    );
    assert_eq!(
        app.call(
            "POST",
            "/api/v1/token/revoke",
            Auth::None,
            Some(&body(&rt2))
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    let twice = app
        .call(
            "POST",
            "/api/v1/token/revoke",
            Auth::None,
            Some(&body(&rt2)),
        )
        .await;
    assert_eq!(
        (twice.status, twice.detail()),
        (StatusCode::NOT_FOUND, "Refresh token not found")
    );
    let missing = app
        .call("POST", "/api/v1/token/refresh", Auth::None, Some("{}"))
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);

    // Developer refresh tokens give developer tokens (no scope).
    let login = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let drt = login.body["refresh_token"].as_str().expect("rt");
    let r = app
        .call(
            "POST",
            "/api/v1/token/refresh",
            Auth::None,
            Some(&body(drt)),
        )
        .await;
    assert!(
        claims(r.body["access_token"].as_str().expect("t"))
            .get("scope")
            .is_none()
    );

    // Deleting a user kills their refresh tokens.
    let rt3 = app.sdk_tokens(&user, &creds).await.body["refresh_token"]
        .as_str()
        .expect("rt")
        .to_string();
    app.call(
        "DELETE",
        &format!("/api/v1/users/{user}"),
        Auth::Bearer(&token),
        None,
    )
    .await;
    assert_eq!(
        app.call(
            "POST",
            "/api/v1/token/refresh",
            Auth::None,
            Some(&body(&rt3))
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn invitation_codes_are_single_use_and_replace_each_other() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    let path = format!("/api/v1/users/{user}/invitation-code");
    let first = app.call("POST", &path, Auth::Bearer(&token), None).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let code1 = first.body["code"].as_str().expect("code").to_string();
    assert!(
        code1.len() == 8
            && code1
                .bytes()
                .all(|c| b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789".contains(&c))
    );
    let code2 = app
        .call("POST", &path, Auth::Bearer(&token), None)
        .await
        .body["code"]
        .as_str()
        .expect("code")
        .to_string();
    let redeem = |c: &str| json!({"code": c}).to_string();

    let old = app
        .call(
            "POST",
            "/api/v1/invitation-code/redeem",
            Auth::None,
            Some(&redeem(&code1)),
        )
        .await;
    assert_eq!(
        (old.status, old.detail()),
        (StatusCode::NOT_FOUND, "Invalid or expired invitation code")
    );
    let ok = app
        .call(
            "POST",
            "/api/v1/invitation-code/redeem",
            Auth::None,
            Some(&redeem(&code2)),
        )
        .await;
    assert_eq!(
        (ok.status, ok.body["user_id"].as_str()),
        (StatusCode::OK, Some(user.as_str()))
    );
    let dev_id = app
        .call("GET", "/api/v1/auth/me", Auth::Bearer(&token), None)
        .await
        .body["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        claims(ok.body["access_token"].as_str().expect("t"))["app_id"],
        format!("invite:{dev_id}")
    );
    let twice = app
        .call(
            "POST",
            "/api/v1/invitation-code/redeem",
            Auth::None,
            Some(&redeem(&code2)),
        )
        .await;
    assert_eq!(twice.status, StatusCode::NOT_FOUND);
    for bad in ["abcdefgh", "ABC", "ABCDEFG0"] {
        let r = app
            .call(
                "POST",
                "/api/v1/invitation-code/redeem",
                Auth::None,
                Some(&redeem(bad)),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    // Expiry.
    let code3 = app
        .call("POST", &path, Auth::Bearer(&token), None)
        .await
        .body["code"]
        .as_str()
        .expect("code")
        .to_string();
    app.clock.advance(chrono::Duration::days(8));
    let late = app
        .call(
            "POST",
            "/api/v1/invitation-code/redeem",
            Auth::None,
            Some(&redeem(&code3)),
        )
        .await;
    assert_eq!(late.status, StatusCode::NOT_FOUND);
    let ghost = format!("/api/v1/users/{}/invitation-code", uuid::Uuid::new_v4());
    let token = app.admin_token().await;
    assert_eq!(
        app.call("POST", &ghost, Auth::Bearer(&token), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn developers_can_change_their_password_and_profile() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let cp = |cur: &str, new: &str, confirm: &str| {
        json!({"current_password": cur, "new_password": new, "confirm_password": confirm})
            .to_string()
    };
    let r = app
        .call(
            "POST",
            "/api/v1/auth/change-password",
            Auth::Bearer(&token),
            Some(&cp("wrong-pass", "new-password", "new-password")),
        )
        .await;
    assert_eq!(
        (r.status, r.detail()),
        (StatusCode::BAD_REQUEST, "Incorrect current password")
    );
    let r = app
        .call(
            "POST",
            "/api/v1/auth/change-password",
            Auth::Bearer(&token),
            Some(&cp(ADMIN_PASSWORD, "short", "short")),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .call(
            "POST",
            "/api/v1/auth/change-password",
            Auth::Bearer(&token),
            Some(&cp(ADMIN_PASSWORD, "new-password", "other-password")),
        )
        .await;
    assert!(
        r.detail()
            .starts_with("Value error, The confirmation password does not match")
    );
    let r = app
        .call(
            "POST",
            "/api/v1/auth/change-password",
            Auth::Bearer(&token),
            Some(&cp(ADMIN_PASSWORD, "new-password", "new-password")),
        )
        .await;
    assert_eq!(
        (r.status, r.body["message"].as_str()),
        (StatusCode::OK, Some("Password updated successfully"))
    );
    assert_eq!(
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(ADMIN_EMAIL, "new-password").await.status,
        StatusCode::OK
    );

    let r = app
        .call(
            "PATCH",
            "/api/v1/auth/me",
            Auth::Bearer(&token),
            Some(r#"{"first_name":"Grace","email":"grace@example.com"}"#),
        )
        .await;
    assert_eq!(
        (r.status, r.body["first_name"].as_str()),
        (StatusCode::OK, Some("Grace"))
    );
    assert_eq!(
        app.login("grace@example.com", "new-password").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.login(ADMIN_EMAIL, "new-password").await.status,
        StatusCode::UNAUTHORIZED
    );
    let devs = app
        .call("GET", "/api/v1/developers", Auth::Bearer(&token), None)
        .await;
    assert_eq!(devs.body.as_array().map(Vec::len), Some(1));
    let id = devs.body[0]["id"].as_str().expect("id").to_string();
    assert_eq!(
        app.call(
            "GET",
            &format!("/api/v1/developers/{id}"),
            Auth::Bearer(&token),
            None
        )
        .await
        .status,
        StatusCode::OK
    );
    let missing = app
        .call(
            "GET",
            &format!("/api/v1/developers/{}", uuid::Uuid::nil()),
            Auth::Bearer(&token),
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.call("POST", "/api/v1/auth/logout", Auth::Bearer(&token), None)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_developer_who_owns_applications_cannot_be_deleted_silently() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let me = app
        .call("GET", "/api/v1/auth/me", Auth::Bearer(&token), None)
        .await
        .body["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (app_id, _) = app.application(&token).await;
    let r = app
        .call(
            "DELETE",
            &format!("/api/v1/developers/{me}"),
            Auth::Bearer(&token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    app.call(
        "DELETE",
        &format!("/api/v1/applications/{app_id}"),
        Auth::Bearer(&token),
        None,
    )
    .await;
    let r = app
        .call(
            "DELETE",
            &format!("/api/v1/developers/{me}"),
            Auth::Bearer(&token),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.body["id"].as_str()),
        (StatusCode::OK, Some(me.as_str()))
    );
    assert_eq!(
        app.call("GET", "/api/v1/auth/me", Auth::Bearer(&token), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn oversized_bodies_get_413_with_advice() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let big = format!(r#"{{"first_name":"{}"}}"#, "x".repeat(6 * 1024 * 1024 + 10));
    let r = app
        .call("POST", "/api/v1/users", Auth::Key(&key), Some(&big))
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.detail().contains("Split the batch"), "{}", r.detail());
}

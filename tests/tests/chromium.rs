//! A real browser against the local server, from a second origin: Debian's headless Chromium
//! loads a page from a small page server on another port, whose script logs in (form POST, as
//! the reference portal does), lists users with the bearer token (a preflighted request),
//! creates an API key, lists the keys and uses the listed key; it posts what it saw back to
//! the page server. The same page loaded from an origin that is not allowed sees its first
//! fetch fail.
//!
//! Needs `chromium` on the PATH (or `OW_CHROMIUM=<binary>`). Without it the test is skipped
//! with a loud message, unless `OW_REQUIRE_CHROMIUM` is set (`infra/test.sh` sets it and
//! installs the browser), when it fails.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::response::Html;
use axum::routing::{get, post};
use ow_e2e::{ADMIN_EMAIL, ADMIN_PASSWORD, Server, Storage};
use serde_json::Value;
use tokio::sync::mpsc;

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("OW_CHROMIUM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| {
            ["chromium", "chromium-browser", "google-chrome"]
                .into_iter()
                .map(move |name| dir.join(name))
        })
        .find(|p| p.is_file())
}

/// The browser process, killed when the test is done with it.
struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn open(bin: &PathBuf, url: &str) -> Self {
        let profile = tempfile::tempdir().expect("profile dir");
        let child = Command::new(bin)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-extensions",
                "--disable-background-networking",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        Self {
            child,
            _profile: profile,
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The page: every step records a status (or the error a failed fetch throws), then the
/// results go back to the page's own origin.
fn page(api: &str) -> String {
    format!(
        r#"<!doctype html><html><body><pre id="out">running</pre><script>
const API = {api:?};
const out = {{}};
async function run() {{
  const login = await fetch(API + "/api/v1/auth/login", {{
    method: "POST",
    credentials: "include",
    headers: {{ "content-type": "application/x-www-form-urlencoded" }},
    body: new URLSearchParams({{ username: {email:?}, password: {password:?} }}),
  }});
  out.login = login.status;
  const token = (await login.json()).access_token;
  out.has_token = typeof token === "string" && token.length > 0;
  const bearer = {{ authorization: "Bearer " + token }};
  const users = await fetch(API + "/api/v1/users", {{ credentials: "include", headers: bearer }});
  out.users = users.status;
  const created = await fetch(API + "/api/v1/developer/api-keys", {{
    method: "POST",
    credentials: "include",
    headers: {{ ...bearer, "content-type": "application/json" }},
    body: JSON.stringify({{ name: "browser" }}),
  }});
  out.create = created.status;
  out.created_id = (await created.json()).id;
  const list = await fetch(API + "/api/v1/developer/api-keys", {{ credentials: "include", headers: bearer }});
  out.list = list.status;
  const listed = (await list.json()).find((k) => k.name === "browser");
  out.listed_id = listed && listed.id;
  const withKey = await fetch(API + "/api/v1/users", {{
    credentials: "include",
    headers: {{ "X-Open-Wearables-API-Key": out.listed_id }},
  }});
  out.users_with_listed_key = withKey.status;
}}
run()
  .catch((e) => {{ out.error = String(e); }})
  .finally(() => {{
    document.getElementById("out").textContent = JSON.stringify(out);
    return fetch("/result", {{ method: "POST", body: JSON.stringify(out) }});
  }});
</script></body></html>"#,
        email = ADMIN_EMAIL,
        password = ADMIN_PASSWORD,
    )
}

/// Serves the page and receives the results on `listener`.
fn serve_page(listener: tokio::net::TcpListener, html: String, results: mpsc::Sender<Value>) {
    let app = axum::Router::new()
        .route("/page", get(move || async move { Html(html) }))
        .route(
            "/result",
            post(move |body: bytes::Bytes| async move {
                let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let _ = results.send(v).await;
                "ok"
            }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
}

async fn visit(bin: &PathBuf, url: &str, results: &mut mpsc::Receiver<Value>) -> Value {
    let _browser = Browser::open(bin, url);
    tokio::time::timeout(Duration::from_secs(20), results.recv())
        .await
        .unwrap_or_else(|_| panic!("no result from the page at {url} within 20 s"))
        .expect("result channel open")
}

#[tokio::test]
async fn the_portal_flow_works_in_chromium_from_another_origin() {
    let Some(bin) = chromium() else {
        if std::env::var_os("OW_REQUIRE_CHROMIUM").is_some() {
            panic!("OW_REQUIRE_CHROMIUM is set but no chromium was found on the PATH");
        }
        eprintln!(
            "\n!!!!!!!! SKIPPED the Chromium test: no chromium on the PATH \
             (apt-get install -y --no-install-recommends chromium, or set OW_CHROMIUM) !!!!!!!!\n"
        );
        return;
    };
    let pages = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = pages.local_addr().expect("addr").port();
    let allowed = format!("http://127.0.0.1:{port}");
    let s = Server::start_with(Storage::Embedded, &[("CORS_ORIGINS", &allowed)]).await;
    let (tx, mut rx) = mpsc::channel(4);
    serve_page(pages, page(&s.base), tx);

    let seen = visit(&bin, &format!("{allowed}/page"), &mut rx).await;
    assert_eq!(seen.get("error"), None, "{seen}");
    assert_eq!(seen["login"], 200, "{seen}");
    assert_eq!(seen["has_token"], true, "{seen}");
    assert_eq!(seen["users"], 200, "preflighted GET /users: {seen}");
    assert_eq!(seen["create"], 201, "{seen}");
    assert_eq!(seen["list"], 200, "{seen}");
    let created = seen["created_id"].as_str().expect("created key");
    assert!(created.starts_with("sk-") && created.len() == 35, "{seen}");
    assert_eq!(seen["listed_id"], created, "the list shows the key: {seen}");
    assert_eq!(seen["users_with_listed_key"], 200, "{seen}");

    // The same page on an origin that is not allowed (another host name, same port): the
    // browser refuses to hand the login answer to the script.
    let blocked = visit(&bin, &format!("http://localhost:{port}/page"), &mut rx).await;
    assert_eq!(blocked.get("login"), None, "{blocked}");
    assert!(
        blocked["error"]
            .as_str()
            .is_some_and(|e| e.contains("TypeError")),
        "a blocked fetch throws a TypeError: {blocked}"
    );
}

//! The local server's connection handling (issue #9 item 3 and the panic net of item 5), over
//! real TCP: header-read timeout, connection cap, in-flight cap, request timeout, streams,
//! panics. Every wait is bounded by `BOUND` so a regression fails instead of hanging; no
//! assertion is about how long anything took.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::header;
use axum::response::Response;
use axum::routing::get;
use shared::limits::Limits;
use shared::server::{ConnStats, serve_router};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BOUND: Duration = Duration::from_secs(30);

struct Running {
    addr: std::net::SocketAddr,
    stats: Arc<ConnStats>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(router: Router, limits: Limits) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stats = Arc::new(ConnStats::default());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let s = stats.clone();
    tokio::spawn(async move {
        serve_router(listener, router, &limits, s, async {
            let _ = rx.await;
        })
        .await
    });
    Running {
        addr,
        stats,
        _stop: tx,
    }
}

fn limits() -> Limits {
    Limits {
        header_read_timeout: Duration::from_secs(1),
        ..Limits::default()
    }
}

fn root() -> Router {
    Router::new().route("/", get(|| async { "ok" }))
}

/// Reads until the server closes the connection; what it sent before closing.
async fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(BOUND, s.read_to_end(&mut out))
        .await
        .expect("the server closes the connection")
        .ok();
    out
}

async fn get_status(addr: std::net::SocketAddr, path: &str) -> (u16, String, Option<String>) {
    let r = tokio::time::timeout(BOUND, reqwest::get(format!("http://{addr}{path}")))
        .await
        .expect("answered within the bound")
        .expect("request");
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, r.text().await.expect("body"), retry)
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    tokio::time::timeout(BOUND, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}"));
}

#[tokio::test]
async fn a_partial_request_head_is_closed_after_the_header_timeout() {
    let srv = start(root(), limits()).await;
    let mut s = TcpStream::connect(srv.addr).await.expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .expect("write");
    let sent = read_to_close(&mut s).await;
    assert!(
        !String::from_utf8_lossy(&sent).contains("200 OK"),
        "a partial head is never served"
    );
    until("the server forgets the connection", || {
        srv.stats.active() == 0
    })
    .await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let srv = start(root(), limits()).await;
    let mut s = TcpStream::connect(srv.addr).await.expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let sent = read_to_close(&mut s).await;
    let text = String::from_utf8_lossy(&sent);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.ends_with("ok"), "{text}");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_and_a_normal_request_still_works() {
    let cap = 3;
    let srv = start(
        root(),
        Limits {
            max_connections: cap,
            header_read_timeout: Duration::from_secs(120),
            ..Limits::default()
        },
    )
    .await;
    let mut slow = Vec::new();
    for _ in 0..cap * 2 {
        let mut s = TcpStream::connect(srv.addr).await.expect("connect");
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("write");
        slow.push(s);
    }
    until("the cap is reached", || srv.stats.accepted() >= cap).await;
    let normal = tokio::spawn(get_status(srv.addr, "/"));
    // The held connections go away (as the header timeout would make them); the waiting
    // ones, the normal request among them, are then accepted.
    drop(slow);
    let (status, body, _) = normal.await.expect("task");
    assert_eq!((status, body.as_str()), (200, "ok"));
    assert!(
        srv.stats.high_water() <= cap,
        "at most {cap} connections open at once, saw {}",
        srv.stats.high_water()
    );
}

#[tokio::test]
async fn requests_beyond_the_in_flight_cap_get_503_json_with_retry_after() {
    let (entered_tx, mut entered_rx) = tokio::sync::mpsc::channel::<()>(1);
    let release = Arc::new(tokio::sync::Notify::new());
    let r = release.clone();
    let router = root().route(
        "/hold",
        get(move || {
            let entered = entered_tx.clone();
            let release = r.clone();
            async move {
                let _ = entered.send(()).await;
                release.notified().await;
                "held"
            }
        }),
    );
    let srv = start(
        router,
        Limits {
            max_in_flight: 1,
            ..limits()
        },
    )
    .await;
    let held = tokio::spawn(get_status(srv.addr, "/hold"));
    tokio::time::timeout(BOUND, entered_rx.recv())
        .await
        .expect("the held request runs");
    let (status, body, retry) = get_status(srv.addr, "/").await;
    assert_eq!(status, 503, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["detail"], "Server busy, retry shortly");
    assert_eq!(retry.as_deref(), Some("1"));
    release.notify_one();
    assert_eq!(held.await.expect("task").0, 200);
    assert_eq!(get_status(srv.addr, "/").await.0, 200);
}

#[tokio::test]
async fn a_request_that_outlives_the_timeout_gets_503_but_a_stream_keeps_flowing() {
    let router = root()
        .route("/stuck", get(std::future::pending::<&'static str>))
        .route(
            "/stream",
            get(|| async {
                let second = async {
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                    Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b": heartbeat\n\n"))
                };
                let first = futures_util::stream::iter([Ok::<_, std::io::Error>(
                    axum::body::Bytes::from_static(b"data: 1\n\n"),
                )]);
                let body =
                    futures_util::StreamExt::chain(first, futures_util::stream::once(second));
                Response::builder()
                    .header(header::CONTENT_TYPE, "text/event-stream")
                    .body(Body::from_stream(body))
                    .expect("response")
            }),
        );
    let srv = start(
        router,
        Limits {
            request_timeout: Duration::from_secs(1),
            ..limits()
        },
    )
    .await;
    let (status, body, retry) = get_status(srv.addr, "/stuck").await;
    assert_eq!((status, retry.as_deref()), (503, Some("1")), "{body}");
    assert!(body.contains("Request timed out"), "{body}");
    let (status, body, _) = get_status(srv.addr, "/stream").await;
    assert_eq!(status, 200);
    assert_eq!(body, "data: 1\n\n: heartbeat\n\n");
}

async fn boom() -> &'static str {
    panic!("a handler bug")
}

#[tokio::test]
async fn a_panic_is_a_json_500_and_the_connection_survives() {
    let router = shared::api::panics::catch_panics(root().route("/boom", get(boom)));
    let srv = start(router, limits()).await;
    let mut s = TcpStream::connect(srv.addr).await.expect("connect");
    s.write_all(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let sent = read_to_close(&mut s).await;
    let text = String::from_utf8_lossy(&sent);
    assert!(
        text.starts_with("HTTP/1.1 500 Internal Server Error"),
        "{text}"
    );
    assert!(
        text.contains(r#"{"detail":"Internal Server Error"}"#),
        "{text}"
    );
    assert!(
        text.contains("HTTP/1.1 200 OK"),
        "the next request on the connection is served: {text}"
    );
}

#[tokio::test]
async fn handlers_see_the_tcp_peer_as_the_client_address() {
    let router = root().route(
        "/ip",
        get(|ext: axum::http::Extensions| async move {
            shared::api::client_ip(&ext)
                .map(|i| i.to_string())
                .unwrap_or_default()
        }),
    );
    let srv = start(router, limits()).await;
    assert_eq!(get_status(srv.addr, "/ip").await.1, "127.0.0.1");
}

#[test]
fn the_release_profile_unwinds_so_deployed_functions_keep_the_panic_net() {
    // cargo-lambda (`sam build`) adds `panic = "abort"` unless the workspace's release
    // profile sets `panic` itself; with abort a panic would kill the function instead.
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"))
        .expect("workspace manifest");
    let release = manifest
        .split("[profile.release]")
        .nth(1)
        .and_then(|s| s.split("\n[").next())
        .expect("a [profile.release] section");
    assert!(
        release
            .lines()
            .any(|l| l.replace(' ', "") == "panic=\"unwind\""),
        "[profile.release] must say panic = \"unwind\":{release}"
    );
}

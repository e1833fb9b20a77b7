//! Extreme and malformed dates on every date-taking route, through the router: never a 5xx,
//! never a panic (issue #9 item 5). Out-of-range values are a 400 with a `detail`.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{Auth, TestApp};
use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, TestCaseError, TestRunner};
use serde_json::json;

/// The date-taking routes and the parameters they take (`{u}` is the user id, `{c}` a cursor).
const ROUTES: &[(&str, &[&str])] = &[
    (
        "GET /api/v1/users/{u}/summaries/activity",
        &["start_date", "end_date"],
    ),
    (
        "GET /api/v1/users/{u}/summaries/sleep",
        &["start_date", "end_date"],
    ),
    (
        "GET /api/v1/users/{u}/summaries/recovery",
        &["start_date", "end_date"],
    ),
    (
        "GET /api/v1/users/{u}/summaries/data",
        &["start_date", "end_date"],
    ),
    (
        "GET /api/v1/users/{u}/timeseries",
        &["start_time", "end_time"],
    ),
    (
        "GET /api/v1/users/{u}/events/workouts",
        &["start_date", "end_date"],
    ),
    (
        "GET /api/v1/users/{u}/events/sleep",
        &["start_date", "end_date"],
    ),
    (
        "GET /api/v1/users/{u}/events/menstrual-cycles",
        &["start_date", "end_date"],
    ),
    (
        "GET /api/v1/users/{u}/health-scores",
        &["start_date", "end_date"],
    ),
    (
        "POST /api/v1/providers/oura/users/{u}/sync",
        &["summary_start_time", "summary_end_time"],
    ),
    (
        "POST /api/v1/providers/oura/users/{u}/sync?async=false",
        &["summary_start_time", "summary_end_time"],
    ),
    (
        "GET /api/v1/providers/oura/users/{u}/workouts",
        &["summary_start_time", "summary_end_time"],
    ),
];

/// Hand-picked extremes: chrono's limits, negative years, year 9999/10000, huge offsets and
/// Unix values, malformed text.
const EXTREMES: &[&str] = &[
    "-262143-01-01",
    "+262142-12-31T23:59:59Z",
    "-0001-01-01",
    "0000-01-01",
    "0001-01-01",
    "1899-12-31T23:59:59-23:59",
    "1900-01-01",
    "1900-01-01T00:00:00+23:59",
    "2200-12-31T23:59:59.999999-23:59",
    "2200-12-31",
    "2201-01-01",
    "9999-12-31T23:59:59.999999",
    "10000-01-01",
    "2024-01-01T00:00:00+99:99",
    "2024-02-30",
    "2024-13-01",
    "-9223372036854775808",
    "9223372036854775807",
    "-8334601228800",
    "8210266876800",
    "1e17",
    "-1e300",
    "inf",
    "NaN",
    "",
    " ",
    "2024-01-01T25:00",
    "٢٠٢٤-٠١-٠١",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(EXTREMES).prop_map(str::to_string),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|x| x.to_string()),
        (-300_000i32..300_000, 1u32..=12, 1u32..=28, -1440i32..=1440).prop_map(|(y, m, d, off)| {
            let sign = if off < 0 { '-' } else { '+' };
            let off = off.unsigned_abs();
            format!(
                "{y:04}-{m:02}-{d:02}T12:00:00{sign}{:02}:{:02}",
                off / 60,
                off % 60
            )
        }),
        "[0-9T:+\\-Z .]{0,30}",
    ]
}

fn enc(s: &str) -> String {
    serde_urlencoded::to_string([("v", s)])
        .expect("encodes")
        .trim_start_matches("v=")
        .to_string()
}

/// A cursor of the `<timestamp>|<uuid>` form around an arbitrary timestamp text.
fn cursor(ts: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE
        .encode(format!("{ts}|46f4bc3a-2465-4335-ab17-455e53081d1c"))
}

struct Rig {
    app: TestApp,
    key: String,
    user: String,
}

async fn rig() -> Rig {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    let key = app.api_key(&token).await;
    let user = app.user(&key, "{}").await;
    // Data of every kind, so that the handlers reach their date arithmetic.
    let src = json!({"name": "Watch", "deviceModel": "Watch"});
    let body = json!({"provider": "apple", "sdkVersion": "1.0.0", "syncTimestamp": "2025-03-02T00:00:00Z",
    "data": {
        "records": [
            {"type": "HKQuantityTypeIdentifierStepCount", "unit": "count", "value": 40,
             "startDate": "2025-03-01T08:00:00Z", "endDate": "2025-03-01T08:01:00Z", "source": src},
            {"type": "HKQuantityTypeIdentifierHeartRate", "unit": "count/min", "value": 60,
             "startDate": "2025-03-01T08:00:00Z", "endDate": "2025-03-01T08:00:00Z", "source": src}
        ],
        "workouts": [{"type": "running", "startDate": "2025-03-01T07:00:00Z", "endDate": "2025-03-01T07:30:00Z",
            "source": src, "values": [{"type": "elevationAscended", "unit": "m", "value": 30}]}],
        "sleep": [{"stage": "deep", "startDate": "2025-03-01T00:30:00Z", "endDate": "2025-03-01T01:30:00Z", "source": src}]
    }});
    let r = app
        .call(
            "POST",
            &format!("/api/v1/sdk/users/{user}/sync"),
            Auth::Key(&key),
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    app.state.jobs_idle().await;
    // A connection, so that the sync trigger reads its dates.
    let now = app.state.now();
    let conn = shared::repo::connections::Connection {
        id: uuid::Uuid::new_v4(),
        user_id: user.parse().expect("uuid"),
        provider: shared::domain::provider::Provider::Oura,
        provider_user_id: None,
        provider_username: None,
        scope: None,
        status: shared::domain::states::ConnectionStatus::Active,
        access_token: None,
        refresh_token: None,
        token_expires_at: None,
        last_synced_at: None,
        created_at: now,
        updated_at: now,
        next_poll_at: None,
    };
    app.state
        .db
        .save_connection(&conn)
        .await
        .expect("connection");
    Rig { app, key, user }
}

impl Rig {
    async fn check(&self, route: &str, query: &str) -> Result<(), TestCaseError> {
        let (method, path) = route.split_once(' ').expect("route");
        let path = path.replace("{u}", &self.user);
        let sep = if path.contains('?') { '&' } else { '?' };
        let uri = format!("{path}{sep}{query}");
        let req = Request::builder()
            .method(method)
            .uri(&uri)
            .header("x-open-wearables-api-key", &self.key)
            .body(Body::empty())
            .expect("request");
        let r = self.app.send(req).await;
        prop_assert!(
            !r.status.is_server_error(),
            "{method} {uri} answered {}: {}",
            r.status,
            String::from_utf8_lossy(&r.raw)
        );
        if r.status == StatusCode::BAD_REQUEST {
            prop_assert!(r.body["detail"].is_string(), "{uri}: {:?}", r.body);
        }
        Ok(())
    }
}

#[test]
fn extreme_dates_never_panic_or_answer_5xx() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let rig = rt.block_on(rig());
    // Every hand-picked extreme, on every route, in either position and as a cursor.
    for (route, params) in ROUTES {
        for v in EXTREMES {
            let ok = [(params[0], "2025-03-01"), (params[1], "2025-03-03")];
            for i in 0..2 {
                let mut q: Vec<(String, String)> =
                    ok.iter().map(|(k, v)| (k.to_string(), enc(v))).collect();
                q[i].1 = enc(v);
                let qs: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
                rt.block_on(rig.check(route, &qs.join("&")))
                    .expect("no 5xx");
            }
            let qs = format!(
                "{}=2025-03-01&{}=2025-03-03&cursor={}",
                params[0],
                params[1],
                enc(&cursor(v))
            );
            rt.block_on(rig.check(route, &qs)).expect("no 5xx");
        }
    }
    // Then random pairs.
    let mut runner = TestRunner::new(PtConfig {
        cases: 256,
        failure_persistence: None,
        ..PtConfig::default()
    });
    let strategy = (
        prop::sample::select(ROUTES),
        value(),
        value(),
        prop::option::of(value()),
    );
    runner
        .run(&strategy, |((route, params), a, b, c)| {
            let mut qs = format!("{}={}&{}={}", params[0], enc(&a), params[1], enc(&b));
            if let Some(c) = c {
                qs.push_str(&format!("&cursor={}", enc(&cursor(&c))));
            }
            rt.block_on(rig.check(route, &qs))
        })
        .expect("no 5xx for any date");
}

#[tokio::test]
async fn the_panicking_summary_dates_are_400() {
    let rig = rig().await;
    for route in ["summaries/sleep", "summaries/activity"] {
        let r = rig
            .app
            .call(
                "GET",
                &format!(
                    "/api/v1/users/{}/{route}?start_date=-262143-01-01&end_date=2025-01-01",
                    rig.user
                ),
                Auth::Key(&rig.key),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{route}: {:?}", r.body);
        assert_eq!(
            r.detail(),
            "Invalid datetime: '-262143-01-01' is out of range. Expected a date between 1900-01-01 and 2200-12-31."
        );
    }
}

#[tokio::test]
async fn sync_windows_are_bounded() {
    let rig = rig().await;
    let r = rig
        .app
        .call(
            "POST",
            &format!(
                "/api/v1/providers/oura/users/{}/sync?summary_start_time=1900-01-01&summary_end_time=2200-01-01",
                rig.user
            ),
            Auth::Key(&rig.key),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert!(r.detail().contains("at most 365 days"), "{}", r.detail());
}

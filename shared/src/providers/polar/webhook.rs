//! Polar webhook pushes: the PING handshake, the `Polar-Webhook-Signature` check and the
//! sync window of each notification.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

use super::pull::{date, instant};
use super::{SIGNATURE_HEADER, WEBHOOK_SECRET_SETTING};
use crate::providers::payload::midnight;
use crate::providers::webhook::{
    WebhookError, WebhookEvent, WebhookReply, WebhookRequest, constant_time_eq, hex, hmac_sha256,
};

const EVENTS: [&str; 8] = [
    "EXERCISE",
    "SLEEP",
    "CONTINUOUS_HEART_RATE",
    "ACTIVITY_SUMMARY",
    "SLEEP_WISE_ALERTNESS",
    "SLEEP_WISE_CIRCADIAN_BEDTIME",
    "PHYSICAL_INFORMATION",
    "PING",
];

/// The reference's schema check: `event` required and known, `user_id` int|null, `entity_id`,
/// `timestamp`, `url` string|null.
fn validate(v: &Value) -> Result<&Map<String, Value>, WebhookError> {
    let Some(obj) = v.as_object() else {
        return Err(WebhookError::BadRequest(format!(
            "Invalid payload: expected a JSON object, got {}",
            match v {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            }
        )));
    };
    let bad = || WebhookError::BadRequest("Invalid JSON body".into());
    match obj.get("event").and_then(Value::as_str) {
        Some(e) if EVENTS.contains(&e) => {}
        _ => return Err(bad()),
    }
    match obj.get("user_id") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {}
        Some(_) => return Err(bad()),
    }
    for k in ["entity_id", "timestamp", "url"] {
        if !matches!(
            obj.get(k),
            None | Some(Value::Null) | Some(Value::String(_))
        ) {
            return Err(bad());
        }
    }
    Ok(obj)
}

/// Dates named by a notification: `from`/`to`, else `date`, else a date in the `url` (path
/// segment or `from`/`to` query), else none.
fn event_dates(obj: &Map<String, Value>) -> Option<(NaiveDate, NaiveDate)> {
    let field = |k: &str| obj.get(k).and_then(Value::as_str).and_then(date);
    if let (Some(a), Some(b)) = (field("from"), field("to")) {
        return Some((a.min(b), a.max(b)));
    }
    if let Some(d) = field("date") {
        return Some((d, d));
    }
    let url = obj.get("url").and_then(Value::as_str)?;
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let q: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let qd = |k: &str| q.iter().find(|(n, _)| n == k).and_then(|(_, v)| date(v));
    if let (Some(a), Some(b)) = (qd("from"), qd("to")) {
        return Some((a.min(b), a.max(b)));
    }
    let last = path.trim_end_matches('/').rsplit('/').next()?;
    (last.len() == 10)
        .then(|| date(last))
        .flatten()
        .map(|d| (d, d))
}

/// The sync window of a notification: its dates (or the notification's own day) widened by a
/// day on each side, never reaching past `now` (a sync window ending in the future would move
/// `last_synced_at` ahead of real time).
fn event_window(obj: &Map<String, Value>, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let (a, b) = event_dates(obj).unwrap_or_else(|| {
        let d = obj
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(instant)
            .map_or_else(|| now.date_naive(), |(t, _)| t.date_naive());
        (d, d)
    });
    let end = midnight(b + Duration::days(2)).min(now);
    let start = midnight(a - Duration::days(1)).min(end - Duration::days(1));
    (start, end)
}

/// Verifies and parses one inbound Polar webhook call (api.md §15.1): an unsigned PING is
/// answered 200 at once; everything else needs `Polar-Webhook-Signature` = lower-case hex
/// HMAC-SHA256 of the raw body keyed with `POLAR_WEBHOOK_SECRET` (no secret → 401).
pub fn webhook(req: &WebhookRequest<'_>) -> Result<WebhookReply, WebhookError> {
    if *req.method != axum::http::Method::POST {
        return Err(WebhookError::NotSupported(
            "Provider 'polar' does not support webhook verification requests (GET)".into(),
        ));
    }
    let parsed: Option<Value> = serde_json::from_slice(req.body).ok();
    if parsed
        .as_ref()
        .and_then(|v| v.get("event"))
        .and_then(Value::as_str)
        == Some("PING")
    {
        return Ok(WebhookReply::Respond(
            StatusCode::OK,
            json!({"status": "ok"}),
        ));
    }
    // Polar issues this secret at registration; there is no default to fall back on.
    let Some(secret) = req.issued_secret(WEBHOOK_SECRET_SETTING) else {
        tracing::warn!(
            provider = "polar",
            "webhook refused: no {WEBHOOK_SECRET_SETTING} configured and none stored by a subscription registration"
        );
        return Err(WebhookError::bad_signature());
    };
    let given = req
        .header(SIGNATURE_HEADER)
        .map(|s| s.trim().to_ascii_lowercase())
        .ok_or_else(WebhookError::bad_signature)?;
    let expected = hex(&hmac_sha256(secret.as_bytes(), &[req.body]));
    if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return Err(WebhookError::bad_signature());
    }
    let v = parsed.ok_or_else(|| WebhookError::BadRequest("Invalid JSON body".into()))?;
    let obj = validate(&v)?;
    let Some(user) = obj.get("user_id").and_then(|u| match u {
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }) else {
        return Ok(WebhookReply::Accept(Vec::new()));
    };
    let (start, end) = event_window(obj, req.now);
    Ok(WebhookReply::Accept(vec![WebhookEvent::Sync {
        provider_user_id: user,
        start,
        end,
    }]))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use axum::http::{HeaderMap, HeaderValue, Method};

    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").to_utc()
    }

    struct Req {
        method: Method,
        query: HashMap<String, String>,
        headers: HeaderMap,
        settings: HashMap<String, String>,
    }

    impl Req {
        fn new(secret: Option<&str>) -> Self {
            let mut settings = HashMap::new();
            if let Some(s) = secret {
                settings.insert(WEBHOOK_SECRET_SETTING.to_string(), s.to_string());
            }
            Self {
                method: Method::POST,
                query: HashMap::new(),
                headers: HeaderMap::new(),
                settings,
            }
        }

        fn sign(mut self, secret: &str, body: &str) -> Self {
            let sig = hex(&hmac_sha256(secret.as_bytes(), &[body.as_bytes()]));
            self.headers.insert(
                SIGNATURE_HEADER,
                HeaderValue::from_str(&sig).expect("header"),
            );
            self
        }

        fn run(&self, body: &str) -> Result<WebhookReply, WebhookError> {
            webhook(&WebhookRequest {
                method: &self.method,
                query: &self.query,
                headers: &self.headers,
                body: body.as_bytes(),
                now: t("2024-06-10T12:00:00Z"),
                client: None,
                settings: &self.settings,
                secret_key: "test-secret-key-0123456789abcdef",
            })
        }
    }

    const SECRET: &str = "6c1e0f3a-2b7d-4e59";
    const EXERCISE: &str = r#"{"event":"EXERCISE","user_id":58204113,"entity_id":"Kq3vR9","timestamp":"2024-06-03T06:13:02Z","url":"https://www.polaraccesslink.com/v3/exercises/Kq3vR9"}"#;

    fn status(r: Result<WebhookReply, WebhookError>) -> u16 {
        match r {
            Ok(WebhookReply::Respond(s, _)) => s.as_u16(),
            Ok(WebhookReply::Accept(_)) => 200,
            Err(e) => e.status().as_u16(),
        }
    }

    #[test]
    fn a_ping_is_answered_before_any_signature_check() {
        match Req::new(None).run(r#"{"event":"PING","timestamp":"2024-06-03T06:13:02Z"}"#) {
            Ok(WebhookReply::Respond(s, body)) => {
                assert_eq!((s.as_u16(), body), (200, json!({"status": "ok"})));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_signed_exercise_notification_syncs_around_its_day() {
        let r = Req::new(Some(SECRET)).sign(SECRET, EXERCISE).run(EXERCISE);
        let Ok(WebhookReply::Accept(events)) = r else {
            panic!("unexpected {r:?}");
        };
        assert_eq!(
            events,
            vec![WebhookEvent::Sync {
                provider_user_id: "58204113".into(),
                start: t("2024-06-02T00:00:00Z"),
                end: t("2024-06-05T00:00:00Z"),
            }]
        );
    }

    #[test]
    fn sleep_and_sleepwise_windows_come_from_their_dates_and_stop_at_now() {
        let sleep = r#"{"event":"SLEEP","user_id":58204113,"date":"2024-06-10","timestamp":"2024-06-10T08:00:00Z","url":"https://www.polaraccesslink.com/v3/users/sleep/2024-06-10"}"#;
        let r = Req::new(Some(SECRET)).sign(SECRET, sleep).run(sleep);
        let Ok(WebhookReply::Accept(events)) = r else {
            panic!("unexpected {r:?}");
        };
        assert_eq!(
            events,
            vec![WebhookEvent::Sync {
                provider_user_id: "58204113".into(),
                start: t("2024-06-09T00:00:00Z"),
                end: t("2024-06-10T12:00:00Z"),
            }]
        );
        let alert = r#"{"event":"SLEEP_WISE_ALERTNESS","user_id":58204113,"timestamp":"2024-06-05T14:22:24Z","url":"https://www.polaraccesslink.com/v3/users/sleepwise/alertness/date?from=2024-06-01&to=2024-06-03"}"#;
        let r = Req::new(Some(SECRET)).sign(SECRET, alert).run(alert);
        let Ok(WebhookReply::Accept(events)) = r else {
            panic!("unexpected {r:?}");
        };
        assert_eq!(
            events,
            vec![WebhookEvent::Sync {
                provider_user_id: "58204113".into(),
                start: t("2024-05-31T00:00:00Z"),
                end: t("2024-06-05T00:00:00Z"),
            }]
        );
    }

    #[test]
    fn bad_missing_or_unconfigured_signatures_are_refused() {
        assert_eq!(
            status(
                Req::new(Some(SECRET))
                    .sign("other-secret", EXERCISE)
                    .run(EXERCISE)
            ),
            401
        );
        assert_eq!(status(Req::new(Some(SECRET)).run(EXERCISE)), 401);
        assert_eq!(
            status(Req::new(None).sign(SECRET, EXERCISE).run(EXERCISE)),
            401
        );
        let tampered = EXERCISE.replace("58204113", "58204114");
        assert_eq!(
            status(Req::new(Some(SECRET)).sign(SECRET, EXERCISE).run(&tampered)),
            401
        );
        match Req::new(Some(SECRET)).run(EXERCISE) {
            Err(e) => assert_eq!(e.to_string(), "Invalid webhook signature"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn signed_but_malformed_payloads_are_400() {
        for body in [
            "not json",
            r#"{"event":"SOMETHING","user_id":1}"#,
            r#"{"user_id":1}"#,
            r#"{"event":"SLEEP","user_id":"abc"}"#,
            r#"[{"event":"SLEEP"}]"#,
        ] {
            assert_eq!(
                status(Req::new(Some(SECRET)).sign(SECRET, body).run(body)),
                400,
                "{body}"
            );
        }
        let no_user =
            r#"{"event":"PHYSICAL_INFORMATION","user_id":null,"timestamp":"2024-06-05T14:22:24Z"}"#;
        match Req::new(Some(SECRET)).sign(SECRET, no_user).run(no_user) {
            Ok(WebhookReply::Accept(e)) => assert!(e.is_empty()),
            other => panic!("unexpected {other:?}"),
        }
    }
}

//! Google Health notifications: the bearer-secret check, the verification handshake and the
//! padded sync window of each notification.

use chrono::Duration;
use serde_json::{Value, json};

use super::pull::{metric, ts};
use crate::providers::webhook::{
    WebhookError, WebhookEvent, WebhookReply, WebhookRequest, constant_time_eq,
};

/// Data types whose notifications trigger a pull (the registry plus the two sessions).
fn notifies(data_type: &str) -> bool {
    data_type == "exercise" || data_type == "sleep" || metric(data_type).is_some()
}

/// One notification's event: `None` for deletes, unknown data types, missing users or
/// intervals. The window spans the changed intervals, widened a day each way so sessions
/// (whose interval is the notified one) fall inside it.
fn notification_event(item: &Value) -> Option<WebhookEvent> {
    let data = item.get("data")?;
    if data.get("operation").and_then(Value::as_str) == Some("DELETE") {
        return None;
    }
    if !notifies(data.get("dataType").and_then(Value::as_str)?) {
        return None;
    }
    let user = match data.get("healthUserId")? {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    for i in data.get("intervals").and_then(Value::as_array)? {
        let p = i.get("physicalTimeInterval");
        if let Some(t) = ts(p.and_then(|p| p.get("startTime"))) {
            starts.push(t);
        }
        if let Some(t) = ts(p.and_then(|p| p.get("endTime"))) {
            ends.push(t);
        }
    }
    let (start, end) = (starts.into_iter().min()?, ends.into_iter().max()?);
    Some(WebhookEvent::Sync {
        provider_user_id: user,
        start: start - Duration::days(1),
        end: end.max(start) + Duration::days(1),
    })
}

/// Verifies and parses one inbound Google Health webhook call (api.md §15.1): the
/// `Authorization` header must be exactly `Bearer <GOOGLE_WEBHOOK_SECRET, else derived>`
/// (see [`crate::keys::GOOGLE_WEBHOOK_SECRET`]);
/// `{"type":"verification"}` answers `{"status":"verified"}`; notifications (one object or a
/// JSON array of them) become sync windows of the named `healthUserId`.
pub fn webhook(req: &WebhookRequest<'_>) -> Result<WebhookReply, WebhookError> {
    if *req.method == axum::http::Method::GET {
        return Err(WebhookError::NotSupported(
            "Provider 'google' does not support webhook verification requests (GET)".into(),
        ));
    }
    let expected = format!(
        "Bearer {}",
        req.chosen_secret(crate::keys::GOOGLE_WEBHOOK_SECRET)
    );
    let given = req.header("authorization").unwrap_or("");
    if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return Err(WebhookError::bad_signature());
    }
    let body = req.json()?;
    let items: Vec<Value> = match body {
        Value::Object(_) if body.get("type").and_then(Value::as_str) == Some("verification") => {
            return Ok(WebhookReply::Respond(
                axum::http::StatusCode::OK,
                json!({"status": "verified"}),
            ));
        }
        Value::Object(_) => vec![body],
        Value::Array(items) => items,
        _ => return Err(WebhookError::BadRequest("Invalid JSON body".into())),
    };
    Ok(WebhookReply::Accept(
        items.iter().filter_map(notification_event).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
    use chrono::{DateTime, Utc};

    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").to_utc()
    }

    struct Call {
        method: Method,
        headers: HeaderMap,
        body: String,
        settings: HashMap<String, String>,
    }

    impl Call {
        fn post(auth: Option<&str>, body: &str) -> Self {
            let mut headers = HeaderMap::new();
            if let Some(a) = auth {
                headers.insert("authorization", HeaderValue::from_str(a).expect("header"));
            }
            Self {
                method: Method::POST,
                headers,
                body: body.to_string(),
                settings: HashMap::new(),
            }
        }

        fn run(&self) -> Result<WebhookReply, WebhookError> {
            let query = HashMap::new();
            webhook(&WebhookRequest {
                method: &self.method,
                query: &query,
                headers: &self.headers,
                body: self.body.as_bytes(),
                now: Utc::now(),
                client: None,
                settings: &self.settings,
                secret_key: "test-secret-key-0123456789abcdef",
            })
        }
    }

    const NOTE: &str = r#"[{"data":{"healthUserId":"118204457739201845521","operation":"UPSERT","dataType":"steps",
        "intervals":[{"physicalTimeInterval":{"startTime":"2024-06-03T08:00:00Z","endTime":"2024-06-03T10:00:00Z"}}],
        "clientProvidedSubscriptionName":"open-wearables","version":"1"}}]"#;

    /// The bearer secret derived from the test `SECRET_KEY`.
    fn bearer() -> String {
        format!(
            "Bearer {}",
            crate::keys::derive(
                "test-secret-key-0123456789abcdef",
                crate::keys::GOOGLE_WEBHOOK_SECRET.label
            )
        )
    }

    #[test]
    fn the_bearer_secret_is_required_and_derived_never_secret_key() {
        let ok = Call::post(Some(&bearer()), NOTE).run();
        assert!(
            matches!(ok, Ok(WebhookReply::Accept(ref e)) if e.len() == 1),
            "{ok:?}"
        );
        let lower = bearer().replacen("Bearer", "bearer", 1);
        for bad in [
            None,
            Some("Bearer nope"),
            Some("Bearer test-secret-key-0123456789abcdef"),
            Some("test-secret-key-0123456789abcdef"),
            Some(lower.as_str()),
        ] {
            let r = Call::post(bad, NOTE).run();
            assert!(
                matches!(r, Err(ref e) if e.status() == StatusCode::UNAUTHORIZED),
                "{bad:?}: {r:?}"
            );
        }
        let mut own = Call::post(Some("Bearer own-secret"), NOTE);
        own.settings
            .insert("GOOGLE_WEBHOOK_SECRET".into(), "own-secret".into());
        assert!(own.run().is_ok());
        let mut stale = Call::post(Some(&bearer()), NOTE);
        stale
            .settings
            .insert("GOOGLE_WEBHOOK_SECRET".into(), "own-secret".into());
        assert!(
            stale.run().is_err(),
            "the derived secret no longer works once a secret is set"
        );
    }

    #[test]
    fn the_verification_handshake() {
        let body = r#"{"type":"verification"}"#;
        match Call::post(Some(&bearer()), body).run() {
            Ok(WebhookReply::Respond(status, v)) => {
                assert_eq!((status, v), (StatusCode::OK, json!({"status": "verified"})));
            }
            other => panic!("{other:?}"),
        }
        let r = Call::post(None, body).run();
        assert!(
            matches!(r, Err(ref e) if e.status() == StatusCode::UNAUTHORIZED),
            "{r:?}"
        );
        let mut get = Call::post(Some(&bearer()), "");
        get.method = Method::GET;
        assert!(matches!(get.run(), Err(ref e) if e.status() == StatusCode::BAD_REQUEST));
    }

    #[test]
    fn notifications_become_padded_sync_windows() {
        let auth = bearer();
        let auth = Some(auth.as_str());
        let Ok(WebhookReply::Accept(events)) = Call::post(auth, NOTE).run() else {
            panic!("accepted");
        };
        assert_eq!(
            events,
            vec![WebhookEvent::Sync {
                provider_user_id: "118204457739201845521".into(),
                start: t("2024-06-02T08:00:00Z"),
                end: t("2024-06-04T10:00:00Z"),
            }]
        );
        // A single object, a delete, an unknown type and a missing interval.
        let body = r#"[{"data":{"healthUserId":"u1","operation":"UPSERT","dataType":"exercise",
            "intervals":[{"physicalTimeInterval":{"startTime":"2024-06-03T16:00:00Z","endTime":"2024-06-03T16:42:10Z"}},
                         {"physicalTimeInterval":{"startTime":"2024-06-02T16:00:00Z","endTime":"2024-06-02T16:30:00Z"}}]}},
            {"data":{"healthUserId":"u1","operation":"DELETE","dataType":"steps",
            "intervals":[{"physicalTimeInterval":{"startTime":"2024-06-03T08:00:00Z","endTime":"2024-06-03T10:00:00Z"}}]}},
            {"data":{"healthUserId":"u1","operation":"UPSERT","dataType":"floors",
            "intervals":[{"physicalTimeInterval":{"startTime":"2024-06-03T08:00:00Z","endTime":"2024-06-03T10:00:00Z"}}]}},
            {"data":{"healthUserId":"u1","operation":"UPSERT","dataType":"sleep","intervals":[]}}]"#;
        let Ok(WebhookReply::Accept(events)) = Call::post(auth, body).run() else {
            panic!("accepted");
        };
        assert_eq!(
            events,
            vec![WebhookEvent::Sync {
                provider_user_id: "u1".into(),
                start: t("2024-06-01T16:00:00Z"),
                end: t("2024-06-04T16:42:10Z"),
            }]
        );
        let one = r#"{"data":{"healthUserId":"u2","operation":"UPSERT","dataType":"sleep",
            "intervals":[{"physicalTimeInterval":{"startTime":"2024-06-02T21:40:00Z","endTime":"2024-06-03T05:10:00Z"}}]}}"#;
        let Ok(WebhookReply::Accept(events)) = Call::post(auth, one).run() else {
            panic!("accepted");
        };
        assert_eq!(events.len(), 1);
        for bad in ["not json", "42"] {
            let r = Call::post(auth, bad).run();
            assert!(
                matches!(r, Err(ref e) if e.status() == StatusCode::BAD_REQUEST),
                "{bad}"
            );
        }
    }
}

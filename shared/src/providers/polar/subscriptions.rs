//! Polar webhook registration (app level, HTTP Basic with the client credentials).

use reqwest::Method;
use serde_json::{Value, json};

use super::pull::items;
use crate::providers::subscriptions::{
    SubscriptionCtx, SubscriptionError, SubscriptionOp, SubscriptionResult, op_status,
};

/// The events our webhook subscribes to.
pub const WEBHOOK_EVENTS: [&str; 7] = [
    "EXERCISE",
    "SLEEP",
    "CONTINUOUS_HEART_RATE",
    "ACTIVITY_SUMMARY",
    "SLEEP_WISE_ALERTNESS",
    "SLEEP_WISE_CIRCADIAN_BEDTIME",
    "PHYSICAL_INFORMATION",
];

const WEBHOOKS: &str = "/v3/webhooks";

/// One call of the webhook API; answers status and body (4xx other than 404/409 are errors).
async fn app_call(
    ctx: &SubscriptionCtx<'_>,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), SubscriptionError> {
    let mut req = ctx
        .http
        .request(method, ctx.url(path))
        .basic_auth(&ctx.client.client_id, Some(&ctx.client.client_secret))
        .header("accept", "application/json");
    if let Some(b) = body {
        req = req.json(b);
    }
    let (status, v, text) = ctx.send(req, "Polar webhook API").await?;
    if status >= 400 && status != 404 && status != 409 {
        return Err(SubscriptionError::Upstream(format!(
            "Polar webhook API answered HTTP {status}: {}",
            text.chars().take(200).collect::<String>()
        )));
    }
    Ok((status, v))
}

/// A webhook as we show it: `{id, events[], url}`.
fn subscription(v: &Value) -> Value {
    json!({"id": v.get("id"), "events": v.get("events"), "url": v.get("url")})
}

/// Webhook subscription management (api.md §15.3, providers.md §4.2.4): one webhook per app.
/// Registering with the same URL is skipped, with another URL the webhook is patched, without
/// one it is created and its `signature_secret_key` (returned only then) is handed back to be
/// stored. Polar webhooks do not expire (no renew) and have no single-item read.
pub async fn subscriptions(
    ctx: &SubscriptionCtx<'_>,
    op: SubscriptionOp,
) -> Result<SubscriptionResult, SubscriptionError> {
    let list = || async {
        let (_, v) = app_call(ctx, Method::GET, WEBHOOKS, None).await?;
        Ok::<Vec<Value>, SubscriptionError>(items(v, Some("data")))
    };
    let text_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    match op {
        SubscriptionOp::List => Ok(SubscriptionResult::of(Value::Array(
            list().await?.iter().map(subscription).collect(),
        ))),
        SubscriptionOp::Register { callback_url } => {
            let body = json!({"events": WEBHOOK_EVENTS, "url": callback_url});
            let existing = list().await?;
            let (status, id, secret) = match existing.first() {
                Some(w) if text_of(w, "url") == callback_url => ("skipped", text_of(w, "id"), None),
                Some(w) => {
                    let id = text_of(w, "id");
                    let (code, _) =
                        app_call(ctx, Method::PATCH, &format!("{WEBHOOKS}/{id}"), Some(&body))
                            .await?;
                    if code == 404 {
                        return Err(SubscriptionError::Upstream(format!(
                            "Polar webhook {id} disappeared while patching it"
                        )));
                    }
                    ("patched", id, None)
                }
                None => {
                    let (code, v) = app_call(ctx, Method::POST, WEBHOOKS, Some(&body)).await?;
                    if code == 409 {
                        return Err(SubscriptionError::Upstream(
                            "Polar already has a webhook for this client; delete it and register again (its secret cannot be read back)".into(),
                        ));
                    }
                    let data = v.get("data").cloned().unwrap_or(Value::Null);
                    let secret = data
                        .get("signature_secret_key")
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    ("created", text_of(&data, "id"), secret)
                }
            };
            Ok(SubscriptionResult {
                body: json!([{"subscription_id": id, "status": status, "url": callback_url,
                    "events": WEBHOOK_EVENTS}]),
                signing_secret: secret,
            })
        }
        SubscriptionOp::Update { id, callback_url } => {
            let r = app_call(
                ctx,
                Method::PATCH,
                &format!("{WEBHOOKS}/{id}"),
                Some(&json!({"url": callback_url})),
            )
            .await;
            Ok(SubscriptionResult::of(match r {
                Ok((404, _)) => op_status(&id, "error", Some("webhook not found".into())),
                Ok(_) => op_status(&id, "updated", None),
                Err(e) => op_status(&id, "error", Some(e.to_string())),
            }))
        }
        SubscriptionOp::Delete { id } => {
            let r = app_call(ctx, Method::DELETE, &format!("{WEBHOOKS}/{id}"), None).await;
            Ok(SubscriptionResult::of(match r {
                Ok((404, _)) => op_status(&id, "error", Some("webhook not found".into())),
                Ok(_) => op_status(&id, "deleted", None),
                Err(e) => op_status(&id, "error", Some(e.to_string())),
            }))
        }
        SubscriptionOp::Renew => Err(SubscriptionError::NotSupported(
            "Polar webhooks do not expire: there is nothing to renew".into(),
        )),
        SubscriptionOp::Get { .. } => Err(SubscriptionError::NotSupported(
            "Polar has no single-webhook read: list the subscriptions instead".into(),
        )),
    }
}

//! Outgoing-webhook management (api.md §16.1, #77–#86) and the instance flags (#88), with the
//! reference's shapes: `EndpointResponse`, Svix's camelCase messages and attempts and its
//! iterator paging. Ours on top: secret rotation and a manual retry of a message.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State as St};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::params::Params;
use super::{State, opt_json_body};
use crate::auth::guard::AuthDeveloper;
use crate::domain::webhooks::{DeliveryStatus, catalogue, check_endpoint_url};
use crate::error::{ApiError, ApiResult};
use crate::repo::webhooks::{Attempt, Endpoint, ListError, ListPage, ListParams, Message, py_iso};
use crate::services::webhooks as wh;
use crate::store::Condition;

const DISABLED: &str = "Outgoing webhooks are not enabled (set OUTGOING_WEBHOOKS_ENABLED=true in the backend environment).";
const NOT_FOUND: &str = "Webhook endpoint not found";

/// The routes of this group.
pub fn openapi_router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(get_config))
        .routes(routes!(list_event_types))
        .routes(routes!(create_endpoint, list_endpoints))
        .routes(routes!(get_endpoint, update_endpoint, delete_endpoint))
        .routes(routes!(get_secret))
        .routes(routes!(rotate_secret))
        .routes(routes!(send_test))
        .routes(routes!(list_messages))
        .routes(routes!(retry_message))
        .routes(routes!(list_attempts))
}

fn enabled(state: &State) -> ApiResult<()> {
    if state.config.webhooks.enabled {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, DISABLED))
    }
}

fn endpoint_json(e: &Endpoint) -> Value {
    json!({
        "id": e.id,
        "url": e.url,
        "description": e.description,
        "filter_types": e.filter_types,
        "user_id": e.user_id,
        "disabled": e.disabled,
        "disabled_reason": e.disabled_reason,
    })
}

/// The caller's endpoint (another developer's is as absent as a missing one).
async fn own_endpoint(state: &State, dev: Uuid, id: &str) -> ApiResult<Endpoint> {
    state
        .db
        .endpoint(id)
        .await?
        .filter(|e| e.developer_id == dev)
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))
}

/// Instance feature flags (#88).
#[utoipa::path(get, path = "/api/v1/config", tag = "config", responses((status = 200)))]
pub async fn get_config(St(state): St<State>, _: AuthDeveloper) -> Json<Value> {
    Json(json!({"outgoing_webhooks_enabled": state.config.webhooks.enabled}))
}

/// The event catalogue (#77, public).
#[utoipa::path(get, path = "/api/v1/webhooks/event-types", tag = "webhooks", responses((status = 200)))]
pub async fn list_event_types() -> Json<Value> {
    Json(serde_json::to_value(catalogue()).unwrap_or(Value::Array(Vec::new())))
}

fn text(v: &Value, key: &str) -> ApiResult<Option<String>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request("Input should be a valid string")),
    }
}

fn filter_types(v: &Value) -> ApiResult<Option<Vec<String>>> {
    match v.get("filter_types") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| ApiError::bad_request("Input should be a valid string"))
            })
            .collect::<ApiResult<Vec<_>>>()
            .map(|l| Some(l).filter(|l| !l.is_empty())),
        Some(_) => Err(ApiError::bad_request("Input should be a valid list")),
    }
}

fn user_id(v: &Value) -> ApiResult<Option<Uuid>> {
    match text(v, "user_id")? {
        None => Ok(None),
        Some(s) => super::parse_uuid(&s).map(Some),
    }
}

fn checked_url(state: &State, url: &str) -> ApiResult<String> {
    check_endpoint_url(url, state.config.webhooks.allow_private)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if url.len() > 2048 {
        return Err(ApiError::bad_request(
            "Invalid URL: longer than 2048 characters",
        ));
    }
    Ok(url.to_string())
}

fn check_description(d: Option<String>) -> ApiResult<Option<String>> {
    match d {
        Some(s) if s.chars().count() > 500 => Err(ApiError::bad_request(
            "String should have at most 500 characters",
        )),
        d => Ok(d),
    }
}

/// Creates an endpoint with a new random `whsec_` secret (#78).
#[utoipa::path(post, path = "/api/v1/webhooks/endpoints", tag = "webhooks",
    responses((status = 201), (status = 400), (status = 503)))]
pub async fn create_endpoint(
    St(state): St<State>,
    AuthDeveloper(dev): AuthDeveloper,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    enabled(&state)?;
    let v: Value = super::json_body(&body)?;
    let url = text(&v, "url")?.ok_or_else(|| ApiError::bad_request("Field required"))?;
    let url = checked_url(&state, &url)?;
    let now = state.now();
    let ep = Endpoint {
        id: wh::random_endpoint_id(),
        developer_id: dev.id,
        url,
        description: check_description(text(&v, "description")?)?,
        filter_types: filter_types(&v)?,
        user_id: user_id(&v)?,
        disabled: false,
        disabled_reason: None,
        secret: state.cipher.seal(&wh::random_secret())?,
        previous_secret: None,
        previous_until: None,
        failing_since: None,
        created_at: now,
        updated_at: now,
    };
    state.db.put_endpoint(&ep, Condition::NotExists).await?;
    Ok((StatusCode::CREATED, Json(endpoint_json(&ep))))
}

/// The caller's endpoints (#79).
#[utoipa::path(get, path = "/api/v1/webhooks/endpoints", tag = "webhooks", responses((status = 200)))]
pub async fn list_endpoints(
    St(state): St<State>,
    AuthDeveloper(dev): AuthDeveloper,
) -> ApiResult<Json<Value>> {
    enabled(&state)?;
    let list = state.db.developer_endpoints(dev.id).await?;
    Ok(Json(Value::Array(list.iter().map(endpoint_json).collect())))
}

/// One endpoint (#80).
#[utoipa::path(get, path = "/api/v1/webhooks/endpoints/{endpoint_id}", tag = "webhooks",
    responses((status = 200), (status = 404)))]
pub async fn get_endpoint(
    St(state): St<State>,
    AuthDeveloper(dev): AuthDeveloper,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    enabled(&state)?;
    Ok(Json(endpoint_json(
        &own_endpoint(&state, dev.id, &id).await?,
    )))
}

/// Changes an endpoint (#81): omitted or null fields stay, except an explicit
/// `"user_id": null`, which removes the user filter. Enabling again: `"disabled": false`.
#[utoipa::path(patch, path = "/api/v1/webhooks/endpoints/{endpoint_id}", tag = "webhooks",
    responses((status = 200), (status = 400), (status = 404)))]
pub async fn update_endpoint(
    St(state): St<State>,
    AuthDeveloper(dev): AuthDeveloper,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    enabled(&state)?;
    let v: Value = opt_json_body::<Map<String, Value>>(&body).map(Value::Object)?;
    let mut ep = own_endpoint(&state, dev.id, &id).await?;
    if let Some(url) = text(&v, "url")? {
        ep.url = checked_url(&state, &url)?;
    }
    if let Some(d) = check_description(text(&v, "description")?)? {
        ep.description = Some(d);
    }
    if v.get("filter_types").is_some_and(|f| !f.is_null()) {
        ep.filter_types = filter_types(&v)?;
    }
    match v.get("user_id") {
        None => {}
        Some(Value::Null) => ep.user_id = None,
        Some(_) => ep.user_id = user_id(&v)?,
    }
    if let Some(Value::Bool(false)) = v.get("disabled") {
        ep.disabled = false;
        ep.disabled_reason = None;
        ep.failing_since = None;
    }
    ep.updated_at = state.now();
    state.db.put_endpoint(&ep, Condition::Exists).await?;
    Ok(Json(endpoint_json(&ep)))
}

/// Deletes an endpoint (#82); its pending deliveries end as failed.
#[utoipa::path(delete, path = "/api/v1/webhooks/endpoints/{endpoint_id}", tag = "webhooks",
    responses((status = 204), (status = 404)))]
pub async fn delete_endpoint(
    St(state): St<State>,
    AuthDeveloper(dev): AuthDeveloper,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    enabled(&state)?;
    let ep = own_endpoint(&state, dev.id, &id).await?;
    state.db.delete_endpoint(&ep.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The endpoint's signing secret (#83).
#[utoipa::path(get, path = "/api/v1/webhooks/endpoints/{endpoint_id}/secret", tag = "webhooks",
    responses((status = 200), (status = 404)))]
pub async fn get_secret(
    St(state): St<State>,
    AuthDeveloper(dev): AuthDeveloper,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    enabled(&state)?;
    let ep = own_endpoint(&state, dev.id, &id).await?;
    Ok(Json(json!({"key": state.cipher.open(&ep.secret)?})))
}

/// A new signing secret (ours, as Svix's rotate): the previous one keeps signing alongside for
/// 24 hours, so receivers can switch without losing deliveries.
#[utoipa::path(post, path = "/api/v1/webhooks/endpoints/{endpoint_id}/secret/rotate", tag = "webhooks",
    responses((status = 200), (status = 404)))]
pub async fn rotate_secret(
    St(state): St<State>,
    AuthDeveloper(dev): AuthDeveloper,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    enabled(&state)?;
    let mut ep = own_endpoint(&state, dev.id, &id).await?;
    let now = state.now();
    let fresh = wh::random_secret();
    ep.previous_secret = Some(ep.secret.clone());
    ep.previous_until = Some(now + chrono::Duration::hours(24));
    ep.secret = state.cipher.seal(&fresh)?;
    ep.updated_at = now;
    state.db.put_endpoint(&ep, Condition::Exists).await?;
    Ok(Json(json!({"key": fresh})))
}

/// Sends a sample event to this endpoint only (#84).
#[utoipa::path(post, path = "/api/v1/webhooks/endpoints/{endpoint_id}/test", tag = "webhooks",
    responses((status = 200), (status = 404)))]
pub async fn send_test(
    St(state): St<State>,
    AuthDeveloper(dev): AuthDeveloper,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    enabled(&state)?;
    let v: Value = opt_json_body::<Map<String, Value>>(&body).map(Value::Object)?;
    let ep = own_endpoint(&state, dev.id, &id).await?;
    let mut event_type = text(&v, "event_type")?.unwrap_or_else(|| "workout.created".into());
    if let Some(f) = ep.filter_types.as_ref().filter(|f| !f.is_empty())
        && !f.contains(&event_type)
    {
        event_type = f[0].clone();
    }
    let msg_id = wh::send_test(&state, &ep, &event_type).await.map_err(|e| {
        tracing::error!(error = %e, "test event not stored");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Failed to send test event.",
        )
    })?;
    Ok(Json(
        json!({"message": "Test event sent successfully.", "message_id": msg_id}),
    ))
}

fn list_params(p: &Params) -> ApiResult<ListParams> {
    let limit = p.int("limit", 50, 1, 250)?;
    Ok(ListParams {
        limit: usize::try_from(limit).unwrap_or(50),
        iterator: p.get("iterator").map(str::to_string),
        before: p.opt_datetime("before")?.map(|d| d.at),
        after: p.opt_datetime("after")?.map(|d| d.at),
    })
}

fn list_error(e: ListError) -> ApiError {
    match e {
        ListError::BadIterator => ApiError::bad_request("Invalid iterator"),
        ListError::Store(e) => e.into(),
    }
}

fn message_json(m: &Message, with_payload: bool) -> Value {
    json!({
        "id": m.id,
        "eventType": m.event_type,
        "eventId": m.event_id,
        "timestamp": py_iso(m.timestamp),
        "channels": m.user_id.map(|u| vec![format!("user.{u}")]),
        "tags": Value::Null,
        "payload": if with_payload { m.body() } else { Value::Null },
    })
}

fn envelope<T>(page: &ListPage<T>, data: Vec<Value>) -> Value {
    json!({
        "data": data,
        "done": page.done,
        "iterator": page.iterator,
        "prevIterator": page.prev_iterator,
    })
}

/// Emitted messages, newest first (#85).
#[utoipa::path(get, path = "/api/v1/webhooks/messages", tag = "webhooks",
    params(("limit" = Option<i64>, Query), ("iterator" = Option<String>, Query),
        ("before" = Option<String>, Query), ("after" = Option<String>, Query)),
    responses((status = 200), (status = 400)))]
pub async fn list_messages(
    St(state): St<State>,
    _: AuthDeveloper,
    p: Params,
) -> ApiResult<Json<Value>> {
    enabled(&state)?;
    let params = list_params(&p)?;
    let page = state.db.list_messages(&params).await.map_err(list_error)?;
    let data = page.items.iter().map(|m| message_json(m, false)).collect();
    Ok(Json(envelope(&page, data)))
}

/// Sends a message again to the caller's endpoints that it was meant for (ours; the
/// attempts it makes have `triggerType` 1).
#[utoipa::path(post, path = "/api/v1/webhooks/messages/{msg_id}/retry", tag = "webhooks",
    responses((status = 202), (status = 404)))]
pub async fn retry_message(
    St(state): St<State>,
    AuthDeveloper(dev): AuthDeveloper,
    Path(msg_id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    enabled(&state)?;
    if state.db.message(&msg_id).await?.is_none() {
        return Err(ApiError::not_found("Webhook message not found"));
    }
    let mine: Vec<String> = state
        .db
        .developer_endpoints(dev.id)
        .await?
        .into_iter()
        .map(|e| e.id)
        .collect();
    let n = wh::retry_message(&state, &msg_id, &mine).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"message": "Retry queued.", "message_id": msg_id, "endpoints": n})),
    ))
}

fn attempt_json(a: &Attempt, msg: Option<&Message>) -> Value {
    json!({
        "id": a.id,
        "endpointId": a.endpoint_id,
        "msgId": a.msg_id,
        "url": a.url,
        "response": a.response,
        "responseStatusCode": a.response_status_code,
        "responseDurationMs": a.response_duration_ms,
        "status": a.status.code(),
        "statusText": match a.status {
            DeliveryStatus::Success => "success",
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Failed => "fail",
            DeliveryStatus::Sending => "sending",
        },
        "triggerType": a.trigger.code(),
        "timestamp": py_iso(a.timestamp),
        "msg": msg.map(|m| message_json(m, true)),
    })
}

/// Delivery attempts of an endpoint, newest first, each with its message (#86).
#[utoipa::path(get, path = "/api/v1/webhooks/endpoints/{endpoint_id}/attempts", tag = "webhooks",
    params(("limit" = Option<i64>, Query), ("iterator" = Option<String>, Query),
        ("before" = Option<String>, Query), ("after" = Option<String>, Query),
        ("status" = Option<i64>, Query), ("event_types" = Option<Vec<String>>, Query)),
    responses((status = 200), (status = 400), (status = 404)))]
pub async fn list_attempts(
    St(state): St<State>,
    AuthDeveloper(dev): AuthDeveloper,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Json<Value>> {
    enabled(&state)?;
    let params = list_params(&p)?;
    let status = match p.get("status") {
        None => None,
        Some(raw) => Some(
            raw.trim()
                .parse::<i64>()
                .ok()
                .and_then(DeliveryStatus::from_code)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "Input should be a valid integer: 0 (success), 1 (pending), 2 (failed) or 3 (sending)",
                    )
                })?,
        ),
    };
    let types: Vec<String> = p
        .all("event_types")
        .into_iter()
        .map(str::to_string)
        .collect();
    let ep = own_endpoint(&state, dev.id, &id).await?;
    let page = state
        .db
        .list_attempts(&ep.id, &params, |a| {
            status.is_none_or(|s| a.status == s)
                && (types.is_empty() || types.contains(&a.event_type))
        })
        .await
        .map_err(list_error)?;
    let ids: Vec<String> = page.items.iter().map(|a| a.msg_id.clone()).collect();
    let msgs = state.db.messages(&ids).await?;
    let data = page
        .items
        .iter()
        .map(|a| attempt_json(a, msgs.iter().find(|m| m.id == a.msg_id)))
        .collect();
    Ok(Json(envelope(&page, data)))
}

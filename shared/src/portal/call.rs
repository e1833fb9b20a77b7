//! The portal's way to the API: every read and write is a request to the API's own router in
//! the same process, with the session's developer token. The portal has no copy of any rule:
//! authentication, validation, error texts and storage are the API's.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;

use crate::api::{Group, State, router_for};

/// The API groups the portal calls.
const API_GROUPS: &[Group] = &[
    Group::Auth,
    Group::Users,
    Group::Data,
    Group::Settings,
    Group::Providers,
];

/// Largest API answer the portal reads.
const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// The API router, built once per portal router (the state is known at the first request).
#[derive(Clone, Default)]
pub struct ApiCache(Arc<OnceLock<Router>>);

impl ApiCache {
    pub fn router(&self, state: &State) -> Router {
        self.0
            .get_or_init(|| router_for(state.clone(), API_GROUPS))
            .clone()
    }
}

/// A failed API call: the status and the `detail` the API answered.
#[derive(Debug, Clone)]
pub struct ApiFail {
    pub status: StatusCode,
    pub detail: String,
}

impl ApiFail {
    fn from_answer(status: StatusCode, body: &Value) -> Self {
        let detail = match body.get("detail") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => status
                .canonical_reason()
                .unwrap_or("Request failed")
                .to_string(),
        };
        Self { status, detail }
    }
}

/// A client of the in-process API for one request of the portal.
#[derive(Clone)]
pub struct Api {
    router: Router,
    peer: Option<ConnectInfo<SocketAddr>>,
    /// The API Gateway request context in Lambda (the client address the login limits use).
    context: Option<lambda_http::request::RequestContext>,
    bearer: Option<String>,
}

/// A request body.
pub enum Send<'a> {
    None,
    Json(&'a Value),
    Form(&'a [(&'a str, &'a str)]),
}

impl Api {
    pub fn new(
        router: Router,
        peer: Option<ConnectInfo<SocketAddr>>,
        context: Option<lambda_http::request::RequestContext>,
        bearer: Option<String>,
    ) -> Self {
        Self {
            router,
            peer,
            context,
            bearer,
        }
    }

    /// `GET uri` whose 2xx answer is passed on as it comes (a server-sent event stream);
    /// a failure is read like [`Api::call`]'s.
    pub async fn stream(&self, uri: &str) -> Result<axum::response::Response, ApiFail> {
        let req = self.request(Method::GET, uri, Send::None)?;
        let resp = match self.router.clone().oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), MAX_ANSWER_BYTES)
            .await
            .map_err(|e| internal(&e))?;
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Err(ApiFail::from_answer(status, &value))
    }

    fn request(&self, method: Method, uri: &str, body: Send<'_>) -> Result<Request<Body>, ApiFail> {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(t) = &self.bearer {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let body = match body {
            Send::None => Body::empty(),
            Send::Json(v) => {
                b = b.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            Send::Form(pairs) => {
                b = b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Body::from(serde_urlencoded::to_string(pairs).unwrap_or_default())
            }
        };
        let mut req = b.body(body).map_err(|e| internal(&e))?;
        if let Some(p) = self.peer {
            req.extensions_mut().insert(p);
        }
        if let Some(c) = &self.context {
            req.extensions_mut().insert(c.clone());
        }
        Ok(req)
    }

    /// Calls `METHOD uri`; a 2xx answer's JSON (`Null` when empty), else the failure.
    pub async fn call(&self, method: Method, uri: &str, body: Send<'_>) -> Result<Value, ApiFail> {
        let req = self.request(method, uri, body)?;
        let resp = match self.router.clone().oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), MAX_ANSWER_BYTES)
            .await
            .map_err(|e| internal(&e))?;
        let value = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        if status.is_success() {
            Ok(value)
        } else {
            Err(ApiFail::from_answer(status, &value))
        }
    }

    pub async fn get(&self, uri: &str) -> Result<Value, ApiFail> {
        self.call(Method::GET, uri, Send::None).await
    }

    /// Every page of a cursor-paged list (`{"data": [...], "pagination": {...}}`), at most
    /// `max_pages` pages; the bool says whether more remained.
    pub async fn get_all(
        &self,
        path: &str,
        query: &[(&str, String)],
        max_pages: usize,
    ) -> Result<(Vec<Value>, bool), ApiFail> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..max_pages {
            let mut q: Vec<(&str, String)> = query.to_vec();
            if let Some(c) = &cursor {
                q.push(("cursor", c.clone()));
            }
            let uri = format!("{path}?{}", encode(&q));
            let page = self.get(&uri).await?;
            if let Some(items) = page.get("data").and_then(Value::as_array) {
                out.extend(items.iter().cloned());
            }
            let next = page
                .pointer("/pagination/next_cursor")
                .and_then(Value::as_str)
                .map(str::to_string);
            let more = page
                .pointer("/pagination/has_more")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            match next {
                Some(n) if more => cursor = Some(n),
                _ => return Ok((out, false)),
            }
        }
        Ok((out, true))
    }
}

/// A query string from pairs.
pub fn encode(pairs: &[(&str, String)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

fn internal(e: &dyn std::fmt::Display) -> ApiFail {
    tracing::error!(error = %e, "portal: API call failed");
    ApiFail {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        detail: "Internal Server Error".into(),
    }
}

//! The authentication rules of api.md §2.2, as axum extractors a handler names first among
//! its arguments (axum runs extractors in argument order, so auth errors come before any
//! path, query or body validation error):
//!
//! - [`AuthDeveloper`] (D): a developer JWT only.
//! - [`Caller`] (K): a developer JWT, else the API-key header.
//! - [`SdkCaller`] (S): an SDK token, else the API-key header.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use uuid::Uuid;

use crate::app::{AppState, State};
use crate::error::{ApiError, ApiResult};
use crate::keys::tokens::Claims;
use crate::repo::credentials::ApiKey;
use crate::repo::developers::Developer;

/// The API-key header.
pub const API_KEY_HEADER: &str = "x-open-wearables-api-key";

const COULD_NOT_VALIDATE: &str = "Could not validate credentials";

/// The developer of a D route.
#[derive(Debug, Clone)]
pub struct AuthDeveloper(pub Developer);

impl FromRequestParts<State> for AuthDeveloper {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> ApiResult<Self> {
        developer(state, &parts.headers).await.map(Self)
    }
}

/// Who called a K route.
#[derive(Debug, Clone)]
pub enum Caller {
    Developer(Developer),
    ApiKey(ApiKey),
}

/// Who called an S route.
#[derive(Debug, Clone)]
pub enum SdkCaller {
    /// An SDK token: `user_id` is the token's `sub` as sent.
    Sdk {
        user_id: String,
        app_id: Option<String>,
    },
    ApiKey(ApiKey),
}

impl FromRequestParts<State> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> ApiResult<Self> {
        api_key_or_developer(state, &parts.headers).await
    }
}

impl FromRequestParts<State> for SdkCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> ApiResult<Self> {
        sdk_or_api_key(state, &parts.headers).await
    }
}

impl SdkCaller {
    /// The route-level check of #72/#73: an SDK token only writes for its own user.
    pub fn check_user(&self, path_user_id: &str) -> ApiResult<()> {
        match self {
            SdkCaller::Sdk { user_id, .. } if user_id != path_user_id => {
                Err(ApiError::forbidden("Token does not match user_id"))
            }
            _ => Ok(()),
        }
    }
}

/// The bearer token of the `Authorization` header, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn claims(state: &AppState, headers: &HeaderMap) -> Option<Claims> {
    state.signer.verify(bearer(headers)?, state.now())
}

async fn developer_of(state: &AppState, claims: &Claims) -> ApiResult<Option<Developer>> {
    let Ok(id) = Uuid::parse_str(&claims.sub) else {
        return Ok(None);
    };
    Ok(state.db.developer(id).await?)
}

/// The claims of a valid SDK token in the `Authorization` header, if there is one.
pub fn sdk_claims(state: &AppState, headers: &HeaderMap) -> Option<Claims> {
    claims(state, headers).filter(Claims::is_sdk)
}

/// D: a developer JWT, else 401 with `WWW-Authenticate: Bearer`.
async fn developer(state: &AppState, headers: &HeaderMap) -> ApiResult<Developer> {
    let claims =
        claims(state, headers).ok_or_else(|| ApiError::unauthorized_bearer(COULD_NOT_VALIDATE))?;
    if claims.is_sdk() {
        return Err(ApiError::unauthorized_bearer(
            "SDK tokens cannot access this endpoint",
        ));
    }
    developer_of(state, &claims)
        .await?
        .ok_or_else(|| ApiError::unauthorized_bearer(COULD_NOT_VALIDATE))
}

/// The developer of a valid non-SDK bearer token, if there is one (T and K use it).
pub async fn optional_developer(
    state: &AppState,
    headers: &HeaderMap,
) -> ApiResult<Option<Developer>> {
    match claims(state, headers) {
        Some(c) if !c.is_sdk() => developer_of(state, &c).await,
        _ => Ok(None),
    }
}

async fn api_key(state: &AppState, headers: &HeaderMap) -> ApiResult<Option<ApiKey>> {
    let Some(v) = headers.get(API_KEY_HEADER) else {
        return Ok(None);
    };
    let key = v.to_str().ok().map(str::trim).unwrap_or_default();
    match state.db.verify_api_key(key).await? {
        Some(k) => Ok(Some(k)),
        None => Err(ApiError::unauthorized("Invalid or missing API key")),
    }
}

/// K: a developer JWT, else an API key (also the second half of the OAuth authorize rule).
pub async fn api_key_or_developer(state: &AppState, headers: &HeaderMap) -> ApiResult<Caller> {
    if let Some(d) = optional_developer(state, headers).await? {
        return Ok(Caller::Developer(d));
    }
    match api_key(state, headers).await? {
        Some(k) => Ok(Caller::ApiKey(k)),
        None => Err(ApiError::unauthorized(
            "Authentication required: provide JWT token or API key",
        )),
    }
}

/// S: an SDK token, else an API key.
async fn sdk_or_api_key(state: &AppState, headers: &HeaderMap) -> ApiResult<SdkCaller> {
    if let Some(c) = claims(state, headers).filter(Claims::is_sdk) {
        if Uuid::parse_str(&c.sub).is_ok() {
            return Ok(SdkCaller::Sdk {
                user_id: c.sub,
                app_id: c.app_id,
            });
        }
        return Err(ApiError::unauthorized(COULD_NOT_VALIDATE));
    }
    match api_key(state, headers).await? {
        Some(k) => Ok(SdkCaller::ApiKey(k)),
        None => Err(ApiError::unauthorized(
            "Authentication required: provide SDK token or API key",
        )),
    }
}

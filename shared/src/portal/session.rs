//! The portal session: the developer token from `/auth/login` in an `HttpOnly`,
//! `SameSite=Strict` cookie (`Secure` unless the server is plain-http localhost), checked on
//! every request by the API's own developer check; a CSRF token on every form (HMAC of the
//! session under a key of its own, derived from `SECRET_KEY`), an `Origin` check on every POST,
//! and one-shot flash messages after a redirect.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::call::{Api, ApiCache};
use crate::api::State;
use crate::config::Config;
use crate::keys::secrets::{ct_eq, hmac_sha256};
use crate::repo::developers::Developer;

/// The session cookie (the developer access token).
pub const SESSION_COOKIE: &str = "ow_portal";
/// The login form's nonce (CSRF before there is a session).
pub const LOGIN_COOKIE: &str = "ow_portal_login";
/// A one-shot message shown by the next page.
pub const FLASH_COOKIE: &str = "ow_portal_flash";
/// The label of the CSRF key (derived from `SECRET_KEY`; no other secret doubles as it).
const CSRF_LABEL: &str = "ow/portal-csrf/v1";
/// The form field carrying the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// Whether cookies must be `Secure`: always in a Lambda function (API Gateway is https only,
/// whatever `API_BASE_URL` says), and otherwise unless the server's own base URL is plain http
/// on a loopback host (the local server on a laptop; browsers keep `Secure` cookies only over
/// https).
pub fn secure_cookies(config: &Config) -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() || secure_base(config)
}

/// Whether `API_BASE_URL` is anything but plain http on a loopback host.
fn secure_base(config: &Config) -> bool {
    let Some(rest) = config.api_base_url.strip_prefix("http://") else {
        return true;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    !(host.eq_ignore_ascii_case("localhost")
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback()))
}

/// A `Set-Cookie` value scoped to the portal (`max_age` 0 deletes it).
pub fn set_cookie(config: &Config, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if secure_cookies(config) {
        "; Secure"
    } else {
        ""
    };
    let v = format!(
        "{name}={value}; Path=/portal; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        max_age.max(0)
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// The CSRF token of `scope` (`session` or `login`) bound to `value` (the cookie).
pub fn csrf_token(config: &Config, scope: &str, value: &str) -> String {
    let key = crate::keys::derive(&config.secret_key, CSRF_LABEL);
    hex::encode(hmac_sha256(
        key.as_bytes(),
        &[scope.as_bytes(), b"\0", value.as_bytes()],
    ))
}

/// Whether `given` is the CSRF token of `scope` for `value` (constant time).
pub fn csrf_ok(config: &Config, scope: &str, value: &str, given: Option<&str>) -> bool {
    given.is_some_and(|g| ct_eq(&csrf_token(config, scope, value), g))
}

/// A POST must come from the portal's own origin when the browser says where it came from.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .unwrap_or_default();
    origin_host.eq_ignore_ascii_case(host)
}

/// A message for the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub ok: bool,
    pub text: String,
}

impl Flash {
    pub fn ok(text: impl Into<String>) -> Self {
        Self {
            ok: true,
            text: text.into(),
        }
    }
    pub fn err(text: impl Into<String>) -> Self {
        Self {
            ok: false,
            text: text.into(),
        }
    }
    fn encode(&self) -> String {
        let text: String = self.text.chars().take(400).collect();
        let raw = format!("{}{text}", if self.ok { 'o' } else { 'e' });
        URL_SAFE_NO_PAD.encode(raw.as_bytes())
    }
    fn decode(v: &str) -> Option<Self> {
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(v).ok()?).ok()?;
        let mut cs = raw.chars();
        let ok = match cs.next()? {
            'o' => true,
            'e' => false,
            _ => return None,
        };
        Some(Self {
            ok,
            text: cs.as_str().to_string(),
        })
    }
}

/// 303 to `to`, carrying `flash` to the next page.
pub fn redirect(config: &Config, to: &str, flash: Option<Flash>) -> Response {
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response();
    if let Some(f) = flash {
        r.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(config, FLASH_COOKIE, &f.encode(), 60),
        );
    }
    r
}

/// What every portal request has: the state, the API client and the client address.
pub struct Anon {
    pub state: State,
    pub api: Api,
    pub headers: HeaderMap,
    pub flash: Option<Flash>,
}

fn parts_api(parts: &Parts, state: &State, bearer: Option<String>) -> Api {
    let cache = parts
        .extensions
        .get::<ApiCache>()
        .cloned()
        .unwrap_or_default();
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().copied();
    // In Lambda the client address is in the API Gateway request context.
    let context = parts
        .extensions
        .get::<lambda_http::request::RequestContext>()
        .cloned();
    Api::new(cache.router(state), peer, context, bearer)
}

impl FromRequestParts<State> for Anon {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Response> {
        Ok(Self {
            state: state.clone(),
            api: parts_api(parts, state, None),
            flash: cookie(&parts.headers, FLASH_COOKIE).and_then(Flash::decode),
            headers: parts.headers.clone(),
        })
    }
}

/// A logged-in developer's request.
pub struct Page {
    pub state: State,
    pub api: Api,
    pub dev: Developer,
    /// The CSRF token the page's forms carry.
    pub csrf: String,
    pub flash: Option<Flash>,
}

impl FromRequestParts<State> for Page {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Response> {
        let to_login = || {
            // Back to the page after login (a form post goes back to the dashboard).
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .filter(|p| p.starts_with("/portal") && !p.starts_with("/portal/login"))
                .filter(|_| parts.method == axum::http::Method::GET)
                .unwrap_or("/portal");
            let to = format!(
                "/portal/login?{}",
                serde_urlencoded::to_string([("next", next)]).unwrap_or_default()
            );
            redirect(&state.config, &to, None)
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE).map(str::to_string) else {
            return Err(to_login());
        };
        // The API's own developer check, on the token the cookie holds.
        let mut h = HeaderMap::new();
        let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) else {
            return Err(to_login());
        };
        h.insert(header::AUTHORIZATION, v);
        let dev = match crate::auth::guard::optional_developer(state, &h).await {
            Ok(Some(d)) => d,
            Ok(None) => return Err(to_login()),
            Err(e) => return Err(e.into_response()),
        };
        Ok(Self {
            state: state.clone(),
            api: parts_api(parts, state, Some(token.clone())),
            csrf: csrf_token(&state.config, "session", &token),
            flash: cookie(&parts.headers, FLASH_COOKIE).and_then(Flash::decode),
            dev,
        })
    }
}

/// A state-changing form post of a logged-in developer: the session, a same-origin
/// request and a valid CSRF token, or 403.
pub struct Posted {
    pub page: Page,
    pub form: HashMap<String, String>,
    /// Every field in order, repeated names included (a multiple select).
    pub pairs: Vec<(String, String)>,
}

impl Posted {
    /// A trimmed field, `None` when missing or empty.
    pub fn field(&self, name: &str) -> Option<String> {
        self.form
            .get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// Every non-empty value of a repeated field, trimmed, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    }
}

/// The 403 answer to a form without a valid CSRF token.
pub fn forbidden_form() -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "This form has expired or did not come from this portal. Go back, reload the page and try again.",
    )
        .into_response()
}

impl FromRequest<State> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, state: &State) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let page = Page::from_request_parts(&mut parts, state).await?;
        if !same_origin(&parts.headers) {
            return Err(forbidden_form());
        }
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| forbidden_form())?;
        let mut form = HashMap::new();
        for (k, v) in &pairs {
            form.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let given = form.get(CSRF_FIELD).map(String::as_str);
        if !given.is_some_and(|g| ct_eq(&page.csrf, g)) {
            return Err(forbidden_form());
        }
        Ok(Self { page, form, pairs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(base: &str) -> Config {
        let dir = std::env::temp_dir();
        Config::for_tests_with(&dir, &[("API_BASE_URL", base)])
    }

    #[test]
    fn cookies_are_read_from_every_cookie_header() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; ow_portal=tok"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&h, "ow_portal"), Some("tok"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "ow"), None);
    }

    #[test]
    fn cookies_are_secure_except_on_plain_http_localhost() {
        assert!(!secure_cookies(&config("http://localhost:8000")));
        assert!(!secure_cookies(&config("http://127.0.0.1:8000")));
        assert!(secure_cookies(&config("https://api.example.com")));
        assert!(secure_cookies(&config("http://api.example.com")));
        let c = config("https://api.example.com");
        let v = set_cookie(&c, SESSION_COOKIE, "x", 60);
        let v = v.to_str().expect("ascii");
        assert!(v.contains("HttpOnly") && v.contains("SameSite=Strict") && v.contains("Secure"));
    }

    #[test]
    fn csrf_tokens_are_bound_to_scope_and_value() {
        let c = config("http://localhost:8000");
        let t = csrf_token(&c, "session", "abc");
        assert!(csrf_ok(&c, "session", "abc", Some(&t)));
        assert!(!csrf_ok(&c, "session", "abd", Some(&t)));
        assert!(!csrf_ok(&c, "login", "abc", Some(&t)));
        assert!(!csrf_ok(&c, "session", "abc", None));
        assert_ne!(t, crate::keys::derive(&c.secret_key, CSRF_LABEL));
    }

    #[test]
    fn posts_from_another_origin_are_refused() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8000"));
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8000"),
        );
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://evil.test"));
        assert!(!same_origin(&h));
    }

    #[test]
    fn flash_messages_round_trip() {
        let f = Flash::err("Name; with = odd \"chars\" é");
        assert_eq!(Flash::decode(&f.encode()), Some(f));
        assert_eq!(Flash::decode("!!"), None);
    }
}

//! What every fake shares: the OAuth 2.0 authorization-code flow (consent redirect, token and
//! refresh grants, client authentication by Basic header or form fields, PKCE S256), bearer
//! checks on data routes, a dataset per collection, a call log, and fault injection.
//!
//! A provider module supplies a [`Profile`]: its routes (OAuth paths included), its account
//! id, the extras of its token answer, its dataset and its webhook sender.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The client credentials every fake accepts unless told otherwise.
pub const CLIENT_ID: &str = "fake-client-id";
pub const CLIENT_SECRET: &str = "fake-client-secret";

/// How a fake starts.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    pub client_id: String,
    pub client_secret: String,
    /// The first day of the dataset: data is served for `anchor` and the days after it.
    pub anchor: NaiveDate,
    /// Loopback port; 0 picks a free one.
    pub port: u16,
    /// Seconds an access token lives (`expires_in`).
    pub expires_in: i64,
}

impl Default for FakeOptions {
    fn default() -> Self {
        Self {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            anchor: NaiveDate::from_ymd_opt(2024, 6, 1).unwrap_or_default(),
            port: 0,
            expires_in: 86_400,
        }
    }
}

/// Faults the next data calls meet (the OAuth routes only honour `deny_consent` and `revoked`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// The user refuses consent: the authorize redirect carries `error=access_denied`.
    pub deny_consent: bool,
    /// The next N data calls answer 429.
    pub throttle: u32,
    /// The next N data calls answer 503.
    pub server_errors: u32,
    /// The next N data calls wait `slow_ms` before answering (client timeouts).
    pub slow: u32,
    pub slow_ms: u64,
    /// The user revoked access: tokens are refused and refresh grants fail with `invalid_grant`.
    pub revoked: bool,
    /// The next N data calls to a path answer 503 (calls to other paths are unaffected), e.g.
    /// the user-info call our OAuth callback makes.
    pub path_errors: BTreeMap<String, u32>,
}

/// A pending authorization code.
#[derive(Debug, Clone)]
pub struct Grant {
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub scope: Option<String>,
}

/// Everything a fake remembers.
#[derive(Debug, Default)]
pub struct FakeState {
    pub codes: HashMap<String, Grant>,
    pub access_tokens: HashSet<String>,
    pub refresh_tokens: HashSet<String>,
    pub faults: Faults,
    /// `METHOD /path?query` of every data call, in order.
    pub calls: Vec<String>,
    /// The dataset, by collection name (provider-defined).
    pub items: HashMap<String, Vec<Value>>,
    /// Refresh grants answered.
    pub refreshes: u32,
    /// Deregistration / revocation calls received.
    pub deregistrations: u32,
    /// Webhook subscriptions registered with the fake (provider-defined shape).
    pub subscriptions: Vec<Value>,
    /// Gates on data paths (see [`Fake::gate`]), with the calls to let through first.
    pub gates: HashMap<String, (u32, Gate)>,
    /// Every request the fake received, whole (the last [`MAX_RECORDED`]): what left our
    /// process, for tests that check no secret does.
    pub requests: Vec<RecordedRequest>,
    counter: u64,
}

/// How many requests a fake keeps in [`FakeState::requests`].
pub const MAX_RECORDED: usize = 10_000;

/// One request as the fake received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query, as sent.
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RecordedRequest {
    /// Everything of the request as one text (URI, headers, body), for searching.
    pub fn text(&self) -> String {
        let mut t = format!("{} {}\n", self.method, self.uri);
        for (k, v) in &self.headers {
            t.push_str(&format!("{k}: {v}\n"));
        }
        t.push_str(&self.body);
        t
    }
}

/// Records every request into the fake's state (bodies up to 1 MiB).
async fn record(
    State(fake): State<Fake>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response();
    };
    let rec = RecordedRequest {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    };
    fake.with(|s| {
        if s.requests.len() >= MAX_RECORDED {
            s.requests.remove(0);
        }
        s.requests.push(rec);
    });
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

/// A data call held at the fake until the test releases it, so that a test can interleave
/// our server's work with its own requests deterministically (see [`Fake::gate`]).
#[derive(Debug, Clone, Default)]
pub struct Gate {
    arrived: Arc<tokio::sync::Notify>,
    release: Arc<tokio::sync::Notify>,
}

impl Gate {
    /// Waits until the gated call has arrived (its answer is decided, not yet sent); false
    /// after `timeout`.
    pub async fn arrived(&self, timeout: std::time::Duration) -> bool {
        tokio::time::timeout(timeout, self.arrived.notified())
            .await
            .is_ok()
    }

    /// Lets the held call answer.
    pub fn release(&self) {
        self.release.notify_one();
    }
}

/// Sends one provider webhook of `kind` to our API at `target` (its origin); answers our
/// HTTP status.
pub type WebhookSender =
    fn(Fake, String, String) -> Pin<Box<dyn Future<Output = Result<u16, String>> + Send>>;

/// What makes a fake a particular provider.
pub struct Profile {
    pub provider: &'static str,
    /// The user's account id at the provider (what user-info and webhooks carry).
    pub account_id: &'static str,
    /// The provider's routes, OAuth ones included (see [`oauth_routes`]).
    pub routes: fn() -> Router<Fake>,
    /// The dataset for a given anchor day.
    pub seed: fn(NaiveDate) -> HashMap<String, Vec<Value>>,
    /// Extra fields of the token answer (Polar `x_user_id`, Fitbit `user_id`, ...).
    pub token_extra: fn(&Fake) -> Value,
    /// Makes an access token (opaque by default; Suunto's is a JWT).
    pub access_token: fn(&Fake, u64) -> String,
    /// Kinds of webhook this fake can send, and the sender.
    pub webhooks: &'static [&'static str],
    pub send_webhook: Option<WebhookSender>,
}

/// An opaque access token.
pub fn opaque_token(fake: &Fake, n: u64) -> String {
    format!("{}-access-{n}", fake.provider())
}

/// No token extras.
pub fn no_extra(_: &Fake) -> Value {
    json!({})
}

struct Inner {
    profile: Profile,
    opts: FakeOptions,
    state: Mutex<FakeState>,
}

/// A running or runnable fake (cheap to clone).
#[derive(Clone)]
pub struct Fake(Arc<Inner>);

impl Fake {
    pub fn new(profile: Profile, opts: FakeOptions) -> Self {
        let items = (profile.seed)(opts.anchor);
        let fake = Self(Arc::new(Inner {
            profile,
            opts,
            state: Mutex::new(FakeState::default()),
        }));
        fake.with(|s| s.items = items);
        fake
    }

    pub fn provider(&self) -> &'static str {
        self.0.profile.provider
    }

    pub fn account_id(&self) -> &'static str {
        self.0.profile.account_id
    }

    pub fn anchor(&self) -> NaiveDate {
        self.0.opts.anchor
    }

    /// The fake's clock for webhook timestamps and new items: the real time while the dataset
    /// is current (the demo anchors it a week back), else anchor + 9 days 12:00Z, the instant
    /// the end-to-end rig's manual clock reads.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        let anchor = self.anchor();
        let real = chrono::Utc::now();
        let today = real.date_naive();
        if today >= anchor && today <= anchor + chrono::Duration::days(30) {
            real
        } else {
            anchor.and_hms_opt(12, 0, 0).unwrap_or_default().and_utc() + chrono::Duration::days(9)
        }
    }

    pub fn options(&self) -> &FakeOptions {
        &self.0.opts
    }

    pub fn profile(&self) -> &Profile {
        &self.0.profile
    }

    fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.0
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on the fake's state.
    pub fn with<R>(&self, f: impl FnOnce(&mut FakeState) -> R) -> R {
        f(&mut self.lock())
    }

    pub fn set_faults(&self, faults: Faults) {
        self.with(|s| s.faults = faults);
    }

    /// The next `n` data calls answer 429.
    pub fn throttle(&self, n: u32) {
        self.with(|s| s.faults.throttle = n);
    }

    /// The next `n` data calls answer 503.
    pub fn fail(&self, n: u32) {
        self.with(|s| s.faults.server_errors = n);
    }

    /// The next `n` data calls to `path` answer 503.
    pub fn fail_path(&self, path: &str, n: u32) {
        self.with(|s| {
            s.faults.path_errors.insert(path.to_string(), n);
        });
    }

    /// Holds the data call to `path` that comes after `skip` others to it: the call is
    /// checked and logged, then waits for [`Gate::release`] before it answers.
    pub fn gate(&self, path: &str, skip: u32) -> Gate {
        let gate = Gate::default();
        self.with(|s| s.gates.insert(path.to_string(), (skip, gate.clone())));
        gate
    }

    /// The next `n` data calls take `ms` milliseconds.
    pub fn slow(&self, n: u32, ms: u64) {
        self.with(|s| {
            s.faults.slow = n;
            s.faults.slow_ms = ms;
        });
    }

    /// The user revokes access at the provider.
    pub fn revoke(&self) {
        self.with(|s| {
            s.faults.revoked = true;
            s.access_tokens.clear();
            s.refresh_tokens.clear();
        });
    }

    /// Every access token stops working (refresh tokens still do).
    pub fn expire_access_tokens(&self) {
        self.with(|s| s.access_tokens.clear());
    }

    pub fn deny_consent(&self, deny: bool) {
        self.with(|s| s.faults.deny_consent = deny);
    }

    pub fn calls(&self) -> Vec<String> {
        self.with(|s| s.calls.clone())
    }

    pub fn items(&self, kind: &str) -> Vec<Value> {
        self.with(|s| s.items.get(kind).cloned().unwrap_or_default())
    }

    pub fn add_item(&self, kind: &str, item: Value) {
        self.with(|s| s.items.entry(kind.to_string()).or_default().push(item));
    }

    fn next(&self) -> u64 {
        self.with(|s| {
            s.counter += 1;
            s.counter
        })
    }

    /// Issues a fresh access/refresh token pair.
    pub fn issue_tokens(&self) -> (String, String) {
        let n = self.next();
        let access = (self.0.profile.access_token)(self, n);
        let refresh = format!("{}-refresh-{n}", self.provider());
        self.with(|s| {
            s.access_tokens.insert(access.clone());
            s.refresh_tokens.insert(refresh.clone());
        });
        (access, refresh)
    }

    /// Checks a data call: logs it, wants a live bearer token, then applies the faults (slow,
    /// then 429, then 503). `Err` is the answer to send instead.
    pub async fn guard(&self, uri: &Uri, headers: &HeaderMap) -> Result<(), Response> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string);
        let (slow, verdict, gate) = self.with(|s| {
            s.calls.push(format!(
                "{} {}",
                uri.path(),
                uri.query().unwrap_or_default()
            ));
            let gate = match s.gates.get_mut(uri.path()) {
                Some((skip, _)) if *skip > 0 => {
                    *skip -= 1;
                    None
                }
                Some(_) => s.gates.remove(uri.path()).map(|(_, g)| g),
                None => None,
            };
            let known = token.as_ref().is_some_and(|t| s.access_tokens.contains(t));
            let slow = if s.faults.slow > 0 {
                s.faults.slow -= 1;
                Some(s.faults.slow_ms)
            } else {
                None
            };
            let path_fault = s.faults.path_errors.get_mut(uri.path()).filter(|n| **n > 0);
            let verdict = if s.faults.revoked || !known {
                Err(StatusCode::UNAUTHORIZED)
            } else if let Some(n) = path_fault {
                *n -= 1;
                Err(StatusCode::SERVICE_UNAVAILABLE)
            } else if s.faults.throttle > 0 {
                s.faults.throttle -= 1;
                Err(StatusCode::TOO_MANY_REQUESTS)
            } else if s.faults.server_errors > 0 {
                s.faults.server_errors -= 1;
                Err(StatusCode::SERVICE_UNAVAILABLE)
            } else {
                Ok(())
            };
            (slow, verdict, gate)
        });
        if let Some(g) = gate {
            g.arrived.notify_one();
            g.release.notified().await;
        }
        if let Some(ms) = slow {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        verdict.map_err(|status| {
            let msg = match status {
                StatusCode::UNAUTHORIZED => "invalid or expired access token",
                StatusCode::TOO_MANY_REQUESTS => "rate limit exceeded",
                _ => "temporarily unavailable",
            };
            (status, axum::Json(json!({"error": msg}))).into_response()
        })
    }

    /// Sends a webhook of `kind` to our API at `target` (e.g. `http://127.0.0.1:8000`).
    pub async fn send_webhook(&self, target: &str, kind: &str) -> Result<u16, String> {
        match self.0.profile.send_webhook {
            Some(send) => send(self.clone(), target.to_string(), kind.to_string()).await,
            None => Err(format!("{} sends no webhooks", self.provider())),
        }
    }
}

/// The data routes' guard as a one-liner: `guard!(fake, uri, headers);`.
#[macro_export]
macro_rules! guard {
    ($fake:expr, $uri:expr, $headers:expr) => {
        if let Err(resp) = $fake.guard(&$uri, &$headers).await {
            return resp;
        }
    };
}

/// A URL with query parameters appended.
pub fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let qs = serde_urlencoded::to_string(pairs).unwrap_or_default();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{qs}")
}

/// `GET <authorize>`: the user consents at once (or refuses, per the faults) and the browser
/// goes back to `redirect_uri` with `code` and `state`.
pub async fn authorize(
    State(fake): State<Fake>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(redirect) = q.get("redirect_uri").cloned() else {
        return (StatusCode::BAD_REQUEST, "missing redirect_uri").into_response();
    };
    if q.get("client_id").map(String::as_str) != Some(fake.options().client_id.as_str()) {
        return (StatusCode::BAD_REQUEST, "unknown client_id").into_response();
    }
    if q.get("response_type").map(String::as_str) != Some("code") {
        return (StatusCode::BAD_REQUEST, "response_type must be code").into_response();
    }
    let state = q.get("state").cloned().unwrap_or_default();
    if fake.with(|s| s.faults.deny_consent) {
        return Redirect::to(&with_query(
            &redirect,
            &[
                ("error", "access_denied"),
                ("error_description", "The user denied access"),
                ("state", &state),
            ],
        ))
        .into_response();
    }
    if q.contains_key("code_challenge")
        && q.get("code_challenge_method").map(String::as_str) != Some("S256")
    {
        return (
            StatusCode::BAD_REQUEST,
            "code_challenge_method must be S256",
        )
            .into_response();
    }
    let code = format!("{}-code-{}", fake.provider(), fake.next());
    fake.with(|s| {
        s.codes.insert(
            code.clone(),
            Grant {
                redirect_uri: redirect.clone(),
                code_challenge: q.get("code_challenge").cloned(),
                scope: q.get("scope").cloned(),
            },
        )
    });
    Redirect::to(&with_query(
        &redirect,
        &[("code", &code), ("state", &state)],
    ))
    .into_response()
}

fn client_credentials(headers: &HeaderMap, form: &HashMap<String, String>) -> (String, String) {
    if let Some((id, secret)) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        })
    {
        return (id, secret);
    }
    (
        form.get("client_id").cloned().unwrap_or_default(),
        form.get("client_secret").cloned().unwrap_or_default(),
    )
}

fn oauth_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// The token answer for a fresh pair, with the provider's extras.
pub fn token_answer(fake: &Fake, scope: Option<String>) -> Value {
    let (access, refresh) = fake.issue_tokens();
    let mut v = json!({
        "access_token": access,
        "token_type": "bearer",
        "expires_in": fake.options().expires_in,
        "refresh_token": refresh,
    });
    if let Some(s) = scope {
        v["scope"] = Value::String(s);
    }
    if let (Some(obj), Value::Object(extra)) =
        (v.as_object_mut(), (fake.profile().token_extra)(fake))
    {
        obj.extend(extra);
    }
    v
}

/// `POST <token>`: the authorization-code and refresh-token grants.
pub async fn token(State(fake): State<Fake>, headers: HeaderMap, body: String) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_str(&body).unwrap_or_default();
    let (id, secret) = client_credentials(&headers, &form);
    if id != fake.options().client_id || secret != fake.options().client_secret {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = form.get("code").cloned().unwrap_or_default();
            let Some(grant) = fake.with(|s| s.codes.remove(&code)) else {
                return oauth_error("invalid_grant", "unknown or used authorization code");
            };
            if form.get("redirect_uri") != Some(&grant.redirect_uri) {
                return oauth_error("invalid_grant", "redirect_uri does not match");
            }
            if let Some(challenge) = &grant.code_challenge {
                let verifier = form.get("code_verifier").cloned().unwrap_or_default();
                let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(Sha256::digest(verifier.as_bytes()));
                if &computed != challenge {
                    return oauth_error("invalid_grant", "PKCE verification failed");
                }
            }
            axum::Json(token_answer(&fake, grant.scope)).into_response()
        }
        Some("refresh_token") => {
            let refresh = form.get("refresh_token").cloned().unwrap_or_default();
            let ok = fake.with(|s| {
                !s.faults.revoked && s.refresh_tokens.remove(&refresh) && {
                    s.refreshes += 1;
                    true
                }
            });
            if !ok {
                return oauth_error("invalid_grant", "refresh token revoked or unknown");
            }
            axum::Json(token_answer(&fake, None)).into_response()
        }
        _ => oauth_error("unsupported_grant_type", "grant_type"),
    }
}

/// The OAuth routes at the provider's own paths.
pub fn oauth_routes(authorize_path: &str, token_path: &str) -> Router<Fake> {
    Router::new()
        .route(authorize_path, get(authorize))
        .route(token_path, post(token))
}

async fn control_state(State(fake): State<Fake>) -> Response {
    let v = fake.with(|s| {
        json!({
            "provider": fake.provider(),
            "account_id": fake.account_id(),
            "anchor": fake.anchor().to_string(),
            "faults": s.faults,
            "calls": s.calls,
            "refreshes": s.refreshes,
            "deregistrations": s.deregistrations,
            "collections": s.items.iter().map(|(k, v)| (k.clone(), v.len())).collect::<HashMap<_, _>>(),
            "webhooks": fake.profile().webhooks,
        })
    });
    axum::Json(v).into_response()
}

async fn control_faults(State(fake): State<Fake>, axum::Json(f): axum::Json<Faults>) -> Response {
    fake.set_faults(f.clone());
    axum::Json(json!({"faults": f})).into_response()
}

async fn control_webhook(
    State(fake): State<Fake>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (Some(target), Some(kind)) = (q.get("target"), q.get("kind")) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"detail": "target and kind are required"})),
        )
            .into_response();
    };
    match fake.send_webhook(target, kind).await {
        Ok(status) => axum::Json(json!({"sent": kind, "api_status": status})).into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, axum::Json(json!({"detail": e}))).into_response(),
    }
}

/// Test and demo controls: `GET /_fake/state`, `POST /_fake/faults` (a [`Faults`] object),
/// `POST /_fake/webhook?target=<api origin>&kind=<kind>`.
pub fn control_routes() -> Router<Fake> {
    Router::new()
        .route("/_fake/state", get(control_state))
        .route("/_fake/faults", post(control_faults))
        .route("/_fake/webhook", post(control_webhook))
}

/// The whole app of one fake (every request recorded, see [`FakeState::requests`]).
pub fn app(fake: Fake) -> Router {
    ((fake.profile().routes)())
        .merge(control_routes())
        .layer(axum::middleware::from_fn_with_state(fake.clone(), record))
        .with_state(fake)
}

/// Where a fake posts a webhook: `target` itself when it is a full webhook URL (it has a
/// path, e.g. one carrying our URL secret), else `{target}{default_path}` (our API origin).
pub fn webhook_target(target: &str, default_path: &str) -> String {
    let t = target.trim_end_matches('/');
    let has_path = t
        .split_once("://")
        .is_some_and(|(_, rest)| rest.contains('/'));
    if has_path {
        t.to_string()
    } else {
        format!("{t}{default_path}")
    }
}

/// A fake listening on loopback.
pub struct RunningFake {
    pub fake: Fake,
    /// `http://127.0.0.1:<port>`: the value for `<PROVIDER>_BASE_URL`.
    pub base_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for RunningFake {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Starts a fake for `profile` on loopback.
pub async fn serve(profile: Profile, opts: FakeOptions) -> std::io::Result<RunningFake> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port)).await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let fake = Fake::new(profile, opts);
    let app = app(fake.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Ok(RunningFake {
        fake,
        base_url,
        stop: Some(tx),
    })
}

/// Posts a signed webhook body to our API; answers our status.
pub async fn post_webhook(
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Result<u16, String> {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    req.send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("webhook to {url}: {e}"))
}

/// Lower-case hex of HMAC-SHA256 over `parts`.
pub fn hmac_hex(key: &[u8], parts: &[&[u8]]) -> String {
    hmac_raw(key, parts)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// HMAC-SHA256 over `parts`.
pub fn hmac_raw(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        return Vec::new();
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

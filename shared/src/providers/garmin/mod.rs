//! Garmin (providers.md §4.1): push webhooks, the Backfill API and deregistration.
//!
//! Garmin forbids polling, so there is no pull of data: every summary arrives as a **push**
//! notification, a JSON object keyed by summary type (`activities`, `sleeps`, `dailies`, ...)
//! whose items carry the Garmin `userId`. [`webhook`] checks the `garmin-client-id` header and
//! maps each (user, summary type) group into one [`WebhookEvent::Data`], plus lifecycle events
//! (`deregistrations` → [`WebhookEvent::Deauthorized`], `userPermissionsChange` →
//! [`WebhookEvent::Scope`]).
//!
//! History comes from the Backfill API: [`pull`] asks Garmin to re-send every summary type of a
//! window (`GET /wellness-api/rest/backfill/{type}` → 202) in chunks of at most 30 days; the
//! data then arrives through the push webhook, so a backfill window itself stores nothing.

pub mod backfill;
pub mod mapping;
pub mod pull;
pub mod webhook;

use chrono::{DateTime, Utc};
use serde_json::Value;

use self::pull::{vendor_workout, vendor_workouts};
use self::webhook::webhook;
use super::sync::{FetchError, Fetcher, Pulled};
use super::webhook::{WebhookError, WebhookEvent, WebhookReply, WebhookRequest};
use crate::domain::provider::Provider;

/// The header every Garmin push carries (its value is our client id).
pub const CLIENT_ID_HEADER: &str = "garmin-client-id";

/// The call that confirms a deregistration: refused (401) once the user removed our app.
pub const ACCOUNT_PROBE: &str = "/partner-gateway/rest/user/id";

/// The user's granted permissions (`{"permissions": [...]}`), read back on a
/// `userPermissionsChange` push instead of trusting the push.
pub const PERMISSIONS_PATH: &str = "/partner-gateway/rest/user/permissions";

/// The stored scope of a permissions answer: sorted, de-duplicated, space-joined.
pub fn scope_of(v: &Value) -> String {
    let mut perms: Vec<String> = v
        .get("permissions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect();
    perms.sort();
    perms.dedup();
    perms.join(" ")
}

/// Longest range Garmin accepts in one backfill request.
pub const BACKFILL_CHUNK_DAYS: i64 = 30;

/// Shorter range tried once when Garmin answers "min start time" (the reference used 31 days
/// for wellness types, longer than the chunk itself: providers.md Appendix C #7).
pub const MIN_START_FALLBACK_DAYS: i64 = 14;

/// Backfill API paths, in request order (the five the reference orchestrates first).
pub const BACKFILL_TYPES: [&str; 16] = [
    "sleeps",
    "dailies",
    "activities",
    "activityDetails",
    "hrv",
    "stressDetails",
    "respiration",
    "pulseOx",
    "bodyComps",
    "userMetrics",
    "bloodPressures",
    "skinTemp",
    "healthSnapshot",
    "epochs",
    "moveiq",
    "mct",
];

/// The push key under which Garmin delivers a backfill path's data (three differ).
pub fn push_key(backfill_path: &str) -> &str {
    match backfill_path {
        "respiration" => "allDayRespiration",
        "pulseOx" => "pulseox",
        "moveiq" => "moveIQActivities",
        other => other,
    }
}

/// Push keys with data we store, in the reference's processing order: activities first, then
/// the wellness keys (`activityDetails` after the others so `activities` defines a workout).
pub const DATA_KEYS: [&str; 13] = [
    "activities",
    "dailies",
    "epochs",
    "sleeps",
    "bodyComps",
    "hrv",
    "stressDetails",
    "allDayRespiration",
    "pulseox",
    "healthSnapshot",
    "skinTemp",
    "userMetrics",
    "bloodPressures",
];

/// `activityDetails` comes after every other data key.
const DETAILS_KEY: &str = "activityDetails";

/// Deregisters the user at Garmin (`DELETE /partner-gateway/rest/user/registration`).
pub async fn deregister(f: &Fetcher<'_>) -> Result<(), FetchError> {
    f.send(
        reqwest::Method::DELETE,
        "/partner-gateway/rest/user/registration",
        &[],
        None,
    )
    .await
    .map(|_| ())
}

/// The Garmin integration.
pub struct Garmin;

#[async_trait::async_trait]
impl super::Integration for Garmin {
    fn provider(&self) -> Provider {
        Provider::Garmin
    }

    /// `GET /partner-gateway/rest/user/permissions` (`None` on failure).
    async fn granted_scope(&self, f: &Fetcher<'_>) -> Option<String> {
        let v = f.get(PERMISSIONS_PATH, &[]).await.ok()?;
        Some(scope_of(&v)).filter(|s| !s.is_empty())
    }

    /// A new consent starts the backfill afresh (also after a permanent failure).
    async fn on_connect(
        &self,
        state: &crate::app::AppState,
        _f: &Fetcher<'_>,
        conn: &crate::repo::connections::Connection,
    ) -> Result<(), crate::store::StoreError> {
        state.db.delete_garmin_backfill(conn.user_id).await
    }

    /// Backfill requests whose progress the user's backfill state records.
    async fn pull(
        &self,
        state: &crate::app::AppState,
        user: uuid::Uuid,
        f: &Fetcher<'_>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Pulled, FetchError> {
        backfill::run_window(state, user, f, start, end).await
    }

    fn probe(&self, event: &WebhookEvent) -> Option<super::webhook::Probe> {
        use super::webhook::Probe;
        match event {
            WebhookEvent::Deauthorized { .. } => Some(Probe::Account(ACCOUNT_PROBE)),
            WebhookEvent::Scope { .. } => Some(Probe::Permissions(PERMISSIONS_PATH)),
            _ => None,
        }
    }

    async fn delivered(
        &self,
        state: &crate::app::AppState,
        user: uuid::Uuid,
        kind: &str,
    ) -> Result<(), crate::store::StoreError> {
        backfill::delivered(state, user, kind).await
    }

    fn user_info_endpoint(&self) -> Option<super::UserInfoEndpoint> {
        Some(super::UserInfoEndpoint {
            path: "/partner-gateway/rest/user/id",
            id: "/userId",
            username: None,
        })
    }

    fn identify_on_sync(&self) -> bool {
        true
    }

    fn webhook(&self, req: &WebhookRequest<'_>) -> Result<WebhookReply, WebhookError> {
        webhook(req)
    }

    async fn deregister(&self, f: &Fetcher<'_>) -> Result<(), FetchError> {
        deregister(f).await
    }

    async fn vendor_workouts(
        &self,
        f: &Fetcher<'_>,
        opts: &super::VendorOptions,
    ) -> Result<Value, FetchError> {
        vendor_workouts(f, opts).await
    }

    async fn vendor_workout(
        &self,
        f: &Fetcher<'_>,
        workout_id: &str,
        _opts: &super::VendorOptions,
    ) -> Result<Value, FetchError> {
        vendor_workout(f, workout_id).await
    }
}

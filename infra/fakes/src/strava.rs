//! Fake strava (providers.md §4.6). Only the OAuth routes so far: no data, no webhooks.

use std::collections::HashMap;

use axum::Router;
use chrono::NaiveDate;
use serde_json::Value;

use crate::core::{Fake, Profile, no_extra, oauth_routes, opaque_token};

pub const ACCOUNT_ID: &str = "strava-user-1";

pub fn profile() -> Profile {
    Profile {
        provider: "strava",
        account_id: ACCOUNT_ID,
        routes,
        seed,
        token_extra: no_extra,
        access_token: opaque_token,
        webhooks: &[],
        send_webhook: None,
    }
}

fn routes() -> Router<Fake> {
    oauth_routes("/oauth/authorize", "/oauth/token")
}

pub fn seed(_anchor: NaiveDate) -> HashMap<String, Vec<Value>> {
    HashMap::new()
}

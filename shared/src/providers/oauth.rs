//! The OAuth token endpoint: the answers of code exchanges and refresh grants.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

/// A token endpoint answer.
#[derive(Debug, Deserialize)]
pub struct TokenAnswer {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: Option<i64>,
    pub scope: Option<String>,
    /// Provider-specific fields (Polar's `x_user_id`, Fitbit's `user_id`).
    #[serde(flatten)]
    pub extra: HashMap<String, Value>,
}

impl TokenAnswer {
    /// A provider-specific field as text (numbers as their decimal text).
    pub fn extra_text(&self, name: &str) -> Option<String> {
        match self.extra.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

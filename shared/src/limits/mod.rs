//! Limits and timeouts of the HTTP server and of login (README "Limits and timeouts"): read
//! once from the settings with defaults that are safe on the open internet.

pub mod login;

use std::time::Duration;

use crate::config::{ConfigError, Settings};

/// Server-side limits. Every wait has a timeout, every pool a bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// A client must send a whole request head within this time, also when an idle
    /// keep-alive connection starts its next request (`OW_HEADER_READ_TIMEOUT_SECONDS`, 10).
    pub header_read_timeout: Duration,
    /// Longest time from a request head to the response head, body upload included
    /// (`OW_REQUEST_TIMEOUT_SECONDS`, 60). Server-sent event streams are bounded by
    /// `stream_max` instead once their head is sent.
    pub request_timeout: Duration,
    /// Longest life of one server-sent events stream; clients reconnect
    /// (`OW_STREAM_MAX_SECONDS`, 3600).
    pub stream_max: Duration,
    /// Open connections at once; more wait in the listen backlog until one closes
    /// (`OW_MAX_CONNECTIONS`, default: 3/4 of the process's open-file limit, at most 4096).
    pub max_connections: usize,
    /// Requests being handled at once; excess is answered 503 with `Retry-After`
    /// (`OW_MAX_IN_FLIGHT_REQUESTS`, 256).
    pub max_in_flight: usize,
    /// Failed logins per account (email) within `login_window` before 429
    /// (`OW_LOGIN_MAX_FAILURES_PER_ACCOUNT`, 10; 0 turns this limit off).
    pub login_failures_per_account: u32,
    /// Failed logins per client address within `login_window` before 429
    /// (`OW_LOGIN_MAX_FAILURES_PER_ADDRESS`, 30; 0 turns this limit off).
    pub login_failures_per_address: u32,
    /// Window of the failed-login counts (`OW_LOGIN_WINDOW_SECONDS`, 900).
    pub login_window: Duration,
    /// Accounts and addresses tracked at once by the login limiter
    /// (`OW_LOGIN_LIMITER_ENTRIES`, 10000 each).
    pub login_limiter_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            stream_max: Duration::from_secs(3600),
            max_connections: default_max_connections(),
            max_in_flight: 256,
            login_failures_per_account: 10,
            login_failures_per_address: 30,
            login_window: Duration::from_secs(900),
            login_limiter_entries: 10_000,
        }
    }
}

fn positive<T: PartialOrd + Default>(name: &'static str, v: T) -> Result<T, ConfigError> {
    if v > T::default() {
        Ok(v)
    } else {
        Err(ConfigError::Invalid {
            name,
            reason: "must be positive".into(),
        })
    }
}

impl Limits {
    pub fn from_settings(s: &Settings) -> Result<Self, ConfigError> {
        let d = Self::default();
        let secs = |name: &'static str, default: Duration| -> Result<Duration, ConfigError> {
            let v: u64 = s.parse(name, default.as_secs())?;
            Ok(Duration::from_secs(positive(name, v)?))
        };
        Ok(Self {
            header_read_timeout: secs("OW_HEADER_READ_TIMEOUT_SECONDS", d.header_read_timeout)?,
            request_timeout: secs("OW_REQUEST_TIMEOUT_SECONDS", d.request_timeout)?,
            stream_max: secs("OW_STREAM_MAX_SECONDS", d.stream_max)?,
            max_connections: positive(
                "OW_MAX_CONNECTIONS",
                s.parse("OW_MAX_CONNECTIONS", d.max_connections)?,
            )?,
            max_in_flight: positive(
                "OW_MAX_IN_FLIGHT_REQUESTS",
                s.parse("OW_MAX_IN_FLIGHT_REQUESTS", d.max_in_flight)?,
            )?,
            login_failures_per_account: s.parse(
                "OW_LOGIN_MAX_FAILURES_PER_ACCOUNT",
                d.login_failures_per_account,
            )?,
            login_failures_per_address: s.parse(
                "OW_LOGIN_MAX_FAILURES_PER_ADDRESS",
                d.login_failures_per_address,
            )?,
            login_window: secs("OW_LOGIN_WINDOW_SECONDS", d.login_window)?,
            login_limiter_entries: positive(
                "OW_LOGIN_LIMITER_ENTRIES",
                s.parse("OW_LOGIN_LIMITER_ENTRIES", d.login_limiter_entries)?,
            )?,
        })
    }
}

/// The soft open-file limit of this process (Linux `/proc/self/limits`), if known.
pub fn open_file_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// 3/4 of the open-file limit (the rest is for the store, outbound calls and logs), at most
/// 4096; 768 when the limit is unknown.
fn default_max_connections() -> usize {
    let limit = open_file_limit().unwrap_or(1024);
    (limit / 4 * 3).clamp(16, 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_override_defaults_and_zero_timeouts_are_refused() {
        let s = Settings::from_pairs([
            ("OW_HEADER_READ_TIMEOUT_SECONDS", "3"),
            ("OW_MAX_CONNECTIONS", "50"),
            ("OW_LOGIN_MAX_FAILURES_PER_ACCOUNT", "0"),
        ]);
        let l = Limits::from_settings(&s).expect("valid");
        assert_eq!(l.header_read_timeout, Duration::from_secs(3));
        assert_eq!(l.max_connections, 50);
        assert_eq!(l.login_failures_per_account, 0);
        assert_eq!(l.request_timeout, Limits::default().request_timeout);
        let bad = Settings::from_pairs([("OW_REQUEST_TIMEOUT_SECONDS", "0")]);
        let err = Limits::from_settings(&bad).err().map(|e| e.to_string());
        assert!(
            err.is_some_and(|e| e.contains("OW_REQUEST_TIMEOUT_SECONDS")),
            "zero timeout must be refused"
        );
    }

    #[test]
    fn the_default_connection_cap_stays_below_the_file_limit() {
        let cap = Limits::default().max_connections;
        if let Some(limit) = open_file_limit() {
            assert!(cap < limit, "cap {cap} vs limit {limit}");
        }
    }
}

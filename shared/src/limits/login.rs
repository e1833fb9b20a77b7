//! Failed-login limits per account and per client address (issue #9 item 4).
//!
//! Each key counts failures in a fixed window that starts at its first failure; at the
//! limit, logins for that key are refused with 429 until the window ends, before any
//! password is hashed. Accounts are keyed by a SHA-256 of the lower-cased email (fixed size
//! whatever the client sends), IPv6 addresses by their /64. Each map holds at most
//! `login_limiter_entries` keys: when full, expired entries go first, then the oldest.
//! The state is per process (per warm instance in Lambda).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::limits::Limits;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    since: DateTime<Utc>,
}

#[derive(Debug)]
struct Counter<K> {
    max: u32,
    entries: HashMap<K, Entry>,
}

impl<K: Hash + Eq + Clone> Counter<K> {
    fn new(max: u32) -> Self {
        Self {
            max,
            entries: HashMap::new(),
        }
    }

    /// Seconds until `key` may try again, if it is over the limit now.
    fn blocked(&self, key: &K, now: DateTime<Utc>, window: chrono::Duration) -> Option<u64> {
        if self.max == 0 {
            return None;
        }
        let e = self.entries.get(key)?;
        let end = e.since + window;
        (e.failures >= self.max && end > now)
            .then(|| u64::try_from((end - now).num_seconds()).unwrap_or(0).max(1))
    }

    fn fail(&mut self, key: K, now: DateTime<Utc>, window: chrono::Duration, cap: usize) {
        if self.max == 0 {
            return;
        }
        if let Some(e) = self.entries.get_mut(&key) {
            if e.since + window <= now {
                *e = Entry {
                    failures: 1,
                    since: now,
                };
            } else {
                e.failures = e.failures.saturating_add(1);
            }
            return;
        }
        if self.entries.len() >= cap {
            self.entries.retain(|_, e| e.since + window > now);
        }
        if self.entries.len() >= cap {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.since)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.entries.remove(&k);
            }
        }
        self.entries.insert(
            key,
            Entry {
                failures: 1,
                since: now,
            },
        );
    }
}

#[derive(Debug)]
struct Inner {
    accounts: Counter<[u8; 32]>,
    addresses: Counter<Option<IpAddr>>,
}

/// The limiter; one per application context (process).
#[derive(Debug)]
pub struct LoginLimiter {
    window: chrono::Duration,
    cap: usize,
    inner: Mutex<Inner>,
}

fn account_key(email: &str) -> [u8; 32] {
    Sha256::digest(email.trim().to_lowercase().as_bytes()).into()
}

/// IPv6 clients usually own a whole /64: count the prefix, not the address.
fn address_key(ip: Option<IpAddr>) -> Option<IpAddr> {
    ip.map(|ip| match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
        v4 => v4,
    })
}

impl LoginLimiter {
    pub fn new(limits: &Limits) -> Self {
        let window = chrono::Duration::from_std(limits.login_window)
            .unwrap_or_else(|_| chrono::Duration::seconds(900));
        Self {
            window,
            cap: limits.login_limiter_entries.max(1),
            inner: Mutex::new(Inner {
                accounts: Counter::new(limits.login_failures_per_account),
                addresses: Counter::new(limits.login_failures_per_address),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits one login attempt, counted as a failure from the start so that concurrent
    /// attempts cannot all slip past the limit; `Err(seconds)` (nothing counted) when the
    /// address or the account has failed too often lately. Call [`Self::succeeded`] when
    /// the password was right.
    pub fn attempt(&self, email: &str, ip: Option<IpAddr>, now: DateTime<Utc>) -> Result<(), u64> {
        let (account, address) = (account_key(email), address_key(ip));
        let mut inner = self.lock();
        let by_address = inner.addresses.blocked(&address, now, self.window);
        let by_account = inner.accounts.blocked(&account, now, self.window);
        if let Some(s) = by_address.max(by_account) {
            return Err(s);
        }
        inner.addresses.fail(address, now, self.window, self.cap);
        inner.accounts.fail(account, now, self.window, self.cap);
        Ok(())
    }

    /// A good login: the account's count is cleared, the address's attempt taken back.
    pub fn succeeded(&self, email: &str, ip: Option<IpAddr>) {
        let mut inner = self.lock();
        inner.accounts.entries.remove(&account_key(email));
        if let Some(e) = inner.addresses.entries.get_mut(&address_key(ip)) {
            e.failures = e.failures.saturating_sub(1);
        }
    }

    /// Keys held: (accounts, addresses).
    pub fn tracked(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.accounts.entries.len(), inner.addresses.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_account: u32, per_address: u32, entries: usize) -> LoginLimiter {
        LoginLimiter::new(&Limits {
            login_failures_per_account: per_account,
            login_failures_per_address: per_address,
            login_limiter_entries: entries,
            ..Limits::default()
        })
    }

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn an_account_is_blocked_at_its_limit_until_the_window_ends() {
        let l = limiter(3, 0, 100);
        let ip = Some(IpAddr::from([10, 0, 0, 1]));
        for _ in 0..3 {
            assert_eq!(l.attempt("A@x.io ", ip, t0()), Ok(()));
        }
        assert_eq!(l.attempt("a@X.io", ip, t0()), Err(900));
        let later = t0() + chrono::Duration::seconds(600);
        assert_eq!(l.attempt("a@x.io", None, later), Err(300));
        assert_eq!(l.attempt("b@x.io", ip, later), Ok(()));
        l.succeeded("b@x.io", ip);
        let after = t0() + chrono::Duration::seconds(900);
        assert_eq!(l.attempt("a@x.io", ip, after), Ok(()));
        l.succeeded("a@x.io", ip);
        for _ in 0..3 {
            assert_eq!(
                l.attempt("a@x.io", ip, after),
                Ok(()),
                "a good login reset it"
            );
        }
    }

    #[test]
    fn an_address_is_blocked_whatever_the_email_and_ipv6_counts_by_slash_64() {
        let l = limiter(0, 2, 100);
        let a: IpAddr = "2001:db8::1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let b: IpAddr = "2001:db8::ffff:2"
            .parse()
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert!(l.attempt("one@x.io", Some(a), t0()).is_ok());
        assert!(l.attempt("two@x.io", Some(b), t0()).is_ok());
        assert!(l.attempt("three@x.io", Some(a), t0()).is_err());
        assert!(
            l.attempt("three@x.io", Some(IpAddr::from([10, 0, 0, 1])), t0())
                .is_ok()
        );
    }

    #[test]
    fn the_maps_stay_bounded_under_a_flood_of_new_keys() {
        let l = limiter(5, 5, 64);
        for i in 0..10_000u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            let _ = l.attempt(&format!("{i}@flood.example"), Some(ip), t0());
        }
        let (accounts, addresses) = l.tracked();
        assert!(accounts <= 64 && addresses <= 64, "{accounts} {addresses}");
    }
}

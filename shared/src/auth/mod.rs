//! Credentials: password hashing, opaque secrets, JWTs, and the per-route auth rules of
//! api.md §2.2.

pub mod guard;
pub mod login_limit;
pub mod password;
pub mod secrets;
pub mod tokens;

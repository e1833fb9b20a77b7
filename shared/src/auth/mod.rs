//! Credentials: password hashing, opaque secrets, JWTs, and the per-route auth rules of
//! api.md §2.2.

pub mod guard;
pub mod password;
pub mod secrets;
pub mod tokens;

//! Credentials: password hashing and the per-route auth rules of api.md §2.2 (opaque secrets
//! and JWTs are in [`crate::keys`], the failed-login limiter in [`crate::limits::login`]).

pub mod guard;
pub mod password;

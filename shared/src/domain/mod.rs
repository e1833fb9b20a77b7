//! Open Wearables pure domain logic: no I/O, no storage, no HTTP, no cloud SDKs.
//!
//! A self-contained module tree (only `super::`/`self::` paths inside), free of I/O and frameworks.
//!
//! Modules:
//! * [`numeric`] — Python/PostgreSQL-compatible rounding helpers.
//! * [`provider`] — the providers and their capabilities.
//! * [`time`] — zone-offset parsing, local dates, lenient datetime parsing.
//! * [`series`] — the 93 series types, aggregation methods and timeseries resolution bucketing.
//! * [`workout`] — the 117 workout types and the SDK workout-type mapping.
//! * [`sdk`] — the mobile SDK push payload parser.
//! * [`apple_export`] — the Apple Health export (`export.xml`) pull parser.
//! * [`sleep`] — SDK sleep segments → sessions, stage cleaning, sleep summary rules.
//! * [`summary`] — activity, recovery and body summary rules.
//! * [`scores`] — the Open Wearables computed sleep and resilience scores.
//! * [`states`] — connection and sync-run states (stored and wire spelling).
//! * [`garmin_backfill`] — the Garmin backfill state machine (requests, answers, give-up, reads).
//! * [`seed_profile`] — what synthetic data to generate (the seed job's profile).
//! * [`s3_post`] — S3 browser-upload policies signed with SigV4 (the import's presigned POST).
//! * [`sns`] — SNS deliveries: the signed string, certificate and subscription URL rules.
//! * [`webhooks`] — outgoing webhooks: event catalogue, ids, signatures, retry schedule, URL rules.

pub mod apple_export;
pub mod coverage;
pub mod garmin_backfill;
pub mod numeric;
pub mod provider;
pub mod s3_post;
pub mod scores;
pub mod sdk;
pub mod seed_profile;
pub mod series;
pub mod sleep;
pub mod sns;
pub mod states;
pub mod summary;
pub mod time;
pub mod webhooks;
pub mod workout;

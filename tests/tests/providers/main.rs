//! One end-to-end test module per provider cloud: our API on a real port against the
//! provider's fake on another (see `ow_e2e::providers::Rig`).

mod fitbit;
mod garmin;
mod google;
mod oura;
mod polar;
mod sensorbio;
mod strava;
mod suunto;
mod ultrahuman;
mod vendor;
mod whoop;

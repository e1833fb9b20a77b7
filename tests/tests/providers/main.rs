//! One end-to-end test module per provider cloud: our API on a real port against the
//! provider's fake on another (see `ow_e2e::providers::Rig`).

mod oura;

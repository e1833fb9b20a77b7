//! Open Wearables domain crate: storage ports and adapters, repositories, API routers and
//! the bootstrap shared by the local server and every Lambda function.

pub mod api;
pub mod app;
pub mod auth;
pub mod bootstrap;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod ingest;
pub mod jobs;
pub mod keys;
pub mod limits;
pub mod openapi;
pub mod portal;
pub mod providers;
pub mod repo;
pub mod seed;
pub mod server;
pub mod services;
pub mod store;

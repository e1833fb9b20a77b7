//! The local HTTP server: every route group on one listener (tests start it on port 0).

use std::future::Future;

use crate::api::{State, app};

/// Serves every route until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: State,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

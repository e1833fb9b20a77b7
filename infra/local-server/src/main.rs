//! `open-wearables`: every route on one port, embedded storage, no AWS.

use shared::bootstrap;

#[tokio::main]
async fn main() {
    bootstrap::init_tracing();
    if let Err(e) = run().await {
        tracing::error!("open-wearables failed to start: {e}");
        eprintln!("open-wearables: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), bootstrap::BootError> {
    let state = bootstrap::state_from_env().await?;
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("PORT").unwrap_or_else(|_| "8000".into());
    let listener = tokio::net::TcpListener::bind(format!("{host}:{port}"))
        .await
        .map_err(|e| format!("cannot listen on {host}:{port}: {e}"))?;
    tracing::info!(
        "Open Wearables listening on http://{} (data in {}, docs at /docs)",
        listener.local_addr()?,
        state.config.data_dir.display()
    );
    shared::jobs::schedule::spawn_local(state.clone(), std::time::Duration::from_secs(300));
    shared::server::serve(listener, state, shutdown()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

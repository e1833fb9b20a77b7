//! `open-wearables`: every route on one port, embedded storage, no AWS.

use shared::bootstrap;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    // One AWS SDK configuration for the process (Secrets Manager, DynamoDB, SQS), if any is used.
    let aws = bootstrap::Aws::default();
    #[cfg_attr(not(feature = "demo"), allow(unused_mut))]
    let mut settings = bootstrap::load_settings(&aws).await?;
    let host = settings.get("HOST").unwrap_or("127.0.0.1").to_string();
    let port = settings.get("PORT").unwrap_or("8000").to_string();
    let listener = tokio::net::TcpListener::bind(format!("{host}:{port}"))
        .await
        .map_err(|e| format!("cannot listen on {host}:{port}: {e}"))?;
    let demo = std::env::args().any(|a| a == "--demo-fakes")
        || settings
            .get("OW_DEMO_FAKES")
            .is_some_and(|v| v == "1" || v == "true");
    // Kept alive for the server's lifetime.
    #[cfg(feature = "demo")]
    let _fakes = if demo {
        start_demo_fakes(&mut settings, &listener.local_addr()?.to_string()).await?
    } else {
        Vec::new()
    };
    #[cfg(not(feature = "demo"))]
    if demo {
        return Err("--demo-fakes needs a build with the `demo` feature (on by default)".into());
    }
    let state = bootstrap::state_from_settings(settings, &aws).await?;
    #[cfg(feature = "demo")]
    for fake in _fakes.iter().filter(|f| f.fake.provider() == "garmin") {
        // Garmin pushes its data: the fake delivers to our webhook URL (with its secret), as
        // the operator would enter it in Garmin's portal.
        let url = shared::api::webhooks::webhook_url(&state.config, "garmin");
        ow_fakes::garmin::set_webhook_target(&fake.fake, &url);
    }
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

/// Starts the fake of every provider cloud on consecutive loopback ports (from
/// `OW_DEMO_FAKES_PORT`, default 9100) and points each provider that has no credentials of its
/// own at its fake. The fakes' data starts a week ago.
#[cfg(feature = "demo")]
async fn start_demo_fakes(
    settings: &mut shared::config::Settings,
    api_addr: &str,
) -> Result<Vec<ow_fakes::RunningFake>, bootstrap::BootError> {
    let first: u16 = settings
        .get("OW_DEMO_FAKES_PORT")
        .unwrap_or("9100")
        .parse()
        .map_err(|e| format!("OW_DEMO_FAKES_PORT: {e}"))?;
    if settings.get("API_BASE_URL").is_none() {
        settings.set("API_BASE_URL", format!("http://{api_addr}"));
    }
    let anchor = chrono::Utc::now().date_naive() - chrono::Duration::days(7);
    let mut running = Vec::new();
    for (i, provider) in ow_fakes::PROVIDERS.iter().enumerate() {
        let up = provider.to_uppercase();
        if settings.get(&format!("{up}_CLIENT_ID")).is_some() {
            tracing::info!(provider, "demo: real credentials configured, no fake");
            continue;
        }
        let opts = ow_fakes::FakeOptions {
            anchor,
            port: first + i as u16,
            ..ow_fakes::FakeOptions::default()
        };
        let fake = ow_fakes::start(provider, opts.clone())
            .await
            .map_err(|e| format!("demo fake for {provider} on port {}: {e}", opts.port))?;
        settings.set(&format!("{up}_CLIENT_ID"), opts.client_id.clone());
        settings.set(&format!("{up}_CLIENT_SECRET"), opts.client_secret.clone());
        settings.set(&format!("{up}_BASE_URL"), fake.base_url.clone());
        for (k, v) in ow_fakes::app_settings(provider) {
            if settings.get(k).is_none() {
                settings.set(k, v);
            }
        }
        tracing::info!(provider, url = %fake.base_url, "demo fake provider started");
        running.push(fake);
    }
    Ok(running)
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

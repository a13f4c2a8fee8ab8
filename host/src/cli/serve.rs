//! `wasmbot serve --config wasmbot.toml`.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::config::ConfigFile;
use crate::server::{AppState, reload, run, setup::build_state};

/// Arguments of `wasmbot serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The configuration file.
    #[arg(long, short, default_value = "wasmbot.toml", env = "WASMBOT_CONFIG")]
    pub config: PathBuf,
    /// Listen here instead of `server.listen`.
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
}

/// The trace exporter `args`' configuration asks for (`[telemetry]`), started; `None` when
/// it asks for none, or when the file cannot be read (`serve` then says why).
pub fn telemetry(args: &ServeArgs) -> anyhow::Result<Option<crate::telemetry::Telemetry>> {
    match ConfigFile::load(&args.config) {
        Ok(config) => crate::telemetry::Telemetry::start(&config.telemetry),
        Err(_) => Ok(None),
    }
}

/// Serves until SIGINT or SIGTERM, then finishes accepted events and exits.
pub fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let config = ConfigFile::load(&args.config)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let result = runtime.block_on(async {
        let state = build_state(&config, Some(&args.config), None).await?;
        let address = args.listen.unwrap_or(config.server.listen);
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("listening on {address}"))?;
        let admin = match config.server.admin_listen {
            Some(address) => Some(
                tokio::net::TcpListener::bind(address)
                    .await
                    .with_context(|| format!("listening on {address} (server.admin_listen)"))?,
            ),
            None => None,
        };
        let admin_address = admin.as_ref().map(|a| a.local_addr()).transpose()?;
        tracing::info!(
            address = %listener.local_addr()?,
            admin_address = admin_address.map(|a| a.to_string()),
            tenants = config.tenants.len(),
            "wasmbot serving"
        );
        tokio::spawn(reload_on_hangup(state.clone()));
        run(listener, admin, state, shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok(())
    });
    // A bot still running past the deadline is not waited for: its event stays journaled.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    result
}

/// Re-reads the configuration on every SIGHUP; an invalid file changes nothing and is logged.
async fn reload_on_hangup(state: AppState) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; reload through POST /admin/reload");
            return;
        };
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the configuration");
            if let Err(error) = reload(&state).await {
                tracing::error!(error = %format!("{error:#}"), "configuration not reloaded, nothing changed");
            }
        }
    }
    #[cfg(not(unix))]
    let _ = state;
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown requested");
}

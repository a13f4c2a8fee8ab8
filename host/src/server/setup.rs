//! Turns a parsed configuration into a running server's state: runtime, event database,
//! plugin registry with the tenants, and the dispatcher.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;

use super::AppState;
use crate::config::{ConfigFile, ServerConfig};
use crate::delivery::mluvii_client::http_client;
use crate::dev::feed::DevFeed;
use crate::dispatch::{DispatchSettings, Dispatcher};
use crate::metrics::Metrics;
use crate::plugins::profile::ProfileParts;
use crate::plugins::{Registry, RegistryOptions};
use crate::runtime::{EngineSettings, Runtime};

/// The engine `[server]` asks for: instance slots for its runs and its warm instances.
pub fn engine_settings(server: &ServerConfig) -> anyhow::Result<EngineSettings> {
    Ok(EngineSettings {
        max_instances: (server.max_concurrent_runs + server.max_warm_instances)
            .try_into()
            .context("server.max_concurrent_runs + server.max_warm_instances is too large")?,
        warm_instances: server.max_warm_instances as u32,
        ..EngineSettings::default()
    })
}

/// Builds the state `config` describes, opens the event database and resumes the work an
/// earlier run left in it. Missing secrets and limits the engine cannot honour are errors
/// naming the key; a plugin that does not load is logged and its tenant reported by
/// `/readyz` and the admin API. `config_path` is where reloads read the configuration again;
/// `feed` (dev mode) receives each event's logs and activities and each plugin change.
pub async fn build_state(
    config: &ConfigFile,
    config_path: Option<&Path>,
    feed: Option<Arc<DevFeed>>,
) -> anyhow::Result<AppState> {
    let engine = engine_settings(&config.server)?;
    let runtime = Runtime::new(&engine)?;
    let storage = crate::storage::open(&config.storage()?).await?;
    let metrics = Arc::new(Metrics::default());
    let server = &config.server;
    let registry = Registry::new(
        RegistryOptions {
            runtime: runtime.clone(),
            parts: ProfileParts {
                state: storage.clone(),
                http: http_client()?,
                engine,
            },
            data_dir: server.data_dir.clone(),
            versions_kept: server.plugin_versions_kept,
            config_path: config_path.map(Path::to_owned),
            watch: server.watch_plugins,
            feed: feed.clone(),
            replica: server.replica_name(),
        },
        metrics.clone(),
    )?;
    registry.apply(config).await?;
    registry.follow_published().await;
    // Candidates set before a restart (or through another replica) are tried again.
    if let Err(e) = registry.sync_candidates().await {
        tracing::warn!(error = %format!("{e:#}"), "could not read the stored candidates");
    }
    let settings = DispatchSettings {
        max_concurrent_runs: server.max_concurrent_runs,
        max_backlog: server.max_backlog,
        max_backlog_secs: (server.max_backlog_secs > 0.0).then_some(server.max_backlog_secs),
        retry: server.retry_policy(),
        retention: std::time::Duration::from_secs(server.retention_hours * 3600),
        session_facts_ttl: std::time::Duration::from_secs(server.session_facts_hours * 3600),
        sweep_interval: std::time::Duration::from_millis(server.sweep_interval_ms.max(10)),
    };
    let dispatcher = Arc::new(
        Dispatcher::new(
            storage,
            runtime,
            metrics.clone(),
            registry.tenants().clone(),
            settings,
        )
        .with_feed(feed),
    );
    dispatcher.start().await?;
    Ok(AppState {
        tenants: registry.tenants().clone(),
        registry,
        dispatcher,
        metrics,
        max_body_bytes: server.max_body_bytes,
        max_plugin_bytes: server.max_plugin_mib << 20,
        shutdown_deadline: std::time::Duration::from_millis(server.shutdown_deadline_ms),
        ingress: server.ingress_limits(),
        refusal_logs: Arc::default(),
    })
}

//! Turns a parsed configuration into a running server's state: secrets, runtime, state store,
//! tenants with their plugins and mluvii clients.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context as _;
use arc_swap::ArcSwapOption;

use super::AppState;
use crate::capabilities::config::Settings;
use crate::capabilities::state::{StateStore, StorageState};
use crate::config::{ConfigFile, resolve_secret};
use crate::delivery::mluvii_client::http_client;
use crate::delivery::{MluviiClient, MluviiEndpoint};
use crate::dispatch::session_queue::SessionQueue;
use crate::dispatch::{DispatchSettings, Dispatcher, Tenant};
use crate::metrics::Metrics;
use crate::runtime::{EngineSettings, Runtime, TenantEnv};
use crate::storage::{SqliteStorage, Storage};

/// Builds the state `config` describes, opens the event database and resumes the work an
/// earlier run left in it. Missing secrets are errors naming the variable or file; a plugin
/// that does not load is logged and its tenant reported by `/readyz`.
pub async fn build_state(config: &ConfigFile) -> anyhow::Result<AppState> {
    let runtime = Runtime::new(&EngineSettings::default())?;
    let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(
        &config.server.data_dir,
        config.server.durability,
    )?);
    let store: Arc<dyn StateStore> = Arc::new(StorageState::new(
        storage.clone(),
        tokio::runtime::Handle::current(),
    ));
    let http = http_client()?;
    let metrics = Arc::new(Metrics::default());
    let mut tenants = HashMap::new();
    for t in &config.tenants {
        let webhook_token = resolve_secret(
            &format!("tenant {} webhook token", t.id),
            t.webhook_token_env.as_deref(),
            t.webhook_token_file.as_deref(),
        )?;
        let client_secret = resolve_secret(
            &format!("tenant {} mluvii client secret", t.id),
            t.mluvii.client_secret_env.as_deref(),
            t.mluvii.client_secret_file.as_deref(),
        )?;
        let settings = Settings::from_json(serde_json::to_value(&t.settings)?)
            .with_context(|| format!("tenant {} settings", t.id))?;
        let plugin = match std::fs::read(&t.plugin)
            .with_context(|| format!("reading {}", t.plugin.display()))
            .and_then(|bytes| runtime.load(&bytes).map_err(anyhow::Error::from))
        {
            Ok(plugin) => {
                let info = plugin.info();
                tracing::info!(tenant = %t.id, plugin = %t.plugin.display(), bytes = info.size_bytes,
                    compile_ms = info.compile_time.as_millis() as u64, "plugin loaded");
                Some(Arc::new(plugin))
            }
            Err(error) => {
                tracing::error!(tenant = %t.id, plugin = %t.plugin.display(), error = %format!("{error:#}"), "plugin refused");
                None
            }
        };
        let endpoint = MluviiEndpoint {
            base_url: t.mluvii.base_url.clone(),
            chatbot_id: t.mluvii.chatbot_id,
            client_id: t.mluvii.client_id.clone(),
            client_secret,
        };
        let tenant = Tenant {
            env: Arc::new(TenantEnv {
                id: t.id.clone(),
                settings,
                state: store.clone(),
                limits: t.limits.runtime_limits(),
                facts: Default::default(),
            }),
            plugin: ArcSwapOption::new(plugin),
            client: MluviiClient::new(http.clone(), endpoint),
            webhook_token,
            runs: SessionQueue::new(t.limits.max_concurrent_runs),
            deliveries: SessionQueue::new(t.limits.max_concurrent_deliveries),
            backlog: Default::default(),
            max_backlog: t.limits.max_backlog,
            fallback: t.fallback.clone(),
        };
        tenants.insert(t.id.clone(), Arc::new(tenant));
    }
    let tenants = Arc::new(tenants);
    let server = &config.server;
    let settings = DispatchSettings {
        max_concurrent_runs: server.max_concurrent_runs,
        max_backlog: server.max_backlog,
        retry: server.retry_policy(),
        retention: std::time::Duration::from_secs(server.retention_hours * 3600),
        sweep_interval: std::time::Duration::from_millis(server.sweep_interval_ms.max(10)),
    };
    let dispatcher = Arc::new(Dispatcher::new(
        storage,
        runtime,
        metrics.clone(),
        tenants.clone(),
        settings,
    ));
    dispatcher.start().await?;
    Ok(AppState {
        tenants,
        dispatcher,
        metrics,
        max_body_bytes: server.max_body_bytes,
        shutdown_deadline: std::time::Duration::from_millis(server.shutdown_deadline_ms),
    })
}

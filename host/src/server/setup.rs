//! Turns a parsed configuration into a running server's state: secrets, runtime, state store,
//! tenants with their plugins and mluvii clients.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context as _;
use arc_swap::ArcSwapOption;
use tokio::sync::Semaphore;

use super::AppState;
use crate::capabilities::config::Settings;
use crate::capabilities::state::{SqliteStateStore, StateStore};
use crate::config::{ConfigFile, resolve_secret};
use crate::delivery::{Dispatcher, MluviiClient, MluviiEndpoint, RetryPolicy, Tenant};
use crate::metrics::Metrics;
use crate::runtime::{EngineSettings, Runtime, TenantEnv};

/// Builds the state `config` describes. Missing secrets are errors naming the variable or
/// file; a plugin that does not load is logged and its tenant reported by `/readyz`.
pub fn build_state(config: &ConfigFile, retry: RetryPolicy) -> anyhow::Result<AppState> {
    let runtime = Runtime::new(&EngineSettings::default())?;
    let store: Arc<dyn StateStore> = Arc::new(SqliteStateStore::open(
        &config.server.data_dir.join("state.db"),
    )?);
    let http = reqwest::Client::builder()
        .pool_idle_timeout(std::time::Duration::from_secs(90))
        .build()
        .context("creating the HTTP client")?;
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
            }),
            plugin: ArcSwapOption::new(plugin),
            client: MluviiClient::new(http.clone(), endpoint, retry),
            webhook_token,
            permits: Semaphore::new(t.limits.max_concurrent_runs.max(1)),
        };
        tenants.insert(t.id.clone(), Arc::new(tenant));
    }
    let dispatcher = Arc::new(Dispatcher::new(
        runtime,
        metrics.clone(),
        config.server.max_concurrent_runs,
    ));
    Ok(AppState {
        tenants: Arc::new(tenants),
        dispatcher,
        metrics,
        max_body_bytes: config.server.max_body_bytes,
    })
}

//! From a `[[tenant]]` table to a [`TenantProfile`]: secrets resolved, settings parsed, limits
//! checked against the engine's. Start-up and configuration reloads both come through here,
//! so nothing start-up would refuse gets in later.

use std::sync::Arc;

use anyhow::{Context as _, bail};

use crate::capabilities::config::Settings;
use crate::capabilities::http::TenantHttp;
use crate::config::{TenantConfig, resolve_secret};
use crate::delivery::{MluviiClient, MluviiEndpoint};
use crate::dispatch::TenantProfile;
use crate::runtime::engine::MAX_TABLE_ELEMENTS;
use crate::runtime::{EngineSettings, TenantEnv};
use crate::storage::Storage;

/// What every tenant's profile shares.
pub struct ProfileParts {
    /// The bots' state store.
    pub state: Arc<dyn Storage>,
    /// The connection pool to mluvii.
    pub http: reqwest::Client,
    /// The engine's settings (the ceiling of every tenant's limits).
    pub engine: EngineSettings,
}

/// Refuses limits the engine cannot honour, naming the key.
pub fn check_limits(tenant: &TenantConfig, engine: &EngineSettings) -> anyhow::Result<()> {
    let limits = &tenant.limits;
    let engine_mib = engine.max_memory_bytes >> 20;
    if limits.max_memory_mib == 0 || limits.max_memory_mib > engine_mib {
        bail!(
            "tenant {}: limits.max_memory_mib = {} must be between 1 and the engine's maximum of {engine_mib} MiB",
            tenant.id,
            limits.max_memory_mib
        );
    }
    let run_slots = engine.max_instances.saturating_sub(engine.warm_instances) as usize;
    if limits.max_concurrent_runs == 0 || limits.max_concurrent_runs > run_slots {
        bail!(
            "tenant {}: limits.max_concurrent_runs = {} must be between 1 and the engine's {run_slots} run slots (server.max_concurrent_runs)",
            tenant.id,
            limits.max_concurrent_runs,
        );
    }
    if limits.max_table_elements == 0 || limits.max_table_elements > MAX_TABLE_ELEMENTS {
        bail!(
            "tenant {}: limits.max_table_elements = {} must be between 1 and the engine's {MAX_TABLE_ELEMENTS}",
            tenant.id,
            limits.max_table_elements
        );
    }
    if limits.timeout_ms == 0 {
        bail!("tenant {}: limits.timeout_ms must be at least 1", tenant.id);
    }
    if limits.max_concurrent_deliveries == 0 {
        bail!(
            "tenant {}: limits.max_concurrent_deliveries must be at least 1",
            tenant.id
        );
    }
    Ok(())
}

/// Builds the profile `tenant` describes. `previous` (the tenant's profile before a reload)
/// lends its session-facts cache, and its mluvii client when the endpoint is unchanged, so
/// tokens and pacing survive a reload.
pub fn build_profile(
    tenant: &TenantConfig,
    parts: &ProfileParts,
    previous: Option<&TenantProfile>,
) -> anyhow::Result<TenantProfile> {
    check_limits(tenant, &parts.engine)?;
    let webhook_token = resolve_secret(
        &format!("tenant {} webhook token", tenant.id),
        tenant.webhook_token_env.as_deref(),
        tenant.webhook_token_file.as_deref(),
    )?;
    let client_secret = resolve_secret(
        &format!("tenant {} mluvii client secret", tenant.id),
        tenant.mluvii.client_secret_env.as_deref(),
        tenant.mluvii.client_secret_file.as_deref(),
    )?;
    let settings = Settings::from_json(serde_json::to_value(&tenant.settings)?)
        .with_context(|| format!("tenant {} settings", tenant.id))?;
    let endpoint = MluviiEndpoint {
        base_url: tenant.mluvii.base_url.clone(),
        chatbot_id: tenant.mluvii.chatbot_id,
        client_id: tenant.mluvii.client_id.clone(),
        client_secret,
    };
    let client = match previous {
        Some(previous) if *previous.client.endpoint() == endpoint => previous.client.clone(),
        _ => Arc::new(MluviiClient::new(parts.http.clone(), endpoint)),
    };
    let facts = previous
        .map(|previous| previous.facts.clone())
        .unwrap_or_default();
    // The client (and its pooled connections) is kept while the policy is unchanged.
    let policy = tenant.http.policy();
    let http = match previous {
        Some(previous) if previous.env.http.policy == policy => previous.env.http.clone(),
        _ => Arc::new(
            TenantHttp::new(policy)
                .with_context(|| format!("tenant {} outbound HTTP client", tenant.id))?,
        ),
    };
    Ok(TenantProfile {
        env: Arc::new(TenantEnv {
            id: tenant.id.clone(),
            settings,
            state: parts.state.clone(),
            state_scope: None,
            limits: tenant.limits.runtime_limits(),
            http,
            warm: Default::default(),
            long_run: Default::default(),
        }),
        client,
        webhook_token,
        config: tenant.clone(),
        facts,
    })
}

//! One bot outside the server, as `wasmbot run` and `wasmbot test` use it: the plugin loaded
//! through the compiled-artifact cache, a tenant with settings and a state store, and events
//! run one at a time on the calling thread.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;

use crate::capabilities::config::Settings;
use crate::dispatch::step::{EventRun, FactsCache, run_event};
use crate::mluvii::WebhookEvent;
use crate::plugins::cache::ArtifactCache;
use crate::plugins::loader::load_plugin;
use crate::runtime::plugin::content_hash;
use crate::runtime::{EngineSettings, Limits, Plugin, Runtime, TenantEnv};
use crate::storage::{Durability, StorageConfig};

/// Where the command line keeps compiled plugins: `$WASMBOT_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/wasmbot`, else `~/.cache/wasmbot`; `None` when none of them is set (then
/// every load compiles).
pub fn cache_dir() -> Option<PathBuf> {
    let from = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    from("WASMBOT_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| from("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("wasmbot")))
        .or_else(|| from("HOME").map(|d| PathBuf::from(d).join(".cache/wasmbot")))
}

/// A loaded plugin and the runtime it runs in.
pub struct LoadedPlugin {
    /// The engine and linker.
    pub runtime: Runtime,
    /// The plugin.
    pub plugin: Plugin,
}

/// Loads the component at `path`, from the compiled-artifact cache when it holds it (a big
/// JS or Python bot compiles in seconds, and loads from the cache in milliseconds).
pub fn load(path: &Path) -> anyhow::Result<LoadedPlugin> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let runtime = Runtime::new(&EngineSettings::default())?;
    let cache = cache_dir().and_then(|dir| {
        let dir = dir.join("compiled");
        match ArtifactCache::open(&dir, runtime.engine()) {
        Ok(cache) => Some(cache),
        Err(error) => {
            tracing::warn!(dir = %dir.display(), error = %format!("{error:#}"), "compiled-plugin cache unavailable");
            None
        }
        }
    });
    let plugin = load_plugin(
        &runtime,
        cache.as_ref(),
        &bytes,
        &content_hash(&bytes),
        &path.display().to_string(),
    )
    .with_context(|| format!("{} was refused", path.display()))?;
    Ok(LoadedPlugin { runtime, plugin })
}

/// A plugin with a tenant around it: settings, state and limits.
pub struct OfflineBot {
    loaded: Arc<LoadedPlugin>,
    tenant: Arc<TenantEnv>,
    facts: FactsCache,
    // Runs the bot and serves the state store's storage calls.
    io: tokio::runtime::Runtime,
}

impl OfflineBot {
    /// `loaded` as tenant `tenant_id` with `settings`, its state in `state_dir/state.db`
    /// (kept across runs) or in memory (fresh) when `state_dir` is `None`.
    pub fn new(
        loaded: Arc<LoadedPlugin>,
        tenant_id: &str,
        settings: Settings,
        state_dir: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let storage = match state_dir {
            Some(dir) => StorageConfig::Sqlite {
                data_dir: dir.to_owned(),
                durability: Durability::Fsync,
                lock: true,
            },
            None => StorageConfig::Memory,
        };
        let io = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let storage = io.block_on(crate::storage::open(&storage))?;
        let tenant = Arc::new(TenantEnv {
            id: tenant_id.to_owned(),
            settings,
            state: storage,
            state_scope: None,
            limits: Limits::default(),
            http: Default::default(),
            warm: Default::default(),
            long_run: Default::default(),
        });
        Ok(Self {
            loaded,
            tenant,
            facts: FactsCache::default(),
            io,
        })
    }

    /// Lets the bot's outbound HTTP through `http`'s policy (the default refuses it all).
    pub fn with_http(mut self, http: Arc<crate::capabilities::http::TenantHttp>) -> Self {
        if let Some(tenant) = Arc::get_mut(&mut self.tenant) {
            tenant.http = http;
        }
        self
    }

    /// Runs one event through the bot.
    pub fn handle(&self, event: &WebhookEvent) -> EventRun {
        let loaded = &self.loaded;
        self.io.block_on(run_event(
            &loaded.runtime,
            &loaded.plugin,
            &self.tenant,
            &self.facts,
            event,
            false,
        ))
    }
}

//! The tenants and their plugins, changed at runtime. Every way a plugin arrives (start-up,
//! file change, admin upload, rollback, configuration reload) goes through
//! [`Registry::swap_in`]: compile off the async threads (or take the cached code), check it
//! against the world, and only then swap it in; a refused version leaves the old one serving
//! and is reported (log line, metric, the tenant's status). Loads of one tenant never overlap.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use serde::Serialize;
use serde_json::json;

use super::cache::{ArtifactCache, write_atomically};
use super::loader::load_plugin;
use super::profile::{ProfileParts, build_profile};
use super::versions::{VersionRecord, VersionStore};
use super::watcher::{PluginWatcher, follow_plugin_file};
use crate::config::{ConfigFile, Secret, ServerConfig, resolve_secret};
use crate::dev::feed::DevFeed;
use crate::dispatch::{Tenant, TenantMap};
use crate::metrics::{Metrics, TenantOutcome};
use crate::runtime::plugin::content_hash;
use crate::runtime::{Plugin, Runtime};
use crate::storage::now_ms;

/// What a successful swap request did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum SwapOutcome {
    /// A new version serves the tenant's next events.
    Swapped {
        /// Its content hash.
        hash: String,
    },
    /// The version offered is the one already serving.
    Unchanged {
        /// Its content hash.
        hash: String,
    },
}

/// Why a swap request changed nothing (the old version keeps serving).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwapError {
    /// The component does not load: not a component, truncated, the wrong world.
    #[error("{0}")]
    Refused(String),
    /// No earlier version is kept to roll back to.
    #[error("{0}")]
    NoVersion(String),
    /// Reading or writing a file failed.
    #[error("{0}")]
    Io(String),
    /// Shared storage could not store the version for the other replicas.
    #[error("{0}")]
    Unavailable(String),
}

/// How a version reached [`Registry::swap_in`]; says where it is written once it loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Arrival {
    /// The tenant's plugin file (start-up, the watcher, a reload).
    File,
    /// The newest known-good version, when the file does not load at start-up.
    Kept,
    /// `PUT /admin/tenants/{id}/plugin`.
    Upload,
    /// `POST /admin/tenants/{id}/rollback`.
    Rollback,
    /// Published through another replica (an upload or rollback there).
    Published {
        /// Whether it was a rollback (the version it replaces is then forgotten here too).
        rollback: bool,
    },
}

impl Arrival {
    /// The version's `source` in the admin API and the logs.
    fn source(self) -> &'static str {
        match self {
            Arrival::File => "file",
            Arrival::Kept => "kept version",
            Arrival::Upload => "upload",
            Arrival::Rollback => "rollback",
            Arrival::Published { .. } => "published",
        }
    }

    /// Whether the tenant's plugin file is rewritten, so a restart and the watcher agree
    /// with what serves.
    fn writes_file(self) -> bool {
        matches!(
            self,
            Arrival::Upload | Arrival::Rollback | Arrival::Published { .. }
        )
    }

    /// Whether the version is published for the other replicas of shared storage.
    fn publishes(self) -> bool {
        matches!(self, Arrival::Upload | Arrival::Rollback)
    }
}

/// What a configuration reload changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReloadReport {
    /// Tenants that now receive webhooks.
    pub added: Vec<String>,
    /// Tenants whose webhooks now get 404 (their events in hand still finish).
    pub removed: Vec<String>,
    /// Tenants kept, with their settings, limits and secrets re-read.
    pub kept: Vec<String>,
}

/// The tenants, their plugins and the configuration they came from.
pub struct Registry {
    tenants: Arc<TenantMap>,
    runtime: Runtime,
    parts: ProfileParts,
    cache: Option<ArtifactCache>,
    versions: VersionStore,
    metrics: Arc<Metrics>,
    config_path: Option<PathBuf>,
    applied_server: Mutex<Option<ServerConfig>>,
    admin_token: ArcSwapOption<Secret>,
    reload_lock: tokio::sync::Mutex<()>,
    watcher: Option<PluginWatcher>,
    feed: Option<Arc<DevFeed>>,
    replica: String,
    pub(super) serving_changed: tokio::sync::Notify,
}

/// How a [`Registry`] is set up.
pub struct RegistryOptions {
    /// The engine and linker.
    pub runtime: Runtime,
    /// What every tenant's profile shares.
    pub parts: ProfileParts,
    /// The data directory (compiled-artifact cache, kept versions).
    pub data_dir: PathBuf,
    /// Known-good versions kept per tenant.
    pub versions_kept: usize,
    /// Where `reload` reads the configuration (`None`: built in memory, as in dev mode).
    pub config_path: Option<PathBuf>,
    /// Whether plugin files are watched.
    pub watch: bool,
    /// Dev mode's feed: told of every plugin update and refusal.
    pub feed: Option<Arc<DevFeed>>,
    /// This replica's name among those sharing storage (`server.replica_id`).
    pub replica: String,
}

impl Registry {
    /// An empty registry; [`Registry::apply`] adds the tenants.
    pub fn new(options: RegistryOptions, metrics: Arc<Metrics>) -> anyhow::Result<Arc<Self>> {
        let cache = match ArtifactCache::open(
            &options.data_dir.join("compiled"),
            options.runtime.engine(),
        ) {
            Ok(cache) => Some(cache),
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "no compiled-artifact cache; every load compiles");
                None
            }
        };
        let watcher = if options.watch {
            match PluginWatcher::new() {
                Ok(watcher) => Some(watcher),
                Err(error) => {
                    tracing::error!(error = %format!("{error:#}"), "cannot watch plugin files; swap plugins through the admin API");
                    None
                }
            }
        } else {
            None
        };
        Ok(Arc::new(Self {
            tenants: Arc::default(),
            runtime: options.runtime,
            parts: options.parts,
            cache,
            versions: VersionStore::new(&options.data_dir.join("plugins"), options.versions_kept),
            metrics,
            config_path: options.config_path,
            applied_server: Mutex::new(None),
            admin_token: ArcSwapOption::empty(),
            reload_lock: tokio::sync::Mutex::new(()),
            watcher,
            feed: options.feed,
            replica: options.replica,
            serving_changed: tokio::sync::Notify::new(),
        }))
    }

    /// The tenants configured now.
    pub fn tenants(&self) -> &Arc<TenantMap> {
        &self.tenants
    }

    /// The admin token, if one is configured.
    pub fn admin_token(&self) -> Option<Arc<Secret>> {
        self.admin_token.load_full()
    }

    /// The tenant's known-good versions, oldest first.
    pub fn versions(&self, tenant: &str) -> Vec<VersionRecord> {
        self.versions.list(tenant)
    }

    /// This replica's name among those sharing storage.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// The storage plugins are published through (the state store every tenant shares).
    pub(super) fn storage(&self) -> &Arc<dyn crate::storage::Storage> {
        &self.parts.state
    }

    /// Each tenant's serving version: `(tenant, hash)`.
    pub(super) fn serving_now(&self) -> Vec<(String, String)> {
        let mut serving: Vec<(String, String)> = self
            .tenants
            .all()
            .iter()
            .filter_map(|(id, tenant)| {
                let plugin = tenant.plugin.load();
                plugin.as_ref().map(|p| (id.clone(), p.info().hash.clone()))
            })
            .collect();
        serving.sort();
        serving
    }

    /// Re-reads the configuration file and applies it (`SIGHUP`, `POST /admin/reload`).
    pub async fn reload(self: &Arc<Self>) -> anyhow::Result<ReloadReport> {
        let Some(path) = &self.config_path else {
            anyhow::bail!("this server was not started from a configuration file");
        };
        let config = ConfigFile::load(path)?;
        self.apply(&config).await
    }

    /// Makes `config` the tenants' configuration. Everything is checked first (secrets,
    /// settings, limits against the engine's); if anything is wrong, nothing changes and the
    /// error says why. Then new tenants get their plugins loaded before they receive
    /// webhooks, kept tenants get their new settings for their next event (and their plugin
    /// reloaded if its path changed), and removed tenants get 404 while the events they hold
    /// finish.
    pub async fn apply(self: &Arc<Self>, config: &ConfigFile) -> anyhow::Result<ReloadReport> {
        let _reload = self.reload_lock.lock().await;
        let admin_token = resolve_admin_token(&config.server)?;
        let current = self.tenants.all();
        let mut profiles = Vec::with_capacity(config.tenants.len());
        for tenant in &config.tenants {
            let previous = current.get(&tenant.id).map(|t| t.profile());
            profiles.push(build_profile(tenant, &self.parts, previous.as_deref())?);
        }
        {
            let mut applied = self
                .applied_server
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if applied.as_ref().is_some_and(|old| *old != config.server) {
                tracing::warn!(
                    "[server] settings changed; they take effect at the next restart (tenants, their limits, settings and secrets apply now)"
                );
            }
            if applied.is_none() {
                *applied = Some(config.server.clone());
            }
        }
        self.admin_token.store(admin_token.map(Arc::new));

        let mut report = ReloadReport::default();
        let mut next = HashMap::with_capacity(profiles.len());
        for profile in profiles {
            let id = profile.env.id.clone();
            let tenant = match current.get(&id) {
                Some(tenant) => {
                    let moved = tenant.profile().plugin_path() != profile.plugin_path();
                    tenant.set_profile(profile);
                    if moved || tenant.plugin.load().is_none() {
                        let _ = self.reload_from_file(tenant).await;
                    }
                    report.kept.push(id.clone());
                    tenant.clone()
                }
                None => {
                    let tenant = Arc::new(Tenant::new(profile));
                    self.load_initial(&tenant).await;
                    if self.watcher.is_some() {
                        tokio::spawn(follow_plugin_file(self.clone(), tenant.clone()));
                    }
                    report.added.push(id.clone());
                    tenant
                }
            };
            next.insert(id, tenant);
        }
        for (id, tenant) in current.iter() {
            if !next.contains_key(id) {
                tenant.retire();
                report.removed.push(id.clone());
            }
        }
        self.tenants.replace(next);
        if let Some(watcher) = &self.watcher {
            watcher.sync(&self.tenants.all());
        }
        report.added.sort();
        report.removed.sort();
        report.kept.sort();
        if !current.is_empty() {
            tracing::info!(added = ?report.added, removed = ?report.removed, kept = report.kept.len(), "configuration reloaded");
        }
        Ok(report)
    }

    /// A new tenant's first load: its plugin file, or, if that does not load, the newest
    /// known-good version kept from an earlier run (the file's error stays in its status).
    async fn load_initial(&self, tenant: &Arc<Tenant>) {
        if tenant.profile().config.pin_sessions {
            self.load_pinned_versions(tenant).await;
        }
        if self.reload_from_file(tenant).await.is_ok() {
            return;
        }
        let Some(newest) = self.versions.list(tenant.id()).pop() else {
            return;
        };
        let error = tenant.status().last_error;
        match self.versions.bytes(tenant.id(), &newest.hash) {
            Ok(bytes) => {
                if self.swap_in(tenant, bytes, Arrival::Kept).await.is_ok() {
                    tracing::warn!(tenant = %tenant.id(), hash = %newest.hash, "serving the last known-good version until the plugin file loads");
                    tenant.update_status(|status| status.last_error = error);
                }
            }
            Err(e) => {
                tracing::warn!(tenant = %tenant.id(), error = %format!("{e:#}"), "the last known-good version is unreadable")
            }
        }
    }

    /// Loads the kept versions of a tenant that pins sessions, so a conversation that started
    /// on one before a restart finishes on it.
    async fn load_pinned_versions(&self, tenant: &Tenant) {
        let kept = self.versions.list(tenant.id());
        for record in kept
            .iter()
            .rev()
            .take(crate::dispatch::tenant::PINNED_VERSIONS)
            .rev()
        {
            let Ok(bytes) = self.versions.bytes(tenant.id(), &record.hash) else {
                continue;
            };
            match self.load(bytes, "kept version").await {
                Ok((plugin, _)) => tenant.keep_for_pinned(Arc::new(plugin)),
                Err(reason) => {
                    tracing::warn!(tenant = %tenant.id(), hash = %record.hash, %reason, "a kept version does not load; sessions pinned to it move on")
                }
            }
        }
    }

    /// Loads the tenant's plugin file and swaps it in if it loads and differs from the
    /// version serving (the watcher, a reload).
    pub async fn reload_from_file(&self, tenant: &Arc<Tenant>) -> Result<SwapOutcome, SwapError> {
        let path = tenant.profile().plugin_path().to_owned();
        let bytes = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(e) => {
                let reason = format!("reading {}: {e}", path.display());
                self.refused(tenant, &reason);
                return Err(SwapError::Refused(reason));
            }
        };
        self.swap_in(tenant, bytes, Arrival::File).await
    }

    /// `PUT /admin/tenants/{id}/plugin`: validates `bytes`, publishes them for the other
    /// replicas (shared storage), then writes them over the tenant's plugin file atomically
    /// and swaps them in.
    pub async fn upload(
        &self,
        tenant: &Arc<Tenant>,
        bytes: Vec<u8>,
    ) -> Result<SwapOutcome, SwapError> {
        self.swap_in(tenant, bytes, Arrival::Upload).await
    }

    /// `POST /admin/tenants/{id}/rollback`: returns to the newest kept version before the one
    /// serving, which is forgotten (it is no longer known to be good).
    pub async fn rollback(&self, tenant: &Arc<Tenant>) -> Result<SwapOutcome, SwapError> {
        let current = tenant
            .plugin
            .load()
            .as_ref()
            .map(|p| p.info().hash.clone())
            .unwrap_or_default();
        let Some(previous) = self.versions.previous(tenant.id(), &current) else {
            return Err(SwapError::NoVersion(format!(
                "no earlier version of {} is kept",
                tenant.id()
            )));
        };
        let bytes = self
            .versions
            .bytes(tenant.id(), &previous.hash)
            .map_err(|e| SwapError::Io(format!("{e:#}")))?;
        let outcome = self.swap_in(tenant, bytes, Arrival::Rollback).await?;
        self.forget_version(tenant, &current);
        Ok(outcome)
    }

    /// Forgets a version rolled back from (here or on another replica).
    pub(super) fn forget_version(&self, tenant: &Tenant, hash: &str) {
        if !hash.is_empty()
            && let Err(e) = self.versions.forget(tenant.id(), hash)
        {
            tracing::warn!(tenant = %tenant.id(), error = %format!("{e:#}"), "could not forget the rolled-back version");
        }
    }

    /// Compiles (or takes from the compiled cache) and checks `bytes` off the async threads,
    /// without making them any tenant's version (a candidate's, or the first step of a swap);
    /// the reason when they do not load.
    pub async fn load(&self, bytes: Vec<u8>, source: &str) -> Result<(Plugin, Vec<u8>), String> {
        let (runtime, cache) = (self.runtime.clone(), self.cache.clone());
        let (source, hash) = (source.to_owned(), content_hash(&bytes));
        let loaded = tokio::task::spawn_blocking(move || {
            let plugin = load_plugin(&runtime, cache.as_ref(), &bytes, &hash, &source);
            (plugin, bytes)
        })
        .await;
        match loaded {
            Ok((Ok(plugin), bytes)) => Ok((plugin, bytes)),
            Ok((Err(e), _)) => Err(e.to_string()),
            Err(e) => Err(format!("loading panicked: {e}")),
        }
    }

    /// The one path by which a plugin version becomes current. Once it loads, an upload or
    /// rollback is published for the other replicas of shared storage (if that fails, nothing
    /// changes), and the tenant's plugin file is rewritten atomically where `arrival` says so.
    pub(super) async fn swap_in(
        &self,
        tenant: &Arc<Tenant>,
        bytes: Vec<u8>,
        arrival: Arrival,
    ) -> Result<SwapOutcome, SwapError> {
        let source = arrival.source();
        let _load = tenant.load_lock.lock().await;
        let hash = content_hash(&bytes);
        let serving = tenant.plugin.load_full();
        if serving.as_ref().is_some_and(|p| p.info().hash == hash) {
            tenant.update_status(|status| status.last_error = None);
            if arrival.publishes() {
                self.publish(tenant, &hash, source, &bytes).await?;
            }
            return Ok(SwapOutcome::Unchanged { hash });
        }
        let (plugin, bytes) = match self.load(bytes, source).await {
            Ok(loaded) => loaded,
            Err(reason) => {
                self.refused(tenant, &reason);
                return Err(SwapError::Refused(reason));
            }
        };
        if arrival.publishes() {
            self.publish(tenant, &hash, source, &bytes).await?;
        }
        if arrival.writes_file() {
            let path = tenant.profile().plugin_path().to_owned();
            if let Err(e) = write_atomically(&path, &bytes) {
                let reason = format!("{e:#}");
                tracing::error!(tenant = %tenant.id(), %reason, "could not write the plugin file; nothing changed");
                return Err(SwapError::Io(reason));
            }
        }
        let info = plugin.info().clone();
        let replaced = tenant.plugin.swap(Some(Arc::new(plugin)));
        // Sessions that started on the replaced version may finish on it.
        if let Some(replaced) = replaced
            && tenant.profile().config.pin_sessions
        {
            tenant.keep_for_pinned(replaced);
        }
        tenant.update_status(|status| {
            status.last_error = None;
            status.last_error_at_ms = None;
            status.swaps += 1;
        });
        let outcome = if info.from_cache {
            "cached"
        } else {
            "compiled"
        };
        self.count_load(tenant.id(), outcome);
        if let Some(feed) = &self.feed
            && serving.is_some()
        {
            feed.push(
                "plugin_updated",
                tenant.id(),
                json!({ "hash": hash, "source": source }),
            );
        }
        tracing::info!(
            tenant = %tenant.id(),
            source,
            hash = %short(&hash),
            previous = %serving.as_ref().map(|p| short(&p.info().hash)).unwrap_or("none"),
            bytes = info.size_bytes,
            compile_ms = info.compile_time.as_millis() as u64,
            from_cache = info.from_cache,
            "plugin loaded"
        );
        let record = VersionRecord {
            hash: hash.clone(),
            size_bytes: info.size_bytes,
            loaded_at_ms: now_ms(),
            source: source.to_owned(),
        };
        if let Err(e) = self.versions.record(tenant.id(), record, &bytes) {
            tracing::warn!(tenant = %tenant.id(), error = %format!("{e:#}"), "could not keep the version for rollback");
        }
        if let (Arrival::Published { rollback: true }, Some(old)) = (arrival, &serving) {
            self.forget_version(tenant, &old.info().hash);
        }
        self.serving_changed.notify_one();
        Ok(SwapOutcome::Swapped { hash })
    }

    /// Stores a version for the other replicas (nothing to do when storage is this process's
    /// alone).
    async fn publish(
        &self,
        tenant: &Tenant,
        hash: &str,
        source: &str,
        bytes: &[u8],
    ) -> Result<(), SwapError> {
        if self.storage().exclusive() {
            return Ok(());
        }
        self.storage()
            .publish_plugin(tenant.id(), hash, source, bytes)
            .await
            .map_err(|e| {
                let reason = format!(
                    "the version could not be stored for the other replicas, nothing changed: {e:#}"
                );
                tracing::error!(tenant = %tenant.id(), %reason, "plugin not published");
                SwapError::Unavailable(reason)
            })
    }

    fn refused(&self, tenant: &Tenant, reason: &str) {
        tenant.update_status(|status| {
            status.last_error = Some(reason.to_owned());
            status.last_error_at_ms = Some(now_ms());
            status.failed_loads += 1;
        });
        self.count_load(tenant.id(), "refused");
        if let Some(feed) = &self.feed {
            feed.push("plugin_refused", tenant.id(), json!({ "reason": reason }));
        }
        let serving = if tenant.plugin.load().is_some() {
            "the previous version keeps serving"
        } else {
            "the tenant has no plugin"
        };
        tracing::error!(tenant = %tenant.id(), %reason, "plugin refused; {serving}");
    }

    fn count_load(&self, tenant: &str, outcome: &str) {
        self.metrics
            .plugin_loads
            .get_or_create(&TenantOutcome {
                tenant: tenant.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }
}

/// The first 12 hex digits of a content hash (for log lines).
fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

/// The admin token `[server]` names, if any.
pub fn resolve_admin_token(server: &ServerConfig) -> anyhow::Result<Option<Secret>> {
    if server.admin_token_env.is_none() && server.admin_token_file.is_none() {
        return Ok(None);
    }
    resolve_secret(
        "admin token",
        server.admin_token_env.as_deref(),
        server.admin_token_file.as_deref(),
    )
    .map(Some)
}

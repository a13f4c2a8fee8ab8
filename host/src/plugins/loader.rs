//! Compiles a plugin, or takes its machine code from the compiled-artifact cache, and checks
//! it against the world. Blocking: called from blocking threads, never from the async ones.

use std::time::{Instant, SystemTime};

use super::cache::ArtifactCache;
use crate::contract::WORLD;
use crate::runtime::{Plugin, PluginError, PluginInfo, Runtime};

/// Loads `bytes` (whose SHA-256 is `hash`) as a plugin, through `cache` when there is one;
/// a freshly compiled plugin is added to the cache.
pub fn load_plugin(
    runtime: &Runtime,
    cache: Option<&ArtifactCache>,
    bytes: &[u8],
    hash: &str,
    source: &str,
) -> Result<Plugin, PluginError> {
    let started = Instant::now();
    let info = |from_cache| PluginInfo {
        world: WORLD,
        hash: hash.to_owned(),
        size_bytes: bytes.len(),
        compile_time: std::time::Duration::ZERO,
        from_cache,
        loaded_at: SystemTime::now(),
        source: source.to_owned(),
        imports: Vec::new(),
    };
    if let Some(component) = cache.and_then(|cache| cache.get(runtime.engine(), hash)) {
        return Plugin::from_component(runtime.engine(), runtime.linker(), &component, info(true));
    }
    let component = Plugin::compile(runtime.engine(), bytes)?;
    let mut info = info(false);
    info.compile_time = started.elapsed();
    let plugin = Plugin::from_component(runtime.engine(), runtime.linker(), &component, info)?;
    if let Some(cache) = cache
        && let Err(error) = cache.put(hash, &component)
    {
        tracing::warn!(error = %format!("{error:#}"), "could not add a compiled plugin to the cache");
    }
    Ok(plugin)
}

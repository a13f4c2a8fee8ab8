//! `wasmbot check PLUGIN.wasm`.

use std::path::Path;

use anyhow::Context as _;

use crate::runtime::{EngineSettings, Runtime};

/// Loads and validates the plugin at `path`, printing what it is.
pub fn check(path: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let runtime = Runtime::new(&EngineSettings::default())?;
    let plugin = runtime
        .load(&bytes)
        .with_context(|| format!("{} was refused", path.display()))?;
    let info = plugin.info();
    println!("{}: ok", path.display());
    println!("  world:        {}", info.world);
    println!("  size:         {} bytes", info.size_bytes);
    println!("  compile time: {} ms", info.compile_time.as_millis());
    println!("  imports:      {}", info.imports.join(", "));
    Ok(())
}

//! `wasmbot check PLUGIN.wasm`.

use std::path::Path;

/// Loads and validates the plugin at `path`, printing what it is.
pub fn check(path: &Path) -> anyhow::Result<()> {
    let plugin = super::offline::load(path)?.plugin;
    let info = plugin.info();
    println!("{}: ok", path.display());
    println!("  world:        {}", info.world);
    println!("  size:         {} bytes", info.size_bytes);
    if info.from_cache {
        println!("  compile time: none (compiled-plugin cache)");
    } else {
        println!("  compile time: {} ms", info.compile_time.as_millis());
    }
    println!("  imports:      {}", info.imports.join(", "));
    Ok(())
}

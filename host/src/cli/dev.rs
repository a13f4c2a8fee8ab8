//! `wasmbot dev`: the example bots, the mluvii simulator and its chat page, on one machine.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::delivery::RetryPolicy;
use crate::dev::{DevBot, DevOptions, start};

/// Arguments of `wasmbot dev`.
#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// wasmbot's address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The simulator's address (the chat page is its `/`).
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub simulator_listen: SocketAddr,
    /// The plugins workspace holding the example bots.
    #[arg(long, default_value = "plugins")]
    pub plugins_dir: PathBuf,
    /// Database directory.
    #[arg(long, default_value = "data/dev")]
    pub data_dir: PathBuf,
    /// Do not (re)build the example bots first.
    #[arg(long)]
    pub no_build: bool,
}

const EXAMPLES: &[&str] = &["echo", "support"];

/// Builds the example bots if needed, starts everything, and serves until Ctrl-C.
pub fn dev(args: &DevArgs) -> anyhow::Result<()> {
    if !args.no_build {
        build_examples(&args.plugins_dir)?;
    }
    let release = args.plugins_dir.join("target/wasm32-wasip2/release");
    let bots = EXAMPLES
        .iter()
        .map(|name| {
            let plugin = release.join(format!("{name}.wasm"));
            if !plugin.exists() {
                bail!("{} is missing; build the plugins first", plugin.display());
            }
            Ok(DevBot {
                id: (*name).to_owned(),
                plugin,
                settings: toml::Table::new(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let server = start(DevOptions {
            bots,
            host_listen: args.listen,
            simulator_listen: args.simulator_listen,
            data_dir: args.data_dir.clone(),
            token_lifetime: Duration::from_secs(3600),
            retry: RetryPolicy::default(),
            durability: crate::storage::Durability::Fsync,
        })
        .await?;
        println!("wasmbot is serving the example bots at {}", server.host_url);
        println!("mluvii simulator at {}", server.simulator_url);
        println!();
        println!("Chat with the example bots: {}/", server.simulator_url);
        println!("(Ctrl-C stops)");
        super::serve::shutdown_signal().await;
        server.stop().await
    })
}

fn build_examples(plugins_dir: &Path) -> anyhow::Result<()> {
    if !plugins_dir.join("Cargo.toml").exists() {
        bail!(
            "{} is not the plugins workspace; run from the repository root or pass --plugins-dir",
            plugins_dir.display()
        );
    }
    eprintln!("building the example bots in {} …", plugins_dir.display());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(plugins_dir)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .args(EXAMPLES.iter().flat_map(|name| ["-p", name]))
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!(
            "building the example bots failed (is the target installed? `rustup target add wasm32-wasip2`)"
        );
    }
    Ok(())
}

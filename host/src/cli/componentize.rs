//! `wasmbot componentize CORE.wasm -o BOT.wasm`: a WASI preview 1 core module (C, Go) made
//! into a bot component, then checked like `wasmbot check`.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::componentize::componentize as encode;
use crate::plugins::cache::write_atomically;

/// Arguments of `wasmbot componentize`.
#[derive(Debug, clap::Args)]
pub struct ComponentizeArgs {
    /// The core module (wasm32-wasip1, reactor or command).
    pub core: PathBuf,
    /// Where to write the component.
    #[arg(long, short)]
    pub output: PathBuf,
}

/// Encodes the component, checks it against the contract, and writes it.
pub fn componentize(args: &ComponentizeArgs) -> anyhow::Result<()> {
    let core =
        std::fs::read(&args.core).with_context(|| format!("reading {}", args.core.display()))?;
    let made = encode(&core)
        .with_context(|| format!("{} was not made a component", args.core.display()))?;
    let runtime = crate::runtime::Runtime::new(&crate::runtime::EngineSettings::default())?;
    runtime
        .load(&made.component)
        .with_context(|| format!("the component made of {} was refused", args.core.display()))?;
    write_atomically(&args.output, &made.component)?;
    println!(
        "{}: {} bytes{}{}",
        args.output.display(),
        made.component.len(),
        if made.embedded_contract {
            ", the contract's WIT embedded"
        } else {
            ""
        },
        if made.command {
            ", adapted as a command"
        } else {
            ""
        },
    );
    Ok(())
}

//! `wasmbot new NAME --lang LANG`: a bot project from the templates in this binary.

use std::path::PathBuf;

use anyhow::{Context as _, bail};

use crate::project::{Language, check_name, write_project};

/// Arguments of `wasmbot new`.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The bot's name: the project's directory, package and tenant id (a-z, 0-9, '-').
    pub name: String,
    /// The language to write it in.
    #[arg(long, value_enum)]
    pub lang: Language,
    /// Where to make the project (default: ./NAME); it must be missing or empty.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Writes the project and says what to do next.
pub fn new(args: &NewArgs) -> anyhow::Result<()> {
    check_name(&args.name).map_err(|e| anyhow::anyhow!("the bot's name {e}"))?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() {
        let mut entries =
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
        if entries.next().is_some() {
            bail!("{} exists and is not empty", dir.display());
        }
    }
    write_project(&dir, &args.name, args.lang)?;
    println!(
        "made {} ({}) in {}",
        args.name,
        args.lang.display_name(),
        dir.display()
    );
    println!();
    println!("  cd {}", dir.display());
    println!("  wasmbot build   # build the component");
    println!("  wasmbot test    # run the conversation scripts in tests/");
    println!("  wasmbot dev     # chat with it in the browser; saved changes are rebuilt");
    Ok(())
}

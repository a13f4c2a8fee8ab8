//! `wasmbot dead-letters list|retry|drop`: the activities mluvii kept refusing, in the
//! configured storage (the data directory's SQLite files, or the shared PostgreSQL database).
//! Works beside running servers; they pick retried letters up at their next sweep.

use std::path::PathBuf;

use anyhow::{Context as _, bail};

use crate::config::ConfigFile;
use crate::storage::StorageConfig;

/// Arguments of `wasmbot dead-letters`.
#[derive(Debug, clap::Args)]
pub struct DeadLetterArgs {
    /// The configuration file whose `[storage]` (or `server.data_dir`) holds the database.
    #[arg(long, short, default_value = "wasmbot.toml", env = "WASMBOT_CONFIG")]
    pub config: PathBuf,
    /// An SQLite data directory (instead of reading the storage from the configuration).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub action: DeadLetterAction,
}

/// What to do with dead letters.
#[derive(Debug, clap::Subcommand)]
pub enum DeadLetterAction {
    /// Lists every dead letter: id, tenant, session, activity, attempts, last error.
    List,
    /// Makes dead letters pending again, with a fresh retry budget.
    Retry(Selection),
    /// Deletes dead letters, releasing the activities waiting behind them.
    Drop(Selection),
}

/// Which dead letters.
#[derive(Debug, clap::Args)]
pub struct Selection {
    /// The dead letter's id (from `list`).
    pub id: Option<i64>,
    /// Every dead letter.
    #[arg(long, conflicts_with = "id")]
    pub all: bool,
}

impl Selection {
    fn target(&self) -> anyhow::Result<Option<i64>> {
        match (self.id, self.all) {
            (Some(id), false) => Ok(Some(id)),
            (None, true) => Ok(None),
            _ => bail!("name a dead letter's id, or --all"),
        }
    }
}

/// Runs the command.
pub fn dead_letters(args: &DeadLetterArgs) -> anyhow::Result<()> {
    let config = match &args.data_dir {
        Some(dir) => StorageConfig::Sqlite {
            data_dir: dir.clone(),
            durability: Default::default(),
            lock: false,
        },
        None => ConfigFile::load(&args.config)?.storage()?,
    };
    if let StorageConfig::Sqlite { data_dir, .. } = &config {
        let path = data_dir.join(crate::storage::EVENTS_FILE);
        if !path.exists() {
            bail!("{} does not exist: no event database there", path.display());
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let storage = crate::storage::open(&config.for_tools()).await?;
        match &args.action {
            DeadLetterAction::List => {
                let letters = storage.dead_letters().await?;
                if letters.is_empty() {
                    println!("no dead letters");
                }
                for letter in letters {
                    println!(
                        "{}\ttenant={}\tsession={}\tactivity={}\tattempts={}\terror={}",
                        letter.id,
                        letter.tenant,
                        letter.session_id,
                        letter.name,
                        letter.attempts,
                        letter.last_error.unwrap_or_default().escape_debug()
                    );
                }
            }
            DeadLetterAction::Retry(selection) => {
                let count = storage.retry_dead(selection.target()?).await?;
                println!("{count} dead letter(s) will be retried");
                if count == 0 && selection.id.is_some() {
                    bail!("no dead letter with that id");
                }
            }
            DeadLetterAction::Drop(selection) => {
                let count = storage.drop_dead(selection.target()?).await?;
                println!("{count} dead letter(s) dropped");
                if count == 0 && selection.id.is_some() {
                    bail!("no dead letter with that id");
                }
            }
        }
        Ok(())
    })
}

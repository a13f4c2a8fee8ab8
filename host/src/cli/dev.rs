//! `wasmbot dev`: the bot project here, or else the example bots (and any given with `--bot`), the mluvii simulator and its
//! chat page, on one machine; bots are rebuilt when their sources change and swapped in live.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::capabilities::http::HttpConfig;
use crate::delivery::RetryPolicy;
use crate::dev::rebuild::{BotSource, watch_sources};
use crate::dev::{DevBot, DevOptions, start};
use crate::project::{BuildOutput, MANIFEST, Project};

/// Arguments of `wasmbot dev`.
#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// wasmbot's address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The simulator's address (the chat page is its `/`).
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub simulator_listen: SocketAddr,
    /// The plugins workspace holding the example bots (served when not in a bot project).
    #[arg(long, default_value = "plugins")]
    pub plugins_dir: PathBuf,
    /// Database directory (default: `.wasmbot/dev` in a bot project, else `data/dev`).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Another bot to serve: a bot project or cargo package directory (built, watched and
    /// rebuilt) or a `.wasm` component (watched). Repeatable.
    #[arg(long = "bot")]
    pub bots: Vec<PathBuf>,
    /// Do not (re)build the bots first, and do not rebuild them on changes.
    #[arg(long)]
    pub no_build: bool,
}

const EXAMPLES: &[&str] = &["echo", "support"];

/// Builds the bots, starts everything, rebuilds bots whose sources change, and serves until
/// Ctrl-C. Inside a bot project (a `bot.toml` here or above) that bot is served; elsewhere
/// the example bots of the plugins workspace.
pub fn dev(args: &DevArgs) -> anyhow::Result<()> {
    let mut sources = Vec::new();
    let mut bots = Vec::new();
    let here = Project::find(Path::new("."))?;
    let data_dir = match (&args.data_dir, &here) {
        (Some(dir), _) => dir.clone(),
        (None, Some(project)) => project.dir.join(".wasmbot/dev"),
        (None, None) => PathBuf::from("data/dev"),
    };
    match &here {
        Some(project) => add_project(project, args.no_build, &mut bots, &mut sources)?,
        None => add_examples(args, &mut bots, &mut sources)?,
    }
    for path in &args.bots {
        if path.extension().is_some_and(|e| e == "wasm") {
            let id = path
                .file_stem()
                .and_then(|s| s.to_str())
                .context("the bot file needs a name")?
                .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-");
            bots.push(DevBot {
                id,
                plugin: path.clone(),
                settings: toml::Table::new(),
                http: HttpConfig::default(),
            });
        } else if path.join(MANIFEST).is_file() {
            add_project(
                &Project::load(path)?,
                args.no_build,
                &mut bots,
                &mut sources,
            )?;
        } else {
            let source = BotSource::from_dir(path)?;
            eprintln!("building {} …", source.label());
            let plugin = source.build().map_err(anyhow::Error::msg)?;
            bots.push(DevBot {
                id: source.tenant.clone(),
                plugin,
                settings: toml::Table::new(),
                http: HttpConfig::default(),
            });
            sources.push(source);
        }
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let server = start(DevOptions {
            bots,
            host_listen: args.listen,
            simulator_listen: args.simulator_listen,
            data_dir,
            token_lifetime: Duration::from_secs(3600),
            retry: RetryPolicy::default(),
            durability: crate::storage::Durability::Fsync,
        })
        .await?;
        let watching = sources.len();
        let _watcher = watch_sources(sources, server.feed.clone())?;
        println!("wasmbot is serving the bots at {}", server.host_url);
        println!("mluvii simulator at {}", server.simulator_url);
        println!();
        println!("Chat with the bots: {}/", server.simulator_url);
        if watching > 0 {
            println!("Edit a bot's sources: it is rebuilt and swapped in; the chat page says so.");
        }
        println!("(Ctrl-C stops)");
        super::serve::shutdown_signal().await;
        server.stop().await
    })
}

/// The example bots of the plugins workspace, built (unless `--no-build`) and watched.
fn add_examples(
    args: &DevArgs,
    bots: &mut Vec<DevBot>,
    sources: &mut Vec<BotSource>,
) -> anyhow::Result<()> {
    if !args.plugins_dir.join("Cargo.toml").exists() {
        bail!(
            "{} is not the plugins workspace and there is no bot.toml here: run from the repository root, pass --plugins-dir, or run in a bot project (`wasmbot new NAME --lang LANG`)",
            args.plugins_dir.display()
        );
    }
    for name in EXAMPLES {
        let source = BotSource::from_dir(&args.plugins_dir.join(name))?;
        let plugin = if args.no_build {
            let built = args
                .plugins_dir
                .join(format!("target/wasm32-wasip2/release/{name}.wasm"));
            if !built.exists() {
                bail!("{} is missing; build the plugins first", built.display());
            }
            built
        } else {
            eprintln!("building {name} …");
            source.build().map_err(anyhow::Error::msg)?
        };
        bots.push(DevBot {
            id: (*name).to_owned(),
            plugin,
            settings: toml::Table::new(),
            http: HttpConfig::default(),
        });
        if !args.no_build {
            sources.push(source);
        }
    }
    Ok(())
}

/// A bot project: built with its command (its output shown), served with its settings and
/// outbound hosts, and watched unless `no_build`.
fn add_project(
    project: &Project,
    no_build: bool,
    bots: &mut Vec<DevBot>,
    sources: &mut Vec<BotSource>,
) -> anyhow::Result<()> {
    let plugin = if no_build {
        let built = project.output();
        if !built.exists() {
            bail!("{} is missing; run `wasmbot build` first", built.display());
        }
        built
    } else {
        super::build::build_and_check(project, BuildOutput::Shown)?;
        sources.push(BotSource::from_project(project));
        project.output()
    };
    bots.push(DevBot {
        id: project.name().to_owned(),
        plugin,
        settings: project.manifest.settings.clone(),
        http: project.manifest.http.clone(),
    });
    Ok(())
}

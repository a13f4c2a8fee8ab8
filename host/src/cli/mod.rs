//! The `wasmbot` command line.

mod bench;
mod build;
mod check;
mod completions;
mod componentize;
mod config_check;
mod dead_letters;
mod dev;
mod export;
mod history;
mod junit;
mod new;
mod offline;
mod replay;
mod run;
mod serve;
mod test;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::telemetry::Telemetry;

/// Runs mluvii chatbot logic as sandboxed WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "wasmbot", version, about)]
pub struct Cli {
    /// Log output format (stderr).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "WASMBOT_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Makes a bot project from a template: a working bot, its build set-up, a `bot.toml`
    /// and a conversation script, in Rust, JavaScript, Python, C or Go.
    New(new::NewArgs),
    /// Builds a bot project with its own build command and checks the component.
    Build(build::BuildArgs),
    /// Rewrites a bot project's `sdk/` (wasmbot's layer and contract) with this binary's.
    Sdk(build::SdkArgs),
    /// Loads a plugin, checks it against the contract, and says what it is.
    Check {
        /// The component file.
        plugin: PathBuf,
    },
    /// Makes a bot component of a WASI preview 1 core module (C, Go), with the WASI adapter
    /// of this host's wasmtime, and checks it.
    Componentize(componentize::ComponentizeArgs),
    /// Runs webhook events through a plugin offline and prints the Send API bodies it
    /// produces, one JSON object per line.
    Run(run::RunArgs),
    /// Runs conversation scripts against a plugin: each event's answer is compared with the
    /// expected Send API bodies; exits non-zero on a difference.
    Test(test::TestArgs),
    /// Runs the example bots with a local mluvii simulator and a chat page to try them.
    Dev(dev::DevArgs),
    /// Receives mluvii webhooks for the configured tenants and delivers their bots' activities.
    Serve(serve::ServeArgs),
    /// Lists, retries or drops activities that became dead letters.
    DeadLetters(dead_letters::DeadLetterArgs),
    /// Measures the event path on loopback: the echo bot in the sandbox and natively.
    Bench(bench::BenchArgs),
    /// Replays a tenant's real conversations from the journal against a candidate version and
    /// compares its answers with what was sent; exits 1 when any differ.
    Replay(replay::ReplayArgs),
    /// Writes a real conversation from the journal as a `wasmbot test` script.
    Export(export::ExportArgs),
    /// Works with configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Prints a shell completion script (`wasmbot completions bash > /etc/bash_completion.d/wasmbot`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Prints the man page in roff (`wasmbot man > wasmbot.1`).
    Man,
}

/// `wasmbot config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Checks a configuration as `serve` and a reload would (keys, limits, secrets, storage,
    /// plugins) without starting a server; exits 1 naming each problem's key.
    Check {
        /// The configuration file.
        file: PathBuf,
    },
}

/// Parses the command line, sets up logging and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // `wasmbot test` prints the bot's log lines with the step they belong to.
    let default_filter = match cli.command {
        Command::Test(_) => "error",
        _ => "info",
    };
    // Traces are a server's: `serve` reads `[telemetry]` before anything is logged.
    let telemetry = match &cli.command {
        Command::Serve(args) => serve::telemetry(args),
        Command::Bench(args) => bench::telemetry(args),
        _ => Ok(None),
    };
    let telemetry = match telemetry {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    init_logging(cli.log_format, default_filter, telemetry.as_ref());
    let result = match cli.command {
        Command::New(args) => new::new(&args),
        Command::Build(args) => build::build(&args),
        Command::Sdk(args) => build::sdk(&args),
        Command::Check { plugin } => check::check(&plugin),
        Command::Run(args) => run::run(&args),
        Command::Componentize(args) => componentize::componentize(&args),
        Command::Test(args) => test::test(&args),
        Command::Serve(args) => serve::serve(&args),
        Command::Dev(args) => dev::dev(&args),
        Command::DeadLetters(args) => dead_letters::dead_letters(&args),
        Command::Bench(args) => bench::bench(&args),
        Command::Config(ConfigCommand::Check { file }) => config_check::config_check(&file),
        Command::Replay(args) => replay::replay(&args),
        Command::Export(args) => export::export(&args),
        Command::Completions { shell } => completions::completions(shell),
        Command::Man => completions::man(),
    };
    if let Some(telemetry) = telemetry {
        telemetry.shutdown();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat, default_filter: &str, telemetry: Option<&Telemetry>) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("WASMBOT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let traces = telemetry.map(|t| t.layer());
    let registry = tracing_subscriber::registry().with(traces);
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => registry.with(lines).with(filter).init(),
        LogFormat::Json => registry.with(lines.json()).with(filter).init(),
    }
}

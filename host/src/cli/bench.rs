//! `wasmbot bench`: see [`crate::bench`].

use std::path::PathBuf;

use anyhow::{Context as _, bail};

use crate::bench::{BenchOptions, LoadShape, PostgresBench, Variant, run_bench, run_scale};
use crate::storage::Durability;

/// Arguments of `wasmbot bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The echo component (build the plugins first).
    #[arg(long, default_value = "plugins/target/wasm32-wasip2/release/echo.wasm")]
    pub plugin: PathBuf,
    /// Webhooks per run.
    #[arg(long, default_value_t = 150_000)]
    pub events: usize,
    /// Sessions the webhooks are spread over, round robin (the default: real traffic, many
    /// chats with few events each; half of them get two, the rest one).
    #[arg(long, default_value_t = 100_000)]
    pub sessions: usize,
    /// Tenants, each with the echo bot.
    #[arg(long, default_value_t = 1)]
    pub tenants: usize,
    /// Clients posting at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Webhooks per second (0: as fast as they are answered).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Which bots run in this process: `wasm`, `native`, `both` (interleaved in each round),
    /// `plain` (no wasmbot: a plain native echo service, the baseline), `all` (plain, native
    /// and wasm), `shadow` (wasm alone and wasm with itself as a shadow candidate,
    /// interleaved), or `none` (only `--target`s).
    #[arg(long, default_value = "both")]
    pub bot: String,
    /// Rounds; medians are reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Journal without fsync.
    #[arg(long)]
    pub no_fsync: bool,
    /// Instead of the load: start N tenants, each with its own build of the echo bot, cold
    /// and then from the compiled cache, and time the first event of untouched tenants.
    #[arg(long, default_value_t = 0)]
    pub scale: usize,
    /// Also run each variant with a noisy neighbour: a second tenant running this bot (the
    /// misbehaving fixture) with endless loops, hour-long sleeps and log floods.
    #[arg(long, num_args = 0..=1, default_missing_value = "plugins/target/wasm32-wasip2/release/misbehaving.wasm")]
    pub noisy: Option<PathBuf>,
    /// Also run on PostgreSQL: the environment variable holding the database URL (its
    /// tables are emptied before each run; use a database of its own).
    #[arg(long)]
    pub postgres_url_env: Option<String>,
    /// With `--postgres-url-env`: the replica counts to run (in this process, the load round
    /// robin over them), each beside the SQLite default in every round.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub replicas: Vec<usize>,
    /// Also drive a server outside this process with the same load, in every round: its
    /// webhook URL, token included (repeatable). Its mluvii `base_url` must be the sink
    /// (`--sink-listen`), and it must answer each `Text` with `You said: <text>`.
    #[arg(long = "target")]
    pub targets: Vec<String>,
    /// With `--target`: where the sink (the targets' mluvii) listens.
    #[arg(long, default_value = "127.0.0.1:9100")]
    pub sink_listen: std::net::SocketAddr,
    /// Trace every event (as `[telemetry]` with `sampling_ratio = 1.0` would) and export the
    /// spans to a built-in OTLP/HTTP sink listening here: what traces cost.
    #[arg(long)]
    pub otlp_sink: Option<std::net::SocketAddr>,
    /// With `--scale`: how many untouched tenants get a first event.
    #[arg(long, default_value_t = 20)]
    pub probes: usize,
}

/// The trace exporter `--otlp-sink` asks for, started.
pub fn telemetry(args: &BenchArgs) -> anyhow::Result<Option<crate::telemetry::Telemetry>> {
    let Some(address) = args.otlp_sink else {
        return Ok(None);
    };
    crate::telemetry::Telemetry::start(&crate::telemetry::TelemetryConfig {
        otlp_endpoint: Some(format!("http://{address}")),
        ..Default::default()
    })
}

/// Runs the benchmark.
pub fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    if !args.plugin.exists() {
        bail!(
            "{} is missing: build the plugins first (`cd plugins && cargo build --release`)",
            args.plugin.display()
        );
    }
    if args.scale > 0 {
        let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
        runtime.block_on(run_scale(&args.plugin, args.scale, args.probes))?;
        return Ok(());
    }
    let variants = match args.bot.as_str() {
        "wasm" => vec![Variant::Wasm],
        "native" => vec![Variant::Native],
        "both" => vec![Variant::Native, Variant::Wasm],
        "shadow" => vec![Variant::Wasm, Variant::Shadow],
        "plain" => vec![Variant::Plain],
        "all" => vec![Variant::Plain, Variant::Native, Variant::Wasm],
        "none" if !args.targets.is_empty() => vec![],
        "none" => bail!("--bot none needs a --target"),
        other => bail!("--bot {other:?}: use wasm, native, both, plain, all, shadow or none"),
    };
    let options = BenchOptions {
        plugin: args.plugin.clone(),
        tenants: args.tenants,
        load: LoadShape {
            events: args.events,
            sessions: args.sessions,
            concurrency: args.concurrency,
            rate: args.rate,
        },
        variants,
        rounds: args.rounds,
        noisy_plugin: args.noisy.clone(),
        postgres: match &args.postgres_url_env {
            Some(var) => Some(PostgresBench {
                url: crate::config::resolve_secret("--postgres-url-env", Some(var), None)?,
                replicas: args.replicas.clone(),
            }),
            None => None,
        },
        targets: (!args.targets.is_empty()).then(|| crate::bench::ExternalTargets {
            urls: args.targets.clone(),
            sink_listen: args.sink_listen,
        }),
        durability: if args.no_fsync {
            Durability::None
        } else {
            Durability::Fsync
        },
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let traces = match args.otlp_sink {
            Some(address) => Some(crate::bench::OtlpSink::start(address).await?),
            None => None,
        };
        run_bench(&options).await?;
        if let Some(traces) = traces {
            let (exports, bytes) = traces.received();
            println!(
                "traces: on (every event), {exports} OTLP exports of {} KiB in all received so far",
                bytes >> 10
            );
        }
        anyhow::Ok(())
    })?;
    Ok(())
}

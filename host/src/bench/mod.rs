//! `wasmbot bench`: the whole event path on loopback, measured from outside. It starts the
//! host with N tenants and a fast built-in mluvii sink, drives webhooks over many sessions,
//! and reports acknowledgements, delivery, latencies, CPU and memory. The same scenario can
//! run with the echo bot compiled natively into the host (same journal and delivery, no
//! sandbox), so the sandbox's cost is a ratio measured in one run.

mod external;
mod load;
mod noisy;
mod otlp_sink;
mod plain;
mod postgres;
pub mod process;
mod scale;
mod sink;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::config::{ConfigFile, LimitsConfig, MluviiConfig, ServerConfig, TenantConfig};
use crate::runtime::{NativeEcho, Plugin};
use crate::server::{run, setup::build_state};
use crate::storage::Durability;
pub use load::LoadShape;
pub use otlp_sink::OtlpSink;
pub use scale::{ScaleFigures, run_scale};
use sink::ServedSink;

/// Which bot handles the events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The echo component in the sandbox.
    Wasm,
    /// The same echo logic compiled into the host.
    Native,
    /// The echo component in the sandbox, with itself as every tenant's shadow candidate
    /// (every event runs twice; the shadow's cost on the serving path).
    Shadow,
    /// No wasmbot: a plain native echo service (axum and reqwest, ack then a FIFO per
    /// session; no journal, no sandbox), the baseline of the host's whole path.
    Plain,
}

/// Where the event path lives in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default: SQLite under the data directory, one process.
    Sqlite,
    /// PostgreSQL, with this many replicas (in this process, each with its own storage pool,
    /// runtime and dispatcher) sharing it; the load goes round robin over them.
    Postgres(usize),
    /// A server outside this process (`--target`, by its index): whatever it runs.
    External(usize),
}

/// Servers outside this process driven with the same load (`--target`).
#[derive(Debug, Clone)]
pub struct ExternalTargets {
    /// Their webhook URLs (token included).
    pub urls: Vec<String>,
    /// Where the sink listens: their mluvii `base_url` must point here.
    pub sink_listen: std::net::SocketAddr,
}

/// The PostgreSQL runs of a bench (`--postgres-url-env`).
#[derive(Debug, Clone)]
pub struct PostgresBench {
    /// The database URL (its tables are emptied before each run).
    pub url: crate::config::Secret,
    /// Replica counts to run, each beside the SQLite default in every round.
    pub replicas: Vec<usize>,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The echo component.
    pub plugin: PathBuf,
    /// Tenants (each runs the echo bot).
    pub tenants: usize,
    /// The load.
    pub load: LoadShape,
    /// The variants, run one after the other in each round.
    pub variants: Vec<Variant>,
    /// Rounds (medians are reported).
    pub rounds: usize,
    /// Whether journal commits are fsynced.
    pub durability: Durability,
    /// With a noisy neighbour (`--noisy`): the misbehaving bot, for a second tenant that runs
    /// hostile events during every other run of each round.
    pub noisy_plugin: Option<PathBuf>,
    /// Also run on PostgreSQL, with replicas.
    pub postgres: Option<PostgresBench>,
    /// Also drive servers outside this process.
    pub targets: Option<ExternalTargets>,
}

/// The figures of one run.
#[derive(Debug, Clone)]
pub struct Figures {
    /// Which bot.
    pub variant: Variant,
    /// Which storage.
    pub backend: Backend,
    /// CPU time of the PostgreSQL server's processes per delivered event, µs (PostgreSQL runs).
    pub db_cpu_us_per_event: Option<f64>,
    /// What the noisy neighbour did meanwhile, when there was one.
    pub noisy: Option<noisy::NoisyLoad>,
    /// Webhooks answered 200, per second of load.
    pub acked_per_sec: f64,
    /// Webhooks not answered 200.
    pub refused: u64,
    /// Ack latency percentiles (ms): p50, p99, p99.9.
    pub ack_ms: [f64; 3],
    /// End-to-end (webhook sent → activity at the sink) percentiles (ms): p50, p99.
    pub e2e_ms: [f64; 2],
    /// Activities delivered per second, from the start of the load to the last delivery.
    pub delivered_per_sec: f64,
    /// Unprocessed events when the load ended.
    pub backlog_at_end: usize,
    /// CPU time of the whole process (host, load and sink) per delivered event, µs.
    pub cpu_us_per_event: f64,
    /// CPU time of the host alone (the process's, less the load generator's and the sinks'
    /// threads) per delivered event, µs; refused webhooks' handling included.
    pub host_cpu_us_per_event: f64,
    /// Peak RSS of the process so far, MiB.
    pub peak_rss_mib: f64,
}

fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index] as f64 / 1000.0
}

/// Ack latency p50, p99 and p99.9 (ms) of sorted latencies in µs.
fn ack_percentiles_ms(sorted_us: &[u64]) -> [f64; 3] {
    [0.5, 0.99, 0.999].map(|p| percentile_ms(sorted_us, p))
}

/// End-to-end latency p50 and p99 (ms) of sorted latencies in µs.
fn e2e_percentiles_ms(sorted_us: &[u64]) -> [f64; 2] {
    [0.5, 0.99].map(|p| percentile_ms(sorted_us, p))
}

/// Runs one round of one variant on `backend`, with the noisy neighbour's plugin when `noisy`
/// is given.
pub async fn run_once(
    options: &BenchOptions,
    variant: Variant,
    backend: Backend,
    noisy: Option<&std::path::Path>,
) -> anyhow::Result<Figures> {
    let dir = tempfile::tempdir().context("creating a temporary data directory")?;
    let started = Instant::now();
    let served_sink = ServedSink::start(started).await?;
    let (sink, sink_url) = (served_sink.sink.clone(), served_sink.url.clone());

    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "bench-token")?;
    let mut config = ConfigFile {
        telemetry: Default::default(),
        server: ServerConfig {
            data_dir: dir.path().join("data"),
            max_backlog: options.load.events.max(1) * 2,
            ..ServerConfig::default()
        },
        storage: crate::storage::StorageSection {
            durability: Some(options.durability),
            ..Default::default()
        },
        tenants: (0..options.tenants.max(1))
            .map(|i| TenantConfig {
                id: format!("t{i}"),
                plugin: options.plugin.clone(),
                webhook_token_env: None,
                webhook_token_file: Some(token_file.clone()),
                settings: toml::Table::new(),
                limits: LimitsConfig {
                    max_backlog: options.load.events.max(1) * 2,
                    ..LimitsConfig::default()
                },
                fallback: Default::default(),
                http: Default::default(),
                pin_sessions: false,
                pin_max_age_secs: 3600,
                mluvii: MluviiConfig {
                    base_url: sink_url.clone(),
                    chatbot_id: i as i64,
                    client_id: "bench".into(),
                    client_secret_env: None,
                    client_secret_file: Some(token_file.clone()),
                },
            })
            .collect(),
    };
    // The noisy neighbour's activities (its fallbacks) go to a sink of their own.
    let mut noisy_sink = None;
    if let Some(plugin) = noisy {
        let served = noisy_sink.insert(ServedSink::start(started).await?);
        let mut tenant = config.tenants[0].clone();
        tenant.id = "noisy".into();
        tenant.plugin = plugin.to_owned();
        tenant.limits.timeout_ms = noisy::NOISY_TIMEOUT_MS;
        tenant.mluvii.base_url = served.url.clone();
        config.tenants.push(tenant);
    }
    let replicas = match backend {
        Backend::Sqlite => 1,
        Backend::Postgres(replicas) => replicas.max(1),
        Backend::External(_) => anyhow::bail!("an external target runs through external::run"),
    };
    if let Backend::Postgres(_) = backend {
        let pg = options
            .postgres
            .as_ref()
            .context("a PostgreSQL run needs --postgres-url-env")?;
        postgres::reset(pg.url.expose()).await?;
        let url_file = dir.path().join("database-url");
        std::fs::write(&url_file, pg.url.expose())?;
        config.storage = crate::storage::StorageSection {
            backend: crate::storage::Backend::Postgres,
            url_file: Some(url_file),
            ..Default::default()
        };
    }
    let mut hosts = Vec::new();
    let mut servers = Vec::new();
    let mut dispatchers = Vec::new();
    let mut candidates = Vec::new();
    for replica in 0..replicas {
        if variant == Variant::Plain {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            hosts.push(format!("http://{}", listener.local_addr()?));
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let service = plain::router(&sink_url);
            let server = tokio::spawn(async move {
                axum::serve(listener, service)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
            });
            servers.push((stop, server));
            continue;
        }
        let mut config = config.clone();
        config.server.data_dir = dir.path().join(format!("data{replica}"));
        let state = build_state(&config, None, None).await?;
        if variant == Variant::Native {
            let native = Arc::new(Plugin::native(Arc::new(NativeEcho)));
            for tenant in state.tenants.all().values() {
                tenant.plugin.store(Some(native.clone()));
            }
        }
        if variant == Variant::Shadow {
            let bytes = std::fs::read(&options.plugin)?;
            for tenant in state.tenants.all().values() {
                let (plugin, bytes) = state
                    .registry
                    .load(bytes.clone(), "candidate")
                    .await
                    .map_err(|reason| anyhow::anyhow!("the shadow candidate: {reason}"))?;
                let candidate =
                    Arc::new(crate::dispatch::candidate::Candidate::shadow(plugin, bytes));
                tenant.candidate.store(Some(candidate.clone()));
                candidates.push(candidate);
            }
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        hosts.push(format!("http://{}", listener.local_addr()?));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        dispatchers.push(state.dispatcher.clone());
        let server = tokio::spawn(run(listener, None, state, async {
            let _ = stopped.await;
        }));
        servers.push((stop, server));
    }
    let host = hosts[0].clone();
    let urls = (0..options.tenants.max(1))
        .map(|i| {
            hosts
                .iter()
                .map(|host| format!("{host}/webhook/t{i}?access_token=bench-token"))
                .collect()
        })
        .collect();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(options.load.concurrency.max(1))
        .build()?;
    let (stop_noisy, noisy_stopped) = tokio::sync::watch::channel(false);
    let noisy_load = noisy.map(|_| {
        let url = format!("{host}/webhook/noisy?access_token=bench-token");
        load::spawn_on_load_runtime(noisy::drive(http.clone(), url, noisy_stopped))
    });

    let cpu_before = process::cpu_time();
    let load_cpu_before = process::thread_cpu_time(load::LOAD_THREADS);
    let db_cpu_before = process::cpu_time_of("postgres");
    let load_start_us = sink.now_us();
    let load = load::drive_apart(http, urls, &options.load, &sink).await;
    // With shared storage each replica counts the whole backlog.
    let backlog_at_end = dispatchers.iter().map(|d| d.backlog()).max().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(300);
    while sink.delivered() < load.acked {
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {} of {} acknowledged events were delivered",
            sink.delivered(),
            load.acked
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let cpu = process::cpu_time() - cpu_before;
    let load_cpu = process::thread_cpu_time(load::LOAD_THREADS).saturating_sub(load_cpu_before);
    let db_cpu = process::cpu_time_of("postgres").saturating_sub(db_cpu_before);
    let _ = stop_noisy.send(true);
    let noisy = match noisy_load {
        Some(task) => Some(task.await?),
        None => None,
    };
    let delivery_secs = (sink.last_us() - load_start_us) as f64 / 1e6;
    let e2e = sink.latencies_us();
    for candidate in &candidates {
        let view = candidate.view();
        eprintln!(
            "shadow: {} compared ({} identical), {} dropped",
            view["compared"], view["identical"], view["dropped"]
        );
    }
    for (stop, server) in servers {
        let _ = stop.send(());
        server.await??;
    }
    drop((served_sink, noisy_sink));
    let per_event = |time: Duration| time.as_secs_f64() * 1e6 / sink.delivered().max(1) as f64;
    Ok(Figures {
        variant,
        backend,
        db_cpu_us_per_event: matches!(backend, Backend::Postgres(_)).then(|| per_event(db_cpu)),
        noisy,
        acked_per_sec: load.acked as f64 / load.duration.as_secs_f64(),
        refused: load.refused,
        ack_ms: ack_percentiles_ms(&load.ack_us),
        e2e_ms: e2e_percentiles_ms(&e2e),
        delivered_per_sec: sink.delivered() as f64 / delivery_secs,
        backlog_at_end,
        cpu_us_per_event: per_event(cpu),
        host_cpu_us_per_event: per_event(cpu.saturating_sub(load_cpu)),
        peak_rss_mib: process::peak_rss_bytes() as f64 / (1 << 20) as f64,
    })
}

/// The table header of [`row`].
pub const HEADER: &str = "| bot | delivered/s | acked/s | ack p50 | ack p99 | ack p99.9 | e2e p50 | e2e p99 | backlog at end | CPU/event | host CPU/event | DB CPU/event | peak RSS | refused |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

/// One Markdown table row.
pub fn row(label: &str, f: &Figures) -> String {
    let db_cpu = f
        .db_cpu_us_per_event
        .map_or("–".to_owned(), |us| format!("{us:.0} µs"));
    // Not measured (a server outside this process).
    let known = |value: f64, unit: &str| {
        if value.is_nan() {
            "–".to_owned()
        } else {
            format!("{value:.0} {unit}")
        }
    };
    let (cpu, host_cpu, rss) = (
        known(f.cpu_us_per_event, "µs"),
        known(f.host_cpu_us_per_event, "µs"),
        known(f.peak_rss_mib, "MiB"),
    );
    format!(
        "| {label} | {:.0} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {} | {cpu} | {host_cpu} | {db_cpu} | {rss} | {} |",
        f.delivered_per_sec,
        f.acked_per_sec,
        f.ack_ms[0],
        f.ack_ms[1],
        f.ack_ms[2],
        f.e2e_ms[0],
        f.e2e_ms[1],
        f.backlog_at_end,
        f.refused,
    )
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The median of each figure over rounds of one variant.
pub fn medians(rounds: &[Figures]) -> Figures {
    let m = |f: fn(&Figures) -> f64| median(rounds.iter().map(f).collect());
    Figures {
        variant: rounds[0].variant,
        backend: rounds[0].backend,
        db_cpu_us_per_event: rounds[0]
            .db_cpu_us_per_event
            .map(|_| m(|f| f.db_cpu_us_per_event.unwrap_or(0.0))),
        noisy: rounds[0].noisy,
        acked_per_sec: m(|f| f.acked_per_sec),
        refused: m(|f| f.refused as f64) as u64,
        ack_ms: [m(|f| f.ack_ms[0]), m(|f| f.ack_ms[1]), m(|f| f.ack_ms[2])],
        e2e_ms: [m(|f| f.e2e_ms[0]), m(|f| f.e2e_ms[1])],
        delivered_per_sec: m(|f| f.delivered_per_sec),
        backlog_at_end: m(|f| f.backlog_at_end as f64) as usize,
        cpu_us_per_event: m(|f| f.cpu_us_per_event),
        host_cpu_us_per_event: m(|f| f.host_cpu_us_per_event),
        peak_rss_mib: m(|f| f.peak_rss_mib),
    }
}

/// Runs every round of every variant, printing each run and then the medians and the
/// wasm/native ratio of delivered events per second.
pub async fn run_bench(options: &BenchOptions) -> anyhow::Result<Vec<Figures>> {
    let shape = &options.load;
    println!(
        "wasmbot bench: {} events over {} sessions, {} tenant(s), concurrency {}, rate {}, durability {:?}, {} round(s)",
        shape.events,
        shape.sessions,
        options.tenants,
        shape.concurrency,
        if shape.rate > 0.0 {
            format!("{:.0}/s", shape.rate)
        } else {
            "max".into()
        },
        options.durability,
        options.rounds
    );
    println!("{HEADER}");
    // Each variant alone, and with the noisy neighbour when asked, interleaved in each round.
    let noisy_choices: Vec<Option<&std::path::Path>> = match &options.noisy_plugin {
        Some(plugin) => vec![None, Some(plugin.as_path())],
        None => vec![None],
    };
    let mut runs: Vec<(Variant, Backend, Option<&std::path::Path>)> = options
        .variants
        .iter()
        .flat_map(|v| noisy_choices.iter().map(move |n| (*v, Backend::Sqlite, *n)))
        .collect();
    for replicas in options.postgres.iter().flat_map(|pg| &pg.replicas) {
        for variant in &options.variants {
            runs.push((*variant, Backend::Postgres(*replicas), None));
        }
    }
    if let Some(targets) = &options.targets {
        for index in 0..targets.urls.len() {
            runs.push((Variant::Wasm, Backend::External(index), None));
        }
    }
    // One sink for every external run, at the address their configurations name.
    let external_sink = match &options.targets {
        Some(targets) => Some(
            ServedSink::start_on(targets.sink_listen, Instant::now())
                .await
                .with_context(|| format!("the sink cannot listen on {}", targets.sink_listen))?,
        ),
        None => None,
    };
    let label = |variant: Variant, backend: Backend, noisy: bool| {
        let name = match backend {
            Backend::External(index) => {
                let urls = options.targets.as_ref().map(|t| &t.urls[..]).unwrap_or(&[]);
                return format!("target {}", external::display_url(&urls[index]));
            }
            Backend::Sqlite if options.postgres.is_some() => format!("{variant:?}, SQLite"),
            Backend::Sqlite => format!("{variant:?}"),
            Backend::Postgres(1) => format!("{variant:?}, PostgreSQL, 1 replica"),
            Backend::Postgres(n) => format!("{variant:?}, PostgreSQL, {n} replicas"),
        };
        match (options.noisy_plugin.is_some(), noisy) {
            (false, _) => name,
            (true, false) => format!("{name} alone"),
            (true, true) => format!("{name} + noisy tenant"),
        }
    };
    let mut all: Vec<Vec<Figures>> = runs.iter().map(|_| Vec::new()).collect();
    for round in 1..=options.rounds.max(1) {
        for (i, (variant, backend, noisy)) in runs.iter().enumerate() {
            let figures = match (backend, &options.targets, &external_sink) {
                (Backend::External(index), Some(targets), Some(sink)) => {
                    external::run(*index, &targets.urls[*index], &options.load, sink).await?
                }
                _ => run_once(options, *variant, *backend, *noisy).await?,
            };
            let name = label(*variant, *backend, noisy.is_some());
            println!("{}", row(&format!("{name} (round {round})"), &figures));
            if let Some(load) = figures.noisy {
                println!(
                    "  noisy tenant: {} hostile events acknowledged, {} refused",
                    load.acked, load.refused
                );
            }
            all[i].push(figures);
        }
    }
    let medians: Vec<Figures> = all.iter().map(|rounds| medians(rounds)).collect();
    let headline: Vec<String> = medians
        .iter()
        .map(|f| {
            let name = label(f.variant, f.backend, f.noisy.is_some());
            format!("{name} {:.0}", f.delivered_per_sec)
        })
        .collect();
    println!("\ndelivered per second (median): {}", headline.join(" · "));
    println!("\nmedians:\n{HEADER}");
    for figures in &medians {
        let name = label(figures.variant, figures.backend, figures.noisy.is_some());
        println!("{}", row(&name, figures));
    }
    for figures in &medians {
        if let Backend::Postgres(replicas) = figures.backend {
            let sqlite = medians.iter().find(|f| {
                f.variant == figures.variant && f.backend == Backend::Sqlite && f.noisy.is_none()
            });
            if let Some(sqlite) = sqlite {
                println!(
                    "{:?}: PostgreSQL with {replicas} replica(s) / SQLite delivered per second: {:.2}",
                    figures.variant,
                    figures.delivered_per_sec / sqlite.delivered_per_sec
                );
            }
        }
    }
    for variant in &options.variants {
        let of = |noisy: bool| {
            medians
                .iter()
                .find(|f| f.variant == *variant && f.noisy.is_some() == noisy)
        };
        if let (Some(alone), Some(noisy)) = (of(false), of(true)) {
            println!(
                "\n{variant:?}: e2e p99 with the noisy tenant / alone: {:.2} (p50: {:.2})",
                noisy.e2e_ms[1] / alone.e2e_ms[1],
                noisy.e2e_ms[0] / alone.e2e_ms[0]
            );
        }
    }
    let rate = |v| {
        medians
            .iter()
            .find(|f| f.variant == v && f.backend == Backend::Sqlite && f.noisy.is_none())
            .map(|f| f.delivered_per_sec)
    };
    if let (Some(wasm), Some(native)) = (rate(Variant::Wasm), rate(Variant::Native)) {
        println!("\nwasm / native delivered per second: {:.2}", wasm / native);
    }
    if let Some(plain) = rate(Variant::Plain) {
        for (name, variant) in [("wasm", Variant::Wasm), ("native", Variant::Native)] {
            if let Some(rate) = rate(variant) {
                println!(
                    "{name} / plain service delivered per second: {:.2}",
                    rate / plain
                );
            }
        }
    }
    let externals: Vec<&Figures> = medians
        .iter()
        .filter(|f| matches!(f.backend, Backend::External(_)))
        .collect();
    for (i, target) in externals.iter().enumerate() {
        if let Some(plain) = rate(Variant::Plain) {
            println!(
                "{} / plain service delivered per second: {:.2}",
                label(target.variant, target.backend, false),
                target.delivered_per_sec / plain
            );
        }
        for other in &externals[i + 1..] {
            println!(
                "{} / {} delivered per second: {:.2}",
                label(target.variant, target.backend, false),
                label(other.variant, other.backend, false),
                target.delivered_per_sec / other.delivered_per_sec
            );
        }
    }
    Ok(medians)
}

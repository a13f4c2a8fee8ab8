//! `wasmbot bench --scale N`: N tenants in one process, each with its own build of the echo
//! bot (the echo component with a custom section naming the tenant, so every tenant has a
//! plugin of its own hash, compiled and cached on its own). Measures the start-up with every
//! plugin compiled cold, the restart with every plugin taken from the compiled cache, the
//! resident memory per tenant, and the first event of tenants nothing had touched yet
//! (webhook sent → reply at the sink).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::sink::{ServedSink, Sink};
use super::{percentile_ms, process};
use crate::config::{ConfigFile, LimitsConfig, MluviiConfig, ServerConfig, TenantConfig};
use crate::server::{run, setup::build_state};
use crate::storage::Durability;

/// What `--scale` measured.
#[derive(Debug, Clone)]
pub struct ScaleFigures {
    /// Tenants.
    pub tenants: usize,
    /// Start-up with every plugin compiled (nothing cached).
    pub load_cold: Duration,
    /// Start-up with every plugin taken from the compiled cache.
    pub load_cached: Duration,
    /// Resident memory after the cached start-up, MiB.
    pub rss_mib: f64,
    /// Resident memory added per tenant (after the cached start-up, against the process before
    /// the first start-up; what the allocator kept from the cold start-up counts too), KiB.
    pub rss_per_tenant_kib: f64,
    /// First-event latencies of untouched tenants (µs), sorted.
    pub first_event_us: Vec<u64>,
}

/// The echo component with a custom section `wasmbot-bench` holding `tenant`: a distinct
/// component (and hash) per tenant, behaving the same.
fn distinct_build(echo: &[u8], tenant: usize) -> Vec<u8> {
    let name = b"wasmbot-bench";
    let payload = format!("tenant {tenant}");
    let mut content = Vec::new();
    leb128(&mut content, name.len() as u64);
    content.extend_from_slice(name);
    content.extend_from_slice(payload.as_bytes());
    let mut bytes = echo.to_vec();
    bytes.push(0); // custom section id
    leb128(&mut bytes, content.len() as u64);
    bytes.extend_from_slice(&content);
    bytes
}

fn leb128(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn config(dir: &Path, tenants: usize, sink_url: &str) -> anyhow::Result<ConfigFile> {
    let token_file = dir.join("token");
    std::fs::write(&token_file, "bench-token")?;
    Ok(ConfigFile {
        telemetry: Default::default(),
        server: ServerConfig {
            data_dir: dir.join("data"),
            ..ServerConfig::default()
        },
        storage: crate::storage::StorageSection {
            durability: Some(Durability::Fsync),
            ..Default::default()
        },
        tenants: (0..tenants)
            .map(|i| TenantConfig {
                id: format!("t{i}"),
                plugin: dir.join("bots").join(format!("t{i}.wasm")),
                webhook_token_env: None,
                webhook_token_file: Some(token_file.clone()),
                settings: toml::Table::new(),
                limits: LimitsConfig::default(),
                fallback: Default::default(),
                http: Default::default(),
                pin_sessions: false,
                pin_max_age_secs: 3600,
                mluvii: MluviiConfig {
                    base_url: sink_url.to_owned(),
                    chatbot_id: i as i64,
                    client_id: "bench".into(),
                    client_secret_env: None,
                    client_secret_file: Some(token_file.clone()),
                },
            })
            .collect(),
    })
}

/// Starts the host on `config` (timing the start-up), optionally sends one webhook to each
/// of `probe` untouched tenants and times its reply, then stops the host.
async fn start_and_probe(
    config: &ConfigFile,
    sink: &std::sync::Arc<Sink>,
    probes: usize,
) -> anyhow::Result<(Duration, u64, Vec<u64>)> {
    let started = Instant::now();
    let state = build_state(config, None, None).await?;
    let load = started.elapsed();
    let rss = process::rss_bytes();
    let all_tenants = state.tenants.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let host = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(run(listener, None, state, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let tenants = config.tenants.len();
    let mut latencies = Vec::new();
    for probe in 0..probes.min(tenants) {
        // Spread over the tenants, from the last one loaded backwards.
        let tenant = tenants - 1 - probe * tenants / probes.max(1);
        let before = sink.delivered();
        let sent = Instant::now();
        let body = format!(
            r#"{{"activity":"Text","sessionId":{},"text":"first","language":"en","source":"Default"}}"#,
            900_000 + probe
        );
        let response = http
            .post(format!("{host}/webhook/t{tenant}?access_token=bench-token"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "tenant t{tenant} answered {}",
            response.status()
        );
        while sink.delivered() == before {
            anyhow::ensure!(
                sent.elapsed() < Duration::from_secs(30),
                "no reply from tenant t{tenant}"
            );
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        latencies.push(sent.elapsed().as_micros() as u64);
    }
    let _ = stop.send(());
    server.await??;
    // Let this host go entirely (its plugin watchers hold the tenants and their plugins), so
    // the next start-up is measured alone.
    for tenant in all_tenants.all().values() {
        tenant.retire();
    }
    drop(all_tenants);
    tokio::time::sleep(Duration::from_millis(200)).await;
    latencies.sort_unstable();
    Ok((load, rss, latencies))
}

/// Runs the scale benchmark with `tenants` tenants, probing `probes` of them.
pub async fn run_scale(echo: &Path, tenants: usize, probes: usize) -> anyhow::Result<ScaleFigures> {
    let echo = std::fs::read(echo).with_context(|| format!("reading {}", echo.display()))?;
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let bots = dir.path().join("bots");
    std::fs::create_dir_all(&bots)?;
    for i in 0..tenants {
        std::fs::write(bots.join(format!("t{i}.wasm")), distinct_build(&echo, i))?;
    }
    let served_sink = ServedSink::start(Instant::now()).await?;
    let sink = &served_sink.sink;
    let config = config(dir.path(), tenants, &served_sink.url)?;

    println!("wasmbot bench --scale: {tenants} tenants, each with its own build of the echo bot");
    let before = process::rss_bytes();
    let (load_cold, _, _) = start_and_probe(&config, sink, 0).await?;
    println!(
        "start-up, every plugin compiled: {:.2} s",
        load_cold.as_secs_f64()
    );
    let (load_cached, rss, first_event_us) = start_and_probe(&config, sink, probes).await?;
    drop(served_sink);
    let figures = ScaleFigures {
        tenants,
        load_cold,
        load_cached,
        rss_mib: rss as f64 / (1 << 20) as f64,
        rss_per_tenant_kib: rss.saturating_sub(before) as f64 / 1024.0 / tenants.max(1) as f64,
        first_event_us,
    };
    println!(
        "start-up, every plugin from the compiled cache: {:.2} s",
        load_cached.as_secs_f64()
    );
    println!(
        "resident memory after it: {:.0} MiB ({:.0} KiB per tenant); peak {:.0} MiB",
        figures.rss_mib,
        figures.rss_per_tenant_kib,
        process::peak_rss_bytes() as f64 / (1 << 20) as f64
    );
    println!(
        "first event of an untouched tenant ({} tenants): median {:.2} ms, max {:.2} ms",
        figures.first_event_us.len(),
        percentile_ms(&figures.first_event_us, 0.5),
        percentile_ms(&figures.first_event_us, 1.0)
    );
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb128_matches_the_wasm_encoding() {
        let mut out = Vec::new();
        leb128(&mut out, 624_485);
        assert_eq!(out, [0xe5, 0x8e, 0x26]);
    }
}

//! `wasmbot bench --target URL`: the same load against a server outside this process (another
//! wasmbot, a plain native service, `wasmtime serve`, …), with the bench's sink standing in for
//! its mluvii at a fixed address (`--sink-listen`). The target must answer each `Text`
//! webhook with a Send API request whose body contains `You said: <text>`, as the echo bot
//! does; the sink times each one from the stamp in the text.

use std::time::{Duration, Instant};

use super::load::{self, LoadShape};
use super::sink::ServedSink;
use super::{Backend, Figures, Variant, ack_percentiles_ms, e2e_percentiles_ms};

/// How long the sink waits for a target's deliveries to stop growing before the run ends
/// with what arrived.
const QUIET: Duration = Duration::from_secs(10);

/// The target's URL without its credentials or query (for the report; a webhook URL carries
/// its token).
pub fn display_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => format!(
            "{}://{}{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or("?"),
            parsed.port().map(|p| format!(":{p}")).unwrap_or_default() + parsed.path()
        ),
        Err(_) => "(unparsable URL)".to_owned(),
    }
}

/// Drives `shape` against the webhook URL `url`, the `index`-th target, with `sink` as its
/// mluvii; waits until every acknowledged event was delivered, or until deliveries stop for
/// [`QUIET`].
pub async fn run(
    index: usize,
    url: &str,
    shape: &LoadShape,
    sink: &ServedSink,
) -> anyhow::Result<Figures> {
    let sink = &sink.sink;
    sink.reset();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(shape.concurrency.max(1))
        .build()?;
    let load_start_us = sink.now_us();
    let load = load::drive_apart(http, vec![vec![url.to_owned()]], shape, sink).await;
    let backlog_at_end = load.acked.saturating_sub(sink.delivered()) as usize;
    let (mut seen, mut quiet_since) = (sink.delivered(), Instant::now());
    while sink.delivered() < load.acked && quiet_since.elapsed() < QUIET {
        tokio::time::sleep(Duration::from_millis(5)).await;
        if sink.delivered() != seen {
            (seen, quiet_since) = (sink.delivered(), Instant::now());
        }
    }
    anyhow::ensure!(
        load.acked > 0,
        "target {} acknowledged no webhook",
        display_url(url)
    );
    if sink.delivered() < load.acked {
        println!(
            "  target {}: only {} of {} acknowledged events reached the sink",
            display_url(url),
            sink.delivered(),
            load.acked
        );
    }
    let delivery_secs = (sink.last_us().max(load_start_us + 1) - load_start_us) as f64 / 1e6;
    let e2e = sink.latencies_us();
    Ok(Figures {
        variant: Variant::Wasm,
        backend: Backend::External(index),
        db_cpu_us_per_event: None,
        noisy: None,
        acked_per_sec: load.acked as f64 / load.duration.as_secs_f64(),
        refused: load.refused,
        ack_ms: ack_percentiles_ms(&load.ack_us),
        e2e_ms: e2e_percentiles_ms(&e2e),
        delivered_per_sec: sink.delivered() as f64 / delivery_secs,
        backlog_at_end,
        cpu_us_per_event: f64::NAN,
        host_cpu_us_per_event: f64::NAN,
        peak_rss_mib: f64::NAN,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_names_a_target_without_its_token() {
        assert_eq!(
            display_url("http://u:secret@127.0.0.1:8080/webhook/t0?access_token=abc"),
            "http://127.0.0.1:8080/webhook/t0"
        );
        assert_eq!(display_url("nonsense"), "(unparsable URL)");
    }
}

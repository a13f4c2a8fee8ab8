//! Webhook acknowledgement with the durable journal (fsync per group commit) against the same
//! run without fsync, side by side: bursts of 2,000 Text webhooks over loopback from 50
//! concurrent clients (5 sessions each, so sessions get several events) to a real server (echo
//! plugin, the simulator as mluvii). Prints, per variant, the median over rounds of: ack
//! throughput, ack p50/p99 (client-measured time to the 200), and the time until every reply
//! reached the Send API.
//!
//! Run: `cargo bench -p wasmbot-tests --bench webhook_ack`

use std::time::{Duration, Instant};

use serde_json::json;
use wasmbot::storage::Durability;
use wasmbot_tests::plugins;
use wasmbot_tests::server::{Harness, TestTenant};

const BURST: usize = 2000;
const CLIENTS: usize = 50;
const SESSIONS_PER_CLIENT: usize = 5;
const ROUNDS: usize = 3;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).min(sorted.len()) - 1]
}

struct Round {
    acks_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    delivered_ms: f64,
}

async fn round(durability: Durability) -> Round {
    let tenant = TestTenant {
        id: "acme",
        plugin: plugins::ECHO,
        settings: "{}",
    };
    let h = Harness::start_with(&[tenant], Duration::from_secs(3600), durability).await;
    let url = h.webhook_url("acme");
    for i in 0..CLIENTS {
        let body = json!({"activity": "Text", "sessionId": 1_000_000 + i, "text": "warm"});
        h.http.post(&url).json(&body).send().await.unwrap();
    }
    h.state.dispatcher.idle().await;
    let started = Instant::now();
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (http, url) = (h.http.clone(), url.clone());
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in 0..BURST / CLIENTS {
                let session = c * 1000 + i % SESSIONS_PER_CLIENT;
                let body =
                    json!({"activity": "Text", "sessionId": session, "text": format!("m{i}")});
                let sent = Instant::now();
                let response = http.post(&url).json(&body).send().await.unwrap();
                assert_eq!(response.status().as_u16(), 200);
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for c in clients {
        latencies.extend(c.await.unwrap());
    }
    let acked = started.elapsed();
    latencies.sort();
    while h.sim.received().len() < BURST + CLIENTS {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let delivered = started.elapsed();
    h.stop().await;
    Round {
        acks_per_sec: BURST as f64 / acked.as_secs_f64(),
        p50_ms: percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        p99_ms: percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        delivered_ms: delivered.as_secs_f64() * 1e3,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let variants = [
        ("fsync (default)", Durability::Fsync),
        ("no fsync", Durability::None),
    ];
    let mut results: Vec<Vec<Round>> = variants.iter().map(|_| Vec::new()).collect();
    for _ in 0..ROUNDS {
        for (i, (_, durability)) in variants.iter().enumerate() {
            results[i].push(round(*durability).await);
        }
    }
    println!(
        "{BURST} Text webhooks per round, {CLIENTS} clients, loopback, echo plugin; medians of {ROUNDS} interleaved rounds"
    );
    println!("| journal | acks/s | ack p50 | ack p99 | all delivered after |");
    println!("|---|---:|---:|---:|---:|");
    for (i, (name, _)) in variants.iter().enumerate() {
        let rounds = &results[i];
        println!(
            "| {name} | {:.0} | {:.2} ms | {:.2} ms | {:.0} ms |",
            median(rounds.iter().map(|r| r.acks_per_sec).collect()),
            median(rounds.iter().map(|r| r.p50_ms).collect()),
            median(rounds.iter().map(|r| r.p99_ms).collect()),
            median(rounds.iter().map(|r| r.delivered_ms).collect()),
        );
    }
}

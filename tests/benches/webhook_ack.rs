//! Ack latency of `POST /webhook/{tenant}` for a burst of 1,000 Text webhooks over loopback,
//! sent by 50 concurrent clients to a real server (echo plugin, simulator as mluvii). Prints
//! the median and p99 of the client-measured time to the 200, and checks every event's reply
//! reached the Send API.
//!
//! Run: `cargo bench -p wasmbot-tests --bench webhook_ack`

use std::time::{Duration, Instant};

use serde_json::json;
use wasmbot_tests::plugins;
use wasmbot_tests::server::{Harness, TestTenant};

const BURST: usize = 1000;
const CLIENTS: usize = 50;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).min(sorted.len()) - 1]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let tenant = TestTenant {
        id: "acme",
        plugin: plugins::ECHO,
        settings: "{}",
    };
    let h = Harness::start(&[tenant], Duration::from_secs(3600)).await;
    let url = h.webhook_url("acme");
    // Warm up connections and the plugin.
    for i in 0..CLIENTS {
        h.http
            .post(&url)
            .json(&json!({"activity": "Text", "sessionId": 1_000_000 + i, "text": "warm"}))
            .send()
            .await
            .unwrap();
    }
    let started = Instant::now();
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (http, url) = (h.http.clone(), url.clone());
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in 0..BURST / CLIENTS {
                let body = json!({"activity": "Text", "sessionId": c * 1000 + i % 20, "text": format!("m{i}")});
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
    let burst_time = started.elapsed();
    latencies.sort();
    h.state.dispatcher.idle().await;
    let all_done = started.elapsed();
    let delivered = h.sim.received().len();
    println!("burst of {BURST} Text webhooks, {CLIENTS} concurrent clients, loopback, echo plugin");
    println!(
        "ack latency median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3
    );
    println!(
        "all {BURST} acknowledged in {:.0} ms; all run and delivered after {:.0} ms ({delivered} Send API requests incl. warm-up)",
        burst_time.as_secs_f64() * 1e3,
        all_done.as_secs_f64() * 1e3
    );
    assert_eq!(delivered, BURST + CLIENTS);
    h.stop().await;
}

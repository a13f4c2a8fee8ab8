//! A slow bot under a flood of webhooks: past the backlog bound (a count, or the time the
//! backlog would take to process) ingress answers 503 with `Retry-After`, the server's memory
//! stays bounded, and every acknowledged event is delivered once the bot catches up.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use wasmbot_tests::plugins;
use wasmbot_tests::serve_process::Served;

/// Webhooks sent; `WASMBOT_OVERLOAD_WEBHOOKS` raises it for a longer run.
const WEBHOOKS: usize = 20_000;
const CLIENTS: usize = 32;
const SESSIONS: usize = 2_000;
const BACKLOG_BOUND: usize = 3_000;

/// What a flood got.
struct Flood {
    /// The replies the accepted events must get.
    accepted: HashSet<String>,
    /// Webhooks answered 503.
    refused: usize,
    /// The largest backlog a 503 named.
    largest_backlog: usize,
}

/// Sends `webhooks` slow events (10 ms of bot time each) from [`CLIENTS`] clients.
async fn flood(url: &str, webhooks: usize) -> Flood {
    let accepted = Arc::new(Mutex::new(HashSet::new()));
    let refused = Arc::new(Mutex::new(Vec::new()));
    let http = reqwest::Client::new();
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (http, url, accepted, refused) = (
            http.clone(),
            url.to_owned(),
            accepted.clone(),
            refused.clone(),
        );
        clients.push(tokio::spawn(async move {
            for i in (c..webhooks).step_by(CLIENTS) {
                let text = format!("slow 10 m{i}");
                let body = json!({"activity": "Text", "sessionId": i % SESSIONS, "text": text});
                let r = http.post(&url).json(&body).send().await.unwrap();
                match r.status().as_u16() {
                    200 => {
                        accepted.lock().unwrap().insert(format!("slow: m{i}"));
                    }
                    503 => {
                        assert_eq!(r.headers()["retry-after"], "1");
                        let reason = r.text().await.unwrap();
                        let backlog: usize = reason
                            .split_whitespace()
                            .find_map(|word| word.parse().ok())
                            .unwrap_or_else(|| panic!("no backlog in {reason:?}"));
                        refused.lock().unwrap().push(backlog);
                    }
                    other => panic!("unexpected {other}"),
                }
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    let refused = refused.lock().unwrap().clone();
    Flood {
        accepted: accepted.lock().unwrap().clone(),
        refused: refused.len(),
        largest_backlog: refused.into_iter().max().unwrap_or(0),
    }
}

/// Waits until every accepted event's reply arrived, and nothing else.
async fn all_delivered(sim: &wasmbot::simulator::Simulator, accepted: &HashSet<String>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let delivered: HashSet<String> = sim
            .received()
            .iter()
            .map(|r| r.body["text"].as_str().unwrap().to_owned())
            .collect();
        if accepted.is_subset(&delivered) {
            assert_eq!(delivered.len(), accepted.len(), "nothing refused was run");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} accepted events delivered",
            accepted.intersection(&delivered).count(),
            accepted.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_bounded_by_503s_and_every_accepted_event_is_delivered() {
    let Served {
        sim,
        dir: _dir,
        config: _config,
        server,
    } = Served::start(
        &format!("max_backlog = {BACKLOG_BOUND}\nmax_backlog_secs = 0\ndurability = \"none\""),
        &[("slow", plugins::MISBEHAVING, 1, "max_concurrent_runs = 8")],
    )
    .await;
    let webhooks: usize = std::env::var("WASMBOT_OVERLOAD_WEBHOOKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(WEBHOOKS);
    let flood = flood(&server.webhook("slow"), webhooks).await;
    assert!(flood.refused > 0, "past the bound, webhooks are refused");
    assert!(
        flood.accepted.len() >= BACKLOG_BOUND,
        "{} accepted",
        flood.accepted.len()
    );
    assert!(
        flood.largest_backlog <= BACKLOG_BOUND + CLIENTS,
        "{}",
        flood.largest_backlog
    );
    all_delivered(&sim, &flood.accepted).await;
    let peak = server.peak_rss_mib();
    println!(
        "overload: {} accepted, {} refused with 503, all delivered; peak RSS {peak} MiB",
        flood.accepted.len(),
        flood.refused,
    );
    assert!(peak < 300, "peak RSS {peak} MiB");
}

/// With `max_backlog_secs`, ingress refuses once the backlog would take longer than that to
/// process at the recent rate, far below the count bound: the backlog stays near what the
/// bot clears in that time (about 800 events a second here, so the floor of 1,000 applies).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_held_to_what_the_path_drains_in_max_backlog_secs() {
    let Served {
        sim,
        dir: _dir,
        config: _config,
        server,
    } = Served::start(
        "max_backlog = 100000\nmax_backlog_secs = 1\ndurability = \"none\"",
        &[("slow", plugins::MISBEHAVING, 1, "max_concurrent_runs = 8")],
    )
    .await;
    let flood = flood(&server.webhook("slow"), 8_000).await;
    assert!(flood.refused > 0, "never refused below the count bound");
    assert!(
        flood.largest_backlog <= 1_000 + CLIENTS,
        "the backlog reached {}",
        flood.largest_backlog
    );
    all_delivered(&sim, &flood.accepted).await;
    println!(
        "drain bound: {} accepted, {} refused at a backlog of at most {}",
        flood.accepted.len(),
        flood.refused,
        flood.largest_backlog
    );
}

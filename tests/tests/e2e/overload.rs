//! A slow bot under a flood of webhooks: past the backlog bound ingress answers 503 with
//! `Retry-After`, the server's memory stays bounded, and every acknowledged event is
//! delivered once the bot catches up.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_bounded_by_503s_and_every_accepted_event_is_delivered() {
    let Served {
        sim,
        dir: _dir,
        config: _config,
        server,
    } = Served::start(
        &format!("max_backlog = {BACKLOG_BOUND}\ndurability = \"none\""),
        &[("slow", plugins::MISBEHAVING, 1, "max_concurrent_runs = 8")],
    )
    .await;
    let url = server.webhook("slow");
    let webhooks: usize = std::env::var("WASMBOT_OVERLOAD_WEBHOOKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(WEBHOOKS);
    let accepted = Arc::new(Mutex::new(HashSet::new()));
    let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (http, url, accepted, refused) =
            (http.clone(), url.clone(), accepted.clone(), refused.clone());
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
                        refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    other => panic!("unexpected {other}"),
                }
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    let refused = refused.load(std::sync::atomic::Ordering::SeqCst);
    assert!(refused > 0, "past the bound, webhooks are refused");
    assert!(
        accepted.len() >= BACKLOG_BOUND,
        "{} accepted",
        accepted.len()
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let delivered: HashSet<String> = sim
            .received()
            .iter()
            .map(|r| r.body["text"].as_str().unwrap().to_owned())
            .collect();
        if accepted.is_subset(&delivered) {
            assert_eq!(delivered.len(), accepted.len(), "nothing refused was run");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} accepted events delivered",
            accepted.intersection(&delivered).count(),
            accepted.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let peak = server.peak_rss_mib();
    println!(
        "overload: {} accepted, {refused} refused with 503, all delivered; peak RSS {peak} MiB",
        accepted.len(),
    );
    assert!(peak < 300, "peak RSS {peak} MiB");
}

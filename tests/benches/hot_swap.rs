//! Hot swap of the support bot: the time to load it cold (Cranelift) against from the
//! compiled-artifact cache, in process; and on a real `wasmbot serve`, the time from a new
//! plugin file being renamed into place to the new version serving (admin API) and to its
//! first reply reaching the Send API, over 20 swaps of versions never seen before (each
//! compiles) and 20 swaps back and forth between two known versions (from the cache).
//!
//! Run: `cargo build --release -p wasmbot && cargo bench -p wasmbot-tests --bench hot_swap`

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use wasmbot::plugins::cache::ArtifactCache;
use wasmbot::plugins::loader::load_plugin;
use wasmbot::runtime::plugin::content_hash;
use wasmbot_tests::serve_process::{Served, wait_for_bodies};
use wasmbot_tests::{plugins, runtime};

const SWAPS: usize = 20;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `component` with a custom section named `wasmbot-bench` holding `tag`: a distinct
/// version with the same behaviour.
fn variant(component: &[u8], tag: usize) -> Vec<u8> {
    let name = b"wasmbot-bench";
    let payload = tag.to_string();
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(payload.as_bytes());
    let mut bytes = component.to_vec();
    bytes.push(0); // custom section id
    bytes.push(section.len() as u8); // fits in one LEB128 byte
    bytes.extend_from_slice(&section);
    bytes
}

fn load_times(support: &[u8]) -> (Duration, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let cache = ArtifactCache::open(dir.path(), runtime().engine()).unwrap();
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for round in 0..5 {
        let bytes = variant(support, round);
        let hash = content_hash(&bytes);
        let started = Instant::now();
        let plugin = load_plugin(runtime(), Some(&cache), &bytes, &hash, "bench").unwrap();
        cold.push(started.elapsed());
        assert!(!plugin.info().from_cache);
        let started = Instant::now();
        let plugin = load_plugin(runtime(), Some(&cache), &bytes, &hash, "bench").unwrap();
        warm.push(started.elapsed());
        assert!(plugin.info().from_cache);
    }
    (median(cold), median(warm))
}

/// Renames `bytes` into place at `target`, then measures until the admin API shows the new
/// version and until an event's reply from it reaches the simulator.
async fn swap(served: &Served, target: &Path, bytes: &[u8], session: i64) -> (Duration, Duration) {
    let hash = content_hash(bytes);
    let temporary = target.with_extension("partial");
    std::fs::write(&temporary, bytes).unwrap();
    let started = Instant::now();
    std::fs::rename(&temporary, target).unwrap();
    loop {
        if served.server.serving_hash("bot").await.as_deref() == Some(hash.as_str()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let swapped = started.elapsed();
    let event = json!({"activity": "Text", "sessionId": session, "text": "hello"});
    let status = reqwest::Client::new()
        .post(served.server.webhook("bot"))
        .json(&event)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 200);
    wait_for_bodies(&served.sim, session, 1).await;
    (swapped, started.elapsed())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let support = std::fs::read(plugins::SUPPORT).unwrap();
    let (cold, warm) = load_times(&support);
    println!(
        "support bot ({} KiB): load cold {:.1} ms, from the compiled-artifact cache {:.2} ms (medians of 5)",
        support.len() / 1024,
        ms(cold),
        ms(warm)
    );

    let served = Served::start_with_files(
        "admin_token_env = \"ADMIN_TOKEN\"",
        &[("bot", "bot.wasm", 1, "")],
        &[("bot.wasm", plugins::SUPPORT)],
    )
    .await;
    let target = served.dir.path().join("bot.wasm");
    let mut session = 1;
    for (label, versions) in [
        ("new versions (compiled)", (1..=SWAPS).collect::<Vec<_>>()),
        (
            "known versions (cached)",
            (0..SWAPS).map(|i| 1 + i % 2).collect::<Vec<_>>(),
        ),
    ] {
        let (mut swapped, mut answered) = (Vec::new(), Vec::new());
        for tag in versions {
            let (s, a) = swap(&served, &target, &variant(&support, tag), session).await;
            session += 1;
            swapped.push(s);
            answered.push(a);
        }
        println!(
            "{SWAPS} swaps of the support bot, {label}: write → serving {:.1} ms, write → first reply at the Send API {:.1} ms (medians)",
            ms(median(swapped)),
            ms(median(answered))
        );
    }
}

//! The support bot in every language: component size, compile time cold (Cranelift) and from
//! the compiled-artifact cache, and the time of one event with a fresh instance (instantiate +
//! call + convert, what `wasmbot serve` does per event) and with a warm instance reused
//! (`limits.reuse_instance_events`). The bots are built first by
//! `scripts/build-bots` (unchanged ones are not rebuilt), so their toolchains must be
//! installed (`scripts/build-bots --install-only`).
//!
//! Run: `cargo bench -p wasmbot-tests --bench languages`

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use wasmbot::plugins::cache::ArtifactCache;
use wasmbot::runtime::plugin::content_hash;
use wasmbot::runtime::{InstanceReuse, Limits, Plugin};
use wasmbot_tests::{event, runtime, tenant};

const LANGS: &[&str] = &["rust", "c", "go", "js", "js-spidermonkey", "python"];
const COMPILES: usize = 3;
const CACHE_LOADS: usize = 7;
const EVENTS: usize = 300;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn main() {
    let status = Command::new(repo().join("scripts/build-bots"))
        .args(LANGS)
        .status()
        .expect("running scripts/build-bots");
    assert!(status.success(), "building the bots failed");
    let runtime = runtime();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = ArtifactCache::open(cache_dir.path(), runtime.engine()).unwrap();
    println!(
        "| language | component | compile cold | load from cache | event, fresh instance (median) | p90 | event, warm instance (median) | p90 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for lang in LANGS {
        let path = repo().join(format!("plugins/target/bots/support-{lang}.wasm"));
        let bytes = std::fs::read(&path).unwrap();
        let hash = content_hash(&bytes);

        let mut compiles = Vec::new();
        let mut component = None;
        for _ in 0..COMPILES {
            let started = Instant::now();
            component = Some(Plugin::compile(runtime.engine(), &bytes).unwrap());
            compiles.push(started.elapsed());
        }
        cache.put(&hash, component.as_ref().unwrap()).unwrap();
        let mut loads = Vec::new();
        for _ in 0..CACHE_LOADS {
            let started = Instant::now();
            let cached = cache.get(runtime.engine(), &hash).expect("a cache entry");
            std::hint::black_box(cached);
            loads.push(started.elapsed());
        }
        let plugin = runtime.load(&bytes).unwrap();

        let fresh = per_event(&plugin, lang, Limits::default());
        let warm = per_event(
            &plugin,
            lang,
            Limits {
                reuse: InstanceReuse {
                    max_events: u32::MAX,
                    max_age: Duration::from_secs(3600),
                },
                ..Limits::default()
            },
        );
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "| {lang} | {:.0} KiB | {:.0} ms | {:.2} ms | {:.0} µs | {:.0} µs | {:.0} µs | {:.0} µs |",
            bytes.len() as f64 / 1024.0,
            ms(median(compiles)),
            ms(median(loads)),
            us(fresh[EVENTS / 2]),
            us(fresh[EVENTS * 9 / 10]),
            us(warm[EVENTS / 2]),
            us(warm[EVENTS * 9 / 10]),
        );
    }
}

/// Sorted times of `EVENTS` events of a started session, each "pizza" (help with the topic
/// buttons: the bot reads and writes its step in state and reads two settings).
fn per_event(plugin: &Plugin, lang: &str, limits: Limits) -> Vec<Duration> {
    let acme = tenant(
        "acme",
        json!({"topics": ["Sales", "Complaint", "Other"]}),
        limits,
    );
    let start = event(json!({"activity": "ConversationStarted", "sessionId": 1, "language": "en"}));
    wasmbot_tests::run(plugin, &acme, &start).result.unwrap();
    let text = event(json!({"activity": "Text", "sessionId": 1, "text": "pizza"}));
    let mut events: Vec<Duration> = (0..EVENTS)
        .map(|_| {
            let started = Instant::now();
            let run = wasmbot_tests::run(plugin, &acme, &text);
            let elapsed = started.elapsed();
            assert_eq!(run.result.unwrap().len(), 1, "{lang}");
            elapsed
        })
        .collect();
    events.sort();
    events
}

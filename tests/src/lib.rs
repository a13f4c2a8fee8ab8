//! Shared helpers of the end-to-end tests: the built plugins, a runtime shared by the tests of
//! one binary, and ways to run events through a bot.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use serde_json::Value;
use wasmbot::capabilities::config::Settings;
use wasmbot::dispatch::step::{EventRun, FactsCache, run_event};
use wasmbot::mluvii::{Webhook, WebhookEvent, parse_webhook};
use wasmbot::runtime::{EngineSettings, Limits, Plugin, Runtime, TenantEnv};
use wasmbot::storage::Storage;

pub mod postgres;
pub mod serve_process;
pub mod server;
pub mod stores;
pub mod webdriver;

/// Paths of the plugins built by this crate's build script.
pub mod plugins {
    include!(concat!(env!("OUT_DIR"), "/plugins.rs"));
}

/// One runtime per test binary (engines are costly, and the pooling allocator reserves
/// address space per engine).
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(&EngineSettings::default()).expect("engine"))
}

/// Loads a built plugin into the shared runtime.
pub fn load(path: &str) -> Plugin {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    runtime()
        .load(&bytes)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The async runtime bots run on in these tests, shared by the tests of one binary (call
/// [`run`] from a plain thread, not from an async task).
pub fn io() -> &'static tokio::runtime::Runtime {
    static IO: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    IO.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

/// A fresh in-memory storage for bots' state.
pub fn state_store() -> Arc<dyn Storage> {
    wasmbot::storage::memory().unwrap()
}

/// A tenant with its own in-memory state and the given settings.
pub fn tenant(id: &str, settings: Value, limits: Limits) -> Arc<TenantEnv> {
    tenant_with_store(id, settings, limits, state_store())
}

/// A tenant on a given state store.
pub fn tenant_with_store(
    id: &str,
    settings: Value,
    limits: Limits,
    state: Arc<dyn Storage>,
) -> Arc<TenantEnv> {
    Arc::new(TenantEnv {
        id: id.to_owned(),
        settings: Settings::from_json(settings).unwrap(),
        state,
        state_scope: None,
        limits,
        http: Default::default(),
        warm: Default::default(),
        long_run: Default::default(),
    })
}

/// Parses a webhook body that must be a session event.
pub fn event(body: Value) -> WebhookEvent {
    match parse_webhook(body.to_string().as_bytes()) {
        Ok(Webhook::Event(event)) => event,
        other => panic!("{body}: {other:?}"),
    }
}

/// The body of a `Text` webhook of `session`.
pub fn text_body(session: i64, text: &str) -> Value {
    serde_json::json!({"activity": "Text", "sessionId": session, "text": text})
}

/// A `Text` webhook of `session`.
pub fn text(session: i64, text: &str) -> WebhookEvent {
    event(text_body(session, text))
}

/// Runs one event through the pipeline's step (webhook → contract → runtime → Send API bodies).
pub fn run(plugin: &Plugin, tenant: &Arc<TenantEnv>, event: &WebhookEvent) -> EventRun {
    run_on(runtime(), plugin, tenant, event)
}

/// [`run`] on a given runtime. Session facts come from the tenant's state store (no cache).
pub fn run_on(
    runtime: &Runtime,
    plugin: &Plugin,
    tenant: &Arc<TenantEnv>,
    event: &WebhookEvent,
) -> EventRun {
    io().block_on(run_event(
        runtime,
        plugin,
        tenant,
        &FactsCache::default(),
        event,
        false,
    ))
}

/// Runs one event that must succeed and returns the Send API bodies.
pub fn bodies(plugin: &Plugin, tenant: &Arc<TenantEnv>, event: &WebhookEvent) -> Vec<Value> {
    match run(plugin, tenant, event).result {
        Ok(activities) => activities.iter().map(|a| a.to_json()).collect(),
        Err(e) => panic!("the bot failed: {e}"),
    }
}

/// The `wasmbot` binary of this build (built by `cargo test --workspace`).
pub fn wasmbot_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let bin = profile_dir.join(format!("wasmbot{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run the suite with `cargo test --workspace` (it builds the binary)",
        bin.display()
    );
    bin
}

/// A compiled-plugin cache shared by the tests' `wasmbot` commands (`target/test-plugin-cache`):
/// big JS and Python bots compile once per machine, not once per test.
pub fn test_cache_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap();
    target.join("test-plugin-cache")
}

/// Whether `WASMBOT_SKIP_LANGS` (comma-separated) turns the guest language `lang` off; a
/// test that skips says so in its output.
pub fn lang_skipped(lang: &str) -> bool {
    std::env::var("WASMBOT_SKIP_LANGS")
        .unwrap_or_default()
        .split(',')
        .any(|listed| listed.trim() == lang)
}

/// A mluvii fixture file of `fixtures/mluvii/`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/mluvii")).join(name)
}

/// The status of a `GET url`.
pub async fn get_status(http: &reqwest::Client, url: &str) -> u16 {
    http.get(url).send().await.unwrap().status().as_u16()
}

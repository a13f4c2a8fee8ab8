//! What the deadline mechanism costs a compute-heavy bot: the misbehaving bot's "spin" (integer
//! mixing in a loop) on wasmbot's runtime (epoch interruption, a yield every 1 ms tick, the
//! deadline check) against the same engine and call without epoch interruption, interleaved.
//!
//! Run: `cargo bench -p wasmbot-tests --bench deadline` (after `(cd plugins && cargo build
//! --release)`).

use std::time::{Duration, Instant};

use serde_json::json;
use wasmbot::contract::{BotPre, types::Context};
use wasmbot::dispatch::step::event_to_wit;
use wasmbot::runtime::host_state::HostState;
use wasmbot::runtime::{EngineSettings, Limits, Runtime};
use wasmbot_tests::{io, plugins, run_on, tenant, text};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, Store};

const ROUNDS: usize = 9;
const SPIN: &str = "spin 50000000";

fn main() {
    let bytes = std::fs::read(plugins::MISBEHAVING).expect("build the plugins first");
    let limits = Limits {
        timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    let acme = tenant("acme", json!({}), limits);
    let event = text(1, SPIN);

    let runtime = Runtime::new(&EngineSettings::default()).unwrap();
    let plugin = runtime.load(&bytes).unwrap();

    let mut config = Config::new();
    config.wasm_component_model(true);
    let plain = Engine::new(&config).unwrap();
    let mut linker = Linker::<HostState>::new(&plain);
    HostState::add_to_linker(&mut linker).unwrap();
    let component = Component::new(&plain, &bytes).unwrap();
    let pre = BotPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();
    let context = Context {
        tenant: "acme".into(),
        session_id: 1,
        language: None,
        channel: None,
    };
    let wit_event = event_to_wit(&event.activity);

    let (mut with_deadline, mut without) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let run = run_on(&runtime, &plugin, &acme, &event);
        with_deadline.push(started.elapsed());
        assert!(run.result.is_ok(), "{:?}", run.result);

        let started = Instant::now();
        io().block_on(async {
            let mut store = Store::new(&plain, HostState::new(acme.clone(), 1));
            let bot = pre.instantiate_async(&mut store).await.unwrap();
            bot.wasmbot_bot_handler()
                .call_handle(&mut store, &context, &wit_event)
                .await
                .unwrap()
                .unwrap();
        });
        without.push(started.elapsed());
    }
    with_deadline.sort();
    without.sort();
    let (a, b) = (with_deadline[ROUNDS / 2], without[ROUNDS / 2]);
    println!("compute-heavy bot (\"{SPIN}\"), median of {ROUNDS} interleaved rounds");
    println!("| engine | median | ratio |");
    println!("|---|---:|---:|");
    println!(
        "| no epoch interruption | {:.1} ms | 1.00 |",
        b.as_secs_f64() * 1e3
    );
    println!(
        "| wasmbot (epoch ticks, yield + deadline check every 1 ms) | {:.1} ms | {:.3} |",
        a.as_secs_f64() * 1e3,
        a.as_secs_f64() / b.as_secs_f64()
    );
}

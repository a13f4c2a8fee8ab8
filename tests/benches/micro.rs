//! Micro-benchmarks of the pieces of one event's path (divan): instantiate + call of the echo
//! bot from its `InstancePre` (no conversion, no session facts), the pipeline's whole bot step
//! (`run_event`: session facts, conversion, `Runtime::handle`; fresh and warm instance), event and activity conversion, and parsing a webhook.
//!
//! Run: `cargo bench -p wasmbot-tests --bench micro` (after `(cd plugins && cargo build
//! --release)`); divan prints the median of each.

use std::hint::black_box;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use wasmbot::contract::types::{Activity, Context, Message};
use wasmbot::contract::{Bot, BotPre};
use wasmbot::dispatch::step::{EventRun, FactsCache, activity_to_wire, event_to_wit, run_event};
use wasmbot::mluvii::{InboundActivity, Webhook, WebhookEvent, parse_webhook};
use wasmbot::runtime::host_state::HostState;
use wasmbot::runtime::{InstanceReuse, Limits, Plugin, TenantEnv};
use wasmbot_tests::{io, load, plugins, runtime, tenant};
use wasmtime::Store;
use wasmtime::component::Component;

fn main() {
    divan::main();
}

const TEXT: &[u8] = br#"{"activity":"Text","sessionId":2359788,"text":"Hello world!","timestamp":"2020-09-09T10:03:46.792954","language":"en","source":"Default"}"#;

struct Setup {
    pre: BotPre<HostState>,
    plugin: Plugin,
    fresh: Arc<TenantEnv>,
    warm: Arc<TenantEnv>,
    facts: FactsCache,
    event: WebhookEvent,
}

impl Setup {
    /// The bot step for `tenant`, its session facts cached as in the server.
    fn step(&self, tenant: &Arc<TenantEnv>) -> EventRun {
        io().block_on(run_event(
            runtime(),
            &self.plugin,
            tenant,
            &self.facts,
            &self.event,
            false,
        ))
    }
}

static SETUP: LazyLock<Setup> = LazyLock::new(|| {
    let bytes = std::fs::read(plugins::ECHO).expect("build the plugins first");
    let component = Component::new(runtime().engine(), &bytes).expect("compiles");
    let instance_pre = runtime()
        .linker()
        .instantiate_pre(&component)
        .expect("links");
    let Ok(Webhook::Event(event)) = parse_webhook(TEXT) else {
        unreachable!()
    };
    let reuse = Limits {
        reuse: InstanceReuse {
            max_events: u32::MAX,
            max_age: Duration::from_secs(3600),
        },
        ..Limits::default()
    };
    Setup {
        pre: BotPre::new(instance_pre).expect("the bot world"),
        plugin: load(plugins::ECHO),
        fresh: tenant("fresh", serde_json::json!({}), Limits::default()),
        warm: tenant("warm", serde_json::json!({}), reuse),
        facts: FactsCache::default(),
        event,
    }
});

/// A new store, instantiation from the `InstancePre`, and the `handle` call (async, as the
/// host runs bots).
#[divan::bench]
fn instantiate_and_call_echo(bencher: divan::Bencher) {
    let setup = &*SETUP;
    let context = Context {
        tenant: "fresh".into(),
        session_id: setup.event.session_id,
        language: Some("en".into()),
        channel: None,
    };
    let event = event_to_wit(&setup.event.activity);
    // The calls never wait, so a current-thread runtime polls them with the least overhead.
    let local = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    bencher.bench_local(|| {
        let mut store = Store::new(
            runtime().engine(),
            HostState::new(setup.fresh.clone(), setup.event.session_id),
        );
        store.set_epoch_deadline(1_000);
        local.block_on(async {
            let bot: Bot = setup
                .pre
                .instantiate_async(&mut store)
                .await
                .expect("instantiates");
            let returned = bot
                .wasmbot_bot_handler()
                .call_handle(&mut store, &context, &event)
                .await
                .expect("no trap")
                .expect("no error");
            black_box(returned)
        })
    });
}

/// The bot step on a fresh instance: session facts (cached), conversion to the contract's
/// event, store, limits, instantiate, call, conversion of the reply to Send API bodies.
#[divan::bench]
fn runtime_step_fresh_instance(bencher: divan::Bencher) {
    let setup = &*SETUP;
    bencher.bench_local(|| black_box(setup.step(&setup.fresh)));
}

/// The bot step on the tenant's warm instance (`reuse_instance_events`).
#[divan::bench]
fn runtime_step_warm_instance(bencher: divan::Bencher) {
    let setup = &*SETUP;
    bencher.bench_local(|| black_box(setup.step(&setup.warm)));
}

/// Parsing a `Text` webhook (JSON to the typed inbound activity).
#[divan::bench]
fn parse_text_webhook() -> Result<Webhook, wasmbot::mluvii::WebhookError> {
    parse_webhook(black_box(TEXT))
}

/// Parsing the largest fixture (GetAvailableGroupsResponse with its group list).
#[divan::bench]
fn parse_groups_webhook(bencher: divan::Bencher) {
    let body = std::fs::read(wasmbot_tests::fixture(
        "in-get-available-groups-response.json",
    ))
    .unwrap();
    bencher.bench_local(|| parse_webhook(black_box(&body)));
}

/// The inbound activity as the contract's event.
#[divan::bench]
fn convert_event(bencher: divan::Bencher) {
    let activity: &InboundActivity = &SETUP.event.activity;
    bencher.bench_local(|| event_to_wit(black_box(activity)));
}

/// A returned text message as a Send API body, serialized as it is stored.
#[divan::bench]
fn convert_activity_and_serialize(bencher: divan::Bencher) {
    bencher
        .with_inputs(|| {
            Activity::Message(Message {
                text: Some("You said: Hello world!".into()),
                cards: vec![],
                layout: None,
                suggested_actions: vec![],
                ignoring_input: false,
            })
        })
        .bench_values(|activity| {
            let wire = activity_to_wire(2359788, activity).expect("valid");
            wire.to_json().to_string()
        });
}

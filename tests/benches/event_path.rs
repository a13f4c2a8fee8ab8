//! Per-event cost of the runtime: fresh store + instantiate + handle + convert, for the echo
//! plugin, under different engine settings, beside a native baseline doing the same work
//! (parse the webhook, build the reply body). Medians of interleaved rounds, so every variant
//! sees the same machine noise.
//!
//! Run: `cargo bench -p wasmbot-tests --bench event_path`

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::json;
use wasmbot::mluvii::outbound::{MessageBody, SendBody};
use wasmbot::mluvii::{InboundActivity, SendActivity, Webhook, parse_webhook};
use wasmbot::runtime::{EngineSettings, Limits, Runtime};
use wasmbot_tests::{plugins, tenant};

const ROUNDS: usize = 15;
const PER_ROUND: usize = 200;

const BODY: &[u8] = br#"{"activity":"Text","sessionId":2359788,"text":"Hello world!","timestamp":"2020-09-09T10:03:46.792954","language":"en","source":"Default"}"#;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn native_echo() -> SendActivity {
    let Ok(Webhook::Event(event)) = parse_webhook(BODY) else {
        unreachable!()
    };
    let InboundActivity::Text { text, .. } = &event.activity else {
        unreachable!()
    };
    SendActivity {
        session_id: event.session_id,
        body: SendBody::Message(MessageBody {
            kind: "message".into(),
            timestamp: Some(wasmbot::mluvii::lenient::now_timestamp()),
            text: Some(format!("You said: {text}")),
            attachments: vec![],
            attachment_layout: None,
            suggested_actions: None,
            input_hint: None,
        }),
    }
}

fn main() {
    let bytes = std::fs::read(plugins::ECHO).unwrap();
    let variants: Vec<(&str, EngineSettings)> = vec![
        (
            "pooling, concurrency off (default)",
            EngineSettings::default(),
        ),
        (
            "pooling, concurrency on",
            EngineSettings {
                concurrency_support: true,
                ..Default::default()
            },
        ),
        (
            "on-demand, concurrency off",
            EngineSettings {
                pooling: false,
                ..Default::default()
            },
        ),
        (
            "on-demand, concurrency on",
            EngineSettings {
                pooling: false,
                concurrency_support: true,
                ..Default::default()
            },
        ),
    ];
    let acme = tenant("acme", json!({}), Limits::default());
    let loaded: Vec<_> = variants
        .iter()
        .map(|(name, settings)| {
            let runtime = Runtime::new(settings).unwrap();
            let plugin = runtime.load(&bytes).unwrap();
            (*name, runtime, plugin)
        })
        .collect();
    let mut wasm: Vec<Vec<Duration>> = vec![Vec::new(); loaded.len()];
    let mut native = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for _ in 0..PER_ROUND {
            black_box(native_echo().to_json());
        }
        native.push(started.elapsed() / PER_ROUND as u32);
        for (i, (_, runtime, plugin)) in loaded.iter().enumerate() {
            let started = Instant::now();
            for _ in 0..PER_ROUND {
                let Ok(Webhook::Event(event)) = parse_webhook(BODY) else {
                    unreachable!()
                };
                let run = wasmbot_tests::run_on(runtime, plugin, &acme, &event);
                black_box(run.result.unwrap()[0].to_json());
            }
            wasm[i].push(started.elapsed() / PER_ROUND as u32);
        }
    }
    let native = median(native);
    println!("echo plugin, one Text event: parse + fresh instance + handle + Send API JSON");
    println!("median per event over {ROUNDS} interleaved rounds of {PER_ROUND}\n");
    println!("{:<38} {:>12} {:>14}", "variant", "median", "vs native");
    println!(
        "{:<38} {:>10.2}µs {:>14}",
        "native Rust baseline",
        native.as_secs_f64() * 1e6,
        "1x"
    );
    let default = median(wasm[0].clone());
    for ((name, _, _), samples) in loaded.iter().zip(wasm) {
        let m = median(samples);
        println!(
            "{:<38} {:>10.2}µs {:>13.0}x   ({:.2}x the default)",
            name,
            m.as_secs_f64() * 1e6,
            m.as_secs_f64() / native.as_secs_f64(),
            m.as_secs_f64() / default.as_secs_f64()
        );
    }
}

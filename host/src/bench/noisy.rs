//! The noisy neighbour of `wasmbot bench --noisy`: a second tenant running the misbehaving
//! bot, posted a steady stream of hostile events (an endless loop, an hour-long sleep, a flood
//! of 20,000 log lines, in rotation over many sessions) while the measured tenant's echo load
//! runs. Its activities (the fallbacks) go to a sink of their own, so the measured figures are
//! the healthy tenant's alone.

use std::time::Duration;

use tokio::sync::watch;

/// Hostile events posted per second.
const RATE: f64 = 50.0;
/// Sessions the hostile events rotate over (each session's events run one at a time).
const SESSIONS: usize = 64;
/// What the noisy tenant's bot is asked to do, in rotation.
const BEHAVIOURS: [&str; 3] = ["loop", "slow 3600000", "log-flood 20000"];
/// The noisy tenant's time limit per event.
pub const NOISY_TIMEOUT_MS: u64 = 1000;

/// What the noisy load did.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoisyLoad {
    /// Hostile events acknowledged.
    pub acked: u64,
    /// Hostile events refused (503 past the tenant's backlog bound, …).
    pub refused: u64,
}

/// Posts hostile events to `url` at [`RATE`] until `stop` turns true.
pub async fn drive(
    http: reqwest::Client,
    url: String,
    mut stop: watch::Receiver<bool>,
) -> NoisyLoad {
    let mut load = NoisyLoad::default();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / RATE));
    for i in 0.. {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|stop| *stop) => break,
        }
        let body = serde_json::json!({
            "activity": "Text",
            "sessionId": 1_000_000 + i % SESSIONS,
            "text": BEHAVIOURS[i % BEHAVIOURS.len()],
        });
        match http.post(&url).json(&body).send().await {
            Ok(response) if response.status().is_success() => load.acked += 1,
            _ => load.refused += 1,
        }
    }
    load
}

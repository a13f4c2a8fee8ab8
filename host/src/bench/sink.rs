//! A fast stand-in for mluvii for `wasmbot bench`: a token endpoint and a Send API that only
//! counts what arrives and, from the time stamp the load generator put into each message
//! (`t<microseconds>`), the end-to-end latency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;

/// What the sink saw.
pub struct Sink {
    started: Instant,
    delivered: AtomicU64,
    last_us: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
}

/// The marker the echo reply carries before the time stamp.
const MARKER: &[u8] = b"You said: t";

impl Sink {
    /// A sink whose clock starts at `started` (the load generator's too).
    pub fn new(started: Instant) -> Arc<Self> {
        Arc::new(Self {
            started,
            delivered: AtomicU64::new(0),
            last_us: AtomicU64::new(0),
            latencies_us: Mutex::new(Vec::new()),
        })
    }

    /// Microseconds since the clock started.
    pub fn now_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    /// Activities received.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::SeqCst)
    }

    /// When the last activity arrived (µs on the sink's clock).
    pub fn last_us(&self) -> u64 {
        self.last_us.load(Ordering::SeqCst)
    }

    /// Forgets what it saw (a new run against the same sink).
    pub fn reset(&self) {
        self.delivered.store(0, Ordering::SeqCst);
        self.last_us.store(0, Ordering::SeqCst);
        self.latencies_us.lock().unwrap().clear();
    }

    /// The end-to-end latencies seen so far, sorted.
    pub fn latencies_us(&self) -> Vec<u64> {
        let mut latencies = self.latencies_us.lock().unwrap().clone();
        latencies.sort_unstable();
        latencies
    }

    fn record(&self, body: &[u8]) {
        let now = self.now_us();
        if let Some(at) = body.windows(MARKER.len()).position(|w| w == MARKER) {
            let digits = &body[at + MARKER.len()..];
            let end = digits
                .iter()
                .position(|b| !b.is_ascii_digit())
                .unwrap_or(digits.len());
            if let Some(sent) = std::str::from_utf8(&digits[..end])
                .ok()
                .and_then(|d| d.parse::<u64>().ok())
            {
                self.latencies_us
                    .lock()
                    .unwrap()
                    .push(now.saturating_sub(sent));
            }
        }
        self.delivered.fetch_add(1, Ordering::SeqCst);
        self.last_us.fetch_max(now, Ordering::SeqCst);
    }

    /// The sink's routes.
    pub fn router(self: &Arc<Self>) -> Router {
        let sink = self.clone();
        Router::new()
            .route(
                "/login/connect/token",
                post(|| async {
                    r#"{"access_token":"bench","expires_in":3600,"token_type":"Bearer"}"#
                }),
            )
            .route(
                "/api/v1/Chatbot/{chatbot_id}/activity",
                post(move |body: Bytes| {
                    let sink = sink.clone();
                    async move {
                        sink.record(&body);
                        ""
                    }
                }),
            )
    }
}

/// A [`Sink`] served on a loopback port; the server stops when this is dropped.
pub struct ServedSink {
    /// What it saw.
    pub sink: Arc<Sink>,
    /// Its base URL (`http://127.0.0.1:PORT`), mluvii's `base_url` for the tenants.
    pub url: String,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl ServedSink {
    /// Serves a new sink whose clock starts at `started`.
    pub async fn start(started: Instant) -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0".parse().expect("an address"), started).await
    }

    /// Serves a new sink on `address` (a fixed one, for a server configured beforehand).
    pub async fn start_on(
        address: std::net::SocketAddr,
        started: Instant,
    ) -> std::io::Result<Self> {
        // On the load generator's runtime: its CPU time is not the host's.
        super::load::on_load_runtime(async move {
            let sink = Sink::new(started);
            let listener = tokio::net::TcpListener::bind(address).await?;
            let url = format!("http://{}", listener.local_addr()?);
            let router = sink.router();
            let server = tokio::spawn(async move { axum::serve(listener, router).await });
            Ok(Self { sink, url, server })
        })
        .await
    }
}

impl Drop for ServedSink {
    fn drop(&mut self) {
        self.server.abort();
    }
}

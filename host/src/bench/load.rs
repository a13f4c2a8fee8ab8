//! The load generator of `wasmbot bench`: concurrent clients posting `Text` webhooks over many
//! sessions, at the maximum rate or a fixed one, each message stamped with its send time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::sink::Sink;

/// What the load did.
#[derive(Debug, Default)]
pub struct LoadResult {
    /// Webhooks answered 200.
    pub acked: u64,
    /// Webhooks answered otherwise (503 past the backlog bound, …).
    pub refused: u64,
    /// Ack latencies, sorted, µs.
    pub ack_us: Vec<u64>,
    /// From the first send to the last answer.
    pub duration: Duration,
}

/// The name of the threads the load generator and the sinks run on.
pub const LOAD_THREADS: &str = "bench-load";

/// The runtime of the load generator and the sinks: threads of their own, named
/// [`LOAD_THREADS`], so the host's CPU time is the process's minus theirs.
fn load_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(LOAD_THREADS)
            .enable_all()
            .build()
            .expect("the load generator's runtime")
    })
}

/// Runs `work` on the load generator's runtime and returns its output.
pub async fn on_load_runtime<F>(work: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match load_runtime().spawn(work).await {
        Ok(output) => output,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}

/// Spawns `work` on the load generator's runtime.
pub fn spawn_on_load_runtime<F>(work: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    load_runtime().spawn(work)
}

/// [`drive`] on the load generator's runtime.
pub async fn drive_apart(
    http: reqwest::Client,
    urls: Vec<Vec<String>>,
    shape: &LoadShape,
    sink: &Arc<Sink>,
) -> LoadResult {
    let (shape, sink) = (shape.clone(), sink.clone());
    on_load_runtime(async move { drive(http, urls, &shape, &sink).await }).await
}

/// How to drive the load.
#[derive(Debug, Clone)]
pub struct LoadShape {
    /// Webhooks in all.
    pub events: usize,
    /// Sessions they are spread over (round robin).
    pub sessions: usize,
    /// Clients posting at once.
    pub concurrency: usize,
    /// Events per second, or 0 for as fast as the server answers.
    pub rate: f64,
}

/// Posts the load to `urls` (per tenant, its webhook URL on each replica; session `s` goes to
/// tenant `s % urls.len()`, and event `i` to replica `i % replicas`, as a round-robin load
/// balancer would send them).
pub async fn drive(
    http: reqwest::Client,
    urls: Vec<Vec<String>>,
    shape: &LoadShape,
    sink: &Arc<Sink>,
) -> LoadResult {
    let next = Arc::new(AtomicUsize::new(0));
    let urls = Arc::new(urls);
    let started_us = sink.now_us();
    let mut clients = Vec::new();
    for _ in 0..shape.concurrency.max(1) {
        let (http, urls, next, sink, shape) = (
            http.clone(),
            urls.clone(),
            next.clone(),
            sink.clone(),
            shape.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut result = LoadResult::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= shape.events {
                    return result;
                }
                if shape.rate > 0.0 {
                    let due = started_us + (i as f64 * 1e6 / shape.rate) as u64;
                    let now = sink.now_us();
                    if due > now {
                        tokio::time::sleep(Duration::from_micros(due - now)).await;
                    }
                }
                let session = i % shape.sessions.max(1);
                let replicas = &urls[session % urls.len()];
                let url = &replicas[i % replicas.len()];
                let sent = sink.now_us();
                let body = format!(
                    r#"{{"activity":"Text","sessionId":{session},"text":"t{sent}","language":"en","source":"Default"}}"#
                );
                let ok = match http
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                {
                    Ok(response) => response.status().is_success(),
                    Err(_) => false,
                };
                result.ack_us.push(sink.now_us() - sent);
                if ok {
                    result.acked += 1;
                } else {
                    result.refused += 1;
                }
            }
        }));
    }
    let mut total = LoadResult::default();
    for client in clients {
        let part = client.await.expect("a load client panicked");
        total.acked += part.acked;
        total.refused += part.refused;
        total.ack_us.extend(part.ack_us);
    }
    total.ack_us.sort_unstable();
    total.duration = Duration::from_micros(sink.now_us() - started_us);
    total
}

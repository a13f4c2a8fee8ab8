//! Accepting connections with limits a hostile client cannot get around: at most
//! `max_connections` open at once (further clients wait in the kernel's backlog), a request's
//! header section must arrive within `header_read_timeout`, and its body may stall at most
//! `body_read_timeout` between frames (the router's `RequestBodyTimeoutLayer`). Graceful
//! shutdown: accepting stops, open connections finish their request in hand and close.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// The most connections `max_connections` can allow (far above any file-descriptor limit).
const MAX_SLOTS: usize = 1 << 20;

/// Limits on the server's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngressLimits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Time a client has to send a request's header section (on a kept-alive connection:
    /// from the previous response).
    pub header_read_timeout: Duration,
    /// Time a request's body may go without a frame arriving.
    pub body_read_timeout: Duration,
}

impl Default for IngressLimits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then waits for
/// the open connections to finish the request they are serving.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: IngressLimits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let slots = limits.max_connections.clamp(1, MAX_SLOTS);
    let permits = Arc::new(Semaphore::new(slots));
    let (stop, stopped) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = stopped.wait_for(|stop| *stop) => connection.as_mut().graceful_shutdown(),
            }
            let _ = connection.await;
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection task holds a permit: all returned means all finished.
    let _ = permits.acquire_many(slots as u32).await;
}

//! Accepting connections with limits a hostile client cannot get around: at most
//! `max_connections` open at once (further clients wait in the kernel's backlog), at most
//! `max_connections_per_peer` of them from one IP address (more are closed at once, so one
//! peer cannot take every slot), a request's
//! header section must arrive within `header_read_timeout`, and its body may stall at most
//! `body_read_timeout` between frames (the router's `RequestBodyTimeoutLayer`). Graceful
//! shutdown: accepting stops, open connections finish their request in hand and close.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
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
    /// Connections open at once from one IP address (0: no limit of its own).
    pub max_connections_per_peer: usize,
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
            max_connections_per_peer: 1024,
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
    let peers = PeerCounts::new(limits.max_connections_per_peer);
    let (stop, stopped) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, address)) => match peers.admit(address.ip()) {
                    Some(peer) => (stream, peer),
                    // Over its own limit: closed at once, the slot stays free for others.
                    None => continue,
                },
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
            let _peer = peer;
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

/// Open connections per peer address, for the per-peer limit.
#[derive(Debug)]
struct PeerCounts {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One open connection of a peer; counted until dropped.
#[derive(Debug)]
struct PeerConnection {
    peer: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PeerCounts {
    fn new(max: usize) -> Self {
        Self {
            max,
            open: Arc::default(),
        }
    }

    /// A connection of `peer`, unless it has `max` open already.
    fn admit(&self, peer: IpAddr) -> Option<PeerConnection> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(peer).or_default();
        if self.max != 0 && *count >= self.max {
            return None;
        }
        *count += 1;
        Some(PeerConnection {
            peer,
            open: self.open.clone(),
        })
    }
}

impl Drop for PeerConnection {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.peer) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_is_held_to_its_limit_and_its_slots_come_back_when_closed() {
        let peers = PeerCounts::new(2);
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.1".parse().unwrap();
        let first = peers.admit(a).unwrap();
        let _second = peers.admit(a).unwrap();
        assert!(peers.admit(a).is_none());
        assert!(peers.admit(b).is_some());
        drop(first);
        assert!(peers.admit(a).is_some());
    }

    #[test]
    fn zero_means_no_limit_per_peer_and_no_entry_outlives_its_connections() {
        let peers = PeerCounts::new(0);
        let a: IpAddr = "::1".parse().unwrap();
        let held: Vec<_> = (0..100).map(|_| peers.admit(a).unwrap()).collect();
        drop(held);
        assert!(peers.open.lock().unwrap().is_empty());
    }
}

//! The HTTP side: webhook ingress and operations routes, on axum.

mod auth;
mod ops;
pub mod setup;
mod webhook;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::delivery::{Dispatcher, Tenant};
use crate::metrics::Metrics;

/// What the routes share.
#[derive(Clone)]
pub struct AppState {
    /// Tenants by id.
    pub tenants: Arc<HashMap<String, Arc<Tenant>>>,
    /// Where accepted events go.
    pub dispatcher: Arc<Dispatcher>,
    /// The metrics registry.
    pub metrics: Arc<Metrics>,
    /// Largest accepted webhook body.
    pub max_body_bytes: usize,
}

/// The router: `POST`/`GET /webhook/{tenant}`, `/healthz`, `/readyz`, `/metrics`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route(
            "/webhook/{tenant}",
            get(webhook::health_check).post(webhook::receive),
        )
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .with_state(state)
}

/// Serves `state` on `listener` until `shutdown` completes; then stops accepting, and returns
/// once every accepted event has run and its activities were delivered.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let dispatcher = state.dispatcher.clone();
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    let pending = dispatcher.pending();
    if pending > 0 {
        tracing::info!(pending, "finishing accepted events before exiting");
    }
    dispatcher.drain().await;
    Ok(())
}

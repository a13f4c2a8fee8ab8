//! The HTTP side: webhook ingress and operations routes, on axum.

mod admin;
pub mod auth;
pub mod listen;
pub mod log_throttle;
mod ops;
pub mod setup;
mod webhook;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::dispatch::{Dispatcher, TenantMap};
use crate::metrics::Metrics;
use crate::plugins::{Registry, ReloadReport};
use listen::IngressLimits;

/// What the routes share.
#[derive(Clone)]
pub struct AppState {
    /// Tenants by id (the registry's map).
    pub tenants: Arc<TenantMap>,
    /// The tenants' plugins and configuration, changed at runtime.
    pub registry: Arc<Registry>,
    /// Where accepted events go.
    pub dispatcher: Arc<Dispatcher>,
    /// The metrics registry.
    pub metrics: Arc<Metrics>,
    /// Largest accepted webhook body.
    pub max_body_bytes: usize,
    /// Largest plugin accepted by an admin upload.
    pub max_plugin_bytes: usize,
    /// On shutdown, how long to finish work in hand before exiting.
    pub shutdown_deadline: std::time::Duration,
    /// Connection limit and read timeouts.
    pub ingress: IngressLimits,
    /// Warnings about refused webhooks, a few per outcome and window.
    pub refusal_logs: Arc<webhook::RefusalLogs>,
}

/// Everything on one listener: the webhook routes and the operations routes (used when
/// `server.admin_listen` is not set; meant for development).
pub fn app(state: AppState) -> Router {
    with_limits(webhook_routes().merge(operations_routes(&state)), state)
}

/// The webhook listener's routes: `POST`/`GET /webhook/{tenant}` and `/healthz`.
pub fn webhook_app(state: AppState) -> Router {
    with_limits(webhook_routes(), state)
}

/// The operations listener's routes: the admin API under `/admin`, `/metrics`, `/readyz`
/// and `/healthz`.
pub fn operations_app(state: AppState) -> Router {
    let routes = operations_routes(&state).route("/healthz", get(ops::healthz));
    with_limits(routes, state)
}

fn webhook_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/webhook/{tenant}",
            get(webhook::health_check).post(webhook::receive),
        )
        .route("/healthz", get(ops::healthz))
}

fn operations_routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(admin::routes(state.clone()))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
}

fn with_limits(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            state.ingress.body_read_timeout,
        ))
        .with_state(state)
}

/// Re-reads the configuration file and applies it (`SIGHUP`, `POST /admin/reload`); tenants
/// it adds get the work the journal holds for them.
pub async fn reload(state: &AppState) -> anyhow::Result<ReloadReport> {
    let report = state.registry.reload().await?;
    state.dispatcher.adopt(&report.added).await;
    Ok(report)
}

/// Serves `state`'s webhooks on `listener` and its operations routes on `admin` (on
/// `listener` too when there is none) until `shutdown` completes; then stops accepting on
/// both, lets running bots finish and sends what it can within `state.shutdown_deadline`, and
/// returns. Whatever is left stays journaled for the next start.
pub async fn run(
    listener: TcpListener,
    admin: Option<TcpListener>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let dispatcher = state.dispatcher.clone();
    let deadline = state.shutdown_deadline;
    let (signalled, signal) = tokio::sync::oneshot::channel::<tokio::time::Instant>();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = signalled.send(tokio::time::Instant::now());
        let _ = stop.send(true);
    });
    let stop_signal = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }
    };
    let ingress = state.ingress;
    match admin {
        None => listen::serve(listener, app(state), ingress, stop_signal()).await,
        Some(admin) => {
            tokio::join!(
                listen::serve(listener, webhook_app(state.clone()), ingress, stop_signal()),
                listen::serve(admin, operations_app(state), ingress, stop_signal()),
            );
        }
    }
    let started = signal.await.unwrap_or_else(|_| tokio::time::Instant::now());
    let stop_by = started + deadline;
    // Keep a little of the deadline for the workers to stop and the last commit.
    let finish_by = stop_by - (deadline / 5).min(std::time::Duration::from_secs(1));
    tracing::info!(
        unprocessed_events = dispatcher.backlog(),
        busy_sessions = dispatcher.busy_sessions(),
        "no longer accepting webhooks; finishing work in hand"
    );
    dispatcher.shutdown(finish_by, stop_by).await;
    dispatcher.storage().close();
    Ok(())
}

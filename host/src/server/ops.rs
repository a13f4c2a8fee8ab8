//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use super::AppState;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> &'static str {
    "OK"
}

/// `GET /readyz`: 200 when every tenant has a loaded plugin and the backlog is below its
/// bound, else 503 saying why. The body reports the backlog (the lag) either way.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    let backlog = state.dispatcher.backlog();
    let lag = format!(
        "backlog: {backlog} unprocessed events (bound {}), {} sessions with work",
        state.dispatcher.max_backlog(),
        state.dispatcher.busy_sessions()
    );
    let tenants = state.tenants.all();
    let mut missing: Vec<&str> = tenants
        .values()
        .filter(|t| t.plugin.load().is_none())
        .map(|t| t.id())
        .collect();
    missing.sort();
    if !missing.is_empty() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("no plugin loaded for: {}\n{lag}", missing.join(", ")),
        )
    } else if backlog >= state.dispatcher.max_backlog() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("overloaded\n{lag}"),
        )
    } else {
        (StatusCode::OK, format!("ready\n{lag}"))
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    for tenant in state.tenants.all().values() {
        state
            .metrics
            .backlog_events
            .get_or_create(&crate::metrics::tenant(tenant.id()))
            .set(tenant.backlog() as i64);
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

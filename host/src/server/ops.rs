//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use super::AppState;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> &'static str {
    "OK"
}

/// `GET /readyz`: 200 when this replica can journal and process events: its storage answers
/// and its backlog is below the bound; else 503 saying why. A tenant without a loaded plugin
/// does not make the replica unready (its webhooks are refused with 503 on their own): the
/// body lists such tenants, beside the backlog, either way.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    let backlog = state.dispatcher.backlog();
    let mut details = format!(
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
    if !missing.is_empty() {
        missing.sort();
        details += &format!("\nno plugin loaded for: {}", missing.join(", "));
    }
    if let Err(error) = state.dispatcher.storage().ping().await {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("storage unreachable: {error:#}\n{details}"),
        );
    }
    if backlog >= state.dispatcher.max_backlog() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("overloaded\n{details}"),
        );
    }
    (StatusCode::OK, format!("ready\n{details}"))
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state
        .metrics
        .warm_instances
        .set(state.dispatcher.runtime().warm_instances() as i64);
    for tenant in state.tenants.all().values() {
        let label = crate::metrics::tenant(tenant.id());
        state
            .metrics
            .backlog_events
            .get_or_create(&label)
            .set(tenant.backlog() as i64);
        state
            .metrics
            .plugin_loaded
            .get_or_create(&label)
            .set(i64::from(tenant.plugin.load().is_some()));
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use super::AppState;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> &'static str {
    "OK"
}

/// `GET /readyz`: 200 when every tenant has a loaded plugin, else 503 naming those without.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    let mut missing: Vec<&str> = state
        .tenants
        .values()
        .filter(|t| t.plugin.load().is_none())
        .map(|t| t.env.id.as_str())
        .collect();
    missing.sort();
    if missing.is_empty() {
        (StatusCode::OK, "ready".into())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("no plugin loaded for: {}", missing.join(", ")),
        )
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

//! `POST /webhook/{tenant}`: authenticate, limit, parse, answer at once, process later.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, to_bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tracing::Instrument as _;

use super::AppState;
use super::auth::{authorized, presented_tokens};
use super::log_throttle::LogThrottle;
use crate::dispatch::Refusal;
use crate::mluvii::{Webhook, parse_webhook};

type Reply = (StatusCode, String);

/// Refused webhooks' warnings: per outcome, a few lines per window (a client can send
/// webhooks to unknown tenants or with wrong tokens at any rate).
#[derive(Debug, Default)]
pub struct RefusalLogs {
    by_outcome: std::sync::Mutex<std::collections::HashMap<&'static str, Arc<LogThrottle>>>,
}

/// Warnings about one refusal outcome let through per window.
const REFUSAL_LINES_PER_WINDOW: u32 = 5;
/// The refusal warnings' window.
const REFUSAL_LOG_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);

impl RefusalLogs {
    /// `Some(lines held back)` when a warning about a refusal with `outcome` may be written.
    pub fn admit(&self, outcome: &'static str) -> Option<u64> {
        let throttle = self
            .by_outcome
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(outcome)
            .or_insert_with(|| {
                Arc::new(LogThrottle::new(
                    REFUSAL_LINES_PER_WINDOW,
                    REFUSAL_LOG_WINDOW,
                ))
            })
            .clone();
        throttle.admit()
    }
}

/// Seconds a refused webhook is asked to wait (`Retry-After`).
const RETRY_AFTER_SECS: &str = "1";

/// `GET /webhook/{tenant}`: 200 for a known tenant when the request carries its webhook token
/// (some setups probe the URL); 404 otherwise, the same for an unknown tenant and a wrong or
/// missing token, so the route tells no one without the token which tenants exist.
pub async fn health_check(
    State(state): State<AppState>,
    Path(tenant_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Reply {
    let presented = presented_tokens(&headers, query.as_deref());
    match state.tenants.get(&tenant_id) {
        Some(tenant) if authorized(&presented, tenant.profile().webhook_token.expose()) => {
            (StatusCode::OK, "OK".into())
        }
        _ => (
            StatusCode::NOT_FOUND,
            "unknown tenant, or a missing or wrong webhook token".into(),
        ),
    }
}

/// `POST /webhook/{tenant}`.
pub async fn receive(
    State(state): State<AppState>,
    Path(tenant_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // Only with traces on: a span per webhook costs the hot path when nothing reads it.
    if !crate::telemetry::enabled() {
        return receive_traced(state, tenant_id, query, headers, body).await;
    }
    let span = tracing::info_span!(
        "webhook",
        tenant = %tenant_id.escape_debug(),
        outcome = tracing::field::Empty,
        status = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    // A caller that sends a trace context has the event's trace continue its own.
    let incoming = headers
        .get("traceparent")
        .and_then(|value| value.to_str().ok());
    crate::telemetry::continue_trace(&span, incoming);
    crate::telemetry::record_trace_id(&span);
    receive_traced(state, tenant_id, query, headers, body)
        .instrument(span)
        .await
}

async fn receive_traced(
    state: AppState,
    tenant_id: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let (outcome, reply) = handle(&state, &tenant_id, query.as_deref(), &headers, body).await;
    if crate::telemetry::enabled() {
        let span = tracing::Span::current();
        span.record("outcome", outcome);
        span.record("status", reply.0.as_u16());
    }
    let known = state.tenants.contains(&tenant_id);
    state
        .metrics
        .webhook(if known { &tenant_id } else { "unknown" }, outcome);
    state
        .metrics
        .ack_seconds
        .observe(started.elapsed().as_secs_f64());
    if reply.0 != StatusCode::OK
        && let Some(held_back) = state.refusal_logs.admit(outcome)
    {
        tracing::warn!(
            tenant = %tenant_id.escape_debug(),
            status = reply.0.as_u16(),
            reason = %reply.1,
            held_back,
            "webhook refused"
        );
    }
    if reply.0 == StatusCode::SERVICE_UNAVAILABLE {
        let mut response = reply.into_response();
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECS),
        );
        return response;
    }
    reply.into_response()
}

async fn handle(
    state: &AppState,
    tenant_id: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> (&'static str, Reply) {
    let Some(tenant) = state.tenants.get(tenant_id) else {
        return (
            "unknown_tenant",
            (
                StatusCode::NOT_FOUND,
                format!("unknown tenant {tenant_id:?}"),
            ),
        );
    };
    let presented = presented_tokens(headers, query);
    if !authorized(&presented, tenant.profile().webhook_token.expose()) {
        let reason = if presented.is_empty() {
            "missing webhook token"
        } else {
            "wrong webhook token"
        };
        return ("unauthorized", (StatusCode::UNAUTHORIZED, reason.into()));
    }
    let bytes = match to_bytes(body, state.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return (
                "too_large",
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("body is larger than {} bytes", state.max_body_bytes),
                ),
            );
        }
    };
    let event = match parse_webhook(&bytes) {
        Ok(Webhook::Ping) => return ("ping", (StatusCode::OK, "OK".into())),
        Ok(Webhook::Event(event)) => event,
        Err(error) => return ("malformed", (StatusCode::BAD_REQUEST, error.to_string())),
    };
    if tenant.plugin.load().is_none() {
        return (
            "no_plugin",
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the tenant's bot is not loaded".into(),
            ),
        );
    }
    match state
        .dispatcher
        .accept(&tenant, event.session_id, bytes.to_vec())
        .await
    {
        Ok(()) => ("accepted", (StatusCode::OK, "OK".into())),
        Err(refusal) => overloaded(refusal),
    }
}

fn overloaded(refusal: Refusal) -> (&'static str, Reply) {
    let outcome = match refusal {
        Refusal::Overloaded(_) => "overloaded",
        Refusal::Storage => "storage_error",
    };
    (
        outcome,
        (StatusCode::SERVICE_UNAVAILABLE, refusal.to_string()),
    )
}

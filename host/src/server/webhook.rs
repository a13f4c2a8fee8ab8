//! `POST /webhook/{tenant}`: authenticate, limit, parse, answer at once, process later.

use std::time::Instant;

use axum::body::{Body, to_bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::auth::{authorized, presented_tokens};
use crate::dispatch::Refusal;
use crate::mluvii::{Webhook, parse_webhook};

type Reply = (StatusCode, String);

/// Seconds a refused webhook is asked to wait (`Retry-After`).
const RETRY_AFTER_SECS: &str = "1";

/// `GET /webhook/{tenant}`: 200 for a known tenant (some setups probe the URL).
pub async fn health_check(State(state): State<AppState>, Path(tenant): Path<String>) -> Reply {
    if state.tenants.contains(&tenant) {
        (StatusCode::OK, "OK".into())
    } else {
        (StatusCode::NOT_FOUND, format!("unknown tenant {tenant:?}"))
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
    let started = Instant::now();
    let (outcome, reply) = handle(&state, &tenant_id, query.as_deref(), &headers, body).await;
    let known = state.tenants.contains(&tenant_id);
    state
        .metrics
        .webhook(if known { &tenant_id } else { "unknown" }, outcome);
    state
        .metrics
        .ack_seconds
        .observe(started.elapsed().as_secs_f64());
    if reply.0 != StatusCode::OK {
        tracing::warn!(tenant = %tenant_id.escape_debug(), status = reply.0.as_u16(), reason = %reply.1, "webhook refused");
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

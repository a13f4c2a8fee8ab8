//! Trace context between the spans of one event: W3C `traceparent` strings journaled with the
//! event and its activities, and the trace id in the log lines.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The `traceparent` of `span`, when traces are on and the span is part of one.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    if !super::enabled() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier.remove("traceparent")
}

/// Makes `span` continue the trace `traceparent` (journaled earlier, maybe by another
/// replica); without one (traces were off then) the span starts a trace of its own.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    if !super::enabled() {
        return;
    }
    if let Some(traceparent) = traceparent {
        let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
        let parent = TraceContextPropagator::new().extract(&carrier);
        let _ = span.set_parent(parent);
    }
}

/// Records the span's trace id in its `trace_id` field (declared empty at its creation), so
/// every log line written inside it carries the id.
pub fn record_trace_id(span: &tracing::Span) {
    if !super::enabled() {
        return;
    }
    let context = span.context();
    let span_context = context.span().span_context().clone();
    if span_context.is_valid() {
        span.record("trace_id", span_context.trace_id().to_string());
    }
}

/// Adds `span`'s `traceparent` to outgoing request headers (a bot's outbound HTTP).
pub fn inject(span: &tracing::Span, headers: &mut http::HeaderMap) {
    if let Some(value) = traceparent(span)
        && let Ok(value) = http::HeaderValue::from_str(&value)
    {
        headers.insert("traceparent", value);
    }
}

//! Traces of the event path (`[telemetry]`): one trace per event, from the webhook through the
//! journal commit and the bot run to each Send API attempt, exported over OTLP/HTTP
//! (protobuf) to a collector. Off by default; the spans exist either way (the log lines carry
//! them), but without an endpoint nothing is exported and no trace context is computed.
//!
//! The trace of an event crosses tasks and replicas through the database: the ingress span's
//! `traceparent` is journaled with the event, the bot run's with each activity it produced.

mod config;
mod context;
mod exporter_client;

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

pub use config::TelemetryConfig;
pub use context::{continue_trace, inject, record_trace_id, traceparent};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether traces are exported (an OTLP endpoint is configured and the exporter runs).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The exporter of a process whose traces are on; [`Telemetry::shutdown`] sends what is left.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Starts the exporter `config` describes (`None` when it names no endpoint).
    pub fn start(config: &TelemetryConfig) -> anyhow::Result<Option<Self>> {
        let Some(endpoint) = &config.otlp_endpoint else {
            return Ok(None);
        };
        let traces_url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(traces_url)
            .with_timeout(std::time::Duration::from_millis(config.export_timeout_ms))
            .with_http_client(exporter_client::ExporterClient::new()?)
            .build()
            .context("telemetry.otlp_endpoint: building the OTLP exporter")?;
        let sampler =
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sampling_ratio)));
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(sampler)
            .with_resource(
                Resource::builder()
                    .with_service_name(config.service_name.clone())
                    .build(),
            )
            .build();
        ENABLED.store(true, Ordering::Relaxed);
        Ok(Some(Self { provider }))
    }

    /// The `tracing` layer that turns spans into OpenTelemetry spans.
    pub fn layer<S>(&self) -> impl tracing_subscriber::Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("wasmbot"))
            .with_tracked_inactivity(false)
            .with_threads(false)
    }

    /// Exports the spans not yet sent and stops the exporter.
    pub fn shutdown(self) {
        ENABLED.store(false, Ordering::Relaxed);
        if let Err(error) = self.provider.shutdown() {
            eprintln!("warning: flushing the last traces failed: {error}");
        }
    }
}

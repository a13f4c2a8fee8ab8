//! `wasmbot bench --otlp-sink ADDR`: a stand-in OTLP/HTTP collector that takes every export
//! and counts it, so a run measures what traces cost the event path with nothing slow behind
//! the exporter.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;

/// What the sink received.
#[derive(Debug, Default)]
pub struct OtlpSink {
    exports: AtomicU64,
    bytes: AtomicU64,
}

impl OtlpSink {
    /// Serves `POST /v1/traces` on `address` until the process ends.
    pub async fn start(address: std::net::SocketAddr) -> anyhow::Result<Arc<Self>> {
        let sink = Arc::new(Self::default());
        let counted = sink.clone();
        let router = Router::new().route(
            "/v1/traces",
            post(move |body: Bytes| {
                counted.exports.fetch_add(1, Ordering::Relaxed);
                counted
                    .bytes
                    .fetch_add(body.len() as u64, Ordering::Relaxed);
                // An empty ExportTraceServiceResponse: every span accepted.
                async { [(axum::http::header::CONTENT_TYPE, "application/x-protobuf")] }
            }),
        );
        let listener = tokio::net::TcpListener::bind(address).await?;
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(sink)
    }

    /// Exports received and their bytes.
    pub fn received(&self) -> (u64, u64) {
        (
            self.exports.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

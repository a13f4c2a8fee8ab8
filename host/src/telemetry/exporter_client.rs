//! The OTLP exporter's HTTP client: the project's reqwest on a runtime of its own. The SDK's
//! batch processor exports from a thread of its own with a plain executor, where reqwest
//! (which needs a tokio reactor) cannot run; each export is handed to this runtime instead.

use std::sync::Arc;

use async_trait::async_trait;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};

/// Posts OTLP requests with reqwest on a one-thread runtime.
#[derive(Debug)]
pub struct ExporterClient {
    client: reqwest::Client,
    runtime: Option<Arc<tokio::runtime::Runtime>>,
}

impl ExporterClient {
    /// A client with its runtime.
    pub fn new() -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("otlp-export")
            .enable_all()
            .build()?;
        Ok(Self {
            client: reqwest::Client::builder().no_proxy().build()?,
            runtime: Some(Arc::new(runtime)),
        })
    }
}

#[async_trait]
impl HttpClient for ExporterClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let runtime = self.runtime.as_ref().ok_or("the exporter is shut down")?;
        let client = self.client.clone();
        let (parts, body) = request.into_parts();
        let mut outgoing = client
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body);
        if let Some(timeout) = parts.extensions.get::<std::time::Duration>() {
            outgoing = outgoing.timeout(*timeout);
        }
        let sent = runtime.spawn(async move {
            let response = outgoing.send().await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        });
        let (status, headers, body) = sent.await??;
        let mut response = Response::builder().status(status).body(body)?;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

impl Drop for ExporterClient {
    fn drop(&mut self) {
        // Dropped wherever the SDK drops it, possibly inside another runtime: never block.
        if let Some(runtime) = self.runtime.take().and_then(|r| Arc::try_unwrap(r).ok()) {
            runtime.shutdown_background();
        }
    }
}

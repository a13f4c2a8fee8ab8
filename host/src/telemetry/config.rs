//! `[telemetry]`.

use serde::Deserialize;

/// `[telemetry]`: where traces go, and how many.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The collector's OTLP/HTTP base URL (`http://collector:4318`); spans are posted to
    /// `{otlp_endpoint}/v1/traces` as protobuf. Unset: no traces are exported.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// Share of events whose trace is recorded, from 0.0 to 1.0 (a trace started elsewhere
    /// keeps its own decision).
    #[serde(default = "default_sampling_ratio")]
    pub sampling_ratio: f64,
    /// `service.name` of the spans.
    #[serde(default = "default_service_name")]
    pub service_name: String,
    /// Time one export may take, in milliseconds.
    #[serde(default = "default_export_timeout_ms")]
    pub export_timeout_ms: u64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            sampling_ratio: default_sampling_ratio(),
            service_name: default_service_name(),
            export_timeout_ms: default_export_timeout_ms(),
        }
    }
}

impl TelemetryConfig {
    /// Refuses values that cannot work, naming the key.
    pub fn check(&self) -> anyhow::Result<()> {
        if !(0.0..=1.0).contains(&self.sampling_ratio) {
            anyhow::bail!(
                "telemetry.sampling_ratio = {} must be from 0.0 to 1.0",
                self.sampling_ratio
            );
        }
        if let Some(endpoint) = &self.otlp_endpoint {
            let url = url::Url::parse(endpoint)
                .map_err(|e| anyhow::anyhow!("telemetry.otlp_endpoint = {endpoint:?}: {e}"))?;
            if !matches!(url.scheme(), "http" | "https") {
                anyhow::bail!("telemetry.otlp_endpoint = {endpoint:?} must be an http(s) URL");
            }
        }
        if self.service_name.trim().is_empty() {
            anyhow::bail!("telemetry.service_name must not be empty");
        }
        Ok(())
    }
}

fn default_sampling_ratio() -> f64 {
    1.0
}
fn default_service_name() -> String {
    "wasmbot".to_owned()
}
fn default_export_timeout_ms() -> u64 {
    10_000
}

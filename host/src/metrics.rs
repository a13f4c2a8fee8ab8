//! Prometheus metrics, served at `GET /metrics` in the text format.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels: the tenant.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantLabel {
    /// Tenant id.
    pub tenant: String,
}

/// Labels: tenant and outcome (webhooks) or kind (errors).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantOutcome {
    /// Tenant id (or `unknown`).
    pub tenant: String,
    /// What happened.
    pub outcome: String,
}

/// Every metric wasmbot exports.
pub struct Metrics {
    registry: Registry,
    /// Webhooks received, by tenant and outcome (`accepted`, `ping`, `unauthorized`, …).
    pub webhooks: Family<TenantOutcome, Counter>,
    /// Time from a webhook's arrival to its answer, in seconds.
    pub ack_seconds: Histogram,
    /// Time a bot took for one event, in seconds.
    pub bot_run_seconds: Family<TenantLabel, Histogram>,
    /// Bot failures, by tenant and kind (`trap`, `timeout`, `out_of_memory`, …).
    pub bot_errors: Family<TenantOutcome, Counter>,
    /// Activities delivered to mluvii.
    pub activities_sent: Family<TenantLabel, Counter>,
    /// Activities that became dead letters.
    pub activities_failed: Family<TenantLabel, Counter>,
    /// Failed delivery attempts that will be retried.
    pub delivery_retries: Family<TenantLabel, Counter>,
    /// Journaled events not yet processed (set when metrics are read).
    pub backlog_events: Family<TenantLabel, Gauge>,
    /// 1 while a tenant has a loaded plugin, 0 while it has none (set when metrics are read).
    pub plugin_loaded: Family<TenantLabel, Gauge>,
    /// Idle warm instances held across all tenants (set when metrics are read).
    pub warm_instances: Gauge,
    /// Time to deliver one activity (retries included), in seconds.
    pub outbound_seconds: Family<TenantLabel, Histogram>,
    /// Plugin loads by tenant and outcome (`compiled`, `cached`: from the compiled-artifact
    /// cache, `refused`: the old version keeps serving).
    pub plugin_loads: Family<TenantOutcome, Counter>,
    /// Events a shadow candidate ran, by tenant and outcome (`identical`, `different`,
    /// `failed`, `dropped`).
    pub candidate_events: Family<TenantOutcome, Counter>,
    /// Bots' outbound HTTP requests, by tenant and outcome (`sent`, `refused` by the tenant's
    /// policy, `failed` on the way).
    pub bot_http_requests: Family<TenantOutcome, Counter>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.5, 14))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("wasmbot");
        let webhooks = Family::<TenantOutcome, Counter>::default();
        let ack_seconds = latency_histogram();
        let bot_run_seconds = Family::<TenantLabel, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let bot_errors = Family::<TenantOutcome, Counter>::default();
        let activities_sent = Family::<TenantLabel, Counter>::default();
        let activities_failed = Family::<TenantLabel, Counter>::default();
        let delivery_retries = Family::<TenantLabel, Counter>::default();
        let backlog_events = Family::<TenantLabel, Gauge>::default();
        let outbound_seconds = Family::<TenantLabel, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "webhooks",
            "Webhooks received by tenant and outcome",
            webhooks.clone(),
        );
        registry.register(
            "webhook_ack_seconds",
            "Time to answer a webhook",
            ack_seconds.clone(),
        );
        registry.register(
            "bot_run_seconds",
            "Time a bot took for one event",
            bot_run_seconds.clone(),
        );
        registry.register(
            "bot_errors",
            "Bot failures by tenant and kind",
            bot_errors.clone(),
        );
        registry.register(
            "activities_sent",
            "Activities delivered to mluvii",
            activities_sent.clone(),
        );
        registry.register(
            "activities_failed",
            "Activities that became dead letters",
            activities_failed.clone(),
        );
        registry.register(
            "delivery_retries",
            "Failed delivery attempts that will be retried",
            delivery_retries.clone(),
        );
        registry.register(
            "backlog_events",
            "Journaled events not yet processed",
            backlog_events.clone(),
        );
        let plugin_loaded = Family::<TenantLabel, Gauge>::default();
        registry.register(
            "plugin_loaded",
            "1 while the tenant has a loaded plugin, 0 while it has none",
            plugin_loaded.clone(),
        );
        let candidate_events = Family::<TenantOutcome, Counter>::default();
        registry.register(
            "candidate_events",
            "Events a shadow candidate ran, by outcome of the comparison",
            candidate_events.clone(),
        );
        let warm_instances = Gauge::default();
        registry.register(
            "warm_instances",
            "Idle warm instances held across all tenants",
            warm_instances.clone(),
        );
        let plugin_loads = Family::<TenantOutcome, Counter>::default();
        registry.register(
            "plugin_loads",
            "Plugin loads by tenant and outcome (compiled, cached, refused)",
            plugin_loads.clone(),
        );
        let bot_http_requests = Family::<TenantOutcome, Counter>::default();
        registry.register(
            "bot_http_requests",
            "Bots' outbound HTTP requests by tenant and outcome (sent, refused, failed)",
            bot_http_requests.clone(),
        );
        registry.register(
            "outbound_seconds",
            "Time to deliver one activity",
            outbound_seconds.clone(),
        );
        Self {
            registry,
            webhooks,
            ack_seconds,
            bot_run_seconds,
            bot_errors,
            activities_sent,
            activities_failed,
            delivery_retries,
            backlog_events,
            plugin_loaded,
            warm_instances,
            candidate_events,
            outbound_seconds,
            plugin_loads,
            bot_http_requests,
        }
    }
}

impl Metrics {
    /// Counts a webhook.
    pub fn webhook(&self, tenant: &str, outcome: &str) {
        self.webhooks
            .get_or_create(&TenantOutcome {
                tenant: tenant.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// The label of one tenant.
pub fn tenant(id: &str) -> TenantLabel {
    TenantLabel {
        tenant: id.to_owned(),
    }
}

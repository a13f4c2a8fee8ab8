//! `wasmbot.toml`: parsed strictly (an unknown key is an error naming it), with secrets read
//! from the environment or from files, never from the file itself.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;

use crate::capabilities::http::HttpConfig;
use crate::delivery::RetryPolicy;
use crate::dispatch::fallback::FallbackConfig;
use crate::storage::{Durability, StorageConfig, StorageSection};

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Server-wide settings.
    #[serde(default)]
    pub server: ServerConfig,
    /// Where the event path's data lives (`[storage]`).
    #[serde(default)]
    pub storage: StorageSection,
    /// Traces (`[telemetry]`; off unless it names an OTLP endpoint).
    #[serde(default)]
    pub telemetry: crate::telemetry::TelemetryConfig,
    /// The tenants (`[[tenant]]` tables).
    #[serde(default, rename = "tenant")]
    pub tenants: Vec<TenantConfig>,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Address of the operations listener (`/admin/*`, `/metrics`, `/readyz`). Unset, they
    /// are served on `listen` beside the webhooks (meant for development).
    #[serde(default)]
    pub admin_listen: Option<SocketAddr>,
    /// Directory of the embedded database and caches.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Environment variable holding the admin token (admin API).
    #[serde(default)]
    pub admin_token_env: Option<String>,
    /// File holding the admin token (alternative to the variable).
    #[serde(default)]
    pub admin_token_file: Option<PathBuf>,
    /// Known-good plugin versions kept per tenant for rollback.
    #[serde(default = "default_plugin_versions_kept")]
    pub plugin_versions_kept: usize,
    /// Largest plugin accepted by `PUT /admin/tenants/{id}/plugin`, in MiB.
    #[serde(default = "default_max_plugin_mib")]
    pub max_plugin_mib: usize,
    /// Whether plugin files are watched and swapped in when they change.
    #[serde(default = "default_true")]
    pub watch_plugins: bool,
    /// Largest accepted webhook body, in bytes.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Connections open at once; further clients wait in the listen backlog.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Connections open at once from one IP address (more are closed at once); 0: only
    /// `max_connections` applies. Behind a proxy every connection comes from the proxy's
    /// address: set it to 0 or to `max_connections` there.
    #[serde(default = "default_max_connections_per_peer")]
    pub max_connections_per_peer: usize,
    /// Time a client has to send a request's headers, in milliseconds.
    #[serde(default = "default_header_read_timeout_ms")]
    pub header_read_timeout_ms: u64,
    /// Time a request body may go without data arriving, in milliseconds.
    #[serde(default = "default_body_read_timeout_ms")]
    pub body_read_timeout_ms: u64,
    /// Bot runs in flight at once, across all tenants.
    #[serde(default = "default_max_concurrent_runs")]
    pub max_concurrent_runs: usize,
    /// Idle warm instances kept at once, across all tenants (tenants that reuse instances);
    /// past it an instance is dropped after its event. The engine's instance slots are
    /// `max_concurrent_runs + max_warm_instances`, so idle instances never starve runs.
    #[serde(default = "default_max_warm_instances")]
    pub max_warm_instances: usize,
    /// Past this many journaled, unprocessed events (all tenants), webhooks get 503.
    #[serde(default = "default_max_backlog")]
    pub max_backlog: usize,
    /// Past a backlog that would take longer than this many seconds to process at the rate of
    /// the last few seconds (and above 1,000 events), webhooks get 503; 0: no such bound.
    /// On PostgreSQL a replica counts its share: the events it journaled and did not process.
    #[serde(default = "default_max_backlog_secs")]
    pub max_backlog_secs: f64,
    /// Deprecated: `storage.durability`.
    #[serde(default)]
    pub durability: Option<Durability>,
    /// On SIGTERM, how long to finish work in hand before exiting, in milliseconds.
    #[serde(default = "default_shutdown_deadline_ms")]
    pub shutdown_deadline_ms: u64,
    /// Processed events and sent activities are deleted after this many hours.
    #[serde(default = "default_retention_hours")]
    pub retention_hours: u64,
    /// What is remembered of a session whose end was never reported (its language and
    /// channel) is forgotten this many hours after it was last written.
    #[serde(default = "default_session_facts_hours")]
    pub session_facts_hours: u64,
    /// Wait after a first failed delivery, in milliseconds (doubled per failure).
    #[serde(default = "default_retry_first_backoff_ms")]
    pub retry_first_backoff_ms: u64,
    /// Longest wait between delivery attempts, in milliseconds.
    #[serde(default = "default_retry_max_backoff_ms")]
    pub retry_max_backoff_ms: u64,
    /// An activity still failing this many seconds after its first failure becomes a dead
    /// letter.
    #[serde(default = "default_dead_letter_after_secs")]
    pub dead_letter_after_secs: u64,
    /// How often the database is swept for work nobody was told about, in milliseconds.
    #[serde(default = "default_sweep_interval_ms")]
    pub sweep_interval_ms: u64,
    /// This replica's name among those sharing a database (the admin API shows which plugin
    /// version each one serves); by default the host name and the listen port.
    #[serde(default)]
    pub replica_id: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            admin_listen: None,
            data_dir: default_data_dir(),
            admin_token_env: None,
            admin_token_file: None,
            plugin_versions_kept: default_plugin_versions_kept(),
            max_plugin_mib: default_max_plugin_mib(),
            watch_plugins: true,
            max_body_bytes: default_max_body_bytes(),
            max_connections: default_max_connections(),
            max_connections_per_peer: default_max_connections_per_peer(),
            header_read_timeout_ms: default_header_read_timeout_ms(),
            body_read_timeout_ms: default_body_read_timeout_ms(),
            max_concurrent_runs: default_max_concurrent_runs(),
            max_warm_instances: default_max_warm_instances(),
            max_backlog: default_max_backlog(),
            max_backlog_secs: default_max_backlog_secs(),
            durability: None,
            shutdown_deadline_ms: default_shutdown_deadline_ms(),
            retention_hours: default_retention_hours(),
            session_facts_hours: default_session_facts_hours(),
            retry_first_backoff_ms: default_retry_first_backoff_ms(),
            retry_max_backoff_ms: default_retry_max_backoff_ms(),
            dead_letter_after_secs: default_dead_letter_after_secs(),
            sweep_interval_ms: default_sweep_interval_ms(),
            replica_id: None,
        }
    }
}

impl ServerConfig {
    /// `replica_id`, or the host name and the listen port (the process id when the port is
    /// chosen by the system).
    pub fn replica_name(&self) -> String {
        if let Some(id) = &self.replica_id {
            return id.clone();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|name| name.trim().to_owned())
            .ok()
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "wasmbot".to_owned());
        match self.listen.port() {
            0 => format!("{host}:pid{}", std::process::id()),
            port => format!("{host}:{port}"),
        }
    }

    /// The connection limit and read timeouts these keys describe.
    pub fn ingress_limits(&self) -> crate::server::listen::IngressLimits {
        crate::server::listen::IngressLimits {
            max_connections: self.max_connections,
            max_connections_per_peer: self.max_connections_per_peer,
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            body_read_timeout: Duration::from_millis(self.body_read_timeout_ms),
        }
    }

    /// The delivery retry policy these keys describe.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            first_backoff: Duration::from_millis(self.retry_first_backoff_ms.max(1)),
            max_backoff: Duration::from_millis(self.retry_max_backoff_ms.max(1)),
            give_up_after: Duration::from_secs(self.dead_letter_after_secs),
        }
    }
}

fn default_plugin_versions_kept() -> usize {
    5
}
fn default_max_plugin_mib() -> usize {
    128
}
fn default_true() -> bool {
    true
}
fn default_max_backlog_secs() -> f64 {
    5.0
}
fn default_max_backlog() -> usize {
    100_000
}
fn default_shutdown_deadline_ms() -> u64 {
    10_000
}
fn default_retention_hours() -> u64 {
    24
}
fn default_session_facts_hours() -> u64 {
    7 * 24
}
fn default_retry_first_backoff_ms() -> u64 {
    200
}
fn default_retry_max_backoff_ms() -> u64 {
    30_000
}
fn default_dead_letter_after_secs() -> u64 {
    600
}
fn default_sweep_interval_ms() -> u64 {
    10_000
}

fn default_listen() -> SocketAddr {
    "127.0.0.1:8080".parse().expect("a valid address")
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
fn default_max_connections() -> usize {
    crate::server::listen::IngressLimits::default().max_connections
}
fn default_max_connections_per_peer() -> usize {
    crate::server::listen::IngressLimits::default().max_connections_per_peer
}
fn default_header_read_timeout_ms() -> u64 {
    crate::server::listen::IngressLimits::default()
        .header_read_timeout
        .as_millis() as u64
}
fn default_body_read_timeout_ms() -> u64 {
    crate::server::listen::IngressLimits::default()
        .body_read_timeout
        .as_millis() as u64
}
fn default_max_body_bytes() -> usize {
    256 * 1024
}
fn default_max_concurrent_runs() -> usize {
    32
}
fn default_max_warm_instances() -> usize {
    32
}

/// One `[[tenant]]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Tenant id: the webhook path is `/webhook/{id}`.
    pub id: String,
    /// The bot component.
    pub plugin: PathBuf,
    /// Environment variable holding the webhook token.
    #[serde(default)]
    pub webhook_token_env: Option<String>,
    /// File holding the webhook token (alternative to the variable).
    #[serde(default)]
    pub webhook_token_file: Option<PathBuf>,
    /// What the bot's `config` import returns.
    #[serde(default)]
    pub settings: toml::Table,
    /// Limits of one event's run.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// What the guest gets when the bot fails.
    #[serde(default)]
    pub fallback: FallbackConfig,
    /// What the bot may reach over HTTP (nothing by default).
    #[serde(default)]
    pub http: HttpConfig,
    /// Where and how to reach mluvii.
    pub mluvii: MluviiConfig,
    /// After a swap, conversations already running finish on the version they started with
    /// (up to `pin_max_age_secs`); new ones get the new version.
    #[serde(default)]
    pub pin_sessions: bool,
    /// With `pin_sessions`: how long a conversation may stay on the version it started with.
    #[serde(default = "default_pin_max_age_secs")]
    pub pin_max_age_secs: u64,
}

fn default_pin_max_age_secs() -> u64 {
    3600
}

/// `[tenant.limits]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Time one event may run, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Memory one instance of the bot may hold, all its linear memories together, in MiB.
    #[serde(default = "default_memory_mib")]
    pub max_memory_mib: usize,
    /// Table elements one instance may hold, all its tables together.
    #[serde(default = "default_max_table_elements")]
    pub max_table_elements: usize,
    /// Bot runs of this tenant in flight at once.
    #[serde(default = "default_tenant_concurrency")]
    pub max_concurrent_runs: usize,
    /// Most activities one event may produce (more: the bot failed, the fallback is sent).
    #[serde(default = "default_max_activities")]
    pub max_activities: usize,
    /// Most KiB of Send API JSON one event may produce.
    #[serde(default = "default_max_output_kib")]
    pub max_output_kib: usize,
    /// Keys the tenant's state may hold.
    #[serde(default = "default_max_state_keys")]
    pub max_state_keys: u64,
    /// MiB (keys and values together) the tenant's state may hold.
    #[serde(default = "default_max_state_mib")]
    pub max_state_mib: u64,
    /// Sessions whose language and channel the host keeps stored for this tenant (past it, a
    /// new session's are known to the events that carry them only).
    #[serde(default = "default_max_session_facts")]
    pub max_session_facts: u64,
    /// Log lines one event may emit (the log import, stdout, stderr); the rest are counted and
    /// reported in one summary line.
    #[serde(default = "default_max_log_lines")]
    pub max_log_lines: usize,
    /// KiB of log text one event may emit.
    #[serde(default = "default_max_log_kib")]
    pub max_log_kib: usize,
    /// Sessions of this tenant whose activities are delivered at once.
    #[serde(default = "default_tenant_deliveries")]
    pub max_concurrent_deliveries: usize,
    /// Past this many journaled, unprocessed events of this tenant, its webhooks get 503.
    #[serde(default = "default_tenant_backlog")]
    pub max_backlog: usize,
    /// Events one instance of the bot may handle before a fresh one is made; 0 or 1: a fresh
    /// instance per event (the default). The bot's globals then survive between its events.
    #[serde(default)]
    pub reuse_instance_events: u32,
    /// Seconds one instance may be reused for, when `reuse_instance_events` allows reuse.
    #[serde(default = "default_reuse_instance_secs")]
    pub reuse_instance_secs: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            timeout_ms: default_timeout_ms(),
            max_memory_mib: default_memory_mib(),
            max_table_elements: default_max_table_elements(),
            max_concurrent_runs: default_tenant_concurrency(),
            max_activities: default_max_activities(),
            max_output_kib: default_max_output_kib(),
            max_state_keys: default_max_state_keys(),
            max_state_mib: default_max_state_mib(),
            max_session_facts: default_max_session_facts(),
            max_log_lines: default_max_log_lines(),
            max_log_kib: default_max_log_kib(),
            max_concurrent_deliveries: default_tenant_deliveries(),
            max_backlog: default_tenant_backlog(),
            reuse_instance_events: 0,
            reuse_instance_secs: default_reuse_instance_secs(),
        }
    }
}

fn default_reuse_instance_secs() -> u64 {
    60
}

fn default_timeout_ms() -> u64 {
    5_000
}
fn default_memory_mib() -> usize {
    64
}
fn default_max_state_keys() -> u64 {
    crate::runtime::Limits::default().max_state_keys
}
fn default_max_state_mib() -> u64 {
    crate::runtime::Limits::default().max_state_bytes >> 20
}
fn default_max_session_facts() -> u64 {
    crate::runtime::Limits::default().max_session_facts
}
fn default_max_log_lines() -> usize {
    crate::runtime::Limits::default().max_log_lines
}
fn default_max_log_kib() -> usize {
    crate::runtime::Limits::default().max_log_bytes >> 10
}
fn default_max_table_elements() -> usize {
    crate::runtime::Limits::default().max_table_elements
}
fn default_tenant_concurrency() -> usize {
    8
}
fn default_max_activities() -> usize {
    50
}
fn default_max_output_kib() -> usize {
    256
}
fn default_tenant_deliveries() -> usize {
    64
}
fn default_tenant_backlog() -> usize {
    50_000
}

impl LimitsConfig {
    /// As the runtime takes them.
    pub fn runtime_limits(&self) -> crate::runtime::Limits {
        crate::runtime::Limits {
            timeout: Duration::from_millis(self.timeout_ms),
            max_memory_bytes: self.max_memory_mib << 20,
            max_table_elements: self.max_table_elements,
            max_activities: self.max_activities,
            max_output_bytes: self.max_output_kib << 10,
            max_state_keys: self.max_state_keys,
            max_state_bytes: self.max_state_mib << 20,
            max_session_facts: self.max_session_facts,
            max_log_lines: self.max_log_lines,
            max_log_bytes: self.max_log_kib << 10,
            reuse: crate::runtime::InstanceReuse {
                max_events: self.reuse_instance_events,
                max_age: Duration::from_secs(self.reuse_instance_secs),
            },
        }
    }
}

/// `[tenant.mluvii]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MluviiConfig {
    /// `https://app.mluvii.com`, or an on-premise host.
    pub base_url: String,
    /// The chatbot's id in mluvii.
    pub chatbot_id: i64,
    /// The API key's user name (OAuth client id).
    pub client_id: String,
    /// Environment variable holding the API key's password.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// File holding the API key's password.
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
}

/// A secret: printed as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for use (never for logging).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Reads a secret from the named variable or file; `what` names it in errors.
pub fn resolve_secret(
    what: &str,
    env: Option<&str>,
    file: Option<&Path>,
) -> anyhow::Result<Secret> {
    match (env, file) {
        (Some(_), Some(_)) => bail!("{what}: set either the _env or the _file key, not both"),
        (Some(var), None) => match std::env::var(var) {
            Ok(value) if !value.trim().is_empty() => Ok(Secret(value.trim().to_owned())),
            Ok(_) => bail!("{what}: environment variable {var} is empty"),
            Err(_) => bail!("{what}: environment variable {var} is not set"),
        },
        (None, Some(path)) => {
            let value = std::fs::read_to_string(path)
                .with_context(|| format!("{what}: reading {}", path.display()))?;
            if value.trim().is_empty() {
                bail!("{what}: {} is empty", path.display());
            }
            Ok(Secret(value.trim().to_owned()))
        }
        (None, None) => bail!("{what}: no _env or _file key names where the secret is"),
    }
}

/// mluvii's base URL must be `https`, except on loopback (the simulator, tests): the token
/// form carries the client secret.
pub fn check_base_url(base_url: &str) -> anyhow::Result<()> {
    let url = reqwest::Url::parse(base_url).map_err(|e| anyhow::anyhow!("{base_url:?}: {e}"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        scheme => {
            bail!("{base_url:?} must use https ({scheme} is allowed only for loopback hosts)")
        }
    }
}

impl ConfigFile {
    /// The storage `[storage]` and `[server]` describe, its secrets read.
    pub fn storage(&self) -> anyhow::Result<StorageConfig> {
        self.storage
            .resolve(&self.server.data_dir, self.server.durability)
    }

    /// Parses `text`, checking tenant ids.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let config: ConfigFile = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        config.telemetry.check()?;
        let mut seen = std::collections::HashSet::new();
        for tenant in &config.tenants {
            let valid = !tenant.id.is_empty()
                && tenant.id.len() <= 64
                && tenant
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                bail!(
                    "tenant id {:?} must be 1–64 characters of a-z, A-Z, 0-9, '-' and '_'",
                    tenant.id
                );
            }
            if !seen.insert(tenant.id.as_str()) {
                bail!("tenant id {:?} appears twice", tenant.id);
            }
            check_base_url(&tenant.mluvii.base_url)
                .with_context(|| format!("tenant {}: mluvii.base_url", tenant.id))?;
        }
        Ok(config)
    }

    /// Reads and parses the file at `path`; relative plugin paths are taken relative to it.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut config =
            Self::parse(&text).with_context(|| format!("{} is not valid", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for tenant in &mut config.tenants {
            if tenant.plugin.is_relative() {
                tenant.plugin = base.join(&tenant.plugin);
            }
        }
        if config.server.data_dir.is_relative() {
            config.server.data_dir = base.join(&config.server.data_dir);
        }
        if let Some(file) = &mut config.storage.url_file
            && file.is_relative()
        {
            *file = base.join(&*file);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
        [server]
        listen = "127.0.0.1:0"
        data_dir = "data"
        admin_token_env = "WASMBOT_ADMIN_TOKEN"

        [[tenant]]
        id = "acme"
        plugin = "bots/acme.wasm"
        webhook_token_env = "ACME_WEBHOOK_TOKEN"
        settings = { greeting = "Hello", topics = ["Sales"] }
        [tenant.limits]
        timeout_ms = 1000
        [tenant.mluvii]
        base_url = "https://app.mluvii.com"
        chatbot_id = 166
        client_id = "abc"
        client_secret_env = "ACME_MLUVII_SECRET"
    "#;

    #[test]
    fn instance_reuse_is_off_by_default_and_configurable() {
        let config = ConfigFile::parse(EXAMPLE).unwrap();
        assert!(!config.tenants[0].limits.runtime_limits().reuse.enabled());
        let reusing = EXAMPLE.replace(
            "timeout_ms = 1000",
            "timeout_ms = 1000\n        reuse_instance_events = 100\n        reuse_instance_secs = 30",
        );
        let limits = ConfigFile::parse(&reusing).unwrap().tenants[0]
            .limits
            .runtime_limits();
        assert!(limits.reuse.enabled());
        assert_eq!(limits.reuse.max_events, 100);
        assert_eq!(limits.reuse.max_age, Duration::from_secs(30));
    }

    #[test]
    fn the_documented_example_parses() {
        let config = ConfigFile::parse(EXAMPLE).unwrap();
        let acme = &config.tenants[0];
        assert_eq!(acme.id, "acme");
        assert_eq!(acme.mluvii.chatbot_id, 166);
        assert_eq!(acme.limits.timeout_ms, 1000);
        assert_eq!(acme.limits.max_memory_mib, 64);
        assert_eq!(acme.settings["greeting"].as_str(), Some("Hello"));
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = ConfigFile::parse(&EXAMPLE.replace("chatbot_id", "chatbot")).unwrap_err();
        assert!(err.to_string().contains("unknown field `chatbot`"), "{err}");
        let err = ConfigFile::parse("[server]\nlisten_on = \"x\"").unwrap_err();
        assert!(
            err.to_string().contains("unknown field `listen_on`"),
            "{err}"
        );
    }

    #[test]
    fn mluvii_must_be_https_except_on_loopback() {
        assert!(check_base_url("https://app.mluvii.com").is_ok());
        assert!(check_base_url("http://127.0.0.1:8081").is_ok());
        assert!(check_base_url("http://localhost:8081").is_ok());
        assert!(check_base_url("http://[::1]:8081").is_ok());
        let err = check_base_url("http://app.mluvii.com")
            .unwrap_err()
            .to_string();
        assert!(err.contains("must use https"), "{err}");
        let err = ConfigFile::parse(&EXAMPLE.replace("https://app", "http://app")).unwrap_err();
        assert!(
            format!("{err:#}").contains("tenant acme: mluvii.base_url"),
            "{err:#}"
        );
    }

    #[test]
    fn bad_tenant_ids_are_refused() {
        let err = ConfigFile::parse(&EXAMPLE.replace("\"acme\"", "\"ac/me\"")).unwrap_err();
        assert!(err.to_string().contains("ac/me"), "{err}");
    }

    #[test]
    fn secrets_come_from_files_or_variables_and_are_not_printed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "s3cret\n").unwrap();
        let secret = resolve_secret("acme", None, Some(&file)).unwrap();
        assert_eq!(secret.expose(), "s3cret");
        assert_eq!(format!("{secret:?}"), "***");
        let err = resolve_secret(
            "tenant acme webhook token",
            Some("WASMBOT_TEST_SURELY_UNSET"),
            None,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "tenant acme webhook token: environment variable WASMBOT_TEST_SURELY_UNSET is not set"
        );
    }
}

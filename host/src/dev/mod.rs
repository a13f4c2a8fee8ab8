//! The local loop: the mluvii simulator and a wasmbot server wired to each other on loopback,
//! one tenant per bot. `wasmbot dev` runs it; the end-to-end tests start it too, so both
//! exercise the host's real path (webhook, dispatcher, plugin, OAuth client, Send API).

pub mod feed;
pub mod rebuild;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::capabilities::http::HttpConfig;
use crate::config::{ConfigFile, LimitsConfig, MluviiConfig, ServerConfig, TenantConfig};
use crate::delivery::RetryPolicy;
use crate::mluvii::inbound::AvailableGroup;
use crate::server::{AppState, run, setup::build_state};
use crate::simulator::{Simulator, SimulatorConfig, WebhookTarget};
use crate::storage::Durability;
use feed::DevFeed;

/// A bot to serve in dev mode.
#[derive(Debug, Clone)]
pub struct DevBot {
    /// Tenant id (and the name shown in the chat page).
    pub id: String,
    /// Its component.
    pub plugin: PathBuf,
    /// Its settings.
    pub settings: toml::Table,
    /// Its outbound HTTP policy.
    pub http: HttpConfig,
}

/// What to start.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// The bots; bot `i` is chatbot `100 + i` at the simulator.
    pub bots: Vec<DevBot>,
    /// wasmbot's address (port 0: any free port).
    pub host_listen: SocketAddr,
    /// The simulator's address.
    pub simulator_listen: SocketAddr,
    /// Database and secrets directory.
    pub data_dir: PathBuf,
    /// Lifetime of the simulator's tokens.
    pub token_lifetime: Duration,
    /// Send API retry policy.
    pub retry: RetryPolicy,
    /// Whether journal commits are fsynced.
    pub durability: Durability,
}

/// A running simulator + server pair.
pub struct DevServer {
    /// The simulator.
    pub simulator: Simulator,
    /// `http://…` of the simulator (the chat page is its `/`).
    pub simulator_url: String,
    /// `http://…` of wasmbot.
    pub host_url: String,
    /// The server's state.
    pub state: AppState,
    /// The webhook token of every dev tenant.
    pub webhook_token: String,
    /// What the chat page shows beside the chat (bot logs, activities, updates, builds).
    pub feed: Arc<DevFeed>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

/// The simulator's groups at start: one online group.
pub fn default_groups() -> Vec<AvailableGroup> {
    vec![AvailableGroup {
        display_name: "Support".into(),
        group_id: 7299,
        group_state: Some("ONLINE".into()),
        group_offline_reasons: Some(vec![]),
        group_workload: None,
        queue_workload: None,
    }]
}

fn random_token() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    let a = hasher.finish();
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(a);
    format!("{a:016x}{:016x}", hasher.finish())
}

/// Starts the simulator, then wasmbot, and connects each bot's chatbot to its webhook.
pub async fn start(options: DevOptions) -> anyhow::Result<DevServer> {
    std::fs::create_dir_all(&options.data_dir)
        .with_context(|| format!("creating {}", options.data_dir.display()))?;
    let webhook_token = random_token();
    let client_secret = random_token();
    let token_file = options.data_dir.join("dev-webhook-token");
    let secret_file = options.data_dir.join("dev-client-secret");
    std::fs::write(&token_file, &webhook_token)?;
    std::fs::write(&secret_file, &client_secret)?;

    let simulator = Simulator::new(SimulatorConfig {
        client_id: "wasmbot-dev".into(),
        client_secret,
        token_lifetime: options.token_lifetime,
        groups: default_groups(),
    });
    let sim_listener = tokio::net::TcpListener::bind(options.simulator_listen)
        .await
        .with_context(|| format!("listening on {}", options.simulator_listen))?;
    let simulator_url = format!("http://{}", sim_listener.local_addr()?);
    let router = simulator.router();
    tokio::spawn(async move {
        if let Err(e) = axum::serve(sim_listener, router).await {
            tracing::error!(error = %e, "the simulator stopped");
        }
    });

    let config = ConfigFile {
        telemetry: Default::default(),
        server: ServerConfig {
            listen: options.host_listen,
            data_dir: options.data_dir.clone(),
            retry_first_backoff_ms: options.retry.first_backoff.as_millis() as u64,
            retry_max_backoff_ms: options.retry.max_backoff.as_millis() as u64,
            dead_letter_after_secs: options.retry.give_up_after.as_secs(),
            ..ServerConfig::default()
        },
        storage: crate::storage::StorageSection {
            durability: Some(options.durability),
            ..Default::default()
        },
        tenants: options
            .bots
            .iter()
            .enumerate()
            .map(|(i, bot)| TenantConfig {
                id: bot.id.clone(),
                plugin: bot.plugin.clone(),
                webhook_token_env: None,
                webhook_token_file: Some(token_file.clone()),
                settings: bot.settings.clone(),
                limits: LimitsConfig::default(),
                fallback: Default::default(),
                http: bot.http.clone(),
                pin_sessions: false,
                pin_max_age_secs: 3600,
                mluvii: MluviiConfig {
                    base_url: simulator_url.clone(),
                    chatbot_id: 100 + i as i64,
                    client_id: "wasmbot-dev".into(),
                    client_secret_env: None,
                    client_secret_file: Some(secret_file.clone()),
                },
            })
            .collect(),
    };
    let feed = Arc::new(DevFeed::default());
    simulator.show_dev_feed(feed.clone());
    let state = build_state(&config, None, Some(feed.clone())).await?;
    let listener = tokio::net::TcpListener::bind(options.host_listen)
        .await
        .with_context(|| format!("listening on {}", options.host_listen))?;
    let host_url = format!("http://{}", listener.local_addr()?);
    for (i, bot) in options.bots.iter().enumerate() {
        simulator.connect_chatbot(
            100 + i as i64,
            WebhookTarget {
                url: format!("{host_url}/webhook/{}?access_token={webhook_token}", bot.id),
                name: bot.id.clone(),
            },
        );
    }
    let (tx, rx) = oneshot::channel();
    let server = tokio::spawn(run(listener, None, state.clone(), async {
        let _ = rx.await;
    }));
    Ok(DevServer {
        simulator,
        simulator_url,
        host_url,
        state,
        webhook_token,
        feed,
        shutdown: Some(tx),
        server: Some(server),
    })
}

impl DevServer {
    /// Stops accepting webhooks and returns once accepted events are delivered.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await??;
        }
        Ok(())
    }
}

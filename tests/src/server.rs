//! A real wasmbot server and the mluvii simulator on loopback ports chosen by the OS, started
//! the way `wasmbot dev` starts them.

use std::time::{Duration, Instant};

use serde_json::Value;
use wasmbot::delivery::RetryPolicy;
use wasmbot::dev::{DevBot, DevOptions, DevServer, start};
use wasmbot::mluvii::inbound::AvailableGroup;
use wasmbot::server::AppState;
use wasmbot::simulator::Simulator;
use wasmbot::storage::Durability;

/// A running server + simulator pair.
pub struct Harness {
    /// The simulated mluvii.
    pub sim: Simulator,
    /// `http://127.0.0.1:PORT` of wasmbot.
    pub host_url: String,
    /// `http://127.0.0.1:PORT` of the simulator (its `/` is the chat page).
    pub sim_url: String,
    /// The server's state (metrics, dispatcher).
    pub state: AppState,
    /// The tenants' webhook token.
    pub token: String,
    /// An HTTP client for the test's own requests.
    pub http: reqwest::Client,
    dev: DevServer,
    _dir: tempfile::TempDir,
}

/// One tenant of a harness; tenant `i` is chatbot `100 + i`.
pub struct TestTenant<'a> {
    /// Tenant id.
    pub id: &'a str,
    /// Component path.
    pub plugin: &'a str,
    /// TOML inline table, e.g. `{ greeting = "Hi" }`.
    pub settings: &'a str,
}

/// A group in the given state, for the simulator.
pub fn group(id: i32, state: &str) -> AvailableGroup {
    AvailableGroup {
        display_name: format!("Group {id}"),
        group_id: id,
        group_state: Some(state.to_owned()),
        group_offline_reasons: Some(vec![]),
        group_workload: None,
        queue_workload: None,
    }
}

impl Harness {
    /// Starts the simulator and wasmbot with `tenants`, tokens living `token_lifetime`.
    pub async fn start(tenants: &[TestTenant<'_>], token_lifetime: Duration) -> Self {
        Self::start_with(tenants, token_lifetime, Durability::Fsync).await
    }

    /// As [`Harness::start`], with the journal's `durability`.
    pub async fn start_with(
        tenants: &[TestTenant<'_>],
        token_lifetime: Duration,
        durability: Durability,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bots = tenants
            .iter()
            .map(|t| DevBot {
                id: t.id.to_owned(),
                plugin: t.plugin.into(),
                settings: toml::from_str(&format!("s = {}", t.settings))
                    .map(|mut table: toml::Table| match table.remove("s") {
                        Some(toml::Value::Table(settings)) => settings,
                        _ => panic!("settings must be an inline table"),
                    })
                    .unwrap(),
                http: Default::default(),
            })
            .collect();
        let dev = start(DevOptions {
            bots,
            host_listen: "127.0.0.1:0".parse().unwrap(),
            simulator_listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().join("data"),
            token_lifetime,
            retry: RetryPolicy {
                first_backoff: Duration::from_millis(20),
                max_backoff: Duration::from_millis(200),
                give_up_after: Duration::from_secs(30),
            },
            durability,
        })
        .await
        .unwrap();
        dev.simulator.set_groups(vec![group(7299, "ONLINE")]);
        Self {
            sim: dev.simulator.clone(),
            host_url: dev.host_url.clone(),
            sim_url: dev.simulator_url.clone(),
            state: dev.state.clone(),
            token: dev.webhook_token.clone(),
            http: reqwest::Client::new(),
            dev,
            _dir: dir,
        }
    }

    /// The webhook URL of `tenant` with the token in the query.
    pub fn webhook_url(&self, tenant: &str) -> String {
        format!(
            "{}/webhook/{tenant}?access_token={}",
            self.host_url, self.token
        )
    }

    /// POSTs a webhook body to `tenant` with the right token in the query.
    pub async fn post(&self, tenant: &str, body: &Value) -> (u16, String) {
        let response = self
            .http
            .post(self.webhook_url(tenant))
            .json(body)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Waits until `session` has at least `count` bodies at the simulator, and returns them.
    pub async fn wait_for_bodies(&self, session: i64, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let bodies = self.sim.session_bodies(session);
            if bodies.len() >= count {
                return bodies;
            }
            assert!(
                Instant::now() < deadline,
                "session {session}: {} of {count} bodies arrived: {bodies:?}",
                bodies.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Asks the server to shut down and waits until it has finished accepted events.
    pub async fn stop(self) {
        self.dev.stop().await.unwrap();
    }
}

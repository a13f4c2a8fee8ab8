//! A real wasmbot server and a mluvii simulator, both on loopback ports chosen by the OS.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wasmbot::config::ConfigFile;
use wasmbot::delivery::RetryPolicy;
use wasmbot::mluvii::inbound::AvailableGroup;
use wasmbot::server::{AppState, run, setup::build_state};
use wasmbot::simulator::{Simulator, SimulatorConfig, WebhookTarget};

/// The webhook token every test tenant uses.
pub const WEBHOOK_TOKEN: &str = "test-webhook-token";
const CLIENT_SECRET: &str = "test-client-secret";

/// A running server + simulator pair.
pub struct Harness {
    /// The simulated mluvii.
    pub sim: Simulator,
    /// `http://127.0.0.1:PORT` of wasmbot.
    pub host_url: String,
    /// The server's state (metrics, dispatcher).
    pub state: AppState,
    /// An HTTP client for the test's own requests.
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// One tenant of a harness: id, plugin path, settings (TOML inline table text).
pub struct TestTenant<'a> {
    /// Tenant id; its chatbot id is its position + 100.
    pub id: &'a str,
    /// Component path.
    pub plugin: &'a str,
    /// e.g. `{ greeting = "Hi" }`.
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
    /// Starts the simulator, then wasmbot with `tenants`, tokens living `token_lifetime`.
    pub async fn start(tenants: &[TestTenant<'_>], token_lifetime: Duration) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sim = Simulator::new(SimulatorConfig {
            client_id: "test-client".into(),
            client_secret: CLIENT_SECRET.into(),
            token_lifetime,
            groups: vec![group(7299, "ONLINE")],
        });
        let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim_url = format!("http://{}", sim_listener.local_addr().unwrap());
        let router = sim.router();
        tokio::spawn(async move { axum_serve(sim_listener, router).await });

        std::fs::write(dir.path().join("webhook-token"), WEBHOOK_TOKEN).unwrap();
        std::fs::write(dir.path().join("client-secret"), CLIENT_SECRET).unwrap();
        let mut toml = String::from("[server]\ndata_dir = \"data\"\n");
        for (i, t) in tenants.iter().enumerate() {
            toml += &format!(
                "[[tenant]]\nid = \"{}\"\nplugin = {:?}\nwebhook_token_file = \"webhook-token\"\nsettings = {}\n\
                 [tenant.limits]\ntimeout_ms = 2000\n\
                 [tenant.mluvii]\nbase_url = \"{sim_url}\"\nchatbot_id = {}\nclient_id = \"test-client\"\nclient_secret_file = \"client-secret\"\n",
                t.id,
                t.plugin,
                t.settings,
                100 + i
            );
        }
        let config_path = dir.path().join("wasmbot.toml");
        std::fs::write(&config_path, toml).unwrap();
        let config = ConfigFile::load(&config_path).unwrap();
        // Secret files are relative to the working directory; make them absolute here.
        let mut config = config;
        for t in &mut config.tenants {
            t.webhook_token_file = Some(dir.path().join("webhook-token"));
            t.mluvii.client_secret_file = Some(dir.path().join("client-secret"));
        }
        let retry = RetryPolicy {
            attempts: 5,
            first_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
        };
        let state = build_state(&config, retry).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host_url = format!("http://{}", listener.local_addr().unwrap());
        for (i, t) in tenants.iter().enumerate() {
            sim.connect_chatbot(
                100 + i as i64,
                WebhookTarget {
                    url: format!("{host_url}/webhook/{}?access_token={WEBHOOK_TOKEN}", t.id),
                },
            );
        }
        let (tx, rx) = oneshot::channel();
        let server = tokio::spawn(run(listener, state.clone(), async {
            let _ = rx.await;
        }));
        Self {
            sim,
            host_url,
            state,
            http: reqwest::Client::new(),
            shutdown: Some(tx),
            server: Some(server),
            _dir: dir,
        }
    }

    /// POSTs a webhook body to `tenant` with the right token in the query.
    pub async fn post(&self, tenant: &str, body: &Value) -> (u16, String) {
        let url = format!(
            "{}/webhook/{tenant}?access_token={WEBHOOK_TOKEN}",
            self.host_url
        );
        let response = self.http.post(url).json(body).send().await.unwrap();
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
    pub async fn stop(mut self) {
        let _ = self.shutdown.take().unwrap().send(());
        self.server.take().unwrap().await.unwrap().unwrap();
    }
}

async fn axum_serve(listener: tokio::net::TcpListener, router: axum::Router) {
    axum::serve(listener, router).await.unwrap();
}

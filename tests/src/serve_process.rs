//! A real `wasmbot serve` process on a loopback port, configured by a TOML file the test
//! writes, with its mluvii being a simulator in the test process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use wasmbot::simulator::{Simulator, SimulatorConfig, WebhookTarget};

use crate::wasmbot_bin;

/// The webhook token of every tenant of [`ServeProcess`].
pub const TOKEN: &str = "hook-token";
/// The mluvii client secret the simulator accepts.
pub const SECRET: &str = "mluvii-secret";
/// The admin token, in `ADMIN_TOKEN` (configure `admin_token_env = "ADMIN_TOKEN"`).
pub const ADMIN_TOKEN: &str = "admin-token";

/// A simulator serving on loopback in this process.
pub async fn simulator() -> (Simulator, String) {
    let sim = Simulator::new(SimulatorConfig {
        client_id: "client".into(),
        client_secret: SECRET.into(),
        token_lifetime: Duration::from_secs(3600),
        groups: vec![],
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = sim.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (sim, url)
}

/// Waits (at most 20 s) until the simulator has at least `count` bodies of `session`.
pub async fn wait_for_bodies(sim: &Simulator, session: i64, count: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let bodies = sim.session_bodies(session);
        if bodies.len() >= count {
            return bodies;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "session {session}: only {bodies:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Writes `wasmbot.toml` in `dir`: `[server]` with `server_extra` lines, and one tenant per
/// `(id, plugin, chatbot_id, limits lines)`, all with mluvii at `sim_url` and the webhook
/// token [`TOKEN`] (from `WEBHOOK_TOKEN`).
pub fn write_config(
    dir: &Path,
    sim_url: &str,
    server_extra: &str,
    tenants: &[(&str, &str, i64, &str)],
) -> PathBuf {
    write_config_with_tokens(dir, sim_url, server_extra, tenants, |_| {
        "webhook_token_env = \"WEBHOOK_TOKEN\"".to_owned()
    })
}

/// Like [`write_config`], each tenant's webhook token configured by the line
/// `token_line(tenant id)` (e.g. a `webhook_token_file` of its own).
pub fn write_config_with_tokens(
    dir: &Path,
    sim_url: &str,
    server_extra: &str,
    tenants: &[(&str, &str, i64, &str)],
    token_line: impl Fn(&str) -> String,
) -> PathBuf {
    let mut text =
        format!("[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\n{server_extra}\n");
    for (id, plugin, chatbot_id, limits) in tenants {
        let token = token_line(id);
        text += &format!(
            r#"
[[tenant]]
id = "{id}"
plugin = {plugin:?}
{token}
[tenant.limits]
{limits}
[tenant.mluvii]
base_url = "{sim_url}"
chatbot_id = {chatbot_id}
client_id = "client"
client_secret_env = "MLUVII_SECRET"
"#
        );
    }
    let path = dir.join("wasmbot.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A simulator, a data directory, and a `wasmbot serve` configured with both and running.
pub struct Served {
    /// The simulated mluvii.
    pub sim: Simulator,
    /// Holds `wasmbot.toml` and the data directory; removed when dropped.
    pub dir: tempfile::TempDir,
    /// The configuration file (to restart the server with).
    pub config: PathBuf,
    /// The server.
    pub server: ServeProcess,
}

impl Served {
    /// Starts the simulator, writes the configuration (see [`write_config`]) and starts the
    /// server.
    pub async fn start(server_extra: &str, tenants: &[(&str, &str, i64, &str)]) -> Self {
        Self::start_with_files(server_extra, tenants, &[]).await
    }

    /// Like [`Served::start`], with `files` (name in the directory, source path) copied into
    /// the directory first (plugins the test will replace, named relative to the config).
    pub async fn start_with_files(
        server_extra: &str,
        tenants: &[(&str, &str, i64, &str)],
        files: &[(&str, &str)],
    ) -> Self {
        let (sim, sim_url) = simulator().await;
        let dir = tempfile::tempdir().unwrap();
        for (name, source) in files {
            std::fs::copy(source, dir.path().join(name)).unwrap();
        }
        let config = write_config(dir.path(), &sim_url, server_extra, tenants);
        let server = ServeProcess::start(&config);
        Self {
            sim,
            dir,
            config,
            server,
        }
    }
}

/// A running `wasmbot serve`.
pub struct ServeProcess {
    /// The child process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`: the webhook listener.
    pub url: String,
    /// The operations listener (`server.admin_listen`), or [`ServeProcess::url`] when the
    /// configuration sets none.
    pub admin_url: String,
    logs: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl ServeProcess {
    /// Starts `wasmbot serve --config config` and waits until it listens.
    pub fn start(config: &Path) -> Self {
        Self::start_with_env(config, &[])
    }

    /// Like [`ServeProcess::start`], with more environment variables (a database URL).
    pub fn start_with_env(config: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(wasmbot_bin())
            .args(["--log-format", "json", "serve", "--config"])
            .arg(config)
            .envs(env.iter().copied())
            .env("WEBHOOK_TOKEN", TOKEN)
            .env("MLUVII_SECRET", SECRET)
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .env("WASMBOT_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut start_up = Vec::new();
        let (address, admin_address) = loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("serve exited early: {start_up:?}"))
                .unwrap();
            let log: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            start_up.push(line);
            if log["fields"]["message"] == "wasmbot serving" {
                let fields = &log["fields"];
                break (
                    fields["address"].as_str().unwrap().to_owned(),
                    fields["admin_address"].as_str().map(str::to_owned),
                );
            }
        };
        let logs = std::thread::spawn(move || {
            start_up.extend(lines.map_while(Result::ok));
            start_up
        });
        let url = format!("http://{address}");
        Self {
            child,
            admin_url: admin_address.map_or_else(|| url.clone(), |a| format!("http://{a}")),
            url,
            logs: Some(logs),
        }
    }

    /// The webhook URL of `tenant`, token included.
    pub fn webhook(&self, tenant: &str) -> String {
        format!("{}/webhook/{tenant}?access_token={TOKEN}", self.url)
    }

    /// Connects chatbot `chatbot_id` of the simulator to `tenant`'s webhook.
    pub fn connect(&self, sim: &Simulator, chatbot_id: i64, tenant: &str) {
        sim.connect_chatbot(
            chatbot_id,
            WebhookTarget {
                url: self.webhook(tenant),
                name: tenant.into(),
            },
        );
    }

    /// The text of `GET /metrics`.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.admin_url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// `GET`s an admin route with the admin token; returns the status and the JSON body.
    pub async fn admin_get(&self, route: &str) -> (u16, Value) {
        let response = reqwest::Client::new()
            .get(format!("{}{route}", self.admin_url))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The serving plugin's content hash of `tenant`, from the admin API.
    pub async fn serving_hash(&self, tenant: &str) -> Option<String> {
        let (_, view) = self.admin_get(&format!("/admin/tenants/{tenant}")).await;
        view["plugin"]["hash"].as_str().map(str::to_owned)
    }

    /// Waits (at most 20 s) until `tenant` is served by the plugin with `hash`.
    pub async fn wait_for_hash(&self, tenant: &str, hash: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let serving = self.serving_hash(tenant).await;
            if serving.as_deref() == Some(hash) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{tenant} still serves {serving:?}, not {hash}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The server's peak resident set size so far, in MiB.
    pub fn peak_rss_mib(&self) -> u64 {
        let bytes = wasmbot::bench::process::peak_rss_bytes_of(self.child.id());
        assert!(bytes > 0, "the server's /proc status is not readable");
        bytes >> 20
    }

    /// Sends `signal` (`KILL`, `TERM`, `INT`, `HUP`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `limit`; returns its exit status, every log
    /// line it wrote (start-up included) and how long it took. Panics (after killing it) if it does not exit in time.
    pub async fn wait(
        mut self,
        limit: Duration,
    ) -> (std::process::ExitStatus, Vec<String>, Duration) {
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let logs = self.logs.take().unwrap().join().unwrap();
                return (status, logs, started.elapsed());
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                panic!("wasmbot did not exit within {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

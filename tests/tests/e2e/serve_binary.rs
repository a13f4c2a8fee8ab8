//! The `wasmbot serve` binary: configuration file, secrets from the environment, a webhook
//! through to the Send API, and SIGTERM that finishes accepted events before exiting.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use wasmbot_tests::serve_process::{SECRET, Served, TOKEN};
use wasmbot_tests::{get_status, plugins, wasmbot_bin};

fn config(dir: &std::path::Path, sim_url: &str) -> std::path::PathBuf {
    let path = dir.join("wasmbot.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[server]
listen = "127.0.0.1:0"
data_dir = "data"

[[tenant]]
id = "acme"
plugin = {plugin:?}
webhook_token_env = "ACME_WEBHOOK_TOKEN"
settings = {{ greeting = "Hello from serve" }}

[tenant.mluvii]
base_url = "{sim_url}"
chatbot_id = 166
client_id = "client"
client_secret_env = "ACME_MLUVII_SECRET"
"#,
            plugin = plugins::ECHO
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_delivers_and_finishes_accepted_events_on_sigterm() {
    let Served {
        sim,
        dir: _dir,
        config: _config,
        server,
    } = Served::start("", &[("acme", plugins::ECHO, 166, "")]).await;
    server.connect(&sim, 166, "acme");
    let http = reqwest::Client::new();
    assert_eq!(
        get_status(&http, &format!("{}/readyz", server.url)).await,
        200
    );

    // Slow delivery with failures so events are in flight when SIGTERM arrives.
    sim.inject_faults([503, 503, 503]);
    for i in 0..3 {
        let body = json!({"activity": "Text", "sessionId": 42, "text": format!("m{i}")});
        let r = http
            .post(server.webhook("acme"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    server.signal("TERM");
    let (exit, logs, _) = server.wait(Duration::from_secs(15)).await;
    assert!(exit.success(), "{exit:?}");
    let texts: Vec<Value> = sim
        .session_bodies(42)
        .iter()
        .map(|b| b["text"].clone())
        .collect();
    assert_eq!(
        texts,
        vec![
            json!("You said: m0"),
            json!("You said: m1"),
            json!("You said: m2")
        ]
    );
    assert!(
        logs.iter().any(|l| l.contains("shutdown requested")),
        "{logs:?}"
    );
    assert!(
        logs.iter()
            .all(|l| !l.contains(TOKEN) && !l.contains(SECRET)),
        "a secret was logged"
    );
}

#[test]
fn a_missing_secret_stops_start_up_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(wasmbot_bin())
        .args(["serve", "--config"])
        .arg(config(dir.path(), "http://127.0.0.1:9"))
        .env("ACME_WEBHOOK_TOKEN", "hook-token")
        .env_remove("ACME_MLUVII_SECRET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "tenant acme mluvii client secret: environment variable ACME_MLUVII_SECRET is not set"
        ),
        "{stderr}"
    );
}

#[test]
fn an_unknown_config_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), "http://127.0.0.1:9");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("chatbot_id", "chatbotid");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(wasmbot_bin())
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown field `chatbotid`"), "{stderr}");
}

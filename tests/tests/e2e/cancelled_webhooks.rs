//! A webhook whose handler is dropped while its event is being journaled (the client hung
//! up): the event still counts in the backlog while it waits, and still reaches the bot.

use std::future::Future;
use std::task::Poll;
use std::time::{Duration, Instant};

use serde_json::json;
use wasmbot::config::ConfigFile;
use wasmbot::server::setup::build_state;
use wasmbot_tests::plugins;
use wasmbot_tests::serve_process::{SECRET, simulator, wait_for_bodies};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_whose_handler_is_dropped_mid_append_is_counted_and_delivered() {
    let (sim, sim_url) = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, SECRET).unwrap();
    let config = format!(
        r#"
[server]
data_dir = "data"
[[tenant]]
id = "acme"
plugin = {plugin:?}
webhook_token_file = {secret:?}
[tenant.mluvii]
base_url = "{sim_url}"
chatbot_id = 1
client_id = "client"
client_secret_file = {secret:?}
"#,
        plugin = plugins::MISBEHAVING,
        secret = secret.display().to_string()
    );
    let path = dir.path().join("wasmbot.toml");
    std::fs::write(&path, config).unwrap();
    let state = build_state(&ConfigFile::load(&path).unwrap(), Some(&path), None)
        .await
        .unwrap();
    let tenant = state.tenants.get("acme").unwrap();
    let body = json!({"activity": "Text", "sessionId": 4, "text": "slow 600 hi"});
    let accepting = state
        .dispatcher
        .accept(&tenant, 4, body.to_string().into_bytes());
    // Polled once (up to where it waits for the commit), then dropped, as the handler of a
    // client that hung up is. (With the append in the caller's own future, this drop lands
    // mid-append: the count was taken back although the event was stored.)
    let mut accepting = Box::pin(accepting);
    let _ = std::future::poll_fn(|cx| Poll::Ready(accepting.as_mut().poll(cx))).await;
    drop(accepting);
    // While the bot works on the event, it counts in the backlog.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(state.dispatcher.backlog(), 1, "the event is not counted");
    assert_eq!(tenant.backlog(), 1);
    let started = Instant::now();
    let bodies = wait_for_bodies(&sim, 4, 1).await;
    assert_eq!(bodies[0]["text"], "slow: hi");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "waited for a sweep"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while state.dispatcher.backlog() != 0 {
        assert!(
            Instant::now() < deadline,
            "the backlog never went back to 0"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

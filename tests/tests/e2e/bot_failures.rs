//! A bot that fails leaves no guest stranded: the failure is recorded with its reason (the
//! panic message included) and the tenant's fallback reaches mluvii; the next event of the
//! tenant runs normally.

use std::time::Duration;

use serde_json::{Value, json};
use wasmbot_tests::plugins;
use wasmbot_tests::serve_process::{Served, wait_for_bodies};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_bot_sends_the_fallback_in_the_sessions_language_in_every_mode() {
    let Served {
        sim,
        dir: _dir,
        config: _config,
        server,
    } = Served::start(
        "durability = \"none\"",
        &[
            ("handoff", plugins::MISBEHAVING, 1, "timeout_ms = 300"),
            (
                "text",
                plugins::MISBEHAVING,
                2,
                "[tenant.fallback]\nmode = \"text\"\ntext = { en = \"Oops, try again.\" }",
            ),
            (
                "silent",
                plugins::MISBEHAVING,
                3,
                "[tenant.fallback]\nmode = \"none\"",
            ),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let post = |tenant: &str, body: Value| {
        let (http, url) = (http.clone(), server.webhook(tenant));
        async move {
            let r = http.post(url).json(&body).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200);
        }
    };
    // A panic in a Czech session: apology in Czech, then HandOff; the next event runs.
    post(
        "handoff",
        json!({"activity": "ConversationStarted", "sessionId": 1, "language": "cs"}),
    )
    .await;
    post(
        "handoff",
        json!({"activity": "Text", "sessionId": 1, "text": "panic"}),
    )
    .await;
    post(
        "handoff",
        json!({"activity": "Text", "sessionId": 1, "text": "after"}),
    )
    .await;
    let got = wait_for_bodies(&sim, 1, 3).await;
    assert!(
        got[0]["text"].as_str().unwrap().starts_with("Omlouváme se"),
        "{got:?}"
    );
    assert_eq!(got[1]["activity"], "HandOff");
    assert_eq!(got[2]["text"], "ok: after");
    // An endless loop is stopped at its deadline, with the same fallback.
    post(
        "handoff",
        json!({"activity": "Text", "sessionId": 2, "text": "loop"}),
    )
    .await;
    let got = wait_for_bodies(&sim, 2, 2).await;
    assert!(
        got[0]["text"].as_str().unwrap().starts_with("Sorry"),
        "{got:?}"
    );
    assert_eq!(got[1]["activity"], "HandOff");
    // Text only, with the tenant's own words.
    post(
        "text",
        json!({"activity": "Text", "sessionId": 3, "text": "error"}),
    )
    .await;
    post(
        "text",
        json!({"activity": "Text", "sessionId": 3, "text": "fine"}),
    )
    .await;
    let got = wait_for_bodies(&sim, 3, 2).await;
    assert_eq!(got[0]["text"], "Oops, try again.");
    assert_eq!(got[1]["text"], "ok: fine");
    // Nothing at all.
    post(
        "silent",
        json!({"activity": "Text", "sessionId": 4, "text": "panic"}),
    )
    .await;
    post(
        "silent",
        json!({"activity": "Text", "sessionId": 4, "text": "next"}),
    )
    .await;
    assert_eq!(wait_for_bodies(&sim, 4, 1).await[0]["text"], "ok: next");
    assert_eq!(sim.session_bodies(4).len(), 1);

    server.signal("TERM");
    let (_, logs, _) = server.wait(Duration::from_secs(15)).await;
    let failure = logs
        .iter()
        .find(|l| l.contains("sending the fallback") && l.contains("trap"))
        .unwrap_or_else(|| panic!("no failure line: {logs:?}"));
    assert!(
        failure.contains("the misbehaving bot panicked on purpose"),
        "the panic message is in the reason: {failure}"
    );
    let metrics_seen = logs.iter().any(|l| l.contains("timeout"));
    assert!(metrics_seen, "the timeout was reported: {logs:?}");
}

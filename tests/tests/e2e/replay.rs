//! `wasmbot replay` and `wasmbot export` beside a real `wasmbot serve`: a conversation
//! journaled under version A replays identically against A and with its differences (by
//! path, exit 1) against B, and exported as a script it passes `wasmbot test` against A and
//! fails against B.

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};
use wasmbot_tests::serve_process::{Served, wait_for_bodies};
use wasmbot_tests::{plugins, wasmbot_bin};

fn wasmbot(args: &[&str], config: &Path) -> Output {
    std::process::Command::new(wasmbot_bin())
        .args(args)
        .arg("--config")
        .arg(config)
        .env("WEBHOOK_TOKEN", wasmbot_tests::serve_process::TOKEN)
        .env("MLUVII_SECRET", "secret")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journaled_conversation_replays_and_exports_against_two_versions() {
    let served = Served::start("", &[("acme", plugins::ECHO, 1, "")]).await;
    let http = reqwest::Client::new();
    let session = 4242;
    let events = [
        json!({"activity": "ConversationStarted", "sessionId": session, "language": "en"}),
        json!({"activity": "Text", "sessionId": session, "text": "hello"}),
        json!({"activity": "Text", "sessionId": session, "text": "bye"}),
    ];
    for event in &events {
        let answer = http
            .post(served.server.webhook("acme"))
            .json(event)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200);
    }
    let sent = wait_for_bodies(&served.sim, session, 3).await;
    assert_eq!(sent[1]["text"], "You said: hello");
    // Replay beside the running server (its data directory is in use).
    let config = served.config.clone();
    let replay = |plugin: &str, extra: &[&str]| {
        let mut args = vec!["replay", "--tenant", "acme", "--plugin", plugin];
        args.extend_from_slice(extra);
        wasmbot(&args, &config)
    };

    let same = replay(plugins::ECHO, &[]);
    assert!(same.status.success(), "{}", text(&same));
    assert!(
        text(&same).contains("1 identical, 0 different, 0 failed, 0 skipped"),
        "{}",
        text(&same)
    );

    let other = replay(plugins::MISBEHAVING, &[]);
    assert_eq!(other.status.code(), Some(1), "{}", text(&other));
    let said = text(&other);
    assert!(
        said.contains(&format!("DIFFERENT  session {session}")),
        "{said}"
    );
    // B greets no one: the first difference is the missing greeting, by path.
    assert!(said.contains("first at event 1"), "{said}");
    assert!(
        said.contains(r#"activity [0]: missing, expected {"sessionId":4242,"type":"message""#),
        "{said}"
    );
    let report_only = replay(plugins::MISBEHAVING, &["--report-only", "--json"]);
    assert!(report_only.status.success(), "{}", text(&report_only));
    let report: Value = serde_json::from_slice(&report_only.stdout).unwrap();
    assert_eq!(report["different"], 1);
    assert_eq!(report["conversations"][0]["session_id"], session);
    assert_eq!(report["conversations"][0]["events"], 3);
    // A time range with nothing in it selects nothing.
    let none = replay(plugins::MISBEHAVING, &["--until", "2000-01-01T00:00:00Z"]);
    assert!(
        text(&none).contains("0 identical, 0 different"),
        "{}",
        text(&none)
    );

    // Exported, the conversation is a test that A passes and B fails.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("real.json");
    let session_arg = session.to_string();
    let export = wasmbot(
        &[
            "export",
            "--tenant",
            "acme",
            "--session",
            &session_arg,
            "-o",
            script.to_str().unwrap(),
        ],
        &config,
    );
    assert!(export.status.success(), "{}", text(&export));
    let exported: Value = serde_json::from_str(&std::fs::read_to_string(&script).unwrap()).unwrap();
    assert_eq!(exported["steps"].as_array().unwrap().len(), 3);
    assert!(exported["steps"][1]["expect"][0].get("timestamp").is_none());
    let test = |plugin: &str| {
        std::process::Command::new(wasmbot_bin())
            .args(["test", plugin, script.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let passes = test(plugins::ECHO);
    assert!(passes.status.success(), "{}", text(&passes));
    let fails = test(plugins::MISBEHAVING);
    assert_eq!(fails.status.code(), Some(1));
    assert!(
        text(&fails).contains("activity [0].text"),
        "{}",
        text(&fails)
    );
}

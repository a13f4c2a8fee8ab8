//! The echo bot, through the library and through the real `wasmbot` binary.

use std::process::Command;

use serde_json::{Value, json};
use wasmbot::runtime::Limits;
use wasmbot_tests::{bodies, event, fixture, load, plugins, tenant, text, wasmbot_bin};

#[test]
fn greets_and_echoes_with_html_escaped() {
    let bot = load(plugins::ECHO);
    let acme = tenant("acme", json!({"greeting": "Ahoj!"}), Limits::default());
    let started = event(json!({"activity": "ConversationStarted", "sessionId": 9}));
    let greeting = bodies(&bot, &acme, &started);
    assert_eq!(greeting.len(), 1);
    assert_eq!(greeting[0]["text"], "Ahoj!");
    let echoed = bodies(&bot, &acme, &text(9, "<b>hi</b> & bye"));
    assert_eq!(
        echoed[0]["text"],
        "You said: &lt;b&gt;hi&lt;/b&gt; &amp; bye"
    );
    let ignored = event(json!({"activity": "GuestFileUpload", "sessionId": 9, "fileUrl": "u"}));
    assert!(bodies(&bot, &acme, &ignored).is_empty());
}

fn wasmbot(args: &[&str]) -> std::process::Output {
    Command::new(wasmbot_bin())
        .args(args)
        .output()
        .expect("running wasmbot")
}

#[test]
fn wasmbot_run_prints_send_api_bodies() {
    let out = wasmbot(&[
        "run",
        plugins::ECHO,
        "--event",
        fixture("in-conversation-started.json").to_str().unwrap(),
        "--event",
        fixture("in-text.json").to_str().unwrap(),
        "--event",
        fixture("in-ping-pascalcase.json").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["sessionId"], 2359788);
    assert_eq!(lines[1]["type"], "message");
    assert_eq!(lines[1]["text"], "You said: Hello world!");
    let ts = lines[1]["timestamp"].as_str().unwrap();
    assert!(ts.ends_with("+00:00"), "{ts}");
    let keys: Vec<&String> = lines[1].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["sessionId", "type", "timestamp", "text"]);
}

#[test]
fn wasmbot_run_keeps_state_and_reads_settings_files() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("settings.toml");
    std::fs::write(&settings, "greeting = \"Hi\"\ntopics = [\"Billing\"]\n").unwrap();
    let event = dir.path().join("text.json");
    std::fs::write(
        &event,
        r#"{"Activity":"Text","SessionId":"5","Text":"billing"}"#,
    )
    .unwrap();
    let groups = dir.path().join("groups.json");
    std::fs::write(
        &groups,
        r#"{"activity":"GetAvailableGroupsResponse","sessionId":5,"availableGroups":[]}"#,
    )
    .unwrap();
    let state = dir.path().join("state");
    let common = [
        "--settings",
        settings.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ];
    let first = wasmbot(
        &[
            &["run", plugins::SUPPORT, "--event", event.to_str().unwrap()][..],
            &common[..],
        ]
        .concat(),
    );
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains(r#""HandoffReason":"Billing""#));
    // A second process sees the step the first one stored.
    let second = wasmbot(
        &[
            &["run", plugins::SUPPORT, "--event", groups.to_str().unwrap()][..],
            &common[..],
        ]
        .concat(),
    );
    assert!(String::from_utf8_lossy(&second.stdout).contains("e-mail address"));
}

#[test]
fn wasmbot_run_and_check_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"activity":"Text","text":"no session"}"#).unwrap();
    let out = wasmbot(&["run", plugins::ECHO, "--event", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`Text` has no `sessionId`"), "{stderr}");

    let panicking = dir.path().join("panic.json");
    std::fs::write(
        &panicking,
        r#"{"activity":"Text","sessionId":1,"text":"panic"}"#,
    )
    .unwrap();
    let out = wasmbot(&[
        "run",
        plugins::MISBEHAVING,
        "--event",
        panicking.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the bot trapped"), "{stderr}");
    assert!(stderr.contains("panicked on purpose"), "{stderr}");

    let out = wasmbot(&["check", plugins::WRONG_WORLD]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("lacks the export `wasmbot:bot/handler@0.1.0`")
    );
    let out = wasmbot(&["check", plugins::SUPPORT]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("world:        wasmbot:bot/bot@0.1.0"),
        "{stdout}"
    );
    assert!(stdout.contains("wasmbot:bot/state@0.1.0"), "{stdout}");
}

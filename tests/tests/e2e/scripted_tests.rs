//! `wasmbot test`: conversation scripts against the real binary and real bots.

use std::process::{Command, Output};

use serde_json::{Value, json};
use wasmbot_tests::{plugins, wasmbot_bin};

/// The shared support-bot script every example support bot must pass.
fn support_script() -> String {
    format!(
        "{}/../plugins/scripts/support.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn wasmbot_test(args: &[&str]) -> Output {
    Command::new(wasmbot_bin())
        .arg("test")
        .args(args)
        .env("WASMBOT_CACHE_DIR", wasmbot_tests::test_cache_dir())
        .output()
        .expect("running wasmbot test")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_support_script_passes_on_the_rust_support_bot() {
    let out = wasmbot_test(&[plugins::SUPPORT, &support_script()]);
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("20 of 20 steps passed"), "{text}");
}

#[test]
fn a_wrong_expectation_fails_with_the_difference_and_the_actual_answer() {
    let dir = tempfile::tempdir().unwrap();
    let mut script: Value =
        serde_json::from_str(&std::fs::read_to_string(support_script()).unwrap()).unwrap();
    script["steps"][4]["expect"][1]["text"] = json!("Connecting you to the team for Sales.");
    let path = dir.path().join("changed.json");
    std::fs::write(&path, script.to_string()).unwrap();

    let out = wasmbot_test(&[plugins::SUPPORT, path.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("FAIL   5  GetAvailableGroupsResponse (session 1)"),
        "{text}"
    );
    assert!(
        text.contains(
            "activity [1].text: expected \"Connecting you to the team for Sales.\", got \"Connecting you to our team for Sales.\""
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"{"sessionId":1,"activity":"HandOff"}"#),
        "{text}"
    );
    assert!(text.contains("19 of 20 steps passed"), "{text}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 of 20 steps failed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn record_writes_a_script_that_then_passes_and_subset_expectations_match() {
    let dir = tempfile::tempdir().unwrap();
    let draft = dir.path().join("draft.json");
    std::fs::write(
        &draft,
        json!({
            "settings": {"greeting": "Ahoj!"},
            "defaults": {"sessionId": 5},
            "steps": [
                {"send": {"activity": "ConversationStarted"}},
                {"send": {"activity": "Text", "text": "hi"}, "expect": [{"text": "You said: hi"}]}
            ]
        })
        .to_string(),
    )
    .unwrap();
    let recorded = dir.path().join("recorded.json");
    let out = wasmbot_test(&[
        plugins::ECHO,
        draft.to_str().unwrap(),
        "--record",
        recorded.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stdout(&out));

    let script: Value = serde_json::from_str(&std::fs::read_to_string(&recorded).unwrap()).unwrap();
    assert_eq!(
        script["steps"][0]["expect"],
        json!([{"sessionId": 5, "type": "message", "text": "Ahoj!"}])
    );
    assert_eq!(
        script["steps"][1]["expect"],
        json!([{"sessionId": 5, "type": "message", "text": "You said: hi"}])
    );
    let again = wasmbot_test(&[plugins::ECHO, recorded.to_str().unwrap()]);
    assert!(again.status.success(), "{}", stdout(&again));
}

#[test]
fn a_failing_bot_fails_the_step_unless_the_script_expects_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("errors.json");
    std::fs::write(
        &path,
        json!({"steps": [
            {"send": {"activity": "Text", "text": "panic"}, "expect_error": "trap"},
            {"send": {"activity": "Text", "text": "error"}, "expect": []}
        ]})
        .to_string(),
    )
    .unwrap();
    let out = wasmbot_test(&[plugins::MISBEHAVING, path.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("ok     1  Text \"panic\""), "{text}");
    assert!(text.contains("FAIL   2  Text \"error\""), "{text}");
    assert!(text.contains("the bot refused on purpose"), "{text}");
}

#[test]
fn an_invalid_script_is_refused_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.json");
    std::fs::write(
        &path,
        r#"{"steps": [{"send": {"activity": "Text"}, "expected": []}]}"#,
    )
    .unwrap();
    let out = wasmbot_test(&[plugins::ECHO, path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("typo.json is not a valid script"),
        "{stderr}"
    );
    assert!(stderr.contains("unknown field `expected`"), "{stderr}");
}

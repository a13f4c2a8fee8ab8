//! A misbehaving bot is stopped and reported, and never hurts another tenant or the host.

use std::time::{Duration, Instant};

use serde_json::json;
use wasmbot::capabilities::log::LogLevel;
use wasmbot::runtime::{BotError, Limits};
use wasmbot_tests::{bodies, event, load, plugins, run, tenant, text};

fn tight() -> Limits {
    Limits {
        timeout: Duration::from_millis(300),
        max_memory_bytes: 16 << 20,
        ..Limits::default()
    }
}

#[test]
fn a_panic_is_a_trap_and_its_message_is_logged() {
    let bot = load(plugins::MISBEHAVING);
    let acme = tenant("acme", json!({}), tight());
    let run = run(&bot, &acme, &text(1, "panic"));
    assert!(
        matches!(run.result, Err(BotError::Trap(_))),
        "{:?}",
        run.result
    );
    assert!(
        run.logs
            .iter()
            .any(|l| l.level == LogLevel::Warn && l.message.contains("panicked on purpose")),
        "{:?}",
        run.logs
    );
}

/// Runs `text` on the misbehaving bot under [`tight`] limits; it must time out between its
/// deadline and the deadline + 100 ms (wall clock, around the whole call).
fn stopped_at_the_deadline(text_sent: &str) {
    let bot = load(plugins::MISBEHAVING);
    let acme = tenant("acme", json!({}), tight());
    let started = Instant::now();
    let run = run(&bot, &acme, &text(1, text_sent));
    let took = started.elapsed();
    assert_eq!(run.result.unwrap_err(), BotError::Timeout(tight().timeout));
    assert!(took >= tight().timeout, "{took:?}");
    assert!(
        took < tight().timeout + Duration::from_millis(100),
        "{took:?}"
    );
    // The tenant's next event runs normally.
    assert_eq!(bodies(&bot, &acme, &text(2, "fine"))[0]["text"], "ok: fine");
}

#[test]
fn an_endless_loop_is_interrupted_at_the_deadline() {
    stopped_at_the_deadline("loop");
}

#[test]
fn a_bot_sleeping_for_an_hour_is_stopped_at_the_deadline() {
    stopped_at_the_deadline("slow 3600000 never");
}

#[test]
fn growing_past_the_memory_cap_is_out_of_memory() {
    let bot = load(plugins::MISBEHAVING);
    let acme = tenant("acme", json!({}), tight());
    let run = run(&bot, &acme, &text(1, "hog"));
    assert_eq!(run.result.unwrap_err(), BotError::OutOfMemory(16 << 20));
}

#[test]
fn a_bot_error_and_an_invalid_activity_are_reported() {
    let bot = load(plugins::MISBEHAVING);
    let acme = tenant("acme", json!({}), tight());
    assert_eq!(
        run(&bot, &acme, &text(1, "error")).result.unwrap_err(),
        BotError::Refused("the bot refused on purpose".into())
    );
    match run(&bot, &acme, &text(1, "bad-raw")).result.unwrap_err() {
        BotError::InvalidActivity { index, reason } => {
            assert_eq!(index, 1);
            assert!(reason.contains("not a JSON object"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn raw_activities_get_the_real_session_id() {
    let bot = load(plugins::MISBEHAVING);
    let acme = tenant("acme", json!({}), tight());
    let sent = bodies(&bot, &acme, &text(77, "raw"));
    assert_eq!(
        sent,
        vec![json!({"sessionId": 77, "activity": "SomethingNew", "flag": true})]
    );
}

#[test]
fn stdout_stderr_and_the_log_import_are_captured() {
    let bot = load(plugins::MISBEHAVING);
    let acme = tenant("acme", json!({}), tight());
    let run = run(&bot, &acme, &text(1, "log"));
    run.result.unwrap();
    let lines: Vec<(LogLevel, &str)> = run
        .logs
        .iter()
        .map(|l| (l.level, l.message.as_str()))
        .collect();
    assert!(lines.contains(&(LogLevel::Error, "logged through the log import")));
    assert!(lines.contains(&(LogLevel::Info, "printed to stdout")));
    assert!(lines.contains(&(LogLevel::Warn, "printed to stderr")));
}

#[test]
fn state_is_per_tenant_and_limited() {
    let bot = load(plugins::MISBEHAVING);
    let store = wasmbot_tests::state_store();
    let acme = wasmbot_tests::tenant_with_store("acme", json!({}), tight(), store.clone());
    let globex = wasmbot_tests::tenant_with_store("globex", json!({}), tight(), store);
    let said = |t, s| bodies(&bot, t, &text(s, "count"))[0]["text"].clone();
    assert_eq!(said(&acme, 1), "acme 1");
    assert_eq!(said(&acme, 2), "acme 2");
    assert_eq!(said(&globex, 3), "globex 1");
    match run(&bot, &acme, &text(1, "big-state")).result.unwrap_err() {
        BotError::Refused(reason) => assert!(reason.contains("the limit is"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn language_and_channel_are_remembered_for_the_session() {
    let bot = load(plugins::MISBEHAVING);
    let acme = tenant("acme", json!({}), tight());
    let started = event(json!({"activity": "ConversationStarted", "sessionId": 5,
        "language": "cs", "source": "WhatsApp"}));
    bodies(&bot, &acme, &started);
    let reply = bodies(&bot, &acme, &text(5, "context"));
    assert_eq!(reply[0]["text"], "acme|5|cs|WhatsApp");
    let other_session = bodies(&bot, &acme, &text(6, "context"));
    assert_eq!(other_session[0]["text"], "acme|6|-|-");

    // When the conversation ends, what was remembered of it is removed (cache and storage).
    let ended = event(json!({"activity": "ConversationEnded", "sessionId": 5}));
    bodies(&bot, &acme, &ended);
    let after_the_end = bodies(&bot, &acme, &text(5, "context"));
    assert_eq!(after_the_end[0]["text"], "acme|5|-|-");
}

#[test]
fn a_trapping_tenant_does_not_disturb_another_running_at_the_same_time() {
    let bot = load(plugins::MISBEHAVING);
    let echo = load(plugins::ECHO);
    let bad = tenant("bad", json!({}), tight());
    let good = tenant("good", json!({}), tight());
    std::thread::scope(|scope| {
        let looping = scope.spawn(|| run(&bot, &bad, &text(1, "loop")).result);
        let panicking = scope.spawn(|| run(&bot, &bad, &text(2, "panic")).result);
        for i in 0..20 {
            let sent = bodies(&echo, &good, &text(100 + i, &format!("hi {i}")));
            assert_eq!(sent[0]["text"], format!("You said: hi {i}"));
        }
        assert!(matches!(looping.join().unwrap(), Err(BotError::Timeout(_))));
        assert!(matches!(panicking.join().unwrap(), Err(BotError::Trap(_))));
    });
    // The same plugin still serves after its traps.
    assert_eq!(bodies(&bot, &bad, &text(3, "fine"))[0]["text"], "ok: fine");
}

#[test]
fn too_many_or_too_large_activities_are_refused() {
    let bot = load(plugins::MISBEHAVING);
    let acme = tenant("acme", json!({}), tight());
    assert_eq!(bodies(&bot, &acme, &text(1, "many 50")).len(), 50);
    for (input, expected) in [
        ("many 51", "51 activities, the limit is 50"),
        ("huge", "the limit is 262144"),
    ] {
        match run(&bot, &acme, &text(1, input)).result.unwrap_err() {
            BotError::TooMuchOutput(reason) => assert!(reason.contains(expected), "{reason}"),
            other => panic!("{input}: {other:?}"),
        }
    }
}

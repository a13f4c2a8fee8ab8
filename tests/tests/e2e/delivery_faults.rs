//! mluvii failing: Send API outages (with and without `Retry-After`), a failing token
//! endpoint, refusals, dead letters and their retry, and shutdown with mluvii unreachable.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmbot::simulator::{Outage, Simulator};
use wasmbot_tests::serve_process::{ServeProcess, Served, wait_for_bodies};
use wasmbot_tests::{plugins, wasmbot_bin};

const FAST_RETRIES: &str = "retry_first_backoff_ms = 50\nretry_max_backoff_ms = 300\nsweep_interval_ms = 200\ndurability = \"none\"";

async fn post_texts(server: &ServeProcess, session: i64, texts: &[&str]) {
    let http = reqwest::Client::new();
    for text in texts {
        let body = json!({"activity": "Text", "sessionId": session, "text": text});
        let r = http
            .post(server.webhook("acme"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
}

fn texts(sim: &Simulator, session: i64) -> Vec<String> {
    sim.session_bodies(session)
        .iter()
        .map(|b| b["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn wait_for_texts(sim: &Simulator, session: i64, count: usize) -> Vec<String> {
    wait_for_bodies(sim, session, count)
        .await
        .iter()
        .map(|b| b["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn dead_letters(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(wasmbot_bin())
        .arg("dead-letters")
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Waits (at most 10 s) until `session` has a dead letter.
async fn wait_for_dead_letter(dir: &std::path::Path, session: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dead_letters(dir, &["list"]).contains(&format!("session={session}\t")) {
        assert!(
            Instant::now() < deadline,
            "no dead letter for session {session}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn said(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|t| format!("You said: {t}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_of_the_send_api_and_the_token_endpoint_delays_but_loses_nothing() {
    let Served {
        sim,
        dir: _dir,
        config: _config,
        server,
    } = Served::start(FAST_RETRIES, &[("acme", plugins::ECHO, 166, "")]).await;
    sim.set_token_outage(true);
    sim.set_outage(Some(Outage {
        status: 503,
        retry_after: Some(1),
    }));
    post_texts(&server, 1, &["a", "b", "c"]).await;
    post_texts(&server, 2, &["x", "y"]).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sim.send_attempts(), 0, "no token, no request");
    sim.set_token_outage(false);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let attempts = sim.send_attempts();
    assert!(attempts >= 2, "retried during the outage ({attempts})");
    assert!(
        attempts <= 8,
        "Retry-After: 1 keeps two sessions to about one attempt a second each ({attempts})"
    );
    assert!(sim.received().is_empty());
    sim.set_outage(Some(Outage {
        status: 503,
        retry_after: None,
    }));
    tokio::time::sleep(Duration::from_millis(500)).await;
    sim.set_outage(None);
    assert_eq!(wait_for_texts(&sim, 1, 3).await, said(&["a", "b", "c"]));
    assert_eq!(wait_for_texts(&sim, 2, 2).await, said(&["x", "y"]));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.received().len(), 5, "each activity exactly once");
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("wasmbot_delivery_retries_total{tenant=\"acme\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lasting_failure_becomes_a_dead_letter_that_blocks_its_session_until_retried() {
    let server_keys = format!("{FAST_RETRIES}\ndead_letter_after_secs = 1");
    let Served {
        sim,
        dir,
        config: _config,
        server,
    } = Served::start(&server_keys, &[("acme", plugins::ECHO, 166, "")]).await;
    sim.set_outage(Some(Outage {
        status: 502,
        retry_after: None,
    }));
    post_texts(&server, 5, &["one", "two", "three"]).await;
    wait_for_dead_letter(dir.path(), 5).await;
    let listed = dead_letters(dir.path(), &["list"]);
    assert!(
        listed.contains("activity=message") && listed.contains("502"),
        "{listed}"
    );
    sim.set_outage(None);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        texts(&sim, 5).is_empty(),
        "later activities wait behind the dead letter"
    );
    assert!(dead_letters(dir.path(), &["retry", "--all"]).starts_with("1 dead letter"));
    assert_eq!(
        wait_for_texts(&sim, 5, 3).await,
        said(&["one", "two", "three"])
    );
    assert_eq!(dead_letters(dir.path(), &["list"]), "no dead letters\n");

    // A refusal (4xx) is not retried: one attempt, then a dead letter at once; dropping it
    // releases the session.
    let before = sim.send_attempts();
    sim.inject_faults([400]);
    post_texts(&server, 6, &["refused", "after"]).await;
    wait_for_dead_letter(dir.path(), 6).await;
    assert_eq!(
        sim.send_attempts() - before,
        1,
        "a 400 is tried exactly once"
    );
    assert!(dead_letters(dir.path(), &["list"]).contains("attempts=1"));
    let id: String = dead_letters(dir.path(), &["list"])
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    assert!(dead_letters(dir.path(), &["drop", &id]).starts_with("1 dead letter"));
    assert_eq!(wait_for_texts(&sim, 6, 1).await, said(&["after"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_mluvii_unreachable_ends_within_the_deadline_and_a_restart_delivers() {
    for signal in ["TERM", "INT"] {
        let server_keys = format!("{FAST_RETRIES}\nshutdown_deadline_ms = 2000");
        let Served {
            sim,
            dir: _dir,
            config,
            server,
        } = Served::start(&server_keys, &[("acme", plugins::ECHO, 166, "")]).await;
        sim.set_outage(Some(Outage {
            status: 503,
            retry_after: None,
        }));
        post_texts(&server, 9, &["p", "q", "r"]).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while sim.send_attempts() < 2 {
            assert!(Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            sim.received().is_empty(),
            "work is in flight when the signal comes"
        );
        let url = server.webhook("acme");
        server.signal(signal);
        let (status, logs, took) = server.wait(Duration::from_secs(10)).await;
        assert!(status.success(), "{signal}: {status:?}");
        assert!(
            took < Duration::from_millis(3000),
            "{signal}: exit took {took:?}"
        );
        assert!(
            logs.iter().any(|l| l.contains("event path stopped")),
            "{logs:?}"
        );
        let after = reqwest::Client::new()
            .post(&url)
            .json(&json!({"activity": "Text", "sessionId": 9, "text": "late"}))
            .send()
            .await;
        assert!(after.is_err(), "no webhook is accepted after the signal");

        sim.set_outage(None);
        let restarted = ServeProcess::start(&config);
        assert_eq!(wait_for_texts(&sim, 9, 3).await, said(&["p", "q", "r"]));
        drop(restarted);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_with_a_slow_bot_and_a_deep_backlog_does_not_delay_another() {
    let Served {
        sim,
        dir: _dir,
        config: _config,
        server,
    } = Served::start(
        "durability = \"none\"",
        &[
            ("slow", plugins::MISBEHAVING, 1, "max_concurrent_runs = 2"),
            ("acme", plugins::ECHO, 2, ""),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    for session in 0..40 {
        let body = json!({"activity": "Text", "sessionId": 100 + session, "text": "slow 200 done"});
        let r = http
            .post(server.webhook("slow"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    let started = Instant::now();
    let mut replies = Vec::new();
    for session in 0..10 {
        post_texts(&server, session, &["hi"]).await;
    }
    for session in 0..10 {
        replies.push(wait_for_texts(&sim, session, 1).await);
    }
    // The slow backlog needs at least 40 × 200 ms / 2 = 4 s however fast the machine is; the
    // fast tenant is done well before, while that backlog is still being worked off.
    let took = started.elapsed();
    let slow_done = (100..140)
        .filter(|s| !sim.session_bodies(*s).is_empty())
        .count();
    assert!(
        took < Duration::from_millis(3000),
        "the fast tenant waited {took:?}"
    );
    assert!(
        slow_done < 40,
        "the fast tenant waited for the slow backlog ({slow_done} done)"
    );
    for session in 100..140 {
        let body: Value = wait_for_texts(&sim, session, 1).await.into();
        assert_eq!(body, json!(["slow: done"]));
    }
}

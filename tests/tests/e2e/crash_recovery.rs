//! A real `wasmbot serve` killed with SIGKILL in the middle of a load, then restarted: every
//! acknowledged event is processed and its reply reaches mluvii, in order per session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use wasmbot::simulator::Outage;
use wasmbot_tests::plugins;
use wasmbot_tests::serve_process::{ServeProcess, Served};

const CLIENTS: usize = 16;
const SESSIONS_PER_CLIENT: i64 = 8;
const MESSAGES: usize = 6000;
const KILL_AFTER: usize = 2500;

/// Per session, the texts whose webhook got a 200, in sending order, and the one in flight.
#[derive(Default)]
struct Sent {
    acked: HashMap<i64, Vec<String>>,
    in_flight: HashMap<i64, String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_event() {
    let Served {
        sim,
        dir: _dir,
        config,
        server,
    } = Served::start("", &[("acme", plugins::ECHO, 166, "")]).await;
    let url = server.webhook("acme");
    let sent = Arc::new(Mutex::new(Sent::default()));
    let acked_total = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (http, url, sent, acked_total) =
            (http.clone(), url.clone(), sent.clone(), acked_total.clone());
        clients.push(tokio::spawn(async move {
            for i in 0..MESSAGES / CLIENTS {
                let session = c as i64 * 1000 + (i as i64 % SESSIONS_PER_CLIENT);
                let text = format!("c{c}-m{i}");
                sent.lock().unwrap().in_flight.insert(session, text.clone());
                let body = json!({"activity": "Text", "sessionId": session, "text": text});
                match http.post(&url).json(&body).send().await {
                    Ok(r) if r.status().as_u16() == 200 => {
                        let mut sent = sent.lock().unwrap();
                        sent.in_flight.remove(&session);
                        sent.acked.entry(session).or_default().push(text);
                        acked_total.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    // The server died: this client stops (its last text may or may not have
                    // been journaled).
                    _ => return,
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let acked_at_least = |count: usize| {
        let acked_total = acked_total.clone();
        async move {
            while acked_total.load(std::sync::atomic::Ordering::SeqCst) < count {
                assert!(Instant::now() < deadline, "the load did not get going");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    };
    acked_at_least(KILL_AFTER / 2).await;
    // From half-way, mluvii fails every request: whatever the server's speed, work is left in
    // the outbox (some sessions partly delivered) when the kill comes.
    sim.set_outage(Some(Outage {
        status: 503,
        retry_after: None,
    }));
    acked_at_least(KILL_AFTER).await;
    server.signal("KILL");
    for client in clients {
        client.await.unwrap();
    }
    let (_, _, _) = server.wait(Duration::from_secs(10)).await;
    let sent = Arc::try_unwrap(sent).ok().unwrap().into_inner().unwrap();
    let acked: usize = sent.acked.values().map(Vec::len).sum();
    let delivered_before = sim.received().len();
    assert!(
        delivered_before < acked,
        "the kill came before everything was delivered ({delivered_before} of {acked})"
    );

    sim.set_outage(None);
    let restarted = ServeProcess::start(&config);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut duplicates;
    loop {
        let mut missing = 0;
        duplicates = 0;
        for (session, texts) in &sent.acked {
            let delivered: Vec<String> = sim
                .session_bodies(*session)
                .iter()
                .map(|b| {
                    b["text"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches("You said: ")
                        .to_owned()
                })
                .collect();
            let mut unique: Vec<String> = Vec::new();
            for text in &delivered {
                if unique.last() == Some(text) || unique.contains(text) {
                    duplicates += 1;
                } else {
                    unique.push(text.clone());
                }
            }
            // The unacknowledged text in flight at the kill may have been journaled too.
            if let Some(extra) = sent.in_flight.get(session) {
                unique.retain(|t| t != extra);
            }
            if unique.len() < texts.len() {
                missing += texts.len() - unique.len();
                continue;
            }
            assert_eq!(
                &unique, texts,
                "session {session}: wrong order or strangers"
            );
        }
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} acknowledged events never delivered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "crash test: {acked} acknowledged, {} delivered before the kill, all delivered after the restart, {duplicates} duplicates",
        delivered_before
    );
    restarted.signal("TERM");
    let (status, _, _) = restarted.wait(Duration::from_secs(15)).await;
    assert!(status.success());
}

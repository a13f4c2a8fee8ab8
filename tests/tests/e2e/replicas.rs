//! Three `wasmbot serve` replicas on one PostgreSQL database behind a round-robin "load
//! balancer" (the test's clients): one replica is SIGKILLed in the middle of the load, and
//! PostgreSQL is stopped and started again in the middle of it. Every acknowledged event
//! reaches the test mluvii, in order per session; duplicates are counted, not forbidden
//! (delivery is at least once).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use wasmbot_tests::plugins;
use wasmbot_tests::postgres::PgServer;
use wasmbot_tests::serve_process::{ServeProcess, simulator, write_config};

const REPLICAS: usize = 3;
const CLIENTS: usize = 12;
const SESSIONS_PER_CLIENT: i64 = 6;
const MESSAGES_PER_CLIENT: usize = 150;
const LEASE_MS: u64 = 2000;

/// Per session, the texts acknowledged with a 200, in sending order.
type Acked = Arc<Mutex<HashMap<i64, Vec<String>>>>;

struct Load {
    acked: Acked,
    total: AtomicUsize,
    refused: AtomicUsize,
    dead: Vec<AtomicBool>,
}

/// Sends `text` for `session` to the replicas in turn, starting at `turn`, until one answers
/// 200 (a dead replica is skipped, a 503 is retried after a pause, as mluvii would).
async fn send(
    http: &reqwest::Client,
    urls: &[String],
    load: &Load,
    turn: usize,
    session: i64,
    text: &str,
) {
    let body = json!({"activity": "Text", "sessionId": session, "text": text});
    let deadline = Instant::now() + Duration::from_secs(90);
    for attempt in 0.. {
        assert!(Instant::now() < deadline, "{text} was never acknowledged");
        let replica = (turn + attempt) % urls.len();
        if load.dead[replica].load(Ordering::SeqCst) {
            continue;
        }
        match http.post(&urls[replica]).json(&body).send().await {
            Ok(r) if r.status().as_u16() == 200 => return,
            Ok(r) => {
                assert_eq!(r.status().as_u16(), 503, "{text}: {}", r.status());
                assert!(
                    r.headers().contains_key("retry-after"),
                    "503 without Retry-After"
                );
                load.refused.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

async fn wait_for_acks(load: &Load, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while load.total.load(Ordering::SeqCst) < count {
        assert!(Instant::now() < deadline, "the load stalled at {count}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_survive_a_killed_replica_and_a_database_restart() {
    let pg = PgServer::start();
    let url = pg.new_database();
    let (sim, sim_url) = simulator().await;
    let dirs: Vec<tempfile::TempDir> = (0..REPLICAS)
        .map(|_| tempfile::tempdir().unwrap())
        .collect();
    let storage = format!(
        "[storage]\nbackend = \"postgres\"\nurl_env = \"DATABASE_URL\"\nlease_ms = {LEASE_MS}\npoll_interval_ms = 50"
    );
    let servers: Vec<ServeProcess> = dirs
        .iter()
        .map(|dir| {
            let config = write_config(
                dir.path(),
                &sim_url,
                &format!("sweep_interval_ms = 500\n{storage}"),
                &[("acme", plugins::ECHO, 166, "")],
            );
            ServeProcess::start_with_env(&config, &[("DATABASE_URL", &url)])
        })
        .collect();
    let urls: Vec<String> = servers.iter().map(|s| s.webhook("acme")).collect();
    let load = Arc::new(Load {
        acked: Arc::default(),
        total: AtomicUsize::new(0),
        refused: AtomicUsize::new(0),
        dead: (0..REPLICAS).map(|_| AtomicBool::new(false)).collect(),
    });
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (http, urls, load) = (http.clone(), urls.clone(), load.clone());
        clients.push(tokio::spawn(async move {
            for i in 0..MESSAGES_PER_CLIENT {
                let session = 10_000 + c as i64 * 100 + (i as i64 % SESSIONS_PER_CLIENT);
                let text = format!("c{c}-m{i}");
                send(&http, &urls, &load, c + i, session, &text).await;
                load.acked
                    .lock()
                    .unwrap()
                    .entry(session)
                    .or_default()
                    .push(text);
                load.total.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    let total = CLIENTS * MESSAGES_PER_CLIENT;

    wait_for_acks(&load, total / 4).await;
    load.dead[1].store(true, Ordering::SeqCst);
    servers[1].signal("KILL");
    let killed_at = load.total.load(Ordering::SeqCst);

    wait_for_acks(&load, total / 2).await;
    pg.stop();
    // Requests committed just before the stop may still be answered 200 right after it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopped_at = load.total.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let acked_while_down = load.total.load(Ordering::SeqCst) - stopped_at;
    pg.start_again();

    for client in clients {
        client.await.unwrap();
    }
    let acked = load.acked.lock().unwrap().clone();
    assert_eq!(acked.values().map(Vec::len).sum::<usize>(), total);

    let deadline = Instant::now() + Duration::from_secs(90);
    let (mut duplicates, mut missing);
    loop {
        (duplicates, missing) = (0, 0);
        for (session, texts) in &acked {
            let mut unique: Vec<String> = Vec::new();
            for body in sim.session_bodies(*session) {
                let text = body["text"].as_str().unwrap_or_default();
                let text = text.trim_start_matches("You said: ").to_owned();
                if unique.contains(&text) {
                    duplicates += 1;
                } else {
                    unique.push(text);
                }
            }
            if unique.len() < texts.len() {
                missing += texts.len() - unique.len();
            }
            assert_eq!(
                &unique[..],
                &texts[..unique.len().min(texts.len())],
                "session {session}: out of order, or a stranger"
            );
            assert!(
                unique.len() <= texts.len(),
                "session {session}: texts never sent"
            );
        }
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} acknowledged events never delivered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "replicas: {total} acknowledged ({killed_at} before the kill, {acked_while_down} while \
         PostgreSQL was down), {} answered 503, all delivered in order, {duplicates} duplicates",
        load.refused.load(Ordering::SeqCst)
    );
    assert_eq!(acked_while_down, 0, "a 200 while the database was down");
    assert!(
        load.refused.load(Ordering::SeqCst) > 0,
        "the outage was never seen"
    );
    for (i, server) in servers.into_iter().enumerate() {
        if i != 1 {
            server.signal("TERM");
            let (status, _, _) = server.wait(Duration::from_secs(15)).await;
            assert!(status.success());
        }
    }
}

/// Two replicas of tenant `acme` (the misbehaving bot, with `limits`) on the database at
/// `url`, with a lease of [`LEASE_MS`]; and their directories.
fn misbehaving_replicas(
    sim_url: &str,
    url: &str,
    limits: &str,
) -> (Vec<tempfile::TempDir>, Vec<ServeProcess>) {
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let extra = format!(
        "[storage]\nbackend = \"postgres\"\nurl_env = \"DATABASE_URL\"\nlease_ms = {LEASE_MS}\npoll_interval_ms = 50"
    );
    let servers = dirs
        .iter()
        .map(|dir| {
            let tenants = [("acme", plugins::MISBEHAVING, 166, limits)];
            let config = write_config(dir.path(), sim_url, &extra, &tenants);
            ServeProcess::start_with_env(&config, &[("DATABASE_URL", url)])
        })
        .collect();
    (dirs, servers)
}

/// A replica killed while its bot is in the middle of an event: another replica takes the
/// session over once the lease has run out and runs the event again; the guest gets its reply
/// once. Prints how long the session waited beyond the bot's own time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_replicas_session_is_taken_over_after_the_lease() {
    const BOT_MS: u64 = 1000;
    let pg = PgServer::shared();
    let url = pg.new_database();
    let (sim, sim_url) = simulator().await;
    let (_dirs, servers) = misbehaving_replicas(&sim_url, &url, "");
    let body = json!({"activity": "Text", "sessionId": 77, "text": format!("slow {BOT_MS} once")});
    let response = reqwest::Client::new()
        .post(servers[0].webhook("acme"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    // The first replica has claimed the session and its bot is sleeping: kill it.
    tokio::time::sleep(Duration::from_millis(BOT_MS / 3)).await;
    servers[0].signal("KILL");
    let killed = Instant::now();
    let deadline = killed + Duration::from_millis(LEASE_MS + BOT_MS + 5000);
    while sim.session_bodies(77).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the session was never taken over"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let waited = killed.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let bodies = sim.session_bodies(77);
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0]["text"], "slow: once");
    println!(
        "takeover: the reply came {:.2} s after the kill (lease {LEASE_MS} ms, bot {BOT_MS} ms): \
         {:.2} s of waiting for the lease and the poll",
        waited.as_secs_f64(),
        waited.as_secs_f64() - BOT_MS as f64 / 1000.0
    );
}

/// mluvii's 120 requests per session per minute hold across replicas: a session whose
/// activities are sent by one replica, then by another, then by the first again, gets no more
/// than 120 within the minute; each replica counts the sends recorded in the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacing_holds_when_a_sessions_delivery_moves_between_replicas() {
    let pg = PgServer::shared();
    let url = pg.new_database();
    let (sim, sim_url) = simulator().await;
    let (_dirs, servers) = misbehaving_replicas(&sim_url, &url, "max_activities = 60");
    let http = reqwest::Client::new();
    let started = Instant::now();
    for (replica, count, delivered) in [(0, 60, 60), (1, 60, 120), (0, 10, 120)] {
        let body = json!({"activity": "Text", "sessionId": 31, "text": format!("many {count}")});
        let response = http
            .post(servers[replica].webhook("acme"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let deadline = Instant::now() + Duration::from_secs(20);
        while sim.session_bodies(31).len() < delivered {
            assert!(Instant::now() < deadline, "{delivered} never delivered");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Until the sender has recorded the last send and let go of the session.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The third event's ten activities wait for the window: none goes out within the minute.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(started.elapsed() < Duration::from_secs(50));
    let texts: Vec<String> = sim
        .session_bodies(31)
        .iter()
        .map(|b| b["text"].as_str().unwrap_or("?").to_owned())
        .collect();
    assert_eq!(texts.len(), 120, "over 120 within a minute: {texts:?}");
}

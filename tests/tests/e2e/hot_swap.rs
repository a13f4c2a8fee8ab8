//! Hot swap on a real `wasmbot serve`: plugin files replaced under load (rename into place
//! and rewrite in place), broken files that must not replace a working bot, rapid writes,
//! the admin API (upload, versions, rollback, token), SIGHUP adding and removing tenants,
//! and the compiled-artifact cache across a restart.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmbot::runtime::plugin::content_hash;
use wasmbot_tests::plugins;
use wasmbot_tests::serve_process::{
    ADMIN_TOKEN, ServeProcess, Served, wait_for_bodies, write_config,
};

const ADMIN: &str = "admin_token_env = \"ADMIN_TOKEN\"";

fn hash_of(path: &str) -> String {
    content_hash(&std::fs::read(path).unwrap())
}

/// A server with one tenant, `bot`, whose plugin file `bot.wasm` (in the server's directory,
/// for the test to replace) starts as the echo bot; the admin API is on.
async fn serve_echo_as_bot() -> Served {
    Served::start_with_files(
        ADMIN,
        &[("bot", "bot.wasm", 1, "")],
        &[("bot.wasm", plugins::ECHO)],
    )
    .await
}

/// Replaces `target` with `source` through a temporary file and a rename.
fn rename_into_place(source: &str, target: &Path) {
    let temporary = target.with_extension("wasm.partial");
    std::fs::copy(source, &temporary).unwrap();
    std::fs::rename(&temporary, target).unwrap();
}

/// Rewrites `target` in place with `source`'s bytes (truncate, then write).
fn rewrite_in_place(source: &str, target: &Path) {
    std::fs::write(target, std::fs::read(source).unwrap()).unwrap();
}

async fn post_text(http: &reqwest::Client, url: &str, session: i64, text: &str) -> u16 {
    http.post(url)
        .json(&json!({"activity": "Text", "sessionId": session, "text": text}))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Posts `text` in `session` and checks that the one reply is `expected`.
async fn assert_reply(served: &Served, session: i64, text: &str, expected: &str) {
    let http = reqwest::Client::new();
    let status = post_text(&http, &served.server.webhook("bot"), session, text).await;
    assert_eq!(status, 200);
    assert_eq!(
        texts(&wait_for_bodies(&served.sim, session, 1).await),
        [expected]
    );
}

/// The text of every `Text` activity the simulator received for `session`.
fn texts(bodies: &[Value]) -> Vec<String> {
    bodies
        .iter()
        .filter_map(|b| b["text"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapping_under_load_loses_nothing_and_ends_on_the_last_version() {
    const SWAPS: usize = 20;
    const MIN_WEBHOOKS: usize = 1000;
    const CLIENTS: usize = 8;
    const SESSIONS_PER_CLIENT: i64 = 12;
    let served = serve_echo_as_bot().await;
    let plugin = served.dir.path().join("bot.wasm");
    let url = served.server.webhook("bot");
    let swapping = Arc::new(AtomicBool::new(true));
    let sent_total = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (http, url, swapping, sent_total) = (
            http.clone(),
            url.clone(),
            swapping.clone(),
            sent_total.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut sent: HashMap<i64, Vec<String>> = HashMap::new();
            let mut i = 0;
            while swapping.load(Ordering::SeqCst)
                || sent_total.load(Ordering::SeqCst) < MIN_WEBHOOKS
            {
                let session = c as i64 * 100 + i % SESSIONS_PER_CLIENT;
                let text = format!("c{c}-m{i}");
                let status = post_text(&http, &url, session, &text).await;
                assert_eq!(status, 200, "webhook {text} was answered {status}");
                sent.entry(session).or_default().push(text);
                sent_total.fetch_add(1, Ordering::SeqCst);
                i += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            sent
        }));
    }
    // Alternate the two versions, by rename into place and by rewriting in place; the last
    // write is the echo bot.
    for swap in 0..SWAPS {
        let source = if swap % 2 == 0 {
            plugins::MISBEHAVING
        } else {
            plugins::ECHO
        };
        if swap % 4 < 2 {
            rename_into_place(source, &plugin);
        } else {
            rewrite_in_place(source, &plugin);
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    swapping.store(false, Ordering::SeqCst);
    let mut sent = HashMap::new();
    for client in clients {
        sent.extend(client.await.unwrap());
    }
    let total: usize = sent.values().map(Vec::len).sum();
    assert!(total >= MIN_WEBHOOKS, "only {total} webhooks sent");

    let (mut by_echo, mut by_other) = (0, 0);
    for (session, texts_sent) in &sent {
        let bodies = wait_for_bodies(&served.sim, *session, texts_sent.len()).await;
        let replies = texts(&bodies);
        assert_eq!(
            replies.len(),
            texts_sent.len(),
            "session {session}: one reply per event, no duplicates: {replies:?}"
        );
        for (text, reply) in texts_sent.iter().zip(&replies) {
            if *reply == format!("You said: {text}") {
                by_echo += 1;
            } else if *reply == format!("ok: {text}") {
                by_other += 1;
            } else {
                panic!("session {session}: {text:?} got {reply:?} (out of order or mixed)");
            }
        }
    }
    assert!(
        by_echo > 0 && by_other > 0,
        "both versions answered: echo {by_echo}, other {by_other}"
    );

    // After the last swap only the echo bot answers.
    served
        .server
        .wait_for_hash("bot", &hash_of(plugins::ECHO))
        .await;
    for i in 0..20 {
        assert_eq!(post_text(&http, &url, 9000 + i, "after").await, 200);
    }
    for i in 0..20 {
        let bodies = wait_for_bodies(&served.sim, 9000 + i, 1).await;
        assert_eq!(texts(&bodies), ["You said: after"]);
    }
    let (_, view) = served.server.admin_get("/admin/tenants/bot").await;
    assert_eq!(view["status"], "ok", "{view}");
    assert!(view["swaps"].as_u64().unwrap() >= 2, "{view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_files_leave_the_old_version_serving_and_are_reported() {
    let served = serve_echo_as_bot().await;
    let server = &served.server;
    let plugin = served.dir.path().join("bot.wasm");
    let echo = std::fs::read(plugins::ECHO).unwrap();
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "truncated",
            echo[..echo.len() / 2].to_vec(),
            "not a WebAssembly component",
        ),
        (
            "not a component",
            b"#!/bin/sh\necho hi\n".to_vec(),
            "magic bytes",
        ),
        (
            "wrong world",
            std::fs::read(plugins::WRONG_WORLD).unwrap(),
            "does not implement",
        ),
    ];
    for (session, (case, bytes, expected)) in cases.into_iter().enumerate() {
        let failures_before = server.admin_get("/admin/tenants/bot").await.1["failed_loads"]
            .as_u64()
            .unwrap();
        std::fs::write(&plugin, &bytes).unwrap();
        // The refusal shows in the admin API.
        let deadline = Instant::now() + Duration::from_secs(20);
        let view = loop {
            let (_, view) = server.admin_get("/admin/tenants/bot").await;
            if view["failed_loads"].as_u64().unwrap() > failures_before {
                break view;
            }
            assert!(
                Instant::now() < deadline,
                "{case}: no refusal reported: {view}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(view["status"], "last_load_failed", "{case}: {view}");
        let error = view["last_error"].as_str().unwrap();
        assert!(error.contains(expected), "{case}: {error}");
        assert_eq!(view["plugin"]["hash"], hash_of(plugins::ECHO), "{case}");
        // And the old version still answers.
        assert_reply(
            &served,
            10 + session as i64,
            case,
            &format!("You said: {case}"),
        )
        .await;
    }
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("wasmbot_plugin_loads_total{tenant=\"bot\",outcome=\"refused\"}"),
        "{metrics}"
    );
    // A good file afterwards is taken.
    rename_into_place(plugins::MISBEHAVING, &plugin);
    server
        .wait_for_hash("bot", &hash_of(plugins::MISBEHAVING))
        .await;
    let (_, view) = server.admin_get("/admin/tenants/bot").await;
    assert_eq!(view["status"], "ok", "{view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_successive_writes_end_on_the_last_one() {
    let served = serve_echo_as_bot().await;
    let plugin = served.dir.path().join("bot.wasm");
    for round in 0..9 {
        let source = if round % 2 == 0 {
            plugins::MISBEHAVING
        } else {
            plugins::ECHO
        };
        rewrite_in_place(source, &plugin);
        tokio::time::sleep(Duration::from_millis(round * 10)).await;
    }
    served
        .server
        .wait_for_hash("bot", &hash_of(plugins::MISBEHAVING))
        .await;
    // It stays there (no late load of an earlier write).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        served.server.serving_hash("bot").await.unwrap(),
        hash_of(plugins::MISBEHAVING)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_upload_lists_versions_and_rolls_back() {
    let served = serve_echo_as_bot().await;
    let server = &served.server;
    let plugin = served.dir.path().join("bot.wasm");
    let http = reqwest::Client::new();
    let put = |bytes: Vec<u8>| {
        http.put(format!("{}/admin/tenants/bot/plugin", server.url))
            .bearer_auth(ADMIN_TOKEN)
            .body(bytes)
            .send()
    };
    // A broken upload is refused and changes nothing.
    let response = put(b"garbage".to_vec()).await.unwrap();
    assert_eq!(response.status().as_u16(), 422);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("previous version keeps serving"),
        "{error}"
    );
    assert_eq!(
        std::fs::read(&plugin).unwrap(),
        std::fs::read(plugins::ECHO).unwrap()
    );

    // A good upload serves at once and replaces the file.
    let response = put(std::fs::read(plugins::MISBEHAVING).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let outcome: Value = response.json().await.unwrap();
    assert_eq!(outcome["outcome"], "swapped");
    assert_eq!(outcome["hash"], hash_of(plugins::MISBEHAVING));
    assert_eq!(
        std::fs::read(&plugin).unwrap(),
        std::fs::read(plugins::MISBEHAVING).unwrap()
    );
    assert_reply(&served, 1, "one", "ok: one").await;

    let (status, versions) = server.admin_get("/admin/tenants/bot/versions").await;
    assert_eq!(status, 200);
    let hashes: Vec<&str> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["hash"].as_str().unwrap())
        .collect();
    let (echo, other) = (hash_of(plugins::ECHO), hash_of(plugins::MISBEHAVING));
    assert_eq!(hashes, [other.as_str(), echo.as_str()], "newest first");
    assert_eq!(versions["versions"][0]["current"], true);

    // Rollback returns to the echo bot, in memory and on disk.
    let rollback = || {
        http.post(format!("{}/admin/tenants/bot/rollback", server.url))
            .bearer_auth(ADMIN_TOKEN)
            .send()
    };
    let response = rollback().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(server.serving_hash("bot").await.unwrap(), echo);
    assert_eq!(
        std::fs::read(&plugin).unwrap(),
        std::fs::read(plugins::ECHO).unwrap()
    );
    assert_reply(&served, 2, "two", "You said: two").await;
    // Nothing older is kept.
    assert_eq!(rollback().await.unwrap().status().as_u16(), 409);
    // The watcher saw the rewritten file and left the serving version alone.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(server.serving_hash("bot").await.unwrap(), echo);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_refuse_a_missing_or_wrong_token() {
    let served = Served::start(ADMIN, &[("bot", plugins::ECHO, 1, "")]).await;
    let without_admin = Served::start("", &[("bot", plugins::ECHO, 1, "")]).await;
    let http = reqwest::Client::new();
    let routes = [
        ("GET", "/admin/tenants"),
        ("GET", "/admin/tenants/bot"),
        ("PUT", "/admin/tenants/bot/plugin"),
        ("GET", "/admin/tenants/bot/versions"),
        ("POST", "/admin/tenants/bot/rollback"),
        ("POST", "/admin/reload"),
        ("GET", "/admin/dead-letters"),
        ("POST", "/admin/dead-letters/retry?all=true"),
        ("POST", "/admin/dead-letters/drop?all=true"),
    ];
    for (method, route) in routes {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        for (server, token) in [
            (&served.server, None),
            (&served.server, Some("wrong-token")),
            (&served.server, Some("admin-token-but-longer")),
            (&without_admin.server, Some(ADMIN_TOKEN)),
        ] {
            let mut request = http.request(method.clone(), format!("{}{route}", server.url));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let status = request.send().await.unwrap().status().as_u16();
            assert_eq!(status, 401, "{method} {route} with {token:?}");
        }
    }
    let (status, tenants) = served.server.admin_get("/admin/tenants").await;
    assert_eq!(status, 200);
    assert_eq!(tenants[0]["id"], "bot");
    assert_eq!(tenants[0]["plugin"]["hash"], hash_of(plugins::ECHO));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_adds_and_removes_tenants_and_an_invalid_file_changes_nothing() {
    let served = Served::start(ADMIN, &[("one", plugins::ECHO, 1, "")]).await;
    let (server, sim) = (&served.server, &served.sim);
    let sim_url = format!("http://{}", sim_address(&served));
    let http = reqwest::Client::new();
    assert_eq!(post_text(&http, &server.webhook("two"), 1, "x").await, 404);

    // Add tenant two (another bot), and give tenant one a lower limit.
    write_config(
        served.dir.path(),
        &sim_url,
        ADMIN,
        &[
            ("one", plugins::ECHO, 1, "max_concurrent_runs = 2"),
            ("two", plugins::MISBEHAVING, 2, ""),
        ],
    );
    server.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(20);
    while post_text(&http, &server.webhook("two"), 2, "hello").await != 200 {
        assert!(Instant::now() < deadline, "tenant two never appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(texts(&wait_for_bodies(sim, 2, 1).await), ["ok: hello"]);

    // An invalid file changes nothing, and says why.
    std::fs::write(&served.config, "[server]\nlisten_on = 1\n").unwrap();
    let response = http
        .post(format!("{}/admin/reload", server.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("listen_on"),
        "{error}"
    );
    // A memory cap above the engine's is refused, naming the key.
    write_config(
        served.dir.path(),
        &sim_url,
        ADMIN,
        &[("one", plugins::ECHO, 1, "max_memory_mib = 100000")],
    );
    let response = http
        .post(format!("{}/admin/reload", server.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("limits.max_memory_mib"),
        "{error}"
    );
    assert_eq!(
        post_text(&http, &server.webhook("two"), 3, "still").await,
        200
    );
    assert_eq!(texts(&wait_for_bodies(sim, 3, 1).await), ["ok: still"]);

    // Remove tenant one.
    write_config(
        served.dir.path(),
        &sim_url,
        ADMIN,
        &[("two", plugins::MISBEHAVING, 2, "")],
    );
    server.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(20);
    while post_text(&http, &server.webhook("one"), 4, "gone?").await != 404 {
        assert!(Instant::now() < deadline, "tenant one was never removed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        post_text(&http, &server.webhook("two"), 5, "here").await,
        200
    );
    assert_eq!(texts(&wait_for_bodies(sim, 5, 1).await), ["ok: here"]);
}

/// The simulator's address, from the tenants' configuration.
fn sim_address(served: &Served) -> String {
    let text = std::fs::read_to_string(&served.config).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("base_url"))
        .unwrap()
        .to_owned();
    line.split("http://")
        .nth(1)
        .unwrap()
        .trim_end_matches('"')
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_a_warm_cache_does_not_recompile_and_a_corrupt_entry_is_rebuilt() {
    let Served {
        sim,
        dir,
        config,
        server,
    } = Served::start(ADMIN, &[("bot", plugins::SUPPORT, 1, "")]).await;
    let (_, view) = server.admin_get("/admin/tenants/bot").await;
    let cold_ms = view["plugin"]["compile_ms"].as_u64().unwrap();
    server.signal("TERM");
    server.wait(Duration::from_secs(20)).await;

    let restarted = ServeProcess::start(&config);
    let (_, view) = restarted.admin_get("/admin/tenants/bot").await;
    assert_eq!(view["plugin"]["from_cache"], true, "{view}");
    let metrics = restarted.metrics().await;
    assert!(
        metrics.contains("wasmbot_plugin_loads_total{tenant=\"bot\",outcome=\"cached\"} 1"),
        "{metrics}"
    );
    eprintln!("support bot: compiled in {cold_ms} ms cold; loaded from the cache at restart");
    restarted.signal("TERM");
    restarted.wait(Duration::from_secs(20)).await;

    // Corrupt every cache entry: the next start compiles afresh and serves.
    let cache = dir.path().join("data/compiled");
    let mut corrupted = 0;
    for entry in std::fs::read_dir(&cache).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        corrupted += 1;
    }
    assert!(corrupted > 0, "no cache entry in {}", cache.display());
    let again = ServeProcess::start(&config);
    let (_, view) = again.admin_get("/admin/tenants/bot").await;
    assert_eq!(view["plugin"]["from_cache"], false, "{view}");
    again.connect(&sim, 1, "bot");
    let http = reqwest::Client::new();
    let started = json!({"activity": "ConversationStarted", "sessionId": 7});
    let status = http
        .post(again.webhook("bot"))
        .json(&started)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 200);
    assert!(!wait_for_bodies(&sim, 7, 1).await.is_empty());
}

/// A tenant removed by a reload and added back while its sender is retrying: the sender of the
/// tenant as it was and the one of the tenant as it is now never deliver the session at once.
/// Every reply reaches mluvii exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_removed_and_added_back_while_its_sender_retries_sends_each_reply_once_in_order() {
    let keys = format!("{ADMIN}\nretry_first_backoff_ms = 50\nretry_max_backoff_ms = 1500");
    let served = Served::start(&keys, &[("one", plugins::ECHO, 1, "")]).await;
    let (server, sim) = (&served.server, &served.sim);
    let sim_url = format!("http://{}", sim_address(&served));
    let http = reqwest::Client::new();
    let reload = |tenants: &[(&str, &str, i64, &str)]| {
        write_config(served.dir.path(), &sim_url, &keys, tenants);
        http.post(format!("{}/admin/reload", server.url))
            .bearer_auth(ADMIN_TOKEN)
            .send()
    };
    sim.set_outage(Some(wasmbot::simulator::Outage {
        status: 503,
        retry_after: None,
    }));
    for text in ["a", "b"] {
        assert_eq!(post_text(&http, &server.webhook("one"), 9, text).await, 200);
    }
    // Long enough for the sender's backoff to grow past a fresh sender's.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(sim.send_attempts() > 1, "the sender is retrying");
    let removed = reload(&[("two", plugins::ECHO, 2, "")]).await.unwrap();
    assert_eq!(removed.status().as_u16(), 200);
    let added = reload(&[("one", plugins::ECHO, 1, "")]).await.unwrap();
    let report: Value = added.json().await.unwrap();
    assert_eq!(report["added"], json!(["one"]), "{report}");
    for text in ["c", "d"] {
        assert_eq!(post_text(&http, &server.webhook("one"), 9, text).await, 200);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    sim.set_outage(None);
    let expected = ["You said: a", "You said: b", "You said: c", "You said: d"];
    assert_eq!(texts(&wait_for_bodies(sim, 9, 4).await), expected);
    // Past the longest backoff: a sender still retrying would have sent again by now.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(texts(&sim.session_bodies(9)), expected, "each reply once");
}

/// `wasmbot_warm_instances` from the server's metrics.
async fn warm_instances(server: &ServeProcess) -> u64 {
    let metrics = server.metrics().await;
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("wasmbot_warm_instances "))
        .unwrap_or_else(|| panic!("no warm instance gauge: {metrics}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_gives_back_the_old_configurations_warm_instances() {
    let reuse = "reuse_instance_events = 100\nreuse_instance_secs = 600";
    let served = Served::start(ADMIN, &[("one", plugins::ECHO, 1, reuse)]).await;
    let (server, sim) = (&served.server, &served.sim);
    let sim_url = format!("http://{}", sim_address(&served));
    let http = reqwest::Client::new();
    for round in 0..3i64 {
        let session = 10 + round;
        assert_eq!(
            post_text(&http, &server.webhook("one"), session, "hi").await,
            200
        );
        assert_eq!(
            texts(&wait_for_bodies(sim, session, 1).await),
            ["You said: hi"]
        );
        assert_eq!(warm_instances(server).await, 1, "round {round}");
        // A reload builds the tenant's configuration anew (here with another limit).
        let limits = format!("{reuse}\nmax_concurrent_runs = {}", 2 + round);
        write_config(
            served.dir.path(),
            &sim_url,
            ADMIN,
            &[("one", plugins::ECHO, 1, &limits)],
        );
        let reloaded = http
            .post(format!("{}/admin/reload", server.admin_url))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(reloaded.status().as_u16(), 200);
        // The replaced configuration's idle instance is dropped and its slot given back.
        assert_eq!(warm_instances(server).await, 0, "round {round}");
    }
}

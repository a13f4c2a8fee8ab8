//! Hostile bots behind the real server: each is stopped at its limit within a bounded time,
//! its failure reported with the reason, the fallback reaches the Send API, the host stays up
//! with bounded memory, the tenant's next event runs normally, and another tenant is served
//! all along. Also: a tenant's token works only on its own route.

use std::time::{Duration, Instant};

use serde_json::Value;
use wasmbot_tests::serve_process::{
    ServeProcess, Served, simulator, wait_for_bodies, write_config_with_tokens,
};
use wasmbot_tests::{plugins, text_body as text};

/// Writes a configuration of two tenants, `hostile` (the misbehaving bot, 300 ms deadline,
/// 16 MiB, 50 state keys) and `healthy` (the echo bot), each with its own webhook token in a
/// file.
fn config(dir: &std::path::Path, sim_url: &str) -> std::path::PathBuf {
    let tenants = [
        (
            "hostile",
            plugins::MISBEHAVING,
            1,
            "timeout_ms = 300\nmax_memory_mib = 16\nmax_state_keys = 50",
        ),
        ("healthy", plugins::ECHO, 2, ""),
    ];
    write_config_with_tokens(dir, sim_url, "durability = \"none\"", &tenants, |id| {
        let token_file = dir.join(format!("{id}.token"));
        std::fs::write(&token_file, format!("{id}-secret-token\n")).unwrap();
        format!("webhook_token_file = {token_file:?}")
    })
}

fn webhook(server: &ServeProcess, tenant: &str) -> String {
    format!(
        "{}/webhook/{tenant}?access_token={tenant}-secret-token",
        server.url
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bots_are_stopped_reported_and_answered_while_another_tenant_is_served() {
    let (sim, sim_url) = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(&config(dir.path(), &sim_url));
    let http = reqwest::Client::new();
    let post = |tenant: &str, body: Value| {
        let (http, url) = (http.clone(), webhook(&server, tenant));
        async move {
            let r = http.post(url).json(&body).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
        }
    };

    // Each hostile behaviour in its own session, then a normal event in that session.
    let hostile = [
        "loop",
        "slow 3600000 an hour",
        "hog",
        "recurse",
        "panic",
        "many 1000000",
        "many 5000",
        "huge",
    ];
    let started = Instant::now();
    for (i, behaviour) in hostile.iter().enumerate() {
        let session = 10 + i as i64;
        post("hostile", text(session, behaviour)).await;
        post("hostile", text(session, "after")).await;
    }
    // Meanwhile the healthy tenant is answered, event after event.
    for i in 0..20 {
        post("healthy", text(1000 + i, &format!("hi {i}"))).await;
        let got = wait_for_bodies(&sim, 1000 + i, 1).await;
        assert_eq!(got[0]["text"], format!("You said: hi {i}"));
    }
    for (i, behaviour) in hostile.iter().enumerate() {
        let got = wait_for_bodies(&sim, 10 + i as i64, 3).await;
        assert!(
            got[0]["text"].as_str().unwrap().starts_with("Sorry"),
            "{behaviour}: {got:?}"
        );
        assert_eq!(got[1]["activity"], "HandOff", "{behaviour}: {got:?}");
        assert_eq!(got[2]["text"], "ok: after", "{behaviour}: {got:?}");
    }
    // Two bots ran to their 300 ms deadline, one after the other in the worst case; the rest
    // fail at once.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );

    // Floods: logs and state are capped, and the bot still answers. Five times the tenant's
    // 1,000 lines: more would not fit a debug build's 300 ms on a machine whose cores are
    // busy with other work (both with and without the long-run pool).
    post("hostile", text(30, "log-flood 5000")).await;
    assert_eq!(wait_for_bodies(&sim, 30, 1).await[0]["text"], "logged 5000");
    post("hostile", text(31, "state-flood")).await;
    let stored = wait_for_bodies(&sim, 31, 1).await[0]["text"].clone();
    assert!(
        stored.as_str().unwrap().starts_with("stored 50:")
            && stored.as_str().unwrap().contains("the limit is 50"),
        "{stored}"
    );
    // No environment (the tenants' secrets included), files, sockets or name lookups.
    post("hostile", text(32, "escape")).await;
    assert_eq!(
        wait_for_bodies(&sim, 32, 1).await[0]["text"],
        "env [] reached 0"
    );

    // The memory bomb, the million activities and the rest cost the host little.
    let rss = server.peak_rss_mib();
    assert!(rss < 1024, "peak RSS {rss} MiB");
    let metrics = server.metrics().await;
    for kind in ["timeout", "out_of_memory", "trap", "output_limit"] {
        assert!(
            metrics.lines().any(|l| l.contains("bot_errors")
                && l.contains(&format!("outcome=\"{kind}\""))
                && l.contains("tenant=\"hostile\"")),
            "{kind} counted: {metrics}"
        );
    }

    server.signal("TERM");
    let (_, logs, _) = server.wait(Duration::from_secs(15)).await;
    let flood_lines = logs.iter().filter(|l| l.contains("flood ")).count();
    assert!(
        flood_lines <= 1000,
        "{flood_lines} flood lines reached the log"
    );
    assert!(
        logs.iter()
            .any(|l| l.contains("more than its limit") && l.contains("hostile")),
        "one summary line for the dropped lines"
    );
    for (needle, behaviour) in [
        ("panicked on purpose", "panic"),
        ("5000 activities", "many"),
        ("memory limit", "hog"),
    ] {
        assert!(
            logs.iter()
                .any(|l| l.contains("sending the fallback") && l.contains(needle)),
            "the {behaviour} failure is reported with its reason"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_token_works_only_on_its_own_route() {
    let (_sim, sim_url) = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(&config(dir.path(), &sim_url));
    let http = reqwest::Client::new();
    let status = |url: String| {
        let http = http.clone();
        async move {
            http.post(url)
                .json(&text(1, "hi"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let cross = format!(
        "{}/webhook/healthy?access_token=hostile-secret-token",
        server.url
    );
    assert_eq!(status(cross).await, 401);
    let bearer = http
        .post(format!("{}/webhook/hostile", server.url))
        .bearer_auth("healthy-secret-token")
        .json(&text(1, "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status().as_u16(), 401);
    assert_eq!(status(webhook(&server, "healthy")).await, 200);
    assert_eq!(status(webhook(&server, "hostile")).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_whose_plugin_did_not_load_gets_503_and_is_reported_while_the_replica_stays_ready()
{
    let garbage = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(garbage.path(), b"not a component").unwrap();
    let served = Served::start_with_files(
        "",
        &[
            ("broken", "broken.wasm", 1, ""),
            ("acme", plugins::ECHO, 2, ""),
        ],
        &[("broken.wasm", garbage.path().to_str().unwrap())],
    )
    .await;
    let server = &served.server;
    let http = reqwest::Client::new();
    let refused = http
        .post(server.webhook("broken"))
        .json(&text(1, "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let ready = http
        .get(format!("{}/readyz", server.url))
        .send()
        .await
        .unwrap();
    // One tenant's broken upload does not pull the whole replica out of a load balancer.
    assert_eq!(ready.status().as_u16(), 200);
    let body = ready.text().await.unwrap();
    assert!(body.starts_with("ready\n"), "{body}");
    assert!(body.contains("no plugin loaded for: broken"), "{body}");
    let metrics = server.metrics().await;
    assert!(
        metrics.contains(r#"wasmbot_plugin_loaded{tenant="broken"} 0"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"wasmbot_plugin_loaded{tenant="acme"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("wasmbot_plugin_loads_total")
                && l.contains("tenant=\"broken\"")
                && l.contains("refused")),
        "{metrics}"
    );
    // The other tenant is served.
    let ok = http
        .post(server.webhook("acme"))
        .json(&text(2, "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(
        wait_for_bodies(&served.sim, 2, 1).await[0]["text"],
        "You said: hi"
    );
}

//! Plugins across replicas on one PostgreSQL database: a version uploaded through one
//! replica's admin API serves on every replica within seconds (and on a replica started
//! later), a rollback through another replica takes them all back, a broken upload is refused
//! and reaches none, and each replica's view of the tenant says what every replica serves.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmbot::runtime::plugin::content_hash;
use wasmbot_tests::plugins;
use wasmbot_tests::postgres::PgServer;
use wasmbot_tests::serve_process::{
    ADMIN_TOKEN, ServeProcess, simulator, wait_for_bodies, write_config,
};

fn hash_of(path: &str) -> String {
    content_hash(&std::fs::read(path).unwrap())
}

/// A replica of tenant `bot` (its own directory, its own `bot.wasm` starting as the echo
/// bot), named `replica-{n}`, on the database at `url`.
fn replica(dir: &tempfile::TempDir, sim_url: &str, url: &str, n: usize) -> ServeProcess {
    std::fs::copy(plugins::ECHO, dir.path().join("bot.wasm")).unwrap();
    let extra = format!(
        "admin_token_env = \"ADMIN_TOKEN\"\nreplica_id = \"replica-{n}\"\n\
         [storage]\nbackend = \"postgres\"\nurl_env = \"DATABASE_URL\"\nlease_ms = 2000"
    );
    let config = write_config(dir.path(), sim_url, &extra, &[("bot", "bot.wasm", 1, "")]);
    ServeProcess::start_with_env(&config, &[("DATABASE_URL", url)])
}

/// Waits until every replica serves `hash`; returns how long that took.
async fn until_all_serve(replicas: &[&ServeProcess], hash: &str) -> Duration {
    let started = Instant::now();
    for replica in replicas {
        replica.wait_for_hash("bot", hash).await;
    }
    started.elapsed()
}

/// Waits until `server`'s view of the tenant shows `count` replicas, all serving `hash`.
async fn until_reported(server: &ServeProcess, count: usize, hash: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, view) = server.admin_get("/admin/tenants/bot").await;
        assert_eq!(status, 200, "{view}");
        let replicas = view["replicas"].as_array().cloned().unwrap_or_default();
        if replicas.len() == count && replicas.iter().all(|r| r["hash"] == hash) {
            return view;
        }
        assert!(Instant::now() < deadline, "never reported: {view}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_through_one_replica_serves_on_every_replica() {
    let pg = PgServer::shared();
    let url = pg.new_database();
    let (sim, sim_url) = simulator().await;
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let first: Vec<ServeProcess> = (0..3)
        .map(|n| replica(&dirs[n], &sim_url, &url, n))
        .collect();
    let all: Vec<&ServeProcess> = first.iter().collect();
    let (echo, misbehaving) = (hash_of(plugins::ECHO), hash_of(plugins::MISBEHAVING));
    until_reported(&first[1], 3, &echo).await;
    let http = reqwest::Client::new();
    let put = |server: &ServeProcess, bytes: Vec<u8>| {
        http.put(format!("{}/admin/tenants/bot/plugin", server.url))
            .bearer_auth(ADMIN_TOKEN)
            .body(bytes)
            .send()
    };

    // A broken upload is refused where it is made and reaches nobody.
    let response = put(&first[0], b"garbage".to_vec()).await.unwrap();
    assert_eq!(response.status().as_u16(), 422);

    let response = put(&first[0], std::fs::read(plugins::MISBEHAVING).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let spread = until_all_serve(&all, &misbehaving).await;
    assert!(spread < Duration::from_secs(5), "took {spread:?}");
    // Each replica's plugin file now holds it, so a restart serves it too.
    for dir in &dirs[..3] {
        assert_eq!(
            std::fs::read(dir.path().join("bot.wasm")).unwrap(),
            std::fs::read(plugins::MISBEHAVING).unwrap()
        );
    }
    // The new version answers the guests of another replica.
    let webhook = |server: &ServeProcess, session: i64| {
        let body = json!({"activity": "Text", "sessionId": session, "text": "slow 0 new"});
        http.post(server.webhook("bot")).json(&body).send()
    };
    assert_eq!(webhook(&first[2], 5).await.unwrap().status().as_u16(), 200);
    assert_eq!(wait_for_bodies(&sim, 5, 1).await[0]["text"], "slow: new");

    let view = until_reported(&first[2], 3, &misbehaving).await;
    assert_eq!(view["published"]["hash"], misbehaving, "{view}");
    assert_eq!(view["published"]["source"], "upload", "{view}");
    let this: Vec<&Value> = view["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["this"] == true)
        .collect();
    assert_eq!(this.len(), 1, "{view}");
    assert_eq!(this[0]["replica"], "replica-2");

    // A replica started later (its file still the echo bot) serves the published version.
    let late = replica(&dirs[3], &sim_url, &url, 3);
    assert_eq!(late.serving_hash("bot").await.unwrap(), misbehaving);

    // A rollback through another replica takes every replica back.
    let response = http
        .post(format!("{}/admin/tenants/bot/rollback", first[1].url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let mut everyone = all.clone();
    everyone.push(&late);
    let spread = until_all_serve(&everyone, &echo).await;
    assert!(spread < Duration::from_secs(5), "took {spread:?}");
    assert_eq!(webhook(&first[0], 6).await.unwrap().status().as_u16(), 200);
    assert_eq!(
        wait_for_bodies(&sim, 6, 1).await[0]["text"],
        "You said: slow 0 new"
    );
    // The rolled-back version is forgotten on a replica that only followed the rollback.
    let (_, versions) = first[2].admin_get("/admin/tenants/bot/versions").await;
    let kept: Vec<&str> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["hash"].as_str().unwrap())
        .collect();
    assert!(!kept.contains(&misbehaving.as_str()), "{versions}");
    until_reported(&late, 4, &echo).await;
    println!("replica plugins: an upload and a rollback each served everywhere within {spread:?}");
}

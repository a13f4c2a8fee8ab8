//! A shadow candidate on a real `wasmbot serve`: every live event also runs on it, its
//! answers are compared with the serving version's and counted, never sent (the test mluvii
//! sees only the serving version's replies), its outbound HTTP is refused, and it can be
//! promoted or withdrawn.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};
use wasmbot_tests::plugins;
use wasmbot_tests::postgres::PgServer;
use wasmbot_tests::serve_process::{
    ADMIN_TOKEN, ServeProcess, Served, simulator, wait_for_bodies, write_config,
};

/// A backend the tenant may call; counts its requests.
async fn backend() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let router = Router::new().route(
        "/ping",
        get(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { "pong" }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (address.to_string(), hits)
}

struct Admin {
    http: reqwest::Client,
    base: String,
}

impl Admin {
    /// The admin API of `server`.
    fn of(server: &ServeProcess) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: server.admin_url.clone(),
        }
    }

    async fn call(&self, method: reqwest::Method, route: &str, body: Vec<u8>) -> (u16, Value) {
        let answer = self
            .http
            .request(method, format!("{}{route}", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    async fn set_candidate(&self, plugin: &str) -> Value {
        let bytes = std::fs::read(plugin).unwrap();
        let (status, view) = self
            .call(
                reqwest::Method::PUT,
                "/admin/tenants/acme/candidate?mode=shadow",
                bytes,
            )
            .await;
        assert_eq!(status, 200, "{view}");
        view
    }

    /// Waits until `GET …/candidate` answers `status` (another replica taking a change);
    /// returns the body.
    async fn candidate_status_becomes(&self, status: u16, what: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (now, view) = self
                .call(
                    reqwest::Method::GET,
                    "/admin/tenants/acme/candidate",
                    vec![],
                )
                .await;
            if now == status {
                return view;
            }
            assert!(Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The candidate once it has compared `count` events (or dropped them).
    async fn candidate_after(&self, count: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, view) = self
                .call(
                    reqwest::Method::GET,
                    "/admin/tenants/acme/candidate",
                    vec![],
                )
                .await;
            assert_eq!(status, 200, "{view}");
            let done = view["compared"].as_u64().unwrap() + view["dropped"].as_u64().unwrap();
            if done >= count {
                return view;
            }
            assert!(Instant::now() < deadline, "only {done} of {count}: {view}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn post(served: &Served, session: i64, text: &str) {
    let body = json!({"activity": "Text", "sessionId": session, "text": text});
    let answer = reqwest::Client::new()
        .post(served.server.webhook("acme"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_candidate_is_compared_never_sent_and_can_be_promoted_or_withdrawn() {
    let (backend, hits) = backend().await;
    let http_policy = format!("\n[tenant.http]\nallowed_hosts = [\"http://{backend}\"]");
    // The tenant's plugin file is a copy: promotion rewrites it.
    let served = Served::start_with_files(
        "admin_token_env = \"ADMIN_TOKEN\"",
        &[("acme", "bot.wasm", 1, &http_policy)],
        &[("bot.wasm", plugins::ECHO)],
    )
    .await;
    let admin = Admin::of(&served.server);

    // The serving version itself as the candidate: every event identical.
    admin.set_candidate(plugins::ECHO).await;
    for (session, text) in [(1, "one"), (2, "two"), (3, "three")] {
        post(&served, session, text).await;
    }
    let view = admin.candidate_after(3).await;
    assert_eq!(
        (&view["identical"], &view["different"], &view["dropped"]),
        (&json!(3), &json!(0), &json!(0)),
        "{view}"
    );

    // Another version: different answers, recorded by path; nothing of it reaches mluvii, and
    // its outbound request is refused before it leaves.
    let set = admin.set_candidate(plugins::MISBEHAVING).await;
    assert_eq!(set["compared"], 0);
    post(&served, 4, "hello").await;
    post(&served, 5, &format!("fetch http://{backend}/ping")).await;
    let view = admin.candidate_after(2).await;
    assert_eq!(view["different"], 2, "{view}");
    let recent = view["recent_differences"].as_array().unwrap();
    let hello = recent.iter().find(|d| d["session_id"] == 4).unwrap();
    assert_eq!(
        hello["differences"][0],
        r#"activity [0].text: expected "You said: hello", got "ok: hello""#
    );
    let fetch = recent.iter().find(|d| d["session_id"] == 5).unwrap();
    let fetched = fetch["candidate"][0]["text"].as_str().unwrap();
    assert!(fetched.contains("HttpRequestDenied"), "{fetch}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the candidate's request left"
    );
    for session in 1..=5 {
        let sent = wait_for_bodies(&served.sim, session, 1).await;
        assert!(
            sent.iter()
                .all(|b| b["text"].as_str().unwrap().starts_with("You said: ")),
            "session {session}: {sent:?}"
        );
    }
    let metrics = served.server.metrics().await;
    assert!(
        metrics.contains(r#"wasmbot_candidate_events_total{tenant="acme",outcome="different"} 2"#),
        "{metrics}"
    );

    // Promoted, the candidate serves for real and is no longer a candidate.
    let (status, outcome) = admin
        .call(
            reqwest::Method::POST,
            "/admin/tenants/acme/candidate/promote",
            vec![],
        )
        .await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["outcome"], "swapped");
    let (status, _) = admin
        .call(
            reqwest::Method::GET,
            "/admin/tenants/acme/candidate",
            vec![],
        )
        .await;
    assert_eq!(status, 404);
    post(&served, 6, "now").await;
    assert_eq!(
        wait_for_bodies(&served.sim, 6, 1).await[0]["text"],
        "ok: now"
    );

    // Withdrawn, a candidate runs no more events.
    admin.set_candidate(plugins::ECHO).await;
    let (status, withdrawn) = admin
        .call(
            reqwest::Method::DELETE,
            "/admin/tenants/acme/candidate",
            vec![],
        )
        .await;
    assert_eq!(status, 200, "{withdrawn}");
    let (status, _) = admin
        .call(
            reqwest::Method::DELETE,
            "/admin/tenants/acme/candidate",
            vec![],
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_outlives_a_restart() {
    let served = Served::start_with_files(
        "admin_token_env = \"ADMIN_TOKEN\"",
        &[("acme", "bot.wasm", 1, "")],
        &[("bot.wasm", plugins::ECHO)],
    )
    .await;
    let admin = Admin::of(&served.server);
    let set = admin.set_candidate(plugins::MISBEHAVING).await;
    let Served {
        sim,
        dir,
        config,
        server,
    } = served;
    server.signal("TERM");
    server.wait(Duration::from_secs(20)).await;
    let restarted = ServeProcess::start(&config);
    let admin = Admin::of(&restarted);
    let (status, view) = admin
        .call(
            reqwest::Method::GET,
            "/admin/tenants/acme/candidate",
            vec![],
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        (&view["hash"], &view["since_ms"]),
        (&set["hash"], &set["since_ms"])
    );
    // And it is tried again.
    let body = json!({"activity": "Text", "sessionId": 9, "text": "again"});
    let answer = reqwest::Client::new()
        .post(restarted.webhook("acme"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(admin.candidate_after(1).await["different"], 1);
    drop((sim, dir));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_set_through_one_replica_is_tried_and_withdrawn_on_every_replica() {
    let pg = PgServer::shared();
    let url = pg.new_database();
    let (sim, sim_url) = simulator().await;
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let replicas: Vec<ServeProcess> = dirs
        .iter()
        .map(|dir| {
            let config = write_config(
                dir.path(),
                &sim_url,
                "admin_token_env = \"ADMIN_TOKEN\"\n[storage]\nbackend = \"postgres\"\nurl_env = \"DATABASE_URL\"\npoll_interval_ms = 50",
                &[("acme", plugins::ECHO, 1, "")],
            );
            ServeProcess::start_with_env(&config, &[("DATABASE_URL", &url)])
        })
        .collect();
    let admins: Vec<Admin> = replicas.iter().map(Admin::of).collect();
    let set = admins[0].set_candidate(plugins::MISBEHAVING).await;
    // The other replica takes it within seconds, and shadows the events it gets.
    let taken = admins[1]
        .candidate_status_becomes(200, "replica 2 never took the candidate")
        .await;
    assert_eq!(taken["hash"], set["hash"]);
    let body = json!({"activity": "Text", "sessionId": 31, "text": "hi"});
    let answer = reqwest::Client::new()
        .post(replicas[1].webhook("acme"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(
        wait_for_bodies(&sim, 31, 1).await[0]["text"],
        "You said: hi"
    );
    // Whichever replica ran the event (any may take a session's work) shadowed it.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut different = 0;
        for admin in &admins {
            let (_, view) = admin
                .call(
                    reqwest::Method::GET,
                    "/admin/tenants/acme/candidate",
                    vec![],
                )
                .await;
            different += view["different"].as_u64().unwrap_or(0);
        }
        if different == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the event was shadowed {different} times"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Withdrawn through the second, it is gone from the first too.
    let (status, _) = admins[1]
        .call(
            reqwest::Method::DELETE,
            "/admin/tenants/acme/candidate",
            vec![],
        )
        .await;
    assert_eq!(status, 200);
    admins[0]
        .candidate_status_becomes(404, "replica 1 kept the withdrawn candidate")
        .await;
}

/// Which version answered each of `sessions` (by its reply's prefix), waiting for `per` replies each.
async fn versions(
    served: &Served,
    sessions: std::ops::Range<i64>,
    per: usize,
) -> Vec<(i64, Vec<String>)> {
    let mut seen = Vec::new();
    for session in sessions {
        let bodies = wait_for_bodies(&served.sim, session, per).await;
        let kinds = bodies
            .iter()
            .map(|b| {
                let text = b["text"].as_str().unwrap_or_default();
                if text.starts_with("You said: ") {
                    "serving"
                } else {
                    "candidate"
                }
                .to_owned()
            })
            .collect();
        seen.push((session, kinds));
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_serves_its_share_of_new_sessions_each_from_one_version() {
    let served = Served::start(
        "admin_token_env = \"ADMIN_TOKEN\"",
        &[("acme", plugins::ECHO, 1, "")],
    )
    .await;
    let admin = Admin::of(&served.server);
    // A session already running when the canary is set stays on the serving version.
    post(&served, 5_000, "before").await;
    wait_for_bodies(&served.sim, 5_000, 1).await;
    let bytes = std::fs::read(plugins::MISBEHAVING).unwrap();
    let (status, view) = admin
        .call(
            reqwest::Method::PUT,
            "/admin/tenants/acme/candidate?mode=canary&percent=50",
            bytes,
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["mode"], "canary");
    let sessions = 10_000..10_200;
    for round in 0..2 {
        for session in sessions.clone() {
            post(&served, session, &format!("m{round}")).await;
        }
    }
    post(&served, 5_000, "after").await;
    let seen = versions(&served, sessions, 2).await;
    let mut on_candidate = 0;
    for (session, kinds) in &seen {
        assert_eq!(
            kinds[0], kinds[1],
            "session {session} switched version: {kinds:?}"
        );
        on_candidate += usize::from(kinds[0] == "candidate");
    }
    // 50 % of 200 by a hash: within four standard deviations (±28).
    assert!(
        (72..=128).contains(&on_candidate),
        "{on_candidate} of 200 on the candidate"
    );
    let running = wait_for_bodies(&served.sim, 5_000, 2).await;
    assert_eq!(running[1]["text"], "You said: after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_canary_withdraws_itself_and_says_why() {
    let served = Served::start(
        "admin_token_env = \"ADMIN_TOKEN\"",
        &[("acme", plugins::ECHO, 1, "")],
    )
    .await;
    let admin = Admin::of(&served.server);
    // The candidate traps on "panic"; the serving echo bot answers it.
    let bytes = std::fs::read(plugins::MISBEHAVING).unwrap();
    let (status, view) = admin
        .call(
            reqwest::Method::PUT,
            "/admin/tenants/acme/candidate?mode=canary&percent=50&min_events=5&margin=0.2",
            bytes,
        )
        .await;
    assert_eq!(status, 200, "{view}");
    for session in 20_000..20_040 {
        post(&served, session, "panic").await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let reason = loop {
        let (status, view) = admin
            .call(
                reqwest::Method::GET,
                "/admin/tenants/acme/candidate",
                vec![],
            )
            .await;
        if status == 404 {
            break view["error"].as_str().unwrap().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the canary was never withdrawn: {view}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(reason.contains("withdrawn automatically"), "{reason}");
    assert!(reason.contains("failure rate"), "{reason}");
    // Withdrawn, it serves no one: a session of its share is answered by the serving version.
    let session = (30_000..)
        .find(|s| wasmbot::dispatch::canary::bucket(*s) < 50)
        .unwrap();
    post(&served, session, "panic").await;
    assert_eq!(
        wait_for_bodies(&served.sim, session, 1).await[0]["text"],
        "You said: panic"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_sessions_finish_on_their_version_across_a_swap_and_a_restart() {
    let pinned = "pin_sessions = true";
    let served = Served::start_with_files(
        "admin_token_env = \"ADMIN_TOKEN\"",
        &[("acme", "bot.wasm", 1, ""), ("brief", "brief.wasm", 2, "")],
        &[("bot.wasm", plugins::ECHO), ("brief.wasm", plugins::ECHO)],
    )
    .await;
    // The tenant options stand in the [[tenant]] tables, before their sub-tables.
    let text = std::fs::read_to_string(&served.config).unwrap();
    let text = text
        .replace(
            "plugin = \"bot.wasm\"\n",
            &format!("plugin = \"bot.wasm\"\n{pinned}\n"),
        )
        .replace(
            "plugin = \"brief.wasm\"\n",
            &format!("plugin = \"brief.wasm\"\n{pinned}\npin_max_age_secs = 1\n"),
        );
    std::fs::write(&served.config, text).unwrap();
    let Served {
        sim,
        dir,
        config,
        server,
    } = served;
    server.signal("TERM");
    server.wait(Duration::from_secs(20)).await;
    let server = ServeProcess::start(&config);
    let http = reqwest::Client::new();
    let send = |tenant: &'static str, session: i64, text: &'static str| {
        let (http, url) = (http.clone(), server.webhook(tenant));
        async move {
            let body = json!({"activity": "Text", "sessionId": session, "text": text});
            let answer = http.post(url).json(&body).send().await.unwrap();
            assert_eq!(answer.status().as_u16(), 200);
        }
    };
    let last = |session: i64, count: usize| {
        let sim = &sim;
        async move {
            let bodies = wait_for_bodies(sim, session, count).await;
            bodies[count - 1]["text"].as_str().unwrap().to_owned()
        }
    };
    send("acme", 1, "one").await;
    send("brief", 2, "one").await;
    assert_eq!(last(1, 1).await, "You said: one");
    assert_eq!(last(2, 1).await, "You said: one");
    // Swap both tenants to another version.
    let misbehaving = std::fs::read(plugins::MISBEHAVING).unwrap();
    for tenant in ["acme", "brief"] {
        let answer = http
            .put(format!(
                "{}/admin/tenants/{tenant}/plugin",
                server.admin_url
            ))
            .bearer_auth(ADMIN_TOKEN)
            .body(misbehaving.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200);
    }
    // The running conversation stays on its version; a new one gets the new version.
    send("acme", 1, "two").await;
    assert_eq!(last(1, 2).await, "You said: two");
    send("acme", 3, "new").await;
    assert_eq!(last(3, 1).await, "ok: new");
    // Past its maximum age, a conversation moves on.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    send("brief", 2, "two").await;
    assert_eq!(last(2, 2).await, "ok: two");
    // After a restart the pin and the earlier version are still there.
    server.signal("TERM");
    server.wait(Duration::from_secs(20)).await;
    let server = ServeProcess::start(&config);
    let body = json!({"activity": "Text", "sessionId": 1, "text": "three"});
    let answer = http
        .post(server.webhook("acme"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(last(1, 3).await, "You said: three");
    drop(dir);
}

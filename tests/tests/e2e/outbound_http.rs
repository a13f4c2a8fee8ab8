//! Bots' outbound HTTP (`wasi:http`) behind the real server: a loopback backend is reached
//! only by the tenant whose allowlist names it; private, link-local, metadata and unlisted
//! destinations are refused (the bot sees the error, the operator a log line and a metric);
//! the per-request timeout, the response size cap and the count per event hold.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use wasmbot_tests::serve_process::{Served, wait_for_bodies};
use wasmbot_tests::{plugins, text_body as text};

/// A backend on loopback: `/ping` answers `pong`, `/big` 2 MiB, `/slow` after 10 s. Counts
/// the requests it gets.
async fn backend() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let router = Router::new()
        .route("/ping", get(|| async { "pong" }))
        .route("/big", get(|| async { "x".repeat(2 << 20) }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            }),
        )
        .layer(axum::middleware::from_fn(
            move |request, next: axum::middleware::Next| {
                counted.fetch_add(1, Ordering::SeqCst);
                async move { next.run(request).await }
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("127.0.0.1:{}", address.port()), hits)
}

/// What the bot sees of a refused request (the fixture prints the `wasi:http` error code).
const DENIED: &str = "error: ErrorCode::HttpRequestDenied";

/// What the bot answered to `fetch URL…` in `session`, one line per URL.
async fn fetch(served: &Served, tenant: &str, session: i64, urls: &[String]) -> Vec<String> {
    let http = reqwest::Client::new();
    let response = http
        .post(served.server.webhook(tenant))
        .json(&text(session, &format!("fetch {}", urls.join(" "))))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let answer = wait_for_bodies(&served.sim, session, 1).await;
    let text = answer[0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer:?}"));
    text.lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_backend_is_reached_and_everything_else_is_refused() {
    let (backend, hits) = backend().await;
    let listed = format!(
        "timeout_ms = 4000\n[tenant.http]\nallowed_hosts = [\"http://{backend}\"]\n\
         timeout_ms = 500\nmax_body_kib = 64\nmax_requests_per_event = 3"
    );
    // Any host on any port, which still excludes loopback, private and metadata addresses.
    let anywhere = "[tenant.http]\nallowed_hosts = [\"*:*\"]";
    let served = Served::start(
        "",
        &[
            ("listed", plugins::MISBEHAVING, 1, &listed),
            ("unlisted", plugins::MISBEHAVING, 2, ""),
            ("anywhere", plugins::MISBEHAVING, 3, anywhere),
        ],
    )
    .await;
    let url = |path: &str| format!("http://{backend}{path}");

    // Listed: reached.
    assert_eq!(
        fetch(&served, "listed", 1, &[url("/ping")]).await,
        ["200 pong"]
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // The same backend from a tenant that does not list it, or from one that lists any host
    // (the backend is on loopback, which `*` does not name): refused before connecting.
    let refused = fetch(&served, "unlisted", 2, &[url("/ping")]).await;
    assert_eq!(refused, [DENIED]);
    let private = [
        url("/ping"),
        format!(
            "http://localhost:{}/ping",
            backend.split(':').nth(1).unwrap()
        ),
        "http://10.1.2.3/".into(),
        "http://192.168.0.1:8080/".into(),
        "http://169.254.169.254/latest/meta-data/".into(),
        "http://[::1]/".into(),
        "http://[::ffff:127.0.0.1]/".into(),
        "http://2130706433/".into(),
    ];
    let answers = fetch(&served, "anywhere", 3, &private[..3]).await;
    assert_eq!(answers, [DENIED; 3]);
    // Under the count limit of the default (10) the rest are refused too.
    let answers = fetch(&served, "anywhere", 4, &private[3..]).await;
    assert_eq!(answers, [DENIED; 5]);
    // Another port of the listed host is not listed.
    let other_port = fetch(&served, "listed", 5, &["http://127.0.0.1:9/".into()]).await;
    assert_eq!(other_port, [DENIED]);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "no refused request arrived");

    // The response size cap: the bot reads an error past 64 KiB.
    let big = fetch(&served, "listed", 6, &[url("/big")]).await;
    assert!(big[0].starts_with("error:"), "{big:?}");
    // The per-request timeout: the bot gets an error after 500 ms, not the 10 s answer.
    let started = Instant::now();
    let slow = fetch(&served, "listed", 7, &[url("/slow")]).await;
    assert!(slow[0].starts_with("error:"), "{slow:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // The count per event: the fourth request of an event is refused.
    let four = fetch(&served, "listed", 8, &vec![url("/ping"); 4]).await;
    assert_eq!(four, ["200 pong", "200 pong", "200 pong", DENIED]);

    // The operator sees each refusal: a metric per tenant and outcome, and a log line.
    let metrics = served.server.metrics().await;
    let count = |tenant: &str, outcome: &str| -> u64 {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("wasmbot_bot_http_requests_total{")
                    && l.contains(&format!("tenant=\"{tenant}\""))
                    && l.contains(&format!("outcome=\"{outcome}\""))
            })
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0)
    };
    assert_eq!(count("anywhere", "refused"), 8, "{metrics}");
    assert_eq!(count("unlisted", "refused"), 1, "{metrics}");
    assert_eq!(count("listed", "refused"), 2, "{metrics}");
    assert_eq!(count("listed", "sent"), 4, "{metrics}");
    // The big response (its length is over the cap) and the slow one.
    assert_eq!(count("listed", "failed"), 2, "{metrics}");

    served.server.signal("TERM");
    let (_, logs, _) = served.server.wait(Duration::from_secs(15)).await;
    let refusal = |needle: &str| {
        logs.iter().any(|l| {
            l.contains("outbound request was refused")
                && l.contains("anywhere")
                && l.contains(needle)
        })
    };
    assert!(
        refusal("169.254.169.254:80 is a cloud metadata address"),
        "{logs:#?}"
    );
    assert!(refusal("10.1.2.3:80 is a private address"), "{logs:#?}");
    assert!(refusal("localhost"), "{logs:#?}");
}

//! What an operator meets: the operations routes on a listener of their own
//! (`server.admin_listen`), nothing that names tenants on the webhook port, and readiness that
//! follows the replica's storage rather than one tenant's plugin.

use std::time::{Duration, Instant};

use wasmbot_tests::plugins;
use wasmbot_tests::postgres::PgServer;
use wasmbot_tests::serve_process::{
    ADMIN_TOKEN, ServeProcess, Served, TOKEN, simulator, write_config,
};

const ADMIN_LISTEN: &str = "admin_listen = \"127.0.0.1:0\"\nadmin_token_env = \"ADMIN_TOKEN\"";

async fn status(http: &reqwest::Client, url: &str) -> u16 {
    http.get(url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_admin_listener_the_webhook_port_serves_webhooks_and_healthz_only() {
    let served = Served::start(ADMIN_LISTEN, &[("acme", plugins::ECHO, 1, "")]).await;
    let server = &served.server;
    assert_ne!(server.url, server.admin_url, "two listeners");
    let http = reqwest::Client::new();
    // The operations routes are absent from the webhook port, even with the admin token.
    for route in [
        "/metrics",
        "/readyz",
        "/admin/tenants",
        "/admin/tenants/acme",
    ] {
        assert_eq!(
            status(&http, &format!("{}{route}", server.url)).await,
            404,
            "{route}"
        );
        assert_eq!(
            status(&http, &format!("{}{route}", server.admin_url)).await,
            200,
            "{route}"
        );
    }
    assert_eq!(status(&http, &format!("{}/healthz", server.url)).await, 200);
    assert_eq!(
        status(&http, &format!("{}/healthz", server.admin_url)).await,
        200
    );
    // Webhooks are not served on the admin port.
    let body = serde_json::json!({"activity": "Text", "sessionId": 1, "text": "hi"});
    let on_admin = http
        .post(format!(
            "{}/webhook/acme?access_token={TOKEN}",
            server.admin_url
        ))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(on_admin.status().as_u16(), 404);
    let on_webhooks = http
        .post(server.webhook("acme"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(on_webhooks.status().as_u16(), 200);
    // The URL probe answers only the tenant's token, and the same for an unknown tenant.
    let probe = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(probe(server.webhook("acme")).await, 200);
    assert_eq!(probe(format!("{}/webhook/acme", server.url)).await, 404);
    assert_eq!(
        probe(format!("{}/webhook/acme?access_token=wrong", server.url)).await,
        404
    );
    assert_eq!(
        probe(format!(
            "{}/webhook/nobody?access_token={TOKEN}",
            server.url
        ))
        .await,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_webhooks_to_unknown_tenants_are_logged_a_few_times_per_window() {
    let served = Served::start("", &[("acme", plugins::ECHO, 1, "")]).await;
    let http = reqwest::Client::new();
    let body = serde_json::json!({"activity": "Text", "sessionId": 1, "text": "hi"});
    for i in 0..200 {
        let url = format!(
            "{}/webhook/nobody{i}?access_token={TOKEN}",
            served.server.url
        );
        let answer = http.post(url).json(&body).send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 404);
    }
    let Served { server, .. } = served;
    server.signal("TERM");
    let (_, logs, _) = server.wait(Duration::from_secs(20)).await;
    let refused = logs
        .iter()
        .filter(|l| l.contains("webhook refused"))
        .count();
    assert!(
        (1..=10).contains(&refused),
        "{refused} warnings for 200 refusals"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_turns_503_while_storage_is_unreachable_and_recovers() {
    let pg = PgServer::start();
    let url = pg.new_database();
    let (_sim, sim_url) = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &sim_url,
        &format!("{ADMIN_LISTEN}\n[storage]\nbackend = \"postgres\"\nurl_env = \"DATABASE_URL\""),
        &[("acme", plugins::ECHO, 1, "")],
    );
    let server = ServeProcess::start_with_env(&config, &[("DATABASE_URL", &url)]);
    let http = reqwest::Client::new();
    let readyz = format!("{}/readyz", server.admin_url);
    let wait_for = |expected: u16| {
        let (http, readyz) = (http.clone(), readyz.clone());
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let answer = http.get(&readyz).send().await.unwrap();
                let code = answer.status().as_u16();
                let body = answer.text().await.unwrap();
                if code == expected {
                    return body;
                }
                assert!(Instant::now() < deadline, "readyz stayed {code}: {body}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    wait_for(200).await;
    pg.stop();
    let body = wait_for(503).await;
    assert!(body.starts_with("storage unreachable"), "{body}");
    pg.start_again();
    let body = wait_for(200).await;
    assert!(body.starts_with("ready"), "{body}");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_of_the_openapi_document_is_served_on_the_admin_listener() {
    let served = Served::start(ADMIN_LISTEN, &[("acme", plugins::ECHO, 1, "")]).await;
    let server = &served.server;
    let http = reqwest::Client::new();
    let document: serde_json::Value = http
        .get(format!("{}/admin/openapi.json", server.admin_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 10);
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let url = format!("{}{}", server.admin_url, path.replace("{id}", "acme"));
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let answer = http
                .request(method.clone(), &url)
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap();
            let status = answer.status().as_u16();
            let body = answer.text().await.unwrap();
            // Served (whatever it answers to an empty request: a 404 of the route itself,
            // such as "no candidate", comes as a JSON error), not unknown to the router.
            let routed = status != 405 && (status != 404 || body.contains("\"error\""));
            assert!(routed, "{method} {path}: {status} {body}");
            // And not on the webhook port.
            let on_webhooks = url.replace(&server.admin_url, &server.url);
            let status = http
                .request(method.clone(), &on_webhooks)
                .send()
                .await
                .unwrap();
            assert_eq!(
                status.status().as_u16(),
                404,
                "{method} {path} on the webhook port"
            );
        }
    }
}

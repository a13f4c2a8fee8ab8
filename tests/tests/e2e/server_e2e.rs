//! End to end over loopback: a real `wasmbot` server with the real plugins, and the mluvii
//! simulator as the token endpoint and Send API.

use std::time::Duration;

use serde_json::{Value, json};
use wasmbot_tests::server::{Harness, TestTenant, group};
use wasmbot_tests::{get_status, plugins};

fn echo() -> TestTenant<'static> {
    TestTenant {
        id: "acme",
        plugin: plugins::ECHO,
        settings: "{ greeting = \"Hi!\" }",
    }
}

fn text(session: i64, text: &str) -> Value {
    json!({"activity": "Text", "sessionId": session, "text": text, "language": "en", "source": "Default"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_webhook_produces_the_reply_at_the_send_api_with_a_bearer_token() {
    let h = Harness::start(&[echo()], Duration::from_secs(3600)).await;
    let started = json!({"activity": "ConversationStarted", "sessionId": 1, "timestamp": "2020-09-09T09:59:49.5640515+02:00"});
    assert_eq!(h.post("acme", &started).await, (200, "OK".into()));
    assert_eq!(h.post("acme", &text(1, "Hello world!")).await.0, 200);
    let bodies = h.wait_for_bodies(1, 2).await;
    assert_eq!(bodies[0]["text"], "Hi!");
    assert_eq!(bodies[1]["sessionId"], 1);
    assert_eq!(bodies[1]["type"], "message");
    assert_eq!(bodies[1]["text"], "You said: Hello world!");
    let received = h.sim.received();
    assert!(
        received
            .iter()
            .all(|r| r.chatbot_id == 100 && r.token == "sim-token-1")
    );
    assert_eq!(
        h.sim.token_requests(),
        1,
        "the token is fetched once and reused"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_refreshed_before_expiry_and_after_a_401() {
    // A 2-second token is refreshed half-way, after 1 second.
    let h = Harness::start(&[echo()], Duration::from_secs(2)).await;
    h.post("acme", &text(1, "one")).await;
    h.wait_for_bodies(1, 1).await;
    assert_eq!(h.sim.token_requests(), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    h.post("acme", &text(1, "two")).await;
    let bodies = h.wait_for_bodies(1, 2).await;
    assert_eq!(bodies[1]["text"], "You said: two");
    assert_eq!(h.sim.token_requests(), 2);
    assert_eq!(h.sim.received()[1].token, "sim-token-2");
    h.sim.revoke_tokens();
    h.post("acme", &text(1, "three")).await;
    let bodies = h.wait_for_bodies(1, 3).await;
    assert_eq!(bodies[2]["text"], "You said: three");
    assert_eq!(h.sim.token_requests(), 3, "a 401 fetches a new token once");
    assert_eq!(
        h.sim.unauthorized_count(),
        1,
        "one request was refused, then retried"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_4xx_with_a_reason() {
    let h = Harness::start(&[echo()], Duration::from_secs(3600)).await;
    let url = |tenant: &str, query: &str| format!("{}/webhook/{tenant}{query}", h.host_url);
    let post = |url: String, body: String| {
        let http = h.http.clone();
        async move {
            let r = http
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let ok_query = format!("?access_token={}", h.token);
    let body = text(1, "x").to_string();
    assert_eq!(post(url("nobody", &ok_query), body.clone()).await.0, 404);
    assert_eq!(
        post(url("acme", ""), body.clone()).await,
        (401, "missing webhook token".into())
    );
    assert_eq!(
        post(url("acme", "?access_token=nope"), body.clone()).await,
        (401, "wrong webhook token".into())
    );
    let big = format!(
        r#"{{"activity":"Text","sessionId":1,"text":"{}"}}"#,
        "x".repeat(300 * 1024)
    );
    assert_eq!(post(url("acme", &ok_query), big).await.0, 413);
    let (status, reason) = post(url("acme", &ok_query), "{oops".into()).await;
    assert_eq!(status, 400);
    assert!(reason.contains("not valid JSON"), "{reason}");
    let (status, reason) = post(
        url("acme", &ok_query),
        r#"{"activity":"Text","text":"x"}"#.into(),
    )
    .await;
    assert_eq!(
        (status, reason.as_str()),
        (400, "`Text` has no `sessionId`")
    );
    for ping in [r#"{"activity":"Ping"}"#, r#"{"Activity":"ping"}"#] {
        assert_eq!(post(url("acme", &ok_query), ping.into()).await.0, 200);
    }
    // Bearer and Basic are accepted too.
    let bearer = h
        .http
        .post(url("acme", ""))
        .bearer_auth(&h.token)
        .json(&text(2, "b"))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status().as_u16(), 200);
    let basic = h
        .http
        .post(url("acme", ""))
        .basic_auth("mluvii", Some(&h.token))
        .json(&text(2, "c"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status().as_u16(), 200);
    // The URL probe answers only with the tenant's token.
    let probe = url("acme", &format!("?access_token={}", h.token));
    assert_eq!(get_status(&h.http, &probe).await, 200);
    assert_eq!(get_status(&h.http, &url("acme", "")).await, 404);
    h.wait_for_bodies(2, 2).await;
    let metrics = h
        .http
        .get(format!("{}/metrics", h.host_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"wasmbot_webhooks_total{tenant="acme",outcome="unauthorized"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"wasmbot_webhooks_total{tenant="unknown",outcome="unknown_tenant"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"wasmbot_activities_sent_total{tenant="acme"} 2"#),
        "{metrics}"
    );
    assert_eq!(
        get_status(&h.http, &format!("{}/readyz", h.host_url)).await,
        200
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_session_order_holds_for_200_concurrent_events_of_20_sessions() {
    let h = Harness::start(&[echo()], Duration::from_secs(3600)).await;
    let mut posters = Vec::new();
    for session in 0..20i64 {
        let (http, url) = (h.http.clone(), h.webhook_url("acme"));
        posters.push(tokio::spawn(async move {
            for i in 0..10 {
                let r = http
                    .post(&url)
                    .json(&text(session, &format!("s{session}-{i}")))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 200);
            }
        }));
    }
    for p in posters {
        p.await.unwrap();
    }
    for session in 0..20i64 {
        let texts: Vec<String> = h
            .wait_for_bodies(session, 10)
            .await
            .iter()
            .map(|b| b["text"].as_str().unwrap().to_owned())
            .collect();
        let expected: Vec<String> = (0..10)
            .map(|i| format!("You said: s{session}-{i}"))
            .collect();
        assert_eq!(texts, expected);
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_send_api_failures_are_retried() {
    let h = Harness::start(&[echo()], Duration::from_secs(3600)).await;
    h.sim.inject_faults([503, 500, 429]);
    h.post("acme", &text(5, "persist")).await;
    let bodies = h.wait_for_bodies(5, 1).await;
    assert_eq!(bodies[0]["text"], "You said: persist");
    let metrics = h.state.metrics.render();
    assert!(
        !metrics.contains("wasmbot_activities_failed_total{"),
        "{metrics}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_delivers_what_was_accepted() {
    let h = Harness::start(&[echo()], Duration::from_secs(3600)).await;
    // Slow delivery down with failures, so events are still in flight when shutdown starts.
    h.sim.inject_faults([503, 503, 503]);
    for i in 0..5 {
        assert_eq!(h.post("acme", &text(9, &format!("m{i}"))).await.0, 200);
    }
    let sim = h.sim.clone();
    h.stop().await;
    let texts: Vec<Value> = sim
        .session_bodies(9)
        .iter()
        .map(|b| b["text"].clone())
        .collect();
    assert_eq!(
        texts,
        (0..5)
            .map(|i| json!(format!("You said: m{i}")))
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_support_bot_hands_off_through_the_simulators_async_answers() {
    let support = TestTenant {
        id: "support",
        plugin: plugins::SUPPORT,
        settings: "{}",
    };
    let h = Harness::start(&[echo(), support], Duration::from_secs(3600)).await;
    h.post(
        "support",
        &json!({"activity": "ConversationStarted", "sessionId": 30}),
    )
    .await;
    h.post("support", &text(30, "Sales")).await;
    // SetCallParams, text, Typing, GetAvailableGroups; the simulator answers the request and
    // the bot hands off: Typing(false), text, HandOff.
    let bodies = h.wait_for_bodies(30, 8).await;
    assert_eq!(bodies[4]["activity"], "GetAvailableGroups");
    assert_eq!(bodies[7], json!({"sessionId": 30, "activity": "HandOff"}));

    h.sim.set_groups(vec![group(7299, "OFFLINE")]);
    h.post("support", &text(31, "Complaint")).await;
    let bodies = h.wait_for_bodies(31, 6).await;
    assert!(
        bodies[5]["text"]
            .as_str()
            .unwrap()
            .contains("e-mail address")
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_conversation_started_and_duplicate_messages_reach_the_bot_as_they_came() {
    let h = Harness::start(&[echo()], Duration::from_secs(3600)).await;
    let started = json!({"activity": "ConversationStarted", "sessionId": 3});
    for body in [&started, &text(3, "first"), &text(3, "first"), &started] {
        assert_eq!(h.post("acme", body).await.0, 200);
    }
    let texts: Vec<Value> = h
        .wait_for_bodies(3, 4)
        .await
        .iter()
        .map(|b| b["text"].clone())
        .collect();
    assert_eq!(
        texts,
        vec![
            json!("Hi!"),
            json!("You said: first"),
            json!("You said: first"),
            json!("Hi!")
        ]
    );
    h.stop().await;
}

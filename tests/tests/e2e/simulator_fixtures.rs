//! The simulator is the e2e tests' mluvii, so a bug it shares with the product would pass
//! unnoticed. These tests check it against mluvii's documented examples in `fixtures/mluvii/`,
//! read as plain text and JSON, without the product's wire types.

use serde_json::{Map, Value};
use wasmbot_tests::fixture;
use wasmbot_tests::serve_process::{SECRET, simulator};

/// The keys of a JSON object fixture.
fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

/// Fills the documented token form with the simulator's credentials.
fn token_form() -> String {
    let text = std::fs::read_to_string(fixture("auth-token-request.form")).unwrap();
    let body = text.lines().last().unwrap();
    assert!(body.starts_with("response_type=token&grant_type=client_credentials"));
    body.replace("<API username>", "client")
        .replace("<API password>", SECRET)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoint_takes_the_documented_form_and_answers_the_documented_shape() {
    let (_sim, url) = simulator().await;
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{url}/login/connect/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(token_form())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().await.unwrap();
    let documented: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("auth-token-response.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(keys(&answer), keys(&documented));
    assert_eq!(answer["token_type"], "Bearer");
    assert!(answer["expires_in"].is_u64());
    let wrong = token_form().replace(SECRET, "not-the-secret");
    let refused = http
        .post(format!("{url}/login/connect/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_send_api_accepts_every_documented_outbound_body_and_refuses_others() {
    let (sim, url) = simulator().await;
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{url}/login/connect/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(token_form())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let dir = fixture("");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("out-") && n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(names.len() > 30, "{names:?}");
    let send = |body: String, token: String| {
        let http = http.clone();
        let url = format!("{url}/api/v1/Chatbot/166/activity");
        async move {
            http.post(url)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for name in &names {
        let body = std::fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(send(body, token.clone()).await, 200, "{name}");
    }
    assert_eq!(sim.received().len(), names.len());
    let no_session = Value::Object(Map::from_iter([(
        "type".to_owned(),
        Value::String("message".into()),
    )]));
    assert_eq!(send(no_session.to_string(), token.clone()).await, 400);
    assert_eq!(send("{}".into(), "wrong-token".into()).await, 401);
    assert_eq!(sim.unauthorized_count(), 1);
}

//! The plain native service of `wasmbot bench --bot plain`: the echo job without wasmbot, as
//! a small Rust service would do it. axum takes the webhook and answers `200` at once; a task
//! per session posts `You said: …` to the Send API in order with reqwest. No sandbox, no
//! journal, no retries, no pacing: the baseline wasmbot's path is compared with.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// The service's state: the Send API and the sessions with work queued.
struct Plain {
    http: reqwest::Client,
    send_url: String,
    sessions: Mutex<HashMap<i64, mpsc::UnboundedSender<String>>>,
}

/// The service's routes (`POST /webhook/{tenant}`), sending to the Send API at `mluvii_url`.
pub fn router(mluvii_url: &str) -> Router {
    let plain = Arc::new(Plain {
        http: reqwest::Client::new(),
        send_url: format!("{mluvii_url}/api/v1/Chatbot/0/activity"),
        sessions: Mutex::new(HashMap::new()),
    });
    Router::new()
        .route("/webhook/{tenant}", post(receive))
        .with_state(plain)
}

async fn receive(State(plain): State<Arc<Plain>>, body: Bytes) -> (StatusCode, &'static str) {
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON");
    };
    let (Some(session), Some(text)) = (event["sessionId"].as_i64(), event["text"].as_str()) else {
        return (StatusCode::OK, "OK");
    };
    let mut sessions = plain.sessions.lock().unwrap_or_else(|e| e.into_inner());
    let queue = sessions.entry(session).or_insert_with(|| {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(deliver(plain.clone(), session, rx));
        tx
    });
    let _ = queue.send(text.to_owned());
    (StatusCode::OK, "OK")
}

/// Sends the session's replies in order; ends (forgetting the session) once its queue is
/// empty, checked under the lock the webhook handler enqueues under.
async fn deliver(plain: Arc<Plain>, session: i64, mut queue: mpsc::UnboundedReceiver<String>) {
    loop {
        while let Ok(text) = queue.try_recv() {
            let body = json!({"sessionId": session, "type": "message", "text": format!("You said: {text}")});
            let _ = plain.http.post(&plain.send_url).json(&body).send().await;
        }
        let mut sessions = plain.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if queue.is_empty() {
            sessions.remove(&session);
            return;
        }
    }
}

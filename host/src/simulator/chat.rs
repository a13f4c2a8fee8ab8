//! The simulator's web chat: a page where a person chats with a bot as a mluvii guest would,
//! and the small JSON API behind it (open a chat, send a message, set the groups' state).

use std::sync::atomic::{AtomicI64, Ordering};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Simulator;
use crate::mluvii::inbound::AvailableGroup;

const PAGE: &str = include_str!("chat_page.html");

static NEXT_SESSION: AtomicI64 = AtomicI64::new(1000);

/// Routes of the chat page, for the simulator's router.
pub fn routes() -> Router<Simulator> {
    Router::new()
        .route("/", get(page))
        .route("/sim/bots", get(bots))
        .route("/sim/chat/{chatbot_id}/start", post(start))
        .route("/sim/chat/{chatbot_id}/{session_id}/send", post(send))
        .route("/sim/groups", post(set_groups))
        .route("/sim/dev/feed", get(dev_feed))
}

#[derive(Deserialize)]
struct After {
    #[serde(default)]
    after: u64,
}

/// `GET /sim/dev/feed?after=N`: dev mode's feed entries after `N`; 404 outside dev mode.
async fn dev_feed(
    State(sim): State<Simulator>,
    axum::extract::Query(after): axum::extract::Query<After>,
) -> (StatusCode, Json<Value>) {
    let feed = sim
        .dev_feed
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    match feed {
        Some(feed) => (StatusCode::OK, Json(json!(feed.since(after.after)))),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "not in dev mode"})),
        ),
    }
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn bots(State(sim): State<Simulator>) -> Json<Value> {
    let mut bots: Vec<Value> = sim
        .webhooks
        .lock()
        .unwrap()
        .iter()
        .map(|(id, target)| json!({"chatbotId": id, "name": target.name}))
        .collect();
    bots.sort_by_key(|b| b["chatbotId"].as_i64());
    Json(json!(bots))
}

async fn start(
    State(sim): State<Simulator>,
    Path(chatbot_id): Path<i64>,
) -> (StatusCode, Json<Value>) {
    let session_id = NEXT_SESSION.fetch_add(1, Ordering::SeqCst);
    let body = json!({"activity": "ConversationStarted", "sessionId": session_id,
        "timestamp": crate::mluvii::lenient::now_timestamp(), "language": "en", "source": "Default"});
    post_webhook(&sim, chatbot_id, &body, json!({"sessionId": session_id})).await
}

/// Posts `body` to the chatbot's webhook; `ok` is the page's answer when wasmbot took it.
async fn post_webhook(
    sim: &Simulator,
    chatbot_id: i64,
    body: &Value,
    ok: Value,
) -> (StatusCode, Json<Value>) {
    match sim.post_webhook(chatbot_id, body).await {
        Ok(200) => (StatusCode::OK, Json(ok)),
        Ok(status) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({"error": format!("wasmbot answered {status}")})),
        ),
        Err(e) => (StatusCode::BAD_GATEWAY, Json(json!({"error": e}))),
    }
}

#[derive(Deserialize)]
struct Say {
    text: String,
}

async fn send(
    State(sim): State<Simulator>,
    Path((chatbot_id, session_id)): Path<(i64, i64)>,
    Json(say): Json<Say>,
) -> (StatusCode, Json<Value>) {
    let body = json!({"activity": "Text", "sessionId": session_id, "text": say.text,
        "timestamp": crate::mluvii::lenient::now_timestamp(), "language": "en", "source": "Default"});
    post_webhook(&sim, chatbot_id, &body, json!({})).await
}

#[derive(Deserialize)]
struct GroupsState {
    state: String,
}

async fn set_groups(State(sim): State<Simulator>, Json(wanted): Json<GroupsState>) -> StatusCode {
    let state = wanted.state.to_ascii_uppercase();
    if !["ONLINE", "BUSY", "OFFLINE"].contains(&state.as_str()) {
        return StatusCode::BAD_REQUEST;
    }
    let groups: Vec<AvailableGroup> = sim
        .config
        .lock()
        .unwrap()
        .groups
        .iter()
        .cloned()
        .map(|mut g| {
            g.group_offline_reasons = Some(if state == "OFFLINE" {
                vec!["NO_OPERATORS".into()]
            } else {
                vec![]
            });
            g.group_state = Some(state.clone());
            g
        })
        .collect();
    sim.set_groups(groups);
    StatusCode::NO_CONTENT
}

//! A local stand-in for mluvii that speaks the real protocol: the OAuth token endpoint, the
//! Send API (recording what the bot sends), and asynchronous answers to request activities
//! delivered through the host's webhook, as mluvii does. Used by the end-to-end tests and by
//! `wasmbot dev`.

mod chat;
mod responses;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::dev::feed::DevFeed;
use crate::mluvii::SendActivity;
use crate::mluvii::inbound::AvailableGroup;

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// The OAuth client id it accepts.
    pub client_id: String,
    /// The OAuth client secret it accepts.
    pub client_secret: String,
    /// `expires_in` of the tokens it issues.
    pub token_lifetime: Duration,
    /// The groups `GetAvailableGroups` reports.
    pub groups: Vec<AvailableGroup>,
}

/// One Send API request the simulator accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// The chatbot id in the path.
    pub chatbot_id: i64,
    /// The body as posted.
    pub body: Value,
    /// The bearer token it carried.
    pub token: String,
}

#[derive(Default)]
struct Recorded {
    token_requests: usize,
    tokens: HashMap<String, Instant>,
    received: Vec<Received>,
    faults: VecDeque<u16>,
    outage: Option<Outage>,
    token_outage: bool,
    unauthorized: usize,
    attempts: usize,
    call_params: HashMap<i64, BTreeMap<String, String>>,
}

/// Every Send API request is answered with `status` (and `Retry-After: retry_after`, if set)
/// until the outage ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    /// The status answered.
    pub status: u16,
    /// The `Retry-After` header, in seconds.
    pub retry_after: Option<u64>,
}

/// Where the simulator posts webhooks: the host's URL for the chatbot, token included.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    /// e.g. `http://127.0.0.1:8080/webhook/demo?access_token=…`
    pub url: String,
    /// A name for the chat page (the tenant id).
    pub name: String,
}

/// The simulator's shared state; clone freely.
#[derive(Clone)]
pub struct Simulator {
    config: Arc<Mutex<SimulatorConfig>>,
    recorded: Arc<Mutex<Recorded>>,
    webhooks: Arc<Mutex<HashMap<i64, WebhookTarget>>>,
    dev_feed: Arc<Mutex<Option<Arc<DevFeed>>>>,
    http: reqwest::Client,
}

impl Simulator {
    /// A simulator with `config`.
    pub fn new(config: SimulatorConfig) -> Self {
        Self {
            config: Arc::new(Mutex::new(config)),
            recorded: Arc::default(),
            webhooks: Arc::default(),
            dev_feed: Arc::default(),
            http: reqwest::Client::new(),
        }
    }

    /// Shows dev mode's feed (bot logs, activities, plugin updates, builds) on the chat page.
    pub fn show_dev_feed(&self, feed: Arc<DevFeed>) {
        *self.dev_feed.lock().unwrap_or_else(|p| p.into_inner()) = Some(feed);
    }

    fn recorded(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.recorded.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Routes answers to chatbot `chatbot_id`'s requests to `target`.
    pub fn connect_chatbot(&self, chatbot_id: i64, target: WebhookTarget) {
        self.webhooks.lock().unwrap().insert(chatbot_id, target);
    }

    /// Replaces the groups `GetAvailableGroups` reports.
    pub fn set_groups(&self, groups: Vec<AvailableGroup>) {
        self.config.lock().unwrap().groups = groups;
    }

    /// The next `statuses.len()` Send API requests are answered with these statuses.
    pub fn inject_faults(&self, statuses: impl IntoIterator<Item = u16>) {
        self.recorded().faults.extend(statuses);
    }

    /// Starts (`Some`) or ends (`None`) an outage of the Send API.
    pub fn set_outage(&self, outage: Option<Outage>) {
        self.recorded().outage = outage;
    }

    /// Makes the token endpoint answer 503 (`true`) or work again.
    pub fn set_token_outage(&self, failing: bool) {
        self.recorded().token_outage = failing;
    }

    /// How many Send API requests arrived, whatever the answer.
    pub fn send_attempts(&self) -> usize {
        self.recorded().attempts
    }

    /// How many Send API requests were refused with 401.
    pub fn unauthorized_count(&self) -> usize {
        self.recorded().unauthorized
    }

    /// Invalidates every issued token (the next Send API request gets a 401).
    pub fn revoke_tokens(&self) {
        self.recorded().tokens.clear();
    }

    /// How many tokens were issued.
    pub fn token_requests(&self) -> usize {
        self.recorded().token_requests
    }

    /// Every accepted Send API request, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.recorded().received.clone()
    }

    /// The accepted bodies of one session, in arrival order.
    pub fn session_bodies(&self, session_id: i64) -> Vec<Value> {
        self.recorded()
            .received
            .iter()
            .filter(|r| r.body["sessionId"] == json!(session_id))
            .map(|r| r.body.clone())
            .collect()
    }

    /// The router of mluvii's endpoints.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/login/connect/token", post(token))
            .route("/api/v1/Chatbot/{chatbot_id}/activity", post(send_activity))
            .route(
                "/sim/sessions/{session_id}/activities",
                get(session_activities),
            )
            .merge(chat::routes())
            .with_state(self.clone())
    }

    /// Posts a webhook body to the host as mluvii would (used for answers and by the chat page).
    pub async fn post_webhook(&self, chatbot_id: i64, body: &Value) -> Result<u16, String> {
        let target = self.webhooks.lock().unwrap().get(&chatbot_id).cloned();
        let Some(target) = target else {
            return Err(format!(
                "chatbot {chatbot_id} is not connected to a webhook"
            ));
        };
        let response = self
            .http
            .post(&target.url)
            .json(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        Ok(response.status().as_u16())
    }
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    client_id: String,
    client_secret: String,
}

async fn token(
    State(sim): State<Simulator>,
    Form(form): Form<TokenForm>,
) -> (StatusCode, Json<Value>) {
    let config = sim.config.lock().unwrap().clone();
    if form.grant_type != "client_credentials" {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unsupported_grant_type"})),
        );
    }
    if form.client_id != config.client_id || form.client_secret != config.client_secret {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_client"})),
        );
    }
    let mut recorded = sim.recorded();
    if recorded.token_outage {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "temporarily_unavailable"})),
        );
    }
    recorded.token_requests += 1;
    let value = format!("sim-token-{}", recorded.token_requests);
    recorded
        .tokens
        .insert(value.clone(), Instant::now() + config.token_lifetime);
    (
        StatusCode::OK,
        Json(
            json!({"access_token": value, "expires_in": config.token_lifetime.as_secs(),
            "token_type": "Bearer"}),
        ),
    )
}

async fn send_activity(
    State(sim): State<Simulator>,
    Path(chatbot_id): Path<i64>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let activity = {
        let mut recorded = sim.recorded();
        recorded.attempts += 1;
        let valid = recorded
            .tokens
            .get(&token)
            .is_some_and(|expiry| Instant::now() < *expiry);
        if !valid {
            recorded.unauthorized += 1;
            return (StatusCode::UNAUTHORIZED, "invalid or expired token").into_response();
        }
        if let Some(outage) = recorded.outage {
            let mut response =
                (StatusCode::from_u16(outage.status).unwrap(), "outage").into_response();
            if let Some(seconds) = outage.retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", seconds.to_string().parse().unwrap());
            }
            return response;
        }
        if let Some(status) = recorded.faults.pop_front() {
            return (StatusCode::from_u16(status).unwrap(), "injected fault").into_response();
        }
        let activity: SendActivity = match serde_json::from_value(body.clone()) {
            Ok(a) => a,
            Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        };
        recorded.received.push(Received {
            chatbot_id,
            body,
            token,
        });
        activity
    };
    let groups = sim.config.lock().unwrap().groups.clone();
    let answer = {
        let mut recorded = sim.recorded();
        let params = recorded.call_params.entry(activity.session_id).or_default();
        responses::answer(&activity, params, &groups)
    };
    if let Some(answer) = answer {
        let sim = sim.clone();
        tokio::spawn(async move {
            // mluvii answers asynchronously, after the Send API call returned.
            tokio::time::sleep(Duration::from_millis(20)).await;
            if let Err(e) = sim.post_webhook(chatbot_id, &answer).await {
                tracing::warn!(error = %e, "simulator could not post an answer");
            }
        });
    }
    StatusCode::OK.into_response()
}

async fn session_activities(
    State(sim): State<Simulator>,
    Path(session_id): Path<i64>,
) -> Json<Vec<Value>> {
    Json(sim.session_bodies(session_id))
}

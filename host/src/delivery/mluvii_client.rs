//! The Send API client of one tenant: the OAuth client-credentials token (cached, refreshed
//! before it expires and once per rejected token on a 401, one fetch at a time), one delivery
//! attempt per call with its outcome classified, and pacing so no session exceeds mluvii's 120
//! requests per minute. Retrying is the sender's job (`dispatch::sender`).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use crate::config::Secret;

/// mluvii's limit: requests per session per [`RATE_WINDOW`].
pub const RATE_LIMIT: usize = 120;
/// The window of [`RATE_LIMIT`].
pub const RATE_WINDOW: Duration = Duration::from_secs(60);
/// Time limit of one request to mluvii.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// The longest a token is used before it is fetched again, whatever `expires_in` said.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Where and as whom a tenant talks to mluvii.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MluviiEndpoint {
    /// `https://app.mluvii.com` or an on-premise host (no trailing slash needed).
    pub base_url: String,
    /// The chatbot's id.
    pub chatbot_id: i64,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: Secret,
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// mluvii took the activity.
    Delivered,
    /// Worth retrying: a connection error, a timeout, 408, 429, 5xx, a failed token fetch, or
    /// a 401 with a fresh token.
    Transient {
        /// What went wrong.
        reason: String,
        /// How long mluvii asked us to wait (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// mluvii refused the activity for good (another 4xx, or a redirect to another origin).
    Refused {
        /// What mluvii said.
        reason: String,
    },
}

impl Attempt {
    /// `delivered`, `transient` or `refused` (metrics, traces).
    pub fn outcome(&self) -> &'static str {
        match self {
            Attempt::Delivered => "delivered",
            Attempt::Transient { .. } => "transient",
            Attempt::Refused { .. } => "refused",
        }
    }
}

#[derive(Debug, Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Debug, Clone)]
struct CachedToken {
    value: String,
    refresh_at: Instant,
}

/// Sends one tenant's activities to mluvii.
pub struct MluviiClient {
    http: reqwest::Client,
    endpoint: MluviiEndpoint,
    token: tokio::sync::Mutex<Option<CachedToken>>,
    pacing: Mutex<HashMap<i64, VecDeque<Instant>>>,
    last_prune: Mutex<Instant>,
}

/// The shared HTTP client for mluvii: connection pooling, and redirects followed only within
/// the same origin (a redirect elsewhere must not carry the token form or a bearer token).
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt.previous().first().is_some_and(|first| {
            first.scheme() == attempt.url().scheme()
                && first.host_str() == attempt.url().host_str()
                && first.port_or_known_default() == attempt.url().port_or_known_default()
        });
        if same_origin && attempt.previous().len() < 5 {
            attempt.follow()
        } else {
            attempt.stop()
        }
    });
    reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(90))
        .redirect(policy)
        .build()
        .map_err(|e| anyhow::anyhow!("creating the HTTP client: {e}"))
}

/// The wait a `Retry-After` header asks for: seconds, or an HTTP date (none if it is past).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

impl MluviiClient {
    /// Where and as whom it talks to mluvii.
    pub fn endpoint(&self) -> &MluviiEndpoint {
        &self.endpoint
    }

    /// A client on the shared connection pool `http` (see [`http_client`]).
    pub fn new(http: reqwest::Client, endpoint: MluviiEndpoint) -> Self {
        Self {
            http,
            endpoint,
            token: tokio::sync::Mutex::new(None),
            pacing: Mutex::new(HashMap::new()),
            last_prune: Mutex::new(Instant::now()),
        }
    }

    fn base(&self) -> &str {
        self.endpoint.base_url.trim_end_matches('/')
    }

    /// One attempt to deliver `body` (Send API JSON): a token (cached or fetched), the POST,
    /// and on a 401 one refresh of that token and a second POST.
    pub async fn attempt(&self, body: &str) -> Attempt {
        let url = format!(
            "{}/api/v1/Chatbot/{}/activity",
            self.base(),
            self.endpoint.chatbot_id
        );
        let token = match self.token(None).await {
            Ok(token) => token,
            Err(reason) => return transient(reason, None),
        };
        match self.post(&url, &token, body).await {
            Posted::Done(outcome) => outcome,
            Posted::Unauthorized => {
                let fresh = match self.token(Some(&token)).await {
                    Ok(fresh) => fresh,
                    Err(reason) => return transient(reason, None),
                };
                match self.post(&url, &fresh, body).await {
                    Posted::Done(outcome) => outcome,
                    Posted::Unauthorized => {
                        transient("401 Unauthorized with a fresh token".into(), None)
                    }
                }
            }
        }
    }

    async fn post(&self, url: &str, token: &str, body: &str) -> Posted {
        let response = self
            .http
            .post(url)
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned())
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => return Posted::Done(transient(format!("request failed: {e}"), None)),
        };
        let status = response.status();
        if status.is_success() {
            return Posted::Done(Attempt::Delivered);
        }
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Posted::Unauthorized;
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || status.is_server_error()
            || status == reqwest::StatusCode::REQUEST_TIMEOUT
        {
            let wait = retry_after(response.headers());
            return Posted::Done(transient(format!("mluvii answered {status}"), wait));
        }
        if status.is_redirection() {
            return Posted::Done(Attempt::Refused {
                reason: format!("mluvii answered {status}, a redirect to another origin"),
            });
        }
        let text = response.text().await.unwrap_or_default();
        let text: String = text.chars().take(200).collect();
        Posted::Done(Attempt::Refused {
            reason: format!("mluvii refused the activity with {status}: {text}"),
        })
    }

    /// The cached token, or a new one when it is due, or when `rejected` is the cached one (a
    /// 401). Callers queue on the lock, so one fetch serves every waiting request.
    async fn token(&self, rejected: Option<&str>) -> Result<String, String> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.refresh_at
            && rejected != Some(token.value.as_str())
        {
            return Ok(token.value.clone());
        }
        let fresh = self.fetch_token().await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    async fn fetch_token(&self) -> Result<CachedToken, String> {
        let url = format!("{}/login/connect/token", self.base());
        let form = [
            ("response_type", "token"),
            ("grant_type", "client_credentials"),
            ("client_id", self.endpoint.client_id.as_str()),
            ("client_secret", self.endpoint.client_secret.expose()),
        ];
        let response = self
            .http
            .post(&url)
            .form(&form)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("getting a token failed: {}", without_url(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!(
                "getting a token failed: the token endpoint answered {status}"
            ));
        }
        let token: TokenResponse = response
            .json()
            .await
            .map_err(|e| format!("getting a token failed: unreadable answer: {e}"))?;
        // A token endpoint may claim any lifetime; past a day it is refreshed daily anyway.
        let lifetime =
            Duration::from_secs(token.expires_in.unwrap_or(3600)).min(MAX_TOKEN_LIFETIME);
        Ok(CachedToken {
            value: token.access_token,
            refresh_at: Instant::now() + refresh_after(lifetime),
        })
    }

    /// Waits until sending one more request keeps `session` within [`RATE_LIMIT`].
    pub async fn pace(&self, session: i64) {
        loop {
            let wait = {
                let mut pacing = self.pacing.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                self.prune_pacing(&mut pacing, now);
                let sent = pacing.entry(session).or_default();
                while sent.front().is_some_and(|t| now - *t >= RATE_WINDOW) {
                    sent.pop_front();
                }
                if sent.len() < RATE_LIMIT {
                    sent.push_back(now);
                    return;
                }
                RATE_WINDOW - (now - sent[0])
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes over the record of `session`'s sends by every sender (this one's included): the
    /// requests sent `ago` (each this long before now) become the session's window here, with
    /// this sender's own requests made after the newest of them (attempts that failed, so
    /// were never recorded as sends).
    pub fn seed_pacing(&self, session: i64, ago: &[Duration]) {
        let now = Instant::now();
        let mut seeded: Vec<Instant> = ago
            .iter()
            .filter(|ago| **ago < RATE_WINDOW)
            .filter_map(|ago| now.checked_sub(*ago))
            .collect();
        seeded.sort_unstable();
        let mut pacing = self.pacing.lock().unwrap_or_else(|p| p.into_inner());
        let sent = pacing.entry(session).or_default();
        let newest = seeded.last().copied();
        seeded.extend(sent.iter().filter(|t| newest.is_none_or(|n| **t > n)));
        *sent = seeded.into_iter().collect();
    }

    /// Forgets sessions idle for a whole window, at most once per window.
    fn prune_pacing(&self, pacing: &mut HashMap<i64, VecDeque<Instant>>, now: Instant) {
        let mut last = self.last_prune.lock().unwrap_or_else(|p| p.into_inner());
        if now - *last >= RATE_WINDOW {
            pacing.retain(|_, sent| sent.back().is_some_and(|t| now - *t < RATE_WINDOW));
            *last = now;
        }
    }
}

enum Posted {
    Done(Attempt),
    Unauthorized,
}

fn transient(reason: String, retry_after: Option<Duration>) -> Attempt {
    Attempt::Transient {
        reason,
        retry_after,
    }
}

/// reqwest's errors name the URL; the token URL is harmless, but keep messages short.
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    text
}

/// When a token of `lifetime` is refreshed: 5 minutes early, or half-way for short-lived ones.
pub fn refresh_after(lifetime: Duration) -> Duration {
    lifetime - Duration::from_secs(300).min(lifetime / 2)
}

#[cfg(test)]
mod tests;

//! The Send API client of one tenant: OAuth client-credentials token (cached, refreshed before
//! it expires and once on a 401), retries with backoff on transient failures, and pacing so no
//! session exceeds mluvii's 120 requests per minute.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::config::Secret;
use crate::mluvii::SendActivity;

/// mluvii's limit: requests per session per [`RATE_WINDOW`].
pub const RATE_LIMIT: usize = 120;
/// The window of [`RATE_LIMIT`].
pub const RATE_WINDOW: Duration = Duration::from_secs(60);

/// Where and as whom a tenant talks to mluvii.
#[derive(Debug, Clone)]
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

/// Retry policy of Send API requests.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per activity, the first included.
    pub attempts: u32,
    /// Wait before the second attempt; doubled each time.
    pub first_backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 6,
            first_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Why an activity could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The token endpoint refused or failed.
    #[error("getting a token failed: {0}")]
    Token(String),
    /// mluvii refused the request for good (4xx other than 401/429).
    #[error("mluvii refused the activity with {status}: {body}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Start of the response body.
        body: String,
    },
    /// Transient failures until the attempts ran out.
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
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
    retry: RetryPolicy,
    token: tokio::sync::Mutex<Option<CachedToken>>,
    pacing: Mutex<HashMap<i64, VecDeque<tokio::time::Instant>>>,
}

enum Attempt {
    Delivered,
    Unauthorized,
    Transient(String),
    Refused(DeliveryError),
}

impl MluviiClient {
    /// A client on the shared connection pool `http`.
    pub fn new(http: reqwest::Client, endpoint: MluviiEndpoint, retry: RetryPolicy) -> Self {
        Self {
            http,
            endpoint,
            retry,
            token: tokio::sync::Mutex::new(None),
            pacing: Mutex::new(HashMap::new()),
        }
    }

    fn base(&self) -> &str {
        self.endpoint.base_url.trim_end_matches('/')
    }

    /// Delivers one activity: waits for the session's pace, then POSTs with retries.
    pub async fn send(&self, activity: &SendActivity) -> Result<(), DeliveryError> {
        self.pace(activity.session_id).await;
        let url = format!(
            "{}/api/v1/Chatbot/{}/activity",
            self.base(),
            self.endpoint.chatbot_id
        );
        let body = activity.to_json();
        let mut refreshed_after_401 = false;
        let mut backoff = self.retry.first_backoff;
        let mut last = String::new();
        let mut attempt = 0;
        while attempt < self.retry.attempts {
            attempt += 1;
            let token = self.token(false).await?;
            match self.post(&url, &token, &body).await {
                Attempt::Delivered => return Ok(()),
                Attempt::Refused(e) => return Err(e),
                Attempt::Unauthorized if !refreshed_after_401 => {
                    refreshed_after_401 = true;
                    self.token(true).await?;
                    attempt -= 1; // the refresh-and-retry is not a failure of its own
                    continue;
                }
                Attempt::Unauthorized => last = "401 Unauthorized after a fresh token".into(),
                Attempt::Transient(reason) => last = reason,
            }
            if attempt < self.retry.attempts {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(self.retry.max_backoff);
            }
        }
        Err(DeliveryError::GaveUp {
            attempts: self.retry.attempts,
            last,
        })
    }

    async fn post(&self, url: &str, token: &str, body: &serde_json::Value) -> Attempt {
        let response = self
            .http
            .post(url)
            .bearer_auth(token)
            .json(body)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => return Attempt::Transient(format!("request failed: {e}")),
        };
        let status = response.status();
        if status.is_success() {
            return Attempt::Delivered;
        }
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Attempt::Unauthorized;
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || status.is_server_error()
            || status == reqwest::StatusCode::REQUEST_TIMEOUT
        {
            return Attempt::Transient(format!("mluvii answered {status}"));
        }
        let text = response.text().await.unwrap_or_default();
        Attempt::Refused(DeliveryError::Refused {
            status: status.as_u16(),
            body: text.chars().take(200).collect(),
        })
    }

    /// The cached token, or a new one when it is due for refresh or `force` is set.
    async fn token(&self, force: bool) -> Result<String, DeliveryError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref()
            && !force
            && Instant::now() < token.refresh_at
        {
            return Ok(token.value.clone());
        }
        let fresh = self.fetch_token().await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    async fn fetch_token(&self) -> Result<CachedToken, DeliveryError> {
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
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| DeliveryError::Token(format!("request failed: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(DeliveryError::Token(format!(
                "token endpoint answered {status}"
            )));
        }
        let token: TokenResponse = response
            .json()
            .await
            .map_err(|e| DeliveryError::Token(format!("unreadable token response: {e}")))?;
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(3600));
        // Refresh 5 minutes early, or half-way for short-lived tokens.
        let margin = Duration::from_secs(300).min(lifetime / 2);
        Ok(CachedToken {
            value: token.access_token,
            refresh_at: Instant::now() + lifetime - margin,
        })
    }

    /// Waits until sending one more request keeps `session` within [`RATE_LIMIT`].
    async fn pace(&self, session: i64) {
        loop {
            let wait = {
                let mut pacing = self.pacing.lock().unwrap_or_else(|p| p.into_inner());
                let now = tokio::time::Instant::now();
                pacing.retain(|_, sent| sent.back().is_some_and(|t| now - *t < RATE_WINDOW));
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> MluviiClient {
        MluviiClient::new(
            reqwest::Client::new(),
            MluviiEndpoint {
                base_url: "http://127.0.0.1:9".into(),
                chatbot_id: 1,
                client_id: "c".into(),
                client_secret: Secret::new("s"),
            },
            RetryPolicy::default(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_gets_at_most_120_requests_a_minute_and_the_rest_wait() {
        let client = client();
        let start = tokio::time::Instant::now();
        for _ in 0..RATE_LIMIT {
            client.pace(7).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the first 120 go at once");
        client.pace(8).await;
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "another session is not held back"
        );
        client.pace(7).await;
        assert_eq!(
            start.elapsed(),
            RATE_WINDOW,
            "the 121st waits for the window"
        );
        for _ in 0..RATE_LIMIT - 1 {
            client.pace(7).await;
        }
        assert_eq!(start.elapsed(), RATE_WINDOW);
        client.pace(7).await;
        assert_eq!(start.elapsed(), RATE_WINDOW * 2);
    }
}

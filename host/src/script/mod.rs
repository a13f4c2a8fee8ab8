//! Conversation scripts for `wasmbot test`: a list of webhook events and the Send API bodies
//! the bot should answer each with. The format is documented in `docs/testing.md`.

pub mod matching;

use std::path::Path;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::capabilities::http::CannedAnswer;

/// A conversation script.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// What the script checks, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The tenant's settings for this script (the bot's `config` import).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub settings: Map<String, Value>,
    /// Fields added to every event that does not set them (`sessionId`, `timestamp`,
    /// `language`, `source`, …).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub defaults: Map<String, Value>,
    /// How every step's `expect` is compared, unless the step says otherwise.
    #[serde(default, skip_serializing_if = "MatchMode::is_default")]
    pub r#match: MatchMode,
    /// Answers to the bot's outbound HTTP requests in every step (after the step's own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<HttpAnswer>,
    /// The events, in order.
    pub steps: Vec<Step>,
}

/// One event and what the bot should answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The webhook body as mluvii POSTs it (the script's defaults fill in missing fields).
    pub send: Map<String, Value>,
    /// The Send API bodies the bot should return, in order; absent: not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Vec<Value>>,
    /// How `expect` is compared with what the bot returned; the script's mode when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#match: Option<MatchMode>,
    /// The bot should fail on this event, with an error containing this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_error: Option<String>,
    /// Answers to the bot's outbound HTTP requests in this step; a request none answers
    /// fails the step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<HttpAnswer>,
}

/// The answer a bot's outbound request gets in a script: the request it answers (method and
/// URL) and the response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpAnswer {
    /// The request's method.
    #[serde(default = "default_method")]
    pub method: String,
    /// The request's whole URL (`https://api.example.com/orders/7?full=1`).
    pub url: String,
    /// The response's status.
    #[serde(default = "default_status")]
    pub status: u16,
    /// The response's headers.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub headers: Map<String, Value>,
    /// The response's body: a string as it is, any other JSON value as JSON text.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub body: Value,
}

fn default_method() -> String {
    "GET".to_owned()
}

fn default_status() -> u16 {
    200
}

impl HttpAnswer {
    fn check(&self) -> anyhow::Result<()> {
        let url =
            url::Url::parse(&self.url).with_context(|| format!("{:?} is not a URL", self.url))?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!("{:?} is not an http or https URL", self.url);
        }
        if http::Method::from_bytes(self.method.as_bytes()).is_err() {
            bail!("{:?} is not an HTTP method", self.method);
        }
        if !(100..=599).contains(&self.status) {
            bail!("status {} is not an HTTP status", self.status);
        }
        Ok(())
    }

    /// The answer as the HTTP capability's stub takes it.
    pub fn canned(&self) -> CannedAnswer {
        let body = match &self.body {
            Value::Null => Vec::new(),
            Value::String(text) => text.as_bytes().to_vec(),
            other => other.to_string().into_bytes(),
        };
        let headers = self
            .headers
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                (name.clone(), value)
            })
            .collect();
        CannedAnswer {
            method: self.method.to_ascii_uppercase(),
            url: self.url.clone(),
            status: self.status,
            headers,
            body,
        }
    }
}

/// How expected bodies are compared with actual ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchMode {
    /// Every field the script names must be there with that value; others may be too.
    /// Lists must have the same length, compared element by element.
    #[default]
    Subset,
    /// The bodies must be equal.
    Exact,
}

impl MatchMode {
    fn is_default(&self) -> bool {
        *self == MatchMode::Subset
    }
}

/// The session id of events whose script sets none.
pub const DEFAULT_SESSION_ID: i64 = 1;

/// A Send API body as scripts compare it: without the top-level `timestamp` the host stamps
/// on messages when it sends them, which differs on every run.
pub fn comparable(mut body: Value) -> Value {
    if let Value::Object(fields) = &mut body {
        fields.shift_remove("timestamp");
    }
    body
}

impl Script {
    /// Reads and checks a script file (JSON).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let script: Script = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid script", path.display()))?;
        script
            .check()
            .with_context(|| format!("{} is not a valid script", path.display()))?;
        Ok(script)
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.steps.is_empty() {
            bail!("it has no steps");
        }
        for answer in &self.http {
            answer.check().context("`http`")?;
        }
        for (index, step) in self.steps.iter().enumerate() {
            for answer in &step.http {
                answer
                    .check()
                    .with_context(|| format!("step {}: `http`", index + 1))?;
            }
            if !step.send.contains_key("activity") {
                bail!("step {}: `send` has no `activity`", index + 1);
            }
            if step.expect.is_some() && step.expect_error.is_some() {
                bail!(
                    "step {}: `expect` and `expect_error` exclude each other",
                    index + 1
                );
            }
        }
        Ok(())
    }

    /// The answers `step`'s outbound requests get: its own, then the script's.
    pub fn http_answers(&self, step: &Step) -> Vec<CannedAnswer> {
        step.http
            .iter()
            .chain(&self.http)
            .map(HttpAnswer::canned)
            .collect()
    }

    /// How `step`'s expectation is compared.
    pub fn match_mode(&self, step: &Step) -> MatchMode {
        step.r#match.unwrap_or(self.r#match)
    }

    /// The webhook body of `step`: its `send` with the script's defaults (and a session id)
    /// filled in.
    pub fn webhook_body(&self, step: &Step) -> Value {
        let mut body = step.send.clone();
        for (key, value) in &self.defaults {
            body.entry(key.clone()).or_insert_with(|| value.clone());
        }
        body.entry("sessionId")
            .or_insert_with(|| Value::from(DEFAULT_SESSION_ID));
        Value::Object(body)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn script(value: Value) -> anyhow::Result<Script> {
        let script: Script = serde_json::from_value(value)?;
        script.check()?;
        Ok(script)
    }

    #[test]
    fn defaults_fill_missing_fields_and_never_override() {
        let script = script(json!({
            "defaults": {"sessionId": 7, "language": "cs"},
            "steps": [
                {"send": {"activity": "Text", "text": "hi"}},
                {"send": {"activity": "Text", "text": "hi", "sessionId": 8, "language": "en"}}
            ]
        }))
        .unwrap();
        assert_eq!(
            script.webhook_body(&script.steps[0]),
            json!({"activity": "Text", "text": "hi", "sessionId": 7, "language": "cs"})
        );
        assert_eq!(
            script.webhook_body(&script.steps[1]),
            json!({"activity": "Text", "text": "hi", "sessionId": 8, "language": "en"})
        );
    }

    #[test]
    fn a_session_id_is_always_there() {
        let script =
            script(json!({"steps": [{"send": {"activity": "ConversationStarted"}}]})).unwrap();
        assert_eq!(
            script.webhook_body(&script.steps[0])["sessionId"],
            json!(DEFAULT_SESSION_ID)
        );
    }

    #[test]
    fn http_answers_of_the_step_come_before_the_scripts() {
        let script = script(json!({
            "http": [{"url": "https://api.example.com/a", "body": "script"}],
            "steps": [{
                "send": {"activity": "Text"},
                "http": [{"method": "post", "url": "https://api.example.com/a", "status": 201,
                          "headers": {"content-type": "application/json"}, "body": {"id": 7}}]
            }]
        }))
        .unwrap();
        let answers = script.http_answers(&script.steps[0]);
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[0].method, "POST");
        assert_eq!(answers[0].status, 201);
        assert_eq!(answers[0].body, br#"{"id":7}"#);
        assert_eq!(
            answers[0].headers,
            vec![("content-type".to_owned(), "application/json".to_owned())]
        );
        assert_eq!(answers[1].method, "GET");
        assert_eq!(answers[1].status, 200);
        assert_eq!(answers[1].body, b"script");
    }

    #[test]
    fn a_bad_http_answer_is_refused_naming_its_step() {
        let error = script(json!({"steps": [
            {"send": {"activity": "Text"}, "http": [{"url": "ftp://x.example/"}]}
        ]}))
        .unwrap_err();
        assert!(format!("{error:#}").contains("step 1: `http`"), "{error:#}");
    }

    #[test]
    fn bad_scripts_are_refused_with_the_reason() {
        let no_steps = script(json!({"steps": []})).unwrap_err();
        assert!(no_steps.to_string().contains("no steps"), "{no_steps}");
        let no_activity = script(json!({"steps": [{"send": {"text": "x"}}]})).unwrap_err();
        assert!(
            no_activity
                .to_string()
                .contains("step 1: `send` has no `activity`"),
            "{no_activity}"
        );
        let typo =
            script(json!({"steps": [{"send": {"activity": "Text"}, "expected": []}]})).unwrap_err();
        assert!(
            typo.to_string().contains("unknown field `expected`"),
            "{typo}"
        );
        let both = script(json!({"steps": [
            {"send": {"activity": "Text"}, "expect": [], "expect_error": "x"}
        ]}))
        .unwrap_err();
        assert!(both.to_string().contains("exclude each other"), "{both}");
    }
}

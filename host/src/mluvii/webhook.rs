//! The lenient webhook parser: one function from body bytes to a typed event, used by the
//! server's ingress and by `wasmbot run` alike.

use serde::Serialize;
use serde_json::{Map, Value};

use super::inbound::InboundActivity;
use super::lenient::{normalize_keys, session_id_from};

/// A parsed webhook body.
// Short-lived and moved once: boxing the event would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Webhook {
    /// mluvii's service check: answer 200, nothing else.
    Ping,
    /// An event of a session, to run through the tenant's bot.
    Event(WebhookEvent),
}

/// An inbound activity of one session.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEvent {
    /// mluvii's session id.
    pub session_id: i64,
    /// The guest's language, when sent (ConversationStarted, Text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The session source, when sent (`Default` = WebChat).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The activity and its fields.
    #[serde(flatten)]
    pub activity: InboundActivity,
}

/// Why a webhook body was refused; the text is safe to send back in a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Not JSON at all.
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object.
    #[error("body is not a JSON object")]
    NotAnObject,
    /// No `activity` key in any casing.
    #[error("body has no `activity` field")]
    NoActivity,
    /// `activity` is not a string.
    #[error("`activity` is not a string")]
    ActivityNotString,
    /// No usable `sessionId`.
    #[error("`{activity}` has no `sessionId`")]
    NoSessionId {
        /// The activity name.
        activity: String,
    },
    /// `sessionId` present but not an integer.
    #[error("`sessionId` is not an integer")]
    BadSessionId,
    /// A known activity whose fields do not fit its shape.
    #[error("`{activity}` is malformed: {reason}")]
    BadFields {
        /// The activity name.
        activity: String,
        /// serde's explanation.
        reason: String,
    },
}

/// Parses a webhook body following `mluvii-api.md` §5: the `activity` key and its value are
/// matched case-insensitively, `sessionId` may be a number or a numeric string, unknown fields
/// are ignored and unknown activities are kept whole as [`InboundActivity::Unknown`].
pub fn parse_webhook(body: &[u8]) -> Result<Webhook, WebhookError> {
    let raw: Value =
        serde_json::from_slice(body).map_err(|e| WebhookError::NotJson(e.to_string()))?;
    if !raw.is_object() {
        return Err(WebhookError::NotAnObject);
    }
    let Value::Object(mut fields) = normalize_keys(raw.clone()) else {
        unreachable!("normalising keeps an object an object")
    };
    let activity = find_activity(&fields)?;
    if activity.eq_ignore_ascii_case("Ping") {
        return Ok(Webhook::Ping);
    }
    let session_id = match fields.get("sessionId") {
        None | Some(Value::Null) => return Err(WebhookError::NoSessionId { activity }),
        Some(value) => session_id_from(value).ok_or(WebhookError::BadSessionId)?,
    };
    let language = take_string(&mut fields, "language");
    let source = take_string(&mut fields, "source");
    let known = InboundActivity::KNOWN
        .iter()
        .find(|name| name.eq_ignore_ascii_case(&activity));
    let activity = match known {
        Some(name) => {
            fields.insert("activity".into(), Value::String((*name).to_owned()));
            serde_json::from_value(Value::Object(fields)).map_err(|e| WebhookError::BadFields {
                activity: (*name).to_owned(),
                reason: e.to_string(),
            })?
        }
        None => InboundActivity::Unknown {
            activity,
            json: raw,
        },
    };
    Ok(Webhook::Event(WebhookEvent {
        session_id,
        language,
        source,
        activity,
    }))
}

fn find_activity(fields: &Map<String, Value>) -> Result<String, WebhookError> {
    let value = fields
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("activity"))
        .map(|(_, value)| value)
        .ok_or(WebhookError::NoActivity)?;
    value
        .as_str()
        .map(str::to_owned)
        .ok_or(WebhookError::ActivityNotString)
}

fn take_string(fields: &mut Map<String, Value>, key: &str) -> Option<String> {
    match fields.remove(key) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

impl WebhookEvent {
    /// The body mluvii would POST for this event (used by the simulator and tests).
    pub fn to_json(&self) -> Value {
        match &self.activity {
            InboundActivity::Unknown { json, .. } => json.clone(),
            _ => serde_json::to_value(self).expect("webhook events serialize"),
        }
    }
}

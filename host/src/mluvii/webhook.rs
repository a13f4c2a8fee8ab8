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
    /// No usable `sessionId`.
    #[error("`{activity}` has no `sessionId`")]
    NoSessionId {
        /// The activity name.
        activity: String,
    },
    /// `sessionId` present but not an integer.
    #[error("`sessionId` is not an integer")]
    BadSessionId,
}

/// The typed activity `fields` describe; if one plain field cannot be read (an optional
/// timestamp that is a number or an array, …), the activity without it, rather than none.
/// Structured fields (objects, lists of objects: groups, params, …) are never dropped: an
/// activity whose payload cannot be read arrives whole as `Unknown`.
fn typed_leniently(fields: serde_json::Map<String, Value>) -> Option<InboundActivity> {
    if let Ok(typed) = serde_json::from_value(Value::Object(fields.clone())) {
        return Some(typed);
    }
    let plain = |value: &Value| match value {
        Value::Object(_) => false,
        Value::Array(items) => !items.iter().any(|item| item.is_object() || item.is_array()),
        _ => true,
    };
    fields
        .iter()
        .filter(|(key, value)| *key != "activity" && plain(value))
        .map(|(key, _)| key)
        .find_map(|key| {
            let mut without = fields.clone();
            without.remove(key);
            serde_json::from_value(Value::Object(without)).ok()
        })
}

/// Parses a webhook body following `mluvii-api.md` §5: the `activity` key and its value are
/// matched case-insensitively, `sessionId` may be a number or a numeric string, unknown fields
/// are ignored, a `null` field counts as absent (§5.9) and an absent string as empty. An
/// activity this version does not model, or a known one whose fields cannot be typed even so
/// (say, a group without its id), is kept whole as [`InboundActivity::Unknown`]; an unknown
/// activity without a usable `sessionId` belongs to session 0. Only a body that is not a JSON
/// object, or a known session activity without a usable `sessionId`, is refused.
pub fn parse_webhook(body: &[u8]) -> Result<Webhook, WebhookError> {
    let raw: Value =
        serde_json::from_slice(body).map_err(|e| WebhookError::NotJson(e.to_string()))?;
    if !raw.is_object() {
        return Err(WebhookError::NotAnObject);
    }
    let Value::Object(mut fields) = without_nulls(normalize_keys(raw.clone())) else {
        unreachable!("normalising keeps an object an object")
    };
    let activity = find_activity(&fields);
    if activity.eq_ignore_ascii_case("Ping") {
        return Ok(Webhook::Ping);
    }
    let known = InboundActivity::KNOWN
        .iter()
        .find(|name| name.eq_ignore_ascii_case(&activity));
    let session_id = match (fields.get("sessionId"), known) {
        (Some(value), _) if session_id_from(value).is_some() => {
            session_id_from(value).expect("checked")
        }
        (None, Some(name)) => {
            return Err(WebhookError::NoSessionId {
                activity: (*name).to_owned(),
            });
        }
        (Some(_), Some(_)) => return Err(WebhookError::BadSessionId),
        (_, None) => 0,
    };
    let language = take_string(&mut fields, "language");
    let source = take_string(&mut fields, "source");
    let typed = known.and_then(|name| {
        fields.insert("activity".into(), Value::String((*name).to_owned()));
        typed_leniently(fields)
    });
    let activity = typed.unwrap_or(InboundActivity::Unknown {
        activity: known.map_or(activity, |name| (*name).to_owned()),
        json: raw,
    });
    Ok(Webhook::Event(WebhookEvent {
        session_id,
        language,
        source,
        activity,
    }))
}

/// Drops `null` members of objects, recursively (mluvii may send an absent value as null).
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

/// The `activity` value in any key casing; empty when absent or not a string.
fn find_activity(fields: &Map<String, Value>) -> String {
    fields
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("activity"))
        .and_then(|(_, value)| value.as_str())
        .unwrap_or_default()
        .to_owned()
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<Webhook, WebhookError> {
        parse_webhook(body.to_string().as_bytes())
    }

    fn event(body: Value) -> WebhookEvent {
        match parse(body.clone()) {
            Ok(Webhook::Event(event)) => event,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn null_or_absent_strings_are_accepted_as_empty() {
        let text =
            event(json!({"activity": "Text", "sessionId": 5, "text": null, "language": null}));
        assert_eq!(
            text.activity,
            InboundActivity::Text {
                text: String::new(),
                timestamp: None
            }
        );
        assert_eq!(text.language, None);
        let upload = event(json!({"activity": "GuestFileUpload", "sessionId": 5}));
        assert_eq!(
            upload.activity,
            InboundActivity::GuestFileUpload {
                file_url: String::new()
            }
        );
        let media = event(
            json!({"activity": "GetMediaObjectsResponse", "sessionId": 5,
            "fileStoreItems": [{"id": 1, "name": null}]}),
        );
        assert!(
            matches!(&media.activity, InboundActivity::GetMediaObjectsResponse { file_store_items } if file_store_items[0].name.is_empty())
        );
    }

    #[test]
    fn an_optional_field_that_cannot_be_read_is_dropped_not_the_activity() {
        for timestamp in [json!(1733222400), json!([2024, 12, 3]), json!(true)] {
            let e = event(json!({"activity": "Text", "sessionId": 5, "text": "hi",
                "timestamp": timestamp}));
            assert_eq!(
                e.activity,
                InboundActivity::Text {
                    text: "hi".into(),
                    timestamp: None
                },
                "{timestamp}"
            );
        }
        let started = event(json!({"activity": "ConversationStarted", "sessionId": 5,
            "timestamp": 7, "language": "cs"}));
        assert_eq!(
            started.activity,
            InboundActivity::ConversationStarted { timestamp: None }
        );
        assert_eq!(started.language.as_deref(), Some("cs"));
    }

    #[test]
    fn what_cannot_be_typed_arrives_whole_as_unknown() {
        let body = json!({"activity": "GetAvailableGroupsResponse", "sessionId": "9",
            "availableGroups": [{"displayName": "no id"}]});
        let e = event(body.clone());
        assert_eq!(e.session_id, 9);
        assert_eq!(
            e.activity,
            InboundActivity::Unknown {
                activity: "GetAvailableGroupsResponse".into(),
                json: body
            }
        );
        let future = event(json!({"activity": "SomethingNew", "foo": 1}));
        assert_eq!(future.session_id, 0, "no session: session 0");
        assert_eq!(future.activity.name(), "SomethingNew");
        let bare = event(json!({"hello": "world"}));
        assert_eq!((bare.session_id, bare.activity.name()), (0, ""));
    }

    #[test]
    fn only_non_objects_and_known_events_without_a_session_are_refused() {
        assert_eq!(parse(json!([1])), Err(WebhookError::NotAnObject));
        assert!(matches!(
            parse_webhook(b"{oops"),
            Err(WebhookError::NotJson(_))
        ));
        assert_eq!(
            parse(json!({"activity": "Text", "text": "x"})),
            Err(WebhookError::NoSessionId {
                activity: "Text".into()
            })
        );
        assert_eq!(
            parse(json!({"activity": "Text", "sessionId": null})),
            Err(WebhookError::NoSessionId {
                activity: "Text".into()
            })
        );
        assert_eq!(
            parse(json!({"activity": "text", "sessionId": "abc"})),
            Err(WebhookError::BadSessionId)
        );
        assert_eq!(parse(json!({"Activity": "PING"})), Ok(Webhook::Ping));
    }
}

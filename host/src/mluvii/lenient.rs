//! The tolerance rules of the mluvii protocol: key casing, session ids as number or string,
//! and timestamps with or without an offset.

use chrono::{DateTime, FixedOffset, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// Fields whose values are free-form dictionaries: their keys are data, never renamed.
const DICTIONARY_FIELDS: &[&str] = &[
    "callParams",
    "params",
    "initialParams",
    "additionalParams",
    "fieldValues",
    "data",
];

/// Lower-cases the first letter of every object key (`Activity` → `activity`,
/// `AvailableOperators` → `availableOperators`), recursively, leaving the keys inside
/// dictionary fields such as `callParams` as they are.
pub fn normalize_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let key = lower_first(&key);
                    let value = if DICTIONARY_FIELDS.contains(&key.as_str()) {
                        value
                    } else {
                        normalize_keys(value)
                    };
                    (key, value)
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize_keys).collect()),
        other => other,
    }
}

fn lower_first(key: &str) -> String {
    let mut chars = key.chars();
    match chars.next() {
        Some(first) if first.is_uppercase() => first.to_lowercase().chain(chars).collect(),
        _ => key.to_owned(),
    }
}

/// Reads a session id given as a JSON number or as a string of digits.
pub fn session_id_from(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// serde helper: a session id as a number or a numeric string.
pub fn deserialize_session_id<'de, D: Deserializer<'de>>(de: D) -> Result<i64, D::Error> {
    let value = Value::deserialize(de)?;
    session_id_from(&value)
        .ok_or_else(|| serde::de::Error::custom(format!("sessionId {value} is not an integer")))
}

/// Parses a mluvii timestamp: RFC 3339 with an offset, or without one (then taken as UTC),
/// with 0 to 9 fractional digits.
pub fn parse_timestamp(text: &str) -> Option<DateTime<FixedOffset>> {
    let text = text.trim();
    if let Ok(with_offset) = DateTime::parse_from_rfc3339(text) {
        return Some(with_offset);
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f"))
        .ok()?;
    Some(naive.and_utc().fixed_offset())
}

/// A timestamp as the host passes it on: RFC 3339 with an offset, or `None` when mluvii's text
/// cannot be read as a time.
pub fn normalize_timestamp(text: &str) -> Option<String> {
    parse_timestamp(text).map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, false))
}

/// The current time as mluvii's outbound bodies carry it (RFC 3339, 7 fractional digits are
/// what mluvii writes; microseconds with an offset are what we send).
pub fn now_timestamp() -> String {
    Utc::now()
        .fixed_offset()
        .to_rfc3339_opts(SecondsFormat::Micros, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_lower_camel_but_dictionaries_keep_theirs() {
        let v = normalize_keys(json!({
            "Activity": "GetCallParamsResponse",
            "SessionId": 1,
            "CallParams": {"HandoffReason": "Sales"},
            "AvailableOperators": [{"DisplayName": "Katka", "UserId": 1}]
        }));
        assert_eq!(v["activity"], "GetCallParamsResponse");
        assert_eq!(v["sessionId"], 1);
        assert_eq!(v["callParams"]["HandoffReason"], "Sales");
        assert_eq!(v["availableOperators"][0]["displayName"], "Katka");
        assert_eq!(v["availableOperators"][0]["userId"], 1);
    }

    #[test]
    fn session_id_number_or_string() {
        assert_eq!(session_id_from(&json!(2359788)), Some(2359788));
        assert_eq!(session_id_from(&json!("2359788")), Some(2359788));
        assert_eq!(session_id_from(&json!("abc")), None);
        assert_eq!(session_id_from(&json!(1.5)), None);
        assert_eq!(session_id_from(&json!(null)), None);
    }

    #[test]
    fn timestamps_with_and_without_offset() {
        assert_eq!(
            normalize_timestamp("2020-09-09T09:59:49.5640515+02:00").unwrap(),
            "2020-09-09T09:59:49.564051500+02:00"
        );
        assert_eq!(
            normalize_timestamp("2020-09-09T10:03:46.792954").unwrap(),
            "2020-09-09T10:03:46.792954+00:00"
        );
        assert_eq!(
            normalize_timestamp("2020-09-09T10:03:46").unwrap(),
            "2020-09-09T10:03:46+00:00"
        );
        assert_eq!(
            normalize_timestamp("2020-09-09T10:03:46Z").unwrap(),
            "2020-09-09T10:03:46+00:00"
        );
        assert_eq!(normalize_timestamp("yesterday"), None);
    }

    #[test]
    fn now_has_an_offset() {
        assert!(parse_timestamp(&now_timestamp()).is_some());
        assert!(now_timestamp().ends_with("+00:00"));
    }
}

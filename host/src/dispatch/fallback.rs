//! What the guest gets when the bot fails (traps, times out, breaks a limit, returns an
//! error or an activity the host cannot send): by default a short apology in the session's
//! language and a hand-off to a human operator, so no guest is left waiting in a live chat.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::mluvii::lenient::now_timestamp;
use crate::mluvii::{ChannelActivity, MessageBody, SendActivity, SendBody};

/// What to send when the bot fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FallbackMode {
    /// The apology, then `HandOff` to the routing (an operator).
    #[default]
    Handoff,
    /// The apology only.
    Text,
    /// Nothing.
    None,
}

/// `[tenant.fallback]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackConfig {
    /// What to send.
    #[serde(default)]
    pub mode: FallbackMode,
    /// The apology by language code (`en`, `cs`, …); built-in English and Czech texts are
    /// used for languages not listed, English for unknown languages.
    #[serde(default)]
    pub text: BTreeMap<String, String>,
}

const ENGLISH: &str =
    "Sorry, something went wrong on our side. Let me connect you with a colleague.";
const CZECH: &str = "Omlouváme se, něco se u nás pokazilo. Předám vás kolegovi.";
const ENGLISH_TEXT_ONLY: &str = "Sorry, something went wrong on our side. Please try again.";
const CZECH_TEXT_ONLY: &str = "Omlouváme se, něco se u nás pokazilo. Zkuste to prosím znovu.";

impl FallbackConfig {
    /// The apology for `language`.
    pub fn text_for(&self, language: Option<&str>) -> String {
        let language = language.unwrap_or("en").to_ascii_lowercase();
        let primary = language.split(['-', '_']).next().unwrap_or("en");
        if let Some(text) = self.text.get(&language).or_else(|| self.text.get(primary)) {
            return text.clone();
        }
        let hand_off = self.mode == FallbackMode::Handoff;
        match (primary, hand_off) {
            ("cs", true) => CZECH,
            ("cs", false) => CZECH_TEXT_ONLY,
            (_, true) => self.text.get("en").map_or(ENGLISH, String::as_str),
            (_, false) => self
                .text
                .get("en")
                .map_or(ENGLISH_TEXT_ONLY, String::as_str),
        }
        .to_owned()
    }

    /// The activities to send to `session_id` in `language`.
    pub fn activities(&self, session_id: i64, language: Option<&str>) -> Vec<SendActivity> {
        if self.mode == FallbackMode::None {
            return Vec::new();
        }
        let mut activities = vec![SendActivity {
            session_id,
            body: SendBody::Message(MessageBody {
                kind: "message".into(),
                timestamp: Some(now_timestamp()),
                text: Some(self.text_for(language)),
                attachments: Vec::new(),
                attachment_layout: None,
                suggested_actions: None,
                input_hint: None,
            }),
        }];
        if self.mode == FallbackMode::Handoff {
            activities.push(SendActivity {
                session_id,
                body: SendBody::Channel(ChannelActivity::HandOff),
            });
        }
        activities
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_apologises_in_the_sessions_language_and_hands_off() {
        let fallback = FallbackConfig::default();
        let activities = fallback.activities(7, Some("cs"));
        let bodies: Vec<_> = activities.iter().map(SendActivity::to_json).collect();
        assert_eq!(bodies[0]["sessionId"], 7);
        assert_eq!(bodies[0]["text"], CZECH);
        assert_eq!(bodies[1]["activity"], "HandOff");
        assert_eq!(fallback.text_for(None), ENGLISH);
        assert_eq!(fallback.text_for(Some("de")), ENGLISH);
    }

    #[test]
    fn texts_and_modes_are_configurable() {
        let config: FallbackConfig =
            toml::from_str("mode = \"text\"\ntext = { de = \"Entschuldigung\", en = \"Oops\" }")
                .unwrap();
        assert_eq!(config.text_for(Some("de-AT")), "Entschuldigung");
        assert_eq!(config.text_for(Some("fr")), "Oops");
        assert_eq!(config.text_for(Some("cs")), CZECH_TEXT_ONLY);
        assert_eq!(config.activities(1, Some("de")).len(), 1);
        let none: FallbackConfig = toml::from_str("mode = \"none\"").unwrap();
        assert!(none.activities(1, None).is_empty());
        let err = toml::from_str::<FallbackConfig>("mode = \"shout\"").unwrap_err();
        assert!(err.to_string().contains("shout"), "{err}");
    }
}

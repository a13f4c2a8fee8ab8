//! Send API bodies: what the bot POSTs to `/api/v1/Chatbot/{chatbotId}/activity`
//! (`mluvii-api.md` §7).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::inbound::Params;
use super::lenient::deserialize_session_id;

/// One Send API request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendActivity {
    /// The session, sent as a JSON number (accepted as number or string when read back).
    #[serde(rename = "sessionId", deserialize_with = "deserialize_session_id")]
    pub session_id: i64,
    /// The body proper.
    #[serde(flatten)]
    pub body: SendBody,
}

/// The two body families mluvii accepts, plus raw JSON for anything newer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SendBody {
    /// Bot-Framework style: `type: "message"` with text, attachments, suggested actions.
    Message(MessageBody),
    /// A typed command keyed by `activity`.
    Channel(ChannelActivity),
    /// Any other JSON object.
    Raw(Map<String, Value>),
}

/// `type: "message"` bodies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageBody {
    /// Always `"message"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the bot sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// The text, with the HTML subset `<strong>`, `<em>`, `<a>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Cards.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// `list` or `carousel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment_layout: Option<String>,
    /// Quick replies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested_actions: Option<SuggestedActions>,
    /// `ignoringInput` disables the guest's input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_hint: Option<String>,
}

/// A Bot Framework attachment holding a hero or thumbnail card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// `application/vnd.microsoft.card.hero` or `.thumbnail`.
    pub content_type: String,
    /// The card.
    pub content: CardContent,
}

/// The content type of a hero card.
pub const HERO_CARD: &str = "application/vnd.microsoft.card.hero";
/// The content type of a thumbnail card.
pub const THUMBNAIL_CARD: &str = "application/vnd.microsoft.card.thumbnail";

/// A hero or thumbnail card.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardContent {
    /// Title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Subtitle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtitle: Option<String>,
    /// Body text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Images.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<CardImage>,
    /// Buttons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<CardAction>,
}

/// An image of a card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardImage {
    /// Its URL.
    pub url: String,
}

/// A button or suggested action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardAction {
    /// `imBack` or `openUrl`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Label.
    #[serde(default)]
    pub title: String,
    /// Value sent back (a string, or a number in some of mluvii's samples).
    #[serde(default)]
    pub value: Value,
    /// Icon URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// `suggestedActions` of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuggestedActions {
    /// The actions.
    pub actions: Vec<CardAction>,
}

/// A typed command keyed by `activity`; field names are mluvii's (camelCase).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "activity", rename_all_fields = "camelCase")]
pub enum ChannelActivity {
    /// A text reply in the channel-activity form.
    Text {
        /// The text.
        text: String,
        /// When sent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timestamp: Option<String>,
    },
    /// The typing indicator.
    Typing {
        /// Show or hide.
        show: bool,
    },
    /// Transfer to a group or an operator.
    Forward {
        /// Target group.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operator_group_id: Option<i32>,
        /// Target operator.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_id: Option<i32>,
    },
    /// Back to routing.
    HandOff,
    /// End the session.
    EndConversation,
    /// Ask for available operators.
    GetAvailableOperators {
        /// Of this group only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_id: Option<i32>,
    },
    /// Ask for available groups.
    GetAvailableGroups {
        /// These groups only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_ids: Option<Vec<i32>>,
    },
    /// Ask for the session's params.
    GetCallParams,
    /// Set session params.
    SetCallParams {
        /// The params.
        #[serde(default)]
        call_params: Params,
    },
    /// Send the offline-form e-mail.
    SendGuestOfflineEmail {
        /// Subject.
        #[serde(default)]
        subject: String,
        /// Body.
        #[serde(default)]
        message: String,
        /// Source label.
        #[serde(default)]
        location: String,
    },
    /// Ask for the guest's identifiers.
    GetGuestIdentity,
    /// Tag the session.
    SetTag {
        /// Tag name.
        name: String,
    },
    /// Untag the session.
    UnsetTag {
        /// Tag name.
        name: String,
    },
    /// Ask for the guest's location.
    RequestLocation {
        /// Explanation shown to the guest.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    /// Disable the chat input.
    DisableGuestInput,
    /// Enable the chat input.
    EnableGuestInput,
    /// Open the upload dialog.
    ChatbotOpenFileUploadPrompt,
    /// Enable the paper clip.
    EnableGuestUpload,
    /// Disable the paper clip.
    DisableGuestUpload,
    /// Ask for usable hero cards.
    GetHeroCards,
    /// Send a hero card.
    SendHeroCard {
        /// Card id.
        hero_card_id: i32,
        /// Pre-filled fields.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        initial_params: Option<Params>,
        /// Card language.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        selected_language: Option<String>,
        /// WhatsApp template params (`header`, `body`, `buttons`, `footer`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        additional_params: Option<BTreeMap<String, Vec<String>>>,
    },
    /// Ask for stored files.
    GetMediaObjects,
    /// Share a file by name or URL.
    ShareFile {
        /// Stored file name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// External URL.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// Ask for matching CRM records.
    ObtainCrmIdentity,
    /// Assign a CRM record; `null` creates one (so it is always sent).
    AssignCrmIdentity {
        /// The record id, or null.
        #[serde(default)]
        existing_crm_identity_id: Option<i64>,
    },
    /// Typed rich cards.
    RichCardList {
        /// When sent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timestamp: Option<String>,
        /// The cards.
        #[serde(default)]
        items: Vec<Attachment>,
        /// `List` or `Carousel`.
        layout: String,
    },
}

impl SendActivity {
    /// The name to log and count this body under: its `activity`, `message`, or `raw`.
    pub fn name(&self) -> String {
        match &self.body {
            SendBody::Message(_) => "message".to_owned(),
            SendBody::Channel(channel) => serde_json::to_value(channel)
                .ok()
                .and_then(|v| v["activity"].as_str().map(str::to_owned))
                .unwrap_or_default(),
            SendBody::Raw(map) => map
                .get("activity")
                .and_then(Value::as_str)
                .unwrap_or("raw")
                .to_owned(),
        }
    }

    /// The JSON POSTed to mluvii.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("send bodies serialize")
    }
}

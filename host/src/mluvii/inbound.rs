//! Webhook bodies: what mluvii POSTs to the chatbot's callback URL (`mluvii-api.md` §6).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A map of free-form string keys, such as call params.
pub type Params = BTreeMap<String, String>;

/// One inbound activity, tagged by `activity`. Field names are mluvii's (camelCase).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "activity", rename_all_fields = "camelCase")]
pub enum InboundActivity {
    /// A session was routed to the bot.
    ConversationStarted {
        /// When it started.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timestamp: Option<String>,
    },
    /// The guest wrote (or clicked a button whose value this is).
    Text {
        /// The message (empty when mluvii sent none, e.g. an attachment only).
        #[serde(default)]
        text: String,
        /// When it was written.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timestamp: Option<String>,
    },
    /// The session ended (opt-in).
    ConversationEnded {
        /// When it ended.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timestamp: Option<String>,
    },
    /// The guest uploaded a file.
    GuestFileUpload {
        /// Where the file is (empty when mluvii sent none).
        #[serde(default)]
        file_url: String,
    },
    /// The guest submitted a hero card.
    HeroCardSubmission {
        /// Submitted values keyed by call-param name.
        #[serde(default)]
        params: Params,
    },
    /// The guest tapped a quick reply of a hero card.
    HeroCardQuickReply {
        /// The reply's text.
        #[serde(default)]
        text: String,
        /// The activity replied to.
        #[serde(default)]
        reply_to_activity_id: Option<i64>,
        /// Obsolete field values.
        #[serde(default)]
        field_values: Option<Params>,
        /// Template parameters.
        #[serde(default)]
        additional_params: Option<BTreeMap<String, Vec<String>>>,
    },
    /// The guest shared a location.
    GuestLocation {
        /// Degrees north.
        latitude: f64,
        /// Degrees east.
        longitude: f64,
    },
    /// Answer to GetAvailableOperators.
    GetAvailableOperatorsResponse {
        /// The operators.
        #[serde(default)]
        available_operators: Vec<AvailableOperator>,
    },
    /// Answer to GetAvailableGroups.
    GetAvailableGroupsResponse {
        /// The groups.
        #[serde(default)]
        available_groups: Vec<AvailableGroup>,
    },
    /// Answer to GetCallParams.
    GetCallParamsResponse {
        /// The session's params.
        #[serde(default)]
        call_params: Params,
    },
    /// Answer to SetCallParams.
    SetCallParamsResponse(Outcome),
    /// Answer to GetGuestIdentity.
    GetGuestIdentityResponse(GuestIdentity),
    /// Answer to ChatbotOpenFileUploadPrompt.
    ChatbotOpenFileUploadPromptResponse {
        /// The uploaded file, unless cancelled.
        #[serde(default)]
        file_url: Option<String>,
        /// Whether the guest cancelled.
        #[serde(default)]
        canceled_by_guest: bool,
    },
    /// Answer to EnableGuestUpload.
    EnableGuestUploadResponse(Outcome),
    /// Answer to DisableGuestUpload.
    DisableGuestUploadResponse(Outcome),
    /// Answer to EnableGuestInput or DisableGuestInput.
    GuestInputChangeResponse(Outcome),
    /// Answer to GetHeroCards.
    GetHeroCardsResponse {
        /// Cards usable in this session.
        #[serde(default)]
        hero_cards: Vec<HeroCardInfo>,
    },
    /// Answer to SendHeroCard.
    SendHeroCardResponse(Outcome),
    /// Answer to GetMediaObjects.
    GetMediaObjectsResponse {
        /// Files stored in mluvii.
        #[serde(default)]
        file_store_items: Vec<MediaObject>,
    },
    /// Answer to ShareFile (note `isSuccess`).
    ShareFileResponse {
        /// Whether the file was shared.
        #[serde(default)]
        is_success: bool,
        /// Why not.
        #[serde(default)]
        error_message: Option<String>,
        /// Undocumented.
        #[serde(default)]
        file_source: Option<String>,
    },
    /// Answer to ObtainCrmIdentity.
    ObtainCrmIdentityResponse {
        /// The record already assigned, if any.
        #[serde(default)]
        assigned_crm_identity_id: Option<i64>,
        /// Matching records.
        #[serde(default)]
        matched_crm_identities: Vec<CrmIdentityMatch>,
    },
    /// Answer to AssignCrmIdentity.
    AssignCrmIdentityResponse {
        /// Whether a record was created.
        #[serde(default)]
        created: bool,
        /// The record.
        crm_identity_id: i64,
        /// Why it failed.
        #[serde(default)]
        reason: Option<String>,
    },
    /// An activity this version does not model; kept whole.
    #[serde(skip)]
    Unknown {
        /// Its `activity` name.
        activity: String,
        /// The whole body.
        json: Value,
    },
}

/// An operator in GetAvailableOperatorsResponse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AvailableOperator {
    /// Shown name.
    #[serde(default)]
    pub display_name: String,
    /// User id.
    pub user_id: i32,
}

/// A group in GetAvailableGroupsResponse; older releases send only name and id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AvailableGroup {
    /// Shown name.
    #[serde(default)]
    pub display_name: String,
    /// Group id.
    pub group_id: i32,
    /// `ONLINE`, `BUSY` or `OFFLINE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_state: Option<String>,
    /// Why offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_offline_reasons: Option<Vec<String>>,
    /// Operator slots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_workload: Option<GroupWorkload>,
    /// Queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_workload: Option<QueueWorkload>,
}

/// Slot counts of a group.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupWorkload {
    /// Σ slots of logged-in operators.
    pub max_slots: i32,
    /// Σ waiting slots.
    pub used_slots_waiting: i32,
    /// Σ accepted slots.
    pub used_slots_accepted: i32,
    /// Σ free slots.
    pub free_slots: i32,
}

/// A group's queue.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueueWorkload {
    /// Free places in the queue.
    pub free_queue_slots_count_total: i32,
    /// Sessions queued.
    pub in_queue_count_total: i32,
    /// Whether the queue is full.
    pub is_queue_full: bool,
}

/// `success` + `errorMessage`, the answer shape of several requests.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// Whether the request succeeded.
    #[serde(default)]
    pub success: bool,
    /// Why not.
    #[serde(default)]
    pub error_message: Option<String>,
}

/// The guest's identifiers per channel.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GuestIdentity {
    /// The web guest's cookie id.
    pub tracked_guest_guid: Option<String>,
    /// Facebook page-scoped id.
    #[serde(rename = "facebookPSID")]
    pub facebook_psid: Option<String>,
    /// Facebook page.
    pub facebook_page_id: Option<String>,
    /// Caller id.
    pub phone_caller_id: Option<String>,
    /// WhatsApp contact.
    pub whats_app_contact_id: Option<String>,
    /// VK contact.
    pub vk_contact_id: Option<String>,
    /// Apple contact.
    pub apple_contact_id: Option<String>,
    /// Generic channel id.
    pub generic_channel_id: Option<String>,
}

/// A hero card usable in the session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeroCardInfo {
    /// Shown name.
    #[serde(default)]
    pub display_name: String,
    /// Card id.
    pub hero_card_id: i32,
    /// Languages it exists in.
    #[serde(default)]
    pub languages: Vec<String>,
}

/// A file stored in mluvii.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaObject {
    /// File id.
    pub id: i32,
    /// File name.
    #[serde(default)]
    pub name: String,
}

/// A contact-directory record matching the guest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmIdentityMatch {
    /// Record id.
    pub crm_identity_id: i64,
    /// 0–100.
    #[serde(default)]
    pub score: f64,
    /// Record data.
    #[serde(default)]
    pub data: BTreeMap<String, Vec<String>>,
}

impl InboundActivity {
    /// Every inbound activity name this version models, in mluvii's spelling.
    pub const KNOWN: &'static [&'static str] = &[
        "ConversationStarted",
        "Text",
        "ConversationEnded",
        "GuestFileUpload",
        "HeroCardSubmission",
        "HeroCardQuickReply",
        "GuestLocation",
        "GetAvailableOperatorsResponse",
        "GetAvailableGroupsResponse",
        "GetCallParamsResponse",
        "SetCallParamsResponse",
        "GetGuestIdentityResponse",
        "ChatbotOpenFileUploadPromptResponse",
        "EnableGuestUploadResponse",
        "DisableGuestUploadResponse",
        "GuestInputChangeResponse",
        "GetHeroCardsResponse",
        "SendHeroCardResponse",
        "GetMediaObjectsResponse",
        "ShareFileResponse",
        "ObtainCrmIdentityResponse",
        "AssignCrmIdentityResponse",
    ];

    /// The `activity` name as mluvii spells it.
    pub fn name(&self) -> &str {
        use InboundActivity as A;
        match self {
            A::ConversationStarted { .. } => "ConversationStarted",
            A::Text { .. } => "Text",
            A::ConversationEnded { .. } => "ConversationEnded",
            A::GuestFileUpload { .. } => "GuestFileUpload",
            A::HeroCardSubmission { .. } => "HeroCardSubmission",
            A::HeroCardQuickReply { .. } => "HeroCardQuickReply",
            A::GuestLocation { .. } => "GuestLocation",
            A::GetAvailableOperatorsResponse { .. } => "GetAvailableOperatorsResponse",
            A::GetAvailableGroupsResponse { .. } => "GetAvailableGroupsResponse",
            A::GetCallParamsResponse { .. } => "GetCallParamsResponse",
            A::SetCallParamsResponse(_) => "SetCallParamsResponse",
            A::GetGuestIdentityResponse(_) => "GetGuestIdentityResponse",
            A::ChatbotOpenFileUploadPromptResponse { .. } => "ChatbotOpenFileUploadPromptResponse",
            A::EnableGuestUploadResponse(_) => "EnableGuestUploadResponse",
            A::DisableGuestUploadResponse(_) => "DisableGuestUploadResponse",
            A::GuestInputChangeResponse(_) => "GuestInputChangeResponse",
            A::GetHeroCardsResponse { .. } => "GetHeroCardsResponse",
            A::SendHeroCardResponse(_) => "SendHeroCardResponse",
            A::GetMediaObjectsResponse { .. } => "GetMediaObjectsResponse",
            A::ShareFileResponse { .. } => "ShareFileResponse",
            A::ObtainCrmIdentityResponse { .. } => "ObtainCrmIdentityResponse",
            A::AssignCrmIdentityResponse { .. } => "AssignCrmIdentityResponse",
            A::Unknown { activity, .. } => activity,
        }
    }
}

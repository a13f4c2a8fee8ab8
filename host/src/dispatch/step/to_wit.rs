//! Inbound: mluvii wire types → the WIT `event` a bot receives.

use std::collections::BTreeMap;

use crate::contract::types::{
    AvailableGroup, AvailableOperator, ConversationEnded, ConversationStarted, CrmAssignResult,
    CrmIdentityMatch, CrmIdentityMatches, Event, FileUploadPromptResult, GroupState, GroupWorkload,
    GuestIdentity, GuestLocation, HeroCardInfo, HeroCardQuickReply, KeyValue, KeyValues,
    MediaObject, Outcome, QueueWorkload, ShareFileResult, TextMessage, UnknownEvent,
};
use crate::mluvii::inbound::{self as wire, InboundActivity as In};
use crate::mluvii::lenient::normalize_timestamp;

/// The WIT event for an inbound activity.
pub fn event_to_wit(activity: &In) -> Event {
    let ts = |t: &Option<String>| t.as_deref().and_then(normalize_timestamp);
    match activity {
        In::ConversationStarted { timestamp } => Event::ConversationStarted(ConversationStarted {
            timestamp: ts(timestamp),
        }),
        In::Text { text, timestamp } => Event::Text(TextMessage {
            text: text.clone(),
            timestamp: ts(timestamp),
        }),
        In::ConversationEnded { timestamp } => Event::ConversationEnded(ConversationEnded {
            timestamp: ts(timestamp),
        }),
        In::GuestFileUpload { file_url } => Event::GuestFileUpload(file_url.clone()),
        In::HeroCardSubmission { params } => Event::HeroCardSubmission(key_values(params)),
        In::HeroCardQuickReply {
            text,
            reply_to_activity_id,
            field_values,
            additional_params,
        } => Event::HeroCardQuickReply(HeroCardQuickReply {
            text: text.clone(),
            reply_to_activity_id: *reply_to_activity_id,
            field_values: field_values.as_ref().map(key_values).unwrap_or_default(),
            additional_params: additional_params
                .as_ref()
                .map(multi_values)
                .unwrap_or_default(),
        }),
        In::GuestLocation {
            latitude,
            longitude,
        } => Event::GuestLocation(GuestLocation {
            latitude: *latitude,
            longitude: *longitude,
        }),
        In::GetAvailableOperatorsResponse {
            available_operators,
        } => Event::GetAvailableOperatorsResponse(
            available_operators
                .iter()
                .map(|o| AvailableOperator {
                    display_name: o.display_name.clone(),
                    user_id: o.user_id,
                })
                .collect(),
        ),
        In::GetAvailableGroupsResponse { available_groups } => {
            Event::GetAvailableGroupsResponse(available_groups.iter().map(group).collect())
        }
        In::GetCallParamsResponse { call_params } => {
            Event::GetCallParamsResponse(key_values(call_params))
        }
        In::SetCallParamsResponse(o) => Event::SetCallParamsResponse(outcome(o)),
        In::GetGuestIdentityResponse(id) => Event::GetGuestIdentityResponse(GuestIdentity {
            tracked_guest_guid: id.tracked_guest_guid.clone(),
            facebook_psid: id.facebook_psid.clone(),
            facebook_page_id: id.facebook_page_id.clone(),
            phone_caller_id: id.phone_caller_id.clone(),
            whats_app_contact_id: id.whats_app_contact_id.clone(),
            vk_contact_id: id.vk_contact_id.clone(),
            apple_contact_id: id.apple_contact_id.clone(),
            generic_channel_id: id.generic_channel_id.clone(),
        }),
        In::ChatbotOpenFileUploadPromptResponse {
            file_url,
            canceled_by_guest,
        } => Event::ChatbotOpenFileUploadPromptResponse(FileUploadPromptResult {
            file_url: file_url.clone(),
            canceled_by_guest: *canceled_by_guest,
        }),
        In::EnableGuestUploadResponse(o) => Event::EnableGuestUploadResponse(outcome(o)),
        In::DisableGuestUploadResponse(o) => Event::DisableGuestUploadResponse(outcome(o)),
        In::GuestInputChangeResponse(o) => Event::GuestInputChangeResponse(outcome(o)),
        In::GetHeroCardsResponse { hero_cards } => Event::GetHeroCardsResponse(
            hero_cards
                .iter()
                .map(|c| HeroCardInfo {
                    display_name: c.display_name.clone(),
                    hero_card_id: c.hero_card_id,
                    languages: c.languages.clone(),
                })
                .collect(),
        ),
        In::SendHeroCardResponse(o) => Event::SendHeroCardResponse(outcome(o)),
        In::GetMediaObjectsResponse { file_store_items } => Event::GetMediaObjectsResponse(
            file_store_items
                .iter()
                .map(|m| MediaObject {
                    id: m.id,
                    name: m.name.clone(),
                })
                .collect(),
        ),
        In::ShareFileResponse {
            is_success,
            error_message,
            file_source,
        } => Event::ShareFileResponse(ShareFileResult {
            success: *is_success,
            error_message: error_message.clone(),
            file_source: file_source.clone(),
        }),
        In::ObtainCrmIdentityResponse {
            assigned_crm_identity_id,
            matched_crm_identities,
        } => Event::ObtainCrmIdentityResponse(CrmIdentityMatches {
            assigned_crm_identity_id: *assigned_crm_identity_id,
            matched: matched_crm_identities
                .iter()
                .map(|m| CrmIdentityMatch {
                    crm_identity_id: m.crm_identity_id,
                    score: m.score,
                    data: multi_values(&m.data),
                })
                .collect(),
        }),
        In::AssignCrmIdentityResponse {
            created,
            crm_identity_id,
            reason,
        } => Event::AssignCrmIdentityResponse(CrmAssignResult {
            created: *created,
            crm_identity_id: *crm_identity_id,
            reason: reason.clone(),
        }),
        In::Unknown { activity, json } => Event::Unknown(UnknownEvent {
            activity: activity.clone(),
            json: json.to_string(),
        }),
    }
}

fn key_values(map: &BTreeMap<String, String>) -> Vec<KeyValue> {
    map.iter()
        .map(|(key, value)| KeyValue {
            key: key.clone(),
            value: value.clone(),
        })
        .collect()
}

fn multi_values(map: &BTreeMap<String, Vec<String>>) -> Vec<KeyValues> {
    map.iter()
        .map(|(key, values)| KeyValues {
            key: key.clone(),
            values: values.clone(),
        })
        .collect()
}

fn outcome(o: &wire::Outcome) -> Outcome {
    Outcome {
        success: o.success,
        error_message: o.error_message.clone(),
    }
}

fn group(g: &wire::AvailableGroup) -> AvailableGroup {
    let state = match g
        .group_state
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        Some("ONLINE") => GroupState::Online,
        Some("BUSY") => GroupState::Busy,
        Some("OFFLINE") => GroupState::Offline,
        _ => GroupState::Unknown,
    };
    AvailableGroup {
        display_name: g.display_name.clone(),
        group_id: g.group_id,
        state,
        offline_reasons: g.group_offline_reasons.clone().unwrap_or_default(),
        group_workload: g.group_workload.map(|w| GroupWorkload {
            max_slots: w.max_slots,
            used_slots_waiting: w.used_slots_waiting,
            used_slots_accepted: w.used_slots_accepted,
            free_slots: w.free_slots,
        }),
        queue_workload: g.queue_workload.map(|q| QueueWorkload {
            free_queue_slots_count_total: q.free_queue_slots_count_total,
            in_queue_count_total: q.in_queue_count_total,
            is_queue_full: q.is_queue_full,
        }),
    }
}

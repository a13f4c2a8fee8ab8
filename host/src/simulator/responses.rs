//! The simulator's plausible answers to request activities, as webhook bodies.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::mluvii::inbound::{
    AvailableGroup, AvailableOperator, GuestIdentity, HeroCardInfo, MediaObject, Outcome,
};
use crate::mluvii::{
    ChannelActivity as Ch, InboundActivity as In, SendActivity, SendBody, WebhookEvent,
};

fn ok() -> Outcome {
    Outcome {
        success: true,
        error_message: None,
    }
}

/// The webhook mluvii would send in answer to `activity`, if any. `params` are the session's
/// call params, updated by SetCallParams.
pub fn answer(
    activity: &SendActivity,
    params: &mut BTreeMap<String, String>,
    groups: &[AvailableGroup],
) -> Option<Value> {
    let SendBody::Channel(channel) = &activity.body else {
        return None;
    };
    let inbound = match channel {
        Ch::GetAvailableGroups { group_ids } => In::GetAvailableGroupsResponse {
            available_groups: groups
                .iter()
                .filter(|g| {
                    group_ids
                        .as_ref()
                        .is_none_or(|ids| ids.contains(&g.group_id))
                })
                .cloned()
                .collect(),
        },
        Ch::GetAvailableOperators { .. } => In::GetAvailableOperatorsResponse {
            available_operators: vec![AvailableOperator {
                display_name: "Simulated operator".into(),
                user_id: 1,
            }],
        },
        Ch::GetCallParams => In::GetCallParamsResponse {
            call_params: params.clone(),
        },
        Ch::SetCallParams { call_params } => {
            params.extend(call_params.clone());
            In::SetCallParamsResponse(ok())
        }
        Ch::GetGuestIdentity => In::GetGuestIdentityResponse(GuestIdentity {
            tracked_guest_guid: Some(format!(
                "00000000-0000-4000-8000-{:012}",
                activity.session_id
            )),
            ..GuestIdentity::default()
        }),
        Ch::EnableGuestInput | Ch::DisableGuestInput => In::GuestInputChangeResponse(ok()),
        Ch::EnableGuestUpload => In::EnableGuestUploadResponse(ok()),
        Ch::DisableGuestUpload => In::DisableGuestUploadResponse(ok()),
        Ch::ChatbotOpenFileUploadPrompt => In::ChatbotOpenFileUploadPromptResponse {
            file_url: None,
            canceled_by_guest: true,
        },
        Ch::GetHeroCards => In::GetHeroCardsResponse {
            hero_cards: vec![HeroCardInfo {
                display_name: "Contact details".into(),
                hero_card_id: 12,
                languages: vec!["cs".into(), "en".into()],
            }],
        },
        Ch::SendHeroCard { .. } => In::SendHeroCardResponse(ok()),
        Ch::GetMediaObjects => In::GetMediaObjectsResponse {
            file_store_items: vec![MediaObject {
                id: 42,
                name: "pricelist.pdf".into(),
            }],
        },
        Ch::ShareFile { .. } => In::ShareFileResponse {
            is_success: true,
            error_message: None,
            file_source: None,
        },
        Ch::ObtainCrmIdentity => In::ObtainCrmIdentityResponse {
            assigned_crm_identity_id: None,
            matched_crm_identities: vec![],
        },
        Ch::AssignCrmIdentity {
            existing_crm_identity_id,
        } => In::AssignCrmIdentityResponse {
            created: existing_crm_identity_id.is_none(),
            crm_identity_id: existing_crm_identity_id.unwrap_or(1001),
            reason: None,
        },
        Ch::RequestLocation { .. } => In::GuestLocation {
            latitude: 50.0875,
            longitude: 14.4214,
        },
        _ => return None,
    };
    Some(
        WebhookEvent {
            session_id: activity.session_id,
            language: None,
            source: None,
            activity: inbound,
        }
        .to_json(),
    )
}

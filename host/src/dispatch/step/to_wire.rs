//! Outbound: the WIT `activity` a bot returns → the Send API body mluvii receives.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::contract::types::{
    ActionKind, Activity, Card, CardAction, CardKind, CardLayout, FileRef, ForwardTarget, KeyValue,
    Message,
};
use crate::mluvii::lenient::now_timestamp;
use crate::mluvii::outbound::{
    self as wire, Attachment, CardContent, CardImage, ChannelActivity as Ch, HERO_CARD,
    MessageBody, SendActivity, SendBody, SuggestedActions, THUMBNAIL_CARD,
};

/// The Send API body for `activity` in `session_id`. Fails only for a `raw` activity whose
/// text is not a JSON object.
pub fn activity_to_wire(session_id: i64, activity: Activity) -> Result<SendActivity, String> {
    let body = match activity {
        Activity::Message(message) => SendBody::Message(message_body(message)),
        Activity::Raw(json) => SendBody::Raw(raw_object(&json)?),
        other => SendBody::Channel(channel(other)),
    };
    Ok(SendActivity { session_id, body })
}

fn channel(activity: Activity) -> Ch {
    match activity {
        Activity::Typing(show) => Ch::Typing { show },
        Activity::Forward(ForwardTarget::Group(id)) => Ch::Forward {
            operator_group_id: Some(id),
            user_id: None,
        },
        Activity::Forward(ForwardTarget::User(id)) => Ch::Forward {
            operator_group_id: None,
            user_id: Some(id),
        },
        Activity::HandOff => Ch::HandOff,
        Activity::EndConversation => Ch::EndConversation,
        Activity::GetAvailableOperators(group_id) => Ch::GetAvailableOperators { group_id },
        Activity::GetAvailableGroups(group_ids) => Ch::GetAvailableGroups { group_ids },
        Activity::GetCallParams => Ch::GetCallParams,
        Activity::SetCallParams(params) => Ch::SetCallParams {
            call_params: to_map(params),
        },
        Activity::SendGuestOfflineEmail(mail) => Ch::SendGuestOfflineEmail {
            subject: mail.subject,
            message: mail.message,
            location: mail.location,
        },
        Activity::GetGuestIdentity => Ch::GetGuestIdentity,
        Activity::SetTag(name) => Ch::SetTag { name },
        Activity::UnsetTag(name) => Ch::UnsetTag { name },
        Activity::RequestLocation(text) => Ch::RequestLocation { text },
        Activity::DisableGuestInput => Ch::DisableGuestInput,
        Activity::EnableGuestInput => Ch::EnableGuestInput,
        Activity::ChatbotOpenFileUploadPrompt => Ch::ChatbotOpenFileUploadPrompt,
        Activity::EnableGuestUpload => Ch::EnableGuestUpload,
        Activity::DisableGuestUpload => Ch::DisableGuestUpload,
        Activity::GetHeroCards => Ch::GetHeroCards,
        Activity::SendHeroCard(card) => Ch::SendHeroCard {
            hero_card_id: card.hero_card_id,
            initial_params: (!card.initial_params.is_empty()).then(|| to_map(card.initial_params)),
            selected_language: card.selected_language,
            additional_params: card.whats_app.map(|w| {
                BTreeMap::from([
                    ("header".to_owned(), w.header),
                    ("body".to_owned(), w.body),
                    ("buttons".to_owned(), w.buttons),
                    ("footer".to_owned(), w.footer),
                ])
            }),
        },
        Activity::GetMediaObjects => Ch::GetMediaObjects,
        Activity::ShareFile(FileRef::Name(name)) => Ch::ShareFile {
            name: Some(name),
            url: None,
        },
        Activity::ShareFile(FileRef::Url(url)) => Ch::ShareFile {
            name: None,
            url: Some(url),
        },
        Activity::ObtainCrmIdentity => Ch::ObtainCrmIdentity,
        Activity::AssignCrmIdentity(existing_crm_identity_id) => Ch::AssignCrmIdentity {
            existing_crm_identity_id,
        },
        Activity::RichCardList(list) => Ch::RichCardList {
            timestamp: Some(now_timestamp()),
            items: list.items.into_iter().map(attachment).collect(),
            layout: match list.layout {
                CardLayout::List => "List",
                CardLayout::Carousel => "Carousel",
            }
            .to_owned(),
        },
        Activity::Message(_) | Activity::Raw(_) => unreachable!("handled by activity_to_wire"),
    }
}

fn message_body(message: Message) -> MessageBody {
    MessageBody {
        kind: "message".to_owned(),
        timestamp: Some(now_timestamp()),
        text: message.text,
        attachments: message.cards.into_iter().map(attachment).collect(),
        attachment_layout: message.layout.map(|l| {
            match l {
                CardLayout::List => "list",
                CardLayout::Carousel => "carousel",
            }
            .to_owned()
        }),
        suggested_actions: (!message.suggested_actions.is_empty()).then(|| SuggestedActions {
            actions: message.suggested_actions.into_iter().map(action).collect(),
        }),
        input_hint: message.ignoring_input.then(|| "ignoringInput".to_owned()),
    }
}

fn attachment(card: Card) -> Attachment {
    Attachment {
        content_type: match card.kind {
            CardKind::Hero => HERO_CARD,
            CardKind::Thumbnail => THUMBNAIL_CARD,
        }
        .to_owned(),
        content: CardContent {
            title: card.title,
            subtitle: card.subtitle,
            text: card.text,
            images: card
                .images
                .into_iter()
                .map(|url| CardImage { url })
                .collect(),
            buttons: card.buttons.into_iter().map(action).collect(),
        },
    }
}

fn action(action: CardAction) -> wire::CardAction {
    wire::CardAction {
        kind: match action.kind {
            ActionKind::ImBack => "imBack",
            ActionKind::OpenUrl => "openUrl",
        }
        .to_owned(),
        title: action.title,
        value: Value::String(action.value),
        image: action.image,
    }
}

fn to_map(pairs: Vec<KeyValue>) -> BTreeMap<String, String> {
    pairs.into_iter().map(|kv| (kv.key, kv.value)).collect()
}

fn raw_object(json: &str) -> Result<serde_json::Map<String, Value>, String> {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(mut map)) => {
            // The host owns the session: a bot cannot address another one.
            map.retain(|key, _| !key.eq_ignore_ascii_case("sessionId"));
            Ok(map)
        }
        Ok(_) => Err("raw activity is not a JSON object".to_owned()),
        Err(e) => Err(format!("raw activity is not valid JSON: {e}")),
    }
}

//! Every outbound activity of the contract becomes the Send API body of the spec's fixture,
//! and every inbound fixture becomes the contract's typed event.

use serde_json::{Value, json};

use super::to_wire::activity_to_wire;
use super::to_wit::event_to_wit;
use crate::contract::types::*;
use crate::mluvii::{Webhook, parse_webhook};

const SESSION: i64 = 2359788;

fn fixture(name: &str) -> Value {
    let path = format!("{}/../fixtures/mluvii/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The wire JSON of `activity`, with the host-generated timestamp checked and removed.
fn wire(activity: Activity) -> Value {
    let mut json = activity_to_wire(SESSION, activity).unwrap().to_json();
    if let Some(ts) = json.as_object_mut().unwrap().remove("timestamp") {
        assert!(crate::mluvii::lenient::parse_timestamp(ts.as_str().unwrap()).is_some());
    }
    json
}

fn without_timestamp(mut value: Value) -> Value {
    value.as_object_mut().unwrap().remove("timestamp");
    value
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.into(),
    }
}

fn im_back(title: &str, value: &str) -> CardAction {
    CardAction {
        kind: ActionKind::ImBack,
        title: title.into(),
        value: value.into(),
        image: None,
    }
}

fn text_message(text: &str) -> Message {
    Message {
        text: Some(text.into()),
        cards: vec![],
        layout: None,
        suggested_actions: vec![],
        ignoring_input: false,
    }
}

fn hero(title: &str, buttons: Vec<CardAction>) -> Card {
    Card {
        kind: CardKind::Hero,
        title: Some(title.into()),
        subtitle: None,
        text: None,
        images: vec![],
        buttons,
    }
}

#[test]
fn channel_activities_match_their_fixtures() {
    let cases: Vec<(Activity, &str)> = vec![
        (Activity::Typing(true), "out-typing-show.json"),
        (Activity::Typing(false), "out-typing-hide.json"),
        (
            Activity::Forward(ForwardTarget::Group(7299)),
            "out-forward-group.json",
        ),
        (
            Activity::Forward(ForwardTarget::User(2710)),
            "out-forward-user.json",
        ),
        (Activity::HandOff, "out-handoff.json"),
        (Activity::EndConversation, "out-end-conversation.json"),
        (
            Activity::GetAvailableOperators(Some(7299)),
            "out-get-available-operators.json",
        ),
        (
            Activity::GetAvailableOperators(None),
            "out-get-available-operators-routing.json",
        ),
        (
            Activity::GetAvailableGroups(Some(vec![7299, 7300])),
            "out-get-available-groups.json",
        ),
        (
            Activity::GetAvailableGroups(None),
            "out-get-available-groups-routing.json",
        ),
        (Activity::GetCallParams, "out-get-call-params.json"),
        (
            Activity::SetCallParams(vec![kv("HandoffReason", "Sales")]),
            "out-set-call-params.json",
        ),
        (
            Activity::SendGuestOfflineEmail(OfflineEmail {
                subject: "New lead from chatbot".into(),
                message: "Customer Jan Novák asks to be called back at +420123456789.".into(),
                location: "Chatbot Mluvik".into(),
            }),
            "out-send-guest-offline-email.json",
        ),
        (Activity::GetGuestIdentity, "out-get-guest-identity.json"),
        (
            Activity::SetTag("chatbot-resolved".into()),
            "out-set-tag.json",
        ),
        (
            Activity::UnsetTag("chatbot-resolved".into()),
            "out-unset-tag.json",
        ),
        (
            Activity::RequestLocation(Some(
                "May we use your location to find the nearest branch?".into(),
            )),
            "out-request-location.json",
        ),
        (Activity::DisableGuestInput, "out-disable-guest-input.json"),
        (Activity::EnableGuestInput, "out-enable-guest-input.json"),
        (
            Activity::ChatbotOpenFileUploadPrompt,
            "out-chatbot-open-file-upload-prompt.json",
        ),
        (Activity::EnableGuestUpload, "out-enable-guest-upload.json"),
        (
            Activity::DisableGuestUpload,
            "out-disable-guest-upload.json",
        ),
        (Activity::GetHeroCards, "out-get-hero-cards.json"),
        (
            Activity::SendHeroCard(SendHeroCard {
                hero_card_id: 12,
                initial_params: vec![kv("call_param_fullname", "Jan Novák")],
                selected_language: Some("cs".into()),
                whats_app: None,
            }),
            "out-send-hero-card.json",
        ),
        (
            Activity::SendHeroCard(SendHeroCard {
                hero_card_id: 13,
                initial_params: vec![],
                selected_language: None,
                whats_app: Some(WhatsAppParams {
                    header: vec![],
                    body: vec!["Jan".into(), "12. 12. 2024".into()],
                    buttons: vec![],
                    footer: vec![],
                }),
            }),
            "out-send-hero-card-whatsapp.json",
        ),
        (Activity::GetMediaObjects, "out-get-media-objects.json"),
        (
            Activity::ShareFile(FileRef::Name("pricelist.pdf".into())),
            "out-share-file-name.json",
        ),
        (
            Activity::ShareFile(FileRef::Url(
                "https://www.youtube.com/watch?v=DQFKmzUhQg8&ab_channel=mluvii".into(),
            )),
            "out-share-file-url.json",
        ),
        (Activity::ObtainCrmIdentity, "out-obtain-crm-identity.json"),
        (
            Activity::AssignCrmIdentity(Some(1001)),
            "out-assign-crm-identity.json",
        ),
        (
            Activity::AssignCrmIdentity(None),
            "out-assign-crm-identity-new.json",
        ),
    ];
    for (activity, name) in cases {
        assert_eq!(wire(activity), fixture(name), "{name}");
    }
}

#[test]
fn messages_match_their_fixtures() {
    assert_eq!(
        wire(Activity::Message(text_message("Sample text"))),
        without_timestamp(fixture("out-text.json"))
    );
    assert_eq!(
        wire(Activity::Message(text_message(
            "<em>Italic part</em>, <strong>Bold part</strong>"
        ))),
        without_timestamp(fixture("out-text-formatted.json"))
    );
    let mut hinted = text_message("Please wait, I am looking that up.");
    hinted.ignoring_input = true;
    assert_eq!(
        wire(Activity::Message(hinted)),
        without_timestamp(fixture("out-message-input-hint.json"))
    );
    let buttons = Message {
        text: None,
        cards: vec![hero(
            "Test buttons",
            vec![
                im_back("Title of the first button", "Value of the first button"),
                im_back("Title of the second button", "Value of the second button"),
            ],
        )],
        layout: None,
        suggested_actions: vec![],
        ignoring_input: false,
    };
    assert_eq!(
        wire(Activity::Message(buttons)),
        without_timestamp(fixture("out-buttons-hero-card.json"))
    );
    let mut suggested = text_message("What do you want to do?");
    suggested.suggested_actions = vec![
        im_back("Eat", "client_eat"),
        im_back("Drink", "client_drink"),
        im_back("Sleep", "client_sleep"),
        CardAction {
            image: Some("img link".into()),
            ..im_back("Repeat", "client_repeat")
        },
    ];
    assert_eq!(
        wire(Activity::Message(suggested)),
        without_timestamp(fixture("out-suggested-actions.json"))
    );
}

#[test]
fn carousel_and_rich_cards_have_the_spec_shape() {
    let card = Card {
        subtitle: Some("1. Street Foo 254 Czechia".into()),
        images: vec!["https://example.com/map-1.png".into()],
        ..hero("Street #1", vec![im_back("Street Foo 254", "1")])
    };
    let carousel = Message {
        text: None,
        cards: vec![card],
        layout: Some(CardLayout::Carousel),
        suggested_actions: vec![],
        ignoring_input: false,
    };
    let json = wire(Activity::Message(carousel));
    let expected = fixture("out-carousel-hero-cards.json");
    assert_eq!(json["attachmentLayout"], "carousel");
    let mut first = expected["attachments"][0].clone();
    // We always send button values as strings; the sample's number is its own quirk.
    first["content"]["buttons"][0]["value"] = json!("1");
    assert_eq!(json["attachments"][0], first);

    let rich = Activity::RichCardList(RichCardList {
        layout: CardLayout::Carousel,
        items: vec![
            hero("Option A", vec![im_back("Choose A", "A")]),
            hero("Option B", vec![im_back("Choose B", "B")]),
        ],
    });
    assert_eq!(
        wire(rich),
        without_timestamp(fixture("out-rich-card-list.json"))
    );
}

#[test]
fn raw_activities_must_be_objects_and_cannot_change_the_session() {
    let json = wire(Activity::Raw(
        r#"{"activity":"New","sessionId":1,"x":[1]}"#.into(),
    ));
    assert_eq!(
        json,
        json!({"sessionId": SESSION, "activity": "New", "x": [1]})
    );
    assert!(activity_to_wire(1, Activity::Raw("[1]".into())).is_err());
    assert!(activity_to_wire(1, Activity::Raw("{".into())).is_err());
}

fn inbound(name: &str) -> Event {
    let body = std::fs::read(format!(
        "{}/../fixtures/mluvii/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    match parse_webhook(&body).unwrap() {
        Webhook::Event(e) => event_to_wit(&e.activity),
        Webhook::Ping => panic!("{name} is a ping"),
    }
}

#[test]
fn inbound_fixtures_become_typed_events() {
    match inbound("in-text.json") {
        Event::Text(t) => {
            assert_eq!(t.text, "Hello world!");
            assert_eq!(
                t.timestamp.as_deref(),
                Some("2020-09-09T10:03:46.792954+00:00")
            );
        }
        other => panic!("{other:?}"),
    }
    match inbound("in-get-available-groups-response.json") {
        Event::GetAvailableGroupsResponse(groups) => {
            assert!(matches!(groups[0].state, GroupState::Online));
            assert!(matches!(groups[1].state, GroupState::Offline));
            assert_eq!(
                groups[1].offline_reasons,
                ["BUSINESS_HOURS", "NO_OPERATORS"]
            );
            assert_eq!(groups[0].group_workload.unwrap().free_slots, 2);
        }
        other => panic!("{other:?}"),
    }
    match inbound("in-get-available-groups-response-legacy.json") {
        Event::GetAvailableGroupsResponse(groups) => {
            assert!(matches!(groups[0].state, GroupState::Unknown));
            assert!(groups[0].queue_workload.is_none());
        }
        other => panic!("{other:?}"),
    }
    match inbound("in-hero-card-submission.json") {
        Event::HeroCardSubmission(params) => {
            assert_eq!(
                (params[0].key.as_str(), params[0].value.as_str()),
                ("call_param_fullname", "Jan Novák")
            );
        }
        other => panic!("{other:?}"),
    }
    match inbound("in-share-file-response.json") {
        Event::ShareFileResponse(r) => assert!(r.success),
        other => panic!("{other:?}"),
    }
    match inbound("in-chatbot-open-file-upload-prompt-response-canceled.json") {
        Event::ChatbotOpenFileUploadPromptResponse(r) => {
            assert!(r.canceled_by_guest);
            assert_eq!(r.file_url, None);
        }
        other => panic!("{other:?}"),
    }
    match inbound("in-obtain-crm-identity-response.json") {
        Event::ObtainCrmIdentityResponse(r) => {
            assert_eq!(r.matched.len(), 2);
            assert_eq!(r.matched[1].data[0].values, ["+420123456789"]);
        }
        other => panic!("{other:?}"),
    }
    match inbound("in-guest-file-upload.json") {
        Event::GuestFileUpload(url) => assert!(url.ends_with("photo.jpg")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_inbound_fixture_maps_to_its_own_case() {
    let dir = format!("{}/../fixtures/mluvii", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !name.starts_with("in-") || name.contains("ping") || name.contains("legacy-pascal") {
            continue;
        }
        let event = inbound(&name);
        assert!(!matches!(event, Event::Unknown(_)), "{name}");
        // The case name, in the WIT's kebab-case, is the fixture name's activity.
        let debug = format!("{event:?}");
        let case = debug.trim_start_matches("Event::");
        let declared = fixture(&name)["activity"].as_str().unwrap().to_owned();
        let declared_case: String = declared.chars().filter(|c| *c != '_').collect();
        assert!(
            case.to_lowercase()
                .replace('-', "")
                .starts_with(&declared_case.to_lowercase()),
            "{name}: {case}"
        );
    }
}

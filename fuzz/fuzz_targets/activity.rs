//! Any activity a bot could return (text, cards, suggested actions, tags, call params, raw
//! JSON, …) converts to a Send API body or a clear error, and the body serializes to a JSON
//! object carrying the session id.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wasmbot::dispatch::step::activity_to_wire;
use wasmbot::contract::types::{
    ActionKind, Activity, Card, CardAction, CardKind, CardLayout, ForwardTarget, KeyValue,
    Message, OfflineEmail,
};

#[derive(Arbitrary, Debug)]
struct Button {
    open_url: bool,
    title: String,
    value: String,
    image: Option<String>,
}

#[derive(Arbitrary, Debug)]
enum Returned {
    Message {
        text: Option<String>,
        cards: Vec<(bool, Option<String>, Option<String>, Vec<String>, Vec<Button>)>,
        carousel: Option<bool>,
        suggested: Vec<Button>,
        ignoring_input: bool,
    },
    Raw(String),
    Typing(bool),
    Forward(bool, i32),
    Groups(Option<Vec<i32>>),
    CallParams(Vec<(String, String)>),
    Email(String, String, String),
    Tag(String),
    Location(Option<String>),
    Crm(Option<i64>),
}

fn action(button: Button) -> CardAction {
    CardAction {
        kind: if button.open_url {
            ActionKind::OpenUrl
        } else {
            ActionKind::ImBack
        },
        title: button.title,
        value: button.value,
        image: button.image,
    }
}

fn activity(returned: Returned) -> Activity {
    match returned {
        Returned::Message {
            text,
            cards,
            carousel,
            suggested,
            ignoring_input,
        } => Activity::Message(Message {
            text,
            cards: cards
                .into_iter()
                .map(|(hero, title, text, images, buttons)| Card {
                    kind: if hero { CardKind::Hero } else { CardKind::Thumbnail },
                    title,
                    subtitle: None,
                    text,
                    images,
                    buttons: buttons.into_iter().map(action).collect(),
                })
                .collect(),
            layout: carousel.map(|c| if c { CardLayout::Carousel } else { CardLayout::List }),
            suggested_actions: suggested.into_iter().map(action).collect(),
            ignoring_input,
        }),
        Returned::Raw(json) => Activity::Raw(json),
        Returned::Typing(show) => Activity::Typing(show),
        Returned::Forward(group, id) => Activity::Forward(if group {
            ForwardTarget::Group(id)
        } else {
            ForwardTarget::User(id)
        }),
        Returned::Groups(ids) => Activity::GetAvailableGroups(ids),
        Returned::CallParams(pairs) => Activity::SetCallParams(
            pairs
                .into_iter()
                .map(|(key, value)| KeyValue { key, value })
                .collect(),
        ),
        Returned::Email(subject, message, location) => {
            Activity::SendGuestOfflineEmail(OfflineEmail {
                subject,
                message,
                location,
            })
        }
        Returned::Tag(name) => Activity::SetTag(name),
        Returned::Location(text) => Activity::RequestLocation(text),
        Returned::Crm(id) => Activity::AssignCrmIdentity(id),
    }
}

fuzz_target!(|input: (i64, Returned)| {
    let (session_id, returned) = input;
    if let Ok(sent) = activity_to_wire(session_id, activity(returned)) {
        let json = sent.to_json();
        assert_eq!(json["sessionId"], session_id, "{json}");
        let _ = sent.name();
    }
});

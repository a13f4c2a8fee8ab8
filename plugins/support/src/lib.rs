//! The support bot: a realistic first-line flow.
//!
//! 1. On `ConversationStarted` it greets and offers one button per topic (from settings).
//! 2. On a topic it sets the `HandoffReason` call param to the topic, shows the typing
//!    indicator and asks mluvii which groups routing would pick (`GetAvailableGroups`).
//! 3. On the answer it hands off to routing (`HandOff`) when a group is ONLINE or BUSY;
//!    otherwise it collects an e-mail address and a message and sends them with
//!    `SendGuestOfflineEmail`.
//!
//! Anything unexpected gets a helpful answer with the topics again; "menu" starts over.
//! The step of each session is kept in `state`.
//!
//! Settings (all optional): `greeting`, `topics` (a list of button texts, default
//! `["Sales", "Complaint", "Other"]`), `offline_location` (the e-mail's source label).

mod texts;

use serde::{Deserialize, Serialize};
use wasmbot_sdk::state::Scope;
use wasmbot_sdk::{
    Activity, AvailableGroup, Bot, CardAction, Conversation, Event, GroupState, Result, config,
    export_bot, log,
};

struct Support;

/// Where a session is in the flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
enum Step {
    ChoosingTopic,
    CheckingAvailability { topic: String },
    HandedOff { topic: String },
    AskingEmail { topic: String },
    AskingMessage { topic: String, email: String },
    Done,
}

const STEP_KEY: &str = "step";

impl Bot for Support {
    fn handle(conversation: &Conversation, event: Event) -> Result<Vec<Activity>> {
        let session = conversation.session();
        let step: Option<Step> = session.get(STEP_KEY)?;
        let (next, activities) = match (event, step) {
            (Event::ConversationStarted(_), _) => start(),
            (Event::ConversationEnded(_), _) => {
                session.delete(STEP_KEY)?;
                return Ok(vec![]);
            }
            (Event::Text(message), step) => on_text(message.text.trim(), step),
            (Event::SetCallParamsResponse(outcome), _) => {
                if !outcome.success {
                    log::warn(&format!(
                        "SetCallParams failed: {}",
                        outcome.error_message.unwrap_or_default()
                    ));
                }
                return Ok(vec![]);
            }
            (
                Event::GetAvailableGroupsResponse(groups),
                Some(Step::CheckingAvailability { topic }),
            ) => on_groups(topic, &groups),
            (other, step) => {
                log::debug(&format!("ignoring {other:?} in step {step:?}"));
                return Ok(vec![]);
            }
        };
        save(&session, &next)?;
        Ok(activities)
    }
}

fn save(session: &Scope, step: &Step) -> Result<()> {
    session.set(STEP_KEY, step)
}

fn topics() -> Vec<String> {
    config::get_json::<Vec<String>>("topics")
        .ok()
        .flatten()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| {
            texts::DEFAULT_TOPICS
                .iter()
                .map(|t| t.to_string())
                .collect()
        })
}

fn topic_buttons(text: &str) -> Activity {
    Activity::buttons(
        text,
        topics()
            .into_iter()
            .map(|t| CardAction::im_back(t.clone(), t)),
    )
}

fn start() -> (Step, Vec<Activity>) {
    let greeting = config::get_or("greeting", texts::GREETING);
    (Step::ChoosingTopic, vec![topic_buttons(&greeting)])
}

fn on_text(text: &str, step: Option<Step>) -> (Step, Vec<Activity>) {
    if text.eq_ignore_ascii_case("menu") || text.eq_ignore_ascii_case("start over") {
        return start();
    }
    match step {
        None | Some(Step::ChoosingTopic) | Some(Step::Done) => choose_topic(text),
        Some(Step::CheckingAvailability { topic }) => (
            Step::CheckingAvailability { topic },
            vec![Activity::text(texts::STILL_CHECKING)],
        ),
        Some(Step::HandedOff { topic }) => (
            Step::HandedOff { topic },
            vec![Activity::text(texts::ALREADY_HANDED_OFF)],
        ),
        Some(Step::AskingEmail { topic }) => {
            if looks_like_email(text) {
                (
                    Step::AskingMessage {
                        topic,
                        email: text.to_owned(),
                    },
                    vec![Activity::text(texts::ASK_MESSAGE)],
                )
            } else {
                (
                    Step::AskingEmail { topic },
                    vec![Activity::text(texts::BAD_EMAIL)],
                )
            }
        }
        Some(Step::AskingMessage { topic, email }) => send_offline_email(topic, email, text),
    }
}

fn choose_topic(text: &str) -> (Step, Vec<Activity>) {
    let chosen = topics().into_iter().find(|t| t.eq_ignore_ascii_case(text));
    match chosen {
        Some(topic) => (
            Step::CheckingAvailability {
                topic: topic.clone(),
            },
            vec![
                Activity::set_call_params([("HandoffReason", topic.as_str())]),
                Activity::text(texts::CHECKING),
                Activity::typing(true),
                Activity::get_available_groups(),
            ],
        ),
        None => {
            let options = topics().join(", ");
            (
                Step::ChoosingTopic,
                vec![topic_buttons(&format!(
                    "{} {options}.",
                    texts::NOT_UNDERSTOOD
                ))],
            )
        }
    }
}

fn on_groups(topic: String, groups: &[AvailableGroup]) -> (Step, Vec<Activity>) {
    let reachable = groups
        .iter()
        .any(|g| matches!(g.state, GroupState::Online | GroupState::Busy));
    if reachable {
        (
            Step::HandedOff {
                topic: topic.clone(),
            },
            vec![
                Activity::typing(false),
                Activity::text(format!("{} {topic}.", texts::HANDING_OFF)),
                Activity::hand_off(),
            ],
        )
    } else {
        (
            Step::AskingEmail { topic },
            vec![
                Activity::typing(false),
                Activity::text(texts::OFFLINE_ASK_EMAIL),
            ],
        )
    }
}

fn send_offline_email(topic: String, email: String, message: &str) -> (Step, Vec<Activity>) {
    let location = config::get_or("offline_location", texts::OFFLINE_LOCATION);
    (
        Step::Done,
        vec![
            Activity::set_call_params([("oo1_guest_email", email.as_str())]),
            Activity::offline_email(
                format!("Support request: {topic}"),
                format!("From: {email}\nTopic: {topic}\n\n{message}"),
                location,
            ),
            Activity::text(format!("{} {email}.", texts::THANKS)),
        ],
    )
}

fn looks_like_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !text.contains(char::is_whitespace)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
}

export_bot!(Support);

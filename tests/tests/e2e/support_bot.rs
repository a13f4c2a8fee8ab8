//! The support bot's whole flow: topic choice, availability check, hand-off, and the offline
//! e-mail branch.

use std::sync::Arc;

use serde_json::{Value, json};
use wasmbot::runtime::{Limits, Plugin, TenantEnv};
use wasmbot_tests::{bodies, event, load, plugins, tenant, text};

const SESSION: i64 = 2359788;

struct Chat {
    bot: Plugin,
    tenant: Arc<TenantEnv>,
}

impl Chat {
    fn new(settings: Value) -> Self {
        Self {
            bot: load(plugins::SUPPORT),
            tenant: tenant("acme", settings, Limits::default()),
        }
    }

    fn send(&self, body: Value) -> Vec<Value> {
        let mut body = body;
        body["sessionId"] = json!(SESSION);
        bodies(&self.bot, &self.tenant, &event(body))
    }

    fn say(&self, words: &str) -> Vec<Value> {
        bodies(&self.bot, &self.tenant, &text(SESSION, words))
    }
}

fn groups(state: &str) -> Value {
    json!({"activity": "GetAvailableGroupsResponse", "availableGroups": [
        {"displayName": "Sales", "groupId": 7299, "groupState": state, "groupOfflineReasons": []}
    ]})
}

fn button_titles(body: &Value) -> Vec<String> {
    body["attachments"][0]["content"]["buttons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["title"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn greets_with_topic_buttons_from_settings() {
    let chat = Chat::new(json!({"greeting": "Dobrý den!", "topics": ["Prodej", "Reklamace"]}));
    let sent = chat.send(json!({"activity": "ConversationStarted", "language": "cs"}));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["type"], "message");
    assert_eq!(sent[0]["attachments"][0]["content"]["title"], "Dobrý den!");
    assert_eq!(button_titles(&sent[0]), ["Prodej", "Reklamace"]);
    assert_eq!(
        sent[0]["attachments"][0]["content"]["buttons"][1]["value"],
        "Reklamace"
    );
}

#[test]
fn a_topic_sets_the_reason_shows_typing_and_asks_for_groups() {
    let chat = Chat::new(json!({}));
    chat.send(json!({"activity": "ConversationStarted"}));
    let sent = chat.say("sales");
    assert_eq!(
        sent[0],
        json!({"sessionId": SESSION, "activity": "SetCallParams",
        "callParams": {"HandoffReason": "Sales"}})
    );
    assert_eq!(sent[1]["type"], "message");
    assert_eq!(
        sent[2],
        json!({"sessionId": SESSION, "activity": "Typing", "show": true})
    );
    assert_eq!(
        sent[3],
        json!({"sessionId": SESSION, "activity": "GetAvailableGroups"})
    );
    assert!(
        chat.send(json!({"activity": "SetCallParamsResponse", "success": true}))
            .is_empty()
    );
    assert!(
        chat.say("hello?")[0]["text"]
            .as_str()
            .unwrap()
            .contains("still checking")
    );
}

#[test]
fn online_or_busy_group_hands_off() {
    for state in ["ONLINE", "BUSY"] {
        let chat = Chat::new(json!({}));
        chat.send(json!({"activity": "ConversationStarted"}));
        chat.say("Complaint");
        let sent = chat.send(groups(state));
        assert_eq!(
            sent[0],
            json!({"sessionId": SESSION, "activity": "Typing", "show": false})
        );
        assert!(sent[1]["text"].as_str().unwrap().contains("Complaint"));
        assert_eq!(
            sent[2],
            json!({"sessionId": SESSION, "activity": "HandOff"})
        );
        assert!(
            chat.say("anyone?")[0]["text"]
                .as_str()
                .unwrap()
                .contains("being connected")
        );
    }
}

#[test]
fn offline_groups_lead_to_the_offline_email() {
    let chat = Chat::new(json!({"offline_location": "Acme web chat"}));
    chat.send(json!({"activity": "ConversationStarted"}));
    chat.say("Other");
    let sent = chat.send(groups("OFFLINE"));
    assert_eq!(sent[0]["activity"], "Typing");
    assert!(sent[1]["text"].as_str().unwrap().contains("e-mail address"));
    let retry = chat.say("not an address");
    assert!(
        retry[0]["text"]
            .as_str()
            .unwrap()
            .contains("does not look like")
    );
    let ask = chat.say("jan.novak@example.com");
    assert!(
        ask[0]["text"]
            .as_str()
            .unwrap()
            .contains("What would you like")
    );
    let done = chat.say("Please call me back.");
    assert_eq!(
        done[0],
        json!({"sessionId": SESSION, "activity": "SetCallParams",
        "callParams": {"oo1_guest_email": "jan.novak@example.com"}})
    );
    assert_eq!(
        done[1],
        json!({"sessionId": SESSION, "activity": "SendGuestOfflineEmail",
        "subject": "Support request: Other",
        "message": "From: jan.novak@example.com\nTopic: Other\n\nPlease call me back.",
        "location": "Acme web chat"})
    );
    assert!(
        done[2]["text"]
            .as_str()
            .unwrap()
            .contains("jan.novak@example.com")
    );
}

#[test]
fn an_empty_group_list_counts_as_offline() {
    let chat = Chat::new(json!({}));
    chat.say("Sales");
    let sent = chat.send(json!({"activity": "GetAvailableGroupsResponse", "availableGroups": []}));
    assert!(sent[1]["text"].as_str().unwrap().contains("e-mail address"));
}

#[test]
fn unknown_input_gets_help_and_menu_starts_over() {
    let chat = Chat::new(json!({}));
    chat.send(json!({"activity": "ConversationStarted"}));
    let help = chat.say("what is this?");
    let title = help[0]["attachments"][0]["content"]["title"]
        .as_str()
        .unwrap();
    assert!(title.contains("Sales, Complaint, Other"), "{title}");
    chat.say("Sales");
    let menu = chat.say("menu");
    assert_eq!(button_titles(&menu[0]), ["Sales", "Complaint", "Other"]);
    // An unrelated response in the wrong step is ignored, not answered.
    assert!(chat.send(groups("ONLINE")).is_empty());
}

#[test]
fn sessions_do_not_share_steps() {
    let chat = Chat::new(json!({}));
    chat.say("Sales");
    let other = bodies(
        &chat.bot,
        &chat.tenant,
        &text(SESSION + 1, "jan@example.com"),
    );
    assert!(
        other[0]["attachments"][0]["content"]["title"]
            .as_str()
            .unwrap()
            .contains("did not understand")
    );
}

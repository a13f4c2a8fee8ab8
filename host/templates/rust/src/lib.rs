//! {{name}}: greets with a button, repeats what the guest writes, and hands the chat to a
//! colleague when the guest clicks the button.

use wasmbot_sdk::{Activity, Bot, CardAction, Conversation, Event, Result, config, export_bot};

/// The button's title, which is also the text a click sends.
const HUMAN: &str = "Talk to a human";

struct Greeter;

impl Bot for Greeter {
    fn handle(_conversation: &Conversation, event: Event) -> Result<Vec<Activity>> {
        match event {
            Event::ConversationStarted(_) => Ok(vec![Activity::buttons(
                config::get_or("greeting", "Hello!"),
                [CardAction::im_back(HUMAN, HUMAN)],
            )]),
            Event::Text(message) if message.text == HUMAN => Ok(vec![
                Activity::text("Connecting you to a colleague."),
                Activity::hand_off(),
            ]),
            Event::Text(message) => Ok(vec![Activity::text(format!(
                "You said: {}",
                message.text
            ))]),
            _ => Ok(vec![]),
        }
    }
}

export_bot!(Greeter);

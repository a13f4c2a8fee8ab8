"""{{name}}: greets with a button, repeats what the guest writes, and hands the chat to a
colleague when the guest clicks the button."""

import wasmbot
from wasmbot import Activity, config

# The button's title, which is also the text a click sends.
HUMAN = "Talk to a human"


def handle(conversation: wasmbot.Conversation, event: wasmbot.Event) -> list:
    if event.kind == "conversation-started":
        return [Activity.buttons(config.get("greeting", "Hello!"), [HUMAN])]
    if event.kind == "text" and event.text == HUMAN:
        return [Activity.text("Connecting you to a colleague."), Activity.hand_off()]
    if event.kind == "text":
        return [Activity.text(f"You said: {event.text}")]
    return []


Handler = wasmbot.export(handle)

"""The support bot in Python: the same flow, texts, settings and stored state as the Rust
`plugins/support` bot (see its doc comment); `plugins/scripts/support.json` checks both."""

import wasmbot
from wasmbot import Activity, GroupState, config, log

DEFAULT_TOPICS = ["Sales", "Complaint", "Other"]
GREETING = "Hello! I am the support assistant. What can we help you with?"
NOT_UNDERSTOOD = "Sorry, I did not understand. Please choose one of:"
CHECKING = "One moment, I am checking who is available…"
STILL_CHECKING = "I am still checking who is available, one moment please."
HANDING_OFF = "Connecting you to our team for"
ALREADY_HANDED_OFF = "You are being connected to a colleague, please wait."
OFFLINE_ASK_EMAIL = (
    "Nobody from the team is available right now. Leave us your e-mail address and a "
    "message, and we will get back to you. What is your e-mail address?"
)
BAD_EMAIL = "That does not look like an e-mail address. Please write it like name@example.com."
ASK_MESSAGE = "Thank you. What would you like to tell us?"
THANKS = "Thank you! We have passed your message on and will reply to"
OFFLINE_LOCATION = "wasmbot support bot"

# The session's step is stored as the Rust bot stores it: {"step": "asking-email", "topic": …}.
STEP_KEY = "step"


def handle(conversation: wasmbot.Conversation, event: wasmbot.Event) -> list:
    session = conversation.session
    step = session.get(STEP_KEY)
    if event.kind == "conversation-started":
        nxt, activities = start()
    elif event.kind == "conversation-ended":
        session.delete(STEP_KEY)
        return []
    elif event.kind == "text":
        nxt, activities = on_text(event.text.strip(), step)
    elif event.kind == "set-call-params-response":
        if not event.value.success:
            log.warn(f"SetCallParams failed: {event.value.error_message or ''}")
        return []
    elif event.kind == "get-available-groups-response" and step and step["step"] == "checking-availability":
        nxt, activities = on_groups(step["topic"], event.value)
    else:
        log.debug(f"ignoring {event.kind} in step {step}")
        return []
    session.set(STEP_KEY, nxt)
    return activities


def topics() -> list:
    configured = config.get_json("topics")
    if isinstance(configured, list) and configured:
        return [str(t) for t in configured]
    return list(DEFAULT_TOPICS)


def topic_buttons(text: str):
    return Activity.buttons(text, topics())


def start():
    return {"step": "choosing-topic"}, [topic_buttons(config.get("greeting", GREETING))]


def on_text(text: str, step):
    if text.lower() in ("menu", "start over"):
        return start()
    name = step["step"] if step else None
    if name in (None, "choosing-topic", "done"):
        return choose_topic(text)
    if name == "checking-availability":
        return step, [Activity.text(STILL_CHECKING)]
    if name == "handed-off":
        return step, [Activity.text(ALREADY_HANDED_OFF)]
    if name == "asking-email":
        if looks_like_email(text):
            return ({"step": "asking-message", "topic": step["topic"], "email": text},
                    [Activity.text(ASK_MESSAGE)])
        return step, [Activity.text(BAD_EMAIL)]
    if name == "asking-message":
        return send_offline_email(step["topic"], step["email"], text)
    return choose_topic(text)


def choose_topic(text: str):
    chosen = next((t for t in topics() if t.lower() == text.lower()), None)
    if chosen is None:
        options = ", ".join(topics())
        return {"step": "choosing-topic"}, [topic_buttons(f"{NOT_UNDERSTOOD} {options}.")]
    return {"step": "checking-availability", "topic": chosen}, [
        Activity.set_call_params({"HandoffReason": chosen}),
        Activity.text(CHECKING),
        Activity.typing(True),
        Activity.get_available_groups(),
    ]


def on_groups(topic: str, groups: list):
    if any(g.state in (GroupState.ONLINE, GroupState.BUSY) for g in groups):
        return {"step": "handed-off", "topic": topic}, [
            Activity.typing(False),
            Activity.text(f"{HANDING_OFF} {topic}."),
            Activity.hand_off(),
        ]
    return {"step": "asking-email", "topic": topic}, [
        Activity.typing(False),
        Activity.text(OFFLINE_ASK_EMAIL),
    ]


def send_offline_email(topic: str, email: str, message: str):
    location = config.get("offline_location", OFFLINE_LOCATION)
    return {"step": "done"}, [
        Activity.set_call_params({"oo1_guest_email": email}),
        Activity.offline_email(f"Support request: {topic}", f"From: {email}\nTopic: {topic}\n\n{message}", location),
        Activity.text(f"{THANKS} {email}."),
    ]


def looks_like_email(text: str) -> bool:
    local, at, domain = text.partition("@")
    return (bool(at) and bool(local) and not any(c.isspace() for c in text)
            and "." in domain and not domain.startswith(".") and not domain.endswith("."))


Handler = wasmbot.export(handle)

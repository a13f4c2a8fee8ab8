// The support bot in JavaScript: the same flow, texts, settings and stored state as the Rust
// `plugins/support` bot (see its doc comment); `plugins/scripts/support.json` checks both.

import { Activity, config, exportBot, log } from "../../guest-sdk-js/wasmbot.js";

const DEFAULT_TOPICS = ["Sales", "Complaint", "Other"];
const GREETING = "Hello! I am the support assistant. What can we help you with?";
const NOT_UNDERSTOOD = "Sorry, I did not understand. Please choose one of:";
const CHECKING = "One moment, I am checking who is available…";
const STILL_CHECKING = "I am still checking who is available, one moment please.";
const HANDING_OFF = "Connecting you to our team for";
const ALREADY_HANDED_OFF = "You are being connected to a colleague, please wait.";
const OFFLINE_ASK_EMAIL =
  "Nobody from the team is available right now. Leave us your e-mail address and a message, and we will get back to you. What is your e-mail address?";
const BAD_EMAIL = "That does not look like an e-mail address. Please write it like name@example.com.";
const ASK_MESSAGE = "Thank you. What would you like to tell us?";
const THANKS = "Thank you! We have passed your message on and will reply to";
const OFFLINE_LOCATION = "wasmbot support bot";

// The session's step is stored as the Rust bot stores it: {"step": "asking-email", "topic": …}.
const STEP_KEY = "step";

function handle(conversation, event) {
  const session = conversation.session;
  const step = session.get(STEP_KEY, null);
  let next;
  let activities;
  switch (event.kind) {
    case "conversation-started":
      [next, activities] = start();
      break;
    case "conversation-ended":
      session.delete(STEP_KEY);
      return [];
    case "text":
      [next, activities] = onText(event.text.trim(), step);
      break;
    case "set-call-params-response":
      if (!event.value.success) log.warn(`SetCallParams failed: ${event.value.errorMessage ?? ""}`);
      return [];
    case "get-available-groups-response":
      if (step && step.step === "checking-availability") {
        [next, activities] = onGroups(step.topic, event.value);
        break;
      }
    // falls through
    default:
      log.debug(`ignoring ${event.kind} in step ${JSON.stringify(step)}`);
      return [];
  }
  session.set(STEP_KEY, next);
  return activities;
}

function topics() {
  const configured = config.getJson("topics");
  return Array.isArray(configured) && configured.length > 0 ? configured.map(String) : [...DEFAULT_TOPICS];
}

const topicButtons = (text) => Activity.buttons(text, topics());

function start() {
  return [{ step: "choosing-topic" }, [topicButtons(config.get("greeting", GREETING))]];
}

function onText(text, step) {
  const lower = text.toLowerCase();
  if (lower === "menu" || lower === "start over") return start();
  switch (step ? step.step : null) {
    case "checking-availability":
      return [step, [Activity.text(STILL_CHECKING)]];
    case "handed-off":
      return [step, [Activity.text(ALREADY_HANDED_OFF)]];
    case "asking-email":
      return looksLikeEmail(text)
        ? [{ step: "asking-message", topic: step.topic, email: text }, [Activity.text(ASK_MESSAGE)]]
        : [step, [Activity.text(BAD_EMAIL)]];
    case "asking-message":
      return sendOfflineEmail(step.topic, step.email, text);
    default:
      return chooseTopic(text);
  }
}

function chooseTopic(text) {
  const chosen = topics().find((t) => t.toLowerCase() === text.toLowerCase());
  if (chosen === undefined) {
    return [{ step: "choosing-topic" }, [topicButtons(`${NOT_UNDERSTOOD} ${topics().join(", ")}.`)]];
  }
  return [
    { step: "checking-availability", topic: chosen },
    [
      Activity.setCallParams({ HandoffReason: chosen }),
      Activity.text(CHECKING),
      Activity.typing(true),
      Activity.getAvailableGroups(),
    ],
  ];
}

function onGroups(topic, groups) {
  if (groups.some((g) => g.state === "online" || g.state === "busy")) {
    return [
      { step: "handed-off", topic },
      [Activity.typing(false), Activity.text(`${HANDING_OFF} ${topic}.`), Activity.handOff()],
    ];
  }
  return [{ step: "asking-email", topic }, [Activity.typing(false), Activity.text(OFFLINE_ASK_EMAIL)]];
}

function sendOfflineEmail(topic, email, message) {
  const location = config.get("offline_location", OFFLINE_LOCATION);
  return [
    { step: "done" },
    [
      Activity.setCallParams({ oo1_guest_email: email }),
      Activity.offlineEmail(`Support request: ${topic}`, `From: ${email}\nTopic: ${topic}\n\n${message}`, location),
      Activity.text(`${THANKS} ${email}.`),
    ],
  ];
}

function looksLikeEmail(text) {
  const at = text.indexOf("@");
  if (at < 0) return false;
  const local = text.slice(0, at);
  const domain = text.slice(at + 1);
  return (
    local.length > 0 && !/\s/.test(text) && domain.includes(".") && !domain.startsWith(".") && !domain.endsWith(".")
  );
}

export const handler = exportBot(handle);

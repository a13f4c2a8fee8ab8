// {{name}}: greets with a button, repeats what the guest writes, and hands the chat to a
// colleague when the guest clicks the button.

import { Activity, config, exportBot } from "../sdk/js/wasmbot.js";

// The button's title, which is also the text a click sends.
const HUMAN = "Talk to a human";

export const handler = exportBot((conversation, event) => {
  if (event.kind === "conversation-started") {
    return [Activity.buttons(config.get("greeting", "Hello!"), [HUMAN])];
  }
  if (event.kind === "text" && event.text === HUMAN) {
    return [Activity.text("Connecting you to a colleague."), Activity.handOff()];
  }
  if (event.kind === "text") {
    return [Activity.text(`You said: ${event.text}`)];
  }
  return [];
});

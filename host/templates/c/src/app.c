// {{name}}: greets with a button, repeats what the guest writes, and hands the chat to a
// colleague when the guest clicks the button.
#include "../sdk/c/wasmbot.h"

// The button's title, which is also the text a click sends.
#define HUMAN "Talk to a human"

static void handle(exports_wasmbot_bot_handler_event_t *event, wb_activities_t *out) {
  switch (event->tag) {
    case WASMBOT_BOT_TYPES_EVENT_CONVERSATION_STARTED: {
      char *greeting = wb_setting("greeting", "Hello!");
      char *buttons[] = {HUMAN};
      wb_push(out, wb_buttons(greeting, buttons, 1));
      free(greeting);
      break;
    }
    case WASMBOT_BOT_TYPES_EVENT_TEXT: {
      char *text = wb_cstr(&event->val.text.text);
      if (strcmp(text, HUMAN) == 0) {
        wb_push(out, wb_text("Connecting you to a colleague."));
        wb_push(out, wb_hand_off());
      } else {
        char *reply = wb_format("You said: %s", text);
        wb_push(out, wb_text(reply));
        free(reply);
      }
      free(text);
      break;
    }
    default:
      break;
  }
}

// The world's export: it owns its arguments, and the host frees what it returns.
bool exports_wasmbot_bot_handler_handle(exports_wasmbot_bot_handler_context_t *ctx,
                                        exports_wasmbot_bot_handler_event_t *event,
                                        exports_wasmbot_bot_handler_list_activity_t *ret, bot_string_t *err) {
  (void)err;
  ret->ptr = NULL;
  ret->len = 0;
  handle(event, ret);
  wasmbot_bot_types_context_free(ctx);
  wasmbot_bot_types_event_free(event);
  return true;
}

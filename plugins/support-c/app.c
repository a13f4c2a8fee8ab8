// The support bot in C: the same flow, texts, settings and stored state as the Rust
// `plugins/support` bot (see its doc comment); `plugins/scripts/support.json` checks both.
#include <ctype.h>
#include <strings.h>

#include "../../guest-sdk-c/wasmbot.h"

static const char *DEFAULT_TOPICS[] = {"Sales", "Complaint", "Other"};
#define GREETING "Hello! I am the support assistant. What can we help you with?"
#define NOT_UNDERSTOOD "Sorry, I did not understand. Please choose one of:"
#define CHECKING "One moment, I am checking who is available\xe2\x80\xa6"
#define STILL_CHECKING "I am still checking who is available, one moment please."
#define HANDING_OFF "Connecting you to our team for"
#define ALREADY_HANDED_OFF "You are being connected to a colleague, please wait."
#define OFFLINE_ASK_EMAIL                                                                      \
  "Nobody from the team is available right now. Leave us your e-mail address and a message, " \
  "and we will get back to you. What is your e-mail address?"
#define BAD_EMAIL "That does not look like an e-mail address. Please write it like name@example.com."
#define ASK_MESSAGE "Thank you. What would you like to tell us?"
#define THANKS "Thank you! We have passed your message on and will reply to"
#define OFFLINE_LOCATION "wasmbot support bot"

// A session's step, stored as the Rust bot stores it: {"step":"asking-email","topic":"Sales"}.
typedef struct {
  char *step;   // NULL: no step yet
  char *topic;  // may be NULL
  char *email;  // may be NULL
} step_t;

static void step_free(step_t *s) {
  free(s->step);
  free(s->topic);
  free(s->email);
  memset(s, 0, sizeof *s);
}

static step_t step_make(const char *step, const char *topic, const char *email) {
  return (step_t){strdup(step), topic ? strdup(topic) : NULL, email ? strdup(email) : NULL};
}

static char *step_json(const step_t *s) {
  char *step = wb_json_quote(s->step);
  char *topic = s->topic ? wb_json_quote(s->topic) : NULL;
  char *email = s->email ? wb_json_quote(s->email) : NULL;
  char *out = wb_format("{\"step\":%s%s%s%s%s}", step, topic ? ",\"topic\":" : "", topic ? topic : "",
                        email ? ",\"email\":" : "", email ? email : "");
  free(step);
  free(topic);
  free(email);
  return out;
}

static bool is(const step_t *s, const char *name) { return s->step && strcmp(s->step, name) == 0; }

// ----- settings --------------------------------------------------------------------------------

typedef struct {
  char **items;
  size_t len;
} topics_t;

static topics_t topics(void) {
  topics_t t = {0};
  char *json = wb_setting("topics", NULL);
  if (json) {
    t.len = wb_json_strings(json, &t.items);
    free(json);
  }
  if (t.len == 0) {
    t.len = 3;
    t.items = malloc(3 * sizeof *t.items);
    for (size_t i = 0; i < 3; i++) t.items[i] = strdup(DEFAULT_TOPICS[i]);
  }
  return t;
}

static void topics_free(topics_t *t) {
  for (size_t i = 0; i < t->len; i++) free(t->items[i]);
  free(t->items);
}

static wb_activity_t topic_buttons(const char *text) {
  topics_t t = topics();
  wb_activity_t a = wb_buttons(text, t.items, t.len);
  topics_free(&t);
  return a;
}

// ----- the flow ----------------------------------------------------------------------------------

static step_t start(wb_activities_t *out) {
  char *greeting = wb_setting("greeting", GREETING);
  wb_push(out, topic_buttons(greeting));
  free(greeting);
  return step_make("choosing-topic", NULL, NULL);
}

static bool same_text(const char *a, const char *b) { return strcasecmp(a, b) == 0; }

static step_t choose_topic(const char *text, wb_activities_t *out) {
  topics_t t = topics();
  const char *chosen = NULL;
  for (size_t i = 0; i < t.len && !chosen; i++)
    if (same_text(t.items[i], text)) chosen = t.items[i];
  step_t next;
  if (chosen) {
    wb_push(out, wb_set_call_param("HandoffReason", chosen));
    wb_push(out, wb_text(CHECKING));
    wb_push(out, wb_typing(true));
    wb_push(out, wb_get_available_groups());
    next = step_make("checking-availability", chosen, NULL);
  } else {
    size_t len = 1;
    for (size_t i = 0; i < t.len; i++) len += strlen(t.items[i]) + 2;
    char *options = calloc(len, 1);
    for (size_t i = 0; i < t.len; i++) {
      if (i) strcat(options, ", ");
      strcat(options, t.items[i]);
    }
    char *help = wb_format("%s %s.", NOT_UNDERSTOOD, options);
    wb_push(out, topic_buttons(help));
    free(help);
    free(options);
    next = step_make("choosing-topic", NULL, NULL);
  }
  topics_free(&t);
  return next;
}

static bool looks_like_email(const char *text) {
  const char *at = strchr(text, '@');
  if (!at || at == text) return false;
  for (const char *p = text; *p; p++)
    if (isspace((unsigned char)*p)) return false;
  const char *domain = at + 1;
  size_t n = strlen(domain);
  return strchr(domain, '.') && n > 0 && domain[0] != '.' && domain[n - 1] != '.';
}

static step_t send_offline_email(const step_t *s, const char *message, wb_activities_t *out) {
  char *location = wb_setting("offline_location", OFFLINE_LOCATION);
  char *subject = wb_format("Support request: %s", s->topic);
  char *body = wb_format("From: %s\nTopic: %s\n\n%s", s->email, s->topic, message);
  char *thanks = wb_format("%s %s.", THANKS, s->email);
  wb_push(out, wb_set_call_param("oo1_guest_email", s->email));
  wb_push(out, wb_offline_email(subject, body, location));
  wb_push(out, wb_text(thanks));
  free(location);
  free(subject);
  free(body);
  free(thanks);
  return step_make("done", NULL, NULL);
}

static step_t on_text(const char *text, const step_t *s, wb_activities_t *out) {
  if (same_text(text, "menu") || same_text(text, "start over")) return start(out);
  if (is(s, "checking-availability")) {
    wb_push(out, wb_text(STILL_CHECKING));
    return step_make(s->step, s->topic, s->email);
  }
  if (is(s, "handed-off")) {
    wb_push(out, wb_text(ALREADY_HANDED_OFF));
    return step_make(s->step, s->topic, s->email);
  }
  if (is(s, "asking-email")) {
    if (looks_like_email(text)) {
      wb_push(out, wb_text(ASK_MESSAGE));
      return step_make("asking-message", s->topic, text);
    }
    wb_push(out, wb_text(BAD_EMAIL));
    return step_make(s->step, s->topic, s->email);
  }
  if (is(s, "asking-message")) return send_offline_email(s, text, out);
  return choose_topic(text, out);
}

static step_t on_groups(const char *topic, const wasmbot_bot_types_list_available_group_t *groups,
                        wb_activities_t *out) {
  bool reachable = false;
  for (size_t i = 0; i < groups->len; i++) {
    wasmbot_bot_types_group_state_t state = groups->ptr[i].state;
    if (state == WASMBOT_BOT_TYPES_GROUP_STATE_ONLINE || state == WASMBOT_BOT_TYPES_GROUP_STATE_BUSY)
      reachable = true;
  }
  wb_push(out, wb_typing(false));
  if (reachable) {
    char *text = wb_format("%s %s.", HANDING_OFF, topic);
    wb_push(out, wb_text(text));
    free(text);
    wb_push(out, wb_hand_off());
    return step_make("handed-off", topic, NULL);
  }
  wb_push(out, wb_text(OFFLINE_ASK_EMAIL));
  return step_make("asking-email", topic, NULL);
}

static char *trimmed(const bot_string_t *s) {
  char *text = wb_cstr(s);
  char *begin = text;
  while (isspace((unsigned char)*begin)) begin++;
  char *end = begin + strlen(begin);
  while (end > begin && isspace((unsigned char)end[-1])) *--end = 0;
  char *out = strdup(begin);
  free(text);
  return out;
}

// Handles one event; `*stored` is the session's step, `*next` the one to store (or none).
static bool handle(const wasmbot_bot_types_event_t *event, const step_t *stored, step_t *next,
                   bool *forget, wb_activities_t *out) {
  switch (event->tag) {
    case WASMBOT_BOT_TYPES_EVENT_CONVERSATION_STARTED:
      *next = start(out);
      return true;
    case WASMBOT_BOT_TYPES_EVENT_CONVERSATION_ENDED:
      *forget = true;
      return true;
    case WASMBOT_BOT_TYPES_EVENT_TEXT: {
      char *text = trimmed(&event->val.text.text);
      *next = on_text(text, stored, out);
      free(text);
      return true;
    }
    case WASMBOT_BOT_TYPES_EVENT_SET_CALL_PARAMS_RESPONSE: {
      const wasmbot_bot_types_outcome_t *o = &event->val.set_call_params_response;
      if (!o->success) {
        char *why = o->error_message.is_some ? wb_cstr(&o->error_message.val) : strdup("");
        wb_warn("SetCallParams failed: %s", why);
        free(why);
      }
      return true;
    }
    case WASMBOT_BOT_TYPES_EVENT_GET_AVAILABLE_GROUPS_RESPONSE:
      if (is(stored, "checking-availability")) {
        *next = on_groups(stored->topic, &event->val.get_available_groups_response, out);
        return true;
      }
      // fall through
    default:
      wb_debug("ignoring event %d in step %s", event->tag, stored->step ? stored->step : "none");
      return true;
  }
}

bool exports_wasmbot_bot_handler_handle(exports_wasmbot_bot_handler_context_t *ctx,
                                        exports_wasmbot_bot_handler_event_t *event,
                                        exports_wasmbot_bot_handler_list_activity_t *ret, bot_string_t *err) {
  ret->ptr = NULL;
  ret->len = 0;
  char *key = wb_session_key(ctx->session_id, "step");
  char *error = NULL;
  step_t stored = {0}, next = {0};
  bool forget = false, ok = true;
  char *json = wb_state_get(key, &error);
  if (json) {
    stored = (step_t){wb_json_field(json, "step"), wb_json_field(json, "topic"), wb_json_field(json, "email")};
    free(json);
  }
  if (!error) handle(event, &stored, &next, &forget, ret);
  if (!error && forget) wb_state_delete(key, &error);
  if (!error && next.step) {
    char *value = step_json(&next);
    wb_state_set(key, value, &error);
    free(value);
  }
  if (error) ok = wb_fail(err, error);
  free(error);
  free(key);
  step_free(&stored);
  step_free(&next);
  wasmbot_bot_types_context_free(ctx);
  wasmbot_bot_types_event_free(event);
  return ok;
}

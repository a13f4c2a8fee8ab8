// wasmbot for C bots: small helpers over the bindings `wit-bindgen c` generates for the
// `wasmbot:bot/bot` world (gen/bot.h), so a bot builds activities, reads settings, keeps
// JSON state and logs without juggling the raw WIT structs.
//
// Memory: every string placed in a returned activity is heap-allocated here; the generated
// code frees the whole result after the host has read it. The export owns `ctx` and `event`:
// call `wb_begin` first and `wb_end` last (it frees them).
//
// State keys and values follow the Rust SDK's layout (`session/{id}/{key}`, JSON values), so a
// bot can be rewritten in another language without losing its stored state.
#ifndef WASMBOT_H
#define WASMBOT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen/bot.h"

typedef wasmbot_bot_types_activity_t wb_activity_t;
typedef exports_wasmbot_bot_handler_list_activity_t wb_activities_t;

// ----- strings -------------------------------------------------------------------------------

/// A heap copy of `s` as a component string.
static inline bot_string_t wb_str(const char *s) {
  bot_string_t out;
  bot_string_dup(&out, s);
  return out;
}

/// A NUL-terminated heap copy of a component string (free it).
static inline char *wb_cstr(const bot_string_t *s) {
  char *out = malloc(s->len + 1);
  memcpy(out, s->ptr, s->len);
  out[s->len] = 0;
  return out;
}

/// A heap string formatted like printf (free it).
static inline char *wb_format(const char *fmt, ...) {
  va_list args, again;
  va_start(args, fmt);
  va_copy(again, args);
  int n = vsnprintf(NULL, 0, fmt, args);
  va_end(args);
  char *out = malloc((size_t)n + 1);
  vsnprintf(out, (size_t)n + 1, fmt, again);
  va_end(again);
  return out;
}

static inline bot_option_string_t wb_some(const char *s) {
  bot_option_string_t out = {.is_some = s != NULL};
  if (s) out.val = wb_str(s);
  return out;
}

// ----- logging -------------------------------------------------------------------------------

static inline void wb_log(wasmbot_bot_log_level_t level, const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  char buf[1024];
  vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  bot_string_t message;
  bot_string_set(&message, buf);
  wasmbot_bot_log_log(level, &message);
}
#define wb_debug(...) wb_log(WASMBOT_BOT_LOG_LEVEL_DEBUG, __VA_ARGS__)
#define wb_info(...) wb_log(WASMBOT_BOT_LOG_LEVEL_INFO, __VA_ARGS__)
#define wb_warn(...) wb_log(WASMBOT_BOT_LOG_LEVEL_WARN, __VA_ARGS__)
#define wb_error(...) wb_log(WASMBOT_BOT_LOG_LEVEL_ERROR, __VA_ARGS__)

// ----- settings ------------------------------------------------------------------------------

/// The setting `key` as text (non-string settings as JSON text), or a copy of `fallback`
/// (free it; NULL when both are absent).
static inline char *wb_setting(const char *key, const char *fallback) {
  bot_string_t k, value;
  bot_string_set(&k, key);
  if (wasmbot_bot_config_get(&k, &value)) {
    char *out = wb_cstr(&value);
    bot_string_free(&value);
    return out;
  }
  return fallback ? strdup(fallback) : NULL;
}

// ----- state (JSON values) -----------------------------------------------------------------

/// The key of `key` in session `session_id`'s scope, as the Rust SDK names it (free it).
static inline char *wb_session_key(int64_t session_id, const char *key) {
  return wb_format("session/%lld/%s", (long long)session_id, key);
}

/// The JSON text stored under `key` (free it), or NULL when there is none. On a storage
/// error, returns NULL and sets `*error` (free it).
static inline char *wb_state_get(const char *key, char **error) {
  bot_string_t k, err;
  bot_option_list_u8_t value;
  bot_string_set(&k, key);
  *error = NULL;
  if (!wasmbot_bot_state_get(&k, &value, &err)) {
    *error = wb_cstr(&err);
    bot_string_free(&err);
    return NULL;
  }
  if (!value.is_some) return NULL;
  bot_string_t as_text = {value.val.ptr, value.val.len};
  char *out = wb_cstr(&as_text);
  bot_list_u8_free(&value.val);
  return out;
}

/// Stores the JSON text `json` under `key`; false (and `*error`, free it) on failure.
static inline bool wb_state_set(const char *key, const char *json, char **error) {
  bot_string_t k, err;
  bot_list_u8_t value = {(uint8_t *)json, strlen(json)};
  bot_string_set(&k, key);
  *error = NULL;
  if (wasmbot_bot_state_set(&k, &value, &err)) return true;
  *error = wb_cstr(&err);
  bot_string_free(&err);
  return false;
}

/// Removes `key`; false (and `*error`, free it) on failure.
static inline bool wb_state_delete(const char *key, char **error) {
  bot_string_t k, err;
  bot_string_set(&k, key);
  *error = NULL;
  if (wasmbot_bot_state_delete(&k, &err)) return true;
  *error = wb_cstr(&err);
  bot_string_free(&err);
  return false;
}

// ----- a little JSON: flat objects and lists of strings -------------------------------------

/// `s` as a JSON string literal, quotes included (free it).
static inline char *wb_json_quote(const char *s) {
  size_t cap = strlen(s) * 6 + 3, n = 0;
  char *out = malloc(cap);
  out[n++] = '"';
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') { out[n++] = '\\'; out[n++] = (char)*p; }
    else if (*p == '\n') { out[n++] = '\\'; out[n++] = 'n'; }
    else if (*p < 0x20) n += (size_t)sprintf(out + n, "\\u%04x", *p);
    else out[n++] = (char)*p;
  }
  out[n++] = '"';
  out[n] = 0;
  return out;
}

/// Reads the JSON string literal at `*p` (advancing past it) into a heap string, or NULL when
/// `*p` is not at a string. \uXXXX escapes are decoded to UTF-8 (surrogate pairs included).
static inline char *wb_json_read_string(const char **p) {
  const char *s = *p;
  while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') s++;
  if (*s != '"') return NULL;
  s++;
  char *out = malloc(strlen(s) + 1);
  size_t n = 0;
  while (*s && *s != '"') {
    if (*s != '\\') { out[n++] = *s++; continue; }
    s++;
    char c = *s++;
    switch (c) {
      case 'n': out[n++] = '\n'; break;
      case 't': out[n++] = '\t'; break;
      case 'r': out[n++] = '\r'; break;
      case 'b': out[n++] = '\b'; break;
      case 'f': out[n++] = '\f'; break;
      case 'u': {
        unsigned cp = (unsigned)strtoul((char[5]){s[0], s[1], s[2], s[3], 0}, NULL, 16);
        s += 4;
        if (cp >= 0xd800 && cp < 0xdc00 && s[0] == '\\' && s[1] == 'u') {
          unsigned lo = (unsigned)strtoul((char[5]){s[2], s[3], s[4], s[5], 0}, NULL, 16);
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          s += 6;
        }
        if (cp < 0x80) out[n++] = (char)cp;
        else if (cp < 0x800) { out[n++] = (char)(0xc0 | (cp >> 6)); out[n++] = (char)(0x80 | (cp & 63)); }
        else if (cp < 0x10000) { out[n++] = (char)(0xe0 | (cp >> 12)); out[n++] = (char)(0x80 | ((cp >> 6) & 63)); out[n++] = (char)(0x80 | (cp & 63)); }
        else { out[n++] = (char)(0xf0 | (cp >> 18)); out[n++] = (char)(0x80 | ((cp >> 12) & 63)); out[n++] = (char)(0x80 | ((cp >> 6) & 63)); out[n++] = (char)(0x80 | (cp & 63)); }
        break;
      }
      default: out[n++] = c;
    }
  }
  out[n] = 0;
  *p = *s == '"' ? s + 1 : s;
  return out;
}

/// The string value of `field` in the flat JSON object `json` (free it), or NULL.
static inline char *wb_json_field(const char *json, const char *field) {
  const char *p = json;
  while (p && *p) {
    const char *q = strchr(p, '"');
    if (!q) return NULL;
    char *key = wb_json_read_string(&q);
    while (*q == ' ' || *q == ':') q++;
    bool match = key && strcmp(key, field) == 0;
    free(key);
    char *value = wb_json_read_string(&q);
    if (match) return value;
    free(value);
    p = q;
  }
  return NULL;
}

/// The strings of the JSON list `json` (`["a","b"]`): their count, in `*items` (free each and
/// the array). Returns 0 when `json` is not a list of strings.
static inline size_t wb_json_strings(const char *json, char ***items) {
  *items = NULL;
  const char *p = json;
  while (*p == ' ') p++;
  if (*p != '[') return 0;
  p++;
  size_t n = 0;
  for (;;) {
    char *item = wb_json_read_string(&p);
    if (!item) break;
    *items = realloc(*items, (n + 1) * sizeof **items);
    (*items)[n++] = item;
    while (*p == ' ' || *p == ',') p++;
  }
  return n;
}

// ----- activities ----------------------------------------------------------------------------

/// Appends `activity` to the list the bot returns.
static inline void wb_push(wb_activities_t *list, wb_activity_t activity) {
  list->ptr = realloc(list->ptr, (list->len + 1) * sizeof *list->ptr);
  list->ptr[list->len++] = activity;
}

static inline wasmbot_bot_types_message_t wb_empty_message(void) {
  wasmbot_bot_types_message_t m;
  memset(&m, 0, sizeof m);
  return m;
}

/// A text message.
static inline wb_activity_t wb_text(const char *text) {
  wb_activity_t a = {.tag = WASMBOT_BOT_TYPES_ACTIVITY_MESSAGE};
  a.val.message = wb_empty_message();
  a.val.message.text = wb_some(text);
  return a;
}

/// A button the guest "says": its value comes back as a `text` event.
static inline wasmbot_bot_types_card_action_t wb_im_back(const char *title, const char *value) {
  wasmbot_bot_types_card_action_t b = {.kind = WASMBOT_BOT_TYPES_ACTION_KIND_IM_BACK};
  b.title = wb_str(title);
  b.value = wb_str(value);
  b.image.is_some = false;
  return b;
}

/// A text with buttons (one hero card titled `text`), one im-back button per title.
static inline wb_activity_t wb_buttons(const char *text, char *const *titles, size_t count) {
  wasmbot_bot_types_card_t card;
  memset(&card, 0, sizeof card);
  card.kind = WASMBOT_BOT_TYPES_CARD_KIND_HERO;
  card.title = wb_some(text);
  card.buttons.ptr = calloc(count ? count : 1, sizeof *card.buttons.ptr);
  card.buttons.len = count;
  for (size_t i = 0; i < count; i++) card.buttons.ptr[i] = wb_im_back(titles[i], titles[i]);
  wb_activity_t a = {.tag = WASMBOT_BOT_TYPES_ACTIVITY_MESSAGE};
  a.val.message = wb_empty_message();
  a.val.message.cards.ptr = malloc(sizeof card);
  a.val.message.cards.ptr[0] = card;
  a.val.message.cards.len = 1;
  return a;
}

/// Shows or hides the typing indicator.
static inline wb_activity_t wb_typing(bool show) {
  wb_activity_t a = {.tag = WASMBOT_BOT_TYPES_ACTIVITY_TYPING};
  a.val.typing = show;
  return a;
}

/// Returns the session to mluvii's routing (a human operator).
static inline wb_activity_t wb_hand_off(void) {
  return (wb_activity_t){.tag = WASMBOT_BOT_TYPES_ACTIVITY_HAND_OFF};
}

/// Sets one call param (→ set-call-params-response).
static inline wb_activity_t wb_set_call_param(const char *key, const char *value) {
  wb_activity_t a = {.tag = WASMBOT_BOT_TYPES_ACTIVITY_SET_CALL_PARAMS};
  a.val.set_call_params.ptr = malloc(sizeof *a.val.set_call_params.ptr);
  a.val.set_call_params.ptr[0].key = wb_str(key);
  a.val.set_call_params.ptr[0].value = wb_str(value);
  a.val.set_call_params.len = 1;
  return a;
}

/// Asks which groups routing would pick now (→ get-available-groups-response).
static inline wb_activity_t wb_get_available_groups(void) {
  wb_activity_t a = {.tag = WASMBOT_BOT_TYPES_ACTIVITY_GET_AVAILABLE_GROUPS};
  a.val.get_available_groups.is_some = false;
  return a;
}

/// Sends an e-mail as if the guest had filled in the offline form.
static inline wb_activity_t wb_offline_email(const char *subject, const char *message, const char *location) {
  wb_activity_t a = {.tag = WASMBOT_BOT_TYPES_ACTIVITY_SEND_GUEST_OFFLINE_EMAIL};
  a.val.send_guest_offline_email.subject = wb_str(subject);
  a.val.send_guest_offline_email.message = wb_str(message);
  a.val.send_guest_offline_email.location = wb_str(location);
  return a;
}

/// Refuses the event with `message` (return its result from the export).
static inline bool wb_fail(bot_string_t *err, const char *message) {
  *err = wb_str(message);
  return false;
}

#endif

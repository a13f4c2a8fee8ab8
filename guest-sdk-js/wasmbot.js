// wasmbot for JavaScript bots: typed activity builders, session and tenant state with JSON
// values, settings and logging over the `wasmbot:bot/bot` world, so a bot never handles the
// raw WIT variants. Types: wasmbot.d.ts. Works with componentize-qjs (QuickJS, the default)
// and componentize-js (SpiderMonkey); see "Write a bot in your language" in README.md.
//
// State keys and values are laid out as the Rust SDK lays them out (`session/{id}/{key}`,
// JSON values), so a bot can be rewritten in another language without losing its state.

import * as logModule from "wasmbot:bot/log@0.1.0";
import * as stateModule from "wasmbot:bot/state@0.1.0";
import * as configModule from "wasmbot:bot/config@0.1.0";

// QuickJS offers each imported interface as the default export, SpiderMonkey as named ones.
const host = {
  log: logModule.default ?? logModule,
  state: stateModule.default ?? stateModule,
  config: configModule.default ?? configModule,
};

/** Raise it to refuse an event: the host records the message and sends the tenant's fallback. */
export class BotError extends Error {}

// ----- text <-> UTF-8 (no TextEncoder in every engine) -----------------------------------

function utf8Encode(text) {
  const bytes = [];
  for (const ch of text) {
    let c = ch.codePointAt(0);
    if (c < 0x80) bytes.push(c);
    else if (c < 0x800) bytes.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) bytes.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else bytes.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return new Uint8Array(bytes);
}

function utf8Decode(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i];
    let c, n;
    if (b < 0x80) { c = b; n = 1; }
    else if (b < 0xe0) { c = b & 31; n = 2; }
    else if (b < 0xf0) { c = b & 15; n = 3; }
    else { c = b & 7; n = 4; }
    for (let k = 1; k < n; k++) c = (c << 6) | (bytes[i + k] & 63);
    out += String.fromCodePoint(c);
    i += n;
  }
  return out;
}

function call(name, fn) {
  try {
    return fn();
  } catch (error) {
    const reason = error && error.payload !== undefined ? error.payload : error;
    throw new BotError(`${name}: ${reason}`);
  }
}

// ----- state, settings, logging ------------------------------------------------------------

/** Typed state under a key prefix: the whole tenant, or one session. Values are JSON. */
export class Scope {
  constructor(prefix = "") {
    this.prefix = prefix;
  }

  /** Keys of one session (prefixed `session/{id}/`, as in the Rust SDK). */
  static session(sessionId) {
    return new Scope(`session/${sessionId}/`);
  }

  /** The JSON value under `key`, or `fallback`. */
  get(key, fallback = undefined) {
    const raw = call("state.get", () => host.state.get(this.prefix + key));
    return raw === null || raw === undefined ? fallback : JSON.parse(utf8Decode(raw));
  }

  /** Stores `value` under `key` as JSON. */
  set(key, value) {
    call("state.set", () => host.state.set(this.prefix + key, utf8Encode(JSON.stringify(value))));
  }

  /** Removes `key` (a missing key is not an error). */
  delete(key) {
    call("state.delete", () => host.state.delete(this.prefix + key));
  }
}

/** The tenant's settings (read-only). */
export const config = {
  /** The setting as text (non-string settings come as JSON text), or `fallback`. */
  get(key, fallback = undefined) {
    const value = host.config.get(key);
    return value === null || value === undefined ? fallback : value;
  },
  /** The setting read as JSON (lists, numbers, tables); a plain string as itself. */
  getJson(key, fallback = undefined) {
    const value = host.config.get(key);
    if (value === null || value === undefined) return fallback;
    try {
      return JSON.parse(value);
    } catch {
      return value;
    }
  },
  /** Every setting, as text. */
  all() {
    return Object.fromEntries(host.config.getAll().map(({ key, value }) => [key, value]));
  },
};

/** Log lines attributed to the bot (the host adds tenant and session). */
export const log = Object.fromEntries(
  ["trace", "debug", "info", "warn", "error"].map((level) => [
    level,
    (message) => host.log.log(level, String(message)),
  ]),
);

/** Where an event comes from: tenant, session, language, channel, and state scopes. */
export class Conversation {
  constructor(ctx) {
    this.tenant = ctx.tenant;
    this.sessionId = ctx.sessionId;
    this.language = ctx.language ?? null;
    this.channel = ctx.channel ?? null;
    this.session = Scope.session(ctx.sessionId);
    this.tenantState = new Scope();
  }
}

/** One inbound activity: `kind` is the contract's case name, `value` its payload. */
export class Event {
  constructor(raw) {
    this.kind = raw.tag;
    this.value = raw.val ?? null;
  }

  /** The guest's text (a `text` event or a clicked button's value); "" otherwise. */
  get text() {
    return this.kind === "text" || this.kind === "hero-card-quick-reply" ? this.value.text : "";
  }
}

// ----- activities -------------------------------------------------------------------------

/** A button the guest "says": its value comes back as a `text` event. */
export function imBack(title, value = title) {
  return { kind: "im-back", title, value, image: null };
}

/** A button that opens `url`. */
export function openUrl(title, url) {
  return { kind: "open-url", title, value: url, image: null };
}

function button(b) {
  if (typeof b === "string") return imBack(b);
  if (Array.isArray(b)) return imBack(b[0], b[1]);
  return b;
}

function pairs(params) {
  const entries = Array.isArray(params) ? params : Object.entries(params);
  return entries.map(([key, value]) => ({ key: String(key), value: String(value) }));
}

function message({ text = null, cards = [], layout = null, suggested = [], ignoringInput = false }) {
  return {
    tag: "message",
    val: { text, cards, layout, suggestedActions: suggested, ignoringInput },
  };
}

/** A hero (or thumbnail) card. */
export function card({ title = null, subtitle = null, text = null, images = [], buttons = [], thumbnail = false } = {}) {
  return { kind: thumbnail ? "thumbnail" : "hero", title, subtitle, text, images, buttons: buttons.map(button) };
}

/** Builders for the activities a bot returns (one Send API request each). */
export const Activity = {
  /** A text message (mluvii keeps `<strong>`, `<em>`, `<a>`). */
  text: (text) => message({ text }),
  /** A text with buttons (one hero card titled `text`); a click comes back as `text`. */
  buttons: (text, buttons) => message({ cards: [card({ title: text, buttons })] }),
  /** Cards shown as a carousel. */
  carousel: (cards) => message({ cards, layout: "carousel" }),
  /** A text with quick replies (the guest's input is hidden until one is chosen). */
  suggested: (text, actions) => message({ text, suggested: actions.map(button) }),
  /** Shows or hides the typing indicator. */
  typing: (show = true) => ({ tag: "typing", val: show }),
  /** Returns the session to mluvii's routing (a human operator). */
  handOff: () => ({ tag: "hand-off" }),
  /** Transfers the session to an operator group. */
  forwardToGroup: (groupId) => ({ tag: "forward", val: { tag: "group", val: groupId } }),
  /** Transfers the session to an operator. */
  forwardToUser: (userId) => ({ tag: "forward", val: { tag: "user", val: userId } }),
  /** Ends the session. */
  endConversation: () => ({ tag: "end-conversation" }),
  /** Merges `params` into the session's call params (→ set-call-params-response). */
  setCallParams: (params) => ({ tag: "set-call-params", val: pairs(params) }),
  /** Asks which groups routing would pick now, or about `groupIds` (→ get-available-groups-response). */
  getAvailableGroups: (groupIds = null) => ({ tag: "get-available-groups", val: groupIds }),
  /** Sends an e-mail as if the guest had filled in the offline form. */
  offlineEmail: (subject, message, location) => ({
    tag: "send-guest-offline-email",
    val: { subject, message, location },
  }),
  /** Adds a tag to the session. */
  setTag: (tag) => ({ tag: "set-tag", val: tag }),
  /** Any other Send API body (the host adds `sessionId`). */
  raw: (body) => ({ tag: "raw", val: JSON.stringify(body) }),
};

/**
 * The `handler` export for the world, calling `handle(conversation, event)`. A thrown
 * BotError becomes the bot's error; any other exception too (with its stack on stderr).
 */
export function exportBot(handle) {
  return {
    handle(ctx, event) {
      try {
        return handle(new Conversation(ctx), new Event(event));
      } catch (error) {
        if (error instanceof BotError) throw error.message;
        if (error && error.stack && typeof console !== "undefined") console.error(error.stack);
        throw String(error instanceof Error ? `${error.name}: ${error.message}` : error);
      }
    },
  };
}

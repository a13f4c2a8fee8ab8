// Types of wasmbot.js, the JavaScript layer over the `wasmbot:bot/bot` world (wit/). Records
// use camelCase fields, variants are `{ tag, val }` with the WIT case name as `tag`, enums are
// their case names, `option<T>` is `T | null`.

/** A JSON value as stored in state. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Raise it to refuse an event: the host records the message and sends the tenant's fallback. */
export class BotError extends Error {}

/** Typed state under a key prefix: the whole tenant, or one session. Values are JSON. */
export class Scope {
  constructor(prefix?: string);
  /** Keys of one session (prefixed `session/{id}/`, as in the Rust SDK). */
  static session(sessionId: number): Scope;
  readonly prefix: string;
  /** The JSON value under `key`, or `fallback`. */
  get<T = Json>(key: string, fallback?: T): T;
  /** Stores `value` under `key` as JSON. */
  set(key: string, value: Json | object): void;
  /** Removes `key` (a missing key is not an error). */
  delete(key: string): void;
}

/** The tenant's settings (read-only). */
export const config: {
  /** The setting as text (non-string settings come as JSON text), or `fallback`. */
  get(key: string, fallback?: string): string | undefined;
  /** The setting read as JSON (lists, numbers, tables); a plain string as itself. */
  getJson<T = Json>(key: string, fallback?: T): T;
  /** Every setting, as text. */
  all(): Record<string, string>;
};

/** Log lines attributed to the bot (the host adds tenant and session). */
export const log: {
  trace(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
};

/** Where an event comes from. */
export class Conversation {
  readonly tenant: string;
  readonly sessionId: number;
  /** The guest's two-letter language, when mluvii sent one. */
  readonly language: string | null;
  /** The session source (`Default` = WebChat, `Facebook`, …), when mluvii sent one. */
  readonly channel: string | null;
  /** This session's state. */
  readonly session: Scope;
  /** State shared by every session of the tenant. */
  readonly tenantState: Scope;
}

export type GroupState = "offline" | "online" | "busy" | "unknown";

export interface AvailableGroup {
  displayName: string;
  groupId: number;
  state: GroupState;
  offlineReasons: string[];
  groupWorkload: { maxSlots: number; usedSlotsWaiting: number; usedSlotsAccepted: number; freeSlots: number } | null;
  queueWorkload: { freeQueueSlotsCountTotal: number; inQueueCountTotal: number; isQueueFull: boolean } | null;
}

export interface Outcome {
  success: boolean;
  errorMessage: string | null;
}

export interface KeyValue {
  key: string;
  value: string;
}

/** The payload of each event kind (see wit/types.wit for all of them). */
export interface EventValues {
  "conversation-started": { timestamp: string | null };
  text: { text: string; timestamp: string | null };
  "conversation-ended": { timestamp: string | null };
  "guest-file-upload": string;
  "hero-card-submission": KeyValue[];
  "get-available-groups-response": AvailableGroup[];
  "get-available-operators-response": { displayName: string; userId: number }[];
  "get-call-params-response": KeyValue[];
  "set-call-params-response": Outcome;
  unknown: { activity: string; json: string };
  [kind: string]: unknown;
}

/** One inbound activity: `kind` is the contract's case name, `value` its payload. */
export class Event<K extends keyof EventValues = keyof EventValues> {
  readonly kind: K;
  readonly value: EventValues[K];
  /** The guest's text (a `text` event or a clicked button's value); "" otherwise. */
  readonly text: string;
}

export interface CardAction {
  kind: "im-back" | "open-url";
  title: string;
  value: string;
  image: string | null;
}

export interface Card {
  kind: "hero" | "thumbnail";
  title: string | null;
  subtitle: string | null;
  text: string | null;
  images: string[];
  buttons: CardAction[];
}

/** A button: a CardAction, a `[title, value]` pair, or a title that is also its value. */
export type Button = CardAction | [string, string] | string;

/** One outbound activity (the WIT `activity` variant). */
export interface Activity {
  tag: string;
  val?: unknown;
}

/** A button the guest "says": its value comes back as a `text` event. */
export function imBack(title: string, value?: string): CardAction;
/** A button that opens `url`. */
export function openUrl(title: string, url: string): CardAction;
/** A hero (or thumbnail) card. */
export function card(fields?: {
  title?: string | null;
  subtitle?: string | null;
  text?: string | null;
  images?: string[];
  buttons?: Button[];
  thumbnail?: boolean;
}): Card;

/** Builders for the activities a bot returns (one Send API request each). */
export const Activity: {
  text(text: string): Activity;
  buttons(text: string, buttons: Button[]): Activity;
  carousel(cards: Card[]): Activity;
  suggested(text: string, actions: Button[]): Activity;
  typing(show?: boolean): Activity;
  handOff(): Activity;
  forwardToGroup(groupId: number): Activity;
  forwardToUser(userId: number): Activity;
  endConversation(): Activity;
  setCallParams(params: Record<string, string> | [string, string][]): Activity;
  getAvailableGroups(groupIds?: number[] | null): Activity;
  offlineEmail(subject: string, message: string, location: string): Activity;
  setTag(tag: string): Activity;
  raw(body: object): Activity;
};

/** A bot: the conversation and the event in, the activities to send out. */
export type Bot = (conversation: Conversation, event: Event) => Activity[];

/** The world's `handler` export: `export const handler = exportBot(handle);` */
export function exportBot(handle: Bot): { handle(ctx: unknown, event: unknown): Activity[] };

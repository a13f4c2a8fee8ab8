"""wasmbot for Python bots: typed activity builders, session and tenant state with JSON
values, settings and logging over the `wasmbot:bot/bot` world, so a bot never handles the
raw WIT variants.

A bot is a function of the conversation and the event that returns a list of activities::

    import wasmbot
    from wasmbot import Activity

    def handle(conversation: wasmbot.Conversation, event: wasmbot.Event) -> list:
        if event.kind == "text":
            return [Activity.text("You said: " + event.text)]
        return []

    Handler = wasmbot.export(handle)   # componentize-py looks for `Handler`

Build it with componentize-py (see "Write a bot in your language" in docs/writing-bots.md). State keys and values are
laid out as the Rust SDK lays them out (`session/{id}/{key}`, JSON values), so a bot can be
rewritten in another language without losing its stored state.
"""

import json
import re
import sys
import traceback
from typing import Any, Callable, Iterable, List, Optional, Tuple, Union

from componentize_py_types import Err
from wit_world import exports as _exports
from wit_world.imports import config as _config
from wit_world.imports import log as _log
from wit_world.imports import state as _state
from wit_world.imports import types as _types

# The contract's types, for bots that need them (cards, group states, …).
types = _types
GroupState = _types.GroupState
CardLayout = _types.CardLayout


class BotError(Exception):
    """Raise it to refuse an event: the host records the message and sends the tenant's
    fallback."""


# ----- events ---------------------------------------------------------------------------


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


class Event:
    """One inbound mluvii activity: `kind` is the contract's case name (`conversation-started`,
    `text`, `get-available-groups-response`, …) and `value` its payload (a record or list of
    the contract's types, or `None`)."""

    def __init__(self, raw: Any):
        self.raw = raw
        self.kind = _kebab(type(raw).__name__.split("_", 1)[1])
        self.value = getattr(raw, "value", None)

    @property
    def text(self) -> str:
        """The guest's text (a `text` event, or the value of a clicked button); '' otherwise."""
        if self.kind in ("text", "hero-card-quick-reply"):
            return self.value.text
        return ""

    def __repr__(self) -> str:
        return f"Event({self.kind!r}, {self.value!r})"


# ----- state, settings, logging ---------------------------------------------------------


class Scope:
    """Typed state under a key prefix: the whole tenant, or one session. Values are stored as
    JSON."""

    def __init__(self, prefix: str = ""):
        self.prefix = prefix

    @staticmethod
    def session(session_id: int) -> "Scope":
        """Keys of one session (prefixed `session/{id}/`, as in the Rust SDK)."""
        return Scope(f"session/{session_id}/")

    def get(self, key: str, default: Any = None) -> Any:
        """The JSON value under `key`, or `default`."""
        raw = _call(_state.get, self.prefix + key)
        if raw is None:
            return default
        return json.loads(bytes(raw).decode("utf-8"))

    def set(self, key: str, value: Any) -> None:
        """Stores `value` under `key` as JSON."""
        body = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        _call(_state.set, self.prefix + key, body.encode("utf-8"))

    def delete(self, key: str) -> None:
        """Removes `key` (a missing key is not an error)."""
        _call(_state.delete, self.prefix + key)


def _call(function: Callable, *args: Any) -> Any:
    try:
        return function(*args)
    except Err as error:
        raise BotError(f"{function.__name__}: {error.value}") from None


class config:
    """The tenant's settings (read-only)."""

    @staticmethod
    def get(key: str, default: Optional[str] = None) -> Optional[str]:
        """The setting as text (non-string settings come as JSON text)."""
        value = _config.get(key)
        return default if value is None else value

    @staticmethod
    def get_json(key: str, default: Any = None) -> Any:
        """The setting read as JSON (lists, numbers, tables); a plain string as itself."""
        value = _config.get(key)
        if value is None:
            return default
        try:
            return json.loads(value)
        except ValueError:
            return value

    @staticmethod
    def all() -> dict:
        """Every setting, as text."""
        return {kv.key: kv.value for kv in _config.get_all()}


class log:
    """Log lines attributed to the bot (the host adds tenant and session)."""

    @staticmethod
    def trace(message: str) -> None:
        _log.log(_log.Level.TRACE, message)

    @staticmethod
    def debug(message: str) -> None:
        _log.log(_log.Level.DEBUG, message)

    @staticmethod
    def info(message: str) -> None:
        _log.log(_log.Level.INFO, message)

    @staticmethod
    def warn(message: str) -> None:
        _log.log(_log.Level.WARN, message)

    @staticmethod
    def error(message: str) -> None:
        _log.log(_log.Level.ERROR, message)


class Conversation:
    """Where an event comes from: tenant, session, language, channel, and state scopes."""

    def __init__(self, context: Any):
        self.tenant: str = context.tenant
        self.session_id: int = context.session_id
        self.language: Optional[str] = context.language
        self.channel: Optional[str] = context.channel
        self.session = Scope.session(context.session_id)
        self.tenant_state = Scope()


# ----- activities -----------------------------------------------------------------------

Button = Union[_types.CardAction, Tuple[str, str], str]


def im_back(title: str, value: Optional[str] = None) -> _types.CardAction:
    """A button the guest "says": its value comes back as a `text` event."""
    return _types.CardAction(_types.ActionKind.IM_BACK, title, title if value is None else value, None)


def open_url(title: str, url: str) -> _types.CardAction:
    """A button that opens `url`."""
    return _types.CardAction(_types.ActionKind.OPEN_URL, title, url, None)


def _button(button: Button) -> _types.CardAction:
    if isinstance(button, str):
        return im_back(button)
    if isinstance(button, tuple):
        return im_back(*button)
    return button


def _pairs(items: Union[dict, Iterable[Tuple[str, str]]]) -> List[_types.KeyValue]:
    pairs = items.items() if isinstance(items, dict) else items
    return [_types.KeyValue(str(k), str(v)) for k, v in pairs]


def _message(text: Optional[str] = None, cards: Optional[list] = None,
             layout: Optional[_types.CardLayout] = None, suggested: Optional[list] = None,
             ignoring_input: bool = False) -> _types.Activity:
    return _types.Activity_Message(_types.Message(text, cards or [], layout, suggested or [], ignoring_input))


def card(title: Optional[str] = None, subtitle: Optional[str] = None, text: Optional[str] = None,
         images: Iterable[str] = (), buttons: Iterable[Button] = (), thumbnail: bool = False) -> _types.Card:
    """A hero (or thumbnail) card."""
    kind = _types.CardKind.THUMBNAIL if thumbnail else _types.CardKind.HERO
    return _types.Card(kind, title, subtitle, text, list(images), [_button(b) for b in buttons])


class Activity:
    """Builders for the activities a bot returns (one Send API request each)."""

    @staticmethod
    def text(text: str) -> _types.Activity:
        """A text message (mluvii keeps `<strong>`, `<em>`, `<a>`)."""
        return _message(text=text)

    @staticmethod
    def buttons(text: str, buttons: Iterable[Button]) -> _types.Activity:
        """A text with buttons (one hero card titled `text`); a click comes back as `text`.
        A button is a `CardAction`, a `(title, value)` pair, or a title that is its value."""
        return _message(cards=[card(title=text, buttons=buttons)])

    @staticmethod
    def carousel(cards: Iterable[_types.Card]) -> _types.Activity:
        """Cards shown as a carousel."""
        return _message(cards=list(cards), layout=_types.CardLayout.CAROUSEL)

    @staticmethod
    def suggested(text: str, actions: Iterable[Button]) -> _types.Activity:
        """A text with quick replies (the guest's input is hidden until one is chosen)."""
        return _message(text=text, suggested=[_button(a) for a in actions])

    @staticmethod
    def typing(show: bool = True) -> _types.Activity:
        """Shows or hides the typing indicator."""
        return _types.Activity_Typing(show)

    @staticmethod
    def hand_off() -> _types.Activity:
        """Returns the session to mluvii's routing (a human operator)."""
        return _types.Activity_HandOff()

    @staticmethod
    def forward_to_group(group_id: int) -> _types.Activity:
        """Transfers the session to an operator group."""
        return _types.Activity_Forward(_types.ForwardTarget_Group(group_id))

    @staticmethod
    def forward_to_user(user_id: int) -> _types.Activity:
        """Transfers the session to an operator."""
        return _types.Activity_Forward(_types.ForwardTarget_User(user_id))

    @staticmethod
    def end_conversation() -> _types.Activity:
        """Ends the session."""
        return _types.Activity_EndConversation()

    @staticmethod
    def set_call_params(params: Union[dict, Iterable[Tuple[str, str]]]) -> _types.Activity:
        """Merges `params` into the session's call params (answered by
        `set-call-params-response`)."""
        return _types.Activity_SetCallParams(_pairs(params))

    @staticmethod
    def get_available_groups(group_ids: Optional[Iterable[int]] = None) -> _types.Activity:
        """Asks which groups routing would pick now, or about `group_ids` (answered by
        `get-available-groups-response`)."""
        return _types.Activity_GetAvailableGroups(None if group_ids is None else list(group_ids))

    @staticmethod
    def offline_email(subject: str, message: str, location: str) -> _types.Activity:
        """Sends an e-mail as if the guest had filled in the offline form."""
        return _types.Activity_SendGuestOfflineEmail(_types.OfflineEmail(subject, message, location))

    @staticmethod
    def set_tag(tag: str) -> _types.Activity:
        """Adds a tag to the session."""
        return _types.Activity_SetTag(tag)

    @staticmethod
    def raw(body: dict) -> _types.Activity:
        """Any other Send API body (the host adds `sessionId`)."""
        return _types.Activity_Raw(json.dumps(body))


# ----- the export -----------------------------------------------------------------------

BotFunction = Callable[[Conversation, Event], List[_types.Activity]]


def export(handle: BotFunction) -> type:
    """The `Handler` class componentize-py exports, calling `handle(conversation, event)`.
    A `BotError` becomes the bot's error; any other exception too, with its traceback on
    stderr (the host keeps the tail of it with the failure)."""

    class Handler(_exports.Handler):
        def handle(self, ctx: Any, event: Any) -> List[_types.Activity]:
            try:
                return list(handle(Conversation(ctx), Event(event)))
            except BotError as error:
                raise Err(str(error)) from None
            except Exception as error:  # noqa: BLE001 - reported to the host, not swallowed
                traceback.print_exc(file=sys.stderr)
                raise Err(f"{type(error).__name__}: {error}") from None

    return Handler

"""Typed chat events: one frozen dataclass per server event, with the wire's own field names.

The field lists are checked against the server's protocol module (`python -m app.protocol` prints
them; tests/sdk/python/test_events_match_protocol.py compares), so this file and the server cannot
drift. An event type this SDK does not know (a newer server) becomes an `UnknownEvent`, never an
error; fields it does not know stay in `raw`.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, kw_only=True)
class ChatEvent:
    """What every event carries. `raw` is the event exactly as the server sent it."""
    type: str
    conversation_id: str | None = None
    seq: int | None = None
    message_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    ending: ClassVar[bool] = False


@dataclass(frozen=True, kw_only=True)
class ChatStarted(ChatEvent):
    chatbot: str | None = None
    resumed: bool = False


@dataclass(frozen=True, kw_only=True)
class Authenticated(ChatEvent):
    expires_at: int | None = None


@dataclass(frozen=True, kw_only=True)
class Progress(ChatEvent):
    step: str = ""
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class Content(ChatEvent):
    delta: str = ""


@dataclass(frozen=True, kw_only=True)
class QueryResult(ChatEvent):
    query: str = ""
    summary: str | None = None
    row_count: int = 0
    data: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False
    error: str | None = None
    replay_truncated: bool = False   # a resumed copy keeps only `rows_kept` of the rows
    rows_kept: int | None = None


@dataclass(frozen=True, kw_only=True)
class ToolResult(ChatEvent):
    tool: str = ""
    data: Any = None
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class ApprovalRequired(ChatEvent):
    """A tool call waits for the user: answer with `chat.approve(...)` or `chat.deny(...)`.

    `preview` is the rows a SQL write would change (`kind: "sql"`), the exact HTTP request
    (`"request"`) or the call's arguments (`"call"`); `sql` is the statement laid out for reading."""
    approval_id: str = ""
    tool: str = ""
    description: str = ""
    sql: str | None = None
    preview: dict[str, Any] = field(default_factory=dict)
    expires_at: str | None = None


@dataclass(frozen=True, kw_only=True)
class ApprovalResult(ChatEvent):
    """How an approval ended: `approved`, `denied`, `expired` or `cancelled` (`reason`: the user's, on a deny)."""
    approval_id: str = ""
    decision: str = ""
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class EventsLost(ChatEvent):
    """Some events of this conversation will never arrive; the turn's ending brings the stored answer."""
    first_seq: int | None = None
    last_seq: int | None = None


@dataclass(frozen=True, kw_only=True)
class Done(ChatEvent):
    usage: dict[str, Any] = field(default_factory=dict)
    content: str | None = None       # with recovered: the whole answer as stored, replacing what streamed
    recovered: bool = False

    ending: ClassVar[bool] = True


@dataclass(frozen=True, kw_only=True)
class Cancelled(ChatEvent):
    content: str | None = None
    recovered: bool = False

    ending: ClassVar[bool] = True


@dataclass(frozen=True, kw_only=True)
class Error(ChatEvent):
    code: str | None = None
    error: str = "Unknown error"
    retry_after: float | None = None
    limit: str | None = None          # which limit refused: "frames", "conversations"
    content: str | None = None
    recovered: bool = False

    ending: ClassVar[bool] = True


@dataclass(frozen=True, kw_only=True)
class UnknownEvent(ChatEvent):
    """An event type this SDK does not know; everything it carried is in `raw`."""


EVENT_TYPES: Mapping[str, type[ChatEvent]] = {
    "chat_started": ChatStarted,
    "authenticated": Authenticated,
    "progress": Progress,
    "content": Content,
    "query_result": QueryResult,
    "tool_result": ToolResult,
    "approval_required": ApprovalRequired,
    "approval_result": ApprovalResult,
    "events_lost": EventsLost,
    "done": Done,
    "cancelled": Cancelled,
    "error": Error,
}

ENDINGS = frozenset(name for name, cls in EVENT_TYPES.items() if cls.ending)
COMMON_FIELDS = tuple(f.name for f in dataclasses.fields(ChatEvent) if f.name != "raw")


def own_fields(cls: type[ChatEvent]) -> tuple[str, ...]:
    """The fields `cls` adds to the common ones."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in COMMON_FIELDS and f.name != "raw")


_KNOWN = {name: (cls, {f.name for f in dataclasses.fields(cls)} - {"raw"}) for name, cls in EVENT_TYPES.items()}
_COMMON = set(COMMON_FIELDS)


def parse_event(raw: Mapping[str, Any]) -> ChatEvent:
    """The typed event for one decoded server frame."""
    kind = str(raw.get("type") or "")
    cls, names = _KNOWN.get(kind, (UnknownEvent, _COMMON))
    values = {name: raw[name] for name in names if name in raw and raw[name] is not None}
    values["type"] = kind
    try:
        return cls(**values, raw=dict(raw))
    except TypeError:
        # A server sending a field of a shape we do not expect must not stop the chat.
        return UnknownEvent(type=kind, conversation_id=_text(raw.get("conversation_id")),
                            seq=raw.get("seq") if isinstance(raw.get("seq"), int) else None, raw=dict(raw))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
